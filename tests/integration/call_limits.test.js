'use strict';
// The gateway's limits on calls, each answered in protocol and written in
// the call's detail line: calls.max_calls (503), calls.max_per_user (486),
// Max-Forwards 0 (483), and a routing loop — a trunk that points back at
// the gateway itself — which Max-Forwards, decremented on every pass, ends
// with 483 back to the caller.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { USERS, registeredClient } = require('./lib/calls');

const nextPort = portAllocator(11);

async function daemonWith(t, options) {
	const daemon = await startDaemon({ users: USERS, ...options });
	const clients = [];
	t.after(async () => {
		for (const c of clients) c.ws.terminate();
		await daemon.stop();
	});
	return {
		daemon,
		async client(user = 'alice') {
			const c = await registeredClient(daemon.ports.ws, user);
			clients.push(c);
			return c;
		},
	};
}

test('calls.max_calls: one call more than allowed is answered 503', async (t) => {
	const { daemon, client } = await daemonWith(t, { ports: { ws: nextPort() },
		set: { 'calls.max_calls': 1 } });
	const alice = await client('alice');
	const bob = await client('bob');
	const first = alice.invite(`sip:echo@${alice.domain}`);
	assert.equal((await first.final()).status, 200);
	const second = bob.invite(`sip:echo@${bob.domain}`);
	const refused = await second.final();
	assert.equal(refused.status, 503, refused.raw);
	await daemon.waitForLog(/"end_reason":"call limit".*"status":503/);
	assert.equal((await first.bye()).status, 200);
	// The first call's end frees its place.
	const third = bob.invite(`sip:echo@${bob.domain}`);
	assert.equal((await third.final()).status, 200);
	assert.equal((await third.bye()).status, 200);
});

test('calls.max_per_user: a user\'s call beyond the limit is answered 486', async (t) => {
	const { daemon, client } = await daemonWith(t, { ports: { ws: nextPort() },
		set: { 'calls.max_per_user': 1 } });
	const alice = await client('alice');
	const bob = await client('bob');
	const first = alice.invite(`sip:echo@${alice.domain}`);
	assert.equal((await first.final()).status, 200);
	const second = alice.invite(`sip:echo@${alice.domain}`);
	const refused = await second.final();
	assert.equal(refused.status, 486, refused.raw);
	await daemon.waitForLog(/"end_reason":"caller at its call limit"/);
	// Another user is not limited by alice's call.
	const other = bob.invite(`sip:echo@${bob.domain}`);
	assert.equal((await other.final()).status, 200);
	assert.equal((await other.bye()).status, 200);
	// A call to alice, who is busy with one call already, is refused too.
	const toAlice = bob.invite(`sip:alice@${bob.domain}`);
	const busy = await toAlice.final();
	assert.equal(busy.status, 486, busy.raw);
	await daemon.waitForLog(/"end_reason":"callee at its call limit"/);
	assert.equal((await first.bye()).status, 200);
});

test('an INVITE with Max-Forwards 0 is answered 483', async (t) => {
	const { client } = await daemonWith(t, { ports: { ws: nextPort() } });
	const alice = await client('alice');
	const call = alice.invite(`sip:echo@${alice.domain}`, { extra: ['Max-Forwards: 0'] });
	const res = await call.final();
	assert.equal(res.status, 483, res.raw);
});

test('a trunk that points back at the gateway: the loop ends with 483', async (t) => {
	const wsPort = nextPort(), sipPort = nextPort();
	const { daemon, client } = await daemonWith(t, { ports: { ws: wsPort, sip: sipPort },
		trunks: { self: `sip:127.0.0.1:${sipPort};transport=udp` } });
	const alice = await client('alice');
	// Max-Forwards 5: the call passes through the gateway five times (5, 4,
	// 3, 2, 1), a call of its own each time, and the fifth, which would have
	// to send Max-Forwards 0 on, answers 483.
	const call = alice.invite(`sip:5550100@${alice.domain}`, { extra: ['Max-Forwards: 5'] });
	const res = await call.final(10000);
	assert.equal(res.status, 483, res.raw);
	// Every pass ended with the 483, relayed back pass by pass: the first
	// call, the caller's own, ends last.
	await daemon.waitForLog(/"call":"c1",.*"status":483/);
	assert.equal(daemon.countLog(/\[cdr\] /g), 5, daemon.stderr);
});
