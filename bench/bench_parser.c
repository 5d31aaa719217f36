/* bench_parser — messages per second and ns per message for the SIP parser.
 *
 * Two messages: a 1 KB INVITE with SDP as a WebRTC client sends it over WSS,
 * and a 300-byte response. Each iteration parses the message (datagram mode,
 * as WebSocket frames arrive) and reads the typed Via, From, To, CSeq and
 * Call-ID the transaction layer needs. The timing runs in windows of N
 * iterations and reports the median window, since this VM stalls for a few ms
 * a few times a second.
 *
 *   bench_parser [--quick] [--windows N] [--iterations N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sip/sip_msg.h"

static const char INVITE[] =
	"INVITE sip:echo@sipwire.example.com SIP/2.0\r\n"
	"Via: SIP/2.0/WSS 8q6c5pf1b6nj.invalid;branch=z9hG4bK7416052\r\n"
	"To: <sip:echo@sipwire.example.com>\r\n"
	"From: \"Alice\" <sip:alice@sipwire.example.com>;tag=3n2qg8u0bo\r\n"
	"CSeq: 2 INVITE\r\n"
	"Call-ID: 0a8v9i1m3qj6u7q3g5b5\r\n"
	"Max-Forwards: 70\r\n"
	"Contact: <sip:k3b4l2rj@8q6c5pf1b6nj.invalid;transport=ws;ob>\r\n"
	"Allow: ACK,CANCEL,INVITE,MESSAGE,BYE,OPTIONS,INFO,NOTIFY,REFER\r\n"
	"Supported: outbound\r\n"
	"User-Agent: SIP.js/0.21.2\r\n"
	"Content-Type: application/sdp\r\n"
	"Content-Length: 594\r\n"
	"\r\n"
	"v=0\r\n"
	"o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
	"s=-\r\n"
	"t=0 0\r\n"
	"a=group:BUNDLE 0\r\n"
	"a=msid-semantic: WMS\r\n"
	"m=audio 54321 UDP/TLS/RTP/SAVPF 111 0 8 126\r\n"
	"c=IN IP4 127.0.0.1\r\n"
	"a=rtcp:9 IN IP4 0.0.0.0\r\n"
	"a=candidate:1 1 udp 2122260223 127.0.0.1 54321 typ host generation 0\r\n"
	"a=ice-ufrag:Qw3r\r\n"
	"a=ice-pwd:asd88fgpdd777uzjYhagZg7+hXu1\r\n"
	"a=fingerprint:sha-256 D1:2C:BE:AD:C4:F6:64:5C:25:16:11:9C:AF:E7:0F:73:79:36:4E:9C:1E:15:54:39:0C:06:8B:ED:96:86:00:39\r\n"
	"a=setup:actpass\r\n"
	"a=mid:0\r\n"
	"a=sendrecv\r\n"
	"a=rtcp-mux\r\n"
	"a=rtpmap:111 opus/48000/2\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:8 PCMA/8000\r\n"
	"a=rtpmap:126 telephone-event/8000\r\n";

static const char RESPONSE[] =
	"SIP/2.0 200 OK\r\n"
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK7416052;received=192.0.2.10;rport=5060\r\n"
	"To: <sip:bob@pbx.example.com>;tag=as6151ad25\r\n"
	"From: <sip:alice@sipwire.example.com>;tag=3n2qg8u0bo\r\n"
	"Call-ID: 0a8v9i1m3qj6u7q3g5b5\r\n"
	"CSeq: 102 BYE\r\n"
	"Server: Asterisk PBX 20.5.0\r\n"
	"Content-Length: 0\r\n"
	"\r\n";

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Parse and touch the typed fields; returns a value the compiler cannot drop. */
static size_t parse_once(struct sip_msg *m, const char *buf, size_t len)
{
	size_t used;
	struct sip_parse_error err;
	if (sip_msg_parse(m, buf, len, SIP_PARSE_DATAGRAM, &used, &err) != SIP_PARSE_OK) {
		fprintf(stderr, "bench_parser: message did not parse: %s\n", err.reason);
		exit(1);
	}
	const struct sip_via *via = sip_msg_via(m);
	const struct sip_addr *from = sip_msg_from(m), *to = sip_msg_to(m);
	const struct sip_cseq *cseq = sip_msg_cseq(m);
	return via->branch.l + via->host.l + from->tag.l + from->uri.host.l + to->uri.user.l +
	       to->tag.l + cseq->seq + (size_t)cseq->method + sip_msg_call_id(m).l;
}

static void run(const char *label, const char *msg, unsigned windows, unsigned iterations)
{
	size_t len = strlen(msg);
	/* an exact-size heap copy, as a received frame would be */
	char *buf = malloc(len);
	memcpy(buf, msg, len);
	struct sip_msg *m = sip_msg_new(NULL);
	double *per_msg = calloc(windows, sizeof(double));
	volatile size_t sink = 0;

	for (unsigned i = 0; i < iterations; i++) /* warm up */
		sink += parse_once(m, buf, len);
	for (unsigned w = 0; w < windows; w++) {
		double t0 = now_ns();
		for (unsigned i = 0; i < iterations; i++)
			sink += parse_once(m, buf, len);
		per_msg[w] = (now_ns() - t0) / iterations;
	}
	qsort(per_msg, windows, sizeof(double), cmp_double);
	double median = per_msg[windows / 2], best = per_msg[0], worst = per_msg[windows - 1];
	printf("%-22s %5zu bytes  median %7.1f ns/msg  (%9.0f msg/s)  best %7.1f  worst %7.1f  "
	       "[%u windows x %u]\n",
	       label, len, median, 1e9 / median, best, worst, windows, iterations);
	(void)sink;
	free(per_msg);
	sip_msg_free(m);
	free(buf);
}

int main(int argc, char **argv)
{
	unsigned windows = 31, iterations = 100000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			windows = 3;
			iterations = 1000;
		} else if (!strcmp(argv[i], "--windows") && i + 1 < argc) {
			windows = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
			iterations = (unsigned)strtoul(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: bench_parser [--quick] [--windows N] [--iterations N]\n");
			return 2;
		}
	}
	if (windows == 0 || iterations == 0)
		return 2;
	run("INVITE with SDP", INVITE, windows, iterations);
	run("200 OK response", RESPONSE, windows, iterations);
	return 0;
}
