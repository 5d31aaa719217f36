/* rtp.h — RTP/RTCP packet views and RFC 7983 demultiplexing (work in progress). */
#ifndef SIPWIRE_WEBRTC_RTP_H
#define SIPWIRE_WEBRTC_RTP_H

#include <stddef.h>
#include <stdint.h>

enum rtp_demux_kind {
	RTP_DEMUX_UNKNOWN = 0,
	RTP_DEMUX_STUN,
	RTP_DEMUX_ZRTP,
	RTP_DEMUX_DTLS,
	RTP_DEMUX_TURN_CHANNEL,
	RTP_DEMUX_RTP,
	RTP_DEMUX_RTCP,
};

enum rtp_demux_kind rtp_demux(const uint8_t *buf, size_t len);

#endif
