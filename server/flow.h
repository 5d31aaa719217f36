/* flow.h — a path SIP messages travel, whatever carries them.
 *
 * A flow is one connection (TCP, TLS, WS, WSS) or one remote address seen on
 * a UDP socket. Transports create flows and feed what arrives on them to a
 * sink (the SIP endpoint); the endpoint answers and sends requests through
 * the flow's ops, and keeps references to flows it must reach again (a
 * registered browser's connection, a transaction's peer).
 *
 * Lifetime: reference counted. The transport holds one reference while the
 * connection is open and drops it after calling sw_flow_closed; whoever else
 * keeps the pointer holds its own reference. After sw_flow_closed, sends fail
 * with -EPIPE; the memory lives until the last sw_flow_unref.
 *
 * Everything here belongs to the signalling loop's thread. */
#ifndef SIPWIRE_SERVER_FLOW_H
#define SIPWIRE_SERVER_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sip/sip_msg.h"

enum sw_tp {
	SW_TP_UDP,
	SW_TP_TCP,
	SW_TP_TLS,
	SW_TP_WS,
	SW_TP_WSS,
};

/* "UDP", "TCP", "TLS", "WS", "WSS": the Via transport token. */
const char *sw_tp_name(enum sw_tp tp);
/* Is sa's address within spec, "ADDR" or "ADDR/BITS" (IPv4 or IPv6)? An
 * IPv4-mapped IPv6 address matches as the IPv4 address it carries. */
bool sw_addr_matches_prefix(const struct sockaddr *sa, const char *spec);
/* The lowercase ;transport= URI parameter value ("udp", "tcp", "tls", "ws", "wss"). */
const char *sw_tp_param(enum sw_tp tp);
/* Connection-oriented: no retransmissions, no Timer D/I/J/K (RFC 3261 §17). */
static inline bool sw_tp_reliable(enum sw_tp tp) { return tp != SW_TP_UDP; }
/* A byte stream that needs SIP framing (Content-Length), as opposed to one
 * message per datagram or WebSocket message. */
static inline bool sw_tp_is_stream(enum sw_tp tp) { return tp == SW_TP_TCP || tp == SW_TP_TLS; }

struct sw_flow;

struct sw_flow_ops {
	/* Queue one whole message (or keep-alive bytes) for the peer; never
	 * blocks. 0 or a negative errno. Not called after sw_flow_closed. */
	int (*send)(struct sw_flow *f, const char *buf, size_t len);
	/* Start closing. ws_code/reason are used by WebSocket flows (1001 going
	 * away, 1007, 1009...), ignored by others. The transport calls
	 * sw_flow_closed once the connection is gone (possibly from inside). */
	void (*close)(struct sw_flow *f, int ws_code, const char *reason);
	/* The last reference went: release the transport's part. May be NULL. */
	void (*destroy)(struct sw_flow *f);
};

struct sw_flow {
	uint64_t id; /* unique for the process's life, for logs and keys */
	enum sw_tp tp;
	bool closed;
	bool counted; /* the sink counted it open (on_open said yes) */
	unsigned refs;
	struct sockaddr_storage peer;  /* the remote address */
	struct sockaddr_storage local; /* our address on this flow (for Via/Contact) */
	char peer_str[64];             /* "192.0.2.1:5060", "[2001:db8::1]:5060" */
	const struct sw_flow_ops *ops;
	void *tp_data; /* the transport's */
	void *ep_data; /* the endpoint's */
};

/* What a transport delivers to. arg is the sink's own argument. */
struct sw_flow_sink {
	/* One message arrived on f: a UDP datagram, a WebSocket message, or
	 * one message framed out of a TCP/TLS stream (sw_flow_stream_input).
	 * Parse it in SIP_PARSE_STREAM mode when sw_tp_is_stream(f->tp), else
	 * in datagram mode. buf lives for the call only. */
	void (*on_message)(void *arg, struct sw_flow *f, const char *buf, size_t len);
	/* f closed (peer went, error, or we closed it). Called once, before the
	 * transport drops its reference. */
	void (*on_closed)(void *arg, struct sw_flow *f);
	/* Optional. A peer connects (a TCP/TLS accept, a WebSocket's socket
	 * before its handshake): false refuses it, and the transport closes the
	 * socket at once without reading from it. */
	bool (*admit)(void *arg, enum sw_tp tp, const struct sockaddr *peer);
	/* Optional. An inbound connection is up as f: false refuses it, and the
	 * transport closes it (a WebSocket with 1008). */
	bool (*on_open)(void *arg, struct sw_flow *f);
	void *arg;
};

/* A new flow with one reference (the caller's, normally the transport's).
 * peer/local may be NULL (left zeroed). NULL when out of memory. */
struct sw_flow *sw_flow_new(enum sw_tp tp, const struct sw_flow_ops *ops, void *tp_data,
                            const struct sockaddr *peer, socklen_t peer_len,
                            const struct sockaddr *local, socklen_t local_len);
struct sw_flow *sw_flow_ref(struct sw_flow *f);
/* Drop a reference; NULL is allowed. Always returns NULL (f = sw_flow_unref(f)). */
struct sw_flow *sw_flow_unref(struct sw_flow *f);

/* Send through the transport: -EPIPE when the flow is closed. */
int sw_flow_send(struct sw_flow *f, const char *buf, size_t len);
/* Ask the transport to close (nothing when already closed). */
void sw_flow_close(struct sw_flow *f, int ws_code, const char *reason);
/* For transports: the connection is gone. Marks the flow closed and tells the
 * sink (once); the caller then drops its own reference. */
void sw_flow_closed(struct sw_flow *f, const struct sw_flow_sink *sink);

/* For TCP and TLS transports: frame the bytes received so far into SIP
 * messages (RFC 3261 §18.3, Content-Length), handing each to sink, answering
 * a CRLF keep-alive ping ("\r\n\r\n") with "\r\n". scratch is a parser the
 * transport owns. Returns the number of bytes consumed (the transport keeps
 * the rest for the next read), or -EPROTO when the stream lost its framing:
 * the bytes went to the sink (which answers with a 400 or drops them) and the
 * transport must close the connection. A partial message longer than the
 * parser's size limit also gives -EPROTO. */
ssize_t sw_flow_stream_input(struct sw_flow *f, const struct sw_flow_sink *sink,
                             struct sip_msg *scratch, const struct sip_limits *limits,
                             const char *buf, size_t len);

/* "192.0.2.1:5060" or "[2001:db8::1]:5060" into out (at least 64 bytes). */
void sw_sockaddr_str(const struct sockaddr *sa, char *out, size_t size);
/* The port of an AF_INET/AF_INET6 address, 0 otherwise. */
unsigned sw_sockaddr_port(const struct sockaddr *sa);
/* A numeric IPv4 or IPv6 address ("192.0.2.1", "2001:db8::1", "[2001:db8::1]")
 * into out, port 0. 0, or -EINVAL for anything else (a name). */
int sw_sockaddr_parse(const char *s, struct sockaddr_storage *out);
/* sizeof the sockaddr for its family (0 for unknown families). */
socklen_t sw_sockaddr_len(const struct sockaddr *sa);

#endif
