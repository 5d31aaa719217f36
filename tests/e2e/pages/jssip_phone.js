// A minimal JsSIP phone for the browser tests: register, call, hang up, and
// the call's RTCPeerConnection statistics. JsSIP is the global the bundle
// defines; every function resolves with plain data.
/* global JsSIP */
'use strict';

(() => {
	const state = { ua: null, session: null, registration: 'none', call: 'idle', lastStatus: null,
		lastReason: null };

	function show() {
		document.getElementById('registration').textContent = state.registration;
		document.getElementById('call').textContent = state.call;
	}

	function status() {
		return { registration: state.registration, call: state.call, lastStatus: state.lastStatus,
			lastReason: state.lastReason, callId: state.session ? state.session.id : null };
	}

	function until(check, timeoutMs, what) {
		return new Promise((resolve, reject) => {
			const started = Date.now();
			const tick = () => {
				if (check()) return resolve(status());
				if (Date.now() - started > timeoutMs) return reject(new Error(`${what}: not within ${timeoutMs} ms`));
				setTimeout(tick, 20);
			};
			tick();
		});
	}

	function connect(wsUrl, user, password, domain, { timeoutMs = 10000 } = {}) {
		const socket = new JsSIP.WebSocketInterface(wsUrl);
		const ua = new JsSIP.UA({ sockets: [socket], uri: `sip:${user}@${domain}`, password,
			register: true, session_timers: true });
		state.ua = ua;
		ua.on('registered', (e) => {
			state.registration = 'registered';
			state.lastStatus = e.response.status_code;
			show();
		});
		ua.on('registrationFailed', (e) => {
			state.registration = 'failed';
			state.lastStatus = e.response ? e.response.status_code : null;
			show();
		});
		ua.on('unregistered', () => { state.registration = 'unregistered'; show(); });
		ua.start();
		return until(() => state.registration === 'registered' || state.registration === 'failed',
			timeoutMs, 'REGISTER');
	}

	function playRemote(pc) {
		pc.addEventListener('track', (e) => {
			const audio = document.getElementById('remote');
			audio.srcObject = e.streams[0] || new MediaStream([e.track]);
			audio.play().catch(() => {});
		});
	}

	function call(target, { timeoutMs = 15000 } = {}) {
		const session = state.ua.call(target, {
			mediaConstraints: { audio: true, video: false },
			pcConfig: { iceServers: [] },
		});
		state.session = session;
		state.call = 'calling';
		show();
		if (session.connection) playRemote(session.connection);
		session.on('peerconnection', (e) => playRemote(e.peerconnection));
		session.on('progress', (e) => { if (e.response) state.lastStatus = e.response.status_code; });
		session.on('accepted', (e) => {
			if (e.response) state.lastStatus = e.response.status_code;
		});
		session.on('confirmed', () => { state.call = 'established'; show(); });
		session.on('ended', () => { state.call = 'ended'; show(); });
		session.on('failed', (e) => {
			state.call = 'failed';
			state.lastStatus = e.message && e.message.status_code;
			state.lastReason = e.cause;
			show();
		});
		return until(() => ['established', 'failed', 'ended'].includes(state.call), timeoutMs, `call ${target}`);
	}

	function hangup({ timeoutMs = 10000 } = {}) {
		if (state.session && !state.session.isEnded()) state.session.terminate();
		return until(() => state.call === 'ended' || state.call === 'failed', timeoutMs, 'hang up');
	}

	function disconnect({ timeoutMs = 10000 } = {}) {
		if (!state.ua) return Promise.resolve(status());
		state.ua.stop();
		return until(() => state.registration !== 'registered', timeoutMs, 'un-REGISTER');
	}

	async function stats() {
		const pc = state.session && state.session.connection;
		if (!pc) return { ...status(), media: null };
		const report = await pc.getStats();
		const media = { inbound: null, outbound: null, dtls: null };
		report.forEach((s) => {
			if (s.type === 'inbound-rtp' && s.kind === 'audio')
				media.inbound = { packetsReceived: s.packetsReceived, totalAudioEnergy: s.totalAudioEnergy || 0 };
			if (s.type === 'outbound-rtp' && s.kind === 'audio') media.outbound = { packetsSent: s.packetsSent };
			if (s.type === 'transport') media.dtls = s.dtlsState;
		});
		return { ...status(), media };
	}

	window.jsphone = { connect, call, hangup, disconnect, stats, status, version: JsSIP.version, ready: true };
})();
