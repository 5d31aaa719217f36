/* srtp.h — SRTP/SRTCP sessions keyed by DTLS-SRTP or SDES (RFC 3711, RFC 5764,
 * RFC 7714, RFC 4568).
 *
 * One session protects what we send with the local master key and salt and
 * unprotects what we receive with the remote ones. Any SSRC is accepted in
 * both directions (a browser may change its SSRC; a relayed stream may too),
 * and inbound packets go through a 1024-packet replay window.
 *
 * Packets are transformed in place in the caller's buffer; protecting needs
 * srtp_trailer_len() bytes of room after the packet (SRTP_DTLS_TRAILER_MAX always
 * suffices). The header exposes no libsrtp2 type, so the library behind it
 * (Debian's NSS build, or one built against OpenSSL) is only a link choice.
 *
 * A session is used by one thread at a time; different sessions may be used
 * from different threads at once. */
#ifndef SIPWIRE_WEBRTC_SRTP_H
#define SIPWIRE_WEBRTC_SRTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* DTLS-SRTP protection profiles, valued as their IANA identifiers. */
enum srtp_profile {
	SRTP_PROFILE_AES128_CM_SHA1_80 = 0x0001, /* RFC 5764 */
	/* RFC 5764: a 32-bit tag on SRTP only; SRTCP keeps the 80-bit one */
	SRTP_PROFILE_AES128_CM_SHA1_32 = 0x0002,
	SRTP_PROFILE_AEAD_AES_128_GCM = 0x0007, /* RFC 7714 */
};

#define SRTP_DTLS_KEY_LEN 16
#define SRTP_DTLS_SALT_MAX 14
/* The largest trailer any profile appends: GCM's 16-byte tag plus the
 * 4-byte SRTCP index. */
#define SRTP_DTLS_TRAILER_MAX 20

struct srtp_keys {
	enum srtp_profile profile;
	/* Salts are srtp_salt_len(profile) bytes long (14, or 12 for GCM). */
	uint8_t local_key[SRTP_DTLS_KEY_LEN];
	uint8_t local_salt[SRTP_DTLS_SALT_MAX];
	uint8_t remote_key[SRTP_DTLS_KEY_LEN];
	uint8_t remote_salt[SRTP_DTLS_SALT_MAX];
};

struct srtp_counters {
	uint64_t protected;    /* RTP and RTCP packets protected */
	uint64_t unprotected;  /* RTP and RTCP packets accepted */
	uint64_t auth_failures;
	uint64_t replays;      /* inbound replays, and outbound indexes reused */
	uint64_t other_errors; /* malformed, too short, no room, library errors */
};

struct srtp_session;

/* Initializes libsrtp2 once per process; later calls return the first
 * result. 0 or -EIO. srtp_session_new calls it. */
int srtp_library_init(void);
/* The linked libsrtp2's version, as it names it ("libsrtp2 2.5.0"). */
const char *srtp_library_version(void);

/* Master salt length of a profile; 0 for an unknown profile. */
size_t srtp_salt_len(enum srtp_profile profile);

/* Bytes protection appends to an RTP (rtcp false) or RTCP packet; 0 for an
 * unknown profile. */
size_t srtp_trailer_len(enum srtp_profile profile, bool rtcp);

/* Splits DTLS keying material exported with the label "EXTRACTOR-dtls_srtp"
 * (client key, server key, client salt, server salt: RFC 5764 §4.2) into
 * keys for our side: the client's write key is the local one when we are
 * the DTLS client. 0, or -EINVAL for an unknown profile or a material length
 * other than 2 * (16 + srtp_salt_len(profile)). */
int srtp_keys_from_material(enum srtp_profile profile, const uint8_t *material, size_t len,
			    bool dtls_client, struct srtp_keys *out);

/* Creates a session. 0 with *out set; -EINVAL for an unknown profile,
 * -ENOMEM, -EIO when libsrtp2 refuses. */
int srtp_session_new(const struct srtp_keys *keys, struct srtp_session **out);

/* Erases the keys and frees the session; NULL is ignored. */
void srtp_session_free(struct srtp_session *s);

/* Protect the RTP or RTCP packet of len bytes at buf, whose buffer holds cap
 * bytes. Return the protected length, or -EINVAL (not a packet of that
 * kind), -ENOSPC (cap too small for the trailer), -EALREADY (this RTP
 * index was already protected), -EIO. */
int srtp_session_protect_rtp(struct srtp_session *s, uint8_t *buf, size_t len, size_t cap);
int srtp_session_protect_rtcp(struct srtp_session *s, uint8_t *buf, size_t len, size_t cap);

/* Unprotect an SRTP or SRTCP packet of len bytes at buf. Return the plain
 * length, or -EINVAL (too short or malformed), -EBADMSG (authentication
 * failed), -EALREADY (replayed or older than the window), -EIO. A refused
 * packet's bytes are unspecified. */
int srtp_session_unprotect_rtp(struct srtp_session *s, uint8_t *buf, size_t len);
int srtp_session_unprotect_rtcp(struct srtp_session *s, uint8_t *buf, size_t len);

void srtp_session_counters(const struct srtp_session *s, struct srtp_counters *out);

#endif
