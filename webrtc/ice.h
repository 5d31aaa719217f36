/* ice.h — ICE (RFC 8445) for one WebRTC leg, on libnice.
 *
 * A WebRTC leg bundles audio (and anything else) with rtcp-mux, so an agent
 * here has one stream with one component: every datagram of the leg (STUN,
 * DTLS, SRTP, SRTCP) crosses the one selected pair. libnice answers and sends
 * STUN itself (connectivity checks, keepalives, RFC 7675 consent freshness);
 * everything else that arrives is handed to on_recv. In direct mode
 * (ice_params.on_socket) the selected pair's socket is the owner's to read
 * once checks have selected it, and the STUN that goes on on it (the peer's
 * checks, consent freshness) is done here (webrtc/ice_direct.h).
 *
 * Candidates: host candidates on the configured local addresses (all of the
 * machine's addresses when none is given), UDP only, ports from the configured
 * range. Behind a 1:1 NAT (Docker, a cloud VM) the configured public address
 * is advertised as well, as a server-reflexive candidate whose base is each
 * host candidate of the same family, so that a browser outside reaches the
 * gateway at its public address. Remote candidates with mDNS names
 * ("....local") cannot be resolved here and are skipped: the peer's checks
 * reveal its address as a peer-reflexive candidate. TCP candidates are
 * skipped. Nothing trickles: local candidates are all known once the agent is
 * made, and remote ones come from the peer's SDP.
 *
 * Roles: a full agent is controlling when it made the offer and controlled
 * when it answered (RFC 8445 §6.1.1), except that a full agent facing an
 * ice-lite peer is always controlling; a lite agent is always controlled.
 * libnice fixes the role when it gathers, so the role is given when the agent
 * is made (ice_params.controlling) and kept through restarts; a role conflict
 * with the peer is resolved by the checks (RFC 8445 §7.3.1.1). libnice's lite
 * mode changes what is advertised, not what is done: it still sends checks
 * (triggered by the peer's), which a full peer answers.
 *
 * Callbacks: on_state reports every change of ice_agent_state(), in order,
 * from the loop. A change recorded before a datagram arrives is reported
 * before that datagram's on_recv, so CONNECTED comes before the first
 * datagram of the selected pair; a datagram from a pair that checks have
 * validated but not yet selected can come while CHECKING (the peer's DTLS
 * ClientHello often does), and ice_agent_send refuses until CONNECTED. Either
 * callback may call ice_agent_free.
 *
 * Everything runs on the GMainContext given in the parameters: libnice's
 * sockets and timers are attached there, the callbacks run there, and every
 * function must be called from the thread that iterates it.
 */
#ifndef SIPWIRE_WEBRTC_ICE_H
#define SIPWIRE_WEBRTC_ICE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "webrtc/sdp.h"

enum ice_state {
	ICE_STATE_NEW,       /* made; remote credentials not set or not started */
	ICE_STATE_CHECKING,  /* started, no pair validated yet */
	ICE_STATE_CONNECTED, /* a pair is selected: ice_agent_send works */
	ICE_STATE_FAILED,    /* checks failed, the connect timeout passed, or
	                      * consent was lost; the agent sends nothing more */
};

struct ice_params {
	GMainContext *loop; /* NULL: the thread-default main context */
	/* libnice's agent, its timers and its sockets until direct mode: a
	 * context of the same thread, so that a turn of `loop` does not walk
	 * every agent's sources. NULL: loop. */
	GMainContext *nice_loop;
	/* Local addresses (IPv4 or IPv6 literals) to gather host candidates on;
	 * NULL-terminated. NULL or empty: every address of the machine. */
	const char *const *addresses;
	/* The address a 1:1 NAT maps to ours, advertised as a server-reflexive
	 * candidate; NULL or "" for none. */
	const char *public_address;
	uint16_t port_min, port_max; /* host candidates' ports; 0, 0: any */
	bool lite;                   /* ice-lite (RFC 8445 §2.5) */
	/* We offered, or we answer an offer with a=ice-lite (ignored when lite). */
	bool controlling;
	/* From ice_agent_start until a pair is selected; on expiry the state
	 * becomes ICE_STATE_FAILED with reason "ICE timeout". 0: 10000. */
	unsigned connect_timeout_ms;
	/* A datagram that is not STUN, received on the selected pair (or on any
	 * pair that checks have validated). buf is valid during the call only and
	 * may be changed in place (it holds len bytes with room after it:
	 * ICE_RECV_ROOM bytes in all). Longer datagrams are dropped. */
	void (*on_recv)(void *arg, uint8_t *buf, size_t len);
	/* The state changed. reason is NULL except for ICE_STATE_FAILED:
	 * "ICE checks failed", "ICE timeout", "ICE consent lost". Called from
	 * the loop, never from inside an ice_agent_* call. Once FAILED, the
	 * agent's sockets are closed (its checks and keepalives stop) before
	 * this reports it; ice_agent_restart makes new ones. */
	void (*on_state)(void *arg, enum ice_state state, const char *reason);
	/* Optional: direct mode. Once a pair is selected (after on_state has
	 * reported CONNECTED), fd is the selected pair's socket, handed to the
	 * owner to read itself (non-blocking UDP): every datagram read from it
	 * goes to ice_agent_input, and ice_agent_tick is called when its
	 * last call said (early is fine). libnice no longer reads it or keeps
	 * timers for it: the peer's checks are answered and our RFC 7675
	 * consent checks sent here, consent lost (no answer for 30 s) failing the agent as
	 * "ICE consent lost". fd -1: stop reading it (it is about to close, or
	 * a restart gives it back to libnice until new checks select a pair);
	 * called synchronously from ice_agent_free and ice_agent_restart too. */
	void (*on_socket)(void *arg, int fd);
	void *arg;
};

/* The buffer on_recv's packet sits in holds this many bytes, so a receiver
 * may grow a packet in place (an SRTP trailer) up to it. */
#define ICE_RECV_ROOM 2048

struct ice_agent;

/* A new agent at *out, with its host candidates gathered and its local
 * credentials chosen. 0; -EINVAL (an address that is not a literal,
 * port_min > port_max or port_min 0 with port_max not, a callback missing);
 * -EADDRNOTAVAIL (no candidate could be made: no usable address,
 * or every port of the range taken); -ENOMEM. */
int ice_agent_new(const struct ice_params *p, struct ice_agent **out);
/* Stops checks, closes the sockets and frees. No callback runs after it.
 * NULL is fine. */
void ice_agent_free(struct ice_agent *a);

/* Our a=ice-ufrag and a=ice-pwd values. */
const char *ice_agent_ufrag(const struct ice_agent *a);
const char *ice_agent_pwd(const struct ice_agent *a);
/* Our candidates as SDP lines ("a=candidate:... typ host\r\n" per candidate,
 * then the public address's "... typ srflx raddr <host> rport <port>" lines,
 * then "a=end-of-candidates\r\n"), NUL-terminated when size > 0. Returns
 * the length of the whole text, like snprintf. After a failure these are the
 * last candidates gathered until a restart gathers new ones. */
size_t ice_agent_sdp_candidates(const struct ice_agent *a, char *buf, size_t size);
/* The default candidate (RFC 8839 §4.2.1.2) for the m= port and c= line:
 * the public address when one is set, else the first host candidate. */
void ice_agent_default_candidate(const struct ice_agent *a, const char **address, uint16_t *port);

/* The peer's credentials (from its SDP). Setting the same ones again changes
 * nothing. Setting different ones than before is a remote ICE restart, as
 * ice_agent_restart: our credentials change too (RFC 8839 §4.4.3.1.1: read
 * them for the answer after this call, and the candidates as well when the
 * agent had failed), checks start over with the candidates added after this
 * call, and ice_agent_start must be called again. 0; -EINVAL (empty, longer
 * than 256, a character ICE does not allow, or remote_lite for a full agent
 * made controlled: see Roles); -EADDRNOTAVAIL, -ENOMEM as ice_agent_restart. */
int ice_agent_set_remote_credentials(struct ice_agent *a, const char *ufrag, const char *pwd,
                                     bool remote_lite);
/* One remote candidate from the peer's SDP. Candidates of another component,
 * TCP candidates, mDNS names and types other than host, srflx, prflx and relay
 * are skipped (return 0, counted in stats). Before ice_agent_start they are
 * kept for it. 0; -EINVAL (an address that is not a literal, port 0, a
 * foundation that is not 1..32 ice-chars). */
int ice_agent_add_remote_candidate(struct ice_agent *a, const struct sdp_candidate *c);
/* a=end-of-candidates was in the peer's SDP: no more will come, so checks
 * may conclude (and fail) without waiting for more. */
void ice_agent_end_of_candidates(struct ice_agent *a);
/* Start connectivity checks (full) or accepting them (lite), and the connect
 * timer. Call after the remote credentials are set, and again after each
 * restart. 0; -EALREADY (started since the last restart, failed included);
 * -EINVAL (no remote credentials). */
int ice_agent_start(struct ice_agent *a);

/* Send one datagram on the selected pair. 0; -EINVAL (NULL, or len 0 or over
 * 65535); -ENOTCONN (no pair selected yet, or failed); -EIO (the socket
 * refused it, or the peer revoked consent). */
int ice_agent_send(struct ice_agent *a, const uint8_t *buf, size_t len);

/* A local ICE restart (for a re-INVITE that restarts ICE): new local
 * credentials; the selected pair keeps carrying media (the state stays
 * CONNECTED) until the new checks select one; otherwise the state goes back
 * to NEW. A failed agent gathers new candidates on new sockets. The remote
 * credentials must be set again, then ice_agent_start. 0; -EADDRNOTAVAIL
 * (a failed agent could not gather again; it stays failed); -ENOMEM. */
int ice_agent_restart(struct ice_agent *a);

enum ice_state ice_agent_state(const struct ice_agent *a);

/* Direct mode: a datagram read from the socket on_socket handed over, with
 * where it came from. STUN (first byte 0-3, RFC 7983) is taken here: a
 * valid check from the peer is answered (one with USE-CANDIDATE from
 * another address moves the pair there), an answer to our consent check
 * renews consent. Returns len when the datagram is for the owner (not
 * STUN, from the selected pair's remote end), else 0. */
int ice_agent_input(struct ice_agent *a, const uint8_t *buf, size_t len,
                    const struct sockaddr_storage *from, socklen_t from_len);
/* Direct mode: send a consent check when one is due (every 4 to 6 s),
 * fail the agent when consent has expired. now_us: g_get_monotonic_time()
 * (a later time in tests). Returns when the next tick is due; -1 outside
 * direct mode (nothing to do) and once failed. */
int64_t ice_agent_tick(struct ice_agent *a, int64_t now_us);
/* The socket handed over by on_socket, or -1. */
int ice_agent_fd(const struct ice_agent *a);

struct ice_stats {
	uint64_t rx_packets, rx_bytes; /* handed to on_recv */
	uint64_t tx_packets, tx_bytes; /* sent by ice_agent_send */
	uint64_t remote_skipped;       /* remote candidates skipped (TCP, mDNS, other component) */
	/* direct mode: the peer's checks answered and STUN refused (bad
	 * integrity, unknown attributes...); our consent checks and answers */
	uint64_t stun_answered, stun_refused, consent_checks, consent_answers;
	int64_t connected_ms;          /* from the last ice_agent_start to a selected pair; -1 */
	/* The selected pair as "address:port" ("[v6]:port"); "" before one. */
	char local[64], remote[64];
};
void ice_agent_get_stats(const struct ice_agent *a, struct ice_stats *out);

#endif
