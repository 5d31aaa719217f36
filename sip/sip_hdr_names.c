/* sip_hdr_names.c — method and header-name tables, and list splitting.
 * These run once per header of every message, so lookups are bucketed by the
 * first letter of the name instead of scanning the whole table. */
#include "sip/sip_hdr.h"

#include <string.h>
#include <strings.h>

enum sip_method sip_method_from_pl(sip_pl n)
{
#define M(lit, id)                                                                                 \
	if (n.l == sizeof(lit) - 1 && memcmp(n.p, lit, n.l) == 0)                                  \
	return id
	switch (n.l) {
	case 3:
		M("ACK", SIP_METHOD_ACK);
		M("BYE", SIP_METHOD_BYE);
		break;
	case 4:
		M("INFO", SIP_METHOD_INFO);
		break;
	case 5:
		M("PRACK", SIP_METHOD_PRACK);
		M("REFER", SIP_METHOD_REFER);
		break;
	case 6:
		M("INVITE", SIP_METHOD_INVITE);
		M("CANCEL", SIP_METHOD_CANCEL);
		M("UPDATE", SIP_METHOD_UPDATE);
		M("NOTIFY", SIP_METHOD_NOTIFY);
		break;
	case 7:
		M("OPTIONS", SIP_METHOD_OPTIONS);
		M("MESSAGE", SIP_METHOD_MESSAGE);
		M("PUBLISH", SIP_METHOD_PUBLISH);
		break;
	case 8:
		M("REGISTER", SIP_METHOD_REGISTER);
		break;
	case 9:
		M("SUBSCRIBE", SIP_METHOD_SUBSCRIBE);
		break;
	default:
		break;
	}
#undef M
	return SIP_METHOD_OTHER;
}

static const char *const method_names[] = {
	[SIP_METHOD_INVITE] = "INVITE",   [SIP_METHOD_ACK] = "ACK",
	[SIP_METHOD_BYE] = "BYE",         [SIP_METHOD_CANCEL] = "CANCEL",
	[SIP_METHOD_REGISTER] = "REGISTER", [SIP_METHOD_OPTIONS] = "OPTIONS",
	[SIP_METHOD_INFO] = "INFO",       [SIP_METHOD_UPDATE] = "UPDATE",
	[SIP_METHOD_PRACK] = "PRACK",     [SIP_METHOD_SUBSCRIBE] = "SUBSCRIBE",
	[SIP_METHOD_NOTIFY] = "NOTIFY",   [SIP_METHOD_REFER] = "REFER",
	[SIP_METHOD_MESSAGE] = "MESSAGE", [SIP_METHOD_PUBLISH] = "PUBLISH",
};

const char *sip_method_name(enum sip_method m)
{
	if ((unsigned)m >= sizeof(method_names) / sizeof(method_names[0]))
		return NULL;
	return method_names[m];
}

struct hdr_def {
	const char *name;
	unsigned char len;
	char compact; /* 0 when the header has no compact form */
	bool list;
};

#define H(id, lit, c, islist) [id] = {lit, sizeof(lit) - 1, c, islist}
static const struct hdr_def hdr_defs[SIP_HDR__COUNT] = {
	H(SIP_HDR_ACCEPT, "Accept", 0, true),
	H(SIP_HDR_ACCEPT_ENCODING, "Accept-Encoding", 0, true),
	H(SIP_HDR_ACCEPT_LANGUAGE, "Accept-Language", 0, true),
	H(SIP_HDR_ALLOW, "Allow", 0, true),
	H(SIP_HDR_ALLOW_EVENTS, "Allow-Events", 'u', true),
	H(SIP_HDR_AUTHORIZATION, "Authorization", 0, false),
	H(SIP_HDR_CALL_ID, "Call-ID", 'i', false),
	H(SIP_HDR_CONTACT, "Contact", 'm', true),
	H(SIP_HDR_CONTENT_DISPOSITION, "Content-Disposition", 0, false),
	H(SIP_HDR_CONTENT_ENCODING, "Content-Encoding", 'e', true),
	H(SIP_HDR_CONTENT_LENGTH, "Content-Length", 'l', false),
	H(SIP_HDR_CONTENT_TYPE, "Content-Type", 'c', false),
	H(SIP_HDR_CSEQ, "CSeq", 0, false),
	H(SIP_HDR_DATE, "Date", 0, false),
	H(SIP_HDR_EVENT, "Event", 'o', false),
	H(SIP_HDR_EXPIRES, "Expires", 0, false),
	H(SIP_HDR_FLOW_TIMER, "Flow-Timer", 0, false),
	H(SIP_HDR_FROM, "From", 'f', false),
	H(SIP_HDR_IDENTITY, "Identity", 'y', false),
	H(SIP_HDR_MAX_FORWARDS, "Max-Forwards", 0, false),
	H(SIP_HDR_MIN_EXPIRES, "Min-Expires", 0, false),
	H(SIP_HDR_MIN_SE, "Min-SE", 0, false),
	H(SIP_HDR_P_ASSERTED_IDENTITY, "P-Asserted-Identity", 0, true),
	H(SIP_HDR_P_PREFERRED_IDENTITY, "P-Preferred-Identity", 0, true),
	H(SIP_HDR_PATH, "Path", 0, true),
	H(SIP_HDR_PROXY_AUTHENTICATE, "Proxy-Authenticate", 0, false),
	H(SIP_HDR_PROXY_AUTHORIZATION, "Proxy-Authorization", 0, false),
	H(SIP_HDR_PROXY_REQUIRE, "Proxy-Require", 0, true),
	H(SIP_HDR_RACK, "RAck", 0, false),
	H(SIP_HDR_REASON, "Reason", 0, true),
	H(SIP_HDR_RECORD_ROUTE, "Record-Route", 0, true),
	H(SIP_HDR_REFER_TO, "Refer-To", 'r', false),
	H(SIP_HDR_REFERRED_BY, "Referred-By", 'b', false),
	H(SIP_HDR_REPLACES, "Replaces", 0, false),
	H(SIP_HDR_REQUIRE, "Require", 0, true),
	H(SIP_HDR_RETRY_AFTER, "Retry-After", 0, false),
	H(SIP_HDR_ROUTE, "Route", 0, true),
	H(SIP_HDR_RSEQ, "RSeq", 0, false),
	H(SIP_HDR_SERVER, "Server", 0, false),
	H(SIP_HDR_SESSION_EXPIRES, "Session-Expires", 'x', false),
	H(SIP_HDR_SUBJECT, "Subject", 's', false),
	H(SIP_HDR_SUBSCRIPTION_STATE, "Subscription-State", 0, false),
	H(SIP_HDR_SUPPORTED, "Supported", 'k', true),
	H(SIP_HDR_TIMESTAMP, "Timestamp", 0, false),
	H(SIP_HDR_TO, "To", 't', false),
	H(SIP_HDR_UNSUPPORTED, "Unsupported", 0, true),
	H(SIP_HDR_USER_AGENT, "User-Agent", 0, false),
	H(SIP_HDR_VIA, "Via", 'v', true),
	H(SIP_HDR_WARNING, "Warning", 0, true),
	H(SIP_HDR_WWW_AUTHENTICATE, "WWW-Authenticate", 0, false),
};
#undef H

/* Header ids by the first letter of the long name; a compile-time table so
 * lookups need no initialisation. A row ends at its first 0 (SIP_HDR_OTHER). */
static const unsigned char by_letter[26][10] = {
	['a' - 'a'] = {SIP_HDR_ACCEPT, SIP_HDR_ACCEPT_ENCODING, SIP_HDR_ACCEPT_LANGUAGE,
	               SIP_HDR_ALLOW, SIP_HDR_ALLOW_EVENTS, SIP_HDR_AUTHORIZATION},
	['c' - 'a'] = {SIP_HDR_CALL_ID, SIP_HDR_CONTACT, SIP_HDR_CONTENT_DISPOSITION,
	               SIP_HDR_CONTENT_ENCODING, SIP_HDR_CONTENT_LENGTH, SIP_HDR_CONTENT_TYPE,
	               SIP_HDR_CSEQ},
	['d' - 'a'] = {SIP_HDR_DATE},
	['e' - 'a'] = {SIP_HDR_EVENT, SIP_HDR_EXPIRES},
	['f' - 'a'] = {SIP_HDR_FLOW_TIMER, SIP_HDR_FROM},
	['i' - 'a'] = {SIP_HDR_IDENTITY},
	['m' - 'a'] = {SIP_HDR_MAX_FORWARDS, SIP_HDR_MIN_EXPIRES, SIP_HDR_MIN_SE},
	['p' - 'a'] = {SIP_HDR_P_ASSERTED_IDENTITY, SIP_HDR_P_PREFERRED_IDENTITY, SIP_HDR_PATH,
	               SIP_HDR_PROXY_AUTHENTICATE, SIP_HDR_PROXY_AUTHORIZATION,
	               SIP_HDR_PROXY_REQUIRE},
	['r' - 'a'] = {SIP_HDR_RACK, SIP_HDR_REASON, SIP_HDR_RECORD_ROUTE, SIP_HDR_REFER_TO,
	               SIP_HDR_REFERRED_BY, SIP_HDR_REPLACES, SIP_HDR_REQUIRE, SIP_HDR_RETRY_AFTER,
	               SIP_HDR_ROUTE, SIP_HDR_RSEQ},
	['s' - 'a'] = {SIP_HDR_SERVER, SIP_HDR_SESSION_EXPIRES, SIP_HDR_SUBJECT,
	               SIP_HDR_SUBSCRIPTION_STATE, SIP_HDR_SUPPORTED},
	['t' - 'a'] = {SIP_HDR_TIMESTAMP, SIP_HDR_TO},
	['u' - 'a'] = {SIP_HDR_UNSUPPORTED, SIP_HDR_USER_AGENT},
	['v' - 'a'] = {SIP_HDR_VIA},
	['w' - 'a'] = {SIP_HDR_WARNING, SIP_HDR_WWW_AUTHENTICATE},
};

/* id for a one-letter compact form, by letter */
static const unsigned char by_compact[26] = {
	['b' - 'a'] = SIP_HDR_REFERRED_BY,   ['c' - 'a'] = SIP_HDR_CONTENT_TYPE,
	['e' - 'a'] = SIP_HDR_CONTENT_ENCODING, ['f' - 'a'] = SIP_HDR_FROM,
	['i' - 'a'] = SIP_HDR_CALL_ID,       ['k' - 'a'] = SIP_HDR_SUPPORTED,
	['l' - 'a'] = SIP_HDR_CONTENT_LENGTH, ['m' - 'a'] = SIP_HDR_CONTACT,
	['o' - 'a'] = SIP_HDR_EVENT,         ['r' - 'a'] = SIP_HDR_REFER_TO,
	['s' - 'a'] = SIP_HDR_SUBJECT,       ['t' - 'a'] = SIP_HDR_TO,
	['u' - 'a'] = SIP_HDR_ALLOW_EVENTS,  ['v' - 'a'] = SIP_HDR_VIA,
	['x' - 'a'] = SIP_HDR_SESSION_EXPIRES, ['y' - 'a'] = SIP_HDR_IDENTITY,
};

static bool name_matches(sip_pl name, enum sip_hdr_id id)
{
	const struct hdr_def *d = &hdr_defs[id];
	/* d->name is NUL-terminated and exactly name.l long, so strncasecmp
	 * reads no byte of the view past name.l */
	return name.l == d->len && strncasecmp(name.p, d->name, name.l) == 0;
}

enum sip_hdr_id sip_hdr_id_from_name(sip_pl name)
{
	if (name.l == 0)
		return SIP_HDR_OTHER;
	unsigned char c = sip_tolower((unsigned char)name.p[0]);
	if (c < 'a' || c > 'z')
		return SIP_HDR_OTHER;
	if (name.l == 1)
		return (enum sip_hdr_id)by_compact[c - 'a'];
	const unsigned char *row = by_letter[c - 'a'];
	for (size_t i = 0; i < sizeof(by_letter[0]) && row[i]; i++)
		if (name_matches(name, (enum sip_hdr_id)row[i]))
			return (enum sip_hdr_id)row[i];
	return SIP_HDR_OTHER;
}

const char *sip_hdr_name(enum sip_hdr_id id)
{
	if (id <= SIP_HDR_OTHER || id >= SIP_HDR__COUNT)
		return NULL;
	return hdr_defs[id].name;
}

bool sip_hdr_is_list(enum sip_hdr_id id)
{
	if (id <= SIP_HDR_OTHER || id >= SIP_HDR__COUNT)
		return false;
	return hdr_defs[id].list;
}

bool sip_list_next(sip_pl value, size_t *pos, sip_pl *item)
{
	if (!value.p || *pos > value.l)
		return false;
	struct sip_scan s = {value.p + *pos, value.p + value.l};
	if (*pos == value.l) {
		/* a trailing comma leaves one empty item; report it once */
		if (*pos > 0 && value.p[*pos - 1] == ',') {
			*item = (sip_pl){value.p + value.l, 0};
			*pos = value.l + 1;
			return true;
		}
		return false;
	}
	sip_pl raw = sip_scan_until_unquoted(&s, ',');
	*item = sip_pl_trim(raw);
	if (!item->p)
		*item = (sip_pl){raw.p, 0};
	*pos = (size_t)(s.p - value.p) + (s.p < s.end ? 1 : 0);
	return true;
}
