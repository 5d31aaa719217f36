/* test_ice.c — ICE on libnice: two agents in one process on 127.0.0.1, each
 * reading the other's credentials and candidates from the SDP text it
 * advertises (parsed with webrtc/sdp.h), over a GMainContext iterated here. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "webrtc/ice.h"
#include "webrtc/sdp.h"

static GMainContext *loop;
static bool in_api; /* a test is inside an ice_agent_* call */

static const char *const loopback[] = {"127.0.0.1", NULL};

struct peer {
	const char *name;
	struct ice_agent *a;
	enum ice_state states[32];
	const char *reasons[32];
	unsigned n_states;
	unsigned rx;
	uint8_t last[ICE_RECV_ROOM];
	size_t last_len;
	enum ice_state state_at_first_rx;
	/* what a callback does to the agent */
	bool free_on_connected, free_on_failed, free_on_recv;
	bool send_on_connected;
	bool freed;
	/* direct mode: the socket handed over, read by the test */
	int fd;
	unsigned sockets_given, sockets_taken;
};

static struct peer *pumped; /* a direct-mode peer whose socket the loop reads */

static void on_state(void *arg, enum ice_state s, const char *reason)
{
	struct peer *p = arg;
	cr_assert_not(in_api, "%s: on_state inside an ice_agent_* call", p->name);
	cr_assert_not(p->freed, "%s: on_state after ice_agent_free", p->name);
	cr_assert_lt(p->n_states, 32);
	p->states[p->n_states] = s;
	p->reasons[p->n_states] = reason;
	p->n_states++;
	if (s == ICE_STATE_FAILED)
		cr_assert_not_null(reason);
	else
		cr_assert_null(reason);
	if (s == ICE_STATE_CONNECTED && p->send_on_connected)
		cr_assert_eq(ice_agent_send(p->a, (const uint8_t *)"early", 5), 0);
	if ((s == ICE_STATE_CONNECTED && p->free_on_connected) ||
	    (s == ICE_STATE_FAILED && p->free_on_failed)) {
		ice_agent_free(p->a);
		p->a = NULL;
		p->freed = true;
	}
}

static void on_recv(void *arg, uint8_t *buf, size_t len)
{
	struct peer *p = arg;
	cr_assert_not(in_api, "%s: on_recv inside an ice_agent_* call", p->name);
	cr_assert_not(p->freed, "%s: on_recv after ice_agent_free", p->name);
	if (p->rx++ == 0)
		p->state_at_first_rx = ice_agent_state(p->a);
	/* every change recorded before the datagram came has been reported */
	enum ice_state reported = p->n_states ? p->states[p->n_states - 1] : ICE_STATE_NEW;
	cr_assert_eq(reported, ice_agent_state(p->a), "%s: datagram before state %d was reported",
	             p->name, ice_agent_state(p->a));
	memcpy(p->last, buf, len);
	p->last_len = len;
	/* the whole room is ours to write (ASan checks it) */
	memset(buf + len, 0xa5, ICE_RECV_ROOM - len);
	if (p->free_on_recv) {
		ice_agent_free(p->a);
		p->a = NULL;
		p->freed = true;
	}
}

static void setup(void)
{
	loop = g_main_context_new();
	in_api = false;
	pumped = NULL;
}

static void teardown(void)
{
	while (g_main_context_iteration(loop, FALSE))
		;
	g_main_context_unref(loop);
}

TestSuite(ice, .init = setup, .fini = teardown, .timeout = 20);

static gboolean wake(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

static gint64 deadline;
static GSource *tick;

/* The loop is iterated until a deadline; a tick wakes it up to look. */
static void wait_begin(unsigned ms)
{
	deadline = g_get_monotonic_time() + (gint64)ms * 1000;
	tick = g_timeout_source_new(10);
	g_source_set_callback(tick, wake, NULL, NULL);
	g_source_attach(tick, loop);
}

static void pump(struct peer *p);

static bool wait_more(void)
{
	if (pumped)
		pump(pumped);
	if (g_get_monotonic_time() < deadline) {
		g_main_context_iteration(loop, TRUE);
		return true;
	}
	return false;
}

static void wait_end(void)
{
	g_source_destroy(tick);
	g_source_unref(tick);
}

/* Iterate the loop until cond holds (failing the test after ms). */
#define WAIT_FOR(cond, ms)                                                                         \
	do {                                                                                       \
		wait_begin(ms);                                                                    \
		while (!(cond) && wait_more())                                                     \
			;                                                                          \
		wait_end();                                                                        \
		cr_assert(cond, "not within %u ms: %s", (unsigned)(ms), #cond);                    \
	} while (0)

/* Iterate the loop for ms whatever happens. */
static void run_for(unsigned ms)
{
	wait_begin(ms);
	while (wait_more())
		;
	wait_end();
}

static struct ice_params params(struct peer *p, bool lite, bool controlling)
{
	return (struct ice_params){
	    .loop = loop,
	    .addresses = loopback,
	    .lite = lite,
	    .controlling = controlling,
	    .connect_timeout_ms = 5000,
	    .on_recv = on_recv,
	    .on_state = on_state,
	    .arg = p,
	};
}

static void make(struct peer *p, const char *name, const struct ice_params *prm)
{
	memset(p, 0, sizeof *p);
	p->name = name;
	p->fd = -1;
	in_api = true;
	int rc = ice_agent_new(prm, &p->a);
	in_api = false;
	cr_assert_eq(rc, 0, "%s: ice_agent_new: %s", name, strerror(-rc));
	cr_assert_not_null(p->a);
}

static void make_simple(struct peer *p, const char *name, bool lite, bool controlling)
{
	struct ice_params prm = params(p, lite, controlling);
	make(p, name, &prm);
}

/* What an SDH would put in its description: a wrapper around the agent's
 * credentials and candidate lines. */
static char *description(struct ice_agent *a, bool lite)
{
	size_t n = ice_agent_sdp_candidates(a, NULL, 0);
	char *cands = malloc(n + 1);
	cr_assert_eq(ice_agent_sdp_candidates(a, cands, n + 1), n);
	cr_assert_eq(strlen(cands), n);
	char *text = g_strdup_printf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n%s"
	                             "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
	                             "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=rtcp-mux\r\n%s",
	                             lite ? "a=ice-lite\r\n" : "", ice_agent_ufrag(a),
	                             ice_agent_pwd(a), cands);
	free(cands);
	return text;
}

static struct sdp_session *parse(const char *text)
{
	struct sdp_session *s = NULL;
	struct sdp_error err = {0, NULL};
	int rc = sdp_parse(text, strlen(text), &s, &err);
	cr_assert_eq(rc, 0, "sdp_parse: line %d: %s\n%s", err.line, err.reason ? err.reason : "",
	             text);
	cr_assert_eq(s->n_media, 1);
	return s;
}

/* to reads from's description as an SDH would. Returns the number of
 * candidate lines. */
static unsigned apply_text(struct ice_agent *to, const char *text)
{
	struct sdp_session *s = parse(text);
	const struct sdp_media *m = &s->media[0];
	const struct sdp_attr *ufrag = sdp_media_attr(m, SDP_ATTR_ICE_UFRAG, NULL);
	const struct sdp_attr *pwd = sdp_media_attr(m, SDP_ATTR_ICE_PWD, NULL);
	bool lite = sdp_session_attr(s, SDP_ATTR_ICE_LITE, NULL) != NULL;
	cr_assert(ufrag && pwd);
	in_api = true;
	cr_assert_eq(ice_agent_set_remote_credentials(to, ufrag->value, pwd->value, lite), 0);
	unsigned from = 0, n = 0;
	const struct sdp_attr *c;
	while ((c = sdp_attr_next(m->attrs, m->n_attrs, SDP_ATTR_CANDIDATE, NULL, &from))) {
		cr_assert_eq(ice_agent_add_remote_candidate(to, &c->u.candidate), 0);
		n++;
	}
	if (sdp_media_attr(m, SDP_ATTR_END_OF_CANDIDATES, NULL))
		ice_agent_end_of_candidates(to);
	in_api = false;
	sdp_free(s);
	return n;
}

static unsigned apply(struct ice_agent *to, struct ice_agent *from, bool from_lite)
{
	char *text = description(from, from_lite);
	unsigned n = apply_text(to, text);
	g_free(text);
	return n;
}

static void start(struct peer *p)
{
	in_api = true;
	int rc = ice_agent_start(p->a);
	in_api = false;
	cr_assert_eq(rc, 0, "%s: ice_agent_start: %s", p->name, strerror(-rc));
}

static bool connected(const struct peer *p)
{
	return p->a && ice_agent_state(p->a) == ICE_STATE_CONNECTED && p->n_states > 0 &&
	       p->states[p->n_states - 1] == ICE_STATE_CONNECTED;
}

/* offerer (controlling unless lite) and answerer, both started */
static void connect_pair(struct peer *off, bool off_lite, struct peer *ans, bool ans_lite)
{
	apply(ans->a, off->a, off_lite);
	apply(off->a, ans->a, ans_lite);
	start(ans);
	start(off);
	WAIT_FOR(connected(off) && connected(ans), 4000);
}

static void send_text(struct peer *p, const char *text)
{
	in_api = true;
	int rc = ice_agent_send(p->a, (const uint8_t *)text, strlen(text));
	in_api = false;
	cr_assert_eq(rc, 0, "%s: ice_agent_send: %s", p->name, strerror(-rc));
}

static void expect_datagram(struct peer *p, unsigned rx_before, const char *text)
{
	WAIT_FOR(p->rx > rx_before, 2000);
	cr_assert_eq(p->last_len, strlen(text));
	cr_assert_arr_eq(p->last, text, strlen(text));
}

/* Datagrams both ways, and the counters that go with them. */
static void exchange_datagrams(struct peer *x, struct peer *y)
{
	struct ice_stats xs0, ys0, xs, ys;
	ice_agent_get_stats(x->a, &xs0);
	ice_agent_get_stats(y->a, &ys0);
	unsigned xrx = x->rx, yrx = y->rx;
	send_text(x, "\x80 from x to y");
	expect_datagram(y, yrx, "\x80 from x to y");
	send_text(y, "\x16\xfe\xfd and back");
	expect_datagram(x, xrx, "\x16\xfe\xfd and back");
	ice_agent_get_stats(x->a, &xs);
	ice_agent_get_stats(y->a, &ys);
	cr_assert_eq(xs.tx_packets, xs0.tx_packets + 1);
	cr_assert_eq(xs.tx_bytes, xs0.tx_bytes + strlen("\x80 from x to y"));
	cr_assert_eq(ys.rx_packets, ys0.rx_packets + 1);
	cr_assert_eq(ys.rx_bytes, ys0.rx_bytes + strlen("\x80 from x to y"));
	cr_assert_eq(xs.rx_packets, xs0.rx_packets + 1);
	cr_assert_eq(ys.tx_packets, ys0.tx_packets + 1);
}

static void expect_states(const struct peer *p, unsigned n, const enum ice_state *want)
{
	cr_assert_eq(p->n_states, n, "%s: %u state changes", p->name, p->n_states);
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(p->states[i], want[i], "%s: change %u is %d", p->name, i,
		             p->states[i]);
}

static void free_peer(struct peer *p)
{
	in_api = true;
	ice_agent_free(p->a);
	in_api = false;
	p->a = NULL;
	p->freed = true;
}

/* ---- connecting ---- */

Test(ice, full_to_full_offerer_controls)
{
	struct peer off, ans;
	make_simple(&off, "offerer", false, true);
	make_simple(&ans, "answerer", false, false);
	cr_assert_eq(ice_agent_state(off.a), ICE_STATE_NEW);
	cr_assert_eq(apply(ans.a, off.a, false), 1);
	cr_assert_eq(apply(off.a, ans.a, false), 1);
	start(&ans);
	start(&off);
	cr_assert_eq(ice_agent_state(off.a), ICE_STATE_CHECKING);
	cr_assert_eq(off.n_states, 0, "reported inside ice_agent_start");
	WAIT_FOR(connected(&off) && connected(&ans), 4000);
	enum ice_state want[] = {ICE_STATE_CHECKING, ICE_STATE_CONNECTED};
	expect_states(&off, 2, want);
	expect_states(&ans, 2, want);

	struct ice_stats s;
	ice_agent_get_stats(off.a, &s);
	cr_assert_geq(s.connected_ms, 0);
	cr_assert_lt(s.connected_ms, 4000);
	cr_assert_eq(strncmp(s.local, "127.0.0.1:", 10), 0, "local %s", s.local);
	cr_assert_eq(strncmp(s.remote, "127.0.0.1:", 10), 0, "remote %s", s.remote);
	cr_assert_eq(s.remote_skipped, 0);
	const char *addr;
	uint16_t port;
	ice_agent_default_candidate(ans.a, &addr, &port);
	char want_remote[64];
	snprintf(want_remote, sizeof want_remote, "%s:%u", addr, port);
	cr_assert_str_eq(s.remote, want_remote);

	exchange_datagrams(&off, &ans);
	cr_assert_eq(ans.state_at_first_rx, ICE_STATE_CONNECTED);
	cr_assert_eq(off.state_at_first_rx, ICE_STATE_CONNECTED);
	exchange_datagrams(&ans, &off);
	free_peer(&off);
	free_peer(&ans);
}

Test(ice, full_offerer_to_lite_answerer)
{
	struct peer off, ans;
	make_simple(&off, "full", false, true);
	make_simple(&ans, "lite", true, true); /* controlling is ignored when lite */
	connect_pair(&off, false, &ans, true);
	exchange_datagrams(&off, &ans);
	free_peer(&off);
	free_peer(&ans);
}

Test(ice, full_answerer_to_lite_offerer)
{
	struct peer off, ans;
	make_simple(&off, "lite", true, false);
	/* answering an a=ice-lite offer: made controlling */
	make_simple(&ans, "full", false, true);
	connect_pair(&off, true, &ans, false);
	exchange_datagrams(&ans, &off);
	free_peer(&off);
	free_peer(&ans);
}

Test(ice, controlled_full_agent_refuses_a_lite_peer)
{
	struct peer p;
	make_simple(&p, "full", false, false);
	cr_assert_eq(ice_agent_set_remote_credentials(p.a, "abcd", "0123456789abcdefghijkl", true),
	             -EINVAL);
	cr_assert_eq(ice_agent_set_remote_credentials(p.a, "abcd", "0123456789abcdefghijkl", false),
	             0);
	free_peer(&p);
}

Test(ice, remote_candidates_before_credentials)
{
	/* an SDH may read candidates first; nothing is checked until start */
	struct peer off, ans;
	make_simple(&off, "offerer", false, true);
	make_simple(&ans, "answerer", false, false);
	char *text = description(off.a, false);
	struct sdp_session *s = parse(text);
	const struct sdp_media *m = &s->media[0];
	unsigned from = 0;
	const struct sdp_attr *c;
	while ((c = sdp_attr_next(m->attrs, m->n_attrs, SDP_ATTR_CANDIDATE, NULL, &from)))
		cr_assert_eq(ice_agent_add_remote_candidate(ans.a, &c->u.candidate), 0);
	cr_assert_eq(ice_agent_start(ans.a), -EINVAL);
	sdp_free(s);
	cr_assert_eq(apply_text(ans.a, text), 1); /* the same candidate again: no harm */
	g_free(text);
	apply(off.a, ans.a, false);
	start(&ans);
	start(&off);
	WAIT_FOR(connected(&off) && connected(&ans), 4000);
	cr_assert_eq(ice_agent_start(off.a), -EALREADY);
	free_peer(&off);
	free_peer(&ans);
}

Test(ice, datagram_sent_at_once_on_connected_follows_the_receivers_report)
{
	/* Each side sends from its on_state(CONNECTED): the datagram may reach
	 * the other before or after its own pair is selected; on_recv checks
	 * that no change recorded before it is still unreported. */
	for (int round = 0; round < 3; round++) {
		struct peer off, ans;
		make_simple(&off, "offerer", false, true);
		make_simple(&ans, "answerer", false, false);
		off.send_on_connected = ans.send_on_connected = true;
		connect_pair(&off, false, &ans, false);
		WAIT_FOR(off.rx == 1 && ans.rx == 1, 2000);
		cr_assert_eq(off.last_len, 5);
		cr_assert_eq(ans.last_len, 5);
		free_peer(&off);
		free_peer(&ans);
	}
}

/* ---- candidates ---- */

static struct sdp_candidate cand(const char *transport, const char *address, uint16_t port,
                                 const char *type, uint16_t component)
{
	return (struct sdp_candidate){
	    .foundation = "1",
	    .component = component,
	    .transport = transport,
	    .priority = 2122260223u,
	    .address = address,
	    .port = port,
	    .type = type,
	    .rport = -1,
	    .generation = -1,
	    .extensions = "",
	};
}

Test(ice, unusable_remote_candidates_are_skipped_and_counted)
{
	struct peer p;
	make_simple(&p, "p", false, true);
	struct sdp_candidate skip[] = {
	    cand("udp", "3c2b1f5e-6a40-4d2c-9d7e-0c1a2b3c4d5e.local", 50000, "host", 1),
	    cand("tcp", "127.0.0.1", 9, "host", 1),
	    cand("UDP", "127.0.0.1", 50001, "host", 2),
	    cand("udp", "127.0.0.1", 50002, "future", 1),
	    cand("dccp", "127.0.0.1", 50003, "host", 1),
	};
	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		cr_assert_eq(ice_agent_add_remote_candidate(p.a, &skip[i]), 0, "candidate %zu", i);
	struct sdp_candidate ok = cand("UDP", "127.0.0.1", 50004, "host", 1);
	cr_assert_eq(ice_agent_add_remote_candidate(p.a, &ok), 0);
	struct ice_stats s;
	ice_agent_get_stats(p.a, &s);
	cr_assert_eq(s.remote_skipped, 5);
	free_peer(&p);
}

Test(ice, peer_with_mdns_candidates_only_is_reached_as_peer_reflexive)
{
	/* The answerer knows the offerer's candidates; the offerer gets the
	 * answerer's as an mDNS name it cannot resolve: the answerer's checks
	 * reveal its address. */
	struct peer off, ans;
	make_simple(&off, "offerer", false, true);
	make_simple(&ans, "answerer", false, false);
	apply(ans.a, off.a, false);
	char *text = description(ans.a, false);
	char *host = strstr(text, "127.0.0.1 ");
	cr_assert_not_null(host);
	char *mdns = g_strdup_printf("%.*s0d9f7a3e-1111-4222-8333-944455556666.local %s",
	                             (int)(host - text), text, host + strlen("127.0.0.1 "));
	cr_assert_eq(apply_text(off.a, mdns), 1);
	g_free(mdns);
	g_free(text);
	struct ice_stats s;
	ice_agent_get_stats(off.a, &s);
	cr_assert_eq(s.remote_skipped, 1);
	start(&ans);
	start(&off);
	WAIT_FOR(connected(&off) && connected(&ans), 4000);
	exchange_datagrams(&off, &ans);
	free_peer(&off);
	free_peer(&ans);
}

Test(ice, public_address_is_advertised_as_server_reflexive)
{
	struct peer p;
	struct ice_params prm = params(&p, false, true);
	prm.public_address = "203.0.113.7";
	make(&p, "natted", &prm);
	char *text = description(p.a, false);
	struct sdp_session *s = parse(text);
	const struct sdp_media *m = &s->media[0];
	const struct sdp_candidate *host = NULL, *srflx = NULL;
	unsigned from = 0, n = 0;
	const struct sdp_attr *c;
	while ((c = sdp_attr_next(m->attrs, m->n_attrs, SDP_ATTR_CANDIDATE, NULL, &from))) {
		n++;
		if (strcmp(c->u.candidate.type, "host") == 0)
			host = &c->u.candidate;
		else if (strcmp(c->u.candidate.type, "srflx") == 0)
			srflx = &c->u.candidate;
	}
	cr_assert_eq(n, 2, "%s", text);
	cr_assert(host && srflx, "%s", text);
	cr_assert_str_eq(host->address, "127.0.0.1");
	cr_assert_str_eq(srflx->address, "203.0.113.7");
	cr_assert_eq(srflx->port, host->port);
	cr_assert_str_eq(srflx->raddr, "127.0.0.1");
	cr_assert_eq(srflx->rport, host->port);
	cr_assert_str_eq(srflx->transport, "udp");
	cr_assert_eq(srflx->component, 1);
	cr_assert_str_neq(srflx->foundation, host->foundation);
	/* RFC 8445 §5.1.2.1 with the host's local preference */
	cr_assert_eq(srflx->priority >> 24, 100u);
	cr_assert_eq((srflx->priority >> 8) & 0xffffu, (host->priority >> 8) & 0xffffu);
	cr_assert_eq(srflx->priority & 0xffu, 255u);
	cr_assert_lt(srflx->priority, host->priority);
	cr_assert(sdp_media_attr(m, SDP_ATTR_END_OF_CANDIDATES, NULL));
	const char *addr;
	uint16_t port;
	ice_agent_default_candidate(p.a, &addr, &port);
	cr_assert_str_eq(addr, "203.0.113.7");
	cr_assert_eq(port, host->port);
	/* the size query and a short buffer agree with the whole text */
	size_t len = ice_agent_sdp_candidates(p.a, NULL, 0);
	char small[16];
	cr_assert_eq(ice_agent_sdp_candidates(p.a, small, sizeof small), len);
	cr_assert_eq(strlen(small), sizeof small - 1);
	cr_assert_eq(strncmp(small, "a=candidate:", 12), 0);
	sdp_free(s);
	g_free(text);
	free_peer(&p);
}

Test(ice, public_address_of_another_family_is_not_advertised)
{
	struct peer p;
	struct ice_params prm = params(&p, false, true);
	prm.public_address = "2001:db8::7";
	make(&p, "v4 only", &prm);
	char text[1024];
	ice_agent_sdp_candidates(p.a, text, sizeof text);
	cr_assert_null(strstr(text, "srflx"), "%s", text);
	const char *addr;
	uint16_t port;
	ice_agent_default_candidate(p.a, &addr, &port);
	cr_assert_str_eq(addr, "127.0.0.1");
	cr_assert_neq(port, 0);
	free_peer(&p);
}

Test(ice, port_range_is_used_and_unusable_addresses_refused)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t sl = sizeof sa;
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	uint16_t taken = ntohs(sa.sin_port);

	struct peer p;
	struct ice_params prm = params(&p, false, true);
	prm.port_min = prm.port_max = taken;
	struct ice_agent *a = NULL;
	cr_assert_eq(ice_agent_new(&prm, &a), -EADDRNOTAVAIL);
	cr_assert_null(a);
	close(fd);
	/* an address this machine does not have: nothing to bind */
	static const char *const absent[] = {"198.51.100.77", NULL};
	struct ice_params elsewhere = params(&p, false, true);
	elsewhere.addresses = absent;
	cr_assert_eq(ice_agent_new(&elsewhere, &a), -EADDRNOTAVAIL);
	cr_assert_null(a);
	make(&p, "ranged", &prm);
	const char *addr;
	uint16_t port;
	ice_agent_default_candidate(p.a, &addr, &port);
	cr_assert_eq(port, taken);
	free_peer(&p);
}

/* ---- failures and restarts ---- */

Test(ice, connect_timeout_when_the_peer_never_answers)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0); /* bound, never read */
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t sl = sizeof sa;
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);

	struct peer p;
	struct ice_params prm = params(&p, false, true);
	prm.connect_timeout_ms = 300;
	make(&p, "alone", &prm);
	cr_assert_eq(ice_agent_set_remote_credentials(p.a, "wxyz", "0123456789abcdefghijkl", false),
	             0);
	struct sdp_candidate c = cand("udp", "127.0.0.1", ntohs(sa.sin_port), "host", 1);
	cr_assert_eq(ice_agent_add_remote_candidate(p.a, &c), 0);
	ice_agent_end_of_candidates(p.a);
	gint64 t0 = g_get_monotonic_time();
	start(&p);
	WAIT_FOR(ice_agent_state(p.a) == ICE_STATE_FAILED && p.n_states == 2, 2000);
	gint64 took_ms = (g_get_monotonic_time() - t0) / 1000;
	cr_assert_geq(took_ms, 290);
	cr_assert_lt(took_ms, 1000);
	enum ice_state want[] = {ICE_STATE_CHECKING, ICE_STATE_FAILED};
	expect_states(&p, 2, want);
	cr_assert_str_eq(p.reasons[1], "ICE timeout");
	cr_assert_eq(ice_agent_send(p.a, (const uint8_t *)"x", 1), -ENOTCONN);
	cr_assert_eq(ice_agent_start(p.a), -EALREADY);
	struct ice_stats s;
	ice_agent_get_stats(p.a, &s);
	cr_assert_eq(s.connected_ms, -1);
	cr_assert_str_eq(s.local, "");
	/* the failed agent stopped sending checks: the socket holds only what came before */
	run_for(100);
	char drain[2048];
	while (recv(fd, drain, sizeof drain, MSG_DONTWAIT) > 0)
		;
	run_for(300);
	cr_assert_lt(recv(fd, drain, sizeof drain, MSG_DONTWAIT), 0);
	close(fd);
	free_peer(&p);
}

Test(ice, restart_after_failure_gathers_again_and_connects)
{
	struct peer off, ans;
	struct ice_params prm = params(&off, false, true);
	prm.connect_timeout_ms = 200;
	make(&off, "offerer", &prm);
	make_simple(&ans, "answerer", false, false);
	/* the first attempt: the answer never reaches the offerer */
	cr_assert_eq(
	    ice_agent_set_remote_credentials(off.a, "dead", "0123456789abcdefghijkl", false), 0);
	start(&off);
	WAIT_FOR(off.n_states == 2, 1000);
	cr_assert_eq(off.states[1], ICE_STATE_FAILED);
	char old_ufrag[300];
	const char *old_addr;
	uint16_t old_port;
	snprintf(old_ufrag, sizeof old_ufrag, "%s", ice_agent_ufrag(off.a));
	ice_agent_default_candidate(off.a, &old_addr, &old_port);

	in_api = true;
	cr_assert_eq(ice_agent_restart(off.a), 0);
	in_api = false;
	cr_assert_eq(ice_agent_state(off.a), ICE_STATE_NEW);
	cr_assert_str_neq(ice_agent_ufrag(off.a), old_ufrag);
	connect_pair(&off, false, &ans, false);
	enum ice_state want[] = {ICE_STATE_CHECKING, ICE_STATE_FAILED, ICE_STATE_NEW,
	                         ICE_STATE_CHECKING, ICE_STATE_CONNECTED};
	expect_states(&off, 5, want);
	exchange_datagrams(&off, &ans);
	free_peer(&off);
	free_peer(&ans);
}

Test(ice, restart_while_connected_keeps_media_and_reconnects)
{
	struct peer off, ans;
	make_simple(&off, "offerer", false, true);
	make_simple(&ans, "answerer", false, false);
	connect_pair(&off, false, &ans, false);
	char off_ufrag[300], off_pwd[300], ans_ufrag[300];
	snprintf(off_ufrag, sizeof off_ufrag, "%s", ice_agent_ufrag(off.a));
	snprintf(off_pwd, sizeof off_pwd, "%s", ice_agent_pwd(off.a));
	snprintf(ans_ufrag, sizeof ans_ufrag, "%s", ice_agent_ufrag(ans.a));

	/* a re-INVITE restarting ICE: the offerer restarts... */
	in_api = true;
	cr_assert_eq(ice_agent_restart(off.a), 0);
	in_api = false;
	cr_assert_str_neq(ice_agent_ufrag(off.a), off_ufrag);
	cr_assert_str_neq(ice_agent_pwd(off.a), off_pwd);
	cr_assert_eq(ice_agent_state(off.a), ICE_STATE_CONNECTED);
	exchange_datagrams(&off, &ans); /* the old pair still carries media */

	/* ...the answerer sees new credentials: a remote restart, new ones of its own */
	apply(ans.a, off.a, false);
	cr_assert_str_neq(ice_agent_ufrag(ans.a), ans_ufrag);
	cr_assert_eq(ice_agent_state(ans.a), ICE_STATE_CONNECTED);
	apply(off.a, ans.a, false);
	start(&ans);
	start(&off);
	struct ice_stats s;
	ice_agent_get_stats(off.a, &s);
	cr_assert_eq(s.connected_ms, -1);
	WAIT_FOR((ice_agent_get_stats(off.a, &s), s.connected_ms >= 0), 4000);
	WAIT_FOR((ice_agent_get_stats(ans.a, &s), s.connected_ms >= 0), 4000);
	/* no change was reported: connected throughout */
	enum ice_state want[] = {ICE_STATE_CHECKING, ICE_STATE_CONNECTED};
	expect_states(&off, 2, want);
	expect_states(&ans, 2, want);
	exchange_datagrams(&ans, &off);
	/* the same credentials again are no restart */
	char ufrag_now[300];
	snprintf(ufrag_now, sizeof ufrag_now, "%s", ice_agent_ufrag(ans.a));
	apply(ans.a, off.a, false);
	cr_assert_str_eq(ice_agent_ufrag(ans.a), ufrag_now);
	cr_assert_eq(ice_agent_start(ans.a), -EALREADY);
	free_peer(&off);
	free_peer(&ans);
}

/* ---- direct mode: the owner reads the selected pair's socket ---- */

static void on_socket(void *arg, int fd)
{
	struct peer *p = arg;
	cr_assert_not(p->freed, "%s: on_socket after ice_agent_free", p->name);
	if (fd >= 0) {
		cr_assert_eq(p->fd, -1, "%s: a second socket without the first taken back", p->name);
		p->sockets_given++;
	} else {
		cr_assert_geq(p->fd, 0, "%s: taken back without one given", p->name);
		p->sockets_taken++;
	}
	p->fd = fd;
}

/* What the owner's loop does with the socket: every datagram to
 * ice_agent_input; what comes back for it is a datagram received. */
static void pump(struct peer *p)
{
	for (;;) {
		if (!p->a || p->fd < 0)
			return;
		uint8_t buf[ICE_RECV_ROOM];
		struct sockaddr_storage from;
		socklen_t fl = sizeof from;
		ssize_t n = recvfrom(p->fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			return;
		int r = ice_agent_input(p->a, buf, (size_t)n, &from, fl);
		if (r > 0) {
			cr_assert_eq(r, n);
			p->rx++;
			memcpy(p->last, buf, (size_t)r);
			p->last_len = (size_t)r;
		}
	}
}

static void make_direct(struct peer *p, const char *name, bool controlling)
{
	struct ice_params prm = params(p, false, controlling);
	prm.on_socket = on_socket;
	make(p, name, &prm);
	pumped = p;
}

static uint64_t consent_answers(const struct peer *p)
{
	struct ice_stats s;
	ice_agent_get_stats(p->a, &s);
	return s.consent_answers;
}

Test(ice, direct_mode_reads_the_selected_socket_checks_consent_and_loses_it_when_unanswered)
{
	struct peer browser, gw;
	make_simple(&browser, "browser", false, true); /* libnice with consent freshness */
	make_direct(&gw, "gateway", false);
	connect_pair(&browser, false, &gw, false);
	WAIT_FOR(gw.fd >= 0, 2000); /* from the loop, after CONNECTED was reported */
	cr_assert_eq(gw.sockets_given, 1);
	cr_assert_eq(ice_agent_fd(gw.a), gw.fd);

	/* datagrams both ways on the socket the test reads */
	unsigned rx = gw.rx;
	send_text(&browser, "\x80 to the gateway");
	expect_datagram(&gw, rx, "\x80 to the gateway");
	rx = browser.rx;
	send_text(&gw, "\x80 to the browser");
	expect_datagram(&browser, rx, "\x80 to the browser");

	/* nothing is due before 4 s */
	int64_t now = g_get_monotonic_time();
	int64_t due = ice_agent_tick(gw.a, now);
	cr_assert(due >= now + 4000000 && due <= now + 6000000, "the first check is due 4 to 6 s in");
	struct ice_stats s;
	ice_agent_get_stats(gw.a, &s);
	cr_assert_eq(s.consent_checks, 0);
	/* 6.5 s later a consent check goes out; libnice answers it */
	ice_agent_tick(gw.a, now + 6500000);
	WAIT_FOR(consent_answers(&gw) == 1, 2000);
	ice_agent_get_stats(gw.a, &s);
	cr_assert_eq(s.consent_checks, 1);
	cr_assert_eq(s.stun_refused, 0);

	free_peer(&browser);
	/* the browser is gone: checks go unanswered; consent holds until 30 s
	 * after the last answer, then the agent fails and stops sending */
	now = g_get_monotonic_time();
	ice_agent_tick(gw.a, now + 29000000);
	run_for(100);
	cr_assert_eq(ice_agent_state(gw.a), ICE_STATE_CONNECTED);
	ice_agent_get_stats(gw.a, &s);
	cr_assert_eq(s.consent_checks, 2);
	cr_assert_eq(ice_agent_tick(gw.a, now + 31000000), -1, "failed: nothing more is due");
	WAIT_FOR(gw.n_states > 0 && gw.states[gw.n_states - 1] == ICE_STATE_FAILED, 2000);
	cr_assert_str_eq(gw.reasons[gw.n_states - 1], "ICE consent lost");
	cr_assert_eq(gw.fd, -1, "the socket was taken back before it closed");
	cr_assert_eq(gw.sockets_taken, 1);
	in_api = true;
	cr_assert_eq(ice_agent_send(gw.a, (const uint8_t *)"\x80x", 2), -ENOTCONN);
	in_api = false;
	free_peer(&gw);
	pumped = NULL;
}

Test(ice, direct_mode_gives_the_socket_back_for_a_restart_and_takes_it_again)
{
	struct peer browser, gw;
	make_simple(&browser, "browser", false, true);
	make_direct(&gw, "gateway", false);
	connect_pair(&browser, false, &gw, false);
	WAIT_FOR(gw.fd >= 0, 2000);

	/* the browser restarts ICE: the gateway sees new credentials */
	in_api = true;
	cr_assert_eq(ice_agent_restart(browser.a), 0);
	in_api = false;
	apply(gw.a, browser.a, false);
	cr_assert_eq(gw.fd, -1, "libnice reads the socket during the new checks");
	cr_assert_eq(gw.sockets_taken, 1);
	exchange_datagrams(&browser, &gw); /* the old pair still carries media */
	apply(browser.a, gw.a, false);
	start(&gw);
	start(&browser);
	WAIT_FOR(gw.fd >= 0, 4000);
	cr_assert_eq(gw.sockets_given, 2);
	unsigned rx = gw.rx;
	send_text(&browser, "\x80 after the restart");
	expect_datagram(&gw, rx, "\x80 after the restart");
	ice_agent_tick(gw.a, g_get_monotonic_time() + 6500000);
	WAIT_FOR(consent_answers(&gw) == 1, 2000);
	free_peer(&browser);
	free_peer(&gw);
	cr_assert_eq(gw.sockets_taken, 2, "taken back as the agent was freed");
	pumped = NULL;
}

/* ---- bad inputs ---- */

Test(ice, bad_inputs_are_refused)
{
	struct peer p;
	struct ice_agent *a = NULL;
	struct ice_params prm = params(&p, false, true);
	cr_assert_eq(ice_agent_new(NULL, &a), -EINVAL);
	cr_assert_eq(ice_agent_new(&prm, NULL), -EINVAL);
	prm.on_recv = NULL;
	cr_assert_eq(ice_agent_new(&prm, &a), -EINVAL);
	prm = params(&p, false, true);
	prm.on_state = NULL;
	cr_assert_eq(ice_agent_new(&prm, &a), -EINVAL);
	prm = params(&p, false, true);
	prm.port_min = 20000;
	prm.port_max = 19999;
	cr_assert_eq(ice_agent_new(&prm, &a), -EINVAL);
	prm.port_min = 0;
	prm.port_max = 19999;
	cr_assert_eq(ice_agent_new(&prm, &a), -EINVAL);
	static const char *const named[] = {"127.0.0.1", "gateway.example.com", NULL};
	prm = params(&p, false, true);
	prm.addresses = named;
	cr_assert_eq(ice_agent_new(&prm, &a), -EINVAL);
	prm = params(&p, false, true);
	prm.public_address = "nat.example.com";
	cr_assert_eq(ice_agent_new(&prm, &a), -EINVAL);
	cr_assert_null(a);

	make_simple(&p, "p", false, true);
	const char *pwd = "0123456789abcdefghijkl";
	cr_assert_eq(ice_agent_set_remote_credentials(p.a, "", pwd, false), -EINVAL);
	cr_assert_eq(ice_agent_set_remote_credentials(p.a, "ab:c", pwd, false), -EINVAL);
	cr_assert_eq(ice_agent_set_remote_credentials(p.a, "abcd", "with space 0123456789", false),
	             -EINVAL);
	cr_assert_eq(ice_agent_set_remote_credentials(p.a, NULL, pwd, false), -EINVAL);
	char longer[300];
	memset(longer, 'a', 257);
	longer[257] = '\0';
	cr_assert_eq(ice_agent_set_remote_credentials(p.a, longer, pwd, false), -EINVAL);
	cr_assert_eq(ice_agent_start(p.a), -EINVAL);

	struct sdp_candidate c = cand("udp", "peer.example.com", 5000, "host", 1);
	cr_assert_eq(ice_agent_add_remote_candidate(p.a, &c), -EINVAL);
	c = cand("udp", "127.0.0.1", 0, "host", 1);
	cr_assert_eq(ice_agent_add_remote_candidate(p.a, &c), -EINVAL);
	c = cand("udp", "127.0.0.1", 5000, "host", 1);
	c.foundation = "a b";
	cr_assert_eq(ice_agent_add_remote_candidate(p.a, &c), -EINVAL);
	cr_assert_eq(ice_agent_add_remote_candidate(p.a, NULL), -EINVAL);
	struct ice_stats s;
	ice_agent_get_stats(p.a, &s);
	cr_assert_eq(s.remote_skipped, 0);

	cr_assert_eq(ice_agent_send(p.a, (const uint8_t *)"x", 0), -EINVAL);
	cr_assert_eq(ice_agent_send(p.a, NULL, 1), -EINVAL);
	cr_assert_eq(ice_agent_send(p.a, (const uint8_t *)"x", 1), -ENOTCONN);
	ice_agent_free(NULL);
	free_peer(&p);
}

/* ---- freeing ---- */

Test(ice, free_with_state_changes_pending_reports_nothing)
{
	struct peer off, ans;
	make_simple(&off, "offerer", false, true);
	make_simple(&ans, "answerer", false, false);
	apply(ans.a, off.a, false);
	apply(off.a, ans.a, false);
	start(&ans);
	start(&off); /* CHECKING recorded, not yet reported */
	free_peer(&off);
	run_for(300); /* the answerer's checks now meet a closed port */
	cr_assert_eq(off.n_states, 0);
	cr_assert_eq(ans.n_states, 1);
	cr_assert_eq(ans.states[0], ICE_STATE_CHECKING);
	free_peer(&ans);
	run_for(50);
}

Test(ice, free_while_connected_stops_everything)
{
	struct peer off, ans;
	make_simple(&off, "offerer", false, true);
	make_simple(&ans, "answerer", false, false);
	connect_pair(&off, false, &ans, false);
	send_text(&ans, "in flight");
	free_peer(&off); /* with a datagram waiting on its socket and libnice timers armed */
	unsigned n = ans.n_states;
	run_for(200);
	cr_assert_eq(ans.n_states, n);
	free_peer(&ans);
	run_for(50);
}

Test(ice, free_new_agent)
{
	struct peer p;
	make_simple(&p, "new", false, false);
	free_peer(&p);
	make_simple(&p, "lite", true, false);
	free_peer(&p);
	run_for(20);
}

Test(ice, free_from_on_state_connected)
{
	struct peer off, ans;
	make_simple(&off, "offerer", false, true);
	make_simple(&ans, "answerer", false, false);
	off.free_on_connected = true;
	apply(ans.a, off.a, false);
	apply(off.a, ans.a, false);
	start(&ans);
	start(&off);
	WAIT_FOR(off.freed, 4000);
	cr_assert_eq(off.states[off.n_states - 1], ICE_STATE_CONNECTED);
	run_for(100);
	free_peer(&ans);
}

Test(ice, free_from_on_state_failed)
{
	struct peer p;
	struct ice_params prm = params(&p, false, true);
	prm.connect_timeout_ms = 50;
	make(&p, "alone", &prm);
	p.free_on_failed = true;
	cr_assert_eq(ice_agent_set_remote_credentials(p.a, "wxyz", "0123456789abcdefghijkl", false),
	             0);
	start(&p);
	WAIT_FOR(p.freed, 1000);
	cr_assert_str_eq(p.reasons[p.n_states - 1], "ICE timeout");
	run_for(50);
}

Test(ice, free_from_on_recv)
{
	struct peer off, ans;
	make_simple(&off, "offerer", false, true);
	make_simple(&ans, "answerer", false, false);
	connect_pair(&off, false, &ans, false);
	ans.free_on_recv = true;
	send_text(&off, "one");
	send_text(&off, "two"); /* arrives in the same wake-up, after the free */
	WAIT_FOR(ans.freed, 2000);
	cr_assert_eq(ans.rx, 1);
	cr_assert_eq(ans.last_len, 3);
	run_for(100);
	cr_assert_eq(ans.rx, 1);
	free_peer(&off);
}
