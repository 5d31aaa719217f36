/* sip_dialog.c — RFC 3261 §12 dialogs (see sip_dialog.h).
 *
 * A dialog keeps its strings in one block: Call-ID, tags, the From/To values
 * we send, the remote target, the route set (stored as the Route value we
 * send, so a loose-routed request copies it whole) and the local Contact.
 * Each is a span (offset, length) into the block. A change (target refresh,
 * route set recomputed on a 2xx) lays the block out anew from the old spans
 * and the message's views, then frees the old one: one allocation per change,
 * none per request built or received. */
#include "sip/sip_dialog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

/* ---- random tokens ---- */

static int rand_openssl(void *arg, void *buf, size_t len)
{
	(void)arg;
	if (len > (size_t)INT32_MAX)
		return -EINVAL;
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

int sip_random_token(char *out, size_t size, size_t len, sip_random_fn fn, void *arg)
{
	static const char alphabet[] =
	    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	if (!out || size <= len)
		return -ENOSPC;
	if (!fn)
		fn = rand_openssl;
	unsigned char raw[32];
	size_t done = 0;
	while (done < len) {
		size_t n = len - done < sizeof(raw) ? len - done : sizeof(raw);
		int err = fn(arg, raw, n);
		if (err)
			return err < 0 ? err : -EIO;
		/* modulo 62 leaves a bias of under 2% per character: harmless for
		 * identifiers that only need to be unique and unguessable enough */
		for (size_t i = 0; i < n; i++)
			out[done + i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
		done += n;
	}
	out[len] = '\0';
	return 0;
}

/* ---- the dialog ---- */

enum field {
	F_CALL_ID,
	F_LOCAL_TAG,
	F_REMOTE_TAG,
	F_LOCAL_ADDR,  /* the From value of our requests, our tag included */
	F_REMOTE_ADDR, /* the To value of our requests, their tag included */
	F_TARGET,      /* remote target URI */
	F_ROUTES,      /* route set as a Route value, in sending order */
	F_CONTACT,     /* local Contact value */
	F__COUNT
};

struct span {
	uint32_t off, len;
};

struct sip_dialog {
	char *buf;
	struct span f[F__COUNT];
	enum sip_dialog_state state;
	bool uac;
	bool secure;
	bool remote_cseq_set;
	uint32_t local_cseq; /* 0: none sent yet */
	uint32_t remote_cseq;
	uint32_t last_invite_cseq; /* for ACK and CANCEL; 0: none */
	void *user;
	/* table linkage */
	struct sip_dialog_table *table;
	struct sip_dialog *hnext;
	uint64_t hash;
};

static sip_pl fv(const struct sip_dialog *d, enum field f)
{
	return (sip_pl){d->buf + d->f[f].off, d->f[f].len};
}

/* Where each field of a new layout comes from: up to three pieces joined, or
 * (routes only) a message's Record-Route, in order or reversed. */
struct layout_src {
	sip_pl part[F__COUNT][3];
	const struct sip_msg *rr;
	bool rr_reverse;
};

static void src_keep(const struct sip_dialog *d, struct layout_src *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < F__COUNT; i++)
		s->part[i][0] = fv(d, (enum field)i);
}

/* Header values may hold CRLF folds; what we send back is one line. */
static void copy_line(char *dst, sip_pl v)
{
	if (!v.l)
		return;
	memcpy(dst, v.p, v.l);
	for (size_t i = 0; i < v.l; i++)
		if (dst[i] == '\r' || dst[i] == '\n')
			dst[i] = ' ';
}

static bool is_sip_scheme(enum sip_uri_scheme s)
{
	return s == SIP_URI_SIP || s == SIP_URI_SIPS;
}

/* Check every Record-Route element and measure them joined with ", ". */
static int rr_measure(const struct sip_msg *m, size_t *len)
{
	struct sip_value_iter it = {0};
	sip_pl v;
	size_t total = 0, n = 0;
	while (sip_msg_value_next(m, SIP_HDR_RECORD_ROUTE, &it, &v)) {
		struct sip_addr a;
		if (!v.l || sip_addr_parse(v, &a) || !is_sip_scheme(a.uri.scheme))
			return -EBADMSG;
		total += v.l + (n ? 2 : 0);
		n++;
	}
	*len = total;
	return 0;
}

/* Write the elements into dst[0..len): in order, or from the end backwards
 * so the first element lands last (the UAC's reversed route set) without
 * keeping a list of them. */
static void rr_write(const struct sip_msg *m, bool reverse, char *dst, size_t len)
{
	struct sip_value_iter it = {0};
	sip_pl v;
	size_t at = reverse ? len : 0;
	bool first = true;
	while (sip_msg_value_next(m, SIP_HDR_RECORD_ROUTE, &it, &v)) {
		if (reverse) {
			if (!first) {
				at -= 2;
				memcpy(dst + at, ", ", 2);
			}
			at -= v.l;
			copy_line(dst + at, v);
		} else {
			if (!first) {
				memcpy(dst + at, ", ", 2);
				at += 2;
			}
			copy_line(dst + at, v);
			at += v.l;
		}
		first = false;
	}
}

/* Lay the dialog's strings out anew from s. Nothing changes on error. */
static int layout(struct sip_dialog *d, const struct layout_src *s)
{
	size_t len[F__COUNT], total = 0;
	for (int i = 0; i < F__COUNT; i++) {
		if (i == F_ROUTES && s->rr) {
			int err = rr_measure(s->rr, &len[i]);
			if (err)
				return err;
		} else {
			len[i] = s->part[i][0].l + s->part[i][1].l + s->part[i][2].l;
		}
		total += len[i];
	}
	if (total > UINT32_MAX)
		return -EMSGSIZE;
	char *nb = malloc(total ? total : 1);
	if (!nb)
		return -ENOMEM;
	size_t at = 0;
	for (int i = 0; i < F__COUNT; i++) {
		d->f[i].off = (uint32_t)at;
		d->f[i].len = (uint32_t)len[i];
		if (i == F_ROUTES && s->rr) {
			rr_write(s->rr, s->rr_reverse, nb + at, len[i]);
			at += len[i];
			continue;
		}
		for (int k = 0; k < 3; k++) {
			copy_line(nb + at, s->part[i][k]);
			at += s->part[i][k].l;
		}
	}
	free(d->buf);
	d->buf = nb;
	return 0;
}

/* The one Contact of a dialog-creating or target-refresh message: its URI.
 * -ENOENT when there is none, -EBADMSG when it is unusable or not alone. */
static int the_contact(const struct sip_msg *m, sip_pl *uri)
{
	struct sip_value_iter it = {0};
	sip_pl v;
	struct sip_contact c;
	if (!sip_msg_value_next(m, SIP_HDR_CONTACT, &it, &v))
		return -ENOENT;
	if (sip_contact_parse(v, &c) || c.star || !is_sip_scheme(c.addr.uri.scheme))
		return -EBADMSG;
	if (sip_msg_value_next(m, SIP_HDR_CONTACT, &it, &v))
		return -EBADMSG;
	*uri = c.addr.uri_text;
	return 0;
}

/* §12.1.1/§12.1.2: a sips Request-URI on a request that went over TLS. */
static bool request_secure(const struct sip_msg *req)
{
	const struct sip_uri *ruri = sip_msg_ruri_parsed(req);
	sip_pl transport = sip_msg_via(req)->transport;
	return ruri && ruri->scheme == SIP_URI_SIPS &&
	       (sip_pl_caseeq_cstr(transport, "TLS") || sip_pl_caseeq_cstr(transport, "WSS"));
}

static bool is_target_refresh(enum sip_method m)
{
	return m == SIP_METHOD_INVITE || m == SIP_METHOD_UPDATE || m == SIP_METHOD_SUBSCRIBE ||
	       m == SIP_METHOD_NOTIFY || m == SIP_METHOD_REFER;
}

/* A value we write as a header must stay on one line. */
static bool one_line(sip_pl v)
{
	for (size_t i = 0; i < v.l; i++)
		if (v.p[i] == '\r' || v.p[i] == '\n')
			return false;
	return true;
}

static sip_pl hdr_value(const struct sip_msg *m, enum sip_hdr_id id)
{
	const struct sip_hdr *h = sip_msg_hdr(m, id);
	return h ? h->value : SIP_PL_NULL;
}

int sip_dialog_new_uas(const struct sip_msg *req, sip_pl local_tag, sip_pl local_contact,
                       struct sip_dialog **out)
{
	if (!req || !out || !sip_msg_is_request(req))
		return -EINVAL;
	*out = NULL;
	const struct sip_addr *to = sip_msg_to(req);
	if (sip_pl_isset(to->tag) || !sip_pl_is_token(local_tag))
		return -EINVAL;
	if (!local_contact.l || !one_line(local_contact))
		return -EINVAL;
	sip_pl target;
	if (the_contact(req, &target))
		return -EBADMSG;

	struct sip_dialog *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	struct layout_src s;
	memset(&s, 0, sizeof(s));
	s.part[F_CALL_ID][0] = sip_msg_call_id(req);
	s.part[F_LOCAL_TAG][0] = local_tag;
	s.part[F_REMOTE_TAG][0] = sip_msg_from(req)->tag;
	s.part[F_LOCAL_ADDR][0] = hdr_value(req, SIP_HDR_TO);
	s.part[F_LOCAL_ADDR][1] = SIP_PL(";tag=");
	s.part[F_LOCAL_ADDR][2] = local_tag;
	s.part[F_REMOTE_ADDR][0] = hdr_value(req, SIP_HDR_FROM);
	s.part[F_TARGET][0] = target;
	s.rr = req;
	s.rr_reverse = false;
	s.part[F_CONTACT][0] = local_contact;
	int err = layout(d, &s);
	if (err) {
		free(d);
		return err;
	}
	d->state = SIP_DIALOG_EARLY;
	d->uac = false;
	d->secure = request_secure(req);
	d->remote_cseq = sip_msg_cseq(req)->seq;
	d->remote_cseq_set = true;
	*out = d;
	return 0;
}

int sip_dialog_new_uac(const struct sip_msg *req, const struct sip_msg *resp, sip_pl local_contact,
                       struct sip_dialog **out)
{
	if (!req || !resp || !out || !sip_msg_is_request(req) || sip_msg_is_request(resp))
		return -EINVAL;
	*out = NULL;
	int status = sip_msg_status(resp);
	if (status <= 100 || status >= 300)
		return -ENOENT;
	sip_pl remote_tag = sip_msg_to(resp)->tag;
	if (!remote_tag.l)
		return -ENOENT;
	sip_pl local_tag = sip_msg_from(req)->tag;
	const struct sip_cseq *qc = sip_msg_cseq(req), *rc = sip_msg_cseq(resp);
	if (!local_tag.l || !sip_pl_eq(local_tag, sip_msg_from(resp)->tag) ||
	    !sip_pl_eq(sip_msg_call_id(req), sip_msg_call_id(resp)) || qc->seq != rc->seq ||
	    !sip_pl_eq(qc->method_name, rc->method_name))
		return -EINVAL;
	if (!local_contact.l || !one_line(local_contact))
		return -EINVAL;
	sip_pl target;
	int err = the_contact(resp, &target);
	if (err == -ENOENT && status < 200)
		target = sip_msg_ruri(req); /* until the 2xx brings one */
	else if (err)
		return -EBADMSG;

	struct sip_dialog *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	struct layout_src s;
	memset(&s, 0, sizeof(s));
	s.part[F_CALL_ID][0] = sip_msg_call_id(req);
	s.part[F_LOCAL_TAG][0] = local_tag;
	s.part[F_REMOTE_TAG][0] = remote_tag;
	s.part[F_LOCAL_ADDR][0] = hdr_value(req, SIP_HDR_FROM);
	s.part[F_REMOTE_ADDR][0] = hdr_value(resp, SIP_HDR_TO);
	s.part[F_TARGET][0] = target;
	s.rr = resp;
	s.rr_reverse = true;
	s.part[F_CONTACT][0] = local_contact;
	err = layout(d, &s);
	if (err) {
		free(d);
		return err;
	}
	d->state = status < 200 ? SIP_DIALOG_EARLY : SIP_DIALOG_CONFIRMED;
	d->uac = true;
	d->secure = request_secure(req);
	d->local_cseq = qc->seq;
	if (qc->method == SIP_METHOD_INVITE)
		d->last_invite_cseq = qc->seq;
	*out = d;
	return 0;
}

void sip_dialog_free(struct sip_dialog *d)
{
	if (!d)
		return;
	if (d->table)
		sip_dialog_table_remove(d->table, d);
	free(d->buf);
	free(d);
}

const char *sip_dialog_state_name(enum sip_dialog_state state)
{
	switch (state) {
	case SIP_DIALOG_EARLY:
		return "early";
	case SIP_DIALOG_CONFIRMED:
		return "confirmed";
	case SIP_DIALOG_TERMINATED:
		return "terminated";
	}
	return "?";
}

int sip_dialog_confirm(struct sip_dialog *d)
{
	if (d->state == SIP_DIALOG_TERMINATED)
		return -EPROTO;
	d->state = SIP_DIALOG_CONFIRMED;
	return 0;
}

void sip_dialog_terminate(struct sip_dialog *d)
{
	d->state = SIP_DIALOG_TERMINATED;
}

/* ---- requests out ---- */

/* Extra header lines: whole lines, each ending in CRLF and starting with a
 * header name and a colon. An empty line would end the header section early;
 * a line starting with white space would fold into the field before it. */
static bool extra_line_valid(const char *p, size_t len)
{
	size_t i = 0;
	while (i < len && sip_is_token_char((unsigned char)p[i]))
		i++;
	while (i > 0 && i < len && sip_is_wsp((unsigned char)p[i]))
		i++;
	return i > 0 && i < len && p[i] == ':';
}

static bool extra_headers_valid(sip_pl x)
{
	size_t start = 0;
	for (size_t i = 0; i < x.l; i++) {
		if (x.p[i] == '\n')
			return false; /* a bare LF */
		if (x.p[i] != '\r')
			continue;
		if (i + 1 >= x.l || x.p[i + 1] != '\n' || !extra_line_valid(x.p + start, i - start))
			return false;
		i++;
		start = i + 1;
	}
	return start == x.l;
}

/* A URI less its headers ("?..."), which a Request-URI cannot carry. */
static sip_pl uri_without_headers(const struct sip_addr *a)
{
	sip_pl u = a->uri_text;
	if (sip_pl_isset(a->uri.headers) && a->uri.headers.p > u.p)
		u.l = (size_t)(a->uri.headers.p - 1 - u.p);
	return u;
}

static int build(struct sip_dialog *d, enum sip_method method, uint32_t cseq_for_ack,
                 const struct sip_dialog_request_opts *o, struct sip_buf *out, sip_pl *next_hop)
{
	const char *name = sip_method_name(method);
	if (!name || !o || !out || !o->via.l || !one_line(o->via) ||
	    !extra_headers_valid(o->extra_headers))
		return -EINVAL;
	if (d->state == SIP_DIALOG_TERMINATED)
		return -EPROTO;
	bool reuses_invite = method == SIP_METHOD_ACK || method == SIP_METHOD_CANCEL;
	uint32_t cseq;
	if (reuses_invite) {
		cseq = cseq_for_ack ? cseq_for_ack : d->last_invite_cseq;
		if (!cseq)
			return -EINVAL;
	} else {
		if (d->local_cseq >= INT32_MAX)
			return -ERANGE;
		cseq = d->local_cseq + 1;
	}

	sip_pl target = fv(d, F_TARGET), routes = fv(d, F_ROUTES);
	sip_pl ruri = target, hop = target, route_rest = SIP_PL_NULL;
	bool strict = false;
	if (routes.l) {
		size_t pos = 0;
		sip_pl first;
		struct sip_addr a;
		if (!sip_list_next(routes, &pos, &first) || sip_addr_parse(first, &a))
			return -EINVAL; /* checked when stored: cannot happen */
		hop = a.uri_text;
		if (!a.uri.lr) {
			/* §12.2.1.1 strict routing: the first route becomes the
			 * Request-URI, the remote target the last Route */
			strict = true;
			ruri = uri_without_headers(&a);
			route_rest = sip_pl_trim((sip_pl){routes.p + pos, routes.l - pos});
			if (!route_rest.p)
				route_rest = SIP_PL_NULL;
		}
	}

	sip_build_request_line(out, sip_pl_from_cstr(name), ruri);
	sip_build_header(out, "Via", o->via);
	if (strict) {
		if (route_rest.l)
			sip_build_header_fmt(out, "Route", "%.*s, <%.*s>", (int)route_rest.l,
			                     route_rest.p, (int)target.l, target.p);
		else
			sip_build_header_fmt(out, "Route", "<%.*s>", (int)target.l, target.p);
	} else if (routes.l) {
		sip_build_header(out, "Route", routes);
	}
	sip_build_header(out, "Max-Forwards", SIP_PL("70"));
	sip_build_header(out, "From", fv(d, F_LOCAL_ADDR));
	sip_build_header(out, "To", fv(d, F_REMOTE_ADDR));
	sip_build_header(out, "Call-ID", fv(d, F_CALL_ID));
	sip_build_header_fmt(out, "CSeq", "%u %s", (unsigned)cseq, name);
	if (is_target_refresh(method))
		sip_build_header(out, "Contact", fv(d, F_CONTACT));
	if (o->extra_headers.l)
		sip_buf_append_pl(out, o->extra_headers);
	int err = sip_build_body(out, o->ctype, o->body);
	if (out->error)
		return out->error;
	if (err < 0)
		return err;

	if (!reuses_invite) {
		d->local_cseq = cseq;
		if (method == SIP_METHOD_INVITE)
			d->last_invite_cseq = cseq;
	}
	if (next_hop)
		*next_hop = hop;
	return 0;
}

int sip_dialog_build_request(struct sip_dialog *d, enum sip_method method,
                             const struct sip_dialog_request_opts *opts, struct sip_buf *out,
                             sip_pl *next_hop)
{
	if (!d)
		return -EINVAL;
	return build(d, method, opts ? opts->cseq : 0, opts, out, next_hop);
}

int sip_dialog_build_ack(struct sip_dialog *d, uint32_t invite_cseq,
                         const struct sip_dialog_request_opts *opts, struct sip_buf *out,
                         sip_pl *next_hop)
{
	if (!d)
		return -EINVAL;
	return build(d, SIP_METHOD_ACK, invite_cseq, opts, out, next_hop);
}

/* ---- messages in ---- */

static int refresh_target(struct sip_dialog *d, sip_pl target)
{
	if (sip_pl_eq(target, fv(d, F_TARGET)))
		return 0;
	struct layout_src s;
	src_keep(d, &s);
	s.part[F_TARGET][0] = target;
	return layout(d, &s);
}

int sip_dialog_receive_request(struct sip_dialog *d, const struct sip_msg *req)
{
	if (!d || !req || !sip_msg_is_request(req))
		return -EINVAL;
	if (d->state == SIP_DIALOG_TERMINATED ||
	    !sip_pl_eq(sip_msg_call_id(req), fv(d, F_CALL_ID)) ||
	    !sip_pl_eq(sip_msg_to(req)->tag, fv(d, F_LOCAL_TAG)) ||
	    !sip_pl_eq(sip_msg_from(req)->tag, fv(d, F_REMOTE_TAG)))
		return 481;
	enum sip_method method = sip_msg_method(req);
	if (method == SIP_METHOD_ACK || method == SIP_METHOD_CANCEL)
		return 0;
	uint32_t seq = sip_msg_cseq(req)->seq;
	if (d->remote_cseq_set && seq < d->remote_cseq)
		return 500;
	if (is_target_refresh(method)) {
		sip_pl target;
		int err = the_contact(req, &target);
		if (err == -EBADMSG || (err == -ENOENT && method == SIP_METHOD_INVITE))
			return 400;
		if (!err) {
			err = refresh_target(d, target);
			if (err)
				return err;
		}
	}
	d->remote_cseq = seq;
	d->remote_cseq_set = true;
	return 0;
}

int sip_dialog_receive_response(struct sip_dialog *d, const struct sip_msg *resp)
{
	if (!d || !resp || sip_msg_is_request(resp))
		return -EINVAL;
	if (!sip_pl_eq(sip_msg_call_id(resp), fv(d, F_CALL_ID)) ||
	    !sip_pl_eq(sip_msg_from(resp)->tag, fv(d, F_LOCAL_TAG)) ||
	    !sip_pl_eq(sip_msg_to(resp)->tag, fv(d, F_REMOTE_TAG)))
		return -EINVAL;
	if (d->state == SIP_DIALOG_TERMINATED)
		return 0;
	int status = sip_msg_status(resp);
	enum sip_method method = sip_msg_cseq(resp)->method;
	if (status == 481 || status == 408) {
		d->state = SIP_DIALOG_TERMINATED;
		return 0;
	}
	if (status >= 300) {
		if (method == SIP_METHOD_INVITE && d->state == SIP_DIALOG_EARLY)
			d->state = SIP_DIALOG_TERMINATED;
		return 0;
	}
	if (status < 200)
		return 0;
	sip_pl target;
	int err = the_contact(resp, &target);
	if (method == SIP_METHOD_INVITE && d->state == SIP_DIALOG_EARLY && d->uac) {
		/* §13.2.2.4: the 2xx recomputes the route set and the target */
		if (err)
			return -EBADMSG;
		struct layout_src s;
		src_keep(d, &s);
		s.part[F_TARGET][0] = target;
		s.rr = resp;
		s.rr_reverse = true;
		err = layout(d, &s);
		if (err)
			return err;
		d->state = SIP_DIALOG_CONFIRMED;
		return 0;
	}
	if (!is_target_refresh(method) || err == -ENOENT)
		return 0;
	if (err)
		return -EBADMSG;
	return refresh_target(d, target);
}

/* ---- accessors ---- */

enum sip_dialog_state sip_dialog_state(const struct sip_dialog *d)
{
	return d->state;
}
bool sip_dialog_is_uac(const struct sip_dialog *d)
{
	return d->uac;
}
bool sip_dialog_secure(const struct sip_dialog *d)
{
	return d->secure;
}
sip_pl sip_dialog_call_id(const struct sip_dialog *d)
{
	return fv(d, F_CALL_ID);
}
sip_pl sip_dialog_local_tag(const struct sip_dialog *d)
{
	return fv(d, F_LOCAL_TAG);
}
sip_pl sip_dialog_remote_tag(const struct sip_dialog *d)
{
	return fv(d, F_REMOTE_TAG);
}
sip_pl sip_dialog_local_addr(const struct sip_dialog *d)
{
	return fv(d, F_LOCAL_ADDR);
}
sip_pl sip_dialog_remote_addr(const struct sip_dialog *d)
{
	return fv(d, F_REMOTE_ADDR);
}
sip_pl sip_dialog_remote_target(const struct sip_dialog *d)
{
	return fv(d, F_TARGET);
}
sip_pl sip_dialog_route_set(const struct sip_dialog *d)
{
	return fv(d, F_ROUTES);
}
sip_pl sip_dialog_local_contact(const struct sip_dialog *d)
{
	return fv(d, F_CONTACT);
}
uint32_t sip_dialog_local_cseq(const struct sip_dialog *d)
{
	return d->local_cseq;
}
bool sip_dialog_remote_cseq(const struct sip_dialog *d, uint32_t *seq)
{
	if (d->remote_cseq_set && seq)
		*seq = d->remote_cseq;
	return d->remote_cseq_set;
}
void sip_dialog_set_user(struct sip_dialog *d, void *user)
{
	d->user = user;
}
void *sip_dialog_user(const struct sip_dialog *d)
{
	return d->user;
}

/* ---- the table ---- */

struct sip_dialog_table {
	struct sip_dialog **tab;
	size_t mask; /* buckets - 1, a power of two minus one */
	size_t count;
	uint64_t key[2]; /* the hash key */
};

#define TABLE_MIN_BUCKETS 64

/* SipHash-1-3 with the table's random 128-bit key: Call-IDs and tags are
 * chosen by peers, and with a keyed PRF they cannot aim many dialogs at one
 * bucket. The three parts are fed as one stream, each followed by its length,
 * so "ab"+"c" and "a"+"bc" differ. */
struct siphash {
	uint64_t v0, v1, v2, v3;
	uint64_t tail; /* bytes not yet compressed, little-endian */
	size_t len;
};

static inline uint64_t rotl64(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static void sip_round(struct siphash *h)
{
	h->v0 += h->v1;
	h->v1 = rotl64(h->v1, 13);
	h->v1 ^= h->v0;
	h->v0 = rotl64(h->v0, 32);
	h->v2 += h->v3;
	h->v3 = rotl64(h->v3, 16);
	h->v3 ^= h->v2;
	h->v0 += h->v3;
	h->v3 = rotl64(h->v3, 21);
	h->v3 ^= h->v0;
	h->v2 += h->v1;
	h->v1 = rotl64(h->v1, 17);
	h->v1 ^= h->v2;
	h->v2 = rotl64(h->v2, 32);
}

static void siphash_init(struct siphash *h, const uint64_t key[2])
{
	h->v0 = key[0] ^ 0x736f6d6570736575ull;
	h->v1 = key[1] ^ 0x646f72616e646f6dull;
	h->v2 = key[0] ^ 0x6c7967656e657261ull;
	h->v3 = key[1] ^ 0x7465646279746573ull;
	h->tail = 0;
	h->len = 0;
}

static void siphash_compress(struct siphash *h, uint64_t m)
{
	h->v3 ^= m;
	sip_round(h);
	h->v0 ^= m;
}

static void siphash_feed(struct siphash *h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h->tail |= (uint64_t)p[i] << (8 * (h->len & 7));
		if ((++h->len & 7) == 0) {
			siphash_compress(h, h->tail);
			h->tail = 0;
		}
	}
}

static uint64_t siphash_final(struct siphash *h)
{
	siphash_compress(h, h->tail | (uint64_t)(h->len & 0xff) << 56);
	h->v2 ^= 0xff;
	sip_round(h);
	sip_round(h);
	sip_round(h);
	return h->v0 ^ h->v1 ^ h->v2 ^ h->v3;
}

static uint64_t hash_key(const uint64_t key[2], sip_pl call_id, sip_pl local_tag, sip_pl remote_tag)
{
	struct siphash h;
	siphash_init(&h, key);
	const sip_pl parts[3] = {call_id, local_tag, remote_tag};
	for (int k = 0; k < 3; k++) {
		uint32_t len = (uint32_t)parts[k].l;
		if (parts[k].l)
			siphash_feed(&h, parts[k].p, parts[k].l);
		siphash_feed(&h, &len, sizeof(len));
	}
	return siphash_final(&h);
}

struct sip_dialog_table *sip_dialog_table_new(sip_random_fn fn, void *arg)
{
	struct sip_dialog_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->tab = calloc(TABLE_MIN_BUCKETS, sizeof(*t->tab));
	if (!t->tab ||
	    (fn ? fn(arg, t->key, sizeof(t->key)) : rand_openssl(NULL, t->key, sizeof(t->key)))) {
		free(t->tab);
		free(t);
		return NULL;
	}
	t->mask = TABLE_MIN_BUCKETS - 1;
	return t;
}

void sip_dialog_table_free(struct sip_dialog_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i <= t->mask; i++)
		for (struct sip_dialog *d = t->tab[i], *next; d; d = next) {
			next = d->hnext;
			d->hnext = NULL;
			d->table = NULL;
		}
	free(t->tab);
	free(t);
}

static bool key_eq(const struct sip_dialog *d, sip_pl call_id, sip_pl local_tag, sip_pl remote_tag)
{
	return sip_pl_eq(fv(d, F_CALL_ID), call_id) && sip_pl_eq(fv(d, F_LOCAL_TAG), local_tag) &&
	       sip_pl_eq(fv(d, F_REMOTE_TAG), remote_tag);
}

static struct sip_dialog *find_hashed(const struct sip_dialog_table *t, uint64_t h, sip_pl call_id,
                                      sip_pl local_tag, sip_pl remote_tag)
{
	for (struct sip_dialog *d = t->tab[h & t->mask]; d; d = d->hnext)
		if (d->hash == h && key_eq(d, call_id, local_tag, remote_tag))
			return d;
	return NULL;
}

/* Double the buckets when the load reaches one per bucket; a failed
 * allocation keeps the old size (longer chains, still correct). */
static void grow(struct sip_dialog_table *t)
{
	size_t n = (t->mask + 1) * 2;
	struct sip_dialog **tab = calloc(n, sizeof(*tab));
	if (!tab)
		return;
	for (size_t i = 0; i <= t->mask; i++)
		for (struct sip_dialog *d = t->tab[i], *next; d; d = next) {
			next = d->hnext;
			d->hnext = tab[d->hash & (n - 1)];
			tab[d->hash & (n - 1)] = d;
		}
	free(t->tab);
	t->tab = tab;
	t->mask = n - 1;
}

int sip_dialog_table_add(struct sip_dialog_table *t, struct sip_dialog *d)
{
	if (!t || !d)
		return -EINVAL;
	if (d->table)
		return -EBUSY;
	sip_pl cid = fv(d, F_CALL_ID), lt = fv(d, F_LOCAL_TAG), rt = fv(d, F_REMOTE_TAG);
	uint64_t h = hash_key(t->key, cid, lt, rt);
	if (find_hashed(t, h, cid, lt, rt))
		return -EEXIST;
	if (t->count >= t->mask + 1)
		grow(t);
	d->hash = h;
	d->hnext = t->tab[h & t->mask];
	t->tab[h & t->mask] = d;
	d->table = t;
	t->count++;
	return 0;
}

void sip_dialog_table_remove(struct sip_dialog_table *t, struct sip_dialog *d)
{
	if (!t || !d || d->table != t)
		return;
	for (struct sip_dialog **pp = &t->tab[d->hash & t->mask]; *pp; pp = &(*pp)->hnext)
		if (*pp == d) {
			*pp = d->hnext;
			d->hnext = NULL;
			d->table = NULL;
			t->count--;
			return;
		}
}

struct sip_dialog *sip_dialog_table_find(const struct sip_dialog_table *t, sip_pl call_id,
                                         sip_pl local_tag, sip_pl remote_tag)
{
	if (!t)
		return NULL;
	return find_hashed(t, hash_key(t->key, call_id, local_tag, remote_tag), call_id, local_tag,
	                   remote_tag);
}

struct sip_dialog *sip_dialog_table_find_request(const struct sip_dialog_table *t,
                                                 const struct sip_msg *req)
{
	if (!t || !req || !sip_msg_is_request(req))
		return NULL;
	sip_pl local_tag = sip_msg_to(req)->tag;
	if (!local_tag.l)
		return NULL;
	return sip_dialog_table_find(t, sip_msg_call_id(req), local_tag, sip_msg_from(req)->tag);
}

struct sip_dialog *sip_dialog_table_find_response(const struct sip_dialog_table *t,
                                                  const struct sip_msg *resp)
{
	if (!t || !resp || sip_msg_is_request(resp))
		return NULL;
	sip_pl remote_tag = sip_msg_to(resp)->tag;
	if (!remote_tag.l)
		return NULL;
	return sip_dialog_table_find(t, sip_msg_call_id(resp), sip_msg_from(resp)->tag, remote_tag);
}

size_t sip_dialog_table_count(const struct sip_dialog_table *t)
{
	return t ? t->count : 0;
}
