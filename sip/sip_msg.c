/* sip_msg.c — the message parser: framing, start line, header fields, and the
 * checks that make a message answerable. */
#include "sip/sip_msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Header slots kept beyond max_headers for the fields a reply needs, so a
 * message with too many headers can still be answered 400. */
#define RESERVED_SLOTS 8

struct sip_msg {
	struct sip_limits lim;
	unsigned slots; /* max_headers + RESERVED_SLOTS */

	sip_pl raw;
	bool request;
	sip_pl method_name;
	enum sip_method method;
	sip_pl ruri;
	struct sip_uri ruri_parsed;
	int status;
	sip_pl reason;
	sip_pl body;

	struct sip_via via;
	unsigned via_count;
	struct sip_addr from, to;
	struct sip_cseq cseq;
	sip_pl call_id;
	int max_forwards;
	long content_length;

	/* index + 1 of the first and last field of each known id; 0 = none */
	uint16_t first[SIP_HDR__COUNT];
	uint16_t last[SIP_HDR__COUNT];
	unsigned nhdr;
	struct sip_hdr hdr[]; /* slots */
};

struct sip_msg *sip_msg_new(const struct sip_limits *limits)
{
	struct sip_limits lim = limits ? *limits : SIP_LIMITS_DEFAULT;
	/* header indices are 16-bit */
	if (lim.max_headers == 0 || lim.max_headers > UINT16_MAX - RESERVED_SLOTS - 1)
		return NULL;
	unsigned slots = lim.max_headers + RESERVED_SLOTS;
	struct sip_msg *m = calloc(1, sizeof(*m) + slots * sizeof(struct sip_hdr));
	if (!m)
		return NULL;
	m->lim = lim;
	m->slots = slots;
	return m;
}

void sip_msg_free(struct sip_msg *m) { free(m); }

struct sip_msg *sip_msg_compact(const struct sip_msg *m)
{
	/* The struct holds views and indices, no pointer into itself. */
	size_t size = sizeof(*m) + m->nhdr * sizeof(struct sip_hdr);
	struct sip_msg *c = malloc(size);
	if (!c)
		return NULL;
	memcpy(c, m, size);
	c->slots = m->nhdr;
	c->lim.max_headers = m->nhdr;
	return c;
}

int sip_msg_parse_kept(const char *buf, size_t len, enum sip_parse_mode mode,
                       const struct sip_limits *limits, struct sip_msg **out)
{
	*out = NULL;
	struct sip_msg *m = sip_msg_new(limits);
	if (!m)
		return -ENOMEM;
	size_t used;
	struct sip_parse_error err;
	int rc = 0;
	if (sip_msg_parse(m, buf, len, mode, &used, &err) != SIP_PARSE_OK)
		rc = -EBADMSG;
	else if (!(*out = sip_msg_compact(m)))
		rc = -ENOMEM;
	sip_msg_free(m);
	return rc;
}

static void msg_reset(struct sip_msg *m)
{
	/* Only the fixed part; header slots are overwritten as they are filled. */
	size_t keep = offsetof(struct sip_msg, raw);
	memset((char *)m + keep, 0, offsetof(struct sip_msg, hdr) - keep);
	m->max_forwards = -1;
	m->content_length = -1;
}

/* Record the first fault; later ones do not replace it. */
static void fault(struct sip_parse_error *err, int status, const char *reason)
{
	if (!err->reason) {
		err->status = status;
		err->reason = reason;
	}
}

/* Input that cannot be answered: status 0, whatever was recorded before
 * (the first reason is kept, since it is usually the better clue). */
static enum sip_parse_result drop(struct sip_parse_error *err, const char *reason)
{
	if (!err->reason)
		err->reason = reason;
	err->status = 0;
	return SIP_PARSE_ERROR;
}

static bool is_essential(enum sip_hdr_id id)
{
	return id == SIP_HDR_VIA || id == SIP_HDR_FROM || id == SIP_HDR_TO ||
	       id == SIP_HDR_CALL_ID || id == SIP_HDR_CSEQ;
}

static void add_header(struct sip_msg *m, sip_pl name, sip_pl value, enum sip_hdr_id id,
                       struct sip_parse_error *err)
{
	if (m->nhdr >= m->lim.max_headers) {
		fault(err, 400, "Too many header fields");
		/* keep the first of each field a reply copies, in the reserve */
		if (!(m->nhdr < m->slots && is_essential(id) && m->first[id] == 0))
			return;
	}
	unsigned idx = m->nhdr++;
	m->hdr[idx] = (struct sip_hdr){.name = name, .value = value, .id = id, .next_same = 0};
	if (id != SIP_HDR_OTHER) {
		if (m->last[id])
			m->hdr[m->last[id] - 1].next_same = (uint16_t)(idx + 1);
		else
			m->first[id] = (uint16_t)(idx + 1);
		m->last[id] = (uint16_t)(idx + 1);
	}
}

/* Find the end of the header field starting at p: the CRLF not followed by
 * white space. Returns a pointer to that CR, or NULL if the buffer ends first
 * (*incomplete) or a bare LF/CR is found (*bad). */
static const char *field_end(const char *p, const char *end, bool *incomplete, bool *bad)
{
	for (;;) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		if (!lf) {
			*incomplete = true;
			return NULL;
		}
		if (lf == p || lf[-1] != '\r') {
			*bad = true;
			return NULL;
		}
		if (lf + 1 >= end) {
			*incomplete = true;
			return NULL;
		}
		if (lf[1] == ' ' || lf[1] == '\t') {
			p = lf + 1; /* a fold: the field goes on */
			continue;
		}
		return lf - 1;
	}
}

/* SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT; "SIP" is case-insensitive. */
enum version_check { VERSION_OK, VERSION_OTHER, VERSION_BAD };
static enum version_check check_version(sip_pl v)
{
	if (v.l == 7 && memcmp(v.p, "SIP/2.0", 7) == 0)
		return VERSION_OK;
	if (v.l < 7 || !sip_pl_caseeq_cstr((sip_pl){v.p, 4}, "SIP/"))
		return VERSION_BAD;
	struct sip_scan s = {v.p + 4, v.p + v.l};
	uint32_t major, minor;
	if (!sip_scan_u32(&s, 999, &major) || !sip_scan_char(&s, '.') ||
	    !sip_scan_u32(&s, 999, &minor) || !sip_scan_eof(&s))
		return VERSION_BAD;
	return (major == 2 && minor == 0) ? VERSION_OK : VERSION_OTHER;
}

enum line_result { LINE_OK, LINE_BAD, LINE_DROP };

static enum line_result parse_request_line(struct sip_msg *m, sip_pl line,
                                           struct sip_parse_error *err)
{
	/* Method SP Request-URI SP SIP-Version: exactly one SP each (RFC 3261
	 * §7.1); the URI contains no white space. Once the method is known the
	 * request can be answered, so later faults are a 400, not a drop. */
	const char *p = line.p, *end = line.p + line.l;
	const char *sp1 = memchr(p, ' ', line.l);
	if (!sp1)
		return LINE_DROP;
	m->method_name = (sip_pl){p, (size_t)(sp1 - p)};
	struct sip_scan s = sip_scan_init(m->method_name);
	if (!sip_scan_token(&s, NULL) || !sip_scan_eof(&s))
		return LINE_DROP;
	m->method = sip_method_from_pl(m->method_name);

	const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (!sp2)
		return LINE_BAD;
	m->ruri = (sip_pl){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
	sip_pl version = {sp2 + 1, (size_t)(end - sp2 - 1)};
	if (m->ruri.l == 0 || memchr(m->ruri.p, '\t', m->ruri.l))
		return LINE_BAD;
	switch (check_version(version)) {
	case VERSION_OK:
		break;
	case VERSION_OTHER:
		fault(err, 505, "Version Not Supported");
		break;
	case VERSION_BAD:
		/* white space inside the URI ends up here too */
		return LINE_BAD;
	}
	int rc = sip_uri_parse(m->ruri, &m->ruri_parsed);
	if (rc == -EPROTONOSUPPORT)
		fault(err, 416, "Unsupported URI Scheme");
	else if (rc != 0)
		fault(err, 400, "Bad Request-URI");
	else if (sip_pl_isset(m->ruri_parsed.headers))
		/* headers belong in a URI to be dialled, never in one being requested */
		fault(err, 400, "Headers in Request-URI");
	return LINE_OK;
}

static enum line_result parse_status_line(struct sip_msg *m, sip_pl line)
{
	/* SIP-Version SP Status-Code SP Reason-Phrase (the phrase may be empty).
	 * A bad response is never answered: every fault is a drop. */
	if (line.l < 12 || line.p[7] != ' ' || line.p[11] != ' ')
		return LINE_DROP;
	if (check_version((sip_pl){line.p, 7}) != VERSION_OK)
		return LINE_DROP;
	int code = 0;
	for (int i = 8; i < 11; i++) {
		if (!sip_is_digit((unsigned char)line.p[i]))
			return LINE_DROP;
		code = code * 10 + (line.p[i] - '0');
	}
	if (code < 100 || code > 699)
		return LINE_DROP;
	m->status = code;
	m->reason = (sip_pl){line.p + 12, line.l - 12};
	for (size_t i = 0; i < m->reason.l; i++) {
		unsigned char c = (unsigned char)m->reason.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return LINE_DROP;
	}
	return LINE_OK;
}

/* Split one field "name HCOLON value" (HCOLON = *WSP ":" SWS). */
static bool split_field(sip_pl field, sip_pl *name, sip_pl *value)
{
	struct sip_scan s = sip_scan_init(field);
	if (!sip_scan_token(&s, name))
		return false;
	while (!sip_scan_eof(&s) && sip_is_wsp((unsigned char)*s.p))
		s.p++;
	if (!sip_scan_char(&s, ':'))
		return false;
	*value = sip_pl_trim(sip_scan_rest(&s));
	if (!value->p)
		*value = (sip_pl){s.end, 0};
	return true;
}

/* The checks every message must pass before a transaction sees it. */
static void check_headers(struct sip_msg *m, struct sip_parse_error *err)
{
	static const struct {
		enum sip_hdr_id id;
		const char *missing, *duplicate;
	} required[] = {
		{SIP_HDR_FROM, "Missing From header", "Duplicate From header"},
		{SIP_HDR_TO, "Missing To header", "Duplicate To header"},
		{SIP_HDR_CALL_ID, "Missing Call-ID header", "Duplicate Call-ID header"},
		{SIP_HDR_CSEQ, "Missing CSeq header", "Duplicate CSeq header"},
	};
	const struct sip_hdr *via = sip_msg_hdr(m, SIP_HDR_VIA);
	if (!via) {
		fault(err, 400, "Missing Via header");
		return;
	}
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		const struct sip_hdr *h = sip_msg_hdr(m, required[i].id);
		if (!h) {
			fault(err, 400, required[i].missing);
			return;
		}
		if (sip_msg_hdr_next(m, h))
			fault(err, 400, required[i].duplicate);
	}

	/* Count Via values; most fields hold one, so only a field with a comma
	 * is split (commas inside quoted parameters do not count). */
	sip_pl top = SIP_PL_NULL;
	for (const struct sip_hdr *h = via; h; h = sip_msg_hdr_next(m, h)) {
		if (!memchr(h->value.p, ',', h->value.l)) {
			if (!top.p)
				top = h->value;
			m->via_count++;
		} else {
			size_t pos = 0;
			sip_pl v;
			while (sip_list_next(h->value, &pos, &v)) {
				if (!top.p)
					top = v;
				m->via_count++;
			}
		}
		if (m->via_count > m->lim.max_via) {
			fault(err, 400, "Too many Via headers");
			break;
		}
	}
	if (!top.p || sip_via_parse(top, &m->via) != 0)
		fault(err, 400, "Bad Via header");

	if (sip_addr_parse(sip_msg_hdr(m, SIP_HDR_FROM)->value, &m->from) != 0)
		fault(err, 400, "Bad From header");
	if (sip_addr_parse(sip_msg_hdr(m, SIP_HDR_TO)->value, &m->to) != 0)
		fault(err, 400, "Bad To header");
	m->call_id = sip_msg_hdr(m, SIP_HDR_CALL_ID)->value;
	if (!sip_call_id_valid(m->call_id))
		fault(err, 400, "Bad Call-ID header");
	if (sip_cseq_parse(sip_msg_hdr(m, SIP_HDR_CSEQ)->value, &m->cseq) != 0)
		fault(err, 400, "Bad CSeq header");
	else if (m->request && !sip_pl_eq(m->cseq.method_name, m->method_name))
		fault(err, 400, "CSeq method does not match the request");

	const struct sip_hdr *mf = sip_msg_hdr(m, SIP_HDR_MAX_FORWARDS);
	if (mf) {
		uint32_t n;
		if (sip_uint_parse(mf->value, 255, &n) != 0)
			fault(err, 400, "Bad Max-Forwards header");
		else
			m->max_forwards = (int)n;
	}
}

/* Content-Length: one value, or several that agree. */
static bool read_content_length(struct sip_msg *m)
{
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_CONTENT_LENGTH);
	for (; h; h = sip_msg_hdr_next(m, h)) {
		uint32_t n;
		if (sip_uint_parse(h->value, UINT32_MAX, &n) != 0)
			return false;
		if (m->content_length >= 0 && (uint32_t)m->content_length != n)
			return false;
		m->content_length = (long)n;
	}
	return true;
}

enum sip_parse_result sip_msg_parse(struct sip_msg *m, const char *buf, size_t len,
                                    enum sip_parse_mode mode, size_t *consumed,
                                    struct sip_parse_error *err)
{
	struct sip_parse_error scratch;
	if (!err)
		err = &scratch;
	*err = (struct sip_parse_error){0, NULL};
	*consumed = 0;
	msg_reset(m);

	const char *p = buf, *end = buf + len;
	bool stream = (mode == SIP_PARSE_STREAM);

	/* CRLF keep-alives (RFC 5626 §3.5.1) come before a message, never in it. */
	if (len == 0 || (len == 1 && buf[0] == '\r')) {
		if (stream)
			return SIP_PARSE_NEED_MORE;
		return drop(err, "Empty message");
	}
	if (buf[0] == '\r') {
		if (buf[1] == '\n') {
			if (len >= 4 && buf[2] == '\r' && buf[3] == '\n') {
				*consumed = 4;
				return SIP_PARSE_KEEPALIVE;
			}
			if (stream && len < 4 && (len == 2 || buf[2] == '\r'))
				return SIP_PARSE_NEED_MORE;
			*consumed = 2;
			return SIP_PARSE_KEEPALIVE;
		}
	}
	size_t limit = m->lim.max_msg_size;
	/* Only the header section has to be scanned; a datagram larger than the
	 * limit still gets its 513 when its headers are readable. */
	const char *scan_end = end;
	if ((size_t)(end - p) > limit)
		scan_end = p + limit;

	/* start line */
	const char *lf = memchr(p, '\n', (size_t)(scan_end - p));
	if (!lf) {
		if (stream && scan_end == end)
			return SIP_PARSE_NEED_MORE;
		return drop(err, (size_t)(end - p) > limit ? "Message too large" : "No start line");
	}
	if (lf == p || lf[-1] != '\r')
		return drop(err, "Bare LF in start line");
	sip_pl line = {p, (size_t)(lf - 1 - p)};
	if (line.l > m->lim.max_line_len)
		return drop(err, "Start line too long");
	m->request = !(line.l >= 4 && memcmp(line.p, "SIP/", 4) == 0);
	enum line_result start = m->request ? parse_request_line(m, line, err) :
	                                      parse_status_line(m, line);
	if (start == LINE_BAD)
		fault(err, 400, "Bad request line");
	p = lf + 1;

	/* header fields, up to the empty line */
	const char *hdr_end = NULL;
	for (;;) {
		if (scan_end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
			hdr_end = p + 2;
			break;
		}
		if (p >= scan_end || (scan_end - p == 1 && p[0] == '\r')) {
			if (stream && scan_end == end)
				return SIP_PARSE_NEED_MORE;
			return drop(err, scan_end < end ? "Message too large" : "Header section not terminated");
		}
		bool incomplete = false, bad = false;
		const char *cr = field_end(p, scan_end, &incomplete, &bad);
		if (!cr) {
			if (incomplete && stream && scan_end == end)
				return SIP_PARSE_NEED_MORE;
			/* a bare LF or a section cut off: framing is lost */
			return drop(err, bad ? "Bare LF in header" :
			              (scan_end < end ? "Message too large" : "Header section not terminated"));
		}
		sip_pl field = {p, (size_t)(cr - p)};
		p = cr + 2;
		if (field.l > m->lim.max_line_len) {
			fault(err, 400, "Header field too long");
			continue;
		}
		sip_pl name, value;
		if (!split_field(field, &name, &value)) {
			fault(err, 400, "Malformed header field");
			continue;
		}
		add_header(m, name, value, sip_hdr_id_from_name(name), err);
	}
	size_t hdr_len = (size_t)(hdr_end - buf);

	if (start == LINE_DROP) {
		/* Without a method there is nothing to answer; a bad status line is
		 * a response nobody can match. */
		err->status = 0;
		err->reason = m->request ? "Bad request line" : "Bad status line";
		return SIP_PARSE_ERROR;
	}

	/* body framing */
	bool cl_ok = read_content_length(m);
	size_t body_len;
	if (!cl_ok) {
		fault(err, 400, "Bad Content-Length header");
		body_len = stream ? 0 : len - hdr_len;
	} else if (m->content_length < 0) {
		if (stream)
			fault(err, 400, "Missing Content-Length header");
		body_len = stream ? 0 : len - hdr_len;
	} else {
		body_len = (size_t)m->content_length;
	}
	/* A stream buffer may hold many messages after this one: only the
	 * message itself counts against the limit there. */
	if (hdr_len + body_len > limit || (!stream && len > limit)) {
		fault(err, 513, "Message Too Large");
		body_len = 0;
	} else if (hdr_len + body_len > len) {
		if (stream && cl_ok) {
			return SIP_PARSE_NEED_MORE;
		}
		fault(err, 400, "Content-Length exceeds the datagram");
		body_len = len - hdr_len;
	}
	m->body = (sip_pl){buf + hdr_len, body_len};
	size_t msg_len = stream ? hdr_len + body_len : len;
	m->raw = (sip_pl){buf, msg_len};
	*consumed = msg_len;

	check_headers(m, err);

	if (!err->reason)
		return SIP_PARSE_OK;
	/* A response is never answered; a request only when the fields a reply
	 * copies are there. */
	if (!m->request || !sip_msg_hdr(m, SIP_HDR_VIA) || !sip_msg_hdr(m, SIP_HDR_FROM) ||
	    !sip_msg_hdr(m, SIP_HDR_TO) || !sip_msg_hdr(m, SIP_HDR_CALL_ID) ||
	    !sip_msg_hdr(m, SIP_HDR_CSEQ) || m->method == SIP_METHOD_ACK)
		err->status = 0;
	return SIP_PARSE_ERROR;
}

bool sip_msg_is_request(const struct sip_msg *m) { return m->request; }
enum sip_method sip_msg_method(const struct sip_msg *m) { return m->method; }
sip_pl sip_msg_method_name(const struct sip_msg *m) { return m->method_name; }
sip_pl sip_msg_ruri(const struct sip_msg *m) { return m->ruri; }
const struct sip_uri *sip_msg_ruri_parsed(const struct sip_msg *m) { return &m->ruri_parsed; }
int sip_msg_status(const struct sip_msg *m) { return m->status; }
sip_pl sip_msg_reason(const struct sip_msg *m) { return m->reason; }
sip_pl sip_msg_raw(const struct sip_msg *m) { return m->raw; }
sip_pl sip_msg_body(const struct sip_msg *m) { return m->body; }
unsigned sip_msg_hdr_count(const struct sip_msg *m) { return m->nhdr; }

const struct sip_hdr *sip_msg_hdr_at(const struct sip_msg *m, unsigned index)
{
	return index < m->nhdr ? &m->hdr[index] : NULL;
}

const struct sip_hdr *sip_msg_hdr(const struct sip_msg *m, enum sip_hdr_id id)
{
	if (id <= SIP_HDR_OTHER || id >= SIP_HDR__COUNT || !m->first[id])
		return NULL;
	return &m->hdr[m->first[id] - 1];
}

const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *h)
{
	if (h->id != SIP_HDR_OTHER)
		return h->next_same ? &m->hdr[h->next_same - 1] : NULL;
	for (const struct sip_hdr *n = h + 1; n < m->hdr + m->nhdr; n++)
		if (n->id == SIP_HDR_OTHER && sip_pl_caseeq(n->name, h->name))
			return n;
	return NULL;
}

const struct sip_hdr *sip_msg_hdr_by_name(const struct sip_msg *m, sip_pl name)
{
	enum sip_hdr_id id = sip_hdr_id_from_name(name);
	if (id != SIP_HDR_OTHER)
		return sip_msg_hdr(m, id);
	for (unsigned i = 0; i < m->nhdr; i++)
		if (m->hdr[i].id == SIP_HDR_OTHER && sip_pl_caseeq(m->hdr[i].name, name))
			return &m->hdr[i];
	return NULL;
}

bool sip_msg_value_next(const struct sip_msg *m, enum sip_hdr_id id, struct sip_value_iter *it,
                        sip_pl *value)
{
	if (!it->h) {
		it->h = sip_msg_hdr(m, id);
		it->pos = 0;
	}
	while (it->h) {
		if (!sip_hdr_is_list(id)) {
			if (it->pos == 0) {
				it->pos = 1;
				*value = it->h->value;
				return true;
			}
		} else if (sip_list_next(it->h->value, &it->pos, value)) {
			return true;
		}
		it->h = sip_msg_hdr_next(m, it->h);
		it->pos = 0;
	}
	return false;
}

bool sip_msg_has_option(const struct sip_msg *m, enum sip_hdr_id id, const char *tag)
{
	struct sip_value_iter it = {0};
	sip_pl v;
	while (sip_msg_value_next(m, id, &it, &v))
		if (sip_pl_caseeq_cstr(v, tag))
			return true;
	return false;
}

const struct sip_via *sip_msg_via(const struct sip_msg *m) { return &m->via; }
unsigned sip_msg_via_count(const struct sip_msg *m) { return m->via_count; }
const struct sip_addr *sip_msg_from(const struct sip_msg *m) { return &m->from; }
const struct sip_addr *sip_msg_to(const struct sip_msg *m) { return &m->to; }
sip_pl sip_msg_call_id(const struct sip_msg *m) { return m->call_id; }
const struct sip_cseq *sip_msg_cseq(const struct sip_msg *m) { return &m->cseq; }
int sip_msg_max_forwards(const struct sip_msg *m) { return m->max_forwards; }
long sip_msg_content_length(const struct sip_msg *m) { return m->content_length; }
