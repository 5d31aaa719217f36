/* resolve.c — sw_trunk_resolve (trunk.h): RFC 3263 server location with
 * GIO's GResolver, answered on the trunk's loop.
 *
 * RFC 3263 starts with NAPTR records to choose the transport; GResolver has no
 * NAPTR lookup, and the transport is always configured for a trunk here, so
 * that step is skipped: SRV for the given transport, then A/AAAA. */
#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"
#include "server/trunk_priv.h"

#define SUBSYS "trunk"

/* One host to turn into addresses: the name itself, or one SRV target. */
struct resolve_slot {
	char *host;
	unsigned port;
	GArray *addrs; /* struct sockaddr_storage */
	int err;
};

struct sw_resolve {
	struct sw_trunk *t;
	struct sw_resolve *prev, *next; /* in the trunk's list while pending */
	sw_resolve_cb cb;
	void *arg;
	GCancellable *cancel;
	GSource *idle; /* numeric host: the answer's trip through the loop */
	char *host;
	enum sw_tp tp;
	unsigned port;
	/* GIO calls that have not called back yet; the handle lives until
	 * they all have, even when cancelled. */
	unsigned outstanding;
	bool done; /* cb ran or the caller cancelled */
	struct resolve_slot *slots;
	size_t nslots, slots_left;
	struct sockaddr_storage numeric;
};

/* A lookup for one slot, as the user data of a GIO call. */
struct slot_lookup {
	struct sw_resolve *r;
	size_t slot;
};

static unsigned default_port(enum sw_tp tp)
{
	return tp == SW_TP_TLS ? 5061 : 5060;
}

static int gerror_to_errno(const GError *e)
{
	if (e->domain == G_RESOLVER_ERROR) {
		switch (e->code) {
		case G_RESOLVER_ERROR_NOT_FOUND:
			return -ENOENT;
		case G_RESOLVER_ERROR_TEMPORARY_FAILURE:
			return -EAGAIN;
		default:
			return -EIO;
		}
	}
	if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return -ECANCELED;
	return -EIO;
}

static void unlink_resolve(struct sw_resolve *r)
{
	if (!r->t)
		return;
	struct sw_resolve **head = sw_trunk_resolves(r->t);
	if (r->prev)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->t = NULL;
}

static void resolve_free(struct sw_resolve *r)
{
	for (size_t i = 0; i < r->nslots; i++) {
		g_free(r->slots[i].host);
		if (r->slots[i].addrs)
			g_array_unref(r->slots[i].addrs);
	}
	g_free(r->slots);
	g_free(r->host);
	if (r->idle) {
		g_source_destroy(r->idle);
		g_source_unref(r->idle);
	}
	g_object_unref(r->cancel);
	g_free(r);
}

/* Free when nothing is pending any more. */
static void resolve_release(struct sw_resolve *r)
{
	if (r->done && r->outstanding == 0)
		resolve_free(r);
}

static void finish(struct sw_resolve *r, int err, const struct sockaddr_storage *targets, size_t n)
{
	r->done = true;
	unlink_resolve(r);
	if (err < 0)
		LOG_WARN(SUBSYS, "cannot resolve %s: %s", r->host,
		         err == -ENOENT   ? "no such name"
		         : err == -EAGAIN ? "temporary failure"
		                          : strerror(-err));
	else
		LOG_DEBUG(SUBSYS, "%s resolved to %zu address%s", r->host, n, n == 1 ? "" : "es");
	r->cb(r->arg, err, err < 0 ? NULL : targets, err < 0 ? 0 : n);
}

/* Every slot answered: the targets in slot order. */
static void finish_slots(struct sw_resolve *r)
{
	GArray *all = g_array_new(FALSE, FALSE, sizeof(struct sockaddr_storage));
	int err = -ENOENT;
	for (size_t i = 0; i < r->nslots; i++) {
		struct resolve_slot *s = &r->slots[i];
		if (s->addrs && s->addrs->len)
			g_array_append_vals(all, s->addrs->data, s->addrs->len);
		else if (s->err && err == -ENOENT)
			err = s->err;
	}
	if (all->len)
		finish(r, 0, (const struct sockaddr_storage *)(const void *)all->data, all->len);
	else
		finish(r, err, NULL, 0);
	g_array_unref(all);
}

static void on_name_resolved(GObject *src, GAsyncResult *res, gpointer data)
{
	struct slot_lookup *lk = data;
	struct sw_resolve *r = lk->r;
	struct resolve_slot *s = &r->slots[lk->slot];
	g_free(lk);
	r->outstanding--;
	GError *gerr = NULL;
	GList *list = g_resolver_lookup_by_name_finish(G_RESOLVER(src), res, &gerr);
	if (r->done) {
		g_clear_error(&gerr);
		g_resolver_free_addresses(list);
		resolve_release(r);
		return;
	}
	if (gerr) {
		s->err = gerror_to_errno(gerr);
		LOG_DEBUG(SUBSYS, "A/AAAA %s: %s", s->host, gerr->message);
		g_error_free(gerr);
	}
	s->addrs = g_array_new(FALSE, TRUE, sizeof(struct sockaddr_storage));
	for (GList *l = list; l; l = l->next) {
		GSocketAddress *ga = g_inet_socket_address_new(l->data, (guint16)s->port);
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof ss);
		if (g_socket_address_to_native(ga, &ss, sizeof ss, NULL))
			g_array_append_val(s->addrs, ss);
		g_object_unref(ga);
	}
	g_resolver_free_addresses(list);
	if (--r->slots_left == 0)
		finish_slots(r);
	resolve_release(r);
}

/* Start A/AAAA lookups for every slot, on the trunk's loop. */
static void lookup_slots(struct sw_resolve *r)
{
	GMainContext *ctx = sw_trunk_ctx(r->t);
	GResolver *res = g_resolver_get_default();
	r->slots_left = r->nslots;
	/* GIO calls back on the thread-default context at the time of the call. */
	g_main_context_push_thread_default(ctx);
	for (size_t i = 0; i < r->nslots; i++) {
		struct slot_lookup *lk = g_new0(struct slot_lookup, 1);
		lk->r = r;
		lk->slot = i;
		r->outstanding++;
		g_resolver_lookup_by_name_async(res, r->slots[i].host, r->cancel, on_name_resolved,
		                                lk);
	}
	g_main_context_pop_thread_default(ctx);
	g_object_unref(res);
}

static void set_single_slot(struct sw_resolve *r, unsigned port)
{
	r->slots = g_new0(struct resolve_slot, 1);
	r->nslots = 1;
	r->slots[0].host = g_strdup(r->host);
	r->slots[0].port = port;
}

static void on_service_resolved(GObject *src, GAsyncResult *res, gpointer data)
{
	struct sw_resolve *r = data;
	r->outstanding--;
	GError *gerr = NULL;
	GList *targets = g_resolver_lookup_service_finish(G_RESOLVER(src), res, &gerr);
	if (r->done) {
		g_clear_error(&gerr);
		g_resolver_free_targets(targets);
		resolve_release(r);
		return;
	}
	if (gerr || !targets) {
		/* RFC 3263 §4.2: no SRV records, use the name's addresses on the
		 * transport's default port. */
		LOG_DEBUG(SUBSYS, "no SRV for %s (%s): A/AAAA on port %u", r->host,
		          gerr ? gerr->message : "empty", default_port(r->tp));
		g_clear_error(&gerr);
		set_single_slot(r, default_port(r->tp));
	} else {
		/* GIO has already ordered them by priority, then weighted at random. */
		r->nslots = g_list_length(targets);
		r->slots = g_new0(struct resolve_slot, r->nslots);
		size_t i = 0;
		for (GList *l = targets; l; l = l->next, i++) {
			r->slots[i].host = g_strdup(g_srv_target_get_hostname(l->data));
			r->slots[i].port = g_srv_target_get_port(l->data);
		}
	}
	g_resolver_free_targets(targets);
	lookup_slots(r);
}

static gboolean on_numeric(gpointer data)
{
	struct sw_resolve *r = data;
	GSource *idle = r->idle;
	r->idle = NULL;
	finish(r, 0, &r->numeric, 1);
	resolve_release(r);
	g_source_unref(idle);
	return G_SOURCE_REMOVE;
}


struct sw_resolve *sw_trunk_resolve(struct sw_trunk *t, const char *host, unsigned port,
                                    enum sw_tp tp, sw_resolve_cb cb, void *arg)
{
	if (!t || !host || !*host || !cb || port > 65535 ||
	    (tp != SW_TP_UDP && tp != SW_TP_TCP && tp != SW_TP_TLS))
		return NULL;
	struct sw_resolve *r = g_new0(struct sw_resolve, 1);
	r->t = t;
	r->cb = cb;
	r->arg = arg;
	r->tp = tp;
	r->port = port;
	r->host = g_strdup(host);
	r->cancel = g_cancellable_new();
	struct sw_resolve **head = sw_trunk_resolves(t);
	r->next = *head;
	if (r->next)
		r->next->prev = r;
	*head = r;

	if (sw_sockaddr_parse(host, &r->numeric) == 0) {
		unsigned p = port ? port : default_port(tp);
		if (r->numeric.ss_family == AF_INET)
			((struct sockaddr_in *)(void *)&r->numeric)->sin_port = htons((uint16_t)p);
		else
			((struct sockaddr_in6 *)(void *)&r->numeric)->sin6_port =
			    htons((uint16_t)p);
		r->idle = g_idle_source_new();
		g_source_set_callback(r->idle, on_numeric, r, NULL);
		g_source_attach(r->idle, sw_trunk_ctx(t));
		return r;
	}
	if (port) {
		set_single_slot(r, port);
		lookup_slots(r);
		return r;
	}
	GMainContext *ctx = sw_trunk_ctx(t);
	GResolver *res = g_resolver_get_default();
	r->outstanding++;
	g_main_context_push_thread_default(ctx);
	g_resolver_lookup_service_async(res, tp == SW_TP_TLS ? "sips" : "sip",
	                                tp == SW_TP_UDP ? "udp" : "tcp", host, r->cancel,
	                                on_service_resolved, r);
	g_main_context_pop_thread_default(ctx);
	g_object_unref(res);
	return r;
}

void sw_resolve_cancel(struct sw_resolve *r)
{
	if (!r || r->done)
		return;
	r->done = true;
	unlink_resolve(r);
	g_cancellable_cancel(r->cancel);
	resolve_release(r);
}

void sw_resolve_cancel_all(struct sw_resolve **list)
{
	while (*list)
		sw_resolve_cancel(*list);
}
