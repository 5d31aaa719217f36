// The softphone's SIP side, on SIP.js 0.21.2: one user agent, its
// registration, at most one call at a time (plus one ringing). No DOM here:
// the page (app.js) listens to `change`, `incoming`, `ended` and `error`
// events and calls the methods. Works against any SIP-over-WebSocket server.
import {
	Inviter, Invitation, Registerer, RegistererState, SessionState, UserAgent,
} from '../sip.js/index.js';

// Reconnection after the WebSocket dropped: 1, 2, 4, 8 s, then every 10 s.
const RECONNECT_DELAYS_S = [1, 2, 4, 8, 10];
const REGISTER_EXPIRES_S = 300;

const sdhOptions = { constraints: { audio: true, video: false } };

// The reason a person can act on, for a getUserMedia or WebRTC failure.
export function mediaErrorText(err) {
	const name = err && err.name;
	if (name === 'NotAllowedError' || name === 'SecurityError') return 'microphone permission denied';
	if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'no microphone found';
	if (name === 'NotReadableError') return 'the microphone is in use by another program';
	return err && err.message ? err.message : String(err);
}

export class Phone extends EventTarget {
	constructor() {
		super();
		this.ua = null;
		this.registerer = null;
		this.settings = null;
		this.connection = 'disconnected'; // disconnected|connecting|connected|reconnecting
		this.registration = 'unregistered'; // unregistered|registering|registered|failed
		this.session = null; // the current call
		this.call = null; // what the page shows of it (see newCall)
		this.ringing = null; // an Invitation not yet accepted or rejected
		this.muted = false;
		this.held = false;
		this.stopping = false;
		this.reconnectTimer = null;
		this.reconnectAttempt = 0;
	}

	emit(type, detail) {
		this.dispatchEvent(new CustomEvent(type, { detail }));
	}

	changed() { this.emit('change'); }

	fail(text) { this.emit('error', text); }

	// settings: {server: 'wss://host/', domain, user, password, iceServers}
	async signIn(settings) {
		if (this.ua) await this.signOut();
		const uri = UserAgent.makeURI(`sip:${settings.user}@${settings.domain}`);
		if (!uri) throw new Error(`not a valid SIP address: ${settings.user}@${settings.domain}`);
		this.settings = settings;
		this.stopping = false;
		this.ua = new UserAgent({
			uri,
			displayName: settings.user,
			authorizationUsername: settings.user,
			authorizationPassword: settings.password,
			transportOptions: { server: settings.server, connectionTimeout: 5 },
			// SIP.js's default public STUN server stalls every offer where it
			// cannot be reached: none unless one is configured.
			sessionDescriptionHandlerFactoryOptions: {
				peerConnectionConfiguration: { iceServers: settings.iceServers || [] },
			},
			logBuiltinEnabled: false,
			logConnector: (level, category, label, content) => {
				if (level === 'error' || level === 'warn') console.warn(`sip.js ${category}: ${content}`);
			},
			delegate: {
				onConnect: () => this.onConnect(),
				onDisconnect: (error) => this.onDisconnect(error),
				onInvite: (invitation) => this.onInvite(invitation),
			},
		});
		this.registerer = new Registerer(this.ua, { expires: REGISTER_EXPIRES_S });
		this.registerer.stateChange.addListener((state) => {
			if (state === RegistererState.Registered) this.registration = 'registered';
			else if (state === RegistererState.Unregistered && this.registration !== 'failed')
				this.registration = 'unregistered';
			this.changed();
		});
		this.connection = 'connecting';
		this.changed();
		try {
			await this.ua.start();
		} catch (err) {
			const ua = this.ua;
			this.ua = null;
			this.registerer = null;
			this.connection = 'disconnected';
			this.changed();
			ua.stop().catch(() => {});
			throw new Error(`gateway unreachable: ${settings.server}`);
		}
		await this.register();
	}

	register() {
		this.registration = 'registering';
		this.changed();
		return this.registerer.register({
			requestDelegate: {
				// the Registerer may still say Registered from before a
				// reconnection: its state would not change, so not tell us
				onAccept: () => {
					this.registration = 'registered';
					this.changed();
				},
				onReject: (response) => {
					const m = response.message;
					this.registration = 'failed';
					this.changed();
					this.fail(`registration failed: ${m.statusCode} ${m.reasonPhrase}`);
				},
			},
		}).catch((err) => {
			this.registration = 'failed';
			this.changed();
			this.fail(`registration failed: ${err.message}`);
		});
	}

	async signOut() {
		this.stopping = true;
		clearTimeout(this.reconnectTimer);
		this.reconnectTimer = null;
		if (this.session) await this.hangUp().catch(() => {});
		if (this.ringing) await this.reject().catch(() => {});
		const { ua, registerer } = this;
		if (registerer && registerer.state === RegistererState.Registered && ua.isConnected()) {
			await Promise.race([
				registerer.unregister().then(() => new Promise((resolve) => {
					if (registerer.state === RegistererState.Unregistered) return resolve();
					registerer.stateChange.addListener((s) => {
						if (s === RegistererState.Unregistered) resolve();
					});
				})),
				new Promise((resolve) => setTimeout(resolve, 5000)),
			]).catch(() => {});
		}
		this.ua = null;
		this.registerer = null;
		if (ua) await ua.stop().catch(() => {});
		this.connection = 'disconnected';
		this.registration = 'unregistered';
		this.changed();
	}

	onConnect() {
		this.connection = 'connected';
		this.reconnectAttempt = 0;
		this.changed();
	}

	// The WebSocket closed. Asked for (sign out): done. Otherwise the gateway
	// went away: say so, drop the call (its media went with the gateway),
	// and try again with a growing delay until it is back or we sign out.
	onDisconnect(error) {
		if (this.stopping || !this.ua) {
			this.connection = 'disconnected';
			this.changed();
			return;
		}
		this.connection = 'reconnecting';
		if (this.registration === 'registered' || this.registration === 'registering')
			this.registration = 'unregistered';
		if (this.session) this.endLocally(this.session, 'connection lost');
		if (this.ringing) this.endLocally(this.ringing, 'connection lost');
		this.fail(`connection to the gateway lost${error ? ` (${error.message})` : ''}; reconnecting`);
		this.changed();
		this.scheduleReconnect();
	}

	scheduleReconnect() {
		clearTimeout(this.reconnectTimer);
		const delay = RECONNECT_DELAYS_S[Math.min(this.reconnectAttempt, RECONNECT_DELAYS_S.length - 1)];
		this.reconnectAttempt++;
		this.reconnectIn = delay;
		this.changed();
		this.reconnectTimer = setTimeout(() => this.reconnect(), delay * 1000);
	}

	async reconnect() {
		this.reconnectTimer = null;
		if (this.stopping || !this.ua) return;
		try {
			await this.ua.reconnect();
		} catch {
			if (!this.stopping && this.ua) this.scheduleReconnect();
			return;
		}
		this.emit('reconnected');
		await this.register();
	}

	// ---- calls ----

	newCall(direction, peer) {
		return { direction, peer, started: new Date(), answered: null, ended: null, result: null };
	}

	adopt(session, call) {
		this.session = session;
		this.call = call;
		this.muted = false;
		this.held = false;
		session.stateChange.addListener((state) => {
			if (state === SessionState.Established && !call.answered) {
				call.answered = new Date();
				this.emit('established', session);
			}
			// after the current task: a failed invite() or accept() says
			// why (call.result) before the call is logged
			if (state === SessionState.Terminated) setTimeout(() => this.finish(session, call), 0);
			this.changed();
		});
		session.delegate = {
			onRefer: (referral) => this.onRefer(session, referral),
		};
		this.changed();
	}

	finish(session, call) {
		if (this.session !== session) return;
		call.ended = new Date();
		if (!call.result) call.result = call.answered ? 'ended' : 'not answered';
		this.session = null;
		this.call = null;
		this.muted = false;
		this.held = false;
		this.emit('ended', call);
		this.changed();
	}

	// A session whose signalling path is gone: terminated here, nothing sent.
	endLocally(session, why) {
		if (session === this.ringing) {
			this.ringing = null;
			this.emit('missed', { peer: identity(session), why });
		} else if (this.call) {
			this.call.result = why;
		}
		// its BYE or CANCEL has nowhere to go: whatever dispose() says is moot
		Promise.resolve().then(() => session.dispose()).catch(() => {});
	}

	async dial(target) {
		if (!this.ua || this.connection !== 'connected') throw new Error('not connected to a gateway');
		if (this.session) throw new Error('already in a call');
		const uri = this.targetUri(target);
		const inviter = new Inviter(this.ua, uri, { sessionDescriptionHandlerOptions: sdhOptions });
		const call = this.newCall('outgoing', uri.toString().replace(/^sip:/, ''));
		this.adopt(inviter, call);
		try {
			await inviter.invite({
				requestDelegate: {
					onProgress: (r) => {
						call.progress = `${r.message.statusCode} ${r.message.reasonPhrase}`;
						this.changed();
					},
					onReject: (r) => {
						const m = r.message;
						if (!call.result) call.result = `${m.statusCode} ${m.reasonPhrase}`; // not "cancelled"
						if (m.statusCode !== 487) this.fail(`call failed: ${m.statusCode} ${m.reasonPhrase}`);
					},
				},
			});
		} catch (err) {
			call.result = 'failed';
			this.fail(`call failed: ${mediaErrorText(err)}`);
			this.finish(inviter, call);
		}
	}

	// "echo", "bob", "900" or a whole "sip:x@y": a user part gets our domain.
	targetUri(target) {
		const t = target.trim();
		const text = /^sips?:/i.test(t) ? t : `sip:${t.includes('@') ? t : `${t}@${this.settings.domain}`}`;
		const uri = UserAgent.makeURI(text);
		if (!uri) throw new Error(`not a number or SIP address: ${target}`);
		return uri;
	}

	onInvite(invitation) {
		if (this.session || this.ringing) {
			// one call at a time: busy
			invitation.reject({ statusCode: 486 }).catch(() => {});
			this.emit('missed', { peer: identity(invitation), why: 'busy' });
			return;
		}
		this.ringing = invitation;
		invitation.stateChange.addListener((state) => {
			if (state === SessionState.Terminated && this.ringing === invitation) {
				// cancelled by the caller before we answered
				this.ringing = null;
				this.emit('missed', { peer: identity(invitation), why: 'missed' });
				this.changed();
			}
		});
		this.emit('incoming', { peer: identity(invitation) });
		this.changed();
	}

	async accept() {
		const invitation = this.ringing;
		if (!invitation) return;
		this.ringing = null;
		const call = this.newCall('incoming', identity(invitation));
		this.adopt(invitation, call);
		try {
			await invitation.accept({ sessionDescriptionHandlerOptions: sdhOptions });
		} catch (err) {
			call.result = 'failed';
			this.fail(`cannot answer: ${mediaErrorText(err)}`);
			invitation.reject({ statusCode: 488 }).catch(() => {});
			this.finish(invitation, call);
		}
	}

	async reject() {
		const invitation = this.ringing;
		if (!invitation) return;
		this.ringing = null;
		this.emit('ended', Object.assign(this.newCall('incoming', identity(invitation)), {
			ended: new Date(), result: 'rejected',
		}));
		this.changed();
		await invitation.reject({ statusCode: 486 });
	}

	// CANCEL before an answer, BYE after.
	async hangUp() {
		const session = this.session;
		if (!session) return;
		if (this.call && !this.call.result) this.call.result = this.call.answered ? 'hung up' : 'cancelled';
		switch (session.state) {
		case SessionState.Initial:
		case SessionState.Establishing:
			if (session instanceof Inviter) await session.cancel();
			else await session.reject();
			break;
		case SessionState.Established:
			await session.bye();
			break;
		default:
			break;
		}
	}

	setMute(muted) {
		const sdh = this.session && this.session.sessionDescriptionHandler;
		if (!sdh) return;
		this.muted = muted;
		sdh.enableSenderTracks(!muted && !this.held);
		this.changed();
	}

	// A re-INVITE with our side sendonly (hold) or sendrecv (resume).
	async setHold(held) {
		const session = this.session;
		if (!session || session.state !== SessionState.Established) return;
		session.sessionDescriptionHandlerOptionsReInvite = { ...sdhOptions, hold: held };
		await new Promise((resolve, reject) => {
			session.invite({
				requestDelegate: {
					onAccept: () => resolve(),
					onReject: (r) => reject(new Error(
						`${held ? 'hold' : 'resume'} refused: ${r.message.statusCode} ${r.message.reasonPhrase}`)),
				},
			}).catch(reject);
		});
		this.held = held;
		const sdh = session.sessionDescriptionHandler;
		sdh.enableReceiverTracks(!held);
		sdh.enableSenderTracks(!held && !this.muted);
		this.changed();
	}

	// DTMF as SIP.js and JsSIP send it: SIP INFO application/dtmf-relay.
	async sendDtmf(tone) {
		const session = this.session;
		if (!session || session.state !== SessionState.Established) return;
		if (!/^[0-9*#A-D]$/.test(tone)) throw new Error(`not a DTMF tone: ${tone}`);
		await session.info({
			requestOptions: {
				body: {
					contentDisposition: 'render',
					contentType: 'application/dtmf-relay',
					content: `Signal=${tone}\r\nDuration=160`,
				},
			},
		});
		this.emit('dtmf', tone);
	}

	// Blind transfer: REFER the other party to target, then leave the call
	// once the REFER is accepted (the transfer goes on without us).
	async transfer(target) {
		const session = this.session;
		if (!session || session.state !== SessionState.Established) throw new Error('no call to transfer');
		const uri = this.targetUri(target);
		const call = this.call;
		await new Promise((resolve, reject) => {
			session.refer(uri, {
				requestDelegate: {
					onAccept: () => resolve(),
					onReject: (r) => reject(new Error(
						`transfer refused: ${r.message.statusCode} ${r.message.reasonPhrase}`)),
				},
				onNotify: (notification) => notification.accept().catch(() => {}),
			}).catch(reject);
		});
		if (call) call.result = `transferred to ${uri.toString().replace(/^sip:/, '')}`;
		if (this.session === session && session.state === SessionState.Established)
			await session.bye().catch(() => {});
	}

	// The other party transfers us (a REFER passed on by the gateway): call
	// the target, and leave the first call once the new one is answered.
	onRefer(session, referral) {
		referral.accept().then(() => {
			const inviter = referral.makeInviter({ sessionDescriptionHandlerOptions: sdhOptions });
			const old = this.call;
			if (old) old.result = `transferred to ${referral.referTo.uri.toString().replace(/^sip:/, '')}`;
			const oldSession = session;
			this.session = null;
			this.call = null;
			if (oldSession.state === SessionState.Established) oldSession.bye().catch(() => {});
			if (old) {
				old.ended = new Date();
				this.emit('ended', old);
			}
			const call = this.newCall('outgoing', inviter.remoteIdentity.uri.toString().replace(/^sip:/, ''));
			this.adopt(inviter, call);
			inviter.invite().catch((err) => this.fail(`transfer failed: ${mediaErrorText(err)}`));
		}).catch((err) => this.fail(`transfer failed: ${err.message}`));
	}

	// The current call's RTCPeerConnection, or null.
	peerConnection() {
		const sdh = this.session && this.session.sessionDescriptionHandler;
		return (sdh && sdh.peerConnection) || null;
	}

	remoteStream() {
		const sdh = this.session && this.session.sessionDescriptionHandler;
		return (sdh && sdh.remoteMediaStream) || null;
	}
}

function identity(session) {
	const id = session.remoteIdentity;
	const who = id.uri.user || id.uri.toString();
	return id.displayName && id.displayName !== who ? `${id.displayName} (${who})` : who;
}

export { Invitation, Inviter, SessionState };
