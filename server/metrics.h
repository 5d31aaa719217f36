/* metrics.h — /metrics: the gateway's figures in the Prometheus text
 * exposition format (version 0.0.4), and the call figures the B2BUA keeps
 * for it.
 *
 * Everything is read on the signalling thread at scrape time from the
 * module that owns it: WebSocket connections (ws.h), the endpoint's
 * requests, transactions and registrations (endpoint.h), the calls
 * (b2bua.h: by end reason, ICE and DTLS outcomes), and the media workers
 * (media.h: a job on each worker sums its legs' counters, so the packet path
 * takes no lock). docs/operations.md lists every metric. */
#ifndef SIPWIRE_SERVER_METRICS_H
#define SIPWIRE_SERVER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/config.h"
#include "server/media.h"

/* A histogram with fixed upper bounds (seconds). */
#define SW_HISTOGRAM_MAX 12
struct sw_histogram {
	uint64_t bucket[SW_HISTOGRAM_MAX + 1]; /* not cumulative; the last: above all */
	uint64_t count;
	double sum;
};

/* Calls as they end (kept by the B2BUA, written by sw_metrics_render). */
#define SW_METRICS_END_REASONS 48
struct sw_call_metrics {
	struct {
		const char *reason; /* static text, as in the detail line */
		uint64_t n;
	} ended[SW_METRICS_END_REASONS];
	uint64_t ended_other; /* past SW_METRICS_END_REASONS distinct reasons */
	uint64_t webrtc_legs, ice_failures, dtls_failures;
	struct sw_histogram ice_seconds;  /* ICE start to a selected pair */
	struct sw_histogram dtls_seconds; /* ICE connected to DTLS connected */
};

/* A call ended with this end reason (static text). */
void sw_call_metrics_ended(struct sw_call_metrics *m, const char *reason);
/* What one leg's media did, as it ends. */
void sw_call_metrics_leg(struct sw_call_metrics *m, const struct sw_media_stats *st);

struct sw_ws;
struct sw_endpoint;

/* What the daemon itself knows. */
struct sw_daemon_metrics {
	bool draining;
	double uptime_s;
	double signalling_busy_s; /* the signalling loop's time not spent waiting */
};

/* The whole exposition, malloc'd (*len set), or NULL without memory. */
char *sw_metrics_render(const struct sw_daemon_metrics *dm, struct sw_ws *ws,
                        struct sw_endpoint *ep, size_t *len);

/* May this peer read /metrics (metrics.allow)? */
bool sw_metrics_allowed(const struct sipwire_config *cfg, const struct sockaddr *peer);

#endif
