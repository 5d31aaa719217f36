/* Unit tests: requests inside a UA session's dialog — INFO, MESSAGE,
 * re-INVITE (glare, 491 retry, 500 + Retry-After), UPDATE, BYE crossing a
 * re-INVITE, OPTIONS — over two real UAs and the fake wire of ua_world.h,
 * or against hand-written peer messages. */
#include "ua_world.h"

static void setup(void) { world_init(false, false); }
static void setup_raw(void) { world_init(true, false); }
static void teardown(void) { world_free(); }

TestSuite(uad, .init = setup, .fini = teardown);
TestSuite(uad_raw, .init = setup_raw, .fini = teardown);

static struct sip_request_delegate rd_a, rd_b;

/* ---- INFO and MESSAGE ---- */

Test(uad, info_both_ways_answered_200_by_default)
{
	struct sip_session *a = established_call();
	struct sip_session *b = B->inv;
	rd_a = req_delegate(A);
	struct sip_request_opts o = {.ctype = "application/dtmf-relay",
	                             .body = "Signal=5\r\nDuration=160\r\n",
	                             .body_len = 24,
	                             .delegate = &rd_a};
	cr_assert_eq(sip_session_info(a, &o), 0);
	run_for(0);
	struct wmsg *info = sent_nth(0, "INFO ", 0);
	cr_assert_not_null(info);
	cr_assert_str_eq(hdr(info, "CSeq"), "2 INFO");
	cr_assert_str_eq(hdr(info, "Content-Type"), "application/dtmf-relay");
	cr_assert_str_eq(body_of(info), "Signal=5\r\nDuration=160\r\n");
	cr_assert_eq(resp_count(1, "SIP/2.0 200", "INFO"), 1);
	cr_assert_eq(A->rec.n_accept, 2, "the INVITE's and the INFO's");
	rd_b = req_delegate(B);
	o.delegate = &rd_b;
	cr_assert_eq(sip_session_info(b, &o), 0);
	run_for(0);
	cr_assert_str_eq(hdr(sent_nth(1, "INFO ", 0), "CSeq"), "1 INFO");
	cr_assert_eq(resp_count(0, "SIP/2.0 200", "INFO"), 1);
	cr_assert_eq(B->rec.n_accept, 1);
	/* a body needs its type */
	o.ctype = NULL;
	cr_assert_eq(sip_session_info(a, &o), -EINVAL);
	sip_session_unref(a);
}

Test(uad, info_and_message_go_to_the_delegate_which_may_answer_later)
{
	use_full_delegate = true;
	struct sip_session *a = established_call();
	B->rec.answer_later = true;
	rd_a = req_delegate(A);
	struct sip_request_opts o = {.ctype = "text/plain", .body = "hi", .body_len = 2,
	                             .delegate = &rd_a};
	cr_assert_eq(sip_session_message(a, &o), 0);
	run_for(0);
	cr_assert_eq(B->rec.n_message, 1);
	struct sip_incoming_request *rq = B->rec.pending;
	cr_assert_not_null(rq);
	cr_assert_eq(sip_incoming_method(rq), SIP_METHOD_MESSAGE);
	cr_assert(sip_pl_eq_cstr(sip_msg_body(sip_incoming_message(rq)), "hi"));
	cr_assert_eq(resp_count(1, "SIP/2.0", "MESSAGE"), 0, "not answered yet");
	run_for(100);
	cr_assert_eq(sip_incoming_reject(rq, &(struct sip_reject_opts){.status = 415}), 0);
	run_for(0);
	cr_assert_eq(resp_count(1, "SIP/2.0 415", "MESSAGE"), 1);
	cr_assert_eq(A->rec.last_reject, 415);
	/* INFO accepted later with a body and a header */
	cr_assert_eq(sip_session_info(a, &o), 0);
	run_for(0);
	rq = B->rec.pending;
	cr_assert_eq(sip_incoming_method(rq), SIP_METHOD_INFO);
	cr_assert_eq(sip_incoming_accept(rq, &(struct sip_accept_opts){.status = 100}), -EINVAL);
	cr_assert_eq(sip_incoming_accept(rq, &(struct sip_accept_opts){
	                                         .status = 202, .extra_headers = "X-Got: 1\r\n"}),
	             0);
	run_for(0);
	struct wmsg *r = sent_resp(1, "SIP/2.0 202", "INFO", 0);
	cr_assert_str_eq(hdr(r, "X-Got"), "1");
	sip_session_unref(a);
}

Test(uad, a_request_left_unanswered_gets_481_when_the_session_ends)
{
	use_full_delegate = true;
	struct sip_session *a = established_call();
	B->rec.answer_later = true;
	cr_assert_eq(sip_session_info(a, NULL), 0);
	run_for(0);
	cr_assert_not_null(B->rec.pending);
	cr_assert_eq(sip_session_bye(B->inv, NULL), 0);
	run_for(0);
	cr_assert_eq(resp_count(1, "SIP/2.0 481", "INFO"), 1);
	cr_assert_eq(sip_session_state(B->inv), SIP_SESSION_TERMINATED);
	sip_session_unref(a);
}

/* ---- re-INVITE ---- */

static const int hold_opts = 42; /* what an owner passes as "hold" */

Test(uad, reinvite_from_the_caller_answered_by_the_callee_sdh)
{
	struct sip_session *a = established_call();
	rd_a = req_delegate(A);
	cr_assert_eq(sip_session_invite(a, &(struct sip_invite_opts){.sdh_options = &hold_opts,
	                                                             .delegate = &rd_a}),
	             0);
	cr_assert_eq(A->sdh.last_opts, &hold_opts);
	cr_assert_eq(sip_session_invite(a, NULL), -EBUSY);
	run_for(0);
	struct wmsg *ri = sent_nth(0, "INVITE ", 1);
	cr_assert_not_null(ri);
	cr_assert_str_eq(hdr(ri, "CSeq"), "2 INVITE");
	cr_assert_str_eq(hdr(ri, "Contact"), "<sip:alice@192.0.2.1:5060>");
	cr_assert(strstr(hdr(ri, "To"), ";tag=") != NULL);
	cr_assert(strstr(body_of(ri), "o=A 1 2 ") != NULL);
	cr_assert(strstr(B->sdh.remote, "o=A 1 2 ") != NULL);
	cr_assert_eq(B->sdh.n_get, 2);
	struct wmsg *ok = sent_resp(1, "SIP/2.0 200", "INVITE", 1);
	cr_assert(strstr(body_of(ok), "o=B 1 2 ") != NULL);
	cr_assert_eq(sent_count(0, "ACK "), 2);
	cr_assert_str_eq(hdr(sent_nth(0, "ACK ", 1), "CSeq"), "2 ACK");
	cr_assert_eq(A->rec.n_accept, 2);
	cr_assert(strstr(A->sdh.remote, "o=B 1 2 ") != NULL);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	cr_assert_eq(sip_ua_next_deadline(B->ua), UINT64_MAX, "the ACK stopped B's timers");
	cr_assert_eq(sip_session_invite(a, NULL), 0, "free again");
	run_for(0);
	sip_session_unref(a);
}

Test(uad, reinvite_from_the_callee_and_one_without_an_offer)
{
	struct sip_session *a = established_call();
	struct sip_session *b = B->inv;
	cr_assert_eq(sip_session_invite(b, &(struct sip_invite_opts){.without_sdp = true}), 0);
	run_for(0);
	struct wmsg *ri = sent_nth(1, "INVITE ", 0);
	cr_assert_str_eq(body_of(ri), "");
	cr_assert_str_eq(hdr(ri, "CSeq"), "1 INVITE");
	/* A offers in its 200, B answers in the ACK */
	struct wmsg *ok = sent_resp(0, "SIP/2.0 200", "INVITE", 0);
	cr_assert(strstr(body_of(ok), "o=A 1 2 ") != NULL);
	struct wmsg *ack = sent_nth(1, "ACK ", 0);
	cr_assert(strstr(body_of(ack), "o=B 1 2 ") != NULL);
	cr_assert(strstr(A->sdh.remote, "o=B 1 2 ") != NULL);
	cr_assert_eq(A->rec.n_description, 1);
	sip_session_unref(a);
}

Test(uad, reinvite_to_a_delegate_answered_later_or_refused)
{
	use_full_delegate = true;
	struct sip_session *a = established_call();
	B->rec.answer_later = true;
	rd_a = req_delegate(A);
	cr_assert_eq(sip_session_invite(a, &(struct sip_invite_opts){.delegate = &rd_a}), 0);
	run_for(0);
	cr_assert_eq(B->rec.n_reinvite, 1);
	cr_assert_eq(B->sdh.n_set, 2, "the offer reached the SDH before the owner");
	cr_assert_eq(resp_count(1, "SIP/2.0 200", "INVITE"), 1, "only the first INVITE's");
	cr_assert_eq(sip_incoming_reject(B->rec.pending, NULL), 0);
	run_for(0);
	cr_assert_eq(resp_count(1, "SIP/2.0 488", "INVITE"), 1);
	cr_assert_eq(B->sdh.n_rollback, 1);
	cr_assert_eq(A->sdh.n_rollback, 1);
	cr_assert_eq(A->rec.last_reject, 488);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	/* again, accepted after 300 ms */
	cr_assert_eq(sip_session_invite(a, &(struct sip_invite_opts){.delegate = &rd_a}), 0);
	run_for(300);
	cr_assert_eq(sip_incoming_accept(B->rec.pending, NULL), 0);
	run_for(0);
	cr_assert_eq(resp_count(1, "SIP/2.0 200", "INVITE"), 2);
	cr_assert_eq(A->rec.n_accept, 2);
	sip_session_unref(a);
}

Test(uad, reinvite_refused_by_the_sdh_gets_488)
{
	struct sip_session *a = established_call();
	B->sdh.fail_set = EINVAL;
	rd_a = req_delegate(A);
	cr_assert_eq(sip_session_invite(a, &(struct sip_invite_opts){.delegate = &rd_a}), 0);
	run_for(0);
	cr_assert_eq(resp_count(1, "SIP/2.0 488", "INVITE"), 1);
	cr_assert_eq(A->rec.last_reject, 488);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	sip_session_unref(a);
}

Test(uad, glare_both_get_491_and_retry_after_the_section_14_delays)
{
	struct sip_session *a = established_call();
	struct sip_session *b = B->inv;
	rd_a = req_delegate(A);
	rd_b = req_delegate(B);
	/* A (owner of the Call-ID) draws 100: 2100 + 100 % 191 * 10 = 3100 ms;
	 * B draws 150: 150 % 201 * 10 = 1500 ms */
	force_u32(100);
	force_u32(150);
	cr_assert_eq(sip_session_invite(a, &(struct sip_invite_opts){.delegate = &rd_a}), 0);
	cr_assert_eq(sip_session_invite(b, &(struct sip_invite_opts){.delegate = &rd_b}), 0);
	uint64_t t0 = now;
	run_for(0);
	cr_assert_eq(resp_count(0, "SIP/2.0 491", "INVITE"), 1);
	cr_assert_eq(resp_count(1, "SIP/2.0 491", "INVITE"), 1);
	cr_assert_eq(A->rec.n_reject + B->rec.n_reject, 0, "491 is retried, not reported");
	cr_assert_eq(A->sdh.n_rollback, 1);
	cr_assert_eq(B->sdh.n_rollback, 1);
	cr_assert_eq(sip_session_invite(a, NULL), -EBUSY, "the retry is pending");
	run_for(5000);
	struct wmsg *b2 = sent_nth(1, "INVITE ", 1), *a2 = sent_nth(0, "INVITE ", 2);
	cr_assert_not_null(b2);
	cr_assert_not_null(a2);
	cr_assert_eq(b2->at - t0, 1500);
	cr_assert_eq(a2->at - t0, 3100);
	cr_assert_str_eq(hdr(b2, "CSeq"), "2 INVITE");
	cr_assert_str_eq(hdr(a2, "CSeq"), "3 INVITE");
	cr_assert_eq(A->rec.n_accept, 2);
	cr_assert_eq(B->rec.n_accept, 1);
	sip_session_unref(a);
}

Test(uad, second_incoming_reinvite_while_one_is_pending_gets_500_with_retry_after)
{
	use_full_delegate = true;
	struct sip_session *a = established_call();
	B->rec.answer_later = true;
	force_u32(7);
	cr_assert_eq(sip_session_invite(a, NULL), 0);
	run_for(0);
	cr_assert_not_null(B->rec.pending);
	/* the same re-INVITE again as a new transaction with the next CSeq */
	struct wmsg *ri = sent_nth(0, "INVITE ", 1);
	char text[8192];
	snprintf(text, sizeof(text), "%s", ri->bytes);
	char *br = strstr(text, "branch=z9hG4bK");
	br[14] = br[14] == 'x' ? 'y' : 'x';
	char *cs = strstr(text, "CSeq: 2 INVITE");
	cs[6] = '3';
	wire[nwire++] = (struct wmsg){.from = 0, .at = now, .bytes = strdup(text), .len = strlen(text)};
	pump();
	struct wmsg *r = sent_resp(1, "SIP/2.0 500", "INVITE", 0);
	cr_assert_not_null(r);
	cr_assert_str_eq(hdr(r, "Retry-After"), "7");
	cr_assert_eq(B->rec.n_reinvite, 1);
	sip_session_unref(a);
}

Test(uad, bye_crossing_a_reinvite_ends_both_quietly)
{
	struct sip_session *a = established_call();
	struct sip_session *b = B->inv;
	rd_a = req_delegate(A);
	cr_assert_eq(sip_session_invite(a, &(struct sip_invite_opts){.delegate = &rd_a}), 0);
	cr_assert_eq(sip_session_bye(b, NULL), 0);
	run_for(40000);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_BYE_RECEIVED);
	cr_assert_eq(sip_session_end_reason(b), SIP_END_BYE_SENT);
	cr_assert_eq(resp_count(1, "SIP/2.0 500", "INVITE"), 1, "B was hanging up");
	cr_assert_eq(A->rec.n_reject, 0, "no callback after Terminated");
	cr_assert_eq(A->sdh.n_close, 1);
	sip_session_unref(a);
}

Test(uad, reinvite_and_requests_refused_outside_established)
{
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(sip_session_invite(a, NULL), -EPROTO);
	cr_assert_eq(sip_session_info(a, NULL), -EPROTO);
	cr_assert_eq(sip_session_message(a, NULL), -EPROTO);
	cr_assert_eq(sip_session_bye(a, NULL), -EPROTO);
	cr_assert_eq(sip_session_refer(a, "sip:c@example.com", NULL, NULL), -EPROTO);
	cr_assert_eq(sip_session_notify_refer(a, 200, NULL), -EPROTO);
	sip_session_unref(a);
}

/* ---- requests from a hand-written peer (B raw) to A as the callee ---- */

static void accept_now(struct side *sd, struct sip_session *s)
{
	(void)sd;
	cr_assert_eq(sip_invitation_accept(s, NULL), 0);
}

static char a_tag[64];

/* JsSIP-like INVITE to A, accepted, ACKed. */
static struct sip_session *raw_call_to_a(const char *extra)
{
	A->on_invite = accept_now;
	char text[4096];
	snprintf(text, sizeof(text),
	         "INVITE sip:alice@192.0.2.1:5060 SIP/2.0\n"
	         "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKraw1\n"
	         "Max-Forwards: 70\n"
	         "From: <sip:bob@example.com>;tag=rawb\n"
	         "To: <sip:alice@example.com>\n"
	         "Call-ID: raw-call\n"
	         "CSeq: 1 INVITE\n"
	         "Contact: <sip:bob@192.0.2.2:5060>\n"
	         "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY\n"
	         "%s"
	         "Content-Type: application/sdp\n"
	         "Content-Length: *\n\n"
	         "v=0\no=R 1 1 IN IP4 192.0.2.2\ns=-\nc=IN IP4 192.0.2.2\nt=0 0\n"
	         "m=audio 5000 RTP/AVP 0\n",
	         extra ? extra : "");
	inject_from(1, text);
	struct wmsg *ok = sent_resp(0, "SIP/2.0 200", "INVITE", 0);
	cr_assert_not_null(ok);
	snprintf(a_tag, sizeof(a_tag), "%s", strstr(hdr(ok, "To"), ";tag=") + 5);
	snprintf(text, sizeof(text),
	         "ACK sip:alice@192.0.2.1:5060 SIP/2.0\n"
	         "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKrawack1\n"
	         "Max-Forwards: 70\n"
	         "From: <sip:bob@example.com>;tag=rawb\n"
	         "To: <sip:alice@example.com>;tag=%s\n"
	         "Call-ID: raw-call\n"
	         "CSeq: 1 ACK\n"
	         "Content-Length: 0\n\n",
	         a_tag);
	inject_from(1, text);
	cr_assert_eq(sip_session_state(A->inv), SIP_SESSION_ESTABLISHED);
	A->on_invite = NULL;
	return A->inv;
}

static void raw_request(const char *method, unsigned cseq, const char *extra, const char *body)
{
	char text[4096];
	snprintf(text, sizeof(text),
	         "%s sip:alice@192.0.2.1:5060 SIP/2.0\n"
	         "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKraw%s%u\n"
	         "Max-Forwards: 70\n"
	         "From: <sip:bob@example.com>;tag=rawb\n"
	         "To: <sip:alice@example.com>;tag=%s\n"
	         "Call-ID: raw-call\n"
	         "CSeq: %u %s\n"
	         "Contact: <sip:bob@192.0.2.2:5060>\n"
	         "%s"
	         "%s"
	         "Content-Length: *\n\n%s",
	         method, method, cseq, a_tag, cseq, method, extra ? extra : "",
	         body ? "Content-Type: application/sdp\n" : "", body ? body : "");
	inject_from(1, text);
}

static const char *raw_offer2 = "v=0\no=R 1 2 IN IP4 192.0.2.2\ns=-\nc=IN IP4 192.0.2.2\nt=0 0\n"
                                "m=audio 5000 RTP/AVP 0\na=sendonly\n";

Test(uad_raw, update_without_sdp_is_a_refresh_and_with_sdp_an_offer)
{
	struct sip_session *s = raw_call_to_a(NULL);
	raw_request("UPDATE", 2, NULL, NULL);
	struct wmsg *r = sent_resp(0, "SIP/2.0 200", "UPDATE", 0);
	cr_assert_not_null(r);
	cr_assert_str_eq(body_of(r), "");
	cr_assert_str_eq(hdr(r, "Contact"), "<sip:alice@192.0.2.1:5060>");
	cr_assert_eq(A->sdh.n_set, 1);
	raw_request("UPDATE", 3, NULL, raw_offer2);
	r = sent_resp(0, "SIP/2.0 200", "UPDATE", 1);
	cr_assert(strstr(body_of(r), "o=A 1 2 ") != NULL);
	cr_assert(strstr(A->sdh.remote, "a=sendonly") != NULL);
	cr_assert_eq(sip_session_state(s), SIP_SESSION_ESTABLISHED);
	/* an old CSeq is refused 500 by the dialog */
	raw_request("UPDATE", 3, "X-Again: 1\n", NULL);
	cr_assert_eq(resp_count(0, "SIP/2.0 500", "UPDATE"), 0, "a retransmission, absorbed");
	raw_request("INFO", 2, NULL, NULL);
	cr_assert_eq(resp_count(0, "SIP/2.0 500", "INFO"), 1);
}

Test(uad_raw, options_in_dialog_and_unknown_methods)
{
	raw_call_to_a(NULL);
	raw_request("OPTIONS", 2, NULL, NULL);
	struct wmsg *r = sent_resp(0, "SIP/2.0 200", "OPTIONS", 0);
	cr_assert_not_null(r);
	cr_assert(strstr(hdr(r, "Allow"), "UPDATE") != NULL);
	cr_assert_str_eq(hdr(r, "Accept"), "application/sdp");
	raw_request("FOO", 3, NULL, NULL);
	cr_assert_eq(resp_count(0, "SIP/2.0 501", "FOO"), 1);
	raw_request("SUBSCRIBE", 4, "Event: dialog\n", NULL);
	cr_assert_eq(resp_count(0, "SIP/2.0 405", "SUBSCRIBE"), 1);
	cr_assert(strstr(hdr(sent_resp(0, "SIP/2.0 405", "SUBSCRIBE", 0), "Allow"), "INVITE") !=
	          NULL);
}

Test(uad_raw, reinvite_from_the_peer_is_retransmitted_until_acked)
{
	raw_call_to_a(NULL);
	uint64_t t0 = now;
	raw_request("INVITE", 2, NULL, raw_offer2);
	run_for(2000);
	cr_assert_eq(resp_count(0, "SIP/2.0 200", "INVITE"), 4, "the first + at 500, 1500");
	cr_assert_eq(sent_resp(0, "SIP/2.0 200", "INVITE", 3)->at - t0, 1500);
	char text[1024];
	snprintf(text, sizeof(text),
	         "ACK sip:alice@192.0.2.1:5060 SIP/2.0\n"
	         "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKrawack2\n"
	         "Max-Forwards: 70\n"
	         "From: <sip:bob@example.com>;tag=rawb\n"
	         "To: <sip:alice@example.com>;tag=%s\n"
	         "Call-ID: raw-call\n"
	         "CSeq: 2 ACK\n"
	         "Content-Length: 0\n\n",
	         a_tag);
	inject_from(1, text);
	run_for(10000);
	cr_assert_eq(resp_count(0, "SIP/2.0 200", "INVITE"), 4);
	cr_assert_eq(sent_count(0, "BYE "), 0);
}

Test(uad_raw, cancel_of_a_pending_reinvite_gets_487)
{
	use_full_delegate = true;
	raw_call_to_a(NULL);
	A->rec.answer_later = true;
	sip_session_set_delegate(A->inv, &full_delegate, A);
	raw_request("INVITE", 2, NULL, raw_offer2);
	cr_assert_not_null(A->rec.pending);
	char text[1024];
	snprintf(text, sizeof(text),
	         "CANCEL sip:alice@192.0.2.1:5060 SIP/2.0\n"
	         "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKrawINVITE2\n"
	         "Max-Forwards: 70\n"
	         "From: <sip:bob@example.com>;tag=rawb\n"
	         "To: <sip:alice@example.com>;tag=%s\n"
	         "Call-ID: raw-call\n"
	         "CSeq: 2 CANCEL\n"
	         "Content-Length: 0\n\n",
	         a_tag);
	inject_from(1, text);
	cr_assert_eq(resp_count(0, "SIP/2.0 200", "CANCEL"), 1);
	cr_assert_eq(resp_count(0, "SIP/2.0 487", "INVITE"), 1);
	cr_assert_eq(A->sdh.n_rollback, 1);
	cr_assert_eq(sip_session_state(A->inv), SIP_SESSION_ESTABLISHED);
}

Test(uad_raw, reinvite_491_retried_retry_491_times_then_reported)
{
	struct sip_session *s = raw_call_to_a(NULL);
	rd_a = req_delegate(A);
	force_u32(30); /* not the Call-ID's owner: 30 % 201 * 10 = 300 ms */
	cr_assert_eq(sip_session_invite(s, &(struct sip_invite_opts){.delegate = &rd_a,
	                                                             .retry_491 = 1}),
	             0);
	struct wmsg *r1 = sent_nth(0, "INVITE ", 0);
	uint64_t t0 = now;
	answer_from_raw(r1, 491, NULL, NULL, NULL);
	cr_assert_eq(A->rec.n_reject, 0);
	run_for(299);
	cr_assert_eq(sent_count(0, "INVITE "), 1);
	run_for(1);
	struct wmsg *r2 = sent_nth(0, "INVITE ", 1);
	cr_assert_not_null(r2);
	cr_assert_eq(r2->at - t0, 300);
	cr_assert_str_eq(hdr(r2, "CSeq"), "2 INVITE");
	answer_from_raw(r2, 491, NULL, NULL, NULL);
	cr_assert_eq(A->rec.n_reject, 1);
	cr_assert_eq(A->rec.last_reject, 491);
	cr_assert_eq(A->sdh.n_rollback, 2);
	cr_assert_eq(sip_session_state(s), SIP_SESSION_ESTABLISHED);
	cr_assert_eq(sip_session_invite(s, NULL), 0, "free for a new offer");
}
