/* bencode — see bencode.h. */
#include "bencode.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- writing ---- */

void benc_init(struct benc *b, char *buf, size_t cap)
{
	*b = (struct benc){.buf = buf, .cap = cap};
}

static void put(struct benc *b, const void *p, size_t len)
{
	if (b->overflow || len > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	memcpy(b->buf + b->len, p, len);
	b->len += len;
}

void benc_dict(struct benc *b)
{
	put(b, "d", 1);
}

void benc_list(struct benc *b)
{
	put(b, "l", 1);
}

void benc_end(struct benc *b)
{
	put(b, "e", 1);
}

void benc_int(struct benc *b, int64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "i%" PRId64 "e", v);
	put(b, tmp, (size_t)n);
}

void benc_bytes(struct benc *b, const void *p, size_t len)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof tmp, "%zu:", len);
	put(b, tmp, (size_t)n);
	put(b, p, len);
}

void benc_str(struct benc *b, const char *s)
{
	benc_bytes(b, s, strlen(s));
}

void benc_kv_str(struct benc *b, const char *key, const char *value)
{
	benc_str(b, key);
	benc_str(b, value);
}

int benc_finish(const struct benc *b)
{
	if (b->overflow || b->len > INT32_MAX)
		return -ENOSPC;
	return (int)b->len;
}

/* ---- reading ---- */

struct reader {
	struct bdec *d;
	const char *p, *end;
};

static int new_node(struct reader *r, enum bdec_type type, unsigned *index)
{
	if (r->d->n >= r->d->cap)
		return -E2BIG;
	*index = r->d->n++;
	r->d->nodes[*index] = (struct bdec_node){.type = type};
	return 0;
}

/* Digits up to stop, no sign: a value below 2^63 without leading zeros. */
static int read_digits(struct reader *r, char stop, uint64_t *out)
{
	const char *s = r->p;
	uint64_t v = 0;
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
		unsigned digit = (unsigned)(*r->p - '0');
		if (v > (UINT64_C(1) << 63) / 10)
			return -EINVAL;
		v = v * 10 + digit;
		if (v > (UINT64_C(1) << 63))
			return -EINVAL;
		r->p++;
	}
	size_t n = (size_t)(r->p - s);
	if (n == 0 || (n > 1 && *s == '0') || r->p >= r->end || *r->p != stop)
		return -EINVAL;
	r->p++;
	*out = v;
	return 0;
}

static int read_value(struct reader *r, unsigned depth, unsigned *index);

static int read_string(struct reader *r, unsigned *index)
{
	uint64_t len;
	int rc = read_digits(r, ':', &len);
	if (rc < 0)
		return rc;
	if (len > (uint64_t)(r->end - r->p))
		return -EINVAL;
	if ((rc = new_node(r, BDEC_STR, index)) < 0)
		return rc;
	r->d->nodes[*index].str = r->p;
	r->d->nodes[*index].len = (size_t)len;
	r->p += len;
	return 0;
}

static int read_int(struct reader *r, unsigned *index)
{
	r->p++; /* 'i' */
	bool negative = r->p < r->end && *r->p == '-';
	if (negative)
		r->p++;
	uint64_t v;
	int rc = read_digits(r, 'e', &v);
	if (rc < 0)
		return rc;
	if (negative && v == 0)
		return -EINVAL; /* "-0" */
	if (!negative && v > INT64_MAX)
		return -EINVAL;
	if ((rc = new_node(r, BDEC_INT, index)) < 0)
		return rc;
	/* -2^63 is the one value whose magnitude is not an int64 */
	r->d->nodes[*index].i = negative ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int read_container(struct reader *r, unsigned depth, enum bdec_type type,
                          unsigned *index)
{
	if (depth >= BENCODE_DEPTH_MAX)
		return -E2BIG;
	r->p++; /* 'l' or 'd' */
	int rc = new_node(r, type, index);
	if (rc < 0)
		return rc;
	unsigned me = *index, last = 0;
	size_t count = 0;
	for (;;) {
		if (r->p >= r->end)
			return -EINVAL;
		if (*r->p == 'e') {
			r->p++;
			break;
		}
		unsigned child;
		/* a dictionary's keys are strings */
		if (type == BDEC_DICT && count % 2 == 0 && (*r->p < '0' || *r->p > '9'))
			return -EINVAL;
		if ((rc = read_value(r, depth + 1, &child)) < 0)
			return rc;
		if (last)
			r->d->nodes[last].next = child;
		else
			r->d->nodes[me].first = child;
		last = child;
		count++;
	}
	if (type == BDEC_DICT && count % 2)
		return -EINVAL; /* a key without its value */
	r->d->nodes[me].len = count;
	return 0;
}

static int read_value(struct reader *r, unsigned depth, unsigned *index)
{
	if (r->p >= r->end)
		return -EINVAL;
	switch (*r->p) {
	case 'i': return read_int(r, index);
	case 'l': return read_container(r, depth, BDEC_LIST, index);
	case 'd': return read_container(r, depth, BDEC_DICT, index);
	default:
		if (*r->p >= '0' && *r->p <= '9')
			return read_string(r, index);
		return -EINVAL;
	}
}

int bdec_parse(struct bdec *d, const char *buf, size_t len, size_t *used)
{
	d->n = 0;
	struct reader r = {.d = d, .p = buf, .end = buf + len};
	unsigned root;
	int rc = read_value(&r, 0, &root);
	if (rc < 0) {
		d->n = 0;
		return rc;
	}
	size_t n = (size_t)(r.p - buf);
	if (used)
		*used = n;
	else if (n != len) {
		d->n = 0;
		return -EINVAL;
	}
	return 0;
}

const struct bdec_node *bdec_root(const struct bdec *d)
{
	return d->n ? &d->nodes[0] : NULL;
}

const struct bdec_node *bdec_first(const struct bdec *d, const struct bdec_node *n)
{
	if (!n || (n->type != BDEC_LIST && n->type != BDEC_DICT) || !n->first)
		return NULL;
	return &d->nodes[n->first];
}

const struct bdec_node *bdec_next(const struct bdec *d, const struct bdec_node *n)
{
	return n && n->next ? &d->nodes[n->next] : NULL;
}

bool bdec_is(const struct bdec_node *n, const char *s)
{
	size_t len = strlen(s);
	return n && n->type == BDEC_STR && n->len == len && !memcmp(n->str, s, len);
}

const struct bdec_node *bdec_get(const struct bdec *d, const struct bdec_node *dict,
                                 const char *key)
{
	if (!dict || dict->type != BDEC_DICT)
		return NULL;
	for (const struct bdec_node *k = bdec_first(d, dict); k; k = bdec_next(d, k)) {
		const struct bdec_node *v = bdec_next(d, k);
		if (!v)
			return NULL;
		if (bdec_is(k, key))
			return v;
		k = v;
	}
	return NULL;
}

int bdec_copy(const struct bdec_node *n, char *out, size_t size)
{
	if (!n || n->type != BDEC_STR || n->len > INT32_MAX)
		return -EINVAL;
	if (size) {
		size_t k = n->len < size - 1 ? n->len : size - 1;
		memcpy(out, n->str, k);
		out[k] = '\0';
	}
	return (int)n->len;
}
