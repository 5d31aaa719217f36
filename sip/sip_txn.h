/* sip_txn.h — RFC 3261 §17 transactions, with the changes of RFC 6026, as a
 * sans-I/O core.
 *
 * The layer never touches a socket or a clock. Input arrives as calls
 * (sip_txn_layer_recv: a message came in on this flow; sip_txn_layer_tick:
 * the clock is now T) and output leaves through callbacks (send these bytes to
 * this flow; this transaction got a response, timed out, ended). The owner asks
 * sip_txn_layer_next_deadline() when to call tick next.
 *
 * Ownership: single owner. The layer owns every transaction. A struct sip_txn
 * pointer handed to the TU (by sip_txn_client_new or on_request) stays valid
 * until that transaction's on_terminated callback returns — or, when the TU
 * set no on_terminated, until the transaction ends (after a final timer, a
 * timeout or a transport error); the TU must drop it then. Nothing the TU
 * does from inside a callback frees a transaction under the caller's feet:
 * ended transactions are freed when the outermost layer call returns.
 * sip_txn_layer_free frees every transaction without calling back.
 *
 * As RFC 3261 has it, an INVITE client transaction in Proceeding runs no
 * timer: a TU that gives up on a call that rang sends a CANCEL, and the 487
 * ends the INVITE transaction.
 *
 * Every transaction copies the bytes it keeps (its request, its last
 * response) and parses its own copy, so callers may reuse their buffers as
 * soon as a call returns. */
#ifndef SIPWIRE_SIP_TXN_H
#define SIPWIRE_SIP_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip/sip_msg.h"

/* Where bytes go or came from. The flow is opaque to the layer (a connection,
 * or a UDP socket + remote address the owner keeps). reliable: TCP, TLS or
 * WebSocket — no retransmissions, and Timers D, I, J and K are zero. */
struct sip_txn_dest {
	void *flow;
	bool reliable;
};

/* RFC 3261 timer values in milliseconds (Table 4). */
struct sip_txn_timers {
	uint32_t t1; /* RTT estimate, 500 */
	uint32_t t2; /* cap on non-INVITE and final-response retransmit interval, 4000 */
	uint32_t t4; /* how long a message stays in the network, 5000 */
};
#define SIP_TXN_TIMERS_DEFAULT ((struct sip_txn_timers){.t1 = 500, .t2 = 4000, .t4 = 5000})
/* Timer D on unreliable transports: "at least 32 seconds" (§17.1.1.2). */
#define SIP_TXN_TIMER_D_MS 32000u

enum sip_txn_kind {
	SIP_TXN_ICT,  /* INVITE client */
	SIP_TXN_NICT, /* non-INVITE client */
	SIP_TXN_IST,  /* INVITE server */
	SIP_TXN_NIST, /* non-INVITE server */
};

/* One enum for the states of all four kinds; each kind uses a subset:
 * ICT: CALLING, PROCEEDING, COMPLETED, ACCEPTED, TERMINATED
 * NICT: TRYING, PROCEEDING, COMPLETED, TERMINATED
 * IST: PROCEEDING, COMPLETED, CONFIRMED, ACCEPTED, TERMINATED
 * NIST: TRYING, PROCEEDING, COMPLETED, TERMINATED */
enum sip_txn_state {
	SIP_TXN_CALLING,
	SIP_TXN_TRYING,
	SIP_TXN_PROCEEDING,
	SIP_TXN_COMPLETED,
	SIP_TXN_CONFIRMED,
	SIP_TXN_ACCEPTED, /* RFC 6026 */
	SIP_TXN_TERMINATED,
};
const char *sip_txn_state_name(enum sip_txn_state state);

struct sip_txn;
struct sip_txn_layer;

/* The layer's callbacks. arg is the layer's user argument. */
struct sip_txn_layer_callbacks {
	/* Put bytes on the wire. A negative return is a transport error: the
	 * transaction reports it (on_transport_error) and ends. Required. */
	int (*send)(void *arg, const struct sip_txn_dest *dest, const char *bytes, size_t len);
	/* A request that is not a retransmission created a server transaction.
	 * The TU answers with sip_txn_server_respond (now or later) and may attach
	 * its callbacks with sip_txn_set_user. msg and its buffer are the
	 * caller's: they live only for this call. Required. */
	void (*on_request)(void *arg, struct sip_txn *txn, const struct sip_msg *msg);
	/* A protocol event the layer ignored (illegal in the current state, a
	 * message it could not use). Optional. */
	void (*on_log)(void *arg, const char *line);
	/* Every transaction holds its destination from creation (hold true) to
	 * the moment it is freed (hold false), so an owner whose flows are
	 * reference counted keeps a flow alive exactly as long as a transaction
	 * may still send on it, whoever the transaction's TU is. Optional. */
	void (*dest_hold)(void *arg, const struct sip_txn_dest *dest, bool hold);
};

/* A transaction's own callbacks to its TU. Any may be NULL. */
struct sip_txn_user {
	/* Client: a response the TU must see (every provisional, the first final
	 * non-2xx, every 2xx to an INVITE). Retransmissions are absorbed. */
	void (*on_response)(void *user, struct sip_txn *txn, const struct sip_msg *msg);
	/* INVITE server in Accepted: an ACK that matched the transaction. (ACKs to
	 * 2xx normally carry a new branch and match no transaction: those come
	 * back from sip_txn_layer_recv as SIP_TXN_RECV_STRAY for the dialog
	 * layer.) */
	void (*on_ack)(void *user, struct sip_txn *txn, const struct sip_msg *msg);
	/* Timer B or F (client: no final response), or Timer H (INVITE server: no
	 * ACK). The transaction then ends. */
	void (*on_timeout)(void *user, struct sip_txn *txn);
	/* send() failed. The transaction then ends. */
	void (*on_transport_error)(void *user, struct sip_txn *txn);
	/* Last call for this transaction: the pointer is dead after it returns. */
	void (*on_terminated)(void *user, struct sip_txn *txn);
};

struct sip_txn_layer_config {
	struct sip_txn_timers timers;
	/* INVITE server: send 100 Trying when the TU has not responded within
	 * this many ms (RFC 3261 §17.2.1 says 200); 0 sends it at once, before
	 * on_request; SIP_TXN_NO_TRYING never sends it. */
	uint32_t trying_delay_ms;
	struct sip_txn_layer_callbacks cb;
	void *arg;
};
#define SIP_TXN_NO_TRYING UINT32_MAX

/* Returns NULL when out of memory or when cfg lacks send or on_request. A
 * zero timer in cfg->timers takes its default. */
struct sip_txn_layer *sip_txn_layer_new(const struct sip_txn_layer_config *cfg);
/* Frees every transaction without calling back. */
void sip_txn_layer_free(struct sip_txn_layer *layer);
/* End every transaction now, as a process that stops does: nothing is sent,
 * no timeout is reported, and each TU hears its on_terminated (so it can
 * release what it attached to the transaction). The layer stays usable. */
void sip_txn_layer_shutdown(struct sip_txn_layer *layer);

/* What sip_txn_layer_recv did with a message (or a negative errno). */
enum sip_txn_recv_result {
	SIP_TXN_RECV_ABSORBED = 0, /* a retransmission (or an event a transaction
	                            * swallowed, e.g. a response retransmission) */
	SIP_TXN_RECV_NEW,          /* a new server transaction; on_request called */
	SIP_TXN_RECV_RESPONSE,     /* passed to a client transaction's on_response */
	SIP_TXN_RECV_ACK,          /* passed to an Accepted INVITE server's on_ack */
	SIP_TXN_RECV_STRAY,        /* matches nothing: a response with no client
	                            * transaction, or an ACK with no INVITE server
	                            * transaction (an ACK to a 2xx). The caller
	                            * decides (the dialog layer, or drop). */
};

/* Feed a parsed message that arrived on from. msg's buffer is not kept. */
int sip_txn_layer_recv(struct sip_txn_layer *layer, const struct sip_msg *msg,
                       const struct sip_txn_dest *from, uint64_t now_ms);

/* The earliest armed timer, or UINT64_MAX when none is. */
uint64_t sip_txn_layer_next_deadline(const struct sip_txn_layer *layer);
/* Fire every timer due at or before now_ms. O(k log n) for k due timers. */
void sip_txn_layer_tick(struct sip_txn_layer *layer, uint64_t now_ms);

/* Live transactions (for tests and metrics). */
size_t sip_txn_layer_count(const struct sip_txn_layer *layer);
struct sip_txn_counts {
	uint64_t created;         /* client and server transactions */
	uint64_t retransmissions; /* requests and responses sent again (timers A, E,
	                           * G, and answers to a retransmitted request) */
	uint64_t absorbed;        /* retransmissions received and absorbed */
	uint64_t timeouts;        /* timers B, F (no answer) and H (no ACK) */
};
void sip_txn_layer_counts(const struct sip_txn_layer *layer, struct sip_txn_counts *out);

/* Start a client transaction for the request in bytes (copied), and send it.
 * The request must parse and carry a top Via with a branch; ACK is refused
 * (-EINVAL: an ACK to a 2xx is sent by the TU outside any transaction, and
 * the ACK to a non-2xx is built by the INVITE client transaction). On success
 * *out (if non-NULL) is the transaction. A failed first send returns its
 * error and creates nothing. -EEXIST: a client transaction with that branch
 * and method exists. */
int sip_txn_client_new(struct sip_txn_layer *layer, const char *bytes, size_t len,
                       const struct sip_txn_dest *dest, uint64_t now_ms,
                       const struct sip_txn_user *user_cb, void *user, struct sip_txn **out);

/* Server: send a response (bytes copied) through the transaction. Returns
 * -EINVAL for bytes that are not a response, -EPROTO when the state does not
 * allow it (a response after the final one; only 2xx retransmissions are
 * accepted in Accepted), or the send error. */
int sip_txn_server_respond(struct sip_txn *txn, const char *bytes, size_t len, uint64_t now_ms);

/* The transport under the transaction failed (e.g. the connection closed):
 * report on_transport_error and end the transaction. */
int sip_txn_transport_error(struct sip_txn *txn, uint64_t now_ms);

/* The INVITE server transaction a CANCEL targets (§9.2: same matching as the
 * INVITE, except the method), or NULL. */
struct sip_txn *sip_txn_find_invite_for_cancel(struct sip_txn_layer *layer,
                                               const struct sip_msg *cancel,
                                               const struct sip_txn_dest *from);

/* ---- accessors ---- */
void sip_txn_set_user(struct sip_txn *txn, const struct sip_txn_user *user_cb, void *user);
void *sip_txn_user_data(const struct sip_txn *txn);
enum sip_txn_kind sip_txn_kind(const struct sip_txn *txn);
enum sip_txn_state sip_txn_state(const struct sip_txn *txn);
/* The transaction's own parsed copy of its request. A server transaction
 * parses it on first use, so this returns NULL only when memory ran out. */
const struct sip_msg *sip_txn_request(const struct sip_txn *txn);
const struct sip_txn_dest *sip_txn_dest(const struct sip_txn *txn);
/* The status of the last response sent (server) or received (client), 0 if none. */
int sip_txn_last_status(const struct sip_txn *txn);

#endif
