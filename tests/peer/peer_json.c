/* peer_json.c — see peer_json.h. */
#include "peer_json.h"

#include <inttypes.h>
#include <string.h>

void peer_json_init(struct peer_json *j, FILE *f)
{
	memset(j, 0, sizeof *j);
	j->f = f;
}

static void write_escaped(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

/* The comma and key that come before every member or element. */
static void member(struct peer_json *j, const char *key)
{
	unsigned d = j->depth < PEER_JSON_MAX_DEPTH ? j->depth : PEER_JSON_MAX_DEPTH - 1;
	if (j->has_members[d])
		fputc(',', j->f);
	j->has_members[d] = true;
	if (key) {
		write_escaped(j->f, key, strlen(key));
		fputc(':', j->f);
	}
}

static void open_level(struct peer_json *j, const char *key, char c)
{
	member(j, key);
	fputc(c, j->f);
	j->depth++;
	if (j->depth < PEER_JSON_MAX_DEPTH)
		j->has_members[j->depth] = false;
}

static void close_level(struct peer_json *j, char c)
{
	if (j->depth)
		j->depth--;
	fputc(c, j->f);
}

void peer_json_object_begin(struct peer_json *j, const char *key) { open_level(j, key, '{'); }
void peer_json_object_end(struct peer_json *j) { close_level(j, '}'); }
void peer_json_array_begin(struct peer_json *j, const char *key) { open_level(j, key, '['); }
void peer_json_array_end(struct peer_json *j) { close_level(j, ']'); }

void peer_json_string_n(struct peer_json *j, const char *key, const char *value, size_t len)
{
	member(j, key);
	write_escaped(j->f, value, len);
}

void peer_json_string(struct peer_json *j, const char *key, const char *value)
{
	if (!value) {
		peer_json_null(j, key);
		return;
	}
	peer_json_string_n(j, key, value, strlen(value));
}

void peer_json_uint(struct peer_json *j, const char *key, uint64_t value)
{
	member(j, key);
	fprintf(j->f, "%" PRIu64, value);
}

void peer_json_int(struct peer_json *j, const char *key, int64_t value)
{
	member(j, key);
	fprintf(j->f, "%" PRId64, value);
}

void peer_json_double(struct peer_json *j, const char *key, double value)
{
	member(j, key);
	fprintf(j->f, "%.3f", value);
}

void peer_json_bool(struct peer_json *j, const char *key, bool value)
{
	member(j, key);
	fputs(value ? "true" : "false", j->f);
}

void peer_json_null(struct peer_json *j, const char *key)
{
	member(j, key);
	fputs("null", j->f);
}

void peer_json_ms(struct peer_json *j, const char *key, int64_t ms)
{
	if (ms < 0)
		peer_json_null(j, key);
	else
		peer_json_int(j, key, ms);
}
