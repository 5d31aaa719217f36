/* test_ice_direct.c — STUN on the selected pair's socket without I/O
 * (webrtc/ice_direct.h): two ends, "gw" and "br", each an ice_direct with
 * the other's credentials, passing each other what they make, on a clock
 * given by the test. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <stun/stunagent.h>
#include <stun/stunmessage.h>
#include <stun/usages/ice.h>

#include "webrtc/ice_direct.h"

#define S 1000000 /* µs */

static struct sockaddr_storage addr(uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	v4->sin_family = AF_INET;
	v4->sin_port = htons(port);
	v4->sin_addr.s_addr = htonl(0x7f000001);
	return ss;
}

static struct ice_direct gw, br;
static struct sockaddr_storage gw_addr, br_addr;

/* gw is controlled (it answered the browser's offer), br controlling */
static void setup(void)
{
	gw_addr = addr(40000);
	br_addr = addr(50000);
	ice_direct_init(&gw, "gwUf", "gatewaypassword0123456", "brUf", "browserpassword0123456",
	                false, 1845501695, &br_addr, sizeof(struct sockaddr_in), 0);
	ice_direct_init(&br, "brUf", "browserpassword0123456", "gwUf", "gatewaypassword0123456",
	                true, 2130706431, &gw_addr, sizeof(struct sockaddr_in), 0);
}

TestSuite(ice_direct, .init = setup);

/* What `to` makes of a datagram from `from_addr`. */
static enum ice_direct_verdict deliver(struct ice_direct *to, const uint8_t *buf, size_t len,
                                       const struct sockaddr_storage *from_addr, int64_t now,
                                       uint8_t *reply, size_t *reply_len)
{
	*reply_len = 0;
	return ice_direct_input(to, buf, len, from_addr, sizeof(struct sockaddr_in), now, reply,
	                        reply_len);
}

Test(ice_direct, media_from_the_pair_goes_to_the_owner_and_from_elsewhere_is_dropped)
{
	uint8_t rtp[12] = {0x80, 0, 0, 1};
	uint8_t reply[ICE_DIRECT_STUN_MAX];
	size_t n;
	cr_assert_eq(deliver(&gw, rtp, sizeof rtp, &br_addr, 1, reply, &n), ICE_DIRECT_MEDIA);
	struct sockaddr_storage other = addr(50001);
	cr_assert_eq(deliver(&gw, rtp, sizeof rtp, &other, 1, reply, &n), ICE_DIRECT_DROP);
	cr_assert_eq(deliver(&gw, rtp, 0, &br_addr, 1, reply, &n), ICE_DIRECT_DROP);
	uint8_t dtls[13] = {0x16, 0xfe, 0xfd};
	cr_assert_eq(deliver(&gw, dtls, sizeof dtls, &br_addr, 1, reply, &n), ICE_DIRECT_MEDIA);
}

Test(ice_direct, consent_checks_are_due_every_4_to_6_s_answered_and_renew_consent)
{
	uint8_t check[ICE_DIRECT_STUN_MAX], reply[ICE_DIRECT_STUN_MAX];
	int64_t due = ice_direct_due(&gw);
	cr_assert(due >= 4 * S && due <= 6 * S, "the first check is due 4 to 6 s in: %lld", (long long)due);
	cr_assert_eq(ice_direct_tick(&gw, 3 * S, check), 0, "none before 4 s");
	cr_assert_eq(ice_direct_tick(&gw, due - 1, check), 0, "none before it is due");
	int n = ice_direct_tick(&gw, 6 * S + 1, check);
	cr_assert_gt(n, 0);
	cr_assert_eq(stun_message_validate_buffer_length(check, (size_t)n, true), n);
	cr_assert(ice_direct_due(&gw) >= 10 * S + 1, "the next one is 4 s away or more");
	cr_assert_eq(ice_direct_tick(&gw, 6 * S + 2, check), 0, "the next one is 4 s away");
	cr_assert_eq(gw.checks, 1);

	/* the browser answers it (its own ice_direct stands in for Chrome) */
	size_t rl;
	cr_assert_eq(deliver(&br, check, (size_t)n, &gw_addr, 6 * S, reply, &rl), ICE_DIRECT_REPLY);
	cr_assert_eq(br.answered, 1);
	cr_assert_eq(stun_message_validate_buffer_length(reply, rl, true), (int)rl);
	/* the answer renews consent for 30 s from its arrival */
	uint8_t out[ICE_DIRECT_STUN_MAX];
	size_t ol;
	cr_assert_eq(deliver(&gw, reply, rl, &br_addr, 20 * S, out, &ol), ICE_DIRECT_DROP);
	cr_assert_eq(gw.answers, 1);
	cr_assert_eq(gw.refused, 0);
	cr_assert_geq(ice_direct_tick(&gw, 49 * S, check), 0, "consent holds until 50 s");
	cr_assert_eq(ice_direct_tick(&gw, 50 * S, check), -ETIMEDOUT);

	/* the same answer again matches no check any more */
	cr_assert_eq(deliver(&gw, reply, rl, &br_addr, 21 * S, out, &ol), ICE_DIRECT_DROP);
	cr_assert_eq(gw.answers, 1);
	cr_assert_eq(gw.refused, 1);
}

Test(ice_direct, consent_expires_30_s_after_the_start_without_an_answer)
{
	uint8_t check[ICE_DIRECT_STUN_MAX];
	for (int64_t t = 0; t < 30 * S; t += S / 10)
		cr_assert_geq(ice_direct_tick(&gw, t, check), 0, "at %lld us", (long long)t);
	cr_assert_geq(gw.checks, 5);
	cr_assert_eq(ice_direct_tick(&gw, 30 * S, check), -ETIMEDOUT);
}

Test(ice_direct, an_answer_from_another_address_does_not_renew_consent)
{
	uint8_t check[ICE_DIRECT_STUN_MAX], reply[ICE_DIRECT_STUN_MAX], out[ICE_DIRECT_STUN_MAX];
	int n = ice_direct_tick(&gw, 6 * S + 1, check);
	size_t rl, ol;
	cr_assert_eq(deliver(&br, check, (size_t)n, &gw_addr, 6 * S, reply, &rl), ICE_DIRECT_REPLY);
	struct sockaddr_storage other = addr(50002);
	cr_assert_eq(deliver(&gw, reply, rl, &other, 7 * S, out, &ol), ICE_DIRECT_DROP);
	cr_assert_eq(gw.answers, 0);
	cr_assert_eq(ice_direct_tick(&gw, 30 * S, check), -ETIMEDOUT);
}

Test(ice_direct, the_peers_checks_are_answered_and_a_wrong_key_is_not)
{
	/* br sends a check to gw: keyed with gw's password */
	uint8_t check[ICE_DIRECT_STUN_MAX], reply[ICE_DIRECT_STUN_MAX];
	int n = ice_direct_tick(&br, 6 * S + 1, check);
	cr_assert_gt(n, 0);
	size_t rl;
	cr_assert_eq(deliver(&gw, check, (size_t)n, &br_addr, 7 * S, reply, &rl), ICE_DIRECT_REPLY);
	cr_assert_eq(gw.answered, 1);
	cr_assert_gt(rl, 20);
	uint8_t out[ICE_DIRECT_STUN_MAX];
	size_t ol;
	cr_assert_eq(deliver(&br, reply, rl, &gw_addr, 7 * S, out, &ol), ICE_DIRECT_DROP);
	cr_assert_eq(br.answers, 1, "gw's answer is valid for br");

	/* a spoiled byte in the check: integrity fails, nothing is answered */
	n = ice_direct_tick(&br, 13 * S, check);
	cr_assert_gt(n, 0);
	check[n - 20] ^= 1; /* inside MESSAGE-INTEGRITY (FINGERPRINT fails too) */
	cr_assert_eq(deliver(&gw, check, (size_t)n, &br_addr, 13 * S, reply, &rl), ICE_DIRECT_DROP);
	cr_assert_eq(gw.answered, 1);
	cr_assert_eq(gw.refused, 1);

	/* a check keyed for someone else (another ufrag) */
	struct ice_direct stranger;
	struct sockaddr_storage sa = addr(50003);
	ice_direct_init(&stranger, "xxUf", "strangerpassword012345", "zzUf",
	                "gatewaypassword0123456", true, 1, &gw_addr, sizeof(struct sockaddr_in), 0);
	n = ice_direct_tick(&stranger, 6 * S + 1, check);
	cr_assert_eq(deliver(&gw, check, (size_t)n, &sa, 14 * S, reply, &rl), ICE_DIRECT_DROP);
	cr_assert_eq(gw.refused, 2);

	/* junk in the STUN range */
	uint8_t junk[40] = {0x00, 0x01, 0x00, 0x14};
	cr_assert_eq(deliver(&gw, junk, sizeof junk, &br_addr, 14 * S, reply, &rl), ICE_DIRECT_DROP);
}

Test(ice_direct, a_nomination_from_a_new_address_moves_the_pair)
{
	/* a check with USE-CANDIDATE from the browser's new address */
	StunAgent agent;
	static const uint16_t known[] = {0};
	stun_agent_init(&agent, known, STUN_COMPATIBILITY_RFC5389,
	                STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
	StunMessage msg;
	uint8_t check[ICE_DIRECT_STUN_MAX], reply[ICE_DIRECT_STUN_MAX];
	const char *user = "gwUf:brUf", *pwd = "gatewaypassword0123456";
	size_t n = stun_usage_ice_conncheck_create(
	    &agent, &msg, check, sizeof check, (const uint8_t *)user, strlen(user),
	    (const uint8_t *)pwd, strlen(pwd), true, true, 2130706431u, 42, NULL,
	    STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
	cr_assert_gt(n, 0);
	struct sockaddr_storage moved = addr(50009);
	size_t rl;
	cr_assert_eq(deliver(&gw, check, n, &moved, 1 * S, reply, &rl), ICE_DIRECT_REPLY);
	cr_assert(ice_direct_from_pair(&gw, &moved), "the pair now ends at the new address");
	cr_assert_not(ice_direct_from_pair(&gw, &br_addr));
	uint8_t rtp[12] = {0x80};
	uint8_t out[ICE_DIRECT_STUN_MAX];
	size_t ol;
	cr_assert_eq(deliver(&gw, rtp, sizeof rtp, &moved, 1 * S, out, &ol), ICE_DIRECT_MEDIA);
	cr_assert_eq(deliver(&gw, rtp, sizeof rtp, &br_addr, 1 * S, out, &ol), ICE_DIRECT_DROP);

	/* without USE-CANDIDATE a check is answered and the pair stays */
	n = stun_usage_ice_conncheck_create(&agent, &msg, check, sizeof check,
	                                    (const uint8_t *)user, strlen(user),
	                                    (const uint8_t *)pwd, strlen(pwd), false, true,
	                                    2130706431u, 42, NULL,
	                                    STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
	cr_assert_eq(deliver(&gw, check, n, &br_addr, 2 * S, reply, &rl), ICE_DIRECT_REPLY);
	cr_assert(ice_direct_from_pair(&gw, &moved));
}
