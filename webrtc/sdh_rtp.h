/* sdh_rtp.h — the plain-RTP session description handler (SDH) and its media
 * relay: RTP/AVP audio on a UDP port pair, for a PBX or SIP trunk leg (and, until
 * WebRTC media exists, for browser-side test clients that offer RTP/AVP).
 *
 * One context (struct sdh_rtp_ctx) per media loop holds the port range, the
 * codecs sipwire carries and the receive buffers; one handler (struct sdh_rtp)
 * per call leg does offer/answer (RFC 3264) and owns a port pair. Handlers are
 * relayed to each other (sdh_rtp_bridge) or echo what they get (sdh_rtp_echo).
 * Relaying is pass-through: packets go out as they came in (no transcoding), so
 * the B2BUA offers one leg what the other leg offered (sdh_rtp_offer_like) and
 * answers with what the other leg accepted (sdh_rtp_answer_like).
 *
 * The functions sdh_rtp_get_description, _set_description, _has_description,
 * _rollback_description, _send_dtmf and _close have exactly the C signatures
 * of struct sip_sdh_ops (sip/sip_ua.h), with the handler as `void *sdh`, so the
 * daemon fills that table with them; webrtc/ does not include sip/ headers.
 * The `options` they take are a `const struct sdh_rtp_options *` or NULL.
 *
 * Everything runs on the GMainContext given to the context: sockets are read
 * from sources attached there, DTMF is paced by timeouts there. Not thread-safe;
 * call every function from the thread that iterates that context.
 */
#ifndef SIPWIRE_WEBRTC_SDH_RTP_H
#define SIPWIRE_WEBRTC_SDH_RTP_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct sdp_session;
struct sdp_media;
struct sdh_rtp_ctx;
struct sdh_rtp;

/* The codecs known by name, with the payload type, clock and format
 * parameters sipwire uses when it offers them itself:
 *   "PCMU" 0/8000, "PCMA" 8/8000, "G722" 9/8000,
 *   "opus" 111/48000/2 (minptime=10;useinbandfec=1),
 *   "telephone-event" 101/8000 (0-16).
 * A remote codec is accepted when its encoding name matches one of the
 * context's names (case-insensitively) with the same clock (any clock for
 * telephone-event). */
#define SDH_RTP_MAX_CODECS 16 /* codecs kept from one description */

struct sdh_rtp_ctx_params {
	GMainContext *loop;       /* sockets and timers run here; NULL: the default */
	const char *address;      /* put in c= and o=: an IPv4 or IPv6 literal */
	const char *bind_address; /* sockets bind here; NULL: the wildcard of
	                           * address's family ("::" is dual-stack) */
	uint16_t port_min, port_max; /* RTP on even ports min..max, RTCP on the
	                              * odd port above; both inside the range */
	/* Names (above) of the codecs carried, in the order sipwire offers them;
	 * NULL-terminated. NULL: PCMU, PCMA, G722, opus, telephone-event. */
	const char *const *codecs;
	uint32_t ptime;            /* a=ptime in our descriptions; 0: none */
	uint32_t dtmf_interval_ms; /* RFC 4733 update packets; 0: 20 */
	void (*on_log)(void *arg, const char *line); /* refused input; optional */
	void *log_arg;
	/* The owner's thread waits on the context's set itself
	 * (sdh_rtp_ctx_poll, sdh_rtp_ctx_relay), instead of a source of the
	 * loop doing it (timers stay on the loop). */
	bool external_poll;
};

/* A new context at *out (one reference). 0; -EINVAL (no or bad address, an
 * unknown codec name, a range holding no even/odd pair); -ENOMEM. */
int sdh_rtp_ctx_new(const struct sdh_rtp_ctx_params *p, struct sdh_rtp_ctx **out);
/* Handlers hold a reference each, so a context outlives its last handler. */
struct sdh_rtp_ctx *sdh_rtp_ctx_ref(struct sdh_rtp_ctx *c);
void sdh_rtp_ctx_unref(struct sdh_rtp_ctx *c);
/* external_poll: every socket of the context is in one epoll set, and the
 * owner's thread waits there for its own descriptors too (one system call
 * per wake-up, not a set nested in another). */
/* Puts the owner's fd in the set, reported by sdh_rtp_ctx_relay as id.
 * 0; -errno. */
int sdh_rtp_ctx_watch_other(struct sdh_rtp_ctx *c, int fd, uint32_t id);
/* Waits up to timeout_ms (-1: no limit) for ready descriptors. Their count
 * (0 on a timeout or a signal); -errno. */
int sdh_rtp_ctx_poll(struct sdh_rtp_ctx *c, int timeout_ms);
/* Reads and relays what waits on the media sockets the last poll found
 * ready; the ids of the owner's ready descriptors go to ids (up to max; the
 * others stay ready for the next poll), their count returned. */
unsigned sdh_rtp_ctx_relay(struct sdh_rtp_ctx *c, uint32_t *ids, unsigned max);
/* Port pairs held by live handlers. */
unsigned sdh_rtp_ctx_pairs_in_use(const struct sdh_rtp_ctx *c);

/* What a leg adds to the plain handler: its profile and description lines,
 * and either a transport of its own in place of the UDP port pair (the
 * WebRTC leg's ICE + DTLS + SRTP, webrtc/sdh_webrtc.h: send set) or a
 * transform of the packets on the port pair (SDES-SRTP, webrtc/sdh_sdes.h:
 * send NULL, protect/unprotect set). Offer/answer of codecs and directions,
 * hold, DTMF and relaying stay the handler's. All callbacks run inside
 * sdh_rtp_* calls or the relay, on the context's thread, and must not free
 * the handler. */
struct sdh_rtp_transport {
	/* The m= profile the handler offers and the only one it accepts,
	 * e.g. "UDP/TLS/RTP/SAVPF". */
	const char *proto;
	/* A remote description's audio section m of s: an offer, or the answer
	 * to our offer. Take what the transport needs (ICE credentials and
	 * candidates, fingerprint, setup) as pending. 0, or a negative errno
	 * to refuse the description (-EINVAL: the set_description fails). */
	int (*remote)(void *arg, const struct sdp_session *s, const struct sdp_media *m, bool offer);
	/* Offer/answer completed with the pending remote parameters. */
	void (*agreed)(void *arg);
	/* Our description: the audio section's m= port and c= address, lines
	 * to add at session level (after t=) and after the audio section's
	 * codecs (each ending in CRLF). answer: we answer an offer; mid: the
	 * audio section's a=mid ("0" in our offers). */
	void (*describe)(void *arg, bool answer, const char *mid, uint16_t *port,
	                 const char **address, GString *session_lines, GString *media_lines);
	/* One plain RTP or RTCP packet for the peer; buf has cap bytes of room
	 * (for an SRTP trailer). Returns 0 when sent. NULL: the handler keeps
	 * its UDP port pair (symmetric RTP, latching, RTCP on the odd port
	 * unless muxed), where the two hooks below apply. */
	int (*send)(void *arg, uint8_t *buf, size_t len, size_t cap, bool rtcp);
	/* A transport that sends, optional: a datagram read from the socket it
	 * gave to sdh_rtp_transport_watch, with its source; buf holds cap
	 * bytes. Return the length of the plain RTP or RTCP packet it made of
	 * it in place, to be relayed; 0 when the transport took it (STUN,
	 * DTLS) or refused it itself; a negative errno to drop it (counted in
	 * the handler's dropped). */
	int (*input)(void *arg, uint8_t *buf, size_t len, size_t cap,
	             const struct sockaddr_storage *from, socklen_t from_len);
	/* Port pair only, optional: a datagram from the peer, before anything
	 * else looks at it (rtcp: it came to the RTCP port, or is RTCP by its
	 * payload type on the RTP port, RFC 5761). Make it plain in place and
	 * return the plain length, or a negative errno to drop it (counted in
	 * the handler's dropped). */
	int (*unprotect)(void *arg, uint8_t *buf, size_t len, bool rtcp);
	/* Port pair only, optional: a plain packet about to be sent; buf holds
	 * cap bytes. Return the length to send, or a negative errno to drop it. */
	int (*protect)(void *arg, uint8_t *buf, size_t len, size_t cap, bool rtcp);
	/* The handler closed: stop media. */
	void (*close)(void *arg);
	void *arg;
};

/* Per-leg choices made when the handler is created. */
struct sdh_rtp_opts {
	bool rtcp_mux; /* offer a=rtcp-mux (answers take it whenever offered);
	                * always with a transport that sends */
	/* NULL: plain RTP/AVP on a UDP port pair of the context's range. Else
	 * copied; its arg must outlive the handler's close. A transport
	 * without send gets a port pair too. */
	const struct sdh_rtp_transport *transport;
};

/* Per-description options (SIP.js sessionDescriptionHandlerOptions), passed
 * as `options` to get_description/set_description. */
struct sdh_rtp_options {
	bool hold; /* offer/answer sendonly (inactive when the peer is sendonly) */
};

/* A handler at *out, with a port pair of its own unless its transport
 * sends; opts may be NULL. 0;
 * -EADDRINUSE when every pair of the range is taken (by handlers or by other
 * sockets); another negative errno from socket/bind; -ENOMEM. */
int sdh_rtp_new(struct sdh_rtp_ctx *c, const struct sdh_rtp_opts *opts, struct sdh_rtp **out);
/* Closes (when not closed yet) and frees. NULL is fine. */
void sdh_rtp_free(struct sdh_rtp *h);
/* The address this handler's descriptions give (c=, o=) instead of the
 * context's: for a context whose sockets are on every address, the one the
 * peer reaches us at. An IPv4 or IPv6 literal of the context's family. 0;
 * -EINVAL (not such a literal). */
int sdh_rtp_set_address(struct sdh_rtp *h, const char *address);

/* ---- struct sip_sdh_ops, one for one ---- */

/* An answer when a remote offer is pending, else an offer, written into buf
 * with CRLF lines (NUL-terminated when room). The o= version goes up only
 * when the text differs from our previous description. 0; -ENOSPC (buf too
 * small; nothing changed, call again with more room); -ENOTSUP (no codec in
 * common); -EBADF (closed). */
int sdh_rtp_get_description(void *sdh, const void *options, char *buf, size_t size, size_t *len,
                            const char **ctype);
/* A remote offer (no local offer pending) or answer (to our offer). 0;
 * -EINVAL (not application/sdp, unparseable, no RTP/AVP audio stream, a
 * connection address that is not a literal of a family we can reach);
 * -ENOTSUP (no codec in common, or the answer refused our stream); -EBADF. */
int sdh_rtp_set_description(void *sdh, const char *ctype, const char *body, size_t len,
                            const void *options);
bool sdh_rtp_has_description(void *sdh, const char *ctype, size_t len);
/* Forget a pending local offer or a pending remote offer; what was agreed
 * before stays in force. */
void sdh_rtp_rollback_description(void *sdh);
/* Queue one RFC 4733 event ('0'-'9', '*', '#', 'A'-'D') of duration_ms
 * (clamped to 40..5000; 0: 100) on the negotiated telephone-event payload
 * type, in the stream this handler sends. 0; -EINVAL (not a DTMF tone);
 * -ENOTSUP (no telephone-event agreed, or no media to send on); -ENOBUFS
 * (too many queued). */
int sdh_rtp_send_dtmf(void *sdh, char tone, unsigned duration_ms);
/* A packet the transport received from the peer and made plain (RTP or
 * RTCP, told apart by RFC 5761): relayed as one from the port pair would be.
 * buf holds cap bytes. */
void sdh_rtp_transport_recv(struct sdh_rtp *h, uint8_t *buf, size_t len, size_t cap);
/* The transport's own socket, read with the context's other sockets (one
 * epoll set, batches of recvmmsg): each datagram goes to its input hook.
 * Replaces a socket watched before. 0, or a negative errno from epoll. */
int sdh_rtp_transport_watch(struct sdh_rtp *h, int fd);
/* Stop reading it (before it closes). */
void sdh_rtp_transport_unwatch(struct sdh_rtp *h);

/* Stop media, leave any bridge, release the ports. The handler stays
 * allocated (and answers -EBADF) until sdh_rtp_free. */
void sdh_rtp_close(void *sdh);

/* ---- the B2BUA's helpers ---- */

/* Our next offers carry the codecs (payload types, rtpmap, fmtp) of other's
 * remote description (its pending remote offer, else the last one agreed),
 * less those this context does not carry, in the context's order of
 * preference, with telephone-event added when other had none. 0; -ENOENT (other has none);
 * -ENOTSUP (nothing carried). Stays until sdh_rtp_offer_default. */
int sdh_rtp_offer_like(struct sdh_rtp *h, const struct sdh_rtp *other);
void sdh_rtp_offer_default(struct sdh_rtp *h);
/* Our next answer keeps only the offered codecs whose encoding and clock are
 * also in other's remote description (e.g. what the PBX chose), in the
 * offer's order and numbering. Used once. 0; -ENOENT. */
int sdh_rtp_answer_like(struct sdh_rtp *h, const struct sdh_rtp *other);

/* ---- media ---- */

/* RTP and RTCP received on a's ports go out of b's ports to b's peer, and the
 * other way round. A payload type is renumbered when the two ends agreed
 * another number for the same codec (name and clock); packets of a codec the
 * other end did not agree are dropped. Either end that was bridged or echoing
 * leaves that first.
 * 0; -EINVAL (a == b, or NULL); -EBADF (closed). */
int sdh_rtp_bridge(struct sdh_rtp *a, struct sdh_rtp *b);
/* RFC 4733 events h receives that the end it is bridged to cannot carry
 * (that end agreed no telephone-event): fn hears each once, at its end,
 * with the tone ('0'-'9', '*', '#', 'A'-'D') and its duration, so that the
 * owner can pass it on another way (SIP INFO). fn NULL: dropped. */
void sdh_rtp_on_dtmf(struct sdh_rtp *h, void (*fn)(void *arg, char tone, unsigned duration_ms),
                     void *arg);

/* Send back to its peer what h receives (the echo service). 0; -EBADF. */
int sdh_rtp_echo(struct sdh_rtp *h);
/* Leave a bridge (both ends) or stop echoing; received packets are dropped. */
void sdh_rtp_unbridge(struct sdh_rtp *h);

struct sdh_rtp_stats {
	uint64_t rx_packets, rx_bytes; /* received on h's ports */
	uint64_t tx_packets, tx_bytes; /* sent from h's ports (relayed, echoed, DTMF) */
	uint64_t dropped;  /* received and not sent on: invalid, unexpected source,
	                    * held direction, no other end, or a failed send */
	uint64_t dtmf_packets; /* RFC 4733 packets sent (also in tx_packets) */
	uint64_t pt_mapped; /* relayed with its payload type renumbered */
	int64_t last_rx_us; /* g_get_monotonic_time() of the last packet taken
	                     * from the peer (relayed or not); 0: none yet */
	bool peer_sends;    /* media agreed, and the peer's direction sends to us */
	bool held;          /* media agreed, and not both ways: one end holds the
	                     * call (sendonly, recvonly, inactive, c=0.0.0.0) */
};
void sdh_rtp_get_stats(const struct sdh_rtp *h, struct sdh_rtp_stats *out);

/* How long the loop takes to relay what it received: from a receive (a
 * batch from a port pair, or one datagram from a transport) to the last
 * send it caused. Counted per receive, on the loop's thread. */
#define SDH_RTP_LATENCY_BUCKETS 10
extern const uint32_t sdh_rtp_latency_bounds_us[SDH_RTP_LATENCY_BUCKETS]; /* upper bounds */
struct sdh_rtp_latency {
	uint64_t bucket[SDH_RTP_LATENCY_BUCKETS + 1]; /* not cumulative; last: above all */
	uint64_t count, sum_ns;
};
/* The context's figures so far; call it on the context's loop. */
void sdh_rtp_ctx_latency(const struct sdh_rtp_ctx *c, struct sdh_rtp_latency *out);
/* The RTP port (RTCP is the next one); 0 once closed. */
uint16_t sdh_rtp_port(const struct sdh_rtp *h);

#endif
