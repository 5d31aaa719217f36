/* test_sdh_webrtc.c — the WebRTC leg (webrtc/sdh_webrtc.h) as a whole: its
 * descriptions read and written as text, and its media over real libnice
 * agents, DTLS and SRTP on 127.0.0.1, all on one GMainContext iterated here.
 *
 * The far ends are real too: another WebRTC leg, a plain-RTP leg whose peer
 * is a UDP socket of the test, and a "browser" put together from the
 * project's own ICE, DTLS and SRTP modules (the way the webrtc_peer test
 * program does it), which offers and answers as Chrome does and can restart
 * ICE or hold. Offers captured from Chrome and Firefox (data/sdp/) are set
 * on a leg as they came. */
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
#include "webrtc/dtls.h"
#include "webrtc/ice.h"
#include "webrtc/rtp.h"
#include "webrtc/sdh_rtp.h"
#include "webrtc/sdh_webrtc.h"
#include "webrtc/sdp.h"
#include "webrtc/srtp.h"

#define FIXTURES SIPWIRE_TEST_DATA "/sdp/"

static GMainContext *loop;
static struct sdh_rtp_ctx *rtp_ctx;
static struct sdh_webrtc_ctx *wctx;
static struct dtls_cert *cert; /* the gateway's */
static uint16_t base_port;
static bool in_api; /* the test is inside an sdh_* call */

static const char *const loopback[] = {"127.0.0.1", NULL};

/* ---- ports ---- */

/* 64 ports of its own (udp_window.h): the first 16 for plain legs' pairs,
 * the rest for ICE. */
static uint16_t pick_base(void) { return udp_window_pick(64, 7); }

#define ICE_MIN ((uint16_t)(base_port + 16))
#define ICE_MAX ((uint16_t)(base_port + 63))

/* ---- contexts ---- */

static void make_ctx(const char *const *codecs, struct sdh_rtp_ctx **rc_out,
                     struct sdh_webrtc_ctx **wc_out)
{
	struct sdh_rtp_ctx_params rp = {
	    .loop = loop,
	    .address = "127.0.0.1",
	    .bind_address = "127.0.0.1",
	    .port_min = base_port,
	    .port_max = (uint16_t)(base_port + 15),
	    .codecs = codecs,
	};
	cr_assert_eq(sdh_rtp_ctx_new(&rp, rc_out), 0);
	struct sdh_webrtc_ctx_params wp = {
	    .rtp = *rc_out,
	    .loop = loop,
	    .cert = cert,
	    .addresses = loopback,
	    .port_min = ICE_MIN,
	    .port_max = ICE_MAX,
	    .ice_timeout_ms = 5000,
	    .dtls_timeout_ms = 5000,
	};
	cr_assert_eq(sdh_webrtc_ctx_new(&wp, wc_out), 0);
}

static void setup(void)
{
	loop = g_main_context_new();
	in_api = false;
	base_port = pick_base();
	cr_assert_eq(dtls_cert_new(0, &cert), 0);
	make_ctx(NULL, &rtp_ctx, &wctx);
}

static void teardown(void)
{
	sdh_webrtc_ctx_free(wctx);
	sdh_rtp_ctx_unref(rtp_ctx);
	dtls_cert_free(cert);
	while (g_main_context_iteration(loop, FALSE))
		;
	g_main_context_unref(loop);
}

TestSuite(sdh_webrtc, .init = setup, .fini = teardown, .timeout = 30);

/* ---- the loop ---- */

static gboolean wake(gpointer data)
{
	(void)data;
	return G_SOURCE_CONTINUE;
}

static gint64 deadline;
static GSource *tick;

static void wait_begin(unsigned ms)
{
	deadline = g_get_monotonic_time() + (gint64)ms * 1000;
	tick = g_timeout_source_new(5);
	g_source_set_callback(tick, wake, NULL, NULL);
	g_source_attach(tick, loop);
}

static bool wait_more(void)
{
	if (g_get_monotonic_time() < deadline) {
		g_main_context_iteration(loop, TRUE);
		return true;
	}
	return false;
}

static void wait_end(void)
{
	g_source_destroy(tick);
	g_source_unref(tick);
}

/* Iterate the loop until cond holds, failing the test after ms. */
#define WAIT_FOR(cond, ms)                                                                         \
	do {                                                                                       \
		wait_begin(ms);                                                                    \
		while (!(cond) && wait_more())                                                     \
			;                                                                          \
		wait_end();                                                                        \
		cr_assert(cond, "not within %u ms: %s", (unsigned)(ms), #cond);                    \
	} while (0)

static void run_for(unsigned ms)
{
	wait_begin(ms);
	while (wait_more())
		;
	wait_end();
}

/* ---- text ---- */

static char *load(const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s%s", FIXTURES, name);
	gchar *text = NULL;
	cr_assert(g_file_get_contents(path, &text, NULL, NULL), "fixture %s", path);
	return text;
}

/* text less its lines that start with prefix */
static char *without_lines(const char *text, const char *prefix)
{
	GString *out = g_string_new(NULL);
	gchar **lines = g_strsplit(text, "\r\n", -1);
	unsigned removed = 0;
	for (gchar **l = lines; *l; l++) {
		if (!**l)
			continue;
		if (g_str_has_prefix(*l, prefix)) {
			removed++;
			continue;
		}
		g_string_append_printf(out, "%s\r\n", *l);
	}
	g_strfreev(lines);
	cr_assert_gt(removed, 0, "no line starts with %s", prefix);
	return g_string_free(out, FALSE);
}

/* text with every from replaced by to */
static char *replaced(const char *text, const char *from, const char *to)
{
	cr_assert_not_null(strstr(text, from), "no %s in the text", from);
	gchar **parts = g_strsplit(text, from, -1);
	gchar *out = g_strjoinv(to, parts);
	g_strfreev(parts);
	return out;
}

static struct sdp_session *parse(const char *text)
{
	struct sdp_session *s = NULL;
	struct sdp_error err = {0, NULL};
	int rc = sdp_parse(text, strlen(text), &s, &err);
	cr_assert_eq(rc, 0, "sdp_parse: line %d: %s\n%s", err.line, err.reason ? err.reason : "",
	             text);
	return s;
}

static void assert_formats(const struct sdp_media *m, const char *want)
{
	char got[256] = "";
	for (unsigned i = 0; i < m->n_formats; i++) {
		if (i)
			g_strlcat(got, " ", sizeof got);
		g_strlcat(got, m->formats[i], sizeof got);
	}
	cr_assert_str_eq(got, want);
}

static const char *media_value(const struct sdp_media *m, enum sdp_attr_kind kind)
{
	const struct sdp_attr *a = sdp_media_attr(m, kind, NULL);
	cr_assert_not_null(a, "attribute %d missing", kind);
	return a->value;
}

static enum sdp_setup setup_of(const struct sdp_media *m)
{
	const struct sdp_attr *a = sdp_media_attr(m, SDP_ATTR_SETUP, NULL);
	cr_assert_not_null(a, "no a=setup");
	return a->u.setup;
}

/* ---- WebRTC legs ---- */

struct leg {
	const char *name;
	struct sdh_webrtc *w;
	struct sdh_rtp *h;
	unsigned failures;
	const char *reason;
	bool free_on_failure;
};

static void leg_failed(void *arg, const char *reason)
{
	struct leg *l = arg;
	cr_assert_not(in_api, "%s: on_failed inside an sdh_* call", l->name);
	cr_assert_not_null(l->w, "%s: on_failed after the leg was freed", l->name);
	l->failures++;
	l->reason = reason;
	if (l->free_on_failure) {
		sdh_webrtc_free(l->w);
		l->w = NULL;
		l->h = NULL;
	}
}

static void leg_new_in(struct leg *l, struct sdh_webrtc_ctx *c, const char *name, bool offerer)
{
	memset(l, 0, sizeof *l);
	l->name = name;
	struct sdh_webrtc_events ev = {.on_failed = leg_failed, .arg = l};
	int rc = sdh_webrtc_new(c, offerer, &ev, &l->w);
	cr_assert_eq(rc, 0, "sdh_webrtc_new: %s", strerror(-rc));
	l->h = sdh_webrtc_handler(l->w);
	cr_assert_not_null(l->h);
}

static void leg_new(struct leg *l, const char *name, bool offerer)
{
	leg_new_in(l, wctx, name, offerer);
}

static void leg_free(struct leg *l)
{
	in_api = true;
	sdh_webrtc_free(l->w);
	in_api = false;
	l->w = NULL;
	l->h = NULL;
}

/* Our description (an answer when an offer is pending), as a new string. */
static char *get_desc(struct leg *l, const struct sdh_rtp_options *o)
{
	char buf[16384];
	size_t len = 0;
	const char *ctype = NULL;
	in_api = true;
	int rc = sdh_rtp_get_description(l->h, o, buf, sizeof buf, &len, &ctype);
	in_api = false;
	cr_assert_eq(rc, 0, "%s: get_description: %s", l->name, strerror(-rc));
	cr_assert_str_eq(ctype, "application/sdp");
	cr_assert_eq(strlen(buf), len);
	return g_strdup(buf);
}

static int set_desc(struct leg *l, const char *text)
{
	in_api = true;
	int rc = sdh_rtp_set_description(l->h, "application/sdp", text, strlen(text), NULL);
	in_api = false;
	return rc;
}

static struct sdh_webrtc_stats leg_stats(const struct leg *l)
{
	struct sdh_webrtc_stats st;
	sdh_webrtc_get_stats(l->w, &st);
	return st;
}

static bool media_up(const struct leg *l)
{
	struct sdh_webrtc_stats st = leg_stats(l);
	return st.ice == ICE_STATE_CONNECTED && st.dtls == DTLS_STATE_CONNECTED && st.profile != 0;
}

/* ---- RTP ---- */

static size_t rtp_packet(uint8_t *b, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc,
                         const void *payload, size_t n)
{
	b[0] = 0x80;
	b[1] = pt;
	b[2] = (uint8_t)(seq >> 8);
	b[3] = (uint8_t)seq;
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
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

/* ---- a plain leg and its peer, a UDP socket: the PBX side ---- */

struct plain {
	int fd;
	uint16_t port;
	struct sdh_rtp *h;
	uint16_t seq;
};

/* A plain leg answered to a peer offering PCMU 0 and telephone-event 101
 * (with rtcp-mux: RTCP comes back to the socket too). */
static void plain_new(struct plain *p)
{
	memset(p, 0, sizeof *p);
	p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(p->fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t l = sizeof a;
	getsockname(p->fd, (struct sockaddr *)&a, &l);
	p->port = ntohs(a.sin_port);
	cr_assert_eq(sdh_rtp_new(rtp_ctx, NULL, &p->h), 0);
	char *offer = g_strdup_printf("v=0\r\no=pbx 7 1 IN IP4 127.0.0.1\r\ns=-\r\n"
	                              "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %u RTP/AVP 0 101\r\n"
	                              "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
	                              "a=rtcp-mux\r\na=sendrecv\r\n",
	                              p->port);
	cr_assert_eq(sdh_rtp_set_description(p->h, "application/sdp", offer, strlen(offer), NULL),
	             0);
	g_free(offer);
	char buf[4096];
	size_t len;
	cr_assert_eq(sdh_rtp_get_description(p->h, NULL, buf, sizeof buf, &len, NULL), 0);
}

static void plain_free(struct plain *p)
{
	sdh_rtp_free(p->h);
	close(p->fd);
}

static void plain_send(struct plain *p, const uint8_t *buf, size_t len)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(sdh_rtp_port(p->h))};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(sendto(p->fd, buf, len, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)len);
}

static size_t plain_send_rtp(struct plain *p, uint8_t pt, const char *payload, uint8_t *sent)
{
	size_t n =
	    rtp_packet(sent, pt, p->seq, p->seq * 160u, 0x0a0b0c0d, payload, strlen(payload));
	p->seq++;
	plain_send(p, sent, n);
	return n;
}

/* The next datagram the plain peer gets, iterating the loop; -1 after ms. */
static ssize_t plain_recv(struct plain *p, uint8_t *buf, size_t size, unsigned ms)
{
	ssize_t n = -1;
	wait_begin(ms);
	do
		n = recv(p->fd, buf, size, MSG_DONTWAIT);
	while (n < 0 && wait_more());
	wait_end();
	return n;
}

/* ---- a browser: the project's ICE, DTLS and SRTP put together ---- */

#define BROWSER_KEEP 32

struct browser {
	struct ice_agent *ice;
	struct dtls_cert *cert;
	struct dtls *dtls;
	enum dtls_role role;
	char peer_fp[128];
	bool dtls_connected, dtls_client;
	const char *dtls_failure;
	struct srtp_session *srtp;
	GPtrArray *held; /* DTLS datagrams made before ICE selected a pair */
	GSource *timer;  /* DTLS retransmissions */
	uint64_t version;
	uint16_t seq;
	/* plain packets received */
	unsigned n_rtp, n_rtcp;
	uint8_t rtp[BROWSER_KEEP][512];
	size_t rtp_len[BROWSER_KEEP];
};

static uint64_t ms_now(void)
{
	return (uint64_t)(g_get_monotonic_time() / 1000);
}

static gboolean browser_tick(gpointer data)
{
	struct browser *b = data;
	if (b->dtls) {
		int64_t at = dtls_next_deadline(b->dtls);
		if (at >= 0 && (uint64_t)at <= ms_now())
			dtls_tick(b->dtls, ms_now());
	}
	return G_SOURCE_CONTINUE;
}

static void browser_recv(void *arg, uint8_t *buf, size_t len)
{
	struct browser *b = arg;
	int n;
	switch (rtp_demux(buf, len)) {
	case RTP_DEMUX_DTLS:
		if (b->dtls)
			dtls_recv(b->dtls, buf, len, ms_now());
		break;
	case RTP_DEMUX_RTP:
		if (b->srtp && (n = srtp_session_unprotect_rtp(b->srtp, buf, len)) > 0) {
			if (b->n_rtp < BROWSER_KEEP) {
				memcpy(b->rtp[b->n_rtp], buf, (size_t)n);
				b->rtp_len[b->n_rtp] = (size_t)n;
			}
			b->n_rtp++;
		}
		break;
	case RTP_DEMUX_RTCP:
		if (b->srtp && srtp_session_unprotect_rtcp(b->srtp, buf, len) > 0)
			b->n_rtcp++;
		break;
	default:
		break;
	}
}

static void browser_state(void *arg, enum ice_state state, const char *reason)
{
	struct browser *b = arg;
	(void)reason;
	if (state != ICE_STATE_CONNECTED)
		return;
	for (unsigned i = 0; i < b->held->len; i++) {
		gsize n;
		const uint8_t *p = g_bytes_get_data(b->held->pdata[i], &n);
		ice_agent_send(b->ice, p, n);
	}
	g_ptr_array_set_size(b->held, 0);
	if (b->dtls && b->role == DTLS_ROLE_CLIENT && dtls_state(b->dtls) == DTLS_STATE_NEW)
		dtls_start(b->dtls, ms_now());
}

static void browser_dtls_send(void *arg, const uint8_t *buf, size_t len)
{
	struct browser *b = arg;
	if (ice_agent_send(b->ice, buf, len) == -ENOTCONN && b->held->len < 16)
		g_ptr_array_add(b->held, g_bytes_new(buf, len));
}

static void browser_dtls_connected(void *arg, const struct dtls_srtp_keys *keys)
{
	struct browser *b = arg;
	struct srtp_keys sk;
	cr_assert_eq(srtp_keys_from_material((enum srtp_profile)keys->profile, keys->material,
	                                     keys->material_len, keys->local_is_client, &sk),
	             0);
	cr_assert_eq(srtp_session_new(&sk, &b->srtp), 0);
	b->dtls_connected = true;
	b->dtls_client = keys->local_is_client;
}

static void browser_dtls_failed(void *arg, const char *reason)
{
	((struct browser *)arg)->dtls_failure = reason;
}

/* controlling: the browser makes the first offer */
static void browser_new_ice(struct browser *b, bool controlling, bool lite)
{
	memset(b, 0, sizeof *b);
	struct ice_params ip = {
	    .loop = loop,
	    .addresses = loopback,
	    .lite = lite,
	    .controlling = controlling,
	    .connect_timeout_ms = 5000,
	    .on_recv = browser_recv,
	    .on_state = browser_state,
	    .arg = b,
	};
	cr_assert_eq(ice_agent_new(&ip, &b->ice), 0);
	cr_assert_eq(dtls_cert_new(0, &b->cert), 0);
	b->held = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	b->timer = g_timeout_source_new(5);
	g_source_set_callback(b->timer, browser_tick, b, NULL);
	g_source_attach(b->timer, loop);
	b->version = 1;
	b->seq = 100;
}

static void browser_new(struct browser *b, bool controlling) { browser_new_ice(b, controlling, false); }

static void browser_free(struct browser *b)
{
	g_source_destroy(b->timer);
	g_source_unref(b->timer);
	dtls_free(b->dtls);
	srtp_session_free(b->srtp);
	ice_agent_free(b->ice);
	dtls_cert_free(b->cert);
	g_ptr_array_unref(b->held);
}

/* The browser's description: audio with opus 111, PCMU 0 and
 * telephone-event te_pt, bundled and muxed, its candidates inline. */
static char *browser_sdp(struct browser *b, const char *setup, const char *dir, int te_pt)
{
	const char *addr;
	uint16_t port;
	ice_agent_default_candidate(b->ice, &addr, &port);
	size_t n = ice_agent_sdp_candidates(b->ice, NULL, 0);
	char *cands = g_malloc(n + 1);
	ice_agent_sdp_candidates(b->ice, cands, n + 1);
	char *text = g_strdup_printf(
	    "v=0\r\no=- 4611686018427387 %" G_GUINT64_FORMAT " IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	    "a=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n"
	    "m=audio %u UDP/TLS/RTP/SAVPF 111 0 %d\r\nc=IN IP4 %s\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
	    "%sa=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=ice-options:trickle\r\n"
	    "a=fingerprint:sha-256 %s\r\na=setup:%s\r\na=mid:0\r\na=%s\r\na=rtcp-mux\r\n"
	    "a=rtcp-rsize\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
	    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:%d telephone-event/8000\r\na=ssrc:1234 cname:b\r\n",
	    b->version++, port, te_pt, addr, cands, ice_agent_ufrag(b->ice), ice_agent_pwd(b->ice),
	    dtls_cert_fingerprint(b->cert), setup, dir, te_pt);
	g_free(cands);
	return text;
}

/* The browser takes the leg's description: its answer (our_setup NULL), or
 * its offer, answered with our_setup ("active" or "passive"). */
static void browser_take(struct browser *b, const char *text, const char *our_setup)
{
	struct sdp_session *s = parse(text);
	const struct sdp_media *m = &s->media[0];
	const char *fp = sdp_media_attr(m, SDP_ATTR_FINGERPRINT, NULL)->u.fingerprint.value;
	enum sdp_setup setup = setup_of(m);
	enum dtls_role role;
	if (our_setup)
		role = strcmp(our_setup, "active") == 0 ? DTLS_ROLE_CLIENT : DTLS_ROLE_SERVER;
	else
		role = setup == SDP_SETUP_ACTIVE ? DTLS_ROLE_SERVER : DTLS_ROLE_CLIENT;
	cr_assert_eq(ice_agent_set_remote_credentials(b->ice, media_value(m, SDP_ATTR_ICE_UFRAG),
	                                              media_value(m, SDP_ATTR_ICE_PWD),
	                                              sdp_session_attr(s, SDP_ATTR_ICE_LITE, NULL)),
	             0);
	unsigned from = 0;
	const struct sdp_attr *a;
	while ((a = sdp_attr_next(m->attrs, m->n_attrs, SDP_ATTR_CANDIDATE, NULL, &from)))
		cr_assert_eq(ice_agent_add_remote_candidate(b->ice, &a->u.candidate), 0);
	if (sdp_media_attr(m, SDP_ATTR_END_OF_CANDIDATES, NULL))
		ice_agent_end_of_candidates(b->ice);
	int rc = ice_agent_start(b->ice);
	cr_assert(rc == 0 || rc == -EALREADY);
	if (!b->dtls || strcmp(fp, b->peer_fp) != 0) {
		dtls_free(b->dtls);
		srtp_session_free(b->srtp);
		b->srtp = NULL;
		b->dtls_connected = false;
		snprintf(b->peer_fp, sizeof b->peer_fp, "%s", fp);
		struct dtls_config dc = {
		    .cert = b->cert,
		    .role = role,
		    .peer_fingerprint_alg = "sha-256",
		    .peer_fingerprint = b->peer_fp,
		    .send = browser_dtls_send,
		    .on_connected = browser_dtls_connected,
		    .on_failed = browser_dtls_failed,
		    .arg = b,
		};
		cr_assert_eq(dtls_new(&dc, &b->dtls), 0);
		b->role = role;
		if (role == DTLS_ROLE_CLIENT && ice_agent_state(b->ice) == ICE_STATE_CONNECTED)
			dtls_start(b->dtls, ms_now());
	}
	sdp_free(s);
}

static size_t browser_send_rtp(struct browser *b, uint8_t pt, const char *payload, uint8_t *plain)
{
	uint8_t buf[512];
	size_t n = rtp_packet(buf, pt, b->seq, b->seq * 960u, 0x51525354, payload, strlen(payload));
	b->seq++;
	memcpy(plain, buf, n);
	cr_assert_not_null(b->srtp, "the browser has no SRTP keys yet");
	int p = srtp_session_protect_rtp(b->srtp, buf, n, sizeof buf);
	cr_assert_gt(p, (int)n, "SRTP adds its tag");
	cr_assert_eq(ice_agent_send(b->ice, buf, (size_t)p), 0);
	return n;
}

/* A browser's call through a leg to a plain leg: the browser offers
 * (opus 111, PCMU 0, telephone-event 126), the leg answers and is bridged
 * to the plain leg; returns once ICE and DTLS are up on both ends, with
 * the leg's answer in *answer (when not NULL). */
static void browser_call(struct browser *b, struct leg *l, struct plain *p, char **answer)
{
	browser_new(b, true);
	leg_new(l, "gateway", false);
	char *offer = browser_sdp(b, "actpass", "sendrecv", 126);
	cr_assert_eq(set_desc(l, offer), 0);
	g_free(offer);
	char *ans = get_desc(l, NULL);
	browser_take(b, ans, NULL);
	plain_new(p);
	cr_assert_eq(sdh_rtp_bridge(l->h, p->h), 0);
	WAIT_FOR(media_up(l) && b->dtls_connected, 4000);
	cr_assert(b->dtls_client == false, "the leg answered active: it is the DTLS client");
	if (answer)
		*answer = ans;
	else
		g_free(ans);
}

/* The browser sends one packet; the plain peer gets it with want_pt and the
 * rest unchanged. */
static void browser_to_plain(struct browser *b, struct plain *p, uint8_t pt, uint8_t want_pt,
                             const char *payload)
{
	uint8_t sent[512], got[512];
	size_t n = browser_send_rtp(b, pt, payload, sent);
	ssize_t r = plain_recv(p, got, sizeof got, 2000);
	cr_assert_eq(r, (ssize_t)n, "the plain peer got %zd bytes of %zu (%s)", r, n, payload);
	cr_assert_eq(got[1] & 0x7f, want_pt);
	cr_assert_eq(got[1] & 0x80, sent[1] & 0x80, "the marker bit stays");
	got[1] = sent[1];
	cr_assert_arr_eq(got, sent, n, "the packet changed on its way (%s)", payload);
}

static void plain_to_browser(struct plain *p, struct browser *b, uint8_t pt, uint8_t want_pt,
                             const char *payload)
{
	uint8_t sent[512];
	unsigned before = b->n_rtp;
	size_t n = plain_send_rtp(p, pt, payload, sent);
	WAIT_FOR(b->n_rtp > before, 2000);
	cr_assert_eq(b->n_rtp, before + 1);
	cr_assert_lt(before, BROWSER_KEEP);
	const uint8_t *got = b->rtp[before];
	cr_assert_eq(b->rtp_len[before], n);
	cr_assert_eq(got[1] & 0x7f, want_pt);
	cr_assert_eq(got[1] & 0x80, sent[1] & 0x80, "the marker bit stays");
	cr_assert_arr_eq(got + 2, sent + 2, n - 2, "the packet changed on its way (%s)", payload);
	cr_assert_eq(got[0], sent[0]);
}

/* What the browser sends does not reach the plain peer (within 150 ms). */
static void browser_to_plain_dropped(struct browser *b, struct plain *p, uint8_t pt,
                                     const char *payload)
{
	uint8_t sent[512], got[512];
	browser_send_rtp(b, pt, payload, sent);
	cr_assert_eq(plain_recv(p, got, sizeof got, 150), -1, "%s arrived", payload);
}

static void plain_to_browser_dropped(struct plain *p, struct browser *b, const char *payload)
{
	uint8_t sent[512];
	unsigned before = b->n_rtp;
	plain_send_rtp(p, 0, payload, sent);
	run_for(150);
	cr_assert_eq(b->n_rtp, before, "%s arrived", payload);
}

/* ---- answers to browsers' offers ---- */

/* Every candidate line comes before a=end-of-candidates, which is there;
 * the m= port and c= address are those of the first (the default). */
static void assert_candidates(const struct sdp_session *s, const struct sdp_media *m)
{
	int last_cand = -1, eoc = -1;
	const struct sdp_candidate *first = NULL;
	for (unsigned i = 0; i < m->n_attrs; i++) {
		if (m->attrs[i].kind == SDP_ATTR_CANDIDATE) {
			cr_assert_eq(eoc, -1, "a candidate after a=end-of-candidates");
			last_cand = (int)i;
			const struct sdp_candidate *c = &m->attrs[i].u.candidate;
			if (!first)
				first = c;
			cr_assert_eq(c->component, 1);
			cr_assert_str_eq(c->address, "127.0.0.1");
			cr_assert(c->port >= ICE_MIN && c->port <= ICE_MAX, "port %u", c->port);
		} else if (m->attrs[i].kind == SDP_ATTR_END_OF_CANDIDATES) {
			eoc = (int)i;
		}
	}
	cr_assert_geq(last_cand, 0, "no candidate");
	cr_assert_gt(eoc, last_cand, "no a=end-of-candidates after the candidates");
	const struct sdp_connection *c = sdp_media_connection(s, m);
	cr_assert_not_null(c);
	cr_assert_str_eq(c->address, first->address);
	cr_assert_eq(m->port, first->port);
}

/* What every answer of ours to a browser's audio offer has. */
static void assert_webrtc_answer(const struct sdp_session *s, const char *offer_ufrag)
{
	const struct sdp_media *a = &s->media[0];
	cr_assert_str_eq(a->type, "audio");
	cr_assert_str_eq(a->proto, "UDP/TLS/RTP/SAVPF");
	const char *ufrag = media_value(a, SDP_ATTR_ICE_UFRAG);
	const char *pwd = media_value(a, SDP_ATTR_ICE_PWD);
	cr_assert(strlen(ufrag) >= 4 && strlen(ufrag) <= 256);
	cr_assert(strlen(pwd) >= 22 && strlen(pwd) <= 256);
	cr_assert_str_neq(ufrag, offer_ufrag);
	const struct sdp_attr *fp = sdp_media_attr(a, SDP_ATTR_FINGERPRINT, NULL);
	cr_assert_not_null(fp);
	cr_assert_str_eq(fp->u.fingerprint.hash, "sha-256");
	cr_assert_str_eq(fp->u.fingerprint.value, dtls_cert_fingerprint(cert));
	cr_assert_eq(setup_of(a), SDP_SETUP_ACTIVE, "actpass is answered active");
	cr_assert_str_eq(media_value(a, SDP_ATTR_MID), "0");
	cr_assert_not_null(sdp_media_attr(a, SDP_ATTR_RTCP_MUX, NULL));
	const struct sdp_attr *g = sdp_session_attr(s, SDP_ATTR_GROUP, NULL);
	cr_assert_not_null(g);
	cr_assert_str_eq(g->u.group.semantics, "BUNDLE");
	cr_assert_eq(g->u.group.count, 1, "only the audio section is bundled");
	cr_assert_str_eq(g->u.group.ids[0], "0");
	cr_assert_null(sdp_session_attr(s, SDP_ATTR_ICE_LITE, NULL));
	cr_assert_eq(sdp_media_direction(s, a), SDP_DIR_SENDRECV);
	assert_candidates(s, a);
}

static void assert_video_refused(const struct sdp_session *s)
{
	cr_assert_eq(s->n_media, 2);
	const struct sdp_media *v = &s->media[1];
	cr_assert_str_eq(v->type, "video");
	cr_assert_eq(v->port, 0, "video refused, not the call");
	cr_assert_str_eq(v->proto, "UDP/TLS/RTP/SAVPF");
	cr_assert_str_eq(media_value(v, SDP_ATTR_MID), "1", "a refused section keeps its mid");
}

Test(sdh_webrtc, chrome_offer_is_answered_in_webrtc_terms)
{
	char *offer = load("chrome-156-audio-video-offer.sdp");
	struct leg l;
	leg_new(&l, "gateway", false);
	cr_assert_eq(set_desc(&l, offer), 0);
	char *answer = get_desc(&l, NULL);
	struct sdp_session *s = parse(answer);
	assert_webrtc_answer(s, "k3sq");
	assert_video_refused(s);
	/* opus, G722, PCMU, PCMA and telephone-event at both clocks, in Chrome's
	 * order and numbering; red and CN are not carried */
	const struct sdp_media *a = &s->media[0];
	assert_formats(a, "111 9 0 8 110 126");
	struct sdp_codec c;
	cr_assert_eq(sdp_media_find_codec(a, "opus", 48000, &c), 0);
	cr_assert_eq(c.channels, 2);
	cr_assert_str_eq(c.fmtp, "minptime=10;useinbandfec=1");
	cr_assert_eq(sdp_media_find_codec(a, "telephone-event", 8000, &c), 0);
	cr_assert_eq(c.pt, 126);
	/* a second leg has credentials of its own */
	struct leg l2;
	leg_new(&l2, "second", false);
	cr_assert_eq(set_desc(&l2, offer), 0);
	char *answer2 = get_desc(&l2, NULL);
	struct sdp_session *s2 = parse(answer2);
	cr_assert_str_neq(media_value(&s2->media[0], SDP_ATTR_ICE_UFRAG),
	                  media_value(&s->media[0], SDP_ATTR_ICE_UFRAG));
	cr_assert_neq(s2->media[0].port, s->media[0].port);
	sdp_free(s2);
	g_free(answer2);
	sdp_free(s);
	g_free(answer);
	leg_free(&l2);
	leg_free(&l);
	g_free(offer);
}

Test(sdh_webrtc, answer_keeps_only_what_the_context_carries)
{
	/* a gateway configured for G.711 alone */
	const char *const codecs[] = {"PCMU", "PCMA", "telephone-event", NULL};
	struct sdh_rtp_ctx *rc;
	struct sdh_webrtc_ctx *wc;
	make_ctx(codecs, &rc, &wc);
	char *offer = load("chrome-156-audio-offer.sdp");
	struct leg l;
	leg_new_in(&l, wc, "g711", false);
	cr_assert_eq(set_desc(&l, offer), 0);
	char *answer = get_desc(&l, NULL);
	struct sdp_session *s = parse(answer);
	cr_assert_eq(s->n_media, 1);
	assert_webrtc_answer(s, "SHyg");
	/* telephone-event/48000 goes with opus */
	assert_formats(&s->media[0], "0 8 126");
	sdp_free(s);
	g_free(answer);
	leg_free(&l);
	g_free(offer);
	sdh_webrtc_ctx_free(wc);
	sdh_rtp_ctx_unref(rc);
}

Test(sdh_webrtc, firefox_offer_is_answered_in_webrtc_terms)
{
	char *offer = load("firefox-153-audio-video-offer.sdp");
	struct leg l;
	leg_new(&l, "gateway", false);
	/* the fingerprint at session level, mDNS and TCP and component-2
	 * candidates: all taken (the mDNS ones are left to peer-reflexive
	 * discovery) */
	cr_assert_eq(set_desc(&l, offer), 0);
	char *answer = get_desc(&l, NULL);
	struct sdp_session *s = parse(answer);
	assert_webrtc_answer(s, "550df93a");
	assert_video_refused(s);
	const struct sdp_media *a = &s->media[0];
	assert_formats(a, "109 9 0 8 101");
	struct sdp_codec c;
	cr_assert_eq(sdp_media_find_codec(a, "opus", 48000, &c), 0);
	cr_assert_eq(c.pt, 109);
	cr_assert_str_eq(c.fmtp, "maxplaybackrate=48000;stereo=1;useinbandfec=1");
	cr_assert_eq(sdp_media_find_codec(a, "telephone-event", 8000, &c), 0);
	cr_assert_str_eq(c.fmtp, "0-15");
	/* ICE runs: the leg checks toward what it could resolve */
	struct sdh_webrtc_stats st = leg_stats(&l);
	cr_assert_eq(st.ice, ICE_STATE_CHECKING);
	cr_assert_eq(st.dtls, DTLS_STATE_NEW);
	sdp_free(s);
	g_free(answer);
	leg_free(&l);
	g_free(offer);

	/* the audio-only offer the same way */
	offer = load("firefox-153-audio-offer.sdp");
	leg_new(&l, "gateway", false);
	cr_assert_eq(set_desc(&l, offer), 0);
	answer = get_desc(&l, NULL);
	s = parse(answer);
	cr_assert_eq(s->n_media, 1);
	assert_webrtc_answer(s, "5dac9d6d");
	sdp_free(s);
	g_free(answer);
	leg_free(&l);
	g_free(offer);
}

/* Firefox hides its host addresses behind mDNS names, which the gateway
 * cannot resolve, and ends its candidates: the leg has no candidate of the
 * browser's to check, must not give up for it, and finds the browser's
 * address in the browser's own checks (peer-reflexive). */
Test(sdh_webrtc, browser_with_mdns_candidates_only_is_reached)
{
	struct browser b;
	struct leg l;
	struct plain p;
	browser_new(&b, true);
	leg_new(&l, "gateway", false);
	char *offer = browser_sdp(&b, "actpass", "sendrecv", 126);
	GRegex *re = g_regex_new("(a=candidate:\\S+ 1 udp \\d+ )127\\.0\\.0\\.1 ", 0, 0, NULL);
	char *hidden = g_regex_replace(re, offer, -1, 0,
	                               "\\1d39b5d8c-473a-49e0-8611-41147fa479ef.local ", 0, NULL);
	g_regex_unref(re);
	cr_assert_str_neq(hidden, offer);
	cr_assert_not_null(strstr(hidden, "a=end-of-candidates"));
	cr_assert_eq(set_desc(&l, hidden), 0);
	char *answer = get_desc(&l, NULL);
	/* the answer takes its time to reach the browser (SIP, the network):
	 * meanwhile the leg has nothing to check and waits */
	run_for(700);
	cr_assert_eq(l.failures, 0, "the leg failed: %s", l.reason);
	cr_assert_eq(leg_stats(&l).ice, ICE_STATE_CHECKING);
	browser_take(&b, answer, NULL);
	plain_new(&p);
	cr_assert_eq(sdh_rtp_bridge(l.h, p.h), 0);
	WAIT_FOR((media_up(&l) && b.dtls_connected) || l.failures, 4000);
	cr_assert_eq(l.failures, 0, "the leg failed: %s", l.reason);
	browser_to_plain(&b, &p, 0, 0, "from an mDNS browser");
	plain_to_browser(&p, &b, 0, 0, "to an mDNS browser");
	g_free(offer);
	g_free(hidden);
	g_free(answer);
	plain_free(&p);
	leg_free(&l);
	browser_free(&b);
}

/* A peer that is ICE-lite (RFC 8445 §6.1.1): the leg answering it is made
 * controlling (what the B2BUA does for an offer with a=ice-lite), does the
 * checks and nominates, and media flows. */
Test(sdh_webrtc, ice_lite_peer_is_answered_by_a_controlling_leg)
{
	struct browser b;
	struct leg l;
	struct plain p;
	browser_new_ice(&b, false, true);
	leg_new(&l, "gateway", true);
	char *offer = browser_sdp(&b, "actpass", "sendrecv", 126);
	char *lite = replaced(offer, "a=group:BUNDLE 0\r\n", "a=ice-lite\r\na=group:BUNDLE 0\r\n");
	cr_assert_eq(set_desc(&l, lite), 0);
	char *answer = get_desc(&l, NULL);
	browser_take(&b, answer, NULL);
	plain_new(&p);
	cr_assert_eq(sdh_rtp_bridge(l.h, p.h), 0);
	WAIT_FOR((media_up(&l) && b.dtls_connected) || l.failures, 4000);
	cr_assert_eq(l.failures, 0, "the leg failed: %s", l.reason);
	browser_to_plain(&b, &p, 0, 0, "from a lite peer");
	plain_to_browser(&p, &b, 0, 0, "to a lite peer");
	g_free(offer);
	g_free(lite);
	g_free(answer);
	plain_free(&p);
	leg_free(&l);
	browser_free(&b);
}

/* ---- refused offers ---- */

/* The leg's next description is an offer of its own: no answer state was
 * left behind. */
static void assert_next_is_our_offer(struct leg *l, enum sdp_setup want_setup)
{
	char *text = get_desc(l, NULL);
	struct sdp_session *s = parse(text);
	cr_assert_eq(s->n_media, 1);
	assert_formats(&s->media[0], "0 8 9 111 101");
	cr_assert_str_eq(media_value(&s->media[0], SDP_ATTR_MID), "0");
	cr_assert_eq(setup_of(&s->media[0]), want_setup);
	sdp_free(s);
	g_free(text);
	in_api = true;
	sdh_rtp_rollback_description(l->h);
	in_api = false;
}

Test(sdh_webrtc, offers_a_webrtc_leg_cannot_take_are_refused)
{
	char *chrome = load("chrome-156-audio-offer.sdp");
	char *firefox = load("firefox-153-audio-offer.sdp");
	char *bad[] = {
	    without_lines(chrome, "a=fingerprint:"),
	    without_lines(firefox, "a=fingerprint:"), /* Firefox's is at session level */
	    without_lines(chrome, "a=ice-ufrag:"),
	    without_lines(chrome, "a=ice-pwd:"),
	    without_lines(chrome, "a=rtcp-mux"),
	    replaced(chrome, "a=setup:actpass", "a=setup:holdconn"),
	    replaced(chrome, "UDP/TLS/RTP/SAVPF", "RTP/AVP"),
	    replaced(firefox, "UDP/TLS/RTP/SAVPF", "RTP/AVP"),
	};
	struct leg l;
	leg_new(&l, "gateway", false);
	for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
		cr_assert_eq(set_desc(&l, bad[i]), -EINVAL, "offer %u taken:\n%s", i, bad[i]);
		assert_next_is_our_offer(&l, SDP_SETUP_ACTPASS);
	}
	struct sdh_webrtc_stats st = leg_stats(&l);
	cr_assert_eq(st.ice, ICE_STATE_NEW, "nothing was started");

	/* the same in a running session: the re-offer is refused, what was
	 * agreed stays (we are the DTLS client and say so) */
	cr_assert_eq(set_desc(&l, chrome), 0);
	g_free(get_desc(&l, NULL));
	for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
		cr_assert_eq(set_desc(&l, bad[i]), -EINVAL, "re-offer %u taken", i);
		assert_next_is_our_offer(&l, SDP_SETUP_ACTIVE);
	}
	cr_assert_eq(l.failures, 0);
	for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++)
		g_free(bad[i]);
	leg_free(&l);
	g_free(chrome);
	g_free(firefox);
}

/* ---- our offer and the roles an answer gives ---- */

Test(sdh_webrtc, our_offer_and_the_dtls_roles_the_answer_sets)
{
	struct leg l;
	leg_new(&l, "offerer", true);
	char *offer = get_desc(&l, NULL);
	struct sdp_session *s = parse(offer);
	cr_assert_eq(s->n_media, 1);
	const struct sdp_media *m = &s->media[0];
	cr_assert_str_eq(m->proto, "UDP/TLS/RTP/SAVPF");
	cr_assert_eq(setup_of(m), SDP_SETUP_ACTPASS);
	cr_assert_str_eq(media_value(m, SDP_ATTR_MID), "0");
	const struct sdp_attr *g = sdp_session_attr(s, SDP_ATTR_GROUP, NULL);
	cr_assert_not_null(g);
	cr_assert_str_eq(g->u.group.semantics, "BUNDLE");
	cr_assert_eq(g->u.group.count, 1);
	cr_assert_str_eq(g->u.group.ids[0], "0");
	cr_assert_not_null(sdp_media_attr(m, SDP_ATTR_RTCP_MUX, NULL));
	cr_assert_str_eq(sdp_media_attr(m, SDP_ATTR_FINGERPRINT, NULL)->u.fingerprint.value,
	                 dtls_cert_fingerprint(cert));
	assert_formats(m, "0 8 9 111 101");
	assert_candidates(s, m);
	sdp_free(s);

	/* an answer must choose: actpass and holdconn are refused, the offer
	 * stays pending */
	struct browser b;
	browser_new(&b, false);
	browser_take(&b, offer, "passive");
	const char *refused[] = {"actpass", "holdconn"};
	for (unsigned i = 0; i < 2; i++) {
		char *ans = browser_sdp(&b, refused[i], "sendrecv", 101);
		cr_assert_eq(set_desc(&l, ans), -EINVAL, "setup:%s taken in an answer", refused[i]);
		g_free(ans);
	}
	/* passive: the browser is the DTLS server, we are the client */
	char *ans = browser_sdp(&b, "passive", "sendrecv", 101);
	cr_assert_eq(set_desc(&l, ans), 0);
	g_free(ans);
	cr_assert_eq(sdh_rtp_echo(l.h), 0);
	WAIT_FOR(media_up(&l) && b.dtls_connected, 4000);
	cr_assert_not(b.dtls_client);
	cr_assert_eq(b.role, DTLS_ROLE_SERVER);
	/* echo: what the browser sends comes back, decrypted and encrypted again */
	uint8_t sent[512];
	size_t n = browser_send_rtp(&b, 0, "echo me", sent);
	WAIT_FOR(b.n_rtp == 1, 2000);
	cr_assert_eq(b.rtp_len[0], n);
	cr_assert_arr_eq(b.rtp[0], sent, n);
	browser_free(&b);
	leg_free(&l);
	g_free(offer);

	/* active: the browser is the DTLS client, we are the server */
	leg_new(&l, "offerer", true);
	offer = get_desc(&l, NULL);
	browser_new(&b, false);
	browser_take(&b, offer, "active");
	ans = browser_sdp(&b, "active", "sendrecv", 101);
	cr_assert_eq(set_desc(&l, ans), 0);
	g_free(ans);
	WAIT_FOR(media_up(&l) && b.dtls_connected, 4000);
	cr_assert(b.dtls_client);
	/* a later offer of ours keeps the roles of the running association */
	char *again = get_desc(&l, NULL);
	s = parse(again);
	cr_assert_eq(setup_of(&s->media[0]), SDP_SETUP_PASSIVE);
	sdp_free(s);
	g_free(again);
	cr_assert_eq(l.failures, 0);
	browser_free(&b);
	leg_free(&l);
	g_free(offer);
}

/* ---- two WebRTC legs ---- */

/* A offers, B answers; each reads the other's description as text. */
static void connect_legs(struct leg *a, struct leg *b, const char *fp_instead)
{
	leg_new(a, "A", true);
	leg_new(b, "B", false);
	char *offer = get_desc(a, NULL);
	if (fp_instead) {
		char *o2 = replaced(offer, dtls_cert_fingerprint(cert), fp_instead);
		g_free(offer);
		offer = o2;
	}
	cr_assert_eq(set_desc(b, offer), 0);
	char *answer = get_desc(b, NULL);
	cr_assert_eq(set_desc(a, answer), 0);
	g_free(offer);
	g_free(answer);
}

Test(sdh_webrtc, two_legs_carry_srtp_both_ways)
{
	struct leg a, b;
	connect_legs(&a, &b, NULL);
	/* A echoes; B is bridged to a plain leg whose peer is our socket */
	cr_assert_eq(sdh_rtp_echo(a.h), 0);
	struct plain p;
	plain_new(&p);
	cr_assert_eq(sdh_rtp_bridge(b.h, p.h), 0);
	WAIT_FOR(media_up(&a) && media_up(&b), 4000);
	struct sdh_webrtc_stats sa = leg_stats(&a), sb = leg_stats(&b);
	cr_assert_str_eq(sa.remote, sb.local, "one pair, seen from both ends");
	cr_assert_str_eq(sa.local, sb.remote);
	cr_assert_geq(sa.ice_connected_ms, 0);
	cr_assert_geq(sb.dtls_connected_ms, 0);
	cr_assert_eq(sa.profile, sb.profile);

	/* plain RTP in → SRTP B→A → echo → SRTP A→B → plain RTP out, each
	 * packet back byte for byte */
	enum { N = 20 };
	for (unsigned i = 0; i < N; i++) {
		uint8_t sent[512], got[512];
		char payload[64];
		snprintf(payload, sizeof payload, "payload %u of the plain peer", i);
		size_t n = plain_send_rtp(&p, 0, payload, sent);
		ssize_t r = plain_recv(&p, got, sizeof got, 2000);
		cr_assert_eq(r, (ssize_t)n, "packet %u: %zd bytes back", i, r);
		cr_assert_arr_eq(got, sent, n, "packet %u changed", i);
	}
	/* RTCP too, as SRTCP over the same pair */
	uint8_t rr[64], got[512];
	size_t n = rtcp_rr(rr, 0x0a0b0c0d);
	plain_send(&p, rr, n);
	cr_assert_eq(plain_recv(&p, got, sizeof got, 2000), (ssize_t)n);
	cr_assert_arr_eq(got, rr, n);

	sa = leg_stats(&a);
	sb = leg_stats(&b);
	cr_assert_eq(sb.srtp.protected, N + 1);
	cr_assert_eq(sa.srtp.unprotected, N + 1);
	cr_assert_eq(sa.srtp.protected, N + 1);
	cr_assert_eq(sb.srtp.unprotected, N + 1);
	cr_assert_eq(sa.srtp.auth_failures + sb.srtp.auth_failures, 0);
	cr_assert_eq(sa.srtp.replays + sb.srtp.replays, 0);
	struct sdh_rtp_stats hs;
	sdh_rtp_get_stats(a.h, &hs);
	cr_assert_eq(hs.rx_packets, N + 1);
	cr_assert_eq(hs.tx_packets, N + 1);
	cr_assert_eq(hs.dropped, 0);
	cr_assert(hs.peer_sends);
	cr_assert_eq(a.failures + b.failures, 0);
	plain_free(&p);
	leg_free(&a);
	leg_free(&b);
}

Test(sdh_webrtc, wrong_fingerprint_fails_the_leg_once_from_the_loop)
{
	struct dtls_cert *other;
	cr_assert_eq(dtls_cert_new(0, &other), 0);
	struct leg a, b;
	/* B reads a fingerprint that is not A's certificate's */
	connect_legs(&a, &b, dtls_cert_fingerprint(other));
	b.free_on_failure = true; /* the owner may free the leg from the event */
	WAIT_FOR(b.failures > 0, 4000);
	cr_assert_str_eq(b.reason, "DTLS fingerprint mismatch");
	cr_assert_null(b.w);
	run_for(300);
	cr_assert_eq(b.failures, 1, "reported once");
	/* A never gets keys */
	cr_assert_eq(leg_stats(&a).profile, 0);
	leg_free(&a);
	dtls_cert_free(other);
}

/* ---- re-offers ---- */

Test(sdh_webrtc, reoffer_with_new_ice_credentials_restarts_ice)
{
	struct browser b;
	struct leg l;
	struct plain p;
	char *answer1;
	browser_call(&b, &l, &p, &answer1);
	browser_to_plain(&b, &p, 0, 0, "before the restart");
	plain_to_browser(&p, &b, 0, 0, "before the restart, back");

	struct sdp_session *s1 = parse(answer1);
	char old_ufrag[300];
	snprintf(old_ufrag, sizeof old_ufrag, "%s", media_value(&s1->media[0], SDP_ATTR_ICE_UFRAG));
	char old_pwd[300];
	snprintf(old_pwd, sizeof old_pwd, "%s", media_value(&s1->media[0], SDP_ATTR_ICE_PWD));

	/* the browser restarts ICE: new credentials, same certificate */
	cr_assert_eq(ice_agent_restart(b.ice), 0);
	char *offer2 = browser_sdp(&b, "actpass", "sendrecv", 126);
	cr_assert_eq(set_desc(&l, offer2), 0);
	char *answer2 = get_desc(&l, NULL);
	struct sdp_session *s2 = parse(answer2);
	cr_assert_str_neq(media_value(&s2->media[0], SDP_ATTR_ICE_UFRAG), old_ufrag,
	                  "new local credentials in the answer");
	cr_assert_str_neq(media_value(&s2->media[0], SDP_ATTR_ICE_PWD), old_pwd);
	cr_assert_eq(setup_of(&s2->media[0]), SDP_SETUP_ACTIVE, "the DTLS roles stay");
	cr_assert_eq(s2->sess_version, s1->sess_version + 1);
	/* the old pair carries media while the checks run again */
	browser_to_plain(&b, &p, 0, 0, "during the restart");
	browser_take(&b, answer2, NULL);
	struct ice_stats is;
	WAIT_FOR((ice_agent_get_stats(b.ice, &is), is.connected_ms >= 0), 4000);
	cr_assert(b.dtls_connected, "the same DTLS association");
	browser_to_plain(&b, &p, 0, 0, "after the restart");
	plain_to_browser(&p, &b, 0, 0, "after the restart, back");

	/* the same credentials again: nothing changes, not even o= */
	char *offer3 = browser_sdp(&b, "actpass", "sendrecv", 126);
	cr_assert_eq(set_desc(&l, offer3), 0);
	char *answer3 = get_desc(&l, NULL);
	cr_assert_str_eq(answer3, answer2);
	browser_take(&b, answer3, NULL);
	browser_to_plain(&b, &p, 0, 0, "after the same offer");
	plain_to_browser(&p, &b, 0, 0, "after the same offer, back");
	struct sdh_webrtc_stats st = leg_stats(&l);
	cr_assert_eq(st.srtp.auth_failures, 0);
	cr_assert_eq(l.failures, 0);

	sdp_free(s1);
	sdp_free(s2);
	g_free(answer1);
	g_free(offer2);
	g_free(answer2);
	g_free(offer3);
	g_free(answer3);
	plain_free(&p);
	leg_free(&l);
	browser_free(&b);
}

/* The browser's next association uses a new certificate. */
static void browser_new_certificate(struct browser *b)
{
	dtls_free(b->dtls);
	b->dtls = NULL;
	srtp_session_free(b->srtp);
	b->srtp = NULL;
	b->dtls_connected = false;
	dtls_cert_free(b->cert);
	cr_assert_eq(dtls_cert_new(0, &b->cert), 0);
}

Test(sdh_webrtc, reoffer_with_a_new_fingerprint_starts_a_new_association)
{
	struct browser b;
	struct leg l;
	struct plain p;
	browser_call(&b, &l, &p, NULL);
	browser_to_plain(&b, &p, 0, 0, "first keys");
	struct sdh_webrtc_stats st = leg_stats(&l);
	cr_assert_eq(st.srtp.unprotected, 1);

	browser_new_certificate(&b);
	char *offer = browser_sdp(&b, "actpass", "sendrecv", 126);
	cr_assert_eq(set_desc(&l, offer), 0);
	char *answer = get_desc(&l, NULL);
	struct sdp_session *s = parse(answer);
	cr_assert_eq(setup_of(&s->media[0]), SDP_SETUP_ACTIVE, "actpass: we are the client again");
	sdp_free(s);
	browser_take(&b, answer, NULL);
	WAIT_FOR(b.dtls_connected && media_up(&l), 4000);
	st = leg_stats(&l);
	cr_assert_eq(st.srtp.unprotected, 0, "a new SRTP session");
	cr_assert_eq(st.srtp_total.unprotected, 1, "the first session's count is kept");
	browser_to_plain(&b, &p, 0, 0, "second keys");
	plain_to_browser(&p, &b, 0, 0, "second keys, back");
	st = leg_stats(&l);
	cr_assert_eq(st.srtp.unprotected, 1);
	cr_assert_eq(st.srtp_total.unprotected, 2, "both sessions, summed");
	cr_assert_eq(l.failures, 0);
	g_free(offer);
	g_free(answer);
	plain_free(&p);
	leg_free(&l);
	browser_free(&b);
}

static enum sdp_direction reoffer(struct browser *b, struct leg *l, const char *dir)
{
	char *offer = browser_sdp(b, "actpass", dir, 126);
	cr_assert_eq(set_desc(l, offer), 0);
	char *answer = get_desc(l, NULL);
	struct sdp_session *s = parse(answer);
	enum sdp_direction d = sdp_media_direction(s, &s->media[0]);
	cr_assert_eq(setup_of(&s->media[0]), SDP_SETUP_ACTIVE);
	browser_take(b, answer, NULL);
	sdp_free(s);
	g_free(offer);
	g_free(answer);
	return d;
}

Test(sdh_webrtc, hold_and_resume_by_reoffer)
{
	struct browser b;
	struct leg l;
	struct plain p;
	browser_call(&b, &l, &p, NULL);
	browser_to_plain(&b, &p, 0, 0, "talking");
	plain_to_browser(&p, &b, 0, 0, "talking back");

	/* the browser holds: it still sends (music), we only receive */
	cr_assert_eq(reoffer(&b, &l, "sendonly"), SDP_DIR_RECVONLY);
	browser_to_plain(&b, &p, 0, 0, "music on hold");
	plain_to_browser_dropped(&p, &b, "not sent to a holding browser");

	cr_assert_eq(reoffer(&b, &l, "inactive"), SDP_DIR_INACTIVE);
	browser_to_plain_dropped(&b, &p, 0, "inactive: not relayed");
	plain_to_browser_dropped(&p, &b, "inactive: not sent");

	cr_assert_eq(reoffer(&b, &l, "sendrecv"), SDP_DIR_SENDRECV);
	browser_to_plain(&b, &p, 0, 0, "resumed");
	plain_to_browser(&p, &b, 0, 0, "resumed, back");
	cr_assert(b.dtls_connected);
	cr_assert_eq(leg_stats(&l).srtp.auth_failures, 0);
	cr_assert_eq(l.failures, 0);
	plain_free(&p);
	leg_free(&l);
	browser_free(&b);
}

/* ---- payload types across a bridge ---- */

Test(sdh_webrtc, payload_types_are_mapped_across_a_bridge)
{
	/* the browser: opus 111, PCMU 0, telephone-event 126; the PBX: PCMU 0,
	 * telephone-event 101 */
	struct browser b;
	struct leg l;
	struct plain p;
	browser_call(&b, &l, &p, NULL);
	browser_to_plain(&b, &p, 0, 0, "PCMU keeps its number");
	browser_to_plain(&b, &p, 126, 101, "\x05\x0a\x00\xa0");
	plain_to_browser(&p, &b, 101, 126, "\x05\x8a\x03\x20");
	plain_to_browser(&p, &b, 0, 0, "PCMU back");
	/* opus was not agreed with the PBX: dropped and counted */
	browser_to_plain_dropped(&b, &p, 111, "opus frame");
	struct sdh_rtp_stats sw, sp;
	sdh_rtp_get_stats(l.h, &sw);
	sdh_rtp_get_stats(p.h, &sp);
	cr_assert_eq(sw.rx_packets, 3);
	cr_assert_eq(sw.dropped, 1);
	cr_assert_eq(sw.pt_mapped, 1);
	cr_assert_eq(sp.pt_mapped, 1);
	cr_assert_eq(sw.tx_packets, 2);
	plain_free(&p);
	leg_free(&l);
	browser_free(&b);
}
