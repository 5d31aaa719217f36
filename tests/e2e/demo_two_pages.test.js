'use strict';
// Softphone pages calling each other through sipwire, each driven through
// its own UI: the callee accepts from the banner, both hear the other, and
// either side hangs up; then a blind transfer to a third page, with the
// gateway carrying out the REFER (calls.refer = gateway) and with the REFER
// passed on to the transferred page (the default, calls.refer = pass).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('../integration/lib/daemon');
const { launchBrowser, missingPrerequisite } = require('./lib/browser');
const { openSoftphone } = require('./lib/softphone');

const USERS = { alice: 'alice-demo', bob: 'bob-demo', carol: 'carol-demo' };
const nextPort = portAllocator(25);
const passPort = nextPort(), gatewayPort = nextPort();

const skip = missingPrerequisite();

describe('softphone pages calling each other', { skip: skip ? `skipped: ${skip}` : false }, () => {
	let pass, gateway, browser;

	before(async () => {
		pass = await startDaemon({ ports: { ws: passPort }, users: USERS });
		gateway = await startDaemon({ ports: { ws: gatewayPort }, users: USERS,
			set: { 'calls.refer': 'gateway' } });
		browser = await launchBrowser();
	});

	after(async () => {
		if (browser) await browser.close();
		if (pass) await pass.stop();
		if (gateway) await gateway.stop();
	});

	// Signed-in pages for users on daemon's port; body(pages...); a failure
	// carries the browser console and the daemon's log.
	async function withPages(daemon, port, users, body) {
		const logFrom = daemon.stderr.length;
		const consoleFrom = browser.console.length;
		const pages = [];
		try {
			for (const user of users) {
				const p = await openSoftphone(browser, `http://127.0.0.1:${port}/`, user);
				pages.push(p);
				await p.signIn({ server: `ws://127.0.0.1:${port}/`, user, password: USERS[user] });
				await p.registered();
			}
			await body(...pages);
		} catch (err) {
			err.message += `\n--- browser console ---\n${browser.console.slice(consoleFrom).join('\n')}` +
				`\n--- sipwire stderr during the test ---\n${daemon.stderr.slice(logFrom)}`;
			throw err;
		} finally {
			for (const p of pages) await p.close();
		}
	}

	// caller dials callee's user; the callee's banner names the caller; accept.
	async function connect(caller, callee) {
		await caller.dial(callee.name);
		const banner = await callee.incoming();
		assert.match(banner, new RegExp(`^Incoming call from ${caller.name}\\b`));
		await callee.accept();
		await callee.inCall();
		await caller.inCall();
		await callee.waitVisible('#incoming', false);
	}

	it('alice calls bob, bob accepts from the banner, both hear each other, bob hangs up; ' +
		'then bob calls alice and alice hangs up', () =>
		withPages(pass, passPort, ['alice', 'bob'], async (alice, bob) => {
			await connect(alice, bob);
			await alice.hearsAudio('alice hears bob');
			await bob.hearsAudio('bob hears alice');
			assert.match(await alice.text('#call-status'), /^in call with bob@/);
			await bob.hangUp();
			await bob.idle();
			await alice.idle();

			await connect(bob, alice);
			await alice.hearsAudio('alice hears bob, second call');
			await bob.hearsAudio('bob hears alice, second call');
			await alice.hangUp();
			await alice.idle();
			await bob.idle();

			const aliceLog = await alice.callLog();
			assert.deepEqual(aliceLog.map((c) => c.result), ['hung up', 'ended'], JSON.stringify(aliceLog));
			assert.match(aliceLog[0].text, /← bob/);
			assert.match(aliceLog[1].text, /→ bob@/);
			const bobLog = await bob.callLog();
			assert.deepEqual(bobLog.map((c) => c.result), ['ended', 'hung up'], JSON.stringify(bobLog));
		}));

	async function blindTransfer(daemon, port) {
		await withPages(daemon, port, ['alice', 'bob', 'carol'], async (alice, bob, carol) => {
			await connect(alice, bob);
			await bob.hearsAudio('bob hears alice');
			await alice.transfer('carol');
			const banner = await carol.incoming(15000);
			assert.match(banner, /^Incoming call from /);
			await carol.accept();
			await carol.inCall();
			await alice.idle();
			await bob.inCall();
			// bob and carol now hear each other
			await carol.hearsAudio('carol hears bob');
			await bob.hearsAudio('bob hears carol', { timeoutMs: 8000 });
			const log = await alice.callLog();
			assert.equal(log[0].result, `transferred to carol@127.0.0.1`, JSON.stringify(log));
			await carol.hangUp();
			await carol.idle();
			await bob.idle();
		});
	}

	it('alice transfers bob to carol (blind); the gateway carries out the REFER', () =>
		blindTransfer(gateway, gatewayPort));

	it('alice transfers bob to carol (blind); bob\'s page follows the passed-on REFER', () =>
		blindTransfer(pass, passPort));
});
