/* fuzz_auth.c — digest authentication from arbitrary bytes.
 *
 * The input is parsed both as a challenge and as credentials. A challenge
 * that parses is answered (the answer must parse back as credentials with the
 * same response); credentials that parse are verified by a server — with their
 * nonce replaced by a real one when it is the literal NONCE, so the fuzzer
 * reaches the hashing and not only the nonce check. Finally the input, split
 * at NUL bytes, is used as username / password / uri / cnonce of a client
 * answering a real challenge: whatever the client accepts, the server must
 * verify as OK (escaping round trip). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_auth.h"
#include "fuzz.h"

#define REALM "sip.example.com"
#define NOW   1700000000ull

static struct sip_auth_server *server(void)
{
	static struct sip_auth_server *srv;
	static const uint8_t secret[SIP_AUTH_SECRET_LEN] = {42};
	if (!srv && sip_auth_server_new(&srv, SIP_PL(REALM), secret, sizeof(secret), 300) != 0)
		abort();
	return srv;
}

static void touch(sip_pl v)
{
	char buf[64];
	(void)sip_unquote(v, buf, sizeof(buf));
	(void)sip_auth_value_eq(v, SIP_PL(REALM));
}

static void answer_challenge(const struct sip_auth_challenge *ch)
{
	touch(ch->realm);
	touch(ch->nonce);
	touch(ch->opaque);
	touch(ch->domain);
	(void)sip_auth_algorithm_name(ch->algorithm);

	struct sip_auth_client_params p = {
	    .username = SIP_PL("alice"),
	    .password = SIP_PL("secret"),
	    .method = SIP_PL("REGISTER"),
	    .uri = SIP_PL("sip:" REALM),
	    .body = SIP_PL("v=0\r\n"),
	    .cnonce = SIP_PL("0a4f113b"),
	    .nc = 1,
	};
	char out[4096], small[40];
	int n = sip_auth_client_answer(ch, &p, out, sizeof(out));
	(void)sip_auth_client_answer(ch, &p, small, sizeof(small));
	if (n < 0)
		return;
	struct sip_auth_credentials cr;
	if (sip_auth_credentials_parse((sip_pl){out, (size_t)n}, &cr) != 0) {
		fprintf(stderr, "own answer does not parse: %s\n", out);
		abort();
	}
	if (cr.algorithm != ch->algorithm || cr.response.l != sip_auth_hex_len(ch->algorithm))
		abort();

	/* the same answer from a stored HA1 */
	char ha1[SIP_AUTH_HEX_MAX], out2[4096];
	char realm[1024];
	int rl = sip_unquote(ch->realm, realm, sizeof(realm));
	if (rl < 0)
		return;
	if (sip_auth_ha1(ch->algorithm, p.username, (sip_pl){realm, (size_t)rl}, p.password, ha1,
	                 sizeof(ha1)) < 0)
		abort();
	p.ha1_hex = sip_pl_from_cstr(ha1);
	if (sip_auth_client_answer(ch, &p, out2, sizeof(out2)) != n || strcmp(out, out2) != 0)
		abort();
}

static void verify_credentials(struct sip_auth_credentials *cr, sip_pl body)
{
	touch(cr->username);
	touch(cr->cnonce);
	touch(cr->uri);
	struct sip_auth_server *srv = server();
	char chal[512];
	struct sip_auth_challenge ch;
	if (sip_pl_eq_cstr(cr->nonce, "NONCE") && cr->algorithm != SIP_AUTH_ALG_UNKNOWN) {
		unsigned qop = cr->qop == SIP_AUTH_QOP_OTHER ? 0 : (unsigned)cr->qop;
		if (sip_auth_server_challenge(srv, NOW, cr->algorithm, qop, false, chal,
		                              sizeof(chal)) < 0 ||
		    sip_auth_challenge_parse(sip_pl_from_cstr(chal), &ch) != 0)
			abort();
		cr->nonce = ch.nonce;
	}
	char ha1[SIP_AUTH_HEX_MAX];
	sip_pl ha1_pl = SIP_PL("00000000000000000000000000000000");
	if (cr->algorithm != SIP_AUTH_ALG_UNKNOWN &&
	    sip_auth_ha1(cr->algorithm, SIP_PL("alice"), SIP_PL(REALM), SIP_PL("secret"), ha1,
	                 sizeof(ha1)) > 0)
		ha1_pl = sip_pl_from_cstr(ha1);
	static const uint64_t times[] = {NOW, NOW + 301, NOW - 1000, 0, UINT64_MAX};
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		enum sip_auth_result r =
		    sip_auth_server_verify(srv, times[i], cr, SIP_PL("REGISTER"), body, ha1_pl);
		(void)sip_auth_result_str(r);
	}
}

/* Split at NUL bytes into username, password, uri, cnonce. */
static void client_round_trip(const char *buf, size_t size)
{
	sip_pl f[4] = {SIP_PL("alice"), SIP_PL("secret"), SIP_PL("sip:" REALM), SIP_PL("c")};
	size_t start = 0, k = 0;
	for (size_t i = 0; i <= size && k < 4; i++) {
		if (i == size || buf[i] == '\0') {
			f[k++] = (sip_pl){buf + start, i - start};
			start = i + 1;
		}
	}
	struct sip_auth_server *srv = server();
	unsigned sel = size ? (unsigned char)buf[0] : 0;
	enum sip_auth_algorithm alg = (enum sip_auth_algorithm)(sel & 3);
	unsigned qop = (sel >> 2) & 3;
	char chal[512], out[8192];
	struct sip_auth_challenge ch;
	struct sip_auth_credentials cr;
	if (sip_auth_server_challenge(srv, NOW, alg, qop, false, chal, sizeof(chal)) < 0 ||
	    sip_auth_challenge_parse(sip_pl_from_cstr(chal), &ch) != 0)
		abort();
	struct sip_auth_client_params p = {
	    .username = f[0],
	    .password = f[1],
	    .method = SIP_PL("INVITE"),
	    .uri = f[2],
	    .body = (sip_pl){buf, size},
	    .cnonce = f[3],
	    .nc = sel,
	};
	int n = sip_auth_client_answer(&ch, &p, out, sizeof(out));
	if (n < 0)
		return;
	if (sip_auth_credentials_parse((sip_pl){out, (size_t)n}, &cr) != 0) {
		fprintf(stderr, "own answer does not parse: %s\n", out);
		abort();
	}
	if (!sip_auth_value_eq(cr.username, f[0]) || !sip_auth_value_eq(cr.uri, f[2]))
		abort();
	char ha1[SIP_AUTH_HEX_MAX];
	if (sip_auth_ha1(alg, f[0], SIP_PL(REALM), f[1], ha1, sizeof(ha1)) < 0)
		abort();
	enum sip_auth_result r = sip_auth_server_verify(srv, NOW, &cr, SIP_PL("INVITE"),
	                                                (sip_pl){buf, size}, sip_pl_from_cstr(ha1));
	if (r != SIP_AUTH_OK) {
		fprintf(stderr, "round trip failed (%s): %s\n", sip_auth_result_str(r), out);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	sip_pl in = {buf, size};

	struct sip_auth_challenge ch;
	if (sip_auth_challenge_parse(in, &ch) == 0)
		answer_challenge(&ch);
	struct sip_auth_credentials cr;
	if (sip_auth_credentials_parse(in, &cr) == 0)
		verify_credentials(&cr, in);
	client_round_trip(buf, size);

	free(buf);
	return 0;
}
