/* log.h — the daemon's logger: one process-wide level, lines to stderr.
 *
 * Each line: "2026-11-24T15:40:01.123Z LEVEL [subsystem] text". The logger is
 * the one process-wide object the design allows; it is only called from the
 * signalling thread for now. Nothing logged may contain a secret (password,
 * HA1, digest response, private key). */
#ifndef SIPWIRE_SERVER_LOG_H
#define SIPWIRE_SERVER_LOG_H

#include <stdbool.h>

#include "server/config.h"

void sw_log_set_level(enum sipwire_log_level level);
enum sipwire_log_level sw_log_level(void);
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
