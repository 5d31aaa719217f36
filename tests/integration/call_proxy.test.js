'use strict';
// A trunk reached through an outbound proxy (the trunk's `outbound_proxy`,
// set in the configuration file): the INVITE goes to the proxy's address
// with the trunk as its Request-URI and the proxy as a loose Route, whether
// or not the configured proxy URI says ;lr, over UDP and TCP.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { startSipp } = require('./lib/sipp');
const { header, headerValues } = require('./lib/sip');
const { USERS, registeredClient } = require('./lib/calls');

const nextPort = portAllocator(19);

for (const transport of ['udp', 'tcp']) {
	for (const lr of ['', ';lr']) {
		test(`a trunk behind an outbound proxy (${transport.toUpperCase()}, proxy URI ` +
			`${lr ? 'with' : 'without'} ;lr)`, async (t) => {
			const wsPort = nextPort(), sipPort = nextPort(), proxyPort = nextPort(),
				media = nextPort(4);
			const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwire-proxy-'));
			const config = path.join(dir, 'config.json');
			fs.writeFileSync(config, JSON.stringify({ trunks: [{
				name: 'carrier',
				// A name that resolves nowhere: only the proxy is ever contacted.
				uri: `sip:carrier.invalid;transport=${transport}`,
				outbound_proxy: `sip:127.0.0.1:${proxyPort};transport=${transport}${lr}`,
			}] }));
			const sipp = await startSipp({ scenario: 'uas_answer.xml', port: proxyPort,
				mediaPort: media, transport });
			const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort }, users: USERS,
				extraArgs: ['--config', config] });
			let alice = null;
			t.after(async () => {
				if (alice) alice.ws.terminate();
				await sipp.stop();
				sipp.cleanup();
				await daemon.stop();
				fs.rmSync(dir, { recursive: true, force: true });
			});
			alice = await registeredClient(wsPort, 'alice');
			const call = alice.invite(`sip:5550123@${alice.domain}`);
			const answer = await call.final(8000);
			assert.equal(answer.status, 200, `${answer.raw}\n${sipp.summary()}`);
			assert.equal((await call.bye()).status, 200);
			const r = await sipp.result(5000);
			assert.equal(r.code, 0, r.report);

			const invite = sipp.received('INVITE')[0];
			assert.ok(invite, sipp.summary());
			assert.match(invite.uri, /^sip:5550123@carrier\.invalid/, invite.raw);
			const routes = headerValues(invite, 'route');
			assert.equal(routes.length, 1, invite.raw);
			assert.match(routes[0], new RegExp(`^<sip:127\\.0\\.0\\.1:${proxyPort}[^>]*;lr>$`),
				invite.raw);
			assert.equal((routes[0].match(/;lr\b/g) || []).length, 1, `one ;lr: ${routes[0]}`);
			// The BYE follows the dialog's route set (sipp recorded none): to the
			// proxy's address as well, on the same connection.
			const bye = sipp.received('BYE')[0];
			assert.ok(bye, sipp.summary());
			assert.equal(header(bye, 'call-id'), header(invite, 'call-id'));
		});
	}
}
