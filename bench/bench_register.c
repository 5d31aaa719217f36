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
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sip/sip_auth.h"
#include "sip/sip_hdr.h"
#include "sip/sip_msg.h"
#include "ws_client.h"

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
enum reg_phase { REG_IDLE, REG_WAIT_CHALLENGE, REG_WAIT_OK };

struct reg_slot {
	uint8_t phase;
	bool counted; /* started in the measured window */
	uint32_t cseq;
	uint64_t t_start; /* when it was due (paced) or sent (closed loop) */
	uint64_t deadline;
};

/* What the tool keeps per connection, beside the pool's connection. */
struct conn {
	struct wsc_conn *ws;
	bool registered_once;
	uint32_t tag;  /* From tag, Contact user and Via host come from it */
	unsigned busy; /* slots in flight */
	struct reg_slot *slots;
};

struct stats {
	uint64_t started, ok;
	uint64_t fail[FAIL__COUNT];
	uint32_t bad_status[700]; /* unexpected final statuses, by code */
	struct wsc_latency lat;
};

enum run_phase { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_HOLD_REGISTER, PH_DONE };

struct ctx {
	struct options o;
	struct wsc *pool;
	struct conn *conns;
	unsigned opened; /* connections open after the connect phase */
	unsigned rr;     /* round-robin cursor for paced starts */
	uint32_t run_id;
	uint64_t in_flight;
	uint64_t sched_next; /* paced: when the next registration is due */
	uint64_t hold_next;  /* hold: next connection to register */
	enum run_phase phase;
	struct stats st;
	struct sip_msg *msg;
	char scratch[70000];
};

static void stats_reset(struct stats *st)
{
	struct wsc_latency lat = st->lat;
	memset(st, 0, sizeof *st);
	wsc_latency_clear(&lat);
	st->lat = lat;
}

/* ---- registrations ---- */

static unsigned conn_index(const struct ctx *x, const struct conn *c)
{
	return (unsigned)(c - x->conns);
}

static bool conn_open(const struct conn *c)
{
	return c->ws && wsc_conn_is_open(c->ws);
}

static unsigned user_of(const struct ctx *x, unsigned conn_i)
{
	return x->o.users ? conn_i % x->o.users : conn_i;
}

static void conn_close(struct ctx *x, struct conn *c)
{
	wsc_close(x->pool, c->ws);
}

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
	                 x->o.realm, c->tag, wsc_rand(), x->o.user_prefix, user, x->o.realm,
	                 x->o.user_prefix, user, x->o.realm, c->tag, si, x->run_id, ci, si, s->cseq,
	                 c->tag, c->tag, x->o.expires, auth ? "Authorization: " : "",
	                 auth ? auth : "", auth ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof x->scratch)
		return -ENOSPC;
	return wsc_send_text(x->pool, c->ws, x->scratch, (size_t)n);
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
	s->deadline = wsc_now_ns() + (uint64_t)x->o.timeout_ms * 1000000u;
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
	snprintf(cnonce, sizeof cnonce, "%016" PRIx64, wsc_rand());
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
		wsc_latency_add(&x->st.lat, wsc_now_ns() - s->t_start);
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

static void on_sip(void *arg, struct wsc_conn *ws, char *p, size_t len)
{
	struct ctx *x = arg;
	struct conn *c = &x->conns[wsc_conn_index(x->pool, ws)];
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

/* ---- the loop ---- */

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

/* A connection is closing: whatever it had in flight failed. */
static void on_close(void *arg, struct wsc_conn *ws)
{
	struct ctx *x = arg;
	struct conn *c = &x->conns[wsc_conn_index(x->pool, ws)];
	for (unsigned i = 0; i < x->o.outstanding; i++)
		if (c->slots[i].phase != REG_IDLE)
			reg_fail(x, c, &c->slots[i], FAIL_CLOSED);
}

static bool may_start(const struct ctx *x)
{
	return (x->phase == PH_WARMUP || x->phase == PH_MEASURE) &&
	       (!x->o.count || x->phase != PH_MEASURE || x->st.started < x->o.count);
}

/* Closed loop: every idle slot of every open connection starts again. */
static void fill_closed_loop(struct ctx *x)
{
	uint64_t now = wsc_now_ns();
	for (unsigned i = 0; i < x->o.connections && may_start(x); i++) {
		struct conn *c = &x->conns[i];
		if (!conn_open(c) || c->busy == x->o.outstanding)
			continue;
		for (unsigned s = 0; s < x->o.outstanding && may_start(x); s++)
			if (c->slots[s].phase == REG_IDLE && conn_open(c))
				reg_start(x, c, s, now);
	}
}

/* Paced: start every registration that is due, on the next connection with
 * an idle slot. When no connection has one, the rest wait for the next turn
 * of the loop; their latency still counts from when they were due. */
static void fill_paced(struct ctx *x)
{
	uint64_t now = wsc_now_ns();
	uint64_t step = (uint64_t)(1e9 / x->o.rate);
	while (x->sched_next <= now && may_start(x)) {
		unsigned tried = 0;
		struct conn *c = NULL;
		for (; tried < x->o.connections; tried++) {
			struct conn *k = &x->conns[x->rr];
			x->rr = (x->rr + 1) % x->o.connections;
			if (conn_open(k) && k->busy < x->o.outstanding) {
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

static double pct_us(const struct stats *st, double q)
{
	return wsc_latency_pct_us(&st->lat, q);
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

static int run_load(struct ctx *x)
{
	const struct options *o = &x->o;
	uint64_t t = wsc_now_ns();
	x->phase = o->warmup > 0 ? PH_WARMUP : PH_MEASURE;
	uint64_t measure_at = t + wsc_sec_to_ns(o->warmup);
	uint64_t stop_at = measure_at + wsc_sec_to_ns(o->duration);
	uint64_t t0 = t, last_timeout_check = t;
	struct wsc_proc_usage u0 = {0}, u1 = {0};
	double client0 = 0;
	bool have_server = false;
	struct wsc_core_watch srv_core = {.core = o->server_core},
	                      cli_core = {.core = wsc_own_core()};
	x->sched_next = t;
	if (x->phase == PH_MEASURE) {
		have_server = o->server_pid && !wsc_proc_usage_read(o->server_pid, false, &u0);
		wsc_core_watch_start(&srv_core);
		wsc_core_watch_start(&cli_core);
		client0 = wsc_self_cpu_us();
	}
	uint64_t drain_until = 0;
	for (;;) {
		uint64_t now = wsc_now_ns();
		if (x->phase == PH_WARMUP && now >= measure_at) {
			x->phase = PH_MEASURE;
			stats_reset(&x->st);
			t0 = now;
			have_server =
			    o->server_pid && !wsc_proc_usage_read(o->server_pid, false, &u0);
			wsc_core_watch_start(&srv_core);
			wsc_core_watch_start(&cli_core);
			client0 = wsc_self_cpu_us();
		}
		if (x->phase == PH_MEASURE &&
		    (now >= stop_at || (o->count && x->st.started >= o->count))) {
			x->phase = PH_DRAIN;
			drain_until = now + (uint64_t)o->timeout_ms * 1000000u + wsc_sec_to_ns(0.1);
		}
		if (x->phase == PH_DRAIN && (!x->in_flight || now >= drain_until))
			break;
		if (now - last_timeout_check > 10000000u) {
			check_timeouts(x, now);
			last_timeout_check = now;
		}
		if (!wsc_counts(x->pool).open && !x->in_flight) {
			fprintf(stderr, "bench_register: every connection is closed\n");
			break;
		}
		if (o->rate > 0)
			fill_paced(x);
		else
			fill_closed_loop(x);
		wsc_poll(x->pool, o->rate > 0 ? 1 : 10);
	}
	uint64_t t1 = wsc_now_ns();
	double client1 = wsc_self_cpu_us();
	if (have_server)
		/* A process of the server that ended took its CPU time along:
		 * then the difference means nothing. */
		have_server = !wsc_proc_usage_read(o->server_pid, false, &u1) &&
		              u1.cpu_ticks >= u0.cpu_ticks && u1.processes >= u0.processes;
	wsc_core_watch_stop(&srv_core);
	wsc_core_watch_stop(&cli_core);
	check_timeouts(x, UINT64_MAX); /* whatever is left did not finish in time */

	struct stats *st = &x->st;
	wsc_latency_sort(&st->lat);
	double secs = (double)(t1 - t0) / 1e9;
	double rate = (double)st->ok / secs;
	double srv_us =
	    have_server && st->ok ? wsc_ticks_us(u1.cpu_ticks - u0.cpu_ticks) / (double)st->ok : -1;
	double srv_load = have_server ? wsc_ticks_us(u1.cpu_ticks - u0.cpu_ticks) / 1e6 / secs : -1;
	double cli_us = st->ok ? (client1 - client0) / (double)st->ok : 0;
	double cli_load = (client1 - client0) / 1e6 / secs;
	/* What else ran on each pinned core: its busy share minus our own. */
	/* Both are counted in ticks, so a quiet core can come out a little
	 * below zero: that is zero. */
	double srv_other =
	    srv_core.busy >= 0 && have_server ? fmax(0, srv_core.busy - srv_load) : -1;
	double cli_other = cli_core.busy >= 0 ? fmax(0, cli_core.busy - cli_load) : -1;

	printf("bench_register %s: %s, %u connections (%u failed to open), %u outstanding each\n",
	       o->label, o->rate > 0 ? "paced" : "closed loop", x->opened,
	       wsc_counts(x->pool).connect_failed, o->outstanding);
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
	if (wsc_counts(x->pool).lost)
		printf("  connections lost       %u (closed by the server or broken)\n",
		       wsc_counts(x->pool).lost);
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
	       wsc_counts(x->pool).connect_failed, wsc_counts(x->pool).lost);
	return fail_total(st) || wsc_counts(x->pool).connect_failed || wsc_counts(x->pool).lost ||
	               !st->ok
	           ? 1
	           : 0;
}

/* Hold: connections are already open; register each once (at most
 * --hold-concurrency in flight), let the server settle, read its memory. */
static int run_hold(struct ctx *x, const struct wsc_proc_usage *before)
{
	const struct options *o = &x->o;
	x->phase = PH_HOLD_REGISTER;
	uint64_t deadline =
	    wsc_now_ns() + wsc_sec_to_ns(o->duration) + (uint64_t)o->timeout_ms * 1000000u;
	uint64_t last_check = wsc_now_ns();
	while (wsc_now_ns() < deadline) {
		while (x->hold_next < o->connections && x->in_flight < o->hold_concurrency) {
			struct conn *c = &x->conns[x->hold_next++];
			if (conn_open(c))
				reg_start(x, c, 0, wsc_now_ns());
		}
		if (x->hold_next == o->connections && !x->in_flight)
			break;
		uint64_t now = wsc_now_ns();
		if (now - last_check > 10000000u) {
			check_timeouts(x, now);
			last_check = now;
		}
		wsc_poll(x->pool, 10);
	}
	check_timeouts(x, UINT64_MAX);
	/* Idle: keep answering pings while the server settles. */
	uint64_t settle_until = wsc_now_ns() + wsc_sec_to_ns(o->settle);
	while (wsc_now_ns() < settle_until)
		wsc_poll(x->pool, 50);
	/* Counted after settling: the memory read next is for these. */
	unsigned registered = 0;
	for (unsigned i = 0; i < o->connections; i++)
		if (conn_open(&x->conns[i]) && x->conns[i].registered_once)
			registered++;
	unsigned still_open = wsc_counts(x->pool).open;
	struct wsc_proc_usage held = {0}, after = {0};
	bool have = o->server_pid && !wsc_proc_usage_read(o->server_pid, true, &held);
	wsc_closing(x->pool);
	for (unsigned i = 0; i < o->connections; i++)
		conn_close(x, &x->conns[i]);
	if (have) {
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
		wsc_proc_usage_read(o->server_pid, true, &after);
	}
	struct stats *st = &x->st;
	wsc_latency_sort(&st->lat);
	double n = registered ? (double)registered : 1;
	double pss_per = have ? ((double)held.pss_kib - (double)before->pss_kib) / n : -1;
	double rss_per = have ? ((double)held.rss_kib - (double)before->rss_kib) / n : -1;

	printf("bench_register %s: hold, %u connections asked, %u open (%u failed), %u "
	       "registered and idle\n",
	       o->label, o->connections, still_open, wsc_counts(x->pool).connect_failed,
	       registered);
	printf("  registration latency p50/p99/max  %.0f / %.0f / %.0f us\n", pct_us(st, 0.5),
	       pct_us(st, 0.99), pct_us(st, 1.0));
	printf("  failures               %" PRIu64 "\n", fail_total(st));
	print_failures(st);
	if (wsc_counts(x->pool).lost)
		printf("  connections lost       %u (closed by the server or broken)\n",
		       wsc_counts(x->pool).lost);
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
	       o->label, o->connections, registered, wsc_counts(x->pool).connect_failed,
	       wsc_counts(x->pool).lost, before->pss_kib, held.pss_kib, after.pss_kib,
	       before->rss_kib, held.rss_kib, pss_per, rss_per, pct_us(st, 0.5), pct_us(st, 0.99));
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
			bad = wsc_parse_uint(optarg, 65535, &v);
			o->port = (unsigned)v;
			break;
		case O_PATH:
			o->path = optarg;
			break;
		case O_CONN:
			bad = wsc_parse_uint(optarg, 1000000, &v);
			o->connections = (unsigned)v;
			break;
		case O_USERS:
			bad = wsc_parse_uint(optarg, 100000000, &v);
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
			bad = wsc_parse_double(optarg, &o->rate);
			break;
		case O_OUT:
			bad = wsc_parse_uint(optarg, 1000, &v);
			o->outstanding = (unsigned)v;
			break;
		case O_DUR:
			bad = wsc_parse_double(optarg, &o->duration);
			break;
		case O_WARM:
			bad = wsc_parse_double(optarg, &o->warmup);
			break;
		case O_COUNT:
			bad = wsc_parse_uint(optarg, UINT64_MAX, &v);
			o->count = v;
			break;
		case O_TMO:
			bad = wsc_parse_uint(optarg, 600000, &v);
			o->timeout_ms = (unsigned)v;
			break;
		case O_EXP:
			bad = wsc_parse_uint(optarg, 604800, &v);
			o->expires = (unsigned)v;
			break;
		case O_PID:
			bad = wsc_parse_uint(optarg, 1u << 30, &v);
			o->server_pid = (int)v;
			break;
		case O_CORE:
			bad = wsc_parse_uint(optarg, 4095, &v);
			o->server_core = (int)v;
			break;
		case O_HOLD:
			o->hold = true;
			break;
		case O_SETTLE:
			bad = wsc_parse_double(optarg, &o->settle);
			break;
		case O_CC:
			bad = wsc_parse_uint(optarg, 100000, &v);
			o->connect_concurrency = (unsigned)v;
			break;
		case O_HC:
			bad = wsc_parse_uint(optarg, 100000, &v);
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
	if (wsc_raise_nofile(x.o.connections))
		fprintf(stderr, "bench_register: cannot raise the descriptor limit to %u\n",
		        x.o.connections + 64);
	wsc_rand_seed();
	x.run_id = (uint32_t)wsc_rand();
	struct wsc_options wo = {
	    .host = x.o.host,
	    .port = x.o.port,
	    .path = x.o.path,
	    .tls = x.o.tls,
	    .connections = x.o.connections,
	    .connect_concurrency = x.o.connect_concurrency,
	};
	int rc = wsc_new(&x.pool, &wo, &(struct wsc_handlers){on_sip, on_close, &x});
	if (rc == -EINVAL) {
		fprintf(stderr, "bench_register: --host must be an IPv4 address: %s\n", x.o.host);
		return 2;
	}
	x.msg = sip_msg_new(NULL);
	x.conns = calloc(x.o.connections, sizeof *x.conns);
	struct reg_slot *slots = calloc((size_t)x.o.connections * x.o.outstanding, sizeof *slots);
	if (rc || !x.msg || !x.conns || !slots) {
		fprintf(stderr, "bench_register: out of memory\n");
		return 2;
	}
	for (unsigned i = 0; i < x.o.connections; i++) {
		x.conns[i].ws = wsc_conn_at(x.pool, i);
		x.conns[i].tag = (uint32_t)wsc_rand();
		x.conns[i].slots = slots + (size_t)i * x.o.outstanding;
	}

	struct wsc_proc_usage before = {0};
	if (x.o.server_pid && wsc_proc_usage_read(x.o.server_pid, x.o.hold, &before)) {
		fprintf(stderr, "bench_register: no process %d\n", x.o.server_pid);
		return 2;
	}
	uint64_t t = wsc_now_ns();
	unsigned open = wsc_connect_all(x.pool, 60);
	x.opened = open;
	fprintf(stderr, "bench_register: %u of %u connections open in %.2f s\n", open,
	        x.o.connections, (double)(wsc_now_ns() - t) / 1e9);
	if (!open) {
		struct wsc_counts k = wsc_counts(x.pool);
		printf("RESULT label=%s mode=%s connections=0 connect_failed=%u conn_lost=%u\n",
		       x.o.label, x.o.hold ? "hold" : "load", k.connect_failed, k.lost);
		return 1;
	}
	rc = x.o.hold ? run_hold(&x, &before) : run_load(&x);
	wsc_free(x.pool);
	wsc_latency_free(&x.st.lat);
	free(slots);
	free(x.conns);
	sip_msg_free(x.msg);
	return rc;
}
