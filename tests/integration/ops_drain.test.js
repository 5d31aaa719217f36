'use strict';
// Health and stopping: /healthz answers 200 on every WebSocket listener
// once they are all up; on SIGTERM the gateway drains: /healthz 503, new
// WebSockets and calls refused, calls in progress go on until they end or
// shutdown.drain_timeout passes, then are ended with BYE; exit 0.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { httpRequest } = require('./lib/http');
const { connectClient, header, rtpSdp } = require('./lib/sip');
const { callDetail } = require('./lib/calls');

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

// A registered browser with a call to the echo service in progress.
async function echoCall(port) {
	const alice = await connectClient(port);
	const { final } = await alice.register({ user: 'alice', password: USERS.alice });
	assert.equal(final.status, 200, final.raw);
	const call = alice.invite('sip:echo@127.0.0.1', { sdp: rtpSdp({ port: nextPort() }) });
	const answer = await call.final(5000);
	assert.equal(answer.status, 200, answer.raw);
	return { alice, call };
}

test('SIGTERM drains: /healthz 503, new calls 503 with Retry-After, new WebSockets refused, ' +
	'the call in progress ended with BYE after the drain timeout, exit 0', async (t) => {
	const port = nextPort();
	const daemon = await startDaemon({ ports: { ws: port }, users: USERS,
		set: { 'shutdown.drain_timeout': 2 } });
	t.after(() => daemon.kill());
	const { alice, call } = await echoCall(port);
	t.after(() => alice.ws.terminate());

	const signalled = Date.now();
	const closed = alice.waitClose(10000);
	daemon.proc.kill('SIGTERM');
	await daemon.waitForLog(/draining: new connections and calls refused, 1 call in progress/);

	const health = await httpRequest(port, '/healthz');
	assert.equal(health.status, 503);
	assert.equal(health.body, 'draining\n');
	const metrics = await httpRequest(port, '/metrics');
	assert.match(metrics.body, /^sipwire_draining 1$/m, 'the metrics say so too');
	assert.match(metrics.body, /^sipwire_calls_active 1$/m);

	const second = alice.invite('sip:echo@127.0.0.1', { sdp: rtpSdp({ port: nextPort() }) });
	const refused = await second.final(5000);
	assert.equal(refused.status, 503, refused.raw);
	assert.equal(header(refused, 'retry-after'), '2');

	await assert.rejects(connectClient(port), 'a new WebSocket is refused while draining');

	const bye = await call.nextRequest('BYE', 8000);
	const byeAfter = Date.now() - signalled;
	assert.ok(byeAfter >= 1800, `BYE ${byeAfter} ms after SIGTERM, not before the drain timeout`);
	assert.equal(header(bye, 'call-id'), call.callId);
	await callDetail(daemon, call.callId, null, { end_reason: /^drain timeout$/, hangup: 'gateway' });
	assert.equal((await closed).code, 1001);
	const exit = await daemon.exited;
	assert.equal(exit.code, 0, daemon.stderr);
	assert.doesNotMatch(daemon.stderr, /AddressSanitizer|LeakSanitizer|runtime error:/);
});

test('SIGTERM drain ends as soon as the last call ends', async (t) => {
	const port = nextPort();
	const daemon = await startDaemon({ ports: { ws: port }, users: USERS,
		set: { 'shutdown.drain_timeout': 30 } });
	t.after(() => daemon.kill());
	const { alice, call } = await echoCall(port);
	t.after(() => alice.ws.terminate());
	daemon.proc.kill('SIGTERM');
	await daemon.waitForLog(/draining: .* 1 call in progress/);
	const hungUp = Date.now();
	const bye = await call.bye();
	assert.equal(bye.status, 200, bye.raw);
	const exit = await daemon.exited;
	assert.equal(exit.code, 0, daemon.stderr);
	const took = Date.now() - hungUp;
	assert.ok(took < 5000, `exited ${took} ms after the last call ended`);
	assert.doesNotMatch(daemon.stderr, /drain timeout/);
});
