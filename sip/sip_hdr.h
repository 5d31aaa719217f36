/* sip_hdr.h — header names, methods, and the typed parsers of header values.
 *
 * Every parser here takes one header value (or one element of a comma list, as
 * split by sip_list_next) as a view and fills a struct of views into the same
 * bytes. They return 0 or -EINVAL; they never allocate and never write outside
 * the struct they are given. */
#ifndef SIPWIRE_SIP_HDR_H
#define SIPWIRE_SIP_HDR_H

#include "sip/sip_pl.h"
#include "sip/sip_uri.h"

/* ---- methods ---- */
enum sip_method {
	SIP_METHOD_OTHER = 0, /* an extension method: use its name */
	SIP_METHOD_INVITE,
	SIP_METHOD_ACK,
	SIP_METHOD_BYE,
	SIP_METHOD_CANCEL,
	SIP_METHOD_REGISTER,
	SIP_METHOD_OPTIONS,
	SIP_METHOD_INFO,
	SIP_METHOD_UPDATE,
	SIP_METHOD_PRACK,
	SIP_METHOD_SUBSCRIBE,
	SIP_METHOD_NOTIFY,
	SIP_METHOD_REFER,
	SIP_METHOD_MESSAGE,
	SIP_METHOD_PUBLISH,
};
/* Methods are case-sensitive (RFC 3261 §7.1). */
enum sip_method sip_method_from_pl(sip_pl name);
const char *sip_method_name(enum sip_method m); /* NULL for OTHER */

/* ---- header names ---- */
enum sip_hdr_id {
	SIP_HDR_OTHER = 0,
	SIP_HDR_ACCEPT,
	SIP_HDR_ACCEPT_ENCODING,
	SIP_HDR_ACCEPT_LANGUAGE,
	SIP_HDR_ALLOW,
	SIP_HDR_ALLOW_EVENTS,
	SIP_HDR_AUTHORIZATION,
	SIP_HDR_CALL_ID,
	SIP_HDR_CONTACT,
	SIP_HDR_CONTENT_DISPOSITION,
	SIP_HDR_CONTENT_ENCODING,
	SIP_HDR_CONTENT_LENGTH,
	SIP_HDR_CONTENT_TYPE,
	SIP_HDR_CSEQ,
	SIP_HDR_DATE,
	SIP_HDR_EVENT,
	SIP_HDR_EXPIRES,
	SIP_HDR_FLOW_TIMER,
	SIP_HDR_FROM,
	SIP_HDR_IDENTITY,
	SIP_HDR_MAX_FORWARDS,
	SIP_HDR_MIN_EXPIRES,
	SIP_HDR_MIN_SE,
	SIP_HDR_P_ASSERTED_IDENTITY,
	SIP_HDR_P_PREFERRED_IDENTITY,
	SIP_HDR_PATH,
	SIP_HDR_PROXY_AUTHENTICATE,
	SIP_HDR_PROXY_AUTHORIZATION,
	SIP_HDR_PROXY_REQUIRE,
	SIP_HDR_RACK,
	SIP_HDR_REASON,
	SIP_HDR_RECORD_ROUTE,
	SIP_HDR_REFER_TO,
	SIP_HDR_REFERRED_BY,
	SIP_HDR_REPLACES,
	SIP_HDR_REQUIRE,
	SIP_HDR_RETRY_AFTER,
	SIP_HDR_ROUTE,
	SIP_HDR_RSEQ,
	SIP_HDR_SERVER,
	SIP_HDR_SESSION_EXPIRES,
	SIP_HDR_SUBJECT,
	SIP_HDR_SUBSCRIPTION_STATE,
	SIP_HDR_SUPPORTED,
	SIP_HDR_TIMESTAMP,
	SIP_HDR_TO,
	SIP_HDR_UNSUPPORTED,
	SIP_HDR_USER_AGENT,
	SIP_HDR_VIA,
	SIP_HDR_WARNING,
	SIP_HDR_WWW_AUTHENTICATE,
	SIP_HDR__COUNT
};
/* Long or compact name, case-insensitive; SIP_HDR_OTHER when unknown. */
enum sip_hdr_id sip_hdr_id_from_name(sip_pl name);
/* The canonical long name ("Call-ID"); NULL for OTHER. */
const char *sip_hdr_name(enum sip_hdr_id id);
/* Whether the header's grammar is a comma-separated list (Via, Contact,
 * Route, Supported...). Authenticate/Authorization, Date, User-Agent and the
 * like are not: their commas are part of one value. */
bool sip_hdr_is_list(enum sip_hdr_id id);

/* Split a list value at commas that are outside quotes and <...>.
 * *pos starts at 0. Items are trimmed; an empty item (",,") is returned as an
 * empty view so the caller can reject it. Returns false at the end. */
bool sip_list_next(sip_pl value, size_t *pos, sip_pl *item);

/* ---- Via (one via-parm) ---- */
struct sip_via {
	sip_pl protocol;  /* "SIP/2.0" */
	sip_pl transport; /* UDP, TCP, TLS, SCTP, WS, WSS or another token */
	sip_pl host;      /* IPv6 with its brackets */
	enum sip_uri_host_type host_type;
	uint16_t port;    /* 0 when absent */
	sip_pl params;    /* from the first ';', unset when none */
	sip_pl branch, received, maddr, ttl; /* unset when absent */
	bool rport;       /* rport present (RFC 3581) */
	uint16_t rport_value; /* 0 when present without a value */
};
int sip_via_parse(sip_pl value, struct sip_via *via);

/* ---- name-addr / addr-spec with header parameters ----
 * From, To, Contact, Route, Record-Route, Refer-To, Referred-By,
 * P-Asserted-Identity, Path. Without <...>, parameters after the URI belong
 * to the header, not the URI (RFC 3261 §20.10). */
struct sip_addr {
	sip_pl display;      /* unset when none; between the quotes if quoted */
	bool display_quoted; /* quoted-pair escapes are left in place */
	sip_pl uri_text;     /* the URI without <> */
	struct sip_uri uri;  /* uri.scheme is 0 for a well-formed URI of another
	                      * scheme (kept as uri_text only) */
	sip_pl params;       /* header params from the first ';', unset if none */
	sip_pl tag;          /* unset when absent */
};
int sip_addr_parse(sip_pl value, struct sip_addr *addr);

/* ---- Contact (one element) ---- */
struct sip_contact {
	bool star;           /* "Contact: *"; nothing else is set */
	struct sip_addr addr;
	bool has_expires;
	uint32_t expires;
	bool has_q;
	uint16_t q;          /* q-value times 1000: "0.5" is 500 */
	sip_pl instance;     /* +sip.instance, with its quotes removed */
	bool has_reg_id;
	uint32_t reg_id;
};
int sip_contact_parse(sip_pl value, struct sip_contact *contact);

/* ---- CSeq, RSeq, RAck ---- */
struct sip_cseq {
	uint32_t seq; /* < 2^31 (RFC 3261 §8.1.1.5) */
	sip_pl method_name;
	enum sip_method method;
};
int sip_cseq_parse(sip_pl value, struct sip_cseq *cseq);

struct sip_rack {
	uint32_t rseq;
	uint32_t cseq;
	sip_pl method_name;
	enum sip_method method;
};
int sip_rack_parse(sip_pl value, struct sip_rack *rack);

/* A header whose whole value is one number: Expires, Min-Expires,
 * Max-Forwards, Content-Length, RSeq, Flow-Timer. */
int sip_uint_parse(sip_pl value, uint32_t max, uint32_t *out);

/* ---- Content-Type ---- */
struct sip_ctype {
	sip_pl type, subtype; /* compare case-insensitively */
	sip_pl params;
};
int sip_ctype_parse(sip_pl value, struct sip_ctype *ct);

/* ---- Event / Allow-Events element (RFC 6665) ---- */
struct sip_event {
	sip_pl package; /* "refer", "presence", "dialog"... with any template */
	sip_pl id;      /* ;id=, unset when absent */
	sip_pl params;
};
int sip_event_parse(sip_pl value, struct sip_event *ev);

/* ---- Subscription-State (RFC 6665) ---- */
struct sip_substate {
	sip_pl state;   /* active, pending, terminated or an extension */
	sip_pl reason;
	bool has_expires;
	uint32_t expires;
	bool has_retry_after;
	uint32_t retry_after;
	sip_pl params;
};
int sip_substate_parse(sip_pl value, struct sip_substate *ss);

/* Call-ID = word [ "@" word ] (RFC 3261 §25.1): the whole view. */
bool sip_call_id_valid(sip_pl value);

/* ---- Replaces (RFC 3891) ---- */
struct sip_replaces {
	sip_pl call_id;
	sip_pl to_tag, from_tag; /* both required */
	bool early_only;
	sip_pl params;
};
int sip_replaces_parse(sip_pl value, struct sip_replaces *rp);

/* ---- Session-Expires and Min-SE (RFC 4028) ---- */
struct sip_session_expires {
	uint32_t delta;
	sip_pl refresher; /* "uac", "uas" or unset */
	sip_pl params;
};
int sip_session_expires_parse(sip_pl value, struct sip_session_expires *se);

/* ---- Reason (RFC 3326), one element ---- */
struct sip_reason {
	sip_pl protocol; /* "SIP", "Q.850" or another token */
	bool has_cause;
	uint32_t cause;
	sip_pl text;     /* between the quotes, escapes left in place */
	sip_pl params;
};
int sip_reason_parse(sip_pl value, struct sip_reason *r);

#endif
