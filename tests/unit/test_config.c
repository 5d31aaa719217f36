/* test_config.c — the daemon's configuration: defaults, the JSON file, the
 * SIPWIRE_* environment, the flags, their precedence, and every error with the
 * exact key path an operator sees. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"

#define DATA SIPWIRE_TEST_DATA "/config/"

static struct sipwire_config cfg;
static struct config_errors errs;

static void setup(void)
{
	config_errors_init(&errs);
}

static void teardown(void)
{
	sipwire_config_free(&cfg);
	config_errors_free(&errs);
}

TestSuite(config, .init = setup, .fini = teardown);

static char *home_env[] = {"HOME=/home/tester", NULL};

/* defaults < json < env < args, then finish, the way sipwire_config_load runs. */
static int load(const char *json, char **env, int argc, char **argv)
{
	cr_assert_eq(sipwire_config_defaults(&cfg), 0);
	if (json)
		sipwire_config_load_json(&cfg, json, strlen(json), "test.json", &errs);
	sipwire_config_apply_env(&cfg, env ? env : home_env, &errs);
	if (argv)
		sipwire_config_apply_args(&cfg, argc, argv, &errs);
	sipwire_config_finish(&cfg, env ? env : home_env, &errs);
	return errs.oom ? -12 : errs.count ? -22 : 0;
}

static void dump_errors(void)
{
	for (size_t i = 0; i < errs.count; i++)
		cr_log_info("error %zu: %s", i, errs.msg[i]);
}

/* Exactly one error, with exactly this text. */
static void expect_error(const char *json, char **env, int argc, char **argv, const char *want)
{
	int r = load(json, env, argc, argv);
	dump_errors();
	cr_assert_eq(r, -22, "expected an error for: %s", want);
	cr_assert_eq(errs.count, 1, "expected only '%s', got %zu errors", want, errs.count);
	cr_assert_str_eq(errs.msg[0], want);
}

static void expect_json_error(const char *json, const char *want)
{
	expect_error(json, NULL, 0, NULL, want);
}

Test(config, defaults)
{
	char *argv[] = {"sipwire"};
	cr_assert_eq(load(NULL, NULL, 1, argv), 0);
	cr_assert_str_eq(cfg.listen.bind, "127.0.0.1");
	cr_assert_eq(cfg.listen.ws_port, 8080);
	cr_assert_eq(cfg.listen.wss_port, 8443);
	cr_assert_eq(cfg.listen.sip_port, 5060);
	cr_assert_eq(cfg.listen.tls_port, 0);
	cr_assert_str_eq(cfg.tls.cert_file, "");
	cr_assert_str_eq(cfg.tls.key_file, "");
	cr_assert_eq(cfg.ws.allowed_origins.n, 0);
	cr_assert_str_eq(cfg.realm, "sipwire");
	cr_assert_eq(cfg.n_users, 0);
	cr_assert_eq(cfg.registrar.min_expires, 60);
	cr_assert_eq(cfg.registrar.max_expires, 3600);
	cr_assert_eq(cfg.registrar.default_expires, 600);
	cr_assert_eq(cfg.sip.limits.max_msg_size, 65536);
	cr_assert_eq(cfg.sip.limits.max_headers, 128);
	cr_assert_eq(cfg.sip.limits.max_line_len, 8192);
	cr_assert_eq(cfg.sip.limits.max_via, 32);
	cr_assert_eq(cfg.sip.timers.t1, 500);
	cr_assert_eq(cfg.sip.timers.t2, 4000);
	cr_assert_eq(cfg.sip.timers.t4, 5000);
	cr_assert_eq(cfg.mode, SIPWIRE_MODE_LOCAL);
	cr_assert_str_eq(cfg.pbx.host, "");
	cr_assert_eq(cfg.pbx.port, 0, "no port: located by DNS SRV, RFC 3263");
	cr_assert_eq(cfg.pbx.transport, SIPWIRE_TRANSPORT_UDP);
	cr_assert_eq(cfg.log_level, SIPWIRE_LOG_INFO);
	cr_assert_str_eq(sipwire_log_level_name(cfg.log_level), "info");
	if (geteuid() == 0)
		cr_assert_str_eq(cfg.state_dir, "/var/lib/sipwire");
	else
		cr_assert_str_eq(cfg.state_dir, "/home/tester/.local/state/sipwire");
}

Test(config, state_dir_follows_xdg_state_home_for_users)
{
	char *env[] = {"HOME=/home/tester", "XDG_STATE_HOME=/xdg/state", NULL};
	cr_assert_eq(load(NULL, env, 0, NULL), 0);
	if (geteuid() == 0)
		cr_assert_str_eq(cfg.state_dir, "/var/lib/sipwire");
	else
		cr_assert_str_eq(cfg.state_dir, "/xdg/state/sipwire");
}

Test(config, full_file)
{
	char *argv[] = {"sipwire", "--config", DATA "good.json"};
	char *env[] = {"HOME=/home/tester", "PATH=/bin", NULL};
	int r = sipwire_config_load(&cfg, 3, argv, env, &errs);
	dump_errors();
	cr_assert_eq(r, 0);
	cr_assert_str_eq(cfg.config_file, DATA "good.json");
	cr_assert_str_eq(cfg.listen.bind, "0.0.0.0");
	cr_assert_eq(cfg.listen.ws_port, 0);
	cr_assert_eq(cfg.listen.wss_port, 443);
	cr_assert_eq(cfg.listen.sip_port, 5060);
	cr_assert_eq(cfg.listen.tls_port, 5061, "a certificate turns SIP over TLS on");
	cr_assert_str_eq(cfg.tls.cert_file, "/etc/sipwire/cert.pem");
	cr_assert_str_eq(cfg.tls.key_file, "/etc/sipwire/key.pem");
	cr_assert_eq(cfg.ws.allowed_origins.n, 1);
	cr_assert_str_eq(cfg.ws.allowed_origins.v[0], "https://phone.example.com");
	cr_assert_str_eq(cfg.realm, "example.com");
	cr_assert_eq(cfg.n_users, 2);
	cr_assert_str_eq(cfg.users[0].name, "alice");
	cr_assert_str_eq(cfg.users[0].password, "alice-pw");
	cr_assert_str_eq(cfg.users[0].ha1, "");
	cr_assert_str_eq(cfg.users[1].name, "bob");
	cr_assert_null(cfg.users[1].password);
	cr_assert_str_eq(cfg.users[1].ha1, "0123456789abcdef0123456789abcdef");
	cr_assert_eq(cfg.registrar.min_expires, 30);
	cr_assert_eq(cfg.registrar.max_expires, 7200);
	cr_assert_eq(cfg.registrar.default_expires, 300);
	cr_assert_eq(cfg.sip.limits.max_msg_size, 32768);
	cr_assert_eq(cfg.sip.limits.max_headers, 64);
	cr_assert_eq(cfg.sip.limits.max_line_len, 4096);
	cr_assert_eq(cfg.sip.limits.max_via, 16);
	cr_assert_eq(cfg.sip.timers.t1, 250);
	cr_assert_eq(cfg.sip.timers.t2, 4000);
	cr_assert_eq(cfg.sip.timers.t4, 5000);
	cr_assert_eq(cfg.mode, SIPWIRE_MODE_LOCAL);
	cr_assert_eq(cfg.log_level, SIPWIRE_LOG_DEBUG);
	cr_assert_str_eq(cfg.state_dir, "/var/lib/sipwire");
}

Test(config, passthrough_file)
{
	const char *json = "{\"mode\": \"passthrough\", \"pbx\": {\"host\": \"pbx.example.com\", "
	                   "\"port\": 5080, \"transport\": \"tls\"}, \"listen\": {\"tls_port\": 5061}}";
	cr_assert_eq(load(json, NULL, 0, NULL), 0);
	cr_assert_eq(cfg.mode, SIPWIRE_MODE_PASSTHROUGH);
	cr_assert_str_eq(cfg.pbx.host, "pbx.example.com");
	cr_assert_eq(cfg.pbx.port, 5080);
	cr_assert_eq(cfg.pbx.transport, SIPWIRE_TRANSPORT_TLS);
}

Test(config, precedence_file_env_flags)
{
	const char *json =
	    "{\"listen\": {\"ws_port\": 1000, \"wss_port\": 1001, \"sip_port\": 1002},"
	    " \"realm\": \"from-file\", \"log\": {\"level\": \"error\"}}";
	char *env[] = {"HOME=/h", "SIPWIRE_LISTEN_WS_PORT=2000", "SIPWIRE_LISTEN_WSS_PORT=2001",
	               "SIPWIRE_LOG_LEVEL=warn", NULL};
	char *argv[] = {"sipwire", "--ws-port", "3000", "--log-level=debug"};
	cr_assert_eq(load(json, env, 4, argv), 0);
	cr_assert_eq(cfg.listen.ws_port, 3000, "flag beats environment and file");
	cr_assert_eq(cfg.listen.wss_port, 2001, "environment beats file");
	cr_assert_eq(cfg.listen.sip_port, 1002, "file beats default");
	cr_assert_eq(cfg.listen.tls_port, 0, "default");
	cr_assert_str_eq(cfg.realm, "from-file");
	cr_assert_eq(cfg.log_level, SIPWIRE_LOG_DEBUG);
}

Test(config, precedence_through_load)
{
	char *env[] = {"HOME=/h", "SIPWIRE_CONFIG=" DATA "good.json", "SIPWIRE_REALM=env.example",
	               "SIPWIRE_LISTEN_WSS_PORT=9443", NULL};
	char *argv[] = {"sipwire", "--realm", "flag.example"};
	int r = sipwire_config_load(&cfg, 3, argv, env, &errs);
	dump_errors();
	cr_assert_eq(r, 0);
	cr_assert_str_eq(cfg.config_file, DATA "good.json", "SIPWIRE_CONFIG names the file");
	cr_assert_str_eq(cfg.realm, "flag.example");
	cr_assert_eq(cfg.listen.wss_port, 9443);
	cr_assert_str_eq(cfg.listen.bind, "0.0.0.0", "from the file");
}

Test(config, every_key_from_env_and_set)
{
	char *env[] = {"HOME=/h",
	               "SIPWIRE_LISTEN_BIND=::1",
	               "SIPWIRE_TLS_CERT_FILE=/c.pem",
	               "SIPWIRE_TLS_KEY_FILE=/k.pem",
	               "SIPWIRE_WS_ALLOWED_ORIGINS=https://a.example,http://b.example:8000",
	               "SIPWIRE_REGISTRAR_MIN_EXPIRES=10",
	               "SIPWIRE_REGISTRAR_MAX_EXPIRES=100",
	               "SIPWIRE_REGISTRAR_DEFAULT_EXPIRES=50",
	               "SIPWIRE_SIP_LIMITS_MAX_MESSAGE_SIZE=2048",
	               "SIPWIRE_SIP_LIMITS_MAX_HEADERS=20",
	               "SIPWIRE_SIP_LIMITS_MAX_LINE_LEN=300",
	               "SIPWIRE_SIP_LIMITS_MAX_VIA=2",
	               "SIPWIRE_SIP_TIMERS_T1=100",
	               "SIPWIRE_SIP_TIMERS_T2=200",
	               "SIPWIRE_SIP_TIMERS_T4=300",
	               "SIPWIRE_MODE=passthrough",
	               "SIPWIRE_PBX_HOST=10.0.0.1",
	               "SIPWIRE_PBX_PORT=5070",
	               "SIPWIRE_PBX_TRANSPORT=tcp",
	               "SIPWIRE_STATE_DIR=/srv/state",
	               "SIPWIRE_USERS=alice:a:b,bob:pw",
	               "SIPWIRE_WS_PING_INTERVAL=5",
	               "SIPWIRE_WS_IDLE_TIMEOUT=12",
	               "SIPWIRE_AUTH_MAX_FAILURES=3",
	               "SIPWIRE_AUTH_FAILURE_WINDOW=30",
	               "SIPWIRE_TLS_VERIFY_SERVER=false",
	               "SIPWIRE_TLS_CA_FILE=/ca.pem",
	               "SIPWIRE_AUTH_ALGORITHMS=MD5, SHA-256",
	               NULL};
	char *argv[] = {"sipwire", "--set",   "sip.timers.t4=400", "--tls-port", "0",
	                "--user",  "carol:c", "--state-dir",       "/srv/flag",  "--sip-port=5062"};
	int r = load(NULL, env, 10, argv);
	dump_errors();
	cr_assert_eq(r, 0);
	cr_assert_str_eq(cfg.listen.bind, "::1");
	cr_assert_str_eq(cfg.tls.cert_file, "/c.pem");
	cr_assert_str_eq(cfg.tls.key_file, "/k.pem");
	cr_assert_eq(cfg.listen.tls_port, 0, "an explicit 0 keeps TLS off despite the certificate");
	cr_assert_eq(cfg.listen.sip_port, 5062);
	cr_assert_eq(cfg.ws.allowed_origins.n, 2);
	cr_assert_eq(cfg.ws.ping_interval, 5);
	cr_assert_eq(cfg.ws.idle_timeout, 12);
	cr_assert_eq(cfg.auth.max_failures, 3);
	cr_assert_eq(cfg.auth.failure_window, 30);
	cr_assert_not(cfg.tls.verify_server);
	cr_assert_str_eq(cfg.tls.ca_file, "/ca.pem");
	cr_assert_eq(cfg.auth.n_algorithms, 2);
	cr_assert_eq(cfg.auth.algorithms[0], SIP_AUTH_ALG_MD5);
	cr_assert_eq(cfg.auth.algorithms[1], SIP_AUTH_ALG_SHA256);
	cr_assert_str_eq(cfg.ws.allowed_origins.v[0], "https://a.example");
	cr_assert_str_eq(cfg.ws.allowed_origins.v[1], "http://b.example:8000");
	cr_assert_eq(cfg.registrar.min_expires, 10);
	cr_assert_eq(cfg.registrar.max_expires, 100);
	cr_assert_eq(cfg.registrar.default_expires, 50);
	cr_assert_eq(cfg.sip.limits.max_msg_size, 2048);
	cr_assert_eq(cfg.sip.limits.max_headers, 20);
	cr_assert_eq(cfg.sip.limits.max_line_len, 300);
	cr_assert_eq(cfg.sip.limits.max_via, 2);
	cr_assert_eq(cfg.sip.timers.t1, 100);
	cr_assert_eq(cfg.sip.timers.t2, 200);
	cr_assert_eq(cfg.sip.timers.t4, 400);
	cr_assert_eq(cfg.mode, SIPWIRE_MODE_PASSTHROUGH);
	cr_assert_str_eq(cfg.pbx.host, "10.0.0.1");
	cr_assert_eq(cfg.pbx.port, 5070);
	cr_assert_eq(cfg.pbx.transport, SIPWIRE_TRANSPORT_TCP);
	cr_assert_str_eq(cfg.state_dir, "/srv/flag");
	cr_assert_eq(cfg.n_users, 3);
	cr_assert_str_eq(cfg.users[0].name, "alice");
	cr_assert_str_eq(cfg.users[0].password, "a:b", "the first colon splits");
	cr_assert_str_eq(cfg.users[1].name, "bob");
	cr_assert_str_eq(cfg.users[2].name, "carol");
	cr_assert_str_eq(cfg.users[2].password, "c");
}

Test(config, users_from_file_env_and_flags_add_up)
{
	const char *json = "{\"users\": [{\"name\": \"alice\", \"password\": \"x\"}]}";
	char *env[] = {"HOME=/h", "SIPWIRE_USERS=bob:y", NULL};
	char *argv[] = {"sipwire", "--user", "carol:z", "--user", "dave:w"};
	cr_assert_eq(load(json, env, 5, argv), 0);
	cr_assert_eq(cfg.n_users, 4);
	cr_assert_str_eq(cfg.users[0].name, "alice");
	cr_assert_str_eq(cfg.users[1].name, "bob");
	cr_assert_str_eq(cfg.users[2].name, "carol");
	cr_assert_str_eq(cfg.users[3].name, "dave");
	cr_assert_str_eq(cfg.users[3].password, "w");
}

/* ---- errors, each with its key path ---- */

Test(config, json_errors_have_key_paths)
{
	expect_json_error("{\"listen\": {\"wss_port\": 70000}}",
	                  "listen.wss_port: must be an integer 0..65535");
	teardown();
	expect_json_error("{\"listen\": {\"wss_port\": \"443\"}}",
	                  "listen.wss_port: must be an integer 0..65535");
	teardown();
	expect_json_error("{\"listen\": {\"ws_port\": 80.5}}",
	                  "listen.ws_port: must be an integer 0..65535");
	teardown();
	expect_json_error("{\"listen\": {\"ws_port\": -1}}",
	                  "listen.ws_port: must be an integer 0..65535");
	teardown();
	expect_json_error("{\"listen\": {\"bind\": \"localhost\"}}",
	                  "listen.bind: must be a numeric IPv4 or IPv6 address");
	teardown();
	expect_json_error("{\"listen\": {\"bind\": 127}}", "listen.bind: must be a string");
	teardown();
	expect_json_error("{\"listen\": {\"wsport\": 1}}", "listen.wsport: unknown key");
	teardown();
	expect_json_error("{\"listn\": {}}", "listn: unknown key");
	teardown();
	expect_json_error("{\"listen\": 5}", "listen: must be an object");
	teardown();
	expect_json_error("{\"sip\": {\"limits\": {\"max_headers\": 5}}}",
	                  "sip.limits.max_headers: must be an integer 16..1024");
	teardown();
	expect_json_error("{\"sip\": {\"limits\": {\"max_message_size\": 100}}}",
	                  "sip.limits.max_message_size: must be an integer 1024..16777216");
	teardown();
	expect_json_error("{\"sip\": {\"timers\": {\"t3\": 1}}}", "sip.timers.t3: unknown key");
	teardown();
	expect_json_error("{\"log\": {\"level\": \"verbose\"}}",
	                  "log.level: must be one of error|warn|info|debug");
	teardown();
	expect_json_error("{\"mode\": \"proxy\"}", "mode: must be one of local|passthrough");
	teardown();
	expect_json_error("{\"pbx\": {\"transport\": \"sctp\"}}",
	                  "pbx.transport: must be one of udp|tcp|tls");
	teardown();
	expect_json_error("{\"pbx\": {\"port\": 65536}}", "pbx.port: must be an integer 0..65535");
	teardown();
	expect_json_error("{\"auth\": {\"algorithms\": \"MD5,SHA-512\"}}",
	                  "auth.algorithms: must list MD5 and/or SHA-256 (comma-separated)");
	teardown();
	expect_json_error("{\"realm\": \"\"}",
	                  "realm: must be non-empty, without '\"', '\\' or control characters");
	teardown();
	expect_json_error("{\"state_dir\": \"\"}", "state_dir: must be a non-empty path");
	teardown();
	expect_json_error("{\"ws\": {\"allowed_origins\": \"https://a\"}}",
	                  "ws.allowed_origins: must be an array of strings");
	teardown();
	expect_json_error("{\"ws\": {\"allowed_origins\": [\"https://a\", \"a.example\"]}}",
	                  "ws.allowed_origins[1]: must be an origin like https://host[:port]");
	teardown();
	expect_json_error("{\"ws\": {\"allowed_origins\": [\"https://a/path\"]}}",
	                  "ws.allowed_origins[0]: must be an origin like https://host[:port]");
	teardown();
	expect_json_error("{\"ws\": {\"allowed_origins\": [1]}}",
	                  "ws.allowed_origins[0]: must be a string");
	teardown();
	expect_json_error("{\"realm\": \"a\", \"realm\": \"b\"}", "realm: duplicate key");
	teardown();
	expect_json_error("[1, 2]", "test.json: must hold a JSON object {...}");
	teardown();
	expect_json_error("{\n\"realm\": \"a\",\n}",
	                  "test.json: invalid JSON near line 3, column 1");
}

Test(config, user_errors_have_key_paths)
{
	expect_json_error(
	    "{\"users\": [{\"name\": \"a\", \"password\": \"p\"}, {\"name\": \"b\"}]}",
	    "users[1].password: missing (or give ha1)");
	teardown();
	expect_json_error("{\"users\": [{\"password\": \"p\"}]}", "users[0].name: missing");
	teardown();
	expect_json_error("{\"users\": [{\"name\": \"a\", \"password\": \"p\", \"ha1\": "
	                  "\"0123456789abcdef0123456789abcdef\"}]}",
	                  "users[0]: give password or ha1, not both");
	teardown();
	expect_json_error("{\"users\": [{\"name\": \"a\", \"ha1\": \"0123\"}]}",
	                  "users[0].ha1: must be 32 hexadecimal digits");
	teardown();
	expect_json_error("{\"users\": [{\"name\": \"a\", \"password\": \"\"}]}",
	                  "users[0].password: password is empty");
	teardown();
	/* a misspelt key is reported, and so is the key it was meant to be */
	cr_assert_eq(load("{\"users\": [{\"name\": \"a\", \"pasword\": \"p\"}]}", NULL, 0, NULL),
	             -22);
	cr_assert_eq(errs.count, 2);
	cr_assert_str_eq(errs.msg[0], "users[0].pasword: unknown key");
	cr_assert_str_eq(errs.msg[1], "users[0].password: missing (or give ha1)");
	teardown();
	expect_json_error("{\"users\": [{\"name\": \"a b\", \"password\": \"p\"}]}",
	                  "users[0].name: must be a user name without spaces, ':', ',', '@', "
	                  "quotes or control characters");
	teardown();
	expect_json_error("{\"users\": [{\"name\": \"a\", \"password\": 5}]}",
	                  "users[0].password: must be a string");
	teardown();
	expect_json_error("{\"users\": [\"a:p\"]}",
	                  "users[0]: must be an object {\"name\", \"password\" or \"ha1\"}");
	teardown();
	expect_json_error("{\"users\": {}}",
	                  "users: must be an array of {\"name\", \"password\" or \"ha1\"}");
	teardown();
	expect_json_error("{\"users\": [{\"name\": \"a\", \"password\": \"p\"},"
	                  " {\"name\": \"a\", \"password\": \"q\"}]}",
	                  "users[1].name: duplicate user name 'a'");
}

Test(config, env_errors_name_the_variable)
{
	char *env1[] = {"HOME=/h", "SIPWIRE_LISTEN_WS_PORT=http", NULL};
	expect_error(NULL, env1, 0, NULL,
	             "env SIPWIRE_LISTEN_WS_PORT: must be an integer 0..65535");
	teardown();
	char *env2[] = {"HOME=/h", "SIPWIRE_LISTEN_WS_PORT=", NULL};
	expect_error(NULL, env2, 0, NULL,
	             "env SIPWIRE_LISTEN_WS_PORT: must be an integer 0..65535");
	teardown();
	char *env3[] = {"HOME=/h", "SIPWIRE_LISTEN_WSPORT=1", NULL};
	expect_error(NULL, env3, 0, NULL, "env SIPWIRE_LISTEN_WSPORT: unknown variable");
	teardown();
	char *env4[] = {"HOME=/h", "SIPWIRE_USERS=alice:pw,bob", NULL};
	expect_error(NULL, env4, 0, NULL,
	             "env SIPWIRE_USERS[1]: must be NAME:PASSWORD (no ':' found)");
	teardown();
	char *env5[] = {"HOME=/h", "SIPWIRE_USERS=alice:pw,alice:pw2", NULL};
	expect_error(NULL, env5, 0, NULL, "env SIPWIRE_USERS[1]: duplicate user name 'alice'");
	teardown();
	char *env6[] = {"HOME=/h", "SIPWIRE_WS_ALLOWED_ORIGINS=https://a,", NULL};
	expect_error(
	    NULL, env6, 0, NULL,
	    "env SIPWIRE_WS_ALLOWED_ORIGINS[1]: must be an origin like https://host[:port]");
	teardown();
	char *env7[] = {"HOME=/h", "SIPWIRE_USERS=:pw", NULL};
	expect_error(NULL, env7, 0, NULL,
	             "env SIPWIRE_USERS[0]: must be a user name without spaces, ':', ',', '@', "
	             "quotes or control characters");
}

Test(config, flag_errors_name_the_flag)
{
	char *a1[] = {"sipwire", "--user", "alice:pw", "--user", "bob"};
	expect_error(NULL, NULL, 5, a1, "--user[1]: must be NAME:PASSWORD (no ':' found)");
	teardown();
	char *a2[] = {"sipwire", "--wss-port", "65536"};
	expect_error(NULL, NULL, 3, a2, "--wss-port: must be an integer 0..65535");
	teardown();
	char *a3[] = {"sipwire", "--ws-port", "+80"};
	expect_error(NULL, NULL, 3, a3, "--ws-port: must be an integer 0..65535");
	teardown();
	char *a4[] = {"sipwire", "--ws-port"};
	expect_error(NULL, NULL, 2, a4, "--ws-port: needs a value");
	teardown();
	char *a5[] = {"sipwire", "--wsport=1"};
	expect_error(NULL, NULL, 2, a5, "--wsport: unknown option");
	teardown();
	char *a6[] = {"sipwire", "--set", "sip.timers.t9=1"};
	expect_error(NULL, NULL, 3, a6, "--set sip.timers.t9: unknown key");
	teardown();
	char *a7[] = {"sipwire", "--set", "sip.timers.t1"};
	expect_error(NULL, NULL, 3, a7, "--set sip.timers.t1: must be --set KEY=VALUE");
	teardown();
	char *a8[] = {"sipwire", "--set", "sip.timers.t1=1"};
	expect_error(NULL, NULL, 3, a8, "--set sip.timers.t1: must be an integer 50..10000");
	teardown();
	char *a9[] = {"sipwire", "--log-level", "loud"};
	expect_error(NULL, NULL, 3, a9, "--log-level: must be one of error|warn|info|debug");
	teardown();
	char *a10[] = {"sipwire", "stray"};
	expect_error(NULL, NULL, 2, a10, "argument 1: unexpected (options start with --)");
	teardown();
	char *a11[] = {"sipwire", "--set", "users=a:b"};
	expect_error(NULL, NULL, 3, a11, "--set users: add users with --user NAME:PASSWORD");
}

Test(config, cross_checks)
{
	expect_json_error("{\"mode\": \"passthrough\"}",
	                  "pbx.host: missing (needed in passthrough mode)");
	teardown();
	expect_json_error("{\"registrar\": {\"min_expires\": 100, \"max_expires\": 50}}",
	                  "registrar.min_expires: must not exceed registrar.max_expires");
	teardown();
	expect_json_error("{\"registrar\": {\"default_expires\": 7200}}",
	                  "registrar.default_expires: must be between registrar.min_expires and "
	                  "registrar.max_expires");
	teardown();
	expect_json_error("{\"sip\": {\"timers\": {\"t1\": 5000, \"t2\": 4000}}}",
	                  "sip.timers.t2: must not be less than sip.timers.t1");
	teardown();
	expect_json_error("{\"listen\": {\"wss_port\": 8080}}",
	                  "listen.wss_port: port 8080 is already used by listen.ws_port");
	teardown();
	expect_json_error("{\"tls\": {\"cert_file\": \"/c.pem\"}}",
	                  "tls.key_file: missing (needed with tls.cert_file)");
	teardown();
	expect_json_error("{\"tls\": {\"key_file\": \"/k.pem\"}}",
	                  "tls.cert_file: missing (needed with tls.key_file)");
	teardown();
	char *env[] = {"PATH=/bin", NULL};
	int r = load(NULL, env, 0, NULL);
	if (geteuid() != 0) {
		cr_assert_eq(r, -22);
		cr_assert_str_eq(errs.msg[0], "state_dir: missing (HOME is not set, so give one)");
	} else {
		cr_assert_eq(r, 0);
	}
}

Test(config, multiple_errors_reported_together_without_passwords)
{
	char *argv[] = {"sipwire", "--config", DATA "bad.json", "--user", "nocolon"};
	char *env[] = {"HOME=/h", "SIPWIRE_LISTEN_SIP_PORT=x", NULL};
	int r = sipwire_config_load(&cfg, 5, argv, env, &errs);
	dump_errors();
	cr_assert_eq(r, -22);
	cr_assert_eq(errs.count, 7);
	cr_assert_str_eq(errs.msg[0], "listen.wss_port: must be an integer 0..65535");
	cr_assert_str_eq(errs.msg[1], "listen.ws_prot: unknown key");
	cr_assert_str_eq(errs.msg[2], "log.level: must be one of error|warn|info|debug");
	cr_assert_str_eq(errs.msg[3], "users[1].name: duplicate user name 'alice'");
	cr_assert_str_eq(errs.msg[4], "users[2].password: missing (or give ha1)");
	cr_assert_str_eq(errs.msg[5], "env SIPWIRE_LISTEN_SIP_PORT: must be an integer 0..65535");
	cr_assert_str_eq(errs.msg[6], "--user[0]: must be NAME:PASSWORD (no ':' found)");
	for (size_t i = 0; i < errs.count; i++) {
		cr_assert_null(strstr(errs.msg[i], "secret"), "a password leaked: %s", errs.msg[i]);
		cr_assert_null(strstr(errs.msg[i], "nocolon"), "a password leaked: %s",
		               errs.msg[i]);
	}
}

Test(config, check_config_good_and_bad_files)
{
	char *env[] = {"HOME=/h", NULL};
	char *good[] = {"sipwire", "--config", DATA "good.json"};
	cr_assert_eq(sipwire_config_load(&cfg, 3, good, env, &errs), 0);
	cr_assert_eq(errs.count, 0);
	teardown();
	char *bad[] = {"sipwire", "--config", DATA "bad.json"};
	cr_assert_eq(sipwire_config_load(&cfg, 3, bad, env, &errs), -22);
	cr_assert_eq(errs.count, 5);
	teardown();
	char *missing[] = {"sipwire", "--config", DATA "no-such-file.json"};
	cr_assert_eq(sipwire_config_load(&cfg, 3, missing, env, &errs), -22);
	cr_assert_eq(errs.count, 1);
	cr_assert_str_eq(errs.msg[0], DATA "no-such-file.json: No such file or directory");
}

/* ---- trunks and routes ---- */

Test(config, trunks_from_file)
{
	const char *json =
	    "{\"trunks\": [{\"name\": \"carrier\", \"uri\": \"sip:sbc.carrier.example\","
	    " \"outbound_proxy\": \"sip:10.1.1.1:5060;lr\", \"username\": \"acct1\","
	    " \"password\": \"hunter2\", \"register\": true, \"expires\": 300,"
	    " \"allow_from\": [\"203.0.113.0/24\", \"2001:db8::1\"]},"
	    " {\"name\": \"pbx\", \"uri\": \"sip:127.0.0.1:5070;transport=tcp\"}],"
	    " \"routes\": [{\"match_user\": \"0\", \"strip\": 1, \"prepend\": \"+49\","
	    " \"match_domain\": \"gw.example.com\", \"target\": \"carrier\"},"
	    " {\"match_regex\": \"^[0-9]{3}$\", \"target\": \"pbx\"},"
	    " {\"target\": \"user\"}]}";
	cr_assert_eq(load(json, NULL, 0, NULL), 0);
	cr_assert_eq(cfg.n_trunks, 2);
	const struct sipwire_trunk *t = &cfg.trunks[0];
	cr_assert_str_eq(t->name, "carrier");
	cr_assert_str_eq(t->uri, "sip:sbc.carrier.example");
	cr_assert_str_eq(t->outbound_proxy, "sip:10.1.1.1:5060;lr");
	cr_assert_str_eq(t->username, "acct1");
	cr_assert_str_eq(t->password, "hunter2");
	cr_assert(t->register_enabled);
	cr_assert_eq(t->expires, 300);
	cr_assert_eq(t->allow_from.n, 2);
	cr_assert_str_eq(t->allow_from.v[0], "203.0.113.0/24");
	cr_assert_str_eq(t->allow_from.v[1], "2001:db8::1");
	t = &cfg.trunks[1];
	cr_assert_str_eq(t->name, "pbx");
	cr_assert_str_eq(t->outbound_proxy, "");
	cr_assert_null(t->username);
	cr_assert_null(t->password);
	cr_assert_not(t->register_enabled);
	cr_assert_eq(t->expires, 600, "the default registration interval");
	cr_assert_eq(t->allow_from.n, 0, "empty: the trunk's own addresses");

	cr_assert_eq(cfg.n_routes, 3);
	const struct sipwire_route *r = &cfg.routes[0];
	cr_assert_str_eq(r->match_user, "0");
	cr_assert_null(r->match_regex);
	cr_assert_str_eq(r->match_domain, "gw.example.com");
	cr_assert_eq(r->strip, 1);
	cr_assert_str_eq(r->prepend, "+49");
	cr_assert_eq(r->target_kind, SIPWIRE_ROUTE_TARGET_TRUNK);
	cr_assert_eq(r->trunk, 0);
	r = &cfg.routes[1];
	cr_assert_str_eq(r->match_regex, "^[0-9]{3}$");
	cr_assert_eq(r->target_kind, SIPWIRE_ROUTE_TARGET_TRUNK);
	cr_assert_eq(r->trunk, 1, "a route names a trunk defined anywhere in the file");
	r = &cfg.routes[2];
	cr_assert_null(r->match_user);
	cr_assert_eq(r->target_kind, SIPWIRE_ROUTE_TARGET_USER);
}

Test(config, trunks_and_routes_from_env_and_flags)
{
	/* the credentials come before the trunk in both lists: they still apply */
	char *env[] = {"HOME=/h",
	               "SIPWIRE_TRUNK_AUTH=b=bu:bp:with:colons",
	               "SIPWIRE_TRUNK_REGISTER=b",
	               "SIPWIRE_TRUNKS=a=sip:a.example,b=sips:b.example",
	               "SIPWIRE_ROUTES=1=a /^2/=b\t3=echo",
	               NULL};
	char *argv[] = {"sipwire",    "--trunk-auth",
	                "c=cu:cp",    "--trunk-register=c",
	                "--trunk",    "c=sip:[2001:db8::5]:5080;transport=tcp",
	                "--route",    "/^4$/=user",
	                "--route=5=c"};
	cr_assert_eq(load(NULL, env, 9, argv), 0);
	dump_errors();
	cr_assert_eq(cfg.n_trunks, 3);
	cr_assert_str_eq(cfg.trunks[0].name, "a");
	cr_assert_null(cfg.trunks[0].username);
	cr_assert_str_eq(cfg.trunks[1].uri, "sips:b.example");
	cr_assert_str_eq(cfg.trunks[1].username, "bu");
	cr_assert_str_eq(cfg.trunks[1].password, "bp:with:colons", "the first ':' splits");
	cr_assert(cfg.trunks[1].register_enabled);
	cr_assert_str_eq(cfg.trunks[2].uri, "sip:[2001:db8::5]:5080;transport=tcp");
	cr_assert_str_eq(cfg.trunks[2].username, "cu");
	cr_assert_str_eq(cfg.trunks[2].password, "cp");
	cr_assert(cfg.trunks[2].register_enabled);
	cr_assert_eq(cfg.n_routes, 5);
	cr_assert_str_eq(cfg.routes[0].match_user, "1");
	cr_assert_eq(cfg.routes[0].trunk, 0);
	cr_assert_str_eq(cfg.routes[1].match_regex, "^2");
	cr_assert_eq(cfg.routes[1].trunk, 1);
	cr_assert_eq(cfg.routes[2].target_kind, SIPWIRE_ROUTE_TARGET_ECHO);
	cr_assert_str_eq(cfg.routes[3].match_regex, "^4$");
	cr_assert_eq(cfg.routes[3].target_kind, SIPWIRE_ROUTE_TARGET_USER);
	cr_assert_eq(cfg.routes[4].trunk, 2);
	cr_assert_str_eq(cfg.routes[4].where, "--route[1]");
}

Test(config, trunk_errors_have_key_paths)
{
	expect_json_error("{\"trunks\": {}}",
	                  "trunks: must be an array of {\"name\", \"uri\", ...}");
	teardown();
	expect_json_error("{\"trunks\": [5]}",
	                  "trunks[0]: must be an object {\"name\", \"uri\", ...}");
	teardown();
	expect_json_error("{\"trunks\": [{\"uri\": \"sip:x\"}]}", "trunks[0].name: missing");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"x\"}]}", "trunks[0].uri: missing");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"x\", \"uri\": \"sip:x\", \"url\": 1}]}",
	                  "trunks[0].url: unknown key");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"a b\", \"uri\": \"sip:x\"}]}",
	                  "trunks[0].name: must be a name of letters, digits, '-', '_' or '.' "
	                  "(at most 64), not echo or user");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"user\", \"uri\": \"sip:x\"}]}",
	                  "trunks[0].name: must be a name of letters, digits, '-', '_' or '.' "
	                  "(at most 64), not echo or user");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:x\"},"
	                  " {\"name\": \"p\", \"uri\": \"sip:y\"}]}",
	                  "trunks[1].name: duplicate trunk name 'p'");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"http://pbx\"}]}",
	                  "trunks[0].uri: must be a sip: or sips: URI with a host");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"tel:+4930\"}]}",
	                  "trunks[0].uri: must be a sip: or sips: URI with a host");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:pbx:99999\"}]}",
	                  "trunks[0].uri: must be a sip: or sips: URI with a host");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:x\","
	                  " \"outbound_proxy\": \"proxy.example\"}]}",
	                  "trunks[0].outbound_proxy: must be a sip: or sips: URI with a host");
	teardown();
	expect_json_error(
	    "{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:x\", \"register\": true}]}",
	    "trunks[0].register: trunk 'p' cannot register without credentials "
	    "(username and password)");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:x\", \"register\": 1}]}",
	                  "trunks[0].register: must be true or false");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:x\", \"expires\": 30}]}",
	                  "trunks[0].expires: must be an integer 60..86400");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:x\","
	                  " \"username\": \"u\"}]}",
	                  "trunks[0].password: missing (needed with username)");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:x\","
	                  " \"password\": \"topsecret\"}]}",
	                  "trunks[0].username: missing (needed with password)");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:x\","
	                  " \"allow_from\": [\"10.0.0.1\", \"pbx.example\"]}]}",
	                  "trunks[0].allow_from[1]: must be a numeric IPv4 or IPv6 address, "
	                  "optionally with /prefix");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:x\","
	                  " \"allow_from\": [\"10.0.0.0/33\"]}]}",
	                  "trunks[0].allow_from[0]: must be a numeric IPv4 or IPv6 address, "
	                  "optionally with /prefix");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:x\", \"username\": 5,"
	                  " \"password\": \"pw\"}]}",
	                  "trunks[0].username: must be a string");
	teardown();
	/* a trunk with an error is not kept, so a route to it is an error too */
	int r = load("{\"trunks\": [{\"name\": \"p\", \"uri\": \"ftp:x\"}],"
	             " \"routes\": [{\"target\": \"p\"}]}",
	             NULL, 0, NULL);
	cr_assert_eq(r, -22);
	cr_assert_eq(errs.count, 2);
	cr_assert_str_eq(errs.msg[0], "trunks[0].uri: must be a sip: or sips: URI with a host");
	cr_assert_str_eq(errs.msg[1],
	                 "routes[0].target: unknown target 'p' (echo, user or a trunk name)");
	cr_assert_eq(cfg.n_trunks, 0);
}

Test(config, route_errors_have_key_paths)
{
	expect_json_error("{\"routes\": \"9=pbx\"}",
	                  "routes: must be an array of {\"match_user\", ..., \"target\"}");
	teardown();
	expect_json_error("{\"routes\": [{\"match_user\": \"9\"}]}",
	                  "routes[0].target: missing (echo, user or a trunk name)");
	teardown();
	expect_json_error("{\"routes\": [{\"target\": \"echo\"}, {\"target\": \"pbx\"}]}",
	                  "routes[1].target: unknown target 'pbx' (echo, user or a trunk name)");
	teardown();
	expect_json_error("{\"routes\": [{\"match_regex\": \"^(1\", \"target\": \"user\"}]}",
	                  "routes[0].match_regex: invalid regular expression: Unmatched ( or \\(");
	teardown();
	expect_json_error("{\"routes\": [{\"match_user\": \"9\", \"match_regex\": \"^9\","
	                  " \"target\": \"user\"}]}",
	                  "routes[0]: give match_user or match_regex, not both");
	teardown();
	expect_json_error("{\"routes\": [{\"match_user\": \"9 1\", \"target\": \"user\"}]}",
	                  "routes[0].match_user: must be a non-empty SIP user part prefix");
	teardown();
	expect_json_error("{\"routes\": [{\"match_domain\": \"a b\", \"target\": \"user\"}]}",
	                  "routes[0].match_domain: must be a host name or IP address");
	teardown();
	expect_json_error("{\"routes\": [{\"strip\": 65, \"target\": \"user\"}]}",
	                  "routes[0].strip: must be an integer 0..64");
	teardown();
	expect_json_error("{\"routes\": [{\"prepend\": \"+4@9\", \"target\": \"user\"}]}",
	                  "routes[0].prepend: must be characters of a SIP user part");
	teardown();
	expect_json_error("{\"routes\": [{\"target\": \"user\", \"matchuser\": \"1\"}]}",
	                  "routes[0].matchuser: unknown key");
	teardown();
	expect_json_error("{\"routes\": [{\"target\": 1}]}", "routes[0].target: must be a string");
}

Test(config, trunk_srtp_from_file_env_and_flags)
{
	const char *json = "{\"trunks\": [{\"name\": \"f\", \"uri\": \"sip:f.example\", \"srtp\": \"sdes\"},"
	                   " {\"name\": \"g\", \"uri\": \"sip:g.example\", \"srtp\": \"off\"},"
	                   " {\"name\": \"h\", \"uri\": \"sip:h.example\"}]}";
	/* the setting may come before the trunk, as --trunk-auth may */
	char *env[] = {"HOME=/h", "SIPWIRE_TRUNK_SRTP=e=sdes,f=off", "SIPWIRE_TRUNKS=e=sip:e.example",
	               NULL};
	char *argv[] = {"sipwire", "--trunk-srtp", "c=sdes", "--trunk", "c=sip:c.example",
	                "--trunk-srtp=h=sdes"};
	cr_assert_eq(load(json, env, 6, argv), 0);
	dump_errors();
	cr_assert_eq(cfg.n_trunks, 5);
	cr_assert_str_eq(cfg.trunks[0].name, "f");
	cr_assert_eq(cfg.trunks[0].srtp, SIPWIRE_SRTP_OFF, "the environment comes after the file");
	cr_assert_eq(cfg.trunks[1].srtp, SIPWIRE_SRTP_OFF);
	cr_assert_eq(cfg.trunks[2].srtp, SIPWIRE_SRTP_SDES, "a flag comes after the file");
	cr_assert_str_eq(cfg.trunks[3].name, "e");
	cr_assert_eq(cfg.trunks[3].srtp, SIPWIRE_SRTP_SDES);
	cr_assert_str_eq(cfg.trunks[4].name, "c");
	cr_assert_eq(cfg.trunks[4].srtp, SIPWIRE_SRTP_SDES);
	teardown();
	cr_assert_eq(load("{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:p\"}]}", NULL, 0, NULL), 0);
	cr_assert_eq(cfg.trunks[0].srtp, SIPWIRE_SRTP_OFF, "off by default");
}

Test(config, trunk_srtp_errors)
{
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:x\", \"srtp\": \"dtls\"}]}",
	                  "trunks[0].srtp: must be \"off\" or \"sdes\"");
	teardown();
	expect_json_error("{\"trunks\": [{\"name\": \"p\", \"uri\": \"sip:x\", \"srtp\": true}]}",
	                  "trunks[0].srtp: must be \"off\" or \"sdes\"");
	teardown();
	char *a1[] = {"sipwire", "--trunk", "p=sip:x", "--trunk-srtp", "p=SDES"};
	expect_error(NULL, NULL, 5, a1, "--trunk-srtp[0]: must be NAME=off or NAME=sdes");
	teardown();
	char *a2[] = {"sipwire", "--trunk", "p=sip:x", "--trunk-srtp", "q=sdes"};
	expect_error(NULL, NULL, 5, a2, "--trunk-srtp[0]: unknown trunk 'q'");
	teardown();
	char *e1[] = {"HOME=/h", "SIPWIRE_TRUNKS=p=sip:x", "SIPWIRE_TRUNK_SRTP=p", NULL};
	expect_error(NULL, e1, 0, NULL, "env SIPWIRE_TRUNK_SRTP[0]: must be NAME=off or NAME=sdes");
}

Test(config, trunk_and_route_flag_and_env_errors)
{
	char *a1[] = {"sipwire", "--trunk-auth", "nope=u:pw"};
	expect_error(NULL, NULL, 3, a1, "--trunk-auth[0]: unknown trunk 'nope'");
	teardown();
	char *a2[] = {"sipwire", "--trunk", "p=sip:x", "--trunk-register", "q"};
	expect_error(NULL, NULL, 5, a2, "--trunk-register[0]: unknown trunk 'q'");
	teardown();
	char *a3[] = {"sipwire", "--trunk", "p=sip:x", "--trunk-register", "p"};
	expect_error(NULL, NULL, 5, a3,
	             "--trunk-register[0]: trunk 'p' cannot register without credentials "
	             "(username and password)");
	teardown();
	char *a4[] = {"sipwire", "--trunk", "p=sip:x", "--trunk", "p=sip:y"};
	expect_error(NULL, NULL, 5, a4, "--trunk[1]: duplicate trunk name 'p'");
	teardown();
	char *a5[] = {"sipwire", "--trunk", "p=sip:"};
	expect_error(NULL, NULL, 3, a5, "--trunk[0]: must be a sip: or sips: URI with a host");
	teardown();
	char *a6[] = {"sipwire", "--trunk", "p:x=sip:pbx.example"};
	expect_error(NULL, NULL, 3, a6,
	             "--trunk[0]: must be a name of letters, digits, '-', '_' or '.' (at most "
	             "64), not echo or user");
	teardown();
	char *a7[] = {"sipwire", "--trunk", "pbx"};
	expect_error(NULL, NULL, 3, a7, "--trunk[0]: must be NAME=URI");
	teardown();
	char *a8[] = {"sipwire", "--route", "9=pbx"};
	expect_error(NULL, NULL, 3, a8,
	             "--route[0]: unknown target 'pbx' (echo, user or a trunk name)");
	teardown();
	char *a9[] = {"sipwire", "--route", "/[/=user"};
	int r = load(NULL, NULL, 3, a9);
	cr_assert_eq(r, -22);
	cr_assert_eq(errs.count, 1);
	cr_assert(strncmp(errs.msg[0], "--route[0]: invalid regular expression: ", 40) == 0, "%s",
	          errs.msg[0]);
	teardown();
	char *a10[] = {"sipwire", "--route", "9"};
	expect_error(NULL, NULL, 3, a10,
	             "--route[0]: must be PATTERN=TARGET (TARGET: echo, user or a trunk)");
	teardown();
	char *a11[] = {"sipwire", "--route", "9 9=echo"};
	expect_error(NULL, NULL, 3, a11,
	             "--route[0]: PATTERN must be a user prefix or /regular expression/");
	teardown();
	char *a12[] = {"sipwire", "--set", "trunks=p=sip:x"};
	expect_error(NULL, NULL, 3, a12, "--set trunks: add trunks with --trunk NAME=URI");
	teardown();
	char *a14[] = {"sipwire", "--trunk", "p=sip:x", "--trunk-auth", "p=u:pw\tx"};
	expect_error(NULL, NULL, 5, a14,
	             "--trunk-auth[0]: user name or password has control characters");
	teardown();
	char *a13[] = {"sipwire", "--set", "routes=9=echo"};
	expect_error(NULL, NULL, 3, a13, "--set routes: add routes with --route PATTERN=TARGET");
	teardown();
	char *e1[] = {"HOME=/h", "SIPWIRE_TRUNKS=p=sip:x,q", NULL};
	expect_error(NULL, e1, 0, NULL, "env SIPWIRE_TRUNKS[1]: must be NAME=URI");
	teardown();
	char *e2[] = {"HOME=/h", "SIPWIRE_TRUNK_AUTH=p=u:pw", NULL};
	expect_error(NULL, e2, 0, NULL, "env SIPWIRE_TRUNK_AUTH[0]: unknown trunk 'p'");
	teardown();
	char *e3[] = {"HOME=/h", "SIPWIRE_TRUNKS=p=sip:x", "SIPWIRE_TRUNK_REGISTER=p", NULL};
	expect_error(NULL, e3, 0, NULL,
	             "env SIPWIRE_TRUNK_REGISTER[0]: trunk 'p' cannot register without "
	             "credentials (username and password)");
	teardown();
	char *e4[] = {"HOME=/h", "SIPWIRE_ROUTES=9=echo 8=nowhere", NULL};
	expect_error(
	    NULL, e4, 0, NULL,
	    "env SIPWIRE_ROUTES[1]: unknown target 'nowhere' (echo, user or a trunk name)");
}

/* Every way a trunk password can be given, each with a mistake next to it:
 * the errors name the place, never the password. */
Test(config, trunk_errors_never_show_the_password)
{
	char *env[] = {"HOME=/h",
	               "SIPWIRE_TRUNK_AUTH=ghost=acct:Zq9-very-secret,"
	               "p=:Zq9-very-secret,p=nocolonZq9-very-secret",
	               NULL};
	char *argv[] = {"sipwire",
	                "--trunk",
	                "p=sip:x",
	                "--trunk-auth",
	                "nope=acct:Zq9-very-secret",
	                "--trunk-auth",
	                "p=Zq9-very-secret",
	                "--trunk-auth",
	                "p=acct:"};
	const char *json = "{\"trunks\": [{\"name\": \"a\", \"uri\": \"sip:x\", \"password\": "
	                   "\"Zq9-very-secret\"},"
	                   " {\"name\": \"b\", \"uri\": \"sip:x\", \"username\": \"\","
	                   " \"password\": \"Zq9-very-secret\"},"
	                   " {\"name\": \"c\", \"uri\": \"sip:x\", \"username\": \"u\","
	                   " \"password\": \"Zq9-very-secret\\n\"}]}";
	int r = load(json, env, 9, argv);
	dump_errors();
	cr_assert_eq(r, -22);
	cr_assert_geq(errs.count, 9);
	for (size_t i = 0; i < errs.count; i++)
		cr_assert_null(strstr(errs.msg[i], "very-secret"), "password in: %s", errs.msg[i]);
}

Test(config, media_codecs_order_of_preference)
{
	cr_assert_eq(load(NULL, NULL, 0, NULL), 0);
	cr_assert_eq(cfg.media.codecs.n, 5);
	cr_assert_str_eq(cfg.media.codecs.v[0], "PCMU");
	cr_assert_str_eq(cfg.media.codecs.v[4], "telephone-event");
	sipwire_config_free(&cfg);

	cr_assert_eq(load("{\"media\": {\"codecs\": [\"opus\", \"pcma\", \"telephone-event\"]}}",
	                  NULL, 0, NULL), 0);
	cr_assert_eq(cfg.media.codecs.n, 3);
	cr_assert_str_eq(cfg.media.codecs.v[0], "opus");
	cr_assert_str_eq(cfg.media.codecs.v[1], "PCMA", "the name as the media layer knows it");
	sipwire_config_free(&cfg);

	char *argv[] = {"sipwire", "--set", "media.codecs=G722,PCMU"};
	cr_assert_eq(load(NULL, NULL, 3, argv), 0);
	cr_assert_eq(cfg.media.codecs.n, 2);
	cr_assert_str_eq(cfg.media.codecs.v[0], "G722");
}

Test(config, media_codecs_refused)
{
	expect_error("{\"media\": {\"codecs\": [\"PCMU\", \"G729\"]}}", NULL, 0, NULL,
	             "media.codecs[1]: must be PCMU, PCMA, G722, opus or telephone-event");
	sipwire_config_free(&cfg);
	config_errors_free(&errs);
	expect_error("{\"media\": {\"codecs\": [\"PCMU\", \"pcmu\"]}}", NULL, 0, NULL,
	             "media.codecs[1]: is listed twice");
	sipwire_config_free(&cfg);
	config_errors_free(&errs);
	expect_error("{\"media\": {\"codecs\": [\"telephone-event\"]}}", NULL, 0, NULL,
	             "media.codecs: must list at least one audio codec");
}

Test(config, limits_and_accept_from)
{
	cr_assert_eq(load(NULL, NULL, 0, NULL), 0);
	cr_assert_eq(cfg.sip.accept_from, SIPWIRE_ACCEPT_ANY);
	cr_assert_eq(cfg.limits.connections_per_second, 20);
	cr_assert_eq(cfg.limits.connections_per_address, 256);
	cr_assert_eq(cfg.limits.requests_per_second, 200);
	cr_assert_eq(cfg.limits.handshake_timeout, 10);
	cr_assert_eq(cfg.limits.message_timeout, 15);
	cr_assert_eq(cfg.registrar.max_bindings_per_user, 16);
	cr_assert_eq(cfg.limits.exempt.n, 2);
	cr_assert_str_eq(cfg.limits.exempt.v[0], "127.0.0.0/8");
	sipwire_config_free(&cfg);

	cr_assert_eq(load("{\"sip\": {\"accept_from\": \"trunks\"}, \"limits\": {\"exempt\": [], "
	                  "\"requests_per_second\": 0, \"message_timeout\": 3}}",
	                  NULL, 0, NULL),
	             0);
	cr_assert_eq(cfg.sip.accept_from, SIPWIRE_ACCEPT_TRUNKS);
	cr_assert_eq(cfg.limits.exempt.n, 0, "an empty list limits loopback too");
	cr_assert_eq(cfg.limits.requests_per_second, 0);
	cr_assert_eq(cfg.limits.message_timeout, 3);
	sipwire_config_free(&cfg);

	char *env[] = {"HOME=/home/tester", "SIPWIRE_LIMITS_EXEMPT=10.0.0.0/8,2001:db8::1", NULL};
	char *argv[] = {"sipwire", "--set", "limits.connections_per_address=4"};
	cr_assert_eq(load(NULL, env, 3, argv), 0);
	cr_assert_eq(cfg.limits.exempt.n, 2);
	cr_assert_str_eq(cfg.limits.exempt.v[1], "2001:db8::1");
	cr_assert_eq(cfg.limits.connections_per_address, 4);
}

Test(config, limits_refused)
{
	expect_error(
	    "{\"limits\": {\"exempt\": [\"10.0.0.0/8\", \"proxy.example.com\"]}}", NULL, 0, NULL,
	    "limits.exempt[1]: must be a numeric IPv4 or IPv6 address, optionally with /prefix");
	sipwire_config_free(&cfg);
	config_errors_free(&errs);
	expect_error("{\"sip\": {\"accept_from\": \"everyone\"}}", NULL, 0, NULL,
	             "sip.accept_from: must be one of any|trunks");
	sipwire_config_free(&cfg);
	config_errors_free(&errs);
	expect_error("{\"limits\": {\"handshake_timeout\": 0}}", NULL, 0, NULL,
	             "limits.handshake_timeout: must be an integer 1..300");
	sipwire_config_free(&cfg);
	config_errors_free(&errs);
	expect_error("{\"limits\": {\"burst\": 3}}", NULL, 0, NULL, "limits.burst: unknown key");
}

Test(config, demo_folder_and_switch)
{
	cr_assert_eq(load(NULL, NULL, 0, NULL), 0);
	cr_assert(cfg.demo.enabled, "the softphone is served by default");
	cr_assert(cfg.demo.dir && strstr(cfg.demo.dir, "web-demo"), "%s", cfg.demo.dir);
	sipwire_config_free(&cfg);

	const char *json = "{\"demo\": {\"dir\": \"/from/file\", \"enabled\": false}}";
	char *env[] = {"HOME=/h", "SIPWIRE_DEMO_DIR=/usr/share/sipwire/web-demo", NULL};
	cr_assert_eq(load(json, env, 0, NULL), 0);
	cr_assert_str_eq(cfg.demo.dir, "/usr/share/sipwire/web-demo", "environment beats file");
	cr_assert(!cfg.demo.enabled);
	sipwire_config_free(&cfg);

	char *argv[] = {"sipwire", "--demo-dir", "/from/flag", "--no-demo"};
	cr_assert_eq(load(NULL, NULL, 4, argv), 0);
	cr_assert_str_eq(cfg.demo.dir, "/from/flag");
	cr_assert(!cfg.demo.enabled);
}

Test(config, demo_dir_must_not_be_empty)
{
	expect_json_error("{\"demo\": {\"dir\": \"\"}}", "demo.dir: must be a non-empty path");
}
