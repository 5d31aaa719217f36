/* ua_world.h — the sans-I/O world the UA tests run in: two sides (A, the
 * caller, and B, the callee), each a real transaction layer and a real UA,
 * joined by a fake wire that records every message with the time it left,
 * a fake clock, and fake SDHs that write numbered descriptions. A side can
 * also be "raw": no UA, the test writes its messages by hand and reads what
 * the other side sent from the wire. */
#ifndef SIPWIRE_TEST_UA_WORLD_H
#define SIPWIRE_TEST_UA_WORLD_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_build.h"
#include "sip/sip_msg.h"
#include "sip/sip_txn.h"
#include "sip/sip_ua.h"

/* ---- the wire ---- */
#define MAXW 2048
struct wmsg {
	int from; /* 0: A, 1: B */
	uint64_t at;
	char *bytes;
	size_t len;
	bool dropped;
	bool delivered;
};
static struct wmsg wire[MAXW];
static size_t nwire, next_deliver;
static uint64_t now;
/* return true to drop a message (loss on the wire) */
static bool (*dropper)(const struct wmsg *m);

/* ---- the fake SDH ---- */
struct fsdh {
	char name;
	int n_get, n_set, n_close, n_rollback;
	int fail_set, fail_get; /* errno to return, 0: none */
	unsigned version;
	char remote[2048];
	size_t rlen;
	const void *last_opts;
};
static int fsdh_get(void *ctx, const void *options, char *buf, size_t size, size_t *len,
                    const char **ctype)
{
	struct fsdh *f = ctx;
	f->n_get++;
	f->last_opts = options;
	if (f->fail_get)
		return -f->fail_get;
	int n = snprintf(buf, size,
	                 "v=0\r\no=%c 1 %u IN IP4 192.0.2.%d\r\ns=-\r\nc=IN IP4 192.0.2.%d\r\n"
	                 "t=0 0\r\nm=audio %d RTP/AVP 0\r\n",
	                 f->name, ++f->version, f->name, f->name, 4000 + f->name);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	*len = (size_t)n;
	*ctype = "application/sdp";
	return 0;
}
static int fsdh_set(void *ctx, const char *ctype, const char *body, size_t len,
                    const void *options)
{
	struct fsdh *f = ctx;
	f->n_set++;
	f->last_opts = options;
	cr_assert_str_eq(ctype, "application/sdp");
	if (f->fail_set)
		return -f->fail_set;
	cr_assert_lt(len, sizeof(f->remote));
	memcpy(f->remote, body, len);
	f->remote[len] = '\0';
	f->rlen = len;
	return 0;
}
static bool fsdh_has(void *ctx, const char *ctype, size_t len)
{
	(void)ctx;
	return len > 0 && strcmp(ctype, "application/sdp") == 0;
}
static void fsdh_rollback(void *ctx) { ((struct fsdh *)ctx)->n_rollback++; }
static void fsdh_close(void *ctx) { ((struct fsdh *)ctx)->n_close++; }
static const struct sip_sdh_ops fsdh_ops = {
    .get_description = fsdh_get,
    .set_description = fsdh_set,
    .has_description = fsdh_has,
    .rollback_description = fsdh_rollback,
    .close = fsdh_close,
};

/* ---- a side ---- */
struct rec {
	int n_bye, n_cancel, n_info, n_message, n_refer, n_notify, n_reinvite, n_description;
	int n_trying, n_progress, n_accept, n_reject, n_redirect, last_reject;
	int last_progress;
	struct sip_incoming_request *pending; /* kept by "answer later" delegates */
	bool answer_later;
	char states[512]; /* "Establishing Established ..." */
};
struct side {
	int idx;
	char flow; /* its address is the flow this side sends on */
	bool raw;
	struct sip_txn_layer *txn;
	struct sip_ua *ua;
	struct sip_ua_transport tp;
	struct fsdh sdh;
	struct rec rec;
	struct sip_session *inv; /* the last Invitation raised (referenced) */
	struct sip_session *held[16];
	int n_invitations;
	/* test hook run from on_invite after the SDH and delegate are set */
	void (*on_invite)(struct side *sd, struct sip_session *s);
	/* the owner disposes of an Inviter from its on_reject (a B2BUA ending
	 * every leg of a call that failed) */
	bool dispose_on_reject;
	char log[8][256];
	int nlog;
};
static struct side S[2];
#define A (&S[0])
#define B (&S[1])
static bool reliable_flows;
static unsigned rnd_counter;

static uint64_t clock_ms(void *arg)
{
	(void)arg;
	return now;
}

/* Repeatable randomness: a counter through a small mixer. */
static int fake_random(void *arg, void *buf, size_t len)
{
	(void)arg;
	unsigned char *p = buf;
	for (size_t i = 0; i < len; i++) {
		uint32_t x = ++rnd_counter * 2654435761u;
		x ^= x >> 15;
		p[i] = (unsigned char)x;
	}
	return 0;
}
/* the next ua_random_u32 draws return these values, in order */
static uint32_t forced_q[8];
static int forced_n, forced_i;
static inline void force_u32(uint32_t v)
{
	cr_assert_lt(forced_n, 8);
	forced_q[forced_n++] = v;
}
static int fake_random_forced(void *arg, void *buf, size_t len)
{
	if (forced_i < forced_n && len == 4) {
		memcpy(buf, &forced_q[forced_i++], 4);
		return 0;
	}
	return fake_random(arg, buf, len);
}

static int wire_send(void *arg, const struct sip_txn_dest *dest, const char *bytes, size_t len)
{
	struct side *sd = arg;
	cr_assert_eq(dest->flow, &sd->flow, "side %c sent on a foreign flow", "AB"[sd->idx]);
	cr_assert_lt(nwire, MAXW);
	struct wmsg *m = &wire[nwire++];
	m->from = sd->idx;
	m->at = now;
	m->bytes = malloc(len + 1);
	memcpy(m->bytes, bytes, len);
	m->bytes[len] = '\0';
	m->len = len;
	m->dropped = dropper && dropper(m);
	m->delivered = false;
	return 0;
}

static void side_log(void *arg, const char *line)
{
	struct side *sd = arg;
	snprintf(sd->log[sd->nlog % 8], sizeof(sd->log[0]), "%s", line);
	sd->nlog++;
}

static void rec_state(void *arg, struct sip_session *s, enum sip_session_state st)
{
	struct rec *r = arg;
	(void)s;
	size_t n = strlen(r->states);
	snprintf(r->states + n, sizeof(r->states) - n, "%s%s", n ? " " : "",
	         sip_session_state_name(st));
}

/* ---- session delegates: count, and answer now or keep for later ---- */
static struct rec *rec_of(void *data) { return &((struct side *)data)->rec; }
static void keep_or_accept(struct rec *r, struct sip_incoming_request *rq)
{
	if (r->answer_later)
		r->pending = rq;
	else
		cr_assert_eq(sip_incoming_accept(rq, NULL), 0);
}
static void d_bye(void *data, struct sip_session *s, const struct sip_msg *m)
{
	(void)s;
	cr_assert_eq(sip_msg_method(m), SIP_METHOD_BYE);
	rec_of(data)->n_bye++;
}
static void d_info(void *data, struct sip_session *s, struct sip_incoming_request *rq)
{
	(void)s;
	rec_of(data)->n_info++;
	keep_or_accept(rec_of(data), rq);
}
static void d_message(void *data, struct sip_session *s, struct sip_incoming_request *rq)
{
	(void)s;
	rec_of(data)->n_message++;
	keep_or_accept(rec_of(data), rq);
}
static void d_refer(void *data, struct sip_session *s, struct sip_incoming_request *rq)
{
	(void)s;
	rec_of(data)->n_refer++;
	keep_or_accept(rec_of(data), rq);
}
static void d_notify(void *data, struct sip_session *s, struct sip_incoming_request *rq)
{
	(void)s;
	rec_of(data)->n_notify++;
	keep_or_accept(rec_of(data), rq);
}
static void d_invite(void *data, struct sip_session *s, struct sip_incoming_request *rq)
{
	(void)s;
	rec_of(data)->n_reinvite++;
	keep_or_accept(rec_of(data), rq);
}
static void d_cancel(void *data, struct sip_session *s, const struct sip_msg *m)
{
	(void)s;
	cr_assert_eq(sip_msg_method(m), SIP_METHOD_CANCEL);
	rec_of(data)->n_cancel++;
}
static void d_description(void *data, struct sip_session *s)
{
	(void)s;
	rec_of(data)->n_description++;
}
static const struct sip_session_delegate full_delegate = {
    .on_bye = d_bye,
    .on_info = d_info,
    .on_message = d_message,
    .on_refer = d_refer,
    .on_notify = d_notify,
    .on_invite = d_invite,
    .on_cancel = d_cancel,
    .on_description = d_description,
};
static const struct sip_session_delegate bye_only_delegate = {
    .on_bye = d_bye,
    .on_cancel = d_cancel,
    .on_description = d_description,
};
static bool use_full_delegate;

/* request delegates */
static void q_trying(void *data, struct sip_session *s, const struct sip_msg *m)
{
	(void)s;
	(void)m;
	rec_of(data)->n_trying++;
}
static void q_progress(void *data, struct sip_session *s, const struct sip_msg *m)
{
	(void)s;
	rec_of(data)->n_progress++;
	rec_of(data)->last_progress = sip_msg_status(m);
}
static void q_accept(void *data, struct sip_session *s, const struct sip_msg *m)
{
	(void)s;
	(void)m;
	rec_of(data)->n_accept++;
}
static void q_reject(void *data, struct sip_session *s, int status, const struct sip_msg *m)
{
	(void)s;
	if (m)
		cr_assert_eq(sip_msg_status(m), status);
	rec_of(data)->n_reject++;
	rec_of(data)->last_reject = status;
	if (((struct side *)data)->dispose_on_reject)
		cr_assert_eq(sip_session_dispose(s), 0);
}
static void q_redirect(void *data, struct sip_session *s, const struct sip_msg *m)
{
	(void)s;
	(void)m;
	rec_of(data)->n_redirect++;
}
static struct sip_request_delegate req_delegate(struct side *sd)
{
	return (struct sip_request_delegate){.on_trying = q_trying,
	                                     .on_progress = q_progress,
	                                     .on_accept = q_accept,
	                                     .on_reject = q_reject,
	                                     .on_redirect = q_redirect,
	                                     .data = sd};
}

static void ua_on_invite(void *arg, struct sip_session *s)
{
	struct side *sd = arg;
	sd->inv = s;
	cr_assert_lt(sd->n_invitations, 16);
	sd->held[sd->n_invitations] = sip_session_ref(s);
	sd->n_invitations++;
	sip_session_set_sdh(s, (struct sip_sdh){&fsdh_ops, &sd->sdh});
	sip_session_set_delegate(s, use_full_delegate ? &full_delegate : &bye_only_delegate, sd);
	cr_assert_eq(sip_session_add_state_listener(s, rec_state, &sd->rec), 0);
	if (sd->on_invite)
		sd->on_invite(sd, s);
}

static void txn_on_request(void *arg, struct sip_txn *txn, const struct sip_msg *msg)
{
	struct side *sd = arg;
	int rc = sip_ua_receive_request(sd->ua, txn, msg, &sd->tp);
	if (rc == -ENOENT) {
		/* out-of-dialog, not the UA's: the owner answers 501 here */
		struct sip_buf b;
		sip_buf_init(&b, 0);
		sip_build_response(&b, msg, 501, NULL, SIP_PL("own"));
		sip_build_body(&b, NULL, SIP_PL_NULL);
		sip_txn_server_respond(txn, b.p, b.len, now);
		sip_buf_free(&b);
	}
}

static void side_init(struct side *sd, int idx, bool raw, bool auto_180, uint32_t session_expires)
{
	memset(sd, 0, sizeof(*sd));
	sd->idx = idx;
	sd->raw = raw;
	sd->sdh.name = idx ? 'B' : 'A';
	sd->tp.dest = (struct sip_txn_dest){.flow = &sd->flow, .reliable = reliable_flows};
	sd->tp.via = idx ? "SIP/2.0/UDP 192.0.2.2:5060;rport" : "SIP/2.0/UDP 192.0.2.1:5060;rport";
	sd->tp.contact = idx ? "<sip:bob@192.0.2.2:5060>" : "<sip:alice@192.0.2.1:5060>";
	if (raw)
		return;
	struct sip_txn_layer_config tc = {
	    .timers = SIP_TXN_TIMERS_DEFAULT,
	    .trying_delay_ms = SIP_TXN_NO_TRYING,
	    .cb = {.send = wire_send, .on_request = txn_on_request, .on_log = side_log},
	    .arg = sd,
	};
	sd->txn = sip_txn_layer_new(&tc);
	cr_assert_not_null(sd->txn);
	struct sip_ua_config uc = {
	    .txn = sd->txn,
	    .now_ms = clock_ms,
	    .random = fake_random_forced,
	    .auto_180 = auto_180,
	    .session_expires = session_expires,
	    .cb = {.send = wire_send, .on_invite = ua_on_invite, .on_log = side_log},
	    .arg = sd,
	};
	sd->ua = sip_ua_new(&uc);
	cr_assert_not_null(sd->ua);
}

static void world_init(bool b_raw, bool auto_180)
{
	for (size_t i = 0; i < nwire; i++)
		free(wire[i].bytes);
	nwire = next_deliver = 0;
	now = 1000;
	dropper = NULL;
	rnd_counter = 0;
	forced_n = forced_i = 0;
	use_full_delegate = false;
	side_init(A, 0, false, false, 0);
	side_init(B, 1, b_raw, auto_180, 0);
}

static void world_free(void)
{
	for (int i = 0; i < 2; i++) {
		sip_ua_free(S[i].ua);
		sip_txn_layer_free(S[i].txn);
		S[i].ua = NULL;
		S[i].txn = NULL;
		for (int k = 0; k < S[i].n_invitations; k++)
			sip_session_unref(S[i].held[k]);
		S[i].n_invitations = 0;
	}
	for (size_t i = 0; i < nwire; i++)
		free(wire[i].bytes);
	nwire = next_deliver = 0;
}

/* Hand every undelivered message to the other side. */
static void pump(void)
{
	static struct sip_msg *m;
	static char buf[65536];
	if (!m)
		m = sip_msg_new(NULL);
	while (next_deliver < nwire) {
		struct wmsg *w = &wire[next_deliver++];
		struct side *to = &S[1 - w->from];
		if (w->dropped || to->raw)
			continue;
		w->delivered = true;
		memcpy(buf, w->bytes, w->len);
		size_t used;
		struct sip_parse_error err;
		cr_assert_eq(sip_msg_parse(m, buf, w->len, SIP_PARSE_DATAGRAM, &used, &err),
		             SIP_PARSE_OK, "unparsable on the wire: %s\n%s", err.reason, w->bytes);
		struct sip_txn_dest from = {.flow = &to->flow, .reliable = reliable_flows};
		int rc = sip_txn_layer_recv(to->txn, m, &from, now);
		if (rc == SIP_TXN_RECV_STRAY && sip_msg_is_request(m))
			sip_ua_receive_ack(to->ua, m, &from);
	}
}

static uint64_t earliest(void)
{
	uint64_t d = UINT64_MAX;
	for (int i = 0; i < 2; i++) {
		if (S[i].raw)
			continue;
		uint64_t x = sip_txn_layer_next_deadline(S[i].txn);
		if (x < d)
			d = x;
		x = sip_ua_next_deadline(S[i].ua);
		if (x < d)
			d = x;
	}
	return d;
}

/* Deliver, then run every timer of both sides on its exact deadline up to t. */
static void run_until(uint64_t t)
{
	pump();
	for (;;) {
		uint64_t d = earliest();
		if (d > t)
			break;
		cr_assert_geq(d, now, "a deadline in the past");
		now = d;
		for (int i = 0; i < 2; i++) {
			if (S[i].raw)
				continue;
			sip_txn_layer_tick(S[i].txn, now);
			sip_ua_tick(S[i].ua);
		}
		pump();
	}
	now = t;
	pump();
}
static void run_for(uint64_t ms) { run_until(now + ms); }

/* Inject a message from the raw side B (its text with "\n" line ends is
 * turned into CRLF; Content-Length is computed when the text has
 * "Content-Length: *"). */
static void inject_from(int from, const char *text)
{
	char buf[8192];
	size_t n = 0;
	for (const char *p = text; *p && n + 2 < sizeof(buf); p++) {
		if (*p == '\n')
			buf[n++] = '\r';
		buf[n++] = *p;
	}
	buf[n] = '\0';
	char *cl = strstr(buf, "Content-Length: *");
	if (cl) {
		char *body = strstr(buf, "\r\n\r\n");
		cr_assert_not_null(body);
		size_t blen = strlen(body + 4);
		char tail[8192];
		snprintf(tail, sizeof(tail), "%s", cl + strlen("Content-Length: *"));
		snprintf(cl, sizeof(buf) - (size_t)(cl - buf), "Content-Length: %zu%s", blen, tail);
	}
	cr_assert_lt(nwire, MAXW);
	struct wmsg *m = &wire[nwire++];
	m->from = from;
	m->at = now;
	m->len = strlen(buf);
	m->bytes = malloc(m->len + 1);
	memcpy(m->bytes, buf, m->len + 1);
	m->dropped = false;
	pump();
}

/* ---- reading the wire ---- */

/* The nth (0-based) message from side `from` whose start line begins with
 * `start` ("INVITE ", "SIP/2.0 200", "ACK "...), or NULL. */
static struct wmsg *sent_nth(int from, const char *start, int nth)
{
	for (size_t i = 0; i < nwire; i++) {
		if (wire[i].from != from || strncmp(wire[i].bytes, start, strlen(start)) != 0)
			continue;
		if (nth-- == 0)
			return &wire[i];
	}
	return NULL;
}
static int sent_count(int from, const char *start)
{
	int n = 0;
	while (sent_nth(from, start, n))
		n++;
	return n;
}
/* A response whose CSeq method is `method` ("SIP/2.0 200" + "INVITE"). */
static struct wmsg *sent_resp(int from, const char *status, const char *method, int nth)
{
	char want[64];
	snprintf(want, sizeof(want), " %s\r\n", method);
	for (size_t i = 0; i < nwire; i++) {
		if (wire[i].from != from || strncmp(wire[i].bytes, status, strlen(status)) != 0)
			continue;
		const char *cseq = strstr(wire[i].bytes, "\r\nCSeq: ");
		if (!cseq)
			continue;
		const char *eol = strstr(cseq + 2, "\r\n");
		const char *sp = cseq + 8;
		while (sp < eol && *sp != ' ')
			sp++;
		if (strncmp(sp, want, strlen(want)) != 0)
			continue;
		if (nth-- == 0)
			return &wire[i];
	}
	return NULL;
}
static int resp_count(int from, const char *status, const char *method)
{
	int n = 0;
	while (sent_resp(from, status, method, n))
		n++;
	return n;
}
/* The value of header `name` (first one) in m, in a static buffer; "" when
 * absent. */
static const char *hdr(const struct wmsg *m, const char *name)
{
	static char out[4][1024];
	static int k;
	char *o = out[k++ % 4];
	o[0] = '\0';
	cr_assert_not_null(m);
	char pat[64];
	snprintf(pat, sizeof(pat), "\r\n%s: ", name);
	const char *p = strstr(m->bytes, pat);
	const char *end = strstr(m->bytes, "\r\n\r\n");
	if (!p || (end && p > end))
		return o;
	p += strlen(pat);
	const char *e = strstr(p, "\r\n");
	snprintf(o, 1024, "%.*s", (int)(e - p), p);
	return o;
}
static const char *body_of(const struct wmsg *m)
{
	const char *b = strstr(m->bytes, "\r\n\r\n");
	return b ? b + 4 : "";
}

/* A copy of header `name` of m, e.g. to echo a Via or Call-ID. */
static void hdr_copy(const struct wmsg *m, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s", hdr(m, name));
}

/* A response from the raw side B to request req. */
static const char *raw_extra; /* a header line (no line end) for the next answer */
static void answer_from_raw(const struct wmsg *req, int status, const char *to_tag,
                            const char *contact, const char *body)
{
	const char *extra = raw_extra;
	raw_extra = NULL;
	char via[256], from[256], to[256], cid[128], cseq[64], text[4096];
	hdr_copy(req, "Via", via, sizeof(via));
	hdr_copy(req, "From", from, sizeof(from));
	hdr_copy(req, "To", to, sizeof(to));
	hdr_copy(req, "Call-ID", cid, sizeof(cid));
	hdr_copy(req, "CSeq", cseq, sizeof(cseq));
	snprintf(text, sizeof(text),
	         "SIP/2.0 %d Whatever\nVia: %s\nFrom: %s\nTo: %s%s%s\nCall-ID: %s\nCSeq: %s\n"
	         "%s%s%s%s%s%s"
	         "Content-Length: *\n\n%s",
	         status, via, from, to, to_tag ? ";tag=" : "", to_tag ? to_tag : "", cid, cseq,
	         contact ? "Contact: " : "", contact ? contact : "", contact ? "\n" : "",
	         extra ? extra : "", extra ? "\n" : "",
	         body ? "Content-Type: application/sdp\n" : "", body ? body : "");
	inject_from(1, text);
}

/* ---- making calls ---- */

static struct sip_session *make_inviter(struct side *sd, bool rel100)
{
	struct sip_inviter_opts o = {
	    .request_uri = "sip:bob@192.0.2.2:5060",
	    .from = "\"Alice\" <sip:alice@example.com>",
	    .to = "<sip:bob@example.com>",
	    .transport = sd->tp,
	    .sdh = {&fsdh_ops, &sd->sdh},
	    .delegate = use_full_delegate ? &full_delegate : &bye_only_delegate,
	    .data = sd,
	    .rel100 = rel100,
	    .early_media = true,
	};
	struct sip_session *s = NULL;
	cr_assert_eq(sip_inviter_new(sd->ua, &o, &s), 0);
	cr_assert_eq(sip_session_add_state_listener(s, rec_state, &sd->rec), 0);
	return s;
}

static struct sip_request_delegate inv_delegate_a;
static int invite_now(struct sip_session *s, struct side *sd)
{
	inv_delegate_a = req_delegate(sd);
	return sip_inviter_invite(s, &(struct sip_invite_opts){.delegate = &inv_delegate_a});
}

static void accept_in_on_invite(struct side *sd, struct sip_session *s)
{
	(void)sd;
	cr_assert_eq(sip_invitation_accept(s, NULL), 0);
}

/* A established call A -> B over the loopback; returns A's session. */
static struct sip_session *established_call(void)
{
	B->on_invite = accept_in_on_invite;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	cr_assert_not_null(B->inv);
	cr_assert_eq(sip_session_state(B->inv), SIP_SESSION_ESTABLISHED);
	B->on_invite = NULL;
	return a;
}

#endif
