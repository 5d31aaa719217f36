/* test_srtp.c — SRTP/SRTCP sessions: round trips for every profile, refusals
 * and their counters, SSRC changes, and RFC 3711's AES-CM vectors checked
 * against an independent computation with OpenSSL. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "webrtc/srtp.h"

static const enum srtp_profile profiles[] = {
	SRTP_PROFILE_AES128_CM_SHA1_80,
	SRTP_PROFILE_AES128_CM_SHA1_32,
	SRTP_PROFILE_AEAD_AES_128_GCM,
};
#define NPROFILES (sizeof(profiles) / sizeof(profiles[0]))

/* ---- helpers ---- */

struct pair {
	struct srtp_session *a, *b; /* a's local keys are b's remote ones */
};

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + 7 * i);
}

static struct pair make_pair(enum srtp_profile profile)
{
	struct srtp_keys ka = { .profile = profile }, kb = { .profile = profile };
	fill(ka.local_key, sizeof(ka.local_key), 1);
	fill(ka.local_salt, sizeof(ka.local_salt), 2);
	fill(ka.remote_key, sizeof(ka.remote_key), 3);
	fill(ka.remote_salt, sizeof(ka.remote_salt), 4);
	memcpy(kb.local_key, ka.remote_key, sizeof(kb.local_key));
	memcpy(kb.local_salt, ka.remote_salt, sizeof(kb.local_salt));
	memcpy(kb.remote_key, ka.local_key, sizeof(kb.remote_key));
	memcpy(kb.remote_salt, ka.local_salt, sizeof(kb.remote_salt));
	struct pair p;
	cr_assert_eq(srtp_session_new(&ka, &p.a), 0);
	cr_assert_eq(srtp_session_new(&kb, &p.b), 0);
	return p;
}

static void free_pair(struct pair *p)
{
	srtp_session_free(p->a);
	srtp_session_free(p->b);
}

/* An RTP packet: 12-byte header and payload_len bytes of pattern. */
static size_t build_rtp(uint8_t *buf, uint32_t ssrc, uint16_t seq, size_t payload_len)
{
	buf[0] = 0x80;
	buf[1] = 0;
	buf[2] = (uint8_t)(seq >> 8);
	buf[3] = (uint8_t)seq;
	uint32_t ts = 160u * seq;
	buf[4] = (uint8_t)(ts >> 24);
	buf[5] = (uint8_t)(ts >> 16);
	buf[6] = (uint8_t)(ts >> 8);
	buf[7] = (uint8_t)ts;
	buf[8] = (uint8_t)(ssrc >> 24);
	buf[9] = (uint8_t)(ssrc >> 16);
	buf[10] = (uint8_t)(ssrc >> 8);
	buf[11] = (uint8_t)ssrc;
	fill(buf + 12, payload_len, (uint8_t)seq);
	return 12 + payload_len;
}

/* An RTCP sender report without report blocks (28 bytes). */
static size_t build_rtcp(uint8_t *buf, uint32_t ssrc, uint8_t seed)
{
	buf[0] = 0x80;
	buf[1] = 200;
	buf[2] = 0;
	buf[3] = 6;
	buf[4] = (uint8_t)(ssrc >> 24);
	buf[5] = (uint8_t)(ssrc >> 16);
	buf[6] = (uint8_t)(ssrc >> 8);
	buf[7] = (uint8_t)ssrc;
	fill(buf + 8, 20, seed);
	return 28;
}

static struct srtp_counters counters(const struct srtp_session *s)
{
	struct srtp_counters c;
	srtp_session_counters(s, &c);
	return c;
}

/* Protects an RTP packet with from and unprotects it with to; checks the
 * lengths and that the payload came back unchanged. */
static void rtp_through(struct srtp_session *from, struct srtp_session *to,
			enum srtp_profile profile, uint32_t ssrc, uint16_t seq)
{
	uint8_t plain[200], buf[200 + SRTP_DTLS_TRAILER_MAX];
	size_t len = build_rtp(plain, ssrc, seq, 160);
	memcpy(buf, plain, len);
	int n = srtp_session_protect_rtp(from, buf, len, sizeof(buf));
	cr_assert_eq(n, (int)(len + srtp_trailer_len(profile, false)));
	cr_assert_eq(memcmp(buf, plain, 12), 0, "the header stays in clear");
	cr_assert_neq(memcmp(buf + 12, plain + 12, len - 12), 0, "the payload is encrypted");
	int m = srtp_session_unprotect_rtp(to, buf, (size_t)n);
	cr_assert_eq(m, (int)len, "profile %#x ssrc %#x seq %u: %d", profile, ssrc, seq, m);
	cr_assert_eq(memcmp(buf, plain, len), 0);
}

static void rtcp_through(struct srtp_session *from, struct srtp_session *to,
			 enum srtp_profile profile, uint32_t ssrc, uint8_t seed)
{
	uint8_t plain[64], buf[64 + SRTP_DTLS_TRAILER_MAX];
	size_t len = build_rtcp(plain, ssrc, seed);
	memcpy(buf, plain, len);
	int n = srtp_session_protect_rtcp(from, buf, len, sizeof(buf));
	cr_assert_eq(n, (int)(len + srtp_trailer_len(profile, true)));
	cr_assert_neq(memcmp(buf + 8, plain + 8, len - 8), 0, "the report is encrypted");
	int m = srtp_session_unprotect_rtcp(to, buf, (size_t)n);
	cr_assert_eq(m, (int)len, "profile %#x: %d", profile, m);
	cr_assert_eq(memcmp(buf, plain, len), 0);
}

/* ---- round trips ---- */

Test(srtp, rtp_round_trip_both_ways_both_profiles)
{
	for (size_t i = 0; i < NPROFILES; i++) {
		struct pair p = make_pair(profiles[i]);
		for (uint16_t seq = 1; seq <= 50; seq++) {
			rtp_through(p.a, p.b, profiles[i], 0x11223344, seq);
			rtp_through(p.b, p.a, profiles[i], 0x55667788, (uint16_t)(seq + 1000));
		}
		struct srtp_counters ca = counters(p.a), cb = counters(p.b);
		cr_assert_eq(ca.protected, 50);
		cr_assert_eq(ca.unprotected, 50);
		cr_assert_eq(cb.protected, 50);
		cr_assert_eq(cb.unprotected, 50);
		cr_assert_eq(ca.auth_failures + ca.replays + ca.other_errors, 0);
		free_pair(&p);
	}
}

Test(srtp, rtcp_round_trip_both_ways_both_profiles)
{
	for (size_t i = 0; i < NPROFILES; i++) {
		struct pair p = make_pair(profiles[i]);
		for (uint8_t k = 0; k < 20; k++) {
			rtcp_through(p.a, p.b, profiles[i], 0x11223344, k);
			rtcp_through(p.b, p.a, profiles[i], 0x55667788, (uint8_t)(k + 100));
		}
		cr_assert_eq(counters(p.a).unprotected, 20);
		cr_assert_eq(counters(p.b).unprotected, 20);
		free_pair(&p);
	}
}

Test(srtp, a_session_does_not_accept_its_own_packets)
{
	/* Directions have their own keys: what a sends, a cannot read back. */
	for (size_t i = 0; i < NPROFILES; i++) {
		struct pair p = make_pair(profiles[i]);
		uint8_t buf[200 + SRTP_DTLS_TRAILER_MAX];
		size_t len = build_rtp(buf, 1, 1, 160);
		int n = srtp_session_protect_rtp(p.a, buf, len, sizeof(buf));
		cr_assert_gt(n, 0);
		cr_assert_eq(srtp_session_unprotect_rtp(p.a, buf, (size_t)n), -EBADMSG);
		free_pair(&p);
	}
}

/* ---- refusals ---- */

Test(srtp, a_flipped_bit_in_payload_or_tag_fails_authentication)
{
	for (size_t i = 0; i < NPROFILES; i++) {
		struct pair p = make_pair(profiles[i]);
		uint8_t good[200 + SRTP_DTLS_TRAILER_MAX], bad[sizeof(good)];
		size_t len = build_rtp(good, 7, 1, 160);
		int n = srtp_session_protect_rtp(p.a, good, len, sizeof(good));
		cr_assert_gt(n, 0);

		size_t flips[] = { 40, (size_t)n - 1 }; /* in the payload, in the tag */
		for (size_t f = 0; f < 2; f++) {
			memcpy(bad, good, (size_t)n);
			bad[flips[f]] ^= 0x01;
			cr_assert_eq(srtp_session_unprotect_rtp(p.b, bad, (size_t)n), -EBADMSG);
		}
		cr_assert_eq(counters(p.b).auth_failures, 2);
		cr_assert_eq(counters(p.b).unprotected, 0);
		/* The forgeries did not use up the genuine packet's index. */
		cr_assert_eq(srtp_session_unprotect_rtp(p.b, good, (size_t)n), (int)len);

		/* RTCP likewise. */
		len = build_rtcp(good, 7, 9);
		n = srtp_session_protect_rtcp(p.a, good, len, sizeof(good));
		cr_assert_gt(n, 0);
		memcpy(bad, good, (size_t)n);
		bad[12] ^= 0x80;
		cr_assert_eq(srtp_session_unprotect_rtcp(p.b, bad, (size_t)n), -EBADMSG);
		memcpy(bad, good, (size_t)n);
		bad[n - 1] ^= 0x01;
		cr_assert_eq(srtp_session_unprotect_rtcp(p.b, bad, (size_t)n), -EBADMSG);
		cr_assert_eq(counters(p.b).auth_failures, 4);
		cr_assert_eq(srtp_session_unprotect_rtcp(p.b, good, (size_t)n), (int)len);
		free_pair(&p);
	}
}

Test(srtp, a_replayed_packet_is_refused_and_counted)
{
	for (size_t i = 0; i < NPROFILES; i++) {
		struct pair p = make_pair(profiles[i]);
		uint8_t pkt[200 + SRTP_DTLS_TRAILER_MAX], copy[sizeof(pkt)];
		size_t len = build_rtp(pkt, 9, 100, 160);
		int n = srtp_session_protect_rtp(p.a, pkt, len, sizeof(pkt));
		cr_assert_gt(n, 0);
		memcpy(copy, pkt, (size_t)n);
		cr_assert_eq(srtp_session_unprotect_rtp(p.b, pkt, (size_t)n), (int)len);
		cr_assert_eq(srtp_session_unprotect_rtp(p.b, copy, (size_t)n), -EALREADY);
		cr_assert_eq(counters(p.b).replays, 1);

		/* Out of order inside the window is fine; behind the window is not. */
		uint8_t late[sizeof(pkt)], later[sizeof(pkt)];
		size_t llen = build_rtp(late, 9, 101, 160);
		int ln = srtp_session_protect_rtp(p.a, late, llen, sizeof(late));
		for (uint16_t seq = 102; seq < 102 + 1100; seq++)
			rtp_through(p.a, p.b, profiles[i], 9, seq);
		cr_assert_eq(srtp_session_unprotect_rtp(p.b, late, (size_t)ln), -EALREADY);
		cr_assert_eq(counters(p.b).replays, 2);
		size_t l2 = build_rtp(later, 9, 1300, 160);
		int n2 = srtp_session_protect_rtp(p.a, later, l2, sizeof(later));
		rtp_through(p.a, p.b, profiles[i], 9, 1301);
		cr_assert_eq(srtp_session_unprotect_rtp(p.b, later, (size_t)n2), (int)l2,
			     "one behind the newest is inside the window");

		/* RTCP replays too. */
		len = build_rtcp(pkt, 9, 1);
		n = srtp_session_protect_rtcp(p.a, pkt, len, sizeof(pkt));
		memcpy(copy, pkt, (size_t)n);
		cr_assert_eq(srtp_session_unprotect_rtcp(p.b, pkt, (size_t)n), (int)len);
		cr_assert_eq(srtp_session_unprotect_rtcp(p.b, copy, (size_t)n), -EALREADY);
		cr_assert_eq(counters(p.b).replays, 3);
		free_pair(&p);
	}
}

Test(srtp, protecting_the_same_index_twice_is_refused)
{
	/* Reusing an index would reuse keystream. */
	struct pair p = make_pair(SRTP_PROFILE_AES128_CM_SHA1_80);
	uint8_t buf[200 + SRTP_DTLS_TRAILER_MAX];
	size_t len = build_rtp(buf, 3, 5, 160);
	cr_assert_gt(srtp_session_protect_rtp(p.a, buf, len, sizeof(buf)), 0);
	len = build_rtp(buf, 3, 5, 160);
	cr_assert_eq(srtp_session_protect_rtp(p.a, buf, len, sizeof(buf)), -EALREADY);
	cr_assert_eq(counters(p.a).replays, 1);
	free_pair(&p);
}

Test(srtp, short_or_malformed_packets_are_refused)
{
	for (size_t i = 0; i < NPROFILES; i++) {
		struct pair p = make_pair(profiles[i]);
		size_t tag = srtp_trailer_len(profiles[i], false);
		uint8_t buf[200 + SRTP_DTLS_TRAILER_MAX];
		size_t len = build_rtp(buf, 3, 5, 160);
		int n = srtp_session_protect_rtp(p.a, buf, len, sizeof(buf));
		cr_assert_gt(n, 0);
		uint64_t errors = 0;
		size_t shorts[] = { 0, 1, 11, 12, 12 + tag - 1 };
		for (size_t k = 0; k < sizeof(shorts) / sizeof(shorts[0]); k++) {
			cr_assert_eq(srtp_session_unprotect_rtp(p.b, buf, shorts[k]), -EINVAL,
				     "%zu bytes", shorts[k]);
			errors++;
		}
		cr_assert_eq(srtp_session_unprotect_rtcp(p.b, buf, 8 + tag + 4 - 1), -EINVAL);
		errors++;
		/* CSRC count pointing past the end. */
		uint8_t csrc[12 + 16] = { 0x8f };
		cr_assert_eq(srtp_session_unprotect_rtp(p.b, csrc, sizeof(csrc)), -EINVAL);
		errors++;
		/* Not version 2. */
		uint8_t v1[40] = { 0x40 };
		cr_assert_eq(srtp_session_unprotect_rtp(p.b, v1, sizeof(v1)), -EINVAL);
		cr_assert_eq(srtp_session_unprotect_rtcp(p.b, v1, sizeof(v1)), -EINVAL);
		errors += 2;
		cr_assert_eq(counters(p.b).other_errors, errors);
		cr_assert_eq(counters(p.b).unprotected, 0);

		/* Protecting needs room for the trailer; a too-short header is no packet. */
		len = build_rtp(buf, 3, 6, 160);
		cr_assert_eq(srtp_session_protect_rtp(p.a, buf, len, len + tag - 1), -ENOSPC);
		cr_assert_eq(srtp_session_protect_rtp(p.a, buf, 11, sizeof(buf)), -EINVAL);
		len = build_rtcp(buf, 3, 0);
		cr_assert_eq(srtp_session_protect_rtcp(p.a, buf, len, len + tag + 3), -ENOSPC);
		cr_assert_eq(counters(p.a).other_errors, 3);
		free_pair(&p);
	}
}

Test(srtp, unknown_profile_or_bad_material_is_refused)
{
	struct srtp_keys k = { .profile = (enum srtp_profile)3 };
	struct srtp_session *s = NULL;
	cr_assert_eq(srtp_session_new(&k, &s), -EINVAL);
	cr_assert_null(s);
	uint8_t material[60] = { 0 };
	cr_assert_eq(srtp_keys_from_material(SRTP_PROFILE_AES128_CM_SHA1_80, material, 59, true, &k),
		     -EINVAL);
	cr_assert_eq(srtp_keys_from_material(SRTP_PROFILE_AEAD_AES_128_GCM, material, 60, true, &k),
		     -EINVAL);
}

/* ---- SSRCs ---- */

Test(srtp, the_outbound_side_follows_ssrc_changes)
{
	for (size_t i = 0; i < NPROFILES; i++) {
		struct pair p = make_pair(profiles[i]);
		uint32_t ssrcs[] = { 0x1000, 0x2000, 0xdeadbeef };
		for (size_t k = 0; k < 3; k++) {
			/* Each new SSRC may start at any sequence number, even the same one. */
			for (uint16_t seq = 10; seq < 20; seq++) {
				rtp_through(p.a, p.b, profiles[i], ssrcs[k], seq);
				rtcp_through(p.a, p.b, profiles[i], ssrcs[k], (uint8_t)seq);
			}
		}
		/* Back to the first SSRC: its stream remembers where it was. */
		rtp_through(p.a, p.b, profiles[i], ssrcs[0], 20);
		cr_assert_eq(counters(p.b).unprotected, 61);
		cr_assert_eq(counters(p.b).replays + counters(p.b).other_errors, 0);
		free_pair(&p);
	}
}

/* ---- DTLS-SRTP material ---- */

Test(srtp, exported_material_is_split_as_rfc5764_says)
{
	for (size_t i = 0; i < NPROFILES; i++) {
		size_t salt = srtp_salt_len(profiles[i]);
		size_t len = 2 * (16 + salt);
		uint8_t material[60];
		fill(material, len, 0x30);
		struct srtp_keys client, server;
		cr_assert_eq(srtp_keys_from_material(profiles[i], material, len, true, &client), 0);
		cr_assert_eq(srtp_keys_from_material(profiles[i], material, len, false, &server), 0);
		cr_assert_eq(memcmp(client.local_key, material, 16), 0);
		cr_assert_eq(memcmp(client.remote_key, material + 16, 16), 0);
		cr_assert_eq(memcmp(client.local_salt, material + 32, salt), 0);
		cr_assert_eq(memcmp(client.remote_salt, material + 32 + salt, salt), 0);
		cr_assert_eq(memcmp(server.local_key, client.remote_key, 16), 0);
		cr_assert_eq(memcmp(server.local_salt, client.remote_salt, salt), 0);
		cr_assert_eq(memcmp(server.remote_key, client.local_key, 16), 0);
		cr_assert_eq(memcmp(server.remote_salt, client.local_salt, salt), 0);

		/* The two ends of one DTLS association talk. */
		struct srtp_session *c, *s;
		cr_assert_eq(srtp_session_new(&client, &c), 0);
		cr_assert_eq(srtp_session_new(&server, &s), 0);
		rtp_through(c, s, profiles[i], 42, 1);
		rtp_through(s, c, profiles[i], 43, 1);
		srtp_session_free(c);
		srtp_session_free(s);
	}
}

/* ---- RFC 3711 Appendix B ---- */

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* AES counter mode as RFC 3711 §4.1.1 defines it, on OpenSSL's block
 * cipher: keystream block j is AES(key, iv + j), the counter in the last
 * 16 bits. */
static void aes_cm_keystream(const uint8_t key[16], const uint8_t iv[16], uint32_t first_block,
			     uint8_t *out, size_t n)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	cr_assert_not_null(ctx);
	cr_assert_eq(EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL), 1);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	for (size_t off = 0, j = first_block; off < n; off += 16, j++) {
		uint8_t block[16], ks[32];
		memcpy(block, iv, 16);
		unsigned ctr = ((unsigned)block[14] << 8 | block[15]) + (unsigned)j;
		block[14] = (uint8_t)(ctr >> 8);
		block[15] = (uint8_t)ctr;
		int outl = 0;
		cr_assert_eq(EVP_EncryptUpdate(ctx, ks, &outl, block, 16), 1);
		cr_assert_eq(outl, 16);
		memcpy(out + off, ks, n - off < 16 ? n - off : 16);
	}
	EVP_CIPHER_CTX_free(ctx);
}

Test(srtp, rfc3711_b2_aes_cm_keystream)
{
	/* The reference generator used below reproduces Appendix B.2. */
	uint8_t key[16], iv[16], want[16], got[16];
	unhex("2B7E151628AED2A6ABF7158809CF4F3C", key, 16);
	unhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000", iv, 16);
	static const struct {
		uint32_t block;
		const char *ks;
	} rows[] = {
		{ 0x0000, "E03EAD0935C95E80E166B16DD92B4EB4" },
		{ 0x0001, "D23513162B02D0F72A43A2FE4A5F97AB" },
		{ 0x0002, "41E95B3BB0A2E8DD477901E4FCA894C0" },
		{ 0xFEFF, "EC8CDF7398607CB0F2D21675EA9EA1E4" },
		{ 0xFF00, "362B7C3C6773516318A077D7FC5073AE" },
		{ 0xFF01, "6A2CC3787889374FBEB4C81B17BA6C44" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		unhex(rows[i].ks, want, 16);
		aes_cm_keystream(key, iv, rows[i].block, got, 16);
		cr_assert_eq(memcmp(got, want, 16), 0, "block %#x", rows[i].block);
	}
}

Test(srtp, rfc3711_b3_master_key_protects_as_its_derived_session_keys_say)
{
	/* A session keyed with Appendix B.3's master key and salt must encrypt
	 * with B.3's derived cipher key and salt and authenticate with its
	 * derived auth key: the expected packet is computed here with OpenSSL
	 * from those session keys, independently of libsrtp2. */
	struct srtp_keys k = { .profile = SRTP_PROFILE_AES128_CM_SHA1_80 };
	unhex("E1F97A0D3E018BE0D64FA32C06DE4139", k.local_key, 16);
	unhex("0EC675AD498AFEEBB6960B3AABE6", k.local_salt, 14);
	memcpy(k.remote_key, k.local_key, 16);
	memcpy(k.remote_salt, k.local_salt, 14);
	uint8_t cipher_key[16], cipher_salt[14], auth_key[20];
	unhex("C61E7A93744F39EE10734AFE3FF7A087", cipher_key, 16);
	unhex("30CBBC08863D8C85D49DB34A9AE1", cipher_salt, 14);
	unhex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4", auth_key, 20);

	struct srtp_session *s;
	cr_assert_eq(srtp_session_new(&k, &s), 0);
	const uint32_t ssrc = 0xCAFEBABE;
	for (uint16_t seq = 1000; seq < 1003; seq++) {
		uint8_t pkt[200 + SRTP_DTLS_TRAILER_MAX], want[sizeof(pkt)];
		size_t len = build_rtp(pkt, ssrc, seq, 160);
		memcpy(want, pkt, len);
		int n = srtp_session_protect_rtp(s, pkt, len, sizeof(pkt));
		cr_assert_eq(n, (int)len + 10);

		/* IV = (salt << 16) ^ (SSRC << 64) ^ (index << 16), ROC 0. */
		uint8_t iv[16] = { 0 }, ks[160];
		memcpy(iv, cipher_salt, 14);
		for (int b = 0; b < 4; b++)
			iv[4 + b] ^= (uint8_t)(ssrc >> (24 - 8 * b));
		iv[12] ^= (uint8_t)(seq >> 8);
		iv[13] ^= (uint8_t)seq;
		aes_cm_keystream(cipher_key, iv, 0, ks, sizeof(ks));
		for (size_t i = 0; i < 160; i++)
			want[12 + i] ^= ks[i];
		uint8_t mac_input[200];
		memcpy(mac_input, want, len);
		memset(mac_input + len, 0, 4); /* ROC */
		uint8_t mac[EVP_MAX_MD_SIZE];
		unsigned maclen = 0;
		cr_assert_not_null(HMAC(EVP_sha1(), auth_key, 20, mac_input, len + 4, mac, &maclen));
		memcpy(want + len, mac, 10);
		cr_assert_eq(memcmp(pkt, want, (size_t)n), 0, "seq %u", seq);
	}
	srtp_session_free(s);
}

/* RFC 3711 §4.3.3 key derivation (key derivation rate 0): the PRF is AES-CM
 * keyed with the master key, its IV the master salt (zero-padded to 112
 * bits) with the label XORed in at byte 7. */
static void kdf(const uint8_t master_key[16], const uint8_t *master_salt, size_t salt_len,
		uint8_t label, uint8_t *out, size_t n)
{
	uint8_t iv[16] = { 0 };
	memcpy(iv, master_salt, salt_len);
	iv[7] ^= label;
	aes_cm_keystream(master_key, iv, 0, out, n);
}

Test(srtp, rfc3711_b3_key_derivation)
{
	/* The derivation used for the GCM check below reproduces Appendix B.3. */
	uint8_t mk[16], ms[14], want[20], got[20];
	unhex("E1F97A0D3E018BE0D64FA32C06DE4139", mk, 16);
	unhex("0EC675AD498AFEEBB6960B3AABE6", ms, 14);
	kdf(mk, ms, 14, 0, got, 16);
	unhex("C61E7A93744F39EE10734AFE3FF7A087", want, 16);
	cr_assert_eq(memcmp(got, want, 16), 0, "cipher key");
	kdf(mk, ms, 14, 2, got, 14);
	unhex("30CBBC08863D8C85D49DB34A9AE1", want, 14);
	cr_assert_eq(memcmp(got, want, 14), 0, "cipher salt");
	kdf(mk, ms, 14, 1, got, 20);
	unhex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4", want, 20);
	cr_assert_eq(memcmp(got, want, 20), 0, "auth key");
}

Test(srtp, gcm_protects_as_rfc7714_says)
{
	/* AEAD_AES_128_GCM (RFC 7714 §8): session key and 96-bit salt from the
	 * RFC 3711 derivation; IV = (0x0000 || SSRC || ROC || SEQ) XOR salt; the
	 * header is the associated data; a 16-byte tag follows the ciphertext.
	 * Computed here with OpenSSL's GCM and compared with the session's
	 * output; a second session keyed alike gives the same bytes. */
	struct srtp_keys k = { .profile = SRTP_PROFILE_AEAD_AES_128_GCM };
	fill(k.local_key, 16, 0x51);
	fill(k.local_salt, 12, 0x52);
	fill(k.remote_key, 16, 0x53);
	fill(k.remote_salt, 12, 0x54);
	uint8_t session_key[16], session_salt[12];
	kdf(k.local_key, k.local_salt, 12, 0, session_key, 16);
	kdf(k.local_key, k.local_salt, 12, 2, session_salt, 12);

	struct srtp_session *s1, *s2;
	cr_assert_eq(srtp_session_new(&k, &s1), 0);
	cr_assert_eq(srtp_session_new(&k, &s2), 0);
	const uint32_t ssrc = 0x01020304;
	for (uint16_t seq = 7; seq < 10; seq++) {
		uint8_t a[200 + SRTP_DTLS_TRAILER_MAX], b[sizeof(a)], want[sizeof(a)];
		size_t len = build_rtp(a, ssrc, seq, 160);
		memcpy(b, a, len);
		memcpy(want, a, len);
		int na = srtp_session_protect_rtp(s1, a, len, sizeof(a));
		int nb = srtp_session_protect_rtp(s2, b, len, sizeof(b));
		cr_assert_eq(na, (int)len + 16);
		cr_assert_eq(nb, na);
		cr_assert_eq(memcmp(a, b, (size_t)na), 0);

		uint8_t iv[12] = { 0 };
		for (int i = 0; i < 4; i++)
			iv[2 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
		iv[10] = (uint8_t)(seq >> 8);
		iv[11] = (uint8_t)seq;
		for (int i = 0; i < 12; i++)
			iv[i] ^= session_salt[i];
		EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
		int outl = 0;
		cr_assert_eq(EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, session_key, iv), 1);
		cr_assert_eq(EVP_EncryptUpdate(ctx, NULL, &outl, want, 12), 1);
		cr_assert_eq(EVP_EncryptUpdate(ctx, want + 12, &outl, want + 12, 160), 1);
		cr_assert_eq(EVP_EncryptFinal_ex(ctx, want + 12 + outl, &outl), 1);
		cr_assert_eq(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, want + len), 1);
		EVP_CIPHER_CTX_free(ctx);
		cr_assert_eq(memcmp(a, want, (size_t)na), 0, "seq %u", seq);
	}
	srtp_session_free(s1);
	srtp_session_free(s2);
}
