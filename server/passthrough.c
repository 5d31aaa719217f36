/* passthrough.c — see passthrough.h. */
#include "server/passthrough.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"
#include "server/trunk.h"
#include "sip/sip_build.h"

/* Resolved PBX addresses are reused this long before asking DNS again. */
#define TARGET_TTL_MS 60000u

struct pt_binding {
	char token[24]; /* the user part of the Contact the PBX was given */
	struct sw_flow *flow; /* the browser's connection (a reference) */
	char *contact;        /* the browser's own Contact URI */
	uint64_t expires_ms;  /* 0 until the PBX's 200 told */
};

/* One REGISTER on its way: the browser's server transaction and ours to the
 * PBX. Freed when both have ended and no DNS answer is awaited. */
struct pt_fwd {
	struct sw_passthrough *pt;
	struct pt_fwd *prev, *next;
	struct sip_txn *server, *client;
	struct sw_flow *from, *to;
	struct sw_resolve *resolving;
	char *req; /* the request to send, until it is sent */
	size_t req_len;
};

struct sw_passthrough {
	const struct sipwire_config *cfg;
	struct sw_trunk *trunk;
	struct sip_txn_layer *txn;
	enum sw_tp tp;
	GHashTable *bindings; /* token -> struct pt_binding */
	struct pt_fwd *fwds;
	struct sockaddr_storage target;
	uint64_t target_until; /* 0: not resolved */
	uint8_t secret[16];
	struct sip_buf out;
	struct sip_msg *scratch;
};

static void binding_free(gpointer p)
{
	struct pt_binding *b = p;
	sw_flow_unref(b->flow);
	free(b->contact);
	free(b);
}

int sw_passthrough_new(struct sw_passthrough **out, const struct sipwire_config *cfg,
                       struct sw_trunk *trunk, struct sip_txn_layer *txn)
{
	struct sw_passthrough *pt = calloc(1, sizeof *pt);
	if (!pt)
		return -ENOMEM;
	pt->cfg = cfg;
	pt->trunk = trunk;
	pt->txn = txn;
	pt->tp = cfg->pbx.transport == SIPWIRE_TRANSPORT_TCP   ? SW_TP_TCP
	         : cfg->pbx.transport == SIPWIRE_TRANSPORT_TLS ? SW_TP_TLS
	                                                        : SW_TP_UDP;
	pt->bindings = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, binding_free);
	for (size_t i = 0; i < sizeof pt->secret; i += 4) {
		guint32 r = g_random_int();
		memcpy(pt->secret + i, &r, 4);
	}
	sip_buf_init(&pt->out, cfg->sip.limits.max_msg_size + 1024);
	pt->scratch = sip_msg_new(&cfg->sip.limits);
	if (!pt->scratch) {
		sw_passthrough_free(pt);
		return -ENOMEM;
	}
	*out = pt;
	return 0;
}

static void fwd_maybe_free(struct pt_fwd *w);

void sw_passthrough_free(struct sw_passthrough *pt)
{
	if (!pt)
		return;
	/* The transaction layer is freed without callbacks, so forwards are
	 * simply dropped. */
	while (pt->fwds) {
		struct pt_fwd *w = pt->fwds;
		pt->fwds = w->next;
		if (w->resolving)
			sw_resolve_cancel(w->resolving);
		sw_flow_unref(w->from);
		sw_flow_unref(w->to);
		free(w->req);
		free(w);
	}
	g_hash_table_destroy(pt->bindings);
	sip_buf_free(&pt->out);
	sip_msg_free(pt->scratch);
	free(pt);
}

/* ---- tokens and bindings ---- */

static void make_token(struct sw_passthrough *pt, sip_pl aor, sip_pl contact, char *out,
                       size_t size)
{
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
	g_checksum_update(ck, pt->secret, sizeof pt->secret);
	g_checksum_update(ck, (const guchar *)aor.p, (gssize)aor.l);
	g_checksum_update(ck, (const guchar *)"\n", 1);
	g_checksum_update(ck, (const guchar *)contact.p, (gssize)contact.l);
	snprintf(out, size, "sw%.16s", g_checksum_get_string(ck));
	g_checksum_free(ck);
}

static struct pt_binding *binding_for(struct sw_passthrough *pt, const char *token,
                                      sip_pl contact, struct sw_flow *flow)
{
	struct pt_binding *b = g_hash_table_lookup(pt->bindings, token);
	if (!b) {
		b = calloc(1, sizeof *b);
		if (!b)
			return NULL;
		snprintf(b->token, sizeof b->token, "%s", token);
		b->contact = g_strndup(contact.p, contact.l);
		g_hash_table_insert(pt->bindings, b->token, b);
	}
	if (b->flow != flow) {
		/* A browser that reconnected: its binding moves along. */
		sw_flow_unref(b->flow);
		b->flow = sw_flow_ref(flow);
	}
	return b;
}

struct sw_flow *sw_passthrough_lookup(struct sw_passthrough *pt, sip_pl token, uint64_t now_ms,
                                      const char **contact)
{
	char key[24];
	if (token.l >= sizeof key)
		return NULL;
	memcpy(key, token.p, token.l);
	key[token.l] = 0;
	struct pt_binding *b = g_hash_table_lookup(pt->bindings, key);
	if (!b || !b->expires_ms || b->expires_ms <= now_ms || b->flow->closed)
		return NULL;
	if (contact)
		*contact = b->contact;
	return b->flow;
}

size_t sw_passthrough_binding_count(const struct sw_passthrough *pt)
{
	return g_hash_table_size(pt->bindings);
}

/* ---- rewriting ---- */

/* The raw field line of h, from its name to the end of its value (folds
 * included, the CRLF not). */
static sip_pl field_line(const struct sip_hdr *h)
{
	return (sip_pl){h->name.p, (size_t)(h->value.p + h->value.l - h->name.p)};
}

/* The address sipwire gives the PBX for itself: the listener of the PBX's
 * transport. */
static void our_hostport(const struct sw_passthrough *pt, char *out, size_t size)
{
	unsigned port = pt->tp == SW_TP_TLS ? pt->cfg->listen.tls_port : pt->cfg->listen.sip_port;
	const char *host = pt->cfg->listen.bind;
	if (strchr(host, ':'))
		snprintf(out, size, "[%s]:%u", host, port);
	else
		snprintf(out, size, "%s:%u", host, port);
}

/* Contact parameters to keep toward the PBX: all but reg-id, which belongs
 * to the browser's flow to sipwire, not to sipwire's to the PBX. */
static void append_params_without_reg_id(struct sip_buf *b, sip_pl params)
{
	const char *p = params.p, *end = params.p + params.l;
	while (p < end) {
		const char *q = p + 1;
		bool quoted = false;
		while (q < end && (quoted || *q != ';')) {
			if (*q == '"')
				quoted = !quoted;
			q++;
		}
		sip_pl name = {p + 1, 0};
		while (name.p + name.l < q && name.p[name.l] != '=' && name.p[name.l] != ' ')
			name.l++;
		if (!sip_pl_caseeq(name, SIP_PL("reg-id")))
			sip_buf_append(b, p, (size_t)(q - p));
		p = q;
	}
}

/* The REGISTER as it goes to the PBX, in pt->out. Returns 0 or -errno. */
static int build_forward(struct sw_passthrough *pt, const struct sip_msg *req,
                         struct sw_flow *from)
{
	struct sip_buf *b = &pt->out;
	sip_buf_reset(b);
	sip_pl raw = sip_msg_raw(req);
	const char *eol = memchr(raw.p, '\r', raw.l);
	if (!eol)
		return -EINVAL;
	char hp[80];
	our_hostport(pt, hp, sizeof hp);
	sip_buf_append(b, raw.p, (size_t)(eol - raw.p));
	sip_buf_printf(b, "\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK%08x%08x;rport\r\n",
	               sw_tp_name(pt->tp), hp, g_random_int(), g_random_int());
	int mf = sip_msg_max_forwards(req);
	sip_buf_printf(b, "Max-Forwards: %d\r\n", mf < 0 ? 70 : mf - 1);
	sip_pl aor = sip_msg_to(req)->uri_text;
	for (unsigned i = 0; i < sip_msg_hdr_count(req); i++) {
		const struct sip_hdr *h = sip_msg_hdr_at(req, i);
		if (h->id == SIP_HDR_MAX_FORWARDS || h->id == SIP_HDR_CONTACT)
			continue;
		sip_buf_append_pl(b, field_line(h));
		sip_buf_append(b, "\r\n", 2);
	}
	struct sip_value_iter it = {0};
	sip_pl v;
	while (sip_msg_value_next(req, SIP_HDR_CONTACT, &it, &v)) {
		struct sip_contact c;
		if (sip_contact_parse(v, &c) < 0)
			return -EINVAL;
		if (c.star) {
			sip_buf_append(b, "Contact: *\r\n", 12);
			continue;
		}
		char token[24];
		make_token(pt, aor, c.addr.uri_text, token, sizeof token);
		if (!binding_for(pt, token, c.addr.uri_text, from))
			return -ENOMEM;
		sip_buf_printf(b, "Contact: <sip:%s@%s", token, hp);
		if (pt->tp != SW_TP_UDP)
			sip_buf_printf(b, ";transport=%s", sw_tp_param(pt->tp));
		sip_buf_append(b, ">", 1);
		if (c.addr.params.p)
			append_params_without_reg_id(b, c.addr.params);
		sip_buf_append(b, "\r\n", 2);
	}
	sip_buf_append(b, "\r\n", 2);
	sip_buf_append_pl(b, sip_msg_body(req));
	return b->error;
}

/* The PBX's response as it goes to the browser, in pt->out: without the top
 * Via (ours), and with each Contact sipwire made turned back into the
 * browser's own, with the expiry the PBX granted. */
static int build_backward(struct sw_passthrough *pt, const struct sip_msg *resp, uint64_t now)
{
	struct sip_buf *b = &pt->out;
	sip_buf_reset(b);
	sip_pl raw = sip_msg_raw(resp);
	const char *eol = memchr(raw.p, '\r', raw.l);
	if (!eol)
		return -EINVAL;
	sip_buf_append(b, raw.p, (size_t)(eol - raw.p + 2));
	bool top_via_done = false;
	int status = sip_msg_status(resp);
	long hdr_expires = -1;
	const struct sip_hdr *eh = sip_msg_hdr(resp, SIP_HDR_EXPIRES);
	if (eh) {
		char tmp[16];
		if (eh->value.l < sizeof tmp) {
			memcpy(tmp, eh->value.p, eh->value.l);
			tmp[eh->value.l] = 0;
			hdr_expires = strtol(tmp, NULL, 10);
		}
	}
	for (unsigned i = 0; i < sip_msg_hdr_count(resp); i++) {
		const struct sip_hdr *h = sip_msg_hdr_at(resp, i);
		if (h->id == SIP_HDR_VIA && !top_via_done) {
			top_via_done = true;
			/* Several Via values in one field: drop only the first. */
			struct sip_value_iter it = {.h = NULL};
			sip_pl first;
			if (sip_msg_value_next(resp, SIP_HDR_VIA, &it, &first) && it.h == h &&
			    it.pos < h->value.l) {
				sip_pl rest = {h->value.p + it.pos, h->value.l - it.pos};
				while (rest.l && (*rest.p == ',' || *rest.p == ' ' || *rest.p == '\t'))
					rest.p++, rest.l--;
				if (rest.l) {
					sip_buf_append_pl(b, h->name);
					sip_buf_append(b, ": ", 2);
					sip_buf_append_pl(b, rest);
					sip_buf_append(b, "\r\n", 2);
				}
			}
			continue;
		}
		if (h->id == SIP_HDR_CONTACT && status >= 200 && status < 300)
			continue; /* rewritten below */
		sip_buf_append_pl(b, field_line(h));
		sip_buf_append(b, "\r\n", 2);
	}
	if (status >= 200 && status < 300) {
		struct sip_value_iter it = {0};
		sip_pl v;
		while (sip_msg_value_next(resp, SIP_HDR_CONTACT, &it, &v)) {
			struct sip_contact c;
			if (sip_contact_parse(v, &c) < 0 || c.star)
				continue;
			char key[24];
			struct pt_binding *bd = NULL;
			if (c.addr.uri.user.l && c.addr.uri.user.l < sizeof key) {
				memcpy(key, c.addr.uri.user.p, c.addr.uri.user.l);
				key[c.addr.uri.user.l] = 0;
				bd = g_hash_table_lookup(pt->bindings, key);
			}
			if (!bd) {
				/* Another device of the same user at the PBX. */
				sip_buf_printf(b, "Contact: %.*s\r\n", (int)v.l, v.p);
				continue;
			}
			long exp = c.has_expires ? (long)c.expires : hdr_expires;
			if (exp < 0)
				exp = 3600; /* RFC 3261 §10.2.1.1 default */
			bd->expires_ms = exp ? now + (uint64_t)exp * 1000 : 0;
			sip_buf_printf(b, "Contact: <%s>;expires=%ld\r\n", bd->contact, exp);
		}
	}
	sip_buf_append(b, "\r\n", 2);
	sip_buf_append_pl(b, sip_msg_body(resp));
	return b->error;
}

/* ---- the two transactions ---- */

static void fwd_unlink(struct pt_fwd *w)
{
	struct sw_passthrough *pt = w->pt;
	if (w->prev)
		w->prev->next = w->next;
	else
		pt->fwds = w->next;
	if (w->next)
		w->next->prev = w->prev;
}

static void fwd_maybe_free(struct pt_fwd *w)
{
	if (w->server || w->client || w->resolving)
		return;
	fwd_unlink(w);
	sw_flow_unref(w->from);
	sw_flow_unref(w->to);
	free(w->req);
	free(w);
}

static void answer_browser(struct pt_fwd *w, int status, const char *reason)
{
	const struct sip_msg *req = w->server ? sip_txn_request(w->server) : NULL;
	if (!req)
		return;
	struct sip_buf *b = &w->pt->out;
	sip_buf_reset(b);
	char tag[20];
	int n = snprintf(tag, sizeof tag, "%08x", g_random_int());
	sip_build_response(b, req, status, reason, (sip_pl){tag, (size_t)n});
	sip_build_body(b, NULL, (sip_pl){0});
	if (!b->error)
		sip_txn_server_respond(w->server, b->p, b->len, (uint64_t)g_get_monotonic_time() / 1000);
}

static void server_ended(void *user, struct sip_txn *txn)
{
	struct pt_fwd *w = user;
	w->server = NULL;
	fwd_maybe_free(w);
}

static const struct sip_txn_user server_user = {.on_terminated = server_ended};

static void client_response(void *user, struct sip_txn *txn, const struct sip_msg *msg)
{
	struct pt_fwd *w = user;
	int status = sip_msg_status(msg);
	if (status == 100 || !w->server)
		return;
	uint64_t now = (uint64_t)g_get_monotonic_time() / 1000;
	if (build_backward(w->pt, msg, now) < 0) {
		LOG_WARN("passthrough", "cannot relay the PBX's %d", status);
		answer_browser(w, 502, "Bad Response From The PBX");
		return;
	}
	int rc = sip_txn_server_respond(w->server, w->pt->out.p, w->pt->out.len, now);
	if (rc < 0)
		LOG_DEBUG("passthrough", "%s: the PBX's %d not relayed: %s", w->from->peer_str,
		          status, strerror(-rc));
}

static void client_timeout(void *user, struct sip_txn *txn)
{
	struct pt_fwd *w = user;
	LOG_WARN("passthrough", "the PBX did not answer a REGISTER from %s", w->from->peer_str);
	answer_browser(w, 408, "PBX Timeout");
}

static void client_transport_error(void *user, struct sip_txn *txn)
{
	struct pt_fwd *w = user;
	LOG_WARN("passthrough", "cannot reach the PBX for a REGISTER from %s", w->from->peer_str);
	answer_browser(w, 503, "PBX Unreachable");
}

static void client_ended(void *user, struct sip_txn *txn)
{
	struct pt_fwd *w = user;
	w->client = NULL;
	fwd_maybe_free(w);
}

static const struct sip_txn_user client_user = {
	.on_response = client_response,
	.on_timeout = client_timeout,
	.on_transport_error = client_transport_error,
	.on_terminated = client_ended,
};

static void fwd_send(struct pt_fwd *w)
{
	struct sw_passthrough *pt = w->pt;
	w->to = sw_trunk_flow_to(pt->trunk, pt->tp, (const struct sockaddr *)&pt->target,
	                         pt->cfg->pbx.host);
	if (!w->to) {
		answer_browser(w, 503, "PBX Unreachable");
		return;
	}
	struct sip_txn_dest dest = {w->to, sw_tp_reliable(pt->tp)};
	int rc = sip_txn_client_new(pt->txn, w->req, w->req_len, &dest,
	                            (uint64_t)g_get_monotonic_time() / 1000, &client_user, w,
	                            &w->client);
	free(w->req);
	w->req = NULL;
	if (rc < 0) {
		w->client = NULL;
		LOG_WARN("passthrough", "cannot send a REGISTER to the PBX: %s", strerror(-rc));
		answer_browser(w, 503, "PBX Unreachable");
	}
}

static void on_resolved(void *arg, int err, const struct sockaddr_storage *targets, size_t n)
{
	struct pt_fwd *w = arg;
	struct sw_passthrough *pt = w->pt;
	w->resolving = NULL;
	if (err < 0 || n == 0) {
		LOG_WARN("passthrough", "cannot resolve the PBX %s: %s", pt->cfg->pbx.host,
		         strerror(err < 0 ? -err : ENOENT));
		answer_browser(w, 503, "PBX Not Found");
	} else {
		pt->target = targets[0];
		pt->target_until = (uint64_t)g_get_monotonic_time() / 1000 + TARGET_TTL_MS;
		fwd_send(w);
	}
	fwd_maybe_free(w);
}

void sw_passthrough_register(struct sw_passthrough *pt, struct sip_txn *stx,
                             const struct sip_msg *req, struct sw_flow *from, uint64_t now_ms)
{
	struct pt_fwd *w = calloc(1, sizeof *w);
	if (!w) {
		struct pt_fwd tmp = {.pt = pt, .server = stx};
		answer_browser(&tmp, 500, NULL);
		return;
	}
	w->pt = pt;
	w->server = stx;
	w->from = sw_flow_ref(from);
	sip_txn_set_user(stx, &server_user, w);
	w->next = pt->fwds;
	if (pt->fwds)
		pt->fwds->prev = w;
	pt->fwds = w;

	if (sip_msg_max_forwards(req) == 0) {
		answer_browser(w, 483, NULL);
		return;
	}
	if (build_forward(pt, req, from) < 0) {
		answer_browser(w, 400, "Bad Contact");
		return;
	}
	w->req = malloc(pt->out.len);
	if (!w->req) {
		answer_browser(w, 500, NULL);
		return;
	}
	memcpy(w->req, pt->out.p, pt->out.len);
	w->req_len = pt->out.len;
	if (pt->target_until > now_ms) {
		fwd_send(w);
		return;
	}
	w->resolving = sw_trunk_resolve(pt->trunk, pt->cfg->pbx.host, pt->cfg->pbx.port, pt->tp,
	                                on_resolved, w);
	if (!w->resolving)
		answer_browser(w, 503, "PBX Not Found");
}

void sw_passthrough_flow_closed(struct sw_passthrough *pt, struct sw_flow *f, uint64_t now_ms)
{
	GHashTableIter it;
	gpointer key, value;
	size_t removed = 0;
	g_hash_table_iter_init(&it, pt->bindings);
	while (g_hash_table_iter_next(&it, &key, &value)) {
		struct pt_binding *b = value;
		if (b->flow == f) {
			g_hash_table_iter_remove(&it);
			removed++;
		}
	}
	if (removed)
		LOG_INFO("passthrough", "%s %s closed: %zu binding%s ended", sw_tp_name(f->tp),
		         f->peer_str, removed, removed == 1 ? "" : "s");
	/* Transactions to the PBX over a connection that died fail now, not
	 * after Timer F. */
	for (struct pt_fwd *w = pt->fwds, *next; w; w = next) {
		next = w->next;
		if (w->to == f && w->client && sip_txn_last_status(w->client) < 200)
			sip_txn_transport_error(w->client, now_ms);
	}
}
