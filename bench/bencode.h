/* bencode — the encoding of rtpengine's ng control protocol: integers
 * (i42e), byte strings (4:spam), lists (l...e) and dictionaries (d...e, a
 * string key before each value).
 *
 * The writer appends to a caller's buffer and remembers running out of it.
 * The reader parses a message received from the network into a caller's
 * table of nodes, without allocating and without recursion deeper than
 * BENCODE_DEPTH_MAX; every string is a view into the message. It takes what
 * rtpengine sends (dictionary keys in any order, as rtpengine writes them)
 * and refuses anything else: leading zeros, "-0", integers past int64,
 * strings past the end, nesting past the limit, trailing bytes when the
 * caller wants the whole buffer used. */
#ifndef SIPWIRE_BENCH_BENCODE_H
#define SIPWIRE_BENCH_BENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCODE_DEPTH_MAX 32

/* ---- writing ---- */

struct benc {
	char *buf;
	size_t cap, len;
	bool overflow;
};

void benc_init(struct benc *b, char *buf, size_t cap);
void benc_dict(struct benc *b); /* opens a dictionary */
void benc_list(struct benc *b); /* opens a list */
void benc_end(struct benc *b);  /* closes the innermost one */
void benc_int(struct benc *b, int64_t v);
void benc_bytes(struct benc *b, const void *p, size_t len);
void benc_str(struct benc *b, const char *s); /* NUL-terminated */
/* key then value, inside a dictionary */
void benc_kv_str(struct benc *b, const char *key, const char *value);
/* The length written, or -ENOSPC when the buffer was too small. */
int benc_finish(const struct benc *b);

/* ---- reading ---- */

enum bdec_type {
	BDEC_INT = 1,
	BDEC_STR,
	BDEC_LIST,
	BDEC_DICT,
};

/* Nodes are stored in document order; children follow their container.
 * A dictionary's children alternate key (a string) and value. */
struct bdec_node {
	enum bdec_type type;
	const char *str; /* BDEC_STR: its bytes (not NUL-terminated) */
	size_t len;      /* BDEC_STR: its length; containers: children */
	int64_t i;       /* BDEC_INT */
	unsigned next;   /* index of the next sibling, 0 when last */
	unsigned first;  /* containers: index of the first child, 0 when empty */
};

struct bdec {
	struct bdec_node *nodes;
	unsigned cap, n;
};

/* Parses one value at the start of buf into d's nodes (root at index 0).
 * With used NULL the value must fill buf exactly; otherwise *used is set to
 * its length. Returns 0, -EINVAL for bytes that are not bencode, -E2BIG when
 * the nodes or the depth limit run out. */
int bdec_parse(struct bdec *d, const char *buf, size_t len, size_t *used);

const struct bdec_node *bdec_root(const struct bdec *d);
/* The value of key in dictionary dict; NULL when dict is not one or has no
 * such key (the first of duplicates). */
const struct bdec_node *bdec_get(const struct bdec *d, const struct bdec_node *dict,
                                 const char *key);
/* The first child, and the one after n in the same container; NULL at the end. */
const struct bdec_node *bdec_first(const struct bdec *d, const struct bdec_node *n);
const struct bdec_node *bdec_next(const struct bdec *d, const struct bdec_node *n);
/* Is n the string s? */
bool bdec_is(const struct bdec_node *n, const char *s);
/* Copies string node n NUL-terminated into out (cut to size - 1); returns
 * its full length, or -EINVAL when n is not a string. */
int bdec_copy(const struct bdec_node *n, char *out, size_t size);

#endif
