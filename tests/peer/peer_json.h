/* peer_json.h — a streaming JSON writer for the test peer's report: one
 * object written member by member to a FILE, commas and escapes handled.
 * Keys are given for object members and NULL for array elements. Nesting
 * deeper than PEER_JSON_MAX_DEPTH is written flat (never past the stack). */
#ifndef SIPWIRE_PEER_JSON_H
#define SIPWIRE_PEER_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PEER_JSON_MAX_DEPTH 16

struct peer_json {
	FILE *f;
	unsigned depth;
	bool has_members[PEER_JSON_MAX_DEPTH]; /* a comma goes before the next one */
};

void peer_json_init(struct peer_json *j, FILE *f);

void peer_json_object_begin(struct peer_json *j, const char *key);
void peer_json_object_end(struct peer_json *j);
void peer_json_array_begin(struct peer_json *j, const char *key);
void peer_json_array_end(struct peer_json *j);

/* value NULL writes null. */
void peer_json_string(struct peer_json *j, const char *key, const char *value);
/* len bytes of text that need not be NUL-terminated. */
void peer_json_string_n(struct peer_json *j, const char *key, const char *value, size_t len);
void peer_json_uint(struct peer_json *j, const char *key, uint64_t value);
void peer_json_int(struct peer_json *j, const char *key, int64_t value);
/* Written with three decimals. */
void peer_json_double(struct peer_json *j, const char *key, double value);
void peer_json_bool(struct peer_json *j, const char *key, bool value);
void peer_json_null(struct peer_json *j, const char *key);
/* A time in ms, or null when negative (not reached). */
void peer_json_ms(struct peer_json *j, const char *key, int64_t ms);

#endif
