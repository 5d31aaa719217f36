'use strict';
// WebRTC media that goes wrong, against the real daemon: what a person would
// notice when it does. The WebRTC test peer (tests/peer/webrtc_peer) breaks
// its own side on purpose (a fingerprint that is not its certificate's, no
// ICE, junk in the DTLS range, spoiled SRTP auth tags, silence); sipp plays
// a PBX that sends no RTP, or puts the call on hold. Each case asserts who
// got a BYE and with which Reason header, the call's detail line (end
// reason, who hung up, the media counters of each leg), how long it took
// where a timer decides, and that a bystander call in the same daemon goes
// on unharmed where one failing call could take others with it.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { callDetail } = require('./lib/calls');
const { startSipp } = require('./lib/sipp');
const { header } = require('./lib/sip');
const { startPeer } = require('./lib/peer');

const nextPort = portAllocator(23);
const USERS = { alice: 'alice-secret', bob: 'bob-secret', carol: 'carol-secret' };
const ICE_TIMEOUT_S = 2;
const MEDIA_TIMEOUT_S = 3;
// The media timeout is checked once a second: a leg found quiet for
// MEDIA_TIMEOUT_S ends up to a second later.
const WATCH_TICK_MS = 1000;
// Slack for a loaded 2-core machine and the sanitizer build.
const SLACK_MS = 1500;

function peerArgs(wsPort, user, more) {
	return ['--ws', `ws://127.0.0.1:${wsPort}`, '--user', user, '--password', USERS[user],
		'--timeout', '30000', ...more];
}

// A call of user's to target whose far end is to end it: the peer sends
// packets audio packets, checks nothing of the media and waits for the BYE.
function failingCall(wsPort, user, target, knobs, packets = 100) {
	return startPeer(peerArgs(wsPort, user, ['--call', target, '--expect', 'none',
		'--packets', String(packets), '--wait-bye', '--duration', '15000', ...knobs]),
	{ timeoutMs: 40000 });
}

// The BYE the peer received from the gateway, with its Reason header (RFC
// 3326; the gateway says Q.850 cause 41, temporary failure).
function assertByeFromGateway(report, text) {
	const r = JSON.stringify(report.bye);
	assert.equal(report.bye.by, 'remote', `the gateway ended the call: ${r}`);
	assert.equal(report.bye.status, 200, r);
	assert.equal(report.bye.reason, `Q.850;cause=41;text="${text}"`, r);
}

function assertSippBye(sipp, text) {
	const byes = sipp.received('BYE');
	assert.equal(byes.length, 1, `one BYE at the PBX:\n${sipp.summary()}`);
	assert.equal(header(byes[0], 'reason'), `Q.850;cause=41;text="${text}"`, byes[0].raw);
}

// Milliseconds from the answer to the end, by the detail line's clock.
function answerToEndMs(cdr) {
	assert.ok(cdr.answer && cdr.end, JSON.stringify(cdr));
	return Date.parse(cdr.end) - Date.parse(cdr.answer);
}

function assertWebrtcLegUp(leg, what) {
	const s = JSON.stringify(leg);
	assert.equal(leg.kind, 'webrtc', `${what}: ${s}`);
	assert.equal(leg.ice.state, 'connected', `${what}: ${s}`);
	assert.ok(leg.ice.connected_ms >= 0 && /:\d+$/.test(leg.ice.local) &&
		/:\d+$/.test(leg.ice.remote), `${what}: the selected pair: ${s}`);
	assert.equal(leg.dtls.state, 'connected', `${what}: ${s}`);
	assert.ok(leg.dtls.connected_ms >= 0, `${what}: ${s}`);
	assert.match(leg.dtls.profile, /^(AES128_CM_SHA1_80|AEAD_AES_128_GCM)$/, `${what}: ${s}`);
}

// carol calls echo for packets * 20 ms and hears every packet back: a call
// that shares the daemon (and its media worker) with a failing one.
function startBystander(wsPort, packets) {
	return startPeer(peerArgs(wsPort, 'carol', ['--call', 'echo', '--packets', String(packets)]),
		{ timeoutMs: 40000 });
}

async function assertBystanderUnharmed(daemon, bystander) {
	const { code, report } = await bystander.done;
	const r = JSON.stringify(report);
	assert.equal(report.invite.status, 200, r);
	assert.equal(report.echo.mismatches, 0, r);
	assert.ok(report.echo.returned >= 0.9 * report.echo.expected, r);
	assert.equal(report.bye.by, 'peer', `the bystander hung up itself: ${r}`);
	assert.equal(report.bye.status, 200, r);
	assert.equal(code, 0, r);
	const cdr = await callDetail(daemon, report.invite.call_id, null,
		{ end_reason: /^bye$/, hangup: 'caller', status: 200 });
	assertWebrtcLegUp(cdr.media.caller, 'the bystander');
	assert.equal(cdr.media.caller.srtp.auth_failures, 0, JSON.stringify(cdr.media));
}

// A daemon with a PBX: sipp on its own port, trunk "pbx", where the default
// plan sends every number but echo.
async function daemonWithPbx(t, { scenario, sippArgs = [], set }) {
	const wsPort = nextPort(), sipPort = nextPort(), pbxPort = nextPort(), media = nextPort(3);
	const sipp = await startSipp({ scenario, port: pbxPort, mediaPort: media, args: sippArgs });
	const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS,
		trunks: { pbx: `sip:127.0.0.1:${pbxPort}` }, set });
	t.after(async () => {
		await daemon.stop();
		await sipp.stop();
		sipp.cleanup();
	});
	return { wsPort, daemon, sipp };
}

async function plainDaemon(t, set) {
	const wsPort = nextPort();
	const daemon = await startDaemon({ ports: { ws: wsPort }, users: USERS, set });
	t.after(() => daemon.stop());
	return { wsPort, daemon };
}

test('a peer whose certificate does not match its a=fingerprint: the call to the PBX ends ' +
	'at once, both legs told "DTLS fingerprint mismatch"; a call beside it goes on', async (t) => {
	const { wsPort, daemon, sipp } = await daemonWithPbx(t, { scenario: 'uas_answer.xml',
		sippArgs: ['-rtp_echo'], set: { 'media.ice_timeout': ICE_TIMEOUT_S,
			'media.timeout': MEDIA_TIMEOUT_S } });
	const bystander = startBystander(wsPort, 150);
	await bystander.waitForOutput(/DTLS connected/, 15000);
	const { code, report } = await failingCall(wsPort, 'alice', '900', ['--bad-fingerprint']).done;
	const r = JSON.stringify(report);
	assert.equal(report.invite.status, 200, r);
	assertByeFromGateway(report, 'DTLS fingerprint mismatch');
	// The gateway refused the peer's certificate: no keys, not one packet.
	assert.equal(report.dtls.state, 'failed', r);
	assert.equal(report.srtp.unprotected, 0, r);
	assert.equal(report.rtp.received, 0, r);
	assert.equal(code, 0, r);
	const cdr = await callDetail(daemon, report.invite.call_id, null,
		{ end_reason: /^DTLS fingerprint mismatch$/, hangup: 'gateway', status: 200 });
	const { caller, callee } = cdr.media;
	assert.equal(caller.kind, 'webrtc', JSON.stringify(cdr.media));
	assert.equal(caller.ice.state, 'connected', JSON.stringify(caller));
	assert.equal(caller.dtls.state, 'failed', JSON.stringify(caller));
	assert.equal(caller.dtls.connected_ms, null, JSON.stringify(caller));
	assert.equal(caller.dtls.profile, '', JSON.stringify(caller));
	assert.equal(caller.rx_packets, 0, JSON.stringify(caller));
	assert.equal(callee.kind, 'rtp', JSON.stringify(cdr.media));
	assert.ok(answerToEndMs(cdr) < SLACK_MS, `ended as DTLS failed: ${JSON.stringify(cdr)}`);
	const s = await sipp.result();
	assert.equal(s.code, 0, s.report);
	assertSippBye(sipp, 'DTLS fingerprint mismatch');
	await assertBystanderUnharmed(daemon, bystander);
});

test('a peer that answers no ICE check: the call to the PBX ends after media.ice_timeout ' +
	'with "ICE timeout" on both legs', async (t) => {
	// The PBX's silence must not end the call first: a longer media timeout.
	const { wsPort, daemon, sipp } = await daemonWithPbx(t, { scenario: 'uas_answer.xml',
		sippArgs: ['-rtp_echo'], set: { 'media.ice_timeout': ICE_TIMEOUT_S, 'media.timeout': 8 } });
	const bystander = startBystander(wsPort, 200);
	await bystander.waitForOutput(/DTLS connected/, 15000);
	const started = Date.now();
	const { code, report } = await failingCall(wsPort, 'alice', '900', ['--no-ice']).done;
	const r = JSON.stringify(report);
	assert.equal(report.invite.status, 200, r);
	assertByeFromGateway(report, 'ICE timeout');
	assert.notEqual(report.ice.state, 'connected', r);
	assert.equal(report.rtp.received, 0, r);
	assert.equal(code, 0, r);
	const cdr = await callDetail(daemon, report.invite.call_id, null,
		{ end_reason: /^ICE timeout$/, hangup: 'gateway', status: 200 });
	// ICE starts as the gateway answers: the call ends media.ice_timeout later.
	const took = answerToEndMs(cdr);
	t.diagnostic(`ICE timeout ${ICE_TIMEOUT_S} s: answer to end ${took} ms ` +
		`(the peer's whole call ${Date.now() - started} ms)`);
	assert.ok(took >= ICE_TIMEOUT_S * 1000 - 100 && took <= ICE_TIMEOUT_S * 1000 + SLACK_MS,
		`${took} ms from the answer to the end, for media.ice_timeout ${ICE_TIMEOUT_S} s`);
	const { caller, callee } = cdr.media;
	assert.equal(caller.ice.state, 'failed', JSON.stringify(caller));
	assert.equal(caller.ice.connected_ms, null, JSON.stringify(caller));
	assert.equal(caller.ice.local, '', JSON.stringify(caller));
	assert.equal(caller.dtls.state, 'new', JSON.stringify(caller));
	assert.equal(callee.kind, 'rtp', JSON.stringify(cdr.media));
	const s = await sipp.result();
	assert.equal(s.code, 0, s.report);
	assertSippBye(sipp, 'ICE timeout');
	await assertBystanderUnharmed(daemon, bystander);
});

test('junk in the DTLS range before and during the handshake: the handshake completes, ' +
	'the echo comes back, nothing fails', async (t) => {
	const { wsPort, daemon } = await plainDaemon(t, { 'media.ice_timeout': ICE_TIMEOUT_S,
		'media.timeout': MEDIA_TIMEOUT_S });
	const { code, report } = await startPeer(peerArgs(wsPort, 'alice',
		['--call', 'echo', '--dtls-garbage']), { timeoutMs: 40000 }).done;
	const r = JSON.stringify(report);
	assert.ok(report.dtls.garbage_sent > 0, `the peer sent junk: ${r}`);
	assert.equal(report.dtls.state, 'connected', r);
	assert.equal(report.echo.mismatches, 0, r);
	assert.ok(report.echo.returned >= 0.9 * report.echo.expected, r);
	assert.equal(report.bye.by, 'peer', r);
	assert.equal(report.bye.status, 200, r);
	assert.equal(code, 0, r);
	const cdr = await callDetail(daemon, report.invite.call_id, null,
		{ end_reason: /^bye$/, hangup: 'caller', status: 200 });
	assertWebrtcLegUp(cdr.media.caller, 'the caller');
	assert.ok(cdr.media.caller.rx_packets >= report.echo.returned, JSON.stringify(cdr.media));
	assert.equal(daemon.countLog(/media failed|DTLS failed/g), 0,
		'the junk failed no DTLS association');
	// The daemon is sound after it: a second call works as well.
	const again = await startPeer(peerArgs(wsPort, 'carol', ['--call', 'echo']),
		{ timeoutMs: 40000 }).done;
	assert.ok(again.report.ok, JSON.stringify(again.report));
});

test('SRTP packets with a spoiled auth tag are dropped and counted; the call goes on', async (t) => {
	const N = 5;
	const { wsPort, daemon } = await plainDaemon(t, { 'media.ice_timeout': ICE_TIMEOUT_S,
		'media.timeout': MEDIA_TIMEOUT_S });
	const recordFile = path.join(os.tmpdir(), `sipwire-failures-${process.pid}-tag.txt`);
	t.after(() => fs.rmSync(recordFile, { force: true }));
	const { code, report } = await startPeer(peerArgs(wsPort, 'alice',
		['--call', 'echo', '--corrupt-tag', String(N), '--record', recordFile]),
	{ timeoutMs: 40000 }).done;
	const r = JSON.stringify(report);
	assert.equal(report.rtp.corrupted, N, r);
	assert.equal(report.echo.mismatches, 0, r);
	// Everything that came back was expected back: no spoiled packet.
	assert.equal(report.echo.matches, report.echo.returned, r);
	assert.ok(report.echo.returned >= 0.9 * report.echo.expected, r);
	assert.equal(report.bye.by, 'peer', `the call went on until the peer hung up: ${r}`);
	assert.equal(code, 0, r);
	// The audio indexes (payload bytes 8..11) of what came back: not one of
	// the spoiled packets (the 6th to the (5+N)th sent, indexes 5..4+N).
	const indexes = fs.readFileSync(recordFile, 'utf8').split('\n')
		.map((line) => / match ([0-9a-f]{24})/.exec(line)).filter(Boolean)
		.map((m) => parseInt(m[1].slice(16, 24), 16));
	assert.equal(indexes.length, report.echo.matches, 'one recorded line per packet back');
	for (let i = 5; i < 5 + N; i++)
		assert.ok(!indexes.includes(i), `spoiled packet ${i} came back: ${indexes}`);
	assert.ok(indexes.includes(4) && indexes.includes(5 + N),
		`the packets around the spoiled ones came back: ${indexes}`);
	const cdr = await callDetail(daemon, report.invite.call_id, null,
		{ end_reason: /^bye$/, hangup: 'caller', status: 200 });
	const caller = cdr.media.caller;
	assertWebrtcLegUp(caller, 'the caller');
	assert.equal(caller.srtp.auth_failures, N, JSON.stringify(caller));
	assert.equal(caller.srtp.replays, 0, JSON.stringify(caller));
	// The echo sends back what SRTP let through, and nothing else.
	assert.equal(caller.tx_packets, caller.rx_packets, JSON.stringify(caller));
	assert.equal(caller.dropped, 0, JSON.stringify(caller));
});

test('a PBX that answers and sends no RTP: after media.timeout both legs get BYE ' +
	'"media timeout"; a call beside it goes on', async (t) => {
	const { wsPort, daemon, sipp } = await daemonWithPbx(t, { scenario: 'uas_answer.xml',
		set: { 'media.ice_timeout': ICE_TIMEOUT_S, 'media.timeout': MEDIA_TIMEOUT_S } });
	// The bystander's 6 s of audio outlast the failing call.
	const bystander = startBystander(wsPort, 300);
	await bystander.waitForOutput(/DTLS connected/, 15000);
	// alice talks all along (10 s): it is the PBX that is silent.
	const { code, report } = await failingCall(wsPort, 'alice', '900', [], 500).done;
	const r = JSON.stringify(report);
	assert.equal(report.invite.status, 200, r);
	assertByeFromGateway(report, 'media timeout');
	assert.ok(report.rtp.sent > 0 && report.rtp.received === 0, r);
	assert.equal(code, 0, r);
	const cdr = await callDetail(daemon, report.invite.call_id, null,
		{ end_reason: /^media timeout$/, hangup: 'gateway', status: 200 });
	const took = answerToEndMs(cdr);
	t.diagnostic(`media.timeout ${MEDIA_TIMEOUT_S} s, a silent PBX: answer to end ${took} ms`);
	assert.ok(took >= MEDIA_TIMEOUT_S * 1000 - 100 &&
		took <= MEDIA_TIMEOUT_S * 1000 + WATCH_TICK_MS + SLACK_MS, `${took} ms`);
	assert.match(daemon.stderr, /callee media: media timeout: ending the call/);
	const { caller, callee } = cdr.media;
	assertWebrtcLegUp(caller, 'the caller');
	assert.ok(caller.rx_packets > 0, JSON.stringify(caller));
	assert.equal(callee.kind, 'rtp', JSON.stringify(callee));
	assert.equal(callee.rx_packets, 0, `the PBX sent nothing: ${JSON.stringify(callee)}`);
	assert.ok(callee.tx_packets > 0, `alice's audio went to the PBX: ${JSON.stringify(callee)}`);
	const s = await sipp.result();
	assert.equal(s.code, 0, s.report);
	assertSippBye(sipp, 'media timeout');
	await assertBystanderUnharmed(daemon, bystander);
});

// A held call owes no packets: a PBX on hold may play music (sendonly) or
// send nothing at all (inactive), and sipp here sends no RTP either way.
for (const [how, scenario] of [['a=inactive', 'uas_hold_inactive.xml'],
	['a=sendonly and no music', 'uas_hold.xml']]) {
	test(`a PBX that holds the call with ${how}, sending no RTP: the media timeout ` +
		'leaves the call alone', async (t) => {
		const { wsPort, daemon, sipp } = await daemonWithPbx(t, { scenario,
			set: { 'media.ice_timeout': ICE_TIMEOUT_S, 'media.timeout': MEDIA_TIMEOUT_S } });
		// alice stays on hold for twice the media timeout, then hangs up.
		const holdMs = 2 * MEDIA_TIMEOUT_S * 1000 + WATCH_TICK_MS;
		const { code, report, stderr } = await startPeer(peerArgs(wsPort, 'alice', ['--call',
			'900', '--expect', 'none', '--packets', '500', '--duration', String(holdMs)]),
		{ timeoutMs: 40000 }).done;
		const r = JSON.stringify(report);
		assert.equal(report.invite.status, 200, r);
		// The hold reached alice: the gateway's re-INVITE put her on recvonly.
		assert.match(stderr, /remote offer applied: audio sendonly/, stderr);
		assert.equal(report.bye.by, 'peer', `alice hung up, the gateway did not: ${r}`);
		assert.equal(report.bye.status, 200, r);
		assert.equal(code, 0, r);
		const cdr = await callDetail(daemon, report.invite.call_id, null,
			{ end_reason: /^bye$/, hangup: 'caller', status: 200 });
		assert.ok(answerToEndMs(cdr) >= holdMs - 100, JSON.stringify(cdr));
		assert.equal(daemon.countLog(/media timeout/g), 0, 'no media timeout');
		assert.equal(cdr.media.callee.rx_packets, 0, JSON.stringify(cdr.media));
		// sipp checked the direction of the gateway's 200 to its hold.
		const s = await sipp.result();
		assert.equal(s.code, 0, s.report);
		const byes = sipp.received('BYE');
		assert.equal(byes.length, 1, sipp.summary());
		assert.equal(header(byes[0], 'reason'), undefined, `alice's BYE, relayed:\n${byes[0].raw}`);
	});
}

test('a browser that stops sending: after media.timeout its leg ends the call, ' +
	'both browsers told "media timeout"', async (t) => {
	const { wsPort, daemon } = await plainDaemon(t, { 'media.ice_timeout': ICE_TIMEOUT_S,
		'media.timeout': MEDIA_TIMEOUT_S });
	// bob answers and talks for 10 s; alice stops sending 500 ms into the call.
	const bob = startPeer(peerArgs(wsPort, 'bob', ['--answer', '--expect', 'none',
		'--packets', '500', '--wait-bye', '--duration', '15000']), { timeoutMs: 40000 });
	t.after(() => bob.kill());
	await bob.waitForOutput(/waiting for a call/, 15000);
	const stopAt = 500;
	const { code, report } = await failingCall(wsPort, 'alice', 'bob',
		['--stop-media-at', String(stopAt)], 500).done;
	const r = JSON.stringify(report);
	assert.equal(report.invite.status, 200, r);
	assert.equal(report.rtp.stopped, true, r);
	assertByeFromGateway(report, 'media timeout');
	assert.equal(code, 0, r);
	const b = await bob.done;
	assertByeFromGateway(b.report, 'media timeout');
	assert.equal(b.code, 0, JSON.stringify(b.report));
	const cdr = await callDetail(daemon, report.invite.call_id, b.report.invite.call_id,
		{ end_reason: /^media timeout$/, hangup: 'gateway', status: 200 });
	assert.match(daemon.stderr, /caller media: media timeout: ending the call/);
	assert.doesNotMatch(daemon.stderr, /callee media: media timeout/);
	const took = answerToEndMs(cdr);
	t.diagnostic(`media.timeout ${MEDIA_TIMEOUT_S} s, the caller silent ${stopAt} ms into ` +
		`the call: answer to end ${took} ms`);
	assert.ok(took >= stopAt + MEDIA_TIMEOUT_S * 1000 - 100 &&
		took <= stopAt + MEDIA_TIMEOUT_S * 1000 + WATCH_TICK_MS + SLACK_MS, `${took} ms`);
	const { caller, callee } = cdr.media;
	assertWebrtcLegUp(caller, 'the caller');
	assertWebrtcLegUp(callee, 'the callee');
	// bob kept talking to the end; alice's leg carried only its first half second.
	assert.ok(callee.rx_packets > caller.rx_packets, JSON.stringify(cdr.media));
});
