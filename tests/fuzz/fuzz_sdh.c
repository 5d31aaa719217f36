/* fuzz_sdh.c — the plain-RTP SDH reading a remote description and writing
 * ours from it.
 *
 * The input is a remote offer to one leg. Whatever it says, the handler must
 * either refuse it with -EINVAL/-ENOTSUP or answer it with a description that
 * parses, keeps every m= line of the offer in order (refused ones with port
 * 0), uses our port on exactly one audio line, and lists only payload types
 * the offer listed there. A second leg then offers what the first was offered
 * (the B2BUA's pass-through) and takes the input again as the answer to that
 * offer; its offer must parse and carry only payload types of the first (and
 * telephone-event, which is offered whatever the first peer offered). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fuzz.h"
#include "webrtc/sdh_rtp.h"
#include "webrtc/sdp.h"

static struct sdh_rtp_ctx *ctx;

static void setup(void)
{
	/* a range of its own per process, above Linux's ephemeral ports and the
	 * ranges the integration tests and benchmarks use */
	uint16_t base = (uint16_t)(61100 + ((unsigned)getpid() % 200u) * 20u);
	struct sdh_rtp_ctx_params p = {
		.loop = NULL,
		.address = "192.0.2.10",
		.bind_address = "127.0.0.1",
		.port_min = base,
		.port_max = (uint16_t)(base + 19),
		.ptime = 20,
	};
	CHECK(sdh_rtp_ctx_new(&p, &ctx) == 0);
}

/* Is payload type fmt (as we print it: a plain number) listed in m, where
 * the peer may have written it "08"? */
static bool listed(const struct sdp_media *m, const char *fmt)
{
	for (unsigned i = 0; i < m->n_formats; i++) {
		const char *f = m->formats[i];
		while (f[0] == '0' && f[1])
			f++;
		if (strcmp(f, fmt) == 0)
			return true;
	}
	return false;
}

/* No payload type twice on one of our m= lines. */
static void distinct(const struct sdp_media *m)
{
	for (unsigned i = 0; i < m->n_formats; i++)
		for (unsigned j = 0; j < i; j++)
			CHECK(strcmp(m->formats[i], m->formats[j]) != 0);
}

static struct sdp_session *ours(struct sdh_rtp *h, int *rc)
{
	static char buf[80000];
	size_t len = 0;
	const char *ctype = NULL;
	*rc = sdh_rtp_get_description(h, NULL, buf, sizeof(buf), &len, &ctype);
	if (*rc != 0)
		return NULL;
	CHECK(len < sizeof(buf) && strlen(buf) == len);
	struct sdp_session *s = NULL;
	CHECK(sdp_parse(buf, len, &s, NULL) == 0);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ctx)
		setup();
	struct sdh_rtp *a = NULL, *b = NULL;
	if (sdh_rtp_new(ctx, NULL, &a) != 0 || sdh_rtp_new(ctx, NULL, &b) != 0) {
		sdh_rtp_free(a);
		return 0; /* the host's ports are busy: nothing to learn */
	}
	const char *text = (const char *)data;
	int rc = sdh_rtp_set_description(a, "application/sdp", text, size, NULL);
	CHECK(rc == 0 || rc == -EINVAL || rc == -ENOTSUP);
	if (rc == 0) {
		struct sdp_session *offer = NULL;
		CHECK(sdp_parse(text, size, &offer, NULL) == 0);
		struct sdp_session *ans = ours(a, &rc);
		CHECK(rc == 0 && ans);
		CHECK(ans->n_media == offer->n_media);
		unsigned used = 0;
		for (unsigned i = 0; i < ans->n_media; i++) {
			const struct sdp_media *x = &ans->media[i], *y = &offer->media[i];
			CHECK(strcmp(x->type, y->type) == 0 && strcmp(x->proto, y->proto) == 0);
			if (x->port == 0)
				continue;
			CHECK(x->port == sdh_rtp_port(a) && strcmp(x->type, "audio") == 0);
			used++;
			distinct(x);
			for (unsigned f = 0; f < x->n_formats; f++)
				CHECK(listed(y, x->formats[f]));
		}
		CHECK(used == 1);

		CHECK(sdh_rtp_offer_like(b, a) == 0);
		struct sdp_session *boffer = ours(b, &rc);
		CHECK(rc == 0 && boffer && boffer->n_media == 1);
		distinct(&boffer->media[0]);
		unsigned audio = 0;
		while (offer->media[audio].port == 0 || ans->media[audio].port == 0)
			audio++;
		for (unsigned f = 0; f < boffer->media[0].n_formats; f++) {
			/* telephone-event is offered even when the first peer
			 * did not: its events then go as INFO (sdh_rtp_on_dtmf) */
			struct sdp_codec c;
			if (sdp_media_codec_at(&boffer->media[0], f, &c) == 0 &&
			    strcasecmp(c.encoding, "telephone-event") == 0)
				continue;
			CHECK(listed(&offer->media[audio], boffer->media[0].formats[f]));
		}
		rc = sdh_rtp_set_description(b, "application/sdp", text, size, NULL);
		CHECK(rc == 0 || rc == -EINVAL || rc == -ENOTSUP);
		if (rc != 0)
			sdh_rtp_rollback_description(b);
		/* stable or rolled back: the next description is an offer again */
		sdp_free(ours(b, &rc));
		CHECK(rc == 0);
		sdp_free(boffer);
		sdp_free(ans);
		sdp_free(offer);
	}
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	return 0;
}
