'use strict';
// The browser harness itself, without the gateway: Debian's Chromium with
// the flags of lib/browser.js loads the phone page and SIP.js's ES modules
// from lib/http.js, and two peer connections inside the page carry the fake
// microphone to each other over loopback ICE and DTLS-SRTP, measured by the
// same statistics the gateway tests read. When a call through sipwire shows
// no audio while this passes, the gateway is the one to look at.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { portAllocator } = require('../integration/lib/daemon');
const { launchBrowser, missingPrerequisite, CHROMIUM_ARGS } = require('./lib/browser');
const { startHttpServer } = require('./lib/http');
const { openPhone } = require('./lib/phone');

const nextPort = portAllocator(22);

// The status of GET path, the path sent exactly as given.
function rawGetStatus(path) {
	return new Promise((resolve, reject) => {
		const req = require('node:http').get({ host: '127.0.0.1', port: httpPort, path }, (res) => {
			res.resume();
			resolve(res.statusCode);
		});
		req.on('error', reject);
	});
}
const httpPort = nextPort();
const skip = missingPrerequisite();

describe('headless Chromium on this machine', { skip: skip ? `skipped: ${skip}` : false }, () => {
	let http, browser;

	before(async () => {
		http = await startHttpServer(httpPort);
		browser = await launchBrowser();
	});

	after(async () => {
		if (browser) await browser.close();
		if (http) await http.close();
	});

	it('serves the phone page and SIP.js as ES modules, nothing missing', async () => {
		const phone = await openPhone(browser, http.url);
		try {
			const st = await phone.status();
			assert.deepEqual(st, { registration: null, connected: false, session: null, callId: null,
				incoming: [], lastStatus: null, lastReason: null });
			const loaded = await phone.page.evaluate(async () => {
				const sipjs = await import('/sip.js/index.js');
				return { name: sipjs.name, api: typeof sipjs.UserAgent + typeof sipjs.Inviter };
			});
			assert.deepEqual(loaded, { name: 'sip.js', api: 'functionfunction' });
			// the pinned package (its lib/version.js still says 0.21.1)
			assert.equal(require('sip.js/package.json').version, '0.21.2');
			assert.deepEqual(http.log, [], 'every request found its file');
		} finally {
			await phone.close();
		}
	});

	it('the HTTP server serves nothing outside its two folders', async () => {
		// paths as a client may send them, not normalized as fetch() would
		for (const p of ['/../package.json', '/sip.js/../package.json', '/%2e%2e/lib/http.js',
			'/sip.js/%2e%2e/%2e%2e/playwright-core/package.json', '/sip.js/..%2f..%2fsip.js/package.json',
			'/..%5c..%5cpackage.json', '/phone.js%00.html'])
			assert.equal(await rawGetStatus(p), 404, p);
		assert.equal(await rawGetStatus('/phone.js'), 200);
		assert.equal(await rawGetStatus('/sip.js/index.js'), 200);
	});

	it('a fake microphone reaches another peer connection over loopback ICE and DTLS-SRTP',
		async () => {
			assert.ok(CHROMIUM_ARGS.includes('--allow-loopback-in-peer-connection'));
			const phone = await openPhone(browser, http.url);
			try {
				const { offer } = await phone.run('startLoopback');
				assert.match(offer, /^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 /m,
					`a loopback host candidate in the offer:\n${offer}`);
				const source = () => phone.run('loopbackStats');
				const first = await phone.waitForStats((s) => s.receiver.inbound &&
					s.receiver.inbound.packetsReceived > 50 && s.receiver.inbound.totalAudioEnergy > 0,
				5000, 'audio at the receiving peer connection', source);
				const later = await phone.waitForStats((s) =>
					s.receiver.inbound.totalAudioEnergy > first.receiver.inbound.totalAudioEnergy &&
					s.receiver.inbound.packetsReceived > first.receiver.inbound.packetsReceived + 25,
				5000, 'audio that keeps coming', source);
				const { sender, receiver } = later;
				// Chrome may answer getStats from a result up to 50 ms old: the
				// sender's count may lag by the packets of that time (20 ms each).
				assert.ok(sender.outbound.packetsSent + 3 >= receiver.inbound.packetsReceived,
					JSON.stringify(later));
				for (const side of [sender, receiver]) {
					assert.equal(side.dtls.state, 'connected', JSON.stringify(side));
					assert.equal(side.pair.state, 'succeeded', JSON.stringify(side));
				}
			} catch (err) {
				err.message += `\n--- browser console ---\n${browser.consoleText()}`;
				throw err;
			} finally {
				await phone.run('stopLoopback').catch(() => {});
				await phone.close();
			}
		});
});
