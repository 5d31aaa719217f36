'use strict';
// Keeping a browser's WebSocket alive: the SIP CRLF ping (RFC 5626 §3.5.1)
// over WS, WebSocket Ping frames when a connection is idle, and the close of
// a connection that answers nothing for ws.idle_timeout.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { connectClient, contacts } = require('./lib/sip');

const nextPort = portAllocator(1);
const USERS = { alice: 'alice-secret' };
const PING_INTERVAL_S = 1;
const IDLE_TIMEOUT_S = 3;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('keepalive over WS', async (t) => {
	const port = nextPort();
	const daemon = await startDaemon({ ports: { ws: port }, users: USERS,
		set: { 'ws.ping_interval': PING_INTERVAL_S, 'ws.idle_timeout': IDLE_TIMEOUT_S } });
	const clients = [];
	t.after(async () => {
		for (const c of clients) c.ws.terminate();
		await daemon.stop();
	});
	const client = async (options) => {
		const c = await connectClient(port, options);
		clients.push(c);
		return c;
	};
	const bindingsOf = async (user) => {
		const q = await client();
		const { final } = await q.register({ user, password: USERS[user], contact: false });
		await q.close();
		assert.equal(final.status, 200, final.raw);
		return contacts(final);
	};

	await t.test('a CRLF CRLF ping is answered with CRLF', async () => {
		const c = await client();
		c.send('\r\n\r\n');
		const pong = await c.nextFrame(() => true, 5000, 'the CRLF pong');
		assert.equal(pong.data.toString('latin1'), '\r\n');
		// and the connection carries SIP as before
		assert.equal((await c.options()).status, 200);
	});

	await t.test('an idle client that answers Pings stays connected and registered', async () => {
		const c = await client();
		const { final } = await c.register({ user: 'alice', password: USERS.alice });
		assert.equal(final.status, 200, final.raw);
		const idleMs = (IDLE_TIMEOUT_S + 1) * 1000;
		await sleep(idleMs);
		// one Ping per second of idleness; at least two on a loaded machine
		assert.ok(c.pings >= 2, `only ${c.pings} Pings in ${idleMs} ms`);
		assert.equal(c.closed, null, `closed: ${JSON.stringify(c.closed)}`);
		const seen = await bindingsOf('alice');
		assert.equal(seen.length, 1, seen.join('\n'));
		assert.ok(seen[0].includes(c.contactUri()));
		assert.equal((await c.options()).status, 200);
		await c.close();
	});

	await t.test('a client that never answers a Ping is closed after idle_timeout', async () => {
		const c = await client({ ws: { autoPong: false } });
		const { final } = await c.register({ user: 'alice', password: USERS.alice });
		assert.equal(final.status, 200, final.raw);
		const quietSince = Date.now();
		const closed = await c.waitClose((IDLE_TIMEOUT_S + 5) * 1000);
		const afterMs = Date.now() - quietSince;
		assert.ok(c.pings >= 1, 'closed without a Ping first');
		assert.ok(afterMs >= (IDLE_TIMEOUT_S - 0.5) * 1000, `closed after only ${afterMs} ms`);
		assert.notEqual(closed.code, 1000, 'an idle close is not a normal close');
		// its binding went with it
		let seen = await bindingsOf('alice');
		for (let i = 0; i < 20 && seen.length; i++) {
			await sleep(100);
			seen = await bindingsOf('alice');
		}
		assert.deepEqual(seen, []);
	});
});
