/* peer_sip.h — the test peer's SIP user agent: one registration and one call
 * over a WebSocket (RFC 7118), written on the wire as SIP.js writes it.
 *
 *  - Via SIP/2.0/WS (or WSS) with a random "*.invalid" host, Contact
 *    <sip:RANDOM@HOST.invalid;transport=ws>, +sip.instance and reg-id on
 *    REGISTER; no credentials before a challenge, then digest (MD5,
 *    qop=auth) once per request, with sip/sip_auth.h;
 *  - as caller: INVITE, ACK for 2xx (a transaction of its own, to the remote
 *    target, along the route set) and for other finals (the INVITE's
 *    branch); as callee: 100 Trying at once, 180, 200 or a rejection, CANCEL
 *    answered 200 + 487;
 *  - inside the call: re-INVITE, INFO, BYE sent; BYE, re-INVITE, INFO,
 *    OPTIONS, NOTIFY, MESSAGE answered (UPDATE with 501, as SIP.js does);
 *    requests for no known dialog get 481.
 *
 * Sans-I/O: whole messages go in with peer_sip_receive(), messages to send
 * come out through the send callback; no timers (the owner keeps time). */
#ifndef SIPWIRE_PEER_SIP_H
#define SIPWIRE_PEER_SIP_H

#include <stdbool.h>
#include <stddef.h>

struct peer_sip;

struct peer_sip_handlers {
	/* The final response to a REGISTER (after one digest round). */
	void (*on_register)(void *arg, int status);
	/* A new call came in (100 Trying already sent); the owner answers with
	 * peer_sip_ring/peer_sip_answer/peer_sip_reject. sdp NULL when the
	 * INVITE has no offer. */
	void (*on_invite)(void *arg, const char *sdp, size_t len);
	/* A provisional response to our INVITE, with its SDP or NULL. */
	void (*on_provisional)(void *arg, int status, const char *sdp, size_t len);
	/* The final response to our INVITE (a 2xx is ACKed already, a
	 * challenge answered once before this is called). */
	void (*on_final)(void *arg, int status, const char *reason, const char *sdp, size_t len);
	/* The ACK to our 2xx, with its SDP or NULL. */
	void (*on_ack)(void *arg, const char *sdp, size_t len);
	/* The CANCEL of the call that rings here (200 and 487 sent). */
	void (*on_cancel)(void *arg);
	/* A re-INVITE: return the answer (malloc()ed, freed here) or NULL with
	 * *status set to the rejection (488...). sdp NULL when it has none. */
	char *(*on_reinvite)(void *arg, const char *sdp, size_t len, int *status);
	/* An INFO's body and Content-Type (answered 200). */
	void (*on_info)(void *arg, const char *ctype, const char *body, size_t len);
	/* The call ended by the far end's BYE (answered 200); reason is its
	 * Reason header or NULL. */
	void (*on_bye)(void *arg, const char *reason);
	/* The final response to a request sent inside the call ("INVITE" for a
	 * re-INVITE, "INFO", "BYE"), with its SDP or NULL. */
	void (*on_response)(void *arg, const char *method, int status, const char *sdp, size_t len);
	/* Sends one message. */
	void (*send)(void *arg, const char *msg, size_t len);
	void *arg;
};

struct peer_sip_config {
	const char *domain;   /* of the AOR and the REGISTER's Request-URI */
	const char *user;     /* NULL: From anonymous, no REGISTER */
	const char *password; /* NULL: challenges are not answered */
	bool wss;             /* Via transport WSS instead of WS */
	struct peer_sip_handlers h;
};

int peer_sip_new(const struct peer_sip_config *cfg, struct peer_sip **out);
void peer_sip_free(struct peer_sip *ua);

/* One whole message as it came in a WebSocket frame. */
void peer_sip_receive(struct peer_sip *ua, const char *buf, size_t len);

/* Each returns 0, -EALREADY / -ENOTCONN when the call is not in a state for
 * it, -EINVAL, -ENOMEM. */
int peer_sip_register(struct peer_sip *ua, unsigned expires);
/* target: a SIP URI, or a user part put at the domain. */
int peer_sip_invite(struct peer_sip *ua, const char *target, const char *sdp);
int peer_sip_ring(struct peer_sip *ua);
int peer_sip_answer(struct peer_sip *ua, const char *sdp);
int peer_sip_reject(struct peer_sip *ua, int status);
int peer_sip_reinvite(struct peer_sip *ua, const char *sdp);
int peer_sip_info(struct peer_sip *ua, const char *ctype, const char *body);
int peer_sip_bye(struct peer_sip *ua);

bool peer_sip_in_call(const struct peer_sip *ua); /* a dialog is confirmed */
/* The Call-ID of the call made or taken last; "" before one. */
const char *peer_sip_call_id(const struct peer_sip *ua);

#endif
