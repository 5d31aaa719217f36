/* webrtc_peer — a WebRTC test peer: calls through sipwire over WebSocket as
 * a browser running SIP.js does (or takes a call), runs ICE, DTLS-SRTP and
 * SRTP against the gateway's media, sends recognisable G.711 audio, checks
 * what comes back and prints one JSON report. --loopback runs two media ends
 * against each other in this process, without signalling, to prove the
 * peer's own ICE/DTLS/SRTP. `webrtc_peer --help` lists the options.
 *
 * One thread, one GLib main loop: libnice, the media timers, and the
 * WebSocket (bench/ws_client's epoll descriptor watched from the loop). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib-unix.h>
#include <glib.h>

#include "peer_json.h"
#include "peer_media.h"
#include "peer_sip.h"
#include "webrtc/dtls.h"
#include "ws_client.h"

#define MAX_FAILURES        24
#define MAX_PROVISIONALS    8
#define MAX_INFO_DIGITS     32
#define WS_CONNECT_TIMEOUT  5.0
#define REGISTER_EXPIRES    600
#define INFO_DTMF_BODY_FMT  "Signal=%c\r\nDuration=100\r\n"

enum mode { MODE_NONE, MODE_CALL, MODE_ANSWER, MODE_LOOPBACK };
enum expect { EXPECT_ECHO, EXPECT_ANY, EXPECT_NONE };

struct options {
	enum mode mode;
	const char *ws_url;
	const char *user, *password, *domain;
	const char *target;
	int64_t answer_after_ms;
	int64_t duration_ms; /* -1: until the media is done */
	bool wait_bye;
	unsigned packets, ptime_ms;
	enum expect expect;
	const char *dtmf, *info_dtmf;
	int64_t dtmf_at_ms;
	int64_t hold_at_ms, resume_at_ms, stop_media_at_ms;
	bool video;
	bool bad_fingerprint, no_ice, dtls_garbage;
	unsigned corrupt_tag;
	int64_t setup_timeout_ms;
	int64_t timeout_ms;
	const char *record;
};

enum phase {
	PHASE_START,
	PHASE_REGISTERING,
	PHASE_CALLING,   /* our INVITE is out */
	PHASE_WAITING,   /* registered, waiting for an INVITE */
	PHASE_RINGING,   /* an INVITE rings here */
	PHASE_IN_CALL,
	PHASE_ENDING,    /* our BYE is out */
	PHASE_UNREGISTERING,
	PHASE_DONE,
};
static const char *const PHASE_NAMES[] = {"start", "registering", "calling", "waiting",
                                          "ringing", "in call", "ending", "unregistering",
                                          "done"};

struct peer {
	struct options o;
	GMainLoop *loop;
	struct dtls_cert *cert, *far_cert;
	struct peer_media *media, *far; /* far: the other end of --loopback */
	FILE *record;
	struct wsc *ws;
	guint ws_watch;
	struct peer_sip *sip;
	enum phase phase;
	uint64_t t_start, t_established;

	bool registered;
	int register_status, unregister_status;
	const char *invite_direction; /* "sent" or "received" */
	int invite_status;
	char invite_reason[128];
	int provisionals[MAX_PROVISIONALS];
	unsigned n_provisionals;
	bool answer_applied, offerless;
	bool offer_in_2xx; /* our offer went in a 2xx to an offerless re-INVITE */
	char sdp_error[160];
	char *pending_answer; /* --answer: the 200's body, sent after --answer-after */
	const char *bye_by;   /* "peer", "remote" or NULL */
	int bye_status;
	char bye_reason[512];
	bool bye_has_reason;
	int hold_status, resume_status;
	bool renegotiating;
	int *reneg_status; /* hold_status or resume_status, for the re-INVITE out */
	char info_sent[MAX_INFO_DIGITS + 1];
	int info_statuses[MAX_INFO_DIGITS];
	unsigned n_info, info_next;
	bool info_inflight, info_started;
	bool hold_due, resume_due; /* timers fired; action waits for a free moment */
	unsigned actions_left;     /* scheduled actions not done yet */

	guint timers[8];
	unsigned n_timers;
	guint answer_timer;

	char failures[MAX_FAILURES][200];
	unsigned n_failures;
	bool timed_out;
};

/* ---- small things ---- */

static uint64_t now_ms(void)
{
	return (uint64_t)(g_get_monotonic_time() / 1000);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(stderr, "[peer %ld.%03ld] %s\n", (long)ts.tv_sec % 100000, ts.tv_nsec / 1000000,
	        line);
}

static void fail(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct peer *p, const char *fmt, ...)
{
	if (p->n_failures >= MAX_FAILURES)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->failures[p->n_failures], sizeof p->failures[0], fmt, ap);
	va_end(ap);
	say("failure: %s", p->failures[p->n_failures]);
	p->n_failures++;
}

static void done(struct peer *p)
{
	if (p->phase == PHASE_DONE)
		return;
	p->phase = PHASE_DONE;
	g_main_loop_quit(p->loop);
}

static void progress(struct peer *p);

/* ---- the WebSocket ---- */

static void ws_on_message(void *arg, struct wsc_conn *c, char *msg, size_t len)
{
	struct peer *p = arg;
	const char *eol = memchr(msg, '\r', len);
	say("<-- %.*s", (int)(eol ? (size_t)(eol - msg) : len), msg);
	peer_sip_receive(p->sip, msg, len);
}

static void ws_on_close(void *arg, struct wsc_conn *c)
{
	struct peer *p = arg;
	if (p->phase == PHASE_DONE)
		return;
	fail(p, "the WebSocket closed while %s", PHASE_NAMES[p->phase]);
	done(p);
}

static gboolean ws_ready(gint fd, GIOCondition cond, gpointer data)
{
	struct peer *p = data;
	wsc_poll(p->ws, 0);
	return G_SOURCE_CONTINUE;
}

static void sip_send(void *arg, const char *msg, size_t len)
{
	struct peer *p = arg;
	struct wsc_conn *c = wsc_conn_at(p->ws, 0);
	const char *eol = memchr(msg, '\r', len);
	say("--> %.*s", (int)(eol ? (size_t)(eol - msg) : len), msg);
	if (!c || wsc_send_text(p->ws, c, msg, len) < 0)
		say("could not send on the WebSocket");
}

/* ws://HOST:PORT[/path] or wss://... with an IPv4 host. */
static int parse_ws_url(const char *url, char *host, size_t host_size, unsigned *port,
                        const char **path, bool *tls)
{
	const char *rest;
	if (!strncmp(url, "ws://", 5)) {
		*tls = false;
		rest = url + 5;
	} else if (!strncmp(url, "wss://", 6)) {
		*tls = true;
		rest = url + 6;
	} else {
		return -EINVAL;
	}
	const char *colon = strchr(rest, ':');
	if (!colon || (size_t)(colon - rest) >= host_size)
		return -EINVAL;
	memcpy(host, rest, (size_t)(colon - rest));
	host[colon - rest] = '\0';
	char *end;
	unsigned long v = strtoul(colon + 1, &end, 10);
	if (end == colon + 1 || v == 0 || v > 65535 || (*end && *end != '/'))
		return -EINVAL;
	*port = (unsigned)v;
	*path = *end ? end : "/";
	return 0;
}

static int ws_open(struct peer *p)
{
	char host[64];
	struct wsc_options wo = {.connections = 1, .connect_concurrency = 1};
	if (parse_ws_url(p->o.ws_url, host, sizeof host, &wo.port, &wo.path, &wo.tls) < 0) {
		fail(p, "--ws %s is not ws://IPv4:PORT[/path] or wss://...", p->o.ws_url);
		return -EINVAL;
	}
	wo.host = host;
	struct wsc_handlers h = {.on_message = ws_on_message, .on_close = ws_on_close, .arg = p};
	wsc_rand_seed();
	int rc = wsc_new(&p->ws, &wo, &h);
	if (rc < 0) {
		fail(p, "WebSocket client: %s", strerror(-rc));
		return rc;
	}
	if (wsc_connect_all(p->ws, WS_CONNECT_TIMEOUT) != 1) {
		fail(p, "could not open %s", p->o.ws_url);
		return -ECONNREFUSED;
	}
	say("WebSocket open to %s", p->o.ws_url);
	p->ws_watch = g_unix_fd_add(wsc_fd(p->ws), G_IO_IN, ws_ready, p);
	return 0;
}

/* ---- the call's timeline ---- */

static void add_timer(struct peer *p, int64_t at_ms, GSourceFunc fn)
{
	if (at_ms < 0 || p->n_timers >= sizeof p->timers / sizeof p->timers[0])
		return;
	p->timers[p->n_timers++] = g_timeout_add((guint)at_ms, fn, p);
}

static void hang_up(struct peer *p);

/* A new offer with this direction: a re-INVITE, or in --loopback straight
 * to the far end and back. */
static int renegotiate(struct peer *p, enum sdp_direction dir, int *status)
{
	char *offer = NULL;
	int rc = peer_media_offer(p->media, dir, &offer);
	if (rc < 0)
		return rc;
	say("re-offer with a=%s", sdp_direction_name(dir));
	if (p->o.mode != MODE_LOOPBACK) {
		rc = peer_sip_reinvite(p->sip, offer);
		free(offer);
		if (rc == 0) {
			p->renegotiating = true;
			p->reneg_status = status;
		}
		return rc;
	}
	const char *why = NULL;
	char *answer = NULL;
	rc = peer_media_set_remote(p->far, offer, strlen(offer), true, &why);
	if (rc == 0)
		rc = peer_media_answer(p->far, &answer);
	if (rc == 0)
		rc = peer_media_set_remote(p->media, answer, strlen(answer), false, &why);
	if (rc < 0)
		fail(p, "loopback re-offer: %s", why ? why : strerror(-rc));
	*status = rc == 0 ? 200 : 488;
	free(offer);
	free(answer);
	return rc;
}

static void do_hold_or_resume(struct peer *p)
{
	if (p->phase != PHASE_IN_CALL || p->renegotiating)
		return;
	if (p->hold_due) {
		p->hold_due = false;
		if (renegotiate(p, SDP_DIR_SENDONLY, &p->hold_status) < 0 && !p->hold_status)
			p->hold_status = -1;
	} else if (p->resume_due) {
		p->resume_due = false;
		if (renegotiate(p, SDP_DIR_SENDRECV, &p->resume_status) < 0 && !p->resume_status)
			p->resume_status = -1;
	}
}

static gboolean hold_timer(gpointer data)
{
	struct peer *p = data;
	p->hold_due = true;
	p->actions_left--;
	do_hold_or_resume(p);
	progress(p);
	return G_SOURCE_REMOVE;
}

static gboolean resume_timer(gpointer data)
{
	struct peer *p = data;
	p->resume_due = true;
	p->actions_left--;
	do_hold_or_resume(p);
	progress(p);
	return G_SOURCE_REMOVE;
}

static void send_next_info(struct peer *p)
{
	while (p->info_next < strlen(p->o.info_dtmf) && !p->info_inflight &&
	       p->phase == PHASE_IN_CALL && p->n_info < MAX_INFO_DIGITS) {
		char digit = p->o.info_dtmf[p->info_next++];
		char body[64];
		snprintf(body, sizeof body, INFO_DTMF_BODY_FMT, digit);
		if (peer_sip_info(p->sip, "application/dtmf-relay", body) == 0) {
			p->info_sent[p->n_info] = digit;
			p->info_statuses[p->n_info++] = 0;
			p->info_inflight = true;
		}
	}
}

static gboolean dtmf_timer(gpointer data)
{
	struct peer *p = data;
	p->actions_left--;
	if (p->o.dtmf && peer_media_send_dtmf(p->media, p->o.dtmf) < 0)
		fail(p, "--dtmf %s has no digit to send", p->o.dtmf);
	if (p->o.info_dtmf) {
		p->info_started = true;
		send_next_info(p);
	}
	progress(p);
	return G_SOURCE_REMOVE;
}

static gboolean stop_media_timer(gpointer data)
{
	struct peer *p = data;
	p->actions_left--;
	peer_media_stop_sending(p->media);
	progress(p);
	return G_SOURCE_REMOVE;
}

static gboolean duration_timer(gpointer data)
{
	struct peer *p = data;
	if (p->o.wait_bye)
		fail(p, "no BYE came within %" PRId64 " ms of the answer", p->o.duration_ms);
	say("call duration reached");
	hang_up(p);
	return G_SOURCE_REMOVE;
}

static gboolean setup_timer(gpointer data)
{
	struct peer *p = data;
	struct peer_media_result r;
	peer_media_result(p->media, &r);
	if (p->phase != PHASE_IN_CALL || r.dtls_connected)
		return G_SOURCE_REMOVE;
	if (p->o.expect != EXPECT_NONE)
		fail(p, "media: %s within %" PRId64 " ms of the answer",
		     r.ice_connected ? "DTLS did not connect" : "ICE did not connect",
		     p->o.setup_timeout_ms);
	/* no media will finish the call: end it, unless told how it ends */
	if (!p->o.wait_bye && p->o.duration_ms < 0)
		hang_up(p);
	return G_SOURCE_REMOVE;
}

static gboolean watchdog(gpointer data)
{
	struct peer *p = data;
	p->timed_out = true;
	fail(p, "--timeout %" PRId64 " ms reached while %s", p->o.timeout_ms, PHASE_NAMES[p->phase]);
	done(p);
	return G_SOURCE_REMOVE;
}

static void established(struct peer *p)
{
	if (p->phase == PHASE_IN_CALL)
		return;
	p->phase = PHASE_IN_CALL;
	p->t_established = now_ms();
	say("call established");
	const struct options *o = &p->o;
	if (o->hold_at_ms >= 0) {
		p->actions_left++;
		add_timer(p, o->hold_at_ms, hold_timer);
	}
	if (o->resume_at_ms >= 0) {
		p->actions_left++;
		add_timer(p, o->resume_at_ms, resume_timer);
	}
	if (o->dtmf || o->info_dtmf) {
		p->actions_left++;
		add_timer(p, o->dtmf_at_ms, dtmf_timer);
	}
	if (o->stop_media_at_ms >= 0) {
		p->actions_left++;
		add_timer(p, o->stop_media_at_ms, stop_media_timer);
	}
	if (o->duration_ms >= 0)
		add_timer(p, o->duration_ms, duration_timer);
	add_timer(p, o->setup_timeout_ms, setup_timer);
	progress(p);
}

static void after_call(struct peer *p)
{
	if (p->phase == PHASE_UNREGISTERING || p->phase == PHASE_DONE)
		return;
	if (p->registered && p->o.mode != MODE_LOOPBACK) {
		p->phase = PHASE_UNREGISTERING;
		if (peer_sip_register(p->sip, 0) == 0)
			return;
	}
	done(p);
}

static void hang_up(struct peer *p)
{
	if (p->o.mode == MODE_LOOPBACK) {
		done(p);
		return;
	}
	if (p->phase == PHASE_IN_CALL && peer_sip_bye(p->sip) == 0) {
		p->phase = PHASE_ENDING;
		p->bye_by = "peer";
		return;
	}
	if (p->phase == PHASE_RINGING)
		peer_sip_reject(p->sip, 480);
	if (p->phase != PHASE_ENDING)
		after_call(p);
}

/* After anything happened: is the call over, as far as this run goes? */
static void progress(struct peer *p)
{
	if (p->phase != PHASE_IN_CALL)
		return;
	do_hold_or_resume(p);
	if (p->o.info_dtmf && p->info_started)
		send_next_info(p);
	if (p->o.wait_bye || p->o.duration_ms >= 0)
		return;
	bool infos_done = !p->o.info_dtmf || (p->info_started && !p->info_inflight &&
	                                      p->info_next >= strlen(p->o.info_dtmf));
	if (p->actions_left || p->hold_due || p->resume_due || p->renegotiating || !infos_done)
		return;
	bool far_failed = false;
	if (p->far) {
		struct peer_media_result fr;
		peer_media_result(p->far, &fr);
		far_failed = fr.ice_failed || fr.dtls_failed;
	}
	if (!far_failed && !peer_media_finished(p->media))
		return;
	say(far_failed ? "the far end's media failed" : "media done");
	hang_up(p);
}

static void media_changed(void *arg)
{
	progress(arg);
}

/* ---- SIP events ---- */

static void apply_answer(struct peer *p, const char *sdp, size_t len)
{
	const char *why = NULL;
	int rc = peer_media_set_remote(p->media, sdp, len, false, &why);
	if (rc < 0) {
		snprintf(p->sdp_error, sizeof p->sdp_error, "%s", why ? why : strerror(-rc));
		fail(p, "the answer is refused: %s", p->sdp_error);
		return;
	}
	p->answer_applied = true;
}

static void on_register(void *arg, int status)
{
	struct peer *p = arg;
	if (p->phase == PHASE_UNREGISTERING) {
		p->unregister_status = status;
		done(p);
		return;
	}
	p->register_status = status;
	if (status < 200 || status >= 300) {
		fail(p, "REGISTER answered %d", status);
		done(p);
		return;
	}
	p->registered = true;
	say("registered as %s@%s", p->o.user, p->o.domain);
	if (p->o.mode == MODE_CALL) {
		char *offer = NULL;
		if (peer_media_offer(p->media, SDP_DIR_SENDRECV, &offer) < 0 ||
		    peer_sip_invite(p->sip, p->o.target, offer) < 0) {
			fail(p, "could not send the INVITE");
			free(offer);
			after_call(p);
			return;
		}
		free(offer);
		p->invite_direction = "sent";
		p->phase = PHASE_CALLING;
	} else {
		p->phase = PHASE_WAITING;
		say("waiting for a call");
	}
}

static void on_provisional(void *arg, int status, const char *sdp, size_t len)
{
	struct peer *p = arg;
	if (p->n_provisionals < MAX_PROVISIONALS)
		p->provisionals[p->n_provisionals++] = status;
	/* SIP.js applies the first SDP it sees, in a 1xx or the 2xx */
	if (sdp && !p->answer_applied && !p->sdp_error[0])
		apply_answer(p, sdp, len);
}

static void on_final(void *arg, int status, const char *reason, const char *sdp, size_t len)
{
	struct peer *p = arg;
	p->invite_status = status;
	snprintf(p->invite_reason, sizeof p->invite_reason, "%s", reason);
	say("INVITE answered %d %s", status, reason);
	if (status >= 300) {
		after_call(p);
		return;
	}
	if (sdp && !p->answer_applied && !p->sdp_error[0])
		apply_answer(p, sdp, len);
	if (!p->answer_applied) {
		if (!p->sdp_error[0]) {
			snprintf(p->sdp_error, sizeof p->sdp_error, "no SDP answer");
			fail(p, "the 2xx carries no answer");
		}
		p->phase = PHASE_IN_CALL;
		hang_up(p);
		return;
	}
	established(p);
}

static gboolean answer_timer(gpointer data)
{
	struct peer *p = data;
	p->answer_timer = 0;
	if (p->phase != PHASE_RINGING)
		return G_SOURCE_REMOVE;
	if (peer_sip_answer(p->sip, p->pending_answer) == 0) {
		p->invite_status = 200;
		snprintf(p->invite_reason, sizeof p->invite_reason, "OK");
		say("answered with 200%s", p->offerless ? " (our offer)" : "");
	}
	free(p->pending_answer);
	p->pending_answer = NULL;
	return G_SOURCE_REMOVE;
}

static void on_invite(void *arg, const char *sdp, size_t len)
{
	struct peer *p = arg;
	if (p->phase != PHASE_WAITING) {
		say("an INVITE while %s: not taken", PHASE_NAMES[p->phase]);
		peer_sip_reject(p->sip, 486);
		return;
	}
	p->phase = PHASE_RINGING;
	p->invite_direction = "received";
	peer_sip_ring(p->sip);
	int rc;
	if (sdp) {
		const char *why = NULL;
		rc = peer_media_set_remote(p->media, sdp, len, true, &why);
		if (rc < 0) {
			snprintf(p->sdp_error, sizeof p->sdp_error, "%s", why ? why : strerror(-rc));
			fail(p, "the offer is refused: %s", p->sdp_error);
			peer_sip_reject(p->sip, 488);
			p->invite_status = 488;
			snprintf(p->invite_reason, sizeof p->invite_reason, "Not Acceptable Here");
			after_call(p);
			return;
		}
		rc = peer_media_answer(p->media, &p->pending_answer);
	} else {
		p->offerless = true;
		rc = peer_media_offer(p->media, SDP_DIR_SENDRECV, &p->pending_answer);
	}
	if (rc < 0) {
		fail(p, "no description to answer with: %s", strerror(-rc));
		peer_sip_reject(p->sip, 500);
		p->invite_status = 500;
		after_call(p);
		return;
	}
	p->answer_timer = g_timeout_add((guint)p->o.answer_after_ms, answer_timer, p);
}

static void on_ack(void *arg, const char *sdp, size_t len)
{
	struct peer *p = arg;
	if (p->offer_in_2xx) {
		p->offer_in_2xx = false;
		if (sdp)
			apply_answer(p, sdp, len);
		else
			fail(p, "the ACK carries no answer to our offer in the re-INVITE's 2xx");
		return;
	}
	if (p->offerless && !p->answer_applied) {
		if (!sdp) {
			fail(p, "the ACK carries no answer to our offer");
			p->phase = PHASE_IN_CALL;
			hang_up(p);
			return;
		}
		apply_answer(p, sdp, len);
		if (!p->answer_applied) {
			p->phase = PHASE_IN_CALL;
			hang_up(p);
			return;
		}
	}
	p->answer_applied = true;
	established(p);
}

static void on_cancel(void *arg)
{
	struct peer *p = arg;
	fail(p, "the call was cancelled before it was answered");
	p->invite_status = 487;
	after_call(p);
}

static char *on_reinvite(void *arg, const char *sdp, size_t len, int *status)
{
	struct peer *p = arg;
	char *out = NULL;
	if (!sdp) {
		if (peer_media_offer(p->media, SDP_DIR_SENDRECV, &out) < 0)
			*status = 500;
		else
			p->offer_in_2xx = true;
		return out;
	}
	const char *why = NULL;
	if (peer_media_set_remote(p->media, sdp, len, true, &why) < 0) {
		say("re-INVITE refused: %s", why ? why : "?");
		*status = 488;
		return NULL;
	}
	if (peer_media_answer(p->media, &out) < 0)
		*status = 500;
	return out;
}

static void on_info(void *arg, const char *ctype, const char *body, size_t len)
{
	say("INFO %s: %.*s", ctype, (int)len, body ? body : "");
}

static void on_bye(void *arg, const char *reason)
{
	struct peer *p = arg;
	p->bye_by = "remote";
	if (reason) {
		snprintf(p->bye_reason, sizeof p->bye_reason, "%s", reason);
		p->bye_has_reason = true;
	}
	say("BYE received%s%s", reason ? ", Reason: " : "", reason ? reason : "");
	after_call(p);
}

static void on_response(void *arg, const char *method, int status, const char *sdp, size_t len)
{
	struct peer *p = arg;
	if (!strcmp(method, "BYE")) {
		p->bye_status = status;
		after_call(p);
		return;
	}
	if (!strcmp(method, "INFO")) {
		if (p->n_info)
			p->info_statuses[p->n_info - 1] = status;
		p->info_inflight = false;
		progress(p);
		return;
	}
	if (!strcmp(method, "INVITE")) {
		p->renegotiating = false;
		if (p->reneg_status)
			*p->reneg_status = status;
		p->reneg_status = NULL;
		if (status >= 200 && status < 300 && sdp)
			apply_answer(p, sdp, len);
		progress(p);
	}
}

/* ---- modes ---- */

static int start_loopback(struct peer *p)
{
	struct peer_media_config fc = {
		.name = "far",
		.cert = p->far_cert,
		.echo = true,
		.on_change = media_changed,
		.arg = p,
	};
	int rc = peer_media_new(&fc, &p->far);
	if (rc < 0) {
		fail(p, "the far end's media: %s", strerror(-rc));
		return rc;
	}
	char *offer = NULL, *answer = NULL;
	const char *why = NULL;
	rc = peer_media_offer(p->media, SDP_DIR_SENDRECV, &offer);
	if (rc == 0)
		rc = peer_media_set_remote(p->far, offer, strlen(offer), true, &why);
	if (rc == 0)
		rc = peer_media_answer(p->far, &answer);
	if (rc == 0)
		rc = peer_media_set_remote(p->media, answer, strlen(answer), false, &why);
	if (rc < 0)
		fail(p, "loopback offer/answer: %s", why ? why : strerror(-rc));
	else
		say("loopback offer (%zu bytes) and answer (%zu bytes) applied", strlen(offer),
		    strlen(answer));
	free(offer);
	free(answer);
	if (rc < 0)
		return rc;
	p->invite_status = 200;
	p->answer_applied = true;
	established(p);
	return 0;
}

static int start_signalling(struct peer *p)
{
	struct peer_sip_config sc = {
		.domain = p->o.domain,
		.user = p->o.user,
		.password = p->o.password,
		.wss = !strncmp(p->o.ws_url, "wss:", 4),
		.h = {.on_register = on_register,
		      .on_invite = on_invite,
		      .on_provisional = on_provisional,
		      .on_final = on_final,
		      .on_ack = on_ack,
		      .on_cancel = on_cancel,
		      .on_reinvite = on_reinvite,
		      .on_info = on_info,
		      .on_bye = on_bye,
		      .on_response = on_response,
		      .send = sip_send,
		      .arg = p},
	};
	int rc = peer_sip_new(&sc, &p->sip);
	if (rc < 0) {
		fail(p, "SIP user agent: %s", strerror(-rc));
		return rc;
	}
	rc = ws_open(p);
	if (rc < 0)
		return rc;
	if (p->o.user) {
		p->phase = PHASE_REGISTERING;
		return peer_sip_register(p->sip, REGISTER_EXPIRES);
	}
	if (p->o.mode == MODE_ANSWER) {
		p->phase = PHASE_WAITING;
		return 0;
	}
	char *offer = NULL;
	rc = peer_media_offer(p->media, SDP_DIR_SENDRECV, &offer);
	if (rc == 0)
		rc = peer_sip_invite(p->sip, p->o.target, offer);
	free(offer);
	p->invite_direction = "sent";
	p->phase = PHASE_CALLING;
	return rc;
}

/* ---- the verdict and the report ---- */

static void judge(struct peer *p)
{
	const struct options *o = &p->o;
	if (p->invite_status < 200 || p->invite_status >= 300) {
		if (p->invite_status)
			fail(p, "INVITE %s %d", p->invite_direction && !strcmp(p->invite_direction,
			                                                        "received")
			                            ? "answered with"
			                            : "answered",
			     p->invite_status);
		else if (!p->n_failures)
			fail(p, "no call took place");
		return;
	}
	struct peer_media_result r;
	peer_media_result(p->media, &r);
	if (o->expect != EXPECT_NONE) {
		if (!r.ice_connected)
			fail(p, "ICE never connected");
		else if (!r.dtls_connected)
			fail(p, "DTLS never connected");
		if (!r.pcmu_negotiated && o->packets)
			fail(p, "no PCMU in the negotiated codecs");
	}
	if (o->expect == EXPECT_ECHO && r.dtls_connected) {
		if (r.echo_mismatches)
			fail(p, "%u packet(s) came back that were never sent", r.echo_mismatches);
		if (r.echo_expected == 0)
			fail(p, "no packet was sent that could come back");
		else if ((uint64_t)r.echo_returned * 10 < (uint64_t)r.echo_expected * 9)
			fail(p, "only %u of %u packets came back", r.echo_returned, r.echo_expected);
	}
	if (o->expect == EXPECT_ANY && r.dtls_connected && r.rtp_received == 0)
		fail(p, "no RTP came back");
	if (o->dtmf && o->expect != EXPECT_NONE && r.dtmf_sent_packets == 0)
		fail(p, "no telephone-event was sent");
	for (unsigned i = 0; i < p->n_info; i++)
		if (p->info_statuses[i] < 200 || p->info_statuses[i] >= 300)
			fail(p, "INFO %c answered %d", p->info_sent[i], p->info_statuses[i]);
	if (o->hold_at_ms >= 0 && (p->hold_status < 200 || p->hold_status >= 300))
		fail(p, "hold re-INVITE answered %d", p->hold_status);
	if (o->resume_at_ms >= 0 && (p->resume_status < 200 || p->resume_status >= 300))
		fail(p, "resume re-INVITE answered %d", p->resume_status);
	if (o->wait_bye && (!p->bye_by || strcmp(p->bye_by, "remote")))
		fail(p, "no BYE came from the far end");
	if (p->bye_by && !strcmp(p->bye_by, "peer") && o->mode != MODE_LOOPBACK &&
	    (p->bye_status < 200 || p->bye_status >= 300))
		fail(p, "our BYE answered %d", p->bye_status);
}

static void write_status(struct peer_json *j, const char *key, int status)
{
	if (status)
		peer_json_int(j, key, status);
	else
		peer_json_null(j, key);
}

static void report(struct peer *p)
{
	const struct options *o = &p->o;
	static const char *const MODES[] = {"none", "call", "answer", "loopback"};
	struct peer_json j;
	peer_json_init(&j, stdout);
	peer_json_object_begin(&j, NULL);
	peer_json_string(&j, "mode", MODES[o->mode]);
	peer_json_bool(&j, "ok", p->n_failures == 0);
	peer_json_array_begin(&j, "failures");
	for (unsigned i = 0; i < p->n_failures; i++)
		peer_json_string(&j, NULL, p->failures[i]);
	peer_json_array_end(&j);
	peer_json_string(&j, "target", o->mode == MODE_CALL ? o->target : NULL);

	if (o->mode != MODE_LOOPBACK && o->user) {
		peer_json_object_begin(&j, "register");
		write_status(&j, "status", p->register_status);
		write_status(&j, "unregister_status", p->unregister_status);
		peer_json_object_end(&j);
	} else {
		peer_json_null(&j, "register");
	}

	if (o->mode == MODE_LOOPBACK) {
		peer_json_null(&j, "invite");
	} else {
		peer_json_object_begin(&j, "invite");
		peer_json_string(&j, "direction", p->invite_direction);
		const char *call_id = p->sip ? peer_sip_call_id(p->sip) : "";
		peer_json_string(&j, "call_id", *call_id ? call_id : NULL);
		write_status(&j, "status", p->invite_status);
		peer_json_string(&j, "reason", p->invite_reason[0] ? p->invite_reason : NULL);
		peer_json_array_begin(&j, "provisional");
		for (unsigned i = 0; i < p->n_provisionals; i++)
			peer_json_int(&j, NULL, p->provisionals[i]);
		peer_json_array_end(&j);
		peer_json_bool(&j, "offerless", p->offerless);
		peer_json_string(&j, "sdp_error", p->sdp_error[0] ? p->sdp_error : NULL);
		peer_json_object_end(&j);
	}
	peer_json_ms(&j, "established_ms",
	             p->t_established ? (int64_t)(p->t_established - p->t_start) : -1);
	if (p->bye_by) {
		peer_json_object_begin(&j, "bye");
		peer_json_string(&j, "by", p->bye_by);
		write_status(&j, "status", !strcmp(p->bye_by, "remote") ? 200 : p->bye_status);
		peer_json_string(&j, "reason", p->bye_has_reason ? p->bye_reason : NULL);
		peer_json_object_end(&j);
	} else {
		peer_json_null(&j, "bye");
	}
	if (o->hold_at_ms >= 0)
		write_status(&j, "hold_status", p->hold_status);
	if (o->resume_at_ms >= 0)
		write_status(&j, "resume_status", p->resume_status);
	if (o->info_dtmf) {
		peer_json_object_begin(&j, "info_dtmf");
		peer_json_string_n(&j, "digits_sent", p->info_sent, p->n_info);
		peer_json_array_begin(&j, "statuses");
		for (unsigned i = 0; i < p->n_info; i++)
			peer_json_int(&j, NULL, p->info_statuses[i]);
		peer_json_array_end(&j);
		peer_json_object_end(&j);
	}
	if (p->media)
		peer_media_json(p->media, &j);
	if (p->far) {
		peer_json_object_begin(&j, "far_end");
		peer_media_json(p->far, &j);
		peer_json_object_end(&j);
	}
	peer_json_int(&j, "run_ms", (int64_t)(now_ms() - p->t_start));
	peer_json_object_end(&j);
	fputc('\n', stdout);
	fflush(stdout);
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fputs(
		"usage: webrtc_peer (--call TARGET | --answer) --ws URL [options]\n"
		"       webrtc_peer --loopback [options]\n"
		"\n"
		"A WebRTC test peer: SIP over WebSocket as SIP.js writes it, full ICE (libnice,\n"
		"one UDP host candidate on 127.0.0.1), DTLS-SRTP, SRTP; sends G.711 PCMU with a\n"
		"payload it can recognise, checks what comes back, prints one JSON object on\n"
		"stdout (progress on stderr). Exit status 0 when the call did what was asked.\n"
		"Times (MS) after the call is established (2xx sent or received, ACKed).\n"
		"\n"
		"modes:\n"
		"  --call TARGET        INVITE TARGET (a SIP URI, or a user at --domain) with an offer\n"
		"  --answer             register and wait for an INVITE; answer it as Chrome does\n"
		"  --loopback           no signalling: two media ends in this process offer/answer\n"
		"                       each other; the far one echoes every packet back\n"
		"signalling:\n"
		"  --ws URL             ws://IPv4:PORT[/path] or wss://...\n"
		"  --user NAME          register as NAME first (digest when challenged); without it\n"
		"                       the call goes out anonymous, unregistered\n"
		"  --password PW        digest password\n"
		"  --domain DOMAIN      of the AOR and Request-URIs (default sipwire.test)\n"
		"  --answer-after MS    with --answer: 180 at once, 200 after MS (default 0)\n"
		"  --duration MS        send BYE MS after the answer (default: once the media is done:\n"
		"                       every packet sent and what should come back came back, or\n"
		"                       1 s after the last one)\n"
		"  --wait-bye           wait for the far end's BYE (until --duration, then BYE and fail)\n"
		"  --hold-at MS         re-INVITE with a=sendonly at MS\n"
		"  --resume-at MS       re-INVITE with a=sendrecv at MS\n"
		"  --info-dtmf DIGITS   send DIGITS as SIP INFO application/dtmf-relay at --dtmf-at\n"
		"media:\n"
		"  --packets N          PCMU packets to send (default 100)\n"
		"  --ptime MS           packet interval (default 20)\n"
		"  --expect echo|any|none  echo (default): every RTP payload received must be one\n"
		"                       sent, and 90%% of those sent must come back; any: some RTP\n"
		"                       must come; none: no media check (for failure tests)\n"
		"  --dtmf DIGITS        RFC 4733 telephone-events at --dtmf-at\n"
		"  --dtmf-at MS         when DTMF starts (default 500)\n"
		"  --video              offer a video m-line too, as Chrome does (no video is sent)\n"
		"  --setup-timeout MS   ICE and DTLS must be up within MS of the answer (default 10000)\n"
		"  --record FILE        one line per RTP packet received (header fields, verdict, payload)\n"
		"failure knobs:\n"
		"  --bad-fingerprint    announce a fingerprint that is not the certificate's\n"
		"  --no-ice             announce a candidate nobody listens on; answer no checks\n"
		"  --dtls-garbage       send datagrams in the DTLS first-byte range that are no DTLS\n"
		"                       record, before and during the handshake\n"
		"  --corrupt-tag N      flip a bit in the auth tag of N SRTP packets (from the 6th on)\n"
		"  --stop-media-at MS   stop sending RTP and RTCP at MS; the call stays up\n"
		"other:\n"
		"  --timeout MS         give up after MS in all (default 60000)\n"
		"  --help\n"
		"\n"
		"JSON: mode, ok, failures[], target, register{status,unregister_status},\n"
		"invite{direction,status,reason,provisional[],offerless,sdp_error}, established_ms,\n"
		"bye{by: peer|remote, status, reason (the Reason header of a BYE received)},\n"
		"hold_status, resume_status, info_dtmf{digits_sent,statuses[]},\n"
		"ice_connected_ms and dtls_connected_ms (from the completed offer/answer),\n"
		"srtp_profile, ice{state,role,local_candidate,remote_candidates,selected_pair},\n"
		"dtls{state,role,error,datagrams_received,retransmits,garbage_sent,...},\n"
		"rtp{sent,audio_sent,corrupted,received,remote_ssrcs[],payload_types{},...},\n"
		"echo{matches,mismatches,duplicates,expected,returned,ratio,first_mismatch},\n"
		"dtmf{digits_sent,packets_sent,packets_received,echo_matches}, rtcp{sent,received},\n"
		"srtp{protected,unprotected,auth_failures,replays}, far_end{...} (--loopback), run_ms.\n",
		f);
}

enum {
	OPT_CALL = 256, OPT_ANSWER, OPT_LOOPBACK, OPT_WS, OPT_USER, OPT_PASSWORD, OPT_DOMAIN,
	OPT_ANSWER_AFTER, OPT_DURATION, OPT_WAIT_BYE, OPT_PACKETS, OPT_PTIME, OPT_EXPECT,
	OPT_DTMF, OPT_INFO_DTMF, OPT_DTMF_AT, OPT_HOLD_AT, OPT_RESUME_AT, OPT_STOP_MEDIA_AT,
	OPT_VIDEO, OPT_BAD_FP, OPT_NO_ICE, OPT_GARBAGE, OPT_CORRUPT, OPT_SETUP_TIMEOUT,
	OPT_TIMEOUT, OPT_RECORD, OPT_HELP,
};

static int parse_ms(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 24LL * 3600 * 1000)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"call", required_argument, NULL, OPT_CALL},
		{"answer", no_argument, NULL, OPT_ANSWER},
		{"loopback", no_argument, NULL, OPT_LOOPBACK},
		{"ws", required_argument, NULL, OPT_WS},
		{"user", required_argument, NULL, OPT_USER},
		{"password", required_argument, NULL, OPT_PASSWORD},
		{"domain", required_argument, NULL, OPT_DOMAIN},
		{"answer-after", required_argument, NULL, OPT_ANSWER_AFTER},
		{"duration", required_argument, NULL, OPT_DURATION},
		{"wait-bye", no_argument, NULL, OPT_WAIT_BYE},
		{"packets", required_argument, NULL, OPT_PACKETS},
		{"ptime", required_argument, NULL, OPT_PTIME},
		{"expect", required_argument, NULL, OPT_EXPECT},
		{"dtmf", required_argument, NULL, OPT_DTMF},
		{"info-dtmf", required_argument, NULL, OPT_INFO_DTMF},
		{"dtmf-at", required_argument, NULL, OPT_DTMF_AT},
		{"hold-at", required_argument, NULL, OPT_HOLD_AT},
		{"resume-at", required_argument, NULL, OPT_RESUME_AT},
		{"stop-media-at", required_argument, NULL, OPT_STOP_MEDIA_AT},
		{"video", no_argument, NULL, OPT_VIDEO},
		{"bad-fingerprint", no_argument, NULL, OPT_BAD_FP},
		{"no-ice", no_argument, NULL, OPT_NO_ICE},
		{"dtls-garbage", no_argument, NULL, OPT_GARBAGE},
		{"corrupt-tag", required_argument, NULL, OPT_CORRUPT},
		{"setup-timeout", required_argument, NULL, OPT_SETUP_TIMEOUT},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"record", required_argument, NULL, OPT_RECORD},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	*o = (struct options){
		.domain = "sipwire.test",
		.duration_ms = -1,
		.packets = 100,
		.ptime_ms = 20,
		.dtmf_at_ms = 500,
		.hold_at_ms = -1,
		.resume_at_ms = -1,
		.stop_media_at_ms = -1,
		.setup_timeout_ms = 10000,
		.timeout_ms = 60000,
	};
	int c;
	int64_t v = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case OPT_CALL: o->mode = MODE_CALL; o->target = optarg; break;
		case OPT_ANSWER: o->mode = MODE_ANSWER; break;
		case OPT_LOOPBACK: o->mode = MODE_LOOPBACK; break;
		case OPT_WS: o->ws_url = optarg; break;
		case OPT_USER: o->user = optarg; break;
		case OPT_PASSWORD: o->password = optarg; break;
		case OPT_DOMAIN: o->domain = optarg; break;
		case OPT_ANSWER_AFTER: bad = parse_ms(optarg, &o->answer_after_ms); break;
		case OPT_DURATION: bad = parse_ms(optarg, &o->duration_ms); break;
		case OPT_WAIT_BYE: o->wait_bye = true; break;
		case OPT_PACKETS:
			bad = parse_ms(optarg, &v) || v > 1000000;
			o->packets = (unsigned)v;
			break;
		case OPT_PTIME:
			bad = parse_ms(optarg, &v) || v < 10 || v > 60;
			o->ptime_ms = (unsigned)v;
			break;
		case OPT_EXPECT:
			if (!strcmp(optarg, "echo"))
				o->expect = EXPECT_ECHO;
			else if (!strcmp(optarg, "any"))
				o->expect = EXPECT_ANY;
			else if (!strcmp(optarg, "none"))
				o->expect = EXPECT_NONE;
			else
				bad = 1;
			break;
		case OPT_DTMF: o->dtmf = optarg; break;
		case OPT_INFO_DTMF: o->info_dtmf = optarg; break;
		case OPT_DTMF_AT: bad = parse_ms(optarg, &o->dtmf_at_ms); break;
		case OPT_HOLD_AT: bad = parse_ms(optarg, &o->hold_at_ms); break;
		case OPT_RESUME_AT: bad = parse_ms(optarg, &o->resume_at_ms); break;
		case OPT_STOP_MEDIA_AT: bad = parse_ms(optarg, &o->stop_media_at_ms); break;
		case OPT_VIDEO: o->video = true; break;
		case OPT_BAD_FP: o->bad_fingerprint = true; break;
		case OPT_NO_ICE: o->no_ice = true; break;
		case OPT_GARBAGE: o->dtls_garbage = true; break;
		case OPT_CORRUPT:
			bad = parse_ms(optarg, &v) || v > 1000000;
			o->corrupt_tag = (unsigned)v;
			break;
		case OPT_SETUP_TIMEOUT: bad = parse_ms(optarg, &o->setup_timeout_ms); break;
		case OPT_TIMEOUT: bad = parse_ms(optarg, &o->timeout_ms); break;
		case OPT_RECORD: o->record = optarg; break;
		case OPT_HELP: usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
		if (bad) { /* the OPT_ ids follow longopts' order */
			fprintf(stderr, "webrtc_peer: bad value for --%s: %s\n",
			        longopts[c - OPT_CALL].name, optarg);
			return -EINVAL;
		}
	}
	const char *problem = NULL;
	if (optind < argc)
		problem = "unexpected arguments";
	else if (o->mode == MODE_NONE)
		problem = "one of --call, --answer, --loopback is needed";
	else if (o->mode != MODE_LOOPBACK && !o->ws_url)
		problem = "--ws URL is needed";
	else if (o->mode == MODE_ANSWER && !o->user)
		problem = "--answer needs --user to register";
	else if (o->mode == MODE_LOOPBACK && o->info_dtmf)
		problem = "--info-dtmf needs signalling (not with --loopback)";
	else if (o->info_dtmf && strlen(o->info_dtmf) > MAX_INFO_DIGITS)
		problem = "--info-dtmf: too many digits";
	if (problem) {
		fprintf(stderr, "webrtc_peer: %s (--help for usage)\n", problem);
		return -EINVAL;
	}
	return 0;
}

/* ---- main ---- */

static void peer_clear(struct peer *p)
{
	/* timers that fired are gone already */
	for (unsigned i = 0; i < p->n_timers; i++)
		if (g_main_context_find_source_by_id(NULL, p->timers[i]))
			g_source_remove(p->timers[i]);
	if (p->answer_timer)
		g_source_remove(p->answer_timer);
	if (p->ws_watch)
		g_source_remove(p->ws_watch);
	free(p->pending_answer);
	peer_sip_free(p->sip);
	wsc_free(p->ws);
	peer_media_free(p->media);
	peer_media_free(p->far);
	dtls_cert_free(p->cert);
	dtls_cert_free(p->far_cert);
	if (p->record)
		fclose(p->record);
	if (p->loop)
		g_main_loop_unref(p->loop);
}

static int run(struct peer *p)
{
	int rc = dtls_cert_new(0, &p->cert);
	if (rc == 0 && p->o.mode == MODE_LOOPBACK)
		rc = dtls_cert_new(0, &p->far_cert);
	if (rc < 0) {
		fail(p, "no DTLS certificate: %s", strerror(-rc));
		return rc;
	}
	if (p->o.record && !(p->record = fopen(p->o.record, "w"))) {
		fail(p, "--record %s: %s", p->o.record, strerror(errno));
		return -errno;
	}
	struct peer_media_config mc = {
		.name = p->o.mode == MODE_LOOPBACK ? "near" : "media",
		.cert = p->cert,
		.video = p->o.video,
		.packets = p->o.packets,
		.ptime_ms = p->o.ptime_ms,
		.bad_fingerprint = p->o.bad_fingerprint,
		.no_ice = p->o.no_ice,
		.dtls_garbage = p->o.dtls_garbage,
		.corrupt_tag = p->o.corrupt_tag,
		.record = p->record,
		.on_change = media_changed,
		.arg = p,
	};
	rc = peer_media_new(&mc, &p->media);
	if (rc < 0) {
		fail(p, "media: %s", strerror(-rc));
		return rc;
	}
	guint dog = g_timeout_add((guint)p->o.timeout_ms, watchdog, p);
	rc = p->o.mode == MODE_LOOPBACK ? start_loopback(p) : start_signalling(p);
	if (rc == 0 && p->phase != PHASE_DONE)
		g_main_loop_run(p->loop);
	if (!p->timed_out)
		g_source_remove(dog);
	return rc;
}

int main(int argc, char **argv)
{
	struct peer p = {0};
	if (parse_options(argc, argv, &p.o) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	p.t_start = now_ms();
	p.loop = g_main_loop_new(NULL, FALSE);
	run(&p);
	judge(&p);
	report(&p);
	peer_clear(&p);
	return p.n_failures ? 1 : 0;
}
