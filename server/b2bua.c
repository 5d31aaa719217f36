/* b2bua.c — see b2bua.h. */
#include "server/b2bua.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/dialplan.h"
#include "server/log.h"
#include "server/media.h"
#include "server/metrics.h"
#include "server/passthrough.h"
#include "server/trunk.h"
#include "sip/sip_build.h"
#include "sip/sip_registerer.h"
#include "sip/sip_uri.h"

#define MAX_FORKS 16      /* bindings rung at once for one user */
#define MAX_TRUNK_ADDRS 8 /* addresses kept per trunk */
#define TRUNK_ADDR_TTL_US (60 * G_USEC_PER_SEC)

#define CALL_LOG(level, c, fmt, ...) SW_LOG(level, "call", "%s: " fmt, (c)->id, ##__VA_ARGS__)

/* ---- trunks as the B2BUA sees them ---- */

struct trunk_state {
	const struct sipwire_trunk *cfg;
	char host[256]; /* the URI's host, without brackets */
	unsigned port;  /* 0: SRV / default */
	enum sw_tp tp;
	bool sips;
	/* Where requests go: the URI's host, or the outbound proxy's. */
	char hop_host[256];
	unsigned hop_port;
	enum sw_tp hop_tp;
	char route[300]; /* "<proxy-uri;lr>" with an outbound proxy, else "" */
	struct sockaddr_storage addrs[MAX_TRUNK_ADDRS];
	size_t n_addrs;
	gint64 resolved_at; /* monotonic µs; 0: never */
	struct sw_resolve *refresh; /* the resolution for the source check */
	struct sw_b2bua *b;
	struct sip_registerer *registerer; /* when the trunk registers */
	struct sw_flow *reg_flow;          /* the registerer's flow (a reference) */
};

/* ---- calls ---- */

struct call;

struct leg {
	struct call *call;
	struct sip_session *s; /* our reference */
	struct sw_media *media;
	bool is_a;
	struct leg *peer; /* the leg this one is bridged to, once answered */
	struct leg *transfer_to;   /* gateway REFER: the leg calling the target */
	struct leg *transferor;    /* on that leg: who asked for the transfer */
	struct leg *transferee;    /* and who it is to be connected to */
	bool failed; /* a B leg that got its final non-2xx */
	int status;  /* that status (0: timeout) */
	char user[128]; /* the user this leg counts against, "" for none */
	/* A hash of the peer's last description: a re-INVITE or UPDATE that
	 * repeats it byte for byte is a session refresh (RFC 4028), answered on
	 * this leg alone. Not the o= version alone: PBXs are seen to change the
	 * direction of a description without raising it. 0: none yet. */
	uint64_t remote_sdp;
};

/* An incoming request relayed to the other leg, answered when that leg's
 * request has its outcome. */
struct relay {
	struct relay *next;
	struct leg *from; /* the leg the request came in on */
	struct sip_incoming_request *rq; /* NULL once answered or gone */
	enum sip_method method;
	/* A request that came while the other leg waited for its ACK: handled
	 * again by this delegate callback once that leg is Established. */
	void (*deferred)(void *data, struct sip_session *s, struct sip_incoming_request *rq);
};

struct call {
	struct sw_b2bua *b;
	struct call *prev, *next;
	char id[16];
	struct leg a;
	struct leg *bl[MAX_FORKS];
	size_t n_b;
	struct leg *winner;
	struct relay *relays;

	/* routing */
	struct sw_route_result route;
	char route_user[128];
	size_t trunk;       /* TRUNK: the trunk being tried */
	size_t trunk_addr;  /* and its address */
	struct sw_resolve *resolving;
	int max_forwards;
	char caller_user[128]; /* registered caller, "" for a trunk caller */
	int caller_trunk;     /* the trunk a call came from, -1 */

	GSource *no_answer;
	GSource *reap; /* the idle source that frees the call */
	gint64 start_us, answer_us, end_us; /* wall clock */
	const char *end_reason;
	const char *hangup; /* "caller", "callee", "gateway" */
	int final_status;
	bool a_answered_180; /* a 180 without SDP went to leg A already */
	bool passthrough;    /* a browser's call to the PBX of pass-through mode */
	bool finishing;      /* the detail line is written and the call freed */
};

struct sw_b2bua {
	struct sw_b2bua_env env;
	const struct sipwire_config *cfg;
	struct sw_dialplan *plan;
	/* Plans replaced by a reload: calls routed by them keep pointers into
	 * them (rule and trunk names) until the end. */
	GSList *old_plans;
	struct sw_media_ctx *media;
	struct sw_trunk *trunk;
	struct trunk_state *trunks;
	size_t n_trunks;
	struct call *calls;
	size_t n_calls;
	struct sw_passthrough *passthrough;
	struct sipwire_trunk pbx; /* pass-through mode: the pbx block as a trunk */
	char pbx_uri[300];
	GHashTable *per_user; /* user -> count (GUINT_TO_POINTER) */
	uint64_t next_id;
	struct sw_b2bua_stats stats;
	struct sw_call_metrics metrics;
	unsigned drain_retry_after; /* non-zero: draining, new calls get 503 */
};

static void call_check_done(struct call *c);
static void leg_end(struct leg *l);
static void leg_state(void *arg, struct sip_session *s, enum sip_session_state st);
static void try_trunk(struct call *c);
static void transfer_in_gateway(struct leg *x, struct sip_incoming_request *rq,
                                const char *target);
static bool plan_registered(void *arg, sip_pl user, sip_pl host);

/* ---- small helpers ---- */

static sip_pl pl_of(const char *s) { return sip_pl_from_cstr(s); }

static const char *side(const struct leg *l) { return l->is_a ? "caller" : "callee"; }

static bool on_ws(const struct sw_flow *f) { return f->tp == SW_TP_WS || f->tp == SW_TP_WSS; }

static bool session_live(const struct leg *l)
{
	return l && l->s && sip_session_state(l->s) != SIP_SESSION_TERMINATED;
}

static void set_end(struct call *c, const char *hangup, const char *reason)
{
	if (c->end_reason)
		return;
	c->hangup = hangup;
	c->end_reason = reason;
}

static void user_count(struct sw_b2bua *b, const char *user, int delta)
{
	if (!*user)
		return;
	guint n = GPOINTER_TO_UINT(g_hash_table_lookup(b->per_user, user));
	n = (guint)((int)n + delta);
	if (n)
		g_hash_table_replace(b->per_user, g_strdup(user), GUINT_TO_POINTER(n));
	else
		g_hash_table_remove(b->per_user, user);
}

static bool user_at_limit(const struct sw_b2bua *b, const char *user)
{
	return *user && GPOINTER_TO_UINT(g_hash_table_lookup(b->per_user, user)) >=
	                    b->cfg->calls.max_per_user;
}

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		               &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
	return false;
}

/* The UDP address a binding's Contact names (a numeric host; a name would
 * need DNS, and SIP phones register their address). 0 or -EINVAL. */
static int contact_udp_addr(sip_pl contact, struct sockaddr_storage *out)
{
	struct sip_uri u;
	char host[64];
	if (sip_uri_parse(contact, &u) < 0 || !u.host.l || u.host.l >= sizeof host ||
	    (u.transport.l && !sip_pl_caseeq_cstr(u.transport, "udp")))
		return -EINVAL;
	if (sip_pl_strcpy(u.host, host, sizeof host) < 0 || sw_sockaddr_parse(host, out) < 0)
		return -EINVAL;
	unsigned port = u.port ? u.port : 5060;
	if (out->ss_family == AF_INET)
		((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
	return 0;
}

/* The fields of m with these ids as header lines ("Name: value\r\n") in buf.
 * Returns their length; 0 when there are none or they do not fit (a
 * challenge or credentials cut short would only fail later). */
static size_t copy_fields(const struct sip_msg *m, const enum sip_hdr_id *ids, size_t n_ids,
                          char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t k = 0; k < n_ids; k++)
		for (const struct sip_hdr *h = sip_msg_hdr(m, ids[k]); h; h = sip_msg_hdr_next(m, h)) {
			int w = snprintf(buf + n, size - n, "%s: %.*s\r\n", sip_hdr_name(ids[k]),
			                 (int)h->value.l, h->value.p);
			if (w < 0 || (size_t)w >= size - n) {
				buf[0] = '\0';
				return 0;
			}
			n += (size_t)w;
		}
	return n;
}

/* "Display" <uri> of a From/To value, without its parameters (the tag). */
static void addr_without_params(const struct sip_addr *a, char *out, size_t size)
{
	const char *q = a->display_quoted ? "\"" : "";
	if (a->display.l)
		snprintf(out, size, "%s%.*s%s <%.*s>", q, (int)a->display.l, a->display.p, q,
		         (int)a->uri_text.l, a->uri_text.p);
	else
		snprintf(out, size, "<%.*s>", (int)a->uri_text.l, a->uri_text.p);
}

/* ---- the end of a call ---- */

static void json_str(GString *out, const char *key, sip_pl v)
{
	g_string_append_printf(out, ",\"%s\":\"", key);
	for (size_t i = 0; i < v.l; i++) {
		unsigned char ch = (unsigned char)v.p[i];
		if (ch == '"' || ch == '\\')
			g_string_append_printf(out, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			g_string_append_printf(out, "\\u%04x", ch);
		else
			g_string_append_c(out, (char)ch);
	}
	g_string_append_c(out, '"');
}

static void json_time(GString *out, const char *key, gint64 us)
{
	if (!us) {
		g_string_append_printf(out, ",\"%s\":null", key);
		return;
	}
	GDateTime *t = g_date_time_new_from_unix_utc(us / G_USEC_PER_SEC);
	gchar *s = t ? g_date_time_format(t, "%Y-%m-%dT%H:%M:%S") : NULL;
	g_string_append_printf(out, ",\"%s\":\"%s.%03dZ\"", key, s ? s : "?",
	                       (int)(us % G_USEC_PER_SEC / 1000));
	g_free(s);
	if (t)
		g_date_time_unref(t);
}

static void json_ms(GString *out, const char *key, int64_t ms)
{
	if (ms < 0)
		g_string_append_printf(out, ",\"%s\":null", key);
	else
		g_string_append_printf(out, ",\"%s\":%" G_GINT64_FORMAT, key, (gint64)ms);
}

/* One leg's media in the detail line: what it carried, for a WebRTC leg how
 * its ICE, DTLS and SRTP went, and for an SDES-SRTP leg its SRTP. */
static void json_leg_media(GString *out, const char *key, struct sw_media *m,
                           struct sw_call_metrics *metrics)
{
	struct sw_media_stats st;
	sw_media_stats(m, &st);
	sw_call_metrics_leg(metrics, &st);
	bool webrtc = st.kind == SW_MEDIA_WEBRTC;
	g_string_append_printf(out, ",\"%s\":{\"kind\":\"%s\"", key,
	                       webrtc ? "webrtc" : st.kind == SW_MEDIA_SDES ? "sdes" : "rtp");
	g_string_append_printf(out,
	                       ",\"rx_packets\":%" G_GUINT64_FORMAT ",\"rx_bytes\":%" G_GUINT64_FORMAT
	                       ",\"tx_packets\":%" G_GUINT64_FORMAT ",\"tx_bytes\":%" G_GUINT64_FORMAT
	                       ",\"dropped\":%" G_GUINT64_FORMAT,
	                       (guint64)st.rx_packets, (guint64)st.rx_bytes, (guint64)st.tx_packets,
	                       (guint64)st.tx_bytes, (guint64)st.dropped);
	if (webrtc) {
		g_string_append(out, ",\"ice\":{\"state\":\"");
		g_string_append(out, st.ice_state);
		g_string_append_c(out, '"');
		json_ms(out, "connected_ms", st.ice_connected_ms);
		json_str(out, "local", pl_of(st.ice_local));
		json_str(out, "remote", pl_of(st.ice_remote));
		g_string_append(out, "},\"dtls\":{\"state\":\"");
		g_string_append(out, st.dtls_state);
		g_string_append_c(out, '"');
		json_ms(out, "connected_ms", st.dtls_connected_ms);
		json_str(out, "profile", pl_of(st.srtp_profile));
		g_string_append_printf(out,
		                       "},\"srtp\":{\"auth_failures\":%" G_GUINT64_FORMAT
		                       ",\"replays\":%" G_GUINT64_FORMAT "},\"not_media\":%" G_GUINT64_FORMAT,
		                       (guint64)st.srtp_auth_failures, (guint64)st.srtp_replays,
		                       (guint64)st.not_media);
	} else if (st.kind == SW_MEDIA_SDES) {
		/* the profile is one of media.c's names: nothing to escape */
		g_string_append_printf(out,
		                       ",\"srtp\":{\"profile\":\"%s\",\"auth_failures\":%" G_GUINT64_FORMAT ",\"replays\":%" G_GUINT64_FORMAT
		                       "},\"not_media\":%" G_GUINT64_FORMAT,
		                       st.srtp_profile, (guint64)st.srtp_auth_failures,
		                       (guint64)st.srtp_replays, (guint64)st.not_media);
	}
	g_string_append_c(out, '}');
}

static void write_cdr(struct call *c)
{
	GString *j = g_string_new(NULL);
	g_string_append_printf(j, "{\"call\":\"%s\"", c->id);
	const struct sip_msg *req = sip_session_request(c->a.s);
	json_str(j, "a_call_id", sip_session_call_id(c->a.s));
	struct leg *bl = c->winner ? c->winner : (c->n_b ? c->bl[c->n_b - 1] : NULL);
	json_str(j, "b_call_id", bl ? sip_session_call_id(bl->s) : SIP_PL(""));
	json_str(j, "from", req && sip_msg_from(req) ? sip_msg_from(req)->uri_text : SIP_PL(""));
	json_str(j, "to", req ? sip_msg_ruri(req) : SIP_PL(""));
	/* Who the gateway took the call from: a registered user or a trunk. */
	json_str(j, "caller", pl_of(c->caller_user[0] ? c->caller_user
	                          : c->caller_trunk >= 0 ? c->b->trunks[c->caller_trunk].cfg->name
	                                                 : ""));
	json_str(j, "route", pl_of(c->route.rule_name ? c->route.rule_name : ""));
	json_str(j, "target", pl_of(sw_route_kind_name(c->route.kind)));
	json_time(j, "start", c->start_us);
	json_time(j, "answer", c->answer_us);
	json_time(j, "end", c->end_us);
	json_str(j, "end_reason", pl_of(c->end_reason ? c->end_reason : "unknown"));
	sw_call_metrics_ended(&c->b->metrics, c->end_reason ? c->end_reason : "unknown");
	json_str(j, "hangup", pl_of(c->hangup ? c->hangup : "gateway"));
	g_string_append_printf(j, ",\"status\":%d", c->final_status);
	/* The caller's leg and the leg that answered it: the media of the call. */
	g_string_append(j, ",\"media\":{");
	size_t at = j->len;
	if (c->a.media)
		json_leg_media(j, "caller", c->a.media, &c->b->metrics);
	if (c->winner && c->winner->media)
		json_leg_media(j, "callee", c->winner->media, &c->b->metrics);
	if (j->len > at)
		g_string_erase(j, (gssize)at, 1); /* the first member's comma */
	g_string_append(j, "}}");
	LOG_INFO("cdr", "%s", j->str);
	g_string_free(j, TRUE);
}

static void leg_release(struct leg *l)
{
	if (l->s) {
		sip_session_set_delegate(l->s, NULL, NULL);
		sip_session_remove_state_listener(l->s, leg_state, l);
		/* A session still ending (a BYE out when the gateway stops) must
		 * not reach the media freed below. */
		if (session_live(l))
			sip_session_set_sdh(l->s, (struct sip_sdh){0});
		l->s = sip_session_unref(l->s);
	}
	/* The SDH's close (at Terminated) stopped the media; this frees it. */
	sw_media_free(l->media);
	l->media = NULL;
	user_count(l->call->b, l->user, -1);
	l->user[0] = '\0';
}

static void call_free(struct call *c)
{
	struct sw_b2bua *b = c->b;
	if (c->resolving)
		sw_resolve_cancel(c->resolving);
	if (c->no_answer) {
		g_source_destroy(c->no_answer);
		g_source_unref(c->no_answer);
	}
	if (c->reap) {
		g_source_destroy(c->reap);
		g_source_unref(c->reap);
	}
	for (struct relay *r = c->relays, *n; r; r = n) {
		n = r->next;
		free(r);
	}
	for (size_t i = 0; i < c->n_b; i++) {
		leg_release(c->bl[i]);
		free(c->bl[i]);
	}
	leg_release(&c->a);
	if (c->prev)
		c->prev->next = c->next;
	else
		b->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	b->n_calls--;
	free(c);
}

/* Free the call once every leg is Terminated (the UA calls nothing after
 * that) — from the loop, never from inside a UA callback. */
static gboolean call_reap(gpointer data)
{
	struct call *c = data;
	g_source_unref(c->reap);
	c->reap = NULL;
	c->end_us = g_get_real_time();
	write_cdr(c);
	call_free(c);
	return G_SOURCE_REMOVE;
}

static void call_check_done(struct call *c)
{
	if (c->finishing || session_live(&c->a) || c->resolving)
		return;
	for (size_t i = 0; i < c->n_b; i++)
		if (session_live(c->bl[i]))
			return;
	c->finishing = true;
	c->reap = g_idle_source_new();
	/* Not at idle priority: a busy loop is never idle, and a call that
	 * waits to be reaped still counts against calls.max_calls. */
	g_source_set_priority(c->reap, G_PRIORITY_HIGH);
	g_source_set_callback(c->reap, call_reap, c, NULL);
	g_source_attach(c->reap, c->b->env.ctx);
}

/* End a leg the way its state allows (reject, cancel, BYE). */
static void leg_end(struct leg *l)
{
	if (session_live(l))
		sip_session_dispose(l->s);
}

static void end_all_b(struct call *c, struct leg *except)
{
	for (size_t i = 0; i < c->n_b; i++)
		if (c->bl[i] != except)
			leg_end(c->bl[i]);
}

static void reject_a(struct call *c, int status, const char *reason)
{
	if (!c->final_status)
		c->final_status = status;
	if (session_live(&c->a) && sip_session_state(c->a.s) < SIP_SESSION_ESTABLISHED)
		sip_invitation_reject(c->a.s, &(struct sip_reject_opts){.status = status,
		                                                       .reason = reason});
	c->b->stats.rejected++;
}

/* ---- relays of in-dialog requests ---- */

static struct relay *relay_new(struct call *c, struct leg *from,
                               struct sip_incoming_request *rq)
{
	struct relay *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->from = from;
	r->rq = rq;
	r->method = sip_incoming_method(rq);
	r->next = c->relays;
	c->relays = r;
	return r;
}

/* The other leg has sent its 2xx and waits for the ACK (the caller's leg
 * right after the callee answered): a request for it waits too, and is
 * handled again when that leg is Established (leg_state). Returns true when
 * rq was deferred (or answered for want of memory). */
static bool defer_until_established(struct leg *l, struct sip_incoming_request *rq,
                                    void (*handler)(void *, struct sip_session *,
                                                    struct sip_incoming_request *))
{
	struct leg *p = l->peer;
	if (!session_live(p) || sip_session_state(p->s) != SIP_SESSION_ESTABLISHING ||
	    sip_session_is_inviter(p->s) || !p->peer)
		return false; /* not answered yet: nothing to wait for */
	struct relay *r = relay_new(l->call, l, rq);
	if (!r) {
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 500});
		return true;
	}
	r->deferred = handler;
	return true;
}

/* FNV-1a of a description; 0 for none. */
static uint64_t sdp_hash(sip_pl body)
{
	if (!body.l)
		return 0;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < body.l; i++)
		h = (h ^ (unsigned char)body.p[i]) * 0x100000001b3ull;
	return h ? h : 1;
}

/* The relayed request's outcome on the other leg answers the original. */
static void relay_accept(void *data, struct sip_session *s, const struct sip_msg *resp)
{
	struct relay *r = data;
	if (r->method == SIP_METHOD_INVITE || r->method == SIP_METHOD_UPDATE) {
		/* The answer to our re-INVITE is that leg's new description. */
		struct leg *p = r->from->peer;
		if (p && p->s == s && sip_msg_body(resp).l) {
			p->remote_sdp = sdp_hash(sip_msg_body(resp));
			/* As for the first answer: only what that peer accepted,
			 * or a browser resuming a call to a PCMU-only PBX sends
			 * opus it cannot take, and hears nothing either. */
			if (r->rq && session_live(r->from))
				sw_media_answer_like(r->from->media, p->media);
		}
	}
	if (!r->rq || !session_live(r->from))
		return;
	/* The status only: the peer's body (an INFO answer) is its own. */
	sip_incoming_accept(r->rq, &(struct sip_accept_opts){.status = sip_msg_status(resp)});
	r->rq = NULL;
}

static void relay_reject(void *data, struct sip_session *s, int status, const struct sip_msg *resp)
{
	struct relay *r = data;
	if (!r->rq || !session_live(r->from))
		return;
	/* A made-up 408 (timeout) or a 481 (the other dialog is gone) says
	 * nothing about this dialog: 500 keeps this leg alive. */
	if (status == 481 || status == 408)
		status = 500;
	sip_incoming_reject(r->rq, &(struct sip_reject_opts){.status = status});
	r->rq = NULL;
}

static const struct sip_request_delegate relay_delegate = {
	.on_accept = relay_accept,
	.on_reject = relay_reject,
};

static void relay_body_request(struct leg *l, struct sip_incoming_request *rq,
                               int (*send)(struct sip_session *, const struct sip_request_opts *),
                               void (*handler)(void *, struct sip_session *,
                                               struct sip_incoming_request *))
{
	struct call *c = l->call;
	struct leg *p = l->peer;
	if (defer_until_established(l, rq, handler))
		return;
	if (!session_live(p) || sip_session_state(p->s) != SIP_SESSION_ESTABLISHED) {
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 488, .reason =
		                                                      "Not Bridged"});
		return;
	}
	struct relay *r = relay_new(c, l, rq);
	if (!r) {
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 500});
		return;
	}
	const struct sip_msg *m = sip_incoming_message(rq);
	const struct sip_hdr *ct = sip_msg_hdr(m, SIP_HDR_CONTENT_TYPE);
	char ctype[128] = "";
	if (ct && sip_pl_strcpy(ct->value, ctype, sizeof ctype) < 0) {
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 500});
		r->rq = NULL;
		return;
	}
	sip_pl body = sip_msg_body(m);
	struct sip_request_delegate d = relay_delegate;
	d.data = r;
	struct sip_request_opts o = {
	    .ctype = ct ? ctype : NULL,
	    .body = body.p,
	    .body_len = body.l,
	    .delegate = &d,
	};
	int rc = send(p->s, &o);
	if (rc < 0) {
		CALL_LOG(SIPWIRE_LOG_INFO, c, "relaying %s failed: %s",
		         sip_method_name(r->method), strerror(-rc));
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 500});
		r->rq = NULL;
	}
}

/* The tone and duration of an INFO DTMF body (application/dtmf-relay:
 * "Signal=5\r\nDuration=160\r\n", as SIP.js and JsSIP send it). */
static bool info_dtmf(const struct sip_msg *m, char *tone, unsigned *ms)
{
	const struct sip_hdr *ct = sip_msg_hdr(m, SIP_HDR_CONTENT_TYPE);
	sip_pl want = pl_of("application/dtmf-relay");
	if (!ct || ct->value.l < want.l || strncasecmp(ct->value.p, want.p, want.l) != 0)
		return false;
	char body[256];
	if (sip_pl_strcpy(sip_msg_body(m), body, sizeof body) < 0)
		return false;
	*tone = 0;
	*ms = 0;
	char *save = NULL;
	for (char *line = strtok_r(body, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		char *v = eq + 1;
		while (*v == ' ')
			v++;
		if (strncasecmp(line, "Signal", 6) == 0 && v[0] && (!v[1] || v[1] == ' '))
			*tone = v[0];
		else if (strncasecmp(line, "Duration", 8) == 0)
			*ms = (unsigned)strtoul(v, NULL, 10);
	}
	return *tone != 0;
}

static void on_info(void *data, struct sip_session *s, struct sip_incoming_request *rq)
{
	struct leg *l = data;
	if (l->call->route.kind == SW_ROUTE_ECHO) {
		/* The echo service takes DTMF and does nothing with it. */
		sip_incoming_accept(rq, NULL);
		return;
	}
	/* DTMF as INFO (how browsers send it) goes on to a PBX as RFC 4733
	 * events when that leg's media carries telephone-event (what PBXs
	 * listen for); otherwise the INFO itself is relayed. Toward a browser
	 * it stays INFO: a browser shows no DTMF it receives in its media. */
	char tone;
	unsigned ms;
	if (session_live(l->peer) && !on_ws(sip_session_dest(l->peer->s)->flow) &&
	    info_dtmf(sip_incoming_message(rq), &tone, &ms) &&
	    sw_media_send_dtmf(l->peer->media, tone, ms) == 0) {
		CALL_LOG(SIPWIRE_LOG_DEBUG, l->call, "INFO DTMF %c (%u ms) sent as RFC 4733 to the %s",
		         tone, ms, side(l->peer));
		sip_incoming_accept(rq, NULL);
		return;
	}
	relay_body_request(l, rq, sip_session_info, on_info);
}

static void on_message(void *data, struct sip_session *s, struct sip_incoming_request *rq)
{
	struct leg *l = data;
	if (l->call->route.kind == SW_ROUTE_ECHO) {
		sip_incoming_accept(rq, NULL);
		return;
	}
	relay_body_request(l, rq, sip_session_message, on_message);
}

/* A re-INVITE (or UPDATE with an offer): its offer is in this leg's SDH
 * already; the other leg gets its own re-INVITE (a hold offer when this one
 * holds), and this one is answered by its SDH once the other answered. */
static void on_reinvite(void *data, struct sip_session *s, struct sip_incoming_request *rq)
{
	struct leg *l = data;
	struct call *c = l->call;
	const struct sip_msg *m = sip_incoming_message(rq);
	struct leg *p = l->peer;
	uint64_t sdp = sdp_hash(sip_msg_body(m));
	bool refresh = sdp && sdp == l->remote_sdp;
	if (c->route.kind == SW_ROUTE_ECHO || !sip_msg_body(m).l || refresh || !session_live(p)) {
		sip_incoming_accept(rq, NULL); /* this leg's SDH answers alone */
		return;
	}
	l->remote_sdp = sdp;
	struct relay *r = relay_new(c, l, rq);
	if (!r) {
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 500});
		return;
	}
	bool hold = sw_media_sdp_holds(sip_msg_body(m).p, sip_msg_body(m).l);
	struct sip_request_delegate d = relay_delegate;
	d.data = r;
	struct sip_invite_opts o = {
	    .sdh_options = sw_media_options(hold),
	    .delegate = &d,
	};
	CALL_LOG(SIPWIRE_LOG_INFO, c, "%s leg %s: re-INVITE relayed", l->is_a ? "A" : "B",
	         hold ? "holds" : "resumes");
	int rc = sip_session_invite(p->s, &o);
	if (rc < 0) {
		/* -EBUSY: the other leg has an offer of its own pending. */
		sip_incoming_reject(rq, &(struct sip_reject_opts){
		                            .status = rc == -EBUSY ? 491 : 500});
		r->rq = NULL;
	}
}

/* REFER: passed to the other leg; its NOTIFYs come back to the referrer. */
static void on_refer(void *data, struct sip_session *s, struct sip_incoming_request *rq)
{
	struct leg *l = data;
	struct call *c = l->call;
	struct leg *p = l->peer;
	const struct sip_msg *m = sip_incoming_message(rq);
	const struct sip_hdr *rt = sip_msg_hdr(m, SIP_HDR_REFER_TO);
	if (!rt) {
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 400,
		                                                  .reason = "Missing Refer-To"});
		return;
	}
	if (c->route.kind == SW_ROUTE_ECHO || !session_live(p)) {
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 603});
		return;
	}
	if (defer_until_established(l, rq, on_refer))
		return;
	struct sip_addr to;
	char target[512];
	if (sip_addr_parse(rt->value, &to) < 0 || to.uri_text.l >= sizeof target) {
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 400,
		                                                  .reason = "Bad Refer-To"});
		return;
	}
	sip_pl_strcpy(to.uri_text, target, sizeof target); /* fits: checked above */
	if (c->b->cfg->calls.refer == SIPWIRE_REFER_GATEWAY) {
		transfer_in_gateway(l, rq, target);
		return;
	}
	struct relay *r = relay_new(c, l, rq);
	if (!r) {
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 500});
		return;
	}
	struct sip_request_delegate d = relay_delegate;
	d.data = r;
	CALL_LOG(SIPWIRE_LOG_INFO, c, "REFER to %s passed to the %s leg", target,
	         p->is_a ? "A" : "B");
	int rc = sip_session_refer(p->s, target, NULL, &(struct sip_request_opts){.delegate = &d});
	if (rc < 0) {
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 500});
		r->rq = NULL;
	}
}

/* A NOTIFY for a REFER we passed on: its sipfrag status goes on to the
 * referrer as our own NOTIFY. */
static void on_notify(void *data, struct sip_session *s, struct sip_incoming_request *rq)
{
	struct leg *l = data;
	struct leg *p = l->peer;
	const struct sip_msg *m = sip_incoming_message(rq);
	sip_pl body = sip_msg_body(m);
	int status = 0;
	/* message/sipfrag: "SIP/2.0 200 OK" */
	if (body.l >= 11 && !memcmp(body.p, "SIP/2.0 ", 8) && sip_is_digit((unsigned char)body.p[8]) &&
	    sip_is_digit((unsigned char)body.p[9]) && sip_is_digit((unsigned char)body.p[10]))
		status = (body.p[8] - '0') * 100 + (body.p[9] - '0') * 10 + (body.p[10] - '0');
	sip_incoming_accept(rq, NULL);
	if (status >= 100 && status < 700 && session_live(p))
		sip_session_notify_refer(p->s, status, NULL);
}

static void on_bye(void *data, struct sip_session *s, const struct sip_msg *bye)
{
	struct leg *l = data;
	struct call *c = l->call;
	set_end(c, side(l), "bye");
	CALL_LOG(SIPWIRE_LOG_INFO, c, "BYE from the %s", side(l));
	/* The peer is ended by the state listener when this leg terminates. */
}

static void on_cancel(void *data, struct sip_session *s, const struct sip_msg *cancel)
{
	struct leg *l = data;
	struct call *c = l->call;
	set_end(c, "caller", "cancel");
	c->final_status = 487;
	CALL_LOG(SIPWIRE_LOG_INFO, c, "CANCEL from the caller");
	end_all_b(c, NULL);
}

static const struct sip_session_delegate leg_delegate = {
    .on_bye = on_bye,
    .on_info = on_info,
    .on_message = on_message,
    .on_refer = on_refer,
    .on_notify = on_notify,
    .on_invite = on_reinvite,
    .on_cancel = on_cancel,
};

/* Every leg's state: a leg that ends takes the call with it. */
static void leg_state(void *arg, struct sip_session *s, enum sip_session_state st)
{
	struct leg *l = arg;
	struct call *c = l->call;
	if (st == SIP_SESSION_ESTABLISHED) {
		/* Requests that waited for this leg's ACK go on now. */
		for (struct relay *r = c->relays; r; r = r->next) {
			if (!r->deferred || !r->rq || r->from->peer != l)
				continue;
			struct sip_incoming_request *rq = r->rq;
			void (*handler)(void *, struct sip_session *, struct sip_incoming_request *) =
			    r->deferred;
			r->rq = NULL;
			r->deferred = NULL;
			handler(r->from, r->from->s, rq);
		}
		return;
	}
	if (st != SIP_SESSION_TERMINATED)
		return;
	enum sip_end_reason why = sip_session_end_reason(s);
	/* Relayed requests from this leg can no longer be answered. */
	for (struct relay *r = c->relays; r; r = r->next)
		if (r->from == l)
			r->rq = NULL;
	/* A leg whose peer is still there takes it along; an unanswered
	 * caller takes every leg that rings for it. Legs that lost a fork or
	 * were transferred away have no peer and end alone. */
	struct leg *p = l->peer;
	if (l->transfer_to) {
		/* A transferor that hangs up before the target answers (blind
		 * transfer, RFC 3515 lets it) leaves its peer waiting for the
		 * target; the NOTIFYs just have nowhere to go. */
		l->transfer_to->transferor = NULL;
		l->transfer_to = NULL;
		if (p) {
			p->peer = NULL;
			l->peer = NULL;
			p = NULL;
		}
	}
	for (size_t i = 0; i < c->n_b; i++)
		if (c->bl[i]->transferee == l) /* nobody left to connect the target to */
			leg_end(c->bl[i]);
	if (p || (l->is_a && !c->winner)) {
		if (why == SIP_END_TRANSPORT)
			set_end(c, side(l), l->is_a ? "caller connection closed"
			                            : "callee connection closed");
		else if (why == SIP_END_TIMEOUT)
			set_end(c, "gateway", l->is_a ? "no ACK from the caller" : "callee timeout");
		else if (why == SIP_END_SESSION_EXPIRED)
			set_end(c, "gateway", "session expired");
		else if (why != SIP_END_BYE_SENT && why != SIP_END_BYE_RECEIVED)
			set_end(c, "gateway", sip_end_reason_name(why));
	}
	if (p) {
		p->peer = NULL;
		l->peer = NULL;
		leg_end(p);
	} else if (l->is_a && !c->winner) {
		end_all_b(c, NULL);
	}
	if (l->transferor) {
		l->transferor->transfer_to = NULL;
		l->transferor = NULL;
	}
	call_check_done(c);
}

/* ---- the B legs' INVITE outcome ---- */

static void b_progress(void *data, struct sip_session *s, const struct sip_msg *resp)
{
	struct leg *l = data;
	struct call *c = l->call;
	if (c->winner || !session_live(&c->a) ||
	    sip_session_state(c->a.s) >= SIP_SESSION_ESTABLISHED)
		return;
	int status = sip_msg_status(resp);
	struct sip_progress_opts o = {.status = status};
	if (sip_msg_body(resp).l > 0 && sip_session_body(c->a.s).l > 0) {
		/* Early media: the caller hears what the callee plays, in the
		 * codec the callee chose; the 200 repeats this answer. */
		o.status = 183;
		o.with_description = true;
		sw_media_answer_like(c->a.media, l->media);
		sw_media_bridge(c->a.media, l->media);
	} else if (status == 180 || status == 183) {
		if (c->a_answered_180)
			return;
		o.status = 180;
	} else if (status == 181 || status == 182) {
		o.status = status;
	} else {
		return;
	}
	int rc = sip_invitation_progress(c->a.s, &o);
	if (rc < 0)
		CALL_LOG(SIPWIRE_LOG_INFO, c, "progress %d not relayed: %s", o.status, strerror(-rc));
	else if (o.status == 180)
		c->a_answered_180 = true;
}

static void b_accept(void *data, struct sip_session *s, const struct sip_msg *resp)
{
	struct leg *l = data;
	struct call *c = l->call;
	if (c->winner || !session_live(&c->a)) {
		/* A second answer (a fork lost), or the caller is gone: the UA
		 * ACKed it; end it. */
		leg_end(l);
		return;
	}
	c->winner = l;
	l->peer = &c->a;
	c->a.peer = l;
	l->remote_sdp = sdp_hash(sip_msg_body(resp));
	end_all_b(c, l);
	if (c->no_answer) {
		g_source_destroy(c->no_answer);
		g_source_unref(c->no_answer);
		c->no_answer = NULL;
	}
	sw_media_answer_like(c->a.media, l->media);
	sw_media_bridge(c->a.media, l->media);
	int rc = sip_invitation_accept(c->a.s, NULL);
	if (rc < 0) {
		CALL_LOG(SIPWIRE_LOG_INFO, c, "answer not relayed to the caller: %s", strerror(-rc));
		set_end(c, "gateway", rc == -ECANCELED ? "cancel crossed answer" : "answer failed");
		leg_end(l);
		leg_end(&c->a);
		return;
	}
	c->answer_us = g_get_real_time();
	c->final_status = 200;
	c->b->stats.answered++;
	sw_media_watch(c->a.media);
	sw_media_watch(l->media);
	CALL_LOG(SIPWIRE_LOG_INFO, c, "answered");
}

/* A leg's media failed (ICE, DTLS) or went quiet: the call is over, and
 * each leg hears why (RFC 3326; Q.850 41, temporary failure). */
static void leg_media_failed(void *arg, const char *reason)
{
	struct leg *l = arg;
	struct call *c = l->call;
	CALL_LOG(SIPWIRE_LOG_WARN, c, "%s media: %s: ending the call", side(l), reason);
	set_end(c, "gateway", reason);
	char why[160];
	snprintf(why, sizeof why, "Reason: Q.850;cause=41;text=\"%s\"\r\n", reason);
	const struct sip_request_opts bye = {.extra_headers = why};
	struct leg *legs[MAX_FORKS + 1];
	size_t n = 0;
	legs[n++] = &c->a;
	for (size_t i = 0; i < c->n_b; i++)
		legs[n++] = c->bl[i];
	for (size_t i = 0; i < n; i++) {
		if (!session_live(legs[i]))
			continue;
		if (sip_session_state(legs[i]->s) == SIP_SESSION_ESTABLISHED)
			sip_session_bye(legs[i]->s, &bye);
		else if (legs[i]->is_a)
			reject_a(c, 488, reason);
		else
			leg_end(legs[i]);
	}
}

/* DTMF in a leg's media that the other leg's media cannot carry (it agreed
 * no telephone-event) goes to that leg as SIP INFO, as SIP.js sends it. */
static void leg_media_dtmf(void *arg, char tone, unsigned duration_ms)
{
	struct leg *l = arg;
	struct leg *p = l->peer;
	if (!session_live(p) || sip_session_state(p->s) != SIP_SESSION_ESTABLISHED)
		return;
	char body[64];
	snprintf(body, sizeof body, "Signal=%c\r\nDuration=%u\r\n", tone, duration_ms);
	const struct sip_request_opts o = {
	    .ctype = "application/dtmf-relay", .body = body, .body_len = strlen(body)};
	int rc = sip_session_info(p->s, &o);
	CALL_LOG(SIPWIRE_LOG_DEBUG, l->call, "RFC 4733 DTMF %c (%u ms) from the %s sent as INFO: %s",
	         tone, duration_ms, side(l), rc < 0 ? strerror(-rc) : "ok");
}

static struct sw_media_events leg_media_events(struct leg *l)
{
	return (struct sw_media_events){
	    .on_failed = leg_media_failed, .on_dtmf = leg_media_dtmf, .arg = l};
}

static bool all_b_failed(const struct call *c)
{
	for (size_t i = 0; i < c->n_b; i++)
		if (!c->bl[i]->failed)
			return false;
	return true;
}

/* RFC 3261 §16.7 in short: a 6xx wins, then the lowest class, 408 last. */
static int best_status(const struct call *c)
{
	int best = 0;
	for (size_t i = 0; i < c->n_b; i++) {
		int st = c->bl[i]->status ? c->bl[i]->status : 408;
		if (st >= 600)
			return st;
		if (!best || (best == 408 && st != 408) || (st != 408 && st / 100 < best / 100))
			best = st;
	}
	return best ? best : 480;
}

static bool trunk_should_fail_over(int status)
{
	return status == 0 || status == 408 || (status >= 500 && status < 600);
}

static void b_reject(void *data, struct sip_session *s, int status, const struct sip_msg *resp)
{
	struct leg *l = data;
	struct call *c = l->call;
	l->failed = true;
	l->status = resp ? status : 0;
	if (c->winner)
		return;
	CALL_LOG(SIPWIRE_LOG_INFO, c, "callee leg failed: %d", status);
	if (!session_live(&c->a) || sip_session_state(c->a.s) >= SIP_SESSION_ESTABLISHED)
		return;
	if (c->route.kind == SW_ROUTE_TRUNK && trunk_should_fail_over(l->status) &&
	    !c->end_reason) {
		c->trunk_addr++;
		try_trunk(c);
		return;
	}
	if (!all_b_failed(c))
		return;
	int st = best_status(c);
	if ((st == 401 || st == 407) && c->passthrough && resp) {
		/* The PBX challenges the browser, which answers in a new INVITE. */
		enum sip_hdr_id id = st == 401 ? SIP_HDR_WWW_AUTHENTICATE : SIP_HDR_PROXY_AUTHENTICATE;
		char extra[4096];
		copy_fields(resp, &id, 1, extra, sizeof extra);
		set_end(c, "callee", "challenged");
		c->final_status = st;
		c->b->stats.rejected++;
		sip_invitation_reject(c->a.s, &(struct sip_reject_opts){.status = st,
		                                                       .extra_headers = extra});
		return;
	}
	/* The trunk's own authentication is not the caller's to answer. */
	if (st == 401 || st == 407)
		st = 403;
	set_end(c, "callee", "rejected");
	reject_a(c, st, NULL);
}

static const struct sip_request_delegate b_invite_delegate = {
    .on_progress = b_progress,
    .on_accept = b_accept,
    .on_reject = b_reject,
};

/* ---- making the B legs ---- */

/* What a B leg toward flow f (trunk t, or NULL) speaks. PBXs and trunks get
 * plain RTP, or SDES-SRTP when the trunk is configured for it, and a
 * WebSocket client WebRTC, unless it is called by a WebSocket client that
 * offered plain RTP itself (SIP clients that are not browsers: what one
 * offered the other can answer) or media.ws_webrtc is off. like is the leg
 * whose offer the B leg gets. */
static enum sw_media_kind b_kind(const struct call *c, const struct leg *like,
                                 const struct sw_flow *f, const struct trunk_state *t)
{
	if (t && t->cfg->srtp == SIPWIRE_SRTP_SDES)
		return SW_MEDIA_SDES;
	if (!on_ws(f))
		return SW_MEDIA_RTP;
	if (sw_media_kind(like->media) == SW_MEDIA_WEBRTC)
		return SW_MEDIA_WEBRTC;
	if (on_ws(sip_session_dest(like->s)->flow) || !c->b->cfg->media.ws_webrtc)
		return SW_MEDIA_RTP;
	return SW_MEDIA_WEBRTC;
}

static struct sw_media_events leg_media_events(struct leg *l);

static struct leg *leg_new_b(struct call *c, const struct leg *like, const struct sw_flow *f,
                             const struct trunk_state *t)
{
	if (c->n_b == MAX_FORKS)
		return NULL;
	struct leg *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->call = c;
	struct sw_media_events ev = leg_media_events(l);
	if (sw_media_new(c->b->media, b_kind(c, like, f, t), true, like->media, &ev, &l->media) < 0) {
		free(l);
		return NULL;
	}
	sw_media_set_log_tag(l->media, c->id);
	sw_media_set_local(l->media, (const struct sockaddr *)&f->local);
	c->bl[c->n_b++] = l;
	return l;
}

/* Pass-through mode: the browser's own answers to the PBX's challenges
 * (Authorization, Proxy-Authorization) go on with its INVITE; NULL when
 * there are none or the call is not a pass-through one. */
static const char *passthrough_credentials(const struct call *c, char *buf, size_t size)
{
	static const enum sip_hdr_id ids[] = {SIP_HDR_AUTHORIZATION, SIP_HDR_PROXY_AUTHORIZATION};
	if (!c->passthrough)
		return NULL;
	return copy_fields(sip_session_request(c->a.s), ids, 2, buf, size) ? buf : NULL;
}

/* Start an Inviter on leg l toward ruri over flow f. */
static int start_inviter(struct call *c, struct leg *l, struct sw_flow *f, const char *ruri,
                         const char *to, const char *from, const struct sip_credentials *creds,
                         const struct leg *like, const struct sip_request_delegate *rd,
                         const char *route)
{
	char extra[4096];
	struct sw_flow_where w;
	c->b->env.describe_flow(c->b->env.arg, f, &w);
	/* The offer to this leg carries what the caller offered, so that media
	 * can be relayed without transcoding. */
	int rc = sw_media_offer_like(l->media, like->media);
	if (rc < 0 && rc != -ENOENT) /* -ENOENT: no offer to copy, our own then */
		return rc;
	struct sip_inviter_opts o = {
	    .request_uri = ruri,
	    .from = from,
	    .to = to,
	    .transport = {.dest = {f, sw_tp_reliable(f->tp)}, .via = w.via, .contact = w.contact},
	    .route = route,
	    .max_forwards = c->max_forwards,
	    .extra_headers = passthrough_credentials(c, extra, sizeof extra),
	    .early_media = true,
	    /* A PBX that redirects (302 to a queue, a voicemail) is followed,
	     * over the same flow, up to five times. */
	    .follow_redirects = true,
	    .sdh = sw_media_sdh(l->media),
	    .delegate = &leg_delegate,
	    .data = l,
	};
	if (creds)
		o.credentials = *creds;
	rc = sip_inviter_new(c->b->env.ua, &o, &l->s);
	if (rc < 0)
		return rc;
	sip_session_set_log_tag(l->s, c->id);
	sip_session_add_state_listener(l->s, leg_state, l);
	struct sip_request_delegate d = *rd;
	d.data = l;
	rc = sip_inviter_invite(l->s, &(struct sip_invite_opts){.delegate = &d});
	if (rc < 0)
		CALL_LOG(SIPWIRE_LOG_INFO, c, "INVITE to %s not sent: %s", ruri, strerror(-rc));
	return rc;
}

/* The From of the B leg: the caller's, or the trunk account's when the
 * trunk authenticates us (PBXs match the From user against the account). */
static void b_from(struct call *c, const struct trunk_state *t, char *out, size_t size)
{
	const struct sip_addr *f = sip_msg_from(sip_session_request(c->a.s));
	if (t && t->cfg->username) {
		snprintf(out, size, "<sip:%s@%s>", t->cfg->username, t->host);
		return;
	}
	if (t) {
		const char *q = f->display_quoted ? "\"" : "";
		const char *lb = strchr(t->host, ':') ? "[" : "", *rb = *lb ? "]" : "";
		if (f->display.l)
			snprintf(out, size, "%s%.*s%s <sip:%.*s@%s%s%s>", q, (int)f->display.l,
			         f->display.p, q, (int)f->uri.user.l, f->uri.user.p, lb, t->host, rb);
		else
			snprintf(out, size, "<sip:%.*s@%s%s%s>", (int)f->uri.user.l, f->uri.user.p, lb,
			         t->host, rb);
		return;
	}
	addr_without_params(f, out, size);
}

/* ---- to a user: every binding rings ---- */

struct fork_ctx {
	struct call *c;
	int started;
	const struct leg *like; /* whose codecs the new legs are offered */
	const struct sip_request_delegate *rd;
	bool first_only; /* a transfer rings one binding */
	struct leg *last; /* the last leg started */
};

static int ring_binding(void *arg, const struct sip_registrar_binding *bd)
{
	struct fork_ctx *fx = arg;
	struct call *c = fx->c;
	struct sw_flow *f = bd->flow ? sw_flow_ref(bd->flow) : NULL;
	struct sockaddr_storage a;
	/* A UDP phone is reached at its Contact. */
	if (!f && c->b->trunk && contact_udp_addr(bd->contact, &a) == 0)
		f = sw_trunk_flow_to(c->b->trunk, SW_TP_UDP, (struct sockaddr *)&a, NULL);
	if (!f || f->closed) {
		sw_flow_unref(f);
		return 0;
	}
	char ruri[512], to[300], from[600];
	if (sip_pl_strcpy(bd->contact, ruri, sizeof ruri) < 0) { /* a Contact too long to call */
		sw_flow_unref(f);
		return 0;
	}
	struct leg *l = leg_new_b(c, fx->like, f, NULL);
	if (!l) {
		sw_flow_unref(f);
		return 1;
	}
	snprintf(to, sizeof to, "<sip:%s@%s>", c->route_user, "sipwire.invalid");
	const struct sip_msg *req = sip_session_request(c->a.s);
	const struct sip_uri *ru = sip_msg_ruri_parsed(req);
	if (ru && ru->host.l)
		snprintf(to, sizeof to, "<sip:%s@%.*s>", c->route_user, (int)ru->host.l, ru->host.p);
	b_from(c, NULL, from, sizeof from);
	int rc = start_inviter(c, l, f, ruri, to, from, NULL, fx->like, fx->rd, NULL);
	sw_flow_unref(f);
	if (rc == 0) {
		fx->started++;
		fx->last = l;
		return fx->first_only;
	}
	l->failed = true;
	return 0;
}

static void route_to_user(struct call *c)
{
	struct sw_b2bua *b = c->b;
	if (user_at_limit(b, c->route_user)) {
		set_end(c, "gateway", "callee at its call limit");
		reject_a(c, 486, NULL);
		return;
	}
	struct fork_ctx fx = {.c = c, .like = &c->a, .rd = &b_invite_delegate};
	sip_registrar_lookup(b->env.reg, pl_of(c->route_user), SIP_PL_NULL,
	                     (uint64_t)g_get_monotonic_time() / 1000, ring_binding, &fx);
	user_count(b, c->route_user, +1);
	/* The count goes with the first leg, released when it goes. */
	if (c->n_b)
		snprintf(c->bl[0]->user, sizeof c->bl[0]->user, "%s", c->route_user);
	else
		user_count(b, c->route_user, -1);
	if (!fx.started) {
		set_end(c, "gateway", "user not reachable");
		reject_a(c, 480, NULL);
	}
}

/* ---- to a trunk ---- */

static void trunk_resolved(void *arg, int err, const struct sockaddr_storage *targets, size_t n)
{
	struct call *c = arg;
	c->resolving = NULL;
	struct trunk_state *t = &c->b->trunks[c->trunk];
	t->n_addrs = err == 0 ? (n < MAX_TRUNK_ADDRS ? n : MAX_TRUNK_ADDRS) : 0;
	memcpy(t->addrs, targets, t->n_addrs * sizeof *targets);
	if (err)
		CALL_LOG(SIPWIRE_LOG_WARN, c, "trunk %s: %s does not resolve: %s", t->cfg->name,
		         t->hop_host, strerror(-err));
	/* An answer is kept a while, a failure too: a trunk whose name does not
	 * resolve is passed over (try_trunk goes on to the next) until then. */
	t->resolved_at = g_get_monotonic_time();
	c->trunk_addr = 0;
	if (!session_live(&c->a)) {
		call_check_done(c);
		return;
	}
	try_trunk(c);
}

/* "sip:USER@host[:port][;transport=tcp]" for a trunk; user NULL: none. */
static void trunk_uri(const struct trunk_state *t, const char *user, char *out, size_t size)
{
	const char *lb = strchr(t->host, ':') ? "[" : "", *rb = *lb ? "]" : "";
	char port[16] = "";
	if (t->port)
		snprintf(port, sizeof port, ":%u", t->port);
	snprintf(out, size, "%s:%s%s%s%s%s%s%s", t->sips ? "sips" : "sip", user ? user : "",
	         user ? "@" : "", lb, t->host, rb, port, t->tp == SW_TP_TCP ? ";transport=tcp" : "");
}

/* An Inviter to user at trunk t over f, with the trunk's credentials. */
static int trunk_invite(struct call *c, struct leg *l, const struct trunk_state *t,
                        struct sw_flow *f, const char *user, const struct leg *like,
                        const struct sip_request_delegate *rd)
{
	char ruri[512], to[520], from[600];
	if (c->passthrough) {
		/* The PBX sees the browser's own request: its digest answers name
		 * this Request-URI, From and To. */
		const struct sip_msg *req = sip_session_request(c->a.s);
		if (sip_pl_strcpy(sip_msg_ruri(req), ruri, sizeof ruri) < 0)
			return -ENAMETOOLONG;
		addr_without_params(sip_msg_to(req), to, sizeof to);
		addr_without_params(sip_msg_from(req), from, sizeof from);
		return start_inviter(c, l, f, ruri, to, from, NULL, like, rd,
		                     *t->route ? t->route : NULL);
	}
	trunk_uri(t, user, ruri, sizeof ruri);
	snprintf(to, sizeof to, "<%s>", ruri);
	b_from(c, t, from, sizeof from);
	struct sip_credentials creds = {t->cfg->username, t->cfg->password, NULL};
	return start_inviter(c, l, f, ruri, to, from, t->cfg->username ? &creds : NULL, like, rd,
	                     *t->route ? t->route : NULL);
}

/* Send the call to trunk c->trunk, address c->trunk_addr; past its last
 * address, on to the next trunk; past the last trunk, fail. */
static void try_trunk(struct call *c)
{
	struct sw_b2bua *b = c->b;
	for (;;) {
		if (c->trunk >= b->n_trunks || !b->trunk) {
			set_end(c, "callee", "all trunks failed");
			reject_a(c, c->n_b ? best_status(c) : 503, NULL);
			return;
		}
		struct trunk_state *t = &b->trunks[c->trunk];
		gint64 now = g_get_monotonic_time();
		if (!t->resolved_at || now - t->resolved_at > TRUNK_ADDR_TTL_US) {
			c->resolving = sw_trunk_resolve(b->trunk, t->hop_host, t->hop_port, t->hop_tp,
			                                trunk_resolved, c);
			if (c->resolving)
				return;
		}
		if (c->trunk_addr >= t->n_addrs) {
			c->trunk++;
			c->trunk_addr = 0;
			continue;
		}
		struct sw_flow *f = sw_trunk_flow_to(b->trunk, t->hop_tp,
		                                     (const struct sockaddr *)&t->addrs[c->trunk_addr],
		                                     t->hop_host);
		if (!f) {
			c->trunk_addr++;
			continue;
		}
		struct leg *l = leg_new_b(c, &c->a, f, t);
		if (!l) {
			sw_flow_unref(f);
			set_end(c, "gateway", "out of memory");
			reject_a(c, 500, NULL);
			return;
		}
		CALL_LOG(SIPWIRE_LOG_INFO, c, "to trunk %s (%s)", t->cfg->name, f->peer_str);
		int rc = trunk_invite(c, l, t, f, c->route_user, &c->a, &b_invite_delegate);
		sw_flow_unref(f);
		if (rc == 0)
			return;
		l->failed = true;
		c->trunk_addr++;
	}
}

/* ---- REFER carried out by the gateway (calls.refer = gateway) ----
 * The transferor X asked that its peer Y be connected to a target: the
 * gateway calls the target (leg Z, offered Y's codecs so that media still
 * relays unchanged), reports progress to X in NOTIFYs, and once Z answers,
 * bridges Y to Z and ends X. Y never notices: its media keeps flowing to
 * the same gateway ports. A target that fails leaves X and Y as they were. */

static void transfer_notify(struct leg *x, int status)
{
	if (session_live(x))
		sip_session_notify_refer(x->s, status, NULL);
}

static void transfer_progress(void *data, struct sip_session *s, const struct sip_msg *resp)
{
	struct leg *z = data;
	if (z->transferor)
		transfer_notify(z->transferor, sip_msg_status(resp));
}

static void transfer_accept(void *data, struct sip_session *s, const struct sip_msg *resp)
{
	struct leg *z = data;
	struct call *c = z->call;
	struct leg *x = z->transferor, *y = z->transferee;
	z->transferor = z->transferee = NULL;
	if (x)
		x->transfer_to = NULL;
	if (!session_live(y)) {
		leg_end(z);
		return;
	}
	if (x && x->peer == y)
		x->peer = NULL;
	y->peer = z;
	z->peer = y;
	z->remote_sdp = sdp_hash(sip_msg_body(resp));
	sw_media_bridge(y->media, z->media);
	CALL_LOG(SIPWIRE_LOG_INFO, c, "transferred: the %s now talks to %s", side(y),
	         sip_session_id(z->s));
	if (x) {
		transfer_notify(x, 200);
		leg_end(x);
	}
}

static void transfer_reject(void *data, struct sip_session *s, int status,
                            const struct sip_msg *resp)
{
	struct leg *z = data;
	struct leg *x = z->transferor, *y = z->transferee;
	z->failed = true;
	z->transferor = z->transferee = NULL;
	if (!x) {
		/* The transferor is gone: nobody is left for the transferee. */
		leg_end(y);
		return;
	}
	x->transfer_to = NULL;
	transfer_notify(x, resp ? status : 408);
	CALL_LOG(SIPWIRE_LOG_INFO, z->call, "transfer failed: %d", status);
}

static const struct sip_request_delegate transfer_delegate = {
    .on_progress = transfer_progress,
    .on_accept = transfer_accept,
    .on_reject = transfer_reject,
};

static void transfer_in_gateway(struct leg *x, struct sip_incoming_request *rq,
                                const char *target)
{
	struct call *c = x->call;
	struct sw_b2bua *b = c->b;
	struct leg *y = x->peer;
	struct sip_uri u;
	char user[128];
	struct sw_route_result route = {.user = user, .user_size = sizeof user};
	if (!session_live(y) || x->transfer_to) {
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 491});
		return;
	}
	if (sip_uri_parse(pl_of(target), &u) < 0 ||
	    sw_dialplan_route(b->plan, &u, plan_registered, b, &route) < 0 ||
	    (route.kind != SW_ROUTE_USER && route.kind != SW_ROUTE_TRUNK)) {
		CALL_LOG(SIPWIRE_LOG_INFO, c, "REFER to %s: no route for a transfer", target);
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 603});
		return;
	}
	struct leg *z = NULL;
	if (route.kind == SW_ROUTE_USER) {
		snprintf(c->route_user, sizeof c->route_user, "%s", user);
		struct fork_ctx fx = {.c = c, .like = y, .rd = &transfer_delegate,
		                      .first_only = true};
		sip_registrar_lookup(b->env.reg, pl_of(user), SIP_PL_NULL,
		                     (uint64_t)g_get_monotonic_time() / 1000, ring_binding, &fx);
		z = fx.started ? fx.last : NULL;
	} else if (b->trunk) {
		struct trunk_state *t = &b->trunks[route.trunk];
		struct sw_flow *f =
		    t->n_addrs ? sw_trunk_flow_to(b->trunk, t->hop_tp,
		                                  (const struct sockaddr *)&t->addrs[0], t->hop_host)
		               : NULL;
		struct leg *l = f ? leg_new_b(c, y, f, t) : NULL;
		if (l && trunk_invite(c, l, t, f, user, y, &transfer_delegate) == 0)
			z = l;
		else if (l)
			l->failed = true;
		sw_flow_unref(f);
	}
	if (!z) {
		sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 503});
		return;
	}
	z->transferor = x;
	z->transferee = y;
	x->transfer_to = z;
	sip_incoming_accept(rq, &(struct sip_accept_opts){.status = 202});
	transfer_notify(x, 100);
	CALL_LOG(SIPWIRE_LOG_INFO, c, "REFER from the %s: the gateway calls %s", side(x), target);
}

/* ---- who is calling ---- */

struct flow_match {
	const void *flow;
	bool found;
};

/* Is this binding the caller's flow? A connection's bindings are tied to
 * it; a UDP binding is tied to nothing, so it is the caller's when its
 * Contact names the datagram's source address. */
static int binding_on_flow(void *arg, const struct sip_registrar_binding *bd)
{
	struct flow_match *m = arg;
	const struct sw_flow *f = m->flow;
	struct sockaddr_storage a;
	if (bd->flow == f ||
	    (!bd->flow && f->tp == SW_TP_UDP && contact_udp_addr(bd->contact, &a) == 0 &&
	     same_host(&a, &f->peer) &&
	     sw_sockaddr_port((struct sockaddr *)&a) == sw_sockaddr_port((const struct sockaddr *)&f->peer))) {
		m->found = true;
		return 1;
	}
	return 0;
}

/* The trunk an address belongs to, or -1. */
static int trunk_of_addr(const struct sw_b2bua *b, const struct sockaddr_storage *peer)
{
	for (size_t i = 0; i < b->n_trunks; i++) {
		const struct trunk_state *t = &b->trunks[i];
		if (t->cfg->allow_from.n) {
			for (size_t k = 0; k < t->cfg->allow_from.n; k++)
				if (sw_addr_matches_prefix((const struct sockaddr *)peer,
				                        t->cfg->allow_from.v[k]))
					return (int)i;
			continue;
		}
		for (size_t k = 0; k < t->n_addrs; k++)
			if (same_host(&t->addrs[k], peer))
				return (int)i;
	}
	return -1;
}

/* The trunk a source address belongs to, or -1. */
static int trunk_of_source(const struct sw_b2bua *b, const struct sw_flow *f)
{
	if (f->tp == SW_TP_WS || f->tp == SW_TP_WSS)
		return -1;
	return trunk_of_addr(b, &f->peer);
}

bool sw_b2bua_is_trunk_addr(const struct sw_b2bua *b, const struct sockaddr_storage *addr)
{
	return b && trunk_of_addr(b, addr) >= 0;
}

/* ---- an Invitation arrives ---- */

static bool plan_registered(void *arg, sip_pl user, sip_pl host)
{
	struct sw_b2bua *b = arg;
	return b->env.reg && sip_registrar_lookup(b->env.reg, user, host,
	                                          (uint64_t)g_get_monotonic_time() / 1000, NULL,
	                                          NULL) > 0;
}

static gboolean no_answer_fired(gpointer data)
{
	struct call *c = data;
	g_source_unref(c->no_answer);
	c->no_answer = NULL;
	if (c->winner)
		return G_SOURCE_REMOVE;
	CALL_LOG(SIPWIRE_LOG_INFO, c, "no answer in %u s", c->b->cfg->calls.no_answer_timeout);
	set_end(c, "gateway", "no answer");
	reject_a(c, 408, NULL);
	end_all_b(c, NULL);
	return G_SOURCE_REMOVE;
}

static void start_no_answer_timer(struct call *c)
{
	/* Milliseconds: the seconds variant is coalesced and may fire up to a
	 * second early. */
	c->no_answer = g_timeout_source_new(c->b->cfg->calls.no_answer_timeout * 1000u);
	g_source_set_callback(c->no_answer, no_answer_fired, c, NULL);
	g_source_attach(c->no_answer, c->b->env.ctx);
}

/* Pass-through mode: the PBX authenticates and routes. A browser's call goes
 * to it as the browser sent it (with the browser's own answers to the PBX's
 * challenges); the PBX's call to a sipwire Contact it was given at
 * registration goes to the browser behind that Contact's token. */
static void route_passthrough(struct call *c, const struct sw_flow *f)
{
	struct sw_b2bua *b = c->b;
	const struct sip_msg *req = sip_session_request(c->a.s);
	const struct sip_uri *ruri = sip_msg_ruri_parsed(req);
	c->a_answered_180 = b->cfg->calls.auto_180;
	c->route.user = c->route_user;
	/* A user part too long for a token is no browser's: left empty. */
	if (ruri && sip_pl_strcpy(ruri->user, c->route_user, sizeof c->route_user) < 0)
		c->route_user[0] = '\0';
	if (f->tp == SW_TP_WS || f->tp == SW_TP_WSS) {
		c->passthrough = true;
		c->route.kind = SW_ROUTE_TRUNK;
		c->route.rule_name = "passthrough: pbx";
		c->trunk = b->n_trunks - 1; /* the pbx block, kept last */
		start_no_answer_timer(c);
		try_trunk(c);
		return;
	}
	if ((c->caller_trunk = trunk_of_source(b, f)) != (int)b->n_trunks - 1) {
		CALL_LOG(SIPWIRE_LOG_INFO, c, "refused: %s is not the PBX", f->peer_str);
		set_end(c, "gateway", "caller not allowed");
		reject_a(c, 403, NULL);
		return;
	}
	const char *contact = NULL;
	struct sw_flow *to = b->passthrough && ruri
	                         ? sw_passthrough_lookup(b->passthrough, ruri->user,
	                                                 (uint64_t)g_get_monotonic_time() / 1000,
	                                                 &contact)
	                         : NULL;
	c->route.kind = SW_ROUTE_USER;
	c->route.rule_name = "passthrough: browser";
	struct leg *l = to ? leg_new_b(c, &c->a, to, NULL) : NULL;
	if (!l) {
		set_end(c, "gateway", "user not reachable");
		reject_a(c, 480, NULL);
		return;
	}
	char dest[512], toh[600], from[600];
	snprintf(dest, sizeof dest, "%s", contact);
	addr_without_params(sip_msg_to(req), toh, sizeof toh);
	addr_without_params(sip_msg_from(req), from, sizeof from);
	start_no_answer_timer(c);
	if (start_inviter(c, l, to, dest, toh, from, NULL, &c->a, &b_invite_delegate, NULL) < 0) {
		l->failed = true;
		set_end(c, "gateway", "user not reachable");
		reject_a(c, 480, NULL);
	}
}

void sw_b2bua_on_invitation(struct sw_b2bua *b, struct sip_session *inv)
{
	struct call *c = calloc(1, sizeof *c);
	if (!c) {
		sip_invitation_reject(inv, &(struct sip_reject_opts){.status = 500});
		return;
	}
	c->b = b;
	c->a.call = c;
	c->a.is_a = true;
	c->a.s = sip_session_ref(inv);
	c->caller_trunk = -1;
	c->start_us = g_get_real_time();
	snprintf(c->id, sizeof c->id, "c%" PRIx64, ++b->next_id);
	c->next = b->calls;
	if (b->calls)
		b->calls->prev = c;
	b->calls = c;
	b->n_calls++;
	b->stats.calls++;
	sip_session_set_delegate(inv, &leg_delegate, &c->a);
	sip_session_set_log_tag(inv, c->id);
	sip_session_add_state_listener(inv, leg_state, &c->a);

	const struct sip_msg *req = sip_session_request(inv);
	const struct sw_flow *f = sip_session_dest(inv)->flow;
	const struct sip_addr *from = sip_msg_from(req);
	CALL_LOG(SIPWIRE_LOG_INFO, c, "INVITE %.*s from %.*s over %s %s (Call-ID %.*s)",
	         (int)sip_msg_ruri(req).l, sip_msg_ruri(req).p, (int)from->uri_text.l,
	         from->uri_text.p, sw_tp_name(f->tp), f->peer_str,
	         (int)sip_session_call_id(inv).l, sip_session_call_id(inv).p);

	if (b->drain_retry_after) {
		char retry[40];
		snprintf(retry, sizeof retry, "Retry-After: %u\r\n", b->drain_retry_after);
		CALL_LOG(SIPWIRE_LOG_INFO, c, "refused: the gateway is draining");
		set_end(c, "gateway", "draining");
		c->final_status = 503;
		sip_invitation_reject(inv, &(struct sip_reject_opts){
		                               .status = 503, .reason = "Shutting Down",
		                               .extra_headers = retry});
		b->stats.rejected++;
		return;
	}

	sip_pl offer = sip_session_body(inv);
	/* A browser's offer is WebRTC; an INVITE without one from a WebSocket
	 * client gets a WebRTC offer in our 200. A trunk's media is what its
	 * srtp setting says, both ways: SDES-SRTP offers are taken only from a
	 * trunk configured for them, and such a trunk must offer nothing else. */
	int src = trunk_of_source(b, f);
	const struct sipwire_trunk *src_cfg = src >= 0 ? b->trunks[src].cfg : NULL;
	bool sdes_trunk = src_cfg && src_cfg->srtp == SIPWIRE_SRTP_SDES;
	bool lite = false;
	enum sw_media_kind kind = offer.l ? sw_media_kind_of_offer(offer.p, offer.l, &lite)
	                          : on_ws(f) ? SW_MEDIA_WEBRTC
	                          : sdes_trunk ? SW_MEDIA_SDES : SW_MEDIA_RTP;
	if (kind == SW_MEDIA_SDES && !sdes_trunk) {
		if (src_cfg)
			CALL_LOG(SIPWIRE_LOG_WARN, c, "refused: the offer is RTP/SAVP (SDES-SRTP) and "
			                              "trunk %s has srtp off (set it to sdes to take it)",
			         src_cfg->name);
		else
			CALL_LOG(SIPWIRE_LOG_WARN, c, "refused: the offer is RTP/SAVP (SDES-SRTP), taken "
			                              "only from a trunk with srtp sdes, and %s is none",
			         f->peer_str);
		set_end(c, "gateway", "SRTP not configured");
		reject_a(c, 488, NULL);
		return;
	}
	if (sdes_trunk && kind != SW_MEDIA_SDES) {
		CALL_LOG(SIPWIRE_LOG_WARN, c, "refused: trunk %s has srtp sdes and its offer is not "
		                              "RTP/SAVP", src_cfg->name);
		set_end(c, "gateway", "SRTP required");
		reject_a(c, 488, NULL);
		return;
	}
	struct sw_media_events ev = leg_media_events(&c->a);
	int rc = sw_media_new(b->media, kind, offer.l == 0 || lite, NULL, &ev, &c->a.media);
	if (rc < 0) {
		set_end(c, "gateway", "no media ports");
		reject_a(c, 503, "No Media Ports");
		return;
	}
	sw_media_set_log_tag(c->a.media, c->id);
	sw_media_set_local(c->a.media, (const struct sockaddr *)&f->local);
	sip_session_set_sdh(inv, sw_media_sdh(c->a.media));
	c->a.remote_sdp = sdp_hash(offer);
	if (offer.l && sw_media_preview_offer(c->a.media, offer.p, offer.l) < 0) {
		set_end(c, "gateway", "unusable offer");
		reject_a(c, 488, NULL);
		return;
	}

	if (b->n_calls > b->cfg->calls.max_calls) {
		set_end(c, "gateway", "call limit");
		reject_a(c, 503, "Call Limit Reached");
		return;
	}
	/* The endpoint answered Max-Forwards 0 with 483 already; the other leg
	 * carries one less (a call looping back through the gateway ends). */
	int mf = sip_msg_max_forwards(req);
	c->max_forwards = mf < 0 ? 70 : mf - 1;

	if (b->cfg->mode == SIPWIRE_MODE_PASSTHROUGH) {
		route_passthrough(c, f);
		return;
	}
	/* Who is calling: a user registered on this flow, or a trunk. */
	struct flow_match fm = {f, false};
	if (b->env.reg && from->uri.user.l)
		sip_registrar_lookup(b->env.reg, from->uri.user, SIP_PL_NULL,
		                     (uint64_t)g_get_monotonic_time() / 1000, binding_on_flow, &fm);
	bool registered = fm.found &&
	                  sip_pl_strcpy(from->uri.user, c->caller_user, sizeof c->caller_user) == 0;
	if (!registered && (c->caller_trunk = trunk_of_source(b, f)) < 0) {
		CALL_LOG(SIPWIRE_LOG_INFO, c, "refused: %.*s is not registered on this connection "
		                              "and %s is no trunk",
		         (int)from->uri.user.l, from->uri.user.p, f->peer_str);
		set_end(c, "gateway", "caller not allowed");
		reject_a(c, 403, "Register First");
		return;
	}
	if (user_at_limit(b, c->caller_user)) {
		set_end(c, "gateway", "caller at its call limit");
		reject_a(c, 486, NULL);
		return;
	}
	/* The UA rings the caller itself right after this (calls.auto_180). */
	c->a_answered_180 = b->cfg->calls.auto_180;
	snprintf(c->a.user, sizeof c->a.user, "%s", c->caller_user);
	user_count(b, c->a.user, +1);

	c->route.user = c->route_user;
	c->route.user_size = sizeof c->route_user;
	const struct sip_uri *ruri = sip_msg_ruri_parsed(req);
	rc = ruri ? sw_dialplan_route(b->plan, ruri, plan_registered, b, &c->route) : -EINVAL;
	if (rc < 0 || c->route.kind == SW_ROUTE_NONE) {
		CALL_LOG(SIPWIRE_LOG_INFO, c, "no route (%s)", c->route.rule_name ? c->route.rule_name : "bad URI");
		set_end(c, "gateway", "no route");
		reject_a(c, 404, NULL);
		return;
	}
	CALL_LOG(SIPWIRE_LOG_INFO, c, "route %s: %s %s%s%s", c->route.rule_name,
	         sw_route_kind_name(c->route.kind), c->route_user,
	         c->route.trunk_name ? " at " : "", c->route.trunk_name ? c->route.trunk_name : "");
	if (c->route.kind != SW_ROUTE_ECHO && c->max_forwards < 1) {
		set_end(c, "gateway", "Max-Forwards exhausted");
		reject_a(c, 483, NULL);
		return;
	}
	start_no_answer_timer(c);

	switch (c->route.kind) {
	case SW_ROUTE_ECHO:
		sw_media_echo(c->a.media);
		if (sip_invitation_accept(inv, NULL) == 0) {
			sw_media_watch(c->a.media);
			c->answer_us = g_get_real_time();
			c->final_status = 200;
			b->stats.answered++;
		}
		break;
	case SW_ROUTE_USER:
		route_to_user(c);
		break;
	case SW_ROUTE_TRUNK:
		c->trunk = c->route.trunk;
		try_trunk(c);
		break;
	case SW_ROUTE_NONE:
		break;
	}
}

/* ---- trunk registrations ---- */

static uint64_t mono_ms(void *arg) { return (uint64_t)g_get_monotonic_time() / 1000; }

static void registerer_log(void *arg, const char *line)
{
	struct trunk_state *t = arg;
	LOG_INFO("trunk", "%s: %s", t->cfg->name, line);
}

/* A flow to the trunk's first address and how we appear on it. false when
 * the trunk has no address (yet) or no flow can be made. */
static bool registration_transport(struct trunk_state *t, struct sip_ua_transport *out,
                                   struct sw_flow_where *w)
{
	if (!t->n_addrs || !t->b->trunk)
		return false;
	struct sw_flow *f = sw_trunk_flow_to(t->b->trunk, t->hop_tp,
	                                     (const struct sockaddr *)&t->addrs[0], t->hop_host);
	if (!f)
		return false;
	sw_flow_unref(t->reg_flow);
	t->reg_flow = f;
	t->b->env.describe_flow(t->b->env.arg, f, w);
	*out = (struct sip_ua_transport){{f, sw_tp_reliable(f->tp)}, w->via, w->contact};
	return true;
}

static void registerer_state(void *arg, struct sip_registerer *r, enum sip_registerer_state st,
                             int status, const char *reason)
{
	struct trunk_state *t = arg;
	if (st == SIP_REGISTERER_REGISTERED) {
		LOG_INFO("trunk", "%s: registered", t->cfg->name);
		return;
	}
	if (st != SIP_REGISTERER_UNREGISTERED)
		return;
	LOG_WARN("trunk", "%s: not registered: %d %s (retrying)", t->cfg->name, status, reason);
	/* A connection that dropped is not coming back: the next attempt goes
	 * over a new one. */
	if (t->reg_flow && t->reg_flow->closed) {
		struct sip_ua_transport tr;
		struct sw_flow_where w;
		if (registration_transport(t, &tr, &w))
			sip_registerer_set_transport(r, &tr);
	}
}

static void registration_start(struct trunk_state *t)
{
	struct sip_ua_transport tr;
	struct sw_flow_where w;
	if (t->registerer || !t->cfg->register_enabled || !registration_transport(t, &tr, &w))
		return;
	char registrar[300], aor[400];
	const char *lb = strchr(t->host, ':') ? "[" : "", *rb = *lb ? "]" : "";
	trunk_uri(t, NULL, registrar, sizeof registrar);
	snprintf(aor, sizeof aor, "%s:%s@%s%s%s", t->sips ? "sips" : "sip", t->cfg->username, lb,
	         t->host, rb);
	/* The trunk calls us at the Contact: the account's user at our address. */
	char contact[sizeof w.contact + 64];
	const char *at = strchr(w.contact, '@');
	snprintf(contact, sizeof contact, "<sip:%s%s", t->cfg->username, at ? at : ">");
	tr.contact = contact;
	struct sip_registerer_config rc = {
	    .registrar = registrar,
	    .aor = aor,
	    .transport = tr,
	    .route = *t->route ? t->route : NULL,
	    .expires = t->cfg->expires,
	    .credentials = {t->cfg->username, t->cfg->password, NULL},
	    .user_agent = "sipwire/" SIPWIRE_VERSION,
	    .txn = t->b->env.txn,
	    .now_ms = mono_ms,
	    .cb = {.on_state_change = registerer_state, .on_log = registerer_log},
	    .arg = t,
	};
	int err = sip_registerer_new(&rc, &t->registerer);
	if (err < 0) {
		LOG_ERR("trunk", "%s: cannot register: %s", t->cfg->name, strerror(-err));
		return;
	}
	sip_registerer_register(t->registerer);
}

uint64_t sw_b2bua_next_deadline(const struct sw_b2bua *b)
{
	uint64_t d = UINT64_MAX;
	for (size_t i = 0; b && i < b->n_trunks; i++)
		if (b->trunks[i].registerer) {
			uint64_t r = sip_registerer_next_deadline(b->trunks[i].registerer);
			d = r < d ? r : d;
		}
	return d;
}

void sw_b2bua_tick(struct sw_b2bua *b)
{
	for (size_t i = 0; b && i < b->n_trunks; i++)
		if (b->trunks[i].registerer)
			sip_registerer_tick(b->trunks[i].registerer);
}

/* ---- life ---- */

static void trunk_source_resolved(void *arg, int err, const struct sockaddr_storage *targets,
                                  size_t n)
{
	struct trunk_state *t = arg;
	t->refresh = NULL;
	if (err < 0) {
		LOG_WARN("b2bua", "trunk %s: %s does not resolve (%s): calls from it are refused "
		                  "until it does",
		         t->cfg->name, t->host, strerror(-err));
		return;
	}
	t->n_addrs = n < MAX_TRUNK_ADDRS ? n : MAX_TRUNK_ADDRS;
	memcpy(t->addrs, targets, t->n_addrs * sizeof *targets);
	t->resolved_at = g_get_monotonic_time();
	registration_start(t);
}

/* Host (without brackets), port and transport of a sip:/sips: URI. */
static int uri_hop(const char *text, char *host, size_t size, unsigned *port, enum sw_tp *tp,
                   bool *sips)
{
	struct sip_uri u;
	if (sip_uri_parse(pl_of(text), &u) < 0 || !u.host.l || u.host.l >= size)
		return -EINVAL;
	sip_pl h = u.host;
	if (h.l > 2 && h.p[0] == '[') {
		h.p++;
		h.l -= 2;
	}
	sip_pl_strcpy(h, host, size); /* fits: checked above */
	*port = u.port;
	*sips = u.scheme == SIP_URI_SIPS;
	*tp = *sips ? SW_TP_TLS : SW_TP_UDP;
	if (sip_pl_caseeq_cstr(u.transport, "tcp"))
		*tp = *sips ? SW_TP_TLS : SW_TP_TCP;
	else if (sip_pl_caseeq_cstr(u.transport, "tls"))
		*tp = SW_TP_TLS;
	return 0;
}

static int trunk_parse(struct trunk_state *t, const struct sipwire_trunk *cfg)
{
	t->cfg = cfg;
	if (uri_hop(cfg->uri, t->host, sizeof t->host, &t->port, &t->tp, &t->sips) < 0)
		return -EINVAL;
	snprintf(t->hop_host, sizeof t->hop_host, "%s", t->host);
	t->hop_port = t->port;
	t->hop_tp = t->tp;
	if (cfg->outbound_proxy && *cfg->outbound_proxy) {
		bool psips;
		if (uri_hop(cfg->outbound_proxy, t->hop_host, sizeof t->hop_host, &t->hop_port,
		            &t->hop_tp, &psips) < 0)
			return -EINVAL;
		/* Loose routing: the proxy is a Route, the trunk stays the target. */
		struct sip_uri pu;
		bool lr = sip_uri_parse(pl_of(cfg->outbound_proxy), &pu) == 0 && pu.lr;
		snprintf(t->route, sizeof t->route, "<%s%s>", cfg->outbound_proxy, lr ? "" : ";lr");
	}
	return 0;
}

int sw_b2bua_new(struct sw_b2bua **out, const struct sw_b2bua_env *env)
{
	*out = NULL;
	struct sw_b2bua *b = calloc(1, sizeof *b);
	if (!b)
		return -ENOMEM;
	b->env = *env;
	b->cfg = env->cfg;
	b->per_user = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	int rc = sw_dialplan_new(env->cfg, &b->plan);
	if (rc < 0)
		goto fail;
	rc = sw_media_ctx_new(env->cfg, env->ctx, &b->media);
	if (rc < 0)
		goto fail;
	b->n_trunks = env->cfg->n_trunks;
	bool pt = env->cfg->mode == SIPWIRE_MODE_PASSTHROUGH;
	b->trunks = calloc(b->n_trunks + 1, sizeof *b->trunks);
	if (!b->trunks) {
		rc = -ENOMEM;
		goto fail;
	}
	if (pt) {
		const char *h = env->cfg->pbx.host;
		static const char *const tps[] = {"udp", "tcp", "tls"};
		char port[16] = "";
		if (env->cfg->pbx.port)
			snprintf(port, sizeof port, ":%u", env->cfg->pbx.port);
		snprintf(b->pbx_uri, sizeof b->pbx_uri, "sip:%s%s%s%s;transport=%s",
		         strchr(h, ':') ? "[" : "", h, strchr(h, ':') ? "]" : "", port,
		         tps[env->cfg->pbx.transport]);
		b->pbx = (struct sipwire_trunk){.name = "pbx", .uri = b->pbx_uri,
		                                .outbound_proxy = "", .where = "pbx"};
	}
	for (size_t i = 0; i < b->n_trunks + pt; i++) {
		b->trunks[i].b = b;
		const struct sipwire_trunk *tc = i < b->n_trunks ? &env->cfg->trunks[i] : &b->pbx;
		rc = trunk_parse(&b->trunks[i], tc);
		if (rc < 0) {
			LOG_ERR("b2bua", "%s: the URI %s is not usable", tc->where, tc->uri);
			goto fail;
		}
	}
	b->n_trunks += pt;
	*out = b;
	return 0;
fail:
	sw_b2bua_free(b);
	return rc;
}

void sw_b2bua_set_passthrough(struct sw_b2bua *b, struct sw_passthrough *pt)
{
	b->passthrough = pt;
}

void sw_b2bua_set_trunk(struct sw_b2bua *b, struct sw_trunk *trunk)
{
	b->trunk = trunk;
	for (size_t i = 0; i < b->n_trunks; i++) {
		struct trunk_state *t = &b->trunks[i];
		if (!t->refresh)
			t->refresh = sw_trunk_resolve(trunk, t->hop_host, t->hop_port, t->hop_tp,
			                              trunk_source_resolved, t);
	}
}

void sw_b2bua_drain(struct sw_b2bua *b, unsigned retry_after_s)
{
	b->drain_retry_after = retry_after_s ? retry_after_s : 1;
}

void sw_b2bua_end_calls(struct sw_b2bua *b, const char *reason)
{
	/* Calls are reaped from an idle source: none leaves the list here. */
	for (struct call *c = b->calls; c; c = c->next) {
		if (c->finishing)
			continue;
		set_end(c, "gateway", reason);
		if (session_live(&c->a) && sip_session_state(c->a.s) < SIP_SESSION_ESTABLISHED)
			reject_a(c, 503, "Shutting Down");
		leg_end(&c->a);
		end_all_b(c, NULL);
	}
}

void sw_b2bua_free(struct sw_b2bua *b)
{
	if (!b)
		return;
	/* A stopping gateway ends its calls in protocol (the UA sends BYE,
	 * CANCEL or a final response now), then writes their detail lines. */
	for (struct call *c = b->calls; c; c = c->next) {
		set_end(c, "gateway", "shutdown");
		if (c->resolving) {
			sw_resolve_cancel(c->resolving);
			c->resolving = NULL;
		}
		if (session_live(&c->a) && sip_session_state(c->a.s) < SIP_SESSION_ESTABLISHED)
			reject_a(c, 503, "Shutting Down");
		leg_end(&c->a);
		end_all_b(c, NULL);
	}
	while (b->calls) {
		struct call *c = b->calls;
		c->end_us = g_get_real_time();
		write_cdr(c);
		call_free(c);
	}
	for (size_t i = 0; i < b->n_trunks && b->trunks; i++) {
		struct trunk_state *t = &b->trunks[i];
		if (t->refresh)
			sw_resolve_cancel(t->refresh);
		/* Remove our binding at the trunk (the REGISTER leaves now). */
		if (t->registerer) {
			sip_registerer_dispose(t->registerer);
			sip_registerer_free(t->registerer);
		}
		sw_flow_unref(t->reg_flow);
	}
	free(b->trunks);
	sw_media_ctx_free(b->media);
	sw_dialplan_free(b->plan);
	g_slist_free_full(b->old_plans, (GDestroyNotify)sw_dialplan_free);
	if (b->per_user)
		g_hash_table_destroy(b->per_user);
	free(b);
}

void sw_b2bua_set_plan(struct sw_b2bua *b, struct sw_dialplan *plan)
{
	b->old_plans = g_slist_prepend(b->old_plans, b->plan);
	b->plan = plan;
}

const struct sw_call_metrics *sw_b2bua_metrics(const struct sw_b2bua *b) { return &b->metrics; }

struct sw_media_ctx *sw_b2bua_media(struct sw_b2bua *b) { return b->media; }

void sw_b2bua_stats(const struct sw_b2bua *b, struct sw_b2bua_stats *out)
{
	*out = b->stats;
	out->active = b->n_calls;
}
