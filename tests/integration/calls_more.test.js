'use strict';
// Calls that are not "a browser calls a PBX that behaves": the PBX (sipp as
// UAC) calls a registered browser; a browser calls another browser and the
// echo service; a browser's WebSocket closes in the middle of a call (after
// the answer the gateway sends BYE to the PBX at once, before it CANCEL); a
// PBX that never answers (the browser gets 408 when the gateway's INVITE
// times out, or when its no-answer timeout cancels a call that only got 100). One daemon per test with the default dial plan and a single
// trunk, over UDP and TCP.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { startSipp } = require('./lib/sipp');
const { header, headerValues, tagOf, sdpInfo, rtpSdp } = require('./lib/sip');
const { USERS, BROWSER_RTP_PORT, registeredClient, waitFor, assertGatewayInvite,
	assertGatewaySdp, callDetail, assertTryingFirst } = require('./lib/calls');

const nextPort = portAllocator(9);

// A daemon with one trunk (the default plan sends unknown numbers to it),
// a sipp for scenario when given, both stopped after the test.
async function setup(t, { transport = 'udp', scenario, set, sippArgs, sippRemote } = {}) {
	const wsPort = nextPort(), sipPort = nextPort(), pbxPort = nextPort(), media = nextPort(3);
	// The WebSocket client here speaks plain RTP, so calls to it are offered
	// RTP/AVP (browsers' WebRTC legs: webrtc_peer and the e2e tests).
	const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS,
		trunks: { pbx: `sip:127.0.0.1:${pbxPort};transport=${transport}` },
		set: { 'media.ws_webrtc': false, ...set } });
	const clients = [];
	let sipp = null;
	t.after(async () => {
		for (const c of clients) c.ws.terminate();
		if (sipp) {
			await sipp.stop();
			sipp.cleanup();
		}
		await daemon.stop();
	});
	const env = { daemon, wsPort, sipPort, pbxPort, media, transport,
		async client(user = 'alice') {
			const c = await registeredClient(wsPort, user);
			clients.push(c);
			return c;
		},
		async startSipp(name = scenario) {
			sipp = await startSipp({ scenario: name, port: pbxPort, mediaPort: media, transport,
				args: sippArgs || [], remote: sippRemote ? `127.0.0.1:${sipPort}` : undefined });
			return sipp;
		},
	};
	return env;
}

async function pbxPassed(sipp, timeoutMs) {
	const r = await sipp.result(timeoutMs);
	assert.equal(r.code, 0, r.report);
}

for (const transport of ['udp', 'tcp']) {
	const T = transport.toUpperCase();

	test(`the PBX calls a registered browser over ${T}: it rings, answers, the PBX hangs up`,
		async (t) => {
			const env = await setup(t, { transport, sippArgs: ['-s', 'alice'], sippRemote: true });
			const alice = await env.client('alice');
			alice.acceptCalls();
			const sipp = await env.startSipp('uac_call.xml');
			const call = await alice.nextIncomingCall(10000);
			const invite = call.invite;
			// sipp writes its trace a moment after sending: wait for it.
			const pbxInvite = await waitFor(() => sipp.sent('INVITE')[0], 5000,
				'sipp\'s INVITE in its trace');
			assert.notEqual(call.callId, header(pbxInvite, 'call-id'), 'the browser leg\'s own Call-ID');
			assert.match(header(invite, 'from'), /pbxcaller/, `the caller's identity:\n${invite.raw}`);
			assert.ok(!/^pbx/.test(tagOf(header(invite, 'from'))), 'the gateway\'s own From tag');
			assert.ok(invite.uri.startsWith(alice.contactUri()),
				`to the browser's registered Contact: ${invite.uri}`);
			assert.ok(headerValues(invite, 'contact').length === 1, `a Contact to reach the gateway:\n${invite.raw}`);
			assertGatewaySdp(invite.body, env.media, 'INVITE to the browser');
			const ack = await call.answer();
			assert.equal(header(ack, 'call-id'), call.callId);
			const bye = await call.nextRequest('BYE', 5000);
			assert.equal(tagOf(header(bye, 'to')), call.localTag, bye.raw);
			await pbxPassed(sipp); // sipp got 200 with SDP, and 200 to its BYE
			const answer = sipp.received(200).find((r) => sdpInfo(r.body));
			assert.ok(answer, 'the PBX got an answer with SDP');
			assert.notEqual(sdpInfo(answer.body).port, sdpInfo(call.localSdp).port,
				`the gateway's RTP port toward the PBX, not the browser's:\n${answer.body}`);
			await callDetail(env.daemon, header(pbxInvite, 'call-id'), call.callId,
				{ end_reason: /^bye$/, hangup: 'caller', status: 200, answered: true });
		});

	test(`the browser's WebSocket closes after the answer (${T}): BYE to the PBX at once`,
		async (t) => {
			const env = await setup(t, { transport, scenario: 'uas_answer.xml' });
			const sipp = await env.startSipp();
			const alice = await env.client();
			const call = alice.invite('sip:5551234@127.0.0.1', { sdp: rtpSdp({ port: BROWSER_RTP_PORT }) });
			const final = await call.final(10000);
			assert.equal(final.status, 200, final.raw);
			assertGatewayInvite(sipp.received('INVITE')[0], call, { transport, number: '5551234' });
			await waitFor(() => sipp.received('ACK').length, 5000, 'the ACK at the PBX');
			const closedAt = Date.now();
			alice.ws.terminate();
			await pbxPassed(sipp, 5000);
			const took = Date.now() - closedAt;
			assert.ok(took < 2000, `the BYE took ${took} ms after the close`);
			await callDetail(env.daemon, call.callId, header(sipp.received('INVITE')[0], 'call-id'),
				{ end_reason: /closed/, hangup: 'caller', answered: true });
		});

	test(`the browser's WebSocket closes while the PBX rings (${T}): CANCEL to the PBX`,
		async (t) => {
			const env = await setup(t, { transport, scenario: 'uas_noanswer.xml' });
			const sipp = await env.startSipp();
			const alice = await env.client();
			const call = alice.invite('sip:5551234@127.0.0.1', { sdp: rtpSdp({ port: BROWSER_RTP_PORT }) });
			await waitFor(() => sipp.sent(180).length, 5000, 'the PBX ringing');
			await call.nextResponse((r) => r.status === 180, 2000);
			const closedAt = Date.now();
			alice.ws.terminate();
			await pbxPassed(sipp, 5000); // CANCEL, 200, 487, ACK
			const took = Date.now() - closedAt;
			assert.ok(took < 2000, `the CANCEL took ${took} ms after the close`);
			assert.equal(sipp.received('CANCEL').length, 1);
			await callDetail(env.daemon, call.callId, header(sipp.received('INVITE')[0], 'call-id'),
				{ hangup: 'caller', answered: false });
		});

	test(`a PBX that never answers (${T}): the browser gets 408 when the INVITE times out`,
		async (t) => {
			// T1 = 50 ms: Timer B is 64*T1 = 3.2 s; uas_never waits 4.5 s and
			// fails on anything but the INVITE (no CANCEL without a provisional).
			const env = await setup(t, { transport, scenario: 'uas_never.xml',
				set: { 'sip.timers.t1': 50, 'sip.timers.t2': 400 } });
			const sipp = await env.startSipp();
			const alice = await env.client();
			const started = Date.now();
			const call = alice.invite('sip:5551234@127.0.0.1', { sdp: rtpSdp({ port: BROWSER_RTP_PORT }) });
			const final = await call.final(15000);
			const took = Date.now() - started;
			assert.equal(final.status, 408, final.raw);
			assertTryingFirst(call);
			assert.ok(took >= 2500 && took < 10000, `408 after ${took} ms; Timer B is 3.2 s`);
			await pbxPassed(sipp, 10000);
			assert.equal(sipp.received('CANCEL').length, 0, 'no CANCEL before a provisional (RFC 3261 §9.1)');
			await callDetail(env.daemon, call.callId, header(sipp.received('INVITE')[0], 'call-id'),
				{ status: 408, answered: false });
		});

	test(`a PBX that says 100 Trying and never answers (${T}): calls.no_answer_timeout ` +
		'cancels it and the browser gets 408', async (t) => {
		const env = await setup(t, { transport, scenario: 'uas_trying.xml',
			set: { 'calls.no_answer_timeout': 2 } });
		const sipp = await env.startSipp();
		const alice = await env.client();
		const started = Date.now();
		const call = alice.invite('sip:5551234@127.0.0.1', { sdp: rtpSdp({ port: BROWSER_RTP_PORT }) });
		const final = await call.final(10000);
		const took = Date.now() - started;
		assert.equal(final.status, 408, final.raw);
		assert.ok(took >= 2000 && took < 6000, `408 after ${took} ms; the timeout is 2 s`);
		await pbxPassed(sipp, 5000); // CANCEL, 200, 487, ACK on the PBX leg
		const invite = sipp.received('INVITE')[0];
		assert.equal(sipp.received('CANCEL').length, 1);
		await callDetail(env.daemon, call.callId, header(invite, 'call-id'),
			{ end_reason: /no answer/, hangup: 'gateway', status: 408, answered: false });
	});
}

test('a browser calls another browser through the gateway', async (t) => {
	const env = await setup(t);
	const alice = await env.client('alice');
	const bob = await env.client('bob');
	bob.acceptCalls();
	const call = alice.invite('sip:bob@127.0.0.1', { sdp: rtpSdp({ port: BROWSER_RTP_PORT }) });
	const incoming = await bob.nextIncomingCall(5000);
	assert.notEqual(incoming.callId, call.callId, 'each browser has its own leg');
	assert.match(header(incoming.invite, 'from'), /alice/, incoming.invite.raw);
	assert.ok(sdpInfo(incoming.invite.body), `an offer for bob:\n${incoming.invite.raw}`);
	await call.nextResponse((r) => r.status === 180, 5000);
	const acked = incoming.answer(rtpSdp({ port: 40010 }));
	const final = await call.final(5000);
	assert.equal(final.status, 200, final.raw);
	assert.ok(sdpInfo(final.body), final.raw);
	assertTryingFirst(call);
	await acked;
	const bye = await call.bye();
	assert.equal(bye.status, 200, bye.raw);
	const bobBye = await incoming.nextRequest('BYE', 5000);
	assert.equal(header(bobBye, 'call-id'), incoming.callId);
	await callDetail(env.daemon, call.callId, incoming.callId,
		{ end_reason: /^bye$/, hangup: 'caller', status: 200, answered: true });
});

test('a browser calls the echo service: answered by the gateway itself', async (t) => {
	const env = await setup(t);
	const alice = await env.client('alice');
	const call = alice.invite('sip:echo@127.0.0.1', { sdp: rtpSdp({ port: BROWSER_RTP_PORT }) });
	const final = await call.final(5000);
	assert.equal(final.status, 200, final.raw);
	assertTryingFirst(call);
	const answer = sdpInfo(final.body);
	assert.ok(answer, `an SDP answer:\n${final.raw}`);
	assert.notEqual(answer.port, BROWSER_RTP_PORT, final.body);
	assert.ok(answer.port > 0, 'audio accepted');
	assert.ok(header(final, 'contact'), final.raw);
	const bye = await call.bye();
	assert.equal(bye.status, 200, bye.raw);
	await callDetail(env.daemon, call.callId, null,
		{ end_reason: /^bye$/, hangup: 'caller', status: 200, answered: true });
});
