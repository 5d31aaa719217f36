/* sip_ua_dialog.c — requests inside a session's dialog, both ways: BYE,
 * INFO, MESSAGE, re-INVITE (with glare handling, RFC 3261 §14), UPDATE (RFC
 * 3311), PRACK (RFC 3262), REFER and its NOTIFYs (RFC 3515, 3891), and the
 * session timer (RFC 4028). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_ua_priv.h"

#define MIN_SE 90u

/* ---- outgoing requests ---- */

static void req_on_response(void *user, struct sip_txn *txn, const struct sip_msg *msg);
static void req_on_timeout(void *user, struct sip_txn *txn);
static void req_on_tp_error(void *user, struct sip_txn *txn);
static void req_on_terminated(void *user, struct sip_txn *txn);
static const struct sip_txn_user req_user = {
    .on_response = req_on_response,
    .on_timeout = req_on_timeout,
    .on_transport_error = req_on_tp_error,
    .on_terminated = req_on_terminated,
};

static void req_unlink(struct ua_request *r)
{
	struct sip_ua *ua = r->ua;
	if (!ua)
		return;
	if (r->prev)
		r->prev->next = r->next;
	else
		ua->requests = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->ua = NULL;
}

static void req_free(struct ua_request *r)
{
	req_unlink(r);
	if (r->s && r->s->out_reinvite == r)
		r->s->out_reinvite = NULL;
	sip_buf_free(&r->ack);
	struct sip_session *s = r->s;
	free(r);
	ua_session_release(s);
}

void ua_request_detach_all(struct sip_ua *ua)
{
	while (ua->requests) {
		struct ua_request *r = ua->requests;
		if (r->txn)
			sip_txn_set_user(r->txn, NULL, NULL);
		r->txn = NULL;
		req_free(r);
	}
}

int ua_request_start(struct sip_session *s, enum ua_req_kind kind, enum sip_method m, uint32_t cseq,
                     const char *bytes, size_t len, const struct sip_request_delegate *delegate,
                     struct ua_request **out)
{
	struct sip_ua *ua = s->ua;
	if (!ua)
		return -EPROTO;
	if (s->flow_dead)
		return -ENOTCONN;
	struct ua_request *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ua = ua;
	r->s = ua_session_hold(s);
	r->kind = kind;
	r->method = m;
	r->cseq = cseq;
	if (delegate)
		r->delegate = *delegate;
	sip_buf_init(&r->ack, 0);
	r->next = ua->requests;
	if (ua->requests)
		ua->requests->prev = r;
	ua->requests = r;
	int rc = sip_txn_client_new(ua->cfg.txn, bytes, len, &s->dest, ua_now(ua), &req_user, r,
	                            &r->txn);
	if (rc) {
		ua_log(ua, s, "sending %s failed (%d)", sip_method_name(m), rc);
		r->txn = NULL;
		req_free(r);
		return rc;
	}
	if (out)
		*out = r;
	return 0;
}

static void caps_headers(struct sip_session *s, struct sip_buf *b)
{
	sip_buf_printf(b, "Allow: %s\r\nSupported: %s\r\n", s->ua->allow, s->ua->supported);
}

int ua_send_request(struct sip_session *s, struct sip_dialog *d, enum sip_method m,
                    enum ua_req_kind kind, const struct sip_request_opts *opts, const char *extra2,
                    struct ua_request **out)
{
	struct sip_ua *ua = s->ua;
	if (!ua)
		return -EPROTO;
	if (!d)
		d = s->dialog;
	if (!d)
		return -EPROTO;
	char via[512];
	int rc = ua_via(s, via, sizeof(via));
	if (rc)
		return rc;
	struct sip_buf extra, b;
	sip_buf_init(&extra, 0);
	sip_buf_init(&b, 0);
	if (m == SIP_METHOD_INVITE || m == SIP_METHOD_UPDATE)
		caps_headers(s, &extra);
	sip_buf_printf(&extra, "User-Agent: %s\r\n", ua->user_agent);
	if (extra2)
		sip_buf_append(&extra, extra2, strlen(extra2));
	if (opts && opts->extra_headers)
		sip_buf_append(&extra, opts->extra_headers, strlen(opts->extra_headers));
	rc = extra.error;
	if (!rc) {
		struct sip_dialog_request_opts o = {
		    .via = sip_pl_from_cstr(via),
		    .extra_headers = sip_buf_pl(&extra),
		    .body = opts && opts->body ? (sip_pl){opts->body, opts->body_len} : SIP_PL_NULL,
		    .ctype = opts ? opts->ctype : NULL,
		};
		rc = sip_dialog_build_request(d, m, &o, &b, NULL);
	}
	if (!rc)
		rc = ua_request_start(s, kind, m, sip_dialog_local_cseq(d), b.p, b.len,
		                      opts ? opts->delegate : NULL, out);
	sip_buf_free(&extra);
	sip_buf_free(&b);
	return rc;
}

static void reinvite_done(struct sip_session *s, struct ua_request *r, int status,
                          const struct sip_msg *resp);

/* A request's final outcome for a session still alive. */
static void req_final(struct ua_request *r, int status, const struct sip_msg *resp,
                      enum sip_end_reason fail_reason)
{
	struct sip_session *s = r->s;
	if (r->final_seen)
		return;
	r->final_seen = true;
	if (resp && s->dialog && r->kind != UR_LATE_BYE && r->kind != UR_CANCEL)
		sip_dialog_receive_response(s->dialog, resp);
	if (s->state == SIP_SESSION_TERMINATED)
		return;
	switch (r->kind) {
	case UR_BYE:
		ua_terminate(s, SIP_END_BYE_SENT);
		return;
	case UR_LATE_BYE:
	case UR_CANCEL:
		return;
	case UR_REINVITE:
		reinvite_done(s, r, status, resp);
		break;
	case UR_PLAIN:
		if (r->method == SIP_METHOD_UPDATE && s->out_reinvite == r)
			reinvite_done(s, r, status, resp);
		else if (status >= 200 && status < 300 && r->delegate.on_accept)
			r->delegate.on_accept(r->delegate.data, s, resp);
		else if (status >= 300 && r->delegate.on_reject)
			r->delegate.on_reject(r->delegate.data, s, status, resp);
		break;
	}
	/* §12.2.1.2: 481 and 408 end the dialog, and so the session */
	if ((status == 481 || status == 408) && s->state != SIP_SESSION_TERMINATED &&
	    r->method != SIP_METHOD_PRACK) {
		ua_log(s->ua, s, "%s answered %d: the session is over", sip_method_name(r->method),
		       status);
		ua_terminate(s, fail_reason);
	}
}

static void req_on_response(void *user, struct sip_txn *txn, const struct sip_msg *msg)
{
	struct ua_request *r = user;
	(void)txn;
	if (!r || !r->ua)
		return;
	struct sip_ua *ua = r->ua;
	struct sip_session *s = r->s;
	ua_enter(ua);
	ua_session_hold(s);
	int status = sip_msg_status(msg);
	if (status < 200) {
		if (r->kind == UR_REINVITE && s->state != SIP_SESSION_TERMINATED &&
		    s->rinv_delegate.on_progress && !s->rinv_refresh)
			s->rinv_delegate.on_progress(s->rinv_delegate.data, s, msg);
	} else if (r->kind == UR_REINVITE && status < 300 && r->final_seen) {
		if (r->ack.len) /* a 2xx retransmission: ACK again */
			ua->cfg.cb.send(ua->cfg.arg, &s->dest, r->ack.p, r->ack.len);
	} else {
		req_final(r, status, msg, status == 408 ? SIP_END_TIMEOUT : SIP_END_ERROR);
	}
	ua_session_release(s);
	ua_leave(ua);
}

static void req_on_timeout(void *user, struct sip_txn *txn)
{
	struct ua_request *r = user;
	(void)txn;
	if (!r || !r->ua)
		return;
	struct sip_ua *ua = r->ua;
	ua_enter(ua);
	ua_session_hold(r->s);
	struct sip_session *s = r->s;
	if (s->dialog && r->kind != UR_LATE_BYE && r->kind != UR_CANCEL && r->kind != UR_BYE &&
	    r->method != SIP_METHOD_PRACK)
		sip_dialog_terminate(s->dialog);
	req_final(r, 408, NULL, SIP_END_TIMEOUT);
	ua_session_release(s);
	ua_leave(ua);
}

static void req_on_tp_error(void *user, struct sip_txn *txn)
{
	struct ua_request *r = user;
	(void)txn;
	if (!r || !r->ua)
		return;
	struct sip_ua *ua = r->ua;
	ua_enter(ua);
	struct sip_session *s = ua_session_hold(r->s);
	req_final(r, 503, NULL, SIP_END_TRANSPORT);
	if (s->state != SIP_SESSION_TERMINATED && r->kind != UR_LATE_BYE)
		ua_terminate(s, SIP_END_TRANSPORT);
	ua_session_release(s);
	ua_leave(ua);
}

static void req_on_terminated(void *user, struct sip_txn *txn)
{
	struct ua_request *r = user;
	(void)txn;
	if (!r)
		return;
	struct sip_ua *ua = r->ua;
	if (ua)
		ua_enter(ua);
	r->txn = NULL;
	req_free(r);
	if (ua)
		ua_leave(ua);
}

/* ---- incoming requests handed to the owner ---- */

void ua_incoming_free(struct sip_incoming_request *rq)
{
	if (!rq)
		return;
	struct sip_session *s = rq->s;
	if (s) {
		struct sip_incoming_request **pp = &s->incoming;
		while (*pp && *pp != rq)
			pp = &(*pp)->next;
		if (*pp)
			*pp = rq->next;
		if (s->in_offer == rq)
			s->in_offer = NULL;
	}
	if (rq->txn)
		sip_txn_set_user(rq->txn, NULL, NULL);
	sip_msg_free(rq->msg);
	free(rq->bytes);
	free(rq);
	ua_session_release(s);
}

static void rq_txn_terminated(void *user, struct sip_txn *txn)
{
	struct sip_incoming_request *rq = user;
	(void)txn;
	if (rq)
		rq->txn = NULL;
}
static const struct sip_txn_user rq_user = {.on_terminated = rq_txn_terminated};

static struct sip_incoming_request *incoming_new(struct sip_session *s, struct sip_txn *txn,
                                                 const struct sip_msg *msg)
{
	struct sip_incoming_request *rq = calloc(1, sizeof(*rq));
	if (!rq)
		return NULL;
	sip_pl raw = sip_msg_raw(msg);
	rq->bytes = malloc(raw.l + 1);
	if (!rq->bytes) {
		free(rq);
		return NULL;
	}
	memcpy(rq->bytes, raw.p, raw.l);
	rq->bytes[raw.l] = '\0';
	if (sip_msg_parse_kept(rq->bytes, raw.l, SIP_PARSE_DATAGRAM, NULL, &rq->msg)) {
		free(rq->bytes);
		free(rq);
		return NULL;
	}
	rq->s = ua_session_hold(s);
	rq->txn = txn;
	rq->method = sip_msg_method(msg);
	rq->next = s->incoming;
	s->incoming = rq;
	sip_txn_set_user(txn, &rq_user, rq);
	return rq;
}

/* Answer every pending request of a session that ends. */
void ua_incoming_answer_all(struct sip_session *s, int status)
{
	while (s->incoming) {
		struct sip_incoming_request *rq = s->incoming;
		s->incoming = rq->next;
		rq->next = NULL;
		if (!rq->answered && rq->txn && !s->flow_dead && s->ua) {
			int st = rq->method == SIP_METHOD_INVITE ? 487 : status;
			ua_respond(s, rq->txn, rq->msg, &(struct ua_resp){.status = st});
		}
		rq->answered = true;
		if (s->in_offer == rq)
			s->in_offer = NULL;
		if (!rq->in_callback) {
			rq->s = NULL;
			ua_incoming_free(rq);
			ua_session_release(s);
		}
	}
}

const struct sip_msg *sip_incoming_message(const struct sip_incoming_request *rq)
{
	return rq ? rq->msg : NULL;
}
enum sip_method sip_incoming_method(const struct sip_incoming_request *rq)
{
	return rq ? rq->method : SIP_METHOD_OTHER;
}

/* Hand rq to a delegate callback, or answer it with the default. */
static void incoming_dispatch(struct sip_session *s, struct sip_incoming_request *rq,
                              void (*cb)(void *, struct sip_session *, struct sip_incoming_request *),
                              int default_status)
{
	if (!cb) {
		if (default_status < 300)
			sip_incoming_accept(rq, &(struct sip_accept_opts){.status = default_status});
		else
			sip_incoming_reject(rq, &(struct sip_reject_opts){.status = default_status});
		return;
	}
	rq->in_callback = true;
	cb(s->data, s, rq);
	rq->in_callback = false;
	if (rq->answered)
		ua_incoming_free(rq);
}

static void rq_done(struct sip_incoming_request *rq)
{
	rq->answered = true;
	struct sip_session *s = rq->s;
	if (s && s->in_offer == rq)
		s->in_offer = NULL;
	if (!rq->in_callback)
		ua_incoming_free(rq);
}

/* RFC 4028 headers for a 2xx to a refresh request (or the initial INVITE). */
void ua_session_timer_from_request(struct sip_session *s, const struct sip_msg *req,
                                   struct sip_buf *hdrs)
{
	const struct sip_hdr *h = sip_msg_hdr(req, SIP_HDR_SESSION_EXPIRES);
	bool supports = sip_msg_has_option(req, SIP_HDR_SUPPORTED, "timer") ||
	                sip_msg_has_option(req, SIP_HDR_REQUIRE, "timer");
	uint32_t want = s->ua ? s->ua->cfg.session_expires : 0;
	struct sip_session_expires se = {0};
	if (h && sip_session_expires_parse(h->value, &se) != 0)
		h = NULL;
	if (!h && !(supports && want >= MIN_SE)) {
		if (sip_msg_method(req) == SIP_METHOD_INVITE && s->state != SIP_SESSION_ESTABLISHED)
			s->se_interval = 0;
		return; /* the peer asked for nothing */
	}
	uint32_t delta = h ? se.delta : want;
	if (want >= MIN_SE && delta > want)
		delta = want;
	if (delta < MIN_SE)
		delta = MIN_SE;
	/* who refreshes: the peer's choice; ours (the requester) when it left it
	 * open and supports timers, else us */
	bool peer_refreshes;
	if (se.refresher.p)
		peer_refreshes = sip_pl_caseeq_cstr(se.refresher, "uac");
	else
		peer_refreshes = supports;
	s->se_interval = delta;
	s->we_refresh = !peer_refreshes;
	sip_buf_printf(hdrs, "Session-Expires: %u;refresher=%s\r\n", (unsigned)delta,
	               peer_refreshes ? "uac" : "uas");
	if (supports)
		sip_buf_printf(hdrs, "Require: timer\r\n");
}

void ua_session_timer_from_response(struct sip_session *s, const struct sip_msg *resp)
{
	const struct sip_hdr *h = sip_msg_hdr(resp, SIP_HDR_SESSION_EXPIRES);
	struct sip_value_iter it = {0};
	sip_pl v;
	bool allow_seen = false, update = false;
	while (sip_msg_value_next(resp, SIP_HDR_ALLOW, &it, &v)) {
		allow_seen = true;
		if (sip_pl_caseeq_cstr(v, "UPDATE"))
			update = true;
	}
	if (allow_seen)
		s->peer_allows_update = update;
	struct sip_session_expires se;
	if (!h || sip_session_expires_parse(h->value, &se) != 0 || !se.delta) {
		if (sip_msg_cseq(resp)->method == SIP_METHOD_INVITE)
			s->se_interval = 0;
		return;
	}
	s->se_interval = se.delta;
	/* in a response to our request, "uac" is us */
	s->we_refresh = !se.refresher.p || sip_pl_caseeq_cstr(se.refresher, "uac");
}

void ua_session_timer_arm(struct sip_session *s)
{
	if (!s->ua || !s->se_interval || s->state != SIP_SESSION_ESTABLISHED) {
		if (s->ua)
			ua_timer_stop(s, UT_SESSION);
		return;
	}
	uint64_t now = ua_now(s->ua), se_ms = (uint64_t)s->se_interval * 1000;
	if (s->we_refresh) {
		ua_timer_start(s, UT_SESSION, now + se_ms / 2);
	} else {
		uint64_t margin = s->se_interval / 3 < 32 ? s->se_interval / 3 : 32;
		ua_timer_start(s, UT_SESSION, now + se_ms - margin * 1000);
	}
}

static int send_offer_request(struct sip_session *s, enum sip_method m, bool same_sdp);

void ua_session_timer_fire(struct sip_session *s)
{
	if (s->state != SIP_SESSION_ESTABLISHED)
		return;
	if (!s->we_refresh) {
		ua_log(s->ua, s, "session not refreshed in %u s: BYE", (unsigned)s->se_interval);
		s->reason = SIP_END_SESSION_EXPIRED;
		sip_session_bye(s, NULL);
		return;
	}
	if (s->out_reinvite || s->in_offer || s->waiting_ack || s->rinv_waiting) {
		/* an offer/answer is under way: its 2xx refreshes; check again soon */
		ua_timer_start(s, UT_SESSION, ua_now(s->ua) + 1000);
		return;
	}
	int rc = s->peer_allows_update ? send_offer_request(s, SIP_METHOD_UPDATE, true)
	                               : send_offer_request(s, SIP_METHOD_INVITE, true);
	if (rc)
		ua_log(s->ua, s, "session refresh not sent (%d)", rc);
}

/* RFC 4028 §8.1: a Session-Expires below our Min-SE is answered 422. */
int ua_check_min_se(struct sip_ua *ua, struct sip_txn *txn, const struct sip_msg *msg)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_SESSION_EXPIRES);
	struct sip_session_expires se;
	if (!h || sip_session_expires_parse(h->value, &se) != 0 || se.delta >= MIN_SE)
		return 0;
	char extra[32];
	snprintf(extra, sizeof(extra), "Min-SE: %u\r\n", MIN_SE);
	ua_respond_plain(ua, txn, msg, 422, extra);
	return 422;
}

/* ---- answering incoming requests ---- */

static void refresh_from_incoming(struct sip_session *s, const struct sip_msg *req,
                                  struct sip_buf *hdrs)
{
	if (sip_msg_hdr(req, SIP_HDR_SESSION_EXPIRES) || s->se_interval) {
		ua_session_timer_from_request(s, req, hdrs);
		if (!sip_msg_hdr(req, SIP_HDR_SESSION_EXPIRES) && !hdrs->len)
			s->se_interval = 0;
	}
}

int sip_incoming_accept(struct sip_incoming_request *rq, const struct sip_accept_opts *opts)
{
	static const struct sip_accept_opts none = {0};
	if (!rq || rq->answered || !rq->s || !rq->txn)
		return rq && rq->answered ? -EPROTO : -EINVAL;
	if (!opts)
		opts = &none;
	struct sip_session *s = rq->s;
	int status = opts->status ? opts->status : rq->method == SIP_METHOD_REFER ? 202 : 200;
	if (status < 200 || status > 299 || !ua_clean_lines(opts->extra_headers))
		return -EINVAL;
	if (!s->ua)
		return -EPROTO;
	struct sip_ua *ua = s->ua;
	ua_enter(ua);
	ua_session_hold(s);
	int rc = 0;
	bool offer_answer = rq->method == SIP_METHOD_INVITE ||
	                    (rq->method == SIP_METHOD_UPDATE && rq->offer);
	struct sip_buf body, hdrs, b;
	sip_buf_init(&body, 0);
	sip_buf_init(&hdrs, 0);
	sip_buf_init(&b, 0);
	const char *ctype = opts->ctype;
	bool we_offer = false;
	if (opts->body) {
		sip_buf_append(&body, opts->body, opts->body_len);
	} else if (offer_answer) {
		const void *so = opts->sdh_options ? opts->sdh_options : s->sdh_opts_reinvite;
		rc = ua_sdh_get(s, so, &body, &ctype);
		if (rc) {
			ua_log(ua, s, "no description for the answer (%d): 488", rc);
			ua_sdh_rollback(s);
			ua_respond(s, rq->txn, rq->msg, &(struct ua_resp){.status = 488});
			rq_done(rq);
			goto out;
		}
		we_offer = !rq->offer;
	}
	if (rq->method == SIP_METHOD_INVITE || rq->method == SIP_METHOD_UPDATE)
		refresh_from_incoming(s, rq->msg, &hdrs);
	struct ua_resp r = {
	    .status = status,
	    .dialog_resp = rq->method == SIP_METHOD_INVITE || rq->method == SIP_METHOD_UPDATE,
	    .caps = rq->method == SIP_METHOD_INVITE || rq->method == SIP_METHOD_UPDATE,
	    .extra = hdrs.len ? hdrs.p : NULL,
	    .extra2 = opts->extra_headers,
	    .ctype = body.len ? ctype : NULL,
	    .body = body.len ? sip_buf_pl(&body) : SIP_PL_NULL,
	};
	rc = ua_build_response(s, rq->msg, &r, &b);
	if (!rc)
		rc = sip_txn_server_respond(rq->txn, b.p, b.len, ua_now(ua));
	if (rc) {
		sip_buf_free(&b);
		rq_done(rq);
		goto out;
	}
	if (body.len) {
		sip_buf_reset(&s->local_sdp);
		sip_buf_append(&s->local_sdp, body.p, body.len);
		s->local_ctype = ctype;
	}
	if (rq->method == SIP_METHOD_INVITE) {
		/* our 2xx waits for its ACK, retransmitted on unreliable flows */
		sip_buf_free(&s->uas_2xx);
		s->uas_2xx = b;
		sip_buf_init(&b, 0);
		s->uas_2xx_cseq = sip_msg_cseq(rq->msg)->seq;
		s->uas_2xx_offer = we_offer;
		s->waiting_ack = true;
		uint64_t now = ua_now(ua);
		if (!s->dest.reliable) {
			s->uas_2xx_iv = ua_t1(ua);
			ua_timer_start(s, UT_2XX_RETX, now + s->uas_2xx_iv);
		}
		ua_timer_start(s, UT_ACK_WAIT, now + 64ull * ua_t1(ua));
	}
	if (rq->method == SIP_METHOD_REFER)
		s->refer_sub = true;
	if (rq->method == SIP_METHOD_INVITE || rq->method == SIP_METHOD_UPDATE)
		ua_session_timer_arm(s);
	sip_buf_free(&b);
	rq_done(rq);
out:
	sip_buf_free(&body);
	sip_buf_free(&hdrs);
	ua_session_release(s);
	ua_leave(ua);
	return rc;
}

int sip_incoming_reject(struct sip_incoming_request *rq, const struct sip_reject_opts *opts)
{
	if (!rq || rq->answered || !rq->s || !rq->txn)
		return rq && rq->answered ? -EPROTO : -EINVAL;
	struct sip_session *s = rq->s;
	int status = opts && opts->status ? opts->status
	             : rq->method == SIP_METHOD_INVITE || rq->method == SIP_METHOD_UPDATE ? 488
	                                                                                  : 500;
	if (status < 300 || status > 699 || (opts && !ua_clean_lines(opts->extra_headers)))
		return -EINVAL;
	if (!s->ua)
		return -EPROTO;
	struct sip_ua *ua = s->ua;
	ua_enter(ua);
	if (rq->offer)
		ua_sdh_rollback(s);
	int rc = ua_respond(s, rq->txn, rq->msg,
	                    &(struct ua_resp){.status = status,
	                                      .reason = opts ? opts->reason : NULL,
	                                      .extra = opts ? opts->extra_headers : NULL});
	rq_done(rq);
	ua_leave(ua);
	return rc;
}

/* ---- requests in ---- */

static void respond_simple(struct sip_session *s, struct sip_txn *txn, const struct sip_msg *msg,
                           int status, const char *extra)
{
	ua_respond(s, txn, msg, &(struct ua_resp){.status = status, .extra = extra});
}

static void retry_after_500(struct sip_session *s, struct sip_txn *txn, const struct sip_msg *msg)
{
	char extra[48];
	snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", (unsigned)(ua_random_u32(s->ua) % 10));
	respond_simple(s, txn, msg, 500, extra);
}

/* A re-INVITE or an UPDATE: an offer (or a request for one) or a refresh. */
static void incoming_offer(struct sip_session *s, struct sip_txn *txn, const struct sip_msg *msg)
{
	enum sip_method m = sip_msg_method(msg);
	bool has_body = sip_msg_body(msg).l > 0;
	bool early_update = m == SIP_METHOD_UPDATE && s->state != SIP_SESSION_ESTABLISHED;
	if (s->state == SIP_SESSION_TERMINATING || (m == SIP_METHOD_INVITE &&
	                                            s->state != SIP_SESSION_ESTABLISHED)) {
		if (s->out_reinvite)
			respond_simple(s, txn, msg, 491, NULL);
		else
			retry_after_500(s, txn, msg);
		return;
	}
	if (m == SIP_METHOD_UPDATE && !has_body) {
		if (ua_check_min_se(s->ua, txn, msg))
			return;
		/* RFC 3311 without an offer: a session refresh (RFC 4028) */
		struct sip_buf hdrs;
		sip_buf_init(&hdrs, 0);
		refresh_from_incoming(s, msg, &hdrs);
		ua_respond(s, txn, msg,
		           &(struct ua_resp){.status = 200,
		                             .dialog_resp = true,
		                             .caps = true,
		                             .extra = hdrs.len ? hdrs.p : NULL});
		sip_buf_free(&hdrs);
		ua_session_timer_arm(s);
		return;
	}
	if (ua_check_min_se(s->ua, txn, msg))
		return;
	/* glare (§14.2, RFC 3311 §5.2) */
	if (s->out_reinvite || s->rel1xx_pending) {
		respond_simple(s, txn, msg, 491, NULL);
		return;
	}
	if (s->in_offer || s->waiting_ack) {
		retry_after_500(s, txn, msg);
		return;
	}
	if (early_update && !(s->answer_sent || s->remote_offer_set || s->answer_applied)) {
		retry_after_500(s, txn, msg); /* no offer/answer completed yet */
		return;
	}
	bool offer = has_body && ua_sdh_has(s, msg);
	if (has_body && !offer) {
		respond_simple(s, txn, msg, 415, NULL);
		return;
	}
	if (offer) {
		int rc = ua_sdh_set(s, msg, s->sdh_opts_reinvite);
		if (rc) {
			ua_log(s->ua, s, "offer refused by the SDH (%d): 488", rc);
			ua_sdh_rollback(s);
			respond_simple(s, txn, msg, 488, NULL);
			return;
		}
	}
	struct sip_incoming_request *rq = incoming_new(s, txn, msg);
	if (!rq) {
		if (offer)
			ua_sdh_rollback(s);
		respond_simple(s, txn, msg, 500, NULL);
		return;
	}
	rq->offer = offer;
	s->in_offer = rq;
	if (s->delegate.on_invite && (offer || m == SIP_METHOD_INVITE))
		incoming_dispatch(s, rq, s->delegate.on_invite, 200);
	else
		incoming_dispatch(s, rq, NULL, 200);
}

static void incoming_bye(struct sip_session *s, struct sip_txn *txn, const struct sip_msg *msg)
{
	respond_simple(s, txn, msg, 200, NULL);
	if (s->inviter && !s->dialog && !s->cancel_sent) {
		/* BYE on an early dialog (§15): the call is over; the CANCEL ends
		 * the INVITE transaction, which runs no timer while it rings */
		s->cancel_wanted = true;
		ua_inviter_send_cancel(s);
	}
	if (s->state != SIP_SESSION_TERMINATED && s->delegate.on_bye)
		s->delegate.on_bye(s->data, s, msg);
	ua_terminate(s, SIP_END_BYE_RECEIVED);
}

static void incoming_refer(struct sip_session *s, struct sip_txn *txn, const struct sip_msg *msg)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_REFER_TO);
	struct sip_addr a;
	if (!h || sip_msg_hdr_next(msg, h) || sip_addr_parse(h->value, &a) != 0) {
		respond_simple(s, txn, msg, 400, NULL);
		return;
	}
	struct sip_incoming_request *rq = incoming_new(s, txn, msg);
	if (!rq) {
		respond_simple(s, txn, msg, 500, NULL);
		return;
	}
	incoming_dispatch(s, rq, s->delegate.on_refer, 603);
}

static void incoming_plain(struct sip_session *s, struct sip_txn *txn, const struct sip_msg *msg,
                           void (*cb)(void *, struct sip_session *, struct sip_incoming_request *))
{
	struct sip_incoming_request *rq = incoming_new(s, txn, msg);
	if (!rq) {
		respond_simple(s, txn, msg, 500, NULL);
		return;
	}
	incoming_dispatch(s, rq, cb, 200);
}

/* CANCEL of a re-INVITE the owner has not answered. */
static void incoming_cancel(struct sip_session *s, struct sip_txn *txn, const struct sip_msg *msg)
{
	struct sip_txn *ist =
	    sip_txn_find_invite_for_cancel(s->ua->cfg.txn, msg, sip_txn_dest(txn));
	struct sip_incoming_request *rq = s->in_offer;
	if (!ist || !rq || rq->txn != ist || rq->answered) {
		respond_simple(s, txn, msg, ist ? 200 : 481, NULL);
		return;
	}
	respond_simple(s, txn, msg, 200, NULL);
	ua_sdh_rollback(s);
	ua_respond(s, rq->txn, rq->msg, &(struct ua_resp){.status = 487});
	rq->offer = false;
	rq_done(rq);
}

void ua_dialog_request(struct sip_session *s, struct sip_txn *txn, const struct sip_msg *msg)
{
	switch (sip_msg_method(msg)) {
	case SIP_METHOD_BYE:
		incoming_bye(s, txn, msg);
		break;
	case SIP_METHOD_INVITE:
	case SIP_METHOD_UPDATE:
		incoming_offer(s, txn, msg);
		break;
	case SIP_METHOD_INFO:
		incoming_plain(s, txn, msg, s->delegate.on_info);
		break;
	case SIP_METHOD_MESSAGE:
		incoming_plain(s, txn, msg, s->delegate.on_message);
		break;
	case SIP_METHOD_NOTIFY:
		incoming_plain(s, txn, msg, s->delegate.on_notify);
		break;
	case SIP_METHOD_REFER:
		incoming_refer(s, txn, msg);
		break;
	case SIP_METHOD_CANCEL:
		incoming_cancel(s, txn, msg);
		break;
	case SIP_METHOD_OPTIONS:
		ua_respond(s, txn, msg,
		           &(struct ua_resp){.status = 200,
		                             .caps = true,
		                             .extra = "Accept: application/sdp\r\n"});
		break;
	case SIP_METHOD_PRACK:
		respond_simple(s, txn, msg, 481, NULL); /* we sent no reliable 1xx */
		break;
	case SIP_METHOD_OTHER:
		respond_simple(s, txn, msg, 501, NULL);
		break;
	default: {
		char allow[512];
		snprintf(allow, sizeof(allow), "Allow: %s\r\n", s->ua->allow);
		respond_simple(s, txn, msg, 405, allow);
		break;
	}
	}
}

/* ---- PRACK as UAS (RFC 3262 §3) ---- */

void ua_invitation_prack(struct sip_session *s, struct sip_txn *txn, const struct sip_msg *msg)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_RACK);
	struct sip_rack rack;
	if (!h || sip_rack_parse(h->value, &rack) != 0) {
		respond_simple(s, txn, msg, 400, NULL);
		return;
	}
	if (!s->rel1xx_pending || rack.rseq != s->rseq || rack.method != SIP_METHOD_INVITE ||
	    rack.cseq != sip_msg_cseq(s->req)->seq) {
		respond_simple(s, txn, msg, 481, NULL);
		return;
	}
	s->rel1xx_pending = false;
	ua_timer_stop(s, UT_1XX_RETX);
	ua_timer_stop(s, UT_PRACK_WAIT);
	if (!s->offer_in_invite && s->rel1xx_has_sdp && ua_sdh_has(s, msg)) {
		/* our offer went in the 1xx: the answer is in the PRACK */
		if (ua_sdh_set(s, msg, s->sdh_opts_initial) != 0) {
			respond_simple(s, txn, msg, 488, NULL);
			return;
		}
		s->remote_offer_set = true;
		if (s->delegate.on_description)
			s->delegate.on_description(s->data, s);
	}
	respond_simple(s, txn, msg, 200, NULL);
	if (s->accept_queued && s->state == SIP_SESSION_ESTABLISHING) {
		s->accept_queued = false;
		int rc = ua_invitation_send_2xx(s);
		if (rc) {
			ua_log(s->ua, s, "the queued 2xx could not be sent (%d)", rc);
			ua_terminate(s, SIP_END_ERROR);
		}
	}
}

/* ---- requests out ---- */

static int plain_request(struct sip_session *s, enum sip_method m,
                         const struct sip_request_opts *opts, const char *extra2)
{
	if (!s || !s->ua)
		return -EINVAL;
	if (s->state != SIP_SESSION_ESTABLISHED)
		return -EPROTO;
	if (opts && (!ua_clean_lines(opts->extra_headers) || (opts->body && !opts->ctype)))
		return -EINVAL;
	struct sip_ua *ua = s->ua;
	ua_enter(ua);
	int rc = ua_send_request(s, NULL, m, UR_PLAIN, opts, extra2, NULL);
	ua_leave(ua);
	return rc;
}

int sip_session_info(struct sip_session *s, const struct sip_request_opts *opts)
{
	return plain_request(s, SIP_METHOD_INFO, opts, NULL);
}

int sip_session_message(struct sip_session *s, const struct sip_request_opts *opts)
{
	return plain_request(s, SIP_METHOD_MESSAGE, opts, NULL);
}

/* Send a re-INVITE or UPDATE carrying an offer (a fresh one from the SDH, or
 * for a session refresh our last description again). */
static int send_offer_request(struct sip_session *s, enum sip_method m, bool same_sdp)
{
	struct sip_buf body, extra;
	sip_buf_init(&body, 0);
	sip_buf_init(&extra, 0);
	const char *ctype = NULL;
	int rc = 0;
	bool with_sdp = !(m == SIP_METHOD_UPDATE && same_sdp) && !s->rinv_without_sdp;
	if (with_sdp && same_sdp && s->local_sdp.len) {
		sip_buf_append(&body, s->local_sdp.p, s->local_sdp.len);
		ctype = s->local_ctype;
	} else if (with_sdp) {
		rc = ua_sdh_get(s, s->rinv_sdh_opts ? s->rinv_sdh_opts : s->sdh_opts_reinvite, &body,
		                &ctype);
		if (rc)
			goto out;
	}
	if (s->se_interval)
		sip_buf_printf(&extra, "Session-Expires: %u;refresher=%s\r\n",
		               (unsigned)s->se_interval, s->we_refresh ? "uac" : "uas");
	if (s->rinv_extra && !same_sdp)
		sip_buf_append(&extra, s->rinv_extra, strlen(s->rinv_extra));
	struct sip_request_opts o = {
	    .ctype = body.len ? ctype : NULL,
	    .body = body.len ? body.p : NULL,
	    .body_len = body.len,
	};
	struct ua_request *r = NULL;
	rc = ua_send_request(s, NULL, m, m == SIP_METHOD_INVITE ? UR_REINVITE : UR_PLAIN, &o,
	                     extra.len ? extra.p : NULL, &r);
	if (rc) {
		if (with_sdp && !same_sdp)
			ua_sdh_rollback(s);
		goto out;
	}
	s->out_reinvite = r;
	s->rinv_refresh = same_sdp;
	if (body.len) {
		sip_buf_reset(&s->local_sdp);
		sip_buf_append(&s->local_sdp, body.p, body.len);
		s->local_ctype = ctype;
	}
out:
	sip_buf_free(&body);
	sip_buf_free(&extra);
	return rc;
}

int sip_session_invite(struct sip_session *s, const struct sip_invite_opts *opts)
{
	if (!s || !s->ua)
		return -EINVAL;
	if (s->state != SIP_SESSION_ESTABLISHED)
		return -EPROTO;
	if (opts && !ua_clean_lines(opts->extra_headers))
		return -EINVAL;
	if (s->out_reinvite || s->in_offer || s->waiting_ack || s->rinv_waiting)
		return -EBUSY;
	struct sip_ua *ua = s->ua;
	ua_enter(ua);
	free(s->rinv_extra);
	s->rinv_extra = opts && opts->extra_headers ? strdup(opts->extra_headers) : NULL;
	s->rinv_sdh_opts = opts ? opts->sdh_options : NULL;
	memset(&s->rinv_delegate, 0, sizeof(s->rinv_delegate));
	if (opts && opts->delegate)
		s->rinv_delegate = *opts->delegate;
	s->rinv_retries = opts && opts->retry_491 ? opts->retry_491 : 3;
	s->rinv_without_sdp = opts && opts->without_sdp;
	int rc = send_offer_request(s, SIP_METHOD_INVITE, false);
	ua_leave(ua);
	return rc;
}

void ua_reinvite_retry(struct sip_session *s)
{
	if (!s->rinv_waiting)
		return;
	s->rinv_waiting = false;
	if (s->state != SIP_SESSION_ESTABLISHED)
		return;
	int rc = send_offer_request(s, SIP_METHOD_INVITE, s->rinv_refresh);
	if (rc && !s->rinv_refresh && s->rinv_delegate.on_reject)
		s->rinv_delegate.on_reject(s->rinv_delegate.data, s, 491, NULL);
}

/* The final response to our re-INVITE (or offer-carrying UPDATE). */
static void reinvite_done(struct sip_session *s, struct ua_request *r, int status,
                          const struct sip_msg *resp)
{
	struct sip_ua *ua = s->ua;
	bool refresh = s->rinv_refresh;
	if (s->out_reinvite == r)
		s->out_reinvite = NULL;
	struct sip_request_delegate d = refresh ? (struct sip_request_delegate){0} : s->rinv_delegate;
	if (status >= 200 && status < 300) {
		struct sip_buf ack_body;
		sip_buf_init(&ack_body, 0);
		const char *ack_ctype = NULL;
		bool ok = true;
		bool had_offer = r->method == SIP_METHOD_UPDATE ? !refresh
		                                                : !(s->rinv_without_sdp && !refresh);
		if (resp && ua_sdh_has(s, resp) && !(refresh && r->method == SIP_METHOD_UPDATE)) {
			if (refresh) {
				/* the answer to our unchanged offer: nothing new */
			} else if (ua_sdh_set(s, resp, s->sdh_opts_reinvite) != 0) {
				ok = false;
				ua_sdh_rollback(s);
			} else if (!had_offer &&
			           ua_sdh_get(s, s->sdh_opts_reinvite, &ack_body, &ack_ctype) != 0) {
				ok = false;
			}
		} else if (had_offer && r->method == SIP_METHOD_INVITE && !refresh) {
			ok = false; /* a 2xx without the answer */
			ua_sdh_rollback(s);
		}
		if (r->method == SIP_METHOD_INVITE && s->dialog) {
			char via[512];
			if (ua_via(s, via, sizeof(via)) == 0 &&
			    sip_dialog_build_ack(s->dialog, r->cseq,
			                         &(struct sip_dialog_request_opts){
			                             .via = sip_pl_from_cstr(via),
			                             .body = sip_buf_pl(&ack_body),
			                             .ctype = ack_body.len ? ack_ctype : NULL},
			                         &r->ack, NULL) == 0)
				ua->cfg.cb.send(ua->cfg.arg, &s->dest, r->ack.p, r->ack.len);
		}
		sip_buf_free(&ack_body);
		if (resp)
			ua_session_timer_from_response(s, resp);
		ua_session_timer_arm(s);
		if (ok && d.on_accept)
			d.on_accept(d.data, s, resp);
		else if (!ok && d.on_reject)
			d.on_reject(d.data, s, 488, resp);
		return;
	}
	if (!refresh)
		ua_sdh_rollback(s);
	if (status == 491 && s->rinv_retries > 0 && r->method == SIP_METHOD_INVITE) {
		s->rinv_retries--;
		/* §14.1: 2.1-4 s when we own the Call-ID, 0-2 s otherwise, in
		 * units of 10 ms */
		uint32_t rnd = ua_random_u32(ua);
		uint64_t delay = s->own_call_id ? 2100 + (rnd % 191) * 10 : (rnd % 201) * 10;
		s->rinv_waiting = true;
		ua_log(ua, s, "re-INVITE got 491: retry in %llu ms", (unsigned long long)delay);
		ua_timer_start(s, UT_GLARE, ua_now(ua) + delay);
		return;
	}
	if (refresh && status == 422 && resp) {
		/* RFC 4028 §7.4: ask again with at least Min-SE */
		const struct sip_hdr *h = sip_msg_hdr(resp, SIP_HDR_MIN_SE);
		struct sip_session_expires se;
		if (h && sip_session_expires_parse(h->value, &se) == 0 && se.delta > s->se_interval) {
			s->se_interval = se.delta;
			send_offer_request(s, r->method, true);
			return;
		}
	}
	if (refresh && status != 481 && status != 408) {
		ua_session_timer_arm(s); /* try again next period */
		return;
	}
	if (d.on_reject)
		d.on_reject(d.data, s, status, resp);
}

/* ---- REFER (RFC 3515) and its NOTIFYs ---- */

static void uri_escape(struct sip_buf *b, sip_pl v)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < v.l; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if (sip_is_alpha(c) || sip_is_digit(c) || strchr("-_.!~*'()", c))
			sip_buf_append(b, &v.p[i], 1);
		else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			sip_buf_append(b, e, 3);
		}
	}
}

int sip_session_refer(struct sip_session *s, const char *target_uri,
                      const struct sip_session *replaces, const struct sip_request_opts *opts)
{
	if (!s || !s->ua || (!target_uri && !replaces))
		return -EINVAL;
	if (s->state != SIP_SESSION_ESTABLISHED)
		return -EPROTO;
	if (opts && !ua_clean_lines(opts->extra_headers))
		return -EINVAL;
	struct sip_buf refer_to;
	sip_buf_init(&refer_to, 0);
	sip_buf_append(&refer_to, "Refer-To: <", 11);
	if (replaces) {
		struct sip_dialog *d = replaces->dialog;
		if (!d || replaces->state != SIP_SESSION_ESTABLISHED) {
			sip_buf_free(&refer_to);
			return -EPROTO;
		}
		sip_pl target = target_uri ? sip_pl_from_cstr(target_uri) : sip_dialog_remote_target(d);
		sip_buf_append_pl(&refer_to, target);
		sip_buf_append(&refer_to, "?Replaces=", 10);
		struct sip_buf rv;
		sip_buf_init(&rv, 0);
		sip_pl cid = sip_dialog_call_id(d), rt = sip_dialog_remote_tag(d),
		       lt = sip_dialog_local_tag(d);
		sip_buf_printf(&rv, "%.*s;to-tag=%.*s;from-tag=%.*s", (int)cid.l, cid.p, (int)rt.l, rt.p,
		               (int)lt.l, lt.p);
		uri_escape(&refer_to, sip_buf_pl(&rv));
		sip_buf_free(&rv);
	} else {
		for (const char *p = target_uri; *p; p++)
			if (*p == '>' || *p == '\r' || *p == '\n' || *p == ' ') {
				sip_buf_free(&refer_to);
				return -EINVAL;
			}
		sip_buf_append(&refer_to, target_uri, strlen(target_uri));
	}
	sip_buf_append(&refer_to, ">\r\n", 3);
	int rc = refer_to.error;
	if (!rc)
		rc = plain_request(s, SIP_METHOD_REFER, opts, refer_to.p);
	sip_buf_free(&refer_to);
	return rc;
}

int sip_session_notify_refer(struct sip_session *s, int status, const char *reason)
{
	if (!s || !s->ua || status < 100 || status > 699)
		return -EINVAL;
	if (!s->refer_sub)
		return -EPROTO;
	if (s->state != SIP_SESSION_ESTABLISHED)
		return -EPROTO;
	if (reason)
		for (const char *p = reason; *p; p++)
			if (*p == '\r' || *p == '\n')
				return -EINVAL;
	char hdrs[128], body[160];
	bool final = status >= 200;
	snprintf(hdrs, sizeof(hdrs), "Event: refer\r\nSubscription-State: %s\r\n",
	         final ? "terminated;reason=noresource" : "active;expires=60");
	int n = snprintf(body, sizeof(body), "SIP/2.0 %d %s\r\n", status,
	                 reason ? reason : sip_status_reason(status));
	if (n < 0 || (size_t)n >= sizeof(body))
		return -EINVAL;
	struct sip_request_opts o = {.ctype = "message/sipfrag", .body = body, .body_len = (size_t)n};
	int rc = plain_request(s, SIP_METHOD_NOTIFY, &o, hdrs);
	if (!rc && final)
		s->refer_sub = false;
	return rc;
}
