'use strict';
// SIP over UDP on the trunk port (--sip-port): OPTIONS and REGISTER handled
// as over WebSocket, received/rport written into the top Via of responses
// (RFC 3261 §18.2.1, RFC 3581), a 400 for a malformed request it can answer,
// silence for datagrams that are not SIP, 403 for a call from a stranger.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { openUdpPeer } = require('./lib/udp');
const { connectClient, header, headerValues, contacts, parseMessage } = require('./lib/sip');

const nextPort = portAllocator(5);
const USERS = { alice: 'alice-secret' };

test('SIP over UDP', async (t) => {
	const wsPort = nextPort();
	const sipPort = nextPort();
	const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS });
	const peer = await openUdpPeer(sipPort);
	t.after(async () => {
		await peer.close();
		await daemon.stop();
	});
	const options = (fields = {}) => peer.request({ method: 'OPTIONS', uri: 'sip:sipwire.test',
		to: 'sip:sipwire.test', ...fields });
	const topVia = (res) => headerValues(res, 'via')[0] || '';

	await t.test('the trunk port listens on UDP', async () => {
		await daemon.waitForLog(new RegExp(`UDP/TCP port ${sipPort}`));
	});

	await t.test('OPTIONS from a Via naming another host, with bare rport', async () => {
		const res = await options({ viaSentBy: '192.0.2.10:5060', viaParams: ';rport' });
		assert.equal(res.status, 200, res.raw);
		assert.ok(header(res, 'allow'), res.raw);
		const via = topVia(res);
		assert.match(via, /;received=127\.0\.0\.1(;|$)/, via);
		assert.match(via, new RegExp(`;rport=${peer.port}(;|$)`), via);
		assert.match(via, /^SIP\/2\.0\/UDP 192\.0\.2\.10:5060;branch=z9hG4bK/);
	});

	await t.test('OPTIONS from a Via naming the source, without rport: Via as sent',
		async () => {
			const res = await options();
			assert.equal(res.status, 200, res.raw);
			const sent = /^Via: (.*)$/m.exec(res.sentText)[1];
			assert.equal(topVia(res), sent);
		});

	await t.test('REGISTER over UDP: challenge, 200, binding seen over WS', async () => {
		const { challenge, final } = await peer.register({ user: 'alice',
			password: USERS.alice });
		assert.equal(challenge.status, 401, challenge.raw);
		assert.equal(headerValues(challenge, 'www-authenticate').length, 1);
		assert.equal(final.status, 200, final.raw);
		const listed = contacts(final);
		assert.equal(listed.length, 1, final.raw);
		assert.match(listed[0], new RegExp(`127\\.0\\.0\\.1:${peer.port}`));
		assert.match(listed[0], /;expires=\d+/);

		const ws = await connectClient(wsPort);
		const query = await ws.register({ user: 'alice', password: USERS.alice, contact: false });
		await ws.close();
		assert.deepEqual(contacts(query.final).map((c) => c.replace(/;expires=\d+/, '')),
			listed.map((c) => c.replace(/;expires=\d+/, '')));
	});

	await t.test('a malformed request with readable headers: 400 with a reason', async () => {
		// the CSeq method is not the request's
		let res = await options({ cseq: '1 REGISTER', viaSentBy: '192.0.2.10:5060',
			viaParams: ';rport' });
		assert.equal(res.status, 400, res.raw);
		assert.match(res.reason, /cseq/i, res.startLine);
		assert.equal(header(res, 'call-id'), peer.callId);
		// the CSeq number is not a number
		res = await options({ cseq: 'banana OPTIONS' });
		assert.equal(res.status, 400, res.raw);
		assert.match(res.reason, /cseq/i, res.startLine);
	});

	await t.test('the 400 to a malformed request has received/rport in its Via', async () => {
		const res = await options({ cseq: '1 REGISTER', viaSentBy: '192.0.2.10:5060',
			viaParams: ';rport' });
		assert.equal(res.status, 400, res.raw);
		assert.match(topVia(res), new RegExp(`;received=127\\.0\\.0\\.1;rport=${peer.port}`));
	});

	await t.test('garbage gets no answer, and the next OPTIONS does', async () => {
		peer.sendRaw('\x00\x01this is not SIP\xff\r\n\r\n');
		peer.sendRaw('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
		const answer = await peer.next(() => true, 1500, 'anything', true);
		assert.equal(answer, null, `answered garbage with ${answer && answer.toString()}`);
		const res = await options();
		assert.equal(res.status, 200, res.raw);
	});

	await t.test('INVITE from an address that is neither registered nor a trunk: 403', async () => {
		const res = await peer.request({ method: 'INVITE', uri: 'sip:carol@sipwire.test',
			to: 'sip:carol@sipwire.test',
			extra: [`Contact: <sip:carol@127.0.0.1:${peer.port}>`] });
		// a 100 Trying may come first; wait for the final answer
		let final = res;
		while (final.status < 200) {
			const data = await peer.next((d) => {
				const m = parseMessage(d);
				return m && m.status >= 200;
			}, 5000, 'a final response');
			final = parseMessage(data);
		}
		assert.equal(final.status, 403, final.raw);
		await daemon.waitForLog(/"end_reason":"caller not allowed"/);
	});
});
