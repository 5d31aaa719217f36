'use strict';
// The demo softphone, served by sipwire and driven through its UI, with a
// PBX behind the gateway played by sipp (trunk "pbx", numbers 9xx):
//  - the page calls the PBX (RTP echo): audio both ways, hold and resume
//    (sipp sees a=sendonly, then a=sendrecv), a DTMF tone from the keypad
//    reaching the PBX as INFO;
//  - the PBX calls the user: the banner, accept, audio both ways, the PBX
//    hangs up;
//  - the user rejects a call from the PBX (486 at the PBX);
//  - the page cancels its call before the PBX answers (487 at the PBX).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('../integration/lib/daemon');
const { startSipp } = require('../integration/lib/sipp');
const { launchBrowser, missingPrerequisite } = require('./lib/browser');
const { openSoftphone } = require('./lib/softphone');

const USERS = { alice: 'alice-demo' };
const nextPort = portAllocator(26);
const wsPort = nextPort(), sipPort = nextPort(), pbxPort = nextPort(), uacPort = nextPort();
const pbxMedia = nextPort(4), uacMedia = nextPort(4);

const skip = missingPrerequisite();

describe('the demo softphone with a PBX (sipp)', { skip: skip ? `skipped: ${skip}` : false }, () => {
	let daemon, browser;
	const sipps = [];

	before(async () => {
		daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS,
			trunks: { pbx: `sip:127.0.0.1:${pbxPort};transport=udp` },
			routes: ['echo=echo', '9=pbx', '/^[a-z]+$/=user'] });
		browser = await launchBrowser();
	});

	after(async () => {
		for (const s of sipps) {
			await s.stop();
			s.cleanup();
		}
		if (browser) await browser.close();
		if (daemon) await daemon.stop();
	});

	// A PBX answering calls on pbxPort (uas) or calling alice (uac).
	async function pbx(scenario, { uac = false, args = [] } = {}) {
		const sipp = await startSipp(uac ?
			{ scenario, port: uacPort, mediaPort: uacMedia, remote: `127.0.0.1:${sipPort}`,
				args: ['-s', 'alice', ...args] } :
			{ scenario, port: pbxPort, mediaPort: pbxMedia, args });
		sipps.push(sipp);
		return sipp;
	}

	// A signed-in page for alice; a failure carries the console, the
	// daemon's log and the PBX's messages.
	async function withAlice(body) {
		const logFrom = daemon.stderr.length;
		const consoleFrom = browser.console.length;
		const sippsFrom = sipps.length;
		const alice = await openSoftphone(browser, `http://127.0.0.1:${wsPort}/`, 'alice');
		try {
			await alice.signIn({ server: `ws://127.0.0.1:${wsPort}/`, user: 'alice', password: USERS.alice });
			await alice.registered();
			await body(alice);
		} catch (err) {
			err.message += `\n--- browser console ---\n${browser.console.slice(consoleFrom).join('\n')}` +
				`\n--- PBX ---\n${sipps.slice(sippsFrom).map((s) => s.summary()).join('\n')}` +
				`\n--- sipwire stderr during the test ---\n${daemon.stderr.slice(logFrom)}`;
			throw err;
		} finally {
			await alice.close();
		}
	}

	it('calls the PBX, hears it, holds, resumes and sends DTMF from the keypad', () =>
		withAlice(async (alice) => {
			const sipp = await pbx('uas_hold_resume_dtmf.xml', { args: ['-rtp_echo'] });
			await alice.dial('901');
			await alice.inCall();
			const invite = sipp.received('INVITE')[0];
			assert.match(invite.body, /^m=audio \d+ RTP\/AVP /m, 'plain RTP toward the PBX');
			await alice.hearsAudio('the PBX echoes the page');

			await alice.hold();
			assert.equal(await alice.text('#hold'), 'Resume');
			await alice.resume();
			assert.equal(await alice.text('#hold'), 'Hold');
			const reinvites = sipp.received('INVITE').slice(1);
			assert.equal(reinvites.length, 2, sipp.summary());
			assert.match(reinvites[0].body, /^a=sendonly/m, `hold: ${reinvites[0].body}`);
			assert.match(reinvites[1].body, /^a=sendrecv/m, `resume: ${reinvites[1].body}`);
			await alice.hearsAudio('audio after the resume');

			await alice.dtmf('5');
			const info = await waitFor(() => sipp.received('INFO')[0], 5000, 'the INFO at the PBX');
			assert.match(info.body, /Signal= *5/, info.body);

			await alice.hangUp();
			await alice.idle();
			const r = await sipp.result();
			assert.equal(r.code, 0, r.report);
			assert.equal((await alice.callLog())[0].result, 'hung up');
		}));

	it('the PBX calls: banner, accept, audio both ways, the PBX hangs up', () =>
		withAlice(async (alice) => {
			const sipp = await pbx('uac_talk.xml', { uac: true, args: ['-rtp_echo', '-d', '6000'] });
			const banner = await alice.incoming();
			assert.match(banner, /^Incoming call from pbxcaller\b/);
			await alice.accept();
			await alice.inCall();
			// the PBX echoes what it gets: the page hearing itself is audio both ways
			await alice.hearsAudio('the PBX\'s audio');
			await alice.idle(15000); // the PBX's BYE
			const r = await sipp.result();
			assert.equal(r.code, 0, r.report);
			const log = await alice.callLog();
			assert.equal(log[0].result, 'ended', JSON.stringify(log));
			assert.match(log[0].text, /← pbxcaller/);
		}));

	it('rejects a call from the PBX (486 at the PBX)', () =>
		withAlice(async (alice) => {
			const sipp = await pbx('uac_rejected.xml', { uac: true });
			await alice.incoming();
			await alice.reject();
			await alice.waitVisible('#incoming', false);
			const r = await sipp.result();
			assert.equal(r.code, 0, r.report);
			assert.ok(sipp.received(486).length >= 1, sipp.summary());
			assert.equal((await alice.callLog())[0].result, 'rejected');
			await alice.idle();
		}));

	it('cancels a call to the PBX before it answers (487 at the PBX)', () =>
		withAlice(async (alice) => {
			const sipp = await pbx('uas_noanswer.xml');
			await alice.dial('902');
			await alice.waitText('#call-status', /^calling 902@.*\(18\d /);
			await alice.hangUp();
			await alice.idle();
			const r = await sipp.result();
			assert.equal(r.code, 0, r.report);
			assert.ok(sipp.received('CANCEL').length >= 1, sipp.summary());
			assert.ok(sipp.sent(487).length >= 1, sipp.summary());
			assert.equal((await alice.callLog())[0].result, 'cancelled');
		}));
});

async function waitFor(fn, timeoutMs, what) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const v = fn();
		if (v) return v;
		if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
		await new Promise((r) => setTimeout(r, 50));
	}
}
