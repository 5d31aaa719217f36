/* dialplan.h — where a call goes: the configured routes (config.h), tried in
 * order against the Request-URI, else the default plan.
 *
 * The default plan (no routes configured): user "echo" → the echo service;
 * a registered user → that user; anything else → the first trunk, or nowhere
 * (the caller answers 404). With routes configured, a call no route matches
 * goes nowhere.
 *
 * Routing is a pure function of the plan, the Request-URI and the caller's
 * registration lookup: no I/O, no allocation, safe to call for every INVITE.
 * docs/dialplan.md explains the rules with worked examples. */
#ifndef SIPWIRE_SERVER_DIALPLAN_H
#define SIPWIRE_SERVER_DIALPLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "server/config.h"
#include "sip/sip_pl.h"
#include "sip/sip_uri.h"

struct sw_dialplan;

enum sw_route_kind {
	SW_ROUTE_NONE, /* no route: answer 404 */
	SW_ROUTE_ECHO,
	SW_ROUTE_USER,
	SW_ROUTE_TRUNK,
};

/* The registration lookup the default plan consults: is `user` at `host`
 * (the Request-URI's, unset for tel:) a registered browser? */
typedef bool (*sw_dialplan_registered_fn)(void *arg, sip_pl user, sip_pl host);

struct sw_route_result {
	/* Set by the caller: where the rewritten user part is written
	 * (NUL-terminated). */
	char *user;
	size_t user_size;

	/* Set by sw_dialplan_route. */
	enum sw_route_kind kind;
	size_t trunk;           /* index in the configuration's trunks (TRUNK) */
	const char *trunk_name; /* NULL unless TRUNK; lives as long as the plan */
	size_t user_len;        /* strlen(user) */
	int rule;               /* index of the matching route, -1: the default plan */
	const char *rule_name;  /* for the call's log line: "routes[2]", "--route[0]",
	                         * "default: echo", "default: user",
	                         * "default: first trunk", "no route" */
};

/* Compile the plan from a finished configuration (sipwire_config_finish
 * resolved the targets); the plan keeps its own copies, cfg may be freed
 * afterwards. 0, -EINVAL (a regular expression does not compile, or a target
 * is out of range) or -ENOMEM. */
int sw_dialplan_new(const struct sipwire_config *cfg, struct sw_dialplan **out);
void sw_dialplan_free(struct sw_dialplan *dp);

/* Route one Request-URI. The user part is unescaped first (%HH); a route
 * matches when its prefix or regular expression matches the user part, its
 * domain equals the host (case-insensitively), and the user part is at least
 * `strip` characters long. The rewritten user part (strip, then prepend) is
 * written to out->user for every result, NONE included. is_registered is only
 * called by the default plan, for a user other than "echo", and may be NULL
 * (nobody is registered).
 * 0; -EINVAL on a bad argument or an undecodable user part; -ENOSPC when the
 * rewritten user part does not fit out->user (out->kind is still set). */
int sw_dialplan_route(const struct sw_dialplan *dp, const struct sip_uri *ruri,
                      sw_dialplan_registered_fn is_registered, void *arg,
                      struct sw_route_result *out);

/* The number of routes (0: the default plan is in use). */
size_t sw_dialplan_route_count(const struct sw_dialplan *dp);

const char *sw_route_kind_name(enum sw_route_kind kind);

#endif
