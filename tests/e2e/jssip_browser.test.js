'use strict';
// A second real browser client: JsSIP (npm, CommonJS) bundled by esbuild at
// test time into a temporary folder, loaded by a minimal page
// (pages/jssip.html) in headless Chromium; it registers, calls echo and a
// PBX (sipp with RTP echo) through sipwire, and hears the audio come back
// in its RTCPeerConnection's statistics.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startDaemon, portAllocator } = require('../integration/lib/daemon');
const { startSipp } = require('../integration/lib/sipp');
const { launchBrowser, missingPrerequisite } = require('./lib/browser');
const { startHttpServer } = require('./lib/http');

const USERS = { alice: 'alice-secret' };
const DOMAIN = 'sipwire.test';
const nextPort = portAllocator(27);
const wsPort = nextPort(), sipPort = nextPort(), httpPort = nextPort();
const pbxPort = nextPort(), pbxMedia = nextPort(4);
const AUDIO_PACKETS = 50;

function missing() {
	const base = missingPrerequisite();
	if (base) return base;
	try {
		require.resolve('jssip');
		require.resolve('esbuild');
	} catch {
		return 'jssip or esbuild is missing from tests/e2e/node_modules (scripts/bootstrap --test runs npm ci)';
	}
	return null;
}
const skip = missing();

// The JsSIP bundle: one IIFE defining the global JsSIP, as a page loads it.
async function bundleJssip(dir) {
	const esbuild = require('esbuild');
	await esbuild.build({
		stdin: { contents: 'module.exports = require("jssip");', resolveDir: __dirname },
		bundle: true, format: 'iife', globalName: 'JsSIP', platform: 'browser',
		outfile: path.join(dir, 'jssip.js'), logLevel: 'error',
	});
}

describe('JsSIP in headless Chromium', { skip: skip ? `skipped: ${skip}` : false }, () => {
	let daemon, http, browser, bundleDir;

	before(async () => {
		bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwire-e2e-jssip-'));
		await bundleJssip(bundleDir);
		daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, realm: DOMAIN, users: USERS,
			trunks: { pbx: `sip:127.0.0.1:${pbxPort};transport=udp` },
			routes: ['echo=echo', '900=pbx'] });
		http = await startHttpServer(httpPort, { '/jssip/': bundleDir });
		browser = await launchBrowser();
	});

	after(async () => {
		if (browser) await browser.close();
		if (http) await http.close();
		if (daemon) await daemon.stop();
		if (bundleDir) fs.rmSync(bundleDir, { recursive: true, force: true });
	});

	async function withPhone(body) {
		const logFrom = daemon.stderr.length;
		const consoleFrom = browser.console.length;
		const page = await browser.open(`${http.url}jssip.html`);
		const run = (fn, ...args) => page.evaluate(([name, list]) => window.jsphone[name](...list), [fn, args]);
		try {
			await page.waitForFunction(() => window.jsphone && window.jsphone.ready, null, { timeout: 15000 });
			const version = await page.evaluate(() => window.jsphone.version);
			assert.match(version, /^3\.(1\d|[2-9]\d)\./, `JsSIP 3.10 or later: ${version}`);
			const st = await run('connect', `ws://127.0.0.1:${wsPort}/`, 'alice', USERS.alice, DOMAIN);
			assert.equal(st.registration, 'registered', JSON.stringify(st));
			await body(run);
			await run('disconnect');
		} catch (err) {
			err.message += `\n--- browser console ---\n${browser.console.slice(consoleFrom).join('\n')}` +
				`\n--- pages not found ---\n${http.log.join('\n')}` +
				`\n--- sipwire stderr during the test ---\n${daemon.stderr.slice(logFrom)}`;
			throw err;
		} finally {
			await page.close().catch(() => {});
		}
	}

	async function hearsAudio(run, what) {
		const poll = async (check, label) => {
			const deadline = Date.now() + 5000;
			let last;
			for (;;) {
				last = await run('stats');
				if (last.media && last.media.inbound && check(last.media)) return last.media;
				if (Date.now() > deadline) throw new Error(`${what}: ${label}: ${JSON.stringify(last)}`);
				await new Promise((r) => setTimeout(r, 100));
			}
		};
		const first = await poll((m) => m.inbound.packetsReceived > AUDIO_PACKETS &&
			m.inbound.totalAudioEnergy > 0, 'audio arrives');
		const later = await poll((m) => m.inbound.totalAudioEnergy > first.inbound.totalAudioEnergy &&
			m.inbound.packetsReceived > first.inbound.packetsReceived + AUDIO_PACKETS / 2, 'audio keeps arriving');
		assert.ok(later.outbound.packetsSent > AUDIO_PACKETS, JSON.stringify(later));
		assert.equal(later.dtls, 'connected');
	}

	it('calls echo and hears itself', () => withPhone(async (run) => {
		const st = await run('call', `sip:echo@${DOMAIN}`);
		assert.equal(st.call, 'established', JSON.stringify(st));
		await hearsAudio(run, 'echo');
		const end = await run('hangup');
		assert.equal(end.call, 'ended');
	}));

	it('calls a PBX (sipp, RTP echo) and hears its audio back', () => withPhone(async (run) => {
		const sipp = await startSipp({ scenario: 'uas_answer.xml', port: pbxPort, mediaPort: pbxMedia,
			args: ['-rtp_echo'] });
		try {
			const st = await run('call', `sip:900@${DOMAIN}`);
			assert.equal(st.call, 'established', JSON.stringify(st));
			assert.match(sipp.received('INVITE')[0].body, /^m=audio \d+ RTP\/AVP /m);
			await hearsAudio(run, 'PBX echo');
			await run('hangup');
			const r = await sipp.result();
			assert.equal(r.code, 0, r.report);
		} finally {
			await sipp.stop();
			sipp.cleanup();
		}
	}));
});
