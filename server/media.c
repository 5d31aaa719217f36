/* media.c — see media.h: the plain-RTP SDH of webrtc/sdh_rtp.h under the
 * B2BUA's interface. */
#include "server/media.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/log.h"
#include "webrtc/sdh_rtp.h"
#include "webrtc/sdp.h"

struct sw_media_ctx {
	struct sdh_rtp_ctx *rtp;
};

struct sw_media {
	struct sdh_rtp *rtp;
};

/* The sdh_rtp functions have the signatures of struct sip_sdh_ops. */
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
	struct sdh_rtp_ctx_params p = {
	    .loop = ctx,
	    .address = *cfg->media.address ? cfg->media.address : cfg->listen.bind,
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
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void sw_media_ctx_free(struct sw_media_ctx *m)
{
	if (!m)
		return;
	sdh_rtp_ctx_unref(m->rtp);
	free(m);
}

int sw_media_new(struct sw_media_ctx *m, struct sw_media **out)
{
	*out = NULL;
	struct sw_media *l = calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	int rc = sdh_rtp_new(m->rtp, NULL, &l->rtp);
	if (rc < 0) {
		LOG_WARN("media", "no RTP port pair: %s", strerror(-rc));
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
	sdh_rtp_free(l->rtp);
	free(l);
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

void sw_media_echo(struct sw_media *l)
{
	int rc = sdh_rtp_echo(l->rtp);
	if (rc < 0)
		LOG_DEBUG("media", "echo: %s", strerror(-rc));
}
