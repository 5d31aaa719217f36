/* test_rtp.c — RTP/RTCP views, demultiplexing, rewriting and sequence tracking. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "webrtc/rtp.h"

/* ---- packet building ---- */

struct pkt {
	uint8_t b[1600];
	size_t len;
};

static void put8(struct pkt *p, unsigned v)
{
	p->b[p->len++] = (uint8_t)v;
}

static void put16(struct pkt *p, unsigned v)
{
	put8(p, v >> 8);
	put8(p, v);
}

static void put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xFFFF);
}

static void rtp_hdr(struct pkt *p, bool pad, bool ext, unsigned cc, bool marker, unsigned pt,
                    uint16_t seq, uint32_t ts, uint32_t ssrc)
{
	p->len = 0;
	put8(p, 0x80 | (pad ? 0x20 : 0) | (ext ? 0x10 : 0) | cc);
	put8(p, (marker ? 0x80 : 0) | pt);
	put16(p, seq);
	put32(p, ts);
	put32(p, ssrc);
}

/* 160 bytes of PCMU (20 ms at 8 kHz); the byte values count up so that an
 * off-by-one payload offset shows. */
static void pcmu_payload(struct pkt *p)
{
	for (unsigned i = 0; i < 160; i++)
		put8(p, i);
}

static struct rtp_view parse_ok(const struct pkt *p)
{
	struct rtp_view v;
	memset(&v, 0xA5, sizeof(v));
	cr_assert_eq(rtp_parse(p->b, p->len, &v), 0);
	return v;
}

/* ---- RTP ---- */

Test(rtp, pcmu_20ms_no_marker)
{
	struct pkt p;
	rtp_hdr(&p, false, false, 0, false, 0, 4660, 160000, 0xDEADBEEF);
	pcmu_payload(&p);
	cr_assert_eq(p.len, 172);
	struct rtp_view v = parse_ok(&p);
	cr_assert_eq(v.buf, p.b);
	cr_assert_eq(v.len, 172);
	cr_assert_eq(v.version, 2);
	cr_assert_not(v.padding);
	cr_assert_not(v.extension);
	cr_assert_not(v.marker);
	cr_assert_eq(v.csrc_count, 0);
	cr_assert_eq(v.payload_type, 0);
	cr_assert_eq(v.seq, 4660);
	cr_assert_eq(v.timestamp, 160000);
	cr_assert_eq(v.ssrc, 0xDEADBEEF);
	cr_assert_eq(v.csrc_offset, 12);
	cr_assert_eq(v.ext_profile, 0);
	cr_assert_eq(v.ext_len, 0);
	cr_assert_eq(v.payload_offset, 12);
	cr_assert_eq(v.payload_len, 160);
	cr_assert_eq(v.padding_len, 0);
	cr_assert_eq(rtp_payload(&v)[0], 0);
	cr_assert_eq(rtp_payload(&v)[159], 159);
	uint32_t csrc = 7;
	cr_assert_eq(rtp_csrc(&v, 0, &csrc), -EINVAL);
	cr_assert_eq(csrc, 7);
	struct rtp_ext_iter it;
	struct rtp_ext_elem e;
	cr_assert_eq(rtp_ext_iter_init(&it, &v), RTP_EXT_NONE);
	cr_assert_eq(rtp_ext_next(&it, &e), 0);
}

Test(rtp, pcmu_20ms_marker_and_high_fields)
{
	struct pkt p;
	rtp_hdr(&p, false, false, 0, true, 8, 65535, 0xFFFFFFFF, 1);
	pcmu_payload(&p);
	struct rtp_view v = parse_ok(&p);
	cr_assert(v.marker);
	cr_assert_eq(v.payload_type, 8);
	cr_assert_eq(v.seq, 65535);
	cr_assert_eq(v.timestamp, 0xFFFFFFFFu);
	cr_assert_eq(v.ssrc, 1);
	cr_assert_eq(v.payload_offset, 12);
	cr_assert_eq(v.payload_len, 160);
}

Test(rtp, payload_type_127_and_empty_payload)
{
	struct pkt p;
	rtp_hdr(&p, false, false, 0, true, 127, 1, 2, 3);
	struct rtp_view v = parse_ok(&p);
	cr_assert(v.marker);
	cr_assert_eq(v.payload_type, 127);
	cr_assert_eq(v.payload_offset, 12);
	cr_assert_eq(v.payload_len, 0);
}

Test(rtp, csrc_list)
{
	struct pkt p;
	rtp_hdr(&p, false, false, 3, false, 96, 10, 20, 30);
	put32(&p, 0x11111111);
	put32(&p, 0x22222222);
	put32(&p, 0xCAFEF00D);
	put8(&p, 0x42);
	struct rtp_view v = parse_ok(&p);
	cr_assert_eq(v.csrc_count, 3);
	cr_assert_eq(v.payload_type, 96);
	cr_assert_eq(v.csrc_offset, 12);
	cr_assert_eq(v.payload_offset, 24);
	cr_assert_eq(v.payload_len, 1);
	cr_assert_eq(rtp_payload(&v)[0], 0x42);
	uint32_t c;
	cr_assert_eq(rtp_csrc(&v, 0, &c), 0);
	cr_assert_eq(c, 0x11111111);
	cr_assert_eq(rtp_csrc(&v, 1, &c), 0);
	cr_assert_eq(c, 0x22222222);
	cr_assert_eq(rtp_csrc(&v, 2, &c), 0);
	cr_assert_eq(c, 0xCAFEF00D);
	cr_assert_eq(rtp_csrc(&v, 3, &c), -EINVAL);
}

Test(rtp, fifteen_csrcs_exactly_fill)
{
	struct pkt p;
	rtp_hdr(&p, false, false, 15, false, 0, 0, 0, 0);
	for (uint32_t i = 0; i < 15; i++)
		put32(&p, i + 100);
	struct rtp_view v = parse_ok(&p);
	cr_assert_eq(v.csrc_count, 15);
	cr_assert_eq(v.payload_offset, 72);
	cr_assert_eq(v.payload_len, 0);
	uint32_t c;
	cr_assert_eq(rtp_csrc(&v, 14, &c), 0);
	cr_assert_eq(c, 114);
	/* one byte short of the list */
	cr_assert_eq(rtp_parse(p.b, p.len - 1, &v), -EINVAL);
}

/* One-byte form: audio level (id 1, 1 byte), a padding byte, abs-send-time
 * (id 3, 3 bytes), then zero padding to the 32-bit boundary. */
static void build_one_byte_ext(struct pkt *p)
{
	rtp_hdr(p, false, true, 1, true, 111, 1000, 48000, 0x01020304);
	put32(p, 0xAABBCCDD); /* CSRC */
	put16(p, 0xBEDE);
	put16(p, 2);   /* 8 bytes of elements */
	put8(p, 0x10); /* id 1, len 1 */
	put8(p, 0x85); /* voice activity + level 5 */
	put8(p, 0x00); /* padding between elements */
	put8(p, 0x32); /* id 3, len 3 */
	put8(p, 0x12);
	put8(p, 0x34);
	put8(p, 0x56);
	put8(p, 0x00); /* trailing padding */
	put8(p, 0xF0); /* Opus TOC byte, then data */
	put8(p, 0xFF);
	put8(p, 0xFE);
}

Test(rtp, one_byte_extension)
{
	struct pkt p;
	build_one_byte_ext(&p);
	struct rtp_view v = parse_ok(&p);
	cr_assert(v.extension);
	cr_assert(v.marker);
	cr_assert_eq(v.csrc_count, 1);
	cr_assert_eq(v.payload_type, 111);
	cr_assert_eq(v.seq, 1000);
	cr_assert_eq(v.timestamp, 48000);
	cr_assert_eq(v.ssrc, 0x01020304);
	cr_assert_eq(v.ext_profile, 0xBEDE);
	cr_assert_eq(v.ext_offset, 20);
	cr_assert_eq(v.ext_len, 8);
	cr_assert_eq(v.payload_offset, 28);
	cr_assert_eq(v.payload_len, 3);
	cr_assert_eq(rtp_payload(&v)[0], 0xF0);

	struct rtp_ext_iter it;
	struct rtp_ext_elem e;
	cr_assert_eq(rtp_ext_iter_init(&it, &v), RTP_EXT_FORM_ONE_BYTE);
	cr_assert_eq(rtp_ext_next(&it, &e), 1);
	cr_assert_eq(e.id, 1);
	cr_assert_eq(e.len, 1);
	cr_assert_eq(e.data, p.b + 21);
	cr_assert_eq(e.data[0], 0x85);
	cr_assert_eq(rtp_ext_next(&it, &e), 1);
	cr_assert_eq(e.id, 3);
	cr_assert_eq(e.len, 3);
	cr_assert_eq(e.data[0], 0x12);
	cr_assert_eq(e.data[2], 0x56);
	cr_assert_eq(rtp_ext_next(&it, &e), 0);
	cr_assert_eq(rtp_ext_next(&it, &e), 0);

	cr_assert_eq(rtp_ext_find(&v, 3, &e), 1);
	cr_assert_eq(e.id, 3);
	cr_assert_eq(e.data[1], 0x34);
	cr_assert_eq(rtp_ext_find(&v, 2, &e), 0);
}

Test(rtp, one_byte_extension_id15_stops)
{
	struct pkt p;
	rtp_hdr(&p, false, true, 0, false, 0, 1, 1, 1);
	put16(&p, 0xBEDE);
	put16(&p, 1);
	put8(&p, 0x20); /* id 2, len 1 */
	put8(&p, 0x77);
	put8(&p, 0xFF); /* id 15: the length is ignored and processing ends */
	put8(&p, 0x10);
	struct rtp_view v = parse_ok(&p);
	struct rtp_ext_iter it;
	struct rtp_ext_elem e;
	rtp_ext_iter_init(&it, &v);
	cr_assert_eq(rtp_ext_next(&it, &e), 1);
	cr_assert_eq(e.id, 2);
	cr_assert_eq(e.data[0], 0x77);
	cr_assert_eq(rtp_ext_next(&it, &e), 0);
	cr_assert_eq(rtp_ext_find(&v, 1, &e), 0);
}

Test(rtp, one_byte_extension_element_overrun)
{
	struct pkt p;
	rtp_hdr(&p, false, true, 0, false, 0, 1, 1, 1);
	put16(&p, 0xBEDE);
	put16(&p, 1);
	put8(&p, 0x10); /* id 1, len 1: fine */
	put8(&p, 0x01);
	put8(&p, 0x52); /* id 5, len 3: needs 3 bytes, 1 left */
	put8(&p, 0x99);
	put8(&p, 0xAA); /* payload, must not be read as extension data */
	put8(&p, 0xBB);
	put8(&p, 0xCC);
	struct rtp_view v = parse_ok(&p);
	cr_assert_eq(v.payload_len, 3);
	struct rtp_ext_iter it;
	struct rtp_ext_elem e;
	rtp_ext_iter_init(&it, &v);
	cr_assert_eq(rtp_ext_next(&it, &e), 1);
	cr_assert_eq(e.id, 1);
	cr_assert_eq(rtp_ext_next(&it, &e), -EINVAL);
	cr_assert_eq(rtp_ext_next(&it, &e), 0);
	cr_assert_eq(rtp_ext_find(&v, 5, &e), -EINVAL);
}

Test(rtp, one_byte_extension_id0_with_length_is_malformed)
{
	struct pkt p;
	rtp_hdr(&p, false, true, 0, false, 0, 1, 1, 1);
	put16(&p, 0xBEDE);
	put16(&p, 1);
	put32(&p, 0x03000000); /* id 0, len 4 */
	struct rtp_view v = parse_ok(&p);
	struct rtp_ext_iter it;
	struct rtp_ext_elem e;
	rtp_ext_iter_init(&it, &v);
	cr_assert_eq(rtp_ext_next(&it, &e), -EINVAL);
}

Test(rtp, two_byte_extension)
{
	struct pkt p;
	rtp_hdr(&p, false, true, 0, false, 100, 7, 8, 9);
	put16(&p, 0x1003); /* two-byte form, appbits 3 */
	put16(&p, 3);      /* 12 bytes of elements */
	put8(&p, 20);      /* id 20, empty */
	put8(&p, 0);
	put8(&p, 0);   /* padding */
	put8(&p, 200); /* id 200, 5 bytes */
	put8(&p, 5);
	for (unsigned i = 1; i <= 5; i++)
		put8(&p, i);
	put8(&p, 0);
	put8(&p, 0);
	pcmu_payload(&p);
	struct rtp_view v = parse_ok(&p);
	cr_assert_eq(v.ext_profile, 0x1003);
	cr_assert_eq(v.ext_offset, 16);
	cr_assert_eq(v.ext_len, 12);
	cr_assert_eq(v.payload_offset, 28);
	cr_assert_eq(v.payload_len, 160);

	struct rtp_ext_iter it;
	struct rtp_ext_elem e;
	cr_assert_eq(rtp_ext_iter_init(&it, &v), RTP_EXT_FORM_TWO_BYTE);
	cr_assert_eq(rtp_ext_next(&it, &e), 1);
	cr_assert_eq(e.id, 20);
	cr_assert_eq(e.len, 0);
	cr_assert_eq(e.data, p.b + 18);
	cr_assert_eq(rtp_ext_next(&it, &e), 1);
	cr_assert_eq(e.id, 200);
	cr_assert_eq(e.len, 5);
	cr_assert_eq(e.data, p.b + 21);
	cr_assert_eq(e.data[4], 5);
	cr_assert_eq(rtp_ext_next(&it, &e), 0);
	cr_assert_eq(rtp_ext_find(&v, 200, &e), 1);
	cr_assert_eq(e.len, 5);
}

Test(rtp, two_byte_extension_overrun)
{
	struct pkt p;
	rtp_hdr(&p, false, true, 0, false, 100, 7, 8, 9);
	put16(&p, 0x1000);
	put16(&p, 1);
	put8(&p, 9);
	put8(&p, 3); /* 3 bytes claimed, 2 left */
	put8(&p, 1);
	put8(&p, 2);
	put8(&p, 0xEE);
	put8(&p, 0xEE);
	struct rtp_view v = parse_ok(&p);
	struct rtp_ext_iter it;
	struct rtp_ext_elem e;
	rtp_ext_iter_init(&it, &v);
	cr_assert_eq(rtp_ext_next(&it, &e), -EINVAL);

	/* a lone nonzero ID byte at the end of the body has no length byte */
	rtp_hdr(&p, false, true, 0, false, 100, 7, 8, 9);
	put16(&p, 0x1000);
	put16(&p, 1);
	put32(&p, 0x00000009);
	v = parse_ok(&p);
	rtp_ext_iter_init(&it, &v);
	cr_assert_eq(rtp_ext_next(&it, &e), -EINVAL);
}

Test(rtp, other_extension_profile_is_opaque)
{
	struct pkt p;
	rtp_hdr(&p, false, true, 0, false, 0, 1, 1, 1);
	put16(&p, 0xABAC);
	put16(&p, 1);
	put32(&p, 0x10FFFFFF);
	put8(&p, 0x55);
	struct rtp_view v = parse_ok(&p);
	cr_assert_eq(v.ext_profile, 0xABAC);
	cr_assert_eq(v.ext_offset, 16);
	cr_assert_eq(v.ext_len, 4);
	cr_assert_eq(v.payload_offset, 20);
	cr_assert_eq(v.payload_len, 1);
	struct rtp_ext_iter it;
	struct rtp_ext_elem e;
	cr_assert_eq(rtp_ext_iter_init(&it, &v), RTP_EXT_NONE);
	cr_assert_eq(rtp_ext_next(&it, &e), 0);
}

Test(rtp, empty_extension_body)
{
	struct pkt p;
	rtp_hdr(&p, false, true, 0, false, 0, 1, 1, 1);
	put16(&p, 0xBEDE);
	put16(&p, 0);
	struct rtp_view v = parse_ok(&p);
	cr_assert_eq(v.ext_len, 0);
	cr_assert_eq(v.payload_offset, 16);
	cr_assert_eq(v.payload_len, 0);
	struct rtp_ext_iter it;
	struct rtp_ext_elem e;
	cr_assert_eq(rtp_ext_iter_init(&it, &v), RTP_EXT_FORM_ONE_BYTE);
	cr_assert_eq(rtp_ext_next(&it, &e), 0);
}

Test(rtp, extension_length_past_buffer)
{
	struct pkt p;
	rtp_hdr(&p, false, true, 0, false, 0, 1, 1, 1);
	put16(&p, 0xBEDE);
	put16(&p, 2); /* 8 bytes announced, 4 present */
	put32(&p, 0x10AA0000);
	struct rtp_view v;
	cr_assert_eq(rtp_parse(p.b, p.len, &v), -EINVAL);
	p.b[15] = 0xFF; /* 0xFFFF words */
	cr_assert_eq(rtp_parse(p.b, p.len, &v), -EINVAL);
}

Test(rtp, padding)
{
	struct pkt p;
	rtp_hdr(&p, true, false, 0, false, 0, 2, 320, 5);
	pcmu_payload(&p);
	put8(&p, 0);
	put8(&p, 0);
	put8(&p, 0);
	put8(&p, 4);
	struct rtp_view v = parse_ok(&p);
	cr_assert(v.padding);
	cr_assert_eq(v.len, 176);
	cr_assert_eq(v.payload_offset, 12);
	cr_assert_eq(v.payload_len, 160);
	cr_assert_eq(v.padding_len, 4);
	cr_assert_eq(rtp_payload(&v)[159], 159);
}

Test(rtp, padding_is_whole_payload)
{
	struct pkt p;
	rtp_hdr(&p, true, false, 0, false, 0, 2, 320, 5);
	put8(&p, 0);
	put8(&p, 2);
	struct rtp_view v = parse_ok(&p);
	cr_assert_eq(v.payload_len, 0);
	cr_assert_eq(v.padding_len, 2);
}

Test(rtp, padding_longer_than_payload)
{
	struct pkt p;
	rtp_hdr(&p, true, false, 0, false, 0, 2, 320, 5);
	put8(&p, 0xAA);
	put8(&p, 3); /* 3 bytes of padding, 2 after the header */
	struct rtp_view v;
	memset(&v, 0, sizeof(v));
	cr_assert_eq(rtp_parse(p.b, p.len, &v), -EINVAL);
	cr_assert_eq(v.len, 0, "out untouched on failure");
	p.b[p.len - 1] = 255;
	cr_assert_eq(rtp_parse(p.b, p.len, &v), -EINVAL);
}

Test(rtp, padding_count_zero_or_no_room)
{
	struct pkt p;
	rtp_hdr(&p, true, false, 0, false, 0, 2, 320, 5);
	put8(&p, 0x11);
	put8(&p, 0);
	struct rtp_view v;
	cr_assert_eq(rtp_parse(p.b, p.len, &v), -EINVAL);
	/* padding bit with nothing after the header: no count byte at all */
	rtp_hdr(&p, true, false, 0, false, 0, 2, 320, 5);
	cr_assert_eq(rtp_parse(p.b, p.len, &v), -EINVAL);
}

Test(rtp, padding_does_not_eat_extension)
{
	struct pkt p;
	rtp_hdr(&p, true, true, 0, false, 0, 2, 320, 5);
	put16(&p, 0xBEDE);
	put16(&p, 1);
	put32(&p, 0x10AA0005); /* the last byte of the extension says 5 */
	struct rtp_view v;
	cr_assert_eq(rtp_parse(p.b, p.len, &v), -EINVAL);
	put8(&p, 1);
	v = parse_ok(&p);
	cr_assert_eq(v.payload_offset, 20);
	cr_assert_eq(v.payload_len, 0);
	cr_assert_eq(v.padding_len, 1);
}

Test(rtp, bad_version)
{
	struct pkt p;
	rtp_hdr(&p, false, false, 0, false, 0, 1, 2, 3);
	pcmu_payload(&p);
	struct rtp_view v;
	for (unsigned ver = 0; ver < 4; ver++) {
		p.b[0] = (uint8_t)((p.b[0] & 0x3F) | ver << 6);
		cr_assert_eq(rtp_parse(p.b, p.len, &v), ver == 2 ? 0 : -EINVAL, "version %u", ver);
	}
}

Test(rtp, null_and_short)
{
	struct rtp_view v;
	uint8_t b[12] = {0x80};
	cr_assert_eq(rtp_parse(NULL, 12, &v), -EINVAL);
	cr_assert_eq(rtp_parse(b, 12, NULL), -EINVAL);
	cr_assert_eq(rtp_parse(b, 11, &v), -EINVAL);
	cr_assert_eq(rtp_parse(b, 0, &v), -EINVAL);
	cr_assert_eq(rtp_parse(b, 12, &v), 0);
}

/* Every prefix of a packet with CSRCs and an extension: short of the headers
 * it fails; from there it parses with a shorter payload. Each prefix is
 * parsed from an exact-size copy so ASan catches a read past it. */
Test(rtp, truncated_at_every_length)
{
	struct pkt p;
	build_one_byte_ext(&p);
	size_t hdr_end = 28;
	for (size_t n = 0; n <= p.len; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		cr_assert_not_null(copy);
		memcpy(copy, p.b, n);
		struct rtp_view v;
		int r = rtp_parse(copy, n, &v);
		if (n < hdr_end) {
			cr_assert_eq(r, -EINVAL, "length %zu", n);
		} else {
			cr_assert_eq(r, 0, "length %zu", n);
			cr_assert_eq(v.payload_offset, hdr_end);
			cr_assert_eq(v.payload_len, n - hdr_end);
			struct rtp_ext_elem e;
			cr_assert_eq(rtp_ext_find(&v, 3, &e), 1);
		}
		free(copy);
	}
}

Test(rtp, truncated_padded_packet_every_length)
{
	struct pkt p;
	rtp_hdr(&p, true, false, 2, false, 0, 2, 320, 5);
	put32(&p, 1);
	put32(&p, 2);
	for (unsigned i = 0; i < 10; i++)
		put8(&p, 0xF0); /* larger than any remaining length */
	put8(&p, 0);
	put8(&p, 2);
	cr_assert_eq(parse_ok(&p).payload_len, 10);
	for (size_t n = 0; n < p.len; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		cr_assert_not_null(copy);
		memcpy(copy, p.b, n);
		struct rtp_view v;
		cr_assert_eq(rtp_parse(copy, n, &v), -EINVAL, "length %zu", n);
		free(copy);
	}
}

Test(rtp, rewrite_in_place)
{
	struct pkt p;
	rtp_hdr(&p, false, false, 0, true, 0, 100, 200, 300);
	pcmu_payload(&p);
	cr_assert_eq(rtp_set_payload_type(p.b, p.len, 101), 0);
	cr_assert_eq(rtp_set_seq(p.b, p.len, 0xFEDC), 0);
	cr_assert_eq(rtp_set_timestamp(p.b, p.len, 0x89ABCDEF), 0);
	cr_assert_eq(rtp_set_ssrc(p.b, p.len, 0x01234567), 0);
	/* network byte order on the wire */
	cr_assert_eq(p.b[1], 0x80 | 101);
	cr_assert_eq(p.b[2], 0xFE);
	cr_assert_eq(p.b[3], 0xDC);
	cr_assert_eq(p.b[4], 0x89);
	cr_assert_eq(p.b[7], 0xEF);
	cr_assert_eq(p.b[8], 0x01);
	cr_assert_eq(p.b[11], 0x67);
	struct rtp_view v = parse_ok(&p);
	cr_assert(v.marker, "marker kept");
	cr_assert_eq(v.payload_type, 101);
	cr_assert_eq(v.seq, 0xFEDC);
	cr_assert_eq(v.timestamp, 0x89ABCDEFu);
	cr_assert_eq(v.ssrc, 0x01234567u);
	cr_assert_eq(v.payload_len, 160);
	cr_assert_eq(rtp_payload(&v)[1], 1, "payload untouched");

	cr_assert_eq(rtp_set_marker(p.b, p.len, false), 0);
	v = parse_ok(&p);
	cr_assert_not(v.marker);
	cr_assert_eq(v.payload_type, 101);
	cr_assert_eq(rtp_set_marker(p.b, p.len, true), 0);
	cr_assert_eq(p.b[1], 0x80 | 101);
	cr_assert_eq(p.b[0], 0x80, "first byte untouched");
}

Test(rtp, rewrite_rejects_short_or_bad)
{
	uint8_t b[12] = {0x80, 0x00};
	cr_assert_eq(rtp_set_payload_type(b, 12, 128), -EINVAL);
	cr_assert_eq(b[1], 0);
	cr_assert_eq(rtp_set_payload_type(b, 11, 1), -EINVAL);
	cr_assert_eq(rtp_set_seq(b, 11, 1), -EINVAL);
	cr_assert_eq(rtp_set_timestamp(b, 11, 1), -EINVAL);
	cr_assert_eq(rtp_set_ssrc(b, 11, 1), -EINVAL);
	cr_assert_eq(rtp_set_marker(b, 11, true), -EINVAL);
	cr_assert_eq(rtp_set_seq(NULL, 12, 1), -EINVAL);
	for (unsigned i = 2; i < 12; i++)
		cr_assert_eq(b[i], 0);
}

/* ---- demultiplexing ---- */

static enum rtp_demux_kind expected_kind(unsigned b0)
{
	if (b0 <= 3)
		return RTP_DEMUX_STUN;
	if (b0 >= 16 && b0 <= 19)
		return RTP_DEMUX_ZRTP;
	if (b0 >= 20 && b0 <= 63)
		return RTP_DEMUX_DTLS;
	if (b0 >= 64 && b0 <= 79)
		return RTP_DEMUX_TURN_CHANNEL;
	if (b0 >= 128 && b0 <= 191)
		return RTP_DEMUX_RTP; /* with a second byte of 0 */
	return RTP_DEMUX_UNKNOWN;
}

Test(demux, every_first_byte)
{
	for (unsigned b0 = 0; b0 < 256; b0++) {
		uint8_t b[2] = {(uint8_t)b0, 0};
		cr_assert_eq(rtp_demux(b, 2), expected_kind(b0), "first byte %u", b0);
	}
}

Test(demux, range_edges)
{
	static const struct {
		uint8_t b0;
		enum rtp_demux_kind kind;
	} cases[] = {
	    {0, RTP_DEMUX_STUN},          {1, RTP_DEMUX_STUN},     {3, RTP_DEMUX_STUN},
	    {4, RTP_DEMUX_UNKNOWN},       {15, RTP_DEMUX_UNKNOWN}, {16, RTP_DEMUX_ZRTP},
	    {19, RTP_DEMUX_ZRTP},         {20, RTP_DEMUX_DTLS},    {22, RTP_DEMUX_DTLS},
	    {23, RTP_DEMUX_DTLS},         {63, RTP_DEMUX_DTLS},    {64, RTP_DEMUX_TURN_CHANNEL},
	    {79, RTP_DEMUX_TURN_CHANNEL}, {80, RTP_DEMUX_UNKNOWN}, {127, RTP_DEMUX_UNKNOWN},
	    {128, RTP_DEMUX_RTP},         {191, RTP_DEMUX_RTP},    {192, RTP_DEMUX_UNKNOWN},
	    {255, RTP_DEMUX_UNKNOWN},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t b[2] = {cases[i].b0, 96};
		cr_assert_eq(rtp_demux(b, 2), cases[i].kind, "first byte %u", cases[i].b0);
	}
}

Test(demux, rtp_or_rtcp_by_second_byte)
{
	for (unsigned b1 = 0; b1 < 256; b1++) {
		uint8_t b[2] = {0x80, (uint8_t)b1};
		enum rtp_demux_kind want = b1 >= 192 && b1 <= 223 ? RTP_DEMUX_RTCP : RTP_DEMUX_RTP;
		cr_assert_eq(rtp_demux(b, 2), want, "second byte %u", b1);
	}
	uint8_t sr[2] = {0x81, 200}, rr[2] = {0x80, 201}, xr[2] = {0x80, 207};
	uint8_t pcmu_m[2] = {0x80, 0x80}, opus_m[2] = {0x90, 0x80 | 111};
	cr_assert_eq(rtp_demux(sr, 2), RTP_DEMUX_RTCP);
	cr_assert_eq(rtp_demux(rr, 2), RTP_DEMUX_RTCP);
	cr_assert_eq(rtp_demux(xr, 2), RTP_DEMUX_RTCP);
	cr_assert_eq(rtp_demux(pcmu_m, 2), RTP_DEMUX_RTP);
	cr_assert_eq(rtp_demux(opus_m, 2), RTP_DEMUX_RTP);
}

Test(demux, short_inputs)
{
	uint8_t b[1] = {0x80};
	cr_assert_eq(rtp_demux(b, 0), RTP_DEMUX_UNKNOWN);
	cr_assert_eq(rtp_demux(NULL, 0), RTP_DEMUX_UNKNOWN);
	cr_assert_eq(rtp_demux(b, 1), RTP_DEMUX_UNKNOWN);
	uint8_t stun[1] = {0x00}, dtls[1] = {22};
	cr_assert_eq(rtp_demux(stun, 1), RTP_DEMUX_STUN);
	cr_assert_eq(rtp_demux(dtls, 1), RTP_DEMUX_DTLS);
}

/* ---- RTCP ---- */

static void rtcp_hdr(struct pkt *p, bool pad, unsigned count, unsigned type, unsigned words)
{
	put8(p, 0x80 | (pad ? 0x20 : 0) | count);
	put8(p, type);
	put16(p, words);
}

static void report_block(struct pkt *p, uint32_t ssrc, uint8_t fraction, uint32_t lost24,
                         uint32_t ext_seq, uint32_t jitter, uint32_t lsr, uint32_t dlsr)
{
	put32(p, ssrc);
	put8(p, fraction);
	put8(p, lost24 >> 16);
	put16(p, lost24 & 0xFFFF);
	put32(p, ext_seq);
	put32(p, jitter);
	put32(p, lsr);
	put32(p, dlsr);
}

/* SR with one report block (52 bytes) + SDES with one CNAME chunk (20 bytes). */
static void build_sr_sdes(struct pkt *p)
{
	p->len = 0;
	rtcp_hdr(p, false, 1, RTCP_SR, 12);
	put32(p, 0x11223344); /* sender SSRC */
	put32(p, 0xE7A1B2C3); /* NTP seconds */
	put32(p, 0x80000000); /* NTP fraction: half a second */
	put32(p, 987654321);  /* RTP timestamp */
	put32(p, 1500);       /* packets */
	put32(p, 240000);     /* octets */
	report_block(p, 0x55667788, 25, 42, 0x0001FFFF, 37, 0xA1B2C3D4, 65536);
	rtcp_hdr(p, false, 1, RTCP_SDES, 4);
	put32(p, 0x11223344);
	put8(p, 1); /* CNAME */
	put8(p, 7);
	memcpy(p->b + p->len, "sipwire", 7);
	p->len += 7;
	put8(p, 0); /* end of items */
	put8(p, 0); /* pad the chunk to 32 bits */
	put8(p, 0);
}

Test(rtcp, sr_sdes_compound)
{
	struct pkt p;
	build_sr_sdes(&p);
	cr_assert_eq(p.len, 72);
	cr_assert_eq(rtp_demux(p.b, p.len), RTP_DEMUX_RTCP);
	cr_assert_eq(rtcp_validate(p.b, p.len), 2);

	struct rtcp_iter it;
	struct rtcp_view v;
	rtcp_iter_init(&it, p.b, p.len);
	cr_assert_eq(rtcp_next(&it, &v), 1);
	cr_assert_eq(v.buf, p.b);
	cr_assert_eq(v.len, 52);
	cr_assert_eq(v.version, 2);
	cr_assert_not(v.padding);
	cr_assert_eq(v.count, 1);
	cr_assert_eq(v.type, RTCP_SR);
	cr_assert_eq(v.length, 12);
	cr_assert_eq(v.padding_len, 0);
	cr_assert(v.has_ssrc);
	cr_assert_eq(v.ssrc, 0x11223344);
	cr_assert_eq(v.block_offset, 28);
	cr_assert_eq(v.block_count, 1);

	struct rtcp_sender_info si;
	cr_assert_eq(rtcp_sender_info(&v, &si), 0);
	cr_assert_eq(si.ntp_sec, 0xE7A1B2C3u);
	cr_assert_eq(si.ntp_frac, 0x80000000u);
	cr_assert_eq(si.rtp_ts, 987654321u);
	cr_assert_eq(si.packet_count, 1500);
	cr_assert_eq(si.octet_count, 240000);

	struct rtcp_report_block rb;
	cr_assert_eq(rtcp_report_block(&v, 0, &rb), 0);
	cr_assert_eq(rb.ssrc, 0x55667788);
	cr_assert_eq(rb.fraction_lost, 25);
	cr_assert_eq(rb.cumulative_lost, 42);
	cr_assert_eq(rb.highest_seq, 0x0001FFFF);
	cr_assert_eq(rb.jitter, 37);
	cr_assert_eq(rb.lsr, 0xA1B2C3D4u);
	cr_assert_eq(rb.dlsr, 65536);
	cr_assert_eq(rtcp_report_block(&v, 1, &rb), -EINVAL);

	cr_assert_eq(rtcp_next(&it, &v), 1);
	cr_assert_eq(v.buf, p.b + 52);
	cr_assert_eq(v.len, 20);
	cr_assert_eq(v.type, RTCP_SDES);
	cr_assert_eq(v.count, 1);
	cr_assert_eq(v.length, 4);
	cr_assert(v.has_ssrc);
	cr_assert_eq(v.ssrc, 0x11223344);
	cr_assert_eq(v.block_count, 0);
	cr_assert_eq(v.buf[8], 1);
	cr_assert_eq(memcmp(v.buf + 10, "sipwire", 7), 0);
	cr_assert_eq(rtcp_sender_info(&v, &si), -EINVAL);
	cr_assert_eq(rtcp_report_block(&v, 0, &rb), -EINVAL);

	cr_assert_eq(rtcp_next(&it, &v), 0);
	cr_assert_eq(rtcp_next(&it, &v), 0);
}

Test(rtcp, rr_two_blocks)
{
	struct pkt p = {.len = 0};
	rtcp_hdr(&p, false, 2, RTCP_RR, 13);
	put32(&p, 0xAAAA0001);
	report_block(&p, 0xBBBB0001, 0, 0xFFFFFF, 0x00030010, 120, 0, 0); /* lost -1 */
	report_block(&p, 0xBBBB0002, 255, 0x7FFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 1, 2);
	cr_assert_eq(p.len, 56);
	cr_assert_eq(rtcp_validate(p.b, p.len), 1);

	struct rtcp_iter it;
	struct rtcp_view v;
	rtcp_iter_init(&it, p.b, p.len);
	cr_assert_eq(rtcp_next(&it, &v), 1);
	cr_assert_eq(v.type, RTCP_RR);
	cr_assert_eq(v.count, 2);
	cr_assert_eq(v.len, 56);
	cr_assert_eq(v.ssrc, 0xAAAA0001);
	cr_assert_eq(v.block_offset, 8);
	cr_assert_eq(v.block_count, 2);
	struct rtcp_sender_info si;
	cr_assert_eq(rtcp_sender_info(&v, &si), -EINVAL);

	struct rtcp_report_block rb;
	cr_assert_eq(rtcp_report_block(&v, 0, &rb), 0);
	cr_assert_eq(rb.ssrc, 0xBBBB0001);
	cr_assert_eq(rb.fraction_lost, 0);
	cr_assert_eq(rb.cumulative_lost, -1);
	cr_assert_eq(rb.highest_seq, 0x00030010);
	cr_assert_eq(rb.jitter, 120);
	cr_assert_eq(rb.lsr, 0);
	cr_assert_eq(rb.dlsr, 0);
	cr_assert_eq(rtcp_report_block(&v, 1, &rb), 0);
	cr_assert_eq(rb.ssrc, 0xBBBB0002);
	cr_assert_eq(rb.fraction_lost, 255);
	cr_assert_eq(rb.cumulative_lost, 0x7FFFFF);
	cr_assert_eq(rb.highest_seq, 0xFFFFFFFFu);
	cr_assert_eq(rb.jitter, 0xFFFFFFFFu);
	cr_assert_eq(rb.lsr, 1);
	cr_assert_eq(rb.dlsr, 2);
	cr_assert_eq(rtcp_report_block(&v, 2, &rb), -EINVAL);
	cr_assert_eq(rtcp_next(&it, &v), 0);
}

Test(rtcp, cumulative_lost_most_negative)
{
	struct pkt p = {.len = 0};
	rtcp_hdr(&p, false, 1, RTCP_RR, 7);
	put32(&p, 1);
	report_block(&p, 2, 0, 0x800000, 0, 0, 0, 0);
	struct rtcp_iter it;
	struct rtcp_view v;
	struct rtcp_report_block rb;
	rtcp_iter_init(&it, p.b, p.len);
	cr_assert_eq(rtcp_next(&it, &v), 1);
	cr_assert_eq(rtcp_report_block(&v, 0, &rb), 0);
	cr_assert_eq(rb.cumulative_lost, -8388608);
}

Test(rtcp, rr_empty_then_feedback_and_bye)
{
	struct pkt p = {.len = 0};
	rtcp_hdr(&p, false, 0, RTCP_RR, 1); /* RR with no blocks */
	put32(&p, 0x0A0B0C0D);
	rtcp_hdr(&p, false, 1, RTCP_PSFB, 2); /* PLI: FMT 1 */
	put32(&p, 0x0A0B0C0D);
	put32(&p, 0x01010101);
	rtcp_hdr(&p, false, 1, RTCP_BYE, 1);
	put32(&p, 0x0A0B0C0D);
	cr_assert_eq(rtcp_validate(p.b, p.len), 3);

	struct rtcp_iter it;
	struct rtcp_view v;
	rtcp_iter_init(&it, p.b, p.len);
	cr_assert_eq(rtcp_next(&it, &v), 1);
	cr_assert_eq(v.type, RTCP_RR);
	cr_assert_eq(v.len, 8);
	cr_assert_eq(v.block_count, 0);
	cr_assert_eq(v.ssrc, 0x0A0B0C0D);
	cr_assert_eq(rtcp_next(&it, &v), 1);
	cr_assert_eq(v.type, RTCP_PSFB);
	cr_assert_eq(v.count, 1);
	cr_assert_eq(v.len, 12);
	cr_assert_eq(v.ssrc, 0x0A0B0C0D);
	cr_assert_eq(v.block_count, 0);
	cr_assert_eq(rtcp_next(&it, &v), 1);
	cr_assert_eq(v.type, RTCP_BYE);
	cr_assert_eq(v.len, 8);
	cr_assert(v.has_ssrc);
	cr_assert_eq(rtcp_next(&it, &v), 0);
}

Test(rtcp, header_only_packet_has_no_ssrc)
{
	struct pkt p = {.len = 0};
	rtcp_hdr(&p, false, 0, RTCP_SDES, 0);
	struct rtcp_iter it;
	struct rtcp_view v;
	rtcp_iter_init(&it, p.b, p.len);
	cr_assert_eq(rtcp_next(&it, &v), 1);
	cr_assert_eq(v.len, 4);
	cr_assert_not(v.has_ssrc);
	cr_assert_eq(v.ssrc, 0);
	/* an RR must at least carry the sender SSRC */
	p.b[1] = RTCP_RR;
	cr_assert_eq(rtcp_validate(p.b, p.len), -EINVAL);
}

Test(rtcp, padding_on_last_packet)
{
	struct pkt p = {.len = 0};
	rtcp_hdr(&p, true, 1, RTCP_BYE, 3);
	put32(&p, 0x12345678);
	put32(&p, 0);
	put8(&p, 0);
	put8(&p, 0);
	put8(&p, 0);
	put8(&p, 8);
	struct rtcp_iter it;
	struct rtcp_view v;
	rtcp_iter_init(&it, p.b, p.len);
	cr_assert_eq(rtcp_next(&it, &v), 1);
	cr_assert(v.padding);
	cr_assert_eq(v.padding_len, 8);
	cr_assert_eq(v.len, 16);
	cr_assert_eq(v.ssrc, 0x12345678);

	p.b[p.len - 1] = 0;
	cr_assert_eq(rtcp_validate(p.b, p.len), -EINVAL);
	p.b[p.len - 1] = 13; /* more than the 12 bytes after the header */
	cr_assert_eq(rtcp_validate(p.b, p.len), -EINVAL);
	p.b[p.len - 1] = 12;
	rtcp_iter_init(&it, p.b, p.len);
	cr_assert_eq(rtcp_next(&it, &v), 1);
	cr_assert_not(v.has_ssrc, "the SSRC word is padding");
}

Test(rtcp, padding_eating_report_blocks)
{
	struct pkt p = {.len = 0};
	rtcp_hdr(&p, true, 1, RTCP_RR, 7);
	put32(&p, 1);
	report_block(&p, 2, 0, 0, 0, 0, 0, 4);
	cr_assert_eq(rtcp_validate(p.b, p.len), -EINVAL);
}

Test(rtcp, truncated_at_every_length)
{
	struct pkt p;
	build_sr_sdes(&p);
	for (size_t n = 0; n <= p.len; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		cr_assert_not_null(copy);
		memcpy(copy, p.b, n);
		int want = n == 52 ? 1 : n == 72 ? 2 : -EINVAL;
		cr_assert_eq(rtcp_validate(copy, n), want, "length %zu", n);
		free(copy);
	}
}

Test(rtcp, length_mismatch)
{
	struct pkt p;
	build_sr_sdes(&p);
	struct rtcp_iter it;
	struct rtcp_view v;

	/* SR length one word too long: it swallows the SDES header and the
	 * SDES then runs past the end */
	p.b[3] = 13;
	rtcp_iter_init(&it, p.b, p.len);
	cr_assert_eq(rtcp_next(&it, &v), 1);
	cr_assert_eq(v.len, 56);
	cr_assert_eq(rtcp_next(&it, &v), -EINVAL);
	cr_assert_eq(rtcp_next(&it, &v), 0, "iterator stops after an error");

	/* SR length far past the buffer */
	p.b[2] = 0xFF;
	cr_assert_eq(rtcp_validate(p.b, p.len), -EINVAL);

	/* SR length too short for its report block */
	build_sr_sdes(&p);
	p.b[3] = 11;
	rtcp_iter_init(&it, p.b, p.len);
	cr_assert_eq(rtcp_next(&it, &v), -EINVAL);

	/* report count larger than the blocks present */
	build_sr_sdes(&p);
	p.b[0] = 0x82;
	cr_assert_eq(rtcp_validate(p.b, p.len), -EINVAL);

	/* trailing bytes that are not a whole packet */
	build_sr_sdes(&p);
	put16(&p, 0x80C9);
	cr_assert_eq(rtcp_validate(p.b, p.len), -EINVAL);
}

Test(rtcp, sr_extension_after_blocks_allowed)
{
	struct pkt p = {.len = 0};
	rtcp_hdr(&p, false, 0, RTCP_SR, 7);
	put32(&p, 9);
	for (int i = 0; i < 5; i++)
		put32(&p, (uint32_t)i);
	put32(&p, 0xEEEEEEEE); /* profile-specific extension */
	struct rtcp_iter it;
	struct rtcp_view v;
	rtcp_iter_init(&it, p.b, p.len);
	cr_assert_eq(rtcp_next(&it, &v), 1);
	cr_assert_eq(v.block_count, 0);
	cr_assert_eq(v.len, 32);
	struct rtcp_sender_info si;
	cr_assert_eq(rtcp_sender_info(&v, &si), 0);
	cr_assert_eq(si.ntp_sec, 0);
	cr_assert_eq(si.ntp_frac, 1);
	cr_assert_eq(si.rtp_ts, 2);
	cr_assert_eq(si.packet_count, 3);
	cr_assert_eq(si.octet_count, 4);
}

Test(rtcp, bad_version_in_second_packet)
{
	struct pkt p;
	build_sr_sdes(&p);
	p.b[52] = 0x41;
	struct rtcp_iter it;
	struct rtcp_view v;
	rtcp_iter_init(&it, p.b, p.len);
	cr_assert_eq(rtcp_next(&it, &v), 1);
	cr_assert_eq(rtcp_next(&it, &v), -EINVAL);
	cr_assert_eq(rtcp_validate(p.b, p.len), -EINVAL);
}

Test(rtcp, empty)
{
	struct rtcp_iter it;
	struct rtcp_view v;
	rtcp_iter_init(&it, NULL, 10);
	cr_assert_eq(rtcp_next(&it, &v), 0);
	cr_assert_eq(rtcp_validate(NULL, 0), -EINVAL);
}

/* ---- sequence tracking ---- */

Test(seq, probation_then_valid)
{
	struct rtp_seq s;
	rtp_seq_init(&s, 1000);
	cr_assert_eq(rtp_seq_update(&s, 1000), -EAGAIN);
	cr_assert_eq(rtp_seq_update(&s, 1001), 0);
	cr_assert_eq(s.probation, 0);
	cr_assert_eq(s.base_seq, 1001);
	cr_assert_eq(s.received, 1);
	cr_assert_eq(rtp_seq_update(&s, 1002), 0);
	cr_assert_eq(rtp_seq_ext_max(&s), 1002);
	cr_assert_eq(rtp_seq_expected(&s), 2);
	cr_assert_eq(s.received, 2);
	cr_assert_eq(rtp_seq_lost(&s), 0);
}

Test(seq, probation_restarts_on_gap)
{
	struct rtp_seq s;
	rtp_seq_init(&s, 10);
	cr_assert_eq(rtp_seq_update(&s, 10), -EAGAIN);
	cr_assert_eq(rtp_seq_update(&s, 12), -EAGAIN);
	cr_assert_eq(s.probation, 1);
	cr_assert_eq(rtp_seq_update(&s, 13), 0);
	cr_assert_eq(s.base_seq, 13);
	cr_assert_eq(s.received, 1);
}

Test(seq, probation_across_zero)
{
	struct rtp_seq s;
	rtp_seq_init(&s, 0);
	cr_assert_eq(s.max_seq, 65535);
	cr_assert_eq(rtp_seq_update(&s, 0), -EAGAIN);
	cr_assert_eq(rtp_seq_update(&s, 1), 0);
}

static void seq_valid(struct rtp_seq *s, uint16_t first)
{
	rtp_seq_init(s, first);
	cr_assert_eq(rtp_seq_update(s, first), -EAGAIN);
	cr_assert_eq(rtp_seq_update(s, (uint16_t)(first + 1)), 0);
}

Test(seq, wrap_around)
{
	struct rtp_seq s;
	seq_valid(&s, 65532); /* counting starts at 65533 */
	for (uint32_t n = 65534; n < 65536 + 5; n++)
		cr_assert_eq(rtp_seq_update(&s, (uint16_t)n), 0);
	cr_assert_eq(s.cycles, 65536);
	cr_assert_eq(s.max_seq, 4);
	cr_assert_eq(rtp_seq_ext_max(&s), 65540);
	cr_assert_eq(rtp_seq_expected(&s), 8);
	cr_assert_eq(s.received, 8);
	cr_assert_eq(rtp_seq_lost(&s), 0);
	cr_assert_eq(rtp_seq_fraction_lost(&s), 0);

	/* a late packet from before the wrap does not move the cycle back */
	cr_assert_eq(rtp_seq_update(&s, 65535), 0);
	cr_assert_eq(rtp_seq_ext_max(&s), 65540);
	cr_assert_eq(rtp_seq_lost(&s), -1, "a duplicate makes the loss negative");
}

Test(seq, wrap_with_gap)
{
	struct rtp_seq s;
	seq_valid(&s, 65500);
	cr_assert_eq(rtp_seq_update(&s, 10), 0); /* 46 ahead, across zero */
	cr_assert_eq(s.cycles, 65536);
	cr_assert_eq(rtp_seq_ext_max(&s), 65546);
	cr_assert_eq(rtp_seq_expected(&s), 46);
	cr_assert_eq(s.received, 2);
	cr_assert_eq(rtp_seq_lost(&s), 44);
}

Test(seq, reorder)
{
	struct rtp_seq s;
	seq_valid(&s, 9); /* base 10 */
	cr_assert_eq(rtp_seq_update(&s, 11), 0);
	cr_assert_eq(rtp_seq_update(&s, 13), 0);
	cr_assert_eq(rtp_seq_lost(&s), 1);
	cr_assert_eq(rtp_seq_update(&s, 12), 0); /* late */
	cr_assert_eq(s.max_seq, 13);
	cr_assert_eq(rtp_seq_ext_max(&s), 13);
	cr_assert_eq(rtp_seq_expected(&s), 4);
	cr_assert_eq(s.received, 4);
	cr_assert_eq(rtp_seq_lost(&s), 0);
	/* 99 behind is still a late packet; 100 behind counts as a jump */
	for (uint16_t n = 14; n < 200; n++)
		cr_assert_eq(rtp_seq_update(&s, n), 0);
	cr_assert_eq(rtp_seq_update(&s, 100), 0);
	cr_assert_eq(s.max_seq, 199);
	cr_assert_eq(rtp_seq_update(&s, 99), -ERANGE);
	cr_assert_eq(s.max_seq, 199);
}

Test(seq, loss_and_fraction)
{
	struct rtp_seq s;
	seq_valid(&s, 0); /* base 1 */
	for (uint16_t n = 2; n <= 10; n++) {
		if (n == 4 || n == 7)
			continue;
		cr_assert_eq(rtp_seq_update(&s, n), 0);
	}
	cr_assert_eq(rtp_seq_expected(&s), 10);
	cr_assert_eq(s.received, 8);
	cr_assert_eq(rtp_seq_lost(&s), 2);
	cr_assert_eq(rtp_seq_fraction_lost(&s), (2 << 8) / 10);
	/* next interval: nothing lost */
	for (uint16_t n = 11; n <= 20; n++)
		cr_assert_eq(rtp_seq_update(&s, n), 0);
	cr_assert_eq(rtp_seq_fraction_lost(&s), 0);
	cr_assert_eq(rtp_seq_lost(&s), 2);
	/* no packets: nothing expected, fraction 0 */
	cr_assert_eq(rtp_seq_fraction_lost(&s), 0);
	/* duplicates only: received exceeds expected, fraction 0 */
	cr_assert_eq(rtp_seq_update(&s, 20), 0);
	cr_assert_eq(rtp_seq_update(&s, 21), 0);
	cr_assert_eq(rtp_seq_fraction_lost(&s), 0);
	/* half lost */
	for (uint16_t n = 23; n <= 41; n += 2)
		cr_assert_eq(rtp_seq_update(&s, n), 0);
	cr_assert_eq(rtp_seq_fraction_lost(&s), 128);
}

Test(seq, big_jump_then_restart)
{
	struct rtp_seq s;
	seq_valid(&s, 100); /* base 101 */
	cr_assert_eq(rtp_seq_update(&s, 102), 0);
	/* a single wild packet is dropped and changes nothing */
	cr_assert_eq(rtp_seq_update(&s, 30000), -ERANGE);
	cr_assert_eq(s.max_seq, 102);
	cr_assert_eq(s.received, 2);
	cr_assert_eq(rtp_seq_update(&s, 103), 0);
	cr_assert_eq(s.received, 3);
	/* a jump and a packet that is not its successor: both dropped */
	cr_assert_eq(rtp_seq_update(&s, 40000), -ERANGE);
	cr_assert_eq(rtp_seq_update(&s, 40002), -ERANGE);
	cr_assert_eq(s.max_seq, 103);
	/* a jump followed by its successor: the sender restarted */
	cr_assert_eq(rtp_seq_update(&s, 50000), -ERANGE);
	cr_assert_eq(rtp_seq_update(&s, 50001), 0);
	cr_assert_eq(s.base_seq, 50001);
	cr_assert_eq(s.max_seq, 50001);
	cr_assert_eq(s.cycles, 0);
	cr_assert_eq(s.received, 1);
	cr_assert_eq(rtp_seq_expected(&s), 1);
	cr_assert_eq(rtp_seq_lost(&s), 0);
	cr_assert_eq(rtp_seq_update(&s, 50002), 0);
	cr_assert_eq(rtp_seq_ext_max(&s), 50002);
}

Test(seq, dropout_boundary)
{
	struct rtp_seq s;
	seq_valid(&s, 0); /* max 1 */
	cr_assert_eq(rtp_seq_update(&s, 1 + 2999), 0, "gap below MAX_DROPOUT");
	cr_assert_eq(rtp_seq_lost(&s), 2998);
	cr_assert_eq(rtp_seq_update(&s, 3000 + 3000), -ERANGE, "gap of MAX_DROPOUT");
}

Test(seq, lost_clamped_to_24_bits)
{
	struct rtp_seq s;
	seq_valid(&s, 0);
	/* pretend many cycles have gone by with nothing received */
	s.cycles = 65536u * 300;
	cr_assert_eq(rtp_seq_lost(&s), 0x7FFFFF);
	seq_valid(&s, 0);
	s.received = 0x01000000;
	cr_assert_eq(rtp_seq_lost(&s), -0x800000);
}
