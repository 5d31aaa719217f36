/* sip_hdr.c — typed parsers of header values: Via, name-addr/addr-spec,
 * Contact, CSeq, RAck, plain numbers, Content-Type, Event,
 * Subscription-State, Replaces, Session-Expires and Reason.
 *
 * Each parser reads one value (one list element for list headers) through the
 * shared scanner and fills views into the caller's bytes. The output struct is
 * cleared first, so a failed parse never leaves half-filled views behind that
 * a careless caller could mistake for a result. */
#include "sip/sip_hdr.h"

#include <errno.h>
#include <string.h>

/* ---- shared helpers ---- */

/* Trim the value and start a scanner on it; an unset or blank value is never
 * a valid header value for any of the parsers here. */
static int scan_begin(sip_pl value, struct sip_scan *s)
{
	if (!value.p)
		return -EINVAL;
	value = sip_pl_trim(value);
	if (value.l == 0)
		return -EINVAL;
	*s = sip_scan_init(value);
	return 0;
}

/* The rest of a value after its main part: nothing, or a well-formed
 * ";name[=value]" list. LWS before the first ';' is allowed (SEMI is
 * SWS ";" SWS). The parameters named in pick[0..n) are picked out in the same
 * pass (see sip_params_pick), so the hot parsers read their list once. */
static int scan_params_pick(struct sip_scan *s, sip_pl *params, const sip_pl *pick, size_t n,
                            bool *found, sip_pl *values)
{
	*params = SIP_PL_NULL;
	for (size_t i = 0; i < n; i++)
		found[i] = false;
	sip_scan_lws(s);
	if (sip_scan_eof(s))
		return 0;
	if (sip_scan_peek(s) != ';')
		return -EINVAL;
	sip_pl rest = sip_scan_rest(s);
	if (!sip_params_pick(rest, pick, n, found, values))
		return -EINVAL;
	*params = rest;
	s->p = s->end;
	return 0;
}

static int scan_params(struct sip_scan *s, sip_pl *params)
{
	return scan_params_pick(s, params, NULL, 0, NULL, NULL);
}

/* A parameter whose value must be a token ("tag", "branch", "reason"...).
 * Absent: true with *out unset. Present as a flag or with another kind of
 * value: false. */
static bool token_value(bool found, sip_pl v, sip_pl *out)
{
	*out = SIP_PL_NULL;
	if (!found)
		return true;
	if (!v.p || !sip_pl_is_token(v))
		return false;
	*out = v;
	return true;
}

static bool param_token(sip_pl params, const char *name, sip_pl *out)
{
	sip_pl v = SIP_PL_NULL;
	bool found = sip_param_get(params, name, &v);
	return token_value(found, v, out);
}

/* delta-seconds = 1*DIGIT. RFC 3261 asks receivers to read a value above
 * 2^32-1 as 2^32-1 rather than rejecting the message, so it clamps. */
static int delta_seconds(sip_pl v, uint32_t *out)
{
	if (!v.p || v.l == 0)
		return -EINVAL;
	uint64_t n = 0;
	for (size_t i = 0; i < v.l; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if (!sip_is_digit(c))
			return -EINVAL;
		if (n <= UINT32_MAX)
			n = n * 10 + (c - '0');
	}
	*out = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	return 0;
}

/* A numeric parameter. Absent: 0 with *has false. A flag or a non-number:
 * -EINVAL. */
static int param_delta(sip_pl params, const char *name, bool *has, uint32_t *out)
{
	sip_pl v;
	*has = false;
	if (!sip_param_get(params, name, &v))
		return 0;
	if (delta_seconds(v, out) != 0)
		return -EINVAL;
	*has = true;
	return 0;
}

/* ---- hosts: hostname / IPv4address / IPv6reference (RFC 3261 §25.1) ---- */

static bool is_alnum(unsigned char c)
{
	return sip_is_alpha(c) || sip_is_digit(c);
}

/* Scan a host at the cursor: an IPv6 reference up to its ']', otherwise the
 * run of name characters (so an unbracketed IPv6 address stops at its first
 * ':' and fails as a port later). */
static bool scan_host(struct sip_scan *s, sip_pl *host, enum sip_uri_host_type *type)
{
	const char *q = s->p;
	if (q < s->end && *q == '[') {
		while (q < s->end && *q != ']')
			q++;
		if (q >= s->end)
			return false;
		q++;
	} else {
		while (q < s->end && (is_alnum((unsigned char)*q) || *q == '-' || *q == '.'))
			q++;
	}
	sip_pl v = {s->p, (size_t)(q - s->p)};
	enum sip_uri_host_type t = sip_uri_host_type_of(v);
	if (t == SIP_URI_HOST_NONE)
		return false;
	*host = v;
	*type = t;
	s->p = q;
	return true;
}

/* ---- Via ---- */

/* via-received = "received" EQUAL (IPv4address / IPv6address); RFC 5118 §4.5
 * accepts the IPv6 address with or without brackets. */
static bool received_valid(sip_pl v)
{
	if (v.l >= 2 && v.p[0] == '[')
		return sip_uri_host_type_of(v) == SIP_URI_HOST_IPV6;
	return sip_ip_addr_valid(v);
}

enum { VIA_BRANCH, VIA_RECEIVED, VIA_MADDR, VIA_TTL, VIA_RPORT, VIA_NPARAMS };
static const sip_pl via_param_names[VIA_NPARAMS] = {
	[VIA_BRANCH] = SIP_PL("branch"), [VIA_RECEIVED] = SIP_PL("received"),
	[VIA_MADDR] = SIP_PL("maddr"),   [VIA_TTL] = SIP_PL("ttl"),
	[VIA_RPORT] = SIP_PL("rport"),
};

static int via_params(struct sip_via *via, const bool *found, const sip_pl *val)
{
	if (!token_value(found[VIA_BRANCH], val[VIA_BRANCH], &via->branch))
		return -EINVAL;
	if (found[VIA_RECEIVED]) {
		if (!val[VIA_RECEIVED].p || !received_valid(val[VIA_RECEIVED]))
			return -EINVAL;
		via->received = val[VIA_RECEIVED];
	}
	if (found[VIA_MADDR]) {
		if (!val[VIA_MADDR].p || sip_uri_host_type_of(val[VIA_MADDR]) == SIP_URI_HOST_NONE)
			return -EINVAL;
		via->maddr = val[VIA_MADDR];
	}
	if (found[VIA_TTL]) {
		uint32_t ttl;
		sip_pl v = val[VIA_TTL];
		if (!v.p || v.l > 3 || sip_pl_u32(v, 255, &ttl) != 0)
			return -EINVAL;
		via->ttl = v;
	}
	if (found[VIA_RPORT]) {
		via->rport = true;
		if (val[VIA_RPORT].p) {
			uint32_t port;
			if (sip_pl_u32(val[VIA_RPORT], 65535, &port) != 0 || port == 0)
				return -EINVAL;
			via->rport_value = (uint16_t)port;
		}
	}
	return 0;
}

static int via_parse(sip_pl value, struct sip_via *via)
{
	struct sip_scan s;
	sip_pl name, version;
	if (scan_begin(value, &s) != 0)
		return -EINVAL;

	/* sent-protocol = protocol-name SLASH protocol-version SLASH transport */
	if (!sip_scan_token(&s, &name) || !sip_scan_sep(&s, '/') || !sip_scan_token(&s, &version) ||
	    !sip_scan_sep(&s, '/') || !sip_scan_token(&s, &via->transport))
		return -EINVAL;
	if (!sip_pl_caseeq_cstr(name, "SIP") || !sip_pl_eq_cstr(version, "2.0"))
		return -EINVAL;
	via->protocol = (sip_pl){name.p, (size_t)(version.p + version.l - name.p)};

	/* LWS sent-by, sent-by = host [ COLON port ] */
	if (!sip_scan_lws(&s) || !scan_host(&s, &via->host, &via->host_type))
		return -EINVAL;
	if (sip_scan_sep(&s, ':')) {
		uint32_t port;
		if (!sip_scan_u32(&s, 65535, &port) || port == 0)
			return -EINVAL;
		via->port = (uint16_t)port;
	}

	bool found[VIA_NPARAMS];
	sip_pl val[VIA_NPARAMS];
	if (scan_params_pick(&s, &via->params, via_param_names, VIA_NPARAMS, found, val) != 0)
		return -EINVAL;
	return via_params(via, found, val);
}

int sip_via_parse(sip_pl value, struct sip_via *via)
{
	memset(via, 0, sizeof(*via));
	int rc = via_parse(value, via);
	if (rc != 0)
		memset(via, 0, sizeof(*via));
	return rc;
}

/* ---- name-addr / addr-spec ---- */

/* Characters that can never be part of a URI in a header: they mean the
 * value was something else (a display name without <>, junk after a URI). */
static bool uri_text_plausible(sip_pl v)
{
	if (v.l == 0)
		return false;
	for (size_t i = 0; i < v.l; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '"')
			return false;
	}
	return true;
}

static int addr_uri(struct sip_addr *addr)
{
	if (!uri_text_plausible(addr->uri_text))
		return -EINVAL;
	int rc = sip_uri_parse(addr->uri_text, &addr->uri);
	if (rc == -EPROTONOSUPPORT) {
		/* a well-formed URI of another scheme: From/To may carry any
		 * absoluteURI, so keep the text and leave the parsed form empty */
		memset(&addr->uri, 0, sizeof(addr->uri));
		return 0;
	}
	return rc == 0 ? 0 : -EINVAL;
}

/* display-name = *(token LWS) / quoted-string, always followed by LAQUOT.
 * Returns whether the value is a name-addr; on true the scanner stands just
 * after the '<'. On false nothing is consumed and the value may still be an
 * addr-spec — unless *bad says a display name was seen without its <>. */
static bool scan_name_addr_start(struct sip_scan *s, struct sip_addr *addr, bool *bad)
{
	const char *save = s->p;
	*bad = false;
	if (sip_scan_peek(s) == '"') {
		if (!sip_scan_quoted(s, &addr->display)) {
			*bad = true;
			return false;
		}
		addr->display_quoted = true;
		sip_scan_lws(s);
		if (!sip_scan_char(s, '<')) {
			*bad = true;
			return false;
		}
		return true;
	}
	const char *last_end = NULL;
	while (sip_scan_token(s, NULL)) {
		last_end = s->p;
		sip_scan_lws(s);
	}
	if (sip_scan_char(s, '<')) {
		if (last_end)
			addr->display = (sip_pl){save, (size_t)(last_end - save)};
		return true;
	}
	s->p = save;
	return false;
}

static int addr_parse(sip_pl value, struct sip_addr *addr)
{
	struct sip_scan s;
	bool bad;
	if (scan_begin(value, &s) != 0)
		return -EINVAL;

	if (scan_name_addr_start(&s, addr, &bad)) {
		/* the URI is everything up to '>' (it may hold ; ? and ,) */
		const char *q = s.p;
		while (q < s.end && *q != '>')
			q++;
		if (q >= s.end)
			return -EINVAL;
		addr->uri_text = (sip_pl){s.p, (size_t)(q - s.p)};
		s.p = q + 1;
	} else {
		if (bad)
			return -EINVAL;
		/* addr-spec: its own ';' parameters would be ambiguous, so the
		 * URI ends at the first ';' and what follows belongs to the
		 * header (RFC 3261 §20.10); for the same reason it may not
		 * carry headers or commas */
		const char *q = s.p;
		while (q < s.end && *q != ';')
			q++;
		addr->uri_text = sip_pl_trim((sip_pl){s.p, (size_t)(q - s.p)});
		for (size_t i = 0; i < addr->uri_text.l; i++)
			if (addr->uri_text.p[i] == '?' || addr->uri_text.p[i] == ',')
				return -EINVAL;
		s.p = q;
	}
	if (addr_uri(addr) != 0)
		return -EINVAL;
	static const sip_pl tag_name = SIP_PL("tag");
	bool has_tag;
	sip_pl tag;
	if (scan_params_pick(&s, &addr->params, &tag_name, 1, &has_tag, &tag) != 0)
		return -EINVAL;
	if (!token_value(has_tag, tag, &addr->tag))
		return -EINVAL;
	return 0;
}

int sip_addr_parse(sip_pl value, struct sip_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	int rc = addr_parse(value, addr);
	if (rc != 0)
		memset(addr, 0, sizeof(*addr));
	return rc;
}

/* ---- Contact ---- */

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths. */
static int qvalue(sip_pl v, uint16_t *out)
{
	if (!v.p || v.l == 0 || (v.p[0] != '0' && v.p[0] != '1'))
		return -EINVAL;
	unsigned q = (unsigned)(v.p[0] - '0') * 1000;
	if (v.l > 1) {
		if (v.p[1] != '.' || v.l > 5)
			return -EINVAL;
		unsigned scale = 100;
		for (size_t i = 2; i < v.l; i++, scale /= 10) {
			if (!sip_is_digit((unsigned char)v.p[i]))
				return -EINVAL;
			q += (unsigned)(v.p[i] - '0') * scale;
		}
	}
	if (q > 1000)
		return -EINVAL;
	*out = (uint16_t)q;
	return 0;
}

int sip_contact_parse(sip_pl value, struct sip_contact *contact)
{
	memset(contact, 0, sizeof(*contact));
	sip_pl t = sip_pl_trim(value);
	if (t.p && t.l == 1 && t.p[0] == '*') {
		contact->star = true;
		return 0;
	}
	if (sip_addr_parse(value, &contact->addr) != 0)
		goto bad;

	sip_pl params = contact->addr.params, v;
	if (param_delta(params, "expires", &contact->has_expires, &contact->expires) != 0)
		goto bad;
	if (sip_param_get(params, "q", &v)) {
		if (qvalue(v, &contact->q) != 0)
			goto bad;
		contact->has_q = true;
	}
	if (sip_param_get(params, "+sip.instance", &v)) {
		if (!v.p)
			goto bad;
		/* usually "<urn:uuid:...>": keep what is between the quotes */
		if (v.l >= 2 && v.p[0] == '"')
			v = (sip_pl){v.p + 1, v.l - 2};
		contact->instance = v;
	}
	if (sip_param_get(params, "reg-id", &v)) {
		if (!v.p || sip_pl_u32(v, UINT32_MAX, &contact->reg_id) != 0)
			goto bad;
		contact->has_reg_id = true;
	}
	return 0;
bad:
	memset(contact, 0, sizeof(*contact));
	return -EINVAL;
}

/* ---- CSeq, RAck, numbers ---- */

/* Method = INVITEm / ACKm / ... / extension-method, all tokens. */
static bool scan_method(struct sip_scan *s, sip_pl *name, enum sip_method *m)
{
	if (!sip_scan_token(s, name))
		return false;
	*m = sip_method_from_pl(*name);
	return true;
}

#define CSEQ_MAX 0x7fffffffu /* CSeq numbers stay below 2^31 (RFC 3261 §8.1.1.5) */

int sip_cseq_parse(sip_pl value, struct sip_cseq *cseq)
{
	struct sip_scan s;
	memset(cseq, 0, sizeof(*cseq));
	if (scan_begin(value, &s) != 0)
		return -EINVAL;
	if (!sip_scan_u32(&s, CSEQ_MAX, &cseq->seq) || !sip_scan_lws(&s) ||
	    !scan_method(&s, &cseq->method_name, &cseq->method) || !sip_scan_eof(&s)) {
		memset(cseq, 0, sizeof(*cseq));
		return -EINVAL;
	}
	return 0;
}

int sip_rack_parse(sip_pl value, struct sip_rack *rack)
{
	struct sip_scan s;
	memset(rack, 0, sizeof(*rack));
	if (scan_begin(value, &s) != 0)
		return -EINVAL;
	/* RAck = response-num LWS CSeq-num LWS Method (RFC 3262 §7.2) */
	if (!sip_scan_u32(&s, UINT32_MAX, &rack->rseq) || !sip_scan_lws(&s) ||
	    !sip_scan_u32(&s, CSEQ_MAX, &rack->cseq) || !sip_scan_lws(&s) ||
	    !scan_method(&s, &rack->method_name, &rack->method) || !sip_scan_eof(&s)) {
		memset(rack, 0, sizeof(*rack));
		return -EINVAL;
	}
	return 0;
}

int sip_uint_parse(sip_pl value, uint32_t max, uint32_t *out)
{
	if (!value.p)
		return -EINVAL;
	uint32_t v;
	if (sip_pl_u32(sip_pl_trim(value), max, &v) != 0)
		return -EINVAL;
	*out = v;
	return 0;
}

/* ---- Content-Type ---- */

int sip_ctype_parse(sip_pl value, struct sip_ctype *ct)
{
	struct sip_scan s;
	memset(ct, 0, sizeof(*ct));
	if (scan_begin(value, &s) != 0)
		return -EINVAL;
	if (!sip_scan_token(&s, &ct->type) || !sip_scan_sep(&s, '/') ||
	    !sip_scan_token(&s, &ct->subtype) || scan_params(&s, &ct->params) != 0) {
		memset(ct, 0, sizeof(*ct));
		return -EINVAL;
	}
	return 0;
}

/* ---- Event ---- */

int sip_event_parse(sip_pl value, struct sip_event *ev)
{
	struct sip_scan s;
	memset(ev, 0, sizeof(*ev));
	if (scan_begin(value, &s) != 0)
		return -EINVAL;
	/* event-type = event-package *( "." event-template ): the dots are
	 * token characters, so one token covers it */
	if (!sip_scan_token(&s, &ev->package) || scan_params(&s, &ev->params) != 0 ||
	    !param_token(ev->params, "id", &ev->id)) {
		memset(ev, 0, sizeof(*ev));
		return -EINVAL;
	}
	return 0;
}

/* ---- Subscription-State ---- */

int sip_substate_parse(sip_pl value, struct sip_substate *ss)
{
	struct sip_scan s;
	memset(ss, 0, sizeof(*ss));
	if (scan_begin(value, &s) != 0)
		return -EINVAL;
	if (!sip_scan_token(&s, &ss->state) || scan_params(&s, &ss->params) != 0 ||
	    !param_token(ss->params, "reason", &ss->reason) ||
	    param_delta(ss->params, "expires", &ss->has_expires, &ss->expires) != 0 ||
	    param_delta(ss->params, "retry-after", &ss->has_retry_after, &ss->retry_after) != 0) {
		memset(ss, 0, sizeof(*ss));
		return -EINVAL;
	}
	return 0;
}

/* ---- Replaces ---- */

/* word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" /
 *        "~" / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" /
 *        "]" / "?" / "{" / "}") */
static bool is_word_char(unsigned char c)
{
	static const char extra[] = "()<>:\\\"/[]?{}";
	return sip_is_token_char(c) || memchr(extra, c, sizeof(extra) - 1) != NULL;
}

static bool scan_word(struct sip_scan *s)
{
	const char *start = s->p;
	while (s->p < s->end && is_word_char((unsigned char)*s->p))
		s->p++;
	return s->p > start;
}

/* callid = word [ "@" word ]; consumes it and returns its view. */
static bool scan_call_id(struct sip_scan *s, sip_pl *out)
{
	const char *start = s->p;
	if (!scan_word(s))
		return false;
	if (sip_scan_char(s, '@') && !scan_word(s))
		return false;
	*out = (sip_pl){start, (size_t)(s->p - start)};
	return true;
}

bool sip_call_id_valid(sip_pl value)
{
	struct sip_scan s = sip_scan_init(value);
	sip_pl id;
	return value.p && scan_call_id(&s, &id) && sip_scan_eof(&s);
}

int sip_replaces_parse(sip_pl value, struct sip_replaces *rp)
{
	struct sip_scan s;
	memset(rp, 0, sizeof(*rp));
	if (scan_begin(value, &s) != 0)
		return -EINVAL;
	if (!scan_call_id(&s, &rp->call_id))
		goto bad;
	if (scan_params(&s, &rp->params) != 0)
		goto bad;
	if (!param_token(rp->params, "to-tag", &rp->to_tag) ||
	    !param_token(rp->params, "from-tag", &rp->from_tag))
		goto bad;
	/* both tags identify the dialog: without either there is nothing to
	 * match (RFC 3891 §6.1) */
	if (!rp->to_tag.p || !rp->from_tag.p)
		goto bad;
	sip_pl flag;
	if (sip_param_get(rp->params, "early-only", &flag)) {
		if (flag.p)
			goto bad;
		rp->early_only = true;
	}
	return 0;
bad:
	memset(rp, 0, sizeof(*rp));
	return -EINVAL;
}

/* ---- Session-Expires / Min-SE ---- */

int sip_session_expires_parse(sip_pl value, struct sip_session_expires *se)
{
	struct sip_scan s;
	memset(se, 0, sizeof(*se));
	if (scan_begin(value, &s) != 0)
		return -EINVAL;
	const char *start = s.p;
	while (s.p < s.end && sip_is_digit((unsigned char)*s.p))
		s.p++;
	if (delta_seconds((sip_pl){start, (size_t)(s.p - start)}, &se->delta) != 0 ||
	    scan_params(&s, &se->params) != 0)
		goto bad;
	sip_pl v;
	if (sip_param_get(se->params, "refresher", &v)) {
		if (!v.p || !(sip_pl_caseeq_cstr(v, "uac") || sip_pl_caseeq_cstr(v, "uas")))
			goto bad;
		se->refresher = v;
	}
	return 0;
bad:
	memset(se, 0, sizeof(*se));
	return -EINVAL;
}

/* ---- Reason ---- */

int sip_reason_parse(sip_pl value, struct sip_reason *r)
{
	struct sip_scan s;
	memset(r, 0, sizeof(*r));
	if (scan_begin(value, &s) != 0)
		return -EINVAL;
	if (!sip_scan_token(&s, &r->protocol) || scan_params(&s, &r->params) != 0)
		goto bad;
	sip_pl v;
	if (sip_param_get(r->params, "cause", &v)) {
		if (!v.p || sip_pl_u32(v, UINT32_MAX, &r->cause) != 0)
			goto bad;
		r->has_cause = true;
	}
	if (sip_param_get(r->params, "text", &v)) {
		/* reason-text = "text" EQUAL quoted-string */
		if (!v.p || v.l < 2 || v.p[0] != '"')
			goto bad;
		r->text = (sip_pl){v.p + 1, v.l - 2};
	}
	return 0;
bad:
	memset(r, 0, sizeof(*r));
	return -EINVAL;
}
