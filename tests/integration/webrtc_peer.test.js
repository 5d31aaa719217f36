'use strict';
// The WebRTC test peer (tests/peer/webrtc_peer, a C program: libnice ICE,
// DTLS-SRTP, SRTP) against the real daemon. It registers and calls as SIP.js
// does, with an offer shaped like Chrome's (BUNDLE, rtcp-mux, actpass,
// candidates inline), and takes calls as Chrome answers them. Its own ICE,
// DTLS and SRTP are proven without a gateway by the peer/loopback* ctests.
//
// What these tests assert is what sipwire does TODAY, before its WebRTC media
// leg exists: it refuses a UDP/TLS/RTP/SAVPF offer with 488, and it offers
// plain RTP/AVP to a browser leg, which the peer refuses with 488 as Chrome
// would. When the gateway's WebRTC side lands, flip them to "audio came
// back": exit status 0, report.ok, ICE and DTLS connected, echo.mismatches 0
// and echo.returned at least 90% of echo.expected (the peer checks each
// payload byte for byte), and the BYE answered 200.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { callDetail } = require('./lib/calls');
const { connectClient, rtpSdp } = require('./lib/sip');
const { runPeer, startPeer } = require('./lib/peer');

const nextPort = portAllocator(20);
const USERS = { alice: 'alice-secret', bob: 'bob-secret' };

test('the peer registers with digest and calls echo with a Chrome-like offer: ' +
	'refused with 488 until the WebRTC leg exists', async (t) => {
	const wsPort = nextPort();
	const daemon = await startDaemon({ ports: { ws: wsPort }, users: USERS });
	t.after(() => daemon.stop());

	const { code, report } = await runPeer(['--call', 'echo', '--ws', `ws://127.0.0.1:${wsPort}`,
		'--user', 'alice', '--password', USERS.alice, '--dtmf', '1', '--timeout', '20000']);

	assert.equal(report.mode, 'call');
	assert.equal(report.register.status, 200, 'registered after the digest challenge');
	assert.equal(report.register.unregister_status, 200, 'unregistered at the end');
	assert.equal(report.invite.direction, 'sent');
	assert.equal(report.invite.provisional[0], 100, '100 Trying first');
	assert.ok(report.invite.call_id, 'the Call-ID is reported');
	// TODAY: the offer is refused, so no media ran. Flip with the WebRTC leg.
	assert.equal(report.invite.status, 488, JSON.stringify(report));
	assert.equal(code, 1, 'the peer says the call did not do what was asked');
	assert.deepEqual(report.failures, ['INVITE answered 488']);
	assert.equal(report.ice.state, 'new');
	assert.equal(report.dtls.state, 'none');
	assert.equal(report.rtp.sent, 0);
	assert.equal(report.bye, null);
	await callDetail(daemon, report.invite.call_id, null,
		{ end_reason: /unusable offer/, hangup: 'gateway', status: 488 });
});

test('the peer takes a call as Chrome does: the gateway\'s plain RTP offer to a ' +
	'browser leg is refused with 488 until the WebRTC leg exists', async (t) => {
	const wsPort = nextPort();
	const daemon = await startDaemon({ ports: { ws: wsPort }, users: USERS });
	const peer = startPeer(['--answer', '--ws', `ws://127.0.0.1:${wsPort}`, '--user', 'bob',
		'--password', USERS.bob, '--answer-after', '200', '--timeout', '15000']);
	const alice = await connectClient(wsPort);
	t.after(async () => {
		peer.kill();
		await alice.close();
		await daemon.stop();
	});
	await peer.waitForOutput(/waiting for a call/);
	assert.equal((await alice.register({ user: 'alice', password: USERS.alice })).final.status, 200);

	const call = alice.invite(`sip:bob@${alice.domain}`, { sdp: rtpSdp({ port: nextPort() }) });
	const final = await call.final();
	const { report } = await peer.done;

	assert.ok(call.provisionals.some((r) => r.status === 180), 'the peer\'s 180 reached alice');
	assert.equal(report.invite.direction, 'received');
	assert.equal(report.register.status, 200);
	assert.equal(report.register.unregister_status, 200);
	// TODAY: what the gateway offers the browser leg is RTP/AVP. Flip with the WebRTC leg.
	assert.equal(final.status, 488, 'the peer\'s refusal reached the caller');
	assert.equal(report.invite.status, 488);
	assert.match(report.invite.sdp_error, /not DTLS-SRTP/);
	assert.equal(report.ok, false);
});
