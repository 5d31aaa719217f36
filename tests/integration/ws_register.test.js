'use strict';
// REGISTER over WebSocket as SIP.js and JsSIP send it: handshake, OPTIONS,
// the digest challenge, bindings seen from another connection and removed
// when their connection closes, and the registrar's refusals.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { connectClient, header, headerValues, contacts, parseChallenge } = require('./lib/sip');

const nextPort = portAllocator(0);
const USERS = { alice: 'alice-secret', bob: 'bob-secret' };

// The Contacts of `user` as the registrar lists them to a query (a REGISTER
// without Contact) from a fresh connection.
async function queryBindings(port, user) {
	const q = await connectClient(port);
	try {
		const { final } = await q.register({ user, password: USERS[user], contact: false });
		assert.equal(final.status, 200, final.raw);
		return contacts(final);
	} finally {
		await q.close();
	}
}

test('REGISTER over WS', async (t) => {
	const port = nextPort();
	const daemon = await startDaemon({ ports: { ws: port }, users: USERS });
	const clients = [];
	const client = async (options) => {
		const c = await connectClient(port, options);
		clients.push(c);
		return c;
	};
	t.after(async () => {
		for (const c of clients) c.ws.terminate();
		await daemon.stop();
	});

	await t.test('the handshake echoes the sip subprotocol', async () => {
		const c = await client();
		assert.equal(c.ws.protocol, 'sip');
	});

	await t.test('a connection not offering sip is refused at the handshake', async () => {
		const from = daemon.stderr.length;
		await assert.rejects(connectClient(port, { protocols: null }));
		await assert.rejects(connectClient(port, { protocols: 'chat' }));
		await daemon.waitForLog(/refused a WebSocket that does not offer the subprotocol sip/,
			5000, from);
	});

	await t.test('OPTIONS to the gateway: 200 with Allow', async () => {
		const c = await client();
		const res = await c.options();
		assert.equal(res.status, 200, res.raw);
		const allow = header(res, 'allow');
		assert.ok(allow, `no Allow in\n${res.raw}`);
		for (const method of ['REGISTER', 'OPTIONS'])
			assert.match(allow, new RegExp(`\\b${method}\\b`));
		assert.equal(headerValues(res, 'via').length, 1);
	});

	await t.test('401 with one MD5 challenge, then 200 with the binding', async () => {
		const c = await client();
		const { challenge, final } = await c.register({ user: 'alice', password: USERS.alice });
		assert.equal(challenge.status, 401, challenge.raw);
		const auths = headerValues(challenge, 'www-authenticate');
		assert.equal(auths.length, 1, challenge.raw);
		const params = parseChallenge(auths[0]);
		assert.equal(params.realm, 'sipwire.test');
		assert.ok(params.nonce && params.nonce.length >= 8, auths[0]);
		assert.equal(params.algorithm, 'MD5');
		assert.match(auths[0], /qop="auth"/);

		assert.equal(final.status, 200, final.raw);
		const vias = headerValues(final, 'via');
		assert.equal(vias.length, 1, final.raw);
		// the client's Via, unchanged but for received/rport the server may add
		const sentVia = /^Via: (.*)$/m.exec(final.sentText)[1];
		assert.equal(vias[0].replace(/;(received|rport)(=[^;]*)?/g, ''), sentVia);
		const listed = contacts(final);
		assert.equal(listed.length, 1, final.raw);
		assert.ok(listed[0].includes(c.contactUri()), listed[0]);
		assert.match(listed[0], /;expires=\d+/);
		assert.equal(header(final, 'call-id'), c.callId);

		// another connection sees the binding; it goes when its connection closes
		const seen = await queryBindings(port, 'alice');
		assert.equal(seen.length, 1, seen.join('\n'));
		assert.ok(seen[0].includes(c.contactUri()));
		await c.close();
		let after = seen;
		for (let i = 0; i < 20 && after.length; i++) {
			await new Promise((r) => setTimeout(r, 100));
			after = await queryBindings(port, 'alice');
		}
		assert.deepEqual(after, [], 'binding still listed after its connection closed');
	});

	await t.test('a wrong password is challenged again', async () => {
		const c = await client();
		const { final } = await c.register({ user: 'bob', password: 'not-bob' });
		assert.equal(final.status, 401, final.raw);
		assert.equal(headerValues(final, 'www-authenticate').length, 1);
	});

	await t.test('Expires: 10 is too brief: 423 with Min-Expires', async () => {
		const c = await client();
		const { final } = await c.register({ user: 'bob', password: USERS.bob, expires: 10 });
		assert.equal(final.status, 423, final.raw);
		assert.match(header(final, 'min-expires') || '', /^\d+$/);
		assert.ok(Number(header(final, 'min-expires')) > 10);
		assert.deepEqual(await queryBindings(port, 'bob'), []);
	});

	await t.test('Expires: 0 unregisters', async () => {
		const c = await client();
		let { final } = await c.register({ user: 'bob', password: USERS.bob });
		assert.equal(final.status, 200, final.raw);
		assert.equal((await queryBindings(port, 'bob')).length, 1);
		({ final } = await c.register({ user: 'bob', password: USERS.bob, expires: 0 }));
		assert.equal(final.status, 200, final.raw);
		assert.deepEqual(contacts(final), []);
		assert.deepEqual(await queryBindings(port, 'bob'), []);
		assert.equal(c.closed, null, 'the connection stays open');
	});

	await t.test('two clients of one user: two bindings', async () => {
		const a = await client();
		const b = await client();
		for (const c of [a, b]) {
			const { final } = await c.register({ user: 'bob', password: USERS.bob });
			assert.equal(final.status, 200, final.raw);
		}
		const seen = await queryBindings(port, 'bob');
		assert.equal(seen.length, 2, seen.join('\n'));
		assert.ok(seen.some((s) => s.includes(a.contactUri())));
		assert.ok(seen.some((s) => s.includes(b.contactUri())));
		await a.close();
		let left = seen;
		for (let i = 0; i < 20 && left.length !== 1; i++) {
			await new Promise((r) => setTimeout(r, 100));
			left = await queryBindings(port, 'bob');
		}
		assert.equal(left.length, 1, left.join('\n'));
		assert.ok(left[0].includes(b.contactUri()));
	});
});

test('five failed logins from one address: 403', async (t) => {
	const port = nextPort();
	const daemon = await startDaemon({ ports: { ws: port }, users: USERS,
		set: { 'auth.max_failures': 5, 'auth.failure_window': 60 } });
	const c = await connectClient(port);
	t.after(async () => {
		c.ws.terminate();
		await daemon.stop();
	});
	const statuses = [];
	for (let i = 0; i < 6; i++) {
		const { final } = await c.register({ user: 'alice', password: `wrong-${i}` });
		statuses.push(final.status);
	}
	assert.deepEqual(statuses, [401, 401, 401, 401, 401, 403]);
	// the right password does not help any more from this address
	const { final } = await c.register({ user: 'alice', password: USERS.alice });
	assert.equal(final.status, 403, final.raw);
	// nor does another connection from the same address
	const other = await connectClient(port);
	const again = await other.register({ user: 'bob', password: USERS.bob });
	other.ws.terminate();
	assert.equal(again.final.status, 403, again.final.raw);
});
