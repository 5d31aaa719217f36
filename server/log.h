/* log.h — the daemon's logger: one process-wide level and format, one line
 * per event to stderr, each written with one write (threads may log).
 *
 * log.format text: "2026-11-24T15:40:01.123Z LEVEL [subsystem] text";
 * logfmt: time=... level=info subsys=call call=c1f msg="text";
 * json: {"time":"...","level":"info","subsys":"call","call":"c1f","msg":"text"}
 * (a call's detail line: "cdr":{...} instead of msg). A call's lines start
 * their text with its id ("c1f: "); the structured formats move it into the
 * call field. Nothing logged may contain a secret (password, HA1, digest
 * response, private key). */
#ifndef SIPWIRE_SERVER_LOG_H
#define SIPWIRE_SERVER_LOG_H

#include <stdbool.h>

#include "server/config.h"

void sw_log_set_level(enum sipwire_log_level level);
enum sipwire_log_level sw_log_level(void);
void sw_log_set_format(enum sipwire_log_format format);
static inline bool sw_log_enabled(enum sipwire_log_level level) { return level <= sw_log_level(); }

void sw_log(enum sipwire_log_level level, const char *subsys, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define SW_LOG(level, subsys, ...)                                                                 \
	do {                                                                                       \
		if (sw_log_enabled(level))                                                          \
			sw_log(level, subsys, __VA_ARGS__);                                         \
	} while (0)
#define LOG_ERR(subsys, ...) SW_LOG(SIPWIRE_LOG_ERROR, subsys, __VA_ARGS__)
#define LOG_WARN(subsys, ...) SW_LOG(SIPWIRE_LOG_WARN, subsys, __VA_ARGS__)
#define LOG_INFO(subsys, ...) SW_LOG(SIPWIRE_LOG_INFO, subsys, __VA_ARGS__)
#define LOG_DEBUG(subsys, ...) SW_LOG(SIPWIRE_LOG_DEBUG, subsys, __VA_ARGS__)

#endif
