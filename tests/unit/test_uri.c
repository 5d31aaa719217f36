/* Unit tests: SIP, SIPS and tel URIs — parsing (RFC 3261 §19.1.3 examples, RFC
 * 5118 IPv6 cases, RFC 3966 numbers), the rejects, and equivalence per RFC 3261
 * §19.1.4. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "sip/sip_uri.h"

/* Parse a C string; the URI keeps pointing into the literal. */
static int parse(const char *s, struct sip_uri *u)
{
	return sip_uri_parse(sip_pl_from_cstr(s), u);
}

static struct sip_uri must_parse(const char *s)
{
	struct sip_uri u;
	int rc = parse(s, &u);
	cr_assert_eq(rc, 0, "%s: expected success, got %d", s, rc);
	return u;
}

#define expect_pl(view, lit)                                                                       \
	do {                                                                                       \
		sip_pl v_ = (view);                                                                \
		cr_assert(v_.p != NULL, "%s is unset, expected \"%s\"", #view, (lit));             \
		cr_assert(sip_pl_eq_cstr(v_, (lit)), "%s is \"%.*s\", expected \"%s\"", #view,     \
		          (int)v_.l, v_.p, (lit));                                                 \
	} while (0)

#define expect_unset(view)                                                                         \
	do {                                                                                       \
		sip_pl v_ = (view);                                                                \
		cr_assert(v_.p == NULL, "%s is \"%.*s\", expected unset", #view, (int)v_.l, v_.p); \
	} while (0)

/* Every pre-extracted parameter unset. */
static void expect_no_known_params(const struct sip_uri *u)
{
	expect_unset(u->transport);
	expect_unset(u->user_param);
	expect_unset(u->method);
	expect_unset(u->maddr);
	expect_unset(u->ttl);
	expect_unset(u->gr);
	cr_assert(!u->lr);
	cr_assert(!u->ob);
	cr_assert(!u->has_gr);
}

static void expect_rc(const char *s, int want)
{
	struct sip_uri u;
	int rc = parse(s, &u);
	cr_assert_eq(rc, want, "\"%s\": expected %d, got %d", s, want, rc);
}

static bool equal(const char *x, const char *y)
{
	struct sip_uri a = must_parse(x), b = must_parse(y);
	bool ab = sip_uri_equal(&a, &b), ba = sip_uri_equal(&b, &a);
	cr_assert_eq(ab, ba, "equality of %s and %s is not symmetric", x, y);
	cr_assert(sip_uri_equal(&a, &a), "%s does not equal itself", x);
	cr_assert(sip_uri_equal(&b, &b), "%s does not equal itself", y);
	return ab;
}

#define expect_equal(x, y)     cr_assert(equal((x), (y)), "%s should equal %s", (x), (y))
#define expect_not_equal(x, y) cr_assert(!equal((x), (y)), "%s should not equal %s", (x), (y))

/* ---- RFC 3261 §19.1.3 examples ---- */

Test(rfc3261_examples, plain)
{
	struct sip_uri u = must_parse("sip:alice@atlanta.com");
	cr_assert_eq(u.scheme, SIP_URI_SIP);
	expect_pl(u.user, "alice");
	expect_unset(u.password);
	expect_pl(u.host, "atlanta.com");
	cr_assert_eq(u.host_type, SIP_URI_HOST_DOMAIN);
	cr_assert_eq(u.port, 0);
	expect_unset(u.params);
	expect_unset(u.headers);
	expect_no_known_params(&u);
	cr_assert_eq(sip_uri_default_port(&u), 5060);
}

Test(rfc3261_examples, password_and_transport)
{
	struct sip_uri u = must_parse("sip:alice:secretword@atlanta.com;transport=tcp");
	cr_assert_eq(u.scheme, SIP_URI_SIP);
	expect_pl(u.user, "alice");
	expect_pl(u.password, "secretword");
	expect_pl(u.host, "atlanta.com");
	cr_assert_eq(u.port, 0);
	expect_pl(u.params, ";transport=tcp");
	expect_pl(u.transport, "tcp");
	expect_unset(u.headers);
	expect_unset(u.user_param);
	expect_unset(u.method);
}

Test(rfc3261_examples, sips_with_headers)
{
	struct sip_uri u = must_parse("sips:alice@atlanta.com?subject=project%20x&priority=urgent");
	cr_assert_eq(u.scheme, SIP_URI_SIPS);
	expect_pl(u.user, "alice");
	expect_pl(u.host, "atlanta.com");
	expect_unset(u.params);
	expect_pl(u.headers, "subject=project%20x&priority=urgent");
	expect_no_known_params(&u);
	cr_assert_eq(sip_uri_default_port(&u), 5061);
}

Test(rfc3261_examples, telephone_user_with_password)
{
	struct sip_uri u = must_parse("sip:+1-212-555-1212:1234@gateway.com;user=phone");
	expect_pl(u.user, "+1-212-555-1212");
	expect_pl(u.password, "1234");
	expect_pl(u.host, "gateway.com");
	expect_pl(u.user_param, "phone");
	expect_pl(u.params, ";user=phone");
	expect_unset(u.transport);
}

Test(rfc3261_examples, sips_numeric_user)
{
	struct sip_uri u = must_parse("sips:1212@gateway.com");
	cr_assert_eq(u.scheme, SIP_URI_SIPS);
	expect_pl(u.user, "1212");
	expect_pl(u.host, "gateway.com");
	cr_assert_eq(u.host_type, SIP_URI_HOST_DOMAIN);
}

Test(rfc3261_examples, ipv4_host)
{
	struct sip_uri u = must_parse("sip:alice@192.0.2.4");
	expect_pl(u.user, "alice");
	expect_pl(u.host, "192.0.2.4");
	cr_assert_eq(u.host_type, SIP_URI_HOST_IPV4);
	cr_assert_eq(u.port, 0);
}

Test(rfc3261_examples, no_user_method_and_headers)
{
	struct sip_uri u = must_parse("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com");
	expect_unset(u.user);
	expect_unset(u.password);
	expect_pl(u.host, "atlanta.com");
	expect_pl(u.method, "REGISTER");
	expect_pl(u.params, ";method=REGISTER");
	expect_pl(u.headers, "to=alice%40atlanta.com");
}

Test(rfc3261_examples, semicolon_in_user)
{
	struct sip_uri u = must_parse("sip:alice;day=tuesday@atlanta.com");
	expect_pl(u.user, "alice;day=tuesday");
	expect_unset(u.password);
	expect_pl(u.host, "atlanta.com");
	expect_unset(u.params);
	cr_assert(!sip_uri_param(&u, "day", NULL), "day is part of the user, not a parameter");
}

/* ---- users and passwords ---- */

Test(userinfo, escaped_user)
{
	struct sip_uri u = must_parse("sip:sips%3Auser%40example.com@example.net");
	expect_pl(u.user, "sips%3Auser%40example.com");
	expect_pl(u.host, "example.net");
	char buf[64];
	cr_assert_eq(sip_uri_unescape(u.user, buf, sizeof(buf)), 21);
	cr_assert_str_eq(buf, "sips:user@example.com");
}

Test(userinfo, escaped_null)
{
	struct sip_uri u = must_parse("sip:null-%00-null@example.com");
	expect_pl(u.user, "null-%00-null");
	char buf[32];
	cr_assert_eq(sip_uri_unescape(u.user, buf, sizeof(buf)), 11);
	cr_assert_eq(memcmp(buf, "null-\0-null", 12), 0);
}

Test(userinfo, user_unreserved_characters)
{
	struct sip_uri u = must_parse("sip:a&b=c+d$e,f;g?h/i-_.!~*'()@example.com");
	expect_pl(u.user, "a&b=c+d$e,f;g?h/i-_.!~*'()");
	expect_pl(u.host, "example.com");
	expect_unset(u.headers);
}

Test(userinfo, empty_password)
{
	struct sip_uri u = must_parse("sip:alice:@example.com");
	expect_pl(u.user, "alice");
	expect_pl(u.password, "");
}

Test(userinfo, password_characters)
{
	struct sip_uri u = must_parse("sip:alice:p%41ss&=+$,word-_.!~*'()@example.com:5080");
	expect_pl(u.password, "p%41ss&=+$,word-_.!~*'()");
	cr_assert_eq(u.port, 5080);
}

Test(userinfo, semicolon_and_escaped_at_in_user)
{
	struct sip_uri u = must_parse("sip:user;par=u%40example.net@example.com");
	expect_pl(u.user, "user;par=u%40example.net");
	expect_pl(u.host, "example.com");
	expect_unset(u.params);
}

Test(userinfo, rejects)
{
	expect_rc("sip:@x", -EINVAL);      /* empty user */
	expect_rc("sip::pw@x", -EINVAL);   /* empty user, with password */
	expect_rc("sip:a b@c", -EINVAL);   /* space */
	expect_rc("sip:a%4@c", -EINVAL);   /* short escape */
	expect_rc("sip:a%g1@c", -EINVAL);  /* bad hex */
	expect_rc("sip:a%@c", -EINVAL);    /* bare percent */
	expect_rc("sip:a:b:c@x", -EINVAL); /* ':' in password */
	expect_rc("sip:a:b;c@x", -EINVAL); /* ';' in password */
	expect_rc("sip:a@b@c", -EINVAL);   /* two '@' */
	expect_rc("sip:a\"b@c", -EINVAL);  /* quote */
	expect_rc("sip:a<b@c", -EINVAL);
	expect_rc("sip:a@b;x=y@z", -EINVAL); /* the first @ ends the user; another is bad */
}

/* ---- hosts and ports ---- */

Test(host, domain_forms)
{
	struct sip_uri u = must_parse("sip:EXAMPLE.com.");
	expect_pl(u.host, "EXAMPLE.com.");
	cr_assert_eq(u.host_type, SIP_URI_HOST_DOMAIN);
	u = must_parse("sip:a-b.c-d.e9");
	expect_pl(u.host, "a-b.c-d.e9");
	u = must_parse("sip:1abc.example");
	expect_pl(u.host, "1abc.example");
	u = must_parse("sip:localhost");
	expect_pl(u.host, "localhost");
	cr_assert_eq(u.host_type, SIP_URI_HOST_DOMAIN);
	u = must_parse("sip:x");
	expect_pl(u.host, "x");
}

Test(host, domain_rejects)
{
	expect_rc("sip:", -EINVAL);
	expect_rc("sip:a@", -EINVAL);
	expect_rc("sip:-a.com", -EINVAL);
	expect_rc("sip:a-.com", -EINVAL);
	expect_rc("sip:a..com", -EINVAL);
	expect_rc("sip:.a.com", -EINVAL);
	expect_rc("sip:.", -EINVAL);
	expect_rc("sip:a.1com", -EINVAL); /* toplabel starts with a digit */
	expect_rc("sip:a_b.com", -EINVAL);
	expect_rc("sip:a@b c", -EINVAL);
	expect_rc("sip:a@;x", -EINVAL);
	expect_rc("sip:a@:5060", -EINVAL);
}

Test(host, ipv4)
{
	struct sip_uri u = must_parse("sip:alice@10.0.0.255:5062");
	expect_pl(u.host, "10.0.0.255");
	cr_assert_eq(u.host_type, SIP_URI_HOST_IPV4);
	cr_assert_eq(u.port, 5062);
	u = must_parse("sip:0.0.0.0");
	cr_assert_eq(u.host_type, SIP_URI_HOST_IPV4);
	expect_rc("sip:1.2.3.256", -EINVAL);
	expect_rc("sip:1.2.3", -EINVAL);
	expect_rc("sip:1.2.3.4.5", -EINVAL);
	expect_rc("sip:1.2.3.1000", -EINVAL);
	expect_rc("sip:1.2.3.4.", -EINVAL);
}

Test(host, ipv6_rfc5118)
{
	struct sip_uri u = must_parse("sip:[2001:db8::10]:5070");
	expect_pl(u.host, "[2001:db8::10]");
	cr_assert_eq(u.host_type, SIP_URI_HOST_IPV6);
	cr_assert_eq(u.port, 5070);

	u = must_parse("sip:[2001:db8::10:5070]");
	expect_pl(u.host, "[2001:db8::10:5070]");
	cr_assert_eq(u.host_type, SIP_URI_HOST_IPV6);
	cr_assert_eq(u.port, 0);

	u = must_parse("sip:user@[::ffff:192.0.2.1]");
	expect_pl(u.user, "user");
	expect_pl(u.host, "[::ffff:192.0.2.1]");
	cr_assert_eq(u.host_type, SIP_URI_HOST_IPV6);

	u = must_parse("sips:[2001:DB8:0:0:0:0:0:1];transport=tcp");
	expect_pl(u.host, "[2001:DB8:0:0:0:0:0:1]");
	expect_pl(u.transport, "tcp");
	cr_assert_eq(sip_uri_default_port(&u), 5061);

	expect_rc("sip:2001:db8::10", -EINVAL);
	expect_rc("sip:user@2001:db8::10", -EINVAL);
}

Test(host, ipv6_forms)
{
	static const char *const good[] = {
	    "sip:[::]",
	    "sip:[::1]",
	    "sip:[1::]",
	    "sip:[1:2:3:4:5:6:7:8]",
	    "sip:[1:2:3:4:5:6:7::]",
	    "sip:[::2:3:4:5:6:7:8]",
	    "sip:[1::8]",
	    "sip:[1:2:3:4:5:6:1.2.3.4]",
	    "sip:[::1.2.3.4]",
	    "sip:[1::5:6:1.2.3.4]",
	    "sip:[fe80::abcd:EF01]",
	    "sip:[0000:0000:0000:0000:0000:0000:0000:0001]",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct sip_uri u;
		cr_assert_eq(parse(good[i], &u), 0, "%s should parse", good[i]);
		cr_assert_eq(u.host_type, SIP_URI_HOST_IPV6, "%s", good[i]);
		cr_assert_eq(u.host.p, good[i] + 4, "%s: host starts at the bracket", good[i]);
		cr_assert_eq(u.host.l, strlen(good[i]) - 4, "%s: host ends at the bracket",
		             good[i]);
	}
	static const char *const bad[] = {
	    "sip:[]",
	    "sip:[:]",
	    "sip:[:::]",
	    "sip:[1:2:3:4:5:6:7:8:9]",
	    "sip:[1:2:3:4:5:6:7]",
	    "sip:[1::2::3]",
	    "sip:[2001:db8::10::1]",
	    "sip:[12345::1]",
	    "sip:[1:2:3:4:5:6:7:8::]",
	    "sip:[::1:2:3:4:5:6:7:8]",
	    "sip:[:1::2]",
	    "sip:[1::2:]",
	    "sip:[1:2:3:4:5:6:7:1.2.3.4]",
	    "sip:[::1.2.3]",
	    "sip:[::1.2.3.256]",
	    "sip:[::1.2.3.4:5]",
	    "sip:[::g]",
	    "sip:[::1",
	    "sip:[::1]x",
	    "sip:[::1]:",
	    "sip:[::1%25eth0]",
	    "sip:[192.0.2.1]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_rc(bad[i], -EINVAL);
}

Test(port, values)
{
	struct sip_uri u = must_parse("sip:a@b:65535");
	cr_assert_eq(u.port, 65535);
	u = must_parse("sip:a@b:1");
	cr_assert_eq(u.port, 1);
	u = must_parse("sip:b:5060;lr");
	expect_unset(u.user);
	expect_pl(u.host, "b");
	cr_assert_eq(u.port, 5060);
	cr_assert(u.lr);
	u = must_parse("sip:b:00005060");
	cr_assert_eq(u.port, 5060);
	u = must_parse("sip:a@b:5070?x=y");
	cr_assert_eq(u.port, 5070);
	expect_pl(u.headers, "x=y");
}

Test(port, rejects)
{
	expect_rc("sip:a@b:", -EINVAL);
	expect_rc("sip:a@b:65536", -EINVAL);
	expect_rc("sip:a@b:99999", -EINVAL);
	expect_rc("sip:a@b:4294967296", -EINVAL);
	expect_rc("sip:a@b:12a", -EINVAL);
	expect_rc("sip:a@b:-1", -EINVAL);
	expect_rc("sip:a@b:5060:5060", -EINVAL);
	expect_rc("sip:a@b:;lr", -EINVAL);
}

/* ---- uri-parameters ---- */

Test(params, every_known_one)
{
	const char *s = "sip:alice@example.com;transport=TLS;user=phone;method=INVITE;"
	                "maddr=239.255.255.1;ttl=15;lr;ob;gr=urn:uuid:f81d4fae";
	struct sip_uri u = must_parse(s);
	expect_pl(u.transport, "TLS");
	expect_pl(u.user_param, "phone");
	expect_pl(u.method, "INVITE");
	expect_pl(u.maddr, "239.255.255.1");
	expect_pl(u.ttl, "15");
	cr_assert(u.lr);
	cr_assert(u.ob);
	cr_assert(u.has_gr);
	expect_pl(u.gr, "urn:uuid:f81d4fae");
	expect_pl(u.params, s + strlen("sip:alice@example.com"));
	expect_unset(u.headers);
	cr_assert_eq(sip_uri_default_port(&u), 5061);
}

Test(params, names_case_insensitive)
{
	struct sip_uri u = must_parse("sip:example.com;TRANSPORT=udp;LR;Ob;GR;MAddr=[::1];TtL=1");
	expect_pl(u.transport, "udp");
	cr_assert(u.lr);
	cr_assert(u.ob);
	cr_assert(u.has_gr);
	expect_unset(u.gr);
	expect_pl(u.maddr, "[::1]");
	expect_pl(u.ttl, "1");
	cr_assert_eq(sip_uri_default_port(&u), 5060);
}

Test(params, escaped_name_is_known)
{
	struct sip_uri u = must_parse("sip:example.com;%74ransport=tls;l%72");
	expect_pl(u.transport, "tls");
	cr_assert(u.lr);
	sip_pl v;
	cr_assert(sip_uri_param(&u, "transport", &v));
	expect_pl(v, "tls");
}

Test(params, flags_with_values_and_first_wins)
{
	struct sip_uri u = must_parse("sip:example.com;lr=on;transport=tcp;transport=udp");
	cr_assert(u.lr);
	expect_pl(u.transport, "tcp");
	sip_pl v;
	cr_assert(sip_uri_param(&u, "transport", &v));
	expect_pl(v, "tcp");
	cr_assert(sip_uri_param(&u, "lr", &v));
	expect_pl(v, "on");
}

Test(params, lookup)
{
	struct sip_uri u = must_parse("sip:bob@example.com;foo=Bar;flag;x-y=[a]/b:c&d+e$f;"
	                              "esc=%41%42");
	sip_pl v = SIP_PL("sentinel");
	cr_assert(sip_uri_param(&u, "FOO", &v));
	expect_pl(v, "Bar");
	v = SIP_PL("sentinel");
	cr_assert(sip_uri_param(&u, "flag", &v));
	expect_unset(v);
	cr_assert(sip_uri_param(&u, "x-y", &v));
	expect_pl(v, "[a]/b:c&d+e$f");
	cr_assert(sip_uri_param(&u, "esc", &v));
	expect_pl(v, "%41%42");
	cr_assert(!sip_uri_param(&u, "fo", &v));
	cr_assert(!sip_uri_param(&u, "flagx", &v));
	cr_assert(!sip_uri_param(&u, "bob", NULL));
	cr_assert(sip_uri_param(&u, "flag", NULL));
	expect_no_known_params(&u);
}

Test(params, rejects)
{
	expect_rc("sip:a@b;%zz", -EINVAL);
	expect_rc("sip:a@b;", -EINVAL);
	expect_rc("sip:a@b;;lr", -EINVAL);
	expect_rc("sip:a@b;=x", -EINVAL);
	expect_rc("sip:a@b;x=", -EINVAL);
	expect_rc("sip:a@b;x=y=z", -EINVAL);
	expect_rc("sip:a@b;x y", -EINVAL);
	expect_rc("sip:a@b;x=\"y\"", -EINVAL);
	expect_rc("sip:a@b;x=%4", -EINVAL);
	expect_rc("sip:a@b;x=a,b", -EINVAL);
}

/* ---- headers ---- */

Test(headers, several)
{
	struct sip_uri u =
	    must_parse("sip:bob@example.com;lr?Subject=hi%20there&Route=%3Csip:x%3E&Empty=");
	cr_assert(u.lr);
	expect_pl(u.params, ";lr");
	expect_pl(u.headers, "Subject=hi%20there&Route=%3Csip:x%3E&Empty=");
	u = must_parse("sip:b?to=sip:bob%40biloxi.com&x=[a]/?:+$");
	expect_pl(u.headers, "to=sip:bob%40biloxi.com&x=[a]/?:+$");
}

Test(headers, rejects)
{
	expect_rc("sip:a@b?", -EINVAL);
	expect_rc("sip:a@b?x", -EINVAL);
	expect_rc("sip:a@b?=y", -EINVAL);
	expect_rc("sip:a@b?x=y&", -EINVAL);
	expect_rc("sip:a@b?x=y&&z=w", -EINVAL);
	expect_rc("sip:a@b?x=y;z", -EINVAL);
	expect_rc("sip:a@b?x=%zz", -EINVAL);
	expect_rc("sip:a@b?x=y z", -EINVAL);
}

/* ---- tel ---- */

Test(tel, global_number)
{
	struct sip_uri u = must_parse("tel:+1-201-555-0123");
	cr_assert_eq(u.scheme, SIP_URI_TEL);
	expect_pl(u.user, "+1-201-555-0123");
	expect_unset(u.password);
	expect_unset(u.host);
	cr_assert_eq(u.host_type, SIP_URI_HOST_NONE);
	cr_assert_eq(u.port, 0);
	expect_unset(u.params);
	expect_unset(u.headers);
	cr_assert_eq(sip_uri_default_port(&u), 0);
}

Test(tel, local_number_with_context)
{
	struct sip_uri u = must_parse("TEL:7042;phone-context=example.com;ext=1234");
	cr_assert_eq(u.scheme, SIP_URI_TEL);
	expect_pl(u.user, "7042");
	expect_pl(u.params, ";phone-context=example.com;ext=1234");
	sip_pl v;
	cr_assert(sip_uri_param(&u, "Phone-Context", &v));
	expect_pl(v, "example.com");
	cr_assert(sip_uri_param(&u, "ext", &v));
	expect_pl(v, "1234");
	u = must_parse("tel:*69#AbCd(0).1;phone-context=+1-212");
	expect_pl(u.user, "*69#AbCd(0).1");
	cr_assert(sip_uri_param(&u, "phone-context", &v));
	expect_pl(v, "+1-212");
	u = must_parse("tel:+(1)555.0123;isub=1411;x-flag");
	expect_pl(u.user, "+(1)555.0123");
	cr_assert(sip_uri_param(&u, "x-flag", &v));
	expect_unset(v);
}

Test(tel, rejects)
{
	expect_rc("tel:", -EINVAL);
	expect_rc("tel:+", -EINVAL);
	expect_rc("tel:+-()", -EINVAL);
	expect_rc("tel:+1A23", -EINVAL); /* hex only in local numbers */
	expect_rc("tel:12 34", -EINVAL);
	expect_rc("tel:1234x", -EINVAL);
	expect_rc("tel:1234@example.com", -EINVAL);
	expect_rc("tel:1234;", -EINVAL);
	expect_rc("tel:1234;a_b=c", -EINVAL);
	expect_rc("tel:1234;a=", -EINVAL);
	expect_rc("tel:1234?x=y", -EINVAL);
	expect_rc("tel:;phone-context=x", -EINVAL);
}

/* ---- schemes ---- */

Test(scheme, case_insensitive)
{
	struct sip_uri u = must_parse("SIP:alice@example.com");
	cr_assert_eq(u.scheme, SIP_URI_SIP);
	u = must_parse("SiPs:alice@example.com");
	cr_assert_eq(u.scheme, SIP_URI_SIPS);
	u = must_parse("Tel:+1");
	cr_assert_eq(u.scheme, SIP_URI_TEL);
}

Test(scheme, other_schemes)
{
	expect_rc("http://x", -EPROTONOSUPPORT);
	expect_rc("http://example.com/", -EPROTONOSUPPORT);
	expect_rc("mailto:a@b", -EPROTONOSUPPORT);
	expect_rc("urn:service:sos", -EPROTONOSUPPORT);
	expect_rc("im:alice@example.com", -EPROTONOSUPPORT);
	expect_rc("x-my.scheme+1:opaque%20data", -EPROTONOSUPPORT);
	expect_rc("siP2:a", -EPROTONOSUPPORT);
	expect_rc("sipx:alice@example.com", -EPROTONOSUPPORT);
}

Test(scheme, garbage)
{
	expect_rc("", -EINVAL);
	expect_rc(":", -EINVAL);
	expect_rc("alice@example.com", -EINVAL);
	expect_rc("1sip:a", -EINVAL);
	expect_rc("<sip:a@b>", -EINVAL);
	expect_rc("http:", -EINVAL);
	expect_rc("http://a b", -EINVAL);
	expect_rc("http://%zz", -EINVAL);
	expect_rc("ht tp://x", -EINVAL);
	expect_rc(" sip:a@b", -EINVAL);
	expect_rc("sip:a@b ", -EINVAL);
	expect_rc("sip", -EINVAL);
	struct sip_uri u;
	cr_assert_eq(sip_uri_parse(SIP_PL_NULL, &u), -EINVAL);
}

Test(scheme, view_not_terminated)
{
	/* the view stops before the ";lr"; nothing past it may be read */
	const char buf[] = "sip:a@b.example;lr";
	struct sip_uri u;
	cr_assert_eq(sip_uri_parse((sip_pl){buf, 15}, &u), 0);
	expect_pl(u.host, "b.example");
	cr_assert(!u.lr);
	expect_unset(u.params);
	cr_assert_eq(sip_uri_parse((sip_pl){buf, 6}, &u), -EINVAL); /* "sip:a@" */
}

/* ---- RFC 3261 §19.1.4 ---- */

Test(equal, rfc3261_equivalent)
{
	expect_equal("sip:%61lice@atlanta.com;transport=TCP",
	             "sip:alice@AtLanTa.CoM;Transport=tcp");
	expect_equal("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5");
	expect_equal("sip:carol@chicago.com", "sip:carol@chicago.com;security=on");
	expect_equal("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on");
	expect_equal("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
	             "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com");
	expect_equal("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
	             "sip:alice@atlanta.com?priority=urgent&subject=project%20x");
}

Test(equal, rfc3261_not_equivalent)
{
	expect_not_equal("SIP:ALICE@AtLanTa.CoM;Transport=udp",
	                 "sip:alice@AtLanTa.CoM;Transport=UDP");
	expect_not_equal("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060");
	expect_not_equal("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp");
	expect_not_equal("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp");
	expect_not_equal("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting");
	expect_not_equal("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4");
	/* the example of non-transitivity */
	expect_not_equal("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off");
}

Test(equal, scheme_and_userinfo)
{
	expect_not_equal("sip:alice@example.com", "sips:alice@example.com");
	expect_equal("SIP:alice@example.com", "sip:alice@example.com");
	expect_not_equal("sip:alice@example.com", "sip:example.com");
	expect_not_equal("sip:alice:pw@example.com", "sip:alice@example.com");
	expect_not_equal("sip:alice:pw@example.com", "sip:alice:PW@example.com");
	expect_equal("sip:alice:p%77@example.com", "sip:alice:pw@example.com");
	expect_equal("sip:alice:@example.com", "sip:alice:@example.com");
	expect_not_equal("sip:alice:@example.com", "sip:alice@example.com");
	/* escapes: the hex digits' case does not matter, the escaped letter's does */
	expect_equal("sip:%61lice@x", "sip:alice@x");
	expect_equal("sip:%6C%6c@x", "sip:ll@x");
	expect_not_equal("sip:%41lice@x", "sip:alice@x");
	expect_equal("sip:a%3bb@x", "sip:a;b@x");
	expect_not_equal("sip:alicE@x", "sip:alice@x");
}

Test(equal, hosts_and_ports)
{
	expect_equal("sip:a@EXAMPLE.COM", "sip:a@example.com");
	expect_not_equal("sip:a@example.com", "sip:a@example.com.");
	expect_equal("sip:a@example.com:5060", "sip:a@example.com:5060");
	expect_equal("sip:a@example.com:5060", "sip:a@example.com:05060");
	expect_not_equal("sip:a@example.com:5060", "sip:a@example.com:5061");
	expect_equal("sip:a@192.0.2.4", "sip:a@192.0.2.4");
	expect_not_equal("sip:a@192.0.2.4", "sip:a@192.0.2.5");
	expect_equal("sip:[2001:db8::1]", "sip:[2001:DB8:0:0:0:0:0:1]");
	expect_equal("sip:[::ffff:192.0.2.1]", "sip:[::FFFF:c000:0201]");
	expect_not_equal("sip:[2001:db8::1]", "sip:[2001:db8::2]");
	expect_not_equal("sip:[2001:db8::1]:5060", "sip:[2001:db8::1]");
}

Test(equal, params)
{
	/* the five that must match when present in either */
	expect_not_equal("sip:a@b;user=phone", "sip:a@b");
	expect_not_equal("sip:a@b;ttl=1", "sip:a@b");
	expect_not_equal("sip:a@b;method=INVITE", "sip:a@b");
	expect_not_equal("sip:a@b;maddr=1.2.3.4", "sip:a@b");
	expect_not_equal("sip:a@b;transport=tcp", "sip:a@b");
	expect_not_equal("sip:a@b;transport", "sip:a@b"); /* even as a flag */
	expect_not_equal("sip:a@b;maddr=1.2.3.4", "sip:a@b;maddr=1.2.3.5");
	expect_equal("sip:a@b;user=PHONE", "sip:a@b;user=phone");
	expect_equal("sip:a@b;%75ser=phone", "sip:a@b;USER=ph%6fne");
	/* others only when in both */
	expect_equal("sip:a@b;lr", "sip:a@b");
	expect_equal("sip:a@b;lr", "sip:a@b;LR");
	expect_not_equal("sip:a@b;lr", "sip:a@b;lr=on");
	expect_equal("sip:a@b;x=1;y=2", "sip:a@b;y=2;x=1;z=3");
	expect_not_equal("sip:a@b;x=1;y=2", "sip:a@b;y=3;x=1");
	expect_equal("sip:a@b;x=%41", "sip:a@b;X=a");
	/* the first occurrence of a repeated name is the one that counts */
	expect_equal("sip:a@b;x=1;x=2", "sip:a@b;x=1");
	expect_not_equal("sip:a@b;x=2;x=1", "sip:a@b;x=1");
}

Test(equal, headers)
{
	expect_equal("sip:a@b?X=1&y=2", "sip:a@b?Y=2&x=1");
	expect_equal("sip:a@b?x=%41", "sip:a@b?x=A");
	expect_not_equal("sip:a@b?x=a", "sip:a@b?x=A");
	expect_not_equal("sip:a@b?x=1", "sip:a@b?x=1&y=2");
	expect_not_equal("sip:a@b?x=1&x=1", "sip:a@b?x=1&x=2");
	expect_equal("sip:a@b?x=1&x=2", "sip:a@b?x=2&x=1");
	expect_equal("sip:a@b?x=", "sip:a@b?x=");
	expect_not_equal("sip:a@b?x=", "sip:a@b?x=0");
}

Test(equal, tel)
{
	expect_equal("tel:+1-201-555-0123", "tel:+12015550123");
	expect_equal("tel:+1(201)555.0123", "TEL:+1-201-555-0123");
	expect_not_equal("tel:+12015550123", "tel:+12015550124");
	expect_not_equal("tel:+12015550123", "tel:12015550123;phone-context=+1");
	expect_equal("tel:7042;phone-context=Example.COM", "tel:7-0-4-2;PHONE-CONTEXT=example.com");
	expect_not_equal("tel:7042;phone-context=a.com", "tel:7042;phone-context=b.com");
	expect_not_equal("tel:+1234;ext=1", "tel:+1234");
	expect_equal("tel:+1234;ext=1;isub=2", "tel:+1234;isub=2;ext=1");
	expect_equal("tel:ABC#*1;phone-context=x", "tel:abc#*1;phone-context=x");
	expect_not_equal("tel:+1234", "sip:+1234@example.com");
}

/* ---- helpers ---- */

Test(unescape, cases)
{
	char buf[8];
	cr_assert_eq(sip_uri_unescape(SIP_PL("a%20b"), buf, sizeof(buf)), 3);
	cr_assert_str_eq(buf, "a b");
	cr_assert_eq(sip_uri_unescape(SIP_PL("%4a%4B"), buf, sizeof(buf)), 2);
	cr_assert_str_eq(buf, "JK");
	cr_assert_eq(sip_uri_unescape(SIP_PL(""), buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "");
	buf[0] = 'x';
	cr_assert_eq(sip_uri_unescape(SIP_PL_NULL, buf, sizeof(buf)), 0, "an absent user part");
	cr_assert_str_eq(buf, "");
	cr_assert_eq(sip_uri_unescape(SIP_PL("1234567"), buf, sizeof(buf)), 7);
	cr_assert_str_eq(buf, "1234567");
	cr_assert_eq(sip_uri_unescape(SIP_PL("12345678"), buf, sizeof(buf)), -ENOSPC);
	cr_assert_eq(sip_uri_unescape(SIP_PL("%31%32%33%34%35%36%37"), buf, sizeof(buf)), 7);
	cr_assert_str_eq(buf, "1234567");
	cr_assert_eq(sip_uri_unescape(SIP_PL("ab%"), buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(sip_uri_unescape(SIP_PL("ab%4"), buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(sip_uri_unescape(SIP_PL("%x1"), buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(sip_uri_unescape(SIP_PL("a"), buf, 0), -ENOSPC);
	cr_assert_eq(sip_uri_unescape(SIP_PL("a"), buf, 1), -ENOSPC);
}

Test(default_port, cases)
{
	struct sip_uri u = must_parse("sip:a@b");
	cr_assert_eq(sip_uri_default_port(&u), 5060);
	u = must_parse("sip:a@b;transport=TLS");
	cr_assert_eq(sip_uri_default_port(&u), 5061);
	u = must_parse("sip:a@b;transport=tcp");
	cr_assert_eq(sip_uri_default_port(&u), 5060);
	u = must_parse("sip:a@b;transport=ws");
	cr_assert_eq(sip_uri_default_port(&u), 5060);
	u = must_parse("sips:a@b;transport=tcp");
	cr_assert_eq(sip_uri_default_port(&u), 5061);
	u = must_parse("sip:a@b:7000");
	cr_assert_eq(sip_uri_default_port(&u), 5060, "the default ignores an explicit port");
	u = must_parse("tel:+1");
	cr_assert_eq(sip_uri_default_port(&u), 0);
}

Test(api, views_point_into_the_input)
{
	const char *s = "sip:alice:pw@example.com:5070;transport=udp;lr?h=v";
	struct sip_uri u = must_parse(s);
	cr_assert_eq(u.user.p, s + 4);
	cr_assert_eq(u.password.p, s + 10);
	cr_assert_eq(u.host.p, s + 13);
	cr_assert_eq(u.port, 5070);
	cr_assert_eq(u.params.p, s + 29);
	cr_assert_eq(u.transport.p, s + 40);
	cr_assert_eq(u.headers.p, s + strlen(s) - 3);
	expect_pl(u.headers, "h=v");
}

Test(api, null_and_missing)
{
	struct sip_uri u = must_parse("sip:example.com");
	cr_assert(!sip_uri_param(&u, "lr", NULL));
	cr_assert(!sip_uri_param(&u, NULL, NULL));
	cr_assert(!sip_uri_param(NULL, "lr", NULL));
	cr_assert(!sip_uri_equal(&u, NULL));
	cr_assert(!sip_uri_equal(NULL, &u));
	cr_assert_eq(sip_uri_parse(SIP_PL("sip:x"), NULL), -EINVAL);
	cr_assert_eq(sip_uri_default_port(NULL), 0);
}

Test(api, parse_resets_previous_fields)
{
	struct sip_uri u = must_parse("sip:a:b@c:1;transport=tls;lr;ob;gr;user=phone?x=y");
	u = must_parse("sip:c");
	expect_unset(u.user);
	expect_unset(u.password);
	cr_assert_eq(u.port, 0);
	expect_unset(u.params);
	expect_unset(u.headers);
	expect_no_known_params(&u);
	struct sip_uri v = must_parse("sip:a:b@c:1;transport=tls;lr;ob;gr;user=phone?x=y");
	cr_assert_eq(sip_uri_parse(SIP_PL("tel:+1"), &v), 0);
	expect_no_known_params(&v);
	expect_unset(v.host);
	cr_assert_eq(v.host_type, SIP_URI_HOST_NONE);
}
