'use strict';
// Starts the real sipwire binary on 127.0.0.1 for one test, and stops it by
// pid. The binary comes from SIPWIRE_BIN (set by ctest to the built target).
// Every start gets a fresh state directory; stderr is kept so a failing test
// can show what the daemon said.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const READY_TIMEOUT_MS = 15000; // the ASan build on a loaded 2-core machine starts slowly
const STOP_GRACE_MS = 5000;

// Lines a sanitizer prints when it found something; a clean stop has none.
const SANITIZER_REPORTS = [/ERROR: AddressSanitizer/, /ERROR: LeakSanitizer/, /runtime error:/];

function binaryPath() {
	const bin = process.env.SIPWIRE_BIN;
	if (!bin)
		throw new Error('SIPWIRE_BIN is not set: point it at the sipwire binary ' +
			'(ctest sets it to the built target)');
	if (!fs.existsSync(bin)) throw new Error(`SIPWIRE_BIN=${bin}: no such file`);
	return bin;
}

class Daemon {
	// options: ports {ws, wss, sip, tls} (0 or absent = off), realm, users
	// {name: password}, trunks {name: URI} (--trunk), trunkAuth {name:
	// 'user:password'} (--trunk-auth), routes ['PATTERN=TARGET'...] (--route),
	// set {key: value} for --set, logLevel, extraArgs, stateDir (default: a
	// fresh one, removed at stop).
	constructor(options) {
		this.options = options;
		this.ports = Object.assign({ ws: 0, wss: 0, sip: 0, tls: 0 }, options.ports);
		this.realm = options.realm || 'sipwire.test';
		this.stderr = '';
		this.proc = null;
		this.exit = null; // {code, signal} once it has exited
		this.stateDir = null;
		this.lineWaiters = [];
	}

	args() {
		const a = ['--bind', '127.0.0.1',
			'--ws-port', String(this.ports.ws), '--wss-port', String(this.ports.wss),
			'--sip-port', String(this.ports.sip), '--tls-port', String(this.ports.tls),
			'--state-dir', this.stateDir, '--realm', this.realm,
			'--log-level', this.options.logLevel || 'debug'];
		for (const [name, password] of Object.entries(this.options.users || {}))
			a.push('--user', `${name}:${password}`);
		for (const [name, uri] of Object.entries(this.options.trunks || {}))
			a.push('--trunk', `${name}=${uri}`);
		for (const [name, credentials] of Object.entries(this.options.trunkAuth || {}))
			a.push('--trunk-auth', `${name}=${credentials}`);
		for (const route of this.options.routes || [])
			a.push('--route', route);
		const set = Object.assign({ 'media.rtp_port_min': rtpRange().min,
			'media.rtp_port_max': rtpRange().max }, this.options.set || {});
		for (const [key, value] of Object.entries(set))
			a.push('--set', `${key}=${value}`);
		return a.concat(this.options.extraArgs || []);
	}

	async start() {
		// options.stateDir: a directory the test owns (kept after stop, e.g.
		// to start again with what the first run created).
		this.stateDir = this.options.stateDir ||
			fs.mkdtempSync(path.join(os.tmpdir(), 'sipwire-integ-'));
		// The daemon reads SIPWIRE_* variables as configuration and refuses
		// unknown ones (SIPWIRE_BIN among them): it gets only its flags.
		const env = Object.fromEntries(Object.entries(process.env)
			.filter(([name]) => !name.startsWith('SIPWIRE_')));
		this.proc = spawn(binaryPath(), this.args(), { env, stdio: ['ignore', 'ignore', 'pipe'] });
		this.exited = new Promise((resolve) => {
			this.proc.on('exit', (code, signal) => {
				this.exit = { code, signal };
				resolve(this.exit);
				this.failWaiters();
			});
		});
		this.proc.stderr.setEncoding('utf8');
		this.proc.stderr.on('data', (chunk) => {
			this.stderr += chunk;
			this.checkWaiters();
		});
		try {
			// the daemon's "running" line, in any log.format
			await this.waitForLog(/daemon\W+(msg\W+)?sipwire \S+ running/, READY_TIMEOUT_MS);
		} catch (err) {
			await this.kill();
			throw new Error(`sipwire did not start: ${err.message}\n--- stderr ---\n${this.stderr}`);
		}
		return this;
	}

	failWaiters() {
		// let the last stderr chunk arrive before giving up on a line
		setImmediate(() => {
			this.checkWaiters();
			for (const w of this.lineWaiters) {
				clearTimeout(w.timer);
				w.reject(new Error(`sipwire exited (${JSON.stringify(this.exit)})`));
			}
			this.lineWaiters = [];
		});
	}

	checkWaiters() {
		this.lineWaiters = this.lineWaiters.filter((w) => {
			const m = this.stderr.slice(w.from).match(w.pattern);
			if (!m) return true;
			clearTimeout(w.timer);
			w.resolve(m);
			return false;
		});
	}

	// Resolves with the match of pattern in stderr written after offset `from`
	// (default: anything so far); rejects after timeoutMs or when it exits.
	waitForLog(pattern, timeoutMs = 5000, from = 0) {
		return new Promise((resolve, reject) => {
			const waiter = { pattern, from, resolve, reject };
			waiter.timer = setTimeout(() => {
				this.lineWaiters = this.lineWaiters.filter((w) => w !== waiter);
				reject(new Error(`no ${pattern} in the daemon's log within ${timeoutMs} ms`));
			}, timeoutMs);
			this.lineWaiters.push(waiter);
			this.checkWaiters();
			if (this.exit && this.lineWaiters.includes(waiter)) {
				clearTimeout(waiter.timer);
				this.lineWaiters = this.lineWaiters.filter((w) => w !== waiter);
				reject(new Error(`sipwire exited (${JSON.stringify(this.exit)})`));
			}
		});
	}

	// Number of times pattern (a global RegExp) occurs in the log so far.
	countLog(pattern) {
		return (this.stderr.match(pattern) || []).length;
	}

	async kill() {
		if (this.proc && !this.exit) {
			this.proc.kill('SIGKILL');
			await this.exited;
		}
		this.cleanup();
	}

	cleanup() {
		if (this.stateDir && !this.options.stateDir)
			fs.rmSync(this.stateDir, { recursive: true, force: true });
		this.stateDir = null;
	}

	// SIGTERM, then wait up to withinMs for the exit. Throws (after SIGKILL)
	// when it does not stop in time, exits non-zero, or a sanitizer reported
	// anything; the message carries the daemon's stderr.
	async stop(withinMs = STOP_GRACE_MS) {
		if (!this.proc) return null;
		const started = Date.now();
		if (!this.exit) this.proc.kill('SIGTERM');
		let timer;
		const outcome = await Promise.race([
			this.exited,
			new Promise((resolve) => { timer = setTimeout(() => resolve(null), withinMs); }),
		]);
		clearTimeout(timer);
		const elapsedMs = Date.now() - started;
		if (!outcome) {
			await this.kill();
			throw new Error(`sipwire did not exit within ${withinMs} ms of SIGTERM; killed\n` +
				`--- stderr ---\n${this.stderr}`);
		}
		this.cleanup();
		const problems = [];
		if (outcome.code !== 0)
			problems.push(`exit status ${outcome.code} (signal ${outcome.signal})`);
		for (const report of SANITIZER_REPORTS)
			if (report.test(this.stderr)) problems.push(`sanitizer report ${report}`);
		if (problems.length)
			throw new Error(`sipwire stopped badly: ${problems.join(', ')}\n` +
				`--- stderr ---\n${this.stderr}`);
		return { elapsedMs, code: outcome.code };
	}
}

async function startDaemon(options) {
	const d = new Daemon(options);
	return d.start();
}

// Port numbers for one test file: a block of 100 per file (fileIndex 0..40;
// tests/e2e uses blocks 21, 22 and from 24 up), so files of one build run in parallel,
// inside a range chosen by the binary's path, so two builds' suites (release
// and sanitizer, or two engineers' build directories) running at once rarely
// meet. All below 32768, where Linux starts handing out ephemeral ports to
// clients.
const RANGE_BASE = 20000;
const RANGE_SIZE = 4100;
const RANGE_COUNT = 3;
// The daemons' RTP ports: a range per build as well, away from the blocks
// above (the daemon's default, 20000-29999, would take ports tests listen on).
const RTP_BASE = 33000;
const RTP_SIZE = 2000;

function rangeBase() {
	const key = process.env.SIPWIRE_BIN || '';
	let hash = 0;
	for (const ch of key) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
	return RANGE_BASE + (hash % RANGE_COUNT) * RANGE_SIZE;
}

function rtpRange() {
	const min = RTP_BASE + (rangeBase() - RANGE_BASE) / RANGE_SIZE * RTP_SIZE;
	return { min, max: min + RTP_SIZE - 1 };
}

function portAllocator(fileIndex) {
	if (!(fileIndex >= 0 && fileIndex < RANGE_SIZE / 100))
		throw new Error(`port block ${fileIndex}: files have blocks 0..${RANGE_SIZE / 100 - 1}`);
	const base = rangeBase() + 100 * fileIndex;
	let next = base;
	return (count = 1) => {
		const first = next;
		next += count;
		if (next > base + 100) throw new Error(`port range ${base}..${base + 99} used up`);
		return first;
	};
}

module.exports = { Daemon, startDaemon, portAllocator };
