/* sdh_rtp.c — the plain-RTP SDH and its relay; see sdh_rtp.h. */
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include "webrtc/sdh_rtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "webrtc/rtp.h"
#include "webrtc/sdp.h"

#define BATCH        32   /* datagrams per recvmmsg */
#define BATCHES      4    /* recvmmsg calls per wake-up, so one busy port cannot starve others */
#define PACKET_MAX   2048 /* receive buffers */
#define PACKET_ROOM  64   /* kept free after a received packet for a transport's
                           * trailer (SRTP), so larger datagrams are dropped */
#define DTMF_QUEUE   32
#define EVENTS       64   /* ready sockets per epoll_wait */
#define NAME_MAX_LEN 24
#define FMTP_MAX_LEN 112

/* Direction as two bits, so mirroring is a swap and agreeing an AND. */
enum { DIR_SEND = 1, DIR_RECV = 2, DIR_SENDRECV = 3 };

struct codec {
	uint8_t pt;
	uint16_t channels;
	uint32_t clock;
	char name[NAME_MAX_LEN];
	char fmtp[FMTP_MAX_LEN]; /* "" when none */
};

struct codec_list {
	struct codec c[SDH_RTP_MAX_CODECS];
	unsigned n;
};

static const struct known_codec {
	const char *name;
	uint8_t pt;
	uint32_t clock;
	uint16_t channels;
	const char *fmtp;
} known_codecs[] = {
	{"PCMU", 0, 8000, 0, NULL},
	{"PCMA", 8, 8000, 0, NULL},
	{"G722", 9, 8000, 0, NULL},
	{"opus", 111, 48000, 2, "minptime=10;useinbandfec=1"},
	{"telephone-event", 101, 8000, 0, "0-16"},
};
#define N_KNOWN (sizeof(known_codecs) / sizeof(known_codecs[0]))
#define KNOWN_TE 4

struct sdh_rtp_ctx {
	unsigned refs;
	GMainContext *loop;
	char address[INET6_ADDRSTRLEN];
	const char *addrtype; /* "IP4", "IP6" */
	struct sockaddr_storage bind;
	socklen_t bind_len;
	uint16_t port_min;
	unsigned n_pairs, pairs_in_use, cursor;
	uint8_t *pair_used;
	uint32_t accepted; /* bit i: known_codecs[i] is carried */
	struct codec_list offer; /* the default offer */
	uint32_t ptime, dtmf_interval;
	void (*on_log)(void *, const char *);
	void *log_arg;
	/* Every socket of the context is in one epoll set, and only that set is
	 * a GLib source: the loop polls one descriptor, not two per handler. */
	int epfd;
	GSource *ep_src;
	struct epoll_event events[EVENTS];
	unsigned n_events; /* found by the last poll, not yet relayed */
	/* one set of receive buffers for every handler of the loop */
	uint8_t bufs[BATCH][PACKET_MAX];
	struct iovec iov[BATCH];
	struct sockaddr_storage from[BATCH];
	struct mmsghdr rx[BATCH];
	struct mmsghdr tx[BATCH];
	int tx_fd[BATCH];
	struct sdh_rtp *tx_owner[BATCH];
	struct sdh_rtp_latency latency;
	int64_t now_us; /* monotonic µs of the receive being relayed: one clock read for its packets */
};

/* A remote description as far as media needs it. */
struct remote {
	struct sdp_session *sdp; /* owned; NULL when none */
	unsigned audio_idx;      /* the m= line we use */
	struct codec_list codecs; /* its listed codecs we carry, in its order */
	struct sockaddr_storage rtp, rtcp;
	bool null_addr; /* c=0.0.0.0 (or ::): send nothing there */
	bool mux;
	unsigned dir; /* its direction bits, less recv when null_addr */
};

/* What offer/answer agreed: where to send, what may flow. */
struct media {
	/* what a relayed packet reads, first */
	bool active;
	bool mux, send, recv;
	bool rtp_latched, rtcp_latched;
	struct sockaddr_storage rtp_dst, rtcp_dst; /* latched or from the description */
	struct sockaddr_storage sdp_rtp, sdp_rtcp; /* from the description */
	uint32_t pts[4]; /* agreed payload types */
	int te_pt;
	uint32_t te_clock;
	struct codec_list agreed;
};

enum sdh_state { ST_IDLE, ST_LOCAL_OFFER, ST_REMOTE_OFFER, ST_STABLE, ST_CLOSED };
enum sdh_mode { MODE_NONE, MODE_BRIDGE, MODE_ECHO };

struct dtmf_tone {
	uint8_t event;
	uint32_t samples;
};

struct sdh_rtp {
	/* What each relayed packet reads and writes, first and together: a
	 * call's next packet comes 20 ms after its last, when its handlers
	 * have left the cache, so every line they span is a miss. */
	struct sdh_rtp_ctx *ctx;
	enum sdh_state state;
	enum sdh_mode mode;
	bool has_tp;
	bool map_ready;
	bool dtmf_active;
	bool out_seen;
	int fd_rtp, fd_rtcp;
	int fd_tp; /* the transport's socket, read here; -1 */
	struct sdh_rtp *peer;
	/* The stream we send to our peer: one SSRC with no jump in numbers or
	 * time, whichever source feeds it (a transfer, a re-INVITE toward
	 * another endpoint, a DTMF event inserted) — a receiver's decoder and
	 * SRTP replay window see one stream. */
	uint32_t out_ssrc, out_ts;
	uint16_t out_seq;
	uint16_t seq_delta;  /* added to its sequence numbers */
	uint32_t src_ssrc;   /* the source relayed now */
	uint32_t ts_delta;   /* and to its timestamps */
	int64_t out_ts_time; /* monotonic µs when out_ts was sent */
	struct sdh_rtp_stats stats;
	struct sdh_rtp_transport tp;
	/* Payload types of what h receives, as the handler it goes to numbers
	 * them: -1 drops (a codec that end did not agree), made when either
	 * end's media changes. */
	int16_t pt_map[128];
	struct media m; /* its hot fields first */
	/* the rest is offer/answer's and the owner's */
	bool offer_rtcp_mux;
	unsigned pair;
	uint16_t port;
	/* o= line; the rest of our last description, to see whether it changed */
	uint64_t sess_id, version;
	char address[INET6_ADDRSTRLEN]; /* c= and o=: "" is the context's */
	GString *last_tail;
	bool offer_like;
	struct codec_list offer_codecs; /* when offer_like */
	bool answer_filter_set;
	struct codec_list answer_filter;
	struct remote remote;  /* agreed */
	struct remote pending; /* a remote offer not yet answered */
	struct codec_list local_codecs; /* our pending offer */
	unsigned local_dir;
	bool local_mux;
	/* RFC 4733 events the other end cannot carry, told to the owner */
	void (*on_dtmf)(void *arg, char tone, unsigned duration_ms);
	void *dtmf_arg;
	bool in_event_done;
	uint32_t in_event_ts; /* the event last told */
	/* DTMF */
	GSource *dtmf_timer;
	struct dtmf_tone dtmf_q[DTMF_QUEUE];
	unsigned dtmf_head, dtmf_count;
	uint32_t dtmf_ts, dtmf_duration, dtmf_step;
	bool dtmf_marker;
};

/* Does h's transport carry the packets (no port pair of its own)? */
static bool tp_sends(const struct sdh_rtp *h)
{
	return h->has_tp && h->tp.send;
}

static void logf_(struct sdh_rtp_ctx *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void logf_(struct sdh_rtp_ctx *c, const char *fmt, ...)
{
	if (!c->on_log)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->on_log(c->log_arg, line);
}

/* ---- addresses ---- */

static int parse_literal(const char *text, uint16_t port, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	struct sockaddr_in *v4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
	if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}

static socklen_t addr_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static bool addr_is_any(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr == htonl(INADDR_ANY);
	const struct in6_addr *in = &((const struct sockaddr_in6 *)a)->sin6_addr;
	return IN6_IS_ADDR_UNSPECIFIED(in) ||
	       (IN6_IS_ADDR_V4MAPPED(in) && memcmp(in->s6_addr + 12, "\0\0\0\0", 4) == 0);
}

/* Make a remote address reachable from a socket of family: an IPv4 peer
 * through a dual-stack IPv6 socket is ::ffff:a.b.c.d. */
static int to_family(struct sockaddr_storage *a, int family)
{
	if (a->ss_family == family)
		return 0;
	if (a->ss_family == AF_INET && family == AF_INET6) {
		struct sockaddr_in v4 = *(struct sockaddr_in *)a;
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)a;
		memset(a, 0, sizeof(*a));
		v6->sin6_family = AF_INET6;
		v6->sin6_port = v4.sin_port;
		v6->sin6_addr.s6_addr[10] = 0xff;
		v6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(v6->sin6_addr.s6_addr + 12, &v4.sin_addr, 4);
		return 0;
	}
	return -EINVAL;
}

static bool host_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	              &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

static uint16_t addr_port(const struct sockaddr_storage *a)
{
	return ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
	                                      : ((const struct sockaddr_in *)a)->sin_port);
}

static bool addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return host_equal(a, b) && addr_port(a) == addr_port(b);
}

/* ---- codecs ---- */

static int known_index(const char *name, uint32_t clock)
{
	for (unsigned i = 0; i < N_KNOWN; i++)
		if (strcasecmp(name, known_codecs[i].name) == 0 &&
		    (clock == 0 || i == KNOWN_TE || clock == known_codecs[i].clock))
			return (int)i;
	return -1;
}

static bool is_te(const struct codec *c)
{
	return strcasecmp(c->name, "telephone-event") == 0;
}

static bool codec_same(const struct codec *a, const struct codec *b)
{
	return strcasecmp(a->name, b->name) == 0 && a->clock == b->clock;
}

static void pt_set(uint32_t *set, uint8_t pt)
{
	set[pt >> 5] |= 1u << (pt & 31);
}

static bool pt_has(const uint32_t *set, uint8_t pt)
{
	return pt < 128 && (set[pt >> 5] >> (pt & 31)) & 1u;
}

/* telephone-event is kept at the clock of an audio codec kept beside it
 * (RFC 4733 §2.1), or, when none matches, the first one. */
static void trim_te(struct codec_list *l)
{
	bool audio_clock_te = false, any_te = false;
	for (unsigned i = 0; i < l->n; i++) {
		if (!is_te(&l->c[i]))
			continue;
		any_te = true;
		for (unsigned j = 0; j < l->n; j++)
			if (!is_te(&l->c[j]) && l->c[j].clock == l->c[i].clock)
				audio_clock_te = true;
	}
	if (!any_te)
		return;
	unsigned out = 0;
	bool first_kept = false;
	for (unsigned i = 0; i < l->n; i++) {
		bool keep = true;
		if (is_te(&l->c[i])) {
			bool match = false;
			for (unsigned j = 0; j < l->n; j++)
				if (!is_te(&l->c[j]) && l->c[j].clock == l->c[i].clock)
					match = true;
			keep = audio_clock_te ? match : !first_kept;
			first_kept = first_kept || keep;
		}
		if (keep)
			l->c[out++] = l->c[i];
	}
	l->n = out;
}

static unsigned audio_count(const struct codec_list *l)
{
	unsigned n = 0;
	for (unsigned i = 0; i < l->n; i++)
		n += !is_te(&l->c[i]);
	return n;
}

static void codec_from_known(struct codec *c, const struct known_codec *k)
{
	memset(c, 0, sizeof(*c));
	c->pt = k->pt;
	c->clock = k->clock;
	c->channels = k->channels;
	snprintf(c->name, sizeof(c->name), "%s", k->name);
	if (k->fmtp)
		snprintf(c->fmtp, sizeof(c->fmtp), "%s", k->fmtp);
}

/* ---- the context ---- */

static gboolean on_ready(gint fd, GIOCondition cond, gpointer data);

static const char *const default_codecs[] = {"PCMU", "PCMA", "G722", "opus", "telephone-event",
                                             NULL};

int sdh_rtp_ctx_new(const struct sdh_rtp_ctx_params *p, struct sdh_rtp_ctx **out)
{
	*out = NULL;
	struct sockaddr_storage adv;
	if (!p || !p->address || parse_literal(p->address, 0, &adv) != 0)
		return -EINVAL;
	uint32_t min = p->port_min + (p->port_min & 1u);
	if (min == 0 || min + 1 > p->port_max)
		return -EINVAL;
	struct sdh_rtp_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->refs = 1;
	c->loop = p->loop ? g_main_context_ref(p->loop) : g_main_context_ref(g_main_context_default());
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epfd < 0) {
		int e = -errno;
		g_main_context_unref(c->loop);
		free(c);
		return e;
	}
	snprintf(c->address, sizeof(c->address), "%s", p->address);
	c->addrtype = adv.ss_family == AF_INET6 ? "IP6" : "IP4";
	int rc = -EINVAL;
	if (p->bind_address) {
		if (parse_literal(p->bind_address, 0, &c->bind) != 0)
			goto fail;
	} else {
		memset(&c->bind, 0, sizeof(c->bind));
		c->bind.ss_family = adv.ss_family;
	}
	c->bind_len = addr_len(&c->bind);
	c->port_min = (uint16_t)min;
	c->n_pairs = (p->port_max - min + 1) / 2;
	c->pair_used = calloc(c->n_pairs, 1);
	rc = -ENOMEM;
	if (!c->pair_used)
		goto fail;
	rc = -EINVAL;
	for (const char *const *n = p->codecs ? p->codecs : default_codecs; *n; n++) {
		int k = known_index(*n, 0);
		if (k < 0)
			goto fail;
		if (c->accepted & (1u << k))
			continue;
		c->accepted |= 1u << k;
		codec_from_known(&c->offer.c[c->offer.n++], &known_codecs[k]);
	}
	if (audio_count(&c->offer) == 0)
		goto fail;
	c->ptime = p->ptime;
	c->dtmf_interval = p->dtmf_interval_ms ? p->dtmf_interval_ms : 20;
	c->on_log = p->on_log;
	c->log_arg = p->log_arg;
	for (unsigned i = 0; i < BATCH; i++) {
		c->iov[i].iov_base = c->bufs[i];
		c->iov[i].iov_len = PACKET_MAX - PACKET_ROOM;
		struct msghdr *mh = &c->rx[i].msg_hdr;
		mh->msg_name = &c->from[i];
		mh->msg_namelen = sizeof(c->from[i]);
		mh->msg_iov = &c->iov[i];
		mh->msg_iovlen = 1;
	}
	if (!p->external_poll) {
		c->ep_src = g_unix_fd_source_new(c->epfd, G_IO_IN);
		g_source_set_callback(c->ep_src, G_SOURCE_FUNC(on_ready), c, NULL);
		g_source_attach(c->ep_src, c->loop);
	}
	*out = c;
	return 0;
fail:
	sdh_rtp_ctx_unref(c);
	return rc;
}

struct sdh_rtp_ctx *sdh_rtp_ctx_ref(struct sdh_rtp_ctx *c)
{
	c->refs++;
	return c;
}

void sdh_rtp_ctx_unref(struct sdh_rtp_ctx *c)
{
	if (!c || --c->refs > 0)
		return;
	if (c->ep_src) {
		g_source_destroy(c->ep_src);
		g_source_unref(c->ep_src);
	}
	close(c->epfd);
	g_main_context_unref(c->loop);
	free(c->pair_used);
	free(c);
}

unsigned sdh_rtp_ctx_pairs_in_use(const struct sdh_rtp_ctx *c)
{
	return c->pairs_in_use;
}

/* Is this codec of a remote description one we carry? */
static bool carried(const struct sdh_rtp_ctx *c, const struct sdp_codec *sc)
{
	int k = known_index(sc->encoding, sc->clock);
	return k >= 0 && (c->accepted & (1u << k));
}

/* ---- sockets ---- */

static int bind_port(const struct sdh_rtp_ctx *c, uint16_t port, int *fd_out)
{
	int fd = socket(c->bind.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (c->bind.ss_family == AF_INET6) {
		int off = 0; /* "::" takes IPv4 peers too */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	}
	struct sockaddr_storage a = c->bind;
	if (a.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)&a)->sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&a, c->bind_len) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*fd_out = fd;
	return 0;
}

/* The event's data is the handler, its low bits saying which socket. */
enum { TAG_RTP = 0, TAG_RTCP = 1, TAG_TRANSPORT = 2, TAG_MASK = 3 };

static int watch_tagged(struct sdh_rtp *h, int fd, unsigned tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uintptr_t)h | tag};
	return epoll_ctl(h->ctx->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

static int watch(struct sdh_rtp *h, int fd, bool rtcp)
{
	return watch_tagged(h, fd, rtcp ? TAG_RTCP : TAG_RTP);
}

void sdh_rtp_transport_unwatch(struct sdh_rtp *h)
{
	if (h->fd_tp < 0)
		return;
	epoll_ctl(h->ctx->epfd, EPOLL_CTL_DEL, h->fd_tp, NULL);
	h->fd_tp = -1;
}

int sdh_rtp_transport_watch(struct sdh_rtp *h, int fd)
{
	if (h->state == ST_CLOSED || !tp_sends(h) || !h->tp.input || fd < 0)
		return -EINVAL;
	sdh_rtp_transport_unwatch(h);
	int rc = watch_tagged(h, fd, TAG_TRANSPORT);
	if (rc == 0)
		h->fd_tp = fd;
	return rc;
}

static void drop_source(GSource **s)
{
	if (*s) {
		g_source_destroy(*s);
		g_source_unref(*s);
		*s = NULL;
	}
}

/* Bind the next free pair after the last one handed out, so a released pair
 * is not reused at once (late packets of the old call would reach the new). */
static int alloc_pair(struct sdh_rtp *h)
{
	struct sdh_rtp_ctx *c = h->ctx;
	for (unsigned tried = 0; tried < c->n_pairs; tried++) {
		unsigned i = (c->cursor + tried) % c->n_pairs;
		if (c->pair_used[i])
			continue;
		uint16_t port = (uint16_t)(c->port_min + 2 * i);
		int rtp = -1, rtcp = -1;
		int rc = bind_port(c, port, &rtp);
		if (rc == 0) {
			rc = bind_port(c, (uint16_t)(port + 1), &rtcp);
			if (rc != 0)
				close(rtp);
		}
		if (rc == -EADDRINUSE)
			continue;
		if (rc != 0)
			return rc;
		c->pair_used[i] = 1;
		c->pairs_in_use++;
		c->cursor = (i + 1) % c->n_pairs;
		h->pair = i;
		h->port = port;
		h->fd_rtp = rtp;
		h->fd_rtcp = rtcp;
		return 0;
	}
	return -EADDRINUSE;
}

static void remote_clear(struct remote *r)
{
	sdp_free(r->sdp);
	memset(r, 0, sizeof(*r));
}

int sdh_rtp_set_address(struct sdh_rtp *h, const char *address)
{
	struct sockaddr_storage a;
	if (!address || parse_literal(address, 0, &a) != 0 ||
	    strcmp(a.ss_family == AF_INET6 ? "IP6" : "IP4", h->ctx->addrtype) != 0)
		return -EINVAL;
	snprintf(h->address, sizeof h->address, "%s", address);
	return 0;
}

int sdh_rtp_new(struct sdh_rtp_ctx *c, const struct sdh_rtp_opts *opts, struct sdh_rtp **out)
{
	*out = NULL;
	struct sdh_rtp *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ctx = sdh_rtp_ctx_ref(c);
	h->fd_rtp = h->fd_rtcp = h->fd_tp = -1;
	h->offer_rtcp_mux = opts && opts->rtcp_mux;
	int rc = 0;
	if (opts && opts->transport) {
		h->has_tp = true;
		h->tp = *opts->transport;
		h->offer_rtcp_mux = h->offer_rtcp_mux || h->tp.send;
	}
	if (!tp_sends(h)) {
		rc = alloc_pair(h);
		if (rc == 0 && ((rc = watch(h, h->fd_rtp, false)) != 0 ||
		                (rc = watch(h, h->fd_rtcp, true)) != 0))
			sdh_rtp_close(h);
	}
	if (rc != 0) {
		sdh_rtp_ctx_unref(c);
		free(h);
		return rc;
	}
	h->sess_id = (((uint64_t)g_random_int() << 31) ^ g_random_int()) & INT64_MAX;
	h->m.te_pt = -1;
	h->state = ST_IDLE;
	*out = h;
	return 0;
}

static void dtmf_stop(struct sdh_rtp *h)
{
	drop_source(&h->dtmf_timer);
	h->dtmf_active = false;
	h->dtmf_count = 0;
}

void sdh_rtp_close(void *sdh)
{
	struct sdh_rtp *h = sdh;
	if (!h || h->state == ST_CLOSED)
		return;
	sdh_rtp_unbridge(h);
	dtmf_stop(h);
	if (h->has_tp)
		h->tp.close(h->tp.arg);
	sdh_rtp_transport_unwatch(h);
	if (h->fd_rtp >= 0) {
		/* removed by hand: a copy of the descriptor in a forked child would
		 * keep a closed one in the set */
		epoll_ctl(h->ctx->epfd, EPOLL_CTL_DEL, h->fd_rtp, NULL);
		epoll_ctl(h->ctx->epfd, EPOLL_CTL_DEL, h->fd_rtcp, NULL);
		close(h->fd_rtp);
		close(h->fd_rtcp);
		h->fd_rtp = h->fd_rtcp = -1;
		h->ctx->pair_used[h->pair] = 0;
		h->ctx->pairs_in_use--;
	}
	h->port = 0;
	remote_clear(&h->remote);
	remote_clear(&h->pending);
	h->m.active = false;
	h->state = ST_CLOSED;
}

void sdh_rtp_free(struct sdh_rtp *h)
{
	if (!h)
		return;
	sdh_rtp_close(h);
	if (h->last_tail)
		g_string_free(h->last_tail, TRUE);
	sdh_rtp_ctx_unref(h->ctx);
	free(h);
}

uint16_t sdh_rtp_port(const struct sdh_rtp *h)
{
	return h->port;
}

void sdh_rtp_get_stats(const struct sdh_rtp *h, struct sdh_rtp_stats *out)
{
	*out = h->stats;
	out->peer_sends = h->state != ST_CLOSED && h->m.active && h->m.recv;
	out->held = h->state != ST_CLOSED && h->m.active && !(h->m.send && h->m.recv);
}

/* ---- reading a remote description ---- */

/* The profiles h speaks: its transport's, else plain RTP. */
static bool proto_ok(const struct sdh_rtp *h, const char *proto)
{
	if (h->has_tp)
		return strcmp(proto, h->tp.proto) == 0;
	return strcmp(proto, "RTP/AVP") == 0 || strcmp(proto, "RTP/AVPF") == 0;
}

static int dir_bits(enum sdp_direction d)
{
	switch (d) {
	case SDP_DIR_SENDONLY:
		return DIR_SEND;
	case SDP_DIR_RECVONLY:
		return DIR_RECV;
	case SDP_DIR_INACTIVE:
		return 0;
	default:
		return DIR_SENDRECV;
	}
}

static const char *dir_attr(unsigned bits)
{
	static const char *const names[] = {"inactive", "sendonly", "recvonly", "sendrecv"};
	return names[bits & 3];
}

static unsigned mirror(unsigned bits)
{
	return ((bits & DIR_SEND) ? DIR_RECV : 0) | ((bits & DIR_RECV) ? DIR_SEND : 0);
}

/* Parse body into r: the first RTP/AVP audio stream with a port, its address,
 * direction and the codecs we carry. A stream with no carried codec is
 * skipped for the next one; when there is none, -ENOTSUP. */
static int read_remote(struct sdh_rtp *h, const char *body, size_t len, struct remote *r)
{
	struct sdh_rtp_ctx *c = h->ctx;
	memset(r, 0, sizeof(*r));
	struct sdp_error err = {0, NULL};
	int rc = sdp_parse(body, len, &r->sdp, &err);
	if (rc != 0) {
		logf_(c, "sdh_rtp: refused description: line %d: %s", err.line,
		      err.reason ? err.reason : "too large");
		return -EINVAL;
	}
	bool any_audio = false, refused_audio = false;
	rc = -EINVAL;
	for (unsigned i = 0; i < r->sdp->n_media; i++) {
		const struct sdp_media *m = &r->sdp->media[i];
		if (strcmp(m->type, "audio") != 0 || !proto_ok(h, m->proto))
			continue;
		if (m->port == 0) {
			refused_audio = true;
			continue;
		}
		any_audio = true;
		r->codecs.n = 0;
		for (unsigned f = 0; f < m->n_formats && r->codecs.n < SDH_RTP_MAX_CODECS; f++) {
			struct sdp_codec sc;
			if (sdp_media_codec_at(m, f, &sc) != 0 || !carried(c, &sc) ||
			    strlen(sc.encoding) >= NAME_MAX_LEN ||
			    (sc.fmtp && strlen(sc.fmtp) >= FMTP_MAX_LEN))
				continue;
			bool twice = false; /* "0 8 08" lists PCMA twice: once is enough */
			for (unsigned j = 0; j < r->codecs.n; j++)
				twice = twice || r->codecs.c[j].pt == sc.pt;
			if (twice)
				continue;
			struct codec *k = &r->codecs.c[r->codecs.n++];
			memset(k, 0, sizeof(*k));
			k->pt = sc.pt;
			k->clock = sc.clock;
			k->channels = sc.channels;
			snprintf(k->name, sizeof(k->name), "%s", sc.encoding);
			if (sc.fmtp)
				snprintf(k->fmtp, sizeof(k->fmtp), "%s", sc.fmtp);
		}
		trim_te(&r->codecs);
		if (audio_count(&r->codecs) == 0)
			continue;
		r->mux = sdp_media_attr(m, SDP_ATTR_RTCP_MUX, NULL) != NULL;
		r->dir = (unsigned)dir_bits(sdp_media_direction(r->sdp, m));
		r->audio_idx = i;
		if (tp_sends(h))
			return 0; /* where packets go is the transport's business */
		const struct sdp_connection *conn = sdp_media_connection(r->sdp, m);
		if (!conn || strcmp(conn->nettype, "IN") != 0 ||
		    parse_literal(conn->address, m->port, &r->rtp) != 0 ||
		    to_family(&r->rtp, c->bind.ss_family) != 0) {
			logf_(c, "sdh_rtp: refused description: audio address %s not usable",
			      conn ? conn->address : "(none)");
			goto fail;
		}
		r->null_addr = addr_is_any(&r->rtp);
		r->rtcp = r->rtp;
		const struct sdp_attr *ra = sdp_media_attr(m, SDP_ATTR_RTCP, NULL);
		uint16_t rtcp_port = r->mux ? m->port : (uint16_t)(m->port + 1);
		if (ra && !r->mux) {
			rtcp_port = ra->u.rtcp.port;
			if (ra->u.rtcp.address &&
			    (parse_literal(ra->u.rtcp.address, rtcp_port, &r->rtcp) != 0 ||
			     to_family(&r->rtcp, c->bind.ss_family) != 0))
				goto fail;
		}
		if (r->rtcp.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&r->rtcp)->sin6_port = htons(rtcp_port);
		else
			((struct sockaddr_in *)&r->rtcp)->sin_port = htons(rtcp_port);
		if (r->null_addr)
			r->dir &= ~(unsigned)DIR_RECV;
		return 0;
	}
	if (any_audio || refused_audio) {
		logf_(c, "sdh_rtp: refused description: %s",
		      any_audio ? "no codec in common" : "the audio stream is refused (port 0)");
		rc = -ENOTSUP;
	} else {
		logf_(c, "sdh_rtp: refused description: no %s audio stream",
		      h->has_tp ? h->tp.proto : "RTP/AVP");
	}
fail:
	remote_clear(r);
	return rc;
}

/* Agree media with remote r; local_dir and the codecs both ends accepted. */
static void apply_media(struct sdh_rtp *h, const struct remote *r, unsigned local_dir, bool mux,
                        const struct codec_list *agreed)
{
	struct media *m = &h->m;
	bool same = m->active && addr_equal(&m->sdp_rtp, &r->rtp) && addr_equal(&m->sdp_rtcp, &r->rtcp);
	if (!same && !tp_sends(h)) {
		m->sdp_rtp = m->rtp_dst = r->rtp;
		m->sdp_rtcp = m->rtcp_dst = mux ? r->rtp : r->rtcp;
		m->rtp_latched = m->rtcp_latched = false;
	}
	m->mux = mux;
	m->send = (local_dir & DIR_SEND) && (r->dir & DIR_RECV) && !r->null_addr;
	m->recv = (local_dir & DIR_RECV) && (r->dir & DIR_SEND);
	memset(m->pts, 0, sizeof(m->pts));
	m->te_pt = -1;
	m->te_clock = 0;
	m->agreed = *agreed;
	h->map_ready = false;
	if (h->peer)
		h->peer->map_ready = false;
	uint32_t first_clock = 0;
	for (unsigned i = 0; i < agreed->n; i++) {
		pt_set(m->pts, agreed->c[i].pt);
		if (!is_te(&agreed->c[i]) && !first_clock)
			first_clock = agreed->c[i].clock;
	}
	for (unsigned i = 0; i < agreed->n; i++)
		if (is_te(&agreed->c[i]) &&
		    (m->te_pt < 0 || (agreed->c[i].clock == first_clock && m->te_clock != first_clock))) {
			m->te_pt = agreed->c[i].pt;
			m->te_clock = agreed->c[i].clock;
		}
	m->active = true;
	if (!m->send)
		dtmf_stop(h);
	if (h->has_tp)
		h->tp.agreed(h->tp.arg);
}

int sdh_rtp_set_description(void *sdh, const char *ctype, const char *body, size_t len,
                            const void *options)
{
	struct sdh_rtp *h = sdh;
	if (h->state == ST_CLOSED)
		return -EBADF;
	if (!sdh_rtp_has_description(h, ctype, len))
		return -EINVAL;
	struct remote r;
	int rc = read_remote(h, body, len, &r);
	if (rc != 0)
		return rc;
	if (h->has_tp &&
	    (rc = h->tp.remote(h->tp.arg, r.sdp, &r.sdp->media[r.audio_idx],
	                       h->state != ST_LOCAL_OFFER)) != 0) {
		remote_clear(&r);
		return rc;
	}
	if (h->state != ST_LOCAL_OFFER) {
		/* an offer: kept until we answer it */
		remote_clear(&h->pending);
		h->pending = r;
		h->state = ST_REMOTE_OFFER;
		return 0;
	}
	/* an answer: only what we offered, by payload type */
	struct codec_list agreed = {.n = 0};
	for (unsigned i = 0; i < r.codecs.n; i++)
		for (unsigned j = 0; j < h->local_codecs.n; j++)
			if (r.codecs.c[i].pt == h->local_codecs.c[j].pt &&
			    codec_same(&r.codecs.c[i], &h->local_codecs.c[j]))
				agreed.c[agreed.n++] = r.codecs.c[i];
	if (audio_count(&agreed) == 0 || r.sdp->n_media != 1) {
		logf_(h->ctx, "sdh_rtp: refused answer: %s",
		      r.sdp->n_media != 1 ? "not one m= line" : "no codec we offered");
		remote_clear(&r);
		return -ENOTSUP;
	}
	r.codecs = agreed;
	apply_media(h, &r, h->local_dir, h->local_mux && r.mux, &agreed);
	remote_clear(&h->remote);
	h->remote = r;
	h->state = ST_STABLE;
	return 0;
}

bool sdh_rtp_has_description(void *sdh, const char *ctype, size_t len)
{
	(void)sdh;
	if (!ctype || len == 0)
		return false;
	size_t n = strlen("application/sdp");
	return strncasecmp(ctype, "application/sdp", n) == 0 &&
	       (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ');
}

void sdh_rtp_rollback_description(void *sdh)
{
	struct sdh_rtp *h = sdh;
	if (h->state == ST_REMOTE_OFFER)
		remote_clear(&h->pending);
	if (h->state == ST_REMOTE_OFFER || h->state == ST_LOCAL_OFFER)
		h->state = h->m.active ? ST_STABLE : ST_IDLE;
}

/* ---- writing our description ---- */

static void put_codecs(GString *t, const struct codec_list *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		const struct codec *k = &l->c[i];
		g_string_append_printf(t, "a=rtpmap:%u %s/%u", k->pt, k->name, k->clock);
		if (k->channels)
			g_string_append_printf(t, "/%u", k->channels);
		g_string_append(t, "\r\n");
		if (k->fmtp[0])
			g_string_append_printf(t, "a=fmtp:%u %s\r\n", k->pt, k->fmtp);
	}
}

/* What a transport adds to a description (see struct sdh_rtp_transport). */
struct tp_lines {
	uint16_t port;
	const char *address; /* NULL: the session's */
	GString *session, *media;
};

static void tp_lines_get(struct sdh_rtp *h, bool answer, const char *mid, struct tp_lines *x)
{
	x->port = h->port;
	x->address = NULL;
	x->session = g_string_new(NULL);
	x->media = g_string_new(NULL);
	if (h->has_tp)
		h->tp.describe(h->tp.arg, answer, mid, &x->port, &x->address, x->session, x->media);
}

static void tp_lines_free(struct tp_lines *x)
{
	g_string_free(x->session, TRUE);
	g_string_free(x->media, TRUE);
}

static void put_mid(GString *t, const char *mid)
{
	if (mid)
		g_string_append_printf(t, "a=mid:%s\r\n", mid);
}

static void put_audio(GString *t, const struct sdh_rtp *h, const char *proto,
                      const struct codec_list *l, bool mux, unsigned dir, const char *mid,
                      const struct tp_lines *x)
{
	g_string_append_printf(t, "m=audio %u %s", x->port, proto);
	for (unsigned i = 0; i < l->n; i++)
		g_string_append_printf(t, " %u", l->c[i].pt);
	g_string_append(t, "\r\n");
	if (x->address)
		g_string_append_printf(t, "c=IN %s %s\r\n", strchr(x->address, ':') ? "IP6" : "IP4",
		                       x->address);
	put_mid(t, mid);
	put_codecs(t, l);
	if (h->ctx->ptime)
		g_string_append_printf(t, "a=ptime:%u\r\n", h->ctx->ptime);
	if (mux)
		g_string_append(t, "a=rtcp-mux\r\n");
	g_string_append_printf(t, "a=%s\r\n", dir_attr(dir));
	g_string_append_len(t, x->media->str, (gssize)x->media->len);
}

static const char *our_address(const struct sdh_rtp *h)
{
	return *h->address ? h->address : h->ctx->address;
}

static void put_session(GString *t, const struct sdh_rtp *h, const struct tp_lines *x)
{
	g_string_append_printf(t, "s=sipwire\r\nc=IN %s %s\r\nt=0 0\r\n", h->ctx->addrtype,
	                       our_address(h));
	g_string_append_len(t, x->session->str, (gssize)x->session->len);
}

/* The answer's codecs: the offer's, in its order and numbering, less those
 * the answer filter (what the other leg agreed) leaves out. */
static void answer_codecs(const struct sdh_rtp *h, struct codec_list *out)
{
	out->n = 0;
	for (unsigned i = 0; i < h->pending.codecs.n; i++) {
		const struct codec *k = &h->pending.codecs.c[i];
		/* telephone-event stays whatever the other leg took: the relay
		 * turns events that leg cannot carry into INFO (sdh_rtp_on_dtmf) */
		bool ok = !h->answer_filter_set || is_te(k);
		for (unsigned j = 0; !ok && j < h->answer_filter.n; j++)
			ok = codec_same(k, &h->answer_filter.c[j]);
		if (ok)
			out->c[out->n++] = *k;
	}
	trim_te(out);
}

/* Write "v= o=" then tail into buf; the version goes up when tail differs
 * from the last one. Commits (version, last tail) only on success. */
static int emit(struct sdh_rtp *h, GString *tail, char *buf, size_t size, size_t *len)
{
	bool changed = !h->last_tail || h->last_tail->len != tail->len ||
	               memcmp(h->last_tail->str, tail->str, tail->len) != 0;
	uint64_t version = h->version + (changed ? 1 : 0);
	int n = snprintf(buf, size, "v=0\r\no=sipwire %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " IN %s %s\r\n",
	                 h->sess_id, version, h->ctx->addrtype, our_address(h));
	if (n < 0 || (size_t)n + tail->len + 1 > size)
		return -ENOSPC;
	memcpy(buf + n, tail->str, tail->len + 1);
	*len = (size_t)n + tail->len;
	h->version = version;
	if (changed) {
		if (h->last_tail)
			g_string_free(h->last_tail, TRUE);
		h->last_tail = g_string_new_len(tail->str, (gssize)tail->len);
	}
	return 0;
}

int sdh_rtp_get_description(void *sdh, const void *options, char *buf, size_t size, size_t *len,
                            const char **ctype)
{
	struct sdh_rtp *h = sdh;
	const struct sdh_rtp_options *o = options;
	bool hold = o && o->hold;
	if (h->state == ST_CLOSED)
		return -EBADF;
	GString *t = g_string_sized_new(1024);
	struct tp_lines x;
	int rc;
	if (h->state == ST_REMOTE_OFFER) {
		struct codec_list agreed;
		answer_codecs(h, &agreed);
		if (audio_count(&agreed) == 0) {
			g_string_free(t, TRUE);
			return -ENOTSUP;
		}
		unsigned dir = mirror(h->pending.dir) & (hold ? DIR_SEND : DIR_SENDRECV);
		const struct sdp_session *s = h->pending.sdp;
		const struct sdp_attr *amid =
		    sdp_media_attr(&s->media[h->pending.audio_idx], SDP_ATTR_MID, NULL);
		tp_lines_get(h, true, amid ? amid->value : NULL, &x);
		put_session(t, h, &x);
		for (unsigned i = 0; i < s->n_media; i++) {
			const struct sdp_media *m = &s->media[i];
			const struct sdp_attr *mid = sdp_media_attr(m, SDP_ATTR_MID, NULL);
			if (i == h->pending.audio_idx) {
				put_audio(t, h, m->proto, &agreed, h->pending.mux, dir,
				          mid ? mid->value : NULL, &x);
				continue;
			}
			/* RFC 3264 §6: a refused stream keeps its line, with port 0
			 * (and its mid, RFC 8843 §7.3.3) */
			g_string_append_printf(t, "m=%s 0 %s", m->type, m->proto);
			for (unsigned f = 0; f < m->n_formats; f++)
				g_string_append_printf(t, " %s", m->formats[f]);
			g_string_append(t, "\r\n");
			put_mid(t, mid ? mid->value : NULL);
		}
		rc = emit(h, t, buf, size, len);
		if (rc == 0) {
			struct remote r = h->pending;
			memset(&h->pending, 0, sizeof(h->pending));
			r.codecs = agreed;
			apply_media(h, &r, dir, r.mux, &agreed);
			remote_clear(&h->remote);
			h->remote = r;
			h->answer_filter_set = false;
			h->state = ST_STABLE;
		}
	} else {
		const struct codec_list *l = h->offer_like ? &h->offer_codecs : &h->ctx->offer;
		unsigned dir = DIR_SENDRECV;
		if (hold)
			dir = (h->remote.sdp && h->remote.dir == DIR_SEND) ? 0 : DIR_SEND;
		const char *mid = tp_sends(h) ? "0" : NULL; /* what BUNDLE names */
		tp_lines_get(h, false, mid, &x);
		put_session(t, h, &x);
		put_audio(t, h, h->has_tp ? h->tp.proto : "RTP/AVP", l, h->offer_rtcp_mux, dir, mid, &x);
		rc = emit(h, t, buf, size, len);
		if (rc == 0) {
			h->local_codecs = *l;
			h->local_dir = dir;
			h->local_mux = h->offer_rtcp_mux;
			h->state = ST_LOCAL_OFFER;
		}
	}
	tp_lines_free(&x);
	g_string_free(t, TRUE);
	if (rc == 0 && ctype)
		*ctype = "application/sdp";
	return rc;
}

/* ---- the B2BUA's helpers ---- */

static const struct remote *latest_remote(const struct sdh_rtp *h)
{
	if (h->state == ST_REMOTE_OFFER)
		return &h->pending;
	return h->remote.sdp ? &h->remote : NULL;
}

/* Where a codec stands in the context's order of preference (its default
 * offer, as configured). */
static unsigned preference(const struct sdh_rtp_ctx *c, const struct codec *k)
{
	for (unsigned i = 0; i < c->offer.n; i++)
		if (known_index(c->offer.c[i].name, c->offer.c[i].clock) == known_index(k->name, k->clock))
			return i;
	return c->offer.n;
}

/* Sort l into the context's order of preference; codecs of one kind (two
 * telephone-events) keep their order. */
static void by_preference(const struct sdh_rtp_ctx *c, struct codec_list *l)
{
	for (unsigned i = 1; i < l->n; i++) {
		struct codec k = l->c[i];
		unsigned r = preference(c, &k), j = i;
		for (; j > 0 && preference(c, &l->c[j - 1]) > r; j--)
			l->c[j] = l->c[j - 1];
		l->c[j] = k;
	}
}

/* Offer telephone-event even when the other leg's peer did not: events
 * this leg's peer sends then reach that one as INFO (sdh_rtp_on_dtmf). At
 * 8000 Hz, numbered 101 or the first dynamic number free. */
static void add_te(const struct sdh_rtp_ctx *c, struct codec_list *l)
{
	if (!(c->accepted & (1u << KNOWN_TE)) || l->n == SDH_RTP_MAX_CODECS)
		return;
	uint32_t used[4] = {0};
	for (unsigned i = 0; i < l->n; i++) {
		if (is_te(&l->c[i]))
			return;
		pt_set(used, l->c[i].pt);
	}
	unsigned pt = 101;
	for (unsigned p = 96; pt_has(used, (uint8_t)pt) && p < 128; p++)
		pt = p;
	if (pt_has(used, (uint8_t)pt))
		return;
	struct codec *k = &l->c[l->n++];
	codec_from_known(k, &known_codecs[KNOWN_TE]);
	k->pt = (uint8_t)pt;
}

int sdh_rtp_offer_like(struct sdh_rtp *h, const struct sdh_rtp *other)
{
	const struct remote *r = latest_remote(other);
	if (!r)
		return -ENOENT;
	struct codec_list l = {.n = 0};
	for (unsigned i = 0; i < r->codecs.n; i++) {
		int k = known_index(r->codecs.c[i].name, r->codecs.c[i].clock);
		if (k >= 0 && (h->ctx->accepted & (1u << k)))
			l.c[l.n++] = r->codecs.c[i];
	}
	if (audio_count(&l) == 0)
		return -ENOTSUP;
	add_te(h->ctx, &l);
	by_preference(h->ctx, &l);
	h->offer_codecs = l;
	h->offer_like = true;
	return 0;
}

void sdh_rtp_offer_default(struct sdh_rtp *h)
{
	h->offer_like = false;
}

int sdh_rtp_answer_like(struct sdh_rtp *h, const struct sdh_rtp *other)
{
	const struct remote *r = latest_remote(other);
	if (!r)
		return -ENOENT;
	h->answer_filter = r->codecs;
	h->answer_filter_set = true;
	return 0;
}

/* ---- the relay ---- */

void sdh_rtp_unbridge(struct sdh_rtp *h)
{
	if (h->mode == MODE_BRIDGE && h->peer) {
		h->peer->mode = MODE_NONE;
		h->peer->peer = NULL;
	}
	h->mode = MODE_NONE;
	h->peer = NULL;
}

int sdh_rtp_bridge(struct sdh_rtp *a, struct sdh_rtp *b)
{
	if (!a || !b || a == b)
		return -EINVAL;
	if (a->state == ST_CLOSED || b->state == ST_CLOSED)
		return -EBADF;
	sdh_rtp_unbridge(a);
	sdh_rtp_unbridge(b);
	a->mode = b->mode = MODE_BRIDGE;
	a->peer = b;
	b->peer = a;
	a->map_ready = b->map_ready = false;
	return 0;
}

int sdh_rtp_echo(struct sdh_rtp *h)
{
	if (h->state == ST_CLOSED)
		return -EBADF;
	sdh_rtp_unbridge(h);
	h->mode = MODE_ECHO;
	return 0;
}

/* Is src where h's peer sends from? Latches onto a new source (symmetric RTP
 * for peers behind NAT) once per description, when it comes from the host
 * the description named or carries an agreed payload type. */
static bool source_ok(struct sdh_rtp *h, bool rtcp_slot, const struct sockaddr_storage *src, int pt)
{
	struct media *m = &h->m;
	struct sockaddr_storage *dst = rtcp_slot ? &m->rtcp_dst : &m->rtp_dst;
	bool *latched = rtcp_slot ? &m->rtcp_latched : &m->rtp_latched;
	if (addr_equal(src, dst)) {
		*latched = true;
		return true;
	}
	if (*latched)
		return false;
	bool host_ok = host_equal(src, rtcp_slot ? &m->sdp_rtcp : &m->sdp_rtp) ||
	               (rtcp_slot && m->rtp_latched && host_equal(src, &m->rtp_dst));
	if (!host_ok && !(pt >= 0 && pt_has(m->pts, (uint8_t)pt)))
		return false;
	*dst = *src;
	*latched = true;
	if (!rtcp_slot && m->mux)
		m->rtcp_dst = *src;
	return true;
}

/* h's payload types as t numbers the same codecs (name and clock); -1 for
 * one t did not agree. */
static void make_map(struct sdh_rtp *h, const struct sdh_rtp *t)
{
	for (unsigned pt = 0; pt < 128; pt++)
		h->pt_map[pt] = -1;
	const struct codec_list *from = &h->m.agreed, *to = &t->m.agreed;
	for (unsigned i = 0; i < from->n; i++)
		for (unsigned j = 0; j < to->n; j++)
			if (codec_same(&from->c[i], &to->c[j])) {
				h->pt_map[from->c[i].pt] = to->c[j].pt;
				break;
			}
	h->map_ready = true;
}

/* The clock of payload type pt as h agreed it; 8000 when unknown. */
static uint32_t pt_clock(const struct sdh_rtp *h, int pt)
{
	for (unsigned i = 0; i < h->m.agreed.n; i++)
		if (h->m.agreed.c[i].pt == pt)
			return h->m.agreed.c[i].clock;
	return 8000;
}

/* An RTP packet h received goes out of t: it continues t's outgoing stream.
 * The first source's numbers go out unchanged; a new source (another SSRC)
 * is moved onto the stream's SSRC, numbered after its last packet and timed
 * from it, with the marker set for the receiver's jitter buffer. */
static void continue_stream(const struct sdh_rtp *h, struct sdh_rtp *t, uint8_t *p, size_t len,
                            const struct rtp_view *v)
{
	int64_t now = h->ctx->now_us;
	if (!t->out_seen) {
		t->out_seen = true;
		t->out_ssrc = t->src_ssrc = v->ssrc;
		t->seq_delta = 0;
		t->ts_delta = 0;
	} else if (v->ssrc != t->src_ssrc) {
		uint64_t elapsed = (uint64_t)(now - t->out_ts_time) * pt_clock(h, v->payload_type) / 1000000u;
		t->src_ssrc = v->ssrc;
		t->seq_delta = (uint16_t)(t->out_seq + 1u - v->seq);
		t->ts_delta = t->out_ts + (uint32_t)(elapsed ? elapsed : 1) - v->timestamp;
		rtp_set_marker(p, len, true);
	}
	if (v->ssrc != t->out_ssrc)
		rtp_set_ssrc(p, len, t->out_ssrc);
	if (t->seq_delta)
		rtp_set_seq(p, len, (uint16_t)(v->seq + t->seq_delta));
	if (t->ts_delta)
		rtp_set_timestamp(p, len, v->timestamp + t->ts_delta);
	t->out_seq = (uint16_t)(v->seq + t->seq_delta);
	t->out_ts = v->timestamp + t->ts_delta;
	t->out_ts_time = now;
}

static uint32_t get32(const uint8_t *b) { return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]; }

static void put32(uint8_t *b, uint32_t x)
{
	b[0] = (uint8_t)(x >> 24);
	b[1] = (uint8_t)(x >> 16);
	b[2] = (uint8_t)(x >> 8);
	b[3] = (uint8_t)x;
}

/* An SSRC in RTCP that h's peer sent, as t's peer knows that stream: the
 * source t relays is t's outgoing SSRC there, and the stream h sends (which
 * h's peer reports on) is, seen from t's peer, its own original SSRC. */
static uint32_t map_ssrc(const struct sdh_rtp *h, const struct sdh_rtp *t, uint32_t ssrc)
{
	if (t->out_seen && ssrc == t->src_ssrc)
		return t->out_ssrc;
	if (h->out_seen && ssrc == h->out_ssrc)
		return h->src_ssrc;
	return ssrc;
}

/* RTCP from h's peer goes to t's peer in terms of the streams t's peer
 * knows (RFC 3550 §7: a translator that changes SSRCs, numbers or times
 * changes the reports to match): sender SSRCs and the SR's RTP time of the
 * relayed source, and report blocks (and feedback's media SSRC) about the
 * stream h sends, with its extended highest sequence number moved back. */
static void translate_rtcp(const struct sdh_rtp *h, const struct sdh_rtp *t, uint8_t *p, size_t len)
{
	if (t == h)
		return; /* echo: the peer's own streams */
	struct rtcp_iter it;
	struct rtcp_view v;
	rtcp_iter_init(&it, p, len);
	while (rtcp_next(&it, &v) == 1) {
		uint8_t *pkt = p + (v.buf - p);
		if (!v.has_ssrc)
			continue;
		uint32_t sender = v.ssrc;
		put32(pkt + 4, map_ssrc(h, t, sender));
		if (v.type == RTCP_SR && t->out_seen && sender == t->src_ssrc)
			put32(pkt + 16, get32(pkt + 16) + t->ts_delta); /* sender info's RTP time */
		for (unsigned i = 0; i < v.block_count; i++) {
			uint8_t *b = pkt + v.block_offset + i * RTCP_REPORT_BLOCK_LEN;
			uint32_t about = get32(b);
			if (h->out_seen && about == h->out_ssrc) {
				/* the number back in the source's numbering; the wrap
				 * count (high half) stays the receiver's */
				uint32_t ext = get32(b + 8);
				put32(b, h->src_ssrc);
				put32(b + 8, (ext & 0xffff0000u) | (uint16_t)(ext - h->seq_delta));
			} else {
				put32(b, map_ssrc(h, t, about));
			}
		}
		if ((v.type == RTCP_RTPFB || v.type == RTCP_PSFB) && v.len >= 12)
			put32(pkt + 8, map_ssrc(h, t, get32(pkt + 8)));
	}
}

static const char dtmf_tones[] = "0123456789*#ABCD";

/* A telephone-event packet of h's peer that its bridge cannot carry: the
 * owner hears the event once, at its end (RFC 4733 §2.5.1.4 sends the end
 * three times, one timestamp per event). */
static void event_to_owner(struct sdh_rtp *h, const struct rtp_view *v)
{
	const struct codec *k = NULL;
	for (unsigned i = 0; i < h->m.agreed.n && !k; i++)
		if (h->m.agreed.c[i].pt == v->payload_type && is_te(&h->m.agreed.c[i]))
			k = &h->m.agreed.c[i];
	if (!k || !h->on_dtmf || v->payload_len < 4)
		return;
	const uint8_t *e = v->buf + v->payload_offset;
	if (!(e[1] & 0x80) || e[0] >= sizeof dtmf_tones - 1)
		return; /* not the end yet, or not a DTMF tone (flash, tones) */
	if (h->in_event_done && h->in_event_ts == v->timestamp)
		return;
	h->in_event_done = true;
	h->in_event_ts = v->timestamp;
	unsigned samples = (unsigned)e[2] << 8 | e[3];
	h->on_dtmf(h->dtmf_arg, dtmf_tones[e[0]], k->clock ? samples * 1000u / k->clock : 0);
}

void sdh_rtp_on_dtmf(struct sdh_rtp *h, void (*fn)(void *arg, char tone, unsigned duration_ms),
                     void *arg)
{
	h->on_dtmf = fn;
	h->dtmf_arg = arg;
}

/* Where a packet received by h goes: the handler to send it from, or NULL to
 * drop it. src is where it came from (NULL from a transport, which checked
 * that itself). Renumbers the payload type when the two ends agreed another
 * number for the codec, and the sequence number when DTMF was inserted. */
static struct sdh_rtp *route(struct sdh_rtp *h, uint8_t *p, size_t len, bool on_rtcp_port,
                             const struct sockaddr_storage *src, bool *is_rtcp)
{
	enum rtp_demux_kind kind = rtp_demux(p, len);
	struct rtp_view v = {0};
	int pt = -1;
	if (kind == RTP_DEMUX_RTP && !on_rtcp_port) {
		if (rtp_parse(p, len, &v) != 0)
			return NULL;
		pt = v.payload_type;
		*is_rtcp = false;
	} else if (kind == RTP_DEMUX_RTCP && (on_rtcp_port || h->m.mux)) {
		if (rtcp_validate(p, len) <= 0)
			return NULL;
		*is_rtcp = true;
	} else {
		return NULL;
	}
	if (!h->m.active || (src && !source_ok(h, on_rtcp_port, src, pt)))
		return NULL;
	h->stats.last_rx_us = h->ctx->now_us;
	if (!h->m.recv)
		return NULL;
	struct sdh_rtp *t = h->mode == MODE_ECHO ? h : h->mode == MODE_BRIDGE ? h->peer : NULL;
	if (!t || !t->m.active || !t->m.send)
		return NULL;
	if (!*is_rtcp && t != h) {
		if (!h->map_ready)
			make_map(h, t);
		int to = h->pt_map[pt];
		if (to < 0) {
			event_to_owner(h, &v);
			return NULL;
		}
		if (to != pt) {
			rtp_set_payload_type(p, len, (uint8_t)to);
			t->stats.pt_mapped++;
		}
	}
	if (*is_rtcp) {
		translate_rtcp(h, t, p, len);
		return t;
	}
	if (t->dtmf_active) {
		/* no audio under an event; its number goes to the next packet */
		t->seq_delta--;
		return NULL;
	}
	continue_stream(h, t, p, len, &v);
	return t;
}

static void send_run(struct sdh_rtp_ctx *c, unsigned from, unsigned to)
{
	int fd = c->tx_fd[from];
	unsigned i = from;
	while (i < to) {
		int r = sendmmsg(fd, &c->tx[i], to - i, 0);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			c->tx_owner[i]->stats.dropped++; /* skip the one that failed */
			i++;
			continue;
		}
		for (int k = 0; k < r; k++) {
			c->tx_owner[i + (unsigned)k]->stats.tx_packets++;
			c->tx_owner[i + (unsigned)k]->stats.tx_bytes += c->tx[i + (unsigned)k].msg_hdr.msg_iov->iov_len;
		}
		i += (unsigned)r;
	}
}

/* Send one packet from t to its peer, outside the batches: through its
 * transport, else from its socket. */
static void send_one(struct sdh_rtp *t, uint8_t *p, size_t len, size_t cap, bool rtcp)
{
	bool sent;
	if (tp_sends(t)) {
		sent = t->tp.send(t->tp.arg, p, len, cap, rtcp) == 0;
	} else {
		int n = t->has_tp && t->tp.protect ? t->tp.protect(t->tp.arg, p, len, cap, rtcp)
		                                   : (int)len;
		bool via_rtcp = rtcp && !t->m.mux;
		const struct sockaddr_storage *dst = via_rtcp ? &t->m.rtcp_dst : &t->m.rtp_dst;
		sent = n > 0 && sendto(via_rtcp ? t->fd_rtcp : t->fd_rtp, p, (size_t)n, 0,
		                       (const struct sockaddr *)dst, addr_len(dst)) == n;
		len = n > 0 ? (size_t)n : len;
	}
	if (!sent) {
		t->stats.dropped++;
		return;
	}
	t->stats.tx_packets++;
	t->stats.tx_bytes += len;
}

const uint32_t sdh_rtp_latency_bounds_us[SDH_RTP_LATENCY_BUCKETS] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 5000, 20000};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no system call */
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The one place relaying is timed: once per receive, not per packet. */
static void latency_add(struct sdh_rtp_ctx *c, uint64_t since_ns)
{
	uint64_t ns = now_ns() - since_ns;
	unsigned i = 0;
	while (i < SDH_RTP_LATENCY_BUCKETS && ns > (uint64_t)sdh_rtp_latency_bounds_us[i] * 1000u)
		i++;
	c->latency.bucket[i]++;
	c->latency.count++;
	c->latency.sum_ns += ns;
}

void sdh_rtp_ctx_latency(const struct sdh_rtp_ctx *c, struct sdh_rtp_latency *out)
{
	*out = c->latency;
}

void sdh_rtp_transport_recv(struct sdh_rtp *h, uint8_t *buf, size_t len, size_t cap)
{
	if (h->state == ST_CLOSED)
		return;
	uint64_t t0 = now_ns();
	h->ctx->now_us = (int64_t)(t0 / 1000u);
	h->stats.rx_packets++;
	h->stats.rx_bytes += len;
	bool is_rtcp = false;
	struct sdh_rtp *t = route(h, buf, len, false, NULL, &is_rtcp);
	if (!t) {
		h->stats.dropped++;
		return;
	}
	send_one(t, buf, len, cap, is_rtcp);
	latency_add(h->ctx, t0);
}

/* The transform of h's transport on a datagram from its port pair: false
 * drops it. RTCP muxed on the RTP port is told apart by its payload type. */
static bool unprotect(struct sdh_rtp *h, uint8_t *p, size_t *len, bool on_rtcp_port)
{
	if (!h->has_tp || !h->tp.unprotect)
		return true;
	bool rtcp = on_rtcp_port || rtp_demux(p, *len) == RTP_DEMUX_RTCP;
	int n = h->tp.unprotect(h->tp.arg, p, *len, rtcp);
	if (n <= 0)
		return false;
	*len = (size_t)n;
	return true;
}

/* A datagram from the transport's socket: what its input hook made of it,
 * counted as the handler's as sdh_rtp_transport_recv would. false: nothing
 * to relay. */
static bool transport_input(struct sdh_rtp *h, unsigned i, size_t *len)
{
	struct sdh_rtp_ctx *c = h->ctx;
	if (c->rx[i].msg_hdr.msg_flags & MSG_TRUNC)
		return false;
	int n = h->tp.input(h->tp.arg, c->bufs[i], *len, PACKET_MAX, &c->from[i],
	                    c->rx[i].msg_hdr.msg_namelen);
	if (n == 0 || h->state == ST_CLOSED)
		return false;
	if (n < 0) {
		h->stats.dropped++;
		return false;
	}
	*len = (size_t)n;
	h->stats.rx_packets++;
	h->stats.rx_bytes += *len;
	return true;
}

static void relay_batch(struct sdh_rtp *h, unsigned tag, unsigned n)
{
	struct sdh_rtp_ctx *c = h->ctx;
	bool on_rtcp_port = tag == TAG_RTCP;
	unsigned ntx = 0;
	for (unsigned i = 0; i < n; i++) {
		size_t len = c->rx[i].msg_len;
		bool is_rtcp = false;
		struct sdh_rtp *t = NULL;
		if (tag == TAG_TRANSPORT) {
			if (!transport_input(h, i, &len))
				continue;
			t = route(h, c->bufs[i], len, false, NULL, &is_rtcp);
		} else {
			h->stats.rx_packets++;
			h->stats.rx_bytes += len;
			if (!(c->rx[i].msg_hdr.msg_flags & MSG_TRUNC) &&
			    unprotect(h, c->bufs[i], &len, on_rtcp_port))
				t = route(h, c->bufs[i], len, on_rtcp_port, &c->from[i], &is_rtcp);
		}
		if (!t) {
			h->stats.dropped++;
			continue;
		}
		if (tp_sends(t)) {
			send_one(t, c->bufs[i], len, PACKET_MAX, is_rtcp);
			continue;
		}
		if (t->has_tp && t->tp.protect) {
			int p = t->tp.protect(t->tp.arg, c->bufs[i], len, PACKET_MAX, is_rtcp);
			if (p <= 0) {
				t->stats.dropped++;
				continue;
			}
			len = (size_t)p;
		}
		bool via_rtcp = is_rtcp && !t->m.mux;
		struct msghdr *mh = &c->tx[ntx].msg_hdr;
		memset(mh, 0, sizeof(*mh));
		c->iov[i].iov_len = len;
		mh->msg_iov = &c->iov[i];
		mh->msg_iovlen = 1;
		mh->msg_name = via_rtcp ? &t->m.rtcp_dst : &t->m.rtp_dst;
		mh->msg_namelen = addr_len(mh->msg_name);
		c->tx_fd[ntx] = via_rtcp ? t->fd_rtcp : t->fd_rtp;
		c->tx_owner[ntx] = t;
		ntx++;
	}
	unsigned start = 0;
	for (unsigned i = 1; i <= ntx; i++)
		if (i == ntx || c->tx_fd[i] != c->tx_fd[start]) {
			send_run(c, start, i);
			start = i;
		}
}

/* The receive headers are made once (sdh_rtp_ctx_new); a receive changes
 * only the lengths of those it filled, and sending borrowed their iovecs. */
static void rx_reset(struct sdh_rtp_ctx *c, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		c->iov[i].iov_len = PACKET_MAX - PACKET_ROOM;
		c->rx[i].msg_hdr.msg_namelen = sizeof(c->from[i]);
	}
}

static void drain(struct sdh_rtp *h, unsigned tag)
{
	struct sdh_rtp_ctx *c = h->ctx;
	int fd = tag == TAG_TRANSPORT ? h->fd_tp : tag == TAG_RTCP ? h->fd_rtcp : h->fd_rtp;
	for (unsigned b = 0; b < BATCHES && fd >= 0; b++) {
		int n = recvmmsg(fd, c->rx, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		uint64_t t0 = now_ns();
		c->now_us = (int64_t)(t0 / 1000u);
		relay_batch(h, tag, (unsigned)n);
		rx_reset(c, (unsigned)n);
		latency_add(c, t0);
		fd = tag == TAG_TRANSPORT ? h->fd_tp : fd; /* the transport may have let it go */
		if (n < BATCH)
			break;
	}
}

/* An owner's descriptor in the set: its id above every handler's address. */
#define TAG_OTHER (UINT64_C(1) << 63)

int sdh_rtp_ctx_watch_other(struct sdh_rtp_ctx *c, int fd, uint32_t id)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_OTHER | id};
	return epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

int sdh_rtp_ctx_poll(struct sdh_rtp_ctx *c, int timeout_ms)
{
	int n = epoll_wait(c->epfd, c->events, EVENTS, timeout_ms);
	c->n_events = n > 0 ? (unsigned)n : 0;
	return n >= 0 ? n : errno == EINTR ? 0 : -errno;
}

/* Relaying runs no callback that frees, so no handler is closed while a
 * list of ready sockets is being worked through. */
unsigned sdh_rtp_ctx_relay(struct sdh_rtp_ctx *c, uint32_t *ids, unsigned max)
{
	unsigned n_ids = 0;
	for (unsigned i = 0; i < c->n_events; i++) {
		uint64_t tag = c->events[i].data.u64;
		if (tag & TAG_OTHER) {
			if (n_ids < max) /* the rest stay ready for the next poll */
				ids[n_ids++] = (uint32_t)tag;
			continue;
		}
		drain((struct sdh_rtp *)(uintptr_t)(tag & ~(uint64_t)TAG_MASK), (unsigned)(tag & TAG_MASK));
	}
	c->n_events = 0;
	return n_ids;
}

static gboolean on_ready(gint fd, GIOCondition cond, gpointer data)
{
	if (sdh_rtp_ctx_poll(data, 0) > 0)
		sdh_rtp_ctx_relay(data, NULL, 0);
	return G_SOURCE_CONTINUE;
}

/* ---- DTMF (RFC 4733) ---- */

static int dtmf_event(char tone)
{
	const char *at = tone ? strchr(dtmf_tones, g_ascii_toupper(tone)) : NULL;
	return at ? (int)(at - dtmf_tones) : -1;
}

static void dtmf_send(struct sdh_rtp *h, bool end)
{
	const struct dtmf_tone *tone = &h->dtmf_q[h->dtmf_head];
	uint8_t p[16];
	p[0] = 0x80;
	p[1] = (uint8_t)((h->dtmf_marker ? 0x80 : 0) | (h->m.te_pt & 0x7f));
	h->out_seq++;
	h->seq_delta++;
	p[2] = (uint8_t)(h->out_seq >> 8);
	p[3] = (uint8_t)h->out_seq;
	p[4] = (uint8_t)(h->dtmf_ts >> 24);
	p[5] = (uint8_t)(h->dtmf_ts >> 16);
	p[6] = (uint8_t)(h->dtmf_ts >> 8);
	p[7] = (uint8_t)h->dtmf_ts;
	p[8] = (uint8_t)(h->out_ssrc >> 24);
	p[9] = (uint8_t)(h->out_ssrc >> 16);
	p[10] = (uint8_t)(h->out_ssrc >> 8);
	p[11] = (uint8_t)h->out_ssrc;
	p[12] = tone->event;
	p[13] = (uint8_t)((end ? 0x80 : 0) | 10); /* volume -10 dBm0 */
	p[14] = (uint8_t)(h->dtmf_duration >> 8);
	p[15] = (uint8_t)h->dtmf_duration;
	h->dtmf_marker = false;
	uint64_t before = h->stats.tx_packets;
	uint8_t buf[sizeof(p) + PACKET_ROOM];
	memcpy(buf, p, sizeof(p));
	send_one(h, buf, sizeof(p), sizeof(buf), false);
	if (h->stats.tx_packets != before)
		h->stats.dtmf_packets++;
}

/* Start the event at the head of the queue: one timestamp for all its
 * packets, taken from the stream we send (or our own when we send none). */
static void dtmf_begin(struct sdh_rtp *h)
{
	if (!h->out_seen) {
		h->out_seen = true;
		h->out_ssrc = g_random_int();
		h->out_seq = (uint16_t)g_random_int();
		h->out_ts = g_random_int();
		h->out_ts_time = g_get_monotonic_time();
	}
	int64_t now = g_get_monotonic_time();
	uint64_t elapsed = (uint64_t)(now - h->out_ts_time) * h->m.te_clock / 1000000u;
	h->dtmf_ts = h->out_ts + (uint32_t)elapsed;
	h->out_ts = h->dtmf_ts;
	h->out_ts_time = now;
	h->dtmf_step = h->m.te_clock * h->ctx->dtmf_interval / 1000u;
	h->dtmf_duration = h->dtmf_step;
	h->dtmf_marker = true;
	h->dtmf_active = true;
	dtmf_send(h, false);
}

static gboolean on_dtmf_tick(gpointer data)
{
	struct sdh_rtp *h = data;
	if (!h->dtmf_active) {
		if (!h->dtmf_count) {
			g_source_unref(h->dtmf_timer);
			h->dtmf_timer = NULL;
			return G_SOURCE_REMOVE;
		}
		dtmf_begin(h);
		return G_SOURCE_CONTINUE;
	}
	const struct dtmf_tone *tone = &h->dtmf_q[h->dtmf_head];
	h->dtmf_duration += h->dtmf_step;
	if (h->dtmf_duration < tone->samples) {
		dtmf_send(h, false);
		return G_SOURCE_CONTINUE;
	}
	/* RFC 4733 §2.5.1.4: the end packet three times */
	h->dtmf_duration = tone->samples;
	for (int i = 0; i < 3; i++)
		dtmf_send(h, true);
	h->dtmf_active = false;
	h->dtmf_head = (h->dtmf_head + 1) % DTMF_QUEUE;
	h->dtmf_count--;
	/* the audio that follows continues the stream where the event ended */
	h->out_ts = h->dtmf_ts + tone->samples;
	h->out_ts_time = g_get_monotonic_time();
	return G_SOURCE_CONTINUE;
}

int sdh_rtp_send_dtmf(void *sdh, char tone, unsigned duration_ms)
{
	struct sdh_rtp *h = sdh;
	if (h->state == ST_CLOSED)
		return -EBADF;
	int ev = dtmf_event(tone);
	if (ev < 0)
		return -EINVAL;
	if (!h->m.active || h->m.te_pt < 0 || !h->m.send || !h->m.te_clock)
		return -ENOTSUP;
	if (h->dtmf_count == DTMF_QUEUE)
		return -ENOBUFS;
	if (duration_ms == 0)
		duration_ms = 100;
	duration_ms = duration_ms < 40 ? 40 : duration_ms > 5000 ? 5000 : duration_ms;
	uint64_t samples = (uint64_t)duration_ms * h->m.te_clock / 1000u;
	if (samples > 0xffff)
		samples = 0xffff; /* one event segment (RFC 4733 §2.5.2.1 would split it) */
	struct dtmf_tone *q = &h->dtmf_q[(h->dtmf_head + h->dtmf_count) % DTMF_QUEUE];
	q->event = (uint8_t)ev;
	q->samples = (uint32_t)samples;
	h->dtmf_count++;
	if (!h->dtmf_timer) {
		dtmf_begin(h);
		h->dtmf_timer = g_timeout_source_new(h->ctx->dtmf_interval);
		g_source_set_callback(h->dtmf_timer, on_dtmf_tick, h, NULL);
		g_source_attach(h->dtmf_timer, h->ctx->loop);
	}
	return 0;
}
