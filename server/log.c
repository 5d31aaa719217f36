/* log.c — see log.h. */
#include "server/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum sipwire_log_level log_level = SIPWIRE_LOG_INFO;

void sw_log_set_level(enum sipwire_log_level level) { log_level = level; }
enum sipwire_log_level sw_log_level(void) { return log_level; }

void sw_log(enum sipwire_log_level level, const char *subsys, const char *fmt, ...)
{
	static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* One buffer and one write per line, so lines never interleave. */
	char line[1024];
	int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, ts.tv_nsec / 1000000, names[level], subsys);
	if (n < 0)
		return;
	va_list ap, again;
	va_start(ap, fmt);
	va_copy(again, ap);
	int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	/* A longer line (a call's detail line with two WebRTC legs) is written
	 * whole: a cut one would be JSON no reader can parse. */
	char *big = len > sizeof line - 2 ? malloc(len + 1) : NULL;
	if (big) {
		memcpy(big, line, (size_t)n);
		vsnprintf(big + n, len + 1 - (size_t)n, fmt, again);
		big[len++] = '\n';
		fwrite(big, 1, len, stderr);
		free(big);
		va_end(again);
		return;
	}
	va_end(again);
	if (len > sizeof line - 2)
		len = sizeof line - 2; /* no memory for the whole line: what fits */
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
}
