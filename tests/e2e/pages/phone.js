// A minimal SIP.js 0.21.2 phone for the browser tests. The test drives it
// through page.evaluate on window.phone; every function resolves with plain
// data (no SIP.js objects) so it crosses into Node as JSON.
import {
	Inviter, Registerer, RegistererState, SessionState, UserAgent,
} from '/sip.js/index.js';

const phone = {
	ua: null,
	registerer: null,
	session: null, // the current call, outgoing or answered
	incoming: [], // invitations not yet answered or rejected
	lastStatus: null, // the last final (or provisional, until a final) SIP response seen
	lastReason: null,
	log: [], // SIP.js's warnings and errors (the console gets every line)
};

function show(id, text) {
	const el = document.getElementById(id);
	if (el) el.textContent = text;
}

function noteResponse(response) {
	const m = response.message;
	phone.lastStatus = m.statusCode;
	phone.lastReason = m.reasonPhrase;
	show('last', `${m.statusCode} ${m.reasonPhrase}`);
}

function withTimeout(promise, ms, what) {
	let timer;
	return Promise.race([promise, new Promise((resolve, reject) => {
		timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
	})]).finally(() => clearTimeout(timer));
}

function sessionState() {
	return phone.session ? phone.session.state : null;
}

function status() {
	return {
		registration: phone.registerer ? phone.registerer.state : null,
		connected: phone.ua ? phone.ua.isConnected() : false,
		session: sessionState(),
		callId: phone.session ? phone.session.request.callId : null,
		incoming: phone.incoming.map((inv) => inv.remoteIdentity.uri.toString()),
		lastStatus: phone.lastStatus,
		lastReason: phone.lastReason,
	};
}

// Remote audio goes to the page's <audio>, as a softphone plays it.
function playRemote(session) {
	const sdh = session.sessionDescriptionHandler;
	const audio = document.getElementById('remote');
	if (sdh && audio && sdh.remoteMediaStream) {
		audio.srcObject = sdh.remoteMediaStream;
		audio.play().catch(() => {}); // autoplay is allowed once the microphone is
	}
}

function adopt(session) {
	phone.session = session;
	show('call', session.state);
	session.stateChange.addListener((state) => {
		if (phone.session !== session) return;
		show('call', state);
		if (state === SessionState.Established) playRemote(session);
		if (state === SessionState.Terminated) document.getElementById('remote').srcObject = null;
	});
}

// Resolves once the session reaches one of states (or is already there).
function sessionReaches(session, states) {
	if (states.includes(session.state)) return Promise.resolve(session.state);
	return new Promise((resolve) => {
		const listener = (state) => {
			if (!states.includes(state)) return;
			session.stateChange.removeListener(listener);
			resolve(state);
		};
		session.stateChange.addListener(listener);
	});
}

function registererReaches(registerer, states) {
	if (states.includes(registerer.state)) return Promise.resolve(registerer.state);
	return new Promise((resolve) => {
		const listener = (state) => {
			if (!states.includes(state)) return;
			registerer.stateChange.removeListener(listener);
			resolve(state);
		};
		registerer.stateChange.addListener(listener);
	});
}

const sdhOptions = { constraints: { audio: true, video: false } };

// Connects the WebSocket and registers; resolves with the status once the
// registrar accepted or refused (SIP.js answers a challenge by itself).
async function connect(wsUrl, user, password, domain, { timeoutMs = 10000 } = {}) {
	const ua = new UserAgent({
		uri: UserAgent.makeURI(`sip:${user}@${domain}`),
		transportOptions: { server: wsUrl, connectionTimeout: 5 },
		authorizationUsername: user,
		authorizationPassword: password,
		// SIP.js's default public STUN server cannot be reached here and
		// stalls every offer until the gathering timeout
		sessionDescriptionHandlerFactoryOptions: { peerConnectionConfiguration: { iceServers: [] } },
		logBuiltinEnabled: false,
		logConnector: (level, category, label, content) => {
			if (level === 'warn' || level === 'error') phone.log.push(`${level} ${category} ${content}`);
			console.log(`sip.js ${level} ${category}: ${content}`);
		},
		delegate: {
			onInvite: (invitation) => {
				phone.incoming.push(invitation);
				invitation.stateChange.addListener((state) => {
					if (state === SessionState.Terminated || state === SessionState.Established)
						phone.incoming = phone.incoming.filter((i) => i !== invitation);
				});
			},
		},
	});
	phone.ua = ua;
	await withTimeout(ua.start(), timeoutMs, 'WebSocket connection');
	const registerer = new Registerer(ua, { expires: 300 });
	phone.registerer = registerer;
	registerer.stateChange.addListener((s) => show('registration', s));
	let refused;
	const done = new Promise((resolve) => { refused = resolve; });
	await registerer.register({
		requestDelegate: {
			onAccept: noteResponse,
			onReject: (response) => { noteResponse(response); refused(); },
		},
	});
	await withTimeout(Promise.race([done, registererReaches(registerer, [RegistererState.Registered])]),
		timeoutMs, 'REGISTER');
	return status();
}

// Unregisters (waits for the registrar's answer) and closes the WebSocket.
async function disconnect({ timeoutMs = 10000 } = {}) {
	const { ua, registerer } = phone;
	if (registerer && registerer.state === RegistererState.Registered) {
		await registerer.unregister({ requestDelegate: { onAccept: noteResponse, onReject: noteResponse } });
		await withTimeout(registererReaches(registerer, [RegistererState.Unregistered]), timeoutMs,
			'un-REGISTER');
	}
	const result = status();
	if (ua) await ua.stop();
	result.connected = ua ? ua.isConnected() : false;
	return result;
}

// Places an audio-only call; resolves at the final response (or when the
// session ends without one) with the status. withoutSdp: an INVITE with no
// offer (the offer comes in the 200, the answer in the ACK).
async function call(target, { timeoutMs = 15000, withoutSdp = false } = {}) {
	const uri = UserAgent.makeURI(target);
	if (!uri) throw new Error(`not a SIP URI: ${target}`);
	const inviter = new Inviter(phone.ua, uri, { sessionDescriptionHandlerOptions: sdhOptions,
		inviteWithoutSdp: withoutSdp });
	adopt(inviter);
	let final;
	const answered = new Promise((resolve) => { final = resolve; });
	await inviter.invite({
		requestDelegate: {
			onProgress: noteResponse,
			onAccept: (r) => { noteResponse(r); final(); },
			onReject: (r) => { noteResponse(r); final(); },
		},
	});
	await withTimeout(Promise.race([answered, sessionReaches(inviter, [SessionState.Terminated])]),
		timeoutMs, `INVITE ${target}`);
	// a 2xx resolves before SIP.js applied the answer; the state follows
	await withTimeout(sessionReaches(inviter, [SessionState.Established, SessionState.Terminated]),
		timeoutMs, 'the session to settle');
	return status();
}

// Resolves once an incoming call is waiting.
async function waitForIncoming({ timeoutMs = 10000 } = {}) {
	const started = Date.now();
	while (!phone.incoming.length) {
		if (Date.now() - started > timeoutMs) throw new Error(`no incoming call within ${timeoutMs} ms`);
		await new Promise((r) => setTimeout(r, 20));
	}
	return status();
}

async function answer({ timeoutMs = 10000 } = {}) {
	const invitation = phone.incoming.shift();
	if (!invitation) throw new Error('no incoming call to answer');
	adopt(invitation);
	await invitation.accept({ sessionDescriptionHandlerOptions: sdhOptions });
	await withTimeout(sessionReaches(invitation, [SessionState.Established, SessionState.Terminated]),
		timeoutMs, 'the answered call to settle');
	return status();
}

async function reject(statusCode = 486) {
	const invitation = phone.incoming.shift();
	if (!invitation) throw new Error('no incoming call to reject');
	await invitation.reject({ statusCode });
	return status();
}

// Ends the call as its state allows: CANCEL before an answer, BYE after.
async function hangup({ timeoutMs = 10000 } = {}) {
	const session = phone.session;
	if (!session) return status();
	switch (session.state) {
	case SessionState.Initial:
	case SessionState.Establishing:
		if (session instanceof Inviter) await session.cancel();
		else await session.reject();
		break;
	case SessionState.Established:
		await session.bye({ requestDelegate: { onAccept: noteResponse, onReject: noteResponse } });
		break;
	default:
		break;
	}
	await withTimeout(sessionReaches(session, [SessionState.Terminated]), timeoutMs, 'hang up');
	return status();
}

// A re-INVITE with SDH options on top of the page's (hold: sendonly, or
// sendrecv; offerOptions: {iceRestart: true}); resolves with its final status.
async function reinvite(extra, what, { timeoutMs = 10000 } = {}) {
	const session = phone.session;
	if (!session || session.state !== SessionState.Established) throw new Error('no established call');
	session.sessionDescriptionHandlerOptionsReInvite = { ...sdhOptions, ...extra };
	let final;
	const answered = new Promise((resolve) => { final = resolve; });
	await session.invite({
		requestDelegate: {
			onAccept: (r) => { noteResponse(r); final(); },
			onReject: (r) => { noteResponse(r); final(); },
		},
	});
	await withTimeout(answered, timeoutMs, what);
	return status();
}

const setHold = (hold, options) =>
	reinvite({ hold }, hold ? 'hold re-INVITE' : 'resume re-INVITE', options);
const restartIce = (options) =>
	reinvite({ offerOptions: { iceRestart: true } }, 'ICE restart re-INVITE', options);

// DTMF as SIP.js and JsSIP send it: INFO application/dtmf-relay.
async function sendDtmf(tone, { durationMs = 160, timeoutMs = 10000 } = {}) {
	const session = phone.session;
	if (!session || session.state !== SessionState.Established) throw new Error('no established call');
	let final;
	const answered = new Promise((resolve) => { final = resolve; });
	await session.info({
		requestDelegate: {
			onAccept: (r) => { noteResponse(r); final(); },
			onReject: (r) => { noteResponse(r); final(); },
		},
		requestOptions: {
			body: {
				contentDisposition: 'render',
				contentType: 'application/dtmf-relay',
				content: `Signal=${tone}\r\nDuration=${durationMs}`,
			},
		},
	});
	await withTimeout(answered, timeoutMs, `INFO ${tone}`);
	return status();
}

// What a person would notice of the audio, from an RTCPeerConnection's
// statistics: packets and energy coming in, packets going out, the ICE pair
// in use and the DTLS state.
async function statsOf(pc) {
	const report = await pc.getStats();
	const out = {
		connectionState: pc.connectionState,
		iceConnectionState: pc.iceConnectionState,
		inbound: null,
		outbound: null,
		pair: null,
		dtls: null,
	};
	let transport = null;
	report.forEach((s) => {
		if (s.type === 'inbound-rtp' && s.kind === 'audio')
			out.inbound = { packetsReceived: s.packetsReceived, bytesReceived: s.bytesReceived,
				totalAudioEnergy: s.totalAudioEnergy || 0, audioLevel: s.audioLevel || 0,
				packetsLost: s.packetsLost, jitter: s.jitter };
		if (s.type === 'outbound-rtp' && s.kind === 'audio')
			out.outbound = { packetsSent: s.packetsSent, bytesSent: s.bytesSent };
		if (s.type === 'transport') transport = s;
	});
	if (transport) {
		out.dtls = { state: transport.dtlsState, role: transport.dtlsRole, tlsVersion: transport.tlsVersion,
			srtpCipher: transport.srtpCipher };
		const pair = transport.selectedCandidatePairId && report.get(transport.selectedCandidatePairId);
		if (pair) {
			const end = (id) => {
				const c = report.get(id);
				return c && { address: c.address, port: c.port, protocol: c.protocol,
					candidateType: c.candidateType };
			};
			out.pair = { state: pair.state, local: end(pair.localCandidateId),
				remote: end(pair.remoteCandidateId), currentRoundTripTime: pair.currentRoundTripTime };
		}
	}
	return out;
}

// The current call's media statistics, with its state and last response.
async function stats() {
	const session = phone.session;
	const pc = session && session.sessionDescriptionHandler &&
		session.sessionDescriptionHandler.peerConnection;
	const media = pc ? await statsOf(pc) : null;
	return { ...status(), media };
}

// Two peer connections inside this page, fake microphone to fake
// microphone, no server: proves that this browser, its flags and statsOf
// measure audio, so that a call through the gateway that shows none points
// at the gateway.
const loopback = { a: null, b: null, stream: null };

async function startLoopback() {
	loopback.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
	const a = new RTCPeerConnection({ iceServers: [] });
	const b = new RTCPeerConnection({ iceServers: [] });
	loopback.a = a;
	loopback.b = b;
	a.onicecandidate = (e) => { if (e.candidate) b.addIceCandidate(e.candidate); };
	b.onicecandidate = (e) => { if (e.candidate) a.addIceCandidate(e.candidate); };
	b.ontrack = (e) => {
		const audio = document.getElementById('remote');
		audio.srcObject = new MediaStream([e.track]);
		audio.play().catch(() => {});
	};
	for (const track of loopback.stream.getTracks()) a.addTrack(track, loopback.stream);
	await a.setLocalDescription(await a.createOffer());
	await b.setRemoteDescription(a.localDescription);
	await b.setLocalDescription(await b.createAnswer());
	await a.setRemoteDescription(b.localDescription);
	// the offer as SIP.js would send it: once gathering has completed
	await withTimeout(new Promise((resolve) => {
		if (a.iceGatheringState === 'complete') resolve();
		a.addEventListener('icegatheringstatechange', () => {
			if (a.iceGatheringState === 'complete') resolve();
		});
	}), 5000, 'ICE gathering');
	return { offer: a.localDescription.sdp };
}

// The receiver first: packets keep flowing between the two getStats calls,
// so the sender's count, read after, is never behind the receiver's.
async function loopbackStats() {
	const receiver = await statsOf(loopback.b);
	return { sender: await statsOf(loopback.a), receiver };
}

function stopLoopback() {
	for (const pc of [loopback.a, loopback.b]) if (pc) pc.close();
	if (loopback.stream) for (const t of loopback.stream.getTracks()) t.stop();
	loopback.a = loopback.b = loopback.stream = null;
	document.getElementById('remote').srcObject = null;
}

window.phone = {
	connect, disconnect, call, waitForIncoming, answer, reject, hangup,
	hold: (options) => setHold(true, options),
	unhold: (options) => setHold(false, options),
	restartIce,
	sendDtmf, stats, status,
	log: () => phone.log.slice(),
	startLoopback, loopbackStats, stopLoopback,
	ready: true,
};
