/* metrics.c — see metrics.h. */
#include "server/metrics.h"

#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "server/b2bua.h"
#include "server/endpoint.h"
#include "server/flow.h"
#include "server/ws.h"

/* ICE and DTLS set-up times, seconds. */
static const double setup_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_SETUP_BOUNDS (sizeof setup_bounds / sizeof setup_bounds[0])

#define MAX_WORKERS 64

static void observe(struct sw_histogram *h, const double *bounds, size_t n, double v)
{
	size_t i = 0;
	while (i < n && v > bounds[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

void sw_call_metrics_ended(struct sw_call_metrics *m, const char *reason)
{
	for (size_t i = 0; i < SW_METRICS_END_REASONS; i++) {
		if (!m->ended[i].reason)
			m->ended[i].reason = reason;
		if (m->ended[i].reason == reason || strcmp(m->ended[i].reason, reason) == 0) {
			m->ended[i].n++;
			return;
		}
	}
	m->ended_other++;
}

void sw_call_metrics_leg(struct sw_call_metrics *m, const struct sw_media_stats *st)
{
	if (st->kind != SW_MEDIA_WEBRTC)
		return;
	m->webrtc_legs++;
	if (strcmp(st->ice_state, "failed") == 0)
		m->ice_failures++;
	if (strcmp(st->dtls_state, "failed") == 0)
		m->dtls_failures++;
	if (st->ice_connected_ms >= 0)
		observe(&m->ice_seconds, setup_bounds, N_SETUP_BOUNDS, st->ice_connected_ms / 1000.0);
	if (st->dtls_connected_ms >= 0)
		observe(&m->dtls_seconds, setup_bounds, N_SETUP_BOUNDS,
		        st->dtls_connected_ms / 1000.0);
}

bool sw_metrics_allowed(const struct sipwire_config *cfg, const struct sockaddr *peer)
{
	for (size_t i = 0; i < cfg->metrics_allow.n; i++)
		if (sw_addr_matches_prefix(peer, cfg->metrics_allow.v[i]))
			return true;
	return false;
}

/* ---- the text format ---- */

static void family(GString *o, const char *name, const char *type, const char *help)
{
	g_string_append_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(GString *o, const char *name, const char *labels, uint64_t v)
{
	g_string_append_printf(o, "%s%s%s%s %" PRIu64 "\n", name, labels ? "{" : "",
	                       labels ? labels : "", labels ? "}" : "", v);
}

static void one(GString *o, const char *name, const char *type, const char *help, uint64_t v)
{
	family(o, name, type, help);
	sample(o, name, NULL, v);
}

/* A label value with \, " and newline escaped. */
static void label_value(GString *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			g_string_append_c(o, '\\');
		if (*s == '\n')
			g_string_append(o, "\\n");
		else
			g_string_append_c(o, *s);
	}
}

static void histogram(GString *o, const char *name, const char *help, const uint64_t *bucket,
                      const double *bounds, size_t n, uint64_t count, double sum)
{
	family(o, name, "histogram", help);
	uint64_t cum = 0;
	for (size_t i = 0; i < n; i++) {
		cum += bucket[i];
		g_string_append_printf(o, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bounds[i], cum);
	}
	g_string_append_printf(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, count);
	g_string_append_printf(o, "%s_sum %.9g\n%s_count %" PRIu64 "\n", name, sum, name, count);
}

static void calls_section(GString *o, struct sw_b2bua *b)
{
	struct sw_b2bua_stats st;
	sw_b2bua_stats(b, &st);
	one(o, "sipwire_calls_active", "gauge", "Calls in progress.", st.active);
	one(o, "sipwire_calls_started_total", "counter", "Calls that reached the gateway.",
	    st.calls);
	one(o, "sipwire_calls_answered_total", "counter", "Calls answered.", st.answered);
	one(o, "sipwire_calls_rejected_total", "counter",
	    "Calls the gateway or the callee refused.", st.rejected);
	const struct sw_call_metrics *m = sw_b2bua_metrics(b);
	family(o, "sipwire_calls_ended_total", "counter",
	       "Calls ended, by the end reason of their detail line.");
	for (size_t i = 0; i < SW_METRICS_END_REASONS && m->ended[i].reason; i++) {
		g_string_append(o, "sipwire_calls_ended_total{reason=\"");
		label_value(o, m->ended[i].reason);
		g_string_append_printf(o, "\"} %" PRIu64 "\n", m->ended[i].n);
	}
	if (m->ended_other)
		sample(o, "sipwire_calls_ended_total", "reason=\"other\"", m->ended_other);
	one(o, "sipwire_webrtc_legs_total", "counter", "WebRTC call legs ended.", m->webrtc_legs);
	one(o, "sipwire_ice_failures_total", "counter", "WebRTC legs whose ICE failed.",
	    m->ice_failures);
	one(o, "sipwire_dtls_failures_total", "counter", "WebRTC legs whose DTLS handshake failed.",
	    m->dtls_failures);
	histogram(o, "sipwire_ice_connect_seconds", "ICE start to a selected pair, per WebRTC leg.",
	          m->ice_seconds.bucket, setup_bounds, N_SETUP_BOUNDS, m->ice_seconds.count,
	          m->ice_seconds.sum);
	histogram(o, "sipwire_dtls_connect_seconds",
	          "ICE connected to DTLS connected, per WebRTC leg.", m->dtls_seconds.bucket,
	          setup_bounds, N_SETUP_BOUNDS, m->dtls_seconds.count, m->dtls_seconds.sum);
}

static void media_section(GString *o, struct sw_media_ctx *media)
{
	struct sw_media_worker_load *w = g_new0(struct sw_media_worker_load, MAX_WORKERS);
	unsigned n = media ? sw_media_ctx_load(media, w, MAX_WORKERS) : 0;
	struct sw_media_totals t = {0};
	struct sdh_rtp_latency lat = {0};
	for (unsigned i = 0; i < n; i++) {
		t.rx_packets += w[i].totals.rx_packets;
		t.rx_bytes += w[i].totals.rx_bytes;
		t.tx_packets += w[i].totals.tx_packets;
		t.tx_bytes += w[i].totals.tx_bytes;
		t.dropped += w[i].totals.dropped;
		t.srtp_auth_failures += w[i].totals.srtp_auth_failures;
		t.srtp_replays += w[i].totals.srtp_replays;
		for (size_t k = 0; k <= SDH_RTP_LATENCY_BUCKETS; k++)
			lat.bucket[k] += w[i].latency.bucket[k];
		lat.count += w[i].latency.count;
		lat.sum_ns += w[i].latency.sum_ns;
	}
	family(o, "sipwire_media_packets_total", "counter",
	       "RTP and RTCP packets: rx taken from the peers, tx sent to them.");
	sample(o, "sipwire_media_packets_total", "direction=\"rx\"", t.rx_packets);
	sample(o, "sipwire_media_packets_total", "direction=\"tx\"", t.tx_packets);
	family(o, "sipwire_media_bytes_total", "counter", "Bytes of those packets (plain RTP).");
	sample(o, "sipwire_media_bytes_total", "direction=\"rx\"", t.rx_bytes);
	sample(o, "sipwire_media_bytes_total", "direction=\"tx\"", t.tx_bytes);
	one(o, "sipwire_media_dropped_packets_total", "counter",
	    "Packets taken and not sent on (no other end, held, a codec not agreed, a failed "
	    "send).",
	    t.dropped);
	one(o, "sipwire_srtp_auth_failures_total", "counter",
	    "SRTP/SRTCP packets refused: failed authentication.", t.srtp_auth_failures);
	one(o, "sipwire_srtp_replays_total", "counter", "SRTP/SRTCP packets refused: replayed.",
	    t.srtp_replays);
	double bounds[SDH_RTP_LATENCY_BUCKETS];
	for (size_t k = 0; k < SDH_RTP_LATENCY_BUCKETS; k++)
		bounds[k] = sdh_rtp_latency_bounds_us[k] / 1e6;
	histogram(o, "sipwire_media_relay_seconds",
	          "Time from a receive on a media worker to the last send it caused.",
	          lat.bucket, bounds, SDH_RTP_LATENCY_BUCKETS, lat.count, lat.sum_ns / 1e9);
	family(o, "sipwire_media_worker_busy_seconds_total", "counter",
	       "Time each media worker's loop spent working (not waiting): its load is the rate.");
	for (unsigned i = 0; i < n; i++)
		g_string_append_printf(o, "sipwire_media_worker_busy_seconds_total{worker=\"%u\"} %.6f\n",
		                       i, w[i].busy_s);
	family(o, "sipwire_media_worker_legs", "gauge", "Call legs on each media worker.");
	for (unsigned i = 0; i < n; i++)
		g_string_append_printf(o, "sipwire_media_worker_legs{worker=\"%u\"} %u\n", i,
		                       w[i].legs);
	g_free(w);
}

char *sw_metrics_render(const struct sw_daemon_metrics *dm, struct sw_ws *ws,
                        struct sw_endpoint *ep, size_t *len)
{
	GString *o = g_string_sized_new(8192);
	family(o, "sipwire_build_info", "gauge", "The running version.");
	g_string_append(o, "sipwire_build_info{version=\"" SIPWIRE_VERSION "\"} 1\n");
	one(o, "sipwire_draining", "gauge", "1 while the gateway drains (SIGTERM), else 0.",
	    dm->draining);
	family(o, "sipwire_uptime_seconds", "gauge", "Seconds since the gateway started.");
	g_string_append_printf(o, "sipwire_uptime_seconds %.3f\n", dm->uptime_s);
	family(o, "sipwire_signalling_busy_seconds_total", "counter",
	       "Time the signalling thread's loop spent working (not waiting): its load is the "
	       "rate.");
	g_string_append_printf(o, "sipwire_signalling_busy_seconds_total %.6f\n",
	                       dm->signalling_busy_s);

	struct sw_ws_stats ws_st;
	sw_ws_stats(ws, &ws_st);
	family(o, "sipwire_ws_connections", "gauge", "Open WebSocket connections.");
	sample(o, "sipwire_ws_connections", "transport=\"ws\"", ws_st.open_ws);
	sample(o, "sipwire_ws_connections", "transport=\"wss\"", ws_st.open_wss);
	one(o, "sipwire_ws_accepted_total", "counter", "WebSocket connections accepted.",
	    ws_st.accepted);
	one(o, "sipwire_ws_refused_total", "counter",
	    "WebSocket handshakes refused (subprotocol, origin, draining).", ws_st.refused);
	one(o, "sipwire_http_requests_total", "counter",
	    "Plain HTTP requests on the WebSocket listeners.", ws_st.http_requests);

	struct sw_endpoint_stats ep_st;
	sw_endpoint_stats(ep, &ep_st);
	one(o, "sipwire_sip_requests_total", "counter", "SIP requests received.", ep_st.requests);
	one(o, "sipwire_sip_responses_total", "counter", "SIP responses received.",
	    ep_st.responses);
	one(o, "sipwire_sip_parse_errors_total", "counter", "SIP messages that did not parse.",
	    ep_st.parse_errors);
	one(o, "sipwire_sip_keepalives_total", "counter", "CRLF keep-alives received.",
	    ep_st.keepalives);
	one(o, "sipwire_sip_transactions", "gauge", "SIP transactions in progress.",
	    ep_st.transactions);
	one(o, "sipwire_sip_transactions_total", "counter", "SIP transactions started.",
	    ep_st.txn.created);
	one(o, "sipwire_sip_retransmissions_total", "counter",
	    "SIP requests and responses sent again (unreliable transports).",
	    ep_st.txn.retransmissions);
	one(o, "sipwire_sip_retransmissions_received_total", "counter",
	    "Retransmitted SIP messages received and absorbed.", ep_st.txn.absorbed);
	one(o, "sipwire_sip_transaction_timeouts_total", "counter",
	    "SIP transactions that timed out (no answer, no ACK).", ep_st.txn.timeouts);
	one(o, "sipwire_registrations", "gauge", "Registered contacts (bindings).",
	    ep_st.bindings);
	one(o, "sipwire_auth_failures_total", "counter",
	    "Failed digest authentications at the registrar.", ep_st.auth_failures);
	one(o, "sipwire_auth_refused_total", "counter",
	    "REGISTERs refused because their source failed too often.", ep_st.auth_refused);
	family(o, "sipwire_limits_refused_total", "counter",
	       "Connections and requests refused by the per-address limits and sip.accept_from.");
	sample(o, "sipwire_limits_refused_total", "reason=\"connections\"",
	       ep_st.refused_connections);
	sample(o, "sipwire_limits_refused_total", "reason=\"requests\"", ep_st.refused_rate);
	sample(o, "sipwire_limits_refused_total", "reason=\"not_a_trunk\"",
	       ep_st.refused_strangers);
	one(o, "sipwire_limits_addresses", "gauge",
	    "Source addresses the per-address limits keep an entry for.", ep_st.limited_addresses);

	struct sw_b2bua *b = sw_endpoint_b2bua(ep);
	if (b) {
		calls_section(o, b);
		media_section(o, sw_b2bua_media(b));
	}
	*len = o->len;
	return g_string_free(o, FALSE);
}
