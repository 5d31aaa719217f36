/* test_sdh_rtp.c — the plain-RTP SDH: offer/answer, port pairs, and the relay
 * with real UDP sockets on 127.0.0.1 and a GMainContext iterated here. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "udp_window.h"
#include "webrtc/rtp.h"
#include "webrtc/sdh_rtp.h"
#include "webrtc/sdp.h"

static GMainContext *loop;
static struct sdh_rtp_ctx *ctx;
static uint16_t base_port;

/* 64 ports of its own per process (udp_window.h). */
static uint16_t pick_base(void) { return udp_window_pick(64, 1); }

static struct sdh_rtp_ctx *make_ctx(uint16_t min, uint16_t max, const char *const *codecs)
{
	struct sdh_rtp_ctx_params p = {
		.loop = loop,
		.address = "127.0.0.1",
		.bind_address = "127.0.0.1",
		.port_min = min,
		.port_max = max,
		.codecs = codecs,
		.ptime = 20,
	};
	struct sdh_rtp_ctx *c = NULL;
	cr_assert_eq(sdh_rtp_ctx_new(&p, &c), 0);
	return c;
}

static void setup(void)
{
	loop = g_main_context_new();
	base_port = pick_base();
	ctx = make_ctx(base_port, (uint16_t)(base_port + 39), NULL);
}

static void teardown(void)
{
	sdh_rtp_ctx_unref(ctx);
	while (g_main_context_iteration(loop, FALSE))
		;
	g_main_context_unref(loop);
}

TestSuite(sdh_rtp, .init = setup, .fini = teardown);

static struct sdh_rtp *new_leg(void)
{
	struct sdh_rtp *h = NULL;
	int rc = sdh_rtp_new(ctx, NULL, &h);
	cr_assert_eq(rc, 0, "sdh_rtp_new: %s", strerror(-rc));
	return h;
}

/* ---- descriptions ---- */

#define AUDIO_PEER(port, fmts) \
	"v=0\r\no=peer 7 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" \
	"m=audio " port " RTP/AVP " fmts "\r\n"

static char *offer_text(uint16_t port, const char *fmts, const char *attrs)
{
	return g_strdup_printf("v=0\r\no=peer 7 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
	                       "t=0 0\r\nm=audio %u RTP/AVP %s\r\n%s",
	                       port, fmts, attrs ? attrs : "");
}

static int set_remote(struct sdh_rtp *h, const char *text)
{
	return sdh_rtp_set_description(h, "application/sdp", text, strlen(text), NULL);
}

static int set_offer(struct sdh_rtp *h, uint16_t port, const char *fmts, const char *attrs)
{
	char *t = offer_text(port, fmts, attrs);
	int rc = set_remote(h, t);
	g_free(t);
	return rc;
}

static struct sdp_session *local_desc(struct sdh_rtp *h, const struct sdh_rtp_options *o)
{
	char buf[4096];
	size_t len = 0;
	const char *ctype = NULL;
	int rc = sdh_rtp_get_description(h, o, buf, sizeof(buf), &len, &ctype);
	cr_assert_eq(rc, 0, "get_description: %d", rc);
	cr_assert_str_eq(ctype, "application/sdp");
	cr_assert_eq(strlen(buf), len);
	struct sdp_session *s = NULL;
	struct sdp_error err = {0, NULL};
	cr_assert_eq(sdp_parse(buf, len, &s, &err), 0, "our SDP fails to parse at %d: %s\n%s", err.line,
	             err.reason, buf);
	return s;
}

/* "0 8 101": the m= line's formats joined by blanks. */
static void formats_of(const struct sdp_media *m, char *out, size_t size)
{
	out[0] = '\0';
	for (unsigned i = 0; i < m->n_formats; i++) {
		if (i)
			g_strlcat(out, " ", size);
		g_strlcat(out, m->formats[i], size);
	}
}

static void assert_formats(const struct sdp_media *m, const char *want)
{
	char got[256];
	formats_of(m, got, sizeof(got));
	cr_assert_str_eq(got, want);
}

static enum sdp_direction dir_of(const struct sdp_session *s)
{
	return sdp_media_direction(s, &s->media[0]);
}

Test(sdh_rtp, default_offer_lists_the_context_codecs)
{
	struct sdh_rtp *h = new_leg();
	struct sdp_session *s = local_desc(h, NULL);
	cr_assert_eq(s->n_media, 1);
	cr_assert_str_eq(s->media[0].type, "audio");
	cr_assert_str_eq(s->media[0].proto, "RTP/AVP");
	cr_assert_eq(s->media[0].port, sdh_rtp_port(h));
	assert_formats(&s->media[0], "0 8 9 111 101");
	cr_assert(s->conn.present);
	cr_assert_str_eq(s->conn.address, "127.0.0.1");
	cr_assert_str_eq(s->address, "127.0.0.1");
	cr_assert_eq(s->sess_version, 1);
	struct sdp_codec c;
	cr_assert_eq(sdp_media_find_codec(&s->media[0], "opus", 48000, &c), 0);
	cr_assert_eq(c.pt, 111);
	cr_assert_eq(c.channels, 2);
	cr_assert_eq(sdp_media_find_codec(&s->media[0], "telephone-event", 8000, &c), 0);
	cr_assert_eq(c.pt, 101);
	cr_assert_str_eq(c.fmtp, "0-16");
	cr_assert_eq(dir_of(s), SDP_DIR_SENDRECV);
	const struct sdp_attr *pt = sdp_media_attr(&s->media[0], SDP_ATTR_PTIME, NULL);
	cr_assert_not_null(pt);
	cr_assert_eq(pt->u.ms, 20);
	cr_assert_null(sdp_media_attr(&s->media[0], SDP_ATTR_RTCP_MUX, NULL));
	sdp_free(s);
	sdh_rtp_free(h);
}

Test(sdh_rtp, offer_codecs_follow_the_configured_list)
{
	const char *const codecs[] = {"PCMA", "telephone-event", NULL};
	struct sdh_rtp_ctx *c2 = make_ctx((uint16_t)(base_port + 40), (uint16_t)(base_port + 49), codecs);
	struct sdh_rtp *h = NULL;
	cr_assert_eq(sdh_rtp_new(c2, &(struct sdh_rtp_opts){.rtcp_mux = true}, &h), 0);
	struct sdp_session *s = local_desc(h, NULL);
	assert_formats(&s->media[0], "8 101");
	cr_assert_not_null(sdp_media_attr(&s->media[0], SDP_ATTR_RTCP_MUX, NULL));
	sdp_free(s);
	/* a PCMU-only offer has nothing in common with this context */
	sdh_rtp_rollback_description(h);
	cr_assert_eq(set_offer(h, 4000, "0", NULL), -ENOTSUP);
	sdh_rtp_free(h);
	sdh_rtp_ctx_unref(c2);
}

Test(sdh_rtp, answer_keeps_offer_order_and_payload_types)
{
	struct sdh_rtp *h = new_leg();
	cr_assert_eq(set_offer(h, 4000, "8 96 0 18 101",
	                       "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n"
	                       "a=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
	                       "a=fmtp:101 0-15\r\n"),
	             0);
	struct sdp_session *s = local_desc(h, NULL);
	assert_formats(&s->media[0], "8 96 0 101");
	struct sdp_codec c;
	cr_assert_eq(sdp_media_find_codec(&s->media[0], "opus", 48000, &c), 0);
	cr_assert_eq(c.pt, 96);
	cr_assert_str_eq(c.fmtp, "useinbandfec=1");
	cr_assert_eq(sdp_media_find_codec(&s->media[0], "telephone-event", 0, &c), 0);
	cr_assert_eq(c.pt, 101);
	cr_assert_str_eq(c.fmtp, "0-15");
	cr_assert_eq(s->media[0].port, sdh_rtp_port(h));
	sdp_free(s);
	sdh_rtp_free(h);
}

Test(sdh_rtp, answer_keeps_telephone_event_at_the_codec_clocks)
{
	struct sdh_rtp *h = new_leg();
	/* Chrome's audio formats: opus, red, G722, PCMU, PCMA, CN, te/48000, te/8000 */
	cr_assert_eq(set_offer(h, 4000, "111 63 9 0 8 13 110 126",
	                       "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\n"
	                       "a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n"
	                       "a=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\n"
	                       "a=rtpmap:110 telephone-event/48000\r\n"
	                       "a=rtpmap:126 telephone-event/8000\r\n"),
	             0);
	struct sdp_session *s = local_desc(h, NULL);
	assert_formats(&s->media[0], "111 9 0 8 110 126");
	sdp_free(s);
	sdh_rtp_free(h);

	/* no audio codec at 48 kHz kept: only the 8 kHz event stays */
	h = new_leg();
	cr_assert_eq(set_offer(h, 4000, "0 110 126",
	                       "a=rtpmap:110 telephone-event/48000\r\n"
	                       "a=rtpmap:126 telephone-event/8000\r\n"),
	             0);
	s = local_desc(h, NULL);
	assert_formats(&s->media[0], "0 126");
	sdp_free(s);
	sdh_rtp_free(h);
}

Test(sdh_rtp, no_common_codec_is_refused)
{
	struct sdh_rtp *h = new_leg();
	cr_assert_eq(set_offer(h, 4000, "18 101",
	                       "a=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n"),
	             -ENOTSUP);
	/* nothing pending: the next description asked for is an offer */
	struct sdp_session *s = local_desc(h, NULL);
	assert_formats(&s->media[0], "0 8 9 111 101");
	sdp_free(s);
	sdh_rtp_free(h);
}

Test(sdh_rtp, other_streams_are_refused_with_port_zero_in_order)
{
	struct sdh_rtp *h = new_leg();
	const char *offer = "v=0\r\no=peer 7 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	                    "m=video 5000 RTP/AVP 96 97\r\na=rtpmap:96 VP8/90000\r\n"
	                    "m=audio 4000 RTP/AVP 0\r\n"
	                    "m=audio 4002 RTP/AVP 8\r\n"
	                    "m=application 5002 UDP/DTLS/SCTP webrtc-datachannel\r\n";
	cr_assert_eq(set_remote(h, offer), 0);
	struct sdp_session *s = local_desc(h, NULL);
	cr_assert_eq(s->n_media, 4);
	cr_assert_str_eq(s->media[0].type, "video");
	cr_assert_eq(s->media[0].port, 0);
	assert_formats(&s->media[0], "96 97");
	cr_assert_eq(s->media[1].port, sdh_rtp_port(h));
	assert_formats(&s->media[1], "0");
	cr_assert_eq(s->media[2].port, 0);
	assert_formats(&s->media[2], "8");
	cr_assert_str_eq(s->media[3].type, "application");
	cr_assert_eq(s->media[3].port, 0);
	cr_assert_str_eq(s->media[3].proto, "UDP/DTLS/SCTP");
	sdp_free(s);
	sdh_rtp_free(h);
}

static enum sdp_direction answer_dir(const char *offer_dir, const struct sdh_rtp_options *o)
{
	struct sdh_rtp *h = new_leg();
	char attr[64];
	snprintf(attr, sizeof(attr), "a=%s\r\n", offer_dir);
	cr_assert_eq(set_offer(h, 4000, "0", attr), 0);
	struct sdp_session *s = local_desc(h, o);
	enum sdp_direction d = dir_of(s);
	sdp_free(s);
	sdh_rtp_free(h);
	return d;
}

Test(sdh_rtp, answer_direction_mirrors_the_offer)
{
	cr_assert_eq(answer_dir("sendrecv", NULL), SDP_DIR_SENDRECV);
	cr_assert_eq(answer_dir("sendonly", NULL), SDP_DIR_RECVONLY);
	cr_assert_eq(answer_dir("recvonly", NULL), SDP_DIR_SENDONLY);
	cr_assert_eq(answer_dir("inactive", NULL), SDP_DIR_INACTIVE);
	const struct sdh_rtp_options hold = {.hold = true};
	cr_assert_eq(answer_dir("sendrecv", &hold), SDP_DIR_SENDONLY);
	cr_assert_eq(answer_dir("sendonly", &hold), SDP_DIR_INACTIVE);
}

Test(sdh_rtp, old_style_hold_address_is_answered_recvonly)
{
	struct sdh_rtp *h = new_leg();
	const char *offer = "v=0\r\no=peer 7 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
	                    "m=audio 4000 RTP/AVP 0\r\n";
	cr_assert_eq(set_remote(h, offer), 0);
	struct sdp_session *s = local_desc(h, NULL);
	cr_assert_eq(dir_of(s), SDP_DIR_RECVONLY);
	sdp_free(s);
	sdh_rtp_free(h);
}

Test(sdh_rtp, hold_offer_is_sendonly_or_inactive_when_held)
{
	struct sdh_rtp *h = new_leg();
	const struct sdh_rtp_options hold = {.hold = true};
	struct sdp_session *s = local_desc(h, &hold);
	cr_assert_eq(dir_of(s), SDP_DIR_SENDONLY);
	sdp_free(s);
	sdh_rtp_rollback_description(h);

	/* the peer holds us (its offer is sendonly); our hold offer is inactive */
	cr_assert_eq(set_offer(h, 4000, "0", "a=sendonly\r\n"), 0);
	sdp_free(local_desc(h, NULL));
	s = local_desc(h, &hold);
	cr_assert_eq(dir_of(s), SDP_DIR_INACTIVE);
	sdp_free(s);
	s = local_desc(h, NULL);
	cr_assert_eq(dir_of(s), SDP_DIR_SENDRECV);
	sdp_free(s);
	sdh_rtp_free(h);
}

Test(sdh_rtp, origin_version_moves_only_when_the_description_changes)
{
	struct sdh_rtp *h = new_leg();
	struct sdp_session *a = local_desc(h, NULL);
	struct sdp_session *b = local_desc(h, NULL);
	cr_assert_eq(a->sess_version, 1);
	cr_assert_eq(b->sess_version, 1);
	cr_assert_eq(a->sess_id, b->sess_id);
	const struct sdh_rtp_options hold = {.hold = true};
	struct sdp_session *c = local_desc(h, &hold);
	cr_assert_eq(c->sess_version, 2);
	struct sdp_session *d = local_desc(h, &hold);
	cr_assert_eq(d->sess_version, 2);
	struct sdp_session *e = local_desc(h, NULL);
	cr_assert_eq(e->sess_version, 3);
	sdp_free(a);
	sdp_free(b);
	sdp_free(c);
	sdp_free(d);
	sdp_free(e);
	sdh_rtp_free(h);
}

Test(sdh_rtp, a_leg_gives_its_own_address_when_set)
{
	struct sdh_rtp *h = new_leg(), *other = new_leg();
	/* another family, or not a literal: refused, nothing changes */
	cr_assert_eq(sdh_rtp_set_address(h, "::1"), -EINVAL);
	cr_assert_eq(sdh_rtp_set_address(h, "pbx.example.test"), -EINVAL);
	cr_assert_eq(sdh_rtp_set_address(h, "127.0.0.2"), 0);
	struct sdp_session *s = local_desc(h, NULL);
	cr_assert_str_eq(s->conn.address, "127.0.0.2");
	cr_assert_str_eq(s->address, "127.0.0.2");
	cr_assert_str_eq(s->addrtype, "IP4");
	/* the context's address stays every other leg's */
	struct sdp_session *o = local_desc(other, NULL);
	cr_assert_str_eq(o->conn.address, "127.0.0.1");
	sdp_free(s);
	sdp_free(o);
	sdh_rtp_free(h);
	sdh_rtp_free(other);
}

Test(sdh_rtp, small_buffer_changes_nothing)
{
	struct sdh_rtp *h = new_leg();
	cr_assert_eq(set_offer(h, 4000, "0", NULL), 0);
	char small[32];
	size_t len = 0;
	const char *ctype = NULL;
	cr_assert_eq(sdh_rtp_get_description(h, NULL, small, sizeof(small), &len, &ctype), -ENOSPC);
	/* still answering the same offer, at version 1 */
	struct sdp_session *s = local_desc(h, NULL);
	cr_assert_eq(s->sess_version, 1);
	assert_formats(&s->media[0], "0");
	sdp_free(s);
	sdh_rtp_free(h);
}

Test(sdh_rtp, unusable_descriptions_are_refused)
{
	struct sdh_rtp *h = new_leg();
	const char *good = AUDIO_PEER("4000", "0");
	cr_assert_eq(sdh_rtp_set_description(h, "text/plain", good, strlen(good), NULL), -EINVAL);
	cr_assert_eq(sdh_rtp_set_description(h, "application/sdp", good, 0, NULL), -EINVAL);
	cr_assert_eq(set_remote(h, "not sdp at all"), -EINVAL);
	cr_assert_eq(set_remote(h, "v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
	                           "t=0 0\r\nm=video 5000 RTP/AVP 96\r\n"),
	             -EINVAL);
	cr_assert_eq(set_remote(h, "v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 pbx.example.com\r\n"
	                           "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"),
	             -EINVAL);
	cr_assert_eq(set_remote(h, "v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP6 ::1\r\n"
	                           "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"),
	             -EINVAL, "an IPv6 peer cannot be reached from an IPv4 socket");
	cr_assert_eq(set_remote(h, "v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
	                           "t=0 0\r\nm=audio 4000 UDP/TLS/RTP/SAVPF 111\r\n"
	                           "a=rtpmap:111 opus/48000/2\r\n"),
	             -EINVAL);
	cr_assert_eq(set_remote(h, "v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	                           "m=audio 4000 RTP/AVP 0\r\n"),
	             -EINVAL, "no connection address");
	cr_assert(sdh_rtp_has_description(h, "application/sdp", 10));
	cr_assert(sdh_rtp_has_description(h, "Application/SDP; charset=utf-8", 10));
	cr_assert_not(sdh_rtp_has_description(h, "application/sdpx", 10));
	cr_assert_not(sdh_rtp_has_description(h, "application/sdp", 0));
	sdh_rtp_free(h);
}

Test(sdh_rtp, remote_answer_completes_our_offer)
{
	struct sdh_rtp *h = new_leg();
	sdp_free(local_desc(h, NULL));
	/* a codec we did not offer */
	cr_assert_eq(set_remote(h, AUDIO_PEER("4000", "96") "a=rtpmap:96 G722/8000\r\n"), -ENOTSUP);
	/* our stream refused with port 0 */
	cr_assert_eq(set_remote(h, AUDIO_PEER("0", "0")), -ENOTSUP);
	/* two m= lines answer a one-line offer: refused */
	cr_assert_eq(set_remote(h, AUDIO_PEER("4000", "0") "m=video 0 RTP/AVP 96\r\n"), -ENOTSUP);
	cr_assert_eq(set_remote(h, AUDIO_PEER("4000", "8 101") "a=rtpmap:101 telephone-event/8000\r\n"),
	             0);
	/* stable: DTMF has its payload type now */
	cr_assert_eq(sdh_rtp_send_dtmf(h, '1', 100), 0);
	/* and the next description is a new offer */
	struct sdp_session *s = local_desc(h, NULL);
	assert_formats(&s->media[0], "0 8 9 111 101");
	sdp_free(s);
	sdh_rtp_free(h);
}

Test(sdh_rtp, rollback_forgets_pending_offers)
{
	struct sdh_rtp *h = new_leg();
	sdp_free(local_desc(h, NULL));
	sdh_rtp_rollback_description(h);
	/* our offer was forgotten: this is an offer, not an answer */
	cr_assert_eq(set_offer(h, 4000, "8", NULL), 0);
	sdh_rtp_rollback_description(h);
	/* the remote offer was forgotten too: we offer again */
	struct sdp_session *s = local_desc(h, NULL);
	assert_formats(&s->media[0], "0 8 9 111 101");
	sdp_free(s);
	sdh_rtp_free(h);
}

Test(sdh_rtp, rtcp_mux_is_answered_when_offered)
{
	struct sdh_rtp *h = new_leg();
	cr_assert_eq(set_offer(h, 4000, "0", "a=rtcp-mux\r\n"), 0);
	struct sdp_session *s = local_desc(h, NULL);
	cr_assert_not_null(sdp_media_attr(&s->media[0], SDP_ATTR_RTCP_MUX, NULL));
	sdp_free(s);
	sdh_rtp_free(h);
}

Test(sdh_rtp, offer_like_carries_the_other_legs_codecs)
{
	struct sdh_rtp *browser = new_leg(), *pbx = new_leg();
	cr_assert_eq(sdh_rtp_offer_like(pbx, browser), -ENOENT);
	cr_assert_eq(set_offer(browser, 4000, "111 63 0 8 18 126",
	                       "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
	                       "a=rtpmap:63 red/48000/2\r\na=rtpmap:18 G729/8000\r\n"
	                       "a=rtpmap:126 telephone-event/8000\r\n"),
	             0);
	cr_assert_eq(sdh_rtp_offer_like(pbx, browser), 0);
	struct sdp_session *s = local_desc(pbx, NULL);
	/* the browser's numbers, in the configured order (PCMU, PCMA, G722, opus) */
	assert_formats(&s->media[0], "0 8 111 126");
	struct sdp_codec c;
	cr_assert_eq(sdp_media_find_codec(&s->media[0], "opus", 48000, &c), 0);
	cr_assert_str_eq(c.fmtp, "minptime=10;useinbandfec=1");
	sdp_free(s);

	/* the PBX picks PCMA and DTMF: the browser's answer keeps only those */
	cr_assert_eq(set_remote(pbx, AUDIO_PEER("4002", "8 126")
	                             "a=rtpmap:126 telephone-event/8000\r\n"),
	             0);
	cr_assert_eq(sdh_rtp_answer_like(browser, pbx), 0);
	s = local_desc(browser, NULL);
	assert_formats(&s->media[0], "8 126");
	sdp_free(s);

	sdh_rtp_offer_default(pbx);
	s = local_desc(pbx, NULL);
	assert_formats(&s->media[0], "0 8 9 111 101");
	sdp_free(s);
	sdh_rtp_free(browser);
	sdh_rtp_free(pbx);
}

Test(sdh_rtp, offer_like_follows_the_configured_order_and_adds_telephone_event)
{
	static const char *const opus_first[] = {"opus", "PCMA", "telephone-event", NULL};
	struct sdh_rtp_ctx *c = make_ctx((uint16_t)(base_port + 40), (uint16_t)(base_port + 49),
	                                 opus_first);
	struct sdh_rtp *browser = new_leg(), *pbx = NULL;
	cr_assert_eq(sdh_rtp_new(c, NULL, &pbx), 0);
	cr_assert_eq(set_offer(browser, 4000, "8 111", "a=rtpmap:111 opus/48000/2\r\n"), 0);
	cr_assert_eq(sdh_rtp_offer_like(pbx, browser), 0);
	struct sdp_session *s = local_desc(pbx, NULL);
	assert_formats(&s->media[0], "111 8 101");
	sdp_free(s);
	sdh_rtp_free(browser);
	sdh_rtp_free(pbx);
	sdh_rtp_ctx_unref(c);
}

/* ---- port pairs ---- */

Test(sdh_rtp, pairs_are_even_distinct_and_not_reused_at_once)
{
	struct sdh_rtp *h[4];
	for (int i = 0; i < 4; i++) {
		h[i] = new_leg();
		cr_assert_eq(sdh_rtp_port(h[i]) % 2, 0);
		cr_assert_geq(sdh_rtp_port(h[i]), base_port);
		cr_assert_leq(sdh_rtp_port(h[i]) + 1, base_port + 39);
		for (int j = 0; j < i; j++)
			cr_assert_neq(sdh_rtp_port(h[i]), sdh_rtp_port(h[j]));
	}
	cr_assert_eq(sdh_rtp_ctx_pairs_in_use(ctx), 4);
	uint16_t freed = sdh_rtp_port(h[1]);
	sdh_rtp_free(h[1]);
	cr_assert_eq(sdh_rtp_ctx_pairs_in_use(ctx), 3);
	h[1] = new_leg();
	cr_assert_neq(sdh_rtp_port(h[1]), freed);
	for (int i = 0; i < 4; i++)
		sdh_rtp_free(h[i]);
	cr_assert_eq(sdh_rtp_ctx_pairs_in_use(ctx), 0);
}

static int bound_udp(const char *ip, uint16_t port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, ip, &a.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

Test(sdh_rtp, range_exhaustion_ports_in_use_and_release)
{
	uint16_t b = (uint16_t)(base_port + 50);
	/* an odd minimum starts at the even port above it */
	struct sdh_rtp_ctx *c2 = make_ctx((uint16_t)(b - 1), (uint16_t)(b + 5), NULL);
	/* someone else holds the first RTCP port: that pair is skipped */
	int squatter = bound_udp("127.0.0.1", (uint16_t)(b + 1));
	cr_assert_geq(squatter, 0);
	struct sdh_rtp *x = NULL, *y = NULL, *z = NULL;
	cr_assert_eq(sdh_rtp_new(c2, NULL, &x), 0);
	cr_assert_eq(sdh_rtp_port(x), b + 2);
	cr_assert_eq(sdh_rtp_new(c2, NULL, &y), 0);
	cr_assert_eq(sdh_rtp_port(y), b + 4);
	cr_assert_eq(sdh_rtp_new(c2, NULL, &z), -EADDRINUSE);
	cr_assert_null(z);
	close(squatter);
	cr_assert_eq(sdh_rtp_new(c2, NULL, &z), 0);
	cr_assert_eq(sdh_rtp_port(z), b);
	sdh_rtp_free(y);
	struct sdh_rtp *w = NULL;
	cr_assert_eq(sdh_rtp_new(c2, NULL, &w), 0);
	cr_assert_eq(sdh_rtp_port(w), b + 4);
	sdh_rtp_free(w);
	sdh_rtp_free(x);
	sdh_rtp_free(z);
	sdh_rtp_ctx_unref(c2);
}

Test(sdh_rtp, context_parameters_are_checked)
{
	struct sdh_rtp_ctx *c = NULL;
	uint16_t b = (uint16_t)(base_port + 60);
	struct sdh_rtp_ctx_params p = {.loop = loop, .address = "127.0.0.1", .port_min = b, .port_max = (uint16_t)(b + 1)};
	p.address = "gateway.example.com";
	cr_assert_eq(sdh_rtp_ctx_new(&p, &c), -EINVAL);
	p.address = "127.0.0.1";
	p.port_min = (uint16_t)(b + 1);
	cr_assert_eq(sdh_rtp_ctx_new(&p, &c), -EINVAL, "no pair in b+2..b+1");
	p.port_min = b;
	const char *const bad[] = {"PCMU", "G729", NULL};
	p.codecs = bad;
	cr_assert_eq(sdh_rtp_ctx_new(&p, &c), -EINVAL);
	const char *const only_te[] = {"telephone-event", NULL};
	p.codecs = only_te;
	cr_assert_eq(sdh_rtp_ctx_new(&p, &c), -EINVAL);
	p.codecs = NULL;
	p.bind_address = "nowhere";
	cr_assert_eq(sdh_rtp_ctx_new(&p, &c), -EINVAL);
	p.bind_address = NULL;
	p.address = "::1";
	cr_assert_eq(sdh_rtp_ctx_new(&p, &c), 0);
	struct sdh_rtp *h = NULL;
	cr_assert_eq(sdh_rtp_new(c, NULL, &h), 0);
	struct sdp_session *s = local_desc(h, NULL);
	cr_assert_str_eq(s->conn.addrtype, "IP6");
	cr_assert_str_eq(s->conn.address, "::1");
	sdp_free(s);
	/* "::" is dual-stack: an IPv4 peer is fine */
	cr_assert_eq(set_offer(h, 4000, "0", NULL), 0);
	sdh_rtp_free(h);
	sdh_rtp_ctx_unref(c);
}

/* ---- media ---- */

struct peer {
	int fd;
	uint16_t port;
};

static struct peer peer_new(const char *ip)
{
	struct peer p;
	p.fd = bound_udp(ip, 0);
	cr_assert_geq(p.fd, 0);
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	getsockname(p.fd, (struct sockaddr *)&a, &l);
	p.port = ntohs(a.sin_port);
	return p;
}

static void peer_send(const struct peer *p, uint16_t to_port, const void *buf, size_t len)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(to_port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	cr_assert_eq(sendto(p->fd, buf, len, 0, (struct sockaddr *)&a, sizeof(a)), (ssize_t)len);
}

/* Iterate the loop until p has a datagram (returns its length and source
 * port) or timeout_ms passes (returns -1). */
static ssize_t peer_recv(const struct peer *p, void *buf, size_t size, unsigned timeout_ms,
                         uint16_t *from_port)
{
	gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	for (;;) {
		struct sockaddr_in a;
		socklen_t l = sizeof(a);
		ssize_t n = recvfrom(p->fd, buf, size, MSG_DONTWAIT, (struct sockaddr *)&a, &l);
		if (n >= 0) {
			if (from_port)
				*from_port = ntohs(a.sin_port);
			return n;
		}
		if (g_get_monotonic_time() > end)
			return -1;
		g_main_context_iteration(loop, FALSE);
		g_usleep(200);
	}
}

static void pump(unsigned ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
	while (g_get_monotonic_time() < end) {
		g_main_context_iteration(loop, FALSE);
		g_usleep(200);
	}
}

static size_t rtp_packet(uint8_t *b, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc,
                         const char *payload)
{
	b[0] = 0x80;
	b[1] = pt;
	b[2] = (uint8_t)(seq >> 8);
	b[3] = (uint8_t)seq;
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
	size_t n = strlen(payload);
	memcpy(b + 12, payload, n);
	return 12 + n;
}

/* An RR with no report blocks. */
static size_t rtcp_rr(uint8_t *b, uint32_t ssrc)
{
	b[0] = 0x80;
	b[1] = 201;
	b[2] = 0;
	b[3] = 1;
	for (int i = 0; i < 4; i++)
		b[4 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	return 8;
}

/* A leg answered to a peer offering PCMU + telephone-event from p's port. */
static struct sdh_rtp *answered_leg(const struct peer *p, const char *dir)
{
	struct sdh_rtp *h = new_leg();
	char attrs[128];
	snprintf(attrs, sizeof(attrs), "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=%s\r\n",
	         dir ? dir : "sendrecv");
	cr_assert_eq(set_offer(h, p->port, "0 101", attrs), 0);
	sdp_free(local_desc(h, NULL));
	return h;
}

Test(sdh_rtp, bridge_relays_rtp_unchanged_both_ways)
{
	struct peer pa = peer_new("127.0.0.1"), pb = peer_new("127.0.0.1");
	struct sdh_rtp *a = answered_leg(&pa, NULL), *b = answered_leg(&pb, NULL);
	cr_assert_eq(sdh_rtp_bridge(a, b), 0);
	uint8_t pkt[256], got[256];
	size_t n = rtp_packet(pkt, 0, 1000, 160, 0x11223344, "hello from a's peer");
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	uint16_t from = 0;
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 1000, &from), (ssize_t)n);
	cr_assert_eq(memcmp(got, pkt, n), 0);
	cr_assert_eq(from, sdh_rtp_port(b), "sent from b's own port");

	size_t m = rtp_packet(pkt, 0, 7, 0, 0xabcdef01, "and back from b's peer!");
	peer_send(&pb, sdh_rtp_port(b), pkt, m);
	cr_assert_eq(peer_recv(&pa, got, sizeof(got), 1000, &from), (ssize_t)m);
	cr_assert_eq(memcmp(got, pkt, m), 0);
	cr_assert_eq(from, sdh_rtp_port(a));

	struct sdh_rtp_stats sa, sb;
	sdh_rtp_get_stats(a, &sa);
	sdh_rtp_get_stats(b, &sb);
	cr_assert_eq(sa.rx_packets, 1);
	cr_assert_eq(sa.rx_bytes, n);
	cr_assert_eq(sa.tx_packets, 1);
	cr_assert_eq(sa.tx_bytes, m);
	cr_assert_eq(sb.rx_packets, 1);
	cr_assert_eq(sb.rx_bytes, m);
	cr_assert_eq(sb.tx_packets, 1);
	cr_assert_eq(sb.tx_bytes, n);
	cr_assert_eq(sa.dropped + sb.dropped, 0);
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	close(pa.fd);
	close(pb.fd);
}

Test(sdh_rtp, bridge_relays_a_burst_in_order)
{
	struct peer pa = peer_new("127.0.0.1"), pb = peer_new("127.0.0.1");
	struct sdh_rtp *a = answered_leg(&pa, NULL), *b = answered_leg(&pb, NULL);
	cr_assert_eq(sdh_rtp_bridge(a, b), 0);
	uint8_t pkt[256], got[256];
	/* more than one recvmmsg batch */
	for (uint16_t i = 0; i < 100; i++) {
		size_t n = rtp_packet(pkt, 0, i, i * 160u, 42, "burst");
		peer_send(&pa, sdh_rtp_port(a), pkt, n);
	}
	for (uint16_t i = 0; i < 100; i++) {
		cr_assert_eq(peer_recv(&pb, got, sizeof(got), 1000, NULL), 17);
		struct rtp_view v;
		cr_assert_eq(rtp_parse(got, 17, &v), 0);
		cr_assert_eq(v.seq, i);
	}
	struct sdh_rtp_stats sb;
	sdh_rtp_get_stats(b, &sb);
	cr_assert_eq(sb.tx_packets, 100);
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	close(pa.fd);
	close(pb.fd);
}

Test(sdh_rtp, rtcp_goes_between_the_odd_ports)
{
	struct peer pa = peer_new("127.0.0.1"), pb = peer_new("127.0.0.1");
	/* RTCP sockets of the peers: the SDP says RTP port + 1 */
	int ra = bound_udp("127.0.0.1", (uint16_t)(pa.port + 1));
	int rb = bound_udp("127.0.0.1", (uint16_t)(pb.port + 1));
	if (ra < 0 || rb < 0)
		cr_skip_test("port above an ephemeral port is taken");
	struct peer rpa = {ra, (uint16_t)(pa.port + 1)}, rpb = {rb, (uint16_t)(pb.port + 1)};
	struct sdh_rtp *a = answered_leg(&pa, NULL), *b = answered_leg(&pb, NULL);
	cr_assert_eq(sdh_rtp_bridge(a, b), 0);
	uint8_t pkt[64], got[64];
	size_t n = rtcp_rr(pkt, 0x51);
	peer_send(&rpa, (uint16_t)(sdh_rtp_port(a) + 1), pkt, n);
	uint16_t from = 0;
	cr_assert_eq(peer_recv(&rpb, got, sizeof(got), 1000, &from), (ssize_t)n);
	cr_assert_eq(memcmp(got, pkt, n), 0);
	cr_assert_eq(from, sdh_rtp_port(b) + 1);
	n = rtcp_rr(pkt, 0x52);
	peer_send(&rpb, (uint16_t)(sdh_rtp_port(b) + 1), pkt, n);
	cr_assert_eq(peer_recv(&rpa, got, sizeof(got), 1000, &from), (ssize_t)n);
	cr_assert_eq(from, sdh_rtp_port(a) + 1);
	/* RTCP sent to an RTP port without rtcp-mux is not relayed */
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 100, NULL), -1);
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	close(pa.fd);
	close(pb.fd);
	close(ra);
	close(rb);
}

Test(sdh_rtp, rtcp_mux_leg_gets_rtcp_on_its_rtp_port)
{
	struct peer pa = peer_new("127.0.0.1"), pb = peer_new("127.0.0.1");
	struct sdh_rtp *a = new_leg();
	cr_assert_eq(set_offer(a, pa.port, "0", "a=rtcp-mux\r\n"), 0);
	sdp_free(local_desc(a, NULL));
	struct sdh_rtp *b = new_leg();
	cr_assert_eq(set_offer(b, pb.port, "0", "a=rtcp-mux\r\n"), 0);
	sdp_free(local_desc(b, NULL));
	cr_assert_eq(sdh_rtp_bridge(a, b), 0);
	uint8_t pkt[64], got[64];
	size_t n = rtcp_rr(pkt, 0x61);
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	uint16_t from;
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 1000, &from), (ssize_t)n);
	cr_assert_eq(from, sdh_rtp_port(b));
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	close(pa.fd);
	close(pb.fd);
}

Test(sdh_rtp, held_direction_is_dropped)
{
	struct peer pa = peer_new("127.0.0.1"), pb = peer_new("127.0.0.1");
	/* b's peer is sendonly (it holds us): nothing goes to it */
	struct sdh_rtp *a = answered_leg(&pa, NULL), *b = answered_leg(&pb, "sendonly");
	cr_assert_eq(sdh_rtp_bridge(a, b), 0);
	uint8_t pkt[64], got[64];
	size_t n = rtp_packet(pkt, 0, 1, 0, 1, "music");
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 150, NULL), -1);
	/* its music on hold still reaches a's peer */
	peer_send(&pb, sdh_rtp_port(b), pkt, n);
	cr_assert_eq(peer_recv(&pa, got, sizeof(got), 1000, NULL), (ssize_t)n);
	struct sdh_rtp_stats sa, sb;
	sdh_rtp_get_stats(a, &sa);
	cr_assert_eq(sa.rx_packets, 1);
	cr_assert_eq(sa.dropped, 1);
	cr_assert_not(sa.held);
	/* b's peer holds: it may send (music), nothing says it must */
	sdh_rtp_get_stats(b, &sb);
	cr_assert(sb.peer_sends);
	cr_assert(sb.held);
	/* a re-INVITE takes the hold off */
	cr_assert_eq(set_offer(b, pb.port, "0", "a=sendrecv\r\n"), 0);
	sdp_free(local_desc(b, NULL));
	sdh_rtp_get_stats(b, &sb);
	cr_assert(sb.peer_sends);
	cr_assert_not(sb.held);
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 1000, NULL), (ssize_t)n);
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	close(pa.fd);
	close(pb.fd);
}

Test(sdh_rtp, our_hold_answer_drops_what_the_peer_sends)
{
	struct peer pa = peer_new("127.0.0.1"), pb = peer_new("127.0.0.1");
	struct sdh_rtp *a = new_leg();
	cr_assert_eq(set_offer(a, pa.port, "0", "a=sendonly\r\n"), 0);
	/* we hold too: inactive, nothing either way */
	sdp_free(local_desc(a, &(struct sdh_rtp_options){.hold = true}));
	struct sdh_rtp *b = answered_leg(&pb, NULL);
	cr_assert_eq(sdh_rtp_bridge(a, b), 0);
	uint8_t pkt[64], got[64];
	size_t n = rtp_packet(pkt, 0, 1, 0, 1, "x");
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	peer_send(&pb, sdh_rtp_port(b), pkt, n);
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 100, NULL), -1);
	cr_assert_eq(peer_recv(&pa, got, sizeof(got), 100, NULL), -1);
	struct sdh_rtp_stats sa;
	sdh_rtp_get_stats(a, &sa);
	cr_assert_not(sa.peer_sends);
	cr_assert(sa.held);
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	close(pa.fd);
	close(pb.fd);
}

Test(sdh_rtp, latches_onto_the_source_the_peer_sends_from)
{
	struct peer pa = peer_new("127.0.0.1"), pb = peer_new("127.0.0.1");
	/* a's peer announces a port it does not use (behind NAT) */
	struct peer announced = peer_new("127.0.0.1");
	struct sdh_rtp *a = answered_leg(&announced, NULL), *b = answered_leg(&pb, NULL);
	cr_assert_eq(sdh_rtp_bridge(a, b), 0);
	uint8_t pkt[64], got[64];
	size_t n = rtp_packet(pkt, 0, 1, 0, 9, "nat");
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 1000, NULL), (ssize_t)n);
	/* the answer goes to where a's peer really is */
	peer_send(&pb, sdh_rtp_port(b), pkt, n);
	cr_assert_eq(peer_recv(&pa, got, sizeof(got), 1000, NULL), (ssize_t)n);
	cr_assert_eq(peer_recv(&announced, got, sizeof(got), 50, NULL), -1);
	/* once latched, another source is not followed */
	struct peer intruder = peer_new("127.0.0.1");
	peer_send(&intruder, sdh_rtp_port(a), pkt, n);
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 100, NULL), -1);
	struct sdh_rtp_stats sa;
	sdh_rtp_get_stats(a, &sa);
	cr_assert_eq(sa.dropped, 1);
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	close(pa.fd);
	close(pb.fd);
	close(announced.fd);
	close(intruder.fd);
}

Test(sdh_rtp, other_host_latches_only_with_an_agreed_payload_type)
{
	struct peer pb = peer_new("127.0.0.1");
	struct peer elsewhere = peer_new("127.0.0.2");
	struct sdh_rtp *a = answered_leg(&pb /* the SDP names 127.0.0.1 */, NULL);
	struct sdh_rtp *b = answered_leg(&pb, NULL);
	cr_assert_eq(sdh_rtp_bridge(a, b), 0);
	uint8_t pkt[64], got[64];
	/* PCMA (8) was not agreed: not from the peer */
	size_t n = rtp_packet(pkt, 8, 1, 0, 9, "spoof");
	peer_send(&elsewhere, sdh_rtp_port(a), pkt, n);
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 100, NULL), -1);
	/* PCMU (0) was: latch */
	n = rtp_packet(pkt, 0, 2, 0, 9, "real");
	peer_send(&elsewhere, sdh_rtp_port(a), pkt, n);
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 1000, NULL), (ssize_t)n);
	peer_send(&pb, sdh_rtp_port(b), pkt, n);
	cr_assert_eq(peer_recv(&elsewhere, got, sizeof(got), 1000, NULL), (ssize_t)n);
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	close(pb.fd);
	close(elsewhere.fd);
}

Test(sdh_rtp, invalid_packets_and_unbridged_legs_drop)
{
	struct peer pa = peer_new("127.0.0.1"), pb = peer_new("127.0.0.1");
	struct sdh_rtp *a = answered_leg(&pa, NULL), *b = answered_leg(&pb, NULL);
	uint8_t pkt[64], got[64];
	size_t n = rtp_packet(pkt, 0, 1, 0, 9, "x");
	/* not bridged yet */
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	pump(50);
	cr_assert_eq(sdh_rtp_bridge(a, b), 0);
	/* a STUN-looking datagram, an RTP version 1 packet, a truncated header */
	const uint8_t stun[20] = {0x00, 0x01};
	peer_send(&pa, sdh_rtp_port(a), stun, sizeof(stun));
	uint8_t v1[16];
	memcpy(v1, pkt, sizeof(v1));
	v1[0] = 0x40;
	peer_send(&pa, sdh_rtp_port(a), v1, sizeof(v1));
	peer_send(&pa, sdh_rtp_port(a), pkt, 6);
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 100, NULL), -1);
	sdh_rtp_unbridge(b);
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 100, NULL), -1);
	struct sdh_rtp_stats sa;
	sdh_rtp_get_stats(a, &sa);
	cr_assert_eq(sa.rx_packets, 5);
	cr_assert_eq(sa.dropped, 5);
	cr_assert_eq(sa.tx_packets, 0);
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	close(pa.fd);
	close(pb.fd);
}

Test(sdh_rtp, echo_sends_back_what_arrives)
{
	struct peer pa = peer_new("127.0.0.1");
	struct sdh_rtp *a = answered_leg(&pa, NULL);
	cr_assert_eq(sdh_rtp_echo(a), 0);
	uint8_t pkt[64], got[64];
	size_t n = rtp_packet(pkt, 0, 5, 800, 77, "echo echo");
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	uint16_t from = 0;
	cr_assert_eq(peer_recv(&pa, got, sizeof(got), 1000, &from), (ssize_t)n);
	cr_assert_eq(memcmp(got, pkt, n), 0);
	cr_assert_eq(from, sdh_rtp_port(a));
	struct sdh_rtp_stats s;
	sdh_rtp_get_stats(a, &s);
	cr_assert_eq(s.rx_packets, 1);
	cr_assert_eq(s.tx_packets, 1);
	cr_assert_eq(s.tx_bytes, n);
	sdh_rtp_free(a);
	close(pa.fd);
}

/* Read RFC 4733 packets until the third end packet; returns their count. */
static unsigned read_event(const struct peer *p, uint8_t want_pt, uint8_t want_event,
                           uint32_t want_samples, uint32_t *ssrc, uint16_t *last_seq)
{
	uint8_t got[64];
	unsigned count = 0, ends = 0;
	uint32_t ts = 0;
	uint16_t prev_dur = 0;
	while (ends < 3) {
		ssize_t n = peer_recv(p, got, sizeof(got), 1000, NULL);
		cr_assert_eq(n, 16, "event packet %u missing", count);
		struct rtp_view v;
		cr_assert_eq(rtp_parse(got, (size_t)n, &v), 0);
		cr_assert_eq(v.payload_type, want_pt);
		cr_assert_eq(v.payload_len, 4);
		const uint8_t *e = rtp_payload(&v);
		cr_assert_eq(e[0], want_event);
		bool end = e[1] & 0x80;
		uint16_t dur = (uint16_t)(e[2] << 8 | e[3]);
		if (count == 0) {
			cr_assert(v.marker, "the first packet has the marker");
			ts = v.timestamp;
			*ssrc = v.ssrc;
		} else {
			cr_assert_not(v.marker);
			cr_assert_eq(v.timestamp, ts, "one timestamp for the whole event");
			cr_assert_eq(v.ssrc, *ssrc);
			cr_assert_eq(v.seq, (uint16_t)(*last_seq + 1));
			cr_assert_geq(dur, prev_dur);
		}
		cr_assert_eq(e[1] & 0x3f, 10);
		if (end) {
			cr_assert_eq(dur, want_samples);
			ends++;
		} else {
			cr_assert_eq(ends, 0, "no update after an end packet");
		}
		*last_seq = v.seq;
		prev_dur = dur;
		count++;
	}
	return count;
}

Test(sdh_rtp, dtmf_sends_rfc4733_events)
{
	struct peer pa = peer_new("127.0.0.1");
	struct sdh_rtp *a = answered_leg(&pa, NULL);
	cr_assert_eq(sdh_rtp_send_dtmf(a, 'x', 100), -EINVAL);
	cr_assert_eq(sdh_rtp_send_dtmf(a, '#', 100), 0);
	cr_assert_eq(sdh_rtp_send_dtmf(a, '5', 60), 0);
	uint32_t ssrc = 0, ssrc2 = 0;
	uint16_t seq = 0;
	/* 100 ms at 8 kHz in 20 ms steps: 160 320 480 640, then 800 three times */
	cr_assert_eq(read_event(&pa, 101, 11, 800, &ssrc, &seq), 7);
	uint16_t seq_before = seq;
	cr_assert_eq(read_event(&pa, 101, 5, 480, &ssrc2, &seq), 5);
	cr_assert_eq(ssrc2, ssrc);
	(void)seq_before;
	struct sdh_rtp_stats s;
	sdh_rtp_get_stats(a, &s);
	cr_assert_eq(s.dtmf_packets, 12);
	cr_assert_eq(s.tx_packets, 12);
	sdh_rtp_free(a);
	close(pa.fd);
}

Test(sdh_rtp, dtmf_joins_the_relayed_stream)
{
	struct peer pa = peer_new("127.0.0.1"), pb = peer_new("127.0.0.1");
	struct sdh_rtp *a = answered_leg(&pa, NULL), *b = answered_leg(&pb, NULL);
	cr_assert_eq(sdh_rtp_bridge(a, b), 0);
	uint8_t pkt[64], got[64];
	size_t n = rtp_packet(pkt, 0, 500, 16000, 0xfeedbeef, "voice");
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 1000, NULL), (ssize_t)n);
	cr_assert_eq(sdh_rtp_send_dtmf(b, '7', 40), 0);
	uint32_t ssrc = 0;
	uint16_t seq = 500;
	/* 40 ms: 160, then 320 three times */
	cr_assert_eq(read_event(&pb, 101, 7, 320, &ssrc, &seq), 4);
	cr_assert_eq(ssrc, 0xfeedbeef);
	cr_assert_eq(seq, 504);
	/* the voice after the event continues the numbering */
	pump(30);
	n = rtp_packet(pkt, 0, 501, 16160, 0xfeedbeef, "voice");
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	cr_assert_eq(peer_recv(&pb, got, sizeof(got), 1000, NULL), (ssize_t)n);
	struct rtp_view v;
	cr_assert_eq(rtp_parse(got, (size_t)n, &v), 0);
	cr_assert_eq(v.seq, 505);
	cr_assert_eq(v.ssrc, 0xfeedbeef);
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	close(pa.fd);
	close(pb.fd);
}

Test(sdh_rtp, dtmf_needs_telephone_event)
{
	struct peer pa = peer_new("127.0.0.1");
	struct sdh_rtp *a = new_leg();
	cr_assert_eq(sdh_rtp_send_dtmf(a, '1', 100), -ENOTSUP, "no media yet");
	cr_assert_eq(set_offer(a, pa.port, "0", NULL), 0);
	sdp_free(local_desc(a, NULL));
	cr_assert_eq(sdh_rtp_send_dtmf(a, '1', 100), -ENOTSUP);
	sdh_rtp_free(a);
	close(pa.fd);
}

Test(sdh_rtp, close_releases_everything)
{
	struct peer pa = peer_new("127.0.0.1"), pb = peer_new("127.0.0.1");
	struct sdh_rtp *a = answered_leg(&pa, NULL), *b = answered_leg(&pb, NULL);
	cr_assert_eq(sdh_rtp_bridge(a, b), 0);
	cr_assert_eq(sdh_rtp_send_dtmf(a, '1', 1000), 0);
	uint16_t port = sdh_rtp_port(a);
	cr_assert_eq(sdh_rtp_ctx_pairs_in_use(ctx), 2);
	sdh_rtp_close(a);
	sdh_rtp_close(a); /* once is enough; twice is harmless */
	cr_assert_eq(sdh_rtp_ctx_pairs_in_use(ctx), 1);
	cr_assert_eq(sdh_rtp_port(a), 0);
	/* the ports are free for anyone */
	int r1 = bound_udp("127.0.0.1", port), r2 = bound_udp("127.0.0.1", (uint16_t)(port + 1));
	cr_assert_geq(r1, 0);
	cr_assert_geq(r2, 0);
	close(r1);
	close(r2);
	char buf[1024];
	size_t len;
	cr_assert_eq(sdh_rtp_get_description(a, NULL, buf, sizeof(buf), &len, NULL), -EBADF);
	cr_assert_eq(set_offer(a, 4000, "0", NULL), -EBADF);
	cr_assert_eq(sdh_rtp_send_dtmf(a, '1', 100), -EBADF);
	cr_assert_eq(sdh_rtp_bridge(a, b), -EBADF);
	cr_assert_eq(sdh_rtp_echo(a), -EBADF);
	/* b left the bridge: what its peer sends is dropped */
	uint8_t pkt[64];
	size_t n = rtp_packet(pkt, 0, 1, 0, 1, "x");
	peer_send(&pb, sdh_rtp_port(b), pkt, n);
	pump(100);
	struct sdh_rtp_stats sb;
	sdh_rtp_get_stats(b, &sb);
	cr_assert_eq(sb.dropped, 1);
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	cr_assert_eq(sdh_rtp_ctx_pairs_in_use(ctx), 0);
	close(pa.fd);
	close(pb.fd);
}

Test(sdh_rtp, context_outlives_its_creator_reference)
{
	struct sdh_rtp *h = new_leg();
	struct sdh_rtp_ctx *c = ctx;
	sdh_rtp_ctx_ref(c);
	sdh_rtp_ctx_unref(ctx);
	ctx = NULL;
	/* the handler's reference keeps it */
	struct sdp_session *s = local_desc(h, NULL);
	cr_assert_eq(s->media[0].port, sdh_rtp_port(h));
	sdp_free(s);
	sdh_rtp_free(h);
	ctx = c;
}

/* ---- a transport of the handler's own (what the WebRTC leg plugs in) ---- */

/* Records what the handler asks of its transport; packets it is given to send
 * are kept, as the peer on the other side of ICE would get them. */
struct test_tp {
	int remote_calls, agreed_calls, closed;
	bool last_was_offer;
	char mid[16];
	bool refuse;
	uint8_t sent[8][256];
	size_t sent_len[8];
	bool sent_rtcp[8];
	unsigned n_sent;
};

static int ttp_remote(void *arg, const struct sdp_session *s, const struct sdp_media *m, bool offer)
{
	struct test_tp *t = arg;
	t->remote_calls++;
	t->last_was_offer = offer;
	cr_assert_str_eq(m->proto, "UDP/TLS/RTP/SAVPF");
	(void)s;
	return t->refuse ? -EINVAL : 0;
}

static void ttp_agreed(void *arg) { ((struct test_tp *)arg)->agreed_calls++; }

static void ttp_describe(void *arg, bool answer, const char *mid, uint16_t *port,
                         const char **address, GString *session_lines, GString *media_lines)
{
	struct test_tp *t = arg;
	snprintf(t->mid, sizeof t->mid, "%s", mid ? mid : "");
	*port = 9999;
	*address = "192.0.2.7";
	g_string_append(session_lines, "a=group:BUNDLE 0\r\n");
	g_string_append_printf(media_lines, "a=x-transport:%s\r\n", answer ? "answer" : "offer");
}

static int ttp_send(void *arg, uint8_t *buf, size_t len, size_t cap, bool rtcp)
{
	struct test_tp *t = arg;
	cr_assert_geq(cap, len + 20, "room for an SRTP trailer");
	if (t->n_sent == 8)
		return -ENOBUFS;
	memcpy(t->sent[t->n_sent], buf, len);
	t->sent_len[t->n_sent] = len;
	t->sent_rtcp[t->n_sent++] = rtcp;
	return 0;
}

static void ttp_close(void *arg) { ((struct test_tp *)arg)->closed++; }

static struct sdh_rtp *tp_leg(struct test_tp *t)
{
	struct sdh_rtp_transport tp = {
	    .proto = "UDP/TLS/RTP/SAVPF",
	    .remote = ttp_remote,
	    .agreed = ttp_agreed,
	    .describe = ttp_describe,
	    .send = ttp_send,
	    .close = ttp_close,
	    .arg = t,
	};
	struct sdh_rtp *h = NULL;
	cr_assert_eq(sdh_rtp_new(ctx, &(struct sdh_rtp_opts){.transport = &tp}, &h), 0);
	return h;
}

/* Chrome's offer in short: audio (opus, PCMU at 0, telephone-event 126)
 * and a video section, bundled. */
static const char chrome_like_offer[] =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 126\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=setup:actpass\r\n"
    "a=fingerprint:sha-256 00:11\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\na=sendrecv\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
    "a=rtpmap:96 VP8/90000\r\na=sendrecv\r\n";

Test(sdh_rtp, transport_leg_answers_in_its_profile_with_its_lines)
{
	struct test_tp t = {0};
	struct sdh_rtp *h = tp_leg(&t);
	cr_assert_eq(sdh_rtp_port(h), 0, "no port pair of its own");
	cr_assert_eq(set_remote(h, chrome_like_offer), 0);
	cr_assert_eq(t.remote_calls, 1);
	cr_assert(t.last_was_offer);
	cr_assert_eq(t.agreed_calls, 0, "not agreed before the answer");
	struct sdp_session *s = local_desc(h, NULL);
	cr_assert_eq(t.agreed_calls, 1);
	cr_assert_str_eq(t.mid, "0");
	cr_assert_eq(s->n_media, 2);
	cr_assert_str_eq(s->media[0].proto, "UDP/TLS/RTP/SAVPF");
	cr_assert_eq(s->media[0].port, 9999);
	cr_assert_str_eq(s->media[0].conn.address, "192.0.2.7");
	cr_assert_str_eq(sdp_media_attr(&s->media[0], SDP_ATTR_MID, NULL)->value, "0");
	cr_assert_str_eq(sdp_media_attr(&s->media[0], SDP_ATTR_OTHER, "x-transport")->value, "answer");
	cr_assert_not_null(sdp_media_attr(&s->media[0], SDP_ATTR_RTCP_MUX, NULL));
	cr_assert_not_null(sdp_session_attr(s, SDP_ATTR_GROUP, NULL));
	cr_assert_eq(s->media[1].port, 0, "video refused, not the call");
	cr_assert_str_eq(sdp_media_attr(&s->media[1], SDP_ATTR_MID, NULL)->value, "1",
	                 "a refused section keeps its mid");
	sdp_free(s);
	sdh_rtp_free(h);
	cr_assert_eq(t.closed, 1);
}

Test(sdh_rtp, transport_leg_refuses_plain_rtp_and_what_the_transport_refuses)
{
	struct test_tp t = {0};
	struct sdh_rtp *h = tp_leg(&t);
	cr_assert_eq(set_offer(h, 4000, "0", NULL), -EINVAL, "RTP/AVP is not its profile");
	t.refuse = true;
	cr_assert_eq(set_remote(h, chrome_like_offer), -EINVAL);
	cr_assert_eq(t.agreed_calls, 0);
	sdh_rtp_free(h);
}

Test(sdh_rtp, transport_leg_offers_its_profile_and_takes_the_answer)
{
	struct test_tp t = {0};
	struct sdh_rtp *h = tp_leg(&t);
	struct sdp_session *s = local_desc(h, NULL);
	cr_assert_str_eq(s->media[0].proto, "UDP/TLS/RTP/SAVPF");
	cr_assert_str_eq(sdp_media_attr(&s->media[0], SDP_ATTR_OTHER, "x-transport")->value, "offer");
	cr_assert_not_null(sdp_media_attr(&s->media[0], SDP_ATTR_RTCP_MUX, NULL), "always muxed");
	cr_assert_str_eq(sdp_media_attr(&s->media[0], SDP_ATTR_MID, NULL)->value, "0");
	sdp_free(s);
	const char answer[] = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	                      "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
	                      "a=rtcp-mux\r\na=sendrecv\r\n";
	cr_assert_eq(set_remote(h, answer), 0);
	cr_assert_not(t.last_was_offer);
	cr_assert_eq(t.agreed_calls, 1);
	sdh_rtp_free(h);
}

/* Packets from the transport reach a plain leg's peer, and the plain peer's
 * packets go out through the transport, with room for a trailer. */
Test(sdh_rtp, transport_leg_bridges_with_a_port_pair_leg)
{
	struct test_tp t = {0};
	struct sdh_rtp *w = tp_leg(&t);
	cr_assert_eq(set_remote(w, chrome_like_offer), 0);
	sdp_free(local_desc(w, NULL));
	struct peer pb = peer_new("127.0.0.1");
	struct sdh_rtp *b = answered_leg(&pb, NULL); /* PCMU 0, telephone-event 101 */
	cr_assert_eq(sdh_rtp_bridge(w, b), 0);

	uint8_t pkt[512], got[256];
	size_t n = rtp_packet(pkt, 0, 10, 160, 0x01020304, "from the browser");
	sdh_rtp_transport_recv(w, pkt, n, sizeof pkt);
	cr_assert_eq(peer_recv(&pb, got, sizeof got, 1000, NULL), (ssize_t)n);
	cr_assert_eq(memcmp(got, pkt, n), 0);

	/* telephone-event: 126 on the browser leg, 101 on the PBX leg */
	n = rtp_packet(pkt, 126, 11, 160, 0x01020304, "\x05\x0a\x00\xa0");
	sdh_rtp_transport_recv(w, pkt, n, sizeof pkt);
	cr_assert_eq(peer_recv(&pb, got, sizeof got, 1000, NULL), (ssize_t)n);
	cr_assert_eq(got[1] & 0x7f, 101, "renumbered to the PBX leg's payload type");
	n = rtp_packet(pkt, 111, 12, 960, 0x01020304, "opus: not agreed with the PBX");
	sdh_rtp_transport_recv(w, pkt, n, sizeof pkt);
	pump(50);

	size_t m = rtp_packet(pkt, 0, 500, 8000, 0xa0b0c0d0, "from the PBX");
	peer_send(&pb, sdh_rtp_port(b), pkt, m);
	pump(100);
	cr_assert_eq(t.n_sent, 1);
	cr_assert_eq(t.sent_len[0], m);
	cr_assert_not(t.sent_rtcp[0]);
	cr_assert_eq(memcmp(t.sent[0], pkt, m), 0);
	m = rtp_packet(pkt, 101, 501, 8000, 0xa0b0c0d0, "\x05\x0a\x00\xa0");
	peer_send(&pb, sdh_rtp_port(b), pkt, m);
	m = rtcp_rr(pkt, 0xa0b0c0d0);
	peer_send(&pb, (uint16_t)(sdh_rtp_port(b) + 1), pkt, m);
	pump(100);
	cr_assert_eq(t.n_sent, 3);
	cr_assert_eq(t.sent[1][1] & 0x7f, 126, "renumbered to the browser leg's payload type");
	cr_assert(t.sent_rtcp[2], "RTCP goes out as RTCP on the muxed transport");

	struct sdh_rtp_stats sw, sb;
	sdh_rtp_get_stats(w, &sw);
	sdh_rtp_get_stats(b, &sb);
	cr_assert_eq(sw.rx_packets, 3);
	cr_assert_eq(sw.dropped, 1, "the codec the PBX did not agree");
	cr_assert_eq(sb.pt_mapped, 1);
	cr_assert_eq(sw.pt_mapped, 1);
	cr_assert_eq(sw.tx_packets, 3);
	cr_assert(sw.peer_sends);
	cr_assert_gt(sw.last_rx_us, 0);
	sdh_rtp_free(w);
	sdh_rtp_free(b);
	close(pb.fd);
}

Test(sdh_rtp, transport_leg_echo_goes_back_through_the_transport)
{
	struct test_tp t = {0};
	struct sdh_rtp *w = tp_leg(&t);
	cr_assert_eq(set_remote(w, chrome_like_offer), 0);
	sdp_free(local_desc(w, NULL));
	cr_assert_eq(sdh_rtp_echo(w), 0);
	uint8_t pkt[512];
	size_t n = rtp_packet(pkt, 111, 1, 960, 0x99, "opus frame");
	sdh_rtp_transport_recv(w, pkt, n, sizeof pkt);
	cr_assert_eq(t.n_sent, 1);
	cr_assert_eq(memcmp(t.sent[0], pkt, n), 0, "unchanged, payload type included");
	sdh_rtp_free(w);
}

/* ---- one outgoing stream whatever feeds it ---- */

static uint16_t seq_of(const uint8_t *b) { return (uint16_t)(b[2] << 8 | b[3]); }
static uint32_t be32_at(const uint8_t *b) { return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]; }

static void put_be32(uint8_t *b, uint32_t x)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(x >> (24 - 8 * i));
}

/* A new source on one leg (a transfer, a re-INVITE toward another endpoint)
 * reaches the other leg's peer as the same SSRC, numbered on and later in
 * time, marked; the first source went out untouched. */
Test(sdh_rtp, a_new_source_continues_the_outgoing_stream)
{
	struct peer pa = peer_new("127.0.0.1"), pb = peer_new("127.0.0.1");
	struct sdh_rtp *a = answered_leg(&pa, NULL), *b = answered_leg(&pb, NULL);
	cr_assert_eq(sdh_rtp_bridge(a, b), 0);
	uint8_t pkt[256], got[256];
	size_t n = 0;
	for (uint16_t i = 0; i < 3; i++) {
		n = rtp_packet(pkt, 0, (uint16_t)(65534 + i), 1000 + 160u * i, 0x1111, "first source");
		peer_send(&pa, sdh_rtp_port(a), pkt, n);
		cr_assert_eq(peer_recv(&pb, got, sizeof got, 1000, NULL), (ssize_t)n);
		cr_assert_eq(memcmp(got, pkt, n), 0, "the first source goes out unchanged");
	}
	g_usleep(40000); /* 40 ms: 320 samples at 8000 Hz */
	n = rtp_packet(pkt, 0, 500, 90000, 0x2222, "second source");
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	cr_assert_eq(peer_recv(&pb, got, sizeof got, 1000, NULL), (ssize_t)n);
	cr_assert_eq(be32_at(got + 8), 0x1111, "the stream's SSRC");
	cr_assert_eq(seq_of(got), 1, "numbered after 65534, 65535, 0");
	uint32_t ts = be32_at(got + 4);
	uint32_t after = ts - (1000 + 320);
	cr_assert(after >= 320 && after < 8000, "timed after the last packet: +%u", after);
	cr_assert(got[1] & 0x80, "marked");
	cr_assert_eq(memcmp(got + 12, "second source", 13), 0);
	n = rtp_packet(pkt, 0, 501, 90160, 0x2222, "second source");
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	cr_assert_eq(peer_recv(&pb, got, sizeof got, 1000, NULL), (ssize_t)n);
	cr_assert_eq(seq_of(got), 2);
	cr_assert_eq(be32_at(got + 4), ts + 160);
	cr_assert_not(got[1] & 0x80);
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	close(pa.fd);
	close(pb.fd);
}

/* A leg answered to a peer offering PCMU with rtcp-mux from p's port. */
static struct sdh_rtp *muxed_leg(const struct peer *p)
{
	struct sdh_rtp *h = new_leg();
	cr_assert_eq(set_offer(h, p->port, "0", "a=rtcp-mux\r\na=sendrecv\r\n"), 0);
	sdp_free(local_desc(h, NULL));
	return h;
}

/* RTCP between the legs speaks of the streams as each peer knows them. */
Test(sdh_rtp, rtcp_is_translated_to_the_streams_each_peer_knows)
{
	struct peer pa = peer_new("127.0.0.1"), pb = peer_new("127.0.0.1");
	struct sdh_rtp *a = muxed_leg(&pa), *b = muxed_leg(&pb);
	cr_assert_eq(sdh_rtp_bridge(a, b), 0);
	uint8_t pkt[256], got[256];
	/* pa's peer sends as 0x1111, then a new source 0x2222 takes over */
	size_t n = rtp_packet(pkt, 0, 100, 1000, 0x1111, "x");
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	cr_assert_gt(peer_recv(&pb, got, sizeof got, 1000, NULL), 0);
	n = rtp_packet(pkt, 0, 7000, 50000, 0x2222, "y");
	peer_send(&pa, sdh_rtp_port(a), pkt, n);
	cr_assert_gt(peer_recv(&pb, got, sizeof got, 1000, NULL), 0);
	uint16_t b_seq = seq_of(got); /* 101: what pb's peer saw */
	uint32_t b_ts = be32_at(got + 4);
	/* pb's peer sends 0x3333 */
	n = rtp_packet(pkt, 0, 40, 4000, 0x3333, "z");
	peer_send(&pb, sdh_rtp_port(b), pkt, n);
	cr_assert_gt(peer_recv(&pa, got, sizeof got, 1000, NULL), 0);

	/* an SR from the 0x2222 source, with a report block about 0x3333 */
	uint8_t sr[8 + 20 + 24] = {0x81, 200, 0, 12};
	put_be32(sr + 4, 0x2222);
	put_be32(sr + 16, 50000 + 160); /* its RTP time */
	put_be32(sr + 28, 0x3333);
	put_be32(sr + 36, 40);          /* extended highest sequence */
	peer_send(&pa, sdh_rtp_port(a), sr, sizeof sr);
	cr_assert_eq(peer_recv(&pb, got, sizeof got, 1000, NULL), (ssize_t)sizeof sr);
	cr_assert_eq(be32_at(got + 4), 0x1111, "the sender as pb's peer knows it");
	cr_assert_eq(be32_at(got + 16), b_ts + 160, "its RTP time on the stream's timeline");
	cr_assert_eq(be32_at(got + 28), 0x3333, "pb's peer's own stream");

	/* an RR from pb's peer about 0x1111 (what it saw) goes to pa's peer
	 * about the source that is sending now, numbered as it numbered them */
	uint8_t rr[8 + 24] = {0x81, 201, 0, 7};
	put_be32(rr + 4, 0x3333);
	put_be32(rr + 8, 0x1111);
	put_be32(rr + 16, b_seq);
	peer_send(&pb, sdh_rtp_port(b), rr, sizeof rr);
	cr_assert_eq(peer_recv(&pa, got, sizeof got, 1000, NULL), (ssize_t)sizeof rr);
	cr_assert_eq(be32_at(got + 4), 0x3333, "b relays 0x3333 as itself");
	cr_assert_eq(be32_at(got + 8), 0x2222, "the source now sending");
	cr_assert_eq(be32_at(got + 16), 7000, "its own sequence number");
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	close(pa.fd);
	close(pb.fd);
}

/* ---- DTMF the other end cannot carry ---- */

struct heard {
	char tones[8];
	unsigned n, last_ms;
};

static void on_heard(void *arg, char tone, unsigned ms)
{
	struct heard *h = arg;
	if (h->n < sizeof h->tones - 1)
		h->tones[h->n++] = tone;
	h->last_ms = ms;
}

Test(sdh_rtp, events_the_other_end_cannot_carry_go_to_the_owner_once)
{
	struct test_tp t = {0};
	struct sdh_rtp *w = tp_leg(&t);
	cr_assert_eq(set_remote(w, chrome_like_offer), 0); /* telephone-event 126 */
	sdp_free(local_desc(w, NULL));
	struct peer pb = peer_new("127.0.0.1");
	struct sdh_rtp *b = new_leg(); /* a PBX with PCMU only */
	cr_assert_eq(set_offer(b, pb.port, "0", "a=sendrecv\r\n"), 0);
	sdp_free(local_desc(b, NULL));
	cr_assert_eq(sdh_rtp_bridge(w, b), 0);
	struct heard heard = {0};
	sdh_rtp_on_dtmf(w, on_heard, &heard);
	uint8_t pkt[512];
	/* '#' (11) for 800 samples: updates, then the end three times */
	const uint8_t upd[] = {11, 0x0a, 0x01, 0x40}, end[] = {11, 0x8a, 0x03, 0x20};
	for (int i = 0; i < 5; i++) {
		const uint8_t *e = i < 2 ? upd : end;
		char payload[5] = {(char)e[0], (char)e[1], (char)e[2], (char)e[3], 0};
		size_t n = rtp_packet(pkt, 126, (uint16_t)(20 + i), 4000, 0x77, "xxxx");
		memcpy(pkt + 12, payload, 4);
		sdh_rtp_transport_recv(w, pkt, n, sizeof pkt);
	}
	cr_assert_eq(heard.n, 1, "one event, told once");
	cr_assert_eq(heard.tones[0], '#');
	cr_assert_eq(heard.last_ms, 100, "800 samples at 8000 Hz");
	/* a second event (new timestamp) is told too */
	size_t n = rtp_packet(pkt, 126, 30, 9000, 0x77, "xxxx");
	memcpy(pkt + 12, (const uint8_t[]){5, 0x8a, 0x01, 0x40}, 4);
	sdh_rtp_transport_recv(w, pkt, n, sizeof pkt);
	cr_assert_eq(heard.n, 2);
	cr_assert_eq(heard.tones[1], '5');
	uint8_t got[64];
	cr_assert_eq(peer_recv(&pb, got, sizeof got, 50, NULL), -1, "no event reached the PBX");
	sdh_rtp_free(w);
	sdh_rtp_free(b);
	close(pb.fd);
}
