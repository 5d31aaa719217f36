/* main.c — the sipwire command.
 *
 * The gateway's listeners (WebSocket, SIP trunks) are not built yet; what the
 * binary does today is what exists: it reports its version and checks SIP
 * messages with the same parser the gateway will run on every received byte,
 * which is how an operator tells why a captured message was refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_msg.h"

#ifndef SIPWIRE_VERSION
#define SIPWIRE_VERSION "0.0.0"
#endif

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: sipwire [--help] [--version] [--check-message FILE|-]\n"
	        "\n"
	        "  --version              print the version and exit\n"
	        "  --check-message FILE   parse one SIP message (a file, or - for standard\n"
	        "                         input) as a datagram and print the verdict and the\n"
	        "                         fields the gateway reads; exit 0 if it is accepted\n"
	        "\n"
	        "The gateway's network listeners (WebSocket and SIP) are not part of this\n"
	        "build yet: sipwire with no arguments says so and exits.\n");
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 65536 + 1, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
		if (n == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
}

static void print_pl(const char *label, sip_pl v)
{
	if (sip_pl_isset(v))
		printf("%-14s %.*s\n", label, (int)v.l, v.p);
}

static int check_message(const char *path)
{
	size_t len;
	char *buf = read_all(path, &len);
	if (!buf) {
		fprintf(stderr, "sipwire: %s: %s\n", path, strerror(errno ? errno : ENOMEM));
		return 2;
	}
	struct sip_msg *m = sip_msg_new(NULL);
	if (!m) {
		free(buf);
		fprintf(stderr, "sipwire: out of memory\n");
		return 2;
	}
	size_t used;
	struct sip_parse_error err;
	enum sip_parse_result r = sip_msg_parse(m, buf, len, SIP_PARSE_DATAGRAM, &used, &err);
	int rc = 0;
	switch (r) {
	case SIP_PARSE_OK:
		printf("verdict        accepted\n");
		break;
	case SIP_PARSE_KEEPALIVE:
		printf("verdict        keep-alive (%s)\n", used == 4 ? "ping" : "pong");
		break;
	case SIP_PARSE_NEED_MORE:
	case SIP_PARSE_ERROR:
		if (err.status)
			printf("verdict        answered %d %s\n", err.status, err.reason);
		else
			printf("verdict        dropped (%s)\n", err.reason ? err.reason : "incomplete");
		rc = 1;
		break;
	}
	if (r == SIP_PARSE_OK || (r == SIP_PARSE_ERROR && err.status)) {
		if (sip_msg_is_request(m)) {
			print_pl("method", sip_msg_method_name(m));
			print_pl("request-uri", sip_msg_ruri(m));
		} else {
			printf("%-14s %d\n", "status", sip_msg_status(m));
		}
		printf("%-14s %u\n", "headers", sip_msg_hdr_count(m));
		print_pl("via", sip_msg_via(m)->host);
		print_pl("via-branch", sip_msg_via(m)->branch);
		print_pl("from", sip_msg_from(m)->uri_text);
		print_pl("from-tag", sip_msg_from(m)->tag);
		print_pl("to", sip_msg_to(m)->uri_text);
		print_pl("to-tag", sip_msg_to(m)->tag);
		print_pl("call-id", sip_msg_call_id(m));
		if (sip_msg_cseq(m)->method_name.p)
			printf("%-14s %u %.*s\n", "cseq", sip_msg_cseq(m)->seq,
			       (int)sip_msg_cseq(m)->method_name.l, sip_msg_cseq(m)->method_name.p);
		printf("%-14s %zu bytes\n", "body", sip_msg_body(m).l);
	}
	sip_msg_free(m);
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("sipwire %s\n", SIPWIRE_VERSION);
			return 0;
		}
		if (strcmp(argv[i], "--check-message") == 0) {
			if (i + 1 >= argc) {
				usage(stderr);
				return 2;
			}
			return check_message(argv[i + 1]);
		}
		fprintf(stderr, "sipwire: unknown option '%s'\n", argv[i]);
		usage(stderr);
		return 2;
	}
	fprintf(stderr, "sipwire %s: the SIP message layer is built, but the gateway's network\n"
	                "listeners (WebSocket, SIP trunks) are not implemented yet, so there is\n"
	                "nothing to start. Try: sipwire --check-message FILE\n",
	        SIPWIRE_VERSION);
	return 1;
}
