/* Unit tests: the UA core's extensions — reliable provisional responses
 * (RFC 3262), session timers (RFC 4028), REFER and NOTIFY (RFC 3515) with
 * Replaces (RFC 3891), digest answers to 401/407 and 3xx redirects — over
 * two real UAs and the fake wire of ua_world.h, or a hand-written peer. */
#include "sip/sip_auth.h"
#include "ua_world.h"

static void setup(void) { world_init(false, false); }
static void setup_raw(void) { world_init(true, false); }
static void teardown(void) { world_free(); }

TestSuite(ua100rel, .init = setup, .fini = teardown);
TestSuite(uatimer, .init = setup, .fini = teardown);
TestSuite(uatimer_raw, .init = setup_raw, .fini = teardown);
TestSuite(uarefer, .init = setup, .fini = teardown);
TestSuite(uaauth, .init = setup_raw, .fini = teardown);

/* ---- 100rel ---- */

static void reliable_183(struct side *sd, struct sip_session *s)
{
	(void)sd;
	cr_assert_eq(sip_invitation_progress(s, &(struct sip_progress_opts){
	                                            .status = 183,
	                                            .with_description = true,
	                                            .rel100 = true}),
	             0);
	cr_assert_eq(sip_invitation_progress(s, &(struct sip_progress_opts){.rel100 = true}),
	             -EBUSY, "one unacknowledged reliable 1xx at a time");
}

Test(ua100rel, reliable_183_is_pracked_and_the_prack_answered)
{
	B->on_invite = reliable_183;
	struct sip_session *a = make_inviter(A, true);
	cr_assert_eq(invite_now(a, A), 0);
	cr_assert(strstr(hdr(sent_nth(0, "INVITE ", 0), "Supported"), "100rel") != NULL);
	force_u32(41); /* RSeq = 1 + (41 & 0x7fff) */
	run_for(0);
	struct wmsg *p = sent_resp(1, "SIP/2.0 183", "INVITE", 0);
	cr_assert_str_eq(hdr(p, "Require"), "100rel");
	cr_assert_str_eq(hdr(p, "RSeq"), "42");
	struct wmsg *prack = sent_nth(0, "PRACK ", 0);
	cr_assert_not_null(prack);
	cr_assert_str_eq(hdr(prack, "RAck"), "42 1 INVITE");
	cr_assert_str_eq(hdr(prack, "CSeq"), "2 PRACK");
	cr_assert_eq(resp_count(1, "SIP/2.0 200", "PRACK"), 1);
	run_for(10000);
	cr_assert_eq(resp_count(1, "SIP/2.0 183", "INVITE"), 1, "no retransmission once PRACKed");
	cr_assert_eq(A->sdh.n_set, 1, "early media");
	cr_assert_eq(sip_invitation_accept(B->inv, NULL), 0);
	run_for(0);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	cr_assert_eq(sip_session_state(B->inv), SIP_SESSION_ESTABLISHED);
	sip_session_unref(a);
}

static bool drop_pracks(const struct wmsg *m) { return strncmp(m->bytes, "PRACK ", 6) == 0; }

Test(ua100rel, unpracked_1xx_is_resent_t1_doubling_then_504_at_64_t1)
{
	dropper = drop_pracks;
	B->on_invite = reliable_183;
	struct sip_session *a = make_inviter(A, true);
	cr_assert_eq(invite_now(a, A), 0);
	uint64_t t0 = now;
	run_for(40000);
	uint64_t want[] = {0, 500, 1500, 3500, 7500, 15500, 31500};
	int n = resp_count(1, "SIP/2.0 183", "INVITE");
	cr_assert_eq(n, 7, "got %d", n);
	for (int i = 0; i < n; i++)
		cr_assert_eq(sent_resp(1, "SIP/2.0 183", "INVITE", i)->at - t0, want[i]);
	struct wmsg *r = sent_resp(1, "SIP/2.0 504", "INVITE", 0);
	cr_assert_not_null(r);
	cr_assert_eq(r->at - t0, 32000);
	cr_assert_eq(sip_session_end_reason(B->inv), SIP_END_TIMEOUT);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_FAILED);
	/* one PRACK transaction (its own retransmissions aside): retransmitted
	 * 1xx are not PRACKed again */
	cr_assert_gt(sent_count(0, "PRACK "), 1);
	for (int i = 0; i < sent_count(0, "PRACK "); i++)
		cr_assert_str_eq(sent_nth(0, "PRACK ", i)->bytes, sent_nth(0, "PRACK ", 0)->bytes);
	sip_session_unref(a);
}

Test(ua100rel, the_2xx_waits_for_the_prack_of_a_1xx_with_a_description)
{
	dropper = drop_pracks;
	B->on_invite = reliable_183;
	struct sip_session *a = make_inviter(A, true);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(sip_invitation_accept(B->inv, NULL), 0);
	cr_assert_eq(sip_session_state(B->inv), SIP_SESSION_ESTABLISHING);
	cr_assert_eq(resp_count(1, "SIP/2.0 200", "INVITE"), 0, "queued behind the PRACK");
	/* the next PRACK gets through: A's PRACK transaction retransmits it */
	dropper = NULL;
	run_for(500);
	cr_assert_eq(resp_count(1, "SIP/2.0 200", "PRACK"), 1);
	cr_assert_eq(resp_count(1, "SIP/2.0 200", "INVITE"), 1);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	cr_assert_str_eq(body_of(sent_resp(1, "SIP/2.0 200", "INVITE", 0)),
	                 body_of(sent_resp(1, "SIP/2.0 183", "INVITE", 0)));
	sip_session_unref(a);
}

Test(ua100rel, reject_while_the_2xx_is_queued_wins)
{
	dropper = drop_pracks;
	B->on_invite = reliable_183;
	struct sip_session *a = make_inviter(A, true);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(sip_invitation_accept(B->inv, NULL), 0);
	cr_assert_eq(sip_invitation_reject(B->inv, &(struct sip_reject_opts){.status = 603}), 0);
	dropper = NULL;
	run_for(1000);
	cr_assert_eq(resp_count(1, "SIP/2.0 200", "INVITE"), 0);
	cr_assert_eq(resp_count(1, "SIP/2.0 603", "INVITE"), 1);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_FAILED);
	sip_session_unref(a);
}

static void reliable_183_once(struct side *sd, struct sip_session *s)
{
	(void)sd;
	cr_assert_eq(sip_invitation_progress(s, &(struct sip_progress_opts){
	                                            .status = 183,
	                                            .with_description = true,
	                                            .rel100 = true}),
	             0);
}

Test(ua100rel, no_100rel_toward_a_peer_that_did_not_offer_it)
{
	B->on_invite = reliable_183_once; /* asks for rel100; A does not support it */
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	cr_assert(strstr(hdr(sent_nth(0, "INVITE ", 0), "Supported"), "100rel") == NULL);
	run_for(0);
	struct wmsg *p = sent_resp(1, "SIP/2.0 183", "INVITE", 0);
	cr_assert_str_eq(hdr(p, "Require"), "");
	cr_assert_str_eq(hdr(p, "RSeq"), "");
	cr_assert_eq(sent_count(0, "PRACK "), 0);
	run_for(5000);
	cr_assert_eq(resp_count(1, "SIP/2.0 183", "INVITE"), 1);
	sip_session_unref(a);
}

Test(ua100rel, prack_with_a_wrong_rack_gets_481)
{
	dropper = drop_pracks;
	B->on_invite = reliable_183;
	struct sip_session *a = make_inviter(A, true);
	cr_assert_eq(invite_now(a, A), 0);
	force_u32(9);
	run_for(0);
	struct wmsg *prack = sent_nth(0, "PRACK ", 0);
	char text[4096];
	snprintf(text, sizeof(text), "%s", prack->bytes);
	char *rack = strstr(text, "RAck: 10 1 INVITE");
	cr_assert_not_null(rack);
	rack[7] = '1'; /* RAck: 11 */
	wire[nwire++] = (struct wmsg){.from = 0, .at = now, .bytes = strdup(text), .len = strlen(text)};
	pump();
	cr_assert_eq(resp_count(1, "SIP/2.0 481", "PRACK"), 1);
	sip_session_unref(a);
}

static void reliable_183_offer(struct side *sd, struct sip_session *s)
{
	(void)sd;
	cr_assert_eq(sip_invitation_progress(s, &(struct sip_progress_opts){
	                                            .status = 183, .with_description = true}),
	             -EINVAL, "no offer in an unreliable 1xx");
	cr_assert_eq(sip_invitation_progress(s, &(struct sip_progress_opts){
	                                            .status = 183,
	                                            .with_description = true,
	                                            .rel100 = true}),
	             0);
}

Test(ua100rel, offerless_invite_gets_the_offer_in_a_reliable_1xx_and_answers_in_the_prack)
{
	use_full_delegate = true;
	B->on_invite = reliable_183_offer;
	struct sip_session *a = make_inviter(A, true);
	struct sip_request_delegate rd = req_delegate(A);
	cr_assert_eq(sip_inviter_invite(a, &(struct sip_invite_opts){.delegate = &rd,
	                                                             .without_sdp = true}),
	             0);
	cr_assert_str_eq(body_of(sent_nth(0, "INVITE ", 0)), "");
	run_for(0);
	struct wmsg *p = sent_resp(1, "SIP/2.0 183", "INVITE", 0);
	cr_assert(strstr(body_of(p), "o=B 1 1 ") != NULL, "B's offer");
	struct wmsg *prack = sent_nth(0, "PRACK ", 0);
	cr_assert(strstr(body_of(prack), "o=A 1 1 ") != NULL, "A's answer");
	cr_assert(strstr(B->sdh.remote, "o=A 1 1 ") != NULL);
	cr_assert_eq(B->rec.n_description, 1);
	cr_assert_eq(sip_invitation_accept(B->inv, NULL), 0);
	run_for(0);
	struct wmsg *ok = sent_resp(1, "SIP/2.0 200", "INVITE", 0);
	cr_assert_str_eq(body_of(ok), "", "the offer/answer is over");
	cr_assert_str_eq(body_of(sent_nth(0, "ACK ", 0)), "");
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	cr_assert_eq(sip_session_state(B->inv), SIP_SESSION_ESTABLISHED);
	cr_assert_eq(A->sdh.n_set, 1);
	cr_assert_eq(A->sdh.n_get, 1);
	sip_session_unref(a);
}

/* ---- session timers (RFC 4028) ---- */

static char a_tag[64];
static void accept_now(struct side *sd, struct sip_session *s)
{
	(void)sd;
	cr_assert_eq(sip_invitation_accept(s, NULL), 0);
}

/* A JsSIP-like INVITE from raw B to A, accepted and ACKed. */
static void jssip_call(const char *se_lines, bool allow_update)
{
	A->on_invite = accept_now;
	char text[4096];
	snprintf(text, sizeof(text),
	         "INVITE sip:alice@192.0.2.1:5060 SIP/2.0\n"
	         "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKjst1\n"
	         "Max-Forwards: 70\n"
	         "From: <sip:bob@example.com>;tag=jsb\n"
	         "To: <sip:alice@example.com>\n"
	         "Call-ID: jst-call\n"
	         "CSeq: 1 INVITE\n"
	         "Contact: <sip:bob@192.0.2.2:5060>\n"
	         "Allow: INVITE,ACK,CANCEL,BYE,%sMESSAGE,OPTIONS,REFER,INFO,NOTIFY\n"
	         "Supported: timer,ice,replaces,outbound\n"
	         "%s"
	         "Content-Type: application/sdp\n"
	         "Content-Length: *\n\n"
	         "v=0\no=J 1 1 IN IP4 192.0.2.2\ns=-\nc=IN IP4 192.0.2.2\nt=0 0\n"
	         "m=audio 5000 RTP/AVP 0\n",
	         allow_update ? "UPDATE," : "", se_lines);
	inject_from(1, text);
	struct wmsg *ok = sent_resp(0, "SIP/2.0 200", "INVITE", 0);
	if (!ok)
		return;
	snprintf(a_tag, sizeof(a_tag), "%s", strstr(hdr(ok, "To"), ";tag=") + 5);
	snprintf(text, sizeof(text),
	         "ACK sip:alice@192.0.2.1:5060 SIP/2.0\n"
	         "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKjstack\n"
	         "Max-Forwards: 70\n"
	         "From: <sip:bob@example.com>;tag=jsb\n"
	         "To: <sip:alice@example.com>;tag=%s\n"
	         "Call-ID: jst-call\n"
	         "CSeq: 1 ACK\n"
	         "Content-Length: 0\n\n",
	         a_tag);
	inject_from(1, text);
}

static void jssip_update(unsigned cseq)
{
	char text[2048];
	snprintf(text, sizeof(text),
	         "UPDATE sip:alice@192.0.2.1:5060 SIP/2.0\n"
	         "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKjstu%u\n"
	         "Max-Forwards: 70\n"
	         "From: <sip:bob@example.com>;tag=jsb\n"
	         "To: <sip:alice@example.com>;tag=%s\n"
	         "Call-ID: jst-call\n"
	         "CSeq: %u UPDATE\n"
	         "Contact: <sip:bob@192.0.2.2:5060>\n"
	         "Session-Expires: 90;refresher=uac\n"
	         "Supported: timer\n"
	         "Content-Length: 0\n\n",
	         cseq, a_tag, cseq);
	inject_from(1, text);
}

Test(uatimer_raw, jssip_session_expires_90_is_honoured_and_expires_without_refresh)
{
	jssip_call("Session-Expires: 90\n", true);
	struct wmsg *ok = sent_resp(0, "SIP/2.0 200", "INVITE", 0);
	cr_assert_str_eq(hdr(ok, "Session-Expires"), "90;refresher=uac");
	cr_assert_str_eq(hdr(ok, "Require"), "timer");
	struct sip_session *s = A->inv;
	cr_assert_eq(sip_session_state(s), SIP_SESSION_ESTABLISHED);
	uint64_t t0 = now;
	run_for(59999);
	cr_assert_eq(sent_count(0, "BYE "), 0);
	run_for(1);
	/* 90 s - min(32, 90/3) = 60 s */
	struct wmsg *bye = sent_nth(0, "BYE ", 0);
	cr_assert_not_null(bye);
	cr_assert_eq(bye->at - t0, 60000);
	cr_assert_eq(sip_session_state(s), SIP_SESSION_TERMINATING);
	answer_from_raw(bye, 200, NULL, NULL, NULL);
	cr_assert_eq(sip_session_end_reason(s), SIP_END_SESSION_EXPIRED);
}

Test(uatimer_raw, jssip_refreshing_by_update_every_45_s_keeps_the_call)
{
	jssip_call("Session-Expires: 90\n", true);
	uint64_t t0 = now;
	for (unsigned i = 0; i < 6; i++) {
		run_until(t0 + 45000 * (i + 1));
		jssip_update(2 + i);
		struct wmsg *r = sent_resp(0, "SIP/2.0 200", "UPDATE", (int)i);
		cr_assert_not_null(r);
		cr_assert_str_eq(hdr(r, "Session-Expires"), "90;refresher=uac");
		cr_assert_str_eq(body_of(r), "");
	}
	cr_assert_eq(sent_count(0, "BYE "), 0);
	cr_assert_eq(sip_session_state(A->inv), SIP_SESSION_ESTABLISHED);
	/* the refreshes stop: BYE 60 s after the last one */
	uint64_t last = now;
	run_for(70000);
	struct wmsg *bye = sent_nth(0, "BYE ", 0);
	cr_assert_not_null(bye);
	cr_assert_eq(bye->at - last, 60000);
}

Test(uatimer_raw, session_expires_below_min_se_gets_422)
{
	jssip_call("Session-Expires: 60\n", true);
	struct wmsg *r = sent_resp(0, "SIP/2.0 422", "INVITE", 0);
	cr_assert_not_null(r);
	cr_assert_str_eq(hdr(r, "Min-SE"), "90");
	cr_assert_eq(A->n_invitations, 0);
}

Test(uatimer_raw, we_refresh_with_update_when_asked_to_and_allowed)
{
	jssip_call("Session-Expires: 120;refresher=uas\n", true);
	struct wmsg *ok = sent_resp(0, "SIP/2.0 200", "INVITE", 0);
	cr_assert_str_eq(hdr(ok, "Session-Expires"), "120;refresher=uas");
	uint64_t t0 = now;
	run_for(60000);
	struct wmsg *u = sent_nth(0, "UPDATE ", 0);
	cr_assert_not_null(u);
	cr_assert_eq(u->at - t0, 60000);
	cr_assert_str_eq(hdr(u, "Session-Expires"), "120;refresher=uac");
	cr_assert_str_eq(body_of(u), "");
	cr_assert_eq(sent_count(0, "BYE "), 0);
}

Test(uatimer_raw, we_refresh_with_reinvite_and_the_same_sdp_when_update_is_not_allowed)
{
	jssip_call("Session-Expires: 120;refresher=uas\n", false);
	struct wmsg *ok = sent_resp(0, "SIP/2.0 200", "INVITE", 0);
	uint64_t t0 = now;
	run_for(60000);
	cr_assert_eq(sent_count(0, "UPDATE "), 0, "never UPDATE toward a peer that lacks it");
	struct wmsg *ri = sent_nth(0, "INVITE ", 0);
	cr_assert_not_null(ri);
	cr_assert_eq(ri->at - t0, 60000);
	cr_assert_str_eq(body_of(ri), body_of(ok), "the same description again");
	cr_assert_eq(A->sdh.n_get, 1, "no new offer asked of the SDH");
	cr_assert_str_eq(hdr(ri, "Session-Expires"), "120;refresher=uac");
}

Test(uatimer, loopback_ua_asks_for_its_interval_and_the_caller_refreshes)
{
	world_free();
	world_init(false, false);
	sip_ua_free(B->ua);
	struct sip_ua_config uc = {
	    .txn = B->txn,
	    .now_ms = clock_ms,
	    .random = fake_random_forced,
	    .session_expires = 120,
	    .cb = {.send = wire_send, .on_invite = ua_on_invite, .on_log = side_log},
	    .arg = B,
	};
	B->ua = sip_ua_new(&uc);
	struct sip_session *a = established_call();
	struct wmsg *ok = sent_resp(1, "SIP/2.0 200", "INVITE", 0);
	cr_assert_str_eq(hdr(ok, "Session-Expires"), "120;refresher=uac");
	uint64_t t0 = now;
	run_for(300000);
	cr_assert_eq(sent_count(0, "UPDATE "), 5);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(sent_nth(0, "UPDATE ", i)->at - t0, 60000u * (unsigned)(i + 1));
	cr_assert_eq(sent_count(1, "BYE "), 0);
	cr_assert_eq(sip_session_state(B->inv), SIP_SESSION_ESTABLISHED);
	sip_session_unref(a);
}

/* ---- REFER and NOTIFY ---- */

Test(uarefer, blind_transfer_refer_accepted_and_progress_notified)
{
	use_full_delegate = true;
	struct sip_session *a = established_call();
	struct sip_session *b = B->inv;
	B->rec.answer_later = true;
	struct sip_request_delegate rd = req_delegate(A);
	cr_assert_eq(sip_session_refer(a, "sip:carol@example.com", NULL,
	                               &(struct sip_request_opts){.delegate = &rd}),
	             0);
	run_for(0);
	struct wmsg *refer = sent_nth(0, "REFER ", 0);
	cr_assert_str_eq(hdr(refer, "Refer-To"), "<sip:carol@example.com>");
	cr_assert_eq(B->rec.n_refer, 1);
	cr_assert_eq(sip_session_notify_refer(b, 100, NULL), -EPROTO, "not accepted yet");
	struct sip_incoming_request *rq = B->rec.pending;
	cr_assert_eq(sip_incoming_method(rq), SIP_METHOD_REFER);
	cr_assert_eq(sip_incoming_accept(rq, NULL), 0);
	run_for(0);
	cr_assert_eq(resp_count(1, "SIP/2.0 202", "REFER"), 1);
	cr_assert_eq(A->rec.n_accept, 2);
	A->rec.answer_later = false;
	cr_assert_eq(sip_session_notify_refer(b, 100, "Trying"), 0);
	cr_assert_eq(sip_session_notify_refer(b, 200, NULL), 0);
	cr_assert_eq(sip_session_notify_refer(b, 200, NULL), -EPROTO, "the subscription ended");
	run_for(0);
	struct wmsg *n1 = sent_nth(1, "NOTIFY ", 0), *n2 = sent_nth(1, "NOTIFY ", 1);
	cr_assert_str_eq(hdr(n1, "Event"), "refer");
	cr_assert_str_eq(hdr(n1, "Subscription-State"), "active;expires=60");
	cr_assert_str_eq(hdr(n1, "Content-Type"), "message/sipfrag");
	cr_assert_str_eq(body_of(n1), "SIP/2.0 100 Trying\r\n");
	cr_assert_str_eq(hdr(n2, "Subscription-State"), "terminated;reason=noresource");
	cr_assert_str_eq(body_of(n2), "SIP/2.0 200 OK\r\n");
	cr_assert_eq(A->rec.n_notify, 2);
	cr_assert_eq(resp_count(0, "SIP/2.0 200", "NOTIFY"), 2);
	cr_assert_eq(sip_session_refer(a, "sip:x@y>\r\nX: 1", NULL, NULL), -EINVAL);
	sip_session_unref(a);
}

Test(uarefer, refer_without_a_delegate_is_declined_603)
{
	struct sip_session *a = established_call();
	struct sip_request_delegate rd = req_delegate(A);
	cr_assert_eq(sip_session_refer(a, "sip:carol@example.com", NULL,
	                               &(struct sip_request_opts){.delegate = &rd}),
	             0);
	run_for(0);
	cr_assert_eq(resp_count(1, "SIP/2.0 603", "REFER"), 1);
	cr_assert_eq(A->rec.last_reject, 603);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	sip_session_unref(a);
}

static struct sip_session *second_a;
static char replaces_hdr[512];
static void invite_with_replaces(void)
{
	struct sip_inviter_opts o = {
	    .request_uri = "sip:bob@192.0.2.2:5060",
	    .from = "<sip:alice@example.com>",
	    .to = "<sip:bob@example.com>",
	    .transport = A->tp,
	    .sdh = {&fsdh_ops, &A->sdh},
	    .extra_headers = replaces_hdr,
	};
	cr_assert_eq(sip_inviter_new(A->ua, &o, &second_a), 0);
	cr_assert_eq(sip_inviter_invite(second_a, NULL), 0);
	run_for(0);
}

Test(uarefer, attended_transfer_refer_carries_an_escaped_replaces_and_invite_finds_the_replacee)
{
	use_full_delegate = true;
	struct sip_session *a1 = established_call();
	struct sip_session *b1 = B->inv;
	struct sip_session *a2 = established_call();
	struct sip_dialog *d2 = sip_session_dialog(a2);
	sip_pl cid = sip_dialog_call_id(d2), rt = sip_dialog_remote_tag(d2),
	       lt = sip_dialog_local_tag(d2);
	B->rec.answer_later = true;
	cr_assert_eq(sip_session_refer(a1, NULL, a2, NULL), 0);
	run_for(0);
	char want[512];
	snprintf(want, sizeof(want),
	         "<sip:bob@192.0.2.2:5060?Replaces=%.*s%%3Bto-tag%%3D%.*s%%3Bfrom-tag%%3D%.*s>",
	         (int)cid.l, cid.p, (int)rt.l, rt.p, (int)lt.l, lt.p);
	cr_assert_str_eq(hdr(sent_nth(0, "REFER ", 0), "Refer-To"), want);
	/* an INVITE with Replaces naming B's first session */
	struct sip_dialog *bd = sip_session_dialog(b1);
	sip_pl bc = sip_dialog_call_id(bd), bl = sip_dialog_local_tag(bd),
	       br = sip_dialog_remote_tag(bd);
	snprintf(replaces_hdr, sizeof(replaces_hdr), "Replaces: %.*s;to-tag=%.*s;from-tag=%.*s\r\n",
	         (int)bc.l, bc.p, (int)bl.l, bl.p, (int)br.l, br.p);
	B->rec.answer_later = false;
	invite_with_replaces();
	cr_assert_eq(B->n_invitations, 3);
	cr_assert_eq(sip_session_replacee(B->inv), b1);
	struct sip_session *repl = B->inv, *repl_a = second_a;
	/* early-only against a confirmed dialog: 486; an unknown dialog: 481 */
	snprintf(replaces_hdr, sizeof(replaces_hdr),
	         "Replaces: %.*s;to-tag=%.*s;from-tag=%.*s;early-only\r\n", (int)bc.l, bc.p, (int)bl.l,
	         bl.p, (int)br.l, br.p);
	invite_with_replaces();
	cr_assert_eq(resp_count(1, "SIP/2.0 486", "INVITE"), 1);
	sip_session_unref(second_a);
	snprintf(replaces_hdr, sizeof(replaces_hdr), "Replaces: nosuch;to-tag=x;from-tag=y\r\n");
	invite_with_replaces();
	cr_assert_eq(resp_count(1, "SIP/2.0 481", "INVITE"), 1);
	cr_assert_eq(B->n_invitations, 3);
	sip_session_unref(second_a);
	/* once the new session is established, the one it replaces ends */
	cr_assert_eq(sip_invitation_accept(repl, NULL), 0);
	run_for(0);
	cr_assert_eq(sip_session_state(repl), SIP_SESSION_ESTABLISHED);
	cr_assert_eq(sip_session_state(b1), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(b1), SIP_END_REPLACED);
	cr_assert_eq(sip_session_end_reason(a1), SIP_END_BYE_RECEIVED);
	cr_assert_null(sip_session_replacee(repl), "it is over");
	sip_session_unref(repl_a);
	sip_session_unref(a1);
	sip_session_unref(a2);
}

/* ---- 401/407 and 3xx (B raw) ---- */

static struct sip_session *inviter_with(bool follow, const char *user, const char *pass)
{
	struct sip_inviter_opts o = {
	    .request_uri = "sip:100@pbx.example.com",
	    .from = "<sip:alice@example.com>",
	    .to = "<sip:100@pbx.example.com>",
	    .transport = A->tp,
	    .sdh = {&fsdh_ops, &A->sdh},
	    .credentials = {.username = user, .password = pass},
	    .follow_redirects = follow,
	    .data = A,
	};
	struct sip_session *s = NULL;
	cr_assert_eq(sip_inviter_new(A->ua, &o, &s), 0);
	return s;
}

static struct sip_auth_server *auth_srv;

static void challenge(const struct wmsg *req, int status, bool stale)
{
	char ch[512], line[600];
	cr_assert_gt(sip_auth_server_challenge(auth_srv, now / 1000, SIP_AUTH_ALG_MD5,
	                                       SIP_AUTH_QOP_AUTH, stale, ch, sizeof(ch)),
	             0);
	snprintf(line, sizeof(line), "%s: %s", status == 401 ? "WWW-Authenticate" : "Proxy-Authenticate",
	         ch);
	raw_extra = line;
	answer_from_raw(req, status, "pbx1", NULL, NULL);
}

static enum sip_auth_result verify(const struct wmsg *req, const char *hname)
{
	const char *v = hdr(req, hname);
	struct sip_auth_credentials cred;
	cr_assert_eq(sip_auth_credentials_parse(sip_pl_from_cstr(v), &cred), 0, "%s", v);
	cr_assert(sip_auth_value_eq(cred.uri, SIP_PL("sip:100@pbx.example.com")));
	char ha1[SIP_AUTH_HEX_MAX];
	cr_assert_gt(sip_auth_ha1(SIP_AUTH_ALG_MD5, SIP_PL("alice"), SIP_PL("pbx.example.com"),
	                          SIP_PL("secret"), ha1, sizeof(ha1)),
	             0);
	return sip_auth_server_verify(auth_srv, now / 1000, &cred, SIP_PL("INVITE"), SIP_PL_NULL,
	                              sip_pl_from_cstr(ha1));
}

Test(uaauth, a_407_is_answered_once_with_the_stored_credentials)
{
	cr_assert_eq(sip_auth_server_new(&auth_srv, SIP_PL("pbx.example.com"), NULL, 0, 300), 0);
	struct sip_session *s = inviter_with(false, "alice", "secret");
	struct sip_request_delegate rd = req_delegate(A);
	cr_assert_eq(sip_inviter_invite(s, &(struct sip_invite_opts){.delegate = &rd}), 0);
	struct wmsg *i1 = sent_nth(0, "INVITE ", 0);
	challenge(i1, 407, false);
	struct wmsg *i2 = sent_nth(0, "INVITE ", 1);
	cr_assert_not_null(i2);
	cr_assert_str_eq(hdr(i2, "CSeq"), "2 INVITE");
	cr_assert_str_eq(hdr(i2, "Call-ID"), hdr(i1, "Call-ID"));
	cr_assert_str_eq(hdr(i2, "From"), hdr(i1, "From"));
	cr_assert_str_neq(hdr(i2, "Via"), hdr(i1, "Via"));
	cr_assert_str_eq(body_of(i2), body_of(i1));
	cr_assert_eq(verify(i2, "Proxy-Authorization"), SIP_AUTH_OK);
	cr_assert_eq(A->rec.n_reject, 0);
	/* challenged again, not stale: the password is wrong, the call fails */
	challenge(i2, 407, false);
	cr_assert_eq(sent_count(0, "INVITE "), 2);
	cr_assert_eq(sip_session_state(s), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(s), SIP_END_FAILED);
	cr_assert_eq(A->rec.last_reject, 407);
	sip_session_unref(s);
	sip_auth_server_free(auth_srv);
}

Test(uaauth, a_stale_nonce_is_answered_again_and_401_uses_authorization)
{
	cr_assert_eq(sip_auth_server_new(&auth_srv, SIP_PL("pbx.example.com"), NULL, 0, 300), 0);
	struct sip_session *s = inviter_with(false, "alice", "secret");
	cr_assert_eq(sip_inviter_invite(s, NULL), 0);
	challenge(sent_nth(0, "INVITE ", 0), 401, false);
	struct wmsg *i2 = sent_nth(0, "INVITE ", 1);
	cr_assert_eq(verify(i2, "Authorization"), SIP_AUTH_OK);
	challenge(i2, 401, true);
	struct wmsg *i3 = sent_nth(0, "INVITE ", 2);
	cr_assert_not_null(i3);
	cr_assert_str_eq(hdr(i3, "CSeq"), "3 INVITE");
	answer_from_raw(i3, 200, "pbx1", "<sip:100@192.0.2.2>", "v=0\no=P 1 1 IN IP4 192.0.2.2\ns=-\n"
	                                                     "c=IN IP4 192.0.2.2\nt=0 0\n"
	                                                     "m=audio 7000 RTP/AVP 0\n");
	cr_assert_eq(sip_session_state(s), SIP_SESSION_ESTABLISHED);
	cr_assert_str_eq(hdr(sent_nth(0, "ACK ", 2), "CSeq"), "3 ACK");
	sip_session_unref(s);
	sip_auth_server_free(auth_srv);
}

Test(uaauth, no_credentials_means_the_challenge_is_the_answer)
{
	cr_assert_eq(sip_auth_server_new(&auth_srv, SIP_PL("pbx.example.com"), NULL, 0, 300), 0);
	struct sip_session *s = inviter_with(false, NULL, NULL);
	struct sip_request_delegate rd = req_delegate(A);
	cr_assert_eq(sip_inviter_invite(s, &(struct sip_invite_opts){.delegate = &rd}), 0);
	challenge(sent_nth(0, "INVITE ", 0), 407, false);
	cr_assert_eq(A->rec.last_reject, 407);
	cr_assert_eq(sip_session_end_reason(s), SIP_END_FAILED);
	sip_session_unref(s);
	sip_auth_server_free(auth_srv);
}

Test(uaauth, redirect_followed_when_asked_else_reported)
{
	struct sip_session *s = inviter_with(true, NULL, NULL);
	cr_assert_eq(sip_inviter_invite(s, NULL), 0);
	struct wmsg *i1 = sent_nth(0, "INVITE ", 0);
	answer_from_raw(i1, 302, "r1", "<sip:carol@192.0.2.3:5060>;q=0.5", NULL);
	struct wmsg *i2 = sent_nth(0, "INVITE ", 1);
	cr_assert_not_null(i2);
	cr_assert(strncmp(i2->bytes, "INVITE sip:carol@192.0.2.3:5060 SIP/2.0", 39) == 0);
	cr_assert_str_eq(hdr(i2, "CSeq"), "2 INVITE");
	cr_assert_str_eq(hdr(i2, "To"), "<sip:100@pbx.example.com>");
	/* five redirects at most */
	for (int i = 1; i < 6; i++)
		answer_from_raw(sent_nth(0, "INVITE ", i), 302, "r", "<sip:dave@192.0.2.4>", NULL);
	cr_assert_eq(sent_count(0, "INVITE "), 6);
	cr_assert_eq(sip_session_end_reason(s), SIP_END_FAILED);
	sip_session_unref(s);
	/* not followed: on_redirect */
	s = inviter_with(false, NULL, NULL);
	struct sip_request_delegate rd = req_delegate(A);
	cr_assert_eq(sip_inviter_invite(s, &(struct sip_invite_opts){.delegate = &rd}), 0);
	answer_from_raw(sent_nth(0, "INVITE ", 6), 302, "r2", "<sip:carol@192.0.2.3>", NULL);
	cr_assert_eq(A->rec.n_redirect, 1);
	cr_assert_eq(A->rec.n_reject, 0);
	cr_assert_eq(sip_session_end_reason(s), SIP_END_FAILED);
	sip_session_unref(s);
}
