/* load — the shared parts of the SIP load tools (see load.h). */
#define _GNU_SOURCE
#include "load.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* ---- options ---- */

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
	O_CC,
	O_TLS,
	O_LABEL,
	O_HELP,
};

static const struct option SHARED_OPTIONS[] = {
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
    {"connect-concurrency", required_argument, NULL, O_CC},
    {"tls", no_argument, NULL, O_TLS},
    {"label", required_argument, NULL, O_LABEL},
    {"help", no_argument, NULL, O_HELP},
};

#define SHARED_COUNT (sizeof SHARED_OPTIONS / sizeof SHARED_OPTIONS[0])
#define TOOL_MAX 16

/* A shared option's value. Returns 0, or -EINVAL for a bad one. */
static int parse_shared(int id, const char *value, unsigned outstanding_max,
                        struct load_options *o)
{
	unsigned long long v = 0;
	int bad = 0;
	switch (id) {
	case O_HOST:
		o->host = value;
		break;
	case O_PORT:
		bad = wsc_parse_uint(value, 65535, &v);
		o->port = (unsigned)v;
		break;
	case O_PATH:
		o->path = value;
		break;
	case O_CONN:
		bad = wsc_parse_uint(value, 1000000, &v);
		o->connections = (unsigned)v;
		break;
	case O_USERS:
		bad = wsc_parse_uint(value, 100000000, &v);
		o->users = (unsigned)v;
		break;
	case O_UPFX:
		o->user_prefix = value;
		break;
	case O_PPFX:
		o->password_prefix = value;
		break;
	case O_REALM:
		o->realm = value;
		break;
	case O_RATE:
		bad = wsc_parse_double(value, &o->rate);
		break;
	case O_OUT:
		bad = wsc_parse_uint(value, outstanding_max, &v);
		o->outstanding = (unsigned)v;
		o->outstanding_given = true;
		break;
	case O_DUR:
		bad = wsc_parse_double(value, &o->duration);
		break;
	case O_WARM:
		bad = wsc_parse_double(value, &o->warmup);
		break;
	case O_COUNT:
		bad = wsc_parse_uint(value, UINT64_MAX, &v);
		o->count = v;
		break;
	case O_TMO:
		bad = wsc_parse_uint(value, 600000, &v);
		o->timeout_ms = (unsigned)v;
		break;
	case O_EXP:
		bad = wsc_parse_uint(value, 604800, &v);
		o->expires = (unsigned)v;
		break;
	case O_PID:
		bad = wsc_parse_uint(value, 1u << 30, &v);
		o->server_pid = (int)v;
		break;
	case O_CORE:
		bad = wsc_parse_uint(value, 4095, &v);
		o->server_core = (int)v;
		break;
	case O_CC:
		bad = wsc_parse_uint(value, 100000, &v);
		o->connect_concurrency = (unsigned)v;
		break;
	case O_TLS:
		o->tls = true;
		break;
	case O_LABEL:
		o->label = value;
		break;
	}
	return bad;
}

int load_options_parse(int argc, char **argv, const struct load_tool *t, struct load_options *o)
{
	*o = (struct load_options){
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
	    .connect_concurrency = 256,
	    .label = "server",
	    .server_core = -1,
	};
	struct option longs[SHARED_COUNT + TOOL_MAX + 1];
	size_t n = 0;
	memcpy(longs, SHARED_OPTIONS, sizeof SHARED_OPTIONS);
	n = SHARED_COUNT;
	for (const struct option *e = t->options; e && e->name; e++) {
		if (n == SHARED_COUNT + TOOL_MAX)
			return -EINVAL;
		longs[n++] = *e;
	}
	longs[n] = (struct option){0};
	int opt;
	while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		int bad;
		if (opt == O_HELP) {
			t->usage(stdout);
			exit(0);
		} else if (opt >= LOAD_OPTION_TOOL) {
			bad = t->parse(t->arg, opt, optarg);
		} else if (opt >= O_HOST && opt < O_HELP) {
			bad = parse_shared(opt, optarg, t->outstanding_max, o);
		} else {
			return -EINVAL;
		}
		if (bad) {
			const char *name = "?";
			for (size_t i = 0; i < n; i++)
				if (longs[i].val == opt)
					name = longs[i].name;
			fprintf(stderr, "%s: bad value for --%s: %s\n", t->name, name, optarg);
			return -EINVAL;
		}
	}
	if (optind != argc || !o->connections || !o->outstanding || !o->connect_concurrency ||
	    o->duration <= 0 || !o->timeout_ms || (t->valid && !t->valid(t->arg, o))) {
		fprintf(stderr, "%s: bad arguments (see --help)\n", t->name);
		return -EINVAL;
	}
	return 0;
}

unsigned load_user_of(const struct load_options *o, unsigned conn_i)
{
	return o->users ? conn_i % o->users : conn_i;
}

/* ---- the start ---- */

int load_pool_new(const char *tool, const struct load_options *o, const struct wsc_handlers *h,
                  struct wsc **pool)
{
	signal(SIGPIPE, SIG_IGN);
	if (wsc_raise_nofile(o->connections))
		fprintf(stderr, "%s: cannot raise the descriptor limit to %u\n", tool,
		        o->connections + 64);
	wsc_rand_seed();
	struct wsc_options wo = {
	    .host = o->host,
	    .port = o->port,
	    .path = o->path,
	    .tls = o->tls,
	    .connections = o->connections,
	    .connect_concurrency = o->connect_concurrency,
	};
	int rc = wsc_new(pool, &wo, h);
	if (rc == -EINVAL)
		fprintf(stderr, "%s: --host must be an IPv4 address: %s\n", tool, o->host);
	else if (rc)
		fprintf(stderr, "%s: out of memory\n", tool);
	return rc;
}

unsigned load_connect(const char *tool, struct wsc *pool, const struct load_options *o,
                      bool connectionless)
{
	uint64_t t = wsc_now_ns();
	unsigned open = connectionless ? o->connections : wsc_connect_all(pool, 60);
	fprintf(stderr, "%s: %u of %u connections open in %.2f s\n", tool, open, o->connections,
	        (double)(wsc_now_ns() - t) / 1e9);
	return open;
}

void load_result_unopened(const struct load_options *o, const char *mode, const struct wsc *pool)
{
	struct wsc_counts k = wsc_counts(pool);
	printf("RESULT label=%s mode=%s connections=0 connect_failed=%u conn_lost=%u\n", o->label,
	       mode, k.connect_failed, k.lost);
}

int load_server_check(const char *tool, const struct load_options *o, bool with_memory,
                      struct wsc_proc_usage *u)
{
	if (!o->server_pid)
		return 0;
	int rc = wsc_proc_usage_read(o->server_pid, with_memory, u);
	if (rc)
		fprintf(stderr, "%s: no process %d\n", tool, o->server_pid);
	return rc;
}

/* ---- the drivers ---- */

void load_fill_closed_loop(struct load_driver *d)
{
	const struct load_slots *s = &d->s;
	uint64_t now = wsc_now_ns();
	for (unsigned i = 0; i < d->o->connections && s->may_start(s->arg); i++) {
		if (!s->usable(s->arg, i) || s->busy(s->arg, i) == d->o->outstanding)
			continue;
		/* A start that cannot be sent closes the connection. */
		for (unsigned k = 0; k < d->o->outstanding && s->may_start(s->arg); k++)
			if (s->idle(s->arg, i, k) && s->usable(s->arg, i))
				s->start(s->arg, i, k, now);
	}
}

int load_next_conn(struct load_driver *d)
{
	const struct load_slots *s = &d->s;
	for (unsigned tried = 0; tried < d->o->connections; tried++) {
		unsigned i = d->rr;
		d->rr = (d->rr + 1) % d->o->connections;
		if (s->usable(s->arg, i) && s->busy(s->arg, i) < d->o->outstanding)
			return (int)i;
	}
	return -1;
}

void load_start_idle(struct load_driver *d, unsigned conn, uint64_t due)
{
	const struct load_slots *s = &d->s;
	for (unsigned k = 0; k < d->o->outstanding; k++)
		if (s->idle(s->arg, conn, k)) {
			s->start(s->arg, conn, k, due);
			return;
		}
}

void load_fill_paced(struct load_driver *d)
{
	uint64_t now = wsc_now_ns();
	uint64_t step = (uint64_t)(1e9 / d->o->rate);
	while (d->sched_next <= now && d->s.may_start(d->s.arg)) {
		int i = load_next_conn(d);
		if (i < 0)
			return;
		load_start_idle(d, (unsigned)i, d->sched_next);
		d->sched_next += step;
	}
}

/* ---- the measurement window ---- */

void load_window_init(struct load_window *w, const struct load_options *o, int uas_pid,
                      uint64_t now)
{
	*w = (struct load_window){
	    .t0 = now,
	    .server = {.pid = o->server_pid},
	    .uas = {.pid = uas_pid},
	    .server_core = {.core = o->server_core},
	    .client_core = {.core = wsc_own_core()},
	};
}

static void proc_start(struct load_proc *p)
{
	p->have = p->pid && !wsc_proc_usage_read(p->pid, false, &p->u0);
}

/* A process of the tree that ended took its CPU time along: then the
 * difference means nothing. */
static void proc_stop(struct load_proc *p)
{
	if (p->have)
		p->have = !wsc_proc_usage_read(p->pid, false, &p->u1) &&
		          p->u1.cpu_ticks >= p->u0.cpu_ticks && p->u1.processes >= p->u0.processes;
}

void load_window_start(struct load_window *w, uint64_t now)
{
	w->t0 = now;
	proc_start(&w->server);
	proc_start(&w->uas);
	wsc_core_watch_start(&w->server_core);
	wsc_core_watch_start(&w->client_core);
	w->client0 = wsc_self_cpu_us();
}

void load_window_stop(struct load_window *w, uint64_t now)
{
	w->t1 = now;
	w->client1 = wsc_self_cpu_us();
	proc_stop(&w->server);
	proc_stop(&w->uas);
	wsc_core_watch_stop(&w->server_core);
	wsc_core_watch_stop(&w->client_core);
}

/* CPU of p over the window per unit of work, and as a share of a core. */
static void proc_figures(const struct load_proc *p, uint64_t done, double secs, double *per,
                         double *load)
{
	double cpu = p->have ? wsc_ticks_us(p->u1.cpu_ticks - p->u0.cpu_ticks) : -1;
	*per = p->have && done ? cpu / (double)done : -1;
	*load = p->have ? cpu / 1e6 / secs : -1;
}

void load_window_figures(const struct load_window *w, uint64_t done, struct load_figures *f)
{
	f->secs = (double)(w->t1 - w->t0) / 1e9;
	proc_figures(&w->server, done, f->secs, &f->srv_us, &f->srv_load);
	proc_figures(&w->uas, done, f->secs, &f->uas_us, &f->uas_load);
	f->cli_us = done ? (w->client1 - w->client0) / (double)done : 0;
	f->cli_load = (w->client1 - w->client0) / 1e6 / f->secs;
	/* Both are counted in ticks, so a quiet core can come out a little
	 * below zero: that is zero. */
	f->srv_other = w->server_core.busy >= 0 && w->server.have
	                   ? fmax(0, w->server_core.busy - f->srv_load)
	                   : -1;
	f->cli_other =
	    w->client_core.busy >= 0
	        ? fmax(0, w->client_core.busy - f->cli_load - (w->uas.have ? f->uas_load : 0))
	        : -1;
}

void load_print_cpu(const struct load_window *w, const struct load_figures *f, const char *per)
{
	if (w->server.have)
		printf("  server CPU             %.1f us per %s (%.0f%% of a core, %u processes)\n",
		       f->srv_us, per, 100 * f->srv_load, w->server.u1.processes);
	if (f->srv_other >= 0)
		printf("  server's core          %.0f%% busy, %.0f%% of it not the server\n",
		       100 * w->server_core.busy, 100 * f->srv_other);
	if (w->uas.have)
		printf("  called party (UAS) CPU %.1f us per %s (%.0f%% of a core)\n", f->uas_us, per,
		       100 * f->uas_load);
	printf("  load tool CPU          %.1f us per %s (%.0f%% of a core)\n", f->cli_us, per,
	       100 * f->cli_load);
	if (f->cli_other >= 0)
		printf("  load tool's core       %.0f%% busy, %.0f%% of it not the tool%s\n",
		       100 * w->client_core.busy, 100 * f->cli_other,
		       w->uas.have ? " or the UAS" : "");
}

void load_result_cpu(const struct load_window *w, const struct load_figures *f, const char *per,
                     bool with_uas)
{
	printf(" server_cpu_us_per_%s=%.1f server_core_load=%.3f", per, f->srv_us, f->srv_load);
	if (with_uas)
		printf(" uas_cpu_us_per_%s=%.1f uas_core_load=%.3f", per, f->uas_us, f->uas_load);
	printf(" client_cpu_us_per_%s=%.1f client_core_load=%.3f server_core_busy=%.3f "
	       "server_core_other=%.3f client_core_other=%.3f",
	       per, f->cli_us, f->cli_load, w->server_core.busy, f->srv_other, f->cli_other);
}

/* ---- failures ---- */

uint64_t load_fail_total(const uint64_t *fail, int kinds)
{
	uint64_t t = 0;
	for (int i = 0; i < kinds; i++)
		t += fail[i];
	return t;
}

void load_print_failures(const char *const *names, const uint64_t *fail, int kinds)
{
	printf("  failures               %" PRIu64 "\n", load_fail_total(fail, kinds));
	for (int i = 0; i < kinds; i++)
		if (fail[i])
			printf("  failures %-16s %" PRIu64 "\n", names[i], fail[i]);
}

void load_result_failures(const char *const *names, const uint64_t *fail, int kinds)
{
	printf(" failures=%" PRIu64, load_fail_total(fail, kinds));
	for (int i = 0; i < kinds; i++)
		printf(" fail_%s=%" PRIu64, names[i], fail[i]);
}

void load_print_lost(const struct wsc *pool)
{
	unsigned lost = wsc_counts(pool).lost;
	if (lost)
		printf("  connections lost       %u (closed by the server or broken)\n", lost);
}

/* ---- registration ---- */

int load_register_format(char *buf, size_t size, const struct load_options *o,
                         const struct load_register *r)
{
	unsigned user = load_user_of(o, r->conn);
	int n = snprintf(buf, size,
	                 "REGISTER sip:%s SIP/2.0\r\n"
	                 "Via: SIP/2.0/%s %s;branch=z9hG4bK%016" PRIx64 "\r\n"
	                 "Max-Forwards: 70\r\n"
	                 "To: <sip:%s%u@%s>\r\n"
	                 "From: <sip:%s%u@%s>;tag=%08" PRIx32 "%s\r\n"
	                 "Call-ID: %08" PRIx32 "-%u-%s\r\n"
	                 "CSeq: %" PRIu32 " REGISTER\r\n"
	                 "Contact: <sip:k%08" PRIx32 "@%s;transport=%s>\r\n"
	                 "Expires: %u\r\n"
	                 "%s%s%s"
	                 "Allow: ACK,CANCEL,INVITE,MESSAGE,BYE,OPTIONS,INFO,NOTIFY,REFER\r\n"
	                 "User-Agent: sipwire-bench\r\n"
	                 "Content-Length: 0\r\n"
	                 "\r\n",
	                 o->realm, r->via_transport, r->host, wsc_rand(), o->user_prefix, user,
	                 o->realm, o->user_prefix, user, o->realm, r->tag, r->tag_key, r->run_id,
	                 r->conn, r->call_key, r->cseq, r->tag, r->host, r->contact_transport,
	                 o->expires, r->auth ? "Authorization: " : "", r->auth ? r->auth : "",
	                 r->auth ? "\r\n" : "");
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

int load_digest_answer(const struct load_options *o, unsigned conn_i,
                       const struct sip_auth_challenge *ch, const char *method, const char *uri,
                       sip_pl body, char *out, size_t size)
{
	unsigned user_i = load_user_of(o, conn_i);
	char user[96], password[96], cnonce[24];
	snprintf(user, sizeof user, "%s%u", o->user_prefix, user_i);
	snprintf(password, sizeof password, "%s%u", o->password_prefix, user_i);
	snprintf(cnonce, sizeof cnonce, "%016" PRIx64, wsc_rand());
	struct sip_auth_client_params p = {
	    .username = sip_pl_from_cstr(user),
	    .password = sip_pl_from_cstr(password),
	    .method = sip_pl_from_cstr(method),
	    .uri = sip_pl_from_cstr(uri),
	    .body = body,
	    .cnonce = sip_pl_from_cstr(cnonce),
	    .nc = 1,
	};
	return sip_auth_client_answer(ch, &p, out, size);
}
