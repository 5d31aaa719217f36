/* bench_media — concurrent WebRTC calls through the daemon, and what they
 * cost it. One process plays N browsers: each call is a WebSocket connection
 * with its own SIP user agent (tests/peer/peer_sip) and WebRTC media end
 * (tests/peer/peer_media: libnice ICE, DTLS-SRTP, SRTP) that sends G.711
 * PCMU every 20 ms and checks byte for byte what comes back. The calls go to
 * the echo service or through a trunk to a PBX; the PBX's media is this
 * process too (--pbx-rtp-port): one UDP socket that sends every RTP packet
 * back where it came from, as sipp's -rtp_echo does, but stamping each packet
 * with the kernel's receive time, so the latency from a browser through the
 * gateway to the PBX is measured one way. sipp answers the PBX's SIP.
 *
 * The calls are ramped in steps (--steps 50,100,200): at each step the new
 * calls are set up, the media settles, then one measurement window gives the
 * daemon's CPU (per call, per relayed packet; /proc/PID/task/ * /schedstat),
 * the packets lost and late and the latency percentiles of the packets sent
 * in it, the daemon's memory per call (RSS and PSS over the idle figure) and
 * how busy both cores were. One RESULT line per step; exit status 0 when
 * every call was set up, kept up and got its own payloads back.
 *
 * Threads: --shards threads each run a GLib main context with a share of the
 * calls: libnice until ICE is ready, the media timers, the WebSocket pool's
 * epoll descriptor, and one epoll set for the media ends' sockets, which the
 * thread reads itself once ICE is ready (peer_media owner_reads: cheaper per
 * packet than a main-context source per end, so that the tool costs less
 * per call than the daemon it measures). One thread runs the PBX's echo;
 * the main thread places the calls and measures. Only counters and
 * per-packet time stamps are shared (atomics).
 */
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <glib-unix.h>
#include <glib.h>

#include "peer_media.h"
#include "peer_sip.h"
#include "webrtc/dtls.h"
#include "webrtc/rtp.h"
#include "ws_client.h"

#define MAX_STEPS        16
#define PACKETS_PER_S    50 /* 20 ms G.711 */
#define LATE_ONE_WAY_US  20000
#define LATE_ROUND_US    40000
#define PBX_BATCH        64
#define PBX_BUF          1600
#define PBX_RCVBUF       (8 << 20)
#define MAX_FAILURE_LOG  8
#define REGISTER_EXPIRES 3600

/* ---- options ---- */

struct options {
	const char *host;
	unsigned port;
	const char *domain;
	const char *dial;
	unsigned users;
	const char *user_prefix, *password_prefix;
	unsigned pbx_rtp_port; /* 0: no PBX side (echo) */
	unsigned steps[MAX_STEPS];
	unsigned n_steps;
	double window_s, settle_s, grace_s;
	double setup_rate;
	double setup_timeout_s;
	unsigned shards;
	int server_pid;
	int server_core;
	bool no_stop;
	bool glib_reads;
	const char *label;
};

/* ---- shared state ---- */

enum call_state {
	CALL_IDLE,
	CALL_REGISTERING,
	CALL_REGISTERED,
	CALL_CALLING,
	CALL_ANSWERED, /* 2xx with an answer applied; media not up yet */
	CALL_MEDIA,    /* DTLS connected: SRTP flows */
	CALL_ENDING,   /* our BYE is out */
	CALL_ENDED,
	CALL_FAILED,
};

struct shard;

struct call {
	unsigned id;
	struct shard *sh;
	struct wsc_conn *conn;
	struct peer_sip *sip;
	struct peer_media *media;
	uint64_t tag;
	int state; /* enum call_state; atomic: the main thread reads it */
	bool answer_applied;
	bool polled; /* its media's socket is in the shard's epoll set */
	/* Per audio packet index, in µs since the start of the run plus one (0:
	 * not yet): sent by the peer, received by the PBX (kernel time), sent
	 * back by the PBX, back at the peer byte for byte. Written by the
	 * shard and the PBX threads, read by the main thread (atomics). */
	uint32_t *t_sent, *t_rx, *t_tx, *t_back;
	unsigned eval_next; /* main thread: the first index not yet evaluated */
};

struct shard {
	unsigned index;
	GThread *thread;
	GMainContext *ctx;
	GMainLoop *loop;
	struct wsc *ws;
	GSource *ws_watch;
	/* the media ends' sockets once ICE connected (peer_media owner_reads):
	 * one source for all of them instead of one each in the main context */
	int ep;
	GSource *ep_watch;
	struct call **calls; /* by connection index */
	unsigned n_calls;
	int init_rc;
	int init_done; /* atomic */
	bool closing;  /* the pool is being closed: no connection is lost */
	/* totals of the media ends, gathered as they are freed */
	uint64_t mismatches, auth_failures, rtp_received;
	uint64_t consent_answered, consent_refused;
};

struct counters { /* atomics */
	unsigned registered, reg_failed;
	unsigned media_up, call_failed, remote_bye, bye_done, conn_lost;
};

struct pbx {
	int fd_rtp, fd_rtcp, ep;
	GThread *thread;
	int stop; /* atomic */
	/* tag -> call, open addressing, filled before the thread starts */
	struct call **table;
	size_t table_mask;
	/* atomics */
	uint64_t rx, tx, unknown, rtcp_rx, drops;
};

static struct {
	struct options o;
	uint64_t t0_ns;
	unsigned packets; /* per call */
	struct call *calls;
	unsigned n_calls;
	struct shard *shards;
	struct counters c;
	struct pbx pbx;
	struct dtls_cert *cert;
	GMutex log_lock;
	char failures[MAX_FAILURE_LOG][240];
	unsigned n_failures, n_failures_total;
} B;

#define LOAD(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define INC(p)      __atomic_add_fetch((p), 1, __ATOMIC_RELAXED)
#define ADD(p, v)   __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)

/* ---- small things ---- */

static uint32_t stamp_of(uint64_t mono_ns)
{
	return mono_ns > B.t0_ns ? (uint32_t)((mono_ns - B.t0_ns) / 1000u + 1u) : 1u;
}

static uint32_t stamp(void)
{
	return stamp_of(wsc_now_ns());
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench_media: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* A call went wrong: counted, and the first few said. Any thread. */
static void call_failure(struct call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void call_failure(struct call *c, const char *fmt, ...)
{
	char line[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	g_mutex_lock(&B.log_lock);
	B.n_failures_total++;
	if (B.n_failures < MAX_FAILURE_LOG) {
		snprintf(B.failures[B.n_failures++], sizeof B.failures[0], "call %u: %s", c->id, line);
		say("call %u: %s", c->id, line);
	}
	g_mutex_unlock(&B.log_lock);
}

static void set_state(struct call *c, enum call_state s)
{
	STORE(&c->state, (int)s);
}

static enum call_state get_state(const struct call *c)
{
	return (enum call_state)LOAD(&c->state);
}

static void fail_call(struct call *c, const char *why)
{
	enum call_state s = get_state(c);
	if (s == CALL_FAILED || s == CALL_ENDED)
		return;
	call_failure(c, "%s", why);
	set_state(c, CALL_FAILED);
	INC(&B.c.call_failed);
}

static void sleep_s(double s)
{
	if (s <= 0)
		return;
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static uint64_t tag_key(const uint8_t *p)
{
	uint64_t k;
	memcpy(&k, p, sizeof k);
	return k;
}

/* ---- the daemon's figures from /proc ---- */

struct daemon_cpu {
	uint64_t all_ns, media_ns; /* on-CPU time of every thread, of the media workers */
	unsigned threads;
};

/* Sums /proc/PID/task/ * /schedstat (ns on CPU); the media workers are the
 * threads named media0, media1... (server/media.c). */
static int daemon_cpu_read(int pid, struct daemon_cpu *out)
{
	memset(out, 0, sizeof *out);
	char path[96];
	snprintf(path, sizeof path, "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p2[320], comm[32] = "";
		unsigned long long run = 0;
		snprintf(p2, sizeof p2, "/proc/%d/task/%s/schedstat", pid, de->d_name);
		FILE *f = fopen(p2, "r");
		if (!f)
			continue;
		int ok = fscanf(f, "%llu", &run) == 1;
		fclose(f);
		if (!ok)
			continue;
		snprintf(p2, sizeof p2, "/proc/%d/task/%s/comm", pid, de->d_name);
		if ((f = fopen(p2, "r"))) {
			if (!fgets(comm, sizeof comm, f))
				comm[0] = '\0';
			fclose(f);
		}
		out->all_ns += run;
		out->threads++;
		if (!strncmp(comm, "media", 5))
			out->media_ns += run;
	}
	closedir(d);
	return 0;
}

/* Machine-wide UDP receive-buffer drops (/proc/net/snmp Udp: RcvbufErrors):
 * a packet dropped by a full socket is lost by whoever owns the socket. */
static uint64_t udp_rcvbuf_errors(void)
{
	FILE *f = fopen("/proc/net/snmp", "r");
	if (!f)
		return 0;
	char names[1024], values[1024];
	uint64_t result = 0;
	while (fgets(names, sizeof names, f)) {
		if (strncmp(names, "Udp: ", 5) || !fgets(values, sizeof values, f))
			continue;
		char *ns = NULL, *vs = NULL;
		char *n = strtok_r(names + 5, " \n", &ns);
		char *v = strtok_r(values + 5, " \n", &vs);
		while (n && v) {
			if (!strcmp(n, "RcvbufErrors"))
				result = strtoull(v, NULL, 10);
			n = strtok_r(NULL, " \n", &ns);
			v = strtok_r(NULL, " \n", &vs);
		}
		break;
	}
	fclose(f);
	return result;
}

/* ---- the PBX side: an RTP echo with kernel receive times ---- */

static struct call *pbx_lookup(const uint8_t *tag)
{
	uint64_t k = tag_key(tag);
	size_t i = (size_t)(k * 0x9e3779b97f4a7c15ull >> 17) & B.pbx.table_mask;
	for (;;) {
		struct call *c = B.pbx.table[i];
		if (!c)
			return NULL;
		if (c->tag == k)
			return c;
		i = (i + 1) & B.pbx.table_mask;
	}
}

static void pbx_insert(struct call *c)
{
	size_t i = (size_t)(c->tag * 0x9e3779b97f4a7c15ull >> 17) & B.pbx.table_mask;
	while (B.pbx.table[i])
		i = (i + 1) & B.pbx.table_mask;
	B.pbx.table[i] = c;
}

static int pbx_socket(unsigned port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1, size = PBX_RCVBUF;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, B.o.host, &a.sin_addr);
	/* a big buffer, so that a late wake-up of this thread drops nothing */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) ||
	    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) ||
	    bind(fd, (struct sockaddr *)&a, sizeof a)) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

struct pbx_batch {
	struct mmsghdr msgs[PBX_BATCH];
	struct iovec iov[PBX_BATCH];
	struct sockaddr_in from[PBX_BATCH];
	uint8_t bufs[PBX_BATCH][PBX_BUF];
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(uint32_t))];
		struct cmsghdr align;
	} ctl[PBX_BATCH];
	struct call *who[PBX_BATCH];
	uint32_t index[PBX_BATCH];
};

static void pbx_prepare(struct pbx_batch *b)
{
	for (unsigned i = 0; i < PBX_BATCH; i++) {
		b->iov[i] = (struct iovec){.iov_base = b->bufs[i], .iov_len = PBX_BUF};
		b->msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &b->from[i],
			.msg_namelen = sizeof b->from[i],
			.msg_iov = &b->iov[i],
			.msg_iovlen = 1,
			.msg_control = b->ctl[i].buf,
			.msg_controllen = sizeof b->ctl[i].buf,
		};
	}
}

/* The kernel's receive time of message i, on CLOCK_MONOTONIC (the kernel
 * stamps CLOCK_REALTIME: moved by the offset between the clocks now). */
static uint64_t rx_time_ns(struct msghdr *h, int64_t real_minus_mono, uint64_t fallback,
                           uint32_t *ovfl)
{
	uint64_t t = fallback;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
		if (cm->cmsg_level != SOL_SOCKET)
			continue;
		if (cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(cm), sizeof ts);
			int64_t real = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
			t = (uint64_t)(real - real_minus_mono);
		} else if (cm->cmsg_type == SO_RXQ_OVFL) {
			memcpy(ovfl, CMSG_DATA(cm), sizeof *ovfl);
		}
	}
	return t;
}

static int64_t clock_offset_ns(void)
{
	struct timespec r, m;
	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((int64_t)r.tv_sec - m.tv_sec) * 1000000000 + (r.tv_nsec - m.tv_nsec);
}

/* Everything waiting on the RTP socket: stamped, sent back. */
static void pbx_echo(struct pbx_batch *b)
{
	for (unsigned rounds = 0; rounds < 16; rounds++) {
		pbx_prepare(b);
		int n = recvmmsg(B.pbx.fd_rtp, b->msgs, PBX_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		int64_t off = clock_offset_ns();
		uint64_t now = wsc_now_ns();
		uint32_t ovfl = 0;
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &b->msgs[i].msg_hdr;
			uint64_t t = rx_time_ns(h, off, now, &ovfl);
			b->who[i] = NULL;
			struct rtp_view v;
			if (rtp_parse(b->bufs[i], b->msgs[i].msg_len, &v) == 0 &&
			    v.payload_len >= PEER_MEDIA_TAG_LEN + 4) {
				const uint8_t *pl = rtp_payload(&v);
				struct call *c = pbx_lookup(pl);
				uint32_t index = (uint32_t)pl[8] << 24 | (uint32_t)pl[9] << 16 |
				                 (uint32_t)pl[10] << 8 | pl[11];
				if (c && index < B.packets) {
					STORE(&c->t_rx[index], stamp_of(t));
					b->who[i] = c;
					b->index[i] = index;
				}
			}
			if (!b->who[i])
				INC(&B.pbx.unknown);
			/* back where it came from, as it came */
			b->iov[i].iov_len = b->msgs[i].msg_len;
			h->msg_control = NULL;
			h->msg_controllen = 0;
		}
		if (ovfl)
			STORE(&B.pbx.drops, (uint64_t)ovfl);
		ADD(&B.pbx.rx, (uint64_t)n);
		uint32_t t_tx = stamp();
		int sent = 0;
		while (sent < n) {
			int k = sendmmsg(B.pbx.fd_rtp, b->msgs + sent, (unsigned)(n - sent), 0);
			if (k <= 0) {
				if (k < 0 && errno == EINTR)
					continue;
				break; /* lost here: the run counts it as lost on the way back */
			}
			sent += k;
		}
		for (int i = 0; i < sent; i++)
			if (b->who[i])
				STORE(&b->who[i]->t_tx[b->index[i]], t_tx);
		ADD(&B.pbx.tx, (uint64_t)sent);
		if (n < PBX_BATCH)
			return;
	}
}

static void pbx_drain_rtcp(struct pbx_batch *b)
{
	for (;;) {
		pbx_prepare(b);
		int n = recvmmsg(B.pbx.fd_rtcp, b->msgs, PBX_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		ADD(&B.pbx.rtcp_rx, (uint64_t)n);
	}
}

static gpointer pbx_main(gpointer data)
{
	struct pbx_batch *b = malloc(sizeof *b);
	if (!b)
		return NULL;
	while (!LOAD(&B.pbx.stop)) {
		struct epoll_event ev[2];
		int n = epoll_wait(B.pbx.ep, ev, 2, 100);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == B.pbx.fd_rtp)
				pbx_echo(b);
			else
				pbx_drain_rtcp(b);
		}
	}
	free(b);
	return data;
}

static int pbx_start(void)
{
	struct pbx *p = &B.pbx;
	size_t size = 64;
	while (size < 4 * (size_t)B.n_calls)
		size *= 2;
	p->table = calloc(size, sizeof *p->table);
	if (!p->table)
		return -ENOMEM;
	p->table_mask = size - 1;
	for (unsigned i = 0; i < B.n_calls; i++)
		pbx_insert(&B.calls[i]);
	p->fd_rtp = pbx_socket(B.o.pbx_rtp_port);
	if (p->fd_rtp < 0)
		return p->fd_rtp;
	p->fd_rtcp = pbx_socket(B.o.pbx_rtp_port + 1);
	if (p->fd_rtcp < 0)
		return p->fd_rtcp;
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	if (p->ep < 0)
		return -errno;
	struct epoll_event e1 = {.events = EPOLLIN, .data.fd = p->fd_rtp};
	struct epoll_event e2 = {.events = EPOLLIN, .data.fd = p->fd_rtcp};
	if (epoll_ctl(p->ep, EPOLL_CTL_ADD, p->fd_rtp, &e1) ||
	    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->fd_rtcp, &e2))
		return -errno;
	p->thread = g_thread_new("pbx-echo", pbx_main, NULL);
	return 0;
}

static void pbx_stop(void)
{
	struct pbx *p = &B.pbx;
	if (p->thread) {
		STORE(&p->stop, 1);
		g_thread_join(p->thread);
		p->thread = NULL;
	}
	if (p->ep > 0)
		close(p->ep);
	if (p->fd_rtp > 0)
		close(p->fd_rtp);
	if (p->fd_rtcp > 0)
		close(p->fd_rtcp);
	free(p->table);
	p->table = NULL;
}

/* ---- one call, on its shard's thread ---- */

static void apply_sdp(struct call *c, const char *sdp, size_t len)
{
	const char *why = NULL;
	if (peer_media_set_remote(c->media, sdp, len, false, &why) < 0) {
		char msg[160];
		snprintf(msg, sizeof msg, "the answer is refused: %s", why ? why : "?");
		fail_call(c, msg);
		return;
	}
	c->answer_applied = true;
}

static void sip_on_register(void *arg, int status)
{
	struct call *c = arg;
	if (get_state(c) != CALL_REGISTERING)
		return;
	if (status >= 200 && status < 300) {
		set_state(c, CALL_REGISTERED);
		INC(&B.c.registered);
	} else {
		call_failure(c, "REGISTER answered %d", status);
		set_state(c, CALL_FAILED);
		INC(&B.c.reg_failed);
	}
}

static void sip_on_provisional(void *arg, int status, const char *sdp, size_t len)
{
	struct call *c = arg;
	/* as SIP.js: the first SDP seen, in a 1xx or the 2xx */
	if (sdp && !c->answer_applied && get_state(c) == CALL_CALLING)
		apply_sdp(c, sdp, len);
}

static void media_check(struct call *c);

static void sip_on_final(void *arg, int status, const char *reason, const char *sdp, size_t len)
{
	struct call *c = arg;
	if (get_state(c) != CALL_CALLING)
		return;
	if (status < 200 || status >= 300) {
		char msg[160];
		snprintf(msg, sizeof msg, "INVITE answered %d %s", status, reason ? reason : "");
		fail_call(c, msg);
		return;
	}
	if (sdp && !c->answer_applied)
		apply_sdp(c, sdp, len);
	if (get_state(c) == CALL_FAILED)
		return;
	if (!c->answer_applied) {
		fail_call(c, "a 2xx without an answer");
		return;
	}
	set_state(c, CALL_ANSWERED);
	media_check(c);
}

static void sip_on_bye(void *arg, const char *reason)
{
	struct call *c = arg;
	enum call_state s = get_state(c);
	if (s == CALL_ENDING || s == CALL_ENDED || s == CALL_FAILED)
		return;
	INC(&B.c.remote_bye);
	char msg[160];
	snprintf(msg, sizeof msg, "the gateway hung up (Reason: %s)", reason ? reason : "none");
	fail_call(c, msg);
	peer_media_stop_sending(c->media);
}

static void sip_on_response(void *arg, const char *method, int status, const char *sdp,
                            size_t len)
{
	struct call *c = arg;
	if (strcmp(method, "BYE") || get_state(c) != CALL_ENDING)
		return;
	if (status < 200 || status >= 300)
		call_failure(c, "our BYE answered %d", status);
	set_state(c, CALL_ENDED);
	INC(&B.c.bye_done);
}

static void sip_send(void *arg, const char *msg, size_t len)
{
	struct call *c = arg;
	if (!c->conn || wsc_send_text(c->sh->ws, c->conn, msg, len) < 0)
		call_failure(c, "could not send on the WebSocket");
}

static void media_check(struct call *c)
{
	struct peer_media_result r;
	peer_media_result(c->media, &r);
	enum call_state s = get_state(c);
	int fd = peer_media_fd(c->media);
	if (!c->polled && fd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(c->sh->ep, EPOLL_CTL_ADD, fd, &ev) == 0)
			c->polled = true;
		else
			fail_call(c, "its media socket cannot be watched");
	}
	if (r.ice_failed || r.dtls_failed) {
		fail_call(c, r.ice_failed ? "ICE failed" : "DTLS failed");
		return;
	}
	if (s == CALL_ANSWERED && r.dtls_connected) {
		set_state(c, CALL_MEDIA);
		INC(&B.c.media_up);
	}
}

static void media_on_change(void *arg)
{
	media_check(arg);
}

static void media_on_audio(void *arg, uint32_t index, bool back)
{
	struct call *c = arg;
	if (index >= B.packets)
		return;
	STORE(back ? &c->t_back[index] : &c->t_sent[index], stamp());
}

static gboolean start_call_job(gpointer data)
{
	struct call *c = data;
	if (get_state(c) != CALL_REGISTERED)
		return G_SOURCE_REMOVE;
	char *offer = NULL;
	if (peer_media_offer(c->media, SDP_DIR_SENDRECV, &offer) < 0 ||
	    peer_sip_invite(c->sip, B.o.dial, offer) < 0) {
		free(offer);
		fail_call(c, "could not send the INVITE");
		return G_SOURCE_REMOVE;
	}
	free(offer);
	set_state(c, CALL_CALLING);
	return G_SOURCE_REMOVE;
}

static gboolean hang_up_job(gpointer data)
{
	struct call *c = data;
	enum call_state s = get_state(c);
	if (s != CALL_ANSWERED && s != CALL_MEDIA && s != CALL_CALLING)
		return G_SOURCE_REMOVE;
	peer_media_stop_sending(c->media);
	if (s == CALL_CALLING || peer_sip_bye(c->sip) < 0) {
		fail_call(c, "could not hang up");
		return G_SOURCE_REMOVE;
	}
	set_state(c, CALL_ENDING);
	return G_SOURCE_REMOVE;
}

/* ---- a shard: its thread, loop, WebSocket pool and calls ---- */

static void ws_on_message(void *arg, struct wsc_conn *conn, char *msg, size_t len)
{
	struct shard *sh = arg;
	unsigned i = wsc_conn_index(sh->ws, conn);
	if (i < sh->n_calls)
		peer_sip_receive(sh->calls[i]->sip, msg, len);
}

static void ws_on_close(void *arg, struct wsc_conn *conn)
{
	struct shard *sh = arg;
	unsigned i = wsc_conn_index(sh->ws, conn);
	if (sh->closing || i >= sh->n_calls)
		return;
	struct call *c = sh->calls[i];
	c->conn = NULL;
	INC(&B.c.conn_lost);
	fail_call(c, "its WebSocket closed");
}

static gboolean ws_ready(gint fd, GIOCondition cond, gpointer data)
{
	struct shard *sh = data;
	wsc_poll(sh->ws, 0);
	return G_SOURCE_CONTINUE;
}

static gboolean media_ready(gint fd, GIOCondition cond, gpointer data)
{
	struct shard *sh = data;
	struct epoll_event ev[64];
	int n = epoll_wait(sh->ep, ev, 64, 0);
	for (int i = 0; i < n; i++) {
		struct call *c = ev[i].data.ptr;
		peer_media_pump(c->media);
	}
	return G_SOURCE_CONTINUE;
}

static GSource *watch_fd(struct shard *sh, int fd, GUnixFDSourceFunc fn)
{
	GSource *s = g_unix_fd_source_new(fd, G_IO_IN);
	g_source_set_callback(s, (GSourceFunc)(void (*)(void))fn, sh, NULL);
	g_source_attach(s, sh->ctx);
	return s;
}

static int call_init(struct call *c)
{
	char user[64], password[64];
	unsigned u = c->id % B.o.users;
	snprintf(user, sizeof user, "%s%u", B.o.user_prefix, u);
	snprintf(password, sizeof password, "%s%u", B.o.password_prefix, u);
	struct peer_sip_config sc = {
		.domain = B.o.domain,
		.user = user,
		.password = password,
		.h = {
			.on_register = sip_on_register,
			.on_provisional = sip_on_provisional,
			.on_final = sip_on_final,
			.on_bye = sip_on_bye,
			.on_response = sip_on_response,
			.send = sip_send,
			.arg = c,
		},
	};
	int rc = peer_sip_new(&sc, &c->sip);
	if (rc < 0)
		return rc;
	char name[24];
	snprintf(name, sizeof name, "call%u", c->id);
	struct peer_media_config mc = {
		.name = name,
		.cert = B.cert,
		.packets = B.packets,
		.ptime_ms = 20,
		.phase_ms = (unsigned)(wsc_rand() % 20),
		.quiet = true,
		.owner_reads = !B.o.glib_reads,
		.on_change = media_on_change,
		.on_audio = media_on_audio,
		.arg = c,
	};
	rc = peer_media_new(&mc, &c->media);
	if (rc < 0)
		return rc;
	uint8_t tag[PEER_MEDIA_TAG_LEN];
	peer_media_tag(c->media, tag);
	c->tag = tag_key(tag);
	c->t_sent = calloc(B.packets, sizeof *c->t_sent);
	c->t_rx = calloc(B.packets, sizeof *c->t_rx);
	c->t_tx = calloc(B.packets, sizeof *c->t_tx);
	c->t_back = calloc(B.packets, sizeof *c->t_back);
	if (!c->t_sent || !c->t_rx || !c->t_tx || !c->t_back)
		return -ENOMEM;
	return 0;
}

static int shard_init(struct shard *sh)
{
	struct wsc_options wo = {
		.host = B.o.host,
		.port = B.o.port,
		.path = "/",
		.connections = sh->n_calls,
		.connect_concurrency = 32,
	};
	struct wsc_handlers h = {.on_message = ws_on_message, .on_close = ws_on_close, .arg = sh};
	int rc = wsc_new(&sh->ws, &wo, &h);
	if (rc < 0)
		return rc;
	unsigned open = wsc_connect_all(sh->ws, 30.0);
	if (open != sh->n_calls) {
		say("shard %u: %u of %u WebSocket connections opened", sh->index, open, sh->n_calls);
		return -ECONNREFUSED;
	}
	for (unsigned i = 0; i < sh->n_calls; i++) {
		struct call *c = sh->calls[i];
		c->conn = wsc_conn_at(sh->ws, i);
		if ((rc = call_init(c)) < 0) {
			say("call %u: %s", c->id, strerror(-rc));
			return rc;
		}
	}
	sh->ep = epoll_create1(EPOLL_CLOEXEC);
	if (sh->ep < 0)
		return -errno;
	sh->ws_watch = watch_fd(sh, wsc_fd(sh->ws), ws_ready);
	sh->ep_watch = watch_fd(sh, sh->ep, media_ready);
	for (unsigned i = 0; i < sh->n_calls; i++) {
		struct call *c = sh->calls[i];
		set_state(c, CALL_REGISTERING);
		if (peer_sip_register(c->sip, REGISTER_EXPIRES) < 0) {
			call_failure(c, "could not send the REGISTER");
			set_state(c, CALL_FAILED);
			INC(&B.c.reg_failed);
		}
	}
	return 0;
}

static void shard_clear(struct shard *sh)
{
	sh->closing = true;
	if (sh->ws)
		wsc_closing(sh->ws);
	for (unsigned i = 0; i < sh->n_calls; i++) {
		struct call *c = sh->calls[i];
		if (c->media) {
			struct peer_media_result r;
			peer_media_result(c->media, &r);
			sh->mismatches += r.echo_mismatches;
			sh->auth_failures += r.srtp_auth_failures;
			sh->rtp_received += r.rtp_received;
			sh->consent_answered += r.consent_answered;
			sh->consent_refused += r.consent_refused;
		}
		peer_media_free(c->media);
		c->media = NULL;
		peer_sip_free(c->sip);
		c->sip = NULL;
	}
	GSource **watches[] = {&sh->ws_watch, &sh->ep_watch};
	for (size_t i = 0; i < sizeof watches / sizeof watches[0]; i++) {
		if (!*watches[i])
			continue;
		g_source_destroy(*watches[i]);
		g_source_unref(*watches[i]);
		*watches[i] = NULL;
	}
	if (sh->ep >= 0)
		close(sh->ep);
	sh->ep = -1;
	wsc_free(sh->ws);
	sh->ws = NULL;
}

static gpointer shard_main(gpointer data)
{
	struct shard *sh = data;
	g_main_context_push_thread_default(sh->ctx);
	wsc_rand_seed();
	sh->init_rc = shard_init(sh);
	STORE(&sh->init_done, 1);
	if (sh->init_rc == 0)
		g_main_loop_run(sh->loop);
	shard_clear(sh);
	g_main_context_pop_thread_default(sh->ctx);
	return NULL;
}

static gboolean quit_job(gpointer data)
{
	g_main_loop_quit(((struct shard *)data)->loop);
	return G_SOURCE_REMOVE;
}

/* ---- the measurement of one step ---- */

struct lat {
	struct wsc_latency l;
	uint64_t late;
};

struct step_result {
	unsigned n, up, failed;
	double window_s;
	uint64_t sent, up_arrived, up_lost, down_lost, back, relayed;
	struct lat up_lat, down_lat, rtt;
	double cpu_all_us, cpu_media_us;
	unsigned threads;
	double server_core_busy, load_core_busy, load_cpu_us;
	uint64_t rss_kib, pss_kib;
	uint64_t rcvbuf_errors, pbx_drops;
	bool ran_out;
};

static void lat_add(struct lat *l, uint32_t from, uint32_t to, uint32_t late_us)
{
	uint32_t d = to > from ? to - from : 0;
	wsc_latency_add(&l->l, (uint64_t)d * 1000u);
	if (d > late_us)
		l->late++;
}

/* The packets sent in [w0, w1): lost, late, latency. */
static void evaluate(struct step_result *r, uint32_t w0, uint32_t w1)
{
	bool pbx = B.o.pbx_rtp_port != 0;
	for (unsigned k = 0; k < B.n_calls; k++) {
		struct call *c = &B.calls[k];
		if (c->id >= r->n)
			break;
		unsigned i = c->eval_next;
		for (; i < B.packets; i++) {
			uint32_t s = LOAD(&c->t_sent[i]);
			if (!s || s >= w1)
				break;
			if (s < w0)
				continue;
			r->sent++;
			uint32_t rx = LOAD(&c->t_rx[i]), tx = LOAD(&c->t_tx[i]);
			uint32_t back = LOAD(&c->t_back[i]);
			if (pbx) {
				if (rx) {
					r->up_arrived++;
					lat_add(&r->up_lat, s, rx, LATE_ONE_WAY_US);
				} else {
					r->up_lost++;
				}
				if (back && tx)
					lat_add(&r->down_lat, tx, back, LATE_ONE_WAY_US);
				else if (rx)
					r->down_lost++;
			} else if (!back) {
				r->up_lost++;
			}
			if (back) {
				r->back++;
				lat_add(&r->rtt, s, back, LATE_ROUND_US);
			}
		}
		if (i >= B.packets)
			r->ran_out = true;
		c->eval_next = i;
	}
	r->relayed = pbx ? r->up_arrived + r->back : r->back;
}

static double pct_ms(struct lat *l, double q)
{
	return wsc_latency_pct_us(&l->l, q) / 1000.0;
}

/* The share of a core that went to other work than ours (-1: unknown). */
static double other(double busy, double ours)
{
	if (busy < 0)
		return -1;
	return busy > ours ? busy - ours : 0;
}

static void print_step(const char *label, struct step_result *r)
{
	bool pbx = B.o.pbx_rtp_port != 0;
	wsc_latency_sort(&r->up_lat.l);
	wsc_latency_sort(&r->down_lat.l);
	wsc_latency_sort(&r->rtt.l);
	double cpu_share = r->cpu_all_us / (r->window_s * 1e6);
	double per_call_ms = r->up ? r->cpu_all_us / 1000.0 / r->window_s / r->up : 0;
	double per_pkt = r->relayed ? r->cpu_all_us / (double)r->relayed : 0;
	uint64_t lost = r->up_lost + r->down_lost;
	/* late: one way to the PBX (timed by the kernel), or round trip to echo;
	 * the way back to the browser is timed after this tool's own wake-up */
	uint64_t late = pbx ? r->up_lat.late : r->rtt.late;
	printf("== %u calls (%s): %u up, %u failed; %.1f s window\n", r->n, pbx ? "bridged" : "echo",
	       r->up, r->failed, r->window_s);
	printf("   daemon CPU %.1f%% of a core (media threads %.1f%%): %.3f ms/s per call, "
	       "%.2f us per relayed packet (%" PRIu64 " relayed)\n",
	       100 * cpu_share, 100 * r->cpu_media_us / (r->window_s * 1e6), per_call_ms, per_pkt,
	       r->relayed);
	/* a packet the PBX's socket had no room for is this tool's loss */
	printf("   packets sent %" PRIu64 ", lost %" PRIu64 " (to the far end %" PRIu64
	       ", back %" PRIu64 "; %" PRIu64 " of them dropped by this tool's PBX socket), "
	       "late %" PRIu64 " (over %u ms %s)\n",
	       r->sent, lost, r->up_lost, r->down_lost, r->pbx_drops, late,
	       (pbx ? LATE_ONE_WAY_US : LATE_ROUND_US) / 1000, pbx ? "one way" : "round trip");
	if (pbx)
		printf("   one way browser->PBX p50/p99/max %.3f/%.3f/%.3f ms; PBX->browser "
		       "%.3f/%.3f/%.3f ms; round trip p99 %.3f ms\n",
		       pct_ms(&r->up_lat, .5), pct_ms(&r->up_lat, .99), pct_ms(&r->up_lat, 1),
		       pct_ms(&r->down_lat, .5), pct_ms(&r->down_lat, .99), pct_ms(&r->down_lat, 1),
		       pct_ms(&r->rtt, .99));
	else
		printf("   round trip browser->echo->browser p50/p99/max %.3f/%.3f/%.3f ms\n",
		       pct_ms(&r->rtt, .5), pct_ms(&r->rtt, .99), pct_ms(&r->rtt, 1));
	printf("   daemon memory RSS %" PRIu64 " KiB, PSS %" PRIu64 " KiB\n", r->rss_kib, r->pss_kib);
	if (r->server_core_busy >= 0)
		printf("   daemon's core %d busy %.0f%%; ", B.o.server_core, 100 * r->server_core_busy);
	else
		printf("   ");
	if (r->load_core_busy >= 0)
		printf("load core busy %.0f%%; ", 100 * r->load_core_busy);
	printf("this tool %.0f%% of a core; UDP rcvbuf drops %" PRIu64 " (PBX socket %" PRIu64
	       ")%s\n",
	       100 * r->load_cpu_us / (r->window_s * 1e6), r->rcvbuf_errors, r->pbx_drops,
	       r->ran_out ? "; some calls ran out of packets" : "");
	printf("RESULT label=%s target=%s calls=%u up=%u failed=%u window_s=%.2f "
	       "cpu_pct=%.2f media_cpu_pct=%.2f cpu_ms_per_call_s=%.4f cpu_us_per_packet=%.3f "
	       "relayed=%" PRIu64 " sent=%" PRIu64 " lost=%" PRIu64 " lost_up=%" PRIu64
	       " lost_down=%" PRIu64 " lost_tool=%" PRIu64 " late=%" PRIu64 " up_p50_ms=%.3f up_p99_ms=%.3f up_max_ms=%.3f "
	       "down_p50_ms=%.3f down_p99_ms=%.3f rtt_p50_ms=%.3f rtt_p99_ms=%.3f rtt_max_ms=%.3f "
	       "rss_kib=%" PRIu64 " pss_kib=%" PRIu64 " server_core_busy=%.3f load_core_busy=%.3f "
	       "tool_cpu_pct=%.2f server_core_other=%.3f load_core_other=%.3f rcvbuf_drops=%" PRIu64
	       " threads=%u ran_out=%d\n",
	       label, pbx ? "bridged" : "echo", r->n, r->up, r->failed, r->window_s, 100 * cpu_share,
	       100 * r->cpu_media_us / (r->window_s * 1e6), per_call_ms, per_pkt, r->relayed,
	       r->sent, lost, r->up_lost, r->down_lost, r->pbx_drops, late, pct_ms(&r->up_lat, .5),
	       pct_ms(&r->up_lat, .99), pct_ms(&r->up_lat, 1), pct_ms(&r->down_lat, .5),
	       pct_ms(&r->down_lat, .99), pct_ms(&r->rtt, .5), pct_ms(&r->rtt, .99),
	       pct_ms(&r->rtt, 1), r->rss_kib, r->pss_kib, r->server_core_busy, r->load_core_busy,
	       100 * r->load_cpu_us / (r->window_s * 1e6), other(r->server_core_busy, cpu_share),
	       other(r->load_core_busy, r->load_cpu_us / (r->window_s * 1e6)), r->rcvbuf_errors,
	       r->threads, r->ran_out ? 1 : 0);
	fflush(stdout);
}

static void lat_free(struct lat *l)
{
	wsc_latency_free(&l->l);
}

/* ---- the run ---- */

static unsigned count_state(unsigned n, enum call_state s)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && i < B.n_calls; i++)
		k += get_state(&B.calls[i]) == s;
	return k;
}

/* Calls [from, to) placed at the setup rate; waits until each has media or
 * failed. Returns the number up. */
static unsigned ramp_to(unsigned from, unsigned to)
{
	uint64_t start = wsc_now_ns();
	double gap = B.o.setup_rate > 0 ? 1.0 / B.o.setup_rate : 0;
	for (unsigned i = from; i < to; i++) {
		struct call *c = &B.calls[i];
		g_main_context_invoke(c->sh->ctx, start_call_job, c);
		uint64_t due = start + wsc_sec_to_ns(gap * (i - from + 1));
		uint64_t now = wsc_now_ns();
		if (due > now)
			sleep_s((double)(due - now) / 1e9);
	}
	uint64_t deadline = wsc_now_ns() + wsc_sec_to_ns(B.o.setup_timeout_s);
	for (;;) {
		unsigned pending = 0;
		for (unsigned i = from; i < to; i++) {
			enum call_state s = get_state(&B.calls[i]);
			pending += s == CALL_REGISTERED || s == CALL_CALLING || s == CALL_ANSWERED;
		}
		if (!pending)
			break;
		if (wsc_now_ns() > deadline) {
			for (unsigned i = from; i < to; i++) {
				enum call_state s = get_state(&B.calls[i]);
				if (s == CALL_REGISTERED || s == CALL_CALLING || s == CALL_ANSWERED)
					fail_call(&B.calls[i], s == CALL_ANSWERED ? "no media within the setup timeout"
					                                          : "no answer within the setup timeout");
			}
			break;
		}
		sleep_s(0.05);
	}
	return count_state(to, CALL_MEDIA);
}

static void measure(unsigned n, struct step_result *r)
{
	memset(r, 0, sizeof *r);
	r->n = n;
	struct daemon_cpu d0 = {0}, d1 = {0};
	struct wsc_core_watch sw = {.core = B.o.server_core}, lw = {.core = wsc_own_core()};
	uint64_t rcv0 = udp_rcvbuf_errors();
	uint64_t drops0 = LOAD(&B.pbx.drops);
	double self0 = wsc_self_cpu_us();
	uint64_t t0 = wsc_now_ns();
	if (B.o.server_pid > 0)
		daemon_cpu_read(B.o.server_pid, &d0);
	wsc_core_watch_start(&sw);
	wsc_core_watch_start(&lw);
	sleep_s(B.o.window_s);
	if (B.o.server_pid > 0)
		daemon_cpu_read(B.o.server_pid, &d1);
	wsc_core_watch_stop(&sw);
	wsc_core_watch_stop(&lw);
	uint64_t t1 = wsc_now_ns();
	r->load_cpu_us = wsc_self_cpu_us() - self0;
	r->window_s = (double)(t1 - t0) / 1e9;
	r->cpu_all_us = (double)(d1.all_ns - d0.all_ns) / 1000.0;
	r->cpu_media_us = (double)(d1.media_ns - d0.media_ns) / 1000.0;
	r->threads = d1.threads;
	r->server_core_busy = sw.busy;
	r->load_core_busy = lw.busy;
	/* the last packets of the window need a moment to come back */
	sleep_s(B.o.grace_s);
	r->rcvbuf_errors = udp_rcvbuf_errors() - rcv0;
	r->pbx_drops = LOAD(&B.pbx.drops) - drops0;
	r->up = count_state(n, CALL_MEDIA);
	r->failed = LOAD(&B.c.call_failed);
	evaluate(r, stamp_of(t0), stamp_of(t1));
	if (B.o.server_pid > 0) {
		struct wsc_proc_usage u;
		if (wsc_proc_usage_read(B.o.server_pid, true, &u) == 0) {
			r->rss_kib = u.rss_kib;
			r->pss_kib = u.pss_kib;
		}
	}
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fputs("usage: bench_media --port WS_PORT [options]\n"
	      "\n"
	      "Places calls over WebSocket to the daemon, each a WebRTC media end (ICE,\n"
	      "DTLS-SRTP, SRTP) sending G.711 every 20 ms and checking what comes back, in\n"
	      "steps of concurrent calls; measures the daemon at each step.\n"
	      "\n"
	      "  --host ADDR            the daemon's address (127.0.0.1)\n"
	      "  --port N               its WebSocket port\n"
	      "  --domain D             of the users (sipwire.test)\n"
	      "  --dial USER            the Request-URI user of every call (echo)\n"
	      "  --pbx-rtp-port N       the PBX's media is here: an RTP echo on ADDR:N (and\n"
	      "                         N+1 for RTCP) stamping arrivals; without it the calls\n"
	      "                         are measured round trip only (the echo service)\n"
	      "  --users N              calls register as PREFIX0..PREFIX(N-1), in turn (100)\n"
	      "  --user-prefix P        (u)   --password-prefix P   (pw)\n"
	      "  --steps A,B,C          concurrent calls at each step (50,100,200)\n"
	      "  --window S             measurement window per step (10)\n"
	      "  --settle S             wait after the step's calls are up (3)\n"
	      "  --grace S              wait for the window's last packets (0.5)\n"
	      "  --setup-rate R         new calls per second (100)\n"
	      "  --setup-timeout S      for the calls of a step to have media (30)\n"
	      "  --shards K             threads running the calls (4)\n"
	      "  --server-pid PID       the daemon, for its CPU and memory\n"
	      "  --server-core C        the core it is pinned to (-1)\n"
	      "  --no-stop              go on after a step that lost more than 1% of the packets\n"
	      "  --glib-reads           each media end's socket is read through the shard's\n"
	      "                         main context (a source each), as a lone peer does,\n"
	      "                         instead of one epoll set per shard: costs this tool\n"
	      "                         more CPU per call\n"
	      "  --label L              names the RESULT lines\n",
	      f);
}

static int parse_steps(const char *s, struct options *o)
{
	o->n_steps = 0;
	const char *p = s;
	while (*p) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p || v == 0 || v > 100000 || o->n_steps >= MAX_STEPS)
			return -EINVAL;
		if (o->n_steps && v <= o->steps[o->n_steps - 1])
			return -EINVAL;
		o->steps[o->n_steps++] = (unsigned)v;
		p = end;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return o->n_steps ? 0 : -EINVAL;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		O_HOST = 256, O_PORT, O_DOMAIN, O_DIAL, O_PBX, O_USERS, O_UPREFIX, O_PPREFIX,
		O_STEPS, O_WINDOW, O_SETTLE, O_GRACE, O_RATE, O_SETUP_TIMEOUT, O_SHARDS, O_PID,
		O_CORE, O_NO_STOP, O_GLIB_READS, O_LABEL, O_HELP,
	};
	static const struct option longopts[] = {
		{"host", required_argument, NULL, O_HOST},
		{"port", required_argument, NULL, O_PORT},
		{"domain", required_argument, NULL, O_DOMAIN},
		{"dial", required_argument, NULL, O_DIAL},
		{"pbx-rtp-port", required_argument, NULL, O_PBX},
		{"users", required_argument, NULL, O_USERS},
		{"user-prefix", required_argument, NULL, O_UPREFIX},
		{"password-prefix", required_argument, NULL, O_PPREFIX},
		{"steps", required_argument, NULL, O_STEPS},
		{"window", required_argument, NULL, O_WINDOW},
		{"settle", required_argument, NULL, O_SETTLE},
		{"grace", required_argument, NULL, O_GRACE},
		{"setup-rate", required_argument, NULL, O_RATE},
		{"setup-timeout", required_argument, NULL, O_SETUP_TIMEOUT},
		{"shards", required_argument, NULL, O_SHARDS},
		{"server-pid", required_argument, NULL, O_PID},
		{"server-core", required_argument, NULL, O_CORE},
		{"no-stop", no_argument, NULL, O_NO_STOP},
		{"glib-reads", no_argument, NULL, O_GLIB_READS},
		{"label", required_argument, NULL, O_LABEL},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	*o = (struct options){
		.host = "127.0.0.1",
		.domain = "sipwire.test",
		.dial = "echo",
		.users = 100,
		.user_prefix = "u",
		.password_prefix = "pw",
		.window_s = 10,
		.settle_s = 3,
		.grace_s = 0.5,
		.setup_rate = 100,
		.setup_timeout_s = 30,
		.shards = 4,
		.server_core = -1,
		.label = "sipwire",
	};
	parse_steps("50,100,200", o);
	int c;
	unsigned long long v;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case O_HOST: o->host = optarg; break;
		case O_PORT:
			bad = wsc_parse_uint(optarg, 65535, &v) || !v;
			o->port = (unsigned)v;
			break;
		case O_DOMAIN: o->domain = optarg; break;
		case O_DIAL: o->dial = optarg; break;
		case O_PBX:
			bad = wsc_parse_uint(optarg, 65534, &v) || !v;
			o->pbx_rtp_port = (unsigned)v;
			break;
		case O_USERS:
			bad = wsc_parse_uint(optarg, 1000000, &v) || !v;
			o->users = (unsigned)v;
			break;
		case O_UPREFIX: o->user_prefix = optarg; break;
		case O_PPREFIX: o->password_prefix = optarg; break;
		case O_STEPS: bad = parse_steps(optarg, o) < 0; break;
		case O_WINDOW: bad = wsc_parse_double(optarg, &o->window_s) || o->window_s <= 0; break;
		case O_SETTLE: bad = wsc_parse_double(optarg, &o->settle_s); break;
		case O_GRACE: bad = wsc_parse_double(optarg, &o->grace_s); break;
		case O_RATE: bad = wsc_parse_double(optarg, &o->setup_rate); break;
		case O_SETUP_TIMEOUT: bad = wsc_parse_double(optarg, &o->setup_timeout_s); break;
		case O_SHARDS:
			bad = wsc_parse_uint(optarg, 64, &v) || !v;
			o->shards = (unsigned)v;
			break;
		case O_PID:
			bad = wsc_parse_uint(optarg, 1u << 30, &v);
			o->server_pid = (int)v;
			break;
		case O_CORE:
			if (!strcmp(optarg, "-1")) {
				o->server_core = -1;
			} else {
				bad = wsc_parse_uint(optarg, 4096, &v);
				o->server_core = (int)v;
			}
			break;
		case O_NO_STOP: o->no_stop = true; break;
		case O_GLIB_READS: o->glib_reads = true; break;
		case O_LABEL: o->label = optarg; break;
		case O_HELP: usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
		if (bad) {
			fprintf(stderr, "bench_media: bad value for --%s: %s\n", longopts[c - O_HOST].name,
			        optarg);
			return -EINVAL;
		}
	}
	if (optind < argc || !o->port) {
		fprintf(stderr, "bench_media: --port is needed (--help for usage)\n");
		return -EINVAL;
	}
	return 0;
}

/* ---- main ---- */

/* Packets each call can send: enough for every step's setup, settling and
 * window, with room; a call that runs out stops sending (said in the
 * results). */
static unsigned plan_packets(const struct options *o)
{
	double total = 30;
	unsigned prev = 0;
	for (unsigned i = 0; i < o->n_steps; i++) {
		double setup = o->setup_rate > 0 ? (o->steps[i] - prev) / o->setup_rate : 0;
		total += 2 * setup + 5 + o->settle_s + o->window_s + o->grace_s + 2;
		prev = o->steps[i];
	}
	return (unsigned)(total * PACKETS_PER_S);
}

static int start_shards(void)
{
	unsigned k = B.o.shards < B.n_calls ? B.o.shards : B.n_calls;
	B.shards = calloc(k, sizeof *B.shards);
	if (!B.shards)
		return -ENOMEM;
	for (unsigned s = 0; s < k; s++) {
		struct shard *sh = &B.shards[s];
		sh->index = s;
		sh->ep = -1;
		sh->calls = calloc(B.n_calls / k + 1, sizeof *sh->calls);
		if (!sh->calls)
			return -ENOMEM;
	}
	for (unsigned i = 0; i < B.n_calls; i++) {
		struct shard *sh = &B.shards[i % k];
		B.calls[i].id = i;
		B.calls[i].sh = sh;
		sh->calls[sh->n_calls++] = &B.calls[i];
	}
	B.o.shards = k;
	/* one at a time: each gathers its media ends and opens its connections */
	for (unsigned s = 0; s < k; s++) {
		struct shard *sh = &B.shards[s];
		sh->ctx = g_main_context_new();
		sh->loop = g_main_loop_new(sh->ctx, FALSE);
		char name[16];
		snprintf(name, sizeof name, "shard%u", s);
		sh->thread = g_thread_new(name, shard_main, sh);
		while (!LOAD(&sh->init_done))
			sleep_s(0.01);
		if (sh->init_rc < 0)
			return sh->init_rc;
	}
	return 0;
}

static void stop_shards(void)
{
	for (unsigned s = 0; s < B.o.shards && B.shards; s++) {
		struct shard *sh = &B.shards[s];
		if (!sh->thread)
			continue;
		g_main_context_invoke(sh->ctx, quit_job, sh);
		g_thread_join(sh->thread);
		sh->thread = NULL;
		g_main_loop_unref(sh->loop);
		g_main_context_unref(sh->ctx);
	}
}

static void hang_up_all(void)
{
	unsigned ending = 0;
	uint64_t start = wsc_now_ns();
	for (unsigned i = 0; i < B.n_calls; i++) {
		enum call_state s = get_state(&B.calls[i]);
		if (s != CALL_MEDIA && s != CALL_ANSWERED && s != CALL_CALLING)
			continue;
		g_main_context_invoke(B.calls[i].sh->ctx, hang_up_job, &B.calls[i]);
		ending++;
		uint64_t due = start + wsc_sec_to_ns(ending / 500.0);
		uint64_t now = wsc_now_ns();
		if (due > now)
			sleep_s((double)(due - now) / 1e9);
	}
	uint64_t deadline = wsc_now_ns() + wsc_sec_to_ns(10);
	while (count_state(B.n_calls, CALL_ENDING) && wsc_now_ns() < deadline)
		sleep_s(0.05);
	unsigned left = count_state(B.n_calls, CALL_ENDING);
	if (left)
		say("%u BYE(s) unanswered after 10 s", left);
}

int main(int argc, char **argv)
{
	if (parse_options(argc, argv, &B.o) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	g_mutex_init(&B.log_lock);
	wsc_rand_seed();
	B.t0_ns = wsc_now_ns();
	B.n_calls = B.o.steps[B.o.n_steps - 1];
	B.packets = plan_packets(&B.o);
	B.calls = calloc(B.n_calls, sizeof *B.calls);
	if (!B.calls)
		return 1;
	/* per call: a WebSocket, a libnice socket, GLib's wake-up descriptors */
	wsc_raise_nofile(B.n_calls * 4 + 256);
	int rc = dtls_cert_new(0, &B.cert);
	if (rc < 0) {
		say("no DTLS certificate: %s", strerror(-rc));
		return 1;
	}
	int status = 1;
	struct wsc_proc_usage idle = {0};
	struct step_result results[MAX_STEPS];
	unsigned n_results = 0;

	say("%u calls at most, %u shards, %u packets per call planned; registering", B.n_calls,
	    B.o.shards, B.packets);
	rc = start_shards();
	if (rc < 0) {
		say("could not start: %s", strerror(-rc));
		goto out;
	}
	uint64_t deadline = wsc_now_ns() + wsc_sec_to_ns(30);
	while (LOAD(&B.c.registered) + LOAD(&B.c.reg_failed) < B.n_calls &&
	       wsc_now_ns() < deadline)
		sleep_s(0.05);
	if (LOAD(&B.c.registered) < B.n_calls) {
		say("only %u of %u registered", LOAD(&B.c.registered), B.n_calls);
		goto out;
	}
	if (B.o.pbx_rtp_port && (rc = pbx_start()) < 0) {
		say("the PBX's RTP echo on port %u: %s", B.o.pbx_rtp_port, strerror(-rc));
		goto out;
	}
	sleep_s(1);
	if (B.o.server_pid > 0)
		wsc_proc_usage_read(B.o.server_pid, true, &idle);
	printf("idle daemon (%u connections registered): RSS %" PRIu64 " KiB, PSS %" PRIu64
	       " KiB\n",
	       B.n_calls, idle.rss_kib, idle.pss_kib);
	printf("RESULT label=%s idle=1 connections=%u rss_kib=%" PRIu64 " pss_kib=%" PRIu64 "\n",
	       B.o.label, B.n_calls, idle.rss_kib, idle.pss_kib);

	unsigned prev = 0;
	bool stop = false;
	for (unsigned s = 0; s < B.o.n_steps && !stop; s++) {
		unsigned n = B.o.steps[s];
		say("step %u: %u calls (%u new)", s + 1, n, n - prev);
		unsigned up = ramp_to(prev, n);
		prev = n;
		if (up == 0) {
			say("no call has media at this step");
			break;
		}
		sleep_s(B.o.settle_s);
		struct step_result *r = &results[n_results++];
		measure(n, r);
		char label[96];
		snprintf(label, sizeof label, "%s", B.o.label);
		print_step(label, r);
		uint64_t lost = r->up_lost + r->down_lost;
		if (!B.o.no_stop && r->sent && (double)lost / (double)r->sent > 0.01) {
			say("%" PRIu64 " of %" PRIu64 " packets lost: no further step", lost, r->sent);
			stop = true;
		}
	}
	/* memory per call, from idle to each step */
	for (unsigned i = 0; i < n_results; i++) {
		struct step_result *r = &results[i];
		double rss = r->up ? ((double)r->rss_kib - (double)idle.rss_kib) / r->up : 0;
		double pss = r->up ? ((double)r->pss_kib - (double)idle.pss_kib) / r->up : 0;
		printf("RESULT label=%s memory=1 calls=%u rss_kib_per_call=%.1f pss_kib_per_call=%.1f\n",
		       B.o.label, r->n, rss, pss);
	}
	hang_up_all();
	status = 0;
out:
	pbx_stop();
	stop_shards();
	uint64_t mismatches = 0, auth_failures = 0, received = 0, consent = 0, consent_refused = 0;
	for (unsigned s = 0; s < B.o.shards && B.shards; s++) {
		mismatches += B.shards[s].mismatches;
		auth_failures += B.shards[s].auth_failures;
		received += B.shards[s].rtp_received;
		consent += B.shards[s].consent_answered;
		consent_refused += B.shards[s].consent_refused;
		free(B.shards[s].calls);
	}
	printf("RESULT label=%s summary=1 registered=%u reg_failed=%u media_up=%u call_failed=%u "
	       "remote_bye=%u conn_lost=%u bye_done=%u mismatches=%" PRIu64
	       " srtp_auth_failures=%" PRIu64 " rtp_received=%" PRIu64 " pbx_rx=%" PRIu64
	       " pbx_unknown=%" PRIu64 " consent_answered=%" PRIu64 " consent_refused=%" PRIu64 "\n",
	       B.o.label, LOAD(&B.c.registered), LOAD(&B.c.reg_failed), LOAD(&B.c.media_up),
	       LOAD(&B.c.call_failed), LOAD(&B.c.remote_bye), LOAD(&B.c.conn_lost),
	       LOAD(&B.c.bye_done), mismatches, auth_failures, received, LOAD(&B.pbx.rx),
	       LOAD(&B.pbx.unknown), consent, consent_refused);
	if (status == 0 && (LOAD(&B.c.call_failed) || LOAD(&B.c.reg_failed) || mismatches ||
	                    received == 0 || LOAD(&B.c.conn_lost) || n_results == 0))
		status = 1;
	for (unsigned i = 0; i < n_results; i++) {
		lat_free(&results[i].up_lat);
		lat_free(&results[i].down_lat);
		lat_free(&results[i].rtt);
	}
	for (unsigned i = 0; i < B.n_calls; i++) {
		free(B.calls[i].t_sent);
		free(B.calls[i].t_rx);
		free(B.calls[i].t_tx);
		free(B.calls[i].t_back);
	}
	free(B.calls);
	free(B.shards);
	dtls_cert_free(B.cert);
	return status;
}
