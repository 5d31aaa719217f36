'use strict';
// The demo softphone (web-demo/) as sipwire itself serves it, driven in
// headless Chromium through its own form and buttons: the files it serves
// (and refuses), signing in and out, a wrong password, an unreachable
// gateway, a call to echo that is heard, and a gateway restart the page
// survives by reconnecting and registering again.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startDaemon, portAllocator } = require('../integration/lib/daemon');
const { launchBrowser, missingPrerequisite } = require('./lib/browser');
const { openSoftphone } = require('./lib/softphone');

const USERS = { alice: 'alice-demo', bob: 'bob-demo' };
// the page retries after 1, 2, 4, 8 s...; the sanitizer build starts slowly
const RECONNECTED_WITHIN_MS = 20000;
const nextPort = portAllocator(24);
const wsPort = nextPort(), unusedPort = nextPort(), wssPort = nextPort();

const skip = missingPrerequisite();

// Screenshots go next to the binary under test: build/e2e-artifacts/.
function artifactDir() {
	const dir = path.join(path.dirname(path.resolve(process.env.SIPWIRE_BIN || '.')), 'e2e-artifacts');
	fs.mkdirSync(dir, { recursive: true });
	return dir;
}

describe('the demo softphone served by sipwire', { skip: skip ? `skipped: ${skip}` : false }, () => {
	let daemon, browser;
	const pageUrl = `http://127.0.0.1:${wsPort}/`;

	// the default dial plan, as scripts/run has it: echo, then registered users
	const startGateway = () => startDaemon({ ports: { ws: wsPort, wss: wssPort }, users: USERS });

	before(async () => {
		daemon = await startGateway();
		browser = await launchBrowser();
	});

	after(async () => {
		if (browser) await browser.close();
		if (daemon) await daemon.stop();
	});

	// A fresh tab for body; a failure carries the console and the daemon's log.
	async function withPage(body, url = pageUrl) {
		const logFrom = daemon.stderr.length;
		const consoleFrom = browser.console.length;
		const phone = await openSoftphone(browser, url, 'alice');
		try {
			await body(phone);
		} catch (err) {
			err.message += `\n--- browser console ---\n${browser.console.slice(consoleFrom).join('\n')}` +
				`\n--- sipwire stderr during the test ---\n${daemon.stderr.slice(logFrom)}`;
			throw err;
		} finally {
			await phone.close();
		}
	}

	it('serves the page and SIP.js as modules, and nothing outside its folders', async () => {
		const get = async (p) => {
			const r = await fetch(`${pageUrl.slice(0, -1)}${p}`);
			return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
		};
		const index = await get('/');
		assert.equal(index.status, 200);
		assert.match(index.type, /^text\/html/);
		assert.match(index.body, /<script type="module" src="js\/app.js">/);
		for (const p of ['/js/app.js', '/js/phone.js', '/sip.js/index.js', '/sip.js/api/user-agent.js']) {
			const r = await get(p);
			assert.equal(r.status, 200, p);
			assert.match(r.type, /^text\/javascript/, `${p}: module scripts need a JavaScript type`);
		}
		assert.match((await get('/style.css')).type, /^text\/css/);
		// fetch() normalizes dot segments: send the raw paths over a socket
		const raw = (p) => new Promise((resolve, reject) => {
			const s = require('node:net').connect(wsPort, '127.0.0.1', () =>
				s.write(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
			let data = '';
			s.on('data', (d) => { data += d; });
			s.on('end', () => resolve(data.split('\r\n')[0]));
			s.on('error', reject);
		});
		for (const p of ['/../README.md', '/sip.js/../../package.json', '/%2e%2e/%2e%2e/README.md',
			'/node_modules/sip.js/package.json', '/.npmrc', '/js/', '/missing.js', '/etc/passwd'])
			assert.match(await raw(p), /^HTTP\/1\.1 404/, p);

		// turned off, or pointed at a folder without the page: 404, and a
		// warning saying which folder
		for (const [args, log] of [[['--no-demo'], null],
			[['--demo-dir', __dirname], /demo\.dir \S+ has no index\.html: the softphone page is off/]]) {
			const off = await startDaemon({ ports: { ws: unusedPort }, users: USERS, extraArgs: args });
			try {
				const r = await fetch(`http://127.0.0.1:${unusedPort}/`);
				assert.equal(r.status, 404, args.join(' '));
				if (log) assert.match(off.stderr, log);
				else assert.doesNotMatch(off.stderr, /softphone: http/);
			} finally {
				await off.stop();
			}
		}
	});

	it('signs in and out; a wrong password and an unreachable gateway are shown', () =>
		withPage(async (alice) => {
			// prefilled for this server and the demo user
			assert.equal(await alice.page.inputValue('#server'), `ws://127.0.0.1:${wsPort}/`);
			assert.equal(await alice.page.inputValue('#user'), 'alice');
			assert.equal(await alice.page.inputValue('#password'), 'alice-demo');
			await alice.signIn();
			await alice.registered();
			assert.equal(await alice.error(), '');
			await daemon.waitForLog(/REGISTER.*alice|alice.*regist/i, 5000).catch(() => {});
			await alice.signOut();
			assert.equal(await alice.page.isEnabled('#sign-in'), true);

			await alice.signIn({ password: 'not-the-password' });
			await alice.waitText('#registration-status', /^failed$/);
			const err = await alice.error();
			assert.match(err, /^registration failed: 40[13] \S/, err);
			await alice.signOut();

			await alice.signIn({ server: `ws://127.0.0.1:${unusedPort}/`, password: 'alice-demo' });
			await alice.waitText('#error', /^gateway unreachable: ws:\/\/127\.0\.0\.1:\d+\/$/);
			assert.equal(await alice.text('#connection-status'), 'disconnected');
			assert.equal(await alice.page.isEnabled('#sign-in'), true, 'the form is usable again');
		}));

	it('calls echo and hears itself; timer, meters, mute, hang up and the call log', () =>
		withPage(async (alice) => {
			await alice.signIn({ server: `ws://127.0.0.1:${wsPort}/`, password: 'alice-demo' });
			await alice.registered();
			await alice.dial('echo');
			await alice.inCall();
			assert.match(await alice.text('#call-status'), /^in call with echo/);
			const heard = await alice.hearsAudio('echo');
			assert.equal(heard.dtls, 'connected');
			assert.equal(heard.pair, 'succeeded');
			await alice.waitText('#call-timer', /^00:0[1-9]$/, 5000);
			const meters = await alice.page.waitForFunction(() => {
				const mic = document.getElementById('mic-level').value;
				const remote = document.getElementById('remote-level').value;
				return mic > 0 && remote > 0 && { mic, remote };
			}, null, { timeout: 5000 }).then((h) => h.jsonValue());
			assert.ok(meters.mic > 0 && meters.remote > 0, JSON.stringify(meters));
			await alice.screenshot(path.join(artifactDir(), 'softphone-echo-call.png'));

			// muted: the microphone bar drops to zero and the button says so
			await alice.mute();
			await alice.waitText('#mute', /^Unmute$/);
			await alice.page.waitForFunction(() => document.getElementById('mic-level').value === 0,
				null, { timeout: 3000 });
			await alice.mute();
			await alice.waitText('#mute', /^Mute$/);

			await alice.hangUp();
			await alice.idle();
			assert.equal(await alice.visible('#in-call'), false);
			assert.equal(await alice.text('#call-timer'), '');
			const log = await alice.callLog();
			assert.equal(log.length, 1, JSON.stringify(log));
			assert.equal(log[0].peer, `echo@127.0.0.1`);
			assert.equal(log[0].result, 'hung up');
			assert.match(log[0].text, /→ echo@127\.0\.0\.1 00:0\d \(hung up\)/);
			await alice.signOut();
		}));

	it('a microphone the browser refuses is named as such; the page stays usable', async () => {
		const denying = await launchBrowser({ denyMicrophone: true });
		try {
			const alice = await openSoftphone(denying, pageUrl, 'alice');
			await alice.signIn({ server: `ws://127.0.0.1:${wsPort}/`, password: 'alice-demo' });
			await alice.registered();
			await alice.dial('echo');
			await alice.waitText('#error', /^call failed: microphone permission denied$/);
			await alice.idle();
			assert.equal(await alice.page.isEnabled('#call'), true, 'Call can be pressed again');
			const log = await alice.callLog();
			assert.equal(log[0].result, 'failed', JSON.stringify(log));
			await alice.signOut();
		} catch (err) {
			err.message += `\n--- browser console ---\n${denying.consoleText()}`;
			throw err;
		} finally {
			await denying.close();
		}
	});

	it('over HTTPS (the self-signed certificate accepted) the page uses WSS and calls echo', () =>
		withPage(async (alice) => {
			assert.equal(await alice.page.inputValue('#server'), `wss://127.0.0.1:${wssPort}/`);
			await alice.signIn({ password: 'alice-demo' });
			await alice.registered();
			await daemon.waitForLog(/WSS 127\.0\.0\.1:\d+ #\d+ open/, 5000);
			await alice.dial('echo');
			await alice.inCall();
			await alice.hearsAudio('echo over WSS');
			await alice.hangUp();
			await alice.idle();
			await alice.signOut();
		}, `https://127.0.0.1:${wssPort}/`));

	it('a gateway restart: the page says the connection is lost, reconnects, registers again', () =>
		withPage(async (alice) => {
			await alice.signIn({ server: `ws://127.0.0.1:${wsPort}/`, password: 'alice-demo' });
			await alice.registered();
			await daemon.stop();
			await alice.waitText('#connection-status', /^reconnecting/);
			assert.match(await alice.error(), /^connection to the gateway lost/);
			assert.notEqual(await alice.text('#registration-status'), 'registered');
			daemon = await startGateway();
			await alice.registered(RECONNECTED_WITHIN_MS);
			assert.equal(await alice.error(), '', 'the error is cleared once back');
			// the new gateway knows the page: a call goes through
			await alice.dial('echo');
			await alice.inCall();
			await alice.hearsAudio('echo after the restart');
			await alice.hangUp();
			await alice.idle();
			await alice.signOut();
		}));

	it('the gateway dies in a call: the call ends as lost, the page reconnects to the new one', () =>
		withPage(async (alice) => {
			await alice.signIn({ server: `ws://127.0.0.1:${wsPort}/`, password: 'alice-demo' });
			await alice.registered();
			await alice.dial('echo');
			await alice.inCall();
			await alice.hearsAudio('echo before the crash');
			await daemon.kill(); // SIGKILL: no BYE, no WebSocket close
			await alice.waitText('#connection-status', /^reconnecting/);
			await alice.idle();
			assert.match(await alice.error(), /^connection to the gateway lost/);
			const log = await alice.callLog();
			assert.equal(log[0].result, 'connection lost', JSON.stringify(log));
			daemon = await startGateway();
			await alice.registered(RECONNECTED_WITHIN_MS);
			await alice.dial('echo');
			await alice.inCall();
			await alice.hearsAudio('echo on the new gateway');
			await alice.hangUp();
			await alice.idle();
			await alice.signOut();
		}));
});
