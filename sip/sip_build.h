/* sip_build.h — the serializer: requests and responses into a growable buffer,
 * with a Content-Length that always matches the body. */
#ifndef SIPWIRE_SIP_BUILD_H
#define SIPWIRE_SIP_BUILD_H

#include <stdarg.h>

#include "sip/sip_msg.h"

/* A growable byte buffer. Once an append fails (out of memory, or over
 * max_size) the buffer is marked failed, further appends do nothing, and
 * every builder call returns -ENOMEM/-EMSGSIZE, so a caller may check once at
 * the end. */
struct sip_buf {
	char *p;
	size_t len, cap;
	size_t max_size; /* 0: no limit */
	int error;       /* 0, or the first -errno */
};

void sip_buf_init(struct sip_buf *b, size_t max_size);
void sip_buf_free(struct sip_buf *b);
void sip_buf_reset(struct sip_buf *b); /* len = 0, error = 0, memory kept */
int sip_buf_append(struct sip_buf *b, const void *data, size_t len);
int sip_buf_append_pl(struct sip_buf *b, sip_pl pl);
int sip_buf_printf(struct sip_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline sip_pl sip_buf_pl(const struct sip_buf *b) { return (sip_pl){b->p, b->len}; }

/* The standard reason phrase of a status code ("Not Found"), or "Unknown". */
const char *sip_status_reason(int status);

/* "METHOD Request-URI SIP/2.0\r\n" */
int sip_build_request_line(struct sip_buf *b, sip_pl method, sip_pl ruri);
/* "SIP/2.0 404 Not Found\r\n"; reason NULL: the standard phrase. Control
 * characters in the reason are replaced so the line cannot be split. */
int sip_build_status_line(struct sip_buf *b, int status, const char *reason);
/* "Name: value\r\n". The value must not contain a bare CR or LF (-EINVAL). */
int sip_build_header(struct sip_buf *b, const char *name, sip_pl value);
int sip_build_header_fmt(struct sip_buf *b, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Close the header section: Content-Type when there is a body and ctype is
 * given, Content-Length, the empty line, the body. */
int sip_build_body(struct sip_buf *b, const char *ctype, sip_pl body);

/* Start a response to req (RFC 3261 §8.2.6): status line, then every Via in
 * order, From, To (with ;tag=to_tag added when To has no tag, the status is
 * above 100 and to_tag is set), Call-ID, CSeq, and Timestamp for a 100. The
 * caller adds its own headers and finishes with sip_build_body. Works on a
 * request that failed to parse with a non-zero error status, since the fields
 * are copied as received. */
int sip_build_response(struct sip_buf *b, const struct sip_msg *req, int status,
                       const char *reason, sip_pl to_tag);

#endif
