// The softphone page: wires the form, the dial pad, the call controls, the
// meters and the call log to phone.js. SIP.js is loaded through phone.js by
// a dynamic import, so a missing SIP.js is reported on the page.

const $ = (id) => document.getElementById(id);
const TONES = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];
const METER_INTERVAL_MS = 250;
// The users scripts/run adds when given no arguments (USER / USER-demo).
const DEMO_USER = /^(alice|bob|carol)$/;
const DEMO_PASSWORD = /^(alice|bob|carol)-demo$/;

let phone = null;
let timerHandle = null;
let meterHandle = null;

function showError(text) {
	const el = $('error');
	el.textContent = text;
	el.hidden = !text;
}

// ---- the account form ----

function defaults() {
	const params = new URLSearchParams(location.search);
	const secure = location.protocol === 'https:';
	const host = location.host || 'localhost:8443';
	const saved = JSON.parse(localStorage.getItem('sipwire-softphone') || '{}');
	const pick = (name, fallback) => params.get(name) || saved[name] || fallback;
	return {
		server: pick('server', `${secure ? 'wss' : 'ws'}://${host}/`),
		domain: pick('domain', location.hostname || 'localhost'),
		user: pick('user', 'alice'),
		password: params.get('password'),
		iceServers: pick('ice', ''),
	};
}

function fillForm() {
	const d = defaults();
	$('server').value = d.server;
	$('domain').value = d.domain;
	$('user').value = d.user;
	// The demo users' passwords follow one pattern (scripts/run): prefilled
	// for them, never stored.
	$('password').value = d.password || (DEMO_USER.test(d.user) ? `${d.user}-demo` : '');
	$('ice-servers').value = d.iceServers;
	// Switching between demo users switches their passwords; a password
	// someone typed is left alone.
	$('user').addEventListener('input', () => {
		const u = $('user').value.trim();
		const pw = $('password');
		if (pw.value === '' || DEMO_PASSWORD.test(pw.value)) pw.value = DEMO_USER.test(u) ? `${u}-demo` : '';
	});
}

function iceServers(text) {
	return text.split(',').map((s) => s.trim()).filter(Boolean).map((urls) => ({ urls }));
}

async function signIn(event) {
	event.preventDefault();
	showError('');
	const settings = {
		server: $('server').value.trim(),
		domain: $('domain').value.trim(),
		user: $('user').value.trim(),
		password: $('password').value,
		iceServers: iceServers($('ice-servers').value),
	};
	localStorage.setItem('sipwire-softphone', JSON.stringify({
		server: settings.server, domain: settings.domain, user: settings.user, ice: $('ice-servers').value,
	}));
	$('sign-in').disabled = true;
	try {
		await phone.signIn(settings);
	} catch (err) {
		showError(err.message);
	}
	render();
}

async function signOut() {
	showError('');
	await phone.signOut();
	render();
}

// ---- calls ----

async function dial(event) {
	event.preventDefault();
	const target = $('number').value.trim();
	if (!target) {
		showError('enter a number or SIP address to call');
		$('number').focus();
		return;
	}
	showError('');
	try {
		await phone.dial(target);
	} catch (err) {
		showError(`call failed: ${err.message}`);
	}
	render();
}

function run(action) {
	return async () => {
		try {
			await action();
		} catch (err) {
			showError(err.message);
		}
		render();
	};
}

function pressTone(tone) {
	if (phone && phone.session && phone.call && phone.call.answered) {
		phone.sendDtmf(tone).catch((err) => showError(`DTMF failed: ${err.message}`));
	}
}

function buildPad(container, onPress, label) {
	for (const tone of TONES) {
		const b = document.createElement('button');
		b.type = 'button';
		b.textContent = tone;
		b.dataset.tone = tone;
		b.setAttribute('aria-label', `${label} ${tone}`);
		b.addEventListener('click', () => onPress(tone));
		container.append(b);
	}
}

// ---- what the page shows ----

function fmtDuration(ms) {
	const s = Math.max(0, Math.floor(ms / 1000));
	const mm = String(Math.floor(s / 60)).padStart(2, '0');
	const ss = String(s % 60).padStart(2, '0');
	return s >= 3600 ? `${Math.floor(s / 3600)}:${mm.slice(-2)}:${ss}` : `${mm}:${ss}`;
}

function setPill(id, text, kind) {
	const el = $(id);
	el.textContent = text;
	el.className = `pill ${kind || ''}`;
}

function callStatusText() {
	const call = phone.call;
	if (!call) return phone.ringing ? 'ringing' : 'idle';
	if (!call.answered) {
		if (call.direction === 'incoming') return `answering ${call.peer}`;
		return `calling ${call.peer}${call.progress ? ` (${call.progress})` : ''}`;
	}
	if (phone.held) return `on hold with ${call.peer}`;
	return `in call with ${call.peer}`;
}

function render() {
	if (!phone) return;
	const conn = phone.connection;
	const connText = conn === 'reconnecting' ? `reconnecting${phone.reconnectIn ? ` (every ${phone.reconnectIn} s)` : ''}` : conn;
	setPill('connection-status', connText,
		conn === 'connected' ? 'ok' : conn === 'disconnected' ? '' : conn === 'reconnecting' ? 'bad' : 'busy');
	const reg = phone.registration;
	setPill('registration-status', reg, reg === 'registered' ? 'ok' : reg === 'failed' ? 'bad' :
		reg === 'registering' ? 'busy' : '');

	const signedIn = !!phone.ua;
	$('sign-in').disabled = signedIn;
	$('sign-out').disabled = !signedIn;
	for (const id of ['server', 'domain', 'user', 'password', 'ice-servers']) $(id).disabled = signedIn;

	const inCall = !!phone.session;
	const answered = inCall && phone.call && !!phone.call.answered;
	$('call').disabled = !signedIn || conn !== 'connected' || inCall;
	$('hangup').disabled = !inCall;
	$('call-status').textContent = callStatusText();
	$('in-call').hidden = !answered;
	$('dialpad').hidden = inCall; // during a call the keypad sends tones
	$('mute').setAttribute('aria-pressed', String(phone.muted));
	$('mute').textContent = phone.muted ? 'Unmute' : 'Mute';
	$('hold').setAttribute('aria-pressed', String(phone.held));
	$('hold').textContent = phone.held ? 'Resume' : 'Hold';

	const ringing = phone.ringing;
	$('incoming').hidden = !ringing;
	if (ringing) $('incoming-text').textContent = `Incoming call from ${ringingPeer}`;

	if (answered && !timerHandle) {
		const tick = () => {
			$('call-timer').textContent = phone.call ? fmtDuration(Date.now() - phone.call.answered) : '';
		};
		tick();
		timerHandle = setInterval(tick, 500);
	} else if (!answered && timerHandle) {
		clearInterval(timerHandle);
		timerHandle = null;
		$('call-timer').textContent = '';
	}
	if (inCall && !meterHandle) meterHandle = setInterval(updateMeters, METER_INTERVAL_MS);
	if (!inCall && meterHandle) {
		clearInterval(meterHandle);
		meterHandle = null;
		$('mic-level').value = 0;
		$('remote-level').value = 0;
	}
}

let ringingPeer = '';

function addLog(call) {
	const li = document.createElement('li');
	const when = call.started.toLocaleTimeString();
	const arrow = call.direction === 'incoming' ? '←' : '→';
	const duration = call.answered && call.ended ? ` ${fmtDuration(call.ended - call.answered)}` : '';
	li.innerHTML = '<span class="when"></span> <span class="dir"></span> <strong class="peer"></strong>' +
		'<span class="duration"></span> <span class="result"></span>';
	li.querySelector('.when').textContent = when;
	li.querySelector('.dir').textContent = arrow;
	li.querySelector('.dir').setAttribute('aria-label', call.direction);
	li.querySelector('.peer').textContent = call.peer;
	li.querySelector('.duration').textContent = duration;
	li.querySelector('.result').textContent = `(${call.result})`;
	li.dataset.result = call.result;
	$('call-log').prepend(li);
	$('call-log-empty').hidden = true;
}

// ---- audio: the remote stream to <audio>, levels from getStats ----

function playRemote() {
	const stream = phone.remoteStream();
	const audio = $('remote-audio');
	if (stream && audio.srcObject !== stream) {
		audio.srcObject = stream;
		audio.play().catch(() => {});
	}
}

async function updateMeters() {
	const pc = phone.peerConnection();
	if (!pc) return;
	let mic = 0, remote = 0;
	try {
		const report = await pc.getStats();
		report.forEach((s) => {
			if (s.type === 'media-source' && s.kind === 'audio' && typeof s.audioLevel === 'number')
				mic = s.audioLevel;
			if (s.type === 'inbound-rtp' && s.kind === 'audio' && typeof s.audioLevel === 'number')
				remote = s.audioLevel;
		});
	} catch {
		return;
	}
	if (phone.muted || phone.held) mic = 0;
	// audioLevel is linear amplitude; its square root reads better on a bar
	$('mic-level').value = Math.sqrt(mic);
	$('remote-level').value = Math.sqrt(remote);
}

// What a test (or a curious person in the console) can read of the call's
// media; every action still goes through the page's controls.
async function mediaStats() {
	const pc = phone && phone.peerConnection();
	if (!pc) return null;
	const report = await pc.getStats();
	const out = { connectionState: pc.connectionState, inbound: null, outbound: null, dtls: null, pair: null };
	let transport = null;
	report.forEach((s) => {
		if (s.type === 'inbound-rtp' && s.kind === 'audio')
			out.inbound = { packetsReceived: s.packetsReceived, bytesReceived: s.bytesReceived,
				totalAudioEnergy: s.totalAudioEnergy || 0, audioLevel: s.audioLevel || 0 };
		if (s.type === 'outbound-rtp' && s.kind === 'audio')
			out.outbound = { packetsSent: s.packetsSent, bytesSent: s.bytesSent };
		if (s.type === 'transport') transport = s;
	});
	if (transport) {
		out.dtls = transport.dtlsState;
		const pair = transport.selectedCandidatePairId && report.get(transport.selectedCandidatePairId);
		out.pair = pair ? pair.state : null;
	}
	return out;
}

// ---- start ----

async function start() {
	fillForm();
	buildPad($('dialpad'), (tone) => {
		const n = $('number');
		n.value += tone;
		n.focus();
	}, 'Dial');
	buildPad($('keypad'), pressTone, 'DTMF');
	let Phone;
	try {
		({ Phone } = await import('./phone.js'));
	} catch (err) {
		showError(`SIP.js could not be loaded (${err.message}); on the gateway, run npm ci in web-demo/`);
		$('sign-in').disabled = true;
		return;
	}
	phone = new Phone();
	window.softphone = { phone, stats: mediaStats, ready: true };
	phone.addEventListener('change', render);
	phone.addEventListener('error', (e) => showError(e.detail));
	phone.addEventListener('reconnected', () => showError(''));
	phone.addEventListener('incoming', (e) => {
		ringingPeer = e.detail.peer;
		render();
		$('accept').focus();
	});
	phone.addEventListener('established', () => {
		playRemote();
		// tracks may arrive after the state change
		setTimeout(playRemote, 200);
	});
	phone.addEventListener('ended', (e) => {
		addLog(e.detail);
		$('remote-audio').srcObject = null;
		$('dtmf-sent').textContent = '';
		render();
	});
	phone.addEventListener('missed', (e) => {
		addLog({ direction: 'incoming', peer: e.detail.peer, started: new Date(), result: e.detail.why });
	});
	phone.addEventListener('dtmf', (e) => { $('dtmf-sent').textContent += e.detail; });

	$('account-form').addEventListener('submit', signIn);
	$('sign-out').addEventListener('click', signOut);
	$('dial-form').addEventListener('submit', dial);
	$('hangup').addEventListener('click', run(() => phone.hangUp()));
	$('accept').addEventListener('click', run(() => phone.accept()));
	$('reject').addEventListener('click', run(() => phone.reject()));
	$('mute').addEventListener('click', run(() => phone.setMute(!phone.muted)));
	$('hold').addEventListener('click', run(() => phone.setHold(!phone.held)));
	$('transfer-form').addEventListener('submit', (event) => {
		event.preventDefault();
		const target = $('transfer-target').value.trim();
		if (!target) {
			showError('enter a number or SIP address to transfer to');
			return;
		}
		run(() => phone.transfer(target))();
	});
	// Digits typed outside a text field during a call are DTMF.
	document.addEventListener('keydown', (event) => {
		if (event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return;
		if (TONES.includes(event.key)) pressTone(event.key);
	});
	render();
}

start();
