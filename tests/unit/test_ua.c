/* Unit tests: the UA core's INVITE sessions (Invitation, Inviter, BYE,
 * CANCEL, forking, timers), driven through real transaction layers over the
 * fake wire of ua_world.h, with every message and time checked. */
#include "ua_world.h"

static void setup(void) { world_init(false, false); }
static void setup_raw(void) { world_init(true, false); }
static void setup_auto180(void) { world_init(false, true); }
static void teardown(void) { world_free(); }

TestSuite(ua, .init = setup, .fini = teardown);
TestSuite(ua_raw, .init = setup_raw, .fini = teardown);
TestSuite(ua_auto, .init = setup_auto180, .fini = teardown);

/* ---- the UA object ---- */

static int noop_send(void *arg, const struct sip_txn_dest *d, const char *b, size_t l)
{
	(void)arg;
	(void)d;
	(void)b;
	(void)l;
	return 0;
}
static void noop_invite(void *arg, struct sip_session *s)
{
	(void)arg;
	(void)s;
}

Test(ua, new_refuses_an_incomplete_configuration)
{
	struct sip_ua_config c = {.txn = A->txn,
	                          .now_ms = clock_ms,
	                          .cb = {.send = noop_send, .on_invite = noop_invite}};
	struct sip_ua *ua = sip_ua_new(&c);
	cr_assert_not_null(ua);
	cr_assert_eq(sip_ua_next_deadline(ua), UINT64_MAX);
	cr_assert_eq(sip_ua_session_count(ua), 0);
	sip_ua_free(ua);
	struct sip_ua_config bad = c;
	bad.txn = NULL;
	cr_assert_null(sip_ua_new(&bad));
	bad = c;
	bad.now_ms = NULL;
	cr_assert_null(sip_ua_new(&bad));
	bad = c;
	bad.cb.send = NULL;
	cr_assert_null(sip_ua_new(&bad));
	bad = c;
	bad.cb.on_invite = NULL;
	cr_assert_null(sip_ua_new(&bad));
	bad = c;
	bad.allow = "INVITE\r\nX: y";
	cr_assert_null(sip_ua_new(&bad));
	cr_assert_null(sip_ua_new(NULL));
	sip_ua_free(NULL);
}

Test(ua, names_of_states_and_reasons)
{
	cr_assert_str_eq(sip_session_state_name(SIP_SESSION_INITIAL), "Initial");
	cr_assert_str_eq(sip_session_state_name(SIP_SESSION_TERMINATED), "Terminated");
	cr_assert_str_eq(sip_session_state_name((enum sip_session_state)99), "?");
	cr_assert_str_eq(sip_end_reason_name(SIP_END_SESSION_EXPIRED), "session-expired");
	cr_assert_str_eq(sip_end_reason_name((enum sip_end_reason)99), "?");
}

/* ---- the basic call ---- */

Test(ua, inviter_sends_the_invite_with_the_sdh_offer_byte_for_byte)
{
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_INITIAL);
	cr_assert_eq(nwire, 0, "nothing is sent before invite()");
	cr_assert(sip_session_is_inviter(a));
	cr_assert_eq(invite_now(a, A), 0);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHING);
	struct wmsg *inv = sent_nth(0, "INVITE ", 0);
	cr_assert_not_null(inv);
	const char *via = hdr(inv, "Via");
	const char *branch = strstr(via, ";branch=z9hG4bK");
	cr_assert_not_null(branch);
	cr_assert_eq(strlen(branch + 15), 16);
	char from[128], cid[128], branch_s[64];
	hdr_copy(inv, "From", from, sizeof(from));
	hdr_copy(inv, "Call-ID", cid, sizeof(cid));
	snprintf(branch_s, sizeof(branch_s), "%s", branch + 8);
	const char *tag = strstr(from, ";tag=");
	cr_assert_not_null(tag);
	cr_assert_eq(strlen(tag + 5), 10);
	cr_assert_eq(strlen(cid), 24);
	char want[2048];
	const char *sdp = "v=0\r\no=A 1 1 IN IP4 192.0.2.65\r\ns=-\r\nc=IN IP4 192.0.2.65\r\n"
	                  "t=0 0\r\nm=audio 4065 RTP/AVP 0\r\n";
	snprintf(want, sizeof(want),
	         "INVITE sip:bob@192.0.2.2:5060 SIP/2.0\r\n"
	         "Via: SIP/2.0/UDP 192.0.2.1:5060;rport;branch=%s\r\n"
	         "Max-Forwards: 70\r\n"
	         "From: \"Alice\" <sip:alice@example.com>;tag=%s\r\n"
	         "To: <sip:bob@example.com>\r\n"
	         "Call-ID: %s\r\n"
	         "CSeq: 1 INVITE\r\n"
	         "Contact: <sip:alice@192.0.2.1:5060>\r\n"
	         "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE, UPDATE, PRACK, REFER, "
	         "NOTIFY\r\n"
	         "Supported: timer, replaces\r\n"
	         "User-Agent: sipwire\r\n"
	         "Content-Type: application/sdp\r\n"
	         "Content-Length: %zu\r\n"
	         "\r\n%s",
	         branch_s, tag + 5, cid, strlen(sdp), sdp);
	cr_assert_str_eq(inv->bytes, want);
	cr_assert_eq(A->sdh.n_get, 1);
	cr_assert_eq(sip_ua_session_count(A->ua), 1);
	sip_session_unref(a);
}

Test(ua, loopback_call_reaches_established_on_both_sides)
{
	B->on_invite = accept_in_on_invite;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(B->n_invitations, 1);
	struct sip_session *b = B->inv;
	cr_assert(!sip_session_is_inviter(b));
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	cr_assert_eq(sip_session_state(b), SIP_SESSION_ESTABLISHED);
	cr_assert_str_eq(A->rec.states, "Establishing Established");
	cr_assert_str_eq(B->rec.states, "Establishing Established");
	cr_assert_eq(A->rec.n_accept, 1);
	/* B's SDH got A's offer and answered it; A's SDH got the answer */
	cr_assert_eq(B->sdh.n_set, 1);
	cr_assert(strstr(B->sdh.remote, "o=A 1 1 ") != NULL);
	cr_assert(strstr(A->sdh.remote, "o=B 1 1 ") != NULL);
	/* the 200: To tag, Contact, body; then the ACK with the same CSeq */
	struct wmsg *ok = sent_resp(1, "SIP/2.0 200", "INVITE", 0);
	cr_assert_not_null(ok);
	cr_assert_str_eq(hdr(ok, "Contact"), "<sip:bob@192.0.2.2:5060>");
	cr_assert(strstr(hdr(ok, "To"), ";tag=") != NULL);
	cr_assert_str_eq(hdr(ok, "Supported"), "timer, replaces, 100rel");
	cr_assert(strstr(body_of(ok), "o=B 1 1 ") != NULL);
	struct wmsg *ack = sent_nth(0, "ACK ", 0);
	cr_assert_not_null(ack);
	cr_assert_str_eq(hdr(ack, "CSeq"), "1 ACK");
	cr_assert(strncmp(ack->bytes, "ACK sip:bob@192.0.2.2:5060 SIP/2.0\r\n", 36) == 0);
	/* dialogs and identities */
	cr_assert_not_null(sip_session_dialog(a));
	cr_assert_not_null(sip_session_dialog(b));
	cr_assert_eq(sip_dialog_state(sip_session_dialog(a)), SIP_DIALOG_CONFIRMED);
	sip_pl rid = sip_session_remote_identity(b);
	cr_assert(sip_pl_eq(rid, sip_session_local_identity(a)));
	cr_assert(sip_pl_eq(sip_session_call_id(a), sip_session_call_id(b)));
	cr_assert(strstr(sip_session_id(b), ";") != NULL);
	cr_assert_neq(strcmp(sip_session_id(a), sip_session_id(b)), 0);
	/* no timers left but the transactions' */
	cr_assert_eq(sip_ua_next_deadline(A->ua), UINT64_MAX);
	cr_assert_eq(sip_ua_next_deadline(B->ua), UINT64_MAX);
	sip_session_unref(a);
}

static void keep_ringing(struct side *sd, struct sip_session *s)
{
	(void)sd;
	(void)s;
}

Test(ua_auto, auto_180_goes_after_on_invite_and_makes_an_early_dialog)
{
	B->on_invite = keep_ringing;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	struct wmsg *ring = sent_resp(1, "SIP/2.0 180", "INVITE", 0);
	cr_assert_not_null(ring);
	cr_assert_str_eq(hdr(ring, "Contact"), "<sip:bob@192.0.2.2:5060>");
	cr_assert_str_eq(body_of(ring), "");
	cr_assert_eq(A->rec.n_progress, 1);
	cr_assert_eq(A->rec.last_progress, 180);
	cr_assert_not_null(sip_session_dialog(a));
	cr_assert_eq(sip_dialog_state(sip_session_dialog(a)), SIP_DIALOG_EARLY);
	cr_assert_eq(sip_session_state(B->inv), SIP_SESSION_INITIAL);
	/* the owner answers later */
	cr_assert_eq(sip_invitation_accept(B->inv, NULL), 0);
	run_for(0);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	cr_assert_eq(resp_count(1, "SIP/2.0 180", "INVITE"), 1);
	sip_session_unref(a);
}

static void progress_183(struct side *sd, struct sip_session *s)
{
	(void)sd;
	cr_assert_eq(sip_invitation_progress(
	                 s, &(struct sip_progress_opts){.status = 183, .with_description = true}),
	             0);
}

Test(ua_auto, early_media_183_and_the_200_carry_the_same_answer)
{
	B->on_invite = progress_183;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(resp_count(1, "SIP/2.0 180", "INVITE"), 0, "no auto 180 after a 183");
	struct wmsg *p = sent_resp(1, "SIP/2.0 183", "INVITE", 0);
	cr_assert_not_null(p);
	cr_assert_eq(A->sdh.n_set, 1, "early media applied");
	cr_assert_eq(sip_invitation_accept(B->inv, NULL), 0);
	run_for(0);
	struct wmsg *ok = sent_resp(1, "SIP/2.0 200", "INVITE", 0);
	cr_assert_str_eq(body_of(ok), body_of(p));
	cr_assert_eq(B->sdh.n_get, 1, "one answer, repeated");
	cr_assert_eq(A->sdh.n_set, 1, "the same dialog's answer is not applied twice");
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	sip_session_unref(a);
}

/* ---- 2xx retransmission and the ACK wait (RFC 3261 §13.3.1.4, RFC 6026) ---- */

static bool drop_acks(const struct wmsg *m) { return strncmp(m->bytes, "ACK ", 4) == 0; }

Test(ua, unacknowledged_2xx_is_resent_t1_doubling_to_t2_then_bye_at_64_t1)
{
	dropper = drop_acks;
	B->on_invite = accept_in_on_invite;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	uint64_t t0 = now;
	run_for(0);
	cr_assert_eq(sip_session_state(B->inv), SIP_SESSION_ESTABLISHING);
	struct sip_session *b = sip_session_ref(B->inv);
	run_for(40000);
	/* the first 200 at t0, then 500, 1000, 2000, 4000, 4000... apart */
	uint64_t want[] = {0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500};
	int n = resp_count(1, "SIP/2.0 200", "INVITE");
	cr_assert_eq(n, 11, "got %d", n);
	for (int i = 0; i < n; i++)
		cr_assert_eq(sent_resp(1, "SIP/2.0 200", "INVITE", i)->at - t0, want[i],
		             "2xx #%d at %llu", i,
		             (unsigned long long)(sent_resp(1, "SIP/2.0 200", "INVITE", i)->at - t0));
	struct wmsg *bye = sent_nth(1, "BYE ", 0);
	cr_assert_not_null(bye);
	cr_assert_eq(bye->at - t0, 32000);
	cr_assert_eq(sip_session_state(b), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(b), SIP_END_TIMEOUT);
	cr_assert_str_eq(B->rec.states, "Establishing Terminating Terminated");
	/* A ACKed every 2xx (each ACK lost) and took the BYE */
	cr_assert_eq(sent_count(0, "ACK "), 11);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_BYE_RECEIVED);
	cr_assert_eq(A->rec.n_bye, 1);
	sip_session_unref(b);
	sip_session_unref(a);
}

Test(ua, reliable_transport_has_no_2xx_retransmission_but_the_same_ack_wait)
{
	world_free();
	reliable_flows = true;
	world_init(false, false);
	reliable_flows = false;
	dropper = drop_acks;
	B->on_invite = accept_in_on_invite;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	uint64_t t0 = now;
	run_for(40000);
	cr_assert_eq(resp_count(1, "SIP/2.0 200", "INVITE"), 1);
	struct wmsg *bye = sent_nth(1, "BYE ", 0);
	cr_assert_not_null(bye);
	cr_assert_eq(bye->at - t0, 32000);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_BYE_RECEIVED);
	sip_session_unref(a);
}

Test(ua, ack_with_another_cseq_is_ignored)
{
	dropper = drop_acks;
	B->on_invite = accept_in_on_invite;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	dropper = NULL;
	/* replay A's ACK with CSeq 7: not the ACK of our 2xx */
	struct wmsg *ack = sent_nth(0, "ACK ", 0);
	char text[4096];
	snprintf(text, sizeof(text), "%s", ack->bytes);
	char *cs = strstr(text, "CSeq: 1 ACK");
	cr_assert_not_null(cs);
	cs[6] = '7';
	size_t n = nwire;
	wire[nwire++] = (struct wmsg){.from = 0, .at = now, .bytes = strdup(text), .len = strlen(text)};
	pump();
	(void)n;
	cr_assert_eq(sip_session_state(B->inv), SIP_SESSION_ESTABLISHING);
	/* the real ACK (a retransmission answering the next 2xx) confirms */
	run_for(500);
	cr_assert_eq(sip_session_state(B->inv), SIP_SESSION_ESTABLISHED);
	sip_session_unref(a);
}

/* ---- reject ---- */

static void reject_default(struct side *sd, struct sip_session *s)
{
	(void)sd;
	cr_assert_eq(sip_invitation_reject(s, NULL), 0);
}

Test(ua, reject_defaults_to_480_and_fails_the_inviter)
{
	B->on_invite = reject_default;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(resp_count(1, "SIP/2.0 480 Temporarily Unavailable", "INVITE"), 1);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_FAILED);
	cr_assert_eq(A->rec.n_reject, 1);
	cr_assert_eq(A->rec.last_reject, 480);
	cr_assert_str_eq(A->rec.states, "Establishing Terminated");
	cr_assert_str_eq(B->rec.states, "Terminated");
	cr_assert_eq(B->sdh.n_close, 1);
	cr_assert_eq(A->sdh.n_close, 1);
	cr_assert_eq(sip_ua_session_count(A->ua), 0);
	cr_assert_eq(sip_ua_session_count(B->ua), 0);
	/* the non-2xx is ACKed by A's transaction, hop by hop */
	cr_assert_eq(sent_count(0, "ACK "), 1);
	sip_session_unref(a);
}

static void reject_486(struct side *sd, struct sip_session *s)
{
	(void)sd;
	cr_assert_eq(sip_invitation_reject(s, &(struct sip_reject_opts){.status = 200}), -EINVAL);
	cr_assert_eq(sip_invitation_reject(
	                 s, &(struct sip_reject_opts){.status = 486,
	                                              .reason = "Busy Now",
	                                              .extra_headers = "Retry-After: 30\r\n"}),
	             0);
	cr_assert_eq(sip_invitation_reject(s, NULL), -EPROTO, "answered already");
	cr_assert_eq(sip_invitation_accept(s, NULL), -EPROTO);
}

Test(ua, reject_with_status_reason_and_headers)
{
	B->on_invite = reject_486;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	struct wmsg *r = sent_resp(1, "SIP/2.0 486 Busy Now", "INVITE", 0);
	cr_assert_not_null(r);
	cr_assert_str_eq(hdr(r, "Retry-After"), "30");
	cr_assert_eq(sip_session_end_reason(B->inv), SIP_END_REJECTED);
	cr_assert_eq(A->rec.last_reject, 486);
	sip_session_unref(a);
}

/* An owner that disposes of the Inviter while it hears the final response
 * sends nothing more: there is nothing left to cancel. */
static void ring_then_reject(struct side *sd, struct sip_session *s)
{
	(void)sd;
	cr_assert_eq(sip_invitation_progress(s, NULL), 0);
	cr_assert_eq(sip_invitation_reject(s, &(struct sip_reject_opts){.status = 486}), 0);
}

Test(ua, dispose_from_on_reject_sends_no_cancel)
{
	B->on_invite = ring_then_reject;
	A->dispose_on_reject = true;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(A->rec.last_reject, 486);
	run_for(40000);
	cr_assert_eq(sent_count(0, "CANCEL "), 0);
	cr_assert_eq(sent_count(0, "ACK "), 1);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_FAILED);
	sip_session_unref(a);
}

Test(ua, sdh_refusing_the_offer_answers_488)
{
	B->sdh.fail_set = EINVAL;
	B->on_invite = keep_ringing;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(sip_invitation_accept(B->inv, NULL), -EINVAL);
	run_for(0);
	cr_assert_eq(resp_count(1, "SIP/2.0 488", "INVITE"), 1);
	cr_assert_eq(sip_session_state(B->inv), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(B->inv), SIP_END_ERROR);
	cr_assert_eq(A->rec.last_reject, 488);
	sip_session_unref(a);
}

/* ---- CANCEL ---- */

Test(ua_auto, cancel_after_180_gets_200_and_487_and_ends_both)
{
	B->on_invite = keep_ringing;
	use_full_delegate = true;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	struct sip_session *b = sip_session_ref(B->inv);
	cr_assert_eq(sip_inviter_cancel(a, &(struct sip_reject_opts){
	                                       .extra_headers = "Reason: SIP;cause=200;text=\"x\"\r\n"}),
	             0);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATING);
	struct wmsg *c = sent_nth(0, "CANCEL ", 0);
	cr_assert_not_null(c);
	struct wmsg *inv = sent_nth(0, "INVITE ", 0);
	cr_assert_str_eq(hdr(c, "Via"), hdr(inv, "Via"));
	cr_assert_str_eq(hdr(c, "To"), hdr(inv, "To"));
	cr_assert_str_eq(hdr(c, "CSeq"), "1 CANCEL");
	cr_assert_str_eq(hdr(c, "Reason"), "SIP;cause=200;text=\"x\"");
	run_for(0);
	cr_assert_eq(resp_count(1, "SIP/2.0 200", "CANCEL"), 1);
	cr_assert_eq(resp_count(1, "SIP/2.0 487", "INVITE"), 1);
	cr_assert_eq(B->rec.n_cancel, 1);
	cr_assert_eq(sip_session_end_reason(b), SIP_END_CANCELED);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_CANCELED);
	cr_assert_str_eq(A->rec.states, "Establishing Terminating Terminated");
	cr_assert_eq(sip_invitation_accept(b, NULL), -ECANCELED);
	cr_assert_eq(sip_invitation_progress(b, NULL), -ECANCELED);
	sip_session_unref(b);
	sip_session_unref(a);
}

Test(ua, cancel_waits_for_the_first_provisional)
{
	B->on_invite = keep_ringing; /* no auto 180, no 100 (trying delay off) */
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(sip_inviter_cancel(a, NULL), 0);
	run_for(100);
	cr_assert_eq(sent_count(0, "CANCEL "), 0, "§9.1: no CANCEL before a provisional");
	cr_assert_eq(sip_invitation_progress(B->inv, NULL), 0);
	run_for(0);
	cr_assert_eq(sent_count(0, "CANCEL "), 1);
	cr_assert_eq(sent_nth(0, "CANCEL ", 0)->at, now);
	cr_assert_eq(A->rec.n_progress, 0, "no progress reported once cancelled");
	cr_assert_eq(sip_session_end_reason(a), SIP_END_CANCELED);
	cr_assert_eq(sip_session_end_reason(B->inv), SIP_END_CANCELED);
	sip_session_unref(a);
}

Test(ua_auto, a_2xx_crossing_the_cancel_is_acked_and_byed)
{
	B->on_invite = keep_ringing;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	struct sip_session *b = B->inv;
	/* both act before either message arrives */
	cr_assert_eq(sip_invitation_accept(b, NULL), 0);
	cr_assert_eq(sip_inviter_cancel(a, NULL), 0);
	run_for(0);
	/* B answered the CANCEL 200 but its INVITE was already answered */
	cr_assert_eq(resp_count(1, "SIP/2.0 200", "CANCEL"), 1);
	cr_assert_eq(resp_count(1, "SIP/2.0 487", "INVITE"), 0);
	struct wmsg *ack = sent_nth(0, "ACK ", 0), *bye = sent_nth(0, "BYE ", 0);
	cr_assert_not_null(ack);
	cr_assert_not_null(bye);
	cr_assert(ack < bye, "ACK first");
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_CANCELED);
	cr_assert_eq(sip_session_end_reason(b), SIP_END_BYE_RECEIVED);
	cr_assert_eq(A->rec.n_accept, 0, "the owner never hears of the crossing 2xx as an answer");
	sip_session_unref(a);
}

Test(ua, cancel_of_an_inviter_never_sent_ends_it_quietly)
{
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(sip_inviter_cancel(a, NULL), 0);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_CANCELED);
	cr_assert_eq(nwire, 0);
	cr_assert_eq(A->sdh.n_close, 1);
	cr_assert_eq(sip_inviter_invite(a, NULL), -EPROTO);
	sip_session_unref(a);
}

/* ---- Timer B ---- */

static bool drop_all_from_b(const struct wmsg *m) { return m->from == 1; }

Test(ua, no_answer_at_all_ends_the_inviter_at_timer_b)
{
	dropper = drop_all_from_b;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	uint64_t t0 = now;
	run_for(31999);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHING);
	run_for(1);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(now - t0, 32000);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_TIMEOUT);
	cr_assert_eq(A->rec.last_reject, 408);
	sip_session_unref(a);
}

/* ---- BYE ---- */

Test(ua, bye_from_the_caller)
{
	struct sip_session *a = established_call();
	struct sip_session *b = sip_session_ref(B->inv);
	cr_assert_eq(sip_session_bye(a, NULL), 0);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATING);
	run_for(0);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_BYE_SENT);
	cr_assert_eq(sip_session_end_reason(b), SIP_END_BYE_RECEIVED);
	cr_assert_eq(B->rec.n_bye, 1);
	struct wmsg *bye = sent_nth(0, "BYE ", 0);
	cr_assert_str_eq(hdr(bye, "CSeq"), "2 BYE");
	cr_assert(strncmp(bye->bytes, "BYE sip:bob@192.0.2.2:5060 SIP/2.0", 34) == 0);
	cr_assert_eq(resp_count(1, "SIP/2.0 200", "BYE"), 1);
	cr_assert_eq(sip_session_bye(a, NULL), -EPROTO);
	cr_assert_eq(sip_ua_session_count(A->ua), 0);
	cr_assert_eq(sip_ua_session_count(B->ua), 0);
	sip_session_unref(b);
	sip_session_unref(a);
}

Test(ua, bye_from_the_callee)
{
	struct sip_session *a = established_call();
	struct sip_session *b = sip_session_ref(B->inv);
	cr_assert_eq(sip_session_bye(b, NULL), 0);
	run_for(0);
	struct wmsg *bye = sent_nth(1, "BYE ", 0);
	cr_assert_not_null(bye);
	cr_assert(strncmp(bye->bytes, "BYE sip:alice@192.0.2.1:5060 SIP/2.0", 36) == 0);
	cr_assert_str_eq(hdr(bye, "CSeq"), "1 BYE", "a UAS dialog's CSeq starts at 1");
	cr_assert_eq(sip_session_end_reason(b), SIP_END_BYE_SENT);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_BYE_RECEIVED);
	cr_assert_eq(A->rec.n_bye, 1);
	cr_assert_eq(A->sdh.n_close, 1);
	cr_assert_eq(B->sdh.n_close, 1);
	sip_session_unref(b);
	sip_session_unref(a);
}

static bool drop_bye_answers(const struct wmsg *m)
{
	return m->from == 1 && strstr(m->bytes, " BYE\r\n") != NULL;
}

Test(ua, unanswered_bye_ends_the_session_at_timer_f)
{
	struct sip_session *a = established_call();
	dropper = drop_bye_answers;
	uint64_t t0 = now;
	cr_assert_eq(sip_session_bye(a, NULL), 0);
	run_for(31999);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATING);
	run_for(1);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(now - t0, 32000);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_BYE_SENT);
	sip_session_unref(a);
}

Test(ua, bye_before_the_ack_waits_for_it)
{
	dropper = drop_acks;
	B->on_invite = accept_in_on_invite;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	struct sip_session *b = sip_session_ref(B->inv);
	cr_assert_eq(sip_session_bye(b, NULL), 0);
	cr_assert_eq(sip_session_state(b), SIP_SESSION_TERMINATING);
	cr_assert_eq(sent_count(1, "BYE "), 0, "§15: no BYE before the ACK");
	dropper = NULL;
	run_for(500); /* the 2xx retransmission brings an ACK */
	cr_assert_eq(sent_count(1, "BYE "), 1);
	cr_assert_eq(sip_session_end_reason(b), SIP_END_BYE_SENT);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_BYE_RECEIVED);
	sip_session_unref(b);
	sip_session_unref(a);
}

/* ---- requests for no dialog ---- */

Test(ua_raw, in_dialog_request_for_no_dialog_gets_481)
{
	inject_from(1, "INFO sip:alice@192.0.2.1:5060 SIP/2.0\n"
	               "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKnodialog1\n"
	               "Max-Forwards: 70\n"
	               "From: <sip:bob@example.com>;tag=b1\n"
	               "To: <sip:alice@example.com>;tag=nosuch\n"
	               "Call-ID: gone@example.com\n"
	               "CSeq: 5 INFO\n"
	               "Content-Length: 0\n\n");
	struct wmsg *r = sent_resp(0, "SIP/2.0 481", "INFO", 0);
	cr_assert_not_null(r);
	cr_assert_str_eq(hdr(r, "To"), "<sip:alice@example.com>;tag=nosuch");
	/* an out-of-dialog request other than INVITE is the owner's (-ENOENT) */
	inject_from(1, "OPTIONS sip:alice@192.0.2.1:5060 SIP/2.0\n"
	               "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKnodialog2\n"
	               "Max-Forwards: 70\n"
	               "From: <sip:bob@example.com>;tag=b1\n"
	               "To: <sip:alice@example.com>\n"
	               "Call-ID: other@example.com\n"
	               "CSeq: 1 OPTIONS\n"
	               "Content-Length: 0\n\n");
	cr_assert_not_null(sent_resp(0, "SIP/2.0 501", "OPTIONS", 0));
	/* a CANCEL matching no INVITE */
	inject_from(1, "CANCEL sip:alice@192.0.2.1:5060 SIP/2.0\n"
	               "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKnodialog3\n"
	               "Max-Forwards: 70\n"
	               "From: <sip:bob@example.com>;tag=b1\n"
	               "To: <sip:alice@example.com>\n"
	               "Call-ID: other2@example.com\n"
	               "CSeq: 1 CANCEL\n"
	               "Content-Length: 0\n\n");
	cr_assert_not_null(sent_resp(0, "SIP/2.0 481", "CANCEL", 0));
}

#define JSSIP_INVITE                                                                               \
    "INVITE sip:alice@192.0.2.1:5060 SIP/2.0\n" \
    "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKjs1\n" \
    "Max-Forwards: 69\n" \
    "Record-Route: <sip:proxy.example.com;lr>\n" \
    "From: \"Bob\" <sip:bob@example.com>;tag=jsfrom\n" \
    "To: <sip:alice@example.com>\n" \
    "Call-ID: js-call-1\n" \
    "CSeq: 7 INVITE\n" \
    "Contact: <sip:bob@192.0.2.2:5060>\n" \
    "P-Asserted-Identity: <sip:+15551234@example.com>\n" \
    "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY\n" \
    "Supported: timer,ice,replaces,outbound\n" \
    "%s" \
    "Content-Type: application/sdp\n" \
    "Content-Length: *\n" \
    "\n" \
    "v=0\no=B 5 5 IN IP4 192.0.2.2\ns=-\nc=IN IP4 192.0.2.2\nt=0 0\nm=audio 5000 RTP/AVP 0\n"

static void inject_invite(const char *extra)
{
	char text[4096];
	snprintf(text, sizeof(text), JSSIP_INVITE, extra ? extra : "");
	inject_from(1, text);
}

Test(ua_raw, unknown_required_extension_gets_420_with_unsupported)
{
	inject_invite("Require: foo, timer, bar\n");
	struct wmsg *r = sent_resp(0, "SIP/2.0 420", "INVITE", 0);
	cr_assert_not_null(r);
	cr_assert_str_eq(hdr(r, "Unsupported"), "foo, bar");
	cr_assert_eq(A->n_invitations, 0);
}

Test(ua_raw, invitation_accessors_and_record_route_in_answers)
{
	A->on_invite = keep_ringing;
	inject_invite(NULL);
	cr_assert_eq(A->n_invitations, 1);
	struct sip_session *s = A->inv;
	cr_assert_eq(sip_session_state(s), SIP_SESSION_INITIAL);
	cr_assert(sip_pl_eq_cstr(sip_session_call_id(s), "js-call-1"));
	cr_assert(sip_pl_eq_cstr(sip_session_remote_identity(s), "\"Bob\" <sip:bob@example.com>;tag=jsfrom"));
	cr_assert(sip_pl_eq_cstr(sip_session_local_identity(s), "<sip:alice@example.com>"));
	cr_assert(sip_pl_eq_cstr(sip_session_asserted_identity(s), "<sip:+15551234@example.com>"));
	cr_assert(sip_pl_eq_cstr(sip_session_body(s), "v=0\r\no=B 5 5 IN IP4 192.0.2.2\r\ns=-\r\n"
	                                              "c=IN IP4 192.0.2.2\r\nt=0 0\r\n"
	                                              "m=audio 5000 RTP/AVP 0\r\n"));
	cr_assert_eq(sip_msg_method(sip_session_request(s)), SIP_METHOD_INVITE);
	cr_assert_null(sip_session_dialog(s), "no dialog before a tagged response");
	cr_assert_null(sip_session_replacee(s));
	cr_assert_eq(sip_session_data(s), A);
	cr_assert_not_null(sip_session_sdh(s));
	cr_assert_eq(sip_session_dest(s)->flow, &A->flow);
	cr_assert_eq(sip_invitation_progress(s, &(struct sip_progress_opts){.status = 99}), -EINVAL);
	cr_assert_eq(sip_invitation_progress(s, NULL), 0);
	struct wmsg *ring = sent_resp(0, "SIP/2.0 180", "INVITE", 0);
	cr_assert_str_eq(hdr(ring, "Record-Route"), "<sip:proxy.example.com;lr>");
	cr_assert_not_null(sip_session_dialog(s));
	char want_id[64];
	snprintf(want_id, sizeof(want_id), "js-call-1;%s",
	         strstr(hdr(ring, "To"), ";tag=") + 5);
	cr_assert_str_eq(sip_session_id(s), want_id);
	cr_assert(sip_pl_eq(sip_session_local_identity(s),
	                    sip_pl_from_cstr(hdr(ring, "To"))));
	cr_assert_eq(sip_invitation_accept(s, NULL), 0);
	struct wmsg *ok = sent_resp(0, "SIP/2.0 200", "INVITE", 0);
	cr_assert_str_eq(hdr(ok, "Record-Route"), "<sip:proxy.example.com;lr>");
	cr_assert_str_eq(hdr(ok, "To"), hdr(ring, "To"), "the same tag");
	cr_assert_eq(sip_session_state(s), SIP_SESSION_ESTABLISHING);
}

/* ---- forking (raw B plays a forking proxy) ---- */

static const char *sdp_b1 = "v=0\no=B1 1 1 IN IP4 192.0.2.21\ns=-\nc=IN IP4 192.0.2.21\nt=0 0\n"
                            "m=audio 6000 RTP/AVP 0\n";
static const char *sdp_b2 = "v=0\no=B2 1 1 IN IP4 192.0.2.22\ns=-\nc=IN IP4 192.0.2.22\nt=0 0\n"
                            "m=audio 6002 RTP/AVP 0\n";

Test(ua_raw, forked_180s_then_200_from_one_branch_and_a_late_200_acked_and_byed)
{
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	struct wmsg *inv = sent_nth(0, "INVITE ", 0);
	answer_from_raw(inv, 180, "br1", "<sip:b1@192.0.2.21>", NULL);
	answer_from_raw(inv, 180, "br2", "<sip:b2@192.0.2.22>", NULL);
	cr_assert_eq(A->rec.n_progress, 2);
	answer_from_raw(inv, 200, "br1", "<sip:b1@192.0.2.21>", sdp_b1);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	cr_assert(strstr(A->sdh.remote, "o=B1 ") != NULL);
	struct wmsg *ack1 = sent_nth(0, "ACK ", 0);
	cr_assert(strncmp(ack1->bytes, "ACK sip:b1@192.0.2.21 SIP/2.0", 29) == 0);
	cr_assert(strstr(hdr(ack1, "To"), ";tag=br1") != NULL);
	/* the late 2xx of the other branch: its own ACK, then a BYE */
	answer_from_raw(inv, 200, "br2", "<sip:b2@192.0.2.22>", sdp_b2);
	struct wmsg *ack2 = sent_nth(0, "ACK ", 1), *bye = sent_nth(0, "BYE ", 0);
	cr_assert_not_null(ack2);
	cr_assert_not_null(bye);
	cr_assert(strncmp(ack2->bytes, "ACK sip:b2@192.0.2.22 SIP/2.0", 29) == 0);
	cr_assert(strncmp(bye->bytes, "BYE sip:b2@192.0.2.22 SIP/2.0", 29) == 0);
	cr_assert(strstr(hdr(bye, "To"), ";tag=br2") != NULL);
	cr_assert_eq(A->sdh.n_set, 1, "the late branch's SDP is not applied");
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	/* a view, not a C string: compare its start */
	sip_pl target = sip_dialog_remote_target(sip_session_dialog(a));
	cr_assert(target.l >= 7 && memcmp(target.p, "sip:b1@", 7) == 0);
	/* retransmissions: the kept branch gets the same ACK, the late one an
	 * ACK but no second BYE */
	answer_from_raw(inv, 200, "br1", "<sip:b1@192.0.2.21>", sdp_b1);
	answer_from_raw(inv, 200, "br2", "<sip:b2@192.0.2.22>", sdp_b2);
	cr_assert_eq(sent_count(0, "ACK "), 4);
	cr_assert_str_eq(sent_nth(0, "ACK ", 2)->bytes, ack1->bytes);
	cr_assert_eq(sent_count(0, "BYE "), 1);
	sip_session_unref(a);
}

Test(ua_raw, final_failure_after_forked_early_dialogs_ends_them_all)
{
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	struct wmsg *inv = sent_nth(0, "INVITE ", 0);
	answer_from_raw(inv, 180, "br1", "<sip:b1@192.0.2.21>", NULL);
	answer_from_raw(inv, 183, "br2", "<sip:b2@192.0.2.22>", sdp_b2);
	cr_assert_eq(A->sdh.n_set, 1, "early media from the 183");
	answer_from_raw(inv, 486, "br1", NULL, NULL);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_FAILED);
	cr_assert_eq(A->rec.last_reject, 486);
	sip_session_unref(a);
}

Test(ua_raw, two_hundred_with_another_branchs_answer_replaces_the_early_one)
{
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	struct wmsg *inv = sent_nth(0, "INVITE ", 0);
	answer_from_raw(inv, 183, "br1", "<sip:b1@192.0.2.21>", sdp_b1);
	answer_from_raw(inv, 200, "br2", "<sip:b2@192.0.2.22>", sdp_b2);
	cr_assert_eq(A->sdh.n_rollback, 1);
	cr_assert_eq(A->sdh.n_set, 2);
	cr_assert(strstr(A->sdh.remote, "o=B2 ") != NULL);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	sip_session_unref(a);
}

/* ---- flows, dispose, references ---- */

Test(ua, flow_closed_ends_every_session_on_it)
{
	struct sip_session *a = established_call();
	struct sip_session *b = sip_session_ref(B->inv);
	size_t before = nwire;
	cr_assert_eq(sip_ua_flow_closed(A->ua, &B->flow), 0);
	cr_assert_eq(sip_ua_flow_closed(A->ua, &A->flow), 1);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_TRANSPORT);
	cr_assert_eq(nwire, before, "nothing is sent over a closed flow");
	cr_assert_eq(sip_session_state(b), SIP_SESSION_ESTABLISHED);
	sip_session_unref(b);
	sip_session_unref(a);
}

Test(ua_auto, dispose_follows_the_state)
{
	B->on_invite = keep_ringing;
	/* ringing Inviter: CANCEL */
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(sip_session_dispose(a), 0);
	run_for(0);
	cr_assert_eq(sent_count(0, "CANCEL "), 1);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_CANCELED);
	sip_session_unref(a);
	/* unanswered Invitation: 480 */
	a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(sip_session_dispose(B->inv), 0);
	run_for(0);
	cr_assert_eq(resp_count(1, "SIP/2.0 480", "INVITE"), 1);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_FAILED);
	sip_session_unref(a);
	/* established: BYE; Terminated: nothing */
	a = established_call();
	cr_assert_eq(sip_session_dispose(a), 0);
	run_for(0);
	cr_assert_eq(sent_count(0, "BYE "), 1);
	cr_assert_eq(sip_session_dispose(a), 0);
	cr_assert_eq(sent_count(0, "BYE "), 1);
	sip_session_unref(a);
}

static int listener_calls;
static void counting_listener(void *arg, struct sip_session *s, enum sip_session_state st)
{
	(void)s;
	(void)st;
	(*(int *)arg)++;
}

Test(ua, state_listeners_up_to_four_in_order_and_removable)
{
	struct sip_session *a = make_inviter(A, false); /* one listener already */
	int c1 = 0, c2 = 0, c3 = 0;
	cr_assert_eq(sip_session_add_state_listener(a, counting_listener, &c1), 0);
	cr_assert_eq(sip_session_add_state_listener(a, counting_listener, &c2), 0);
	cr_assert_eq(sip_session_add_state_listener(a, counting_listener, &c3), 0);
	cr_assert_eq(sip_session_add_state_listener(a, counting_listener, &listener_calls),
	             -ENOSPC);
	cr_assert_eq(sip_session_add_state_listener(a, NULL, NULL), -EINVAL);
	sip_session_remove_state_listener(a, counting_listener, &c2);
	B->on_invite = accept_in_on_invite;
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(c1, 2);
	cr_assert_eq(c2, 0);
	cr_assert_eq(c3, 2);
	sip_session_remove_state_listener(a, counting_listener, &c1);
	sip_session_remove_state_listener(a, counting_listener, &c3);
	sip_session_unref(a);
}

static struct sip_session *kept;
static void keep_ref(struct side *sd, struct sip_session *s)
{
	(void)sd;
	kept = sip_session_ref(s);
}

Test(ua, owner_reference_outlives_termination_and_the_ua)
{
	B->on_invite = keep_ref;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_not_null(kept);
	cr_assert_eq(sip_invitation_reject(kept, NULL), 0);
	run_for(0);
	cr_assert_eq(sip_session_state(kept), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_ua_session_count(B->ua), 0);
	/* the UA goes first; the owner's pointers stay usable */
	sip_ua_free(B->ua);
	B->ua = NULL;
	cr_assert_eq(sip_session_state(kept), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(kept), SIP_END_REJECTED);
	cr_assert_eq(sip_invitation_accept(kept, NULL), -EPROTO);
	kept = sip_session_unref(kept);
	sip_session_unref(a);
}

Test(ua, ua_free_ends_live_sessions_without_sending)
{
	struct sip_session *a = established_call();
	struct sip_session *b = sip_session_ref(B->inv);
	struct sip_session *never = make_inviter(A, false);
	size_t before = nwire;
	sip_ua_free(A->ua);
	A->ua = NULL;
	cr_assert_eq(nwire, before);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_ERROR);
	cr_assert_eq(sip_session_state(never), SIP_SESSION_TERMINATED);
	cr_assert_eq(A->sdh.n_close, 2);
	cr_assert_eq(sip_session_bye(a, NULL), -EINVAL);
	sip_session_unref(never);
	sip_session_unref(a);
	sip_session_unref(b);
}

Test(ua, unref_of_an_inviter_never_sent_frees_it)
{
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(sip_ua_session_count(A->ua), 0);
	sip_session_unref(a);
	cr_assert_eq(A->sdh.n_close, 1);
	cr_assert_null(sip_session_unref(NULL));
}

Test(ua, inviter_new_validates_its_options)
{
	struct sip_session *s = NULL;
	struct sip_inviter_opts o = {.request_uri = "sip:x@y", .from = "<sip:a@b>", .to = "<sip:x@y>",
	                             .transport = A->tp};
	cr_assert_eq(sip_inviter_new(A->ua, &o, &s), 0);
	sip_session_unref(s);
	struct sip_inviter_opts bad = o;
	bad.request_uri = NULL;
	cr_assert_eq(sip_inviter_new(A->ua, &bad, &s), -EINVAL);
	bad = o;
	bad.to = "<sip:x@y>\r\nX: 1";
	cr_assert_eq(sip_inviter_new(A->ua, &bad, &s), -EINVAL);
	bad = o;
	bad.extra_headers = "X-A: 1"; /* no CRLF */
	cr_assert_eq(sip_inviter_new(A->ua, &bad, &s), -EINVAL);
	bad = o;
	bad.call_id = "bad id";
	cr_assert_eq(sip_inviter_new(A->ua, &bad, &s), -EINVAL);
	bad = o;
	bad.transport.via = NULL;
	cr_assert_eq(sip_inviter_new(A->ua, &bad, &s), -EINVAL);
	bad = o;
	bad.call_id = "given@example.com";
	bad.route = "<sip:proxy.example.com;lr>";
	bad.extra_headers = "X-Leg: b\r\n";
	bad.max_forwards = 10;
	cr_assert_eq(sip_inviter_new(A->ua, &bad, &s), 0);
	cr_assert(sip_pl_eq_cstr(sip_session_call_id(s), ""), "no request before invite");
	A->sdh.fail_get = EIO;
	bad.sdh = (struct sip_sdh){&fsdh_ops, &A->sdh};
	sip_session_set_sdh(s, bad.sdh);
	cr_assert_eq(sip_inviter_invite(s, NULL), -EIO);
	A->sdh.fail_get = 0;
	cr_assert_eq(sip_inviter_invite(s, NULL), 0);
	struct wmsg *inv = sent_nth(0, "INVITE ", 0);
	cr_assert_str_eq(hdr(inv, "Call-ID"), "given@example.com");
	cr_assert_str_eq(hdr(inv, "Route"), "<sip:proxy.example.com;lr>");
	cr_assert_str_eq(hdr(inv, "X-Leg"), "b");
	cr_assert_str_eq(hdr(inv, "Max-Forwards"), "10");
	cr_assert(sip_pl_eq_cstr(sip_session_call_id(s), "given@example.com"));
	sip_session_unref(s);
}

/* The owner's tag (a call id) starts every UA log line about the session. */
Test(ua, log_lines_carry_the_owners_tag)
{
	B->on_invite = accept_in_on_invite;
	struct sip_session *a = make_inviter(A, false);
	sip_session_set_log_tag(a, "c42");
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_ESTABLISHED);
	cr_assert_gt(A->nlog, 0);
	bool tagged = false;
	for (int i = 0; i < 8 && i < A->nlog; i++)
		if (strncmp(A->log[i], "c42: ua [", 9) == 0 && strstr(A->log[i], sip_session_id(a)))
			tagged = true;
	cr_assert(tagged, "a line starts with the tag and names the session: %s", A->log[0]);
	/* B's session has no tag: its lines start with the UA's own prefix */
	cr_assert_gt(B->nlog, 0);
	cr_assert_eq(strncmp(B->log[(B->nlog - 1) % 8], "ua [", 4), 0);
	sip_session_unref(a);
}

Test(ua_raw, bye_on_an_early_dialog_ends_the_inviter_and_cancels_its_invite)
{
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	struct wmsg *inv = sent_nth(0, "INVITE ", 0);
	answer_from_raw(inv, 180, "e1", "<sip:b1@192.0.2.21>", NULL);
	char from[256], to[256], cid[128], text[2048];
	hdr_copy(inv, "From", from, sizeof(from));
	hdr_copy(inv, "To", to, sizeof(to));
	hdr_copy(inv, "Call-ID", cid, sizeof(cid));
	snprintf(text, sizeof(text),
	         "BYE sip:alice@192.0.2.1:5060 SIP/2.0\n"
	         "Via: SIP/2.0/UDP 192.0.2.21;branch=z9hG4bKearlybye\n"
	         "Max-Forwards: 70\n"
	         "From: %s;tag=e1\n"
	         "To: %s\n"
	         "Call-ID: %s\n"
	         "CSeq: 1 BYE\n"
	         "Content-Length: 0\n\n",
	         to, from, cid);
	inject_from(1, text);
	cr_assert_eq(resp_count(0, "SIP/2.0 200", "BYE"), 1);
	cr_assert_eq(sent_count(0, "CANCEL "), 1);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_BYE_RECEIVED);
	cr_assert_eq(A->rec.n_bye, 1);
	answer_from_raw(inv, 487, "e1", NULL, NULL);
	cr_assert_eq(A->rec.n_reject, 0, "no callback after Terminated");
	sip_session_unref(a);
}

/* ---- options handed through, timers from the configuration ---- */

static const int opt_initial = 1, opt_reinvite = 2, opt_accept = 3;

static void accept_with_options(struct side *sd, struct sip_session *s)
{
	(void)sd;
	sip_session_set_sdh_options(s, &opt_initial, &opt_reinvite);
	cr_assert_eq(sip_invitation_accept(
	                 s, &(struct sip_invitation_accept_opts){.sdh_options = &opt_accept,
	                                                         .extra_headers = "X-Acc: 1\r\n"}),
	             0);
	cr_assert_eq(sd->sdh.last_opts, &opt_accept, "the answer is made with accept's options");
}

Test(ua, sdh_options_reach_the_sdh_for_each_offer_and_answer)
{
	B->on_invite = accept_with_options;
	struct sip_session *a = make_inviter(A, false);
	sip_session_set_sdh_options(a, &opt_initial, &opt_reinvite);
	cr_assert_eq(invite_now(a, A), 0);
	cr_assert_eq(A->sdh.last_opts, &opt_initial);
	run_for(0);
	cr_assert_eq(A->sdh.last_opts, &opt_initial, "the answer set with the initial options");
	cr_assert_str_eq(hdr(sent_resp(1, "SIP/2.0 200", "INVITE", 0), "X-Acc"), "1");
	cr_assert_eq(sip_session_invite(a, NULL), 0);
	cr_assert_eq(A->sdh.last_opts, &opt_reinvite);
	run_for(0);
	cr_assert_eq(B->sdh.last_opts, &opt_reinvite, "B's SDH answers with its re-INVITE options");
	cr_assert_eq(sip_session_sdh(a)->ctx, &A->sdh);
	sip_session_unref(a);
}

Test(ua, a_new_transport_changes_via_and_contact_of_later_requests)
{
	struct sip_session *a = established_call();
	struct sip_ua_transport t = A->tp;
	t.via = "SIP/2.0/TCP 192.0.2.1:5062";
	t.contact = "<sip:alice@192.0.2.1:5062;transport=tcp>";
	sip_session_set_transport(a, &t);
	cr_assert_eq(sip_session_dest(a)->flow, &A->flow);
	cr_assert_eq(sip_session_invite(a, NULL), 0);
	struct wmsg *ri = sent_nth(0, "INVITE ", 1);
	cr_assert(strncmp(hdr(ri, "Via"), "SIP/2.0/TCP 192.0.2.1:5062;branch=z9hG4bK", 41) == 0);
	/* the dialog keeps the Contact it was made with; a bad value is refused */
	t.via = "SIP/2.0/UDP x\r\nX: 1";
	sip_session_set_transport(a, &t);
	run_for(0);
	cr_assert_eq(sip_session_bye(a, NULL), 0);
	cr_assert(strncmp(hdr(sent_nth(0, "BYE ", 0), "Via"), "SIP/2.0/TCP 192.0.2.1:5062;", 27) == 0);
	run_for(0);
	sip_session_unref(a);
}

Test(ua, the_configured_t1_and_t2_shape_the_2xx_schedule)
{
	sip_ua_free(B->ua);
	struct sip_ua_config uc = {
	    .txn = B->txn,
	    .now_ms = clock_ms,
	    .random = fake_random_forced,
	    .timers = {.t1 = 100, .t2 = 1000},
	    .cb = {.send = wire_send, .on_invite = ua_on_invite, .on_log = side_log},
	    .arg = B,
	};
	B->ua = sip_ua_new(&uc);
	dropper = drop_acks;
	B->on_invite = accept_in_on_invite;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	uint64_t t0 = now;
	run_for(7000);
	uint64_t want[] = {0, 100, 300, 700, 1500, 2500, 3500, 4500, 5500};
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert_eq(sent_resp(1, "SIP/2.0 200", "INVITE", (int)i)->at - t0, want[i]);
	cr_assert_eq(sent_nth(1, "BYE ", 0)->at - t0, 6400, "64*T1");
	sip_session_unref(a);
}

Test(ua_raw, an_invite_without_a_usable_transport_description_gets_500)
{
	A->tp.contact = NULL;
	inject_from(1, "INVITE sip:alice@192.0.2.1:5060 SIP/2.0\n"
	               "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKnotp\n"
	               "Max-Forwards: 70\n"
	               "From: <sip:bob@example.com>;tag=b1\n"
	               "To: <sip:alice@example.com>\n"
	               "Call-ID: notp@example.com\n"
	               "CSeq: 1 INVITE\n"
	               "Contact: <sip:bob@192.0.2.2>\n"
	               "Content-Length: 0\n\n");
	cr_assert_not_null(sent_resp(0, "SIP/2.0 500", "INVITE", 0));
	cr_assert_eq(A->n_invitations, 0);
}

static bool drop_from_b_after_180(const struct wmsg *m)
{
	return m->from == 1 && strncmp(m->bytes, "SIP/2.0 180", 11) != 0;
}

Test(ua_auto, an_invite_cancelled_but_never_answered_is_given_up_at_64_t1)
{
	dropper = drop_from_b_after_180;
	B->on_invite = keep_ringing;
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	run_for(0);
	cr_assert_eq(A->rec.n_progress, 1);
	cr_assert_eq(sip_inviter_cancel(a, NULL), 0);
	uint64_t t0 = now;
	run_for(31999);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATING);
	run_for(1);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(now - t0, 32000);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_CANCELED);
	cr_assert_eq(A->rec.last_reject, 408);
	run_for(40000);
	cr_assert_eq(sip_txn_layer_count(A->txn), 0, "the INVITE transaction ended too");
	sip_session_unref(a);
}

Test(ua_raw, a_2xx_without_a_contact_fails_the_call)
{
	struct sip_session *a = make_inviter(A, false);
	cr_assert_eq(invite_now(a, A), 0);
	answer_from_raw(sent_nth(0, "INVITE ", 0), 200, "nc", NULL, sdp_b1);
	cr_assert_eq(sip_session_state(a), SIP_SESSION_TERMINATED);
	cr_assert_eq(sip_session_end_reason(a), SIP_END_ERROR);
	cr_assert_eq(A->rec.last_reject, 502);
	cr_assert_eq(sent_count(0, "ACK "), 0, "no dialog to ACK in");
	sip_session_unref(a);
}
