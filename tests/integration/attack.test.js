'use strict';
// Attacks against the running daemon, each from its own loopback address
// (127.0.0.2 and up) while a well-behaved client on 127.0.0.1 (exempt from the
// per-address limits) keeps sending OPTIONS and makes an echo call: a
// connection flood, a request flood, a REGISTER brute force, oversize
// messages, slow clients (a byte a second, before and after the WebSocket
// handshake, and on the SIP TCP port), half-open connections, and SIP from
// an address that is no trunk. Each checks the gateway's answer, that the
// good client was served throughout, and the daemon's log line.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const dgram = require('node:dgram');
const http = require('node:http');
const net = require('node:net');
const WebSocket = require('ws');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { startPeer } = require('./lib/peer');
const { SipWsClient, connectClient, parseMessage, header, randomToken } = require('./lib/sip');

const nextPort = portAllocator(32);
const USERS = { alice: 'alice-secret', bob: 'bob-secret' };
const LIMITS = {
	'limits.exempt': '127.0.0.1',
	'limits.connections_per_second': 5, // a burst of 10
	'limits.connections_per_address': 8,
	'limits.requests_per_second': 20, // a burst of 40
	'limits.handshake_timeout': 2,
	'limits.message_timeout': 2,
	'ws.ping_interval': 1,
	'ws.idle_timeout': 3,
	'auth.max_failures': 5,
	'auth.failure_window': 60,
	'sip.accept_from': 'trunks',
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// OPTIONS every 50 ms from a client the limits do not touch, until stop():
// every one must be answered 200, none slowly.
function startMonitor(client) {
	const rtts = [];
	const failures = [];
	let running = true;
	const loop = (async () => {
		while (running) {
			const t0 = process.hrtime.bigint();
			try {
				const res = await client.options();
				if (res.status !== 200) failures.push(`status ${res.status}`);
				else rtts.push(Number(process.hrtime.bigint() - t0) / 1e6);
			} catch (err) {
				failures.push(err.message);
			}
			await sleep(50);
		}
	})();
	return {
		async stop() {
			running = false;
			await loop;
			rtts.sort((a, b) => a - b);
			return { rtts, failures, max: rtts[rtts.length - 1], median: rtts[rtts.length >> 1] };
		},
	};
}

// Runs fn while the monitor measures; asserts the good client was served.
async function duringAttack(monitorClient, name, fn) {
	const monitor = startMonitor(monitorClient);
	try {
		await fn();
	} finally {
		const m = await monitor.stop();
		assert.equal(m.failures.length, 0, `${name}: the good client failed: ${m.failures.join('; ')}`);
		assert.ok(m.rtts.length >= 1, `${name}: no OPTIONS round trip`);
		assert.ok(m.max < 2000, `${name}: an OPTIONS took ${m.max} ms`);
		test.diagnostic?.(`${name}: ${m.rtts.length} OPTIONS, median ${m.median.toFixed(1)} ms, ` +
			`max ${m.max.toFixed(1)} ms`);
	}
}

// A TCP connection from `from`; resolves with {socket, closed} once connected,
// closed resolving with {ms: how long after connecting, data: bytes received}.
function rawConnect(port, from) {
	return new Promise((resolve, reject) => {
		const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
		let data = Buffer.alloc(0);
		let connectedAt = 0;
		const closed = new Promise((res) => {
			socket.on('close', () => res({ ms: Date.now() - connectedAt, data }));
		});
		socket.on('data', (d) => { data = Buffer.concat([data, d]); });
		socket.on('error', () => {});
		socket.once('connect', () => {
			connectedAt = Date.now();
			resolve({ socket, closed, received: () => data });
		});
		socket.once('error', reject);
	});
}

function withTimeout(promise, ms, what) {
	let timer;
	return Promise.race([promise, new Promise((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
	})]).finally(() => clearTimeout(timer));
}

// One SIP request over UDP from `from`; resolves with the parsed response or
// null when none came within timeoutMs.
function udpRequest(port, from, text, timeoutMs = 2000) {
	return new Promise((resolve) => {
		const sock = dgram.createSocket('udp4');
		const timer = setTimeout(() => { sock.close(); resolve(null); }, timeoutMs);
		sock.on('message', (msg) => {
			clearTimeout(timer);
			sock.close();
			resolve(parseMessage(msg));
		});
		sock.bind(0, from, () => sock.send(text, port, '127.0.0.1'));
	});
}

function sipRequest(method, { from, port, transport = 'UDP', body = '' }) {
	const branch = 'z9hG4bK' + randomToken(8);
	const uri = method === 'OPTIONS' ? 'sip:127.0.0.1' : 'sip:echo@127.0.0.1';
	return [
		`${method} ${uri} SIP/2.0`,
		`Via: SIP/2.0/${transport} ${from}:${port};branch=${branch};rport`,
		'Max-Forwards: 70',
		'To: <sip:echo@127.0.0.1>',
		`From: <sip:scanner@${from}>;tag=${randomToken(4)}`,
		`Call-ID: ${randomToken(10)}`,
		`CSeq: 1 ${method}`,
		`Contact: <sip:scanner@${from}:${port}>`,
		`Content-Length: ${Buffer.byteLength(body)}`,
		'', body,
	].join('\r\n');
}

test('the gateway under attack keeps serving a well-behaved client', async (t) => {
	const wsPort = nextPort(), sipPort = nextPort(), trunkPort = nextPort();
	const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS,
		trunks: { pbx: `sip:127.0.0.1:${trunkPort}` }, routes: ['echo=echo', '9=pbx'], set: LIMITS,
		logLevel: 'info' });
	const good = await connectClient(wsPort);
	t.after(async () => {
		await good.close();
		await daemon.stop();
	});
	const reg = await good.register({ user: 'alice', password: USERS.alice });
	assert.equal(reg.final.status, 200);
	const url = `ws://127.0.0.1:${wsPort}/`;

	await t.test('connection flood: over 5 a second and 8 open per address are refused', async () => {
		const from = '127.0.0.2';
		await duringAttack(good, 'connection flood', async () => {
			// An echo call runs through the flood.
			const peer = startPeer(['--call', 'echo', '--ws', url, '--user', 'bob',
				'--password', USERS.bob, '--timeout', '20000']);
			const attempts = await Promise.all(Array.from({ length: 60 }, async () => {
				const c = new SipWsClient(url, { ws: { localAddress: from } });
				try {
					await c.connect();
					return c;
				} catch {
					return null;
				}
			}));
			const opened = attempts.filter(Boolean);
			await sleep(500);
			const stillOpen = opened.filter((c) => !c.closed);
			const closedPolicy = opened.filter((c) => c.closed && c.closed.code === 1008);
			assert.ok(opened.length <= 12, `${opened.length} of 60 got through the handshake`);
			assert.ok(stillOpen.length <= 8, `${stillOpen.length} stayed open`);
			assert.equal(closedPolicy.length, opened.length - stillOpen.length,
				'those over the limit were closed with 1008');
			for (const c of opened) await c.close();
			const { code, report } = await peer.done;
			assert.equal(report.invite.status, 200, JSON.stringify(report));
			assert.equal(report.echo.mismatches, 0, JSON.stringify(report));
			assert.ok(report.echo.returned >= 0.9 * report.echo.expected, JSON.stringify(report));
			assert.equal(code, 0);
		});
		await daemon.waitForLog(/WS 127\.0\.0\.2:\d+: connection refused: over limits\.connections_per_second \(5 a second\)/);
		if (daemon.countLog(/limits\.connections_per_address/g) === 0)
			assert.fail('no log line for the connections over the per-address limit');
		// Logged at most once a second per address, with a count of the rest.
		assert.ok(daemon.countLog(/\[limits\] WS 127\.0\.0\.2/g) <= 6,
			`${daemon.countLog(/\[limits\] WS 127\.0\.0\.2/g)} log lines for one flood`);
	});

	await t.test('request flood: over 20 a second get 503 with Retry-After', async () => {
		const flooder = new SipWsClient(url, { ws: { localAddress: '127.0.0.3' } });
		await flooder.connect();
		await duringAttack(good, 'request flood', async () => {
			const results = await Promise.all(Array.from({ length: 150 }, () => flooder.options()));
			const ok = results.filter((r) => r.status === 200).length;
			const limited = results.filter((r) => r.status === 503);
			assert.ok(ok >= 40 && ok <= 50, `${ok} answered 200`);
			assert.equal(ok + limited.length, 150);
			assert.equal(limited[0].reason, 'Too Many Requests');
			assert.equal(header(limited[0], 'retry-after'), '1');
		});
		await flooder.close();
		await daemon.waitForLog(/WS 127\.0\.0\.3:\d+: refused a request: over limits\.requests_per_second/);
	});

	await t.test('REGISTER brute force: banned after 5 failures, logged without secrets', async () => {
		const attacker = new SipWsClient(url, { ws: { localAddress: '127.0.0.4' } });
		await attacker.connect();
		const guesses = [];
		let last;
		await duringAttack(good, 'brute force', async () => {
			for (let i = 0; i < 8; i++) {
				const guess = `guess-${i}-${randomToken(3)}`;
				guesses.push(guess);
				last = (await attacker.register({ user: 'alice', password: guess })).final;
				if (last.status === 403) break;
			}
		});
		assert.equal(last.status, 403);
		assert.equal(last.reason, 'Too Many Failed Attempts');
		assert.equal(guesses.length, 6, 'five failures, then the ban');
		// The right password from the banned address is refused too...
		const again = await attacker.register({ user: 'alice', password: USERS.alice });
		assert.equal(again.final.status, 403);
		await attacker.close();
		// ...but the user is not locked out from elsewhere.
		const elsewhere = await connectClient(wsPort);
		assert.equal((await elsewhere.register({ user: 'alice', password: USERS.alice })).final.status, 200);
		await elsewhere.close();
		await daemon.waitForLog(/authentication failed for user 'alice' from 127\.0\.0\.4: .*; source blocked/);
		await daemon.waitForLog(/REGISTER from 127\.0\.0\.4 refused: too many failed attempts/);
		for (const g of guesses)
			assert.ok(!daemon.stderr.includes(g), 'a guessed password is in the log');
		assert.ok(!/response="/.test(daemon.stderr), 'a digest response is in the log');
	});

	await t.test('oversize messages: 1009 for a WebSocket message, 400 for too many headers', async () => {
		await duringAttack(good, 'oversize', async () => {
			const big = new SipWsClient(url, { ws: { localAddress: '127.0.0.5' } });
			await big.connect();
			big.send('OPTIONS sip:x SIP/2.0\r\n' + 'X: ' + 'a'.repeat(70000) + '\r\n\r\n');
			assert.equal((await big.waitClose(3000)).code, 1009);
			// The same in fragments of 30,000 bytes.
			const frag = new SipWsClient(url, { ws: { localAddress: '127.0.0.5' } });
			await frag.connect();
			for (let i = 0; i < 3; i++) frag.ws.send('b'.repeat(30000), { fin: i === 2 });
			assert.equal((await frag.waitClose(3000)).code, 1009);
			const many = new SipWsClient(url, { ws: { localAddress: '127.0.0.5' } });
			await many.connect();
			const extra = Array.from({ length: 200 }, (_, i) => `X-Filler-${i}: ${i}`);
			const res = await many.request({ method: 'OPTIONS', uri: 'sip:sipwire.test',
				to: 'sip:sipwire.test', extra });
			assert.equal(res.status, 400);
			assert.equal(res.reason, 'Too many header fields');
			await many.close();
		});
		await daemon.waitForLog(/127\.0\.0\.5:\d+: message over 65536 bytes; closing with 1009/);
		await daemon.waitForLog(/127\.0\.0\.5:\d+: answered 400 Too many header fields/);
	});

	await t.test('slow clients: a byte a second is cut, before and after the handshake', async () => {
		await duringAttack(good, 'slow clients', async () => {
			// Before: an HTTP upgrade request a byte a second.
			const pre = await rawConnect(wsPort, '127.0.0.6');
			const request = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n`;
			let i = 0;
			const dribble = setInterval(() => {
				if (!pre.socket.destroyed && i < request.length) pre.socket.write(request[i++]);
			}, 1000);
			const cut = await withTimeout(pre.closed, 8000, 'the slow handshake')
				.finally(() => { clearInterval(dribble); pre.socket.destroy(); });
			assert.ok(cut.ms >= 1500 && cut.ms < 6000, `cut after ${cut.ms} ms`);

			// After: a handshake, then a 1,000-byte frame a byte a second,
			// Pings unanswered (the frame is never done).
			const post = await rawConnect(wsPort, '127.0.0.6');
			const key = crypto.randomBytes(16).toString('base64');
			post.socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${wsPort}\r\nUpgrade: websocket\r\n` +
				`Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
				'Sec-WebSocket-Protocol: sip\r\n\r\n');
			for (let k = 0; k < 40 && !post.received().includes('\r\n\r\n'); k++) await sleep(50);
			assert.match(post.received().toString('latin1'), /^HTTP\/1\.1 101/);
			const upgraded = Date.now();
			post.socket.write(Buffer.from([0x81, 0xfe, 0x03, 0xe8, 1, 2, 3, 4]));
			const trickle = setInterval(() => {
				if (!post.socket.destroyed) post.socket.write(Buffer.from([0x41]));
			}, 1000);
			const ended = await withTimeout(post.closed, 10000, 'the slow frame')
				.finally(() => { clearInterval(trickle); post.socket.destroy(); });
			assert.match(ended.data.toString('latin1'), /^HTTP\/1\.1 101/);
			const after = Date.now() - upgraded;
			assert.ok(after < 7000, `cut ${after} ms after the upgrade`);

			// The SIP TCP port (from the trunk's address: strangers are
			// not even accepted): a partial message for more than 2 s.
			const tcp = await rawConnect(sipPort, '127.0.0.1');
			const opts = sipRequest('OPTIONS', { from: '127.0.0.1', port: 5099, transport: 'TCP' });
			let j = 0;
			const drip = setInterval(() => {
				if (!tcp.socket.destroyed && j < opts.length) tcp.socket.write(opts[j++]);
			}, 500);
			const gone = await withTimeout(tcp.closed, 8000, 'the slow SIP message')
				.finally(() => { clearInterval(drip); tcp.socket.destroy(); });
			assert.ok(gone.ms >= 2000 && gone.ms < 6000, `cut after ${gone.ms} ms`);
		});
		await daemon.waitForLog(/TCP 127\.0\.0\.1:\d+: a message still incomplete after 2 s/);
		await daemon.waitForLog(/\[ws\] 127\.0\.0\.6:\d+: no whole HTTP request in \d+ ms: closed \(limits\.handshake_timeout\)/);
		await daemon.waitForLog(/WS 127\.0\.0\.6:\d+ #\d+: nothing heard for \d+ s, not even a Pong: closed/);
	});

	await t.test('half-open connections: silent sockets and unanswered Pings are closed', async () => {
		await duringAttack(good, 'half-open', async () => {
			// Sockets that never say anything.
			const silent = await Promise.all(Array.from({ length: 6 },
				() => rawConnect(wsPort, '127.0.0.7')));
			const closes = await withTimeout(Promise.all(silent.map((s) => s.closed)), 8000,
				'the silent sockets').finally(() => silent.forEach((s) => s.socket.destroy()));
			for (const c of closes) assert.ok(c.ms < 6000, `a silent socket lived ${c.ms} ms`);
			// A WebSocket whose peer vanished: nothing answers the Pings.
			const ghost = new SipWsClient(url, { ws: { localAddress: '127.0.0.7', autoPong: false } });
			await ghost.connect();
			const t0 = Date.now();
			await ghost.waitClose(8000);
			assert.ok(ghost.pings >= 1, 'it was pinged');
			assert.ok(Date.now() - t0 < 7000);
		});
		assert.ok(daemon.countLog(/\[ws\] 127\.0\.0\.7:\d+: no whole HTTP request in \d+ ms: closed/g) >= 6,
			'the silent sockets were logged');
		await daemon.waitForLog(/WS 127\.0\.0\.7:\d+ #\d+: nothing heard for \d+ s, not even a Pong: closed \(ws\.idle_timeout\)/);
	});

	await t.test('SIP from an address that is no trunk: 403 over UDP, TCP refused', async () => {
		await duringAttack(good, 'stranger', async () => {
			const stranger = '127.0.0.8';
			const res = await udpRequest(sipPort, stranger,
				sipRequest('OPTIONS', { from: stranger, port: 5060 }));
			assert.ok(res, 'no answer to the stranger');
			assert.equal(res.status, 403);
			assert.equal(res.reason, 'Not A Trunk');
			const inv = await udpRequest(sipPort, stranger,
				sipRequest('INVITE', { from: stranger, port: 5060 }));
			assert.equal(inv.status, 403);
			// A TCP connection from it is closed before anything is read.
			const conn = await rawConnect(sipPort, stranger);
			conn.socket.write(sipRequest('OPTIONS', { from: stranger, port: 5060, transport: 'TCP' }));
			const closed = await withTimeout(conn.closed, 3000, 'the stranger\'s TCP connection')
				.finally(() => conn.socket.destroy());
			assert.equal(closed.data.length, 0);
			// The trunk's own address is served.
			const ok = await udpRequest(sipPort, '127.0.0.1',
				sipRequest('OPTIONS', { from: '127.0.0.1', port: trunkPort }));
			assert.equal(ok.status, 200);
		});
		await daemon.waitForLog(/UDP 127\.0\.0\.8:\d+: refused: not a trunk address/);
		await daemon.waitForLog(/TCP 127\.0\.0\.8:\d+: connection refused: not a trunk address/);
	});

	// Nothing above disturbed the good client's registration.
	const res = await good.options();
	assert.equal(res.status, 200);

	await t.test('/metrics counts the refusals by reason', async () => {
		const text = await new Promise((resolve, reject) => {
			http.get({ host: '127.0.0.1', port: wsPort, path: '/metrics' }, (r) => {
				let body = '';
				r.setEncoding('utf8');
				r.on('data', (d) => { body += d; });
				r.on('end', () => resolve(body));
			}).on('error', reject);
		});
		const count = (reason) => Number((text.match(new RegExp(
			`^sipwire_limits_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm')) || [])[1]);
		assert.ok(count('connections') >= 40, text);
		assert.ok(count('requests') >= 100, text);
		assert.ok(count('not_a_trunk') >= 3, text);
		assert.match(text, /^sipwire_auth_refused_total [1-9]/m);
	});
});
