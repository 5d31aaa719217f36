'use strict';
// A SIP-over-UDP peer on 127.0.0.1, the way a PBX or a desk phone talks to
// the daemon's trunk port: requests with a chosen top Via, responses matched
// by branch, and a way to see that nothing came back.

const dgram = require('node:dgram');
const { Mailbox } = require('./mailbox');
const { parseMessage, header, randomToken, parseChallenge, digestAuthorization } = require('./sip');

class SipUdpPeer {
	constructor(serverPort) {
		this.serverPort = serverPort;
		this.datagrams = new Mailbox();
		this.callId = randomToken(10);
		this.fromTag = randomToken(5);
		this.cseq = 1;
	}

	open() {
		return new Promise((resolve, reject) => {
			this.socket = dgram.createSocket('udp4');
			this.socket.on('message', (data) => this.datagrams.push(data));
			this.socket.once('error', reject);
			this.socket.bind(0, '127.0.0.1', () => {
				this.port = this.socket.address().port;
				resolve(this);
			});
		});
	}

	close() {
		return new Promise((resolve) => this.socket.close(resolve));
	}

	sendRaw(text) {
		this.socket.send(Buffer.from(text), this.serverPort, '127.0.0.1');
	}

	// The next datagram satisfying match, or null after timeoutMs when
	// orNull, else a rejection.
	next(match, timeoutMs, what, orNull = false) {
		return this.datagrams.next(match, timeoutMs, what, orNull);
	}

	// viaSentBy: the host[:port] written in the top Via; viaParams: what
	// follows the branch (e.g. ';rport').
	buildRequest({ method, uri, to, viaSentBy, viaParams = '', extra = [], cseq }) {
		const branch = 'z9hG4bK' + randomToken(8);
		const sentBy = viaSentBy || `127.0.0.1:${this.port}`;
		const text = [
			`${method} ${uri} SIP/2.0`,
			`Via: SIP/2.0/UDP ${sentBy};branch=${branch}${viaParams}`,
			'Max-Forwards: 70',
			`To: <${to}>`,
			`From: <${to}>;tag=${this.fromTag}`,
			`Call-ID: ${this.callId}`,
			cseq === undefined ? `CSeq: ${this.cseq++} ${method}` : `CSeq: ${cseq}`,
			...extra,
			'Content-Length: 0', '', ''].join('\r\n');
		return { text, branch };
	}

	async request(fields, timeoutMs = 5000) {
		const req = this.buildRequest(fields);
		this.sendRaw(req.text);
		const data = await this.next((d) => d.toString().includes(req.branch), timeoutMs,
			`a response to ${req.branch}`);
		const res = parseMessage(data);
		res.sentText = req.text;
		return res;
	}

	// REGISTER with a Contact at this peer, answering the challenge.
	async register({ user, password, domain = 'sipwire.test', expires = 600 }) {
		const fields = { method: 'REGISTER', uri: `sip:${domain}`, to: `sip:${user}@${domain}`,
			viaParams: ';rport',
			extra: [`Contact: <sip:${user}@127.0.0.1:${this.port}>`, `Expires: ${expires}`] };
		const first = await this.request(fields);
		if (first.status !== 401) return { challenge: null, final: first };
		const challenge = parseChallenge(header(first, 'www-authenticate') || '');
		const authorization = digestAuthorization({ challenge, user, password,
			method: 'REGISTER', uri: `sip:${domain}` });
		const final = await this.request({ ...fields,
			extra: [...fields.extra, `Authorization: ${authorization}`] });
		return { challenge: first, final };
	}
}

async function openUdpPeer(serverPort) {
	return new SipUdpPeer(serverPort).open();
}

module.exports = { SipUdpPeer, openUdpPeer };
