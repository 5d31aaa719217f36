/* guard.c — see guard.h. */
#include "server/guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* Token buckets count thousandths of a token, so a rate of r a second adds
 * r tokens per millisecond of thousandths: integer arithmetic, no drift. */
#define TOKEN         1000u
#define BURST_SECONDS 2u
/* Entries idle this long (and holding no connection) are forgotten; by then
 * their buckets are full again, so forgetting changes nothing. */
#define IDLE_MS             (BURST_SECONDS * 1000u + 1000u)
#define SWEEP_EVERY_MS      5000u
#define DEFAULT_MAX_ENTRIES 65536u

struct guard_key {
	uint8_t family;  /* AF_INET or AF_INET6 */
	uint8_t addr[8]; /* IPv4: 4 bytes; IPv6: the /64 */
};

struct bucket {
	uint64_t tokens; /* thousandths */
	uint64_t at_ms;  /* when tokens was last brought up to date */
};

struct entry {
	struct guard_key key;
	struct bucket conn, req;
	unsigned open;
	uint64_t last_ms; /* the last time anything happened */
	struct {
		uint64_t at_ms;      /* the last refusal logged, when logged is set */
		unsigned suppressed; /* refusals not logged since */
		bool logged;
	} log[SW_GUARD_EV_COUNT];
};

struct exempt {
	uint8_t family;
	uint8_t addr[16];
	unsigned bits;
};

struct sw_guard {
	struct sw_guard_limits lim;
	struct exempt *exempt;
	size_t n_exempt;
	GHashTable *entries; /* struct guard_key * -> struct entry * (key inside) */
	uint64_t swept_ms;
	struct sw_guard_stats stats;
};

static guint key_hash(gconstpointer p)
{
	const struct guard_key *k = p;
	guint h = 2166136261u ^ k->family;
	for (size_t i = 0; i < sizeof k->addr; i++)
		h = (h ^ k->addr[i]) * 16777619u;
	return h;
}

static gboolean key_equal(gconstpointer a, gconstpointer b)
{
	return memcmp(a, b, sizeof(struct guard_key)) == 0;
}

/* ::ffff:a.b.c.d, by its bytes (they need not be aligned). */
static bool v4_mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(a, prefix, sizeof prefix) == 0;
}

/* The address as (family, bytes), IPv4-mapped IPv6 taken as IPv4. */
static bool addr_bytes(const struct sockaddr *sa, uint8_t *family, uint8_t out[16])
{
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		*family = AF_INET;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (v4_mapped(a6->s6_addr)) {
			memcpy(out, a6->s6_addr + 12, 4);
			*family = AF_INET;
		} else {
			memcpy(out, a6->s6_addr, 16);
			*family = AF_INET6;
		}
		return true;
	}
	return false;
}

static bool key_of(const struct sockaddr *sa, struct guard_key *k)
{
	uint8_t b[16];
	memset(k, 0, sizeof *k);
	if (!addr_bytes(sa, &k->family, b))
		return false;
	memcpy(k->addr, b, k->family == AF_INET ? 4 : 8);
	return true;
}

static bool parse_prefix(const char *s, struct exempt *e)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	memset(e, 0, sizeof *e);
	unsigned max;
	if (inet_pton(AF_INET, buf, e->addr) == 1) {
		e->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, e->addr) == 1) {
		e->family = AF_INET6;
		max = 128;
		if (v4_mapped(e->addr)) {
			memmove(e->addr, e->addr + 12, 4);
			memset(e->addr + 4, 0, 12);
			e->family = AF_INET;
			max = 32;
		}
	} else {
		return false;
	}
	e->bits = max;
	if (slash) {
		char *end;
		unsigned long v = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || v > max)
			return false;
		e->bits = (unsigned)v;
	}
	return true;
}

static bool prefix_match(const struct exempt *e, uint8_t family, const uint8_t *addr)
{
	if (e->family != family)
		return false;
	unsigned bits = e->bits;
	for (size_t i = 0; bits; i++) {
		unsigned take = bits >= 8 ? 8 : bits;
		uint8_t mask = (uint8_t)(0xff00u >> take);
		if ((e->addr[i] & mask) != (addr[i] & mask))
			return false;
		bits -= take;
	}
	return true;
}

bool sw_guard_exempt(const struct sw_guard *g, const struct sockaddr *addr)
{
	uint8_t family, b[16];
	if (!addr_bytes(addr, &family, b))
		return true; /* not an IP address: nothing to key it by */
	for (size_t i = 0; i < g->n_exempt; i++)
		if (prefix_match(&g->exempt[i], family, b))
			return true;
	return false;
}

int sw_guard_new(struct sw_guard **out, const struct sw_guard_limits *limits)
{
	*out = NULL;
	struct sw_guard *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	g->lim = *limits;
	g->lim.exempt = NULL;
	g->lim.n_exempt = 0;
	if (!g->lim.max_entries)
		g->lim.max_entries = DEFAULT_MAX_ENTRIES;
	if (limits->n_exempt) {
		g->exempt = calloc(limits->n_exempt, sizeof *g->exempt);
		if (!g->exempt) {
			free(g);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < limits->n_exempt; i++) {
		if (!parse_prefix(limits->exempt[i], &g->exempt[i])) {
			free(g->exempt);
			free(g);
			return -EINVAL;
		}
	}
	g->n_exempt = limits->n_exempt;
	g->entries = g_hash_table_new_full(key_hash, key_equal, NULL, free);
	*out = g;
	return 0;
}

void sw_guard_free(struct sw_guard *g)
{
	if (!g)
		return;
	g_hash_table_destroy(g->entries);
	free(g->exempt);
	free(g);
}

static gboolean entry_idle(gpointer k, gpointer v, gpointer data)
{
	const struct entry *e = v;
	uint64_t now = *(const uint64_t *)data;
	return e->open == 0 && now - e->last_ms >= IDLE_MS;
}

static void sweep(struct sw_guard *g, uint64_t now_ms)
{
	g->swept_ms = now_ms;
	g_hash_table_foreach_remove(g->entries, entry_idle, &now_ms);
}

static void bucket_fill(struct bucket *b, unsigned rate, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)rate * BURST_SECONDS * TOKEN;
	if (now_ms > b->at_ms) {
		uint64_t add = (now_ms - b->at_ms) * rate; /* thousandths */
		b->tokens = b->tokens + add > cap ? cap : b->tokens + add;
	}
	b->at_ms = now_ms;
}

static bool bucket_take(struct bucket *b, unsigned rate, uint64_t now_ms)
{
	bucket_fill(b, rate, now_ms);
	if (b->tokens < TOKEN)
		return false;
	b->tokens -= TOKEN;
	return true;
}

/* The entry of addr, made when create is set; NULL for exempt addresses and
 * when the table is full. */
static struct entry *entry_get(struct sw_guard *g, const struct sockaddr *addr, uint64_t now_ms,
                               bool create)
{
	struct guard_key k;
	if (sw_guard_exempt(g, addr) || !key_of(addr, &k))
		return NULL;
	if (now_ms - g->swept_ms >= SWEEP_EVERY_MS)
		sweep(g, now_ms);
	struct entry *e = g_hash_table_lookup(g->entries, &k);
	if (e || !create)
		return e;
	if (g_hash_table_size(g->entries) >= g->lim.max_entries) {
		sweep(g, now_ms);
		if (g_hash_table_size(g->entries) >= g->lim.max_entries)
			return NULL;
	}
	e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->key = k;
	/* A new address starts with full buckets. */
	e->conn.tokens = (uint64_t)g->lim.conn_rate * BURST_SECONDS * TOKEN;
	e->req.tokens = (uint64_t)g->lim.request_rate * BURST_SECONDS * TOKEN;
	e->conn.at_ms = e->req.at_ms = now_ms;
	g_hash_table_insert(g->entries, &e->key, e);
	return e;
}

enum sw_guard_verdict sw_guard_connect(struct sw_guard *g, const struct sockaddr *addr,
                                       uint64_t now_ms)
{
	if (!g->lim.conn_rate)
		return SW_GUARD_PASS;
	struct entry *e = entry_get(g, addr, now_ms, true);
	if (!e)
		return SW_GUARD_PASS;
	e->last_ms = now_ms;
	if (bucket_take(&e->conn, g->lim.conn_rate, now_ms))
		return SW_GUARD_PASS;
	g->stats.connects_refused++;
	return SW_GUARD_RATE;
}

enum sw_guard_verdict sw_guard_open(struct sw_guard *g, const struct sockaddr *addr,
                                    uint64_t now_ms)
{
	if (!g->lim.max_conns)
		return SW_GUARD_PASS;
	struct entry *e = entry_get(g, addr, now_ms, true);
	if (!e)
		return SW_GUARD_PASS;
	e->last_ms = now_ms;
	if (e->open >= g->lim.max_conns) {
		g->stats.opens_refused++;
		return SW_GUARD_TOO_MANY;
	}
	e->open++;
	return SW_GUARD_PASS;
}

void sw_guard_close(struct sw_guard *g, const struct sockaddr *addr, uint64_t now_ms)
{
	if (!g->lim.max_conns)
		return;
	struct entry *e = entry_get(g, addr, now_ms, false);
	/* An open that was not counted (exempt, or the table was full) has no
	 * entry, or one made later: never go below zero. */
	if (e && e->open) {
		e->open--;
		e->last_ms = now_ms;
	}
}

enum sw_guard_verdict sw_guard_request(struct sw_guard *g, const struct sockaddr *addr,
                                       uint64_t now_ms)
{
	if (!g->lim.request_rate)
		return SW_GUARD_PASS;
	struct entry *e = entry_get(g, addr, now_ms, true);
	if (!e)
		return SW_GUARD_PASS;
	e->last_ms = now_ms;
	if (bucket_take(&e->req, g->lim.request_rate, now_ms))
		return SW_GUARD_PASS;
	g->stats.requests_refused++;
	return SW_GUARD_RATE;
}

bool sw_guard_log_ok(struct sw_guard *g, const struct sockaddr *addr, enum sw_guard_event ev,
                     uint64_t now_ms, unsigned *suppressed)
{
	*suppressed = 0;
	struct entry *e = entry_get(g, addr, now_ms, false);
	if (!e || (unsigned)ev >= SW_GUARD_EV_COUNT)
		return true;
	if (e->log[ev].logged && now_ms - e->log[ev].at_ms < 1000) {
		e->log[ev].suppressed++;
		return false;
	}
	*suppressed = e->log[ev].suppressed;
	e->log[ev].suppressed = 0;
	e->log[ev].at_ms = now_ms;
	e->log[ev].logged = true;
	return true;
}

void sw_guard_stats(const struct sw_guard *g, struct sw_guard_stats *out)
{
	*out = g->stats;
	out->entries = g_hash_table_size(g->entries);
}
