/* media.c — see media.h: the handlers of webrtc/ (sdh_rtp, sdh_webrtc) under
 * the B2BUA's interface, and the media timeout. */
#include "server/media.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "server/log.h"
#include "webrtc/dtls.h"
#include "webrtc/sdh_rtp.h"
#include "webrtc/sdh_sdes.h"
#include "webrtc/sdh_webrtc.h"
#include "webrtc/sdp.h"

struct sw_media;

/* One GLib context a media thread iterates: its descriptors in an epoll
 * set of their own, itself in the RTP context's set, and its next timeout. */
struct glib_set {
	GMainContext *ctx;
	int epfd;
	GPollFD *gfds, *registered; /* as queried, as in epfd */
	gint n_gfds, n_registered, cap_gfds;
	gint prio;   /* of the last prepare */
	int64_t due; /* monotonic µs of its next timeout; -1: none */
};

/* A media thread: its loop, and the handlers' contexts for its share of
 * the port range. The thread waits in the RTP context's epoll set, which
 * holds every media socket and the sets of its two GLib contexts: its own
 * (jobs, the handlers' timers) and libnice's agents (each with its timers,
 * a few thousand sources at a thousand calls). A GLib context is
 * iterated only when one of its descriptors is ready or its next timeout
 * is due, and each turn walks every source of the context: apart, the
 * handlers' frequent timers do not walk the agents'. */
enum { GLIB_MAIN, GLIB_ICE, GLIB_SETS };

struct media_worker {
	unsigned index;
	GThread *thread;
	GMainContext *ctx; /* glib[GLIB_MAIN].ctx */
	struct sdh_rtp_ctx *rtp;
	struct sdh_webrtc_ctx *webrtc;
	unsigned legs; /* signalling thread's count, to place new calls */
	/* worker-owned, read by jobs: for the metrics */
	struct sw_media *live;       /* the worker's legs */
	struct sw_media_totals gone; /* what the legs already freed carried */
	int64_t started_us, idle_us; /* the loop's start; time spent waiting in epoll_wait */
	/* worker-owned: the loop */
	bool quit;
	unsigned realtime_priority; /* media.realtime_priority */
	struct glib_set glib[GLIB_SETS];
	struct sw_media *watched; /* legs under the media timeout */
	GSource *watch_tick;
};

struct sw_media_ctx {
	GMainContext *signal_ctx; /* where events are delivered */
	struct media_worker *workers;
	unsigned n_workers;
	struct dtls_cert *cert; /* one per process: its fingerprint is in every offer */
	unsigned timeout_s;
	/* The media sockets are on every address and media.address names none
	 * to advertise: each leg gives the address its peer reaches (see
	 * sw_media_set_local). */
	bool per_leg_address;
};

/* A leg. The fields above `worker-owned` are the signalling thread's; the
 * handlers and the watch are the worker's. refs: the owner's, plus one per
 * event on its way to the signalling thread. */
struct sw_media {
	struct sw_media_ctx *ctx;
	struct media_worker *w;
	enum sw_media_kind kind;
	gint refs;
	struct sw_media_events ev;
	bool failed, freed;
	/* worker-owned */
	struct sdh_rtp *rtp;       /* the handler: the leg's own, or webrtc's */
	struct sdh_rtp *own_rtp;   /* SW_MEDIA_RTP */
	struct sdh_webrtc *webrtc; /* SW_MEDIA_WEBRTC */
	struct sdh_sdes *sdes;     /* SW_MEDIA_SDES */
	bool watched;
	struct sw_media *wprev, *wnext; /* w->watched */
	int64_t quiet_since; /* monotonic µs: when the peer last had to start sending */
	bool closed;
	struct sw_media_stats at_close; /* what the media carried, taken as it closed */
	struct sw_media *live_prev, *live_next; /* the worker's list */
	char tag[16]; /* the owner's name for it (a call id), before its log lines */
};

static void media_log(void *arg, const char *line) { LOG_DEBUG("media", "%s", line); }

/* ---- running on a worker ---- */

struct job {
	void (*fn)(void *);
	void *arg;
	GMutex lock;
	GCond cond;
	bool done;
};

static gboolean job_run(gpointer data)
{
	struct job *j = data;
	j->fn(j->arg);
	g_mutex_lock(&j->lock);
	j->done = true;
	g_cond_signal(&j->cond);
	g_mutex_unlock(&j->lock); /* the waiter may free j from here on */
	return G_SOURCE_REMOVE;
}

/* Run fn(arg) on w's thread and wait for it: the handlers belong to that
 * thread. Jobs run in the order they were queued. */
static void run_on(struct media_worker *w, void (*fn)(void *), void *arg)
{
	if (g_main_context_is_owner(w->ctx)) {
		fn(arg);
		return;
	}
	struct job j = {.fn = fn, .arg = arg};
	g_mutex_init(&j.lock);
	g_cond_init(&j.cond);
	GSource *s = g_idle_source_new();
	g_source_set_priority(s, G_PRIORITY_HIGH);
	g_source_set_callback(s, job_run, &j, NULL);
	g_source_attach(s, w->ctx);
	g_source_unref(s);
	g_mutex_lock(&j.lock);
	while (!j.done)
		g_cond_wait(&j.cond, &j.lock);
	g_mutex_unlock(&j.lock);
	g_mutex_clear(&j.lock);
	g_cond_clear(&j.cond);
}

static uint32_t epoll_events_of(gushort glib)
{
	return (glib & G_IO_IN ? EPOLLIN : 0u) | (glib & G_IO_OUT ? EPOLLOUT : 0u) |
	       (glib & G_IO_PRI ? EPOLLPRI : 0u);
}

/* The context's descriptors into its epoll set, once per turn (not per
 * packet; they are few once the calls' ICE is done). */
static void glib_sync_fds(struct glib_set *g)
{
	if (g->n_gfds == g->n_registered &&
	    (g->n_gfds == 0 || /* then both arrays may still be NULL */
	     memcmp(g->gfds, g->registered, (size_t)g->n_gfds * sizeof *g->gfds) == 0)) {
		/* The same numbers may be other descriptors: one closed (which
		 * took it out of the set) and its number reused since. Adding
		 * again puts those back; the others answer EEXIST. */
		for (gint i = 0; i < g->n_gfds; i++) {
			struct epoll_event ev = {.events = epoll_events_of(g->gfds[i].events),
			                         .data.u64 = (uint64_t)g->gfds[i].fd};
			epoll_ctl(g->epfd, EPOLL_CTL_ADD, g->gfds[i].fd, &ev);
		}
		return;
	}
	for (gint i = 0; i < g->n_registered; i++)
		epoll_ctl(g->epfd, EPOLL_CTL_DEL, g->registered[i].fd, NULL);
	for (gint i = 0; i < g->n_gfds; i++) {
		struct epoll_event ev = {.events = epoll_events_of(g->gfds[i].events),
		                         .data.u64 = (uint64_t)g->gfds[i].fd};
		if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, g->gfds[i].fd, &ev) != 0 && errno == EEXIST) {
			/* one descriptor in two GLib sources: wait for both kinds */
			for (gint k = 0; k < i; k++)
				if (g->gfds[k].fd == g->gfds[i].fd)
					ev.events |= epoll_events_of(g->gfds[k].events);
			epoll_ctl(g->epfd, EPOLL_CTL_MOD, g->gfds[i].fd, &ev);
		}
	}
	if (g->n_gfds > 0)
		memcpy(g->registered, g->gfds, (size_t)g->n_gfds * sizeof *g->gfds);
	g->n_registered = g->n_gfds;
}

/* The context's next turn: prepared and queried, its descriptors in its
 * set, its due time. */
static void glib_query(struct glib_set *g)
{
	gint timeout = -1;
	g_main_context_prepare(g->ctx, &g->prio);
	for (;;) {
		gint n = g_main_context_query(g->ctx, g->prio, &timeout, g->gfds, g->cap_gfds);
		if (n <= g->cap_gfds) {
			g->n_gfds = n;
			break;
		}
		g->gfds = g_renew(GPollFD, g->gfds, n);
		g->registered = g_renew(GPollFD, g->registered, n);
		g->cap_gfds = n;
	}
	glib_sync_fds(g);
	g->due = timeout < 0 ? -1 : g_get_monotonic_time() + (int64_t)timeout * 1000;
}

static void glib_turn(struct glib_set *g)
{
	g_poll(g->gfds, (guint)g->n_gfds, 0);
	if (g_main_context_check(g->ctx, g->prio, g->gfds, g->n_gfds))
		g_main_context_dispatch(g->ctx);
	glib_query(g);
}

static int glib_set_open(struct media_worker *w, unsigned i, GMainContext *ctx)
{
	struct glib_set *g = &w->glib[i];
	g->ctx = ctx;
	g->due = -1;
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g->epfd < 0)
		return -errno;
	return 0;
}

static void glib_set_close(struct glib_set *g)
{
	if (g->epfd > 0)
		close(g->epfd);
	g_free(g->gfds);
	g_free(g->registered);
	if (g->ctx)
		g_main_context_unref(g->ctx);
}

/* media.realtime_priority: the thread is scheduled before every normal one
 * on its core, so a wake-up for media does not wait behind other work (the
 * kernel still keeps 5% of each second for normal threads). Refused
 * without CAP_SYS_NICE: then it runs as before, and says so. */
static void worker_set_priority(const struct media_worker *w)
{
	if (!w->realtime_priority)
		return;
	struct sched_param sp = {.sched_priority = (int)w->realtime_priority};
	int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	if (rc != 0)
		LOG_WARN("media", "media%u: realtime priority %u refused (%s): it runs at normal "
		                  "priority (the process needs CAP_SYS_NICE)",
		         w->index, w->realtime_priority, strerror(rc));
}

static gpointer worker_main(gpointer data)
{
	struct media_worker *w = data;
	worker_set_priority(w);
	w->started_us = g_get_monotonic_time();
	g_main_context_push_thread_default(w->ctx); /* acquires it for the thread's life */
	g_main_context_acquire(w->glib[GLIB_ICE].ctx);
	for (unsigned i = 0; i < GLIB_SETS; i++)
		glib_query(&w->glib[i]);
	uint32_t ready[GLIB_SETS];
	while (!w->quit) {
		bool turn[GLIB_SETS] = {false};
		bool any = false;
		/* media until a GLib context has something to do */
		while (!any) {
			int64_t t0 = g_get_monotonic_time();
			int64_t due = -1;
			for (unsigned i = 0; i < GLIB_SETS; i++)
				if (w->glib[i].due >= 0 && (due < 0 || w->glib[i].due < due))
					due = w->glib[i].due;
			int wait = -1;
			if (due >= 0) {
				int64_t left = due - t0;
				wait = left <= 0 ? 0 : (int)((left + 999) / 1000);
			}
			int k = sdh_rtp_ctx_poll(w->rtp, wait);
			int64_t now = g_get_monotonic_time();
			if (wait != 0) /* the worker's load: the time it does not wait is work */
				w->idle_us += now - t0;
			for (unsigned i = 0; i < GLIB_SETS; i++)
				if (w->glib[i].due >= 0 && now >= w->glib[i].due)
					turn[i] = any = true;
			unsigned n = k > 0 ? sdh_rtp_ctx_relay(w->rtp, ready, GLIB_SETS) : 0;
			for (unsigned i = 0; i < n; i++)
				turn[ready[i]] = any = true;
		}
		for (unsigned i = 0; i < GLIB_SETS; i++)
			if (turn[i])
				glib_turn(&w->glib[i]);
	}
	g_main_context_release(w->glib[GLIB_ICE].ctx);
	g_main_context_pop_thread_default(w->ctx);
	return NULL;
}

static void quit_job(void *arg) { ((struct media_worker *)arg)->quit = true; }

static void worker_stop(struct media_worker *w)
{
	if (w->thread) {
		run_on(w, quit_job, w);
		g_thread_join(w->thread);
		w->thread = NULL;
	}
	if (w->watch_tick) {
		g_source_destroy(w->watch_tick);
		g_source_unref(w->watch_tick);
	}
	sdh_webrtc_ctx_free(w->webrtc);
	sdh_rtp_ctx_unref(w->rtp);
	for (unsigned i = 0; i < GLIB_SETS; i++)
		glib_set_close(&w->glib[i]);
}

/* Worker i of n gets its slice of the port range, and starts. */
static int worker_start(struct sw_media_ctx *m, const struct sipwire_config *cfg, unsigned i,
                        unsigned n)
{
	struct media_worker *w = &m->workers[i];
	w->index = i;
	w->realtime_priority = cfg->media.realtime_priority;
	unsigned span = (cfg->media.rtp_port_max - cfg->media.rtp_port_min + 1) / n;
	uint16_t lo = (uint16_t)(cfg->media.rtp_port_min + i * span);
	uint16_t hi = (uint16_t)(i + 1 == n ? cfg->media.rtp_port_max : lo + span - 1);
	/* Sources are attached from this thread outside their context's turn
	 * (libnice's timers from a job, ICE's reports from libnice's turn):
	 * ownerless polling makes each attach wake its set, so that the due
	 * time is queried again. */
	w->ctx = g_main_context_new_with_flags(G_MAIN_CONTEXT_FLAGS_OWNERLESS_POLLING);
	int rc = glib_set_open(w, GLIB_MAIN, w->ctx);
	if (rc == 0)
		rc = glib_set_open(w, GLIB_ICE,
		                   g_main_context_new_with_flags(G_MAIN_CONTEXT_FLAGS_OWNERLESS_POLLING));
	if (rc < 0)
		return rc;
	const char *address = *cfg->media.address ? cfg->media.address : cfg->listen.bind;
	const char *codecs[8] = {NULL}; /* media.codecs, NULL-terminated */
	for (size_t k = 0; k < cfg->media.codecs.n && k + 1 < sizeof codecs / sizeof codecs[0]; k++)
		codecs[k] = cfg->media.codecs.v[k];
	struct sdh_rtp_ctx_params p = {
	    .codecs = codecs,
	    .loop = w->ctx,
	    .address = address,
	    .bind_address = cfg->listen.bind,
	    .port_min = lo,
	    .port_max = hi,
	    .ptime = 20,
	    .on_log = media_log,
	    .external_poll = true,
	};
	rc = sdh_rtp_ctx_new(&p, &w->rtp);
	if (rc < 0) {
		LOG_ERR("media", "RTP ports %u-%u on %s: %s", lo, hi, cfg->listen.bind, strerror(-rc));
		return rc;
	}
	for (unsigned k = 0; k < GLIB_SETS; k++)
		if ((rc = sdh_rtp_ctx_watch_other(w->rtp, w->glib[k].epfd, k)) < 0)
			return rc;
	/* ICE host candidates on the listen address, unless that is a wildcard
	 * (then every address of the machine). */
	const char *bind = cfg->listen.bind;
	bool wildcard = strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0;
	const char *addresses[] = {bind, NULL};
	struct sdh_webrtc_ctx_params wp = {
	    .rtp = w->rtp,
	    .loop = w->ctx,
	    .ice_loop = w->glib[GLIB_ICE].ctx,
	    .cert = m->cert,
	    .addresses = wildcard ? NULL : addresses,
	    .public_address = cfg->media.public_ip,
	    .port_min = lo,
	    .port_max = hi,
	    .ice_lite = cfg->media.ice_lite,
	    .ice_timeout_ms = cfg->media.ice_timeout * 1000u,
	    .on_log = media_log,
	};
	rc = sdh_webrtc_ctx_new(&wp, &w->webrtc);
	if (rc < 0)
		return rc;
	char name[16];
	snprintf(name, sizeof name, "media%u", i);
	w->thread = g_thread_new(name, worker_main, w);
	return 0;
}

int sw_media_ctx_new(const struct sipwire_config *cfg, GMainContext *ctx,
                     struct sw_media_ctx **out)
{
	*out = NULL;
	struct sw_media_ctx *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->signal_ctx = ctx;
	m->timeout_s = cfg->media.timeout;
	m->per_leg_address = !*cfg->media.address && (strcmp(cfg->listen.bind, "0.0.0.0") == 0 ||
	                                               strcmp(cfg->listen.bind, "::") == 0);
	int rc = dtls_cert_new(0, &m->cert);
	if (rc < 0) {
		LOG_ERR("media", "no DTLS certificate: %s", strerror(-rc));
		goto fail;
	}
	/* Each worker needs a few ports of its own: fewer workers on a small range. */
	unsigned n = cfg->media.workers ? cfg->media.workers : g_get_num_processors();
	unsigned range = cfg->media.rtp_port_max - cfg->media.rtp_port_min + 1;
	if (n > range / 8)
		n = range / 8 ? range / 8 : 1;
	m->workers = calloc(n, sizeof *m->workers);
	if (!m->workers) {
		rc = -ENOMEM;
		goto fail;
	}
	m->n_workers = n;
	for (unsigned i = 0; i < n; i++)
		if ((rc = worker_start(m, cfg, i, n)) < 0)
			goto fail;
	LOG_INFO("media", "%u media worker%s; DTLS certificate sha-256 %s", n, n == 1 ? "" : "s",
	         dtls_cert_fingerprint(m->cert));
	*out = m;
	return 0;
fail:
	sw_media_ctx_free(m);
	return rc;
}

void sw_media_ctx_free(struct sw_media_ctx *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < m->n_workers; i++)
		worker_stop(&m->workers[i]);
	free(m->workers);
	dtls_cert_free(m->cert);
	free(m);
}

/* ---- events toward the signalling thread ---- */

static void media_unref(struct sw_media *l)
{
	if (g_atomic_int_dec_and_test(&l->refs))
		free(l);
}

/* Something a worker tells the signalling thread about a leg. */
struct media_event {
	struct sw_media *l;
	const char *reason; /* a failure (static text), or NULL for DTMF */
	char tone;
	unsigned duration_ms;
};

static gboolean deliver_event(gpointer data)
{
	struct media_event *e = data;
	struct sw_media *l = e->l;
	if (!l->freed && !l->failed) {
		if (e->reason) {
			l->failed = true;
			if (l->ev.on_failed)
				l->ev.on_failed(l->ev.arg, e->reason);
		} else if (l->ev.on_dtmf) {
			l->ev.on_dtmf(l->ev.arg, e->tone, e->duration_ms);
		}
	}
	media_unref(l);
	g_free(e);
	return G_SOURCE_REMOVE;
}

static void post_event(struct sw_media *l, const struct media_event *what)
{
	struct media_event *e = g_memdup2(what, sizeof *what);
	e->l = l;
	g_atomic_int_inc(&l->refs);
	GSource *s = g_idle_source_new();
	g_source_set_priority(s, G_PRIORITY_HIGH);
	g_source_set_callback(s, deliver_event, e, NULL);
	g_source_attach(s, l->ctx->signal_ctx);
	g_source_unref(s);
}

#define WATCH_INTERVAL_MS 1000

/* On the worker: the leg leaves the media timeout's list. */
static void unwatch(struct sw_media *l)
{
	if (!l->watched)
		return;
	struct media_worker *w = l->w;
	if (l->wprev)
		l->wprev->wnext = l->wnext;
	else
		w->watched = l->wnext;
	if (l->wnext)
		l->wnext->wprev = l->wprev;
	l->wprev = l->wnext = NULL;
	l->watched = false;
	if (!w->watched && w->watch_tick) {
		g_source_destroy(w->watch_tick);
		g_source_unref(w->watch_tick);
		w->watch_tick = NULL;
	}
}

/* On the worker: the leg's media is over (reason is static text). */
static void post_failure(struct sw_media *l, const char *reason)
{
	unwatch(l);
	post_event(l, &(struct media_event){.reason = reason});
}

static void webrtc_failed(void *arg, const char *reason) { post_failure(arg, reason); }

/* On the worker: an RFC 4733 event the other leg's media cannot carry. */
static void media_dtmf(void *arg, char tone, unsigned duration_ms)
{
	post_event(arg, &(struct media_event){.tone = tone, .duration_ms = duration_ms});
}

/* ---- legs ---- */

struct new_job {
	struct sw_media *l;
	bool controlling;
	int rc;
};

static void new_on_worker(void *arg)
{
	struct new_job *j = arg;
	struct sw_media *l = j->l;
	if (l->kind == SW_MEDIA_WEBRTC) {
		j->rc = sdh_webrtc_new(l->w->webrtc, j->controlling,
		                       &(struct sdh_webrtc_events){.on_failed = webrtc_failed, .arg = l},
		                       &l->webrtc);
		if (j->rc == 0)
			l->rtp = sdh_webrtc_handler(l->webrtc);
	} else if (l->kind == SW_MEDIA_SDES) {
		j->rc = sdh_sdes_new(l->w->rtp, &(struct sdh_sdes_params){.on_log = media_log},
		                     &l->sdes);
		if (j->rc == 0)
			l->rtp = sdh_sdes_handler(l->sdes);
	} else {
		j->rc = sdh_rtp_new(l->w->rtp, NULL, &l->own_rtp);
		l->rtp = l->own_rtp;
	}
	if (j->rc == 0) {
		sdh_rtp_on_dtmf(l->rtp, media_dtmf, l);
		struct media_worker *w = l->w;
		l->live_next = w->live;
		if (w->live)
			w->live->live_prev = l;
		w->live = l;
	}
}

static const char *kind_name(enum sw_media_kind kind)
{
	return kind == SW_MEDIA_WEBRTC ? "WebRTC" : kind == SW_MEDIA_SDES ? "SDES-SRTP" : "RTP";
}

static struct media_worker *least_busy(struct sw_media_ctx *m)
{
	struct media_worker *best = &m->workers[0];
	for (unsigned i = 1; i < m->n_workers; i++)
		if (m->workers[i].legs < best->legs)
			best = &m->workers[i];
	return best;
}

int sw_media_new(struct sw_media_ctx *m, enum sw_media_kind kind, bool controlling,
                 const struct sw_media *near, const struct sw_media_events *ev,
                 struct sw_media **out)
{
	*out = NULL;
	struct sw_media *l = calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	l->ctx = m;
	l->kind = kind;
	l->refs = 1;
	l->w = near ? near->w : least_busy(m);
	if (ev)
		l->ev = *ev;
	struct new_job j = {.l = l, .controlling = controlling};
	run_on(l->w, new_on_worker, &j);
	if (j.rc < 0) {
		LOG_WARN("media", "no %s media: %s", kind_name(kind), strerror(-j.rc));
		free(l);
		return j.rc;
	}
	l->w->legs++;
	*out = l;
	return 0;
}

static void collect_stats(const struct sw_media *l, struct sw_media_stats *out);
static void totals_add(struct sw_media_totals *t, const struct sw_media_stats *st);

static void free_on_worker(void *arg)
{
	struct sw_media *l = arg;
	struct media_worker *w = l->w;
	struct sw_media_stats carried;
	if (l->closed)
		carried = l->at_close;
	else
		collect_stats(l, &carried);
	totals_add(&w->gone, &carried);
	if (l->live_prev)
		l->live_prev->live_next = l->live_next;
	else
		w->live = l->live_next;
	if (l->live_next)
		l->live_next->live_prev = l->live_prev;
	l->live_prev = l->live_next = NULL;
	unwatch(l);
	if (l->sdes) {
		/* what SRTP refused stays visible after the call */
		struct sdh_sdes_stats st;
		sdh_sdes_get_stats(l->sdes, &st);
		bool refused = st.rx.auth_failures || st.rx.replays || st.expired;
		SW_LOG(refused ? SIPWIRE_LOG_INFO : SIPWIRE_LOG_DEBUG, "media",
		          "%s%sSDES-SRTP leg: %" G_GUINT64_FORMAT " in, %" G_GUINT64_FORMAT
		                   " out; dropped: %" G_GUINT64_FORMAT " failed authentication, %"
		                   G_GUINT64_FORMAT " replayed, %" G_GUINT64_FORMAT " malformed, %"
		                   G_GUINT64_FORMAT " before keys, %" G_GUINT64_FORMAT
		                   " past the key's lifetime; %" G_GUINT64_FORMAT " re-keys",
		          l->tag, l->tag[0] ? ": " : "", st.rx.unprotected, st.tx.protected,
		          st.rx.auth_failures, st.rx.replays,
		          st.rx.other_errors, st.no_keys, st.expired, st.rekeys);
	}
	sdh_webrtc_free(l->webrtc);
	sdh_sdes_free(l->sdes);
	sdh_rtp_free(l->own_rtp);
	l->webrtc = NULL;
	l->sdes = NULL;
	l->own_rtp = l->rtp = NULL;
}

static void tag_job(void *arg)
{
	struct sw_media *l = arg;
	if (l->webrtc)
		sdh_webrtc_set_log_tag(l->webrtc, l->tag);
}

void sw_media_set_log_tag(struct sw_media *l, const char *tag)
{
	snprintf(l->tag, sizeof l->tag, "%s", tag ? tag : "");
	run_on(l->w, tag_job, l);
}

struct address_job {
	struct sw_media *l;
	char address[INET6_ADDRSTRLEN];
};

static void address_job(void *arg)
{
	struct address_job *j = arg;
	if (j->l->rtp && sdh_rtp_set_address(j->l->rtp, j->address) < 0)
		LOG_WARN("media", "%s: %s is not an address of the media sockets' family: the leg "
		                  "gives media.address's",
		         j->l->tag, j->address);
}

void sw_media_set_local(struct sw_media *l, const struct sockaddr *local)
{
	if (!l->ctx->per_leg_address || l->kind == SW_MEDIA_WEBRTC)
		return;
	struct address_job j = {.l = l};
	const void *a;
	int family = local->sa_family;
	if (family == AF_INET) {
		a = &((const struct sockaddr_in *)(const void *)local)->sin_addr;
	} else if (family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)local)->sin6_addr;
		/* an IPv4 peer on a dual-stack socket */
		family = IN6_IS_ADDR_V4MAPPED(a6) ? AF_INET : AF_INET6;
		a = family == AF_INET ? (const void *)&a6->s6_addr[12] : (const void *)a6;
	} else {
		return;
	}
	if (!inet_ntop(family, a, j.address, sizeof j.address))
		return;
	run_on(l->w, address_job, &j);
}

void sw_media_free(struct sw_media *l)
{
	if (!l)
		return;
	run_on(l->w, free_on_worker, l);
	l->w->legs--;
	l->freed = true;
	media_unref(l);
}

enum sw_media_kind sw_media_kind(const struct sw_media *l) { return l->kind; }

enum sw_media_kind sw_media_kind_of_offer(const char *sdp, size_t len, bool *ice_lite)
{
	struct sdp_session *s = NULL;
	struct sdp_error err;
	*ice_lite = false;
	if (!len || sdp_parse(sdp, len, &s, &err) < 0)
		return SW_MEDIA_RTP;
	*ice_lite = sdp_session_attr(s, SDP_ATTR_ICE_LITE, NULL) != NULL;
	enum sw_media_kind kind = SW_MEDIA_RTP;
	for (unsigned i = 0; i < s->n_media; i++)
		if (strcmp(s->media[i].type, "audio") == 0) {
			if (strcmp(s->media[i].proto, "UDP/TLS/RTP/SAVPF") == 0)
				kind = SW_MEDIA_WEBRTC;
			else if (strcmp(s->media[i].proto, "RTP/SAVP") == 0)
				kind = SW_MEDIA_SDES;
			break;
		}
	sdp_free(s);
	return kind;
}

/* ---- the SDH, each call made on the leg's worker ---- */

struct sdh_job {
	struct sw_media *l;
	const void *options;
	char *buf;
	const char *body;
	const char *ctype_in;
	size_t size, len_in;
	size_t *len;
	const char **ctype;
	char tone;
	unsigned duration_ms;
	const struct sw_media *other;
	int rc;
};

static void get_description_job(void *arg)
{
	struct sdh_job *j = arg;
	j->rc = sdh_rtp_get_description(j->l->rtp, j->options, j->buf, j->size, j->len, j->ctype);
}

static int media_get_description(void *sdh, const void *options, char *buf, size_t size,
                                 size_t *len, const char **ctype)
{
	struct sdh_job j = {.l = sdh, .options = options, .buf = buf, .size = size, .len = len,
	                    .ctype = ctype};
	run_on(j.l->w, get_description_job, &j);
	return j.rc;
}

static void set_description_job(void *arg)
{
	struct sdh_job *j = arg;
	j->rc = sdh_rtp_set_description(j->l->rtp, j->ctype_in, j->body, j->len_in, j->options);
}

static int media_set_description(void *sdh, const char *ctype, const char *body, size_t len,
                                 const void *options)
{
	struct sdh_job j = {.l = sdh, .ctype_in = ctype, .body = body, .len_in = len,
	                    .options = options};
	run_on(j.l->w, set_description_job, &j);
	return j.rc;
}

/* Looks at the content type only: no state, no worker. */
static bool media_has_description(void *sdh, const char *ctype, size_t len)
{
	return sdh_rtp_has_description(NULL, ctype, len);
}

static void rollback_job(void *arg) { sdh_rtp_rollback_description(((struct sdh_job *)arg)->l->rtp); }

static void media_rollback_description(void *sdh)
{
	struct sdh_job j = {.l = sdh};
	run_on(j.l->w, rollback_job, &j);
}

static void send_dtmf_job(void *arg)
{
	struct sdh_job *j = arg;
	j->rc = sdh_rtp_send_dtmf(j->l->rtp, j->tone, j->duration_ms);
}

static int media_send_dtmf(void *sdh, char tone, unsigned duration_ms)
{
	struct sdh_job j = {.l = sdh, .tone = tone, .duration_ms = duration_ms};
	run_on(j.l->w, send_dtmf_job, &j);
	return j.rc;
}

static const char *ice_state_name(enum ice_state s)
{
	switch (s) {
	case ICE_STATE_NEW:
		return "new";
	case ICE_STATE_CHECKING:
		return "checking";
	case ICE_STATE_CONNECTED:
		return "connected";
	case ICE_STATE_FAILED:
		return "failed";
	}
	return "?";
}

static const char *dtls_state_name(enum dtls_state s)
{
	switch (s) {
	case DTLS_STATE_NEW:
		return "new";
	case DTLS_STATE_HANDSHAKING:
		return "handshaking";
	case DTLS_STATE_CONNECTED:
		return "connected";
	case DTLS_STATE_FAILED:
		return "failed";
	}
	return "?";
}

static const char *srtp_profile_name(enum srtp_profile p)
{
	switch (p) {
	case SRTP_PROFILE_AES128_CM_SHA1_80:
		return "AES128_CM_SHA1_80";
	case SRTP_PROFILE_AES128_CM_SHA1_32:
		return "AES128_CM_SHA1_32";
	case SRTP_PROFILE_AEAD_AES_128_GCM:
		return "AEAD_AES_128_GCM";
	}
	return "";
}

/* On the worker: the handlers' counters as they are. */
static void collect_stats(const struct sw_media *l, struct sw_media_stats *out)
{
	memset(out, 0, sizeof *out);
	out->kind = l->kind;
	out->ice_connected_ms = out->dtls_connected_ms = -1;
	out->ice_state = out->dtls_state = out->srtp_profile = "";
	if (!l->rtp)
		return;
	struct sdh_rtp_stats rs;
	sdh_rtp_get_stats(l->rtp, &rs);
	out->rx_packets = rs.rx_packets;
	out->rx_bytes = rs.rx_bytes;
	out->tx_packets = rs.tx_packets;
	out->tx_bytes = rs.tx_bytes;
	out->dropped = rs.dropped;
	if (l->sdes) {
		struct sdh_sdes_stats ss;
		sdh_sdes_get_stats(l->sdes, &ss);
		out->srtp_profile = srtp_profile_name(sdes_suite_profile(ss.tx_suite));
		out->srtp_auth_failures = ss.rx.auth_failures;
		out->srtp_replays = ss.rx.replays;
		out->not_media = ss.no_keys + ss.expired + ss.rx.other_errors;
	}
	if (!l->webrtc)
		return;
	struct sdh_webrtc_stats ws;
	sdh_webrtc_get_stats(l->webrtc, &ws);
	out->ice_state = ice_state_name(ws.ice);
	out->ice_connected_ms = ws.ice_connected_ms;
	memcpy(out->ice_local, ws.local, sizeof out->ice_local);
	memcpy(out->ice_remote, ws.remote, sizeof out->ice_remote);
	out->ice_local[sizeof out->ice_local - 1] = out->ice_remote[sizeof out->ice_remote - 1] = 0;
	out->dtls_state = dtls_state_name(ws.dtls);
	out->dtls_connected_ms = ws.dtls_connected_ms;
	out->srtp_profile = srtp_profile_name(ws.profile);
	out->srtp_auth_failures = ws.srtp_total.auth_failures;
	out->srtp_replays = ws.srtp_total.replays;
	out->not_media = ws.not_media;
}

static void close_job(void *arg)
{
	struct sw_media *l = ((struct sdh_job *)arg)->l;
	/* Closing frees the ICE agent and the DTLS association: what they did
	 * is kept for the call's detail line. */
	if (!l->closed) {
		collect_stats(l, &l->at_close);
		l->closed = true;
	}
	sdh_rtp_close(l->rtp);
}

static void media_close(void *sdh)
{
	struct sdh_job j = {.l = sdh};
	run_on(j.l->w, close_job, &j);
}

static const struct sip_sdh_ops media_sdh_ops = {
    .get_description = media_get_description,
    .set_description = media_set_description,
    .has_description = media_has_description,
    .rollback_description = media_rollback_description,
    .send_dtmf = media_send_dtmf,
    .close = media_close,
};

struct sip_sdh sw_media_sdh(struct sw_media *l) { return (struct sip_sdh){&media_sdh_ops, l}; }

const void *sw_media_options(bool hold)
{
	static const struct sdh_rtp_options held = {.hold = true}, resumed = {.hold = false};
	return hold ? &held : &resumed;
}

int sw_media_preview_offer(struct sw_media *a, const char *sdp, size_t len)
{
	return media_set_description(a, "application/sdp", sdp, len, NULL);
}

static void offer_like_job(void *arg)
{
	struct sdh_job *j = arg;
	j->rc = sdh_rtp_offer_like(j->l->rtp, j->other->rtp);
}

int sw_media_offer_like(struct sw_media *b, const struct sw_media *a)
{
	struct sdh_job j = {.l = b, .other = a};
	run_on(b->w, offer_like_job, &j);
	return j.rc;
}

static void answer_like_job(void *arg)
{
	struct sdh_job *j = arg;
	j->rc = sdh_rtp_answer_like(j->l->rtp, j->other->rtp);
}

int sw_media_answer_like(struct sw_media *a, const struct sw_media *b)
{
	struct sdh_job j = {.l = a, .other = b};
	run_on(a->w, answer_like_job, &j);
	return j.rc;
}

struct stats_job {
	struct sw_media *l;
	struct sw_media_stats *out;
};

static void stats_job(void *arg)
{
	struct stats_job *j = arg;
	if (j->l->closed)
		*j->out = j->l->at_close;
	else
		collect_stats(j->l, j->out);
}

void sw_media_stats(struct sw_media *l, struct sw_media_stats *out)
{
	struct stats_job j = {.l = l, .out = out};
	run_on(l->w, stats_job, &j);
}

static void totals_add(struct sw_media_totals *t, const struct sw_media_stats *st)
{
	t->rx_packets += st->rx_packets;
	t->rx_bytes += st->rx_bytes;
	t->tx_packets += st->tx_packets;
	t->tx_bytes += st->tx_bytes;
	t->dropped += st->dropped;
	t->srtp_auth_failures += st->srtp_auth_failures;
	t->srtp_replays += st->srtp_replays;
}

struct load_job {
	struct media_worker *w;
	struct sw_media_worker_load *out;
};

/* On the worker: its legs' counters (the live ones' as they are now), the
 * relay timing and the load. */
static void load_job(void *arg)
{
	struct load_job *j = arg;
	struct media_worker *w = j->w;
	struct sw_media_worker_load *o = j->out;
	o->totals = w->gone;
	o->legs = 0;
	for (const struct sw_media *l = w->live; l; l = l->live_next) {
		struct sw_media_stats st;
		if (l->closed)
			st = l->at_close;
		else
			collect_stats(l, &st);
		totals_add(&o->totals, &st);
		o->legs++;
	}
	sdh_rtp_ctx_latency(w->rtp, &o->latency);
	int64_t now = g_get_monotonic_time();
	o->wall_s = (double)(now - w->started_us) / 1e6;
	o->busy_s = (double)(now - w->started_us - w->idle_us) / 1e6;
	if (o->busy_s < 0)
		o->busy_s = 0;
}

unsigned sw_media_ctx_load(struct sw_media_ctx *m, struct sw_media_worker_load *out, unsigned max)
{
	unsigned n = m->n_workers < max ? m->n_workers : max;
	for (unsigned i = 0; i < n; i++) {
		struct load_job j = {.w = &m->workers[i], .out = &out[i]};
		run_on(&m->workers[i], load_job, &j);
	}
	return n;
}

bool sw_media_sdp_holds(const char *sdp, size_t len)
{
	struct sdp_session *s = NULL;
	struct sdp_error err;
	if (sdp_parse(sdp, len, &s, &err) < 0)
		return false;
	bool hold = false;
	for (unsigned i = 0; i < s->n_media; i++)
		if (sdp_media_on_hold(s, &s->media[i]))
			hold = true;
	sdp_free(s);
	return hold;
}

static void bridge_job(void *arg)
{
	struct sdh_job *j = arg;
	j->rc = sdh_rtp_bridge(j->l->rtp, ((struct sw_media *)j->other)->rtp);
}

void sw_media_bridge(struct sw_media *a, struct sw_media *b)
{
	if (a->w != b->w) { /* legs of one call are placed together: never */
		LOG_ERR("media", "bridge: legs on different media workers");
		return;
	}
	struct sdh_job j = {.l = a, .other = b};
	run_on(a->w, bridge_job, &j);
	if (j.rc < 0)
		LOG_DEBUG("media", "bridge: %s", strerror(-j.rc));
}

int sw_media_send_dtmf(struct sw_media *l, char tone, unsigned duration_ms)
{
	return media_send_dtmf(l, tone, duration_ms);
}

static void echo_job(void *arg)
{
	struct sdh_job *j = arg;
	j->rc = sdh_rtp_echo(j->l->rtp);
}

void sw_media_echo(struct sw_media *l)
{
	struct sdh_job j = {.l = l};
	run_on(l->w, echo_job, &j);
	if (j.rc < 0)
		LOG_DEBUG("media", "echo: %s", strerror(-j.rc));
}

/* ---- media timeout (on the worker) ---- */

/* Is the leg's peer quiet past the timeout? Once a second for every
 * watched leg of the worker, from one timer. */
static bool timed_out(struct sw_media *l, int64_t now)
{
	struct sdh_rtp_stats st;
	sdh_rtp_get_stats(l->rtp, &st);
	/* A held call owes no packets either way: a PBX that holds with
	 * sendonly may or may not play music. */
	if (!st.peer_sends || st.held) {
		l->quiet_since = now; /* on hold, inactive, or closed: nothing is due */
		return false;
	}
	int64_t last = st.last_rx_us > l->quiet_since ? st.last_rx_us : l->quiet_since;
	return now - last >= (int64_t)l->ctx->timeout_s * G_USEC_PER_SEC;
}

static gboolean watch_tick(gpointer data)
{
	struct media_worker *w = data;
	int64_t now = g_get_monotonic_time();
	for (struct sw_media *l = w->watched, *next; l; l = next) {
		next = l->wnext;
		if (timed_out(l, now))
			post_failure(l, "media timeout"); /* unwatches it */
	}
	return G_SOURCE_CONTINUE;
}

static void watch_job(void *arg)
{
	struct sw_media *l = ((struct sdh_job *)arg)->l;
	struct media_worker *w = l->w;
	if (l->watched)
		return;
	l->quiet_since = g_get_monotonic_time();
	l->watched = true;
	l->wprev = NULL;
	l->wnext = w->watched;
	if (w->watched)
		w->watched->wprev = l;
	w->watched = l;
	if (!w->watch_tick) {
		w->watch_tick = g_timeout_source_new(WATCH_INTERVAL_MS);
		g_source_set_callback(w->watch_tick, watch_tick, w, NULL);
		g_source_attach(w->watch_tick, w->ctx);
	}
}

void sw_media_watch(struct sw_media *l)
{
	if (l->failed || !l->ctx->timeout_s)
		return;
	struct sdh_job j = {.l = l};
	run_on(l->w, watch_job, &j);
}
