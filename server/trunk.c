/* trunk.c — see trunk.h. SIP over UDP, TCP and TLS on the signalling loop.
 *
 * Every socket is non-blocking. The UDP socket and the listeners each have a
 * small custom GSource on the configured GMainContext; connections share one
 * epoll set behind a single GSource, because GLib visits every source on
 * every iteration and a source per connection would make each wake-up of the
 * whole daemon cost O(connections). TCP and TLS share one stream connection
 * type (struct conn) that carries an optional SSL object: connect, TLS
 * handshake, framing (sw_flow_stream_input) and the send queue are the same
 * code for both. Name resolution lives in resolve.c. */
#include "server/trunk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/certs.h"
#include "server/log.h"
#include "server/trunk_priv.h"

#define SUBSYS "trunk"

/* One read: the largest UDP datagram fits. */
#define RX_CHUNK 65536
/* Bytes read from one connection per wake-up, so one busy peer cannot
 * starve the others; the rest is read on the next loop iteration. */
#define STREAM_READ_BUDGET (256 * 1024)
/* Datagrams read per wake-up, for the same reason. */
#define UDP_BATCH 256
/* Connection events taken from epoll per wake-up. */
#define EPOLL_BATCH 256
/* A peer that does not read what we send is dropped past this. */
#define TX_QUEUE_MAX (1u << 20)
/* Kernel receive buffer asked for the UDP socket (capped by rmem_max):
 * bursts of retransmissions must not be dropped while the loop is busy. */
#define UDP_RCVBUF         (4 << 20)
#define CONNECT_TIMEOUT_US (10 * G_USEC_PER_SEC)
/* A UDP flow nobody references is forgotten after this long unused. */
#define UDP_IDLE_US (5 * 60 * G_USEC_PER_SEC)
/* The UDP table is swept every this many ticks of the 1 s housekeeping timer. */
#define UDP_SWEEP_TICKS 30

/* ---- keys: transport + address, compared bytewise ---- */

struct peer_key {
	uint8_t tp;
	uint8_t family;
	uint16_t port; /* network order */
	uint8_t addr[16];
	uint32_t scope;
};

static guint peer_key_hash(gconstpointer p)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < sizeof(struct peer_key); i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static gboolean peer_key_equal(gconstpointer a, gconstpointer b)
{
	return memcmp(a, b, sizeof(struct peer_key)) == 0;
}

/* An IPv4-mapped IPv6 address (from a dual-stack socket) as plain IPv4, so
 * the same peer has one key and one printable form whichever socket saw it. */
static void addr_normalize(struct sockaddr_storage *ss)
{
	if (ss->ss_family != AF_INET6)
		return;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)ss;
	if (!IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = s6->sin6_port};
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof *ss);
	memcpy(ss, &s4, sizeof s4);
}

static int peer_key_set(struct peer_key *k, enum sw_tp tp, const struct sockaddr *sa)
{
	memset(k, 0, sizeof *k);
	k->tp = (uint8_t)tp;
	k->family = (uint8_t)sa->sa_family;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
		k->port = s4->sin_port;
		memcpy(k->addr, &s4->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
		k->port = s6->sin6_port;
		memcpy(k->addr, &s6->sin6_addr, 16);
		k->scope = s6->sin6_scope_id;
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* ---- a GSource watching one fd ---- */

/* pending: run the handler on the next iteration even without an event (a
 * deferred error, or data left inside the TLS layer). */
struct fd_watch {
	GSource base;
	gpointer tag;
	void (*on_ready)(void *obj, GIOCondition rev);
	void *obj;
	bool pending;
};

static gboolean fd_watch_prepare(GSource *s, gint *timeout)
{
	*timeout = -1;
	return ((struct fd_watch *)(void *)s)->pending;
}

static gboolean fd_watch_check(GSource *s)
{
	struct fd_watch *w = (struct fd_watch *)(void *)s;
	return w->pending || g_source_query_unix_fd(s, w->tag) != 0;
}

static gboolean fd_watch_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
	struct fd_watch *w = (struct fd_watch *)(void *)s;
	GIOCondition rev = g_source_query_unix_fd(s, w->tag);
	w->pending = false;
	w->on_ready(w->obj, rev);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs fd_watch_funcs = {
    .prepare = fd_watch_prepare,
    .check = fd_watch_check,
    .dispatch = fd_watch_dispatch,
};

static struct fd_watch *fd_watch_new(GMainContext *ctx, int fd, GIOCondition cond,
                                     void (*on_ready)(void *, GIOCondition), void *obj)
{
	GSource *s = g_source_new(&fd_watch_funcs, sizeof(struct fd_watch));
	struct fd_watch *w = (struct fd_watch *)(void *)s;
	w->tag = g_source_add_unix_fd(s, fd, cond);
	w->on_ready = on_ready;
	w->obj = obj;
	g_source_attach(s, ctx);
	return w;
}

static void fd_watch_free(struct fd_watch *w)
{
	if (!w)
		return;
	g_source_destroy(&w->base);
	g_source_unref(&w->base);
}

/* ---- the trunk ---- */

struct listener {
	struct sw_trunk *t;
	enum sw_tp tp;
	int fd;
	unsigned port;
	struct fd_watch *watch;
	bool paused; /* out of file descriptors: resumed by the next tick */
	struct sockaddr_storage local;
};

struct conn;

struct sw_trunk {
	GMainContext *ctx;
	struct sw_trunk_config cfg; /* strings point at the copies below */
	char *bind, *tls_cert_file, *tls_key_file, *tls_ca_file;
	struct sockaddr_storage bind_addr;
	struct sip_msg *scratch; /* one framing parser for every connection */
	char *rxbuf;             /* one read buffer for every socket */

	int udp_fd;
	unsigned udp_port; /* the listener's port; 0 when only sending */
	struct fd_watch *udp_watch;
	struct sockaddr_storage udp_local;
	GHashTable *udp_peers; /* struct peer_key * -> struct udp_peer * */

	struct listener tcp, tls;
	SSL_CTX *tls_server, *tls_client;
	GHashTable *conns; /* struct peer_key * -> struct conn *, for reuse */
	struct conn *conn_list;

	int epfd; /* every connection's socket */
	struct fd_watch *ep_watch;
	/* Connections to run without a socket event (a deferred error, bytes
	 * inside the TLS layer, a read budget used up), oldest first. */
	struct conn *pending_head, *pending_tail;
	bool in_batch;          /* dispatching connection events */
	struct conn *graveyard; /* closed during the batch, freed after it */

	GSource *tick;
	unsigned ticks;
	struct sw_resolve *resolves;
	bool shutting_down; /* in sw_trunk_free: no new flows */
};

GMainContext *sw_trunk_ctx(const struct sw_trunk *t)
{
	return t->ctx;
}
struct sw_resolve **sw_trunk_resolves(struct sw_trunk *t)
{
	return &t->resolves;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return 0;
}

static bool addr_is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
	return true;
}

static void addr_set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)(void *)ss)->sin_port = htons((uint16_t)port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)(void *)ss)->sin6_port = htons((uint16_t)port);
}


static void log_ssl_errors(const char *what)
{
	unsigned long e;
	char buf[256];
	bool any = false;
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof buf);
		LOG_WARN(SUBSYS, "%s: %s", what, buf);
		any = true;
	}
	if (!any)
		LOG_WARN(SUBSYS, "%s", what);
}

/* ---- UDP ---- */

/* One remote address seen on (or sent to from) the UDP socket. The table
 * holds the flow's transport reference. */
struct udp_peer {
	struct peer_key key;
	struct sw_trunk *t;
	struct sw_flow *flow;
	gint64 last_used;
};

static void udp_peer_close(struct udp_peer *p)
{
	struct sw_flow *f = p->flow;
	g_hash_table_remove(p->t->udp_peers, &p->key);
	f->tp_data = NULL;
	LOG_DEBUG(SUBSYS, "UDP flow %llu to %s forgotten", (unsigned long long)f->id, f->peer_str);
	sw_flow_closed(f, &p->t->cfg.sink);
	free(p);
	sw_flow_unref(f);
}

/* The destination for sendto: a v4 peer through a v6 socket goes as a
 * v4-mapped address. */
static socklen_t udp_dest(const struct sw_trunk *t, const struct sockaddr *peer,
                          struct sockaddr_storage *out)
{
	if (t->udp_local.ss_family == AF_INET6 && peer->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)peer;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)out;
		memset(out, 0, sizeof *out);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = s4->sin_port;
		s6->sin6_addr.s6_addr[10] = 0xff;
		s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6->sin6_addr.s6_addr[12], &s4->sin_addr, 4);
		return sizeof *s6;
	}
	socklen_t len = sw_sockaddr_len(peer);
	memcpy(out, peer, len);
	return len;
}

static int udp_send(struct sw_flow *f, const char *buf, size_t len)
{
	struct udp_peer *p = f->tp_data;
	if (!p)
		return -EPIPE;
	struct sockaddr_storage dst;
	socklen_t dlen = udp_dest(p->t, (const struct sockaddr *)&f->peer, &dst);
	p->last_used = g_get_monotonic_time();
	ssize_t n;
	do
		n = sendto(p->t->udp_fd, buf, len, 0, (const struct sockaddr *)&dst, dlen);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int err = errno;
		LOG_DEBUG(SUBSYS, "UDP send to %s: %s", f->peer_str, strerror(err));
		return -err;
	}
	LOG_DEBUG(SUBSYS, "UDP sent %zu bytes to %s", len, f->peer_str);
	return 0;
}

static void udp_close(struct sw_flow *f, int ws_code, const char *reason)
{
	if (f->tp_data)
		udp_peer_close(f->tp_data);
}

static const struct sw_flow_ops udp_ops = {.send = udp_send, .close = udp_close};

/* A socket bound to the wildcard address has no one address to put in Via
 * and Contact: ask the routing table which source address reaches addr (a
 * connected UDP socket sends nothing), keeping the socket's port. */
static void udp_route_source(const struct sw_trunk *t, const struct sockaddr *addr,
                             struct sockaddr_storage *local)
{
	struct sockaddr_storage dst, src;
	socklen_t dlen = udp_dest(t, addr, &dst), slen = sizeof src;
	int fd = socket(dst.ss_family, SOCK_DGRAM, 0);
	if (fd < 0)
		return;
	if (connect(fd, (const struct sockaddr *)&dst, dlen) == 0 &&
	    getsockname(fd, (struct sockaddr *)&src, &slen) == 0) {
		unsigned port = sw_sockaddr_port((const struct sockaddr *)local);
		addr_normalize(&src);
		addr_set_port(&src, port);
		*local = src;
	}
	close(fd);
}

/* The peer for addr (normalized), created when new. NULL: out of memory or
 * an address family the socket cannot reach. */
static struct udp_peer *udp_peer_get(struct sw_trunk *t, const struct sockaddr *addr)
{
	struct peer_key k;
	if (peer_key_set(&k, SW_TP_UDP, addr) < 0)
		return NULL;
	struct udp_peer *p = g_hash_table_lookup(t->udp_peers, &k);
	if (p)
		return p;
	if (t->udp_local.ss_family == AF_INET && addr->sa_family != AF_INET)
		return NULL;
	p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->key = k;
	p->t = t;
	p->last_used = g_get_monotonic_time();
	struct sockaddr_storage local = t->udp_local;
	if (addr_is_wildcard((const struct sockaddr *)&local))
		udp_route_source(t, addr, &local);
	p->flow = sw_flow_new(SW_TP_UDP, &udp_ops, p, addr, sw_sockaddr_len(addr),
	                      (const struct sockaddr *)&local,
	                      sw_sockaddr_len((const struct sockaddr *)&local));
	if (!p->flow) {
		free(p);
		return NULL;
	}
	g_hash_table_insert(t->udp_peers, &p->key, p);
	LOG_DEBUG(SUBSYS, "UDP flow %llu to %s", (unsigned long long)p->flow->id,
	          p->flow->peer_str);
	return p;
}

/* Keep-alives some UAs send over UDP (CRLF, a lone NUL): not SIP messages. */
static bool udp_is_keepalive(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != '\r' && buf[i] != '\n' && buf[i] != '\0' && buf[i] != ' ')
			return false;
	return true;
}

static void udp_on_ready(void *obj, GIOCondition rev)
{
	struct sw_trunk *t = obj;
	for (unsigned i = 0; i < UDP_BATCH; i++) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof from;
		ssize_t n =
		    recvfrom(t->udp_fd, t->rxbuf, RX_CHUNK, 0, (struct sockaddr *)&from, &flen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				LOG_WARN(SUBSYS, "UDP receive: %s", strerror(errno));
			return;
		}
		if (udp_is_keepalive(t->rxbuf, (size_t)n))
			continue;
		addr_normalize(&from);
		struct udp_peer *p = udp_peer_get(t, (const struct sockaddr *)&from);
		if (!p)
			continue;
		p->last_used = g_get_monotonic_time();
		struct sw_flow *f = sw_flow_ref(p->flow);
		LOG_DEBUG(SUBSYS, "UDP received %zd bytes from %s", n, f->peer_str);
		t->cfg.sink.on_message(t->cfg.sink.arg, f, t->rxbuf, (size_t)n);
		sw_flow_unref(f);
	}
}

static int udp_open(struct sw_trunk *t)
{
	struct sockaddr_storage sa = t->bind_addr;
	addr_set_port(&sa, t->cfg.sip_port);
	int fd = socket(sa.ss_family, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	int one = 1, rcvbuf = UDP_RCVBUF;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	socklen_t len = sizeof t->udp_local;
	if (set_nonblock(fd) < 0 ||
	    bind(fd, (const struct sockaddr *)&sa, sw_sockaddr_len((const struct sockaddr *)&sa)) <
	        0 ||
	    getsockname(fd, (struct sockaddr *)&t->udp_local, &len) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	t->udp_fd = fd;
	t->udp_port = t->cfg.sip_port;
	t->udp_watch = fd_watch_new(t->ctx, fd, G_IO_IN, udp_on_ready, t);
	return 0;
}

/* ---- TCP and TLS connections ---- */

enum conn_state { CONN_CONNECTING, CONN_HANDSHAKE, CONN_OPEN, CONN_CLOSED };

/* One TCP or TLS connection. Buffers exist only while they hold bytes; an
 * idle plain TCP connection is this struct, its flow and its GSource. */
struct conn {
	struct peer_key key;
	struct sw_trunk *t;
	struct sw_flow *flow; /* the transport's reference; NULL once closed */
	struct conn *prev, *next;
	struct conn *pending_prev, *pending_next;
	SSL *ssl;
	char *in; /* a partial message waiting for the rest */
	size_t in_len;
	char *out; /* bytes the socket did not take yet: out[out_off..out_len) */
	size_t out_off, out_len, out_cap;
	gint64 last_active;
	gint64 partial_since; /* when the partial message in `in` began arriving */
	gint64 deadline; /* connect + handshake must finish by then; 0: none */
	int fd;
	int fail;        /* an error to close with on the next dispatch (errno) */
	uint32_t events; /* what epoll watches for */
	uint8_t state;
	bool inbound;
	bool in_map;
	bool pending;
	bool tls_want_write;
};

static void conn_free(struct conn *c)
{
	free(c->in);
	free(c->out);
	free(c);
}

static void conn_update_watch(struct conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	GIOCondition cond;
	switch (c->state) {
	case CONN_CONNECTING:
		cond = G_IO_OUT;
		break;
	case CONN_HANDSHAKE:
		cond = c->tls_want_write ? G_IO_OUT : G_IO_IN;
		break;
	default:
		cond = G_IO_IN;
		if (c->out_len > c->out_off || c->tls_want_write)
			cond |= G_IO_OUT;
	}
	uint32_t ev = ((cond & G_IO_IN) ? EPOLLIN : 0) | ((cond & G_IO_OUT) ? EPOLLOUT : 0);
	if (ev == c->events)
		return;
	struct epoll_event e = {.events = ev, .data.ptr = c};
	if (epoll_ctl(c->t->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

/* Run c on the next iteration even without a socket event. */
static void conn_set_pending(struct conn *c)
{
	struct sw_trunk *t = c->t;
	if (c->pending)
		return;
	c->pending = true;
	c->pending_next = NULL;
	c->pending_prev = t->pending_tail;
	if (t->pending_tail)
		t->pending_tail->pending_next = c;
	else
		t->pending_head = c;
	t->pending_tail = c;
	t->ep_watch->pending = true;
	g_main_context_wakeup(t->ctx);
}

static void conn_clear_pending(struct conn *c)
{
	struct sw_trunk *t = c->t;
	if (!c->pending)
		return;
	c->pending = false;
	if (c->pending_prev)
		c->pending_prev->pending_next = c->pending_next;
	else
		t->pending_head = c->pending_next;
	if (c->pending_next)
		c->pending_next->pending_prev = c->pending_prev;
	else
		t->pending_tail = c->pending_prev;
	c->pending_prev = c->pending_next = NULL;
}

/* Read what is left in the kernel's receive buffer, so that close() sends a
 * FIN rather than a reset that could destroy our last answer (a 400) before
 * the peer has read it. */
static void drain_socket(int fd)
{
	char buf[4096];
	for (int i = 0; i < 16; i++)
		if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0)
			break;
}

static ssize_t conn_write(struct conn *c, const char *buf, size_t len);

/* The connection is gone: release the socket, tell the sink, drop the
 * transport's reference. err is 0 for a close we asked for. */
static void conn_close(struct conn *c, int err, const char *why)
{
	if (c->state == CONN_CLOSED)
		return;
	struct sw_trunk *t = c->t;
	struct sw_flow *f = c->flow;
	bool was_open = c->state == CONN_OPEN;
	c->state = CONN_CLOSED;
	if (c->in_map && g_hash_table_lookup(t->conns, &c->key) == c)
		g_hash_table_remove(t->conns, &c->key);
	c->in_map = false;
	if (c->prev)
		c->prev->next = c->next;
	else
		t->conn_list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;

	if (err)
		LOG_INFO(SUBSYS, "%s connection %llu %s %s closed: %s%s%s", sw_tp_name(f->tp),
		         (unsigned long long)f->id, c->inbound ? "from" : "to", f->peer_str,
		         strerror(err), why ? ", " : "", why ? why : "");
	else
		LOG_INFO(SUBSYS, "%s connection %llu %s %s closed%s%s", sw_tp_name(f->tp),
		         (unsigned long long)f->id, c->inbound ? "from" : "to", f->peer_str,
		         why ? ": " : "", why ? why : "");

	conn_clear_pending(c);
	if (c->ssl) {
		/* close_notify, best effort: the socket is non-blocking. */
		if (was_open && err == 0) {
			ERR_clear_error();
			(void)SSL_shutdown(c->ssl);
		}
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
	}
	drain_socket(c->fd);
	close(c->fd); /* which takes it out of the epoll set */
	c->fd = -1;

	f->tp_data = NULL;
	c->flow = NULL;
	sw_flow_closed(f, &t->cfg.sink);
	sw_flow_unref(f);
	/* Inside a batch, later events of the same batch may still point at c. */
	if (t->in_batch) {
		c->next = t->graveyard;
		t->graveyard = c;
	} else {
		conn_free(c);
	}
}

/* Close on the next loop iteration rather than from inside a send: the
 * sink hears on_closed from the loop, never from inside its own call. */
static void conn_fail_later(struct conn *c, int err)
{
	if (!c->fail)
		c->fail = err;
	conn_set_pending(c);
}

static ssize_t conn_write(struct conn *c, const char *buf, size_t len)
{
	if (!c->ssl) {
		for (;;) {
			ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
			if (n >= 0)
				return n;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
	}
	ERR_clear_error();
	int n = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0) {
		c->tls_want_write = false;
		return n;
	}
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_WRITE:
		c->tls_want_write = true;
		return 0;
	case SSL_ERROR_WANT_READ:
		return 0; /* the read side is always watched */
	default:
		ERR_clear_error();
		return -EPIPE;
	}
}

/* Write what is queued. 0, or a negative errno (the caller closes). */
static int conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = conn_write(c, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		free(c->out);
		c->out = NULL;
		c->out_off = c->out_len = c->out_cap = 0;
	}
	conn_update_watch(c);
	return 0;
}

static int conn_queue(struct conn *c, const char *buf, size_t len)
{
	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len - c->out_off + len > TX_QUEUE_MAX)
		return -ENOBUFS;
	if (c->out_len + len > c->out_cap) {
		if (c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		size_t cap = c->out_cap ? c->out_cap : 1024;
		while (cap < c->out_len + len)
			cap *= 2;
		char *p = realloc(c->out, cap);
		if (!p)
			return -ENOMEM;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	return 0;
}

static int conn_send(struct sw_flow *f, const char *buf, size_t len)
{
	struct conn *c = f->tp_data;
	if (!c || c->state == CONN_CLOSED)
		return -EPIPE;
	if (c->fail)
		return -c->fail;
	c->last_active = g_get_monotonic_time();
	size_t done = 0;
	if (c->state == CONN_OPEN && c->out_len == c->out_off) {
		ssize_t n = conn_write(c, buf, len);
		if (n < 0) {
			conn_fail_later(c, (int)-n);
			return (int)n;
		}
		done = (size_t)n;
	}
	if (done < len) {
		int err = conn_queue(c, buf + done, len - done);
		if (err < 0) {
			LOG_WARN(SUBSYS, "%s connection %llu to %s: send queue full",
			         sw_tp_name(f->tp), (unsigned long long)f->id, f->peer_str);
			conn_fail_later(c, -err);
			return err;
		}
		conn_update_watch(c);
	}
	if (done)
		LOG_DEBUG(SUBSYS, "%s sent %zu bytes to %s", sw_tp_name(f->tp), done, f->peer_str);
	return 0;
}

static void conn_close_op(struct sw_flow *f, int ws_code, const char *reason)
{
	struct conn *c = f->tp_data;
	if (!c)
		return;
	/* What is queued gets one last chance to leave. */
	if (c->state == CONN_OPEN && c->out_len > c->out_off)
		(void)conn_flush(c);
	conn_close(c, 0, "closed locally");
}

static const struct sw_flow_ops conn_ops = {.send = conn_send, .close = conn_close_op};

/* Frame newly received bytes; keeps a partial message for the next read. */
static void conn_input(struct conn *c, const char *data, size_t n)
{
	struct sw_trunk *t = c->t;
	struct sw_flow *f = c->flow;
	c->last_active = g_get_monotonic_time();
	const char *buf = data;
	size_t len = n;
	if (c->in_len) {
		char *p = realloc(c->in, c->in_len + n);
		if (!p) {
			conn_close(c, ENOMEM, NULL);
			return;
		}
		memcpy(p + c->in_len, data, n);
		c->in = p;
		c->in_len += n;
		buf = c->in;
		len = c->in_len;
	}
	ssize_t used = sw_flow_stream_input(f, &t->cfg.sink, t->scratch, &t->cfg.limits, buf, len);
	if (c->state == CONN_CLOSED)
		return;
	if (used < 0) {
		conn_close(c, EPROTO, "lost SIP framing");
		return;
	}
	size_t rest = len - (size_t)used;
	if (rest == 0) {
		free(c->in);
		c->in = NULL;
		c->in_len = 0;
	} else if (buf == c->in) {
		if (used)
			c->partial_since = c->last_active;
		memmove(c->in, c->in + used, rest);
		c->in_len = rest;
	} else {
		c->in = malloc(rest);
		if (!c->in) {
			conn_close(c, ENOMEM, NULL);
			return;
		}
		memcpy(c->in, buf + used, rest);
		c->in_len = rest;
		c->partial_since = c->last_active;
	}
}

static void conn_read(struct conn *c)
{
	char *rx = c->t->rxbuf;
	size_t total = 0;
	while (c->state == CONN_OPEN) {
		if (total >= STREAM_READ_BUDGET) {
			conn_set_pending(c);
			return;
		}
		ssize_t n;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_read(c->ssl, rx, RX_CHUNK);
			if (r <= 0) {
				switch (SSL_get_error(c->ssl, r)) {
				case SSL_ERROR_WANT_READ:
					return;
				case SSL_ERROR_WANT_WRITE:
					c->tls_want_write = true;
					conn_update_watch(c);
					return;
				case SSL_ERROR_ZERO_RETURN:
					conn_close(c, 0, "closed by peer");
					return;
				default:
					ERR_clear_error();
					conn_close(c, ECONNRESET, "TLS read failed");
					return;
				}
			}
			n = r;
		} else {
			n = recv(c->fd, rx, RX_CHUNK, 0);
			if (n == 0) {
				conn_close(c, 0, "closed by peer");
				return;
			}
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					conn_close(c, errno, NULL);
				return;
			}
		}
		LOG_DEBUG(SUBSYS, "%s received %zd bytes from %s", sw_tp_name(c->flow->tp), n,
		          c->flow->peer_str);
		total += (size_t)n;
		conn_input(c, rx, (size_t)n);
	}
}

static void conn_now_open(struct conn *c)
{
	struct sw_flow *f = c->flow;
	c->state = CONN_OPEN;
	c->deadline = 0;
	c->last_active = g_get_monotonic_time();
	if (c->ssl)
		LOG_INFO(SUBSYS, "TLS connection %llu %s %s up (%s, %s)", (unsigned long long)f->id,
		         c->inbound ? "from" : "to", f->peer_str, SSL_get_version(c->ssl),
		         SSL_get_cipher_name(c->ssl));
	else if (!c->inbound)
		LOG_INFO(SUBSYS, "TCP connection %llu to %s up", (unsigned long long)f->id,
		         f->peer_str);
	/* Records that arrived with the handshake's last flight may already sit
	 * inside the TLS layer, where the socket watch cannot see them. */
	if (c->ssl)
		conn_set_pending(c);
	int err = conn_flush(c);
	if (err < 0)
		conn_close(c, -err, NULL);
}

static void conn_handshake(struct conn *c)
{
	ERR_clear_error();
	int r = c->inbound ? SSL_accept(c->ssl) : SSL_connect(c->ssl);
	if (r == 1) {
		c->tls_want_write = false;
		conn_now_open(c);
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		c->tls_want_write = false;
		conn_update_watch(c);
		return;
	case SSL_ERROR_WANT_WRITE:
		c->tls_want_write = true;
		conn_update_watch(c);
		return;
	default:
		break;
	}
	long vr = SSL_get_verify_result(c->ssl);
	if (!c->inbound && vr != X509_V_OK) {
		ERR_clear_error();
		conn_close(c, EPROTO, X509_verify_cert_error_string(vr));
		return;
	}
	unsigned long e = ERR_peek_error();
	char buf[160] = "TLS handshake failed";
	if (e) {
		snprintf(buf, sizeof buf, "TLS handshake failed: ");
		size_t used = strlen(buf);
		ERR_error_string_n(e, buf + used, sizeof buf - used);
	}
	ERR_clear_error();
	conn_close(c, EPROTO, buf);
}

/* Only from conns_on_ready (in a batch, so c outlives a close). */
static void conn_on_ready(struct conn *c, GIOCondition rev)
{
	struct sw_flow *f = sw_flow_ref(c->flow);
	if (c->fail) {
		conn_close(c, c->fail, NULL);
		goto out;
	}
	switch (c->state) {
	case CONN_CONNECTING: {
		int err = 0;
		socklen_t elen = sizeof err;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
		if (err) {
			conn_close(c, err, "connect failed");
			break;
		}
		if (!(rev & G_IO_OUT))
			break;
		socklen_t llen = sizeof f->local;
		getsockname(c->fd, (struct sockaddr *)&f->local, &llen);
		addr_normalize(&f->local);
		if (c->ssl) {
			c->state = CONN_HANDSHAKE;
			conn_handshake(c);
		} else {
			conn_now_open(c);
		}
		break;
	}
	case CONN_HANDSHAKE:
		conn_handshake(c);
		break;
	case CONN_OPEN:
		if ((rev & G_IO_OUT) || c->tls_want_write) {
			c->tls_want_write = false;
			int err = conn_flush(c);
			if (err < 0) {
				conn_close(c, -err, NULL);
				break;
			}
		}
		/* rev 0: woken for data inside the TLS layer or past the read budget. */
		if (rev == 0 || (rev & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
			conn_read(c);
		/* TLS may have taken its record layer's bytes during the read. */
		if (c->state == CONN_OPEN && c->ssl && c->out_len > c->out_off) {
			int err = conn_flush(c);
			if (err < 0)
				conn_close(c, -err, NULL);
		}
		break;
	default:
		break;
	}
out:
	sw_flow_unref(f);
}

static GIOCondition epoll_to_gio(uint32_t ev)
{
	return ((ev & EPOLLIN) ? G_IO_IN : 0) | ((ev & EPOLLOUT) ? G_IO_OUT : 0) |
	       ((ev & EPOLLHUP) ? G_IO_HUP : 0) | ((ev & EPOLLERR) ? G_IO_ERR : 0);
}

/* The epoll set is readable, or some connection is pending. */
static void conns_on_ready(void *obj, GIOCondition rev)
{
	struct sw_trunk *t = obj;
	struct epoll_event evs[EPOLL_BATCH];
	int n = epoll_wait(t->epfd, evs, EPOLL_BATCH, 0);
	t->in_batch = true;
	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;
		/* A pending connection stays pending: what it waits for (bytes
		 * inside the TLS layer) may not be what this event is about. */
		if (c->state != CONN_CLOSED)
			conn_on_ready(c, epoll_to_gio(evs[i].events));
	}
	/* Those pending now, not those that become pending while they run
	 * (a peer past its read budget waits for the next iteration). */
	size_t todo = 0;
	for (struct conn *c = t->pending_head; c; c = c->pending_next)
		todo++;
	while (todo-- > 0 && t->pending_head) {
		struct conn *c = t->pending_head;
		conn_clear_pending(c);
		conn_on_ready(c, 0);
	}
	t->in_batch = false;
	while (t->graveyard) {
		struct conn *c = t->graveyard;
		t->graveyard = c->next;
		conn_free(c);
	}
	t->ep_watch->pending = t->pending_head != NULL;
}

/* A connection around a connected (or connecting) socket; takes fd. */
static struct conn *conn_new(struct sw_trunk *t, enum sw_tp tp, int fd, bool inbound,
                             const struct sockaddr *peer, const struct sockaddr *local)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return NULL;
	}
	peer_key_set(&c->key, tp, peer);
	c->t = t;
	c->fd = fd;
	c->inbound = inbound;
	c->last_active = g_get_monotonic_time();
	c->flow = sw_flow_new(tp, &conn_ops, c, peer, sw_sockaddr_len(peer), local,
	                      local ? sw_sockaddr_len(local) : 0);
	if (!c->flow) {
		close(fd);
		free(c);
		return NULL;
	}
	if (tp == SW_TP_TLS) {
		c->ssl = SSL_new(inbound ? t->tls_server : t->tls_client);
		if (!c->ssl || !SSL_set_fd(c->ssl, fd)) {
			log_ssl_errors("TLS: cannot create a session");
			SSL_free(c->ssl);
			sw_flow_unref(c->flow);
			close(fd);
			free(c);
			return NULL;
		}
	}
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		LOG_WARN(SUBSYS, "epoll: %s", strerror(errno));
		SSL_free(c->ssl);
		sw_flow_unref(c->flow);
		close(fd);
		free(c);
		return NULL;
	}
	c->events = EPOLLIN;
	c->next = t->conn_list;
	if (c->next)
		c->next->prev = c;
	t->conn_list = c;
	if (!g_hash_table_contains(t->conns, &c->key)) {
		g_hash_table_insert(t->conns, &c->key, c);
		c->in_map = true;
	}
	return c;
}

static void listener_on_ready(void *obj, GIOCondition rev)
{
	struct listener *l = obj;
	struct sw_trunk *t = l->t;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer, local;
		socklen_t plen = sizeof peer, llen = sizeof local;
		int fd = accept(l->fd, (struct sockaddr *)&peer, &plen);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The pending connection stays readable: without a
				 * pause the loop would spin on it. */
				LOG_WARN(SUBSYS, "%s accept: %s; pausing the listener for a second",
				         sw_tp_name(l->tp), strerror(errno));
				l->paused = true;
				g_source_modify_unix_fd(&l->watch->base, l->watch->tag, 0);
				return;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				LOG_WARN(SUBSYS, "%s accept: %s", sw_tp_name(l->tp),
				         strerror(errno));
			return;
		}
		int one = 1;
		if (set_nonblock(fd) < 0 || getsockname(fd, (struct sockaddr *)&local, &llen) < 0) {
			close(fd);
			continue;
		}
		addr_normalize(&peer);
		if (t->cfg.sink.admit &&
		    !t->cfg.sink.admit(t->cfg.sink.arg, l->tp, (const struct sockaddr *)&peer)) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		addr_normalize(&local);
		struct conn *c = conn_new(t, l->tp, fd, true, (const struct sockaddr *)&peer,
		                          (const struct sockaddr *)&local);
		if (!c)
			continue;
		LOG_INFO(SUBSYS, "%s connection %llu from %s", sw_tp_name(l->tp),
		         (unsigned long long)c->flow->id, c->flow->peer_str);
		if (c->ssl) {
			SSL_set_accept_state(c->ssl);
			c->state = CONN_HANDSHAKE;
			c->deadline = g_get_monotonic_time() + CONNECT_TIMEOUT_US;
		} else {
			c->state = CONN_OPEN;
		}
		if (t->cfg.sink.on_open && !t->cfg.sink.on_open(t->cfg.sink.arg, c->flow))
			conn_close(c, 0, "too many connections from that address");
	}
}

static int listener_open(struct sw_trunk *t, struct listener *l, enum sw_tp tp, unsigned port)
{
	l->t = t;
	l->tp = tp;
	l->fd = -1;
	if (!port)
		return 0;
	struct sockaddr_storage sa = t->bind_addr;
	addr_set_port(&sa, port);
	int fd = socket(sa.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	socklen_t len = sizeof l->local;
	if (set_nonblock(fd) < 0 ||
	    bind(fd, (const struct sockaddr *)&sa, sw_sockaddr_len((const struct sockaddr *)&sa)) <
	        0 ||
	    listen(fd, 1024) < 0 || getsockname(fd, (struct sockaddr *)&l->local, &len) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	l->fd = fd;
	l->port = port;
	l->watch = fd_watch_new(t->ctx, fd, G_IO_IN, listener_on_ready, l);
	return 0;
}

static void listener_close(struct listener *l)
{
	fd_watch_free(l->watch);
	l->watch = NULL;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

/* ---- TLS contexts ---- */

/* What both sides share: certs.h's policy (TLS 1.2 at least, ECDHE with
 * AEAD ciphers, no renegotiation), partial writes. */
static SSL_CTX *tls_ctx_new(const SSL_METHOD *method)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (!ctx)
		return NULL;
	if (sw_tls_apply_policy(ctx) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* SIP frames by Content-Length, so a peer that drops the TCP connection
	 * without close_notify (many do) is closing, not truncating. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                          SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

static bool tls_ctx_use_cert(SSL_CTX *ctx, const struct sw_trunk *t)
{
	return SSL_CTX_use_certificate_chain_file(ctx, t->tls_cert_file) == 1 &&
	       SSL_CTX_use_PrivateKey_file(ctx, t->tls_key_file, SSL_FILETYPE_PEM) == 1 &&
	       SSL_CTX_check_private_key(ctx) == 1;
}

static int tls_server_ctx_new(struct sw_trunk *t)
{
	SSL_CTX *ctx = tls_ctx_new(TLS_server_method());
	if (!ctx)
		return -ENOMEM;
	if (!tls_ctx_use_cert(ctx, t)) {
		log_ssl_errors("TLS listener: cannot load the certificate or key");
		SSL_CTX_free(ctx);
		return -EINVAL;
	}
	t->tls_server = ctx;
	return 0;
}

static int tls_client_ctx_new(struct sw_trunk *t)
{
	SSL_CTX *ctx = tls_ctx_new(TLS_client_method());
	if (!ctx)
		return -ENOMEM;
	SSL_CTX_set_verify(ctx, t->cfg.tls_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	int ok = t->tls_ca_file ? SSL_CTX_load_verify_locations(ctx, t->tls_ca_file, NULL)
	                        : SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		log_ssl_errors("TLS client: cannot load the CA certificates");
		SSL_CTX_free(ctx);
		return -EINVAL;
	}
	/* Trunks that ask for a client certificate get ours. */
	if (t->tls_cert_file && t->tls_key_file && !tls_ctx_use_cert(ctx, t)) {
		log_ssl_errors("TLS client: cannot load the certificate or key");
		SSL_CTX_free(ctx);
		return -EINVAL;
	}
	t->tls_client = ctx;
	return 0;
}

/* Who the server must prove to be: the name asked for (also sent as SNI),
 * or, without one, the address we connect to. */
static int tls_client_identity(struct conn *c, const char *tls_name)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
	struct sockaddr_storage num;
	if (tls_name && *tls_name) {
		if (sw_sockaddr_parse(tls_name, &num) == 0)
			return X509_VERIFY_PARAM_set1_ip_asc(vp, tls_name) == 1 ? 0 : -EINVAL;
		if (SSL_set_tlsext_host_name(c->ssl, tls_name) != 1 ||
		    SSL_set1_host(c->ssl, tls_name) != 1)
			return -EINVAL;
		return 0;
	}
	const struct sockaddr *peer = (const struct sockaddr *)&c->flow->peer;
	if (peer->sa_family == AF_INET)
		return X509_VERIFY_PARAM_set1_ip(
		           vp,
		           (const unsigned char *)&((const struct sockaddr_in *)(const void *)peer)
		               ->sin_addr,
		           4) == 1
		           ? 0
		           : -EINVAL;
	return X509_VERIFY_PARAM_set1_ip(
	           vp,
	           (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)peer)
	               ->sin6_addr,
	           16) == 1
	           ? 0
	           : -EINVAL;
}

static struct sw_flow *conn_connect(struct sw_trunk *t, enum sw_tp tp, const struct sockaddr *addr,
                                    const char *tls_name)
{
	socklen_t alen = sw_sockaddr_len(addr);
	int fd = socket(addr->sa_family, SOCK_STREAM, 0);
	if (fd < 0) {
		LOG_WARN(SUBSYS, "%s socket: %s", sw_tp_name(tp), strerror(errno));
		return NULL;
	}
	int one = 1;
	if (set_nonblock(fd) < 0) {
		close(fd);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	const struct sockaddr *bind_sa = (const struct sockaddr *)&t->bind_addr;
	int err = 0;
	if (bind_sa->sa_family == addr->sa_family && !addr_is_wildcard(bind_sa) &&
	    bind(fd, bind_sa, sw_sockaddr_len(bind_sa)) < 0)
		err = errno;
	if (!err && connect(fd, addr, alen) < 0 && errno != EINPROGRESS)
		err = errno;
	/* connect() has chosen our address and port already, even while in
	 * progress: the endpoint can write Via and Contact before it is up. */
	struct sockaddr_storage local = {0};
	socklen_t llen = sizeof local;
	if (!err && getsockname(fd, (struct sockaddr *)&local, &llen) == 0)
		addr_normalize(&local);
	struct conn *c = conn_new(t, tp, fd, false, addr,
	                          local.ss_family ? (const struct sockaddr *)&local : NULL);
	if (!c)
		return NULL;
	struct sw_flow *f = c->flow;
	if (c->ssl) {
		SSL_set_connect_state(c->ssl);
		if (t->cfg.tls_verify && tls_client_identity(c, tls_name) < 0) {
			ERR_clear_error();
			err = EINVAL;
		}
	}
	LOG_INFO(SUBSYS, "%s connection %llu to %s%s%s opening", sw_tp_name(tp),
	         (unsigned long long)f->id, f->peer_str, tls_name ? " as " : "",
	         tls_name ? tls_name : "");
	c->state = CONN_CONNECTING;
	c->deadline = g_get_monotonic_time() + CONNECT_TIMEOUT_US;
	conn_update_watch(c);
	/* A connect that failed at once still closes through the loop, like
	 * one that fails later: the caller gets a flow and hears on_closed. */
	if (err)
		conn_fail_later(c, err);
	return sw_flow_ref(f);
}

/* ---- housekeeping ---- */

static void listener_resume(struct listener *l)
{
	if (!l->paused)
		return;
	l->paused = false;
	g_source_modify_unix_fd(&l->watch->base, l->watch->tag, G_IO_IN);
}

static gboolean on_tick(gpointer data)
{
	struct sw_trunk *t = data;
	listener_resume(&t->tcp);
	listener_resume(&t->tls);
	gint64 now = g_get_monotonic_time();
	gint64 idle_us = (gint64)t->cfg.idle_timeout_s * G_USEC_PER_SEC;
	gint64 msg_us = (gint64)t->cfg.message_timeout_s * G_USEC_PER_SEC;
	/* Collect first, close after: a sink told of one close may close
	 * others. The flow references keep every entry valid meanwhile. */
	GPtrArray *doomed = g_ptr_array_new();
	for (struct conn *c = t->conn_list; c; c = c->next) {
		bool late = c->deadline && now > c->deadline;
		bool idle = c->state == CONN_OPEN && idle_us && now - c->last_active > idle_us &&
		            (c->inbound || c->flow->refs == 1) && c->out_len == c->out_off;
		/* A message that trickles in (a byte a second keeps a
		 * connection from being idle) holds a buffer: it has a time
		 * limit of its own. */
		bool slow = c->inbound && c->state == CONN_OPEN && c->in_len && msg_us &&
		            now - c->partial_since > msg_us;
		if (late || idle || slow)
			g_ptr_array_add(doomed, sw_flow_ref(c->flow));
	}
	for (guint i = 0; i < doomed->len; i++) {
		struct sw_flow *f = doomed->pdata[i];
		struct conn *c = f->tp_data;
		if (c && c->state == CONN_OPEN && c->in_len && msg_us &&
		    now - c->partial_since > msg_us) {
			LOG_WARN(SUBSYS, "%s %s: a message still incomplete after %u s "
			                 "(limits.message_timeout); closing",
			         sw_tp_name(f->tp), f->peer_str, t->cfg.message_timeout_s);
			conn_close(c, ETIMEDOUT, "message too slow");
		} else if (c) {
			conn_close(c, c->state == CONN_OPEN ? 0 : ETIMEDOUT,
			           c->state == CONN_OPEN ? "idle" : "timed out");
		}
		sw_flow_unref(f);
	}
	g_ptr_array_set_size(doomed, 0);

	if (++t->ticks % UDP_SWEEP_TICKS == 0) {
		GHashTableIter it;
		gpointer k, v;
		g_hash_table_iter_init(&it, t->udp_peers);
		while (g_hash_table_iter_next(&it, &k, &v)) {
			struct udp_peer *p = v;
			if (p->flow->refs == 1 && now - p->last_used > UDP_IDLE_US)
				g_ptr_array_add(doomed, sw_flow_ref(p->flow));
		}
		for (guint i = 0; i < doomed->len; i++) {
			struct sw_flow *f = doomed->pdata[i];
			if (f->tp_data)
				udp_peer_close(f->tp_data);
			sw_flow_unref(f);
		}
	}
	g_ptr_array_free(doomed, TRUE);
	return G_SOURCE_CONTINUE;
}

/* ---- public ---- */

int sw_trunk_new(struct sw_trunk **out, const struct sw_trunk_config *cfg)
{
	*out = NULL;
	if (!cfg->ctx || !cfg->sink.on_message || cfg->sip_port > 65535 || cfg->tls_port > 65535)
		return -EINVAL;
	struct sw_trunk *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	t->udp_fd = -1;
	t->epfd = -1;
	t->tcp.fd = t->tls.fd = -1;
	t->ctx = g_main_context_ref(cfg->ctx);
	t->cfg = *cfg;
	t->bind = g_strdup(cfg->bind ? cfg->bind : "0.0.0.0");
	t->tls_cert_file = g_strdup(cfg->tls_cert_file);
	t->tls_key_file = g_strdup(cfg->tls_key_file);
	t->tls_ca_file = g_strdup(cfg->tls_ca_file);
	t->cfg.bind = t->bind;
	t->cfg.tls_cert_file = t->tls_cert_file;
	t->cfg.tls_key_file = t->tls_key_file;
	t->cfg.tls_ca_file = t->tls_ca_file;
	if (!t->cfg.limits.max_msg_size)
		t->cfg.limits = SIP_LIMITS_DEFAULT;
	t->udp_peers = g_hash_table_new(peer_key_hash, peer_key_equal);
	t->conns = g_hash_table_new(peer_key_hash, peer_key_equal);
	t->scratch = sip_msg_new(&t->cfg.limits);
	t->rxbuf = malloc(RX_CHUNK);
	int err = 0;
	if (!t->scratch || !t->rxbuf) {
		err = -ENOMEM;
		goto fail;
	}
	if (sw_sockaddr_parse(t->bind, &t->bind_addr) < 0) {
		LOG_WARN(SUBSYS, "bind address %s is not a numeric IPv4/IPv6 address", t->bind);
		err = -EINVAL;
		goto fail;
	}
	if (cfg->tls_port && (!cfg->tls_cert_file || !cfg->tls_key_file)) {
		LOG_WARN(SUBSYS, "TLS listener on port %u needs a certificate and a key",
		         cfg->tls_port);
		err = -EINVAL;
		goto fail;
	}
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0) {
		err = -errno;
		LOG_WARN(SUBSYS, "epoll: %s", strerror(-err));
		goto fail;
	}
	t->ep_watch = fd_watch_new(t->ctx, t->epfd, G_IO_IN, conns_on_ready, t);
	if ((err = udp_open(t)) < 0) {
		LOG_WARN(SUBSYS, "UDP socket on %s port %u: %s", t->bind, cfg->sip_port,
		         strerror(-err));
		goto fail;
	}
	if ((err = listener_open(t, &t->tcp, SW_TP_TCP, cfg->sip_port)) < 0) {
		LOG_WARN(SUBSYS, "TCP listener on %s port %u: %s", t->bind, cfg->sip_port,
		         strerror(-err));
		goto fail;
	}
	if (cfg->tls_port && (err = tls_server_ctx_new(t)) < 0)
		goto fail;
	if ((err = tls_client_ctx_new(t)) < 0)
		goto fail;
	if ((err = listener_open(t, &t->tls, SW_TP_TLS, cfg->tls_port)) < 0) {
		LOG_WARN(SUBSYS, "TLS listener on %s port %u: %s", t->bind, cfg->tls_port,
		         strerror(-err));
		goto fail;
	}
	t->tick = g_timeout_source_new_seconds(1);
	g_source_set_callback(t->tick, on_tick, t, NULL);
	g_source_attach(t->tick, t->ctx);
	LOG_INFO(SUBSYS, "listening on %s: UDP/TCP port %u, TLS port %u", t->bind, cfg->sip_port,
	         cfg->tls_port);
	*out = t;
	return 0;
fail:
	sw_trunk_free(t);
	return err;
}

void sw_trunk_free(struct sw_trunk *t)
{
	if (!t)
		return;
	t->shutting_down = true;
	/* Every flow ends through the sink, as if each had closed. A sink that
	 * asks for a new flow meanwhile gets NULL. */
	GPtrArray *flows = g_ptr_array_new();
	for (struct conn *c = t->conn_list; c; c = c->next)
		g_ptr_array_add(flows, sw_flow_ref(c->flow));
	if (t->udp_peers) {
		GHashTableIter it;
		gpointer k, v;
		g_hash_table_iter_init(&it, t->udp_peers);
		while (g_hash_table_iter_next(&it, &k, &v))
			g_ptr_array_add(flows, sw_flow_ref(((struct udp_peer *)v)->flow));
	}
	for (guint i = 0; i < flows->len; i++) {
		struct sw_flow *f = flows->pdata[i];
		if (f->tp_data) {
			if (f->tp == SW_TP_UDP)
				udp_peer_close(f->tp_data);
			else
				conn_close(f->tp_data, 0, "shutting down");
		}
		sw_flow_unref(f);
	}
	g_ptr_array_free(flows, TRUE);
	/* After the flows: a sink told of a close may have started one. */
	sw_resolve_cancel_all(&t->resolves);

	if (t->tick) {
		g_source_destroy(t->tick);
		g_source_unref(t->tick);
	}
	fd_watch_free(t->ep_watch);
	if (t->epfd >= 0)
		close(t->epfd);
	fd_watch_free(t->udp_watch);
	if (t->udp_fd >= 0)
		close(t->udp_fd);
	listener_close(&t->tcp);
	listener_close(&t->tls);
	SSL_CTX_free(t->tls_server);
	SSL_CTX_free(t->tls_client);
	if (t->udp_peers)
		g_hash_table_destroy(t->udp_peers);
	if (t->conns)
		g_hash_table_destroy(t->conns);
	sip_msg_free(t->scratch);
	free(t->rxbuf);
	g_free(t->bind);
	g_free(t->tls_cert_file);
	g_free(t->tls_key_file);
	g_free(t->tls_ca_file);
	g_main_context_unref(t->ctx);
	free(t);
}

unsigned sw_trunk_port(const struct sw_trunk *t, enum sw_tp tp)
{
	switch (tp) {
	case SW_TP_UDP:
		return t->udp_port;
	case SW_TP_TCP:
		return t->tcp.port;
	case SW_TP_TLS:
		return t->tls.port;
	default:
		return 0;
	}
}

struct sw_flow *sw_trunk_flow_to(struct sw_trunk *t, enum sw_tp tp, const struct sockaddr *addr,
                                 const char *tls_name)
{
	if (!addr || sw_sockaddr_len(addr) == 0 || t->shutting_down)
		return NULL;
	struct sockaddr_storage norm = {0};
	memcpy(&norm, addr, sw_sockaddr_len(addr));
	addr_normalize(&norm);
	const struct sockaddr *sa = (const struct sockaddr *)&norm;
	if (tp == SW_TP_UDP) {
		struct udp_peer *p = udp_peer_get(t, sa);
		if (!p) {
			char str[64];
			sw_sockaddr_str(sa, str, sizeof str);
			LOG_WARN(SUBSYS, "UDP: cannot reach %s from the socket's address family",
			         str);
			return NULL;
		}
		return sw_flow_ref(p->flow);
	}
	if (tp != SW_TP_TCP && tp != SW_TP_TLS)
		return NULL;
	struct peer_key k;
	peer_key_set(&k, tp, sa);
	struct conn *c = g_hash_table_lookup(t->conns, &k);
	if (c)
		return sw_flow_ref(c->flow);
	return conn_connect(t, tp, sa, tls_name);
}

int sw_trunk_reload_tls(struct sw_trunk *t)
{
	if (!t || !t->tls_cert_file || !t->tls_key_file)
		return 0;
	int rc = 0;
	if (t->tls_server && (rc = sw_tls_reload_cert(t->tls_server, t->tls_cert_file,
	                                              t->tls_key_file)) < 0) {
		LOG_ERR(SUBSYS, "TLS certificate not reloaded: the one in use stays");
		return rc;
	}
	/* The client context presents the same pair to trunks that ask. */
	if (t->tls_client &&
	    (rc = sw_tls_reload_cert(t->tls_client, t->tls_cert_file, t->tls_key_file)) < 0)
		return rc;
	if (t->tls_server)
		LOG_INFO(SUBSYS, "TLS certificate reloaded from %s", t->tls_cert_file);
	return 0;
}
