'use strict';
// Metrics and logs of real calls. /metrics is valid exposition format and
// its figures move with a WebRTC call through a PBX; metrics.allow limits
// who reads it. Logs: every line of log.format json is
// one JSON object and every line of logfmt parses as key=value pairs, a
// call's lines carry its id in "call", and nothing logged — at debug level,
// through a digest REGISTER and a call whose PBX challenges the gateway —
// holds a password, an HA1 or a digest response.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { startSipp } = require('./lib/sipp');
const { connectClient, header, rtpSdp, parseChallenge, md5 } = require('./lib/sip');
const { httpRequest } = require('./lib/http');
const { startPeer } = require('./lib/peer');

const nextPort = portAllocator(30);
const USERS = { alice: 'alice-Pw-7f3e9' };
const TRUNK_USER = 'pbxuser', TRUNK_PASSWORD = 'pbx-Pw-51c2d';
const REALM = 'sipwire.test';

// A WebSocket client whose sent frames are kept.
async function recordingClient(port) {
	const client = await connectClient(port);
	client.sentFrames = [];
	const send = client.ws.send.bind(client.ws);
	client.ws.send = (data, ...rest) => {
		client.sentFrames.push(String(data));
		return send(data, ...rest);
	};
	return client;
}

// Parses one logfmt line: key=value or key="quoted \"value\"".
function parseLogfmt(line) {
	const out = {};
	const re = /([a-z_]+)=("((?:[^"\\]|\\.)*)"|[^ ]*)( |$)/y;
	let m;
	while (re.lastIndex < line.length && (m = re.exec(line)))
		out[m[1]] = m[3] !== undefined ? JSON.parse(`"${m[3]}"`) : m[2];
	if (re.lastIndex !== line.length && line.length) return null;
	return out;
}

// A registered browser calls a PBX (sipp) that challenges the gateway's
// INVITE with 407; returns what was said on both sides.
async function authenticatedCall(t, format) {
	const ws = nextPort(), sip = nextPort(), pbxPort = nextPort(), media = nextPort(3);
	const daemon = await startDaemon({ ports: { ws, sip }, users: USERS, realm: REALM,
		trunks: { pbx: `sip:127.0.0.1:${pbxPort}` },
		trunkAuth: { pbx: `${TRUNK_USER}:${TRUNK_PASSWORD}` }, routes: ['9=pbx'],
		extraArgs: ['--log-format', format] });
	t.after(() => daemon.kill());
	const sipp = await startSipp({ scenario: 'uas_auth.xml', port: pbxPort, mediaPort: media,
		transport: 'udp' });
	t.after(async () => { await sipp.stop(); sipp.cleanup(); });
	const alice = await recordingClient(ws);
	t.after(() => alice.ws.terminate());
	const { final } = await alice.register({ user: 'alice', password: USERS.alice });
	assert.equal(final.status, 200, final.raw);
	const call = alice.invite('sip:9100@127.0.0.1', { sdp: rtpSdp({ port: nextPort() }) });
	const answer = await call.final(10000);
	assert.equal(answer.status, 200, answer.raw);
	assert.equal((await call.bye()).status, 200);
	const r = await sipp.result();
	assert.equal(r.code, 0, r.report);
	await daemon.waitForLog(/"cdr"|subsys=cdr/);
	await daemon.stop();

	const secrets = [USERS.alice, TRUNK_PASSWORD, md5(`alice:${REALM}:${USERS.alice}`)];
	for (const frame of alice.sentFrames) {
		const m = frame.match(/response="([0-9a-f]+)"/);
		if (m) secrets.push(m[1]);
	}
	const [, second] = sipp.received('INVITE');
	const pa = parseChallenge(header(second, 'proxy-authorization'));
	secrets.push(pa.response, md5(`${TRUNK_USER}:${pa.realm}:${TRUNK_PASSWORD}`));
	assert.ok(secrets.length >= 6, 'the REGISTER and the INVITE were answered with digests');
	return { daemon, call, secrets };
}

function assertNoSecrets(daemon, secrets) {
	for (const secret of secrets)
		assert.ok(!daemon.stderr.includes(secret),
			`the log holds a secret (${secret.slice(0, 4)}...):\n` +
			daemon.stderr.split('\n').filter((l) => l.includes(secret)).join('\n'));
}

test('log.format json: one object per line, call lines carry the call id, no secrets',
	async (t) => {
		const { daemon, call, secrets } = await authenticatedCall(t, 'json');
		const lines = daemon.stderr.split('\n').filter((l) => l.length);
		assert.ok(lines.length > 10, daemon.stderr);
		const entries = lines.map((l) => {
			try { return JSON.parse(l); } catch (err) { assert.fail(`not JSON: ${l}`); }
			return null;
		});
		for (const e of entries) {
			assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
			assert.ok(['error', 'warn', 'info', 'debug'].includes(e.level), JSON.stringify(e));
			assert.ok(e.subsys, JSON.stringify(e));
			assert.ok(typeof e.msg === 'string' || typeof e.cdr === 'object', JSON.stringify(e));
		}
		const cdr = entries.find((e) => e.subsys === 'cdr' && e.cdr.a_call_id === call.callId);
		assert.ok(cdr, 'the call detail line as an object');
		const id = cdr.call;
		assert.match(id, /^c[0-9a-f]+$/);
		const callLines = entries.filter((e) => e.subsys === 'call');
		assert.ok(callLines.length >= 2, 'the call logged its progress');
		for (const e of callLines) assert.equal(e.call, id, JSON.stringify(e));
		assert.ok(!callLines.some((e) => e.msg.startsWith(`${id}:`)), 'the id moved to "call"');
		assertNoSecrets(daemon, secrets);
	});

test('log.format logfmt: key=value lines, call lines carry the call id, no secrets',
	async (t) => {
		const { daemon, secrets } = await authenticatedCall(t, 'logfmt');
		const lines = daemon.stderr.split('\n').filter((l) => l.length);
		const entries = lines.map((l) => {
			const e = parseLogfmt(l);
			assert.ok(e && e.time && e.level && e.subsys && e.msg !== undefined, `not logfmt: ${l}`);
			return e;
		});
		const cdr = entries.find((e) => e.subsys === 'cdr');
		assert.ok(cdr && cdr.call, 'the call detail line with its call');
		assert.equal(JSON.parse(cdr.msg).call, cdr.call);
		for (const e of entries.filter((x) => x.subsys === 'call'))
			assert.equal(e.call, cdr.call, JSON.stringify(e));
		assertNoSecrets(daemon, secrets);
	});

// Parses a Prometheus text exposition (format 0.0.4) strictly: every sample
// belongs to a family announced by # HELP and # TYPE, counters end in
// _total, histograms have cumulative _bucket{le} lines ending at +Inf equal
// to _count, and a _sum. Returns {families, value(name, labels)}.
function parseExposition(text) {
	assert.ok(text.endsWith('\n'), 'ends with a newline');
	const families = new Map();
	let current = null;
	for (const line of text.split('\n').slice(0, -1)) {
		let m;
		if ((m = line.match(/^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/))) {
			assert.ok(!families.has(m[1]), `${m[1]} announced twice`);
			current = { name: m[1], help: m[2], type: null, samples: [] };
			families.set(m[1], current);
		} else if ((m = line.match(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/))) {
			assert.ok(current && current.name === m[1] && !current.type, `TYPE after HELP: ${line}`);
			current.type = m[2];
			if (m[2] === 'counter') assert.match(m[1], /_total$/, 'a counter ends in _total');
		} else if ((m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/))) {
			assert.ok(current && current.type, `a sample before its TYPE: ${line}`);
			const suffix = current.type === 'histogram' ? /^(.*)_(bucket|sum|count)$/ : null;
			const base = suffix ? (m[1].match(suffix) || [])[1] : m[1];
			assert.equal(base, current.name, `a sample of another family: ${line}`);
			const labels = {};
			if (m[3]) {
				const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
				let l;
				while (re.lastIndex < m[3].length && (l = re.exec(m[3]))) labels[l[1]] = l[2];
				assert.equal(re.lastIndex, m[3].length, `labels: ${line}`);
			}
			const value = Number(m[4]);
			assert.ok(!Number.isNaN(value), `value: ${line}`);
			current.samples.push({ name: m[1], labels, value });
		} else {
			assert.fail(`not exposition format: ${JSON.stringify(line)}`);
		}
	}
	for (const f of families.values()) {
		if (f.type !== 'histogram') continue;
		const buckets = f.samples.filter((s) => s.name === `${f.name}_bucket`);
		assert.ok(buckets.length >= 2, `${f.name} buckets`);
		for (let i = 1; i < buckets.length; i++)
			assert.ok(buckets[i].value >= buckets[i - 1].value, `${f.name} cumulative`);
		const last = buckets[buckets.length - 1];
		assert.equal(last.labels.le, '+Inf');
		const count = f.samples.find((s) => s.name === `${f.name}_count`);
		assert.ok(count && f.samples.find((s) => s.name === `${f.name}_sum`), `${f.name} sum/count`);
		assert.equal(last.value, count.value, `${f.name}: +Inf bucket = count`);
	}
	const value = (name, labels = {}) => {
		for (const f of families.values())
			for (const s of f.samples)
				if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
					return s.value;
		return undefined;
	};
	return { families, value };
}

async function scrape(port) {
	const res = await httpRequest(port, '/metrics');
	assert.equal(res.status, 200, res.body);
	assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
	return parseExposition(res.body);
}

test('/metrics: valid exposition format that moves with a real WebRTC call through a PBX',
	async (t) => {
		const ws = nextPort(), sip = nextPort(), pbxPort = nextPort(), media = nextPort(3);
		const sipp = await startSipp({ scenario: 'uas_answer.xml', port: pbxPort, mediaPort: media,
			args: ['-rtp_echo'] });
		t.after(async () => { await sipp.stop(); sipp.cleanup(); });
		const daemon = await startDaemon({ ports: { ws, sip }, users: USERS,
			trunks: { pbx: `sip:127.0.0.1:${pbxPort}` }, routes: ['9=pbx'] });
		t.after(() => daemon.kill());

		const before = await scrape(ws);
		for (const name of ['sipwire_ws_connections', 'sipwire_registrations', 'sipwire_calls_active',
			'sipwire_calls_ended_total', 'sipwire_sip_transactions', 'sipwire_sip_retransmissions_total',
			'sipwire_auth_failures_total', 'sipwire_ice_connect_seconds', 'sipwire_dtls_failures_total',
			'sipwire_media_packets_total', 'sipwire_media_bytes_total',
			'sipwire_media_dropped_packets_total', 'sipwire_media_relay_seconds',
			'sipwire_media_worker_busy_seconds_total'])
			assert.ok(before.families.has(name), `${name} is exposed`);
		assert.equal(before.value('sipwire_calls_active'), 0);
		assert.equal(before.value('sipwire_media_packets_total', { direction: 'rx' }), 0);

		// A wrong password: an authentication failure.
		const mallory = await connectClient(ws);
		const wrong = await mallory.register({ user: 'alice', password: 'not-the-password' });
		assert.notEqual(wrong.final.status, 200);
		mallory.ws.terminate();

		const peer = startPeer(['--call', '900', '--ws', `ws://127.0.0.1:${ws}`,
			'--user', 'alice', '--password', USERS.alice, '--packets', '150', '--duration', '4000',
			'--timeout', '20000']);
		// During the call: one call, one registration, one connection, media moving.
		let during;
		for (let i = 0; i < 60; i++) {
			during = await scrape(ws);
			if (during.value('sipwire_calls_active') === 1 &&
				during.value('sipwire_media_packets_total', { direction: 'tx' }) > 20) break;
			await new Promise((r) => setTimeout(r, 100));
		}
		assert.equal(during.value('sipwire_calls_active'), 1);
		assert.equal(during.value('sipwire_registrations'), 1);
		assert.equal(during.value('sipwire_ws_connections', { transport: 'ws' }), 1);
		assert.ok(during.value('sipwire_media_packets_total', { direction: 'rx' }) > 20,
			'live legs counted while the call is up');
		const { code, report } = await peer.done;
		assert.equal(code, 0, JSON.stringify(report));
		const r = await sipp.result();
		assert.equal(r.code, 0, r.report);
		const cdr = await daemon.waitForLog(/\[cdr\] \{"call":"(c[0-9a-f]+)"/);
		// The WebRTC leg's own lines carry the call's id too.
		assert.match(daemon.stderr, new RegExp(`\\[media\\] ${cdr[1]}: webrtc: ICE connected`));
		assert.match(daemon.stderr, new RegExp(`\\[media\\] ${cdr[1]}: webrtc: DTLS connected`));

		const after = await scrape(ws);
		const delta = (name, labels) => after.value(name, labels) - (before.value(name, labels) || 0);
		assert.equal(after.value('sipwire_calls_active'), 0);
		assert.equal(delta('sipwire_calls_started_total'), 1);
		assert.equal(delta('sipwire_calls_answered_total'), 1);
		assert.equal(after.value('sipwire_calls_ended_total', { reason: 'bye' }), 1);
		assert.equal(delta('sipwire_auth_failures_total'), 1);
		assert.ok(delta('sipwire_ws_accepted_total') >= 2);
		assert.ok(delta('sipwire_sip_requests_total') >= 5, 'REGISTERs, INVITE, ACK, BYE');
		assert.ok(delta('sipwire_sip_transactions_total') >= 4);
		assert.equal(delta('sipwire_webrtc_legs_total'), 1);
		assert.equal(delta('sipwire_ice_connect_seconds_count'), 1);
		assert.equal(delta('sipwire_dtls_connect_seconds_count'), 1);
		assert.equal(delta('sipwire_ice_failures_total'), 0);
		// Both legs' packets: the browser's ~150 and the PBX's echo of them, each way.
		for (const direction of ['rx', 'tx']) {
			assert.ok(delta('sipwire_media_packets_total', { direction }) >= 250,
				`${direction} packets ${delta('sipwire_media_packets_total', { direction })}`);
			assert.ok(delta('sipwire_media_bytes_total', { direction }) >= 250 * 172);
		}
		assert.ok(delta('sipwire_media_relay_seconds_count') >= 250, 'every relay timed');
		assert.ok(after.value('sipwire_media_relay_seconds_sum') > 0);
		let busy = 0;
		for (const s of after.families.get('sipwire_media_worker_busy_seconds_total').samples)
			busy += s.value;
		assert.ok(busy > 0, 'the media workers worked');
		assert.ok(after.value('sipwire_signalling_busy_seconds_total') > 0);
		assert.ok(after.value('sipwire_uptime_seconds') >= after.value('sipwire_signalling_busy_seconds_total'));
		assert.equal(after.value('sipwire_draining'), 0);
		await daemon.stop();
	});

test('metrics.allow: /metrics refused 403 to other addresses; /healthz still answers',
	async (t) => {
		const ws = nextPort();
		const daemon = await startDaemon({ ports: { ws }, users: USERS,
			set: { 'metrics.allow': '10.0.0.0/8,::1' } });
		t.after(() => daemon.kill());
		const res = await httpRequest(ws, '/metrics');
		assert.equal(res.status, 403);
		assert.equal((await httpRequest(ws, '/healthz')).status, 200);
		await daemon.stop();
	});
