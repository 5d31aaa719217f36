'use strict';
// Calls in pass-through mode (mode = passthrough, the PBX is sipp), over UDP
// and TCP. The browser registers through the gateway with the PBX (its
// REGISTER answered by sipp/pbx_register.xml), then
//  - calls: the PBX challenges the INVITE with 407 (sipp/uas_auth.xml), the
//    browser gets that 407 with the PBX's own Proxy-Authenticate, sends the
//    INVITE again with Proxy-Authorization, and the PBX receives that header
//    unchanged with the Request-URI the browser used, and answers;
//  - is called: the PBX sends an INVITE to the token Contact the gateway gave
//    it at registration (sipp/uac_call.xml), and it reaches the browser's
//    WebSocket.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { startSipp } = require('./lib/sipp');
const { connectClient, header, headerValues, contacts, uriOf, tagOf, parseChallenge, md5,
	rtpSdp } = require('./lib/sip');
const { BROWSER_RTP_PORT, waitFor, assertGatewaySdp } = require('./lib/calls');

const nextPort = portAllocator(14);

for (const transport of ['udp', 'tcp']) {
	const T = transport.toUpperCase();

	test(`pass-through over ${T}: the PBX's 407 reaches the browser, its answer reaches the ` +
		'PBX unchanged; the PBX calls the browser at its token Contact', async (t) => {
		const wsPort = nextPort(), sipPort = nextPort(), pbxPort = nextPort();
		const pbxMedia = nextPort(3), uacPort = nextPort(), uacMedia = nextPort(3);
		const sipps = [];
		const pbx = async (options) => {
			const s = await startSipp({ port: pbxPort, mediaPort: pbxMedia, transport, ...options });
			sipps.push(s);
			return s;
		};
		const registrar = await pbx({ scenario: 'pbx_register.xml' });
		const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort },
			// the client speaks plain RTP: calls to it are offered RTP/AVP
			set: { mode: 'passthrough', 'pbx.host': '127.0.0.1', 'pbx.port': pbxPort,
				'pbx.transport': transport, 'media.ws_webrtc': false } });
		const client = await connectClient(wsPort, { domain: 'pbx.test' });
		t.after(async () => {
			client.ws.terminate();
			for (const s of sipps) {
				await s.stop();
				s.cleanup();
			}
			await daemon.stop();
		});

		const { final: registered } = await client.register({ user: 'alice',
			password: 'pbxsecret', expires: 600 });
		assert.equal(registered.status, 200, registered.raw);
		const reg = await registrar.result(5000);
		assert.equal(reg.code, 0, reg.report);
		const pbxRegister = registrar.received('REGISTER')[1];
		const tokenContact = uriOf(contacts(pbxRegister)[0]);
		const token = /^sip:(sw[0-9a-f]+)@/.exec(tokenContact)[1];

		// --- the browser calls; the PBX wants proxy authentication ---
		const auth = await pbx({ scenario: 'pbx_call_auth.xml', args: ['-m', '2'] });
		const ruri = 'sip:700@pbx.test';
		const call = client.invite(ruri, { sdp: rtpSdp({ port: BROWSER_RTP_PORT }),
			credentials: { user: 'pbxuser', password: 'pbxsecret' } });
		const final = await call.final(10000);
		assert.ok(call.challenge, 'the browser was challenged');
		assert.equal(call.challenge.status, 407, call.challenge.raw);
		const offered = headerValues(call.challenge, 'proxy-authenticate');
		assert.equal(offered.length, 1, call.challenge.raw);
		const challenge = parseChallenge(offered[0]);
		assert.equal(challenge.realm, 'pbx.test', `the PBX's own challenge:\n${call.challenge.raw}`);
		assert.equal(challenge.nonce, 'pbx407nonce1', call.challenge.raw);
		assert.equal(final.status, 200, final.raw);
		assertGatewaySdp(final.body, pbxMedia, 'the answer to the browser');

		const [first, second] = auth.received('INVITE');
		assert.ok(second, auth.summary());
		assert.equal(first.uri, ruri, 'the Request-URI the browser used');
		assert.equal(second.uri, ruri, 'the Request-URI the browser used, again');
		assert.equal(header(first, 'proxy-authorization'), undefined, first.raw);
		const sentAuth = header(call.sent('INVITE')[1], 'proxy-authorization');
		assert.ok(sentAuth, 'the browser answered the challenge');
		assert.equal(header(second, 'proxy-authorization'), sentAuth,
			`the browser's Proxy-Authorization reaches the PBX unchanged:\n${second.raw}`);
		const digest = parseChallenge(sentAuth);
		const ha1 = md5('pbxuser:pbx.test:pbxsecret');
		assert.equal(digest.response, md5(`${ha1}:${digest.nonce}:${digest.nc}:${digest.cnonce}:` +
			`auth:${md5(`INVITE:${digest.uri}`)}`), 'and it is right for what the PBX received');
		assert.equal(digest.uri, second.uri);
		assert.notEqual(header(second, 'call-id'), call.callId, 'the PBX leg is the gateway\'s');
		assert.equal(headerValues(second, 'via').length, 1, second.raw);
		assert.match(headerValues(second, 'via')[0], new RegExp(`^SIP/2\\.0/${T} 127\\.0\\.0\\.1`));
		assert.match(header(second, 'from'), /sip:alice@pbx\.test/, second.raw);

		assert.equal((await call.bye()).status, 200);
		const a = await auth.result(10000);
		assert.equal(a.code, 0, a.report);

		// --- the PBX calls the browser at the Contact it was given ---
		client.acceptCalls();
		const uac = await startSipp({ scenario: 'uac_call.xml', port: uacPort, mediaPort: uacMedia,
			transport, remote: `127.0.0.1:${sipPort}`, args: ['-s', token] });
		sipps.push(uac);
		const incoming = await client.nextIncomingCall(10000);
		const pbxInvite = await waitFor(() => uac.sent('INVITE')[0], 3000, 'sipp\'s INVITE in its trace');
		assert.match(pbxInvite.uri, new RegExp(`^sip:${token}@127\\.0\\.0\\.1:${sipPort}$`),
			'the PBX called the token Contact');
		assert.ok(incoming.invite.uri.startsWith(client.contactUri()),
			`to the browser's own Contact: ${incoming.invite.uri}`);
		assert.notEqual(incoming.callId, header(pbxInvite, 'call-id'));
		assert.match(header(incoming.invite, 'from'), /pbxcaller/, incoming.invite.raw);
		assert.ok(!/^pbx/.test(tagOf(header(incoming.invite, 'from'))), 'the gateway\'s own From tag');
		assertGatewaySdp(incoming.invite.body, uacMedia, 'the offer to the browser');
		await incoming.answer();
		const bye = await incoming.nextRequest('BYE', 5000);
		assert.equal(header(bye, 'call-id'), incoming.callId);
		const u = await uac.result(10000);
		assert.equal(u.code, 0, u.report);
	});
}
