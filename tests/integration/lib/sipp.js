'use strict';
// sipp as the PBX of a test: one scenario from tests/integration/sipp, one
// call (-m 1), on 127.0.0.1, over UDP (-t u1) or TCP (-t t1). Every message
// sipp sent and received is traced to a file and read back parsed, so a test
// can assert on the PBX leg (its Call-ID, Via, SDP, tags) as sipp saw it.
// The process is stopped by its pid.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseMessage } = require('./sip');

const SCENARIOS = path.join(__dirname, '..', 'sipp');

// Whether something on 127.0.0.1 is bound to port (UDP) or listening on it
// (TCP), from /proc: no probe packet or connection that sipp would see.
function isBound(port, proto) {
	const file = proto === 'tcp' ? '/proc/net/tcp' : '/proc/net/udp';
	const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
	let text;
	try {
		text = fs.readFileSync(file, 'utf8');
	} catch {
		return false;
	}
	return text.split('\n').some((line) => {
		const f = line.trim().split(/\s+/);
		return f[1] === local && (proto !== 'tcp' || f[3] === '0A');
	});
}

// The messages of a sipp -trace_msg file: [{dir: 'in'|'out', transport, msg}].
function parseTrace(text) {
	const out = [];
	const entries = text.split(/^-{20,}[^\n]*\n/m);
	for (const entry of entries) {
		const m = /^(UDP|TCP) message (received|sent) [^\n]*\n/.exec(entry);
		if (!m) continue;
		const raw = entry.slice(m[0].length).replace(/^\s*\n/, '').replace(/\r?\n/g, '\r\n');
		const msg = parseMessage(raw.includes('\r\n\r\n') ? raw : raw + '\r\n');
		if (!msg) continue;
		// the body as written ends at the Content-Length; the trace adds blank lines
		const len = Number((msg.headers.find(([h]) => h === 'content-length') || [])[1]);
		if (Number.isFinite(len)) msg.body = Buffer.from(msg.body).subarray(0, len).toString();
		out.push({ dir: m[2] === 'received' ? 'in' : 'out', transport: m[1], msg });
	}
	return out;
}

class Sipp {
	// scenario: file name in tests/integration/sipp; port: sipp's SIP port;
	// mediaPort: its RTP echo port (sipp also binds mediaPort + 2); transport
	// 'udp' or 'tcp'; remote: 'host:port' for a UAC scenario; args: more flags.
	constructor({ scenario, port, mediaPort, transport = 'udp', remote, args = [],
		timeoutS = 30 }) {
		this.scenario = scenario;
		this.port = port;
		this.transport = transport;
		const base = path.join(os.tmpdir(), `sipwire-sipp-${process.pid}-${port}-${Date.now()}`);
		this.traceFile = `${base}.msg`;
		this.errorFile = `${base}.err`;
		this.args = ['-sf', path.join(SCENARIOS, scenario), '-i', '127.0.0.1', '-p', String(port),
			'-mp', String(mediaPort), '-t', transport === 'tcp' ? 't1' : 'u1', '-m', '1',
			'-timeout', String(timeoutS), '-timeout_error', '-nostdin',
			'-trace_msg', '-message_file', this.traceFile,
			'-trace_err', '-error_file', this.errorFile, ...args];
		if (remote) this.args.push(remote);
		this.log = '';
		this.exit = null;
	}

	// Starts sipp; for a UAS resolves once its SIP port is bound.
	async start() {
		this.proc = spawn('sipp', this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
		this.done = new Promise((resolve) => {
			this.proc.on('exit', (code, signal) => {
				this.exit = { code, signal };
				resolve(this.exit);
			});
		});
		this.proc.stdout.on('data', (d) => { this.log += d; });
		this.proc.stderr.on('data', (d) => { this.log += d; });
		const deadline = Date.now() + 5000;
		while (!isBound(this.port, this.transport)) {
			if (this.exit) throw new Error(`sipp exited at start (${this.exit.code}):\n${this.log}`);
			if (Date.now() > deadline) throw new Error(`sipp did not bind ${this.port} in 5 s`);
			await new Promise((r) => setTimeout(r, 20));
		}
		return this;
	}

	// Waits for the end of the scenario (killing sipp after timeoutMs);
	// resolves with {code, errors: its error file, report: a summary}.
	async result(timeoutMs = 20000) {
		let timer;
		const exit = await Promise.race([this.done, new Promise((resolve) => {
			timer = setTimeout(() => resolve(null), timeoutMs);
		})]);
		clearTimeout(timer);
		if (!exit) await this.stop();
		const errors = this.errors();
		return { code: exit ? exit.code : null, errors,
			report: `sipp ${this.scenario} over ${this.transport}: ` +
				(exit ? `exit ${exit.code}` : `still running after ${timeoutMs} ms, killed`) +
				`\n--- sipp errors ---\n${errors}\n--- PBX leg ---\n${this.summary()}` };
	}

	errors() {
		try {
			return fs.readFileSync(this.errorFile, 'utf8');
		} catch {
			return '';
		}
	}

	messages() {
		try {
			return parseTrace(fs.readFileSync(this.traceFile, 'utf8'));
		} catch {
			return [];
		}
	}

	// Messages sipp received (dir 'in') or sent ('out'): a method name or a
	// status number.
	seen(dir, what) {
		return this.messages().filter((e) => e.dir === dir &&
			(typeof what === 'number' ? e.msg.status === what : e.msg.method === what)).map((e) => e.msg);
	}

	received(what) {
		return this.seen('in', what);
	}

	sent(what) {
		return this.seen('out', what);
	}

	// One line per message, for failure reports.
	summary() {
		return this.messages().map((e) => `${e.dir === 'in' ? '->' : '<-'} ${e.msg.startLine}`)
			.join('\n');
	}

	async stop() {
		if (this.proc && !this.exit) {
			this.proc.kill('SIGKILL');
			await this.done;
		}
	}

	cleanup() {
		for (const f of [this.traceFile, this.errorFile]) fs.rmSync(f, { force: true });
	}
}

async function startSipp(options) {
	return new Sipp(options).start();
}

module.exports = { Sipp, startSipp, parseTrace, isBound };
