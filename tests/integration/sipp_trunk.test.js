'use strict';
// The trunk side against sipp, the PBX of these tests: a SIP device
// registering with sipwire's registrar over UDP and TCP (with an INVITE
// transaction sipwire answers 404, no route, and sipp ACKs), and pass-through mode, where
// a browser's REGISTER goes on to sipp acting as the PBX's registrar over UDP
// and TCP, its challenge comes back, and the answer is checked by sipp.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { startDaemon, portAllocator } = require('./lib/daemon');
const { connectClient, headerValues, contacts, parseChallenge } = require('./lib/sip');

const nextPort = portAllocator(6);
const SCENARIOS = path.join(__dirname, 'sipp');

// Runs sipp with a scenario; resolves with {code, log} when it exits. The
// process is killed (and the test fails) after timeoutMs.
function runSipp(args, timeoutMs = 20000) {
	return new Promise((resolve) => {
		const proc = spawn('sipp', args,
			{ stdio: ['ignore', 'pipe', 'pipe'] });
		let log = '';
		proc.stdout.on('data', (d) => { log += d; });
		proc.stderr.on('data', (d) => { log += d; });
		const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
		proc.on('exit', (code, signal) => {
			clearTimeout(timer);
			resolve({ code, signal, log, pid: proc.pid });
		});
	});
}

function sippArgs(scenario, localPort, transport, extra = []) {
	return ['-sf', path.join(SCENARIOS, scenario), '-i', '127.0.0.1', '-p', String(localPort),
		'-t', transport, '-m', '1', '-timeout', '15', '-timeout_error', '-nostdin',
		'-trace_err', '-error_file', `/tmp/sipp-${process.pid}-${localPort}.err`, ...extra];
}

function sippErrors(localPort) {
	try {
		return require('node:fs').readFileSync(`/tmp/sipp-${process.pid}-${localPort}.err`, 'utf8');
	} catch {
		return '';
	}
}

test('a SIP device registers with sipwire over UDP and TCP (sipp as UAC)', async (t) => {
	const sipPort = nextPort();
	const daemon = await startDaemon({ ports: { sip: sipPort }, users: { alice: 'alice-secret' } });
	t.after(() => daemon.stop());
	for (const transport of ['u1', 't1']) {
		await t.test(transport === 'u1' ? 'UDP' : 'TCP', async () => {
			const local = nextPort();
			const r = await runSipp(sippArgs('uac_register.xml', local, transport,
				['-s', 'alice', '-ap', 'alice-secret', `127.0.0.1:${sipPort}`]));
			assert.equal(r.code, 0, `sipp failed (${r.code}):\n${sippErrors(local)}\n${r.log}`);
		});
	}
});

for (const [transport, sippTransport] of [['udp', 'u1'], ['tcp', 't1']]) {
	test(`pass-through REGISTER to a PBX over ${transport.toUpperCase()}`, async (t) => {
		const wsPort = nextPort(), sipPort = nextPort(), pbxPort = nextPort();
		// The PBX first: sipwire sends to it as soon as the browser registers.
		const pbx = runSipp(sippArgs('pbx_register.xml', pbxPort, sippTransport));
		const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort },
			set: { mode: 'passthrough', 'pbx.host': '127.0.0.1', 'pbx.port': pbxPort,
				'pbx.transport': transport } });
		const client = await connectClient(wsPort, { domain: 'pbx.test' });
		t.after(async () => {
			client.ws.terminate();
			await daemon.stop();
		});

		const { challenge, final } = await client.register({ user: 'alice',
			password: 'pbxsecret', expires: 600 });
		assert.ok(challenge, 'the PBX challenged');
		const auth = headerValues(challenge, 'www-authenticate');
		assert.equal(auth.length, 1, challenge.raw);
		assert.equal(parseChallenge(auth[0]).realm, 'pbx.test', 'the PBX\'s own challenge');
		assert.equal(headerValues(challenge, 'via').length, 1,
			'only the browser\'s Via comes back');
		assert.equal(final.status, 200, final.raw);
		assert.equal(headerValues(final, 'via').length, 1, final.raw);
		const listed = contacts(final);
		const mine = listed.find((c) => c.includes(client.contactUri()));
		assert.ok(mine, `the browser's own Contact in the 200:\n${final.raw}`);
		assert.match(mine, /;expires=120\b/, 'with the expiry the PBX granted');
		assert.ok(listed.some((c) => c.includes('deskphone@192.0.2.50')),
			'the user\'s other devices pass through');
		const p = await pbx;
		assert.equal(p.code, 0, `the PBX (sipp) failed — its digest check or the ` +
			`Contact it was given:\n${sippErrors(pbxPort)}\n${p.log}`);
	});
}

test('pass-through: a PBX that never answers gives the browser 408 after Timer F',
	async (t) => {
		const wsPort = nextPort(), sipPort = nextPort(), silent = nextPort();
		// T1 = 50 ms: Timer F is 64*T1 = 3.2 s.
		const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort },
			set: { mode: 'passthrough', 'pbx.host': '127.0.0.1', 'pbx.port': silent,
				'sip.timers.t1': 50, 'sip.timers.t2': 400 } });
		const client = await connectClient(wsPort, { domain: 'pbx.test' });
		t.after(async () => {
			client.ws.terminate();
			await daemon.stop();
		});
		const started = Date.now();
		const res = await client.registerOnce({ user: 'alice' }, 10000);
		const took = Date.now() - started;
		assert.equal(res.status, 408, res.raw);
		assert.ok(took >= 3000 && took < 8000, `408 after ${took} ms, Timer F is 3.2 s`);
		// UDP retransmissions went out on the way (Timer E).
		const sent = daemon.stderr.match(new RegExp(`UDP sent \\d+ bytes to 127\\.0\\.0\\.1:${silent}`, 'g')) || [];
		assert.ok(sent.length >= 5, `retransmissions seen: ${sent.length}`);
	});

test('pass-through over TCP to a PBX that refuses the connection: 503 at once',
	async (t) => {
		const wsPort = nextPort(), sipPort = nextPort(), closed = nextPort();
		const daemon = await startDaemon({ ports: { ws: wsPort, sip: sipPort },
			set: { mode: 'passthrough', 'pbx.host': '127.0.0.1', 'pbx.port': closed,
				'pbx.transport': 'tcp' } });
		const client = await connectClient(wsPort, { domain: 'pbx.test' });
		t.after(async () => {
			client.ws.terminate();
			await daemon.stop();
		});
		const started = Date.now();
		const res = await client.registerOnce({ user: 'alice' });
		assert.equal(res.status, 503, res.raw);
		assert.ok(Date.now() - started < 2000, 'not after a timer');
	});
