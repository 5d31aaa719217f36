/* passthrough.h — registration through to a PBX (mode "passthrough").
 *
 * sipwire fronts the PBX as an edge proxy for browsers' REGISTERs: the
 * request goes on to the configured PBX with sipwire's Via on top and each
 * Contact rewritten to a sipwire address whose user part is a token, so the
 * PBX sends calls for that user to sipwire, and sipwire knows which
 * connection (flow) the token belongs to. The PBX's own challenges reach the
 * browser and the browser's answers reach the PBX unchanged; the PBX's 200
 * goes back with the browser's own Contacts and their ;expires.
 *
 * The token is derived from the address of record and the browser's Contact,
 * so a browser that reconnects (SIP.js keeps its Contact) refreshes the same
 * binding at the PBX instead of adding one. A binding lives as long as the
 * PBX's 200 says and its connection lives. */
#ifndef SIPWIRE_SERVER_PASSTHROUGH_H
#define SIPWIRE_SERVER_PASSTHROUGH_H

#include <stdint.h>

#include "server/config.h"
#include "server/flow.h"
#include "sip/sip_msg.h"
#include "sip/sip_txn.h"

struct sw_trunk;
struct sw_passthrough;

/* cfg, trunk and txn must outlive the pass-through. */
int sw_passthrough_new(struct sw_passthrough **out, const struct sipwire_config *cfg,
                       struct sw_trunk *trunk, struct sip_txn_layer *txn);
void sw_passthrough_free(struct sw_passthrough *pt);

/* Forward the REGISTER of server transaction stx (which came in on from).
 * Takes over stx's user slot (to answer the browser when the PBX's answer
 * comes) and keeps its own reference to from until stx ends. */
void sw_passthrough_register(struct sw_passthrough *pt, struct sip_txn *stx,
                             const struct sip_msg *req, struct sw_flow *from, uint64_t now_ms);

/* A flow closed: its bindings end, and transactions sent over it fail now. */
void sw_passthrough_flow_closed(struct sw_passthrough *pt, struct sw_flow *f, uint64_t now_ms);

/* The browser behind a token the PBX addresses (the user part of a Contact
 * sipwire gave it): its flow and its own Contact URI, or NULL when the
 * binding is unknown, expired or its connection is gone. */
struct sw_flow *sw_passthrough_lookup(struct sw_passthrough *pt, sip_pl token, uint64_t now_ms,
                                      const char **contact);

size_t sw_passthrough_binding_count(const struct sw_passthrough *pt);

#endif
