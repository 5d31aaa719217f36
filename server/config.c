/* config.c — see config.h.
 *
 * Every scalar setting is one row of `options`: its JSON key path, its flag (if
 * it has a short one), its type and range. The environment name is derived from
 * the path, so the file, the environment and the command line cannot drift
 * apart. Users are the one list with their own syntax in each source. */
#include "server/config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <unistd.h>

#include "sip/sip_uri.h"

/* The softphone's folder when none is configured: the source tree's
 * web-demo/ (CMake sets it; an installed build points it elsewhere). */
#ifndef SIPWIRE_DEMO_DIR
#define SIPWIRE_DEMO_DIR "web-demo"
#endif

enum opt_type {
	OPT_STR,       /* any string without control characters, may be empty */
	OPT_NAME,      /* non-empty, printable, no '"' or '\\' (realm) */
	OPT_PATH,      /* non-empty string */
	OPT_ADDR,      /* numeric IPv4/IPv6 address */
	OPT_UINT,      /* unsigned */
	OPT_SIZE,      /* size_t */
	OPT_LEVEL,     /* enum sipwire_log_level */
	OPT_MODE,      /* enum sipwire_mode */
	OPT_TRANSPORT, /* enum sipwire_transport */
	OPT_ORIGINS,   /* struct sipwire_strlist of origins */
	OPT_CODECS,    /* struct sipwire_strlist of codec names */
	OPT_BOOL,      /* bool: JSON true/false, elsewhere "true"/"false" */
	OPT_REFER,     /* enum sipwire_refer_mode */
	OPT_LOGFMT,    /* enum sipwire_log_format */
	OPT_PREFIXES,  /* struct sipwire_strlist of addresses with optional /prefix */
	OPT_ACCEPT,    /* enum sipwire_accept_from */
};

struct option_def {
	const char *path;
	const char *flag; /* NULL: only through --set PATH=VALUE */
	enum opt_type type;
	size_t off;
	unsigned long min, max;
};

#define AT(field) offsetof(struct sipwire_config, field)

static const struct option_def options[] = {
    {"listen.bind", "--bind", OPT_ADDR, AT(listen.bind), 0, 0},
    {"listen.ws_port", "--ws-port", OPT_UINT, AT(listen.ws_port), 0, 65535},
    {"listen.wss_port", "--wss-port", OPT_UINT, AT(listen.wss_port), 0, 65535},
    {"listen.sip_port", "--sip-port", OPT_UINT, AT(listen.sip_port), 0, 65535},
    {"listen.tls_port", "--tls-port", OPT_UINT, AT(listen.tls_port), 0, 65535},
    {"tls.cert_file", NULL, OPT_STR, AT(tls.cert_file), 0, 0},
    {"tls.key_file", NULL, OPT_STR, AT(tls.key_file), 0, 0},
    {"tls.verify_server", NULL, OPT_BOOL, AT(tls.verify_server), 0, 0},
    {"tls.ca_file", NULL, OPT_STR, AT(tls.ca_file), 0, 0},
    {"ws.allowed_origins", NULL, OPT_ORIGINS, AT(ws.allowed_origins), 0, 0},
    {"ws.ping_interval", NULL, OPT_UINT, AT(ws.ping_interval), 1, 3600},
    {"ws.idle_timeout", NULL, OPT_UINT, AT(ws.idle_timeout), 2, 7200},
    {"realm", "--realm", OPT_NAME, AT(realm), 0, 0},
    {"registrar.min_expires", NULL, OPT_UINT, AT(registrar.min_expires), 1, 604800},
    {"registrar.max_expires", NULL, OPT_UINT, AT(registrar.max_expires), 1, 604800},
    {"registrar.default_expires", NULL, OPT_UINT, AT(registrar.default_expires), 1, 604800},
    {"registrar.max_bindings_per_user", NULL, OPT_UINT, AT(registrar.max_bindings_per_user), 1, 1000},
    {"auth.algorithms", NULL, OPT_STR, AT(auth.algorithms_text), 0, 0},
    {"auth.max_failures", NULL, OPT_UINT, AT(auth.max_failures), 1, 1000000},
    {"auth.failure_window", NULL, OPT_UINT, AT(auth.failure_window), 1, 86400},
    {"sip.limits.max_message_size", NULL, OPT_SIZE, AT(sip.limits.max_msg_size), 1024, 16777216},
    {"sip.limits.max_headers", NULL, OPT_UINT, AT(sip.limits.max_headers), 16, 1024},
    {"sip.limits.max_line_len", NULL, OPT_SIZE, AT(sip.limits.max_line_len), 256, 65536},
    {"sip.limits.max_via", NULL, OPT_UINT, AT(sip.limits.max_via), 1, 256},
    {"sip.timers.t1", NULL, OPT_UINT, AT(sip.timers.t1), 50, 10000},
    {"sip.timers.t2", NULL, OPT_UINT, AT(sip.timers.t2), 100, 60000},
    {"sip.timers.t4", NULL, OPT_UINT, AT(sip.timers.t4), 100, 60000},
    {"sip.accept_from", NULL, OPT_ACCEPT, AT(sip.accept_from), 0, 0},
    {"limits.connections_per_second", NULL, OPT_UINT, AT(limits.connections_per_second), 0, 1000000},
    {"limits.connections_per_address", NULL, OPT_UINT, AT(limits.connections_per_address), 0, 1000000},
    {"limits.requests_per_second", NULL, OPT_UINT, AT(limits.requests_per_second), 0, 1000000},
    {"limits.exempt", NULL, OPT_PREFIXES, AT(limits.exempt), 0, 0},
    {"limits.handshake_timeout", NULL, OPT_UINT, AT(limits.handshake_timeout), 1, 300},
    {"limits.message_timeout", NULL, OPT_UINT, AT(limits.message_timeout), 1, 300},
    {"mode", NULL, OPT_MODE, AT(mode), 0, 0},
    {"pbx.host", NULL, OPT_STR, AT(pbx.host), 0, 0},
    {"pbx.port", NULL, OPT_UINT, AT(pbx.port), 0, 65535},
    {"pbx.transport", NULL, OPT_TRANSPORT, AT(pbx.transport), 0, 0},
    {"calls.max_calls", NULL, OPT_UINT, AT(calls.max_calls), 1, 1000000},
    {"calls.max_per_user", NULL, OPT_UINT, AT(calls.max_per_user), 1, 10000},
    {"calls.auto_180", NULL, OPT_BOOL, AT(calls.auto_180), 0, 0},
    {"calls.no_answer_timeout", NULL, OPT_UINT, AT(calls.no_answer_timeout), 1, 3600},
    {"calls.session_expires", NULL, OPT_UINT, AT(calls.session_expires), 0, 86400},
    {"calls.refer", NULL, OPT_REFER, AT(calls.refer), 0, 0},
    {"media.address", NULL, OPT_STR, AT(media.address), 0, 0},
    {"media.rtp_port_min", NULL, OPT_UINT, AT(media.rtp_port_min), 1024, 65534},
    {"media.rtp_port_max", NULL, OPT_UINT, AT(media.rtp_port_max), 1025, 65535},
    {"media.public_ip", "--public-ip", OPT_STR, AT(media.public_ip), 0, 0},
    {"media.ice_lite", NULL, OPT_BOOL, AT(media.ice_lite), 0, 0},
    {"media.ice_timeout", NULL, OPT_UINT, AT(media.ice_timeout), 1, 300},
    {"media.timeout", NULL, OPT_UINT, AT(media.timeout), 0, 86400},
    {"media.ws_webrtc", NULL, OPT_BOOL, AT(media.ws_webrtc), 0, 0},
    {"media.codecs", NULL, OPT_CODECS, AT(media.codecs), 0, 0},
    {"media.workers", "--media-workers", OPT_UINT, AT(media.workers), 0, 64},
    {"media.realtime_priority", NULL, OPT_UINT, AT(media.realtime_priority), 0, 99},
    {"demo.enabled", NULL, OPT_BOOL, AT(demo.enabled), 0, 0},
    {"demo.dir", "--demo-dir", OPT_PATH, AT(demo.dir), 0, 0},
    {"log.level", "--log-level", OPT_LEVEL, AT(log_level), 0, 0},
    {"log.format", "--log-format", OPT_LOGFMT, AT(log_format), 0, 0},
    {"metrics.allow", NULL, OPT_PREFIXES, AT(metrics_allow), 0, 0},
    {"shutdown.drain_timeout", "--drain-timeout", OPT_UINT, AT(shutdown.drain_timeout), 0, 86400},
    {"state_dir", "--state-dir", OPT_PATH, AT(state_dir), 0, 0},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* Objects that only group other keys. */
static const char *const sections[] = {"listen",     "tls",       "ws",   "sip", "sip.limits",
                                       "sip.timers", "registrar", "auth", "pbx", "log",
                                       "calls",      "media",     "demo",   "metrics",
                                       "shutdown",   "limits"};

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const mode_names[] = {"local", "passthrough"};
/* The codecs the media layer carries (webrtc/sdh_rtp.h), in its default
 * order of preference. */
static const char *const codec_names[] = {"PCMU", "PCMA", "G722", "opus", "telephone-event"};
#define N_CODECS (sizeof codec_names / sizeof codec_names[0])
static const char *const transport_names[] = {"udp", "tcp", "tls"};
static const char *const bool_names[] = {"false", "true"};
static const char *const refer_names[] = {"pass", "gateway"};
static const char *const log_format_names[] = {"text", "logfmt", "json"};
static const char *const accept_names[] = {"any", "trunks"};

/* ---- errors ---- */

void config_errors_init(struct config_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
}

void config_errors_free(struct config_errors *errs)
{
	for (size_t i = 0; i < errs->count; i++)
		free(errs->msg[i]);
	free(errs->msg);
	config_errors_init(errs);
}

__attribute__((format(printf, 3, 4))) static void add_error(struct config_errors *errs,
                                                            const char *where, const char *fmt, ...)
{
	char text[512];
	int n = snprintf(text, sizeof(text), "%s: ", where);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(text)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	if (errs->count == errs->cap) {
		size_t cap = errs->cap ? errs->cap * 2 : 8;
		char **nm = realloc(errs->msg, cap * sizeof(*nm));
		if (!nm) {
			errs->oom = true;
			return;
		}
		errs->msg = nm;
		errs->cap = cap;
	}
	char *copy = strdup(text);
	if (!copy) {
		errs->oom = true;
		return;
	}
	errs->msg[errs->count++] = copy;
}

/* The result of a step: compares the error count before and after it. */
static int step_result(const struct config_errors *errs, size_t before)
{
	if (errs->oom)
		return -ENOMEM;
	return errs->count > before ? -EINVAL : 0;
}

/* ---- defaults and freeing ---- */

static void strlist_free(struct sipwire_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void users_free(struct sipwire_config *cfg)
{
	for (size_t i = 0; i < cfg->n_users; i++) {
		free(cfg->users[i].name);
		if (cfg->users[i].password) {
			size_t len = strlen(cfg->users[i].password);
			/* volatile: keep the wipe from being optimised away */
			volatile char *p = cfg->users[i].password;
			for (size_t k = 0; k < len; k++)
				p[k] = 0;
			free(cfg->users[i].password);
		}
	}
	free(cfg->users);
	cfg->users = NULL;
	cfg->n_users = 0;
}

static void trunks_free(struct sipwire_config *cfg);
static void routes_free(struct sipwire_config *cfg);

void sipwire_config_free(struct sipwire_config *cfg)
{
	free(cfg->config_file);
	free(cfg->listen.bind);
	free(cfg->tls.cert_file);
	free(cfg->tls.ca_file);
	free(cfg->auth.algorithms_text);
	free(cfg->tls.key_file);
	strlist_free(&cfg->ws.allowed_origins);
	strlist_free(&cfg->limits.exempt);
	free(cfg->realm);
	users_free(cfg);
	trunks_free(cfg);
	routes_free(cfg);
	free(cfg->pbx.host);
	free(cfg->media.address);
	free(cfg->media.public_ip);
	strlist_free(&cfg->media.codecs);
	free(cfg->demo.dir);
	strlist_free(&cfg->metrics_allow);
	free(cfg->state_dir);
	memset(cfg, 0, sizeof(*cfg));
}

int sipwire_config_defaults(struct sipwire_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen.bind = strdup("127.0.0.1");
	cfg->listen.ws_port = 8080;
	cfg->listen.wss_port = 8443;
	cfg->listen.sip_port = 5060;
	cfg->listen.tls_port = 0;
	cfg->tls.cert_file = strdup("");
	cfg->tls.key_file = strdup("");
	cfg->tls.ca_file = strdup("");
	cfg->tls.verify_server = true;
	cfg->realm = strdup("sipwire");
	cfg->registrar.min_expires = 60;
	cfg->registrar.max_expires = 3600;
	cfg->registrar.default_expires = 600;
	cfg->registrar.max_bindings_per_user = 16;
	cfg->ws.ping_interval = 30;
	cfg->ws.idle_timeout = 75;
	cfg->auth.algorithms_text = strdup("MD5");
	cfg->auth.max_failures = 5;
	cfg->auth.failure_window = 60;
	cfg->sip.limits = SIP_LIMITS_DEFAULT;
	cfg->sip.timers.t1 = 500;
	cfg->sip.timers.t2 = 4000;
	cfg->sip.timers.t4 = 5000;
	cfg->sip.accept_from = SIPWIRE_ACCEPT_ANY;
	cfg->limits.connections_per_second = 20;
	cfg->limits.connections_per_address = 256;
	cfg->limits.requests_per_second = 200;
	cfg->limits.handshake_timeout = 10;
	cfg->limits.message_timeout = 15;
	/* A proxy on this host makes every client look like loopback. */
	static const char *const loopback[] = {"127.0.0.0/8", "::1"};
	cfg->limits.exempt.v = calloc(2, sizeof(char *));
	for (size_t i = 0; cfg->limits.exempt.v && i < 2; i++)
		if ((cfg->limits.exempt.v[i] = strdup(loopback[i])))
			cfg->limits.exempt.n++;
	cfg->mode = SIPWIRE_MODE_LOCAL;
	cfg->pbx.host = strdup("");
	cfg->pbx.port = 0; /* RFC 3263: SRV for a name, else 5060 (5061 for TLS) */
	cfg->pbx.transport = SIPWIRE_TRANSPORT_UDP;
	cfg->calls.max_calls = 10000;
	cfg->calls.max_per_user = 8;
	cfg->calls.auto_180 = true;
	cfg->calls.no_answer_timeout = 120;
	cfg->calls.session_expires = 0;
	cfg->calls.refer = SIPWIRE_REFER_PASS;
	cfg->media.address = strdup("");
	cfg->media.rtp_port_min = 20000;
	cfg->media.rtp_port_max = 29999;
	cfg->media.public_ip = strdup("");
	cfg->media.ice_timeout = 10;
	cfg->media.timeout = 60;
	cfg->media.ws_webrtc = true;
	cfg->media.codecs.v = calloc(N_CODECS, sizeof(char *));
	for (size_t i = 0; cfg->media.codecs.v && i < N_CODECS; i++)
		if ((cfg->media.codecs.v[i] = strdup(codec_names[i])))
			cfg->media.codecs.n++;
	cfg->demo.enabled = true;
	cfg->demo.dir = strdup(SIPWIRE_DEMO_DIR);
	cfg->log_level = SIPWIRE_LOG_INFO;
	cfg->log_format = SIPWIRE_LOG_TEXT;
	cfg->shutdown.drain_timeout = 30;
	cfg->metrics_allow.v = calloc(2, sizeof(char *));
	if (cfg->metrics_allow.v && (cfg->metrics_allow.v[0] = strdup("127.0.0.0/8")))
		cfg->metrics_allow.n++;
	if (cfg->metrics_allow.v && (cfg->metrics_allow.v[1] = strdup("::1")))
		cfg->metrics_allow.n++;
	if (cfg->metrics_allow.n != 2 || !cfg->demo.dir || !cfg->listen.bind || !cfg->media.address ||
	    !cfg->media.public_ip ||
	    cfg->media.codecs.n != N_CODECS || cfg->limits.exempt.n != 2 ||
	    !cfg->tls.cert_file || !cfg->tls.key_file || !cfg->tls.ca_file ||
	    !cfg->realm || !cfg->auth.algorithms_text ||
	    !cfg->pbx.host)
		return -ENOMEM;
	return 0;
}

const char *sipwire_log_format_name(enum sipwire_log_format format)
{
	return (unsigned)format < 3 ? log_format_names[format] : "?";
}

const char *sipwire_log_level_name(enum sipwire_log_level level)
{
	if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
		return level_names[level];
	return "?";
}

/* ---- typed setters ---- */

static const struct option_def *find_option(const char *path)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strcmp(options[i].path, path) == 0)
			return &options[i];
	return NULL;
}

static bool is_section(const char *path)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (strcmp(sections[i], path) == 0)
			return true;
	return false;
}

static int lookup_name(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static void after_set(struct sipwire_config *cfg, const struct option_def *opt)
{
	if (opt->off == AT(listen.tls_port))
		cfg->listen.tls_port_set = true;
}

static void set_number(struct sipwire_config *cfg, const struct option_def *opt, const char *where,
                       unsigned long long v, bool valid, struct config_errors *errs)
{
	if (!valid || v < opt->min || v > opt->max) {
		add_error(errs, where, "must be an integer %lu..%lu", opt->min, opt->max);
		return;
	}
	char *field = (char *)cfg + opt->off;
	if (opt->type == OPT_SIZE)
		*(size_t *)(void *)field = (size_t)v;
	else
		*(unsigned *)(void *)field = (unsigned)v;
	after_set(cfg, opt);
}

/* Origins are compared with the browser's Origin header: scheme://host[:port],
 * nothing after it. */
static bool origin_valid(const char *s)
{
	const char *host;
	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return false;
	if (!*host)
		return false;
	for (const char *c = host; *c; c++)
		if (*c == '/' || *c == '?' || *c == '#' || *c == '@' || *c == ' ' ||
		    (unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e)
			return false;
	return true;
}

static void origins_add_unchecked(struct sipwire_strlist *l, const char *s,
                                  struct config_errors *errs)
{
	char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (!nv) {
		errs->oom = true;
		return;
	}
	l->v = nv;
	if (!(l->v[l->n] = strdup(s))) {
		errs->oom = true;
		return;
	}
	l->n++;
}

static void origins_add(struct sipwire_strlist *l, const char *where, const char *s,
                        struct config_errors *errs)
{
	if (!origin_valid(s)) {
		add_error(errs, where, "must be an origin like https://host[:port]");
		return;
	}
	origins_add_unchecked(l, s, errs);
}

static void codecs_add(struct sipwire_strlist *l, const char *where, const char *s,
                       struct config_errors *errs);
static bool addr_prefix_valid(const char *s);

/* One item of a list option, checked as its type asks. */
static void list_add(const struct option_def *opt, struct sipwire_strlist *l, const char *where,
                     const char *s, struct config_errors *errs)
{
	if (opt->type == OPT_CODECS)
		codecs_add(l, where, s, errs);
	else if (opt->type == OPT_PREFIXES && !addr_prefix_valid(s))
		add_error(errs, where, "must be a numeric IPv4 or IPv6 address, optionally with /prefix");
	else if (opt->type == OPT_PREFIXES)
		origins_add_unchecked(l, s, errs);
	else
		origins_add(l, where, s, errs);
}

static void codecs_add(struct sipwire_strlist *l, const char *where, const char *s,
                       struct config_errors *errs)
{
	const char *name = NULL;
	for (size_t i = 0; i < N_CODECS && !name; i++)
		if (strcasecmp(s, codec_names[i]) == 0)
			name = codec_names[i];
	if (!name) {
		add_error(errs, where, "must be PCMU, PCMA, G722, opus or telephone-event");
		return;
	}
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], name) == 0) {
			add_error(errs, where, "is listed twice");
			return;
		}
	origins_add_unchecked(l, name, errs);
}

/* Parse a strict unsigned decimal; false on anything else or overflow. */
static bool parse_decimal(const char *s, unsigned long long *out)
{
	unsigned long long v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 100000000000ULL)
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*out = v;
	return true;
}

static void replace_str(char **field, const char *s, struct config_errors *errs)
{
	char *copy = strdup(s);
	if (!copy) {
		errs->oom = true;
		return;
	}
	free(*field);
	*field = copy;
}

/* The index of s among names, or -1 after an error listing the choices
 * ("must be one of a|b|c"; "must be true or false" for the booleans). */
static int choose(const char *s, const char *const *names, size_t n, const char *where,
                  struct config_errors *errs)
{
	int idx = lookup_name(s, names, n);
	if (idx >= 0)
		return idx;
	if (names == bool_names) {
		add_error(errs, where, "must be true or false");
		return -1;
	}
	char list[128] = "";
	for (size_t i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "|" : "",
		         names[i]);
	add_error(errs, where, "must be one of %s", list);
	return -1;
}

/* Set a non-numeric, non-list option from its text. */
static void set_text(struct sipwire_config *cfg, const struct option_def *opt, const char *where,
                     const char *s, struct config_errors *errs)
{
	char *field = (char *)cfg + opt->off;
	int idx;
	unsigned char addr[16];

	switch (opt->type) {
	case OPT_STR:
		if (has_control(s)) {
			add_error(errs, where, "must not contain control characters");
			return;
		}
		break;
	case OPT_PATH:
		if (!*s || has_control(s)) {
			add_error(errs, where, "must be a non-empty path");
			return;
		}
		break;
	case OPT_NAME:
		if (!*s || has_control(s) || strchr(s, '"') || strchr(s, '\\')) {
			add_error(errs, where,
			          "must be non-empty, without '\"', '\\' or control "
			          "characters");
			return;
		}
		break;
	case OPT_ADDR:
		if (inet_pton(AF_INET, s, addr) != 1 && inet_pton(AF_INET6, s, addr) != 1) {
			add_error(errs, where, "must be a numeric IPv4 or IPv6 address");
			return;
		}
		break;
	case OPT_LEVEL:
		if ((idx = choose(s, level_names, 4, where, errs)) >= 0)
			*(enum sipwire_log_level *)(void *)field = (enum sipwire_log_level)idx;
		return;
	case OPT_MODE:
		if ((idx = choose(s, mode_names, 2, where, errs)) >= 0)
			*(enum sipwire_mode *)(void *)field = (enum sipwire_mode)idx;
		return;
	case OPT_TRANSPORT:
		if ((idx = choose(s, transport_names, 3, where, errs)) >= 0)
			*(enum sipwire_transport *)(void *)field = (enum sipwire_transport)idx;
		return;
	case OPT_BOOL:
		if ((idx = choose(s, bool_names, 2, where, errs)) >= 0)
			*(bool *)(void *)field = idx == 1;
		return;
	case OPT_REFER:
		if ((idx = choose(s, refer_names, 2, where, errs)) >= 0)
			*(enum sipwire_refer_mode *)(void *)field = (enum sipwire_refer_mode)idx;
		return;
	case OPT_LOGFMT:
		if ((idx = choose(s, log_format_names, 3, where, errs)) >= 0)
			*(enum sipwire_log_format *)(void *)field = (enum sipwire_log_format)idx;
		return;
	case OPT_ACCEPT:
		if ((idx = choose(s, accept_names, 2, where, errs)) >= 0)
			*(enum sipwire_accept_from *)(void *)field = (enum sipwire_accept_from)idx;
		return;
	case OPT_UINT:
	case OPT_SIZE:
	case OPT_ORIGINS:
	case OPT_CODECS:
	case OPT_PREFIXES:
		return; /* not text options */
	}
	replace_str((char **)(void *)field, s, errs);
}

/* Set any option from a string (environment, command line): numbers are
 * decimal, lists are comma-separated. */
static void set_from_string(struct sipwire_config *cfg, const struct option_def *opt,
                            const char *where, const char *s, struct config_errors *errs)
{
	if (opt->type == OPT_UINT || opt->type == OPT_SIZE) {
		unsigned long long v = 0;
		bool ok = parse_decimal(s, &v);
		set_number(cfg, opt, where, v, ok, errs);
		return;
	}
	if (opt->type != OPT_ORIGINS && opt->type != OPT_CODECS && opt->type != OPT_PREFIXES) {
		set_text(cfg, opt, where, s, errs);
		return;
	}
	struct sipwire_strlist *l = (struct sipwire_strlist *)(void *)((char *)cfg + opt->off);
	struct sipwire_strlist fresh = {0};
	size_t before = errs->count;
	char item[1024], at[300];
	const char *p = s;
	size_t i = 0;
	while (*s) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		snprintf(at, sizeof(at), "%s[%zu]", where, i);
		if (len >= sizeof(item)) {
			add_error(errs, at, "too long");
		} else {
			memcpy(item, p, len);
			item[len] = 0;
			list_add(opt, &fresh, at, item, errs);
		}
		i++;
		if (!end)
			break;
		p = end + 1;
	}
	if (errs->count == before && !errs->oom) {
		strlist_free(l);
		*l = fresh;
	} else {
		strlist_free(&fresh);
	}
}

static void set_from_json(struct sipwire_config *cfg, const struct option_def *opt,
                          const char *where, const cJSON *v, struct config_errors *errs)
{
	switch (opt->type) {
	case OPT_UINT:
	case OPT_SIZE: {
		bool ok = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1e12 &&
		          v->valuedouble == (double)(unsigned long long)v->valuedouble;
		set_number(cfg, opt, where, ok ? (unsigned long long)v->valuedouble : 0, ok, errs);
		return;
	}
	case OPT_ORIGINS:
	case OPT_CODECS:
	case OPT_PREFIXES: {
		if (!cJSON_IsArray(v)) {
			add_error(errs, where, "must be an array of strings");
			return;
		}
		struct sipwire_strlist *l =
		    (struct sipwire_strlist *)(void *)((char *)cfg + opt->off);
		struct sipwire_strlist fresh = {0};
		size_t before = errs->count, i = 0;
		char at[300];
		for (const cJSON *e = v->child; e; e = e->next, i++) {
			snprintf(at, sizeof(at), "%s[%zu]", where, i);
			if (!cJSON_IsString(e))
				add_error(errs, at, "must be a string");
			else
				list_add(opt, &fresh, at, e->valuestring, errs);
		}
		if (errs->count == before && !errs->oom) {
			strlist_free(l);
			*l = fresh;
		} else {
			strlist_free(&fresh);
		}
		return;
	}
	case OPT_BOOL:
		if (!cJSON_IsBool(v)) {
			add_error(errs, where, "must be true or false");
			return;
		}
		*(bool *)(void *)((char *)cfg + opt->off) = cJSON_IsTrue(v);
		return;
	default:
		if (!cJSON_IsString(v)) {
			add_error(errs, where, "must be a string");
			return;
		}
		set_text(cfg, opt, where, v->valuestring, errs);
		return;
	}
}

/* ---- users ---- */

static bool user_name_valid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == ':' ||
		    *s == ',' || *s == '"' || *s == '\\' || *s == '@')
			return false;
	return true;
}

static bool ha1_valid(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return n == 32;
}

/* name_at and secret_at are the paths errors about each part are filed under. */
static void add_user(struct sipwire_config *cfg, const char *name_at, const char *secret_at,
                     const char *name, const char *password, const char *ha1,
                     struct config_errors *errs)
{
	bool ok = true;
	if (!user_name_valid(name)) {
		add_error(errs, name_at,
		          "must be a user name without spaces, ':', ',', '@', "
		          "quotes or control characters");
		ok = false;
	}
	if (password && !*password) {
		add_error(errs, secret_at, "password is empty");
		ok = false;
	}
	if (ha1 && !ha1_valid(ha1)) {
		add_error(errs, secret_at, "must be 32 hexadecimal digits");
		ok = false;
	}
	if (!ok)
		return;
	for (size_t i = 0; i < cfg->n_users; i++) {
		if (strcmp(cfg->users[i].name, name) == 0) {
			add_error(errs, name_at, "duplicate user name '%s'", name);
			return;
		}
	}
	struct sipwire_user *nu = realloc(cfg->users, (cfg->n_users + 1) * sizeof(*nu));
	if (!nu) {
		errs->oom = true;
		return;
	}
	cfg->users = nu;
	struct sipwire_user *u = &cfg->users[cfg->n_users];
	memset(u, 0, sizeof(*u));
	u->name = strdup(name);
	if (password)
		u->password = strdup(password);
	if (!u->name || (password && !u->password)) {
		free(u->name);
		free(u->password);
		errs->oom = true;
		return;
	}
	if (ha1) {
		for (size_t k = 0; k < 32; k++)
			u->ha1[k] =
			    (char)((ha1[k] >= 'A' && ha1[k] <= 'F') ? ha1[k] - 'A' + 'a' : ha1[k]);
		u->ha1[32] = 0;
	}
	cfg->n_users++;
}

/* "NAME:PASSWORD" from the environment or --user; where names the entry. */
static void add_user_spec(struct sipwire_config *cfg, const char *where, const char *spec,
                          size_t len, struct config_errors *errs)
{
	const char *colon = memchr(spec, ':', len);
	if (!colon) {
		add_error(errs, where, "must be NAME:PASSWORD (no ':' found)");
		return;
	}
	size_t nlen = (size_t)(colon - spec);
	char *name = malloc(nlen + 1);
	char *pw = malloc(len - nlen);
	if (!name || !pw) {
		free(name);
		free(pw);
		errs->oom = true;
		return;
	}
	memcpy(name, spec, nlen);
	name[nlen] = 0;
	memcpy(pw, colon + 1, len - nlen - 1);
	pw[len - nlen - 1] = 0;
	add_user(cfg, where, where, name, pw, NULL, errs);
	memset(pw, 0, len - nlen);
	free(name);
	free(pw);
}

static void users_from_json(struct sipwire_config *cfg, const cJSON *arr,
                            struct config_errors *errs)
{
	if (!cJSON_IsArray(arr)) {
		add_error(errs, "users", "must be an array of {\"name\", \"password\" or \"ha1\"}");
		return;
	}
	size_t i = 0;
	for (const cJSON *u = arr->child; u; u = u->next, i++) {
		char at[64], name_at[80], key_at[400];
		snprintf(at, sizeof(at), "users[%zu]", i);
		snprintf(name_at, sizeof(name_at), "%s.name", at);
		if (!cJSON_IsObject(u)) {
			add_error(errs, at,
			          "must be an object {\"name\", \"password\" or \"ha1\"}");
			continue;
		}
		const char *name = NULL, *password = NULL, *ha1 = NULL;
		bool bad = false;
		for (const cJSON *k = u->child; k; k = k->next) {
			snprintf(key_at, sizeof(key_at), "%s.%s", at, k->string);
			const char **slot = strcmp(k->string, "name") == 0       ? &name
			                    : strcmp(k->string, "password") == 0 ? &password
			                    : strcmp(k->string, "ha1") == 0      ? &ha1
			                                                         : NULL;
			if (!slot) {
				add_error(errs, key_at, "unknown key");
				bad = true;
			} else if (*slot) {
				add_error(errs, key_at, "duplicate key");
				bad = true;
			} else if (!cJSON_IsString(k)) {
				add_error(errs, key_at, "must be a string");
				bad = true;
				*slot = "";
			} else {
				*slot = k->valuestring;
			}
		}
		if (!name) {
			add_error(errs, name_at, "missing");
			bad = true;
		}
		if (!password && !ha1) {
			snprintf(key_at, sizeof(key_at), "%s.password", at);
			add_error(errs, key_at, "missing (or give ha1)");
			bad = true;
		} else if (password && ha1) {
			add_error(errs, at, "give password or ha1, not both");
			bad = true;
		}
		if (bad)
			continue;
		snprintf(key_at, sizeof(key_at), "%s.%s", at, password ? "password" : "ha1");
		add_user(cfg, name_at, key_at, name, password, ha1, errs);
	}
}

/* ---- trunks and routes ---- */

static char *dup_or_oom(const char *s, struct config_errors *errs)
{
	char *copy = strdup(s);
	if (!copy)
		errs->oom = true;
	return copy;
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	/* volatile: keep the wipe from being optimised away */
	volatile char *p = s;
	for (size_t k = 0; p[k]; k++)
		p[k] = 0;
	free(s);
}

static void trunk_clear(struct sipwire_trunk *t)
{
	free(t->name);
	free(t->uri);
	free(t->outbound_proxy);
	free(t->username);
	wipe_free(t->password);
	strlist_free(&t->allow_from);
	free(t->where);
	free(t->register_where);
	memset(t, 0, sizeof(*t));
}

static void trunks_free(struct sipwire_config *cfg)
{
	for (size_t i = 0; i < cfg->n_trunks; i++)
		trunk_clear(&cfg->trunks[i]);
	free(cfg->trunks);
	cfg->trunks = NULL;
	cfg->n_trunks = 0;
}

static void route_clear(struct sipwire_route *r)
{
	free(r->match_user);
	free(r->match_regex);
	free(r->match_domain);
	free(r->prepend);
	free(r->target);
	free(r->where);
	memset(r, 0, sizeof(*r));
}

static void routes_free(struct sipwire_config *cfg)
{
	for (size_t i = 0; i < cfg->n_routes; i++)
		route_clear(&cfg->routes[i]);
	free(cfg->routes);
	cfg->routes = NULL;
	cfg->n_routes = 0;
}

/* Trunk names are route targets and flag arguments: a short token that
 * cannot be confused with the built-in targets. */
static bool trunk_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || strcmp(s, "echo") == 0 || strcmp(s, "user") == 0)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static ssize_t find_trunk(const struct sipwire_config *cfg, const char *name, size_t len)
{
	for (size_t i = 0; i < cfg->n_trunks; i++)
		if (strlen(cfg->trunks[i].name) == len &&
		    memcmp(cfg->trunks[i].name, name, len) == 0)
			return (ssize_t)i;
	return -1;
}

/* A URI the gateway can send requests to: sip: or sips: with a host. */
static bool sip_target_uri_valid(const char *s)
{
	struct sip_uri uri;
	if (has_control(s) || sip_uri_parse(sip_pl_from_cstr(s), &uri) != 0)
		return false;
	return (uri.scheme == SIP_URI_SIP || uri.scheme == SIP_URI_SIPS) &&
	       uri.host_type != SIP_URI_HOST_NONE;
}

/* A numeric IPv4 or IPv6 address, optionally with a /prefix length. */
static bool addr_prefix_valid(const char *s)
{
	char buf[64];
	unsigned char addr[16];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(buf))
		return false;
	memcpy(buf, s, alen);
	buf[alen] = 0;
	unsigned max;
	if (inet_pton(AF_INET, buf, addr) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		max = 128;
	else
		return false;
	if (!slash)
		return true;
	unsigned long long len;
	return parse_decimal(slash + 1, &len) && len <= max;
}

/* Characters a SIP user part holds unescaped (RFC 3261 §25.1: unreserved and
 * user-unreserved), which covers dialled numbers and names alike. */
static bool user_part_valid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("-_.!~*'()&=+$,;?/", *s)))
			return false;
	return true;
}

/* Append a trunk; NULL (and an error under name_at or uri_at) when the
 * name or URI is unusable. */
static struct sipwire_trunk *add_trunk(struct sipwire_config *cfg, const char *where,
                                       const char *name_at, const char *uri_at, const char *name,
                                       const char *uri, struct config_errors *errs)
{
	bool ok = true;
	if (!trunk_name_valid(name)) {
		add_error(errs, name_at,
		          "must be a name of letters, digits, '-', '_' or '.' (at most 64), "
		          "not echo or user");
		ok = false;
	} else if (find_trunk(cfg, name, strlen(name)) >= 0) {
		add_error(errs, name_at, "duplicate trunk name '%s'", name);
		ok = false;
	}
	if (!sip_target_uri_valid(uri)) {
		add_error(errs, uri_at, "must be a sip: or sips: URI with a host");
		ok = false;
	}
	if (!ok)
		return NULL;
	struct sipwire_trunk *nt = realloc(cfg->trunks, (cfg->n_trunks + 1) * sizeof(*nt));
	if (!nt) {
		errs->oom = true;
		return NULL;
	}
	cfg->trunks = nt;
	struct sipwire_trunk *t = &cfg->trunks[cfg->n_trunks];
	memset(t, 0, sizeof(*t));
	t->expires = 600;
	t->name = dup_or_oom(name, errs);
	t->uri = dup_or_oom(uri, errs);
	t->outbound_proxy = dup_or_oom("", errs);
	t->where = dup_or_oom(where, errs);
	t->register_where = dup_or_oom("", errs);
	if (errs->oom) {
		trunk_clear(t);
		return NULL;
	}
	cfg->n_trunks++;
	return t;
}

static void trunk_set_auth(struct sipwire_trunk *t, const char *user, size_t ulen,
                           const char *password, size_t plen, struct config_errors *errs)
{
	char *u = strndup(user, ulen);
	char *p = strndup(password, plen);
	if (!u || !p) {
		free(u);
		wipe_free(p);
		errs->oom = true;
		return;
	}
	free(t->username);
	wipe_free(t->password);
	t->username = u;
	t->password = p;
}

static void trunk_set_register(struct sipwire_trunk *t, bool on, const char *where,
                               struct config_errors *errs)
{
	t->register_enabled = on;
	replace_str(&t->register_where, on ? where : "", errs);
}

/* "NAME=URI" from --trunk or SIPWIRE_TRUNKS. */
static void add_trunk_spec(struct sipwire_config *cfg, const char *where, const char *spec,
                           size_t len, struct config_errors *errs)
{
	const char *eq = memchr(spec, '=', len);
	if (!eq) {
		add_error(errs, where, "must be NAME=URI");
		return;
	}
	char *name = strndup(spec, (size_t)(eq - spec));
	char *uri = strndup(eq + 1, len - (size_t)(eq - spec) - 1);
	if (name && uri)
		add_trunk(cfg, where, where, where, name, uri, errs);
	else
		errs->oom = true;
	free(name);
	free(uri);
}

/* "NAME=USER:PASSWORD" from --trunk-auth or SIPWIRE_TRUNK_AUTH. Nothing after
 * the '=' is ever quoted in an error. */
static void trunk_auth_spec(struct sipwire_config *cfg, const char *where, const char *spec,
                            size_t len, struct config_errors *errs)
{
	const char *eq = memchr(spec, '=', len);
	const char *colon = eq ? memchr(eq + 1, ':', len - (size_t)(eq + 1 - spec)) : NULL;
	if (!eq || !colon) {
		add_error(errs, where, "must be NAME=USER:PASSWORD");
		return;
	}
	ssize_t t = find_trunk(cfg, spec, (size_t)(eq - spec));
	if (t < 0) {
		add_error(errs, where, "unknown trunk '%.*s'", (int)(eq - spec), spec);
		return;
	}
	size_t ulen = (size_t)(colon - eq - 1), plen = len - (size_t)(colon + 1 - spec);
	if (!ulen || !plen) {
		add_error(errs, where, "user name or password is empty");
		return;
	}
	for (const char *c = eq + 1; c < spec + len; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			add_error(errs, where, "user name or password has control characters");
			return;
		}
	trunk_set_auth(&cfg->trunks[t], eq + 1, ulen, colon + 1, plen, errs);
}

/* "off" or "sdes"; false for anything else. */
static bool srtp_mode(const char *s, size_t len, enum sipwire_srtp *out)
{
	if (len == 3 && memcmp(s, "off", 3) == 0)
		*out = SIPWIRE_SRTP_OFF;
	else if (len == 4 && memcmp(s, "sdes", 4) == 0)
		*out = SIPWIRE_SRTP_SDES;
	else
		return false;
	return true;
}

/* "NAME=off|sdes" from --trunk-srtp or SIPWIRE_TRUNK_SRTP. */
static void trunk_srtp_spec(struct sipwire_config *cfg, const char *where, const char *spec,
                            size_t len, struct config_errors *errs)
{
	const char *eq = memchr(spec, '=', len);
	enum sipwire_srtp mode;
	if (!eq || !srtp_mode(eq + 1, len - (size_t)(eq + 1 - spec), &mode)) {
		add_error(errs, where, "must be NAME=off or NAME=sdes");
		return;
	}
	size_t nlen = (size_t)(eq - spec);
	ssize_t t = find_trunk(cfg, spec, nlen);
	if (t < 0) {
		add_error(errs, where, "unknown trunk '%.*s'", (int)(nlen > 64 ? 64 : nlen), spec);
		return;
	}
	cfg->trunks[t].srtp = mode;
}

/* "NAME" from --trunk-register or SIPWIRE_TRUNK_REGISTER. */
static void trunk_register_spec(struct sipwire_config *cfg, const char *where, const char *spec,
                                size_t len, struct config_errors *errs)
{
	ssize_t t = find_trunk(cfg, spec, len);
	if (t < 0) {
		add_error(errs, where, "unknown trunk '%.*s'", (int)(len > 64 ? 64 : len), spec);
		return;
	}
	trunk_set_register(&cfg->trunks[t], true, where, errs);
}

static void trunks_from_json(struct sipwire_config *cfg, const cJSON *arr,
                             struct config_errors *errs)
{
	if (!cJSON_IsArray(arr)) {
		add_error(errs, "trunks", "must be an array of {\"name\", \"uri\", ...}");
		return;
	}
	static const char *const keys[] = {"name",     "uri",      "outbound_proxy", "username",
	                                   "password", "register", "expires",        "allow_from",
	                                   "srtp"};
	enum { K_NAME, K_URI, K_PROXY, K_USER, K_PASSWORD, K_REGISTER, K_EXPIRES, K_ALLOW, K_SRTP,
	       K_N };
	size_t i = 0;
	for (const cJSON *o = arr->child; o; o = o->next, i++) {
		char at[64], key_at[K_N][96], unknown_at[400];
		const cJSON *val[K_N] = {0};
		bool bad = false;
		snprintf(at, sizeof(at), "trunks[%zu]", i);
		for (size_t k = 0; k < K_N; k++)
			snprintf(key_at[k], sizeof(key_at[k]), "%s.%s", at, keys[k]);
		if (!cJSON_IsObject(o)) {
			add_error(errs, at, "must be an object {\"name\", \"uri\", ...}");
			continue;
		}
		for (const cJSON *c = o->child; c; c = c->next) {
			int k = lookup_name(c->string, keys, K_N);
			if (k < 0) {
				snprintf(unknown_at, sizeof(unknown_at), "%s.%s", at, c->string);
				add_error(errs, unknown_at, "unknown key");
				bad = true;
			} else if (val[k]) {
				add_error(errs, key_at[k], "duplicate key");
				bad = true;
			} else {
				val[k] = c;
			}
		}
		for (int k = K_NAME; k <= K_PASSWORD; k++)
			if (val[k] && !cJSON_IsString(val[k])) {
				add_error(errs, key_at[k], "must be a string");
				bad = true;
			}
		if (!val[K_NAME]) {
			add_error(errs, key_at[K_NAME], "missing");
			bad = true;
		}
		if (!val[K_URI]) {
			add_error(errs, key_at[K_URI], "missing");
			bad = true;
		}
		const char *proxy = cJSON_IsString(val[K_PROXY]) ? val[K_PROXY]->valuestring : "";
		if (*proxy && !sip_target_uri_valid(proxy)) {
			add_error(errs, key_at[K_PROXY], "must be a sip: or sips: URI with a host");
			bad = true;
		}
		const char *user = cJSON_IsString(val[K_USER]) ? val[K_USER]->valuestring : NULL;
		const char *pw =
		    cJSON_IsString(val[K_PASSWORD]) ? val[K_PASSWORD]->valuestring : NULL;
		if (user && (!*user || has_control(user))) {
			add_error(errs, key_at[K_USER],
			          "must be non-empty, without control characters");
			bad = true;
		}
		if (pw && (!*pw || has_control(pw))) {
			add_error(errs, key_at[K_PASSWORD],
			          "must be non-empty, without control characters");
			bad = true;
		}
		if (user && !pw && !val[K_PASSWORD]) {
			add_error(errs, key_at[K_PASSWORD], "missing (needed with username)");
			bad = true;
		} else if (pw && !user && !val[K_USER]) {
			add_error(errs, key_at[K_USER], "missing (needed with password)");
			bad = true;
		}
		if (val[K_REGISTER] && !cJSON_IsBool(val[K_REGISTER])) {
			add_error(errs, key_at[K_REGISTER], "must be true or false");
			bad = true;
		}
		unsigned expires = 600;
		if (val[K_EXPIRES]) {
			double d =
			    cJSON_IsNumber(val[K_EXPIRES]) ? val[K_EXPIRES]->valuedouble : -1;
			if (d < 60 || d > 86400 || d != (double)(unsigned)d) {
				add_error(errs, key_at[K_EXPIRES], "must be an integer 60..86400");
				bad = true;
			} else {
				expires = (unsigned)d;
			}
		}
		enum sipwire_srtp srtp = SIPWIRE_SRTP_OFF;
		if (val[K_SRTP] &&
		    (!cJSON_IsString(val[K_SRTP]) ||
		     !srtp_mode(val[K_SRTP]->valuestring, strlen(val[K_SRTP]->valuestring), &srtp))) {
			add_error(errs, key_at[K_SRTP], "must be \"off\" or \"sdes\"");
			bad = true;
		}
		struct sipwire_strlist allow = {0};
		if (val[K_ALLOW] && !cJSON_IsArray(val[K_ALLOW])) {
			add_error(errs, key_at[K_ALLOW], "must be an array of addresses");
			bad = true;
		} else if (val[K_ALLOW]) {
			size_t j = 0;
			for (const cJSON *e = val[K_ALLOW]->child; e; e = e->next, j++) {
				char item_at[128];
				snprintf(item_at, sizeof(item_at), "%s[%zu]", key_at[K_ALLOW], j);
				if (!cJSON_IsString(e) || !addr_prefix_valid(e->valuestring)) {
					add_error(errs, item_at,
					          "must be a numeric IPv4 or IPv6 address, "
					          "optionally with /prefix");
					bad = true;
					continue;
				}
				char **nv = realloc(allow.v, (allow.n + 1) * sizeof(*nv));
				if (!nv || !(nv[allow.n] = strdup(e->valuestring))) {
					if (nv)
						allow.v = nv;
					errs->oom = true;
					break;
				}
				allow.v = nv;
				allow.n++;
			}
		}
		struct sipwire_trunk *t = NULL;
		if (val[K_NAME] && val[K_URI] && cJSON_IsString(val[K_NAME]) &&
		    cJSON_IsString(val[K_URI]))
			t = add_trunk(cfg, at, key_at[K_NAME], key_at[K_URI],
			              val[K_NAME]->valuestring, val[K_URI]->valuestring, errs);
		if (!t || bad) {
			strlist_free(&allow);
			if (t)
				trunk_clear(&cfg->trunks[--cfg->n_trunks]);
			continue;
		}
		t->expires = expires;
		t->allow_from = allow;
		t->srtp = srtp;
		replace_str(&t->outbound_proxy, proxy, errs);
		if (user && pw)
			trunk_set_auth(t, user, strlen(user), pw, strlen(pw), errs);
		if (cJSON_IsTrue(val[K_REGISTER]))
			trunk_set_register(t, true, key_at[K_REGISTER], errs);
	}
}

/* Append a route; where is the path its target errors are filed under. */
static void add_route(struct sipwire_config *cfg, const char *where, const char *match_user,
                      const char *match_regex, const char *match_domain, unsigned strip,
                      const char *prepend, const char *target, struct config_errors *errs)
{
	struct sipwire_route *nr = realloc(cfg->routes, (cfg->n_routes + 1) * sizeof(*nr));
	if (!nr) {
		errs->oom = true;
		return;
	}
	cfg->routes = nr;
	struct sipwire_route *r = &cfg->routes[cfg->n_routes];
	memset(r, 0, sizeof(*r));
	r->strip = strip;
	if (match_user)
		r->match_user = dup_or_oom(match_user, errs);
	if (match_regex)
		r->match_regex = dup_or_oom(match_regex, errs);
	if (match_domain)
		r->match_domain = dup_or_oom(match_domain, errs);
	if (prepend)
		r->prepend = dup_or_oom(prepend, errs);
	r->target = dup_or_oom(target, errs);
	r->where = dup_or_oom(where, errs);
	if (errs->oom) {
		route_clear(r);
		return;
	}
	cfg->n_routes++;
}

/* Compiled here only to report a bad expression with its key path; the dial
 * plan compiles its own copy once. */
static bool regex_check(const char *where, const char *re, struct config_errors *errs)
{
	regex_t compiled;
	int rc = regcomp(&compiled, re, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char why[128];
		regerror(rc, &compiled, why, sizeof(why));
		add_error(errs, where, "invalid regular expression: %s", why);
		return false;
	}
	regfree(&compiled);
	return true;
}

/* "PATTERN=TARGET" from --route or SIPWIRE_ROUTES: PATTERN is a user prefix,
 * /regex/, or empty for every user. The last '=' splits, since a regular
 * expression may hold one and a target never does. */
static void add_route_spec(struct sipwire_config *cfg, const char *where, const char *spec,
                           size_t len, struct config_errors *errs)
{
	const char *eq = NULL;
	for (const char *p = spec; p < spec + len; p++)
		if (*p == '=')
			eq = p;
	if (!eq || eq + 1 == spec + len) {
		add_error(errs, where, "must be PATTERN=TARGET (TARGET: echo, user or a trunk)");
		return;
	}
	size_t plen = (size_t)(eq - spec);
	char *pattern = strndup(spec, plen);
	char *target = strndup(eq + 1, len - plen - 1);
	if (!pattern || !target) {
		errs->oom = true;
	} else if (plen >= 2 && pattern[0] == '/' && pattern[plen - 1] == '/') {
		pattern[plen - 1] = 0;
		if (regex_check(where, pattern + 1, errs))
			add_route(cfg, where, NULL, pattern + 1, NULL, 0, NULL, target, errs);
	} else if (plen && !user_part_valid(pattern)) {
		add_error(errs, where, "PATTERN must be a user prefix or /regular expression/");
	} else {
		add_route(cfg, where, plen ? pattern : NULL, NULL, NULL, 0, NULL, target, errs);
	}
	free(pattern);
	free(target);
}

static void routes_from_json(struct sipwire_config *cfg, const cJSON *arr,
                             struct config_errors *errs)
{
	if (!cJSON_IsArray(arr)) {
		add_error(errs, "routes", "must be an array of {\"match_user\", ..., \"target\"}");
		return;
	}
	static const char *const keys[] = {"match_user", "match_regex", "match_domain",
	                                   "strip",      "prepend",     "target"};
	enum { K_USER, K_REGEX, K_DOMAIN, K_STRIP, K_PREPEND, K_TARGET, K_N };
	size_t i = 0;
	for (const cJSON *o = arr->child; o; o = o->next, i++) {
		char at[64], key_at[K_N][96], unknown_at[400];
		const cJSON *val[K_N] = {0};
		bool bad = false;
		snprintf(at, sizeof(at), "routes[%zu]", i);
		for (size_t k = 0; k < K_N; k++)
			snprintf(key_at[k], sizeof(key_at[k]), "%s.%s", at, keys[k]);
		if (!cJSON_IsObject(o)) {
			add_error(errs, at, "must be an object {\"match_user\", ..., \"target\"}");
			continue;
		}
		for (const cJSON *c = o->child; c; c = c->next) {
			int k = lookup_name(c->string, keys, K_N);
			if (k < 0) {
				snprintf(unknown_at, sizeof(unknown_at), "%s.%s", at, c->string);
				add_error(errs, unknown_at, "unknown key");
				bad = true;
			} else if (val[k]) {
				add_error(errs, key_at[k], "duplicate key");
				bad = true;
			} else {
				val[k] = c;
			}
		}
		for (int k = K_USER; k < K_N; k++)
			if (k != K_STRIP && val[k] && !cJSON_IsString(val[k])) {
				add_error(errs, key_at[k], "must be a string");
				bad = true;
				val[k] = NULL;
			}
		const char *s_user = val[K_USER] ? val[K_USER]->valuestring : NULL;
		const char *s_regex = val[K_REGEX] ? val[K_REGEX]->valuestring : NULL;
		const char *s_domain = val[K_DOMAIN] ? val[K_DOMAIN]->valuestring : NULL;
		const char *s_prepend = val[K_PREPEND] ? val[K_PREPEND]->valuestring : NULL;
		if (s_user && !user_part_valid(s_user)) {
			add_error(errs, key_at[K_USER], "must be a non-empty SIP user part prefix");
			bad = true;
		}
		if (s_user && s_regex) {
			add_error(errs, at, "give match_user or match_regex, not both");
			bad = true;
		}
		if (s_regex && !regex_check(key_at[K_REGEX], s_regex, errs))
			bad = true;
		if (s_domain &&
		    sip_uri_host_type_of(sip_pl_from_cstr(s_domain)) == SIP_URI_HOST_NONE) {
			add_error(errs, key_at[K_DOMAIN], "must be a host name or IP address");
			bad = true;
		}
		if (s_prepend && *s_prepend && !user_part_valid(s_prepend)) {
			add_error(errs, key_at[K_PREPEND], "must be characters of a SIP user part");
			bad = true;
		}
		unsigned strip = 0;
		if (val[K_STRIP]) {
			double d = cJSON_IsNumber(val[K_STRIP]) ? val[K_STRIP]->valuedouble : -1;
			if (d < 0 || d > 64 || d != (double)(unsigned)d) {
				add_error(errs, key_at[K_STRIP], "must be an integer 0..64");
				bad = true;
			} else {
				strip = (unsigned)d;
			}
		}
		if (!cJSON_GetObjectItemCaseSensitive(o, "target")) {
			add_error(errs, key_at[K_TARGET], "missing (echo, user or a trunk name)");
			bad = true;
		}
		if (bad)
			continue;
		add_route(cfg, key_at[K_TARGET], s_user, s_regex, s_domain, strip, s_prepend,
		          val[K_TARGET]->valuestring, errs);
	}
}

/* Targets name trunks that may be defined later (or in another source), so
 * they are resolved once everything is read. */
static void check_trunks_and_routes(struct sipwire_config *cfg, struct config_errors *errs)
{
	for (size_t i = 0; i < cfg->n_trunks; i++) {
		struct sipwire_trunk *t = &cfg->trunks[i];
		if (t->register_enabled && !(t->username && t->password))
			add_error(errs, t->register_where,
			          "trunk '%s' cannot register without credentials "
			          "(username and password)",
			          t->name);
	}
	for (size_t i = 0; i < cfg->n_routes; i++) {
		struct sipwire_route *r = &cfg->routes[i];
		if (strcmp(r->target, "echo") == 0) {
			r->target_kind = SIPWIRE_ROUTE_TARGET_ECHO;
			continue;
		}
		if (strcmp(r->target, "user") == 0) {
			r->target_kind = SIPWIRE_ROUTE_TARGET_USER;
			continue;
		}
		ssize_t t = find_trunk(cfg, r->target, strlen(r->target));
		if (t < 0) {
			add_error(errs, r->where,
			          "unknown target '%.64s' (echo, user or a trunk name)", r->target);
			continue;
		}
		r->target_kind = SIPWIRE_ROUTE_TARGET_TRUNK;
		r->trunk = (size_t)t;
	}
}

/* ---- the JSON file ---- */

static void walk_object(struct sipwire_config *cfg, const cJSON *obj, const char *prefix,
                        struct config_errors *errs)
{
	for (const cJSON *c = obj->child; c; c = c->next) {
		char path[256];
		int n = prefix ? snprintf(path, sizeof(path), "%s.%s", prefix, c->string)
		               : snprintf(path, sizeof(path), "%s", c->string);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			add_error(errs, prefix ? prefix : "(top level)", "unknown key (too long)");
			continue;
		}
		bool dup = false;
		for (const cJSON *e = obj->child; e != c; e = e->next)
			if (strcmp(e->string, c->string) == 0)
				dup = true;
		if (dup) {
			add_error(errs, path, "duplicate key");
			continue;
		}
		const struct option_def *opt = find_option(path);
		if (opt)
			set_from_json(cfg, opt, path, c, errs);
		else if (!prefix && strcmp(c->string, "users") == 0)
			users_from_json(cfg, c, errs);
		else if (!prefix && strcmp(c->string, "trunks") == 0)
			trunks_from_json(cfg, c, errs);
		else if (!prefix && strcmp(c->string, "routes") == 0)
			routes_from_json(cfg, c, errs);
		else if (is_section(path) && cJSON_IsObject(c))
			walk_object(cfg, c, path, errs);
		else if (is_section(path))
			add_error(errs, path, "must be an object");
		else
			add_error(errs, path, "unknown key");
	}
}

int sipwire_config_load_json(struct sipwire_config *cfg, const char *text, size_t len,
                             const char *source, struct config_errors *errs)
{
	size_t before = errs->count;
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!root) {
		unsigned line = 1, col = 1;
		if (end && end >= text && end <= text + len) {
			for (const char *p = text; p < end; p++, col++)
				if (*p == '\n') {
					line++;
					col = 0;
				}
			add_error(errs, source, "invalid JSON near line %u, column %u", line, col);
		} else {
			add_error(errs, source, "invalid JSON");
		}
		return step_result(errs, before);
	}
	if (!cJSON_IsObject(root))
		add_error(errs, source, "must hold a JSON object {...}");
	else
		walk_object(cfg, root, NULL, errs);
	cJSON_Delete(root);
	return step_result(errs, before);
}

int sipwire_config_load_file(struct sipwire_config *cfg, const char *path,
                             struct config_errors *errs)
{
	size_t before = errs->count;
	FILE *f = fopen(path, "rb");
	if (!f) {
		add_error(errs, path, "%s", strerror(errno));
		return step_result(errs, before);
	}
	/* A configuration file is small; a megabyte is far beyond any sane one. */
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	if (!buf) {
		fclose(f);
		errs->oom = true;
		return -ENOMEM;
	}
	n = fread(buf, 1, cap, f);
	bool too_big = n == cap;
	bool failed = ferror(f);
	fclose(f);
	if (failed)
		add_error(errs, path, "read error");
	else if (too_big)
		add_error(errs, path, "larger than 1 MiB");
	else
		sipwire_config_load_json(cfg, buf, n, path, errs);
	free(buf);
	if (!errs->oom) {
		char *copy = strdup(path);
		if (copy) {
			free(cfg->config_file);
			cfg->config_file = copy;
		} else {
			errs->oom = true;
		}
	}
	return step_result(errs, before);
}

/* ---- environment ---- */

static const char *env_get(char **envp, const char *name)
{
	size_t n = strlen(name);
	for (char **e = envp; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* SIPWIRE_ + the path in capitals with '.' as '_': listen.wss_port is
 * SIPWIRE_LISTEN_WSS_PORT. */
static void env_name(const struct option_def *opt, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "SIPWIRE_");
	for (const char *p = opt->path; *p && n + 1 < size; p++)
		buf[n++] = *p == '.' ? '_' : (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
	buf[n] = 0;
}

typedef void (*spec_fn)(struct sipwire_config *cfg, const char *where, const char *spec, size_t len,
                        struct config_errors *errs);

/* Each item of a list, separated by any of seps, labelled label[i]. Empty
 * items between separators are skipped when the separator is white space. */
static void each_in_list(struct sipwire_config *cfg, const char *label, const char *s,
                         const char *seps, spec_fn fn, struct config_errors *errs)
{
	size_t i = 0;
	bool skip_empty = strchr(seps, ' ') != NULL;
	const char *p = s;
	if (!*s)
		return;
	for (;;) {
		size_t len = strcspn(p, seps);
		const char *end = p[len] ? p + len : NULL;
		if (len || !skip_empty) {
			char at[192]; /* label (up to 140) plus an index */
			snprintf(at, sizeof(at), "%s[%zu]", label, i++);
			fn(cfg, at, p, len, errs);
		}
		if (!end)
			break;
		p = end + 1;
	}
}

/* The list variables: their syntax is the flag's, items separated by ','
 * (routes by white space, since a regular expression may hold a ','). */
static const struct env_list {
	const char *name;
	const char *seps;
	spec_fn fn;
	bool after_trunks; /* names trunks, so it is read after SIPWIRE_TRUNKS */
} env_lists[] = {
    {"SIPWIRE_USERS", ",", add_user_spec, false},
    {"SIPWIRE_TRUNKS", ",", add_trunk_spec, false},
    {"SIPWIRE_TRUNK_AUTH", ",", trunk_auth_spec, true},
    {"SIPWIRE_TRUNK_REGISTER", ",", trunk_register_spec, true},
    {"SIPWIRE_TRUNK_SRTP", ",", trunk_srtp_spec, true},
    {"SIPWIRE_ROUTES", " \t\n", add_route_spec, false},
};

int sipwire_config_apply_env(struct sipwire_config *cfg, char **envp, struct config_errors *errs)
{
	size_t before = errs->count;
	for (char **e = envp; e && *e; e++) {
		if (strncmp(*e, "SIPWIRE_", 8) != 0)
			continue;
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		size_t nlen = (size_t)(eq - *e);
		const char *value = eq + 1;
		char name[128], at[140];
		if (nlen >= sizeof(name)) {
			add_error(errs, "env SIPWIRE_...", "unknown variable (name too long)");
			continue;
		}
		memcpy(name, *e, nlen);
		name[nlen] = 0;
		snprintf(at, sizeof(at), "env %s", name);
		if (strcmp(name, "SIPWIRE_CONFIG") == 0)
			continue;
		const struct env_list *list = NULL;
		for (size_t i = 0; i < sizeof(env_lists) / sizeof(env_lists[0]); i++)
			if (strcmp(name, env_lists[i].name) == 0)
				list = &env_lists[i];
		if (list) {
			if (!list->after_trunks)
				each_in_list(cfg, at, value, list->seps, list->fn, errs);
			continue;
		}
		const struct option_def *opt = NULL;
		for (size_t i = 0; i < N_OPTIONS && !opt; i++) {
			char derived[128];
			env_name(&options[i], derived, sizeof(derived));
			if (strcmp(derived, name) == 0)
				opt = &options[i];
		}
		if (!opt) {
			add_error(errs, at, "unknown variable");
			continue;
		}
		set_from_string(cfg, opt, at, value, errs);
	}
	for (size_t i = 0; i < sizeof(env_lists) / sizeof(env_lists[0]); i++) {
		if (!env_lists[i].after_trunks)
			continue;
		char at[140];
		snprintf(at, sizeof(at), "env %s", env_lists[i].name);
		const char *value = env_get(envp, env_lists[i].name);
		if (value)
			each_in_list(cfg, at, value, env_lists[i].seps, env_lists[i].fn, errs);
	}
	return step_result(errs, before);
}

/* ---- command line ---- */

int sipwire_config_apply_args(struct sipwire_config *cfg, int argc, char **argv,
                              struct config_errors *errs)
{
	size_t before = errs->count;
	size_t n_user = 0, n_trunk = 0, n_route = 0;
	/* --trunk-auth, --trunk-register and --trunk-srtp name a trunk that may
	 * come later on the line: they are applied after it, in their order. */
	struct later_flag {
		const char *value;
		const char *flag;
	} *later = calloc((size_t)argc, sizeof(*later));
	size_t n_later = 0;
	if (!later) {
		errs->oom = true;
		return -ENOMEM;
	}
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		char flag[64], at[400];
		if (strncmp(arg, "--", 2) != 0) {
			/* not echoed: a stray word may be a password after a mistyped flag */
			snprintf(at, sizeof(at), "argument %d", i);
			add_error(errs, at, "unexpected (options start with --)");
			continue;
		}
		const char *eq = strchr(arg, '=');
		size_t flen = eq ? (size_t)(eq - arg) : strlen(arg);
		if (flen >= sizeof(flag)) {
			snprintf(at, sizeof(at), "argument %d", i);
			add_error(errs, at, "unknown option");
			continue;
		}
		memcpy(flag, arg, flen);
		flag[flen] = 0;

		if (strcmp(flag, "--ice-lite") == 0 && !eq) { /* a switch: no value */
			cfg->media.ice_lite = true;
			continue;
		}
		if (strcmp(flag, "--no-demo") == 0 && !eq) {
			cfg->demo.enabled = false;
			continue;
		}
		const struct option_def *opt = NULL;
		for (size_t k = 0; k < N_OPTIONS && !opt; k++)
			if (options[k].flag && strcmp(options[k].flag, flag) == 0)
				opt = &options[k];
		bool known = opt || strcmp(flag, "--config") == 0 || strcmp(flag, "--user") == 0 ||
		             strcmp(flag, "--rtp-ports") == 0 ||
		             strcmp(flag, "--set") == 0 || strcmp(flag, "--trunk") == 0 ||
		             strcmp(flag, "--trunk-auth") == 0 || strcmp(flag, "--trunk-srtp") == 0 ||
		             strcmp(flag, "--trunk-register") == 0 || strcmp(flag, "--route") == 0;
		if (!known) {
			add_error(errs, flag, "unknown option");
			continue;
		}
		const char *value = eq ? eq + 1 : NULL;
		if (!value) {
			if (i + 1 >= argc) {
				add_error(errs, flag, "needs a value");
				continue;
			}
			value = argv[++i];
		}
		if (strcmp(flag, "--config") == 0)
			continue;
		if (strcmp(flag, "--user") == 0) {
			snprintf(at, sizeof(at), "--user[%zu]", n_user++);
			add_user_spec(cfg, at, value, strlen(value), errs);
			continue;
		}
		if (strcmp(flag, "--trunk") == 0) {
			snprintf(at, sizeof(at), "--trunk[%zu]", n_trunk++);
			add_trunk_spec(cfg, at, value, strlen(value), errs);
			continue;
		}
		if (strcmp(flag, "--rtp-ports") == 0) {
			/* LOW-HIGH: the two range keys, each checked as --set would */
			const char *dash = strchr(value, '-');
			char low[16];
			if (!dash || (size_t)(dash - value) >= sizeof(low) || dash == value || !dash[1]) {
				add_error(errs, flag, "must be LOW-HIGH, e.g. 20000-29999");
				continue;
			}
			memcpy(low, value, (size_t)(dash - value));
			low[dash - value] = 0;
			set_from_string(cfg, find_option("media.rtp_port_min"), flag, low, errs);
			set_from_string(cfg, find_option("media.rtp_port_max"), flag, dash + 1, errs);
			continue;
		}
		if (strcmp(flag, "--route") == 0) {
			snprintf(at, sizeof(at), "--route[%zu]", n_route++);
			add_route_spec(cfg, at, value, strlen(value), errs);
			continue;
		}
		if (strcmp(flag, "--trunk-auth") == 0 || strcmp(flag, "--trunk-register") == 0 ||
		    strcmp(flag, "--trunk-srtp") == 0) {
			later[n_later].value = value;
			later[n_later++].flag = strcmp(flag, "--trunk-auth") == 0 ? "--trunk-auth"
			                        : strcmp(flag, "--trunk-srtp") == 0 ? "--trunk-srtp"
			                                                           : "--trunk-register";
			continue;
		}
		if (opt) {
			set_from_string(cfg, opt, flag, value, errs);
			continue;
		}
		/* --set PATH=VALUE reaches every key without a flag of its own. */
		const char *veq = strchr(value, '=');
		size_t plen = veq ? (size_t)(veq - value) : strlen(value);
		if (plen > 256)
			plen = 256;
		snprintf(at, sizeof(at), "--set %.*s", (int)plen, value);
		if (!veq) {
			add_error(errs, at, "must be --set KEY=VALUE");
			continue;
		}
		char path[257];
		memcpy(path, value, plen);
		path[plen] = 0;
		opt = find_option(path);
		if (!opt && strcmp(path, "users") == 0)
			add_error(errs, at, "add users with --user NAME:PASSWORD");
		else if (!opt && strcmp(path, "trunks") == 0)
			add_error(errs, at, "add trunks with --trunk NAME=URI");
		else if (!opt && strcmp(path, "routes") == 0)
			add_error(errs, at, "add routes with --route PATTERN=TARGET");
		else if (!opt)
			add_error(errs, at, "unknown key");
		else
			set_from_string(cfg, opt, at, veq + 1, errs);
	}
	size_t n_auth = 0, n_register = 0, n_srtp = 0;
	for (size_t k = 0; k < n_later; k++) {
		const char *value = later[k].value;
		char at[64];
		if (strcmp(later[k].flag, "--trunk-auth") == 0) {
			snprintf(at, sizeof(at), "--trunk-auth[%zu]", n_auth++);
			trunk_auth_spec(cfg, at, value, strlen(value), errs);
		} else if (strcmp(later[k].flag, "--trunk-srtp") == 0) {
			snprintf(at, sizeof(at), "--trunk-srtp[%zu]", n_srtp++);
			trunk_srtp_spec(cfg, at, value, strlen(value), errs);
		} else {
			snprintf(at, sizeof(at), "--trunk-register[%zu]", n_register++);
			trunk_register_spec(cfg, at, value, strlen(value), errs);
		}
	}
	free(later);
	return step_result(errs, before);
}

/* ---- derived values and cross checks ---- */

static void check_ports(const struct sipwire_config *cfg, struct config_errors *errs)
{
	static const char *const names[] = {"listen.ws_port", "listen.wss_port", "listen.sip_port",
	                                    "listen.tls_port"};
	unsigned ports[] = {cfg->listen.ws_port, cfg->listen.wss_port, cfg->listen.sip_port,
	                    cfg->listen.tls_port};
	for (size_t i = 1; i < 4; i++)
		for (size_t k = 0; k < i; k++)
			if (ports[i] && ports[i] == ports[k]) {
				add_error(errs, names[i], "port %u is already used by %s", ports[i],
				          names[k]);
				break;
			}
}

/* auth.algorithms: "MD5", "SHA-256" or both, comma-separated, in the order the
 * challenges are offered. */
static void check_algorithms(struct sipwire_config *cfg, struct config_errors *errs)
{
	const char *p = cfg->auth.algorithms_text;
	cfg->auth.n_algorithms = 0;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ", ");
		if (!n)
			break;
		enum sip_auth_algorithm alg = sip_auth_algorithm_from_name((sip_pl){p, n});
		if (alg != SIP_AUTH_ALG_MD5 && alg != SIP_AUTH_ALG_SHA256) {
			add_error(errs, "auth.algorithms", "must list MD5 and/or SHA-256 (comma-separated)");
			return;
		}
		for (size_t i = 0; i < cfg->auth.n_algorithms; i++)
			if (cfg->auth.algorithms[i] == alg) {
				add_error(errs, "auth.algorithms", "lists an algorithm twice");
				return;
			}
		cfg->auth.algorithms[cfg->auth.n_algorithms++] = alg;
		p += n;
	}
	if (!cfg->auth.n_algorithms)
		add_error(errs, "auth.algorithms", "must list MD5 and/or SHA-256 (comma-separated)");
}

int sipwire_config_finish(struct sipwire_config *cfg, char **envp, struct config_errors *errs)
{
	size_t before = errs->count;
	bool has_cert = cfg->tls.cert_file && *cfg->tls.cert_file;
	bool has_key = cfg->tls.key_file && *cfg->tls.key_file;

	if (!cfg->listen.tls_port_set && has_cert)
		cfg->listen.tls_port = 5061;
	if (has_cert && !has_key)
		add_error(errs, "tls.key_file", "missing (needed with tls.cert_file)");
	if (has_key && !has_cert)
		add_error(errs, "tls.cert_file", "missing (needed with tls.key_file)");
	check_ports(cfg, errs);

	if (cfg->registrar.min_expires > cfg->registrar.max_expires)
		add_error(errs, "registrar.min_expires", "must not exceed registrar.max_expires");
	else if (cfg->registrar.default_expires < cfg->registrar.min_expires ||
	         cfg->registrar.default_expires > cfg->registrar.max_expires)
		add_error(errs, "registrar.default_expires",
		          "must be between registrar.min_expires and registrar.max_expires");
	check_algorithms(cfg, errs);
	check_trunks_and_routes(cfg, errs);
	if (cfg->ws.idle_timeout <= cfg->ws.ping_interval)
		add_error(errs, "ws.idle_timeout", "must be longer than ws.ping_interval");
	if (cfg->sip.timers.t2 < cfg->sip.timers.t1)
		add_error(errs, "sip.timers.t2", "must not be less than sip.timers.t1");
	/* RTP on an even port, RTCP on the odd one above: a range needs two. */
	if (cfg->media.rtp_port_max < cfg->media.rtp_port_min + 1)
		add_error(errs, "media.rtp_port_max", "must be above media.rtp_port_min");
	unsigned char addr[16];
	if (*cfg->media.address && inet_pton(AF_INET, cfg->media.address, addr) != 1 &&
	    inet_pton(AF_INET6, cfg->media.address, addr) != 1)
		add_error(errs, "media.address", "must be a numeric IPv4 or IPv6 address (or empty)");
	if (*cfg->media.public_ip && inet_pton(AF_INET, cfg->media.public_ip, addr) != 1 &&
	    inet_pton(AF_INET6, cfg->media.public_ip, addr) != 1)
		add_error(errs, "media.public_ip", "must be a numeric IPv4 or IPv6 address (or empty)");
	bool audio = false;
	for (size_t i = 0; i < cfg->media.codecs.n; i++)
		audio = audio || strcmp(cfg->media.codecs.v[i], "telephone-event") != 0;
	if (!audio)
		add_error(errs, "media.codecs", "must list at least one audio codec");
	if (cfg->mode == SIPWIRE_MODE_PASSTHROUGH && !*cfg->pbx.host)
		add_error(errs, "pbx.host", "missing (needed in passthrough mode)");
	/* The Contacts given to the PBX name the listener of its transport. */
	if (cfg->mode == SIPWIRE_MODE_PASSTHROUGH) {
		bool tls = cfg->pbx.transport == SIPWIRE_TRANSPORT_TLS;
		if (tls ? !cfg->listen.tls_port : !cfg->listen.sip_port)
			add_error(errs, tls ? "listen.tls_port" : "listen.sip_port",
			          "must not be 0 in passthrough mode: the PBX sends calls there");
	}

	if (!cfg->state_dir) {
		char buf[4096];
		const char *xdg = env_get(envp, "XDG_STATE_HOME");
		const char *home = env_get(envp, "HOME");
		buf[0] = 0;
		if (geteuid() == 0)
			snprintf(buf, sizeof(buf), "/var/lib/sipwire");
		else if (xdg && xdg[0] == '/')
			snprintf(buf, sizeof(buf), "%s/sipwire", xdg);
		else if (home && home[0] == '/')
			snprintf(buf, sizeof(buf), "%s/.local/state/sipwire", home);
		if (buf[0])
			replace_str(&cfg->state_dir, buf, errs);
		else
			add_error(errs, "state_dir", "missing (HOME is not set, so give one)");
	}
	return step_result(errs, before);
}

int sipwire_config_load(struct sipwire_config *cfg, int argc, char **argv, char **envp,
                        struct config_errors *errs)
{
	size_t before = errs->count;
	if (sipwire_config_defaults(cfg) < 0) {
		errs->oom = true;
		return -ENOMEM;
	}
	const char *file = env_get(envp, "SIPWIRE_CONFIG");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			file = argv[i] + 9;
		else if (strcmp(argv[i], "--user") == 0 || strcmp(argv[i], "--set") == 0 ||
		         strcmp(argv[i], "--trunk") == 0 || strcmp(argv[i], "--trunk-auth") == 0 ||
		         strcmp(argv[i], "--trunk-register") == 0 || strcmp(argv[i], "--trunk-srtp") == 0 ||
		         strcmp(argv[i], "--route") == 0)
			i++; /* skip the value: it is not a flag even if it looks like one */
	}
	if (file && *file)
		sipwire_config_load_file(cfg, file, errs);
	sipwire_config_apply_env(cfg, envp, errs);
	sipwire_config_apply_args(cfg, argc, argv, errs);
	sipwire_config_finish(cfg, envp, errs);
	return step_result(errs, before);
}
