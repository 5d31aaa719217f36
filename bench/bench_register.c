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
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "load.h"
#include "sip/sip_auth.h"
#include "sip/sip_hdr.h"
#include "sip/sip_msg.h"
#include "ws_client.h"

/* ---- options (beside the shared ones, load.h) ---- */

struct options {
	bool hold;
	double settle;
	unsigned hold_concurrency;
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
	char host[32]; /* of Via and Contact: TAG.invalid */
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
	struct load_options o;
	struct options own;
	struct wsc *pool;
	struct conn *conns;
	unsigned opened; /* connections open after the connect phase */
	uint32_t run_id;
	uint64_t in_flight;
	struct load_driver driver;
	uint64_t hold_next; /* hold: next connection to register */
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
	char tag_key[16], call_key[16];
	snprintf(tag_key, sizeof tag_key, "s%u", si);
	snprintf(call_key, sizeof call_key, "%u", si);
	s->cseq++;
	struct load_register r = {
	    .conn = conn_index(x, c),
	    .run_id = x->run_id,
	    .tag = c->tag,
	    .cseq = s->cseq,
	    .host = c->host,
	    .via_transport = "WS",
	    .contact_transport = "ws",
	    .tag_key = tag_key,
	    .call_key = call_key,
	    .auth = auth,
	};
	int n = load_register_format(x->scratch, sizeof x->scratch, &x->o, &r);
	if (n < 0)
		return n;
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
	char uri[160], auth[1024];
	snprintf(uri, sizeof uri, "sip:%s", x->o.realm);
	if (load_digest_answer(&x->o, conn_index(x, c), &ch, "REGISTER", uri, (sip_pl){0}, auth,
	                       sizeof auth) < 0) {
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

static bool may_start(void *arg)
{
	const struct ctx *x = arg;
	return (x->phase == PH_WARMUP || x->phase == PH_MEASURE) &&
	       (!x->o.count || x->phase != PH_MEASURE || x->st.started < x->o.count);
}

/* ---- the slots, as the drivers see them ---- */

static bool slots_usable(void *arg, unsigned conn)
{
	const struct ctx *x = arg;
	return conn_open(&x->conns[conn]);
}

static unsigned slots_busy(void *arg, unsigned conn)
{
	const struct ctx *x = arg;
	return x->conns[conn].busy;
}

static bool slots_idle(void *arg, unsigned conn, unsigned slot)
{
	const struct ctx *x = arg;
	return x->conns[conn].slots[slot].phase == REG_IDLE;
}

static void slots_start(void *arg, unsigned conn, unsigned slot, uint64_t due)
{
	struct ctx *x = arg;
	reg_start(x, &x->conns[conn], slot, due);
}

static double pct_us(const struct stats *st, double q)
{
	return wsc_latency_pct_us(&st->lat, q);
}

static uint64_t fail_total(const struct stats *st)
{
	return load_fail_total(st->fail, FAIL__COUNT);
}

static void print_failures(const struct stats *st)
{
	load_print_failures(FAIL_NAMES, st->fail, FAIL__COUNT);
	for (int s = 0; s < 700; s++)
		if (st->bad_status[s])
			printf("  unexpected status %d: %" PRIu32 "\n", s, st->bad_status[s]);
}

static int run_load(struct ctx *x)
{
	const struct load_options *o = &x->o;
	uint64_t t = wsc_now_ns();
	x->phase = o->warmup > 0 ? PH_WARMUP : PH_MEASURE;
	uint64_t measure_at = t + wsc_sec_to_ns(o->warmup);
	uint64_t stop_at = measure_at + wsc_sec_to_ns(o->duration);
	uint64_t last_timeout_check = t;
	struct load_window w;
	load_window_init(&w, o, 0, t);
	x->driver.sched_next = t;
	if (x->phase == PH_MEASURE)
		load_window_start(&w, t);
	uint64_t drain_until = 0;
	for (;;) {
		uint64_t now = wsc_now_ns();
		if (x->phase == PH_WARMUP && now >= measure_at) {
			x->phase = PH_MEASURE;
			stats_reset(&x->st);
			load_window_start(&w, now);
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
			load_fill_paced(&x->driver);
		else
			load_fill_closed_loop(&x->driver);
		wsc_poll(x->pool, o->rate > 0 ? 1 : 10);
	}
	load_window_stop(&w, wsc_now_ns());
	check_timeouts(x, UINT64_MAX); /* whatever is left did not finish in time */

	struct stats *st = &x->st;
	wsc_latency_sort(&st->lat);
	struct load_figures f;
	load_window_figures(&w, st->ok, &f);
	double rate = (double)st->ok / f.secs;

	printf("bench_register %s: %s, %u connections (%u failed to open), %u outstanding each\n",
	       o->label, o->rate > 0 ? "paced" : "closed loop", x->opened,
	       wsc_counts(x->pool).connect_failed, o->outstanding);
	if (o->rate > 0)
		printf("  offered rate           %.0f REGISTER/s\n", o->rate);
	printf("  measured               %.2f s (after %.1f s warm-up)\n", f.secs, o->warmup);
	printf("  registrations started  %" PRIu64 "\n", st->started);
	printf("  registrations ok       %" PRIu64 "\n", st->ok);
	printf("  registrations/s        %.0f\n", rate);
	printf("  latency p50/p90/p99    %.0f / %.0f / %.0f us\n", pct_us(st, 0.50),
	       pct_us(st, 0.90), pct_us(st, 0.99));
	printf("  latency max            %.0f us\n", pct_us(st, 1.0));
	print_failures(st);
	load_print_lost(x->pool);
	load_print_cpu(&w, &f, "registration");
	printf("RESULT label=%s mode=%s connections=%u outstanding=%u offered_rate=%.0f "
	       "seconds=%.3f started=%" PRIu64 " ok=%" PRIu64
	       " rate=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f",
	       o->label, o->rate > 0 ? "paced" : "closed", x->opened, o->outstanding, o->rate,
	       f.secs, st->started, st->ok, rate, pct_us(st, 0.50), pct_us(st, 0.90),
	       pct_us(st, 0.99), pct_us(st, 1.0));
	load_result_failures(FAIL_NAMES, st->fail, FAIL__COUNT);
	load_result_cpu(&w, &f, "reg", false);
	printf(" connect_failed=%u conn_lost=%u\n", wsc_counts(x->pool).connect_failed,
	       wsc_counts(x->pool).lost);
	return fail_total(st) || wsc_counts(x->pool).connect_failed || wsc_counts(x->pool).lost ||
	               !st->ok
	           ? 1
	           : 0;
}

/* Hold: connections are already open; register each once (at most
 * --hold-concurrency in flight), let the server settle, read its memory. */
static int run_hold(struct ctx *x, const struct wsc_proc_usage *before)
{
	const struct load_options *o = &x->o;
	x->phase = PH_HOLD_REGISTER;
	uint64_t deadline =
	    wsc_now_ns() + wsc_sec_to_ns(o->duration) + (uint64_t)o->timeout_ms * 1000000u;
	uint64_t last_check = wsc_now_ns();
	while (wsc_now_ns() < deadline) {
		while (x->hold_next < o->connections && x->in_flight < x->own.hold_concurrency) {
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
	uint64_t settle_until = wsc_now_ns() + wsc_sec_to_ns(x->own.settle);
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
	print_failures(st);
	load_print_lost(x->pool);
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
	load_result_failures(FAIL_NAMES, st->fail, FAIL__COUNT);
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

enum { O_HOLD = LOAD_OPTION_TOOL, O_SETTLE, O_HC };

static const struct option OWN_OPTIONS[] = {
    {"hold", no_argument, NULL, O_HOLD},
    {"settle", required_argument, NULL, O_SETTLE},
    {"hold-concurrency", required_argument, NULL, O_HC},
    {NULL, 0, NULL, 0},
};

static int parse_own(void *arg, int id, const char *value)
{
	struct options *o = arg;
	unsigned long long v;
	int bad = 0;
	switch (id) {
	case O_HOLD:
		o->hold = true;
		break;
	case O_SETTLE:
		bad = wsc_parse_double(value, &o->settle);
		break;
	case O_HC:
		bad = wsc_parse_uint(value, 100000, &v);
		o->hold_concurrency = (unsigned)v;
		break;
	}
	return bad;
}

static bool own_valid(void *arg, const struct load_options *shared)
{
	(void)shared;
	const struct options *o = arg;
	return o->hold_concurrency;
}

static int parse_options(int argc, char **argv, struct ctx *x)
{
	x->own = (struct options){.settle = 2, .hold_concurrency = 200};
	const struct load_tool tool = {
	    .name = "bench_register",
	    .outstanding_max = 1000,
	    .options = OWN_OPTIONS,
	    .parse = parse_own,
	    .valid = own_valid,
	    .usage = usage,
	    .arg = &x->own,
	};
	if (load_options_parse(argc, argv, &tool, &x->o))
		return -EINVAL;
	if (x->own.hold)
		x->o.outstanding = 1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct ctx x;
	if (parse_options(argc, argv, &x)) {
		usage(stderr);
		return 2;
	}
	if (load_pool_new("bench_register", &x.o, &(struct wsc_handlers){on_sip, on_close, &x},
	                  &x.pool))
		return 2;
	x.run_id = (uint32_t)wsc_rand();
	x.msg = sip_msg_new(NULL);
	x.conns = calloc(x.o.connections, sizeof *x.conns);
	struct reg_slot *slots = calloc((size_t)x.o.connections * x.o.outstanding, sizeof *slots);
	if (!x.msg || !x.conns || !slots) {
		fprintf(stderr, "bench_register: out of memory\n");
		return 2;
	}
	for (unsigned i = 0; i < x.o.connections; i++) {
		x.conns[i].ws = wsc_conn_at(x.pool, i);
		x.conns[i].tag = (uint32_t)wsc_rand();
		x.conns[i].slots = slots + (size_t)i * x.o.outstanding;
		snprintf(x.conns[i].host, sizeof x.conns[i].host, "%08" PRIx32 ".invalid",
		         x.conns[i].tag);
	}
	x.driver = (struct load_driver){
	    .o = &x.o,
	    .s = {&x, slots_usable, slots_busy, slots_idle, slots_start, may_start},
	};

	struct wsc_proc_usage before = {0};
	if (load_server_check("bench_register", &x.o, x.own.hold, &before))
		return 2;
	x.opened = load_connect("bench_register", x.pool, &x.o, false);
	if (!x.opened) {
		load_result_unopened(&x.o, x.own.hold ? "hold" : "load", x.pool);
		return 1;
	}
	int rc = x.own.hold ? run_hold(&x, &before) : run_load(&x);

	wsc_free(x.pool);
	wsc_latency_free(&x.st.lat);
	free(slots);
	free(x.conns);
	sip_msg_free(x.msg);
	return rc;
}
