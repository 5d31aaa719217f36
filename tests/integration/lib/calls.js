'use strict';
// What the call tests share: a registered browser, the checks every call
// makes on the PBX leg (the B2BUA's own Call-ID, Via, tags and SDP), the
// call detail line in the daemon's log, and polling with a deadline.

const assert = require('node:assert/strict');
const { connectClient, header, headerValues, tagOf, cseqOf, sdpInfo } = require('./sip');

const USERS = { alice: 'alice-secret', bob: 'bob-secret' };
// The browser's offer: plain RTP on this port; the gateway's SDP on the PBX
// leg must not carry it (the B2BUA has its own media ports).
const BROWSER_RTP_PORT = 40000;

// A WebSocket client registered as user (digest), ready to call.
async function registeredClient(wsPort, user = 'alice') {
	const client = await connectClient(wsPort);
	const { final } = await client.register({ user, password: USERS[user] });
	assert.equal(final.status, 200, `REGISTER ${user}:\n${final.raw}`);
	return client;
}

// Resolves when check() returns something truthy (and with it); throws
// after timeoutMs with what().
async function waitFor(check, timeoutMs, what) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const v = check();
		if (v) return v;
		if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
		await new Promise((r) => setTimeout(r, 20));
	}
}

// Checks an INVITE the gateway sent to the PBX against the browser's call:
// a new Call-ID and From tag, one Via of the gateway's own over the trunk's
// transport, Max-Forwards decremented, and an SDP of the gateway's.
function assertGatewayInvite(invite, browserCall, { transport, number }) {
	assert.ok(invite, 'the PBX received an INVITE');
	const raw = invite.raw;
	assert.notEqual(header(invite, 'call-id'), browserCall.callId,
		`a B2BUA leg has its own Call-ID:\n${raw}`);
	assert.notEqual(tagOf(header(invite, 'from')), browserCall.localTag,
		`and its own From tag:\n${raw}`);
	const vias = headerValues(invite, 'via');
	assert.equal(vias.length, 1, `one Via, the gateway's (not the browser's WSS one):\n${raw}`);
	assert.match(vias[0], new RegExp(`^SIP/2\\.0/${transport.toUpperCase()} 127\\.0\\.0\\.1`),
		`the gateway's Via over ${transport}:\n${raw}`);
	assert.ok(!/\.invalid\b/.test(raw), `nothing of the browser's .invalid host:\n${raw}`);
	if (number) assert.match(invite.uri, new RegExp(`^sip:${number}@`), 'the dialled number');
	const mf = Number(header(invite, 'max-forwards'));
	assert.ok(mf >= 1 && mf < 70, `Max-Forwards decremented from the browser's 70: ${mf}`);
	assert.match(header(invite, 'content-type') || '', /^application\/sdp/i, raw);
	const sdp = sdpInfo(invite.body);
	assert.ok(sdp, `an SDP offer to the PBX:\n${raw}`);
	assert.equal(sdp.proto, 'RTP/AVP', `plain RTP toward the PBX:\n${invite.body}`);
	assert.equal(sdp.address, '127.0.0.1', invite.body);
	assert.notEqual(sdp.port, BROWSER_RTP_PORT,
		`the gateway's own RTP port, not the browser's:\n${invite.body}`);
	assert.ok(sdp.port > 0, invite.body);
}

// Checks a description the browser got from the gateway for a PBX's answer:
// the gateway's address and port, not sipp's.
function assertGatewaySdp(body, pbxMediaPort, what) {
	const sdp = sdpInfo(body);
	assert.ok(sdp, `${what}: an SDP`);
	assert.notEqual(sdp.port, pbxMediaPort, `${what}: the gateway's RTP port, not the PBX's:\n${body}`);
	assert.ok(!/^o=pbx /m.test(body), `${what}: the gateway's own o= line:\n${body}`);
}

// The browser leg's To tags are the gateway's, never the PBX's (sipp's tags
// start with pbx or fork).
function assertOwnTags(responses) {
	for (const r of responses) {
		const tag = tagOf(header(r, 'to'));
		if (tag) assert.ok(!/^(pbx|fork)/.test(tag), `the gateway's own To tag on the browser leg, ` +
			`not the PBX's:\n${r.raw}`);
	}
}

function escapeRegExp(s) {
	return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// The call detail line (JSON, subsystem cdr) the daemon writes when a call
// ends, found by the calling leg's Call-ID: {call, a_call_id, b_call_id,
// from, to, start, answer, end, end_reason, hangup, status}. Checks both
// legs' Call-IDs (bCallId null: not checked) and the expected fields
// (expect: {end_reason: RegExp, hangup: 'caller'|'callee'|'gateway',
// status}); returns the object.
async function callDetail(daemon, aCallId, bCallId, expect = {}, timeoutMs = 5000) {
	const m = await daemon.waitForLog(
		new RegExp(`(\\{"call"[^\\n]*"a_call_id":"${escapeRegExp(aCallId)}"[^\\n]*\\})[ \\t]*$`, 'm'),
		timeoutMs);
	let cdr;
	try {
		cdr = JSON.parse(m[1]);
	} catch (err) {
		assert.fail(`the call detail line is not JSON (${err.message}): ${m[1]}`);
	}
	if (bCallId !== null) assert.equal(cdr.b_call_id, bCallId, `the other leg's Call-ID: ${m[1]}`);
	for (const key of ['from', 'to', 'start', 'end', 'end_reason', 'hangup'])
		assert.ok(cdr[key], `${key} in the call detail line: ${m[1]}`);
	if (expect.end_reason) assert.match(cdr.end_reason, expect.end_reason, m[1]);
	if (expect.hangup) assert.equal(cdr.hangup, expect.hangup, `who hung up: ${m[1]}`);
	if (expect.status) assert.equal(cdr.status, expect.status, m[1]);
	if (expect.answered !== undefined)
		assert.equal(Boolean(cdr.answer), expect.answered, `answer time: ${m[1]}`);
	return cdr;
}

// The first response the browser got to its INVITE is 100 Trying (SIP.js
// cancels only after a provisional).
function assertTryingFirst(call) {
	const first = call.log.find((e) => e.dir === 'in' && e.msg.status !== undefined &&
		cseqOf(e.msg).method === 'INVITE');
	assert.ok(first, 'a response to the INVITE');
	assert.equal(first.msg.status, 100, `100 Trying first:\n${first.msg.raw}`);
}

module.exports = { USERS, BROWSER_RTP_PORT, registeredClient, waitFor, assertGatewayInvite,
	assertGatewaySdp, assertOwnTags, callDetail, assertTryingFirst };
