/* fuzz_sdp.c — the SDP parser, serializer and editing helpers over one input.
 *
 * A description that parses must print, parse again, and print to the same
 * text (the serializer is a fixed point after one round), with the same shape
 * (sections, formats, attributes). Every look-up runs on every section, and
 * each edit an SDH makes (direction, formats) must leave a description that
 * still parses and means what the edit said. A rejected input must say why.
 * The invariants below trap when broken, so the fuzzer reports a wrong answer
 * as well as a bad read. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "webrtc/sdp.h"

static volatile unsigned sink;

static void same_shape(const struct sdp_session *a, const struct sdp_session *b)
{
	CHECK(a->n_attrs == b->n_attrs && a->n_media == b->n_media && a->n_times == b->n_times);
	CHECK(a->sess_id == b->sess_id && a->sess_version == b->sess_version);
	for (unsigned i = 0; i < a->n_attrs; i++)
		CHECK(a->attrs[i].kind == b->attrs[i].kind);
	for (unsigned i = 0; i < a->n_media; i++) {
		const struct sdp_media *x = &a->media[i], *y = &b->media[i];
		CHECK(x->port == y->port && x->n_formats == y->n_formats &&
		      x->n_attrs == y->n_attrs && x->conn.present == y->conn.present);
		for (unsigned j = 0; j < x->n_attrs; j++)
			CHECK(x->attrs[j].kind == y->attrs[j].kind);
		for (unsigned j = 0; j < x->n_formats; j++)
			CHECK(strcmp(x->formats[j], y->formats[j]) == 0);
	}
}

/* Print s, parse the text again and print that: both texts must match. */
static void round_trip(const struct sdp_session *s)
{
	size_t len;
	char *text = sdp_to_string(s, &len);
	if (!text)
		return;
	CHECK(strlen(text) == len);
	struct sdp_session *again;
	struct sdp_error err = {0, NULL};
	int e = sdp_parse(text, len, &again, &err);
	/* a description that grew past the size limit by an edit may not parse */
	CHECK(e == 0 || (e == -E2BIG && len > SDP_MAX_SIZE));
	if (e == 0) {
		same_shape(s, again);
		size_t len2;
		char *text2 = sdp_to_string(again, &len2);
		if (text2) {
			CHECK(len2 == len && memcmp(text, text2, len) == 0);
			free(text2);
		}
		sdp_free(again);
	}
	/* a short buffer gets a terminated prefix and the same length */
	char small[16];
	CHECK(sdp_print(s, small, sizeof(small)) == len);
	CHECK(memchr(small, '\0', sizeof(small)) != NULL);
	free(text);
}

static void look_up(const struct sdp_session *s)
{
	for (unsigned i = 0; i < s->n_media; i++) {
		const struct sdp_media *m = &s->media[i];
		for (unsigned f = 0; f < m->n_formats; f++) {
			struct sdp_codec c, found;
			if (sdp_media_codec_at(m, f, &c) == 0) {
				CHECK(c.pt < 128 && c.encoding && c.clock > 0);
				/* looking the codec up by its name finds one of that name */
				CHECK(sdp_media_find_codec(m, c.encoding, c.clock, &found) == 0);
				CHECK(found.clock == c.clock);
				sink += (unsigned)strlen(c.encoding) + (c.fmtp ? 1u : 0u);
			}
		}
		enum sdp_direction dir = sdp_media_direction(s, m);
		CHECK(dir >= SDP_DIR_SENDRECV && dir <= SDP_DIR_INACTIVE);
		bool held = sdp_media_on_hold(s, m);
		if (dir == SDP_DIR_SENDONLY || dir == SDP_DIR_INACTIVE)
			CHECK(held == (m->port != 0));
		const struct sdp_connection *c = sdp_media_connection(s, m);
		if (c)
			sink += (unsigned)strlen(c->address);
		unsigned from = 0, n = 0;
		while (sdp_attr_next(m->attrs, m->n_attrs, SDP_ATTR_CANDIDATE, NULL, &from)) {
			n++;
			CHECK(n <= m->n_attrs);
		}
	}
}

static void edit(struct sdp_session *s, const uint8_t *data, size_t size)
{
	for (unsigned i = 0; i < s->n_media; i++) {
		struct sdp_media *m = &s->media[i];
		enum sdp_direction want = (enum sdp_direction)(SDP_DIR_SENDRECV + (size + i) % 4);
		int r = sdp_media_set_direction(s, m, want);
		/* a full section has no room for a direction attribute */
		CHECK(r == 0 || (r == -E2BIG && m->n_attrs == SDP_MAX_ATTRS));
		CHECK(sdp_set_connection(s, m, i % 2 ? "2001:db8::1" : "192.0.2.1") == 0);
		if (r == 0) {
			CHECK(sdp_media_direction(s, m) == want);
			if (want == SDP_DIR_SENDRECV || want == SDP_DIR_RECVONLY)
				CHECK(!sdp_media_on_hold(s, m));
			else
				CHECK(sdp_media_on_hold(s, m) == (m->port != 0));
		}
		if (m->n_formats > 1) {
			unsigned before = m->n_formats;
			CHECK(sdp_media_remove_format(m, m->formats[data[0] % m->n_formats]) == 0);
			CHECK(m->n_formats == before - 1);
		}
		int e = sdp_media_add_format(s, m, 101, "telephone-event", 8000, 0, "0-16");
		CHECK(e == 0 || e == -EEXIST || e == -E2BIG);
		if (e == 0) {
			struct sdp_codec c;
			CHECK(sdp_media_find_codec(m, "TELEPHONE-EVENT", 8000, &c) == 0);
		}
	}
	sdp_bump_version(s);
	round_trip(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sdp_session *s = NULL;
	struct sdp_error err = {-1, NULL};
	int e = sdp_parse((const char *)data, size, &s, &err);
	if (e) {
		CHECK(s == NULL && err.reason != NULL && err.line >= 0);
		CHECK(e == -EINVAL || e == -E2BIG || e == -ENOMEM);
		return 0;
	}
	CHECK(s && s->n_media <= SDP_MAX_MEDIA && s->n_times >= 1);
	look_up(s);
	round_trip(s);
	if (size)
		edit(s, data, size);
	sdp_free(s);
	return 0;
}
