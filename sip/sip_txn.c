/* sip_txn.c — RFC 3261 §17 transactions (with RFC 6026), sans-I/O.
 *
 * Layout: every live transaction is in one hash table (client or server) for
 * matching and in the all-list; each has three timer slots whose armed members
 * sit in one binary min-heap, so a tick costs O(log n) per fired timer. Ended
 * transactions move to a zombie list and are freed when the outermost public
 * call returns, so a callback may call back into the layer safely. */
#include "sip/sip_txn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_build.h"
#include "sip/sip_timer_heap.h"

#define MAGIC_COOKIE "z9hG4bK"

enum timer_slot {
	TIMER_RETX,    /* A, E, G, or the 100 Trying delay of an IST */
	TIMER_TIMEOUT, /* B, F, H, L, M */
	TIMER_LINGER,  /* D, I, J, K */
	TIMER_SLOTS,
};

struct txn_timer {
	struct sip_timer tm; /* first: the heap's pointer is the txn_timer's */
	struct sip_txn *txn;
	enum timer_slot slot;
};

struct txn_bytes {
	char *p;
	size_t len;
};

struct sip_txn {
	struct sip_txn_layer *layer;
	enum sip_txn_kind kind;
	enum sip_txn_state state;
	struct sip_txn_dest dest;
	bool dest_held; /* cfg.cb.dest_hold(true) was called */
	struct sip_txn_user cb;
	void *user;

	struct txn_bytes req_bytes;
	/* Parsed copy of req_bytes. A server transaction parses it only when
	 * something needs it (a retransmission to match, the TU asking): most
	 * end — a REGISTER answered over a WebSocket — without that. */
	struct sip_msg *req;
	enum sip_method method;
	sip_pl branch; /* into req_bytes */
	bool rfc2543;  /* server: no magic cookie, matched by §17.2.3's old rules */
	bool is_server;

	struct txn_bytes last_resp; /* server: last sent; ICT: the ACK to send */
	int last_status;
	struct txn_bytes resp_to_tag; /* IST: the To tag of our final response */

	uint64_t retx_interval; /* wide: a configured T1 may be large */
	struct txn_timer timers[TIMER_SLOTS];

	uint32_t hash;
	struct sip_txn *hnext;       /* hash chain */
	struct sip_txn *prev, *next; /* all-list or zombie list */
	bool in_table;
};

struct txn_table {
	struct sip_txn **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
};

struct sip_txn_layer {
	struct sip_txn_layer_config cfg;
	struct txn_table client, server;
	struct sip_timer_heap timers;
	struct sip_txn *all;     /* live transactions */
	struct sip_txn *zombies; /* ended, freed on the way out */
	size_t live;
	struct sip_txn_counts counts;
	unsigned depth;          /* nesting of public calls */
	struct sip_msg *scratch; /* for parsing responses handed to respond() */
};

static const char *const state_names[] = {
    [SIP_TXN_CALLING] = "Calling",       [SIP_TXN_TRYING] = "Trying",
    [SIP_TXN_PROCEEDING] = "Proceeding", [SIP_TXN_COMPLETED] = "Completed",
    [SIP_TXN_CONFIRMED] = "Confirmed",   [SIP_TXN_ACCEPTED] = "Accepted",
    [SIP_TXN_TERMINATED] = "Terminated",
};

const char *sip_txn_state_name(enum sip_txn_state state)
{
	if ((unsigned)state >= sizeof(state_names) / sizeof(state_names[0]))
		return "?";
	return state_names[state];
}

__attribute__((format(printf, 2, 3))) static void txn_log(struct sip_txn_layer *layer,
                                                          const char *fmt, ...)
{
	if (!layer->cfg.cb.on_log)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	layer->cfg.cb.on_log(layer->cfg.arg, line);
}

/* ---- hashing and tables ---- */

/* FNV-1a over the exact bytes (branches and Call-IDs compare exactly). */
static uint32_t hash_pl(sip_pl pl)
{
	uint32_t h = 2166136261u;
	for (size_t k = 0; k < pl.l; k++) {
		h ^= (unsigned char)pl.p[k];
		h *= 16777619u;
	}
	return h;
}

static int table_init(struct txn_table *t)
{
	t->nbuckets = 64;
	t->count = 0;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets ? 0 : -ENOMEM;
}

static void table_grow(struct txn_table *t)
{
	size_t n = t->nbuckets * 2;
	struct sip_txn **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct sip_txn *x = t->buckets[i];
		while (x) {
			struct sip_txn *nx = x->hnext;
			x->hnext = b[x->hash & (n - 1)];
			b[x->hash & (n - 1)] = x;
			x = nx;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

static void table_insert(struct txn_table *t, struct sip_txn *x)
{
	if (t->count >= t->nbuckets * 2)
		table_grow(t);
	struct sip_txn **head = &t->buckets[x->hash & (t->nbuckets - 1)];
	x->hnext = *head;
	*head = x;
	x->in_table = true;
	t->count++;
}

static void table_remove(struct txn_table *t, struct sip_txn *x)
{
	if (!x->in_table)
		return;
	struct sip_txn **pp = &t->buckets[x->hash & (t->nbuckets - 1)];
	while (*pp && *pp != x)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = x->hnext;
	x->in_table = false;
	x->hnext = NULL;
	t->count--;
}

/* ---- timers (sip_timer_heap) ---- */

static void timer_stop(struct sip_txn *x, enum timer_slot slot)
{
	sip_timer_heap_stop(&x->layer->timers, &x->timers[slot].tm);
}

static int timer_start(struct sip_txn *x, enum timer_slot slot, uint64_t at)
{
	return sip_timer_heap_start(&x->layer->timers, &x->timers[slot].tm, at);
}

/* ---- lifetime ---- */

static void list_unlink(struct sip_txn **head, struct sip_txn *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		*head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

static void list_push(struct sip_txn **head, struct sip_txn *x)
{
	x->prev = NULL;
	x->next = *head;
	if (*head)
		(*head)->prev = x;
	*head = x;
}

static void txn_free(struct sip_txn *x)
{
	if (x->dest_held)
		x->layer->cfg.cb.dest_hold(x->layer->cfg.arg, &x->dest, false);
	sip_msg_free(x->req);
	free(x->req_bytes.p);
	free(x->last_resp.p);
	free(x->resp_to_tag.p);
	free(x);
}

static void txn_hold_dest(struct sip_txn *x)
{
	if (x->layer->cfg.cb.dest_hold) {
		x->layer->cfg.cb.dest_hold(x->layer->cfg.arg, &x->dest, true);
		x->dest_held = true;
	}
}

static void layer_enter(struct sip_txn_layer *l)
{
	l->depth++;
}

static void layer_leave(struct sip_txn_layer *l)
{
	if (--l->depth)
		return;
	while (l->zombies) {
		struct sip_txn *x = l->zombies;
		list_unlink(&l->zombies, x);
		txn_free(x);
	}
}

static const char *kind_name(enum sip_txn_kind k)
{
	static const char *const names[] = {"ICT", "NICT", "IST", "NIST"};
	return names[k];
}

/* Enter Terminated: out of matching, timers stopped, TU told, freed later. */
static void txn_terminate(struct sip_txn *x)
{
	struct sip_txn_layer *l = x->layer;
	if (x->state == SIP_TXN_TERMINATED)
		return;
	x->state = SIP_TXN_TERMINATED;
	for (int s = 0; s < TIMER_SLOTS; s++)
		timer_stop(x, (enum timer_slot)s);
	table_remove(x->is_server ? &l->server : &l->client, x);
	list_unlink(&l->all, x);
	list_push(&l->zombies, x);
	l->live--;
	if (x->cb.on_terminated)
		x->cb.on_terminated(x->user, x);
}

static void txn_set_state(struct sip_txn *x, enum sip_txn_state st)
{
	x->state = st;
}

static int bytes_set(struct txn_bytes *b, const char *p, size_t len)
{
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, p, len);
	free(b->p);
	b->p = copy;
	b->len = len;
	return 0;
}

/* Send bytes; a failure is the transaction's transport error. */
static int txn_send(struct sip_txn *x, const char *p, size_t len)
{
	struct sip_txn_layer *l = x->layer;
	int rc = l->cfg.cb.send(l->cfg.arg, &x->dest, p, len);
	if (rc < 0) {
		txn_log(l, "%s %.*s: send failed (%d)", kind_name(x->kind), (int)x->branch.l,
		        x->branch.p, rc);
		if (x->cb.on_transport_error)
			x->cb.on_transport_error(x->user, x);
		txn_terminate(x);
		return rc;
	}
	return 0;
}

static uint64_t timer_64t1(const struct sip_txn *x)
{
	return 64u * (uint64_t)x->layer->cfg.timers.t1;
}

/* Arm (or, for zero on reliable transports, fire at once) a linger timer. */
static void txn_linger(struct sip_txn *x, uint64_t unreliable_ms, uint64_t now)
{
	if (x->dest.reliable || unreliable_ms == 0) {
		txn_terminate(x);
		return;
	}
	if (timer_start(x, TIMER_LINGER, now + unreliable_ms))
		txn_terminate(x); /* out of memory: ending early is the safe side */
}

/* The request parsed (see struct sip_txn), or NULL when memory ran out. A
 * cache filled on first use, hence the cast. */
static const struct sip_msg *txn_req(const struct sip_txn *cx)
{
	struct sip_txn *x = (struct sip_txn *)(uintptr_t)cx;
	if (x->req)
		return x->req;
	/* Transactions live for tens of seconds (Timers L, M, J): keep a copy
	 * sized to the request's fields, not a full message object. */
	if (sip_msg_parse_kept(x->req_bytes.p, x->req_bytes.len, SIP_PARSE_DATAGRAM, NULL, &x->req))
		return NULL;
	return x->req;
}

/* A transaction keeping a copy of the request in bytes. parsed: the caller's
 * parse of the same bytes (a server transaction), whose method and branch are
 * taken over; NULL: parse the copy now (a client transaction, whose request
 * is checked here). */
static struct sip_txn *txn_alloc(struct sip_txn_layer *l, enum sip_txn_kind kind,
                                 const struct sip_txn_dest *dest, const char *bytes, size_t len,
                                 const struct sip_msg *parsed)
{
	struct sip_txn *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->layer = l;
	x->kind = kind;
	x->dest = *dest;
	l->counts.created++;
	for (int s = 0; s < TIMER_SLOTS; s++) {
		sip_timer_init(&x->timers[s].tm);
		x->timers[s].txn = x;
		x->timers[s].slot = (enum timer_slot)s;
	}
	if (bytes_set(&x->req_bytes, bytes, len)) {
		txn_free(x);
		return NULL;
	}
	if (parsed) {
		sip_pl b = sip_msg_via(parsed)->branch;
		x->method = sip_msg_method(parsed);
		x->branch = (sip_pl){b.p ? x->req_bytes.p + (b.p - bytes) : NULL, b.l};
		txn_hold_dest(x);
		return x;
	}
	const struct sip_msg *r = txn_req(x);
	if (!r || !sip_msg_is_request(r)) {
		txn_free(x);
		return NULL;
	}
	x->method = sip_msg_method(r);
	x->branch = sip_msg_via(r)->branch;
	txn_hold_dest(x);
	return x;
}

/* ---- matching ---- */

static bool has_cookie(sip_pl branch)
{
	return branch.l > sizeof(MAGIC_COOKIE) - 1 &&
	       memcmp(branch.p, MAGIC_COOKIE, sizeof(MAGIC_COOKIE) - 1) == 0;
}

static bool same_sent_by(const struct sip_via *a, const struct sip_via *b)
{
	return sip_pl_caseeq(a->host, b->host) && a->port == b->port &&
	       sip_pl_caseeq(a->transport, b->transport);
}

static bool same_top_via(const struct sip_via *a, const struct sip_via *b)
{
	return same_sent_by(a, b) && sip_pl_eq(a->branch, b->branch) &&
	       sip_pl_eq(a->params, b->params);
}

static bool same_tag(sip_pl a, sip_pl b)
{
	if (!sip_pl_isset(a) || !sip_pl_isset(b))
		return sip_pl_isset(a) == sip_pl_isset(b);
	return sip_pl_eq(a, b);
}

/* §17.2.3 method rule: ACK matches INVITE; everything else its own method. */
static bool server_method_matches(const struct sip_txn *x, const struct sip_msg *m)
{
	enum sip_method mm = sip_msg_method(m);
	if (mm == SIP_METHOD_ACK)
		return x->method == SIP_METHOD_INVITE;
	if (mm == SIP_METHOD_OTHER || x->method == SIP_METHOD_OTHER) {
		const struct sip_msg *r = txn_req(x);
		return r && sip_pl_eq(sip_msg_method_name(m), sip_msg_method_name(r));
	}
	return mm == x->method;
}

/* RFC 2543 rules of §17.2.3 (no magic cookie). as_method: the method the
 * request is matched as (ACK and CANCEL match an INVITE by number only). */
static bool match_2543(const struct sip_txn *x, const struct sip_msg *m, bool ack, bool any_to)
{
	const struct sip_msg *r = txn_req(x);
	if (!r || !sip_pl_eq(sip_msg_call_id(m), sip_msg_call_id(r)))
		return false;
	if (!sip_pl_eq(sip_msg_ruri(m), sip_msg_ruri(r)))
		return false;
	if (!same_tag(sip_msg_from(m)->tag, sip_msg_from(r)->tag))
		return false;
	if (sip_msg_cseq(m)->seq != sip_msg_cseq(r)->seq)
		return false;
	if (!same_top_via(sip_msg_via(m), sip_msg_via(r)))
		return false;
	if (ack) {
		/* the ACK's To tag is the one our response carried */
		sip_pl want = x->resp_to_tag.p ? (sip_pl){x->resp_to_tag.p, x->resp_to_tag.len}
		                               : sip_msg_to(r)->tag;
		return same_tag(sip_msg_to(m)->tag, want);
	}
	if (any_to)
		return true;
	return same_tag(sip_msg_to(m)->tag, sip_msg_to(r)->tag);
}

static bool flow_matches(const struct sip_txn *x, const struct sip_txn_dest *from)
{
	/* On a connection the flow is part of the key: short browser branches
	 * may collide across connections. */
	if (!from || !(x->dest.reliable || from->reliable))
		return true;
	return x->dest.flow == from->flow;
}

/* Find the server transaction for request m. cancel_target: match m (a
 * CANCEL) against INVITE transactions instead of its own method. */
static struct sip_txn *server_find(struct sip_txn_layer *l, const struct sip_msg *m,
                                   const struct sip_txn_dest *from, bool cancel_target)
{
	const struct sip_via *via = sip_msg_via(m);
	bool cookie = has_cookie(via->branch);
	uint32_t h = cookie ? hash_pl(via->branch) : hash_pl(sip_msg_call_id(m));
	enum sip_method mm = sip_msg_method(m);
	for (struct sip_txn *x = l->server.buckets[h & (l->server.nbuckets - 1)]; x; x = x->hnext) {
		if (x->hash != h || x->rfc2543 == cookie)
			continue;
		if (cancel_target ? x->method != SIP_METHOD_INVITE : !server_method_matches(x, m))
			continue;
		if (!flow_matches(x, from))
			continue;
		if (cookie) {
			const struct sip_msg *r;
			if (sip_pl_eq(x->branch, via->branch) && (r = txn_req(x)) &&
			    same_sent_by(via, sip_msg_via(r)))
				return x;
		} else if (match_2543(x, m, mm == SIP_METHOD_ACK && !cancel_target,
		                      cancel_target)) {
			return x;
		}
	}
	return NULL;
}

static struct sip_txn *client_find(struct sip_txn_layer *l, sip_pl branch,
                                   const struct sip_cseq *cseq)
{
	uint32_t h = hash_pl(branch);
	for (struct sip_txn *x = l->client.buckets[h & (l->client.nbuckets - 1)]; x; x = x->hnext) {
		if (x->hash != h || !sip_pl_eq(x->branch, branch))
			continue;
		const struct sip_cseq *mine = sip_msg_cseq(x->req);
		if (mine->method != cseq->method)
			continue;
		if (cseq->method == SIP_METHOD_OTHER &&
		    !sip_pl_eq(mine->method_name, cseq->method_name))
			continue;
		return x;
	}
	return NULL;
}

/* ---- INVITE client (§17.1.1, RFC 6026 §7.2) ---- */

/* §17.1.1.3: the ACK to a non-2xx final response, from the original request
 * and the response's To. */
static int ict_build_ack(struct sip_txn *x, const struct sip_msg *resp)
{
	const struct sip_msg *r = x->req;
	struct sip_buf b;
	sip_buf_init(&b, 0);
	sip_build_request_line(&b, SIP_PL("ACK"), sip_msg_ruri(r));
	struct sip_value_iter it = {0};
	sip_pl top_via;
	if (sip_msg_value_next(r, SIP_HDR_VIA, &it, &top_via))
		sip_build_header(&b, "Via", top_via);
	const struct sip_hdr *h;
	for (h = sip_msg_hdr(r, SIP_HDR_ROUTE); h; h = sip_msg_hdr_next(r, h))
		sip_build_header(&b, "Route", h->value);
	sip_build_header(&b, "Max-Forwards", SIP_PL("70"));
	if ((h = sip_msg_hdr(r, SIP_HDR_FROM)))
		sip_build_header(&b, "From", h->value);
	if ((h = sip_msg_hdr(resp, SIP_HDR_TO)))
		sip_build_header(&b, "To", h->value);
	sip_build_header(&b, "Call-ID", sip_msg_call_id(r));
	sip_build_header_fmt(&b, "CSeq", "%u ACK", (unsigned)sip_msg_cseq(r)->seq);
	sip_build_body(&b, NULL, SIP_PL_NULL);
	int rc = b.error;
	if (!rc)
		rc = bytes_set(&x->last_resp, b.p, b.len);
	sip_buf_free(&b);
	return rc;
}

static void tu_response(struct sip_txn *x, const struct sip_msg *msg)
{
	if (x->cb.on_response)
		x->cb.on_response(x->user, x, msg);
}

static int ict_on_response(struct sip_txn *x, const struct sip_msg *msg, uint64_t now)
{
	int status = sip_msg_status(msg);
	switch (x->state) {
	case SIP_TXN_CALLING:
	case SIP_TXN_PROCEEDING:
		x->last_status = status;
		if (status < 200) {
			timer_stop(x, TIMER_RETX);
			timer_stop(x, TIMER_TIMEOUT); /* B runs in Calling only */
			txn_set_state(x, SIP_TXN_PROCEEDING);
			tu_response(x, msg);
		} else if (status < 300) {
			timer_stop(x, TIMER_RETX);
			txn_set_state(x, SIP_TXN_ACCEPTED);
			timer_start(x, TIMER_TIMEOUT, now + timer_64t1(x)); /* M */
			tu_response(x, msg);
		} else {
			timer_stop(x, TIMER_RETX);
			timer_stop(x, TIMER_TIMEOUT);
			txn_set_state(x, SIP_TXN_COMPLETED);
			if (ict_build_ack(x, msg) == 0 &&
			    txn_send(x, x->last_resp.p, x->last_resp.len) < 0)
				return SIP_TXN_RECV_ABSORBED;
			tu_response(x, msg);
			if (x->state == SIP_TXN_COMPLETED)
				txn_linger(x, SIP_TXN_TIMER_D_MS, now);
		}
		return SIP_TXN_RECV_RESPONSE;
	case SIP_TXN_COMPLETED:
		if (status >= 300 && x->last_resp.p)
			txn_send(x, x->last_resp.p, x->last_resp.len); /* ACK again */
		return SIP_TXN_RECV_ABSORBED;
	case SIP_TXN_ACCEPTED:
		if (status >= 200 && status < 300) {
			tu_response(x, msg);
			return SIP_TXN_RECV_RESPONSE;
		}
		return SIP_TXN_RECV_ABSORBED;
	default:
		txn_log(x->layer, "ICT: response %d in %s ignored", status,
		        sip_txn_state_name(x->state));
		return SIP_TXN_RECV_ABSORBED;
	}
}

static void ict_on_timer(struct sip_txn *x, enum timer_slot slot, uint64_t now)
{
	if (slot == TIMER_RETX && x->state == SIP_TXN_CALLING) { /* A */
		x->layer->counts.retransmissions++;
		if (txn_send(x, x->req_bytes.p, x->req_bytes.len) < 0)
			return;
		x->retx_interval *= 2;
		timer_start(x, TIMER_RETX, now + x->retx_interval);
	} else if (slot == TIMER_TIMEOUT && x->state == SIP_TXN_CALLING) { /* B */
		x->layer->counts.timeouts++;
		if (x->cb.on_timeout)
			x->cb.on_timeout(x->user, x);
		txn_terminate(x);
	} else if (slot == TIMER_TIMEOUT && x->state == SIP_TXN_ACCEPTED) { /* M */
		txn_terminate(x);
	} else if (slot == TIMER_LINGER && x->state == SIP_TXN_COMPLETED) { /* D */
		txn_terminate(x);
	} else {
		txn_log(x->layer, "ICT: stray timer %d in %s", (int)slot,
		        sip_txn_state_name(x->state));
	}
}

/* ---- non-INVITE client (§17.1.2) ---- */

static int nict_on_response(struct sip_txn *x, const struct sip_msg *msg, uint64_t now)
{
	int status = sip_msg_status(msg);
	if (x->state != SIP_TXN_TRYING && x->state != SIP_TXN_PROCEEDING)
		return SIP_TXN_RECV_ABSORBED; /* Completed: retransmissions */
	x->last_status = status;
	if (status < 200) {
		txn_set_state(x, SIP_TXN_PROCEEDING);
		tu_response(x, msg);
		return SIP_TXN_RECV_RESPONSE;
	}
	timer_stop(x, TIMER_RETX);
	timer_stop(x, TIMER_TIMEOUT);
	txn_set_state(x, SIP_TXN_COMPLETED);
	tu_response(x, msg);
	if (x->state == SIP_TXN_COMPLETED)
		txn_linger(x, x->layer->cfg.timers.t4, now); /* K */
	return SIP_TXN_RECV_RESPONSE;
}

static void nict_on_timer(struct sip_txn *x, enum timer_slot slot, uint64_t now)
{
	const struct sip_txn_timers *t = &x->layer->cfg.timers;
	bool active = x->state == SIP_TXN_TRYING || x->state == SIP_TXN_PROCEEDING;
	if (slot == TIMER_RETX && active) { /* E */
		x->layer->counts.retransmissions++;
		if (txn_send(x, x->req_bytes.p, x->req_bytes.len) < 0)
			return;
		if (x->state == SIP_TXN_PROCEEDING)
			x->retx_interval = t->t2;
		else
			x->retx_interval =
			    x->retx_interval * 2 < t->t2 ? x->retx_interval * 2 : t->t2;
		timer_start(x, TIMER_RETX, now + x->retx_interval);
	} else if (slot == TIMER_TIMEOUT && active) { /* F */
		x->layer->counts.timeouts++;
		if (x->cb.on_timeout)
			x->cb.on_timeout(x->user, x);
		txn_terminate(x);
	} else if (slot == TIMER_LINGER && x->state == SIP_TXN_COMPLETED) { /* K */
		txn_terminate(x);
	} else {
		txn_log(x->layer, "NICT: stray timer %d in %s", (int)slot,
		        sip_txn_state_name(x->state));
	}
}

/* ---- INVITE server (§17.2.1, RFC 6026 §7.1) ---- */

static void resend_last(struct sip_txn *x)
{
	if (x->last_resp.p) {
		x->layer->counts.retransmissions++;
		txn_send(x, x->last_resp.p, x->last_resp.len);
	}
}

static int ist_on_request(struct sip_txn *x, const struct sip_msg *msg, uint64_t now)
{
	bool ack = sip_msg_method(msg) == SIP_METHOD_ACK;
	switch (x->state) {
	case SIP_TXN_PROCEEDING:
		if (!ack)
			resend_last(x);
		return SIP_TXN_RECV_ABSORBED;
	case SIP_TXN_COMPLETED:
		if (!ack) {
			resend_last(x);
			return SIP_TXN_RECV_ABSORBED;
		}
		timer_stop(x, TIMER_RETX);
		timer_stop(x, TIMER_TIMEOUT);
		txn_set_state(x, SIP_TXN_CONFIRMED);
		txn_linger(x, x->layer->cfg.timers.t4, now); /* I */
		return SIP_TXN_RECV_ABSORBED;
	case SIP_TXN_ACCEPTED:
		if (ack) {
			if (x->cb.on_ack)
				x->cb.on_ack(x->user, x, msg);
			return SIP_TXN_RECV_ACK;
		}
		return SIP_TXN_RECV_ABSORBED; /* the TU retransmits its 2xx itself */
	default:                              /* Confirmed: absorb */
		return SIP_TXN_RECV_ABSORBED;
	}
}

static void ist_on_timer(struct sip_txn *x, enum timer_slot slot, uint64_t now)
{
	const struct sip_txn_timers *t = &x->layer->cfg.timers;
	if (slot == TIMER_RETX && x->state == SIP_TXN_PROCEEDING) { /* 100 Trying delay */
		if (x->last_resp.p)
			return; /* the TU responded already */
		struct sip_buf b;
		sip_buf_init(&b, 0);
		const struct sip_msg *r = txn_req(x);
		if (!r)
			return;
		sip_build_response(&b, r, 100, NULL, SIP_PL_NULL);
		sip_build_body(&b, NULL, SIP_PL_NULL);
		if (!b.error && bytes_set(&x->last_resp, b.p, b.len) == 0) {
			x->last_status = 100;
			txn_send(x, x->last_resp.p, x->last_resp.len);
		}
		sip_buf_free(&b);
	} else if (slot == TIMER_RETX && x->state == SIP_TXN_COMPLETED) { /* G */
		x->layer->counts.retransmissions++;
		if (txn_send(x, x->last_resp.p, x->last_resp.len) < 0)
			return;
		x->retx_interval = x->retx_interval * 2 < t->t2 ? x->retx_interval * 2 : t->t2;
		timer_start(x, TIMER_RETX, now + x->retx_interval);
	} else if (slot == TIMER_TIMEOUT && x->state == SIP_TXN_COMPLETED) { /* H */
		x->layer->counts.timeouts++;
		if (x->cb.on_timeout)
			x->cb.on_timeout(x->user, x);
		txn_terminate(x);
	} else if (slot == TIMER_TIMEOUT && x->state == SIP_TXN_ACCEPTED) { /* L */
		txn_terminate(x);
	} else if (slot == TIMER_LINGER && x->state == SIP_TXN_CONFIRMED) { /* I */
		txn_terminate(x);
	} else {
		txn_log(x->layer, "IST: stray timer %d in %s", (int)slot,
		        sip_txn_state_name(x->state));
	}
}

static int ist_respond(struct sip_txn *x, int status, uint64_t now)
{
	const struct sip_txn_timers *t = &x->layer->cfg.timers;
	switch (x->state) {
	case SIP_TXN_PROCEEDING:
		timer_stop(x, TIMER_RETX); /* no 100 Trying needed any more */
		x->last_status = status;
		int rc = txn_send(x, x->last_resp.p, x->last_resp.len);
		if (rc < 0)
			return rc;
		if (status < 200)
			return 0;
		if (status < 300) {
			txn_set_state(x, SIP_TXN_ACCEPTED);
			timer_start(x, TIMER_TIMEOUT, now + timer_64t1(x)); /* L */
			return 0;
		}
		txn_set_state(x, SIP_TXN_COMPLETED);
		if (!x->dest.reliable) {
			x->retx_interval = t->t1;
			timer_start(x, TIMER_RETX, now + t->t1); /* G */
		}
		timer_start(x, TIMER_TIMEOUT, now + timer_64t1(x)); /* H */
		return 0;
	case SIP_TXN_ACCEPTED:
		if (status >= 200 && status < 300) {
			x->last_status = status;
			return txn_send(x, x->last_resp.p, x->last_resp.len);
		}
		/* fall through */
	default:
		return -EPROTO;
	}
}

/* ---- non-INVITE server (§17.2.2) ---- */

static int nist_on_request(struct sip_txn *x)
{
	if (x->state == SIP_TXN_PROCEEDING || x->state == SIP_TXN_COMPLETED)
		resend_last(x);
	return SIP_TXN_RECV_ABSORBED; /* Trying: absorbed silently */
}

static void nist_on_timer(struct sip_txn *x, enum timer_slot slot)
{
	if (slot == TIMER_LINGER && x->state == SIP_TXN_COMPLETED) /* J */
		txn_terminate(x);
	else
		txn_log(x->layer, "NIST: stray timer %d in %s", (int)slot,
		        sip_txn_state_name(x->state));
}

static int nist_respond(struct sip_txn *x, int status, uint64_t now)
{
	if (x->state != SIP_TXN_TRYING && x->state != SIP_TXN_PROCEEDING)
		return -EPROTO;
	x->last_status = status;
	int rc = txn_send(x, x->last_resp.p, x->last_resp.len);
	if (rc < 0)
		return rc;
	if (status < 200) {
		txn_set_state(x, SIP_TXN_PROCEEDING);
		return 0;
	}
	txn_set_state(x, SIP_TXN_COMPLETED);
	txn_linger(x, timer_64t1(x), now); /* J */
	return 0;
}

/* ---- the layer ---- */

struct sip_txn_layer *sip_txn_layer_new(const struct sip_txn_layer_config *cfg)
{
	if (!cfg || !cfg->cb.send || !cfg->cb.on_request)
		return NULL;
	struct sip_txn_layer *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->cfg = *cfg;
	struct sip_txn_timers def = SIP_TXN_TIMERS_DEFAULT;
	if (!l->cfg.timers.t1)
		l->cfg.timers.t1 = def.t1;
	if (!l->cfg.timers.t2)
		l->cfg.timers.t2 = def.t2;
	if (!l->cfg.timers.t4)
		l->cfg.timers.t4 = def.t4;
	l->scratch = sip_msg_new(NULL);
	if (!l->scratch || table_init(&l->client) || table_init(&l->server)) {
		sip_txn_layer_free(l);
		return NULL;
	}
	return l;
}

void sip_txn_layer_free(struct sip_txn_layer *layer)
{
	if (!layer)
		return;
	struct sip_txn *lists[2] = {layer->all, layer->zombies};
	for (int i = 0; i < 2; i++) {
		struct sip_txn *x = lists[i];
		while (x) {
			struct sip_txn *nx = x->next;
			txn_free(x);
			x = nx;
		}
	}
	free(layer->client.buckets);
	free(layer->server.buckets);
	sip_timer_heap_free(&layer->timers);
	sip_msg_free(layer->scratch);
	free(layer);
}

void sip_txn_layer_shutdown(struct sip_txn_layer *layer)
{
	if (!layer)
		return;
	layer_enter(layer);
	while (layer->all)
		txn_terminate(layer->all);
	layer_leave(layer);
}

size_t sip_txn_layer_count(const struct sip_txn_layer *layer)
{
	return layer ? layer->live : 0;
}

void sip_txn_layer_counts(const struct sip_txn_layer *layer, struct sip_txn_counts *out)
{
	*out = layer->counts;
}

uint64_t sip_txn_layer_next_deadline(const struct sip_txn_layer *layer)
{
	if (!layer)
		return UINT64_MAX;
	return sip_timer_heap_next(&layer->timers);
}

static void txn_fire(struct sip_txn *x, enum timer_slot slot, uint64_t now)
{
	switch (x->kind) {
	case SIP_TXN_ICT:
		ict_on_timer(x, slot, now);
		break;
	case SIP_TXN_NICT:
		nict_on_timer(x, slot, now);
		break;
	case SIP_TXN_IST:
		ist_on_timer(x, slot, now);
		break;
	case SIP_TXN_NIST:
		nist_on_timer(x, slot);
		break;
	}
}

void sip_txn_layer_tick(struct sip_txn_layer *layer, uint64_t now_ms)
{
	if (!layer)
		return;
	layer_enter(layer);
	struct sip_timer *top;
	while ((top = sip_timer_heap_top(&layer->timers)) && top->at <= now_ms) {
		struct txn_timer *t = (struct txn_timer *)top;
		timer_stop(t->txn, t->slot);
		txn_fire(t->txn, t->slot, now_ms);
	}
	layer_leave(layer);
}

static void txn_link(struct sip_txn_layer *l, struct sip_txn *x)
{
	table_insert(x->is_server ? &l->server : &l->client, x);
	list_push(&l->all, x);
	l->live++;
}

static int recv_response(struct sip_txn_layer *l, const struct sip_msg *msg, uint64_t now)
{
	const struct sip_via *via = sip_msg_via(msg);
	struct sip_txn *x = client_find(l, via->branch, sip_msg_cseq(msg));
	if (!x)
		return SIP_TXN_RECV_STRAY;
	if (x->kind == SIP_TXN_ICT)
		return ict_on_response(x, msg, now);
	return nict_on_response(x, msg, now);
}

static int server_new(struct sip_txn_layer *l, const struct sip_msg *msg,
                      const struct sip_txn_dest *from, uint64_t now)
{
	bool invite = sip_msg_method(msg) == SIP_METHOD_INVITE;
	sip_pl raw = sip_msg_raw(msg);
	struct sip_txn *x =
		txn_alloc(l, invite ? SIP_TXN_IST : SIP_TXN_NIST, from, raw.p, raw.l, msg);
	if (!x)
		return -ENOMEM;
	x->is_server = true;
	x->rfc2543 = !has_cookie(x->branch);
	x->hash = x->rfc2543 ? hash_pl(sip_msg_call_id(msg)) : hash_pl(x->branch);
	x->state = invite ? SIP_TXN_PROCEEDING : SIP_TXN_TRYING;
	txn_link(l, x);
	if (invite && l->cfg.trying_delay_ms != SIP_TXN_NO_TRYING) {
		if (l->cfg.trying_delay_ms == 0)
			ist_on_timer(x, TIMER_RETX, now); /* the 100 goes before the TU sees it */
		else
			timer_start(x, TIMER_RETX, now + l->cfg.trying_delay_ms);
	}
	if (x->state != SIP_TXN_TERMINATED)
		l->cfg.cb.on_request(l->cfg.arg, x, msg);
	return SIP_TXN_RECV_NEW;
}

int sip_txn_layer_recv(struct sip_txn_layer *layer, const struct sip_msg *msg,
                       const struct sip_txn_dest *from, uint64_t now_ms)
{
	if (!layer || !msg || !from || !sip_msg_via(msg) || !sip_msg_cseq(msg))
		return -EINVAL;
	int rc;
	layer_enter(layer);
	if (!sip_msg_is_request(msg)) {
		rc = recv_response(layer, msg, now_ms);
	} else {
		struct sip_txn *x = server_find(layer, msg, from, false);
		if (x && x->kind == SIP_TXN_IST) {
			rc = ist_on_request(x, msg, now_ms);
		} else if (x) {
			rc = nist_on_request(x);
		} else if (sip_msg_method(msg) == SIP_METHOD_ACK) {
			rc = SIP_TXN_RECV_STRAY;
		} else {
			rc = server_new(layer, msg, from, now_ms);
		}
	}
	if (rc == SIP_TXN_RECV_ABSORBED)
		layer->counts.absorbed++;
	layer_leave(layer);
	return rc;
}

int sip_txn_client_new(struct sip_txn_layer *layer, const char *bytes, size_t len,
                       const struct sip_txn_dest *dest, uint64_t now_ms,
                       const struct sip_txn_user *user_cb, void *user, struct sip_txn **out)
{
	if (out)
		*out = NULL;
	if (!layer || !bytes || !dest)
		return -EINVAL;
	/* parse first with the scratch message to classify before allocating */
	size_t consumed;
	struct sip_parse_error err;
	if (sip_msg_parse(layer->scratch, bytes, len, SIP_PARSE_DATAGRAM, &consumed, &err) !=
	        SIP_PARSE_OK ||
	    !sip_msg_is_request(layer->scratch))
		return -EINVAL;
	enum sip_method method = sip_msg_method(layer->scratch);
	if (method == SIP_METHOD_ACK || !sip_pl_isset(sip_msg_via(layer->scratch)->branch) ||
	    sip_msg_via(layer->scratch)->branch.l == 0)
		return -EINVAL;
	if (client_find(layer, sip_msg_via(layer->scratch)->branch, sip_msg_cseq(layer->scratch)))
		return -EEXIST;

	bool invite = method == SIP_METHOD_INVITE;
	struct sip_txn *x =
		txn_alloc(layer, invite ? SIP_TXN_ICT : SIP_TXN_NICT, dest, bytes, len, NULL);
	if (!x)
		return -ENOMEM;
	if (user_cb)
		x->cb = *user_cb;
	x->user = user;
	x->hash = hash_pl(x->branch);
	x->state = invite ? SIP_TXN_CALLING : SIP_TXN_TRYING;
	int rc = layer->cfg.cb.send(layer->cfg.arg, &x->dest, x->req_bytes.p, x->req_bytes.len);
	if (rc < 0) {
		txn_free(x);
		return rc;
	}
	layer_enter(layer);
	txn_link(layer, x);
	const struct sip_txn_timers *t = &layer->cfg.timers;
	if (!dest->reliable) {
		x->retx_interval = t->t1;
		timer_start(x, TIMER_RETX, now_ms + t->t1); /* A or E */
	}
	timer_start(x, TIMER_TIMEOUT, now_ms + timer_64t1(x)); /* B or F */
	layer_leave(layer);
	if (out)
		*out = x;
	return 0;
}

int sip_txn_server_respond(struct sip_txn *txn, const char *bytes, size_t len, uint64_t now_ms)
{
	if (!txn || !bytes || !txn->is_server)
		return -EINVAL;
	struct sip_txn_layer *l = txn->layer;
	if (txn->state == SIP_TXN_TERMINATED)
		return -EPROTO;
	size_t consumed;
	struct sip_parse_error err;
	if (sip_msg_parse(l->scratch, bytes, len, SIP_PARSE_DATAGRAM, &consumed, &err) !=
	        SIP_PARSE_OK ||
	    sip_msg_is_request(l->scratch))
		return -EINVAL;
	int status = sip_msg_status(l->scratch);
	if (status < 100 || status > 699)
		return -EINVAL;
	bool allowed;
	if (txn->kind == SIP_TXN_IST)
		allowed = txn->state == SIP_TXN_PROCEEDING ||
		          (txn->state == SIP_TXN_ACCEPTED && status >= 200 && status < 300);
	else
		allowed = txn->state == SIP_TXN_TRYING || txn->state == SIP_TXN_PROCEEDING;
	if (!allowed) {
		txn_log(l, "%s: response %d in %s refused", kind_name(txn->kind), status,
		        sip_txn_state_name(txn->state));
		return -EPROTO;
	}
	if (status >= 200 && txn->kind == SIP_TXN_IST) {
		/* kept to match the ACK of an RFC 2543 client */
		sip_pl tag = sip_msg_to(l->scratch)->tag;
		if (sip_pl_isset(tag) && bytes_set(&txn->resp_to_tag, tag.p, tag.l))
			return -ENOMEM;
	}
	if (bytes_set(&txn->last_resp, bytes, len))
		return -ENOMEM;
	layer_enter(l);
	int rc = txn->kind == SIP_TXN_IST ? ist_respond(txn, status, now_ms)
	                                  : nist_respond(txn, status, now_ms);
	layer_leave(l);
	return rc;
}

int sip_txn_transport_error(struct sip_txn *txn, uint64_t now_ms)
{
	(void)now_ms;
	if (!txn)
		return -EINVAL;
	if (txn->state == SIP_TXN_TERMINATED)
		return -EPROTO;
	struct sip_txn_layer *l = txn->layer;
	layer_enter(l);
	if (txn->cb.on_transport_error)
		txn->cb.on_transport_error(txn->user, txn);
	txn_terminate(txn);
	layer_leave(l);
	return 0;
}

struct sip_txn *sip_txn_find_invite_for_cancel(struct sip_txn_layer *layer,
                                               const struct sip_msg *cancel,
                                               const struct sip_txn_dest *from)
{
	if (!layer || !cancel || !sip_msg_is_request(cancel) || !sip_msg_via(cancel))
		return NULL;
	return server_find(layer, cancel, from, true);
}

/* ---- accessors ---- */

void sip_txn_set_user(struct sip_txn *txn, const struct sip_txn_user *user_cb, void *user)
{
	if (!txn)
		return;
	if (user_cb)
		txn->cb = *user_cb;
	else
		memset(&txn->cb, 0, sizeof(txn->cb));
	txn->user = user;
}

void *sip_txn_user_data(const struct sip_txn *txn)
{
	return txn ? txn->user : NULL;
}
enum sip_txn_kind sip_txn_kind(const struct sip_txn *txn)
{
	return txn->kind;
}
enum sip_txn_state sip_txn_state(const struct sip_txn *txn)
{
	return txn->state;
}
const struct sip_msg *sip_txn_request(const struct sip_txn *txn)
{
	return txn_req(txn);
}
const struct sip_txn_dest *sip_txn_dest(const struct sip_txn *txn)
{
	return &txn->dest;
}
int sip_txn_last_status(const struct sip_txn *txn)
{
	return txn->last_status;
}
