/* test_bencode.c — bench/bencode (the ng protocol's encoding) written and
 * read, what the reader refuses, and bench/rtpengine_ng against a UDP peer
 * in this process that answers as rtpengine does: cookies, results, errors,
 * a lost reply sent again, a late reply to an earlier request skipped. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bencode.h"
#include "bench/rtpengine_ng.h"

static int parse(const char *text, struct bdec *d)
{
	return bdec_parse(d, text, strlen(text), NULL);
}

Test(bencode, writes_what_rtpengine_reads)
{
	char buf[256];
	struct benc b;
	benc_init(&b, buf, sizeof buf);
	benc_dict(&b);
	benc_kv_str(&b, "command", "offer");
	benc_str(&b, "flags");
	benc_list(&b);
	benc_str(&b, "trust-address");
	benc_end(&b);
	benc_str(&b, "n");
	benc_int(&b, -42);
	benc_str(&b, "z");
	benc_int(&b, 0);
	benc_end(&b);
	int len = benc_finish(&b);
	const char *want = "d7:command5:offer5:flagsl13:trust-addresse1:ni-42e1:zi0ee";
	cr_assert_eq(len, (int)strlen(want));
	cr_assert_eq(memcmp(buf, want, (size_t)len), 0);
}

Test(bencode, writer_says_when_it_ran_out)
{
	char buf[8];
	struct benc b;
	benc_init(&b, buf, sizeof buf);
	benc_dict(&b);
	benc_kv_str(&b, "command", "ping");
	benc_end(&b);
	cr_assert_eq(benc_finish(&b), -ENOSPC);
	/* exactly enough room */
	benc_init(&b, buf, 7);
	benc_str(&b, "hello");
	cr_assert_eq(benc_finish(&b), 7);
	cr_assert_eq(memcmp(buf, "5:hello", 7), 0);
}

Test(bencode, reads_a_reply_with_keys_in_any_order)
{
	struct bdec_node nodes[32];
	struct bdec d = {.nodes = nodes, .cap = 32};
	cr_assert_eq(parse("d3:sdp5:v=0\r\n6:result2:ok8:warningsl1:a1:bee", &d), 0);
	const struct bdec_node *root = bdec_root(&d);
	cr_assert_eq(root->type, BDEC_DICT);
	cr_assert_eq(root->len, 6);
	cr_assert(bdec_is(bdec_get(&d, root, "result"), "ok"));
	const struct bdec_node *sdp = bdec_get(&d, root, "sdp");
	cr_assert_eq(sdp->len, 5);
	cr_assert_eq(memcmp(sdp->str, "v=0\r\n", 5), 0);
	const struct bdec_node *w = bdec_get(&d, root, "warnings");
	cr_assert_eq(w->type, BDEC_LIST);
	cr_assert(bdec_is(bdec_first(&d, w), "a"));
	cr_assert(bdec_is(bdec_next(&d, bdec_first(&d, w)), "b"));
	cr_assert_null(bdec_next(&d, bdec_next(&d, bdec_first(&d, w))));
	cr_assert_null(bdec_get(&d, root, "missing"));
	/* a value is not looked up as a key */
	cr_assert_null(bdec_get(&d, root, "ok"));
	char out[4];
	cr_assert_eq(bdec_copy(sdp, out, sizeof out), 5);
	cr_assert_str_eq(out, "v=0");
}

Test(bencode, integers_at_the_edges)
{
	struct bdec_node nodes[4];
	struct bdec d = {.nodes = nodes, .cap = 4};
	cr_assert_eq(parse("i9223372036854775807e", &d), 0);
	cr_assert_eq(bdec_root(&d)->i, INT64_MAX);
	cr_assert_eq(parse("i-9223372036854775808e", &d), 0);
	cr_assert_eq(bdec_root(&d)->i, INT64_MIN);
	cr_assert_eq(parse("i0e", &d), 0);
	cr_assert_eq(bdec_root(&d)->i, 0);
	cr_assert_eq(parse("i9223372036854775808e", &d), -EINVAL);
	cr_assert_eq(parse("i-9223372036854775809e", &d), -EINVAL);
	cr_assert_eq(parse("i99999999999999999999999e", &d), -EINVAL);
}

Test(bencode, refuses_what_is_not_bencode)
{
	struct bdec_node nodes[8];
	struct bdec d = {.nodes = nodes, .cap = 8};
	const char *bad[] = {
		"",       "i03e",  "i-0e", "ie",       "i-e",    "i12",      "03:abc", "4:abc",
		"3abc",   "l",     "d",    "d1:ae",    "di1e1:ae", "x",      "-1:a",   "le ",
		"1:ab",   "d1:a",  "l1:a", "i1ei2e",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_eq(parse(bad[i], &d), -EINVAL, "\"%s\" was taken", bad[i]);
		cr_assert_eq(d.n, 0);
	}
	/* a value followed by more bytes: taken when the caller asks how long */
	size_t used;
	cr_assert_eq(bdec_parse(&d, "i1ei2e", 6, &used), 0);
	cr_assert_eq(used, 3);
}

Test(bencode, limits_nodes_and_depth)
{
	struct bdec_node nodes[3];
	struct bdec d = {.nodes = nodes, .cap = 3};
	cr_assert_eq(parse("li1ei2ee", &d), 0);
	cr_assert_eq(parse("li1ei2ei3ee", &d), -E2BIG);
	struct bdec_node many[64];
	struct bdec deep = {.nodes = many, .cap = 64};
	char text[2 * BENCODE_DEPTH_MAX + 4];
	size_t n = 0;
	for (unsigned i = 0; i < BENCODE_DEPTH_MAX; i++)
		text[n++] = 'l';
	for (unsigned i = 0; i < BENCODE_DEPTH_MAX; i++)
		text[n++] = 'e';
	cr_assert_eq(bdec_parse(&deep, text, n, NULL), 0);
	n = 0;
	for (unsigned i = 0; i <= BENCODE_DEPTH_MAX; i++)
		text[n++] = 'l';
	for (unsigned i = 0; i <= BENCODE_DEPTH_MAX; i++)
		text[n++] = 'e';
	cr_assert_eq(bdec_parse(&deep, text, n, NULL), -E2BIG);
}

static struct ng_reply *reply_of(const char *datagram)
{
	struct ng_reply *r = calloc(1, sizeof *r);
	cr_assert_not_null(r);
	r->len = strlen(datagram);
	memcpy(r->buf, datagram, r->len);
	return r;
}

Test(ng, reply_results)
{
	struct ng_reply *r = reply_of("abc d6:result2:ok3:sdp3:v=0e");
	cr_assert_eq(ng_reply_parse(r, "abc"), 0);
	cr_assert(bdec_is(bdec_get(&r->d, r->dict, "sdp"), "v=0"));
	cr_assert_eq(ng_reply_parse(r, "abd"), -ESRCH);
	cr_assert_eq(ng_reply_parse(r, "ab"), -ESRCH);
	free(r);
	r = reply_of("7 d6:result5:error12:error-reason15:Unknown call-ide");
	cr_assert_eq(ng_reply_parse(r, "7"), -EPROTO);
	cr_assert_str_eq(r->reason, "Unknown call-id");
	free(r);
	r = reply_of("7 d6:result4:ponge");
	cr_assert_eq(ng_reply_parse(r, "7"), 0);
	free(r);
	const char *bad[] = {"7d6:result2:oke", " d6:result2:oke", "7 l2:oke", "7 d3:sdp1:xe",
	                     "7 d6:result5:maybee", "7 d6:result2:ok", "7 d6:result2:okeX"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		r = reply_of(bad[i]);
		int rc = ng_reply_parse(r, "7");
		cr_assert(rc == -EINVAL || (i == 0 && rc == -ESRCH), "\"%s\": %d", bad[i], rc);
		cr_assert(rc == -ESRCH || r->reason[0]);
		free(r);
	}
}

/* ---- a peer that answers as rtpengine does ---- */

struct fake {
	int fd;
	unsigned port;
	pthread_t thread;
	int drop_first;   /* say nothing to the first request */
	int late_first;   /* answer the second request's cookie after a foreign one */
	char last[4096];  /* the last request's body */
	unsigned requests;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	for (;;) {
		char buf[4096];
		struct sockaddr_in from;
		socklen_t flen = sizeof from;
		ssize_t n = recvfrom(f->fd, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &flen);
		if (n <= 0)
			return NULL;
		buf[n] = '\0';
		f->requests++;
		char *sp = strchr(buf, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		snprintf(f->last, sizeof f->last, "%s", sp + 1);
		if (!strcmp(sp + 1, "quit"))
			return NULL;
		if (f->drop_first && f->requests == 1)
			continue;
		char out[4096];
		int len;
		if (f->late_first) {
			len = snprintf(out, sizeof out, "old-cookie d6:result2:oke");
			sendto(f->fd, out, (size_t)len, 0, (struct sockaddr *)&from, flen);
		}
		if (strstr(sp + 1, "7:command4:ping"))
			len = snprintf(out, sizeof out, "%s d6:result4:ponge", buf);
		else if (strstr(sp + 1, "7:command6:delete"))
			len = snprintf(out, sizeof out,
			               "%s d6:result5:error12:error-reason15:Unknown call-ide", buf);
		else
			len = snprintf(out, sizeof out, "%s d6:result2:ok3:sdp8:v=0\r\ns=-e", buf);
		sendto(f->fd, out, (size_t)len, 0, (struct sockaddr *)&from, flen);
	}
}

static void fake_start(struct fake *f)
{
	f->fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(f->fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	cr_assert_eq(bind(f->fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t alen = sizeof a;
	getsockname(f->fd, (struct sockaddr *)&a, &alen);
	f->port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	sendto(fd, "x quit", 6, 0, (struct sockaddr *)&a, sizeof a);
	close(fd);
	pthread_join(f->thread, NULL);
	close(f->fd);
}

Test(ng, offer_answer_delete_ping)
{
	struct fake f = {0};
	fake_start(&f);
	struct ng_client *c;
	cr_assert_eq(ng_client_new("127.0.0.1", f.port, 500, &c), 0);
	struct ng_reply *r = calloc(1, sizeof *r);
	cr_assert_eq(ng_ping(c, r), 0);
	static const char *const sdes[] = {"only-AES_CM_128_HMAC_SHA1_80", NULL};
	struct ng_sdp_request q = {
		.call_id = "c1", .from_tag = "a", .sdp = "v=0\r\n", .transport = "RTP/AVP",
		.ice_remove = true, .dtls_off = true, .sdes = sdes,
	};
	struct ng_sdp sdp;
	cr_assert_eq(ng_offer(c, &q, r, &sdp), 0);
	cr_assert_eq(sdp.len, 8);
	cr_assert_eq(memcmp(sdp.p, "v=0\r\ns=-", 8), 0);
	cr_assert_str_eq(f.last, "d7:command5:offer7:call-id2:c18:from-tag1:a3:sdp5:v=0\r\n"
	                         "18:transport-protocol7:RTP/AVP3:ICE6:remove4:DTLS3:off"
	                         "4:SDESl28:only-AES_CM_128_HMAC_SHA1_80ee");
	/* an answer needs the callee's tag */
	cr_assert_eq(ng_answer(c, &q, r, &sdp), -EINVAL);
	q.to_tag = "b";
	q.transport = NULL;
	q.sdes = NULL;
	q.dtls_off = false;
	cr_assert_eq(ng_answer(c, &q, r, &sdp), 0);
	cr_assert_str_eq(f.last, "d7:command6:answer7:call-id2:c18:from-tag1:a6:to-tag1:b"
	                         "3:sdp5:v=0\r\n3:ICE6:removee");
	cr_assert_eq(ng_delete(c, "c1", "a", r), -EPROTO);
	cr_assert_str_eq(r->reason, "Unknown call-id");
	ng_client_free(c);
	free(r);
	fake_stop(&f);
}

Test(ng, sends_again_and_skips_foreign_cookies)
{
	struct fake f = {.drop_first = 1, .late_first = 1};
	fake_start(&f);
	struct ng_client *c;
	cr_assert_eq(ng_client_new("127.0.0.1", f.port, 100, &c), 0);
	struct ng_reply *r = calloc(1, sizeof *r);
	cr_assert_eq(ng_ping(c, r), 0);
	cr_assert_eq(f.requests, 2); /* the first went unanswered */
	ng_client_free(c);
	free(r);
	fake_stop(&f);
}

Test(ng, times_out_when_nobody_answers)
{
	/* a bound socket that never reads */
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t alen = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &alen);
	struct ng_client *c;
	cr_assert_eq(ng_client_new("127.0.0.1", ntohs(a.sin_port), 20, &c), 0);
	struct ng_reply *r = calloc(1, sizeof *r);
	cr_assert_eq(ng_ping(c, r), -ETIMEDOUT);
	cr_assert(r->reason[0]);
	ng_client_free(c);
	cr_assert_eq(ng_client_new("not-an-address", 1, 20, &c), -EINVAL);
	ng_client_free(NULL);
	free(r);
	close(fd);
}
