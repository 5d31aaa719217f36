/* Unit tests: the transaction layer, driven by a fake clock, with every send
 * captured so each timer of RFC 3261 §17 (and RFC 6026) is checked to the
 * millisecond. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sip/sip_build.h"
#include "sip/sip_msg.h"
#include "sip/sip_txn.h"

/* ---- the fake world ---- */

#define MAX_SENT 8192
struct sent {
	uint64_t at;
	char *bytes;
	size_t len;
	void *flow;
};
static struct sent sent[MAX_SENT];
static size_t nsent;
static uint64_t now;
static int fail_send; /* non-zero: send() returns it */

static struct sip_txn *new_txn; /* the last on_request's transaction */
static int n_requests;
static size_t sent_at_on_request; /* nsent when on_request ran */
static int (*respond_in_on_request)(struct sip_txn *txn, const struct sip_msg *msg);

static int n_responses, last_response_status, n_timeouts, n_terminated, n_acks, n_tp_errors;
static uint64_t terminated_at, timeout_at;

static void on_response(void *user, struct sip_txn *txn, const struct sip_msg *msg)
{
	(void)user;
	(void)txn;
	n_responses++;
	last_response_status = sip_msg_status(msg);
}
static void on_ack(void *user, struct sip_txn *txn, const struct sip_msg *msg)
{
	(void)user;
	(void)txn;
	(void)msg;
	n_acks++;
}
static void on_timeout(void *user, struct sip_txn *txn)
{
	(void)user;
	(void)txn;
	n_timeouts++;
	timeout_at = now;
}
static void on_tp_error(void *user, struct sip_txn *txn)
{
	(void)user;
	(void)txn;
	n_tp_errors++;
}
static void on_terminated(void *user, struct sip_txn *txn)
{
	(void)user;
	cr_assert_eq(sip_txn_state(txn), SIP_TXN_TERMINATED);
	n_terminated++;
	terminated_at = now;
	if (txn == new_txn)
		new_txn = NULL;
}
static const struct sip_txn_user user_cb = {
    .on_response = on_response,
    .on_ack = on_ack,
    .on_timeout = on_timeout,
    .on_transport_error = on_tp_error,
    .on_terminated = on_terminated,
};

static int cap_send(void *arg, const struct sip_txn_dest *dest, const char *bytes, size_t len)
{
	(void)arg;
	if (fail_send)
		return fail_send;
	cr_assert_lt(nsent, MAX_SENT);
	sent[nsent].at = now;
	sent[nsent].bytes = malloc(len);
	memcpy(sent[nsent].bytes, bytes, len);
	sent[nsent].len = len;
	sent[nsent].flow = dest->flow;
	nsent++;
	return 0;
}

static void cap_on_request(void *arg, struct sip_txn *txn, const struct sip_msg *msg)
{
	(void)arg;
	new_txn = txn;
	n_requests++;
	sent_at_on_request = nsent;
	sip_txn_set_user(txn, &user_cb, NULL);
	if (respond_in_on_request)
		respond_in_on_request(txn, msg);
}

static char logbuf[256];
static void cap_log(void *arg, const char *line)
{
	(void)arg;
	snprintf(logbuf, sizeof(logbuf), "%s", line);
}

static struct sip_txn_layer *layer;
static struct sip_msg *pmsg;
static char pbuf[8192];

static struct sip_txn_layer *make_layer(uint32_t trying_delay)
{
	struct sip_txn_layer_config cfg = {
	    .timers = SIP_TXN_TIMERS_DEFAULT,
	    .trying_delay_ms = trying_delay,
	    .cb = {.send = cap_send, .on_request = cap_on_request, .on_log = cap_log},
	};
	return sip_txn_layer_new(&cfg);
}

static void setup(void)
{
	nsent = 0;
	now = 0;
	fail_send = 0;
	new_txn = NULL;
	n_requests = n_responses = last_response_status = n_timeouts = n_terminated = n_acks =
	    n_tp_errors = 0;
	terminated_at = timeout_at = 0;
	respond_in_on_request = NULL;
	layer = make_layer(200);
	pmsg = sip_msg_new(NULL);
	cr_assert_not_null(layer);
}

static void teardown(void)
{
	sip_txn_layer_free(layer);
	sip_msg_free(pmsg);
	for (size_t i = 0; i < nsent; i++)
		free(sent[i].bytes);
}

TestSuite(txn, .init = setup, .fini = teardown);

/* Advance the fake clock to t, firing every timer on its exact deadline. */
static void run_until(uint64_t t)
{
	for (;;) {
		uint64_t d = sip_txn_layer_next_deadline(layer);
		if (d > t)
			break;
		cr_assert_geq(d, now, "deadline in the past");
		now = d;
		sip_txn_layer_tick(layer, now);
	}
	now = t;
}

static const struct sip_msg *parse(const char *bytes, size_t len)
{
	cr_assert_lt(len, sizeof(pbuf));
	memcpy(pbuf, bytes, len);
	size_t consumed;
	struct sip_parse_error err;
	cr_assert_eq(sip_msg_parse(pmsg, pbuf, len, SIP_PARSE_DATAGRAM, &consumed, &err),
	             SIP_PARSE_OK, "parse: %s", err.reason ? err.reason : "");
	return pmsg;
}

static const struct sip_msg *parse_sent(size_t i)
{
	cr_assert_lt(i, nsent);
	return parse(sent[i].bytes, sent[i].len);
}

/* A request; sent_by e.g. "192.0.2.1:5060"; branch NULL: no branch param. */
static size_t make_req(char *buf, size_t size, const char *method, const char *branch,
                       const char *sent_by, unsigned cseq, const char *cseq_method,
                       const char *to_tag, const char *extra)
{
	char branch_param[128] = "";
	if (branch)
		snprintf(branch_param, sizeof(branch_param), ";branch=%s", branch);
	int n = snprintf(buf, size,
	                 "%s sip:bob@example.com SIP/2.0\r\n"
	                 "Via: SIP/2.0/UDP %s%s\r\n"
	                 "Max-Forwards: 70\r\n"
	                 "From: \"Alice\" <sip:alice@example.com>;tag=a1\r\n"
	                 "To: <sip:bob@example.com>%s%s\r\n"
	                 "Call-ID: call1@example.com\r\n"
	                 "CSeq: %u %s\r\n"
	                 "%s"
	                 "Content-Length: 0\r\n\r\n",
	                 method, sent_by, branch_param, to_tag ? ";tag=" : "", to_tag ? to_tag : "",
	                 cseq, cseq_method ? cseq_method : method, extra ? extra : "");
	cr_assert(n > 0 && (size_t)n < size);
	return (size_t)n;
}

static const struct sip_msg *req(const char *method, const char *branch)
{
	char buf[2048];
	size_t n =
	    make_req(buf, sizeof(buf), method, branch, "192.0.2.1:5060", 1, NULL, NULL, NULL);
	return parse(buf, n);
}

/* A response to request r (already parsed into a scratch copy). */
static size_t make_resp(char *out, size_t size, const struct sip_msg *r, int status,
                        const char *to_tag)
{
	struct sip_buf b;
	sip_buf_init(&b, 0);
	sip_build_response(&b, r, status, NULL, to_tag ? sip_pl_from_cstr(to_tag) : SIP_PL_NULL);
	sip_build_body(&b, NULL, SIP_PL_NULL);
	cr_assert_eq(b.error, 0);
	cr_assert_lt(b.len, size);
	memcpy(out, b.p, b.len);
	size_t n = b.len;
	sip_buf_free(&b);
	return n;
}

static const struct sip_txn_dest udp = {.flow = (void *)0x1, .reliable = false};
static const struct sip_txn_dest tcp = {.flow = (void *)0x2, .reliable = true};
static const struct sip_txn_dest tcp2 = {.flow = (void *)0x3, .reliable = true};

/* Feed the client txn a response with this status. */
static int client_gets(struct sip_txn *txn, int status, const char *to_tag)
{
	char raw[4096], buf[4096];
	const struct sip_msg *r = sip_txn_request(txn);
	sip_pl rr = sip_msg_raw(r);
	memcpy(raw, rr.p, rr.l);
	const struct sip_msg *copy = parse(raw, rr.l);
	size_t n = make_resp(buf, sizeof(buf), copy, status, to_tag);
	return sip_txn_layer_recv(layer, parse(buf, n), &udp, now);
}

static struct sip_txn *client(const char *method, const struct sip_txn_dest *dest,
                              const char *extra)
{
	char buf[2048];
	size_t n = make_req(buf, sizeof(buf), method, "z9hG4bKclient1", "198.51.100.7:5060", 1,
	                    NULL, NULL, extra);
	struct sip_txn *txn = NULL;
	cr_assert_eq(sip_txn_client_new(layer, buf, n, dest, now, &user_cb, NULL, &txn), 0);
	cr_assert_not_null(txn);
	memset(buf, 'X', sizeof(buf)); /* the layer keeps its own copy */
	return txn;
}

static void expect_send_times(size_t first, const uint64_t *times, size_t n)
{
	cr_assert_eq(nsent, first + n, "sent %zu, expected %zu", nsent, first + n);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(sent[first + i].at, times[i], "send %zu at %llu, expected %llu", i,
		             (unsigned long long)sent[first + i].at, (unsigned long long)times[i]);
}

static void expect_pl(sip_pl got, const char *want)
{
	cr_assert(sip_pl_isset(got), "expected '%s', got unset", want);
	cr_assert(sip_pl_eq_cstr(got, want), "expected '%s', got '%.*s'", want, (int)got.l, got.p);
}

/* ---- INVITE client ---- */

Test(txn, ict_udp_timer_a_doubles_and_b_times_out)
{
	struct sip_txn *t = client("INVITE", &udp, NULL);
	cr_assert_eq(sip_txn_kind(t), SIP_TXN_ICT);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_CALLING);
	run_until(40000);
	static const uint64_t want[] = {0, 500, 1500, 3500, 7500, 15500, 31500};
	expect_send_times(0, want, 7);
	for (size_t i = 1; i < nsent; i++)
		cr_assert(sent[i].len == sent[0].len &&
		          !memcmp(sent[i].bytes, sent[0].bytes, sent[0].len));
	expect_pl(sip_msg_method_name(parse_sent(0)), "INVITE");
	cr_assert_eq(n_timeouts, 1);
	cr_assert_eq(timeout_at, 32000);
	cr_assert_eq(n_terminated, 1);
	cr_assert_eq(sip_txn_layer_count(layer), 0);
}

Test(txn, ict_reliable_no_retransmissions_and_d_zero)
{
	struct sip_txn *t = client("INVITE", &tcp, NULL);
	cr_assert_eq(sip_txn_layer_next_deadline(layer), 32000); /* only B */
	now = 100;
	cr_assert_eq(client_gets(t, 486, "b9"), SIP_TXN_RECV_RESPONSE);
	cr_assert_eq(nsent, 2); /* the INVITE and the ACK */
	expect_pl(sip_msg_method_name(parse_sent(1)), "ACK");
	cr_assert_eq(n_terminated, 1, "D is 0 on reliable transports");
	cr_assert_eq(terminated_at, 100);
	cr_assert_eq(sip_txn_layer_count(layer), 0);
}

Test(txn, ict_reliable_timeout_b)
{
	client("INVITE", &tcp, NULL);
	run_until(31999);
	cr_assert_eq(n_timeouts, 0);
	run_until(32000);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(n_timeouts, 1);
	cr_assert_eq(n_terminated, 1);
}

Test(txn, ict_486_ack_built_from_request)
{
	struct sip_txn *t = client("INVITE", &udp,
	                           "Route: <sip:p1.example.com;lr>\r\n"
	                           "Route: <sip:p2.example.com;lr>\r\n");
	now = 100;
	cr_assert_eq(client_gets(t, 180, "b9"), SIP_TXN_RECV_RESPONSE);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_PROCEEDING);
	cr_assert_eq(last_response_status, 180);
	run_until(2000);
	cr_assert_eq(nsent, 1, "no retransmission in Proceeding");
	cr_assert_eq(n_timeouts, 0);
	cr_assert_eq(client_gets(t, 486, "b9"), SIP_TXN_RECV_RESPONSE);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_COMPLETED);
	cr_assert_eq(n_responses, 2);
	cr_assert_eq(last_response_status, 486);
	cr_assert_eq(nsent, 2);

	const struct sip_msg *ack = parse_sent(1);
	cr_assert(sip_msg_is_request(ack));
	cr_assert_eq(sip_msg_method(ack), SIP_METHOD_ACK);
	expect_pl(sip_msg_ruri(ack), "sip:bob@example.com");
	cr_assert_eq(sip_msg_via_count(ack), 1);
	expect_pl(sip_msg_via(ack)->branch, "z9hG4bKclient1");
	expect_pl(sip_msg_via(ack)->host, "198.51.100.7");
	expect_pl(sip_msg_call_id(ack), "call1@example.com");
	expect_pl(sip_msg_from(ack)->tag, "a1");
	expect_pl(sip_msg_to(ack)->tag, "b9");
	cr_assert_eq(sip_msg_cseq(ack)->seq, 1);
	cr_assert_eq(sip_msg_cseq(ack)->method, SIP_METHOD_ACK);
	const struct sip_hdr *route = sip_msg_hdr(ack, SIP_HDR_ROUTE);
	cr_assert_not_null(route);
	expect_pl(route->value, "<sip:p1.example.com;lr>");
	route = sip_msg_hdr_next(ack, route);
	cr_assert_not_null(route);
	expect_pl(route->value, "<sip:p2.example.com;lr>");
	cr_assert_null(sip_msg_hdr_next(ack, route));
	cr_assert_eq(sip_msg_content_length(ack), 0);

	/* the 486 retransmitted: the same ACK again, the TU not bothered */
	now = 2600;
	cr_assert_eq(client_gets(t, 486, "b9"), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(nsent, 3);
	cr_assert(sent[2].len == sent[1].len && !memcmp(sent[2].bytes, sent[1].bytes, sent[1].len));
	cr_assert_eq(n_responses, 2);
	/* Timer D: 32 s after the 486 */
	cr_assert_eq(sip_txn_layer_next_deadline(layer), 34000);
	run_until(33999);
	cr_assert_eq(n_terminated, 0);
	run_until(34000);
	cr_assert_eq(n_terminated, 1);
	cr_assert_eq(n_timeouts, 0);
}

Test(txn, ict_2xx_accepted_timer_m)
{
	struct sip_txn *t = client("INVITE", &udp, NULL);
	run_until(700);
	cr_assert_eq(client_gets(t, 200, "b9"), SIP_TXN_RECV_RESPONSE);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_ACCEPTED);
	now = 1200;
	cr_assert_eq(client_gets(t, 200, "b9"), SIP_TXN_RECV_RESPONSE, "every 2xx to the TU");
	cr_assert_eq(client_gets(t, 200, "other"), SIP_TXN_RECV_RESPONSE, "forked 2xx too");
	cr_assert_eq(n_responses, 3);
	cr_assert_eq(client_gets(t, 486, "b9"), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(nsent, 2, "INVITE, its retransmission at 500, and no ACK for a 2xx");
	run_until(700 + 32000 - 1);
	cr_assert_eq(n_terminated, 0);
	run_until(700 + 32000);
	cr_assert_eq(n_terminated, 1);
	cr_assert_eq(n_timeouts, 0);
	cr_assert_eq(nsent, 2);
}

/* ---- non-INVITE client ---- */

Test(txn, nict_udp_timer_e_capped_at_t2_and_f)
{
	struct sip_txn *t = client("OPTIONS", &udp, NULL);
	cr_assert_eq(sip_txn_kind(t), SIP_TXN_NICT);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_TRYING);
	run_until(40000);
	static const uint64_t want[] = {0,     500,   1500,  3500,  7500, 11500,
	                                15500, 19500, 23500, 27500, 31500};
	expect_send_times(0, want, 11);
	cr_assert_eq(timeout_at, 32000);
	cr_assert_eq(n_timeouts, 1);
	cr_assert_eq(n_terminated, 1);
}

Test(txn, nict_provisional_then_t2_then_k)
{
	struct sip_txn *t = client("REGISTER", &udp, NULL);
	run_until(600);
	now = 600;
	cr_assert_eq(client_gets(t, 100, NULL), SIP_TXN_RECV_RESPONSE);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_PROCEEDING);
	run_until(10000);
	/* 1500 was armed before the 100; from then on every T2 */
	static const uint64_t want[] = {0, 500, 1500, 5500, 9500};
	expect_send_times(0, want, 5);
	cr_assert_eq(client_gets(t, 200, "b1"), SIP_TXN_RECV_RESPONSE);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_COMPLETED);
	cr_assert_eq(last_response_status, 200);
	cr_assert_eq(client_gets(t, 200, "b1"), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(n_responses, 2);
	cr_assert_eq(sip_txn_layer_next_deadline(layer), 15000); /* K = T4 */
	run_until(40000);
	cr_assert_eq(nsent, 5);
	cr_assert_eq(terminated_at, 15000);
	cr_assert_eq(n_timeouts, 0);
}

Test(txn, nict_reliable_k_zero_and_f)
{
	struct sip_txn *t = client("BYE", &tcp, NULL);
	now = 50;
	cr_assert_eq(client_gets(t, 200, "b1"), SIP_TXN_RECV_RESPONSE);
	cr_assert_eq(n_terminated, 1);
	cr_assert_eq(terminated_at, 50);
	cr_assert_eq(sip_txn_layer_count(layer), 0);

	char buf[2048];
	size_t n =
	    make_req(buf, sizeof(buf), "MESSAGE", "z9hG4bKm2", "198.51.100.7", 2, NULL, NULL, NULL);
	cr_assert_eq(sip_txn_client_new(layer, buf, n, &tcp, now, &user_cb, NULL, NULL), 0);
	run_until(50000);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(timeout_at, 50 + 32000);
}

/* ---- INVITE server ---- */

static char invite_buf[2048];
static size_t invite_len;

static struct sip_txn *server_invite(const struct sip_txn_dest *from, int expect_rc)
{
	invite_len = make_req(invite_buf, sizeof(invite_buf), "INVITE", "z9hG4bKsrv1",
	                      "192.0.2.1:5060", 1, NULL, NULL, NULL);
	cr_assert_eq(sip_txn_layer_recv(layer, parse(invite_buf, invite_len), from, now),
	             expect_rc);
	return new_txn;
}

static int retransmit_invite(const struct sip_txn_dest *from)
{
	return sip_txn_layer_recv(layer, parse(invite_buf, invite_len), from, now);
}

static int server_sends(struct sip_txn *t, int status, const char *to_tag)
{
	char buf[4096];
	size_t n = make_resp(buf, sizeof(buf), sip_txn_request(t), status, to_tag);
	return sip_txn_server_respond(t, buf, n, now);
}

static int send_ack(const char *branch, const char *to_tag, const struct sip_txn_dest *from)
{
	char buf[2048];
	size_t n =
	    make_req(buf, sizeof(buf), "ACK", branch, "192.0.2.1:5060", 1, NULL, to_tag, NULL);
	return sip_txn_layer_recv(layer, parse(buf, n), from, now);
}

Test(txn, ist_100_trying_retransmissions_g_and_h)
{
	struct sip_txn *t = server_invite(&udp, SIP_TXN_RECV_NEW);
	cr_assert_not_null(t);
	cr_assert_eq(sip_txn_kind(t), SIP_TXN_IST);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_PROCEEDING);
	cr_assert_eq(n_requests, 1);
	cr_assert_eq(nsent, 0);
	run_until(199);
	cr_assert_eq(nsent, 0);
	run_until(200);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(sip_msg_status(parse_sent(0)), 100);
	expect_pl(sip_msg_via(parse_sent(0))->branch, "z9hG4bKsrv1");

	now = 300;
	cr_assert_eq(retransmit_invite(&udp), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(n_requests, 1);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(sip_msg_status(parse_sent(1)), 100);

	now = 400;
	cr_assert_eq(server_sends(t, 180, "s1"), 0);
	cr_assert_eq(nsent, 3);
	cr_assert_eq(retransmit_invite(&udp), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(nsent, 4);
	cr_assert_eq(sip_msg_status(parse_sent(3)), 180);

	now = 1000;
	cr_assert_eq(server_sends(t, 486, "s1"), 0);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_COMPLETED);
	cr_assert_eq(nsent, 5);
	run_until(13000);
	static const uint64_t g[] = {1500, 2500, 4500, 8500, 12500};
	expect_send_times(5, g, 5);
	for (size_t i = 5; i < nsent; i++)
		cr_assert_eq(sip_msg_status(parse_sent(i)), 486);
	now = 13100;
	cr_assert_eq(retransmit_invite(&udp), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(nsent, 11);
	cr_assert_eq(sip_msg_status(parse_sent(10)), 486);
	cr_assert_eq(server_sends(t, 500, "s1"), -EPROTO, "a second final response");
	cr_assert(strstr(logbuf, "refused"), "illegal events are logged: %s", logbuf);

	run_until(32999);
	cr_assert_eq(n_timeouts, 0);
	run_until(40000);
	cr_assert_eq(n_timeouts, 1);
	cr_assert_eq(timeout_at, 1000 + 32000, "H = 64*T1 after the 486");
	cr_assert_eq(n_terminated, 1);
	cr_assert_eq(n_requests, 1);
}

static int respond_486(struct sip_txn *txn, const struct sip_msg *msg)
{
	(void)msg;
	return server_sends(txn, 486, "s1");
}

Test(txn, ist_ack_confirmed_timer_i)
{
	respond_in_on_request = respond_486;
	struct sip_txn *t = server_invite(&udp, SIP_TXN_RECV_NEW);
	cr_assert_eq(nsent, 1, "the TU answered at once: no 100");
	cr_assert_eq(sip_msg_status(parse_sent(0)), 486);
	run_until(700);
	cr_assert_eq(nsent, 2); /* G at 500 */
	cr_assert_eq(send_ack("z9hG4bKsrv1", "s1", &udp), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_CONFIRMED);
	cr_assert_eq(n_acks, 0, "an ACK to a non-2xx stays in the transaction");
	cr_assert_eq(send_ack("z9hG4bKsrv1", "s1", &udp), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(retransmit_invite(&udp), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(sip_txn_layer_next_deadline(layer), 700 + 5000); /* I = T4 */
	run_until(40000);
	cr_assert_eq(nsent, 2, "no G after the ACK");
	cr_assert_eq(terminated_at, 5700);
	cr_assert_eq(n_timeouts, 0);
}

Test(txn, ist_reliable_no_g_and_i_zero)
{
	respond_in_on_request = respond_486;
	server_invite(&tcp, SIP_TXN_RECV_NEW);
	run_until(1000);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(sip_txn_layer_next_deadline(layer), 32000); /* H only */
	cr_assert_eq(send_ack("z9hG4bKsrv1", "s1", &tcp), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(n_terminated, 1);
	cr_assert_eq(terminated_at, 1000);
}

Test(txn, ist_trying_immediately_when_configured)
{
	sip_txn_layer_free(layer);
	layer = make_layer(0);
	server_invite(&udp, SIP_TXN_RECV_NEW);
	cr_assert_eq(sent_at_on_request, 1, "100 sent before the TU saw the INVITE");
	cr_assert_eq(sip_msg_status(parse_sent(0)), 100);
	run_until(1000);
	cr_assert_eq(nsent, 1);
}

Test(txn, ist_no_trying_when_disabled)
{
	sip_txn_layer_free(layer);
	layer = make_layer(SIP_TXN_NO_TRYING);
	server_invite(&udp, SIP_TXN_RECV_NEW);
	run_until(1000);
	cr_assert_eq(nsent, 0);
}

Test(txn, ist_2xx_accepted_timer_l)
{
	struct sip_txn *t = server_invite(&udp, SIP_TXN_RECV_NEW);
	now = 100;
	cr_assert_eq(server_sends(t, 200, "s1"), 0);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_ACCEPTED);
	cr_assert_eq(nsent, 1, "no 100 once the TU answered");
	now = 600;
	cr_assert_eq(retransmit_invite(&udp), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(nsent, 1, "the TU retransmits its 2xx, not the transaction");
	cr_assert_eq(n_requests, 1);
	cr_assert_eq(server_sends(t, 200, "s1"), 0, "the TU's 2xx retransmission goes out");
	cr_assert_eq(nsent, 2);
	cr_assert_eq(server_sends(t, 486, "s1"), -EPROTO);
	cr_assert_eq(send_ack("z9hG4bKsrv1", "s1", &udp), SIP_TXN_RECV_ACK);
	cr_assert_eq(n_acks, 1);
	cr_assert_eq(send_ack("z9hG4bKnewbranch", "s1", &udp), SIP_TXN_RECV_STRAY);
	cr_assert_eq(n_acks, 1);
	run_until(100 + 32000 - 1);
	cr_assert_eq(n_terminated, 0);
	run_until(100 + 32000);
	cr_assert_eq(n_terminated, 1);
	cr_assert_eq(nsent, 2);
	/* after L a retransmitted INVITE is new again */
	now = 40000;
	cr_assert_eq(retransmit_invite(&udp), SIP_TXN_RECV_NEW);
}

/* ---- non-INVITE server ---- */

Test(txn, nist_retransmits_response_and_j)
{
	const struct sip_msg *m = req("OPTIONS", "z9hG4bKopt");
	char copy[2048];
	memcpy(copy, sip_msg_raw(m).p, sip_msg_raw(m).l);
	size_t len = sip_msg_raw(m).l;
	cr_assert_eq(sip_txn_layer_recv(layer, m, &udp, now), SIP_TXN_RECV_NEW);
	struct sip_txn *t = new_txn;
	cr_assert_eq(sip_txn_kind(t), SIP_TXN_NIST);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_TRYING);
	now = 50;
	cr_assert_eq(sip_txn_layer_recv(layer, parse(copy, len), &udp, now), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(nsent, 0, "Trying absorbs silently");
	cr_assert_eq(server_sends(t, 183, "s1"), 0);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_PROCEEDING);
	cr_assert_eq(sip_txn_layer_recv(layer, parse(copy, len), &udp, now), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(sip_msg_status(parse_sent(1)), 183);
	now = 100;
	cr_assert_eq(server_sends(t, 200, "s1"), 0);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_COMPLETED);
	cr_assert_eq(sip_txn_last_status(t), 200);
	now = 5000;
	cr_assert_eq(sip_txn_layer_recv(layer, parse(copy, len), &udp, now), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(nsent, 4);
	cr_assert_eq(sip_msg_status(parse_sent(3)), 200);
	cr_assert_eq(server_sends(t, 200, "s1"), -EPROTO);
	cr_assert_eq(n_requests, 1);
	run_until(32099);
	cr_assert_eq(n_terminated, 0);
	run_until(32100);
	cr_assert_eq(n_terminated, 1, "J = 64*T1 on UDP");
}

Test(txn, nist_reliable_j_zero)
{
	cr_assert_eq(sip_txn_layer_recv(layer, req("BYE", "z9hG4bKbye"), &tcp, now),
	             SIP_TXN_RECV_NEW);
	now = 10;
	cr_assert_eq(server_sends(new_txn ? new_txn : NULL, 200, "s1"), 0);
	cr_assert_eq(n_terminated, 1);
	cr_assert_eq(terminated_at, 10);
	cr_assert_eq(sip_txn_layer_count(layer), 0);
}

/* ---- matching ---- */

Test(txn, server_matching_branch_method_sent_by)
{
	struct sip_txn *inv = server_invite(&udp, SIP_TXN_RECV_NEW);
	/* same branch, other method: CANCEL is its own transaction */
	char buf[2048];
	size_t n = make_req(buf, sizeof(buf), "CANCEL", "z9hG4bKsrv1", "192.0.2.1:5060", 1, NULL,
	                    NULL, NULL);
	const struct sip_msg *cancel = parse(buf, n);
	cr_assert_eq(sip_txn_find_invite_for_cancel(layer, cancel, &udp), inv);
	cr_assert_eq(sip_txn_layer_recv(layer, cancel, &udp, now), SIP_TXN_RECV_NEW);
	struct sip_txn *c = new_txn;
	cr_assert_neq(c, inv);
	cr_assert_eq(sip_txn_kind(c), SIP_TXN_NIST);
	cr_assert_eq(sip_txn_layer_count(layer), 2);
	/* the CANCEL retransmitted matches the CANCEL transaction */
	cr_assert_eq(sip_txn_layer_recv(layer, parse(buf, n), &udp, now), SIP_TXN_RECV_ABSORBED);
	/* a CANCEL with another branch finds nothing */
	n = make_req(buf, sizeof(buf), "CANCEL", "z9hG4bKother", "192.0.2.1:5060", 1, NULL, NULL,
	             NULL);
	cr_assert_null(sip_txn_find_invite_for_cancel(layer, parse(buf, n), &udp));
	/* same branch, other sent-by: another transaction */
	n = make_req(buf, sizeof(buf), "INVITE", "z9hG4bKsrv1", "192.0.2.99:5060", 1, NULL, NULL,
	             NULL);
	cr_assert_eq(sip_txn_layer_recv(layer, parse(buf, n), &udp, now), SIP_TXN_RECV_NEW);
	cr_assert_eq(sip_txn_layer_count(layer), 3);
	cr_assert_eq(n_requests, 3);
}

Test(txn, short_branch_on_two_flows_is_two_transactions)
{
	char buf[2048];
	size_t n = make_req(buf, sizeof(buf), "MESSAGE", "z9hG4bK3f2a1", "df7jal23ls0d.invalid", 1,
	                    NULL, NULL, NULL);
	cr_assert_eq(sip_txn_layer_recv(layer, parse(buf, n), &tcp, now), SIP_TXN_RECV_NEW);
	struct sip_txn *a = new_txn;
	cr_assert_eq(sip_txn_layer_recv(layer, parse(buf, n), &tcp2, now), SIP_TXN_RECV_NEW);
	struct sip_txn *b = new_txn;
	cr_assert_neq(a, b);
	cr_assert_eq(sip_txn_dest(a)->flow, tcp.flow);
	cr_assert_eq(sip_txn_dest(b)->flow, tcp2.flow);
	/* each answers on its own flow */
	cr_assert_eq(sip_txn_layer_recv(layer, parse(buf, n), &tcp2, now), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(n_requests, 2);
	cr_assert_eq(server_sends(b, 202, "x"), 0);
	cr_assert_eq(sent[nsent - 1].flow, tcp2.flow);
	cr_assert_eq(server_sends(a, 403, "y"), 0);
	cr_assert_eq(sent[nsent - 1].flow, tcp.flow);
}

Test(txn, rfc2543_fallback)
{
	/* no magic cookie: matched on R-URI, tags, Call-ID, CSeq and top Via */
	char buf[2048];
	size_t n =
	    make_req(buf, sizeof(buf), "INVITE", "old1", "192.0.2.1:5060", 7, NULL, NULL, NULL);
	cr_assert_eq(sip_txn_layer_recv(layer, parse(buf, n), &udp, now), SIP_TXN_RECV_NEW);
	struct sip_txn *t = new_txn;
	cr_assert_eq(sip_txn_layer_recv(layer, parse(buf, n), &udp, now), SIP_TXN_RECV_ABSORBED);
	/* another CSeq: a new request */
	char buf2[2048];
	size_t n2 =
	    make_req(buf2, sizeof(buf2), "INVITE", "old1", "192.0.2.1:5060", 8, NULL, NULL, NULL);
	cr_assert_eq(sip_txn_layer_recv(layer, parse(buf2, n2), &udp, now), SIP_TXN_RECV_NEW);
	/* no branch at all */
	n2 = make_req(buf2, sizeof(buf2), "OPTIONS", NULL, "192.0.2.1:5060", 9, NULL, NULL, NULL);
	cr_assert_eq(sip_txn_layer_recv(layer, parse(buf2, n2), &udp, now), SIP_TXN_RECV_NEW);
	cr_assert_eq(sip_txn_layer_recv(layer, parse(buf2, n2), &udp, now), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(n_requests, 3);

	/* CANCEL finds the INVITE (same CSeq number, method CANCEL) */
	n2 = make_req(buf2, sizeof(buf2), "CANCEL", "old1", "192.0.2.1:5060", 7, NULL, NULL, NULL);
	cr_assert_eq(sip_txn_find_invite_for_cancel(layer, parse(buf2, n2), &udp), t);

	/* 486 with tag s1; the ACK matches only with that To tag */
	cr_assert_eq(server_sends(t, 486, "s1"), 0);
	n2 = make_req(buf2, sizeof(buf2), "ACK", "old1", "192.0.2.1:5060", 7, "ACK", "zz", NULL);
	cr_assert_eq(sip_txn_layer_recv(layer, parse(buf2, n2), &udp, now), SIP_TXN_RECV_STRAY);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_COMPLETED);
	n2 = make_req(buf2, sizeof(buf2), "ACK", "old1", "192.0.2.1:5060", 7, "ACK", "s1", NULL);
	cr_assert_eq(sip_txn_layer_recv(layer, parse(buf2, n2), &udp, now), SIP_TXN_RECV_ABSORBED);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_CONFIRMED);
}

Test(txn, client_matching_branch_and_cseq_method)
{
	struct sip_txn *inv = client("INVITE", &udp, NULL);
	/* a CANCEL for it: same branch, own transaction */
	char buf[2048];
	size_t n = make_req(buf, sizeof(buf), "CANCEL", "z9hG4bKclient1", "198.51.100.7:5060", 1,
	                    NULL, NULL, NULL);
	struct sip_txn *cancel = NULL;
	cr_assert_eq(sip_txn_client_new(layer, buf, n, &udp, now, &user_cb, NULL, &cancel), 0);
	cr_assert_neq(cancel, inv);
	cr_assert_eq(sip_txn_client_new(layer, buf, n, &udp, now, &user_cb, NULL, NULL), -EEXIST);
	cr_assert_eq(client_gets(cancel, 200, "b1"), SIP_TXN_RECV_RESPONSE);
	cr_assert_eq(sip_txn_state(cancel), SIP_TXN_COMPLETED);
	cr_assert_eq(sip_txn_state(inv), SIP_TXN_CALLING, "the 200 to CANCEL is not the INVITE's");
	cr_assert_eq(client_gets(inv, 487, "b1"), SIP_TXN_RECV_RESPONSE);
	cr_assert_eq(sip_txn_state(inv), SIP_TXN_COMPLETED);

	/* unknown branch: stray */
	n = make_req(buf, sizeof(buf), "OPTIONS", "z9hG4bKnobody", "198.51.100.7:5060", 1, NULL,
	             NULL, NULL);
	char resp[2048];
	size_t rn = make_resp(resp, sizeof(resp), parse(buf, n), 200, "t");
	cr_assert_eq(sip_txn_layer_recv(layer, parse(resp, rn), &udp, now), SIP_TXN_RECV_STRAY);
}

/* ---- errors ---- */

Test(txn, client_new_refuses_ack_and_garbage)
{
	char buf[2048];
	size_t n =
	    make_req(buf, sizeof(buf), "ACK", "z9hG4bKa", "198.51.100.7", 1, NULL, "t", NULL);
	cr_assert_eq(sip_txn_client_new(layer, buf, n, &udp, now, NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(sip_txn_client_new(layer, "junk", 4, &udp, now, NULL, NULL, NULL), -EINVAL);
	n = make_req(buf, sizeof(buf), "OPTIONS", NULL, "198.51.100.7", 1, NULL, NULL, NULL);
	cr_assert_eq(sip_txn_client_new(layer, buf, n, &udp, now, NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(nsent, 0);
	fail_send = -ECONNRESET;
	n = make_req(buf, sizeof(buf), "OPTIONS", "z9hG4bKb", "198.51.100.7", 1, NULL, NULL, NULL);
	cr_assert_eq(sip_txn_client_new(layer, buf, n, &udp, now, NULL, NULL, NULL), -ECONNRESET);
	cr_assert_eq(sip_txn_layer_count(layer), 0);
}

Test(txn, transport_errors)
{
	client("OPTIONS", &udp, NULL);
	fail_send = -ENETUNREACH;
	run_until(600);
	cr_assert_eq(n_tp_errors, 1, "retransmission failed");
	cr_assert_eq(n_terminated, 1);
	cr_assert_eq(sip_txn_layer_count(layer), 0);
	fail_send = 0;

	struct sip_txn *t = server_invite(&tcp, SIP_TXN_RECV_NEW);
	cr_assert_eq(sip_txn_transport_error(t, now), 0);
	cr_assert_eq(n_tp_errors, 2);
	cr_assert_eq(n_terminated, 2);
	cr_assert_eq(sip_txn_layer_next_deadline(layer), UINT64_MAX);
}

Test(txn, respond_rejects_requests_and_bad_status)
{
	struct sip_txn *t = server_invite(&udp, SIP_TXN_RECV_NEW);
	cr_assert_eq(sip_txn_server_respond(t, invite_buf, invite_len, now), -EINVAL);
	cr_assert_eq(sip_txn_server_respond(t, "SIP/2.0 nope", 12, now), -EINVAL);
	cr_assert_eq(nsent, 0);
	cr_assert_eq(sip_txn_state(t), SIP_TXN_PROCEEDING);
}

Test(txn, state_names)
{
	cr_assert_str_eq(sip_txn_state_name(SIP_TXN_ACCEPTED), "Accepted");
	cr_assert_str_eq(sip_txn_state_name((enum sip_txn_state)99), "?");
}

/* ---- scale ---- */

Test(txn, thousands_tick_in_bounded_time)
{
	enum { N = 3000 };
	char buf[2048];
	clock_t start = clock();
	for (unsigned i = 0; i < N; i++) {
		char branch[64];
		snprintf(branch, sizeof(branch), "z9hG4bKc%u", i);
		size_t n = make_req(buf, sizeof(buf), "OPTIONS", branch, "198.51.100.7", i + 1,
		                    NULL, NULL, NULL);
		now = i % 97; /* spread the deadlines */
		cr_assert_eq(sip_txn_client_new(layer, buf, n, &udp, now, &user_cb, NULL, NULL), 0);
		snprintf(branch, sizeof(branch), "z9hG4bKs%u", i);
		n = make_req(buf, sizeof(buf), "INVITE", branch, "192.0.2.1", i + 1, NULL, NULL,
		             NULL);
		cr_assert_eq(sip_txn_layer_recv(layer, parse(buf, n), &udp, now), SIP_TXN_RECV_NEW);
		cr_assert_eq(server_sends(new_txn, 486, "t"), 0);
	}
	cr_assert_eq(sip_txn_layer_count(layer), 2 * N);
	for (size_t i = 0; i < nsent; i++)
		free(sent[i].bytes);
	nsent = 0;
	/* count sends only from here: drop the capture to keep memory flat */
	fail_send = 0;
	uint64_t ticks = 0;
	while (sip_txn_layer_next_deadline(layer) != UINT64_MAX) {
		now = sip_txn_layer_next_deadline(layer);
		sip_txn_layer_tick(layer, now);
		ticks++;
		for (size_t i = 0; i < nsent; i++)
			free(sent[i].bytes);
		nsent = 0;
	}
	double secs = (double)(clock() - start) / CLOCKS_PER_SEC;
	cr_assert_eq(sip_txn_layer_count(layer), 0);
	cr_assert_eq(n_timeouts, 2 * N, "F for each NICT, H for each IST");
	cr_assert_lt(secs, 5.0, "took %.2f s", secs);
	cr_assert_gt(ticks, 0);
}

/* A stopping process ends its transactions: each TU hears on_terminated (to
 * release what it attached), nothing is sent and no timeout is reported. */
Test(txn, shutdown_ends_every_transaction_quietly)
{
	client("OPTIONS", &udp, NULL);
	struct sip_txn *inv = server_invite(&udp, SIP_TXN_RECV_NEW);
	sip_txn_set_user(inv, &user_cb, NULL);
	size_t sent_before = nsent;
	cr_assert_eq(sip_txn_layer_count(layer), 2);
	sip_txn_layer_shutdown(layer);
	cr_assert_eq(sip_txn_layer_count(layer), 0);
	cr_assert_eq(n_terminated, 2);
	cr_assert_eq(n_timeouts, 0);
	cr_assert_eq(nsent, sent_before);
	cr_assert_eq(sip_txn_layer_next_deadline(layer), UINT64_MAX);
	run_until(64000);
	cr_assert_eq(nsent, sent_before, "no timer survived");
}

/* dest_hold: every transaction holds its destination from creation until it
 * is freed, whoever its TU is, and a layer freed early releases the rest. */
static int holds[4];
static void count_hold(void *arg, const struct sip_txn_dest *dest, bool hold)
{
	(void)arg;
	holds[(uintptr_t)dest->flow] += hold ? 1 : -1;
}

Test(txn, dest_held_for_the_life_of_each_transaction)
{
	sip_txn_layer_free(layer);
	struct sip_txn_layer_config cfg = {
	    .timers = SIP_TXN_TIMERS_DEFAULT,
	    .trying_delay_ms = 200,
	    .cb = {.send = cap_send, .on_request = cap_on_request, .dest_hold = count_hold},
	};
	memset(holds, 0, sizeof holds);
	layer = sip_txn_layer_new(&cfg);
	cr_assert_not_null(layer);

	struct sip_txn *c = client("OPTIONS", &udp, NULL);
	cr_assert_not_null(c);
	struct sip_txn *s = server_invite(&tcp, SIP_TXN_RECV_NEW);
	cr_assert_not_null(s);
	cr_assert_eq(holds[1], 1);
	cr_assert_eq(holds[2], 1);
	/* The TU of the server transaction is replaced: the hold stays. */
	sip_txn_set_user(s, NULL, NULL);
	cr_assert_eq(server_sends(s, 486, "t1"), 0);
	cr_assert_eq(client_gets(c, 200, "x"), SIP_TXN_RECV_RESPONSE);
	run_until(5000); /* Timer K (T4 on UDP) ends the client; the server waits for ACK (H) */
	cr_assert_eq(holds[1], 0, "the OPTIONS transaction released its flow");
	cr_assert_eq(holds[2], 1, "the INVITE server still waits for its ACK");
	sip_txn_layer_free(layer);
	layer = NULL;
	cr_assert_eq(holds[2], 0, "freeing the layer releases what is left");
}
