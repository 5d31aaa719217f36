/* sdh_webrtc.h — the WebRTC leg: a browser's audio over ICE (webrtc/ice.h),
 * keyed by DTLS-SRTP (webrtc/dtls.h) and protected by SRTP (webrtc/srtp.h),
 * as the transport of a plain-RTP handler (webrtc/sdh_rtp.h).
 *
 * The sdh_rtp handler keeps what both kinds of leg share: offer/answer of
 * codecs and directions (hold), DTMF, relaying to the other leg or echoing.
 * This module adds what makes the leg WebRTC: the UDP/TLS/RTP/SAVPF profile,
 * ICE credentials and candidates, a=fingerprint and a=setup in our
 * descriptions, and the packets: SRTP is unprotected on the way in and plain
 * RTP protected on the way out, on one ICE component (BUNDLE, rtcp-mux),
 * with DTLS, SRTP and SRTCP told apart by their first byte (RFC 7983).
 *
 * Roles: we answer an offer's a=setup:actpass with active (we send the
 * ClientHello once ICE connects), offer actpass ourselves, and keep the
 * roles of a running association in later offers and answers. The peer's
 * certificate must hash to its a=fingerprint, or the leg fails: that check
 * is what secures the media. A re-offer with new ICE credentials restarts
 * ICE; one with a new fingerprint starts a new DTLS association.
 *
 * Everything runs on the context's GMainContext (the sdh_rtp context's);
 * not thread-safe.
 */
#ifndef SIPWIRE_WEBRTC_SDH_WEBRTC_H
#define SIPWIRE_WEBRTC_SDH_WEBRTC_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "webrtc/dtls.h"
#include "webrtc/ice.h"
#include "webrtc/sdh_rtp.h"
#include "webrtc/srtp.h"

struct sdh_webrtc_ctx;
struct sdh_webrtc;

struct sdh_webrtc_ctx_params {
	struct sdh_rtp_ctx *rtp;      /* codecs and loop (a reference is taken) */
	GMainContext *loop;           /* the rtp context's loop; NULL: the default */
	GMainContext *ice_loop;       /* libnice's agents (ice_params.nice_loop); NULL: loop */
	const struct dtls_cert *cert; /* the process's certificate; outlives the ctx */
	const char *const *addresses; /* ICE host candidates (ice_params); copied */
	const char *public_address;   /* 1:1 NAT address, NULL or "" for none */
	uint16_t port_min, port_max;  /* ICE ports */
	bool ice_lite;
	unsigned ice_timeout_ms;  /* ICE start to a selected pair; 0: 10000 */
	unsigned dtls_timeout_ms; /* ICE connected to DTLS connected; 0: 10000 */
	void (*on_log)(void *arg, const char *line); /* optional */
	void *log_arg;
};

/* 0; -EINVAL (no rtp context or certificate); -ENOMEM. */
int sdh_webrtc_ctx_new(const struct sdh_webrtc_ctx_params *p, struct sdh_webrtc_ctx **out);
/* Legs still open keep what they need; free the context after them. */
void sdh_webrtc_ctx_free(struct sdh_webrtc_ctx *c);

struct sdh_webrtc_events {
	/* Media cannot go on: "ICE checks failed", "ICE timeout", "ICE consent
	 * lost", "DTLS timeout", "DTLS fingerprint mismatch" or another DTLS
	 * failure (not the peer's close_notify: a browser sends it as it hangs
	 * up, before its BYE arrives; media just stops). Called once, from the
	 * loop, never inside an sdh_* call; the leg may be freed from it. */
	void (*on_failed)(void *arg, const char *reason);
	void *arg;
};

/* A leg at *out, with its ICE agent and candidates ready. controlling: the
 * ICE role (we make the first offer, or answer an ice-lite peer). 0; -EINVAL; -EADDRNOTAVAIL (no ICE
 * candidate: ports or addresses); -ENOMEM. */
int sdh_webrtc_new(struct sdh_webrtc_ctx *c, bool controlling, const struct sdh_webrtc_events *ev,
                   struct sdh_webrtc **out);
/* Closes and frees; no event follows. NULL is fine. */
void sdh_webrtc_free(struct sdh_webrtc *w);
/* The owner's name for the leg (a call id), put before its log lines. */
void sdh_webrtc_set_log_tag(struct sdh_webrtc *w, const char *tag);

/* The leg's handler, for the sip_sdh_ops table (sdh_rtp_* functions), the
 * bridge and echo. Owned by the leg. */
struct sdh_rtp *sdh_webrtc_handler(struct sdh_webrtc *w);

struct sdh_webrtc_stats {
	enum ice_state ice;
	enum dtls_state dtls;
	enum srtp_profile profile; /* 0 until DTLS connected */
	int64_t ice_connected_ms;  /* from ICE start; -1 */
	int64_t dtls_connected_ms; /* from ICE connected; -1 */
	struct srtp_counters srtp;       /* the current SRTP session's; 0 without one */
	struct srtp_counters srtp_total; /* every SRTP session of the leg, summed */
	uint64_t not_media; /* datagrams neither DTLS nor SRTP(C), or before keys */
	char local[64], remote[64]; /* the selected ICE pair */
};
void sdh_webrtc_get_stats(const struct sdh_webrtc *w, struct sdh_webrtc_stats *out);

#endif
