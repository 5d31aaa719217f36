/* sip_registerer.h — client registration (RFC 3261 §10.2) shaped like SIP.js's
 * Registerer, as a sans-I/O core on top of sip_txn.
 *
 * A registerer keeps one binding (our Contact) for one address of record at
 * one registrar: it sends REGISTER, answers digest challenges, follows 423,
 * refreshes before the binding expires and, after a failure, tries again with
 * an exponential back-off. States follow SIP.js: Initial, Registered,
 * Unregistered, Terminated; the calls are register, unregister and dispose.
 *
 * Sans-I/O: requests leave through the transaction layer the owner gives
 * (sip_txn_client_new); responses come back through that layer's
 * sip_txn_layer_recv, timeouts through its tick, a dead flow through
 * sip_txn_transport_error. The registerer's own timers (refresh, retry,
 * expiry) run from sip_registerer_tick; the owner asks
 * sip_registerer_next_deadline when to call it. The clock is cfg.now_ms.
 *
 * Choices made where SIP.js or the RFC leave room:
 *  - Every REGISTER of a registerer has the same Call-ID and From tag, a CSeq
 *    one higher than the last, and a new branch.
 *  - Each attempt (register, refresh, unregister) starts without
 *    credentials. A 401/407 is answered once with sip_auth_client_answer; a
 *    challenge to a request that already answered a challenge of the same
 *    kind (401 after Authorization, 407 after Proxy-Authorization) is a
 *    failure unless it says stale=true. So a wrong password costs one round
 *    trip and a back-off, never a loop. A registrar behind a proxy may
 *    challenge with 407 and then 401: both are answered.
 *  - 423: the REGISTER is sent again at once with the Min-Expires asked for
 *    (kept for later refreshes). A 423 without a Min-Expires above our
 *    expires is a failure. At most 8 requests (challenges, 423s) per attempt.
 *  - Granted expiry: the ;expires of the 2xx's Contact that is ours (same
 *    URI, or same +sip.instance), else the 2xx's Expires, else what we asked.
 *    Counted from when the REGISTER was sent, since the registrar counts from
 *    when it arrived. A 2xx that grants 0 is a failure.
 *  - Refresh at max(E - 32 s, E / 2) after sending, for a granted E: 32 s is
 *    Timer F (64*T1 with T1 = 500 ms), the longest a REGISTER transaction can
 *    go unanswered over UDP, so even a refresh whose first retransmissions
 *    are lost lands before the binding lapses; for short expiries (E < 64 s)
 *    half the interval keeps a refresh from following the last at once.
 *    When the binding's expiry passes with no 2xx to a refresh, the
 *    registerer is Unregistered (status 408).
 *  - Failures (a final >= 300 other than the above, Timer F, a transport
 *    error; reported as 408 and 503 as RFC 3261 §8.1.3.1 says): Unregistered,
 *    then a new attempt after retry_min_ms, doubled per consecutive failure,
 *    capped at retry_max_ms, each delay drawn uniformly from [0.8 d, d] so
 *    trunks that failed together do not retry together. A Retry-After in the
 *    failure response (503, 500, 480...) replaces the back-off delay (capped
 *    at one day). A 2xx resets the back-off.
 *  - unregister: REGISTER with Expires: 0 for our Contact (then Unregistered,
 *    whatever the answer: there is nothing to retry). When a REGISTER is in
 *    flight the unregister waits for its outcome: after a 2xx it is sent,
 *    after a failure there is no binding to remove.
 *  - on_state_change is called for transitions only; every failure also
 *    gives a log line. Log lines never carry a password or digest response.
 *
 * Ownership: single owner. Callbacks may call register, unregister and
 * dispose, but never sip_registerer_free. sip_registerer_free sends nothing
 * (use dispose first for a clean unregistration) and detaches the
 * registerer from its transaction, if any. */
#ifndef SIPWIRE_SIP_REGISTERER_H
#define SIPWIRE_SIP_REGISTERER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip/sip_dialog.h"
#include "sip/sip_txn.h"
#include "sip/sip_ua.h"

enum sip_registerer_state {
	SIP_REGISTERER_INITIAL,
	SIP_REGISTERER_REGISTERED,
	SIP_REGISTERER_UNREGISTERED,
	SIP_REGISTERER_TERMINATED,
};
const char *sip_registerer_state_name(enum sip_registerer_state state);

struct sip_registerer;

struct sip_registerer_callbacks {
	/* The state changed. status is the SIP status behind it (200, 403, 408
	 * for a timeout or a lapsed binding, 503 for a transport error; 0 when
	 * the owner's call alone caused it) and reason its phrase (never NULL).
	 * Optional. */
	void (*on_state_change)(void *arg, struct sip_registerer *r,
	                        enum sip_registerer_state state, int status, const char *reason);
	/* Protocol events and failures, one line each. Optional. */
	void (*on_log)(void *arg, const char *line);
};

#define SIP_REGISTERER_DEFAULT_EXPIRES      600u
#define SIP_REGISTERER_DEFAULT_RETRY_MIN_MS 5000u
#define SIP_REGISTERER_DEFAULT_RETRY_MAX_MS 300000u

struct sip_registerer_config {
	/* The Request-URI, e.g. "sip:pbx.example.com". Required. */
	const char *registrar;
	/* The address of record, From and To, e.g. "sip:1000@pbx.example.com"
	 * (a name-addr "\"Trunk\" <sip:...>" is taken as is). Required. */
	const char *aor;
	/* Where requests go, our Via less its branch and our Contact value
	 * (e.g. "<sip:1000@192.0.2.1:5060>"). All three required. */
	struct sip_ua_transport transport;
	/* A Route value (outbound proxy, e.g. "<sip:proxy.example.com;lr>"),
	 * or NULL. */
	const char *route;
	uint32_t expires; /* seconds asked for; 0: SIP_REGISTERER_DEFAULT_EXPIRES */
	/* username NULL: no credentials (a challenge is then a failure). realm
	 * NULL: answer any realm; else only challenges of that realm. */
	struct sip_credentials credentials;
	const char *user_agent;    /* NULL: "sipwire" */
	const char *allow;         /* NULL: the methods the UA core handles */
	const char *extra_headers; /* complete lines ending in CRLF, or NULL */
	uint32_t retry_min_ms;     /* 0: SIP_REGISTERER_DEFAULT_RETRY_MIN_MS */
	uint32_t retry_max_ms;     /* 0: SIP_REGISTERER_DEFAULT_RETRY_MAX_MS */

	struct sip_txn_layer *txn;     /* used, not owned; must outlive the registerer */
	uint64_t (*now_ms)(void *arg); /* the clock, in milliseconds. Required. */
	sip_random_fn random;          /* Call-ID, tag, branches, cnonces, jitter;
	                                * NULL: OpenSSL */
	struct sip_registerer_callbacks cb;
	void *arg; /* for now_ms, random and cb */
};

/* Make a registerer (state Initial, nothing sent). Every string is copied.
 * Returns 0, -EINVAL (a required field missing; a registrar, AOR, Contact or
 * Route that does not parse; a value with CR or LF; retry_min > retry_max),
 * -ENOMEM, or the random source's error. */
int sip_registerer_new(const struct sip_registerer_config *cfg, struct sip_registerer **out);
/* Frees without sending anything. NULL is a no-op. */
void sip_registerer_free(struct sip_registerer *r);

/* Send a REGISTER now (also while Registered: an early refresh; also while
 * waiting to retry: the back-off restarts). 0 when sent, when one is already
 * in flight, or while an unregister is in flight (a REGISTER follows its
 * outcome); -EPROTO once Terminated or disposing. A send that fails counts as a failure (the
 * registerer retries later) and still returns 0. */
int sip_registerer_register(struct sip_registerer *r);
/* Remove our binding (Expires: 0) and stop refreshing and retrying. From
 * Initial (nothing was ever sent) this only moves to Unregistered. 0, or
 * -EPROTO once Terminated or disposing. */
int sip_registerer_unregister(struct sip_registerer *r);
/* SIP.js dispose(): unregister if a binding may exist (Registered, or a
 * REGISTER in flight), then Terminated; otherwise Terminated at once. No
 * timer runs and nothing is sent after Terminated. 0. */
int sip_registerer_dispose(struct sip_registerer *r);

/* Use another flow (and Via, Contact) from the next request on, e.g. after
 * a TCP reconnect. Strings copied. 0, -EINVAL, -ENOMEM. */
int sip_registerer_set_transport(struct sip_registerer *r, const struct sip_ua_transport *t);

/* The earliest timer of the registerer (refresh, retry, expiry), or
 * UINT64_MAX. Transaction timers are the layer's. */
uint64_t sip_registerer_next_deadline(const struct sip_registerer *r);
/* Run what is due at the registerer's clock. */
void sip_registerer_tick(struct sip_registerer *r);

/* ---- accessors ---- */
enum sip_registerer_state sip_registerer_state(const struct sip_registerer *r);
/* The status of the last outcome (see on_state_change), 0 before one, and
 * its reason phrase ("" before one). */
int sip_registerer_last_status(const struct sip_registerer *r);
const char *sip_registerer_last_reason(const struct sip_registerer *r);
/* The expiry the registrar granted (seconds; 0 when not Registered) and when
 * the binding lapses (the clock's milliseconds; 0 when not Registered). */
uint32_t sip_registerer_expires(const struct sip_registerer *r);
uint64_t sip_registerer_expires_at(const struct sip_registerer *r);
/* Consecutive failures since the last 2xx (the back-off step). */
unsigned sip_registerer_failures(const struct sip_registerer *r);
/* Whether a REGISTER transaction is in flight. */
bool sip_registerer_busy(const struct sip_registerer *r);
sip_pl sip_registerer_call_id(const struct sip_registerer *r);

#endif
