/* peer_media.h — one WebRTC media end of the test peer, built the way a
 * browser's is, on the libraries the gateway uses but none of its ICE code:
 *
 *  - ICE: a libnice agent (full ICE, RFC 5245 compatibility, regular
 *    nomination, consent freshness) with one UDP host candidate on
 *    127.0.0.1, one stream and one component (BUNDLE and rtcp-mux);
 *  - DTLS-SRTP: webrtc/dtls.h on the selected pair, its role from a=setup,
 *    the peer's certificate checked against its a=fingerprint;
 *  - SRTP/SRTCP: webrtc/srtp.h keyed by the DTLS exporter; RFC 7983
 *    demultiplexing of what arrives (webrtc/rtp.h);
 *  - media: G.711 PCMU packets of ptime ms whose payloads carry a per-run tag
 *    and the packet's index (so an echo can be checked byte for byte), RFC 4733
 *    telephone-events, and an SR/RR + SDES every second.
 *
 * Descriptions look like Chrome's (Unified Plan, BUNDLE, rtcp-mux, actpass in
 * offers and active in answers, opus/red/G722/PCMU/PCMA/CN/telephone-event,
 * candidates inline, then a=end-of-candidates).
 *
 * Everything runs on the main context that is the thread's default when the
 * end is made (g_main_context_ref_thread_default(): GLib's global default
 * unless the thread pushed one, as a load tool's threads do): libnice's
 * callbacks, the one timer each end keeps (packet pacing, RTCP, DTMF, DTLS
 * retransmission) and the notifications to the owner. Times are
 * CLOCK_MONOTONIC milliseconds (g_get_monotonic_time() / 1000).
 */
#ifndef SIPWIRE_PEER_MEDIA_H
#define SIPWIRE_PEER_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "peer_json.h"
#include "webrtc/dtls.h"
#include "webrtc/sdp.h"

/* An audio payload starts with the end's tag (random, per end), then the
 * packet's index (big-endian, 4 bytes), then bytes derived from both. */
#define PEER_MEDIA_TAG_LEN 8

struct peer_media_config {
	const char *name;             /* starts its log lines */
	const struct dtls_cert *cert; /* its identity; must outlive the end */
	bool video;                   /* its offers carry a video m-line (it sends none) */
	unsigned packets;             /* PCMU packets to send; 0: none */
	const uint8_t *tag;           /* PEER_MEDIA_TAG_LEN bytes: its payloads' tag; NULL: random */
	unsigned ptime_ms;            /* 0: 20 */
	/* The first packet goes this long after SRTP is keyed: a load tool
	 * spreads its ends over the packet interval, as independent browsers
	 * are. */
	unsigned phase_ms;
	/* Each audio packet leaves 0 to jitter_ms ms after its slot in the
	 * ptime grid (a new random figure per packet), as a browser's do. */
	unsigned jitter_ms;
	/* Send every RTP packet received back, unprotected and protected again
	 * (the far end of --loopback, as the gateway's echo service does). */
	bool echo;
	/* Failure knobs (webrtc_peer --help says what each does). */
	bool bad_fingerprint;
	bool no_ice;
	bool dtls_garbage;
	unsigned corrupt_tag;
	FILE *record; /* one line per RTP packet received; NULL: none */
	bool quiet;   /* no log lines on stderr (a load tool runs hundreds of ends) */
	/* Once ICE is ready, the owner reads: it watches peer_media_fd() (say
	 * with one epoll set for hundreds of ends, instead of a main context
	 * source each) and calls peer_media_pump() when it is readable; packets
	 * go out on that socket directly. The far end's consent checks are
	 * answered here; this end makes none of its own. Until then, and
	 * without this, libnice reads through the main context. */
	bool owner_reads;
	/* With owner_reads: the owner moves the media onto a UDP socket it
	 * shares with other ends once DTLS is connected (peer_media_move);
	 * RTP and RTCP wait for the move. From the move on, every datagram of
	 * the end goes out through send_to (the owner may batch them), and the
	 * owner passes what arrives from the far end's address to
	 * peer_media_input. */
	bool shared;
	void (*send_to)(void *arg, const uint8_t *buf, size_t len,
	                const struct sockaddr_storage *to, socklen_t to_len);
	/* Optional: the end's one timer is the owner's (say one timer wheel for
	 * hundreds of ends instead of a main-context source each): the end
	 * wants peer_media_tick at due_ms (CLOCK_MONOTONIC ms) or soon after;
	 * a later call replaces the earlier time. */
	void (*on_timer)(void *arg, uint64_t due_ms);
	/* Something the owner may be waiting for happened: ICE or DTLS state,
	 * the media finished (peer_media_finished). Runs on the main context,
	 * never inside a peer_media_* call. */
	void (*on_change)(void *arg);
	/* Optional, for a load tool's timings: audio packet index is about to
	 * be protected and sent (back false), or came back for the first time
	 * byte for byte as sent (back true). Runs inside the end's own calls:
	 * take the time, touch nothing of the end. */
	void (*on_audio)(void *arg, uint32_t index, bool back);
	void *arg;
};

struct peer_media;

/* Makes the end, its agent and its candidate: gathering runs the default
 * main context until done (at most 5 s), so call it before anything else
 * runs there. 0, -ENOMEM, -EIO (no agent, no candidate). */
int peer_media_new(const struct peer_media_config *cfg, struct peer_media **out);
void peer_media_free(struct peer_media *m);

/* ---- offer/answer ---- */

/* A new offer (malloc()ed text at *sdp). The first one fixes the ICE role
 * (controlling) and the DTLS setup (actpass); later ones are re-offers with
 * the same transport, a new direction and the o= version one higher.
 * 0 or -ENOMEM. */
int peer_media_offer(struct peer_media *m, enum sdp_direction dir, char **sdp);

/* Applies the remote description: an offer (then peer_media_answer makes
 * the answer) or the answer to our last offer. The first description sets
 * the remote ICE credentials and candidates and the DTLS role and
 * fingerprint; later ones only change direction and codecs. Returns 0, or
 * a negative errno with *why set to a short static reason: not parsable,
 * no usable audio section, not DTLS-SRTP, no rtcp-mux, no ICE credentials
 * or fingerprint, an answer with setup:actpass, a changed transport (ICE
 * restart, new fingerprint: not supported). A refused description changes
 * nothing. */
int peer_media_set_remote(struct peer_media *m, const char *sdp, size_t len, bool offer,
                          const char **why);

/* The answer to the offer just applied (malloc()ed at *sdp): the audio
 * section accepted with the codecs both support in the offer's order, the
 * mirrored direction, setup:active to actpass (passive to active); other
 * sections refused (port 0). 0, -EPROTO (no offer pending), -ENOMEM. */
int peer_media_answer(struct peer_media *m, char **sdp);

/* ---- during the call ---- */

/* Queues RFC 4733 telephone-events for digits (0-9 * # A-D; others are
 * skipped), sent as soon as SRTP runs. -EINVAL when none is valid. */
int peer_media_send_dtmf(struct peer_media *m, const char *digits);

/* With owner_reads: the descriptor to watch for input once ICE is ready
 * (-1 before; on_change says when it may have changed), and what to call
 * when it is readable: reads what is there (recvmmsg), answers consent
 * checks, handles the rest. */
int peer_media_fd(const struct peer_media *m);
void peer_media_pump(struct peer_media *m);

/* cfg.shared: once DTLS is connected, sends a nominating connectivity
 * check (USE-CANDIDATE, controlling, keyed with the far end's ICE password)
 * through cfg.send_to to the far end's address of the selected pair, which
 * it writes at *remote: the owner's key for what arrives. Resent every
 * 200 ms until the far end's success answer arrives (through
 * peer_media_input); from then on the media flows. 0, -EAGAIN (DTLS not
 * connected, or no selected pair yet), -EALREADY, -EINVAL (not shared). */
int peer_media_move(struct peer_media *m, struct sockaddr_storage *remote, socklen_t *remote_len);
/* cfg.shared: a datagram from the far end's address at the shared socket:
 * the answer to the move, consent checks (answered through send_to),
 * SRTP, SRTCP. */
void peer_media_input(struct peer_media *m, const uint8_t *buf, size_t len,
                      const struct sockaddr_storage *from, socklen_t from_len);

/* cfg.shared, once moved (peer_media_result moved): frees the libnice
 * agent and its socket (peer_media_fd is -1 from here; take it out of any
 * epoll set first). The call keeps its DTLS-SRTP state and the STUN agent
 * that answers the far end's consent checks. */
void peer_media_release_ice(struct peer_media *m);

/* cfg.on_timer: what is due now (early calls do no harm). */
void peer_media_tick(struct peer_media *m);

/* No more RTP or RTCP from now on; ICE (consent) keeps running. */
void peer_media_stop_sending(struct peer_media *m);

/* Nothing more to wait for: every packet was sent and what should come back
 * came back (or 1 s passed since the last one was sent), or ICE or DTLS
 * failed. */
bool peer_media_finished(const struct peer_media *m);

/* ---- results ---- */


struct peer_media_result {
	bool ice_connected, dtls_connected, ice_failed, dtls_failed;
	bool pcmu_negotiated;
	unsigned rtp_sent, rtp_received;
	unsigned echo_matches, echo_mismatches, echo_expected, echo_returned;
	unsigned dtmf_sent_packets, dtmf_matches;
	unsigned rtcp_sent, rtcp_received;
	uint64_t srtp_auth_failures;
	/* owner_reads: the far end's consent checks answered, and refused
	 * (not for us, or not a valid check) */
	unsigned consent_answered, consent_refused;
	/* cfg.shared: the far end answered the move; checks sent for it */
	bool moved;
	unsigned move_checks;
};
void peer_media_result(const struct peer_media *m, struct peer_media_result *r);

/* Writes the end's figures as members of the object j is in. */
void peer_media_json(const struct peer_media *m, struct peer_json *j);

#endif
