/* Unit tests: the registerer on a real transaction layer, a fake clock and a
 * capture of every send. Responses are built by the test from the captured
 * request (sip_build_response), digest answers are checked with the server
 * side of sip_auth.h, and one scenario runs against the real registrar. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_auth.h"
#include "sip/sip_build.h"
#include "sip/sip_msg.h"
#include "sip/sip_registerer.h"
#include "sip/sip_registrar.h"
#include "sip/sip_txn.h"

#define REGISTRAR "sip:pbx.example.com"
#define AOR       "sip:1000@pbx.example.com"
#define CONTACT   "<sip:1000@192.0.2.1:5060>"
#define VIA       "SIP/2.0/TCP 192.0.2.1:5060;rport"
#define USER      "1000"
#define PASSWORD  "s3cr3t-pw"
#define REALM     "pbx.example.com"

/* ---- the fake world ---- */

#define MAX_SENT 256
struct sent {
	uint64_t at;
	char *bytes;
	size_t len;
};
static struct sent sent[MAX_SENT];
static size_t nsent;
static uint64_t now;
static int fail_send;
static uint64_t rng;

static int cap_send(void *arg, const struct sip_txn_dest *dest, const char *bytes, size_t len)
{
	(void)arg;
	(void)dest;
	if (fail_send)
		return fail_send;
	cr_assert_lt(nsent, MAX_SENT);
	sent[nsent].at = now;
	sent[nsent].bytes = malloc(len + 1);
	memcpy(sent[nsent].bytes, bytes, len);
	sent[nsent].bytes[len] = '\0';
	sent[nsent].len = len;
	nsent++;
	return 0;
}

static void no_request(void *arg, struct sip_txn *txn, const struct sip_msg *msg)
{
	(void)arg;
	(void)txn;
	(void)msg;
	cr_assert_fail("no request expected");
}

/* xorshift64: repeatable and never the same branch twice */
static int test_random(void *arg, void *buf, size_t len)
{
	(void)arg;
	unsigned char *p = buf;
	for (size_t i = 0; i < len; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		p[i] = (unsigned char)rng;
	}
	return 0;
}

static uint64_t fake_now(void *arg)
{
	(void)arg;
	return now;
}

#define MAX_EVENTS 64
static struct {
	enum sip_registerer_state state;
	int status;
	char reason[64];
	uint64_t at;
} events[MAX_EVENTS];
static size_t nevents;
static char logbuf[32768];
/* what a state callback does: 0 nothing, 1 register(), 2 dispose() */
static int on_state_action;

static void on_state(void *arg, struct sip_registerer *r, enum sip_registerer_state st, int status,
                     const char *reason)
{
	(void)arg;
	cr_assert_lt(nevents, MAX_EVENTS);
	cr_assert_not_null(reason);
	events[nevents].state = st;
	events[nevents].status = status;
	snprintf(events[nevents].reason, sizeof(events[nevents].reason), "%s", reason);
	events[nevents].at = now;
	nevents++;
	if (on_state_action == 1 && st == SIP_REGISTERER_UNREGISTERED)
		sip_registerer_register(r);
	if (on_state_action == 2 && st == SIP_REGISTERER_REGISTERED)
		sip_registerer_dispose(r);
}

static void on_log(void *arg, const char *line)
{
	(void)arg;
	size_t used = strlen(logbuf), n = strlen(line);
	if (used + n + 2 > sizeof(logbuf))
		return;
	memcpy(logbuf + used, line, n);
	memcpy(logbuf + used + n, "\n", 2);
}

static struct sip_txn_layer *layer;
static struct sip_registerer *reg;
static struct sip_msg *pm;
static struct sip_txn_dest dest = {.flow = (void *)0x1, .reliable = true};

static struct sip_registerer_config base_config(void)
{
	return (struct sip_registerer_config){
	    .registrar = REGISTRAR,
	    .aor = AOR,
	    .transport = {.dest = dest, .via = VIA, .contact = CONTACT},
	    .credentials = {.username = USER, .password = PASSWORD},
	    .txn = layer,
	    .now_ms = fake_now,
	    .random = test_random,
	    .cb = {.on_state_change = on_state, .on_log = on_log},
	};
}

static void make(const struct sip_registerer_config *cfg)
{
	cr_assert_eq(sip_registerer_new(cfg, &reg), 0);
}

static void setup(void)
{
	nsent = 0;
	now = 1000;
	fail_send = 0;
	rng = 0x9e3779b97f4a7c15ull;
	nevents = 0;
	logbuf[0] = '\0';
	on_state_action = 0;
	dest.reliable = true;
	struct sip_txn_layer_config lc = {
	    .timers = SIP_TXN_TIMERS_DEFAULT,
	    .cb = {.send = cap_send, .on_request = no_request},
	};
	layer = sip_txn_layer_new(&lc);
	pm = sip_msg_new(NULL);
	cr_assert(layer && pm);
	reg = NULL;
}

static void setup_default(void)
{
	setup();
	struct sip_registerer_config cfg = base_config();
	make(&cfg);
}

static void teardown(void)
{
	sip_registerer_free(reg);
	sip_txn_layer_free(layer);
	sip_msg_free(pm);
	for (size_t i = 0; i < nsent; i++)
		free(sent[i].bytes);
	/* the password never reaches a log line */
	cr_assert_null(strstr(logbuf, PASSWORD));
}

/* ---- reading what was sent ---- */

static const struct sip_msg *sent_msg(size_t i)
{
	cr_assert_lt(i, nsent);
	size_t consumed;
	struct sip_parse_error err;
	cr_assert_eq(
	    sip_msg_parse(pm, sent[i].bytes, sent[i].len, SIP_PARSE_DATAGRAM, &consumed, &err),
	    SIP_PARSE_OK, "sent[%zu] does not parse: %s", i, sent[i].bytes);
	return pm;
}

/* The value of the first header called name in sent[i], or "" (the absent
 * marker "-" when absent so tests can tell). */
static const char *hdr(size_t i, const char *name)
{
	static char bufs[4][2048];
	static int which;
	char *out = bufs[which++ % 4];
	const struct sip_msg *m = sent_msg(i);
	const struct sip_hdr *h = sip_msg_hdr_by_name(m, sip_pl_from_cstr(name));
	if (!h) {
		strcpy(out, "-");
		return out;
	}
	cr_assert_eq(sip_pl_strcpy(h->value, out, sizeof(bufs[0])), 0);
	return out;
}

static const char *branch_of(size_t i)
{
	static char bufs[2][64];
	static int which;
	char *out = bufs[which++ % 2];
	const struct sip_msg *m = sent_msg(i);
	cr_assert_eq(sip_pl_strcpy(sip_msg_via(m)->branch, out, sizeof(bufs[0])), 0);
	return out;
}

/* ---- answering the last REGISTER ---- */

static int respond_to(size_t i, int status, const char *extra)
{
	const struct sip_msg *req = sent_msg(i);
	struct sip_buf b;
	sip_buf_init(&b, 0);
	cr_assert_eq(sip_build_response(&b, req, status, NULL, SIP_PL("srv1")), 0);
	if (extra)
		sip_buf_append(&b, extra, strlen(extra));
	cr_assert_eq(sip_build_body(&b, NULL, SIP_PL("")), 0);
	struct sip_msg *resp = sip_msg_new(NULL);
	size_t consumed;
	struct sip_parse_error err;
	cr_assert_eq(sip_msg_parse(resp, b.p, b.len, SIP_PARSE_DATAGRAM, &consumed, &err),
	             SIP_PARSE_OK);
	int rc = sip_txn_layer_recv(layer, resp, &dest, now);
	sip_msg_free(resp);
	sip_buf_free(&b);
	return rc;
}

static void respond(int status, const char *extra)
{
	cr_assert_eq(respond_to(nsent - 1, status, extra), SIP_TXN_RECV_RESPONSE);
}

/* Move the clock to t, firing the layer's and the registerer's timers in
 * order on the way. */
static void run_until(uint64_t t)
{
	for (int guard = 0; guard < 100000; guard++) {
		uint64_t d1 = sip_txn_layer_next_deadline(layer);
		uint64_t d2 = reg ? sip_registerer_next_deadline(reg) : UINT64_MAX;
		uint64_t d = d1 < d2 ? d1 : d2;
		if (d > t)
			break;
		if (d > now)
			now = d;
		sip_txn_layer_tick(layer, now);
		if (reg)
			sip_registerer_tick(reg);
	}
	now = t;
}

static char challenge[512];
static struct sip_auth_server *auth_srv;

static void make_auth_server(void)
{
	static const uint8_t secret[SIP_AUTH_SECRET_LEN] = {1, 2, 3};
	cr_assert_eq(sip_auth_server_new(&auth_srv, SIP_PL(REALM), secret, sizeof(secret), 300), 0);
}

/* A fresh challenge header line of the given kind from the auth server. */
static const char *challenge_line(const char *name, bool stale)
{
	char value[400];
	int n = sip_auth_server_challenge(auth_srv, now / 1000, SIP_AUTH_ALG_MD5, SIP_AUTH_QOP_AUTH,
	                                  stale, value, sizeof(value));
	cr_assert_gt(n, 0);
	snprintf(challenge, sizeof(challenge), "%s: %s\r\n", name, value);
	return challenge;
}

/* Verify the credentials of header name in sent[i] against the auth server. */
static void verify_credentials(size_t i, const char *name, uint32_t nc)
{
	char value[2048];
	snprintf(value, sizeof(value), "%s", hdr(i, name));
	cr_assert_neq(strcmp(value, "-"), 0, "no %s in sent[%zu]", name, i);
	struct sip_auth_credentials cred;
	cr_assert_eq(sip_auth_credentials_parse(sip_pl_from_cstr(value), &cred), 0);
	cr_assert(sip_auth_value_eq(cred.username, SIP_PL(USER)));
	cr_assert(sip_auth_value_eq(cred.uri, SIP_PL(REGISTRAR)));
	cr_assert_eq(cred.qop, SIP_AUTH_QOP_AUTH);
	cr_assert_eq(cred.nc, nc);
	char ha1[SIP_AUTH_HEX_MAX];
	cr_assert_gt(sip_auth_ha1(SIP_AUTH_ALG_MD5, SIP_PL(USER), SIP_PL(REALM), SIP_PL(PASSWORD),
	                          ha1, sizeof(ha1)),
	             0);
	cr_assert_eq(sip_auth_server_verify(auth_srv, now / 1000, &cred, SIP_PL("REGISTER"),
	                                    SIP_PL(""), sip_pl_from_cstr(ha1)),
	             SIP_AUTH_OK);
}

static void teardown_auth(void)
{
	sip_auth_server_free(auth_srv);
	auth_srv = NULL;
	teardown();
}

static void setup_auth(void)
{
	setup_default();
	make_auth_server();
}

static void register_ok(const char *extra)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	respond(200, extra);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_REGISTERED);
}

/* ---- the request ---- */

TestSuite(registerer, .init = setup_default, .fini = teardown);
TestSuite(registerer_auth, .init = setup_auth, .fini = teardown_auth);
TestSuite(registerer_cfg, .init = setup, .fini = teardown);

Test(registerer, first_register_bytes)
{
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_INITIAL);
	cr_assert_eq(sip_registerer_next_deadline(reg), UINT64_MAX);
	cr_assert_eq(sip_registerer_register(reg), 0);
	cr_assert_eq(nsent, 1);
	cr_assert(sip_registerer_busy(reg));
	const struct sip_msg *m = sent_msg(0);
	cr_assert(sip_msg_is_request(m));
	cr_assert_eq(sip_msg_method(m), SIP_METHOD_REGISTER);
	cr_assert(sip_pl_eq_cstr(sip_msg_ruri(m), REGISTRAR));
	cr_assert_eq(strncmp(sent[0].bytes, "REGISTER " REGISTRAR " SIP/2.0\r\n", 30), 0);
	const char *via = hdr(0, "Via");
	cr_assert_eq(strncmp(via, VIA ";branch=z9hG4bK", strlen(VIA ";branch=z9hG4bK")), 0, "%s",
	             via);
	cr_assert_gt(strlen(branch_of(0)), 7 + 16);
	cr_assert_str_eq(hdr(0, "Max-Forwards"), "70");
	cr_assert_eq(strncmp(hdr(0, "From"), "<" AOR ">;tag=", strlen(AOR) + 7), 0);
	cr_assert_gt(sip_msg_from(sent_msg(0))->tag.l, 7);
	cr_assert_str_eq(hdr(0, "To"), "<" AOR ">");
	cr_assert(sip_pl_eq(sip_msg_call_id(sent_msg(0)), sip_registerer_call_id(reg)));
	cr_assert_str_eq(hdr(0, "CSeq"), "1 REGISTER");
	cr_assert_str_eq(hdr(0, "Contact"), CONTACT);
	cr_assert_str_eq(hdr(0, "Expires"), "600");
	cr_assert_str_eq(hdr(0, "User-Agent"), "sipwire");
	cr_assert_neq(strstr(hdr(0, "Allow"), "INVITE"), NULL);
	cr_assert_str_eq(hdr(0, "Route"), "-");
	cr_assert_str_eq(hdr(0, "Authorization"), "-");
	cr_assert_eq(sip_msg_content_length(sent_msg(0)), 0);
	/* nothing happened yet as far as the owner can tell */
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_INITIAL);
	cr_assert_eq(nevents, 0);
}

Test(registerer_cfg, route_user_agent_extra_headers_and_expires)
{
	struct sip_registerer_config cfg = base_config();
	cfg.route = "<sip:proxy.example.com;lr>";
	cfg.user_agent = "trunk-gw/1";
	cfg.allow = "INVITE, BYE";
	cfg.extra_headers = "X-Trunk: east\r\n";
	cfg.expires = 3600;
	cfg.aor = "\"Trunk East\" <" AOR ">";
	make(&cfg);
	cr_assert_eq(sip_registerer_register(reg), 0);
	cr_assert_str_eq(hdr(0, "Route"), "<sip:proxy.example.com;lr>");
	cr_assert_str_eq(hdr(0, "User-Agent"), "trunk-gw/1");
	cr_assert_str_eq(hdr(0, "Allow"), "INVITE, BYE");
	cr_assert_str_eq(hdr(0, "X-Trunk"), "east");
	cr_assert_str_eq(hdr(0, "Expires"), "3600");
	cr_assert_str_eq(hdr(0, "To"), "\"Trunk East\" <" AOR ">");
}

Test(registerer_cfg, bad_config_is_refused)
{
	struct sip_registerer_config cfg = base_config();
	struct sip_registerer *r = NULL;
	cfg.registrar = NULL;
	cr_assert_eq(sip_registerer_new(&cfg, &r), -EINVAL);
	cfg = base_config();
	cfg.registrar = "not a uri";
	cr_assert_eq(sip_registerer_new(&cfg, &r), -EINVAL);
	cfg = base_config();
	cfg.transport.contact = "<sip:a@b>\r\nX-Evil: 1";
	cr_assert_eq(sip_registerer_new(&cfg, &r), -EINVAL);
	cfg = base_config();
	cfg.transport.via = VIA ";branch=z9hG4bKfixed";
	cr_assert_eq(sip_registerer_new(&cfg, &r), -EINVAL);
	cfg = base_config();
	cfg.transport.contact = "*";
	cr_assert_eq(sip_registerer_new(&cfg, &r), -EINVAL);
	cfg = base_config();
	cfg.txn = NULL;
	cr_assert_eq(sip_registerer_new(&cfg, &r), -EINVAL);
	cfg = base_config();
	cfg.retry_min_ms = 10000;
	cfg.retry_max_ms = 5000;
	cr_assert_eq(sip_registerer_new(&cfg, &r), -EINVAL);
	cfg = base_config();
	cfg.extra_headers = "X-No-Crlf: 1";
	cr_assert_eq(sip_registerer_new(&cfg, &r), -EINVAL);
	cr_assert_null(r);
}

/* ---- 2xx, expiry and refresh ---- */

Test(registerer, ok_takes_expires_of_our_contact)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	uint64_t sent_at = now;
	now += 120; /* the answer takes a while: expiry counts from the send */
	respond(200, "Contact: <sip:other@198.51.100.7>;expires=50\r\n"
	             "Contact: <sip:1000@192.0.2.1:5060>;expires=300\r\n"
	             "Expires: 900\r\n");
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_REGISTERED);
	cr_assert_eq(sip_registerer_expires(reg), 300);
	cr_assert_eq(sip_registerer_expires_at(reg), sent_at + 300000);
	cr_assert_eq(sip_registerer_last_status(reg), 200);
	cr_assert_str_eq(sip_registerer_last_reason(reg), "OK");
	cr_assert_eq(nevents, 1);
	cr_assert_eq(events[0].state, SIP_REGISTERER_REGISTERED);
	cr_assert_eq(events[0].status, 200);
	/* refresh 32 s before expiry */
	cr_assert_eq(sip_registerer_next_deadline(reg), sent_at + 268000);
	cr_assert(!sip_registerer_busy(reg));
}

Test(registerer, expires_header_then_ours)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	uint64_t t0 = now;
	respond(200, "Contact: <sip:someone-else@192.0.2.9>;expires=30\r\nExpires: 120\r\n");
	cr_assert_eq(sip_registerer_expires(reg), 120);
	cr_assert_eq(sip_registerer_next_deadline(reg), t0 + 88000);
	/* an early refresh, answered without any expiry: what we asked */
	cr_assert_eq(sip_registerer_register(reg), 0);
	cr_assert_eq(nsent, 2);
	respond(200, NULL);
	cr_assert_eq(sip_registerer_expires(reg), 600);
	cr_assert_eq(sip_registerer_next_deadline(reg), now + 568000);
	cr_assert_eq(nevents, 1, "a refresh is no state change");
}

Test(registerer, contact_matched_by_instance)
{
	sip_registerer_free(reg);
	struct sip_registerer_config cfg = base_config();
	cfg.transport.contact =
	    "<sip:1000@192.0.2.1:5060;transport=tcp>;+sip.instance=\"<urn:uuid:1234>\"";
	make(&cfg);
	cr_assert_eq(sip_registerer_register(reg), 0);
	/* the registrar rewrote the URI (NAT), the instance still names us */
	respond(200, "Contact: <sip:1000@203.0.113.5:40000;transport=tcp>;expires=200;"
	             "+sip.instance=\"<urn:uuid:1234>\"\r\n");
	cr_assert_eq(sip_registerer_expires(reg), 200);
}

Test(registerer, refresh_same_call_id_next_cseq_new_branch)
{
	register_ok("Contact: " CONTACT ";expires=600\r\n");
	uint64_t refresh_at = sip_registerer_next_deadline(reg);
	cr_assert_eq(refresh_at, 1000 + 568000);
	run_until(refresh_at - 1);
	cr_assert_eq(nsent, 1);
	run_until(refresh_at);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(sent[1].at, refresh_at);
	cr_assert_str_eq(hdr(1, "Call-ID"), hdr(0, "Call-ID"));
	cr_assert_str_eq(hdr(1, "From"), hdr(0, "From"));
	cr_assert_str_eq(hdr(1, "CSeq"), "2 REGISTER");
	cr_assert_str_neq(branch_of(0), branch_of(1));
	now += 50;
	respond(200, "Contact: " CONTACT ";expires=600\r\n");
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_REGISTERED);
	cr_assert_eq(sip_registerer_expires_at(reg), refresh_at + 600000);
	cr_assert_eq(sip_registerer_next_deadline(reg), refresh_at + 568000);
	cr_assert_eq(nevents, 1);
	/* and the one after */
	run_until(refresh_at + 568000);
	cr_assert_eq(nsent, 3);
	cr_assert_str_eq(hdr(2, "CSeq"), "3 REGISTER");
}

Test(registerer, short_expiry_refreshes_at_half)
{
	register_ok("Contact: " CONTACT ";expires=40\r\n");
	cr_assert_eq(sip_registerer_expires(reg), 40);
	cr_assert_eq(sip_registerer_next_deadline(reg), 1000 + 20000);
	run_until(1000 + 20000);
	cr_assert_eq(nsent, 2);
}

Test(registerer, granted_zero_is_a_failure)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	respond(200, "Contact: " CONTACT ";expires=0\r\n");
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(sip_registerer_failures(reg), 1);
}

Test(registerer, binding_lapses_when_refresh_is_unanswered)
{
	register_ok("Contact: " CONTACT ";expires=40\r\n");
	uint64_t expires_at = sip_registerer_expires_at(reg);
	run_until(1000 + 20000); /* the refresh leaves, and gets no answer */
	cr_assert_eq(nsent, 2);
	run_until(expires_at);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(nevents, 2);
	cr_assert_eq(events[1].status, 408);
	cr_assert_str_eq(events[1].reason, "Registration Expired");
	cr_assert_eq(events[1].at, expires_at);
	/* Timer F ends the refresh at 20 s + 32 s: a failure, a retry */
	run_until(1000 + 20000 + 32000);
	cr_assert_eq(sip_registerer_failures(reg), 1);
	cr_assert_eq(nevents, 2);
	uint64_t retry = sip_registerer_next_deadline(reg);
	cr_assert(retry >= now + 4000 && retry <= now + 5000, "retry at +%llu",
	          (unsigned long long)(retry - now));
}

/* ---- digest ---- */

Test(registerer_auth, answers_401_with_verifiable_digest)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	respond(401, challenge_line("WWW-Authenticate", false));
	cr_assert_eq(nsent, 2);
	cr_assert_eq(nevents, 0, "a challenge is no failure");
	cr_assert_str_eq(hdr(1, "CSeq"), "2 REGISTER");
	cr_assert_str_eq(hdr(1, "Call-ID"), hdr(0, "Call-ID"));
	cr_assert_str_neq(branch_of(0), branch_of(1));
	verify_credentials(1, "Authorization", 1);
	cr_assert_str_eq(hdr(1, "Proxy-Authorization"), "-");
	respond(200, "Contact: " CONTACT ";expires=600\r\n");
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_REGISTERED);
	/* the refresh starts without credentials again */
	run_until(sip_registerer_next_deadline(reg));
	cr_assert_eq(nsent, 3);
	cr_assert_str_eq(hdr(2, "Authorization"), "-");
	respond(401, challenge_line("WWW-Authenticate", false));
	verify_credentials(3, "Authorization", 1);
}

Test(registerer_auth, proxy_407_then_registrar_401)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	respond(407, challenge_line("Proxy-Authenticate", false));
	cr_assert_eq(nsent, 2);
	verify_credentials(1, "Proxy-Authorization", 1);
	cr_assert_str_eq(hdr(1, "Authorization"), "-");
	respond(401, challenge_line("WWW-Authenticate", false));
	cr_assert_eq(nsent, 3);
	/* the proxy's nonce is used a second time: nc 2 */
	verify_credentials(2, "Proxy-Authorization", 2);
	verify_credentials(2, "Authorization", 1);
	respond(200, NULL);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_REGISTERED);
}

Test(registerer_auth, second_challenge_is_a_failure)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	const char *line = challenge_line("WWW-Authenticate", false);
	respond(401, line);
	cr_assert_eq(nsent, 2);
	respond(401, line); /* same nonce, no stale: the password is wrong */
	cr_assert_eq(nsent, 2, "no second answer");
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(nevents, 1);
	cr_assert_eq(events[0].status, 401);
	cr_assert_eq(sip_registerer_failures(reg), 1);
	cr_assert_neq(strstr(logbuf, "credentials refused"), NULL);
	/* and it is retried later, not at once */
	uint64_t d = sip_registerer_next_deadline(reg);
	cr_assert(d >= now + 4000 && d <= now + 5000);
}

Test(registerer_auth, new_nonce_without_stale_is_a_failure_too)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	respond(401, challenge_line("WWW-Authenticate", false));
	now += 1000; /* another nonce */
	respond(401, challenge_line("WWW-Authenticate", false));
	cr_assert_eq(nsent, 2);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
}

Test(registerer_auth, stale_nonce_is_answered_again)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	respond(401, challenge_line("WWW-Authenticate", false));
	cr_assert_eq(nsent, 2);
	now += 1000;
	respond(401, challenge_line("WWW-Authenticate", true));
	cr_assert_eq(nsent, 3);
	verify_credentials(2, "Authorization", 1);
	cr_assert_str_eq(hdr(2, "CSeq"), "3 REGISTER");
	respond(200, NULL);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_REGISTERED);
	cr_assert_neq(strstr(logbuf, "stale"), NULL);
}

Test(registerer_auth, other_realm_and_unknown_algorithm_are_skipped)
{
	sip_registerer_free(reg);
	struct sip_registerer_config cfg = base_config();
	cfg.credentials.realm = REALM;
	make(&cfg);
	cr_assert_eq(sip_registerer_register(reg), 0);
	char lines[1024];
	snprintf(lines, sizeof(lines),
	         "WWW-Authenticate: Digest realm=\"elsewhere\", nonce=\"abc\", qop=\"auth\"\r\n"
	         "WWW-Authenticate: Digest realm=\"" REALM "\", nonce=\"abc\", algorithm=FOO\r\n"
	         "%s",
	         challenge_line("WWW-Authenticate", false));
	respond(401, lines);
	cr_assert_eq(nsent, 2);
	verify_credentials(1, "Authorization", 1);
}

Test(registerer_auth, challenge_without_credentials_fails)
{
	sip_registerer_free(reg);
	struct sip_registerer_config cfg = base_config();
	cfg.credentials.username = NULL;
	make(&cfg);
	cr_assert_eq(sip_registerer_register(reg), 0);
	respond(401, challenge_line("WWW-Authenticate", false));
	cr_assert_eq(nsent, 1);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(sip_registerer_last_status(reg), 401);
}

/* ---- 423 ---- */

Test(registerer, interval_too_brief_retries_with_min_expires)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	respond(423, "Min-Expires: 1800\r\n");
	cr_assert_eq(nsent, 2);
	cr_assert_str_eq(hdr(1, "Expires"), "1800");
	cr_assert_str_eq(hdr(1, "CSeq"), "2 REGISTER");
	respond(200, NULL);
	cr_assert_eq(sip_registerer_expires(reg), 1800);
	/* later refreshes keep asking for it */
	run_until(sip_registerer_next_deadline(reg));
	cr_assert_eq(nsent, 3);
	cr_assert_str_eq(hdr(2, "Expires"), "1800");
}

Test(registerer, interval_too_brief_without_min_expires_fails)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	respond(423, NULL);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(sip_registerer_last_status(reg), 423);
	/* a Min-Expires not above ours is no way forward either */
	run_until(sip_registerer_next_deadline(reg));
	cr_assert_eq(nsent, 2);
	respond(423, "Min-Expires: 300\r\n");
	cr_assert_eq(nsent, 2);
	cr_assert_eq(sip_registerer_failures(reg), 2);
}

Test(registerer, a_registrar_that_never_settles_is_cut_off)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	for (int i = 0; i < 20 && sip_registerer_busy(reg); i++) {
		char line[64];
		snprintf(line, sizeof(line), "Min-Expires: %d\r\n", 601 + i);
		respond(423, line);
	}
	cr_assert_eq(nsent, 8);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
}

/* ---- failures and back-off ---- */

/* Each REGISTER answered 503: the gap to the next one is the back-off step,
 * drawn from [0.8 d, d] for d = 5, 10, 20 ... capped at 300 s. */
Test(registerer, backoff_sequence_on_repeated_503)
{
	static const uint64_t steps_s[] = {5, 10, 20, 40, 80, 160, 300, 300, 300};
	size_t jittered = 0;
	cr_assert_eq(sip_registerer_register(reg), 0);
	for (size_t i = 0; i < sizeof(steps_s) / sizeof(steps_s[0]); i++) {
		cr_assert_eq(nsent, i + 1);
		respond(503, NULL);
		cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
		cr_assert_eq(sip_registerer_failures(reg), i + 1);
		uint64_t failed_at = now;
		run_until(failed_at + steps_s[i] * 1000);
		cr_assert_eq(nsent, i + 2, "step %zu: no retry within %llu s", i,
		             (unsigned long long)steps_s[i]);
		uint64_t gap = sent[nsent - 1].at - failed_at;
		cr_assert(gap >= steps_s[i] * 800 && gap <= steps_s[i] * 1000,
		          "step %zu: %llu ms for %llu s", i, (unsigned long long)gap,
		          (unsigned long long)steps_s[i]);
		jittered += gap < steps_s[i] * 1000;
	}
	cr_assert_geq(jittered, 5, "the delays are spread, not exact");
	cr_assert_eq(nevents, 1, "one transition for a run of failures");
	cr_assert_eq(events[0].status, 503);
}

Test(registerer, backoff_on_timeouts)
{
	sip_registerer_free(reg);
	dest.reliable = false;
	struct sip_registerer_config cfg = base_config();
	make(&cfg);
	cr_assert_eq(sip_registerer_register(reg), 0);
	size_t first = nsent - 1;
	run_until(now + 32000); /* Timer F, after UDP retransmissions */
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(sip_registerer_last_status(reg), 408);
	size_t before = nsent;
	uint64_t t1 = now;
	run_until(now + 5000);
	cr_assert_gt(nsent, before);
	cr_assert_str_eq(hdr(before, "CSeq"), "2 REGISTER");
	uint64_t gap1 = sent[before].at - t1;
	cr_assert(gap1 >= 4000 && gap1 <= 5000);
	cr_assert_str_eq(hdr(first, "CSeq"), "1 REGISTER");
	/* the second attempt times out too: twice the wait */
	run_until(sent[before].at + 32000);
	cr_assert_eq(sip_registerer_failures(reg), 2);
	uint64_t t2 = now;
	size_t before2 = nsent;
	run_until(now + 10000);
	cr_assert_gt(nsent, before2);
	uint64_t gap2 = sent[before2].at - t2;
	cr_assert(gap2 >= 8000 && gap2 <= 10000, "gap %llu", (unsigned long long)gap2);
}

Test(registerer, retry_after_on_503_is_honoured)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	respond(503, "Retry-After: 120 (maintenance)\r\n");
	uint64_t failed_at = now;
	cr_assert_eq(sip_registerer_next_deadline(reg), failed_at + 120000);
	run_until(failed_at + 119999);
	cr_assert_eq(nsent, 1);
	run_until(failed_at + 120000);
	cr_assert_eq(nsent, 2);
}

Test(registerer, forbidden_backs_off_and_success_resets)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	respond(403, NULL);
	cr_assert_eq(events[0].status, 403);
	run_until(sip_registerer_next_deadline(reg));
	respond(500, NULL);
	cr_assert_eq(sip_registerer_failures(reg), 2);
	run_until(sip_registerer_next_deadline(reg));
	respond(200, NULL);
	cr_assert_eq(sip_registerer_failures(reg), 0);
	cr_assert_eq(nevents, 2);
	cr_assert_eq(events[1].state, SIP_REGISTERER_REGISTERED);
	run_until(sip_registerer_next_deadline(reg));
	respond(408, NULL);
	uint64_t d = sip_registerer_next_deadline(reg) - now;
	cr_assert(d >= 4000 && d <= 5000, "back to the first step: %llu", (unsigned long long)d);
}

Test(registerer, transport_error_on_first_send)
{
	fail_send = -ECONNREFUSED;
	cr_assert_eq(sip_registerer_register(reg), 0);
	cr_assert_eq(nsent, 0);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(sip_registerer_last_status(reg), 503);
	cr_assert(!sip_registerer_busy(reg));
	fail_send = 0;
	run_until(sip_registerer_next_deadline(reg));
	cr_assert_eq(nsent, 1);
	respond(200, NULL);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_REGISTERED);
}

Test(registerer, transport_error_on_retransmission)
{
	sip_registerer_free(reg);
	dest.reliable = false;
	struct sip_registerer_config cfg = base_config();
	make(&cfg);
	cr_assert_eq(sip_registerer_register(reg), 0);
	fail_send = -EHOSTUNREACH;
	run_until(now + 500); /* Timer E's retransmission fails */
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(sip_registerer_last_status(reg), 503);
	cr_assert_str_eq(sip_registerer_last_reason(reg), "Transport Error");
	cr_assert_eq(sip_registerer_failures(reg), 1);
}

Test(registerer, reason_phrase_is_kept_without_control_bytes)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	/* a tab is the one control byte the parser lets through in a reason */
	const struct sip_msg *req = sent_msg(0);
	struct sip_buf b;
	sip_buf_init(&b, 0);
	sip_build_response(&b, req, 480, "Gone Away", SIP_PL("t"));
	sip_build_body(&b, NULL, SIP_PL(""));
	cr_assert_eq(b.error, 0);
	char *space = memchr(b.p, ' ', b.len);
	space = memchr(space + 1, ' ', b.len - (size_t)(space + 1 - b.p)); /* after the code */
	space = memchr(space + 1, ' ', b.len - (size_t)(space + 1 - b.p)); /* inside the reason */
	*space = '\t';
	struct sip_msg *resp = sip_msg_new(NULL);
	size_t consumed;
	struct sip_parse_error err;
	cr_assert_eq(sip_msg_parse(resp, b.p, b.len, SIP_PARSE_DATAGRAM, &consumed, &err),
	             SIP_PARSE_OK);
	cr_assert_eq(sip_txn_layer_recv(layer, resp, &dest, now), SIP_TXN_RECV_RESPONSE);
	cr_assert_eq(sip_registerer_last_status(reg), 480);
	cr_assert_str_eq(sip_registerer_last_reason(reg), "Gone?Away");
	cr_assert_str_eq(events[0].reason, "Gone?Away");
	sip_msg_free(resp);
	sip_buf_free(&b);
}

/* ---- unregister and dispose ---- */

Test(registerer, unregister_sends_expires_zero_and_stops)
{
	register_ok(NULL);
	cr_assert_eq(sip_registerer_unregister(reg), 0);
	cr_assert_eq(nsent, 2);
	cr_assert_str_eq(hdr(1, "Expires"), "0");
	cr_assert_str_eq(hdr(1, "Contact"), CONTACT);
	cr_assert_str_eq(hdr(1, "CSeq"), "2 REGISTER");
	cr_assert_str_eq(hdr(1, "Call-ID"), hdr(0, "Call-ID"));
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_REGISTERED);
	respond(200, NULL);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(sip_registerer_expires(reg), 0);
	cr_assert_eq(sip_registerer_next_deadline(reg), UINT64_MAX);
	run_until(now + 3600000);
	cr_assert_eq(nsent, 2, "no refresh after unregister");
	/* again: already unregistered, nothing to send */
	cr_assert_eq(sip_registerer_unregister(reg), 0);
	cr_assert_eq(nsent, 2);
	/* and register again works */
	cr_assert_eq(sip_registerer_register(reg), 0);
	cr_assert_str_eq(hdr(2, "Expires"), "600");
	cr_assert_str_eq(hdr(2, "CSeq"), "3 REGISTER");
}

Test(registerer_auth, unregister_answers_a_challenge)
{
	register_ok(NULL);
	cr_assert_eq(sip_registerer_unregister(reg), 0);
	respond(401, challenge_line("WWW-Authenticate", false));
	cr_assert_eq(nsent, 3);
	cr_assert_str_eq(hdr(2, "Expires"), "0");
	verify_credentials(2, "Authorization", 1);
	respond(200, NULL);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
}

Test(registerer, unregister_failure_is_not_retried)
{
	register_ok(NULL);
	cr_assert_eq(sip_registerer_unregister(reg), 0);
	respond(500, NULL);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(sip_registerer_last_status(reg), 500);
	cr_assert_eq(sip_registerer_next_deadline(reg), UINT64_MAX);
}

Test(registerer, unregister_while_register_in_flight)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	cr_assert_eq(sip_registerer_unregister(reg), 0);
	cr_assert_eq(nsent, 1, "waits for the REGISTER's outcome");
	respond(200, NULL);
	cr_assert_eq(nsent, 2, "the binding just made is removed");
	cr_assert_str_eq(hdr(1, "Expires"), "0");
	respond(200, NULL);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(nevents, 1, "never reported Registered");
}

Test(registerer, unregister_while_failing_register_in_flight)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	cr_assert_eq(sip_registerer_unregister(reg), 0);
	respond(503, NULL);
	cr_assert_eq(nsent, 1, "no binding to remove");
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(sip_registerer_next_deadline(reg), UINT64_MAX);
}

Test(registerer, register_while_unregister_in_flight)
{
	register_ok(NULL);
	cr_assert_eq(sip_registerer_unregister(reg), 0);
	cr_assert_eq(sip_registerer_register(reg), 0);
	cr_assert_eq(nsent, 2);
	respond(200, NULL);
	cr_assert_eq(nsent, 3, "the REGISTER follows the unregister");
	cr_assert_str_eq(hdr(2, "Expires"), "600");
	respond(200, NULL);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_REGISTERED);
}

Test(registerer, unregister_from_initial_sends_nothing)
{
	cr_assert_eq(sip_registerer_unregister(reg), 0);
	cr_assert_eq(nsent, 0);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(events[0].status, 0);
}

Test(registerer, dispose_while_registered_unregisters_first)
{
	register_ok(NULL);
	cr_assert_eq(sip_registerer_dispose(reg), 0);
	cr_assert_eq(nsent, 2);
	cr_assert_str_eq(hdr(1, "Expires"), "0");
	cr_assert_eq(sip_registerer_register(reg), -EPROTO);
	cr_assert_eq(sip_registerer_unregister(reg), -EPROTO);
	respond(200, NULL);
	cr_assert_eq(nevents, 3);
	cr_assert_eq(events[1].state, SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(events[2].state, SIP_REGISTERER_TERMINATED);
	cr_assert_eq(sip_registerer_next_deadline(reg), UINT64_MAX);
	cr_assert_eq(sip_registerer_dispose(reg), 0);
	run_until(now + 3600000);
	cr_assert_eq(nsent, 2);
}

Test(registerer, dispose_from_initial_and_while_retrying)
{
	cr_assert_eq(sip_registerer_dispose(reg), 0);
	cr_assert_eq(nsent, 0);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_TERMINATED);
	sip_registerer_free(reg);
	nevents = 0;
	struct sip_registerer_config cfg = base_config();
	make(&cfg);
	cr_assert_eq(sip_registerer_register(reg), 0);
	respond(503, NULL);
	cr_assert_eq(sip_registerer_dispose(reg), 0);
	cr_assert_eq(nsent, 1, "no binding after a failure: nothing sent");
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_TERMINATED);
	run_until(now + 600000);
	cr_assert_eq(nsent, 1);
}

Test(registerer, dispose_from_the_registered_callback)
{
	on_state_action = 2;
	register_ok(NULL);
	/* the callback disposed: the unregister left at once */
	cr_assert_eq(nsent, 2);
	cr_assert_str_eq(hdr(1, "Expires"), "0");
	respond(200, NULL);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_TERMINATED);
}

Test(registerer, register_from_the_unregistered_callback_restarts)
{
	on_state_action = 1;
	cr_assert_eq(sip_registerer_register(reg), 0);
	respond(503, NULL);
	cr_assert_eq(nsent, 2, "the owner asked again from the callback");
	respond(200, NULL);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_REGISTERED);
}

Test(registerer, free_while_a_register_is_out)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	sip_registerer_free(reg);
	reg = NULL;
	/* the transaction still lives and gets its answer: nobody is called */
	cr_assert_eq(respond_to(0, 200, NULL), SIP_TXN_RECV_RESPONSE);
	cr_assert_eq(nevents, 0);
}

Test(registerer, layer_shutdown_counts_as_transport_loss)
{
	cr_assert_eq(sip_registerer_register(reg), 0);
	sip_txn_layer_shutdown(layer);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_UNREGISTERED);
	cr_assert_eq(sip_registerer_last_status(reg), 503);
	cr_assert(!sip_registerer_busy(reg));
}

Test(registerer, set_transport_changes_via_contact_and_flow)
{
	struct sip_ua_transport t = {.dest = {.flow = (void *)0x2, .reliable = true},
	                             .via = "SIP/2.0/TLS 192.0.2.1:5061",
	                             .contact = "<sip:1000@192.0.2.1:5061;transport=tls>"};
	cr_assert_eq(sip_registerer_set_transport(reg, &t), 0);
	cr_assert_eq(sip_registerer_register(reg), 0);
	cr_assert_eq(strncmp(hdr(0, "Via"), "SIP/2.0/TLS 192.0.2.1:5061;branch=", 34), 0);
	cr_assert_str_eq(hdr(0, "Contact"), "<sip:1000@192.0.2.1:5061;transport=tls>");
	t.via = "SIP/2.0/TLS bad host";
	cr_assert_eq(sip_registerer_set_transport(reg, &t), -EINVAL);
}

/* ---- against the real registrar ---- */

static int lookup_user(void *arg, sip_pl user, enum sip_auth_algorithm alg, char *ha1, size_t size)
{
	(void)arg;
	if (!sip_pl_eq_cstr(user, USER))
		return -ENOENT;
	return sip_auth_ha1(alg, user, SIP_PL(REALM), SIP_PL(PASSWORD), ha1, size) < 0 ? -EIO : 0;
}

/* Hand sent[i] to the registrar and its answer back to the layer. */
static int through_registrar(struct sip_registrar *rr, size_t i)
{
	const struct sip_msg *req = sent_msg(i);
	struct sip_buf b;
	sip_buf_init(&b, 0);
	int status = sip_registrar_handle(
	    rr, &(struct sip_registrar_request){.msg = req, .flow = dest.flow, .now_ms = now}, &b);
	cr_assert_gt(status, 0);
	struct sip_msg *resp = sip_msg_new(NULL);
	size_t consumed;
	struct sip_parse_error err;
	cr_assert_eq(sip_msg_parse(resp, b.p, b.len, SIP_PARSE_DATAGRAM, &consumed, &err),
	             SIP_PARSE_OK);
	cr_assert_eq(sip_txn_layer_recv(layer, resp, &dest, now), SIP_TXN_RECV_RESPONSE);
	sip_msg_free(resp);
	sip_buf_free(&b);
	return status;
}

Test(registerer, against_the_real_registrar)
{
	struct sip_registrar *rr;
	struct sip_registrar_config rc = {
	    .realm = SIP_PL(REALM), .lookup_user = lookup_user, .max_expires = 300};
	cr_assert_eq(sip_registrar_new(&rr, &rc), 0);
	cr_assert_eq(sip_registerer_register(reg), 0);
	cr_assert_eq(through_registrar(rr, 0), 401);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(through_registrar(rr, 1), 200);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_REGISTERED);
	cr_assert_eq(sip_registerer_expires(reg), 300, "the registrar shortened 600 to 300");
	cr_assert_eq(sip_registrar_lookup(rr, SIP_PL(USER), SIP_PL(REALM), now, NULL, NULL), 1);
	/* a refresh goes through the same two steps */
	run_until(sip_registerer_next_deadline(reg));
	cr_assert_eq(through_registrar(rr, 2), 401);
	cr_assert_eq(through_registrar(rr, 3), 200);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_REGISTERED);
	/* dispose removes the binding */
	cr_assert_eq(sip_registerer_dispose(reg), 0);
	cr_assert_eq(through_registrar(rr, 4), 401);
	cr_assert_eq(through_registrar(rr, 5), 200);
	cr_assert_eq(sip_registerer_state(reg), SIP_REGISTERER_TERMINATED);
	cr_assert_eq(sip_registrar_lookup(rr, SIP_PL(USER), SIP_PL(REALM), now, NULL, NULL), 0);
	sip_registrar_free(rr);
}
