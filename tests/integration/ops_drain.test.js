'use strict';
// Health and stopping: /healthz answers 200 on every WebSocket listener
// once they are all up; on SIGTERM it turns 503.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { httpRequest } = require('./lib/http');

const nextPort = portAllocator(29);
const USERS = { alice: 'alice-secret', bob: 'bob-secret' };

test('/healthz is 200 on WS and WSS; other paths 404, other methods 405', async (t) => {
	const ws = nextPort(), wss = nextPort();
	const daemon = await startDaemon({ ports: { ws, wss }, users: USERS });
	t.after(() => daemon.kill());
	for (const [port, tls] of [[ws, false], [wss, true]]) {
		const res = await httpRequest(port, '/healthz', { tls });
		assert.equal(res.status, 200, `${tls ? 'WSS' : 'WS'}: ${res.status} ${res.body}`);
		assert.equal(res.body, 'ok\n');
		assert.match(res.headers['content-type'], /^text\/plain/);
		assert.equal(res.headers['cache-control'], 'no-store');
	}
	const head = await httpRequest(ws, '/healthz', { method: 'HEAD' });
	assert.equal(head.status, 200);
	assert.equal(head.body, '');
	assert.equal((await httpRequest(ws, '/nothing-here')).status, 404);
	assert.equal((await httpRequest(ws, '/healthz', { method: 'POST' })).status, 405);
	await daemon.stop();
});
