'use strict';
// Calls from a browser (our WebSocket SIP client, registered with digest)
// through sipwire to a PBX played by sipp, over UDP and over TCP: the PBX
// answers (180, 183 with SDP, 200), is busy, rings and is cancelled, hangs
// up, holds and is held, sends and receives DTMF INFO, takes a blind
// transfer, challenges with 407, forks. Each behaviour is one sipp scenario
// in sipp/ behind a trunk of its own, reached by a --route prefix, so one
// daemon per transport serves them all. Both legs are checked: the browser's
// messages here, the PBX's from sipp's message trace.

const dgram = require('node:dgram');
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { startSipp } = require('./lib/sipp');
const { header, headerValues, tagOf, cseqOf, branchOf, sdpInfo, rtpSdp, parseChallenge, md5 } =
	require('./lib/sip');
const { USERS, BROWSER_RTP_PORT, registeredClient, waitFor, assertGatewayInvite,
	assertGatewaySdp, assertOwnTags, callDetail, assertTryingFirst } = require('./lib/calls');

const nextPort = portAllocator(8);

// trunk name -> [number prefix, scenario]
const PBXES = {
	answer: ['801', 'uas_answer.xml'],
	busy: ['802', 'uas_busy.xml'],
	noanswer: ['803', 'uas_noanswer.xml'],
	hangup: ['804', 'uas_bye.xml'],
	hold: ['805', 'uas_hold.xml'],
	held: ['806', 'uas_held.xml'],
	dtmf: ['807', 'uas_info.xml'],
	dtmf4733: ['811', 'uas_answer.xml'],
	transfer: ['808', 'uas_refer.xml'],
	auth: ['809', 'uas_auth.xml'],
	fork: ['810', 'uas_fork.xml'],
};
const TRUNK_USER = 'pbxuser', TRUNK_PASSWORD = 'pbxsecret';

for (const transport of ['udp', 'tcp']) {
	describe(`browser → PBX over ${transport.toUpperCase()}`, () => {
		const wsPort = nextPort(), sipPort = nextPort();
		const pbx = {};
		for (const [name, [number, scenario]] of Object.entries(PBXES))
			pbx[name] = { number, scenario, port: nextPort(), media: nextPort(3) };
		let daemon;

		before(async () => {
			const trunks = {}, routes = [];
			for (const [name, p] of Object.entries(pbx)) {
				trunks[name] = `sip:127.0.0.1:${p.port};transport=${transport}`;
				routes.push(`${p.number}=${name}`);
			}
			daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS,
				trunks, trunkAuth: { auth: `${TRUNK_USER}:${TRUNK_PASSWORD}` }, routes });
		});
		after(() => daemon.stop());

		// sipp for one scenario and a registered browser; both stopped after.
		async function setup(t, name, sippArgs = []) {
			const p = pbx[name];
			const sipp = await startSipp({ scenario: p.scenario, port: p.port, mediaPort: p.media,
				transport, args: sippArgs });
			const client = await registeredClient(wsPort);
			t.after(async () => {
				client.ws.terminate();
				await sipp.stop();
				sipp.cleanup();
			});
			const dial = (options) => client.invite(`sip:${p.number}@127.0.0.1`,
				{ sdp: rtpSdp({ port: BROWSER_RTP_PORT }), ...options });
			return { sipp, client, dial, p };
		}

		async function pbxPassed(sipp) {
			const r = await sipp.result();
			assert.equal(r.code, 0, r.report);
		}

		function pbxInvite(sipp) {
			return sipp.received('INVITE')[0];
		}

		it('the PBX rings, sends early media, answers; the browser hangs up', async (t) => {
			const { sipp, dial, p } = await setup(t, 'answer');
			const call = dial();
			const final = await call.final(10000);
			assert.equal(final.status, 200, final.raw);
			assertTryingFirst(call);
			const statuses = call.provisionals.map((r) => r.status);
			assert.ok(statuses.includes(180), `180 relayed: ${statuses}`);
			const early = call.provisionals.find((r) => r.status === 183);
			assert.ok(early, `183 relayed: ${statuses}`);
			assertGatewaySdp(early.body, p.media, '183');
			assertGatewaySdp(final.body, p.media, '200');
			assert.equal(final.body, early.body,
				'the same SDP in the 183 and the 200 (SIP.js applies the first, JsSIP reads the 200)');
			assertOwnTags([...call.provisionals, final]);
			assertGatewayInvite(pbxInvite(sipp), call, { transport, number: p.number });

			const bye = await call.bye();
			assert.equal(bye.status, 200, bye.raw);
			await pbxPassed(sipp);
			const pbxCallId = header(pbxInvite(sipp), 'call-id');
			const pbxBye = sipp.received('BYE')[0];
			assert.equal(header(pbxBye, 'call-id'), pbxCallId, 'the BYE on the PBX leg');
			const inviteCseq = cseqOf(pbxInvite(sipp)).number;
			const pbxAck = sipp.received('ACK')[0];
			assert.deepEqual(cseqOf(pbxAck), { number: inviteCseq, method: 'ACK' },
				'the ACK of the 2xx has the INVITE\'s CSeq number (RFC 3261 §13.2.2.4)');
			assert.notEqual(branchOf(pbxAck), branchOf(pbxInvite(sipp)), 'and a branch of its own');
			assert.ok(cseqOf(pbxBye).number > inviteCseq, 'the BYE\'s CSeq is above the INVITE\'s');
			assert.match(pbxBye.uri, /^sip:pbx@127\.0\.0\.1:/, 'the BYE goes to the PBX\'s Contact');
			assert.equal(tagOf(header(pbxBye, 'to')), tagOf(header(sipp.sent(200)[0], 'to')),
				'to the PBX\'s dialog');
			await callDetail(daemon, call.callId, pbxCallId,
				{ end_reason: /^bye$/, hangup: 'caller', status: 200, answered: true });
		});

		it('the PBX is busy: 486 with the browser leg\'s own To tag', async (t) => {
			const { sipp, dial } = await setup(t, 'busy');
			const call = dial();
			const final = await call.final(10000);
			assert.equal(final.status, 486, final.raw);
			assertTryingFirst(call);
			assertOwnTags([final]);
			await pbxPassed(sipp); // the gateway ACKed the 486
			const pbxCallId = header(pbxInvite(sipp), 'call-id');
			const ack = sipp.received('ACK')[0];
			assert.equal(branchOf(ack), branchOf(pbxInvite(sipp)),
				'the ACK of a non-2xx is in the INVITE transaction (RFC 3261 §17.1.1.3)');
			await callDetail(daemon, call.callId, pbxCallId,
				{ hangup: 'callee', status: 486, answered: false });
		});

		it('the PBX rings, the browser cancels: 487 on both legs', async (t) => {
			const { sipp, dial } = await setup(t, 'noanswer');
			const call = dial();
			await waitFor(() => sipp.sent(180).length, 5000, 'the PBX ringing');
			await call.nextResponse((r) => r.status === 180, 2000);
			const cancelled = await call.cancel();
			assert.equal(cancelled.status, 200, cancelled.raw);
			const final = await call.final(5000);
			assert.equal(final.status, 487, final.raw);
			assertOwnTags([final]);
			await pbxPassed(sipp);
			const invite = pbxInvite(sipp);
			const cancel = sipp.received('CANCEL')[0];
			assert.equal(branchOf(cancel), branchOf(invite), 'CANCEL matches the INVITE\'s branch');
			assert.equal(cseqOf(cancel).number, cseqOf(invite).number, 'and its CSeq number');
			assert.equal(tagOf(header(cancel, 'to')), undefined, 'a CANCEL\'s To has no tag');
			await callDetail(daemon, call.callId, header(invite, 'call-id'),
				{ end_reason: /cancel/, hangup: 'caller', status: 487, answered: false });
		});

		it('the PBX hangs up: its BYE reaches the browser', async (t) => {
			const { sipp, dial } = await setup(t, 'hangup');
			const call = dial();
			const final = await call.final(10000);
			assert.equal(final.status, 200, final.raw);
			const bye = await call.nextRequest('BYE', 5000);
			assert.equal(header(bye, 'call-id'), call.callId);
			assert.equal(tagOf(header(bye, 'from')), call.remoteTag, 'from the gateway\'s side of the dialog');
			assert.equal(tagOf(header(bye, 'to')), call.localTag, 'to the browser\'s');
			assert.ok(bye.uri.startsWith(call.client.contactUri()),
				`to the browser's Contact (its remote target): ${bye.uri}`);
			await pbxPassed(sipp); // the 200 to its BYE came back
			await callDetail(daemon, call.callId, header(pbxInvite(sipp), 'call-id'),
				{ end_reason: /^bye$/, hangup: 'callee', status: 200, answered: true });
		});

		it('the PBX puts the call on hold: a hold re-INVITE reaches the browser', async (t) => {
			const { sipp, dial, p } = await setup(t, 'hold');
			const call = dial();
			const final = await call.final(10000);
			assert.equal(final.status, 200, final.raw);
			const reinvite = await call.nextRequest('INVITE', 5000);
			const offer = sdpInfo(reinvite.body);
			assert.ok(offer, `the re-INVITE carries an offer:\n${reinvite.raw}`);
			assert.equal(offer.direction, 'sendonly', `a hold offer:\n${reinvite.body}`);
			assertGatewaySdp(reinvite.body, p.media, 're-INVITE');
			const first = sdpInfo(final.body);
			assert.equal(offer.sessionId, first.sessionId, 'the same SDP session (RFC 3264 §8)');
			assert.ok(offer.version > first.version,
				`a new offer has a higher o= version (RFC 3264 §8):\n${final.body}\n${reinvite.body}`);
			assert.ok(cseqOf(reinvite).number > 0);
			await call.nextRequest('ACK', 5000); // our recvonly answer got through
			// and the hold is over on the PBX leg too (its ACK sent): a BYE
			// before that would cross the re-INVITE's 200 at sipp
			await waitFor(() => sipp.sent('ACK').length, 5000, 'the PBX\'s ACK of the re-INVITE');
			const bye = await call.bye();
			assert.equal(bye.status, 200, bye.raw);
			await pbxPassed(sipp); // sipp checked a=recvonly in the 200 it got
		});

		it('the browser puts the call on hold: a hold re-INVITE reaches the PBX', async (t) => {
			const { sipp, dial, p } = await setup(t, 'held');
			const call = dial();
			const final = await call.final(10000);
			assert.equal(final.status, 200, final.raw);
			const res = await call.reinvite(rtpSdp({ port: BROWSER_RTP_PORT, direction: 'sendonly',
				version: 2 }));
			assert.equal(res.status, 200, res.raw);
			const answer = sdpInfo(res.body);
			assert.ok(answer, `an answer to the hold offer:\n${res.raw}`);
			assert.equal(answer.direction, 'recvonly', res.body);
			assertGatewaySdp(res.body, p.media, 're-INVITE answer');
			await waitFor(() => sipp.received('ACK').length >= 2, 5000, 'the ACK of the re-INVITE at the PBX');
			const pbxReinvite = sipp.received('INVITE')[1];
			const initial = pbxInvite(sipp);
			assert.equal(header(pbxReinvite, 'call-id'), header(initial, 'call-id'), 'in the PBX dialog');
			assert.equal(tagOf(header(pbxReinvite, 'from')), tagOf(header(initial, 'from')));
			assert.equal(tagOf(header(pbxReinvite, 'to')), tagOf(header(sipp.sent(200)[0], 'to')));
			assert.match(pbxReinvite.uri, /^sip:pbx@127\.0\.0\.1:/, 'to the PBX\'s Contact');
			const was = sdpInfo(initial.body), now = sdpInfo(pbxReinvite.body);
			assert.equal(now.sessionId, was.sessionId, 'the same SDP session (RFC 3264 §8)');
			assert.ok(now.version > was.version, `a higher o= version:\n${initial.body}\n${pbxReinvite.body}`);
			assert.equal(sdpInfo(pbxReinvite.body).direction, 'sendonly', pbxReinvite.body);
			assert.notEqual(sdpInfo(pbxReinvite.body).port, BROWSER_RTP_PORT, pbxReinvite.body);
			assert.ok(cseqOf(pbxReinvite).number > cseqOf(pbxInvite(sipp)).number,
				'the PBX leg\'s CSeq goes up');
			const bye = await call.bye();
			assert.equal(bye.status, 200, bye.raw);
			await pbxPassed(sipp);
		});

		it('DTMF as INFO application/dtmf-relay both ways', async (t) => {
			const { sipp, dial } = await setup(t, 'dtmf');
			const call = dial();
			const final = await call.final(10000);
			assert.equal(final.status, 200, final.raw);
			const res = await call.info('Signal=5\r\nDuration=160\r\n');
			assert.equal(res.status, 200, res.raw);
			const info = await call.nextRequest('INFO', 5000);
			assert.match(header(info, 'content-type'), /^application\/dtmf-relay/i, info.raw);
			assert.match(info.body, /Signal=7/, info.raw);
			const bye = await call.bye();
			assert.equal(bye.status, 200, bye.raw);
			await pbxPassed(sipp); // sipp checked Signal=5 in the INFO it got
			assert.match(sipp.received('INFO')[0].body, /Duration=160/);
		});

		it('DTMF as INFO reaches a PBX that takes telephone-event as RFC 4733 packets', async (t) => {
			// sipp echoes the RTP it gets, so what the PBX received comes back
			// to the browser's RTP socket through the gateway.
			const { sipp, dial } = await setup(t, 'dtmf4733', ['-rtp_echo']);
			const rtpPort = nextPort();
			const sock = dgram.createSocket('udp4');
			const got = [];
			sock.on('message', (m) => got.push(m));
			await new Promise((resolve) => sock.bind(rtpPort, '127.0.0.1', resolve));
			t.after(() => sock.close());
			const call = dial({ sdp: rtpSdp({ port: rtpPort }) });
			const final = await call.final(10000);
			assert.equal(final.status, 200, final.raw);
			// the browser's own stream first: DTMF joins it (its SSRC, next numbers)
			const gw = sdpInfo(final.body).port;
			const audio = Buffer.alloc(12 + 160, 0xff);
			audio.writeUInt8(0x80, 0);
			audio.writeUInt8(0, 1);
			audio.writeUInt16BE(100, 2);
			audio.writeUInt32BE(8000, 4);
			audio.writeUInt32BE(0x5eed, 8);
			await new Promise((resolve) => sock.send(audio, gw, '127.0.0.1', resolve));
			await waitFor(() => got.length >= 1, 5000, 'the audio packet back through the PBX');
			const res = await call.info('Signal=5\r\nDuration=160\r\n');
			assert.equal(res.status, 200, 'the gateway answers the INFO itself');
			const events = await waitFor(() => {
				const ev = got.filter((m) => (m[1] & 0x7f) === 101);
				return ev.some((m) => m[13] & 0x80) ? ev : null; // an end packet
			}, 5000, 'RFC 4733 packets echoed by the PBX');
			for (const m of events) {
				assert.equal(m[12], 5, 'event 5');
				assert.equal(m.readUInt32BE(8), 0x5eed, 'in the stream the browser sends');
			}
			const end = events.find((m) => m[13] & 0x80);
			assert.equal(end.readUInt16BE(14), 1280, 'duration 160 ms at 8000 Hz');
			assert.equal(sipp.received('INFO').length, 0, 'no INFO reached the PBX');
			const bye = await call.bye();
			assert.equal(bye.status, 200, bye.raw);
			await pbxPassed(sipp);
		});

		it('blind transfer: the REFER reaches the PBX, its NOTIFYs come back', async (t) => {
			const { sipp, dial } = await setup(t, 'transfer');
			const call = dial();
			const final = await call.final(10000);
			assert.equal(final.status, 200, final.raw);
			const res = await call.refer('sip:transfer-target@127.0.0.1');
			assert.equal(res.status, 202, res.raw);
			const trying = await call.nextRequest('NOTIFY', 5000);
			assert.match(header(trying, 'event'), /^refer/i, trying.raw);
			assert.match(header(trying, 'content-type'), /^message\/sipfrag/i, trying.raw);
			assert.match(trying.body, /^SIP\/2\.0 100/, trying.raw);
			const done = await call.nextRequest('NOTIFY', 5000);
			assert.match(done.body, /^SIP\/2\.0 200/, done.raw);
			assert.match(header(done, 'subscription-state'), /^terminated/i, done.raw);
			const bye = await call.bye();
			assert.equal(bye.status, 200, bye.raw);
			await pbxPassed(sipp);
			assert.match(header(sipp.received('REFER')[0], 'refer-to'), /transfer-target@/);
		});

		it('the PBX challenges with 407: the gateway answers with the trunk credentials', async (t) => {
			const { sipp, dial } = await setup(t, 'auth');
			const call = dial();
			const final = await call.final(10000);
			assert.equal(final.status, 200, final.raw);
			assert.ok(!call.log.some((e) => e.msg.status === 407 || e.msg.status === 401),
				'the challenge stays on the trunk leg');
			const bye = await call.bye();
			assert.equal(bye.status, 200, bye.raw);
			await pbxPassed(sipp);
			const [first, second] = sipp.received('INVITE');
			assert.ok(second, 'the INVITE came again');
			assert.equal(header(second, 'call-id'), header(first, 'call-id'), 'same Call-ID (RFC 3261 §22.2)');
			assert.equal(tagOf(header(second, 'from')), tagOf(header(first, 'from')), 'same From tag');
			assert.equal(cseqOf(second).number, cseqOf(first).number + 1, 'CSeq + 1');
			const authorization = header(second, 'proxy-authorization');
			assert.ok(authorization, `Proxy-Authorization:\n${second.raw}`);
			const a = parseChallenge(authorization);
			assert.equal(a.username, TRUNK_USER);
			assert.equal(a.realm, 'pbx.test');
			assert.equal(a.nonce, 'pbx407nonce1');
			const ha1 = md5(`${TRUNK_USER}:${a.realm}:${TRUNK_PASSWORD}`);
			const ha2 = md5(`INVITE:${a.uri}`);
			const expected = a.qop ?
				md5(`${ha1}:${a.nonce}:${a.nc}:${a.cnonce}:${a.qop}:${ha2}`) :
				md5(`${ha1}:${a.nonce}:${ha2}`);
			assert.equal(a.response, expected, `a digest answer with the trunk's password:\n${authorization}`);
		});

		it('a forking PBX: two 180s, the branch that answers wins', async (t) => {
			const { sipp, dial, p } = await setup(t, 'fork');
			const call = dial();
			const final = await call.final(10000);
			assert.equal(final.status, 200, final.raw);
			assert.ok(call.provisionals.some((r) => r.status === 180), 'the browser rings');
			assertOwnTags([...call.provisionals, final]);
			assertGatewaySdp(final.body, p.media, '200');
			const bye = await call.bye();
			assert.equal(bye.status, 200, bye.raw);
			await pbxPassed(sipp); // sipp checked the forkB tag on the ACK and the BYE
			assert.equal(headerValues(pbxInvite(sipp), 'via').length, 1);
		});
	});
}
