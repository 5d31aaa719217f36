/* sip_uri.c — SIP, SIPS and tel URIs (RFC 3261 §19.1 and §25, RFC 3966, RFC 5118).
 *
 * The parser makes one pass over the view with a table of character classes and
 * records views into the caller's buffer; nothing is copied or allocated. The
 * comparison resolves %HH escapes on the fly, so it needs no buffers either. */
#include "sip/sip_uri.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* ---- character classes of RFC 3261 §25.1 ---- */
enum {
	C_UNRES = 1 << 0,    /* alphanum / mark */
	C_USER = 1 << 1,     /* user-unreserved: & = + $ , ; ? / */
	C_PASS = 1 << 2,     /* the extra password characters: & = + $ , */
	C_PARAM = 1 << 3,    /* param-unreserved: [ ] / : & + $ */
	C_HNV = 1 << 4,      /* hnv-unreserved: [ ] / ? : + $ */
	C_HOST = 1 << 5,     /* hostname and IPv4 characters: alphanum - . */
	C_RESERVED = 1 << 6, /* reserved: ; / ? : @ & = + $ , */
	C_ALNUM = 1 << 7,
	C_LABEL = 1 << 8,    /* inside a domain label: alphanum - */
	C_NOT_IPV4 = 1 << 9, /* a host character that rules out an IPv4 address */
	C_SCHEME = 1 << 10,  /* after a scheme's first letter: alphanum + - . */
};

/* clang-format off */
#define DIGIT_ROW(c) [c] = C_UNRES | C_HOST | C_ALNUM | C_LABEL | C_SCHEME
#define ALPHA_ROW(c) [c] = C_UNRES | C_HOST | C_ALNUM | C_LABEL | C_SCHEME | C_NOT_IPV4
static const uint16_t uri_chars[256] = {
	DIGIT_ROW('0'), DIGIT_ROW('1'), DIGIT_ROW('2'), DIGIT_ROW('3'), DIGIT_ROW('4'),
	DIGIT_ROW('5'), DIGIT_ROW('6'), DIGIT_ROW('7'), DIGIT_ROW('8'), DIGIT_ROW('9'),
	ALPHA_ROW('A'), ALPHA_ROW('B'), ALPHA_ROW('C'), ALPHA_ROW('D'), ALPHA_ROW('E'),
	ALPHA_ROW('F'), ALPHA_ROW('G'), ALPHA_ROW('H'), ALPHA_ROW('I'), ALPHA_ROW('J'),
	ALPHA_ROW('K'), ALPHA_ROW('L'), ALPHA_ROW('M'), ALPHA_ROW('N'), ALPHA_ROW('O'),
	ALPHA_ROW('P'), ALPHA_ROW('Q'), ALPHA_ROW('R'), ALPHA_ROW('S'), ALPHA_ROW('T'),
	ALPHA_ROW('U'), ALPHA_ROW('V'), ALPHA_ROW('W'), ALPHA_ROW('X'), ALPHA_ROW('Y'),
	ALPHA_ROW('Z'),
	ALPHA_ROW('a'), ALPHA_ROW('b'), ALPHA_ROW('c'), ALPHA_ROW('d'), ALPHA_ROW('e'),
	ALPHA_ROW('f'), ALPHA_ROW('g'), ALPHA_ROW('h'), ALPHA_ROW('i'), ALPHA_ROW('j'),
	ALPHA_ROW('k'), ALPHA_ROW('l'), ALPHA_ROW('m'), ALPHA_ROW('n'), ALPHA_ROW('o'),
	ALPHA_ROW('p'), ALPHA_ROW('q'), ALPHA_ROW('r'), ALPHA_ROW('s'), ALPHA_ROW('t'),
	ALPHA_ROW('u'), ALPHA_ROW('v'), ALPHA_ROW('w'), ALPHA_ROW('x'), ALPHA_ROW('y'),
	ALPHA_ROW('z'),
	['-'] = C_UNRES | C_HOST | C_LABEL | C_SCHEME | C_NOT_IPV4,
	['.'] = C_UNRES | C_HOST | C_SCHEME,
	['_'] = C_UNRES,
	['!'] = C_UNRES,
	['~'] = C_UNRES,
	['*'] = C_UNRES,
	['\''] = C_UNRES,
	['('] = C_UNRES,
	[')'] = C_UNRES,
	['&'] = C_USER | C_PASS | C_PARAM | C_RESERVED,
	['='] = C_USER | C_PASS | C_RESERVED,
	['+'] = C_USER | C_PASS | C_PARAM | C_HNV | C_RESERVED | C_SCHEME,
	['$'] = C_USER | C_PASS | C_PARAM | C_HNV | C_RESERVED,
	[','] = C_USER | C_PASS | C_RESERVED,
	[';'] = C_USER | C_RESERVED,
	['?'] = C_USER | C_HNV | C_RESERVED,
	['/'] = C_USER | C_PARAM | C_HNV | C_RESERVED,
	[':'] = C_PARAM | C_HNV | C_RESERVED,
	['['] = C_PARAM | C_HNV,
	[']'] = C_PARAM | C_HNV,
	['@'] = C_RESERVED,
};
#undef DIGIT_ROW
#undef ALPHA_ROW
/* clang-format on */

#define SET_USER  (C_UNRES | C_USER)
#define SET_PASS  (C_UNRES | C_PASS)
#define SET_PARAM (C_UNRES | C_PARAM)
#define SET_HNV   (C_UNRES | C_HNV)
#define SET_URIC  (C_UNRES | C_RESERVED)

static inline bool has_class(unsigned char c, unsigned mask)
{
	return (uri_chars[c] & mask) != 0;
}

/* Hex digit value, or -1; only escapes take this path. */
static inline int hexval(unsigned char c)
{
	return sip_hexval(c);
}

static inline bool escape_at(const char *p, const char *end)
{
	return end - p >= 3 && hexval((unsigned char)p[1]) >= 0 && hexval((unsigned char)p[2]) >= 0;
}

/* Consume characters of `mask` and valid %HH escapes, stopping at the first
 * other character. A '%' that does not start a valid escape sets *bad. */
static const char *scan_class(const char *p, const char *end, unsigned mask, bool *bad)
{
	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (has_class(c, mask)) {
			p++;
		} else if (c == '%') {
			if (!escape_at(p, end)) {
				*bad = true;
				return p;
			}
			p += 3;
		} else {
			break;
		}
	}
	return p;
}

/* The next character of an escaped view, with %HH resolved. A '%' that does not
 * start an escape stands for itself (only possible for views not made by the
 * parser, which validates every escape). */
static inline unsigned char next_unescaped(const char **pp, const char *end)
{
	const char *p = *pp;
	if (*p == '%' && escape_at(p, end)) {
		*pp = p + 3;
		return (unsigned char)(hexval((unsigned char)p[1]) << 4 |
		                       hexval((unsigned char)p[2]));
	}
	*pp = p + 1;
	return (unsigned char)*p;
}

/* Compare two escaped views after unescaping, optionally ignoring ASCII case. */
static bool unescaped_eq(sip_pl a, sip_pl b, bool icase)
{
	if (!a.p || !b.p)
		return !a.p && !b.p;
	const char *pa = a.p, *ea = a.p + a.l, *pb = b.p, *eb = b.p + b.l;
	while (pa < ea && pb < eb) {
		unsigned char ca = next_unescaped(&pa, ea), cb = next_unescaped(&pb, eb);
		if (icase) {
			ca = sip_tolower(ca);
			cb = sip_tolower(cb);
		}
		if (ca != cb)
			return false;
	}
	return pa == ea && pb == eb;
}

/* An escaped view against a plain C string, ignoring ASCII case. */
static bool unescaped_caseeq_cstr(sip_pl a, const char *s)
{
	const char *p = a.p, *end = a.p + a.l;
	while (p < end) {
		if (*s == '\0')
			return false;
		if (sip_tolower(next_unescaped(&p, end)) != sip_tolower((unsigned char)*s++))
			return false;
	}
	return *s == '\0';
}

/* ---- hosts ---- */

/* IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT, each 0..255.
 * The whole view must be the address. */
static bool ipv4_parse(const char *p, const char *end, uint8_t out[4])
{
	for (int i = 0; i < 4; i++) {
		if (i > 0) {
			if (p >= end || *p != '.')
				return false;
			p++;
		}
		unsigned v = 0, n = 0;
		while (p < end && sip_is_digit((unsigned char)*p) && n < 3) {
			v = v * 10 + (unsigned)(*p - '0');
			p++;
			n++;
		}
		if (n == 0 || v > 255)
			return false;
		out[i] = (uint8_t)v;
	}
	return p == end;
}

/* RFC 4291 §2.2 text form, without brackets: up to eight groups of 1-4 hex
 * digits, one "::" standing for one or more zero groups, and an optional dotted
 * IPv4 tail that counts as two groups. */
static bool ipv6_parse(const char *p, const char *end, uint8_t out[16])
{
	uint16_t groups[8];
	int n = 0, gap = -1;

	if (p == end)
		return false;
	if (*p == ':') {
		if (end - p < 2 || p[1] != ':')
			return false;
		gap = 0;
		p += 2;
	}
	while (p < end) {
		const char *q = p;
		unsigned v = 0;
		while (q < end && hexval((unsigned char)*q) >= 0 && q - p < 5) {
			v = v << 4 | (unsigned)hexval((unsigned char)*q);
			q++;
		}
		if (q < end && *q == '.') {
			uint8_t v4[4];
			if (n > 6 || !ipv4_parse(p, end, v4))
				return false;
			groups[n++] = (uint16_t)(v4[0] << 8 | v4[1]);
			groups[n++] = (uint16_t)(v4[2] << 8 | v4[3]);
			p = end;
			break;
		}
		if (q == p || q - p > 4 || n == 8)
			return false;
		groups[n++] = (uint16_t)v;
		p = q;
		if (p == end)
			break;
		if (*p != ':')
			return false;
		p++;
		if (p < end && *p == ':') {
			if (gap >= 0)
				return false;
			gap = n;
			p++;
		} else if (p == end) {
			return false; /* a single trailing colon */
		}
	}
	if (gap < 0 ? n != 8 : n > 7)
		return false;
	int fill = 8 - n, o = 0;
	for (int i = 0; i < n; i++) {
		if (i == gap)
			for (int z = 0; z < fill; z++, o += 2)
				out[o] = out[o + 1] = 0;
		out[o++] = (uint8_t)(groups[i] >> 8);
		out[o++] = (uint8_t)groups[i];
	}
	if (gap == n)
		for (int z = 0; z < fill; z++, o += 2)
			out[o] = out[o + 1] = 0;
	return true;
}

/* hostname = *( domainlabel "." ) toplabel [ "." ]
 * domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum
 * toplabel = ALPHA / ALPHA *( alphanum / "-" ) alphanum
 * or an IPv4address. One pass, label by label; the classes of all characters
 * seen are or-ed together to tell a name from an address at the end.
 * Returns the end of the host, or NULL if it is not one. */
static const char *scan_hostname(const char *p, const char *end, enum sip_uri_host_type *type)
{
	const char *host = p, *top;
	unsigned seen = 0;
	for (;;) {
		/* a label: starts and ends with alphanum, '-' only inside */
		top = p;
		if (p == end || !has_class((unsigned char)*p, C_ALNUM))
			return NULL;
		unsigned cls;
		while (p < end && ((cls = uri_chars[(unsigned char)*p]) & C_LABEL)) {
			seen |= cls;
			p++;
		}
		if (p[-1] == '-')
			return NULL;
		if (p == end || *p != '.')
			break;
		p++;
		/* a trailing dot ends the name */
		if (p == end || !has_class((unsigned char)*p, C_HOST) || *p == '.')
			break;
	}
	if (!(seen & C_NOT_IPV4)) {
		uint8_t a4[4];
		*type = SIP_URI_HOST_IPV4;
		return ipv4_parse(host, p, a4) ? p : NULL;
	}
	if (!sip_is_alpha((unsigned char)*top))
		return NULL;
	*type = SIP_URI_HOST_DOMAIN;
	return p;
}

enum sip_uri_host_type sip_uri_host_type_of(sip_pl host)
{
	uint8_t a6[16];
	enum sip_uri_host_type type = SIP_URI_HOST_NONE;
	if (!host.p || host.l == 0)
		return SIP_URI_HOST_NONE;
	const char *end = host.p + host.l;
	if (host.p[0] == '[')
		return host.l >= 2 && end[-1] == ']' && ipv6_parse(host.p + 1, end - 1, a6)
		               ? SIP_URI_HOST_IPV6
		               : SIP_URI_HOST_NONE;
	return scan_hostname(host.p, end, &type) == end ? type : SIP_URI_HOST_NONE;
}

bool sip_ip_addr_valid(sip_pl addr)
{
	uint8_t a[16];
	if (!addr.p || addr.l == 0)
		return false;
	const char *end = addr.p + addr.l;
	return ipv4_parse(addr.p, end, a) || ipv6_parse(addr.p, end, a);
}

/* ---- parameters and headers ---- */

/* Which well-known parameter a name is; escapes resolved, case ignored. */
enum wk_param { WK_NONE, WK_TRANSPORT, WK_USER, WK_METHOD, WK_MADDR, WK_TTL, WK_LR, WK_OB, WK_GR };

static enum wk_param well_known(sip_pl name, bool escaped)
{
	char buf[16];
	if (escaped) {
		/* rare: decode into a small buffer, names longer than any known one
		 * cannot match */
		const char *p = name.p, *end = name.p + name.l;
		size_t n = 0;
		while (p < end) {
			if (n == sizeof(buf))
				return WK_NONE;
			buf[n++] = (char)next_unescaped(&p, end);
		}
		name = (sip_pl){buf, n};
	}
	switch (name.l) {
	case 2:
		if (sip_pl_caseeq(name, SIP_PL("lr")))
			return WK_LR;
		if (sip_pl_caseeq(name, SIP_PL("ob")))
			return WK_OB;
		if (sip_pl_caseeq(name, SIP_PL("gr")))
			return WK_GR;
		break;
	case 3:
		if (sip_pl_caseeq(name, SIP_PL("ttl")))
			return WK_TTL;
		break;
	case 4:
		if (sip_pl_caseeq(name, SIP_PL("user")))
			return WK_USER;
		break;
	case 5:
		if (sip_pl_caseeq(name, SIP_PL("maddr")))
			return WK_MADDR;
		break;
	case 6:
		if (sip_pl_caseeq(name, SIP_PL("method")))
			return WK_METHOD;
		break;
	case 9:
		if (sip_pl_caseeq(name, SIP_PL("transport")))
			return WK_TRANSPORT;
		break;
	}
	return WK_NONE;
}

/* Record a well-known parameter. Only the first occurrence of a name counts,
 * as sip_uri_param() finds the first; *seen holds one bit per name. */
static void note_param(struct sip_uri *uri, enum wk_param wk, sip_pl value, unsigned *seen)
{
	if (wk == WK_NONE || (*seen & (1u << wk)))
		return;
	*seen |= 1u << wk;
	switch (wk) {
	case WK_TRANSPORT:
		uri->transport = value;
		break;
	case WK_USER:
		uri->user_param = value;
		break;
	case WK_METHOD:
		uri->method = value;
		break;
	case WK_MADDR:
		uri->maddr = value;
		break;
	case WK_TTL:
		uri->ttl = value;
		break;
	case WK_LR:
		uri->lr = true;
		break;
	case WK_OB:
		uri->ob = true;
		break;
	case WK_GR:
		uri->has_gr = true;
		uri->gr = value;
		break;
	case WK_NONE:
		break;
	}
}

/* *( ";" pname [ "=" pvalue ] ) from p, stopping at '?' or the end. For tel,
 * pname is 1*( alphanum / "-" ) (RFC 3966); for sip it is 1*paramchar. Returns
 * where it stopped, or NULL on a syntax error. */
static const char *parse_params(const char *p, const char *end, struct sip_uri *uri, bool tel)
{
	const char *start = p;
	unsigned seen = 0;
	while (p < end && *p == ';') {
		bool bad = false;
		const char *name = ++p;
		if (tel) {
			while (p < end && (has_class((unsigned char)*p, C_ALNUM) || *p == '-'))
				p++;
		} else {
			p = scan_class(p, end, SET_PARAM, &bad);
		}
		if (bad || p == name)
			return NULL;
		sip_pl pname = {name, (size_t)(p - name)};
		sip_pl value = SIP_PL_NULL;
		if (p < end && *p == '=') {
			const char *v = ++p;
			p = scan_class(p, end, SET_PARAM, &bad);
			if (bad || p == v)
				return NULL;
			value = (sip_pl){v, (size_t)(p - v)};
		}
		if (!tel)
			note_param(uri, well_known(pname, memchr(pname.p, '%', pname.l) != NULL),
			           value, &seen);
	}
	if (p > start)
		uri->params = (sip_pl){start, (size_t)(p - start)};
	return p;
}

/* headers = "?" header *( "&" header ), header = hname "=" hvalue. p is just
 * past the '?'. Returns whether the rest of the view is well formed. */
static bool headers_valid(const char *p, const char *end)
{
	for (;;) {
		bool bad = false;
		const char *name = p;
		p = scan_class(p, end, SET_HNV, &bad);
		if (bad || p == name || p == end || *p != '=')
			return false;
		p = scan_class(p + 1, end, SET_HNV, &bad);
		if (bad)
			return false;
		if (p == end)
			return true;
		if (*p != '&')
			return false;
		p++;
	}
}

/* ---- the parsers ---- */

static int parse_sip(const char *p, const char *end, struct sip_uri *uri)
{
	bool bad = false;

	/* No '@' may appear unescaped anywhere but between userinfo and host, so
	 * the first one (if any) ends the userinfo; a second one fails below. */
	const char *at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		const char *q = scan_class(p, at, SET_USER, &bad);
		if (bad || q == p)
			return -EINVAL;
		uri->user = (sip_pl){p, (size_t)(q - p)};
		if (q < at) {
			if (*q != ':')
				return -EINVAL;
			const char *pw = q + 1;
			q = scan_class(pw, at, SET_PASS, &bad);
			if (bad || q != at)
				return -EINVAL;
			uri->password = (sip_pl){pw, (size_t)(q - pw)};
		}
		p = at + 1;
	}

	const char *host = p;
	if (p < end && *p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));
		uint8_t a6[16];
		if (!close || !ipv6_parse(p + 1, close, a6))
			return -EINVAL;
		p = close + 1;
		uri->host_type = SIP_URI_HOST_IPV6;
	} else {
		p = scan_hostname(p, end, &uri->host_type);
		if (!p)
			return -EINVAL;
	}
	uri->host = (sip_pl){host, (size_t)(p - host)};

	if (p < end && *p == ':') {
		const char *digits = ++p;
		uint32_t port = 0;
		while (p < end && sip_is_digit((unsigned char)*p)) {
			port = port * 10 + (uint32_t)(*p - '0');
			if (port > 65535)
				return -EINVAL;
			p++;
		}
		if (p == digits)
			return -EINVAL;
		uri->port = (uint16_t)port;
	}

	p = parse_params(p, end, uri, false);
	if (!p)
		return -EINVAL;

	if (p < end && *p == '?') {
		if (!headers_valid(p + 1, end))
			return -EINVAL;
		uri->headers = (sip_pl){p + 1, (size_t)(end - p - 1)};
		p = end;
	}
	return p == end ? 0 : -EINVAL;
}

static inline bool is_visual_separator(unsigned char c)
{
	return c == '-' || c == '.' || c == '(' || c == ')';
}

/* telephone-subscriber = global-number / local-number (RFC 3966 §3):
 * global-number-digits = "+" *phonedigit DIGIT *phonedigit
 * local-number-digits = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex
 * followed by ;-parameters. A local number should carry phone-context, but
 * phones send tel:911 and the like, so that is left to the caller. */
static int parse_tel(const char *p, const char *end, struct sip_uri *uri)
{
	const char *num = p;
	bool global = p < end && *p == '+', digit = false;
	if (global)
		p++;
	for (; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (sip_is_digit(c) || (!global && (hexval(c) >= 0 || c == '*' || c == '#')))
			digit = true;
		else if (!is_visual_separator(c))
			break;
	}
	if (!digit)
		return -EINVAL;
	uri->user = (sip_pl){num, (size_t)(p - num)};
	p = parse_params(p, end, uri, true);
	if (!p || p != end)
		return -EINVAL;
	return 0;
}

/* absoluteURI = scheme ":" ( hier-part / opaque-part ): every character after
 * the colon is a uric, escapes valid, and there is at least one. */
static bool absolute_uri_valid(const char *p, const char *end)
{
	bool bad = false;
	return p < end && scan_class(p, end, SET_URIC, &bad) == end && !bad;
}

int sip_uri_parse(sip_pl in, struct sip_uri *uri)
{
	if (!uri)
		return -EINVAL;
	/* field by field: GCC turns a memset or compound literal of this size into
	 * a "rep stos" that costs more than parsing a short URI */
	uri->scheme = 0;
	uri->user = uri->password = uri->host = SIP_PL_NULL;
	uri->host_type = SIP_URI_HOST_NONE;
	uri->port = 0;
	uri->params = uri->headers = SIP_PL_NULL;
	uri->transport = uri->user_param = uri->method = SIP_PL_NULL;
	uri->maddr = uri->ttl = uri->gr = SIP_PL_NULL;
	uri->lr = uri->ob = uri->has_gr = false;
	if (!in.p || in.l == 0)
		return -EINVAL;

	const char *p = in.p, *end = in.p + in.l;
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	if (!sip_is_alpha((unsigned char)*p))
		return -EINVAL;
	const char *q = p + 1;
	while (q < end && has_class((unsigned char)*q, C_SCHEME))
		q++;
	if (q == end || *q != ':')
		return -EINVAL;
	size_t len = (size_t)(q - p);
	unsigned char c0 = sip_tolower((unsigned char)p[0]);
	unsigned char c1 = len > 1 ? sip_tolower((unsigned char)p[1]) : 0;
	unsigned char c2 = len > 2 ? sip_tolower((unsigned char)p[2]) : 0;
	p = q + 1;

	if (c0 == 's' && c1 == 'i' && c2 == 'p') {
		if (len == 3) {
			uri->scheme = SIP_URI_SIP;
			return parse_sip(p, end, uri);
		}
		if (len == 4 && sip_tolower((unsigned char)q[-1]) == 's') {
			uri->scheme = SIP_URI_SIPS;
			return parse_sip(p, end, uri);
		}
	} else if (len == 3 && c0 == 't' && c1 == 'e' && c2 == 'l') {
		uri->scheme = SIP_URI_TEL;
		return parse_tel(p, end, uri);
	}
	return absolute_uri_valid(p, end) ? -EPROTONOSUPPORT : -EINVAL;
}

/* ---- parameter access ---- */

/* Iterate a params view made by the parser: *pos starts at 0. */
static bool param_next(sip_pl params, size_t *pos, sip_pl *name, sip_pl *value)
{
	if (!params.p || *pos >= params.l)
		return false;
	const char *p = params.p + *pos, *end = params.p + params.l;
	if (*p == ';')
		p++;
	const char *n = p;
	while (p < end && *p != '=' && *p != ';')
		p++;
	*name = (sip_pl){n, (size_t)(p - n)};
	*value = SIP_PL_NULL;
	if (p < end && *p == '=') {
		const char *v = ++p;
		while (p < end && *p != ';')
			p++;
		*value = (sip_pl){v, (size_t)(p - v)};
	}
	*pos = (size_t)(p - params.p);
	return true;
}

bool sip_uri_param(const struct sip_uri *uri, const char *name, sip_pl *value)
{
	if (!uri || !name)
		return false;
	size_t pos = 0;
	sip_pl n, v;
	while (param_next(uri->params, &pos, &n, &v)) {
		if (unescaped_caseeq_cstr(n, name)) {
			if (value)
				*value = v;
			return true;
		}
	}
	return false;
}

/* The first parameter of that name (escapes resolved, case ignored). */
static bool param_find(sip_pl params, sip_pl name, sip_pl *value)
{
	size_t pos = 0;
	sip_pl n, v;
	while (param_next(params, &pos, &n, &v)) {
		if (unescaped_eq(n, name, true)) {
			*value = v;
			return true;
		}
	}
	return false;
}

/* ---- headers ---- */

static bool header_next(sip_pl headers, size_t *pos, sip_pl *name, sip_pl *value)
{
	if (!headers.p || *pos >= headers.l)
		return false;
	const char *p = headers.p + *pos, *end = headers.p + headers.l;
	const char *n = p;
	while (p < end && *p != '=' && *p != '&')
		p++;
	*name = (sip_pl){n, (size_t)(p - n)};
	const char *v = p < end && *p == '=' ? ++p : p;
	while (p < end && *p != '&')
		p++;
	*value = (sip_pl){v, (size_t)(p - v)};
	/* past the '&', or one past the end so that the next call stops */
	*pos = (size_t)(p - headers.p) + 1;
	return true;
}

/* How many headers in `list` have this name (case-insensitive) and value
 * (case-sensitive), escapes resolved. */
static size_t header_count(sip_pl list, sip_pl name, sip_pl value)
{
	size_t pos = 0, count = 0;
	sip_pl n, v;
	while (header_next(list, &pos, &n, &v))
		if (unescaped_eq(n, name, true) && unescaped_eq(v, value, false))
			count++;
	return count;
}

/* Headers match as multisets: order is irrelevant, every one must be in both. */
static bool headers_equal(sip_pl a, sip_pl b)
{
	size_t na = 0, nb = 0, pos = 0;
	sip_pl n, v;
	while (header_next(a, &pos, &n, &v))
		na++;
	pos = 0;
	while (header_next(b, &pos, &n, &v))
		nb++;
	if (na != nb)
		return false;
	pos = 0;
	while (header_next(a, &pos, &n, &v))
		if (header_count(a, n, v) != header_count(b, n, v))
			return false;
	return true;
}

/* ---- equivalence ---- */

static bool hosts_equal(const struct sip_uri *a, const struct sip_uri *b)
{
	if (a->host_type != b->host_type)
		return false;
	switch (a->host_type) {
	case SIP_URI_HOST_IPV4: {
		uint8_t x[4], y[4];
		if (ipv4_parse(a->host.p, a->host.p + a->host.l, x) &&
		    ipv4_parse(b->host.p, b->host.p + b->host.l, y))
			return memcmp(x, y, sizeof(x)) == 0;
		break;
	}
	case SIP_URI_HOST_IPV6: {
		/* RFC 5118 §4.3: references compare as addresses, so [::1] equals
		 * [0:0:0:0:0:0:0:1] */
		uint8_t x[16], y[16];
		if (a->host.l >= 2 && b->host.l >= 2 &&
		    ipv6_parse(a->host.p + 1, a->host.p + a->host.l - 1, x) &&
		    ipv6_parse(b->host.p + 1, b->host.p + b->host.l - 1, y))
			return memcmp(x, y, sizeof(x)) == 0;
		break;
	}
	default:
		break;
	}
	return sip_pl_caseeq(a->host, b->host);
}

/* RFC 3261 §19.1.4: a parameter present in both must have the same value; user,
 * ttl, method, maddr and transport must also be present in both or neither.
 * Only the first occurrence of a name counts, so a URI always equals itself. */
static bool one_way_params_match(sip_pl a, sip_pl b)
{
	size_t pos = 0;
	sip_pl n, v, va, vb;
	while (param_next(a, &pos, &n, &v)) {
		if (!param_find(b, n, &vb)) {
			switch (well_known(n, memchr(n.p, '%', n.l) != NULL)) {
			case WK_USER:
			case WK_TTL:
			case WK_METHOD:
			case WK_MADDR:
			case WK_TRANSPORT:
				return false;
			default:
				continue;
			}
		}
		param_find(a, n, &va);
		if (!unescaped_eq(va, vb, true))
			return false;
	}
	return true;
}

/* The same for tel, where every parameter must be in both (RFC 3966 §4). */
static bool common_params_match(sip_pl a, sip_pl b)
{
	size_t pos = 0;
	sip_pl n, v, va, vb;
	while (param_next(a, &pos, &n, &v)) {
		if (!param_find(b, n, &vb))
			continue;
		param_find(a, n, &va);
		if (!unescaped_eq(va, vb, true))
			return false;
	}
	return true;
}

/* Every parameter of `a` appears in `b` (RFC 3966 §4). */
static bool params_subset(sip_pl a, sip_pl b)
{
	size_t pos = 0;
	sip_pl n, v, vb;
	while (param_next(a, &pos, &n, &v))
		if (!param_find(b, n, &vb))
			return false;
	return true;
}

/* RFC 3966 §4: both global or both local, the digits equal once the visual
 * separators are dropped, and the same parameters with the same values. */
static bool tel_equal(const struct sip_uri *a, const struct sip_uri *b)
{
	const char *pa = a->user.p, *ea = pa + a->user.l;
	const char *pb = b->user.p, *eb = pb + b->user.l;
	for (;;) {
		while (pa < ea && is_visual_separator((unsigned char)*pa))
			pa++;
		while (pb < eb && is_visual_separator((unsigned char)*pb))
			pb++;
		if (pa == ea || pb == eb)
			break;
		if (sip_tolower((unsigned char)*pa++) != sip_tolower((unsigned char)*pb++))
			return false;
	}
	if (pa != ea || pb != eb)
		return false;
	return params_subset(a->params, b->params) && params_subset(b->params, a->params) &&
	       common_params_match(a->params, b->params);
}

bool sip_uri_equal(const struct sip_uri *a, const struct sip_uri *b)
{
	if (!a || !b || a->scheme != b->scheme)
		return false;
	if (a->scheme == SIP_URI_TEL)
		return tel_equal(a, b);
	if (!unescaped_eq(a->user, b->user, false) ||
	    !unescaped_eq(a->password, b->password, false))
		return false;
	if (!hosts_equal(a, b) || a->port != b->port)
		return false;
	/* identical parameter text (the common case) needs no matching */
	if (!sip_pl_eq(a->params, b->params) && (!one_way_params_match(a->params, b->params) ||
	                                         !one_way_params_match(b->params, a->params)))
		return false;
	if (!a->headers.p || !b->headers.p)
		return !a->headers.p && !b->headers.p;
	return sip_pl_eq(a->headers, b->headers) || headers_equal(a->headers, b->headers);
}

/* ---- helpers ---- */

int sip_uri_unescape(sip_pl in, char *dst, size_t size)
{
	if (!dst || size == 0)
		return -ENOSPC;
	size_t n = 0;
	/* an unset view (an absent user part) unescapes to the empty string */
	const char *p = in.p, *end = in.p ? in.p + in.l : in.p;
	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (c == '%') {
			if (!escape_at(p, end))
				return -EINVAL;
			c = (unsigned char)(hexval((unsigned char)p[1]) << 4 |
			                    hexval((unsigned char)p[2]));
			p += 3;
		} else {
			p++;
		}
		if (n + 1 >= size)
			return -ENOSPC;
		dst[n++] = (char)c;
	}
	if (n > (size_t)INT_MAX)
		return -ENOSPC;
	dst[n] = '\0';
	return (int)n;
}

uint16_t sip_uri_default_port(const struct sip_uri *uri)
{
	if (!uri || uri->scheme == SIP_URI_TEL)
		return 0;
	if (uri->scheme == SIP_URI_SIPS || unescaped_eq(uri->transport, SIP_PL("tls"), true))
		return 5061;
	return 5060;
}
