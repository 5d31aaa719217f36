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
 *
 * Shared sockets (the default; --per-peer turns it off): once a call's
 * DTLS is connected its media moves from its libnice socket to one of a few
 * UDP sockets its shard shares between calls (--shared-sockets): the end
 * sends a nominating check (USE-CANDIDATE) from there, which the gateway
 * takes as the browser's new address (RFC 8445 consent to a new pair), and
 * the call's audio starts once it is answered. Arrivals are told apart by
 * the gateway's address (each call has its own gateway port), read with
 * recvmmsg; what the ends send is queued per socket and goes out with one
 * sendmmsg per main-loop iteration, its audio packets stamped just before.
 * The media ends' timers are a wheel of MEDIA_METER_SLOT_US slots on a
 * timerfd, each call a fixed fraction of a millisecond off the others, and
 * what a slot queued goes out at once: the calls' packets reach the gateway
 * spread as independent browsers' do, not in whole-millisecond bursts.
 * The libnice agent stays, idle: the call needs its DTLS-SRTP keys only.
 * Per packet that leaves the tool a fraction of a system call instead of
 * one or more, so that it carries far more calls than the daemon on a core.
 *
 * A step passes when every call is up, no packet is lost and the one-way
 * p99 the gateway adds is under --p99 ms (media_meter's verdict); the last
 * line says the largest passing step. --time-limit bounds the run.
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
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <glib-unix.h>
#include <glib.h>

#include "peer_media.h"
#include "peer_sip.h"
#include "webrtc/dtls.h"
#include "webrtc/rtp.h"
#include "media_meter.h"
#include "ws_client.h"

#define MAX_STEPS        16
#define PACKETS_PER_S    MEDIA_METER_PACKETS_S
#define MAX_FAILURE_LOG  8
#define REGISTER_EXPIRES 3600
#define SEND_BATCH       64  /* queued datagrams per shared socket */
#define SEND_MAX         600 /* SRTP, SRTCP, STUN: larger ones go out at once */
#define RECV_BATCH       32
#define SHARED_TAG       (1ull << 63) /* epoll data: a shared socket, not a call */
#define SLOT_US          MEDIA_METER_SLOT_US
#define WHEEL_SLOTS      16384 /* 1.6 s: timers further out are served early, and re-armed */

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
	bool per_peer;
	unsigned shared_sockets; /* per shard */
	unsigned jitter_ms;
	double p99_ms;
	double time_limit_s;
	const char *label;
};

/* ---- shared state ---- */

_Static_assert(PEER_MEDIA_TAG_LEN == MEDIA_METER_TAG_LEN, "the PBX's echo finds calls by tag");

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
	int state; /* enum call_state; atomic: the main thread reads it */
	bool answer_applied;
	bool polled; /* its media's socket is in the shard's epoll set */
	bool moving; /* shared sockets: the move is under way or done */
	unsigned sock; /* shared sockets: its shard's socket */
	uint64_t due_slot; /* shared sockets: its media's timer (0: none) */
	unsigned offset_us; /* shared sockets: its timers' fixed offset within the ms */
	uint8_t tag[PEER_MEDIA_TAG_LEN]; /* its payloads' (the PBX's echo knows it from the start) */
	/* Per audio packet index: sent by the peer, received by the PBX (kernel
	 * time), sent back by the PBX, back at the peer byte for byte. Written
	 * by the shard and the PBX threads, read by the main thread. */
	struct meter_call m;
};

struct wheel_entry {
	struct call *c;
	uint64_t due_slot;
};

/* One of a shard's shared sockets, and what waits to go out on it. */
struct shared_sock {
	int fd;
	unsigned n_out;
	struct mmsghdr out[SEND_BATCH];
	struct iovec iov[SEND_BATCH];
	struct sockaddr_storage to[SEND_BATCH];
	struct call *audio_call[SEND_BATCH]; /* an audio packet: stamped when it goes */
	uint32_t audio_index[SEND_BATCH];
	uint8_t buf[SEND_BATCH][SEND_MAX];
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
	/* shared sockets */
	struct shared_sock *socks;
	unsigned n_socks;
	GHashTable *by_addr; /* the gateway's address key -> struct call */
	GSource *flush_src;
	struct call *audio_call; /* on_audio said this packet is the next one sent */
	uint32_t audio_index;
	/* shared sockets: the media ends' timers, one wheel slot per SLOT_US
	 * (a timerfd: GLib's own timeouts are whole milliseconds); an entry is
	 * live while its call's due_slot is still the entry's */
	GArray *wheel[WHEEL_SLOTS]; /* of struct wheel_entry */
	uint64_t wheel_done;        /* every slot up to this one was served */
	size_t wheel_entries;
	int wheel_fd;
	bool wheel_armed;
	GSource *wheel_src;
	uint64_t unknown_source, send_errors, sendmmsg_calls, sent_datagrams, recvmmsg_calls,
	    recv_datagrams;
};

struct counters { /* atomics */
	unsigned registered, reg_failed;
	unsigned media_up, call_failed, remote_bye, bye_done, conn_lost;
	unsigned moved;
};

static struct {
	struct options o;
	struct meter m; /* the stamps, the PBX's echo, the windows */
	unsigned packets; /* per call */
	struct call *calls;
	unsigned n_calls;
	struct shard *shards;
	struct counters c;
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

static uint32_t stamp(void)
{
	return meter_stamp(&B.m);
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
	if (c->media)
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

/* ---- shared sockets ---- */

static uint64_t addr_key(const struct sockaddr_storage *a)
{
	if (a->ss_family != AF_INET)
		return 0;
	const struct sockaddr_in *in = (const void *)a;
	return (uint64_t)in->sin_addr.s_addr << 16 | in->sin_port;
}

static void flush_sock(struct shard *sh, struct shared_sock *ss)
{
	if (!ss->n_out)
		return;
	uint32_t now = stamp();
	for (unsigned i = 0; i < ss->n_out; i++)
		if (ss->audio_call[i])
			STORE(&ss->audio_call[i]->m.t_sent[ss->audio_index[i]], now);
	unsigned done = 0;
	while (done < ss->n_out) {
		int n = sendmmsg(ss->fd, ss->out + done, ss->n_out - done, 0);
		sh->sendmmsg_calls++;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* this one is lost (counted by the meter): the rest still go */
			sh->send_errors++;
			n = 1;
		} else {
			sh->sent_datagrams += (unsigned)n;
		}
		done += (unsigned)n;
	}
	ss->n_out = 0;
}

static void flush_all(struct shard *sh)
{
	for (unsigned i = 0; i < sh->n_socks; i++)
		flush_sock(sh, &sh->socks[i]);
}

/* peer_media's transmit once moved: queued until the loop's next
 * iteration (or a full batch). */
static void media_send_to(void *arg, const uint8_t *buf, size_t len,
                          const struct sockaddr_storage *to, socklen_t to_len)
{
	struct call *c = arg;
	struct shard *sh = c->sh;
	struct shared_sock *ss = &sh->socks[c->sock];
	bool audio = sh->audio_call == c;
	sh->audio_call = NULL;
	if (len > SEND_MAX) {
		if (audio)
			STORE(&c->m.t_sent[sh->audio_index], stamp());
		if (sendto(ss->fd, buf, len, 0, (const struct sockaddr *)to, to_len) < 0)
			sh->send_errors++;
		return;
	}
	if (ss->n_out == SEND_BATCH)
		flush_sock(sh, ss);
	unsigned i = ss->n_out++;
	memcpy(ss->buf[i], buf, len);
	memcpy(&ss->to[i], to, to_len);
	ss->iov[i] = (struct iovec){.iov_base = ss->buf[i], .iov_len = len};
	ss->out[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &ss->to[i],
	                                          .msg_namelen = to_len,
	                                          .msg_iov = &ss->iov[i],
	                                          .msg_iovlen = 1}};
	ss->audio_call[i] = audio ? c : NULL;
	ss->audio_index[i] = sh->audio_index;
}

/* Before the loop waits: everything the iteration's timers and reads
 * queued goes out. */
static gboolean flush_prepare(GSource *s, gint *timeout)
{
	struct shard *sh = ((struct shard **)(void *)(s + 1))[0];
	flush_all(sh);
	*timeout = -1;
	return FALSE;
}

static GSourceFuncs flush_funcs = {.prepare = flush_prepare};

static void read_shared(struct shard *sh, struct shared_sock *ss)
{
	static __thread uint8_t bufs[RECV_BATCH][1500];
	struct iovec iov[RECV_BATCH];
	struct sockaddr_storage from[RECV_BATCH];
	struct mmsghdr msgs[RECV_BATCH];
	for (unsigned round = 0; round < 16; round++) {
		for (unsigned i = 0; i < RECV_BATCH; i++) {
			iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = sizeof bufs[i]};
			msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &from[i],
			                                       .msg_namelen = sizeof from[i],
			                                       .msg_iov = &iov[i],
			                                       .msg_iovlen = 1}};
		}
		int n = recvmmsg(ss->fd, msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
		sh->recvmmsg_calls++;
		if (n <= 0)
			break;
		sh->recv_datagrams += (unsigned)n;
		for (int i = 0; i < n; i++) {
			struct call *c =
			    g_hash_table_lookup(sh->by_addr, (gpointer)(uintptr_t)addr_key(&from[i]));
			if (!c || !c->media) {
				sh->unknown_source++;
				continue;
			}
			peer_media_input(c->media, bufs[i], msgs[i].msg_len, &from[i],
			                 msgs[i].msg_hdr.msg_namelen);
		}
		if (n < RECV_BATCH)
			break;
	}
}

/* ---- the media ends' timers (shared sockets) ---- */

static uint64_t mono_slot(void)
{
	return (uint64_t)g_get_monotonic_time() / SLOT_US;
}

/* The timerfd goes off at every slot while there are entries: armed once
 * with the slot as its interval, not again for each slot (a system call
 * 10,000 times a second). */
static void wheel_arm(struct shard *sh)
{
	bool want = sh->wheel_entries > 0;
	if (want == sh->wheel_armed)
		return;
	struct itimerspec its = {0};
	if (want) {
		uint64_t us = (sh->wheel_done + 1) * SLOT_US;
		its.it_value = (struct timespec){.tv_sec = (time_t)(us / 1000000u),
		                                 .tv_nsec = (long)(us % 1000000u) * 1000};
		its.it_interval = (struct timespec){.tv_nsec = SLOT_US * 1000};
	}
	if (timerfd_settime(sh->wheel_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		sh->wheel_armed = want;
}

static void media_on_timer(void *arg, uint64_t due_ms)
{
	struct call *c = arg;
	struct shard *sh = c->sh;
	if (!sh->wheel_done)
		sh->wheel_done = mono_slot() - 1;
	uint64_t due = (due_ms * 1000u + c->offset_us) / SLOT_US;
	if (due <= sh->wheel_done)
		due = sh->wheel_done + 1;
	/* not the slot being served (due % WHEEL_SLOTS): a wheel's turn less one */
	if (due > sh->wheel_done + WHEEL_SLOTS - 1)
		due = sh->wheel_done + WHEEL_SLOTS - 1;
	c->due_slot = due;
	GArray **slot = &sh->wheel[due % WHEEL_SLOTS];
	if (!*slot)
		*slot = g_array_sized_new(FALSE, FALSE, sizeof(struct wheel_entry), 16);
	struct wheel_entry e = {.c = c, .due_slot = due};
	g_array_append_val(*slot, e);
	if (!sh->wheel_entries++)
		wheel_arm(sh);
}

/* Every slot due by now, in order; what the ticks arm goes to later slots. */
static gboolean wheel_ready(gint fd, GIOCondition cond, gpointer data)
{
	struct shard *sh = data;
	uint64_t expirations;
	if (read(fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
		return G_SOURCE_CONTINUE;
	uint64_t now = mono_slot();
	while (sh->wheel_done < now) {
		uint64_t t = ++sh->wheel_done;
		GArray *slot = sh->wheel[t % WHEEL_SLOTS];
		if (slot) {
			/* entries are appended only to later slots while this runs */
			for (guint i = 0; i < slot->len; i++) {
				struct wheel_entry e = g_array_index(slot, struct wheel_entry, i);
				if (e.c->due_slot != e.due_slot || !e.c->media)
					continue;
				e.c->due_slot = 0;
				peer_media_tick(e.c->media);
			}
			sh->wheel_entries -= slot->len;
			g_array_set_size(slot, 0);
		}
	}
	wheel_arm(sh);
	flush_all(sh); /* what the slot queued goes now, not after the loop's turn */
	return G_SOURCE_CONTINUE;
}

static int shared_open(struct shard *sh)
{
	sh->n_socks = B.o.shared_sockets;
	sh->socks = calloc(sh->n_socks, sizeof *sh->socks);
	sh->by_addr = g_hash_table_new(g_direct_hash, g_direct_equal);
	if (!sh->socks)
		return -ENOMEM;
	for (unsigned i = 0; i < sh->n_socks; i++)
		sh->socks[i].fd = -1;
	for (unsigned i = 0; i < sh->n_socks; i++) {
		struct shared_sock *ss = &sh->socks[i];
		ss->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (ss->fd < 0)
			return -errno;
		int size = 4 << 20;
		setsockopt(ss->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
		setsockopt(ss->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
		struct sockaddr_in a = {.sin_family = AF_INET};
		if (inet_pton(AF_INET, B.o.host, &a.sin_addr) != 1)
			a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(ss->fd, (struct sockaddr *)&a, sizeof a) < 0)
			return -errno;
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = SHARED_TAG | i};
		if (epoll_ctl(sh->ep, EPOLL_CTL_ADD, ss->fd, &ev) < 0)
			return -errno;
	}
	GSource *s = g_source_new(&flush_funcs, sizeof(GSource) + sizeof(struct shard *));
	((struct shard **)(void *)(s + 1))[0] = sh;
	g_source_attach(s, sh->ctx);
	sh->flush_src = s;
	sh->wheel_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (sh->wheel_fd < 0)
		return -errno;
	s = g_unix_fd_source_new(sh->wheel_fd, G_IO_IN);
	g_source_set_callback(s, (GSourceFunc)(void (*)(void))wheel_ready, sh, NULL);
	g_source_attach(s, sh->ctx);
	sh->wheel_src = s;
	wheel_arm(sh);
	return 0;
}

static void shared_close(struct shard *sh)
{
	int wheel_fd = sh->wheel_src ? sh->wheel_fd : -1;
	GSource **srcs[] = {&sh->flush_src, &sh->wheel_src};
	for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
		if (!*srcs[i])
			continue;
		g_source_destroy(*srcs[i]);
		g_source_unref(*srcs[i]);
		*srcs[i] = NULL;
	}
	if (wheel_fd >= 0)
		close(wheel_fd);
	for (unsigned i = 0; i < WHEEL_SLOTS; i++)
		if (sh->wheel[i])
			g_array_free(sh->wheel[i], TRUE);
	for (unsigned i = 0; i < sh->n_socks && sh->socks; i++)
		if (sh->socks[i].fd >= 0)
			close(sh->socks[i].fd);
	free(sh->socks);
	sh->socks = NULL;
	sh->n_socks = 0;
	if (sh->by_addr)
		g_hash_table_destroy(sh->by_addr);
	sh->by_addr = NULL;
}

static void move_to_shared(struct call *c)
{
	struct sockaddr_storage remote;
	socklen_t remote_len;
	int rc = peer_media_move(c->media, &remote, &remote_len);
	if (rc == -EAGAIN)
		return; /* on_change says when to try again */
	if (rc < 0) {
		fail_call(c, "its media cannot move to a shared socket");
		return;
	}
	uint64_t key = addr_key(&remote);
	if (!key || g_hash_table_contains(c->sh->by_addr, (gpointer)(uintptr_t)key)) {
		fail_call(c, "the gateway's address is not IPv4, or another call's");
		return;
	}
	g_hash_table_insert(c->sh->by_addr, (gpointer)(uintptr_t)key, c);
	c->moving = true;
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
	if (!B.o.per_peer && r.dtls_connected && !c->moving && s == CALL_ANSWERED)
		move_to_shared(c);
	if (r.moved && c->polled) {
		/* its libnice socket is not used any more: the agent goes */
		epoll_ctl(c->sh->ep, EPOLL_CTL_DEL, fd, NULL);
		c->polled = false;
		peer_media_release_ice(c->media);
	}
	if (s == CALL_ANSWERED && r.dtls_connected && (B.o.per_peer || r.moved)) {
		if (!B.o.per_peer)
			INC(&B.c.moved);
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
	if (!back && !B.o.per_peer) {
		/* the packet is about to be queued: stamped as it goes out */
		c->sh->audio_call = c;
		c->sh->audio_index = index;
		return;
	}
	STORE(back ? &c->m.t_back[index] : &c->m.t_sent[index], stamp());
}

/* The call's WebRTC end, made as the call starts: an end made earlier
 * would keep its ICE agent's sockets and timers in the shard's loop for
 * the whole run, and every turn of the loop would walk them. */
static int media_init(struct call *c)
{
	char name[24];
	snprintf(name, sizeof name, "call%u", c->id);
	struct peer_media_config mc = {
		.name = name,
		.cert = B.cert,
		.packets = B.packets,
		.tag = c->tag,
		.ptime_ms = 20,
		.phase_ms = (unsigned)(wsc_rand() % 20),
		.jitter_ms = B.o.jitter_ms,
		.quiet = true,
		.owner_reads = !B.o.glib_reads,
		.shared = !B.o.per_peer,
		.send_to = media_send_to,
		.on_timer = B.o.per_peer ? NULL : media_on_timer,
		.on_change = media_on_change,
		.on_audio = media_on_audio,
		.arg = c,
	};
	return peer_media_new(&mc, &c->media);
}

static gboolean start_call_job(gpointer data)
{
	struct call *c = data;
	if (get_state(c) != CALL_REGISTERED)
		return G_SOURCE_REMOVE;
	char *offer = NULL;
	if (media_init(c) < 0) {
		fail_call(c, "could not make its WebRTC end");
		return G_SOURCE_REMOVE;
	}
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
		if (ev[i].data.u64 & SHARED_TAG) {
			read_shared(sh, &sh->socks[ev[i].data.u64 & ~SHARED_TAG]);
			continue;
		}
		struct call *c = ev[i].data.ptr;
		peer_media_pump(c->media);
	}
	flush_all(sh);
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
	uint64_t r = wsc_rand();
	_Static_assert(sizeof c->tag == sizeof r, "a tag is one random number");
	memcpy(c->tag, &r, sizeof c->tag);
	c->m.tag = meter_tag_key(c->tag);
	c->offset_us = (unsigned)(wsc_rand() % 1000);
	return meter_call_alloc(&B.m, &c->m);
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
	if (!B.o.per_peer && (rc = shared_open(sh)) < 0)
		return rc;
	for (unsigned i = 0; i < sh->n_calls; i++)
		sh->calls[i]->sock = sh->n_socks ? i % sh->n_socks : 0;
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
	shared_close(sh);
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
			meter_sleep((double)(due - now) / 1e9);
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
		meter_sleep(0.05);
	}
	return count_state(to, CALL_MEDIA);
}

static void measure(unsigned n, struct meter_step *r)
{
	meter_window(&B.m, n, r);
	r->up = count_state(n, CALL_MEDIA);
	r->failed = LOAD(&B.c.call_failed);
	meter_evaluate(&B.m, r);
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
	      "  --per-peer             each call's media stays on its own libnice socket\n"
	      "                         (a system call or more per packet), instead of\n"
	      "                         moving to its shard's shared sockets\n"
	      "  --shared-sockets N     shared UDP sockets per shard (2)\n"
	      "  --jitter MS            each packet leaves 0..MS ms after its slot (5)\n"
	      "  --p99 MS               a step passes under this one-way p99 added (1)\n"
	      "  --time-limit S         no step starts after S seconds (0: none)\n"
	      "  --label L              names the RESULT lines\n",
	      f);
}

static int parse_steps(const char *s, struct options *o)
{
	return meter_parse_steps(s, 100000, o->steps, MAX_STEPS, &o->n_steps);
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		O_HOST = 256, O_PORT, O_DOMAIN, O_DIAL, O_PBX, O_USERS, O_UPREFIX, O_PPREFIX,
		O_STEPS, O_WINDOW, O_SETTLE, O_GRACE, O_RATE, O_SETUP_TIMEOUT, O_SHARDS, O_PID,
		O_CORE, O_NO_STOP, O_GLIB_READS, O_LABEL, O_PER_PEER, O_SHARED_SOCKETS, O_JITTER,
		O_P99, O_TIME_LIMIT, O_HELP,
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
		{"per-peer", no_argument, NULL, O_PER_PEER},
		{"shared-sockets", required_argument, NULL, O_SHARED_SOCKETS},
		{"jitter", required_argument, NULL, O_JITTER},
		{"p99", required_argument, NULL, O_P99},
		{"time-limit", required_argument, NULL, O_TIME_LIMIT},
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
		.shared_sockets = 2,
		.jitter_ms = 5,
		.p99_ms = 1,
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
		case O_PER_PEER: o->per_peer = true; break;
		case O_SHARED_SOCKETS:
			bad = wsc_parse_uint(optarg, 64, &v) || !v;
			o->shared_sockets = (unsigned)v;
			break;
		case O_JITTER:
			bad = wsc_parse_uint(optarg, 15, &v);
			o->jitter_ms = (unsigned)v;
			break;
		case O_P99: bad = wsc_parse_double(optarg, &o->p99_ms) || o->p99_ms <= 0; break;
		case O_TIME_LIMIT:
			bad = wsc_parse_double(optarg, &o->time_limit_s) || o->time_limit_s < 0;
			break;
		case O_HELP: usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
		if (bad) {
			fprintf(stderr, "bench_media: bad value for --%s: %s\n", longopts[c - O_HOST].name,
			        optarg);
			return -EINVAL;
		}
	}
	if (o->glib_reads)
		o->per_peer = true; /* the shared sockets are read by the shard */
	if (optind < argc || !o->port) {
		fprintf(stderr, "bench_media: --port is needed (--help for usage)\n");
		return -EINVAL;
	}
	return 0;
}

/* ---- main ---- */

static unsigned plan_packets(const struct options *o)
{
	return meter_plan_packets(o->steps, o->n_steps, o->setup_rate, o->settle_s, o->window_s,
	                          o->grace_s);
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
			meter_sleep(0.01);
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
			meter_sleep((double)(due - now) / 1e9);
	}
	uint64_t deadline = wsc_now_ns() + wsc_sec_to_ns(10);
	while (count_state(B.n_calls, CALL_ENDING) && wsc_now_ns() < deadline)
		meter_sleep(0.05);
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
	B.n_calls = B.o.steps[B.o.n_steps - 1];
	B.packets = plan_packets(&B.o);
	B.calls = calloc(B.n_calls, sizeof *B.calls);
	struct meter_options mo = {
		.host = B.o.host,
		.echo_port = B.o.pbx_rtp_port,
		.server_pid = B.o.server_pid,
		.server_core = B.o.server_core,
		.workers = "media",
		.server = "daemon",
		.window_s = B.o.window_s,
		.grace_s = B.o.grace_s,
	};
	if (!B.calls || meter_init(&B.m, &mo, B.n_calls, B.packets) < 0)
		return 1;
	for (unsigned i = 0; i < B.n_calls; i++)
		B.m.calls[i] = &B.calls[i].m;
	/* per call: a WebSocket, a libnice socket, GLib's wake-up descriptors */
	wsc_raise_nofile(B.n_calls * 4 + 256);
	int rc = dtls_cert_new(0, &B.cert);
	if (rc < 0) {
		say("no DTLS certificate: %s", strerror(-rc));
		return 1;
	}
	int status = 1;
	struct wsc_proc_usage idle = {0};
	struct meter_step results[MAX_STEPS];
	unsigned n_results = 0, largest_passing = 0;

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
		meter_sleep(0.05);
	if (LOAD(&B.c.registered) < B.n_calls) {
		say("only %u of %u registered", LOAD(&B.c.registered), B.n_calls);
		goto out;
	}
	if (B.o.pbx_rtp_port && (rc = meter_echo_start(&B.m)) < 0) {
		say("the PBX's RTP echo on port %u: %s", B.o.pbx_rtp_port, strerror(-rc));
		goto out;
	}
	meter_sleep(1);
	if (B.o.server_pid > 0)
		wsc_proc_usage_read(B.o.server_pid, true, &idle);
	printf("idle daemon (%u connections registered): RSS %" PRIu64 " KiB, PSS %" PRIu64
	       " KiB\n",
	       B.n_calls, idle.rss_kib, idle.pss_kib);
	printf("RESULT label=%s idle=1 connections=%u rss_kib=%" PRIu64 " pss_kib=%" PRIu64 "\n",
	       B.o.label, B.n_calls, idle.rss_kib, idle.pss_kib);

	unsigned prev = 0;
	bool stop = false, failed_before = false;
	uint64_t run_start = wsc_now_ns();
	for (unsigned s = 0; s < B.o.n_steps && !stop; s++) {
		unsigned n = B.o.steps[s];
		if (B.o.time_limit_s > 0 &&
		    wsc_now_ns() - run_start > wsc_sec_to_ns(B.o.time_limit_s)) {
			say("the time limit (%.0f s) is reached: no further step", B.o.time_limit_s);
			break;
		}
		say("step %u: %u calls (%u new)", s + 1, n, n - prev);
		unsigned up = ramp_to(prev, n);
		prev = n;
		if (up == 0) {
			say("no call has media at this step");
			break;
		}
		meter_sleep(B.o.settle_s);
		struct meter_step *r = &results[n_results++];
		measure(n, r);
		meter_print_step(&B.m, B.o.label, r);
		if (meter_step_passes(&B.m, r, B.o.p99_ms) && !failed_before)
			largest_passing = n;
		else
			failed_before = true;
		uint64_t lost = r->up_lost + r->down_lost;
		if (!B.o.no_stop && r->sent && (double)lost / (double)r->sent > 0.01) {
			say("%" PRIu64 " of %" PRIu64 " packets lost: no further step", lost, r->sent);
			stop = true;
		}
	}
	/* memory per call, from idle to each step */
	for (unsigned i = 0; i < n_results; i++)
		meter_print_memory(B.o.label, &results[i], &idle);
	hang_up_all();
	status = 0;
out:;
	struct meter_echo_counts echo;
	meter_echo_counts(&B.m, &echo);
	meter_echo_stop(&B.m);
	stop_shards();
	uint64_t mismatches = 0, auth_failures = 0, received = 0, consent = 0, consent_refused = 0;
	uint64_t unknown = 0, send_errors = 0, sendmmsg_calls = 0, sent_dgrams = 0, recvmmsg_calls = 0,
	         recv_dgrams = 0;
	for (unsigned s = 0; s < B.o.shards && B.shards; s++) {
		unknown += B.shards[s].unknown_source;
		send_errors += B.shards[s].send_errors;
		sendmmsg_calls += B.shards[s].sendmmsg_calls;
		sent_dgrams += B.shards[s].sent_datagrams;
		recvmmsg_calls += B.shards[s].recvmmsg_calls;
		recv_dgrams += B.shards[s].recv_datagrams;
		mismatches += B.shards[s].mismatches;
		auth_failures += B.shards[s].auth_failures;
		received += B.shards[s].rtp_received;
		consent += B.shards[s].consent_answered;
		consent_refused += B.shards[s].consent_refused;
		free(B.shards[s].calls);
	}
	if (!B.o.per_peer)
		printf("shared sockets: %u calls moved; %" PRIu64 " datagrams in %" PRIu64
		       " sendmmsg, %" PRIu64 " in %" PRIu64 " recvmmsg; %" PRIu64
		       " from unknown addresses, %" PRIu64 " send errors\n",
		       LOAD(&B.c.moved), sent_dgrams, sendmmsg_calls, recv_dgrams, recvmmsg_calls,
		       unknown, send_errors);
	printf("%s: largest step with every call up, no loss and one-way p99 under %.3g ms: "
	       "%u calls\n",
	       B.o.label, B.o.p99_ms, largest_passing);
	printf("RESULT label=%s summary=1 mode=%s largest_passing=%u moved=%u registered=%u reg_failed=%u media_up=%u call_failed=%u "
	       "remote_bye=%u conn_lost=%u bye_done=%u mismatches=%" PRIu64
	       " srtp_auth_failures=%" PRIu64 " rtp_received=%" PRIu64 " pbx_rx=%" PRIu64
	       " pbx_unknown=%" PRIu64 " consent_answered=%" PRIu64 " consent_refused=%" PRIu64 "\n",
	       B.o.label, B.o.per_peer ? "per-peer" : "shared", largest_passing, LOAD(&B.c.moved),
	       LOAD(&B.c.registered), LOAD(&B.c.reg_failed), LOAD(&B.c.media_up),
	       LOAD(&B.c.call_failed), LOAD(&B.c.remote_bye), LOAD(&B.c.conn_lost),
	       LOAD(&B.c.bye_done), mismatches, auth_failures, received, echo.rx,
	       echo.unknown, consent, consent_refused);
	if (status == 0 && (LOAD(&B.c.call_failed) || LOAD(&B.c.reg_failed) || mismatches ||
	                    received == 0 || LOAD(&B.c.conn_lost) || n_results == 0))
		status = 1;
	for (unsigned i = 0; i < n_results; i++)
		meter_step_free(&results[i]);
	meter_free(&B.m);
	free(B.calls);
	free(B.shards);
	dtls_cert_free(B.cert);
	return status;
}
