/* bench_calls — a WebSocket SIP client (RFC 7118) that places calls through a
 * gateway or proxy and reports what it saw.
 *
 * One call is what a browser test client does with media off:
 *   INVITE (plain RTP/AVP SDP offer, Contact ;transport=ws, Via SIP/2.0/WS
 *   x.invalid) -> 100/180/183 -> 200 (setup latency: INVITE to 200) -> ACK to
 *   the 200's Contact through the route set (its Record-Route reversed) ->
 *   hold for --hold-ms -> BYE -> 200.
 * A 401/407 to the INVITE is answered once with digest credentials (ACK to
 * the challenge, INVITE again with CSeq 2); any other outcome is a failure,
 * counted by kind, and final statuses are counted by code. A non-2xx final
 * answer is acknowledged as RFC 3261 §17.1.1.3 says; a 2xx that arrives after
 * its call timed out is acknowledged and the call ended with a BYE, so the
 * server is not left with half calls. No CANCEL is sent: a call whose setup
 * times out is abandoned.
 *
 * Modes (always bounded by --duration and optionally --count):
 *   --rate R          open loop: R calls per second, spread over the
 *                     connections round robin, at most --outstanding calls in
 *                     flight on each; setup latency counts from when the call
 *                     was due, so a tool that falls behind shows up in the
 *                     figures instead of hiding (coordinated omission);
 *   --rate 0          closed loop: --outstanding calls in flight on every
 *                     connection, the next one starting as one ends;
 *   --concurrent N    keep N calls up: they start paced at N per hold time
 *                     (so that their ends are spread too) and from then on a
 *                     new call starts as one ends. Needs --hold-ms. Once a
 *                     second the server's memory is read with the number of
 *                     calls up; the sample with the most calls gives the
 *                     memory per call (against a reading taken after the
 *                     connections opened, before any call).
 * --register first registers every connection (REGISTER, 401, REGISTER with
 * credentials, 200), as a browser does before it can call.
 *
 * The measured window counts what happens in it: calls started, answered
 * (setup latency) and completed (BYE answered 200); with --server-pid, the
 * server's CPU time (its process and descendants) over the window is divided
 * by the calls completed in it. After the window no call starts, and the
 * calls in flight are finished (a failure of a call started in the window
 * still counts). With --uas-pid, the same for the called party (sipp), which
 * shares a core with this tool in the standard runs.
 *
 * --udp leaves the WebSocket out and calls a UAS straight over UDP (one
 * socket, no retransmissions: loopback only), to measure the called party's
 * own setup latency, which every figure through a server includes.
 *
 * Call-IDs are RUN-CONN-SLOT-NUMBER; answers to a call that already ended are
 * recognised by the number and ignored (a late 2xx excepted, see above).
 * Plain sockets and epoll on one thread (bench/ws_client.h): pin the tool to
 * a core of its own (taskset).
 *
 * Prints a table and one machine-readable line starting with "RESULT ". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "load.h"
#include "sip/sip_auth.h"
#include "sip/sip_hdr.h"
#include "sip/sip_msg.h"
#include "ws_client.h"

/* ---- options (beside the shared ones, load.h) ---- */

struct options {
	const char *callee;  /* user part of the Request-URI */
	unsigned concurrent; /* 0: not the concurrent mode */
	unsigned hold_ms;
	bool do_register;
	int uas_pid;
	bool udp; /* plain SIP over UDP straight to a UAS: its own latency */
};

/* ---- failures ---- */

enum fail_kind {
	FAIL_SETUP_TIMEOUT, /* no final answer to the INVITE within --timeout */
	FAIL_REJECTED,      /* a final answer to the INVITE other than 2xx (by code below) */
	FAIL_AUTH,          /* challenged again, or a challenge that cannot be answered */
	FAIL_BAD_ANSWER,    /* a 2xx without a to-tag or Contact, or too long a route set */
	FAIL_REMOTE_BYE,    /* the other side ended the call before our BYE */
	FAIL_BYE_TIMEOUT,   /* no final answer to the BYE within --timeout */
	FAIL_BYE_REJECTED,  /* a final answer to the BYE other than 200 */
	FAIL_BAD_MESSAGE,   /* a frame that is not a parsable SIP message */
	FAIL_CLOSED,        /* the connection closed with the call in flight */
	FAIL_SEND,          /* a request could not be written */
	FAIL__COUNT
};

static const char *const FAIL_NAMES[FAIL__COUNT] = {
    "setup_timeout", "rejected",     "auth",        "bad_answer", "remote_bye",
    "bye_timeout",   "bye_rejected", "bad_message", "closed",     "send",
};

/* ---- calls and connections ---- */

enum call_phase { CALL_IDLE, CALL_INVITING, CALL_UP, CALL_BYE };

/* What the ACK and BYE need from the 2xx. */
struct dialog {
	char to_tag[64];
	char target[256]; /* the 2xx's Contact URI: the Request-URI of ACK and BYE */
	char route[512];  /* "Route: <..>\r\n" lines, Record-Route reversed */
};

struct call {
	uint16_t slot; /* its place on the connection: part of the Call-ID */
	uint8_t phase;
	bool counted; /* started in the measured window: its failures count */
	bool authed;  /* the INVITE was sent again with credentials */
	uint32_t number;
	uint32_t invite_cseq;
	uint64_t invite_branch;
	uint64_t t_due; /* when it was due (paced) or sent */
	uint64_t deadline;
	uint64_t bye_at;
	struct dialog d;
};

enum reg_phase { REG_NONE, REG_WAIT_CHALLENGE, REG_WAIT_OK, REG_DONE, REG_FAILED };

/* What the tool keeps per connection, beside the pool's connection. */
struct conn {
	struct wsc_conn *ws;
	uint32_t tag;  /* From tags and the Contact user come from it */
	char host[32]; /* of Via and Contact: TAG.invalid, or ADDR:PORT over UDP */
	unsigned busy; /* calls in flight */
	uint8_t reg;
	uint32_t reg_cseq;
	uint64_t reg_deadline;
	struct call *calls;
};

struct stats {
	uint64_t started, setups, ok;
	uint64_t challenged; /* INVITEs answered 401/407 and sent again with credentials */
	uint64_t fail[FAIL__COUNT];
	uint32_t bad_status[700];     /* final answers to INVITE other than 2xx, by code */
	char reason[700][40];         /* the first reason phrase seen with each */
	uint32_t bad_bye_status[700]; /* final answers to BYE other than 200, by code */
	struct wsc_latency setup;
};

enum run_phase { PH_CONNECT, PH_REGISTER, PH_WARMUP, PH_MEASURE, PH_DRAIN };

struct ctx {
	struct load_options o;
	struct options own;
	struct wsc *pool;
	struct conn *conns;
	unsigned opened; /* connections open after the connect phase */
	unsigned registered, reg_failed;
	uint32_t run_id;
	uint32_t next_number;
	uint64_t in_flight; /* calls not idle */
	uint64_t up;        /* calls answered and not yet ended */
	struct load_driver driver;
	uint64_t ramp_started; /* concurrent: calls started while ramping up */
	enum run_phase phase;
	struct stats st;
	struct sip_msg *msg;
	const char *via_transport, *contact_transport; /* "WS", "ws" or "UDP", "udp" */
	int udp_fd, udp_ep;                            /* --udp */
	struct sockaddr_in udp_peer;
	char sdp[512];
	char scratch[8192];
	char auth[1024];
};

static unsigned conn_index(const struct ctx *x, const struct conn *c)
{
	return (unsigned)(c - x->conns);
}

static bool conn_open(const struct conn *c)
{
	return c->ws && wsc_conn_is_open(c->ws);
}

/* Over UDP every connection is a client on the one socket: always usable. */
static bool usable(const struct ctx *x, const struct conn *c)
{
	return x->own.udp || conn_open(c);
}

static bool measuring(const struct ctx *x)
{
	return x->phase == PH_MEASURE;
}

static uint64_t timeout_ns(const struct ctx *x)
{
	return (uint64_t)x->o.timeout_ms * 1000000u;
}

static int send_msg(struct ctx *x, struct conn *c, int n)
{
	if (n < 0 || (size_t)n >= sizeof x->scratch)
		return -ENOSPC;
	if (!x->own.udp)
		return wsc_send_text(x->pool, c->ws, x->scratch, (size_t)n);
	if (sendto(x->udp_fd, x->scratch, (size_t)n, 0, (const struct sockaddr *)&x->udp_peer,
	           sizeof x->udp_peer) < 0)
		return errno == EAGAIN || errno == ENOBUFS ? 0
		                                           : -errno; /* UDP: lost, as on a net */
	return 0;
}

/* ---- requests of a call ---- */

/* The headers every request of call k carries after the Via. */
static int common_headers(struct ctx *x, struct conn *c, struct call *k, char *p, size_t size,
                          const char *to_tag, uint32_t cseq, const char *method)
{
	unsigned ci = conn_index(x, c);
	return snprintf(p, size,
	                "Max-Forwards: 70\r\n"
	                "To: <sip:%s@%s>%s%s\r\n"
	                "From: <sip:%s%u@%s>;tag=%08" PRIx32 "c%un%" PRIu32 "\r\n"
	                "Call-ID: %08" PRIx32 "-%u-%u-%" PRIu32 "\r\n"
	                "CSeq: %" PRIu32 " %s\r\n",
	                x->own.callee, x->o.realm, to_tag ? ";tag=" : "", to_tag ? to_tag : "",
	                x->o.user_prefix, load_user_of(&x->o, ci), x->o.realm, c->tag, (unsigned)k->slot,
	                k->number, x->run_id, ci, (unsigned)k->slot, k->number, cseq, method);
}

/* The SDP offer of a browser test client with media off: plain RTP/AVP,
 * G.711 and telephone-event; nobody sends RTP to the port. */
static size_t sdp_offer(struct ctx *x, struct conn *c, struct call *k)
{
	unsigned port = 10000 + 2 * ((conn_index(x, c) * 64 + k->slot) % 25000);
	int n = snprintf(x->sdp, sizeof x->sdp,
	                 "v=0\r\n"
	                 "o=- %" PRIu32 " 1 IN IP4 127.0.0.1\r\n"
	                 "s=-\r\n"
	                 "c=IN IP4 127.0.0.1\r\n"
	                 "t=0 0\r\n"
	                 "m=audio %u RTP/AVP 0 8 101\r\n"
	                 "a=rtpmap:0 PCMU/8000\r\n"
	                 "a=rtpmap:8 PCMA/8000\r\n"
	                 "a=rtpmap:101 telephone-event/8000\r\n"
	                 "a=fmtp:101 0-16\r\n"
	                 "a=ptime:20\r\n"
	                 "a=sendrecv\r\n",
	                 k->number, port);
	return n > 0 && (size_t)n < sizeof x->sdp ? (size_t)n : 0;
}

/* INVITE with CSeq k->invite_cseq; auth is a whole credentials header line
 * ("Proxy-Authorization: ...\r\n") or "". */
static int send_invite(struct ctx *x, struct conn *c, struct call *k, const char *auth)
{
	size_t sdp_len = sdp_offer(x, c, k);
	k->invite_branch = wsc_rand();
	int n = snprintf(x->scratch, sizeof x->scratch,
	                 "INVITE sip:%s@%s SIP/2.0\r\n"
	                 "Via: SIP/2.0/%s %s;branch=z9hG4bK%016" PRIx64 "\r\n",
	                 x->own.callee, x->o.realm, x->via_transport, c->host, k->invite_branch);
	if (n < 0 || (size_t)n >= sizeof x->scratch)
		return -ENOSPC;
	int m = common_headers(x, c, k, x->scratch + n, sizeof x->scratch - (size_t)n, NULL,
	                       k->invite_cseq, "INVITE");
	if (m < 0 || (size_t)(n + m) >= sizeof x->scratch)
		return -ENOSPC;
	n += m;
	m = snprintf(x->scratch + n, sizeof x->scratch - (size_t)n,
	             "Contact: <sip:k%08" PRIx32 "@%s;transport=%s>\r\n"
	             "%s"
	             "Allow: ACK,CANCEL,INVITE,MESSAGE,BYE,OPTIONS,INFO,NOTIFY,REFER\r\n"
	             "Supported: outbound\r\n"
	             "User-Agent: sipwire-bench\r\n"
	             "Content-Type: application/sdp\r\n"
	             "Content-Length: %zu\r\n"
	             "\r\n"
	             "%s",
	             c->tag, c->host, x->contact_transport, auth, sdp_len, x->sdp);
	if (m < 0)
		return -ENOSPC;
	return send_msg(x, c, n + m);
}

/* ACK or BYE inside the dialog d: to its target, through its route set. */
static int send_in_dialog(struct ctx *x, struct conn *c, struct call *k, const struct dialog *d,
                          const char *method, uint32_t cseq)
{
	int n = snprintf(x->scratch, sizeof x->scratch,
	                 "%s %s SIP/2.0\r\n"
	                 "Via: SIP/2.0/%s %s;branch=z9hG4bK%016" PRIx64 "\r\n"
	                 "%s",
	                 method, d->target, x->via_transport, c->host, wsc_rand(), d->route);
	if (n < 0 || (size_t)n >= sizeof x->scratch)
		return -ENOSPC;
	int m = common_headers(x, c, k, x->scratch + n, sizeof x->scratch - (size_t)n, d->to_tag,
	                       cseq, method);
	if (m < 0 || (size_t)(n + m) >= sizeof x->scratch)
		return -ENOSPC;
	n += m;
	m = snprintf(x->scratch + n, sizeof x->scratch - (size_t)n,
	             "User-Agent: sipwire-bench\r\n"
	             "Content-Length: 0\r\n"
	             "\r\n");
	if (m < 0)
		return -ENOSPC;
	return send_msg(x, c, n + m);
}

/* The ACK of a non-2xx final answer: part of the INVITE transaction (same
 * branch and Request-URI, the answer's To). */
static int send_error_ack(struct ctx *x, struct conn *c, struct call *k)
{
	char to_tag[64] = "";
	const struct sip_addr *to = sip_msg_to(x->msg);
	if (sip_pl_isset(to->tag) && sip_pl_strcpy(to->tag, to_tag, sizeof to_tag) < 0)
		to_tag[0] = '\0';
	int n = snprintf(x->scratch, sizeof x->scratch,
	                 "ACK sip:%s@%s SIP/2.0\r\n"
	                 "Via: SIP/2.0/%s %s;branch=z9hG4bK%016" PRIx64 "\r\n",
	                 x->own.callee, x->o.realm, x->via_transport, c->host, k->invite_branch);
	if (n < 0 || (size_t)n >= sizeof x->scratch)
		return -ENOSPC;
	int m = common_headers(x, c, k, x->scratch + n, sizeof x->scratch - (size_t)n,
	                       to_tag[0] ? to_tag : NULL, k->invite_cseq, "ACK");
	if (m < 0 || (size_t)(n + m) >= sizeof x->scratch)
		return -ENOSPC;
	n += m;
	m = snprintf(x->scratch + n, sizeof x->scratch - (size_t)n, "Content-Length: 0\r\n\r\n");
	if (m < 0)
		return -ENOSPC;
	return send_msg(x, c, n + m);
}

/* Reads the dialog out of a 2xx to our INVITE: the to-tag, the Contact URI and
 * the route set (Record-Route in reverse, every entry taken to be a loose
 * router). Returns -EPROTO when something is missing or does not fit. */
static int dialog_from_2xx(const struct ctx *x, struct dialog *d)
{
	const struct sip_addr *to = sip_msg_to(x->msg);
	if (!sip_pl_isset(to->tag) || !to->tag.l ||
	    sip_pl_strcpy(to->tag, d->to_tag, sizeof d->to_tag) < 0)
		return -EPROTO;
	struct sip_value_iter it = {0};
	sip_pl v;
	struct sip_contact ct;
	if (!sip_msg_value_next(x->msg, SIP_HDR_CONTACT, &it, &v) || sip_contact_parse(v, &ct) ||
	    ct.star || sip_pl_strcpy(ct.addr.uri_text, d->target, sizeof d->target) < 0)
		return -EPROTO;
	sip_pl rr[16];
	unsigned n = 0;
	it = (struct sip_value_iter){0};
	while (sip_msg_value_next(x->msg, SIP_HDR_RECORD_ROUTE, &it, &v)) {
		if (n == 16)
			return -EPROTO;
		rr[n++] = v;
	}
	size_t off = 0;
	d->route[0] = '\0';
	while (n--) {
		int w = snprintf(d->route + off, sizeof d->route - off, "Route: %.*s\r\n",
		                 (int)rr[n].l, rr[n].p);
		if (w < 0 || (size_t)w >= sizeof d->route - off)
			return -EPROTO;
		off += (size_t)w;
	}
	return 0;
}

/* ---- a call's life ---- */

static void call_end(struct ctx *x, struct conn *c, struct call *k)
{
	if (k->phase == CALL_UP || k->phase == CALL_BYE)
		x->up--;
	k->phase = CALL_IDLE;
	c->busy--;
	x->in_flight--;
}

static void call_fail(struct ctx *x, struct conn *c, struct call *k, enum fail_kind kind)
{
	if (k->counted || measuring(x))
		x->st.fail[kind]++;
	call_end(x, c, k);
}

static void conn_close(struct ctx *x, struct conn *c)
{
	wsc_close(x->pool, c->ws);
}

static void call_start(struct ctx *x, struct conn *c, struct call *k, uint64_t due)
{
	k->phase = CALL_INVITING;
	k->counted = measuring(x);
	k->authed = false;
	k->number = x->next_number++;
	k->invite_cseq = 1;
	k->t_due = due;
	k->deadline = wsc_now_ns() + timeout_ns(x);
	c->busy++;
	x->in_flight++;
	if (k->counted)
		x->st.started++;
	if (send_invite(x, c, k, "")) {
		call_fail(x, c, k, FAIL_SEND);
		conn_close(x, c);
	}
}

static void call_bye(struct ctx *x, struct conn *c, struct call *k)
{
	k->phase = CALL_BYE;
	k->deadline = wsc_now_ns() + timeout_ns(x);
	if (send_in_dialog(x, c, k, &k->d, "BYE", k->invite_cseq + 1)) {
		call_fail(x, c, k, FAIL_SEND);
		conn_close(x, c);
	}
}

/* Answers a 401/407 to the first INVITE: ACK, then the INVITE again. */
static void call_answer_challenge(struct ctx *x, struct conn *c, struct call *k, int status)
{
	bool proxy = status == 407;
	const struct sip_hdr *h =
	    sip_msg_hdr(x->msg, proxy ? SIP_HDR_PROXY_AUTHENTICATE : SIP_HDR_WWW_AUTHENTICATE);
	struct sip_auth_challenge ch;
	if (send_error_ack(x, c, k)) {
		call_fail(x, c, k, FAIL_SEND);
		conn_close(x, c);
		return;
	}
	if (k->authed || !h || sip_auth_challenge_parse(h->value, &ch)) {
		call_fail(x, c, k, FAIL_AUTH);
		return;
	}
	char uri[256];
	snprintf(uri, sizeof uri, "sip:%s@%s", x->own.callee, x->o.realm);
	size_t sdp_len = sdp_offer(x, c, k);
	const char *name = proxy ? "Proxy-Authorization: " : "Authorization: ";
	size_t nl = strlen(name);
	memcpy(x->auth, name, nl);
	int n = load_digest_answer(&x->o, conn_index(x, c), &ch, "INVITE", uri,
	                           (sip_pl){x->sdp, sdp_len}, x->auth + nl, sizeof x->auth - nl - 2);
	if (n < 0) {
		call_fail(x, c, k, FAIL_AUTH);
		return;
	}
	memcpy(x->auth + nl + (size_t)n, "\r\n", 3);
	k->authed = true;
	k->invite_cseq++;
	if (measuring(x))
		x->st.challenged++;
	if (send_invite(x, c, k, x->auth)) {
		call_fail(x, c, k, FAIL_SEND);
		conn_close(x, c);
	}
}

static void count_code(uint32_t *by_code, bool counted, int status)
{
	if (counted && status >= 0 && status < 700)
		by_code[status]++;
}

static void on_invite_answer(struct ctx *x, struct conn *c, struct call *k, int status,
                             uint32_t cseq)
{
	if (status < 200)
		return;
	if (k->phase != CALL_INVITING || cseq != k->invite_cseq) {
		/* A 2xx again (the UAS retransmits it until our ACK arrives):
		 * acknowledge it again. */
		if (status < 300 && (k->phase == CALL_UP || k->phase == CALL_BYE) &&
		    cseq == k->invite_cseq &&
		    send_in_dialog(x, c, k, &k->d, "ACK", k->invite_cseq)) {
			call_fail(x, c, k, FAIL_SEND);
			conn_close(x, c);
		}
		return;
	}
	if (status >= 300) {
		if ((status == 401 || status == 407) && !k->authed) {
			call_answer_challenge(x, c, k, status);
			return;
		}
		count_code(x->st.bad_status, k->counted || measuring(x), status);
		if (status < 700 && !x->st.reason[status][0])
			sip_pl_strcpy(sip_msg_reason(x->msg), x->st.reason[status],
			              sizeof x->st.reason[status]);
		bool sent = !send_error_ack(x, c, k);
		call_fail(x, c, k, status == 401 || status == 407 ? FAIL_AUTH : FAIL_REJECTED);
		if (!sent)
			conn_close(x, c);
		return;
	}
	if (dialog_from_2xx(x, &k->d)) {
		call_fail(x, c, k, FAIL_BAD_ANSWER);
		return;
	}
	uint64_t now = wsc_now_ns();
	if (measuring(x)) {
		x->st.setups++;
		wsc_latency_add(&x->st.setup, now - k->t_due);
	}
	k->phase = CALL_UP;
	x->up++;
	if (send_in_dialog(x, c, k, &k->d, "ACK", k->invite_cseq)) {
		call_fail(x, c, k, FAIL_SEND);
		conn_close(x, c);
		return;
	}
	k->bye_at = now + (uint64_t)x->own.hold_ms * 1000000u;
	if (!x->own.hold_ms)
		call_bye(x, c, k);
}

/* A 2xx for a call that is gone (it timed out, or its slot holds a newer
 * call): ACK and BYE it so the server does not keep it. The BYE's answer is
 * ignored. */
static void end_stray_call(struct ctx *x, struct conn *c, unsigned si, uint32_t number,
                           uint32_t cseq)
{
	struct call stray = {.slot = (uint16_t)si, .number = number, .invite_cseq = cseq};
	if (dialog_from_2xx(x, &stray.d))
		return;
	if (send_in_dialog(x, c, &stray, &stray.d, "ACK", cseq) ||
	    send_in_dialog(x, c, &stray, &stray.d, "BYE", cseq + 1))
		conn_close(x, c);
}

/* ---- registration (--register) ---- */

static int reg_send(struct ctx *x, struct conn *c, const char *auth)
{
	c->reg_cseq++;
	struct load_register r = {
	    .conn = conn_index(x, c),
	    .run_id = x->run_id,
	    .tag = c->tag,
	    .cseq = c->reg_cseq,
	    .host = c->host,
	    .via_transport = x->via_transport,
	    .contact_transport = x->contact_transport,
	    .tag_key = "r",
	    .call_key = "r",
	    .auth = auth,
	};
	int n = load_register_format(x->scratch, sizeof x->scratch, &x->o, &r);
	if (n < 0)
		return n;
	return send_msg(x, c, n);
}

static void reg_fail(struct ctx *x, struct conn *c)
{
	c->reg = REG_FAILED;
	x->reg_failed++;
}

static void reg_start(struct ctx *x, struct conn *c)
{
	c->reg = REG_WAIT_CHALLENGE;
	c->reg_deadline = wsc_now_ns() + timeout_ns(x);
	if (reg_send(x, c, NULL)) {
		reg_fail(x, c);
		conn_close(x, c);
	}
}

static void on_register_answer(struct ctx *x, struct conn *c, int status, uint32_t cseq)
{
	if (status < 200 || cseq != c->reg_cseq ||
	    (c->reg != REG_WAIT_CHALLENGE && c->reg != REG_WAIT_OK))
		return;
	if (status == 200) {
		c->reg = REG_DONE;
		x->registered++;
		return;
	}
	const struct sip_hdr *h = sip_msg_hdr(x->msg, SIP_HDR_WWW_AUTHENTICATE);
	struct sip_auth_challenge ch;
	if (status != 401 || c->reg != REG_WAIT_CHALLENGE || !h ||
	    sip_auth_challenge_parse(h->value, &ch)) {
		fprintf(stderr, "bench_calls: REGISTER of connection %u answered %d\n",
		        conn_index(x, c), status);
		reg_fail(x, c);
		return;
	}
	char uri[160];
	snprintf(uri, sizeof uri, "sip:%s", x->o.realm);
	if (load_digest_answer(&x->o, conn_index(x, c), &ch, "REGISTER", uri, (sip_pl){0}, x->auth,
	                       sizeof x->auth) < 0) {
		reg_fail(x, c);
		return;
	}
	c->reg = REG_WAIT_OK;
	if (reg_send(x, c, x->auth)) {
		reg_fail(x, c);
		conn_close(x, c);
	}
}

/* ---- what the server sends ---- */

/* Parses our Call-ID "RUN-CONN-SLOT-NUMBER" (or "RUN-CONN-r" for the
 * registration: *slot is then -2). Returns -1 when it is not ours. */
static int parse_call_id(const struct ctx *x, const struct conn *c, sip_pl id, int *slot,
                         uint32_t *number)
{
	char want[32];
	int n = snprintf(want, sizeof want, "%08" PRIx32 "-%u-", x->run_id, conn_index(x, c));
	if (n < 0 || id.l <= (size_t)n || memcmp(id.p, want, (size_t)n))
		return -1;
	sip_pl rest = {id.p + n, id.l - (size_t)n};
	if (rest.l == 1 && rest.p[0] == 'r') {
		*slot = -2;
		return 0;
	}
	const char *dash = memchr(rest.p, '-', rest.l);
	if (!dash)
		return -1;
	uint32_t si;
	if (sip_pl_u32((sip_pl){rest.p, (size_t)(dash - rest.p)}, x->o.outstanding - 1, &si) ||
	    sip_pl_u32((sip_pl){dash + 1, rest.l - (size_t)(dash - rest.p) - 1}, UINT32_MAX,
	               number))
		return -1;
	*slot = (int)si;
	return 0;
}

/* Appends to the message being built in scratch; *n goes past the end on
 * overflow, which send_msg() then refuses. */
static void append(struct ctx *x, int *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(struct ctx *x, int *n, const char *fmt, ...)
{
	if (*n < 0 || (size_t)*n >= sizeof x->scratch)
		return;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(x->scratch + *n, sizeof x->scratch - (size_t)*n, fmt, ap);
	va_end(ap);
	*n = w < 0 ? -1 : *n + w;
}

/* Answers a request from the server with the headers RFC 3261 §8.2.6 copies. */
static void reply(struct ctx *x, struct conn *c, int status, const char *reason)
{
	const struct sip_hdr *from = sip_msg_hdr(x->msg, SIP_HDR_FROM);
	const struct sip_hdr *to = sip_msg_hdr(x->msg, SIP_HDR_TO);
	const struct sip_hdr *cseq = sip_msg_hdr(x->msg, SIP_HDR_CSEQ);
	sip_pl call_id = sip_msg_call_id(x->msg);
	if (!from || !to || !cseq)
		return;
	int n = 0;
	append(x, &n, "SIP/2.0 %d %s\r\n", status, reason);
	for (const struct sip_hdr *h = sip_msg_hdr(x->msg, SIP_HDR_VIA); h;
	     h = sip_msg_hdr_next(x->msg, h))
		append(x, &n, "Via: %.*s\r\n", (int)h->value.l, h->value.p);
	append(x, &n, "From: %.*s\r\n", (int)from->value.l, from->value.p);
	append(x, &n, "To: %.*s", (int)to->value.l, to->value.p);
	if (!sip_pl_isset(sip_msg_to(x->msg)->tag))
		append(x, &n, ";tag=%08" PRIx32, c->tag);
	append(x, &n,
	       "\r\nCall-ID: %.*s\r\n"
	       "CSeq: %.*s\r\n"
	       "Content-Length: 0\r\n"
	       "\r\n",
	       (int)call_id.l, call_id.p, (int)cseq->value.l, cseq->value.p);
	if (send_msg(x, c, n) && n >= 0 && (size_t)n < sizeof x->scratch)
		conn_close(x, c);
}

/* A request from the server: a BYE ends its call (a failure: we hang up);
 * an ACK needs nothing; an INVITE is refused; anything else gets a 200. */
static void on_request(struct ctx *x, struct conn *c)
{
	enum sip_method m = sip_msg_method(x->msg);
	if (m == SIP_METHOD_ACK)
		return;
	if (m == SIP_METHOD_INVITE) {
		reply(x, c, 488, "Not Acceptable Here");
		return;
	}
	reply(x, c, 200, "OK");
	if (m != SIP_METHOD_BYE)
		return;
	int si;
	uint32_t number;
	if (parse_call_id(x, c, sip_msg_call_id(x->msg), &si, &number) || si < 0)
		return;
	struct call *k = &c->calls[si];
	if (k->number == number && k->phase != CALL_IDLE)
		call_fail(x, c, k, FAIL_REMOTE_BYE);
}

static void on_sip_conn(struct ctx *x, struct conn *c, char *p, size_t len)
{
	size_t consumed;
	struct sip_parse_error err;
	enum sip_parse_result r =
	    sip_msg_parse(x->msg, p, len, SIP_PARSE_DATAGRAM, &consumed, &err);
	if (r == SIP_PARSE_KEEPALIVE)
		return;
	if (r != SIP_PARSE_OK) {
		/* Unmatched: charge it to the oldest call in flight. */
		for (unsigned i = 0; i < x->o.outstanding; i++)
			if (c->calls[i].phase != CALL_IDLE) {
				call_fail(x, c, &c->calls[i], FAIL_BAD_MESSAGE);
				break;
			}
		return;
	}
	if (sip_msg_is_request(x->msg)) {
		on_request(x, c);
		return;
	}
	int si;
	uint32_t number;
	if (parse_call_id(x, c, sip_msg_call_id(x->msg), &si, &number))
		return;
	const struct sip_cseq *cseq = sip_msg_cseq(x->msg);
	int status = sip_msg_status(x->msg);
	if (si == -2) {
		if (cseq->method == SIP_METHOD_REGISTER)
			on_register_answer(x, c, status, cseq->seq);
		return;
	}
	struct call *k = &c->calls[si];
	if (k->number != number || k->phase == CALL_IDLE) {
		if (cseq->method == SIP_METHOD_INVITE && status >= 200 && status < 300)
			end_stray_call(x, c, (unsigned)si, number, cseq->seq);
		return;
	}
	if (cseq->method == SIP_METHOD_INVITE) {
		on_invite_answer(x, c, k, status, cseq->seq);
	} else if (cseq->method == SIP_METHOD_BYE && k->phase == CALL_BYE && status >= 200) {
		if (status == 200) {
			if (measuring(x))
				x->st.ok++;
			call_end(x, c, k);
		} else {
			count_code(x->st.bad_bye_status, k->counted || measuring(x), status);
			call_fail(x, c, k, FAIL_BYE_REJECTED);
		}
	}
}

static void on_sip(void *arg, struct wsc_conn *ws, char *p, size_t len)
{
	struct ctx *x = arg;
	on_sip_conn(x, &x->conns[wsc_conn_index(x->pool, ws)], p, len);
}

/* A datagram (--udp): its Call-ID names the connection it belongs to. */
static void on_datagram(struct ctx *x, char *p, size_t len)
{
	size_t consumed;
	struct sip_parse_error err;
	if (sip_msg_parse(x->msg, p, len, SIP_PARSE_DATAGRAM, &consumed, &err) != SIP_PARSE_OK)
		return;
	sip_pl id = sip_msg_call_id(x->msg);
	const char *dash = memchr(id.p, '-', id.l);
	uint32_t ci;
	if (!dash || dash + 1 >= id.p + id.l)
		return;
	sip_pl rest = {dash + 1, (size_t)(id.p + id.l - dash - 1)};
	const char *end = memchr(rest.p, '-', rest.l);
	if (!end || sip_pl_u32((sip_pl){rest.p, (size_t)(end - rest.p)}, x->o.connections - 1, &ci))
		return;
	on_sip_conn(x, &x->conns[ci], p, len);
}

static void io_poll(struct ctx *x, int timeout_ms)
{
	if (!x->own.udp) {
		wsc_poll(x->pool, timeout_ms);
		return;
	}
	struct epoll_event ev;
	if (epoll_wait(x->udp_ep, &ev, 1, timeout_ms) != 1)
		return;
	static char buf[65536];
	for (int i = 0; i < 256; i++) {
		ssize_t n = recv(x->udp_fd, buf, sizeof buf - 1, MSG_DONTWAIT);
		if (n <= 0)
			break;
		on_datagram(x, buf, (size_t)n);
	}
}

/* --udp: one socket toward the UAS at --host:--port. */
static int udp_open(struct ctx *x)
{
	x->udp_peer.sin_family = AF_INET;
	x->udp_peer.sin_port = htons((uint16_t)x->o.port);
	if (inet_pton(AF_INET, x->o.host, &x->udp_peer.sin_addr) != 1)
		return -EINVAL;
	x->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->udp_fd < 0)
		return -errno;
	int size = 4 << 20;
	setsockopt(x->udp_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	setsockopt(x->udp_fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	struct sockaddr_in local = {.sin_family = AF_INET, .sin_addr = x->udp_peer.sin_addr};
	socklen_t len = sizeof local;
	if (bind(x->udp_fd, (struct sockaddr *)&local, sizeof local) ||
	    getsockname(x->udp_fd, (struct sockaddr *)&local, &len))
		return -errno;
	x->udp_ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN};
	if (x->udp_ep < 0 || epoll_ctl(x->udp_ep, EPOLL_CTL_ADD, x->udp_fd, &ev))
		return -errno;
	for (unsigned i = 0; i < x->o.connections; i++)
		snprintf(x->conns[i].host, sizeof x->conns[i].host, "%s:%u", x->o.host,
		         (unsigned)ntohs(local.sin_port));
	return 0;
}

/* A connection is closing: whatever it had in flight failed. */
static void on_close(void *arg, struct wsc_conn *ws)
{
	struct ctx *x = arg;
	struct conn *c = &x->conns[wsc_conn_index(x->pool, ws)];
	for (unsigned i = 0; i < x->o.outstanding; i++)
		if (c->calls[i].phase != CALL_IDLE)
			call_fail(x, c, &c->calls[i], FAIL_CLOSED);
	if (c->reg == REG_WAIT_CHALLENGE || c->reg == REG_WAIT_OK)
		reg_fail(x, c);
}

/* ---- the loop ---- */

/* Timeouts, and BYEs whose hold is over. */
static void check_timers(struct ctx *x, uint64_t now)
{
	for (unsigned i = 0; i < x->o.connections; i++) {
		struct conn *c = &x->conns[i];
		if (!c->busy)
			continue;
		for (unsigned s = 0; s < x->o.outstanding; s++) {
			struct call *k = &c->calls[s];
			if (k->phase == CALL_INVITING && now > k->deadline)
				call_fail(x, c, k, FAIL_SETUP_TIMEOUT);
			else if (k->phase == CALL_UP && now >= k->bye_at && usable(x, c))
				call_bye(x, c, k);
			else if (k->phase == CALL_BYE && now > k->deadline)
				call_fail(x, c, k, FAIL_BYE_TIMEOUT);
		}
	}
}

static bool may_start(void *arg)
{
	const struct ctx *x = arg;
	return (x->phase == PH_WARMUP || x->phase == PH_MEASURE) &&
	       (!x->o.count || x->phase != PH_MEASURE || x->st.started < x->o.count);
}

/* ---- the slots, as the drivers see them ---- */

static bool slots_usable(void *arg, unsigned conn)
{
	const struct ctx *x = arg;
	return usable(x, &x->conns[conn]);
}

static unsigned slots_busy(void *arg, unsigned conn)
{
	const struct ctx *x = arg;
	return x->conns[conn].busy;
}

static bool slots_idle(void *arg, unsigned conn, unsigned slot)
{
	const struct ctx *x = arg;
	return x->conns[conn].calls[slot].phase == CALL_IDLE;
}

static void slots_start(void *arg, unsigned conn, unsigned slot, uint64_t due)
{
	struct ctx *x = arg;
	call_start(x, &x->conns[conn], &x->conns[conn].calls[slot], due);
}

/* Concurrent: ramp up paced at N per hold time, then replace each call that
 * ends. Latency counts from the start (there is no schedule to fall behind). */
static void fill_concurrent(struct ctx *x)
{
	uint64_t now = wsc_now_ns();
	uint64_t step = (uint64_t)x->own.hold_ms * 1000000u / x->own.concurrent;
	while (x->in_flight < x->own.concurrent && may_start(x)) {
		bool ramping = x->ramp_started < x->own.concurrent;
		if (ramping && x->driver.sched_next > now)
			return;
		int c = load_next_conn(&x->driver);
		if (c < 0)
			return;
		load_start_idle(&x->driver, (unsigned)c, now);
		if (ramping) {
			x->ramp_started++;
			x->driver.sched_next += step;
		}
	}
}

/* ---- figures ---- */

static double pct_us(const struct stats *st, double q)
{
	return wsc_latency_pct_us(&st->setup, q);
}

static uint64_t fail_total(const struct stats *st)
{
	return load_fail_total(st->fail, FAIL__COUNT);
}

static void print_failures(const struct stats *st)
{
	load_print_failures(FAIL_NAMES, st->fail, FAIL__COUNT);
	for (int s = 0; s < 700; s++)
		if (st->bad_status[s])
			printf("  INVITE answered %d %s: %" PRIu32 "\n", s, st->reason[s],
			       st->bad_status[s]);
	for (int s = 0; s < 700; s++)
		if (st->bad_bye_status[s])
			printf("  BYE answered %d:      %" PRIu32 "\n", s, st->bad_bye_status[s]);
}

/* "code:count,..." of the most frequent final answers, or "-". */
static void print_codes(const uint32_t *by_code)
{
	bool any = false;
	for (int s = 0; s < 700; s++)
		if (by_code[s]) {
			printf("%s%d:%" PRIu32, any ? "," : "", s, by_code[s]);
			any = true;
		}
	if (!any)
		printf("-");
}

static void result_failures(const struct stats *st)
{
	load_result_failures(FAIL_NAMES, st->fail, FAIL__COUNT);
	printf(" invite_codes=");
	print_codes(st->bad_status);
	printf(" bye_codes=");
	print_codes(st->bad_bye_status);
}

/* The server's memory with the most calls up seen (concurrent mode). */
struct memory_watch {
	bool have_base, have;
	struct wsc_proc_usage base, best;
	uint64_t calls_up;
	uint64_t next_read;
};

static void memory_sample(struct ctx *x, struct memory_watch *m, uint64_t now)
{
	if (!x->o.server_pid || now < m->next_read)
		return;
	m->next_read = now + wsc_sec_to_ns(1);
	uint64_t up = x->up;
	struct wsc_proc_usage u;
	if (up > m->calls_up && !wsc_proc_usage_read(x->o.server_pid, true, &u)) {
		m->best = u;
		m->calls_up = up;
		m->have = true;
	}
}

static const char *mode_name(const struct ctx *x)
{
	return x->own.concurrent ? "concurrent" : x->o.rate > 0 ? "paced" : "closed";
}

static int run_load(struct ctx *x)
{
	const struct load_options *o = &x->o;
	const struct options *own = &x->own;
	struct memory_watch mem = {0};
	if (own->concurrent && o->server_pid)
		mem.have_base = !wsc_proc_usage_read(o->server_pid, true, &mem.base);
	uint64_t t = wsc_now_ns();
	x->phase = PH_WARMUP;
	uint64_t measure_at = t + wsc_sec_to_ns(o->warmup);
	uint64_t stop_at = measure_at + wsc_sec_to_ns(o->duration);
	uint64_t last_timer_check = t;
	struct load_window w;
	load_window_init(&w, o, own->uas_pid, t);
	x->driver.sched_next = t;
	uint64_t drain_until = 0;
	bool started = false;
	for (;;) {
		uint64_t now = wsc_now_ns();
		if (!started && now >= measure_at) {
			started = true;
			x->phase = PH_MEASURE;
			load_window_start(&w, now);
		}
		bool all_closed = !own->udp && !wsc_counts(x->pool).open && !x->in_flight;
		if (x->phase == PH_MEASURE &&
		    (now >= stop_at || (o->count && x->st.started >= o->count) || all_closed)) {
			/* The window ends here: what completes later (the calls still
			 * held, their BYEs) is not counted, as what completed in it
			 * from before it began was. */
			x->phase = PH_DRAIN;
			load_window_stop(&w, now);
			drain_until = now + timeout_ns(x) * 2 + (uint64_t)own->hold_ms * 1000000u +
			              wsc_sec_to_ns(0.1);
		}
		if (x->phase == PH_DRAIN && (!x->in_flight || now >= drain_until))
			break;
		if (now - last_timer_check >= 1000000u) {
			check_timers(x, now);
			last_timer_check = now;
		}
		if (x->phase == PH_MEASURE && own->concurrent)
			memory_sample(x, &mem, now);
		if (all_closed) {
			fprintf(stderr, "bench_calls: every connection is closed\n");
			break;
		}
		if (own->concurrent)
			fill_concurrent(x);
		else if (o->rate > 0)
			load_fill_paced(&x->driver);
		else
			load_fill_closed_loop(&x->driver);
		io_poll(x, 1);
	}
	if (!w.t1) { /* closed before the window began */
		w.t1 = wsc_now_ns();
		w.client1 = wsc_self_cpu_us();
		w.server.have = w.uas.have = false;
	}
	check_timers(x, UINT64_MAX); /* whatever is left did not finish in time */

	struct stats *st = &x->st;
	struct wsc_counts k = wsc_counts(x->pool);
	wsc_latency_sort(&st->setup);
	struct load_figures f;
	load_window_figures(&w, st->ok, &f);
	double setup_rate = (double)st->setups / f.secs;
	double rate = (double)st->ok / f.secs;
	double n_up = mem.calls_up ? (double)mem.calls_up : 1;
	bool have_mem = mem.have_base && mem.have;
	double pss_per =
	    have_mem ? ((double)mem.best.pss_kib - (double)mem.base.pss_kib) / n_up : -1;
	double rss_per =
	    have_mem ? ((double)mem.best.rss_kib - (double)mem.base.rss_kib) / n_up : -1;

	printf("bench_calls %s: %s, %u connections (%u failed to open), %u calls in flight "
	       "each at most, hold %u ms\n",
	       o->label,
	       own->concurrent ? "concurrent calls"
	       : o->rate > 0   ? "paced"
	                       : "closed loop",
	       x->opened, k.connect_failed, o->outstanding, own->hold_ms);
	if (own->do_register)
		printf("  registered connections %u (%u failed)\n", x->registered, x->reg_failed);
	if (own->concurrent)
		printf("  calls kept up          %u\n", own->concurrent);
	if (o->rate > 0)
		printf("  offered rate           %.0f calls/s\n", o->rate);
	printf("  measured               %.2f s (after %.1f s warm-up)\n", f.secs, o->warmup);
	printf("  calls started          %" PRIu64 "\n", st->started);
	printf("  calls answered (2xx)   %" PRIu64 " (%.0f setups/s)\n", st->setups, setup_rate);
	printf("  calls complete         %" PRIu64 " (%.0f/s, BYE answered 200)\n", st->ok, rate);
	if (st->challenged)
		printf("  INVITEs challenged     %" PRIu64 " (answered with credentials)\n",
		       st->challenged);
	printf("  setup p50/p90/p99      %.0f / %.0f / %.0f us\n", pct_us(st, 0.50),
	       pct_us(st, 0.90), pct_us(st, 0.99));
	printf("  setup max              %.0f us\n", pct_us(st, 1.0));
	print_failures(st);
	load_print_lost(x->pool);
	load_print_cpu(&w, &f, "complete call");
	if (have_mem) {
		printf("  server PSS             %" PRIu64 " KiB with no call, %" PRIu64
		       " KiB with %" PRIu64 " calls up\n",
		       mem.base.pss_kib, mem.best.pss_kib, mem.calls_up);
		printf("  per call up            %.1f KiB PSS, %.1f KiB RSS\n", pss_per, rss_per);
	}
	printf("RESULT label=%s mode=%s connections=%u outstanding=%u concurrent=%u hold_ms=%u "
	       "offered_rate=%.0f seconds=%.3f started=%" PRIu64 " setups=%" PRIu64 " ok=%" PRIu64
	       " challenged=%" PRIu64
	       " setup_rate=%.0f rate=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f "
	       "max_us=%.0f",
	       o->label, mode_name(x), x->opened, o->outstanding, own->concurrent, own->hold_ms,
	       o->rate, f.secs, st->started, st->setups, st->ok, st->challenged, setup_rate, rate,
	       pct_us(st, 0.50), pct_us(st, 0.90), pct_us(st, 0.99), pct_us(st, 1.0));
	result_failures(st);
	load_result_cpu(&w, &f, "call", true);
	printf(" calls_up=%" PRIu64 " pss_base_kib=%" PRIu64 " pss_calls_kib=%" PRIu64
	       " pss_kib_per_call=%.1f rss_kib_per_call=%.1f registered=%u reg_failed=%u "
	       "connect_failed=%u conn_lost=%u\n",
	       mem.calls_up, have_mem ? mem.base.pss_kib : 0, have_mem ? mem.best.pss_kib : 0,
	       pss_per, rss_per, x->registered, x->reg_failed, k.connect_failed, k.lost);
	return fail_total(st) || k.connect_failed || k.lost || x->reg_failed || !st->ok ? 1 : 0;
}

/* --register: every open connection registers once, at most 200 at a time. */
static void register_all(struct ctx *x)
{
	x->phase = PH_REGISTER;
	uint64_t deadline = wsc_now_ns() + wsc_sec_to_ns(60) + timeout_ns(x);
	unsigned next = 0, pending = 0;
	uint64_t last_check = wsc_now_ns();
	while (wsc_now_ns() < deadline) {
		pending = 0;
		for (unsigned i = 0; i < next; i++)
			if (x->conns[i].reg == REG_WAIT_CHALLENGE || x->conns[i].reg == REG_WAIT_OK)
				pending++;
		while (next < x->o.connections && pending < 200) {
			struct conn *c = &x->conns[next++];
			if (usable(x, c)) {
				reg_start(x, c);
				pending++;
			}
		}
		if (next == x->o.connections && !pending)
			break;
		uint64_t now = wsc_now_ns();
		if (now - last_check > 10000000u) {
			for (unsigned i = 0; i < next; i++) {
				struct conn *c = &x->conns[i];
				if ((c->reg == REG_WAIT_CHALLENGE || c->reg == REG_WAIT_OK) &&
				    now > c->reg_deadline)
					reg_fail(x, c);
			}
			last_check = now;
		}
		io_poll(x, 10);
	}
	for (unsigned i = 0; i < x->o.connections; i++)
		if (x->conns[i].reg == REG_WAIT_CHALLENGE || x->conns[i].reg == REG_WAIT_OK)
			reg_fail(x, &x->conns[i]);
	fprintf(stderr, "bench_calls: %u connections registered, %u failed\n", x->registered,
	        x->reg_failed);
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_calls [options]\n"
	           "  --host ADDR              server IPv4 address [127.0.0.1]\n"
	           "  --port N                 server WebSocket port [8080]\n"
	           "  --path PATH              request path of the upgrade [/]\n"
	           "  --connections C          WebSocket connections [100]\n"
	           "  --users U                users; connection i calls as user i mod U\n"
	           "                           [0: one user per connection]\n"
	           "  --user-prefix P          user i is P<i> [u]\n"
	           "  --password-prefix P      the password of user i is P<i> [pw]\n"
	           "  --realm R                domain of From, To and the Request-URI\n"
	           "                           [sipwire.test]\n"
	           "  --callee USER            user part of the Request-URI [bench]\n"
	           "  --rate R                 paced, R calls/s; 0: closed loop [0]\n"
	           "  --outstanding N          calls in flight per connection [1; paced: 16;\n"
	           "                           concurrent: what N calls need]\n"
	           "  --concurrent N           keep N calls up (needs --hold-ms)\n"
	           "  --hold-ms MS             time between the ACK and the BYE [0]\n"
	           "  --duration S             measured seconds [10]\n"
	           "  --warmup S               seconds of load before measuring [0]\n"
	           "  --count N                stop after N calls (0: no bound) [0]\n"
	           "  --timeout MS             an INVITE or BYE fails after MS [5000]\n"
	           "  --register               register every connection first (digest)\n"
	           "  --expires S              Expires of that registration [600]\n"
	           "  --server-pid PID         read CPU and memory of PID and its descendants\n"
	           "  --uas-pid PID            read CPU of the called party (sipp)\n"
	           "  --server-core N          the core the server is pinned to: report how busy\n"
	           "                           it was with anything else during the measurement\n"
	           "  --connect-concurrency N  handshakes in flight while connecting [256]\n"
	           "  --tls                    WSS (TLS, the certificate is not checked)\n"
	           "  --udp                    no WebSocket: plain SIP over UDP straight to a\n"
	           "                           UAS at --host:--port, to measure its own latency\n"
	           "  --label NAME             name on the RESULT line [server]\n");
}

enum { O_CALLEE = LOAD_OPTION_TOOL, O_CONC, O_HOLDMS, O_REG, O_UAS, O_UDP };

static const struct option OWN_OPTIONS[] = {
    {"callee", required_argument, NULL, O_CALLEE},
    {"concurrent", required_argument, NULL, O_CONC},
    {"hold-ms", required_argument, NULL, O_HOLDMS},
    {"register", no_argument, NULL, O_REG},
    {"uas-pid", required_argument, NULL, O_UAS},
    {"udp", no_argument, NULL, O_UDP},
    {NULL, 0, NULL, 0},
};

static int parse_own(void *arg, int id, const char *value)
{
	struct options *o = arg;
	unsigned long long v;
	int bad = 0;
	switch (id) {
	case O_CALLEE:
		o->callee = value;
		break;
	case O_CONC:
		bad = wsc_parse_uint(value, 1000000, &v);
		o->concurrent = (unsigned)v;
		break;
	case O_HOLDMS:
		bad = wsc_parse_uint(value, 3600000, &v);
		o->hold_ms = (unsigned)v;
		break;
	case O_REG:
		o->do_register = true;
		break;
	case O_UAS:
		bad = wsc_parse_uint(value, 1u << 30, &v);
		o->uas_pid = (int)v;
		break;
	case O_UDP:
		o->udp = true;
		break;
	}
	return bad;
}

static bool own_valid(void *arg, const struct load_options *shared)
{
	const struct options *o = arg;
	return !(o->concurrent && !o->hold_ms) && !(o->udp && (shared->tls || o->do_register));
}

static int parse_options(int argc, char **argv, struct ctx *x)
{
	x->own = (struct options){.callee = "bench"};
	const struct load_tool tool = {
	    .name = "bench_calls",
	    .outstanding_max = 10000,
	    .options = OWN_OPTIONS,
	    .parse = parse_own,
	    .valid = own_valid,
	    .usage = usage,
	    .arg = &x->own,
	};
	struct load_options *o = &x->o;
	if (load_options_parse(argc, argv, &tool, o))
		return -EINVAL;
	if (x->own.concurrent) {
		unsigned need = (x->own.concurrent + o->connections - 1) / o->connections;
		if (o->outstanding < need)
			o->outstanding = need;
		o->rate = 0;
	} else if (o->rate > 0 && !o->outstanding_given) {
		o->outstanding = 16;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct ctx x;
	if (parse_options(argc, argv, &x)) {
		usage(stderr);
		return 2;
	}
	if (load_pool_new("bench_calls", &x.o, &(struct wsc_handlers){on_sip, on_close, &x},
	                  &x.pool))
		return 2;
	x.run_id = (uint32_t)wsc_rand();
	x.msg = sip_msg_new(NULL);
	x.conns = calloc(x.o.connections, sizeof *x.conns);
	struct call *calls = calloc((size_t)x.o.connections * x.o.outstanding, sizeof *calls);
	if (!x.msg || !x.conns || !calls) {
		fprintf(stderr, "bench_calls: out of memory\n");
		return 2;
	}
	for (unsigned i = 0; i < x.o.connections; i++) {
		x.conns[i].ws = wsc_conn_at(x.pool, i);
		x.conns[i].tag = (uint32_t)wsc_rand();
		x.conns[i].calls = calls + (size_t)i * x.o.outstanding;
		for (unsigned s = 0; s < x.o.outstanding; s++)
			x.conns[i].calls[s].slot = (uint16_t)s;
		snprintf(x.conns[i].host, sizeof x.conns[i].host, "%08" PRIx32 ".invalid",
		         x.conns[i].tag);
	}
	x.driver = (struct load_driver){
	    .o = &x.o,
	    .s = {&x, slots_usable, slots_busy, slots_idle, slots_start, may_start},
	};
	x.via_transport = x.own.udp ? "UDP" : "WS";
	x.contact_transport = x.own.udp ? "udp" : "ws";
	x.udp_fd = x.udp_ep = -1;
	if (x.own.udp && udp_open(&x)) {
		fprintf(stderr, "bench_calls: no UDP socket toward %s:%u\n", x.o.host, x.o.port);
		return 2;
	}
	struct wsc_proc_usage u;
	if (load_server_check("bench_calls", &x.o, false, &u))
		return 2;
	x.opened = load_connect("bench_calls", x.pool, &x.o, x.own.udp);
	if (!x.opened) {
		load_result_unopened(&x.o, mode_name(&x), x.pool);
		return 1;
	}
	if (x.own.do_register)
		register_all(&x);
	int rc = run_load(&x);
	wsc_free(x.pool);
	wsc_latency_free(&x.st.setup);
	free(calls);
	free(x.conns);
	sip_msg_free(x.msg);
	if (x.udp_fd >= 0)
		close(x.udp_fd);
	if (x.udp_ep >= 0)
		close(x.udp_ep);
	return rc;
}
