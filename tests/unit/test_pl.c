/* Unit tests: string views, the scanner, header parameters, header names,
 * methods and list splitting. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "sip/sip_hdr.h"
#include "sip/sip_pl.h"

static sip_pl P(const char *s) { return sip_pl_from_cstr(s); }

static void expect_pl(sip_pl got, const char *want)
{
	cr_assert(sip_pl_isset(got), "expected '%s', got unset", want);
	cr_assert(sip_pl_eq_cstr(got, want), "expected '%s', got '%.*s'", want, (int)got.l, got.p);
}

Test(pl, compare)
{
	cr_assert(sip_pl_eq(P("abc"), SIP_PL("abc")));
	cr_assert(!sip_pl_eq(P("abc"), P("abC")));
	cr_assert(sip_pl_caseeq_cstr(P("Call-ID"), "call-id"));
	cr_assert(!sip_pl_caseeq_cstr(P("Call-ID"), "call-i"));
	cr_assert(sip_pl_eq(P(""), SIP_PL("")));
	cr_assert(!sip_pl_isset(SIP_PL_NULL));
}

Test(pl, u32)
{
	uint32_t v;
	cr_assert_eq(sip_pl_u32(P("0"), 10, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(sip_pl_u32(P("4294967295"), UINT32_MAX, &v), 0);
	cr_assert_eq(v, UINT32_MAX);
	cr_assert_eq(sip_pl_u32(P("4294967296"), UINT32_MAX, &v), -ERANGE);
	cr_assert_eq(sip_pl_u32(P("99999999999999999999"), UINT32_MAX, &v), -ERANGE);
	cr_assert_eq(sip_pl_u32(P("256"), 255, &v), -ERANGE);
	cr_assert_eq(sip_pl_u32(P(""), 255, &v), -EINVAL);
	cr_assert_eq(sip_pl_u32(P("-1"), 255, &v), -EINVAL);
	cr_assert_eq(sip_pl_u32(P("1 "), 255, &v), -EINVAL);
}

Test(pl, trim_and_folds)
{
	expect_pl(sip_pl_trim(P("  a b \t")), "a b");
	expect_pl(sip_pl_trim(P("\r\n a")), "a");
	expect_pl(sip_pl_trim(P("a\r\n ")), "a");
	cr_assert_eq(sip_pl_trim(P("   ")).l, 0);
}

Test(pl, strcpy_bounds)
{
	char buf[4];
	cr_assert_eq(sip_pl_strcpy(P("abc"), buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "abc");
	cr_assert_eq(sip_pl_strcpy(P("abcd"), buf, sizeof(buf)), -ENOSPC);
}

Test(scan, tokens_separators_lws)
{
	struct sip_scan s = sip_scan_init(P("abc-1.x ;\r\n\t q = \"x\\\"y\" rest"));
	sip_pl t;
	cr_assert(sip_scan_token(&s, &t));
	expect_pl(t, "abc-1.x");
	cr_assert(sip_scan_sep(&s, ';'), "SEMI with LWS and a fold");
	cr_assert(sip_scan_token(&s, &t));
	expect_pl(t, "q");
	cr_assert(sip_scan_sep(&s, '='));
	cr_assert(sip_scan_quoted(&s, &t));
	expect_pl(t, "x\\\"y");
	char out[16];
	cr_assert_eq(sip_unquote(t, out, sizeof(out)), 3);
	cr_assert_str_eq(out, "x\"y");
	cr_assert(sip_scan_lws(&s));
	cr_assert(sip_scan_token(&s, &t));
	expect_pl(t, "rest");
	cr_assert(sip_scan_eof(&s));
}

Test(scan, crlf_without_wsp_is_not_lws)
{
	struct sip_scan s = sip_scan_init(P("\r\nX"));
	cr_assert(!sip_scan_lws(&s));
	cr_assert_eq(sip_scan_peek(&s), '\r');
}

Test(scan, quoted_errors)
{
	struct sip_scan s = sip_scan_init(P("\"unterminated"));
	cr_assert(!sip_scan_quoted(&s, NULL));
	s = sip_scan_init(P("\"bad\nlf\""));
	cr_assert(!sip_scan_quoted(&s, NULL));
	s = sip_scan_init(P("\"trailing backslash\\"));
	cr_assert(!sip_scan_quoted(&s, NULL));
	s = sip_scan_init(P("\"folded\r\n string\""));
	cr_assert(sip_scan_quoted(&s, NULL));
}

Test(scan, until_unquoted)
{
	struct sip_scan s = sip_scan_init(P("\"a,b\" <sip:x;a=1,2>;p=1, next"));
	sip_pl got = sip_scan_until_unquoted(&s, ',');
	expect_pl(got, "\"a,b\" <sip:x;a=1,2>;p=1");
	cr_assert_eq(sip_scan_peek(&s), ',');
}

Test(params, iterate_and_get)
{
	sip_pl params = P(";branch=z9hG4bK1 ; rport;received=[2001:db8::1];x=\"a;b\"");
	size_t pos = 0;
	struct sip_param prm;
	bool bad;
	cr_assert(sip_param_next(params, &pos, &prm, &bad));
	expect_pl(prm.name, "branch");
	expect_pl(prm.value, "z9hG4bK1");
	cr_assert(sip_param_next(params, &pos, &prm, &bad));
	expect_pl(prm.name, "rport");
	cr_assert(!sip_pl_isset(prm.value));
	cr_assert(sip_param_next(params, &pos, &prm, &bad));
	expect_pl(prm.value, "[2001:db8::1]");
	cr_assert(sip_param_next(params, &pos, &prm, &bad));
	expect_pl(prm.value, "\"a;b\"");
	cr_assert(!sip_param_next(params, &pos, &prm, &bad));
	cr_assert(!bad);

	sip_pl v;
	cr_assert(sip_param_get(params, "BRANCH", &v));
	expect_pl(v, "z9hG4bK1");
	cr_assert(!sip_param_get(params, "maddr", &v));
	cr_assert(sip_params_valid(params));
	cr_assert(sip_params_valid(SIP_PL_NULL));
	cr_assert(!sip_params_valid(P(";a=")));
	cr_assert(!sip_params_valid(P(";a=b junk")));
	cr_assert(!sip_params_valid(P(";=b")));
	cr_assert(!sip_params_valid(P(";a=\"open")));
}

Test(names, header_ids_long_and_compact)
{
	cr_assert_eq(sip_hdr_id_from_name(P("Via")), SIP_HDR_VIA);
	cr_assert_eq(sip_hdr_id_from_name(P("v")), SIP_HDR_VIA);
	cr_assert_eq(sip_hdr_id_from_name(P("V")), SIP_HDR_VIA);
	cr_assert_eq(sip_hdr_id_from_name(P("cALL-iD")), SIP_HDR_CALL_ID);
	cr_assert_eq(sip_hdr_id_from_name(P("i")), SIP_HDR_CALL_ID);
	cr_assert_eq(sip_hdr_id_from_name(P("m")), SIP_HDR_CONTACT);
	cr_assert_eq(sip_hdr_id_from_name(P("f")), SIP_HDR_FROM);
	cr_assert_eq(sip_hdr_id_from_name(P("t")), SIP_HDR_TO);
	cr_assert_eq(sip_hdr_id_from_name(P("l")), SIP_HDR_CONTENT_LENGTH);
	cr_assert_eq(sip_hdr_id_from_name(P("c")), SIP_HDR_CONTENT_TYPE);
	cr_assert_eq(sip_hdr_id_from_name(P("e")), SIP_HDR_CONTENT_ENCODING);
	cr_assert_eq(sip_hdr_id_from_name(P("k")), SIP_HDR_SUPPORTED);
	cr_assert_eq(sip_hdr_id_from_name(P("s")), SIP_HDR_SUBJECT);
	cr_assert_eq(sip_hdr_id_from_name(P("o")), SIP_HDR_EVENT);
	cr_assert_eq(sip_hdr_id_from_name(P("r")), SIP_HDR_REFER_TO);
	cr_assert_eq(sip_hdr_id_from_name(P("u")), SIP_HDR_ALLOW_EVENTS);
	cr_assert_eq(sip_hdr_id_from_name(P("x")), SIP_HDR_SESSION_EXPIRES);
	cr_assert_eq(sip_hdr_id_from_name(P("b")), SIP_HDR_REFERRED_BY);
	cr_assert_eq(sip_hdr_id_from_name(P("y")), SIP_HDR_IDENTITY);
	cr_assert_eq(sip_hdr_id_from_name(P("a")), SIP_HDR_OTHER);
	cr_assert_eq(sip_hdr_id_from_name(P("X-Custom")), SIP_HDR_OTHER);
	cr_assert_eq(sip_hdr_id_from_name(P("Vias")), SIP_HDR_OTHER);
	cr_assert_eq(sip_hdr_id_from_name(P("")), SIP_HDR_OTHER);
	cr_assert_eq(sip_hdr_id_from_name(P("RSeq")), SIP_HDR_RSEQ);
	cr_assert_eq(sip_hdr_id_from_name(P("route")), SIP_HDR_ROUTE);
	cr_assert_eq(sip_hdr_id_from_name(P("Retry-After")), SIP_HDR_RETRY_AFTER);
	cr_assert_eq(sip_hdr_id_from_name(P("p-asserted-identity")), SIP_HDR_P_ASSERTED_IDENTITY);
	cr_assert_eq(sip_hdr_id_from_name(P("WWW-Authenticate")), SIP_HDR_WWW_AUTHENTICATE);
	cr_assert_eq(sip_hdr_id_from_name(P("Min-SE")), SIP_HDR_MIN_SE);
}

Test(names, every_long_name_round_trips)
{
	for (int id = SIP_HDR_OTHER + 1; id < SIP_HDR__COUNT; id++) {
		const char *name = sip_hdr_name((enum sip_hdr_id)id);
		cr_assert_not_null(name, "id %d has no name", id);
		cr_assert_eq((int)sip_hdr_id_from_name(P(name)), id, "%s", name);
	}
	cr_assert_null(sip_hdr_name(SIP_HDR_OTHER));
	cr_assert(sip_hdr_is_list(SIP_HDR_VIA));
	cr_assert(sip_hdr_is_list(SIP_HDR_CONTACT));
	cr_assert(!sip_hdr_is_list(SIP_HDR_WWW_AUTHENTICATE));
	cr_assert(!sip_hdr_is_list(SIP_HDR_CALL_ID));
}

Test(names, methods)
{
	cr_assert_eq(sip_method_from_pl(P("INVITE")), SIP_METHOD_INVITE);
	cr_assert_eq(sip_method_from_pl(P("invite")), SIP_METHOD_OTHER, "methods are case-sensitive");
	cr_assert_eq(sip_method_from_pl(P("SUBSCRIBE")), SIP_METHOD_SUBSCRIBE);
	cr_assert_eq(sip_method_from_pl(P("NEWMETHOD")), SIP_METHOD_OTHER);
	for (int m = SIP_METHOD_INVITE; m <= SIP_METHOD_PUBLISH; m++)
		cr_assert_eq((int)sip_method_from_pl(P(sip_method_name((enum sip_method)m))), m);
	cr_assert_null(sip_method_name(SIP_METHOD_OTHER));
}

Test(list, split_respects_quotes_and_brackets)
{
	sip_pl v = P("\"Doe, J\" <sip:a@b;x=1,2>;q=0.5 ,  <sip:c@d> , *");
	size_t pos = 0;
	sip_pl item;
	cr_assert(sip_list_next(v, &pos, &item));
	expect_pl(item, "\"Doe, J\" <sip:a@b;x=1,2>;q=0.5");
	cr_assert(sip_list_next(v, &pos, &item));
	expect_pl(item, "<sip:c@d>");
	cr_assert(sip_list_next(v, &pos, &item));
	expect_pl(item, "*");
	cr_assert(!sip_list_next(v, &pos, &item));
}

Test(list, empty_items_are_reported)
{
	sip_pl v = P("a,,b,");
	size_t pos = 0;
	sip_pl item;
	const char *want[] = {"a", "", "b", ""};
	for (int i = 0; i < 4; i++) {
		cr_assert(sip_list_next(v, &pos, &item), "item %d", i);
		cr_assert_eq(item.l, strlen(want[i]), "item %d", i);
	}
	cr_assert(!sip_list_next(v, &pos, &item));
}
