/* sip_build.c — the serializer. */
#include "sip/sip_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sip_buf_init(struct sip_buf *b, size_t max_size)
{
	*b = (struct sip_buf){.max_size = max_size};
}

void sip_buf_free(struct sip_buf *b)
{
	free(b->p);
	*b = (struct sip_buf){.max_size = b->max_size};
}

void sip_buf_reset(struct sip_buf *b)
{
	b->len = 0;
	b->error = 0;
}

static int buf_reserve(struct sip_buf *b, size_t extra)
{
	if (b->error)
		return b->error;
	if (extra > SIZE_MAX - b->len - 1 || (b->max_size && b->len + extra > b->max_size))
		return b->error = -EMSGSIZE;
	size_t need = b->len + extra + 1; /* keep room for a NUL for debugging */
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 512;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return b->error = -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int sip_buf_append(struct sip_buf *b, const void *data, size_t len)
{
	int rc = buf_reserve(b, len);
	if (rc)
		return rc;
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return 0;
}

int sip_buf_append_pl(struct sip_buf *b, sip_pl pl) { return sip_buf_append(b, pl.p, pl.l); }

__attribute__((format(printf, 2, 0))) static int buf_vprintf(struct sip_buf *b, const char *fmt,
                                                             va_list ap)
{
	if (b->error)
		return b->error;
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return b->error = -EINVAL;
	int rc = buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int sip_buf_printf(struct sip_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

const char *sip_status_reason(int status)
{
	switch (status) {
	case 100: return "Trying";
	case 180: return "Ringing";
	case 181: return "Call Is Being Forwarded";
	case 182: return "Queued";
	case 183: return "Session Progress";
	case 199: return "Early Dialog Terminated";
	case 200: return "OK";
	case 202: return "Accepted";
	case 204: return "No Notification";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Moved Temporarily";
	case 305: return "Use Proxy";
	case 380: return "Alternative Service";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 410: return "Gone";
	case 412: return "Conditional Request Failed";
	case 413: return "Request Entity Too Large";
	case 414: return "Request-URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Unsupported URI Scheme";
	case 420: return "Bad Extension";
	case 421: return "Extension Required";
	case 422: return "Session Interval Too Small";
	case 423: return "Interval Too Brief";
	case 429: return "Provide Referrer Identity";
	case 430: return "Flow Failed";
	case 439: return "First Hop Lacks Outbound Support";
	case 480: return "Temporarily Unavailable";
	case 481: return "Call/Transaction Does Not Exist";
	case 482: return "Loop Detected";
	case 483: return "Too Many Hops";
	case 484: return "Address Incomplete";
	case 485: return "Ambiguous";
	case 486: return "Busy Here";
	case 487: return "Request Terminated";
	case 488: return "Not Acceptable Here";
	case 489: return "Bad Event";
	case 491: return "Request Pending";
	case 493: return "Undecipherable";
	case 500: return "Server Internal Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Server Time-out";
	case 505: return "Version Not Supported";
	case 513: return "Message Too Large";
	case 580: return "Precondition Failure";
	case 600: return "Busy Everywhere";
	case 603: return "Decline";
	case 604: return "Does Not Exist Anywhere";
	case 606: return "Not Acceptable";
	case 607: return "Unwanted";
	default: return "Unknown";
	}
}

int sip_build_request_line(struct sip_buf *b, sip_pl method, sip_pl ruri)
{
	sip_buf_append_pl(b, method);
	sip_buf_append(b, " ", 1);
	sip_buf_append_pl(b, ruri);
	return sip_buf_append(b, " SIP/2.0\r\n", 10);
}

int sip_build_status_line(struct sip_buf *b, int status, const char *reason)
{
	if (status < 100 || status > 699)
		return -EINVAL;
	if (!reason)
		reason = sip_status_reason(status);
	sip_buf_printf(b, "SIP/2.0 %d ", status);
	size_t start = b->len;
	sip_buf_append(b, reason, strlen(reason));
	if (b->error)
		return b->error;
	for (size_t i = start; i < b->len; i++)
		if ((unsigned char)b->p[i] < 0x20 || b->p[i] == 0x7f)
			b->p[i] = ' ';
	return sip_buf_append(b, "\r\n", 2);
}

/* A value may hold folds (CRLF + WSP, as received) but no line break that
 * would start a new header. */
static bool value_is_safe(sip_pl v)
{
	for (size_t i = 0; i < v.l; i++) {
		if (v.p[i] == '\r') {
			if (i + 2 >= v.l || v.p[i + 1] != '\n' ||
			    (v.p[i + 2] != ' ' && v.p[i + 2] != '\t'))
				return false;
			i++;
		} else if (v.p[i] == '\n' || v.p[i] == '\0') {
			return false;
		}
	}
	return true;
}

int sip_build_header(struct sip_buf *b, const char *name, sip_pl value)
{
	if (b->error)
		return b->error;
	if (!value_is_safe(value))
		return b->error = -EINVAL;
	sip_buf_append(b, name, strlen(name));
	sip_buf_append(b, ": ", 2);
	sip_buf_append_pl(b, value);
	return sip_buf_append(b, "\r\n", 2);
}

int sip_build_header_fmt(struct sip_buf *b, const char *name, const char *fmt, ...)
{
	sip_buf_append(b, name, strlen(name));
	sip_buf_append(b, ": ", 2);
	size_t start = b->len;
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	if (rc)
		return rc;
	if (!value_is_safe((sip_pl){b->p + start, b->len - start}))
		return b->error = -EINVAL;
	return sip_buf_append(b, "\r\n", 2);
}

int sip_build_body(struct sip_buf *b, const char *ctype, sip_pl body)
{
	if (body.l && ctype)
		sip_build_header(b, "Content-Type", sip_pl_from_cstr(ctype));
	sip_buf_printf(b, "Content-Length: %zu\r\n\r\n", body.l);
	return sip_buf_append(b, body.p, body.l);
}

/* Copy every field of one id under its long name, as received. */
static void copy_fields(struct sip_buf *b, const struct sip_msg *req, enum sip_hdr_id id)
{
	for (const struct sip_hdr *h = sip_msg_hdr(req, id); h; h = sip_msg_hdr_next(req, h))
		sip_build_header(b, sip_hdr_name(id), h->value);
}

int sip_build_response(struct sip_buf *b, const struct sip_msg *req, int status,
                       const char *reason, sip_pl to_tag)
{
	int rc = sip_build_status_line(b, status, reason);
	if (rc)
		return rc;
	copy_fields(b, req, SIP_HDR_VIA);
	copy_fields(b, req, SIP_HDR_FROM);
	const struct sip_hdr *to = sip_msg_hdr(req, SIP_HDR_TO);
	if (to && sip_build_header(b, "To", to->value) == 0) {
		/* The To of a request that parsed has its tag in sip_msg_to(); one
		 * that did not is answered without adding a tag we cannot place. */
		if (status > 100 && to_tag.l && !sip_pl_isset(sip_msg_to(req)->tag) &&
		    sip_msg_to(req)->uri_text.p) {
			b->len -= 2; /* reopen the line just written */
			sip_buf_append(b, ";tag=", 5);
			sip_buf_append_pl(b, to_tag);
			sip_buf_append(b, "\r\n", 2);
		}
	}
	copy_fields(b, req, SIP_HDR_CALL_ID);
	copy_fields(b, req, SIP_HDR_CSEQ);
	if (status == 100)
		copy_fields(b, req, SIP_HDR_TIMESTAMP);
	return b->error;
}
