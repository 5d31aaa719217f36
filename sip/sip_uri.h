/* sip_uri.h — SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), parsed as
 * views into the caller's buffer, and compared per RFC 3261 §19.1.4. */
#ifndef SIPWIRE_SIP_URI_H
#define SIPWIRE_SIP_URI_H

#include "sip/sip_pl.h"

enum sip_uri_scheme {
	SIP_URI_SIP = 1,
	SIP_URI_SIPS,
	SIP_URI_TEL,
};

enum sip_uri_host_type {
	SIP_URI_HOST_NONE = 0, /* tel: URIs have no host */
	SIP_URI_HOST_DOMAIN,
	SIP_URI_HOST_IPV4,
	SIP_URI_HOST_IPV6, /* host is the reference with its brackets: "[::1]" */
};

struct sip_uri {
	enum sip_uri_scheme scheme;
	sip_pl user;     /* escapes left in place; for tel: the number */
	sip_pl password; /* unset when absent */
	sip_pl host;
	enum sip_uri_host_type host_type;
	uint16_t port; /* 0 when absent */
	sip_pl params;  /* from the first ';' after the host (or after a tel
	                 * number), up to '?' or the end; unset when none */
	sip_pl headers; /* after '?', unset when none */

	/* the well-known uri-parameters, pre-extracted (values unset when absent) */
	sip_pl transport, user_param, method, maddr, ttl, gr;
	bool lr, ob;
	bool has_gr; /* gr may be a flag */
};

/* Parse a whole view as a URI. Returns 0, -EINVAL on a syntax error, or
 * -EPROTONOSUPPORT for a well-formed absoluteURI of another scheme (the
 * caller answers 416). The URI keeps pointing into `in`. */
int sip_uri_parse(sip_pl in, struct sip_uri *uri);

/* Equivalence per RFC 3261 §19.1.4 (sip/sips), RFC 3966 §4 for tel:
 * scheme, user and password case-sensitive after unescaping; host
 * case-insensitive; a parameter present in both must match; user, ttl,
 * method, maddr, transport must match if present in either; headers must
 * match. Returns true if equivalent. */
bool sip_uri_equal(const struct sip_uri *a, const struct sip_uri *b);

/* Find a uri-parameter by name (case-insensitive). Returns true when present;
 * value is unset for a flag parameter. */
bool sip_uri_param(const struct sip_uri *uri, const char *name, sip_pl *value);

/* Resolve %HH escapes into dst (NUL-terminated). Returns the length, -EINVAL
 * on a bad escape, -ENOSPC if dst is too small. */
int sip_uri_unescape(sip_pl in, char *dst, size_t size);

/* Classify a whole view as a host: a hostname, an IPv4 address, or an IPv6
 * reference with its brackets. SIP_URI_HOST_NONE when it is none of them.
 * Header parsers (Via sent-by, maddr) use this so hosts are checked one way. */
enum sip_uri_host_type sip_uri_host_type_of(sip_pl host);
/* A bare IP address, IPv4 or IPv6 without brackets (Via received=). */
bool sip_ip_addr_valid(sip_pl addr);

/* The default port for the URI's scheme and transport (5060, or 5061 for sips
 * or transport=tls). */
uint16_t sip_uri_default_port(const struct sip_uri *uri);

#endif
