/* rtp.c — RTP and RTCP packet views; see rtp.h. */
#include "webrtc/rtp.h"

#include <errno.h>

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- demultiplexing ---- */

/* Every range boundary in RFC 7983 is a multiple of 4, so the first byte
 * shifted right by two indexes a 64-entry table: one load, no compare chain. */
#define U RTP_DEMUX_UNKNOWN
#define S RTP_DEMUX_STUN
#define Z RTP_DEMUX_ZRTP
#define D RTP_DEMUX_DTLS
#define T RTP_DEMUX_TURN_CHANNEL
#define R RTP_DEMUX_RTP
/* clang-format off */
static const uint8_t demux_by_quarter[64] = {
	S, U, U, U, Z, D, D, D, D, D, D, D, D, D, D, D, /*   0..63  */
	T, T, T, T, U, U, U, U, U, U, U, U, U, U, U, U, /*  64..127 */
	R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, /* 128..191 */
	U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, /* 192..255 */
};
/* clang-format on */
#undef U
#undef S
#undef Z
#undef D
#undef T
#undef R

enum rtp_demux_kind rtp_demux(const uint8_t *buf, size_t len)
{
	if (len == 0)
		return RTP_DEMUX_UNKNOWN;
	enum rtp_demux_kind kind = (enum rtp_demux_kind)demux_by_quarter[buf[0] >> 2];
	if (kind != RTP_DEMUX_RTP)
		return kind;
	if (len < 2)
		return RTP_DEMUX_UNKNOWN;
	/* RFC 5761 §4: an RTCP packet type (192..223) in the second byte; RTP
	 * payload types 64..95 with the marker set would look the same, which is
	 * why they are not used when RTP and RTCP share a port. */
	return (buf[1] & 0xE0) == 0xC0 ? RTP_DEMUX_RTCP : RTP_DEMUX_RTP;
}

/* ---- RTP ---- */

int rtp_parse(const uint8_t *buf, size_t len, struct rtp_view *out)
{
	if (!buf || !out || len < RTP_HEADER_LEN)
		return -EINVAL;
	uint8_t b0 = buf[0];
	if ((b0 >> 6) != RTP_VERSION)
		return -EINVAL;

	struct rtp_view v = {
	    .buf = buf,
	    .len = len,
	    .version = RTP_VERSION,
	    .padding = (b0 & 0x20) != 0,
	    .extension = (b0 & 0x10) != 0,
	    .csrc_count = b0 & 0x0F,
	    .marker = (buf[1] & 0x80) != 0,
	    .payload_type = buf[1] & 0x7F,
	    .seq = rd16(buf + 2),
	    .timestamp = rd32(buf + 4),
	    .ssrc = rd32(buf + 8),
	    .csrc_offset = RTP_HEADER_LEN,
	};

	/* len is never below off here, so len - off cannot wrap. */
	size_t off = RTP_HEADER_LEN + 4u * v.csrc_count;
	if (off > len)
		return -EINVAL;
	if (v.extension) {
		if (len - off < 4)
			return -EINVAL;
		v.ext_profile = rd16(buf + off);
		v.ext_len = 4u * rd16(buf + off + 2);
		v.ext_offset = off + 4;
		if (v.ext_len > len - v.ext_offset)
			return -EINVAL;
		off = v.ext_offset + v.ext_len;
	}
	v.payload_offset = off;
	v.payload_len = len - off;
	if (v.padding) {
		/* The last byte counts the padding, itself included (RFC 3550
		 * §5.1), so it is at least 1 and fits in what follows the headers. */
		uint8_t pad = buf[len - 1];
		if (pad == 0 || pad > v.payload_len)
			return -EINVAL;
		v.padding_len = pad;
		v.payload_len -= pad;
	}
	*out = v;
	return 0;
}

int rtp_csrc(const struct rtp_view *v, unsigned idx, uint32_t *out)
{
	if (idx >= v->csrc_count)
		return -EINVAL;
	*out = rd32(v->buf + v->csrc_offset + 4u * idx);
	return 0;
}

enum rtp_ext_form rtp_ext_iter_init(struct rtp_ext_iter *it, const struct rtp_view *v)
{
	enum rtp_ext_form form = RTP_EXT_NONE;
	if (v->extension) {
		if (v->ext_profile == RTP_EXT_ONE_BYTE)
			form = RTP_EXT_FORM_ONE_BYTE;
		else if ((v->ext_profile & 0xFFF0u) == RTP_EXT_TWO_BYTE)
			form = RTP_EXT_FORM_TWO_BYTE;
	}
	it->p = v->buf + v->ext_offset;
	it->len = form == RTP_EXT_NONE ? 0 : v->ext_len;
	it->pos = 0;
	it->form = form;
	return form;
}

int rtp_ext_next(struct rtp_ext_iter *it, struct rtp_ext_elem *out)
{
	/* A zero byte is padding in both forms (RFC 8285 §4.1): skip it. */
	while (it->pos < it->len && it->p[it->pos] == 0)
		it->pos++;
	if (it->pos >= it->len)
		return 0;

	size_t left = it->len - it->pos;
	const uint8_t *e = it->p + it->pos;
	uint8_t id, dlen;
	size_t hdr;
	if (it->form == RTP_EXT_FORM_ONE_BYTE) {
		id = e[0] >> 4;
		if (id == 15) {
			/* reserved: stop here, keep what came before */
			it->pos = it->len;
			return 0;
		}
		if (id == 0) {
			/* ID 0 with a nonzero length is not padding and not an
			 * element; the body cannot be trusted past it. */
			it->pos = it->len;
			return -EINVAL;
		}
		dlen = (uint8_t)((e[0] & 0x0F) + 1);
		hdr = 1;
	} else {
		if (left < 2) {
			it->pos = it->len;
			return -EINVAL;
		}
		id = e[0];
		dlen = e[1];
		hdr = 2;
	}
	if (dlen > left - hdr) {
		it->pos = it->len;
		return -EINVAL;
	}
	out->id = id;
	out->len = dlen;
	out->data = e + hdr;
	it->pos += hdr + dlen;
	return 1;
}

int rtp_ext_find(const struct rtp_view *v, uint8_t id, struct rtp_ext_elem *out)
{
	struct rtp_ext_iter it;
	struct rtp_ext_elem e;
	int r;
	rtp_ext_iter_init(&it, v);
	while ((r = rtp_ext_next(&it, &e)) > 0) {
		if (e.id == id) {
			*out = e;
			return 1;
		}
	}
	return r;
}

int rtp_set_payload_type(uint8_t *buf, size_t len, uint8_t pt)
{
	if (!buf || len < RTP_HEADER_LEN || pt > 0x7F)
		return -EINVAL;
	buf[1] = (uint8_t)((buf[1] & 0x80) | pt);
	return 0;
}

int rtp_set_marker(uint8_t *buf, size_t len, bool marker)
{
	if (!buf || len < RTP_HEADER_LEN)
		return -EINVAL;
	buf[1] = (uint8_t)((buf[1] & 0x7F) | (marker ? 0x80 : 0));
	return 0;
}

int rtp_set_seq(uint8_t *buf, size_t len, uint16_t seq)
{
	if (!buf || len < RTP_HEADER_LEN)
		return -EINVAL;
	wr16(buf + 2, seq);
	return 0;
}

int rtp_set_timestamp(uint8_t *buf, size_t len, uint32_t ts)
{
	if (!buf || len < RTP_HEADER_LEN)
		return -EINVAL;
	wr32(buf + 4, ts);
	return 0;
}

int rtp_set_ssrc(uint8_t *buf, size_t len, uint32_t ssrc)
{
	if (!buf || len < RTP_HEADER_LEN)
		return -EINVAL;
	wr32(buf + 8, ssrc);
	return 0;
}

/* ---- RTCP ---- */

void rtcp_iter_init(struct rtcp_iter *it, const uint8_t *buf, size_t len)
{
	it->buf = buf;
	it->len = buf ? len : 0;
	it->pos = 0;
}

/* Fill *out from the packet of plen bytes at p (plen already checked to be a
 * whole packet within the buffer). */
static int rtcp_view_fill(const uint8_t *p, size_t plen, struct rtcp_view *out)
{
	uint8_t b0 = p[0];
	if ((b0 >> 6) != RTP_VERSION)
		return -EINVAL;
	struct rtcp_view v = {
	    .buf = p,
	    .len = plen,
	    .version = RTP_VERSION,
	    .padding = (b0 & 0x20) != 0,
	    .count = b0 & 0x1F,
	    .type = p[1],
	    .length = rd16(p + 2),
	};
	size_t body = plen; /* bytes before any padding */
	if (v.padding) {
		uint8_t pad = p[plen - 1];
		if (pad == 0 || pad > plen - RTCP_HEADER_LEN)
			return -EINVAL;
		v.padding_len = pad;
		body -= pad;
	}
	if (body >= RTCP_HEADER_LEN + 4) {
		v.has_ssrc = true;
		v.ssrc = rd32(p + RTCP_HEADER_LEN);
	}
	if (v.type == RTCP_SR || v.type == RTCP_RR) {
		size_t fixed = RTCP_HEADER_LEN + 4;
		if (v.type == RTCP_SR)
			fixed += RTCP_SENDER_INFO_LEN;
		/* Whatever follows the blocks is a profile-specific extension. */
		if (body < fixed || (body - fixed) / RTCP_REPORT_BLOCK_LEN < v.count)
			return -EINVAL;
		v.block_offset = fixed;
		v.block_count = v.count;
	}
	*out = v;
	return 0;
}

int rtcp_next(struct rtcp_iter *it, struct rtcp_view *out)
{
	if (it->pos >= it->len)
		return 0;
	size_t left = it->len - it->pos;
	const uint8_t *p = it->buf + it->pos;
	if (left < RTCP_HEADER_LEN)
		goto bad;
	size_t plen = ((size_t)rd16(p + 2) + 1) * 4;
	if (plen > left)
		goto bad;
	if (rtcp_view_fill(p, plen, out) < 0)
		goto bad;
	it->pos += plen;
	return 1;
bad:
	it->pos = it->len;
	return -EINVAL;
}

int rtcp_validate(const uint8_t *buf, size_t len)
{
	struct rtcp_iter it;
	struct rtcp_view v;
	int n = 0, r;
	rtcp_iter_init(&it, buf, len);
	while ((r = rtcp_next(&it, &v)) > 0)
		n++;
	if (r < 0 || n == 0)
		return -EINVAL;
	return n;
}

int rtcp_sender_info(const struct rtcp_view *v, struct rtcp_sender_info *out)
{
	if (v->type != RTCP_SR || v->block_offset < RTCP_HEADER_LEN + 4 + RTCP_SENDER_INFO_LEN)
		return -EINVAL;
	const uint8_t *p = v->buf + RTCP_HEADER_LEN + 4;
	out->ntp_sec = rd32(p);
	out->ntp_frac = rd32(p + 4);
	out->rtp_ts = rd32(p + 8);
	out->packet_count = rd32(p + 12);
	out->octet_count = rd32(p + 16);
	return 0;
}

int rtcp_report_block(const struct rtcp_view *v, unsigned idx, struct rtcp_report_block *out)
{
	if ((v->type != RTCP_SR && v->type != RTCP_RR) || idx >= v->block_count)
		return -EINVAL;
	const uint8_t *p = v->buf + v->block_offset + (size_t)idx * RTCP_REPORT_BLOCK_LEN;
	out->ssrc = rd32(p);
	out->fraction_lost = p[4];
	/* 24-bit two's complement: move it to the top and shift back down so
	 * the sign bit spreads (arithmetic shift of a signed value). */
	uint32_t raw = (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	out->cumulative_lost = (raw & 0x800000u) ? (int32_t)raw - 0x1000000 : (int32_t)raw;
	out->highest_seq = rd32(p + 8);
	out->jitter = rd32(p + 12);
	out->lsr = rd32(p + 16);
	out->dlsr = rd32(p + 20);
	return 0;
}

/* ---- receive statistics ----
 *
 * A source is believed only after RTP_MIN_SEQUENTIAL packets in a row. After
 * that, a packet ahead of the highest number by less than RTP_MAX_DROPOUT is
 * taken as in order (crossing zero adds a cycle); one behind it by less than
 * RTP_MAX_MISORDER is a late or duplicate packet, counted but not moving the
 * highest number; anything else is a jump. A single jumped packet is dropped,
 * but if the next one follows it directly the sender has most likely
 * restarted its numbering, so counting starts over from there. */

/* Restart counting with seq as the first packet. */
static void seq_restart(struct rtp_seq *s, uint16_t seq)
{
	s->base_seq = seq;
	s->max_seq = seq;
	s->bad_seq = RTP_SEQ_MOD + 1; /* matches no 16-bit number */
	s->cycles = 0;
	s->received = 0;
	s->received_prior = 0;
	s->expected_prior = 0;
}

void rtp_seq_init(struct rtp_seq *s, uint16_t seq)
{
	seq_restart(s, seq);
	/* so that seq itself is the "next" packet when it is passed to update */
	s->max_seq = (uint16_t)(seq - 1);
	s->probation = RTP_MIN_SEQUENTIAL;
}

int rtp_seq_update(struct rtp_seq *s, uint16_t seq)
{
	uint16_t delta = (uint16_t)(seq - s->max_seq);

	if (s->probation) {
		if (seq == (uint16_t)(s->max_seq + 1)) {
			s->probation--;
			s->max_seq = seq;
			if (s->probation == 0) {
				seq_restart(s, seq);
				s->received++;
				return 0;
			}
		} else {
			/* out of sequence: this packet is the new first one */
			s->probation = RTP_MIN_SEQUENTIAL - 1;
			s->max_seq = seq;
		}
		return -EAGAIN;
	}

	if (delta < RTP_MAX_DROPOUT) {
		if (seq < s->max_seq)
			s->cycles += RTP_SEQ_MOD;
		s->max_seq = seq;
	} else if (delta <= RTP_SEQ_MOD - RTP_MAX_MISORDER) {
		if (seq != s->bad_seq) {
			s->bad_seq = (seq + 1u) & (RTP_SEQ_MOD - 1);
			return -ERANGE;
		}
		seq_restart(s, seq);
	}
	/* else: late or duplicate, counted without moving max_seq */
	s->received++;
	return 0;
}

uint32_t rtp_seq_ext_max(const struct rtp_seq *s)
{
	return s->cycles + s->max_seq;
}

uint32_t rtp_seq_expected(const struct rtp_seq *s)
{
	return rtp_seq_ext_max(s) - s->base_seq + 1;
}

int32_t rtp_seq_lost(const struct rtp_seq *s)
{
	int64_t lost = (int64_t)rtp_seq_expected(s) - s->received;
	if (lost > 0x7FFFFF)
		lost = 0x7FFFFF;
	else if (lost < -0x800000)
		lost = -0x800000;
	return (int32_t)lost;
}

uint8_t rtp_seq_fraction_lost(struct rtp_seq *s)
{
	uint32_t expected = rtp_seq_expected(s);
	uint32_t expected_interval = expected - s->expected_prior;
	uint32_t received_interval = s->received - s->received_prior;
	s->expected_prior = expected;
	s->received_prior = s->received;
	if (expected_interval == 0 || received_interval >= expected_interval)
		return 0;
	uint64_t lost_interval = expected_interval - received_interval;
	uint64_t fraction = (lost_interval << 8) / expected_interval;
	/* everything lost would be 256, one past what the field holds */
	return fraction > 255 ? 255 : (uint8_t)fraction;
}
