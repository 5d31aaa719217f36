/* sdp.c — the SDP model, parser and serializer; see sdp.h. */
#include "webrtc/sdp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the arena: every string of one description, freed together ---- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct sdp_arena {
	struct arena_chunk *head;
	size_t next_cap; /* the size of the next chunk; 0 for ARENA_CHUNK */
};

/* After the parse, edits add a few strings at a time. */
#define ARENA_CHUNK 1024u

static void *arena_alloc(struct sdp_arena *a, size_t n)
{
	const size_t align = _Alignof(max_align_t);
	n = (n + align - 1) / align * align;
	struct arena_chunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t want = a->next_cap ? a->next_cap : ARENA_CHUNK;
		size_t cap = n > want ? n : want;
		a->next_cap = 0;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	void *p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

static char *arena_strndup(struct sdp_arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void arena_free(struct sdp_arena *a)
{
	if (!a)
		return;
	struct arena_chunk *c = a->head;
	while (c) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	free(a);
}

/* Grow *arr (n elements of size each, room for *cap) so one more fits. */
static int grow(void **arr, unsigned n, unsigned *cap, size_t size, unsigned max)
{
	if (n >= max)
		return -E2BIG;
	if (n < *cap)
		return 0;
	unsigned ncap = *cap ? *cap * 2 : 4;
	if (ncap > max)
		ncap = max;
	void *p = realloc(*arr, (size_t)ncap * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* For the short lists (b=, t=, r=, i= ...): grown one element at a time. */
static int grow_exact(void **arr, unsigned n, size_t size, unsigned max)
{
	unsigned cap = n;
	return grow(arr, n, &cap, size, max);
}

/* ---- text helpers ---- */

/* A piece of the input: p with l bytes, not NUL-terminated. */
struct span {
	const char *p;
	size_t l;
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* Next whitespace-separated token of *c; false when none is left. */
static bool next_tok(struct span *c, struct span *tok)
{
	while (c->l && is_ws(*c->p)) {
		c->p++;
		c->l--;
	}
	if (!c->l)
		return false;
	tok->p = c->p;
	while (c->l && !is_ws(*c->p)) {
		c->p++;
		c->l--;
	}
	tok->l = (size_t)(c->p - tok->p);
	return true;
}

/* How many tokens are left in c (c itself is not advanced). */
static unsigned count_toks(struct span c)
{
	struct span tok;
	unsigned n = 0;
	while (next_tok(&c, &tok))
		n++;
	return n;
}

static void skip_ws(struct span *c)
{
	while (c->l && is_ws(*c->p)) {
		c->p++;
		c->l--;
	}
}

static bool span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.l == n && strncasecmp(s.p, lit, n) == 0;
}

static bool parse_u64(struct span s, uint64_t max, uint64_t *out)
{
	if (s.l == 0 || s.l > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < s.l; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		unsigned d = (unsigned)(s.p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_uint(struct span s, uint64_t max, uint32_t *out)
{
	uint64_t v;
	if (!parse_u64(s, max, &v))
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Split at the first occurrence of ch: *head before it, *tail after it.
 * Returns false (and *head = s) when ch is absent. */
static bool split_at(struct span s, char ch, struct span *head, struct span *tail)
{
	const char *x = memchr(s.p, ch, s.l);
	if (!x) {
		*head = s;
		tail->p = s.p + s.l;
		tail->l = 0;
		return false;
	}
	head->p = s.p;
	head->l = (size_t)(x - s.p);
	tail->p = x + 1;
	tail->l = s.l - head->l - 1;
	return true;
}

static const char *dup_span(struct sdp_arena *a, struct span s)
{
	return arena_strndup(a, s.p, s.l);
}

/* ---- attributes ---- */

static const struct {
	const char *name;
	enum sdp_attr_kind kind;
} attr_kinds[] = {
    {"group", SDP_ATTR_GROUP},
    {"ice-lite", SDP_ATTR_ICE_LITE},
    {"ice-ufrag", SDP_ATTR_ICE_UFRAG},
    {"ice-pwd", SDP_ATTR_ICE_PWD},
    {"ice-options", SDP_ATTR_ICE_OPTIONS},
    {"fingerprint", SDP_ATTR_FINGERPRINT},
    {"setup", SDP_ATTR_SETUP},
    {"msid-semantic", SDP_ATTR_MSID_SEMANTIC},
    {"extmap-allow-mixed", SDP_ATTR_EXTMAP_ALLOW_MIXED},
    {"rtpmap", SDP_ATTR_RTPMAP},
    {"fmtp", SDP_ATTR_FMTP},
    {"rtcp-fb", SDP_ATTR_RTCP_FB},
    {"rtcp", SDP_ATTR_RTCP},
    {"rtcp-mux", SDP_ATTR_RTCP_MUX},
    {"rtcp-rsize", SDP_ATTR_RTCP_RSIZE},
    {"mid", SDP_ATTR_MID},
    {"sendrecv", SDP_ATTR_DIRECTION},
    {"sendonly", SDP_ATTR_DIRECTION},
    {"recvonly", SDP_ATTR_DIRECTION},
    {"inactive", SDP_ATTR_DIRECTION},
    {"candidate", SDP_ATTR_CANDIDATE},
    {"end-of-candidates", SDP_ATTR_END_OF_CANDIDATES},
    {"ssrc", SDP_ATTR_SSRC},
    {"ssrc-group", SDP_ATTR_SSRC_GROUP},
    {"msid", SDP_ATTR_MSID},
    {"extmap", SDP_ATTR_EXTMAP},
    {"ptime", SDP_ATTR_PTIME},
    {"maxptime", SDP_ATTR_MAXPTIME},
};

static const char *const direction_names[] = {
    [SDP_DIR_NONE] = "",
    [SDP_DIR_SENDRECV] = "sendrecv",
    [SDP_DIR_SENDONLY] = "sendonly",
    [SDP_DIR_RECVONLY] = "recvonly",
    [SDP_DIR_INACTIVE] = "inactive",
};

const char *sdp_direction_name(enum sdp_direction dir)
{
	if ((unsigned)dir > SDP_DIR_INACTIVE)
		return "";
	return direction_names[dir];
}

static enum sdp_direction direction_from(struct span s)
{
	for (unsigned d = SDP_DIR_SENDRECV; d <= SDP_DIR_INACTIVE; d++)
		if (span_eq(s, direction_names[d]))
			return (enum sdp_direction)d;
	return SDP_DIR_NONE;
}

/* A set of the payload types on the m= line, so that checking each rtpmap
 * costs one look-up instead of a walk over up to 128 formats. */
static void index_formats(struct sdp_media *m)
{
	memset(m->listed_pts, 0, sizeof(m->listed_pts));
	for (unsigned i = 0; i < m->n_formats; i++) {
		uint32_t v;
		if (parse_uint((struct span){m->formats[i], strlen(m->formats[i])}, 127, &v))
			m->listed_pts[v / 32] |= 1u << (v % 32);
	}
}

static bool media_lists_pt(const struct sdp_media *m, unsigned pt)
{
	return m && pt < 128 && (m->listed_pts[pt / 32] >> (pt % 32) & 1u);
}

/* The rest of the value after skipping whitespace, as a string ("" when
 * empty). */
static const char *dup_rest(struct sdp_arena *a, struct span c)
{
	skip_ws(&c);
	return dup_span(a, c);
}

static int parse_candidate(struct sdp_arena *a, struct span c, struct sdp_candidate *cand)
{
	struct span t[8];
	for (unsigned i = 0; i < 8; i++)
		if (!next_tok(&c, &t[i]))
			return -EINVAL;
	uint32_t v;
	if (!parse_uint(t[1], 256, &v) || v == 0)
		return -EINVAL;
	cand->component = (uint16_t)v;
	if (!parse_uint(t[3], UINT32_MAX, &cand->priority))
		return -EINVAL;
	if (!parse_uint(t[5], 65535, &v))
		return -EINVAL;
	cand->port = (uint16_t)v;
	if (!span_eq(t[6], "typ"))
		return -EINVAL;
	cand->foundation = dup_span(a, t[0]);
	cand->transport = dup_span(a, t[2]);
	cand->address = dup_span(a, t[4]);
	cand->type = dup_span(a, t[7]);
	cand->raddr = NULL;
	cand->rport = -1;
	cand->tcptype = NULL;
	cand->generation = -1;
	/* the rest is "name value" pairs; the four known ones are taken out, the
	 * others kept in order as text */
	char *ext = arena_alloc(a, c.l + 1);
	if (!ext || !cand->foundation || !cand->transport || !cand->address || !cand->type)
		return -ENOMEM;
	size_t ext_len = 0;
	struct span key, val;
	while (next_tok(&c, &key)) {
		bool has_val = next_tok(&c, &val);
		if (has_val && span_eq(key, "raddr")) {
			cand->raddr = dup_span(a, val);
			if (!cand->raddr)
				return -ENOMEM;
		} else if (has_val && span_eq(key, "rport")) {
			if (!parse_uint(val, 65535, &v))
				return -EINVAL;
			cand->rport = (int32_t)v;
		} else if (has_val && span_eq(key, "tcptype")) {
			cand->tcptype = dup_span(a, val);
			if (!cand->tcptype)
				return -ENOMEM;
		} else if (has_val && span_eq(key, "generation")) {
			uint64_t g;
			if (!parse_u64(val, INT64_MAX, &g))
				return -EINVAL;
			cand->generation = (int64_t)g;
		} else {
			if (ext_len)
				ext[ext_len++] = ' ';
			memcpy(ext + ext_len, key.p, key.l);
			ext_len += key.l;
			if (has_val) {
				ext[ext_len++] = ' ';
				memcpy(ext + ext_len, val.p, val.l);
				ext_len += val.l;
			}
		}
	}
	ext[ext_len] = '\0';
	cand->extensions = ext;
	return 0;
}

/* Fill attr->kind and attr->u from attr->name and attr->value. m is the
 * section the attribute belongs to (NULL at session level). Returns 0, -EINVAL
 * for a malformed value, -ENOMEM. */
static int parse_attr_value(struct sdp_arena *a, const struct sdp_media *m, struct sdp_attr *attr,
                            const char **reason)
{
	attr->kind = SDP_ATTR_OTHER;
	memset(&attr->u, 0, sizeof(attr->u));
	/* the first letter rules out most names before a whole compare: a section
	 * may hold a thousand attributes */
	char first = (char)(attr->name[0] | 0x20);
	for (size_t i = 0; i < sizeof(attr_kinds) / sizeof(attr_kinds[0]); i++)
		if (attr_kinds[i].name[0] == first &&
		    strcasecmp(attr->name, attr_kinds[i].name) == 0) {
			attr->kind = attr_kinds[i].kind;
			break;
		}
	struct span c = {attr->value ? attr->value : "", attr->value ? strlen(attr->value) : 0};
	struct span t1, t2, t3;
	uint32_t v = 0;

	switch (attr->kind) {
	case SDP_ATTR_OTHER:
	case SDP_ATTR_ICE_LITE:
	case SDP_ATTR_EXTMAP_ALLOW_MIXED:
	case SDP_ATTR_RTCP_MUX:
	case SDP_ATTR_RTCP_RSIZE:
	case SDP_ATTR_END_OF_CANDIDATES:
	case SDP_ATTR_MSID_SEMANTIC:
		return 0;
	case SDP_ATTR_DIRECTION:
		attr->u.direction = direction_from((struct span){attr->name, strlen(attr->name)});
		return 0;
	case SDP_ATTR_ICE_UFRAG:
	case SDP_ATTR_ICE_PWD:
	case SDP_ATTR_ICE_OPTIONS:
	case SDP_ATTR_MID:
		if (!next_tok(&c, &t1)) {
			*reason = "attribute needs a value";
			return -EINVAL;
		}
		return 0;
	case SDP_ATTR_GROUP: {
		if (!next_tok(&c, &t1)) {
			*reason = "a=group without semantics";
			return -EINVAL;
		}
		unsigned n = count_toks(c);
		const char **ids = arena_alloc(a, (n ? n : 1) * sizeof(*ids));
		attr->u.group.semantics = dup_span(a, t1);
		if (!ids || !attr->u.group.semantics)
			return -ENOMEM;
		for (unsigned i = 0; i < n; i++) {
			next_tok(&c, &t2);
			if (!(ids[i] = dup_span(a, t2)))
				return -ENOMEM;
		}
		attr->u.group.ids = ids;
		attr->u.group.count = n;
		return 0;
	}
	case SDP_ATTR_FINGERPRINT:
		if (!next_tok(&c, &t1) || !next_tok(&c, &t2) || next_tok(&c, &t3)) {
			*reason = "a=fingerprint is not \"hash value\"";
			return -EINVAL;
		}
		attr->u.fingerprint.hash = dup_span(a, t1);
		attr->u.fingerprint.value = dup_span(a, t2);
		return attr->u.fingerprint.hash && attr->u.fingerprint.value ? 0 : -ENOMEM;
	case SDP_ATTR_SETUP:
		if (!next_tok(&c, &t1))
			t1.l = 0;
		if (span_eq(t1, "actpass"))
			attr->u.setup = SDP_SETUP_ACTPASS;
		else if (span_eq(t1, "active"))
			attr->u.setup = SDP_SETUP_ACTIVE;
		else if (span_eq(t1, "passive"))
			attr->u.setup = SDP_SETUP_PASSIVE;
		else if (span_eq(t1, "holdconn"))
			attr->u.setup = SDP_SETUP_HOLDCONN;
		else {
			*reason = "a=setup is not actpass, active, passive or holdconn";
			return -EINVAL;
		}
		return 0;
	case SDP_ATTR_RTPMAP: {
		struct span enc, rest, clock, chans;
		if (!next_tok(&c, &t1) || !parse_uint(t1, 127, &v) || !next_tok(&c, &t2) ||
		    next_tok(&c, &t3) || !split_at(t2, '/', &enc, &rest) || enc.l == 0) {
			*reason = "a=rtpmap is not \"pt encoding/clock[/channels]\"";
			return -EINVAL;
		}
		struct sdp_rtpmap *r = &attr->u.rtpmap;
		r->pt = (uint8_t)v;
		bool has_chans = split_at(rest, '/', &clock, &chans);
		if (!parse_uint(clock, UINT32_MAX, &r->clock) || r->clock == 0 ||
		    (has_chans && (!parse_uint(chans, 255, &v) || v == 0))) {
			*reason = "a=rtpmap has a bad clock rate or channel count";
			return -EINVAL;
		}
		r->channels = has_chans ? (uint16_t)v : 0;
		r->listed = media_lists_pt(m, r->pt);
		r->encoding = dup_span(a, enc);
		return r->encoding ? 0 : -ENOMEM;
	}
	case SDP_ATTR_FMTP: {
		if (!next_tok(&c, &t1)) {
			*reason = "a=fmtp without a format";
			return -EINVAL;
		}
		struct sdp_fmtp *f = &attr->u.fmtp;
		f->pt = parse_uint(t1, 127, &v) ? (int)v : -1;
		f->listed = f->pt >= 0 && media_lists_pt(m, (unsigned)f->pt);
		f->format = dup_span(a, t1);
		f->params = dup_rest(a, c);
		return f->format && f->params ? 0 : -ENOMEM;
	}
	case SDP_ATTR_RTCP_FB: {
		if (!next_tok(&c, &t1) || !next_tok(&c, &t2)) {
			*reason = "a=rtcp-fb is not \"format type [parameter]\"";
			return -EINVAL;
		}
		struct sdp_rtcp_fb *f = &attr->u.rtcp_fb;
		f->format = dup_span(a, t1);
		f->type = dup_span(a, t2);
		skip_ws(&c);
		f->param = c.l ? dup_span(a, c) : NULL;
		return f->format && f->type && (f->param || !c.l) ? 0 : -ENOMEM;
	}
	case SDP_ATTR_RTCP: {
		struct sdp_rtcp *r = &attr->u.rtcp;
		if (!next_tok(&c, &t1) || !parse_uint(t1, 65535, &v)) {
			*reason = "a=rtcp has a bad port";
			return -EINVAL;
		}
		r->port = (uint16_t)v;
		struct span nt, extra;
		if (!next_tok(&c, &nt))
			return 0;
		if (!next_tok(&c, &t2) || !next_tok(&c, &t3) || next_tok(&c, &extra)) {
			*reason = "a=rtcp address is not \"nettype addrtype address\"";
			return -EINVAL;
		}
		r->nettype = dup_span(a, nt);
		r->addrtype = dup_span(a, t2);
		r->address = dup_span(a, t3);
		return r->nettype && r->addrtype && r->address ? 0 : -ENOMEM;
	}
	case SDP_ATTR_CANDIDATE: {
		int e = parse_candidate(a, c, &attr->u.candidate);
		if (e == -EINVAL)
			*reason = "a=candidate is not \"foundation component transport priority "
			          "address port typ type ...\"";
		return e;
	}
	case SDP_ATTR_SSRC: {
		struct span name, val;
		if (!next_tok(&c, &t1) || !parse_uint(t1, UINT32_MAX, &attr->u.ssrc.id)) {
			*reason = "a=ssrc has a bad id";
			return -EINVAL;
		}
		skip_ws(&c);
		bool has_val = split_at(c, ':', &name, &val);
		if (name.l == 0) {
			*reason = "a=ssrc without an attribute";
			return -EINVAL;
		}
		attr->u.ssrc.attribute = dup_span(a, name);
		attr->u.ssrc.value = has_val ? dup_span(a, val) : NULL;
		return attr->u.ssrc.attribute && (attr->u.ssrc.value || !has_val) ? 0 : -ENOMEM;
	}
	case SDP_ATTR_SSRC_GROUP: {
		if (!next_tok(&c, &t1)) {
			*reason = "a=ssrc-group without semantics";
			return -EINVAL;
		}
		unsigned n = count_toks(c);
		uint32_t *ids = arena_alloc(a, (n ? n : 1) * sizeof(*ids));
		attr->u.ssrc_group.semantics = dup_span(a, t1);
		if (!ids || !attr->u.ssrc_group.semantics)
			return -ENOMEM;
		for (unsigned i = 0; i < n; i++) {
			next_tok(&c, &t2);
			if (!parse_uint(t2, UINT32_MAX, &ids[i])) {
				*reason = "a=ssrc-group has a bad ssrc";
				return -EINVAL;
			}
		}
		attr->u.ssrc_group.ssrcs = ids;
		attr->u.ssrc_group.count = n;
		return 0;
	}
	case SDP_ATTR_MSID:
		if (!next_tok(&c, &t1)) {
			*reason = "a=msid without a stream id";
			return -EINVAL;
		}
		attr->u.msid.stream = dup_span(a, t1);
		attr->u.msid.track = next_tok(&c, &t2) ? dup_span(a, t2) : NULL;
		if (next_tok(&c, &t3)) {
			*reason = "a=msid has more than two ids";
			return -EINVAL;
		}
		return attr->u.msid.stream ? 0 : -ENOMEM;
	case SDP_ATTR_EXTMAP: {
		struct span id, dir;
		if (!next_tok(&c, &t1) || !next_tok(&c, &t2)) {
			*reason = "a=extmap is not \"id[/direction] uri\"";
			return -EINVAL;
		}
		bool has_dir = split_at(t1, '/', &id, &dir);
		struct sdp_extmap *x = &attr->u.extmap;
		if (!parse_uint(id, 65535, &v) || v == 0 ||
		    (has_dir && (x->direction = direction_from(dir)) == SDP_DIR_NONE)) {
			*reason = "a=extmap has a bad id or direction";
			return -EINVAL;
		}
		x->id = (uint16_t)v;
		x->uri = dup_span(a, t2);
		skip_ws(&c);
		x->attributes = c.l ? dup_span(a, c) : NULL;
		return x->uri && (x->attributes || !c.l) ? 0 : -ENOMEM;
	}
	case SDP_ATTR_PTIME:
	case SDP_ATTR_MAXPTIME: {
		/* whole milliseconds; a fraction ("20.5", RFC 8866 §6.4) is dropped */
		struct span whole, frac = {"", 0};
		bool ok = next_tok(&c, &t1) && !next_tok(&c, &t2);
		if (ok) {
			split_at(t1, '.', &whole, &frac);
			ok = parse_uint(whole, 1000000, &v);
			for (size_t i = 0; i < frac.l; i++)
				ok = ok && frac.p[i] >= '0' && frac.p[i] <= '9';
		}
		if (!ok) {
			*reason = "a=ptime/maxptime is not a number of milliseconds";
			return -EINVAL;
		}
		attr->u.ms = v;
		return 0;
	}
	}
	return 0;
}

/* The name is a token: printable ASCII, no space or ':'. The value holds no
 * line break or NUL. */
static bool attr_text_ok(const char *name, size_t name_len, const char *value, size_t value_len)
{
	if (name_len == 0)
		return false;
	for (size_t i = 0; i < name_len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch <= ' ' || ch >= 127 || ch == ':')
			return false;
	}
	for (size_t i = 0; i < value_len; i++)
		if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
			return false;
	return true;
}

/* Append a parsed attribute to a list. */
static int add_attr(struct sdp_session *s, const struct sdp_media *m, struct sdp_attr **attrs,
                    unsigned *n, unsigned *cap, struct span name, const struct span *value,
                    const char **reason)
{
	*reason = "bad attribute";
	if (!attr_text_ok(name.p, name.l, value ? value->p : NULL, value ? value->l : 0))
		return -EINVAL;
	int e = grow((void **)attrs, *n, cap, sizeof(**attrs), SDP_MAX_ATTRS);
	if (e) {
		*reason = "too many attributes in one section";
		return e;
	}
	struct sdp_attr *attr = &(*attrs)[*n];
	memset(attr, 0, sizeof(*attr));
	attr->name = dup_span(s->arena, name);
	attr->value = value ? dup_span(s->arena, *value) : NULL;
	if (!attr->name || (value && !attr->value))
		return -ENOMEM;
	e = parse_attr_value(s->arena, m, attr, reason);
	if (e)
		return e;
	(*n)++;
	return 0;
}

/* ---- parsing ---- */

struct parser {
	struct sdp_session *s;
	struct sdp_media *m; /* the section being read, NULL at session level */
	const char *reason;
	bool have_o, have_s;
};

static int parse_connection(struct sdp_arena *a, struct span c, struct sdp_connection *conn,
                            const char **reason)
{
	struct span nt, at, addr, extra;
	if (conn->present) {
		*reason = "a second c= line in one section";
		return -EINVAL;
	}
	if (!next_tok(&c, &nt) || !next_tok(&c, &at) || !next_tok(&c, &addr) ||
	    next_tok(&c, &extra)) {
		*reason = "c= is not \"nettype addrtype address\"";
		return -EINVAL;
	}
	conn->nettype = dup_span(a, nt);
	conn->addrtype = dup_span(a, at);
	conn->address = dup_span(a, addr);
	if (!conn->nettype || !conn->addrtype || !conn->address)
		return -ENOMEM;
	conn->present = true;
	return 0;
}

static int parse_bandwidth(struct sdp_arena *a, struct span c, struct sdp_bandwidth **arr,
                           unsigned *n, const char **reason)
{
	struct span type, val;
	if (!split_at(c, ':', &type, &val) || type.l == 0) {
		*reason = "b= is not \"type:value\"";
		return -EINVAL;
	}
	uint64_t v;
	if (!parse_u64(val, UINT64_MAX, &v)) {
		*reason = "b= value is not a number";
		return -EINVAL;
	}
	int e = grow_exact((void **)arr, *n, sizeof(**arr), SDP_MAX_LINES);
	if (e) {
		*reason = "too many b= lines";
		return e;
	}
	(*arr)[*n].type = dup_span(a, type);
	(*arr)[*n].value = v;
	if (!(*arr)[*n].type)
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int parse_origin(struct parser *ps, struct span c)
{
	struct span t[6], extra;
	struct sdp_session *s = ps->s;
	if (ps->have_o) {
		ps->reason = "a second o= line";
		return -EINVAL;
	}
	for (unsigned i = 0; i < 6; i++)
		if (!next_tok(&c, &t[i])) {
			ps->reason = "o= needs six fields";
			return -EINVAL;
		}
	if (next_tok(&c, &extra)) {
		ps->reason = "o= has more than six fields";
		return -EINVAL;
	}
	if (!parse_u64(t[1], UINT64_MAX, &s->sess_id) ||
	    !parse_u64(t[2], UINT64_MAX, &s->sess_version)) {
		ps->reason = "o= session id or version is not a number";
		return -EINVAL;
	}
	s->username = dup_span(s->arena, t[0]);
	s->nettype = dup_span(s->arena, t[3]);
	s->addrtype = dup_span(s->arena, t[4]);
	s->address = dup_span(s->arena, t[5]);
	if (!s->username || !s->nettype || !s->addrtype || !s->address)
		return -ENOMEM;
	ps->have_o = true;
	return 0;
}

static int parse_media_line(struct parser *ps, struct span c)
{
	struct sdp_session *s = ps->s;
	struct span type, port, proto, pnum, pcount, fmt;
	if (!next_tok(&c, &type) || !next_tok(&c, &port) || !next_tok(&c, &proto)) {
		ps->reason = "m= is not \"media port proto format...\"";
		return -EINVAL;
	}
	int e =
	    grow((void **)&s->media, s->n_media, &s->cap_media, sizeof(*s->media), SDP_MAX_MEDIA);
	if (e) {
		ps->reason = "too many m= sections";
		return e;
	}
	struct sdp_media *m = &s->media[s->n_media];
	memset(m, 0, sizeof(*m));
	s->n_media++; /* counted now so that sdp_free() releases its lists */
	ps->m = m;
	bool has_count = split_at(port, '/', &pnum, &pcount);
	uint32_t v, n;
	if (!parse_uint(pnum, 65535, &v) || (has_count && (!parse_uint(pcount, 65535, &n) || !n))) {
		ps->reason = "m= port is not 0..65535 (with an optional /count)";
		return -EINVAL;
	}
	m->port = (uint16_t)v;
	m->port_count = has_count ? (uint16_t)n : 0;
	m->type = dup_span(s->arena, type);
	m->proto = dup_span(s->arena, proto);
	if (!m->type || !m->proto)
		return -ENOMEM;
	while (next_tok(&c, &fmt)) {
		e = grow((void **)&m->formats, m->n_formats, &m->cap_formats, sizeof(*m->formats),
		         SDP_MAX_FORMATS);
		if (e) {
			ps->reason = "too many formats on one m= line";
			return e;
		}
		if (!(m->formats[m->n_formats] = dup_span(s->arena, fmt)))
			return -ENOMEM;
		m->n_formats++;
	}
	if (m->n_formats == 0) {
		ps->reason = "m= line without formats";
		return -EINVAL;
	}
	index_formats(m);
	return 0;
}

static int add_line(struct sdp_arena *a, struct sdp_line **arr, unsigned *n, char type,
                    struct span c, const char **reason)
{
	int e = grow_exact((void **)arr, *n, sizeof(**arr), SDP_MAX_LINES);
	if (e) {
		*reason = "too many lines of one type";
		return e;
	}
	(*arr)[*n].type = type;
	(*arr)[*n].value = dup_span(a, c);
	if (!(*arr)[*n].value)
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int set_once(struct sdp_arena *a, const char **field, struct span c, const char **reason)
{
	if (*field) {
		*reason = "a line that may appear once appears twice";
		return -EINVAL;
	}
	*field = dup_span(a, c);
	return *field ? 0 : -ENOMEM;
}

/* "name:value" or "name". A flag followed by blanks ("a=rtcp-mux ") is read
 * as the flag: some stacks leave trailing whitespace. */
static bool split_attr(struct span c, struct span *name, struct span *val)
{
	if (split_at(c, ':', name, val))
		return true;
	while (name->l && is_ws(name->p[name->l - 1]))
		name->l--;
	return false;
}

static int parse_line(struct parser *ps, char type, struct span c)
{
	struct sdp_session *s = ps->s;
	struct sdp_media *m = ps->m;
	struct sdp_arena *a = s->arena;

	if (m) {
		switch (type) {
		case 'm':
			return parse_media_line(ps, c);
		case 'i':
			return set_once(a, &m->info, c, &ps->reason);
		case 'c':
			return parse_connection(a, c, &m->conn, &ps->reason);
		case 'b':
			return parse_bandwidth(a, c, &m->bandwidths, &m->n_bandwidths, &ps->reason);
		case 'k':
			return set_once(a, &m->key, c, &ps->reason);
		case 'a': {
			struct span name, val;
			bool has_val = split_attr(c, &name, &val);
			return add_attr(s, m, &m->attrs, &m->n_attrs, &m->cap_attrs, name,
			                has_val ? &val : NULL, &ps->reason);
		}
		default:
			ps->reason = "a line type that a media section may not hold";
			return -EINVAL;
		}
	}
	switch (type) {
	case 'v':
		ps->reason = "a second v= line";
		return -EINVAL;
	case 'o':
		return parse_origin(ps, c);
	case 's':
		if (ps->have_s) {
			ps->reason = "a second s= line";
			return -EINVAL;
		}
		ps->have_s = true;
		s->name = dup_span(a, c);
		return s->name ? 0 : -ENOMEM;
	case 'i':
	case 'u':
		for (unsigned i = 0; i < s->n_lines; i++)
			if (s->lines[i].type == type) {
				ps->reason = "a line that may appear once appears twice";
				return -EINVAL;
			}
		/* fall through */
	case 'e':
	case 'p':
		return add_line(a, &s->lines, &s->n_lines, type, c, &ps->reason);
	case 'c':
		return parse_connection(a, c, &s->conn, &ps->reason);
	case 'b':
		return parse_bandwidth(a, c, &s->bandwidths, &s->n_bandwidths, &ps->reason);
	case 't': {
		struct span start, stop, extra;
		uint64_t v0, v1;
		if (!next_tok(&c, &start) || !next_tok(&c, &stop) || next_tok(&c, &extra) ||
		    !parse_u64(start, UINT64_MAX, &v0) || !parse_u64(stop, UINT64_MAX, &v1)) {
			ps->reason = "t= is not \"start stop\"";
			return -EINVAL;
		}
		int e =
		    grow_exact((void **)&s->times, s->n_times, sizeof(*s->times), SDP_MAX_LINES);
		if (e) {
			ps->reason = "too many t= lines";
			return e;
		}
		s->times[s->n_times] = (struct sdp_time){.start = v0, .stop = v1};
		s->n_times++;
		return 0;
	}
	case 'r':
		if (!s->n_times) {
			ps->reason = "r= before any t=";
			return -EINVAL;
		}
		return add_line(a, &s->times[s->n_times - 1].repeats,
		                &s->times[s->n_times - 1].n_repeats, 'r', c, &ps->reason);
	case 'z':
		return set_once(a, &s->zone, c, &ps->reason);
	case 'k':
		return set_once(a, &s->key, c, &ps->reason);
	case 'a': {
		struct span name, val;
		bool has_val = split_attr(c, &name, &val);
		return add_attr(s, NULL, &s->attrs, &s->n_attrs, &s->cap_attrs, name,
		                has_val ? &val : NULL, &ps->reason);
	}
	case 'm':
		if (!ps->have_o || !ps->have_s || !s->n_times) {
			ps->reason = !ps->have_o   ? "o= missing before the first m="
			             : !ps->have_s ? "s= missing before the first m="
			                           : "t= missing before the first m=";
			return -EINVAL;
		}
		return parse_media_line(ps, c);
	default:
		ps->reason = "a line type RFC 8866 does not define";
		return -EINVAL;
	}
}

/* The parse copies each piece of text at most twice (the attribute's text and
 * a typed field), so the first chunk is sized from the input: a description
 * lives for a whole call, and one arena per call should not be mostly empty. */
static struct sdp_session *session_new(size_t text_len)
{
	struct sdp_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->arena = calloc(1, sizeof(*s->arena));
	if (!s->arena) {
		free(s);
		return NULL;
	}
	s->arena->next_cap = 2 * text_len + 256;
	return s;
}

/* Give back the room grow() left at the end of a list. */
static void shrink(void **arr, unsigned n, unsigned *cap, size_t size)
{
	if (n == 0 || n >= *cap)
		return;
	void *p = realloc(*arr, (size_t)n * size);
	if (p) {
		*arr = p;
		*cap = n;
	}
}

static int fail(struct sdp_error *err, int line, const char *reason, int e)
{
	if (err) {
		err->line = line;
		err->reason = reason;
	}
	return e;
}

int sdp_parse(const char *text, size_t len, struct sdp_session **out, struct sdp_error *err)
{
	*out = NULL;
	if (len > SDP_MAX_SIZE)
		return fail(err, 0, "description longer than 64 KiB", -E2BIG);
	if (len && memchr(text, '\0', len))
		return fail(err, 0, "NUL byte in the description", -EINVAL);

	struct parser ps = {.s = session_new(len)};
	if (!ps.s)
		return fail(err, 0, "out of memory", -ENOMEM);

	size_t pos = 0;
	int line = 0;
	bool have_v = false;
	int e = 0;
	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - start) : len - pos;
		pos += l + (nl ? 1 : 0);
		line++;
		if (l && start[l - 1] == '\r')
			l--;
		if (l == 0)
			continue; /* blank lines, and the empty one after the final CRLF */
		if (l < 2 || start[1] != '=' || start[0] < 'a' || start[0] > 'z') {
			e = -EINVAL;
			ps.reason = "a line that is not \"x=value\"";
			break;
		}
		if (memchr(start, '\r', l)) {
			e = -EINVAL;
			ps.reason = "a CR inside a line";
			break;
		}
		struct span value = {start + 2, l - 2};
		if (!have_v) {
			if (start[0] != 'v' || !span_eq(value, "0")) {
				e = -EINVAL;
				ps.reason = "the description does not start with v=0";
				break;
			}
			have_v = true;
			continue;
		}
		e = parse_line(&ps, start[0], value);
		if (e)
			break;
	}
	if (e) {
		sdp_free(ps.s);
		return fail(err, line, e == -ENOMEM ? "out of memory" : ps.reason, e);
	}
	const char *missing = !have_v          ? "v= missing"
	                      : !ps.have_o     ? "o= missing"
	                      : !ps.have_s     ? "s= missing"
	                      : !ps.s->n_times ? "t= missing"
	                                       : NULL;
	if (missing) {
		sdp_free(ps.s);
		return fail(err, 0, missing, -EINVAL);
	}
	struct sdp_session *s = ps.s;
	for (unsigned i = 0; i < s->n_media; i++) {
		struct sdp_media *m = &s->media[i];
		shrink((void **)&m->attrs, m->n_attrs, &m->cap_attrs, sizeof(*m->attrs));
		shrink((void **)&m->formats, m->n_formats, &m->cap_formats, sizeof(*m->formats));
	}
	shrink((void **)&s->attrs, s->n_attrs, &s->cap_attrs, sizeof(*s->attrs));
	shrink((void **)&s->media, s->n_media, &s->cap_media, sizeof(*s->media));
	*out = s;
	return 0;
}

void sdp_free(struct sdp_session *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->n_media; i++) {
		free(s->media[i].formats);
		free(s->media[i].bandwidths);
		free(s->media[i].attrs);
	}
	free(s->media);
	for (unsigned i = 0; i < s->n_times; i++)
		free(s->times[i].repeats);
	free(s->times);
	free(s->lines);
	free(s->bandwidths);
	free(s->attrs);
	arena_free(s->arena);
	free(s);
}

/* ---- printing ---- */

struct out {
	char *buf;
	size_t size;
	size_t len; /* what the whole text needs, even past size */
};

static void put(struct out *o, const char *p, size_t n)
{
	if (o->len < o->size) {
		size_t room = o->size - o->len;
		memcpy(o->buf + o->len, p, n < room ? n : room);
	}
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(struct out *o, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	/* only numbers and short fixed text go through here: 64 bytes are enough */
	if (n > 0)
		put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void put_line(struct out *o, char type, const char *value)
{
	char head[2] = {type, '='};
	put(o, head, 2);
	puts_(o, value);
	put(o, "\r\n", 2);
}

static void put_conn(struct out *o, const struct sdp_connection *c)
{
	if (!c->present)
		return;
	puts_(o, "c=");
	puts_(o, c->nettype);
	put(o, " ", 1);
	puts_(o, c->addrtype);
	put(o, " ", 1);
	puts_(o, c->address);
	put(o, "\r\n", 2);
}

static void put_bandwidths(struct out *o, const struct sdp_bandwidth *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		puts_(o, "b=");
		puts_(o, b[i].type);
		putf(o, ":%" PRIu64 "\r\n", b[i].value);
	}
}

static void put_attrs(struct out *o, const struct sdp_attr *attrs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		puts_(o, "a=");
		puts_(o, attrs[i].name);
		if (attrs[i].value) {
			put(o, ":", 1);
			puts_(o, attrs[i].value);
		}
		put(o, "\r\n", 2);
	}
}

size_t sdp_print(const struct sdp_session *s, char *buf, size_t size)
{
	struct out o = {buf, size, 0};
	puts_(&o, "v=0\r\no=");
	puts_(&o, s->username);
	putf(&o, " %" PRIu64 " %" PRIu64 " ", s->sess_id, s->sess_version);
	puts_(&o, s->nettype);
	put(&o, " ", 1);
	puts_(&o, s->addrtype);
	put(&o, " ", 1);
	puts_(&o, s->address);
	put(&o, "\r\n", 2);
	put_line(&o, 's', s->name);
	static const char order[] = "iuep";
	for (const char *t = order; *t; t++)
		for (unsigned i = 0; i < s->n_lines; i++)
			if (s->lines[i].type == *t)
				put_line(&o, *t, s->lines[i].value);
	put_conn(&o, &s->conn);
	put_bandwidths(&o, s->bandwidths, s->n_bandwidths);
	for (unsigned i = 0; i < s->n_times; i++) {
		putf(&o, "t=%" PRIu64 " %" PRIu64 "\r\n", s->times[i].start, s->times[i].stop);
		for (unsigned j = 0; j < s->times[i].n_repeats; j++)
			put_line(&o, 'r', s->times[i].repeats[j].value);
	}
	if (s->zone)
		put_line(&o, 'z', s->zone);
	if (s->key)
		put_line(&o, 'k', s->key);
	put_attrs(&o, s->attrs, s->n_attrs);
	for (unsigned i = 0; i < s->n_media; i++) {
		const struct sdp_media *m = &s->media[i];
		puts_(&o, "m=");
		puts_(&o, m->type);
		putf(&o, " %u", (unsigned)m->port);
		if (m->port_count)
			putf(&o, "/%u", (unsigned)m->port_count);
		put(&o, " ", 1);
		puts_(&o, m->proto);
		for (unsigned f = 0; f < m->n_formats; f++) {
			put(&o, " ", 1);
			puts_(&o, m->formats[f]);
		}
		put(&o, "\r\n", 2);
		if (m->info)
			put_line(&o, 'i', m->info);
		put_conn(&o, &m->conn);
		put_bandwidths(&o, m->bandwidths, m->n_bandwidths);
		if (m->key)
			put_line(&o, 'k', m->key);
		put_attrs(&o, m->attrs, m->n_attrs);
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return o.len;
}

char *sdp_to_string(const struct sdp_session *s, size_t *len)
{
	size_t n = sdp_print(s, NULL, 0);
	char *buf = malloc(n + 1);
	if (!buf)
		return NULL;
	sdp_print(s, buf, n + 1);
	if (len)
		*len = n;
	return buf;
}

/* ---- looking things up ---- */

const struct sdp_attr *sdp_attr_next(const struct sdp_attr *attrs, unsigned n_attrs,
                                     enum sdp_attr_kind kind, const char *name, unsigned *from)
{
	for (unsigned i = *from; i < n_attrs; i++) {
		if (attrs[i].kind != kind)
			continue;
		if (kind == SDP_ATTR_OTHER && name && strcasecmp(attrs[i].name, name) != 0)
			continue;
		*from = i + 1;
		return &attrs[i];
	}
	*from = n_attrs;
	return NULL;
}

const struct sdp_attr *sdp_session_attr(const struct sdp_session *s, enum sdp_attr_kind kind,
                                        const char *name)
{
	unsigned from = 0;
	return sdp_attr_next(s->attrs, s->n_attrs, kind, name, &from);
}

const struct sdp_attr *sdp_media_attr(const struct sdp_media *m, enum sdp_attr_kind kind,
                                      const char *name)
{
	unsigned from = 0;
	return sdp_attr_next(m->attrs, m->n_attrs, kind, name, &from);
}

/* RFC 3551 §6 static payload types (audio and video). */
static const struct {
	uint8_t pt;
	const char *name;
	uint32_t clock;
	uint16_t channels;
} static_pts[] = {
    {0, "PCMU", 8000, 1},   {3, "GSM", 8000, 1},    {4, "G723", 8000, 1},   {5, "DVI4", 8000, 1},
    {6, "DVI4", 16000, 1},  {7, "LPC", 8000, 1},    {8, "PCMA", 8000, 1},   {9, "G722", 8000, 1},
    {10, "L16", 44100, 2},  {11, "L16", 44100, 1},  {12, "QCELP", 8000, 1}, {13, "CN", 8000, 1},
    {14, "MPA", 90000, 0},  {15, "G728", 8000, 1},  {16, "DVI4", 11025, 1}, {17, "DVI4", 22050, 1},
    {18, "G729", 8000, 1},  {25, "CelB", 90000, 0}, {26, "JPEG", 90000, 0}, {28, "nv", 90000, 0},
    {31, "H261", 90000, 0}, {32, "MPV", 90000, 0},  {33, "MP2T", 90000, 0}, {34, "H263", 90000, 0},
};

int sdp_media_codec_at(const struct sdp_media *m, unsigned idx, struct sdp_codec *out)
{
	uint32_t pt;
	if (idx >= m->n_formats ||
	    !parse_uint((struct span){m->formats[idx], strlen(m->formats[idx])}, 127, &pt))
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->pt = (uint8_t)pt;
	bool found = false;
	for (unsigned i = 0; i < m->n_attrs; i++) {
		const struct sdp_attr *a = &m->attrs[i];
		if (!found && a->kind == SDP_ATTR_RTPMAP && a->u.rtpmap.pt == pt) {
			out->encoding = a->u.rtpmap.encoding;
			out->clock = a->u.rtpmap.clock;
			out->channels = a->u.rtpmap.channels;
			found = true;
		} else if (!out->fmtp && a->kind == SDP_ATTR_FMTP && a->u.fmtp.pt == (int)pt) {
			out->fmtp = a->u.fmtp.params;
		}
	}
	for (size_t i = 0; !found && i < sizeof(static_pts) / sizeof(static_pts[0]); i++)
		if (static_pts[i].pt == pt) {
			out->encoding = static_pts[i].name;
			out->clock = static_pts[i].clock;
			out->channels = 0;
			found = true;
		}
	return found ? 0 : -ENOENT;
}

int sdp_media_find_codec(const struct sdp_media *m, const char *encoding, uint32_t clock,
                         struct sdp_codec *out)
{
	for (unsigned i = 0; i < m->n_formats; i++) {
		struct sdp_codec c;
		if (sdp_media_codec_at(m, i, &c) == 0 && strcasecmp(c.encoding, encoding) == 0 &&
		    (clock == 0 || c.clock == clock)) {
			*out = c;
			return 0;
		}
	}
	return -ENOENT;
}

enum sdp_direction sdp_media_direction(const struct sdp_session *s, const struct sdp_media *m)
{
	const struct sdp_attr *a = sdp_media_attr(m, SDP_ATTR_DIRECTION, NULL);
	if (!a)
		a = sdp_session_attr(s, SDP_ATTR_DIRECTION, NULL);
	return a ? a->u.direction : SDP_DIR_SENDRECV;
}

const struct sdp_connection *sdp_media_connection(const struct sdp_session *s,
                                                  const struct sdp_media *m)
{
	if (m->conn.present)
		return &m->conn;
	return s->conn.present ? &s->conn : NULL;
}

bool sdp_media_on_hold(const struct sdp_session *s, const struct sdp_media *m)
{
	if (m->port == 0)
		return false;
	enum sdp_direction dir = sdp_media_direction(s, m);
	if (dir == SDP_DIR_SENDONLY || dir == SDP_DIR_INACTIVE)
		return true;
	/* With ICE, c=0.0.0.0 (and port 9) only says there is no default candidate
	 * (RFC 8840 §4.1.1): every Chrome offer has it. */
	if (sdp_media_attr(m, SDP_ATTR_ICE_UFRAG, NULL) ||
	    sdp_session_attr(s, SDP_ATTR_ICE_UFRAG, NULL))
		return false;
	const struct sdp_connection *c = sdp_media_connection(s, m);
	return c && strcasecmp(c->addrtype, "IP4") == 0 && strcmp(c->address, "0.0.0.0") == 0;
}

/* ---- changing a description ---- */

static int add_attr_text(struct sdp_session *s, struct sdp_media *m, const char *name,
                         const char *value)
{
	const char *reason;
	struct span n = {name, strlen(name)};
	struct span v = {value, value ? strlen(value) : 0};
	if (m)
		return add_attr(s, m, &m->attrs, &m->n_attrs, &m->cap_attrs, n, value ? &v : NULL,
		                &reason);
	return add_attr(s, NULL, &s->attrs, &s->n_attrs, &s->cap_attrs, n, value ? &v : NULL,
	                &reason);
}

int sdp_session_add_attr(struct sdp_session *s, const char *name, const char *value)
{
	return add_attr_text(s, NULL, name, value);
}

int sdp_media_add_attr(struct sdp_session *s, struct sdp_media *m, const char *name,
                       const char *value)
{
	return add_attr_text(s, m, name, value);
}

static void remove_attr_at(struct sdp_media *m, unsigned i)
{
	memmove(&m->attrs[i], &m->attrs[i + 1], (m->n_attrs - i - 1) * sizeof(*m->attrs));
	m->n_attrs--;
}

unsigned sdp_media_remove_attrs(struct sdp_media *m, enum sdp_attr_kind kind, const char *name)
{
	unsigned removed = 0;
	for (unsigned i = 0; i < m->n_attrs;) {
		const struct sdp_attr *a = &m->attrs[i];
		if (a->kind == kind &&
		    (kind != SDP_ATTR_OTHER || !name || strcasecmp(a->name, name) == 0)) {
			remove_attr_at(m, i);
			removed++;
		} else {
			i++;
		}
	}
	return removed;
}

int sdp_media_set_direction(struct sdp_session *s, struct sdp_media *m, enum sdp_direction dir)
{
	if (dir == SDP_DIR_NONE || (unsigned)dir > SDP_DIR_INACTIVE)
		return -EINVAL;
	for (unsigned i = 0; i < m->n_attrs; i++) {
		struct sdp_attr *a = &m->attrs[i];
		if (a->kind == SDP_ATTR_DIRECTION) {
			a->name = direction_names[dir];
			a->value = NULL;
			a->u.direction = dir;
			return 0;
		}
	}
	return add_attr_text(s, m, direction_names[dir], NULL);
}

int sdp_media_add_format(struct sdp_session *s, struct sdp_media *m, uint8_t pt,
                         const char *encoding, uint32_t clock, uint16_t channels, const char *fmtp)
{
	if (pt > 127 || (encoding && (!*encoding || clock == 0)))
		return -EINVAL;
	if (media_lists_pt(m, pt))
		return -EEXIST;
	/* an rtpmap or fmtp left for a payload type not listed would now apply
	 * and contradict the new one */
	for (unsigned i = 0; i < m->n_attrs;) {
		const struct sdp_attr *a = &m->attrs[i];
		if ((a->kind == SDP_ATTR_RTPMAP && a->u.rtpmap.pt == pt) ||
		    (a->kind == SDP_ATTR_FMTP && a->u.fmtp.pt == (int)pt))
			remove_attr_at(m, i);
		else
			i++;
	}
	char num[4];
	snprintf(num, sizeof(num), "%u", (unsigned)pt);
	int e = grow((void **)&m->formats, m->n_formats, &m->cap_formats, sizeof(*m->formats),
	             SDP_MAX_FORMATS);
	if (e)
		return e;
	const char *f = arena_strndup(s->arena, num, strlen(num));
	if (!f)
		return -ENOMEM;
	m->formats[m->n_formats++] = f;
	index_formats(m);
	unsigned n_before = m->n_attrs;
	if (encoding) {
		char *v = NULL;
		size_t n = strlen(encoding) + 32;
		v = malloc(n);
		if (!v)
			e = -ENOMEM;
		else if (channels)
			snprintf(v, n, "%u %s/%" PRIu32 "/%u", (unsigned)pt, encoding, clock,
			         (unsigned)channels);
		else
			snprintf(v, n, "%u %s/%" PRIu32, (unsigned)pt, encoding, clock);
		if (!e)
			e = add_attr_text(s, m, "rtpmap", v);
		free(v);
	}
	if (!e && fmtp) {
		size_t n = strlen(fmtp) + 8;
		char *v = malloc(n);
		if (!v)
			e = -ENOMEM;
		else {
			snprintf(v, n, "%u %s", (unsigned)pt, fmtp);
			e = add_attr_text(s, m, "fmtp", v);
			free(v);
		}
	}
	if (e) {
		/* undo: nothing half-added stays behind */
		m->n_attrs = n_before;
		m->n_formats--;
		index_formats(m);
	}
	return e;
}

int sdp_media_remove_format(struct sdp_media *m, const char *fmt)
{
	unsigned idx = m->n_formats;
	for (unsigned i = 0; i < m->n_formats; i++)
		if (strcmp(m->formats[i], fmt) == 0) {
			idx = i;
			break;
		}
	if (idx == m->n_formats)
		return -ENOENT;
	if (m->n_formats == 1)
		return -EINVAL; /* an m= line needs a format; reject the section with port 0 */
	memmove(&m->formats[idx], &m->formats[idx + 1],
	        (m->n_formats - idx - 1) * sizeof(*m->formats));
	m->n_formats--;
	index_formats(m);
	/* "08" and "8" name the same payload type */
	uint32_t pt, other;
	bool numeric = parse_uint((struct span){fmt, strlen(fmt)}, 127, &pt);
	for (unsigned i = 0; i < m->n_attrs;) {
		const struct sdp_attr *a = &m->attrs[i];
		bool match = false;
		if (a->kind == SDP_ATTR_RTPMAP)
			match = numeric && a->u.rtpmap.pt == pt;
		else if (a->kind == SDP_ATTR_FMTP)
			match =
			    numeric ? a->u.fmtp.pt == (int)pt : strcmp(a->u.fmtp.format, fmt) == 0;
		else if (a->kind == SDP_ATTR_RTCP_FB)
			match = numeric ? parse_uint((struct span){a->u.rtcp_fb.format,
			                                           strlen(a->u.rtcp_fb.format)},
			                             127, &other) &&
			                      other == pt
			                : strcmp(a->u.rtcp_fb.format, fmt) == 0;
		if (match)
			remove_attr_at(m, i);
		else
			i++;
	}
	return 0;
}

void sdp_bump_version(struct sdp_session *s)
{
	s->sess_version++;
}

static bool address_ok(const char *addr)
{
	if (!addr || !*addr || strlen(addr) > 255)
		return false;
	for (const char *p = addr; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z') || *p == '.' || *p == ':' || *p == '-'))
			return false;
	return true;
}

const char *sdp_strdup(struct sdp_session *s, const char *str)
{
	return arena_strndup(s->arena, str, strlen(str));
}

int sdp_set_connection(struct sdp_session *s, struct sdp_media *m, const char *address)
{
	if (!address_ok(address))
		return -EINVAL;
	const char *addr = sdp_strdup(s, address);
	if (!addr)
		return -ENOMEM;
	struct sdp_connection *c = m ? &m->conn : &s->conn;
	c->present = true;
	c->nettype = "IN";
	c->addrtype = strchr(address, ':') ? "IP6" : "IP4";
	c->address = addr;
	return 0;
}

int sdp_new_audio(const struct sdp_audio_params *p, struct sdp_session **out)
{
	*out = NULL;
	if (!address_ok(p->address) || (!p->pcmu && !p->pcma && p->telephone_event < 0) ||
	    p->telephone_event > 127 || (unsigned)p->direction > SDP_DIR_INACTIVE)
		return -EINVAL;
	const char *ip = strchr(p->address, ':') ? "IP6" : "IP4";
	char text[1024];
	struct out o = {text, sizeof(text), 0};
	putf(&o, "v=0\r\no=sipwire %" PRIu64 " 1 IN ", p->sess_id);
	puts_(&o, ip);
	put(&o, " ", 1);
	puts_(&o, p->address);
	puts_(&o, "\r\ns=sipwire\r\nc=IN ");
	puts_(&o, ip);
	put(&o, " ", 1);
	puts_(&o, p->address);
	putf(&o, "\r\nt=0 0\r\nm=audio %u RTP/AVP", (unsigned)p->port);
	if (p->pcmu)
		puts_(&o, " 0");
	if (p->pcma)
		puts_(&o, " 8");
	if (p->telephone_event >= 0)
		putf(&o, " %d", p->telephone_event);
	put(&o, "\r\n", 2);
	if (p->pcmu)
		puts_(&o, "a=rtpmap:0 PCMU/8000\r\n");
	if (p->pcma)
		puts_(&o, "a=rtpmap:8 PCMA/8000\r\n");
	if (p->telephone_event >= 0)
		putf(&o, "a=rtpmap:%d telephone-event/8000\r\n", p->telephone_event);
	if (p->telephone_event >= 0)
		putf(&o, "a=fmtp:%d 0-16\r\n", p->telephone_event);
	if (p->ptime)
		putf(&o, "a=ptime:%" PRIu32 "\r\n", p->ptime);
	if (p->direction != SDP_DIR_NONE) {
		puts_(&o, "a=");
		puts_(&o, direction_names[p->direction]);
		put(&o, "\r\n", 2);
	}
	if (o.len >= sizeof(text))
		return -EINVAL;
	/* built as text and parsed, so it is exactly what a peer would read */
	return sdp_parse(text, o.len, out, NULL);
}
