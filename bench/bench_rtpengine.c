/* bench_rtpengine — the reference beside bench_media: the same media load,
 * measured the same way (media_meter.h), through rtpengine instead of
 * sipwire. rtpengine bridges, for every call, an SDES-SRTP end (RTP/SAVP,
 * AES_CM_128_HMAC_SHA1_80 keys in a=crypto) and a plain-RTP end, as sipwire
 * bridges a browser's SRTP leg and a PBX's RTP leg; this tool sets the calls
 * up over rtpengine's ng control protocol (rtpengine_ng.h) and plays both
 * ends.
 *
 * The SRTP end of every call is one shared UDP socket of this process,
 * driven by one thread: it sends each call's G.711 PCMU (160-byte payloads,
 * every 20 ms at a random phase, each packet 0 to --jitter ms late) with
 * sendmmsg on ticks of MEDIA_METER_SLOT_US, as bench_media paces its ends
 * (each call's phase a whole number of slots, so the calls are spread
 * within each millisecond; each packet's send time taken as its
 * place in the sendmmsg call: the clock before it and after it, shared out
 * in order), reads what comes back with recvmmsg,
 * tells the calls apart by the port rtpengine sent from, and checks every
 * payload byte for byte. The plain-RTP end is media_meter's echo: it stamps
 * each packet with the kernel's receive time and sends it back. So a call is
 * 100 packets a second through rtpengine, as a bridged call is through
 * sipwire, and the one-way latency caller -> relay -> far end is measured
 * from just before the caller's sendmmsg to the far end's kernel time stamp.
 *
 * The calls are ramped in steps (--steps 50,100,200): the new calls are set
 * up at --setup-rate, the media settles, then one window gives rtpengine's
 * CPU (per call, per relayed packet), the packets lost and late, the latency
 * percentiles, its memory per call over the idle figure and how busy both
 * cores were: the RESULT lines of bench_media. The ramp ends after the
 * first step that does not pass (a packet lost, or one-way p99 at --p99-ms
 * or more: meter_step_passes); the last line says the largest step that
 * passed. Exit
 * status 0 when every call was set up and deleted and every payload came
 * back as sent. */
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
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

#include "media_meter.h"
#include "rtpengine_ng.h"
#include "webrtc/rtp.h"
#include "webrtc/sdes.h"
#include "webrtc/sdp.h"
#include "webrtc/srtp.h"
#include "ws_client.h"

#define MAX_STEPS     16
#define BATCH         64
#define PCMU_LEN      160
#define RTP_HDR       12
#define PKT_CAP       (RTP_HDR + PCMU_LEN + SRTP_DTLS_TRAILER_MAX)
#define RX_BUF        1600
#define SLOT_US       MEDIA_METER_SLOT_US
#define PERIOD_SLOTS  (20000 / SLOT_US)
#define MS_SLOTS      (1000 / SLOT_US)
#define WHEEL_SLOTS   512 /* > 20 ms period + the largest jitter (20 ms), in slots */
#define SOCK_BUF      (8 << 20)
#define NG_TIMEOUT_MS 1000

#define LOAD(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define INC(p)      __atomic_add_fetch((p), 1, __ATOMIC_RELAXED)

struct options {
	const char *host;
	unsigned ng_port, srtp_port, pbx_rtp_port;
	unsigned steps[MAX_STEPS];
	unsigned n_steps;
	double window_s, settle_s, grace_s, setup_rate, p99_ms;
	unsigned jitter_ms;
	int server_pid, server_core;
	int callgrind_pid; /* rtpengine under callgrind: instrumented in the windows only */
	bool no_stop;
	const char *label;
};

enum call_state {
	CALL_IDLE,
	CALL_UP,     /* set up: the caller thread sends */
	CALL_FAILED, /* its offer or answer was refused */
	CALL_DELETED,
};

struct rcall {
	unsigned id;
	struct meter_call m;
	uint8_t tag[MEDIA_METER_TAG_LEN];
	char call_id[64], from_tag[24], to_tag[24];
	struct sdes_crypto local; /* what we send with */
	struct srtp_session *srtp;
	struct sockaddr_in relay; /* rtpengine's port toward this end */
	int state;                /* enum call_state; atomic */
	/* the caller thread's */
	uint32_t ssrc, ts, next_index;
	uint16_t seq;
	unsigned phase;  /* slots */
	uint64_t due;    /* of the next packet, slots since the thread started */
	struct rcall *wheel_next;
};

static struct {
	struct options o;
	struct meter m;
	unsigned packets;
	struct rcall *calls;
	unsigned n_calls;
	struct rcall *by_port[65536]; /* rtpengine's SRTP-side port -> call */
	int fd;                       /* the SRTP ends' shared socket */
	pthread_t caller;
	bool caller_started;
	unsigned n_ready; /* calls [0, n_ready) are decided: up or failed (release/acquire) */
	int stop, sending; /* atomics */
	/* the caller thread's counts, read at the end */
	uint64_t sent, send_errors, protect_errors, received, auth_failures, srtp_errors;
	uint64_t mismatches, unknown_source;
	/* the main thread's */
	unsigned set_up, setup_failed, deleted, delete_failed;
	unsigned n_failures;
	uint64_t callgrind_relayed; /* packets relayed while callgrind counted */
	bool callgrind_failed;
} B;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench_rtpengine: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- the SRTP ends: one socket, one thread ---- */

static int srtp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int size = SOCK_BUF;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)B.o.srtp_port)};
	inet_pton(AF_INET, B.o.host, &a.sin_addr);
	/* big buffers, so that a late wake-up of this thread drops nothing */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	if (bind(fd, (struct sockaddr *)&a, sizeof a)) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

struct out_batch {
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint8_t bufs[BATCH][PKT_CAP];
	struct rcall *who[BATCH];
	uint32_t index[BATCH];
	unsigned n;
};

static void flush(struct out_batch *b)
{
	if (!b->n)
		return;
	unsigned sent = 0;
	while (sent < b->n) {
		uint64_t t0 = wsc_now_ns();
		int k = sendmmsg(B.fd, b->msgs + sent, b->n - sent, 0);
		uint64_t t1 = wsc_now_ns();
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			/* never sent: never stamped, so not counted as sent */
			B.send_errors += b->n - sent;
			break;
		}
		/* The kernel sends the batch's packets one after the other (on
		 * loopback, delivering each to the relay's socket as it goes): a
		 * packet's one-way time counts from its share of the call, as a
		 * lone sendto's counts from just before it. */
		for (unsigned i = 0; i < (unsigned)k; i++) {
			uint64_t t = t0 + (t1 - t0) * i / (unsigned)k;
			STORE(&b->who[sent + i]->m.t_sent[b->index[sent + i]], meter_stamp_of(&B.m, t));
		}
		sent += (unsigned)k;
	}
	B.sent += sent;
	b->n = 0;
}

/* The call's next packet into the batch. */
static void queue_packet(struct out_batch *b, struct rcall *c)
{
	uint32_t index = c->next_index++;
	uint8_t *p = b->bufs[b->n];
	p[0] = 0x80;
	p[1] = (uint8_t)(index == 0 ? 0x80 : 0x00); /* PCMU, marker on the first */
	p[2] = (uint8_t)(c->seq >> 8);
	p[3] = (uint8_t)c->seq;
	p[4] = (uint8_t)(c->ts >> 24);
	p[5] = (uint8_t)(c->ts >> 16);
	p[6] = (uint8_t)(c->ts >> 8);
	p[7] = (uint8_t)c->ts;
	p[8] = (uint8_t)(c->ssrc >> 24);
	p[9] = (uint8_t)(c->ssrc >> 16);
	p[10] = (uint8_t)(c->ssrc >> 8);
	p[11] = (uint8_t)c->ssrc;
	c->seq++;
	c->ts += PCMU_LEN;
	meter_payload(p + RTP_HDR, PCMU_LEN, c->tag, index);
	int len = srtp_session_protect_rtp(c->srtp, p, RTP_HDR + PCMU_LEN, PKT_CAP);
	if (len < 0) {
		B.protect_errors++;
		return;
	}
	b->iov[b->n] = (struct iovec){.iov_base = p, .iov_len = (size_t)len};
	b->msgs[b->n].msg_hdr = (struct msghdr){
		.msg_name = &c->relay,
		.msg_namelen = sizeof c->relay,
		.msg_iov = &b->iov[b->n],
		.msg_iovlen = 1,
	};
	b->who[b->n] = c;
	b->index[b->n] = index;
	if (++b->n == BATCH)
		flush(b);
}

struct in_batch {
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in from[BATCH];
	uint8_t bufs[BATCH][RX_BUF];
};

/* Everything waiting on the socket: unprotected, checked, stamped. */
static void receive_all(struct in_batch *b)
{
	uint8_t expect[PCMU_LEN];
	for (unsigned rounds = 0; rounds < 16; rounds++) {
		for (unsigned i = 0; i < BATCH; i++) {
			b->iov[i] = (struct iovec){.iov_base = b->bufs[i], .iov_len = RX_BUF};
			b->msgs[i].msg_hdr = (struct msghdr){
				.msg_name = &b->from[i],
				.msg_namelen = sizeof b->from[i],
				.msg_iov = &b->iov[i],
				.msg_iovlen = 1,
			};
		}
		int n = recvmmsg(B.fd, b->msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		uint32_t now = meter_stamp(&B.m);
		for (int i = 0; i < n; i++) {
			struct rcall *c = B.by_port[ntohs(b->from[i].sin_port)];
			if (!c || b->from[i].sin_addr.s_addr != c->relay.sin_addr.s_addr) {
				B.unknown_source++;
				continue;
			}
			int len = srtp_session_unprotect_rtp(c->srtp, b->bufs[i], b->msgs[i].msg_len);
			if (len < 0) {
				if (len == -EBADMSG)
					B.auth_failures++;
				else
					B.srtp_errors++;
				continue;
			}
			INC(&B.received); /* the main thread reads it for callgrind's windows */
			struct rtp_view v;
			uint64_t tag;
			uint32_t index;
			if (rtp_parse(b->bufs[i], (size_t)len, &v) < 0 || v.payload_len != PCMU_LEN ||
			    !meter_payload_index(rtp_payload(&v), v.payload_len, &tag, &index) ||
			    tag != c->m.tag || index >= B.packets) {
				B.mismatches++;
				continue;
			}
			meter_payload(expect, PCMU_LEN, c->tag, index);
			if (memcmp(expect, rtp_payload(&v), PCMU_LEN)) {
				B.mismatches++;
				continue;
			}
			STORE(&c->m.t_back[index], now);
		}
		if (n < BATCH)
			return;
	}
}

static uint64_t now_slot(uint64_t t0)
{
	return (wsc_now_ns() - t0) / (SLOT_US * 1000u);
}

static void schedule(struct rcall **wheel, struct rcall *c)
{
	struct rcall **slot = &wheel[c->due % WHEEL_SLOTS];
	c->wheel_next = *slot;
	*slot = c;
}

/* The next packet's time: its place in the 20 ms grid, then 0..jitter ms. */
static void plan_next(struct rcall *c)
{
	uint64_t nominal = c->phase + PERIOD_SLOTS * (uint64_t)c->next_index;
	c->due = nominal + MS_SLOTS * (B.o.jitter_ms ? wsc_rand() % (B.o.jitter_ms + 1) : 0);
}

static void *caller_main(void *arg)
{
	(void)arg;
	wsc_rand_seed();
	struct out_batch *out = calloc(1, sizeof *out);
	struct in_batch *in = calloc(1, sizeof *in);
	struct rcall *wheel[WHEEL_SLOTS] = {0};
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!out || !in || ep < 0 || tfd < 0) {
		say("the caller thread could not start");
		STORE(&B.stop, 1);
		goto out;
	}
	/* a tick per slot, as bench_media paces its media ends */
	struct itimerspec its = {.it_interval = {0, SLOT_US * 1000}, .it_value = {0, SLOT_US * 1000}};
	timerfd_settime(tfd, 0, &its, NULL);
	struct epoll_event e1 = {.events = EPOLLIN, .data.fd = B.fd};
	struct epoll_event e2 = {.events = EPOLLIN, .data.fd = tfd};
	epoll_ctl(ep, EPOLL_CTL_ADD, B.fd, &e1);
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &e2);
	uint64_t t0 = wsc_now_ns();
	uint64_t done = 0; /* every slot up to here has been sent */
	unsigned admitted = 0;
	while (!LOAD(&B.stop)) {
		struct epoll_event ev[2];
		int n = epoll_wait(ep, ev, 2, 100);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == B.fd) {
				receive_all(in);
				continue;
			}
			uint64_t ticks;
			if (read(tfd, &ticks, sizeof ticks) < 0)
				continue;
			uint64_t t = now_slot(t0);
			/* calls set up since the last tick start at their phase */
			unsigned ready = __atomic_load_n(&B.n_ready, __ATOMIC_ACQUIRE);
			for (; admitted < ready; admitted++) {
				struct rcall *c = &B.calls[admitted];
				if (LOAD(&c->state) != CALL_UP)
					continue;
				c->phase = (unsigned)(t + 1 + wsc_rand() % PERIOD_SLOTS);
				plan_next(c);
				schedule(wheel, c);
			}
			bool sending = LOAD(&B.sending);
			/* a late tick sends what fell due meanwhile (never more than a
			 * turn of the wheel) */
			if (t > done + WHEEL_SLOTS - 1)
				done = t - (WHEEL_SLOTS - 1);
			for (; done <= t; done++) {
				struct rcall **slot = &wheel[done % WHEEL_SLOTS];
				struct rcall *list = *slot, *keep = NULL;
				*slot = NULL;
				while (list) {
					struct rcall *c = list;
					list = c->wheel_next;
					if (c->due > done) { /* a later turn of the wheel */
						c->wheel_next = keep;
						keep = c;
						continue;
					}
					if (!sending || c->next_index >= B.packets)
						continue; /* off the wheel for good */
					queue_packet(out, c);
					plan_next(c);
					if (c->due <= done)
						c->due = done + 1;
					if (c->due % WHEEL_SLOTS == done % WHEEL_SLOTS) {
						c->wheel_next = keep;
						keep = c;
					} else {
						schedule(wheel, c);
					}
				}
				while (keep) {
					struct rcall *c = keep;
					keep = c->wheel_next;
					schedule(wheel, c);
				}
			}
			flush(out);
		}
	}
out:
	if (tfd >= 0)
		close(tfd);
	if (ep >= 0)
		close(ep);
	free(out);
	free(in);
	return NULL;
}

/* ---- setting calls up over ng ---- */

static int sdp_port_of(const char *text, size_t len, struct sockaddr_in *addr,
                       struct sdes_crypto *crypto)
{
	struct sdp_session *s = NULL;
	int rc = sdp_parse(text, len, &s, NULL);
	if (rc < 0)
		return rc;
	rc = -EINVAL;
	if (s->n_media < 1)
		goto out;
	const struct sdp_media *m = &s->media[0];
	const struct sdp_connection *conn = sdp_media_connection(s, m);
	*addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(m->port)};
	if (!m->port || !conn || inet_pton(AF_INET, conn->address, &addr->sin_addr) != 1)
		goto out;
	if (crypto) {
		unsigned from = 0;
		const struct sdp_attr *a;
		rc = -ENOENT;
		while ((a = sdp_attr_next(m->attrs, m->n_attrs, SDP_ATTR_OTHER, "crypto", &from))) {
			if (a->value && sdes_parse(a->value, strlen(a->value), crypto) == 0 &&
			    !crypto->unsupported &&
			    crypto->suite == SDES_AES_CM_128_HMAC_SHA1_80) {
				rc = 0;
				goto out;
			}
		}
		goto out;
	}
	rc = 0;
out:
	sdp_free(s);
	return rc;
}

static void call_failed(struct rcall *c, const char *what, int rc, const char *reason)
{
	STORE(&c->state, CALL_FAILED);
	B.setup_failed++;
	if (B.n_failures++ < 8)
		say("call %u: %s: %s%s%s", c->id, what, strerror(-rc), reason && *reason ? ": " : "",
		    reason ? reason : "");
}

static void call_setup(struct ng_client *ng, struct ng_reply *r, struct rcall *c)
{
	char key[SDES_FORMAT_MAX], sdp[1024];
	if (sdes_format(&c->local, key, sizeof key) < 0) {
		call_failed(c, "its key", -EINVAL, NULL);
		return;
	}
	snprintf(sdp, sizeof sdp,
	         "v=0\r\no=- %u 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
	         "m=audio %u RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"
	         "a=sendrecv\r\na=crypto:%s\r\n",
	         c->id + 1, B.o.host, B.o.host, B.o.srtp_port, key);
	struct ng_sdp_request q = {
		.call_id = c->call_id,
		.from_tag = c->from_tag,
		.sdp = sdp,
		.transport = "RTP/AVP",
		.ice_remove = true,
		.dtls_off = true,
	};
	struct ng_sdp rewritten;
	int rc = ng_offer(ng, &q, r, &rewritten);
	if (rc < 0) {
		call_failed(c, "offer", rc, r->reason);
		return;
	}
	struct sockaddr_in toward_pbx;
	if ((rc = sdp_port_of(rewritten.p, rewritten.len, &toward_pbx, NULL)) < 0) {
		call_failed(c, "the offer rtpengine made", rc, NULL);
		return;
	}
	/* the far end answers with the echo's address */
	snprintf(sdp, sizeof sdp,
	         "v=0\r\no=- %u 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
	         "m=audio %u RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n",
	         c->id + 1, B.o.host, B.o.host, B.o.pbx_rtp_port);
	q = (struct ng_sdp_request){
		.call_id = c->call_id,
		.from_tag = c->from_tag,
		.to_tag = c->to_tag,
		.sdp = sdp,
		.ice_remove = true,
	};
	if ((rc = ng_answer(ng, &q, r, &rewritten)) < 0) {
		call_failed(c, "answer", rc, r->reason);
		return;
	}
	struct sdes_crypto remote;
	if ((rc = sdp_port_of(rewritten.p, rewritten.len, &c->relay, &remote)) < 0) {
		call_failed(c, "the answer rtpengine made (no AES_CM_128_HMAC_SHA1_80 a=crypto?)",
		            rc, NULL);
		return;
	}
	struct srtp_keys keys = {.profile = sdes_suite_profile(c->local.suite)};
	memcpy(keys.local_key, c->local.key, SDES_KEY_LEN);
	memcpy(keys.local_salt, c->local.salt, sdes_salt_len(c->local.suite));
	memcpy(keys.remote_key, remote.key, SDES_KEY_LEN);
	memcpy(keys.remote_salt, remote.salt, sdes_salt_len(remote.suite));
	sdes_crypto_clear(&remote);
	rc = srtp_session_new(&keys, &c->srtp);
	memset(&keys, 0, sizeof keys);
	if (rc < 0) {
		call_failed(c, "its SRTP session", rc, NULL);
		return;
	}
	uint16_t port = ntohs(c->relay.sin_port);
	if (B.by_port[port]) {
		call_failed(c, "rtpengine's port", -EADDRINUSE, "given to two calls");
		return;
	}
	B.by_port[port] = c;
	STORE(&c->state, CALL_UP);
	B.set_up++;
}

/* Calls [from, to) at the setup rate; returns how many of them are up. */
static unsigned ramp_to(struct ng_client *ng, struct ng_reply *r, unsigned from, unsigned to)
{
	uint64_t start = wsc_now_ns();
	double gap = B.o.setup_rate > 0 ? 1.0 / B.o.setup_rate : 0;
	unsigned up = 0;
	for (unsigned i = from; i < to; i++) {
		uint64_t due = start + wsc_sec_to_ns(gap * (i - from));
		uint64_t now = wsc_now_ns();
		if (due > now)
			meter_sleep((double)(due - now) / 1e9);
		call_setup(ng, r, &B.calls[i]);
		up += LOAD(&B.calls[i].state) == CALL_UP;
		__atomic_store_n(&B.n_ready, i + 1, __ATOMIC_RELEASE);
	}
	return up;
}

static unsigned count_up(unsigned n)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++)
		k += LOAD(&B.calls[i].state) == CALL_UP;
	return k;
}

static void delete_all(struct ng_client *ng, struct ng_reply *r)
{
	uint64_t start = wsc_now_ns();
	unsigned k = 0;
	for (unsigned i = 0; i < B.n_calls; i++) {
		struct rcall *c = &B.calls[i];
		if (LOAD(&c->state) != CALL_UP)
			continue;
		uint64_t due = start + wsc_sec_to_ns(k++ / 500.0);
		uint64_t now = wsc_now_ns();
		if (due > now)
			meter_sleep((double)(due - now) / 1e9);
		int rc = ng_delete(ng, c->call_id, c->from_tag, r);
		if (rc < 0) {
			B.delete_failed++;
			if (B.n_failures++ < 8)
				say("call %u: delete: %s: %s", c->id, strerror(-rc), r->reason);
			continue;
		}
		STORE(&c->state, CALL_DELETED);
		B.deleted++;
	}
}

/* ---- callgrind's instrumentation, switched on for the windows ---- */

static void callgrind_switch(bool on)
{
	char cmd[96];
	snprintf(cmd, sizeof cmd, "callgrind_control -i %s %d >/dev/null 2>&1", on ? "on" : "off",
	         B.o.callgrind_pid);
	if (system(cmd) != 0) {
		B.callgrind_failed = true;
		say("could not switch callgrind's instrumentation %s (%s)", on ? "on" : "off", cmd);
	}
}

/* What rtpengine relayed so far: to the far end, and back to the callers. */
static uint64_t relayed_so_far(void)
{
	struct meter_echo_counts e;
	meter_echo_counts(&B.m, &e);
	return e.rx + LOAD(&B.received);
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fputs("usage: bench_rtpengine --ng-port N --srtp-port N --pbx-rtp-port N [options]\n"
	      "\n"
	      "Sets calls up in rtpengine over its ng control protocol, each bridging an\n"
	      "SDES-SRTP end (this tool, one shared socket) and a plain-RTP end (this\n"
	      "tool's RTP echo), sends G.711 every 20 ms each way, in steps of concurrent\n"
	      "calls; measures rtpengine at each step as bench_media measures sipwire.\n"
	      "\n"
	      "  --host ADDR            rtpengine's and this tool's address (127.0.0.1)\n"
	      "  --ng-port N            rtpengine's ng listener\n"
	      "  --srtp-port N          the SRTP ends' shared socket\n"
	      "  --pbx-rtp-port N       the plain-RTP ends: an RTP echo on N (and N+1)\n"
	      "  --steps A,B,C          concurrent calls at each step (50,100,200)\n"
	      "  --window S             measurement window per step (10)\n"
	      "  --settle S             wait after the step's calls are up (3)\n"
	      "  --grace S              wait for the window's last packets (0.5)\n"
	      "  --setup-rate R         new calls per second (100)\n"
	      "  --jitter MS            each packet leaves 0..MS ms after its slot (5)\n"
	      "  --p99-ms MS            a step passes with no loss and a one-way p99 under\n"
	      "                         this (1)\n"
	      "  --server-pid PID       rtpengine, for its CPU and memory\n"
	      "  --server-core C        the core it is pinned to (-1)\n"
	      "  --callgrind-pid PID    rtpengine runs under callgrind with instrumentation\n"
	      "                         off: switched on for each window (callgrind_control)\n"
	      "                         and the packets relayed meanwhile counted\n"
	      "  --no-stop              go on after a step that did not pass\n"
	      "  --label L              names the RESULT lines (rtpengine)\n",
	      f);
}

static int parse_steps(const char *s, struct options *o)
{
	return meter_parse_steps(s, 16000, o->steps, MAX_STEPS, &o->n_steps);
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		O_HOST = 256, O_NG, O_SRTP, O_PBX, O_STEPS, O_WINDOW, O_SETTLE, O_GRACE, O_RATE,
		O_JITTER, O_P99, O_PID, O_CORE, O_CALLGRIND, O_NO_STOP, O_LABEL, O_HELP,
	};
	static const struct option longopts[] = {
		{"host", required_argument, NULL, O_HOST},
		{"ng-port", required_argument, NULL, O_NG},
		{"srtp-port", required_argument, NULL, O_SRTP},
		{"pbx-rtp-port", required_argument, NULL, O_PBX},
		{"steps", required_argument, NULL, O_STEPS},
		{"window", required_argument, NULL, O_WINDOW},
		{"settle", required_argument, NULL, O_SETTLE},
		{"grace", required_argument, NULL, O_GRACE},
		{"setup-rate", required_argument, NULL, O_RATE},
		{"jitter", required_argument, NULL, O_JITTER},
		{"p99-ms", required_argument, NULL, O_P99},
		{"server-pid", required_argument, NULL, O_PID},
		{"server-core", required_argument, NULL, O_CORE},
		{"callgrind-pid", required_argument, NULL, O_CALLGRIND},
		{"no-stop", no_argument, NULL, O_NO_STOP},
		{"label", required_argument, NULL, O_LABEL},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	*o = (struct options){
		.host = "127.0.0.1",
		.window_s = 10,
		.settle_s = 3,
		.grace_s = 0.5,
		.setup_rate = 100,
		.p99_ms = 1,
		.jitter_ms = 5,
		.server_core = -1,
		.label = "rtpengine",
	};
	parse_steps("50,100,200", o);
	int c;
	unsigned long long v;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case O_HOST: o->host = optarg; break;
		case O_NG:
		case O_SRTP:
		case O_PBX:
			bad = wsc_parse_uint(optarg, c == O_PBX ? 65534 : 65535, &v) || !v;
			*(c == O_NG ? &o->ng_port : c == O_SRTP ? &o->srtp_port : &o->pbx_rtp_port) =
				(unsigned)v;
			break;
		case O_STEPS: bad = parse_steps(optarg, o) < 0; break;
		case O_WINDOW: bad = wsc_parse_double(optarg, &o->window_s) || o->window_s <= 0; break;
		case O_SETTLE: bad = wsc_parse_double(optarg, &o->settle_s); break;
		case O_GRACE: bad = wsc_parse_double(optarg, &o->grace_s); break;
		case O_RATE: bad = wsc_parse_double(optarg, &o->setup_rate); break;
		case O_JITTER:
			bad = wsc_parse_uint(optarg, 20, &v);
			o->jitter_ms = (unsigned)v;
			break;
		case O_P99: bad = wsc_parse_double(optarg, &o->p99_ms) || o->p99_ms <= 0; break;
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
		case O_CALLGRIND:
			bad = wsc_parse_uint(optarg, 1u << 30, &v) || !v;
			o->callgrind_pid = (int)v;
			break;
		case O_NO_STOP: o->no_stop = true; break;
		case O_LABEL: o->label = optarg; break;
		case O_HELP: usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
		if (bad) {
			fprintf(stderr, "bench_rtpengine: bad value for --%s: %s\n",
			        longopts[c - O_HOST].name, optarg);
			return -EINVAL;
		}
	}
	if (optind < argc || !o->ng_port || !o->srtp_port || !o->pbx_rtp_port) {
		fprintf(stderr, "bench_rtpengine: --ng-port, --srtp-port and --pbx-rtp-port are "
		                "needed (--help for usage)\n");
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

static int calls_init(void)
{
	B.calls = calloc(B.n_calls, sizeof *B.calls);
	if (!B.calls)
		return -ENOMEM;
	uint32_t run = (uint32_t)wsc_rand();
	for (unsigned i = 0; i < B.n_calls; i++) {
		struct rcall *c = &B.calls[i];
		c->id = i;
		B.m.calls[i] = &c->m;
		uint64_t t = wsc_rand();
		memcpy(c->tag, &t, sizeof c->tag);
		c->m.tag = meter_tag_key(c->tag);
		snprintf(c->call_id, sizeof c->call_id, "bench-rtpengine-%08x-%u", run, i);
		snprintf(c->from_tag, sizeof c->from_tag, "caller%u", i);
		snprintf(c->to_tag, sizeof c->to_tag, "pbx%u", i);
		c->ssrc = (uint32_t)wsc_rand();
		c->seq = (uint16_t)wsc_rand();
		c->ts = (uint32_t)wsc_rand();
		int rc = sdes_generate(SDES_AES_CM_128_HMAC_SHA1_80, 1, &c->local);
		if (rc < 0 || (rc = meter_call_alloc(&B.m, &c->m)) < 0)
			return rc;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (parse_options(argc, argv, &B.o) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	wsc_rand_seed();
	B.n_calls = B.o.steps[B.o.n_steps - 1];
	B.packets = plan_packets(&B.o);
	B.fd = -1;
	struct meter_options mo = {
		.host = B.o.host,
		.echo_port = B.o.pbx_rtp_port,
		.server_pid = B.o.server_pid,
		.server_core = B.o.server_core,
		.workers = "poller", /* rtpengine's media threads */
		.server = "rtpengine",
		.window_s = B.o.window_s,
		.grace_s = B.o.grace_s,
	};
	int status = 1, rc;
	struct ng_client *ng = NULL;
	struct ng_reply *reply = calloc(1, sizeof *reply);
	struct meter_step results[MAX_STEPS];
	unsigned n_results = 0, largest_passing = 0;
	bool failed_before = false;
	if (!reply || meter_init(&B.m, &mo, B.n_calls, B.packets) < 0) {
		say("out of memory");
		return 1;
	}
	if ((rc = calls_init()) < 0) {
		say("could not make the calls: %s", strerror(-rc));
		goto out;
	}
	if ((rc = ng_client_new(B.o.host, B.o.ng_port, NG_TIMEOUT_MS, &ng)) < 0) {
		say("ng client: %s", strerror(-rc));
		goto out;
	}
	/* rtpengine may still be starting */
	uint64_t deadline = wsc_now_ns() + wsc_sec_to_ns(10);
	while ((rc = ng_ping(ng, reply)) < 0 && wsc_now_ns() < deadline)
		meter_sleep(0.2);
	if (rc < 0) {
		say("rtpengine does not answer a ping on %s:%u: %s %s", B.o.host, B.o.ng_port,
		    strerror(-rc), reply->reason);
		goto out;
	}
	if ((B.fd = srtp_socket()) < 0) {
		say("the SRTP ends' socket on port %u: %s", B.o.srtp_port, strerror(-B.fd));
		goto out;
	}
	if ((rc = meter_echo_start(&B.m)) < 0) {
		say("the RTP echo on port %u: %s", B.o.pbx_rtp_port, strerror(-rc));
		goto out;
	}
	STORE(&B.sending, 1);
	if ((rc = pthread_create(&B.caller, NULL, caller_main, NULL)) != 0) {
		say("the caller thread: %s", strerror(rc));
		goto out;
	}
	pthread_setname_np(B.caller, "srtp-ends");
	B.caller_started = true;
	say("%u calls at most, %u packets per call planned", B.n_calls, B.packets);

	struct wsc_proc_usage idle = {0};
	if (B.o.server_pid > 0)
		wsc_proc_usage_read(B.o.server_pid, true, &idle);
	printf("idle rtpengine: RSS %" PRIu64 " KiB, PSS %" PRIu64 " KiB\n", idle.rss_kib,
	       idle.pss_kib);
	printf("RESULT label=%s idle=1 connections=0 rss_kib=%" PRIu64 " pss_kib=%" PRIu64 "\n",
	       B.o.label, idle.rss_kib, idle.pss_kib);

	unsigned prev = 0;
	for (unsigned s = 0; s < B.o.n_steps && !LOAD(&B.stop); s++) {
		unsigned n = B.o.steps[s];
		say("step %u: %u calls (%u new)", s + 1, n, n - prev);
		ramp_to(ng, reply, prev, n);
		prev = n;
		if (count_up(n) == 0) {
			say("no call is up at this step");
			break;
		}
		meter_sleep(B.o.settle_s);
		struct meter_step *r = &results[n_results++];
		uint64_t relayed0 = 0;
		if (B.o.callgrind_pid) {
			callgrind_switch(true);
			relayed0 = relayed_so_far();
		}
		meter_window(&B.m, n, r);
		if (B.o.callgrind_pid) {
			B.callgrind_relayed += relayed_so_far() - relayed0;
			callgrind_switch(false);
		}
		r->up = count_up(n);
		r->failed = B.setup_failed;
		meter_evaluate(&B.m, r);
		meter_print_step(&B.m, B.o.label, r);
		if (meter_step_passes(&B.m, r, B.o.p99_ms) && !failed_before) {
			largest_passing = n;
			continue;
		}
		failed_before = true;
		if (!B.o.no_stop) {
			say("%u calls did not pass (loss, or one-way p99 at %.3g ms or more): no "
			    "further step", n, B.o.p99_ms);
			break;
		}
	}
	for (unsigned i = 0; i < n_results; i++)
		meter_print_memory(B.o.label, &results[i], &idle);
	STORE(&B.sending, 0);
	meter_sleep(0.2); /* the last packets come back */
	delete_all(ng, reply);
	status = 0;
out:;
	if (B.caller_started) {
		STORE(&B.stop, 1);
		pthread_join(B.caller, NULL);
	}
	struct meter_echo_counts echo;
	meter_echo_counts(&B.m, &echo);
	meter_echo_stop(&B.m);
	printf("rtpengine: largest step with no loss and one-way p99 under %.3g ms: %u calls\n",
	       B.o.p99_ms, largest_passing);
	if (B.o.callgrind_pid)
		printf("RESULT label=%s callgrind=1 relayed=%" PRIu64 " switched=%d\n", B.o.label,
		       B.callgrind_relayed, B.callgrind_failed ? 0 : 1);
	printf("RESULT label=%s summary=1 gateway=rtpengine set_up=%u setup_failed=%u deleted=%u "
	       "delete_failed=%u largest_passing=%u sent=%" PRIu64 " send_errors=%" PRIu64
	       " rtp_received=%" PRIu64 " mismatches=%" PRIu64 " srtp_auth_failures=%" PRIu64
	       " srtp_errors=%" PRIu64 " protect_errors=%" PRIu64 " unknown_source=%" PRIu64
	       " pbx_rx=%" PRIu64 " pbx_unknown=%" PRIu64 "\n",
	       B.o.label, B.set_up, B.setup_failed, B.deleted, B.delete_failed, largest_passing,
	       B.sent, B.send_errors, B.received, B.mismatches, B.auth_failures, B.srtp_errors,
	       B.protect_errors, B.unknown_source, echo.rx, echo.unknown);
	if (status == 0 && (B.setup_failed || B.delete_failed || B.mismatches || B.auth_failures ||
	                    B.protect_errors || B.received == 0 || n_results == 0 ||
	                    B.callgrind_failed))
		status = 1;
	for (unsigned i = 0; i < n_results; i++)
		meter_step_free(&results[i]);
	for (unsigned i = 0; B.calls && i < B.n_calls; i++) {
		srtp_session_free(B.calls[i].srtp);
		sdes_crypto_clear(&B.calls[i].local);
	}
	meter_free(&B.m);
	free(B.calls);
	if (B.fd >= 0)
		close(B.fd);
	ng_client_free(ng);
	free(reply);
	return status;
}
