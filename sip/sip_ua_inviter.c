/* sip_ua_inviter.c — the Inviter (SIP.js Inviter): the outgoing INVITE, its
 * forked early dialogs, PRACKs for reliable 1xx, the 2xx kept (the first one)
 * and the late ones ACKed and BYEd, CANCEL (§9.1), digest answers to 401/407
 * and 3xx redirects. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_auth.h"
#include "sip/sip_build.h"
#include "sip/sip_ua_priv.h"

/* ---- Inviter (UAC) ---- */

static void ict_on_response(void *user, struct sip_txn *txn, const struct sip_msg *msg);
static void ict_on_timeout(void *user, struct sip_txn *txn);
static void ict_on_tp_error(void *user, struct sip_txn *txn);
static void ict_on_terminated(void *user, struct sip_txn *txn);
static const struct sip_txn_user ict_user = {
    .on_response = ict_on_response,
    .on_timeout = ict_on_timeout,
    .on_transport_error = ict_on_tp_error,
    .on_terminated = ict_on_terminated,
};

int sip_inviter_new(struct sip_ua *ua, const struct sip_inviter_opts *o, struct sip_session **out)
{
	if (!ua || !o || !out || !o->request_uri || !o->from || !o->to)
		return -EINVAL;
	*out = NULL;
	if (!ua_clean_value(o->request_uri) || !ua_clean_value(o->from) || !ua_clean_value(o->to) ||
	    !ua_clean_value(o->call_id) || !ua_clean_value(o->route) || !ua_clean_lines(o->extra_headers) ||
	    strchr(o->request_uri, ' ') || (o->call_id && !sip_call_id_valid(sip_pl_from_cstr(o->call_id))))
		return -EINVAL;
	struct sip_session *s = ua_session_alloc(ua, true);
	if (!s)
		return -ENOMEM;
	int rc = ua_set_transport(s, &o->transport);
	if (rc)
		goto fail;
	rc = -ENOMEM;
	if (ua_token(ua, s->local_tag, sizeof(s->local_tag), 10))
		goto fail;
	if (o->call_id) {
		s->call_id = ua_strdup(o->call_id);
	} else {
		char cid[40];
		if (ua_token(ua, cid, sizeof(cid), 24))
			goto fail;
		s->call_id = ua_strdup(cid);
		s->own_call_id = true;
	}
	s->ruri = ua_strdup(o->request_uri);
	s->from = ua_strdup(o->from);
	s->to = ua_strdup(o->to);
	if (!s->call_id || !s->ruri || !s->from || !s->to)
		goto fail;
	if ((o->route && !(s->route = ua_strdup(o->route))) ||
	    (o->extra_headers && !(s->extra_headers = ua_strdup(o->extra_headers))))
		goto fail;
	if (o->credentials.username) {
		s->cred_user = ua_strdup(o->credentials.username);
		s->cred_pass = ua_strdup(o->credentials.password ? o->credentials.password : "");
		if (o->credentials.realm)
			s->cred_realm = ua_strdup(o->credentials.realm);
		if (!s->cred_user || !s->cred_pass || (o->credentials.realm && !s->cred_realm))
			goto fail;
	}
	s->max_forwards = o->max_forwards > 0 ? o->max_forwards : 70;
	s->follow_redirects = o->follow_redirects;
	s->early_media = o->early_media;
	s->rel100 = o->rel100;
	s->sdh_opts_initial = o->sdh_options;
	s->sdh_opts_reinvite = o->sdh_options_reinvite;
	s->sdh = o->sdh;
	if (o->delegate)
		s->delegate = *o->delegate;
	s->data = o->data;
	if (ua_make_id(s, sip_pl_from_cstr(s->call_id)))
		goto fail;
	*out = s;
	return 0;
fail:
	ua_session_free(s);
	return rc;
}

/* Supported for our INVITE: the UA's list, 100rel only when we PRACK. */
static void append_supported(struct sip_session *s, struct sip_buf *b)
{
	sip_pl list = sip_pl_from_cstr(s->ua->supported), item;
	size_t pos = 0;
	bool first = true, has_100rel = false;
	sip_buf_append(b, "Supported: ", 11);
	while (sip_list_next(list, &pos, &item)) {
		bool rel = sip_pl_caseeq_cstr(item, "100rel");
		if (!item.l || (!s->rel100 && rel))
			continue;
		has_100rel |= rel;
		if (!first)
			sip_buf_append(b, ", ", 2);
		sip_buf_append_pl(b, item);
		first = false;
	}
	if (s->rel100 && !has_100rel)
		sip_buf_append(b, first ? "100rel" : ", 100rel", first ? 6 : 8);
	sip_buf_append(b, "\r\n", 2);
}

/* Build and send the (initial) INVITE; auth: an Authorization line or NULL. */
static int inviter_send_invite(struct sip_session *s, const char *auth)
{
	struct sip_ua *ua = s->ua;
	if (ua_branch(ua, s->invite_branch, sizeof(s->invite_branch)))
		return -EIO;
	s->invite_cseq++;
	struct sip_buf b;
	sip_buf_init(&b, 0);
	sip_build_request_line(&b, SIP_PL("INVITE"), sip_pl_from_cstr(s->ruri));
	sip_build_header_fmt(&b, "Via", "%s;branch=%s", s->via, s->invite_branch);
	sip_build_header_fmt(&b, "Max-Forwards", "%d", s->max_forwards);
	if (s->route)
		sip_build_header(&b, "Route", sip_pl_from_cstr(s->route));
	sip_build_header_fmt(&b, "From", "%s;tag=%s", s->from, s->local_tag);
	sip_build_header(&b, "To", sip_pl_from_cstr(s->to));
	sip_build_header(&b, "Call-ID", sip_pl_from_cstr(s->call_id));
	sip_build_header_fmt(&b, "CSeq", "%u INVITE", (unsigned)s->invite_cseq);
	sip_build_header(&b, "Contact", sip_pl_from_cstr(s->contact));
	sip_build_header(&b, "Allow", sip_pl_from_cstr(ua->allow));
	append_supported(s, &b);
	sip_build_header(&b, "User-Agent", sip_pl_from_cstr(ua->user_agent));
	if (auth)
		sip_buf_append(&b, auth, strlen(auth));
	if (s->extra_headers)
		sip_buf_append(&b, s->extra_headers, strlen(s->extra_headers));
	if (s->invite_extra)
		sip_buf_append(&b, s->invite_extra, strlen(s->invite_extra));
	sip_build_body(&b, s->answer.len ? s->answer_ctype : NULL,
	               s->answer.len ? sip_buf_pl(&s->answer) : SIP_PL_NULL);
	int rc = b.error;
	if (!rc)
		rc = ua_keep_message(s, b.p, b.len);
	struct sip_txn *txn = NULL;
	if (!rc)
		rc = sip_txn_client_new(ua->cfg.txn, b.p, b.len, &s->dest, ua_now(ua), &ict_user, s,
		                        &txn);
	sip_buf_free(&b);
	if (rc)
		return rc;
	if (s->ict)
		sip_txn_set_user(s->ict, NULL, NULL);
	s->ict = txn;
	s->got_provisional = false;
	return 0;
}

int sip_inviter_invite(struct sip_session *s, const struct sip_invite_opts *opts)
{
	if (!s || !s->inviter || !s->ua)
		return -EINVAL;
	if (s->state != SIP_SESSION_INITIAL)
		return -EPROTO;
	if (opts && !ua_clean_lines(opts->extra_headers))
		return -EINVAL;
	struct sip_ua *ua = s->ua;
	ua_enter(ua);
	int rc = 0;
	s->invite_without_sdp = opts && opts->without_sdp;
	if (opts && opts->delegate)
		s->inv_delegate = *opts->delegate;
	free(s->invite_extra);
	s->invite_extra = opts ? ua_strdup(opts->extra_headers) : NULL;
	if (!s->invite_without_sdp) {
		rc = ua_sdh_get(s, opts && opts->sdh_options ? opts->sdh_options : s->sdh_opts_initial,
		                &s->answer, &s->answer_ctype);
		if (rc) {
			ua_log(ua, s, "no offer from the SDH (%d)", rc);
			goto out;
		}
	}
	rc = inviter_send_invite(s, NULL);
	if (rc)
		goto out;
	ua_session_link(s);
	ua_session_hold(s); /* the UA's reference, until Terminated */
	s->ua_ref = true;
	ua_log(ua, s, "INVITE %s", s->ruri);
	ua_set_state(s, SIP_SESSION_ESTABLISHING);
out:
	ua_leave(ua);
	return rc;
}

/* The CANCEL of our initial INVITE (§9.1): a copy of its Request-URI, top
 * Via, Route, From, To, Call-ID and CSeq number. */
int ua_inviter_send_cancel(struct sip_session *s)
{
	struct sip_ua *ua = s->ua;
	const struct sip_msg *r = s->req;
	struct sip_buf b;
	sip_buf_init(&b, 0);
	sip_build_request_line(&b, SIP_PL("CANCEL"), sip_msg_ruri(r));
	struct sip_value_iter it = {0};
	sip_pl via;
	if (sip_msg_value_next(r, SIP_HDR_VIA, &it, &via))
		sip_build_header(&b, "Via", via);
	sip_build_header_fmt(&b, "Max-Forwards", "%d", s->max_forwards);
	const struct sip_hdr *h;
	for (h = sip_msg_hdr(r, SIP_HDR_ROUTE); h; h = sip_msg_hdr_next(r, h))
		sip_build_header(&b, "Route", h->value);
	sip_build_header(&b, "From", ua_header_value(r, SIP_HDR_FROM));
	sip_build_header(&b, "To", ua_header_value(r, SIP_HDR_TO));
	sip_build_header(&b, "Call-ID", sip_msg_call_id(r));
	sip_build_header_fmt(&b, "CSeq", "%u CANCEL", (unsigned)sip_msg_cseq(r)->seq);
	sip_build_header(&b, "User-Agent", sip_pl_from_cstr(ua->user_agent));
	if (s->cancel_extra)
		sip_buf_append(&b, s->cancel_extra, strlen(s->cancel_extra));
	sip_build_body(&b, NULL, SIP_PL_NULL);
	int rc = b.error;
	if (!rc)
		rc = ua_request_start(s, UR_CANCEL, SIP_METHOD_CANCEL, s->invite_cseq, b.p, b.len, NULL,
		                      NULL);
	sip_buf_free(&b);
	if (!rc) {
		s->cancel_sent = true;
		ua_timer_start(s, UT_CANCEL_WAIT, ua_now(ua) + 64ull * ua_t1(ua));
	}
	return rc;
}

int sip_inviter_cancel(struct sip_session *s, const struct sip_reject_opts *opts)
{
	if (!s || !s->inviter)
		return -EINVAL;
	if (opts && !ua_clean_lines(opts->extra_headers))
		return -EINVAL;
	if (s->state == SIP_SESSION_INITIAL) {
		/* never sent: nothing to tell anyone */
		struct sip_ua *ua = s->ua;
		if (ua)
			ua_enter(ua);
		ua_terminate(s, SIP_END_CANCELED);
		if (ua)
			ua_leave(ua);
		return 0;
	}
	if (s->state != SIP_SESSION_ESTABLISHING || s->dialog || !s->ua)
		return -EPROTO;
	if (s->cancel_wanted)
		return 0;
	struct sip_ua *ua = s->ua;
	ua_enter(ua);
	s->cancel_wanted = true;
	free(s->cancel_extra);
	s->cancel_extra = opts ? ua_strdup(opts->extra_headers) : NULL;
	int rc = 0;
	if (s->got_provisional)
		rc = ua_inviter_send_cancel(s);
	ua_set_state(s, SIP_SESSION_TERMINATING);
	ua_leave(ua);
	return rc;
}

static struct sip_dialog *early_find(struct sip_session *s, sip_pl tag, size_t *idx)
{
	for (size_t i = 0; i < s->nearly; i++)
		if (sip_pl_eq(sip_dialog_remote_tag(s->early[i]), tag)) {
			if (idx)
				*idx = i;
			return s->early[i];
		}
	return NULL;
}

static void early_drop_all_but(struct sip_session *s, struct sip_dialog *keep)
{
	for (size_t i = 0; i < s->nearly; i++) {
		if (s->early[i] == keep)
			continue;
		if (s->ua)
			sip_dialog_table_remove(s->ua->dialogs, s->early[i]);
		sip_dialog_free(s->early[i]);
	}
	s->nearly = 0;
}

/* PRACK a reliable 1xx (RFC 3262 §4) on its early dialog. */
static void inviter_prack(struct sip_session *s, struct sip_dialog *d, size_t idx,
                          const struct sip_msg *resp)
{
	const struct sip_hdr *h = sip_msg_hdr(resp, SIP_HDR_RSEQ);
	uint32_t rseq;
	if (!h || sip_uint_parse(h->value, UINT32_MAX, &rseq) != 0 || !rseq) {
		ua_log(s->ua, s, "reliable %d without a usable RSeq ignored", sip_msg_status(resp));
		return;
	}
	if (s->early_rseq[idx] && rseq <= s->early_rseq[idx])
		return; /* a retransmission: its PRACK is on its way */
	s->early_rseq[idx] = rseq;
	char rack[64];
	snprintf(rack, sizeof(rack), "RAck: %u %u INVITE\r\n", (unsigned)rseq,
	         (unsigned)s->invite_cseq);
	/* an offer-less INVITE: the first reliable 1xx with a description
	 * carries the offer and our PRACK the answer (RFC 3262 §5) */
	struct sip_buf answer;
	sip_buf_init(&answer, 0);
	const char *ctype = NULL;
	if (s->invite_without_sdp && !s->answer_applied && ua_sdh_has(s, resp)) {
		if (ua_sdh_set(s, resp, s->sdh_opts_initial) == 0 &&
		    ua_sdh_get(s, s->sdh_opts_initial, &answer, &ctype) == 0) {
			s->answer_applied = true;
			s->answer_from = d;
			sip_buf_reset(&s->local_sdp);
			sip_buf_append(&s->local_sdp, answer.p, answer.len);
			s->local_ctype = ctype;
		} else {
			ua_log(s->ua, s, "the offer in the reliable %d was refused", sip_msg_status(resp));
			ua_sdh_rollback(s);
			sip_buf_reset(&answer);
		}
	}
	struct sip_request_opts o = {.ctype = answer.len ? ctype : NULL,
	                             .body = answer.len ? answer.p : NULL,
	                             .body_len = answer.len};
	ua_send_request(s, d, SIP_METHOD_PRACK, UR_PLAIN, &o, rack, NULL);
	sip_buf_free(&answer);
}

static bool killed_branch(struct sip_session *s, sip_pl tag)
{
	for (size_t i = 0; i < s->nkilled; i++)
		if (sip_pl_eq_cstr(tag, s->killed_tags[i]))
			return true;
	return false;
}

/* A 2xx from another branch after one was kept: ACK it and BYE it. */
static void inviter_late_2xx(struct sip_session *s, const struct sip_msg *resp)
{
	struct sip_ua *ua = s->ua;
	sip_pl tag = sip_msg_to(resp)->tag;
	struct sip_dialog *d = NULL;
	if (sip_dialog_new_uac(s->req, resp, sip_pl_from_cstr(s->contact), &d) != 0) {
		ua_log(ua, s, "late 2xx with a dialog we cannot build ignored");
		return;
	}
	char via[512];
	struct sip_buf b;
	sip_buf_init(&b, 0);
	if (ua_via(s, via, sizeof(via)) == 0 &&
	    sip_dialog_build_ack(d, s->invite_cseq,
	                         &(struct sip_dialog_request_opts){.via = sip_pl_from_cstr(via)}, &b,
	                         NULL) == 0)
		ua->cfg.cb.send(ua->cfg.arg, &s->dest, b.p, b.len);
	sip_buf_free(&b);
	if (!killed_branch(s, tag)) {
		ua_log(ua, s, "late 2xx from branch %.*s: ACK and BYE", (int)tag.l, tag.p);
		if (s->nkilled < UA_MAX_KILLED && tag.l < sizeof(s->killed_tags[0]))
			sip_pl_strcpy(tag, s->killed_tags[s->nkilled++], sizeof(s->killed_tags[0]));
		ua_send_request(s, d, SIP_METHOD_BYE, UR_LATE_BYE, NULL, NULL, NULL);
	}
	sip_dialog_free(d);
}

static int inviter_send_ack(struct sip_session *s, const char *ctype, sip_pl body)
{
	struct sip_ua *ua = s->ua;
	char via[512];
	int rc = ua_via(s, via, sizeof(via));
	if (rc)
		return rc;
	sip_buf_reset(&s->ack);
	rc = sip_dialog_build_ack(s->dialog, s->invite_cseq,
	                          &(struct sip_dialog_request_opts){.via = sip_pl_from_cstr(via),
	                                                            .body = body,
	                                                            .ctype = ctype},
	                          &s->ack, NULL);
	if (rc)
		return rc;
	return ua->cfg.cb.send(ua->cfg.arg, &s->dest, s->ack.p, s->ack.len);
}

static void inviter_final_failure(struct sip_session *s, int status, const struct sip_msg *resp);

static void inviter_2xx(struct sip_session *s, const struct sip_msg *resp)
{
	struct sip_ua *ua = s->ua;
	sip_pl tag = sip_msg_to(resp)->tag;
	if (s->dialog) {
		if (sip_pl_eq(tag, sip_dialog_remote_tag(s->dialog))) {
			if (s->ack.len) /* a retransmission: the same ACK again */
				ua->cfg.cb.send(ua->cfg.arg, &s->dest, s->ack.p, s->ack.len);
			return;
		}
		inviter_late_2xx(s, resp);
		return;
	}
	if (!tag.p) {
		ua_log(ua, s, "2xx without a To tag ignored");
		return;
	}
	struct sip_dialog *d = early_find(s, tag, NULL);
	int rc;
	if (d) {
		rc = sip_dialog_receive_response(d, resp);
	} else {
		rc = sip_dialog_new_uac(s->req, resp, sip_pl_from_cstr(s->contact), &d);
		if (!rc) {
			sip_dialog_set_user(d, s);
			if (sip_dialog_table_add(ua->dialogs, d) != 0) {
				sip_dialog_free(d);
				d = NULL;
				rc = -ENOMEM;
			}
		}
	}
	if (rc || !d) {
		/* no usable Contact: no dialog to ACK or BYE in. The call cannot
		 * go on; the peer's 2xx retransmissions time out on its side. */
		ua_log(ua, s, "2xx refused by the dialog layer (%d): the call fails", rc);
		s->reason = SIP_END_ERROR;
		inviter_final_failure(s, 502, NULL);
		return;
	}
	early_drop_all_but(s, d);
	s->dialog = d;
	ua_session_timer_from_response(s, resp);
	/* the description: the 2xx's answer (unless an early one of this very
	 * dialog was applied) or, for an offer-less INVITE, its offer */
	enum sip_end_reason failure = SIP_END_NONE;
	const char *ack_ctype = NULL;
	struct sip_buf ack_body;
	sip_buf_init(&ack_body, 0);
	if (s->invite_without_sdp && s->answer_applied && s->answer_from == d) {
		/* offer and answer went in a reliable 1xx and our PRACK */
	} else if (s->invite_without_sdp) {
		if (s->answer_applied)
			ua_sdh_rollback(s); /* another branch's early offer */
		if (!ua_sdh_has(s, resp) || ua_sdh_set(s, resp, s->sdh_opts_initial) != 0 ||
		    ua_sdh_get(s, s->sdh_opts_initial, &ack_body, &ack_ctype) != 0)
			failure = SIP_END_ERROR;
	} else if (!(s->answer_applied && s->answer_from == d) && sip_msg_body(resp).l) {
		if (s->answer_applied)
			ua_sdh_rollback(s); /* another branch's early answer */
		if (ua_sdh_set(s, resp, s->sdh_opts_initial) != 0)
			failure = SIP_END_ERROR;
		else
			s->answer_applied = true;
	} else if (!s->answer_applied) {
		failure = SIP_END_ERROR; /* a 2xx without the answer we need */
	}
	rc = inviter_send_ack(s, ack_body.len ? ack_ctype : NULL, sip_buf_pl(&ack_body));
	if (ack_body.len) {
		sip_buf_reset(&s->local_sdp);
		sip_buf_append(&s->local_sdp, ack_body.p, ack_body.len);
		s->local_ctype = ack_ctype;
	} else if (!s->invite_without_sdp) {
		sip_buf_reset(&s->local_sdp);
		sip_buf_append(&s->local_sdp, s->answer.p, s->answer.len);
		s->local_ctype = s->answer_ctype;
	}
	sip_buf_free(&ack_body);
	if (rc)
		ua_log(ua, s, "ACK not sent (%d)", rc);
	if (s->cancel_wanted || failure) {
		/* a 2xx crossed our CANCEL, or its description was unusable */
		s->reason = s->cancel_wanted ? SIP_END_CANCELED : failure;
		ua_log(ua, s, "%s: BYE", s->cancel_wanted ? "2xx crossed the CANCEL" : "bad 2xx");
		if (s->state == SIP_SESSION_ESTABLISHING)
			ua_set_state(s, SIP_SESSION_TERMINATING);
		if (ua_send_request(s, NULL, SIP_METHOD_BYE, UR_BYE, NULL, NULL, NULL) != 0)
			ua_terminate(s, s->reason);
		return;
	}
	ua_set_state(s, SIP_SESSION_ESTABLISHED);
	if (s->state == SIP_SESSION_ESTABLISHED) {
		ua_session_timer_arm(s);
		if (s->inv_delegate.on_accept)
			s->inv_delegate.on_accept(s->inv_delegate.data, s, resp);
	}
}

static int inviter_auth(struct sip_session *s, const struct sip_msg *resp)
{
	int status = sip_msg_status(resp);
	if (!s->cred_user || s->auth_tries >= 2)
		return -EACCES;
	enum sip_hdr_id id = status == 401 ? SIP_HDR_WWW_AUTHENTICATE : SIP_HDR_PROXY_AUTHENTICATE;
	const char *out_name = status == 401 ? "Authorization" : "Proxy-Authorization";
	struct sip_buf lines;
	sip_buf_init(&lines, 0);
	bool stale = false;
	char cnonce[20];
	if (ua_token(s->ua, cnonce, sizeof(cnonce), 16))
		return -EIO;
	for (const struct sip_hdr *h = sip_msg_hdr(resp, id); h; h = sip_msg_hdr_next(resp, h)) {
		struct sip_auth_challenge ch;
		if (sip_auth_challenge_parse(h->value, &ch) != 0)
			continue;
		if (s->cred_realm && !sip_auth_value_eq(ch.realm, sip_pl_from_cstr(s->cred_realm)))
			continue;
		stale |= ch.stale;
		char value[1024];
		struct sip_auth_client_params p = {
		    .username = sip_pl_from_cstr(s->cred_user),
		    .password = sip_pl_from_cstr(s->cred_pass),
		    .method = SIP_PL("INVITE"),
		    .uri = sip_pl_from_cstr(s->ruri),
		    .body = sip_buf_pl(&s->answer),
		    .cnonce = sip_pl_from_cstr(cnonce),
		    .nc = 1,
		};
		int n = sip_auth_client_answer(&ch, &p, value, sizeof(value));
		if (n < 0)
			continue;
		sip_buf_printf(&lines, "%s: %s\r\n", out_name, value);
	}
	/* once per challenge: a second challenge is a wrong password unless the
	 * server says the nonce was only stale */
	if (s->auth_tries >= 1 && !stale) {
		sip_buf_free(&lines);
		return -EACCES;
	}
	int rc = lines.len && !lines.error ? 0 : -EACCES;
	if (!rc) {
		sip_buf_append(&lines, "", 1);
		s->auth_tries++;
		rc = inviter_send_invite(s, lines.p);
	}
	sip_buf_free(&lines);
	return rc;
}

/* 3xx: INVITE the first sip/sips Contact instead (same transport). */
static int inviter_redirect(struct sip_session *s, const struct sip_msg *resp)
{
	if (!s->follow_redirects || s->redirects >= UA_MAX_REDIRECTS)
		return -EACCES;
	struct sip_value_iter it = {0};
	sip_pl v;
	while (sip_msg_value_next(resp, SIP_HDR_CONTACT, &it, &v)) {
		struct sip_contact c;
		if (sip_contact_parse(v, &c) != 0 || c.star || !c.addr.uri.scheme)
			continue;
		char *ruri = ua_strdup_pl(c.addr.uri_text);
		if (!ruri)
			return -ENOMEM;
		if (!ua_clean_value(ruri) || strchr(ruri, ' ')) {
			free(ruri);
			continue;
		}
		free(s->ruri);
		s->ruri = ruri;
		s->redirects++;
		s->auth_tries = 0;
		ua_log(s->ua, s, "redirected to %s", ruri);
		return inviter_send_invite(s, NULL);
	}
	return -ENOENT;
}

static void inviter_final_failure(struct sip_session *s, int status, const struct sip_msg *resp)
{
	if (s->state == SIP_SESSION_TERMINATED)
		return;
	for (size_t i = 0; i < s->nearly; i++)
		sip_dialog_terminate(s->early[i]);
	enum sip_end_reason why = s->cancel_wanted ? SIP_END_CANCELED
	                          : status == 408 && !resp ? SIP_END_TIMEOUT
	                                                   : SIP_END_FAILED;
	struct sip_request_delegate d = s->inv_delegate;
	bool redirect = resp && status >= 300 && status < 400 && d.on_redirect && !s->cancel_wanted;
	/* The INVITE has its answer: an owner that disposes of the session from
	 * the delegate has nothing left to cancel. */
	s->cancel_wanted = true;
	if (redirect)
		d.on_redirect(d.data, s, resp);
	else if (d.on_reject)
		d.on_reject(d.data, s, status, resp);
	ua_terminate(s, why);
}

/* §9.1: no final response 64*T1 after our CANCEL: the INVITE is given up
 * (its transaction, which runs no timer in Proceeding, is ended too). */
void ua_inviter_cancel_timeout(struct sip_session *s)
{
	if (s->state == SIP_SESSION_TERMINATED || s->dialog)
		return;
	ua_log(s->ua, s, "no final response 64*T1 after the CANCEL");
	struct sip_txn *ict = s->ict;
	s->ict = NULL;
	if (ict) {
		sip_txn_set_user(ict, NULL, NULL);
		sip_txn_transport_error(ict, ua_now(s->ua));
	}
	inviter_final_failure(s, 408, NULL);
}

static void ict_on_response(void *user, struct sip_txn *txn, const struct sip_msg *msg)
{
	struct sip_session *s = user;
	if (!s || !s->ua || s->ict != txn)
		return;
	struct sip_ua *ua = s->ua;
	ua_enter(ua);
	ua_session_hold(s);
	int status = sip_msg_status(msg);
	if (s->state == SIP_SESSION_TERMINATED) {
		if (status >= 200 && status < 300 && s->dialog && s->ack.len)
			ua->cfg.cb.send(ua->cfg.arg, &s->dest, s->ack.p, s->ack.len);
		goto out;
	}
	if (status < 200) {
		sip_pl tag = sip_msg_to(msg)->tag;
		s->got_provisional = true;
		if (status > 100) {
			if (tag.p) {
				size_t idx = 0;
				struct sip_dialog *d = s->dialog ? NULL : early_find(s, tag, &idx);
				if (!d && !s->dialog && s->nearly < UA_MAX_EARLY &&
				    sip_dialog_new_uac(s->req, msg, sip_pl_from_cstr(s->contact), &d) == 0) {
					sip_dialog_set_user(d, s);
					if (sip_dialog_table_add(ua->dialogs, d) != 0) {
						sip_dialog_free(d);
						d = NULL;
					} else {
						idx = s->nearly;
						s->early_rseq[idx] = 0;
						s->early[s->nearly++] = d;
					}
				} else if (d) {
					sip_dialog_receive_response(d, msg);
				}
				if (d && s->rel100 && sip_msg_has_option(msg, SIP_HDR_REQUIRE, "100rel"))
					inviter_prack(s, d, idx, msg);
				if (d && s->early_media && !s->answer_applied && !s->invite_without_sdp &&
				    ua_sdh_has(s, msg)) {
					if (ua_sdh_set(s, msg, s->sdh_opts_initial) == 0) {
						s->answer_applied = true;
						s->answer_from = d;
					}
				}
			}
		}
		/* §9.1: the CANCEL waits for a provisional (a 100 from a proxy
		 * counts too: the request reached someone who can cancel it) */
		if (s->cancel_wanted && !s->cancel_sent)
			ua_inviter_send_cancel(s);
		if (status == 100) {
			if (s->inv_delegate.on_trying)
				s->inv_delegate.on_trying(s->inv_delegate.data, s, msg);
		} else if (s->inv_delegate.on_progress && !s->cancel_wanted) {
			s->inv_delegate.on_progress(s->inv_delegate.data, s, msg);
		}
		goto out;
	}
	if (status < 300) {
		inviter_2xx(s, msg);
		goto out;
	}
	if (s->dialog)
		goto out; /* a final non-2xx after a 2xx: nothing to do */
	if (!s->cancel_wanted && (status == 401 || status == 407) && inviter_auth(s, msg) == 0)
		goto out;
	if (!s->cancel_wanted && status >= 300 && status < 400 && inviter_redirect(s, msg) == 0)
		goto out;
	inviter_final_failure(s, status, msg);
out:
	ua_session_release(s);
	ua_leave(ua);
}

static void ict_on_timeout(void *user, struct sip_txn *txn)
{
	struct sip_session *s = user;
	if (!s || !s->ua || s->ict != txn)
		return;
	struct sip_ua *ua = s->ua;
	ua_enter(ua);
	ua_log(ua, s, "no final response to the INVITE (Timer B)");
	inviter_final_failure(s, 408, NULL);
	ua_leave(ua);
}

static void ict_on_tp_error(void *user, struct sip_txn *txn)
{
	struct sip_session *s = user;
	if (!s || !s->ua || s->ict != txn)
		return;
	struct sip_ua *ua = s->ua;
	ua_enter(ua);
	if (s->state != SIP_SESSION_ESTABLISHED && s->state != SIP_SESSION_TERMINATED && !s->dialog) {
		if (s->inv_delegate.on_reject)
			s->inv_delegate.on_reject(s->inv_delegate.data, s, 503, NULL);
		ua_terminate(s, SIP_END_TRANSPORT);
	}
	ua_leave(ua);
}

static void ict_on_terminated(void *user, struct sip_txn *txn)
{
	struct sip_session *s = user;
	if (s && s->ict == txn)
		s->ict = NULL;
}
