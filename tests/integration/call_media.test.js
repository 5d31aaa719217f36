'use strict';
// Media through the gateway with plain RTP: every leg has its own RTP port
// on sipwire, and packets go from one leg's port to the other's unchanged.
// The browser side is a UDP socket that sends RTP from the port its SDP
// offered; the checks are on the packets that come back (payload, payload
// type, sequence numbers), not on "no error".
//  - the echo service sends every packet back;
//  - through a call to the PBX (sipp with -rtp_echo, which returns what it
//    receives on its media port), packets cross both legs twice.

const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { connectClient, rtpSdp, sdpInfo } = require('./lib/sip');

const nextPort = portAllocator(10);
const USERS = { alice: 'alice-secret' };

function rtpPacket(seq, payload, pt = 0) {
	const p = Buffer.alloc(12 + payload.length);
	p[0] = 0x80;
	p[1] = pt;
	p.writeUInt16BE(seq, 2);
	p.writeUInt32BE(seq * 160, 4);
	p.writeUInt32BE(0x5157e1, 8);
	payload.copy(p, 12);
	return p;
}

async function openRtp(port) {
	const sock = dgram.createSocket('udp4');
	const got = [];
	sock.on('message', (msg) => got.push(msg));
	await new Promise((resolve) => sock.bind(port, '127.0.0.1', resolve));
	return { sock, got, close: () => new Promise((r) => sock.close(r)) };
}

// Sends n packets to the gateway's port, 20 ms apart, and waits until n came
// back (or timeoutMs). Returns the packets received.
async function exchange(rtp, toPort, n, timeoutMs = 3000) {
	const sent = [];
	for (let i = 1; i <= n; i++) {
		const payload = Buffer.from(`sipwire media check ${i} `.padEnd(160, '.'));
		const pkt = rtpPacket(i, payload);
		sent.push(pkt);
		rtp.sock.send(pkt, toPort, '127.0.0.1');
		await new Promise((r) => setTimeout(r, 20));
	}
	const deadline = Date.now() + timeoutMs;
	while (rtp.got.length < n && Date.now() < deadline)
		await new Promise((r) => setTimeout(r, 20));
	return sent;
}

function assertSameMedia(sent, got) {
	assert.equal(got.length, sent.length, `${got.length} of ${sent.length} packets came back`);
	for (let i = 0; i < sent.length; i++) {
		const want = sent[i], have = got[i];
		assert.equal(have[1] & 0x7f, want[1] & 0x7f, 'payload type kept');
		assert.equal(have.readUInt16BE(2), want.readUInt16BE(2), 'sequence number kept');
		assert.ok(have.subarray(12).equals(want.subarray(12)), `payload ${i + 1} unchanged`);
	}
}

test('the echo service sends the caller\'s RTP back unchanged', async (t) => {
	const wsPort = nextPort();
	const rtpPort = nextPort(2);
	const daemon = await startDaemon({ ports: { ws: wsPort }, users: USERS });
	const rtp = await openRtp(rtpPort);
	const client = await connectClient(wsPort);
	t.after(async () => {
		await client.close();
		await rtp.close();
		await daemon.stop();
	});
	assert.equal((await client.register({ user: 'alice', password: USERS.alice })).final.status, 200);
	const call = client.invite(`sip:echo@${client.domain}`, { sdp: rtpSdp({ port: rtpPort }) });
	const answer = await call.final();
	assert.equal(answer.status, 200, answer.raw);
	const sdp = sdpInfo(answer.body);
	assert.equal(sdp.address, '127.0.0.1');
	assert.notEqual(sdp.port, rtpPort, 'the gateway answers with a port of its own');
	assert.deepEqual(sdp.payloads.filter((pt) => pt === 0 || pt === 8), [0, 8]);

	const sent = await exchange(rtp, sdp.port, 10);
	assertSameMedia(sent, rtp.got);

	assert.equal((await call.bye()).status, 200);
	await daemon.waitForLog(/\[cdr\] \{"call":"c1",.*"target":"echo".*"hangup":"caller"/);
});

function runSipp(args, timeoutMs = 20000) {
	const proc = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'] });
	let log = '';
	proc.stdout.on('data', (d) => { log += d; });
	proc.stderr.on('data', (d) => { log += d; });
	const done = new Promise((resolve) => {
		const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
		proc.on('exit', (code) => {
			clearTimeout(timer);
			resolve({ code, log });
		});
	});
	return { proc, done };
}

for (const transport of ['udp', 'tcp']) {
	test(`RTP crosses both legs of a call to the PBX (${transport.toUpperCase()})`, async (t) => {
		const wsPort = nextPort(), sipPort = nextPort(), pbxPort = nextPort();
		const pbxMedia = nextPort(4), rtpPort = nextPort(2);
		const sipp = runSipp(['-sf', path.join(__dirname, 'sipp', 'uas_answer.xml'),
			'-i', '127.0.0.1', '-p', String(pbxPort), '-t', transport === 'udp' ? 'u1' : 't1',
			'-m', '1', '-timeout', '15', '-timeout_error', '-nostdin',
			'-rtp_echo', '-mp', String(pbxMedia)]);
		const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS,
			extraArgs: ['--trunk', `pbx=sip:127.0.0.1:${pbxPort};transport=${transport}`] });
		const rtp = await openRtp(rtpPort);
		const client = await connectClient(wsPort);
		t.after(async () => {
			sipp.proc.kill('SIGKILL');
			await client.close();
			await rtp.close();
			await daemon.stop();
		});
		assert.equal((await client.register({ user: 'alice', password: USERS.alice })).final.status,
			200);
		const call = client.invite(`sip:100@${client.domain}`, { sdp: rtpSdp({ port: rtpPort }) });
		const answer = await call.final(8000);
		assert.equal(answer.status, 200, answer.raw);
		const sdp = sdpInfo(answer.body);
		assert.notEqual(sdp.port, pbxMedia, 'the caller sees the gateway\'s port, not the PBX\'s');
		assert.notEqual(sdp.port, rtpPort);
		// The PBX answered PCMU only: the caller's answer carries that codec.
		assert.deepEqual(sdp.payloads.filter((pt) => pt !== 101), [0], answer.body);

		const sent = await exchange(rtp, sdp.port, 10);
		assertSameMedia(sent, rtp.got);

		assert.equal((await call.bye()).status, 200);
		const r = await sipp.done;
		assert.equal(r.code, 0, `sipp failed (${r.code}):\n${r.log}`);
		await daemon.waitForLog(/\[cdr\] \{"call":"c1",.*"target":"trunk".*"end_reason":"bye"/);
	});
}
