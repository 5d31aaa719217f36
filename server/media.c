/* media.c — see media.h: the handlers of webrtc/ (sdh_rtp, sdh_webrtc) under
 * the B2BUA's interface, and the media timeout. */
#include "server/media.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"
#include "webrtc/dtls.h"
#include "webrtc/sdh_rtp.h"
#include "webrtc/sdh_webrtc.h"
#include "webrtc/sdp.h"

struct sw_media_ctx {
	GMainContext *loop;
	struct sdh_rtp_ctx *rtp;
	struct dtls_cert *cert; /* one per process: its fingerprint is in every offer */
	struct sdh_webrtc_ctx *webrtc;
	unsigned timeout_s;
};

struct sw_media {
	struct sw_media_ctx *ctx;
	enum sw_media_kind kind;
	struct sdh_rtp *rtp;       /* the handler: the leg's own, or webrtc's */
	struct sdh_rtp *own_rtp;   /* SW_MEDIA_RTP */
	struct sdh_webrtc *webrtc; /* SW_MEDIA_WEBRTC */
	struct sw_media_events ev;
	bool failed;
	GSource *watch;
	int64_t quiet_since; /* monotonic µs: when the peer last had to start sending */
};

/* Both handlers' functions have the signatures of struct sip_sdh_ops. */
static const struct sip_sdh_ops rtp_sdh_ops = {
    .get_description = sdh_rtp_get_description,
    .set_description = sdh_rtp_set_description,
    .has_description = sdh_rtp_has_description,
    .rollback_description = sdh_rtp_rollback_description,
    .send_dtmf = sdh_rtp_send_dtmf,
    .close = sdh_rtp_close,
};

static void media_log(void *arg, const char *line) { LOG_DEBUG("media", "%s", line); }

int sw_media_ctx_new(const struct sipwire_config *cfg, GMainContext *ctx,
                     struct sw_media_ctx **out)
{
	*out = NULL;
	struct sw_media_ctx *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->loop = ctx;
	m->timeout_s = cfg->media.timeout;
	const char *address = *cfg->media.address ? cfg->media.address : cfg->listen.bind;
	struct sdh_rtp_ctx_params p = {
	    .loop = ctx,
	    .address = address,
	    .bind_address = cfg->listen.bind,
	    .port_min = (uint16_t)cfg->media.rtp_port_min,
	    .port_max = (uint16_t)cfg->media.rtp_port_max,
	    .ptime = 20,
	    .on_log = media_log,
	};
	int rc = sdh_rtp_ctx_new(&p, &m->rtp);
	if (rc < 0) {
		LOG_ERR("media", "RTP ports %u-%u on %s: %s", cfg->media.rtp_port_min,
		        cfg->media.rtp_port_max, cfg->listen.bind, strerror(-rc));
		goto fail;
	}
	rc = dtls_cert_new(0, &m->cert);
	if (rc < 0) {
		LOG_ERR("media", "no DTLS certificate: %s", strerror(-rc));
		goto fail;
	}
	/* ICE host candidates on the listen address, unless that is a wildcard
	 * (then every address of the machine). */
	const char *bind = cfg->listen.bind;
	bool wildcard = strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0;
	const char *addresses[] = {bind, NULL};
	struct sdh_webrtc_ctx_params wp = {
	    .rtp = m->rtp,
	    .loop = ctx,
	    .cert = m->cert,
	    .addresses = wildcard ? NULL : addresses,
	    .public_address = cfg->media.public_ip,
	    .port_min = (uint16_t)cfg->media.rtp_port_min,
	    .port_max = (uint16_t)cfg->media.rtp_port_max,
	    .ice_lite = cfg->media.ice_lite,
	    .ice_timeout_ms = cfg->media.ice_timeout * 1000u,
	    .on_log = media_log,
	};
	rc = sdh_webrtc_ctx_new(&wp, &m->webrtc);
	if (rc < 0)
		goto fail;
	LOG_INFO("media", "DTLS certificate sha-256 %s", dtls_cert_fingerprint(m->cert));
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
	sdh_webrtc_ctx_free(m->webrtc);
	sdh_rtp_ctx_unref(m->rtp);
	dtls_cert_free(m->cert);
	free(m);
}

static void report(struct sw_media *l, const char *reason)
{
	if (l->failed)
		return;
	l->failed = true;
	if (l->watch) {
		g_source_destroy(l->watch);
		g_source_unref(l->watch);
		l->watch = NULL;
	}
	if (l->ev.on_failed)
		l->ev.on_failed(l->ev.arg, reason);
}

static void webrtc_failed(void *arg, const char *reason) { report(arg, reason); }

int sw_media_new(struct sw_media_ctx *m, enum sw_media_kind kind, bool offerer,
                 const struct sw_media_events *ev, struct sw_media **out)
{
	*out = NULL;
	struct sw_media *l = calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	l->ctx = m;
	l->kind = kind;
	if (ev)
		l->ev = *ev;
	int rc;
	if (kind == SW_MEDIA_WEBRTC) {
		rc = sdh_webrtc_new(m->webrtc, offerer,
		                    &(struct sdh_webrtc_events){.on_failed = webrtc_failed, .arg = l},
		                    &l->webrtc);
		if (rc == 0)
			l->rtp = sdh_webrtc_handler(l->webrtc);
	} else {
		rc = sdh_rtp_new(m->rtp, NULL, &l->own_rtp);
		l->rtp = l->own_rtp;
	}
	if (rc < 0) {
		LOG_WARN("media", "no %s media: %s", kind == SW_MEDIA_WEBRTC ? "WebRTC" : "RTP",
		         strerror(-rc));
		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void sw_media_free(struct sw_media *l)
{
	if (!l)
		return;
	if (l->watch) {
		g_source_destroy(l->watch);
		g_source_unref(l->watch);
	}
	sdh_webrtc_free(l->webrtc);
	sdh_rtp_free(l->own_rtp);
	free(l);
}

enum sw_media_kind sw_media_kind(const struct sw_media *l) { return l->kind; }

enum sw_media_kind sw_media_kind_of_offer(const char *sdp, size_t len)
{
	struct sdp_session *s = NULL;
	struct sdp_error err;
	if (!len || sdp_parse(sdp, len, &s, &err) < 0)
		return SW_MEDIA_RTP;
	enum sw_media_kind kind = SW_MEDIA_RTP;
	for (unsigned i = 0; i < s->n_media; i++)
		if (strcmp(s->media[i].type, "audio") == 0) {
			if (strcmp(s->media[i].proto, "UDP/TLS/RTP/SAVPF") == 0)
				kind = SW_MEDIA_WEBRTC;
			break;
		}
	sdp_free(s);
	return kind;
}

struct sip_sdh sw_media_sdh(struct sw_media *l) { return (struct sip_sdh){&rtp_sdh_ops, l->rtp}; }

const void *sw_media_options(bool hold)
{
	static const struct sdh_rtp_options held = {.hold = true}, resumed = {.hold = false};
	return hold ? &held : &resumed;
}

int sw_media_preview_offer(struct sw_media *a, const char *sdp, size_t len)
{
	return sdh_rtp_set_description(a->rtp, "application/sdp", sdp, len, NULL);
}

int sw_media_offer_like(struct sw_media *b, const struct sw_media *a)
{
	return sdh_rtp_offer_like(b->rtp, a->rtp);
}

int sw_media_answer_like(struct sw_media *a, const struct sw_media *b)
{
	return sdh_rtp_answer_like(a->rtp, b->rtp);
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

void sw_media_bridge(struct sw_media *a, struct sw_media *b)
{
	int rc = sdh_rtp_bridge(a->rtp, b->rtp);
	if (rc < 0)
		LOG_DEBUG("media", "bridge: %s", strerror(-rc));
}

int sw_media_send_dtmf(struct sw_media *l, char tone, unsigned duration_ms)
{
	return sdh_rtp_send_dtmf(l->rtp, tone, duration_ms);
}

void sw_media_echo(struct sw_media *l)
{
	int rc = sdh_rtp_echo(l->rtp);
	if (rc < 0)
		LOG_DEBUG("media", "echo: %s", strerror(-rc));
}

/* ---- media timeout ---- */

#define WATCH_INTERVAL_MS 1000

static gboolean watch_tick(gpointer data)
{
	struct sw_media *l = data;
	struct sdh_rtp_stats st;
	sdh_rtp_get_stats(l->rtp, &st);
	int64_t now = g_get_monotonic_time();
	if (!st.peer_sends) {
		l->quiet_since = now; /* on hold, inactive, or closed: nothing is due */
		return G_SOURCE_CONTINUE;
	}
	int64_t last = st.last_rx_us > l->quiet_since ? st.last_rx_us : l->quiet_since;
	if (now - last >= (int64_t)l->ctx->timeout_s * G_USEC_PER_SEC)
		report(l, "media timeout"); /* drops this source */
	return G_SOURCE_CONTINUE;
}

void sw_media_watch(struct sw_media *l)
{
	if (l->watch || l->failed || !l->ctx->timeout_s)
		return;
	l->quiet_since = g_get_monotonic_time();
	l->watch = g_timeout_source_new(WATCH_INTERVAL_MS);
	g_source_set_callback(l->watch, watch_tick, l, NULL);
	g_source_attach(l->watch, l->ctx->loop);
}
