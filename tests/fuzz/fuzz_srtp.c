/* fuzz_srtp.c — webrtc/srtp.h against arbitrary packets.
 *
 * The first byte chooses the profile (bit 0) and what happens to the rest
 * (bits 1-2): 0 and 1 unprotect it as SRTP or SRTCP, with keys fixed here
 * so that seeds protected with them reach past authentication; 2 and 3
 * protect it as RTP or RTCP with one session and unprotect it with the
 * mirrored one, which must give back the same bytes. Every refusal must be
 * a negative errno and counted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "webrtc/srtp.h"
#include "fuzz.h"

/* Seeds in corpus/srtp were protected by a session keyed like `sender`. */
static void make_keys(enum srtp_profile profile, struct srtp_keys *sender,
		      struct srtp_keys *receiver)
{
	memset(sender, 0, sizeof(*sender));
	sender->profile = profile;
	for (size_t i = 0; i < SRTP_DTLS_KEY_LEN; i++) {
		sender->local_key[i] = (uint8_t)(0x10 + i);
		sender->remote_key[i] = (uint8_t)(0x40 + i);
	}
	for (size_t i = 0; i < SRTP_DTLS_SALT_MAX; i++) {
		sender->local_salt[i] = (uint8_t)(0x20 + i);
		sender->remote_salt[i] = (uint8_t)(0x60 + i);
	}
	*receiver = *sender;
	memcpy(receiver->local_key, sender->remote_key, SRTP_DTLS_KEY_LEN);
	memcpy(receiver->local_salt, sender->remote_salt, SRTP_DTLS_SALT_MAX);
	memcpy(receiver->remote_key, sender->local_key, SRTP_DTLS_KEY_LEN);
	memcpy(receiver->remote_salt, sender->local_salt, SRTP_DTLS_SALT_MAX);
}

static void check_refusal(int rc)
{
	CHECK(rc == -EINVAL || rc == -EBADMSG || rc == -EALREADY || rc == -EIO);
}

static uint64_t refusals(const struct srtp_session *s)
{
	struct srtp_counters c;
	srtp_session_counters(s, &c);
	return c.auth_failures + c.replays + c.other_errors;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	enum srtp_profile profile =
		(data[0] & 1) ? SRTP_PROFILE_AEAD_AES_128_GCM : SRTP_PROFILE_AES128_CM_SHA1_80;
	unsigned mode = (data[0] >> 1) & 3;
	bool rtcp = mode & 1;
	const uint8_t *pkt = data + 1;
	size_t len = size - 1;

	struct srtp_keys ks, kr;
	make_keys(profile, &ks, &kr);
	struct srtp_session *sender, *receiver;
	CHECK(srtp_session_new(&ks, &sender) == 0);
	CHECK(srtp_session_new(&kr, &receiver) == 0);

	/* Exactly the room the trailer needs, so a write past it is seen. */
	size_t cap = len + srtp_trailer_len(profile, rtcp);
	uint8_t *buf = malloc(cap ? cap : 1);
	CHECK(buf != NULL);
	memcpy(buf, pkt, len);

	if (mode < 2) {
		int rc = rtcp ? srtp_session_unprotect_rtcp(receiver, buf, len)
			      : srtp_session_unprotect_rtp(receiver, buf, len);
		if (rc >= 0) {
			CHECK((size_t)rc + srtp_trailer_len(profile, rtcp) == len);
		} else {
			check_refusal(rc);
			CHECK(refusals(receiver) == 1);
		}
	} else {
		int n = rtcp ? srtp_session_protect_rtcp(sender, buf, len, cap)
			     : srtp_session_protect_rtp(sender, buf, len, cap);
		if (n >= 0) {
			CHECK((size_t)n == cap);
			int m = rtcp ? srtp_session_unprotect_rtcp(receiver, buf, (size_t)n)
				     : srtp_session_unprotect_rtp(receiver, buf, (size_t)n);
			CHECK(m >= 0 && (size_t)m == len);
			CHECK(memcmp(buf, pkt, len) == 0);
		} else {
			check_refusal(n);
			CHECK(refusals(sender) == 1);
		}
	}
	free(buf);
	srtp_session_free(sender);
	srtp_session_free(receiver);
	return 0;
}
