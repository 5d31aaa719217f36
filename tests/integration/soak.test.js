'use strict';
// A soak: register, call and hang up without pause for SIPWIRE_SOAK_SECONDS
// (60 by default; 600 for a nightly run) against the daemon under test. Two
// loops run side by side: the WebRTC test peer registering and calling echo
// (ICE, DTLS-SRTP, media back, BYE, unregister), and a SIP client that
// connects, registers, calls echo with plain RTP and hangs up, every fourth
// time by dropping its WebSocket in the middle of the call instead. The
// daemon must serve every cycle, end with no call, registration or
// connection left, keep its resident memory steady (sampled from /proc after
// a warm-up and at the end), and, in the ASan build, exit without a leak
// report (lib/daemon.js fails the stop on one).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { runPeer } = require('./lib/peer');
const { connectClient, rtpSdp } = require('./lib/sip');

const nextPort = portAllocator(33);
const SECONDS = Number(process.env.SIPWIRE_SOAK_SECONDS || 60);
const USERS = { alice: 'alice-secret', bob: 'bob-secret' };
// Memory freed under ASan sits in its quarantine before it is reused: keep
// that small so the resident size shows what is live.
if (!/quarantine_size_mb/.test(process.env.ASAN_OPTIONS || ''))
	process.env.ASAN_OPTIONS = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=8']
		.filter(Boolean).join(':');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function rssKiB(pid) {
	const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
	return m ? Number(m[1]) : NaN;
}

function metrics(port) {
	return new Promise((resolve, reject) => {
		http.get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
			let body = '';
			res.setEncoding('utf8');
			res.on('data', (d) => { body += d; });
			res.on('end', () => resolve(body));
		}).on('error', reject);
	});
}

function metric(text, name) {
	let sum = 0, seen = false;
	for (const line of text.split('\n')) {
		if (line.startsWith(name + ' ') || line.startsWith(name + '{')) {
			sum += Number(line.slice(line.lastIndexOf(' ') + 1));
			seen = true;
		}
	}
	return seen ? sum : NaN;
}

test(`soak: ${SECONDS} s of register, call, hang up; no leak, steady memory`,
	{ timeout: (SECONDS + 120) * 1000 }, async (t) => {
	const wsPort = nextPort();
	const daemon = await startDaemon({ ports: { ws: wsPort }, users: USERS, logLevel: 'info' });
	let stopped = false;
	t.after(async () => {
		if (!stopped) await daemon.stop(15000);
	});
	const pid = daemon.proc.pid;
	const url = `ws://127.0.0.1:${wsPort}`;
	const deadline = Date.now() + SECONDS * 1000;
	// Warm-up: the first quarter (at least 30 s, at most 60 s) fills pools,
	// caches and the allocator's arenas, and reaches the steady number of
	// transactions and dialogs that linger after their calls (RFC 3261's
	// 64*T1 = 32 s); growth is measured after it.
	const warmupMs = Math.min(60000, Math.max(Math.min(30000, SECONDS * 500), SECONDS * 250));
	const samples = [];
	const sampler = setInterval(() => samples.push({ at: Date.now(), kib: rssKiB(pid) }), 1000);
	const counts = { peerCalls: 0, sipCalls: 0, dropped: 0 };
	const failures = [];

	const peerLoop = (async () => {
		while (Date.now() < deadline) {
			try {
				const { code, report } = await runPeer(['--call', 'echo', '--ws', url, '--user', 'alice',
					'--password', USERS.alice, '--packets', '25', '--timeout', '20000']);
				if (code !== 0 || !report.ok || report.echo.mismatches !== 0)
					failures.push(`peer: ${JSON.stringify(report.failures)}`);
				counts.peerCalls++;
			} catch (err) {
				failures.push(`peer: ${err.message.split('\n')[0]}`);
			}
		}
	})();

	const sipLoop = (async () => {
		for (let i = 0; Date.now() < deadline; i++) {
			try {
				const c = await connectClient(wsPort);
				const reg = await c.register({ user: 'bob', password: USERS.bob, expires: 300 });
				if (reg.final.status !== 200) throw new Error(`REGISTER ${reg.final.status}`);
				const call = c.invite('sip:echo@sipwire.test', { sdp: rtpSdp({ port: 41000 + (i % 500) * 2 }) });
				const res = await call.final();
				if (res.status !== 200) throw new Error(`INVITE ${res.status}`);
				if (i % 4 === 3) {
					// Gone mid-call: the gateway ends the call and the binding.
					c.ws.terminate();
					counts.dropped++;
				} else {
					const bye = await call.bye();
					if (bye.status !== 200) throw new Error(`BYE ${bye.status}`);
					// The binding ends with the connection.
					await c.close();
				}
				counts.sipCalls++;
				await sleep(10);
			} catch (err) {
				failures.push(`sip: ${err.message.split('\n')[0]}`);
			}
		}
	})();

	await Promise.all([peerLoop, sipLoop]);
	// Let the last BYEs, closes and media workers settle.
	await sleep(2000);
	clearInterval(sampler);
	samples.push({ at: Date.now(), kib: rssKiB(pid) });

	const m = await metrics(wsPort);
	const start = samples.find((s) => s.at >= samples[0].at + warmupMs) || samples[0];
	const end = samples[samples.length - 1];
	const peak = Math.max(...samples.map((s) => s.kib));
	const growth = end.kib - start.kib;
	t.diagnostic(`${counts.peerCalls} WebRTC calls, ${counts.sipCalls} SIP calls ` +
		`(${counts.dropped} dropped mid-call) in ${SECONDS} s; RSS ${start.kib} KiB after the warm-up, ` +
		`${end.kib} KiB at the end (${growth >= 0 ? '+' : ''}${growth} KiB), peak ${peak} KiB; ` +
		`every 5 s: ${samples.filter((_, i) => i % 5 === 0).map((s) => s.kib).join(' ')}`);

	assert.deepEqual(failures.slice(0, 5), [], `${failures.length} cycles failed`);
	assert.ok(counts.peerCalls >= Math.max(1, SECONDS / 10), `only ${counts.peerCalls} WebRTC calls`);
	assert.ok(counts.sipCalls >= Math.max(1, SECONDS / 2), `only ${counts.sipCalls} SIP calls`);
	assert.equal(metric(m, 'sipwire_calls_active'), 0, 'calls left');
	assert.equal(metric(m, 'sipwire_registrations'), 0, 'registrations left');
	assert.equal(metric(m, 'sipwire_ws_connections'), 0, 'WebSocket connections left');
	assert.ok(metric(m, 'sipwire_calls_answered_total') >= counts.peerCalls + counts.sipCalls);
	// Steady: what the steady phase added is bounded by a fixed allowance
	// for allocator noise plus 10% of the size after the warm-up.
	const allowance = 8192 + Math.round(start.kib / 10);
	assert.ok(growth <= allowance,
		`RSS grew ${growth} KiB after the warm-up (allowed ${allowance}); ` +
		`samples: ${samples.filter((_, i) => i % 5 === 0).map((s) => s.kib).join(' ')}`);

	// The exit: no sanitizer report (LeakSanitizer runs at exit in the ASan
	// build), status 0.
	stopped = true;
	await daemon.stop(15000);
});
