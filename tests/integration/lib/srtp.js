'use strict';
// SRTP and SRTCP (RFC 3711) with AES-128 in counter mode and HMAC-SHA1, on
// node:crypto alone: the media side of a test PBX that speaks SDES-SRTP, so
// that the gateway's libsrtp2 is checked against an implementation that
// shares no code with it. Suites: AES_CM_128_HMAC_SHA1_80 and _32 (RFC 4568
// §6.2: the 32-bit tag is for SRTP only, SRTCP keeps 80 bits). Master keys
// are used without key derivation rate and without MKI.

const crypto = require('node:crypto');

const SUITES = {
	AES_CM_128_HMAC_SHA1_80: { rtpTag: 10, rtcpTag: 10 },
	AES_CM_128_HMAC_SHA1_32: { rtpTag: 4, rtcpTag: 10 },
};

const LABEL = { rtpCipher: 0, rtpAuth: 1, rtpSalt: 2, rtcpCipher: 3, rtcpAuth: 4, rtcpSalt: 5 };
const REPLAY_WINDOW = 1024;

// AES-128 in counter mode over data from the 16-byte counter block iv. SRTP
// counts in the low 16 bits only (§4.1.1); no packet or derived key needs
// 2^16 blocks, so a 128-bit counter gives the same stream.
function aesCm(key, iv, data) {
	const c = crypto.createCipheriv('aes-128-ctr', key, iv);
	return Buffer.concat([c.update(data), c.final()]);
}

// §4.3.1 and §4.3.3: the key of one label, length bytes long. x = key_id XOR
// master salt, key_id = label || r right-aligned with the 112-bit salt (r,
// the index DIV the key derivation rate, is 0 with no rate); the PRF is
// AES-CM under the master key from x * 2^16.
function deriveKey(masterKey, masterSalt, label, length) {
	const x = Buffer.alloc(16);
	masterSalt.copy(x, 0, 0, 14);
	x[7] ^= label;
	return aesCm(masterKey, x, Buffer.alloc(length));
}

// The session keys of one master key and salt.
function sessionKeys(masterKey, masterSalt) {
	return {
		rtpCipher: deriveKey(masterKey, masterSalt, LABEL.rtpCipher, 16),
		rtpAuth: deriveKey(masterKey, masterSalt, LABEL.rtpAuth, 20),
		rtpSalt: deriveKey(masterKey, masterSalt, LABEL.rtpSalt, 14),
		rtcpCipher: deriveKey(masterKey, masterSalt, LABEL.rtcpCipher, 16),
		rtcpAuth: deriveKey(masterKey, masterSalt, LABEL.rtcpAuth, 20),
		rtcpSalt: deriveKey(masterKey, masterSalt, LABEL.rtcpSalt, 14),
	};
}

// §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16).
function packetIv(salt, ssrc, index) {
	const iv = Buffer.alloc(16);
	salt.copy(iv, 0, 0, 14);
	iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
	const hi = Math.floor(index / 2 ** 32), lo = index >>> 0;
	iv.writeUInt16BE(iv.readUInt16BE(8) ^ hi, 8);
	iv.writeUInt32BE((iv.readUInt32BE(10) ^ lo) >>> 0, 10);
	return iv;
}

function hmac(key, ...parts) {
	const h = crypto.createHmac('sha1', key);
	for (const p of parts) h.update(p);
	return h.digest();
}

// Where an RTP packet's payload starts (after CSRCs and an extension), or -1.
function rtpHeaderLength(pkt) {
	if (pkt.length < 12 || pkt[0] >> 6 !== 2) return -1;
	let n = 12 + 4 * (pkt[0] & 0x0f);
	if (pkt[0] & 0x10) {
		if (pkt.length < n + 4) return -1;
		n += 4 + 4 * pkt.readUInt16BE(n + 2);
	}
	return n <= pkt.length ? n : -1;
}

function roc32(roc) {
	const b = Buffer.alloc(4);
	b.writeUInt32BE(roc >>> 0);
	return b;
}

// One direction of SRTP and SRTCP under one master key (a crypto context per
// SSRC, as §3.2.3 keeps them), with counters a test can assert on.
class SrtpContext {
	constructor(suite, masterKey, masterSalt) {
		if (!SUITES[suite]) throw new Error(`suite ${suite} is not implemented here`);
		this.suite = suite;
		this.tags = SUITES[suite];
		this.keys = sessionKeys(masterKey, masterSalt);
		this.streams = new Map(); // ssrc -> {roc, lastSeq, highest, seen:Set}
		this.rtcpIndex = 0;
		this.rtcpSeen = new Set();
		this.counters = { protected: 0, unprotected: 0, authFailures: 0, replays: 0, malformed: 0 };
	}

	stream(ssrc) {
		let s = this.streams.get(ssrc);
		if (!s) {
			s = { roc: 0, lastSeq: -1, highest: -1, seen: new Set() };
			this.streams.set(ssrc, s);
		}
		return s;
	}

	// A plain RTP packet (Buffer) protected: a new Buffer, or null.
	protectRtp(pkt) {
		const hlen = rtpHeaderLength(pkt);
		if (hlen < 0) return null;
		const seq = pkt.readUInt16BE(2), ssrc = pkt.readUInt32BE(8);
		const s = this.stream(ssrc);
		// the sender's ROC goes up when its sequence numbers wrap
		if (s.lastSeq >= 0 && seq < s.lastSeq && s.lastSeq - seq > 0x8000) s.roc++;
		s.lastSeq = seq;
		const index = s.roc * 65536 + seq;
		const iv = packetIv(this.keys.rtpSalt, ssrc, index);
		const body = aesCm(this.keys.rtpCipher, iv, pkt.subarray(hlen));
		const out = Buffer.concat([pkt.subarray(0, hlen), body]);
		const tag = hmac(this.keys.rtpAuth, out, roc32(s.roc)).subarray(0, this.tags.rtpTag);
		this.counters.protected++;
		return Buffer.concat([out, tag]);
	}

	// An SRTP packet checked and decrypted: the plain Buffer, or null (and
	// counted) when it fails authentication, is a replay, or is no packet.
	unprotectRtp(pkt) {
		const tagLen = this.tags.rtpTag;
		const hlen = rtpHeaderLength(pkt.subarray(0, Math.max(0, pkt.length - tagLen)));
		if (hlen < 0 || pkt.length < hlen + tagLen) {
			this.counters.malformed++;
			return null;
		}
		const seq = pkt.readUInt16BE(2), ssrc = pkt.readUInt32BE(8);
		const s = this.stream(ssrc);
		// Appendix A: the index estimated from the highest sequence number seen
		let v = s.roc;
		if (s.highest >= 0) {
			const sl = s.highest % 65536;
			if (sl < 0x8000) {
				if (seq - sl > 0x8000) v = s.roc - 1;
			} else if (sl - 0x8000 > seq) {
				v = s.roc + 1;
			}
		}
		if (v < 0) {
			this.counters.replays++;
			return null;
		}
		const index = v * 65536 + seq;
		const authed = pkt.subarray(0, pkt.length - tagLen);
		const tag = pkt.subarray(pkt.length - tagLen);
		const want = hmac(this.keys.rtpAuth, authed, roc32(v)).subarray(0, tagLen);
		if (!crypto.timingSafeEqual(tag, want)) {
			this.counters.authFailures++;
			return null;
		}
		if (s.seen.has(index) || (s.highest >= 0 && index <= s.highest - REPLAY_WINDOW)) {
			this.counters.replays++;
			return null;
		}
		s.seen.add(index);
		if (index > s.highest) {
			s.highest = index;
			s.roc = v;
			for (const old of s.seen) if (old <= index - REPLAY_WINDOW) s.seen.delete(old);
		}
		const iv = packetIv(this.keys.rtpSalt, ssrc, index);
		const body = aesCm(this.keys.rtpCipher, iv, authed.subarray(hlen));
		this.counters.unprotected++;
		return Buffer.concat([authed.subarray(0, hlen), body]);
	}

	// §3.4: the first 8 bytes stay clear, then E || SRTCP index, then the tag.
	protectRtcp(pkt) {
		if (pkt.length < 8 || pkt[0] >> 6 !== 2) return null;
		const ssrc = pkt.readUInt32BE(4);
		const index = this.rtcpIndex++ & 0x7fffffff;
		const iv = packetIv(this.keys.rtcpSalt, ssrc, index);
		const body = aesCm(this.keys.rtcpCipher, iv, pkt.subarray(8));
		const eIndex = Buffer.alloc(4);
		eIndex.writeUInt32BE((0x80000000 | index) >>> 0);
		const out = Buffer.concat([pkt.subarray(0, 8), body, eIndex]);
		const tag = hmac(this.keys.rtcpAuth, out).subarray(0, this.tags.rtcpTag);
		this.counters.protected++;
		return Buffer.concat([out, tag]);
	}

	unprotectRtcp(pkt) {
		const tagLen = this.tags.rtcpTag;
		if (pkt.length < 8 + 4 + tagLen || pkt[0] >> 6 !== 2) {
			this.counters.malformed++;
			return null;
		}
		const authed = pkt.subarray(0, pkt.length - tagLen);
		const want = hmac(this.keys.rtcpAuth, authed).subarray(0, tagLen);
		if (!crypto.timingSafeEqual(pkt.subarray(pkt.length - tagLen), want)) {
			this.counters.authFailures++;
			return null;
		}
		const eIndex = authed.readUInt32BE(authed.length - 4);
		const index = eIndex & 0x7fffffff;
		if (this.rtcpSeen.has(index)) {
			this.counters.replays++;
			return null;
		}
		this.rtcpSeen.add(index);
		let body = authed.subarray(8, authed.length - 4);
		if (eIndex & 0x80000000) {
			const iv = packetIv(this.keys.rtcpSalt, pkt.readUInt32BE(4), index);
			body = aesCm(this.keys.rtcpCipher, iv, body);
		}
		this.counters.unprotected++;
		return Buffer.concat([pkt.subarray(0, 8), body]);
	}
}

// RFC 4568 key-salt: 16 bytes of key and 14 of salt, base64.
function newMasterKey() {
	return crypto.randomBytes(30);
}

function splitKeySalt(keySalt) {
	return { key: keySalt.subarray(0, 16), salt: keySalt.subarray(16, 30) };
}

// The a=crypto lines of an SDP body: [{tag, suite, keySalt (Buffer), params}].
function cryptoLines(body) {
	const out = [];
	for (const line of body.split(/\r?\n/)) {
		const m = /^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)(\|\S*)?(?: (.*))?$/.exec(line);
		if (m) out.push({ tag: Number(m[1]), suite: m[2], keySalt: Buffer.from(m[3], 'base64'),
			lifetimeMki: m[4] || '', params: m[5] || '' });
	}
	return out;
}

module.exports = { SrtpContext, SUITES, aesCm, deriveKey, sessionKeys, packetIv, newMasterKey,
	splitKeySalt, cryptoLines };
