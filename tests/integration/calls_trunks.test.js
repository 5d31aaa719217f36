'use strict';
// Trunks seen from the outside, over UDP and TCP:
//  - failover: the first trunk answers 503, or never answers (T1 = 50 ms:
//    Timer B is 3.2 s), and the call goes to the second trunk, which answers;
//    the call detail line names the leg that won;
//  - the call detail line, every field, for an answered and a rejected call;
//  - registration: a trunk with credentials and register: true (from a JSON
//    configuration file, for its short expires) registers when the gateway
//    starts (401, the digest answer, 200) and removes its binding
//    (Expires: 0) when the gateway stops.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { startSipp } = require('./lib/sipp');
const { header, headerValues, contacts, cseqOf, tagOf, uriOf, parseChallenge, md5,
	rtpSdp } = require('./lib/sip');
const { USERS, BROWSER_RTP_PORT, registeredClient, waitFor, assertGatewayInvite,
	callDetail } = require('./lib/calls');

const nextPort = portAllocator(13);
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// A daemon with the trunks given (name -> sipp scenario, in order), a sipp
// for each, and a registered alice; all stopped after the test.
async function setup(t, transport, scenarios, set = {}) {
	const wsPort = nextPort(), sipPort = nextPort();
	const pbxes = Object.entries(scenarios).map(([name, scenario]) =>
		({ name, scenario, port: nextPort(), media: nextPort(3) }));
	const trunks = {};
	for (const p of pbxes) trunks[p.name] = `sip:127.0.0.1:${p.port};transport=${transport}`;
	const sipps = [];
	const clients = [];
	let daemon = null;
	t.after(async () => {
		for (const c of clients) c.ws.terminate();
		for (const s of sipps) {
			await s.stop();
			s.cleanup();
		}
		if (daemon) await daemon.stop();
	});
	for (const p of pbxes) {
		p.sipp = await startSipp({ scenario: p.scenario, port: p.port, mediaPort: p.media,
			transport });
		sipps.push(p.sipp);
	}
	daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS, trunks, set });
	const alice = await registeredClient(wsPort, 'alice');
	clients.push(alice);
	return { daemon, alice, pbxes };
}

async function pbxPassed(sipp, timeoutMs = 10000) {
	const r = await sipp.result(timeoutMs);
	assert.equal(r.code, 0, r.report);
}

// The timestamps of a detail line: each ISO 8601 UTC with milliseconds, and
// start <= answer <= end.
function assertTimes(cdr, { answered }) {
	assert.match(cdr.start, ISO_MS, JSON.stringify(cdr));
	assert.match(cdr.end, ISO_MS, JSON.stringify(cdr));
	const start = Date.parse(cdr.start), end = Date.parse(cdr.end);
	assert.ok(start <= end, `start before end: ${JSON.stringify(cdr)}`);
	assert.ok(Math.abs(Date.now() - start) < 60000, `a time of this run: ${cdr.start}`);
	if (answered) {
		assert.match(cdr.answer, ISO_MS, JSON.stringify(cdr));
		const answer = Date.parse(cdr.answer);
		assert.ok(start <= answer && answer <= end, `start <= answer <= end: ${JSON.stringify(cdr)}`);
	} else {
		assert.equal(cdr.answer, null, `no answer time: ${JSON.stringify(cdr)}`);
	}
}

for (const transport of ['udp', 'tcp']) {
	const T = transport.toUpperCase();

	test(`failover over ${T}: the first trunk answers 503, the second answers the call`,
		async (t) => {
			const { daemon, alice, pbxes } = await setup(t, transport,
				{ down: 'uas_unavailable.xml', up: 'uas_answer.xml' });
			const [down, up] = pbxes;
			const call = alice.invite(`sip:5551234@${alice.domain}`,
				{ sdp: rtpSdp({ port: BROWSER_RTP_PORT }) });
			const final = await call.final(10000);
			assert.equal(final.status, 200, final.raw);
			assert.ok(!call.log.some((e) => e.msg.status === 503), 'the 503 stays on the trunk side');

			await pbxPassed(down.sipp); // 503 and its ACK
			const first = down.sipp.received('INVITE')[0];
			assertGatewayInvite(first, call, { transport, number: '5551234' });
			const ack = down.sipp.received('ACK')[0];
			assert.equal(header(ack, 'call-id'), header(first, 'call-id'), 'the 503 was ACKed');
			const second = up.sipp.received('INVITE')[0];
			assertGatewayInvite(second, call, { transport, number: '5551234' });
			assert.notEqual(header(second, 'call-id'), header(first, 'call-id'),
				'the second trunk gets a call of its own');

			assert.equal((await call.bye()).status, 200);
			await pbxPassed(up.sipp);
			const cdr = await callDetail(daemon, call.callId, header(second, 'call-id'),
				{ end_reason: /^bye$/, hangup: 'caller', status: 200, answered: true });
			assert.equal(cdr.route, 'default: first trunk', JSON.stringify(cdr));
			assert.equal(cdr.target, 'trunk', JSON.stringify(cdr));
			assert.match(daemon.stderr, /callee leg failed: 503/);
			assert.match(daemon.stderr, new RegExp(`to trunk up \\(127\\.0\\.0\\.1:${up.port}\\)`));
		});

	test(`failover over ${T}: the first trunk never answers, after Timer B the second answers`,
		async (t) => {
			const { daemon, alice, pbxes } = await setup(t, transport,
				{ silent: 'uas_never.xml', up: 'uas_answer.xml' },
				{ 'sip.timers.t1': 50, 'sip.timers.t2': 400 });
			const [silent, up] = pbxes;
			const started = Date.now();
			const call = alice.invite(`sip:5550000@${alice.domain}`,
				{ sdp: rtpSdp({ port: BROWSER_RTP_PORT }) });
			const final = await call.final(12000);
			const took = Date.now() - started;
			assert.equal(final.status, 200, final.raw);
			assert.ok(took >= 3000 && took < 9000, `answered after ${took} ms; Timer B is 3.2 s`);

			const first = silent.sipp.received('INVITE');
			assert.ok(first.length >= 1, 'the silent trunk got the INVITE');
			if (transport === 'udp')
				assert.ok(first.length >= 3, `Timer A retransmitted it: ${first.length}`);
			else
				assert.equal(first.length, 1, 'no retransmission over TCP');
			assert.equal(silent.sipp.received('CANCEL').length, 0,
				'no CANCEL for an INVITE that got no provisional (RFC 3261 9.1)');
			const second = up.sipp.received('INVITE')[0];
			assertGatewayInvite(second, call, { transport, number: '5550000' });

			assert.equal((await call.bye()).status, 200);
			await pbxPassed(up.sipp);
			await pbxPassed(silent.sipp);
			const cdr = await callDetail(daemon, call.callId, header(second, 'call-id'),
				{ hangup: 'caller', status: 200, answered: true });
			assert.equal(cdr.target, 'trunk');
			assert.match(daemon.stderr, /callee leg failed: 408/);
		});

	test(`the call detail line over ${T}: every field of an answered call and a rejected one`,
		async (t) => {
			const { daemon, alice, pbxes } = await setup(t, transport,
				{ pbx: 'uas_answer.xml' });
			const [pbx] = pbxes;
			// answered, then hung up by the browser
			const ruri = `sip:4440001@${alice.domain}`;
			const call = alice.invite(ruri, { sdp: rtpSdp({ port: BROWSER_RTP_PORT }) });
			const final = await call.final(10000);
			assert.equal(final.status, 200, final.raw);
			await new Promise((r) => setTimeout(r, 50));
			assert.equal((await call.bye()).status, 200);
			await pbxPassed(pbx.sipp);
			const bCallId = header(pbx.sipp.received('INVITE')[0], 'call-id');
			const cdr = await callDetail(daemon, call.callId, bCallId);
			for (const key of ['call', 'a_call_id', 'b_call_id', 'from', 'to', 'route', 'target',
				'start', 'answer', 'end', 'end_reason', 'hangup', 'status'])
				assert.ok(key in cdr, `${key} in the call detail line: ${JSON.stringify(cdr)}`);
			assert.match(cdr.call, /^c[0-9a-f]+$/, JSON.stringify(cdr));
			assert.equal(cdr.a_call_id, call.callId);
			assert.equal(cdr.b_call_id, bCallId);
			assert.equal(cdr.from, alice.aor(), 'the caller\'s From URI');
			assert.equal(cdr.to, ruri, 'the Request-URI the browser dialled');
			assert.equal(cdr.route, 'default: first trunk');
			assert.equal(cdr.target, 'trunk');
			assertTimes(cdr, { answered: true });
			assert.ok(Date.parse(cdr.end) - Date.parse(cdr.answer) >= 40,
				`the call lasted ~50 ms: ${JSON.stringify(cdr)}`);
			assert.equal(cdr.end_reason, 'bye');
			assert.equal(cdr.hangup, 'caller');
			assert.equal(cdr.status, 200);
		});
}

for (const transport of ['udp', 'tcp']) {
	test(`the call detail line of a rejected call over ${transport.toUpperCase()}`, async (t) => {
		const { daemon, alice, pbxes } = await setup(t, transport, { busy: 'uas_busy.xml' });
		const [busy] = pbxes;
		const ruri = `sip:4440002@${alice.domain}`;
		const call = alice.invite(ruri, { sdp: rtpSdp({ port: BROWSER_RTP_PORT }) });
		const final = await call.final(10000);
		assert.equal(final.status, 486, final.raw);
		await pbxPassed(busy.sipp);
		const bCallId = header(busy.sipp.received('INVITE')[0], 'call-id');
		const cdr = await callDetail(daemon, call.callId, bCallId);
		assert.equal(cdr.a_call_id, call.callId);
		assert.equal(cdr.from, alice.aor());
		assert.equal(cdr.to, ruri);
		assert.equal(cdr.route, 'default: first trunk');
		assert.equal(cdr.target, 'trunk');
		assertTimes(cdr, { answered: false });
		assert.equal(cdr.end_reason, 'rejected', JSON.stringify(cdr));
		assert.equal(cdr.hangup, 'callee', JSON.stringify(cdr));
		assert.equal(cdr.status, 486, JSON.stringify(cdr));
	});
}

for (const transport of ['udp', 'tcp']) {
	test(`trunk registration over ${transport.toUpperCase()}: registers at start (401, digest, ` +
		'200), unregisters at stop', async (t) => {
		const sipPort = nextPort(), regPort = nextPort();
		const registrar = await startSipp({ scenario: 'trunk_registrar.xml', port: regPort,
			mediaPort: nextPort(3), transport });
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwire-trunkreg-'));
		const configFile = path.join(dir, 'sipwire.json');
		fs.writeFileSync(configFile, JSON.stringify({ trunks: [{ name: 'carrier',
			uri: `sip:127.0.0.1:${regPort};transport=${transport}`, username: 'gwuser',
			password: 'gwsecret', register: true, expires: 60 }] }));
		let daemon = null;
		t.after(async () => {
			if (daemon && !daemon.exit) await daemon.kill();
			await registrar.stop();
			registrar.cleanup();
			fs.rmSync(dir, { recursive: true, force: true });
		});
		daemon = await startDaemon({ ports: { sip: sipPort }, extraArgs: ['--config', configFile] });
		await daemon.waitForLog(/\[trunk\] carrier: registered/, 8000);

		// sipp writes its trace as it goes: wait for the 200 it sent to be there
		const regs = await waitFor(() => registrar.sent(200).length === 1 &&
			registrar.received('REGISTER'), 3000, 'the registrar\'s trace of the 200');
		assert.equal(regs.length, 2, registrar.summary());
		const [first, second] = regs;
		assert.equal(first.uri, `sip:127.0.0.1:${regPort}` +
			(transport === 'tcp' ? ';transport=tcp' : ''), 'the registrar is the trunk\'s URI');
		assert.equal(uriOf(header(first, 'to')), 'sip:gwuser@127.0.0.1', first.raw);
		assert.equal(uriOf(header(first, 'from')), 'sip:gwuser@127.0.0.1', first.raw);
		const contact = contacts(first);
		assert.equal(contact.length, 1, first.raw);
		assert.match(uriOf(contact[0]), new RegExp(`^sip:gwuser@127\\.0\\.0\\.1:${sipPort}\\b`),
			`the gateway's address with the account's user:\n${first.raw}`);
		const asked = header(first, 'expires') || (/;expires=(\d+)/.exec(contact[0]) || [])[1];
		assert.equal(Number(asked), 60, `expires from the configuration file:\n${first.raw}`);
		assert.match(headerValues(first, 'via')[0], new RegExp(`^SIP/2\\.0/${transport.toUpperCase()} `));
		assert.equal(header(first, 'authorization'), undefined, 'the first REGISTER is not signed');

		assert.equal(header(second, 'call-id'), header(first, 'call-id'), 'one Call-ID');
		assert.equal(tagOf(header(second, 'from')), tagOf(header(first, 'from')), 'one From tag');
		assert.equal(cseqOf(second).number, cseqOf(first).number + 1, 'CSeq one higher');
		const auth = parseChallenge(header(second, 'authorization') || '');
		assert.ok(auth, `the second REGISTER answers the challenge:\n${second.raw}`);
		assert.equal(auth.username, 'gwuser');
		assert.equal(auth.realm, 'carrier.test');
		assert.equal(auth.nonce, 'regnonce1');
		assert.equal(auth.qop, 'auth');
		const ha1 = md5('gwuser:carrier.test:gwsecret');
		const ha2 = md5(`REGISTER:${auth.uri}`);
		assert.equal(auth.response, md5(`${ha1}:${auth.nonce}:${auth.nc}:${auth.cnonce}:auth:${ha2}`),
			'a correct digest');

		await daemon.stop();
		const bye = await waitFor(() => registrar.received('REGISTER')[2], 5000,
			'the unregistering REGISTER');
		assert.equal(header(bye, 'call-id'), header(first, 'call-id'), bye.raw);
		assert.ok(cseqOf(bye).number > cseqOf(second).number, bye.raw);
		const removes = header(bye, 'expires') === '0' ||
			contacts(bye).some((c) => /;expires=0\b/.test(c));
		assert.ok(removes, `Expires: 0 removes the binding:\n${bye.raw}`);
		const removed = contacts(bye);
		assert.equal(removed.length, 1, bye.raw);
		assert.equal(uriOf(removed[0]), uriOf(contact[0]), 'the binding it registered');
		const r = await registrar.result(5000);
		assert.equal(r.code, 0, r.report);
	});
}
