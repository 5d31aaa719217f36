/* rtp.h — RTP and RTCP packet views for the media relay.
 *
 * Everything here reads or rewrites a packet in the caller's buffer: nothing
 * allocates, nothing copies, and every read is checked against the length the
 * caller gave. The views hold offsets into that buffer, so they stay valid only
 * as long as the buffer does.
 *
 *  - rtp_demux: which protocol a UDP payload belongs to when STUN, DTLS, RTP and
 *    RTCP share one port (RFC 7983, RFC 5761).
 *  - rtp_parse: the fixed RTP header, CSRC list, header extension and payload
 *    (RFC 3550 §5.1), with an iterator over RFC 8285 extension elements.
 *  - rtp_set_*: in-place rewriting of the fields a relay changes.
 *  - rtcp_next: an iterator over the packets of a compound RTCP packet
 *    (RFC 3550 §6), with accessors for SR sender info and report blocks.
 *  - rtp_seq_*: receive statistics per RFC 3550 Appendix A.1 and A.3.
 */
#ifndef SIPWIRE_WEBRTC_RTP_H
#define SIPWIRE_WEBRTC_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- demultiplexing (RFC 7983 §7, RFC 5761 §4) ---- */

enum rtp_demux_kind {
	RTP_DEMUX_UNKNOWN = 0,  /* empty, or a first byte no protocol claims */
	RTP_DEMUX_STUN,         /* first byte 0..3 */
	RTP_DEMUX_ZRTP,         /* 16..19 */
	RTP_DEMUX_DTLS,         /* 20..63 */
	RTP_DEMUX_TURN_CHANNEL, /* 64..79 */
	RTP_DEMUX_RTP,          /* 128..191, second byte not 192..223 */
	RTP_DEMUX_RTCP,         /* 128..191, second byte (packet type) 192..223 */
};

/* Classify one UDP payload by its first byte (and, for RTP/RTCP, its second).
 * Looks at no more than two bytes and never fails; a one-byte payload in the
 * RTP range is RTP_DEMUX_UNKNOWN since it cannot be either. */
enum rtp_demux_kind rtp_demux(const uint8_t *buf, size_t len);

/* ---- RTP (RFC 3550 §5.1) ---- */

#define RTP_VERSION      2
#define RTP_HEADER_LEN   12 /* fixed header, before CSRCs */
#define RTP_MAX_CSRC     15
#define RTP_EXT_ONE_BYTE 0xBEDEu /* RFC 8285 §4.2 profile */
#define RTP_EXT_TWO_BYTE 0x1000u /* RFC 8285 §4.3: 0x100X, X = appbits */

/* A parsed RTP packet. Offsets count from buf. */
struct rtp_view {
	const uint8_t *buf;
	size_t len; /* the whole packet as given */
	uint8_t version;
	bool padding;
	bool extension;
	bool marker;
	uint8_t csrc_count;
	uint8_t payload_type;
	uint16_t seq;
	uint32_t timestamp;
	uint32_t ssrc;
	size_t csrc_offset; /* always RTP_HEADER_LEN; csrc_count 32-bit words there */
	/* Header extension, when extension is set: the 16-bit profile ("defined by
	 * profile") and its body, which is ext_len bytes (a multiple of 4) at
	 * ext_offset, just after the 4-byte extension header. */
	uint16_t ext_profile;
	size_t ext_offset;
	size_t ext_len;
	/* Payload with padding removed: payload_len bytes at payload_offset, then
	 * padding_len bytes of padding (0 when the padding bit is clear). */
	size_t payload_offset;
	size_t payload_len;
	uint8_t padding_len;
};

/* Parse an RTP packet. Returns 0, or -EINVAL when buf is shorter than the
 * header it announces (CSRCs, extension), the version is not 2, or the padding
 * count is 0 or longer than what follows the headers. */
int rtp_parse(const uint8_t *buf, size_t len, struct rtp_view *out);

/* The idx-th CSRC (0-based). Returns 0, or -EINVAL when idx >= csrc_count. */
int rtp_csrc(const struct rtp_view *v, unsigned idx, uint32_t *out);

static inline const uint8_t *rtp_payload(const struct rtp_view *v)
{
	return v->buf + v->payload_offset;
}

/* RFC 8285 header extension elements. */
enum rtp_ext_form {
	RTP_EXT_NONE = 0, /* no extension, or a profile RFC 8285 does not define */
	RTP_EXT_FORM_ONE_BYTE,
	RTP_EXT_FORM_TWO_BYTE,
};

struct rtp_ext_iter {
	const uint8_t *p; /* extension body */
	size_t len;
	size_t pos;
	enum rtp_ext_form form;
};

struct rtp_ext_elem {
	uint8_t id;          /* 1..14 (one-byte form) or 1..255 (two-byte form) */
	uint8_t len;         /* data bytes: 1..16 (one-byte form), 0..255 (two-byte) */
	const uint8_t *data; /* inside the packet */
};

/* Start iterating over v's extension elements. Returns the form found;
 * with RTP_EXT_NONE the iterator yields nothing. */
enum rtp_ext_form rtp_ext_iter_init(struct rtp_ext_iter *it, const struct rtp_view *v);
/* Next element, skipping padding bytes. Returns 1 with *out set, 0 at the end
 * (including at a one-byte ID 15, which ends processing per RFC 8285 §4.2),
 * or -EINVAL when an element runs past the extension body. */
int rtp_ext_next(struct rtp_ext_iter *it, struct rtp_ext_elem *out);
/* Find the element with the given id. Returns 1 with *out set, 0 when absent,
 * -EINVAL when the body is malformed before it is found. */
int rtp_ext_find(const struct rtp_view *v, uint8_t id, struct rtp_ext_elem *out);

/* In-place rewriting for a relay. buf/len is a whole RTP packet; each function
 * checks only that the fixed header fits (len >= RTP_HEADER_LEN) and returns 0
 * or -EINVAL. The marker bit is kept by rtp_set_payload_type; pt must be < 128. */
int rtp_set_payload_type(uint8_t *buf, size_t len, uint8_t pt);
int rtp_set_marker(uint8_t *buf, size_t len, bool marker);
int rtp_set_seq(uint8_t *buf, size_t len, uint16_t seq);
int rtp_set_timestamp(uint8_t *buf, size_t len, uint32_t ts);
int rtp_set_ssrc(uint8_t *buf, size_t len, uint32_t ssrc);

/* ---- RTCP (RFC 3550 §6, RFC 4585, RFC 3611) ---- */

enum rtcp_type {
	RTCP_SR = 200,
	RTCP_RR = 201,
	RTCP_SDES = 202,
	RTCP_BYE = 203,
	RTCP_APP = 204,
	RTCP_RTPFB = 205,
	RTCP_PSFB = 206,
	RTCP_XR = 207,
};

#define RTCP_HEADER_LEN       4
#define RTCP_SENDER_INFO_LEN  20
#define RTCP_REPORT_BLOCK_LEN 24

/* One packet of a compound RTCP packet. Offsets count from buf, which is the
 * start of this packet (not of the compound). */
struct rtcp_view {
	const uint8_t *buf;
	size_t len; /* (length + 1) * 4 bytes, padding included */
	uint8_t version;
	bool padding;
	uint8_t count;   /* RC, SC or FMT, by type */
	uint8_t type;    /* enum rtcp_type, or another value passed through */
	uint16_t length; /* the header's length field: 32-bit words minus one */
	uint8_t padding_len;
	/* The first 32-bit word after the header, when the packet has one: the
	 * sender SSRC of SR, RR, APP, RTPFB, PSFB and XR; the first chunk's or the
	 * first source's SSRC of SDES and BYE. 0 and has_ssrc false otherwise. */
	bool has_ssrc;
	uint32_t ssrc;
	/* SR and RR: report blocks at block_offset; block_count is the header's
	 * count, already checked to fit. 0 for other types. */
	size_t block_offset;
	uint8_t block_count;
};

struct rtcp_iter {
	const uint8_t *buf;
	size_t len;
	size_t pos;
};

void rtcp_iter_init(struct rtcp_iter *it, const uint8_t *buf, size_t len);
/* Next packet of the compound. Returns 1 with *out set, 0 at the end of the
 * buffer, or -EINVAL (and the iterator stops) when a packet's version is not 2,
 * its length runs past the buffer, its padding count is 0 or too long, or an
 * SR/RR is too short for its report count. */
int rtcp_next(struct rtcp_iter *it, struct rtcp_view *out);
/* Deliberately not checked (RFC 3550 A.2 suggests both): that the first packet
 * is an SR or RR, since reduced-size RTCP (RFC 5506) sends feedback alone, and
 * that only the last packet is padded, since each packet's padding is bounded
 * by its own length anyway. */
/* Check a whole compound: at least one packet and every packet valid.
 * Returns the number of packets, or -EINVAL. */
int rtcp_validate(const uint8_t *buf, size_t len);

struct rtcp_sender_info {
	uint32_t ntp_sec;  /* NTP timestamp, most significant word */
	uint32_t ntp_frac; /* least significant word */
	uint32_t rtp_ts;
	uint32_t packet_count;
	uint32_t octet_count;
};

/* SR sender info. Returns 0, or -EINVAL when v is not an SR. */
int rtcp_sender_info(const struct rtcp_view *v, struct rtcp_sender_info *out);

struct rtcp_report_block {
	uint32_t ssrc;
	uint8_t fraction_lost;   /* fixed point, lost/expected * 256 */
	int32_t cumulative_lost; /* 24-bit signed, sign-extended */
	uint32_t highest_seq;    /* extended highest sequence number received */
	uint32_t jitter;
	uint32_t lsr;  /* middle 32 bits of the last SR's NTP timestamp */
	uint32_t dlsr; /* delay since last SR, 1/65536 s */
};

/* The idx-th report block of an SR or RR. Returns 0, or -EINVAL when v is not
 * an SR/RR or idx >= block_count. */
int rtcp_report_block(const struct rtcp_view *v, unsigned idx, struct rtcp_report_block *out);

/* ---- receive statistics (RFC 3550 Appendix A.1, A.3) ---- */

#define RTP_SEQ_MOD        (1u << 16)
#define RTP_MAX_DROPOUT    3000u
#define RTP_MAX_MISORDER   100u
#define RTP_MIN_SEQUENTIAL 2u

struct rtp_seq {
	uint16_t max_seq;        /* highest sequence number seen */
	uint32_t cycles;         /* wrap count, shifted left by 16 */
	uint32_t base_seq;       /* first sequence number counted */
	uint32_t bad_seq;        /* after a big jump: the next number that confirms it */
	uint32_t probation;      /* sequential packets still needed before valid */
	uint32_t received;       /* packets counted */
	uint32_t expected_prior; /* at the last rtp_seq_fraction_lost */
	uint32_t received_prior;
};

/* Start tracking a new source whose first packet has sequence seq. The source
 * stays on probation until RTP_MIN_SEQUENTIAL packets in a row have arrived;
 * pass that first packet to rtp_seq_update too. */
void rtp_seq_init(struct rtp_seq *s, uint16_t seq);
/* Account for a packet. Returns 0 when it is counted (in order, a small gap,
 * a duplicate or a late packet), -EAGAIN while the source is on probation,
 * -ERANGE when it jumps too far and is dropped (a second packet following the
 * jump restarts the count and returns 0). */
int rtp_seq_update(struct rtp_seq *s, uint16_t seq);
/* Extended highest sequence number received (cycles + max_seq). */
uint32_t rtp_seq_ext_max(const struct rtp_seq *s);
/* Packets expected since the count (re)started. */
uint32_t rtp_seq_expected(const struct rtp_seq *s);
/* Cumulative packets lost, clamped to the 24-bit signed range of a report
 * block (duplicates can make it negative). */
int32_t rtp_seq_lost(const struct rtp_seq *s);
/* Fraction lost since the previous call, as a report block's 8-bit fixed
 * point, and start a new interval. */
uint8_t rtp_seq_fraction_lost(struct rtp_seq *s);

#endif
