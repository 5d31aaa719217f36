'use strict';
// A small SIP-over-WebSocket client that writes requests the way SIP.js and
// JsSIP do (RFC 7118: Via SIP/2.0/WSS with an .invalid host, Contact with
// transport=ws, +sip.instance and reg-id), parses what comes back minimally,
// and answers digest challenges (RFC 2617 MD5, qop=auth) with node:crypto.

const crypto = require('node:crypto');
const WebSocket = require('ws');
const { Mailbox } = require('./mailbox');

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

// Items delivered in order to whoever waits for one that matches.
// The tag parameter of a From/To value (after the name-addr), or undefined.
function tagOf(value) {
	if (!value) return undefined;
	const close = value.lastIndexOf('>');
	const params = close >= 0 ? value.slice(close + 1) : value;
	const m = /;\s*tag=([^;\s]+)/i.exec(params);
	return m ? m[1] : undefined;
}

// The URI inside a name-addr or addr-spec value.
function uriOf(value) {
	if (!value) return undefined;
	const m = /<([^>]*)>/.exec(value);
	if (m) return m[1];
	return value.split(';')[0].trim();
}

function cseqOf(msg) {
	const m = /^(\d+)\s+([A-Z]+)/.exec(header(msg, 'cseq') || '');
	return m ? { number: Number(m[1]), method: m[2] } : { number: NaN, method: '' };
}

function branchOf(msg) {
	const m = /;\s*branch=([^;,\s]+)/i.exec(header(msg, 'via') || '');
	return m ? m[1] : undefined;
}

// A plain RTP audio description (RTP/AVP, PCMU, PCMA, telephone-event) as a
// softphone without ICE offers or answers it.
function rtpSdp({ address = '127.0.0.1', port = 40000, direction = 'sendrecv',
	sessionId = String(Date.now()), version = 1, payloads = [0, 8, 101] } = {}) {
	const names = { 0: 'PCMU/8000', 8: 'PCMA/8000', 101: 'telephone-event/8000' };
	const lines = ['v=0', `o=- ${sessionId} ${version} IN IP4 ${address}`, 's=-',
		`c=IN IP4 ${address}`, 't=0 0', `m=audio ${port} RTP/AVP ${payloads.join(' ')}`];
	for (const pt of payloads) {
		if (names[pt]) lines.push(`a=rtpmap:${pt} ${names[pt]}`);
		if (pt === 101) lines.push('a=fmtp:101 0-16');
	}
	lines.push('a=ptime:20', `a=${direction}`);
	return lines.join('\r\n') + '\r\n';
}

// What a test reads from a description: {address, port, proto, payloads,
// direction, sessionId, version (o= session version, a BigInt),
// originAddress}; null for an empty body.
function sdpInfo(body) {
	if (!body || !body.trim()) return null;
	const info = { address: null, port: null, proto: null, payloads: [], direction: 'sendrecv',
		sessionId: null, version: null, originAddress: null };
	let inMedia = false;
	for (const line of body.split(/\r?\n/)) {
		let m;
		if ((m = /^o=\S+ (\S+) (\d+) IN IP[46] (\S+)/.exec(line))) {
			info.sessionId = m[1];
			info.version = BigInt(m[2]);
			info.originAddress = m[3];
		}
		else if ((m = /^c=IN IP[46] (\S+)/.exec(line))) {
			if (!inMedia || info.address === null) info.address = m[1];
			if (inMedia) info.address = m[1];
		} else if ((m = /^m=audio (\d+) (\S+) ?(.*)$/.exec(line))) {
			inMedia = true;
			info.port = Number(m[1]);
			info.proto = m[2];
			info.payloads = m[3].split(/\s+/).filter(Boolean).map(Number);
		} else if ((m = /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/.exec(line))) {
			info.direction = m[1];
		}
	}
	return info;
}

const ANSWER_DIRECTION = { sendrecv: 'sendrecv', sendonly: 'recvonly', recvonly: 'sendonly',
	inactive: 'inactive' };

// An answer to offer (RFC 3264): the offer's formats, the mirrored direction.
function rtpAnswer(offer, { port = 40002, address = '127.0.0.1', version = 1 } = {}) {
	const info = sdpInfo(offer);
	const payloads = info && info.payloads.length ? info.payloads : [0, 101];
	return rtpSdp({ address, port, version, payloads,
		direction: ANSWER_DIRECTION[info ? info.direction : 'sendrecv'] });
}

const ALLOW = 'ACK,CANCEL,INVITE,MESSAGE,BYE,OPTIONS,INFO,NOTIFY,REFER';

// One call (INVITE dialog) on a SipWsClient, from either side, written as
// SIP.js's Inviter/Invitation put it on the wire. Every message sent and
// received is kept in `log` ({dir: 'in'|'out', msg}); received messages not
// yet taken wait in `mailbox`. By default requests inside the call are
// answered as SIP.js answers them (BYE/INFO/NOTIFY/MESSAGE 200, re-INVITE 200
// with a mirrored answer, CANCEL 200 + 487); set autoRespond = false to answer
// yourself with respond().
class Call {
	constructor(client, fields) {
		Object.assign(this, fields);
		this.client = client;
		this.log = [];
		this.mailbox = new Mailbox();
		this.autoRespond = true;
		this.remoteCseq = null;
		this.state = 'initial'; // initial, early, confirmed, terminated
		this.contact = `<${client.contactUri()};ob>`;
		this.localSdp = null;
		this.remoteSdp = null;
		this.routeSet = [];
	}

	static fromInvite(client, invite) {
		const call = new Call(client, {
			direction: 'incoming',
			callId: header(invite, 'call-id'),
			localHeader: `${header(invite, 'to')};tag=${randomToken(5)}`,
			remoteHeader: header(invite, 'from'),
			remoteTarget: uriOf(contacts(invite)[0]),
			localCseq: 1,
		});
		call.invite = invite;
		call.routeSet = headerValues(invite, 'record-route').flatMap(splitList);
		call.remoteCseq = cseqOf(invite).number;
		call.remoteSdp = invite.body || null;
		return call;
	}

	get localTag() {
		return tagOf(this.localHeader);
	}

	get remoteTag() {
		return tagOf(this.remoteHeader);
	}

	sendText(text) {
		this.log.push({ dir: 'out', msg: parseMessage(text) });
		this.client.send(text);
	}

	// A request inside (or starting) this call. Returns {text, branch}.
	buildRequest({ method, cseq, branch, extra = [], body = '', contentType, uri, to }) {
		branch = branch || 'z9hG4bK' + randomToken(8);
		// A Max-Forwards among the extra lines replaces the usual 70.
		const ownMf = extra.some((l) => /^max-forwards:/i.test(l));
		const lines = [
			`${method} ${uri || this.remoteTarget} SIP/2.0`,
			`Via: SIP/2.0/WSS ${this.client.viaHost};branch=${branch}`,
			...(ownMf ? [] : ['Max-Forwards: 70']),
			...this.routeSet.map((r) => `Route: ${r}`),
			`To: ${to || this.remoteHeader}`,
			`From: ${this.localHeader}`,
			`Call-ID: ${this.callId}`,
			`CSeq: ${cseq} ${method}`,
			...extra,
			'Supported: outbound',
			'User-Agent: sipwire-integration',
		];
		if (body) lines.push(`Content-Type: ${contentType || 'application/sdp'}`);
		lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
		return { text: lines.join('\r\n'), branch };
	}

	// --- outgoing side (Inviter) ---

	sendInvite(sdp, extra = [], authorization) {
		this.inviteCseq = this.localCseq++;
		this.localSdp = sdp;
		this.inviteExtra = extra;
		const req = this.buildRequest({ method: 'INVITE', cseq: this.inviteCseq, body: sdp,
			uri: this.requestUri, to: `<${this.requestUri}>`,
			extra: [`Contact: ${this.contact}`, `Allow: ${ALLOW}`, ...extra,
				...(authorization ? [authorization] : [])] });
		this.inviteBranch = req.branch;
		this.inviteText = req.text;
		this.sendText(req.text);
	}

	isInviteResponse(msg) {
		const c = cseqOf(msg);
		return msg.status !== undefined && c.method === 'INVITE' && c.number === this.inviteCseq;
	}

	// The next response to the (initial) INVITE matching match(msg).
	nextResponse(match = () => true, timeoutMs = DEFAULT_TIMEOUT_MS) {
		return this.mailbox.next((m) => this.isInviteResponse(m) && match(m), timeoutMs,
			`a response to INVITE ${this.callId}`);
	}

	// The final response to the INVITE. A 401/407 is answered once with the
	// credentials (new INVITE, CSeq + 1, as RFC 3261 §22.2 says) and the
	// challenge kept in this.challenge. Provisionals on the way are kept in
	// this.provisionals.
	async final(timeoutMs = DEFAULT_TIMEOUT_MS) {
		this.provisionals = this.provisionals || [];
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const res = await this.nextResponse(() => true, Math.max(1, deadline - Date.now()));
			if (res.status < 200) {
				this.provisionals.push(res);
				continue;
			}
			if ((res.status === 401 || res.status === 407) && this.credentials && !this.challenge) {
				this.challenge = res;
				const name = res.status === 401 ? 'www-authenticate' : 'proxy-authenticate';
				const challenge = parseChallenge(headerValues(res, name)[0] || '');
				if (!challenge) return res;
				const value = digestAuthorization({ challenge, ...this.credentials,
					method: 'INVITE', uri: this.requestUri });
				const field = res.status === 401 ? 'Authorization' : 'Proxy-Authorization';
				this.sendInvite(this.localSdp, this.inviteExtra, `${field}: ${value}`);
				continue;
			}
			this.finalResponse = res;
			return res;
		}
	}

	// ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the INVITE's
	// branch and Request-URI, the response's To.
	ackNon2xx(res) {
		const text = [
			`ACK ${this.requestUri} SIP/2.0`,
			`Via: SIP/2.0/WSS ${this.client.viaHost};branch=${branchOf(res)}`,
			'Max-Forwards: 70',
			`To: ${header(res, 'to')}`,
			`From: ${this.localHeader}`,
			`Call-ID: ${this.callId}`,
			`CSeq: ${cseqOf(res).number} ACK`,
			'Supported: outbound',
			'User-Agent: sipwire-integration',
			'Content-Length: 0', '', ''].join('\r\n');
		this.sendText(text);
	}

	// ACK for a 2xx: a transaction of its own, to the remote target.
	ack(cseq = this.inviteCseq) {
		this.sendText(this.buildRequest({ method: 'ACK', cseq }).text);
	}

	// CANCEL of the pending INVITE (RFC 3261 §9.1): same branch, Request-URI,
	// From, To, Call-ID and CSeq number. Resolves with the 200 to the CANCEL.
	async cancel(timeoutMs = DEFAULT_TIMEOUT_MS) {
		const text = [
			`CANCEL ${this.requestUri} SIP/2.0`,
			`Via: SIP/2.0/WSS ${this.client.viaHost};branch=${this.inviteBranch}`,
			'Max-Forwards: 70',
			`To: <${this.requestUri}>`,
			`From: ${this.localHeader}`,
			`Call-ID: ${this.callId}`,
			`CSeq: ${this.inviteCseq} CANCEL`,
			'Supported: outbound',
			'User-Agent: sipwire-integration',
			'Content-Length: 0', '', ''].join('\r\n');
		this.sendText(text);
		return this.mailbox.next((m) => m.status !== undefined && cseqOf(m).method === 'CANCEL',
			timeoutMs, `the response to CANCEL ${this.callId}`);
	}

	// --- both sides, inside the dialog ---

	// Sends a request inside the dialog and resolves with its final response
	// (provisionals are skipped). A 2xx to a re-INVITE is ACKed.
	async request(method, { extra = [], body = '', contentType } = {}, timeoutMs = DEFAULT_TIMEOUT_MS) {
		const cseq = this.localCseq++;
		const req = this.buildRequest({ method, cseq, extra, body, contentType });
		this.sendText(req.text);
		const res = await this.mailbox.next((m) => m.status >= 200 && branchOf(m) === req.branch,
			timeoutMs, `the final response to ${method} ${this.callId}`);
		res.request = parseMessage(req.text);
		if (method === 'INVITE' && res.status < 300) this.ack(cseq);
		if (method === 'BYE') this.state = 'terminated';
		return res;
	}

	bye(options, timeoutMs) {
		return this.request('BYE', options, timeoutMs);
	}

	// A re-INVITE with a new offer (e.g. rtpSdp({direction: 'sendonly'}) to hold).
	reinvite(sdp, timeoutMs) {
		this.localSdp = sdp;
		return this.request('INVITE', { body: sdp,
			extra: [`Contact: ${this.contact}`, `Allow: ${ALLOW}`] }, timeoutMs);
	}

	// INFO; by default a DTMF digit as SIP.js and JsSIP send it.
	info(body = 'Signal=5\r\nDuration=160\r\n', contentType = 'application/dtmf-relay', timeoutMs) {
		return this.request('INFO', { body, contentType }, timeoutMs);
	}

	// REFER (blind transfer) as SIP.js sends it.
	refer(target, timeoutMs) {
		return this.request('REFER', { extra: [`Referred-By: <${this.client.aor()}>`,
			`Contact: ${this.contact}`, `Allow: ${ALLOW}`, `Refer-To: <${target}>`] }, timeoutMs);
	}

	// The next request received in this call with this method (and match).
	nextRequest(method, timeoutMs = DEFAULT_TIMEOUT_MS, match = () => true) {
		return this.mailbox.next((m) => m.method === method && match(m), timeoutMs,
			`${method} in call ${this.callId}`);
	}

	// Every message of this call with a method/status, in either direction.
	sent(method) {
		return this.log.filter((e) => e.dir === 'out' && e.msg.method === method).map((e) => e.msg);
	}

	received(method) {
		return this.log.filter((e) => e.dir === 'in' && e.msg.method === method).map((e) => e.msg);
	}

	// --- incoming side (Invitation) ---

	// A response to a request of this call; extra: header lines; body with
	// contentType (application/sdp by default).
	respond(req, status, reason, { extra = [], body = '', contentType } = {}) {
		const to = header(req, 'to');
		const lines = [`SIP/2.0 ${status} ${reason}`,
			...headerValues(req, 'via').map((v) => `Via: ${v}`),
			`To: ${tagOf(to) ? to : `${to};tag=${this.localTag}`}`,
			`From: ${header(req, 'from')}`,
			`Call-ID: ${header(req, 'call-id')}`,
			`CSeq: ${header(req, 'cseq')}`];
		if (req.method === 'INVITE' && status > 100 && status < 300) {
			lines.push(...headerValues(req, 'record-route').map((r) => `Record-Route: ${r}`));
			lines.push(`Contact: ${this.contact}`, `Allow: ${ALLOW}`);
		}
		lines.push(...extra, 'Supported: outbound', 'User-Agent: sipwire-integration');
		if (body) lines.push(`Content-Type: ${contentType || 'application/sdp'}`);
		lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
		this.sendText(lines.join('\r\n'));
	}

	ring() {
		this.respond(this.invite, 180, 'Ringing');
		this.state = 'early';
	}

	// 200 with an answer to the INVITE's offer; resolves with the ACK.
	async answer(sdp, timeoutMs = DEFAULT_TIMEOUT_MS) {
		this.localSdp = sdp || rtpAnswer(this.invite.body);
		this.respond(this.invite, 200, 'OK', { body: this.localSdp });
		this.answered = true;
		const ack = await this.nextRequest('ACK', timeoutMs);
		this.state = 'confirmed';
		return ack;
	}

	reject(status = 486, reason = 'Busy Here') {
		this.respond(this.invite, status, reason);
		this.answered = true;
		this.state = 'terminated';
	}

	// --- what arrives ---

	receive(msg) {
		this.log.push({ dir: 'in', msg });
		if (msg.status !== undefined) this.receiveResponse(msg);
		else this.receiveRequest(msg);
		this.mailbox.push(msg);
	}

	receiveResponse(res) {
		if (!this.isInviteResponse(res)) return;
		if (res.status >= 300) {
			this.ackNon2xx(res);
			this.state = 'terminated';
		} else if (res.status >= 200) {
			if (this.state !== 'confirmed') {
				// the first 2xx makes the dialog (RFC 3261 §12.1.2)
				this.remoteHeader = header(res, 'to');
				const target = contacts(res)[0];
				if (target) this.remoteTarget = uriOf(target);
				this.routeSet = headerValues(res, 'record-route').flatMap(splitList).reverse();
				this.remoteSdp = res.body || this.remoteSdp;
				this.state = 'confirmed';
				if (this.autoAck) this.ack();
			} else if (tagOf(header(res, 'to')) === this.remoteTag && this.autoAck) {
				this.ack(); // a retransmitted 2xx: its ACK was lost or is late
			}
		} else if (res.status > 100 && tagOf(header(res, 'to')) && this.state === 'initial') {
			this.state = 'early';
		}
	}

	receiveRequest(req) {
		const method = req.method;
		if (method === 'ACK') return;
		if (method === 'CANCEL') {
			this.respond(req, 200, 'OK');
			if (!this.answered) {
				this.respond(this.invite, 487, 'Request Terminated');
				this.answered = true;
				this.state = 'terminated';
			}
			return;
		}
		if (method === 'INVITE' && req === this.invite) {
			if (this.client.ringIncoming) this.ring();
			return;
		}
		if (!this.autoRespond) return;
		if (method === 'INVITE') {
			const answer = rtpAnswer(req.body, { version: (this.answerVersion = (this.answerVersion || 1) + 1) });
			this.remoteCseq = cseqOf(req).number;
			this.respond(req, 200, 'OK', { body: answer });
			return;
		}
		if (method === 'REFER') {
			this.respond(req, 202, 'Accepted');
			return;
		}
		this.respond(req, 200, 'OK');
		if (method === 'BYE') this.state = 'terminated';
	}
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
		this.frames = new Mailbox(); // received frames no call took
		this.pings = 0;
		this.closed = null; // {code, reason} once closed
		this.calls = new Map(); // Call-ID -> Call, for calls made or taken
		this.incoming = new Mailbox(); // new Calls from received INVITEs
		this.acceptingCalls = false;
		this.credentials = null; // {user, password} from register(), for 401/407 to INVITE
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
					const err = new Error(`connection closed (${code} ${this.closed.reason})`);
					this.frames.fail(err);
					for (const call of this.calls.values()) call.mailbox.fail(err);
					this.incoming.fail(err);
				});
			});
			ws.on('message', (data, isBinary) => {
				const frame = { data: Buffer.from(data), isBinary };
				if (!this.dispatchToCall(frame)) this.frames.push(frame);
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

	// The next received frame satisfying match({data, isBinary}).
	nextFrame(match = () => true, timeoutMs = DEFAULT_TIMEOUT_MS, what = 'a frame') {
		return this.frames.next(match, timeoutMs, what);
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
		this.credentials = { user, password };
		this.user = user;
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

SipWsClient.prototype.dispatchToCall = function dispatchToCall(frame) {
	const msg = parseMessage(frame.data);
	if (!msg) return false;
	const call = this.calls.get(header(msg, 'call-id'));
	if (call) {
		call.receive(msg);
		return true;
	}
	if (msg.method === 'INVITE' && this.acceptingCalls && !tagOf(header(msg, 'to'))) {
		const incoming = Call.fromInvite(this, msg);
		this.calls.set(incoming.callId, incoming);
		incoming.receive(msg);
		this.incoming.push(incoming);
		return true;
	}
	return false;
};

// The URI a call's From carries: the registered AOR when there is one.
SipWsClient.prototype.aor = function aor() {
	return `sip:${this.user || 'anonymous'}@${this.domain}`;
};

// Starts a call as SIP.js's Inviter does: INVITE with SDP, Contact
// ;transport=ws;ob, Allow, Supported. Returns the Call at once; its
// responses come through call.nextResponse()/call.final().
// options: sdp (string; default rtpSdp()), extra (header lines), from (URI),
// autoAck (default true), credentials (default those of register()).
SipWsClient.prototype.invite = function invite(uri, options = {}) {
	const call = new Call(this, {
		direction: 'outgoing',
		callId: randomToken(10),
		localHeader: `<${options.from || this.aor()}>;tag=${randomToken(5)}`,
		remoteHeader: `<${uri}>`,
		remoteTarget: uri,
		localCseq: 1,
	});
	call.autoAck = options.autoAck !== false;
	call.credentials = options.credentials === undefined ? this.credentials : options.credentials;
	call.requestUri = uri;
	this.calls.set(call.callId, call);
	call.sendInvite(options.sdp === undefined ? rtpSdp() : options.sdp, options.extra || []);
	return call;
};

// From now on INVITEs that start a dialog become Calls (see nextIncomingCall).
// Each is answered 180 at once unless options.ring is false.
SipWsClient.prototype.acceptCalls = function acceptCalls(options = {}) {
	this.acceptingCalls = true;
	this.ringIncoming = options.ring !== false;
};

SipWsClient.prototype.nextIncomingCall = function nextIncomingCall(timeoutMs = DEFAULT_TIMEOUT_MS) {
	return this.incoming.next(() => true, timeoutMs, 'an incoming INVITE');
};

// Opens a client and waits for the handshake.
async function connectClient(port, options) {
	const c = new SipWsClient(`ws://127.0.0.1:${port}/`, options);
	return c.connect();
}

module.exports = { SipWsClient, Call, Mailbox, connectClient, parseMessage, header, headerValues,
	contacts, parseChallenge, digestAuthorization, splitList, randomToken, md5, tagOf, uriOf,
	cseqOf, branchOf, rtpSdp, rtpAnswer, sdpInfo };
