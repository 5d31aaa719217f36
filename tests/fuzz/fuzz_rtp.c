/* fuzz_rtp.c — every view of webrtc/rtp.h over one input.
 *
 * The input is given to the demultiplexer, the RTP parser (with every
 * accessor and the extension iterator), the RTCP compound iterator (with the
 * sender info and every report block) and, read as 16-bit sequence numbers,
 * the receive statistics. The invariants below trap when broken, so the
 * fuzzer reports a wrong answer as well as a bad read. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webrtc/rtp.h"
#include "fuzz.h"


/* Reads every byte of a view so ASan sees any that lies outside the input. */
static volatile unsigned sink;

static void touch(const uint8_t *p, size_t n)
{
	unsigned acc = 0;
	for (size_t i = 0; i < n; i++)
		acc += p[i];
	sink += acc;
}

static void fuzz_rtp_view(const uint8_t *buf, size_t len)
{
	struct rtp_view v;
	if (rtp_parse(buf, len, &v) != 0)
		return;
	CHECK(v.version == 2 && v.payload_type < 128 && v.csrc_count <= RTP_MAX_CSRC);
	CHECK(v.payload_offset + v.payload_len + v.padding_len == len);
	CHECK(v.padding == (v.padding_len != 0));
	CHECK(v.csrc_offset + 4u * v.csrc_count <= v.payload_offset);
	if (v.extension)
		CHECK(v.ext_offset + v.ext_len == v.payload_offset);
	touch(rtp_payload(&v), v.payload_len);

	uint32_t csrc;
	for (unsigned i = 0; i < v.csrc_count; i++)
		CHECK(rtp_csrc(&v, i, &csrc) == 0);
	CHECK(rtp_csrc(&v, v.csrc_count, &csrc) != 0);

	struct rtp_ext_iter it;
	struct rtp_ext_elem e;
	enum rtp_ext_form form = rtp_ext_iter_init(&it, &v);
	int r;
	unsigned n = 0;
	while ((r = rtp_ext_next(&it, &e)) > 0) {
		CHECK(e.data >= buf + v.ext_offset);
		CHECK(e.data + e.len <= buf + v.ext_offset + v.ext_len);
		if (form == RTP_EXT_FORM_ONE_BYTE)
			CHECK(e.id >= 1 && e.id <= 14 && e.len >= 1 && e.len <= 16);
		else
			CHECK(form == RTP_EXT_FORM_TWO_BYTE && e.id != 0);
		touch(e.data, e.len);
		CHECK(++n <= v.ext_len);
	}
	if (n > 0 && r == 0) {
		/* the first element is found again by id */
		rtp_ext_iter_init(&it, &v);
		CHECK(rtp_ext_next(&it, &e) == 1);
		struct rtp_ext_elem found;
		CHECK(rtp_ext_find(&v, e.id, &found) == 1 && found.data == e.data);
	}

	/* rewrite a copy and read the new values back */
	uint8_t *copy = malloc(len);
	if (!copy)
		return;
	memcpy(copy, buf, len);
	CHECK(rtp_set_payload_type(copy, len, (uint8_t)(v.payload_type ^ 0x55)) == 0);
	CHECK(rtp_set_marker(copy, len, !v.marker) == 0);
	CHECK(rtp_set_seq(copy, len, (uint16_t)(v.seq + 1)) == 0);
	CHECK(rtp_set_timestamp(copy, len, v.timestamp + 160) == 0);
	CHECK(rtp_set_ssrc(copy, len, ~v.ssrc) == 0);
	struct rtp_view w;
	CHECK(rtp_parse(copy, len, &w) == 0);
	CHECK(w.payload_type == (v.payload_type ^ 0x55) && w.marker == !v.marker);
	CHECK(w.seq == (uint16_t)(v.seq + 1) && w.timestamp == v.timestamp + 160);
	CHECK(w.ssrc == ~v.ssrc && w.payload_len == v.payload_len);
	free(copy);
}

static void fuzz_rtcp(const uint8_t *buf, size_t len)
{
	struct rtcp_iter it;
	struct rtcp_view v;
	int r;
	size_t total = 0;
	unsigned packets = 0;
	rtcp_iter_init(&it, buf, len);
	while ((r = rtcp_next(&it, &v)) > 0) {
		packets++;
		CHECK(v.version == 2 && v.len == ((size_t)v.length + 1) * 4);
		CHECK(v.buf == buf + total);
		total += v.len;
		CHECK(total <= len);
		CHECK(v.padding_len <= v.len - RTCP_HEADER_LEN);
		touch(v.buf, v.len);
		struct rtcp_sender_info si;
		if (rtcp_sender_info(&v, &si) == 0)
			sink +=
			    si.ntp_sec ^ si.ntp_frac ^ si.rtp_ts ^ si.packet_count ^ si.octet_count;
		else
			CHECK(v.type != RTCP_SR);
		struct rtcp_report_block rb;
		for (unsigned i = 0; i < v.block_count; i++) {
			CHECK(rtcp_report_block(&v, i, &rb) == 0);
			CHECK(rb.cumulative_lost >= -0x800000 && rb.cumulative_lost <= 0x7FFFFF);
			sink += rb.ssrc ^ rb.highest_seq ^ rb.jitter ^ rb.lsr ^ rb.dlsr;
		}
		CHECK(rtcp_report_block(&v, v.block_count, &rb) != 0);
	}
	if (r == 0)
		CHECK(total == len &&
		      rtcp_validate(buf, len) == (packets ? (int)packets : -EINVAL));
	else
		CHECK(rtcp_validate(buf, len) < 0);
}

static void fuzz_seq(const uint8_t *buf, size_t len)
{
	if (len < 2)
		return;
	struct rtp_seq s;
	rtp_seq_init(&s, (uint16_t)(buf[0] << 8 | buf[1]));
	for (size_t i = 0; i + 1 < len; i += 2) {
		uint16_t seq = (uint16_t)(buf[i] << 8 | buf[i + 1]);
		int r = rtp_seq_update(&s, seq);
		CHECK(r == 0 || r == -EAGAIN || r == -ERANGE);
		if (i % 16 == 0)
			sink += rtp_seq_fraction_lost(&s);
	}
	int32_t lost = rtp_seq_lost(&s);
	CHECK(lost >= -0x800000 && lost <= 0x7FFFFF);
	sink += rtp_seq_ext_max(&s) ^ rtp_seq_expected(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum rtp_demux_kind kind = rtp_demux(data, size);
	CHECK(kind >= RTP_DEMUX_UNKNOWN && kind <= RTP_DEMUX_RTCP);
	if (size && data[0] >= 128 && data[0] <= 191 && size >= 2)
		CHECK(kind == RTP_DEMUX_RTP || kind == RTP_DEMUX_RTCP);
	fuzz_rtp_view(data, size);
	fuzz_rtcp(data, size);
	fuzz_seq(data, size);
	return 0;
}
