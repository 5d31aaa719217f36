'use strict';
// Plain HTTP(S) requests to the daemon's WebSocket listeners (/healthz,
// /metrics). Resolves {status, headers, body}; WSS certificates are the
// daemon's self-signed ones, so they are not verified.

const http = require('node:http');
const https = require('node:https');

function httpRequest(port, path, { method = 'GET', tls = false, timeoutMs = 5000,
	localAddress } = {}) {
	const mod = tls ? https : http;
	return new Promise((resolve, reject) => {
		const req = mod.request({ host: '127.0.0.1', port, path, method, localAddress,
			rejectUnauthorized: false, agent: false, timeout: timeoutMs }, (res) => {
			let body = '';
			res.setEncoding('utf8');
			res.on('data', (chunk) => { body += chunk; });
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
			res.on('error', reject);
		});
		req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
		req.on('error', reject);
		req.end();
	});
}

module.exports = { httpRequest };
