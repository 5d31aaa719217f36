/* trunk.h — SIP over UDP, TCP and TLS: the side that faces PBXs and trunks.
 *
 * Listeners (UDP and TCP on one port, TLS on another, any of them off with
 * port 0) and outgoing connections, all driven by the signalling thread's
 * GMainContext. Every peer is a struct sw_flow (flow.h): one per UDP remote
 * address, one per TCP/TLS connection; what arrives goes to the sink.
 *
 * UDP: RFC 3581 is the endpoint's business (it writes received/rport into
 * the Via of requests it receives); the transport gives it the datagram's
 * source address as the flow's peer (datagrams of only CRLF/NUL, keep-alives
 * some UAs send, are dropped). TCP/TLS: connections are reused — a
 * flow to an address that already has an open (or opening) connection of
 * that transport, in either direction, is that connection. TLS verifies the
 * server's certificate against the system's CAs (or a configured CA file)
 * and the name asked for, unless verification is turned off. */
#ifndef SIPWIRE_SERVER_TRUNK_H
#define SIPWIRE_SERVER_TRUNK_H

#include <glib.h>
#include <stdbool.h>

#include "server/flow.h"

struct sw_trunk_config {
	GMainContext *ctx;
	const char *bind;  /* numeric IPv4/IPv6 address to listen on and send from */
	unsigned sip_port; /* UDP and TCP listeners; 0: off (outgoing UDP/TCP still work) */
	unsigned tls_port; /* TLS listener; 0: off (outgoing TLS still works) */
	const char *tls_cert_file, *tls_key_file; /* PEM; required when tls_port != 0 */
	const char *tls_ca_file; /* NULL: the system's CA store */
	bool tls_verify;         /* verify servers we connect to (default true) */
	struct sip_limits limits;
	/* Close inbound TCP/TLS connections idle this long, and outbound ones
	 * nobody but the trunk references; 0: never. */
	unsigned idle_timeout_s;
	/* Close an inbound connection whose partial message has been arriving
	 * for longer than this; 0: never. */
	unsigned message_timeout_s;
	struct sw_flow_sink sink;
};

struct sw_trunk;

/* Bind the listeners. 0, or a negative errno with a log line saying which
 * listener failed (e.g. -EADDRINUSE). */
int sw_trunk_new(struct sw_trunk **out, const struct sw_trunk_config *cfg);
/* Close every connection and listener (telling the sink about each flow),
 * cancel pending resolutions (their callbacks do not run), then free. NULL is
 * allowed. Not from inside one of the trunk's own callbacks. */
void sw_trunk_free(struct sw_trunk *t);

/* Load the TLS certificate and key again from their files (a SIGHUP after
 * a renewal): connections up keep theirs. 0 (also when TLS has no
 * certificate), or a negative errno with a log line; a failed load changes
 * nothing. */
int sw_trunk_reload_tls(struct sw_trunk *t);

/* The port a listener is bound to, 0 when that listener is off (outgoing UDP
 * then uses an ephemeral port): tp is SW_TP_UDP, SW_TP_TCP or SW_TP_TLS. */
unsigned sw_trunk_port(const struct sw_trunk *t, enum sw_tp tp);

/* A flow to addr over tp (UDP, TCP or TLS): the existing one when there is
 * one, else a new one (TCP/TLS: connecting; messages sent before the
 * connection is up are queued, and a failed connect closes the flow, which
 * the sink hears as on_closed — from the loop, even when the connect fails
 * at once). The flow's local address is set on return. tls_name: the name to
 * verify the server's certificate against (and SNI); NULL: the certificate
 * must name the address connected to. Returns a new reference, or NULL (out
 * of memory, socket error, an address family the UDP socket cannot reach). */
struct sw_flow *sw_trunk_flow_to(struct sw_trunk *t, enum sw_tp tp, const struct sockaddr *addr,
                                 const char *tls_name);

/* RFC 3263 server location without blocking the loop: host is a numeric
 * address or a name; port 0 means "none given" (for a name: SRV records
 * _sip._udp / _sip._tcp / _sips._tcp by tp, then A/AAAA on the default port
 * 5060, or 5061 for TLS). cb runs later on the loop with the targets in
 * order (err 0), or err < 0 and none (-ENOENT: no such name, -EAGAIN: DNS
 * temporarily failing, -EIO). A numeric host (IPv6 with or without brackets)
 * still answers through the loop, never from inside the call. NULL: bad
 * arguments. */
struct sw_resolve;
typedef void (*sw_resolve_cb)(void *arg, int err, const struct sockaddr_storage *targets,
                              size_t n);
struct sw_resolve *sw_trunk_resolve(struct sw_trunk *t, const char *host, unsigned port,
                                    enum sw_tp tp, sw_resolve_cb cb, void *arg);
/* cb will not be called. The handle is invalid after cb ran or after this. */
void sw_resolve_cancel(struct sw_resolve *r);

#endif
