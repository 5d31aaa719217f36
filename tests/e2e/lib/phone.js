'use strict';
// The Node side of pages/phone.js: one browser tab with the SIP.js phone,
// each call a page.evaluate on window.phone. Results are plain data.

const PAGE_READY_TIMEOUT_MS = 15000;

class Phone {
	constructor(page) {
		this.page = page;
	}

	// fn: a window.phone function name; args: JSON-serializable.
	run(fn, ...args) {
		return this.page.evaluate(([name, list]) => window.phone[name](...list), [fn, args]);
	}

	connect(wsUrl, user, password, domain, options = {}) {
		return this.run('connect', wsUrl, user, password, domain, options);
	}

	disconnect(options = {}) { return this.run('disconnect', options); }
	call(target, options = {}) { return this.run('call', target, options); }
	waitForIncoming(options = {}) { return this.run('waitForIncoming', options); }
	answer(options = {}) { return this.run('answer', options); }
	reject(statusCode) { return this.run('reject', statusCode); }
	hangup(options = {}) { return this.run('hangup', options); }
	hold(options = {}) { return this.run('hold', options); }
	unhold(options = {}) { return this.run('unhold', options); }
	restartIce(options = {}) { return this.run('restartIce', options); }
	sendDtmf(tone, options = {}) { return this.run('sendDtmf', tone, options); }
	stats() { return this.run('stats'); }
	status() { return this.run('status'); }

	// Polls stats() until check(stats) is truthy; resolves with those
	// stats, or throws after timeoutMs with the last ones.
	async waitForStats(check, timeoutMs, what, source = () => this.stats()) {
		const deadline = Date.now() + timeoutMs;
		let last;
		for (;;) {
			last = await source();
			if (check(last)) return last;
			if (Date.now() > deadline)
				throw new Error(`${what}: not within ${timeoutMs} ms; last stats:\n` +
					JSON.stringify(last, null, 1));
			await new Promise((r) => setTimeout(r, 100));
		}
	}

	close() {
		return this.page.close().catch(() => {});
	}
}

// Opens the phone page from the test HTTP server in a new tab of browser.
async function openPhone(browser, httpUrl) {
	const page = await browser.open(httpUrl);
	await page.waitForFunction(() => window.phone && window.phone.ready, null,
		{ timeout: PAGE_READY_TIMEOUT_MS });
	return new Phone(page);
}

module.exports = { Phone, openPhone };
