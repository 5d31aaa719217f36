/* sip_registrar.c — local registrar and location service. See sip_registrar.h.
 *
 * Three indexes over one set of bindings, so that no request, tick or closed
 * connection walks the whole set:
 *  - AORs in a hash table; each AOR keeps its few bindings in a list;
 *  - bindings in a hash table on their flow pointer (intrusive, doubly linked
 *    chains), so flow_closed visits one bucket;
 *  - a binary min-heap on expiry time for tick.
 * Failed authentications are counted per source in a bounded table whose
 * entries also sit in a FIFO: every window has the same length, so the oldest
 * entry always ends first and expiry pops the head. */
#include "sip/sip_registrar.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MIN_EXPIRES    60u
#define DEFAULT_MAX_EXPIRES    3600u
#define DEFAULT_EXPIRES        600u
#define DEFAULT_NONCE_LIFETIME 300u
#define DEFAULT_FLOW_TIMER     120u
#define DEFAULT_MAX_FAILURES   5u
#define DEFAULT_WINDOW_S       60u
#define DEFAULT_MAX_BINDINGS   16u
#define MAX_CONTACTS_PER_REQ   16
#define MAX_USER_LEN           128
#define MAX_HOST_LEN           255
#define MAX_AOR_KEY            (MAX_USER_LEN + 1 + MAX_HOST_LEN)
#define MAX_CONTACT_LEN        1024
#define MAX_CALLID_LEN         256
#define MAX_INSTANCE_LEN       256
#define MAX_DIGEST_URI_LEN     1024
#define MAX_REALM_LEN          255
#define FAIL_BUCKETS           4096u
#define FAIL_MAX_ENTRIES       16384u
#define FAIL_KEY_MAX           64
#define INITIAL_BUCKETS        64u

struct aor;

struct binding {
	struct binding *aor_next;
	struct aor *aor;
	struct binding *flow_next;   /* chain of the flow table's bucket */
	struct binding **flow_pprev; /* the pointer that points at this one */
	void *flow;
	uint64_t flow_id;
	uint64_t expires_ms;
	char *text; /* contact URI, Call-ID, instance, back to back, no NULs */
	uint32_t heap_idx;
	uint32_t cseq;
	uint32_t reg_id;
	uint16_t q;
	uint16_t contact_len, callid_len, instance_len, text_cap;
	bool has_reg_id, has_q;
};

struct aor {
	struct aor *hnext;
	uint64_t hash;
	struct binding *bindings;
	uint16_t nbind;
	uint16_t keylen;
	char key[]; /* "user@host", user unescaped, host lowercase */
};

struct fail {
	struct fail *hnext;
	struct fail *fifo_next;
	uint64_t start_ms;
	uint32_t count;
	uint32_t bucket;
	uint8_t keylen;
	char key[FAIL_KEY_MAX];
};

struct sip_registrar {
	struct sip_registrar_config cfg;
	uint64_t auth_failures, auth_refused; /* for sip_registrar_auth_counts */
	char realm[MAX_REALM_LEN + 1];
	struct sip_auth_server *auth;
	uint64_t seed;

	struct aor **aor_tab;
	size_t aor_mask, naor;

	struct binding **flow_tab;
	size_t flow_mask;

	struct binding **heap; /* also the count of bindings: nheap */
	size_t nheap, heap_cap;

	struct fail *fail_tab[FAIL_BUCKETS];
	struct fail *fifo_head, *fifo_tail;
	size_t nfail;
};

/* ---- logging ---- */

__attribute__((format(printf, 2, 3))) static void reg_log(const struct sip_registrar *reg,
                                                          const char *fmt, ...)
{
	if (!reg->cfg.on_log)
		return;
	char line[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	reg->cfg.on_log(reg->cfg.log_arg, line);
}

/* Network text made fit for a log line: at most 96 bytes, control bytes
 * (a CRLF fold in a quoted user name, %0A in a To user) shown as '?', so a
 * client cannot forge log lines. */
struct logtext {
	char s[97];
};
static struct logtext lt(sip_pl v)
{
	struct logtext t;
	size_t n = v.l < sizeof(t.s) - 1 ? v.l : sizeof(t.s) - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v.p[i];
		t.s[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	t.s[n] = '\0';
	return t;
}

/* ---- hashing ---- */

static uint64_t hash_bytes(uint64_t seed, const char *p, size_t len)
{
	uint64_t h = 14695981039346656037ull ^ seed;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t hash_ptr(uint64_t seed, const void *ptr)
{
	/* splitmix64 finaliser: pointers differ in few, low bits */
	uint64_t x = (uint64_t)(uintptr_t)ptr ^ seed;
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* ---- the expiry heap ---- */

static void heap_set(struct sip_registrar *reg, size_t i, struct binding *b)
{
	reg->heap[i] = b;
	b->heap_idx = (uint32_t)i;
}

static void heap_up(struct sip_registrar *reg, size_t i)
{
	struct binding *b = reg->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (reg->heap[parent]->expires_ms <= b->expires_ms)
			break;
		heap_set(reg, i, reg->heap[parent]);
		i = parent;
	}
	heap_set(reg, i, b);
}

static void heap_down(struct sip_registrar *reg, size_t i)
{
	struct binding *b = reg->heap[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= reg->nheap)
			break;
		if (child + 1 < reg->nheap &&
		    reg->heap[child + 1]->expires_ms < reg->heap[child]->expires_ms)
			child++;
		if (reg->heap[child]->expires_ms >= b->expires_ms)
			break;
		heap_set(reg, i, reg->heap[child]);
		i = child;
	}
	heap_set(reg, i, b);
}

static int heap_push(struct sip_registrar *reg, struct binding *b)
{
	if (reg->nheap == reg->heap_cap) {
		size_t cap = reg->heap_cap ? reg->heap_cap * 2 : INITIAL_BUCKETS;
		struct binding **h = realloc(reg->heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		reg->heap = h;
		reg->heap_cap = cap;
	}
	heap_set(reg, reg->nheap++, b);
	heap_up(reg, reg->nheap - 1);
	return 0;
}

static void heap_remove(struct sip_registrar *reg, struct binding *b)
{
	size_t i = b->heap_idx;
	struct binding *last = reg->heap[--reg->nheap];
	if (i == reg->nheap)
		return;
	heap_set(reg, i, last);
	heap_up(reg, i);
	heap_down(reg, last->heap_idx);
}

/* The binding's expiry changed. */
static void heap_fix(struct sip_registrar *reg, struct binding *b)
{
	heap_up(reg, b->heap_idx);
	heap_down(reg, b->heap_idx);
}

/* ---- the flow table ---- */

static void flow_link(struct sip_registrar *reg, struct binding *b)
{
	struct binding **head = &reg->flow_tab[hash_ptr(reg->seed, b->flow) & reg->flow_mask];
	b->flow_next = *head;
	if (*head)
		(*head)->flow_pprev = &b->flow_next;
	*head = b;
	b->flow_pprev = head;
}

static void flow_unlink(struct binding *b)
{
	*b->flow_pprev = b->flow_next;
	if (b->flow_next)
		b->flow_next->flow_pprev = b->flow_pprev;
	b->flow_next = NULL;
	b->flow_pprev = NULL;
}

/* Keep about one bucket per binding. On failure the old table stays. */
static void flow_grow(struct sip_registrar *reg)
{
	size_t n = (reg->flow_mask + 1) * 2;
	struct binding **tab = calloc(n, sizeof(*tab));
	if (!tab)
		return;
	struct binding **old = reg->flow_tab;
	size_t old_n = reg->flow_mask + 1;
	reg->flow_tab = tab;
	reg->flow_mask = n - 1;
	for (size_t i = 0; i < old_n; i++) {
		struct binding *b = old[i];
		while (b) {
			struct binding *next = b->flow_next;
			flow_link(reg, b);
			b = next;
		}
	}
	free(old);
}

/* ---- AORs ---- */

static struct aor *aor_find(const struct sip_registrar *reg, const char *key, size_t len,
                            uint64_t hash)
{
	for (struct aor *a = reg->aor_tab[hash & reg->aor_mask]; a; a = a->hnext)
		if (a->hash == hash && a->keylen == len && !memcmp(a->key, key, len))
			return a;
	return NULL;
}

static void aor_grow(struct sip_registrar *reg)
{
	size_t n = (reg->aor_mask + 1) * 2;
	struct aor **tab = calloc(n, sizeof(*tab));
	if (!tab)
		return;
	for (size_t i = 0; i <= reg->aor_mask; i++) {
		struct aor *a = reg->aor_tab[i];
		while (a) {
			struct aor *next = a->hnext;
			a->hnext = tab[a->hash & (n - 1)];
			tab[a->hash & (n - 1)] = a;
			a = next;
		}
	}
	free(reg->aor_tab);
	reg->aor_tab = tab;
	reg->aor_mask = n - 1;
}

static struct aor *aor_create(struct sip_registrar *reg, const char *key, size_t len, uint64_t hash)
{
	struct aor *a = malloc(sizeof(*a) + len);
	if (!a)
		return NULL;
	a->hash = hash;
	a->bindings = NULL;
	a->nbind = 0;
	a->keylen = (uint16_t)len;
	memcpy(a->key, key, len);
	if (reg->naor >= reg->aor_mask + 1)
		aor_grow(reg);
	struct aor **head = &reg->aor_tab[hash & reg->aor_mask];
	a->hnext = *head;
	*head = a;
	reg->naor++;
	return a;
}

static void aor_destroy(struct sip_registrar *reg, struct aor *a)
{
	struct aor **pp = &reg->aor_tab[a->hash & reg->aor_mask];
	while (*pp != a)
		pp = &(*pp)->hnext;
	*pp = a->hnext;
	reg->naor--;
	free(a);
}

/* "user@host" with the user unescaped and the host lowercased: the form of
 * AOR that RFC 3261 §10.3 compares (user case-sensitive, host not). Returns
 * the length, or -EINVAL for a user or host that cannot be an AOR's. */
static int aor_key(const struct sip_registrar *reg, sip_pl user, sip_pl host, char *key,
                   size_t *user_len)
{
	if (reg->cfg.single_domain)
		host = SIP_PL("");
	else if (host.l == 0)
		return -EINVAL;
	if (user.l == 0 || host.l > MAX_HOST_LEN || user.l > 3 * MAX_USER_LEN)
		return -EINVAL;
	char ubuf[3 * MAX_USER_LEN + 1];
	int ulen = sip_uri_unescape(user, ubuf, sizeof(ubuf));
	if (ulen <= 0 || ulen > MAX_USER_LEN)
		return -EINVAL;
	memcpy(key, ubuf, (size_t)ulen);
	if (user_len)
		*user_len = (size_t)ulen;
	key[ulen] = '@';
	for (size_t i = 0; i < host.l; i++)
		key[(size_t)ulen + 1 + i] = (char)sip_tolower((unsigned char)host.p[i]);
	return ulen + 1 + (int)host.l;
}

/* ---- bindings ---- */

static sip_pl b_contact(const struct binding *b)
{
	return (sip_pl){b->text, b->contact_len};
}
static sip_pl b_callid(const struct binding *b)
{
	return (sip_pl){b->text + b->contact_len, b->callid_len};
}
static sip_pl b_instance(const struct binding *b)
{
	if (!b->instance_len)
		return SIP_PL_NULL;
	return (sip_pl){b->text + b->contact_len + b->callid_len, b->instance_len};
}

static void binding_destroy(struct sip_registrar *reg, struct binding *b)
{
	struct aor *a = b->aor;
	struct binding **pp = &a->bindings;
	while (*pp != b)
		pp = &(*pp)->aor_next;
	*pp = b->aor_next;
	a->nbind--;
	flow_unlink(b);
	heap_remove(reg, b);
	free(b->text);
	free(b);
	if (!a->nbind)
		aor_destroy(reg, a);
}

/* Store the texts, reusing the buffer when they fit. */
static int binding_set_text(struct binding *b, sip_pl contact, sip_pl callid, sip_pl instance)
{
	size_t need = contact.l + callid.l + instance.l;
	if (need > b->text_cap || !b->text) {
		char *t = realloc(b->text, need ? need : 1);
		if (!t)
			return -ENOMEM;
		b->text = t;
		b->text_cap = (uint16_t)need;
	}
	/* the new texts never point into the old buffer: they are views of the
	 * request */
	memcpy(b->text, contact.p, contact.l);
	if (callid.l)
		memcpy(b->text + contact.l, callid.p, callid.l);
	if (instance.l)
		memcpy(b->text + contact.l + callid.l, instance.p, instance.l);
	b->contact_len = (uint16_t)contact.l;
	b->callid_len = (uint16_t)callid.l;
	b->instance_len = (uint16_t)instance.l;
	return 0;
}

static bool contact_is_outbound(const struct sip_contact *c, bool supported_outbound)
{
	return supported_outbound && c->instance.l && c->has_reg_id;
}

static bool same_uri(const struct binding *b, const struct sip_contact *c)
{
	sip_pl stored = b_contact(b);
	if (sip_pl_eq(stored, c->addr.uri_text))
		return true;
	if (!c->addr.uri.scheme)
		return false; /* another scheme: compared as text only */
	struct sip_uri u;
	if (sip_uri_parse(stored, &u) != 0)
		return false;
	return sip_uri_equal(&u, &c->addr.uri);
}

/* The binding this Contact refreshes, moves or removes (RFC 3261 §10.3 step 7,
 * RFC 5626 §6): an outbound Contact is identified by (+sip.instance, reg-id);
 * otherwise the same +sip.instance is the same user agent (a browser that
 * reconnected keeps it while its connection, and perhaps its Contact host,
 * changed); otherwise the Contact URI decides. Two outbound flows of one
 * instance (different reg-ids) stay two bindings. */
static struct binding *binding_find(const struct aor *a, const struct sip_contact *c, bool ob)
{
	if (!a)
		return NULL;
	if (ob)
		for (struct binding *b = a->bindings; b; b = b->aor_next)
			if (b->has_reg_id && b->reg_id == c->reg_id &&
			    sip_pl_eq(b_instance(b), c->instance))
				return b;
	if (c->instance.l)
		for (struct binding *b = a->bindings; b; b = b->aor_next)
			if (!(ob && b->has_reg_id) && sip_pl_eq(b_instance(b), c->instance))
				return b;
	for (struct binding *b = a->bindings; b; b = b->aor_next)
		if (!(ob && b->has_reg_id) && same_uri(b, c))
			return b;
	return NULL;
}

/* ---- failed authentication limit ---- */

static void fail_drop_head(struct sip_registrar *reg)
{
	struct fail *f = reg->fifo_head;
	reg->fifo_head = f->fifo_next;
	if (!reg->fifo_head)
		reg->fifo_tail = NULL;
	struct fail **pp = &reg->fail_tab[f->bucket];
	while (*pp != f)
		pp = &(*pp)->hnext;
	*pp = f->hnext;
	reg->nfail--;
	free(f);
}

static uint64_t window_ms(const struct sip_registrar *reg)
{
	return (uint64_t)reg->cfg.window_s * 1000u;
}

static void fail_expire(struct sip_registrar *reg, uint64_t now_ms)
{
	while (reg->fifo_head && reg->fifo_head->start_ms + window_ms(reg) <= now_ms)
		fail_drop_head(reg);
}

static sip_pl fail_key(sip_pl source)
{
	/* longer keys than an address are cut: still a stable key */
	if (source.l > FAIL_KEY_MAX)
		source.l = FAIL_KEY_MAX;
	return source;
}

static struct fail *fail_find(struct sip_registrar *reg, sip_pl key, uint32_t bucket)
{
	for (struct fail *f = reg->fail_tab[bucket]; f; f = f->hnext)
		if (f->keylen == key.l && !memcmp(f->key, key.p, key.l))
			return f;
	return NULL;
}

static uint32_t fail_bucket(const struct sip_registrar *reg, sip_pl key)
{
	return (uint32_t)(hash_bytes(reg->seed, key.p, key.l) & (FAIL_BUCKETS - 1));
}

static bool source_blocked(struct sip_registrar *reg, sip_pl source, uint64_t now_ms)
{
	if (!source.l)
		return false;
	fail_expire(reg, now_ms);
	sip_pl key = fail_key(source);
	struct fail *f = fail_find(reg, key, fail_bucket(reg, key));
	return f && f->count >= reg->cfg.max_failures;
}

/* Count one failure; returns true when the source just became blocked. */
static bool fail_record(struct sip_registrar *reg, sip_pl source, uint64_t now_ms)
{
	reg->auth_failures++;
	if (!source.l)
		return false;
	fail_expire(reg, now_ms);
	sip_pl key = fail_key(source);
	uint32_t bucket = fail_bucket(reg, key);
	struct fail *f = fail_find(reg, key, bucket);
	if (!f) {
		if (reg->nfail >= FAIL_MAX_ENTRIES)
			fail_drop_head(reg); /* bounded memory: forget the oldest */
		f = malloc(sizeof(*f));
		if (!f)
			return false;
		f->start_ms = now_ms;
		f->count = 0;
		f->bucket = bucket;
		f->keylen = (uint8_t)key.l;
		memcpy(f->key, key.p, key.l);
		f->hnext = reg->fail_tab[bucket];
		reg->fail_tab[bucket] = f;
		f->fifo_next = NULL;
		if (reg->fifo_tail)
			reg->fifo_tail->fifo_next = f;
		else
			reg->fifo_head = f;
		reg->fifo_tail = f;
		reg->nfail++;
	}
	if (f->count < UINT32_MAX)
		f->count++;
	return f->count == reg->cfg.max_failures;
}

/* ---- lifecycle ---- */

static bool algorithm_allowed(enum sip_auth_algorithm alg)
{
	return alg == SIP_AUTH_ALG_MD5 || alg == SIP_AUTH_ALG_MD5_SESS ||
	       alg == SIP_AUTH_ALG_SHA256 || alg == SIP_AUTH_ALG_SHA256_SESS;
}

int sip_registrar_new(struct sip_registrar **out, const struct sip_registrar_config *cfg)
{
	if (!out || !cfg || !cfg->lookup_user || !cfg->realm.l || cfg->realm.l > MAX_REALM_LEN ||
	    cfg->n_algorithms > SIP_REGISTRAR_MAX_ALGORITHMS)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->n_algorithms; i++)
		if (!algorithm_allowed(cfg->algorithms[i]))
			return -EINVAL;
	*out = NULL;
	struct sip_registrar *reg = calloc(1, sizeof(*reg));
	if (!reg)
		return -ENOMEM;
	reg->cfg = *cfg;
	struct sip_registrar_config *c = &reg->cfg;
	memcpy(reg->realm, cfg->realm.p, cfg->realm.l);
	c->realm = (sip_pl){reg->realm, cfg->realm.l};
	c->secret = NULL; /* not kept: the auth server has its own copy */
	if (!c->n_algorithms) {
		c->algorithms[0] = SIP_AUTH_ALG_MD5;
		c->n_algorithms = 1;
	}
	if (!c->min_expires)
		c->min_expires = DEFAULT_MIN_EXPIRES;
	if (!c->max_expires)
		c->max_expires = DEFAULT_MAX_EXPIRES;
	if (!c->default_expires)
		c->default_expires = DEFAULT_EXPIRES;
	if (!c->nonce_lifetime)
		c->nonce_lifetime = DEFAULT_NONCE_LIFETIME;
	if (!c->flow_timer)
		c->flow_timer = DEFAULT_FLOW_TIMER;
	if (!c->max_failures)
		c->max_failures = DEFAULT_MAX_FAILURES;
	if (!c->window_s)
		c->window_s = DEFAULT_WINDOW_S;
	if (!c->max_bindings_per_aor)
		c->max_bindings_per_aor = DEFAULT_MAX_BINDINGS;
	if (c->max_bindings_per_aor > UINT16_MAX)
		c->max_bindings_per_aor = UINT16_MAX;
	int err = -EINVAL;
	if (c->min_expires > c->max_expires)
		goto out;
	if (c->default_expires > c->max_expires)
		c->default_expires = c->max_expires;
	if (c->default_expires < c->min_expires)
		c->default_expires = c->min_expires;
	err = sip_auth_server_new(&reg->auth, c->realm, cfg->secret, cfg->secret_len,
	                          c->nonce_lifetime);
	if (err)
		goto out;
	err = -EIO;
	if (RAND_bytes((unsigned char *)&reg->seed, sizeof(reg->seed)) != 1)
		goto out;
	err = -ENOMEM;
	reg->aor_tab = calloc(INITIAL_BUCKETS, sizeof(*reg->aor_tab));
	reg->flow_tab = calloc(INITIAL_BUCKETS, sizeof(*reg->flow_tab));
	if (!reg->aor_tab || !reg->flow_tab)
		goto out;
	reg->aor_mask = reg->flow_mask = INITIAL_BUCKETS - 1;
	*out = reg;
	return 0;
out:
	sip_registrar_free(reg);
	return err;
}

void sip_registrar_free(struct sip_registrar *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->nheap; i++) {
		free(reg->heap[i]->text);
		free(reg->heap[i]);
	}
	free(reg->heap);
	if (reg->aor_tab)
		for (size_t i = 0; i <= reg->aor_mask; i++)
			while (reg->aor_tab[i]) {
				struct aor *a = reg->aor_tab[i];
				reg->aor_tab[i] = a->hnext;
				free(a);
			}
	free(reg->aor_tab);
	free(reg->flow_tab);
	while (reg->fifo_head)
		fail_drop_head(reg);
	sip_auth_server_free(reg->auth);
	free(reg);
}

/* ---- responses ---- */

/* The To tag: derived from the Call-ID, so a retransmitted REGISTER that
 * reaches us again gets the same tag, and unguessable from outside. */
static void to_tag_of(const struct sip_registrar *reg, sip_pl call_id, char tag[17])
{
	uint64_t h = hash_bytes(reg->seed ^ 0x746167u, call_id.p, call_id.l);
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++)
		tag[i] = hex[(h >> (60 - 4 * i)) & 15];
	tag[16] = '\0';
}

static int respond_start(const struct sip_registrar *reg, struct sip_buf *out,
                         const struct sip_msg *m, int status, const char *reason)
{
	char tag[17];
	to_tag_of(reg, sip_msg_call_id(m), tag);
	return sip_build_response(out, m, status, reason, (sip_pl){tag, 16});
}

static int respond_simple(const struct sip_registrar *reg, struct sip_buf *out,
                          const struct sip_msg *m, int status, const char *reason)
{
	respond_start(reg, out, m, status, reason);
	sip_build_body(out, NULL, SIP_PL_NULL);
	return out->error ? out->error : status;
}

static int respond_challenge(const struct sip_registrar *reg, struct sip_buf *out,
                             const struct sip_msg *m, uint64_t now_ms, bool stale)
{
	respond_start(reg, out, m, 401, NULL);
	for (unsigned i = 0; i < reg->cfg.n_algorithms; i++) {
		char ch[512];
		int n = sip_auth_server_challenge(reg->auth, now_ms / 1000, reg->cfg.algorithms[i],
		                                  SIP_AUTH_QOP_AUTH, stale, ch, sizeof(ch));
		if (n < 0)
			return n;
		sip_build_header(out, "WWW-Authenticate", (sip_pl){ch, (size_t)n});
	}
	sip_build_body(out, NULL, SIP_PL_NULL);
	return out->error ? out->error : 401;
}

static void append_binding_contact(struct sip_buf *out, const struct binding *b, uint64_t now_ms)
{
	uint64_t left = (b->expires_ms - now_ms + 999) / 1000;
	sip_buf_append(out, "Contact: <", 10);
	sip_buf_append_pl(out, b_contact(b));
	sip_buf_printf(out, ">;expires=%llu", (unsigned long long)left);
	if (b->has_q)
		sip_buf_printf(out, ";q=%u.%03u", b->q / 1000u, b->q % 1000u);
	if (b->instance_len) {
		sip_buf_append(out, ";+sip.instance=\"", 16);
		sip_buf_append_pl(out, b_instance(b));
		sip_buf_append(out, "\"", 1);
	}
	if (b->has_reg_id)
		sip_buf_printf(out, ";reg-id=%u", b->reg_id);
	sip_buf_append(out, "\r\n", 2);
}

static int respond_ok(const struct sip_registrar *reg, struct sip_buf *out, const struct sip_msg *m,
                      const struct aor *a, bool outbound, uint64_t now_ms)
{
	respond_start(reg, out, m, 200, NULL);
	if (a)
		for (const struct binding *b = a->bindings; b; b = b->aor_next)
			if (b->expires_ms > now_ms)
				append_binding_contact(out, b, now_ms);
	if (outbound) {
		sip_build_header(out, "Require", SIP_PL("outbound"));
		sip_build_header_fmt(out, "Flow-Timer", "%u", reg->cfg.flow_timer);
	}
	sip_build_header(out, "Supported", SIP_PL("outbound, path"));
	sip_build_body(out, NULL, SIP_PL_NULL);
	return out->error ? out->error : 200;
}

/* ---- REGISTER ---- */

enum auth_verdict {
	AUTH_PASSED,
	AUTH_CHALLENGE,    /* no credentials for our realm */
	AUTH_STALE,        /* right answer to an old nonce */
	AUTH_FAILED,       /* counts toward the limit */
	AUTH_MALFORMED,    /* 400 */
	AUTH_URI_MISMATCH, /* 400 */
};

static enum sip_auth_algorithm base_algorithm(enum sip_auth_algorithm alg)
{
	if (alg == SIP_AUTH_ALG_MD5_SESS)
		return SIP_AUTH_ALG_MD5;
	if (alg == SIP_AUTH_ALG_SHA256_SESS)
		return SIP_AUTH_ALG_SHA256;
	return alg;
}

/* Check the request's credentials; on AUTH_PASSED user holds the
 * authenticated user name (plain text). why names a failure for the log. */
static enum auth_verdict authenticate(const struct sip_registrar *reg, const struct sip_msg *m,
                                      uint64_t now_ms, char *user, size_t user_size,
                                      sip_pl *user_out, const char **why)
{
	struct sip_auth_credentials cred;
	bool found = false;
	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_AUTHORIZATION); h;
	     h = sip_msg_hdr_next(m, h)) {
		int err = sip_auth_credentials_parse(h->value, &cred);
		if (err == -ENOTSUP)
			continue;
		if (err) {
			*why = "malformed Authorization";
			return AUTH_MALFORMED;
		}
		if (sip_auth_value_eq(cred.realm, reg->cfg.realm)) {
			found = true;
			break;
		}
	}
	if (!found)
		return AUTH_CHALLENGE;

	int ulen = sip_unquote(cred.username, user, user_size - 1);
	if (ulen <= 0) {
		*why = "bad user name";
		return AUTH_FAILED;
	}
	user[ulen] = '\0';
	*user_out = (sip_pl){user, (size_t)ulen};

	/* an unknown user is verified against a HA1 that matches nothing, so
	 * the answer and its cost are those of a wrong password */
	static const char no_ha1[SIP_AUTH_HEX_MAX] =
	    "0000000000000000000000000000000000000000000000000000000000000000";
	char ha1[SIP_AUTH_HEX_MAX + 1];
	sip_pl ha1_pl = {no_ha1, sip_auth_hex_len(cred.algorithm)};
	bool known = false;
	if (cred.algorithm != SIP_AUTH_ALG_UNKNOWN &&
	    reg->cfg.lookup_user(reg->cfg.lookup_arg, *user_out, base_algorithm(cred.algorithm),
	                         ha1, sizeof(ha1)) == 0) {
		ha1[SIP_AUTH_HEX_MAX] = '\0';
		ha1_pl = sip_pl_from_cstr(ha1);
		known = true;
	}
	enum sip_auth_result r = sip_auth_server_verify(
	    reg->auth, now_ms / 1000, &cred, sip_msg_method_name(m), sip_msg_body(m), ha1_pl);
	if (r == SIP_AUTH_STALE_NONCE && known)
		return AUTH_STALE;
	if (r != SIP_AUTH_OK || !known) {
		*why = known ? sip_auth_result_str(r) : "unknown user";
		return AUTH_FAILED;
	}

	/* the answer covers the uri it names: it must be this request's */
	sip_pl ruri = sip_msg_ruri(m);
	if (!sip_auth_value_eq(cred.uri, ruri)) {
		char ubuf[MAX_DIGEST_URI_LEN];
		int n = sip_unquote(cred.uri, ubuf, sizeof(ubuf));
		struct sip_uri u;
		const struct sip_uri *r_parsed = sip_msg_ruri_parsed(m);
		if (n <= 0 || !r_parsed || sip_uri_parse((sip_pl){ubuf, (size_t)n}, &u) != 0 ||
		    !sip_uri_equal(&u, r_parsed)) {
			*why = "digest uri is not the Request-URI";
			return AUTH_URI_MISMATCH;
		}
	}
	return AUTH_PASSED;
}

struct parsed_contacts {
	struct sip_contact c[MAX_CONTACTS_PER_REQ];
	uint32_t expires[MAX_CONTACTS_PER_REQ];
	bool ob[MAX_CONTACTS_PER_REQ];
	unsigned n;
	bool star;
};

/* Parse every Contact and its expiry. Returns 0 or the status to answer with
 * (400, 423) and its reason. */
static int parse_contacts(const struct sip_registrar *reg, const struct sip_msg *m,
                          struct parsed_contacts *pc, const char **reason)
{
	bool has_expires_hdr = false;
	uint32_t expires_hdr = 0;
	const struct sip_hdr *eh = sip_msg_hdr(m, SIP_HDR_EXPIRES);
	if (eh) {
		if (sip_uint_parse(eh->value, UINT32_MAX, &expires_hdr) != 0) {
			*reason = "Bad Expires";
			return 400;
		}
		has_expires_hdr = true;
	}
	bool supported_ob = sip_msg_has_option(m, SIP_HDR_SUPPORTED, "outbound");
	struct sip_value_iter it = {0};
	sip_pl v;
	pc->n = 0;
	pc->star = false;
	while (sip_msg_value_next(m, SIP_HDR_CONTACT, &it, &v)) {
		if (pc->n == MAX_CONTACTS_PER_REQ) {
			*reason = "Too Many Contacts";
			return 400;
		}
		struct sip_contact *c = &pc->c[pc->n];
		if (sip_contact_parse(v, c) != 0) {
			*reason = "Bad Contact";
			return 400;
		}
		if (c->star) {
			pc->star = true;
		} else if (c->addr.uri_text.l > MAX_CONTACT_LEN ||
		           c->instance.l > MAX_INSTANCE_LEN) {
			*reason = "Contact Too Long";
			return 400;
		}
		uint32_t e = c->has_expires    ? c->expires
		             : has_expires_hdr ? expires_hdr
		                               : reg->cfg.default_expires;
		if (e > reg->cfg.max_expires)
			e = reg->cfg.max_expires;
		pc->expires[pc->n] = e;
		pc->ob[pc->n] = !c->star && contact_is_outbound(c, supported_ob);
		pc->n++;
	}
	/* RFC 3261 §10.3 step 6: "*" only alone and with Expires: 0 */
	if (pc->star && (pc->n != 1 || !has_expires_hdr || expires_hdr != 0)) {
		*reason = "Invalid Wildcard";
		return 400;
	}
	if (sip_msg_call_id(m).l > MAX_CALLID_LEN) {
		*reason = "Call-ID Too Long";
		return 400;
	}
	for (unsigned i = 0; i < pc->n; i++)
		if (pc->expires[i] != 0 && pc->expires[i] < reg->cfg.min_expires)
			return 423;
	return 0;
}

/* Apply one Contact to the AOR (created on demand: *ap). */
static int apply_contact(struct sip_registrar *reg, struct aor **ap, const char *key, size_t keylen,
                         uint64_t hash, const struct sip_registrar_request *rq,
                         const struct sip_contact *c, uint32_t expires, bool ob)
{
	const struct sip_msg *m = rq->msg;
	struct binding *b = binding_find(*ap, c, ob);
	if (expires == 0) {
		if (b) {
			if (b->aor->nbind == 1)
				*ap = NULL;
			binding_destroy(reg, b);
		}
		return 0;
	}
	bool fresh = !b;
	if (fresh) {
		if (!*ap) {
			*ap = aor_create(reg, key, keylen, hash);
			if (!*ap)
				return -ENOMEM;
		}
		b = calloc(1, sizeof(*b));
		if (!b ||
		    binding_set_text(b, c->addr.uri_text, sip_msg_call_id(m), c->instance) != 0 ||
		    heap_push(reg, b) != 0) {
			if (b)
				free(b->text);
			free(b);
			if (!(*ap)->nbind) {
				aor_destroy(reg, *ap);
				*ap = NULL;
			}
			return -ENOMEM;
		}
		b->aor = *ap;
		b->aor_next = (*ap)->bindings;
		(*ap)->bindings = b;
		(*ap)->nbind++;
	} else {
		if (binding_set_text(b, c->addr.uri_text, sip_msg_call_id(m), c->instance) != 0)
			return -ENOMEM;
		if (b->flow != rq->flow || b->flow_id != rq->flow_id)
			reg_log(reg, "registrar: %s: binding moved to flow %llu",
			        lt((sip_pl){(*ap)->key, (*ap)->keylen}).s,
			        (unsigned long long)rq->flow_id);
		flow_unlink(b);
	}
	b->flow = rq->flow;
	b->flow_id = rq->flow_id;
	flow_link(reg, b);
	b->cseq = sip_msg_cseq(m)->seq;
	b->has_reg_id = c->has_reg_id;
	b->reg_id = c->reg_id;
	b->has_q = c->has_q;
	b->q = c->has_q ? c->q : 1000;
	b->expires_ms = rq->now_ms + (uint64_t)expires * 1000u;
	heap_fix(reg, b);
	if (fresh && reg->nheap > reg->flow_mask + 1)
		flow_grow(reg);
	return 0;
}

int sip_registrar_handle(struct sip_registrar *reg, const struct sip_registrar_request *rq,
                         struct sip_buf *out)
{
	if (!reg || !rq || !rq->msg || !out || !sip_msg_is_request(rq->msg) ||
	    sip_msg_method(rq->msg) != SIP_METHOD_REGISTER)
		return -EINVAL;
	const struct sip_msg *m = rq->msg;
	const struct sip_addr *to = sip_msg_to(m);
	sip_pl src = rq->source.p ? rq->source : SIP_PL("");

	if (source_blocked(reg, rq->source, rq->now_ms)) {
		reg->auth_refused++;
		reg_log(reg, "registrar: REGISTER from %s refused: too many failed attempts",
		        lt(src).s);
		return respond_simple(reg, out, m, 403, "Too Many Failed Attempts");
	}

	char user[MAX_USER_LEN + 2];
	sip_pl auth_user = SIP_PL_NULL;
	const char *why = "";
	switch (authenticate(reg, m, rq->now_ms, user, sizeof(user), &auth_user, &why)) {
	case AUTH_PASSED:
		break;
	case AUTH_CHALLENGE:
		return respond_challenge(reg, out, m, rq->now_ms, false);
	case AUTH_STALE:
		return respond_challenge(reg, out, m, rq->now_ms, true);
	case AUTH_FAILED: {
		bool blocked = fail_record(reg, rq->source, rq->now_ms);
		reg_log(reg, "registrar: authentication failed for user '%s' from %s: %s%s",
		        lt(auth_user).s, lt(src).s, why, blocked ? "; source blocked" : "");
		return respond_challenge(reg, out, m, rq->now_ms, false);
	}
	case AUTH_MALFORMED:
		reg_log(reg, "registrar: REGISTER from %s: %s", lt(src).s, why);
		return respond_simple(reg, out, m, 400, "Bad Authorization");
	case AUTH_URI_MISMATCH:
		/* RFC 7616 §3.4.6: a uri other than the request's is a bad request */
		reg_log(reg, "registrar: REGISTER from %s: %s", lt(src).s, why);
		return respond_simple(reg, out, m, 400, "Digest URI Mismatch");
	}

	/* the AOR is the To URI; only its own user may change its bindings */
	if (to->uri.scheme != SIP_URI_SIP && to->uri.scheme != SIP_URI_SIPS)
		return respond_simple(reg, out, m, 404, "Not Found");
	char key[MAX_AOR_KEY];
	size_t to_user_len = 0; /* the user part of key: unescaped, as auth_user is */
	int keylen = aor_key(reg, to->uri.user, to->uri.host, key, &to_user_len);
	if (keylen < 0)
		return respond_simple(reg, out, m, 404, "Not Found");
	sip_pl aor_pl = {key, (size_t)keylen};
	if (to_user_len != auth_user.l || memcmp(key, auth_user.p, auth_user.l) != 0) {
		reg_log(reg, "registrar: user '%s' may not register %s", lt(auth_user).s,
		        lt(aor_pl).s);
		return respond_simple(reg, out, m, 403, "Username Does Not Match AOR");
	}

	struct parsed_contacts pc;
	const char *reason = NULL;
	int status = parse_contacts(reg, m, &pc, &reason);
	if (status == 423) {
		respond_start(reg, out, m, 423, NULL);
		sip_build_header_fmt(out, "Min-Expires", "%u", reg->cfg.min_expires);
		sip_build_body(out, NULL, SIP_PL_NULL);
		return out->error ? out->error : 423;
	}
	if (status) {
		reg_log(reg, "registrar: %s: %s", lt(aor_pl).s, reason);
		return respond_simple(reg, out, m, status, reason);
	}

	uint64_t hash = hash_bytes(reg->seed, key, (size_t)keylen);
	struct aor *a = aor_find(reg, key, (size_t)keylen, hash);
	sip_pl call_id = sip_msg_call_id(m);
	uint32_t cseq = sip_msg_cseq(m)->seq;

	if (pc.star) {
		/* step 6: an older request of the same call must not undo newer
		 * bindings */
		for (struct binding *b = a ? a->bindings : NULL; b; b = b->aor_next)
			if (sip_pl_eq(b_callid(b), call_id) && cseq <= b->cseq)
				return respond_simple(reg, out, m, 500, "Out of Order");
		size_t removed = a ? a->nbind : 0;
		while (a && a->bindings) {
			if (a->nbind == 1) {
				binding_destroy(reg, a->bindings);
				a = NULL;
			} else {
				binding_destroy(reg, a->bindings);
			}
		}
		reg_log(reg, "registrar: %s: all %zu bindings removed", lt(aor_pl).s, removed);
		return respond_ok(reg, out, m, NULL, false, rq->now_ms);
	}

	/* step 7, checked for every Contact before any is applied */
	unsigned added = 0;
	for (unsigned i = 0; i < pc.n; i++) {
		struct binding *b = binding_find(a, &pc.c[i], pc.ob[i]);
		if (b && sip_pl_eq(b_callid(b), call_id) && cseq <= b->cseq)
			return respond_simple(reg, out, m, 500, "Out of Order");
		if (!b && pc.expires[i])
			added++;
	}
	if ((a ? a->nbind : 0) + added > reg->cfg.max_bindings_per_aor) {
		reg_log(reg, "registrar: %s: too many bindings", lt(aor_pl).s);
		return respond_simple(reg, out, m, 403, "Too Many Bindings");
	}

	bool outbound = false;
	for (unsigned i = 0; i < pc.n; i++) {
		int err = apply_contact(reg, &a, key, (size_t)keylen, hash, rq, &pc.c[i],
		                        pc.expires[i], pc.ob[i]);
		if (err) {
			reg_log(reg, "registrar: %s: out of memory", lt(aor_pl).s);
			return respond_simple(reg, out, m, 500, "Out of Memory");
		}
		if (pc.ob[i] && pc.expires[i])
			outbound = true;
	}
	return respond_ok(reg, out, m, a, outbound, rq->now_ms);
}

/* ---- connections, time, lookup ---- */

size_t sip_registrar_flow_closed(struct sip_registrar *reg, const void *flow)
{
	if (!reg)
		return 0;
	size_t removed = 0;
	struct binding *b = reg->flow_tab[hash_ptr(reg->seed, flow) & reg->flow_mask];
	while (b) {
		struct binding *next = b->flow_next;
		if (b->flow == flow) {
			binding_destroy(reg, b);
			removed++;
		}
		b = next;
	}
	if (removed)
		reg_log(reg, "registrar: connection closed: %zu bindings removed", removed);
	return removed;
}

size_t sip_registrar_tick(struct sip_registrar *reg, uint64_t now_ms)
{
	if (!reg)
		return 0;
	size_t removed = 0;
	while (reg->nheap && reg->heap[0]->expires_ms <= now_ms) {
		binding_destroy(reg, reg->heap[0]);
		removed++;
	}
	fail_expire(reg, now_ms);
	return removed;
}

uint64_t sip_registrar_next_deadline(const struct sip_registrar *reg)
{
	uint64_t next = UINT64_MAX;
	if (!reg)
		return next;
	if (reg->nheap)
		next = reg->heap[0]->expires_ms;
	if (reg->fifo_head && reg->fifo_head->start_ms + window_ms(reg) < next)
		next = reg->fifo_head->start_ms + window_ms(reg);
	return next;
}

size_t sip_registrar_lookup(const struct sip_registrar *reg, sip_pl user, sip_pl host,
                            uint64_t now_ms, sip_registrar_binding_fn fn, void *arg)
{
	if (!reg)
		return 0;
	char key[MAX_AOR_KEY];
	int keylen = aor_key(reg, user, host, key, NULL);
	if (keylen < 0)
		return 0;
	const struct aor *a =
	    aor_find(reg, key, (size_t)keylen, hash_bytes(reg->seed, key, (size_t)keylen));
	size_t n = 0;
	for (const struct binding *b = a ? a->bindings : NULL; b; b = b->aor_next) {
		if (b->expires_ms <= now_ms)
			continue;
		n++;
		if (!fn)
			continue;
		struct sip_registrar_binding info = {
		    .contact = b_contact(b),
		    .flow = b->flow,
		    .flow_id = b->flow_id,
		    .instance = b_instance(b),
		    .has_reg_id = b->has_reg_id,
		    .reg_id = b->reg_id,
		    .q = b->q,
		    .expires_ms = b->expires_ms,
		};
		if (fn(arg, &info))
			break;
	}
	return n;
}

size_t sip_registrar_binding_count(const struct sip_registrar *reg)
{
	return reg ? reg->nheap : 0;
}

size_t sip_registrar_aor_count(const struct sip_registrar *reg)
{
	return reg ? reg->naor : 0;
}

void sip_registrar_auth_counts(const struct sip_registrar *reg, uint64_t *failures,
                               uint64_t *refused)
{
	*failures = reg ? reg->auth_failures : 0;
	*refused = reg ? reg->auth_refused : 0;
}
