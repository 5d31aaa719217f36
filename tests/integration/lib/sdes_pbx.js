'use strict';
// A PBX that speaks SDES-SRTP (RTP/SAVP with a=crypto, RFC 4568) over SIP
// on UDP, in Node: sipp on Debian 12 has no SRTP. It answers the gateway's
// INVITE (picking the a=crypto line of the suite it is told to take), or
// calls through the gateway with an RTP/SAVP offer of its own, and echoes
// the audio it gets: every SRTP packet is checked and decrypted with the
// gateway's key (lib/srtp.js, not libsrtp), kept, encrypted again with the
// PBX's own key and sent back to where it came from. It also sends an
// SRTCP receiver report every 200 ms to the gateway's RTCP port and
// decrypts the SRTCP it receives.

const crypto = require('node:crypto');
const dgram = require('node:dgram');
const { Mailbox } = require('./mailbox');
const { parseMessage, header, headerValues, randomToken } = require('./sip');
const { SrtpContext, newMasterKey, splitKeySalt, cryptoLines } = require('./srtp');

function bind(port) {
	return new Promise((resolve, reject) => {
		const s = dgram.createSocket('udp4');
		s.once('error', reject);
		s.bind(port, '127.0.0.1', () => resolve(s));
	});
}

function contactUri(value) {
	const m = /<([^>]+)>/.exec(value || '');
	return m ? m[1] : (value || '').split(';')[0].trim();
}

class SdesPbx {
	// sipPort, mediaPort (RTP; RTCP on the next): the PBX's; gatewayPort:
	// the gateway's SIP port (for calls the PBX makes); suite: the one it
	// answers with (488 when the offer has none) or offers.
	constructor({ sipPort, mediaPort, gatewayPort, suite = 'AES_CM_128_HMAC_SHA1_80' }) {
		this.sipPort = sipPort;
		this.mediaPort = mediaPort;
		this.gatewayPort = gatewayPort;
		this.suite = suite;
		this.requests = new Mailbox(); // requests received: parsed messages
		this.responses = new Mailbox();
		this.log = []; // {dir, msg}
		this.own = newMasterKey(); // what the PBX sends with
		this.tx = null; // SrtpContext with this.own
		this.rx = null; // SrtpContext with the gateway's key
		this.payloads = []; // plain RTP payloads received (Buffers)
		this.rtcpIn = 0;
		this.rtcpOut = 0;
		this.echo = true; // send back what arrives (off toward an echo service)
		this.gatewayRtp = null; // {address, port} from its description
		this.gatewayRtcp = null;
		this.answers = new Map(); // Call-ID -> the 200 sent (for retransmissions)
	}

	async open() {
		this.sip = await bind(this.sipPort);
		this.rtp = await bind(this.mediaPort);
		this.rtcp = await bind(this.mediaPort + 1);
		this.sip.on('message', (d, r) => this.onSip(d, r));
		this.rtp.on('message', (d, r) => this.onRtp(d, r));
		this.rtcp.on('message', (d) => this.onRtcp(d));
		this.rrTimer = setInterval(() => this.sendReport(), 200);
		return this;
	}

	async close() {
		clearInterval(this.rrTimer);
		for (const s of [this.sip, this.rtp, this.rtcp])
			if (s) await new Promise((resolve) => s.close(resolve));
	}

	send(text, port = this.gatewayPort, address = '127.0.0.1') {
		this.log.push({ dir: 'out', msg: parseMessage(text) });
		this.sip.send(Buffer.from(text), port, address);
	}

	// ---- media ----

	// Key both directions from the gateway's line (its key, our answer's tag
	// and suite) and note where its RTCP goes.
	keyFrom(gatewayLine, body) {
		const theirs = splitKeySalt(gatewayLine.keySalt);
		const ours = splitKeySalt(this.own);
		this.rx = new SrtpContext(gatewayLine.suite, theirs.key, theirs.salt);
		this.tx = new SrtpContext(gatewayLine.suite, ours.key, ours.salt);
		const port = Number((/^m=audio (\d+)/m.exec(body) || [])[1]);
		const mux = /^a=rtcp-mux/m.test(body);
		const address = (/^c=IN IP4 (\S+)/m.exec(body) || [])[1] || '127.0.0.1';
		this.gatewayRtp = { address, port };
		this.gatewayRtcp = { address, port: mux ? port : port + 1 };
	}

	onRtp(d, rinfo) {
		if (!this.rx) return;
		const plain = this.rx.unprotectRtp(d);
		if (!plain) return;
		const hlen = 12 + 4 * (plain[0] & 0x0f);
		this.payloads.push(Buffer.from(plain.subarray(hlen)));
		const back = this.echo && this.tx.protectRtp(plain);
		if (back) this.rtp.send(back, rinfo.port, rinfo.address);
	}

	// count PCMU packets of its own to the gateway, 20 ms apart; resolves
	// with their payloads (each 160 bytes, distinct).
	async sendAudio(count) {
		const sent = [];
		const ssrc = crypto.randomBytes(4).readUInt32BE(0), seq0 = crypto.randomBytes(2).readUInt16BE(0);
		for (let i = 0; i < count; i++) {
			const pkt = Buffer.alloc(12 + 160);
			pkt[0] = 0x80;
			pkt.writeUInt16BE((seq0 + i) % 65536, 2);
			pkt.writeUInt32BE((160 * i) >>> 0, 4);
			pkt.writeUInt32BE(ssrc, 8);
			crypto.randomBytes(160).copy(pkt, 12);
			sent.push(Buffer.from(pkt.subarray(12)));
			this.rtp.send(this.tx.protectRtp(pkt), this.gatewayRtp.port, this.gatewayRtp.address);
			await new Promise((resolve) => setTimeout(resolve, 20));
		}
		return sent;
	}

	onRtcp(d) {
		if (this.rx && this.rx.unprotectRtcp(d)) this.rtcpIn++;
	}

	// A receiver report (no blocks) from the PBX's own SSRC, as SRTCP.
	sendReport() {
		if (!this.tx || !this.gatewayRtcp) return;
		const rr = Buffer.from([0x80, 201, 0, 1, 0x0b, 0xad, 0xca, 0x11]);
		const p = this.tx.protectRtcp(rr);
		this.rtcp.send(p, this.gatewayRtcp.port, this.gatewayRtcp.address);
		this.rtcpOut++;
	}

	// ---- descriptions ----

	// proto 'RTP/SAVP' with our key under tag and suite, or 'RTP/AVP' (no key).
	sdp({ proto = 'RTP/SAVP', tag = 1, suite = this.suite } = {}) {
		const lines = ['v=0', `o=pbx ${Date.now()} 1 IN IP4 127.0.0.1`, 's=-',
			'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${this.mediaPort} ${proto} 0 101`,
			'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16'];
		if (proto === 'RTP/SAVP') lines.push(`a=crypto:${tag} ${suite} inline:${this.own.toString('base64')}`);
		lines.push('a=sendrecv');
		return lines.join('\r\n') + '\r\n';
	}

	// ---- SIP ----

	response(req, status, reason, { toTag, extra = [], body = '' } = {}) {
		const to = header(req, 'to');
		const lines = [`SIP/2.0 ${status} ${reason}`,
			...headerValues(req, 'via').map((v) => `Via: ${v}`),
			`From: ${header(req, 'from')}`,
			`To: ${to}${toTag && !/;tag=/.test(to) ? `;tag=${toTag}` : ''}`,
			`Call-ID: ${header(req, 'call-id')}`, `CSeq: ${header(req, 'cseq')}`, ...extra];
		if (body) lines.push('Content-Type: application/sdp');
		lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
		return lines.join('\r\n');
	}

	onSip(data, rinfo) {
		const msg = parseMessage(data);
		if (!msg) return;
		this.log.push({ dir: 'in', msg });
		if (msg.status) {
			this.responses.push(msg);
			return;
		}
		const callId = header(msg, 'call-id');
		if (msg.method === 'INVITE' && this.answers.has(callId)) {
			this.send(this.answers.get(callId), rinfo.port, rinfo.address); // a retransmission
			return;
		}
		if (msg.method === 'INVITE') {
			this.answerInvite(msg, rinfo);
		} else if (msg.method === 'BYE') {
			this.send(this.response(msg, 200, 'OK'), rinfo.port, rinfo.address);
		}
		this.requests.push(msg);
	}

	// The gateway calls: take its line of our suite (or 488), answer with ours.
	answerInvite(req, rinfo) {
		const lines = cryptoLines(req.body);
		const line = lines.find((l) => l.suite === this.suite);
		if (!/^m=audio \d+ RTP\/SAVP /m.test(req.body) || !line) {
			this.send(this.response(req, 488, 'Not Acceptable Here', { toTag: 'pbx488' }),
				rinfo.port, rinfo.address);
			return;
		}
		this.keyFrom(line, req.body);
		this.send(this.response(req, 100, 'Trying'), rinfo.port, rinfo.address);
		const ok = this.response(req, 200, 'OK', { toTag: randomToken(4),
			extra: [`Contact: <sip:pbx@127.0.0.1:${this.sipPort}>`],
			body: this.sdp({ tag: line.tag, suite: line.suite }) });
		this.answers.set(header(req, 'call-id'), ok);
		this.send(ok, rinfo.port, rinfo.address);
	}

	// The PBX calls user through the gateway with its own offer (proto
	// RTP/SAVP, or RTP/AVP for a PBX that does not do SRTP). Resolves with
	// the final response; a 2xx is ACKed and keys the media.
	async invite(user, { proto = 'RTP/SAVP' } = {}) {
		const callId = randomToken(10), fromTag = randomToken(4), branch = 'z9hG4bK' + randomToken(8);
		const ruri = `sip:${user}@127.0.0.1:${this.gatewayPort}`;
		const body = this.sdp({ proto });
		this.dialog = { callId, fromTag, ruri, cseq: 1,
			from: `<sip:pbx@127.0.0.1:${this.sipPort}>;tag=${fromTag}`, to: `<${ruri}>` };
		const invite = [`INVITE ${ruri} SIP/2.0`,
			`Via: SIP/2.0/UDP 127.0.0.1:${this.sipPort};branch=${branch};rport`,
			'Max-Forwards: 70', `From: ${this.dialog.from}`, `To: ${this.dialog.to}`,
			`Call-ID: ${callId}`, 'CSeq: 1 INVITE', `Contact: <sip:pbx@127.0.0.1:${this.sipPort}>`,
			'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(body)}`, '', body]
			.join('\r\n');
		this.send(invite);
		const final = await this.responses.next((r) => header(r, 'call-id') === callId &&
			/INVITE/.test(header(r, 'cseq')) && r.status >= 200, 10000, 'a final answer to the INVITE');
		this.dialog.to = header(final, 'to');
		if (final.status >= 300) {
			// the ACK of a failure is part of the INVITE transaction: same branch
			this.send([`ACK ${ruri} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${this.sipPort};branch=${branch};rport`,
				'Max-Forwards: 70', `From: ${this.dialog.from}`, `To: ${this.dialog.to}`,
				`Call-ID: ${callId}`, 'CSeq: 1 ACK', 'Content-Length: 0', '', ''].join('\r\n'));
			return final;
		}
		this.dialog.target = contactUri(header(final, 'contact'));
		const line = cryptoLines(final.body)[0];
		if (proto === 'RTP/SAVP' && line) this.keyFrom(line, final.body);
		this.send(this.inDialog('ACK', 1));
		return final;
	}

	inDialog(method, cseq) {
		return [`${method} ${this.dialog.target} SIP/2.0`,
			`Via: SIP/2.0/UDP 127.0.0.1:${this.sipPort};branch=z9hG4bK${randomToken(8)};rport`,
			'Max-Forwards: 70', `From: ${this.dialog.from}`, `To: ${this.dialog.to}`,
			`Call-ID: ${this.dialog.callId}`, `CSeq: ${cseq} ${method}`, 'Content-Length: 0', '', '']
			.join('\r\n');
	}

	// Hang up a call the PBX made; resolves with the BYE's response.
	async bye() {
		this.dialog.cseq++;
		this.send(this.inDialog('BYE', this.dialog.cseq));
		return this.responses.next((r) => header(r, 'call-id') === this.dialog.callId &&
			/BYE/.test(header(r, 'cseq')), 5000, 'the answer to the BYE');
	}

	// Requests of a method received so far.
	received(method) {
		return this.log.filter((e) => e.dir === 'in' && e.msg.method === method).map((e) => e.msg);
	}

	sent(method) {
		return this.log.filter((e) => e.dir === 'out' && e.msg && e.msg.method === method)
			.map((e) => e.msg);
	}
}

async function startSdesPbx(options) {
	return new SdesPbx(options).open();
}

module.exports = { SdesPbx, startSdesPbx };
