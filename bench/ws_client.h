/* ws_client — what the WebSocket SIP load tools (bench_register, bench_calls)
 * share: a pool of client WebSocket connections (RFC 6455, subprotocol "sip",
 * optional TLS) on plain sockets and one epoll, the clock and a cheap random
 * source, latency samples with percentiles, and readers for the CPU and memory
 * of a server's process tree and for how busy a core was.
 *
 * A tool owns one pool and its own per-connection state, indexed like the
 * pool's connections (wsc_conn_index). Complete SIP messages arrive through
 * the on_message handler; on_close runs once before a connection that was
 * connecting or open is torn down, so the tool can charge what was in flight.
 * Everything runs on the calling thread; nothing here is thread-safe. */
#ifndef SIPWIRE_BENCH_WS_CLIENT_H
#define SIPWIRE_BENCH_WS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- time and randomness ---- */

uint64_t wsc_now_ns(void); /* CLOCK_MONOTONIC */
uint64_t wsc_sec_to_ns(double s);

/* xorshift64*: random enough for tags, branches, cnonces and frame masks of a
 * load tool, and cheap. Seeded from the clock and the pid; the state is the
 * calling thread's (seed it in each thread that uses it). */
void wsc_rand_seed(void);
uint64_t wsc_rand(void);

/* ---- command-line values ---- */

int wsc_parse_uint(const char *s, unsigned long long max, unsigned long long *out);
int wsc_parse_double(const char *s, double *out); /* 0 .. 1e9 */

/* Enough descriptors for n connections plus a few, raising the hard limit too
 * when allowed (root). */
int wsc_raise_nofile(unsigned n);

/* ---- a server's process tree: CPU and memory ---- */

struct wsc_proc_usage {
	uint64_t cpu_ticks; /* utime + stime, all processes */
	uint64_t pss_kib;
	uint64_t rss_kib;
	unsigned processes;
};

/* Sums over root and every live descendant (a multi-process server such as
 * Kamailio is measured whole). Memory is read only when with_memory. Returns
 * -ESRCH when root does not exist. */
int wsc_proc_usage_read(int root, bool with_memory, struct wsc_proc_usage *u);

double wsc_ticks_us(uint64_t ticks); /* clock ticks to microseconds */
double wsc_self_cpu_us(void);        /* this process's user+system CPU */

/* A core's busy share over a measurement window, to tell how much of a pinned
 * core went to something else (other processes, interrupts) while a run was
 * measured: a contaminated run shows it. */
struct wsc_core_watch {
	int core; /* -1: none */
	bool ok;
	uint64_t busy0, total0;
	double busy; /* share of the window the core was busy, or -1 */
};
void wsc_core_watch_start(struct wsc_core_watch *w);
void wsc_core_watch_stop(struct wsc_core_watch *w);

int wsc_own_core(void); /* the one core this process is pinned to, or -1 */

/* ---- latency samples ---- */

struct wsc_latency {
	uint64_t *ns;
	size_t len, cap;
};
/* A sample that finds no memory is lost; the caller's counts stay right. */
void wsc_latency_add(struct wsc_latency *l, uint64_t ns);
void wsc_latency_clear(struct wsc_latency *l); /* keeps the memory */
void wsc_latency_sort(struct wsc_latency *l);
/* The q-quantile (0..1) in microseconds of sorted samples; 0 when empty. */
double wsc_latency_pct_us(const struct wsc_latency *l, double q);
void wsc_latency_free(struct wsc_latency *l);

/* ---- the connection pool ---- */

struct wsc;
struct wsc_conn;

struct wsc_handlers {
	/* One complete text or binary message (fragments reassembled). The
	 * handler may send on c, or close it. */
	void (*on_message)(void *arg, struct wsc_conn *c, char *p, size_t len);
	/* c, connecting or open, is about to close (by wsc_close, the server or
	 * an error). */
	void (*on_close)(void *arg, struct wsc_conn *c);
	void *arg;
};

struct wsc_options {
	const char *host; /* IPv4 address */
	unsigned port;
	const char *path; /* of the upgrade request */
	bool tls;         /* WSS; the server's certificate is not checked */
	unsigned connections;
	unsigned connect_concurrency; /* handshakes in flight while connecting */
};

/* Counters: connections that failed to open, and open ones that closed while
 * the pool was not closing them itself. */
struct wsc_counts {
	unsigned open, connecting, connect_failed, lost;
};

/* Returns -EINVAL for a host that is not an IPv4 address, -ENOMEM. */
int wsc_new(struct wsc **out, const struct wsc_options *o, const struct wsc_handlers *h);
/* Closes every connection (not counted as lost) and frees the pool. */
void wsc_free(struct wsc *w);

/* Opens every connection, at most connect_concurrency handshakes at a time,
 * within timeout_s. Returns the number open. */
unsigned wsc_connect_all(struct wsc *w, double timeout_s);
/* Waits up to timeout_ms for socket events and handles them. */
void wsc_poll(struct wsc *w, int timeout_ms);
/* The pool's epoll descriptor: readable while some connection has work, so
 * another event loop can watch it and call wsc_poll(w, 0) then. */
int wsc_fd(const struct wsc *w);

struct wsc_conn *wsc_conn_at(struct wsc *w, unsigned index);
unsigned wsc_conn_index(const struct wsc *w, const struct wsc_conn *c);
bool wsc_conn_is_open(const struct wsc_conn *c);
/* Sends one text frame (masked, as a client must). Returns 0 or -errno; a
 * frame that cannot be written now is queued. */
int wsc_send_text(struct wsc *w, struct wsc_conn *c, const char *p, size_t len);
/* Closes c with a TCP reset, so that thousands of closed connections leave no
 * TIME_WAIT ports behind for the next run. */
void wsc_close(struct wsc *w, struct wsc_conn *c);
/* From now on, closed connections are not counted as lost. */
void wsc_closing(struct wsc *w);

struct wsc_counts wsc_counts(const struct wsc *w);

#endif
