/* test_sdes.c — a=crypto lines (RFC 4568): the RFC's own examples, what
 * sipwire honours and refuses, malformed lines, and lines written back. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "webrtc/sdes.h"

static int parse(const char *v, struct sdes_crypto *c)
{
	return sdes_parse(v, strlen(v), c);
}

/* "ABCD..." as the bytes base64 decodes it to: the RFC's keys are text. */
static void assert_key_text(const struct sdes_crypto *c, const char *text30)
{
	cr_assert_eq(memcmp(c->key, text30, 16), 0);
	cr_assert_eq(memcmp(c->salt, text30 + 16, 14), 0);
}

Test(sdes, rfc4568_section4_example)
{
	struct sdes_crypto c;
	cr_assert_eq(parse("1 AES_CM_128_HMAC_SHA1_80 "
	                   "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32", &c), 0);
	cr_assert_eq(c.tag, 1);
	cr_assert_eq(c.suite, SDES_AES_CM_128_HMAC_SHA1_80);
	cr_assert_eq(c.lifetime, 1u << 20);
	cr_assert(c.has_mki);
	cr_assert_eq(c.mki, 1);
	cr_assert_eq(c.mki_len, 32);
	cr_assert_eq(c.n_keys, 1);
	static const uint8_t key[30] = {
	    0x3d, 0x2d, 0x6e, 0x40, 0x25, 0x5e, 0x78, 0x21, 0x42, 0x6a, 0x75, 0x66, 0x72, 0x39, 0x29,
	    0x3f, 0x2c, 0x23, 0x35, 0x68, 0x5c, 0x60, 0x3d, 0x26, 0x5d, 0x7b, 0x71, 0x69, 0x50, 0x51};
	cr_assert_eq(memcmp(c.key, key, 16), 0);
	cr_assert_eq(memcmp(c.salt, key + 16, 14), 0);
	/* an MKI is not honoured: the line parses, and is refused */
	cr_assert_str_eq(c.unsupported, "MKI");
}

Test(sdes, rfc4568_offer_example_lines)
{
	struct sdes_crypto c;
	cr_assert_eq(parse("1 AES_CM_128_HMAC_SHA1_80 "
	                   "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 FEC_ORDER=FEC_SRTP",
	                   &c), 0);
	cr_assert_eq(c.suite, SDES_AES_CM_128_HMAC_SHA1_80);
	assert_key_text(&c, "YS___semctl () {\t220;}\n}\nunles");
	cr_assert_eq(c.lifetime, 1u << 20);
	cr_assert_eq(c.mki_len, 4);
	cr_assert_str_eq(c.unsupported, "MKI");

	/* two master keys, each with its MKI, of a suite we do not run */
	cr_assert_eq(parse("2 F8_128_HMAC_SHA1_80 "
	                   "inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^20|1:4;"
	                   "inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4 FEC_ORDER=FEC_SRTP",
	                   &c), 0);
	cr_assert_eq(c.tag, 2);
	cr_assert_eq(c.suite, SDES_SUITE_UNKNOWN);
	cr_assert_str_eq(c.unsupported, "crypto suite not supported");

	/* the same keys under a suite we run: two keys are refused */
	cr_assert_eq(parse("3 AES_CM_128_HMAC_SHA1_32 "
	                   "inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^20|1:4;"
	                   "inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4\t\tFEC_ORDER=FEC_SRTP",
	                   &c), 0);
	cr_assert_eq(c.n_keys, 2);
	assert_key_text(&c, "123456789ABCDE0123456789ABcdef");
	cr_assert_not_null(c.unsupported);

	/* the lifetime may be left out before the MKI */
	cr_assert_eq(parse("1 AES_CM_128_HMAC_SHA1_80 "
	                   "inline:YUJDZGVmZ2hpSktMbW9QUXJzVHVWd3l6MTIzNDU2|1066:4", &c), 0);
	assert_key_text(&c, "aBCdefghiJKLmoPQrsTuVwyz123456");
	cr_assert_eq(c.lifetime, 0);
	cr_assert_eq(c.mki, 1066);
	cr_assert_eq(c.mki_len, 4);
}

Test(sdes, what_is_honoured)
{
	struct sdes_crypto c;
	cr_assert_eq(parse("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
	                   &c), 0);
	cr_assert_null(c.unsupported);
	cr_assert_eq(c.lifetime, 0);
	cr_assert_not(c.has_mki);

	cr_assert_eq(parse("7 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^31",
	                   &c), 0);
	cr_assert_null(c.unsupported);
	cr_assert_eq(c.suite, SDES_AES_CM_128_HMAC_SHA1_32);
	cr_assert_eq(c.lifetime, UINT64_C(1) << 31);

	/* a decimal lifetime, the suite's maximum, KDR=0, WSH and FEC_ORDER */
	cr_assert_eq(parse("9 AES_CM_128_HMAC_SHA1_80 "
	                   "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1048576 KDR=0 WSH=128 "
	                   "FEC_ORDER=SRTP_FEC", &c), 0);
	cr_assert_null(c.unsupported, "%s", c.unsupported);
	cr_assert_eq(c.lifetime, 1048576);
	cr_assert_eq(c.window_hint, 128);
	cr_assert_eq(parse("9 AES_CM_128_HMAC_SHA1_80 "
	                   "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^48", &c), 0);
	cr_assert_null(c.unsupported);

	/* GCM (RFC 7714 §12): 16-byte key and 12-byte salt, padded or not */
	cr_assert_eq(parse("4 AEAD_AES_128_GCM inline:bQJXGzEPXJPClrd78xwALdaZDs/dLttBLfLE5Q==", &c), 0);
	cr_assert_null(c.unsupported);
	cr_assert_eq(c.suite, SDES_AEAD_AES_128_GCM);
	cr_assert_eq(sdes_salt_len(c.suite), 12);
	struct sdes_crypto d;
	cr_assert_eq(parse("4 AEAD_AES_128_GCM inline:bQJXGzEPXJPClrd78xwALdaZDs/dLttBLfLE5Q", &d), 0);
	cr_assert(sdes_same_key(&c, &d));
}

Test(sdes, what_is_refused_but_parses)
{
	static const struct {
		const char *line;
		const char *why;
	} cases[] = {
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^49",
	     "lifetime above the suite's maximum"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^99",
	     "lifetime above the suite's maximum"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|"
	     "123456789012345678901234",
	     "lifetime above the suite's maximum"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR KDR=1",
	     "KDR (key derivation rate)"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR KDR=25",
	     "KDR out of range"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR UNENCRYPTED_SRTCP",
	     "unencrypted or unauthenticated SRTP"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR UNENCRYPTED_SRTP",
	     "unencrypted or unauthenticated SRTP"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR "
	     "UNAUTHENTICATED_SRTP",
	     "unencrypted or unauthenticated SRTP"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR WSH=32",
	     "WSH below 64"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR "
	     "FEC_KEY=inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
	     "FEC_KEY"},
	    {"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR SSRC=0x1234",
	     "unknown session parameter"},
	    {"1 AES_CM_128_HMAC_SHA1_80 uri:https://keys.example/1", "key method other than inline"},
	    {"1 AES_256_CM_HMAC_SHA1_80 inline:8AbZePWwsKhLGX3GlXA+yHYPQ3cgraer/9DkFJYCOPZZy3o9wC0NIbIFYZfyHw==",
	     "crypto suite not supported"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sdes_crypto c;
		cr_assert_eq(parse(cases[i].line, &c), 0, "%s", cases[i].line);
		cr_assert_not_null(c.unsupported, "%s", cases[i].line);
		cr_assert_str_eq(c.unsupported, cases[i].why, "%s", cases[i].line);
	}
}

Test(sdes, malformed_lines_are_errors)
{
	static const char *const bad[] = {
	    "",
	    " 1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
	    "x AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
	    "1234567890 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
	    "1",
	    "1 AES_CM_128_HMAC_SHA1_80",
	    "1 AES-CM inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
	    /* key-salt too short, too long, outside the alphabet, bad padding */
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVB",
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBRAAAA",
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaV*R",
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR=",
	    "1 AEAD_AES_128_GCM inline:bQJXGzEPXJPClrd78xwALdaZDs/dLttBLfLE5R==",
	    "1 AES_CM_128_HMAC_SHA1_80 inline:",
	    "1 AES_CM_128_HMAC_SHA1_80 :PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
	    "1 AES_CM_128_HMAC_SHA1_80 PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
	    /* lifetimes and MKIs */
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|0",
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^",
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^x",
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|",
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1:0",
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1:129",
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|256:1",
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1:4|2^20",
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|x:4",
	    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR;",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sdes_crypto c;
		memset(&c, 0x5a, sizeof c);
		cr_assert_eq(parse(bad[i], &c), -EINVAL, "accepted: %s", bad[i]);
		cr_assert_eq(c.suite, SDES_SUITE_UNKNOWN, "%s", bad[i]);
		uint8_t zero[SDES_KEY_LEN] = {0};
		cr_assert_eq(memcmp(c.key, zero, sizeof zero), 0, "key left behind: %s", bad[i]);
	}
	cr_assert_eq(sdes_parse(NULL, 0, &(struct sdes_crypto){0}), -EINVAL);
}

Test(sdes, only_len_bytes_are_read)
{
	const char *text = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
	                   " UNENCRYPTED_SRTP";
	struct sdes_crypto c;
	size_t n = strlen(text) - strlen(" UNENCRYPTED_SRTP");
	cr_assert_eq(sdes_parse(text, n, &c), 0);
	cr_assert_null(c.unsupported);
}

Test(sdes, generated_lines_are_fresh_and_read_back)
{
	static const enum sdes_suite all[] = {SDES_AES_CM_128_HMAC_SHA1_80,
	                                      SDES_AES_CM_128_HMAC_SHA1_32, SDES_AEAD_AES_128_GCM};
	for (size_t i = 0; i < 3; i++) {
		struct sdes_crypto a, b, back;
		cr_assert_eq(sdes_generate(all[i], 5, &a), 0);
		cr_assert_eq(sdes_generate(all[i], 5, &b), 0);
		cr_assert_not(sdes_same_key(&a, &b), "two keys alike");
		char text[SDES_FORMAT_MAX];
		int n = sdes_format(&a, text, sizeof text);
		cr_assert_gt(n, 0);
		cr_assert_eq((size_t)n, strlen(text));
		cr_assert(strncmp(text, "5 ", 2) == 0, "%s", text);
		cr_assert_not_null(strstr(text, sdes_suite_name(all[i])), "%s", text);
		cr_assert_eq(sdes_parse(text, (size_t)n, &back), 0, "%s", text);
		cr_assert_null(back.unsupported);
		cr_assert_eq(back.tag, 5);
		cr_assert(sdes_same_key(&a, &back), "%s", text);
		sdes_crypto_clear(&a);
		uint8_t zero[SDES_KEY_LEN] = {0};
		cr_assert_eq(memcmp(a.key, zero, sizeof zero), 0);
	}
	struct sdes_crypto x;
	cr_assert_eq(sdes_generate(SDES_SUITE_UNKNOWN, 1, &x), -EINVAL);
	cr_assert_eq(sdes_generate(SDES_AES_CM_128_HMAC_SHA1_80, SDES_TAG_MAX + 1, &x), -EINVAL);
}

Test(sdes, formatting_writes_the_rfc_example_back)
{
	struct sdes_crypto c;
	const char *line = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20";
	cr_assert_eq(parse(line, &c), 0);
	char text[SDES_FORMAT_MAX];
	cr_assert_eq(sdes_format(&c, text, sizeof text), (int)strlen(line));
	cr_assert_str_eq(text, line);
	c.lifetime = 1000;
	sdes_format(&c, text, sizeof text);
	cr_assert_str_eq(text, "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1000");
	/* the longest line it writes: every field at its widest */
	const char *widest = "999999999 AES_CM_128_HMAC_SHA1_80 "
	                     "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|281474976710655";
	cr_assert_eq(parse(widest, &c), 0);
	cr_assert_null(c.unsupported);
	cr_assert_eq(sdes_format(&c, text, sizeof text), (int)strlen(widest));
	cr_assert_str_eq(text, widest);
	cr_assert_eq(strlen(widest) + 1, 98);
	/* too small: nothing half-written stays */
	cr_assert_eq(sdes_format(&c, text, 20), -ENOSPC);
	cr_assert_eq(text[0], '\0');
	c.suite = SDES_SUITE_UNKNOWN;
	cr_assert_eq(sdes_format(&c, text, sizeof text), -EINVAL);
}

Test(sdes, suites_map_to_srtp_profiles)
{
	cr_assert_eq(sdes_suite_profile(SDES_AES_CM_128_HMAC_SHA1_80), SRTP_PROFILE_AES128_CM_SHA1_80);
	cr_assert_eq(sdes_suite_profile(SDES_AES_CM_128_HMAC_SHA1_32), SRTP_PROFILE_AES128_CM_SHA1_32);
	cr_assert_eq(sdes_suite_profile(SDES_AEAD_AES_128_GCM), SRTP_PROFILE_AEAD_AES_128_GCM);
	cr_assert_eq(sdes_suite_profile(SDES_SUITE_UNKNOWN), 0);
	cr_assert_str_eq(sdes_suite_name(SDES_SUITE_UNKNOWN), "");
	cr_assert_eq(sdes_salt_len(SDES_AES_CM_128_HMAC_SHA1_32), 14);
}
