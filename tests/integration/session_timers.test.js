'use strict';
// Session timers (RFC 4028) as a JsSIP browser uses them, over UDP and TCP
// toward the PBX: the browser's INVITE has Supported: timer and
// Session-Expires: 90;refresher=uac, so the gateway's 200 carries
// Session-Expires with refresher=uac and Require: timer; the browser's
// refresh, an UPDATE without a body, is answered 200 with Session-Expires by
// the gateway alone (the PBX leg sees nothing). The PBX's own refresh (an
// UPDATE without a body) stays on its leg too: the browser gets nothing, and
// the call goes on. (A re-INVITE repeating the PBX's description unchanged is
// still relayed to the browser as a re-INVITE: not tested here.)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { startSipp } = require('./lib/sipp');
const { header, headerValues, rtpSdp } = require('./lib/sip');
const { USERS, BROWSER_RTP_PORT, registeredClient, waitFor, assertGatewayInvite,
	callDetail } =
	require('./lib/calls');

const nextPort = portAllocator(15);
const TIMER_HEADERS = ['Supported: timer', 'Session-Expires: 90;refresher=uac', 'Min-SE: 90'];

async function setup(t, transport, scenario) {
	const wsPort = nextPort(), sipPort = nextPort(), pbxPort = nextPort(), media = nextPort(3);
	const sipp = await startSipp({ scenario, port: pbxPort, mediaPort: media, transport });
	const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS,
		trunks: { pbx: `sip:127.0.0.1:${pbxPort};transport=${transport}` } });
	const alice = await registeredClient(wsPort, 'alice');
	t.after(async () => {
		alice.ws.terminate();
		await sipp.stop();
		sipp.cleanup();
		await daemon.stop();
	});
	return { sipp, daemon, alice };
}

// "90;refresher=uac" -> {interval: 90, refresher: 'uac'}
function sessionExpires(msg) {
	const v = header(msg, 'session-expires') || header(msg, 'x') || '';
	const m = /^(\d+)\s*(?:;\s*refresher=(\w+))?/i.exec(v);
	return m ? { interval: Number(m[1]), refresher: m[2] && m[2].toLowerCase() } : null;
}

function requires(msg, option) {
	return headerValues(msg, 'require').some((v) => v.split(',').map((s) => s.trim())
		.includes(option));
}

for (const transport of ['udp', 'tcp']) {
	const T = transport.toUpperCase();

	test(`the browser asks for a session timer over ${T}: 200 with refresher=uac, its UPDATE ` +
		'refresh answered by the gateway', async (t) => {
		const { sipp, daemon, alice } = await setup(t, transport, 'uas_answer.xml');
		const call = alice.invite(`sip:3000@${alice.domain}`,
			{ sdp: rtpSdp({ port: BROWSER_RTP_PORT }), extra: TIMER_HEADERS });
		const final = await call.final(10000);
		assert.equal(final.status, 200, final.raw);
		const se = sessionExpires(final);
		assert.ok(se, `Session-Expires in the 200:\n${final.raw}`);
		assert.equal(se.interval, 90, final.raw);
		assert.equal(se.refresher, 'uac', `the browser refreshes:\n${final.raw}`);
		assert.ok(requires(final, 'timer'), `Require: timer:\n${final.raw}`);
		assertGatewayInvite(sipp.received('INVITE')[0], call, { transport, number: '3000' });

		const update = await call.request('UPDATE', { extra: [...TIMER_HEADERS,
			`Contact: ${call.contact}`] });
		assert.equal(update.status, 200, update.raw);
		const refreshed = sessionExpires(update);
		assert.ok(refreshed, `Session-Expires in the 200 to the UPDATE:\n${update.raw}`);
		assert.equal(refreshed.interval, 90, update.raw);
		assert.equal(refreshed.refresher, 'uac', update.raw);
		assert.equal(update.body, '', 'no description in answer to an UPDATE without one');

		assert.equal((await call.bye()).status, 200);
		const r = await sipp.result(10000);
		assert.equal(r.code, 0, r.report); // anything but ACK and BYE would fail the scenario
		assert.equal(sipp.received('UPDATE').length, 0, 'the refresh stays on the browser leg');
		await callDetail(daemon, call.callId, header(sipp.received('INVITE')[0], 'call-id'),
			{ hangup: 'caller', status: 200, end_reason: /^bye$/ });
	});

	test(`the PBX refreshes with an UPDATE over ${T}: the browser leg is not disturbed`,
		async (t) => {
		const { sipp, daemon, alice } = await setup(t, transport, 'uas_refresh.xml');
		const call = alice.invite(`sip:3001@${alice.domain}`,
			{ sdp: rtpSdp({ port: BROWSER_RTP_PORT }), extra: TIMER_HEADERS });
		const final = await call.final(10000);
		assert.equal(final.status, 200, final.raw);

		// sipp sends its refresh 200 ms after its ACK
		const [update200] = await waitFor(() => sipp.received(200).length && sipp.received(200),
			5000, 'the PBX\'s refresh answered');
		assert.equal(header(update200, 'cseq'), '1 UPDATE', update200.raw);
		const se = sessionExpires(update200);
		assert.ok(se, `the gateway answered the UPDATE with Session-Expires:\n${update200.raw}`);
		assert.equal(se.interval, 90, update200.raw);
		await new Promise((r) => setTimeout(r, 300));
		for (const method of ['INVITE', 'UPDATE'])
			assert.equal(call.received(method).length, 0,
				`no ${method} toward the browser for the PBX's refresh`);

		assert.equal((await call.bye()).status, 200);
		const r = await sipp.result(10000);
		assert.equal(r.code, 0, r.report);
		await callDetail(daemon, call.callId, null, { hangup: 'caller', status: 200 });
	});
}
