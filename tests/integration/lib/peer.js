'use strict';
// Runs the WebRTC test peer (tests/peer/webrtc_peer, from SIPWIRE_PEER_BIN,
// set by ctest to the built target) and reads the JSON report it prints on
// stdout at exit. Its stderr (progress lines) is kept for failing tests, and
// checked for sanitizer reports, so the sanitizer build checks the peer too.

const { spawn } = require('node:child_process');
const fs = require('node:fs');

const SANITIZER_REPORTS = [/ERROR: AddressSanitizer/, /ERROR: LeakSanitizer/, /runtime error:/];

function peerBinary() {
	const bin = process.env.SIPWIRE_PEER_BIN;
	if (!bin)
		throw new Error('SIPWIRE_PEER_BIN is not set: point it at tests/peer/webrtc_peer ' +
			'(ctest sets it to the built target)');
	if (!fs.existsSync(bin)) throw new Error(`SIPWIRE_PEER_BIN=${bin}: no such file`);
	return bin;
}

// Starts the peer with args (an array). Returns {done, waitForOutput, kill}:
// waitForOutput(pattern, timeoutMs) resolves with the match of pattern in
// its stderr (what it printed so far, or later); done resolves
// with {code, signal, report (the parsed JSON), stderr} once it exits, and
// rejects when it prints no JSON, reports a sanitizer finding, or outlives
// timeoutMs (then it is killed).
function startPeer(args, { timeoutMs = 30000 } = {}) {
	const proc = spawn(peerBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
	let stdout = '', stderr = '';
	proc.stdout.setEncoding('utf8');
	proc.stderr.setEncoding('utf8');
	proc.stdout.on('data', (chunk) => { stdout += chunk; });
	let waiters = [];
	const check = () => {
		waiters = waiters.filter((w) => {
			const m = stderr.match(w.pattern);
			if (!m) return true;
			clearTimeout(w.timer);
			w.resolve(m);
			return false;
		});
	};
	proc.stderr.on('data', (chunk) => {
		stderr += chunk;
		check();
	});
	const waitForOutput = (pattern, timeoutMs = 10000) => new Promise((resolve, reject) => {
		const w = { pattern, resolve };
		w.timer = setTimeout(() => {
			waiters = waiters.filter((x) => x !== w);
			reject(new Error(`webrtc_peer printed no ${pattern} within ${timeoutMs} ms\n` +
				`--- stderr ---\n${stderr}`));
		}, timeoutMs);
		waiters.push(w);
		check();
	});
	const done = new Promise((resolve, reject) => {
		const timer = setTimeout(() => {
			proc.kill('SIGKILL');
			reject(new Error(`webrtc_peer ${args.join(' ')} ran over ${timeoutMs} ms\n` +
				`--- stderr ---\n${stderr}`));
		}, timeoutMs);
		proc.on('error', (err) => { clearTimeout(timer); reject(err); });
		proc.on('close', (code, signal) => {
			clearTimeout(timer);
			for (const pattern of SANITIZER_REPORTS)
				if (pattern.test(stderr))
					return reject(new Error(`sanitizer report from webrtc_peer\n${stderr}`));
			let report;
			try {
				report = JSON.parse(stdout);
			} catch (err) {
				return reject(new Error(`webrtc_peer printed no JSON (${err.message}, exit ` +
					`${code} ${signal})\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
			}
			resolve({ code, signal, report, stderr });
		});
	});
	return { done, waitForOutput, kill: () => proc.kill('SIGKILL') };
}

function runPeer(args, options) {
	return startPeer(args, options).done;
}

module.exports = { startPeer, runPeer };
