'use strict';
// The TLS every listener speaks (WSS and SIP over TLS): TLS 1.2 and 1.3 only,
// ECDHE with AEAD ciphers only; and SIGHUP loading a renewed certificate for
// new connections while connections already up go on, a bad pair refused.
// Uses the openssl command line as the client that asks for what must be
// refused (Node's own TLS will not offer TLS 1.1 at all).

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { execFile, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { SipWsClient } = require('./lib/sip');

const nextPort = portAllocator(34);

function makeCert(dir, name) {
	const cert = path.join(dir, `${name}.crt`), key = path.join(dir, `${name}.key`);
	execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
		'-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
		'-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
	return { cert, key, fingerprint: new crypto.X509Certificate(fs.readFileSync(cert)).fingerprint256 };
}

// A handshake with Node's TLS; resolves with what was agreed.
function handshake(port, options = {}) {
	return new Promise((resolve, reject) => {
		const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }, () => {
			const r = { protocol: s.getProtocol(), cipher: s.getCipher().standardName,
				fingerprint: s.getPeerX509Certificate().fingerprint256 };
			s.end();
			resolve(r);
		});
		s.on('error', reject);
	});
}

// openssl s_client with extra arguments; resolves with its output.
function sClient(port, args) {
	return new Promise((resolve) => {
		const p = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args],
			{ timeout: 10000 }, (err, stdout, stderr) => resolve(stdout + stderr));
		p.stdin.end();
	});
}

test('TLS 1.2+ with ECDHE and AEAD only, on WSS and SIP over TLS', async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwire-tls-'));
	const first = makeCert(dir, 'first');
	const wssPort = nextPort(), sipPort = nextPort(), tlsPort = nextPort();
	const daemon = await startDaemon({ ports: { wss: wssPort, sip: sipPort, tls: tlsPort },
		set: { 'tls.cert_file': first.cert, 'tls.key_file': first.key }, logLevel: 'info' });
	t.after(async () => {
		await daemon.stop();
		fs.rmSync(dir, { recursive: true, force: true });
	});

	for (const [name, port] of [['WSS', wssPort], ['SIP TLS', tlsPort]]) {
		await t.test(`${name}: TLS 1.3 by default, 1.2 with an AEAD cipher`, async () => {
			const v13 = await handshake(port);
			assert.equal(v13.protocol, 'TLSv1.3');
			assert.match(v13.cipher, /^TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$/);
			assert.equal(v13.fingerprint, first.fingerprint);
			const v12 = await handshake(port, { maxVersion: 'TLSv1.2' });
			assert.equal(v12.protocol, 'TLSv1.2');
			assert.match(v12.cipher, /^TLS_ECDHE_ECDSA_WITH_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$/);
		});
		await t.test(`${name}: TLS 1.1 and CBC or non-ECDHE ciphers are refused`, async () => {
			assert.match(await sClient(port, ['-tls1_1']), /alert protocol version/);
			for (const cipher of ['ECDHE-ECDSA-AES128-SHA', 'AES128-GCM-SHA256', 'AES256-SHA256'])
				assert.match(await sClient(port, ['-tls1_2', '-cipher', cipher]),
					/alert handshake failure/, cipher);
		});
	}

	await t.test('SIGHUP: a renewed certificate for new connections; the ones up go on', async () => {
		const before = new SipWsClient(`wss://127.0.0.1:${wssPort}/`, { ws: { rejectUnauthorized: false } });
		await before.connect();
		assert.equal((await before.options()).status, 200);
		const second = makeCert(dir, 'second');
		fs.copyFileSync(second.cert, first.cert);
		fs.copyFileSync(second.key, first.key);
		const mark = daemon.stderr.length;
		daemon.proc.kill('SIGHUP');
		await daemon.waitForLog(/\[ws\] WSS certificate reloaded from \S+ \(1 connection kept\)/, 5000, mark);
		await daemon.waitForLog(/TLS certificate reloaded from/, 5000, mark);
		assert.equal((await handshake(wssPort)).fingerprint, second.fingerprint);
		assert.equal((await handshake(tlsPort)).fingerprint, second.fingerprint);
		// The connection made with the first certificate is still served.
		assert.equal((await before.options()).status, 200);
		await before.close();
	});

	await t.test('SIGHUP with a key that does not match: refused, the certificate in use stays',
		async () => {
			const third = makeCert(dir, 'third');
			const second = new crypto.X509Certificate(fs.readFileSync(first.cert)).fingerprint256;
			fs.copyFileSync(third.key, first.key); // the certificate is still the second's
			const mark = daemon.stderr.length;
			daemon.proc.kill('SIGHUP');
			await daemon.waitForLog(/\[tls\] (cannot load the key|the key does not match the certificate) \S+: .*key values mismatch/, 5000, mark);
			await daemon.waitForLog(/WSS certificate not reloaded: the one in use stays/, 5000, mark);
			assert.equal((await handshake(wssPort)).fingerprint, second);
			assert.equal((await handshake(tlsPort)).fingerprint, second);
			const c = new SipWsClient(`wss://127.0.0.1:${wssPort}/`, { ws: { rejectUnauthorized: false } });
			await c.connect();
			assert.equal((await c.options()).status, 200);
			await c.close();
		});
});
