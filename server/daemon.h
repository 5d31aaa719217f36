/* daemon.h — the running gateway: one GLib main loop for signalling that
 * drives libwebsockets, the trunk sockets and the SIP timers. */
#ifndef SIPWIRE_SERVER_DAEMON_H
#define SIPWIRE_SERVER_DAEMON_H

#include "server/config.h"

/* Start every configured listener and run until SIGINT or SIGTERM, which
 * drain (new connections and calls refused, calls in progress ended after
 * shutdown.drain_timeout), then close connections (WebSocket close 1001) and
 * return 0. Returns 1 when something could not start (the log says what).
 *
 * SIGHUP loads the configuration again as it was loaded (argv and envp: the
 * file, the environment, the flags) and applies users, the dial plan and the
 * log level and format to the running gateway; calls in progress go on. A
 * configuration that fails is refused with its errors logged, and the
 * running one kept. cfg is that running configuration. */
int sw_daemon_run(struct sipwire_config *cfg, int argc, char **argv, char **envp);

#endif
