/* bench_ua — what the UA core costs per call, without sockets: a caller UA
 * and a callee UA, each on its own transaction layer, joined by an
 * in-memory wire. Each round keeps `--concurrent` calls up at once: every
 * call is INVITE, 200 (with SDP both ways), ACK, then BYE and its 200, and
 * the clock then runs on until every transaction has ended. The figure is
 * process CPU time per call for both UAs together — parsing, transactions,
 * dialogs, sessions — which is what one B2BUA call (two legs) spends in the
 * sip/ layer for its SIP.
 *
 *   bench_ua [--calls N] [--concurrent C] [--quick] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sip/sip_build.h"
#include "sip/sip_msg.h"
#include "sip/sip_txn.h"
#include "sip/sip_ua.h"

struct wmsg {
	int to;
	char *bytes;
	size_t len;
};
static struct wmsg *wire;
static size_t wire_len, wire_cap, wire_next;
static uint64_t now;
static struct sip_msg *msg;
static unsigned long established, ended, messages;

struct side {
	int idx;
	char flow;
	struct sip_txn_layer *txn;
	struct sip_ua *ua;
	struct sip_ua_transport tp;
};
static struct side S[2];

static int wire_send(void *arg, const struct sip_txn_dest *d, const char *b, size_t len)
{
	struct side *sd = arg;
	(void)d;
	if (wire_len == wire_cap) {
		size_t cap = wire_cap ? wire_cap * 2 : 4096;
		struct wmsg *w = realloc(wire, cap * sizeof(*w));
		if (!w)
			return -ENOMEM;
		wire = w;
		wire_cap = cap;
	}
	char *copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, b, len);
	wire[wire_len++] = (struct wmsg){.to = 1 - sd->idx, .bytes = copy, .len = len};
	return 0;
}

static uint64_t clock_ms(void *arg)
{
	(void)arg;
	return now;
}

static const char sdp[] = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
                          "t=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\n"
                          "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
static int sdh_get(void *ctx, const void *o, char *buf, size_t size, size_t *len,
                   const char **ctype)
{
	(void)ctx;
	(void)o;
	if (size < sizeof(sdp))
		return -ENOSPC;
	memcpy(buf, sdp, sizeof(sdp) - 1);
	*len = sizeof(sdp) - 1;
	*ctype = "application/sdp";
	return 0;
}
static int sdh_set(void *ctx, const char *ct, const char *b, size_t l, const void *o)
{
	(void)ctx;
	(void)ct;
	(void)b;
	(void)l;
	(void)o;
	return 0;
}
static const struct sip_sdh_ops sdh_ops = {.get_description = sdh_get,
                                           .set_description = sdh_set};

static void on_state(void *arg, struct sip_session *s, enum sip_session_state st)
{
	(void)arg;
	(void)s;
	if (st == SIP_SESSION_ESTABLISHED)
		established++;
	else if (st == SIP_SESSION_TERMINATED)
		ended++;
}

static void on_invite(void *arg, struct sip_session *s)
{
	(void)arg;
	sip_session_set_sdh(s, (struct sip_sdh){&sdh_ops, NULL});
	sip_session_add_state_listener(s, on_state, NULL);
	sip_invitation_accept(s, NULL);
}

static void on_request(void *arg, struct sip_txn *txn, const struct sip_msg *m)
{
	struct side *sd = arg;
	sip_ua_receive_request(sd->ua, txn, m, &sd->tp);
}

static void pump(void)
{
	while (wire_next < wire_len) {
		struct wmsg cur = wire[wire_next++]; /* sends below may move the wire */
		struct wmsg *w = &cur;
		size_t used;
		struct sip_parse_error err;
		messages++;
		if (sip_msg_parse(msg, w->bytes, w->len, SIP_PARSE_DATAGRAM, &used, &err) ==
		    SIP_PARSE_OK) {
			struct side *to = &S[w->to];
			struct sip_txn_dest from = {.flow = &to->flow};
			if (sip_txn_layer_recv(to->txn, msg, &from, now) == SIP_TXN_RECV_STRAY &&
			    sip_msg_is_request(msg))
				sip_ua_receive_ack(to->ua, msg, &from);
		}
		free(w->bytes);
	}
	wire_len = wire_next = 0;
}

static void run_clock(uint64_t until)
{
	for (;;) {
		uint64_t d = UINT64_MAX;
		for (int i = 0; i < 2; i++) {
			uint64_t x = sip_txn_layer_next_deadline(S[i].txn);
			d = x < d ? x : d;
			x = sip_ua_next_deadline(S[i].ua);
			d = x < d ? x : d;
		}
		if (d > until)
			break;
		now = d > now ? d : now;
		for (int i = 0; i < 2; i++) {
			sip_txn_layer_tick(S[i].txn, now);
			sip_ua_tick(S[i].ua);
		}
		pump();
	}
	now = until;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long calls = 100000, concurrent = 1000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			calls = 2000;
			concurrent = 200;
		} else if (!strcmp(argv[i], "--calls") && i + 1 < argc) {
			calls = strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--concurrent") && i + 1 < argc) {
			concurrent = strtoul(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: bench_ua [--calls N] [--concurrent C] [--quick]\n");
			return 2;
		}
	}
	if (!concurrent || calls < concurrent)
		concurrent = calls ? calls : 1;
	msg = sip_msg_new(NULL);
	for (int i = 0; i < 2; i++) {
		struct side *sd = &S[i];
		sd->idx = i;
		sd->tp = (struct sip_ua_transport){
		    .dest = {.flow = &sd->flow},
		    .via = i ? "SIP/2.0/UDP 192.0.2.2:5060;rport" : "SIP/2.0/UDP 192.0.2.1:5060;rport",
		    .contact = i ? "<sip:b@192.0.2.2:5060>" : "<sip:a@192.0.2.1:5060>"};
		struct sip_txn_layer_config tc = {
		    .timers = SIP_TXN_TIMERS_DEFAULT,
		    .trying_delay_ms = SIP_TXN_NO_TRYING,
		    .cb = {.send = wire_send, .on_request = on_request},
		    .arg = sd,
		};
		sd->txn = sip_txn_layer_new(&tc);
		struct sip_ua_config uc = {.txn = sd->txn,
		                           .now_ms = clock_ms,
		                           .cb = {.send = wire_send, .on_invite = on_invite},
		                           .arg = sd};
		sd->ua = sip_ua_new(&uc);
		if (!sd->txn || !sd->ua) {
			fprintf(stderr, "bench_ua: out of memory\n");
			return 1;
		}
	}
	struct sip_session **live = calloc(concurrent, sizeof(*live));
	unsigned long done = 0;
	double t0 = cpu_s();
	while (done < calls) {
		unsigned long n = calls - done < concurrent ? calls - done : concurrent;
		for (unsigned long k = 0; k < n; k++) {
			char from[64];
			snprintf(from, sizeof(from), "<sip:caller%lu@example.com>", k);
			struct sip_inviter_opts o = {.request_uri = "sip:100@192.0.2.2:5060",
			                             .from = from,
			                             .to = "<sip:100@example.com>",
			                             .transport = S[0].tp,
			                             .sdh = {&sdh_ops, NULL}};
			if (sip_inviter_new(S[0].ua, &o, &live[k]) != 0 ||
			    sip_session_add_state_listener(live[k], on_state, NULL) != 0 ||
			    sip_inviter_invite(live[k], NULL) != 0) {
				fprintf(stderr, "bench_ua: call %lu not placed\n", done + k);
				return 1;
			}
		}
		pump();
		for (unsigned long k = 0; k < n; k++)
			sip_session_bye(live[k], NULL);
		pump();
		run_clock(now + 40000); /* every transaction's last timer */
		for (unsigned long k = 0; k < n; k++)
			sip_session_unref(live[k]);
		done += n;
	}
	double cpu = cpu_s() - t0;
	int ok = established == 2 * calls && ended == 2 * calls &&
	         sip_txn_layer_count(S[0].txn) == 0 && sip_txn_layer_count(S[1].txn) == 0 &&
	         sip_ua_session_count(S[0].ua) == 0 && sip_ua_session_count(S[1].ua) == 0;
	printf("bench_ua: %lu calls, %lu up at once, %lu messages: %.1f us CPU per call "
	       "(both UAs and transaction layers), %.0f calls/s on one core%s\n",
	       calls, concurrent, messages, cpu * 1e6 / (double)calls, (double)calls / cpu,
	       ok ? "" : " — FAILED: calls did not all set up and end");
	for (int i = 0; i < 2; i++) {
		sip_ua_free(S[i].ua);
		sip_txn_layer_free(S[i].txn);
	}
	sip_msg_free(msg);
	free(live);
	free(wire);
	return ok ? 0 : 1;
}
