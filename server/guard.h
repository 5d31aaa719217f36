/* guard.h — per-address limits: how fast one address may open connections,
 * how many it may hold open, how many SIP requests a second it may send.
 *
 * Each limited address has a small entry: a token bucket for new
 * connections, one for requests (each holds two seconds' worth, so a burst
 * of twice the rate passes), and its open connections. IPv6 addresses are
 * counted by their /64 (one host usually has a whole /64 to pick from);
 * IPv4-mapped IPv6 addresses as the IPv4 address. Addresses in the exempt
 * list (a proxy in front of the gateway, a monitoring host) are not limited.
 * Entries of addresses that went quiet are dropped, and the table is bounded:
 * when it is full of live entries, new addresses pass unlimited rather than
 * displace the ones being limited.
 *
 * Sans-I/O: time is the caller's (milliseconds, any monotonic origin), and
 * nothing here logs; sw_guard_log_ok says when a refusal is worth a line. */
#ifndef SIPWIRE_SERVER_GUARD_H
#define SIPWIRE_SERVER_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct sw_guard_limits {
	unsigned conn_rate;    /* new connections a second from one address; 0: unlimited */
	unsigned max_conns;    /* connections one address holds open; 0: unlimited */
	unsigned request_rate; /* SIP requests a second from one address; 0: unlimited */
	/* Numeric addresses, each optionally "/prefix", never limited. */
	const char *const *exempt;
	size_t n_exempt;
	size_t max_entries; /* addresses tracked at once; 0: 65536 */
};

enum sw_guard_verdict {
	SW_GUARD_PASS,
	SW_GUARD_RATE,     /* over its rate: come back in a second */
	SW_GUARD_TOO_MANY, /* holds max_conns connections already */
};

struct sw_guard;

/* -EINVAL for an exempt entry that is not an address or prefix; -ENOMEM. */
int sw_guard_new(struct sw_guard **out, const struct sw_guard_limits *limits);
void sw_guard_free(struct sw_guard *g);

/* A connection attempt (a TCP accept): takes one from the address's
 * connection bucket. */
enum sw_guard_verdict sw_guard_connect(struct sw_guard *g, const struct sockaddr *addr,
                                       uint64_t now_ms);
/* A connection from addr is now open. PASS: it is counted, and
 * sw_guard_close must be called when it ends; TOO_MANY: not counted. */
enum sw_guard_verdict sw_guard_open(struct sw_guard *g, const struct sockaddr *addr,
                                    uint64_t now_ms);
void sw_guard_close(struct sw_guard *g, const struct sockaddr *addr, uint64_t now_ms);
/* One SIP request from addr: takes one from its request bucket. */
enum sw_guard_verdict sw_guard_request(struct sw_guard *g, const struct sockaddr *addr,
                                       uint64_t now_ms);

/* What a refusal was, for its log line. */
enum sw_guard_event {
	SW_GUARD_EV_CONNECT, /* over the connection rate */
	SW_GUARD_EV_OPEN,    /* over the open connections */
	SW_GUARD_EV_REQUEST, /* over the request rate */
	SW_GUARD_EV_OTHER,   /* the caller's own reason (not a trunk...) */
	SW_GUARD_EV_COUNT
};

/* Whether a refusal of addr should be logged now: at most one line a second
 * per address and kind. *suppressed gets the refusals of that kind not
 * logged since its last line. */
bool sw_guard_log_ok(struct sw_guard *g, const struct sockaddr *addr, enum sw_guard_event ev,
                     uint64_t now_ms, unsigned *suppressed);

/* addr is in the exempt list. */
bool sw_guard_exempt(const struct sw_guard *g, const struct sockaddr *addr);

struct sw_guard_stats {
	uint64_t connects_refused, opens_refused, requests_refused;
	size_t entries;
};
void sw_guard_stats(const struct sw_guard *g, struct sw_guard_stats *out);

#endif
