/* test_trunk.c — the trunk transports over real sockets on 127.0.0.1, driven
 * by a real GMainContext: UDP, TCP (framing, reuse, queued connect), TLS with a
 * throwaway certificate, and name resolution without a network. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/trunk.h"

static GMainContext *ctx;

/* ---- the loop ---- */

static gboolean keep_source(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

static void loop_step(void)
{
	/* A short timer bounds each blocking iteration. */
	GSource *wake = g_timeout_source_new(5);
	g_source_set_callback(wake, keep_source, NULL, NULL);
	g_source_attach(wake, ctx);
	g_main_context_iteration(ctx, TRUE);
	g_source_destroy(wake);
	g_source_unref(wake);
}

#define RUN_UNTIL(cond, ms)                                                                        \
	do {                                                                                       \
		gint64 end_ = g_get_monotonic_time() + (gint64)(ms)*1000;                          \
		while (!(cond) && g_get_monotonic_time() < end_)                                   \
			loop_step();                                                               \
	} while (0)

static void run_for(int ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
	while (g_get_monotonic_time() < end)
		loop_step();
}

/* ---- a sink that records what it hears ---- */

struct rec {
	GPtrArray *msgs;       /* GString * */
	GPtrArray *msg_flows;  /* struct sw_flow *, one reference each */
	GPtrArray *closed;     /* struct sw_flow *, one reference each */
	bool close_on_message; /* the sink closes a flow from inside on_message */
};

static void rec_on_message(void *arg, struct sw_flow *f, const char *buf, size_t len)
{
	struct rec *r = arg;
	g_ptr_array_add(r->msgs, g_string_new_len(buf, (gssize)len));
	g_ptr_array_add(r->msg_flows, sw_flow_ref(f));
	if (r->close_on_message)
		sw_flow_close(f, 0, NULL);
}

static void rec_on_closed(void *arg, struct sw_flow *f)
{
	struct rec *r = arg;
	g_ptr_array_add(r->closed, sw_flow_ref(f));
}

static void unref_flow(gpointer p)
{
	sw_flow_unref(p);
}
static void free_gstring(gpointer p)
{
	g_string_free(p, TRUE);
}

static void rec_init(struct rec *r)
{
	r->close_on_message = false;
	r->msgs = g_ptr_array_new_with_free_func(free_gstring);
	r->msg_flows = g_ptr_array_new_with_free_func(unref_flow);
	r->closed = g_ptr_array_new_with_free_func(unref_flow);
}

static void rec_clear(struct rec *r)
{
	g_ptr_array_unref(r->msgs);
	g_ptr_array_unref(r->msg_flows);
	g_ptr_array_unref(r->closed);
}

static bool rec_closed(const struct rec *r, const struct sw_flow *f)
{
	for (guint i = 0; i < r->closed->len; i++)
		if (r->closed->pdata[i] == f)
			return true;
	return false;
}

static const char *rec_msg(const struct rec *r, guint i)
{
	return ((GString *)r->msgs->pdata[i])->str;
}

static struct sw_flow *rec_flow(const struct rec *r, guint i)
{
	return r->msg_flows->pdata[i];
}

/* ---- sockets for the other side ---- */

/* A port nothing listens on right now (TCP and UDP), chosen by the kernel. */
static unsigned free_port(void)
{
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
		                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t len = sizeof a;
		cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
		getsockname(fd, (struct sockaddr *)&a, &len);
		close(fd);
		int u = socket(AF_INET, SOCK_DGRAM, 0);
		int ok = bind(u, (struct sockaddr *)&a, sizeof a);
		close(u);
		if (ok == 0)
			return ntohs(a.sin_port);
	}
}

static struct sockaddr_in loopback(unsigned port)
{
	return (struct sockaddr_in){.sin_family = AF_INET,
	                            .sin_port = htons((uint16_t)port),
	                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int udp_client(struct sockaddr_in *local)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	*local = loopback(0);
	socklen_t len = sizeof *local;
	cr_assert(bind(fd, (struct sockaddr *)local, sizeof *local) == 0);
	getsockname(fd, (struct sockaddr *)local, &len);
	set_nonblock(fd);
	return fd;
}

static int tcp_client(unsigned port, struct sockaddr_in *local)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = loopback(port);
	cr_assert(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s",
	          strerror(errno));
	socklen_t len = sizeof *local;
	getsockname(fd, (struct sockaddr *)local, &len);
	set_nonblock(fd);
	return fd;
}

static void write_all(int fd, const char *buf, size_t len)
{
	cr_assert(write(fd, buf, len) == (ssize_t)len);
}

/* Append whatever is readable; returns false once the peer closed (EOF or
 * reset). */
static bool read_some(int fd, GString *acc)
{
	char buf[4096];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n > 0) {
			g_string_append_len(acc, buf, n);
			continue;
		}
		if (n == 0)
			return false;
		return errno == EAGAIN || errno == EWOULDBLOCK;
	}
}

static char *sip_request(const char *call_id, const char *body)
{
	return g_strdup_printf("OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\n"
	                       "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-%s\r\n"
	                       "Max-Forwards: 70\r\n"
	                       "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
	                       "To: <sip:gw@127.0.0.1>\r\n"
	                       "Call-ID: %s\r\n"
	                       "CSeq: 1 OPTIONS\r\n"
	                       "Content-Length: %zu\r\n"
	                       "\r\n%s",
	                       call_id, call_id, strlen(body), body);
}

static char *sip_response(const char *call_id)
{
	return g_strdup_printf("SIP/2.0 200 OK\r\n"
	                       "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-%s\r\n"
	                       "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
	                       "To: <sip:gw@127.0.0.1>;tag=g1\r\n"
	                       "Call-ID: %s\r\n"
	                       "CSeq: 1 OPTIONS\r\n"
	                       "Content-Length: 0\r\n"
	                       "\r\n",
	                       call_id, call_id);
}

static struct sw_trunk_config trunk_config(struct rec *r, unsigned sip_port, unsigned tls_port)
{
	return (struct sw_trunk_config){
	    .ctx = ctx,
	    .bind = "127.0.0.1",
	    .sip_port = sip_port,
	    .tls_port = tls_port,
	    .tls_verify = true,
	    .limits = SIP_LIMITS_DEFAULT,
	    .sink = {.on_message = rec_on_message, .on_closed = rec_on_closed, .arg = r},
	};
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	ctx = g_main_context_new();
}

static void teardown(void)
{
	/* Let late callbacks (cancelled lookups) finish before the loop goes. */
	while (g_main_context_iteration(ctx, FALSE))
		;
	g_main_context_unref(ctx);
}

TestSuite(trunk, .init = setup, .fini = teardown, .timeout = 30);

/* ---- UDP ---- */

Test(trunk, udp_datagram_reaches_sink_and_reply_reaches_client)
{
	struct rec r;
	rec_init(&r);
	unsigned port = free_port();
	struct sw_trunk_config cfg = trunk_config(&r, port, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);
	cr_assert_eq(sw_trunk_port(t, SW_TP_UDP), port);
	cr_assert_eq(sw_trunk_port(t, SW_TP_TCP), port);
	cr_assert_eq(sw_trunk_port(t, SW_TP_TLS), 0);

	struct sockaddr_in me;
	int fd = udp_client(&me);
	char *req = sip_request("udp1", "");
	struct sockaddr_in to = loopback(port);
	cr_assert(sendto(fd, req, strlen(req), 0, (struct sockaddr *)&to, sizeof to) > 0);
	RUN_UNTIL(r.msgs->len == 1, 2000);
	cr_assert_eq(r.msgs->len, 1);
	cr_assert_str_eq(rec_msg(&r, 0), req);
	struct sw_flow *f = rec_flow(&r, 0);
	cr_assert_eq(f->tp, SW_TP_UDP);
	char want[64];
	snprintf(want, sizeof want, "127.0.0.1:%u", ntohs(me.sin_port));
	cr_assert_str_eq(f->peer_str, want);
	cr_assert_eq(sw_sockaddr_port((const struct sockaddr *)&f->local), port);

	char *resp = sip_response("udp1");
	cr_assert_eq(sw_flow_send(f, resp, strlen(resp)), 0);
	GString *got = g_string_new(NULL);
	RUN_UNTIL((read_some(fd, got), got->len > 0), 2000);
	cr_assert_str_eq(got->str, resp);

	/* CRLF keep-alives over UDP are not messages. */
	cr_assert(sendto(fd, "\r\n\r\n", 4, 0, (struct sockaddr *)&to, sizeof to) == 4);
	run_for(50);
	cr_assert_eq(r.msgs->len, 1);

	g_string_free(got, TRUE);
	g_free(req);
	g_free(resp);
	close(fd);
	sw_trunk_free(t);
	cr_assert(rec_closed(&r, f), "freeing the trunk closes its UDP flows");
	rec_clear(&r);
}

Test(trunk, udp_same_address_same_flow)
{
	struct rec r;
	rec_init(&r);
	unsigned port = free_port();
	struct sw_trunk_config cfg = trunk_config(&r, port, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	struct sockaddr_in a_addr, b_addr;
	int a = udp_client(&a_addr), b = udp_client(&b_addr);
	struct sockaddr_in to = loopback(port);
	char *req = sip_request("reuse", "");
	sendto(a, req, strlen(req), 0, (struct sockaddr *)&to, sizeof to);
	RUN_UNTIL(r.msgs->len == 1, 2000);
	sendto(a, req, strlen(req), 0, (struct sockaddr *)&to, sizeof to);
	RUN_UNTIL(r.msgs->len == 2, 2000);
	sendto(b, req, strlen(req), 0, (struct sockaddr *)&to, sizeof to);
	RUN_UNTIL(r.msgs->len == 3, 2000);
	cr_assert_eq(r.msgs->len, 3);
	cr_assert_eq(rec_flow(&r, 0), rec_flow(&r, 1));
	cr_assert_neq(rec_flow(&r, 0), rec_flow(&r, 2));

	struct sw_flow *f = sw_trunk_flow_to(t, SW_TP_UDP, (struct sockaddr *)&a_addr, NULL);
	cr_assert_eq(f, rec_flow(&r, 0));
	sw_flow_unref(f);

	/* A flow the sink closes is forgotten: the next datagram makes a new one. */
	sw_flow_close(rec_flow(&r, 0), 0, NULL);
	cr_assert(rec_closed(&r, rec_flow(&r, 0)));
	cr_assert_eq(sw_flow_send(rec_flow(&r, 0), "x", 1), -EPIPE);
	sendto(a, req, strlen(req), 0, (struct sockaddr *)&to, sizeof to);
	RUN_UNTIL(r.msgs->len == 4, 2000);
	cr_assert_eq(r.msgs->len, 4);
	cr_assert_neq(rec_flow(&r, 3), rec_flow(&r, 0));

	g_free(req);
	close(a);
	close(b);
	sw_trunk_free(t);
	rec_clear(&r);
}

Test(trunk, udp_outgoing_without_listener)
{
	struct rec r;
	rec_init(&r);
	struct sw_trunk_config cfg = trunk_config(&r, 0, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);
	cr_assert_eq(sw_trunk_port(t, SW_TP_UDP), 0);

	struct sockaddr_in pbx_addr;
	int pbx = udp_client(&pbx_addr);
	struct sw_flow *f = sw_trunk_flow_to(t, SW_TP_UDP, (struct sockaddr *)&pbx_addr, NULL);
	cr_assert_not_null(f);
	unsigned src_port = sw_sockaddr_port((const struct sockaddr *)&f->local);
	cr_assert_neq(src_port, 0, "an ephemeral source port");
	char *req = sip_request("out", "");
	cr_assert_eq(sw_flow_send(f, req, strlen(req)), 0);

	char buf[2048];
	struct sockaddr_in from;
	socklen_t flen = sizeof from;
	ssize_t n = -1;
	gint64 end = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
	while (n < 0 && g_get_monotonic_time() < end) {
		n = recvfrom(pbx, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &flen);
		if (n < 0)
			loop_step();
	}
	cr_assert_eq(n, (ssize_t)strlen(req));
	cr_assert_eq(ntohs(from.sin_port), src_port);

	/* The answer comes back on the same flow. */
	char *resp = sip_response("out");
	sendto(pbx, resp, strlen(resp), 0, (struct sockaddr *)&from, flen);
	RUN_UNTIL(r.msgs->len == 1, 2000);
	cr_assert_eq(r.msgs->len, 1);
	cr_assert_eq(rec_flow(&r, 0), f);
	cr_assert_str_eq(rec_msg(&r, 0), resp);

	sw_flow_unref(f);
	g_free(req);
	g_free(resp);
	close(pbx);
	sw_trunk_free(t);
	rec_clear(&r);
}

Test(trunk, udp_wildcard_bind_gives_flows_a_real_local_address)
{
	struct rec r;
	rec_init(&r);
	unsigned port = free_port();
	struct sw_trunk_config cfg = trunk_config(&r, port, 0);
	cfg.bind = "0.0.0.0";
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	struct sockaddr_in me;
	int fd = udp_client(&me);
	struct sw_flow *f = sw_trunk_flow_to(t, SW_TP_UDP, (struct sockaddr *)&me, NULL);
	char local[64], want[64];
	sw_sockaddr_str((const struct sockaddr *)&f->local, local, sizeof local);
	snprintf(want, sizeof want, "127.0.0.1:%u", port);
	cr_assert_str_eq(local, want, "the address that reaches the peer, not 0.0.0.0");

	sw_flow_unref(f);
	close(fd);
	sw_trunk_free(t);
	rec_clear(&r);
}

Test(trunk, ipv6_loopback)
{
	int probe = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 any6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	bool have_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&any6, sizeof any6) == 0;
	if (probe >= 0)
		close(probe);
	if (!have_v6)
		cr_skip_test("no IPv6 loopback here");

	struct rec r;
	rec_init(&r);
	unsigned port = free_port();
	struct sw_trunk_config cfg = trunk_config(&r, port, 0);
	cfg.bind = "::1";
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 to = {.sin6_family = AF_INET6,
	                          .sin6_port = htons((uint16_t)port),
	                          .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	cr_assert(connect(fd, (struct sockaddr *)&to, sizeof to) == 0);
	struct sockaddr_in6 me;
	socklen_t mlen = sizeof me;
	getsockname(fd, (struct sockaddr *)&me, &mlen);
	set_nonblock(fd);
	char *req = sip_request("v6", "");
	write_all(fd, req, strlen(req));
	RUN_UNTIL(r.msgs->len == 1, 2000);
	cr_assert_eq(r.msgs->len, 1);
	char want[64];
	snprintf(want, sizeof want, "[::1]:%u", ntohs(me.sin6_port));
	cr_assert_str_eq(rec_flow(&r, 0)->peer_str, want);
	struct sw_flow *f = sw_trunk_flow_to(t, SW_TP_TCP, (struct sockaddr *)&me, NULL);
	cr_assert_eq(f, rec_flow(&r, 0));

	sw_flow_unref(f);
	g_free(req);
	close(fd);
	sw_trunk_free(t);
	rec_clear(&r);
}

Test(trunk, port_in_use_is_reported)
{
	struct rec r;
	rec_init(&r);
	unsigned port = free_port();
	int busy = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = loopback(port);
	cr_assert(bind(busy, (struct sockaddr *)&a, sizeof a) == 0);
	cr_assert(listen(busy, 1) == 0);
	struct sw_trunk_config cfg = trunk_config(&r, port, 0);
	struct sw_trunk *t = (struct sw_trunk *)&r;
	cr_assert_eq(sw_trunk_new(&t, &cfg), -EADDRINUSE);
	cr_assert_null(t);
	cfg.bind = "example.org";
	cr_assert_eq(sw_trunk_new(&t, &cfg), -EINVAL);
	close(busy);
	rec_clear(&r);
}

/* ---- TCP ---- */

Test(trunk, tcp_framing)
{
	struct rec r;
	rec_init(&r);
	unsigned port = free_port();
	struct sw_trunk_config cfg = trunk_config(&r, port, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	struct sockaddr_in me;
	int fd = tcp_client(port, &me);
	char *m1 = sip_request("one", "");
	char *m2 = sip_request("two", "v=0\r\n");
	char *m3 = sip_request("three", "hello body");
	char *both = g_strconcat(m1, m2, NULL);
	write_all(fd, both, strlen(both));
	RUN_UNTIL(r.msgs->len == 2, 2000);
	cr_assert_eq(r.msgs->len, 2, "two messages in one write");
	cr_assert_str_eq(rec_msg(&r, 0), m1);
	cr_assert_str_eq(rec_msg(&r, 1), m2);
	cr_assert_eq(rec_flow(&r, 0), rec_flow(&r, 1));
	cr_assert_eq(rec_flow(&r, 0)->tp, SW_TP_TCP);

	/* One message split inside its headers and again inside its body. */
	size_t len3 = strlen(m3);
	write_all(fd, m3, 30);
	run_for(30);
	write_all(fd, m3 + 30, len3 - 5 - 30);
	run_for(30);
	cr_assert_eq(r.msgs->len, 2, "nothing before the message is complete");
	write_all(fd, m3 + len3 - 5, 5);
	RUN_UNTIL(r.msgs->len == 3, 2000);
	cr_assert_eq(r.msgs->len, 3);
	cr_assert_str_eq(rec_msg(&r, 2), m3);

	/* A CRLF ping is answered with CRLF (RFC 5626), and is no message. */
	write_all(fd, "\r\n\r\n", 4);
	GString *got = g_string_new(NULL);
	RUN_UNTIL((read_some(fd, got), got->len >= 2), 2000);
	cr_assert_str_eq(got->str, "\r\n");
	cr_assert_eq(r.msgs->len, 3);

	/* The reply goes back on the connection. */
	char *resp = sip_response("one");
	cr_assert_eq(sw_flow_send(rec_flow(&r, 0), resp, strlen(resp)), 0);
	g_string_truncate(got, 0);
	RUN_UNTIL((read_some(fd, got), got->len >= strlen(resp)), 2000);
	cr_assert_str_eq(got->str, resp);

	/* The peer closing is heard once. */
	struct sw_flow *f = rec_flow(&r, 0);
	close(fd);
	RUN_UNTIL(rec_closed(&r, f), 2000);
	cr_assert(rec_closed(&r, f));
	cr_assert_eq(r.closed->len, 1);

	g_string_free(got, TRUE);
	g_free(m1);
	g_free(m2);
	g_free(m3);
	g_free(both);
	g_free(resp);
	sw_trunk_free(t);
	cr_assert_eq(r.closed->len, 1);
	rec_clear(&r);
}

Test(trunk, tcp_burst_larger_than_the_message_limit)
{
	struct rec r;
	rec_init(&r);
	unsigned port = free_port();
	struct sw_trunk_config cfg = trunk_config(&r, port, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	/* Many small messages back to back, far more than one message's size
	 * limit in one go: every read mixes complete messages and a partial one. */
	struct sockaddr_in me;
	int fd = tcp_client(port, &me);
	GString *burst = g_string_new(NULL);
	unsigned count = 0;
	while (burst->len < 300000) {
		char id[32];
		snprintf(id, sizeof id, "burst%u", count++);
		char *m = sip_request(id, "");
		g_string_append(burst, m);
		g_free(m);
	}
	set_nonblock(fd);
	size_t off = 0;
	gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	while (off < burst->len && g_get_monotonic_time() < end) {
		ssize_t n = send(fd, burst->str + off, burst->len - off, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		loop_step();
	}
	RUN_UNTIL(r.msgs->len == count || r.closed->len, 5000);
	cr_assert_eq(r.closed->len, 0, "the connection stays up");
	cr_assert_eq(r.msgs->len, count);
	cr_assert(g_str_has_suffix(burst->str, rec_msg(&r, count - 1)));

	g_string_free(burst, TRUE);
	close(fd);
	sw_trunk_free(t);
	rec_clear(&r);
}

Test(trunk, tcp_lost_framing_closes)
{
	struct rec r;
	rec_init(&r);
	unsigned port = free_port();
	struct sw_trunk_config cfg = trunk_config(&r, port, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	struct sockaddr_in me;
	int fd = tcp_client(port, &me);
	const char *no_length = "OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\n"
	                        "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-nl\r\n"
	                        "Max-Forwards: 70\r\n"
	                        "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
	                        "To: <sip:gw@127.0.0.1>\r\n"
	                        "Call-ID: nl\r\n"
	                        "CSeq: 1 OPTIONS\r\n"
	                        "\r\n";
	write_all(fd, no_length, strlen(no_length));
	RUN_UNTIL(r.closed->len == 1, 2000);
	cr_assert_eq(r.msgs->len, 1, "the sink got the bytes to answer");
	cr_assert_str_eq(rec_msg(&r, 0), no_length);
	cr_assert_eq(r.closed->pdata[0], rec_flow(&r, 0));
	cr_assert_eq(sw_flow_send(rec_flow(&r, 0), "x", 1), -EPIPE);

	GString *got = g_string_new(NULL);
	bool open = true;
	RUN_UNTIL(!(open = read_some(fd, got)), 2000);
	cr_assert_not(open, "the connection is closed");

	g_string_free(got, TRUE);
	close(fd);
	sw_trunk_free(t);
	rec_clear(&r);
}

Test(trunk, tcp_outgoing_queues_until_connected)
{
	struct rec r;
	rec_init(&r);
	struct sw_trunk_config cfg = trunk_config(&r, 0, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);
	cr_assert_eq(sw_trunk_port(t, SW_TP_TCP), 0);

	unsigned pbx_port = free_port();
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in pbx_addr = loopback(pbx_port);
	cr_assert(bind(lfd, (struct sockaddr *)&pbx_addr, sizeof pbx_addr) == 0);
	cr_assert(listen(lfd, 4) == 0);
	set_nonblock(lfd);

	struct sw_flow *f = sw_trunk_flow_to(t, SW_TP_TCP, (struct sockaddr *)&pbx_addr, NULL);
	cr_assert_not_null(f);
	cr_assert_eq(f->tp, SW_TP_TCP);
	char local[64];
	sw_sockaddr_str((const struct sockaddr *)&f->local, local, sizeof local);
	cr_assert(g_str_has_prefix(local, "127.0.0.1:") && strcmp(local, "127.0.0.1:0") != 0,
	          "our address is known while connecting: %s", local);
	char *req = sip_request("queued", "");
	char *req2 = sip_request("queued2", "");
	/* Sent before the connection is up: queued. */
	cr_assert_eq(sw_flow_send(f, req, strlen(req)), 0);
	cr_assert_eq(sw_flow_send(f, req2, strlen(req2)), 0);
	struct sw_flow *again = sw_trunk_flow_to(t, SW_TP_TCP, (struct sockaddr *)&pbx_addr, NULL);
	cr_assert_eq(again, f, "an opening connection is reused");
	sw_flow_unref(again);

	int pbx = -1;
	RUN_UNTIL((pbx = accept(lfd, NULL, NULL)) >= 0, 2000);
	cr_assert_geq(pbx, 0);
	set_nonblock(pbx);
	GString *got = g_string_new(NULL);
	size_t want = strlen(req) + strlen(req2);
	RUN_UNTIL((read_some(pbx, got), got->len >= want), 2000);
	char *both = g_strconcat(req, req2, NULL);
	cr_assert_str_eq(got->str, both);
	cr_assert_eq(sw_sockaddr_port((const struct sockaddr *)&f->local) != 0, true);

	char *resp = sip_response("queued");
	write_all(pbx, resp, strlen(resp));
	RUN_UNTIL(r.msgs->len == 1, 2000);
	cr_assert_eq(r.msgs->len, 1);
	cr_assert_eq(rec_flow(&r, 0), f);
	cr_assert_str_eq(rec_msg(&r, 0), resp);

	/* Closing from our side: the sink hears it, the peer sees EOF. */
	sw_flow_close(f, 0, NULL);
	cr_assert(rec_closed(&r, f));
	bool open = true;
	RUN_UNTIL(!(open = read_some(pbx, got)), 2000);
	cr_assert_not(open);
	/* A closed connection is not reused. */
	struct sw_flow *fresh = sw_trunk_flow_to(t, SW_TP_TCP, (struct sockaddr *)&pbx_addr, NULL);
	cr_assert_neq(fresh, f);
	sw_flow_unref(fresh);

	sw_flow_unref(f);
	g_string_free(got, TRUE);
	g_free(req);
	g_free(req2);
	g_free(both);
	g_free(resp);
	close(pbx);
	close(lfd);
	sw_trunk_free(t);
	rec_clear(&r);
}

Test(trunk, tcp_inbound_connection_is_reused)
{
	struct rec r;
	rec_init(&r);
	unsigned port = free_port();
	struct sw_trunk_config cfg = trunk_config(&r, port, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	struct sockaddr_in me;
	int fd = tcp_client(port, &me);
	char *req = sip_request("in", "");
	write_all(fd, req, strlen(req));
	RUN_UNTIL(r.msgs->len == 1, 2000);
	cr_assert_eq(r.msgs->len, 1);

	struct sw_flow *f = sw_trunk_flow_to(t, SW_TP_TCP, (struct sockaddr *)&me, NULL);
	cr_assert_eq(f, rec_flow(&r, 0));
	/* A request to that address goes down the same connection. */
	char *out = sip_request("back", "");
	cr_assert_eq(sw_flow_send(f, out, strlen(out)), 0);
	GString *got = g_string_new(NULL);
	RUN_UNTIL((read_some(fd, got), got->len >= strlen(out)), 2000);
	cr_assert_str_eq(got->str, out);
	/* UDP to the same address is another flow. */
	struct sw_flow *u = sw_trunk_flow_to(t, SW_TP_UDP, (struct sockaddr *)&me, NULL);
	cr_assert_neq(u, f);
	cr_assert_eq(u->tp, SW_TP_UDP);

	sw_flow_unref(u);
	sw_flow_unref(f);
	g_string_free(got, TRUE);
	g_free(req);
	g_free(out);
	close(fd);
	sw_trunk_free(t);
	rec_clear(&r);
}

Test(trunk, tcp_refused_connect_closes_flow)
{
	struct rec r;
	rec_init(&r);
	struct sw_trunk_config cfg = trunk_config(&r, 0, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	struct sockaddr_in nobody = loopback(free_port());
	struct sw_flow *f = sw_trunk_flow_to(t, SW_TP_TCP, (struct sockaddr *)&nobody, NULL);
	cr_assert_not_null(f);
	cr_assert_not(f->closed, "the sink hears of the failure from the loop, not inside");
	sw_flow_send(f, "x", 1);
	RUN_UNTIL(rec_closed(&r, f), 2000);
	cr_assert(rec_closed(&r, f));
	cr_assert(f->closed);
	cr_assert_eq(sw_flow_send(f, "x", 1), -EPIPE);

	sw_flow_unref(f);
	sw_trunk_free(t);
	cr_assert_eq(r.closed->len, 1);
	rec_clear(&r);
}

Test(trunk, tcp_idle_inbound_connection_closes)
{
	struct rec r;
	rec_init(&r);
	unsigned port = free_port();
	struct sw_trunk_config cfg = trunk_config(&r, port, 0);
	cfg.idle_timeout_s = 1;
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	struct sockaddr_in me;
	int fd = tcp_client(port, &me);
	char *req = sip_request("idle", "");
	write_all(fd, req, strlen(req));
	RUN_UNTIL(r.msgs->len == 1, 2000);
	cr_assert_eq(r.msgs->len, 1);
	RUN_UNTIL(r.closed->len == 1, 4000);
	cr_assert(rec_closed(&r, rec_flow(&r, 0)), "closed after the idle timeout");

	g_free(req);
	close(fd);
	sw_trunk_free(t);
	rec_clear(&r);
}

Test(trunk, tcp_sink_closing_inside_on_message)
{
	struct rec r;
	rec_init(&r);
	r.close_on_message = true;
	unsigned port = free_port();
	struct sw_trunk_config cfg = trunk_config(&r, port, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	struct sockaddr_in me;
	int fd = tcp_client(port, &me);
	char *m1 = sip_request("c1", "");
	char *m2 = sip_request("c2", "");
	char *both = g_strconcat(m1, m2, NULL);
	write_all(fd, both, strlen(both));
	RUN_UNTIL(r.closed->len == 1, 2000);
	run_for(30);
	cr_assert_eq(r.msgs->len, 1, "nothing is delivered after the sink closed the flow");
	cr_assert_eq(r.closed->len, 1);
	cr_assert_eq(r.closed->pdata[0], rec_flow(&r, 0));
	GString *got = g_string_new(NULL);
	bool open = true;
	RUN_UNTIL(!(open = read_some(fd, got)), 2000);
	cr_assert_not(open);

	g_string_free(got, TRUE);
	g_free(m1);
	g_free(m2);
	g_free(both);
	close(fd);
	sw_trunk_free(t);
	rec_clear(&r);
}

Test(trunk, tcp_send_queue_is_capped)
{
	struct rec r;
	rec_init(&r);
	struct sw_trunk_config cfg = trunk_config(&r, 0, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	/* A peer that accepts and never reads. */
	unsigned pbx_port = free_port();
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in pbx_addr = loopback(pbx_port);
	cr_assert(bind(lfd, (struct sockaddr *)&pbx_addr, sizeof pbx_addr) == 0);
	cr_assert(listen(lfd, 4) == 0);
	struct sw_flow *f = sw_trunk_flow_to(t, SW_TP_TCP, (struct sockaddr *)&pbx_addr, NULL);
	RUN_UNTIL(sw_sockaddr_port((const struct sockaddr *)&f->local) != 0, 2000);

	size_t chunk_len = 60000;
	char *chunk = g_malloc(chunk_len);
	memset(chunk, 'x', chunk_len);
	int err = 0;
	size_t sent = 0;
	while (err == 0 && sent < ((size_t)256 << 20)) {
		err = sw_flow_send(f, chunk, chunk_len);
		if (err == 0)
			sent += chunk_len;
	}
	cr_assert_eq(err, -ENOBUFS, "got %d after %zu bytes", err, sent);
	cr_assert_not(f->closed, "the sink hears it from the loop");
	RUN_UNTIL(rec_closed(&r, f), 2000);
	cr_assert(rec_closed(&r, f));

	g_free(chunk);
	sw_flow_unref(f);
	close(lfd);
	sw_trunk_free(t);
	rec_clear(&r);
}

Test(trunk, tcp_idle_outbound_connection_closes_only_when_unreferenced)
{
	struct rec r;
	rec_init(&r);
	struct sw_trunk_config cfg = trunk_config(&r, 0, 0);
	cfg.idle_timeout_s = 1;
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	unsigned p1 = free_port(), p2 = free_port();
	int l1 = socket(AF_INET, SOCK_STREAM, 0), l2 = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a1 = loopback(p1), a2 = loopback(p2);
	cr_assert(bind(l1, (struct sockaddr *)&a1, sizeof a1) == 0 && listen(l1, 4) == 0);
	cr_assert(bind(l2, (struct sockaddr *)&a2, sizeof a2) == 0 && listen(l2, 4) == 0);

	struct sw_flow *kept = sw_trunk_flow_to(t, SW_TP_TCP, (struct sockaddr *)&a1, NULL);
	struct sw_flow *dropped = sw_trunk_flow_to(t, SW_TP_TCP, (struct sockaddr *)&a2, NULL);
	uint64_t dropped_id = dropped->id;
	/* The recorder keeps a reference to every closed flow, so the id can be
	 * checked after the caller's reference is gone. */
	sw_flow_unref(dropped);
	RUN_UNTIL(r.closed->len == 1, 4000);
	cr_assert_eq(r.closed->len, 1);
	cr_assert_eq(((struct sw_flow *)r.closed->pdata[0])->id, dropped_id);
	cr_assert_not(kept->closed, "a connection someone references stays");

	sw_flow_unref(kept);
	close(l1);
	close(l2);
	sw_trunk_free(t);
	rec_clear(&r);
}

/* ---- TLS ---- */

struct certs {
	char *dir, *cert, *key;
};

/* A throwaway self-signed certificate for localhost / 127.0.0.1. */
static struct certs make_certs(void)
{
	struct certs c;
	c.dir = g_dir_make_tmp("sipwire-trunk-XXXXXX", NULL);
	cr_assert_not_null(c.dir);
	c.cert = g_build_filename(c.dir, "cert.pem", NULL);
	c.key = g_build_filename(c.dir, "key.pem", NULL);

	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	cr_assert_not_null(pkey);
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pkey);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
	                           -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext =
	    X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
	cr_assert_not_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	cr_assert(X509_sign(x, pkey, EVP_sha256()) > 0);

	FILE *fc = fopen(c.cert, "w");
	FILE *fk = fopen(c.key, "w");
	cr_assert(fc && fk);
	cr_assert(PEM_write_X509(fc, x));
	cr_assert(PEM_write_PrivateKey(fk, pkey, NULL, NULL, 0, NULL, NULL));
	fclose(fc);
	fclose(fk);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return c;
}

static void free_certs(struct certs *c)
{
	g_unlink(c->cert);
	g_unlink(c->key);
	g_rmdir(c->dir);
	g_free(c->cert);
	g_free(c->key);
	g_free(c->dir);
}

Test(trunk, tls_round_trip_with_verification)
{
	struct certs certs = make_certs();
	struct rec srv_rec, cli_rec;
	rec_init(&srv_rec);
	rec_init(&cli_rec);
	unsigned tls_port = free_port();
	struct sw_trunk_config scfg = trunk_config(&srv_rec, 0, tls_port);
	scfg.tls_cert_file = certs.cert;
	scfg.tls_key_file = certs.key;
	struct sw_trunk *srv, *cli;
	cr_assert_eq(sw_trunk_new(&srv, &scfg), 0);
	cr_assert_eq(sw_trunk_port(srv, SW_TP_TLS), tls_port);
	struct sw_trunk_config ccfg = trunk_config(&cli_rec, 0, 0);
	ccfg.tls_ca_file = certs.cert;
	cr_assert_eq(sw_trunk_new(&cli, &ccfg), 0);

	struct sockaddr_in to = loopback(tls_port);
	struct sw_flow *f = sw_trunk_flow_to(cli, SW_TP_TLS, (struct sockaddr *)&to, "localhost");
	cr_assert_not_null(f);
	cr_assert_eq(f->tp, SW_TP_TLS);
	/* Queued through connect and handshake; a large body crosses several
	 * TLS records and reads. */
	GString *body = g_string_new(NULL);
	while (body->len < 40000)
		g_string_append(body, "a=fmtp:101 0-16 padding padding padding\r\n");
	char *req = sip_request("tls", body->str);
	cr_assert_eq(sw_flow_send(f, req, strlen(req)), 0);
	RUN_UNTIL(srv_rec.msgs->len == 1 || cli_rec.closed->len, 5000);
	cr_assert_eq(cli_rec.closed->len, 0, "the handshake succeeded");
	cr_assert_eq(srv_rec.msgs->len, 1);
	cr_assert_str_eq(rec_msg(&srv_rec, 0), req);
	struct sw_flow *sf = rec_flow(&srv_rec, 0);
	cr_assert_eq(sf->tp, SW_TP_TLS);
	cr_assert_eq(sw_sockaddr_port((const struct sockaddr *)&sf->peer),
	             sw_sockaddr_port((const struct sockaddr *)&f->local));

	char *resp = sip_response("tls");
	cr_assert_eq(sw_flow_send(sf, resp, strlen(resp)), 0);
	RUN_UNTIL(cli_rec.msgs->len == 1, 5000);
	cr_assert_eq(cli_rec.msgs->len, 1);
	cr_assert_eq(rec_flow(&cli_rec, 0), f);
	cr_assert_str_eq(rec_msg(&cli_rec, 0), resp);

	/* The client goes away: the server hears the close. */
	sw_flow_unref(f);
	sw_trunk_free(cli);
	RUN_UNTIL(rec_closed(&srv_rec, sf), 2000);
	cr_assert(rec_closed(&srv_rec, sf));

	sw_trunk_free(srv);
	g_string_free(body, TRUE);
	g_free(req);
	g_free(resp);
	rec_clear(&srv_rec);
	rec_clear(&cli_rec);
	free_certs(&certs);
}

Test(trunk, tls_queued_burst_arrives_whole)
{
	struct certs certs = make_certs();
	struct rec srv_rec, cli_rec;
	rec_init(&srv_rec);
	rec_init(&cli_rec);
	unsigned tls_port = free_port();
	struct sw_trunk_config scfg = trunk_config(&srv_rec, 0, tls_port);
	scfg.tls_cert_file = certs.cert;
	scfg.tls_key_file = certs.key;
	struct sw_trunk *srv, *cli;
	cr_assert_eq(sw_trunk_new(&srv, &scfg), 0);
	struct sw_trunk_config ccfg = trunk_config(&cli_rec, 0, 0);
	ccfg.tls_ca_file = certs.cert;
	cr_assert_eq(sw_trunk_new(&cli, &ccfg), 0);

	struct sockaddr_in to = loopback(tls_port);
	struct sw_flow *f = sw_trunk_flow_to(cli, SW_TP_TLS, (struct sockaddr *)&to, "127.0.0.1");
	char *hello = sip_request("hello", "");
	sw_flow_send(f, hello, strlen(hello));
	RUN_UNTIL(srv_rec.msgs->len == 1 || cli_rec.closed->len, 5000);
	cr_assert_eq(srv_rec.msgs->len, 1, "verified against the address in the certificate");
	struct sw_flow *sf = rec_flow(&srv_rec, 0);

	/* 800 KB sent without the loop running: whatever the socket does not
	 * take at once waits in the queue and leaves as the client reads. */
	GString *body = g_string_new(NULL);
	while (body->len < 20000)
		g_string_append(body,
		                "a=candidate:1 1 udp 2130706431 192.0.2.1 40000 typ host\r\n");
	unsigned count = 40;
	char **sent = g_new0(char *, count);
	for (unsigned i = 0; i < count; i++) {
		char id[32];
		snprintf(id, sizeof id, "burst%u", i);
		sent[i] = sip_request(id, body->str);
		cr_assert_eq(sw_flow_send(sf, sent[i], strlen(sent[i])), 0);
	}
	RUN_UNTIL(cli_rec.msgs->len == count || cli_rec.closed->len, 10000);
	cr_assert_eq(cli_rec.msgs->len, count);
	for (unsigned i = 0; i < count; i++)
		cr_assert_str_eq(rec_msg(&cli_rec, i), sent[i]);

	for (unsigned i = 0; i < count; i++)
		g_free(sent[i]);
	g_free(sent);
	g_string_free(body, TRUE);
	g_free(hello);
	sw_flow_unref(f);
	sw_trunk_free(cli);
	sw_trunk_free(srv);
	rec_clear(&srv_rec);
	rec_clear(&cli_rec);
	free_certs(&certs);
}

Test(trunk, tls_wrong_name_fails)
{
	struct certs certs = make_certs();
	struct rec srv_rec, cli_rec;
	rec_init(&srv_rec);
	rec_init(&cli_rec);
	unsigned tls_port = free_port();
	struct sw_trunk_config scfg = trunk_config(&srv_rec, 0, tls_port);
	scfg.tls_cert_file = certs.cert;
	scfg.tls_key_file = certs.key;
	struct sw_trunk *srv, *cli;
	cr_assert_eq(sw_trunk_new(&srv, &scfg), 0);
	struct sw_trunk_config ccfg = trunk_config(&cli_rec, 0, 0);
	ccfg.tls_ca_file = certs.cert;
	cr_assert_eq(sw_trunk_new(&cli, &ccfg), 0);

	struct sockaddr_in to = loopback(tls_port);
	struct sw_flow *f =
	    sw_trunk_flow_to(cli, SW_TP_TLS, (struct sockaddr *)&to, "pbx.example.net");
	cr_assert_not_null(f);
	char *req = sip_request("wrong", "");
	sw_flow_send(f, req, strlen(req));
	RUN_UNTIL(rec_closed(&cli_rec, f), 5000);
	cr_assert(rec_closed(&cli_rec, f), "verification failed and closed the flow");
	run_for(50);
	cr_assert_eq(srv_rec.msgs->len, 0, "nothing reached the server");
	sw_flow_unref(f);

	/* The same server with the name it has passes. */
	f = sw_trunk_flow_to(cli, SW_TP_TLS, (struct sockaddr *)&to, "localhost");
	sw_flow_send(f, req, strlen(req));
	RUN_UNTIL(srv_rec.msgs->len == 1, 5000);
	cr_assert_eq(srv_rec.msgs->len, 1);
	sw_flow_unref(f);

	sw_trunk_free(cli);
	sw_trunk_free(srv);
	g_free(req);
	rec_clear(&srv_rec);
	rec_clear(&cli_rec);
	free_certs(&certs);
}

Test(trunk, tls_untrusted_server_fails_unless_verification_off)
{
	struct certs certs = make_certs();
	struct rec srv_rec, cli_rec;
	rec_init(&srv_rec);
	rec_init(&cli_rec);
	unsigned tls_port = free_port();
	struct sw_trunk_config scfg = trunk_config(&srv_rec, 0, tls_port);
	scfg.tls_cert_file = certs.cert;
	scfg.tls_key_file = certs.key;
	struct sw_trunk *srv, *cli;
	cr_assert_eq(sw_trunk_new(&srv, &scfg), 0);
	/* The system store does not know a fresh self-signed certificate. */
	struct sw_trunk_config ccfg = trunk_config(&cli_rec, 0, 0);
	cr_assert_eq(sw_trunk_new(&cli, &ccfg), 0);
	struct sockaddr_in to = loopback(tls_port);
	struct sw_flow *f = sw_trunk_flow_to(cli, SW_TP_TLS, (struct sockaddr *)&to, "localhost");
	RUN_UNTIL(rec_closed(&cli_rec, f), 5000);
	cr_assert(rec_closed(&cli_rec, f));
	sw_flow_unref(f);
	sw_trunk_free(cli);

	ccfg.tls_verify = false;
	cr_assert_eq(sw_trunk_new(&cli, &ccfg), 0);
	f = sw_trunk_flow_to(cli, SW_TP_TLS, (struct sockaddr *)&to, NULL);
	char *req = sip_request("noverify", "");
	sw_flow_send(f, req, strlen(req));
	RUN_UNTIL(srv_rec.msgs->len == 1, 5000);
	cr_assert_eq(srv_rec.msgs->len, 1);
	sw_flow_unref(f);
	sw_trunk_free(cli);

	sw_trunk_free(srv);
	g_free(req);
	rec_clear(&srv_rec);
	rec_clear(&cli_rec);
	free_certs(&certs);
}

/* ---- resolution ---- */

struct answer {
	int calls;
	int err;
	struct sockaddr_storage targets[16];
	size_t n;
};

static void on_answer(void *arg, int err, const struct sockaddr_storage *targets, size_t n)
{
	struct answer *a = arg;
	a->calls++;
	a->err = err;
	a->n = n < 16 ? n : 16;
	if (n)
		memcpy(a->targets, targets, a->n * sizeof *targets);
}

static bool answer_has(const struct answer *a, const char *want)
{
	char s[64];
	for (size_t i = 0; i < a->n; i++) {
		sw_sockaddr_str((const struct sockaddr *)&a->targets[i], s, sizeof s);
		if (strcmp(s, want) == 0)
			return true;
	}
	return false;
}

Test(trunk, resolve_numeric_answers_through_the_loop)
{
	struct rec r;
	rec_init(&r);
	struct sw_trunk_config cfg = trunk_config(&r, 0, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	struct answer a = {0}, b = {0}, c = {0};
	cr_assert_not_null(sw_trunk_resolve(t, "192.0.2.7", 5070, SW_TP_UDP, on_answer, &a));
	cr_assert_not_null(sw_trunk_resolve(t, "[2001:db8::1]", 0, SW_TP_TLS, on_answer, &b));
	cr_assert_not_null(sw_trunk_resolve(t, "198.51.100.1", 0, SW_TP_TCP, on_answer, &c));
	cr_assert_eq(a.calls + b.calls + c.calls, 0, "never from inside the call");
	RUN_UNTIL(a.calls && b.calls && c.calls, 2000);
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(a.err, 0);
	cr_assert_eq(a.n, 1);
	cr_assert(answer_has(&a, "192.0.2.7:5070"));
	cr_assert(answer_has(&b, "[2001:db8::1]:5061"), "TLS default port");
	cr_assert(answer_has(&c, "198.51.100.1:5060"));

	/* A cancelled lookup never calls back. */
	struct answer d = {0};
	struct sw_resolve *h = sw_trunk_resolve(t, "192.0.2.8", 5060, SW_TP_UDP, on_answer, &d);
	sw_resolve_cancel(h);
	run_for(30);
	cr_assert_eq(d.calls, 0);

	sw_trunk_free(t);
	rec_clear(&r);
}

Test(trunk, resolve_names)
{
	struct rec r;
	rec_init(&r);
	struct sw_trunk_config cfg = trunk_config(&r, 0, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	struct answer a = {0}, b = {0}, c = {0};
	cr_assert_not_null(sw_trunk_resolve(t, "localhost", 5080, SW_TP_TCP, on_answer, &a));
	cr_assert_not_null(
	    sw_trunk_resolve(t, "nonexistent.invalid", 5060, SW_TP_UDP, on_answer, &b));
	cr_assert_eq(a.calls + b.calls, 0);
	RUN_UNTIL(a.calls && b.calls, 10000);
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(a.err, 0);
	cr_assert(answer_has(&a, "127.0.0.1:5080"));
	cr_assert_eq(b.calls, 1);
	cr_assert_lt(b.err, 0);
	cr_assert_eq(b.n, 0);

	/* Cancelling a name lookup in flight: no call back, even when GIO
	 * finishes later. */
	struct sw_resolve *h = sw_trunk_resolve(t, "localhost", 5090, SW_TP_UDP, on_answer, &c);
	cr_assert_not_null(h);
	sw_resolve_cancel(h);
	run_for(200);
	cr_assert_eq(c.calls, 0);

	/* A lookup still pending when the trunk goes is cancelled with it. */
	struct answer d = {0};
	cr_assert_not_null(sw_trunk_resolve(t, "localhost", 5091, SW_TP_UDP, on_answer, &d));
	sw_trunk_free(t);
	run_for(200);
	cr_assert_eq(d.calls, 0);
	rec_clear(&r);
}

Test(trunk, resolve_name_without_port_falls_back_to_addresses)
{
	struct rec r;
	rec_init(&r);
	struct sw_trunk_config cfg = trunk_config(&r, 0, 0);
	struct sw_trunk *t;
	cr_assert_eq(sw_trunk_new(&t, &cfg), 0);

	/* No SRV records for localhost (and no DNS here): A/AAAA on the
	 * transport's default port (RFC 3263 §4.2). */
	struct answer a = {0}, b = {0};
	cr_assert_not_null(sw_trunk_resolve(t, "localhost", 0, SW_TP_UDP, on_answer, &a));
	cr_assert_not_null(sw_trunk_resolve(t, "localhost", 0, SW_TP_TLS, on_answer, &b));
	RUN_UNTIL(a.calls && b.calls, 15000);
	cr_assert_eq(a.err, 0);
	cr_assert(answer_has(&a, "127.0.0.1:5060"));
	cr_assert_eq(b.err, 0);
	cr_assert(answer_has(&b, "127.0.0.1:5061"));

	sw_trunk_free(t);
	rec_clear(&r);
}
