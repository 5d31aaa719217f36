/* sip_auth.c — digest authentication: parsing, hashing, stateless nonces, the
 * client answer. See sip_auth.h for the contract. */
#include "sip/sip_auth.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ---- */

static const char *const algorithm_names[] = {
    [SIP_AUTH_ALG_MD5] = "MD5",
    [SIP_AUTH_ALG_MD5_SESS] = "MD5-sess",
    [SIP_AUTH_ALG_SHA256] = "SHA-256",
    [SIP_AUTH_ALG_SHA256_SESS] = "SHA-256-sess",
};

const char *sip_auth_algorithm_name(enum sip_auth_algorithm alg)
{
	if ((unsigned)alg >= sizeof(algorithm_names) / sizeof(algorithm_names[0]))
		return NULL;
	return algorithm_names[alg];
}

enum sip_auth_algorithm sip_auth_algorithm_from_name(sip_pl name)
{
	for (unsigned i = 0; i < sizeof(algorithm_names) / sizeof(algorithm_names[0]); i++)
		if (sip_pl_caseeq_cstr(name, algorithm_names[i]))
			return (enum sip_auth_algorithm)i;
	return SIP_AUTH_ALG_UNKNOWN;
}

static bool algorithm_is_sess(enum sip_auth_algorithm alg)
{
	return alg == SIP_AUTH_ALG_MD5_SESS || alg == SIP_AUTH_ALG_SHA256_SESS;
}

size_t sip_auth_hex_len(enum sip_auth_algorithm alg)
{
	switch (alg) {
	case SIP_AUTH_ALG_MD5:
	case SIP_AUTH_ALG_MD5_SESS:
		return 32;
	case SIP_AUTH_ALG_SHA256:
	case SIP_AUTH_ALG_SHA256_SESS:
		return 64;
	default:
		return 0;
	}
}

static const EVP_MD *algorithm_md(enum sip_auth_algorithm alg)
{
	switch (alg) {
	case SIP_AUTH_ALG_MD5:
	case SIP_AUTH_ALG_MD5_SESS:
		return EVP_md5();
	case SIP_AUTH_ALG_SHA256:
	case SIP_AUTH_ALG_SHA256_SESS:
		return EVP_sha256();
	default:
		return NULL;
	}
}

const char *sip_auth_result_str(enum sip_auth_result r)
{
	switch (r) {
	case SIP_AUTH_OK:
		return "ok";
	case SIP_AUTH_BAD_RESPONSE:
		return "bad response";
	case SIP_AUTH_STALE_NONCE:
		return "stale nonce";
	case SIP_AUTH_BAD_NONCE:
		return "bad nonce";
	case SIP_AUTH_REALM_MISMATCH:
		return "realm mismatch";
	case SIP_AUTH_UNSUPPORTED:
		return "unsupported";
	case SIP_AUTH_MALFORMED:
		return "malformed";
	}
	return "?";
}

static enum sip_auth_qop qop_from_name(sip_pl name)
{
	if (sip_pl_caseeq_cstr(name, "auth"))
		return SIP_AUTH_QOP_AUTH;
	if (sip_pl_caseeq_cstr(name, "auth-int"))
		return SIP_AUTH_QOP_AUTH_INT;
	return SIP_AUTH_QOP_OTHER;
}

/* ---- escaped values ---- */

bool sip_auth_value_eq(sip_pl value, sip_pl plain)
{
	if (!value.p || !plain.p)
		return !value.p && !plain.p;
	size_t i = 0, j = 0;
	while (i < value.l) {
		char c = value.p[i];
		/* a trailing lone backslash stays literal, as sip_unquote does */
		if (c == '\\' && i + 1 < value.l)
			c = value.p[++i];
		if (j >= plain.l || plain.p[j] != c)
			return false;
		i++;
		j++;
	}
	return j == plain.l;
}

/* Plain text that may be written into a quoted-string once escaped: no
 * control characters (they could end the header line). */
static bool plain_ok(sip_pl pl)
{
	for (size_t i = 0; i < pl.l; i++) {
		unsigned char c = (unsigned char)pl.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/* A value with its escapes in place, as a parser returned it, that may be
 * written back between quotes as is. */
static bool escaped_ok(sip_pl pl)
{
	for (size_t i = 0; i < pl.l; i++) {
		unsigned char c = (unsigned char)pl.p[i];
		if (c == '\\') {
			if (i + 1 >= pl.l)
				return false;
			unsigned char n = (unsigned char)pl.p[++i];
			if (n == '\r' || n == '\n' || n > 0x7f)
				return false;
		} else if (c == '"' || c == '\n' || c == 0x7f) {
			return false;
		} else if (c == '\r') {
			/* only a fold: CRLF followed by white space */
			if (i + 2 >= pl.l || pl.p[i + 1] != '\n' ||
			    !sip_is_wsp((unsigned char)pl.p[i + 2]))
				return false;
			i++;
		} else if (c < 0x20 && c != '\t') {
			return false;
		}
	}
	return true;
}

/* ---- parsing ---- */

/* Read the scheme and check it is Digest; leaves s before the first param. */
static int parse_scheme(sip_pl value, struct sip_scan *s, sip_pl *scheme)
{
	*s = sip_scan_init(sip_pl_trim(value));
	if (!s->p)
		return -EINVAL;
	if (!sip_scan_token(s, scheme))
		return -EINVAL;
	/* the scheme ends at white space (or at the end of a bare scheme) */
	if (!sip_scan_lws(s) && !sip_scan_eof(s))
		return -EINVAL;
	if (!sip_pl_caseeq_cstr(*scheme, "Digest"))
		return -ENOTSUP;
	return 0;
}

/* The next `name = value` of the comma list. Returns 1 with a param, 0 at the
 * end, -EINVAL on a syntax error. Empty list elements are skipped, as the
 * #rule of HTTP asks of recipients. */
static int param_next(struct sip_scan *s, sip_pl *name, sip_pl *value)
{
	for (;;) {
		sip_scan_lws(s);
		if (!sip_scan_char(s, ','))
			break;
	}
	if (sip_scan_eof(s))
		return 0;
	if (!sip_scan_token(s, name) || !sip_scan_sep(s, '='))
		return -EINVAL;
	if (sip_scan_peek(s) == '"') {
		if (!sip_scan_quoted(s, value))
			return -EINVAL;
	} else if (!sip_scan_token(s, value)) {
		return -EINVAL;
	}
	sip_scan_lws(s);
	if (!sip_scan_eof(s) && sip_scan_peek(s) != ',')
		return -EINVAL;
	return 1;
}

static int name_index(sip_pl name, const char *const *names, int count)
{
	for (int i = 0; i < count; i++)
		if (sip_pl_caseeq_cstr(name, names[i]))
			return i;
	return -1;
}

/* qop-options: a comma list of tokens; unknown ones are ignored. */
static int parse_qop_list(sip_pl list, unsigned *mask)
{
	struct sip_scan s = sip_scan_init(list);
	unsigned elements = 0;
	*mask = 0;
	for (;;) {
		for (;;) {
			sip_scan_lws(&s);
			if (!sip_scan_char(&s, ','))
				break;
		}
		if (sip_scan_eof(&s))
			break;
		sip_pl tok;
		if (!sip_scan_token(&s, &tok))
			return -EINVAL;
		enum sip_auth_qop q = qop_from_name(tok);
		if (q != SIP_AUTH_QOP_OTHER)
			*mask |= (unsigned)q;
		elements++;
		sip_scan_lws(&s);
		if (!sip_scan_eof(&s) && sip_scan_peek(&s) != ',')
			return -EINVAL;
	}
	return elements ? 0 : -EINVAL;
}

enum { CH_REALM, CH_NONCE, CH_OPAQUE, CH_DOMAIN, CH_ALGORITHM, CH_QOP, CH_STALE, CH_COUNT };
static const char *const challenge_names[CH_COUNT] = {
    "realm", "nonce", "opaque", "domain", "algorithm", "qop", "stale",
};

int sip_auth_challenge_parse(sip_pl value, struct sip_auth_challenge *out)
{
	struct sip_auth_challenge ch = {0};
	struct sip_scan s;
	int err = parse_scheme(value, &s, &ch.scheme);
	if (err)
		return err;

	unsigned seen = 0;
	sip_pl name, val;
	while ((err = param_next(&s, &name, &val)) > 0) {
		int idx = name_index(name, challenge_names, CH_COUNT);
		if (idx < 0)
			continue;
		if (seen & (1u << idx))
			return -EINVAL;
		seen |= 1u << idx;
		switch (idx) {
		case CH_REALM:
			ch.realm = val;
			break;
		case CH_NONCE:
			ch.nonce = val;
			break;
		case CH_OPAQUE:
			ch.opaque = val;
			break;
		case CH_DOMAIN:
			ch.domain = val;
			break;
		case CH_ALGORITHM:
			ch.algorithm_name = val;
			break;
		case CH_QOP:
			ch.qop_list = val;
			if (parse_qop_list(val, &ch.qop) != 0)
				return -EINVAL;
			break;
		case CH_STALE:
			ch.stale = sip_pl_caseeq_cstr(val, "true");
			break;
		}
	}
	if (err < 0)
		return err;
	if (!sip_pl_isset(ch.realm) || !sip_pl_isset(ch.nonce))
		return -EINVAL;
	ch.algorithm = sip_pl_isset(ch.algorithm_name)
	                   ? sip_auth_algorithm_from_name(ch.algorithm_name)
	                   : SIP_AUTH_ALG_MD5;
	*out = ch;
	return 0;
}

enum {
	CR_USERNAME,
	CR_REALM,
	CR_NONCE,
	CR_URI,
	CR_RESPONSE,
	CR_ALGORITHM,
	CR_CNONCE,
	CR_OPAQUE,
	CR_QOP,
	CR_NC,
	CR_USERHASH,
	CR_COUNT
};
static const char *const credential_names[CR_COUNT] = {
    "username", "realm",  "nonce", "uri", "response", "algorithm",
    "cnonce",   "opaque", "qop",   "nc",  "userhash",
};

/* nc-value = 8LHEX; upper case is accepted since it is hashed as received. */
static int parse_nc(sip_pl text, uint32_t *nc)
{
	if (text.l != 8)
		return -EINVAL;
	uint32_t v = 0;
	for (size_t i = 0; i < 8; i++) {
		int h = sip_hexval((unsigned char)text.p[i]);
		if (h < 0)
			return -EINVAL;
		v = v << 4 | (uint32_t)h;
	}
	*nc = v;
	return 0;
}

int sip_auth_credentials_parse(sip_pl value, struct sip_auth_credentials *out)
{
	struct sip_auth_credentials cr = {0};
	struct sip_scan s;
	int err = parse_scheme(value, &s, &cr.scheme);
	if (err)
		return err;

	unsigned seen = 0;
	sip_pl name, val;
	while ((err = param_next(&s, &name, &val)) > 0) {
		int idx = name_index(name, credential_names, CR_COUNT);
		if (idx < 0)
			continue;
		if (seen & (1u << idx))
			return -EINVAL;
		seen |= 1u << idx;
		switch (idx) {
		case CR_USERNAME:
			cr.username = val;
			break;
		case CR_REALM:
			cr.realm = val;
			break;
		case CR_NONCE:
			cr.nonce = val;
			break;
		case CR_URI:
			cr.uri = val;
			break;
		case CR_RESPONSE:
			cr.response = val;
			break;
		case CR_ALGORITHM:
			cr.algorithm_name = val;
			break;
		case CR_CNONCE:
			cr.cnonce = val;
			break;
		case CR_OPAQUE:
			cr.opaque = val;
			break;
		case CR_QOP:
			cr.qop_name = val;
			cr.qop = qop_from_name(val);
			break;
		case CR_NC:
			cr.nc_text = val;
			if (parse_nc(val, &cr.nc) != 0)
				return -EINVAL;
			break;
		case CR_USERHASH:
			cr.userhash = sip_pl_caseeq_cstr(val, "true");
			break;
		}
	}
	if (err < 0)
		return err;
	if (!sip_pl_isset(cr.username) || !sip_pl_isset(cr.realm) || !sip_pl_isset(cr.nonce) ||
	    !sip_pl_isset(cr.uri) || !sip_pl_isset(cr.response))
		return -EINVAL;
	cr.algorithm = sip_pl_isset(cr.algorithm_name)
	                   ? sip_auth_algorithm_from_name(cr.algorithm_name)
	                   : SIP_AUTH_ALG_MD5;
	if (sip_pl_isset(cr.qop_name) && (!sip_pl_isset(cr.cnonce) || !sip_pl_isset(cr.nc_text)))
		return -EINVAL;
	if (algorithm_is_sess(cr.algorithm) && !sip_pl_isset(cr.cnonce))
		return -EINVAL;
	*out = cr;
	return 0;
}

/* ---- hashing ---- */

/* One EVP context reused for the few hashes of a response. Errors are sticky
 * so the callers check once, at hash_end_hex. */
struct hash {
	EVP_MD_CTX *ctx;
	const EVP_MD *md;
	size_t hex_len;
	bool failed;
};

static int hash_open(struct hash *h, enum sip_auth_algorithm alg)
{
	h->md = algorithm_md(alg);
	h->hex_len = sip_auth_hex_len(alg);
	h->failed = false;
	h->ctx = NULL;
	if (!h->md)
		return -EINVAL;
	h->ctx = EVP_MD_CTX_new();
	return h->ctx ? 0 : -ENOMEM;
}

static void hash_close(struct hash *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

static void hash_begin(struct hash *h)
{
	if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1)
		h->failed = true;
}

static void hash_put(struct hash *h, const void *data, size_t len)
{
	if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
		h->failed = true;
}

static void hash_colon(struct hash *h)
{
	hash_put(h, ":", 1);
}

/* Hash a value, resolving its quoted-pair escapes when escaped is set. */
static void hash_val(struct hash *h, sip_pl v, bool escaped)
{
	if (!escaped) {
		hash_put(h, v.p, v.l);
		return;
	}
	size_t start = 0;
	for (size_t i = 0; i < v.l; i++) {
		if (v.p[i] == '\\' && i + 1 < v.l) {
			hash_put(h, v.p + start, i - start);
			start = i + 1; /* the escaped byte starts the next run */
			i++;
		}
	}
	hash_put(h, v.p + start, v.l - start);
}

static const char hex_digits[] = "0123456789abcdef";

static int hash_end_hex(struct hash *h, char out[SIP_AUTH_HEX_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (h->failed || EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len * 2 != h->hex_len)
		return -EIO;
	for (unsigned i = 0; i < len; i++) {
		out[2 * i] = hex_digits[md[i] >> 4];
		out[2 * i + 1] = hex_digits[md[i] & 15];
	}
	out[2 * len] = '\0';
	return 0;
}

/* Copy hex of exactly want digits, lower-cased, into out. */
static bool hex_normalize(sip_pl in, size_t want, char out[SIP_AUTH_HEX_MAX])
{
	if (!in.p || in.l != want || want >= SIP_AUTH_HEX_MAX)
		return false;
	for (size_t i = 0; i < in.l; i++) {
		unsigned char c = (unsigned char)in.p[i];
		if (sip_hexval(c) < 0)
			return false;
		out[i] = (char)sip_tolower(c);
	}
	out[in.l] = '\0';
	return true;
}

static int compute_ha1(enum sip_auth_algorithm alg, sip_pl user, sip_pl realm, bool realm_escaped,
                       sip_pl password, char out[SIP_AUTH_HEX_MAX])
{
	struct hash h;
	int err = hash_open(&h, alg);
	if (err) {
		hash_close(&h);
		return err;
	}
	hash_begin(&h);
	hash_val(&h, user, false);
	hash_colon(&h);
	hash_val(&h, realm, realm_escaped);
	hash_colon(&h);
	hash_val(&h, password, false);
	err = hash_end_hex(&h, out);
	hash_close(&h);
	return err;
}

int sip_auth_ha1(enum sip_auth_algorithm alg, sip_pl username, sip_pl realm, sip_pl password,
                 char *out, size_t size)
{
	size_t len = sip_auth_hex_len(alg);
	if (!len || !out)
		return -EINVAL;
	if (size < len + 1)
		return -ENOSPC;
	char hex[SIP_AUTH_HEX_MAX];
	int err = compute_ha1(alg, username, realm, false, password, hex);
	if (err)
		return err;
	memcpy(out, hex, len + 1);
	return (int)len;
}

/* Everything a request-digest is made of. Values taken from a parsed header
 * have their escapes in place (the *_escaped flags); the others are plain. */
struct digest_args {
	enum sip_auth_algorithm alg;
	const char *ha1; /* lowercase hex of the algorithm's length */
	sip_pl nonce;
	bool nonce_escaped;
	sip_pl cnonce;
	bool cnonce_escaped;
	sip_pl uri;
	bool uri_escaped;
	sip_pl method;
	sip_pl body;
	enum sip_auth_qop qop; /* NONE, AUTH or AUTH_INT */
	sip_pl qop_text;       /* as sent */
	sip_pl nc_text;        /* as sent */
};

static int compute_response(const struct digest_args *a, char out[SIP_AUTH_HEX_MAX])
{
	char ha1[SIP_AUTH_HEX_MAX], ha2[SIP_AUTH_HEX_MAX], body_hash[SIP_AUTH_HEX_MAX];
	struct hash h;
	int err = hash_open(&h, a->alg);
	if (err)
		goto out;
	memcpy(ha1, a->ha1, h.hex_len + 1);

	if (algorithm_is_sess(a->alg)) {
		/* RFC 2617 §3.2.2.2: HA1 = H(H(user:realm:password):nonce:cnonce) */
		hash_begin(&h);
		hash_put(&h, a->ha1, h.hex_len);
		hash_colon(&h);
		hash_val(&h, a->nonce, a->nonce_escaped);
		hash_colon(&h);
		hash_val(&h, a->cnonce, a->cnonce_escaped);
		if ((err = hash_end_hex(&h, ha1)) != 0)
			goto out;
	}

	if (a->qop == SIP_AUTH_QOP_AUTH_INT) {
		hash_begin(&h);
		hash_put(&h, a->body.p, a->body.l);
		if ((err = hash_end_hex(&h, body_hash)) != 0)
			goto out;
	}
	hash_begin(&h);
	hash_put(&h, a->method.p, a->method.l);
	hash_colon(&h);
	hash_val(&h, a->uri, a->uri_escaped);
	if (a->qop == SIP_AUTH_QOP_AUTH_INT) {
		hash_colon(&h);
		hash_put(&h, body_hash, h.hex_len);
	}
	if ((err = hash_end_hex(&h, ha2)) != 0)
		goto out;

	hash_begin(&h);
	hash_put(&h, ha1, h.hex_len);
	hash_colon(&h);
	hash_val(&h, a->nonce, a->nonce_escaped);
	hash_colon(&h);
	if (a->qop != SIP_AUTH_QOP_NONE) {
		hash_put(&h, a->nc_text.p, a->nc_text.l);
		hash_colon(&h);
		hash_val(&h, a->cnonce, a->cnonce_escaped);
		hash_colon(&h);
		hash_put(&h, a->qop_text.p, a->qop_text.l);
		hash_colon(&h);
	}
	hash_put(&h, ha2, h.hex_len);
	err = hash_end_hex(&h, out);
out:
	hash_close(&h);
	OPENSSL_cleanse(ha1, sizeof(ha1));
	return err;
}

/* ---- output ---- */

/* A bounded writer into a caller's buffer; overflow is sticky and checked
 * once at the end. One byte is always kept for the NUL. */
struct out {
	char *p;
	size_t size, len;
	bool overflow;
};

static void out_put(struct out *o, const char *s, size_t n)
{
	if (o->overflow)
		return;
	if (o->size == 0 || n >= o->size - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void out_str(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

/* name="value" with value plain text: escape '"' and '\'. */
static void out_quoted_plain(struct out *o, const char *name, sip_pl v)
{
	out_str(o, name);
	out_put(o, "=\"", 2);
	size_t start = 0;
	for (size_t i = 0; i < v.l; i++) {
		if (v.p[i] == '"' || v.p[i] == '\\') {
			out_put(o, v.p + start, i - start);
			out_put(o, "\\", 1);
			start = i;
		}
	}
	out_put(o, v.p + start, v.l - start);
	out_put(o, "\"", 1);
}

/* name="value" with value already escaped (a view from a parsed header). */
static void out_quoted_escaped(struct out *o, const char *name, sip_pl v)
{
	out_str(o, name);
	out_put(o, "=\"", 2);
	out_put(o, v.p, v.l);
	out_put(o, "\"", 1);
}

static int out_finish(struct out *o)
{
	if (o->overflow) {
		if (o->size)
			o->p[0] = '\0';
		return -ENOSPC;
	}
	o->p[o->len] = '\0';
	return (int)o->len;
}

/* ---- client ---- */

int sip_auth_client_answer(const struct sip_auth_challenge *ch,
                           const struct sip_auth_client_params *params, char *out, size_t size)
{
	if (!ch || !params || (!out && size))
		return -EINVAL;
	if (ch->algorithm == SIP_AUTH_ALG_UNKNOWN || !sip_auth_algorithm_name(ch->algorithm))
		return -ENOTSUP;

	enum sip_auth_qop qop = SIP_AUTH_QOP_NONE;
	if (sip_pl_isset(ch->qop_list)) {
		if (ch->qop & SIP_AUTH_QOP_AUTH)
			qop = SIP_AUTH_QOP_AUTH;
		else if (ch->qop & SIP_AUTH_QOP_AUTH_INT)
			qop = SIP_AUTH_QOP_AUTH_INT;
		else
			return -ENOTSUP;
	}
	bool sess = algorithm_is_sess(ch->algorithm);
	bool with_cnonce = qop != SIP_AUTH_QOP_NONE || sess;

	if (!sip_pl_isset(ch->realm) || !sip_pl_isset(ch->nonce) || !escaped_ok(ch->realm) ||
	    !escaped_ok(ch->nonce) || (sip_pl_isset(ch->opaque) && !escaped_ok(ch->opaque)))
		return -EINVAL;
	if (!params->username.p || !plain_ok(params->username) || !params->uri.p ||
	    !plain_ok(params->uri) || !sip_pl_is_token(params->method))
		return -EINVAL;
	if (with_cnonce && (!params->cnonce.p || !params->cnonce.l || !plain_ok(params->cnonce)))
		return -EINVAL;

	size_t hex_len = sip_auth_hex_len(ch->algorithm);
	char ha1[SIP_AUTH_HEX_MAX], response[SIP_AUTH_HEX_MAX];
	int err;
	if (sip_pl_isset(params->ha1_hex)) {
		if (!hex_normalize(params->ha1_hex, hex_len, ha1))
			return -EINVAL;
	} else {
		sip_pl pw = params->password.p ? params->password : SIP_PL("");
		err = compute_ha1(ch->algorithm, params->username, ch->realm, true, pw, ha1);
		if (err)
			return err;
	}

	char nc_text[9];
	snprintf(nc_text, sizeof(nc_text), "%08x", (unsigned)params->nc);
	const char *qop_text = qop == SIP_AUTH_QOP_AUTH_INT ? "auth-int" : "auth";
	struct digest_args a = {
	    .alg = ch->algorithm,
	    .ha1 = ha1,
	    .nonce = ch->nonce,
	    .nonce_escaped = true,
	    .cnonce = params->cnonce,
	    .uri = params->uri,
	    .method = params->method,
	    .body = params->body,
	    .qop = qop,
	    .qop_text = sip_pl_from_cstr(qop_text),
	    .nc_text = {nc_text, 8},
	};
	err = compute_response(&a, response);
	OPENSSL_cleanse(ha1, sizeof(ha1));
	if (err)
		return err;

	struct out o = {out, size, 0, false};
	out_str(&o, "Digest ");
	out_quoted_plain(&o, "username", params->username);
	out_str(&o, ", ");
	out_quoted_escaped(&o, "realm", ch->realm);
	out_str(&o, ", ");
	out_quoted_escaped(&o, "nonce", ch->nonce);
	out_str(&o, ", ");
	out_quoted_plain(&o, "uri", params->uri);
	out_str(&o, ", ");
	out_quoted_plain(&o, "response", (sip_pl){response, hex_len});
	out_str(&o, ", algorithm=");
	out_str(&o, sip_auth_algorithm_name(ch->algorithm));
	if (with_cnonce) {
		out_str(&o, ", ");
		out_quoted_plain(&o, "cnonce", params->cnonce);
	}
	if (qop != SIP_AUTH_QOP_NONE) {
		out_str(&o, ", qop=");
		out_str(&o, qop_text);
		out_str(&o, ", nc=");
		out_str(&o, nc_text);
	}
	if (sip_pl_isset(ch->opaque)) {
		out_str(&o, ", ");
		out_quoted_escaped(&o, "opaque", ch->opaque);
	}
	return out_finish(&o);
}

/* ---- server ---- */

#define NONCE_RAW_LEN    32
#define NONCE_SIGNED_LEN 16 /* timestamp, offer, random: the HMAC covers these */
#define NONCE_MAC_LEN    16
#define NONCE_B64_LEN    43 /* base64url of 32 bytes, no padding */
#define OPAQUE_MAX       64

struct sip_auth_server {
	EVP_MAC_CTX *mac; /* HMAC-SHA256 keyed with the secret; duplicated per use */
	uint32_t lifetime;
	size_t opaque_len;
	char opaque[OPAQUE_MAX];
	size_t realm_len;
	char realm[]; /* plain text */
};

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
	}
	return o;
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Decode exactly NONCE_RAW_LEN bytes; only the canonical encoding (zero
 * padding bits) is accepted, so one nonce has one spelling. */
static bool nonce_decode(sip_pl in, uint8_t out[NONCE_RAW_LEN])
{
	if (in.l != NONCE_B64_LEN)
		return false;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < in.l; i++) {
		int v = b64url_value((unsigned char)in.p[i]);
		if (v < 0)
			return false;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o == NONCE_RAW_LEN && (acc & ((1u << bits) - 1)) == 0;
}

static int nonce_mac(const struct sip_auth_server *srv, const uint8_t *signed_part,
                     uint8_t mac[NONCE_MAC_LEN])
{
	uint8_t full[32];
	size_t len = 0;
	int err = -EIO;
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(srv->mac);
	if (!ctx)
		return -ENOMEM;
	if (EVP_MAC_update(ctx, signed_part, NONCE_SIGNED_LEN) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)srv->realm, srv->realm_len) == 1 &&
	    EVP_MAC_final(ctx, full, &len, sizeof(full)) == 1 && len == sizeof(full)) {
		memcpy(mac, full, NONCE_MAC_LEN);
		err = 0;
	}
	EVP_MAC_CTX_free(ctx);
	OPENSSL_cleanse(full, sizeof(full));
	return err;
}

int sip_auth_server_new(struct sip_auth_server **out, sip_pl realm, const uint8_t *secret,
                        size_t secret_len, uint32_t nonce_lifetime)
{
	uint8_t key[SIP_AUTH_SECRET_LEN];
	struct sip_auth_server *srv = NULL;
	EVP_MAC *hmac = NULL;
	int err = -EINVAL;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!realm.p || !realm.l || !plain_ok(realm))
		return -EINVAL;
	if (secret) {
		if (secret_len != SIP_AUTH_SECRET_LEN)
			return -EINVAL;
		memcpy(key, secret, sizeof(key));
	} else if (RAND_bytes(key, sizeof(key)) != 1) {
		return -EIO;
	}

	srv = calloc(1, sizeof(*srv) + realm.l + 1);
	if (!srv) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(srv->realm, realm.p, realm.l);
	srv->realm_len = realm.l;
	srv->lifetime = nonce_lifetime;

	err = -EIO;
	hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!hmac)
		goto out;
	srv->mac = EVP_MAC_CTX_new(hmac);
	if (!srv->mac)
		goto out;
	char digest[] = "SHA256";
	OSSL_PARAM mac_params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
	    OSSL_PARAM_construct_end(),
	};
	if (EVP_MAC_init(srv->mac, key, sizeof(key), mac_params) != 1)
		goto out;
	*out = srv;
	srv = NULL;
	err = 0;
out:
	EVP_MAC_free(hmac);
	sip_auth_server_free(srv);
	OPENSSL_cleanse(key, sizeof(key));
	return err;
}

void sip_auth_server_free(struct sip_auth_server *srv)
{
	if (!srv)
		return;
	EVP_MAC_CTX_free(srv->mac);
	free(srv);
}

int sip_auth_server_set_opaque(struct sip_auth_server *srv, sip_pl opaque)
{
	if (!srv || opaque.l > OPAQUE_MAX || (opaque.l && !plain_ok(opaque)))
		return -EINVAL;
	if (opaque.l)
		memcpy(srv->opaque, opaque.p, opaque.l);
	srv->opaque_len = opaque.l;
	return 0;
}

int sip_auth_server_challenge(struct sip_auth_server *srv, uint64_t now,
                              enum sip_auth_algorithm alg, unsigned qop, bool stale, char *out,
                              size_t size)
{
	if (!srv || (!out && size))
		return -EINVAL;
	const char *alg_name = sip_auth_algorithm_name(alg);
	if (!alg_name || (qop & ~(unsigned)(SIP_AUTH_QOP_AUTH | SIP_AUTH_QOP_AUTH_INT)))
		return -EINVAL;

	/* timestamp || offer || random, then the MAC over those and the realm */
	uint8_t raw[NONCE_RAW_LEN];
	for (int i = 0; i < 8; i++)
		raw[i] = (uint8_t)(now >> (56 - 8 * i));
	raw[8] = (uint8_t)((unsigned)alg | qop << 4);
	if (RAND_bytes(raw + 9, NONCE_SIGNED_LEN - 9) != 1)
		return -EIO;
	int err = nonce_mac(srv, raw, raw + NONCE_SIGNED_LEN);
	if (err)
		return err;
	char nonce[NONCE_B64_LEN];
	b64url_encode(raw, sizeof(raw), nonce);

	struct out o = {out, size, 0, false};
	out_str(&o, "Digest ");
	out_quoted_plain(&o, "realm", (sip_pl){srv->realm, srv->realm_len});
	out_str(&o, ", ");
	out_quoted_plain(&o, "nonce", (sip_pl){nonce, sizeof(nonce)});
	/* algorithm before qop: some clients read them in this order */
	out_str(&o, ", algorithm=");
	out_str(&o, alg_name);
	if (qop == (SIP_AUTH_QOP_AUTH | SIP_AUTH_QOP_AUTH_INT))
		out_str(&o, ", qop=\"auth,auth-int\"");
	else if (qop == SIP_AUTH_QOP_AUTH)
		out_str(&o, ", qop=\"auth\"");
	else if (qop == SIP_AUTH_QOP_AUTH_INT)
		out_str(&o, ", qop=\"auth-int\"");
	if (srv->opaque_len) {
		out_str(&o, ", ");
		out_quoted_plain(&o, "opaque", (sip_pl){srv->opaque, srv->opaque_len});
	}
	if (stale)
		out_str(&o, ", stale=true");
	return out_finish(&o);
}

enum sip_auth_result sip_auth_server_verify(const struct sip_auth_server *srv, uint64_t now,
                                            const struct sip_auth_credentials *cred, sip_pl method,
                                            sip_pl body, sip_pl ha1_hex)
{
	if (!srv || !cred || !sip_pl_is_token(method))
		return SIP_AUTH_MALFORMED;
	if (!sip_pl_isset(cred->realm) || !sip_pl_isset(cred->nonce) || !sip_pl_isset(cred->uri) ||
	    !sip_pl_isset(cred->response))
		return SIP_AUTH_MALFORMED;
	if (cred->algorithm == SIP_AUTH_ALG_UNKNOWN || !sip_auth_algorithm_name(cred->algorithm) ||
	    cred->userhash || cred->qop == SIP_AUTH_QOP_OTHER)
		return SIP_AUTH_UNSUPPORTED;
	if (!sip_auth_value_eq(cred->realm, (sip_pl){srv->realm, srv->realm_len}))
		return SIP_AUTH_REALM_MISMATCH;

	/* the nonce: ours, for this realm, unmodified */
	uint8_t raw[NONCE_RAW_LEN], mac[NONCE_MAC_LEN];
	if (!nonce_decode(cred->nonce, raw))
		return SIP_AUTH_BAD_NONCE;
	if (nonce_mac(srv, raw, mac) != 0 ||
	    CRYPTO_memcmp(mac, raw + NONCE_SIGNED_LEN, NONCE_MAC_LEN) != 0)
		return SIP_AUTH_BAD_NONCE;
	if (srv->opaque_len &&
	    !sip_auth_value_eq(cred->opaque, (sip_pl){srv->opaque, srv->opaque_len}))
		return SIP_AUTH_BAD_NONCE;

	/* answered with what was offered: no downgrade of algorithm or qop */
	unsigned offered_alg = raw[8] & 0x0f, offered_qop = raw[8] >> 4;
	if ((unsigned)cred->algorithm != offered_alg)
		return SIP_AUTH_UNSUPPORTED;
	if (offered_qop ? !(cred->qop & offered_qop) : cred->qop != SIP_AUTH_QOP_NONE)
		return SIP_AUTH_UNSUPPORTED;
	if (cred->qop != SIP_AUTH_QOP_NONE && (!sip_pl_isset(cred->cnonce) || cred->nc_text.l != 8))
		return SIP_AUTH_MALFORMED;
	if (algorithm_is_sess(cred->algorithm) && !sip_pl_isset(cred->cnonce))
		return SIP_AUTH_MALFORMED;

	size_t hex_len = sip_auth_hex_len(cred->algorithm);
	char ha1[SIP_AUTH_HEX_MAX], got[SIP_AUTH_HEX_MAX], want[SIP_AUTH_HEX_MAX];
	if (!hex_normalize(ha1_hex, hex_len, ha1))
		return SIP_AUTH_MALFORMED;
	if (!hex_normalize(cred->response, hex_len, got)) {
		OPENSSL_cleanse(ha1, sizeof(ha1));
		return SIP_AUTH_MALFORMED;
	}
	struct digest_args a = {
	    .alg = cred->algorithm,
	    .ha1 = ha1,
	    .nonce = cred->nonce,
	    .nonce_escaped = true,
	    .cnonce = cred->cnonce,
	    .cnonce_escaped = true,
	    .uri = cred->uri,
	    .uri_escaped = true,
	    .method = method,
	    .body = body,
	    .qop = cred->qop,
	    .qop_text = cred->qop_name,
	    .nc_text = cred->nc_text,
	};
	int err = compute_response(&a, want);
	OPENSSL_cleanse(ha1, sizeof(ha1));
	if (err)
		return SIP_AUTH_UNSUPPORTED; /* the hash is not available here */
	if (CRYPTO_memcmp(got, want, hex_len) != 0)
		return SIP_AUTH_BAD_RESPONSE;

	/* only now the age, so stale=true is only ever told to someone who knows
	 * the password; a timestamp far in the future means the clock went back */
	uint64_t issued = 0;
	for (int i = 0; i < 8; i++)
		issued = issued << 8 | raw[i];
	if (now > issued && now - issued > srv->lifetime)
		return SIP_AUTH_STALE_NONCE;
	if (issued > now && issued - now > srv->lifetime)
		return SIP_AUTH_STALE_NONCE;
	return SIP_AUTH_OK;
}
