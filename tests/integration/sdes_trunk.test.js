'use strict';
// SDES-SRTP toward a trunk (RFC 4568): a trunk configured with srtp sdes is
// offered RTP/SAVP with a=crypto keys and must answer in kind; a call from
// it offering RTP/SAVP is answered in kind. The PBX is lib/sdes_pbx.js, whose
// SRTP (lib/srtp.js, checked first against RFC 3711's test vectors) shares
// no code with the gateway's libsrtp2; the browser is the WebRTC test peer.
// Every payload the peer sends must come back byte for byte: peer -> DTLS-SRTP
// -> gateway -> SDES-SRTP -> PBX (decrypted there, encrypted again with its own
// key) -> gateway -> DTLS-SRTP -> peer.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { runPeer, startPeer } = require('./lib/peer');
const { startSdesPbx } = require('./lib/sdes_pbx');
const { aesCm, sessionKeys, SrtpContext, packetIv } = require('./lib/srtp');
const { waitFor, callDetail } = require('./lib/calls');

const nextPort = portAllocator(17);
const USERS = { alice: 'alice-secret', bob: 'bob-secret' };
const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('the test PBX\'s SRTP: RFC 3711 Appendix B vectors and a round trip', () => {
	// B.2: the AES-CM keystream
	const ks = aesCm(hex('2B7E151628AED2A6ABF7158809CF4F3C'),
		hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000'), Buffer.alloc(48));
	assert.deepEqual(ks, hex(`E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB
		41E95B3BB0A2E8DD477901E4FCA894C0`));
	// B.3: key derivation
	const k = sessionKeys(hex('E1F97A0D3E018BE0D64FA32C06DE4139'), hex('0EC675AD498AFEEBB6960B3AABE6'));
	assert.deepEqual(k.rtpCipher, hex('C61E7A93744F39EE10734AFE3FF7A087'));
	assert.deepEqual(k.rtpSalt, hex('30CBBC08863D8C85D49DB34A9AE1'));
	assert.deepEqual(k.rtpAuth, hex('CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4'));
	// the IV of §4.1.1 with SSRC and index 0 is the salt shifted
	assert.deepEqual(packetIv(hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD'), 0, 0),
		hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000'));
	// protect/unprotect, a wrap of the sequence numbers, a replay, a bad tag
	for (const suite of ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32']) {
		const key = hex('E1F97A0D3E018BE0D64FA32C06DE4139'), salt = hex('0EC675AD498AFEEBB6960B3AABE6');
		const a = new SrtpContext(suite, key, salt), b = new SrtpContext(suite, key, salt);
		for (let i = 0; i < 5; i++) {
			const pkt = Buffer.alloc(12 + 160, i + 1);
			pkt[0] = 0x80;
			pkt[1] = 0;
			pkt.writeUInt16BE((65533 + i) % 65536, 2);
			pkt.writeUInt32BE(0x1234, 8);
			const p = a.protectRtp(pkt);
			assert.equal(p.length, pkt.length + (suite.endsWith('_80') ? 10 : 4));
			assert.deepEqual(b.unprotectRtp(p), pkt, `${suite} seq ${(65533 + i) % 65536}`);
			assert.equal(b.unprotectRtp(p), null, 'a replay');
		}
		assert.equal(b.streams.get(0x1234).roc, 1, 'the rollover counter followed the wrap');
		const rr = Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 9]);
		const p = a.protectRtcp(rr);
		assert.equal(p.length, 8 + 4 + 10, 'SRTCP: E||index and an 80-bit tag');
		assert.deepEqual(b.unprotectRtcp(p), rr);
		p[9] ^= 1;
		assert.equal(b.unprotectRtcp(p), null);
		assert.equal(b.counters.authFailures, 1);
		assert.equal(b.counters.replays, 5);
	}
});

// The peer's audio came back whole through the PBX.
function assertEchoed(code, report, pbx) {
	const r = JSON.stringify(report);
	assert.ok(report.ice_connected_ms >= 0 && report.dtls_connected_ms >= 0, r);
	assert.equal(report.echo.mismatches, 0, r);
	assert.ok(report.echo.returned >= 0.9 * report.echo.expected, r);
	assert.ok(report.rtcp.received > 0, `the PBX's SRTCP reports reached the peer: ${r}`);
	assert.equal(code, 0, r);
	assert.ok(report.ok, r);
	// what the PBX decrypted is what the peer sent: 160-byte PCMU payloads,
	// each once, nothing refused
	const c = pbx.rx.counters;
	assert.ok(pbx.payloads.length >= 0.9 * report.rtp.audio_sent,
		`${pbx.payloads.length} of ${report.rtp.audio_sent} reached the PBX`);
	assert.ok(pbx.payloads.every((p) => p.length === 160), 'PCMU payloads');
	assert.equal(new Set(pbx.payloads.map((p) => p.toString('hex'))).size, pbx.payloads.length);
	assert.equal(c.authFailures + c.replays + c.malformed, 0, JSON.stringify(c));
	assert.ok(pbx.rtcpIn > 0, 'the gateway\'s SRTCP decrypted at the PBX');
}

for (const suite of ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32']) {
	test(`the peer calls an SDES trunk: RTP/SAVP both ways (${suite})`, async (t) => {
		const wsPort = nextPort(), sipPort = nextPort(), pbxPort = nextPort(), media = nextPort(2);
		const pbx = await startSdesPbx({ sipPort: pbxPort, mediaPort: media, gatewayPort: sipPort,
			suite });
		const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS,
			trunks: { pbx: `sip:127.0.0.1:${pbxPort}` }, routes: ['9=pbx'],
			extraArgs: ['--trunk-srtp', 'pbx=sdes'] });
		t.after(async () => {
			await daemon.stop();
			await pbx.close();
		});
		const { code, report } = await runPeer(['--call', '900', '--ws', `ws://127.0.0.1:${wsPort}`,
			'--user', 'alice', '--password', USERS.alice, '--timeout', '20000']);
		const invite = pbx.received('INVITE')[0];
		assert.match(invite.body, /^m=audio \d+ RTP\/SAVP /m, invite.body);
		const lines = invite.body.match(/^a=crypto:.*$/gm);
		assert.equal(lines.length, 2, invite.body);
		assert.match(lines[0], /^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{40}\s*$/);
		assert.match(lines[1], /^a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:[A-Za-z0-9+/]{40}\s*$/);
		assert.doesNotMatch(invite.body, /a=(fingerprint|ice-ufrag|candidate)/);
		assertEchoed(code, report, pbx);
		await waitFor(() => pbx.received('BYE').length, 5000, 'the BYE at the PBX');
		// the call's detail line: the PBX leg's SRTP, nothing refused
		const cdr = await callDetail(daemon, report.invite.call_id, null, { status: 200 });
		const m = cdr.media.callee;
		assert.equal(m.kind, 'sdes', JSON.stringify(cdr));
		assert.equal(m.srtp.profile, suite === 'AES_CM_128_HMAC_SHA1_80' ? 'AES128_CM_SHA1_80'
			: 'AES128_CM_SHA1_32', JSON.stringify(cdr));
		assert.equal(m.srtp.auth_failures + m.srtp.replays, 0, JSON.stringify(cdr));
		assert.ok(m.rx_packets >= 0.9 * report.rtp.audio_sent, JSON.stringify(cdr));
		// the keys are nowhere in the daemon's log
		for (const l of lines)
			assert.ok(!daemon.stderr.includes(l.split('inline:')[1].trim()), 'a key was logged');
		assert.ok(!daemon.stderr.includes(pbx.own.toString('base64')), 'the PBX key was logged');
	});
}

// A daemon whose one trunk, pbx, is a PBX of lib/sdes_pbx.js, from a JSON
// configuration file: "srtp" as the file writes it, and allow_from, so that
// the gateway knows the PBX's calls before it has resolved the trunk's URI.
async function oneTrunk(t, srtp, extra = {}) {
	const wsPort = nextPort(), sipPort = nextPort(), pbxPort = nextPort(), media = nextPort(2);
	const pbx = await startSdesPbx({ sipPort: pbxPort, mediaPort: media, gatewayPort: sipPort });
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwire-sdes-'));
	const configFile = path.join(dir, 'sipwire.json');
	const trunk = { name: 'pbx', uri: `sip:127.0.0.1:${pbxPort}`, allow_from: ['127.0.0.1'] };
	if (srtp) trunk.srtp = srtp;
	fs.writeFileSync(configFile, JSON.stringify({ trunks: [trunk] }));
	const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS,
		extraArgs: ['--config', configFile], ...extra });
	t.after(async () => {
		await daemon.stop();
		await pbx.close();
		fs.rmSync(dir, { recursive: true, force: true });
	});
	return { daemon, pbx, wsPort };
}

test('an SDES trunk calls the peer: its RTP/SAVP offer is answered in kind', async (t) => {
	const { pbx, wsPort } = await oneTrunk(t, 'sdes');
	const bob = startPeer(['--answer', '--ws', `ws://127.0.0.1:${wsPort}`, '--user', 'bob',
		'--password', USERS.bob, '--timeout', '20000']);
	t.after(() => bob.kill());
	await bob.waitForOutput(/waiting for a call/);
	const answer = await pbx.invite('bob');
	assert.equal(answer.status, 200, answer.raw);
	assert.match(answer.body, /^m=audio \d+ RTP\/SAVP /m, answer.body);
	const lines = answer.body.match(/^a=crypto:.*$/gm);
	assert.equal(lines.length, 1, 'one line in an answer');
	assert.match(lines[0], /^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{40}\s*$/);
	assert.ok(!lines[0].includes(pbx.own.toString('base64')), 'the gateway\'s own key');
	// the peer sends its audio once established and hangs up when it is back
	const { code, report } = await bob.done;
	assertEchoed(code, report, pbx);
	assert.equal(report.bye.by, 'peer', JSON.stringify(report.bye));
	await waitFor(() => pbx.received('BYE').length, 5000, 'the peer\'s BYE at the PBX');
});

test('RTP/SAVP from a trunk with srtp off is refused 488, with a log line saying why',
	async (t) => {
		const { daemon, pbx } = await oneTrunk(t, 'off');
		const refused = await pbx.invite('echo', { proto: 'RTP/SAVP' });
		assert.equal(refused.status, 488, refused.raw);
		await daemon.waitForLog(
			/refused: the offer is RTP\/SAVP \(SDES-SRTP\) and trunk pbx has srtp off/);
		assert.equal(pbx.sent('ACK').length, 1, 'the 488 was ACKed');
		// plain RTP from it still works: the echo service answers
		const plain = await pbx.invite('echo', { proto: 'RTP/AVP' });
		assert.equal(plain.status, 200, plain.raw);
		assert.match(plain.body, /^m=audio \d+ RTP\/AVP /m);
		assert.equal((await pbx.bye()).status, 200);
	});

test('RTP/AVP from a trunk with srtp sdes is refused 488: it must encrypt', async (t) => {
	const { daemon, pbx } = await oneTrunk(t, 'sdes');
	const refused = await pbx.invite('echo', { proto: 'RTP/AVP' });
	assert.equal(refused.status, 488, refused.raw);
	await daemon.waitForLog(/refused: trunk pbx has srtp sdes and its offer is not RTP\/SAVP/);
	// its SDES offer to echo is answered in kind, and its audio comes back
	// encrypted with the gateway's key
	pbx.echo = false;
	const ok = await pbx.invite('echo', { proto: 'RTP/SAVP' });
	assert.equal(ok.status, 200, ok.raw);
	assert.match(ok.body, /^m=audio (\d+) RTP\/SAVP /m);
	const sent = await pbx.sendAudio(20);
	await waitFor(() => pbx.payloads.length >= 20, 3000, 'the echoed audio');
	assert.deepEqual(pbx.payloads, sent);
	assert.equal(pbx.rx.counters.authFailures + pbx.rx.counters.replays, 0);
	assert.equal((await pbx.bye()).status, 200);
});
