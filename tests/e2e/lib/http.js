'use strict';
// A static HTTP server on 127.0.0.1 for the browser tests: the test pages
// from tests/e2e/pages at /, and the npm sip.js package's lib/ (ES modules,
// loaded as they are, no bundler) at /sip.js/, and any folders a test mounts
// (e.g. a bundle it built at /jssip/). Nothing else is served, and nothing
// outside those folders.

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const PAGES = path.join(__dirname, '..', 'pages');
const SIPJS_LIB = path.join(path.dirname(require.resolve('sip.js/package.json')), 'lib');

const TYPES = {
	'.html': 'text/html; charset=utf-8',
	'.js': 'text/javascript; charset=utf-8',
	'.css': 'text/css; charset=utf-8',
	'.map': 'application/json',
};

// The file a URL path names, or null: only files under root.
function resolveUnder(root, relative) {
	const file = path.resolve(root, '.' + path.posix.normalize('/' + relative));
	if (file !== root && !file.startsWith(root + path.sep)) return null;
	return file;
}

function fileFor(urlPath, mounts = {}) {
	let decoded;
	try {
		decoded = decodeURIComponent(urlPath);
	} catch {
		return null;
	}
	if (decoded.includes('\0')) return null;
	if (decoded.startsWith('/sip.js/')) return resolveUnder(SIPJS_LIB, decoded.slice('/sip.js/'.length));
	for (const [prefix, dir] of Object.entries(mounts))
		if (decoded.startsWith(prefix)) return resolveUnder(path.resolve(dir), decoded.slice(prefix.length));
	return resolveUnder(PAGES, decoded === '/' ? 'phone.html' : decoded.slice(1));
}

function handle(req, res, log, mounts) {
	const urlPath = new URL(req.url, 'http://127.0.0.1').pathname;
	const file = req.method === 'GET' || req.method === 'HEAD' ? fileFor(urlPath, mounts) : null;
	fs.readFile(file || '', (err, data) => {
		if (!file || err) {
			log.push(`${req.method} ${urlPath} 404`);
			res.writeHead(404, { 'Content-Type': 'text/plain' });
			res.end('not found\n');
			return;
		}
		res.writeHead(200, {
			'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
			'Content-Length': data.length,
			'Cache-Control': 'no-store',
		});
		res.end(req.method === 'HEAD' ? undefined : data);
	});
}

// Listens on 127.0.0.1:port; resolves with {url, log, close()}. log lists
// the requests that found nothing (a page asking for a missing module).
// mounts: {'/prefix/': folder} served besides the pages.
function startHttpServer(port, mounts = {}) {
	const log = [];
	const server = http.createServer((req, res) => handle(req, res, log, mounts));
	return new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(port, '127.0.0.1', () => {
			server.off('error', reject);
			resolve({
				url: `http://127.0.0.1:${port}/`,
				log,
				close: () => new Promise((done) => {
					server.closeAllConnections();
					server.close(() => done());
				}),
			});
		});
	});
}

module.exports = { startHttpServer, fileFor };
