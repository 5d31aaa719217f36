/* daemon.h — the running gateway: one GLib main loop for signalling that
 * drives libwebsockets, the trunk sockets and the SIP timers. */
#ifndef SIPWIRE_SERVER_DAEMON_H
#define SIPWIRE_SERVER_DAEMON_H

#include "server/config.h"

/* Start every configured listener and run until SIGINT or SIGTERM, then
 * close connections (WebSocket close 1001) and return 0. Returns 1 when
 * something could not start (the log says what). */
int sw_daemon_run(const struct sipwire_config *cfg);

#endif
