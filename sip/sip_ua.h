/* sip_ua.h — the UA core: INVITE sessions shaped like SIP.js's Invitation,
 * Inviter and Session, as a sans-I/O core on top of sip_txn and sip_dialog.
 *
 * Anyone who knows SIP.js 0.21 can read this API: an incoming INVITE becomes
 * an Invitation (sip_invitation_*), an outgoing one an Inviter
 * (sip_inviter_*); both are a struct sip_session with the same states
 * (Initial, Establishing, Established, Terminating, Terminated), the same
 * transitions and the same in-dialog methods (sip_session_bye, _info,
 * _invite, _message, _refer). Where SIP.js returns a promise, a call here
 * returns 0 when the request or response was sent (or a negative errno), and
 * the outcome of an outgoing request arrives through the request's own
 * callbacks (struct sip_request_delegate).
 *
 * Sans-I/O: the UA never touches a socket or a clock. It reads the time
 * through cfg.now_ms, sends through the transaction layer it is given (and
 * through cfg.send for what goes outside transactions: the ACK to a 2xx and
 * the 2xx retransmissions of RFC 6026), and runs its own timers (2xx
 * retransmission, ACK wait, reliable 1xx retransmission, glare retry,
 * session timers) from sip_ua_tick; the owner asks sip_ua_next_deadline when
 * to call it. Tests drive it with a fake clock and a capture buffer.
 *
 * Offer/answer goes through the session's SDH (struct sip_sdh), the
 * SessionDescriptionHandler of SIP.js: the UA asks it for offers and answers
 * and gives it the remote descriptions; the UA never reads SDP itself.
 *
 * Ownership: sessions are reference counted. The UA holds one reference to
 * every session until it is Terminated; whoever keeps a pointer beyond a
 * callback takes its own with sip_session_ref. Terminating is protocol: a
 * session whose owner drops it while Established still sends its BYE, an
 * unanswered Invitation its 480, a ringing Inviter its CANCEL (use
 * sip_session_dispose for that, as SIP.js's dispose()). No callback is called
 * after a session reached Terminated except the state listeners of that very
 * transition. Every callback may call back into the UA (answer, BYE, unref):
 * the UA finishes its own work first and frees nothing under its caller.
 *
 * Choices made where the RFCs or SIP.js leave room (each one tested in
 * tests/unit/test_ua*.c):
 *  - A re-INVITE or UPDATE with an offer arriving while our own offer is
 *    pending gets 491; one arriving while another of theirs is unanswered
 *    (or our 2xx to it waits for its ACK) gets 500 with Retry-After: 0-9.
 *  - Our re-INVITE refused 491 is retried after 2.1-4 s (we made the
 *    Call-ID) or 0-2 s (they did), in 10 ms steps, with a new offer.
 *  - RFC 4028: when the peer asks for a session timer, the 2xx carries
 *    Session-Expires (the peer's value, lowered to cfg.session_expires when
 *    that is set and at least 90) and Require: timer when the peer supports
 *    it; when the peer leaves the refresher open, a peer that supports
 *    timers refreshes ("uac"), else we do. A Session-Expires below 90 is
 *    answered 422 with Min-SE: 90. We refresh at SE/2 with an UPDATE
 *    without a body when the peer's Allow lists UPDATE, else with a
 *    re-INVITE repeating our last description; when the peer refreshes and
 *    does not, a BYE goes at SE - min(32 s, SE/3) (end reason
 *    SESSION_EXPIRED). A refresh refused with 422 is retried once with the
 *    peer's Min-SE.
 *  - RFC 3262 as UAS: RSeq starts at a random 1..32768; the reliable 1xx is
 *    resent at T1, 2T1, 4T1... (on every transport: the reliability is end
 *    to end) until its PRACK; no PRACK within 64*T1 rejects the INVITE with
 *    504 (end reason TIMEOUT). A PRACK whose RAck names no reliable 1xx
 *    waiting for one gets 481.
 *  - RFC 3891: once an Invitation with Replaces is Established, the UA ends
 *    the session it replaces (BYE, or 487 when that one was an unanswered
 *    Invitation) with end reason REPLACED. Replaces naming an unknown,
 *    ending or UAC-early dialog gets 481; early-only against a confirmed
 *    dialog 486.
 *  - A BYE arriving on an early dialog of an Inviter ends it (end reason
 *    BYE_RECEIVED) and CANCELs the INVITE.
 *  - An INVITE requiring an option tag other than 100rel, timer and replaces
 *    is answered 420 with Unsupported. In a dialog, OPTIONS gets 200 (Allow,
 *    Supported, Accept), an unknown method 501, SUBSCRIBE/PUBLISH/REGISTER
 *    405 with Allow. */
#ifndef SIPWIRE_SIP_UA_H
#define SIPWIRE_SIP_UA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip/sip_dialog.h"
#include "sip/sip_msg.h"
#include "sip/sip_txn.h"

struct sip_ua;
struct sip_session;
struct sip_incoming_request;

/* ---- the session description handler (SIP.js SessionDescriptionHandler) ----
 * Synchronous: a handler that needs time (ICE gathering) is made ready by
 * its owner before the owner accepts or invites. Bodies are plain bytes so
 * that webrtc/ implements this without including sip/. `options` is the
 * owner's (SIP.js sessionDescriptionHandlerOptions, e.g. "hold"), passed
 * through untouched; NULL when none was given. */
struct sip_sdh_ops {
	/* Write a local description into buf (size bytes): an answer when a
	 * remote offer was set and not yet answered, else an offer. *len is its
	 * length; *ctype a static string ("application/sdp"). 0, or a negative
	 * errno (-ENOSPC: buf too small; anything else: the session cannot go
	 * on, the UA answers 488/500 or does not send the request). */
	int (*get_description)(void *sdh, const void *options, char *buf, size_t size,
	                       size_t *len, const char **ctype);
	/* A remote offer or answer. 0, or a negative errno: the UA answers an
	 * offer it cannot take with 488, an answer it cannot take with ACK+BYE
	 * (initial INVITE) or a new offer-less ACK (re-INVITE) as RFC 3261 has. */
	int (*set_description)(void *sdh, const char *ctype, const char *body, size_t len,
	                       const void *options);
	/* Can this body be a description? (content type, non-empty) */
	bool (*has_description)(void *sdh, const char *ctype, size_t len);
	/* Forget a local offer that was refused (491, 488) or a remote offer
	 * whose request was rejected. Optional. */
	void (*rollback_description)(void *sdh);
	/* RFC 4733 DTMF on the media path; -ENOTSUP when the SDH cannot. Optional. */
	int (*send_dtmf)(void *sdh, char tone, unsigned duration_ms);
	/* The session is over: release media. Called once, at Terminated. */
	void (*close)(void *sdh);
};
struct sip_sdh {
	const struct sip_sdh_ops *ops;
	void *ctx;
};

/* ---- states (SIP.js SessionState) ---- */
enum sip_session_state {
	SIP_SESSION_INITIAL,
	SIP_SESSION_ESTABLISHING,
	SIP_SESSION_ESTABLISHED,
	SIP_SESSION_TERMINATING,
	SIP_SESSION_TERMINATED,
};
const char *sip_session_state_name(enum sip_session_state st);

/* Why a session reached Terminated (for the owner's logs and the call's
 * detail record). */
enum sip_end_reason {
	SIP_END_NONE,
	SIP_END_BYE_SENT,
	SIP_END_BYE_RECEIVED,
	SIP_END_REJECTED,        /* Invitation: we answered >= 300 */
	SIP_END_FAILED,          /* Inviter: a final >= 300 arrived */
	SIP_END_CANCELED,        /* Invitation: CANCEL received; Inviter: we cancelled */
	SIP_END_TIMEOUT,         /* no final response (Timer B), no ACK, no PRACK */
	SIP_END_TRANSPORT,       /* the flow failed or closed */
	SIP_END_SESSION_EXPIRED, /* RFC 4028: not refreshed */
	SIP_END_REPLACED,        /* RFC 3891: an INVITE with Replaces took its place */
	SIP_END_ERROR,           /* out of memory, an SDH failure, a bad 2xx */
};
const char *sip_end_reason_name(enum sip_end_reason r);

/* ---- where a session's messages go and how we appear there ----
 * Requests of a session all leave over one flow: a browser is reachable only
 * over its own connection, and a trunk peer over the flow the owner chose
 * (in-dialog requests keep the dialog's Request-URI and Route set but use
 * this flow; sip_session_set_transport changes it). */
struct sip_ua_transport {
	struct sip_txn_dest dest;
	/* The Via value less its branch, e.g. "SIP/2.0/UDP 192.0.2.1:5060;rport"
	 * or "SIP/2.0/WSS gw.example.com". Copied. */
	const char *via;
	/* Our Contact value, e.g. "<sip:gw@192.0.2.1:5060>" or
	 * "<sip:gw@gw.example.com;transport=ws>". Copied. */
	const char *contact;
};

/* ---- the UA ---- */
struct sip_ua_callbacks {
	/* Bytes outside any transaction (ACK to a 2xx, 2xx retransmissions).
	 * Required. A negative return is a transport error. */
	int (*send)(void *arg, const struct sip_txn_dest *dest, const char *bytes, size_t len);
	/* A new Invitation (an INVITE outside any dialog). The owner sets its
	 * delegate and SDH (sip_session_set_delegate / _set_sdh) here, then
	 * answers now or later (progress/accept/reject). When it returns without
	 * taking a reference, the UA still holds one: an Invitation nobody answers
	 * ends only by CANCEL or by the owner. Required. */
	void (*on_invite)(void *arg, struct sip_session *invitation);
	/* Lines for the log (protocol events the UA ignored or refused). Optional. */
	void (*on_log)(void *arg, const char *line);
};

struct sip_ua_config {
	struct sip_txn_layer *txn; /* used, not owned; must outlive the UA */
	struct sip_txn_timers timers; /* T1 for 2xx/1xx retransmission and the ACK
	                               * wait (64*T1); zero values: defaults */
	uint64_t (*now_ms)(void *arg); /* the clock, in milliseconds. Required. */
	sip_random_fn random;          /* tags, Call-IDs, branches, glare delay;
	                                * NULL: OpenSSL */
	/* SIP.js autoSendAnInitialProvisionalResponse: send a 180 right after an
	 * Invitation was raised (after on_invite returned) unless the INVITE
	 * requires 100rel or the owner already answered. */
	bool auto_180;
	/* Session-Expires we ask for as UAS when the peer asked for one with
	 * Supported: timer (seconds, RFC 4028); 0: accept the peer's value.
	 * Min-SE is 90 as the RFC has it. */
	uint32_t session_expires;
	/* Allow / Supported / User-Agent values we send. NULL: built-in. */
	const char *allow;
	const char *supported;
	const char *user_agent;
	struct sip_ua_callbacks cb;
	void *arg;
};

/* NULL when out of memory or the configuration lacks txn, now_ms, send or
 * on_invite. */
struct sip_ua *sip_ua_new(const struct sip_ua_config *cfg);
/* Frees the UA and drops its reference to every session without sending
 * anything (sessions still referenced by owners become Terminated with
 * SIP_END_ERROR first, Inviters never invited included; they stay valid,
 * detached: every call on them then returns an error). Free the UA before
 * its transaction layer. */
void sip_ua_free(struct sip_ua *ua);

/* ---- input from the owner (the endpoint) ----
 * A request of a new server transaction that belongs to the UA: INVITE
 * (initial or re-), ACK is not here (see below), BYE, CANCEL, INFO, MESSAGE,
 * UPDATE, PRACK, REFER, NOTIFY, OPTIONS in a dialog. The UA answers it (481
 * when no dialog matches, 200/487 for a CANCEL, ...) through the transaction
 * and attaches itself as the transaction's user. `where` says how we appear
 * on the flow the request came in on (the Contact an Invitation's dialog
 * uses). Returns 0 when the UA took the request, -ENOENT when it is none of
 * the UA's business (an out-of-dialog request other than INVITE/CANCEL: the
 * owner answers), or -ENOMEM (the UA answered 500 if it could). */
int sip_ua_receive_request(struct sip_ua *ua, struct sip_txn *txn, const struct sip_msg *msg,
                           const struct sip_ua_transport *where);
/* An ACK the transaction layer returned as SIP_TXN_RECV_STRAY (an ACK to a
 * 2xx). Returns 0 when a session took it, -ENOENT otherwise (drop it). */
int sip_ua_receive_ack(struct sip_ua *ua, const struct sip_msg *ack,
                       const struct sip_txn_dest *from);
/* A flow closed or failed: every session using it ends at once with
 * SIP_END_TRANSPORT (nothing can be sent over it). Returns how many ended. */
size_t sip_ua_flow_closed(struct sip_ua *ua, const void *flow);
/* The earliest UA timer, or UINT64_MAX. */
uint64_t sip_ua_next_deadline(const struct sip_ua *ua);
/* Run every UA timer due at or before the UA's clock. */
void sip_ua_tick(struct sip_ua *ua);
/* Live sessions (for tests and metrics). */
size_t sip_ua_session_count(const struct sip_ua *ua);

/* ---- delegates (SIP.js SessionDelegate and OutgoingRequestDelegate) ---- */

/* An incoming in-dialog request handed to the owner (INFO, MESSAGE, REFER,
 * NOTIFY, a re-INVITE when the owner has on_invite). The owner answers with
 * sip_incoming_accept / sip_incoming_reject, during the callback or later;
 * the request is valid until answered or until its session is Terminated
 * (then the UA answers it 481 itself). */
struct sip_accept_opts {
	int status;             /* 2xx; 0: 200 (202 for REFER) */
	const char *ctype;      /* body, if any; for a re-INVITE/UPDATE with an */
	const char *body;       /* offer, no body: the SDH's answer */
	size_t body_len;
	const char *extra_headers; /* complete lines ending in CRLF, or NULL */
	const void *sdh_options;   /* for the SDH's answer to a re-INVITE */
};
struct sip_reject_opts {
	int status;                /* 3xx-6xx; 0: the method's default (480 for an
	                            * Invitation, 488 for a re-INVITE, else 500) */
	const char *reason;        /* NULL: the standard phrase */
	const char *extra_headers; /* complete lines ending in CRLF, or NULL
	                            * (Retry-After, Warning, Reason...) */
};
const struct sip_msg *sip_incoming_message(const struct sip_incoming_request *rq);
enum sip_method sip_incoming_method(const struct sip_incoming_request *rq);
int sip_incoming_accept(struct sip_incoming_request *rq, const struct sip_accept_opts *opts);
int sip_incoming_reject(struct sip_incoming_request *rq, const struct sip_reject_opts *opts);

struct sip_session_delegate {
	/* The peer ended the session (BYE arrived; the UA answered it 200). */
	void (*on_bye)(void *data, struct sip_session *s, const struct sip_msg *bye);
	/* Requests the owner answers (see struct sip_incoming_request). When a
	 * callback is NULL the UA answers: INFO and MESSAGE 200, REFER 603,
	 * NOTIFY 200, re-INVITE from the SDH. */
	void (*on_info)(void *data, struct sip_session *s, struct sip_incoming_request *rq);
	void (*on_message)(void *data, struct sip_session *s, struct sip_incoming_request *rq);
	void (*on_refer)(void *data, struct sip_session *s, struct sip_incoming_request *rq);
	void (*on_notify)(void *data, struct sip_session *s, struct sip_incoming_request *rq);
	/* A re-INVITE (or an UPDATE with an offer): the offer was already given
	 * to the SDH (a refused offer was answered 488 without asking). Accepting
	 * takes the SDH's answer. */
	void (*on_invite)(void *data, struct sip_session *s, struct sip_incoming_request *rq);
	/* Invitation: CANCEL arrived (the UA answered 200 and 487). Terminated
	 * follows. */
	void (*on_cancel)(void *data, struct sip_session *s, const struct sip_msg *cancel);
	/* An ACK (to our 2xx) carried a body, or the dialog's remote description
	 * changed otherwise (PRACK/UPDATE answer): already given to the SDH. */
	void (*on_description)(void *data, struct sip_session *s);
};

/* The outcome of one outgoing request (SIP.js OutgoingRequestDelegate). For
 * the initial INVITE: on_trying (100), on_progress (every other 1xx, from
 * whichever branch of a fork), on_accept (the 2xx the session kept; the ACK
 * is sent by the UA), on_reject (final >= 300, after 3xx/401/407 were
 * followed or answered when configured), on_redirect (a 3xx the UA does not
 * follow). For an in-dialog request: on_accept (2xx) or on_reject (anything
 * else, including a timeout as a made-up 408 with resp NULL). Any may be
 * NULL. */
struct sip_request_delegate {
	void (*on_trying)(void *data, struct sip_session *s, const struct sip_msg *resp);
	void (*on_progress)(void *data, struct sip_session *s, const struct sip_msg *resp);
	void (*on_accept)(void *data, struct sip_session *s, const struct sip_msg *resp);
	void (*on_reject)(void *data, struct sip_session *s, int status, const struct sip_msg *resp);
	void (*on_redirect)(void *data, struct sip_session *s, const struct sip_msg *resp);
	void *data;
};

/* ---- every session ---- */
struct sip_session *sip_session_ref(struct sip_session *s);
/* Drops a reference; the last one frees (a session not yet Terminated is
 * disposed first, as sip_session_dispose). NULL is a no-op; returns NULL. */
struct sip_session *sip_session_unref(struct sip_session *s);

enum sip_session_state sip_session_state(const struct sip_session *s);
enum sip_end_reason sip_session_end_reason(const struct sip_session *s);
bool sip_session_is_inviter(const struct sip_session *s);
/* A printable id: Call-ID plus the local tag (SIP.js Session.id). */
const char *sip_session_id(const struct sip_session *s);
sip_pl sip_session_call_id(const struct sip_session *s);
/* The confirmed (or, before it, the early) dialog; NULL before one exists. */
struct sip_dialog *sip_session_dialog(const struct sip_session *s);
/* The initial INVITE (ours for an Inviter, theirs for an Invitation); its
 * body is sip_msg_body(request). */
const struct sip_msg *sip_session_request(const struct sip_session *s);
sip_pl sip_session_body(const struct sip_session *s);
/* From/To values as on the wire (ours / the peer's), tags included once
 * known. For an Invitation: local = To, remote = From of the INVITE. */
sip_pl sip_session_local_identity(const struct sip_session *s);
sip_pl sip_session_remote_identity(const struct sip_session *s);
/* P-Asserted-Identity of the initial INVITE (RFC 3325), or unset. */
sip_pl sip_session_asserted_identity(const struct sip_session *s);
/* RFC 3891: the session an INVITE with Replaces names (a session of this
 * UA, confirmed or early and ours as UAS), or NULL. Not referenced: valid
 * while that session is not Terminated. */
struct sip_session *sip_session_replacee(const struct sip_session *s);

void sip_session_set_delegate(struct sip_session *s, const struct sip_session_delegate *d,
                              void *data);
void *sip_session_data(const struct sip_session *s); /* SIP.js Session.data */
/* The owner's short name for the session (up to 15 characters, e.g. the
 * call's id), put first in the UA's log lines about it. */
void sip_session_set_log_tag(struct sip_session *s, const char *tag);
/* The SDH: set once, before the first offer or answer. The UA calls its
 * close at Terminated. */
void sip_session_set_sdh(struct sip_session *s, struct sip_sdh sdh);
const struct sip_sdh *sip_session_sdh(const struct sip_session *s);
/* SDH options and modifiers for the initial INVITE's offer/answer and for
 * re-INVITEs (SIP.js sessionDescriptionHandlerOptions /
 * sessionDescriptionHandlerOptionsReInvite): passed to the SDH as `options`. */
void sip_session_set_sdh_options(struct sip_session *s, const void *initial,
                                 const void *reinvite);
void sip_session_set_transport(struct sip_session *s, const struct sip_ua_transport *t);
/* The flow the session's messages use. */
const struct sip_txn_dest *sip_session_dest(const struct sip_session *s);

/* State listeners (SIP.js stateChange.addListener). Up to 4 per session;
 * -ENOSPC beyond. Called after the state changed, in the order added. */
typedef void (*sip_session_state_fn)(void *arg, struct sip_session *s,
                                     enum sip_session_state state);
int sip_session_add_state_listener(struct sip_session *s, sip_session_state_fn fn, void *arg);
void sip_session_remove_state_listener(struct sip_session *s, sip_session_state_fn fn, void *arg);

/* Options of an outgoing in-dialog request. */
struct sip_request_opts {
	const char *ctype;
	const char *body;
	size_t body_len;
	const char *extra_headers; /* complete lines ending in CRLF, or NULL */
	const struct sip_request_delegate *delegate; /* copied; may be NULL */
};

/* BYE (Established; an early Inviter session is cancelled instead, as SIP.js
 * has bye() refuse there: -EPROTO). State Terminating until the BYE's
 * response or timeout, then Terminated. */
int sip_session_bye(struct sip_session *s, const struct sip_request_opts *opts);
/* INFO with a body, e.g. application/dtmf-relay "Signal=5\r\nDuration=160\r\n". */
int sip_session_info(struct sip_session *s, const struct sip_request_opts *opts);
/* In-dialog MESSAGE. */
int sip_session_message(struct sip_session *s, const struct sip_request_opts *opts);

/* re-INVITE with a new offer from the SDH (sdh_options: e.g. hold). A
 * re-INVITE while another offer/answer is pending returns -EBUSY. 491 is
 * retried after the RFC 3261 §14.1 random delay (2.1-4 s when we own the
 * Call-ID, 0-2 s otherwise), at most retry_491 times; the delegate hears the
 * final outcome only. */
struct sip_invite_opts {
	const void *sdh_options;
	const char *extra_headers;
	const struct sip_request_delegate *delegate;
	unsigned retry_491; /* 0: 3 */
	bool without_sdp;   /* an INVITE without an offer (the answer comes in the ACK) */
};
int sip_session_invite(struct sip_session *s, const struct sip_invite_opts *opts);

/* REFER (RFC 3515) to target_uri, or, with replaces set, to that session's
 * remote target (or target_uri when also given) with ?Replaces=<its
 * dialog> (RFC 3891, attended transfer; call-id, to-tag = its remote tag,
 * from-tag = its local tag, escaped as a URI header). replaces must be
 * Established (-EPROTO otherwise). NOTIFYs with message/sipfrag come to the
 * delegate's on_notify. */
int sip_session_refer(struct sip_session *s, const char *target_uri,
                      const struct sip_session *replaces, const struct sip_request_opts *opts);
/* As the receiver of a REFER (after accepting it 202): report the transfer's
 * progress with a NOTIFY carrying "SIP/2.0 <status> <reason>" as
 * message/sipfrag; a final status (>= 200) terminates the implicit
 * subscription (Subscription-State: terminated;reason=noresource), a
 * provisional one says active;expires=60. -EPROTO when no accepted REFER
 * has a subscription open. */
int sip_session_notify_refer(struct sip_session *s, int status, const char *reason);

/* SIP.js dispose(): end the session the way its state allows — reject an
 * unanswered Invitation (480), cancel an Inviter that has not been answered,
 * BYE an established (or accepted, not yet ACKed) one. An accepted
 * Invitation's BYE (from dispose or bye) waits for the ACK or its timeout
 * (RFC 3261 §15); the state is Terminating meanwhile. */
int sip_session_dispose(struct sip_session *s);

/* ---- Invitation (incoming INVITE) ---- */
struct sip_progress_opts {
	int status;        /* 101-199; 0: 180 */
	const char *reason;
	bool with_description; /* 183 with the SDH's answer (early media); the
	                        * same answer is repeated in the 2xx */
	bool rel100;           /* RFC 3262: RSeq, Require: 100rel, retransmitted
	                        * until PRACK (only when the INVITE offered 100rel;
	                        * otherwise the 1xx goes unreliably). One at a
	                        * time: -EBUSY while one waits for its PRACK */
	const char *extra_headers;
};
/* 0; -EINVAL (status, or a description without an offer in the INVITE in an
 * unreliable 1xx: an offer goes only in a reliable one); -ECANCELED;
 * -EPROTO once answered (or accepted). */
int sip_invitation_progress(struct sip_session *s, const struct sip_progress_opts *opts);

struct sip_invitation_accept_opts {
	const void *sdh_options;
	const char *extra_headers;
};
/* 200 OK with the SDH's answer (or offer, when the INVITE had none). 0 when
 * sent; -ECANCELED when a CANCEL arrived first, -EPROTO when the Invitation
 * was already answered or rejected, or the SDH's error (answered 488). The
 * session is Established when the ACK arrives; no ACK within 64*T1 sends a
 * BYE (end reason SIP_END_TIMEOUT). On unreliable flows the 2xx is resent
 * at T1, 2T1... capped at T2 until the ACK. While a reliable 1xx carrying a
 * description waits for its PRACK, the 2xx waits too (RFC 3262 §3): accept
 * returns 0 (state Establishing), the PRACK sends it, and a reject before
 * then wins. */
int sip_invitation_accept(struct sip_session *s, const struct sip_invitation_accept_opts *opts);
/* A final >= 300 (default 480); also after accept was called as long as the
 * 2xx has not been sent. */
int sip_invitation_reject(struct sip_session *s, const struct sip_reject_opts *opts);

/* ---- Inviter (outgoing INVITE) ---- */
struct sip_credentials {
	const char *username;
	const char *password;
	const char *realm; /* NULL: answer any realm */
};
struct sip_inviter_opts {
	const char *request_uri;   /* "sip:100@pbx.example.com" */
	const char *from;          /* From value without tag: "\"Alice\" <sip:alice@gw>" */
	const char *to;            /* To value: "<sip:100@pbx.example.com>" */
	const char *call_id;       /* NULL: a new random one */
	struct sip_ua_transport transport;
	const char *route;         /* a Route value for the initial INVITE
	                            * (outbound proxy, ";lr"), or NULL */
	const char *extra_headers; /* complete lines ending in CRLF: P-Asserted-
	                            * Identity, Replaces, Referred-By... */
	int max_forwards;          /* 0: 70 */
	/* 401/407: the INVITE again (CSeq + 1, new branch, the same offer) with
	 * an answer to every challenge of our realm (MD5/SHA-256, qop auth);
	 * a second challenge fails the call unless it says stale=true. */
	struct sip_credentials credentials; /* username NULL: none */
	/* 3xx: INVITE the first sip/sips Contact instead (Request-URI only; To,
	 * Call-ID, From tag kept, CSeq + 1), up to 5 times, then on_reject */
	bool follow_redirects;
	bool early_media;          /* SIP.js earlyMedia: give a 1xx's SDP to the SDH */
	bool rel100;               /* offer 100rel (Supported) and PRACK reliable 1xx */
	const void *sdh_options;
	const void *sdh_options_reinvite;
	struct sip_sdh sdh;
	const struct sip_session_delegate *delegate;
	void *data;
};
/* Make an Inviter (state Initial, nothing sent). 0, -EINVAL, -ENOMEM. The
 * caller holds the one reference returned. */
int sip_inviter_new(struct sip_ua *ua, const struct sip_inviter_opts *opts,
                    struct sip_session **out);
/* Send the INVITE with the SDH's offer (or without one when
 * opts->without_sdp). Forked early dialogs are kept apart; the first 2xx
 * wins, a later 2xx from another branch is ACKed and sent a BYE. */
int sip_inviter_invite(struct sip_session *s, const struct sip_invite_opts *opts);
/* CANCEL (after a provisional response, a 100 included; before one, the
 * CANCEL waits for it as RFC 3261 §9.1 says). State Terminating until the
 * final response (end reason CANCELED). A 2xx crossing the CANCEL is ACKed
 * and BYEd, also with end reason CANCELED. No final response 64*T1 after the
 * CANCEL: the INVITE is given up (on_reject 408, end reason CANCELED). An
 * Inviter never invited ends at
 * once, nothing sent. opts->extra_headers (e.g. Reason) go in the CANCEL;
 * its status is unused. */
int sip_inviter_cancel(struct sip_session *s, const struct sip_reject_opts *opts);

#endif
