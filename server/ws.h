/* ws.h — SIP over WebSocket (RFC 7118): the WS and WSS listeners.
 *
 * libwebsockets runs on the signalling thread's GLib main loop. A connection
 * must offer the subprotocol "sip" (it is echoed back; Chrome fails the
 * handshake otherwise) and, when a list of origins is configured, come from
 * one of them; with no list, a browser's Origin must name the host it
 * connects to (clients that send no Origin, i.e. not browsers, are let in).
 *
 * Every accepted connection is a struct sw_flow (flow.h) of type SW_TP_WS or
 * SW_TP_WSS; each complete WebSocket message (text or binary) is handed to
 * the sink as one SIP message. Messages longer than the size limit close the
 * connection with 1009. Idle connections get a WebSocket Ping after
 * ping_interval_s and are closed when nothing (not even a Pong) arrived for
 * idle_timeout_s.
 *
 * Plain HTTP requests on the same ports (no upgrade) go to the owner's
 * http handler first (health, metrics); what it does not answer is looked
 * up in the browser softphone's files (http_files.h) when configured, and
 * the rest gets 404.
 *
 * The sink's admit is asked for every new socket before libwebsockets reads
 * from it (no: closed at once), its on_open for every connection that
 * completed its handshake (no: closed with 1008). WSS speaks certs.h's TLS
 * policy; a handshake (TLS and HTTP) must finish within handshake_timeout_s. */
#ifndef SIPWIRE_SERVER_WS_H
#define SIPWIRE_SERVER_WS_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "server/flow.h"
#include "server/http_files.h"

/* A plain HTTP request on a WS/WSS listener (not a WebSocket upgrade). */
struct sw_http_request {
	const char *method; /* "GET", "HEAD", "POST"... */
	const char *path;   /* without the query */
	const struct sockaddr *peer;
	bool tls;
};

/* What to answer: the handler sets status (0: 404) and may give a body it
 * allocated with malloc (the transport frees it). */
struct sw_http_reply {
	int status;
	const char *content_type; /* static; NULL: text/plain */
	char *body;
	size_t len;
};

typedef void (*sw_http_fn)(void *arg, const struct sw_http_request *req,
                           struct sw_http_reply *reply);

struct sw_ws_config {
	GMainLoop *loop; /* libwebsockets attaches its sources to this loop */
	const char *bind;
	unsigned ws_port, wss_port; /* 0: that listener is off */
	const char *cert_file, *key_file; /* for WSS */
	const char *const *allowed_origins; /* "https://host[:port]" */
	size_t n_allowed_origins;
	size_t max_msg_size;
	unsigned ping_interval_s, idle_timeout_s;
	unsigned handshake_timeout_s; /* TLS handshake + HTTP upgrade; 0: libwebsockets' */
	unsigned max_connections; /* file descriptors libwebsockets may use */
	struct sw_flow_sink sink;
	sw_http_fn http; /* NULL: every plain HTTP request gets 404 */
	void *http_arg;
	/* Plain HTTP GETs on the same ports are answered from these files
	 * (http_files.h); NULL: every HTTP request gets 404. Not owned. */
	const struct sw_http_files *demo;
};

struct sw_ws;

/* Start the listeners. 0, or a negative errno with a log line. */
int sw_ws_new(struct sw_ws **out, const struct sw_ws_config *cfg);
/* Refuse new WebSocket connections from now on (those open stay open). */
void sw_ws_refuse_new(struct sw_ws *ws);
/* Close every connection with 1001 (going away) and stop accepting. The
 * closes complete on the loop; sw_ws_connections() reaches 0. */
void sw_ws_shutdown(struct sw_ws *ws);
/* Load the WSS certificate and key again from cert_file/key_file (for a
 * SIGHUP: certificates renewed on disk). Connections up keep theirs; new ones
 * get the new pair. A pair that does not load or match changes nothing.
 * 0 (also with no WSS listener), or a negative errno with a log line. */
int sw_ws_reload_tls(struct sw_ws *ws);
/* Open connections. */
size_t sw_ws_connections(const struct sw_ws *ws);
struct sw_ws_stats {
	size_t open_ws, open_wss;   /* now */
	uint64_t accepted, refused; /* WebSocket handshakes so far */
	uint64_t http_requests;     /* plain HTTP requests so far */
};
void sw_ws_stats(const struct sw_ws *ws, struct sw_ws_stats *out);
/* Destroy the context (connections still open are dropped). NULL is fine. */
void sw_ws_free(struct sw_ws *ws);

#endif
