'use strict';
// SIGTERM: every open WebSocket is closed with 1001 (going away) and the
// daemon exits 0 promptly, so browsers reconnect elsewhere at once.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { connectClient } = require('./lib/sip');

const nextPort = portAllocator(4);
const USERS = { alice: 'alice-secret' };

test('SIGTERM closes open WebSockets with 1001 and exits 0', async (t) => {
	const port = nextPort();
	const daemon = await startDaemon({ ports: { ws: port }, users: USERS });
	const registered = await connectClient(port);
	const idle = await connectClient(port);
	t.after(async () => {
		for (const c of [registered, idle]) c.ws.terminate();
		await daemon.kill();
	});
	const { final } = await registered.register({ user: 'alice', password: USERS.alice });
	assert.equal(final.status, 200, final.raw);

	const closes = Promise.all([registered.waitClose(5000), idle.waitClose(5000)]);
	const stopped = await daemon.stop(3000); // throws unless exit 0 within 3 s
	assert.equal(stopped.code, 0);
	for (const closed of await closes)
		assert.equal(closed.code, 1001, `close ${closed.code} ${closed.reason}`);
	assert.match(daemon.stderr, /closing 2 WebSocket connections/);
});
