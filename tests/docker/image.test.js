'use strict';
// The gateway inside the image tests/docker/run built from the Dockerfile,
// started as `docker run` would start it: the image's entry point, user,
// environment and configuration file, with buildah run (chroot isolation,
// the host's network and process ids). Over loopback a WebSocket client
// registers and sends OPTIONS, and the WebRTC test peer (a C program on the
// host: ICE, DTLS-SRTP) calls echo and gets every payload back. The image's
// settings (user, ports, volume, health check) are read from its
// configuration, the certificate from a mounted folder is checked on the
// WSS port, and each gateway is stopped by its process id with SIGTERM.
//
// Run by tests/docker/run, which sets DOCKER_TEST_IMAGE (the image),
// DOCKER_TEST_STORAGE (buildah's storage options) and SIPWIRE_PEER_BIN.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { portAllocator } = require('../integration/lib/daemon');
const { connectClient, rtpSdp } = require('../integration/lib/sip');
const { runPeer } = require('../integration/lib/peer');
const { httpRequest } = require('../integration/lib/http');
const { startSipp } = require('../integration/lib/sipp');

const IMAGE = process.env.DOCKER_TEST_IMAGE;
const STORAGE = (process.env.DOCKER_TEST_STORAGE || '').split(' ').filter(Boolean);
if (!IMAGE) throw new Error('DOCKER_TEST_IMAGE is not set: run tests/docker/run');

const nextPort = portAllocator(35);
const USERS = { alice: 'alice-Secret-1', bob: 'bob-Secret-2' };
const READY_TIMEOUT_MS = 20000;
const STOP_GRACE_MS = 5000;

function buildah(args) {
	return execFileSync('buildah', [...STORAGE, ...args], { encoding: 'utf8' }).trim();
}

const image = JSON.parse(buildah(['inspect', '--type', 'image', IMAGE])).Docker.config;

// One gateway in a fresh container of the image. env: SIPWIRE_* variables
// added to the image's (as docker run -e); volumes: HOST:CONTAINER[:ro].
class ImageGateway {
	constructor({ env = {}, volumes = [], args = [] } = {}) {
		this.env = env;
		this.volumes = volumes;
		this.args = args;
		this.stderr = '';
		this.exit = null;
		this.waiters = [];
	}

	async start() {
		this.container = buildah(['from', '--pull=never', '--quiet', IMAGE]);
		// the container's environment, as docker run -e sets it: the health
		// check run beside the gateway sees it too
		for (const [name, value] of Object.entries(this.env))
			buildah(['config', '--env', `${name}=${value}`, this.container]);
		const run = ['run', '--isolation', 'chroot'];
		for (const volume of this.volumes) run.push('--volume', volume);
		// The image's entry point and command, behind a shell that prints its
		// process id first: with chroot isolation that is the host's id of
		// the process the entry point becomes (sipwire).
		run.push(this.container, '--', '/bin/sh', '-c', 'echo "container pid $$" >&2; exec "$@"',
			'sh', ...image.Entrypoint, ...(image.Cmd || []), ...this.args);
		this.proc = spawn('buildah', [...STORAGE, ...run], { stdio: ['ignore', 'ignore', 'pipe'] });
		this.exited = new Promise((resolve) => {
			this.proc.on('exit', (code, signal) => {
				this.exit = { code, signal };
				resolve(this.exit);
				setImmediate(() => this.check(true));
			});
		});
		this.proc.stderr.setEncoding('utf8');
		this.proc.stderr.on('data', (chunk) => {
			this.stderr += chunk;
			this.check(false);
		});
		try {
			this.pid = Number((await this.waitForLog(/container pid (\d+)/))[1]);
			await this.waitForLog(/\[daemon\] sipwire \S+ running/, READY_TIMEOUT_MS);
		} catch (err) {
			await this.remove();
			throw new Error(`the gateway in the image did not start: ${err.message}\n` +
				`--- stderr ---\n${this.stderr}`);
		}
		return this;
	}

	check(exited) {
		this.waiters = this.waiters.filter((w) => {
			const m = this.stderr.match(w.pattern);
			if (m) w.resolve(m);
			else if (exited) w.reject(new Error(`exited (${JSON.stringify(this.exit)})`));
			else return true;
			clearTimeout(w.timer);
			return false;
		});
	}

	waitForLog(pattern, timeoutMs = 5000) {
		return new Promise((resolve, reject) => {
			const w = { pattern, resolve, reject };
			w.timer = setTimeout(() => {
				this.waiters = this.waiters.filter((x) => x !== w);
				reject(new Error(`no ${pattern} in the gateway's output within ${timeoutMs} ms`));
			}, timeoutMs);
			this.waiters.push(w);
			this.check(this.exit !== null);
		});
	}

	// A command in the same container, beside the gateway (as docker exec).
	exec(command) {
		return buildah(['run', '--isolation', 'chroot', this.container, '--', ...command]);
	}

	// The image's HEALTHCHECK command, as the engine runs it: its output
	// and whether it said healthy (exit 0).
	health() {
		const [kind, ...command] = image.Healthcheck.Test;
		assert.equal(kind, 'CMD');
		try {
			return { healthy: true, output: this.exec(command) };
		} catch (err) {
			return { healthy: false, output: `${err.stdout}${err.stderr}` };
		}
	}

	// SIGTERM to the gateway's process id; it must exit 0 within the grace
	// time (buildah run then ends with its status).
	async stop() {
		if (!this.exit) process.kill(this.pid, 'SIGTERM');
		let timer;
		const outcome = await Promise.race([this.exited,
			new Promise((resolve) => { timer = setTimeout(resolve, STOP_GRACE_MS, null); })]);
		clearTimeout(timer);
		if (!outcome) {
			await this.remove();
			throw new Error(`no exit within ${STOP_GRACE_MS} ms of SIGTERM; killed\n` +
				`--- stderr ---\n${this.stderr}`);
		}
		await this.remove();
		assert.equal(outcome.code, 0, `exit ${JSON.stringify(outcome)}\n${this.stderr}`);
	}

	async remove() {
		if (!this.exit && this.pid) {
			try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone already */ }
		}
		if (!this.exit && this.proc) await this.exited;
		if (this.container) buildah(['rm', this.container]);
		this.container = null;
	}
}

// Ports on 127.0.0.1 from this file's block; the rest of the configuration
// is the image's own. RTP from the block too (the image's 20000-20999 would
// meet other tests' ports).
function loopbackEnv(ports) {
	const rtp = nextPort(20);
	return {
		SIPWIRE_LISTEN_BIND: '127.0.0.1',
		SIPWIRE_LISTEN_WS_PORT: String(ports.ws || 0),
		SIPWIRE_LISTEN_WSS_PORT: String(ports.wss || 0),
		SIPWIRE_LISTEN_SIP_PORT: String(ports.sip || 0),
		SIPWIRE_LISTEN_TLS_PORT: String(ports.tls || 0),
		SIPWIRE_MEDIA_RTP_PORT_MIN: String(rtp),
		SIPWIRE_MEDIA_RTP_PORT_MAX: String(rtp + 19),
		SIPWIRE_REALM: 'sipwire.test',
		SIPWIRE_LOG_LEVEL: 'debug',
	};
}

// The certificate the WSS port presents.
function wssCertificate(port) {
	return new Promise((resolve, reject) => {
		const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false,
			servername: 'localhost' }, () => {
			const cert = socket.getPeerCertificate();
			socket.destroy();
			resolve(cert);
		});
		socket.on('error', reject);
	});
}

test('the image: non-root user, the ports, the state volume, a health check, ' +
	'the configuration file it names', () => {
	assert.equal(image.User, 'sipwire:sipwire');
	for (const port of ['8080/tcp', '8443/tcp', '5060/udp', '5060/tcp', '5061/tcp'])
		assert.ok(port in image.ExposedPorts, `EXPOSE ${port}: ${JSON.stringify(image.ExposedPorts)}`);
	assert.ok(Object.keys(image.ExposedPorts).some((p) => /^20000-20999\/udp$/.test(p) ||
		p === '20000/udp'), `the RTP ports: ${JSON.stringify(image.ExposedPorts)}`);
	assert.deepEqual(Object.keys(image.Volumes), ['/var/lib/sipwire']);
	assert.deepEqual(image.Healthcheck.Test, ['CMD', '/usr/local/bin/sipwire-healthcheck']);
	assert.ok(image.Env.includes('SIPWIRE_CONFIG=/etc/sipwire/sipwire.json'), image.Env.join(' '));
	assert.deepEqual(image.Entrypoint, ['/usr/local/bin/sipwire-entrypoint']);
});

test('sipwire in the image checks the image\'s configuration: every address, ' +
	'state in the volume', () => {
	const container = buildah(['from', '--pull=never', '--quiet', IMAGE]);
	try {
		const run = (...command) =>
			buildah(['run', '--isolation', 'chroot', container, '--', ...command]);
		assert.match(run(...image.Entrypoint, '--version'), /^sipwire \d+\.\d+\.\d+/);
		assert.match(run(...image.Entrypoint, '--check-config', '/etc/sipwire/sipwire.json'),
			/^configuration OK/);
		const file = JSON.parse(run('cat', '/etc/sipwire/sipwire.json'));
		assert.equal(file.listen.bind, '0.0.0.0');
		assert.equal(file.state_dir, '/var/lib/sipwire');
		assert.match(run('id'), /^uid=10001\(sipwire\) gid=10001\(sipwire\)/);
		assert.match(run('stat', '-c', '%U %a', '/var/lib/sipwire'), /^sipwire 700$/);
	} finally {
		buildah(['rm', container]);
	}
});

test('the gateway in the image: WS REGISTER, OPTIONS, and an echo call from the WebRTC ' +
	'peer with every payload back; the softphone page; healthy; a self-signed certificate ' +
	'in the volume; stopped by its process id', async (t) => {
	const ports = { ws: nextPort(), wss: nextPort(), sip: nextPort() };
	const gw = new ImageGateway({ env: { ...loopbackEnv(ports),
		SIPWIRE_USERS: Object.entries(USERS).map(([u, p]) => `${u}:${p}`).join(',') } });
	await gw.start();
	t.after(() => gw.remove());

	const status = fs.readFileSync(`/proc/${gw.pid}/status`, 'utf8');
	assert.equal(fs.readFileSync(`/proc/${gw.pid}/comm`, 'utf8').trim(), 'sipwire');
	assert.match(status, /^Uid:\s+10001\s/m, 'runs as the image\'s user');

	const client = await connectClient(ports.ws);
	t.after(() => client.close());
	const { challenge, final } = await client.register({ user: 'alice', password: USERS.alice });
	assert.equal(challenge.status, 401);
	assert.equal(final.status, 200, final.raw);
	const options = await client.options();
	assert.equal(options.status, 200, options.raw);

	const { code, report } = await runPeer(['--call', 'echo', '--ws', `ws://127.0.0.1:${ports.ws}`,
		'--user', 'bob', '--password', USERS.bob, '--timeout', '20000']);
	const r = JSON.stringify(report);
	assert.equal(report.register.status, 200, r);
	assert.equal(report.invite.status, 200, r);
	assert.ok(report.ice_connected_ms >= 0 && report.dtls_connected_ms >= 0, r);
	assert.equal(report.echo.mismatches, 0, r);
	assert.ok(report.echo.returned >= 0.9 * report.echo.expected, r);
	assert.equal(report.bye.status, 200, r);
	assert.equal(code, 0, r);

	// The softphone page and SIP.js, from the image's copy of web-demo/.
	const page = await httpRequest(ports.ws, '/');
	assert.equal(page.status, 200);
	assert.match(page.body, /<html/i);
	const sipjs = await httpRequest(ports.ws, '/sip.js/index.js');
	assert.equal(sipjs.status, 200, 'SIP.js installed in the image');
	assert.match(sipjs.headers['content-type'], /^text\/javascript/);

	// The health check asks /healthz on the WS port.
	const health = gw.health();
	assert.ok(health.healthy, health.output);
	assert.match(health.output, /^HTTP\/1\.1 200/);

	// No certificate mounted: the self-signed one, made in the volume.
	const cert = await wssCertificate(ports.wss);
	assert.equal(cert.subject.CN, 'sipwire', JSON.stringify(cert.subject));
	assert.match(gw.exec(['ls', '/var/lib/sipwire']), /cert\.pem\s+key\.pem/);

	await client.close();
	await gw.stop();
});

test('the image\'s own listen address (every address): a call through to a PBX gives each ' +
	'side the address it reaches the gateway at for its RTP, not 0.0.0.0', async (t) => {
	const ports = { ws: nextPort(), sip: nextPort() };
	const pbxPort = nextPort(), media = nextPort(3);
	const sipp = await startSipp({ scenario: 'uas_answer.xml', port: pbxPort, mediaPort: media });
	t.after(async () => {
		await sipp.stop();
		sipp.cleanup();
	});
	const env = loopbackEnv(ports);
	delete env.SIPWIRE_LISTEN_BIND; // the image's file: 0.0.0.0 (tests/docker/run's namespace: loopback only)
	const gw = new ImageGateway({ env: { ...env, SIPWIRE_USERS: `alice:${USERS.alice}`,
		SIPWIRE_TRUNKS: `pbx=sip:127.0.0.1:${pbxPort}`, SIPWIRE_ROUTES: '9=pbx' } });
	await gw.start();
	t.after(() => gw.remove());
	assert.match(gw.stderr, /listening for WS on 0\.0\.0\.0:/, 'listening on every address');
	// the PBX and the caller are on 127.0.0.1: the address each reaches the
	// gateway at, as its Via and Contact say
	const cLine = /^c=IN IP4 127\.0\.0\.1\r?$/m;

	// a SIP-over-WebSocket client with plain RTP, as a desk phone's
	// softclient would call: the gateway's address shows in both SDPs
	const client = await connectClient(ports.ws);
	t.after(() => client.ws.terminate());
	assert.equal((await client.register({ user: 'alice', password: USERS.alice })).final.status, 200);
	const call = client.invite('sip:900@sipwire.test', { sdp: rtpSdp({ port: nextPort(2) }) });
	const final = await call.final(10000);
	assert.equal(final.status, 200, final.raw);
	assert.match(final.body, cLine, `the caller is sent the address it reached:\n${final.body}`);
	const invite = sipp.received('INVITE')[0];
	assert.match(invite.body, cLine, `the PBX is sent the address it is reached from:\n${invite.body}`);
	assert.equal((await call.bye()).status, 200);
	assert.equal((await sipp.result()).code, 0);
	await gw.stop();
});

test('a certificate mounted in /etc/sipwire/certs (Let\'s Encrypt\'s file names) serves WSS ' +
	'and SIP over TLS; the health check over WSS', async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwire-docker-certs-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
		'-nodes', '-days', '2', '-subj', '/CN=phone.sipwire.test', '-keyout',
		path.join(dir, 'privkey.pem'), '-out', path.join(dir, 'fullchain.pem')], { stdio: 'ignore' });
	// as a deploy hook would leave them: the key readable by the image's user only
	fs.chownSync(path.join(dir, 'privkey.pem'), 10001, 10001);
	fs.chmodSync(path.join(dir, 'privkey.pem'), 0o600);
	fs.chmodSync(dir, 0o755);

	const ports = { wss: nextPort(), tls: nextPort() };
	const gw = new ImageGateway({ env: loopbackEnv(ports),
		volumes: [`${dir}:/etc/sipwire/certs:ro`] });
	await gw.start();
	t.after(() => gw.remove());
	assert.match(gw.stderr, /certificate \/etc\/sipwire\/certs\/fullchain\.pem, key \/etc\/sipwire\/certs\/privkey\.pem/);
	for (const port of [ports.wss, ports.tls]) {
		const cert = await wssCertificate(port);
		assert.equal(cert.subject.CN, 'phone.sipwire.test', `port ${port}: ${JSON.stringify(cert.subject)}`);
	}
	// No WS port here: the health check asks over WSS.
	const health = gw.health();
	assert.ok(health.healthy, health.output);
	assert.match(health.output, /^HTTP\/1\.1 200/);
	await gw.stop();
});

test('a mounted key the image\'s user cannot read: the entry point says what to do and ' +
	'stops', (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwire-docker-certs-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	fs.writeFileSync(path.join(dir, 'fullchain.pem'), 'not read\n');
	fs.writeFileSync(path.join(dir, 'privkey.pem'), 'not read\n', { mode: 0o600 });
	fs.chmodSync(dir, 0o755);
	const container = buildah(['from', '--pull=never', '--quiet', IMAGE]);
	t.after(() => buildah(['rm', container]));
	let failure = null;
	try {
		buildah(['run', '--isolation', 'chroot', '--volume', `${dir}:/etc/sipwire/certs:ro`,
			container, '--', ...image.Entrypoint]);
	} catch (err) {
		failure = err;
	}
	assert.ok(failure, 'the entry point went on without its key');
	assert.match(String(failure.stderr),
		/\/etc\/sipwire\/certs\/privkey\.pem is not readable by uid 10001 .*chown 10001/);
});
