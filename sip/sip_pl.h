/* sip_pl.h — string views (pointer + length) and the small scanner every SIP
 * parser in this library is written with.
 *
 * A view never owns its bytes: it points into a buffer that someone else keeps
 * alive (usually the received datagram or stream buffer of a sip_msg). Views are
 * never NUL-terminated; use the functions here instead of <string.h>. */
#ifndef SIPWIRE_SIP_PL_H
#define SIPWIRE_SIP_PL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sip_pl {
	const char *p;
	size_t l;
} sip_pl;

#define SIP_PL_NULL ((sip_pl){NULL, 0})
/* A view of a string literal, without its terminating NUL. */
#define SIP_PL(lit) ((sip_pl){(lit), sizeof(lit) - 1})

sip_pl sip_pl_from_cstr(const char *s);
static inline bool sip_pl_isset(sip_pl pl) { return pl.p != NULL; }

/* Exact byte comparison. */
bool sip_pl_eq(sip_pl a, sip_pl b);
bool sip_pl_eq_cstr(sip_pl a, const char *s);
/* ASCII case-insensitive comparison (header names, parameter names, tokens). */
bool sip_pl_caseeq(sip_pl a, sip_pl b);
bool sip_pl_caseeq_cstr(sip_pl a, const char *s);

/* Parse an unsigned decimal that must fill the whole view. Fails (-EINVAL) on an
 * empty view, a non-digit, or a value above max (-ERANGE). */
int sip_pl_u32(sip_pl pl, uint32_t max, uint32_t *out);

/* Drop leading/trailing linear white space: SP, HTAB and CRLF folds. */
sip_pl sip_pl_trim(sip_pl pl);

/* Copy into a NUL-terminated buffer; returns -ENOSPC (and copies nothing) if it
 * does not fit. */
int sip_pl_strcpy(sip_pl pl, char *dst, size_t size);

/* ---- character classes of RFC 3261 §25.1 ---- */
bool sip_is_token_char(unsigned char c);
/* The whole view is a non-empty token. */
bool sip_pl_is_token(sip_pl pl);
static inline bool sip_is_wsp(unsigned char c) { return c == ' ' || c == '\t'; }
static inline bool sip_is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline bool sip_is_alpha(unsigned char c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}
static inline unsigned char sip_tolower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}
int sip_hexval(unsigned char c); /* 0..15, or -1 */

/* ---- the scanner ----
 * A cursor over a view. Every sip_scan_* function either consumes what it
 * matched and returns true (or a view of it), or consumes nothing. */
struct sip_scan {
	const char *p;
	const char *end;
};

static inline struct sip_scan sip_scan_init(sip_pl pl)
{
	/* a NULL view scans as empty (no arithmetic on a null pointer) */
	return (struct sip_scan){pl.p, pl.p ? pl.p + pl.l : pl.p};
}
static inline bool sip_scan_eof(const struct sip_scan *s) { return s->p >= s->end; }
static inline int sip_scan_peek(const struct sip_scan *s)
{
	return s->p < s->end ? (unsigned char)*s->p : -1;
}
static inline sip_pl sip_scan_rest(const struct sip_scan *s)
{
	return (sip_pl){s->p, (size_t)(s->end - s->p)};
}

/* Skip LWS: *(SP / HTAB) with CRLF folds. Returns whether anything was skipped. */
bool sip_scan_lws(struct sip_scan *s);
/* Consume c, allowing LWS around it (SWS c SWS), as RFC 3261's SEMI, COMMA,
 * EQUAL, COLON, SLASH, LAQUOT/RAQUOT are defined. */
bool sip_scan_sep(struct sip_scan *s, char c);
/* Consume exactly c, nothing around it. */
bool sip_scan_char(struct sip_scan *s, char c);
/* token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
bool sip_scan_token(struct sip_scan *s, sip_pl *out);
/* quoted-string: returns the view between the quotes, escapes left in place
 * (use sip_unquote to resolve them). Fails on an unterminated string. */
bool sip_scan_quoted(struct sip_scan *s, sip_pl *out);
/* 1*DIGIT up to max. */
bool sip_scan_u32(struct sip_scan *s, uint32_t max, uint32_t *out);
/* Consume up to (not including) the first unquoted, un-bracketed `stop`
 * character, honouring quoted-strings and <...>. Returns the consumed view. */
sip_pl sip_scan_until_unquoted(struct sip_scan *s, char stop);

/* Resolve quoted-pair escapes (\x) of a quoted-string body into dst.
 * Returns the length written, or -ENOSPC. */
int sip_unquote(sip_pl quoted, char *dst, size_t size);

/* ---- generic parameters (";name=value;flag") ----
 * params is the view starting at the first ';' (or empty). Values may be
 * tokens, quoted strings (returned with their quotes) or IPv6 references. */
struct sip_param {
	sip_pl name;
	sip_pl value; /* not set (p == NULL) for a flag parameter */
};
/* Iterate: *pos starts at 0; returns false when no more parameters or on a
 * syntax error (then *bad is set if non-NULL). */
bool sip_param_next(sip_pl params, size_t *pos, struct sip_param *out, bool *bad);
/* Find by case-insensitive name. Returns true if present (value may be unset). */
bool sip_param_get(sip_pl params, const char *name, sip_pl *value);
/* Check that a whole parameter list is well formed. */
bool sip_params_valid(sip_pl params);
/* One pass over a parameter list: check that it is well formed and pick out
 * the parameters named in names[0..n) (SIP_PL("tag"); case-insensitive; the first of a
 * repeated name wins). found[i] tells whether names[i] was present, values[i]
 * holds its value (unset for a flag). Returns false on a syntax error. This is
 * what the hot typed parsers use instead of one sip_param_get per name. */
bool sip_params_pick(sip_pl params, const sip_pl *names, size_t n, bool *found,
                     sip_pl *values);

#endif
