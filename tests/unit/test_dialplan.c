/* test_dialplan.c — routing a Request-URI through the configured routes
 * (prefix, regular expression, domain, strip/prepend, first match wins) and
 * through the default plan, with the plan built from real configurations
 * (file, environment and flags). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"
#include "server/dialplan.h"
#include "sip/sip_uri.h"

static struct sipwire_config cfg;
static struct config_errors errs;
static struct sw_dialplan *dp;

static char *home_env[] = {"HOME=/home/tester", NULL};

static void setup(void)
{
	config_errors_init(&errs);
	dp = NULL;
}

static void teardown(void)
{
	sw_dialplan_free(dp);
	sipwire_config_free(&cfg);
	config_errors_free(&errs);
}

TestSuite(dialplan, .init = setup, .fini = teardown);

/* A finished configuration from a file text, environment and flags, and the
 * plan built from it. */
static void plan(const char *json, char **env, int argc, char **argv)
{
	cr_assert_eq(sipwire_config_defaults(&cfg), 0);
	if (json)
		sipwire_config_load_json(&cfg, json, strlen(json), "test.json", &errs);
	sipwire_config_apply_env(&cfg, env ? env : home_env, &errs);
	if (argv)
		sipwire_config_apply_args(&cfg, argc, argv, &errs);
	sipwire_config_finish(&cfg, env ? env : home_env, &errs);
	for (size_t i = 0; i < errs.count; i++)
		cr_log_error("config error: %s", errs.msg[i]);
	cr_assert_eq(errs.count, 0);
	cr_assert_eq(sw_dialplan_new(&cfg, &dp), 0);
}

/* Who is registered, and how often the plan asked. */
struct registry {
	const char *users[4];
	unsigned calls;
	char last_user[64], last_host[64];
};

static bool is_registered(void *arg, sip_pl user, sip_pl host)
{
	struct registry *reg = arg;
	reg->calls++;
	snprintf(reg->last_user, sizeof(reg->last_user), "%.*s", (int)user.l, user.p);
	snprintf(reg->last_host, sizeof(reg->last_host), "%.*s", (int)host.l, host.p ? host.p : "");
	for (size_t i = 0; i < 4 && reg->users[i]; i++)
		if (sip_pl_eq_cstr(user, reg->users[i]))
			return true;
	return false;
}

static char user_buf[64];

static int route_with(const char *uri_text, struct registry *reg, struct sw_route_result *res)
{
	struct sip_uri uri;
	cr_assert_eq(sip_uri_parse(sip_pl_from_cstr(uri_text), &uri), 0, "%s", uri_text);
	memset(res, 0, sizeof(*res));
	res->user = user_buf;
	res->user_size = sizeof(user_buf);
	return sw_dialplan_route(dp, &uri, reg ? is_registered : NULL, reg, res);
}

static struct sw_route_result route(const char *uri_text)
{
	struct sw_route_result res;
	cr_assert_eq(route_with(uri_text, NULL, &res), 0, "%s", uri_text);
	return res;
}

#define TWO_TRUNKS                                                                                 \
	"\"trunks\": [{\"name\": \"pbx\", \"uri\": \"sip:pbx.example.com\"},"                      \
	"{\"name\": \"carrier\", \"uri\": \"sip:sbc.carrier.example:5060;transport=udp\"}]"

Test(dialplan, prefix_rule_with_strip_and_prepend)
{
	plan("{" TWO_TRUNKS ", \"routes\": ["
	     "{\"match_user\": \"0\", \"strip\": 1, \"prepend\": \"+49\", \"target\": "
	     "\"carrier\"}]}",
	     NULL, 0, NULL);
	struct sw_route_result r = route("sip:0301234567@gw.example.com");
	cr_assert_eq(r.kind, SW_ROUTE_TRUNK);
	cr_assert_eq(r.trunk, 1);
	cr_assert_str_eq(r.trunk_name, "carrier");
	cr_assert_str_eq(r.user, "+49301234567");
	cr_assert_eq(r.user_len, strlen("+49301234567"));
	cr_assert_eq(r.rule, 0);
	cr_assert_str_eq(r.rule_name, "routes[0]");

	/* not the prefix: no route, and with routes configured nothing else */
	r = route("sip:1301234567@gw.example.com");
	cr_assert_eq(r.kind, SW_ROUTE_NONE);
	cr_assert_eq(r.rule, -1);
	cr_assert_str_eq(r.rule_name, "no route");
	cr_assert_str_eq(r.user, "1301234567");
	cr_assert_null(r.trunk_name);
}

Test(dialplan, strip_longer_than_the_user_part_does_not_match)
{
	plan("{" TWO_TRUNKS ", \"routes\": [{\"match_user\": \"9\", \"strip\": 3, \"target\": "
	     "\"pbx\"}, {\"target\": \"echo\"}]}",
	     NULL, 0, NULL);
	struct sw_route_result r = route("sip:99@gw");
	cr_assert_eq(r.kind, SW_ROUTE_ECHO);
	cr_assert_eq(r.rule, 1);
	cr_assert_str_eq(r.user, "99");
	r = route("sip:999@gw");
	cr_assert_eq(r.kind, SW_ROUTE_TRUNK);
	cr_assert_str_eq(r.user, "");
	r = route("sip:9991@gw");
	cr_assert_str_eq(r.user, "1");
}

Test(dialplan, regex_rule)
{
	plan("{" TWO_TRUNKS ", \"routes\": ["
	     "{\"match_regex\": \"^1[0-9]{3}$\", \"target\": \"user\"},"
	     "{\"match_regex\": \"^\\\\+[1-9][0-9]{6,14}$\", \"target\": \"carrier\"}]}",
	     NULL, 0, NULL);
	struct sw_route_result r = route("sip:1042@gw");
	cr_assert_eq(r.kind, SW_ROUTE_USER);
	cr_assert_str_eq(r.user, "1042");
	cr_assert_eq(r.rule, 0);
	cr_assert_eq(route("sip:10423@gw").kind, SW_ROUTE_NONE);
	cr_assert_eq(route("sip:104@gw").kind, SW_ROUTE_NONE);
	cr_assert_eq(route("sip:2042@gw").kind, SW_ROUTE_NONE);
	r = route("sip:+4930123456@gw");
	cr_assert_eq(r.kind, SW_ROUTE_TRUNK);
	cr_assert_str_eq(r.trunk_name, "carrier");
	cr_assert_eq(r.rule, 1);
	/* the user part is unescaped before matching: %2B is '+' */
	r = route("sip:%2B4930123456@gw");
	cr_assert_eq(r.kind, SW_ROUTE_TRUNK);
	cr_assert_str_eq(r.user, "+4930123456");
	/* a tel: URI's number is its user part */
	r = route("tel:+4930123456");
	cr_assert_eq(r.kind, SW_ROUTE_TRUNK);
	cr_assert_eq(r.rule, 1);
	/* unanchored expressions match anywhere, as POSIX says */
	sw_dialplan_free(dp);
	dp = NULL;
	sipwire_config_free(&cfg);
	plan("{\"routes\": [{\"match_regex\": \"555\", \"target\": \"echo\"}]}", NULL, 0, NULL);
	cr_assert_eq(route("sip:0105550@gw").kind, SW_ROUTE_ECHO);
}

Test(dialplan, domain_rule)
{
	plan("{" TWO_TRUNKS ", \"routes\": ["
	     "{\"match_domain\": \"pbx.example.com\", \"target\": \"pbx\"},"
	     "{\"match_user\": \"+\", \"match_domain\": \"sbc.example.net\", \"strip\": 1,"
	     " \"target\": \"carrier\"}]}",
	     NULL, 0, NULL);
	struct sw_route_result r = route("sip:200@PBX.Example.COM");
	cr_assert_eq(r.kind, SW_ROUTE_TRUNK);
	cr_assert_str_eq(r.trunk_name, "pbx");
	cr_assert_str_eq(r.user, "200");
	cr_assert_eq(route("sip:200@other.example.com").kind, SW_ROUTE_NONE);
	cr_assert_eq(route("sip:200@pbx.example.com.evil").kind, SW_ROUTE_NONE);
	/* domain and prefix must both match */
	r = route("sip:+15551234@sbc.example.net");
	cr_assert_eq(r.kind, SW_ROUTE_TRUNK);
	cr_assert_str_eq(r.trunk_name, "carrier");
	cr_assert_str_eq(r.user, "15551234");
	cr_assert_eq(route("sip:15551234@sbc.example.net").kind, SW_ROUTE_NONE);
	/* a tel: URI has no domain, so no domain rule matches it */
	cr_assert_eq(route("tel:+15551234").kind, SW_ROUTE_NONE);
}

Test(dialplan, first_match_wins)
{
	const char *ab = "{" TWO_TRUNKS ", \"routes\": ["
	                 "{\"match_user\": \"49\", \"target\": \"pbx\"},"
	                 "{\"match_user\": \"4\", \"target\": \"carrier\"},"
	                 "{\"target\": \"echo\"}]}";
	plan(ab, NULL, 0, NULL);
	struct sw_route_result r = route("sip:4930@gw");
	cr_assert_str_eq(r.trunk_name, "pbx");
	cr_assert_eq(r.rule, 0);
	r = route("sip:4130@gw");
	cr_assert_str_eq(r.trunk_name, "carrier");
	cr_assert_eq(r.rule, 1);
	r = route("sip:anything@gw");
	cr_assert_eq(r.kind, SW_ROUTE_ECHO);
	cr_assert_eq(r.rule, 2);
	cr_assert_eq(sw_dialplan_route_count(dp), 3);

	/* the same rules the other way round: the shorter prefix takes all */
	sw_dialplan_free(dp);
	dp = NULL;
	sipwire_config_free(&cfg);
	plan("{" TWO_TRUNKS ", \"routes\": ["
	     "{\"match_user\": \"4\", \"target\": \"carrier\"},"
	     "{\"match_user\": \"49\", \"target\": \"pbx\"}]}",
	     NULL, 0, NULL);
	r = route("sip:4930@gw");
	cr_assert_str_eq(r.trunk_name, "carrier");
	cr_assert_eq(r.rule, 0);
}

Test(dialplan, default_plan_with_trunks)
{
	plan("{" TWO_TRUNKS "}", NULL, 0, NULL);
	cr_assert_eq(sw_dialplan_route_count(dp), 0);
	struct registry reg = {.users = {"alice", "1001"}};
	struct sw_route_result r;

	cr_assert_eq(route_with("sip:echo@gw.example.com", &reg, &r), 0);
	cr_assert_eq(r.kind, SW_ROUTE_ECHO);
	cr_assert_str_eq(r.rule_name, "default: echo");
	cr_assert_eq(reg.calls, 0, "echo needs no registration lookup");

	cr_assert_eq(route_with("sip:alice@gw.example.com", &reg, &r), 0);
	cr_assert_eq(r.kind, SW_ROUTE_USER);
	cr_assert_str_eq(r.user, "alice");
	cr_assert_str_eq(r.rule_name, "default: user");
	cr_assert_eq(r.rule, -1);
	cr_assert_eq(reg.calls, 1);
	cr_assert_str_eq(reg.last_user, "alice");
	cr_assert_str_eq(reg.last_host, "gw.example.com");

	cr_assert_eq(route_with("sip:+4930123@gw.example.com", &reg, &r), 0);
	cr_assert_eq(r.kind, SW_ROUTE_TRUNK);
	cr_assert_eq(r.trunk, 0);
	cr_assert_str_eq(r.trunk_name, "pbx");
	cr_assert_str_eq(r.user, "+4930123");
	cr_assert_str_eq(r.rule_name, "default: first trunk");
	cr_assert_eq(reg.calls, 2);

	/* no lookup given: nobody is registered */
	cr_assert_eq(route_with("sip:alice@gw.example.com", NULL, &r), 0);
	cr_assert_eq(r.kind, SW_ROUTE_TRUNK);
}

Test(dialplan, default_plan_without_trunks)
{
	plan(NULL, NULL, 0, NULL);
	struct registry reg = {.users = {"bob"}};
	struct sw_route_result r;
	cr_assert_eq(route_with("sip:echo@gw", &reg, &r), 0);
	cr_assert_eq(r.kind, SW_ROUTE_ECHO);
	cr_assert_eq(route_with("sip:bob@gw", &reg, &r), 0);
	cr_assert_eq(r.kind, SW_ROUTE_USER);
	cr_assert_eq(route_with("sip:carol@gw", &reg, &r), 0);
	cr_assert_eq(r.kind, SW_ROUTE_NONE);
	cr_assert_null(r.trunk_name);
	cr_assert_str_eq(r.rule_name, "no route");
	cr_assert_eq(reg.calls, 2);
	/* "Echo" is not "echo": user parts are case-sensitive */
	cr_assert_eq(route_with("sip:Echo@gw", &reg, &r), 0);
	cr_assert_eq(r.kind, SW_ROUTE_NONE);
}

Test(dialplan, routes_never_consult_the_registry)
{
	plan("{" TWO_TRUNKS ", \"routes\": [{\"match_user\": \"1\", \"target\": \"user\"},"
	     "{\"match_user\": \"echo\", \"target\": \"echo\"}]}",
	     NULL, 0, NULL);
	struct registry reg = {.users = {"1001"}};
	struct sw_route_result r;
	cr_assert_eq(route_with("sip:1001@gw", &reg, &r), 0);
	cr_assert_eq(r.kind, SW_ROUTE_USER);
	cr_assert_eq(route_with("sip:1999@gw", &reg, &r), 0);
	cr_assert_eq(r.kind, SW_ROUTE_USER, "a user route does not check registration");
	cr_assert_eq(route_with("sip:echo@gw", &reg, &r), 0);
	cr_assert_eq(r.kind, SW_ROUTE_ECHO);
	/* no route matches: NONE, not the default plan */
	cr_assert_eq(route_with("sip:alice@gw", &reg, &r), 0);
	cr_assert_eq(r.kind, SW_ROUTE_NONE);
	cr_assert_eq(reg.calls, 0);
}

Test(dialplan, flags_form)
{
	char *argv[] = {"sipwire",
	                "--trunk",
	                "pbx=sip:127.0.0.1:5070;transport=udp",
	                "--route",
	                "/^[0-9]{4}$/=user",
	                "--route=9=pbx",
	                "--route",
	                "echo=echo",
	                "--trunk",
	                "carrier=sip:sbc.example.net",
	                "--route",
	                "+=carrier",
	                "--trunk-auth",
	                "carrier=acct:pw"};
	plan(NULL, NULL, sizeof(argv) / sizeof(argv[0]), argv);
	cr_assert_eq(cfg.n_trunks, 2);
	cr_assert_eq(sw_dialplan_route_count(dp), 4);
	struct sw_route_result r = route("sip:1234@gw");
	cr_assert_eq(r.kind, SW_ROUTE_USER);
	cr_assert_str_eq(r.rule_name, "--route[0]");
	r = route("sip:90301234@gw");
	cr_assert_eq(r.kind, SW_ROUTE_TRUNK);
	cr_assert_str_eq(r.trunk_name, "pbx");
	cr_assert_str_eq(r.user, "90301234");
	cr_assert_str_eq(r.rule_name, "--route[1]");
	r = route("sip:echo@gw");
	cr_assert_eq(r.kind, SW_ROUTE_ECHO);
	cr_assert_eq(r.rule, 2);
	r = route("sip:+15550100@gw");
	cr_assert_str_eq(r.trunk_name, "carrier");
	cr_assert_eq(route("sip:55501@gw").kind, SW_ROUTE_NONE);
}

Test(dialplan, file_routes_then_environment_then_flags)
{
	char *env[] = {"HOME=/home/tester", "SIPWIRE_TRUNKS=carrier=sip:sbc.example.net",
	               "SIPWIRE_ROUTES=  00=carrier\t/^[1-8]/=pbx  ", NULL};
	char *argv[] = {"sipwire", "--route", "=echo"};
	plan("{\"trunks\": [{\"name\": \"pbx\", \"uri\": \"sip:pbx.example.com\"}],"
	     " \"routes\": [{\"match_user\": \"0049\", \"strip\": 2, \"prepend\": \"+\","
	     " \"target\": \"pbx\"}]}",
	     env, 3, argv);
	cr_assert_eq(sw_dialplan_route_count(dp), 4);
	struct sw_route_result r = route("sip:0049301@gw");
	cr_assert_str_eq(r.trunk_name, "pbx");
	cr_assert_str_eq(r.user, "+49301");
	cr_assert_str_eq(r.rule_name, "routes[0]");
	r = route("sip:0033301@gw");
	cr_assert_str_eq(r.trunk_name, "carrier");
	cr_assert_str_eq(r.rule_name, "env SIPWIRE_ROUTES[0]");
	r = route("sip:5301@gw");
	cr_assert_str_eq(r.trunk_name, "pbx");
	cr_assert_str_eq(r.rule_name, "env SIPWIRE_ROUTES[1]");
	r = route("sip:alice@gw");
	cr_assert_eq(r.kind, SW_ROUTE_ECHO);
	cr_assert_str_eq(r.rule_name, "--route[0]");
}

Test(dialplan, rewritten_user_that_does_not_fit)
{
	plan("{\"routes\": [{\"prepend\": \"+4930\", \"target\": \"user\"}]}", NULL, 0, NULL);
	struct sip_uri uri;
	cr_assert_eq(sip_uri_parse(SIP_PL("sip:123456@gw"), &uri), 0);
	char small[8];
	struct sw_route_result r = {.user = small, .user_size = sizeof(small)};
	cr_assert_eq(sw_dialplan_route(dp, &uri, NULL, NULL, &r), -ENOSPC);
	cr_assert_eq(r.kind, SW_ROUTE_USER);
	cr_assert_str_eq(small, "");
	char fits[12]; /* "+4930123456" and its NUL */
	r = (struct sw_route_result){.user = fits, .user_size = sizeof(fits)};
	cr_assert_eq(sw_dialplan_route(dp, &uri, NULL, NULL, &r), 0);
	cr_assert_str_eq(fits, "+4930123456");
}

Test(dialplan, bad_arguments_and_user_parts)
{
	plan(NULL, NULL, 0, NULL);
	struct sw_route_result r;
	cr_assert_eq(route_with("sip:a%00b@gw", NULL, &r), -EINVAL);
	struct sip_uri uri;
	cr_assert_eq(sip_uri_parse(SIP_PL("sip:echo@gw"), &uri), 0);
	struct sw_route_result no_buf = {0};
	cr_assert_eq(sw_dialplan_route(dp, &uri, NULL, NULL, &no_buf), -EINVAL);
	cr_assert_eq(sw_dialplan_route(NULL, &uri, NULL, NULL, &r), -EINVAL);
	cr_assert_eq(sw_dialplan_new(NULL, &dp), -EINVAL);
	/* a URI without a user part routes as the empty user */
	cr_assert_eq(route_with("sip:gw.example.com", NULL, &r), 0);
	cr_assert_eq(r.kind, SW_ROUTE_NONE);
	cr_assert_str_eq(r.user, "");
}

Test(dialplan, plan_outlives_the_configuration)
{
	plan("{" TWO_TRUNKS ", \"routes\": [{\"match_regex\": \"^7\", \"prepend\": \"0\","
	     " \"target\": \"carrier\"}]}",
	     NULL, 0, NULL);
	sipwire_config_free(&cfg);
	/* scribble over what the configuration's memory held */
	char *junk[16];
	for (size_t i = 0; i < 16; i++) {
		junk[i] = malloc(32);
		memset(junk[i], 'x', 32);
	}
	struct sw_route_result r = route("sip:7000@gw");
	cr_assert_eq(r.kind, SW_ROUTE_TRUNK);
	cr_assert_str_eq(r.trunk_name, "carrier");
	cr_assert_str_eq(r.user, "07000");
	cr_assert_str_eq(r.rule_name, "routes[0]");
	for (size_t i = 0; i < 16; i++)
		free(junk[i]);
	cr_assert_eq(sipwire_config_defaults(&cfg), 0); /* for teardown */
}

Test(dialplan, kind_names)
{
	cr_assert_str_eq(sw_route_kind_name(SW_ROUTE_NONE), "none");
	cr_assert_str_eq(sw_route_kind_name(SW_ROUTE_ECHO), "echo");
	cr_assert_str_eq(sw_route_kind_name(SW_ROUTE_USER), "user");
	cr_assert_str_eq(sw_route_kind_name(SW_ROUTE_TRUNK), "trunk");
}

/* ---- the worked examples of docs/dialplan.md, routed as the page says ---- */

#define EXAMPLES SIPWIRE_TEST_DATA "/../../../docs/examples/"

static void plan_file(const char *path)
{
	char *argv[] = {"sipwire", "--config", (char *)path};
	cr_assert_eq(sipwire_config_load(&cfg, 3, argv, home_env, &errs), 0, "%s", path);
	cr_assert_eq(sw_dialplan_new(&cfg, &dp), 0);
}

struct expected_route {
	const char *ruri;
	enum sw_route_kind kind;
	const char *trunk; /* NULL unless TRUNK */
	const char *user;  /* the rewritten user part */
	int rule;
};

static void expect_routes(const struct expected_route *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct sw_route_result r = route(want[i].ruri);
		cr_assert_eq(r.kind, want[i].kind, "%s: %s", want[i].ruri,
		             sw_route_kind_name(r.kind));
		if (want[i].trunk)
			cr_assert_str_eq(r.trunk_name, want[i].trunk, "%s", want[i].ruri);
		else
			cr_assert_null(r.trunk_name, "%s", want[i].ruri);
		cr_assert_str_eq(r.user, want[i].user, "%s", want[i].ruri);
		cr_assert_eq(r.rule, want[i].rule, "%s: rule %d", want[i].ruri, r.rule);
	}
}

Test(dialplan, example_browsers_in_front_of_a_pbx)
{
	plan_file(EXAMPLES "pbx-frontend.json");
	static const struct expected_route want[] = {
	    {"sip:echo@phone.example.com", SW_ROUTE_ECHO, NULL, "echo", 0},
	    {"sip:1002@phone.example.com", SW_ROUTE_USER, NULL, "1002", 1},
	    {"sip:1002@10.0.0.20", SW_ROUTE_USER, NULL, "1002", 1}, /* from the PBX */
	    {"sip:2001@phone.example.com", SW_ROUTE_TRUNK, "pbx", "2001", 2},
	    {"sip:8000@phone.example.com", SW_ROUTE_TRUNK, "pbx", "8000", 2},
	    {"sip:030123456@phone.example.com", SW_ROUTE_TRUNK, "pbx", "030123456", 3},
	    {"sip:+4930123456@phone.example.com", SW_ROUTE_TRUNK, "pbx", "+4930123456", 4},
	    {"sip:alice@phone.example.com", SW_ROUTE_NONE, NULL, "alice", -1},
	    {"sip:10001@phone.example.com", SW_ROUTE_NONE, NULL, "10001", -1},
	};
	expect_routes(want, sizeof(want) / sizeof(want[0]));
	cr_assert_eq(cfg.n_trunks, 1);
	cr_assert_eq(cfg.trunks[0].allow_from.n, 1);
	cr_assert_not(cfg.trunks[0].register_enabled);
}

Test(dialplan, example_browsers_on_a_sip_trunk)
{
	plan_file(EXAMPLES "sip-trunk.json");
	static const struct expected_route want[] = {
	    {"sip:echo@phone.example.com", SW_ROUTE_ECHO, NULL, "echo", 0},
	    {"sip:11@phone.example.com", SW_ROUTE_USER, NULL, "11", 1},
	    /* emergency numbers go out as dialled */
	    {"sip:112@phone.example.com", SW_ROUTE_TRUNK, "carrier", "112", 2},
	    /* DIDs in from the carrier, in E.164 and without the '+' */
	    {"sip:+493012345611@203.0.113.7", SW_ROUTE_USER, NULL, "11", 3},
	    {"sip:493012345612@203.0.113.7", SW_ROUTE_USER, NULL, "12", 4},
	    /* numbers out, each sent in E.164 */
	    {"sip:+14155550100@phone.example.com", SW_ROUTE_TRUNK, "carrier", "+14155550100", 5},
	    {"sip:0033142685300@phone.example.com", SW_ROUTE_TRUNK, "carrier", "+33142685300", 6},
	    {"sip:0301234567@phone.example.com", SW_ROUTE_TRUNK, "carrier", "+49301234567", 7},
	    {"sip:12345@phone.example.com", SW_ROUTE_NONE, NULL, "12345", -1},
	};
	expect_routes(want, sizeof(want) / sizeof(want[0]));
	const struct sipwire_trunk *t = &cfg.trunks[0];
	cr_assert(t->register_enabled);
	cr_assert_str_eq(t->username, "4930123456");
	cr_assert_eq(t->expires, 600);
	cr_assert_str_eq(t->outbound_proxy, "sip:sbc.carrier.example:5060;transport=udp;lr");
}
