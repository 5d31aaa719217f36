/* test_sdp.c — the SDP model: the seed offers field by field, round trips,
 * every validation error, the limits, hold detection and the editing helpers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webrtc/sdp.h"

#define SEEDS SIPWIRE_TEST_DATA "/../../fuzz/corpus/sdp/"
/* the four lines every description needs */
#define HEAD "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"

static char *read_seed(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), SEEDS "%s", name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	char *buf = malloc(SDP_MAX_SIZE + 1);
	cr_assert_not_null(buf);
	*len = fread(buf, 1, SDP_MAX_SIZE, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static struct sdp_session *parse_ok(const char *text)
{
	struct sdp_session *s = NULL;
	struct sdp_error err = {0, NULL};
	int e = sdp_parse(text, strlen(text), &s, &err);
	cr_assert_eq(e, 0, "parse failed: %d at line %d: %s", e, err.line,
	             err.reason ? err.reason : "");
	cr_assert_not_null(s);
	return s;
}

static struct sdp_session *parse_seed(const char *name)
{
	size_t len;
	char *text = read_seed(name, &len);
	struct sdp_session *s = parse_ok(text);
	free(text);
	return s;
}

static unsigned count_kind(const struct sdp_media *m, enum sdp_attr_kind kind)
{
	unsigned from = 0, n = 0;
	while (sdp_attr_next(m->attrs, m->n_attrs, kind, NULL, &from))
		n++;
	return n;
}

/* The idx-th attribute of a kind in m (0-based). */
static const struct sdp_attr *nth(const struct sdp_media *m, enum sdp_attr_kind kind, unsigned idx)
{
	unsigned from = 0;
	const struct sdp_attr *a;
	while ((a = sdp_attr_next(m->attrs, m->n_attrs, kind, NULL, &from)))
		if (idx-- == 0)
			return a;
	cr_assert_fail("attribute kind %d #%u missing", (int)kind, idx);
	return NULL;
}

/* ---- the seeds, field by field ---- */

Test(sdp, chrome_offer)
{
	struct sdp_session *s = parse_seed("chrome_offer.sdp");
	cr_assert_str_eq(s->username, "-");
	cr_assert_eq(s->sess_id, 4611731400430051336ull);
	cr_assert_eq(s->sess_version, 2);
	cr_assert_str_eq(s->nettype, "IN");
	cr_assert_str_eq(s->addrtype, "IP4");
	cr_assert_str_eq(s->address, "127.0.0.1");
	cr_assert_str_eq(s->name, "-");
	cr_assert_eq(s->n_times, 1);
	cr_assert_eq(s->times[0].start, 0);
	cr_assert(!s->conn.present);

	const struct sdp_attr *g = sdp_session_attr(s, SDP_ATTR_GROUP, NULL);
	cr_assert_not_null(g);
	cr_assert_str_eq(g->u.group.semantics, "BUNDLE");
	cr_assert_eq(g->u.group.count, 1);
	cr_assert_str_eq(g->u.group.ids[0], "0");
	cr_assert_not_null(sdp_session_attr(s, SDP_ATTR_EXTMAP_ALLOW_MIXED, NULL));
	const struct sdp_attr *ms = sdp_session_attr(s, SDP_ATTR_MSID_SEMANTIC, NULL);
	cr_assert_str_eq(ms->value, " WMS 5f1c2b9e-3d4a-4c7e-9a1b-0e6d2f8c7a31");

	cr_assert_eq(s->n_media, 1);
	const struct sdp_media *m = &s->media[0];
	cr_assert_str_eq(m->type, "audio");
	cr_assert_eq(m->port, 9);
	cr_assert_eq(m->port_count, 0);
	cr_assert_str_eq(m->proto, "UDP/TLS/RTP/SAVPF");
	static const char *const fmts[] = {"111", "63", "9", "0", "8", "13", "110", "126"};
	cr_assert_eq(m->n_formats, 8);
	for (unsigned i = 0; i < 8; i++)
		cr_assert_str_eq(m->formats[i], fmts[i]);
	cr_assert(m->conn.present);
	cr_assert_str_eq(m->conn.address, "0.0.0.0");

	const struct sdp_attr *rtcp = sdp_media_attr(m, SDP_ATTR_RTCP, NULL);
	cr_assert_eq(rtcp->u.rtcp.port, 9);
	cr_assert_str_eq(rtcp->u.rtcp.addrtype, "IP4");
	cr_assert_str_eq(rtcp->u.rtcp.address, "0.0.0.0");

	cr_assert_eq(count_kind(m, SDP_ATTR_CANDIDATE), 5);
	const struct sdp_candidate *c = &nth(m, SDP_ATTR_CANDIDATE, 0)->u.candidate;
	cr_assert_str_eq(c->foundation, "1467250027");
	cr_assert_eq(c->component, 1);
	cr_assert_str_eq(c->transport, "udp");
	cr_assert_eq(c->priority, 2122260223u);
	cr_assert_str_eq(c->address, "192.168.1.23");
	cr_assert_eq(c->port, 54321);
	cr_assert_str_eq(c->type, "host");
	cr_assert_eq(c->generation, 0);
	cr_assert_null(c->raddr);
	cr_assert_eq(c->rport, -1);
	cr_assert_str_eq(c->extensions, "network-id 1 network-cost 10");
	c = &nth(m, SDP_ATTR_CANDIDATE, 2)->u.candidate;
	cr_assert_str_eq(c->address, "2001:db8:85a3::8a2e:370:7334");
	c = &nth(m, SDP_ATTR_CANDIDATE, 3)->u.candidate;
	cr_assert_str_eq(c->address, "3f5c1a9e-7b2d-4e61-a8c0-5d9e2b4f1c07.local");
	cr_assert_str_eq(c->extensions, "network-id 4");
	c = &nth(m, SDP_ATTR_CANDIDATE, 4)->u.candidate;
	cr_assert_str_eq(c->transport, "tcp");
	cr_assert_eq(c->port, 9);
	cr_assert_str_eq(c->tcptype, "active");

	cr_assert_str_eq(sdp_media_attr(m, SDP_ATTR_ICE_UFRAG, NULL)->value, "Hx3q");
	cr_assert_str_eq(sdp_media_attr(m, SDP_ATTR_ICE_PWD, NULL)->value,
	                 "u7bNmK2pQ9sXvR4tWz1yLc8e");
	cr_assert_str_eq(sdp_media_attr(m, SDP_ATTR_ICE_OPTIONS, NULL)->value, "trickle");
	const struct sdp_fingerprint *fp =
	    &sdp_media_attr(m, SDP_ATTR_FINGERPRINT, NULL)->u.fingerprint;
	cr_assert_str_eq(fp->hash, "sha-256");
	cr_assert_eq(strlen(fp->value), 32 * 3 - 1);
	cr_assert_eq(sdp_media_attr(m, SDP_ATTR_SETUP, NULL)->u.setup, SDP_SETUP_ACTPASS);
	cr_assert_str_eq(sdp_media_attr(m, SDP_ATTR_MID, NULL)->value, "0");

	cr_assert_eq(count_kind(m, SDP_ATTR_EXTMAP), 4);
	const struct sdp_extmap *x = &nth(m, SDP_ATTR_EXTMAP, 3)->u.extmap;
	cr_assert_eq(x->id, 4);
	cr_assert_eq(x->direction, SDP_DIR_NONE);
	cr_assert_str_eq(x->uri, "urn:ietf:params:rtp-hdrext:sdes:mid");
	cr_assert_null(x->attributes);

	cr_assert_eq(sdp_media_direction(s, m), SDP_DIR_SENDRECV);
	const struct sdp_msid *msid = &sdp_media_attr(m, SDP_ATTR_MSID, NULL)->u.msid;
	cr_assert_str_eq(msid->stream, "5f1c2b9e-3d4a-4c7e-9a1b-0e6d2f8c7a31");
	cr_assert_str_eq(msid->track, "8b0a6c3e-1f2d-4a5b-9c7e-2d4f6a8b0c1e");
	cr_assert_not_null(sdp_media_attr(m, SDP_ATTR_RTCP_MUX, NULL));
	cr_assert_not_null(sdp_media_attr(m, SDP_ATTR_RTCP_RSIZE, NULL));

	cr_assert_eq(count_kind(m, SDP_ATTR_RTPMAP), 8);
	const struct sdp_rtpmap *r = &nth(m, SDP_ATTR_RTPMAP, 0)->u.rtpmap;
	cr_assert_eq(r->pt, 111);
	cr_assert_str_eq(r->encoding, "opus");
	cr_assert_eq(r->clock, 48000);
	cr_assert_eq(r->channels, 2);
	cr_assert(r->listed);
	const struct sdp_rtcp_fb *fb = &sdp_media_attr(m, SDP_ATTR_RTCP_FB, NULL)->u.rtcp_fb;
	cr_assert_str_eq(fb->format, "111");
	cr_assert_str_eq(fb->type, "transport-cc");
	cr_assert_null(fb->param);
	const struct sdp_fmtp *fmtp = &nth(m, SDP_ATTR_FMTP, 0)->u.fmtp;
	cr_assert_eq(fmtp->pt, 111);
	cr_assert_str_eq(fmtp->params, "minptime=10;useinbandfec=1");

	struct sdp_codec codec;
	cr_assert_eq(sdp_media_find_codec(m, "telephone-event", 48000, &codec), 0);
	cr_assert_eq(codec.pt, 110);
	cr_assert_eq(sdp_media_find_codec(m, "telephone-event", 8000, &codec), 0);
	cr_assert_eq(codec.pt, 126);
	cr_assert_eq(sdp_media_find_codec(m, "red", 0, &codec), 0);
	cr_assert_eq(codec.pt, 63);
	cr_assert_str_eq(codec.fmtp, "111/111");
	cr_assert_eq(sdp_media_find_codec(m, "G722", 8000, &codec), 0);
	cr_assert_eq(codec.pt, 9);

	cr_assert_eq(count_kind(m, SDP_ATTR_SSRC), 2);
	const struct sdp_ssrc *ssrc = &nth(m, SDP_ATTR_SSRC, 0)->u.ssrc;
	cr_assert_eq(ssrc->id, 3735928559u);
	cr_assert_str_eq(ssrc->attribute, "cname");
	cr_assert_str_eq(ssrc->value, "Yq2c7mJ0fT1sHh8e");
	ssrc = &nth(m, SDP_ATTR_SSRC, 1)->u.ssrc;
	cr_assert_str_eq(ssrc->attribute, "msid");
	cr_assert_str_eq(ssrc->value, "5f1c2b9e-3d4a-4c7e-9a1b-0e6d2f8c7a31 "
	                              "8b0a6c3e-1f2d-4a5b-9c7e-2d4f6a8b0c1e");
	/* c=0.0.0.0 beside ICE is "no default candidate", not hold */
	cr_assert(!sdp_media_on_hold(s, m));
	sdp_free(s);
}

Test(sdp, chrome_audio_video_offer)
{
	struct sdp_session *s = parse_seed("chrome_audio_video_offer.sdp");
	const struct sdp_attr *g = sdp_session_attr(s, SDP_ATTR_GROUP, NULL);
	cr_assert_eq(g->u.group.count, 2);
	cr_assert_str_eq(g->u.group.ids[1], "1");
	cr_assert_eq(s->n_media, 2);
	cr_assert_eq(sdp_media_direction(s, &s->media[0]), SDP_DIR_RECVONLY);
	cr_assert(!sdp_media_on_hold(s, &s->media[0]));
	const struct sdp_media *v = &s->media[1];
	cr_assert_str_eq(v->type, "video");
	const struct sdp_ssrc_group *sg =
	    &sdp_media_attr(v, SDP_ATTR_SSRC_GROUP, NULL)->u.ssrc_group;
	cr_assert_str_eq(sg->semantics, "FID");
	cr_assert_eq(sg->count, 2);
	cr_assert_eq(sg->ssrcs[0], 1029384756u);
	cr_assert_eq(sg->ssrcs[1], 2938475610u);
	const struct sdp_rtcp_fb *fb = &nth(v, SDP_ATTR_RTCP_FB, 2)->u.rtcp_fb;
	cr_assert_str_eq(fb->type, "nack");
	cr_assert_str_eq(fb->param, "pli");
	const struct sdp_msid *msid = &sdp_media_attr(v, SDP_ATTR_MSID, NULL)->u.msid;
	cr_assert_str_eq(msid->stream, "-");
	struct sdp_codec c;
	cr_assert_eq(sdp_media_find_codec(v, "rtx", 90000, &c), 0);
	cr_assert_str_eq(c.fmtp, "apt=96");
	sdp_free(s);
}

Test(sdp, sipjs_firefox_offer)
{
	struct sdp_session *s = parse_seed("sipjs_firefox_offer.sdp");
	cr_assert_str_eq(s->username, "mozilla...THIS_IS_SDPARTA-99.0");
	cr_assert_eq(s->sess_version, 0);
	/* fingerprint and ice-options at session level */
	cr_assert_str_eq(sdp_session_attr(s, SDP_ATTR_FINGERPRINT, NULL)->u.fingerprint.hash,
	                 "sha-256");
	cr_assert_not_null(sdp_session_attr(s, SDP_ATTR_ICE_OPTIONS, NULL));
	cr_assert_str_eq(sdp_session_attr(s, SDP_ATTR_MSID_SEMANTIC, NULL)->value, "WMS *");
	const struct sdp_media *m = &s->media[0];
	cr_assert_eq(m->port, 51124);
	cr_assert_str_eq(m->conn.address, "192.168.1.40");
	const struct sdp_candidate *c = &nth(m, SDP_ATTR_CANDIDATE, 1)->u.candidate;
	cr_assert_str_eq(c->address, "fe80::1c2b:3ff:fe4d:5e6f");
	cr_assert_eq(c->generation, -1);
	cr_assert_str_eq(c->extensions, "");
	c = &nth(m, SDP_ATTR_CANDIDATE, 2)->u.candidate;
	cr_assert_str_eq(c->transport, "TCP");
	cr_assert_str_eq(c->tcptype, "active");
	c = &nth(m, SDP_ATTR_CANDIDATE, 3)->u.candidate;
	cr_assert_str_eq(c->type, "srflx");
	cr_assert_str_eq(c->raddr, "192.168.1.40");
	cr_assert_eq(c->rport, 51124);
	cr_assert_not_null(sdp_media_attr(m, SDP_ATTR_END_OF_CANDIDATES, NULL));
	const struct sdp_extmap *x = &nth(m, SDP_ATTR_EXTMAP, 1)->u.extmap;
	cr_assert_eq(x->id, 2);
	cr_assert_eq(x->direction, SDP_DIR_RECVONLY);
	struct sdp_codec codec;
	cr_assert_eq(sdp_media_find_codec(m, "OPUS", 48000, &codec), 0);
	cr_assert_eq(codec.pt, 109);
	cr_assert_eq(codec.channels, 2);
	cr_assert_str_eq(codec.fmtp, "maxplaybackrate=48000;stereo=1;useinbandfec=1");
	cr_assert_eq(sdp_media_find_codec(m, "G722", 8000, &codec), 0);
	cr_assert_eq(codec.channels, 1);
	cr_assert_eq(sdp_media_find_codec(m, "telephone-event", 8000, &codec), 0);
	cr_assert_eq(codec.pt, 101);
	cr_assert_str_eq(codec.fmtp, "0-15");
	/* ufrag at media level: c= with a real address anyway */
	cr_assert(!sdp_media_on_hold(s, m));
	sdp_free(s);
}

Test(sdp, asterisk_offer)
{
	struct sdp_session *s = parse_seed("asterisk_offer.sdp");
	cr_assert_eq(s->sess_id, 1732460000u);
	cr_assert_str_eq(s->name, "Asterisk");
	cr_assert(s->conn.present);
	cr_assert_str_eq(s->conn.address, "10.0.0.5");
	const struct sdp_media *m = &s->media[0];
	cr_assert_str_eq(m->proto, "RTP/AVP");
	cr_assert_eq(m->port, 17012);
	cr_assert(!m->conn.present);
	cr_assert_eq(sdp_media_connection(s, m), &s->conn);
	cr_assert_eq(m->n_formats, 3);
	struct sdp_codec c;
	cr_assert_eq(sdp_media_codec_at(m, 0, &c), 0);
	cr_assert_str_eq(c.encoding, "PCMU");
	cr_assert_eq(sdp_media_find_codec(m, "pcma", 8000, &c), 0);
	cr_assert_eq(c.pt, 8);
	cr_assert_null(c.fmtp);
	cr_assert_eq(sdp_media_find_codec(m, "telephone-event", 0, &c), 0);
	cr_assert_eq(c.pt, 101);
	cr_assert_eq(c.clock, 8000);
	cr_assert_str_eq(c.fmtp, "0-16");
	cr_assert_eq(sdp_media_find_codec(m, "opus", 0, &c), -ENOENT);
	cr_assert_eq(sdp_media_attr(m, SDP_ATTR_PTIME, NULL)->u.ms, 20);
	cr_assert_eq(sdp_media_attr(m, SDP_ATTR_MAXPTIME, NULL)->u.ms, 150);
	cr_assert_eq(sdp_media_direction(s, m), SDP_DIR_SENDRECV);
	cr_assert(!sdp_media_on_hold(s, m));
	sdp_free(s);
}

Test(sdp, freeswitch_offer)
{
	struct sdp_session *s = parse_seed("freeswitch_offer.sdp");
	cr_assert_str_eq(s->username, "FreeSWITCH");
	cr_assert_eq(s->sess_version, 1732441201u);
	const struct sdp_media *m = &s->media[0];
	cr_assert_eq(m->n_formats, 4);
	/* no direction attribute anywhere: sendrecv */
	cr_assert_null(sdp_media_attr(m, SDP_ATTR_DIRECTION, NULL));
	cr_assert_eq(sdp_media_direction(s, m), SDP_DIR_SENDRECV);
	const struct sdp_rtcp *r = &sdp_media_attr(m, SDP_ATTR_RTCP, NULL)->u.rtcp;
	cr_assert_eq(r->port, 24619);
	cr_assert_str_eq(r->nettype, "IN");
	cr_assert_str_eq(r->address, "10.0.0.6");
	struct sdp_codec c;
	cr_assert_eq(sdp_media_codec_at(m, 3, &c), 0);
	cr_assert_str_eq(c.encoding, "CN");
	cr_assert_eq(c.pt, 13);
	sdp_free(s);
}

Test(sdp, held_offer)
{
	struct sdp_session *s = parse_seed("held_offer.sdp");
	const struct sdp_media *m = &s->media[0];
	cr_assert_str_eq(s->conn.address, "0.0.0.0");
	cr_assert_eq(sdp_media_direction(s, m), SDP_DIR_SENDONLY);
	cr_assert(sdp_media_on_hold(s, m));
	sdp_free(s);
}

Test(sdp, lf_only_and_every_session_line)
{
	struct sdp_session *s = parse_seed("lf_only_misc.sdp");
	cr_assert_str_eq(s->addrtype, "IP6");
	cr_assert_str_eq(s->address, "2001:db8::5");
	cr_assert_eq(s->n_lines, 4);
	cr_assert_eq(s->lines[0].type, 'i');
	cr_assert_str_eq(s->lines[0].value, "an LF-only description");
	cr_assert_eq(s->lines[3].type, 'p');
	cr_assert_str_eq(s->lines[3].value, "+1 555 0100");
	cr_assert_str_eq(s->conn.addrtype, "IP6");
	cr_assert_eq(s->n_bandwidths, 1);
	cr_assert_str_eq(s->bandwidths[0].type, "AS");
	cr_assert_eq(s->bandwidths[0].value, 64);
	cr_assert_eq(s->times[0].start, 3034423619u);
	cr_assert_eq(s->times[0].n_repeats, 1);
	cr_assert_str_eq(s->times[0].repeats[0].value, "7d 1h 0 25h");
	cr_assert_str_eq(s->zone, "2882844526 -1h 2898848070 0");
	cr_assert_str_eq(s->key, "prompt");
	cr_assert_eq(s->n_media, 3);

	const struct sdp_media *a = &s->media[0];
	cr_assert_eq(a->port, 5004);
	cr_assert_eq(a->port_count, 2);
	cr_assert_str_eq(a->info, "voice");
	cr_assert_eq(a->bandwidths[0].value, 64000);
	/* the session's recvonly applies to every section */
	cr_assert_eq(sdp_media_direction(s, a), SDP_DIR_RECVONLY);
	cr_assert(!sdp_media_on_hold(s, a));
	struct sdp_codec c;
	cr_assert_eq(sdp_media_codec_at(a, 1, &c), 0);
	cr_assert_str_eq(c.encoding, "L16");
	cr_assert_eq(c.clock, 16000);
	cr_assert_eq(c.channels, 2);
	/* rtpmap 97 is not on the m= line: kept, flagged, not found as a codec */
	const struct sdp_rtpmap *amr = &nth(a, SDP_ATTR_RTPMAP, 1)->u.rtpmap;
	cr_assert_str_eq(amr->encoding, "AMR");
	cr_assert(!amr->listed);
	cr_assert(nth(a, SDP_ATTR_RTPMAP, 0)->u.rtpmap.listed);
	cr_assert_eq(sdp_media_find_codec(a, "AMR", 0, &c), -ENOENT);

	cr_assert_eq(s->media[1].port, 0);
	const struct sdp_media *dc = &s->media[2];
	cr_assert_str_eq(dc->proto, "UDP/DTLS/SCTP");
	cr_assert_str_eq(dc->formats[0], "webrtc-datachannel");
	cr_assert_eq(sdp_media_codec_at(dc, 0, &c), -ENOENT);
	const struct sdp_attr *sctp = sdp_media_attr(dc, SDP_ATTR_OTHER, "sctp-port");
	cr_assert_not_null(sctp);
	cr_assert_str_eq(sctp->value, "5000");
	sdp_free(s);
}

/* ---- round trips ---- */

static void round_trip(const char *name, bool exact)
{
	size_t len;
	char *text = read_seed(name, &len);
	struct sdp_session *s = parse_ok(text);
	size_t n1;
	char *out1 = sdp_to_string(s, &n1);
	cr_assert_not_null(out1);
	if (exact)
		cr_assert_str_eq(out1, text, "%s is not printed back unchanged:\n%s", name, out1);
	struct sdp_session *s2 = parse_ok(out1);
	cr_assert_eq(s2->n_attrs, s->n_attrs);
	cr_assert_eq(s2->n_media, s->n_media);
	cr_assert_eq(s2->sess_id, s->sess_id);
	cr_assert_eq(s2->sess_version, s->sess_version);
	for (unsigned i = 0; i < s->n_media; i++) {
		const struct sdp_media *a = &s->media[i], *b = &s2->media[i];
		cr_assert_eq(a->n_attrs, b->n_attrs);
		cr_assert_eq(a->n_formats, b->n_formats);
		for (unsigned j = 0; j < a->n_attrs; j++) {
			cr_assert_eq(a->attrs[j].kind, b->attrs[j].kind);
			cr_assert_str_eq(a->attrs[j].name, b->attrs[j].name);
			if (a->attrs[j].value)
				cr_assert_str_eq(a->attrs[j].value, b->attrs[j].value);
			else
				cr_assert_null(b->attrs[j].value);
		}
	}
	size_t n2;
	char *out2 = sdp_to_string(s2, &n2);
	cr_assert_eq(n1, n2);
	cr_assert_str_eq(out1, out2);
	free(out1);
	free(out2);
	free(text);
	sdp_free(s);
	sdp_free(s2);
}

Test(sdp, round_trips)
{
	/* the CRLF seeds are in RFC order already: printed back byte for byte, so
	 * every attribute of Chrome's offer survives */
	round_trip("chrome_offer.sdp", true);
	round_trip("chrome_audio_video_offer.sdp", true);
	round_trip("sipjs_firefox_offer.sdp", true);
	round_trip("asterisk_offer.sdp", true);
	round_trip("freeswitch_offer.sdp", true);
	round_trip("held_offer.sdp", true);
	round_trip("lf_only_misc.sdp", false);
}

Test(sdp, print_normalizes)
{
	/* LF endings, extra spaces, session lines out of RFC order, a trailing
	 * blank line: printed with CRLF, single spaces, in RFC order */
	struct sdp_session *s = parse_ok("v=0\n"
	                                 "o=a  1   2 IN IP4 192.0.2.1\n"
	                                 "s=x\n"
	                                 "t=0 0\n"
	                                 "c=IN IP4  192.0.2.1\n"
	                                 "p=+1 555\n"
	                                 "e=a@example.com\n"
	                                 "a=tool:x\n"
	                                 "m=audio  4000   RTP/AVP  0\n"
	                                 "\n");
	char *out = sdp_to_string(s, NULL);
	cr_assert_str_eq(out, "v=0\r\n"
	                      "o=a 1 2 IN IP4 192.0.2.1\r\n"
	                      "s=x\r\n"
	                      "e=a@example.com\r\n"
	                      "p=+1 555\r\n"
	                      "c=IN IP4 192.0.2.1\r\n"
	                      "t=0 0\r\n"
	                      "a=tool:x\r\n"
	                      "m=audio 4000 RTP/AVP 0\r\n");
	free(out);
	sdp_free(s);
}

Test(sdp, flag_with_trailing_blanks)
{
	struct sdp_session *s =
	    parse_ok(HEAD "m=audio 9 RTP/AVP 0\r\na=rtcp-mux \r\na=sendonly\t\r\n");
	const struct sdp_media *m = &s->media[0];
	cr_assert_str_eq(sdp_media_attr(m, SDP_ATTR_RTCP_MUX, NULL)->name, "rtcp-mux");
	cr_assert_eq(sdp_media_direction(s, m), SDP_DIR_SENDONLY);
	sdp_free(s);
}

Test(sdp, less_common_values)
{
	struct sdp_session *s = parse_ok(HEAD "a=setup:holdconn\r\n"
	                                      "m=audio 9 RTP/AVP 0\r\n"
	                                      "k=clear:abc\r\n"
	                                      "a=setup:active\r\n"
	                                      "a=ptime:20.5\r\n"
	                                      "a=maxptime:40.\r\n"
	                                      "a=candidate:x 2 udp 1 ::1 1 typ relay odd\r\n");
	cr_assert_eq(sdp_session_attr(s, SDP_ATTR_SETUP, NULL)->u.setup, SDP_SETUP_HOLDCONN);
	const struct sdp_media *m = &s->media[0];
	cr_assert_str_eq(m->key, "clear:abc");
	cr_assert_eq(sdp_media_attr(m, SDP_ATTR_SETUP, NULL)->u.setup, SDP_SETUP_ACTIVE);
	cr_assert_eq(sdp_media_attr(m, SDP_ATTR_PTIME, NULL)->u.ms, 20);
	cr_assert_eq(sdp_media_attr(m, SDP_ATTR_MAXPTIME, NULL)->u.ms, 40);
	const struct sdp_candidate *c = &sdp_media_attr(m, SDP_ATTR_CANDIDATE, NULL)->u.candidate;
	cr_assert_eq(c->component, 2);
	cr_assert_str_eq(c->type, "relay");
	cr_assert_str_eq(c->extensions, "odd"); /* a name without a value is kept too */
	char *t = sdp_to_string(s, NULL);
	cr_assert_not_null(strstr(t, "m=audio 9 RTP/AVP 0\r\nk=clear:abc\r\na=setup:active\r\n"));
	free(t);
	sdp_free(s);
}

Test(sdp, line_count_limit)
{
	char text[4096];
	size_t l = (size_t)snprintf(text, sizeof(text), HEAD);
	for (unsigned i = 0; i < SDP_MAX_LINES; i++)
		l += (size_t)snprintf(text + l, sizeof(text) - l, "b=AS:%u\r\n", i);
	struct sdp_session *s;
	struct sdp_error err;
	cr_assert_eq(sdp_parse(text, l, &s, &err), 0);
	cr_assert_eq(s->n_bandwidths, SDP_MAX_LINES);
	sdp_free(s);
	l += (size_t)snprintf(text + l, sizeof(text) - l, "b=AS:1\r\n");
	cr_assert_eq(sdp_parse(text, l, &s, &err), -E2BIG);
	cr_assert_eq(err.line, 5 + SDP_MAX_LINES);
	cr_assert_not_null(strstr(err.reason, "b= lines"));
}

Test(sdp, print_into_a_short_buffer)
{
	struct sdp_session *s = parse_seed("asterisk_offer.sdp");
	size_t need = sdp_print(s, NULL, 0);
	char small[10];
	cr_assert_eq(sdp_print(s, small, sizeof(small)), need);
	cr_assert_str_eq(small, "v=0\r\no=- ");
	char *big = malloc(need + 1);
	cr_assert_eq(sdp_print(s, big, need + 1), need);
	cr_assert_eq(strlen(big), need);
	free(big);
	sdp_free(s);
}

/* ---- validation ---- */

struct bad_case {
	const char *text;
	int err;
	int line;
	const char *reason; /* a part of it */
};

static const struct bad_case bad_cases[] = {
    {"", -EINVAL, 0, "v= missing"},
    {"o=- 1 1 IN IP4 192.0.2.1\r\n", -EINVAL, 1, "start with v=0"},
    {"v=1\r\n", -EINVAL, 1, "start with v=0"},
    {"v=0\r\ns=-\r\nt=0 0\r\n", -EINVAL, 0, "o= missing"},
    {"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nt=0 0\r\n", -EINVAL, 0, "s= missing"},
    {"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n", -EINVAL, 0, "t= missing"},
    {"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n", -EINVAL, 4,
     "t= missing before"},
    {"v=0\r\no=- 1 IN IP4 192.0.2.1\r\n", -EINVAL, 2, "six fields"},
    {"v=0\r\no=- x 1 IN IP4 192.0.2.1\r\n", -EINVAL, 2, "not a number"},
    {"v=0\r\no=- 1 1 IN IP4 a b\r\n", -EINVAL, 2, "more than six"},
    {HEAD "o=- 1 1 IN IP4 192.0.2.1\r\n", -EINVAL, 5, "second o="},
    {HEAD "s=again\r\n", -EINVAL, 5, "second s="},
    {HEAD "v=0\r\n", -EINVAL, 5, "second v="},
    {HEAD "m=audio\r\n", -EINVAL, 5, "m= is not"},
    {HEAD "m=audio 9 RTP/AVP\r\n", -EINVAL, 5, "without formats"},
    {HEAD "m=audio 65536 RTP/AVP 0\r\n", -EINVAL, 5, "port"},
    {HEAD "m=audio -1 RTP/AVP 0\r\n", -EINVAL, 5, "port"},
    {HEAD "m=audio 9/0 RTP/AVP 0\r\n", -EINVAL, 5, "port"},
    {HEAD "m=audio 9/x RTP/AVP 0\r\n", -EINVAL, 5, "port"},
    {HEAD "m=audio 9 RTP/AVP 0\r\ns=x\r\n", -EINVAL, 6, "media section may not"},
    {HEAD "x=1\r\n", -EINVAL, 5, "does not define"},
    {HEAD "garbage\r\n", -EINVAL, 5, "not \"x=value\""},
    {HEAD "A=b\r\n", -EINVAL, 5, "not \"x=value\""},
    {HEAD "a=x\rb\r\n", -EINVAL, 5, "CR inside"},
    {HEAD "c=IN IP4\r\n", -EINVAL, 5, "c= is not"},
    {HEAD "c=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\n", -EINVAL, 6, "second c="},
    {HEAD "b=AS\r\n", -EINVAL, 5, "b= is not"},
    {HEAD "b=AS:x\r\n", -EINVAL, 5, "not a number"},
    {"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nr=1d 1h 0\r\n", -EINVAL, 4, "r= before"},
    {"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0\r\n", -EINVAL, 4, "t= is not"},
    {HEAD "i=a\r\ni=b\r\n", -EINVAL, 6, "appears twice"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=rtpmap:0\r\n", -EINVAL, 6, "rtpmap"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=rtpmap:128 X/8000\r\n", -EINVAL, 6, "rtpmap"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n", -EINVAL, 6, "clock"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/0\r\n", -EINVAL, 6, "clock"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000/0\r\n", -EINVAL, 6, "channel"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=fmtp:\r\n", -EINVAL, 6, "fmtp"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=rtcp-fb:0\r\n", -EINVAL, 6, "rtcp-fb"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=rtcp:99999\r\n", -EINVAL, 6, "rtcp"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=rtcp:9 IN IP4\r\n", -EINVAL, 6, "rtcp"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp 5 192.0.2.1 9 typ\r\n", -EINVAL, 6,
     "candidate"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp 5 192.0.2.1 9 type host\r\n", -EINVAL, 6,
     "candidate"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=candidate:1 0 udp 5 192.0.2.1 9 typ host\r\n", -EINVAL, 6,
     "candidate"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp 5 192.0.2.1 9 typ host rport x\r\n", -EINVAL,
     6, "candidate"},
    {HEAD "a=fingerprint:sha-256\r\n", -EINVAL, 5, "fingerprint"},
    {HEAD "a=setup:maybe\r\n", -EINVAL, 5, "setup"},
    {HEAD "a=ice-ufrag:\r\n", -EINVAL, 5, "needs a value"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=mid\r\n", -EINVAL, 6, "needs a value"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=ssrc:x cname:a\r\n", -EINVAL, 6, "ssrc"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=ssrc:1\r\n", -EINVAL, 6, "ssrc"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=ssrc-group:FID 1 x\r\n", -EINVAL, 6, "ssrc"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=msid:a b c\r\n", -EINVAL, 6, "msid"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=extmap:0 urn:x\r\n", -EINVAL, 6, "extmap"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=extmap:1/both urn:x\r\n", -EINVAL, 6, "extmap"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=extmap:1\r\n", -EINVAL, 6, "extmap"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=ptime:twenty\r\n", -EINVAL, 6, "ptime"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=maxptime:\r\n", -EINVAL, 6, "ptime"},
    {HEAD "a=group\r\n", -EINVAL, 5, "group"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=ssrc-group:\r\n", -EINVAL, 6, "ssrc-group"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=msid:\r\n", -EINVAL, 6, "msid"},
    {HEAD "m=audio 9 RTP/AVP 0\r\na=ptime:20.x\r\n", -EINVAL, 6, "ptime"},
    {HEAD "a=setup\r\n", -EINVAL, 5, "setup"},
    {HEAD "z=0 0\r\nz=1 1\r\n", -EINVAL, 6, "appears twice"},
    {HEAD "m=audio 9 RTP/AVP 0\r\nk=a\r\nk=b\r\n", -EINVAL, 7, "appears twice"},
    {HEAD "a=\r\n", -EINVAL, 5, "attribute"},
    {HEAD "a=na me:x\r\n", -EINVAL, 5, "attribute"},
};

Test(sdp, validation_errors)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct sdp_session *s = (struct sdp_session *)1;
		struct sdp_error err = {-1, NULL};
		int e = sdp_parse(bc->text, strlen(bc->text), &s, &err);
		cr_assert_eq(e, bc->err, "case %zu: %d, want %d (%s)", i, e, bc->err, bc->text);
		cr_assert_null(s, "case %zu", i);
		cr_assert_eq(err.line, bc->line, "case %zu: line %d, want %d (%s)", i, err.line,
		             bc->line, err.reason);
		cr_assert_not_null(strstr(err.reason, bc->reason), "case %zu: \"%s\" lacks \"%s\"",
		                   i, err.reason, bc->reason);
	}
}

Test(sdp, nul_byte_and_size_limit)
{
	static const char text[] = HEAD "a=x\0y\r\n";
	struct sdp_session *s;
	struct sdp_error err;
	cr_assert_eq(sdp_parse(text, sizeof(text) - 1, &s, &err), -EINVAL);
	cr_assert_not_null(strstr(err.reason, "NUL"));

	/* one byte over 64 KiB fails before anything is read (exactly 64 KiB
	 * parses: exactly_64_kib_parses) */
	char *big = malloc(SDP_MAX_SIZE + 1);
	size_t n = strlen(HEAD);
	memcpy(big, HEAD, n);
	memset(big + n, '\n', SDP_MAX_SIZE + 1 - n);
	cr_assert_eq(sdp_parse(big, SDP_MAX_SIZE + 1, &s, &err), -E2BIG);
	cr_assert_eq(err.line, 0);
	cr_assert_not_null(strstr(err.reason, "64 KiB"));
	free(big);
}

Test(sdp, exactly_64_kib_parses)
{
	char *big = malloc(SDP_MAX_SIZE);
	size_t n = (size_t)snprintf(big, SDP_MAX_SIZE, HEAD "a=big:");
	memset(big + n, 'x', SDP_MAX_SIZE - n - 2);
	memcpy(big + SDP_MAX_SIZE - 2, "\r\n", 2);
	struct sdp_session *s;
	struct sdp_error err;
	cr_assert_eq(sdp_parse(big, SDP_MAX_SIZE, &s, &err), 0);
	cr_assert_eq(strlen(s->attrs[0].value), SDP_MAX_SIZE - n - 2);
	sdp_free(s);
	free(big);
}

static char *offer_with_sections(unsigned n, size_t *len)
{
	size_t cap = 64 + n * 64u;
	char *text = malloc(cap);
	size_t l = (size_t)snprintf(text, cap, HEAD);
	for (unsigned i = 0; i < n; i++)
		l += (size_t)snprintf(text + l, cap - l, "m=audio %u RTP/AVP 0\r\na=mid:%u\r\n",
		                      10000 + 2 * i, i);
	*len = l;
	return text;
}

Test(sdp, media_section_limit)
{
	size_t len;
	char *text = offer_with_sections(SDP_MAX_MEDIA, &len);
	struct sdp_session *s;
	struct sdp_error err;
	cr_assert_eq(sdp_parse(text, len, &s, &err), 0);
	cr_assert_eq(s->n_media, 64);
	cr_assert_eq(s->media[63].port, 10126);
	cr_assert_str_eq(sdp_media_attr(&s->media[63], SDP_ATTR_MID, NULL)->value, "63");
	sdp_free(s);
	free(text);

	text = offer_with_sections(SDP_MAX_MEDIA + 1, &len);
	cr_assert_eq(sdp_parse(text, len, &s, &err), -E2BIG);
	cr_assert_null(s);
	cr_assert_eq(err.line, 4 + 64 * 2 + 1); /* the 65th m= line */
	cr_assert_not_null(strstr(err.reason, "m= sections"));
	free(text);
}

Test(sdp, attribute_limit)
{
	size_t cap = 64 + (SDP_MAX_ATTRS + 1) * 16u;
	char *text = malloc(cap);
	size_t l = (size_t)snprintf(text, cap, HEAD "m=audio 9 RTP/AVP 0\r\n");
	for (unsigned i = 0; i < SDP_MAX_ATTRS; i++)
		l += (size_t)snprintf(text + l, cap - l, "a=x%u\r\n", i);
	struct sdp_session *s;
	struct sdp_error err;
	cr_assert_eq(sdp_parse(text, l, &s, &err), 0);
	cr_assert_eq(s->media[0].n_attrs, SDP_MAX_ATTRS);
	cr_assert_str_eq(s->media[0].attrs[1023].name, "x1023");
	/* no room to append a direction or another attribute */
	cr_assert_eq(sdp_media_set_direction(s, &s->media[0], SDP_DIR_SENDONLY), -E2BIG);
	cr_assert_eq(sdp_media_add_attr(s, &s->media[0], "rtcp-mux", NULL), -E2BIG);
	cr_assert_eq(s->media[0].n_attrs, SDP_MAX_ATTRS);
	sdp_free(s);
	l += (size_t)snprintf(text + l, cap - l, "a=one-more\r\n");
	cr_assert_eq(sdp_parse(text, l, &s, &err), -E2BIG);
	cr_assert_eq(err.line, 5 + 1024 + 1);
	free(text);
}

Test(sdp, format_limit)
{
	char text[2048];
	size_t l = (size_t)snprintf(text, sizeof(text), HEAD "m=audio 9 RTP/AVP");
	for (unsigned i = 0; i <= SDP_MAX_FORMATS; i++)
		l += (size_t)snprintf(text + l, sizeof(text) - l, " %u", i);
	l += (size_t)snprintf(text + l, sizeof(text) - l, "\r\n");
	struct sdp_session *s;
	struct sdp_error err;
	cr_assert_eq(sdp_parse(text, l, &s, &err), -E2BIG);
	cr_assert_not_null(strstr(err.reason, "formats"));
}

/* ---- hold ---- */

static bool held(const char *session_lines, const char *media_lines, unsigned port)
{
	char text[1024];
	snprintf(text, sizeof(text),
	         "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n%st=0 0\r\nm=audio %u RTP/AVP 0\r\n%s",
	         session_lines, port, media_lines);
	struct sdp_session *s = parse_ok(text);
	bool h = sdp_media_on_hold(s, &s->media[0]);
	sdp_free(s);
	return h;
}

Test(sdp, hold_variants)
{
	const char *c_real = "c=IN IP4 192.0.2.1\r\n";
	const char *c_zero = "c=IN IP4 0.0.0.0\r\n";
	cr_assert(!held(c_real, "", 4000));
	cr_assert(!held(c_real, "a=sendrecv\r\n", 4000));
	cr_assert(held(c_real, "a=sendonly\r\n", 4000));
	cr_assert(held(c_real, "a=inactive\r\n", 4000));
	/* recvonly from the peer is the answer to our hold, not a hold */
	cr_assert(!held(c_real, "a=recvonly\r\n", 4000));
	/* RFC 2543 hold: c=0.0.0.0, at session or media level */
	cr_assert(held(c_zero, "", 4000));
	cr_assert(held(c_real, "c=IN IP4 0.0.0.0\r\n", 4000));
	/* media c= overrides a session 0.0.0.0 */
	cr_assert(!held(c_zero, "c=IN IP4 192.0.2.9\r\n", 4000));
	/* session-level direction applies, media-level overrides it */
	cr_assert(held("c=IN IP4 192.0.2.1\r\na=sendonly\r\n", "", 4000));
	cr_assert(!held("c=IN IP4 192.0.2.1\r\na=sendonly\r\n", "a=sendrecv\r\n", 4000));
	cr_assert(held("c=IN IP4 192.0.2.1\r\na=sendrecv\r\n", "a=inactive\r\n", 4000));
	/* port 0 is a rejected section */
	cr_assert(!held(c_real, "a=sendonly\r\n", 0));
	/* with ICE, 0.0.0.0 is no default candidate (media- or session-level ufrag) */
	cr_assert(!held(c_zero, "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijklmn\r\n", 9));
	cr_assert(!held("c=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n", "", 9));
	cr_assert(held(c_zero, "a=ice-ufrag:abcd\r\na=sendonly\r\n", 9));
	/* IPv6 :: is not the RFC 2543 form */
	cr_assert(!held("c=IN IP6 ::\r\n", "", 4000));
}

/* ---- helpers ---- */

Test(sdp, codec_lookup)
{
	/* static payload types need no rtpmap; a dynamic one without it is unknown */
	struct sdp_session *s = parse_ok(HEAD "m=audio 4000 RTP/AVP 8 0 9 18 96\r\n");
	const struct sdp_media *m = &s->media[0];
	struct sdp_codec c;
	cr_assert_eq(sdp_media_codec_at(m, 0, &c), 0);
	cr_assert_str_eq(c.encoding, "PCMA");
	cr_assert_eq(c.clock, 8000);
	cr_assert_eq(sdp_media_find_codec(m, "g722", 8000, &c), 0);
	cr_assert_eq(c.pt, 9);
	cr_assert_eq(sdp_media_find_codec(m, "G729", 0, &c), 0);
	cr_assert_eq(c.pt, 18);
	cr_assert_eq(sdp_media_find_codec(m, "PCMU", 16000, &c), -ENOENT);
	cr_assert_eq(sdp_media_codec_at(m, 4, &c), -ENOENT);
	cr_assert_eq(sdp_media_codec_at(m, 5, &c), -ENOENT);
	sdp_free(s);

	/* an rtpmap overrides the static name; the m= order is the preference */
	s = parse_ok(HEAD "m=audio 4000 RTP/AVP 96 0 97\r\na=rtpmap:97 PCMU/8000\r\n"
	                  "a=rtpmap:96 opus/48000/2\r\n");
	m = &s->media[0];
	cr_assert_eq(sdp_media_find_codec(m, "pcmu", 8000, &c), 0);
	cr_assert_eq(c.pt, 0);
	cr_assert_eq(sdp_media_find_codec(m, "opus", 0, &c), 0);
	cr_assert_eq(c.pt, 96);
	sdp_free(s);
}

static char *print(const struct sdp_session *s)
{
	char *t = sdp_to_string(s, NULL);
	cr_assert_not_null(t);
	return t;
}

Test(sdp, set_direction)
{
	struct sdp_session *s = parse_seed("asterisk_offer.sdp");
	struct sdp_media *m = &s->media[0];
	unsigned n = m->n_attrs;
	unsigned pos = (unsigned)(sdp_media_attr(m, SDP_ATTR_DIRECTION, NULL) - m->attrs);
	cr_assert_eq(sdp_media_set_direction(s, m, SDP_DIR_SENDONLY), 0);
	/* replaced in place */
	cr_assert_eq(m->n_attrs, n);
	cr_assert_str_eq(m->attrs[pos].name, "sendonly");
	cr_assert(sdp_media_on_hold(s, m));
	char *t = print(s);
	cr_assert_not_null(strstr(t, "a=maxptime:150\r\na=sendonly\r\n"));
	cr_assert_null(strstr(t, "sendrecv"));
	free(t);
	cr_assert_eq(sdp_media_set_direction(s, m, SDP_DIR_NONE), -EINVAL);
	sdp_free(s);

	/* appended when there was none */
	s = parse_seed("freeswitch_offer.sdp");
	m = &s->media[0];
	n = m->n_attrs;
	cr_assert_eq(sdp_media_set_direction(s, m, SDP_DIR_INACTIVE), 0);
	cr_assert_eq(m->n_attrs, n + 1);
	cr_assert_eq(sdp_media_direction(s, m), SDP_DIR_INACTIVE);
	t = print(s);
	cr_assert(strlen(t) > 12 && strcmp(t + strlen(t) - 12, "a=inactive\r\n") == 0);
	free(t);
	sdp_free(s);
}

Test(sdp, add_and_remove_formats)
{
	struct sdp_session *s = parse_seed("chrome_offer.sdp");
	struct sdp_media *m = &s->media[0];
	/* keep PCMU and telephone-event/8000 only, as an answer to a PBX would */
	static const char *const drop[] = {"111", "63", "9", "8", "13", "110"};
	for (unsigned i = 0; i < 6; i++)
		cr_assert_eq(sdp_media_remove_format(m, drop[i]), 0, "%s", drop[i]);
	cr_assert_eq(m->n_formats, 2);
	cr_assert_str_eq(m->formats[0], "0");
	cr_assert_str_eq(m->formats[1], "126");
	cr_assert_eq(count_kind(m, SDP_ATTR_RTPMAP), 2);
	cr_assert_eq(count_kind(m, SDP_ATTR_FMTP), 0);
	cr_assert_eq(count_kind(m, SDP_ATTR_RTCP_FB), 0);
	cr_assert_eq(sdp_media_remove_format(m, "111"), -ENOENT);
	cr_assert_eq(sdp_media_remove_format(m, "0"), 0);
	cr_assert_eq(sdp_media_remove_format(m, "126"), -EINVAL); /* the last one stays */
	cr_assert_eq(m->n_formats, 1);

	cr_assert_eq(sdp_media_add_format(s, m, 8, "PCMA", 8000, 0, NULL), 0);
	cr_assert_eq(sdp_media_add_format(s, m, 111, "opus", 48000, 2, "useinbandfec=1"), 0);
	cr_assert_eq(sdp_media_add_format(s, m, 8, "PCMA", 8000, 0, NULL), -EEXIST);
	cr_assert_eq(sdp_media_add_format(s, m, 128, "X", 8000, 0, NULL), -EINVAL);
	cr_assert_eq(sdp_media_add_format(s, m, 100, "X", 0, 0, NULL), -EINVAL);
	struct sdp_codec c;
	cr_assert_eq(sdp_media_find_codec(m, "opus", 48000, &c), 0);
	cr_assert_eq(c.channels, 2);
	cr_assert_str_eq(c.fmtp, "useinbandfec=1");
	char *t = print(s);
	cr_assert_not_null(strstr(t, "m=audio 9 UDP/TLS/RTP/SAVPF 126 8 111\r\n"));
	cr_assert_not_null(strstr(t, "a=rtpmap:8 PCMA/8000\r\na=rtpmap:111 opus/48000/2\r\n"
	                             "a=fmtp:111 useinbandfec=1\r\n"));
	struct sdp_session *again = parse_ok(t);
	cr_assert_eq(again->media[0].n_attrs, m->n_attrs);
	sdp_free(again);
	free(t);
	sdp_free(s);

	/* an rtpmap left for an unlisted payload type gives way to the new one */
	s = parse_ok(HEAD "m=audio 4000 RTP/AVP 0\r\na=rtpmap:101 telephone-event/4000\r\n");
	m = &s->media[0];
	cr_assert_eq(sdp_media_add_format(s, m, 101, "telephone-event", 8000, 0, "0-16"), 0);
	cr_assert_eq(count_kind(m, SDP_ATTR_RTPMAP), 1);
	cr_assert_eq(sdp_media_find_codec(m, "telephone-event", 8000, &c), 0);
	cr_assert(nth(m, SDP_ATTR_RTPMAP, 0)->u.rtpmap.listed);
	sdp_free(s);
}

Test(sdp, remove_format_by_another_spelling)
{
	struct sdp_session *s = parse_ok(HEAD "m=audio 4000 RTP/AVP 0 08 96\r\n"
	                                      "a=rtpmap:8 PCMA/8000\r\na=fmtp:8 x=1\r\n"
	                                      "a=rtcp-fb:8 nack\r\na=rtcp-fb:* nack\r\n"
	                                      "a=rtpmap:96 opus/48000/2\r\n");
	struct sdp_media *m = &s->media[0];
	cr_assert(nth(m, SDP_ATTR_RTPMAP, 0)->u.rtpmap.listed);
	cr_assert_eq(sdp_media_remove_format(m, "08"), 0);
	cr_assert_eq(m->n_attrs, 2);
	cr_assert_str_eq(m->attrs[0].value, "* nack");
	cr_assert_eq(nth(m, SDP_ATTR_RTPMAP, 0)->u.rtpmap.pt, 96);
	sdp_free(s);
}

Test(sdp, add_and_remove_attributes)
{
	struct sdp_session *s = parse_seed("asterisk_offer.sdp");
	struct sdp_media *m = &s->media[0];
	cr_assert_eq(sdp_media_add_attr(s, m, "rtcp-mux", NULL), 0);
	cr_assert_eq(sdp_media_add_attr(s, m, "setup", "passive"), 0);
	cr_assert_eq(sdp_media_attr(m, SDP_ATTR_SETUP, NULL)->u.setup, SDP_SETUP_PASSIVE);
	cr_assert_eq(sdp_media_add_attr(s, m, "setup", "sideways"), -EINVAL);
	cr_assert_eq(sdp_media_add_attr(s, m, "bad name", "x"), -EINVAL);
	cr_assert_eq(sdp_media_add_attr(s, m, "x", "a\r\nb"), -EINVAL);
	cr_assert_eq(sdp_session_add_attr(s, "ice-lite", NULL), 0);
	cr_assert_not_null(sdp_session_attr(s, SDP_ATTR_ICE_LITE, NULL));
	cr_assert_eq(sdp_media_remove_attrs(m, SDP_ATTR_PTIME, NULL), 1);
	cr_assert_eq(sdp_media_remove_attrs(m, SDP_ATTR_RTPMAP, NULL), 3);
	cr_assert_eq(sdp_media_add_attr(s, m, "x-custom", "1"), 0);
	cr_assert_eq(sdp_media_remove_attrs(m, SDP_ATTR_OTHER, "X-CUSTOM"), 1);
	char *t = print(s);
	cr_assert_str_eq(t, "v=0\r\n"
	                    "o=- 1732460000 1732460000 IN IP4 10.0.0.5\r\n"
	                    "s=Asterisk\r\n"
	                    "c=IN IP4 10.0.0.5\r\n"
	                    "t=0 0\r\n"
	                    "a=ice-lite\r\n"
	                    "m=audio 17012 RTP/AVP 0 8 101\r\n"
	                    "a=fmtp:101 0-16\r\n"
	                    "a=maxptime:150\r\n"
	                    "a=sendrecv\r\n"
	                    "a=rtcp-mux\r\n"
	                    "a=setup:passive\r\n");
	free(t);
	sdp_free(s);
}

Test(sdp, new_audio_offer)
{
	struct sdp_audio_params p = {
	    .sess_id = 42,
	    .address = "192.0.2.10",
	    .port = 30000,
	    .pcmu = true,
	    .pcma = true,
	    .telephone_event = 101,
	    .ptime = 20,
	    .direction = SDP_DIR_SENDRECV,
	};
	struct sdp_session *s;
	cr_assert_eq(sdp_new_audio(&p, &s), 0);
	char *t = print(s);
	cr_assert_str_eq(t, "v=0\r\n"
	                    "o=sipwire 42 1 IN IP4 192.0.2.10\r\n"
	                    "s=sipwire\r\n"
	                    "c=IN IP4 192.0.2.10\r\n"
	                    "t=0 0\r\n"
	                    "m=audio 30000 RTP/AVP 0 8 101\r\n"
	                    "a=rtpmap:0 PCMU/8000\r\n"
	                    "a=rtpmap:8 PCMA/8000\r\n"
	                    "a=rtpmap:101 telephone-event/8000\r\n"
	                    "a=fmtp:101 0-16\r\n"
	                    "a=ptime:20\r\n"
	                    "a=sendrecv\r\n");
	free(t);
	/* a change is a new version */
	cr_assert_eq(sdp_media_set_direction(s, &s->media[0], SDP_DIR_SENDONLY), 0);
	sdp_bump_version(s);
	t = print(s);
	cr_assert_not_null(strstr(t, "o=sipwire 42 2 IN IP4 192.0.2.10\r\n"));
	cr_assert_not_null(strstr(t, "a=sendonly\r\n"));
	free(t);
	sdp_free(s);

	/* IPv6, PCMA only, no DTMF, no ptime, no direction */
	struct sdp_audio_params p6 = {.sess_id = 7,
	                              .address = "2001:db8::10",
	                              .port = 30002,
	                              .pcma = true,
	                              .telephone_event = -1};
	cr_assert_eq(sdp_new_audio(&p6, &s), 0);
	t = print(s);
	cr_assert_str_eq(t, "v=0\r\n"
	                    "o=sipwire 7 1 IN IP6 2001:db8::10\r\n"
	                    "s=sipwire\r\n"
	                    "c=IN IP6 2001:db8::10\r\n"
	                    "t=0 0\r\n"
	                    "m=audio 30002 RTP/AVP 8\r\n"
	                    "a=rtpmap:8 PCMA/8000\r\n");
	free(t);
	sdp_free(s);

	struct sdp_audio_params bad = p;
	bad.address = "192.0.2.1\r\na=x";
	cr_assert_eq(sdp_new_audio(&bad, &s), -EINVAL);
	bad = p;
	bad.pcmu = bad.pcma = false;
	bad.telephone_event = -1;
	cr_assert_eq(sdp_new_audio(&bad, &s), -EINVAL);
	bad = p;
	bad.address = NULL;
	cr_assert_eq(sdp_new_audio(&bad, &s), -EINVAL);
}

Test(sdp, set_connection_and_port)
{
	struct sdp_session *s = parse_seed("held_offer.sdp");
	struct sdp_media *m = &s->media[0];
	cr_assert(sdp_media_on_hold(s, m));
	/* taken off hold: a real address at session level, sendrecv */
	cr_assert_eq(sdp_set_connection(s, NULL, "10.0.0.5"), 0);
	cr_assert_eq(sdp_media_set_direction(s, m, SDP_DIR_SENDRECV), 0);
	cr_assert(!sdp_media_on_hold(s, m));
	/* a media-level IPv6 c= and a new port */
	cr_assert_eq(sdp_set_connection(s, m, "2001:db8::7"), 0);
	m->port = 17014;
	s->username = sdp_strdup(s, "pbx");
	cr_assert_eq(sdp_set_connection(s, m, "10.0.0.5 x"), -EINVAL);
	cr_assert_eq(sdp_set_connection(s, m, ""), -EINVAL);
	char *t = print(s);
	cr_assert_not_null(strstr(t, "o=pbx 1732460000 1732460001 IN IP4 10.0.0.5\r\n"));
	cr_assert_not_null(strstr(t, "s=Asterisk\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"));
	cr_assert_not_null(
	    strstr(t, "m=audio 17014 RTP/AVP 0 8 101\r\nc=IN IP6 2001:db8::7\r\na=rtpmap"));
	struct sdp_session *again = parse_ok(t);
	cr_assert_str_eq(sdp_media_connection(again, &again->media[0])->addrtype, "IP6");
	sdp_free(again);
	free(t);
	sdp_free(s);
}

Test(sdp, direction_names)
{
	cr_assert_str_eq(sdp_direction_name(SDP_DIR_SENDONLY), "sendonly");
	cr_assert_str_eq(sdp_direction_name(SDP_DIR_INACTIVE), "inactive");
	cr_assert_str_eq(sdp_direction_name(SDP_DIR_NONE), "");
}
