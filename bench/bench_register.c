/* bench_register — a WebSocket SIP client (RFC 7118) that loads a registrar
 * with digest-authenticated REGISTERs and reports what it saw.
 *
 * One registration is REGISTER -> 401 -> REGISTER with Authorization (MD5,
 * qop=auth, nc, cnonce) -> 200 that lists our Contact with ;expires=N. Any
 * other outcome is a failure, counted by kind. Latency is measured over the
 * whole registration (both round trips); in paced mode it runs from the time
 * the registration was due, so a tool that falls behind shows up in the
 * figures instead of hiding (coordinated omission).
 *
 * Modes (always bounded by --duration and optionally --count):
 *   --rate R       open loop: R registrations per second, spread over the
 *                  connections round robin;
 *   --rate 0       closed loop: --outstanding N registrations in flight on
 *                  every connection, the next one starting as one ends;
 *   --hold         open C connections, register each once, then report the
 *                  server's memory per idle registered connection (PSS and
 *                  RSS now minus before connecting, divided by C), then close.
 *   --tls          WSS instead of WS (the certificate is not checked).
 *
 * With --server-pid, the server's CPU time (utime+stime from /proc/PID/stat)
 * and memory (/proc/PID/smaps_rollup) are read before and after; the pid's
 * descendants are counted too, so a multi-process server (Kamailio) is
 * measured whole.
 *
 * Plain sockets and epoll on one thread: the tool is meant to be pinned to a
 * core of its own (taskset). Connections end with a reset (SO_LINGER 0) so
 * that 10,000 closed connections leave no TIME_WAIT ports behind for the next
 * run.
 *
 * A registration that times out is charged once; its late answers are
 * recognised by CSeq and ignored. Registrations, Call-IDs and tags are per
 * connection slot (a re-registration keeps its Call-ID and raises its CSeq,
 * as browsers do); connection i registers user i mod --users.
 *
 * Prints a table and one machine-readable line starting with "RESULT ". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sip/sip_auth.h"
#include "sip/sip_hdr.h"
#include "sip/sip_msg.h"

/* ---- options ---- */

struct options {
	const char *host;
	unsigned port;
	const char *path;
	unsigned connections;
	unsigned users; /* 0: one user per connection */
	const char *user_prefix;
	const char *password_prefix;
	const char *realm;
	double rate; /* 0: closed loop */
	unsigned outstanding;
	double duration;
	double warmup;
	uint64_t count; /* 0: no bound but the duration */
	unsigned timeout_ms;
	unsigned expires;
	int server_pid;
	int server_core; /* -1: not pinned to one core */
	bool tls;        /* WSS */
	bool hold;
	double settle;
	unsigned connect_concurrency;
	unsigned hold_concurrency;
	const char *label;
};

/* ---- time ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t sec_to_ns(double s)
{
	return (uint64_t)(s * 1e9);
}

/* xorshift64*: random enough for tags, branches, cnonces and frame masks of
 * a load tool, and cheap. Seeded from the clock and pid. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* ---- the server's process tree: CPU and memory ---- */

struct proc_usage {
	uint64_t cpu_ticks; /* utime + stime, all processes */
	uint64_t pss_kib;
	uint64_t rss_kib;
	unsigned processes;
};

/* Reads pid's parent and utime+stime from /proc/PID/stat. The command name
 * may contain spaces and parentheses, so parsing starts after the last ')'. */
static int read_stat(int pid, int *ppid, uint64_t *ticks)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	/* fields from 3: state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime */
	char state;
	int parent;
	unsigned long long utime, stime;
	if (sscanf(p + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &parent,
	           &utime, &stime) != 4)
		return -EINVAL;
	*ppid = parent;
	*ticks = utime + stime;
	return 0;
}

static void read_smaps_rollup(int pid, uint64_t *pss, uint64_t *rss)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		unsigned long long v;
		if (sscanf(line, "Pss: %llu kB", &v) == 1)
			*pss += v;
		else if (sscanf(line, "Rss: %llu kB", &v) == 1)
			*rss += v;
	}
	fclose(f);
}

/* Sums over root and every live descendant. */
static int proc_usage_read(int root, bool with_memory, struct proc_usage *u)
{
	memset(u, 0, sizeof *u);
	DIR *d = opendir("/proc");
	if (!d)
		return -errno;
	size_t cap = 256, n = 0;
	struct pp {
		int pid, ppid;
		uint64_t ticks;
	} *all = malloc(cap * sizeof *all);
	if (!all) {
		closedir(d);
		return -ENOMEM;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		int ppid;
		uint64_t ticks;
		if (read_stat((int)pid, &ppid, &ticks))
			continue;
		if (n == cap) {
			struct pp *more = realloc(all, 2 * cap * sizeof *all);
			if (!more)
				break;
			all = more;
			cap *= 2;
		}
		all[n++] = (struct pp){(int)pid, ppid, ticks};
	}
	closedir(d);
	/* Mark the tree: repeat until no process joins (trees are shallow). */
	bool *in = calloc(n ? n : 1, sizeof *in);
	if (!in) {
		free(all);
		return -ENOMEM;
	}
	bool found = false;
	for (size_t i = 0; i < n; i++)
		if (all[i].pid == root)
			in[i] = found = true;
	for (bool grew = found; grew;) {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			if (in[i])
				continue;
			for (size_t j = 0; j < n; j++)
				if (in[j] && all[j].pid == all[i].ppid) {
					in[i] = grew = true;
					break;
				}
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!in[i])
			continue;
		u->processes++;
		u->cpu_ticks += all[i].ticks;
		if (with_memory)
			read_smaps_rollup(all[i].pid, &u->pss_kib, &u->rss_kib);
	}
	free(in);
	free(all);
	return found ? 0 : -ESRCH;
}

/* Busy and total ticks of one core from /proc/stat, to tell how much of the
 * server's core went to something else (other processes, interrupts) while
 * the server was measured: a contaminated run shows it. */
static int read_core_ticks(int core, uint64_t *busy, uint64_t *total)
{
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -errno;
	char line[512], want[16];
	int rc = -ENOENT;
	snprintf(want, sizeof want, "cpu%d ", core);
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, want, strlen(want)))
			continue;
		unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
		if (sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu", &user,
		           &nice, &sys, &idle, &iowait, &irq, &softirq, &steal) == 8) {
			*busy = user + nice + sys + irq + softirq + steal;
			*total = *busy + idle + iowait;
			rc = 0;
		}
		break;
	}
	fclose(f);
	return rc;
}

/* A core's busy share over a measurement window. */
struct core_watch {
	int core; /* -1: none */
	bool ok;
	uint64_t busy0, total0;
	double busy; /* share of the window the core was busy, or -1 */
};

static void core_watch_start(struct core_watch *w)
{
	w->busy = -1;
	w->ok = w->core >= 0 && !read_core_ticks(w->core, &w->busy0, &w->total0);
}

static void core_watch_stop(struct core_watch *w)
{
	uint64_t busy1, total1;
	if (w->ok && !read_core_ticks(w->core, &busy1, &total1) && total1 > w->total0)
		w->busy = (double)(busy1 - w->busy0) / (double)(total1 - w->total0);
}

/* The one core this process is pinned to, or -1. */
static int own_core(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) || CPU_COUNT(&set) != 1)
		return -1;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			return i;
	return -1;
}

/* ---- failures ---- */

enum fail_kind {
	FAIL_TIMEOUT,        /* no final answer within --timeout */
	FAIL_NOT_CHALLENGED, /* first REGISTER answered by something other than 401 */
	FAIL_BAD_CHALLENGE,  /* 401 without a usable WWW-Authenticate */
	FAIL_REJECTED,       /* authenticated REGISTER answered by something other than 200 */
	FAIL_NO_BINDING,     /* 200 without our Contact with ;expires > 0 */
	FAIL_BAD_MESSAGE,    /* a frame that is not a parsable SIP response */
	FAIL_CLOSED,         /* the connection closed with the registration in flight */
	FAIL_SEND,           /* the request could not be written */
	FAIL__COUNT
};

static const char *const FAIL_NAMES[FAIL__COUNT] = {
    "timeout",    "not_challenged", "bad_challenge", "rejected",
    "no_binding", "bad_message",    "closed",        "send",
};

/* ---- connections ---- */

enum conn_state {
	CONN_IDLE,
	CONN_CONNECTING, /* TCP */
	CONN_TLS,        /* TLS handshake (WSS) */
	CONN_HANDSHAKE,  /* WebSocket upgrade */
	CONN_OPEN,
	CONN_CLOSED
};
enum reg_phase { REG_IDLE, REG_WAIT_CHALLENGE, REG_WAIT_OK };

struct reg_slot {
	uint8_t phase;
	bool counted; /* started in the measured window */
	uint32_t cseq;
	uint64_t t_start; /* when it was due (paced) or sent (closed loop) */
	uint64_t deadline;
};

struct conn {
	int fd;
	SSL *ssl; /* WSS only */
	uint8_t state;
	bool want_out;
	bool registered_once;
	char *rx;
	size_t rx_len, rx_cap;
	char *tx;
	size_t tx_len, tx_cap;
	char *frag; /* a fragmented message being reassembled */
	size_t frag_len;
	char ws_key[32];
	uint32_t tag;  /* From tag, Contact user and Via host come from it */
	unsigned busy; /* slots in flight */
	struct reg_slot *slots;
};

struct stats {
	uint64_t started, ok;
	uint64_t fail[FAIL__COUNT];
	uint32_t bad_status[700]; /* unexpected final statuses, by code */
	uint64_t *lat_ns;
	size_t lat_len, lat_cap;
};

enum run_phase { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_HOLD_REGISTER, PH_DONE };

struct ctx {
	struct options o;
	int ep;
	struct sockaddr_in addr;
	struct conn *conns;
	unsigned n_open, n_connecting, next_connect, connect_failed;
	unsigned opened;    /* connections open after the connect phase */
	unsigned conn_lost; /* open connections that closed before the end */
	bool closing;       /* the tool itself is closing every connection */
	unsigned rr;        /* round-robin cursor for paced starts */
	uint32_t run_id;
	uint64_t in_flight;
	uint64_t sched_next; /* paced: when the next registration is due */
	uint64_t hold_next;  /* hold: next connection to register */
	enum run_phase phase;
	struct stats st;
	struct sip_msg *msg;
	SSL_CTX *tls;
	char scratch[70000];
};

static void stats_reset(struct stats *st)
{
	uint64_t *lat = st->lat_ns;
	size_t cap = st->lat_cap;
	memset(st, 0, sizeof *st);
	st->lat_ns = lat;
	st->lat_cap = cap;
}

static void stats_latency(struct stats *st, uint64_t ns)
{
	if (st->lat_len == st->lat_cap) {
		size_t cap = st->lat_cap ? 2 * st->lat_cap : 65536;
		uint64_t *more = realloc(st->lat_ns, cap * sizeof *more);
		if (!more)
			return; /* the count stays right; the percentiles lose a sample */
		st->lat_ns = more;
		st->lat_cap = cap;
	}
	st->lat_ns[st->lat_len++] = ns;
}

/* ---- sending ---- */

static int conn_queue(struct ctx *x, struct conn *c, const char *p, size_t len)
{
	if (c->tx_len + len > c->tx_cap) {
		size_t cap = c->tx_cap ? c->tx_cap : 4096;
		while (cap < c->tx_len + len)
			cap *= 2;
		char *more = realloc(c->tx, cap);
		if (!more)
			return -ENOMEM;
		c->tx = more;
		c->tx_cap = cap;
	}
	memcpy(c->tx + c->tx_len, p, len);
	c->tx_len += len;
	if (!c->want_out) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
		if (epoll_ctl(x->ep, EPOLL_CTL_MOD, c->fd, &ev))
			return -errno;
		c->want_out = true;
	}
	return 0;
}

/* send() or SSL_write(): bytes written, or -1 with errno (EAGAIN: later). */
static ssize_t io_send(struct conn *c, const char *p, size_t len)
{
	if (!c->ssl)
		return send(c->fd, p, len, MSG_NOSIGNAL);
	int n = SSL_write(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
	if (n > 0)
		return n;
	int e = SSL_get_error(c->ssl, n);
	errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN : EIO;
	return -1;
}

/* recv() or SSL_read(): bytes read, 0 at the end, or -1 with errno. */
static ssize_t io_recv(struct conn *c, char *p, size_t len)
{
	if (!c->ssl)
		return recv(c->fd, p, len, 0);
	int n = SSL_read(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
	if (n > 0)
		return n;
	int e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : ECONNRESET;
	return -1;
}

/* Writes what is queued, then p (when nothing was queued, straight from p). */
static int conn_write(struct ctx *x, struct conn *c, const char *p, size_t len)
{
	if (c->tx_len)
		return conn_queue(x, c, p, len);
	while (len) {
		ssize_t n = io_send(c, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return conn_queue(x, c, p, len);
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int conn_flush(struct ctx *x, struct conn *c)
{
	size_t off = 0;
	while (off < c->tx_len) {
		ssize_t n = io_send(c, c->tx + off, c->tx_len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		off += (size_t)n;
	}
	if (off) {
		memmove(c->tx, c->tx + off, c->tx_len - off);
		c->tx_len -= off;
	}
	if (!c->tx_len && c->want_out) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(x->ep, EPOLL_CTL_MOD, c->fd, &ev))
			return -errno;
		c->want_out = false;
	}
	return 0;
}

/* A client frame: FIN, the opcode, masked with a fresh key (RFC 6455 §5.3). */
static int ws_send(struct ctx *x, struct conn *c, unsigned opcode, const char *payload, size_t len)
{
	static char frame[70000];
	if (len > sizeof frame - 14)
		return -EMSGSIZE;
	size_t h = 0;
	frame[h++] = (char)(0x80 | opcode);
	if (len < 126) {
		frame[h++] = (char)(0x80 | len);
	} else if (len < 65536) {
		frame[h++] = (char)(0x80 | 126);
		frame[h++] = (char)(len >> 8);
		frame[h++] = (char)len;
	} else {
		frame[h++] = (char)(0x80 | 127);
		for (int i = 7; i >= 0; i--)
			frame[h++] = (char)((uint64_t)len >> (8 * i));
	}
	uint32_t key = (uint32_t)rng_next();
	unsigned char mask[4];
	memcpy(mask, &key, 4);
	memcpy(frame + h, mask, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		frame[h + i] = (char)(payload[i] ^ mask[i & 3]);
	return conn_write(x, c, frame, h + len);
}

/* ---- registrations ---- */

static unsigned conn_index(const struct ctx *x, const struct conn *c)
{
	return (unsigned)(c - x->conns);
}

static unsigned user_of(const struct ctx *x, unsigned conn_i)
{
	return x->o.users ? conn_i % x->o.users : conn_i;
}

static void conn_close(struct ctx *x, struct conn *c);

static void reg_fail(struct ctx *x, struct conn *c, struct reg_slot *s, enum fail_kind kind)
{
	if (s->counted)
		x->st.fail[kind]++;
	s->phase = REG_IDLE;
	c->busy--;
	x->in_flight--;
}

/* Sends the REGISTER of slot si; auth is the Authorization value or NULL. */
static int reg_send(struct ctx *x, struct conn *c, unsigned si, const char *auth)
{
	struct reg_slot *s = &c->slots[si];
	unsigned ci = conn_index(x, c);
	unsigned user = user_of(x, ci);
	s->cseq++;
	int n = snprintf(x->scratch, sizeof x->scratch,
	                 "REGISTER sip:%s SIP/2.0\r\n"
	                 "Via: SIP/2.0/WS %08" PRIx32 ".invalid;branch=z9hG4bK%016" PRIx64 "\r\n"
	                 "Max-Forwards: 70\r\n"
	                 "To: <sip:%s%u@%s>\r\n"
	                 "From: <sip:%s%u@%s>;tag=%08" PRIx32 "s%u\r\n"
	                 "Call-ID: %08" PRIx32 "-%u-%u\r\n"
	                 "CSeq: %" PRIu32 " REGISTER\r\n"
	                 "Contact: <sip:k%08" PRIx32 "@%08" PRIx32 ".invalid;transport=ws>\r\n"
	                 "Expires: %u\r\n"
	                 "%s%s%s"
	                 "Allow: ACK,CANCEL,INVITE,MESSAGE,BYE,OPTIONS,INFO,NOTIFY,REFER\r\n"
	                 "User-Agent: sipwire-bench\r\n"
	                 "Content-Length: 0\r\n"
	                 "\r\n",
	                 x->o.realm, c->tag, rng_next(), x->o.user_prefix, user, x->o.realm,
	                 x->o.user_prefix, user, x->o.realm, c->tag, si, x->run_id, ci, si, s->cseq,
	                 c->tag, c->tag, x->o.expires, auth ? "Authorization: " : "",
	                 auth ? auth : "", auth ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof x->scratch)
		return -ENOSPC;
	return ws_send(x, c, 0x1, x->scratch, (size_t)n);
}

static bool measuring(const struct ctx *x)
{
	return x->phase == PH_MEASURE || x->phase == PH_HOLD_REGISTER;
}

static void reg_start(struct ctx *x, struct conn *c, unsigned si, uint64_t due)
{
	struct reg_slot *s = &c->slots[si];
	s->phase = REG_WAIT_CHALLENGE;
	s->counted = measuring(x);
	s->t_start = due;
	s->deadline = now_ns() + (uint64_t)x->o.timeout_ms * 1000000u;
	c->busy++;
	x->in_flight++;
	if (s->counted)
		x->st.started++;
	if (reg_send(x, c, si, NULL)) {
		reg_fail(x, c, s, FAIL_SEND);
		conn_close(x, c);
	}
}

/* Whether the 200 lists our Contact with an expires above 0. */
static bool ok_has_binding(const struct ctx *x, const struct conn *c)
{
	char user[16];
	snprintf(user, sizeof user, "k%08" PRIx32, c->tag);
	struct sip_value_iter it = {0};
	sip_pl v;
	while (sip_msg_value_next(x->msg, SIP_HDR_CONTACT, &it, &v)) {
		struct sip_contact ct;
		if (sip_contact_parse(v, &ct) || ct.star)
			continue;
		if (sip_pl_eq_cstr(ct.addr.uri.user, user) && ct.has_expires && ct.expires > 0)
			return true;
	}
	return false;
}

static void reg_answer_challenge(struct ctx *x, struct conn *c, unsigned si)
{
	struct reg_slot *s = &c->slots[si];
	const struct sip_hdr *h = sip_msg_hdr(x->msg, SIP_HDR_WWW_AUTHENTICATE);
	struct sip_auth_challenge ch;
	if (!h || sip_auth_challenge_parse(h->value, &ch)) {
		reg_fail(x, c, s, FAIL_BAD_CHALLENGE);
		return;
	}
	unsigned ci = conn_index(x, c);
	char user[96], password[96], uri[160], cnonce[24];
	snprintf(user, sizeof user, "%s%u", x->o.user_prefix, user_of(x, ci));
	snprintf(password, sizeof password, "%s%u", x->o.password_prefix, user_of(x, ci));
	snprintf(uri, sizeof uri, "sip:%s", x->o.realm);
	snprintf(cnonce, sizeof cnonce, "%016" PRIx64, rng_next());
	struct sip_auth_client_params p = {
	    .username = sip_pl_from_cstr(user),
	    .password = sip_pl_from_cstr(password),
	    .method = sip_pl_from_cstr("REGISTER"),
	    .uri = sip_pl_from_cstr(uri),
	    .cnonce = sip_pl_from_cstr(cnonce),
	    .nc = 1,
	};
	char auth[1024];
	if (sip_auth_client_answer(&ch, &p, auth, sizeof auth) < 0) {
		reg_fail(x, c, s, FAIL_BAD_CHALLENGE);
		return;
	}
	s->phase = REG_WAIT_OK;
	if (reg_send(x, c, si, auth)) {
		reg_fail(x, c, s, FAIL_SEND);
		conn_close(x, c);
	}
}

static void reg_done(struct ctx *x, struct conn *c, struct reg_slot *s)
{
	if (s->counted) {
		x->st.ok++;
		stats_latency(&x->st, now_ns() - s->t_start);
	}
	s->phase = REG_IDLE;
	c->busy--;
	x->in_flight--;
	c->registered_once = true;
}

static void count_status(struct ctx *x, struct reg_slot *s, int status)
{
	if (s->counted && status >= 0 && status < 700)
		x->st.bad_status[status]++;
}

/* Parses the slot index out of our Call-ID "RUN-CONN-SLOT". */
static int slot_of(const struct ctx *x, const struct conn *c, sip_pl call_id)
{
	char want[32];
	int n = snprintf(want, sizeof want, "%08" PRIx32 "-%u-", x->run_id, conn_index(x, c));
	if (n < 0 || call_id.l <= (size_t)n || memcmp(call_id.p, want, (size_t)n))
		return -1;
	uint32_t si;
	if (sip_pl_u32((sip_pl){call_id.p + n, call_id.l - (size_t)n}, x->o.outstanding - 1, &si))
		return -1;
	return (int)si;
}

static void on_sip(struct ctx *x, struct conn *c, const char *p, size_t len)
{
	size_t consumed;
	struct sip_parse_error err;
	enum sip_parse_result r =
	    sip_msg_parse(x->msg, p, len, SIP_PARSE_DATAGRAM, &consumed, &err);
	if (r == SIP_PARSE_KEEPALIVE)
		return;
	if (r != SIP_PARSE_OK || sip_msg_is_request(x->msg)) {
		/* Unmatched: charge it to the oldest registration in flight. */
		for (unsigned i = 0; i < x->o.outstanding; i++)
			if (c->slots[i].phase != REG_IDLE) {
				reg_fail(x, c, &c->slots[i], FAIL_BAD_MESSAGE);
				break;
			}
		return;
	}
	int si = slot_of(x, c, sip_msg_call_id(x->msg));
	if (si < 0)
		return;
	struct reg_slot *s = &c->slots[si];
	const struct sip_cseq *cseq = sip_msg_cseq(x->msg);
	if (s->phase == REG_IDLE || cseq->seq != s->cseq)
		return; /* late answer to a registration that timed out */
	int status = sip_msg_status(x->msg);
	if (status < 200)
		return;
	if (s->phase == REG_WAIT_CHALLENGE) {
		if (status == 401) {
			reg_answer_challenge(x, c, (unsigned)si);
		} else {
			count_status(x, s, status);
			reg_fail(x, c, s, FAIL_NOT_CHALLENGED);
		}
	} else if (status == 200) {
		if (ok_has_binding(x, c))
			reg_done(x, c, s);
		else
			reg_fail(x, c, s, FAIL_NO_BINDING);
	} else {
		count_status(x, s, status);
		reg_fail(x, c, s, FAIL_REJECTED);
	}
}

/* ---- WebSocket ---- */

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static int ws_handshake_send(struct ctx *x, struct conn *c)
{
	unsigned char raw[16];
	for (int i = 0; i < 2; i++) {
		uint64_t r = rng_next();
		memcpy(raw + 8 * i, &r, 8);
	}
	EVP_EncodeBlock((unsigned char *)c->ws_key, raw, 16);
	int n = snprintf(x->scratch, sizeof x->scratch,
	                 "GET %s HTTP/1.1\r\n"
	                 "Host: %s:%u\r\n"
	                 "Upgrade: websocket\r\n"
	                 "Connection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: %s\r\n"
	                 "Sec-WebSocket-Version: 13\r\n"
	                 "Sec-WebSocket-Protocol: sip\r\n"
	                 "\r\n",
	                 x->o.path, x->o.host, x->o.port, c->ws_key);
	if (n < 0 || (size_t)n >= sizeof x->scratch)
		return -ENOSPC;
	return conn_write(x, c, x->scratch, (size_t)n);
}

/* The value of header `name` in an HTTP head, trimmed, or an empty view. */
static sip_pl http_header(const char *head, size_t len, const char *name)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', len);
	const char *end = head + len;
	while (p && p + 1 < end) {
		const char *line = p + 1;
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			break;
		if ((size_t)(eol - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
			sip_pl v = {line + nl + 1, (size_t)(eol - line) - nl - 1};
			return sip_pl_trim(v);
		}
		p = eol;
	}
	return (sip_pl){"", 0};
}

/* Checks the 101: status, Upgrade, the echoed subprotocol and the accept key.
 * Returns the length of the head, 0 when incomplete, -EPROTO when wrong. */
static long ws_handshake_check(struct conn *c)
{
	const char *end = memmem(c->rx, c->rx_len, "\r\n\r\n", 4);
	if (!end)
		return c->rx_len > 8192 ? -EPROTO : 0;
	size_t len = (size_t)(end - c->rx) + 4;
	if (len < 12 || memcmp(c->rx, "HTTP/1.1 101", 12))
		return -EPROTO;
	if (!sip_pl_caseeq_cstr(http_header(c->rx, len, "Sec-WebSocket-Protocol"), "sip"))
		return -EPROTO;
	char keyed[64];
	unsigned char digest[SHA_DIGEST_LENGTH];
	char accept[32];
	int n = snprintf(keyed, sizeof keyed, "%s%s", c->ws_key, WS_GUID);
	SHA1((const unsigned char *)keyed, (size_t)n, digest);
	EVP_EncodeBlock((unsigned char *)accept, digest, sizeof digest);
	if (!sip_pl_eq_cstr(http_header(c->rx, len, "Sec-WebSocket-Accept"), accept))
		return -EPROTO;
	return (long)len;
}

/* Handles the complete frames in rx. Returns -1 when the connection must go. */
static int ws_frames(struct ctx *x, struct conn *c)
{
	size_t off = 0;
	while (c->state == CONN_OPEN && c->rx_len - off >= 2) {
		const unsigned char *b = (const unsigned char *)c->rx + off;
		size_t avail = c->rx_len - off;
		bool fin = b[0] & 0x80;
		unsigned op = b[0] & 0x0f;
		bool masked = b[1] & 0x80;
		uint64_t plen = b[1] & 0x7f;
		size_t h = 2;
		if (plen == 126) {
			if (avail < 4)
				break;
			plen = (uint64_t)b[2] << 8 | b[3];
			h = 4;
		} else if (plen == 127) {
			if (avail < 10)
				break;
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = plen << 8 | b[2 + i];
			h = 10;
		}
		if (plen > (1u << 20))
			return -1;
		size_t mh = masked ? 4 : 0;
		if (avail < h + mh + plen)
			break;
		char *payload = c->rx + off + h + mh;
		if (masked) /* servers must not mask; accept it anyway */
			for (size_t i = 0; i < plen; i++)
				payload[i] ^= (char)b[h + (i & 3)];
		off += h + mh + (size_t)plen;
		switch (op) {
		case 0x0: /* continuation */
		case 0x1: /* text */
		case 0x2: /* binary */
			if (fin && op != 0 && !c->frag_len) {
				on_sip(x, c, payload, (size_t)plen);
				break;
			}
			if (c->frag_len + plen > (1u << 20))
				return -1;
			char *more = realloc(c->frag, c->frag_len + (size_t)plen);
			if (!more)
				return -1;
			c->frag = more;
			memcpy(c->frag + c->frag_len, payload, (size_t)plen);
			c->frag_len += (size_t)plen;
			if (fin) {
				on_sip(x, c, c->frag, c->frag_len);
				c->frag_len = 0;
			}
			break;
		case 0x8: /* close: answer it, then go */
			ws_send(x, c, 0x8, payload, plen >= 2 ? 2 : 0);
			return -1;
		case 0x9: /* ping */
			if (ws_send(x, c, 0xA, payload, (size_t)plen))
				return -1;
			break;
		default: /* pong and reserved opcodes */
			break;
		}
	}
	if (c->state != CONN_OPEN)
		return -1; /* closed while handling a message: rx is gone */
	memmove(c->rx, c->rx + off, c->rx_len - off);
	c->rx_len -= off;
	return 0;
}

/* ---- connection life ---- */

static void conn_close(struct ctx *x, struct conn *c)
{
	if (c->state == CONN_CLOSED || c->state == CONN_IDLE)
		return;
	for (unsigned i = 0; i < x->o.outstanding; i++)
		if (c->slots[i].phase != REG_IDLE)
			reg_fail(x, c, &c->slots[i], FAIL_CLOSED);
	if (c->state == CONN_OPEN) {
		x->n_open--;
		if (!x->closing)
			x->conn_lost++;
	} else {
		x->n_connecting--;
	}
	/* A reset, so the port is free again at once (no TIME_WAIT). */
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	epoll_ctl(x->ep, EPOLL_CTL_DEL, c->fd, NULL);
	SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	c->fd = -1;
	c->state = CONN_CLOSED;
	free(c->rx);
	free(c->tx);
	free(c->frag);
	c->rx = c->tx = c->frag = NULL;
	c->rx_len = c->rx_cap = c->tx_len = c->tx_cap = c->frag_len = 0;
}

static int conn_open(struct ctx *x, struct conn *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)&x->addr, sizeof x->addr) &&
	    errno != EINPROGRESS) {
		int e = -errno;
		close(fd);
		return e;
	}
	c->fd = fd;
	c->state = CONN_CONNECTING;
	c->tag = (uint32_t)rng_next();
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	c->want_out = true;
	if (epoll_ctl(x->ep, EPOLL_CTL_ADD, fd, &ev)) {
		int e = -errno;
		close(fd);
		c->fd = -1;
		return e;
	}
	x->n_connecting++;
	return 0;
}

static int conn_read(struct ctx *x, struct conn *c)
{
	for (;;) {
		if (c->rx_cap - c->rx_len < 2048) {
			size_t cap = c->rx_cap ? 2 * c->rx_cap : 4096;
			if (cap > (4u << 20))
				return -1;
			char *more = realloc(c->rx, cap);
			if (!more)
				return -1;
			c->rx = more;
			c->rx_cap = cap;
		}
		ssize_t n = io_recv(c, c->rx + c->rx_len, c->rx_cap - c->rx_len);
		if (n == 0)
			return -1;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->rx_len += (size_t)n;
		if (c->state == CONN_HANDSHAKE) {
			long head = ws_handshake_check(c);
			if (head < 0)
				return -1;
			if (head == 0)
				continue;
			memmove(c->rx, c->rx + head, c->rx_len - (size_t)head);
			c->rx_len -= (size_t)head;
			c->state = CONN_OPEN;
			x->n_connecting--;
			x->n_open++;
		}
		if (c->state == CONN_OPEN && ws_frames(x, c))
			return -1;
	}
}

/* Waits for output room (or not) on c's socket. */
static int want_output(struct ctx *x, struct conn *c, bool on)
{
	if (c->want_out == on)
		return 0;
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
	if (epoll_ctl(x->ep, EPOLL_CTL_MOD, c->fd, &ev))
		return -errno;
	c->want_out = on;
	return 0;
}

/* One step of the TLS handshake; once done, the WebSocket upgrade is sent.
 * The server's certificate is not checked: this is a load tool. */
static int tls_step(struct ctx *x, struct conn *c)
{
	int r = SSL_connect(c->ssl);
	if (r == 1) {
		c->state = CONN_HANDSHAKE;
		if (ws_handshake_send(x, c) || conn_flush(x, c))
			return -1;
		return 0;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return want_output(x, c, false);
	if (e == SSL_ERROR_WANT_WRITE)
		return want_output(x, c, true);
	return -1;
}

static void on_event(struct ctx *x, struct conn *c, uint32_t events)
{
	if (c->state == CONN_TLS) {
		if (tls_step(x, c)) {
			x->connect_failed++;
			conn_close(x, c);
		}
		return;
	}
	if (c->state == CONN_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		if ((events & (EPOLLERR | EPOLLHUP)) ||
		    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			x->connect_failed++;
			conn_close(x, c);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		if (x->tls) {
			c->ssl = SSL_new(x->tls);
			if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
				x->connect_failed++;
				conn_close(x, c);
				return;
			}
			c->state = CONN_TLS;
			if (tls_step(x, c)) {
				x->connect_failed++;
				conn_close(x, c);
			}
			return;
		}
		c->state = CONN_HANDSHAKE;
		if (ws_handshake_send(x, c) || conn_flush(x, c)) {
			x->connect_failed++;
			conn_close(x, c);
		}
		return;
	}
	if (events & EPOLLOUT) {
		if (conn_flush(x, c)) {
			if (c->state == CONN_HANDSHAKE)
				x->connect_failed++;
			conn_close(x, c);
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		if (conn_read(x, c)) {
			if (c->state == CONN_HANDSHAKE)
				x->connect_failed++;
			conn_close(x, c);
		}
	}
}

/* ---- the loop ---- */

static void poll_once(struct ctx *x, int timeout_ms)
{
	struct epoll_event evs[512];
	int n = epoll_wait(x->ep, evs, 512, timeout_ms);
	for (int i = 0; i < n; i++)
		on_event(x, evs[i].data.ptr, evs[i].events);
}

static void check_timeouts(struct ctx *x, uint64_t now)
{
	for (unsigned i = 0; i < x->o.connections; i++) {
		struct conn *c = &x->conns[i];
		if (!c->busy)
			continue;
		for (unsigned s = 0; s < x->o.outstanding; s++)
			if (c->slots[s].phase != REG_IDLE && now > c->slots[s].deadline)
				reg_fail(x, c, &c->slots[s], FAIL_TIMEOUT);
	}
}

/* Opens every connection, at most --connect-concurrency handshakes at a time,
 * within 60 s. Returns the number open. */
static unsigned connect_all(struct ctx *x)
{
	uint64_t deadline = now_ns() + sec_to_ns(60);
	while (now_ns() < deadline) {
		while (x->next_connect < x->o.connections &&
		       x->n_connecting < x->o.connect_concurrency) {
			struct conn *c = &x->conns[x->next_connect++];
			if (conn_open(x, c))
				x->connect_failed++;
		}
		if (x->next_connect == x->o.connections && !x->n_connecting)
			break;
		poll_once(x, 10);
	}
	return x->n_open;
}

static bool may_start(const struct ctx *x)
{
	return (x->phase == PH_WARMUP || x->phase == PH_MEASURE) &&
	       (!x->o.count || x->phase != PH_MEASURE || x->st.started < x->o.count);
}

/* Closed loop: every idle slot of every open connection starts again. */
static void fill_closed_loop(struct ctx *x)
{
	uint64_t now = now_ns();
	for (unsigned i = 0; i < x->o.connections && may_start(x); i++) {
		struct conn *c = &x->conns[i];
		if (c->state != CONN_OPEN || c->busy == x->o.outstanding)
			continue;
		for (unsigned s = 0; s < x->o.outstanding && may_start(x); s++)
			if (c->slots[s].phase == REG_IDLE && c->state == CONN_OPEN)
				reg_start(x, c, s, now);
	}
}

/* Paced: start every registration that is due, on the next connection with
 * an idle slot. When no connection has one, the rest wait for the next turn
 * of the loop; their latency still counts from when they were due. */
static void fill_paced(struct ctx *x)
{
	uint64_t now = now_ns();
	uint64_t step = (uint64_t)(1e9 / x->o.rate);
	while (x->sched_next <= now && may_start(x)) {
		unsigned tried = 0;
		struct conn *c = NULL;
		for (; tried < x->o.connections; tried++) {
			struct conn *k = &x->conns[x->rr];
			x->rr = (x->rr + 1) % x->o.connections;
			if (k->state == CONN_OPEN && k->busy < x->o.outstanding) {
				c = k;
				break;
			}
		}
		if (!c)
			return;
		for (unsigned s = 0; s < x->o.outstanding; s++)
			if (c->slots[s].phase == REG_IDLE) {
				reg_start(x, c, s, x->sched_next);
				break;
			}
		x->sched_next += step;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_us(const struct stats *st, double q)
{
	if (!st->lat_len)
		return 0;
	size_t i = (size_t)(q * (double)(st->lat_len - 1) + 0.5);
	return (double)st->lat_ns[i] / 1e3;
}

static uint64_t fail_total(const struct stats *st)
{
	uint64_t t = 0;
	for (int i = 0; i < FAIL__COUNT; i++)
		t += st->fail[i];
	return t;
}

static void print_failures(const struct stats *st)
{
	for (int i = 0; i < FAIL__COUNT; i++)
		if (st->fail[i])
			printf("  failures %-16s %" PRIu64 "\n", FAIL_NAMES[i], st->fail[i]);
	for (int s = 0; s < 700; s++)
		if (st->bad_status[s])
			printf("  unexpected status %d: %" PRIu32 "\n", s, st->bad_status[s]);
}

static void result_failures(const struct stats *st)
{
	printf(" failures=%" PRIu64, fail_total(st));
	for (int i = 0; i < FAIL__COUNT; i++)
		printf(" fail_%s=%" PRIu64, FAIL_NAMES[i], st->fail[i]);
}

static double cpu_us(uint64_t ticks)
{
	return (double)ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static double rusage_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int run_load(struct ctx *x)
{
	const struct options *o = &x->o;
	uint64_t t = now_ns();
	x->phase = o->warmup > 0 ? PH_WARMUP : PH_MEASURE;
	uint64_t measure_at = t + sec_to_ns(o->warmup);
	uint64_t stop_at = measure_at + sec_to_ns(o->duration);
	uint64_t t0 = t, last_timeout_check = t;
	struct proc_usage u0 = {0}, u1 = {0};
	double client0 = 0;
	bool have_server = false;
	struct core_watch srv_core = {.core = o->server_core}, cli_core = {.core = own_core()};
	x->sched_next = t;
	if (x->phase == PH_MEASURE) {
		have_server = o->server_pid && !proc_usage_read(o->server_pid, false, &u0);
		core_watch_start(&srv_core);
		core_watch_start(&cli_core);
		client0 = rusage_us();
	}
	uint64_t drain_until = 0;
	for (;;) {
		uint64_t now = now_ns();
		if (x->phase == PH_WARMUP && now >= measure_at) {
			x->phase = PH_MEASURE;
			stats_reset(&x->st);
			t0 = now;
			have_server = o->server_pid && !proc_usage_read(o->server_pid, false, &u0);
			core_watch_start(&srv_core);
			core_watch_start(&cli_core);
			client0 = rusage_us();
		}
		if (x->phase == PH_MEASURE &&
		    (now >= stop_at || (o->count && x->st.started >= o->count))) {
			x->phase = PH_DRAIN;
			drain_until = now + (uint64_t)o->timeout_ms * 1000000u + sec_to_ns(0.1);
		}
		if (x->phase == PH_DRAIN && (!x->in_flight || now >= drain_until))
			break;
		if (now - last_timeout_check > 10000000u) {
			check_timeouts(x, now);
			last_timeout_check = now;
		}
		if (!x->n_open && !x->in_flight) {
			fprintf(stderr, "bench_register: every connection is closed\n");
			break;
		}
		if (o->rate > 0)
			fill_paced(x);
		else
			fill_closed_loop(x);
		poll_once(x, o->rate > 0 ? 1 : 10);
	}
	uint64_t t1 = now_ns();
	double client1 = rusage_us();
	if (have_server)
		/* A process of the server that ended took its CPU time along:
		 * then the difference means nothing. */
		have_server = !proc_usage_read(o->server_pid, false, &u1) &&
		              u1.cpu_ticks >= u0.cpu_ticks && u1.processes >= u0.processes;
	core_watch_stop(&srv_core);
	core_watch_stop(&cli_core);
	check_timeouts(x, UINT64_MAX); /* whatever is left did not finish in time */

	struct stats *st = &x->st;
	qsort(st->lat_ns, st->lat_len, sizeof *st->lat_ns, cmp_u64);
	double secs = (double)(t1 - t0) / 1e9;
	double rate = (double)st->ok / secs;
	double srv_us =
	    have_server && st->ok ? cpu_us(u1.cpu_ticks - u0.cpu_ticks) / (double)st->ok : -1;
	double srv_load = have_server ? cpu_us(u1.cpu_ticks - u0.cpu_ticks) / 1e6 / secs : -1;
	double cli_us = st->ok ? (client1 - client0) / (double)st->ok : 0;
	double cli_load = (client1 - client0) / 1e6 / secs;
	/* What else ran on each pinned core: its busy share minus our own. */
	/* Both are counted in ticks, so a quiet core can come out a little
	 * below zero: that is zero. */
	double srv_other =
	    srv_core.busy >= 0 && have_server ? fmax(0, srv_core.busy - srv_load) : -1;
	double cli_other = cli_core.busy >= 0 ? fmax(0, cli_core.busy - cli_load) : -1;

	printf("bench_register %s: %s, %u connections (%u failed to open), %u outstanding each\n",
	       o->label, o->rate > 0 ? "paced" : "closed loop", x->opened, x->connect_failed,
	       o->outstanding);
	if (o->rate > 0)
		printf("  offered rate           %.0f REGISTER/s\n", o->rate);
	printf("  measured               %.2f s (after %.1f s warm-up)\n", secs, o->warmup);
	printf("  registrations started  %" PRIu64 "\n", st->started);
	printf("  registrations ok       %" PRIu64 "\n", st->ok);
	printf("  registrations/s        %.0f\n", rate);
	printf("  latency p50/p90/p99    %.0f / %.0f / %.0f us\n", pct_us(st, 0.50),
	       pct_us(st, 0.90), pct_us(st, 0.99));
	printf("  latency max            %.0f us\n", pct_us(st, 1.0));
	printf("  failures               %" PRIu64 "\n", fail_total(st));
	print_failures(st);
	if (x->conn_lost)
		printf("  connections lost       %u (closed by the server or broken)\n",
		       x->conn_lost);
	if (have_server) {
		printf("  server CPU             %.1f us per registration (%.0f%% of a core, %u "
		       "processes)\n",
		       srv_us, 100 * srv_load, u1.processes);
	}
	if (srv_other >= 0)
		printf("  server's core          %.0f%% busy, %.0f%% of it not the server\n",
		       100 * srv_core.busy, 100 * srv_other);
	printf("  load tool CPU          %.1f us per registration (%.0f%% of a core)\n", cli_us,
	       100 * cli_load);
	if (cli_other >= 0)
		printf("  load tool's core       %.0f%% busy, %.0f%% of it not the tool\n",
		       100 * cli_core.busy, 100 * cli_other);
	printf("RESULT label=%s mode=%s connections=%u outstanding=%u offered_rate=%.0f "
	       "seconds=%.3f started=%" PRIu64 " ok=%" PRIu64
	       " rate=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f",
	       o->label, o->rate > 0 ? "paced" : "closed", x->opened, o->outstanding, o->rate, secs,
	       st->started, st->ok, rate, pct_us(st, 0.50), pct_us(st, 0.90), pct_us(st, 0.99),
	       pct_us(st, 1.0));
	result_failures(st);
	printf(" server_cpu_us_per_reg=%.1f server_core_load=%.3f client_cpu_us_per_reg=%.1f "
	       "client_core_load=%.3f server_core_busy=%.3f server_core_other=%.3f "
	       "client_core_other=%.3f connect_failed=%u conn_lost=%u\n",
	       srv_us, srv_load, cli_us, cli_load, srv_core.busy, srv_other, cli_other,
	       x->connect_failed, x->conn_lost);
	return fail_total(st) || x->connect_failed || x->conn_lost || !st->ok ? 1 : 0;
}

/* Hold: connections are already open; register each once (at most
 * --hold-concurrency in flight), let the server settle, read its memory. */
static int run_hold(struct ctx *x, const struct proc_usage *before)
{
	const struct options *o = &x->o;
	x->phase = PH_HOLD_REGISTER;
	uint64_t deadline = now_ns() + sec_to_ns(o->duration) + (uint64_t)o->timeout_ms * 1000000u;
	uint64_t last_check = now_ns();
	while (now_ns() < deadline) {
		while (x->hold_next < o->connections && x->in_flight < o->hold_concurrency) {
			struct conn *c = &x->conns[x->hold_next++];
			if (c->state == CONN_OPEN)
				reg_start(x, c, 0, now_ns());
		}
		if (x->hold_next == o->connections && !x->in_flight)
			break;
		uint64_t now = now_ns();
		if (now - last_check > 10000000u) {
			check_timeouts(x, now);
			last_check = now;
		}
		poll_once(x, 10);
	}
	check_timeouts(x, UINT64_MAX);
	/* Idle: keep answering pings while the server settles. */
	uint64_t settle_until = now_ns() + sec_to_ns(o->settle);
	while (now_ns() < settle_until)
		poll_once(x, 50);
	/* Counted after settling: the memory read next is for these. */
	unsigned registered = 0;
	for (unsigned i = 0; i < o->connections; i++)
		if (x->conns[i].state == CONN_OPEN && x->conns[i].registered_once)
			registered++;
	unsigned still_open = x->n_open;
	struct proc_usage held = {0}, after = {0};
	bool have = o->server_pid && !proc_usage_read(o->server_pid, true, &held);
	x->closing = true;
	for (unsigned i = 0; i < o->connections; i++)
		conn_close(x, &x->conns[i]);
	if (have) {
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
		proc_usage_read(o->server_pid, true, &after);
	}
	struct stats *st = &x->st;
	qsort(st->lat_ns, st->lat_len, sizeof *st->lat_ns, cmp_u64);
	double n = registered ? (double)registered : 1;
	double pss_per = have ? ((double)held.pss_kib - (double)before->pss_kib) / n : -1;
	double rss_per = have ? ((double)held.rss_kib - (double)before->rss_kib) / n : -1;

	printf("bench_register %s: hold, %u connections asked, %u open (%u failed), %u "
	       "registered and idle\n",
	       o->label, o->connections, still_open, x->connect_failed, registered);
	printf("  registration latency p50/p99/max  %.0f / %.0f / %.0f us\n", pct_us(st, 0.5),
	       pct_us(st, 0.99), pct_us(st, 1.0));
	printf("  failures               %" PRIu64 "\n", fail_total(st));
	print_failures(st);
	if (x->conn_lost)
		printf("  connections lost       %u (closed by the server or broken)\n",
		       x->conn_lost);
	if (have) {
		printf("  server PSS             %" PRIu64 " KiB before, %" PRIu64
		       " KiB held, %" PRIu64 " KiB 1 s after closing (%u processes)\n",
		       before->pss_kib, held.pss_kib, after.pss_kib, held.processes);
		printf("  server RSS             %" PRIu64 " KiB before, %" PRIu64
		       " KiB held, %" PRIu64 " KiB after closing\n",
		       before->rss_kib, held.rss_kib, after.rss_kib);
		printf("  per idle registered connection: %.1f KiB PSS, %.1f KiB RSS\n", pss_per,
		       rss_per);
	}
	printf("RESULT label=%s mode=hold connections=%u registered=%u connect_failed=%u "
	       "conn_lost=%u pss_before_kib=%" PRIu64 " pss_held_kib=%" PRIu64
	       " pss_after_close_kib=%" PRIu64 " rss_before_kib=%" PRIu64 " rss_held_kib=%" PRIu64
	       " pss_kib_per_conn=%.1f rss_kib_per_conn=%.1f p50_us=%.0f p99_us=%.0f",
	       o->label, o->connections, registered, x->connect_failed, x->conn_lost,
	       before->pss_kib, held.pss_kib, after.pss_kib, before->rss_kib, held.rss_kib, pss_per,
	       rss_per, pct_us(st, 0.5), pct_us(st, 0.99));
	result_failures(st);
	printf("\n");
	return registered == o->connections ? 0 : 1;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_register [options]\n"
	           "  --host ADDR              server IPv4 address [127.0.0.1]\n"
	           "  --port N                 server WebSocket port [8080]\n"
	           "  --path PATH              request path of the upgrade [/]\n"
	           "  --connections C          WebSocket connections [100]\n"
	           "  --users U                users; connection i registers user i mod U\n"
	           "                           [0: one user per connection]\n"
	           "  --user-prefix P          user i is P<i> [u]\n"
	           "  --password-prefix P      the password of user i is P<i> [pw]\n"
	           "  --realm R                domain of the AOR and Request-URI [sipwire.test]\n"
	           "  --rate R                 paced, R registrations/s; 0: closed loop [0]\n"
	           "  --outstanding N          registrations in flight per connection [1]\n"
	           "  --duration S             measured seconds (hold: time to register) [10]\n"
	           "  --warmup S               seconds of load before measuring [0]\n"
	           "  --count N                stop after N registrations (0: no bound) [0]\n"
	           "  --timeout MS             a registration fails after MS [5000]\n"
	           "  --expires S              Expires asked for [600]\n"
	           "  --server-pid PID         read CPU and memory of PID and its descendants\n"
	           "  --server-core N          the core the server is pinned to: report how busy\n"
	           "                           it was with anything else during the measurement\n"
	           "  --hold                   register every connection once, report memory\n"
	           "  --settle S               hold: idle seconds before reading memory [2]\n"
	           "  --connect-concurrency N  handshakes in flight while connecting [256]\n"
	           "  --hold-concurrency N     hold: registrations in flight [200]\n"
	           "  --tls                    WSS (TLS, the certificate is not checked)\n"
	           "  --label NAME             name on the RESULT line [server]\n");
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 1e9)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	*o = (struct options){
	    .host = "127.0.0.1",
	    .port = 8080,
	    .path = "/",
	    .connections = 100,
	    .user_prefix = "u",
	    .password_prefix = "pw",
	    .realm = "sipwire.test",
	    .outstanding = 1,
	    .duration = 10,
	    .timeout_ms = 5000,
	    .expires = 600,
	    .settle = 2,
	    .connect_concurrency = 256,
	    .hold_concurrency = 200,
	    .label = "server",
	    .server_core = -1,
	};
	enum {
		O_HOST = 256,
		O_PORT,
		O_PATH,
		O_CONN,
		O_USERS,
		O_UPFX,
		O_PPFX,
		O_REALM,
		O_RATE,
		O_OUT,
		O_DUR,
		O_WARM,
		O_COUNT,
		O_TMO,
		O_EXP,
		O_PID,
		O_CORE,
		O_HOLD,
		O_SETTLE,
		O_CC,
		O_HC,
		O_LABEL,
		O_TLS,
		O_HELP,
	};
	static const struct option longs[] = {
	    {"host", required_argument, NULL, O_HOST},
	    {"port", required_argument, NULL, O_PORT},
	    {"path", required_argument, NULL, O_PATH},
	    {"connections", required_argument, NULL, O_CONN},
	    {"users", required_argument, NULL, O_USERS},
	    {"user-prefix", required_argument, NULL, O_UPFX},
	    {"password-prefix", required_argument, NULL, O_PPFX},
	    {"realm", required_argument, NULL, O_REALM},
	    {"rate", required_argument, NULL, O_RATE},
	    {"outstanding", required_argument, NULL, O_OUT},
	    {"duration", required_argument, NULL, O_DUR},
	    {"warmup", required_argument, NULL, O_WARM},
	    {"count", required_argument, NULL, O_COUNT},
	    {"timeout", required_argument, NULL, O_TMO},
	    {"expires", required_argument, NULL, O_EXP},
	    {"server-pid", required_argument, NULL, O_PID},
	    {"server-core", required_argument, NULL, O_CORE},
	    {"hold", no_argument, NULL, O_HOLD},
	    {"settle", required_argument, NULL, O_SETTLE},
	    {"connect-concurrency", required_argument, NULL, O_CC},
	    {"hold-concurrency", required_argument, NULL, O_HC},
	    {"label", required_argument, NULL, O_LABEL},
	    {"tls", no_argument, NULL, O_TLS},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	int opt;
	unsigned long long v;
	while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		int bad = 0;
		switch (opt) {
		case O_HOST:
			o->host = optarg;
			break;
		case O_PORT:
			bad = parse_uint(optarg, 65535, &v);
			o->port = (unsigned)v;
			break;
		case O_PATH:
			o->path = optarg;
			break;
		case O_CONN:
			bad = parse_uint(optarg, 1000000, &v);
			o->connections = (unsigned)v;
			break;
		case O_USERS:
			bad = parse_uint(optarg, 100000000, &v);
			o->users = (unsigned)v;
			break;
		case O_UPFX:
			o->user_prefix = optarg;
			break;
		case O_PPFX:
			o->password_prefix = optarg;
			break;
		case O_REALM:
			o->realm = optarg;
			break;
		case O_RATE:
			bad = parse_double(optarg, &o->rate);
			break;
		case O_OUT:
			bad = parse_uint(optarg, 1000, &v);
			o->outstanding = (unsigned)v;
			break;
		case O_DUR:
			bad = parse_double(optarg, &o->duration);
			break;
		case O_WARM:
			bad = parse_double(optarg, &o->warmup);
			break;
		case O_COUNT:
			bad = parse_uint(optarg, UINT64_MAX, &v);
			o->count = v;
			break;
		case O_TMO:
			bad = parse_uint(optarg, 600000, &v);
			o->timeout_ms = (unsigned)v;
			break;
		case O_EXP:
			bad = parse_uint(optarg, 604800, &v);
			o->expires = (unsigned)v;
			break;
		case O_PID:
			bad = parse_uint(optarg, 1u << 30, &v);
			o->server_pid = (int)v;
			break;
		case O_CORE:
			bad = parse_uint(optarg, 4095, &v);
			o->server_core = (int)v;
			break;
		case O_HOLD:
			o->hold = true;
			break;
		case O_SETTLE:
			bad = parse_double(optarg, &o->settle);
			break;
		case O_CC:
			bad = parse_uint(optarg, 100000, &v);
			o->connect_concurrency = (unsigned)v;
			break;
		case O_HC:
			bad = parse_uint(optarg, 100000, &v);
			o->hold_concurrency = (unsigned)v;
			break;
		case O_TLS:
			o->tls = true;
			break;
		case O_LABEL:
			o->label = optarg;
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
		if (bad) {
			fprintf(stderr, "bench_register: bad value for --%s: %s\n",
			        longs[opt - O_HOST].name, optarg);
			return -EINVAL;
		}
	}
	if (optind != argc || !o->connections || !o->outstanding || !o->connect_concurrency ||
	    !o->hold_concurrency || o->duration <= 0 || !o->timeout_ms) {
		fprintf(stderr, "bench_register: bad arguments (see --help)\n");
		return -EINVAL;
	}
	if (o->hold)
		o->outstanding = 1;
	return 0;
}

/* Enough descriptors for C connections plus a few, raising the hard limit
 * too when allowed (root). */
static int raise_nofile(unsigned connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)connections + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur >= want)
		return 0;
	if (rl.rlim_max < want) {
		struct rlimit hard = {want, want};
		if (!setrlimit(RLIMIT_NOFILE, &hard))
			return 0;
		want = rl.rlim_max;
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	return want >= (rlim_t)connections + 64 ? 0 : -EMFILE;
}

int main(int argc, char **argv)
{
	static struct ctx x;
	if (parse_options(argc, argv, &x.o)) {
		usage(stderr);
		return 2;
	}
	/* OpenSSL writes to the socket without MSG_NOSIGNAL: a server that
	 * closes a WSS connection must cost an error, not the process. */
	signal(SIGPIPE, SIG_IGN);
	if (raise_nofile(x.o.connections))
		fprintf(stderr, "bench_register: cannot raise the descriptor limit to %u\n",
		        x.o.connections + 64);
	rng_state = now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
	x.run_id = (uint32_t)rng_next();
	x.addr.sin_family = AF_INET;
	x.addr.sin_port = htons((uint16_t)x.o.port);
	if (inet_pton(AF_INET, x.o.host, &x.addr.sin_addr) != 1) {
		fprintf(stderr, "bench_register: --host must be an IPv4 address: %s\n", x.o.host);
		return 2;
	}
	if (x.o.tls) {
		x.tls = SSL_CTX_new(TLS_client_method());
		if (!x.tls) {
			fprintf(stderr, "bench_register: no TLS context\n");
			return 2;
		}
		SSL_CTX_set_verify(x.tls, SSL_VERIFY_NONE, NULL);
		/* A write that could not finish is retried from the send queue. */
		SSL_CTX_set_mode(x.tls, SSL_MODE_ENABLE_PARTIAL_WRITE |
		                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}
	x.ep = epoll_create1(EPOLL_CLOEXEC);
	x.msg = sip_msg_new(NULL);
	x.conns = calloc(x.o.connections, sizeof *x.conns);
	struct reg_slot *slots = calloc((size_t)x.o.connections * x.o.outstanding, sizeof *slots);
	if (x.ep < 0 || !x.msg || !x.conns || !slots) {
		fprintf(stderr, "bench_register: out of memory\n");
		return 2;
	}
	for (unsigned i = 0; i < x.o.connections; i++) {
		x.conns[i].fd = -1;
		x.conns[i].slots = slots + (size_t)i * x.o.outstanding;
	}

	struct proc_usage before = {0};
	if (x.o.server_pid && proc_usage_read(x.o.server_pid, x.o.hold, &before)) {
		fprintf(stderr, "bench_register: no process %d\n", x.o.server_pid);
		return 2;
	}
	uint64_t t = now_ns();
	unsigned open = connect_all(&x);
	x.opened = open;
	fprintf(stderr, "bench_register: %u of %u connections open in %.2f s\n", open,
	        x.o.connections, (double)(now_ns() - t) / 1e9);
	if (!open) {
		printf("RESULT label=%s mode=%s connections=0 connect_failed=%u conn_lost=%u\n",
		       x.o.label, x.o.hold ? "hold" : "load", x.connect_failed, x.conn_lost);
		return 1;
	}
	int rc = x.o.hold ? run_hold(&x, &before) : run_load(&x);
	x.closing = true;
	for (unsigned i = 0; i < x.o.connections; i++)
		conn_close(&x, &x.conns[i]);
	free(x.st.lat_ns);
	free(slots);
	free(x.conns);
	sip_msg_free(x.msg);
	SSL_CTX_free(x.tls);
	close(x.ep);
	return rc;
}
