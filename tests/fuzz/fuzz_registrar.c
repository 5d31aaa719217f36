/* fuzz_registrar — drives the registrar with a script of SIP messages and
 * commands, separated by lines "====":
 *   a SIP message   handled on the current flow at the current time; when it
 *                   parses, is a REGISTER and gets a 401, it is sent again
 *                   with a right Authorization answering that challenge, so
 *                   the fuzzer reaches the binding rules, not only the digest
 *                   check;
 *   @flow N         switch to flow N (0..7) and its source address;
 *   @tick N         the clock moves N seconds on, then tick;
 *   @close N        flow N closed.
 * Users whose name starts with 'x' are unknown; every other user's password is
 * "pw". Checks: every answer is a response that parses, with the status
 * returned and the request's Via count; a closed flow keeps no binding; tick
 * leaves the next deadline in the future; the registrar's counts agree with
 * what lookup shows; everything expires in the end; no leak or bad access
 * (ASan). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sip/sip_auth.h"
#include "sip/sip_build.h"
#include "sip/sip_msg.h"
#include "sip/sip_registrar.h"

#define REALM     "example.com"
#define NFLOWS    8
#define MAX_AORS  16
#define MAX_CHUNK 8192

static char flows[NFLOWS];
static const char *const sources[NFLOWS] = {
    "192.0.2.1",   "192.0.2.2", "192.0.2.3",    "",
    "2001:db8::1", "192.0.2.1", "198.51.100.9", "203.0.113.5"};

static int lookup_user(void *arg, sip_pl user, enum sip_auth_algorithm alg, char *ha1, size_t size)
{
	(void)arg;
	if (user.l && user.p[0] == 'x')
		return -ENOENT;
	return sip_auth_ha1(alg, user, SIP_PL(REALM), SIP_PL("pw"), ha1, size) < 0 ? -EIO : 0;
}

static volatile size_t sink;
static void on_log(void *arg, const char *line)
{
	(void)arg;
	sink += strlen(line);
}

/* AORs that got a 200, so the checks can look them up. */
static struct {
	char user[160], host[256];
} aors[MAX_AORS];
static size_t naors;

static void remember_aor(const struct sip_msg *m)
{
	const struct sip_uri *u = &sip_msg_to(m)->uri;
	if (naors == MAX_AORS || u->user.l >= sizeof(aors[0].user) ||
	    u->host.l >= sizeof(aors[0].host))
		return;
	for (size_t i = 0; i < naors; i++)
		if (sip_pl_eq_cstr(u->user, aors[i].user) &&
		    sip_pl_caseeq_cstr(u->host, aors[i].host))
			return;
	CHECK(sip_pl_strcpy(u->user, aors[naors].user, sizeof(aors[0].user)) == 0);
	CHECK(sip_pl_strcpy(u->host, aors[naors].host, sizeof(aors[0].host)) == 0);
	naors++;
}

static const void *closed_flow;
static int no_closed_flow(void *arg, const struct sip_registrar_binding *b)
{
	size_t *n = arg;
	CHECK(b->flow != closed_flow);
	CHECK(b->contact.l > 0);
	(*n)++;
	return 0;
}

static void check_counts(struct sip_registrar *reg, uint64_t now)
{
	size_t live = 0;
	for (size_t i = 0; i < naors; i++) {
		size_t seen = 0;
		size_t n = sip_registrar_lookup(reg, sip_pl_from_cstr(aors[i].user),
		                                sip_pl_from_cstr(aors[i].host), now, no_closed_flow,
		                                &seen);
		CHECK(n == seen);
		live += n;
	}
	/* AORs whose keys coincide (escapes, host case) are counted twice */
	CHECK(naors > 1 || live <= sip_registrar_binding_count(reg));
	CHECK(sip_registrar_aor_count(reg) <= sip_registrar_binding_count(reg));
}

/* Handle one request; check the answer. Returns the status, or 0. */
static int handle(struct sip_registrar *reg, struct sip_msg *in, struct sip_msg *out_msg,
                  const char *buf, size_t len, unsigned flow, uint64_t now, struct sip_buf *out)
{
	size_t used;
	struct sip_parse_error err;
	if (sip_msg_parse(in, buf, len, SIP_PARSE_DATAGRAM, &used, &err) != SIP_PARSE_OK)
		return 0;
	struct sip_registrar_request rq = {.msg = in,
	                                   .flow = &flows[flow],
	                                   .flow_id = flow,
	                                   .source = sip_pl_from_cstr(sources[flow]),
	                                   .now_ms = now};
	sip_buf_reset(out);
	int status = sip_registrar_handle(reg, &rq, out);
	if (!sip_msg_is_request(in) || sip_msg_method(in) != SIP_METHOD_REGISTER) {
		CHECK(status == -EINVAL);
		return 0;
	}
	/* a field the response copies may hold bytes the builder refuses to
	 * write back (a NUL the parser let through): the buffer says so */
	if (status < 0) {
		CHECK(status == out->error);
		return 0;
	}
	CHECK(status >= 200 && status <= 699);
	CHECK(!out->error);
	CHECK(sip_msg_parse(out_msg, out->p, out->len, SIP_PARSE_DATAGRAM, &used, &err) ==
	      SIP_PARSE_OK);
	CHECK(sip_msg_status(out_msg) == status);
	CHECK(sip_msg_via_count(out_msg) == sip_msg_via_count(in));
	if (status == 200)
		remember_aor(in);
	return status;
}

/* The request again with an Authorization answering the 401 in resp, right
 * after the request line. Returns the new length, or 0. */
static size_t with_credentials(const struct sip_msg *req, const struct sip_msg *resp,
                               const char *buf, size_t len, char *dst, size_t size)
{
	const struct sip_hdr *h = sip_msg_hdr(resp, SIP_HDR_WWW_AUTHENTICATE);
	struct sip_auth_challenge ch;
	if (!h || sip_auth_challenge_parse(h->value, &ch) != 0)
		return 0;
	const struct sip_uri *to = &sip_msg_to(req)->uri;
	char user[160], ruri[MAX_CHUNK];
	int ulen = sip_uri_unescape(to->user, user, sizeof(user));
	if (ulen < 0 || sip_pl_strcpy(sip_msg_ruri(req), ruri, sizeof(ruri)) != 0)
		return 0;
	struct sip_auth_client_params p = {.username = {user, (size_t)ulen},
	                                   .password = SIP_PL("pw"),
	                                   .method = SIP_PL("REGISTER"),
	                                   .uri = sip_pl_from_cstr(ruri),
	                                   .cnonce = SIP_PL("0a4f113b"),
	                                   .nc = 1};
	char auth[2048];
	int n = sip_auth_client_answer(&ch, &p, auth, sizeof(auth));
	if (n <= 0)
		return 0;
	const char *eol = memchr(buf, '\n', len);
	if (!eol)
		return 0;
	size_t line = (size_t)(eol + 1 - buf);
	int w = snprintf(dst, size, "%.*sAuthorization: %s\r\n%.*s", (int)line, buf, auth,
	                 (int)(len - line), buf + line);
	return w > 0 && (size_t)w < size ? (size_t)w : 0;
}

static uint64_t number(const char *p, const char *end)
{
	uint64_t v = 0;
	while (p < end && *p == ' ')
		p++;
	for (; p < end && *p >= '0' && *p <= '9' && v < 1000000; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	return v;
}

/* Next chunk: up to a line "====" (LF or CRLF), which is consumed. */
static size_t next_chunk(const char *p, const char *end, const char **next)
{
	for (const char *q = p; q < end; q++) {
		if (*q != '\n' || end - q < 5 || memcmp(q + 1, "====", 4) != 0)
			continue;
		const char *after = q + 5;
		if (after < end && *after == '\r')
			after++;
		if (after < end && *after != '\n')
			continue;
		*next = after < end ? after + 1 : end;
		return (size_t)(q + 1 - p); /* the message keeps its last LF */
	}
	*next = end;
	return (size_t)(end - p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t secret[SIP_AUTH_SECRET_LEN] = {7};
	struct sip_registrar_config cfg = {
	    .realm = SIP_PL(REALM),
	    .lookup_user = lookup_user,
	    .secret = secret,
	    .secret_len = sizeof(secret),
	    .max_failures = 3,
	    .window_s = 20,
	    .on_log = on_log,
	};
	struct sip_registrar *reg;
	CHECK(sip_registrar_new(&reg, &cfg) == 0);
	struct sip_msg *in = sip_msg_new(NULL), *out_msg = sip_msg_new(NULL);
	CHECK(in && out_msg);
	struct sip_buf out;
	sip_buf_init(&out, 0);
	static char chunk[MAX_CHUNK], again[MAX_CHUNK + 2048];
	unsigned flow = 0;
	uint64_t now = 1000;
	naors = 0;

	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *next;
		size_t len = next_chunk(p, end, &next);
		if (len > sizeof(chunk))
			len = sizeof(chunk);
		memcpy(chunk, p, len); /* a copy: ASan sees reads past the chunk */
		p = next;
		if (len && chunk[0] == '@') {
			const char *arg = memchr(chunk, ' ', len);
			const char *cend = chunk + len;
			uint64_t v = arg ? number(arg, cend) : 0;
			if (len >= 5 && !memcmp(chunk, "@flow", 5)) {
				flow = (unsigned)(v % NFLOWS);
			} else if (len >= 5 && !memcmp(chunk, "@tick", 5)) {
				now += v * 1000;
				sip_registrar_tick(reg, now);
				CHECK(sip_registrar_next_deadline(reg) > now);
			} else if (len >= 6 && !memcmp(chunk, "@close", 6)) {
				closed_flow = &flows[v % NFLOWS];
				sip_registrar_flow_closed(reg, closed_flow);
				check_counts(reg, now);
				closed_flow = NULL;
			}
			continue;
		}
		int status = handle(reg, in, out_msg, chunk, len, flow, now, &out);
		if (status == 401) {
			size_t n = with_credentials(in, out_msg, chunk, len, again, sizeof(again));
			if (n)
				handle(reg, in, out_msg, again, n, flow, now, &out);
		}
		check_counts(reg, now);
	}

	/* everything ends */
	sip_registrar_tick(reg, UINT64_MAX - 1);
	CHECK(sip_registrar_binding_count(reg) == 0);
	CHECK(sip_registrar_aor_count(reg) == 0);
	sip_buf_free(&out);
	sip_msg_free(in);
	sip_msg_free(out_msg);
	sip_registrar_free(reg);
	return 0;
}
