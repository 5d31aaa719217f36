/* media_meter — see media_meter.h. */
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include "media_meter.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "webrtc/rtp.h"

#define ECHO_BATCH  64
#define ECHO_BUF    1600
#define ECHO_RCVBUF (8 << 20)

#define LOAD(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define INC(p)      __atomic_add_fetch((p), 1, __ATOMIC_RELAXED)
#define ADD(p, v)   __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)

struct meter_echo {
	struct meter *m;
	int fd_rtp, fd_rtcp, ep;
	pthread_t thread;
	bool started;
	int stop; /* atomic */
	/* tag -> call, open addressing, filled before the thread starts */
	struct meter_call **table;
	size_t table_mask;
	struct meter_echo_counts n; /* atomics */
};

/* ---- stamps and payloads ---- */

uint32_t meter_stamp_of(const struct meter *m, uint64_t mono_ns)
{
	return mono_ns > m->t0_ns ? (uint32_t)((mono_ns - m->t0_ns) / 1000u + 1u) : 1u;
}

uint32_t meter_stamp(const struct meter *m)
{
	return meter_stamp_of(m, wsc_now_ns());
}

uint64_t meter_tag_key(const uint8_t *p)
{
	uint64_t k;
	memcpy(&k, p, sizeof k);
	return k;
}

void meter_payload(uint8_t *p, size_t len, const uint8_t tag[MEDIA_METER_TAG_LEN],
                   uint32_t index)
{
	memcpy(p, tag, MEDIA_METER_TAG_LEN);
	p[8] = (uint8_t)(index >> 24);
	p[9] = (uint8_t)(index >> 16);
	p[10] = (uint8_t)(index >> 8);
	p[11] = (uint8_t)index;
	for (size_t k = 12; k < len; k++)
		p[k] = (uint8_t)(tag[k % MEDIA_METER_TAG_LEN] ^ (index * 31u + k * 7u));
}

bool meter_payload_index(const uint8_t *p, size_t len, uint64_t *tag, uint32_t *index)
{
	if (len < MEDIA_METER_TAG_LEN + 4)
		return false;
	*tag = meter_tag_key(p);
	*index = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
	return true;
}

int meter_init(struct meter *m, const struct meter_options *o, unsigned n_calls,
               unsigned packets)
{
	memset(m, 0, sizeof *m);
	m->o = *o;
	if (!m->o.workers)
		m->o.workers = "media";
	if (!m->o.server)
		m->o.server = "daemon";
	m->t0_ns = wsc_now_ns();
	m->packets = packets;
	m->n_calls = n_calls;
	m->calls = calloc(n_calls ? n_calls : 1, sizeof *m->calls);
	return m->calls ? 0 : -ENOMEM;
}

int meter_call_alloc(struct meter *m, struct meter_call *c)
{
	c->t_sent = calloc(m->packets, sizeof *c->t_sent);
	c->t_rx = calloc(m->packets, sizeof *c->t_rx);
	c->t_tx = calloc(m->packets, sizeof *c->t_tx);
	c->t_back = calloc(m->packets, sizeof *c->t_back);
	return c->t_sent && c->t_rx && c->t_tx && c->t_back ? 0 : -ENOMEM;
}

void meter_free(struct meter *m)
{
	meter_echo_stop(m);
	for (unsigned i = 0; i < m->n_calls && m->calls; i++) {
		struct meter_call *c = m->calls[i];
		if (!c)
			continue;
		free(c->t_sent);
		free(c->t_rx);
		free(c->t_tx);
		free(c->t_back);
		c->t_sent = c->t_rx = c->t_tx = c->t_back = NULL;
	}
	free(m->calls);
	m->calls = NULL;
}

/* ---- the relay's figures from /proc ---- */

struct relay_cpu {
	uint64_t all_ns, media_ns; /* on-CPU time of every thread, of the media workers */
	unsigned threads;
};

/* Sums /proc/PID/task/ * /schedstat (ns on CPU); the media workers are the
 * threads whose name starts with workers (sipwire's media0, media1...). */
static int relay_cpu_read(int pid, const char *workers, struct relay_cpu *out)
{
	memset(out, 0, sizeof *out);
	char path[96];
	snprintf(path, sizeof path, "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	size_t wlen = strlen(workers);
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
		if (!strncmp(comm, workers, wlen))
			out->media_ns += run;
	}
	closedir(d);
	return 0;
}

uint64_t meter_udp_rcvbuf_errors(void)
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

/* ---- the far end: an RTP echo with kernel receive times ---- */

static size_t table_slot(uint64_t k, size_t mask)
{
	return (size_t)(k * 0x9e3779b97f4a7c15ull >> 17) & mask;
}

static struct meter_call *echo_lookup(struct meter_echo *e, uint64_t k)
{
	for (size_t i = table_slot(k, e->table_mask);; i = (i + 1) & e->table_mask) {
		struct meter_call *c = e->table[i];
		if (!c || c->tag == k)
			return c;
	}
}

static int echo_socket(const char *host, unsigned port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1, size = ECHO_RCVBUF;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, host, &a.sin_addr);
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

struct echo_batch {
	struct mmsghdr msgs[ECHO_BATCH];
	struct iovec iov[ECHO_BATCH];
	struct sockaddr_in from[ECHO_BATCH];
	uint8_t bufs[ECHO_BATCH][ECHO_BUF];
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(uint32_t))];
		struct cmsghdr align;
	} ctl[ECHO_BATCH];
	struct meter_call *who[ECHO_BATCH];
	uint32_t index[ECHO_BATCH];
};

static void echo_prepare(struct echo_batch *b)
{
	for (unsigned i = 0; i < ECHO_BATCH; i++) {
		b->iov[i] = (struct iovec){.iov_base = b->bufs[i], .iov_len = ECHO_BUF};
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
	struct timespec r, mo;
	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &mo);
	return ((int64_t)r.tv_sec - mo.tv_sec) * 1000000000 + (r.tv_nsec - mo.tv_nsec);
}

/* Everything waiting on the RTP socket: stamped, sent back. */
static void echo_rtp(struct meter_echo *e, struct echo_batch *b)
{
	struct meter *m = e->m;
	for (unsigned rounds = 0; rounds < 16; rounds++) {
		echo_prepare(b);
		int n = recvmmsg(e->fd_rtp, b->msgs, ECHO_BATCH, MSG_DONTWAIT, NULL);
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
			uint64_t tag;
			uint32_t index;
			if (rtp_parse(b->bufs[i], b->msgs[i].msg_len, &v) == 0 &&
			    meter_payload_index(rtp_payload(&v), v.payload_len, &tag, &index)) {
				struct meter_call *c = echo_lookup(e, tag);
				if (c && index < m->packets) {
					STORE(&c->t_rx[index], meter_stamp_of(m, t));
					b->who[i] = c;
					b->index[i] = index;
				}
			}
			if (!b->who[i])
				INC(&e->n.unknown);
			/* back where it came from, as it came */
			b->iov[i].iov_len = b->msgs[i].msg_len;
			h->msg_control = NULL;
			h->msg_controllen = 0;
		}
		if (ovfl)
			STORE(&e->n.drops, (uint64_t)ovfl);
		ADD(&e->n.rx, (uint64_t)n);
		int sent = 0;
		while (sent < n) {
			uint64_t t0 = wsc_now_ns();
			int k = sendmmsg(e->fd_rtp, b->msgs + sent, (unsigned)(n - sent), 0);
			uint64_t t1 = wsc_now_ns();
			if (k <= 0) {
				if (k < 0 && errno == EINTR)
					continue;
				break; /* lost here: the run counts it as lost on the way back */
			}
			/* each packet leaves at its place in the call (the clock before
			 * and after it shared out in order), not all at the first */
			for (int i = 0; i < k; i++) {
				struct meter_call *c = b->who[sent + i];
				if (c)
					STORE(&c->t_tx[b->index[sent + i]],
					      meter_stamp_of(m, t0 + (t1 - t0) * (uint64_t)i / (uint64_t)k));
			}
			sent += k;
		}
		ADD(&e->n.tx, (uint64_t)sent);
		if (n < ECHO_BATCH)
			return;
	}
}

static void echo_drain_rtcp(struct meter_echo *e, struct echo_batch *b)
{
	for (;;) {
		echo_prepare(b);
		int n = recvmmsg(e->fd_rtcp, b->msgs, ECHO_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		ADD(&e->n.rtcp_rx, (uint64_t)n);
	}
}

static void *echo_main(void *arg)
{
	struct meter_echo *e = arg;
	struct echo_batch *b = malloc(sizeof *b);
	if (!b)
		return NULL;
	while (!LOAD(&e->stop)) {
		struct epoll_event ev[2];
		int n = epoll_wait(e->ep, ev, 2, 100);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == e->fd_rtp)
				echo_rtp(e, b);
			else
				echo_drain_rtcp(e, b);
		}
	}
	free(b);
	return NULL;
}

int meter_echo_start(struct meter *m)
{
	struct meter_echo *e = calloc(1, sizeof *e);
	if (!e)
		return -ENOMEM;
	m->echo = e;
	e->m = m;
	e->fd_rtp = e->fd_rtcp = e->ep = -1;
	size_t size = 64;
	while (size < 4 * (size_t)m->n_calls)
		size *= 2;
	e->table = calloc(size, sizeof *e->table);
	if (!e->table)
		return -ENOMEM;
	e->table_mask = size - 1;
	for (unsigned i = 0; i < m->n_calls; i++) {
		struct meter_call *c = m->calls[i];
		size_t k = table_slot(c->tag, e->table_mask);
		while (e->table[k])
			k = (k + 1) & e->table_mask;
		e->table[k] = c;
	}
	e->fd_rtp = echo_socket(m->o.host, m->o.echo_port);
	if (e->fd_rtp < 0)
		return e->fd_rtp;
	e->fd_rtcp = echo_socket(m->o.host, m->o.echo_port + 1);
	if (e->fd_rtcp < 0)
		return e->fd_rtcp;
	e->ep = epoll_create1(EPOLL_CLOEXEC);
	if (e->ep < 0)
		return -errno;
	struct epoll_event e1 = {.events = EPOLLIN, .data.fd = e->fd_rtp};
	struct epoll_event e2 = {.events = EPOLLIN, .data.fd = e->fd_rtcp};
	if (epoll_ctl(e->ep, EPOLL_CTL_ADD, e->fd_rtp, &e1) ||
	    epoll_ctl(e->ep, EPOLL_CTL_ADD, e->fd_rtcp, &e2))
		return -errno;
	int rc = pthread_create(&e->thread, NULL, echo_main, e);
	if (rc)
		return -rc;
	pthread_setname_np(e->thread, "pbx-echo");
	e->started = true;
	return 0;
}

void meter_echo_stop(struct meter *m)
{
	struct meter_echo *e = m->echo;
	if (!e)
		return;
	if (e->started) {
		STORE(&e->stop, 1);
		pthread_join(e->thread, NULL);
	}
	if (e->ep >= 0)
		close(e->ep);
	if (e->fd_rtp >= 0)
		close(e->fd_rtp);
	if (e->fd_rtcp >= 0)
		close(e->fd_rtcp);
	free(e->table);
	free(e);
	m->echo = NULL;
}

void meter_echo_counts(const struct meter *m, struct meter_echo_counts *out)
{
	memset(out, 0, sizeof *out);
	const struct meter_echo *e = m->echo;
	if (!e)
		return;
	out->rx = LOAD(&e->n.rx);
	out->tx = LOAD(&e->n.tx);
	out->unknown = LOAD(&e->n.unknown);
	out->rtcp_rx = LOAD(&e->n.rtcp_rx);
	out->drops = LOAD(&e->n.drops);
}

/* ---- one step ---- */

void meter_sleep(double s)
{
	if (s <= 0)
		return;
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void meter_window(struct meter *m, unsigned n, struct meter_step *r)
{
	memset(r, 0, sizeof *r);
	r->n = n;
	struct relay_cpu d0 = {0}, d1 = {0};
	struct wsc_core_watch sw = {.core = m->o.server_core}, lw = {.core = wsc_own_core()};
	uint64_t rcv0 = meter_udp_rcvbuf_errors();
	struct meter_echo_counts e0, e1;
	meter_echo_counts(m, &e0);
	double self0 = wsc_self_cpu_us();
	uint64_t t0 = wsc_now_ns();
	if (m->o.server_pid > 0)
		relay_cpu_read(m->o.server_pid, m->o.workers, &d0);
	wsc_core_watch_start(&sw);
	wsc_core_watch_start(&lw);
	meter_sleep(m->o.window_s);
	if (m->o.server_pid > 0)
		relay_cpu_read(m->o.server_pid, m->o.workers, &d1);
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
	r->w0 = meter_stamp_of(m, t0);
	r->w1 = meter_stamp_of(m, t1);
	/* the last packets of the window need a moment to come back */
	meter_sleep(m->o.grace_s);
	r->rcvbuf_errors = meter_udp_rcvbuf_errors() - rcv0;
	meter_echo_counts(m, &e1);
	r->pbx_drops = e1.drops - e0.drops;
	if (m->o.server_pid > 0) {
		struct wsc_proc_usage u;
		if (wsc_proc_usage_read(m->o.server_pid, true, &u) == 0) {
			r->rss_kib = u.rss_kib;
			r->pss_kib = u.pss_kib;
		}
	}
}

static void lat_add(struct meter_lat *l, uint32_t from, uint32_t to, uint32_t late_us)
{
	uint32_t d = to > from ? to - from : 0;
	wsc_latency_add(&l->l, (uint64_t)d * 1000u);
	if (d > late_us)
		l->late++;
}

void meter_evaluate(struct meter *m, struct meter_step *r)
{
	bool pbx = m->o.echo_port != 0;
	for (unsigned k = 0; k < m->n_calls && k < r->n; k++) {
		struct meter_call *c = m->calls[k];
		unsigned i = c->eval_next;
		for (; i < m->packets; i++) {
			uint32_t s = LOAD(&c->t_sent[i]);
			if (!s || s >= r->w1)
				break;
			if (s < r->w0)
				continue;
			r->sent++;
			uint32_t rx = LOAD(&c->t_rx[i]), tx = LOAD(&c->t_tx[i]);
			uint32_t back = LOAD(&c->t_back[i]);
			if (pbx) {
				if (rx) {
					r->up_arrived++;
					lat_add(&r->up_lat, s, rx, MEDIA_METER_LATE_ONE_US);
				} else {
					r->up_lost++;
				}
				if (back && tx)
					lat_add(&r->down_lat, tx, back, MEDIA_METER_LATE_ONE_US);
				else if (rx)
					r->down_lost++;
			} else if (!back) {
				r->up_lost++;
			}
			if (back) {
				r->back++;
				lat_add(&r->rtt, s, back, MEDIA_METER_LATE_RTT_US);
			}
		}
		if (i >= m->packets)
			r->ran_out = true;
		c->eval_next = i;
	}
	r->relayed = pbx ? r->up_arrived + r->back : r->back;
}

static double pct_ms(struct meter_lat *l, double q)
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

void meter_print_step(const struct meter *m, const char *label, struct meter_step *r)
{
	bool pbx = m->o.echo_port != 0;
	const char *who = m->o.server;
	wsc_latency_sort(&r->up_lat.l);
	wsc_latency_sort(&r->down_lat.l);
	wsc_latency_sort(&r->rtt.l);
	double cpu_share = r->cpu_all_us / (r->window_s * 1e6);
	double per_call_ms = r->up ? r->cpu_all_us / 1000.0 / r->window_s / r->up : 0;
	double per_pkt = r->relayed ? r->cpu_all_us / (double)r->relayed : 0;
	uint64_t lost = r->up_lost + r->down_lost;
	/* late: one way to the PBX (timed by the kernel), or round trip to echo;
	 * the way back to the caller is timed after this tool's own wake-up */
	uint64_t late = pbx ? r->up_lat.late : r->rtt.late;
	printf("== %u calls (%s): %u up, %u failed; %.1f s window\n", r->n, pbx ? "bridged" : "echo",
	       r->up, r->failed, r->window_s);
	printf("   %s CPU %.1f%% of a core (media threads %.1f%%): %.3f ms/s per call, "
	       "%.2f us per relayed packet (%" PRIu64 " relayed)\n",
	       who, 100 * cpu_share, 100 * r->cpu_media_us / (r->window_s * 1e6), per_call_ms,
	       per_pkt, r->relayed);
	/* a packet the PBX's socket had no room for is this tool's loss */
	printf("   packets sent %" PRIu64 ", lost %" PRIu64 " (to the far end %" PRIu64
	       ", back %" PRIu64 "; %" PRIu64 " of them dropped by this tool's PBX socket), "
	       "late %" PRIu64 " (over %u ms %s)\n",
	       r->sent, lost, r->up_lost, r->down_lost, r->pbx_drops, late,
	       (pbx ? MEDIA_METER_LATE_ONE_US : MEDIA_METER_LATE_RTT_US) / 1000,
	       pbx ? "one way" : "round trip");
	if (pbx)
		printf("   one way caller->PBX p50/p99/max %.3f/%.3f/%.3f ms; PBX->caller "
		       "%.3f/%.3f/%.3f ms; round trip p99 %.3f ms\n",
		       pct_ms(&r->up_lat, .5), pct_ms(&r->up_lat, .99), pct_ms(&r->up_lat, 1),
		       pct_ms(&r->down_lat, .5), pct_ms(&r->down_lat, .99), pct_ms(&r->down_lat, 1),
		       pct_ms(&r->rtt, .99));
	else
		printf("   round trip caller->echo->caller p50/p99/max %.3f/%.3f/%.3f ms\n",
		       pct_ms(&r->rtt, .5), pct_ms(&r->rtt, .99), pct_ms(&r->rtt, 1));
	printf("   %s memory RSS %" PRIu64 " KiB, PSS %" PRIu64 " KiB\n", who, r->rss_kib,
	       r->pss_kib);
	if (r->server_core_busy >= 0)
		printf("   %s's core %d busy %.0f%%; ", who, m->o.server_core,
		       100 * r->server_core_busy);
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
	       " lost_down=%" PRIu64 " lost_tool=%" PRIu64 " late=%" PRIu64
	       " up_p50_ms=%.3f up_p99_ms=%.3f up_max_ms=%.3f "
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

bool meter_step_passes(const struct meter *m, const struct meter_step *r, double p99_ms)
{
	const struct meter_lat *l = m->o.echo_port ? &r->up_lat : &r->rtt;
	double p99 = wsc_latency_pct_us(&l->l, .99) / 1000.0;
	return r->up == r->n && r->sent && r->up_lost + r->down_lost == 0 && p99 < p99_ms;
}

void meter_step_free(struct meter_step *r)
{
	wsc_latency_free(&r->up_lat.l);
	wsc_latency_free(&r->down_lat.l);
	wsc_latency_free(&r->rtt.l);
}

void meter_print_memory(const char *label, const struct meter_step *r,
                        const struct wsc_proc_usage *idle)
{
	double rss = r->up ? ((double)r->rss_kib - (double)idle->rss_kib) / r->up : 0;
	double pss = r->up ? ((double)r->pss_kib - (double)idle->pss_kib) / r->up : 0;
	printf("RESULT label=%s memory=1 calls=%u rss_kib_per_call=%.1f pss_kib_per_call=%.1f\n",
	       label, r->n, rss, pss);
}

int meter_parse_steps(const char *text, unsigned limit, unsigned *steps, unsigned max,
                      unsigned *n)
{
	*n = 0;
	const char *p = text;
	while (*p) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p || v == 0 || v > limit || *n >= max)
			return -EINVAL;
		if (*n && v <= steps[*n - 1])
			return -EINVAL;
		steps[(*n)++] = (unsigned)v;
		p = end;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return *n ? 0 : -EINVAL;
}

unsigned meter_plan_packets(const unsigned *steps, unsigned n, double setup_rate, double settle_s,
                            double window_s, double grace_s)
{
	double total = 30;
	unsigned prev = 0;
	for (unsigned i = 0; i < n; i++) {
		double setup = setup_rate > 0 ? (steps[i] - prev) / setup_rate : 0;
		total += 2 * setup + 5 + settle_s + window_s + grace_s + 2;
		prev = steps[i];
	}
	return (unsigned)(total * MEDIA_METER_PACKETS_S);
}
