/* fuzz_bencode.c — the bencode reader (bench/bencode.h) and the ng reply
 * parser built on it (bench/rtpengine_ng.h): what the rtpengine benchmark
 * reads from the network.
 *
 * Whatever the input, bdec_parse returns 0, -EINVAL or -E2BIG and reads only
 * the bytes it is given; a value it takes lies inside the input, has at most
 * as many nodes as the table, and written back with the bencode writer gives
 * the input byte for byte (bencode has one spelling per value, and the
 * reader refuses the others). The same bytes behind a cookie, read as an ng
 * reply, give one of the documented results, and a reason for every
 * refusal but a foreign cookie. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bencode.h"
#include "bench/rtpengine_ng.h"
#include "fuzz.h"

#define NODES 256

static void write_back(const struct bdec *d, const struct bdec_node *n, struct benc *b,
                       unsigned depth)
{
	CHECK(depth <= BENCODE_DEPTH_MAX);
	switch (n->type) {
	case BDEC_INT: benc_int(b, n->i); return;
	case BDEC_STR: benc_bytes(b, n->str, n->len); return;
	case BDEC_LIST:
	case BDEC_DICT: {
		if (n->type == BDEC_LIST)
			benc_list(b);
		else
			benc_dict(b);
		size_t count = 0;
		for (const struct bdec_node *c = bdec_first(d, n); c; c = bdec_next(d, c)) {
			if (n->type == BDEC_DICT && count % 2 == 0)
				CHECK(c->type == BDEC_STR);
			write_back(d, c, b, depth + 1);
			count++;
		}
		CHECK(count == n->len);
		CHECK(n->type != BDEC_DICT || count % 2 == 0);
		benc_end(b);
		return;
	}
	}
	CHECK(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	/* a copy of exactly size bytes: a read past them is caught by ASan */
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);

	static struct bdec_node nodes[NODES];
	struct bdec d = {.nodes = nodes, .cap = NODES};
	size_t used = 0;
	int rc = bdec_parse(&d, text, size, &used);
	CHECK(rc == 0 || rc == -EINVAL || rc == -E2BIG);
	if (rc == 0) {
		CHECK(used >= 1 && used <= size && d.n >= 1 && d.n <= NODES);
		for (unsigned i = 0; i < d.n; i++)
			if (nodes[i].type == BDEC_STR)
				CHECK(nodes[i].str >= text && nodes[i].len <= used &&
				      nodes[i].str + nodes[i].len <= text + used);
		char *out = malloc(used);
		CHECK(out != NULL);
		struct benc b;
		benc_init(&b, out, used);
		write_back(&d, bdec_root(&d), &b, 0);
		CHECK(benc_finish(&b) == (int)used);
		CHECK(memcmp(out, text, used) == 0);
		free(out);
		/* the whole buffer, or a refusal when bytes follow */
		int whole = bdec_parse(&d, text, size, NULL);
		CHECK(used == size ? whole == 0 : whole == -EINVAL);
	} else {
		CHECK(d.n == 0);
	}

	/* the same bytes as the body of an ng reply */
	struct ng_reply *r = malloc(sizeof *r);
	CHECK(r != NULL);
	static const char cookie[] = "c1";
	memcpy(r->buf, cookie, 2);
	r->buf[2] = ' ';
	memcpy(r->buf + 3, text, size);
	r->len = size + 3;
	rc = ng_reply_parse(r, cookie);
	CHECK(rc == 0 || rc == -EPROTO || rc == -EINVAL);
	CHECK(rc == 0 || r->reason[0]);
	CHECK(memchr(r->reason, '\0', sizeof r->reason) != NULL);
	if (rc == 0 || rc == -EPROTO)
		CHECK(r->dict && r->dict->type == BDEC_DICT);
	/* raw bytes with no cookie of ours */
	memcpy(r->buf, text, size);
	r->len = size;
	rc = ng_reply_parse(r, cookie);
	CHECK(rc == 0 || rc == -EPROTO || rc == -EINVAL || rc == -ESRCH);
	free(r);
	free(text);
	return 0;
}
