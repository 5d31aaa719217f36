/* srtp.c — SRTP/SRTCP sessions over libsrtp2 (see srtp.h). */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "webrtc/srtp.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <srtp2/srtp.h>

/* Smallest packets libsrtp2 may be handed: an RTP fixed header, an RTCP
 * header plus sender SSRC. */
#define RTP_HEADER_LEN 12
#define RTCP_HEADER_LEN 8
/* The SRTCP E flag and index follow the encrypted part (RFC 3711 §3.4). */
#define SRTCP_INDEX_LEN 4
#define INBOUND_REPLAY_WINDOW 1024

/* libsrtp2 allows one wildcard-SSRC template per srtp_t, so each direction
 * has its own. */
struct srtp_session {
	srtp_t in;
	srtp_t out;
	enum srtp_profile profile;
	size_t rtp_tag_len, rtcp_tag_len;
	struct srtp_counters counters;
};

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status = -EIO;

static void library_init_once(void)
{
	library_status = srtp_init() == srtp_err_status_ok ? 0 : -EIO;
}

int srtp_library_init(void)
{
	pthread_once(&library_once, library_init_once);
	return library_status;
}

const char *srtp_library_version(void) { return srtp_get_version_string(); }

size_t srtp_salt_len(enum srtp_profile profile)
{
	switch (profile) {
	case SRTP_PROFILE_AES128_CM_SHA1_80:
	case SRTP_PROFILE_AES128_CM_SHA1_32:
		return SRTP_SALT_LEN;
	case SRTP_PROFILE_AEAD_AES_128_GCM:
		return SRTP_AEAD_SALT_LEN;
	}
	return 0;
}

static size_t tag_len(enum srtp_profile profile, bool rtcp)
{
	switch (profile) {
	case SRTP_PROFILE_AES128_CM_SHA1_80:
		return 10;
	case SRTP_PROFILE_AES128_CM_SHA1_32:
		return rtcp ? 10 : 4;
	case SRTP_PROFILE_AEAD_AES_128_GCM:
		return 16;
	}
	return 0;
}

size_t srtp_trailer_len(enum srtp_profile profile, bool rtcp)
{
	size_t tag = tag_len(profile, rtcp);
	if (tag == 0)
		return 0;
	return rtcp ? tag + SRTCP_INDEX_LEN : tag;
}

int srtp_keys_from_material(enum srtp_profile profile, const uint8_t *material, size_t len,
			    bool dtls_client, struct srtp_keys *out)
{
	size_t salt = srtp_salt_len(profile);
	if (salt == 0 || !material || !out || len != 2 * (SRTP_DTLS_KEY_LEN + salt))
		return -EINVAL;
	const uint8_t *client_key = material;
	const uint8_t *server_key = client_key + SRTP_DTLS_KEY_LEN;
	const uint8_t *client_salt = server_key + SRTP_DTLS_KEY_LEN;
	const uint8_t *server_salt = client_salt + salt;

	memset(out, 0, sizeof(*out));
	out->profile = profile;
	memcpy(out->local_key, dtls_client ? client_key : server_key, SRTP_DTLS_KEY_LEN);
	memcpy(out->local_salt, dtls_client ? client_salt : server_salt, salt);
	memcpy(out->remote_key, dtls_client ? server_key : client_key, SRTP_DTLS_KEY_LEN);
	memcpy(out->remote_salt, dtls_client ? server_salt : client_salt, salt);
	return 0;
}

static void policy_for(srtp_policy_t *p, enum srtp_profile profile, uint8_t *key_and_salt)
{
	memset(p, 0, sizeof(*p));
	if (profile == SRTP_PROFILE_AEAD_AES_128_GCM) {
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
	} else if (profile == SRTP_PROFILE_AES128_CM_SHA1_32) {
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
		srtp_crypto_policy_set_rtcp_default(&p->rtcp);
	} else {
		srtp_crypto_policy_set_rtp_default(&p->rtp);
		srtp_crypto_policy_set_rtcp_default(&p->rtcp);
	}
	p->key = key_and_salt;
	p->allow_repeat_tx = 0;
	p->next = NULL;
}

int srtp_session_new(const struct srtp_keys *keys, struct srtp_session **out)
{
	if (!keys || !out)
		return -EINVAL;
	size_t salt = srtp_salt_len(keys->profile);
	if (salt == 0)
		return -EINVAL;
	int rc = srtp_library_init();
	if (rc < 0)
		return rc;

	struct srtp_session *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->profile = keys->profile;
	s->rtp_tag_len = tag_len(keys->profile, false);
	s->rtcp_tag_len = tag_len(keys->profile, true);

	/* libsrtp2 reads each master key as key || salt. */
	uint8_t inbound_key[SRTP_DTLS_KEY_LEN + SRTP_DTLS_SALT_MAX];
	uint8_t outbound_key[SRTP_DTLS_KEY_LEN + SRTP_DTLS_SALT_MAX];
	memcpy(inbound_key, keys->remote_key, SRTP_DTLS_KEY_LEN);
	memcpy(inbound_key + SRTP_DTLS_KEY_LEN, keys->remote_salt, salt);
	memcpy(outbound_key, keys->local_key, SRTP_DTLS_KEY_LEN);
	memcpy(outbound_key + SRTP_DTLS_KEY_LEN, keys->local_salt, salt);

	srtp_policy_t inbound, outbound;
	policy_for(&inbound, keys->profile, inbound_key);
	inbound.ssrc.type = ssrc_any_inbound;
	inbound.window_size = INBOUND_REPLAY_WINDOW;
	policy_for(&outbound, keys->profile, outbound_key);
	outbound.ssrc.type = ssrc_any_outbound;
	/* Outbound, the window only catches a reused index; 0 is libsrtp2's default. */
	outbound.window_size = 0;

	srtp_err_status_t st = srtp_create(&s->in, &inbound);
	if (st == srtp_err_status_ok)
		st = srtp_create(&s->out, &outbound);
	/* libsrtp2 keeps its own derived keys; the copies here go. */
	explicit_bzero(inbound_key, sizeof(inbound_key));
	explicit_bzero(outbound_key, sizeof(outbound_key));
	if (st != srtp_err_status_ok) {
		srtp_session_free(s);
		return st == srtp_err_status_alloc_fail ? -ENOMEM : -EIO;
	}
	*out = s;
	return 0;
}

void srtp_session_free(struct srtp_session *s)
{
	if (!s)
		return;
	if (s->in)
		srtp_dealloc(s->in);
	if (s->out)
		srtp_dealloc(s->out);
	free(s);
}

/* Maps a libsrtp2 status to our errno and counts it. */
static int refuse(struct srtp_session *s, srtp_err_status_t st)
{
	switch (st) {
	case srtp_err_status_auth_fail:
		s->counters.auth_failures++;
		return -EBADMSG;
	case srtp_err_status_replay_fail:
	case srtp_err_status_replay_old:
		s->counters.replays++;
		return -EALREADY;
	case srtp_err_status_bad_param:
	case srtp_err_status_parse_err:
		s->counters.other_errors++;
		return -EINVAL;
	default:
		s->counters.other_errors++;
		return -EIO;
	}
}

static int invalid(struct srtp_session *s, int err)
{
	s->counters.other_errors++;
	return err;
}

/* An RTP header must be version 2 and fit in the packet with its CSRCs and
 * extension; libsrtp2 2.5 checks this too, but an older build linked
 * instead might not. */
static bool rtp_header_fits(const uint8_t *buf, size_t len)
{
	if (len < RTP_HEADER_LEN || (buf[0] >> 6) != 2)
		return false;
	size_t hdr = RTP_HEADER_LEN + 4u * (buf[0] & 0x0f);
	if (buf[0] & 0x10) {
		if (len < hdr + 4)
			return false;
		hdr += 4 + 4u * (((size_t)buf[hdr + 2] << 8) | buf[hdr + 3]);
	}
	return hdr <= len;
}

static bool rtcp_header_fits(const uint8_t *buf, size_t len)
{
	return len >= RTCP_HEADER_LEN && (buf[0] >> 6) == 2;
}

int srtp_session_protect_rtp(struct srtp_session *s, uint8_t *buf, size_t len, size_t cap)
{
	if (!buf || !rtp_header_fits(buf, len) || len > INT_MAX - SRTP_DTLS_TRAILER_MAX)
		return invalid(s, -EINVAL);
	if (cap < len + s->rtp_tag_len)
		return invalid(s, -ENOSPC);
	int n = (int)len;
	srtp_err_status_t st = srtp_protect(s->out, buf, &n);
	if (st != srtp_err_status_ok)
		return refuse(s, st);
	s->counters.protected++;
	return n;
}

int srtp_session_protect_rtcp(struct srtp_session *s, uint8_t *buf, size_t len, size_t cap)
{
	if (!buf || !rtcp_header_fits(buf, len) || len > INT_MAX - SRTP_DTLS_TRAILER_MAX)
		return invalid(s, -EINVAL);
	if (cap < len + s->rtcp_tag_len + SRTCP_INDEX_LEN)
		return invalid(s, -ENOSPC);
	int n = (int)len;
	srtp_err_status_t st = srtp_protect_rtcp(s->out, buf, &n);
	if (st != srtp_err_status_ok)
		return refuse(s, st);
	s->counters.protected++;
	return n;
}

int srtp_session_unprotect_rtp(struct srtp_session *s, uint8_t *buf, size_t len)
{
	if (!buf || len < RTP_HEADER_LEN + s->rtp_tag_len || len > INT_MAX ||
	    !rtp_header_fits(buf, len - s->rtp_tag_len))
		return invalid(s, -EINVAL);
	int n = (int)len;
	srtp_err_status_t st = srtp_unprotect(s->in, buf, &n);
	if (st != srtp_err_status_ok)
		return refuse(s, st);
	s->counters.unprotected++;
	return n;
}

int srtp_session_unprotect_rtcp(struct srtp_session *s, uint8_t *buf, size_t len)
{
	if (!buf || len < RTCP_HEADER_LEN + s->rtcp_tag_len + SRTCP_INDEX_LEN || len > INT_MAX ||
	    !rtcp_header_fits(buf, len))
		return invalid(s, -EINVAL);
	int n = (int)len;
	srtp_err_status_t st = srtp_unprotect_rtcp(s->in, buf, &n);
	if (st != srtp_err_status_ok)
		return refuse(s, st);
	s->counters.unprotected++;
	return n;
}

void srtp_session_counters(const struct srtp_session *s, struct srtp_counters *out)
{
	*out = s->counters;
}
