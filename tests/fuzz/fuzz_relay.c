/* fuzz_relay.c — the relay between two bridged legs, fed datagrams from the
 * network as a leg's transport hands them over (the WebRTC leg after SRTP,
 * which authenticates but does not check what is inside), and the STUN the
 * WebRTC leg's fast path takes off the selected pair's socket first
 * (webrtc/ice_direct.h: the peer's checks answered, our consent checks'
 * answers matched, consent expiry on a clock that moves a second per
 * datagram).
 *
 * Input: datagrams, each a length byte then that many bytes; the top bit of
 * the length byte picks the leg it arrives on. Leg a's go through the ICE
 * fast path first: STUN may only be dropped or answered with a valid STUN
 * message that fits the reply buffer; what is not STUN goes on. Whatever
 * they hold, the relay may only drop them or send each on, from the other
 * leg, with its length unchanged: RTP renumbered onto that leg's stream,
 * RTCP translated in place (RFC 3550 §7), never read or written past the
 * packet. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stun/stunmessage.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "webrtc/ice_direct.h"
#include "webrtc/sdh_rtp.h"
#include "webrtc/sdp.h"

static struct sdh_rtp_ctx *ctx;
static struct ice_direct ice; /* reset for every input */

/* The credentials of both ends: a seed can hold checks keyed with them. */
#define OUR_UFRAG   "gw01"
#define OUR_PWD     "gatewaypassword0123456"
#define PEER_UFRAG  "br01"
#define PEER_PWD    "browserpassword0123456"

static void check_stun_out(const uint8_t *out, size_t len)
{
	CHECK(len > 0 && len <= ICE_DIRECT_STUN_MAX);
	CHECK(stun_message_validate_buffer_length(out, len, true) == (int)len);
}

struct leg_tp {
	size_t sent, last_len;
};

static int tp_remote(void *arg, const struct sdp_session *s, const struct sdp_media *m, bool offer)
{
	return 0;
}
static void tp_agreed(void *arg) {}
static void tp_describe(void *arg, bool answer, const char *mid, uint16_t *port,
                        const char **address, GString *session_lines, GString *media_lines)
{
	*port = 9;
}
static int tp_send(void *arg, uint8_t *buf, size_t len, size_t cap, bool rtcp)
{
	struct leg_tp *t = arg;
	CHECK(len <= cap);
	t->sent++;
	t->last_len = len;
	return 0;
}
static void tp_close(void *arg) {}

static const char offer[] =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 126\r\nc=IN IP4 0.0.0.0\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\na=sendrecv\r\n";
static const char offer_b[] =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 0 101\r\nc=IN IP4 0.0.0.0\r\na=rtcp-mux\r\n"
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

static struct sdh_rtp *leg(struct leg_tp *t, const char *remote)
{
	struct sdh_rtp_transport tp = {.proto = "UDP/TLS/RTP/SAVPF", .remote = tp_remote,
	                               .agreed = tp_agreed, .describe = tp_describe,
	                               .send = tp_send, .close = tp_close, .arg = t};
	struct sdh_rtp *h = NULL;
	CHECK(sdh_rtp_new(ctx, &(struct sdh_rtp_opts){.transport = &tp}, &h) == 0);
	CHECK(sdh_rtp_set_description(h, "application/sdp", remote, strlen(remote), NULL) == 0);
	char buf[2048];
	size_t len;
	CHECK(sdh_rtp_get_description(h, NULL, buf, sizeof buf, &len, NULL) == 0);
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ctx) {
		struct sdh_rtp_ctx_params p = {.address = "192.0.2.10", .bind_address = "127.0.0.1",
		                               .port_min = 61000, .port_max = 61001};
		CHECK(sdh_rtp_ctx_new(&p, &ctx) == 0);
	}
	struct sockaddr_in pair = {.sin_family = AF_INET, .sin_port = htons(50000),
	                           .sin_addr.s_addr = htonl(0x7f000001)};
	int64_t now = 1000000;
	ice_direct_init(&ice, OUR_UFRAG, OUR_PWD, PEER_UFRAG, PEER_PWD, false, 1845501695,
	                (const struct sockaddr_storage *)&pair, sizeof pair, now);
	bool consent = true;
	struct leg_tp ta = {0}, tb = {0};
	struct sdh_rtp *a = leg(&ta, offer), *b = leg(&tb, offer_b);
	CHECK(sdh_rtp_bridge(a, b) == 0);
	uint8_t pkt[256 + 64];
	size_t pos = 0;
	while (pos < size) {
		bool to_b = data[pos] & 0x80;
		size_t n = data[pos] & 0x7f;
		pos++;
		if (n > size - pos)
			n = size - pos;
		memcpy(pkt, data + pos, n);
		pos += n;
		uint8_t reply[ICE_DIRECT_STUN_MAX];
		now += 1000000;
		if (consent) {
			int t = ice_direct_tick(&ice, now, reply);
			CHECK(t == 0 || t == -ETIMEDOUT || (t > 0 && t <= ICE_DIRECT_STUN_MAX));
			if (t > 0)
				check_stun_out(reply, (size_t)t);
			consent = t != -ETIMEDOUT; /* the leg stops here: nothing more is read */
		}
		if (!to_b && consent) {
			struct sockaddr_storage from;
			memcpy(&from, &ice.remote, sizeof from);
			size_t out_len = 0;
			enum ice_direct_verdict v =
			    ice_direct_input(&ice, pkt, n, &from, ice.remote_len, now, reply, &out_len);
			if (v == ICE_DIRECT_REPLY)
				check_stun_out(reply, out_len);
			CHECK(v == ICE_DIRECT_MEDIA || n == 0 || pkt[0] < 4);
			if (v != ICE_DIRECT_MEDIA)
				continue;
		}
		struct leg_tp *out = to_b ? &ta : &tb; /* what b receives, a sends */
		size_t before = out->sent;
		sdh_rtp_transport_recv(to_b ? b : a, pkt, n, sizeof pkt);
		if (out->sent != before)
			CHECK(out->last_len == n);
	}
	sdh_rtp_free(a);
	sdh_rtp_free(b);
	return 0;
}
