/* rtpengine_ng — a small client of rtpengine's ng control protocol, enough
 * to set calls up and tear them down for a benchmark: offer, answer, delete
 * and ping over UDP.
 *
 * A message is a cookie, one space, and a bencoded dictionary (bencode.h);
 * the reply carries the same cookie and a dictionary whose "result" is "ok"
 * (or "pong"), or "error" with an "error-reason". A request whose reply is
 * late is sent again with the same cookie: rtpengine answers a repeated
 * cookie from its cache instead of running the command twice.
 *
 * Blocking, one request at a time; one client per thread. */
#ifndef SIPWIRE_BENCH_RTPENGINE_NG_H
#define SIPWIRE_BENCH_RTPENGINE_NG_H

#include <stdbool.h>
#include <stddef.h>

#include "bencode.h"

#define NG_REPLY_MAX  65536
#define NG_NODES_MAX  1024
#define NG_COOKIE_MAX 32

struct ng_reply {
	char buf[NG_REPLY_MAX];
	size_t len;
	struct bdec_node nodes[NG_NODES_MAX];
	struct bdec d;
	const struct bdec_node *dict; /* the reply's dictionary */
	char reason[200];             /* error-reason of an "error", or why it is refused */
};

/* Reads the datagram in r->buf[0..r->len) as the reply to cookie. Returns
 * 0 for "ok" or "pong"; -EPROTO for "error" (r->reason says why); -ESRCH
 * for a reply to another cookie; -EINVAL for anything malformed (no cookie,
 * not bencode, not a dictionary, no result). */
int ng_reply_parse(struct ng_reply *r, const char *cookie);

struct ng_client;

/* A client of the ng listener at host:port (IPv4), waiting timeout_ms for
 * each reply before sending again, five times at most (an rtpengine that
 * shares its core with other work may take seconds). 0 or a negative errno. */
int ng_client_new(const char *host, unsigned port, unsigned timeout_ms, struct ng_client **out);
void ng_client_free(struct ng_client *c);

/* Sends the bencoded dictionary msg[0..len) under a fresh cookie and reads
 * the reply into r. Returns what ng_reply_parse does, or -ETIMEDOUT, or a
 * socket error. */
int ng_request(struct ng_client *c, const char *msg, size_t len, struct ng_reply *r);

/* An offer (to_tag NULL) or an answer. */
struct ng_sdp_request {
	const char *call_id, *from_tag, *to_tag;
	const char *sdp;
	/* "RTP/AVP", "RTP/SAVP"...: the protocol toward the SDP's recipient;
	 * NULL keeps the one in the SDP */
	const char *transport;
	bool ice_remove; /* no ICE toward the recipient */
	bool dtls_off;   /* no DTLS-SRTP offered toward the recipient */
	/* SDES options ("only-AES_CM_128_HMAC_SHA1_80"...), NULL-terminated, or NULL */
	const char *const *sdes;
};

/* The SDP rtpengine rewrote for the recipient: a view into r, valid until
 * r is used again. */
struct ng_sdp {
	const char *p;
	size_t len;
};

int ng_offer(struct ng_client *c, const struct ng_sdp_request *q, struct ng_reply *r,
             struct ng_sdp *out);
int ng_answer(struct ng_client *c, const struct ng_sdp_request *q, struct ng_reply *r,
              struct ng_sdp *out);
int ng_delete(struct ng_client *c, const char *call_id, const char *from_tag,
              struct ng_reply *r);
int ng_ping(struct ng_client *c, struct ng_reply *r);

#endif
