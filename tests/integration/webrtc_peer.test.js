'use strict';
// The WebRTC test peer (tests/peer/webrtc_peer, a C program: libnice ICE,
// DTLS-SRTP, SRTP) against the real daemon. It registers and calls as SIP.js
// does, with an offer shaped like Chrome's (BUNDLE, rtcp-mux, actpass,
// candidates inline), and takes calls as Chrome answers them. Its own ICE,
// DTLS and SRTP are proven without a gateway by the peer/loopback* ctests.
// Here every payload the peer sends must come back byte for byte: from the
// echo service (decrypted and encrypted again by the gateway), from a PBX
// (sipp with RTP echo, reached as plain RTP), and between two peers.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { callDetail } = require('./lib/calls');
const { startSipp } = require('./lib/sipp');
const { runPeer, startPeer } = require('./lib/peer');

const nextPort = portAllocator(20);
const USERS = { alice: 'alice-secret', bob: 'bob-secret' };

// Audio came back: connected, every received payload one the peer sent, at
// least 90% of them back (the peer's own verdict), the BYE answered.
function assertEchoed(code, report) {
	const r = JSON.stringify(report);
	assert.equal(report.invite.status, 200, r);
	assert.ok(report.ice_connected_ms >= 0 && report.dtls_connected_ms >= 0, r);
	assert.ok(report.srtp_profile, r);
	assert.equal(report.echo.mismatches, 0, r);
	assert.ok(report.echo.returned >= 0.9 * report.echo.expected, r);
	assert.equal(report.bye.status, 200, r);
	assert.equal(code, 0, r);
	assert.ok(report.ok, r);
}

test('the peer calls echo: its SRTP comes back decrypted and encrypted again, ' +
	'payload for payload', async (t) => {
	const wsPort = nextPort();
	const daemon = await startDaemon({ ports: { ws: wsPort }, users: USERS });
	t.after(() => daemon.stop());
	const { code, report } = await runPeer(['--call', 'echo', '--ws', `ws://127.0.0.1:${wsPort}`,
		'--user', 'alice', '--password', USERS.alice, '--timeout', '20000']);
	assert.equal(report.register.status, 200, 'registered after the digest challenge');
	assertEchoed(code, report);
	await callDetail(daemon, report.invite.call_id, null,
		{ end_reason: /^bye$/, hangup: 'caller', status: 200 });
});

test('the peer calls a PBX: WebRTC to plain RTP and back, payload for payload', async (t) => {
	const wsPort = nextPort(), sipPort = nextPort(), pbxPort = nextPort(), media = nextPort(3);
	const sipp = await startSipp({ scenario: 'uas_answer.xml', port: pbxPort, mediaPort: media,
		args: ['-rtp_echo'] });
	const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS,
		trunks: { pbx: `sip:127.0.0.1:${pbxPort}` }, routes: ['9=pbx'] });
	t.after(async () => {
		await daemon.stop();
		await sipp.stop();
		sipp.cleanup();
	});
	const { code, report } = await runPeer(['--call', '900', '--ws', `ws://127.0.0.1:${wsPort}`,
		'--user', 'alice', '--password', USERS.alice, '--timeout', '20000']);
	assertEchoed(code, report);
	const invite = sipp.received('INVITE')[0];
	assert.match(invite.body, /^m=audio \d+ RTP\/AVP /m, `plain RTP toward the PBX:\n${invite.body}`);
	const r = await sipp.result();
	assert.equal(r.code, 0, r.report);
});

test('two peers call each other through the gateway: WebRTC on both legs', async (t) => {
	const wsPort = nextPort();
	const daemon = await startDaemon({ ports: { ws: wsPort }, users: USERS });
	const bob = startPeer(['--answer', '--ws', `ws://127.0.0.1:${wsPort}`, '--user', 'bob',
		'--password', USERS.bob, '--answer-after', '100', '--expect', 'any', '--wait-bye',
		'--duration', '15000', '--timeout', '20000']);
	t.after(async () => {
		bob.kill();
		await daemon.stop();
	});
	await bob.waitForOutput(/waiting for a call/);
	// alice hangs up 4 s after the answer: time for both to send their 2 s of audio
	const { code, report } = await runPeer(['--call', 'bob', '--ws', `ws://127.0.0.1:${wsPort}`,
		'--user', 'alice', '--password', USERS.alice, '--expect', 'any', '--duration', '4000',
		'--timeout', '20000']);
	const b = (await bob.done).report;
	// Audio both ways. Each peer starts sending once its own leg is up; what
	// arrives before the other leg's DTLS is done is dropped by the gateway
	// (no keys to send it with yet), so under load the first part is lost:
	// half a second of the two seconds is the bar, with no gap after it.
	assert.equal(code, 0, JSON.stringify(report));
	assert.ok(report.rtp.received >= 25 && report.rtp.lost === 0, JSON.stringify(report.rtp));
	assert.ok(b.ok, JSON.stringify(b));
	assert.ok(b.rtp.received >= 25 && b.rtp.lost === 0, JSON.stringify(b.rtp));
	assert.equal(b.bye.by, 'remote', JSON.stringify(b.bye)); // alice hung up
});

test('RFC 4733 DTMF from the peer reaches a PBX without telephone-event as SIP INFO',
	async (t) => {
		const wsPort = nextPort(), sipPort = nextPort(), pbxPort = nextPort(), media = nextPort(3);
		// uas_info.xml: PCMU only; expects INFO Signal=5, then sends Signal=7 back
		const sipp = await startSipp({ scenario: 'uas_info.xml', port: pbxPort, mediaPort: media });
		const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS,
			trunks: { pbx: `sip:127.0.0.1:${pbxPort}` }, routes: ['9=pbx'] });
		t.after(async () => {
			await daemon.stop();
			await sipp.stop();
			sipp.cleanup();
		});
		const { report } = await runPeer(['--call', '900', '--ws', `ws://127.0.0.1:${wsPort}`,
			'--user', 'alice', '--password', USERS.alice, '--dtmf', '5', '--dtmf-at', '300',
			'--expect', 'none', '--duration', '2500', '--timeout', '20000']);
		assert.equal(report.invite.status, 200, JSON.stringify(report));
		assert.ok(report.dtmf.packets_sent > 0, JSON.stringify(report.dtmf));
		const r = await sipp.result();
		assert.equal(r.code, 0, r.report); // sipp checked Signal=5 in the INFO it got
		const info = sipp.received('INFO')[0];
		assert.match(info.body, /Signal=5/);
		assert.match(info.body, /Duration=\d+/);
	});

