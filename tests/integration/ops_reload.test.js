'use strict';
// SIGHUP reloads the configuration file: a user added there can register
// at once while a call in progress goes on; a file that does not parse is
// refused with its errors logged and the running configuration kept. And
// the command line's own checks: --version names the libraries, and
// --check-config refuses a bad file with a non-zero status.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { connectClient, rtpSdp } = require('./lib/sip');
const { httpRequest } = require('./lib/http');

const nextPort = portAllocator(31);

function run(args) {
	return new Promise((resolve) => {
		execFile(process.env.SIPWIRE_BIN, args, { env: {} }, (err, stdout, stderr) =>
			resolve({ code: err ? err.code : 0, stdout, stderr }));
	});
}

function writeConfig(file, users, routes) {
	fs.writeFileSync(file, JSON.stringify({
		users: Object.entries(users).map(([name, password]) => ({ name, password })),
		routes,
	}, null, 1));
}

async function register(port, user, password) {
	const c = await connectClient(port);
	const { final } = await c.register({ user, password });
	return { client: c, status: final.status };
}

test('SIGHUP: a user added to the file registers; the call in progress goes on; ' +
	'a broken file is refused and the running configuration kept', async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwire-reload-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const file = path.join(dir, 'sipwire.json');
	writeConfig(file, { alice: 'alice-pw' }, [{ match_user: 'echo', target: 'echo' }]);
	const port = nextPort();
	const daemon = await startDaemon({ ports: { ws: port }, extraArgs: ['--config', file] });
	t.after(() => daemon.kill());

	const alice = await register(port, 'alice', 'alice-pw');
	t.after(() => alice.client.ws.terminate());
	assert.equal(alice.status, 200);
	const bobBefore = await register(port, 'bob', 'bob-pw');
	bobBefore.client.ws.terminate();
	assert.notEqual(bobBefore.status, 200, 'bob is not a user yet');

	const call = alice.client.invite('sip:echo@127.0.0.1', { sdp: rtpSdp({ port: nextPort() }) });
	assert.equal((await call.final(5000)).status, 200);

	writeConfig(file, { alice: 'alice-pw', bob: 'bob-pw' },
		[{ match_user: 'echo', target: 'echo' }, { match_user: 'ring', target: 'echo' }]);
	let from = daemon.stderr.length;
	daemon.proc.kill('SIGHUP');
	await daemon.waitForLog(/reloaded .*sipwire\.json: 2 users \(1 added, 0 removed\).*1 call in progress/,
		5000, from);
	const bob = await register(port, 'bob', 'bob-pw');
	t.after(() => bob.client.ws.terminate());
	assert.equal(bob.status, 200, 'bob registers after the reload');
	// The new route works; the call from before the reload is still up.
	const second = bob.client.invite('sip:ring@127.0.0.1', { sdp: rtpSdp({ port: nextPort() }) });
	assert.equal((await second.final(5000)).status, 200, 'the reloaded dial plan routes "ring"');
	assert.equal((await second.bye()).status, 200);
	const reinvite = await call.reinvite(rtpSdp({ port: nextPort(), version: 2 }));
	assert.equal(reinvite.status, 200, 'the call from before the reload is alive');

	fs.writeFileSync(file, '{"users": [ {"name": "carol", ');
	from = daemon.stderr.length;
	daemon.proc.kill('SIGHUP');
	await daemon.waitForLog(/reload of .*sipwire\.json refused \(1 error\); the running configuration is kept/,
		5000, from);
	assert.match(daemon.stderr.slice(from), /reload: .*sipwire\.json: invalid JSON/);
	assert.equal((await httpRequest(port, '/healthz')).status, 200);
	const again = await register(port, 'bob', 'bob-pw');
	again.client.ws.terminate();
	assert.equal(again.status, 200, 'the running users are kept');
	assert.equal((await call.bye()).status, 200);
	await daemon.stop();
});

test('--version names sipwire and the libraries it runs on', async () => {
	const { code, stdout } = await run(['--version']);
	assert.equal(code, 0);
	assert.match(stdout, /^sipwire \d+\.\d+\.\d+( \(git [^)]+\))?\n/);
	for (const lib of [/^libwebsockets \d/m, /^libnice \d+\.\d+\.\d+/m, /^OpenSSL \d/m,
		/^libsrtp2 \d/m, /^GLib \d/m])
		assert.match(stdout, lib);
});

test('--check-config: a bad file exits 1 with each error and a summary; a good one 0',
	async (t) => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwire-check-'));
		t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
		const bad = path.join(dir, 'bad.json');
		fs.writeFileSync(bad, JSON.stringify({ listen: { ws_port: 70000 }, log: { format: 'xml' },
			shutdown: { drain_timeout: -1 }, metrics: { allow: ['not-an-address'] } }));
		const r = await run(['--check-config', bad, '--state-dir', dir]);
		assert.equal(r.code, 1, r.stderr);
		assert.match(r.stderr, /listen\.ws_port: must be an integer 0\.\.65535/);
		assert.match(r.stderr, /log\.format: must be one of text, logfmt, json|log\.format: .*text/);
		assert.match(r.stderr, /shutdown\.drain_timeout: /);
		assert.match(r.stderr, /metrics\.allow\[0\]: must be a numeric IPv4 or IPv6 address/);
		assert.match(r.stderr, /configuration refused \(4 errors\)/);
		const good = path.join(dir, 'good.json');
		fs.writeFileSync(good, JSON.stringify({ log: { format: 'json' }, shutdown: { drain_timeout: 5 },
			metrics: { allow: ['10.0.0.0/8', '::1'] } }));
		const g = await run(['--check-config', good, '--state-dir', dir]);
		assert.equal(g.code, 0, g.stderr);
		assert.match(g.stdout, /^configuration OK/);
		const missing = await run(['--check-config', path.join(dir, 'none.json'), '--state-dir', dir]);
		assert.equal(missing.code, 1);
		assert.match(missing.stderr, /none\.json: No such file/);
	});
