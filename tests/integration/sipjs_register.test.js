'use strict';
// SIP.js 0.21.2, the stack of many browser phones, registering against the
// daemon from Node: its transport uses the browser WebSocket API, which the
// ws package provides (addEventListener included), so the only shim is a
// global WebSocket. The shim counts what SIP.js sends and the Pings it gets.

const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { connectClient, contacts } = require('./lib/sip');

const nextPort = portAllocator(3);
const USERS = { alice: 'alice-secret' };
const PING_INTERVAL_S = 1;
const IDLE_TIMEOUT_S = 3;
const HOLD_MS = 6000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// What every shimmed socket saw, for the assertions.
const wire = { sentRegisters: 0, pings: 0, closes: [] };

class BrowserWebSocket extends WebSocket {
	constructor(url, protocols) {
		super(url, protocols);
		this.on('ping', () => { wire.pings++; });
		this.on('close', (code) => { wire.closes.push(code); });
	}

	send(data, ...rest) {
		if (String(data).startsWith('REGISTER ')) wire.sentRegisters++;
		return super.send(data, ...rest);
	}
}

// Resolves when the registerer reaches `state`; rejects after timeoutMs.
function reachState(registerer, state, timeoutMs = 10000) {
	if (registerer.state === state) return Promise.resolve();
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => {
			registerer.stateChange.removeListener(listener);
			reject(new Error(`registerer still ${registerer.state}, not ${state}, ` +
				`after ${timeoutMs} ms`));
		}, timeoutMs);
		const listener = (s) => {
			if (s !== state) return;
			clearTimeout(timer);
			registerer.stateChange.removeListener(listener);
			resolve();
		};
		registerer.stateChange.addListener(listener);
	});
}

test('SIP.js 0.21.2 registers, stays registered across Pings, unregisters', async (t) => {
	const { UserAgent, Registerer, RegistererState } = await import('sip.js');
	globalThis.WebSocket = BrowserWebSocket;

	const port = nextPort();
	const daemon = await startDaemon({ ports: { ws: port }, users: USERS,
		set: { 'ws.ping_interval': PING_INTERVAL_S, 'ws.idle_timeout': IDLE_TIMEOUT_S } });
	const sipjsLog = [];
	const userAgent = new UserAgent({
		uri: UserAgent.makeURI('sip:alice@sipwire.test'),
		transportOptions: { server: `ws://127.0.0.1:${port}/`, connectionTimeout: 10 },
		authorizationUsername: 'alice',
		authorizationPassword: USERS.alice,
		logBuiltinEnabled: false,
		logConnector: (level, category, label, content) => {
			sipjsLog.push(`${level} ${category} ${content}`);
		},
	});
	const registerer = new Registerer(userAgent, { expires: 600 });
	t.after(async () => {
		if (userAgent.isConnected()) await userAgent.stop().catch(() => {});
		await daemon.stop();
		delete globalThis.WebSocket;
	});

	await userAgent.start();
	assert.equal(userAgent.isConnected(), true);
	await registerer.register();
	await reachState(registerer, RegistererState.Registered).catch((err) => {
		throw new Error(`${err.message}\n--- SIP.js ---\n${sipjsLog.join('\n')}`);
	});
	// the challenge and the answer
	assert.equal(wire.sentRegisters, 2);

	// Another connection sees SIP.js's binding.
	const query = async () => {
		const q = await connectClient(port);
		const { final } = await q.register({ user: 'alice', password: USERS.alice, contact: false });
		await q.close();
		assert.equal(final.status, 200, final.raw);
		return contacts(final);
	};
	const before = await query();
	assert.equal(before.length, 1, before.join('\n'));
	assert.match(before[0], /transport=ws/);
	assert.match(before[0], /;expires=\d+/);

	// Idle for two idle timeouts: the daemon pings, ws answers, nothing closes
	// and SIP.js does not re-register (expires 600 s).
	const registersBeforeHold = wire.sentRegisters;
	await sleep(HOLD_MS);
	assert.ok(wire.pings >= 3, `only ${wire.pings} Pings in ${HOLD_MS} ms`);
	assert.deepEqual(wire.closes, [], 'SIP.js lost its WebSocket');
	assert.equal(registerer.state, RegistererState.Registered);
	const reRegisters = wire.sentRegisters - registersBeforeHold;
	assert.ok(reRegisters < 5, `${reRegisters} REGISTERs while idle: a re-registration loop`);
	assert.equal(reRegisters, 0);
	// the same binding, counting down
	const withoutExpires = (list) => list.map((c) => c.replace(/;expires=\d+/, ''));
	const during = await query();
	assert.deepEqual(withoutExpires(during), withoutExpires(before));
	const expiresOf = (c) => Number(/;expires=(\d+)/.exec(c)[1]);
	assert.ok(expiresOf(during[0]) < expiresOf(before[0]), `${during[0]} vs ${before[0]}`);

	await registerer.unregister();
	await reachState(registerer, RegistererState.Unregistered);
	assert.deepEqual(await query(), []);
	await userAgent.stop();
	assert.equal(userAgent.isConnected(), false);
});
