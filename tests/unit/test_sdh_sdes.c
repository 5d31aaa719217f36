/* test_sdh_sdes.c — the SDES-SRTP leg: offer/answer of a=crypto lines, and
 * its media against a test-owned UDP socket that protects and unprotects
 * with webrtc/srtp.h as a PBX would, bridged to a plain RTP leg. Real
 * sockets on 127.0.0.1 and a GMainContext iterated here. */
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
#include "webrtc/sdes.h"
#include "webrtc/sdh_rtp.h"
#include "webrtc/sdh_sdes.h"
#include "webrtc/sdp.h"
#include "webrtc/srtp.h"

static GMainContext *loop;
static struct sdh_rtp_ctx *ctx;
static GString *log_lines;

/* 32 ports of its own per process (udp_window.h). */
static uint16_t pick_base(void) { return udp_window_pick(32, 7); }

static void on_log(void *arg, const char *line)
{
	(void)arg;
	g_string_append_printf(log_lines, "%s\n", line);
}

static void setup(void)
{
	loop = g_main_context_new();
	log_lines = g_string_new(NULL);
	uint16_t base = pick_base();
	struct sdh_rtp_ctx_params p = {
	    .loop = loop,
	    .address = "127.0.0.1",
	    .bind_address = "127.0.0.1",
	    .port_min = base,
	    .port_max = (uint16_t)(base + 31),
	    .ptime = 20,
	    .on_log = on_log,
	};
	cr_assert_eq(sdh_rtp_ctx_new(&p, &ctx), 0);
}

static void teardown(void)
{
	sdh_rtp_ctx_unref(ctx);
	while (g_main_context_iteration(loop, FALSE))
		;
	g_main_context_unref(loop);
	g_string_free(log_lines, TRUE);
}

TestSuite(sdh_sdes, .init = setup, .fini = teardown);

static struct sdh_sdes *new_leg(void)
{
	struct sdh_sdes *s = NULL;
	int rc = sdh_sdes_new(ctx, &(struct sdh_sdes_params){.on_log = on_log}, &s);
	cr_assert_eq(rc, 0, "sdh_sdes_new: %s", strerror(-rc));
	return s;
}

/* ---- descriptions ---- */

static char *savp_offer(uint16_t port, const char *proto, const char *crypto_lines)
{
	return g_strdup_printf("v=0\r\no=pbx 7 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
	                       "t=0 0\r\nm=audio %u %s 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
	                       "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n%sa=sendrecv\r\n",
	                       port, proto, crypto_lines);
}

static int set_remote(struct sdh_rtp *h, const char *text)
{
	return sdh_rtp_set_description(h, "application/sdp", text, strlen(text), NULL);
}

static int set_offer(struct sdh_rtp *h, uint16_t port, const char *proto, const char *lines)
{
	char *t = savp_offer(port, proto, lines);
	int rc = set_remote(h, t);
	g_free(t);
	return rc;
}

static struct sdp_session *local_desc(struct sdh_rtp *h)
{
	char buf[4096];
	size_t len = 0;
	const char *ctype = NULL;
	int rc = sdh_rtp_get_description(h, NULL, buf, sizeof buf, &len, &ctype);
	cr_assert_eq(rc, 0, "get_description: %d", rc);
	struct sdp_session *s = NULL;
	struct sdp_error err = {0, NULL};
	cr_assert_eq(sdp_parse(buf, len, &s, &err), 0, "our SDP: line %d: %s\n%s", err.line,
	             err.reason, buf);
	return s;
}

/* The a=crypto lines of our description's audio section. */
static unsigned crypto_lines(const struct sdp_session *s, struct sdes_crypto *out, unsigned max)
{
	unsigned n = 0, from = 0;
	const struct sdp_attr *a;
	while (n < max &&
	       (a = sdp_attr_next(s->media[0].attrs, s->media[0].n_attrs, SDP_ATTR_OTHER, "crypto", &from))) {
		cr_assert_eq(sdes_parse(a->value, strlen(a->value), &out[n]), 0, "%s", a->value);
		cr_assert_null(out[n].unsupported, "%s", a->value);
		n++;
	}
	return n;
}

/* "a=crypto:TAG SUITE inline:..." for line c. */
static void append_line(GString *g, const struct sdes_crypto *c)
{
	char v[SDES_FORMAT_MAX];
	cr_assert_gt(sdes_format(c, v, sizeof v), 0);
	g_string_append_printf(g, "a=crypto:%s\r\n", v);
}

Test(sdh_sdes, answers_the_first_line_it_can_honour)
{
	struct sdh_sdes *s = new_leg();
	struct sdh_rtp *h = sdh_sdes_handler(s);
	struct sdes_crypto pbx;
	cr_assert_eq(sdes_generate(SDES_AES_CM_128_HMAC_SHA1_32, 3, &pbx), 0);
	GString *lines = g_string_new(
	    "a=crypto:1 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^20\r\n"
	    "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r\n");
	append_line(lines, &pbx);
	cr_assert_eq(set_offer(h, 4000, "RTP/SAVP", lines->str), 0, "%s", log_lines->str);
	struct sdp_session *ans = local_desc(h);
	cr_assert_str_eq(ans->media[0].proto, "RTP/SAVP");
	cr_assert_eq(ans->media[0].port, sdh_rtp_port(h));
	struct sdes_crypto ours[4];
	cr_assert_eq(crypto_lines(ans, ours, 4), 1, "exactly one line in an answer");
	cr_assert_eq(ours[0].tag, 3);
	cr_assert_eq(ours[0].suite, SDES_AES_CM_128_HMAC_SHA1_32);
	cr_assert_not(sdes_same_key(&ours[0], &pbx), "our own key, not the peer's");
	cr_assert_null(sdp_media_attr(&ans->media[0], SDP_ATTR_MID, NULL));
	/* why the first two were passed over is told */
	cr_assert_not_null(strstr(log_lines->str, "tag 1"), "%s", log_lines->str);
	cr_assert_not_null(strstr(log_lines->str, "tag 2 AES_CM_128_HMAC_SHA1_80 refused: MKI"), "%s",
	                   log_lines->str);
	struct sdh_sdes_stats st;
	sdh_sdes_get_stats(s, &st);
	cr_assert_eq(st.rx_suite, SDES_AES_CM_128_HMAC_SHA1_32);
	cr_assert_eq(st.tx_suite, SDES_AES_CM_128_HMAC_SHA1_32);
	sdp_free(ans);
	g_string_free(lines, TRUE);
	sdh_sdes_free(s);
}

Test(sdh_sdes, descriptions_without_usable_keys_are_refused)
{
	struct sdh_sdes *s = new_leg();
	struct sdh_rtp *h = sdh_sdes_handler(s);
	/* plain RTP/AVP is not spoken by this leg */
	cr_assert_eq(set_offer(h, 4000, "RTP/AVP", ""), -EINVAL);
	cr_assert_eq(set_offer(h, 4000, "RTP/SAVP", ""), -ENOTSUP);
	cr_assert_not_null(strstr(log_lines->str, "no a=crypto line"));
	cr_assert_eq(set_offer(h, 4000, "RTP/SAVP",
	                       "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:short\r\n"
	                       "a=crypto:2 AES_CM_128_HMAC_SHA1_80 "
	                       "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR UNENCRYPTED_SRTP\r\n"),
	             -ENOTSUP);
	cr_assert_not_null(strstr(log_lines->str, "malformed"));
	cr_assert_not_null(strstr(log_lines->str, "unencrypted"));
	/* nothing was agreed: the next description is still an offer of ours */
	struct sdp_session *o = local_desc(h);
	struct sdes_crypto lines[4];
	cr_assert_eq(crypto_lines(o, lines, 4), 2);
	sdp_free(o);
	sdh_sdes_free(s);
}

/* Our offer: RTP/SAVP with 80 (tag 1) and 32 (tag 2), fresh keys each. */
Test(sdh_sdes, offers_its_own_keys_and_takes_an_answer)
{
	struct sdh_sdes *s = new_leg();
	struct sdh_rtp *h = sdh_sdes_handler(s);
	struct sdp_session *o = local_desc(h);
	cr_assert_str_eq(o->media[0].proto, "RTP/SAVP");
	cr_assert_eq(o->media[0].port, sdh_rtp_port(h));
	cr_assert_null(sdp_media_attr(&o->media[0], SDP_ATTR_RTCP_MUX, NULL));
	struct sdes_crypto lines[4];
	cr_assert_eq(crypto_lines(o, lines, 4), 2);
	cr_assert_eq(lines[0].tag, 1);
	cr_assert_eq(lines[0].suite, SDES_AES_CM_128_HMAC_SHA1_80);
	cr_assert_eq(lines[1].tag, 2);
	cr_assert_eq(lines[1].suite, SDES_AES_CM_128_HMAC_SHA1_32);
	cr_assert_not(sdes_same_key(&lines[0], &lines[1]));
	sdp_free(o);

	/* answers naming a tag we did not offer, or another suite, are refused */
	struct sdes_crypto pbx;
	cr_assert_eq(sdes_generate(SDES_AES_CM_128_HMAC_SHA1_80, 9, &pbx), 0);
	GString *g = g_string_new(NULL);
	append_line(g, &pbx);
	cr_assert_eq(set_offer(h, 4000, "RTP/SAVP", g->str), -ENOTSUP);
	cr_assert_not_null(strstr(log_lines->str, "tag 9 is none we offered"));
	pbx.tag = 2; /* ours is _32 */
	g_string_truncate(g, 0);
	append_line(g, &pbx);
	cr_assert_eq(set_offer(h, 4000, "RTP/SAVP", g->str), -ENOTSUP);
	cr_assert_not_null(strstr(log_lines->str, "another suite"));

	pbx.tag = 1;
	g_string_truncate(g, 0);
	append_line(g, &pbx);
	cr_assert_eq(set_offer(h, 4000, "RTP/SAVP", g->str), 0, "%s", log_lines->str);
	struct sdh_sdes_stats st;
	sdh_sdes_get_stats(s, &st);
	cr_assert_eq(st.tx_suite, SDES_AES_CM_128_HMAC_SHA1_80);
	cr_assert_eq(st.rx_suite, SDES_AES_CM_128_HMAC_SHA1_80);
	g_string_free(g, TRUE);
	sdh_sdes_free(s);
}

/* ---- media ---- */

struct pbx {
	int fd;
	uint16_t port;
	struct sdes_crypto key; /* what it sends with, in its description */
	struct srtp_session *srtp;
};

static int bound_udp(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

static uint16_t port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &l);
	return ntohs(a.sin_port);
}

static void send_to(int fd, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(sendto(fd, buf, len, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)len);
}

static ssize_t recv_from(int fd, void *buf, size_t size, unsigned timeout_ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	for (;;) {
		ssize_t n = recv(fd, buf, size, MSG_DONTWAIT);
		if (n >= 0)
			return n;
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

static size_t rtp_packet(uint8_t *b, uint8_t pt, uint16_t seq, uint32_t ssrc, const char *payload)
{
	memset(b, 0, 12);
	b[0] = 0x80;
	b[1] = pt;
	b[2] = (uint8_t)(seq >> 8);
	b[3] = (uint8_t)seq;
	uint32_t ts = 160u * seq;
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
	size_t n = strlen(payload);
	memcpy(b + 12, payload, n);
	return 12 + n;
}

/* The PBX's SRTP: its key out, the leg's key (from the leg's answer) in. */
static void pbx_key_session(struct pbx *p, const struct sdes_crypto *leg_key)
{
	srtp_session_free(p->srtp);
	p->srtp = NULL;
	struct srtp_keys k = {.profile = sdes_suite_profile(p->key.suite)};
	size_t salt = sdes_salt_len(p->key.suite);
	memcpy(k.local_key, p->key.key, SDES_KEY_LEN);
	memcpy(k.local_salt, p->key.salt, salt);
	memcpy(k.remote_key, leg_key->key, SDES_KEY_LEN);
	memcpy(k.remote_salt, leg_key->salt, salt);
	cr_assert_eq(srtp_session_new(&k, &p->srtp), 0);
}

/* The SDES leg answers the PBX's offer; the PBX keys its SRTP with the answer. */
static struct sdh_sdes *answered_leg(struct pbx *p, enum sdes_suite suite, const char *params)
{
	p->fd = bound_udp();
	p->port = port_of(p->fd);
	p->srtp = NULL;
	cr_assert_eq(sdes_generate(suite, 1, &p->key), 0);
	struct sdh_sdes *s = new_leg();
	GString *g = g_string_new(NULL);
	append_line(g, &p->key);
	if (params) { /* after the key, before the CRLF */
		g_string_truncate(g, g->len - 2);
		g_string_append_printf(g, "%s\r\n", params);
	}
	cr_assert_eq(set_offer(sdh_sdes_handler(s), p->port, "RTP/SAVP", g->str), 0, "%s",
	             log_lines->str);
	g_string_free(g, TRUE);
	struct sdp_session *ans = local_desc(sdh_sdes_handler(s));
	struct sdes_crypto leg_key;
	cr_assert_eq(crypto_lines(ans, &leg_key, 1), 1);
	pbx_key_session(p, &leg_key);
	sdp_free(ans);
	return s;
}

static void pbx_free(struct pbx *p)
{
	srtp_session_free(p->srtp);
	close(p->fd);
}

/* A plain RTP leg answered to a peer socket. */
static struct sdh_rtp *plain_leg(int *peer_fd)
{
	*peer_fd = bound_udp();
	struct sdh_rtp *h = NULL;
	cr_assert_eq(sdh_rtp_new(ctx, NULL, &h), 0);
	char *t = savp_offer(port_of(*peer_fd), "RTP/AVP", "");
	cr_assert_eq(set_remote(h, t), 0);
	g_free(t);
	sdp_free(local_desc(h));
	return h;
}

/* PBX -> SDES leg -> plain leg: what arrives is the plain packet. */
static void pbx_to_plain(struct pbx *p, struct sdh_sdes *s, int plain_fd, uint16_t seq,
                         const char *payload)
{
	uint8_t plain[256], buf[256], got[256];
	size_t n = rtp_packet(plain, 0, seq, 0x5eed0001, payload);
	memcpy(buf, plain, n);
	int m = srtp_session_protect_rtp(p->srtp, buf, n, sizeof buf);
	cr_assert_gt(m, (int)n);
	send_to(p->fd, sdh_rtp_port(sdh_sdes_handler(s)), buf, (size_t)m);
	cr_assert_eq(recv_from(plain_fd, got, sizeof got, 1000), (ssize_t)n, "seq %u", seq);
	cr_assert_eq(memcmp(got, plain, n), 0);
}

/* plain peer -> plain leg -> SDES leg -> PBX: SRTP the PBX unprotects. */
static void plain_to_pbx(int plain_fd, struct sdh_rtp *plain, struct pbx *p, enum sdes_suite suite,
                         uint16_t seq, const char *payload)
{
	uint8_t pkt[256], got[256];
	size_t n = rtp_packet(pkt, 0, seq, 0x5eed0002, payload);
	send_to(plain_fd, sdh_rtp_port(plain), pkt, n);
	ssize_t m = recv_from(p->fd, got, sizeof got, 1000);
	cr_assert_eq(m, (ssize_t)(n + srtp_trailer_len(sdes_suite_profile(suite), false)));
	cr_assert_neq(memcmp(got + 12, pkt + 12, n - 12), 0, "the payload goes encrypted");
	cr_assert_eq(srtp_session_unprotect_rtp(p->srtp, got, (size_t)m), (int)n);
	cr_assert_eq(memcmp(got, pkt, n), 0);
}

static void bridge_both_ways(enum sdes_suite suite)
{
	struct pbx p;
	struct sdh_sdes *s = answered_leg(&p, suite, NULL);
	int plain_fd;
	struct sdh_rtp *plain = plain_leg(&plain_fd);
	cr_assert_eq(sdh_rtp_bridge(sdh_sdes_handler(s), plain), 0);
	for (uint16_t seq = 1; seq <= 20; seq++) {
		pbx_to_plain(&p, s, plain_fd, seq, "from the pbx, in SRTP");
		plain_to_pbx(plain_fd, plain, &p, suite, (uint16_t)(seq + 500), "to the pbx, plain");
	}
	struct sdh_sdes_stats st;
	sdh_sdes_get_stats(s, &st);
	cr_assert_eq(st.rx.unprotected, 20);
	cr_assert_eq(st.tx.protected, 20);
	cr_assert_eq(st.rx.auth_failures + st.rx.replays + st.no_keys, 0);
	sdh_rtp_free(plain);
	close(plain_fd);
	sdh_sdes_free(s);
	pbx_free(&p);
}

Test(sdh_sdes, bridged_to_plain_rtp_both_ways_80) { bridge_both_ways(SDES_AES_CM_128_HMAC_SHA1_80); }
Test(sdh_sdes, bridged_to_plain_rtp_both_ways_32) { bridge_both_ways(SDES_AES_CM_128_HMAC_SHA1_32); }
Test(sdh_sdes, bridged_to_plain_rtp_both_ways_gcm) { bridge_both_ways(SDES_AEAD_AES_128_GCM); }

Test(sdh_sdes, tampered_replayed_and_keyless_packets_are_dropped_and_counted)
{
	struct pbx p;
	struct sdh_sdes *s = answered_leg(&p, SDES_AES_CM_128_HMAC_SHA1_80, NULL);
	int plain_fd;
	struct sdh_rtp *plain = plain_leg(&plain_fd);
	cr_assert_eq(sdh_rtp_bridge(sdh_sdes_handler(s), plain), 0);
	uint16_t port = sdh_rtp_port(sdh_sdes_handler(s));

	uint8_t buf[256], got[256];
	size_t n = rtp_packet(buf, 0, 1, 0x5eed0001, "genuine");
	int m = srtp_session_protect_rtp(p.srtp, buf, n, sizeof buf);
	uint8_t copy[256];
	memcpy(copy, buf, (size_t)m);
	buf[14] ^= 0x01; /* one payload bit */
	send_to(p.fd, port, buf, (size_t)m);
	/* a packet not protected at all (plain RTP from a confused peer) */
	size_t k = rtp_packet(got, 0, 2, 0x5eed0001, "plain text, no tag");
	send_to(p.fd, port, got, k);
	pump(100);
	cr_assert_eq(recv_from(plain_fd, got, sizeof got, 50), -1, "nothing went through");
	/* the genuine one still goes, once: a second copy is a replay */
	send_to(p.fd, port, copy, (size_t)m);
	cr_assert_eq(recv_from(plain_fd, got, sizeof got, 1000), (ssize_t)n);
	send_to(p.fd, port, copy, (size_t)m);
	pump(100);
	cr_assert_eq(recv_from(plain_fd, got, sizeof got, 50), -1);

	struct sdh_sdes_stats st;
	sdh_sdes_get_stats(s, &st);
	cr_assert_eq(st.rx.auth_failures, 2);
	cr_assert_eq(st.rx.replays, 1);
	cr_assert_eq(st.rx.unprotected, 1);
	struct sdh_rtp_stats hs;
	sdh_rtp_get_stats(sdh_sdes_handler(s), &hs);
	cr_assert_eq(hs.rx_packets, 4);
	cr_assert_eq(hs.dropped, 3);
	sdh_rtp_free(plain);
	close(plain_fd);
	sdh_sdes_free(s);
	pbx_free(&p);
}

Test(sdh_sdes, nothing_passes_before_keys)
{
	struct sdh_sdes *s = new_leg();
	int peer = bound_udp();
	uint8_t pkt[64];
	size_t n = rtp_packet(pkt, 0, 1, 1, "too early");
	send_to(peer, sdh_rtp_port(sdh_sdes_handler(s)), pkt, n);
	pump(100);
	struct sdh_sdes_stats st;
	sdh_sdes_get_stats(s, &st);
	cr_assert_eq(st.no_keys, 1);
	cr_assert_eq(sdh_rtp_send_dtmf(sdh_sdes_handler(s), '1', 100), -ENOTSUP);
	close(peer);
	sdh_sdes_free(s);
}

Test(sdh_sdes, srtcp_goes_between_the_odd_ports)
{
	struct pbx p;
	struct sdh_sdes *s = answered_leg(&p, SDES_AES_CM_128_HMAC_SHA1_32, NULL);
	int plain_fd;
	struct sdh_rtp *plain = plain_leg(&plain_fd);
	int plain_rtcp = bound_udp(), pbx_rtcp = bound_udp();
	/* the peers' RTCP ports are their RTP port + 1 as described: both
	 * latch onto where RTCP comes from */
	cr_assert_eq(sdh_rtp_bridge(sdh_sdes_handler(s), plain), 0);
	uint8_t rr[64] = {0x80, 201, 0, 1, 0, 0, 0, 7}, buf[64];
	memcpy(buf, rr, 8);
	int m = srtp_session_protect_rtcp(p.srtp, buf, 8, sizeof buf);
	cr_assert_eq(m, 8 + 14, "SRTCP keeps the 80-bit tag with the _32 suite");
	/* RTCP is latched only from the description's host; send from there */
	send_to(pbx_rtcp, (uint16_t)(sdh_rtp_port(sdh_sdes_handler(s)) + 1), buf, (size_t)m);
	pump(100);
	send_to(plain_rtcp, (uint16_t)(sdh_rtp_port(plain) + 1), rr, 8);
	/* the plain peer's RTCP goes to the PBX's RTCP port, protected */
	pump(100);
	struct sdh_sdes_stats st;
	sdh_sdes_get_stats(s, &st);
	cr_assert_eq(st.rx.unprotected, 1, "the SRTCP packet was accepted");
	cr_assert_eq(st.tx.protected, 1, "the plain peer's RTCP went out as SRTCP");
	close(plain_rtcp);
	close(pbx_rtcp);
	sdh_rtp_free(plain);
	close(plain_fd);
	sdh_sdes_free(s);
	pbx_free(&p);
}

Test(sdh_sdes, echo_decrypts_and_encrypts_again)
{
	struct pbx p;
	struct sdh_sdes *s = answered_leg(&p, SDES_AES_CM_128_HMAC_SHA1_80, NULL);
	cr_assert_eq(sdh_rtp_echo(sdh_sdes_handler(s)), 0);
	uint8_t plain[64], buf[64], got[64];
	size_t n = rtp_packet(plain, 0, 9, 0xabc, "echo me");
	memcpy(buf, plain, n);
	int m = srtp_session_protect_rtp(p.srtp, buf, n, sizeof buf);
	send_to(p.fd, sdh_rtp_port(sdh_sdes_handler(s)), buf, (size_t)m);
	ssize_t r = recv_from(p.fd, got, sizeof got, 1000);
	cr_assert_eq(r, m);
	cr_assert_neq(memcmp(got, buf, (size_t)m), 0, "encrypted with the leg's key, not ours");
	cr_assert_eq(srtp_session_unprotect_rtp(p.srtp, got, (size_t)r), (int)n);
	cr_assert_eq(memcmp(got + 12, plain + 12, n - 12), 0);
	sdh_sdes_free(s);
	pbx_free(&p);
}

/* A re-offer with the same key keeps the inbound context: its replay window
 * goes on (an old packet stays refused); one with a new key re-keys. */
Test(sdh_sdes, re_offers_keep_or_change_keys)
{
	struct pbx p;
	struct sdh_sdes *s = answered_leg(&p, SDES_AES_CM_128_HMAC_SHA1_80, NULL);
	struct sdh_rtp *h = sdh_sdes_handler(s);
	int plain_fd;
	struct sdh_rtp *plain = plain_leg(&plain_fd);
	cr_assert_eq(sdh_rtp_bridge(h, plain), 0);
	pbx_to_plain(&p, s, plain_fd, 1, "before the re-offer");
	struct sdes_crypto first_ours;
	{
		struct sdh_sdes_stats st;
		sdh_sdes_get_stats(s, &st);
		cr_assert_eq(st.rekeys, 0);
	}
	/* the same offer again (a hold, a session refresh) */
	GString *g = g_string_new(NULL);
	append_line(g, &p.key);
	char *t = savp_offer(p.port, "RTP/SAVP", g->str);
	cr_assert_eq(set_remote(h, t), 0);
	g_free(t);
	struct sdp_session *ans = local_desc(h);
	cr_assert_eq(crypto_lines(ans, &first_ours, 1), 1);
	sdp_free(ans);
	pbx_to_plain(&p, s, plain_fd, 2, "after the same key again");
	plain_to_pbx(plain_fd, plain, &p, SDES_AES_CM_128_HMAC_SHA1_80, 700,
	             "our key is the same too");
	struct sdh_sdes_stats st;
	sdh_sdes_get_stats(s, &st);
	cr_assert_eq(st.rekeys, 0);

	/* our own re-offer repeats the key we send with, first */
	struct sdp_session *o = local_desc(h);
	struct sdes_crypto offered[4];
	cr_assert_eq(crypto_lines(o, offered, 4), 2);
	cr_assert(sdes_same_key(&offered[0], &first_ours));
	cr_assert_not(sdes_same_key(&offered[1], &first_ours));
	sdp_free(o);
	/* the PBX answers it with a new key of its own */
	struct sdes_crypto old_pbx = p.key;
	cr_assert_eq(sdes_generate(SDES_AES_CM_128_HMAC_SHA1_80, 1, &p.key), 0);
	g_string_truncate(g, 0);
	append_line(g, &p.key);
	t = savp_offer(p.port, "RTP/SAVP", g->str);
	cr_assert_eq(set_remote(h, t), 0, "%s", log_lines->str);
	g_free(t);
	pbx_key_session(&p, &first_ours);
	pbx_to_plain(&p, s, plain_fd, 3, "under the PBX's new key");
	plain_to_pbx(plain_fd, plain, &p, SDES_AES_CM_128_HMAC_SHA1_80, 701, "ours unchanged");
	sdh_sdes_get_stats(s, &st);
	cr_assert_eq(st.rekeys, 1, "only the inbound direction re-keyed");

	/* a packet under the PBX's old key fails now */
	struct srtp_keys k = {.profile = SRTP_PROFILE_AES128_CM_SHA1_80};
	memcpy(k.local_key, old_pbx.key, 16);
	memcpy(k.local_salt, old_pbx.salt, 14);
	struct srtp_session *old = NULL;
	cr_assert_eq(srtp_session_new(&k, &old), 0);
	uint8_t buf[128], got[128];
	size_t n = rtp_packet(buf, 0, 4, 0x5eed0001, "stale key");
	int m = srtp_session_protect_rtp(old, buf, n, sizeof buf);
	send_to(p.fd, sdh_rtp_port(h), buf, (size_t)m);
	pump(100);
	cr_assert_eq(recv_from(plain_fd, got, sizeof got, 50), -1);
	sdh_sdes_get_stats(s, &st);
	cr_assert_eq(st.rx.auth_failures, 1);
	srtp_session_free(old);
	g_string_free(g, TRUE);
	sdh_rtp_free(plain);
	close(plain_fd);
	sdh_sdes_free(s);
	pbx_free(&p);
}

Test(sdh_sdes, nothing_is_taken_past_the_peer_keys_lifetime)
{
	struct pbx p;
	struct sdh_sdes *s = answered_leg(&p, SDES_AES_CM_128_HMAC_SHA1_80, "|4");
	int plain_fd;
	struct sdh_rtp *plain = plain_leg(&plain_fd);
	cr_assert_eq(sdh_rtp_bridge(sdh_sdes_handler(s), plain), 0);
	for (uint16_t seq = 1; seq <= 4; seq++)
		pbx_to_plain(&p, s, plain_fd, seq, "within the lifetime");
	uint8_t buf[128], got[128];
	size_t n = rtp_packet(buf, 0, 5, 0x5eed0001, "one too many");
	int m = srtp_session_protect_rtp(p.srtp, buf, n, sizeof buf);
	send_to(p.fd, sdh_rtp_port(sdh_sdes_handler(s)), buf, (size_t)m);
	pump(100);
	cr_assert_eq(recv_from(plain_fd, got, sizeof got, 50), -1);
	struct sdh_sdes_stats st;
	sdh_sdes_get_stats(s, &st);
	cr_assert_eq(st.expired, 1);
	cr_assert_not_null(strstr(log_lines->str, "lifetime"));
	sdh_rtp_free(plain);
	close(plain_fd);
	sdh_sdes_free(s);
	pbx_free(&p);
}

Test(sdh_sdes, closing_keeps_the_counters_and_frees_the_ports)
{
	struct pbx p;
	struct sdh_sdes *s = answered_leg(&p, SDES_AES_CM_128_HMAC_SHA1_80, NULL);
	cr_assert_eq(sdh_rtp_ctx_pairs_in_use(ctx), 1);
	uint8_t buf[64];
	size_t n = rtp_packet(buf, 0, 1, 1, "x");
	buf[12] ^= 1; /* unprotected bytes with a made-up tag */
	memset(buf + n, 0xee, 10);
	send_to(p.fd, sdh_rtp_port(sdh_sdes_handler(s)), buf, n + 10);
	pump(100);
	sdh_rtp_close(sdh_sdes_handler(s));
	cr_assert_eq(sdh_rtp_ctx_pairs_in_use(ctx), 0);
	struct sdh_sdes_stats st;
	sdh_sdes_get_stats(s, &st);
	cr_assert_eq(st.rx.auth_failures, 1);
	cr_assert_eq(st.rx_suite, SDES_SUITE_UNKNOWN, "no keys once closed");
	sdh_sdes_free(s);
	pbx_free(&p);
}
