/* endpoint.h — the daemon's SIP endpoint: where every transport's messages
 * meet the transaction layer, the registrar and (later) the B2BUA.
 *
 * It parses what a flow delivers, answers what cannot be parsed (400/505/
 * 513…, or a WebSocket close 1007 when nothing can be answered), answers CRLF
 * keep-alive pings, stamps received/rport (RFC 3581) into the top Via of
 * requests that came over UDP/TCP/TLS, runs the RFC 3261 transactions, and
 * dispatches requests: REGISTER to the local registrar or through to the PBX,
 * OPTIONS to the gateway answered 200, CANCEL to its INVITE.
 *
 * Responses always go back on the flow the request came in on, never routed
 * by Via: browsers share made-up `.invalid` Via hosts. */
#ifndef SIPWIRE_SERVER_ENDPOINT_H
#define SIPWIRE_SERVER_ENDPOINT_H

#include <glib.h>

#include "server/config.h"
#include "server/flow.h"
#include "sip/sip_txn.h"

struct sw_endpoint;
struct sw_trunk;

/* cfg must outlive the endpoint. Returns 0, -ENOMEM, -EINVAL (a user's
 * password cannot be hashed) or -EIO. */
int sw_endpoint_new(struct sw_endpoint **out, const struct sipwire_config *cfg,
                    GMainContext *ctx);
void sw_endpoint_free(struct sw_endpoint *ep);

/* Ends the calls in protocol (BYE, CANCEL, final responses) and removes the
 * trunks' registrations (REGISTER with Expires: 0). Call it once the loop has
 * stopped and before the transports are freed, so that those requests leave
 * (sw_endpoint_free does it too, but by then the transports are gone). */
void sw_endpoint_stop(struct sw_endpoint *ep);

/* The sink transports deliver to. */
struct sw_flow_sink sw_endpoint_sink(struct sw_endpoint *ep);

/* The trunk side; in pass-through mode this also starts relaying
 * registrations to the PBX. 0 or -ENOMEM. */
int sw_endpoint_set_trunk(struct sw_endpoint *ep, struct sw_trunk *trunk);

/* The configuration's users changed (a reload swapped them in): answer
 * digests from them from now on. 0, or -EINVAL (a password that cannot be
 * hashed; the old users stay). */
int sw_endpoint_reload_users(struct sw_endpoint *ep);

/* The calls (b2bua.h), for draining and metrics. */
struct sw_b2bua *sw_endpoint_b2bua(struct sw_endpoint *ep);

struct sw_endpoint_stats {
	uint64_t requests, responses, parse_errors, keepalives;
	/* Refused by the per-address limits (limits.*) and sip.accept_from. */
	uint64_t refused_connections, refused_rate, refused_strangers;
	size_t transactions, bindings;
	uint64_t auth_failures, auth_refused; /* the local registrar's (sip_registrar.h) */
	struct sip_txn_counts txn;
	size_t limited_addresses; /* addresses the limits keep an entry for */
};
void sw_endpoint_stats(const struct sw_endpoint *ep, struct sw_endpoint_stats *out);

#endif
