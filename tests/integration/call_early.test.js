'use strict';
// Two things a PBX does right around and after the answer, over UDP and TCP:
//  - it sends a request (DTMF as INFO) as soon as the gateway ACKed its 200,
//    while the gateway's leg toward the browser still waits for the
//    browser's ACK: the gateway holds the request until that ACK, then
//    relays it (not 488/500);
//  - it refreshes the session with a re-INVITE that repeats its SDP
//    unchanged: the gateway answers it on the PBX's leg
//    alone, and the browser sees no re-INVITE.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { startSipp } = require('./lib/sipp');
const { USERS, registeredClient, waitFor } = require('./lib/calls');

const nextPort = portAllocator(16);

async function setup(t, transport, scenario) {
	const wsPort = nextPort(), sipPort = nextPort(), pbxPort = nextPort(), media = nextPort(3);
	const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS,
		trunks: { pbx: `sip:127.0.0.1:${pbxPort};transport=${transport}` } });
	const sipp = await startSipp({ scenario, port: pbxPort, mediaPort: media, transport });
	const alice = await registeredClient(wsPort, 'alice');
	t.after(async () => {
		alice.ws.terminate();
		await sipp.stop();
		sipp.cleanup();
		await daemon.stop();
	});
	return { daemon, sipp, alice };
}

for (const transport of ['udp', 'tcp']) {
	const T = transport.toUpperCase();

	test(`an INFO from the PBX before the browser's ACK waits for it (${T})`, async (t) => {
		const { sipp, alice } = await setup(t, transport, 'uas_info_early.xml');
		const call = alice.invite(`sip:5550100@${alice.domain}`, { autoAck: false });
		const answer = await call.final(8000);
		assert.equal(answer.status, 200, answer.raw);
		// The PBX got the gateway's ACK and sent its INFO; the browser has
		// not ACKed, so nothing reaches it yet.
		await waitFor(() => sipp.sent('INFO').length, 5000, 'the PBX sending its INFO');
		await new Promise((r) => setTimeout(r, 300));
		assert.equal(call.received('INFO').length, 0, 'no INFO before the ACK');
		assert.equal(sipp.received(200).length, 0, `the INFO is not answered yet:\n${sipp.summary()}`);
		call.ack();
		const info = await call.nextRequest('INFO', 5000);
		assert.match(info.body, /Signal=7/);
		await waitFor(() => sipp.received(200).length, 5000, 'the 200 to the INFO at the PBX');
		assert.equal((await call.bye()).status, 200);
		const r = await sipp.result(5000);
		assert.equal(r.code, 0, r.report);
	});

	test(`a PBX re-INVITE repeating its SDP is a refresh the browser does not see (${T})`,
		async (t) => {
			const { daemon, sipp, alice } = await setup(t, transport, 'uas_reinvite_same.xml');
			const call = alice.invite(`sip:5550100@${alice.domain}`);
			const answer = await call.final(8000);
			assert.equal(answer.status, 200, answer.raw);
			await waitFor(() => sipp.received(200).filter((m) => /INVITE/.test(m.raw) &&
				/^CSeq: 2 INVITE/m.test(m.raw)).length, 5000, 'the 200 to the refresh');
			await new Promise((r) => setTimeout(r, 200));
			assert.equal(call.received('INVITE').length, 0, 'no re-INVITE toward the browser');
			assert.equal((await call.bye()).status, 200);
			const r = await sipp.result(5000);
			assert.equal(r.code, 0, r.report);
			await daemon.waitForLog(/\[cdr\] .*"end_reason":"bye"/);
		});
}
