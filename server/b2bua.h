/* b2bua.h — calls: two legs and a bridge.
 *
 * Every call that reaches the gateway is an Invitation (leg A, sip_ua.h) the
 * B2BUA routes with the dial plan (dialplan.h) to the echo service, to the
 * registered bindings of a user (one Inviter per binding, first answer wins,
 * the others are cancelled) or to a trunk (one Inviter, failing over to the
 * trunk's next address and then to the next trunk on 408, 5xx or no answer).
 * The bridge carries provisional responses (183 with SDP as early media),
 * the answer, CANCEL, BYE from either side, re-INVITEs (each leg's SDH
 * answers for its own side), INFO, MESSAGE and REFER with its NOTIFYs; when
 * a leg's flow goes (a browser closed its WebSocket) the other leg is ended
 * at once.
 *
 * Who may call: a user registered on the very flow the INVITE came in on (a
 * browser or a SIP phone of the local registrar), or a trunk, recognised by
 * the source address (the trunk's allow_from list, else the addresses its
 * host resolves to). Anyone else gets 403. In pass-through mode the PBX
 * decides: a browser's INVITE goes to it as sent, with the browser's own
 * answers to the PBX's challenges (the challenges come back to the browser),
 * and the PBX's INVITEs reach the browser behind the Contact token.
 *
 * Limits: calls.max_calls (503 beyond), calls.max_per_user for the calling
 * and the called user (486), Max-Forwards (483 at 0, decremented on the
 * other leg), calls.no_answer_timeout (then the caller gets 408).
 *
 * Every call has an id ("c1f", in every log line about it) and ends with a
 * call detail line: JSON on the log with subsystem "cdr". */
#ifndef SIPWIRE_SERVER_B2BUA_H
#define SIPWIRE_SERVER_B2BUA_H

#include <glib.h>

#include "server/config.h"
#include "server/flow.h"
#include "sip/sip_registrar.h"
#include "sip/sip_ua.h"

struct sw_b2bua;
struct sw_trunk;

/* How the gateway appears on a flow: the Via (less its branch) and the
 * Contact of requests and responses sent over it. */
struct sw_flow_where {
	char via[160];
	char contact[192];
};
typedef void (*sw_describe_flow_fn)(void *arg, const struct sw_flow *f,
                                    struct sw_flow_where *out);

struct sw_b2bua_env {
	const struct sipwire_config *cfg; /* outlives the B2BUA */
	GMainContext *ctx;
	struct sip_ua *ua;
	struct sip_registrar *reg; /* the local registrar; NULL: nobody registers */
	struct sip_txn_layer *txn; /* for trunk registrations */
	sw_describe_flow_fn describe_flow;
	void *arg;
};

/* 0, -ENOMEM, -EINVAL (the dial plan does not compile), or a media error
 * (the RTP port range cannot be used). */
int sw_b2bua_new(struct sw_b2bua **out, const struct sw_b2bua_env *env);
/* Ends every call as a stopping process does (BYE, CANCEL, 503 where the
 * flow is still there), writes their detail lines, frees. */
void sw_b2bua_free(struct sw_b2bua *b);

/* The trunk side (after sw_b2bua_new): resolves every configured trunk's
 * host for the source check and starts the registrations of the trunks that
 * have `register` on (sip_registerer.h: refreshed before expiry, retried
 * with back-off, moved to a new connection when a TCP/TLS one drops). */
void sw_b2bua_set_trunk(struct sw_b2bua *b, struct sw_trunk *trunk);

/* Trunk registrations' timers, for the owner's timer: the earliest
 * deadline (monotonic ms, UINT64_MAX: none) and the call that runs what is
 * due. */
uint64_t sw_b2bua_next_deadline(const struct sw_b2bua *b);
void sw_b2bua_tick(struct sw_b2bua *b);

/* Pass-through mode: where the browsers behind the PBX's Contacts are. */
struct sw_passthrough;
void sw_b2bua_set_passthrough(struct sw_b2bua *b, struct sw_passthrough *pt);

/* Is addr one of a trunk's: in its allow_from, or (without one) an address
 * its host resolved to? */
bool sw_b2bua_is_trunk_addr(const struct sw_b2bua *b, const struct sockaddr_storage *addr);

/* The UA's on_invite: a new Invitation. */
void sw_b2bua_on_invitation(struct sw_b2bua *b, struct sip_session *inv);

/* A reloaded dial plan (dialplan.h), compiled against the same trunks;
 * takes it. Calls in progress keep the route they were given. */
struct sw_dialplan;
void sw_b2bua_set_plan(struct sw_b2bua *b, struct sw_dialplan *plan);

/* Draining: every new call is refused 503 with Retry-After: retry_after_s
 * (calls in progress go on). */
void sw_b2bua_drain(struct sw_b2bua *b, unsigned retry_after_s);
/* End every call now in protocol (BYE, CANCEL, 503), with this end reason
 * (static text) in their detail lines; they are reaped as their legs end. */
void sw_b2bua_end_calls(struct sw_b2bua *b, const char *reason);

struct sw_b2bua_stats {
	uint64_t calls, answered, rejected;
	size_t active;
};
void sw_b2bua_stats(const struct sw_b2bua *b, struct sw_b2bua_stats *out);
/* How calls ended, and their WebRTC legs' ICE and DTLS (metrics.h). */
struct sw_call_metrics;
const struct sw_call_metrics *sw_b2bua_metrics(const struct sw_b2bua *b);
/* The media workers (metrics). */
struct sw_media_ctx *sw_b2bua_media(struct sw_b2bua *b);

#endif
