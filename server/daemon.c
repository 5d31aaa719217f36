/* daemon.c — see daemon.h. */
#include "server/daemon.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "server/b2bua.h"
#include "server/certs.h"
#include "server/dialplan.h"
#include "server/endpoint.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/trunk.h"
#include "server/ws.h"

/* How long a stop waits for WebSocket closes to finish. */
#define STOP_GRACE_MS 2000

struct daemon {
	struct sipwire_config *cfg;
	int argc;
	char **argv, **envp;
	GMainLoop *loop;
	struct sw_endpoint *ep;
	struct sw_ws *ws;
	struct sw_http_files *demo;
	struct sw_trunk *trunk;
	bool ready; /* every configured listener is up */
	gint64 started_us, idle_us; /* for the signalling loop's load */
	bool stopping;
	bool ending_calls; /* the drain timeout passed: BYEs are out */
	gint64 drain_deadline, stop_deadline;
};

static void reply_text(struct sw_http_reply *reply, int status, const char *text)
{
	reply->status = status;
	reply->body = strdup(text);
	reply->len = reply->body ? strlen(text) : 0;
}

/* /healthz: 200 once every listener is up and while calls are taken; 503
 * while stopping, so a load balancer moves new browsers elsewhere. */
static void serve_health(struct daemon *d, struct sw_http_reply *reply)
{
	if (d->stopping)
		reply_text(reply, 503, "draining\n");
	else if (!d->ready)
		reply_text(reply, 503, "starting\n");
	else
		reply_text(reply, 200, "ok\n");
}

/* The signalling loop's load: the time its poll does not wait is work. The
 * poll function gets no argument: the loop's thread knows its daemon. */
static __thread struct daemon *this_daemon;

static gint timed_poll(GPollFD *fds, guint n, gint timeout)
{
	gint64 t0 = g_get_monotonic_time();
	gint r = g_poll(fds, n, timeout);
	this_daemon->idle_us += g_get_monotonic_time() - t0;
	return r;
}

static char *render_metrics(struct daemon *d, size_t *len)
{
	gint64 up = g_get_monotonic_time() - d->started_us;
	struct sw_daemon_metrics dm = {
		.draining = d->stopping,
		.uptime_s = (double)up / 1e6,
		.signalling_busy_s = (double)(up - d->idle_us) / 1e6,
	};
	return sw_metrics_render(&dm, d->ws, d->ep, len);
}

/* The daemon's own HTTP paths on the WebSocket listeners. */
static void on_http(void *arg, const struct sw_http_request *req, struct sw_http_reply *reply)
{
	struct daemon *d = arg;
	bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	if (strcmp(req->path, "/healthz") == 0) {
		if (get)
			serve_health(d, reply);
		else
			reply_text(reply, 405, "GET or HEAD\n");
	} else if (strcmp(req->path, "/metrics") == 0) {
		if (!sw_metrics_allowed(d->cfg, req->peer))
			reply_text(reply, 403, "not in metrics.allow\n");
		else if (!get)
			reply_text(reply, 405, "GET or HEAD\n");
		else if ((reply->body = render_metrics(d, &reply->len))) {
			reply->status = 200;
			reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
		}
	}
}

static size_t active_calls(struct daemon *d)
{
	struct sw_b2bua_stats st;
	sw_b2bua_stats(sw_endpoint_b2bua(d->ep), &st);
	return st.active;
}

/* The last step of a stop: WebSocket closes (1001), then the loop ends. */
static gboolean close_poll(gpointer data)
{
	struct daemon *d = data;
	if (sw_ws_connections(d->ws) == 0 || g_get_monotonic_time() >= d->stop_deadline) {
		g_main_loop_quit(d->loop);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static void close_connections(struct daemon *d)
{
	LOG_INFO("daemon", "stopping: closing %zu WebSocket connection%s", sw_ws_connections(d->ws),
	         sw_ws_connections(d->ws) == 1 ? "" : "s");
	sw_ws_shutdown(d->ws);
	d->stop_deadline = g_get_monotonic_time() + STOP_GRACE_MS * 1000;
	g_timeout_add(20, close_poll, d);
}

/* Draining: calls in progress go on until they end or the drain timeout
 * passes; then the rest are ended with BYE, and their BYEs get up to
 * STOP_GRACE_MS to be answered before the connections close. */
static gboolean drain_poll(gpointer data)
{
	struct daemon *d = data;
	size_t calls = active_calls(d);
	gint64 now = g_get_monotonic_time();
	if (calls && !d->ending_calls && now >= d->drain_deadline) {
		LOG_INFO("daemon", "drain timeout: ending %zu call%s with BYE", calls,
		         calls == 1 ? "" : "s");
		sw_b2bua_end_calls(sw_endpoint_b2bua(d->ep), "drain timeout");
		d->ending_calls = true;
		d->drain_deadline = now + STOP_GRACE_MS * 1000;
		return G_SOURCE_CONTINUE;
	}
	if (calls && now < d->drain_deadline)
		return G_SOURCE_CONTINUE;
	close_connections(d);
	return G_SOURCE_REMOVE;
}

static gboolean on_signal(gpointer data)
{
	struct daemon *d = data;
	if (d->stopping) {
		LOG_WARN("daemon", "second signal: stopping now");
		g_main_loop_quit(d->loop);
		return G_SOURCE_CONTINUE;
	}
	d->stopping = true;
	unsigned timeout = d->cfg->shutdown.drain_timeout;
	size_t calls = active_calls(d);
	LOG_INFO("daemon",
	         "draining: new connections and calls refused, %zu call%s in progress may go "
	         "on for up to %u s (a second signal stops now)",
	         calls, calls == 1 ? "" : "s", timeout);
	sw_ws_refuse_new(d->ws);
	sw_b2bua_drain(sw_endpoint_b2bua(d->ep), timeout);
	d->drain_deadline = g_get_monotonic_time() + (gint64)timeout * G_USEC_PER_SEC;
	g_timeout_add(50, drain_poll, d);
	return G_SOURCE_CONTINUE;
}

static bool same_trunks(const struct sipwire_config *a, const struct sipwire_config *b)
{
	if (a->n_trunks != b->n_trunks)
		return false;
	for (size_t i = 0; i < a->n_trunks; i++)
		if (strcmp(a->trunks[i].name, b->trunks[i].name) != 0 ||
		    strcmp(a->trunks[i].uri, b->trunks[i].uri) != 0)
			return false;
	return true;
}

static void swap_users(struct sipwire_config *a, struct sipwire_config *b)
{
	struct sipwire_user *users = a->users;
	size_t n = a->n_users;
	a->users = b->users;
	a->n_users = b->n_users;
	b->users = users;
	b->n_users = n;
}

/* How many of a's users b does not have. */
static size_t users_missing(const struct sipwire_config *a, const struct sipwire_config *b)
{
	size_t n = 0;
	for (size_t i = 0; i < a->n_users; i++) {
		bool found = false;
		for (size_t k = 0; k < b->n_users && !found; k++)
			found = strcmp(a->users[i].name, b->users[k].name) == 0;
		n += !found;
	}
	return n;
}

/* SIGHUP: the configuration again, from where it came; what can change
 * without dropping a call is applied. */
static void reload(struct daemon *d)
{
	struct sipwire_config fresh;
	struct config_errors errs;
	config_errors_init(&errs);
	const char *from = d->cfg->config_file ? d->cfg->config_file : "the flags and environment";
	int rc = sipwire_config_load(&fresh, d->argc, d->argv, d->envp, &errs);
	if (rc < 0) {
		for (size_t i = 0; i < errs.count; i++)
			LOG_ERR("daemon", "reload: %s", errs.msg[i]);
		LOG_ERR("daemon", "reload of %s refused (%zu error%s); the running configuration is kept",
		        from, errs.count, errs.count == 1 ? "" : "s");
		goto out;
	}
	struct sipwire_config *cfg = d->cfg;
	struct sw_b2bua *b = sw_endpoint_b2bua(d->ep);
	/* The dial plan names trunks by their place in the list: a new plan
	 * needs the trunks the calls run on, which change only on a restart. */
	struct sw_dialplan *plan = NULL;
	bool trunks_same = same_trunks(cfg, &fresh);
	if (trunks_same && sw_dialplan_new(&fresh, &plan) < 0) {
		LOG_ERR("daemon", "reload of %s refused: the dial plan does not compile", from);
		goto out;
	}
	if (strcmp(cfg->realm, fresh.realm) != 0)
		LOG_WARN("daemon", "reload: realm changes take a restart; still %s", cfg->realm);
	if (!trunks_same)
		LOG_WARN("daemon", "reload: trunks changed: they and the dial plan take a restart; "
		                   "the running ones are kept");
	size_t added = users_missing(&fresh, cfg), removed = users_missing(cfg, &fresh);
	/* Swapped, so that what is freed with `fresh` is the old. */
	swap_users(cfg, &fresh);
	if (sw_endpoint_reload_users(d->ep) < 0) {
		swap_users(cfg, &fresh);
		sw_dialplan_free(plan);
		LOG_ERR("daemon", "reload of %s refused: a password cannot be hashed", from);
		goto out;
	}
	if (plan) {
		sw_b2bua_set_plan(b, plan);
		struct sipwire_route *routes = cfg->routes;
		size_t n_routes = cfg->n_routes;
		cfg->routes = fresh.routes;
		cfg->n_routes = fresh.n_routes;
		fresh.routes = routes;
		fresh.n_routes = n_routes;
	}
	cfg->log_level = fresh.log_level;
	cfg->log_format = fresh.log_format;
	sw_log_set_level(cfg->log_level);
	sw_log_set_format(cfg->log_format);
	LOG_INFO("daemon",
	         "reloaded %s: %zu user%s (%zu added, %zu removed), %s, log level %s; %zu call%s "
	         "in progress go on",
	         from, cfg->n_users, cfg->n_users == 1 ? "" : "s", added, removed,
	         plan ? (cfg->n_routes ? "the dial plan's routes" : "the default dial plan")
	              : "the dial plan unchanged",
	         sipwire_log_level_name(cfg->log_level), active_calls(d),
	         active_calls(d) == 1 ? "" : "s");
out:
	sipwire_config_free(&fresh);
	config_errors_free(&errs);
}

static gboolean on_reload(gpointer data)
{
	struct daemon *d = data;
	if (d->stopping) {
		LOG_INFO("daemon", "SIGHUP while stopping: not reloaded");
		return G_SOURCE_CONTINUE;
	}
	reload(d);
	/* Certificates renewed on disk, for new connections (whatever became
	 * of the configuration: a renewal must not wait for a good file). */
	sw_ws_reload_tls(d->ws);
	sw_trunk_reload_tls(d->trunk);
	return G_SOURCE_CONTINUE;
}

/* Every connection is a descriptor: take all the kernel allows. */
static rlim_t raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

/* The softphone's files, when turned on. A folder that cannot be served
 * leaves the daemon running without it: SIP does not need the page. */
static void open_demo(struct daemon *d)
{
	const struct sipwire_config *cfg = d->cfg;
	if (!cfg->demo.enabled)
		return;
	int sipjs_missing = 0;
	int rc = sw_http_files_new(&d->demo, cfg->demo.dir, &sipjs_missing);
	if (rc == -ENOENT) {
		LOG_WARN("daemon", "demo.dir %s has no index.html: the softphone page is off",
		         cfg->demo.dir);
		return;
	}
	if (rc < 0) {
		LOG_ERR("daemon", "cannot serve the softphone: %s", strerror(-rc));
		return;
	}
	if (sipjs_missing)
		LOG_WARN("daemon", "%s/node_modules/sip.js/lib is missing: the softphone cannot "
		                   "load SIP.js (run npm ci in %s, or scripts/bootstrap)",
		         sw_http_files_root(d->demo), sw_http_files_root(d->demo));
	const char *scheme = cfg->listen.wss_port ? "https" : "http";
	unsigned port = cfg->listen.wss_port ? cfg->listen.wss_port : cfg->listen.ws_port;
	const char *bind = cfg->listen.bind;
	bool any = strcmp(bind, "127.0.0.1") == 0 || strcmp(bind, "0.0.0.0") == 0 ||
	           strcmp(bind, "::") == 0 || strcmp(bind, "::1") == 0;
	bool v6 = !any && strchr(bind, ':');
	LOG_INFO("daemon", "softphone: %s://%s%s%s:%u/ (from %s)", scheme, v6 ? "[" : "",
	         any ? "localhost" : bind, v6 ? "]" : "", port, sw_http_files_root(d->demo));
}

int sw_daemon_run(struct sipwire_config *cfg, int argc, char **argv, char **envp)
{
	struct daemon d = {.cfg = cfg, .argc = argc, .argv = argv, .envp = envp};
	int rc = 1;
	sw_log_set_level(cfg->log_level);
	sw_log_set_format(cfg->log_format);
	signal(SIGPIPE, SIG_IGN);
	rlim_t fds = raise_fd_limit();
	/* libwebsockets sizes its tables by this: keep it reasonable. */
	unsigned max_conns = fds > 1000000 ? 1000000 : (unsigned)fds;

	char cert[4096], key[4096];
	const char *cert_file = cfg->tls.cert_file, *key_file = cfg->tls.key_file;
	if (!*cert_file && (cfg->listen.wss_port || cfg->listen.tls_port)) {
		if (sw_certs_ensure_self_signed(cfg->state_dir, cert, key, sizeof cert) < 0)
			return 1;
		cert_file = cert;
		key_file = key;
	}

	d.loop = g_main_loop_new(NULL, FALSE);
	this_daemon = &d;
	d.started_us = g_get_monotonic_time();
	g_main_context_set_poll_func(g_main_loop_get_context(d.loop), timed_poll);
	GMainContext *ctx = g_main_loop_get_context(d.loop);
	if (sw_endpoint_new(&d.ep, cfg, ctx) < 0) {
		LOG_ERR("daemon", "cannot start the SIP endpoint");
		goto out;
	}
	struct sw_flow_sink sink = sw_endpoint_sink(d.ep);

	if (cfg->listen.sip_port || cfg->listen.tls_port || cfg->mode == SIPWIRE_MODE_PASSTHROUGH) {
		struct sw_trunk_config tc = {
			.ctx = ctx,
			.bind = cfg->listen.bind,
			.sip_port = cfg->listen.sip_port,
			.tls_port = cfg->listen.tls_port,
			.tls_cert_file = *cert_file ? cert_file : NULL,
			.tls_key_file = *key_file ? key_file : NULL,
			.tls_ca_file = *cfg->tls.ca_file ? cfg->tls.ca_file : NULL,
			.tls_verify = cfg->tls.verify_server,
			.limits = cfg->sip.limits,
			.idle_timeout_s = 3600,
			.message_timeout_s = cfg->limits.message_timeout,
			.sink = sink,
		};
		if (sw_trunk_new(&d.trunk, &tc) < 0 || sw_endpoint_set_trunk(d.ep, d.trunk) < 0)
			goto out;
	}

	if (cfg->listen.ws_port || cfg->listen.wss_port) {
		open_demo(&d);
		struct sw_ws_config wc = {
			.loop = d.loop,
			.bind = cfg->listen.bind,
			.ws_port = cfg->listen.ws_port,
			.wss_port = cfg->listen.wss_port,
			.cert_file = cert_file,
			.key_file = key_file,
			.allowed_origins = (const char *const *)cfg->ws.allowed_origins.v,
			.n_allowed_origins = cfg->ws.allowed_origins.n,
			.max_msg_size = cfg->sip.limits.max_msg_size,
			.ping_interval_s = cfg->ws.ping_interval,
			.idle_timeout_s = cfg->ws.idle_timeout,
			.handshake_timeout_s = cfg->limits.handshake_timeout,
			.max_connections = max_conns,
			.sink = sink,
			.http = on_http,
			.http_arg = &d,
			.demo = d.demo,
		};
		if (sw_ws_new(&d.ws, &wc) < 0)
			goto out;
	}

	d.ready = true;
	g_unix_signal_add(SIGINT, on_signal, &d);
	g_unix_signal_add(SIGTERM, on_signal, &d);
	g_unix_signal_add(SIGHUP, on_reload, &d);
	LOG_INFO("daemon", "sipwire %s running (%s mode, realm %s, %zu local user%s)",
	         SIPWIRE_VERSION, cfg->mode == SIPWIRE_MODE_LOCAL ? "local" : "passthrough",
	         cfg->realm, cfg->n_users, cfg->n_users == 1 ? "" : "s");
	g_main_loop_run(d.loop);
	struct sw_endpoint_stats st;
	sw_endpoint_stats(d.ep, &st);
	LOG_INFO("daemon",
	         "stopped after %llu requests, %llu responses, %llu unparsable messages, "
	         "%llu keep-alives; %zu bindings and %zu transactions were live",
	         (unsigned long long)st.requests, (unsigned long long)st.responses,
	         (unsigned long long)st.parse_errors, (unsigned long long)st.keepalives, st.bindings,
	         st.transactions);
	rc = 0;
out:
	/* Calls and trunk registrations end while their transports can still
	 * carry the BYEs and the REGISTER that removes the binding. */
	sw_endpoint_stop(d.ep);
	sw_ws_free(d.ws);
	sw_http_files_free(d.demo);
	sw_trunk_free(d.trunk);
	sw_endpoint_free(d.ep);
	g_main_context_set_poll_func(g_main_loop_get_context(d.loop), NULL); /* g_poll again */
	this_daemon = NULL;
	g_main_loop_unref(d.loop);
	return rc;
}
