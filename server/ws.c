/* ws.c — see ws.h. */
#include "server/ws.h"

#include <errno.h>
#include <libwebsockets.h>
#include <limits.h>
#include <stdlib.h>
#include <uv.h>
#include <string.h>
#include <strings.h>

#include "server/http_files.h"
#include "server/certs.h"
#include "server/log.h"

/* A queued outgoing message, with the LWS_PRE bytes libwebsockets writes its
 * frame header into. */
struct ws_out {
	struct ws_out *next;
	size_t len;
	unsigned char data[]; /* LWS_PRE + len */
};

/* One connection. It lives as long as its flow (the endpoint may keep the
 * flow after the socket is gone), so it is not libwebsockets' per-session
 * memory, which only points to it. */
struct ws_conn {
	struct sw_ws *ws;
	struct lws *wsi; /* NULL once closed */
	struct sw_flow *flow;
	struct ws_conn *prev, *next; /* the open connections */
	struct ws_out *out_head, *out_tail;
	size_t out_bytes;
	/* A message arriving in several fragments is gathered here. */
	char *rx;
	size_t rx_len;
	bool in_rx; /* inside this connection's receive callback */
	bool peer_closed; /* the client sent a Close frame */
	int close_code; /* non-zero: closing, with this code */
	gint64 heard_us; /* when the last whole message or Pong arrived (monotonic) */
};

/* libwebsockets' GLib backend gives every connection a GSource, and a GLib
 * main loop prepares, polls and checks every source on every iteration:
 * with 10,000 idle browsers connected, each REGISTER cost ~400 us of CPU in
 * that walk. So libwebsockets runs on a libuv loop (epoll: the cost follows
 * the busy connections, not the open ones), and that loop is one source of
 * the GLib loop: its epoll descriptor and its next timer. */
struct uv_gsource {
	GSource src;
	uv_loop_t *loop;
	gpointer tag;
};

struct sw_ws {
	struct sw_ws_config cfg;
	uv_loop_t uv;
	bool uv_inited;
	struct uv_gsource *uv_src;
	struct lws_context *ctx;
	struct lws_protocols protocols[2];
	lws_retry_bo_t retry;
	struct ws_conn *conns;
	size_t n_conns;
	SSL_CTX *tls_ctx; /* the WSS vhost's, owned by libwebsockets */
	/* Sockets accepted that have not sent a whole HTTP request yet:
	 * descriptor -> when accepted (monotonic us), to tell why one went. */
	GHashTable *pending;
	bool stopping;
	bool refusing; /* draining: no new WebSocket connections */
	struct sw_ws_stats stats;
};

/* A connection's outgoing queue is capped: a client that stops reading is
 * closed rather than allowed to grow the daemon's memory. */
#define WS_OUT_MAX (1u << 20)
/* Responses up to this size may be written from the receive callback. */
#define WS_DIRECT_MAX 4096

static int conn_send(struct sw_flow *f, const char *buf, size_t len);
static void conn_close(struct sw_flow *f, int ws_code, const char *reason);
static void conn_destroy(struct sw_flow *f);
static const struct sw_flow_ops ws_flow_ops = {conn_send, conn_close, conn_destroy};

static void out_free_all(struct ws_conn *c)
{
	for (struct ws_out *o = c->out_head, *n; o; o = n) {
		n = o->next;
		free(o);
	}
	c->out_head = c->out_tail = NULL;
	c->out_bytes = 0;
}

static int conn_send(struct sw_flow *f, const char *buf, size_t len)
{
	struct ws_conn *c = f->tp_data;
	if (!c->wsi || c->close_code)
		return -EPIPE;
	if (c->out_bytes + len > WS_OUT_MAX) {
		LOG_WARN("ws", "%s: the client does not read; closing", f->peer_str);
		conn_close(f, LWS_CLOSE_STATUS_POLICY_VIOLATION, "send queue full");
		return -ENOBUFS;
	}
	if (c->in_rx && !c->out_head && len <= WS_DIRECT_MAX) {
		/* An answer made while its request is being received goes out
		 * at once: the socket was just readable and has room, and
		 * libwebsockets keeps what a partial write leaves. That saves a
		 * loop iteration per response, most of a small message's cost. */
		unsigned char frame[LWS_PRE + WS_DIRECT_MAX];
		memcpy(frame + LWS_PRE, buf, len);
		if (lws_write(c->wsi, frame + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len)
			return -EIO;
		return 0;
	}
	struct ws_out *o = malloc(sizeof *o + LWS_PRE + len);
	if (!o)
		return -ENOMEM;
	o->next = NULL;
	o->len = len;
	memcpy(o->data + LWS_PRE, buf, len);
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
	c->out_bytes += len;
	lws_callback_on_writable(c->wsi);
	return 0;
}

static void conn_close(struct sw_flow *f, int ws_code, const char *reason)
{
	struct ws_conn *c = f->tp_data;
	if (!c->wsi || c->close_code)
		return;
	c->close_code = ws_code ? ws_code : LWS_CLOSE_STATUS_NORMAL;
	/* With the reason stored, libwebsockets' close sends the Close frame
	 * and waits for the client's (up to 5 s) before LWS_CALLBACK_CLOSED.
	 * It is started with lws_set_timeout(LWS_TO_KILL_SYNC), not by
	 * returning -1 from a callback: on libuv, Debian's build closes a
	 * connection a callback asked to close a second time, before the Close
	 * frame is sent. Queued messages are dropped: a close is final. */
	size_t n = reason ? strlen(reason) : 0;
	if (n > 120)
		n = 120; /* a Close frame's payload is at most 125 bytes */
	lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
	                 (unsigned char *)(uintptr_t)reason, n);
	out_free_all(c);
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

static void conn_destroy(struct sw_flow *f)
{
	struct ws_conn *c = f->tp_data;
	out_free_all(c);
	free(c->rx);
	free(c);
}

/* Does the comma-separated header value list contain token? */
static bool list_has(const char *list, const char *token)
{
	size_t tl = strlen(token);
	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',' && *e != ' ' && *e != '\t')
			e++;
		if ((size_t)(e - p) == tl && strncmp(p, token, tl) == 0)
			return true;
		p = e;
	}
	return false;
}

/* The host part of "scheme://host[:port]" or of "host[:port]" (a Host header),
 * lowercase, without brackets' content changed. */
static void host_of(const char *s, char *out, size_t size)
{
	const char *p = strstr(s, "://");
	p = p ? p + 3 : s;
	size_t n = 0;
	if (*p == '[') {
		const char *e = strchr(p, ']');
		n = e ? (size_t)(e - p + 1) : strlen(p);
	} else {
		n = strcspn(p, ":/");
	}
	if (n >= size)
		n = size - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
	out[n] = 0;
}

static bool origin_allowed(struct sw_ws *ws, struct lws *wsi, char *why, size_t why_size)
{
	char origin[256], host[256];
	if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0)
		return true; /* not a browser: Origin protects browsers' users only */
	if (ws->cfg.n_allowed_origins) {
		for (size_t i = 0; i < ws->cfg.n_allowed_origins; i++)
			if (strcasecmp(origin, ws->cfg.allowed_origins[i]) == 0)
				return true;
		snprintf(why, why_size, "origin %s is not in ws.allowed_origins", origin);
		return false;
	}
	if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0) {
		snprintf(why, why_size, "no Host header");
		return false;
	}
	char oh[256], hh[256];
	host_of(origin, oh, sizeof oh);
	host_of(host, hh, sizeof hh);
	if (strcmp(oh, hh) == 0)
		return true;
	snprintf(why, why_size, "origin %.255s is not this host (%.255s); see ws.allowed_origins",
	         origin, hh);
	return false;
}

static struct ws_conn *conn_open(struct sw_ws *ws, struct lws *wsi)
{
	struct ws_conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	struct sockaddr_storage peer = {0}, local = {0};
	socklen_t pl = sizeof peer, ll = sizeof local;
	int fd = lws_get_socket_fd(wsi);
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
		pl = 0;
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&local, &ll) < 0)
		ll = 0;
	c->flow = sw_flow_new(lws_is_ssl(wsi) ? SW_TP_WSS : SW_TP_WS, &ws_flow_ops, c,
	                      (struct sockaddr *)&peer, pl, (struct sockaddr *)&local, ll);
	if (!c->flow) {
		free(c);
		return NULL;
	}
	c->ws = ws;
	c->wsi = wsi;
	c->next = ws->conns;
	if (ws->conns)
		ws->conns->prev = c;
	ws->conns = c;
	ws->n_conns++;
	ws->stats.accepted++;
	if (c->flow->tp == SW_TP_WSS)
		ws->stats.open_wss++;
	else
		ws->stats.open_ws++;
	return c;
}

static void conn_gone(struct ws_conn *c)
{
	struct sw_ws *ws = c->ws;
	if (c->prev)
		c->prev->next = c->next;
	else
		ws->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ws->n_conns--;
	if (c->flow->tp == SW_TP_WSS)
		ws->stats.open_wss--;
	else
		ws->stats.open_ws--;
	c->wsi = NULL;
	out_free_all(c);
	free(c->rx);
	c->rx = NULL;
	c->rx_len = 0;
	struct sw_flow *f = c->flow;
	/* Gone without a Close frame either way: libwebsockets hung up on a
	 * client that sent nothing, not even a Pong (a vanished peer, or one
	 * trickling a frame a byte at a time), or the peer's TCP went away. */
	gint64 silent_s = (g_get_monotonic_time() - c->heard_us) / G_USEC_PER_SEC;
	if (!c->close_code && !c->peer_closed && ws->cfg.idle_timeout_s &&
	    silent_s + 1 >= (gint64)ws->cfg.idle_timeout_s)
		LOG_INFO("ws", "%s %s #%llu: nothing heard for %lld s, not even a Pong: closed "
		               "(ws.idle_timeout)",
		         sw_tp_name(f->tp), f->peer_str, (unsigned long long)f->id,
		         (long long)silent_s);
	else
		LOG_DEBUG("ws", "%s %s #%llu closed%s", sw_tp_name(f->tp), f->peer_str,
		          (unsigned long long)f->id,
		          c->close_code || c->peer_closed ? "" : " without a Close frame");
	sw_flow_closed(f, &ws->cfg.sink);
	sw_flow_unref(f); /* the transport's reference */
}

/* RFC 3629 UTF-8, without overlong forms, surrogates or code points above
 * U+10FFFF: what RFC 6455 §8.1 requires of a text message. */
static bool utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		/* SIP is nearly all ASCII: skip it eight bytes at a time. */
		uint64_t w;
		if (n - i >= 8 && (memcpy(&w, p + i, 8), (w & 0x8080808080808080ull) == 0)) {
			i += 8;
			continue;
		}
		unsigned char b = p[i];
		if (b < 0x80) {
			i++;
			continue;
		}
		size_t len;
		uint32_t cp, min;
		if ((b & 0xe0) == 0xc0)
			len = 2, cp = b & 0x1f, min = 0x80;
		else if ((b & 0xf0) == 0xe0)
			len = 3, cp = b & 0x0f, min = 0x800;
		else if ((b & 0xf8) == 0xf0)
			len = 4, cp = b & 0x07, min = 0x10000;
		else
			return false;
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* Hand one whole WebSocket message to the sink, after RFC 6455's own check
 * (here rather than in libwebsockets, whose check closes without a Close
 * frame on libuv: see conn_close). */
static void deliver(struct ws_conn *c, struct lws *wsi, const char *msg, size_t len)
{
	struct sw_ws *ws = c->ws;
	if (!lws_frame_is_binary(wsi) && !utf8_valid((const unsigned char *)msg, len)) {
		LOG_INFO("ws", "%s: a text message that is not UTF-8; closing with 1007",
		         c->flow->peer_str);
		conn_close(c->flow, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "invalid UTF-8");
		return;
	}
	/* Heard: a whole message (pieces of one that never ends are not). */
	c->heard_us = g_get_monotonic_time();
	c->in_rx = true;
	ws->cfg.sink.on_message(ws->cfg.sink.arg, c->flow, msg, len);
	c->in_rx = false;
}

static void on_receive(struct ws_conn *c, struct lws *wsi, const char *in, size_t len)
{
	struct sw_ws *ws = c->ws;
	bool first = lws_is_first_fragment(wsi), last = lws_is_final_fragment(wsi);
	if (first) {
		free(c->rx);
		c->rx = NULL;
		c->rx_len = 0;
	}
	if (c->rx_len + len > ws->cfg.max_msg_size) {
		LOG_WARN("ws", "%s: message over %zu bytes; closing with 1009", c->flow->peer_str,
		         ws->cfg.max_msg_size);
		free(c->rx);
		c->rx = NULL;
		c->rx_len = 0;
		conn_close(c->flow, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
		return;
	}
	/* The common case, a message in one piece, is handed over in place. */
	if (first && last) {
		deliver(c, wsi, in, len);
		return;
	}
	char *n = realloc(c->rx, c->rx_len + len ? c->rx_len + len : 1);
	if (!n) {
		conn_close(c->flow, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return;
	}
	c->rx = n;
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (last) {
		char *msg = c->rx;
		size_t msg_len = c->rx_len;
		c->rx = NULL;
		c->rx_len = 0;
		deliver(c, wsi, msg, msg_len);
		free(msg);
	}
}

static int on_writable(struct ws_conn *c, struct lws *wsi)
{
	struct ws_out *o = c->out_head;
	if (!o || c->close_code)
		return 0;
	if (lws_write(wsi, o->data + LWS_PRE, o->len, LWS_WRITE_TEXT) < (int)o->len)
		return -1;
	c->out_head = o->next;
	if (!c->out_head)
		c->out_tail = NULL;
	c->out_bytes -= o->len;
	free(o);
	if (c->out_head)
		lws_callback_on_writable(wsi);
	return 0;
}

/* Sent with every demo file. The page may open a WebSocket to any server
 * (users point it elsewhere), and runs nothing that is not its own. */
static const char *const demo_headers[][2] = {
	{"x-content-type-options:", "nosniff"},
	{"cache-control:", "no-cache"},
	{"referrer-policy:", "no-referrer"},
	{"content-security-policy:",
	 "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
	 "media-src 'self' blob: mediastream:; object-src 'none'; base-uri 'none'; "
	 "frame-ancestors 'none'"},
};

/* The extra headers in the connection's own encoding (HTTP/1.1 text, or
 * HPACK on HTTP/2, which the WSS port offers by ALPN). Their length, or -1. */
static int demo_header_block(struct lws *wsi, unsigned char *buf, size_t size)
{
	unsigned char *p = buf, *end = buf + size;
	for (size_t i = 0; i < sizeof demo_headers / sizeof demo_headers[0]; i++) {
		const char *v = demo_headers[i][1];
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)demo_headers[i][0],
		                                (const unsigned char *)v, (int)strlen(v), &p, end))
			return -1;
	}
	return (int)(p - buf);
}

static int http_answer(struct lws *wsi, unsigned status)
{
	if (lws_return_http_status(wsi, status, NULL))
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* The softphone's file at req->path, else 404. */
static int serve_demo_file(struct sw_ws *ws, struct lws *wsi, const struct sw_http_request *req)
{
	char file[PATH_MAX];
	const char *type;
	if (!ws->cfg.demo || sw_http_files_lookup(ws->cfg.demo, req->path, file, sizeof file, &type) < 0) {
		LOG_DEBUG("http", "%s %.200s: 404", req->method, req->path);
		return http_answer(wsi, HTTP_STATUS_NOT_FOUND);
	}
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
		return http_answer(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED);
	unsigned char headers[512];
	int hl = demo_header_block(wsi, headers, sizeof headers);
	if (hl < 0)
		return -1;
	int n = lws_serve_http_file(wsi, file, type, (const char *)headers, hl);
	if (n < 0)
		return -1;
	return n > 0 && lws_http_transaction_completed(wsi) ? -1 : 0;
}

static const char *http_method(struct lws *wsi)
{
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
		return "GET";
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI))
		return "HEAD";
	if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
		return "POST";
	return "OTHER";
}

/* Plain HTTP on the WebSocket ports: the owner's handler decides (health,
 * metrics), this only writes its answer, headers and body in one write. */
static int serve_http(struct sw_ws *ws, struct lws *wsi, const char *path)
{
	struct sockaddr_storage peer = {0};
	socklen_t pl = sizeof peer;
	int fd = lws_get_socket_fd(wsi);
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
		peer.ss_family = AF_UNSPEC;
	struct sw_http_request req = {
		.method = http_method(wsi),
		.path = path ? path : "/",
		.peer = (struct sockaddr *)&peer,
		.tls = lws_is_ssl(wsi) != 0,
	};
	struct sw_http_reply reply = {0};
	ws->stats.http_requests++;
	if (ws->cfg.http)
		ws->cfg.http(ws->cfg.http_arg, &req, &reply);
	if (!reply.status) {
		free(reply.body);
		return serve_demo_file(ws, wsi, &req);
	}
	bool head = strcmp(req.method, "HEAD") == 0;
	size_t body_len = head ? 0 : reply.len;
	unsigned char *buf = malloc(LWS_PRE + 512 + body_len);
	if (!buf) {
		free(reply.body);
		return -1;
	}
	unsigned char *start = buf + LWS_PRE, *p = start, *end = start + 512;
	int rc = -1;
	if (lws_add_http_common_headers(wsi, (unsigned)reply.status,
	                                reply.content_type ? reply.content_type : "text/plain",
	                                reply.len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
	                                 (const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_http_header(wsi, &p, end))
		goto out;
	if (body_len)
		memcpy(p, reply.body, body_len);
	p += body_len;
	if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) < 0)
		goto out;
	rc = lws_http_transaction_completed(wsi);
out:
	free(buf);
	free(reply.body);
	return rc;
}

/* The socket's HTTP request (an upgrade or a plain GET) arrived whole. */
static void handshake_done(struct sw_ws *ws, struct lws *wsi)
{
	g_hash_table_remove(ws->pending, GINT_TO_POINTER(lws_get_socket_fd(wsi)));
}

/* An HTTP connection ended: one that never sent a whole request within the
 * handshake time was cut by it (a slow or silent client): say so. */
static void handshake_gone(struct sw_ws *ws, struct lws *wsi)
{
	int fd = lws_get_socket_fd(wsi);
	gpointer at;
	if (!g_hash_table_lookup_extended(ws->pending, GINT_TO_POINTER(fd), NULL, &at))
		return;
	g_hash_table_remove(ws->pending, GINT_TO_POINTER(fd));
	gint64 waited_ms = (g_get_monotonic_time() - (gint64)GPOINTER_TO_SIZE(at)) / 1000;
	gint64 limit_ms = (gint64)ws->cfg.handshake_timeout_s * 1000;
	if (!limit_ms || waited_ms + 500 < limit_ms)
		return; /* the client left by itself */
	struct sockaddr_storage peer;
	socklen_t pl = sizeof peer;
	char addr[80] = "?";
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&peer, &pl) == 0)
		sw_sockaddr_str((const struct sockaddr *)&peer, addr, sizeof addr);
	LOG_INFO("ws", "%s: no whole HTTP request in %lld ms: closed (limits.handshake_timeout)",
	         addr, (long long)waited_ms);
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
	struct sw_ws *ws = lws_context_user(lws_get_context(wsi));
	/* user is the connection's memory only for the connection's own
	 * reasons; the TLS and network filter ones pass other things in it. */
	struct ws_conn **pc = user;
	struct ws_conn *c = NULL;
	char why[640];

	switch (reason) {
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_RECEIVE_PONG:
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_CLOSED:
		c = pc ? *pc : NULL;
		break;
	default:
		break;
	}

	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* The WSS vhost's context, made before its certificate is
		 * loaded: our policy goes on it, and a reload replaces the
		 * certificate in it. */
		ws->tls_ctx = user;
		return sw_tls_apply_policy(ws->tls_ctx) < 0 ? 1 : 0;
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: {
		const struct lws_filter_network_conn_args *a = user;
		if (ws->stopping)
			return 1;
		if (!a)
			return 0;
		if (!ws->cfg.sink.admit) {
			g_hash_table_insert(ws->pending, GINT_TO_POINTER((int)a->accept_fd),
			                    GSIZE_TO_POINTER((gsize)g_get_monotonic_time()));
			return 0;
		}
		const char *vh = lws_get_vhost_name(lws_get_vhost(wsi));
		enum sw_tp tp = vh && strcmp(vh, "wss") == 0 ? SW_TP_WSS : SW_TP_WS;
		if (!ws->cfg.sink.admit(ws->cfg.sink.arg, tp, (const struct sockaddr *)&a->cli_addr))
			return 1;
		g_hash_table_insert(ws->pending, GINT_TO_POINTER((int)a->accept_fd),
		                    GSIZE_TO_POINTER((gsize)g_get_monotonic_time()));
		return 0;
	}
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
		char proto[256];
		handshake_done(ws, wsi);
		if (ws->stopping || ws->refusing) {
			LOG_INFO("ws", "refused a WebSocket: draining");
			ws->stats.refused++;
			return 1;
		}
		if (lws_hdr_copy(wsi, proto, sizeof proto, WSI_TOKEN_PROTOCOL) <= 0 ||
		    !list_has(proto, "sip")) {
			LOG_INFO("ws", "refused a WebSocket that does not offer the subprotocol sip");
			ws->stats.refused++;
			return 1;
		}
		if (!origin_allowed(ws, wsi, why, sizeof why)) {
			LOG_INFO("ws", "refused a WebSocket: %s", why);
			ws->stats.refused++;
			return 1;
		}
		return 0;
	}
	case LWS_CALLBACK_ESTABLISHED:
		c = conn_open(ws, wsi);
		if (!c)
			return -1;
		c->heard_us = g_get_monotonic_time();
		*pc = c;
		LOG_DEBUG("ws", "%s %s #%llu open", sw_tp_name(c->flow->tp), c->flow->peer_str,
		          (unsigned long long)c->flow->id);
		if (ws->stopping)
			conn_close(c->flow, LWS_CLOSE_STATUS_GOINGAWAY, "shutting down");
		else if (ws->cfg.sink.on_open && !ws->cfg.sink.on_open(ws->cfg.sink.arg, c->flow))
			conn_close(c->flow, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too many connections");
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (c && !c->close_code)
			on_receive(c, wsi, in, len);
		return 0;
	case LWS_CALLBACK_RECEIVE_PONG:
		if (c)
			c->heard_us = g_get_monotonic_time();
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (c)
			c->peer_closed = true;
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c ? on_writable(c, wsi) : 0;
	case LWS_CALLBACK_CLOSED:
		if (c) {
			*pc = NULL;
			conn_gone(c);
		}
		return 0;
	case LWS_CALLBACK_HTTP:
		handshake_done(ws, wsi);
		return serve_http(ws, wsi, in);
	case LWS_CALLBACK_CLOSED_HTTP:
		handshake_gone(ws, wsi);
		return 0;
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static gboolean uv_src_prepare(GSource *src, gint *timeout)
{
	struct uv_gsource *u = (struct uv_gsource *)src;
	uv_update_time(u->loop);
	*timeout = uv_backend_timeout(u->loop);
	return *timeout == 0;
}

static gboolean uv_src_check(GSource *src)
{
	struct uv_gsource *u = (struct uv_gsource *)src;
	if (g_source_query_unix_fd(src, u->tag) & G_IO_IN)
		return TRUE;
	uv_update_time(u->loop);
	return uv_backend_timeout(u->loop) == 0;
}

static gboolean uv_src_dispatch(GSource *src, GSourceFunc cb, gpointer data)
{
	struct uv_gsource *u = (struct uv_gsource *)src;
	uv_run(u->loop, UV_RUN_NOWAIT);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs uv_src_funcs = {
	.prepare = uv_src_prepare,
	.check = uv_src_check,
	.dispatch = uv_src_dispatch,
};

/* Run the libuv loop until nothing is left on it (bounded: handles that
 * never close must not hang a stop). */
static void uv_drain(struct sw_ws *ws)
{
	for (int i = 0; i < 1000 && uv_loop_alive(&ws->uv); i++)
		uv_run(&ws->uv, UV_RUN_NOWAIT);
}

static void lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		LOG_ERR("lws", "%.*s", (int)n, line);
	else if (level & LLL_WARN)
		LOG_WARN("lws", "%.*s", (int)n, line);
	else
		LOG_DEBUG("lws", "%.*s", (int)n, line);
}

static int add_vhost(struct sw_ws *ws, const char *name, unsigned port, bool tls)
{
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.vhost_name = name;
	info.port = (int)port;
	info.iface = ws->cfg.bind;
	info.protocols = ws->protocols;
	info.retry_and_idle_policy = &ws->retry;
	/* How long a new socket may hold its HTTP header space before the
	 * upgrade is done: a client that sends its request a byte at a time,
	 * or nothing at all, is cut then (the time is not renewed per byte). */
	info.timeout_secs_ah_idle = ws->cfg.handshake_timeout_s;
	info.options = 0; /* UTF-8 is checked in deliver() */
	/* libwebsockets 4.1 with IPv6 on writes an IPv4 bind address into the
	 * wrong field of a sockaddr_in6 and so listens on every interface:
	 * an IPv4 address gets an IPv4 socket. */
	if (!strchr(ws->cfg.bind, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (tls) {
		info.ssl_cert_filepath = ws->cfg.cert_file;
		info.ssl_private_key_filepath = ws->cfg.key_file;
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		/* HTTP/1.1 only: a page served over HTTP/2 makes Chrome open
		 * its WebSocket inside that connection (RFC 8441), which has no
		 * Host header for the origin check and is not the path the
		 * transport is built and tested on. */
		info.alpn = "http/1.1";
	}
	if (!lws_create_vhost(ws->ctx, &info)) {
		LOG_ERR("ws", "cannot listen for %s on %s port %u (in use, or a bad certificate?)",
		        tls ? "WSS" : "WS", ws->cfg.bind, port);
		return -EADDRINUSE;
	}
	LOG_INFO("ws", "listening for %s on %s:%u", tls ? "WSS" : "WS", ws->cfg.bind, port);
	return 0;
}

int sw_ws_new(struct sw_ws **out, const struct sw_ws_config *cfg)
{
	*out = NULL;
	struct sw_ws *ws = calloc(1, sizeof *ws);
	if (!ws)
		return -ENOMEM;
	ws->cfg = *cfg;
	ws->protocols[0] = (struct lws_protocols){
		.name = "sip",
		.callback = ws_callback,
		.per_session_data_size = sizeof(struct ws_conn *),
		/* Reads come in pieces of this size; a bigger message is
		 * gathered in the connection's own buffer. */
		.rx_buffer_size = 4096,
	};
	ws->retry = (lws_retry_bo_t){
		.secs_since_valid_ping = (uint16_t)cfg->ping_interval_s,
		.secs_since_valid_hangup = (uint16_t)cfg->idle_timeout_s,
	};

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	if (uv_loop_init(&ws->uv) != 0) {
		free(ws);
		return -EIO;
	}
	ws->uv_inited = true;
	ws->pending = g_hash_table_new(g_direct_hash, g_direct_equal);
	ws->uv_src = (struct uv_gsource *)g_source_new(&uv_src_funcs, sizeof *ws->uv_src);
	ws->uv_src->loop = &ws->uv;
	ws->uv_src->tag = g_source_add_unix_fd(&ws->uv_src->src, uv_backend_fd(&ws->uv), G_IO_IN);
	g_source_attach(&ws->uv_src->src, g_main_loop_get_context(cfg->loop));

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	void *loops[] = {&ws->uv};
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_LIBUV |
	               LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.foreign_loops = loops;
	info.user = ws;
	info.fd_limit_per_thread = cfg->max_connections ? cfg->max_connections + 64 : 0;
	/* The TLS handshake's limit (and other network waits of the library). */
	info.timeout_secs = cfg->handshake_timeout_s;
	info.count_threads = 1;
	ws->ctx = lws_create_context(&info);
	if (!ws->ctx) {
		LOG_ERR("ws", "cannot start libwebsockets on libuv "
		              "(is libwebsockets-evlib-uv installed?)");
		sw_ws_free(ws);
		return -EIO;
	}
	int rc = 0;
	if (cfg->ws_port && (rc = add_vhost(ws, "ws", cfg->ws_port, false)) < 0)
		goto fail;
	if (cfg->wss_port && (rc = add_vhost(ws, "wss", cfg->wss_port, true)) < 0)
		goto fail;
	*out = ws;
	return 0;
fail:
	sw_ws_free(ws);
	return rc;
}

void sw_ws_shutdown(struct sw_ws *ws)
{
	if (!ws)
		return;
	ws->stopping = true;
	/* A close may end a connection at once (unlinking it): step first. */
	for (struct ws_conn *c = ws->conns, *next; c; c = next) {
		next = c->next;
		conn_close(c->flow, LWS_CLOSE_STATUS_GOINGAWAY, "shutting down");
	}
}

void sw_ws_refuse_new(struct sw_ws *ws)
{
	if (ws)
		ws->refusing = true;
}

size_t sw_ws_connections(const struct sw_ws *ws) { return ws ? ws->n_conns : 0; }

void sw_ws_stats(const struct sw_ws *ws, struct sw_ws_stats *out)
{
	if (ws)
		*out = ws->stats;
	else
		*out = (struct sw_ws_stats){0};
}

int sw_ws_reload_tls(struct sw_ws *ws)
{
	if (!ws || !ws->cfg.wss_port)
		return 0;
	if (!ws->tls_ctx)
		return -ENOENT;
	int rc = sw_tls_reload_cert(ws->tls_ctx, ws->cfg.cert_file, ws->cfg.key_file);
	if (rc == 0)
		LOG_INFO("ws", "WSS certificate reloaded from %s (%zu connection%s kept)",
		         ws->cfg.cert_file, ws->n_conns, ws->n_conns == 1 ? "" : "s");
	else
		LOG_ERR("ws", "WSS certificate not reloaded: the one in use stays");
	return rc;
}

void sw_ws_free(struct sw_ws *ws)
{
	if (!ws)
		return;
	/* On a foreign libuv loop, libwebsockets' destroy is two calls: the
	 * first starts closing its handles, which completes on the loop; the
	 * second frees the context. */
	if (ws->ctx) {
		lws_context_destroy(ws->ctx);
		uv_drain(ws);
		lws_context_destroy(ws->ctx);
	}
	if (ws->uv_inited) {
		uv_drain(ws);
		if (uv_loop_close(&ws->uv) != 0)
			LOG_WARN("ws", "the libuv loop still had handles when closed");
	}
	if (ws->uv_src) {
		g_source_destroy(&ws->uv_src->src);
		g_source_unref(&ws->uv_src->src);
	}
	/* Connections libwebsockets dropped without a CLOSED callback. */
	while (ws->conns)
		conn_gone(ws->conns);
	if (ws->pending)
		g_hash_table_destroy(ws->pending);
	free(ws);
}
