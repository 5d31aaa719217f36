/* ice_direct.h — ICE's STUN on the selected pair's socket once its owner
 * reads that socket itself (webrtc/ice.h, direct mode), without I/O: the
 * peer's connectivity and consent checks answered, our RFC 7675 consent
 * checks made and their answers matched, consent expiry told.
 *
 * Messages are built and checked with libnice's STUN library: a check's
 * USERNAME is "RECEIVER:SENDER" and its MESSAGE-INTEGRITY keyed with the
 * receiver's password (RFC 8445 §7.2.2), FINGERPRINT on every message.
 * Times are monotonic µs given by the caller, so a test or a fuzzer can
 * drive it alone. Not thread-safe; one per agent.
 */
#ifndef SIPWIRE_WEBRTC_ICE_DIRECT_H
#define SIPWIRE_WEBRTC_ICE_DIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stun/stunagent.h>
#include <sys/socket.h>

#define ICE_DIRECT_CRED_MAX 256 /* RFC 8839 §5.4 */
#define ICE_DIRECT_STUN_MAX 576 /* room for any message built here */

struct ice_direct {
	char ufrag[ICE_DIRECT_CRED_MAX + 1], pwd[ICE_DIRECT_CRED_MAX + 1];
	char remote_ufrag[ICE_DIRECT_CRED_MAX + 1], remote_pwd[ICE_DIRECT_CRED_MAX + 1];
	bool controlling;
	uint32_t priority; /* PRIORITY of our checks */
	uint64_t tie;      /* ICE-CONTROLLING/-CONTROLLED tie-breaker */
	struct sockaddr_storage remote; /* the selected pair's far end */
	socklen_t remote_len;
	StunAgent stun;
	StunTransactionId last_check[2]; /* the two latest consent checks */
	unsigned n_checks;
	int64_t consent_until_us, next_check_us;
	/* the peer's checks answered, STUN refused (integrity, attributes,
	 * unknown transaction), our consent checks sent and answered */
	uint64_t answered, refused, checks, answers;
};

/* Start on a selected pair: consent runs 30 s from now_us, the first
 * check is due 4 to 6 s from now_us. Credentials are copied (longer ones
 * are cut at ICE_DIRECT_CRED_MAX). */
void ice_direct_init(struct ice_direct *d, const char *ufrag, const char *pwd,
                     const char *remote_ufrag, const char *remote_pwd, bool controlling,
                     uint32_t priority, const struct sockaddr_storage *remote,
                     socklen_t remote_len, int64_t now_us);

enum ice_direct_verdict {
	ICE_DIRECT_MEDIA, /* not STUN, from the selected pair's far end: the owner's */
	ICE_DIRECT_DROP,  /* STUN taken (an answer to our check), refused, or not from the pair */
	ICE_DIRECT_REPLY, /* a check to answer: out holds *out_len bytes for `from` */
};

/* A datagram read from the socket, with where it came from (RFC 7983:
 * first byte 0-3 is STUN). A valid check with USE-CANDIDATE from another
 * address, while we are controlled, moves the pair's far end there. out
 * holds ICE_DIRECT_STUN_MAX bytes. */
enum ice_direct_verdict ice_direct_input(struct ice_direct *d, const uint8_t *buf, size_t len,
                                         const struct sockaddr_storage *from,
                                         socklen_t from_len, int64_t now_us, uint8_t *out,
                                         size_t *out_len);

/* At now_us: -ETIMEDOUT when consent has expired (nothing may be sent any
 * more); the length of a consent check to send to d->remote, written into
 * out (ICE_DIRECT_STUN_MAX bytes), when one is due; else 0. */
int ice_direct_tick(struct ice_direct *d, int64_t now_us, uint8_t *out);
/* When ice_direct_tick has something to do next: a check, or consent's end. */
int64_t ice_direct_due(const struct ice_direct *d);

/* Is from the selected pair's far end? */
bool ice_direct_from_pair(const struct ice_direct *d, const struct sockaddr_storage *from);

#endif
