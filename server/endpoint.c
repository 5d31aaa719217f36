/* endpoint.c — see endpoint.h. */
#include "server/endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/b2bua.h"
#include "server/guard.h"
#include "server/log.h"
#include "server/passthrough.h"
#include "sip/sip_build.h"
#include "sip/sip_registrar.h"
#include "sip/sip_txn.h"
#include "sip/sip_ua.h"

/* What the gateway implements, calls included. */
#define EP_ALLOW                                                                                   \
	"INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE, UPDATE, PRACK, REFER, NOTIFY, REGISTER"
#define EP_SUPPORTED "outbound, path"

struct sw_endpoint {
	const struct sipwire_config *cfg;
	GSource *timer; /* fires at the earliest transaction or registrar deadline */
	struct sip_msg *msg; /* the parser, reused for every message */
	struct sip_msg *stamped_msg;
	struct sip_buf stamped; /* a request with received/rport written in */
	struct sip_buf out;     /* the response being built */
	struct sip_txn_layer *txn;
	struct sip_registrar *reg;
	struct sip_ua *ua;       /* INVITE sessions */
	struct sw_b2bua *b2bua;  /* calls */
	GHashTable *ha1_md5; /* user name -> HA1 (MD5) of every configured user */
	struct sw_trunk *trunk;
	struct sw_passthrough *passthrough; /* in passthrough mode, once there is a trunk */
	struct sw_guard *guard; /* per-address limits */
	uint32_t tag_seed, tag_count;
	struct sw_endpoint_stats stats;
};

static uint64_t now_ms(void) { return (uint64_t)g_get_monotonic_time() / 1000; }

/* ---- the timer: one GSource that asks for the earliest deadline ----
 * The deadlines are asked for on every loop iteration (two O(1) looks at
 * heap tops), so any change — a transaction started from a DNS answer, a
 * binding added — is seen without anyone having to re-arm anything. */

struct ep_timer {
	GSource src;
	struct sw_endpoint *ep;
};

static uint64_t next_deadline(const struct sw_endpoint *ep)
{
	uint64_t d = sip_txn_layer_next_deadline(ep->txn);
	uint64_t r = sip_registrar_next_deadline(ep->reg);
	uint64_t u = sip_ua_next_deadline(ep->ua);
	uint64_t t = sw_b2bua_next_deadline(ep->b2bua);
	d = r < d ? r : d;
	d = u < d ? u : d;
	return t < d ? t : d;
}

static gboolean timer_prepare(GSource *src, gint *timeout)
{
	struct sw_endpoint *ep = ((struct ep_timer *)src)->ep;
	uint64_t d = next_deadline(ep), now = now_ms();
	if (d <= now)
		return TRUE;
	*timeout = d == UINT64_MAX ? -1 : (d - now > G_MAXINT ? G_MAXINT : (gint)(d - now));
	return FALSE;
}

static gboolean timer_check(GSource *src)
{
	struct sw_endpoint *ep = ((struct ep_timer *)src)->ep;
	return next_deadline(ep) <= now_ms();
}

static gboolean timer_dispatch(GSource *src, GSourceFunc cb, gpointer data)
{
	struct sw_endpoint *ep = ((struct ep_timer *)src)->ep;
	uint64_t now = now_ms();
	sip_txn_layer_tick(ep->txn, now);
	sip_ua_tick(ep->ua);
	sw_b2bua_tick(ep->b2bua);
	sip_registrar_tick(ep->reg, now);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_funcs = {
	.prepare = timer_prepare,
	.check = timer_check,
	.dispatch = timer_dispatch,
};

/* ---- sending ---- */

static int txn_send(void *arg, const struct sip_txn_dest *dest, const char *bytes, size_t len)
{
	struct sw_flow *f = dest->flow;
	int rc = sw_flow_send(f, bytes, len);
	if (rc < 0)
		LOG_DEBUG("sip", "%s %s: send failed: %s", sw_tp_name(f->tp), f->peer_str,
		          strerror(-rc));
	return rc;
}

static void txn_log(void *arg, const char *line) { LOG_DEBUG("txn", "%s", line); }
static void registrar_log(void *arg, const char *line) { LOG_INFO("registrar", "%s", line); }

static sip_pl make_tag(struct sw_endpoint *ep, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%08x%x", ep->tag_seed, ++ep->tag_count);
	return (sip_pl){buf, (size_t)n};
}

/* Start a response to req in ep->out: status line, the copied fields and a
 * Server header. The caller adds headers and ends with sip_build_body. */
static void response_start(struct sw_endpoint *ep, const struct sip_msg *req, int status,
                           const char *reason)
{
	char tag[32];
	sip_buf_reset(&ep->out);
	sip_build_response(&ep->out, req, status, reason, make_tag(ep, tag, sizeof tag));
	sip_build_header(&ep->out, "Server", sip_pl_from_cstr("sipwire/" SIPWIRE_VERSION));
}

/* Send ep->out through the transaction, or log why not. */
static void respond_built(struct sw_endpoint *ep, struct sip_txn *txn)
{
	if (ep->out.error) {
		LOG_WARN("sip", "cannot build a response: %s", strerror(-ep->out.error));
		return;
	}
	int rc = sip_txn_server_respond(txn, ep->out.p, ep->out.len, now_ms());
	if (rc < 0)
		LOG_DEBUG("sip", "response not sent: %s", strerror(-rc));
}

static void respond(struct sw_endpoint *ep, struct sip_txn *txn, int status, const char *reason)
{
	const struct sip_msg *req = sip_txn_request(txn);
	if (!req) {
		LOG_WARN("sip", "out of memory: a %d not sent", status);
		return;
	}
	response_start(ep, req, status, reason);
	if (status == 405 || status == 501)
		sip_build_header(&ep->out, "Allow", sip_pl_from_cstr(EP_ALLOW));
	sip_build_body(&ep->out, NULL, (sip_pl){0});
	respond_built(ep, txn);
}

/* ---- requests ---- */

/* The source address without the port: the key of the failed-auth limit. */
static sip_pl source_host(const struct sw_flow *f, char *buf, size_t size)
{
	const struct sockaddr *sa = (const struct sockaddr *)&f->peer;
	const void *a = sa->sa_family == AF_INET6
	                    ? (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr
	                    : (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return (sip_pl){0};
	if (!inet_ntop(sa->sa_family, a, buf, (socklen_t)size))
		return (sip_pl){0};
	return sip_pl_from_cstr(buf);
}

static void on_register(struct sw_endpoint *ep, struct sip_txn *txn, const struct sip_msg *msg,
                        struct sw_flow *f)
{
	if (ep->cfg->mode == SIPWIRE_MODE_PASSTHROUGH) {
		if (ep->passthrough)
			sw_passthrough_register(ep->passthrough, txn, msg, f, now_ms());
		else
			respond(ep, txn, 503, "No PBX Transport");
		return;
	}
	char src[INET6_ADDRSTRLEN];
	/* A UDP client is reached through its Contact (and rport), not through
	 * a connection, so its bindings are tied to no flow. */
	bool conn = sw_tp_reliable(f->tp);
	struct sip_registrar_request rq = {
		.msg = msg,
		.flow = conn ? f : NULL,
		.flow_id = conn ? f->id : 0,
		.source = source_host(f, src, sizeof src),
		.now_ms = now_ms(),
	};
	sip_buf_reset(&ep->out);
	int status = sip_registrar_handle(ep->reg, &rq, &ep->out);
	if (status < 0) {
		LOG_WARN("registrar", "%s: cannot answer a REGISTER: %s", f->peer_str,
		         strerror(-status));
		respond(ep, txn, 500, NULL);
		return;
	}
	respond_built(ep, txn);
}

static void on_options(struct sw_endpoint *ep, struct sip_txn *txn, const struct sip_msg *msg)
{
	const struct sip_uri *ruri = sip_msg_ruri_parsed(msg);
	if (ruri && ruri->user.p && ruri->user.l) {
		/* Reaching users is the B2BUA's job, which this build does not
		 * have yet: say so rather than answer for them. */
		respond(ep, txn, 480, "No Route To Users Yet");
		return;
	}
	response_start(ep, msg, 200, NULL);
	sip_build_header(&ep->out, "Allow", sip_pl_from_cstr(EP_ALLOW));
	sip_build_header(&ep->out, "Accept", sip_pl_from_cstr("application/sdp"));
	sip_build_header(&ep->out, "Supported", sip_pl_from_cstr(EP_SUPPORTED));
	sip_build_body(&ep->out, NULL, (sip_pl){0});
	respond_built(ep, txn);
}

static void on_cancel(struct sw_endpoint *ep, struct sip_txn *txn, const struct sip_msg *msg,
                      struct sw_flow *f)
{
	struct sip_txn_dest from = {f, sw_tp_reliable(f->tp)};
	struct sip_txn *inv = sip_txn_find_invite_for_cancel(ep->txn, msg, &from);
	if (!inv || sip_txn_last_status(inv) >= 200) {
		respond(ep, txn, 481, NULL);
		return;
	}
	/* RFC 3261 §9.2: 200 to the CANCEL, then 487 to the INVITE. */
	respond(ep, txn, 200, NULL);
	respond(ep, inv, 487, NULL);
}

/* How we appear on f: our address on it, and the listener port of its
 * transport (a connection we opened has an ephemeral local port, but the
 * peer opens new connections to the listener). */
static void describe_flow(void *arg, const struct sw_flow *f, struct sw_flow_where *out)
{
	struct sw_endpoint *ep = arg;
	const struct sipwire_config *cfg = ep->cfg;
	char addr[80];
	sw_sockaddr_str((const struct sockaddr *)&f->local, addr, sizeof addr);
	char *colon = strrchr(addr, ':');
	if (colon)
		*colon = '\0';
	unsigned port = sw_sockaddr_port((const struct sockaddr *)&f->local);
	const char *tparam = "";
	switch (f->tp) {
	case SW_TP_UDP:
		port = cfg->listen.sip_port ? cfg->listen.sip_port : port;
		break;
	case SW_TP_TCP:
		port = cfg->listen.sip_port ? cfg->listen.sip_port : port;
		tparam = ";transport=tcp";
		break;
	case SW_TP_TLS:
		port = cfg->listen.tls_port ? cfg->listen.tls_port : port;
		tparam = ";transport=tls";
		break;
	case SW_TP_WS:
	case SW_TP_WSS:
		tparam = ";transport=ws";
		break;
	}
	snprintf(out->via, sizeof out->via, "SIP/2.0/%s %s:%u%s", sw_tp_name(f->tp), addr, port,
	         f->tp == SW_TP_UDP ? ";rport" : "");
	snprintf(out->contact, sizeof out->contact, "<sip:sipwire@%s:%u%s>", addr, port, tparam);
}

static void ua_on_invite(void *arg, struct sip_session *inv)
{
	struct sw_endpoint *ep = arg;
	if (ep->b2bua)
		sw_b2bua_on_invitation(ep->b2bua, inv);
	else
		sip_invitation_reject(inv, &(struct sip_reject_opts){.status = 503});
}

/* Every session transition: the call log lines (b2bua.c) say what matters. */
static void ua_log(void *arg, const char *line) { LOG_DEBUG("ua", "%s", line); }

static uint64_t ua_now(void *arg) { return now_ms(); }

/* Every transaction keeps its flow alive while it may still send on it. */
static void txn_dest_hold(void *arg, const struct sip_txn_dest *dest, bool hold)
{
	if (hold)
		sw_flow_ref(dest->flow);
	else
		sw_flow_unref(dest->flow);
}

static void txn_on_request(void *arg, struct sip_txn *txn, const struct sip_msg *msg)
{
	struct sw_endpoint *ep = arg;
	struct sw_flow *f = sip_txn_dest(txn)->flow;

	enum sip_method m = sip_msg_method(msg);
	if (sip_msg_max_forwards(msg) == 0 && m != SIP_METHOD_OPTIONS) {
		respond(ep, txn, 483, NULL);
		return;
	}
	if (m != SIP_METHOD_REGISTER) {
		/* INVITEs, CANCELs and whatever belongs to a dialog go to the UA;
		 * what is none of its business comes back -ENOENT. */
		struct sw_flow_where w;
		describe_flow(ep, f, &w);
		struct sip_ua_transport where = {sip_txn_dest(txn)[0], w.via, w.contact};
		int rc = sip_ua_receive_request(ep->ua, txn, msg, &where);
		if (rc != -ENOENT) {
			if (rc < 0)
				LOG_WARN("sip", "%s %s: %.*s not handled: %s", sw_tp_name(f->tp),
				         f->peer_str, (int)sip_msg_method_name(msg).l,
				         sip_msg_method_name(msg).p, strerror(-rc));
			return;
		}
	}
	switch (m) {
	case SIP_METHOD_REGISTER:
		on_register(ep, txn, msg, f);
		break;
	case SIP_METHOD_OPTIONS:
		on_options(ep, txn, msg);
		break;
	case SIP_METHOD_CANCEL:
		on_cancel(ep, txn, msg, f);
		break;
	case SIP_METHOD_MESSAGE:
		/* Pager-mode MESSAGE between users is not routed (only in calls). */
		respond(ep, txn, 405, NULL);
		break;
	case SIP_METHOD_BYE:
	case SIP_METHOD_INFO:
	case SIP_METHOD_UPDATE:
	case SIP_METHOD_PRACK:
	case SIP_METHOD_NOTIFY:
	case SIP_METHOD_REFER:
		respond(ep, txn, 481, NULL); /* outside any dialog */
		break;
	default:
		respond(ep, txn, 501, NULL);
		break;
	}
}

/* ---- RFC 3581 / RFC 3261 §18.2.1: the top Via gets received (and rport) ---- */

static bool param_is_bare_rport(const char *p, size_t n)
{
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	return n == 5 && g_ascii_strncasecmp(p, "rport", 5) == 0;
}

/* Rewrite the request into ep->stamped with ";received=HOST;rport=PORT" on
 * the top Via. Returns false when nothing needed doing or it failed (the
 * request is then used as it came: a response still goes back on its flow). */
static bool via_stamp(struct sw_endpoint *ep, const struct sip_msg *m, const struct sw_flow *f,
                      const char *buf, size_t len)
{
	const struct sip_via *via = sip_msg_via(m);
	char host[INET6_ADDRSTRLEN];
	sip_pl src = source_host(f, host, sizeof host);
	if (!src.p)
		return false;
	bool add_received = !via->received.p && !sip_pl_eq(via->host, src);
	bool add_rport = via->rport && via->rport_value == 0;
	if (!add_received && !add_rport)
		return false;

	/* Where the top Via's parameters end (or its sent-by, without any). */
	const char *end;
	if (via->params.p) {
		end = via->params.p + via->params.l;
	} else {
		end = via->host.p + via->host.l;
		const char *lim = buf + len;
		const char *q = end;
		while (q < lim && (*q == ' ' || *q == '\t'))
			q++;
		if (q < lim && *q == ':') {
			q++;
			while (q < lim && (*q == ' ' || *q == '\t'))
				q++;
			while (q < lim && *q >= '0' && *q <= '9')
				q++;
			end = q;
		}
	}
	const char *start = via->params.p ? via->params.p : end;

	struct sip_buf *b = &ep->stamped;
	sip_buf_reset(b);
	sip_buf_append(b, buf, (size_t)(start - buf));
	/* The parameters as they were, minus a bare rport we fill in. */
	for (const char *p = start; p < end;) {
		const char *q = p + 1;
		while (q < end && *q != ';')
			q++;
		if (!(add_rport && param_is_bare_rport(p + 1, (size_t)(q - p - 1))))
			sip_buf_append(b, p, (size_t)(q - p));
		p = q;
	}
	if (add_received)
		sip_buf_printf(b, ";received=%s", host);
	if (add_rport)
		sip_buf_printf(b, ";rport=%u", sw_sockaddr_port((const struct sockaddr *)&f->peer));
	sip_buf_append(b, end, (size_t)(buf + len - end));
	return b->error == 0;
}

/* ---- what the transports deliver ---- */

static bool is_websocket(const struct sw_flow *f) { return f->tp == SW_TP_WS || f->tp == SW_TP_WSS; }

/* Answer a request that failed to parse but can be answered (err->status),
 * statelessly, on the flow it came from — with received/rport in its Via like
 * any other answer over UDP/TCP/TLS. */
static void answer_unparsed(struct sw_endpoint *ep, struct sw_flow *f, const char *buf,
                            size_t len, enum sip_parse_mode mode,
                            const struct sip_parse_error *err)
{
	const struct sip_msg *m = ep->msg;
	if (!is_websocket(f) && sip_msg_via(m)->host.p && via_stamp(ep, m, f, buf, len)) {
		size_t used;
		struct sip_parse_error e2;
		if (sip_msg_parse(ep->stamped_msg, ep->stamped.p, ep->stamped.len, mode, &used,
		                  &e2) == SIP_PARSE_ERROR &&
		    e2.status)
			m = ep->stamped_msg;
	}
	response_start(ep, m, err->status, err->reason);
	sip_build_body(&ep->out, NULL, (sip_pl){0});
	if (!ep->out.error)
		sw_flow_send(f, ep->out.p, ep->out.len);
}

/* Log a refusal of f's peer, at most once a second per address. */
#define LOG_REFUSAL(ep, f, ev, fmt, ...)                                                           \
	do {                                                                                       \
		unsigned sup_;                                                                     \
		if (sw_guard_log_ok((ep)->guard, (const struct sockaddr *)&(f)->peer, ev, now_ms(), \
		                    &sup_))                                                        \
			LOG_WARN("limits", "%s %s: " fmt " (%u more not logged)", sw_tp_name((f)->tp),  \
			         (f)->peer_str, __VA_ARGS__, sup_);                                \
	} while (0)

/* Send a stateless answer to a request that is refused before any
 * transaction: parsed is false when it did not parse (err says so). */
static void refuse_request(struct sw_endpoint *ep, struct sw_flow *f, const char *buf, size_t len,
                           enum sip_parse_mode mode, int status, const char *reason,
                           const char *retry_after)
{
	const struct sip_msg *m = ep->msg;
	if (sip_msg_method(m) == SIP_METHOD_ACK)
		return; /* nothing answers an ACK */
	if (!is_websocket(f) && via_stamp(ep, m, f, buf, len)) {
		size_t used;
		struct sip_parse_error e2;
		if (sip_msg_parse(ep->stamped_msg, ep->stamped.p, ep->stamped.len, mode, &used,
		                  &e2) == SIP_PARSE_OK)
			m = ep->stamped_msg;
	}
	response_start(ep, m, status, reason);
	if (retry_after)
		sip_build_header(&ep->out, "Retry-After", sip_pl_from_cstr(retry_after));
	sip_build_body(&ep->out, NULL, (sip_pl){0});
	if (!ep->out.error)
		sw_flow_send(f, ep->out.p, ep->out.len);
}

/* The per-address checks every request (or unparsable message) passes
 * before it costs anything more: the source's request rate, and on the
 * trunk side, with sip.accept_from trunks, that it is a trunk. false: it
 * was answered (or dropped) here. */
static bool request_admitted(struct sw_endpoint *ep, struct sw_flow *f, const char *buf,
                             size_t len, enum sip_parse_mode mode,
                             const struct sip_parse_error *err)
{
	const struct sockaddr *peer = (const struct sockaddr *)&f->peer;
	if (!is_websocket(f) && ep->cfg->sip.accept_from == SIPWIRE_ACCEPT_TRUNKS &&
	    !sw_b2bua_is_trunk_addr(ep->b2bua, &f->peer)) {
		ep->stats.refused_strangers++;
		LOG_REFUSAL(ep, f, SW_GUARD_EV_OTHER, "%s", "refused: not a trunk address (sip.accept_from is trunks)");
		if (!err)
			refuse_request(ep, f, buf, len, mode, 403, "Not A Trunk", NULL);
		return false;
	}
	if (sw_guard_request(ep->guard, peer, now_ms()) == SW_GUARD_PASS)
		return true;
	ep->stats.refused_rate++;
	LOG_REFUSAL(ep, f, SW_GUARD_EV_REQUEST, "refused a request: over limits.requests_per_second (%u a second)",
	            ep->cfg->limits.requests_per_second);
	if (!err)
		refuse_request(ep, f, buf, len, mode, 503, "Too Many Requests", "1");
	return false;
}

static void on_message(void *arg, struct sw_flow *f, const char *buf, size_t len)
{
	struct sw_endpoint *ep = arg;
	size_t used = 0;
	struct sip_parse_error err = {0};
	enum sip_parse_mode mode = sw_tp_is_stream(f->tp) ? SIP_PARSE_STREAM : SIP_PARSE_DATAGRAM;
	enum sip_parse_result r = sip_msg_parse(ep->msg, buf, len, mode, &used, &err);

	if (r != SIP_PARSE_KEEPALIVE && r != SIP_PARSE_NEED_MORE &&
	    !(r == SIP_PARSE_OK && !sip_msg_is_request(ep->msg)) &&
	    !request_admitted(ep, f, buf, len, mode, r == SIP_PARSE_OK ? NULL : &err))
		return;

	switch (r) {
	case SIP_PARSE_KEEPALIVE:
		ep->stats.keepalives++;
		/* A ping ("\r\n\r\n" alone) gets a pong; other CRLFs are
		 * swallowed (RFC 5626 §3.5.1, RFC 7118 §4). */
		if (used == 4 && len == 4)
			sw_flow_send(f, "\r\n", 2);
		return;
	case SIP_PARSE_NEED_MORE:
		return; /* stream framing already waited for the whole message */
	case SIP_PARSE_ERROR:
		ep->stats.parse_errors++;
		if (err.status) {
			LOG_INFO("sip", "%s %s: answered %d %s", sw_tp_name(f->tp), f->peer_str,
			         err.status, err.reason);
			answer_unparsed(ep, f, buf, len, mode, &err);
		} else if (is_websocket(f)) {
			/* RFC 7118 §5: a WebSocket message must be one SIP
			 * message; this one cannot even be answered. */
			LOG_INFO("sip", "%s %s: not a SIP message (%s); closing with 1007",
			         sw_tp_name(f->tp), f->peer_str, err.reason);
			sw_flow_close(f, 1007, "not a SIP message");
		} else {
			LOG_INFO("sip", "%s %s: dropped: %s", sw_tp_name(f->tp), f->peer_str,
			         err.reason);
		}
		return;
	case SIP_PARSE_OK:
		break;
	}

	const struct sip_msg *m = ep->msg;
	if (sip_msg_is_request(m)) {
		ep->stats.requests++;
		if (!is_websocket(f) && via_stamp(ep, m, f, buf, len)) {
			struct sip_parse_error e2;
			if (sip_msg_parse(ep->stamped_msg, ep->stamped.p, ep->stamped.len, mode, &used,
			                  &e2) == SIP_PARSE_OK)
				m = ep->stamped_msg;
		}
	} else {
		ep->stats.responses++;
	}
	struct sip_txn_dest from = {f, sw_tp_reliable(f->tp)};
	int rc = sip_txn_layer_recv(ep->txn, m, &from, now_ms());
	if (rc == SIP_TXN_RECV_STRAY && sip_msg_is_request(m) &&
	    sip_ua_receive_ack(ep->ua, m, &from) == 0)
		return; /* the ACK to a 2xx of ours */
	if (rc == SIP_TXN_RECV_STRAY)
		LOG_DEBUG("sip", "%s %s: %s matches no transaction", sw_tp_name(f->tp),
		          f->peer_str, sip_msg_is_request(m) ? "ACK" : "response");
	else if (rc < 0)
		LOG_WARN("sip", "%s %s: transaction layer: %s", sw_tp_name(f->tp), f->peer_str,
		         strerror(-rc));
}

static bool on_admit(void *arg, enum sw_tp tp, const struct sockaddr *peer)
{
	struct sw_endpoint *ep = arg;
	char addr[80];
	unsigned sup;
	if ((tp == SW_TP_TCP || tp == SW_TP_TLS) &&
	    ep->cfg->sip.accept_from == SIPWIRE_ACCEPT_TRUNKS) {
		struct sockaddr_storage ss = {0};
		memcpy(&ss, peer, sw_sockaddr_len(peer));
		if (!sw_b2bua_is_trunk_addr(ep->b2bua, &ss)) {
			ep->stats.refused_strangers++;
			if (sw_guard_log_ok(ep->guard, peer, SW_GUARD_EV_OTHER, now_ms(), &sup)) {
				sw_sockaddr_str(peer, addr, sizeof addr);
				LOG_WARN("limits", "%s %s: connection refused: not a trunk address "
				                   "(sip.accept_from is trunks) (%u more not logged)",
				         sw_tp_name(tp), addr, sup);
			}
			return false;
		}
	}
	if (sw_guard_connect(ep->guard, peer, now_ms()) == SW_GUARD_PASS)
		return true;
	ep->stats.refused_connections++;
	if (sw_guard_log_ok(ep->guard, peer, SW_GUARD_EV_CONNECT, now_ms(), &sup)) {
		sw_sockaddr_str(peer, addr, sizeof addr);
		LOG_WARN("limits", "%s %s: connection refused: over limits.connections_per_second "
		                   "(%u a second) (%u more not logged)",
		         sw_tp_name(tp), addr, ep->cfg->limits.connections_per_second, sup);
	}
	return false;
}

static bool on_open(void *arg, struct sw_flow *f)
{
	struct sw_endpoint *ep = arg;
	if (sw_guard_open(ep->guard, (const struct sockaddr *)&f->peer, now_ms()) == SW_GUARD_PASS) {
		f->counted = true;
		return true;
	}
	ep->stats.refused_connections++;
	LOG_REFUSAL(ep, f, SW_GUARD_EV_OPEN, "connection refused: it holds limits.connections_per_address (%u) already",
	            ep->cfg->limits.connections_per_address);
	return false;
}

static void on_closed(void *arg, struct sw_flow *f)
{
	struct sw_endpoint *ep = arg;
	if (f->counted) {
		f->counted = false;
		sw_guard_close(ep->guard, (const struct sockaddr *)&f->peer, now_ms());
	}
	size_t calls = sip_ua_flow_closed(ep->ua, f);
	if (calls)
		LOG_INFO("sip", "%s %s closed: %zu session%s ended", sw_tp_name(f->tp), f->peer_str,
		         calls, calls == 1 ? "" : "s");
	if (ep->passthrough)
		sw_passthrough_flow_closed(ep->passthrough, f, now_ms());
	size_t n = sip_registrar_flow_closed(ep->reg, f);
	if (n)
		LOG_INFO("registrar", "%s %s closed: %zu binding%s removed", sw_tp_name(f->tp),
		         f->peer_str, n, n == 1 ? "" : "s");
}

struct sw_flow_sink sw_endpoint_sink(struct sw_endpoint *ep)
{
	return (struct sw_flow_sink){.on_message = on_message,
	                             .on_closed = on_closed,
	                             .admit = on_admit,
	                             .on_open = on_open,
	                             .arg = ep};
}

/* ---- set-up ---- */

static int lookup_user(void *arg, sip_pl user, enum sip_auth_algorithm alg, char *ha1_out,
                       size_t size)
{
	struct sw_endpoint *ep = arg;
	char name[256];
	if (user.l >= sizeof name)
		return -ENOENT;
	memcpy(name, user.p, user.l);
	name[user.l] = 0;
	if (alg == SIP_AUTH_ALG_MD5 || alg == SIP_AUTH_ALG_MD5_SESS) {
		const char *ha1 = g_hash_table_lookup(ep->ha1_md5, name);
		if (!ha1)
			return -ENOENT;
		return snprintf(ha1_out, size, "%s", ha1) < (int)size ? 0 : -ENOSPC;
	}
	/* Other algorithms need the password: users given by MD5 HA1 only
	 * cannot answer them. */
	for (size_t i = 0; i < ep->cfg->n_users; i++) {
		const struct sipwire_user *u = &ep->cfg->users[i];
		if (strcmp(u->name, name) != 0)
			continue;
		if (!u->password)
			return -ENOENT;
		return sip_auth_ha1(alg, user, sip_pl_from_cstr(ep->cfg->realm), sip_pl_from_cstr(u->password),
		                    ha1_out, size) < 0
		           ? -ENOENT
		           : 0;
	}
	return -ENOENT;
}

/* Every configured user's MD5 HA1, by name. 0, or -EINVAL when a password
 * cannot be hashed. */
static int ha1_table(const struct sipwire_config *cfg, GHashTable *t)
{
	for (size_t i = 0; i < cfg->n_users; i++) {
		const struct sipwire_user *u = &cfg->users[i];
		char ha1[65];
		if (u->password) {
			if (sip_auth_ha1(SIP_AUTH_ALG_MD5, sip_pl_from_cstr(u->name),
			                 sip_pl_from_cstr(cfg->realm), sip_pl_from_cstr(u->password), ha1,
			                 sizeof ha1) < 0)
				return -EINVAL;
		} else {
			snprintf(ha1, sizeof ha1, "%s", u->ha1);
		}
		g_hash_table_replace(t, g_strdup(u->name), g_strdup(ha1));
	}
	return 0;
}

int sw_endpoint_reload_users(struct sw_endpoint *ep)
{
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if (ha1_table(ep->cfg, t) < 0) {
		g_hash_table_destroy(t);
		return -EINVAL;
	}
	g_hash_table_destroy(ep->ha1_md5);
	ep->ha1_md5 = t;
	return 0;
}

int sw_endpoint_new(struct sw_endpoint **out, const struct sipwire_config *cfg,
                    GMainContext *ctx)
{
	*out = NULL;
	struct sw_endpoint *ep = calloc(1, sizeof *ep);
	if (!ep)
		return -ENOMEM;
	int rc = -ENOMEM;
	ep->cfg = cfg;
	ep->tag_seed = g_random_int();
	sip_buf_init(&ep->out, cfg->sip.limits.max_msg_size);
	sip_buf_init(&ep->stamped, cfg->sip.limits.max_msg_size + 256);
	ep->msg = sip_msg_new(&cfg->sip.limits);
	ep->stamped_msg = sip_msg_new(&cfg->sip.limits);
	ep->ha1_md5 = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if (!ep->msg || !ep->stamped_msg)
		goto fail;
	struct sw_guard_limits gl = {
		.conn_rate = cfg->limits.connections_per_second,
		.max_conns = cfg->limits.connections_per_address,
		.request_rate = cfg->limits.requests_per_second,
		.exempt = (const char *const *)cfg->limits.exempt.v,
		.n_exempt = cfg->limits.exempt.n,
	};
	rc = sw_guard_new(&ep->guard, &gl);
	if (rc < 0)
		goto fail;
	rc = -ENOMEM;

	if (!ep->ha1_md5 || ha1_table(cfg, ep->ha1_md5) < 0) {
		rc = -EINVAL;
		goto fail;
	}

	struct sip_txn_layer_config tc = {
		.timers = {cfg->sip.timers.t1, cfg->sip.timers.t2, cfg->sip.timers.t4},
		/* SIP.js only sends CANCEL after a provisional: 100 at once. */
		.trying_delay_ms = 0,
		.cb = {.send = txn_send,
		       .on_request = txn_on_request,
		       .on_log = txn_log,
		       .dest_hold = txn_dest_hold},
		.arg = ep,
	};
	ep->txn = sip_txn_layer_new(&tc);
	if (!ep->txn)
		goto fail;

	struct sip_registrar_config rcfg = {
		.realm = sip_pl_from_cstr(cfg->realm),
		.lookup_user = lookup_user,
		.lookup_arg = ep,
		/* Accounts are names without a domain: a call for alice reaches
		 * her whatever host the caller put in the Request-URI. */
		.single_domain = true,
		.min_expires = cfg->registrar.min_expires,
		.max_expires = cfg->registrar.max_expires,
		.default_expires = cfg->registrar.default_expires,
		/* Keep-alives this often keep a connection inside the idle
		 * timeout even when the client ignores our pings. */
		.flow_timer = cfg->ws.idle_timeout - cfg->ws.ping_interval,
		.max_failures = cfg->auth.max_failures,
		.n_algorithms = (unsigned)cfg->auth.n_algorithms,
		.window_s = cfg->auth.failure_window,
		.max_bindings_per_aor = cfg->registrar.max_bindings_per_user,
		.on_log = registrar_log,
	};
	for (size_t i = 0; i < cfg->auth.n_algorithms; i++)
		rcfg.algorithms[i] = cfg->auth.algorithms[i];
	rc = sip_registrar_new(&ep->reg, &rcfg);
	if (rc < 0)
		goto fail;

	struct sip_ua_config ucfg = {
		.txn = ep->txn,
		.timers = {cfg->sip.timers.t1, cfg->sip.timers.t2, cfg->sip.timers.t4},
		.now_ms = ua_now,
		.auto_180 = cfg->calls.auto_180,
		.session_expires = cfg->calls.session_expires,
		.user_agent = "sipwire/" SIPWIRE_VERSION,
		/* Its lines are all debug: not even formatted below that level. */
		.cb = {.send = txn_send,
		       .on_invite = ua_on_invite,
		       .on_log = cfg->log_level >= SIPWIRE_LOG_DEBUG ? ua_log : NULL},
		.arg = ep,
	};
	ep->ua = sip_ua_new(&ucfg);
	if (!ep->ua) {
		rc = -ENOMEM;
		goto fail;
	}
	struct sw_b2bua_env benv = {
		.cfg = cfg,
		.ctx = ctx,
		.ua = ep->ua,
		.reg = ep->reg,
		.txn = ep->txn,
		.describe_flow = describe_flow,
		.arg = ep,
	};
	rc = sw_b2bua_new(&ep->b2bua, &benv);
	if (rc < 0)
		goto fail;

	ep->timer = g_source_new(&timer_funcs, sizeof(struct ep_timer));
	((struct ep_timer *)ep->timer)->ep = ep;
	g_source_attach(ep->timer, ctx);
	*out = ep;
	return 0;
fail:
	sw_endpoint_free(ep);
	return rc;
}

void sw_endpoint_stop(struct sw_endpoint *ep)
{
	if (!ep)
		return;
	sw_b2bua_free(ep->b2bua);
	ep->b2bua = NULL;
}

void sw_endpoint_free(struct sw_endpoint *ep)
{
	if (!ep)
		return;
	if (ep->timer) {
		g_source_destroy(ep->timer);
		g_source_unref(ep->timer);
	}
	/* Calls end in protocol while the transports are still up; then the
	 * transactions, which hold flow references and pass-through state,
	 * end with their callbacks before what they point to goes. */
	sw_b2bua_free(ep->b2bua);
	sip_txn_layer_shutdown(ep->txn);
	if (ep->ua)
		sip_ua_free(ep->ua);
	sw_passthrough_free(ep->passthrough);
	sip_txn_layer_free(ep->txn);
	sip_registrar_free(ep->reg);
	sip_msg_free(ep->msg);
	sip_msg_free(ep->stamped_msg);
	sw_guard_free(ep->guard);
	sip_buf_free(&ep->out);
	sip_buf_free(&ep->stamped);
	if (ep->ha1_md5)
		g_hash_table_destroy(ep->ha1_md5);
	free(ep);
}

int sw_endpoint_set_trunk(struct sw_endpoint *ep, struct sw_trunk *trunk)
{
	ep->trunk = trunk;
	sw_b2bua_set_trunk(ep->b2bua, trunk);
	if (ep->cfg->mode == SIPWIRE_MODE_PASSTHROUGH && !ep->passthrough) {
		int rc = sw_passthrough_new(&ep->passthrough, ep->cfg, trunk, ep->txn);
		if (rc < 0)
			return rc;
		sw_b2bua_set_passthrough(ep->b2bua, ep->passthrough);
	}
	return 0;
}

struct sw_b2bua *sw_endpoint_b2bua(struct sw_endpoint *ep) { return ep->b2bua; }

void sw_endpoint_stats(const struct sw_endpoint *ep, struct sw_endpoint_stats *out)
{
	*out = ep->stats;
	out->transactions = sip_txn_layer_count(ep->txn);
	struct sw_guard_stats gs;
	sw_guard_stats(ep->guard, &gs);
	out->limited_addresses = gs.entries;
	out->bindings = ep->passthrough ? sw_passthrough_binding_count(ep->passthrough)
	                                : sip_registrar_binding_count(ep->reg);
	sip_registrar_auth_counts(ep->reg, &out->auth_failures, &out->auth_refused);
	sip_txn_layer_counts(ep->txn, &out->txn);
}
