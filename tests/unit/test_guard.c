/* test_guard.c — per-address limits on a fake clock: connection and request
 * rates with their two-second burst, open connections per address, exempt
 * prefixes, IPv6 counted by /64, log lines at most once a second. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "server/guard.h"

static struct sockaddr_storage v4(const char *a)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;
	s->sin_family = AF_INET;
	s->sin_port = htons(40000);
	cr_assert(inet_pton(AF_INET, a, &s->sin_addr) == 1);
	return ss;
}

static struct sockaddr_storage v6(const char *a)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(40000);
	cr_assert(inet_pton(AF_INET6, a, &s->sin6_addr) == 1);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static struct sw_guard *guard(unsigned conn_rate, unsigned max_conns, unsigned req_rate,
                              const char *const *exempt, size_t n)
{
	struct sw_guard *g = NULL;
	struct sw_guard_limits l = {conn_rate, max_conns, req_rate, exempt, n, 0};
	cr_assert_eq(sw_guard_new(&g, &l), 0);
	return g;
}

Test(guard, connection_rate_has_a_two_second_burst_then_refills)
{
	struct sw_guard *g = guard(5, 0, 0, NULL, 0);
	struct sockaddr_storage a = v4("192.0.2.7"), b = v4("192.0.2.8");
	uint64_t t = 1000;
	for (int i = 0; i < 10; i++)
		cr_assert_eq(sw_guard_connect(g, SA(a), t), SW_GUARD_PASS, "attempt %d", i);
	cr_assert_eq(sw_guard_connect(g, SA(a), t), SW_GUARD_RATE);
	/* Another address has its own bucket. */
	cr_assert_eq(sw_guard_connect(g, SA(b), t), SW_GUARD_PASS);
	/* 5 a second: one more every 200 ms. */
	cr_assert_eq(sw_guard_connect(g, SA(a), t + 199), SW_GUARD_RATE);
	cr_assert_eq(sw_guard_connect(g, SA(a), t + 200), SW_GUARD_PASS);
	cr_assert_eq(sw_guard_connect(g, SA(a), t + 201), SW_GUARD_RATE);
	struct sw_guard_stats st;
	sw_guard_stats(g, &st);
	cr_assert_eq(st.connects_refused, 3);
	cr_assert_eq(st.entries, 2);
	sw_guard_free(g);
}

Test(guard, open_connections_are_counted_per_address)
{
	struct sw_guard *g = guard(0, 3, 0, NULL, 0);
	struct sockaddr_storage a = v4("198.51.100.1");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(sw_guard_open(g, SA(a), 0), SW_GUARD_PASS);
	cr_assert_eq(sw_guard_open(g, SA(a), 0), SW_GUARD_TOO_MANY);
	sw_guard_close(g, SA(a), 10);
	cr_assert_eq(sw_guard_open(g, SA(a), 20), SW_GUARD_PASS);
	cr_assert_eq(sw_guard_open(g, SA(a), 20), SW_GUARD_TOO_MANY);
	/* Entries holding connections survive any sweep. */
	cr_assert_eq(sw_guard_open(g, SA(a), 1000000), SW_GUARD_TOO_MANY);
	for (int i = 0; i < 5; i++) /* more closes than opens: no wrap-around */
		sw_guard_close(g, SA(a), 1000001);
	cr_assert_eq(sw_guard_open(g, SA(a), 1000002), SW_GUARD_PASS);
	sw_guard_free(g);
}

Test(guard, request_rate)
{
	struct sw_guard *g = guard(0, 0, 100, NULL, 0);
	struct sockaddr_storage a = v4("203.0.113.9");
	int passed = 0;
	for (int i = 0; i < 1000; i++)
		passed += sw_guard_request(g, SA(a), 5000) == SW_GUARD_PASS;
	cr_assert_eq(passed, 200);
	/* Over ten seconds at 1,000 a second, 100 a second pass. */
	passed = 0;
	for (uint64_t ms = 5001; ms <= 15000; ms++)
		passed += sw_guard_request(g, SA(a), ms) == SW_GUARD_PASS;
	cr_assert(passed >= 999 && passed <= 1001, "%d passed", passed);
	sw_guard_free(g);
}

Test(guard, exempt_prefixes_are_never_limited)
{
	const char *exempt[] = {"127.0.0.0/8", "::1", "2001:db8:1::/48"};
	struct sw_guard *g = guard(1, 1, 1, exempt, 3);
	struct sockaddr_storage lo = v4("127.0.0.5"), mapped = v6("::ffff:127.0.0.9"),
	                        six = v6("2001:db8:1:2::3"), other = v4("192.0.2.1");
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(sw_guard_connect(g, SA(lo), 0), SW_GUARD_PASS);
		cr_assert_eq(sw_guard_open(g, SA(mapped), 0), SW_GUARD_PASS);
		cr_assert_eq(sw_guard_request(g, SA(six), 0), SW_GUARD_PASS);
	}
	cr_assert(sw_guard_exempt(g, SA(lo)));
	cr_assert(!sw_guard_exempt(g, SA(other)));
	cr_assert_eq(sw_guard_open(g, SA(other), 0), SW_GUARD_PASS);
	cr_assert_eq(sw_guard_open(g, SA(other), 0), SW_GUARD_TOO_MANY);
	struct sw_guard_stats st;
	sw_guard_stats(g, &st);
	cr_assert_eq(st.entries, 1);
	sw_guard_free(g);
}

Test(guard, a_bad_exempt_entry_is_refused)
{
	struct sw_guard *g = NULL;
	const char *bad[] = {"10.0.0.0/33"};
	struct sw_guard_limits l = {1, 1, 1, bad, 1, 0};
	cr_assert_eq(sw_guard_new(&g, &l), -EINVAL);
	cr_assert_null(g);
}

Test(guard, ipv6_addresses_share_their_64)
{
	struct sw_guard *g = guard(0, 2, 0, NULL, 0);
	struct sockaddr_storage a = v6("2001:db8:5:6::1"), b = v6("2001:db8:5:6:ffff::2"),
	                        c = v6("2001:db8:5:7::1");
	cr_assert_eq(sw_guard_open(g, SA(a), 0), SW_GUARD_PASS);
	cr_assert_eq(sw_guard_open(g, SA(b), 0), SW_GUARD_PASS);
	cr_assert_eq(sw_guard_open(g, SA(a), 0), SW_GUARD_TOO_MANY);
	cr_assert_eq(sw_guard_open(g, SA(c), 0), SW_GUARD_PASS);
	/* IPv4-mapped is the IPv4 address. */
	struct sockaddr_storage m = v6("::ffff:192.0.2.44"), four = v4("192.0.2.44");
	cr_assert_eq(sw_guard_open(g, SA(m), 0), SW_GUARD_PASS);
	cr_assert_eq(sw_guard_open(g, SA(four), 0), SW_GUARD_PASS);
	cr_assert_eq(sw_guard_open(g, SA(four), 0), SW_GUARD_TOO_MANY);
	sw_guard_free(g);
}

Test(guard, quiet_addresses_are_forgotten_and_the_table_is_bounded)
{
	struct sw_guard *g = NULL;
	struct sw_guard_limits l = {.conn_rate = 1, .max_entries = 4};
	cr_assert_eq(sw_guard_new(&g, &l), 0);
	char name[32];
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof name, "192.0.2.%d", i + 1);
		struct sockaddr_storage a = v4(name);
		cr_assert_eq(sw_guard_connect(g, SA(a), 0), SW_GUARD_PASS);
		cr_assert_eq(sw_guard_connect(g, SA(a), 0), SW_GUARD_PASS);
		cr_assert_eq(sw_guard_connect(g, SA(a), 0), SW_GUARD_RATE);
	}
	/* Full of live entries: a newcomer passes untracked. */
	struct sockaddr_storage n = v4("192.0.2.99");
	for (int i = 0; i < 5; i++)
		cr_assert_eq(sw_guard_connect(g, SA(n), 100), SW_GUARD_PASS);
	struct sw_guard_stats st;
	sw_guard_stats(g, &st);
	cr_assert_eq(st.entries, 4);
	/* Once the others went quiet, it is tracked and limited. */
	cr_assert_eq(sw_guard_connect(g, SA(n), 10000), SW_GUARD_PASS);
	cr_assert_eq(sw_guard_connect(g, SA(n), 10000), SW_GUARD_PASS);
	cr_assert_eq(sw_guard_connect(g, SA(n), 10000), SW_GUARD_RATE);
	sw_guard_stats(g, &st);
	cr_assert_eq(st.entries, 1);
	sw_guard_free(g);
}

Test(guard, refusals_are_logged_once_a_second_per_kind_with_the_count_left_out)
{
	struct sw_guard *g = guard(0, 0, 1, NULL, 0);
	struct sockaddr_storage a = v4("192.0.2.3");
	unsigned sup = 99;
	sw_guard_request(g, SA(a), 0);
	cr_assert(sw_guard_log_ok(g, SA(a), SW_GUARD_EV_REQUEST, 0, &sup));
	cr_assert_eq(sup, 0);
	for (int i = 0; i < 7; i++)
		cr_assert(!sw_guard_log_ok(g, SA(a), SW_GUARD_EV_REQUEST, 500, &sup));
	/* Another kind of refusal has its own line. */
	cr_assert(sw_guard_log_ok(g, SA(a), SW_GUARD_EV_OPEN, 500, &sup));
	cr_assert(sw_guard_log_ok(g, SA(a), SW_GUARD_EV_REQUEST, 1000, &sup));
	cr_assert_eq(sup, 7);
	sw_guard_free(g);
}
