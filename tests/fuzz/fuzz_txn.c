/* fuzz_txn — drives the transaction layer with a sequence of operations
 * decoded from the input (requests and responses from templates so most of
 * them parse and match, raw bytes, clock jumps, send failures, transport
 * errors, re-entrant calls from callbacks). Checks: the layer's live count is
 * at least the harness's own, deadlines never go back past now, every
 * transaction ends when the clock runs out, and no use after free (ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_build.h"
#include "sip/sip_msg.h"
#include "sip/sip_txn.h"
#include "fuzz.h"

#define MAXT 64
static struct sip_txn *live[MAXT];
static size_t nlive;
static int fail_next;
static struct sip_txn_layer *L;
static uint64_t now;
static struct sip_msg *M;
static int reenter_mode;

static void drop(struct sip_txn *t)
{
	for (size_t i = 0; i < nlive; i++)
		if (live[i] == t) {
			live[i] = live[--nlive];
			return;
		}
	CHECK(0 && "terminated twice or unknown");
}

static volatile unsigned sink;

static int fsend(void *arg, const struct sip_txn_dest *d, const char *b, size_t len)
{
	(void)arg;
	(void)d;
	/* touch every byte so ASan sees stale buffers */
	unsigned sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += (unsigned char)b[i];
	sink = sum;
	if (fail_next) {
		fail_next--;
		return -5;
	}
	return 0;
}

static void on_term(void *u, struct sip_txn *t)
{
	(void)u;
	CHECK(sip_txn_state(t) == SIP_TXN_TERMINATED);
	drop(t);
}
static void on_resp(void *u, struct sip_txn *t, const struct sip_msg *m)
{
	(void)u;
	(void)m;
	if (reenter_mode == 1)
		sip_txn_transport_error(t, now);
}
static void on_to(void *u, struct sip_txn *t)
{
	(void)u;
	(void)t;
}
static const struct sip_txn_user ucb = {
	.on_response = on_resp, .on_ack = NULL, .on_timeout = on_to, .on_terminated = on_term};

static void on_req(void *arg, struct sip_txn *t, const struct sip_msg *m)
{
	(void)arg;
	(void)m;
	CHECK(nlive < MAXT * 4);
	if (nlive < MAXT)
		live[nlive++] = t;
	else {
		/* untracked: still must terminate cleanly */
		sip_txn_set_user(t, NULL, NULL);
		return;
	}
	sip_txn_set_user(t, &ucb, NULL);
	if (reenter_mode == 2)
		sip_txn_transport_error(t, now);
}

static const char *methods[] = {"INVITE", "ACK", "CANCEL", "OPTIONS", "BYE", "FOO"};
static const char *branches[] = {"z9hG4bKa", "z9hG4bKb", "old1", "", "z9hG4bK"};
static const char *hosts[] = {"192.0.2.1:5060", "192.0.2.1", "h.invalid"};
static const int statuses[] = {100, 180, 200, 202, 486, 603, 301};

static size_t make(char *buf, size_t size, const uint8_t *p)
{
	const char *method = methods[p[0] % 6];
	const char *cm = (p[1] & 0x80) ? methods[(p[1] >> 4) % 6] : method;
	const char *br = branches[p[1] % 5];
	int n = snprintf(buf, size,
	                 "%s sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP %s%s%s\r\n"
	                 "From: <sip:a@x>;tag=a1\r\nTo: <sip:b@x>%s\r\nCall-ID: c%u\r\n"
	                 "CSeq: %u %s\r\n%sContent-Length: 0\r\n\r\n",
	                 method, hosts[p[2] % 3], br[0] ? ";branch=" : "", br,
	                 (p[2] & 0x10) ? ";tag=s1" : "", p[3] & 1, 1 + (p[3] >> 6), cm,
	                 (p[2] & 0x20) ? "Route: <sip:r@x;lr>\r\n" : "");
	return (size_t)n;
}

static const struct sip_msg *parse(const char *buf, size_t len)
{
	size_t c;
	struct sip_parse_error e;
	if (sip_msg_parse(M, buf, len, SIP_PARSE_DATAGRAM, &c, &e) != SIP_PARSE_OK)
		return NULL;
	return M;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const struct sip_txn_dest flows[] = {
		{(void *)1, false}, {(void *)2, true}, {(void *)3, true}};
	struct sip_txn_layer_config cfg = {
		.timers = {data[0] & 1 ? 1 : 500, data[0] & 1 ? 8 : 4000, data[0] & 2 ? 3 : 5000},
		.trying_delay_ms = (data[0] & 4) ? 0 : ((data[0] & 8) ? SIP_TXN_NO_TRYING : 200),
		.cb = {.send = fsend, .on_request = on_req},
	};
	reenter_mode = (data[0] >> 4) % 3;
	L = sip_txn_layer_new(&cfg);
	M = sip_msg_new(NULL);
	nlive = 0;
	now = 0;
	fail_next = 0;
	char buf[1024], rbuf[2048];
	size_t i = 1;
	while (i + 5 <= size) {
		const uint8_t *p = data + i;
		i += 5;
		uint8_t op = p[0] % 8;
		size_t n = make(buf, sizeof(buf), p + 1);
		switch (op) {
		case 0:
		case 1: { /* a request arrives */
			const struct sip_msg *m = parse(buf, n);
			if (m) {
				int rc = sip_txn_layer_recv(L, m, &flows[p[4] % 3], now);
				CHECK(rc >= 0);
			}
			break;
		}
		case 2: { /* a client transaction */
			struct sip_txn *t = NULL;
			if (nlive < MAXT &&
			    sip_txn_client_new(L, buf, n, &flows[p[4] % 3], now, &ucb, NULL, &t) == 0)
				live[nlive++] = t;
			break;
		}
		case 3: { /* a response arrives for a client txn's request, or a server responds */
			if (!nlive)
				break;
			struct sip_txn *t = live[p[1] % nlive];
			const struct sip_msg *r = sip_txn_request(t);
			struct sip_buf b;
			sip_buf_init(&b, 0);
			sip_build_response(&b, r, statuses[p[2] % 7], NULL,
			                   (p[3] & 1) ? SIP_PL("s1") : SIP_PL("s2"));
			sip_build_body(&b, NULL, SIP_PL_NULL);
			if (!b.error && b.len <= sizeof(rbuf)) {
				memcpy(rbuf, b.p, b.len);
				size_t len = b.len;
				if (sip_txn_kind(t) == SIP_TXN_IST || sip_txn_kind(t) == SIP_TXN_NIST) {
					sip_txn_server_respond(t, rbuf, len, now);
				} else {
					const struct sip_msg *m = parse(rbuf, len);
					if (m)
						CHECK(sip_txn_layer_recv(L, m, &flows[0], now) >= 0);
				}
			}
			sip_buf_free(&b);
			break;
		}
		case 4: /* time passes */
			now += (uint64_t)p[1] * 37 + p[2] * 911u;
			sip_txn_layer_tick(L, now);
			CHECK(sip_txn_layer_next_deadline(L) > now);
			break;
		case 5:
			if (nlive)
				sip_txn_transport_error(live[p[1] % nlive], now);
			break;
		case 6:
			fail_next = p[1] % 3;
			break;
		case 7: { /* CANCEL lookups and raw bytes */
			const struct sip_msg *m = parse(buf, n);
			if (m)
				(void)sip_txn_find_invite_for_cancel(L, m, &flows[p[4] % 3]);
			size_t rl = size - i < 300 ? size - i : 300;
			char *raw = malloc(rl ? rl : 1);
			memcpy(raw, data + i, rl);
			m = parse(raw, rl);
			if (m)
				CHECK(sip_txn_layer_recv(L, m, &flows[p[4] % 3], now) >= 0);
			free(raw);
			break;
		}
		}
		CHECK(sip_txn_layer_count(L) >= nlive);
	}
	/* run everything out: every transaction must end */
	for (int k = 0; k < 200000 && sip_txn_layer_next_deadline(L) != UINT64_MAX; k++) {
		uint64_t d = sip_txn_layer_next_deadline(L);
		CHECK(d >= now);
		now = d;
		sip_txn_layer_tick(L, now);
	}
	CHECK(sip_txn_layer_next_deadline(L) == UINT64_MAX);
	/* IST/NIST that never got a final response stay alive: that's the TU's job */
	sip_txn_layer_free(L);
	sip_msg_free(M);
	return 0;
}
