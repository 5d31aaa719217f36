/* sdh_sdes.h — the SDES-SRTP leg: RTP/SAVP toward a PBX or trunk, keyed by
 * a=crypto lines in the SDP (RFC 4568), on a plain handler's UDP port pair
 * (webrtc/sdh_rtp.h: symmetric RTP, latching, RTCP on the odd port unless
 * muxed) with SRTP applied to its packets (webrtc/srtp.h).
 *
 * Offers carry AES_CM_128_HMAC_SHA1_80 (tag 1) and AES_CM_128_HMAC_SHA1_32
 * (tag 2), each with a fresh key; answers take the first offered line this
 * leg can honour (webrtc/sdes.h: also AEAD_AES_128_GCM) and answer its tag
 * and suite with a fresh key of ours. A description with no such line is
 * refused, so the call gets 488. Only RTP/SAVP is spoken: a plain RTP/AVP
 * description is refused too.
 *
 * Keys stay as long as the descriptions keep them: a re-offer or answer
 * that repeats the peer's key keeps the inbound SRTP context (its rollover
 * counter and replay window), and our re-offers repeat our key first, so a
 * hold or a codec change does not re-key. A new key in either direction
 * gets a new context for that direction. Replay protection is on; packets
 * that fail authentication, replays, packets before keys and packets past
 * the peer key's lifetime are dropped and counted.
 *
 * Everything runs on the sdh_rtp context's thread; not thread-safe. */
#ifndef SIPWIRE_WEBRTC_SDH_SDES_H
#define SIPWIRE_WEBRTC_SDH_SDES_H

#include <stdbool.h>
#include <stdint.h>

#include "webrtc/sdes.h"
#include "webrtc/sdh_rtp.h"
#include "webrtc/srtp.h"

struct sdh_sdes;

struct sdh_sdes_params {
	bool rtcp_mux; /* offer a=rtcp-mux */
	void (*on_log)(void *arg, const char *line); /* refused lines; optional */
	void *log_arg;
};

/* A leg with its port pair at *out; p may be NULL. 0; -EADDRINUSE (no free
 * pair) or another error of sdh_rtp_new; -ENOMEM. */
int sdh_sdes_new(struct sdh_rtp_ctx *c, const struct sdh_sdes_params *p, struct sdh_sdes **out);
/* Closes and frees; NULL is fine. */
void sdh_sdes_free(struct sdh_sdes *s);

/* The leg's handler, for the sip_sdh_ops table (sdh_rtp_* functions), the
 * bridge and echo. Owned by the leg. */
struct sdh_rtp *sdh_sdes_handler(struct sdh_sdes *s);

struct sdh_sdes_stats {
	/* the suites in use; SDES_SUITE_UNKNOWN before keys and once closed */
	enum sdes_suite rx_suite, tx_suite;
	/* over every context the leg had: rx.auth_failures and rx.replays are
	 * the packets refused for those reasons */
	struct srtp_counters rx, tx;
	uint64_t no_keys; /* datagrams before keys were agreed */
	uint64_t expired; /* datagrams past the peer key's lifetime */
	uint64_t rekeys;  /* contexts replaced by a new key */
};
void sdh_sdes_get_stats(const struct sdh_sdes *s, struct sdh_sdes_stats *out);

#endif
