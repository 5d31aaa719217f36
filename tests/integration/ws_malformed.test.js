'use strict';
// What the daemon does with bad input over WebSocket: answer a malformed
// request it can reply to (400 with a reason), close a connection whose
// frames are not SIP (1007) or too big (1009), and keep serving everyone else.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { connectClient, header, randomToken } = require('./lib/sip');

const nextPort = portAllocator(2);
const MAX_MESSAGE_SIZE = 2048;

test('malformed input over WS', async (t) => {
	const port = nextPort();
	const daemon = await startDaemon({ ports: { ws: port }, users: { alice: 'alice-secret' },
		set: { 'sip.limits.max_message_size': MAX_MESSAGE_SIZE } });
	const clients = [];
	const client = async () => {
		const c = await connectClient(port);
		clients.push(c);
		return c;
	};
	// A connection open throughout, that must be served after every case.
	const bystander = await client();
	t.after(async () => {
		for (const c of clients) c.ws.terminate();
		await daemon.stop();
	});
	t.afterEach(async () => {
		const res = await bystander.options();
		assert.equal(res.status, 200, 'the daemon stopped serving other connections');
	});

	await t.test('a text frame that is not SIP: close 1007', async () => {
		const c = await client();
		c.send('hello, this is not SIP at all');
		const closed = await c.waitClose();
		assert.equal(closed.code, 1007);
	});

	await t.test('a bad CSeq: 400 with a reason, the connection stays usable', async () => {
		const c = await client();
		const branch = 'z9hG4bK' + randomToken(8);
		c.send([
			'OPTIONS sip:sipwire.test SIP/2.0',
			`Via: SIP/2.0/WSS ${c.viaHost};branch=${branch}`,
			'Max-Forwards: 70',
			'To: <sip:sipwire.test>',
			`From: <sip:probe@sipwire.test>;tag=${c.fromTag}`,
			`Call-ID: ${c.callId}`,
			'CSeq: banana OPTIONS',
			'Content-Length: 0', '', ''].join('\r\n'));
		const res = await c.response(branch);
		assert.equal(res.status, 400, res.raw);
		assert.match(res.reason, /cseq/i, `a reason naming CSeq: ${res.startLine}`);
		assert.equal(header(res, 'call-id'), c.callId);
		assert.match(header(res, 'to') || '', /;tag=/);
		assert.equal((await c.options()).status, 200);
		assert.equal(c.closed, null);
	});

	await t.test(`a message over ${MAX_MESSAGE_SIZE} bytes: close 1009`, async () => {
		const c = await client();
		const big = c.buildRequest({ method: 'OPTIONS', uri: 'sip:sipwire.test',
			to: 'sip:sipwire.test', extra: [`X-Padding: ${'a'.repeat(2 * MAX_MESSAGE_SIZE)}`] });
		c.send(big.text);
		const closed = await c.waitClose();
		assert.equal(closed.code, 1009);
	});

	// RFC 6455 §8.1: invalid UTF-8 in a text frame fails the connection.
	await t.test('a text frame with invalid UTF-8: close 1007', async () => {
		const c = await client();
		const req = c.buildRequest({ method: 'OPTIONS', uri: 'sip:sipwire.test',
			to: 'sip:sipwire.test', extra: ['Subject: caf\u00e9'] });
		// "café" with a lone 0xE9 byte, as Latin-1 would write it
		c.send(Buffer.from(req.text, 'latin1'), { binary: false });
		const closed = await c.waitClose();
		assert.equal(closed.code, 1007);
	});

	await t.test('a binary frame carrying SIP is answered', async () => {
		const c = await client();
		const req = c.buildRequest({ method: 'OPTIONS', uri: 'sip:sipwire.test',
			to: 'sip:sipwire.test' });
		c.send(Buffer.from(req.text), { binary: true });
		const res = await c.response(req.branch);
		assert.equal(res.status, 200, res.raw);
	});

	await t.test('a message within the size limit is still served', async () => {
		const c = await client();
		const res = await c.request({ method: 'OPTIONS', uri: 'sip:sipwire.test',
			to: 'sip:sipwire.test', extra: [`X-Padding: ${'b'.repeat(MAX_MESSAGE_SIZE / 2)}`] });
		assert.equal(res.status, 200, res.raw);
	});
});
