/* Unit tests: the message parser, the serializer, and the torture set in
 * data/torture/ (our own messages covering the categories of RFC 4475 and
 * RFC 5118, each with its expected verdict). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_build.h"
#include "sip/sip_msg.h"

static void expect_pl(sip_pl got, const char *want)
{
	cr_assert(sip_pl_isset(got), "expected '%s', got unset", want);
	cr_assert(sip_pl_eq_cstr(got, want), "expected '%s', got '%.*s'", want, (int)got.l, got.p);
}

/* Messages below are written with "\n"; crlf() turns each into CRLF. */
static char *crlf(const char *s)
{
	size_t n = strlen(s), extra = 0;
	for (size_t i = 0; i < n; i++)
		extra += s[i] == '\n';
	char *out = malloc(n + extra + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			*o++ = '\r';
		*o++ = s[i];
	}
	*o = '\0';
	return out;
}

struct parsed {
	struct sip_msg *m;
	char *buf;
	size_t len, used;
	enum sip_parse_result r;
	struct sip_parse_error err;
};

static struct parsed parse_mode(const char *text, enum sip_parse_mode mode)
{
	struct parsed p = {0};
	p.m = sip_msg_new(NULL);
	cr_assert_not_null(p.m);
	p.buf = crlf(text);
	p.len = strlen(p.buf);
	p.r = sip_msg_parse(p.m, p.buf, p.len, mode, &p.used, &p.err);
	return p;
}

static struct parsed parse(const char *text) { return parse_mode(text, SIP_PARSE_DATAGRAM); }

static void done(struct parsed *p)
{
	sip_msg_free(p->m);
	free(p->buf);
}

static const char *INVITE =
	"INVITE sip:bob@biloxi.example.com SIP/2.0\n"
	"Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKnashds7;rport\n"
	"v: SIP/2.0/UDP 192.0.2.4:5070;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.9, "
	"SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bKx\n"
	"Max-Forwards: 70\n"
	"To: Bob <sip:bob@biloxi.example.com>\n"
	"From: \"Alice \\\"A\\\"\" <sip:alice@atlanta.example.com>;tag=1928301774\n"
	"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n"
	"CSeq: 314159 INVITE\n"
	"Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws;ob>\n"
	"Supported: 100rel,\n timer, replaces\n"
	"k: outbound\n"
	"X-Custom: one\n"
	"x-custom: two\n"
	"Content-Type: application/sdp\n"
	"Content-Length: 10\n"
	"\n"
	"v=0\no=x\n";

Test(msg, invite_start_line_and_fields)
{
	struct parsed p = parse(INVITE);
	cr_assert_eq(p.r, SIP_PARSE_OK, "%s", p.err.reason);
	cr_assert_eq(p.used, p.len);
	cr_assert(sip_msg_is_request(p.m));
	cr_assert_eq(sip_msg_method(p.m), SIP_METHOD_INVITE);
	expect_pl(sip_msg_method_name(p.m), "INVITE");
	expect_pl(sip_msg_ruri(p.m), "sip:bob@biloxi.example.com");
	cr_assert_eq(sip_msg_ruri_parsed(p.m)->scheme, SIP_URI_SIP);
	expect_pl(sip_msg_ruri_parsed(p.m)->user, "bob");
	expect_pl(sip_msg_ruri_parsed(p.m)->host, "biloxi.example.com");

	const struct sip_via *via = sip_msg_via(p.m);
	expect_pl(via->transport, "WSS");
	expect_pl(via->host, "df7jal23ls0d.invalid");
	expect_pl(via->branch, "z9hG4bKnashds7");
	cr_assert(via->rport);
	cr_assert_eq(sip_msg_via_count(p.m), 3);

	expect_pl(sip_msg_from(p.m)->tag, "1928301774");
	expect_pl(sip_msg_from(p.m)->display, "Alice \\\"A\\\"");
	cr_assert(sip_msg_from(p.m)->display_quoted);
	expect_pl(sip_msg_from(p.m)->uri_text, "sip:alice@atlanta.example.com");
	cr_assert(!sip_pl_isset(sip_msg_to(p.m)->tag));
	expect_pl(sip_msg_to(p.m)->display, "Bob");
	expect_pl(sip_msg_call_id(p.m), "a84b4c76e66710@pc33.atlanta.example.com");
	cr_assert_eq(sip_msg_cseq(p.m)->seq, 314159);
	cr_assert_eq(sip_msg_cseq(p.m)->method, SIP_METHOD_INVITE);
	cr_assert_eq(sip_msg_max_forwards(p.m), 70);
	cr_assert_eq(sip_msg_content_length(p.m), 10);
	expect_pl(sip_msg_body(p.m), "v=0\r\no=x\r\n");
	done(&p);
}

Test(msg, header_access_by_id_name_and_iteration)
{
	struct parsed p = parse(INVITE);
	cr_assert_eq(p.r, SIP_PARSE_OK);
	cr_assert_eq(sip_msg_hdr_count(p.m), 14);
	const struct sip_hdr *h = sip_msg_hdr_at(p.m, 1);
	expect_pl(h->name, "v");
	cr_assert_eq(h->id, SIP_HDR_VIA);
	cr_assert_null(sip_msg_hdr_at(p.m, 14));

	/* compact and long names find each other */
	cr_assert_eq(sip_msg_hdr_by_name(p.m, SIP_PL("Via")), sip_msg_hdr(p.m, SIP_HDR_VIA));
	cr_assert_eq(sip_msg_hdr_by_name(p.m, SIP_PL("V")), sip_msg_hdr(p.m, SIP_HDR_VIA));
	cr_assert_eq(sip_msg_hdr_by_name(p.m, SIP_PL("i")), sip_msg_hdr(p.m, SIP_HDR_CALL_ID));
	/* unknown headers by name, case-insensitive, several fields */
	const struct sip_hdr *x = sip_msg_hdr_by_name(p.m, SIP_PL("X-CUSTOM"));
	cr_assert_not_null(x);
	expect_pl(x->value, "one");
	x = sip_msg_hdr_next(p.m, x);
	cr_assert_not_null(x);
	expect_pl(x->value, "two");
	cr_assert_null(sip_msg_hdr_next(p.m, x));
	cr_assert_null(sip_msg_hdr_by_name(p.m, SIP_PL("X-Absent")));

	/* all Via values across fields, split at commas */
	const char *vias[] = {"SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKnashds7;rport",
	                      "SIP/2.0/UDP 192.0.2.4:5070;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.9",
	                      "SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bKx"};
	struct sip_value_iter it = {0};
	sip_pl v;
	for (int i = 0; i < 3; i++) {
		cr_assert(sip_msg_value_next(p.m, SIP_HDR_VIA, &it, &v));
		expect_pl(v, vias[i]);
	}
	cr_assert(!sip_msg_value_next(p.m, SIP_HDR_VIA, &it, &v));

	/* option tags over a folded field and a compact one */
	cr_assert(sip_msg_has_option(p.m, SIP_HDR_SUPPORTED, "100rel"));
	cr_assert(sip_msg_has_option(p.m, SIP_HDR_SUPPORTED, "TIMER"));
	cr_assert(sip_msg_has_option(p.m, SIP_HDR_SUPPORTED, "replaces"));
	cr_assert(sip_msg_has_option(p.m, SIP_HDR_SUPPORTED, "outbound"));
	cr_assert(!sip_msg_has_option(p.m, SIP_HDR_SUPPORTED, "path"));
	cr_assert(!sip_msg_has_option(p.m, SIP_HDR_REQUIRE, "100rel"));
	done(&p);
}

/* A compact copy reads like the original, with room for its own fields. */
Test(msg, compact_copy_reads_the_same)
{
	struct parsed p = parse(INVITE);
	cr_assert_eq(p.r, SIP_PARSE_OK);
	struct sip_msg *c = sip_msg_compact(p.m);
	cr_assert_not_null(c);
	sip_msg_free(p.m); /* the views point into p.buf, not into the original */
	p.m = NULL;
	cr_assert_eq(sip_msg_hdr_count(c), 14);
	cr_assert(sip_msg_is_request(c));
	cr_assert_eq(sip_msg_method(c), SIP_METHOD_INVITE);
	expect_pl(sip_msg_ruri(c), "sip:bob@biloxi.example.com");
	expect_pl(sip_msg_call_id(c), "a84b4c76e66710@pc33.atlanta.example.com");
	cr_assert_eq(sip_msg_cseq(c)->seq, 314159);
	expect_pl(sip_msg_from(c)->tag, "1928301774");
	cr_assert_eq(sip_msg_via_count(c), 3);
	const struct sip_hdr *x = sip_msg_hdr_by_name(c, SIP_PL("x-custom"));
	cr_assert_not_null(x);
	expect_pl(sip_msg_hdr_next(c, x)->value, "two");
	cr_assert(sip_msg_has_option(c, SIP_HDR_SUPPORTED, "outbound"));
	expect_pl(sip_msg_body(c), "v=0\r\no=x\r\n");

	/* It takes a message with no more fields again, and refuses a longer
	 * one as over its limit (not by writing past its end). */
	size_t used;
	struct sip_parse_error err;
	const char *small = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
	                    "From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n"
	                    "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
	cr_assert_eq(sip_msg_parse(c, small, strlen(small), SIP_PARSE_DATAGRAM, &used, &err),
	             SIP_PARSE_OK);
	cr_assert_eq(sip_msg_hdr_count(c), 6);
	struct sip_msg *tiny = sip_msg_compact(c);
	cr_assert_not_null(tiny);
	cr_assert_eq(sip_msg_parse(tiny, p.buf, p.len, SIP_PARSE_DATAGRAM, &used, &err),
	             SIP_PARSE_ERROR);
	sip_msg_free(tiny);
	sip_msg_free(c);
	done(&p);
}

Test(msg, response)
{
	struct parsed p = parse("SIP/2.0 180 Ringing\n"
	                        "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\n"
	                        "To: <sip:b@x>;tag=abc\n"
	                        "From: <sip:a@x>;tag=def\n"
	                        "Call-ID: 1\n"
	                        "CSeq: 2 INVITE\n"
	                        "Content-Length: 0\n\n");
	cr_assert_eq(p.r, SIP_PARSE_OK, "%s", p.err.reason);
	cr_assert(!sip_msg_is_request(p.m));
	cr_assert_eq(sip_msg_status(p.m), 180);
	expect_pl(sip_msg_reason(p.m), "Ringing");
	expect_pl(sip_msg_to(p.m)->tag, "abc");
	cr_assert_eq(sip_msg_body(p.m).l, 0);
	cr_assert_eq(sip_msg_max_forwards(p.m), -1);
	done(&p);
}

Test(msg, datagram_without_content_length_takes_the_rest)
{
	struct parsed p = parse("MESSAGE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
	                        "To: <sip:a@b>\nFrom: <sip:c@d>;tag=1\nCall-ID: x\n"
	                        "CSeq: 1 MESSAGE\n\nhello");
	cr_assert_eq(p.r, SIP_PARSE_OK);
	expect_pl(sip_msg_body(p.m), "hello");
	cr_assert_eq(sip_msg_content_length(p.m), -1);
	done(&p);
}

Test(msg, datagram_extra_bytes_after_body_are_ignored)
{
	struct parsed p = parse("MESSAGE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
	                        "To: <sip:a@b>\nFrom: <sip:c@d>;tag=1\nCall-ID: x\n"
	                        "CSeq: 1 MESSAGE\nContent-Length: 2\n\nhello");
	cr_assert_eq(p.r, SIP_PARSE_OK);
	expect_pl(sip_msg_body(p.m), "he");
	cr_assert_eq(p.used, p.len);
	done(&p);
}

static const char *OPTIONS_CL3 = "OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\n"
                                 "To: <sip:a@b>\nFrom: <sip:c@d>;tag=1\nCall-ID: x\n"
                                 "CSeq: 1 OPTIONS\nContent-Length: 3\n\nabc";

Test(msg, stream_framing_two_messages_and_partial_input)
{
	char *one = crlf(OPTIONS_CL3);
	size_t n = strlen(one);
	char *two = malloc(2 * n + 4);
	memcpy(two, "\r\n\r\n", 4); /* a keep-alive ping first */
	memcpy(two + 4, one, n);
	memcpy(two + 4 + n, one, n);
	size_t total = 2 * n + 4;
	struct sip_msg *m = sip_msg_new(NULL);
	size_t used;
	struct sip_parse_error err;

	cr_assert_eq(sip_msg_parse(m, two, total, SIP_PARSE_STREAM, &used, &err),
	             SIP_PARSE_KEEPALIVE);
	cr_assert_eq(used, 4);
	size_t off = used;
	cr_assert_eq(sip_msg_parse(m, two + off, total - off, SIP_PARSE_STREAM, &used, &err),
	             SIP_PARSE_OK);
	cr_assert_eq(used, n);
	expect_pl(sip_msg_body(m), "abc");
	off += used;
	/* every proper prefix of the second message needs more bytes */
	for (size_t k = 0; k < n; k++) {
		enum sip_parse_result r =
			sip_msg_parse(m, two + off, k, SIP_PARSE_STREAM, &used, &err);
		cr_assert_eq(r, SIP_PARSE_NEED_MORE, "prefix of %zu bytes gave %d", k, r);
		cr_assert_eq(used, 0);
	}
	cr_assert_eq(sip_msg_parse(m, two + off, n, SIP_PARSE_STREAM, &used, &err), SIP_PARSE_OK);
	cr_assert_eq(used, n);
	sip_msg_free(m);
	free(one);
	free(two);
}

Test(msg, stream_requires_content_length)
{
	struct parsed p = parse_mode("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\n"
	                             "To: <sip:a@b>\nFrom: <sip:c@d>;tag=1\nCall-ID: x\n"
	                             "CSeq: 1 OPTIONS\n\n",
	                             SIP_PARSE_STREAM);
	cr_assert_eq(p.r, SIP_PARSE_ERROR);
	cr_assert_eq(p.err.status, 400);
	cr_assert_str_eq(p.err.reason, "Missing Content-Length header");
	done(&p);
}

Test(msg, keepalive_pong_and_datagram_keepalive)
{
	struct sip_msg *m = sip_msg_new(NULL);
	size_t used;
	struct sip_parse_error err;
	cr_assert_eq(sip_msg_parse(m, "\r\nOPT", 5, SIP_PARSE_STREAM, &used, &err),
	             SIP_PARSE_KEEPALIVE);
	cr_assert_eq(used, 2);
	cr_assert_eq(sip_msg_parse(m, "\r\n", 2, SIP_PARSE_STREAM, &used, &err),
	             SIP_PARSE_NEED_MORE, "could still become a ping");
	cr_assert_eq(sip_msg_parse(m, "\r\n\r\n", 4, SIP_PARSE_DATAGRAM, &used, &err),
	             SIP_PARSE_KEEPALIVE);
	cr_assert_eq(used, 4);
	cr_assert_eq(sip_msg_parse(m, "", 0, SIP_PARSE_DATAGRAM, &used, &err), SIP_PARSE_ERROR);
	cr_assert_eq(err.status, 0);
	sip_msg_free(m);
}

Test(msg, limits_header_count_line_length_size_via)
{
	struct sip_limits lim = SIP_LIMITS_DEFAULT;
	lim.max_headers = 8;
	lim.max_via = 2;
	lim.max_line_len = 64;
	lim.max_msg_size = 400;
	struct sip_msg *m = sip_msg_new(&lim);
	const char *base = "OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
	                   "To: <sip:a@b>\nFrom: <sip:c@d>;tag=1\nCall-ID: x\n"
	                   "CSeq: 1 OPTIONS\n";
	struct {
		const char *extra;
		int status;
		const char *reason;
	} cases[] = {
		{"A: 1\nB: 2\nC: 3\nD: 4\n", 400, "Too many header fields"},
		{"Via: SIP/2.0/UDP a, SIP/2.0/UDP b\n", 400, "Too many Via headers"},
		{"X-Long: 0123456789012345678901234567890123456789012345678901234567890\n", 400,
		 "Header field too long"},
		{"Content-Length: 300\n", 513, "Message Too Large"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024];
		snprintf(text, sizeof(text), "%s%s\n", base, cases[i].extra);
		char *buf = crlf(text);
		size_t used;
		struct sip_parse_error err;
		cr_assert_eq(sip_msg_parse(m, buf, strlen(buf), SIP_PARSE_DATAGRAM, &used, &err),
		             SIP_PARSE_ERROR, "case %zu", i);
		cr_assert_eq(err.status, cases[i].status, "case %zu: %d %s", i, err.status, err.reason);
		cr_assert_str_eq(err.reason, cases[i].reason, "case %zu", i);
		/* still answerable: the fields a reply copies are there */
		cr_assert_not_null(sip_msg_hdr(m, SIP_HDR_CSEQ), "case %zu", i);
		free(buf);
	}
	sip_msg_free(m);
}

Test(msg, too_many_headers_keeps_reply_fields_in_reserve)
{
	struct sip_limits lim = SIP_LIMITS_DEFAULT;
	lim.max_headers = 2;
	struct sip_msg *m = sip_msg_new(&lim);
	char *buf = crlf("OPTIONS sip:a@b SIP/2.0\nA: 1\nB: 2\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
	                 "To: <sip:a@b>\nFrom: <sip:c@d>;tag=1\nCall-ID: x\nCSeq: 1 OPTIONS\n\n");
	size_t used;
	struct sip_parse_error err;
	cr_assert_eq(sip_msg_parse(m, buf, strlen(buf), SIP_PARSE_DATAGRAM, &used, &err),
	             SIP_PARSE_ERROR);
	cr_assert_eq(err.status, 400);
	cr_assert_str_eq(err.reason, "Too many header fields");
	struct sip_buf out;
	sip_buf_init(&out, 0);
	cr_assert_eq(sip_build_response(&out, m, err.status, err.reason, SIP_PL("t1")), 0);
	cr_assert_eq(sip_build_body(&out, NULL, SIP_PL("")), 0);
	cr_assert_not_null(strstr(out.p, "SIP/2.0 400 Too many header fields\r\n"));
	cr_assert_not_null(strstr(out.p, "CSeq: 1 OPTIONS\r\n"));
	sip_buf_free(&out);
	sip_msg_free(m);
	free(buf);
}

Test(msg, reuse_across_parses_resets_state)
{
	struct sip_msg *m = sip_msg_new(NULL);
	char *a = crlf(INVITE);
	char *b = crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>;tag=9\n"
	               "From: <sip:c@d>;tag=1\nCall-ID: y\nCSeq: 1 BYE\nContent-Length: 0\n\n");
	size_t used;
	struct sip_parse_error err;
	cr_assert_eq(sip_msg_parse(m, a, strlen(a), SIP_PARSE_DATAGRAM, &used, &err), SIP_PARSE_OK);
	cr_assert_eq(sip_msg_parse(m, b, strlen(b), SIP_PARSE_DATAGRAM, &used, &err), SIP_PARSE_OK);
	cr_assert_eq(sip_msg_hdr_count(m), 6);
	cr_assert_null(sip_msg_hdr(m, SIP_HDR_CONTACT));
	cr_assert_null(sip_msg_hdr(m, SIP_HDR_SUPPORTED));
	cr_assert_eq(sip_msg_max_forwards(m), -1);
	cr_assert_eq(sip_msg_via_count(m), 1);
	expect_pl(sip_msg_call_id(m), "y");
	sip_msg_free(m);
	free(a);
	free(b);
}

/* ---- serializer ---- */

Test(build, response_from_request)
{
	struct parsed p = parse(INVITE);
	cr_assert_eq(p.r, SIP_PARSE_OK);
	struct sip_buf b;
	sip_buf_init(&b, 0);
	cr_assert_eq(sip_build_response(&b, p.m, 486, NULL, SIP_PL("xyz")), 0);
	cr_assert_eq(sip_build_header(&b, "Server", SIP_PL("sipwire")), 0);
	cr_assert_eq(sip_build_body(&b, NULL, SIP_PL("")), 0);
	const char *want =
		"SIP/2.0 486 Busy Here\r\n"
		"Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKnashds7;rport\r\n"
		"Via: SIP/2.0/UDP 192.0.2.4:5070;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.9, "
		"SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bKx\r\n"
		"From: \"Alice \\\"A\\\"\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
		"To: Bob <sip:bob@biloxi.example.com>;tag=xyz\r\n"
		"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
		"CSeq: 314159 INVITE\r\n"
		"Server: sipwire\r\n"
		"Content-Length: 0\r\n"
		"\r\n";
	cr_assert_str_eq(b.p, want);

	/* the result parses, and is the response to the request */
	struct sip_msg *r = sip_msg_new(NULL);
	size_t used;
	struct sip_parse_error err;
	cr_assert_eq(sip_msg_parse(r, b.p, b.len, SIP_PARSE_STREAM, &used, &err), SIP_PARSE_OK);
	cr_assert_eq(used, b.len);
	cr_assert_eq(sip_msg_status(r), 486);
	expect_pl(sip_msg_to(r)->tag, "xyz");
	expect_pl(sip_msg_via(r)->branch, "z9hG4bKnashds7");
	sip_msg_free(r);
	sip_buf_free(&b);
	done(&p);
}

Test(build, trying_keeps_to_without_tag_and_copies_timestamp)
{
	struct parsed p = parse("INVITE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
	                        "To: <sip:a@b>\nFrom: <sip:c@d>;tag=1\nCall-ID: x\n"
	                        "CSeq: 1 INVITE\nTimestamp: 54\nContent-Length: 0\n\n");
	cr_assert_eq(p.r, SIP_PARSE_OK);
	struct sip_buf b;
	sip_buf_init(&b, 0);
	sip_build_response(&b, p.m, 100, NULL, SIP_PL("zzz"));
	cr_assert_eq(sip_build_body(&b, NULL, SIP_PL("")), 0);
	cr_assert_not_null(strstr(b.p, "To: <sip:a@b>\r\n"));
	cr_assert_not_null(strstr(b.p, "Timestamp: 54\r\n"));
	cr_assert_null(strstr(b.p, "tag=zzz"));
	sip_buf_free(&b);
	done(&p);
}

Test(build, request_with_body_has_exact_content_length)
{
	struct sip_buf b;
	sip_buf_init(&b, 0);
	sip_build_request_line(&b, SIP_PL("MESSAGE"), SIP_PL("sip:bob@example.com"));
	sip_build_header(&b, "Via", SIP_PL("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa;rport"));
	sip_build_header(&b, "From", SIP_PL("<sip:alice@example.com>;tag=1"));
	sip_build_header(&b, "To", SIP_PL("<sip:bob@example.com>"));
	sip_build_header_fmt(&b, "Call-ID", "%s@%d", "abc", 42);
	sip_build_header_fmt(&b, "CSeq", "%u MESSAGE", 7u);
	sip_build_header_fmt(&b, "Max-Forwards", "%d", 70);
	cr_assert_eq(sip_build_body(&b, "text/plain", SIP_PL("h\xc3\xa9llo")), 0);
	struct sip_msg *m = sip_msg_new(NULL);
	size_t used;
	struct sip_parse_error err;
	cr_assert_eq(sip_msg_parse(m, b.p, b.len, SIP_PARSE_STREAM, &used, &err), SIP_PARSE_OK,
	             "%s", err.reason);
	cr_assert_eq(sip_msg_content_length(m), 6);
	expect_pl(sip_msg_body(m), "h\xc3\xa9llo");
	expect_pl(sip_msg_hdr(m, SIP_HDR_CONTENT_TYPE)->value, "text/plain");
	expect_pl(sip_msg_call_id(m), "abc@42");
	cr_assert_eq(sip_msg_cseq(m)->seq, 7);
	sip_msg_free(m);
	sip_buf_free(&b);
}

Test(build, header_injection_is_refused_and_sticky)
{
	struct sip_buf b;
	sip_buf_init(&b, 0);
	cr_assert_eq(sip_build_header(&b, "Subject", SIP_PL("a\r\nVia: evil")), -EINVAL);
	cr_assert_eq(sip_build_header(&b, "Subject", SIP_PL("fine")), -EINVAL,
	             "the first error sticks");
	sip_buf_reset(&b);
	cr_assert_eq(sip_build_header(&b, "Subject", SIP_PL("folded\r\n value")), 0);
	cr_assert_eq(sip_build_header_fmt(&b, "Subject", "%s", "x\ny"), -EINVAL);
	sip_buf_reset(&b);
	cr_assert_eq(sip_build_status_line(&b, 200, "O\r\nK"), 0);
	cr_assert_str_eq(b.p, "SIP/2.0 200 O  K\r\n");
	cr_assert_eq(sip_build_status_line(&b, 99, NULL), -EINVAL);
	sip_buf_free(&b);
}

Test(build, size_limit)
{
	struct sip_buf b;
	sip_buf_init(&b, 16);
	cr_assert_eq(sip_buf_append(&b, "0123456789", 10), 0);
	cr_assert_eq(sip_buf_printf(&b, "%s", "0123456789"), -EMSGSIZE);
	cr_assert_eq(b.len, 10);
	sip_buf_free(&b);
	cr_assert_str_eq(sip_status_reason(487), "Request Terminated");
	cr_assert_str_eq(sip_status_reason(299), "Unknown");
}

/* ---- the torture set ----
 * Each data/torture/NAME.sip starts with comment lines:
 *   # expect: ok | drop | need-more | keepalive | <status code>
 *   # reason: <text the fault reason must contain>        (optional)
 *   # mode: stream                                        (optional)
 *   # why: <what it tests>
 * The rest is the message with LF line ends, sent as CRLF. Escapes:
 * <CR> <LF> <NUL> <HT> a bare byte; <REPEAT:n:text> text n times; <CL> the
 * length of the body after the empty line. */

struct torture {
	char expect[32];
	char reason[128];
	bool stream;
	char *msg;
	size_t len;
};

static void append(char **out, size_t *len, size_t *cap, const char *s, size_t n)
{
	while (*len + n + 1 > *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		*out = realloc(*out, *cap);
	}
	memcpy(*out + *len, s, n);
	*len += n;
}

static void load_torture(const char *path, struct torture *t)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	memset(t, 0, sizeof(*t));
	char *p = text;
	while (*p == '#') {
		char *eol = strchr(p, '\n');
		cr_assert_not_null(eol);
		*eol = '\0';
		if (!strncmp(p, "# expect: ", 10))
			snprintf(t->expect, sizeof(t->expect), "%s", p + 10);
		else if (!strncmp(p, "# reason: ", 10))
			snprintf(t->reason, sizeof(t->reason), "%s", p + 10);
		else if (!strcmp(p, "# mode: stream"))
			t->stream = true;
		p = eol + 1;
	}
	cr_assert(t->expect[0], "%s: no '# expect:' line", path);
	char *out = NULL;
	size_t len = 0, cap = 0;
	for (; *p; p++) {
		if (*p == '\n') {
			append(&out, &len, &cap, "\r\n", 2);
		} else if (*p == '<' && !strncmp(p, "<CR>", 4)) {
			append(&out, &len, &cap, "\r", 1);
			p += 3;
		} else if (*p == '<' && !strncmp(p, "<LF>", 4)) {
			append(&out, &len, &cap, "\n", 1);
			p += 3;
		} else if (*p == '<' && !strncmp(p, "<NUL>", 5)) {
			append(&out, &len, &cap, "\0", 1);
			p += 4;
		} else if (*p == '<' && !strncmp(p, "<HT>", 4)) {
			append(&out, &len, &cap, "\t", 1);
			p += 3;
		} else if (*p == '<' && !strncmp(p, "<REPEAT:", 8)) {
			char *colon = strchr(p + 8, ':'), *close = colon ? strchr(colon, '>') : NULL;
			cr_assert(colon && close, "%s: bad REPEAT", path);
			int times = atoi(p + 8);
			for (int i = 0; i < times; i++)
				append(&out, &len, &cap, colon + 1, (size_t)(close - colon - 1));
			p = close;
		} else if (*p == '<' && !strncmp(p, "<CL>", 4)) {
			append(&out, &len, &cap, "\x01", 1); /* patched below */
			p += 3;
		} else {
			append(&out, &len, &cap, p, 1);
		}
	}
	out[len] = '\0';
	char *mark = memchr(out, '\x01', len);
	if (mark) {
		char *body = strstr(out, "\r\n\r\n");
		cr_assert_not_null(body);
		size_t body_len = len - (size_t)(body + 4 - out);
		char num[24];
		int w = snprintf(num, sizeof(num), "%zu", body_len);
		/* the number itself is in the headers, not the body */
		char *fixed = malloc(len + (size_t)w + 1);
		size_t pre = (size_t)(mark - out);
		memcpy(fixed, out, pre);
		memcpy(fixed + pre, num, (size_t)w);
		memcpy(fixed + pre + w, mark + 1, len - pre - 1);
		len = len - 1 + (size_t)w;
		fixed[len] = '\0';
		free(out);
		out = fixed;
	}
	t->msg = out;
	t->len = len;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(torture, every_message_gets_its_verdict)
{
	const char *dir = SIPWIRE_TEST_DATA "/torture";
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "%s", dir);
	char *names[512];
	size_t count = 0;
	struct dirent *e;
	while ((e = readdir(d)) && count < 512)
		if (strstr(e->d_name, ".sip"))
			names[count++] = strdup(e->d_name);
	closedir(d);
	qsort(names, count, sizeof(names[0]), cmp_str);
	cr_assert_geq(count, 40, "the torture set is incomplete: %zu files", count);

	struct sip_msg *m = sip_msg_new(NULL);
	unsigned failures = 0;
	for (size_t i = 0; i < count; i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		struct torture t;
		load_torture(path, &t);
		/* an exact-size copy so a read past the end is caught by ASan */
		char *exact = malloc(t.len ? t.len : 1);
		memcpy(exact, t.msg, t.len);
		size_t used;
		struct sip_parse_error err;
		enum sip_parse_result r = sip_msg_parse(
			m, exact, t.len, t.stream ? SIP_PARSE_STREAM : SIP_PARSE_DATAGRAM, &used, &err);
		char got[64];
		switch (r) {
		case SIP_PARSE_OK: snprintf(got, sizeof(got), "ok"); break;
		case SIP_PARSE_NEED_MORE: snprintf(got, sizeof(got), "need-more"); break;
		case SIP_PARSE_KEEPALIVE: snprintf(got, sizeof(got), "keepalive"); break;
		case SIP_PARSE_ERROR:
			if (err.status)
				snprintf(got, sizeof(got), "%d", err.status);
			else
				snprintf(got, sizeof(got), "drop");
			break;
		}
		bool ok = strcmp(got, t.expect) == 0;
		if (ok && t.reason[0] && !(err.reason && strstr(err.reason, t.reason)))
			ok = false;
		if (!ok) {
			failures++;
			cr_log_error("%s: expected %s%s%s, got %s (%s)", names[i], t.expect,
			             t.reason[0] ? " / " : "", t.reason, got,
			             err.reason ? err.reason : "-");
		}
		/* whatever the verdict, an accepted message's views stay inside it */
		if (r == SIP_PARSE_OK) {
			sip_pl body = sip_msg_body(m);
			cr_assert(body.p >= exact && body.p + body.l <= exact + t.len, "%s", names[i]);
		}
		free(exact);
		free(t.msg);
		free(names[i]);
	}
	sip_msg_free(m);
	cr_assert_eq(failures, 0, "%u torture messages got the wrong verdict", failures);
}
