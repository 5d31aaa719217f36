/* Unit tests: the typed header parsers of sip_hdr.c, on values as browsers
 * (SIP.js, JsSIP), PBXs (Asterisk) and RFC 4475/5118 write them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sip/sip_hdr.h"

static sip_pl P(const char *s)
{
	return sip_pl_from_cstr(s);
}

static void expect_pl(sip_pl got, const char *want)
{
	cr_assert(sip_pl_isset(got), "expected '%s', got unset", want);
	cr_assert(sip_pl_eq_cstr(got, want), "expected '%s', got '%.*s'", want, (int)got.l, got.p);
}

static void expect_unset(sip_pl got)
{
	cr_assert(!sip_pl_isset(got), "expected unset, got '%.*s'", (int)got.l, got.p);
}

/* ---- Via ---- */

Test(via, sipjs_wss)
{
	struct sip_via v;
	cr_assert_eq(sip_via_parse(P("SIP/2.0/WSS 1abc2def.invalid;branch=z9hG4bK123;rport"), &v),
	             0);
	expect_pl(v.protocol, "SIP/2.0");
	expect_pl(v.transport, "WSS");
	expect_pl(v.host, "1abc2def.invalid");
	cr_assert_eq(v.host_type, SIP_URI_HOST_DOMAIN);
	cr_assert_eq(v.port, 0);
	expect_pl(v.params, ";branch=z9hG4bK123;rport");
	expect_pl(v.branch, "z9hG4bK123");
	expect_unset(v.received);
	expect_unset(v.maddr);
	expect_unset(v.ttl);
	cr_assert(v.rport);
	cr_assert_eq(v.rport_value, 0);
}

Test(via, asterisk_udp_with_port_received_rport_value)
{
	struct sip_via v;
	cr_assert_eq(sip_via_parse(P("SIP/2.0/UDP 192.0.2.10:5060;rport=5062;received=198.51.100.7;"
	                             "branch=z9hG4bKPj6f1b2c3d"),
	                           &v),
	             0);
	expect_pl(v.transport, "UDP");
	expect_pl(v.host, "192.0.2.10");
	cr_assert_eq(v.host_type, SIP_URI_HOST_IPV4);
	cr_assert_eq(v.port, 5060);
	cr_assert(v.rport);
	cr_assert_eq(v.rport_value, 5062);
	expect_pl(v.received, "198.51.100.7");
	expect_pl(v.branch, "z9hG4bKPj6f1b2c3d");
}

Test(via, no_params)
{
	struct sip_via v;
	cr_assert_eq(sip_via_parse(P("SIP/2.0/UDP iftgw.example.com"), &v), 0);
	expect_pl(v.host, "iftgw.example.com");
	expect_unset(v.params);
	expect_unset(v.branch);
	cr_assert(!v.rport);
}

Test(via, maddr_ttl_unknown_params)
{
	struct sip_via v;
	cr_assert_eq(sip_via_parse(P("SIP/2.0/UDP h.example.com;maddr=224.2.0.1;ttl=16;"
	                             "branch=z9hG4bKa;x-foo=bar;flag"),
	                           &v),
	             0);
	expect_pl(v.maddr, "224.2.0.1");
	expect_pl(v.ttl, "16");
	expect_pl(v.branch, "z9hG4bKa");
	cr_assert_eq(sip_via_parse(P("SIP/2.0/UDP h.example.com;ttl=0;maddr=[2001:db8::1]"), &v),
	             0);
	expect_pl(v.ttl, "0");
	expect_pl(v.maddr, "[2001:db8::1]");
	cr_assert_eq(sip_via_parse(P("SIP/2.0/UDP h.example.com;maddr=mcast.example.net"), &v), 0);
	expect_pl(v.maddr, "mcast.example.net");
}

Test(via, lws_and_folds_everywhere)
{
	struct sip_via v;
	/* as in RFC 4475's tortuous INVITE */
	cr_assert_eq(
	    sip_via_parse(P("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw"), &v), 0);
	expect_pl(v.protocol, "SIP  /   2.0");
	expect_pl(v.transport, "UDP");
	expect_pl(v.host, "192.0.2.2");
	expect_pl(v.branch, "390skdjuw");

	cr_assert_eq(sip_via_parse(P("SIP  / 2.0  / TCP     spindle.example.com   ;\r\n"
	                             "  branch  =   z9hG4bK9ikj8"),
	                           &v),
	             0);
	expect_pl(v.transport, "TCP");
	expect_pl(v.host, "spindle.example.com");
	expect_pl(v.branch, "z9hG4bK9ikj8");
	cr_assert_eq(v.params.p[0], ';');

	cr_assert_eq(
	    sip_via_parse(P("SIP/2.0/UDP\t192.0.2.1 : 5070 ; branch=\r\n z9hG4bK30239"), &v), 0);
	expect_pl(v.host, "192.0.2.1");
	cr_assert_eq(v.port, 5070);
	expect_pl(v.branch, "z9hG4bK30239");
}

Test(via, lowercase_protocol_name_and_other_transport)
{
	struct sip_via v;
	cr_assert_eq(sip_via_parse(P("sip/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en"), &v),
	             0);
	expect_pl(v.protocol, "sip/2.0");
	expect_pl(v.transport, "UNKNOWN");
	expect_pl(v.host, "t4.example.com");
}

Test(via, ipv6_sent_by_and_received_rfc5118)
{
	struct sip_via v;
	cr_assert_eq(sip_via_parse(P("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];"
	                             "branch=z9hG4bKas3-111"),
	                           &v),
	             0);
	expect_pl(v.host, "[2001:db8::9:1]");
	cr_assert_eq(v.host_type, SIP_URI_HOST_IPV6);
	cr_assert_eq(v.port, 0);
	expect_pl(v.received, "[2001:db8::9:255]");
	expect_pl(v.branch, "z9hG4bKas3-111");

	cr_assert_eq(sip_via_parse(P("SIP/2.0/UDP [2001:db8::9:1]:5070;received=2001:db8::9:255;"
	                             "branch=z9hG4bKas3"),
	                           &v),
	             0);
	expect_pl(v.host, "[2001:db8::9:1]");
	cr_assert_eq(v.port, 5070);
	expect_pl(v.received, "2001:db8::9:255");

	cr_assert_eq(sip_via_parse(P("SIP/2.0/TCP [::ffff:192.0.2.1]:5060;branch=z9hG4bK6"), &v),
	             0);
	expect_pl(v.host, "[::ffff:192.0.2.1]");
	cr_assert_eq(v.host_type, SIP_URI_HOST_IPV6);
	cr_assert_eq(sip_via_parse(P("SIP/2.0/TCP [::1];branch=z9hG4bK6"), &v), 0);
	cr_assert_eq(sip_via_parse(P("SIP/2.0/TCP [1:2:3:4:5:6:7:8];branch=z9hG4bK6"), &v), 0);
	cr_assert_eq(sip_via_parse(P("SIP/2.0/TCP [1:2:3:4:5:6:1.2.3.4];branch=z9hG4bK6"), &v), 0);
}

Test(via, errors)
{
	struct sip_via v;
	const char *bad[] = {
	    "",
	    "   ",
	    "SIP/2.0/UDP",                           /* no sent-by */
	    "SIP/2.0/UDP ",                          /* no sent-by */
	    "SIP/2.0 192.0.2.1",                     /* no transport */
	    "SIP/2.0/ 192.0.2.1",                    /* empty transport */
	    "HTTP/1.1/UDP 192.0.2.1:5060;branch=z9", /* wrong protocol */
	    "SIP/3.0/UDP 192.0.2.1",                 /* wrong version */
	    "SIP/2.00/UDP 192.0.2.1",                /* wrong version */
	    "SIP/2.0/UDP192.0.2.1",                  /* no LWS before sent-by */
	    "SIP/2.0/UDP 192.0.2.1:70000",           /* port out of range */
	    "SIP/2.0/UDP 192.0.2.1:0",               /* port zero */
	    "SIP/2.0/UDP 192.0.2.1:",                /* colon without port */
	    "SIP/2.0/UDP 192.0.2.1:50x0",            /* junk in port */
	    "SIP/2.0/UDP 2001:db8::1",               /* IPv6 without brackets */
	    "SIP/2.0/UDP [2001:db8::1",              /* unclosed bracket */
	    "SIP/2.0/UDP [2001::db8::1]",            /* two :: */
	    "SIP/2.0/UDP [1:2:3:4:5:6:7:8:9]",       /* nine groups */
	    "SIP/2.0/UDP [12345::1]",                /* five hex digits */
	    "SIP/2.0/UDP [1:2:3:4:5:6:7]",           /* seven groups, no :: */
	    "SIP/2.0/UDP [1::2:]",                   /* trailing colon */
	    "SIP/2.0/UDP 192.0.2.300",               /* bad IPv4 */
	    "SIP/2.0/UDP -bad.example.com",          /* label starts with - */
	    "SIP/2.0/UDP bad..example.com",          /* empty label */
	    "SIP/2.0/UDP h_x.example.com",           /* underscore */
	    "SIP/2.0/UDP 192.0.2.15;;",              /* stray separators */
	    "SIP/2.0/UDP 192.0.2.15;",               /* trailing ; */
	    "SIP/2.0/UDP 192.0.2.15 junk",           /* junk after sent-by */
	    "SIP/2.0/UDP 192.0.2.15;branch",         /* branch without value */
	    "SIP/2.0/UDP 192.0.2.15;branch=\"q\"",   /* branch not a token */
	    "SIP/2.0/UDP 192.0.2.15;received",       /* received without value */
	    "SIP/2.0/UDP 192.0.2.15;received=host.example.com",
	    "SIP/2.0/UDP 192.0.2.15;received=1.2.3",
	    "SIP/2.0/UDP 192.0.2.15;received=[1::2::3]",
	    "SIP/2.0/UDP 192.0.2.15;maddr",
	    "SIP/2.0/UDP 192.0.2.15;maddr=bad_host",
	    "SIP/2.0/UDP 192.0.2.15;ttl=256",
	    "SIP/2.0/UDP 192.0.2.15;ttl=0001",
	    "SIP/2.0/UDP 192.0.2.15;ttl",
	    "SIP/2.0/UDP 192.0.2.15;rport=0",
	    "SIP/2.0/UDP 192.0.2.15;rport=65536",
	    "SIP/2.0/UDP 192.0.2.15;rport=abc",
	    "SIP/2.0/UDP 192.0.2.15;branch=z9hG4bK1, SIP/2.0/UDP h2", /* unsplit list */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = sip_via_parse(P(bad[i]), &v);
		cr_assert_eq(rc, -EINVAL, "accepted '%s'", bad[i]);
		expect_unset(v.host);
	}
	cr_assert_eq(sip_via_parse(SIP_PL_NULL, &v), -EINVAL);
}

Test(via, not_nul_terminated_view)
{
	/* a view that stops inside a larger buffer must not read beyond it */
	const char buf[] = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx;JUNK JUNK";
	struct sip_via v;
	cr_assert_eq(sip_via_parse((sip_pl){buf, 42}, &v), 0);
	expect_pl(v.branch, "z9hG4bKx");
	cr_assert_eq(sip_via_parse((sip_pl){buf, 22}, &v), -EINVAL); /* "...:" */
	cr_assert_eq(sip_via_parse((sip_pl){buf, 25}, &v), 0);
	expect_pl(v.host, "192.0.2.1");
	cr_assert_eq(v.port, 506);
}

/* ---- addr ---- */

Test(addr, quoted_display_with_escapes)
{
	struct sip_addr a;
	cr_assert_eq(sip_addr_parse(P("\"Alice \\\"A\\\"\" <sip:alice@example.com>;tag=abc"), &a),
	             0);
	expect_pl(a.display, "Alice \\\"A\\\"");
	cr_assert(a.display_quoted);
	expect_pl(a.uri_text, "sip:alice@example.com");
	cr_assert_eq(a.uri.scheme, SIP_URI_SIP);
	expect_pl(a.uri.user, "alice");
	expect_pl(a.uri.host, "example.com");
	expect_pl(a.params, ";tag=abc");
	expect_pl(a.tag, "abc");
}

Test(addr, addr_spec_params_belong_to_header)
{
	struct sip_addr a;
	cr_assert_eq(sip_addr_parse(P("sip:bob@example.com;tag=x"), &a), 0);
	expect_unset(a.display);
	cr_assert(!a.display_quoted);
	expect_pl(a.uri_text, "sip:bob@example.com");
	expect_pl(a.uri.host, "example.com");
	expect_unset(a.uri.params);
	expect_pl(a.params, ";tag=x");
	expect_pl(a.tag, "x");

	cr_assert_eq(sip_addr_parse(P("sip:+16505552222@ss1.example.net;user=phone"), &a), 0);
	expect_pl(a.uri_text, "sip:+16505552222@ss1.example.net");
	expect_unset(a.uri.user_param);
	expect_pl(a.params, ";user=phone");
	expect_unset(a.tag);
}

Test(addr, token_display_name)
{
	struct sip_addr a;
	cr_assert_eq(sip_addr_parse(P("Bob Smith <sip:bob@b.com>"), &a), 0);
	expect_pl(a.display, "Bob Smith");
	cr_assert(!a.display_quoted);
	expect_pl(a.uri_text, "sip:bob@b.com");
	expect_pl(a.uri.user, "bob");
	expect_unset(a.params);
	expect_unset(a.tag);

	/* no LWS before < (RFC 4475 §3.1.1.6) */
	cr_assert_eq(sip_addr_parse(P("caller<sip:caller@example.com>;tag=323"), &a), 0);
	expect_pl(a.display, "caller");
	expect_pl(a.tag, "323");

	cr_assert_eq(sip_addr_parse(P("Bob\t \r\n Smith  <sip:bob@b.com>"), &a), 0);
	expect_pl(a.display, "Bob\t \r\n Smith");
}

Test(addr, name_addr_without_display_and_uri_params)
{
	struct sip_addr a;
	cr_assert_eq(sip_addr_parse(
	                 P("<sip:services.example.com;lr;unknownwith=value;unknown-no-value>"), &a),
	             0);
	expect_unset(a.display);
	expect_pl(a.uri_text, "sip:services.example.com;lr;unknownwith=value;unknown-no-value");
	cr_assert(a.uri.lr);
	expect_pl(a.uri.host, "services.example.com");
	expect_unset(a.params);

	/* ? and , are allowed inside <> */
	cr_assert_eq(sip_addr_parse(P("<sip:a,b;c@b.com;lr?Subject=hi>;tag=1"), &a), 0);
	expect_pl(a.uri_text, "sip:a,b;c@b.com;lr?Subject=hi");
	expect_pl(a.uri.user, "a,b;c");
	expect_pl(a.uri.headers, "Subject=hi");
	expect_pl(a.tag, "1");
}

Test(addr, folds_and_lws_around_separators)
{
	struct sip_addr a;
	/* RFC 4475 tortuous To and From */
	cr_assert_eq(
	    sip_addr_parse(P("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n"), &a), 0);
	expect_pl(a.uri_text, "sip:vivekg@chair-dnrc.example.com");
	expect_pl(a.tag, "1918181833n");

	cr_assert_eq(sip_addr_parse(P("\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n"
	                              "  ;\r\n  tag = 98asjd8"),
	                            &a),
	             0);
	expect_pl(a.display, "J Rosenberg \\\\\\\"");
	cr_assert(a.display_quoted);
	expect_pl(a.uri_text, "sip:jdrosen@example.com");
	expect_pl(a.tag, "98asjd8");

	cr_assert_eq(sip_addr_parse(P("\t<sip:b@example.com>\t;\ttag=26"), &a), 0);
	expect_pl(a.uri_text, "sip:b@example.com");
	expect_pl(a.tag, "26");
}

Test(addr, empty_quoted_display_and_comma_inside_quotes)
{
	struct sip_addr a;
	cr_assert_eq(sip_addr_parse(P("\"\" <sip:a@example.com>"), &a), 0);
	cr_assert(sip_pl_isset(a.display));
	cr_assert_eq(a.display.l, 0);
	cr_assert(a.display_quoted);
	cr_assert_eq(sip_addr_parse(P("\"A, B\" <sip:a@192.0.2.1>;q=0.5"), &a), 0);
	expect_pl(a.display, "A, B");
	expect_pl(a.uri.host, "192.0.2.1");
	cr_assert_eq(a.uri.host_type, SIP_URI_HOST_IPV4);
}

Test(addr, other_schemes_kept_as_text)
{
	struct sip_addr a;
	cr_assert_eq(sip_addr_parse(P("<mailto:alice@example.com>;tag=9"), &a), 0);
	expect_pl(a.uri_text, "mailto:alice@example.com");
	cr_assert_eq(a.uri.scheme, 0);
	expect_unset(a.uri.host);
	expect_pl(a.tag, "9");

	cr_assert_eq(sip_addr_parse(P("<tel:+1-201-555-0123>"), &a), 0);
	cr_assert_eq(a.uri.scheme, SIP_URI_TEL);
	expect_pl(a.uri_text, "tel:+1-201-555-0123");

	cr_assert_eq(sip_addr_parse(P("sips:bob@example.com"), &a), 0);
	cr_assert_eq(a.uri.scheme, SIP_URI_SIPS);
}

Test(addr, errors)
{
	struct sip_addr a;
	const char *bad[] = {
	    "",
	    "sip:user @example.com",                             /* space in addr-spec */
	    "Bell, Alexander <sip:a.g.bell@example.com>;tag=43", /* comma in display */
	    "\"Bob <sip:bob@example.com>;tag=t106",              /* unterminated quote */
	    "\"Bob\" sip:bob@example.com",                       /* display without <> */
	    "Bob sip:bob@example.com",                           /* display without <> */
	    "Bob",                                               /* not a URI at all */
	    "<sip:bob@example.com",                              /* no > */
	    "<sip:bob@example.com>junk",                         /* junk after > */
	    "<sip:bob@example.com> <sip:c@example.com>",
	    "<sip:bob@example.com>;",          /* trailing ; */
	    "<sip:bob@example.com>;tag",       /* tag without value */
	    "<sip:bob@example.com>;tag=\"x\"", /* tag not a token */
	    "<sip:bob@example.com>;;tag=1",
	    "sip:bob@example.com?Subject=x",         /* headers without <> */
	    "sip:bob@example.com,sip:c@example.com", /* comma without <> */
	    "<>",                                    /* empty URI */
	    "< sip:bob@example.com>",                /* LWS inside <> */
	    "<sip:bob@exa mple.com>",
	    "<sip:bob@[2001::db8::1]>",    /* bad IPv6 */
	    "<sip:bob@example.com:99999>", /* bad port */
	    "<:nothing>",                  /* not a URI */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(sip_addr_parse(P(bad[i]), &a), -EINVAL, "accepted '%s'", bad[i]);
		expect_unset(a.uri_text);
		expect_unset(a.tag);
	}
}

/* ---- Contact ---- */

Test(contact, sipjs_register)
{
	struct sip_contact c;
	cr_assert_eq(
	    sip_contact_parse(P("<sip:k8a7s9d@qwe.invalid;transport=ws;ob>;+sip.ice;reg-id=1;"
	                        "+sip.instance=\"<urn:uuid:11111111-2222-3333-4444-"
	                        "555555555555>\";expires=600"),
	                      &c),
	    0);
	cr_assert(!c.star);
	expect_pl(c.addr.uri_text, "sip:k8a7s9d@qwe.invalid;transport=ws;ob");
	expect_pl(c.addr.uri.user, "k8a7s9d");
	expect_pl(c.addr.uri.host, "qwe.invalid");
	expect_pl(c.addr.uri.transport, "ws");
	cr_assert(c.addr.uri.ob);
	expect_unset(c.addr.display);
	expect_unset(c.addr.tag);
	cr_assert(c.has_expires);
	cr_assert_eq(c.expires, 600);
	cr_assert(!c.has_q);
	cr_assert_eq(c.q, 0);
	expect_pl(c.instance, "<urn:uuid:11111111-2222-3333-4444-555555555555>");
	cr_assert(c.has_reg_id);
	cr_assert_eq(c.reg_id, 1);
}

Test(contact, star)
{
	struct sip_contact c;
	cr_assert_eq(sip_contact_parse(P("*"), &c), 0);
	cr_assert(c.star);
	expect_unset(c.addr.uri_text);
	cr_assert(!c.has_expires);
	cr_assert_eq(sip_contact_parse(P("  * "), &c), 0);
	cr_assert(c.star);
	cr_assert_eq(sip_contact_parse(P("*;expires=0"), &c), -EINVAL);
	cr_assert(!c.star);
	cr_assert_eq(sip_contact_parse(P("**"), &c), -EINVAL);
}

Test(contact, jssip_and_asterisk)
{
	struct sip_contact c;
	cr_assert_eq(sip_contact_parse(
	                 P("<sip:8qvs2qlj@9cn1g5ov1c8r.invalid;transport=ws>;expires=600"), &c),
	             0);
	expect_pl(c.addr.uri.transport, "ws");
	cr_assert(!c.addr.uri.ob);
	cr_assert_eq(c.expires, 600);
	expect_unset(c.instance);
	cr_assert(!c.has_reg_id);

	cr_assert_eq(
	    sip_contact_parse(P("<sip:6001@192.0.2.20:5060;transport=udp>;expires=3599"), &c), 0);
	cr_assert_eq(c.addr.uri.port, 5060);
	cr_assert_eq(c.expires, 3599);

	cr_assert_eq(
	    sip_contact_parse(P("\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; "
	                        "newparam =\r\n      newvalue ;\r\n  secondparam ; q = 0.33"),
	                      &c),
	    0);
	expect_pl(c.addr.display, "Quoted string \\\"\\\"");
	cr_assert(c.has_q);
	cr_assert_eq(c.q, 330);
	cr_assert(!c.has_expires);
}

Test(contact, q_values)
{
	struct {
		const char *q;
		int want;
	} cases[] = {
	    {"0", 0},       {"0.", 0},     {"0.5", 500}, {"0.05", 50},   {"0.001", 1},
	    {"0.999", 999}, {"1", 1000},   {"1.", 1000}, {"1.0", 1000},  {"1.000", 1000},
	    {"1.5", -1},    {"1.001", -1}, {"2", -1},    {"0.1234", -1}, {"0.a", -1},
	    {".5", -1},     {"00.5", -1},  {"-0.5", -1}, {"", -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "<sip:a@b.com>;q=%s", cases[i].q);
		struct sip_contact c;
		int rc = sip_contact_parse(P(buf), &c);
		if (cases[i].want < 0) {
			cr_assert_eq(rc, -EINVAL, "accepted q=%s", cases[i].q);
			cr_assert(!c.has_q);
		} else {
			cr_assert_eq(rc, 0, "rejected q=%s", cases[i].q);
			cr_assert(c.has_q);
			cr_assert_eq(c.q, cases[i].want, "q=%s gave %u", cases[i].q, c.q);
		}
	}
	struct sip_contact c;
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;q"), &c), -EINVAL);
}

Test(contact, expires_clamps_and_errors)
{
	struct sip_contact c;
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;expires=4294967295"), &c), 0);
	cr_assert_eq(c.expires, UINT32_MAX);
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;expires=99999999999999999999999"), &c), 0);
	cr_assert(c.has_expires);
	cr_assert_eq(c.expires, UINT32_MAX);
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;expires=0"), &c), 0);
	cr_assert(c.has_expires);
	cr_assert_eq(c.expires, 0);
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;expires=99999999999x"), &c), -EINVAL);
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;expires"), &c), -EINVAL);
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;expires=-1"), &c), -EINVAL);
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;expires=\"60\""), &c), -EINVAL);
	cr_assert(!c.has_expires);
}

Test(contact, addr_spec_params_and_instance_forms)
{
	struct sip_contact c;
	cr_assert_eq(sip_contact_parse(P("sip:c@192.0.2.3;q=1"), &c), 0);
	expect_pl(c.addr.uri_text, "sip:c@192.0.2.3");
	cr_assert_eq(c.q, 1000);
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;+sip.instance=abc"), &c), 0);
	expect_pl(c.instance, "abc");
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;+sip.instance=\"\""), &c), 0);
	cr_assert(sip_pl_isset(c.instance));
	cr_assert_eq(c.instance.l, 0);
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;+sip.instance"), &c), -EINVAL);
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;reg-id"), &c), -EINVAL);
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;reg-id=x"), &c), -EINVAL);
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;reg-id=4294967296"), &c), -EINVAL);
	cr_assert_eq(sip_contact_parse(P("<sip:a@b.com>;reg-id=4294967295"), &c), 0);
	cr_assert_eq(c.reg_id, UINT32_MAX);
	cr_assert_eq(sip_contact_parse(P("\"Joe\" <sip:joe@example.org>;;;;"), &c), -EINVAL);
	cr_assert_eq(sip_contact_parse(P(""), &c), -EINVAL);
}

/* ---- CSeq and RAck ---- */

Test(cseq, values)
{
	struct sip_cseq c;
	cr_assert_eq(sip_cseq_parse(P("1 REGISTER"), &c), 0);
	cr_assert_eq(c.seq, 1);
	expect_pl(c.method_name, "REGISTER");
	cr_assert_eq(c.method, SIP_METHOD_REGISTER);

	cr_assert_eq(sip_cseq_parse(P("0009\r\n  INVITE"), &c), 0);
	cr_assert_eq(c.seq, 9);
	cr_assert_eq(c.method, SIP_METHOD_INVITE);

	cr_assert_eq(sip_cseq_parse(P("2147483647\tNEWMETHOD"), &c), 0);
	cr_assert_eq(c.seq, 2147483647u);
	expect_pl(c.method_name, "NEWMETHOD");
	cr_assert_eq(c.method, SIP_METHOD_OTHER);

	cr_assert_eq(sip_cseq_parse(P("0 invite"), &c), 0);
	cr_assert_eq(c.seq, 0);
	cr_assert_eq(c.method, SIP_METHOD_OTHER, "methods are case-sensitive");
}

Test(cseq, errors)
{
	struct sip_cseq c;
	const char *bad[] = {
	    "",
	    "INVITE",
	    "1",
	    "1 ",
	    "1INVITE",
	    "2147483648 INVITE",
	    "99999999999 INVITE",
	    "-1 INVITE",
	    "1 INVITE x",
	    "1 INV;ITE",
	    "1 INVITE,",
	    "a1 INVITE",
	    "1 \"INVITE\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(sip_cseq_parse(P(bad[i]), &c), -EINVAL, "accepted '%s'", bad[i]);
		cr_assert_eq(c.seq, 0);
		expect_unset(c.method_name);
	}
}

Test(rack, values_and_errors)
{
	struct sip_rack r;
	cr_assert_eq(sip_rack_parse(P("776656 1 INVITE"), &r), 0);
	cr_assert_eq(r.rseq, 776656);
	cr_assert_eq(r.cseq, 1);
	expect_pl(r.method_name, "INVITE");
	cr_assert_eq(r.method, SIP_METHOD_INVITE);

	cr_assert_eq(sip_rack_parse(P("4294967295\t 2147483647\r\n UPDATE"), &r), 0);
	cr_assert_eq(r.rseq, UINT32_MAX);
	cr_assert_eq(r.cseq, 2147483647u);
	cr_assert_eq(r.method, SIP_METHOD_UPDATE);

	const char *bad[] = {
	    "",
	    "1",
	    "1 2",
	    "1 2 ",
	    "1 INVITE",
	    "1 2INVITE",
	    "4294967296 1 INVITE",
	    "1 2147483648 INVITE",
	    "1 2 INVITE junk",
	    "1,2 INVITE",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(sip_rack_parse(P(bad[i]), &r), -EINVAL, "accepted '%s'", bad[i]);
		expect_unset(r.method_name);
	}
}

/* ---- plain numbers ---- */

Test(uint, values_and_errors)
{
	uint32_t n = 7;
	cr_assert_eq(sip_uint_parse(P("70"), 255, &n), 0);
	cr_assert_eq(n, 70);
	cr_assert_eq(sip_uint_parse(P("0068"), 255, &n), 0);
	cr_assert_eq(n, 68);
	cr_assert_eq(sip_uint_parse(P(" 0 "), 255, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(sip_uint_parse(P("4294967295"), UINT32_MAX, &n), 0);
	cr_assert_eq(n, UINT32_MAX);
	n = 7;
	cr_assert_eq(sip_uint_parse(P("256"), 255, &n), -EINVAL);
	cr_assert_eq(sip_uint_parse(P("4294967296"), UINT32_MAX, &n), -EINVAL);
	cr_assert_eq(sip_uint_parse(P(""), 255, &n), -EINVAL);
	cr_assert_eq(sip_uint_parse(P("1 2"), 255, &n), -EINVAL);
	cr_assert_eq(sip_uint_parse(P("-1"), 255, &n), -EINVAL);
	cr_assert_eq(sip_uint_parse(P("+1"), 255, &n), -EINVAL);
	cr_assert_eq(sip_uint_parse(P("1;x"), 255, &n), -EINVAL);
	cr_assert_eq(sip_uint_parse(SIP_PL_NULL, 255, &n), -EINVAL);
	cr_assert_eq(n, 7, "a failed parse leaves the output alone");
}

/* ---- Content-Type ---- */

Test(ctype, values_and_errors)
{
	struct sip_ctype ct;
	cr_assert_eq(sip_ctype_parse(P("application/sdp"), &ct), 0);
	expect_pl(ct.type, "application");
	expect_pl(ct.subtype, "sdp");
	expect_unset(ct.params);

	cr_assert_eq(sip_ctype_parse(P("multipart/mixed ; boundary=\"unique-boundary-1\""), &ct),
	             0);
	expect_pl(ct.type, "multipart");
	expect_pl(ct.subtype, "mixed");
	expect_pl(ct.params, "; boundary=\"unique-boundary-1\"");
	sip_pl b;
	cr_assert(sip_param_get(ct.params, "boundary", &b));
	expect_pl(b, "\"unique-boundary-1\"");

	cr_assert_eq(sip_ctype_parse(P("Text / Plain;charset=UTF-8"), &ct), 0);
	expect_pl(ct.type, "Text");
	expect_pl(ct.subtype, "Plain");

	const char *bad[] = {"",
	                     "application",
	                     "application/",
	                     "/sdp",
	                     "application sdp",
	                     "application/sdp junk",
	                     "application/sdp;",
	                     "application/s;d;p=",
	                     "application/sdp, text/plain"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(sip_ctype_parse(P(bad[i]), &ct), -EINVAL, "accepted '%s'", bad[i]);
		expect_unset(ct.type);
	}
}

/* ---- Event ---- */

Test(event, values_and_errors)
{
	struct sip_event ev;
	cr_assert_eq(sip_event_parse(P("refer;id=93809824"), &ev), 0);
	expect_pl(ev.package, "refer");
	expect_pl(ev.id, "93809824");
	expect_pl(ev.params, ";id=93809824");

	cr_assert_eq(sip_event_parse(P("presence.winfo"), &ev), 0);
	expect_pl(ev.package, "presence.winfo");
	expect_unset(ev.id);
	expect_unset(ev.params);

	cr_assert_eq(sip_event_parse(P("dialog ; sla ; ID = x1"), &ev), 0);
	expect_pl(ev.package, "dialog");
	expect_pl(ev.id, "x1");

	const char *bad[] = {"",         ";id=1",  "refer;id", "refer;id=\"q\"",
	                     "refer id", "refer;", "re/fer",   "refer, dialog"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(sip_event_parse(P(bad[i]), &ev), -EINVAL, "accepted '%s'", bad[i]);
		expect_unset(ev.package);
	}
}

/* ---- Subscription-State ---- */

Test(substate, values_and_errors)
{
	struct sip_substate ss;
	cr_assert_eq(sip_substate_parse(P("active;expires=60"), &ss), 0);
	expect_pl(ss.state, "active");
	cr_assert(ss.has_expires);
	cr_assert_eq(ss.expires, 60);
	cr_assert(!ss.has_retry_after);
	expect_unset(ss.reason);

	cr_assert_eq(sip_substate_parse(P("terminated;reason=noresource"), &ss), 0);
	expect_pl(ss.state, "terminated");
	expect_pl(ss.reason, "noresource");
	cr_assert(!ss.has_expires);

	cr_assert_eq(
	    sip_substate_parse(P("terminated ; reason = probation ; retry-after = 3600"), &ss), 0);
	expect_pl(ss.reason, "probation");
	cr_assert(ss.has_retry_after);
	cr_assert_eq(ss.retry_after, 3600);
	expect_pl(ss.params, "; reason = probation ; retry-after = 3600");

	cr_assert_eq(sip_substate_parse(P("pending"), &ss), 0);
	expect_pl(ss.state, "pending");
	expect_unset(ss.params);

	const char *bad[] = {"",
	                     "active;expires",
	                     "active;expires=x",
	                     "active;retry-after=",
	                     "terminated;reason",
	                     "terminated;reason=\"x\"",
	                     "active junk",
	                     "active;"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(sip_substate_parse(P(bad[i]), &ss), -EINVAL, "accepted '%s'", bad[i]);
		expect_unset(ss.state);
		cr_assert(!ss.has_expires);
	}
}

/* ---- Replaces ---- */

Test(replaces, values)
{
	struct sip_replaces rp;
	cr_assert_eq(
	    sip_replaces_parse(P("425928@bobster.example.org;to-tag=7743;from-tag=6472"), &rp), 0);
	expect_pl(rp.call_id, "425928@bobster.example.org");
	expect_pl(rp.to_tag, "7743");
	expect_pl(rp.from_tag, "6472");
	cr_assert(!rp.early_only);
	expect_pl(rp.params, ";to-tag=7743;from-tag=6472");

	cr_assert_eq(sip_replaces_parse(P("98732@sip.example.com\r\n ;from-tag=r33th4x0r\r\n"
	                                  " ;to-tag=ff87ff ; early-only"),
	                                &rp),
	             0);
	expect_pl(rp.call_id, "98732@sip.example.com");
	expect_pl(rp.from_tag, "r33th4x0r");
	expect_pl(rp.to_tag, "ff87ff");
	cr_assert(rp.early_only);

	/* word characters beyond token, and a Call-ID without @ */
	cr_assert_eq(sip_replaces_parse(P("a(b)<c>:d/[e]?{f}\"g\";to-tag=1;from-tag=2"), &rp), 0);
	expect_pl(rp.call_id, "a(b)<c>:d/[e]?{f}\"g\"");
}

Test(replaces, errors)
{
	struct sip_replaces rp;
	const char *bad[] = {
	    "",
	    "abc",                         /* no tags */
	    "abc;to-tag=1",                /* no from-tag */
	    "abc;from-tag=1",              /* no to-tag */
	    "abc;to-tag;from-tag=1",       /* tag without value */
	    "abc;to-tag=\"1\";from-tag=2", /* tag not a token */
	    "abc;to-tag=1;from-tag=2;early-only=yes",
	    "abc@;to-tag=1;from-tag=2", /* empty word after @ */
	    "@abc;to-tag=1;from-tag=2",
	    "a@b@c;to-tag=1;from-tag=2",
	    "a b;to-tag=1;from-tag=2",
	    ";to-tag=1;from-tag=2",
	    "abc;to-tag=1;from-tag=2;",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(sip_replaces_parse(P(bad[i]), &rp), -EINVAL, "accepted '%s'", bad[i]);
		expect_unset(rp.call_id);
		expect_unset(rp.to_tag);
	}
}

/* ---- Session-Expires / Min-SE ---- */

Test(session_expires, values_and_errors)
{
	struct sip_session_expires se;
	cr_assert_eq(sip_session_expires_parse(P("1800;refresher=uac"), &se), 0);
	cr_assert_eq(se.delta, 1800);
	expect_pl(se.refresher, "uac");
	expect_pl(se.params, ";refresher=uac");

	cr_assert_eq(sip_session_expires_parse(P("4000 ; Refresher = UAS"), &se), 0);
	cr_assert_eq(se.delta, 4000);
	expect_pl(se.refresher, "UAS");

	cr_assert_eq(sip_session_expires_parse(P("90"), &se), 0);
	cr_assert_eq(se.delta, 90);
	expect_unset(se.refresher);
	expect_unset(se.params);

	cr_assert_eq(sip_session_expires_parse(P("99999999999;x=y"), &se), 0);
	cr_assert_eq(se.delta, UINT32_MAX);
	expect_unset(se.refresher);

	const char *bad[] = {
	    "",      "abc", "1800;refresher=proxy",   "1800;refresher", "1800 x",
	    "1800;", "-1",  "1800;refresher=\"uac\"", "18 00",          ";refresher=uac"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(sip_session_expires_parse(P(bad[i]), &se), -EINVAL, "accepted '%s'",
		             bad[i]);
		cr_assert_eq(se.delta, 0);
		expect_unset(se.refresher);
	}
}

/* ---- Reason ---- */

Test(reason, values_and_errors)
{
	struct sip_reason r;
	cr_assert_eq(sip_reason_parse(P("Q.850;cause=16;text=\"Normal call clearing\""), &r), 0);
	expect_pl(r.protocol, "Q.850");
	cr_assert(r.has_cause);
	cr_assert_eq(r.cause, 16);
	expect_pl(r.text, "Normal call clearing");

	cr_assert_eq(sip_reason_parse(P("SIP ;cause=200 ;text=\"Call completed elsewhere\""), &r),
	             0);
	expect_pl(r.protocol, "SIP");
	cr_assert_eq(r.cause, 200);
	expect_pl(r.text, "Call completed elsewhere");

	cr_assert_eq(sip_reason_parse(P("SIP;text=\"say \\\"hi\\\"\""), &r), 0);
	cr_assert(!r.has_cause);
	expect_pl(r.text, "say \\\"hi\\\"");

	cr_assert_eq(sip_reason_parse(P("preemption;cause=1;text=\"\""), &r), 0);
	expect_pl(r.protocol, "preemption");
	cr_assert(sip_pl_isset(r.text));
	cr_assert_eq(r.text.l, 0);

	cr_assert_eq(sip_reason_parse(P("SIP"), &r), 0);
	expect_unset(r.params);
	expect_unset(r.text);

	const char *bad[] = {"",
	                     ";cause=16",
	                     "Q.850;cause",
	                     "Q.850;cause=x",
	                     "Q.850;cause=99999999999",
	                     "Q.850;text=unquoted",
	                     "Q.850;text",
	                     "Q.850;text=\"unterminated",
	                     "Q.850 junk",
	                     "Q.850;cause=16;"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(sip_reason_parse(P(bad[i]), &r), -EINVAL, "accepted '%s'", bad[i]);
		expect_unset(r.protocol);
		cr_assert(!r.has_cause);
	}
}

Test(addr, not_nul_terminated_view)
{
	const char buf[] = "<sip:bob@example.com>;tag=abcXYZ;junk junk";
	struct sip_addr a;
	cr_assert_eq(sip_addr_parse((sip_pl){buf, 29}, &a), 0);
	expect_pl(a.tag, "abc");
	const char spec[] = "sip:bob@example.comXYZ";
	cr_assert_eq(sip_addr_parse((sip_pl){spec, 19}, &a), 0);
	expect_pl(a.uri_text, "sip:bob@example.com");
	expect_pl(a.uri.host, "example.com");
	expect_unset(a.params);
}

Test(call_id, word_at_word)
{
	cr_assert(sip_call_id_valid(SIP_PL("a84b4c76e66710@pc33.atlanta.example.com")));
	cr_assert(sip_call_id_valid(SIP_PL("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")));
	cr_assert(sip_call_id_valid(SIP_PL("no-at-sign")));
	cr_assert(!sip_call_id_valid(SIP_PL("")));
	cr_assert(!sip_call_id_valid(SIP_PL_NULL));
	cr_assert(!sip_call_id_valid(SIP_PL("two words")));
	cr_assert(!sip_call_id_valid(SIP_PL("@host")));
	cr_assert(!sip_call_id_valid(SIP_PL("id@")));
	cr_assert(!sip_call_id_valid(SIP_PL("a@b@c")));
}
