/* ws_client — the shared parts of the WebSocket SIP load tools (see
 * ws_client.h). */
#define _GNU_SOURCE
#include "ws_client.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- time and randomness ---- */

uint64_t wsc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t wsc_sec_to_ns(double s)
{
	return (uint64_t)(s * 1e9);
}

/* per thread: a tool may run a pool on each of several threads */
static _Thread_local uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

void wsc_rand_seed(void)
{
	rng_state = wsc_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
	if (!rng_state)
		rng_state = 1;
}

uint64_t wsc_rand(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* ---- command-line values ---- */

int wsc_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int wsc_parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 1e9)
		return -EINVAL;
	*out = v;
	return 0;
}

int wsc_raise_nofile(unsigned n)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)n + 64;
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
	return want >= (rlim_t)n + 64 ? 0 : -EMFILE;
}

/* ---- a server's process tree ---- */

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

int wsc_proc_usage_read(int root, bool with_memory, struct wsc_proc_usage *u)
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

double wsc_ticks_us(uint64_t ticks)
{
	return (double)ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

double wsc_self_cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Busy and total ticks of one core from /proc/stat. */
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

void wsc_core_watch_start(struct wsc_core_watch *w)
{
	w->busy = -1;
	w->ok = w->core >= 0 && !read_core_ticks(w->core, &w->busy0, &w->total0);
}

void wsc_core_watch_stop(struct wsc_core_watch *w)
{
	uint64_t busy1, total1;
	if (w->ok && !read_core_ticks(w->core, &busy1, &total1) && total1 > w->total0)
		w->busy = (double)(busy1 - w->busy0) / (double)(total1 - w->total0);
}

int wsc_own_core(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) || CPU_COUNT(&set) != 1)
		return -1;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			return i;
	return -1;
}

/* ---- latency samples ---- */

void wsc_latency_add(struct wsc_latency *l, uint64_t ns)
{
	if (l->len == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 65536;
		uint64_t *more = realloc(l->ns, cap * sizeof *more);
		if (!more)
			return;
		l->ns = more;
		l->cap = cap;
	}
	l->ns[l->len++] = ns;
}

void wsc_latency_clear(struct wsc_latency *l)
{
	l->len = 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void wsc_latency_sort(struct wsc_latency *l)
{
	if (l->len)
		qsort(l->ns, l->len, sizeof *l->ns, cmp_u64);
}

double wsc_latency_pct_us(const struct wsc_latency *l, double q)
{
	if (!l->len)
		return 0;
	size_t i = (size_t)(q * (double)(l->len - 1) + 0.5);
	return (double)l->ns[i] / 1e3;
}

void wsc_latency_free(struct wsc_latency *l)
{
	free(l->ns);
	*l = (struct wsc_latency){0};
}

/* ---- connections ---- */

enum conn_state {
	CONN_IDLE,
	CONN_CONNECTING, /* TCP */
	CONN_TLS,        /* TLS handshake (WSS) */
	CONN_HANDSHAKE,  /* WebSocket upgrade */
	CONN_OPEN,
	CONN_CLOSED
};

struct wsc_conn {
	int fd;
	SSL *ssl; /* WSS only */
	uint8_t state;
	bool want_out;
	char *rx;
	size_t rx_len, rx_cap;
	char *tx;
	size_t tx_len, tx_cap;
	char *frag; /* a fragmented message being reassembled */
	size_t frag_len;
	char ws_key[32];
};

struct wsc {
	struct wsc_options o;
	struct wsc_handlers h;
	int ep;
	struct sockaddr_in addr;
	SSL_CTX *tls;
	struct wsc_conn *conns;
	unsigned n_open, n_connecting, next_connect, connect_failed;
	unsigned lost;   /* open connections that closed before the end */
	bool closing;    /* the tool itself is closing every connection */
	char head[1024]; /* the upgrade request */
	char frame[70000];
};

static int conn_queue(struct wsc *w, struct wsc_conn *c, const char *p, size_t len)
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
		if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev))
			return -errno;
		c->want_out = true;
	}
	return 0;
}

/* send() or SSL_write(): bytes written, or -1 with errno (EAGAIN: later). */
static ssize_t io_send(struct wsc_conn *c, const char *p, size_t len)
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
static ssize_t io_recv(struct wsc_conn *c, char *p, size_t len)
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
static int conn_write(struct wsc *w, struct wsc_conn *c, const char *p, size_t len)
{
	if (c->tx_len)
		return conn_queue(w, c, p, len);
	while (len) {
		ssize_t n = io_send(c, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return conn_queue(w, c, p, len);
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int conn_flush(struct wsc *w, struct wsc_conn *c)
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
		if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev))
			return -errno;
		c->want_out = false;
	}
	return 0;
}

/* A client frame: FIN, the opcode, masked with a fresh key (RFC 6455 §5.3). */
static int ws_send(struct wsc *w, struct wsc_conn *c, unsigned opcode, const char *payload,
                   size_t len)
{
	char *frame = w->frame;
	if (len > sizeof w->frame - 14)
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
	uint32_t key = (uint32_t)wsc_rand();
	unsigned char mask[4];
	memcpy(mask, &key, 4);
	memcpy(frame + h, mask, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		frame[h + i] = (char)(payload[i] ^ mask[i & 3]);
	return conn_write(w, c, frame, h + len);
}

int wsc_send_text(struct wsc *w, struct wsc_conn *c, const char *p, size_t len)
{
	if (c->state != CONN_OPEN)
		return -ENOTCONN;
	return ws_send(w, c, 0x1, p, len);
}

/* ---- the upgrade ---- */

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static int ws_handshake_send(struct wsc *w, struct wsc_conn *c)
{
	unsigned char raw[16];
	for (int i = 0; i < 2; i++) {
		uint64_t r = wsc_rand();
		memcpy(raw + 8 * i, &r, 8);
	}
	EVP_EncodeBlock((unsigned char *)c->ws_key, raw, 16);
	int n = snprintf(w->head, sizeof w->head,
	                 "GET %s HTTP/1.1\r\n"
	                 "Host: %s:%u\r\n"
	                 "Upgrade: websocket\r\n"
	                 "Connection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: %s\r\n"
	                 "Sec-WebSocket-Version: 13\r\n"
	                 "Sec-WebSocket-Protocol: sip\r\n"
	                 "\r\n",
	                 w->o.path, w->o.host, w->o.port, c->ws_key);
	if (n < 0 || (size_t)n >= sizeof w->head)
		return -ENOSPC;
	return conn_write(w, c, w->head, (size_t)n);
}

/* The value of header `name` in an HTTP head, trimmed; *vlen 0 when absent. */
static const char *http_header(const char *head, size_t len, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', len);
	const char *end = head + len;
	*vlen = 0;
	while (p && p + 1 < end) {
		const char *line = p + 1;
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			break;
		if ((size_t)(eol - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
			const char *v = line + nl + 1, *ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
				ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
		p = eol;
	}
	return "";
}

/* Checks the 101: status, the echoed subprotocol and the accept key. Returns
 * the length of the head, 0 when incomplete, -EPROTO when wrong. */
static long ws_handshake_check(struct wsc_conn *c)
{
	const char *end = memmem(c->rx, c->rx_len, "\r\n\r\n", 4);
	if (!end)
		return c->rx_len > 8192 ? -EPROTO : 0;
	size_t len = (size_t)(end - c->rx) + 4;
	if (len < 12 || memcmp(c->rx, "HTTP/1.1 101", 12))
		return -EPROTO;
	size_t vl;
	const char *v = http_header(c->rx, len, "Sec-WebSocket-Protocol", &vl);
	if (vl != 3 || strncasecmp(v, "sip", 3))
		return -EPROTO;
	char keyed[64];
	unsigned char digest[SHA_DIGEST_LENGTH];
	char accept[32];
	int n = snprintf(keyed, sizeof keyed, "%s%s", c->ws_key, WS_GUID);
	SHA1((const unsigned char *)keyed, (size_t)n, digest);
	EVP_EncodeBlock((unsigned char *)accept, digest, sizeof digest);
	v = http_header(c->rx, len, "Sec-WebSocket-Accept", &vl);
	if (vl != strlen(accept) || memcmp(v, accept, vl))
		return -EPROTO;
	return (long)len;
}

/* Handles the complete frames in rx. Returns -1 when the connection must go. */
static int ws_frames(struct wsc *w, struct wsc_conn *c)
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
				w->h.on_message(w->h.arg, c, payload, (size_t)plen);
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
				size_t n = c->frag_len;
				c->frag_len = 0;
				w->h.on_message(w->h.arg, c, c->frag, n);
			}
			break;
		case 0x8: /* close: answer it, then go */
			ws_send(w, c, 0x8, payload, plen >= 2 ? 2 : 0);
			return -1;
		case 0x9: /* ping */
			if (ws_send(w, c, 0xA, payload, (size_t)plen))
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

void wsc_close(struct wsc *w, struct wsc_conn *c)
{
	if (c->state == CONN_CLOSED || c->state == CONN_IDLE)
		return;
	w->h.on_close(w->h.arg, c);
	if (c->state == CONN_OPEN) {
		w->n_open--;
		if (!w->closing)
			w->lost++;
	} else {
		w->n_connecting--;
	}
	/* A reset, so the port is free again at once (no TIME_WAIT). */
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
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

static int conn_open(struct wsc *w, struct wsc_conn *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)&w->addr, sizeof w->addr) &&
	    errno != EINPROGRESS) {
		int e = -errno;
		close(fd);
		return e;
	}
	c->fd = fd;
	c->state = CONN_CONNECTING;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	c->want_out = true;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev)) {
		int e = -errno;
		close(fd);
		c->fd = -1;
		c->state = CONN_IDLE;
		return e;
	}
	w->n_connecting++;
	return 0;
}

static int conn_read(struct wsc *w, struct wsc_conn *c)
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
			w->n_connecting--;
			w->n_open++;
		}
		if (c->state == CONN_OPEN && ws_frames(w, c))
			return -1;
	}
}

/* Waits for output room (or not) on c's socket. */
static int want_output(struct wsc *w, struct wsc_conn *c, bool on)
{
	if (c->want_out == on)
		return 0;
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
	if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev))
		return -errno;
	c->want_out = on;
	return 0;
}

/* One step of the TLS handshake; once done, the WebSocket upgrade is sent.
 * The server's certificate is not checked: this is a load tool. */
static int tls_step(struct wsc *w, struct wsc_conn *c)
{
	int r = SSL_connect(c->ssl);
	if (r == 1) {
		c->state = CONN_HANDSHAKE;
		if (ws_handshake_send(w, c) || conn_flush(w, c))
			return -1;
		return 0;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return want_output(w, c, false);
	if (e == SSL_ERROR_WANT_WRITE)
		return want_output(w, c, true);
	return -1;
}

static void connect_failed(struct wsc *w, struct wsc_conn *c)
{
	w->connect_failed++;
	wsc_close(w, c);
}

static void on_event(struct wsc *w, struct wsc_conn *c, uint32_t events)
{
	if (c->state == CONN_TLS) {
		if (tls_step(w, c))
			connect_failed(w, c);
		return;
	}
	if (c->state == CONN_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		if ((events & (EPOLLERR | EPOLLHUP)) ||
		    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			connect_failed(w, c);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		if (w->tls) {
			c->ssl = SSL_new(w->tls);
			if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
				connect_failed(w, c);
				return;
			}
			c->state = CONN_TLS;
			if (tls_step(w, c))
				connect_failed(w, c);
			return;
		}
		c->state = CONN_HANDSHAKE;
		if (ws_handshake_send(w, c) || conn_flush(w, c))
			connect_failed(w, c);
		return;
	}
	if (events & EPOLLOUT) {
		if (conn_flush(w, c)) {
			if (c->state == CONN_HANDSHAKE)
				w->connect_failed++;
			wsc_close(w, c);
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		if (conn_read(w, c)) {
			if (c->state == CONN_HANDSHAKE)
				w->connect_failed++;
			wsc_close(w, c);
		}
	}
}

/* ---- the pool ---- */

int wsc_new(struct wsc **out, const struct wsc_options *o, const struct wsc_handlers *h)
{
	struct wsc *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->o = *o;
	w->h = *h;
	w->ep = -1;
	w->addr.sin_family = AF_INET;
	w->addr.sin_port = htons((uint16_t)o->port);
	int rc = -EINVAL;
	if (inet_pton(AF_INET, o->host, &w->addr.sin_addr) != 1)
		goto out;
	rc = -ENOMEM;
	if (o->tls) {
		w->tls = SSL_CTX_new(TLS_client_method());
		if (!w->tls)
			goto out;
		SSL_CTX_set_verify(w->tls, SSL_VERIFY_NONE, NULL);
		/* A write that could not finish is retried from the send queue. */
		SSL_CTX_set_mode(w->tls, SSL_MODE_ENABLE_PARTIAL_WRITE |
		                             SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->conns = calloc(o->connections ? o->connections : 1, sizeof *w->conns);
	if (w->ep < 0 || !w->conns)
		goto out;
	for (unsigned i = 0; i < o->connections; i++)
		w->conns[i].fd = -1;
	*out = w;
	return 0;
out:
	wsc_free(w);
	return rc;
}

void wsc_free(struct wsc *w)
{
	if (!w)
		return;
	w->closing = true;
	if (w->conns)
		for (unsigned i = 0; i < w->o.connections; i++)
			wsc_close(w, &w->conns[i]);
	free(w->conns);
	SSL_CTX_free(w->tls);
	if (w->ep >= 0)
		close(w->ep);
	free(w);
}

void wsc_poll(struct wsc *w, int timeout_ms)
{
	struct epoll_event evs[512];
	int n = epoll_wait(w->ep, evs, 512, timeout_ms);
	for (int i = 0; i < n; i++)
		on_event(w, evs[i].data.ptr, evs[i].events);
}

int wsc_fd(const struct wsc *w)
{
	return w->ep;
}

unsigned wsc_connect_all(struct wsc *w, double timeout_s)
{
	uint64_t deadline = wsc_now_ns() + wsc_sec_to_ns(timeout_s);
	while (wsc_now_ns() < deadline) {
		while (w->next_connect < w->o.connections &&
		       w->n_connecting < w->o.connect_concurrency) {
			struct wsc_conn *c = &w->conns[w->next_connect++];
			if (conn_open(w, c))
				w->connect_failed++;
		}
		if (w->next_connect == w->o.connections && !w->n_connecting)
			break;
		wsc_poll(w, 10);
	}
	return w->n_open;
}

struct wsc_conn *wsc_conn_at(struct wsc *w, unsigned index)
{
	return index < w->o.connections ? &w->conns[index] : NULL;
}

unsigned wsc_conn_index(const struct wsc *w, const struct wsc_conn *c)
{
	return (unsigned)(c - w->conns);
}

bool wsc_conn_is_open(const struct wsc_conn *c)
{
	return c->state == CONN_OPEN;
}

void wsc_closing(struct wsc *w)
{
	w->closing = true;
}

struct wsc_counts wsc_counts(const struct wsc *w)
{
	return (struct wsc_counts){.open = w->n_open,
	                           .connecting = w->n_connecting,
	                           .connect_failed = w->connect_failed,
	                           .lost = w->lost};
}
