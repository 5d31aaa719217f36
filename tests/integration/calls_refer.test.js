'use strict';
// REFER inside a call between two browsers, both ways sipwire knows:
//  - calls.refer = gateway: the gateway itself calls the Refer-To target (a
//    third registered browser, or a trunk number answered by sipp), reports
//    the progress to the referrer in NOTIFYs, and once the target answers
//    bridges the transferee to it (same gateway ports: no re-INVITE; RTP
//    proves the new bridge) and sends the referrer a BYE. A target that
//    rejects leaves the first call as it was; a referrer that hangs up right
//    after the 202 (blind transfer) does not stop the transfer.
//  - calls.refer = pass (the default): the REFER goes on to the other
//    browser, which accepts it and reports in NOTIFYs that come back to the
//    referrer as the gateway's own.

const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { startSipp } = require('./lib/sipp');
const { connectClient, header, tagOf, cseqOf, rtpSdp, rtpAnswer, sdpInfo } = require('./lib/sip');
const { waitFor, assertGatewayInvite, callDetail } = require('./lib/calls');

const nextPort = portAllocator(12);
const USERS = { alice: 'alice-secret', bob: 'bob-secret', carol: 'carol-secret' };

async function setup(t, { refer = 'gateway', trunkTransport } = {}) {
	const wsPort = nextPort(), sipPort = nextPort(), pbxPort = nextPort(), media = nextPort(3);
	const set = refer ? { 'calls.refer': refer } : {};
	const daemon = await startDaemon({ ports: { ws: wsPort, sip: trunkTransport ? sipPort : 0 },
		users: USERS, set,
		trunks: trunkTransport ? { pbx: `sip:127.0.0.1:${pbxPort};transport=${trunkTransport}` } :
			{} });
	const clients = [], sockets = [];
	let sipp = null;
	t.after(async () => {
		for (const c of clients) c.ws.terminate();
		for (const s of sockets) await new Promise((r) => s.close(r));
		if (sipp) {
			await sipp.stop();
			sipp.cleanup();
		}
		await daemon.stop();
	});
	return {
		daemon,
		async client(user) {
			const c = await connectClient(wsPort);
			clients.push(c);
			const { final } = await c.register({ user, password: USERS[user] });
			assert.equal(final.status, 200, `REGISTER ${user}:\n${final.raw}`);
			return c;
		},
		// A UDP socket on a free port of this file's block: a browser's RTP.
		async rtp() {
			const port = nextPort(2);
			const sock = dgram.createSocket('udp4');
			const got = [];
			sock.on('message', (m) => got.push(m));
			await new Promise((resolve) => sock.bind(port, '127.0.0.1', resolve));
			sockets.push(sock);
			return { sock, got, port };
		},
		async startSipp(scenario) {
			sipp = await startSipp({ scenario, port: pbxPort, mediaPort: media,
				transport: trunkTransport });
			return sipp;
		},
		media,
	};
}

// alice calls bob (both browsers); bob answers. Returns both ends.
async function aliceCallsBob(env, alice, bob, alicePort, bobPort) {
	bob.acceptCalls();
	const call = alice.invite(`sip:bob@${alice.domain}`, { sdp: rtpSdp({ port: alicePort }) });
	const incoming = await bob.nextIncomingCall(5000);
	await incoming.answer(rtpAnswer(incoming.invite.body, { port: bobPort }));
	const final = await call.final(5000);
	assert.equal(final.status, 200, final.raw);
	// Bob's next request must not overtake alice's ACK: the gateway's leg
	// toward alice is Established only once that ACK is in, and until then a
	// REFER from bob is answered 500 (an INFO 488) instead of being relayed.
	await env.daemon.waitForLog(
		new RegExp(`ua \\[${call.callId};[^\\]]*\\] Establishing -> Established`), 5000);
	return { call, incoming };
}

function rtpPacket(seq, payload) {
	const p = Buffer.alloc(12 + payload.length);
	p[0] = 0x80;
	p[1] = 0;
	p.writeUInt16BE(seq, 2);
	p.writeUInt32BE(seq * 160, 4);
	p.writeUInt32BE(0x7e57, 8);
	payload.copy(p, 12);
	return p;
}

// Sends n RTP packets from one browser's socket to its gateway port and
// checks that the other browser's socket receives them unchanged.
async function assertMediaFlows(from, gatewayPort, to, n = 8) {
	// Media runs on worker threads: a packet sent the moment the ACK arrives
	// can reach the gateway before the legs are joined, and is dropped as
	// media without a bridge is. Wait until one gets through, then check n.
	const primed = to.got.length;
	const probe = rtpPacket(0, Buffer.from('probe'.padEnd(160, '.')));
	await waitFor(() => {
		if (to.got.length > primed) return true;
		from.sock.send(probe, gatewayPort, '127.0.0.1');
		return false;
	}, 3000, `RTP from port ${from.port} reaching port ${to.port} at all`);
	await new Promise((r) => setTimeout(r, 50)); // probes still on their way
	const before = to.got.length;
	const sent = [];
	for (let i = 1; i <= n; i++) {
		const pkt = rtpPacket(i, Buffer.from(`transfer media ${i} `.padEnd(160, '.')));
		sent.push(pkt);
		from.sock.send(pkt, gatewayPort, '127.0.0.1');
		await new Promise((r) => setTimeout(r, 20));
	}
	await waitFor(() => to.got.length - before >= n, 3000,
		`${n} RTP packets from port ${from.port} reaching port ${to.port}`);
	const got = to.got.slice(before);
	for (let i = 0; i < n; i++) {
		assert.equal(got[i].readUInt16BE(2), sent[i].readUInt16BE(2), 'sequence kept');
		assert.ok(got[i].subarray(12).equals(sent[i].subarray(12)), `payload ${i + 1} unchanged`);
	}
}

// A NOTIFY of a refer subscription carrying sipfrag status.
function assertReferNotify(notify, status) {
	assert.match(header(notify, 'event') || '', /^refer/i, notify.raw);
	assert.match(header(notify, 'content-type') || '', /^message\/sipfrag/i, notify.raw);
	assert.match(notify.body, new RegExp(`^SIP/2\\.0 ${status}\\b`), notify.raw);
}

// The statuses of every NOTIFY the referrer got, in order, until one is final.
async function notifiesUntilFinal(call, timeoutMs = 8000) {
	const statuses = [];
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const n = await call.nextRequest('NOTIFY', Math.max(1, deadline - Date.now()));
		assertReferNotify(n, '\\d{3}');
		const status = Number(/^SIP\/2\.0 (\d{3})/.exec(n.body)[1]);
		statuses.push(status);
		if (status >= 200) {
			assert.match(header(n, 'subscription-state') || '', /^terminated/i,
				`the final NOTIFY ends the subscription:\n${n.raw}`);
			return statuses;
		}
	}
}

test('gateway REFER between browsers: bob transfers alice to carol', async (t) => {
	const env = await setup(t);
	const [aliceRtp, bobRtp, carolRtp] = [await env.rtp(), await env.rtp(), await env.rtp()];
	const alice = await env.client('alice');
	const bob = await env.client('bob');
	const carol = await env.client('carol');
	carol.acceptCalls();
	const { call, incoming } = await aliceCallsBob(env, alice, bob, aliceRtp.port, bobRtp.port);
	const aliceGatewayPort = sdpInfo(call.finalResponse.body).port;
	await assertMediaFlows(aliceRtp, aliceGatewayPort, bobRtp);

	const res = await incoming.refer(`sip:carol@${bob.domain}`);
	assert.equal(res.status, 202, res.raw);
	const trying = await incoming.nextRequest('NOTIFY', 5000);
	assertReferNotify(trying, 100);
	assert.equal(header(trying, 'call-id'), incoming.callId, 'the NOTIFY is in bob\'s dialog');
	assert.equal(tagOf(header(trying, 'from')), incoming.remoteTag, trying.raw);

	const carolCall = await carol.nextIncomingCall(5000);
	const offer = sdpInfo(carolCall.invite.body);
	assert.ok(offer, `carol is offered SDP:\n${carolCall.invite.raw}`);
	// the codecs alice negotiated with bob: what alice offered (0 8 101)
	assert.deepEqual(offer.payloads, sdpInfo(call.localSdp).payloads, carolCall.invite.body);
	assert.notEqual(offer.port, aliceRtp.port, 'the gateway\'s port, not alice\'s');
	assert.match(header(carolCall.invite, 'from'), /alice@/,
		`carol sees who is transferred to her:\n${carolCall.invite.raw}`);
	assert.notEqual(carolCall.callId, call.callId);
	assert.notEqual(carolCall.callId, incoming.callId);
	const ringing = await incoming.nextRequest('NOTIFY', 5000);
	assertReferNotify(ringing, 180);

	await carolCall.answer(rtpAnswer(carolCall.invite.body, { port: carolRtp.port }));
	const done = await incoming.nextRequest('NOTIFY', 5000);
	assertReferNotify(done, 200);
	assert.match(header(done, 'subscription-state') || '', /^terminated/i, done.raw);
	const bye = await incoming.nextRequest('BYE', 5000);
	assert.equal(header(bye, 'call-id'), incoming.callId, bye.raw);

	// alice is now bridged to carol, with the same gateway port: her RTP
	// reaches the port carol answered with.
	await assertMediaFlows(aliceRtp, aliceGatewayPort, carolRtp);
	assert.equal(call.received('INVITE').length, 0, 'no re-INVITE toward alice');
	assert.equal(call.received('BYE').length, 0, 'alice stays in her call');
	assert.equal(call.received('UPDATE').length, 0);

	const aliceBye = await call.bye();
	assert.equal(aliceBye.status, 200, aliceBye.raw);
	const carolBye = await carolCall.nextRequest('BYE', 5000);
	assert.equal(header(carolBye, 'call-id'), carolCall.callId);
	await env.daemon.waitForLog(/transferred: the caller now talks to/);
	const cdr = await callDetail(env.daemon, call.callId, null, { hangup: 'caller', status: 200 });
	assert.equal(cdr.end_reason, 'bye', JSON.stringify(cdr));
});

test('gateway REFER to a target that is busy: bob hears 486, alice and bob stay connected',
	async (t) => {
		const env = await setup(t);
		const [aliceRtp, bobRtp] = [await env.rtp(), await env.rtp()];
		const alice = await env.client('alice');
		const bob = await env.client('bob');
		const carol = await env.client('carol');
		carol.acceptCalls({ ring: false });
		const { call, incoming } = await aliceCallsBob(env, alice, bob, aliceRtp.port, bobRtp.port);

		const res = await incoming.refer(`sip:carol@${bob.domain}`);
		assert.equal(res.status, 202, res.raw);
		const carolCall = await carol.nextIncomingCall(5000);
		carolCall.reject(486, 'Busy Here');
		const statuses = await notifiesUntilFinal(incoming);
		assert.deepEqual(statuses, [100, 486], 'NOTIFY 100 then the target\'s 486');
		await carolCall.nextRequest('ACK', 5000);

		// Still connected both ways: media and an INFO from alice reach bob.
		await assertMediaFlows(aliceRtp, sdpInfo(call.finalResponse.body).port, bobRtp);
		const info = await call.info();
		assert.equal(info.status, 200, info.raw);
		const relayed = await incoming.nextRequest('INFO', 5000);
		assert.match(relayed.body, /Signal=5/);
		assert.equal(incoming.received('BYE').length, 0, 'bob\'s leg is not ended');
		assert.equal(call.received('BYE').length, 0);

		const bye = await incoming.bye();
		assert.equal(bye.status, 200, bye.raw);
		await call.nextRequest('BYE', 5000);
		await callDetail(env.daemon, call.callId, null, { hangup: 'callee', status: 200 });
	});

test('gateway REFER, blind: bob hangs up right after the 202, alice still reaches carol',
	async (t) => {
		const env = await setup(t);
		const [aliceRtp, bobRtp, carolRtp] = [await env.rtp(), await env.rtp(), await env.rtp()];
		const alice = await env.client('alice');
		const bob = await env.client('bob');
		const carol = await env.client('carol');
		carol.acceptCalls();
		const { call, incoming } = await aliceCallsBob(env, alice, bob, aliceRtp.port, bobRtp.port);

		const res = await incoming.refer(`sip:carol@${bob.domain}`);
		assert.equal(res.status, 202, res.raw);
		const bye = await incoming.bye();
		assert.equal(bye.status, 200, bye.raw);

		const carolCall = await carol.nextIncomingCall(5000);
		assert.deepEqual(sdpInfo(carolCall.invite.body).payloads, sdpInfo(call.localSdp).payloads);
		await new Promise((r) => setTimeout(r, 200)); // carol rings a while
		await carolCall.answer(rtpAnswer(carolCall.invite.body, { port: carolRtp.port }));
		await assertMediaFlows(aliceRtp, sdpInfo(call.finalResponse.body).port, carolRtp);
		assert.equal(call.received('BYE').length, 0, 'alice was not hung up with bob');
		assert.equal(call.received('INVITE').length, 0, 'no re-INVITE toward alice');

		const carolBye = await carolCall.bye();
		assert.equal(carolBye.status, 200, carolBye.raw);
		const aliceBye = await call.nextRequest('BYE', 5000);
		assert.equal(header(aliceBye, 'call-id'), call.callId);
		await callDetail(env.daemon, call.callId, null, { status: 200 });
	});

for (const transport of ['udp', 'tcp']) {
	test(`gateway REFER to a trunk number over ${transport.toUpperCase()}: the PBX gets the INVITE`,
		async (t) => {
			const env = await setup(t, { trunkTransport: transport });
			const [aliceRtp, bobRtp] = [await env.rtp(), await env.rtp()];
			const alice = await env.client('alice');
			const bob = await env.client('bob');
			const sipp = await env.startSipp('uas_answer.xml');
			const { call, incoming } = await aliceCallsBob(env, alice, bob, aliceRtp.port, bobRtp.port);

			const res = await incoming.refer(`sip:2000@${bob.domain}`);
			assert.equal(res.status, 202, res.raw);
			const statuses = await notifiesUntilFinal(incoming);
			assert.equal(statuses[0], 100, `NOTIFYs: ${statuses}`);
			assert.equal(statuses[statuses.length - 1], 200, `NOTIFYs: ${statuses}`);
			assert.ok(statuses.includes(180), `the PBX's 180 reported: ${statuses}`);
			await incoming.nextRequest('BYE', 5000);

			const invite = await waitFor(() => sipp.received('INVITE')[0], 5000, 'the PBX\'s INVITE');
			assertGatewayInvite(invite, call, { transport, number: '2000' });
			assert.notEqual(header(invite, 'call-id'), incoming.callId);
			assert.match(header(invite, 'from'), /alice@/, `the transferee calls:\n${invite.raw}`);
			assert.deepEqual(sdpInfo(invite.body).payloads, sdpInfo(call.localSdp).payloads,
				`alice's codecs offered to the PBX:\n${invite.body}`);
			assert.equal(call.received('INVITE').length, 0, 'no re-INVITE toward alice');

			const bye = await call.bye();
			assert.equal(bye.status, 200, bye.raw);
			const r = await sipp.result(10000);
			assert.equal(r.code, 0, r.report);
			const pbxBye = sipp.received('BYE')[0];
			assert.equal(header(pbxBye, 'call-id'), header(invite, 'call-id'),
				'alice\'s BYE ends the PBX leg');
			assert.equal(cseqOf(pbxBye).method, 'BYE');
		});
}

test('REFER passed on (calls.refer = pass): the other browser transfers, its NOTIFYs come back',
	async (t) => {
		const env = await setup(t, { refer: null }); // the default
		const [aliceRtp, bobRtp] = [await env.rtp(), await env.rtp()];
		const alice = await env.client('alice');
		const bob = await env.client('bob');
		const { call, incoming } = await aliceCallsBob(env, alice, bob, aliceRtp.port, bobRtp.port);

		const res = await incoming.refer('sip:carol@elsewhere.test');
		assert.equal(res.status, 202, `alice's 202 comes back to bob:\n${res.raw}`);
		const refer = await call.nextRequest('REFER', 5000);
		assert.equal(header(refer, 'call-id'), call.callId, 'the REFER is in alice\'s dialog');
		assert.match(header(refer, 'refer-to') || '', /sip:carol@elsewhere\.test/, refer.raw);
		const answered = call.log.find((e) => e.dir === 'out' && e.msg.status === 202);
		assert.ok(answered, 'alice (as SIP.js) accepted the REFER with 202');

		const sipfrag = 'message/sipfrag;version=2.0';
		const extraOf = (state) => ['Event: refer', `Subscription-State: ${state}`,
			`Contact: ${call.contact}`];
		let n = await call.request('NOTIFY', { extra: extraOf('active;expires=60'),
			body: 'SIP/2.0 100 Trying\r\n', contentType: sipfrag });
		assert.equal(n.status, 200, n.raw);
		const first = await incoming.nextRequest('NOTIFY', 5000);
		assertReferNotify(first, 100);
		assert.equal(header(first, 'call-id'), incoming.callId, first.raw);

		n = await call.request('NOTIFY', { extra: extraOf('terminated;reason=noresource'),
			body: 'SIP/2.0 486 Busy Here\r\n', contentType: sipfrag });
		assert.equal(n.status, 200, n.raw);
		const last = await incoming.nextRequest('NOTIFY', 5000);
		assertReferNotify(last, 486);
		assert.match(header(last, 'subscription-state') || '', /^terminated/i, last.raw);

		const bye = await call.bye();
		assert.equal(bye.status, 200, bye.raw);
		await incoming.nextRequest('BYE', 5000);
		await callDetail(env.daemon, call.callId, null, { hangup: 'caller', status: 200 });
	});
