/* log.c — see log.h. */
#include "server/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum sipwire_log_level log_level = SIPWIRE_LOG_INFO;
static enum sipwire_log_format log_format = SIPWIRE_LOG_TEXT;

void sw_log_set_level(enum sipwire_log_level level) { log_level = level; }
enum sipwire_log_level sw_log_level(void) { return log_level; }
void sw_log_set_format(enum sipwire_log_format format) { log_format = format; }

/* A line being built: a stack buffer that moves to the heap when a line
 * outgrows it (a call's detail line with two WebRTC legs passes 1 KiB, and
 * a cut one would be JSON no reader can parse). */
struct line {
	char *p;
	size_t len, cap;
	bool heap, failed;
};

static void line_put(struct line *l, const char *s, size_t n)
{
	if (l->failed)
		return;
	if (l->len + n + 2 > l->cap) {
		size_t cap = (l->len + n + 2) * 2;
		char *np = l->heap ? realloc(l->p, cap) : malloc(cap);
		if (!np) {
			/* no memory for the whole line: what fits */
			n = l->cap - l->len - 2;
			l->failed = true;
		} else {
			if (!l->heap)
				memcpy(np, l->p, l->len);
			l->p = np;
			l->cap = cap;
			l->heap = true;
		}
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

static void line_puts(struct line *l, const char *s) { line_put(l, s, strlen(s)); }

/* The length of the well-formed UTF-8 sequence at s (at most n bytes), or
 * 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	if (!len || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* overlong three- and four-byte forms, surrogates, above U+10FFFF */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return len;
}

/* s as the inside of a JSON string (logfmt's quoted values use the same
 * escapes): quotes, backslashes and control characters escaped, bytes that
 * are not UTF-8 (a peer's text can be anything) written as U+FFFD. */
static void line_escaped(struct line *l, const char *s, size_t n)
{
	size_t from = 0;
	for (size_t i = 0; i < n;) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x80) {
			size_t len = utf8_len((const unsigned char *)s + i, n - i);
			if (len) {
				i += len;
				continue;
			}
		} else if (ch >= 0x20 && ch != '"' && ch != '\\') {
			i++;
			continue;
		}
		line_put(l, s + from, i - from);
		char esc[8];
		if (ch >= 0x80)
			snprintf(esc, sizeof esc, "\\ufffd");
		else if (ch == '"' || ch == '\\')
			snprintf(esc, sizeof esc, "\\%c", ch);
		else if (ch == '\n')
			snprintf(esc, sizeof esc, "\\n");
		else if (ch == '\r')
			snprintf(esc, sizeof esc, "\\r");
		else if (ch == '\t')
			snprintf(esc, sizeof esc, "\\t");
		else
			snprintf(esc, sizeof esc, "\\u%04x", ch);
		line_puts(l, esc);
		from = ++i;
	}
	line_put(l, s + from, n - from);
}

/* The call a line belongs to: call lines start "c1f: ", a call's detail
 * line is {"call":"c1f",...}; only the subsystems that speak of calls are
 * read so. Its length, 0 when there is none. */
static size_t call_id_of(const char *subsys, const char *msg, const char **id)
{
	static const char *const of_calls[] = {"call", "cdr", "media", "ua"};
	bool speaks = false;
	for (size_t i = 0; i < sizeof of_calls / sizeof of_calls[0]; i++)
		speaks = speaks || strcmp(subsys, of_calls[i]) == 0;
	if (!speaks)
		return 0;
	const char *p = msg;
	if (strncmp(p, "{\"call\":\"", 9) == 0)
		p += 9;
	if (*p != 'c')
		return 0;
	size_t n = 1;
	while ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f'))
		n++;
	if (n == 1 || n > 17 || (p == msg ? strncmp(p + n, ": ", 2) : strncmp(p + n, "\"", 1)))
		return 0;
	*id = p;
	return n;
}

static void format_line(struct line *l, enum sipwire_log_level level, const char *subsys,
                        const char *msg, size_t msg_len)
{
	static const char *const upper[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	static const char *const lower[] = {"error", "warn", "info", "debug"};
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char when[96];
	snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         ts.tv_nsec / 1000000);
	if (log_format == SIPWIRE_LOG_TEXT) {
		char head[128];
		snprintf(head, sizeof head, "%s %-5s [%s] ", when, upper[level], subsys);
		line_puts(l, head);
		line_put(l, msg, msg_len);
		return;
	}
	const char *call = NULL;
	size_t call_len = call_id_of(subsys, msg, &call);
	/* A call line's text without its "c1f: " (the call field says it). */
	if (call_len && call == msg) {
		msg += call_len + 2;
		msg_len -= call_len + 2;
	}
	bool json = log_format == SIPWIRE_LOG_JSON;
	line_puts(l, json ? "{\"time\":\"" : "time=");
	line_puts(l, when);
	line_puts(l, json ? "\",\"level\":\"" : " level=");
	line_puts(l, lower[level]);
	line_puts(l, json ? "\",\"subsys\":\"" : " subsys=");
	line_puts(l, subsys);
	if (call_len) {
		line_puts(l, json ? "\",\"call\":\"" : " call=");
		line_put(l, call, call_len);
	}
	if (json && strcmp(subsys, "cdr") == 0 && msg_len && msg[0] == '{') {
		/* The detail line is JSON already: an object, not a string. */
		line_puts(l, "\",\"cdr\":");
		line_put(l, msg, msg_len);
		line_puts(l, "}");
		return;
	}
	line_puts(l, json ? "\",\"msg\":\"" : " msg=\"");
	line_escaped(l, msg, msg_len);
	line_puts(l, json ? "\"}" : "\"");
}

void sw_log(enum sipwire_log_level level, const char *subsys, const char *fmt, ...)
{
	char text_buf[1024], line_buf[1536];
	va_list ap, again;
	va_start(ap, fmt);
	va_copy(again, ap);
	int m = vsnprintf(text_buf, sizeof text_buf, fmt, ap);
	va_end(ap);
	size_t text_len = m < 0 ? 0 : (size_t)m;
	char *text = text_buf;
	if (text_len >= sizeof text_buf) {
		text = malloc(text_len + 1);
		if (text)
			vsnprintf(text, text_len + 1, fmt, again);
		else
			text = text_buf, text_len = sizeof text_buf - 1;
	}
	va_end(again);
	/* One buffer and one write per line, so lines never interleave. */
	struct line l = {.p = line_buf, .cap = sizeof line_buf};
	format_line(&l, level, subsys, text, text_len);
	l.p[l.len++] = '\n';
	fwrite(l.p, 1, l.len, stderr);
	if (l.heap)
		free(l.p);
	if (text != text_buf)
		free(text);
}
