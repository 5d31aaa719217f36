/* sdes.h — SDP security descriptions for SRTP (RFC 4568): the a=crypto
 * attribute, read and written, and fresh master keys.
 *
 *   a=crypto:<tag> <crypto-suite> inline:<base64(key || salt)>[|lifetime][|MKI:length]
 *            [;inline:...] [session-param ...]
 *
 * sdes_parse reads any attribute of that grammar; whether sipwire can use the
 * line is a separate verdict (sdes_crypto.unsupported), because RFC 4568's
 * answer rules skip a line we cannot honour and look at the next one, while
 * a line that breaks the grammar is an error in the description.
 *
 * What sipwire honours: the suites AES_CM_128_HMAC_SHA1_80, _32 (RFC 4568
 * §6.2) and AEAD_AES_128_GCM (RFC 7714 §12); one master key without an MKI
 * (libsrtp2 would need every key up front and each packet to name its key);
 * a lifetime up to the suite's maximum, 2^48 (the sender re-keys with a new
 * offer before it runs out; the receiver stops taking packets under the key
 * once it has, see sdh_sdes); KDR absent or 0, WSH, FEC_ORDER (no FEC is
 * used). UNENCRYPTED_SRTP, UNENCRYPTED_SRTCP, UNAUTHENTICATED_SRTP, FEC_KEY,
 * KDR above 0 and any other session parameter make the line unsupported
 * (RFC 4568 §6.3: a parameter that is not understood invalidates the line).
 *
 * Key bytes are never written to a log; sdes_crypto_clear wipes them. */
#ifndef SIPWIRE_WEBRTC_SDES_H
#define SIPWIRE_WEBRTC_SDES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "webrtc/srtp.h"

enum sdes_suite {
	SDES_SUITE_UNKNOWN = 0, /* a suite sipwire does not implement */
	SDES_AES_CM_128_HMAC_SHA1_80,
	SDES_AES_CM_128_HMAC_SHA1_32,
	SDES_AEAD_AES_128_GCM,
};

#define SDES_KEY_LEN 16
#define SDES_SALT_MAX 14
#define SDES_TAG_MAX 999999999u /* 1*9DIGIT */
/* The largest lifetime any suite here allows (RFC 3711 §9.2, RFC 7714 §12). */
#define SDES_LIFETIME_MAX (UINT64_C(1) << 48)
/* Room for what sdes_format writes, with its NUL: at the longest a 9-digit
 * tag, AES_CM_128_HMAC_SHA1_80, 40 characters of key and salt and a
 * 15-digit lifetime (under 2^48, not a power of two) make 98. */
#define SDES_FORMAT_MAX 100

struct sdes_crypto {
	uint32_t tag;
	enum sdes_suite suite;
	/* The first key-param's key and salt (salt: sdes_salt_len(suite)
	 * bytes); zero for an unknown suite. */
	uint8_t key[SDES_KEY_LEN];
	uint8_t salt[SDES_SALT_MAX];
	uint64_t lifetime; /* packets; 0: none given */
	unsigned n_keys;   /* key-params listed */
	bool has_mki;
	uint32_t mki;         /* its value when has_mki; UINT32_MAX past 32 bits */
	unsigned mki_len;     /* bytes, 1..128 */
	uint32_t window_hint; /* WSH=, 0 when none */
	/* Why sipwire cannot use this line as it stands (static text), or
	 * NULL when it can. */
	const char *unsupported;
};

/* The suite's name as a=crypto writes it; "" for SDES_SUITE_UNKNOWN. */
const char *sdes_suite_name(enum sdes_suite suite);
/* The libsrtp2 profile (webrtc/srtp.h) that runs the suite; 0 for none. */
enum srtp_profile sdes_suite_profile(enum sdes_suite suite);
/* Master salt length: 14, 12 for GCM, 0 for none. */
size_t sdes_salt_len(enum sdes_suite suite);

/* Parse an a=crypto value (what follows "a=crypto:", without CRLF) of len
 * bytes into *out. 0: it follows RFC 4568's grammar (out->unsupported says
 * whether sipwire can use it); -EINVAL: it does not (out is cleared). A
 * known suite's key-salt must decode to exactly its key and salt. */
int sdes_parse(const char *value, size_t len, struct sdes_crypto *out);

/* Write "TAG SUITE inline:KEYSALT" (with "|2^N" or "|N" when a lifetime is
 * set; never an MKI) NUL-terminated into buf. Returns its length, -EINVAL
 * (unknown suite, tag out of range), or -ENOSPC. */
int sdes_format(const struct sdes_crypto *c, char *buf, size_t size);

/* A line of suite with tag and a fresh master key and salt from OpenSSL's
 * RAND_bytes. 0; -EINVAL (unknown suite or tag); -EIO (no randomness). */
int sdes_generate(enum sdes_suite suite, uint32_t tag, struct sdes_crypto *out);

/* Do a and b carry the same suite, key and salt (tags aside)? */
bool sdes_same_key(const struct sdes_crypto *a, const struct sdes_crypto *b);

/* Wipe the key material. */
void sdes_crypto_clear(struct sdes_crypto *c);

#endif
