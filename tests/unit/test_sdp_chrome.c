/* Unit tests: the SDP model against offers Chrome really sends.
 *
 * The fixtures in data/sdp/ were captured from Debian's chromium 156
 * (headless, fake media, --allow-loopback-in-peer-connection, iceServers
 * empty), once with one audio track and once with an audio and a video
 * transceiver, after ICE gathering completed — the way SIP.js and JsSIP send
 * them: no trickle, every candidate inline. What the WebRTC leg reads
 * from them is checked here: BUNDLE, mid, rtcp-mux, ICE credentials, the
 * fingerprint, setup:actpass, the candidates (UDP and TCP active on port 9,
 * IPv4 and IPv6), the codecs with their parameters, header extensions and
 * SSRCs; and that printing and parsing again keeps all of it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webrtc/sdh_rtp.h"
#include "webrtc/sdp.h"

#define FIXTURES SIPWIRE_TEST_DATA "/sdp/"

static char *load(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof path, "%s%s", FIXTURES, name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "fixture %s", path);
	static char buf[65536];
	*len = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[*len] = '\0';
	char *copy = malloc(*len + 1);
	memcpy(copy, buf, *len + 1);
	return copy;
}

static struct sdp_session *parse_fixture(const char *name)
{
	size_t len;
	char *text = load(name, &len);
	struct sdp_session *s = NULL;
	struct sdp_error err = {0};
	int rc = sdp_parse(text, len, &s, &err);
	free(text);
	cr_assert_eq(rc, 0, "%s: parse error at line %d: %s", name, err.line, err.reason ? err.reason : "");
	return s;
}

static unsigned count_attrs(const struct sdp_media *m, enum sdp_attr_kind kind)
{
	unsigned from = 0, n = 0;
	while (sdp_attr_next(m->attrs, m->n_attrs, kind, NULL, &from))
		n++;
	return n;
}

Test(sdp_chrome, audio_offer_has_what_the_webrtc_leg_needs)
{
	struct sdp_session *s = parse_fixture("chrome-156-audio-offer.sdp");
	cr_assert_eq(s->n_media, 1);
	const struct sdp_attr *g = sdp_session_attr(s, SDP_ATTR_GROUP, NULL);
	cr_assert_not_null(g);
	cr_assert_str_eq(g->u.group.semantics, "BUNDLE");
	cr_assert_eq(g->u.group.count, 1);
	cr_assert_str_eq(g->u.group.ids[0], "0");

	const struct sdp_media *m = &s->media[0];
	cr_assert_str_eq(m->type, "audio");
	cr_assert_str_eq(m->proto, "UDP/TLS/RTP/SAVPF");
	cr_assert_str_eq(sdp_media_attr(m, SDP_ATTR_MID, NULL)->value, "0");
	cr_assert_not_null(sdp_media_attr(m, SDP_ATTR_RTCP_MUX, NULL));
	cr_assert_not_null(sdp_media_attr(m, SDP_ATTR_RTCP_RSIZE, NULL));
	cr_assert_eq(sdp_media_attr(m, SDP_ATTR_SETUP, NULL)->u.setup, SDP_SETUP_ACTPASS);
	cr_assert_eq(sdp_media_direction(s, m), SDP_DIR_SENDRECV);

	/* ICE: credentials of the lengths RFC 8839 allows, inline candidates */
	const char *ufrag = sdp_media_attr(m, SDP_ATTR_ICE_UFRAG, NULL)->value;
	const char *pwd = sdp_media_attr(m, SDP_ATTR_ICE_PWD, NULL)->value;
	cr_assert(strlen(ufrag) >= 4 && strlen(ufrag) <= 256);
	cr_assert(strlen(pwd) >= 22 && strlen(pwd) <= 256);
	cr_assert_str_eq(sdp_media_attr(m, SDP_ATTR_ICE_OPTIONS, NULL)->value, "trickle");
	unsigned from = 0, udp = 0, tcp = 0, v6 = 0;
	const struct sdp_attr *a;
	while ((a = sdp_attr_next(m->attrs, m->n_attrs, SDP_ATTR_CANDIDATE, NULL, &from))) {
		const struct sdp_candidate *c = &a->u.candidate;
		cr_assert_eq(c->component, 1, "rtcp-mux: one component");
		cr_assert_str_eq(c->type, "host");
		if (strchr(c->address, ':'))
			v6++;
		if (!strcmp(c->transport, "udp")) {
			udp++;
			cr_assert_gt(c->port, 0);
		} else {
			tcp++;
			/* Chrome's TCP candidates are active, on the discard port */
			cr_assert_str_eq(c->transport, "tcp");
			cr_assert_eq(c->port, 9);
			cr_assert_str_eq(c->tcptype, "active");
		}
		cr_assert_eq(c->generation, 0);
	}
	cr_assert_eq(udp, 4);
	cr_assert_eq(tcp, 4);
	cr_assert_eq(v6, 4);

	/* DTLS: one SHA-256 fingerprint, 32 bytes as uppercase hex pairs */
	const struct sdp_fingerprint *fp = &sdp_media_attr(m, SDP_ATTR_FINGERPRINT, NULL)->u.fingerprint;
	cr_assert_str_eq(fp->hash, "sha-256");
	cr_assert_eq(strlen(fp->value), 32 * 3 - 1);

	/* codecs, in Chrome's order, with their parameters */
	static const struct {
		uint8_t pt;
		const char *enc;
		uint32_t clock;
		uint16_t ch;
		const char *fmtp;
	} want[] = {
	    {111, "opus", 48000, 2, "minptime=10;useinbandfec=1"},
	    {63, "red", 48000, 2, "111/111"},
	    {9, "G722", 8000, 0, NULL},
	    {0, "PCMU", 8000, 0, NULL},
	    {8, "PCMA", 8000, 0, NULL},
	    {13, "CN", 8000, 0, NULL},
	    {110, "telephone-event", 48000, 0, NULL},
	    {126, "telephone-event", 8000, 0, NULL},
	};
	cr_assert_eq(m->n_formats, sizeof want / sizeof want[0]);
	for (unsigned i = 0; i < m->n_formats; i++) {
		struct sdp_codec c;
		cr_assert_eq(sdp_media_codec_at(m, i, &c), 0);
		cr_assert_eq(c.pt, want[i].pt);
		cr_assert_str_eq(c.encoding, want[i].enc);
		cr_assert_eq(c.clock, want[i].clock);
		cr_assert_eq(c.channels, want[i].ch);
		if (want[i].fmtp)
			cr_assert_str_eq(c.fmtp, want[i].fmtp);
		else
			cr_assert_null(c.fmtp);
	}
	struct sdp_codec te;
	cr_assert_eq(sdp_media_find_codec(m, "telephone-event", 8000, &te), 0);
	cr_assert_eq(te.pt, 126);

	cr_assert_eq(count_attrs(m, SDP_ATTR_EXTMAP), 4);
	cr_assert_eq(count_attrs(m, SDP_ATTR_SSRC), 2);
	cr_assert_eq(count_attrs(m, SDP_ATTR_RTCP_FB), 1);
	const struct sdp_attr *msid = sdp_media_attr(m, SDP_ATTR_MSID, NULL);
	cr_assert_not_null(msid->u.msid.track);
	/* a=rtcp-xr is none of the known kinds: kept by name */
	cr_assert_not_null(sdp_media_attr(m, SDP_ATTR_OTHER, "rtcp-xr"));
	sdp_free(s);
}

Test(sdp_chrome, audio_video_offer_bundles_two_sections)
{
	struct sdp_session *s = parse_fixture("chrome-156-audio-video-offer.sdp");
	cr_assert_eq(s->n_media, 2);
	const struct sdp_attr *g = sdp_session_attr(s, SDP_ATTR_GROUP, NULL);
	cr_assert_eq(g->u.group.count, 2);
	cr_assert_str_eq(s->media[0].type, "audio");
	cr_assert_str_eq(s->media[1].type, "video");
	cr_assert_str_eq(sdp_media_attr(&s->media[1], SDP_ATTR_MID, NULL)->value, "1");
	/* both sections carry the same ICE credentials and fingerprint (BUNDLE) */
	for (int k = 0; k < 2; k++)
		cr_assert_str_eq(sdp_media_attr(&s->media[k], SDP_ATTR_ICE_UFRAG, NULL)->value,
		                 sdp_media_attr(&s->media[0], SDP_ATTR_ICE_UFRAG, NULL)->value);
	cr_assert_str_eq(sdp_media_attr(&s->media[1], SDP_ATTR_FINGERPRINT, NULL)->u.fingerprint.value,
	                 sdp_media_attr(&s->media[0], SDP_ATTR_FINGERPRINT, NULL)->u.fingerprint.value);
	/* the video section lists its codecs (VP8 first) with rtx associations */
	struct sdp_codec c;
	cr_assert_eq(sdp_media_codec_at(&s->media[1], 0, &c), 0);
	cr_assert_str_eq(c.encoding, "VP8");
	cr_assert_eq(sdp_media_find_codec(&s->media[1], "rtx", 90000, &c), 0);
	cr_assert_not_null(c.fmtp);
	cr_assert(strncmp(c.fmtp, "apt=", 4) == 0);
	cr_assert_gt(count_attrs(&s->media[1], SDP_ATTR_RTCP_FB), 10);
	sdp_free(s);
}

/* Printing keeps everything the parser read: parse(print(x)) prints the same. */
Test(sdp_chrome, print_and_parse_again_is_stable)
{
	static const char *const names[] = {"chrome-156-audio-offer.sdp",
	                                    "chrome-156-audio-video-offer.sdp"};
	for (int k = 0; k < 2; k++) {
		struct sdp_session *s = parse_fixture(names[k]);
		size_t len1, len2, orig_len;
		char *t1 = sdp_to_string(s, &len1);
		cr_assert_not_null(t1);
		char *orig = load(names[k], &orig_len);
		/* Chrome's own text is already in RFC 8866 order: identical */
		cr_assert_eq(len1, orig_len, "%s", names[k]);
		cr_assert(memcmp(t1, orig, len1) == 0, "%s printed differently:\n%s", names[k], t1);
		struct sdp_session *s2 = NULL;
		cr_assert_eq(sdp_parse(t1, len1, &s2, NULL), 0);
		char *t2 = sdp_to_string(s2, &len2);
		cr_assert_eq(len1, len2);
		cr_assert(memcmp(t1, t2, len1) == 0);
		free(t1);
		free(t2);
		free(orig);
		sdp_free(s);
		sdp_free(s2);
	}
}

/* Until the WebRTC SDH exists, the plain-RTP one refuses a browser's offer
 * (the gateway answers 488): it has no RTP/AVP audio section. */
Test(sdp_chrome, the_plain_rtp_sdh_refuses_a_webrtc_offer)
{
	GMainContext *loop = g_main_context_new();
	/* a wide range below the integration tests' ports: some pair is free */
	struct sdh_rtp_ctx_params p = {.loop = loop, .address = "127.0.0.1",
	                               .bind_address = "127.0.0.1", .port_min = 10000,
	                               .port_max = 19999};
	struct sdh_rtp_ctx *ctx = NULL;
	cr_assert_eq(sdh_rtp_ctx_new(&p, &ctx), 0);
	size_t len;
	char *offer = load("chrome-156-audio-offer.sdp", &len);
	struct sdh_rtp *h = NULL;
	cr_assert_eq(sdh_rtp_new(ctx, NULL, &h), 0);
	cr_assert_eq(sdh_rtp_set_description(h, "application/sdp", offer, len, NULL), -EINVAL);
	sdh_rtp_free(h);
	free(offer);
	sdh_rtp_ctx_unref(ctx);
	g_main_context_unref(loop);
}
