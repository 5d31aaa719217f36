/* sdh_webrtc.c — see sdh_webrtc.h. */
#include "webrtc/sdh_webrtc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "webrtc/rtp.h"
#include "webrtc/sdp.h"

#define PROTO         "UDP/TLS/RTP/SAVPF"
#define ICE_CRED_MAX  257 /* RFC 8839: ufrag up to 256 characters, pwd up to 256 */
#define FP_MAX        (64 * 3)
#define CANDIDATES_MAX 32 /* remote candidates taken from one description */
#define TICK_MS        20  /* a slot of the consent wheel */
#define TICK_US        (TICK_MS * 1000)
#define WHEEL_SLOTS    512 /* 10 s of slots; a leg due later waits in the last and moves on */

struct sdh_webrtc_ctx {
	struct sdh_rtp_ctx *rtp;
	GMainContext *loop, *ice_loop;
	const struct dtls_cert *cert;
	char **addresses; /* NULL-terminated copy, or NULL */
	char *public_address;
	uint16_t port_min, port_max;
	bool ice_lite;
	unsigned ice_timeout_ms, dtls_timeout_ms;
	void (*on_log)(void *, const char *);
	void *log_arg;
	/* The legs whose socket is read here, each in the slot of its next
	 * consent check (or consent's end), and one timer for all of them: a
	 * tick touches only the legs due in it, so it costs the same at any
	 * number of calls. */
	struct sdh_webrtc *wheel[WHEEL_SLOTS];
	uint64_t wheel_done; /* every slot up to this tick was served */
	unsigned wheel_legs;
	GSource *tick; /* while wheel_legs, and until the tick after */
};

/* What a remote description said about the transport, copied out of it. */
struct remote_tp {
	char ufrag[ICE_CRED_MAX], pwd[ICE_CRED_MAX];
	bool lite;
	char fp_alg[16], fp[FP_MAX];
	enum dtls_role role; /* ours, as this description makes it */
	bool end_of_candidates;
	GStringChunk *strings;
	struct sdp_candidate cand[CANDIDATES_MAX];
	unsigned n_cand;
	bool bundle;        /* its audio mid is in an a=group:BUNDLE */
	bool restart_ice;   /* credentials differ from the ones in use */
	bool new_dtls;      /* fingerprint differs from the one in use */
};

struct ice_ref {
	struct sdh_webrtc *w;
	struct ice_agent *agent;
};

struct sdh_webrtc {
	struct sdh_webrtc_ctx *ctx;
	struct sdh_webrtc *wprev, *wnext; /* ctx->wheel[slot] */
	bool in_wheel;
	unsigned slot;
	int64_t due_us;
	char log_tag[16];
	struct sdh_rtp *h;
	struct sdh_webrtc_events ev;
	bool closed;
	/* ICE: the agent carrying the leg, and during a restart the agent the
	 * restart made, which takes over once it has a pair (make before
	 * break: media keeps flowing on the old pair meanwhile). Each agent's
	 * callbacks carry an ice_ref, to tell them apart. */
	struct ice_agent *ice, *ice_next;
	struct ice_ref *ice_ref, *next_ref;
	bool ice_started;
	struct remote_tp cur, pending;
	bool have_cur, have_pending;
	/* DTLS and SRTP: one association at a time */
	struct dtls *dtls;
	enum dtls_role role;
	GSource *dtls_timer;
	GSource *dtls_deadline; /* ICE connected, DTLS not yet */
	struct srtp_session *srtp;
	enum srtp_profile profile;
	struct srtp_counters srtp_past; /* of the sessions freed before this one */
	/* DTLS datagrams made while ICE has no selected pair yet: a peer's
	 * ClientHello can come over a pair checks validated before one is
	 * selected, and our answer to it goes out once one is. */
	GPtrArray *held;
	int64_t ice_start_us, ice_up_us, dtls_up_us;
	uint64_t not_media;
	/* a failure waits for the loop before it is reported */
	const char *failure;
	GSource *fail_idle;
	bool failed_reported;
};

/* A leg's line, after its owner's tag ("c1f: ") when it gave one. */
static void logf_(const struct sdh_webrtc *w, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void logf_(const struct sdh_webrtc *w, const char *fmt, ...)
{
	const struct sdh_webrtc_ctx *c = w->ctx;
	if (!c->on_log)
		return;
	char line[512];
	int n = w->log_tag[0] ? snprintf(line, sizeof line, "%s: ", w->log_tag) : 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	c->on_log(c->log_arg, line);
}

static uint64_t now_ms(void) { return (uint64_t)(g_get_monotonic_time() / 1000); }

static void drop_source(GSource **s)
{
	if (*s) {
		g_source_destroy(*s);
		g_source_unref(*s);
		*s = NULL;
	}
}

static GSource *attach_timeout(struct sdh_webrtc *w, unsigned ms, GSourceFunc fn)
{
	GSource *s = g_timeout_source_new(ms);
	g_source_set_callback(s, fn, w, NULL);
	g_source_attach(s, w->ctx->loop);
	return s;
}

/* ---- the consent wheel ---- */

static void wheel_remove(struct sdh_webrtc *w)
{
	struct sdh_webrtc_ctx *c = w->ctx;
	if (!w->in_wheel)
		return;
	if (w->wprev)
		w->wprev->wnext = w->wnext;
	else
		c->wheel[w->slot] = w->wnext;
	if (w->wnext)
		w->wnext->wprev = w->wprev;
	w->wprev = w->wnext = NULL;
	w->in_wheel = false;
	c->wheel_legs--;
}

static gboolean on_tick(gpointer data);

/* w's socket is read here: its consent work is due at due_us. */
static void wheel_insert(struct sdh_webrtc *w, int64_t due_us)
{
	struct sdh_webrtc_ctx *c = w->ctx;
	wheel_remove(w);
	if (!c->tick) {
		c->wheel_done = (uint64_t)g_get_monotonic_time() / TICK_US;
		c->tick = g_timeout_source_new(TICK_MS);
		g_source_set_callback(c->tick, on_tick, c, NULL);
		g_source_attach(c->tick, c->loop);
	}
	/* never the slot being served: a wheel's turn at most */
	uint64_t t = (uint64_t)(due_us > 0 ? due_us : 0) / TICK_US;
	if (t <= c->wheel_done)
		t = c->wheel_done + 1;
	if (t > c->wheel_done + WHEEL_SLOTS - 1)
		t = c->wheel_done + WHEEL_SLOTS - 1;
	w->slot = (unsigned)(t % WHEEL_SLOTS);
	w->due_us = due_us;
	w->in_wheel = true;
	w->wprev = NULL;
	w->wnext = c->wheel[w->slot];
	if (w->wnext)
		w->wnext->wprev = w;
	c->wheel[w->slot] = w;
	c->wheel_legs++;
}

/* The slots due by now, in order: a leg that waited in a later slot than
 * its own moves on, the others get their consent work done and go to the
 * slot of the next. */
static gboolean on_tick(gpointer data)
{
	struct sdh_webrtc_ctx *c = data;
	int64_t now = g_get_monotonic_time();
	uint64_t now_tick = (uint64_t)now / TICK_US;
	while (c->wheel_legs && c->wheel_done < now_tick) {
		unsigned slot = (unsigned)(++c->wheel_done % WHEEL_SLOTS);
		while (c->wheel[slot]) {
			struct sdh_webrtc *w = c->wheel[slot];
			wheel_remove(w);
			int64_t due = w->due_us > now ? w->due_us : ice_agent_tick(w->ice, now);
			if (due >= 0)
				wheel_insert(w, due);
		}
	}
	if (c->wheel_legs)
		return G_SOURCE_CONTINUE;
	g_source_unref(c->tick);
	c->tick = NULL;
	return G_SOURCE_REMOVE;
}

/* ---- context ---- */

int sdh_webrtc_ctx_new(const struct sdh_webrtc_ctx_params *p, struct sdh_webrtc_ctx **out)
{
	*out = NULL;
	if (!p->rtp || !p->cert)
		return -EINVAL;
	struct sdh_webrtc_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->rtp = sdh_rtp_ctx_ref(p->rtp);
	c->loop = p->loop;
	c->ice_loop = p->ice_loop;
	c->cert = p->cert;
	if (p->addresses && p->addresses[0])
		c->addresses = g_strdupv((char **)p->addresses);
	if (p->public_address && *p->public_address)
		c->public_address = g_strdup(p->public_address);
	c->port_min = p->port_min;
	c->port_max = p->port_max;
	c->ice_lite = p->ice_lite;
	c->ice_timeout_ms = p->ice_timeout_ms ? p->ice_timeout_ms : 10000;
	c->dtls_timeout_ms = p->dtls_timeout_ms ? p->dtls_timeout_ms : 10000;
	c->on_log = p->on_log;
	c->log_arg = p->log_arg;
	*out = c;
	return 0;
}

void sdh_webrtc_ctx_free(struct sdh_webrtc_ctx *c)
{
	if (!c)
		return;
	drop_source(&c->tick);
	sdh_rtp_ctx_unref(c->rtp);
	g_strfreev(c->addresses);
	g_free(c->public_address);
	free(c);
}

/* ---- failure ---- */

static gboolean report_failure(gpointer data)
{
	struct sdh_webrtc *w = data;
	g_source_unref(w->fail_idle);
	w->fail_idle = NULL;
	w->failed_reported = true;
	if (w->ev.on_failed)
		w->ev.on_failed(w->ev.arg, w->failure); /* may free w */
	return G_SOURCE_REMOVE;
}

/* The leg's media is over; the owner hears it from the loop. */
static void fail(struct sdh_webrtc *w, const char *reason)
{
	if (w->failure || w->closed)
		return;
	w->failure = reason;
	logf_(w, "webrtc: media failed: %s", reason);
	w->fail_idle = g_idle_source_new();
	g_source_set_priority(w->fail_idle, G_PRIORITY_HIGH);
	g_source_set_callback(w->fail_idle, report_failure, w, NULL);
	g_source_attach(w->fail_idle, w->ctx->loop);
}

/* ---- DTLS ---- */

/* Free the SRTP session, keeping its counts for the leg's statistics (a
 * peer's close_notify or a new association ends a session mid-call). */
static void srtp_end(struct sdh_webrtc *w)
{
	if (!w->srtp)
		return;
	struct srtp_counters c;
	srtp_session_counters(w->srtp, &c);
	w->srtp_past.protected += c.protected;
	w->srtp_past.unprotected += c.unprotected;
	w->srtp_past.auth_failures += c.auth_failures;
	w->srtp_past.replays += c.replays;
	w->srtp_past.other_errors += c.other_errors;
	srtp_session_free(w->srtp);
	w->srtp = NULL;
}

static gboolean on_dtls_timer(gpointer data);

/* Arm the retransmission timer at the endpoint's deadline. */
static void dtls_rearm(struct sdh_webrtc *w)
{
	drop_source(&w->dtls_timer);
	if (!w->dtls)
		return;
	int64_t at = dtls_next_deadline(w->dtls);
	if (at < 0)
		return;
	int64_t now = (int64_t)now_ms();
	w->dtls_timer = attach_timeout(w, at > now ? (unsigned)(at - now) : 0, on_dtls_timer);
}

static gboolean on_dtls_timer(gpointer data)
{
	struct sdh_webrtc *w = data;
	g_source_unref(w->dtls_timer);
	w->dtls_timer = NULL;
	dtls_tick(w->dtls, now_ms());
	dtls_rearm(w);
	return G_SOURCE_REMOVE;
}

#define HELD_MAX 16 /* a flight is a few datagrams */

static void dtls_send(void *arg, const uint8_t *buf, size_t len)
{
	struct sdh_webrtc *w = arg;
	if (ice_agent_send(w->ice, buf, len) != -ENOTCONN)
		return; /* sent, or lost: lost ones are retransmitted */
	if (w->held->len < HELD_MAX)
		g_ptr_array_add(w->held, g_bytes_new(buf, len));
}

static void send_held(struct sdh_webrtc *w)
{
	for (unsigned i = 0; i < w->held->len; i++) {
		gsize n;
		const uint8_t *p = g_bytes_get_data(w->held->pdata[i], &n);
		ice_agent_send(w->ice, p, n);
	}
	g_ptr_array_set_size(w->held, 0);
}

static void dtls_connected(void *arg, const struct dtls_srtp_keys *keys)
{
	struct sdh_webrtc *w = arg;
	struct srtp_keys sk;
	enum srtp_profile profile = (enum srtp_profile)keys->profile;
	int rc = srtp_keys_from_material(profile, keys->material, keys->material_len,
	                                 keys->local_is_client, &sk);
	struct srtp_session *s = NULL;
	if (rc == 0)
		rc = srtp_session_new(&sk, &s);
	memset(&sk, 0, sizeof sk);
	if (rc != 0) {
		fail(w, "SRTP keys refused");
		return;
	}
	srtp_end(w);
	w->srtp = s;
	w->profile = profile;
	w->dtls_up_us = g_get_monotonic_time();
	drop_source(&w->dtls_deadline);
	logf_(w, "webrtc: DTLS connected as %s, %s, %" G_GINT64_FORMAT " ms after ICE",
	      keys->local_is_client ? "client" : "server",
	      profile == SRTP_PROFILE_AEAD_AES_128_GCM ? "AEAD_AES_128_GCM" : "AES128_CM_SHA1_80",
	      (w->dtls_up_us - w->ice_up_us) / 1000);
}

static void dtls_failed(void *arg, const char *reason)
{
	struct sdh_webrtc *w = arg;
	/* fail() keeps the pointer: only static reasons */
	if (strcmp(reason, "fingerprint mismatch") == 0) {
		fail(w, "DTLS fingerprint mismatch");
	} else if (strcmp(reason, "handshake timeout") == 0) {
		fail(w, "DTLS timeout");
	} else if (strcmp(reason, "closed by peer") == 0) {
		/* A browser closes DTLS as it hangs up, and its BYE may come after
		 * the close: not a failure of the call. Media stops here; a peer
		 * that is really gone is caught by the media timeout. */
		logf_(w, "webrtc: DTLS closed by the peer");
		srtp_end(w);
	} else {
		logf_(w, "webrtc: DTLS: %s", reason);
		fail(w, "DTLS failed");
	}
}

static gboolean on_dtls_deadline(gpointer data)
{
	struct sdh_webrtc *w = data;
	g_source_unref(w->dtls_deadline);
	w->dtls_deadline = NULL;
	fail(w, "DTLS timeout");
	return G_SOURCE_REMOVE;
}

static void dtls_stop(struct sdh_webrtc *w)
{
	drop_source(&w->dtls_timer);
	drop_source(&w->dtls_deadline);
	dtls_free(w->dtls);
	w->dtls = NULL;
	g_ptr_array_set_size(w->held, 0);
	srtp_end(w);
	w->profile = 0;
}

/* A new association with the agreed fingerprint and role. A client starts
 * once ICE is connected; a server waits for the ClientHello. */
static int dtls_begin(struct sdh_webrtc *w)
{
	dtls_stop(w);
	struct dtls_config dc = {
	    .cert = w->ctx->cert,
	    .role = w->cur.role,
	    .peer_fingerprint_alg = w->cur.fp_alg,
	    .peer_fingerprint = w->cur.fp,
	    .send = dtls_send,
	    .on_connected = dtls_connected,
	    .on_failed = dtls_failed,
	    .arg = w,
	};
	int rc = dtls_new(&dc, &w->dtls);
	if (rc != 0)
		return rc;
	w->role = w->cur.role;
	if (ice_agent_state(w->ice) == ICE_STATE_CONNECTED) {
		if (w->role == DTLS_ROLE_CLIENT)
			dtls_start(w->dtls, now_ms());
		w->dtls_deadline = attach_timeout(w, w->ctx->dtls_timeout_ms, on_dtls_deadline);
		dtls_rearm(w);
	}
	return 0;
}

/* ---- ICE ---- */

static void ice_recv(void *arg, uint8_t *buf, size_t len)
{
	struct sdh_webrtc *w = ((struct ice_ref *)arg)->w;
	enum rtp_demux_kind kind = rtp_demux(buf, len);
	if (kind == RTP_DEMUX_DTLS) {
		if (w->dtls) {
			dtls_recv(w->dtls, buf, len, now_ms());
			dtls_rearm(w);
		}
		return;
	}
	if ((kind != RTP_DEMUX_RTP && kind != RTP_DEMUX_RTCP) || !w->srtp) {
		w->not_media++;
		return;
	}
	/* refused ones (authentication, replay) are counted by the session */
	int n = kind == RTP_DEMUX_RTP ? srtp_session_unprotect_rtp(w->srtp, buf, len)
	                              : srtp_session_unprotect_rtcp(w->srtp, buf, len);
	if (n > 0)
		sdh_rtp_transport_recv(w->h, buf, (size_t)n, ICE_RECV_ROOM);
}

/* A datagram from the selected pair's socket, read by the handler's
 * context: STUN stays with ICE, DTLS goes to the association, SRTP and
 * SRTCP come back plain to be relayed. */
static int tp_input(void *arg, uint8_t *buf, size_t len, size_t cap,
                    const struct sockaddr_storage *from, socklen_t from_len)
{
	struct sdh_webrtc *w = arg;
	if (!w->ice || ice_agent_input(w->ice, buf, len, from, from_len) <= 0)
		return 0;
	enum rtp_demux_kind kind = rtp_demux(buf, len);
	if (kind == RTP_DEMUX_DTLS) {
		if (w->dtls) {
			dtls_recv(w->dtls, buf, len, now_ms());
			dtls_rearm(w);
			/* its timers and reports are the loop's: a loop that waits
			 * on its own hears of them */
			g_main_context_wakeup(w->ctx->loop);
		}
		return 0;
	}
	if ((kind != RTP_DEMUX_RTP && kind != RTP_DEMUX_RTCP) || !w->srtp) {
		w->not_media++;
		return 0;
	}
	(void)cap; /* unprotecting shrinks the packet */
	int n = kind == RTP_DEMUX_RTP ? srtp_session_unprotect_rtp(w->srtp, buf, len)
	                              : srtp_session_unprotect_rtcp(w->srtp, buf, len);
	return n > 0 ? n : 0; /* refused ones are counted by the session */
}

/* ICE hands the selected pair's socket over (fd >= 0) or takes it back. */
static void ice_socket(void *arg, int fd)
{
	struct ice_ref *ref = arg;
	struct sdh_webrtc *w = ref->w;
	if (ref != w->ice_ref)
		return; /* a restart's agent: watched once it carries the leg */
	if (fd < 0) {
		wheel_remove(w);
		sdh_rtp_transport_unwatch(w->h);
	} else if (sdh_rtp_transport_watch(w->h, fd) != 0) {
		fail(w, "ICE failed");
	} else {
		wheel_insert(w, g_get_monotonic_time()); /* its first tick says when the next is */
		logf_(w, "webrtc: the relay reads the selected pair's socket");
	}
}

static void ice_agent_drop(struct ice_agent **a, struct ice_ref **ref)
{
	ice_agent_free(*a);
	free(*ref);
	*a = NULL;
	*ref = NULL;
}

static void ice_state_changed(void *arg, enum ice_state state, const char *reason)
{
	struct ice_ref *ref = arg;
	struct sdh_webrtc *w = ref->w;
	if (state == ICE_STATE_FAILED && ref == w->ice_ref && w->ice_next)
		return; /* the peer moved to the restart's agent, which decides */
	if (state == ICE_STATE_FAILED) {
		fail(w, reason ? reason : "ICE failed");
		return;
	}
	if (state == ICE_STATE_CONNECTED && ref == w->next_ref) {
		/* the restart's agent has a pair: it carries the leg from now on */
		ice_agent_drop(&w->ice, &w->ice_ref);
		w->ice = w->ice_next;
		w->ice_ref = w->next_ref;
		w->ice_next = NULL;
		w->next_ref = NULL;
		if (ice_agent_fd(w->ice) >= 0)
			ice_socket(w->ice_ref, ice_agent_fd(w->ice));
		struct ice_stats st;
		ice_agent_get_stats(w->ice, &st);
		logf_(w, "webrtc: ICE restarted, connected in %" G_GINT64_FORMAT " ms, %s <-> %s",
		      st.connected_ms, st.local, st.remote);
		send_held(w);
		return;
	}
	if (ref != w->ice_ref || state != ICE_STATE_CONNECTED || w->ice_up_us)
		return;
	w->ice_up_us = g_get_monotonic_time();
	struct ice_stats st;
	ice_agent_get_stats(w->ice, &st);
	logf_(w, "webrtc: ICE connected in %" G_GINT64_FORMAT " ms, %s <-> %s",
	      (w->ice_up_us - w->ice_start_us) / 1000, st.local, st.remote);
	send_held(w);
	if (w->dtls && dtls_state(w->dtls) != DTLS_STATE_CONNECTED) {
		if (w->role == DTLS_ROLE_CLIENT)
			dtls_start(w->dtls, now_ms());
		w->dtls_deadline = attach_timeout(w, w->ctx->dtls_timeout_ms, on_dtls_deadline);
		dtls_rearm(w);
	}
}

/* A new agent for w at *a with its ref at *ref. 0 or a negative errno. */
static int ice_agent_make(struct sdh_webrtc *w, bool controlling, struct ice_agent **a,
                          struct ice_ref **ref)
{
	const struct sdh_webrtc_ctx *c = w->ctx;
	struct ice_ref *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->w = w;
	struct ice_params ip = {
	    .loop = c->loop,
	    .nice_loop = c->ice_loop,
	    .addresses = (const char *const *)c->addresses,
	    .public_address = c->public_address,
	    .port_min = c->port_min,
	    .port_max = c->port_max,
	    .lite = c->ice_lite,
	    .controlling = controlling,
	    .connect_timeout_ms = c->ice_timeout_ms,
	    .on_recv = ice_recv,
	    .on_state = ice_state_changed,
	    .on_socket = ice_socket,
	    .arg = r,
	};
	int rc = ice_agent_new(&ip, &r->agent);
	if (rc != 0) {
		free(r);
		return rc;
	}
	*a = r->agent;
	*ref = r;
	return 0;
}

/* ---- the transport of the sdh_rtp handler ---- */

static const char *attr_value(const struct sdp_session *s, const struct sdp_media *m,
                              enum sdp_attr_kind kind)
{
	const struct sdp_attr *a = sdp_media_attr(m, kind, NULL);
	if (!a)
		a = sdp_session_attr(s, kind, NULL);
	return a ? (a->value ? a->value : "") : NULL;
}

static enum sdp_setup setup_of(const struct sdp_session *s, const struct sdp_media *m)
{
	const struct sdp_attr *a = sdp_media_attr(m, SDP_ATTR_SETUP, NULL);
	if (!a)
		a = sdp_session_attr(s, SDP_ATTR_SETUP, NULL);
	return a ? a->u.setup : SDP_SETUP_NONE;
}

static bool in_bundle(const struct sdp_session *s, const struct sdp_media *m)
{
	const struct sdp_attr *mid = sdp_media_attr(m, SDP_ATTR_MID, NULL);
	unsigned from = 0;
	const struct sdp_attr *g;
	while (mid && (g = sdp_attr_next(s->attrs, s->n_attrs, SDP_ATTR_GROUP, NULL, &from)))
		if (strcasecmp(g->u.group.semantics, "BUNDLE") == 0)
			for (unsigned i = 0; i < g->u.group.count; i++)
				if (strcmp(g->u.group.ids[i], mid->value) == 0)
					return true;
	return false;
}

static void remote_tp_clear(struct remote_tp *r)
{
	if (r->strings)
		g_string_chunk_free(r->strings);
	memset(r, 0, sizeof *r);
}

static const char *keep(struct remote_tp *r, const char *s)
{
	return s ? g_string_chunk_insert(r->strings, s) : NULL;
}

static int tp_remote(void *arg, const struct sdp_session *s, const struct sdp_media *m, bool offer)
{
	struct sdh_webrtc *w = arg;
	const char *ufrag = attr_value(s, m, SDP_ATTR_ICE_UFRAG);
	const char *pwd = attr_value(s, m, SDP_ATTR_ICE_PWD);
	const struct sdp_attr *fa = sdp_media_attr(m, SDP_ATTR_FINGERPRINT, NULL);
	if (!fa)
		fa = sdp_session_attr(s, SDP_ATTR_FINGERPRINT, NULL);
	const char *why = NULL;
	if (!ufrag || !pwd || !*ufrag || !*pwd)
		why = "no ICE credentials";
	else if (strlen(ufrag) >= ICE_CRED_MAX || strlen(pwd) >= ICE_CRED_MAX)
		why = "ICE credentials too long";
	else if (!fa)
		why = "no a=fingerprint";
	else if (strlen(fa->u.fingerprint.hash) >= sizeof(((struct remote_tp *)0)->fp_alg) ||
	         strlen(fa->u.fingerprint.value) >= FP_MAX)
		why = "a=fingerprint too long";
	else if (!sdp_media_attr(m, SDP_ATTR_RTCP_MUX, NULL))
		why = "no a=rtcp-mux (one ICE component carries RTP and RTCP)";
	enum sdp_setup setup = setup_of(s, m);
	bool keep_roles = w->dtls && w->have_cur && fa &&
	                  strcasecmp(fa->u.fingerprint.value, w->cur.fp) == 0;
	enum dtls_role role = DTLS_ROLE_SERVER;
	if (!why) {
		if (offer) {
			/* holdconn asks for no association at all, in a re-offer too */
			if (setup == SDP_SETUP_HOLDCONN)
				why = "a=setup:holdconn";
			else if (keep_roles)
				role = w->role;
			else if (setup == SDP_SETUP_ACTPASS || setup == SDP_SETUP_PASSIVE)
				role = DTLS_ROLE_CLIENT;
			/* active, or absent (RFC 4145 §4: active): we are the server */
		} else {
			if (setup == SDP_SETUP_PASSIVE)
				role = DTLS_ROLE_CLIENT;
			else if (setup == SDP_SETUP_ACTPASS || setup == SDP_SETUP_HOLDCONN)
				why = "a=setup:actpass or holdconn in an answer";
		}
	}
	if (why) {
		logf_(w, "webrtc: refused description: %s", why);
		return -EINVAL;
	}
	struct remote_tp *r = &w->pending;
	remote_tp_clear(r);
	w->have_pending = true;
	r->strings = g_string_chunk_new(512);
	snprintf(r->ufrag, sizeof r->ufrag, "%s", ufrag);
	snprintf(r->pwd, sizeof r->pwd, "%s", pwd);
	r->lite = sdp_session_attr(s, SDP_ATTR_ICE_LITE, NULL) != NULL;
	snprintf(r->fp_alg, sizeof r->fp_alg, "%s", fa->u.fingerprint.hash);
	snprintf(r->fp, sizeof r->fp, "%s", fa->u.fingerprint.value);
	r->role = role;
	r->bundle = in_bundle(s, m);
	r->end_of_candidates = sdp_media_attr(m, SDP_ATTR_END_OF_CANDIDATES, NULL) ||
	                       sdp_session_attr(s, SDP_ATTR_END_OF_CANDIDATES, NULL);
	unsigned from = 0;
	const struct sdp_attr *a;
	while (r->n_cand < CANDIDATES_MAX &&
	       (a = sdp_attr_next(m->attrs, m->n_attrs, SDP_ATTR_CANDIDATE, NULL, &from))) {
		struct sdp_candidate *k = &r->cand[r->n_cand++];
		*k = a->u.candidate;
		k->foundation = keep(r, k->foundation);
		k->transport = keep(r, k->transport);
		k->address = keep(r, k->address);
		k->type = keep(r, k->type);
		k->raddr = keep(r, k->raddr);
		k->tcptype = keep(r, k->tcptype);
		k->extensions = keep(r, k->extensions);
	}
	r->restart_ice = w->have_cur && (strcmp(r->ufrag, w->cur.ufrag) != 0 ||
	                                 strcmp(r->pwd, w->cur.pwd) != 0);
	r->new_dtls = !keep_roles;
	return 0;
}

static void tp_agreed(void *arg)
{
	struct sdh_webrtc *w = arg;
	if (!w->have_pending)
		return; /* a re-answer of ours with the same remote description */
	bool first = !w->have_cur;
	bool restart = w->pending.restart_ice;
	bool new_dtls = w->pending.new_dtls;
	remote_tp_clear(&w->cur);
	w->cur = w->pending;
	memset(&w->pending, 0, sizeof w->pending);
	w->have_pending = false;
	w->have_cur = true;
	if (first || (restart && w->ice_next)) {
		/* the first agent, or the one our answer to a restart described */
		struct ice_agent *a = first ? w->ice : w->ice_next;
		int rc = ice_agent_set_remote_credentials(a, w->cur.ufrag, w->cur.pwd, w->cur.lite);
		for (unsigned i = 0; rc == 0 && i < w->cur.n_cand; i++)
			if (ice_agent_add_remote_candidate(a, &w->cur.cand[i]) != 0)
				logf_(w, "webrtc: candidate %s:%u skipped", w->cur.cand[i].address,
				      w->cur.cand[i].port);
		if (rc == 0 && w->cur.end_of_candidates)
			ice_agent_end_of_candidates(a);
		if (rc == 0) {
			if (!w->ice_started)
				w->ice_start_us = g_get_monotonic_time();
			rc = ice_agent_start(a);
			w->ice_started = w->ice_started || rc == 0;
		}
		if (rc != 0 && rc != -EALREADY) {
			fail(w, "ICE failed");
			return;
		}
	}
	if (new_dtls && dtls_begin(w) != 0)
		fail(w, "DTLS failed");
}

static void tp_describe(void *arg, bool answer, const char *mid, uint16_t *port,
                        const char **address, GString *session_lines, GString *media_lines)
{
	struct sdh_webrtc *w = arg;
	struct sdh_webrtc_ctx *c = w->ctx;
	/* An offer that restarts ICE is answered with a new agent's
	 * credentials and candidates (the answerer of a restart is controlled,
	 * unless the peer is lite); the old agent carries media until the new
	 * one has a pair. */
	if (answer && w->have_pending && w->pending.restart_ice) {
		if (w->ice_next)
			ice_agent_drop(&w->ice_next, &w->next_ref);
		if (ice_agent_make(w, w->pending.lite, &w->ice_next, &w->next_ref) != 0)
			fail(w, "ICE restart failed");
	}
	struct ice_agent *ice = w->ice_next ? w->ice_next : w->ice;
	ice_agent_default_candidate(ice, address, port);
	if (c->ice_lite)
		g_string_append(session_lines, "a=ice-lite\r\n");
	bool bundle = answer ? (w->have_pending ? w->pending.bundle : w->cur.bundle) : true;
	if (bundle && mid)
		g_string_append_printf(session_lines, "a=group:BUNDLE %s\r\n", mid);
	g_string_append_printf(media_lines, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n",
	                       ice_agent_ufrag(ice), ice_agent_pwd(ice));
	g_string_append_printf(media_lines, "a=fingerprint:sha-256 %s\r\n",
	                       dtls_cert_fingerprint(c->cert));
	const char *setup;
	if (answer) {
		enum dtls_role r = w->have_pending ? w->pending.role : w->role;
		setup = r == DTLS_ROLE_CLIENT ? "active" : "passive";
	} else if (w->dtls) {
		setup = w->role == DTLS_ROLE_CLIENT ? "active" : "passive";
	} else {
		setup = "actpass";
	}
	g_string_append_printf(media_lines, "a=setup:%s\r\n", setup);
	size_t need = ice_agent_sdp_candidates(ice, NULL, 0);
	char *cands = g_malloc(need + 1);
	ice_agent_sdp_candidates(ice, cands, need + 1);
	g_string_append(media_lines, cands);
	g_free(cands);
}

static int tp_send(void *arg, uint8_t *buf, size_t len, size_t cap, bool rtcp)
{
	struct sdh_webrtc *w = arg;
	if (!w->srtp)
		return -ENOTCONN;
	int n = rtcp ? srtp_session_protect_rtcp(w->srtp, buf, len, cap)
	             : srtp_session_protect_rtp(w->srtp, buf, len, cap);
	if (n < 0)
		return n;
	return ice_agent_send(w->ice, buf, (size_t)n);
}

static void tp_close(void *arg)
{
	struct sdh_webrtc *w = arg;
	if (w->closed)
		return;
	w->closed = true;
	dtls_stop(w);
	drop_source(&w->fail_idle);
	ice_agent_drop(&w->ice, &w->ice_ref);
	ice_agent_drop(&w->ice_next, &w->next_ref);
}

/* ---- a leg ---- */

int sdh_webrtc_new(struct sdh_webrtc_ctx *c, bool controlling, const struct sdh_webrtc_events *ev,
                   struct sdh_webrtc **out)
{
	*out = NULL;
	struct sdh_webrtc *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->ctx = c;
	w->held = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	if (ev)
		w->ev = *ev;
	int rc = ice_agent_make(w, controlling, &w->ice, &w->ice_ref);
	if (rc != 0) {
		g_ptr_array_unref(w->held);
		free(w);
		return rc;
	}
	struct sdh_rtp_transport tp = {
	    .proto = PROTO,
	    .remote = tp_remote,
	    .agreed = tp_agreed,
	    .describe = tp_describe,
	    .send = tp_send,
	    .input = tp_input,
	    .close = tp_close,
	    .arg = w,
	};
	rc = sdh_rtp_new(c->rtp, &(struct sdh_rtp_opts){.rtcp_mux = true, .transport = &tp}, &w->h);
	if (rc != 0) {
		ice_agent_drop(&w->ice, &w->ice_ref);
		g_ptr_array_unref(w->held);
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

void sdh_webrtc_set_log_tag(struct sdh_webrtc *w, const char *tag)
{
	snprintf(w->log_tag, sizeof w->log_tag, "%s", tag ? tag : "");
}

void sdh_webrtc_free(struct sdh_webrtc *w)
{
	if (!w)
		return;
	sdh_rtp_free(w->h); /* closes: tp_close */
	wheel_remove(w);
	g_ptr_array_unref(w->held);
	remote_tp_clear(&w->cur);
	remote_tp_clear(&w->pending);
	free(w);
}

struct sdh_rtp *sdh_webrtc_handler(struct sdh_webrtc *w) { return w->h; }

void sdh_webrtc_get_stats(const struct sdh_webrtc *w, struct sdh_webrtc_stats *out)
{
	memset(out, 0, sizeof *out);
	out->ice = w->ice ? ice_agent_state(w->ice) : ICE_STATE_FAILED;
	out->dtls = w->dtls ? dtls_state(w->dtls) : DTLS_STATE_NEW;
	out->profile = w->profile;
	out->ice_connected_ms = w->ice_up_us ? (w->ice_up_us - w->ice_start_us) / 1000 : -1;
	out->dtls_connected_ms = w->dtls_up_us ? (w->dtls_up_us - w->ice_up_us) / 1000 : -1;
	if (w->srtp)
		srtp_session_counters(w->srtp, &out->srtp);
	const struct srtp_counters *c = &out->srtp;
	out->srtp_total = w->srtp_past;
	out->srtp_total.protected += c->protected;
	out->srtp_total.unprotected += c->unprotected;
	out->srtp_total.auth_failures += c->auth_failures;
	out->srtp_total.replays += c->replays;
	out->srtp_total.other_errors += c->other_errors;
	out->not_media = w->not_media;
	if (w->ice) {
		struct ice_stats st;
		ice_agent_get_stats(w->ice, &st);
		memcpy(out->local, st.local, sizeof out->local);
		memcpy(out->remote, st.remote, sizeof out->remote);
	}
}
