/* main.c — the sipwire command: the gateway itself (daemon.h), and two
 * checks an operator runs without starting it: a captured SIP message through
 * the parser every received byte goes through, and a configuration file
 * through the rules the daemon applies. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <libwebsockets.h>
#include <nice/nice.h>
#include <openssl/crypto.h>

#include "server/config.h"
#include "server/daemon.h"
#include "sip/sip_msg.h"
#include "webrtc/srtp.h"

extern char **environ;

#ifndef SIPWIRE_VERSION
#define SIPWIRE_VERSION "0.0.0"
#endif
#ifndef SIPWIRE_GIT_DESCRIBE
#define SIPWIRE_GIT_DESCRIBE ""
#endif

/* The version, and those of the libraries that carry the calls: what a bug
 * report needs. libnice has no run-time version: the one built against. */
static void print_version(void)
{
	if (*SIPWIRE_GIT_DESCRIBE)
		printf("sipwire %s (git %s)\n", SIPWIRE_VERSION, SIPWIRE_GIT_DESCRIBE);
	else
		printf("sipwire %s\n", SIPWIRE_VERSION);
	printf("libwebsockets %s\n", lws_get_library_version());
	printf("libnice %d.%d.%d (built with)\n", NICE_VERSION_MAJOR, NICE_VERSION_MINOR,
	       NICE_VERSION_MICRO);
	const char *ssl = OpenSSL_version(OPENSSL_VERSION);
	printf("%s\n", ssl);
	const char *srtp = srtp_library_version();
	printf("libsrtp2 %s\n", strncmp(srtp, "libsrtp2 ", 9) == 0 ? srtp + 9 : srtp);
	printf("GLib %u.%u.%u\n", glib_major_version, glib_minor_version, glib_micro_version);
}

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: sipwire [--help] [--version] [--check-message FILE|-]\n"
	        "               [--check-config FILE] [configuration options]\n"
	        "\n"
	        "  --version              print the version and exit\n"
	        "  --check-message FILE   parse one SIP message (a file, or - for standard\n"
	        "                         input) as a datagram and print the verdict and the\n"
	        "                         fields the gateway reads; exit 0 if it is accepted\n"
	        "  --check-config FILE    check a configuration file (with the SIPWIRE_*\n"
	        "                         environment and the other options applied); print\n"
	        "                         every error with its key path; exit 0 if valid\n"
	        "\n"
	        "configuration options (see docs/configuration.md; a port of 0 turns off\n"
	        "that listener):\n"
	        "  --config FILE          JSON configuration file\n"
	        "  --bind ADDR            listen address (127.0.0.1)\n"
	        "  --ws-port N            WebSocket port (8080)\n"
	        "  --wss-port N           secure WebSocket port (8443)\n"
	        "  --sip-port N           SIP over UDP and TCP port (5060)\n"
	        "  --tls-port N           SIP over TLS port (0, or 5061 with a certificate)\n"
	        "  --user NAME:PASSWORD   add a local user (repeatable)\n"
	        "  --trunk NAME=URI       add a trunk, e.g. pbx=sip:10.0.0.5:5060 (repeatable)\n"
	        "  --trunk-auth NAME=USER:PASSWORD  digest credentials for that trunk\n"
	        "  --trunk-register NAME  register with that trunk\n"
	        "  --trunk-srtp NAME=MODE media toward that trunk: off (RTP/AVP) or sdes\n"
	        "                         (RTP/SAVP keyed by a=crypto, and nothing else)\n"
	        "  --route PATTERN=TARGET dial plan rule: a user prefix or /regex/, to echo,\n"
	        "                         user or a trunk name (repeatable, first match wins)\n"
	        "  --rtp-ports LOW-HIGH   media ports: RTP pairs and ICE (20000-29999)\n"
	        "  --public-ip ADDR       address a 1:1 NAT maps to this host (Docker, cloud),\n"
	        "                         advertised to browsers as an ICE candidate\n"
	        "  --ice-lite             answer ICE checks only (ICE-lite)\n"
	        "  --media-workers N      media threads (0: one per core)\n"
	        "  --realm REALM          authentication realm (sipwire)\n"
	        "  --demo-dir DIR         the browser softphone served on the WebSocket\n"
	        "                         ports (this tree's web-demo/)\n"
	        "  --no-demo              serve no softphone (HTTP requests get 404)\n"
	        "  --state-dir DIR        state directory\n"
	        "  --log-level LEVEL      error|warn|info|debug (info)\n"
	        "  --log-format FORMAT    text|logfmt|json (text)\n"
	        "  --drain-timeout S      on SIGTERM, seconds calls in progress may go on (30)\n"
	        "  --set KEY=VALUE        any other key, e.g. --set sip.timers.t1=500\n"
	        "\n"
	        "Without --check-*, sipwire runs the gateway until SIGINT or SIGTERM (which\n"
	        "drain: new calls refused, calls in progress ended after --drain-timeout);\n"
	        "SIGHUP reloads users, the dial plan and log settings (docs/operations.md).\n");
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

static void print_errors(const struct config_errors *errs)
{
	for (size_t i = 0; i < errs->count; i++)
		fprintf(stderr, "%s\n", errs->msg[i]);
	if (errs->oom)
		fprintf(stderr, "sipwire: out of memory\n");
}

/* Options whose next argument is their value, so it is not read as an option. */
static bool takes_value(const char *arg)
{
	static const char *const with_value[] = {"--config",   "--bind",      "--ws-port",
	                                         "--wss-port", "--sip-port",  "--tls-port",
	                                         "--user",     "--realm",     "--state-dir",
	                                         "--log-level", "--set",      "--trunk",
	                                         "--trunk-auth", "--trunk-register", "--trunk-srtp",
	                                         "--route", "--log-format", "--drain-timeout",
	                                         "--public-ip", "--media-workers", "--rtp-ports"};
	for (size_t i = 0; i < sizeof(with_value) / sizeof(with_value[0]); i++)
		if (strcmp(arg, with_value[i]) == 0)
			return true;
	return false;
}

/* --check-config FILE: the options without that pair, then --config FILE. */
static int check_config(int argc, char **argv, int at)
{
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	if (!args) {
		fprintf(stderr, "sipwire: out of memory\n");
		return 2;
	}
	int n = 0;
	for (int i = 0; i < argc; i++)
		if (i != at && i != at + 1)
			args[n++] = argv[i];
	args[n++] = "--config";
	args[n++] = argv[at + 1];
	struct sipwire_config cfg;
	struct config_errors errs;
	config_errors_init(&errs);
	int r = sipwire_config_load(&cfg, n, args, environ, &errs);
	if (r == 0) {
		printf("configuration OK\n");
	} else {
		print_errors(&errs);
		fprintf(stderr, "sipwire: %s: configuration refused (%zu error%s)\n", argv[at + 1],
		        errs.count, errs.count == 1 ? "" : "s");
	}
	sipwire_config_free(&cfg);
	config_errors_free(&errs);
	free(args);
	return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			print_version();
			return 0;
		}
		if (strcmp(argv[i], "--check-message") == 0) {
			if (i + 1 >= argc) {
				usage(stderr);
				return 2;
			}
			return check_message(argv[i + 1]);
		}
		if (strcmp(argv[i], "--check-config") == 0) {
			if (i + 1 >= argc) {
				usage(stderr);
				return 2;
			}
			return check_config(argc, argv, i);
		}
		if (takes_value(argv[i]))
			i++;
	}

	struct sipwire_config cfg;
	struct config_errors errs;
	config_errors_init(&errs);
	int r = sipwire_config_load(&cfg, argc, argv, environ, &errs);
	if (r != 0) {
		print_errors(&errs);
		fprintf(stderr, "sipwire: invalid configuration (sipwire --help for the options)\n");
		sipwire_config_free(&cfg);
		config_errors_free(&errs);
		return 2;
	}
	config_errors_free(&errs);
	r = sw_daemon_run(&cfg, argc, argv, environ);
	sipwire_config_free(&cfg);
	return r;
}
