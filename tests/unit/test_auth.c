/* Unit tests: digest authentication — RFC examples, the server/client round
 * trip, every verification result, parsing edge cases, output bounds. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sip/sip_auth.h"

static sip_pl P(const char *s)
{
	return sip_pl_from_cstr(s);
}

static void expect_pl(sip_pl got, const char *want)
{
	cr_assert(sip_pl_isset(got), "expected '%s', got unset", want);
	cr_assert(sip_pl_eq_cstr(got, want), "expected '%s', got '%.*s'", want, (int)got.l, got.p);
}

/* The value of name="..." (or name=token) in a header value, for checks on
 * written output. */
static sip_pl param_of(const char *hdr, const char *name)
{
	struct sip_auth_credentials cr;
	cr_assert_eq(sip_auth_credentials_parse(P(hdr), &cr), 0, "unparsable: %s", hdr);
	if (!strcmp(name, "response"))
		return cr.response;
	if (!strcmp(name, "nonce"))
		return cr.nonce;
	if (!strcmp(name, "cnonce"))
		return cr.cnonce;
	cr_assert_fail("no such param %s", name);
	return SIP_PL_NULL;
}

static const uint8_t secret_a[SIP_AUTH_SECRET_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t secret_b[SIP_AUTH_SECRET_LEN] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

/* ---- RFC examples ---- */

static const char rfc2617_challenge[] =
    "Digest\r\n"
    "                 realm=\"testrealm@host.com\",\r\n"
    "                 qop=\"auth,auth-int\",\r\n"
    "                 nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n"
    "                 opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";

Test(auth_rfc, rfc2617_challenge_parse)
{
	struct sip_auth_challenge ch;
	cr_assert_eq(sip_auth_challenge_parse(P(rfc2617_challenge), &ch), 0);
	expect_pl(ch.scheme, "Digest");
	expect_pl(ch.realm, "testrealm@host.com");
	expect_pl(ch.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
	expect_pl(ch.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
	expect_pl(ch.qop_list, "auth,auth-int");
	cr_assert_eq(ch.qop, SIP_AUTH_QOP_AUTH | SIP_AUTH_QOP_AUTH_INT);
	cr_assert_eq(ch.algorithm, SIP_AUTH_ALG_MD5);
	cr_assert(!sip_pl_isset(ch.algorithm_name));
	cr_assert(!sip_pl_isset(ch.domain));
	cr_assert(!ch.stale);
}

Test(auth_rfc, rfc2617_credentials_parse)
{
	const char *hdr = "Digest username=\"Mufasa\",\r\n"
	                  "                 realm=\"testrealm@host.com\",\r\n"
	                  "                 nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n"
	                  "                 uri=\"/dir/index.html\",\r\n"
	                  "                 qop=auth,\r\n"
	                  "                 nc=00000001,\r\n"
	                  "                 cnonce=\"0a4f113b\",\r\n"
	                  "                 response=\"6629fae49393a05397450978507c4ef1\",\r\n"
	                  "                 opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
	struct sip_auth_credentials cr;
	cr_assert_eq(sip_auth_credentials_parse(P(hdr), &cr), 0);
	expect_pl(cr.username, "Mufasa");
	expect_pl(cr.realm, "testrealm@host.com");
	expect_pl(cr.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
	expect_pl(cr.uri, "/dir/index.html");
	expect_pl(cr.qop_name, "auth");
	cr_assert_eq(cr.qop, SIP_AUTH_QOP_AUTH);
	expect_pl(cr.nc_text, "00000001");
	cr_assert_eq(cr.nc, 1);
	expect_pl(cr.cnonce, "0a4f113b");
	expect_pl(cr.response, "6629fae49393a05397450978507c4ef1");
	expect_pl(cr.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
	cr_assert_eq(cr.algorithm, SIP_AUTH_ALG_MD5);
	cr_assert(!cr.userhash);
}

Test(auth_rfc, rfc2617_client_answer)
{
	struct sip_auth_challenge ch;
	cr_assert_eq(sip_auth_challenge_parse(P(rfc2617_challenge), &ch), 0);
	struct sip_auth_client_params p = {
	    .username = P("Mufasa"),
	    .password = P("Circle Of Life"),
	    .method = P("GET"),
	    .uri = P("/dir/index.html"),
	    .cnonce = P("0a4f113b"),
	    .nc = 1,
	};
	char out[512];
	int n = sip_auth_client_answer(&ch, &p, out, sizeof(out));
	cr_assert_gt(n, 0);
	cr_assert_eq((size_t)n, strlen(out));
	cr_assert_str_eq(out,
	                 "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
	                 "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", "
	                 "response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, "
	                 "cnonce=\"0a4f113b\", qop=auth, nc=00000001, "
	                 "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");

	/* the same from a stored HA1 */
	char ha1[SIP_AUTH_HEX_MAX];
	cr_assert_eq(sip_auth_ha1(SIP_AUTH_ALG_MD5, P("Mufasa"), P("testrealm@host.com"),
	                          P("Circle Of Life"), ha1, sizeof(ha1)),
	             32);
	cr_assert_str_eq(ha1, "939e7578ed9e3c518a452acee763bce9");
	p.password = SIP_PL_NULL;
	p.ha1_hex = P("939E7578ED9E3C518A452ACEE763BCE9"); /* case does not matter */
	cr_assert_gt(sip_auth_client_answer(&ch, &p, out, sizeof(out)), 0);
	expect_pl(param_of(out, "response"), "6629fae49393a05397450978507c4ef1");
}

static const char rfc7616_challenge_fmt[] =
    "Digest\r\n"
    "       realm=\"http-auth@example.org\",\r\n"
    "       qop=\"auth, auth-int\",\r\n"
    "       algorithm=%s,\r\n"
    "       nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n"
    "       opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

static void rfc7616_case(const char *alg_name, enum sip_auth_algorithm alg, const char *want)
{
	char chal[512];
	snprintf(chal, sizeof(chal), rfc7616_challenge_fmt, alg_name);
	struct sip_auth_challenge ch;
	cr_assert_eq(sip_auth_challenge_parse(P(chal), &ch), 0);
	cr_assert_eq(ch.algorithm, alg);
	cr_assert_eq(ch.qop, SIP_AUTH_QOP_AUTH | SIP_AUTH_QOP_AUTH_INT);
	expect_pl(ch.qop_list, "auth, auth-int");
	expect_pl(ch.nonce, "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v");
	struct sip_auth_client_params p = {
	    .username = P("Mufasa"),
	    .password = P("Circle of Life"),
	    .method = P("GET"),
	    .uri = P("/dir/index.html"),
	    .cnonce = P("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"),
	    .nc = 1,
	};
	char out[512];
	cr_assert_gt(sip_auth_client_answer(&ch, &p, out, sizeof(out)), 0);
	expect_pl(param_of(out, "response"), want);
	struct sip_auth_credentials cr;
	cr_assert_eq(sip_auth_credentials_parse(P(out), &cr), 0);
	cr_assert_eq(cr.algorithm, alg);
	expect_pl(cr.algorithm_name, alg_name);
	expect_pl(cr.opaque, "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
}

Test(auth_rfc, rfc7616_sha256)
{
	rfc7616_case("SHA-256", SIP_AUTH_ALG_SHA256,
	             "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

Test(auth_rfc, rfc7616_md5)
{
	rfc7616_case("MD5", SIP_AUTH_ALG_MD5, "8ca523f5e9506fed4657c9700eebdbec");
}

Test(auth_rfc, ha1_lengths_and_errors)
{
	char out[SIP_AUTH_HEX_MAX];
	cr_assert_eq(sip_auth_ha1(SIP_AUTH_ALG_SHA256, P("u"), P("r"), P("p"), out, sizeof(out)),
	             64);
	cr_assert_eq(strlen(out), 64);
	/* -sess stores the same base hash */
	char sess[SIP_AUTH_HEX_MAX];
	cr_assert_eq(
	    sip_auth_ha1(SIP_AUTH_ALG_SHA256_SESS, P("u"), P("r"), P("p"), sess, sizeof(sess)), 64);
	cr_assert_str_eq(out, sess);
	cr_assert_eq(sip_auth_ha1(SIP_AUTH_ALG_MD5, P("u"), P("r"), P("p"), out, 32), -ENOSPC);
	cr_assert_eq(sip_auth_ha1(SIP_AUTH_ALG_MD5, P("u"), P("r"), P("p"), out, 33), 32);
	cr_assert_eq(sip_auth_ha1(SIP_AUTH_ALG_UNKNOWN, P("u"), P("r"), P("p"), out, sizeof(out)),
	             -EINVAL);
}

/* ---- server / client round trips ---- */

#define REALM "sip.example.com"
#define T0    1700000000ull

struct fixture {
	struct sip_auth_server *srv;
	char chal[512];
	char answer[1024];
	struct sip_auth_challenge ch;
	struct sip_auth_credentials cr;
};

static struct sip_auth_server *server(const char *realm, const uint8_t *secret)
{
	struct sip_auth_server *srv = NULL;
	cr_assert_eq(sip_auth_server_new(&srv, P(realm), secret, SIP_AUTH_SECRET_LEN, 300), 0);
	cr_assert_not_null(srv);
	return srv;
}

/* Challenge from srv, answer with password, parse the answer. */
static void challenge_answer(struct fixture *f, struct sip_auth_server *srv,
                             enum sip_auth_algorithm alg, unsigned qop, const char *password,
                             const char *body)
{
	int n = sip_auth_server_challenge(srv, T0, alg, qop, false, f->chal, sizeof(f->chal));
	cr_assert_gt(n, 0);
	cr_assert_eq((size_t)n, strlen(f->chal));
	cr_assert_eq(sip_auth_challenge_parse(P(f->chal), &f->ch), 0, "%s", f->chal);
	cr_assert_eq(f->ch.algorithm, alg);
	cr_assert_eq(f->ch.qop, qop);
	struct sip_auth_client_params p = {
	    .username = P("alice"),
	    .password = P(password),
	    .method = P("REGISTER"),
	    .uri = P("sip:" REALM),
	    .body = P(body),
	    .cnonce = P("8a3f1c"),
	    .nc = 1,
	};
	cr_assert_gt(sip_auth_client_answer(&f->ch, &p, f->answer, sizeof(f->answer)), 0);
	cr_assert_eq(sip_auth_credentials_parse(P(f->answer), &f->cr), 0, "%s", f->answer);
}

static enum sip_auth_result verify_as(struct sip_auth_server *srv, uint64_t now,
                                      const struct sip_auth_credentials *cr, const char *password,
                                      const char *body)
{
	char ha1[SIP_AUTH_HEX_MAX];
	cr_assert_gt(
	    sip_auth_ha1(cr->algorithm, P("alice"), P(REALM), P(password), ha1, sizeof(ha1)), 0);
	return sip_auth_server_verify(srv, now, cr, P("REGISTER"), P(body), P(ha1));
}

Test(auth_server, register_round_trip)
{
	struct fixture f;
	struct sip_auth_server *srv = server(REALM, secret_a);
	challenge_answer(&f, srv, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH, "secret", "");
	/* the exact shape SIP.js expects: algorithm before qop */
	cr_assert_eq(strncmp(f.chal, "Digest realm=\"" REALM "\", nonce=\"", 30), 0, "%s", f.chal);
	const char *tail = ", algorithm=MD5, qop=\"auth\"";
	cr_assert_str_eq(f.chal + strlen(f.chal) - strlen(tail), tail);
	cr_assert_eq(f.ch.nonce.l, 43);
	expect_pl(f.cr.username, "alice");
	expect_pl(f.cr.uri, "sip:" REALM);
	expect_pl(f.cr.qop_name, "auth");
	cr_assert_eq(f.cr.nc, 1);
	cr_assert_eq(verify_as(srv, T0 + 10, &f.cr, "secret", ""), SIP_AUTH_OK);
	/* the last second of the lifetime is still fresh */
	cr_assert_eq(verify_as(srv, T0 + 300, &f.cr, "secret", ""), SIP_AUTH_OK);
	/* two challenges never share a nonce */
	char other[512];
	cr_assert_gt(sip_auth_server_challenge(srv, T0, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH, false,
	                                       other, sizeof(other)),
	             0);
	cr_assert_str_neq(other, f.chal);
	sip_auth_server_free(srv);
}

Test(auth_server, wrong_password)
{
	struct fixture f;
	struct sip_auth_server *srv = server(REALM, secret_a);
	challenge_answer(&f, srv, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH, "guess", "");
	cr_assert_eq(verify_as(srv, T0 + 1, &f.cr, "secret", ""), SIP_AUTH_BAD_RESPONSE);
	/* and a wrong password on an expired nonce is not told it is stale */
	cr_assert_eq(verify_as(srv, T0 + 3600, &f.cr, "secret", ""), SIP_AUTH_BAD_RESPONSE);
	/* another method than the one answered for */
	char ha1[SIP_AUTH_HEX_MAX];
	sip_auth_ha1(SIP_AUTH_ALG_MD5, P("alice"), P(REALM), P("guess"), ha1, sizeof(ha1));
	cr_assert_eq(sip_auth_server_verify(srv, T0, &f.cr, P("INVITE"), P(""), P(ha1)),
	             SIP_AUTH_BAD_RESPONSE);
	cr_assert_eq(sip_auth_server_verify(srv, T0, &f.cr, P("REGISTER"), P(""), P(ha1)),
	             SIP_AUTH_OK);
	sip_auth_server_free(srv);
}

Test(auth_server, tampered_nonce)
{
	struct fixture f;
	struct sip_auth_server *srv = server(REALM, secret_a);
	cr_assert_gt(sip_auth_server_challenge(srv, T0, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH, false,
	                                       f.chal, sizeof(f.chal)),
	             0);
	/* flip one character of every position of the nonce in turn; the client
	 * answers correctly for the tampered nonce, the server must refuse it */
	char *nonce = strstr(f.chal, "nonce=\"") + 7;
	for (size_t i = 0; i < 43; i++) {
		char saved = nonce[i];
		nonce[i] = saved == 'A' ? 'B' : 'A';
		cr_assert_eq(sip_auth_challenge_parse(P(f.chal), &f.ch), 0);
		struct sip_auth_client_params p = {
		    .username = P("alice"),
		    .password = P("secret"),
		    .method = P("REGISTER"),
		    .uri = P("sip:" REALM),
		    .cnonce = P("c"),
		    .nc = 1,
		};
		cr_assert_gt(sip_auth_client_answer(&f.ch, &p, f.answer, sizeof(f.answer)), 0);
		cr_assert_eq(sip_auth_credentials_parse(P(f.answer), &f.cr), 0);
		cr_assert_eq(verify_as(srv, T0, &f.cr, "secret", ""), SIP_AUTH_BAD_NONCE, "pos %zu",
		             i);
		nonce[i] = saved;
	}
	/* shortened, lengthened, not base64url */
	const char *bad[] = {"abc", "", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	                     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	                     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.cr.nonce = P(bad[i]);
		cr_assert_eq(verify_as(srv, T0, &f.cr, "secret", ""), SIP_AUTH_BAD_NONCE);
	}
	sip_auth_server_free(srv);
}

Test(auth_server, nonce_from_other_secret)
{
	struct fixture f;
	struct sip_auth_server *a = server(REALM, secret_a), *b = server(REALM, secret_b);
	challenge_answer(&f, b, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH, "secret", "");
	cr_assert_eq(verify_as(b, T0, &f.cr, "secret", ""), SIP_AUTH_OK);
	cr_assert_eq(verify_as(a, T0, &f.cr, "secret", ""), SIP_AUTH_BAD_NONCE);
	/* a random secret is another secret too */
	struct sip_auth_server *r = NULL;
	cr_assert_eq(sip_auth_server_new(&r, P(REALM), NULL, 0, 300), 0);
	cr_assert_eq(verify_as(r, T0, &f.cr, "secret", ""), SIP_AUTH_BAD_NONCE);
	sip_auth_server_free(a);
	sip_auth_server_free(b);
	sip_auth_server_free(r);
}

Test(auth_server, stale_nonce_with_fake_clock)
{
	struct fixture f;
	struct sip_auth_server *srv = server(REALM, secret_a);
	challenge_answer(&f, srv, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH, "secret", "");
	cr_assert_eq(verify_as(srv, T0 + 301, &f.cr, "secret", ""), SIP_AUTH_STALE_NONCE);
	cr_assert_eq(verify_as(srv, T0 + 86400, &f.cr, "secret", ""), SIP_AUTH_STALE_NONCE);
	/* a clock that went back a little is tolerated, a lot is not */
	cr_assert_eq(verify_as(srv, T0 - 5, &f.cr, "secret", ""), SIP_AUTH_OK);
	cr_assert_eq(verify_as(srv, T0 - 1000, &f.cr, "secret", ""), SIP_AUTH_STALE_NONCE);

	/* the re-challenge carries stale=true and parses as such */
	char chal[512];
	cr_assert_gt(sip_auth_server_challenge(srv, T0 + 301, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH,
	                                       true, chal, sizeof(chal)),
	             0);
	const char *tail = ", algorithm=MD5, qop=\"auth\", stale=true";
	cr_assert_str_eq(chal + strlen(chal) - strlen(tail), tail);
	struct sip_auth_challenge ch;
	cr_assert_eq(sip_auth_challenge_parse(P(chal), &ch), 0);
	cr_assert(ch.stale);
	sip_auth_server_free(srv);
}

Test(auth_server, other_realm)
{
	struct fixture f;
	struct sip_auth_server *a = server(REALM, secret_a);
	struct sip_auth_server *b = server("other.example.com", secret_a);
	/* credentials naming another realm */
	challenge_answer(&f, b, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH, "secret", "");
	expect_pl(f.cr.realm, "other.example.com");
	cr_assert_eq(verify_as(a, T0, &f.cr, "secret", ""), SIP_AUTH_REALM_MISMATCH);
	/* a nonce of realm b presented as realm a, same secret: refused */
	f.cr.realm = P(REALM);
	cr_assert_eq(verify_as(a, T0, &f.cr, "secret", ""), SIP_AUTH_BAD_NONCE);
	/* realm comparison is exact (case-sensitive) */
	challenge_answer(&f, a, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH, "secret", "");
	f.cr.realm = P("SIP.example.com");
	cr_assert_eq(verify_as(a, T0, &f.cr, "secret", ""), SIP_AUTH_REALM_MISMATCH);
	sip_auth_server_free(a);
	sip_auth_server_free(b);
}

Test(auth_server, algorithm_qop_combinations)
{
	static const enum sip_auth_algorithm algs[] = {
	    SIP_AUTH_ALG_MD5, SIP_AUTH_ALG_MD5_SESS, SIP_AUTH_ALG_SHA256, SIP_AUTH_ALG_SHA256_SESS};
	static const unsigned qops[] = {0, SIP_AUTH_QOP_AUTH, SIP_AUTH_QOP_AUTH_INT,
	                                SIP_AUTH_QOP_AUTH | SIP_AUTH_QOP_AUTH_INT};
	const char *body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n";
	struct sip_auth_server *srv = server(REALM, secret_a);
	for (size_t i = 0; i < 4; i++) {
		for (size_t j = 0; j < 4; j++) {
			struct fixture f;
			challenge_answer(&f, srv, algs[i], qops[j], "secret", body);
			cr_assert_eq(f.cr.algorithm, algs[i]);
			cr_assert_eq(f.cr.response.l, algs[i] >= SIP_AUTH_ALG_SHA256 ? 64u : 32u);
			enum sip_auth_qop want = qops[j] & SIP_AUTH_QOP_AUTH
			                             ? SIP_AUTH_QOP_AUTH
			                             : (enum sip_auth_qop)qops[j];
			cr_assert_eq(f.cr.qop, want, "alg %zu qop %u", i, qops[j]);
			bool sess =
			    algs[i] == SIP_AUTH_ALG_MD5_SESS || algs[i] == SIP_AUTH_ALG_SHA256_SESS;
			cr_assert_eq(sip_pl_isset(f.cr.cnonce), sess || qops[j] != 0);
			cr_assert_eq(sip_pl_isset(f.cr.nc_text), qops[j] != 0);
			cr_assert_eq(verify_as(srv, T0, &f.cr, "secret", body), SIP_AUTH_OK,
			             "alg %zu qop %u: %s", i, qops[j], f.answer);
			cr_assert_eq(verify_as(srv, T0, &f.cr, "wrong", body),
			             SIP_AUTH_BAD_RESPONSE);
			/* only auth-int covers the body */
			enum sip_auth_result r = verify_as(srv, T0, &f.cr, "secret", "tampered");
			cr_assert_eq(r, want == SIP_AUTH_QOP_AUTH_INT ? SIP_AUTH_BAD_RESPONSE
			                                              : SIP_AUTH_OK);
		}
	}
	sip_auth_server_free(srv);
}

Test(auth_server, no_downgrade)
{
	struct fixture f;
	struct sip_auth_server *srv = server(REALM, secret_a);
	struct sip_auth_client_params p = {
	    .username = P("alice"),
	    .password = P("secret"),
	    .method = P("REGISTER"),
	    .uri = P("sip:" REALM),
	    .cnonce = P("c"),
	    .nc = 1,
	};
	/* SHA-256 offered, answered with MD5 */
	challenge_answer(&f, srv, SIP_AUTH_ALG_SHA256, SIP_AUTH_QOP_AUTH, "secret", "");
	f.ch.algorithm = SIP_AUTH_ALG_MD5;
	cr_assert_gt(sip_auth_client_answer(&f.ch, &p, f.answer, sizeof(f.answer)), 0);
	cr_assert_eq(sip_auth_credentials_parse(P(f.answer), &f.cr), 0);
	cr_assert_eq(verify_as(srv, T0, &f.cr, "secret", ""), SIP_AUTH_UNSUPPORTED);
	/* qop offered, answered in the RFC 2069 form */
	challenge_answer(&f, srv, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH, "secret", "");
	f.ch.qop_list = SIP_PL_NULL;
	f.ch.qop = 0;
	cr_assert_gt(sip_auth_client_answer(&f.ch, &p, f.answer, sizeof(f.answer)), 0);
	cr_assert_eq(sip_auth_credentials_parse(P(f.answer), &f.cr), 0);
	cr_assert_eq(f.cr.qop, SIP_AUTH_QOP_NONE);
	cr_assert_eq(verify_as(srv, T0, &f.cr, "secret", ""), SIP_AUTH_UNSUPPORTED);
	/* auth-int only offered, answered with auth */
	challenge_answer(&f, srv, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH_INT, "secret", "");
	f.ch.qop = SIP_AUTH_QOP_AUTH;
	cr_assert_gt(sip_auth_client_answer(&f.ch, &p, f.answer, sizeof(f.answer)), 0);
	cr_assert_eq(sip_auth_credentials_parse(P(f.answer), &f.cr), 0);
	cr_assert_eq(f.cr.qop, SIP_AUTH_QOP_AUTH);
	cr_assert_eq(verify_as(srv, T0, &f.cr, "secret", ""), SIP_AUTH_UNSUPPORTED);
	/* no qop offered, answered with one */
	challenge_answer(&f, srv, SIP_AUTH_ALG_MD5, 0, "secret", "");
	f.ch.qop_list = P("auth");
	f.ch.qop = SIP_AUTH_QOP_AUTH;
	cr_assert_gt(sip_auth_client_answer(&f.ch, &p, f.answer, sizeof(f.answer)), 0);
	cr_assert_eq(sip_auth_credentials_parse(P(f.answer), &f.cr), 0);
	cr_assert_eq(verify_as(srv, T0, &f.cr, "secret", ""), SIP_AUTH_UNSUPPORTED);
	/* unknown qop, userhash, unknown algorithm */
	challenge_answer(&f, srv, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH, "secret", "");
	struct sip_auth_credentials cr = f.cr;
	cr.qop = SIP_AUTH_QOP_OTHER;
	cr_assert_eq(verify_as(srv, T0, &cr, "secret", ""), SIP_AUTH_UNSUPPORTED);
	cr = f.cr;
	cr.userhash = true;
	cr_assert_eq(verify_as(srv, T0, &cr, "secret", ""), SIP_AUTH_UNSUPPORTED);
	cr = f.cr;
	cr.algorithm = SIP_AUTH_ALG_UNKNOWN;
	cr_assert_eq(sip_auth_server_verify(srv, T0, &cr, P("REGISTER"), P(""),
	                                    P("00000000000000000000000000000000")),
	             SIP_AUTH_UNSUPPORTED);
	sip_auth_server_free(srv);
}

Test(auth_server, stored_ha1)
{
	struct fixture f;
	struct sip_auth_server *srv = server(REALM, secret_a);
	challenge_answer(&f, srv, SIP_AUTH_ALG_SHA256, SIP_AUTH_QOP_AUTH, "secret", "");
	char ha1[SIP_AUTH_HEX_MAX];
	cr_assert_eq(
	    sip_auth_ha1(SIP_AUTH_ALG_SHA256, P("alice"), P(REALM), P("secret"), ha1, sizeof(ha1)),
	    64);
	cr_assert_eq(sip_auth_server_verify(srv, T0, &f.cr, P("REGISTER"), P(""), P(ha1)),
	             SIP_AUTH_OK);
	/* stored in upper case */
	for (char *c = ha1; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	cr_assert_eq(sip_auth_server_verify(srv, T0, &f.cr, P("REGISTER"), P(""), P(ha1)),
	             SIP_AUTH_OK);
	/* an MD5 HA1 for SHA-256 credentials, a truncated one, a non-hex one */
	char md5[SIP_AUTH_HEX_MAX];
	sip_auth_ha1(SIP_AUTH_ALG_MD5, P("alice"), P(REALM), P("secret"), md5, sizeof(md5));
	cr_assert_eq(sip_auth_server_verify(srv, T0, &f.cr, P("REGISTER"), P(""), P(md5)),
	             SIP_AUTH_MALFORMED);
	cr_assert_eq(
	    sip_auth_server_verify(srv, T0, &f.cr, P("REGISTER"), P(""), (sip_pl){ha1, 63}),
	    SIP_AUTH_MALFORMED);
	ha1[5] = 'g';
	cr_assert_eq(sip_auth_server_verify(srv, T0, &f.cr, P("REGISTER"), P(""), P(ha1)),
	             SIP_AUTH_MALFORMED);
	/* a response that is not hex of the right length */
	struct sip_auth_credentials cr = f.cr;
	cr.response = P("abc");
	cr_assert_eq(verify_as(srv, T0, &cr, "secret", ""), SIP_AUTH_MALFORMED);
	/* the client side can answer from a stored HA1 as well */
	sip_auth_ha1(SIP_AUTH_ALG_SHA256, P("alice"), P(REALM), P("secret"), ha1, sizeof(ha1));
	struct sip_auth_client_params p = {
	    .username = P("alice"),
	    .ha1_hex = P(ha1),
	    .method = P("REGISTER"),
	    .uri = P("sip:" REALM),
	    .cnonce = P("c"),
	    .nc = 7,
	};
	cr_assert_gt(sip_auth_client_answer(&f.ch, &p, f.answer, sizeof(f.answer)), 0);
	cr_assert_eq(sip_auth_credentials_parse(P(f.answer), &f.cr), 0);
	expect_pl(f.cr.nc_text, "00000007");
	cr_assert_eq(verify_as(srv, T0, &f.cr, "secret", ""), SIP_AUTH_OK);
	p.ha1_hex = P(md5); /* wrong length for SHA-256 */
	cr_assert_eq(sip_auth_client_answer(&f.ch, &p, f.answer, sizeof(f.answer)), -EINVAL);
	sip_auth_server_free(srv);
}

Test(auth_server, opaque)
{
	struct fixture f;
	struct sip_auth_server *srv = server(REALM, secret_a);
	cr_assert_eq(sip_auth_server_set_opaque(srv, P("x\"y")), 0);
	challenge_answer(&f, srv, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH, "secret", "");
	cr_assert(strstr(f.chal, ", opaque=\"x\\\"y\"") != NULL, "%s", f.chal);
	cr_assert(strstr(f.answer, ", opaque=\"x\\\"y\"") != NULL, "%s", f.answer);
	cr_assert(sip_auth_value_eq(f.cr.opaque, P("x\"y")));
	cr_assert_eq(verify_as(srv, T0, &f.cr, "secret", ""), SIP_AUTH_OK);
	struct sip_auth_credentials cr = f.cr;
	cr.opaque = P("other");
	cr_assert_eq(verify_as(srv, T0, &cr, "secret", ""), SIP_AUTH_BAD_NONCE);
	cr.opaque = SIP_PL_NULL;
	cr_assert_eq(verify_as(srv, T0, &cr, "secret", ""), SIP_AUTH_BAD_NONCE);
	cr_assert_eq(sip_auth_server_set_opaque(srv, P("a\r\nb")), -EINVAL);
	cr_assert_eq(sip_auth_server_set_opaque(srv, SIP_PL("")), 0);
	cr_assert_eq(verify_as(srv, T0, &cr, "secret", ""), SIP_AUTH_OK);
	sip_auth_server_free(srv);
}

Test(auth_server, escaped_realm_and_username)
{
	/* a realm and a username that need escaping: the hashes use the
	 * unescaped text on both sides */
	const char *realm = "Bob's \"home\" \\ office";
	struct sip_auth_server *srv = server(realm, secret_a);
	char chal[512], answer[1024];
	cr_assert_gt(sip_auth_server_challenge(srv, T0, SIP_AUTH_ALG_SHA256, SIP_AUTH_QOP_AUTH,
	                                       false, chal, sizeof(chal)),
	             0);
	cr_assert(strstr(chal, "realm=\"Bob's \\\"home\\\" \\\\ office\"") != NULL, "%s", chal);
	struct sip_auth_challenge ch;
	cr_assert_eq(sip_auth_challenge_parse(P(chal), &ch), 0);
	cr_assert(sip_auth_value_eq(ch.realm, P(realm)));
	cr_assert(!sip_auth_value_eq(ch.realm, P("Bob's")));
	struct sip_auth_client_params p = {
	    .username = P("a\"l\\ice"),
	    .password = P("pw"),
	    .method = P("REGISTER"),
	    .uri = P("sip:x"),
	    .cnonce = P("q\"c"),
	    .nc = 2,
	};
	cr_assert_gt(sip_auth_client_answer(&ch, &p, answer, sizeof(answer)), 0);
	cr_assert(strstr(answer, "username=\"a\\\"l\\\\ice\"") != NULL, "%s", answer);
	struct sip_auth_credentials cr;
	cr_assert_eq(sip_auth_credentials_parse(P(answer), &cr), 0);
	cr_assert(sip_auth_value_eq(cr.username, P("a\"l\\ice")));
	cr_assert(sip_auth_value_eq(cr.cnonce, P("q\"c")));
	char ha1[SIP_AUTH_HEX_MAX], unq[64];
	cr_assert_eq(sip_unquote(cr.username, unq, sizeof(unq)), 7);
	cr_assert_str_eq(unq, "a\"l\\ice");
	sip_auth_ha1(SIP_AUTH_ALG_SHA256, P("a\"l\\ice"), P(realm), P("pw"), ha1, sizeof(ha1));
	cr_assert_eq(sip_auth_server_verify(srv, T0, &cr, P("REGISTER"), P(""), P(ha1)),
	             SIP_AUTH_OK);
	sip_auth_server_free(srv);
}

Test(auth_server, constructor_and_challenge_errors)
{
	struct sip_auth_server *srv = NULL;
	cr_assert_eq(sip_auth_server_new(&srv, P(""), secret_a, 32, 60), -EINVAL);
	cr_assert_eq(sip_auth_server_new(&srv, P("a\nb"), secret_a, 32, 60), -EINVAL);
	cr_assert_eq(sip_auth_server_new(&srv, P("a"), secret_a, 16, 60), -EINVAL);
	cr_assert_null(srv);
	srv = server(REALM, secret_a);
	char out[256];
	cr_assert_eq(
	    sip_auth_server_challenge(srv, T0, SIP_AUTH_ALG_UNKNOWN, 0, false, out, sizeof(out)),
	    -EINVAL);
	cr_assert_eq(
	    sip_auth_server_challenge(srv, T0, SIP_AUTH_ALG_MD5, 8, false, out, sizeof(out)),
	    -EINVAL);
	/* RFC 2069 form and both qops */
	cr_assert_gt(
	    sip_auth_server_challenge(srv, T0, SIP_AUTH_ALG_MD5, 0, false, out, sizeof(out)), 0);
	cr_assert(strstr(out, "qop") == NULL);
	cr_assert_gt(sip_auth_server_challenge(srv, T0, SIP_AUTH_ALG_SHA256_SESS,
	                                       SIP_AUTH_QOP_AUTH | SIP_AUTH_QOP_AUTH_INT, false,
	                                       out, sizeof(out)),
	             0);
	const char *tail = ", algorithm=SHA-256-sess, qop=\"auth,auth-int\"";
	cr_assert_str_eq(out + strlen(out) - strlen(tail), tail);
	cr_assert_eq(sip_auth_server_verify(srv, T0, NULL, P("REGISTER"), P(""), P("")),
	             SIP_AUTH_MALFORMED);
	sip_auth_server_free(srv);
	sip_auth_server_free(NULL);
}

/* ---- client ---- */

Test(auth_client, choice_of_qop_and_errors)
{
	struct sip_auth_challenge ch;
	struct sip_auth_client_params p = {
	    .username = P("u"),
	    .password = P("p"),
	    .method = P("INVITE"),
	    .uri = P("sip:bob@example.com"),
	    .cnonce = P("cn"),
	    .nc = 0x1a,
	};
	char out[512];
	/* auth-int only when auth is not offered */
	cr_assert_eq(sip_auth_challenge_parse(P("Digest realm=r, nonce=n, qop=\"auth-int\""), &ch),
	             0);
	cr_assert_gt(sip_auth_client_answer(&ch, &p, out, sizeof(out)), 0);
	cr_assert(strstr(out, ", qop=auth-int, nc=0000001a") != NULL, "%s", out);
	cr_assert_eq(
	    sip_auth_challenge_parse(P("Digest realm=r, nonce=n, qop=\"auth-int,auth\""), &ch), 0);
	cr_assert_gt(sip_auth_client_answer(&ch, &p, out, sizeof(out)), 0);
	cr_assert(strstr(out, ", qop=auth, nc=0000001a") != NULL, "%s", out);
	/* no qop: RFC 2069 form */
	cr_assert_eq(sip_auth_challenge_parse(P("Digest realm=\"r\", nonce=\"n\""), &ch), 0);
	cr_assert_gt(sip_auth_client_answer(&ch, &p, out, sizeof(out)), 0);
	cr_assert(strstr(out, "qop") == NULL && strstr(out, "cnonce") == NULL, "%s", out);
	cr_assert(strstr(out, "nc=") == NULL);
	/* MD5-sess without qop still sends its cnonce */
	cr_assert_eq(
	    sip_auth_challenge_parse(P("Digest realm=\"r\", nonce=\"n\", algorithm=md5-SESS"), &ch),
	    0);
	cr_assert_eq(ch.algorithm, SIP_AUTH_ALG_MD5_SESS);
	cr_assert_gt(sip_auth_client_answer(&ch, &p, out, sizeof(out)), 0);
	expect_pl(param_of(out, "cnonce"), "cn");
	cr_assert(strstr(out, "algorithm=MD5-sess") != NULL);
	cr_assert(strstr(out, "qop") == NULL);
	p.cnonce = SIP_PL_NULL;
	cr_assert_eq(sip_auth_client_answer(&ch, &p, out, sizeof(out)), -EINVAL);
	p.cnonce = P("cn");
	/* only unknown qops, an unknown algorithm */
	cr_assert_eq(sip_auth_challenge_parse(P("Digest realm=r, nonce=n, qop=\"x-future\""), &ch),
	             0);
	cr_assert_eq(ch.qop, 0);
	cr_assert_eq(sip_auth_client_answer(&ch, &p, out, sizeof(out)), -ENOTSUP);
	cr_assert_eq(
	    sip_auth_challenge_parse(P("Digest realm=r, nonce=n, algorithm=SHA-512-256"), &ch), 0);
	cr_assert_eq(ch.algorithm, SIP_AUTH_ALG_UNKNOWN);
	expect_pl(ch.algorithm_name, "SHA-512-256");
	cr_assert_eq(sip_auth_client_answer(&ch, &p, out, sizeof(out)), -ENOTSUP);
	/* control characters cannot be smuggled into the header */
	cr_assert_eq(sip_auth_challenge_parse(P("Digest realm=r, nonce=n"), &ch), 0);
	p.username = P("u\r\nX-Evil: 1");
	cr_assert_eq(sip_auth_client_answer(&ch, &p, out, sizeof(out)), -EINVAL);
	p.username = P("u");
	p.uri = P("sip:a\nb");
	cr_assert_eq(sip_auth_client_answer(&ch, &p, out, sizeof(out)), -EINVAL);
	p.uri = P("sip:a");
	p.method = P("REG ISTER");
	cr_assert_eq(sip_auth_client_answer(&ch, &p, out, sizeof(out)), -EINVAL);
}

/* ---- parsing edge cases ---- */

Test(auth_parse, folds_case_and_unquoted)
{
	struct sip_auth_challenge ch;
	const char *v = "  dIgEsT   REALM\r\n =\r\n\t\"r\"\r\n ,NONCE = abc.def ,\r\n  Stale=TRUE, "
	                "ALGORITHM=sha-256, Domain=\"sip:a sip:b\", qop=auth  ";
	cr_assert_eq(sip_auth_challenge_parse(P(v), &ch), 0);
	expect_pl(ch.scheme, "dIgEsT");
	expect_pl(ch.realm, "r");
	expect_pl(ch.nonce, "abc.def");
	cr_assert(ch.stale);
	cr_assert_eq(ch.algorithm, SIP_AUTH_ALG_SHA256);
	expect_pl(ch.domain, "sip:a sip:b");
	cr_assert_eq(ch.qop, SIP_AUTH_QOP_AUTH);
	/* stale=false, or anything but true */
	cr_assert_eq(sip_auth_challenge_parse(P("Digest realm=r,nonce=n,stale=false"), &ch), 0);
	cr_assert(!ch.stale);
	cr_assert_eq(sip_auth_challenge_parse(P("Digest realm=r,nonce=n,stale=\"yes\""), &ch), 0);
	cr_assert(!ch.stale);
	/* a trailing CRLF of the header line is not part of the value */
	cr_assert_eq(sip_auth_challenge_parse(P("Digest realm=r,nonce=n\r\n"), &ch), 0);
	expect_pl(ch.nonce, "n");
}

Test(auth_parse, quoted_escapes)
{
	struct sip_auth_challenge ch;
	cr_assert_eq(sip_auth_challenge_parse(
	                 P("Digest realm=\"a\\\"b\\\\c, d\", nonce=\"x,y=z\", opaque=\"\""), &ch),
	             0);
	expect_pl(ch.realm, "a\\\"b\\\\c, d"); /* the view keeps the escapes */
	cr_assert(sip_auth_value_eq(ch.realm, P("a\"b\\c, d")));
	cr_assert(!sip_auth_value_eq(ch.realm, P("a\"b\\c, ")));
	cr_assert(!sip_auth_value_eq(ch.realm, P("a\"b\\c, dd")));
	expect_pl(ch.nonce, "x,y=z");
	cr_assert(sip_pl_isset(ch.opaque));
	cr_assert_eq(ch.opaque.l, 0);
	cr_assert(sip_auth_value_eq(ch.opaque, P("")));
	cr_assert(!sip_auth_value_eq(SIP_PL_NULL, P("")));
	char buf[32];
	cr_assert_eq(sip_unquote(ch.realm, buf, sizeof(buf)), 8);
	cr_assert_str_eq(buf, "a\"b\\c, d");
}

Test(auth_parse, unknown_params_and_empty_elements)
{
	struct sip_auth_credentials cr;
	const char *v = "Digest ,username=\"u\", x-foo=\"a, b, response=\\\"bad\\\"\", realm=r,,"
	                " nonce=n, uri=\"sip:a@b\", response=\"0123\", charset=UTF-8,";
	cr_assert_eq(sip_auth_credentials_parse(P(v), &cr), 0);
	expect_pl(cr.username, "u");
	expect_pl(cr.response, "0123");
	expect_pl(cr.uri, "sip:a@b");
	cr_assert_eq(cr.qop, SIP_AUTH_QOP_NONE);
	cr_assert(!sip_pl_isset(cr.qop_name));
	cr_assert(!sip_pl_isset(cr.cnonce));
	/* unknown params may repeat; known ones may not */
	cr_assert_eq(
	    sip_auth_credentials_parse(
	        P("Digest username=u, realm=r, nonce=n, uri=x, response=y, a=1, a=2"), &cr),
	    0);
	cr_assert_eq(sip_auth_credentials_parse(
	                 P("Digest username=u, realm=r, nonce=n, uri=x, response=y, qop=auth-int, "
	                   "nc=FFFFFFFF, cnonce=c, userhash=true, algorithm=MD5"),
	                 &cr),
	             0);
	cr_assert_eq(cr.qop, SIP_AUTH_QOP_AUTH_INT);
	cr_assert_eq(cr.nc, 0xffffffffu);
	cr_assert(cr.userhash);
	cr_assert_eq(sip_auth_credentials_parse(
	                 P("Digest username=u, realm=r, nonce=n, uri=x, response=y, qop=\"x-new\", "
	                   "nc=00000001, cnonce=c"),
	                 &cr),
	             0);
	cr_assert_eq(cr.qop, SIP_AUTH_QOP_OTHER);
}

Test(auth_parse, duplicates)
{
	struct sip_auth_challenge ch;
	struct sip_auth_credentials cr;
	cr_assert_eq(sip_auth_challenge_parse(P("Digest realm=a, nonce=n, Realm=b"), &ch), -EINVAL);
	cr_assert_eq(
	    sip_auth_challenge_parse(P("Digest realm=a, nonce=n, qop=auth, QOP=auth"), &ch),
	    -EINVAL);
	cr_assert_eq(
	    sip_auth_challenge_parse(P("Digest realm=a, nonce=n, stale=true, stale=true"), &ch),
	    -EINVAL);
	cr_assert_eq(
	    sip_auth_credentials_parse(
	        P("Digest username=u, realm=r, nonce=n, uri=x, response=y, response=z"), &cr),
	    -EINVAL);
	cr_assert_eq(
	    sip_auth_credentials_parse(
	        P("Digest username=u, USERNAME=v, realm=r, nonce=n, uri=x, response=y"), &cr),
	    -EINVAL);
}

Test(auth_parse, missing_required)
{
	struct sip_auth_challenge ch;
	struct sip_auth_credentials cr;
	cr_assert_eq(sip_auth_challenge_parse(P("Digest realm=a"), &ch), -EINVAL);
	cr_assert_eq(sip_auth_challenge_parse(P("Digest nonce=a"), &ch), -EINVAL);
	cr_assert_eq(sip_auth_challenge_parse(P("Digest"), &ch), -EINVAL);
	const char *fields[] = {"username=u", "realm=r", "nonce=n", "uri=x", "response=y"};
	for (int skip = 0; skip < 5; skip++) {
		char v[256] = "Digest ";
		for (int i = 0; i < 5; i++) {
			if (i == skip)
				continue;
			strcat(v, fields[i]);
			strcat(v, ", ");
		}
		cr_assert_eq(sip_auth_credentials_parse(P(v), &cr), -EINVAL, "%s", v);
	}
	/* qop needs cnonce and nc; -sess needs cnonce */
	cr_assert_eq(sip_auth_credentials_parse(
	                 P("Digest username=u, realm=r, nonce=n, uri=x, response=y, qop=auth, "
	                   "nc=00000001"),
	                 &cr),
	             -EINVAL);
	cr_assert_eq(sip_auth_credentials_parse(
	                 P("Digest username=u, realm=r, nonce=n, uri=x, response=y, qop=auth, "
	                   "cnonce=c"),
	                 &cr),
	             -EINVAL);
	cr_assert_eq(
	    sip_auth_credentials_parse(P("Digest username=u, realm=r, nonce=n, uri=x, response=y, "
	                                 "algorithm=SHA-256-sess"),
	                               &cr),
	    -EINVAL);
}

Test(auth_parse, bad_nc)
{
	struct sip_auth_credentials cr;
	const char *ncs[] = {"0000001", "000000001", "0000000g", "\"\"", "-0000001", "0x000001"};
	for (size_t i = 0; i < sizeof(ncs) / sizeof(ncs[0]); i++) {
		char v[256];
		snprintf(v, sizeof(v),
		         "Digest username=u, realm=r, nonce=n, uri=x, response=y, qop=auth, "
		         "cnonce=c, nc=%s",
		         ncs[i]);
		cr_assert_eq(sip_auth_credentials_parse(P(v), &cr), -EINVAL, "%s", v);
	}
}

Test(auth_parse, other_schemes_and_garbage)
{
	struct sip_auth_challenge ch;
	struct sip_auth_credentials cr;
	cr_assert_eq(sip_auth_challenge_parse(P("Basic realm=\"x\""), &ch), -ENOTSUP);
	cr_assert_eq(sip_auth_credentials_parse(P("Basic dXNlcjpwYXNz"), &cr), -ENOTSUP);
	cr_assert_eq(sip_auth_challenge_parse(P("Digestrealm=a, nonce=b"), &ch), -EINVAL);
	const char *garbage[] = {
	    "",
	    "   ",
	    "\"Digest\" realm=a, nonce=b",
	    "Digest realm=a nonce=b",
	    "Digest realm=a; nonce=b",
	    "Digest realm=\"a, nonce=b",
	    "Digest realm=a, nonce=",
	    "Digest realm=a, nonce",
	    "Digest realm=a, =b, nonce=c",
	    "Digest realm=a, nonce=b\r\nX: y",
	    "Digest realm=a, nonce=b\r\n",
	    "Digest realm=a,\r\nnonce=b",
	    "Digest realm=sip:x, nonce=b",
	    "Digest realm=\"a\"b, nonce=c",
	    "Digest realm=a, nonce=b, qop=\"auth;x\"",
	    "Digest realm=a, nonce=b, qop=\"\"",
	    "Digest realm=\"a\\",
	    "Digest realm=\"a\x01\", nonce=b",
	    "Digest realm=a, nonce=b Basic realm=c",
	};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		/* parse a copy of exactly the string's length so ASan sees overreads */
		size_t n = strlen(garbage[i]);
		char *copy = malloc(n ? n : 1);
		memcpy(copy, garbage[i], n);
		int err = sip_auth_challenge_parse((sip_pl){copy, n}, &ch);
		/* the trailing bare CRLF case is trimmed as the end of the line */
		if (!strcmp(garbage[i], "Digest realm=a, nonce=b\r\n"))
			cr_assert_eq(err, 0);
		else
			cr_assert_eq(err, -EINVAL, "accepted: %s", garbage[i]);
		free(copy);
	}
	cr_assert_eq(sip_auth_challenge_parse(SIP_PL_NULL, &ch), -EINVAL);
}

/* ---- output bounds ---- */

Test(auth_bounds, enospc_everywhere)
{
	struct sip_auth_server *srv = server(REALM, secret_a);
	sip_auth_server_set_opaque(srv, P("op"));
	char chal[512], full[512], small[512];
	int n = sip_auth_server_challenge(srv, T0, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH, true, chal,
	                                  sizeof(chal));
	cr_assert_gt(n, 0);
	for (int size = 0; size <= n; size++) {
		memset(small, 'X', sizeof(small));
		cr_assert_eq(sip_auth_server_challenge(srv, T0, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH,
		                                       true, small, (size_t)size),
		             -ENOSPC, "size %d", size);
		if (size)
			cr_assert_eq(small[0], '\0');
		cr_assert_eq(small[size], 'X', "wrote past the buffer at size %d", size);
	}
	cr_assert_eq(sip_auth_server_challenge(srv, T0, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH, true,
	                                       small, (size_t)n + 1),
	             n);

	struct sip_auth_challenge ch;
	cr_assert_eq(sip_auth_challenge_parse(P(chal), &ch), 0);
	struct sip_auth_client_params p = {
	    .username = P("alice"),
	    .password = P("secret"),
	    .method = P("REGISTER"),
	    .uri = P("sip:" REALM),
	    .cnonce = P("c"),
	    .nc = 1,
	};
	n = sip_auth_client_answer(&ch, &p, full, sizeof(full));
	cr_assert_gt(n, 0);
	for (int size = 0; size <= n; size++) {
		memset(small, 'X', sizeof(small));
		cr_assert_eq(sip_auth_client_answer(&ch, &p, small, (size_t)size), -ENOSPC);
		cr_assert_eq(small[size], 'X');
	}
	cr_assert_eq(sip_auth_client_answer(&ch, &p, small, (size_t)n + 1), n);
	cr_assert_str_eq(small, full);
	sip_auth_server_free(srv);
}

Test(auth_misc, names)
{
	cr_assert_str_eq(sip_auth_algorithm_name(SIP_AUTH_ALG_SHA256_SESS), "SHA-256-sess");
	cr_assert_null(sip_auth_algorithm_name(SIP_AUTH_ALG_UNKNOWN));
	cr_assert_eq(sip_auth_algorithm_from_name(P("sha-256")), SIP_AUTH_ALG_SHA256);
	cr_assert_eq(sip_auth_algorithm_from_name(P("SHA-256-SESS")), SIP_AUTH_ALG_SHA256_SESS);
	cr_assert_eq(sip_auth_algorithm_from_name(P("SHA256")), SIP_AUTH_ALG_UNKNOWN);
	cr_assert_eq(sip_auth_hex_len(SIP_AUTH_ALG_MD5_SESS), 32);
	cr_assert_eq(sip_auth_hex_len(SIP_AUTH_ALG_UNKNOWN), 0);
	cr_assert_str_eq(sip_auth_result_str(SIP_AUTH_STALE_NONCE), "stale nonce");
}
