/* Unit tests: the SDP model against offers Firefox really sends.
 *
 * The fixtures in data/sdp/ (README.md there says how they were captured)
 * are Debian's firefox-esr 153 offers, headless with fake media and
 * iceServers empty, after ICE gathering completed: one audio track, then an
 * audio and a video track. Firefox writes them differently from Chrome, in
 * ways the WebRTC leg must read: the fingerprint (and a direction) at session
 * level, attributes in alphabetical order, candidates with upper-case
 * transports for component 2 as well as 1 though it bundles and muxes, mDNS
 * host names in the candidates and in a=rtcp, a=end-of-candidates,
 * "extmap:2/recvonly", G722 with a channel count, opus at 109 and
 * telephone-event 0-15. */
#include <criterion/criterion.h>
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webrtc/sdp.h"

#define FIXTURES SIPWIRE_TEST_DATA "/sdp/"

static char *load(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof path, "%s%s", FIXTURES, name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "fixture %s", path);
	char *buf = malloc(65536);
	*len = fread(buf, 1, 65535, f);
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

static struct sdp_session *parse_fixture(const char *name)
{
	size_t len;
	char *text = load(name, &len);
	struct sdp_session *s = NULL;
	struct sdp_error err = {0};
	int rc = sdp_parse(text, len, &s, &err);
	free(text);
	cr_assert_eq(rc, 0, "%s: parse error at line %d: %s", name, err.line,
	             err.reason ? err.reason : "");
	return s;
}

static unsigned count_attrs(const struct sdp_media *m, enum sdp_attr_kind kind)
{
	unsigned from = 0, n = 0;
	while (sdp_attr_next(m->attrs, m->n_attrs, kind, NULL, &from))
		n++;
	return n;
}

Test(sdp_firefox, audio_offer_has_what_the_webrtc_leg_needs)
{
	struct sdp_session *s = parse_fixture("firefox-153-audio-offer.sdp");
	cr_assert_str_eq(s->username, "mozilla...THIS_IS_SDPARTA-99.0");
	cr_assert_eq(s->sess_version, 0);
	cr_assert_str_eq(s->address, "0.0.0.0");
	cr_assert_eq(s->n_media, 1);
	const struct sdp_attr *g = sdp_session_attr(s, SDP_ATTR_GROUP, NULL);
	cr_assert_str_eq(g->u.group.semantics, "BUNDLE");
	cr_assert_eq(g->u.group.count, 1);
	cr_assert_str_eq(g->u.group.ids[0], "0");

	/* the fingerprint is a session attribute, not a media one */
	const struct sdp_media *m = &s->media[0];
	cr_assert_null(sdp_media_attr(m, SDP_ATTR_FINGERPRINT, NULL));
	const struct sdp_attr *fp = sdp_session_attr(s, SDP_ATTR_FINGERPRINT, NULL);
	cr_assert_not_null(fp);
	cr_assert_str_eq(fp->u.fingerprint.hash, "sha-256");
	cr_assert_eq(strlen(fp->u.fingerprint.value), 32 * 3 - 1);
	cr_assert_not_null(sdp_session_attr(s, SDP_ATTR_DIRECTION, NULL));

	cr_assert_str_eq(m->proto, "UDP/TLS/RTP/SAVPF");
	cr_assert_eq(m->port, 9, "no default candidate: the discard port");
	cr_assert_str_eq(m->conn.address, "0.0.0.0");
	cr_assert_str_eq(sdp_media_attr(m, SDP_ATTR_MID, NULL)->value, "0");
	cr_assert_not_null(sdp_media_attr(m, SDP_ATTR_RTCP_MUX, NULL));
	cr_assert_eq(sdp_media_attr(m, SDP_ATTR_SETUP, NULL)->u.setup, SDP_SETUP_ACTPASS);
	cr_assert_eq(sdp_media_direction(s, m), SDP_DIR_SENDRECV);
	cr_assert_not(sdp_media_on_hold(s, m), "c=0.0.0.0 with ICE is no hold");
	cr_assert_not_null(sdp_media_attr(m, SDP_ATTR_END_OF_CANDIDATES, NULL));

	/* hex credentials: 8 and 32 characters */
	cr_assert_eq(strlen(sdp_media_attr(m, SDP_ATTR_ICE_UFRAG, NULL)->value), 8);
	cr_assert_eq(strlen(sdp_media_attr(m, SDP_ATTR_ICE_PWD, NULL)->value), 32);

	/* RTCP at a host name: the mDNS name of the first candidate */
	const struct sdp_attr *rtcp = sdp_media_attr(m, SDP_ATTR_RTCP, NULL);
	cr_assert_not_null(rtcp);
	cr_assert_str_eq(rtcp->u.rtcp.addrtype, "IP4");
	cr_assert(g_str_has_suffix(rtcp->u.rtcp.address, ".local"));

	/* two mDNS hosts (IPv4 and IPv6), UDP and TCP active, components 1 and 2 */
	unsigned from = 0, n = 0, comp2 = 0, tcp = 0;
	const struct sdp_attr *a;
	while ((a = sdp_attr_next(m->attrs, m->n_attrs, SDP_ATTR_CANDIDATE, NULL, &from))) {
		const struct sdp_candidate *c = &a->u.candidate;
		n++;
		cr_assert(g_str_has_suffix(c->address, ".local"), "%s", c->address);
		cr_assert_str_eq(c->type, "host");
		cr_assert_eq(c->generation, -1, "Firefox writes no generation");
		comp2 += c->component == 2;
		if (strcmp(c->transport, "TCP") == 0) {
			tcp++;
			cr_assert_eq(c->port, 9);
			cr_assert_str_eq(c->tcptype, "active");
		} else {
			cr_assert_str_eq(c->transport, "UDP");
			cr_assert_null(c->tcptype);
		}
	}
	cr_assert_eq(n, 8);
	cr_assert_eq(comp2, 4);
	cr_assert_eq(tcp, 4);

	static const struct {
		uint8_t pt;
		const char *enc;
		uint32_t clock;
		uint16_t ch;
		const char *fmtp;
	} want[] = {
	    {109, "opus", 48000, 2, "maxplaybackrate=48000;stereo=1;useinbandfec=1"},
	    {9, "G722", 8000, 1, NULL},
	    {0, "PCMU", 8000, 0, NULL},
	    {8, "PCMA", 8000, 0, NULL},
	    {101, "telephone-event", 8000, 0, "0-15"},
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

	/* header extensions, one with a direction */
	cr_assert_eq(count_attrs(m, SDP_ATTR_EXTMAP), 4);
	from = 0;
	unsigned recvonly = 0;
	while ((a = sdp_attr_next(m->attrs, m->n_attrs, SDP_ATTR_EXTMAP, NULL, &from)))
		if (a->u.extmap.direction == SDP_DIR_RECVONLY) {
			recvonly++;
			cr_assert_eq(a->u.extmap.id, 2);
			cr_assert_str_eq(a->u.extmap.uri,
			                 "urn:ietf:params:rtp-hdrext:csrc-audio-level");
		}
	cr_assert_eq(recvonly, 1);
	cr_assert_not_null(sdp_media_attr(m, SDP_ATTR_EXTMAP_ALLOW_MIXED, NULL));
	cr_assert_eq(count_attrs(m, SDP_ATTR_RTCP_FB), 4);
	cr_assert_eq(count_attrs(m, SDP_ATTR_SSRC), 1);
	const struct sdp_attr *msid = sdp_media_attr(m, SDP_ATTR_MSID, NULL);
	cr_assert_eq(msid->u.msid.stream[0], '{');
	cr_assert_not_null(msid->u.msid.track);
	sdp_free(s);
}

Test(sdp_firefox, audio_video_offer_bundles_two_sections)
{
	struct sdp_session *s = parse_fixture("firefox-153-audio-video-offer.sdp");
	cr_assert_eq(s->n_media, 2);
	const struct sdp_attr *g = sdp_session_attr(s, SDP_ATTR_GROUP, NULL);
	cr_assert_eq(g->u.group.count, 2);
	cr_assert_str_eq(g->u.group.ids[1], "1");
	const struct sdp_media *v = &s->media[1];
	cr_assert_str_eq(v->type, "video");
	cr_assert_str_eq(v->proto, "UDP/TLS/RTP/SAVPF");
	cr_assert_str_eq(sdp_media_attr(v, SDP_ATTR_MID, NULL)->value, "1");
	cr_assert_str_eq(sdp_media_attr(v, SDP_ATTR_ICE_UFRAG, NULL)->value,
	                 sdp_media_attr(&s->media[0], SDP_ATTR_ICE_UFRAG, NULL)->value);
	/* VP8 first; rtx associations; no H.264 without the OpenH264 plugin */
	struct sdp_codec c;
	cr_assert_eq(sdp_media_codec_at(v, 0, &c), 0);
	cr_assert_str_eq(c.encoding, "VP8");
	cr_assert_eq(c.pt, 120);
	cr_assert_str_eq(c.fmtp, "max-fs=12288;max-fr=60");
	cr_assert_eq(sdp_media_find_codec(v, "rtx", 90000, &c), 0);
	cr_assert_str_eq(c.fmtp, "apt=120");
	cr_assert_eq(sdp_media_find_codec(v, "H264", 90000, &c), -ENOENT);
	cr_assert_eq(count_attrs(v, SDP_ATTR_RTCP_FB), 25);
	const struct sdp_attr *sg = sdp_media_attr(v, SDP_ATTR_SSRC_GROUP, NULL);
	cr_assert_str_eq(sg->u.ssrc_group.semantics, "FID");
	cr_assert_eq(sg->u.ssrc_group.count, 2);
	sdp_free(s);
}

/* Printing gives Firefox's text back byte for byte, and parses again. */
Test(sdp_firefox, print_and_parse_again_is_stable)
{
	static const char *const names[] = {"firefox-153-audio-offer.sdp",
	                                    "firefox-153-audio-video-offer.sdp"};
	for (int k = 0; k < 2; k++) {
		struct sdp_session *s = parse_fixture(names[k]);
		size_t len1, len2, orig_len;
		char *t1 = sdp_to_string(s, &len1);
		cr_assert_not_null(t1);
		char *orig = load(names[k], &orig_len);
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
