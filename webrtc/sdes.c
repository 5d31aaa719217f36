/* sdes.c — RFC 4568 a=crypto lines; see sdes.h. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "webrtc/sdes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

static const struct suite_info {
	enum sdes_suite suite;
	const char *name;
	enum srtp_profile profile;
	size_t salt_len;
} suites[] = {
	{SDES_AES_CM_128_HMAC_SHA1_80, "AES_CM_128_HMAC_SHA1_80", SRTP_PROFILE_AES128_CM_SHA1_80, 14},
	{SDES_AES_CM_128_HMAC_SHA1_32, "AES_CM_128_HMAC_SHA1_32", SRTP_PROFILE_AES128_CM_SHA1_32, 14},
	{SDES_AEAD_AES_128_GCM, "AEAD_AES_128_GCM", SRTP_PROFILE_AEAD_AES_128_GCM, 12},
};
#define N_SUITES (sizeof(suites) / sizeof(suites[0]))

static const struct suite_info *suite_info(enum sdes_suite suite)
{
	for (size_t i = 0; i < N_SUITES; i++)
		if (suites[i].suite == suite)
			return &suites[i];
	return NULL;
}

const char *sdes_suite_name(enum sdes_suite suite)
{
	const struct suite_info *s = suite_info(suite);
	return s ? s->name : "";
}

enum srtp_profile sdes_suite_profile(enum sdes_suite suite)
{
	const struct suite_info *s = suite_info(suite);
	return s ? s->profile : (enum srtp_profile)0;
}

size_t sdes_salt_len(enum sdes_suite suite)
{
	const struct suite_info *s = suite_info(suite);
	return s ? s->salt_len : 0;
}

/* ---- base64 (RFC 4648 §4; RFC 4568 keys use it with padding, which some
 * senders leave out) ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode len characters into out (room for max bytes). The decoded length,
 * or -1: a character outside the alphabet, padding anywhere but at the end
 * or more than the length needs, leftover bits that are not zero, or more
 * than max bytes. */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t max)
{
	size_t pad = 0;
	while (pad < 2 && len > 0 && in[len - 1] == '=') {
		len--;
		pad++;
	}
	if (len % 4 == 1 || (pad && (len + pad) % 4 != 0))
		return -1;
	size_t n = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == max)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	if (bits && (acc & ((1u << bits) - 1)))
		return -1; /* a canonical encoding leaves the spare bits zero */
	return (int)n;
}

/* Encode len bytes with padding; out needs 4 * ceil(len / 3) + 1 bytes. */
static void b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
}

/* ---- parsing ---- */

/* A view into the value. */
struct span {
	const char *p;
	size_t n;
};

static bool is_wsp(char c) { return c == ' ' || c == '\t'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* The next run of non-blank characters after any blanks; n 0 at the end. */
static struct span next_word(const char **at, const char *end)
{
	const char *p = *at;
	while (p < end && is_wsp(*p))
		p++;
	const char *start = p;
	while (p < end && !is_wsp(*p))
		p++;
	*at = p;
	return (struct span){start, (size_t)(p - start)};
}

static bool span_is(struct span s, const char *lit)
{
	return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

static bool span_is_nocase(struct span s, const char *lit)
{
	return s.n == strlen(lit) && strncasecmp(s.p, lit, s.n) == 0;
}

/* 1*max_digits DIGIT into *out. */
static bool parse_uint(struct span s, size_t max_digits, uint64_t *out)
{
	if (s.n == 0 || s.n > max_digits)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < s.n; i++) {
		if (!is_digit(s.p[i]))
			return false;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	*out = v;
	return true;
}

/* Split s at the first c: head before it, tail after (tail.p NULL when
 * there is none). */
static void split(struct span s, char c, struct span *head, struct span *tail)
{
	const char *at = memchr(s.p, c, s.n);
	if (!at) {
		*head = s;
		*tail = (struct span){NULL, 0};
		return;
	}
	*head = (struct span){s.p, (size_t)(at - s.p)};
	*tail = (struct span){at + 1, s.n - (size_t)(at - s.p) - 1};
}

static void unsupported(struct sdes_crypto *c, const char *why)
{
	if (!c->unsupported)
		c->unsupported = why;
}

static bool all_digits(struct span s)
{
	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (!is_digit(s.p[i]))
			return false;
	return true;
}

/* lifetime = ["2^"] 1*DIGIT. A value past 2^63 is kept as UINT64_MAX (the
 * suites allow 2^48 at most); 0 is a syntax error. */
static bool parse_lifetime(struct span s, uint64_t *out)
{
	uint64_t v = 0;
	if (s.n > 2 && s.p[0] == '2' && s.p[1] == '^') {
		if (!parse_uint((struct span){s.p + 2, s.n - 2}, 2, &v))
			return false;
		*out = v >= 64 ? UINT64_MAX : UINT64_C(1) << v;
		return true;
	}
	if (!all_digits(s))
		return false;
	if (s.n > 19) {
		*out = UINT64_MAX;
		return true;
	}
	parse_uint(s, 19, &v);
	if (v == 0)
		return false;
	*out = v;
	return true;
}

/* mki = mki-value ":" mki-length, length 1..128 bytes; a value that does
 * not fit its length is a syntax error, one past 32 bits is kept as
 * UINT32_MAX (an MKI is refused anyway). */
static bool parse_mki(struct span s, uint32_t *value, unsigned *len)
{
	struct span v, l;
	split(s, ':', &v, &l);
	uint64_t ml, mv = UINT64_MAX;
	if (!l.p || !parse_uint(l, 3, &ml) || ml < 1 || ml > 128 || !all_digits(v))
		return false;
	while (v.n > 1 && v.p[0] == '0') {
		v.p++;
		v.n--;
	}
	if (v.n <= 19)
		parse_uint(v, 19, &mv);
	if (ml < 8 && mv >> (8 * ml))
		return false;
	*value = mv > UINT32_MAX ? UINT32_MAX : (uint32_t)mv;
	*len = (unsigned)ml;
	return true;
}

/* One key-param of a known suite: "inline:" key-salt ["|" lifetime] ["|" mki].
 * The first one's key goes into c. */
static int parse_key_param(struct span kp, struct sdes_crypto *c, bool first)
{
	struct span method, info;
	split(kp, ':', &method, &info);
	if (!info.p || method.n == 0)
		return -EINVAL;
	if (!span_is_nocase(method, "inline")) {
		unsupported(c, "key method other than inline");
		return 0;
	}
	struct span keysalt, rest, f2, f3;
	split(info, '|', &keysalt, &rest);
	size_t want = SDES_KEY_LEN + sdes_salt_len(c->suite);
	uint8_t raw[SDES_KEY_LEN + SDES_SALT_MAX + 3];
	int n = b64_decode(keysalt.p, keysalt.n, raw, sizeof raw);
	if (n != (int)want) {
		explicit_bzero(raw, sizeof raw);
		return -EINVAL;
	}
	if (first) {
		memcpy(c->key, raw, SDES_KEY_LEN);
		memcpy(c->salt, raw + SDES_KEY_LEN, want - SDES_KEY_LEN);
	}
	explicit_bzero(raw, sizeof raw);
	if (!rest.p)
		return 0;
	split(rest, '|', &f2, &f3);
	/* f2 is a lifetime, or an MKI when it holds a ':' (the lifetime may be
	 * left out before an MKI) */
	struct span mki = {NULL, 0};
	if (memchr(f2.p, ':', f2.n)) {
		if (f3.p)
			return -EINVAL;
		mki = f2;
	} else {
		uint64_t lt;
		if (!parse_lifetime(f2, &lt))
			return -EINVAL;
		if (first)
			c->lifetime = lt;
		mki = f3;
	}
	if (mki.p) {
		uint32_t v;
		unsigned l;
		if (!parse_mki(mki, &v, &l))
			return -EINVAL;
		if (first) {
			c->has_mki = true;
			c->mki = v;
			c->mki_len = l;
		}
		unsupported(c, "MKI");
	}
	return 0;
}

/* A session parameter of an SRTP suite (RFC 4568 §6.3). */
static void session_param(struct span sp, struct sdes_crypto *c)
{
	struct span name, value;
	split(sp, '=', &name, &value);
	uint64_t v;
	if (span_is_nocase(name, "KDR") && value.p) {
		if (!parse_uint(value, 2, &v) || v > 24)
			unsupported(c, "KDR out of range");
		else if (v != 0)
			unsupported(c, "KDR (key derivation rate)");
	} else if (span_is_nocase(name, "WSH") && value.p) {
		if (!parse_uint(value, 9, &v) || v < 64)
			unsupported(c, "WSH below 64");
		else
			c->window_hint = (uint32_t)v;
	} else if (span_is_nocase(name, "FEC_ORDER") && value.p) {
		if (!span_is_nocase(value, "FEC_SRTP") && !span_is_nocase(value, "SRTP_FEC"))
			unsupported(c, "FEC_ORDER value");
	} else if (span_is_nocase(sp, "UNENCRYPTED_SRTP") || span_is_nocase(sp, "UNENCRYPTED_SRTCP") ||
	           span_is_nocase(sp, "UNAUTHENTICATED_SRTP")) {
		unsupported(c, "unencrypted or unauthenticated SRTP");
	} else if (span_is_nocase(name, "FEC_KEY")) {
		unsupported(c, "FEC_KEY");
	} else {
		unsupported(c, "unknown session parameter");
	}
}

int sdes_parse(const char *value, size_t len, struct sdes_crypto *out)
{
	memset(out, 0, sizeof *out);
	if (!value)
		return -EINVAL;
	const char *at = value, *end = value + len;
	uint64_t tag;
	/* the tag comes first, without blanks before it */
	if (len == 0 || is_wsp(value[0]))
		return -EINVAL;
	struct span w = next_word(&at, end);
	if (!parse_uint(w, 9, &tag))
		return -EINVAL;
	out->tag = (uint32_t)tag;
	struct span suite = next_word(&at, end);
	if (suite.n == 0)
		return -EINVAL;
	for (size_t i = 0; i < suite.n; i++) {
		char ch = suite.p[i];
		if (!(is_digit(ch) || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_'))
			goto bad;
	}
	for (size_t i = 0; i < N_SUITES; i++)
		if (span_is(suite, suites[i].name))
			out->suite = suites[i].suite;
	struct span keys = next_word(&at, end);
	if (keys.n == 0)
		goto bad;
	if (out->suite == SDES_SUITE_UNKNOWN) {
		/* its key-params and session parameters follow rules we do not know */
		out->unsupported = "crypto suite not supported";
		out->n_keys = 1;
		return 0;
	}
	struct span rest = keys;
	while (rest.p) {
		struct span kp;
		split(rest, ';', &kp, &rest);
		if (kp.n == 0 || parse_key_param(kp, out, out->n_keys == 0) != 0)
			goto bad;
		out->n_keys++;
	}
	if (out->n_keys > 1)
		unsupported(out, "more than one master key");
	if (out->lifetime > SDES_LIFETIME_MAX)
		unsupported(out, "lifetime above the suite's maximum");
	for (struct span sp = next_word(&at, end); sp.n; sp = next_word(&at, end))
		session_param(sp, out);
	return 0;
bad:
	sdes_crypto_clear(out);
	return -EINVAL;
}

/* ---- writing ---- */

int sdes_format(const struct sdes_crypto *c, char *buf, size_t size)
{
	const struct suite_info *s = suite_info(c->suite);
	if (!s || c->tag > SDES_TAG_MAX)
		return -EINVAL;
	uint8_t raw[SDES_KEY_LEN + SDES_SALT_MAX];
	memcpy(raw, c->key, SDES_KEY_LEN);
	memcpy(raw + SDES_KEY_LEN, c->salt, s->salt_len);
	char b64[((SDES_KEY_LEN + SDES_SALT_MAX + 2) / 3) * 4 + 1];
	b64_encode(raw, SDES_KEY_LEN + s->salt_len, b64);
	explicit_bzero(raw, sizeof raw);
	char lifetime[32] = "";
	if (c->lifetime && (c->lifetime & (c->lifetime - 1)) == 0)
		snprintf(lifetime, sizeof lifetime, "|2^%d", __builtin_ctzll(c->lifetime));
	else if (c->lifetime)
		snprintf(lifetime, sizeof lifetime, "|%llu", (unsigned long long)c->lifetime);
	int n = snprintf(buf, size, "%u %s inline:%s%s", c->tag, s->name, b64, lifetime);
	explicit_bzero(b64, sizeof b64);
	if (n < 0 || (size_t)n >= size) {
		if (size)
			explicit_bzero(buf, size);
		return -ENOSPC;
	}
	return n;
}

int sdes_generate(enum sdes_suite suite, uint32_t tag, struct sdes_crypto *out)
{
	memset(out, 0, sizeof *out);
	const struct suite_info *s = suite_info(suite);
	if (!s || tag > SDES_TAG_MAX)
		return -EINVAL;
	if (RAND_bytes(out->key, SDES_KEY_LEN) != 1 ||
	    RAND_bytes(out->salt, (int)s->salt_len) != 1) {
		sdes_crypto_clear(out);
		return -EIO;
	}
	out->tag = tag;
	out->suite = suite;
	out->n_keys = 1;
	return 0;
}

bool sdes_same_key(const struct sdes_crypto *a, const struct sdes_crypto *b)
{
	size_t salt = sdes_salt_len(a->suite);
	return a->suite == b->suite && salt &&
	       memcmp(a->key, b->key, SDES_KEY_LEN) == 0 && memcmp(a->salt, b->salt, salt) == 0;
}

void sdes_crypto_clear(struct sdes_crypto *c)
{
	explicit_bzero(c, sizeof *c);
}
