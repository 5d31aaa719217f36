/* media.h — the media of a call leg as the B2BUA sees it: an SDH for the UA
 * (sip_ua.h) and the few operations a bridge needs, on top of webrtc/.
 *
 * A leg is plain RTP (webrtc/sdh_rtp.h: the PBX side, and test clients that
 * offer RTP/AVP), SDES-SRTP (webrtc/sdh_sdes.h: a trunk configured for it)
 * or WebRTC (webrtc/sdh_webrtc.h: a browser's ICE and DTLS-SRTP). All kinds
 * are the same handler underneath, so the bridge joins any two legs without
 * knowing their kinds. */
#ifndef SIPWIRE_SERVER_MEDIA_H
#define SIPWIRE_SERVER_MEDIA_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/config.h"
#include "sip/sip_ua.h"
#include "webrtc/sdh_rtp.h"

struct sw_media_ctx;
struct sw_media;

/* Media runs on media.workers threads, each with a GMainContext of its own
 * and its share of the port range; the legs of a call share one worker (the
 * bridge relays within it), and the signalling thread never touches a
 * packet. Every function here is called from the signalling thread (ctx,
 * where events are delivered) and waits for the worker when it must.
 *
 * The RTP port range and addresses of the configuration (media.*).
 * 0, -EINVAL, -ENOMEM. */
int sw_media_ctx_new(const struct sipwire_config *cfg, GMainContext *ctx,
                     struct sw_media_ctx **out);
void sw_media_ctx_free(struct sw_media_ctx *m);

enum sw_media_kind {
	SW_MEDIA_RTP,    /* RTP/AVP on a port pair */
	SW_MEDIA_WEBRTC, /* UDP/TLS/RTP/SAVPF over ICE */
	SW_MEDIA_SDES,   /* RTP/SAVP with a=crypto keys on a port pair */
};

struct sw_media_events {
	/* The leg's media failed (ICE, DTLS) or stopped arriving (media.timeout
	 * once watched): the call should end. reason is static text. Called
	 * from the loop; at most once. */
	void (*on_failed)(void *arg, const char *reason);
	/* An RFC 4733 event from the leg's peer that the leg it is bridged to
	 * cannot carry (no telephone-event there): one call per event. */
	void (*on_dtmf)(void *arg, char tone, unsigned duration_ms);
	void *arg;
};

/* A leg's media with its ports (and, WebRTC, its ICE candidates).
 * controlling: the leg's ICE role (RFC 8445 §6.1.1: this leg makes the first
 * offer, or answers an ice-lite peer); near: a leg of the same call (the new
 * leg goes to its worker), or NULL for the least busy worker. 0; -ENOMEM;
 * -EADDRINUSE or -EADDRNOTAVAIL (no ports). */
int sw_media_new(struct sw_media_ctx *m, enum sw_media_kind kind, bool controlling,
                 const struct sw_media *near, const struct sw_media_events *ev,
                 struct sw_media **out);
enum sw_media_kind sw_media_kind(const struct sw_media *l);
/* The kind a peer that sent this offer speaks, by its first audio section:
 * WebRTC for UDP/TLS/RTP/SAVPF, SDES for RTP/SAVP, else plain RTP;
 * *ice_lite: it said a=ice-lite. */
enum sw_media_kind sw_media_kind_of_offer(const char *sdp, size_t len, bool *ice_lite);
/* Start watching for media.timeout seconds without a packet from the leg's
 * peer while it should be sending: media flows both ways (not while either
 * end holds the call, sendonly included: music on hold is optional). */
void sw_media_watch(struct sw_media *l);
/* The owner's name for the leg (its call's id), put before the leg's log
 * lines. */
void sw_media_set_log_tag(struct sw_media *l, const char *tag);
/* local: the address the leg's peer reaches this host at (its SIP flow's
 * local address). When the media sockets are on every address (listen.bind
 * 0.0.0.0 or ::) and media.address is unset, a plain-RTP or SDES leg's
 * descriptions give it (no PBX can send to 0.0.0.0); otherwise nothing
 * changes. Call before the leg's first description. */
void sw_media_set_local(struct sw_media *l, const struct sockaddr *local);
/* NULL is a no-op. An SDES leg logs its SRTP counters. */
void sw_media_free(struct sw_media *l);

/* The SDH to give the leg's session. */
struct sip_sdh sw_media_sdh(struct sw_media *l);
/* The SDH options of an offer that holds (or resumes) the call. */
const void *sw_media_options(bool hold);

/* The caller's offer, shown to the caller leg's SDH as soon as the INVITE
 * arrives (the UA gives it the same offer again when it answers), so that
 * the other leg can be offered the same codecs. 0, -EINVAL (unusable). */
int sw_media_preview_offer(struct sw_media *a, const char *sdp, size_t len);
/* Offer b what a's peer offered (codecs, payload types), so that packets
 * can be relayed unchanged between the legs. 0, -ENOENT (a has no remote
 * description), -ENOTSUP (nothing we carry). */
int sw_media_offer_like(struct sw_media *b, const struct sw_media *a);
/* Answer a's peer with only what b's peer accepted. 0, -ENOENT. */
int sw_media_answer_like(struct sw_media *a, const struct sw_media *b);
/* Does this SDP put the call on hold (sendonly or inactive audio)? */
bool sw_media_sdp_holds(const char *sdp, size_t len);

/* Join two legs' media (what one receives the other sends), or send a leg's
 * media back to it (the echo service). Either may be called again later
 * (early media, then the answer). */
void sw_media_bridge(struct sw_media *a, struct sw_media *b);
/* What a leg's media carried, for the call's detail line. */
struct sw_media_stats {
	enum sw_media_kind kind;
	/* RTP and RTCP packets taken from the peer (WebRTC: once SRTP let them
	 * through) and sent to it, with their plain sizes. */
	uint64_t rx_packets, rx_bytes;
	uint64_t tx_packets, tx_bytes;
	uint64_t dropped; /* taken and not sent on (no other end, held, a codec
	                   * the other end did not agree, a failed send) */
	/* SW_MEDIA_WEBRTC only. */
	const char *ice_state;    /* "new", "checking", "connected", "failed" */
	int64_t ice_connected_ms; /* ICE start to a selected pair; -1: never */
	char ice_local[64], ice_remote[64]; /* the selected pair; "" before one */
	const char *dtls_state;   /* "new", "handshaking", "connected", "failed" */
	int64_t dtls_connected_ms; /* ICE connected to DTLS connected; -1: never */
	/* SW_MEDIA_WEBRTC and SW_MEDIA_SDES (an SDES leg's profile is that of
	 * the suite it sends with; "" once closed). */
	const char *srtp_profile; /* "AES128_CM_SHA1_80", "AES128_CM_SHA1_32", "AEAD_AES_128_GCM", "" */
	uint64_t srtp_auth_failures, srtp_replays; /* refused by SRTP, not in rx */
	uint64_t not_media; /* WebRTC: datagrams that were neither DTLS nor SRTP, or came
	                     * before keys; SDES: malformed, before keys, past the
	                     * key's lifetime */
};
/* The leg's counters now, or as they were when its media was closed (the
 * UA closes it as the session ends; ICE and DTLS are gone after that). */
void sw_media_stats(struct sw_media *l, struct sw_media_stats *out);

/* What the legs of a worker carried, live and gone (the metrics). */
struct sw_media_totals {
	uint64_t rx_packets, rx_bytes; /* from the peers */
	uint64_t tx_packets, tx_bytes; /* to the peers */
	uint64_t dropped;
	uint64_t srtp_auth_failures, srtp_replays;
};
struct sw_media_worker_load {
	struct sw_media_totals totals;
	unsigned legs;                  /* live now */
	struct sdh_rtp_latency latency; /* webrtc/sdh_rtp.h */
	double busy_s, wall_s;          /* since the worker started: working, in all */
};
/* Each worker's figures, taken on the worker (a job each: no lock on the
 * packet path). Fills up to max; returns how many. */
unsigned sw_media_ctx_load(struct sw_media_ctx *m, struct sw_media_worker_load *out, unsigned max);

/* Send one RFC 4733 event on the leg's media. 0; -ENOTSUP (no
 * telephone-event agreed, or not sending); -EINVAL (not a DTMF tone). */
int sw_media_send_dtmf(struct sw_media *l, char tone, unsigned duration_ms);
void sw_media_echo(struct sw_media *l);

#endif
