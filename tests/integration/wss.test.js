'use strict';
// WSS with the certificate a laptop gets by default (self-signed, made on the
// first start in the state directory and reused afterwards), and the Origin
// check that keeps other web sites' pages from using a browser's WebSocket.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { SipWsClient, connectClient, header } = require('./lib/sip');

const nextPort = portAllocator(7);

// The certificate the server presents on port, as a fingerprint.
function servedFingerprint(port) {
	return new Promise((resolve, reject) => {
		const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false,
			ALPNProtocols: ['http/1.1'] }, () => {
			const fp = s.getPeerX509Certificate().fingerprint256;
			s.end();
			resolve(fp);
		});
		s.on('error', reject);
	});
}

test('WSS with the self-signed certificate from the state directory', async (t) => {
	const port = nextPort();
	const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwire-wss-'));
	t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));

	let daemon = await startDaemon({ ports: { wss: port }, stateDir });
	const certFile = path.join(stateDir, 'cert.pem');
	const keyFile = path.join(stateDir, 'key.pem');
	const cert = new crypto.X509Certificate(fs.readFileSync(certFile));
	assert.match(cert.subjectAltName, /DNS:localhost/);
	assert.match(cert.subjectAltName, /IP Address:127\.0\.0\.1/);
	assert.equal(fs.statSync(keyFile).mode & 0o077, 0, 'the key is readable by its owner only');
	assert.equal(await servedFingerprint(port), cert.fingerprint256);

	const c = await new SipWsClient(`wss://127.0.0.1:${port}/`,
		{ ws: { rejectUnauthorized: false } }).connect();
	assert.equal(c.ws.protocol, 'sip');
	const res = await c.options();
	assert.equal(res.status, 200, res.raw);
	assert.ok(header(res, 'allow'));
	await c.close();
	await daemon.stop();

	// A restart serves the same certificate: browsers that accepted it once
	// keep working.
	daemon = await startDaemon({ ports: { wss: port }, stateDir });
	t.after(() => daemon.stop());
	assert.equal(await servedFingerprint(port), cert.fingerprint256);
});

async function handshake(port, origin) {
	try {
		const c = await connectClient(port, { ws: origin ? { origin } : {} });
		await c.close();
		return 'accepted';
	} catch (err) {
		return 'refused';
	}
}

test('Origin: the page must come from this host unless a list says otherwise', async (t) => {
	const port = nextPort();
	const daemon = await startDaemon({ ports: { ws: port } });
	t.after(() => daemon.stop());
	assert.equal(await handshake(port, null), 'accepted', 'no Origin: not a browser');
	assert.equal(await handshake(port, `http://127.0.0.1:${port + 1}`), 'accepted',
		'same host, another port');
	assert.equal(await handshake(port, 'https://evil.example'), 'refused');
	await daemon.waitForLog(/refused a WebSocket: origin https:\/\/evil\.example/);

	const listed = nextPort();
	const d2 = await startDaemon({ ports: { ws: listed },
		set: { 'ws.allowed_origins': 'https://phone.example.com' } });
	t.after(() => d2.stop());
	assert.equal(await handshake(listed, 'https://phone.example.com'), 'accepted');
	assert.equal(await handshake(listed, `http://127.0.0.1:${listed}`), 'refused',
		'with a list, only the list');
});

// Another loopback address reaches any socket bound to all interfaces, and
// nothing bound to 127.0.0.1 alone.
function tcpReachable(host, port) {
	return new Promise((resolve) => {
		const s = require('node:net').connect({ host, port }, () => {
			s.destroy();
			resolve(true);
		});
		s.on('error', () => resolve(false));
	});
}

test('the listeners bind listen.bind only, not every interface', async (t) => {
	const ws = nextPort(), wss = nextPort(), sip = nextPort();
	const daemon = await startDaemon({ ports: { ws, wss, sip } });
	t.after(() => daemon.stop());
	for (const port of [ws, wss, sip]) {
		assert.equal(await tcpReachable('127.0.0.1', port), true, `port ${port} on 127.0.0.1`);
		assert.equal(await tcpReachable('127.0.0.2', port), false, `port ${port} on 127.0.0.2`);
	}
});
