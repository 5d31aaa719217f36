/* sip_msg.h — the SIP message parser.
 *
 * A parsed message is a set of views into the caller's buffer: the start line,
 * an array of headers (name and value) and the body. Nothing is copied and
 * nothing is allocated per message; a struct sip_msg is allocated once (sized
 * by its limits) and reused for every parse. The buffer must outlive every view
 * taken from the message.
 *
 * The headers every layer needs — top Via, From, To, Call-ID, CSeq,
 * Max-Forwards, Content-Length — are checked and parsed during sip_msg_parse,
 * so a message that parses is one the transaction layer can match. Everything
 * else is parsed on demand with the typed parsers of sip_hdr.h. */
#ifndef SIPWIRE_SIP_MSG_H
#define SIPWIRE_SIP_MSG_H

#include "sip/sip_hdr.h"
#include "sip/sip_pl.h"
#include "sip/sip_uri.h"

enum sip_parse_mode {
	/* UDP and WebSocket: the buffer is one whole message. Content-Length may
	 * be absent (the body is the rest); bytes past Content-Length are ignored. */
	SIP_PARSE_DATAGRAM,
	/* TCP and TLS: the buffer is the start of a byte stream. Content-Length is
	 * required; an incomplete message reports SIP_PARSE_NEED_MORE. */
	SIP_PARSE_STREAM,
};

struct sip_limits {
	size_t max_msg_size;  /* whole message, bytes; over it: 513 */
	unsigned max_headers; /* header fields; over it: 400 */
	size_t max_line_len;  /* one header field with its folds; over it: 400 */
	unsigned max_via;     /* Via values across all Via fields; over it: 400 */
};
#define SIP_LIMITS_DEFAULT                                                                         \
	((struct sip_limits){.max_msg_size = 65536,                                                \
	                     .max_headers = 128,                                                   \
	                     .max_line_len = 8192,                                                 \
	                     .max_via = 32})

enum sip_parse_result {
	SIP_PARSE_OK = 0,
	SIP_PARSE_NEED_MORE,  /* stream mode: nothing consumed, read more bytes */
	SIP_PARSE_KEEPALIVE,  /* a CRLF keep-alive (RFC 5626 §3.5.1) was consumed */
	SIP_PARSE_ERROR,      /* see struct sip_parse_error */
};

struct sip_parse_error {
	/* The status to answer with: 400, 505 (version), 416 (URI scheme), 513
	 * (too large); 0 when the input cannot be answered and is dropped (every
	 * bad response, and requests too broken to build a reply for). When status
	 * is non-zero the message's headers are usable for sip_build_response. */
	int status;
	/* A short static phrase naming the fault ("Bad CSeq", "Missing Call-ID"),
	 * suitable as the reason phrase of the answer and for the log line. */
	const char *reason;
};

struct sip_hdr {
	sip_pl name;  /* as received, possibly a compact form */
	sip_pl value; /* trimmed; CRLF folds are left in place */
	enum sip_hdr_id id;
	uint16_t next_same; /* private: index + 1 of the next field with this id */
};

struct sip_msg;

/* Allocate a message object for the given limits (NULL: SIP_LIMITS_DEFAULT).
 * Returns NULL when out of memory. */
struct sip_msg *sip_msg_new(const struct sip_limits *limits);
void sip_msg_free(struct sip_msg *m);
/* A copy of a parsed message with room for its own fields only (a message
 * object for the default limits has room for 136 fields, ~5 KiB of them):
 * for parsed messages that are kept, such as a transaction's request. The
 * views still point into the buffer m was parsed from. A compact copy may be
 * read like any message; parsing into it again takes messages with no more
 * fields than it has. NULL when out of memory. */
struct sip_msg *sip_msg_compact(const struct sip_msg *m);
/* Parse buf (which must outlive the message) into a compact message of its
 * own: what to keep parsed for a while. 0 with *out set, -EBADMSG when it
 * does not parse as one whole message, -ENOMEM. limits NULL: the defaults. */
int sip_msg_parse_kept(const char *buf, size_t len, enum sip_parse_mode mode,
                       const struct sip_limits *limits, struct sip_msg **out);

/* Parse buf. On SIP_PARSE_OK and SIP_PARSE_KEEPALIVE, *consumed is the number
 * of bytes the message (or keep-alive) took: in stream mode the next message
 * starts there; in datagram mode it is len. For a keep-alive, *consumed is 4
 * for a ping ("\r\n\r\n", answer with "\r\n") and 2 for a pong. On
 * SIP_PARSE_ERROR, err says how to answer; a stream that gave an error has lost
 * its framing and should be closed after the answer. */
enum sip_parse_result sip_msg_parse(struct sip_msg *m, const char *buf, size_t len,
                                    enum sip_parse_mode mode, size_t *consumed,
                                    struct sip_parse_error *err);

/* ---- start line ---- */
bool sip_msg_is_request(const struct sip_msg *m);
enum sip_method sip_msg_method(const struct sip_msg *m); /* of a request */
sip_pl sip_msg_method_name(const struct sip_msg *m);
sip_pl sip_msg_ruri(const struct sip_msg *m);
/* The parsed Request-URI. */
const struct sip_uri *sip_msg_ruri_parsed(const struct sip_msg *m);
int sip_msg_status(const struct sip_msg *m); /* of a response */
sip_pl sip_msg_reason(const struct sip_msg *m);

/* ---- the whole message and its body ---- */
sip_pl sip_msg_raw(const struct sip_msg *m);
sip_pl sip_msg_body(const struct sip_msg *m);

/* ---- header fields ---- */
unsigned sip_msg_hdr_count(const struct sip_msg *m);
const struct sip_hdr *sip_msg_hdr_at(const struct sip_msg *m, unsigned index);
/* The first field with this id (not SIP_HDR_OTHER), or NULL. */
const struct sip_hdr *sip_msg_hdr(const struct sip_msg *m, enum sip_hdr_id id);
/* The next field with the same id as h (for unknown headers: the same name). */
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *h);
/* By name, case-insensitive; long and compact forms find each other. */
const struct sip_hdr *sip_msg_hdr_by_name(const struct sip_msg *m, sip_pl name);

/* Every value of a header across all its fields, list headers split at their
 * commas: `struct sip_value_iter it = {0}; while (sip_msg_value_next(m, id,
 * &it, &v)) ...`. Fields of non-list headers give one value each. */
struct sip_value_iter {
	const struct sip_hdr *h;
	size_t pos;
};
bool sip_msg_value_next(const struct sip_msg *m, enum sip_hdr_id id, struct sip_value_iter *it,
                        sip_pl *value);
/* Whether an option tag is listed in Supported, Require, Proxy-Require or
 * Unsupported (case-insensitive), across all fields. */
bool sip_msg_has_option(const struct sip_msg *m, enum sip_hdr_id id, const char *tag);

/* ---- headers checked and parsed by sip_msg_parse ---- */
const struct sip_via *sip_msg_via(const struct sip_msg *m); /* the top Via */
unsigned sip_msg_via_count(const struct sip_msg *m);
const struct sip_addr *sip_msg_from(const struct sip_msg *m);
const struct sip_addr *sip_msg_to(const struct sip_msg *m);
sip_pl sip_msg_call_id(const struct sip_msg *m);
const struct sip_cseq *sip_msg_cseq(const struct sip_msg *m);
int sip_msg_max_forwards(const struct sip_msg *m); /* -1 when absent */
/* Content-Length as received, or -1 when absent. */
long sip_msg_content_length(const struct sip_msg *m);

#endif
