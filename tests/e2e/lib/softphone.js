'use strict';
// The Node side of the demo softphone (web-demo/) as the daemon serves it:
// every action goes through the page's own controls (fill, click), every
// check reads what the page shows. Only the call's media statistics come
// from a read-only hook (window.softphone.stats(): the RTCPeerConnection's
// inbound/outbound audio), since a person hears them instead.

const PAGE_READY_TIMEOUT_MS = 15000;
const UI_TIMEOUT_MS = 10000;

class Softphone {
	constructor(page, name) {
		this.page = page;
		this.name = name;
	}

	text(selector) {
		return this.page.locator(selector).textContent();
	}

	// Waits until the element's text matches re (a RegExp); returns the text.
	async waitText(selector, re, timeoutMs = UI_TIMEOUT_MS) {
		try {
			await this.page.waitForFunction(([sel, source, flags]) => {
				const el = document.querySelector(sel);
				return el && new RegExp(source, flags).test(el.textContent);
			}, [selector, re.source, re.flags], { timeout: timeoutMs, polling: 50 });
		} catch (err) {
			throw new Error(`${this.name}: ${selector} never matched ${re} within ${timeoutMs} ms ` +
				`(it says "${await this.text(selector).catch(() => '?')}"; error: ` +
				`"${await this.error()}")`);
		}
		return this.text(selector);
	}

	async visible(selector) {
		return this.page.locator(selector).isVisible();
	}

	async waitVisible(selector, visible = true, timeoutMs = UI_TIMEOUT_MS) {
		await this.page.locator(selector).waitFor({ state: visible ? 'visible' : 'hidden', timeout: timeoutMs });
	}

	async error() {
		const el = this.page.locator('#error');
		return (await el.isVisible()) ? (await el.textContent()).trim() : '';
	}

	// Fills the account form (only the fields given; the rest keep what the
	// page prefilled) and presses Sign in.
	async signIn({ server, domain, user, password } = {}) {
		if (server !== undefined) await this.page.fill('#server', server);
		if (domain !== undefined) await this.page.fill('#domain', domain);
		if (user !== undefined) await this.page.fill('#user', user);
		if (password !== undefined) await this.page.fill('#password', password);
		await this.page.click('#sign-in');
	}

	async registered(timeoutMs = UI_TIMEOUT_MS) {
		await this.waitText('#connection-status', /^connected$/, timeoutMs);
		await this.waitText('#registration-status', /^registered$/, timeoutMs);
	}

	async signOut() {
		await this.page.click('#sign-out');
		await this.waitText('#registration-status', /^unregistered$/);
		await this.waitText('#connection-status', /^disconnected$/);
	}

	// Types the number with the dial pad's buttons (digits) or the keyboard
	// (anything else), then presses Call.
	async dial(number) {
		await this.page.fill('#number', '');
		if (/^[0-9*#]+$/.test(number)) {
			for (const d of number) await this.page.click(`#dialpad button[data-tone="${d}"]`);
		} else {
			await this.page.fill('#number', number);
		}
		await this.page.click('#call');
	}

	async inCall(timeoutMs = UI_TIMEOUT_MS) {
		await this.waitText('#call-status', /^in call with /, timeoutMs);
		await this.waitVisible('#in-call');
	}

	async idle(timeoutMs = UI_TIMEOUT_MS) {
		await this.waitText('#call-status', /^idle$/, timeoutMs);
	}

	async hangUp() {
		await this.page.click('#hangup');
	}

	// The incoming-call banner: waits for it, returns its text.
	async incoming(timeoutMs = UI_TIMEOUT_MS) {
		await this.waitVisible('#incoming', true, timeoutMs);
		return (await this.text('#incoming-text')).trim();
	}

	async accept() { await this.page.click('#accept'); }
	async reject() { await this.page.click('#reject'); }
	async mute() { await this.page.click('#mute'); }

	async hold() {
		await this.page.click('#hold');
		await this.waitText('#call-status', /^on hold with /);
	}

	async resume() {
		await this.page.click('#hold');
		await this.waitText('#call-status', /^in call with /);
	}

	async dtmf(tones) {
		for (const t of tones) await this.page.click(`#keypad button[data-tone="${t}"]`);
		await this.waitText('#dtmf-sent', new RegExp(`${tones.replace(/[*#]/g, '\\$&')}$`));
	}

	async transfer(target) {
		await this.page.fill('#transfer-target', target);
		await this.page.click('#transfer');
	}

	// The call log, newest first: [{peer, result, text}].
	callLog() {
		return this.page.$$eval('#call-log li', (items) => items.map((li) => ({
			peer: li.querySelector('.peer').textContent,
			result: li.dataset.result,
			text: li.textContent.replace(/\s+/g, ' ').trim(),
		})));
	}

	stats() {
		return this.page.evaluate(() => window.softphone.stats());
	}

	meters() {
		return this.page.evaluate(() => ({
			mic: document.getElementById('mic-level').value,
			remote: document.getElementById('remote-level').value,
		}));
	}

	// Polls stats() until check(stats) holds; throws with the last ones.
	async waitForStats(check, timeoutMs, what) {
		const deadline = Date.now() + timeoutMs;
		let last;
		for (;;) {
			last = await this.stats();
			if (last && check(last)) return last;
			if (Date.now() > deadline)
				throw new Error(`${this.name}: ${what}: not within ${timeoutMs} ms; last stats: ` +
					JSON.stringify(last));
			await new Promise((r) => setTimeout(r, 100));
		}
	}

	// Inbound audio: over `packets` packets with energy, then still growing.
	async hearsAudio(what, { packets = 50, timeoutMs = 5000 } = {}) {
		const first = await this.waitForStats((s) => s.inbound && s.inbound.packetsReceived > packets &&
			s.inbound.totalAudioEnergy > 0, timeoutMs, `${what}: audio arrives`);
		const later = await this.waitForStats((s) => s.inbound &&
			s.inbound.totalAudioEnergy > first.inbound.totalAudioEnergy &&
			s.inbound.packetsReceived > first.inbound.packetsReceived + packets / 2,
		timeoutMs, `${what}: audio keeps arriving`);
		if (!(later.outbound && later.outbound.packetsSent > packets))
			throw new Error(`${this.name}: ${what}: nothing sent: ${JSON.stringify(later)}`);
		return later;
	}

	async screenshot(file) {
		await this.page.screenshot({ path: file, fullPage: true });
	}

	close() {
		return this.page.close().catch(() => {});
	}
}

// Opens the daemon's softphone page (url: http://127.0.0.1:PORT/) in a new
// tab; resolves once its script is running.
async function openSoftphone(browser, url, name = 'page') {
	const page = await browser.open(url);
	await page.waitForFunction(() => window.softphone && window.softphone.ready, null,
		{ timeout: PAGE_READY_TIMEOUT_MS });
	return new Softphone(page, name);
}

module.exports = { Softphone, openSoftphone };
