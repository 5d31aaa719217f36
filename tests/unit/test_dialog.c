/* Unit tests: RFC 3261 §12 dialogs. Every message is real SIP text parsed
 * with sip_msg_parse; every request the dialog builds is parsed back and
 * checked field by field. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_build.h"
#include "sip/sip_dialog.h"
#include "sip/sip_msg.h"

/* ---- helpers: parsed messages that live until the test ends ---- */

#define MAX_HELD 64
static struct sip_msg *held_msg[MAX_HELD];
static char *held_text[MAX_HELD];
static size_t nheld;

static void release(void)
{
	for (size_t i = 0; i < nheld; i++) {
		sip_msg_free(held_msg[i]);
		free(held_text[i]);
	}
	nheld = 0;
}

TestSuite(dialog, .fini = release);

/* Parse a copy of text (one datagram). */
static const struct sip_msg *parse_len(const char *text, size_t len)
{
	cr_assert(nheld < MAX_HELD);
	char *copy = malloc(len + 1);
	cr_assert(copy);
	memcpy(copy, text, len);
	copy[len] = '\0';
	struct sip_msg *m = sip_msg_new(NULL);
	cr_assert(m);
	size_t consumed;
	struct sip_parse_error e = {0};
	enum sip_parse_result r = sip_msg_parse(m, copy, len, SIP_PARSE_DATAGRAM, &consumed, &e);
	cr_assert_eq(r, SIP_PARSE_OK, "parse failed (%s): %s", e.reason ? e.reason : "", copy);
	held_msg[nheld] = m;
	held_text[nheld] = copy;
	nheld++;
	return m;
}

static const struct sip_msg *parse(const char *text)
{
	return parse_len(text, strlen(text));
}

__attribute__((format(printf, 1, 2))) static const struct sip_msg *parsef(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cr_assert(n > 0 && (size_t)n < sizeof(buf));
	return parse_len(buf, (size_t)n);
}

static bool pl_is(sip_pl v, const char *s)
{
	return sip_pl_eq_cstr(v, s);
}

#define assert_pl(v, s)                                                                            \
	do {                                                                                       \
		sip_pl v_ = (v);                                                                   \
		cr_assert(pl_is(v_, s), "got \"%.*s\", want \"%s\"", (int)v_.l, v_.p ? v_.p : "",  \
		          s);                                                                      \
	} while (0)

static sip_pl hdr(const struct sip_msg *m, enum sip_hdr_id id)
{
	const struct sip_hdr *h = sip_msg_hdr(m, id);
	return h ? h->value : SIP_PL_NULL;
}

static const struct sip_dialog_request_opts via1 = {
    .via = SIP_PL("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnew1"),
};

/* Build a request from d and parse it back. */
static const struct sip_msg *build(struct sip_dialog *d, enum sip_method method,
                                   const struct sip_dialog_request_opts *o, sip_pl *hop)
{
	struct sip_buf b;
	sip_buf_init(&b, 0);
	int rc = sip_dialog_build_request(d, method, o, &b, hop);
	cr_assert_eq(rc, 0, "build %s: %d", sip_method_name(method), rc);
	const struct sip_msg *m = parse_len(b.p, b.len);
	sip_buf_free(&b);
	return m;
}

/* ---- messages ---- */

/* A PBX calls us through three record-routing proxies. */
static const char *INVITE_IN = "INVITE sip:bob@192.0.2.10:5060 SIP/2.0\r\n"
                               "Via: SIP/2.0/UDP 192.0.2.3:5060;branch=z9hG4bKp3\r\n"
                               "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKpbx1\r\n"
                               "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
                               "Record-Route: <sip:p3.example.com;lr>\r\n"
                               "From: \"Alice\" <sip:alice@example.com>;tag=a1\r\n"
                               "To: <sip:bob@example.com>\r\n"
                               "Call-ID: call-1@example.com\r\n"
                               "CSeq: 10 INVITE\r\n"
                               "Contact: <sip:alice@192.0.2.1:5060>\r\n"
                               "Max-Forwards: 68\r\n"
                               "Content-Length: 0\r\n\r\n";

/* We call a PBX. */
static const char *INVITE_OUT = "INVITE sip:bob@pbx.example.com SIP/2.0\r\n"
                                "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKgw1\r\n"
                                "From: <sip:alice@gw.example.com>;tag=L1\r\n"
                                "To: <sip:bob@pbx.example.com>\r\n"
                                "Call-ID: out-1\r\n"
                                "CSeq: 5 INVITE\r\n"
                                "Contact: <sip:gw@192.0.2.10>\r\n"
                                "Max-Forwards: 70\r\n"
                                "Content-Length: 0\r\n\r\n";

/* A response to INVITE_OUT: status, To tag (NULL: none), Record-Route lines
 * (may be ""), Contact (NULL: none). */
static const struct sip_msg *resp_out(int status, const char *totag, const char *rr,
                                      const char *contact)
{
	char tag[64] = "", ct[256] = "";
	if (totag)
		snprintf(tag, sizeof(tag), ";tag=%s", totag);
	if (contact)
		snprintf(ct, sizeof(ct), "Contact: %s\r\n", contact);
	return parsef("SIP/2.0 %d %s\r\n"
	              "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKgw1\r\n"
	              "%s"
	              "From: <sip:alice@gw.example.com>;tag=L1\r\n"
	              "To: <sip:bob@pbx.example.com>%s\r\n"
	              "Call-ID: out-1\r\n"
	              "CSeq: 5 INVITE\r\n"
	              "%s"
	              "Content-Length: 0\r\n\r\n",
	              status, sip_status_reason(status), rr, tag, ct);
}

static const sip_pl GW_CONTACT = SIP_PL("<sip:gw@192.0.2.10:5060>");

static struct sip_dialog *uas_dialog(void)
{
	struct sip_dialog *d = NULL;
	cr_assert_eq(sip_dialog_new_uas(parse(INVITE_IN), SIP_PL("b1"), GW_CONTACT, &d), 0);
	return d;
}

static struct sip_dialog *uac_confirmed(const char *rr)
{
	struct sip_dialog *d = NULL;
	cr_assert_eq(sip_dialog_new_uac(parse(INVITE_OUT),
	                                resp_out(200, "R1", rr, "<sip:bob@192.0.2.20:5060>"),
	                                GW_CONTACT, &d),
	             0);
	return d;
}

/* An in-dialog request from the peer of the UAS dialog. */
static const struct sip_msg *req_in(const char *method, unsigned cseq, const char *totag,
                                    const char *contact_line)
{
	return parsef("%s sip:bob@192.0.2.10:5060 SIP/2.0\r\n"
	              "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKin%u%s\r\n"
	              "From: \"Alice\" <sip:alice@example.com>;tag=a1\r\n"
	              "To: <sip:bob@example.com>;tag=%s\r\n"
	              "Call-ID: call-1@example.com\r\n"
	              "CSeq: %u %s\r\n"
	              "%s"
	              "Max-Forwards: 70\r\n"
	              "Content-Length: 0\r\n\r\n",
	              method, cseq, method, totag, cseq, method, contact_line);
}

/* ---- creation ---- */

Test(dialog, uas_creation_keeps_record_route_in_order)
{
	struct sip_dialog *d = uas_dialog();
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_EARLY);
	cr_assert_not(sip_dialog_is_uac(d));
	cr_assert_not(sip_dialog_secure(d));
	assert_pl(sip_dialog_call_id(d), "call-1@example.com");
	assert_pl(sip_dialog_local_tag(d), "b1");
	assert_pl(sip_dialog_remote_tag(d), "a1");
	assert_pl(sip_dialog_local_addr(d), "<sip:bob@example.com>;tag=b1");
	assert_pl(sip_dialog_remote_addr(d), "\"Alice\" <sip:alice@example.com>;tag=a1");
	assert_pl(sip_dialog_remote_target(d), "sip:alice@192.0.2.1:5060");
	assert_pl(sip_dialog_route_set(d),
	          "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>, <sip:p3.example.com;lr>");
	assert_pl(sip_dialog_local_contact(d), "<sip:gw@192.0.2.10:5060>");
	uint32_t rs = 0;
	cr_assert(sip_dialog_remote_cseq(d, &rs));
	cr_assert_eq(rs, 10);
	cr_assert_eq(sip_dialog_local_cseq(d), 0);
	cr_assert_eq(sip_dialog_confirm(d), 0);
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_CONFIRMED);
	sip_dialog_free(d);
}

Test(dialog, uas_bye_is_loose_routed_with_routes_in_order)
{
	struct sip_dialog *d = uas_dialog();
	sip_dialog_confirm(d);
	sip_pl hop;
	const struct sip_msg *m = build(d, SIP_METHOD_BYE, &via1, &hop);
	cr_assert(sip_msg_is_request(m));
	cr_assert_eq(sip_msg_method(m), SIP_METHOD_BYE);
	assert_pl(sip_msg_ruri(m), "sip:alice@192.0.2.1:5060");
	assert_pl(hdr(m, SIP_HDR_ROUTE),
	          "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>, <sip:p3.example.com;lr>");
	cr_assert_null(sip_msg_hdr_next(m, sip_msg_hdr(m, SIP_HDR_ROUTE)));
	assert_pl(hop, "sip:p1.example.com;lr");
	assert_pl(sip_msg_via(m)->branch, "z9hG4bKnew1");
	cr_assert_eq(sip_msg_via_count(m), 1);
	assert_pl(sip_msg_from(m)->tag, "b1");
	assert_pl(sip_msg_from(m)->uri_text, "sip:bob@example.com");
	assert_pl(sip_msg_to(m)->tag, "a1");
	assert_pl(sip_msg_to(m)->display, "Alice");
	assert_pl(sip_msg_call_id(m), "call-1@example.com");
	cr_assert_eq(sip_msg_cseq(m)->seq, 1);
	cr_assert_eq(sip_msg_cseq(m)->method, SIP_METHOD_BYE);
	cr_assert_eq(sip_msg_max_forwards(m), 70);
	cr_assert_null(sip_msg_hdr(m, SIP_HDR_CONTACT), "BYE is no target refresh");
	cr_assert_eq(sip_msg_content_length(m), 0);
	cr_assert_eq(sip_dialog_local_cseq(d), 1);
	sip_dialog_free(d);
}

Test(dialog, uac_early_from_180_then_confirmed_by_200_with_recomputed_routes)
{
	const struct sip_msg *inv = parse(INVITE_OUT);
	struct sip_dialog *d = NULL;
	const struct sip_msg *r180 = resp_out(180, "R1",
	                                      "Record-Route: <sip:p1.example.com;lr>\r\n"
	                                      "Record-Route: <sip:p2.example.com;lr>\r\n",
	                                      "<sip:bob@192.0.2.20:5060>");
	cr_assert_eq(sip_dialog_new_uac(inv, r180, GW_CONTACT, &d), 0);
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_EARLY);
	cr_assert(sip_dialog_is_uac(d));
	assert_pl(sip_dialog_local_tag(d), "L1");
	assert_pl(sip_dialog_remote_tag(d), "R1");
	assert_pl(sip_dialog_local_addr(d), "<sip:alice@gw.example.com>;tag=L1");
	assert_pl(sip_dialog_remote_addr(d), "<sip:bob@pbx.example.com>;tag=R1");
	assert_pl(sip_dialog_route_set(d), "<sip:p2.example.com;lr>, <sip:p1.example.com;lr>");
	assert_pl(sip_dialog_remote_target(d), "sip:bob@192.0.2.20:5060");
	cr_assert_eq(sip_dialog_local_cseq(d), 5);
	cr_assert_not(sip_dialog_remote_cseq(d, NULL));

	/* another 1xx of the same dialog changes nothing */
	cr_assert_eq(sip_dialog_receive_response(d, resp_out(183, "R1", "", NULL)), 0);
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_EARLY);

	/* the 2xx went through one more proxy and names another target */
	const struct sip_msg *r200 =
	    resp_out(200, "R1",
	             "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
	             "Record-Route: <sip:p3.example.com;lr>\r\n",
	             "<sip:bob@192.0.2.21:5060;transport=udp>");
	cr_assert_eq(sip_dialog_receive_response(d, r200), 0);
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_CONFIRMED);
	assert_pl(sip_dialog_route_set(d),
	          "<sip:p3.example.com;lr>, <sip:p2.example.com;lr>, <sip:p1.example.com;lr>");
	assert_pl(sip_dialog_remote_target(d), "sip:bob@192.0.2.21:5060;transport=udp");
	/* still the same key */
	assert_pl(sip_dialog_remote_tag(d), "R1");
	assert_pl(sip_dialog_call_id(d), "out-1");

	sip_pl hop;
	const struct sip_msg *ack = NULL;
	struct sip_buf b;
	sip_buf_init(&b, 0);
	const struct sip_dialog_request_opts ackvia = {
	    .via = SIP_PL("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKack")};
	cr_assert_eq(sip_dialog_build_ack(d, 5, &ackvia, &b, &hop), 0);
	ack = parse_len(b.p, b.len);
	sip_buf_free(&b);
	cr_assert_eq(sip_msg_method(ack), SIP_METHOD_ACK);
	assert_pl(sip_msg_ruri(ack), "sip:bob@192.0.2.21:5060;transport=udp");
	assert_pl(hdr(ack, SIP_HDR_ROUTE),
	          "<sip:p3.example.com;lr>, <sip:p2.example.com;lr>, <sip:p1.example.com;lr>");
	assert_pl(hop, "sip:p3.example.com;lr");
	cr_assert_eq(sip_msg_cseq(ack)->seq, 5);
	cr_assert_eq(sip_msg_cseq(ack)->method, SIP_METHOD_ACK);
	assert_pl(sip_msg_via(ack)->branch, "z9hG4bKack");
	cr_assert_null(sip_msg_hdr(ack, SIP_HDR_CONTACT));
	cr_assert_eq(sip_dialog_local_cseq(d), 5, "ACK takes no new CSeq");
	sip_dialog_free(d);
}

Test(dialog, uac_confirmed_directly_by_200)
{
	struct sip_dialog *d = uac_confirmed("Record-Route: <sip:edge.example.com;lr>\r\n");
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_CONFIRMED);
	assert_pl(sip_dialog_route_set(d), "<sip:edge.example.com;lr>");
	sip_dialog_free(d);
}

Test(dialog, uac_without_route_set_sends_to_the_target)
{
	struct sip_dialog *d = uac_confirmed("");
	assert_pl(sip_dialog_route_set(d), "");
	sip_pl hop;
	const struct sip_msg *m = build(d, SIP_METHOD_BYE, &via1, &hop);
	assert_pl(sip_msg_ruri(m), "sip:bob@192.0.2.20:5060");
	cr_assert_null(sip_msg_hdr(m, SIP_HDR_ROUTE));
	assert_pl(hop, "sip:bob@192.0.2.20:5060");
	sip_dialog_free(d);
}

/* ---- routing ---- */

Test(dialog, strict_route_becomes_the_request_uri)
{
	const struct sip_msg *inv = parsef(
	    "INVITE sip:bob@192.0.2.10 SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKs1\r\n"
	    "Record-Route: <sip:strict.example.com;transport=udp>, <sip:p2.example.com;lr>\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: strict-1\r\n"
	    "CSeq: 1 INVITE\r\n"
	    "Contact: <sip:alice@192.0.2.1>\r\n"
	    "Content-Length: 0\r\n\r\n");
	struct sip_dialog *d = NULL;
	cr_assert_eq(sip_dialog_new_uas(inv, SIP_PL("b9"), GW_CONTACT, &d), 0);
	sip_pl hop;
	const struct sip_msg *m = build(d, SIP_METHOD_BYE, &via1, &hop);
	assert_pl(sip_msg_ruri(m), "sip:strict.example.com;transport=udp");
	assert_pl(hdr(m, SIP_HDR_ROUTE), "<sip:p2.example.com;lr>, <sip:alice@192.0.2.1>");
	assert_pl(hop, "sip:strict.example.com;transport=udp");
	sip_dialog_free(d);
}

Test(dialog, strict_route_alone_loses_uri_headers_and_routes_to_target)
{
	struct sip_dialog *d =
	    uac_confirmed("Record-Route: <sip:old.example.com;maddr=192.0.2.50?X-A=1>\r\n");
	const struct sip_msg *m = build(d, SIP_METHOD_BYE, &via1, NULL);
	assert_pl(sip_msg_ruri(m), "sip:old.example.com;maddr=192.0.2.50");
	assert_pl(hdr(m, SIP_HDR_ROUTE), "<sip:bob@192.0.2.20:5060>");
	cr_assert_null(sip_msg_hdr_next(m, sip_msg_hdr(m, SIP_HDR_ROUTE)));
	sip_dialog_free(d);
}

/* ---- CSeq ---- */

Test(dialog, local_cseq_numbering_with_ack_and_cancel)
{
	struct sip_dialog *d = uac_confirmed("");
	cr_assert_eq(sip_dialog_local_cseq(d), 5);
	cr_assert_eq(sip_msg_cseq(build(d, SIP_METHOD_INFO, &via1, NULL))->seq, 6);
	/* the ACK of the initial INVITE reuses its number */
	const struct sip_msg *ack = build(d, SIP_METHOD_ACK, &via1, NULL);
	cr_assert_eq(sip_msg_cseq(ack)->seq, 5);
	cr_assert_eq(sip_msg_cseq(ack)->method, SIP_METHOD_ACK);
	/* a re-INVITE, its CANCEL and its ACK */
	const struct sip_msg *reinv = build(d, SIP_METHOD_INVITE, &via1, NULL);
	cr_assert_eq(sip_msg_cseq(reinv)->seq, 7);
	assert_pl(hdr(reinv, SIP_HDR_CONTACT), "<sip:gw@192.0.2.10:5060>");
	const struct sip_msg *cancel = build(d, SIP_METHOD_CANCEL, &via1, NULL);
	cr_assert_eq(sip_msg_cseq(cancel)->seq, 7);
	cr_assert_eq(sip_msg_cseq(cancel)->method, SIP_METHOD_CANCEL);
	cr_assert_null(sip_msg_hdr(cancel, SIP_HDR_CONTACT));
	struct sip_dialog_request_opts o = via1;
	o.cseq = 7;
	cr_assert_eq(sip_msg_cseq(build(d, SIP_METHOD_ACK, &o, NULL))->seq, 7);
	cr_assert_eq(sip_msg_cseq(build(d, SIP_METHOD_BYE, &via1, NULL))->seq, 8);
	cr_assert_eq(sip_dialog_local_cseq(d), 8);
	sip_dialog_free(d);
}

Test(dialog, uas_first_request_starts_at_one_and_ack_needs_an_invite)
{
	struct sip_dialog *d = uas_dialog();
	struct sip_buf b;
	sip_buf_init(&b, 0);
	cr_assert_eq(sip_dialog_build_request(d, SIP_METHOD_ACK, &via1, &b, NULL), -EINVAL);
	cr_assert_eq(sip_msg_cseq(build(d, SIP_METHOD_UPDATE, &via1, NULL))->seq, 1);
	cr_assert_eq(sip_msg_cseq(build(d, SIP_METHOD_INVITE, &via1, NULL))->seq, 2);
	cr_assert_eq(sip_msg_cseq(build(d, SIP_METHOD_ACK, &via1, NULL))->seq, 2);
	sip_buf_free(&b);
	sip_dialog_free(d);
}

Test(dialog, body_extra_headers_and_contact_by_method)
{
	struct sip_dialog *d = uas_dialog();
	struct sip_dialog_request_opts o = via1;
	o.extra_headers = SIP_PL("Allow: INVITE, ACK, BYE\r\nX-Leg: a\r\n");
	o.body = SIP_PL("Signal=5\r\nDuration=160\r\n");
	o.ctype = "application/dtmf-relay";
	const struct sip_msg *m = build(d, SIP_METHOD_INFO, &o, NULL);
	assert_pl(sip_msg_body(m), "Signal=5\r\nDuration=160\r\n");
	assert_pl(hdr(m, SIP_HDR_CONTENT_TYPE), "application/dtmf-relay");
	assert_pl(hdr(m, SIP_HDR_ALLOW), "INVITE, ACK, BYE");
	assert_pl(sip_msg_hdr_by_name(m, SIP_PL("X-Leg"))->value, "a");
	cr_assert_null(sip_msg_hdr(m, SIP_HDR_CONTACT));
	static const enum sip_method refresh[] = {SIP_METHOD_UPDATE, SIP_METHOD_SUBSCRIBE,
	                                          SIP_METHOD_NOTIFY, SIP_METHOD_REFER};
	for (size_t i = 0; i < sizeof(refresh) / sizeof(refresh[0]); i++)
		assert_pl(hdr(build(d, refresh[i], &via1, NULL), SIP_HDR_CONTACT),
		          "<sip:gw@192.0.2.10:5060>");
	cr_assert_null(sip_msg_hdr(build(d, SIP_METHOD_MESSAGE, &via1, NULL), SIP_HDR_CONTACT));
	sip_dialog_free(d);
}

Test(dialog, build_refuses_bad_options_without_moving_cseq)
{
	struct sip_dialog *d = uas_dialog();
	struct sip_buf b;
	sip_buf_init(&b, 0);
	struct sip_dialog_request_opts o = via1;
	o.extra_headers = SIP_PL("X-A: 1"); /* no CRLF */
	cr_assert_eq(sip_dialog_build_request(d, SIP_METHOD_INFO, &o, &b, NULL), -EINVAL);
	o.extra_headers = SIP_PL("X-A: 1\r\n\r\nINVITE sip:x SIP/2.0\r\n");
	cr_assert_eq(sip_dialog_build_request(d, SIP_METHOD_INFO, &o, &b, NULL), -EINVAL);
	o.extra_headers = SIP_PL("X-A: 1\nX-B: 2\r\n");
	cr_assert_eq(sip_dialog_build_request(d, SIP_METHOD_INFO, &o, &b, NULL), -EINVAL);
	o.extra_headers = SIP_PL("X-A: 1\r\n folded: into the field before\r\n");
	cr_assert_eq(sip_dialog_build_request(d, SIP_METHOD_INFO, &o, &b, NULL), -EINVAL);
	o.extra_headers = SIP_PL("no colon here\r\n");
	cr_assert_eq(sip_dialog_build_request(d, SIP_METHOD_INFO, &o, &b, NULL), -EINVAL);
	o.extra_headers = SIP_PL("X-A : spaced\r\n");
	cr_assert_eq(sip_dialog_build_request(d, SIP_METHOD_INFO, &o, &b, NULL), 0);
	sip_buf_reset(&b);
	o = (struct sip_dialog_request_opts){0};
	cr_assert_eq(sip_dialog_build_request(d, SIP_METHOD_INFO, &o, &b, NULL), -EINVAL);
	o.via = SIP_PL("SIP/2.0/UDP x\r\nX-Evil: 1");
	cr_assert_eq(sip_dialog_build_request(d, SIP_METHOD_INFO, &o, &b, NULL), -EINVAL);
	cr_assert_eq(sip_dialog_build_request(d, SIP_METHOD_OTHER, &via1, &b, NULL), -EINVAL);
	cr_assert_eq(sip_dialog_local_cseq(d), 1, "only the good build moved it");
	cr_assert_eq(b.len, 0);
	/* a buffer that is too small fails the build, CSeq unmoved */
	struct sip_buf small;
	sip_buf_init(&small, 64);
	cr_assert_lt(sip_dialog_build_request(d, SIP_METHOD_INFO, &via1, &small, NULL), 0);
	cr_assert_eq(sip_dialog_local_cseq(d), 1);
	sip_buf_free(&small);
	sip_buf_free(&b);
	sip_dialog_free(d);
}

/* ---- requests in ---- */

Test(dialog, remote_cseq_order_500_and_ack_cancel_exempt)
{
	struct sip_dialog *d = uas_dialog();
	sip_dialog_confirm(d);
	uint32_t rs;
	cr_assert_eq(sip_dialog_receive_request(d, req_in("INFO", 9, "b1", "")), 500);
	cr_assert(sip_dialog_remote_cseq(d, &rs) && rs == 10, "a refused request moves nothing");
	cr_assert_eq(sip_dialog_receive_request(d, req_in("ACK", 10, "b1", "")), 0);
	cr_assert_eq(sip_dialog_receive_request(d, req_in("INFO", 11, "b1", "")), 0);
	cr_assert(sip_dialog_remote_cseq(d, &rs) && rs == 11);
	cr_assert_eq(sip_dialog_receive_request(d, req_in("INFO", 11, "b1", "")), 0,
	             "equal is not lower");
	cr_assert_eq(sip_dialog_receive_request(d, req_in("MESSAGE", 10, "b1", "")), 500);
	cr_assert_eq(sip_dialog_receive_request(d, req_in("CANCEL", 3, "b1", "")), 0);
	cr_assert_eq(sip_dialog_receive_request(d, req_in("BYE", 4000, "b1", "")), 0);
	cr_assert(sip_dialog_remote_cseq(d, &rs) && rs == 4000);
	sip_dialog_free(d);
}

Test(dialog, uac_remote_cseq_is_set_by_the_first_request)
{
	struct sip_dialog *d = uac_confirmed("");
	const struct sip_msg *bye = parse("BYE sip:gw@192.0.2.10:5060 SIP/2.0\r\n"
	                                  "Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKb\r\n"
	                                  "From: <sip:bob@pbx.example.com>;tag=R1\r\n"
	                                  "To: <sip:alice@gw.example.com>;tag=L1\r\n"
	                                  "Call-ID: out-1\r\n"
	                                  "CSeq: 1 BYE\r\n"
	                                  "Content-Length: 0\r\n\r\n");
	cr_assert_eq(sip_dialog_receive_request(d, bye), 0, "any first CSeq is in order");
	uint32_t rs = 0;
	cr_assert(sip_dialog_remote_cseq(d, &rs));
	cr_assert_eq(rs, 1);
	sip_dialog_free(d);
}

Test(dialog, reinvite_refreshes_the_remote_target)
{
	struct sip_dialog *d = uas_dialog();
	sip_dialog_confirm(d);
	cr_assert_eq(sip_dialog_receive_request(
	                 d, req_in("INVITE", 11, "b1",
	                           "Contact: <sip:alice@198.51.100.7:5062;transport=tcp>\r\n")),
	             0);
	assert_pl(sip_dialog_remote_target(d), "sip:alice@198.51.100.7:5062;transport=tcp");
	/* the route set stays */
	assert_pl(sip_dialog_route_set(d),
	          "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>, <sip:p3.example.com;lr>");
	const struct sip_msg *bye = build(d, SIP_METHOD_BYE, &via1, NULL);
	assert_pl(sip_msg_ruri(bye), "sip:alice@198.51.100.7:5062;transport=tcp");

	/* UPDATE refreshes too; INFO does not */
	cr_assert_eq(sip_dialog_receive_request(
	                 d, req_in("UPDATE", 12, "b1", "Contact: <sip:alice@198.51.100.8>\r\n")),
	             0);
	assert_pl(sip_dialog_remote_target(d), "sip:alice@198.51.100.8");
	cr_assert_eq(sip_dialog_receive_request(
	                 d, req_in("INFO", 13, "b1", "Contact: <sip:alice@198.51.100.9>\r\n")),
	             0);
	assert_pl(sip_dialog_remote_target(d), "sip:alice@198.51.100.8");
	sip_dialog_free(d);
}

Test(dialog, bad_contact_in_refresh_is_400_and_changes_nothing)
{
	struct sip_dialog *d = uas_dialog();
	sip_dialog_confirm(d);
	uint32_t rs;
	cr_assert_eq(sip_dialog_receive_request(d, req_in("INVITE", 11, "b1", "")), 400,
	             "a re-INVITE must carry a Contact");
	cr_assert_eq(sip_dialog_receive_request(d, req_in("INVITE", 11, "b1", "Contact: *\r\n")),
	             400);
	cr_assert_eq(sip_dialog_receive_request(
	                 d, req_in("UPDATE", 11, "b1", "Contact: <tel:+15551234>\r\n")),
	             400);
	cr_assert_eq(
	    sip_dialog_receive_request(
	        d, req_in("INVITE", 11, "b1", "Contact: <sip:a@192.0.2.7>, <sip:a@192.0.2.8>\r\n")),
	    400);
	assert_pl(sip_dialog_remote_target(d), "sip:alice@192.0.2.1:5060");
	cr_assert(sip_dialog_remote_cseq(d, &rs) && rs == 10);
	/* an UPDATE without Contact keeps the target */
	cr_assert_eq(sip_dialog_receive_request(d, req_in("UPDATE", 11, "b1", "")), 0);
	assert_pl(sip_dialog_remote_target(d), "sip:alice@192.0.2.1:5060");
	sip_dialog_free(d);
}

Test(dialog, request_of_another_dialog_is_481)
{
	struct sip_dialog *d = uas_dialog();
	cr_assert_eq(sip_dialog_receive_request(d, req_in("BYE", 11, "other", "")), 481);
	sip_dialog_terminate(d);
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_TERMINATED);
	cr_assert_eq(sip_dialog_receive_request(d, req_in("BYE", 11, "b1", "")), 481);
	struct sip_buf b;
	sip_buf_init(&b, 0);
	cr_assert_eq(sip_dialog_build_request(d, SIP_METHOD_BYE, &via1, &b, NULL), -EPROTO);
	sip_buf_free(&b);
	sip_dialog_free(d);
}

/* ---- responses in ---- */

/* A response from the UAC dialog's peer to one of our in-dialog requests. */
static const struct sip_msg *resp_in_dialog(int status, unsigned cseq, const char *method,
                                            const char *contact_line)
{
	return parsef("SIP/2.0 %d %s\r\n"
	              "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnew1\r\n"
	              "From: <sip:alice@gw.example.com>;tag=L1\r\n"
	              "To: <sip:bob@pbx.example.com>;tag=R1\r\n"
	              "Call-ID: out-1\r\n"
	              "CSeq: %u %s\r\n"
	              "%s"
	              "Content-Length: 0\r\n\r\n",
	              status, sip_status_reason(status), cseq, method, contact_line);
}

Test(dialog, response_to_reinvite_refreshes_target)
{
	struct sip_dialog *d = uac_confirmed("Record-Route: <sip:edge.example.com;lr>\r\n");
	build(d, SIP_METHOD_INVITE, &via1, NULL);
	cr_assert_eq(sip_dialog_receive_response(
	                 d, resp_in_dialog(200, 6, "INVITE", "Contact: <sip:bob@203.0.113.5>\r\n")),
	             0);
	assert_pl(sip_dialog_remote_target(d), "sip:bob@203.0.113.5");
	/* a confirmed dialog's route set never changes */
	assert_pl(sip_dialog_route_set(d), "<sip:edge.example.com;lr>");
	/* a 2xx to a non-refresh request does not touch the target */
	cr_assert_eq(sip_dialog_receive_response(
	                 d, resp_in_dialog(200, 7, "INFO", "Contact: <sip:bob@203.0.113.6>\r\n")),
	             0);
	assert_pl(sip_dialog_remote_target(d), "sip:bob@203.0.113.5");
	/* a 2xx to UPDATE with a bad Contact is refused, target kept */
	cr_assert_eq(sip_dialog_receive_response(
	                 d, resp_in_dialog(200, 8, "UPDATE", "Contact: <tel:+1555>\r\n")),
	             -EBADMSG);
	assert_pl(sip_dialog_remote_target(d), "sip:bob@203.0.113.5");
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_CONFIRMED);
	/* 481 ends the dialog */
	cr_assert_eq(sip_dialog_receive_response(d, resp_in_dialog(481, 9, "INFO", "")), 0);
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_TERMINATED);
	sip_dialog_free(d);
}

Test(dialog, timeout_408_ends_the_dialog)
{
	struct sip_dialog *d = uac_confirmed("");
	cr_assert_eq(sip_dialog_receive_response(d, resp_in_dialog(408, 6, "BYE", "")), 0);
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_TERMINATED);
	sip_dialog_free(d);
}

Test(dialog, early_dialog_ends_on_a_final_error)
{
	struct sip_dialog *d = NULL;
	cr_assert_eq(sip_dialog_new_uac(parse(INVITE_OUT),
	                                resp_out(180, "R1", "", "<sip:bob@192.0.2.20>"), GW_CONTACT,
	                                &d),
	             0);
	cr_assert_eq(sip_dialog_receive_response(d, resp_out(486, "R1", "", NULL)), 0);
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_TERMINATED);
	sip_dialog_free(d);
}

Test(dialog, response_of_another_dialog_is_refused)
{
	struct sip_dialog *d = uac_confirmed("");
	cr_assert_eq(sip_dialog_receive_response(d, resp_out(200, "R2", "", "<sip:x@y>")), -EINVAL);
	cr_assert_eq(sip_dialog_receive_response(d, parse(INVITE_OUT)), -EINVAL);
	sip_dialog_free(d);
}

/* ---- forking ---- */

Test(dialog, forked_180s_make_two_early_dialogs_and_the_200_confirms_one)
{
	struct sip_dialog_table *t = sip_dialog_table_new(NULL, NULL);
	cr_assert(t);
	const struct sip_msg *inv = parse(INVITE_OUT);
	const struct sip_msg *a180 =
	    resp_out(180, "RA", "Record-Route: <sip:pa.example.com;lr>\r\n", "<sip:bob@10.0.0.1>");
	const struct sip_msg *b180 =
	    resp_out(180, "RB", "Record-Route: <sip:pb.example.com;lr>\r\n", "<sip:bob@10.0.0.2>");
	struct sip_dialog *da = NULL, *db = NULL;
	cr_assert_null(sip_dialog_table_find_response(t, a180), "no dialog yet: create one");
	cr_assert_eq(sip_dialog_new_uac(inv, a180, GW_CONTACT, &da), 0);
	cr_assert_eq(sip_dialog_table_add(t, da), 0);
	cr_assert_null(sip_dialog_table_find_response(t, b180));
	cr_assert_eq(sip_dialog_new_uac(inv, b180, GW_CONTACT, &db), 0);
	cr_assert_eq(sip_dialog_table_add(t, db), 0);
	cr_assert_eq(sip_dialog_table_count(t), 2);
	cr_assert_eq(sip_dialog_table_find_response(t, a180), da);
	cr_assert_eq(sip_dialog_table_find_response(t, b180), db);
	assert_pl(sip_dialog_call_id(da), "out-1");
	assert_pl(sip_dialog_call_id(db), "out-1");
	assert_pl(sip_dialog_local_tag(da), "L1");
	assert_pl(sip_dialog_local_tag(db), "L1");

	/* B answers */
	const struct sip_msg *b200 =
	    resp_out(200, "RB", "Record-Route: <sip:pb.example.com;lr>\r\n", "<sip:bob@10.0.0.2>");
	struct sip_dialog *found = sip_dialog_table_find_response(t, b200);
	cr_assert_eq(found, db);
	cr_assert_eq(sip_dialog_receive_response(found, b200), 0);
	cr_assert_eq(sip_dialog_state(db), SIP_DIALOG_CONFIRMED);
	cr_assert_eq(sip_dialog_state(da), SIP_DIALOG_EARLY);

	/* a 2xx from a third branch that never rang: a dialog of its own, which
	 * the owner BYEs */
	const struct sip_msg *c200 = resp_out(200, "RC", "", "<sip:bob@10.0.0.3>");
	cr_assert_null(sip_dialog_table_find_response(t, c200));
	struct sip_dialog *dc = NULL;
	cr_assert_eq(sip_dialog_new_uac(inv, c200, GW_CONTACT, &dc), 0);
	cr_assert_eq(sip_dialog_state(dc), SIP_DIALOG_CONFIRMED);
	cr_assert_eq(sip_dialog_table_add(t, dc), 0);
	cr_assert_eq(sip_dialog_table_count(t), 3);
	const struct sip_msg *bye = build(dc, SIP_METHOD_BYE, &via1, NULL);
	assert_pl(sip_msg_ruri(bye), "sip:bob@10.0.0.3");
	assert_pl(sip_msg_to(bye)->tag, "RC");
	cr_assert_eq(sip_msg_cseq(bye)->seq, 6);

	/* the same key twice is refused */
	struct sip_dialog *dup = NULL;
	cr_assert_eq(sip_dialog_new_uac(inv, c200, GW_CONTACT, &dup), 0);
	cr_assert_eq(sip_dialog_table_add(t, dup), -EEXIST);
	cr_assert_eq(sip_dialog_table_add(t, dc), -EBUSY);
	sip_dialog_free(dup);

	sip_dialog_free(dc); /* leaves the table by itself */
	cr_assert_eq(sip_dialog_table_count(t), 2);
	cr_assert_null(sip_dialog_table_find_response(t, c200));
	sip_dialog_table_remove(t, da);
	cr_assert_eq(sip_dialog_table_count(t), 1);
	cr_assert_null(sip_dialog_table_find_response(t, a180));
	sip_dialog_free(da);
	sip_dialog_table_free(t); /* db leaves the table and stays ours */
	cr_assert_eq(sip_dialog_state(db), SIP_DIALOG_CONFIRMED);
	sip_dialog_free(db);
}

Test(dialog, table_finds_incoming_requests)
{
	struct sip_dialog_table *t = sip_dialog_table_new(NULL, NULL);
	struct sip_dialog *d = uas_dialog();
	cr_assert_eq(sip_dialog_table_add(t, d), 0);
	cr_assert_eq(sip_dialog_table_find_request(t, req_in("BYE", 11, "b1", "")), d);
	/* a To tag of no dialog: the caller answers 481 */
	cr_assert_null(sip_dialog_table_find_request(t, req_in("BYE", 11, "zz", "")));
	/* no To tag: a new request, not an in-dialog one */
	cr_assert_null(sip_dialog_table_find_request(t, parse(INVITE_IN)));
	/* another Call-ID */
	cr_assert_null(
	    sip_dialog_table_find_request(t, parse("BYE sip:bob@192.0.2.10 SIP/2.0\r\n"
	                                           "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\r\n"
	                                           "From: <sip:alice@example.com>;tag=a1\r\n"
	                                           "To: <sip:bob@example.com>;tag=b1\r\n"
	                                           "Call-ID: call-2@example.com\r\n"
	                                           "CSeq: 11 BYE\r\n"
	                                           "Content-Length: 0\r\n\r\n")));
	/* a response is no request */
	cr_assert_null(sip_dialog_table_find_request(t, resp_out(200, "R1", "", "<sip:a@b>")));
	cr_assert_eq(
	    sip_dialog_table_find(t, SIP_PL("call-1@example.com"), SIP_PL("b1"), SIP_PL("a1")), d);
	cr_assert_null(
	    sip_dialog_table_find(t, SIP_PL("call-1@example.com"), SIP_PL("b1"), SIP_PL("a")));
	sip_dialog_table_free(t);
	sip_dialog_free(d);
}

static int counter_random(void *arg, void *buf, size_t len)
{
	unsigned *c = arg;
	unsigned char *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(*c)++;
	return 0;
}

Test(dialog, table_grows_and_keeps_every_dialog)
{
	unsigned seed = 7;
	struct sip_dialog_table *t = sip_dialog_table_new(counter_random, &seed);
	cr_assert(t);
	enum { N = 1000 };
	static struct sip_dialog *ds[N];
	for (int i = 0; i < N; i++) {
		const struct sip_msg *inv = parsef("INVITE sip:bob@192.0.2.10 SIP/2.0\r\n"
		                                   "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK%d\r\n"
		                                   "From: <sip:alice@example.com>;tag=f%d\r\n"
		                                   "To: <sip:bob@example.com>\r\n"
		                                   "Call-ID: many-%d\r\n"
		                                   "CSeq: 1 INVITE\r\n"
		                                   "Contact: <sip:alice@192.0.2.1>\r\n"
		                                   "Content-Length: 0\r\n\r\n",
		                                   i, i % 3, i / 2);
		char tag[16];
		snprintf(tag, sizeof(tag), "t%d", i);
		cr_assert_eq(sip_dialog_new_uas(inv, sip_pl_from_cstr(tag), GW_CONTACT, &ds[i]), 0);
		cr_assert_eq(sip_dialog_table_add(t, ds[i]), 0);
		/* release the parsed message now: the dialog keeps its own copy */
		release();
	}
	cr_assert_eq(sip_dialog_table_count(t), N);
	for (int i = 0; i < N; i++) {
		char cid[32], lt[16], rt[16];
		snprintf(cid, sizeof(cid), "many-%d", i / 2);
		snprintf(lt, sizeof(lt), "t%d", i);
		snprintf(rt, sizeof(rt), "f%d", i % 3);
		cr_assert_eq(sip_dialog_table_find(t, sip_pl_from_cstr(cid), sip_pl_from_cstr(lt),
		                                   sip_pl_from_cstr(rt)),
		             ds[i]);
	}
	for (int i = 0; i < N; i += 2)
		sip_dialog_free(ds[i]);
	cr_assert_eq(sip_dialog_table_count(t), N / 2);
	for (int i = 1; i < N; i += 2)
		sip_dialog_table_remove(t, ds[i]);
	cr_assert_eq(sip_dialog_table_count(t), 0);
	for (int i = 1; i < N; i += 2)
		sip_dialog_free(ds[i]);
	sip_dialog_table_free(t);
}

/* ---- secure flag ---- */

static bool secure_for(const char *ruri, const char *transport)
{
	const struct sip_msg *inv = parsef("INVITE %s SIP/2.0\r\n"
	                                   "Via: SIP/2.0/%s h.invalid;branch=z9hG4bKs\r\n"
	                                   "From: <sips:alice@example.com>;tag=a1\r\n"
	                                   "To: <sips:bob@example.com>\r\n"
	                                   "Call-ID: sec\r\n"
	                                   "CSeq: 1 INVITE\r\n"
	                                   "Contact: <sips:alice@h.invalid;transport=ws>\r\n"
	                                   "Content-Length: 0\r\n\r\n",
	                                   ruri, transport);
	struct sip_dialog *d = NULL;
	cr_assert_eq(sip_dialog_new_uas(inv, SIP_PL("s"), GW_CONTACT, &d), 0);
	bool s = sip_dialog_secure(d);
	sip_dialog_free(d);
	return s;
}

Test(dialog, secure_needs_sips_and_tls)
{
	cr_assert(secure_for("sips:bob@example.com", "TLS"));
	cr_assert(secure_for("sips:bob@example.com", "WSS"));
	cr_assert_not(secure_for("sips:bob@example.com", "UDP"));
	cr_assert_not(secure_for("sip:bob@example.com", "TLS"));

	const struct sip_msg *inv = parse("INVITE sips:bob@pbx.example.com SIP/2.0\r\n"
	                                  "Via: SIP/2.0/TLS 192.0.2.10;branch=z9hG4bKt\r\n"
	                                  "From: <sips:alice@gw.example.com>;tag=L1\r\n"
	                                  "To: <sips:bob@pbx.example.com>\r\n"
	                                  "Call-ID: sec-out\r\n"
	                                  "CSeq: 1 INVITE\r\n"
	                                  "Contact: <sips:gw@192.0.2.10>\r\n"
	                                  "Content-Length: 0\r\n\r\n");
	const struct sip_msg *ok = parse("SIP/2.0 200 OK\r\n"
	                                 "Via: SIP/2.0/TLS 192.0.2.10;branch=z9hG4bKt\r\n"
	                                 "From: <sips:alice@gw.example.com>;tag=L1\r\n"
	                                 "To: <sips:bob@pbx.example.com>;tag=X\r\n"
	                                 "Call-ID: sec-out\r\n"
	                                 "CSeq: 1 INVITE\r\n"
	                                 "Contact: <sips:bob@192.0.2.20>\r\n"
	                                 "Content-Length: 0\r\n\r\n");
	struct sip_dialog *d = NULL;
	cr_assert_eq(sip_dialog_new_uac(inv, ok, SIP_PL("<sips:gw@192.0.2.10>"), &d), 0);
	cr_assert(sip_dialog_secure(d));
	sip_dialog_free(d);
}

/* ---- bad input ---- */

Test(dialog, uac_creation_refusals)
{
	const struct sip_msg *inv = parse(INVITE_OUT);
	struct sip_dialog *d = (struct sip_dialog *)1;
	cr_assert_eq(sip_dialog_new_uac(inv, resp_out(200, "R1", "", NULL), GW_CONTACT, &d),
	             -EBADMSG, "a 2xx needs a Contact");
	cr_assert_null(d);
	cr_assert_eq(sip_dialog_new_uac(inv, resp_out(180, NULL, "", "<sip:a@b>"), GW_CONTACT, &d),
	             -ENOENT, "no To tag, no dialog");
	cr_assert_eq(sip_dialog_new_uac(inv, resp_out(100, "R1", "", "<sip:a@b>"), GW_CONTACT, &d),
	             -ENOENT);
	cr_assert_eq(sip_dialog_new_uac(inv, resp_out(486, "R1", "", NULL), GW_CONTACT, &d),
	             -ENOENT);
	cr_assert_eq(sip_dialog_new_uac(
	                 inv, resp_out(200, "R1", "Record-Route: <tel:+1555>\r\n", "<sip:a@b>"),
	                 GW_CONTACT, &d),
	             -EBADMSG);
	cr_assert_eq(sip_dialog_new_uac(inv, resp_out(200, "R1", "", "*"), GW_CONTACT, &d),
	             -EBADMSG);
	cr_assert_eq(sip_dialog_new_uac(inv, resp_out(200, "R1", "", "<sip:a@b>"), SIP_PL(""), &d),
	             -EINVAL);
	/* a response to another request */
	const struct sip_msg *other = parse("SIP/2.0 200 OK\r\n"
	                                    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKgw1\r\n"
	                                    "From: <sip:alice@gw.example.com>;tag=L1\r\n"
	                                    "To: <sip:bob@pbx.example.com>;tag=R1\r\n"
	                                    "Call-ID: out-2\r\n"
	                                    "CSeq: 5 INVITE\r\n"
	                                    "Contact: <sip:bob@192.0.2.20>\r\n"
	                                    "Content-Length: 0\r\n\r\n");
	cr_assert_eq(sip_dialog_new_uac(inv, other, GW_CONTACT, &d), -EINVAL);
	cr_assert_null(d);
}

Test(dialog, uac_early_without_contact_targets_the_request_uri_until_the_2xx)
{
	const struct sip_msg *inv = parse(INVITE_OUT);
	struct sip_dialog *d = NULL;
	cr_assert_eq(sip_dialog_new_uac(inv, resp_out(180, "R1", "", NULL), GW_CONTACT, &d), 0);
	assert_pl(sip_dialog_remote_target(d), "sip:bob@pbx.example.com");
	/* a 2xx without Contact cannot confirm it */
	cr_assert_eq(sip_dialog_receive_response(d, resp_out(200, "R1", "", NULL)), -EBADMSG);
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_EARLY);
	cr_assert_eq(
	    sip_dialog_receive_response(d, resp_out(200, "R1", "", "<sip:bob@192.0.2.30>")), 0);
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_CONFIRMED);
	assert_pl(sip_dialog_remote_target(d), "sip:bob@192.0.2.30");
	sip_dialog_free(d);
}

Test(dialog, uas_creation_refusals)
{
	struct sip_dialog *d = NULL;
	const struct sip_msg *no_contact = parse("INVITE sip:bob@192.0.2.10 SIP/2.0\r\n"
	                                         "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKn\r\n"
	                                         "From: <sip:alice@example.com>;tag=a1\r\n"
	                                         "To: <sip:bob@example.com>\r\n"
	                                         "Call-ID: nc\r\n"
	                                         "CSeq: 1 INVITE\r\n"
	                                         "Content-Length: 0\r\n\r\n");
	cr_assert_eq(sip_dialog_new_uas(no_contact, SIP_PL("b1"), GW_CONTACT, &d), -EBADMSG);
	cr_assert_eq(sip_dialog_new_uas(req_in("INVITE", 2, "b1", "Contact: <sip:a@b>\r\n"),
	                                SIP_PL("b2"), GW_CONTACT, &d),
	             -EINVAL, "a request with a To tag is in a dialog already");
	cr_assert_eq(sip_dialog_new_uas(parse(INVITE_IN), SIP_PL(""), GW_CONTACT, &d), -EINVAL);
	cr_assert_eq(sip_dialog_new_uas(parse(INVITE_IN), SIP_PL("a b"), GW_CONTACT, &d), -EINVAL);
	cr_assert_eq(
	    sip_dialog_new_uas(parse(INVITE_IN), SIP_PL("b1"), SIP_PL("<sip:x>\r\nX-Evil: 1"), &d),
	    -EINVAL);
	const struct sip_msg *bad_rr = parse("INVITE sip:bob@192.0.2.10 SIP/2.0\r\n"
	                                     "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKn\r\n"
	                                     "Record-Route: <sip:p1;lr>,,<sip:p2;lr>\r\n"
	                                     "From: <sip:alice@example.com>;tag=a1\r\n"
	                                     "To: <sip:bob@example.com>\r\n"
	                                     "Call-ID: rr\r\n"
	                                     "CSeq: 1 INVITE\r\n"
	                                     "Contact: <sip:a@192.0.2.1>\r\n"
	                                     "Content-Length: 0\r\n\r\n");
	cr_assert_eq(sip_dialog_new_uas(bad_rr, SIP_PL("b1"), GW_CONTACT, &d), -EBADMSG);
	cr_assert_null(d);
}

Test(dialog, folded_header_values_are_stored_on_one_line)
{
	const struct sip_msg *inv = parse("INVITE sip:bob@192.0.2.10 SIP/2.0\r\n"
	                                  "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKf\r\n"
	                                  "Record-Route: <sip:p1.example.com;lr>,\r\n"
	                                  " <sip:p2.example.com;lr>\r\n"
	                                  "From: \"Alice\"\r\n <sip:alice@example.com>;tag=a1\r\n"
	                                  "To: <sip:bob@example.com>\r\n"
	                                  "Call-ID: fold\r\n"
	                                  "CSeq: 1 INVITE\r\n"
	                                  "Contact: <sip:a@192.0.2.1>\r\n"
	                                  "Content-Length: 0\r\n\r\n");
	struct sip_dialog *d = NULL;
	cr_assert_eq(sip_dialog_new_uas(inv, SIP_PL("b1"), GW_CONTACT, &d), 0);
	assert_pl(sip_dialog_remote_addr(d), "\"Alice\"   <sip:alice@example.com>;tag=a1");
	const struct sip_msg *bye = build(d, SIP_METHOD_BYE, &via1, NULL);
	assert_pl(sip_msg_to(bye)->uri_text, "sip:alice@example.com");
	assert_pl(hdr(bye, SIP_HDR_ROUTE), "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>");
	sip_dialog_free(d);
}

/* ---- random tokens ---- */

Test(dialog, random_tokens)
{
	unsigned c = 0;
	char a[16], b[16];
	cr_assert_eq(sip_random_token(a, sizeof(a), 10, counter_random, &c), 0);
	cr_assert_eq(strlen(a), 10);
	c = 0;
	cr_assert_eq(sip_random_token(b, sizeof(b), 10, counter_random, &c), 0);
	cr_assert_str_eq(a, b, "the same generator state gives the same token");
	cr_assert_str_eq(a, "0123456789");
	cr_assert(sip_pl_is_token(sip_pl_from_cstr(a)));
	cr_assert_eq(sip_random_token(a, 10, 10, NULL, NULL), -ENOSPC);
	char big[101];
	cr_assert_eq(sip_random_token(big, sizeof(big), 100, NULL, NULL), 0);
	cr_assert_eq(strlen(big), 100);
	for (size_t i = 0; i < 100; i++)
		cr_assert(sip_is_alpha((unsigned char)big[i]) ||
		          sip_is_digit((unsigned char)big[i]));
}

Test(dialog, update_in_an_early_dialog_refreshes_the_target_and_stays_early)
{
	struct sip_dialog *d = NULL;
	cr_assert_eq(sip_dialog_new_uac(parse(INVITE_OUT),
	                                resp_out(183, "R1", "", "<sip:bob@192.0.2.20>"), GW_CONTACT,
	                                &d),
	             0);
	const struct sip_msg *upd = build(d, SIP_METHOD_UPDATE, &via1, NULL);
	cr_assert_eq(sip_msg_cseq(upd)->seq, 6);
	cr_assert_eq(sip_dialog_receive_response(
	                 d, resp_in_dialog(200, 6, "UPDATE", "Contact: <sip:bob@192.0.2.99>\r\n")),
	             0);
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_EARLY);
	assert_pl(sip_dialog_remote_target(d), "sip:bob@192.0.2.99");
	/* the 2xx to the INVITE still carries its own CSeq and confirms */
	cr_assert_eq(
	    sip_dialog_receive_response(d, resp_out(200, "R1", "", "<sip:bob@192.0.2.21>")), 0);
	cr_assert_eq(sip_dialog_state(d), SIP_DIALOG_CONFIRMED);
	assert_pl(sip_dialog_remote_target(d), "sip:bob@192.0.2.21");
	cr_assert_eq(sip_msg_cseq(build(d, SIP_METHOD_ACK, &via1, NULL))->seq, 5);
	sip_dialog_free(d);
}

Test(dialog, local_cseq_stays_below_2_pow_31)
{
	const struct sip_msg *inv = parse("INVITE sip:bob@pbx.example.com SIP/2.0\r\n"
	                                  "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKmax\r\n"
	                                  "From: <sip:alice@gw.example.com>;tag=L1\r\n"
	                                  "To: <sip:bob@pbx.example.com>\r\n"
	                                  "Call-ID: max\r\n"
	                                  "CSeq: 2147483646 INVITE\r\n"
	                                  "Content-Length: 0\r\n\r\n");
	const struct sip_msg *ok = parse("SIP/2.0 200 OK\r\n"
	                                 "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKmax\r\n"
	                                 "From: <sip:alice@gw.example.com>;tag=L1\r\n"
	                                 "To: <sip:bob@pbx.example.com>;tag=R\r\n"
	                                 "Call-ID: max\r\n"
	                                 "CSeq: 2147483646 INVITE\r\n"
	                                 "Contact: <sip:bob@192.0.2.20>\r\n"
	                                 "Content-Length: 0\r\n\r\n");
	struct sip_dialog *d = NULL;
	cr_assert_eq(sip_dialog_new_uac(inv, ok, GW_CONTACT, &d), 0);
	cr_assert_eq(sip_msg_cseq(build(d, SIP_METHOD_INFO, &via1, NULL))->seq, 2147483647u);
	struct sip_buf b;
	sip_buf_init(&b, 0);
	cr_assert_eq(sip_dialog_build_request(d, SIP_METHOD_BYE, &via1, &b, NULL), -ERANGE);
	/* the ACK still goes out with the INVITE's number */
	cr_assert_eq(sip_dialog_build_ack(d, 0, &via1, &b, NULL), 0);
	sip_buf_free(&b);
	sip_dialog_free(d);
}
