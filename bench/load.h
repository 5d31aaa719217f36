/* load — what the SIP load tools (bench_register, bench_calls) share above
 * their WebSocket connections (ws_client.h): the options both take, the start
 * of a run (the pool, the connect phase), the closed-loop and paced drivers,
 * the measurement window with its CPU figures, the failure counts, the lines
 * of the table and of the RESULT line that both print, and a browser's digest
 * REGISTER.
 *
 * A tool keeps only what is its own: its requests and answers, its slots (a
 * registration or a call in flight) and its figures. Output keeps each tool's
 * wording: where the two differ, the tool passes its word ("registration",
 * "complete call"). Nothing here is thread-safe. */
#ifndef SIPWIRE_BENCH_LOAD_H
#define SIPWIRE_BENCH_LOAD_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sip/sip_auth.h"
#include "ws_client.h"

/* ---- options ---- */

struct load_options {
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
	bool outstanding_given;
	double duration;
	double warmup;
	uint64_t count; /* 0: no bound but the duration */
	unsigned timeout_ms;
	unsigned expires;
	int server_pid;
	int server_core; /* -1: not pinned to one core */
	bool tls;        /* WSS */
	unsigned connect_concurrency;
	const char *label;
};

/* The ids a tool's own options take start here. */
#define LOAD_OPTION_TOOL 512

/* A tool's part of the command line. */
struct load_tool {
	const char *name; /* starts its messages */
	unsigned outstanding_max;
	/* Its own options, ids from LOAD_OPTION_TOOL on, ending with a zero
	 * entry; at most 16. */
	const struct option *options;
	/* One of them; value is NULL for one without argument. Returns 0, or
	 * -EINVAL for a bad value. */
	int (*parse)(void *arg, int id, const char *value);
	/* Its own checks once every option is read. */
	bool (*valid)(void *arg, const struct load_options *o);
	void (*usage)(FILE *f); /* --help, and bad arguments */
	void *arg;
};

/* Reads the shared and the tool's options, the shared ones from their
 * defaults. Prints what is wrong; --help prints the usage and exits 0.
 * Returns 0 or -EINVAL. */
int load_options_parse(int argc, char **argv, const struct load_tool *t, struct load_options *o);

/* The user connection i calls or registers as. */
unsigned load_user_of(const struct load_options *o, unsigned conn_i);

/* ---- the start ---- */

/* What comes before the first connection: SIGPIPE ignored (OpenSSL writes
 * without MSG_NOSIGNAL, and a server closing a WSS connection must cost an
 * error, not the process), enough descriptors, the random source seeded and
 * the pool made. Prints what went wrong; returns 0 or a negative errno. */
int load_pool_new(const char *tool, const struct load_options *o, const struct wsc_handlers *h,
                  struct wsc **pool);

/* Opens the pool's connections (all of them count as open when
 * connectionless) and says how many opened in how long. */
unsigned load_connect(const char *tool, struct wsc *pool, const struct load_options *o,
                      bool connectionless);

/* The RESULT line of a run in which no connection opened. */
void load_result_unopened(const struct load_options *o, const char *mode, const struct wsc *pool);

/* Reads the server's usage once, to tell a wrong --server-pid early. */
int load_server_check(const char *tool, const struct load_options *o, bool with_memory,
                      struct wsc_proc_usage *u);

/* ---- the drivers ----
 * Every connection has o->outstanding slots, each holding one registration
 * or call in flight or idle. The tool answers for its slots. */

struct load_slots {
	void *arg;
	bool (*usable)(void *arg, unsigned conn);
	unsigned (*busy)(void *arg, unsigned conn); /* slots in flight */
	bool (*idle)(void *arg, unsigned conn, unsigned slot);
	/* Starts slot; due is when it was due (latency counts from then). */
	void (*start)(void *arg, unsigned conn, unsigned slot, uint64_t due);
	bool (*may_start)(void *arg);
};

struct load_driver {
	const struct load_options *o;
	struct load_slots s;
	unsigned rr;         /* round-robin cursor */
	uint64_t sched_next; /* paced: when the next start is due */
};

/* Closed loop: every idle slot of every usable connection starts again. */
void load_fill_closed_loop(struct load_driver *d);
/* Paced: starts everything due at o->rate on the next connections with an
 * idle slot. When none has one, the rest wait for the next turn of the loop;
 * their latency still counts from when they were due. */
void load_fill_paced(struct load_driver *d);
/* The next usable connection, round robin, with an idle slot; -1 if none. */
int load_next_conn(struct load_driver *d);
/* Starts the first idle slot of conn (one it has: see load_next_conn). */
void load_start_idle(struct load_driver *d, unsigned conn, uint64_t due);

/* ---- the measurement window ---- */

/* A process tree whose CPU time over the window is read (pid 0: none). */
struct load_proc {
	int pid;
	bool have; /* read at both ends, and nothing of it ended between */
	struct wsc_proc_usage u0, u1;
};

struct load_window {
	uint64_t t0, t1;
	double client0, client1; /* this process's CPU, us */
	struct load_proc server, uas;
	struct wsc_core_watch server_core, client_core;
};

/* The window before it starts: t0 is now, in case it never does. */
void load_window_init(struct load_window *w, const struct load_options *o, int uas_pid,
                      uint64_t now);
void load_window_start(struct load_window *w, uint64_t now);
void load_window_stop(struct load_window *w, uint64_t now);

/* CPU per unit of work done in the window (a registration, a complete call)
 * and as a share of a core; -1 for what was not read. */
struct load_figures {
	double secs;
	double srv_us, srv_load;
	double uas_us, uas_load;
	double cli_us, cli_load;
	/* What else ran on each pinned core: its busy share minus the known
	 * users (the UAS shares the tool's core). */
	double srv_other, cli_other;
};
void load_window_figures(const struct load_window *w, uint64_t done, struct load_figures *f);

/* The table's CPU lines; per names the unit of work. */
void load_print_cpu(const struct load_window *w, const struct load_figures *f, const char *per);
/* The RESULT line's CPU fields; per ends their keys, with_uas adds the UAS's. */
void load_result_cpu(const struct load_window *w, const struct load_figures *f, const char *per,
                     bool with_uas);

/* ---- failures, counted by kind ---- */

uint64_t load_fail_total(const uint64_t *fail, int kinds);
/* The table's lines: the total, then each kind seen. */
void load_print_failures(const char *const *names, const uint64_t *fail, int kinds);
/* The RESULT line's fields: the total, then every kind. */
void load_result_failures(const char *const *names, const uint64_t *fail, int kinds);
void load_print_lost(const struct wsc *pool);

/* ---- registration ---- */

/* A browser's REGISTER of one connection. Its Call-ID is RUN-CONN-KEY, its
 * From tag TAG followed by tag_key; its Contact user is kTAG. */
struct load_register {
	unsigned conn;
	uint32_t run_id, tag, cseq;
	const char *host; /* of Via and Contact */
	const char *via_transport, *contact_transport;
	const char *tag_key, *call_key;
	const char *auth; /* the Authorization value, or NULL */
};
/* Writes it to buf; returns its length, or -ENOSPC. */
int load_register_format(char *buf, size_t size, const struct load_options *o,
                         const struct load_register *r);

/* The credentials (a header value) answering ch for the user of connection
 * conn_i, a request with this method, Request-URI and body. Returns their
 * length or a negative errno. */
int load_digest_answer(const struct load_options *o, unsigned conn_i,
                       const struct sip_auth_challenge *ch, const char *method, const char *uri,
                       sip_pl body, char *out, size_t size);

#endif
