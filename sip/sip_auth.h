/* sip_auth.h — HTTP digest authentication for SIP (RFC 2617, RFC 7616,
 * RFC 8760, RFC 3261 §22): parsing of challenges and credentials, the hashes,
 * a stateless nonce server and the client answer.
 *
 * Everything is sans-I/O: the current time is always an argument (seconds, any
 * monotonic or wall clock the caller chooses), so tests can fake it.
 *
 * Parsed structs hold views into the header value. A value that was sent as a
 * quoted-string is kept as the view between the quotes with its escapes
 * (quoted-pairs) still in place; a value sent as a token is kept as is (a token
 * can never contain a backslash, so both kinds can be treated alike). Use
 * sip_auth_value_eq() to compare such a value with plain text, or sip_unquote()
 * from sip_pl.h to copy it out unescaped. The hashes always work on the
 * unescaped values.
 *
 * Interop note: SIP.js (0.21) parses only the first challenge header of a 401/
 * 407 and answers only algorithm=MD5 with qop=auth, so offer exactly that to
 * browsers. */
#ifndef SIPWIRE_SIP_AUTH_H
#define SIPWIRE_SIP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip/sip_pl.h"

enum sip_auth_algorithm {
	SIP_AUTH_ALG_MD5 = 0, /* also what an absent algorithm parameter means */
	SIP_AUTH_ALG_MD5_SESS,
	SIP_AUTH_ALG_SHA256,
	SIP_AUTH_ALG_SHA256_SESS,
	SIP_AUTH_ALG_UNKNOWN, /* any other name: a client skips such a challenge */
};

/* qop values. A challenge offers a set of them (a mask of these bits);
 * credentials carry exactly one, or NONE for the RFC 2069 form. */
enum sip_auth_qop {
	SIP_AUTH_QOP_NONE = 0,
	SIP_AUTH_QOP_AUTH = 1 << 0,
	SIP_AUTH_QOP_AUTH_INT = 1 << 1,
	SIP_AUTH_QOP_OTHER = 1 << 2, /* credentials only: a qop value we do not know */
};

/* Longest hex digest (SHA-256) plus its NUL. */
#define SIP_AUTH_HEX_MAX 65
/* Length of the server secret. */
#define SIP_AUTH_SECRET_LEN 32

/* A WWW-Authenticate / Proxy-Authenticate value. */
struct sip_auth_challenge {
	sip_pl scheme;         /* "Digest", any case */
	sip_pl realm;          /* required */
	sip_pl nonce;          /* required */
	sip_pl opaque;         /* unset when absent */
	sip_pl domain;         /* unset when absent; a space separated URI list */
	sip_pl algorithm_name; /* as received; unset when absent */
	enum sip_auth_algorithm algorithm;
	sip_pl qop_list; /* the qop value as received; unset when absent */
	unsigned qop;    /* mask of the known qop options offered (AUTH, AUTH_INT) */
	bool stale;      /* stale=true (any case); anything else is false */
};

/* An Authorization / Proxy-Authorization value. */
struct sip_auth_credentials {
	sip_pl scheme;         /* "Digest", any case */
	sip_pl username;       /* required */
	sip_pl realm;          /* required */
	sip_pl nonce;          /* required */
	sip_pl uri;            /* required */
	sip_pl response;       /* required */
	sip_pl cnonce;         /* required with a qop or a -sess algorithm */
	sip_pl opaque;         /* unset when absent */
	sip_pl algorithm_name; /* as received; unset when absent */
	enum sip_auth_algorithm algorithm;
	sip_pl qop_name;       /* as received; unset when absent */
	enum sip_auth_qop qop; /* NONE, AUTH, AUTH_INT or OTHER */
	sip_pl nc_text;        /* the 8 hex digits as received (they enter the hash) */
	uint32_t nc;           /* its value; required with a qop */
	bool userhash;         /* RFC 7616 userhash=true (not supported by the server) */
};

/* Parse a challenge. Returns 0, -ENOTSUP for a well formed challenge of
 * another scheme (Basic, ...), or -EINVAL for anything malformed: a syntax
 * error, a duplicate parameter, a missing realm or nonce. Unknown parameters
 * are ignored. */
int sip_auth_challenge_parse(sip_pl value, struct sip_auth_challenge *out);

/* Parse credentials. Returns 0, -ENOTSUP for another scheme, or -EINVAL:
 * syntax, duplicates, a missing username/realm/nonce/uri/response, a qop
 * without cnonce and nc, a -sess algorithm without cnonce, an nc that is not
 * exactly 8 hex digits. */
int sip_auth_credentials_parse(sip_pl value, struct sip_auth_credentials *out);

/* Whether a parsed value (escapes in place) equals plain text once unescaped. */
bool sip_auth_value_eq(sip_pl value, sip_pl plain);

/* Algorithm names as they appear on the wire ("MD5", "SHA-256-sess"...);
 * NULL for UNKNOWN. Parsing a name is case-insensitive. */
const char *sip_auth_algorithm_name(enum sip_auth_algorithm alg);
enum sip_auth_algorithm sip_auth_algorithm_from_name(sip_pl name);
/* Length in hex digits of the algorithm's hash (32 or 64), 0 for UNKNOWN. */
size_t sip_auth_hex_len(enum sip_auth_algorithm alg);

/* HA1 = H(username:realm:password) in lowercase hex, the value a user
 * database stores instead of the password. For the -sess algorithms this is
 * the same base hash (the session part needs the nonces and is computed at
 * verification time). username, realm and password are plain text. Returns
 * the length written (32 or 64, plus a NUL), -EINVAL for UNKNOWN, -ENOSPC, or
 * -EIO if the hash is unavailable. */
int sip_auth_ha1(enum sip_auth_algorithm alg, sip_pl username, sip_pl realm, sip_pl password,
                 char *out, size_t size);

/* ---- client ---- */

struct sip_auth_client_params {
	sip_pl username; /* plain text */
	sip_pl password; /* plain text; ignored when ha1_hex is set */
	sip_pl ha1_hex;  /* a stored HA1 for the challenge's realm and algorithm */
	sip_pl method;   /* the request's method, e.g. "REGISTER" */
	sip_pl uri;      /* the Request-URI, plain text */
	sip_pl body;     /* the message body (used for qop=auth-int only) */
	sip_pl cnonce;   /* plain text; required when a qop or -sess is used */
	uint32_t nc;     /* nonce count: 1 for the first use of a nonce */
};

/* Write the Authorization (or Proxy-Authorization) header value answering ch:
 *   Digest username="..", realm="..", nonce="..", uri="..", response="..",
 *   algorithm=MD5, cnonce="..", qop=auth, nc=00000001, opaque=".."
 * qop auth is chosen when offered, auth-int only when auth is not; without a
 * qop in the challenge the RFC 2069 form is written (no cnonce, qop, nc —
 * except cnonce for a -sess algorithm). Quoted values are escaped.
 * Returns the length written (NUL excluded), -ENOTSUP if the challenge's
 * algorithm or every offered qop is unknown, -EINVAL for bad params (control
 * characters, a missing cnonce, an HA1 of the wrong length), -ENOSPC if out is
 * too small (out then holds an empty string if size > 0), -EIO for a hash
 * failure. out must not overlap the buffer ch's views point into. */
int sip_auth_client_answer(const struct sip_auth_challenge *ch,
                           const struct sip_auth_client_params *params, char *out, size_t size);

/* ---- server ----
 * The server keeps no per-nonce state. A nonce is the base64url encoding of
 *   timestamp (8) || offer (1: algorithm and qop set) || random (7) ||
 *   HMAC-SHA256(secret, those 16 bytes || realm) truncated to 16 bytes,
 * so a nonce cannot be forged, cannot be used in another realm or with
 * another algorithm or qop than the one offered, and its age is known.
 * Nonce counts are not tracked: within its lifetime a nonce (and a captured
 * request) can be replayed; keep lifetimes short. */

enum sip_auth_result {
	SIP_AUTH_OK = 0,
	SIP_AUTH_BAD_RESPONSE,   /* wrong password (or wrong HA1 / body / uri) */
	SIP_AUTH_STALE_NONCE,    /* right password, nonce expired: re-challenge stale=true */
	SIP_AUTH_BAD_NONCE,      /* forged, tampered, other secret/realm, opaque mismatch */
	SIP_AUTH_REALM_MISMATCH, /* credentials for another realm */
	SIP_AUTH_UNSUPPORTED,    /* algorithm / qop not the one offered, userhash */
	SIP_AUTH_MALFORMED,      /* response or stored HA1 not hex of the right length */
};

const char *sip_auth_result_str(enum sip_auth_result r);

struct sip_auth_server;

/* Create a server for realm (plain text, copied). secret: SIP_AUTH_SECRET_LEN
 * bytes, or NULL to draw one from RAND_bytes (a per-process secret: nonces do
 * not survive a restart, which only costs clients one stale re-challenge).
 * nonce_lifetime: seconds a nonce stays fresh. Returns 0, -EINVAL, -ENOMEM or
 * -EIO. */
int sip_auth_server_new(struct sip_auth_server **out, sip_pl realm, const uint8_t *secret,
                        size_t secret_len, uint32_t nonce_lifetime);
void sip_auth_server_free(struct sip_auth_server *srv);

/* Make challenges carry opaque="..." (plain text, at most 64 bytes, copied)
 * and require credentials to echo it. An empty view removes it. */
int sip_auth_server_set_opaque(struct sip_auth_server *srv, sip_pl opaque);

/* Write a challenge header value with a fresh nonce:
 *   Digest realm="..", nonce="..", algorithm=MD5, qop="auth"[, opaque=".."][, stale=true]
 * qop is a mask of SIP_AUTH_QOP_AUTH / SIP_AUTH_QOP_AUTH_INT; 0 writes the RFC
 * 2069 form without qop. Returns the length written, -EINVAL (unknown
 * algorithm or qop bits), -ENOSPC, or -EIO (no randomness). */
int sip_auth_server_challenge(struct sip_auth_server *srv, uint64_t now,
                              enum sip_auth_algorithm alg, unsigned qop, bool stale, char *out,
                              size_t size);

/* Verify credentials of a request. method is the request's method, body its
 * body (for auth-int), ha1_hex the stored HA1 (sip_auth_ha1) for the
 * credentials' username, realm and algorithm. The response is compared in
 * constant time; a STALE_NONCE result is only given when the response is
 * right, so a stale=true re-challenge never helps someone guessing. The caller
 * should also check that cred->uri names the request's Request-URI. */
enum sip_auth_result sip_auth_server_verify(const struct sip_auth_server *srv, uint64_t now,
                                            const struct sip_auth_credentials *cred, sip_pl method,
                                            sip_pl body, sip_pl ha1_hex);

#endif
