/* sip_pl.c — string views and the shared scanner. */
#include "sip/sip_pl.h"

#include <errno.h>
#include <string.h>

sip_pl sip_pl_from_cstr(const char *s)
{
	return s ? (sip_pl){s, strlen(s)} : SIP_PL_NULL;
}

bool sip_pl_eq(sip_pl a, sip_pl b)
{
	return a.l == b.l && (a.l == 0 || memcmp(a.p, b.p, a.l) == 0);
}

bool sip_pl_eq_cstr(sip_pl a, const char *s)
{
	return sip_pl_eq(a, sip_pl_from_cstr(s));
}

bool sip_pl_caseeq(sip_pl a, sip_pl b)
{
	if (a.l != b.l)
		return false;
	for (size_t i = 0; i < a.l; i++)
		if (sip_tolower((unsigned char)a.p[i]) != sip_tolower((unsigned char)b.p[i]))
			return false;
	return true;
}

bool sip_pl_caseeq_cstr(sip_pl a, const char *s)
{
	return sip_pl_caseeq(a, sip_pl_from_cstr(s));
}

int sip_pl_u32(sip_pl pl, uint32_t max, uint32_t *out)
{
	if (pl.l == 0)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < pl.l; i++) {
		unsigned char c = (unsigned char)pl.p[i];
		if (!sip_is_digit(c))
			return -EINVAL;
		v = v * 10 + (c - '0');
		if (v > max)
			return -ERANGE;
	}
	*out = (uint32_t)v;
	return 0;
}

/* Length of LWS at p (0 if none): *WSP [CRLF 1*WSP] — a CRLF counts only when
 * followed by white space, since a bare CRLF ends the header. */
static inline size_t lws_len(const char *p, const char *end)
{
	/* the common case: no white space at all */
	if (p >= end || (*p != ' ' && *p != '\t' && *p != '\r'))
		return 0;
	const char *q = p;
	while (q < end && sip_is_wsp((unsigned char)*q))
		q++;
	if (end - q >= 3 && q[0] == '\r' && q[1] == '\n' && sip_is_wsp((unsigned char)q[2])) {
		q += 2;
		while (q < end && sip_is_wsp((unsigned char)*q))
			q++;
	}
	return (size_t)(q - p);
}

sip_pl sip_pl_trim(sip_pl pl)
{
	if (!pl.p)
		return pl;
	const char *p = pl.p, *end = pl.p + pl.l;
	p += lws_len(p, end);
	while (end > p) {
		unsigned char c = (unsigned char)end[-1];
		if (sip_is_wsp(c) || c == '\r' || c == '\n')
			end--;
		else
			break;
	}
	return (sip_pl){p, (size_t)(end - p)};
}

int sip_pl_strcpy(sip_pl pl, char *dst, size_t size)
{
	if (pl.l + 1 > size)
		return -ENOSPC;
	if (pl.l)
		memcpy(dst, pl.p, pl.l);
	dst[pl.l] = '\0';
	return 0;
}

/* token characters of RFC 3261 §25.1, as a 256-entry table so the hot loops
 * of the parser do one load per byte. */
static const bool token_chars[256] = {
	['!'] = 1, ['%'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,
	['_'] = 1, ['`'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
	['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

bool sip_is_token_char(unsigned char c) { return token_chars[c]; }

bool sip_pl_is_token(sip_pl pl)
{
	if (!pl.p || pl.l == 0)
		return false;
	for (size_t i = 0; i < pl.l; i++)
		if (!token_chars[(unsigned char)pl.p[i]])
			return false;
	return true;
}

int sip_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = sip_tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool sip_scan_lws(struct sip_scan *s)
{
	size_t n = lws_len(s->p, s->end);
	s->p += n;
	return n > 0;
}

bool sip_scan_sep(struct sip_scan *s, char c)
{
	const char *save = s->p;
	sip_scan_lws(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		sip_scan_lws(s);
		return true;
	}
	s->p = save;
	return false;
}

bool sip_scan_char(struct sip_scan *s, char c)
{
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return true;
	}
	return false;
}

bool sip_scan_token(struct sip_scan *s, sip_pl *out)
{
	const char *q = s->p;
	while (q < s->end && token_chars[(unsigned char)*q])
		q++;
	if (q == s->p)
		return false;
	if (out)
		*out = (sip_pl){s->p, (size_t)(q - s->p)};
	s->p = q;
	return true;
}

bool sip_scan_quoted(struct sip_scan *s, sip_pl *out)
{
	if (s->p >= s->end || *s->p != '"')
		return false;
	const char *q = s->p + 1;
	while (q < s->end) {
		unsigned char c = (unsigned char)*q;
		if (c == '"') {
			if (out)
				*out = (sip_pl){s->p + 1, (size_t)(q - s->p - 1)};
			s->p = q + 1;
			return true;
		}
		if (c == '\\') {
			/* quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F) */
			if (q + 1 >= s->end || q[1] == '\r' || q[1] == '\n' ||
			    (unsigned char)q[1] > 0x7f)
				return false;
			q += 2;
			continue;
		}
		if (c == '\r') {
			/* only a fold is allowed inside a quoted string */
			size_t n = lws_len(q, s->end);
			if (n == 0)
				return false;
			q += n;
			continue;
		}
		if (c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f)
			return false;
		q++;
	}
	return false;
}

bool sip_scan_u32(struct sip_scan *s, uint32_t max, uint32_t *out)
{
	const char *q = s->p;
	while (q < s->end && sip_is_digit((unsigned char)*q))
		q++;
	if (q == s->p)
		return false;
	uint32_t v;
	if (sip_pl_u32((sip_pl){s->p, (size_t)(q - s->p)}, max, &v) != 0)
		return false;
	if (out)
		*out = v;
	s->p = q;
	return true;
}

sip_pl sip_scan_until_unquoted(struct sip_scan *s, char stop)
{
	const char *start = s->p;
	bool inq = false, inangle = false;
	while (s->p < s->end) {
		char c = *s->p;
		if (inq) {
			if (c == '\\' && s->p + 1 < s->end)
				s->p++;
			else if (c == '"')
				inq = false;
		} else if (c == '"') {
			inq = true;
		} else if (c == '<') {
			inangle = true;
		} else if (c == '>') {
			inangle = false;
		} else if (c == stop && !inangle) {
			break;
		}
		s->p++;
	}
	return (sip_pl){start, (size_t)(s->p - start)};
}

int sip_unquote(sip_pl quoted, char *dst, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; i < quoted.l; i++) {
		char c = quoted.p[i];
		if (c == '\\' && i + 1 < quoted.l)
			c = quoted.p[++i];
		if (n + 1 >= size)
			return -ENOSPC;
		dst[n++] = c;
	}
	if (size == 0)
		return -ENOSPC;
	dst[n] = '\0';
	return (int)n;
}

/* gen-value = token / host / quoted-string. A host may be an IPv6 reference
 * "[...]"; an IPv6 address without brackets is taken too, because RFC 3261's
 * grammar writes Via's received= that way (RFC 5118 §4.5). */
static bool scan_gen_value(struct sip_scan *s, sip_pl *out)
{
	const char *start = s->p;
	if (sip_scan_peek(s) == '"') {
		if (!sip_scan_quoted(s, NULL))
			return false;
	} else if (sip_scan_peek(s) == '[') {
		const char *q = s->p + 1;
		while (q < s->end && (sip_hexval((unsigned char)*q) >= 0 || *q == ':' || *q == '.'))
			q++;
		if (q >= s->end || *q != ']')
			return false;
		s->p = q + 1;
	} else {
		while (s->p < s->end && (token_chars[(unsigned char)*s->p] || *s->p == ':'))
			s->p++;
		if (s->p == start)
			return false;
	}
	*out = (sip_pl){start, (size_t)(s->p - start)};
	return true;
}

bool sip_param_next(sip_pl params, size_t *pos, struct sip_param *out, bool *bad)
{
	if (bad)
		*bad = false;
	if (!params.p || *pos >= params.l)
		return false;
	struct sip_scan s = {params.p + *pos, params.p + params.l};
	sip_scan_lws(&s);
	if (sip_scan_eof(&s))
		return false;
	if (!sip_scan_sep(&s, ';') || !sip_scan_token(&s, &out->name))
		goto bad;
	out->value = SIP_PL_NULL;
	if (sip_scan_sep(&s, '=')) {
		if (!scan_gen_value(&s, &out->value))
			goto bad;
	}
	*pos = (size_t)(s.p - params.p);
	return true;
bad:
	if (bad)
		*bad = true;
	*pos = params.l;
	return false;
}

bool sip_param_get(sip_pl params, const char *name, sip_pl *value)
{
	size_t pos = 0;
	struct sip_param prm;
	while (sip_param_next(params, &pos, &prm, NULL)) {
		if (sip_pl_caseeq_cstr(prm.name, name)) {
			if (value)
				*value = prm.value;
			return true;
		}
	}
	return false;
}

bool sip_params_valid(sip_pl params)
{
	/* sip_param_next stops cleanly only at the end (or trailing LWS); any junk
	 * in between sets bad. */
	size_t pos = 0;
	struct sip_param prm;
	bool bad = false;
	while (sip_param_next(params, &pos, &prm, &bad))
		;
	return !bad;
}

bool sip_params_pick(sip_pl params, const sip_pl *names, size_t n, bool *found,
                     sip_pl *values)
{
	for (size_t i = 0; i < n; i++) {
		found[i] = false;
		values[i] = SIP_PL_NULL;
	}
	size_t pos = 0;
	struct sip_param prm;
	bool bad = false;
	while (sip_param_next(params, &pos, &prm, &bad)) {
		for (size_t i = 0; i < n; i++) {
			if (!found[i] && sip_pl_caseeq(prm.name, names[i])) {
				found[i] = true;
				values[i] = prm.value;
				break;
			}
		}
	}
	return !bad;
}
