'use strict';
// Debian's Chromium, headless, driven by playwright-core: one persistent
// context on a fresh profile folder per launch (Playwright refuses
// --user-data-dir in args; the context's folder is the profile), fake
// microphone and camera, loopback ICE candidates allowed. Never a browser of
// Playwright's own: executablePath is the Debian binary.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const CHROMIUM = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
	'--no-sandbox', // root in CI, and no user namespaces to sandbox with
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
	// getUserMedia granted without a prompt, from a synthetic device: a beep
	// on the microphone, a test pattern on the camera
	'--use-fake-ui-for-media-stream',
	'--use-fake-device-for-media-stream',
	// Without it Chrome gathers no 127.0.0.1 candidate and ICE against a
	// gateway on loopback never connects.
	'--allow-loopback-in-peer-connection',
];

const LAUNCH_TIMEOUT_MS = 30000; // the ASan daemon shares the 2 cores

// Why the browser tests cannot run here, or null when they can.
function missingPrerequisite() {
	if (!fs.existsSync(CHROMIUM))
		return `${CHROMIUM} is missing (scripts/bootstrap --test installs Debian's chromium)`;
	try {
		require.resolve('playwright-core');
		require.resolve('sip.js/package.json');
	} catch {
		return `${path.join(__dirname, '..', 'node_modules')} is incomplete ` +
			'(scripts/bootstrap --test runs npm ci in tests/e2e)';
	}
	try {
		// the integration tests' SIP client and sipp driver, reused here
		require.resolve('ws', { paths: [path.join(__dirname, '..', '..', 'integration', 'lib')] });
	} catch {
		return 'tests/integration/node_modules is missing (scripts/bootstrap --test runs npm ci there)';
	}
	return null;
}

class Browser {
	constructor() {
		this.context = null;
		this.profileDir = null;
		this.console = []; // every page's console lines and errors, for failure reports
	}

	// options.denyMicrophone: no fake permission prompt, so a page asking
	// for the microphone is refused (NotAllowedError) as by a person.
	async launch(options = {}) {
		const { chromium } = require('playwright-core');
		const args = options.denyMicrophone ?
			CHROMIUM_ARGS.filter((a) => a !== '--use-fake-ui-for-media-stream') : CHROMIUM_ARGS;
		this.profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwire-e2e-chromium-'));
		try {
			this.context = await chromium.launchPersistentContext(this.profileDir, {
				executablePath: CHROMIUM,
				headless: true,
				args,
				timeout: LAUNCH_TIMEOUT_MS,
				// the daemons' WSS ports have a self-signed certificate, as a
				// person accepts it on first use
				ignoreHTTPSErrors: true,
			});
		} catch (err) {
			this.removeProfile();
			throw err;
		}
		this.context.on('page', (page) => this.watch(page));
		for (const page of this.context.pages()) this.watch(page);
		return this;
	}

	watch(page) {
		if (page.sipwireWatched) return;
		page.sipwireWatched = true;
		const tag = `page${this.context.pages().indexOf(page)}`;
		page.on('console', (m) => this.console.push(`${tag} ${m.type()}: ${m.text()}`));
		page.on('pageerror', (e) => this.console.push(`${tag} uncaught: ${e.stack || e}`));
		page.on('crash', () => this.console.push(`${tag} crashed`));
	}

	// A page at url: the persistent context's first (blank) tab, then new ones.
	async open(url) {
		const blank = this.context.pages().find((p) => p.url() === 'about:blank' && !p.sipwireUsed);
		const page = blank || await this.context.newPage();
		page.sipwireUsed = true;
		this.watch(page);
		await page.goto(url);
		return page;
	}

	consoleText() {
		return this.console.join('\n');
	}

	async close() {
		if (this.context) {
			await this.context.close().catch(() => {});
			this.context = null;
		}
		this.removeProfile();
	}

	removeProfile() {
		if (this.profileDir) fs.rmSync(this.profileDir, { recursive: true, force: true });
		this.profileDir = null;
	}
}

async function launchBrowser(options) {
	return new Browser().launch(options);
}

module.exports = { launchBrowser, missingPrerequisite, CHROMIUM, CHROMIUM_ARGS };
