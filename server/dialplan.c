/* dialplan.c — see dialplan.h.
 *
 * The plan copies what routing needs out of the configuration and compiles
 * each regular expression once, so routing a call is string comparisons and
 * regexec on a stack buffer. */
#include "server/dialplan.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

/* Longest user part routed, unescaped. A dialled number or an account name is
 * far shorter; anything longer is refused rather than truncated. */
#define DIALPLAN_USER_MAX 256

struct dp_route {
	char *match_user; /* NULL: any */
	size_t match_user_len;
	bool has_regex;
	regex_t regex;
	char *match_domain; /* NULL: any */
	unsigned strip;
	char *prepend; /* "" when none */
	size_t prepend_len;
	enum sw_route_kind kind;
	size_t trunk;
	char *name; /* "routes[0]", "--route[1]", ... */
};

struct sw_dialplan {
	struct dp_route *routes;
	size_t n_routes;
	char **trunk_names;
	size_t n_trunks;
};

static void route_free(struct dp_route *r)
{
	free(r->match_user);
	if (r->has_regex)
		regfree(&r->regex);
	free(r->match_domain);
	free(r->prepend);
	free(r->name);
}

void sw_dialplan_free(struct sw_dialplan *dp)
{
	if (!dp)
		return;
	for (size_t i = 0; i < dp->n_routes; i++)
		route_free(&dp->routes[i]);
	free(dp->routes);
	for (size_t i = 0; i < dp->n_trunks; i++)
		free(dp->trunk_names[i]);
	free(dp->trunk_names);
	free(dp);
}

static char *dup_opt(const char *s, bool *oom)
{
	if (!s)
		return NULL;
	char *copy = strdup(s);
	if (!copy)
		*oom = true;
	return copy;
}

/* The log name of a route: its key path without the ".target" the
 * configuration files target errors under. */
static char *route_name(const char *where, bool *oom)
{
	static const char suffix[] = ".target";
	size_t n = strlen(where), sl = sizeof(suffix) - 1;
	if (n > sl && strcmp(where + n - sl, suffix) == 0)
		n -= sl;
	char *name = strndup(where, n);
	if (!name)
		*oom = true;
	return name;
}

static int route_init(struct dp_route *r, const struct sipwire_route *src, size_t n_trunks)
{
	bool oom = false;
	memset(r, 0, sizeof(*r));
	switch (src->target_kind) {
	case SIPWIRE_ROUTE_TARGET_ECHO:
		r->kind = SW_ROUTE_ECHO;
		break;
	case SIPWIRE_ROUTE_TARGET_USER:
		r->kind = SW_ROUTE_USER;
		break;
	case SIPWIRE_ROUTE_TARGET_TRUNK:
		if (src->trunk >= n_trunks)
			return -EINVAL;
		r->kind = SW_ROUTE_TRUNK;
		r->trunk = src->trunk;
		break;
	default:
		return -EINVAL;
	}
	r->strip = src->strip;
	r->match_user = dup_opt(src->match_user, &oom);
	r->match_user_len = src->match_user ? strlen(src->match_user) : 0;
	r->match_domain = dup_opt(src->match_domain, &oom);
	r->prepend = dup_opt(src->prepend ? src->prepend : "", &oom);
	r->prepend_len = src->prepend ? strlen(src->prepend) : 0;
	r->name = route_name(src->where ? src->where : "route", &oom);
	if (oom)
		return -ENOMEM;
	if (src->match_regex) {
		int rc = regcomp(&r->regex, src->match_regex, REG_EXTENDED | REG_NOSUB);
		if (rc == REG_ESPACE)
			return -ENOMEM;
		if (rc != 0)
			return -EINVAL;
		r->has_regex = true;
	}
	return 0;
}

int sw_dialplan_new(const struct sipwire_config *cfg, struct sw_dialplan **out)
{
	if (!cfg || !out)
		return -EINVAL;
	*out = NULL;
	struct sw_dialplan *dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	int rc = 0;
	if (cfg->n_trunks) {
		dp->trunk_names = calloc(cfg->n_trunks, sizeof(*dp->trunk_names));
		if (!dp->trunk_names) {
			rc = -ENOMEM;
			goto fail;
		}
		for (; dp->n_trunks < cfg->n_trunks; dp->n_trunks++) {
			dp->trunk_names[dp->n_trunks] = strdup(cfg->trunks[dp->n_trunks].name);
			if (!dp->trunk_names[dp->n_trunks]) {
				rc = -ENOMEM;
				goto fail;
			}
		}
	}
	if (cfg->n_routes) {
		dp->routes = calloc(cfg->n_routes, sizeof(*dp->routes));
		if (!dp->routes) {
			rc = -ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < cfg->n_routes; i++) {
			rc = route_init(&dp->routes[i], &cfg->routes[i], cfg->n_trunks);
			/* route_init leaves a half-built route freeable */
			dp->n_routes++;
			if (rc < 0)
				goto fail;
		}
	}
	*out = dp;
	return 0;
fail:
	sw_dialplan_free(dp);
	return rc;
}

size_t sw_dialplan_route_count(const struct sw_dialplan *dp)
{
	return dp ? dp->n_routes : 0;
}

const char *sw_route_kind_name(enum sw_route_kind kind)
{
	switch (kind) {
	case SW_ROUTE_NONE:
		return "none";
	case SW_ROUTE_ECHO:
		return "echo";
	case SW_ROUTE_USER:
		return "user";
	case SW_ROUTE_TRUNK:
		return "trunk";
	}
	return "?";
}

static bool route_matches(const struct dp_route *r, const char *user, size_t user_len, sip_pl host)
{
	if (user_len < r->strip)
		return false;
	if (r->match_user &&
	    (user_len < r->match_user_len || memcmp(user, r->match_user, r->match_user_len) != 0))
		return false;
	if (r->has_regex && regexec(&r->regex, user, 0, NULL, 0) != 0)
		return false;
	if (r->match_domain && (!sip_pl_isset(host) || !sip_pl_caseeq_cstr(host, r->match_domain)))
		return false;
	return true;
}

/* prefix + the user part without its first `strip` characters. */
static int write_user(struct sw_route_result *out, const char *prefix, size_t prefix_len,
                      const char *user, size_t user_len, size_t strip)
{
	size_t rest = user_len - strip;
	if (prefix_len + rest + 1 > out->user_size) {
		out->user[0] = 0;
		out->user_len = 0;
		return -ENOSPC;
	}
	memcpy(out->user, prefix, prefix_len);
	memcpy(out->user + prefix_len, user + strip, rest);
	out->user[prefix_len + rest] = 0;
	out->user_len = prefix_len + rest;
	return 0;
}

int sw_dialplan_route(const struct sw_dialplan *dp, const struct sip_uri *ruri,
                      sw_dialplan_registered_fn is_registered, void *arg,
                      struct sw_route_result *out)
{
	if (!dp || !ruri || !out || !out->user || !out->user_size)
		return -EINVAL;
	out->kind = SW_ROUTE_NONE;
	out->trunk = 0;
	out->trunk_name = NULL;
	out->rule = -1;
	out->rule_name = "no route";
	out->user[0] = 0;
	out->user_len = 0;

	/* The user part as dialled: "%2B49..." is "+49...". An escaped NUL
	 * would hide the rest of the user part from the rules. */
	char user[DIALPLAN_USER_MAX];
	size_t user_len = 0;
	if (sip_pl_isset(ruri->user) && ruri->user.l) {
		int n = sip_uri_unescape(ruri->user, user, sizeof(user));
		if (n < 0 || memchr(user, 0, (size_t)n))
			return -EINVAL;
		user_len = (size_t)n;
	} else {
		user[0] = 0;
	}

	for (size_t i = 0; i < dp->n_routes; i++) {
		const struct dp_route *r = &dp->routes[i];
		if (!route_matches(r, user, user_len, ruri->host))
			continue;
		out->kind = r->kind;
		out->rule = (int)i;
		out->rule_name = r->name;
		if (r->kind == SW_ROUTE_TRUNK) {
			out->trunk = r->trunk;
			out->trunk_name = dp->trunk_names[r->trunk];
		}
		return write_user(out, r->prepend, r->prepend_len, user, user_len, r->strip);
	}
	if (dp->n_routes)
		return write_user(out, "", 0, user, user_len, 0);

	/* The default plan. */
	if (strcmp(user, "echo") == 0) {
		out->kind = SW_ROUTE_ECHO;
		out->rule_name = "default: echo";
	} else if (user_len && is_registered &&
	           is_registered(arg, (sip_pl){user, user_len}, ruri->host)) {
		out->kind = SW_ROUTE_USER;
		out->rule_name = "default: user";
	} else if (dp->n_trunks) {
		out->kind = SW_ROUTE_TRUNK;
		out->trunk = 0;
		out->trunk_name = dp->trunk_names[0];
		out->rule_name = "default: first trunk";
	}
	return write_user(out, "", 0, user, user_len, 0);
}
