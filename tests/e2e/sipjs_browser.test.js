'use strict';
// SIP.js 0.21.2 in Debian's headless Chromium against the real daemon: a
// page (pages/phone.html) registers over WebSocket, calls the echo service
// and a PBX played by sipp with RTP echo, and reads what came back from its
// RTCPeerConnection's statistics, as a person would hear it.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('../integration/lib/daemon');
const { launchBrowser, missingPrerequisite } = require('./lib/browser');
const { startHttpServer } = require('./lib/http');
const { openPhone } = require('./lib/phone');

const USERS = { alice: 'alice-secret' };
const DOMAIN = 'sipwire.test';
const PBX_NUMBER = '900';
// Chrome's fake microphone sends a packet every 20 ms: 50 a second.
const AUDIO_PACKETS = 50;
const AUDIO_WITHIN_MS = 5000;

const nextPort = portAllocator(21);
const wsPort = nextPort(), sipPort = nextPort(), httpPort = nextPort();
const pbxPort = nextPort(), pbxMediaPort = nextPort(3);

const skip = missingPrerequisite();

describe('SIP.js in headless Chromium', { skip: skip ? `skipped: ${skip}` : false }, () => {
	let daemon, http, browser;

	before(async () => {
		daemon = await startDaemon({
			ports: { ws: wsPort, sip: sipPort },
			realm: DOMAIN,
			users: USERS,
			trunks: { pbx: `sip:127.0.0.1:${pbxPort};transport=udp` },
			routes: ['echo=echo', `${PBX_NUMBER}=pbx`],
		});
		http = await startHttpServer(httpPort);
		browser = await launchBrowser();
	});

	after(async () => {
		if (browser) await browser.close();
		if (http) await http.close();
		if (daemon) await daemon.stop();
	});

	// Runs body with a fresh phone tab; a failure carries the browser's
	// console and what the daemon wrote during the test.
	async function withPhone(body) {
		const logFrom = daemon.stderr.length;
		const consoleFrom = browser.console.length;
		const phone = await openPhone(browser, http.url);
		try {
			await body(phone);
		} catch (err) {
			err.message += `\n--- browser console ---\n${browser.console.slice(consoleFrom).join('\n')}` +
				`\n--- pages not found ---\n${http.log.join('\n')}` +
				`\n--- sipwire stderr during the test ---\n${daemon.stderr.slice(logFrom)}`;
			throw err;
		} finally {
			await phone.close();
		}
	}

	const wsUrl = `ws://127.0.0.1:${wsPort}/`;

	async function registered(phone) {
		const st = await phone.connect(wsUrl, 'alice', USERS.alice, DOMAIN);
		assert.equal(st.registration, 'Registered', JSON.stringify(st));
		return st;
	}

	// The registrar's bindings for alice, asked by a second client.
	async function bindings() {
		const { connectClient, contacts } = require('../integration/lib/sip');
		const q = await connectClient(wsPort);
		try {
			const { final } = await q.register({ user: 'alice', password: USERS.alice, contact: false });
			assert.equal(final.status, 200, final.raw);
			return contacts(final);
		} finally {
			await q.close();
		}
	}

	// The call has ended on the gateway too: its call detail line is written.
	async function gatewayEnded(callId, expect) {
		const { callDetail } = require('../integration/lib/calls');
		return callDetail(daemon, callId, null, expect);
	}

	// Inbound audio: at least AUDIO_PACKETS packets with energy, then the
	// energy still growing (audio keeps coming, not one burst).
	async function hearsAudio(phone, what) {
		const first = await phone.waitForStats((s) => s.media && s.media.inbound &&
			s.media.inbound.packetsReceived > AUDIO_PACKETS && s.media.inbound.totalAudioEnergy > 0,
		AUDIO_WITHIN_MS, `${what}: audio comes back`);
		const later = await phone.waitForStats((s) => s.media && s.media.inbound &&
			s.media.inbound.totalAudioEnergy > first.media.inbound.totalAudioEnergy &&
			s.media.inbound.packetsReceived > first.media.inbound.packetsReceived + AUDIO_PACKETS / 2,
		AUDIO_WITHIN_MS, `${what}: audio keeps coming`);
		const m = later.media;
		assert.ok(m.outbound && m.outbound.packetsSent > AUDIO_PACKETS, JSON.stringify(m));
		assert.equal(m.dtls && m.dtls.state, 'connected', JSON.stringify(m));
		assert.ok(m.pair && m.pair.state === 'succeeded', `a validated ICE pair: ${JSON.stringify(m)}`);
		return later;
	}

	it('registers, is bound at the registrar, unregisters', () => withPhone(async (phone) => {
		const st = await registered(phone);
		assert.equal(st.lastStatus, 200);
		assert.equal(st.connected, true);
		const bound = await bindings();
		assert.equal(bound.length, 1, bound.join('\n'));
		assert.match(bound[0], /transport=ws/i, 'SIP.js\'s own Contact');

		const gone = await phone.disconnect();
		assert.equal(gone.registration, 'Unregistered', JSON.stringify(gone));
		assert.equal(gone.lastStatus, 200, 'the un-REGISTER was accepted');
		assert.equal(gone.connected, false);
		assert.deepEqual(await bindings(), [], 'no binding left');
	}));

	it('a wrong password is refused and leaves no binding', () => withPhone(async (phone) => {
		const st = await phone.connect(wsUrl, 'alice', 'not-alice-secret', DOMAIN);
		assert.notEqual(st.registration, 'Registered', JSON.stringify(st));
		assert.ok([401, 403].includes(st.lastStatus),
			`a 401 or 403 for the wrong answer: ${JSON.stringify(st)}`);
		assert.deepEqual(await bindings(), []);
		await phone.disconnect();
	}));

	it('calls echo and hears itself, then hangs up', () => withPhone(async (phone) => {
		await registered(phone);
		const st = await phone.call(`sip:echo@${DOMAIN}`);
		assert.equal(st.lastStatus, 200, JSON.stringify(st));
		assert.equal(st.session, 'Established');
		await hearsAudio(phone, 'echo');
		const end = await phone.hangup();
		assert.equal(end.session, 'Terminated');
		assert.equal(end.lastStatus, 200, 'the BYE was answered');
		await gatewayEnded(st.callId, { status: 200, answered: true, hangup: 'caller',
			end_reason: /^bye$/ });
		await phone.disconnect();
	}));

	it('calls echo, restarts ICE with a re-INVITE and still hears itself', () =>
		withPhone(async (phone) => {
			await registered(phone);
			const st = await phone.call(`sip:echo@${DOMAIN}`);
			assert.equal(st.lastStatus, 200, JSON.stringify(st));
			const before = await hearsAudio(phone, 'echo');
			const re = await phone.restartIce();
			assert.equal(re.lastStatus, 200, `the ICE restart re-INVITE: ${JSON.stringify(re)}`);
			const after = await phone.waitForStats((s) => s.media && s.media.inbound &&
				s.media.inbound.packetsReceived > before.media.inbound.packetsReceived + AUDIO_PACKETS &&
				s.media.pair && s.media.pair.state === 'succeeded',
			AUDIO_WITHIN_MS, 'audio after the ICE restart');
			assert.equal(after.media.dtls && after.media.dtls.state, 'connected', JSON.stringify(after.media));
			await daemon.waitForLog(/webrtc: ICE restarted, connected/, 5000);
			await phone.hangup();
			await phone.disconnect();
		}));

	it('calls echo without an offer (the gateway offers in its 200) and hears itself', () =>
		withPhone(async (phone) => {
			await registered(phone);
			const st = await phone.call(`sip:echo@${DOMAIN}`, { withoutSdp: true });
			assert.equal(st.lastStatus, 200, JSON.stringify(st));
			assert.equal(st.session, 'Established');
			await hearsAudio(phone, 'echo, offer from the gateway');
			await phone.hangup();
			await phone.disconnect();
		}));

	it('a call to echo stays up and audible past consent freshness\'s 30 s', () =>
		withPhone(async (phone) => {
			await registered(phone);
			const st = await phone.call(`sip:echo@${DOMAIN}`);
			assert.equal(st.lastStatus, 200, JSON.stringify(st));
			let last = await hearsAudio(phone, 'echo');
			// RFC 7675: each side checks consent every ~5 s and stops sending
			// after 30 s without an answer; ours are answered and answer.
			for (const at of [12, 24, 36]) {
				await new Promise((r) => setTimeout(r, 12000));
				const now = await phone.stats();
				assert.ok(now.media.inbound.packetsReceived > last.media.inbound.packetsReceived + 400,
					`audio still comes back at ${at} s: ${JSON.stringify(now.media.inbound)}`);
				assert.equal((await phone.status()).session, 'Established');
				last = now;
			}
			await phone.hangup();
			await phone.disconnect();
		}));

	it('calls a PBX (sipp, RTP echo) and hears its audio back', () => withPhone(async (phone) => {
		const { startSipp } = require('../integration/lib/sipp');
		const sipp = await startSipp({ scenario: 'uas_answer.xml', port: pbxPort,
			mediaPort: pbxMediaPort, args: ['-rtp_echo'] });
		try {
			await registered(phone);
			const st = await phone.call(`sip:${PBX_NUMBER}@${DOMAIN}`);
			assert.equal(st.lastStatus, 200, JSON.stringify(st));
			assert.equal(st.session, 'Established');
			const invite = sipp.received('INVITE')[0];
			assert.ok(invite, `the PBX got the call:\n${sipp.summary()}`);
			assert.match(invite.body, /^m=audio \d+ RTP\/AVP /m, `plain RTP toward the PBX:\n${invite.body}`);
			await hearsAudio(phone, 'PBX echo');
			const end = await phone.hangup();
			assert.equal(end.session, 'Terminated');
			const r = await sipp.result();
			assert.equal(r.code, 0, r.report); // the scenario got its ACK and BYE
			await gatewayEnded(st.callId, { status: 200, answered: true, hangup: 'caller' });
			await phone.disconnect();
		} finally {
			await sipp.stop();
			sipp.cleanup();
		}
	}));
});
