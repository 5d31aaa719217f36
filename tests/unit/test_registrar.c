/* Unit tests: the registrar — the challenge SIP.js accepts, the digest round
 * trip with the real client code, failed-authentication limits, RFC 3261
 * §10.3 rules (Expires, 423, "*", CSeq order, queries), bindings per flow and
 * their moves, RFC 5626 outbound headers, and expiry on a fake clock. Every
 * response is parsed back with sip_msg_parse. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sip/sip_auth.h"
#include "sip/sip_build.h"
#include "sip/sip_msg.h"
#include "sip/sip_registrar.h"

#define REALM "example.com"

static sip_pl P(const char *s)
{
	return sip_pl_from_cstr(s);
}

/* ---- a user database: passwords turned into HA1 on lookup ---- */

static const struct {
	const char *user, *password;
} users[] = {{"alice", "wonderland"}, {"bob", "builder"}};
static int lookups;

static int lookup_user(void *arg, sip_pl user, enum sip_auth_algorithm alg, char *ha1, size_t size)
{
	(void)arg;
	lookups++;
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (sip_pl_eq_cstr(user, users[i].user))
			return sip_auth_ha1(alg, user, SIP_PL(REALM), P(users[i].password), ha1,
			                    size) < 0
			           ? -EIO
			           : 0;
	return -ENOENT;
}

static char logbuf[8192];
static void on_log(void *arg, const char *line)
{
	(void)arg;
	size_t used = strlen(logbuf), n = strlen(line);
	if (used + n + 2 > sizeof(logbuf))
		return; /* full: later lines are not kept */
	memcpy(logbuf + used, line, n);
	memcpy(logbuf + used + n, "\n", 2);
}

static struct sip_registrar *reg;

static struct sip_registrar_config base_config(void)
{
	return (struct sip_registrar_config){
	    .realm = SIP_PL(REALM),
	    .lookup_user = lookup_user,
	    .on_log = on_log,
	};
}

static void setup_with(const struct sip_registrar_config *cfg)
{
	logbuf[0] = '\0';
	lookups = 0;
	cr_assert_eq(sip_registrar_new(&reg, cfg), 0);
}

static void setup(void)
{
	struct sip_registrar_config cfg = base_config();
	setup_with(&cfg);
}

static void teardown(void)
{
	sip_registrar_free(reg);
	reg = NULL;
}

/* ---- requests and responses ---- */

struct req {
	const char *user;     /* To/From user; default alice */
	const char *contacts; /* Contact header lines, each ending in \r\n; NULL: none */
	const char *expires;  /* Expires header value or NULL */
	const char *call_id;  /* default "call-1" */
	unsigned cseq;        /* default 1 */
	const char *supported;
	const char *extra; /* more header lines */
};

/* A REGISTER shaped like SIP.js 0.21's. */
static int format_register(char *buf, size_t size, const struct req *r, const char *auth)
{
	const char *user = r->user ? r->user : "alice";
	return snprintf(
	    buf, size,
	    "REGISTER sip:" REALM " SIP/2.0\r\n"
	    "Via: SIP/2.0/WSS 8q6c5pf1b6nj.invalid;branch=z9hG4bK%u\r\n"
	    "Max-Forwards: 70\r\n"
	    "To: <sip:%s@" REALM ">\r\n"
	    "From: \"A\" <sip:%s@" REALM ">;tag=3n2qg8u0bo\r\n"
	    "Call-ID: %s\r\n"
	    "CSeq: %u REGISTER\r\n"
	    "%s"
	    "%s%s%s"
	    "Supported: %s\r\n"
	    "%s%s%s"
	    "%s"
	    "User-Agent: SIP.js/0.21.2\r\n"
	    "Content-Length: 0\r\n\r\n",
	    5137462u + (r->cseq ? r->cseq : 1), user, user, r->call_id ? r->call_id : "call-1",
	    r->cseq ? r->cseq : 1, r->contacts ? r->contacts : "", r->expires ? "Expires: " : "",
	    r->expires ? r->expires : "", r->expires ? "\r\n" : "",
	    r->supported ? r->supported : "path, gruu, outbound", auth ? "Authorization: " : "",
	    auth ? auth : "", auth ? "\r\n" : "", r->extra ? r->extra : "");
}

struct resp {
	char req[4096];
	struct sip_buf buf;
	struct sip_msg *m;
	int status;
};

static void resp_free(struct resp *rs)
{
	sip_buf_free(&rs->buf);
	sip_msg_free(rs->m);
	rs->m = NULL;
}

/* Hand req to the registrar, check the result is a parsable response whose
 * status is the returned one. */
static int send_req(struct resp *rs, const struct req *r, const char *auth, void *flow,
                    uint64_t flow_id, const char *source, uint64_t now_ms)
{
	resp_free(rs);
	int n = format_register(rs->req, sizeof(rs->req), r, auth);
	cr_assert(n > 0 && (size_t)n < sizeof(rs->req));
	struct sip_msg *in = sip_msg_new(NULL);
	size_t used;
	struct sip_parse_error err;
	cr_assert_eq(sip_msg_parse(in, rs->req, (size_t)n, SIP_PARSE_DATAGRAM, &used, &err),
	             SIP_PARSE_OK, "request did not parse: %s\n%s", err.reason, rs->req);
	sip_buf_init(&rs->buf, 0);
	struct sip_registrar_request rq = {
	    .msg = in, .flow = flow, .flow_id = flow_id, .source = P(source), .now_ms = now_ms};
	rs->status = sip_registrar_handle(reg, &rq, &rs->buf);
	sip_msg_free(in);
	cr_assert(rs->status >= 200, "handle returned %d", rs->status);
	rs->m = sip_msg_new(NULL);
	cr_assert_eq(sip_msg_parse(rs->m, rs->buf.p, rs->buf.len, SIP_PARSE_DATAGRAM, &used, &err),
	             SIP_PARSE_OK, "response did not parse: %s\n%.*s", err.reason, (int)rs->buf.len,
	             rs->buf.p);
	cr_assert_eq(sip_msg_status(rs->m), rs->status);
	/* what every response repeats: the client's one Via, a To tag */
	cr_assert_eq(sip_msg_via_count(rs->m), 1);
	cr_assert(sip_pl_isset(sip_msg_to(rs->m)->tag));
	return rs->status;
}

static unsigned count_values(const struct sip_msg *m, enum sip_hdr_id id)
{
	struct sip_value_iter it = {0};
	sip_pl v;
	unsigned n = 0;
	while (sip_msg_value_next(m, id, &it, &v))
		n++;
	return n;
}

static unsigned count_fields(const struct sip_msg *m, enum sip_hdr_id id)
{
	unsigned n = 0;
	for (const struct sip_hdr *h = sip_msg_hdr(m, id); h; h = sip_msg_hdr_next(m, h))
		n++;
	return n;
}

/* The Authorization answering the first challenge of a 401. */
static void answer(const struct resp *rs, const char *user, const char *password, char *out,
                   size_t size)
{
	cr_assert_eq(rs->status, 401);
	const struct sip_hdr *h = sip_msg_hdr(rs->m, SIP_HDR_WWW_AUTHENTICATE);
	cr_assert_not_null(h);
	struct sip_auth_challenge ch;
	cr_assert_eq(sip_auth_challenge_parse(h->value, &ch), 0);
	struct sip_auth_client_params p = {
	    .username = P(user),
	    .password = P(password),
	    .method = SIP_PL("REGISTER"),
	    .uri = SIP_PL("sip:" REALM),
	    .cnonce = SIP_PL("c0ffee"),
	    .nc = 1,
	};
	cr_assert_gt(sip_auth_client_answer(&ch, &p, out, size), 0);
}

/* REGISTER, 401, REGISTER with credentials: the final response. */
static int register_as(struct resp *rs, const struct req *r, const char *password, void *flow,
                       uint64_t flow_id, const char *source, uint64_t now_ms)
{
	struct req first = *r;
	cr_assert_eq(send_req(rs, &first, NULL, flow, flow_id, source, now_ms), 401);
	char auth[1024];
	answer(rs, r->user ? r->user : "alice", password, auth, sizeof(auth));
	return send_req(rs, r, auth, flow, flow_id, source, now_ms);
}

/* The ;expires= of the response's Contact whose URI is uri; -1 if absent. */
static long contact_expires(const struct sip_msg *m, const char *uri)
{
	struct sip_value_iter it = {0};
	sip_pl v;
	while (sip_msg_value_next(m, SIP_HDR_CONTACT, &it, &v)) {
		struct sip_contact c;
		cr_assert_eq(sip_contact_parse(v, &c), 0);
		if (sip_pl_eq_cstr(c.addr.uri_text, uri)) {
			cr_assert(c.has_expires, "Contact without expires");
			return (long)c.expires;
		}
	}
	return -1;
}

static int flowA, flowB; /* two connections, by address */
static char many_flows[8];
#define SIPJS_CONTACT                                                                              \
	"Contact: <sip:k3b4l2rj@8q6c5pf1b6nj.invalid;transport=ws>;+sip.ice;reg-id=1;"             \
	"+sip.instance=\"<urn:uuid:50a3d1a3-7a9d-4e61-97d3-fd8b8c27d5cb>\";expires=600\r\n"
#define SIPJS_URI "sip:k3b4l2rj@8q6c5pf1b6nj.invalid;transport=ws"
#define SRC       "192.0.2.7"

TestSuite(registrar, .init = setup, .fini = teardown);

Test(registrar, challenge_is_one_md5_auth_header)
{
	struct resp rs = {0};
	struct req r = {.contacts = SIPJS_CONTACT, .expires = "600"};
	cr_assert_eq(send_req(&rs, &r, NULL, &flowA, 1, SRC, 1000), 401);
	cr_assert_eq(count_fields(rs.m, SIP_HDR_WWW_AUTHENTICATE), 1);
	struct sip_auth_challenge ch;
	cr_assert_eq(
	    sip_auth_challenge_parse(sip_msg_hdr(rs.m, SIP_HDR_WWW_AUTHENTICATE)->value, &ch), 0);
	cr_assert_eq(ch.algorithm, SIP_AUTH_ALG_MD5);
	cr_assert(sip_pl_eq_cstr(ch.algorithm_name, "MD5"));
	cr_assert(sip_pl_eq_cstr(ch.qop_list, "auth"));
	cr_assert_eq(ch.qop, SIP_AUTH_QOP_AUTH);
	cr_assert(sip_pl_eq_cstr(ch.realm, REALM));
	cr_assert(!ch.stale);
	cr_assert_eq(sip_registrar_binding_count(reg), 0);
	cr_assert_eq(lookups, 0, "no credentials: no user lookup");
	resp_free(&rs);
}

Test(registrar, sipjs_register_then_200_lists_contact_with_expires)
{
	struct resp rs = {0};
	struct req r = {.contacts = SIPJS_CONTACT, .expires = "600"};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	cr_assert_eq(count_values(rs.m, SIP_HDR_CONTACT), 1);
	cr_assert_eq(contact_expires(rs.m, SIPJS_URI), 600);
	/* the instance and reg-id come back (RFC 5626 §6) */
	struct sip_value_iter it = {0};
	sip_pl v;
	cr_assert(sip_msg_value_next(rs.m, SIP_HDR_CONTACT, &it, &v));
	struct sip_contact c;
	cr_assert_eq(sip_contact_parse(v, &c), 0);
	cr_assert(sip_pl_eq_cstr(c.instance, "<urn:uuid:50a3d1a3-7a9d-4e61-97d3-fd8b8c27d5cb>"));
	cr_assert(c.has_reg_id && c.reg_id == 1);
	cr_assert(sip_msg_has_option(rs.m, SIP_HDR_SUPPORTED, "outbound"));
	cr_assert_eq(sip_registrar_binding_count(reg), 1);
	cr_assert_eq(sip_registrar_aor_count(reg), 1);
	/* the same Via and Call-ID as the request */
	cr_assert(sip_pl_eq_cstr(sip_msg_via(rs.m)->branch, "z9hG4bK5137463"));
	cr_assert(sip_pl_eq_cstr(sip_msg_call_id(rs.m), "call-1"));
	resp_free(&rs);
}

struct seen {
	unsigned n;
	void *flow[8];
	uint64_t flow_id[8];
	char contact[8][128];
	uint16_t q[8];
};
static int collect(void *arg, const struct sip_registrar_binding *b)
{
	struct seen *s = arg;
	if (s->n < 8) {
		s->flow[s->n] = b->flow;
		s->flow_id[s->n] = b->flow_id;
		s->q[s->n] = b->q;
		snprintf(s->contact[s->n], sizeof(s->contact[0]), "%.*s", (int)b->contact.l,
		         b->contact.p);
	}
	s->n++;
	return 0;
}

Test(registrar, lookup_gives_binding_with_flow)
{
	struct resp rs = {0};
	struct req r = {.contacts = SIPJS_CONTACT};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 11, SRC, 1000), 200);
	struct seen s = {0};
	/* host compared case-insensitively */
	cr_assert_eq(sip_registrar_lookup(reg, P("alice"), P("EXAMPLE.com"), 2000, collect, &s), 1);
	cr_assert_eq(s.flow[0], &flowA);
	cr_assert_eq(s.flow_id[0], 11);
	cr_assert_str_eq(s.contact[0], SIPJS_URI);
	cr_assert_eq(s.q[0], 1000);
	cr_assert_eq(sip_registrar_lookup(reg, P("Alice"), P("example.com"), 2000, NULL, NULL), 0,
	             "user part is case-sensitive");
	cr_assert_eq(sip_registrar_lookup(reg, P("al%69ce"), P("example.com"), 2000, NULL, NULL), 1,
	             "escapes resolve");
	resp_free(&rs);
}

Test(registrar, single_domain_ignores_the_host)
{
	sip_registrar_free(reg);
	struct sip_registrar_config cfg = base_config();
	cfg.single_domain = true;
	setup_with(&cfg);
	struct resp rs = {0};
	struct req r = {.contacts = SIPJS_CONTACT};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 11, SRC, 1000), 200);
	struct seen s = {0};
	cr_assert_eq(sip_registrar_lookup(reg, P("alice"), P("192.0.2.1"), 2000, collect, &s), 1,
	             "any host names the one domain");
	cr_assert_eq(s.flow[0], &flowA);
	cr_assert_eq(sip_registrar_lookup(reg, P("alice"), SIP_PL_NULL, 2000, NULL, NULL), 1,
	             "no host at all (a tel: URI) too");
	cr_assert_eq(sip_registrar_lookup(reg, P("bob"), P("example.com"), 2000, NULL, NULL), 0);
	resp_free(&rs);
}

Test(registrar, wrong_password_401_again_and_logged_without_secrets)
{
	struct resp rs = {0};
	struct req r = {.contacts = SIPJS_CONTACT};
	cr_assert_eq(send_req(&rs, &r, NULL, &flowA, 1, SRC, 1000), 401);
	char auth[1024];
	answer(&rs, "alice", "guess", auth, sizeof(auth));
	struct sip_auth_credentials cred;
	cr_assert_eq(sip_auth_credentials_parse(P(auth), &cred), 0);
	char nonce[128], response[128];
	snprintf(nonce, sizeof(nonce), "%.*s", (int)cred.nonce.l, cred.nonce.p);
	snprintf(response, sizeof(response), "%.*s", (int)cred.response.l, cred.response.p);
	r.cseq = 2;
	cr_assert_eq(send_req(&rs, &r, auth, &flowA, 1, SRC, 1000), 401);
	cr_assert_eq(count_fields(rs.m, SIP_HDR_WWW_AUTHENTICATE), 1);
	cr_assert_eq(sip_registrar_binding_count(reg), 0);
	cr_assert(strstr(logbuf, "authentication failed for user 'alice'"), "%s", logbuf);
	cr_assert(strstr(logbuf, SRC));
	cr_assert_null(strstr(logbuf, "guess"));
	cr_assert_null(strstr(logbuf, "wonderland"));
	cr_assert_null(strstr(logbuf, nonce));
	cr_assert_null(strstr(logbuf, response));
	resp_free(&rs);
}

Test(registrar, unknown_user_looks_like_wrong_password)
{
	struct resp rs = {0};
	struct req r = {.user = "mallory", .contacts = SIPJS_CONTACT};
	cr_assert_eq(register_as(&rs, &r, "x", &flowA, 1, SRC, 1000), 401);
	cr_assert_eq(count_fields(rs.m, SIP_HDR_WWW_AUTHENTICATE), 1);
	struct sip_auth_challenge ch;
	cr_assert_eq(
	    sip_auth_challenge_parse(sip_msg_hdr(rs.m, SIP_HDR_WWW_AUTHENTICATE)->value, &ch), 0);
	cr_assert(!ch.stale);
	/* and it counts toward the limit like a wrong password */
	for (int i = 0; i < 4; i++)
		register_as(&rs, &r, "x", &flowA, 1, SRC, 1000 + (uint64_t)i);
	cr_assert_eq(send_req(&rs, &r, NULL, &flowA, 1, SRC, 2000), 403);
	resp_free(&rs);
}

Test(registrar, rate_limit_then_recovery_after_window)
{
	struct sip_registrar_config cfg = base_config();
	cfg.max_failures = 3;
	cfg.window_s = 30;
	teardown();
	setup_with(&cfg);
	struct resp rs = {0};
	struct req r = {.contacts = SIPJS_CONTACT};
	for (int i = 0; i < 3; i++)
		cr_assert_eq(register_as(&rs, &r, "bad", &flowA, 1, SRC, 1000 + (uint64_t)i * 1000),
		             401);
	cr_assert(strstr(logbuf, "source blocked"));
	/* now blocked: even the right password is not checked */
	lookups = 0;
	cr_assert_eq(send_req(&rs, &r, NULL, &flowA, 1, SRC, 5000), 403);
	cr_assert(sip_pl_eq_cstr(sip_msg_reason(rs.m), "Too Many Failed Attempts"));
	cr_assert_eq(count_fields(rs.m, SIP_HDR_WWW_AUTHENTICATE), 0);
	/* another source is not affected */
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowB, 2, "192.0.2.8", 5000), 200);
	r.cseq = 2;
	char auth[1024];
	cr_assert_eq(send_req(&rs, &r, NULL, &flowA, 1, "192.0.2.8", 5000), 401);
	answer(&rs, "alice", "wonderland", auth, sizeof(auth));
	cr_assert_eq(send_req(&rs, &r, auth, &flowA, 1, SRC, 20000), 403);
	cr_assert_eq(lookups, 1, "blocked requests never reach the user database");
	/* the window (from the first failure at 1000 ms) ends at 31000 ms */
	cr_assert_eq(sip_registrar_next_deadline(reg) <= 31000, true);
	cr_assert_eq(send_req(&rs, &r, auth, &flowA, 1, SRC, 31000), 200);
	resp_free(&rs);
}

Test(registrar, stale_nonce_gets_stale_true)
{
	struct sip_registrar_config cfg = base_config();
	cfg.nonce_lifetime = 30;
	teardown();
	setup_with(&cfg);
	struct resp rs = {0};
	struct req r = {.contacts = SIPJS_CONTACT};
	cr_assert_eq(send_req(&rs, &r, NULL, &flowA, 1, SRC, 1000), 401);
	char auth[1024];
	answer(&rs, "alice", "wonderland", auth, sizeof(auth));
	r.cseq = 2;
	cr_assert_eq(send_req(&rs, &r, auth, &flowA, 1, SRC, 1000 + 120000), 401);
	struct sip_auth_challenge ch;
	cr_assert_eq(
	    sip_auth_challenge_parse(sip_msg_hdr(rs.m, SIP_HDR_WWW_AUTHENTICATE)->value, &ch), 0);
	cr_assert(ch.stale);
	/* a stale nonce is no failure; the fresh one works */
	answer(&rs, "alice", "wonderland", auth, sizeof(auth));
	r.cseq = 3;
	cr_assert_eq(send_req(&rs, &r, auth, &flowA, 1, SRC, 1000 + 120000), 200);
	resp_free(&rs);
}

Test(registrar, aor_of_another_user_is_403)
{
	struct resp rs = {0};
	struct req r = {.user = "bob", .contacts = SIPJS_CONTACT};
	cr_assert_eq(send_req(&rs, &r, NULL, &flowA, 1, SRC, 1000), 401);
	char auth[1024];
	answer(&rs, "alice", "wonderland", auth, sizeof(auth)); /* alice's own credentials */
	r.cseq = 2;
	cr_assert_eq(send_req(&rs, &r, auth, &flowA, 1, SRC, 1000), 403);
	cr_assert_eq(sip_registrar_binding_count(reg), 0);
	resp_free(&rs);
}

Test(registrar, digest_uri_must_name_request_uri)
{
	struct resp rs = {0};
	struct req r = {.contacts = SIPJS_CONTACT};
	cr_assert_eq(send_req(&rs, &r, NULL, &flowA, 1, SRC, 1000), 401);
	/* keep the challenge: its views must outlive the next response */
	char chal[512];
	sip_pl cv = sip_msg_hdr(rs.m, SIP_HDR_WWW_AUTHENTICATE)->value;
	cr_assert_eq(sip_pl_strcpy(cv, chal, sizeof(chal)), 0);
	struct sip_auth_challenge ch;
	cr_assert_eq(sip_auth_challenge_parse(P(chal), &ch), 0);
	struct sip_auth_client_params p = {.username = P("alice"),
	                                   .password = P("wonderland"),
	                                   .method = SIP_PL("REGISTER"),
	                                   .uri = SIP_PL("sip:other.example.org"),
	                                   .cnonce = SIP_PL("abc"),
	                                   .nc = 1};
	char auth[1024];
	cr_assert_gt(sip_auth_client_answer(&ch, &p, auth, sizeof(auth)), 0);
	r.cseq = 2;
	cr_assert_eq(send_req(&rs, &r, auth, &flowA, 1, SRC, 1000), 400);
	cr_assert(sip_pl_eq_cstr(sip_msg_reason(rs.m), "Digest URI Mismatch"));
	/* the same URI written differently is the same URI */
	p.uri = SIP_PL("sip:EXAMPLE.COM");
	cr_assert_gt(sip_auth_client_answer(&ch, &p, auth, sizeof(auth)), 0);
	r.cseq = 3;
	cr_assert_eq(send_req(&rs, &r, auth, &flowA, 1, SRC, 1000), 200);
	resp_free(&rs);
}

Test(registrar, too_brief_is_423_with_min_expires)
{
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:a@h.invalid;transport=ws>\r\n", .expires = "30"};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 423);
	const struct sip_hdr *h = sip_msg_hdr(rs.m, SIP_HDR_MIN_EXPIRES);
	cr_assert_not_null(h);
	cr_assert(sip_pl_eq_cstr(h->value, "60"));
	cr_assert_eq(sip_registrar_binding_count(reg), 0);
	/* a contact parameter wins over the header */
	r.contacts = "Contact: <sip:a@h.invalid;transport=ws>;expires=20\r\n";
	r.expires = "600";
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 423);
	resp_free(&rs);
}

Test(registrar, long_expiry_clamped_to_max_and_default_applies)
{
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:a@h.invalid;transport=ws>\r\n",
	                .expires = "99999"};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	cr_assert_eq(contact_expires(rs.m, "sip:a@h.invalid;transport=ws"), 3600);
	r.contacts = "Contact: <sip:b@h.invalid;transport=ws>\r\n";
	r.expires = NULL;
	r.cseq = 2;
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	cr_assert_eq(contact_expires(rs.m, "sip:b@h.invalid;transport=ws"), 600);
	/* time passes: the remaining time is what the 200 says */
	r.contacts = NULL;
	r.cseq = 3;
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000 + 100000), 200);
	cr_assert_eq(contact_expires(rs.m, "sip:a@h.invalid;transport=ws"), 3500);
	cr_assert_eq(contact_expires(rs.m, "sip:b@h.invalid;transport=ws"), 500);
	resp_free(&rs);
}

Test(registrar, expires_zero_removes_that_binding)
{
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:a@h.invalid;transport=ws>\r\n"
	                            "Contact: <sip:b@h.invalid;transport=ws>;q=0.5\r\n"};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	cr_assert_eq(count_values(rs.m, SIP_HDR_CONTACT), 2);
	r.contacts = "Contact: <sip:a@h.invalid;transport=ws>;expires=0\r\n";
	r.cseq = 2;
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 2000), 200);
	cr_assert_eq(count_values(rs.m, SIP_HDR_CONTACT), 1);
	cr_assert_eq(contact_expires(rs.m, "sip:a@h.invalid;transport=ws"), -1);
	cr_assert_eq(contact_expires(rs.m, "sip:b@h.invalid;transport=ws"), 599);
	cr_assert_eq(sip_registrar_binding_count(reg), 1);
	/* Expires: 0 header on the last one empties the AOR */
	r.contacts = "Contact: <sip:b@h.invalid;transport=ws>\r\n";
	r.expires = "0";
	r.cseq = 3;
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 3000), 200);
	cr_assert_eq(count_values(rs.m, SIP_HDR_CONTACT), 0);
	cr_assert_eq(sip_registrar_binding_count(reg), 0);
	cr_assert_eq(sip_registrar_aor_count(reg), 0);
	resp_free(&rs);
}

Test(registrar, star_removes_all_and_needs_expires_zero)
{
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:a@h.invalid;transport=ws>\r\n"
	                            "Contact: <sip:b@h.invalid;transport=ws>\r\n"};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	struct req other = {.user = "bob", .contacts = "Contact: <sip:c@h.invalid>\r\n"};
	cr_assert_eq(register_as(&rs, &other, "builder", &flowB, 2, SRC, 1000), 200);
	cr_assert_eq(sip_registrar_binding_count(reg), 3);

	r.contacts = "Contact: *\r\n";
	r.cseq = 2;
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 2000), 400);
	r.expires = "60";
	r.cseq = 3;
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 2000), 400);
	r.contacts = "Contact: *\r\nContact: <sip:a@h.invalid>\r\n";
	r.expires = "0";
	r.cseq = 4;
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 2000), 400);
	cr_assert_eq(sip_registrar_binding_count(reg), 3);

	r.contacts = "Contact: *\r\n";
	r.cseq = 5;
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 2000), 200);
	cr_assert_eq(count_values(rs.m, SIP_HDR_CONTACT), 0);
	cr_assert_eq(sip_registrar_binding_count(reg), 1, "bob's binding stays");
	cr_assert_eq(sip_registrar_lookup(reg, P("bob"), P(REALM), 2000, NULL, NULL), 1);
	resp_free(&rs);
}

Test(registrar, out_of_order_cseq_is_500)
{
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:a@h.invalid>\r\n", .cseq = 10};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	r.cseq = 10; /* not higher */
	r.expires = "0";
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 2000), 500);
	cr_assert_eq(sip_registrar_binding_count(reg), 1);
	/* another Call-ID may use any CSeq */
	r.call_id = "call-2";
	r.cseq = 1;
	r.expires = NULL;
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 2000), 200);
	/* and "*" checks the same rule */
	r.contacts = "Contact: *\r\n";
	r.expires = "0";
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 3000), 500);
	r.cseq = 2;
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 3000), 200);
	resp_free(&rs);
}

Test(registrar, several_bindings_and_query)
{
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:a@h1.invalid;transport=ws>\r\n",
	                .call_id = "c1"};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	struct req r2 = {.contacts = "Contact: <sip:b@h2.invalid;transport=ws>;q=0.7\r\n",
	                 .call_id = "c2"};
	cr_assert_eq(register_as(&rs, &r2, "wonderland", &flowB, 2, SRC, 1000), 200);
	cr_assert_eq(count_values(rs.m, SIP_HDR_CONTACT), 2, "every binding listed");
	/* a query: no Contact, no change */
	struct req q = {.call_id = "c3"};
	cr_assert_eq(register_as(&rs, &q, "wonderland", &flowB, 2, SRC, 5000), 200);
	cr_assert_eq(count_values(rs.m, SIP_HDR_CONTACT), 2);
	cr_assert_eq(contact_expires(rs.m, "sip:a@h1.invalid;transport=ws"), 596);
	cr_assert_eq(sip_registrar_binding_count(reg), 2);
	struct seen s = {0};
	cr_assert_eq(sip_registrar_lookup(reg, P("alice"), P(REALM), 5000, collect, &s), 2);
	bool have_q = false;
	for (unsigned i = 0; i < 2; i++)
		if (!strcmp(s.contact[i], "sip:b@h2.invalid;transport=ws"))
			have_q = s.q[i] == 700 && s.flow[i] == &flowB;
	cr_assert(have_q);
	resp_free(&rs);
}

Test(registrar, flow_closed_removes_only_that_flows_bindings)
{
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:a@h1.invalid;transport=ws>\r\n",
	                .call_id = "c1"};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	struct req r2 = {.contacts = "Contact: <sip:b@h2.invalid;transport=ws>\r\n",
	                 .call_id = "c2"};
	cr_assert_eq(register_as(&rs, &r2, "wonderland", &flowB, 2, SRC, 1000), 200);
	struct req r3 = {.user = "bob", .contacts = "Contact: <sip:c@h1.invalid>\r\n"};
	cr_assert_eq(register_as(&rs, &r3, "builder", &flowA, 1, SRC, 1000), 200);
	cr_assert_eq(sip_registrar_binding_count(reg), 3);

	cr_assert_eq(sip_registrar_flow_closed(reg, &flowA), 2);
	cr_assert_eq(sip_registrar_binding_count(reg), 1);
	cr_assert_eq(sip_registrar_aor_count(reg), 1);
	struct seen s = {0};
	cr_assert_eq(sip_registrar_lookup(reg, P("alice"), P(REALM), 2000, collect, &s), 1);
	cr_assert_eq(s.flow[0], &flowB);
	cr_assert_eq(sip_registrar_lookup(reg, P("bob"), P(REALM), 2000, NULL, NULL), 0);
	cr_assert_eq(sip_registrar_flow_closed(reg, &flowA), 0);
	resp_free(&rs);
}

Test(registrar, reconnect_with_same_instance_moves_binding)
{
	struct resp rs = {0};
	struct req r = {.contacts = SIPJS_CONTACT, .call_id = "c1"};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	/* flow A dropped without flow_closed yet; the client is back on flow B
	 * with a new Call-ID (a new UA transport) and the same instance */
	struct req again = {.contacts = SIPJS_CONTACT, .call_id = "c2"};
	cr_assert_eq(register_as(&rs, &again, "wonderland", &flowB, 2, SRC, 5000), 200);
	cr_assert_eq(count_values(rs.m, SIP_HDR_CONTACT), 1);
	cr_assert_eq(sip_registrar_binding_count(reg), 1);
	struct seen s = {0};
	cr_assert_eq(sip_registrar_lookup(reg, P("alice"), P(REALM), 5000, collect, &s), 1);
	cr_assert_eq(s.flow[0], &flowB);
	cr_assert_eq(s.flow_id[0], 2);
	cr_assert(strstr(logbuf, "moved"));
	/* closing the old connection now takes nothing away */
	cr_assert_eq(sip_registrar_flow_closed(reg, &flowA), 0);
	cr_assert_eq(sip_registrar_flow_closed(reg, &flowB), 1);
	resp_free(&rs);
}

Test(registrar, instance_moves_even_when_contact_host_changes)
{
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:x@one.invalid;transport=ws>;"
	                            "+sip.instance=\"<urn:uuid:1>\"\r\n",
	                .supported = "path"};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	r.contacts = "Contact: <sip:x@two.invalid;transport=ws>;+sip.instance=\"<urn:uuid:1>\"\r\n";
	r.call_id = "c9";
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowB, 2, SRC, 2000), 200);
	cr_assert_eq(count_values(rs.m, SIP_HDR_CONTACT), 1);
	cr_assert_eq(contact_expires(rs.m, "sip:x@two.invalid;transport=ws"), 600);
	cr_assert_null(sip_msg_hdr(rs.m, SIP_HDR_REQUIRE), "no outbound asked for");
	resp_free(&rs);
}

Test(registrar, outbound_require_and_flow_timer)
{
	struct resp rs = {0};
	struct req r = {.contacts = SIPJS_CONTACT};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	cr_assert(sip_msg_has_option(rs.m, SIP_HDR_REQUIRE, "outbound"));
	const struct sip_hdr *ft = sip_msg_hdr(rs.m, SIP_HDR_FLOW_TIMER);
	cr_assert_not_null(ft);
	cr_assert(sip_pl_eq_cstr(ft->value, "120"));

	/* without Supported: outbound, neither header */
	struct req plain = {.user = "bob", .contacts = SIPJS_CONTACT, .supported = "path"};
	cr_assert_eq(register_as(&rs, &plain, "builder", &flowB, 2, SRC, 1000), 200);
	cr_assert_null(sip_msg_hdr(rs.m, SIP_HDR_REQUIRE));
	cr_assert_null(sip_msg_hdr(rs.m, SIP_HDR_FLOW_TIMER));
	cr_assert(sip_msg_has_option(rs.m, SIP_HDR_SUPPORTED, "outbound"));
	resp_free(&rs);
}

Test(registrar, two_outbound_flows_of_one_instance_are_two_bindings)
{
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:x@one.invalid;transport=ws>;reg-id=1;"
	                            "+sip.instance=\"<urn:uuid:1>\"\r\n"};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	struct req r2 = {.contacts = "Contact: <sip:x@one.invalid;transport=ws>;reg-id=2;"
	                             "+sip.instance=\"<urn:uuid:1>\"\r\n",
	                 .call_id = "c2"};
	cr_assert_eq(register_as(&rs, &r2, "wonderland", &flowB, 2, SRC, 1000), 200);
	cr_assert_eq(count_values(rs.m, SIP_HDR_CONTACT), 2);
	cr_assert_eq(sip_registrar_flow_closed(reg, &flowA), 1);
	cr_assert_eq(sip_registrar_lookup(reg, P("alice"), P(REALM), 1000, NULL, NULL), 1);
	resp_free(&rs);
}

Test(registrar, expiry_by_tick)
{
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:a@h.invalid>;expires=60\r\n"
	                            "Contact: <sip:b@h.invalid>;expires=120\r\n"};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	cr_assert_eq(sip_registrar_next_deadline(reg), 61000);
	cr_assert_eq(sip_registrar_tick(reg, 60999), 0);
	/* lookup hides a binding past its time even before the tick */
	cr_assert_eq(sip_registrar_lookup(reg, P("alice"), P(REALM), 61000, NULL, NULL), 1);
	cr_assert_eq(sip_registrar_tick(reg, 61000), 1);
	cr_assert_eq(sip_registrar_binding_count(reg), 1);
	cr_assert_eq(sip_registrar_next_deadline(reg), 121000);
	/* a refresh pushes the deadline back */
	r.contacts = "Contact: <sip:b@h.invalid>;expires=120\r\n";
	r.cseq = 2;
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 100000), 200);
	cr_assert_eq(sip_registrar_next_deadline(reg), 220000);
	cr_assert_eq(sip_registrar_tick(reg, 219999), 0);
	cr_assert_eq(sip_registrar_tick(reg, 220000), 1);
	cr_assert_eq(sip_registrar_aor_count(reg), 0);
	cr_assert_eq(sip_registrar_next_deadline(reg), UINT64_MAX);
	resp_free(&rs);
}

Test(registrar, many_bindings_expire_in_order)
{
	/* a hundred bindings (a 200 lists all of them: under the parser's
	 * 128 header fields) through the heap: each tick removes exactly those
	 * due */
	struct sip_registrar_config cfg = base_config();
	cfg.max_bindings_per_aor = 1000;
	teardown();
	setup_with(&cfg);
	struct resp rs = {0};
	char contact[128];
	for (unsigned i = 0; i < 100; i++) {
		snprintf(contact, sizeof(contact), "Contact: <sip:u%u@h.invalid>;expires=%u\r\n", i,
		         60 + (i * 37) % 100);
		struct req r = {.contacts = contact, .cseq = i + 1};
		cr_assert_eq(register_as(&rs, &r, "wonderland", &many_flows[i % 7], i % 7, SRC, 0),
		             200);
	}
	cr_assert_eq(sip_registrar_binding_count(reg), 100);
	size_t left = 100;
	for (uint64_t t = 60000; t <= 160000; t += 1000) {
		size_t due = 0;
		for (unsigned i = 0; i < 100; i++)
			if ((60 + (i * 37) % 100) * 1000u == t)
				due++;
		cr_assert_eq(sip_registrar_tick(reg, t), due, "at %llu", (unsigned long long)t);
		left -= due;
		cr_assert_eq(sip_registrar_binding_count(reg), left);
	}
	cr_assert_eq(left, 0);
	resp_free(&rs);
}

Test(registrar, bad_contact_and_expires_are_400)
{
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:a@h.invalid\r\n"};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 400);
	cr_assert(sip_pl_eq_cstr(sip_msg_reason(rs.m), "Bad Contact"));
	r.contacts = "Contact: <sip:a@h.invalid>\r\n";
	r.expires = "soon";
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 400);
	cr_assert(sip_pl_eq_cstr(sip_msg_reason(rs.m), "Bad Expires"));
	cr_assert_eq(sip_registrar_binding_count(reg), 0);
	resp_free(&rs);
}

Test(registrar, too_many_bindings_is_403)
{
	struct sip_registrar_config cfg = base_config();
	cfg.max_bindings_per_aor = 2;
	teardown();
	setup_with(&cfg);
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:a@h.invalid>\r\nContact: <sip:b@h.invalid>\r\n"};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	r.contacts = "Contact: <sip:c@h.invalid>\r\n";
	r.cseq = 2;
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 403);
	/* refreshing an existing one is fine */
	r.contacts = "Contact: <sip:b@h.invalid>\r\n";
	r.cseq = 3;
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 200);
	resp_free(&rs);
}

Test(registrar, sha256_configured_gives_one_challenge_per_algorithm)
{
	struct sip_registrar_config cfg = base_config();
	cfg.algorithms[0] = SIP_AUTH_ALG_SHA256;
	cfg.algorithms[1] = SIP_AUTH_ALG_MD5;
	cfg.n_algorithms = 2;
	teardown();
	setup_with(&cfg);
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:a@h.invalid>\r\n"};
	cr_assert_eq(send_req(&rs, &r, NULL, &flowA, 1, SRC, 1000), 401);
	cr_assert_eq(count_fields(rs.m, SIP_HDR_WWW_AUTHENTICATE), 2);
	struct sip_auth_challenge ch;
	const struct sip_hdr *h = sip_msg_hdr(rs.m, SIP_HDR_WWW_AUTHENTICATE);
	cr_assert_eq(sip_auth_challenge_parse(h->value, &ch), 0);
	cr_assert_eq(ch.algorithm, SIP_AUTH_ALG_SHA256);
	cr_assert_eq(ch.qop, SIP_AUTH_QOP_AUTH);
	/* answer the SHA-256 one */
	char auth[1024];
	answer(&rs, "alice", "wonderland", auth, sizeof(auth));
	r.cseq = 2;
	cr_assert_eq(send_req(&rs, &r, auth, &flowA, 1, SRC, 1000), 200);
	resp_free(&rs);
}

Test(registrar, config_is_checked)
{
	struct sip_registrar *r2 = NULL;
	struct sip_registrar_config cfg = base_config();
	cfg.algorithms[0] = SIP_AUTH_ALG_UNKNOWN;
	cfg.n_algorithms = 1;
	cr_assert_eq(sip_registrar_new(&r2, &cfg), -EINVAL);
	cfg = base_config();
	cfg.lookup_user = NULL;
	cr_assert_eq(sip_registrar_new(&r2, &cfg), -EINVAL);
	cfg = base_config();
	cfg.min_expires = 600;
	cfg.max_expires = 60;
	cr_assert_eq(sip_registrar_new(&r2, &cfg), -EINVAL);
	cr_assert_null(r2);
}

Test(registrar, not_a_register_is_refused)
{
	static const char inv[] = "INVITE sip:bob@example.com SIP/2.0\r\n"
	                          "Via: SIP/2.0/WSS h.invalid;branch=z9hG4bK1\r\n"
	                          "To: <sip:bob@example.com>\r\n"
	                          "From: <sip:alice@example.com>;tag=1\r\n"
	                          "Call-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
	struct sip_msg *m = sip_msg_new(NULL);
	size_t used;
	struct sip_parse_error err;
	cr_assert_eq(sip_msg_parse(m, inv, sizeof(inv) - 1, SIP_PARSE_DATAGRAM, &used, &err),
	             SIP_PARSE_OK);
	struct sip_buf b;
	sip_buf_init(&b, 0);
	struct sip_registrar_request rq = {.msg = m, .flow = &flowA, .now_ms = 1};
	cr_assert_eq(sip_registrar_handle(reg, &rq, &b), -EINVAL);
	cr_assert_eq(b.len, 0);
	sip_buf_free(&b);
	sip_msg_free(m);
}

Test(registrar, log_lines_cannot_be_split_by_client_text)
{
	struct resp rs = {0};
	struct req r = {.user = "x%0D%0Ay", .contacts = "Contact: <sip:a@h.invalid>\r\n"};
	cr_assert_eq(send_req(&rs, &r, NULL, &flowA, 1, SRC, 1000), 401);
	char auth[1024];
	answer(&rs, "alice", "wonderland", auth, sizeof(auth));
	r.cseq = 2;
	cr_assert_eq(send_req(&rs, &r, auth, &flowA, 1, SRC, 1000), 403);
	cr_assert(strstr(logbuf, "may not register x??y@example.com\n"), "%s", logbuf);
	resp_free(&rs);
}

/* Any user "u<N>" exists, password "pw". */
static int lookup_any(void *arg, sip_pl user, enum sip_auth_algorithm alg, char *ha1, size_t size)
{
	(void)arg;
	if (user.l < 2 || user.p[0] != 'u')
		return -ENOENT;
	return sip_auth_ha1(alg, user, SIP_PL(REALM), SIP_PL("pw"), ha1, size) < 0 ? -EIO : 0;
}

Test(registrar, hundreds_of_aors_and_flows_grow_the_tables)
{
	struct sip_registrar_config cfg = base_config();
	cfg.lookup_user = lookup_any;
	teardown();
	setup_with(&cfg);
	static char conn[300];
	struct resp rs = {0};
	char user[16], contact[96];
	for (unsigned i = 0; i < 300; i++) {
		snprintf(user, sizeof(user), "u%u", i);
		snprintf(contact, sizeof(contact),
		         "Contact: <sip:c%u@h%u.invalid;transport=ws>\r\n", i, i);
		struct req r = {.user = user, .contacts = contact};
		cr_assert_eq(register_as(&rs, &r, "pw", &conn[i], i, SRC, 1000), 200);
	}
	cr_assert_eq(sip_registrar_aor_count(reg), 300);
	cr_assert_eq(sip_registrar_binding_count(reg), 300);
	/* every AOR still found after the rehashes, on its own flow */
	for (unsigned i = 0; i < 300; i++) {
		snprintf(user, sizeof(user), "u%u", i);
		struct seen s = {0};
		cr_assert_eq(sip_registrar_lookup(reg, P(user), P(REALM), 2000, collect, &s), 1);
		cr_assert_eq(s.flow[0], &conn[i]);
	}
	/* closing every other connection removes exactly its binding */
	for (unsigned i = 0; i < 300; i += 2)
		cr_assert_eq(sip_registrar_flow_closed(reg, &conn[i]), 1);
	cr_assert_eq(sip_registrar_binding_count(reg), 150);
	cr_assert_eq(sip_registrar_aor_count(reg), 150);
	for (unsigned i = 0; i < 300; i++) {
		snprintf(user, sizeof(user), "u%u", i);
		cr_assert_eq(sip_registrar_lookup(reg, P(user), P(REALM), 2000, NULL, NULL), i % 2);
	}
	resp_free(&rs);
}

Test(registrar, failure_table_is_bounded_oldest_forgotten)
{
	struct resp rs = {0};
	/* credentials with a nonce that is not ours: a failure, no 401 first */
	static const char *bogus = "Digest username=\"alice\", realm=\"" REALM "\", "
	                           "nonce=\"AAAA\", uri=\"sip:" REALM "\", "
	                           "response=\"00000000000000000000000000000000\", "
	                           "algorithm=MD5, cnonce=\"x\", qop=auth, nc=00000001";
	struct req r = {.contacts = "Contact: <sip:a@h.invalid>\r\n"};
	for (int i = 0; i < 4; i++)
		cr_assert_eq(send_req(&rs, &r, bogus, &flowA, 1, SRC, 1000), 401);
	/* more sources than the table holds, each failing once */
	char src[32];
	for (unsigned i = 0; i < 16384; i++) {
		snprintf(src, sizeof(src), "10.%u.%u.1", i / 256, i % 256);
		cr_assert_eq(send_req(&rs, &r, bogus, &flowA, 1, src, 2000), 401);
	}
	/* SRC's four failures were the oldest entry: forgotten, so a fifth
	 * does not block it */
	cr_assert_eq(send_req(&rs, &r, bogus, &flowA, 1, SRC, 3000), 401);
	cr_assert_eq(send_req(&rs, &r, NULL, &flowA, 1, SRC, 3000), 401);
	resp_free(&rs);
}

Test(registrar, authorization_malformed_400_other_scheme_challenged)
{
	struct resp rs = {0};
	struct req r = {.contacts = "Contact: <sip:a@h.invalid>\r\n"};
	cr_assert_eq(send_req(&rs, &r, "Digest username=\"alice\", realm=", &flowA, 1, SRC, 1000),
	             400);
	cr_assert(sip_pl_eq_cstr(sip_msg_reason(rs.m), "Bad Authorization"));
	cr_assert_eq(send_req(&rs, &r, "Basic YWxpY2U6d29uZGVybGFuZA==", &flowA, 1, SRC, 1000),
	             401);
	/* credentials for another realm are no credentials for ours */
	cr_assert_eq(send_req(&rs, &r,
	                      "Digest username=\"alice\", realm=\"other\", nonce=\"n\", "
	                      "uri=\"sip:" REALM "\", response=\"00\"",
	                      &flowA, 1, SRC, 1000),
	             401);
	resp_free(&rs);
}

Test(registrar, too_many_contacts_in_one_request_is_400)
{
	struct resp rs = {0};
	char contacts[2048] = "";
	for (int i = 0; i < 17; i++) {
		char line[64];
		snprintf(line, sizeof(line), "Contact: <sip:c%d@h.invalid>\r\n", i);
		strcat(contacts, line);
	}
	struct req r = {.contacts = contacts};
	cr_assert_eq(register_as(&rs, &r, "wonderland", &flowA, 1, SRC, 1000), 400);
	cr_assert(sip_pl_eq_cstr(sip_msg_reason(rs.m), "Too Many Contacts"));
	cr_assert_eq(sip_registrar_binding_count(reg), 0);
	resp_free(&rs);
}
