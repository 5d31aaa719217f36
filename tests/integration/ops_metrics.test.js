'use strict';
// Logs and metrics of a real call. Logs: every line of log.format json is
// one JSON object and every line of logfmt parses as key=value pairs, a
// call's lines carry its id in "call", and nothing logged — at debug level,
// through a digest REGISTER and a call whose PBX challenges the gateway —
// holds a password, an HA1 or a digest response.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { startSipp } = require('./lib/sipp');
const { connectClient, header, rtpSdp, parseChallenge, md5 } = require('./lib/sip');

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
