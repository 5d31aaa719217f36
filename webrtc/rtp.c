/* rtp.c — RTP/RTCP packet views and RFC 7983 demultiplexing (work in progress). */
#include "webrtc/rtp.h"

enum rtp_demux_kind rtp_demux(const uint8_t *buf, size_t len)
{
	(void)buf;
	(void)len;
	return RTP_DEMUX_UNKNOWN;
}
