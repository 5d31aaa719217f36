/* sip_registrar.h — the local registrar and location service (RFC 3261 §10.3,
 * RFC 5626 outbound basics), sans-I/O.
 *
 * The daemon hands over a REGISTER that arrived in a server transaction on a
 * flow (a WebSocket connection, a TCP/TLS connection, or its UDP socket: an
 * opaque pointer plus an id it chooses). The registrar authenticates it with
 * digest (sip_auth.h), applies it to the bindings of the address of record,
 * and writes the whole response into a buffer for the daemon to send through
 * the transaction. The clock is always an argument (milliseconds, any
 * monotonic clock), so tests run on a fake one.
 *
 * Cost per request: a hash lookup on the AOR, a few on the flow table, heap
 * operations for the expiry; the only allocation is a new binding. No call
 * walks all bindings. Nothing here is thread-safe: one registrar per loop. */
#ifndef SIPWIRE_SIP_REGISTRAR_H
#define SIPWIRE_SIP_REGISTRAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip/sip_auth.h"
#include "sip/sip_build.h"
#include "sip/sip_msg.h"

#define SIP_REGISTRAR_MAX_ALGORITHMS 4

struct sip_registrar_config {
	/* The digest realm (plain text, copied). Required. */
	sip_pl realm;
	/* Fill ha1_out with the user's HA1 (sip_auth_ha1) for the realm and alg
	 * (MD5 or SHA-256: the base hash of the answered algorithm) as a NUL
	 * terminated lowercase hex string. user is plain text (unescaped).
	 * Returns 0, or -ENOENT for an unknown user. Required. */
	int (*lookup_user)(void *arg, sip_pl user, enum sip_auth_algorithm alg, char *ha1_out,
	                   size_t size);
	void *lookup_arg;
	/* One domain: an AOR is its user part alone, whatever host the client
	 * registered it under (and lookup ignores its host). A gateway whose
	 * accounts are names without domains wants this: a PBX calling
	 * sip:alice@192.0.2.1 reaches the alice who registered as
	 * sip:alice@gw.example.com. */
	bool single_domain;
	/* One WWW-Authenticate per algorithm, in this order, each with
	 * qop="auth" (never auth-int: JsSIP prefers it and SIP.js cannot answer
	 * it). n_algorithms 0: exactly one MD5 challenge, what SIP.js accepts. */
	enum sip_auth_algorithm algorithms[SIP_REGISTRAR_MAX_ALGORITHMS];
	unsigned n_algorithms;
	/* Seconds; 0 picks the default in brackets. */
	uint32_t min_expires;     /* [60] below it (and not 0): 423 */
	uint32_t max_expires;     /* [3600] longer requests are shortened */
	uint32_t default_expires; /* [600] no Expires header nor parameter */
	uint32_t nonce_lifetime;  /* [300] then a right answer gets stale=true */
	uint32_t flow_timer;      /* [120] Flow-Timer for outbound clients; keep
	                           * it below the daemon's idle timeout */
	/* Failed authentications per source: max_failures within window_s
	 * seconds from the first one block the source (403) until the window
	 * ends. max_failures 0 picks 5, window_s 0 picks 60. */
	unsigned max_failures;
	uint32_t window_s;
	unsigned max_bindings_per_aor; /* [16] more: 403 */
	/* SIP_AUTH_SECRET_LEN bytes for the nonces, or NULL for a random one. */
	const uint8_t *secret;
	size_t secret_len;
	/* A log line per decision that is not a plain success; never carries a
	 * password, HA1, response or nonce. NULL: silent. */
	void (*on_log)(void *arg, const char *line);
	void *log_arg;
};

struct sip_registrar;

/* Returns 0, -EINVAL (missing realm or lookup, an algorithm that is not
 * MD5/SHA-256(-sess), min > max), -ENOMEM or -EIO. */
int sip_registrar_new(struct sip_registrar **out, const struct sip_registrar_config *cfg);
void sip_registrar_free(struct sip_registrar *reg);

struct sip_registrar_request {
	const struct sip_msg *msg; /* a parsed REGISTER */
	void *flow;                /* where the bindings are reached; opaque */
	uint64_t flow_id;
	/* The key of the failed-authentication limit: the source address as
	 * text (without port). Unset or empty: no limit for this request. */
	sip_pl source;
	uint64_t now_ms;
};

/* Decide on a REGISTER and append the whole response to out (start with an
 * empty buffer): 200 listing every binding of the AOR with ;expires=, 401
 * with the challenge, 403 (rate limited, user not the AOR's, too many
 * bindings), 400 (bad Contact, Expires, Authorization), 423 with
 * Min-Expires, 500 for an out-of-order CSeq or no memory for the binding.
 * Returns the status written, -EINVAL when the request is not a REGISTER, or
 * the buffer's error (-ENOMEM, -EMSGSIZE; -EINVAL when a field the response
 * copies, such as a Via, holds bytes the builder will not write back): then
 * nothing can be answered. The Request-URI's domain is the caller's to
 * check. */
int sip_registrar_handle(struct sip_registrar *reg, const struct sip_registrar_request *rq,
                         struct sip_buf *out);

/* The connection behind flow is gone: remove every binding tied to it.
 * Returns how many were removed. */
size_t sip_registrar_flow_closed(struct sip_registrar *reg, const void *flow);

/* Remove expired bindings and forget failure windows that ended. Returns the
 * number of bindings removed. */
size_t sip_registrar_tick(struct sip_registrar *reg, uint64_t now_ms);
/* When tick has work next; UINT64_MAX when nothing is pending. */
uint64_t sip_registrar_next_deadline(const struct sip_registrar *reg);

/* One live binding, as lookup shows it. Views stay valid until the next call
 * that changes the registrar. */
struct sip_registrar_binding {
	sip_pl contact; /* the Contact URI as the client sent it */
	void *flow;
	uint64_t flow_id;
	sip_pl instance; /* +sip.instance without its quotes; unset when none */
	bool has_reg_id;
	uint32_t reg_id;
	uint16_t q; /* times 1000; 1000 when the client sent none */
	uint64_t expires_ms;
};

/* Return non-zero to stop. The callback must not change the registrar. */
typedef int (*sip_registrar_binding_fn)(void *arg, const struct sip_registrar_binding *b);

/* Visit each live binding (expires_ms > now_ms) of user@host: user as in a
 * URI (escapes allowed), host case-insensitive. fn may be NULL to count only.
 * Returns the number of bindings visited. */
size_t sip_registrar_lookup(const struct sip_registrar *reg, sip_pl user, sip_pl host,
                            uint64_t now_ms, sip_registrar_binding_fn fn, void *arg);

/* Bindings and AORs held (expired ones count until the next tick). */
size_t sip_registrar_binding_count(const struct sip_registrar *reg);
size_t sip_registrar_aor_count(const struct sip_registrar *reg);
/* Failed authentications so far (wrong credentials, unknown users, stale
 * or forged nonces), and REGISTERs refused 403 because their source had
 * failed too often. */
void sip_registrar_auth_counts(const struct sip_registrar *reg, uint64_t *failures,
                               uint64_t *refused);

#endif
