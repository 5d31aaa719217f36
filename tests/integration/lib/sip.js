'use strict';
// A small SIP-over-WebSocket client that writes requests the way SIP.js and
// JsSIP do (RFC 7118: Via SIP/2.0/WSS with an .invalid host, Contact with
// transport=ws, +sip.instance and reg-id), parses what comes back minimally,
// and answers digest challenges (RFC 2617 MD5, qop=auth) with node:crypto.

const crypto = require('node:crypto');
const WebSocket = require('ws');

const DEFAULT_TIMEOUT_MS = 5000;

function randomToken(bytes = 8) {
	return crypto.randomBytes(bytes).toString('hex');
}

function md5(text) {
	return crypto.createHash('md5').update(text).digest('hex');
}

// Compact header forms (RFC 3261 §7.3.3) mapped to their full names.
const COMPACT = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length',
	c: 'content-type', k: 'supported' };

// Parses one SIP message. Returns {startLine, status, reason, method, uri,
// headers: [[lowercase name, value]...], body}, or null when it is not one.
function parseMessage(raw) {
	const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw);
	const end = text.indexOf('\r\n\r\n');
	if (end < 0) return null;
	const lines = text.slice(0, end).split('\r\n');
	const msg = { raw: text, startLine: lines[0], headers: [], body: text.slice(end + 4) };
	let m = /^SIP\/2\.0 (\d{3}) (.*)$/.exec(lines[0]);
	if (m) {
		msg.status = Number(m[1]);
		msg.reason = m[2];
	} else if ((m = /^([A-Z]+) (\S+) SIP\/2\.0$/.exec(lines[0]))) {
		msg.method = m[1];
		msg.uri = m[2];
	} else {
		return null;
	}
	for (const line of lines.slice(1)) {
		if (/^[ \t]/.test(line) && msg.headers.length) {
			msg.headers[msg.headers.length - 1][1] += ' ' + line.trim();
			continue;
		}
		const colon = line.indexOf(':');
		if (colon < 0) continue;
		let name = line.slice(0, colon).trim().toLowerCase();
		name = COMPACT[name] || name;
		msg.headers.push([name, line.slice(colon + 1).trim()]);
	}
	return msg;
}

// All values of a header, one per header line (no splitting on commas).
function headerValues(msg, name) {
	const n = name.toLowerCase();
	return msg.headers.filter(([h]) => h === n).map(([, v]) => v);
}

function header(msg, name) {
	return headerValues(msg, name)[0];
}

// Splits a header value on commas outside quotes and <>.
function splitList(value) {
	const out = [];
	let cur = '', quoted = false, angle = false;
	for (const ch of value) {
		if (ch === '"') quoted = !quoted;
		else if (!quoted && ch === '<') angle = true;
		else if (!quoted && ch === '>') angle = false;
		if (ch === ',' && !quoted && !angle) {
			out.push(cur.trim());
			cur = '';
		} else {
			cur += ch;
		}
	}
	if (cur.trim()) out.push(cur.trim());
	return out;
}

// Every Contact of a message, across header lines and comma lists.
function contacts(msg) {
	return headerValues(msg, 'contact').flatMap(splitList);
}

// The parameters of a Digest challenge: {realm, nonce, algorithm, qop, ...}.
function parseChallenge(value) {
	const m = /^Digest\s+(.*)$/i.exec(value);
	if (!m) return null;
	const params = {};
	const re = /([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)/g;
	let p;
	while ((p = re.exec(m[1])))
		params[p[1].toLowerCase()] = p[2].startsWith('"') ? p[2].slice(1, -1) : p[2];
	return params;
}

// The Authorization header value answering challenge for one request.
function digestAuthorization({ challenge, user, password, method, uri, nc = 1 }) {
	const cnonce = randomToken(8);
	const ncHex = nc.toString(16).padStart(8, '0');
	const ha1 = md5(`${user}:${challenge.realm}:${password}`);
	const ha2 = md5(`${method}:${uri}`);
	const response = md5(`${ha1}:${challenge.nonce}:${ncHex}:${cnonce}:auth:${ha2}`);
	let value = `Digest algorithm=MD5, username="${user}", realm="${challenge.realm}", ` +
		`nonce="${challenge.nonce}", uri="${uri}", response="${response}"`;
	if (challenge.opaque !== undefined) value += `, opaque="${challenge.opaque}"`;
	return value + `, qop=auth, cnonce="${cnonce}", nc=${ncHex}`;
}

class SipWsClient {
	// url: ws://127.0.0.1:PORT; options.protocols (default 'sip'), options.ws
	// (passed to the ws constructor, e.g. {autoPong: false}).
	constructor(url, options = {}) {
		this.url = url;
		this.protocols = options.protocols === undefined ? 'sip' : options.protocols;
		this.wsOptions = options.ws || {};
		this.domain = options.domain || 'sipwire.test';
		this.viaHost = `${randomToken(6)}.invalid`;
		this.contactUser = randomToken(5);
		this.instance = crypto.randomUUID();
		this.callId = randomToken(10);
		this.fromTag = randomToken(5);
		this.cseq = 1;
		this.inbox = [];
		this.waiters = [];
		this.pings = 0;
		this.closed = null; // {code, reason} once closed
	}

	// Resolves once open; rejects with the handshake error (e.g. refused).
	connect() {
		return new Promise((resolve, reject) => {
			const ws = this.protocols === null ?
				new WebSocket(this.url, this.wsOptions) :
				new WebSocket(this.url, this.protocols, this.wsOptions);
			this.ws = ws;
			this.closedPromise = new Promise((resolveClose) => {
				ws.on('close', (code, reason) => {
					this.closed = { code, reason: reason.toString() };
					resolveClose(this.closed);
					this.flushWaiters();
				});
			});
			ws.on('message', (data, isBinary) => {
				this.inbox.push({ data: Buffer.from(data), isBinary });
				this.flushWaiters();
			});
			ws.on('ping', () => { this.pings++; });
			ws.on('unexpected-response', (req, res) => {
				const err = new Error(`handshake refused: HTTP ${res.statusCode}`);
				err.statusCode = res.statusCode;
				req.destroy();
				reject(err);
			});
			ws.on('error', reject);
			ws.once('open', () => {
				ws.off('error', reject);
				ws.on('error', () => {}); // a reset after open shows up as a close
				resolve(this);
			});
		});
	}

	flushWaiters() {
		this.waiters = this.waiters.filter((w) => {
			const i = this.inbox.findIndex(w.match);
			if (i >= 0) {
				const [item] = this.inbox.splice(i, 1);
				clearTimeout(w.timer);
				w.resolve(item);
				return false;
			}
			if (this.closed) {
				clearTimeout(w.timer);
				w.reject(new Error(`connection closed (${this.closed.code} ${this.closed.reason}) ` +
					`while waiting for ${w.what}`));
				return false;
			}
			return true;
		});
	}

	// The next received frame satisfying match({data, isBinary}).
	nextFrame(match = () => true, timeoutMs = DEFAULT_TIMEOUT_MS, what = 'a frame') {
		return new Promise((resolve, reject) => {
			const w = { match, resolve, reject, what };
			w.timer = setTimeout(() => {
				this.waiters = this.waiters.filter((x) => x !== w);
				reject(new Error(`no ${what} within ${timeoutMs} ms`));
			}, timeoutMs);
			this.waiters.push(w);
			this.flushWaiters();
		});
	}

	// The next SIP response whose top Via branch is `branch`.
	async response(branch, timeoutMs = DEFAULT_TIMEOUT_MS) {
		const frame = await this.nextFrame((f) => {
			const msg = parseMessage(f.data);
			return msg && msg.status !== undefined && (header(msg, 'via') || '').includes(branch);
		}, timeoutMs, `a response to ${branch}`);
		return parseMessage(frame.data);
	}

	waitClose(timeoutMs = DEFAULT_TIMEOUT_MS) {
		let timer;
		return Promise.race([
			this.closedPromise,
			new Promise((_, reject) => {
				timer = setTimeout(() => reject(new Error(`not closed within ${timeoutMs} ms`)),
					timeoutMs);
			}),
		]).finally(() => clearTimeout(timer));
	}

	send(data, options) {
		this.ws.send(data, options);
	}

	close() {
		if (this.ws && !this.closed) this.ws.close(1000);
		return this.closedPromise;
	}

	contactUri() {
		return `sip:${this.contactUser}@${this.viaHost};transport=ws`;
	}

	// Builds a request; returns {text, branch}. extra: array of header lines.
	buildRequest({ method, uri, to, from = to, extra = [], body = '', cseq, callId }) {
		const branch = 'z9hG4bK' + randomToken(8);
		const lines = [
			`${method} ${uri} SIP/2.0`,
			`Via: SIP/2.0/WSS ${this.viaHost};branch=${branch}`,
			'Max-Forwards: 70',
			`To: <${to}>`,
			`From: <${from}>;tag=${this.fromTag}`,
			`Call-ID: ${callId || this.callId}`,
			`CSeq: ${cseq || this.cseq++} ${method}`,
			...extra,
			'User-Agent: sipwire-integration',
			`Content-Length: ${Buffer.byteLength(body)}`,
			'', body,
		];
		return { text: lines.join('\r\n'), branch };
	}

	async request(fields, timeoutMs) {
		const req = this.buildRequest(fields);
		this.send(req.text);
		const res = await this.response(req.branch, timeoutMs);
		res.sentBranch = req.branch;
		res.sentText = req.text;
		return res;
	}

	options(uri = `sip:${this.domain}`) {
		return this.request({ method: 'OPTIONS', uri, to: uri, from: `sip:probe@${this.domain}`,
			extra: ['Accept: application/sdp'], callId: randomToken(10) });
	}

	// One REGISTER (no authentication). contact: true for this client's
	// Contact, false for none (a query), or a full Contact header value.
	registerOnce({ user, expires = 600, contact = true, authorization, useExpiresHeader = true }) {
		const aor = `sip:${user}@${this.domain}`;
		const extra = [];
		if (contact === true)
			extra.push(`Contact: <${this.contactUri()}>;+sip.ice;reg-id=1;` +
				`+sip.instance="<urn:uuid:${this.instance}>"` +
				(useExpiresHeader ? '' : `;expires=${expires}`));
		else if (contact) extra.push(`Contact: ${contact}`);
		if (contact && useExpiresHeader) extra.push(`Expires: ${expires}`);
		if (authorization) extra.push(`Authorization: ${authorization}`);
		extra.push('Allow: ACK,CANCEL,INVITE,MESSAGE,BYE,OPTIONS,INFO,NOTIFY,REFER',
			'Supported: path, gruu, outbound');
		return this.request({ method: 'REGISTER', uri: `sip:${this.domain}`, to: aor, extra });
	}

	// REGISTER, and when challenged, REGISTER again with the digest answer.
	// Returns {challenge: the 401 (or null), final: the last response}.
	async register({ user, password, ...rest }) {
		const first = await this.registerOnce({ user, ...rest });
		if (first.status !== 401) return { challenge: null, final: first };
		const auths = headerValues(first, 'www-authenticate');
		const challenge = parseChallenge(auths[0] || '');
		if (!challenge) throw new Error(`401 without a Digest challenge:\n${first.raw}`);
		const authorization = digestAuthorization({ challenge, user, password,
			method: 'REGISTER', uri: `sip:${this.domain}` });
		const final = await this.registerOnce({ user, authorization, ...rest });
		return { challenge: first, final };
	}
}

// Opens a client and waits for the handshake.
async function connectClient(port, options) {
	const c = new SipWsClient(`ws://127.0.0.1:${port}/`, options);
	return c.connect();
}

module.exports = { SipWsClient, connectClient, parseMessage, header, headerValues, contacts,
	parseChallenge, digestAuthorization, splitList, randomToken, md5 };
