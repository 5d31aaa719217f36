'use strict';
// Things that arrive (frames, datagrams, requests in a call) and the tests
// that wait for them: next(match) takes the first item that matches, now or
// when it comes, or rejects after a timeout; once fail(err) is called,
// waiting ends with err.

class Mailbox {
	constructor() {
		this.items = [];
		this.waiters = [];
		this.error = null;
	}

	push(item) {
		this.items.push(item);
		this.flush();
	}

	flush() {
		this.waiters = this.waiters.filter((w) => {
			const i = this.items.findIndex(w.match);
			if (i >= 0) {
				const [item] = this.items.splice(i, 1);
				clearTimeout(w.timer);
				w.resolve(item);
				return false;
			}
			if (this.error) {
				clearTimeout(w.timer);
				w.reject(new Error(`${this.error.message} while waiting for ${w.what}`));
				return false;
			}
			return true;
		});
	}

	// orNull: resolve with null on the timeout instead of rejecting.
	next(match, timeoutMs, what, orNull = false) {
		return new Promise((resolve, reject) => {
			const w = { match, resolve, reject, what };
			w.timer = setTimeout(() => {
				this.waiters = this.waiters.filter((x) => x !== w);
				if (orNull) resolve(null);
				else reject(new Error(`no ${what} within ${timeoutMs} ms`));
			}, timeoutMs);
			this.waiters.push(w);
			this.flush();
		});
	}

	// Nothing more will come: waiters and later next() calls reject.
	fail(err) {
		this.error = err;
		this.flush();
	}
}

module.exports = { Mailbox };
