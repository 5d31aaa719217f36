/* sip_registerer.c — client registration. See sip_registerer.h for the
 * behaviour and the choices behind it.
 *
 * The registerer is the TU of at most one client transaction at a time. It
 * detaches itself from that transaction as soon as the outcome is known (a
 * final response, a timeout, a transport error), so a transaction that
 * lingers in Completed never calls back into a registerer that moved on or
 * was freed. What the owner asked for (registered, unregistered, terminated)
 * is kept apart from the state, so a call made while a REGISTER is in flight
 * takes effect when its outcome arrives. */
#include "sip/sip_registerer.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_auth.h"
#include "sip/sip_build.h"

#define DEFAULT_USER_AGENT "sipwire"
#define DEFAULT_ALLOW                                                                              \
	"INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE, REFER, NOTIFY, UPDATE, PRACK"
#define CALL_ID_LEN 22
#define TAG_LEN     12
#define BRANCH_LEN  22
#define CNONCE_LEN  16
/* Requests per attempt: the first, a 407 and a 401 answer, a stale nonce or
 * two, a 423 or two. More means a registrar that leads us in circles. */
#define MAX_REQUESTS_PER_ATTEMPT 8u
/* Timer F with the default T1: the longest a REGISTER goes unanswered. */
#define REFRESH_MARGIN_MS 32000u
#define MAX_RETRY_AFTER_S 86400u
#define MAX_CSEQ          0x7fffffffu

enum want {
	WANT_NOTHING, /* Initial: the owner asked for nothing yet */
	WANT_REGISTERED,
	WANT_UNREGISTERED,
	WANT_TERMINATED,
};

enum timer_kind {
	TIMER_NONE,
	TIMER_REFRESH,
	TIMER_RETRY,
};

/* A challenge answered in the current attempt, kept so later requests of the
 * attempt answer it again with the next nonce count. */
struct auth_slot {
	char *challenge; /* the header value, copied */
	uint32_t nc;
};

struct sip_registerer {
	/* configuration, strings owned */
	char *registrar;
	char *aor; /* the From/To value, a name-addr */
	char *via; /* less the branch */
	char *contact;
	char *route; /* NULL: none */
	char *username, *password, *realm;
	char *user_agent, *allow, *extra_headers;
	struct sip_txn_dest dest;
	struct sip_contact contact_parsed; /* views into contact */
	uint32_t retry_min_ms, retry_max_ms;
	struct sip_txn_layer *layer;
	uint64_t (*now_ms)(void *arg);
	sip_random_fn random;
	struct sip_registerer_callbacks cb;
	void *arg;

	/* identity of every REGISTER */
	char call_id[CALL_ID_LEN + 1];
	char tag[TAG_LEN + 1];
	uint32_t cseq;
	uint32_t expires; /* asked for; raised by 423 */

	enum sip_registerer_state state;
	enum want want;

	/* the request in flight */
	struct sip_txn *txn;
	bool txn_unregister;
	uint64_t txn_sent_at;
	unsigned attempt_requests;
	struct auth_slot www, proxy;
	bool ever_sent;

	/* timers and the binding */
	enum timer_kind timer;
	uint64_t timer_at;
	uint32_t granted;
	uint64_t expires_at;
	unsigned failures;

	int last_status;
	char last_reason[64];
};

/* ---- small helpers ---- */

const char *sip_registerer_state_name(enum sip_registerer_state state)
{
	switch (state) {
	case SIP_REGISTERER_INITIAL:
		return "Initial";
	case SIP_REGISTERER_REGISTERED:
		return "Registered";
	case SIP_REGISTERER_UNREGISTERED:
		return "Unregistered";
	case SIP_REGISTERER_TERMINATED:
		return "Terminated";
	}
	return "?";
}

__attribute__((format(printf, 2, 3))) static void reg_log(const struct sip_registerer *r,
                                                          const char *fmt, ...)
{
	if (!r->cb.on_log)
		return;
	char line[320];
	int n = snprintf(line, sizeof(line), "registerer %s: ", r->aor);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	r->cb.on_log(r->arg, line);
}

static uint64_t now(const struct sip_registerer *r)
{
	return r->now_ms(r->arg);
}

static bool has_crlf(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

static int dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int random_bytes(const struct sip_registerer *r, void *buf, size_t len)
{
	if (r->random)
		return r->random(r->arg, buf, len);
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

/* Keep a status and its phrase for the accessors and callbacks; network text
 * loses its control bytes so it cannot forge log lines. */
static void set_outcome(struct sip_registerer *r, int status, sip_pl reason)
{
	r->last_status = status;
	size_t n = reason.l < sizeof(r->last_reason) - 1 ? reason.l : sizeof(r->last_reason) - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)reason.p[i];
		r->last_reason[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	r->last_reason[n] = '\0';
}

static void set_state(struct sip_registerer *r, enum sip_registerer_state st)
{
	if (r->state == st)
		return;
	if (r->state == SIP_REGISTERER_TERMINATED) {
		reg_log(r, "Terminated -> %s refused", sip_registerer_state_name(st));
		return;
	}
	reg_log(r, "%s -> %s (%d %s)", sip_registerer_state_name(r->state),
	        sip_registerer_state_name(st), r->last_status, r->last_reason);
	r->state = st;
	if (r->cb.on_state_change)
		r->cb.on_state_change(r->arg, r, st, r->last_status, r->last_reason);
}

static void auth_clear(struct auth_slot *s)
{
	free(s->challenge);
	s->challenge = NULL;
	s->nc = 0;
}

static void timer_stop(struct sip_registerer *r)
{
	r->timer = TIMER_NONE;
	r->timer_at = 0;
}

static void timer_start(struct sip_registerer *r, enum timer_kind kind, uint64_t at)
{
	r->timer = kind;
	r->timer_at = at;
}

static void binding_clear(struct sip_registerer *r)
{
	r->granted = 0;
	r->expires_at = 0;
}

/* ---- the request ---- */

static int add_authorization(struct sip_registerer *r, struct sip_buf *b, struct auth_slot *slot,
                             const char *name)
{
	if (!slot->challenge)
		return 0;
	struct sip_auth_challenge ch;
	int rc = sip_auth_challenge_parse(sip_pl_from_cstr(slot->challenge), &ch);
	if (rc)
		return rc;
	char cnonce[CNONCE_LEN + 1];
	rc = sip_random_token(cnonce, sizeof(cnonce), CNONCE_LEN, r->random, r->arg);
	if (rc)
		return rc;
	struct sip_auth_client_params p = {
	    .username = sip_pl_from_cstr(r->username),
	    .password = sip_pl_from_cstr(r->password),
	    .method = SIP_PL("REGISTER"),
	    .uri = sip_pl_from_cstr(r->registrar),
	    .body = SIP_PL(""),
	    .cnonce = sip_pl_from_cstr(cnonce),
	    .nc = slot->nc + 1,
	};
	char value[2048];
	rc = sip_auth_client_answer(&ch, &p, value, sizeof(value));
	if (rc < 0)
		return rc;
	slot->nc++;
	return sip_build_header(b, name, (sip_pl){value, (size_t)rc});
}

static int build_register(struct sip_registerer *r, struct sip_buf *b)
{
	char branch[BRANCH_LEN + 1];
	int rc = sip_random_token(branch, sizeof(branch), BRANCH_LEN, r->random, r->arg);
	if (rc)
		return rc;
	sip_build_request_line(b, SIP_PL("REGISTER"), sip_pl_from_cstr(r->registrar));
	sip_build_header_fmt(b, "Via", "%s;branch=z9hG4bK%s", r->via, branch);
	if (r->route)
		sip_build_header(b, "Route", sip_pl_from_cstr(r->route));
	sip_build_header(b, "Max-Forwards", SIP_PL("70"));
	sip_build_header_fmt(b, "From", "%s;tag=%s", r->aor, r->tag);
	sip_build_header(b, "To", sip_pl_from_cstr(r->aor));
	sip_build_header(b, "Call-ID", sip_pl_from_cstr(r->call_id));
	sip_build_header_fmt(b, "CSeq", "%u REGISTER", (unsigned)r->cseq);
	sip_build_header(b, "Contact", sip_pl_from_cstr(r->contact));
	sip_build_header_fmt(b, "Expires", "%u", r->txn_unregister ? 0u : (unsigned)r->expires);
	if ((rc = add_authorization(r, b, &r->proxy, "Proxy-Authorization")) ||
	    (rc = add_authorization(r, b, &r->www, "Authorization")))
		return rc;
	sip_build_header(b, "Allow", sip_pl_from_cstr(r->allow));
	sip_build_header(b, "User-Agent", sip_pl_from_cstr(r->user_agent));
	if (r->extra_headers)
		sip_buf_append(b, r->extra_headers, strlen(r->extra_headers));
	return sip_build_body(b, NULL, SIP_PL(""));
}

static void fail(struct sip_registerer *r, int status, sip_pl reason, uint32_t retry_after_s);

static void txn_on_response(void *user, struct sip_txn *txn, const struct sip_msg *msg);
static void txn_on_timeout(void *user, struct sip_txn *txn);
static void txn_on_transport_error(void *user, struct sip_txn *txn);
static void txn_on_terminated(void *user, struct sip_txn *txn);

static const struct sip_txn_user txn_user = {
    .on_response = txn_on_response,
    .on_timeout = txn_on_timeout,
    .on_transport_error = txn_on_transport_error,
    .on_terminated = txn_on_terminated,
};

/* Send the next REGISTER of the current attempt. A request that cannot be
 * built or sent is the attempt's failure. */
static void send_register(struct sip_registerer *r)
{
	if (r->cseq >= MAX_CSEQ - 1) {
		/* 2^31 requests in: start a new sequence under a new Call-ID
		 * (§10.2.4 asks for the same Call-ID only while CSeq can grow) */
		if (sip_random_token(r->call_id, sizeof(r->call_id), CALL_ID_LEN, r->random,
		                     r->arg) == 0)
			r->cseq = 0;
	}
	r->cseq++;
	r->attempt_requests++;
	struct sip_buf b;
	sip_buf_init(&b, 0);
	int rc = build_register(r, &b);
	if (rc == 0)
		rc = b.error;
	if (rc) {
		sip_buf_free(&b);
		reg_log(r, "cannot build REGISTER (%d)", rc);
		fail(r, 500, SIP_PL("Cannot Build Request"), 0);
		return;
	}
	uint64_t t = now(r);
	struct sip_txn *txn = NULL;
	rc = sip_txn_client_new(r->layer, b.p, b.len, &r->dest, t, &txn_user, r, &txn);
	sip_buf_free(&b);
	if (rc) {
		reg_log(r, "REGISTER not sent (%d)", rc);
		fail(r, 503, SIP_PL("Transport Error"), 0);
		return;
	}
	r->ever_sent = true;
	r->txn = txn;
	r->txn_sent_at = t;
}

static void begin_attempt(struct sip_registerer *r, bool unregister)
{
	timer_stop(r);
	auth_clear(&r->www);
	auth_clear(&r->proxy);
	r->attempt_requests = 0;
	r->txn_unregister = unregister;
	send_register(r);
}

/* ---- outcomes ---- */

/* The owner no longer wants a binding: Unregistered, and Terminated when
 * disposing. */
static void finish_unregistered(struct sip_registerer *r)
{
	timer_stop(r);
	binding_clear(r);
	set_state(r, SIP_REGISTERER_UNREGISTERED);
	/* the callback may have asked for something else; dispose cannot be undone */
	if (r->want == WANT_TERMINATED && r->state == SIP_REGISTERER_UNREGISTERED && !r->txn)
		set_state(r, SIP_REGISTERER_TERMINATED);
}

static uint64_t backoff_ms(struct sip_registerer *r)
{
	uint64_t d = r->retry_min_ms;
	for (unsigned i = 1; i < r->failures && d < r->retry_max_ms; i++)
		d *= 2;
	if (d > r->retry_max_ms)
		d = r->retry_max_ms;
	uint32_t x = 0;
	if (random_bytes(r, &x, sizeof(x)) != 0)
		x = 0;
	/* uniform in (0.8 d, d] */
	return d - ((d / 5) * x >> 32);
}

static void fail(struct sip_registerer *r, int status, sip_pl reason, uint32_t retry_after_s)
{
	set_outcome(r, status, reason);
	reg_log(r, "%s failed: %d %s", r->txn_unregister ? "unregister" : "REGISTER", status,
	        r->last_reason);
	if (r->txn_unregister && r->want == WANT_REGISTERED) {
		/* register() came while the unregister was out */
		begin_attempt(r, false);
		return;
	}
	if (r->txn_unregister || r->want != WANT_REGISTERED) {
		/* an unregister that failed has nothing to retry; a REGISTER that
		 * failed after the owner asked for unregistration left no binding */
		finish_unregistered(r);
		return;
	}
	binding_clear(r);
	r->failures++;
	uint64_t delay;
	if (retry_after_s) {
		delay = (uint64_t)(retry_after_s < MAX_RETRY_AFTER_S ? retry_after_s
		                                                     : MAX_RETRY_AFTER_S) *
		        1000u;
	} else {
		delay = backoff_ms(r);
	}
	timer_start(r, TIMER_RETRY, now(r) + delay);
	reg_log(r, "retry %u in %llu ms", r->failures, (unsigned long long)delay);
	set_state(r, SIP_REGISTERER_UNREGISTERED);
}

static bool contact_is_ours(const struct sip_registerer *r, const struct sip_contact *c)
{
	const struct sip_contact *mine = &r->contact_parsed;
	if (sip_pl_isset(mine->instance) && sip_pl_isset(c->instance) &&
	    sip_pl_eq(mine->instance, c->instance))
		return true;
	return mine->addr.uri.scheme && c->addr.uri.scheme &&
	       sip_uri_equal(&mine->addr.uri, &c->addr.uri);
}

/* The expiry a 2xx granted to our Contact (see the header). */
static uint32_t granted_expires(const struct sip_registerer *r, const struct sip_msg *msg)
{
	struct sip_value_iter it = {0};
	sip_pl v;
	while (sip_msg_value_next(msg, SIP_HDR_CONTACT, &it, &v)) {
		struct sip_contact c;
		if (sip_contact_parse(v, &c) || c.star || !c.has_expires)
			continue;
		if (contact_is_ours(r, &c))
			return c.expires;
	}
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_EXPIRES);
	uint32_t e;
	if (h && sip_uint_parse(h->value, UINT32_MAX, &e) == 0)
		return e;
	return r->expires;
}

static void registered(struct sip_registerer *r, const struct sip_msg *msg)
{
	uint32_t granted = granted_expires(r, msg);
	if (granted == 0) {
		fail(r, sip_msg_status(msg), SIP_PL("Registration Not Granted"), 0);
		return;
	}
	set_outcome(r, sip_msg_status(msg), sip_msg_reason(msg));
	r->failures = 0;
	if (r->want != WANT_REGISTERED) {
		/* unregister or dispose was called while this REGISTER was out */
		begin_attempt(r, true);
		return;
	}
	uint64_t e = (uint64_t)granted * 1000u;
	uint64_t refresh = e > 2 * REFRESH_MARGIN_MS ? e - REFRESH_MARGIN_MS : e / 2;
	r->granted = granted;
	r->expires_at = r->txn_sent_at + e;
	timer_start(r, TIMER_REFRESH, r->txn_sent_at + refresh);
	reg_log(r, "registered for %u s, refresh in %llu ms", (unsigned)granted,
	        (unsigned long long)refresh);
	set_state(r, SIP_REGISTERER_REGISTERED);
}

/* Take the first challenge of the response we can answer into its slot.
 * Returns 0 to send again, or a negative errno with *why set. */
static int take_challenge(struct sip_registerer *r, const struct sip_msg *msg, int status,
                          const char **why)
{
	bool proxy = status == 407;
	struct auth_slot *slot = proxy ? &r->proxy : &r->www;
	if (!r->username) {
		*why = "challenged without credentials";
		return -EACCES;
	}
	enum sip_hdr_id id = proxy ? SIP_HDR_PROXY_AUTHENTICATE : SIP_HDR_WWW_AUTHENTICATE;
	for (const struct sip_hdr *h = sip_msg_hdr(msg, id); h; h = sip_msg_hdr_next(msg, h)) {
		struct sip_auth_challenge ch;
		if (sip_auth_challenge_parse(h->value, &ch) != 0 ||
		    ch.algorithm == SIP_AUTH_ALG_UNKNOWN ||
		    (sip_pl_isset(ch.qop_list) && ch.qop == 0))
			continue;
		if (r->realm && !sip_auth_value_eq(ch.realm, sip_pl_from_cstr(r->realm)))
			continue;
		if (slot->challenge && !ch.stale) {
			*why = "credentials refused";
			return -EACCES;
		}
		char *copy = strndup(h->value.p, h->value.l);
		if (!copy) {
			*why = "out of memory";
			return -ENOMEM;
		}
		if (slot->challenge)
			reg_log(r, "nonce stale, answering the new one");
		auth_clear(slot);
		slot->challenge = copy;
		return 0;
	}
	*why = "no challenge we can answer";
	return -ENOTSUP;
}

static uint32_t retry_after(const struct sip_msg *msg)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_RETRY_AFTER);
	if (!h)
		return 0;
	struct sip_scan s = sip_scan_init(h->value);
	uint32_t v;
	return sip_scan_u32(&s, UINT32_MAX, &v) ? v : 0;
}

static void on_final(struct sip_registerer *r, const struct sip_msg *msg)
{
	int status = sip_msg_status(msg);
	sip_pl reason = sip_msg_reason(msg);
	bool may_resend = r->attempt_requests < MAX_REQUESTS_PER_ATTEMPT;

	if (status >= 200 && status < 300) {
		if (r->txn_unregister) {
			set_outcome(r, status, reason);
			r->failures = 0;
			if (r->want == WANT_REGISTERED) {
				/* register() came while the unregister was out */
				begin_attempt(r, false);
				return;
			}
			finish_unregistered(r);
		} else {
			registered(r, msg);
		}
		return;
	}
	if ((status == 401 || status == 407) && may_resend) {
		const char *why = NULL;
		if (take_challenge(r, msg, status, &why) == 0) {
			send_register(r);
			return;
		}
		reg_log(r, "%d: %s", status, why);
	}
	if (status == 423 && !r->txn_unregister && may_resend) {
		const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_MIN_EXPIRES);
		uint32_t min;
		if (h && sip_uint_parse(h->value, UINT32_MAX, &min) == 0 && min > r->expires) {
			reg_log(r, "423: expires %u -> %u", (unsigned)r->expires, (unsigned)min);
			r->expires = min;
			send_register(r);
			return;
		}
		reg_log(r, "423 without a usable Min-Expires");
	}
	fail(r, status, reason, retry_after(msg));
}

/* ---- transaction callbacks ---- */

static void txn_on_response(void *user, struct sip_txn *txn, const struct sip_msg *msg)
{
	struct sip_registerer *r = user;
	if (txn != r->txn || sip_msg_status(msg) < 200)
		return;
	sip_txn_set_user(txn, NULL, NULL);
	r->txn = NULL;
	on_final(r, msg);
}

static void txn_on_timeout(void *user, struct sip_txn *txn)
{
	struct sip_registerer *r = user;
	if (txn != r->txn)
		return;
	sip_txn_set_user(txn, NULL, NULL);
	r->txn = NULL;
	fail(r, 408, SIP_PL("Request Timeout"), 0);
}

static void txn_on_transport_error(void *user, struct sip_txn *txn)
{
	struct sip_registerer *r = user;
	if (txn != r->txn)
		return;
	sip_txn_set_user(txn, NULL, NULL);
	r->txn = NULL;
	fail(r, 503, SIP_PL("Transport Error"), 0);
}

/* Only reached for a transaction ended without an outcome (the layer shut
 * down): the same as losing the flow. */
static void txn_on_terminated(void *user, struct sip_txn *txn)
{
	txn_on_transport_error(user, txn);
}

/* ---- construction ---- */

static int set_transport(struct sip_registerer *r, const struct sip_ua_transport *t)
{
	if (!t->via || !t->contact || has_crlf(t->via) || has_crlf(t->contact))
		return -EINVAL;
	struct sip_via via;
	if (sip_via_parse(sip_pl_from_cstr(t->via), &via) != 0 || sip_pl_isset(via.branch))
		return -EINVAL;
	char *v = strdup(t->via), *c = strdup(t->contact);
	if (!v || !c) {
		free(v);
		free(c);
		return -ENOMEM;
	}
	struct sip_contact parsed;
	if (sip_contact_parse(sip_pl_from_cstr(c), &parsed) != 0 || parsed.star) {
		free(v);
		free(c);
		return -EINVAL;
	}
	free(r->via);
	free(r->contact);
	r->via = v;
	r->contact = c;
	r->contact_parsed = parsed;
	r->dest = t->dest;
	return 0;
}

/* The AOR as a name-addr for From and To: a bare URI gets its brackets so
 * the tag we add is a header parameter. */
static int set_aor(struct sip_registerer *r, const char *aor)
{
	if (has_crlf(aor))
		return -EINVAL;
	if (strchr(aor, '<')) {
		struct sip_addr a;
		if (sip_addr_parse(sip_pl_from_cstr(aor), &a) != 0 || sip_pl_isset(a.tag))
			return -EINVAL;
		r->aor = strdup(aor);
	} else {
		struct sip_uri u;
		if (sip_uri_parse(sip_pl_from_cstr(aor), &u) != 0)
			return -EINVAL;
		size_t n = strlen(aor) + 3;
		r->aor = malloc(n);
		if (r->aor)
			snprintf(r->aor, n, "<%s>", aor);
	}
	return r->aor ? 0 : -ENOMEM;
}

int sip_registerer_new(const struct sip_registerer_config *cfg, struct sip_registerer **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cfg || !cfg->registrar || !cfg->aor || !cfg->txn || !cfg->now_ms ||
	    !cfg->transport.via || !cfg->transport.contact)
		return -EINVAL;
	uint32_t rmin = cfg->retry_min_ms ? cfg->retry_min_ms : SIP_REGISTERER_DEFAULT_RETRY_MIN_MS;
	uint32_t rmax = cfg->retry_max_ms ? cfg->retry_max_ms : SIP_REGISTERER_DEFAULT_RETRY_MAX_MS;
	if (rmin > rmax)
		return -EINVAL;
	if (has_crlf(cfg->registrar) || has_crlf(cfg->route) || has_crlf(cfg->user_agent) ||
	    has_crlf(cfg->allow) || has_crlf(cfg->credentials.username) ||
	    has_crlf(cfg->credentials.realm))
		return -EINVAL;
	if (cfg->extra_headers && cfg->extra_headers[0]) {
		size_t n = strlen(cfg->extra_headers);
		if (n < 2 || strcmp(cfg->extra_headers + n - 2, "\r\n") != 0)
			return -EINVAL;
	}
	struct sip_uri ruri;
	if (sip_uri_parse(sip_pl_from_cstr(cfg->registrar), &ruri) != 0 ||
	    ruri.scheme == SIP_URI_TEL)
		return -EINVAL;
	if (cfg->route) {
		struct sip_addr a;
		if (sip_addr_parse(sip_pl_from_cstr(cfg->route), &a) != 0)
			return -EINVAL;
	}

	struct sip_registerer *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->layer = cfg->txn;
	r->now_ms = cfg->now_ms;
	r->random = cfg->random;
	r->cb = cfg->cb;
	r->arg = cfg->arg;
	r->retry_min_ms = rmin;
	r->retry_max_ms = rmax;
	r->expires = cfg->expires ? cfg->expires : SIP_REGISTERER_DEFAULT_EXPIRES;
	r->state = SIP_REGISTERER_INITIAL;
	r->want = WANT_NOTHING;

	int rc;
	if ((rc = set_aor(r, cfg->aor)) || (rc = set_transport(r, &cfg->transport)) ||
	    (rc = dup_opt(cfg->registrar, &r->registrar)) ||
	    (rc = dup_opt(cfg->route, &r->route)) ||
	    (rc = dup_opt(cfg->credentials.username, &r->username)) ||
	    (rc = dup_opt(cfg->credentials.username ? cfg->credentials.password : NULL,
	                  &r->password)) ||
	    (rc = dup_opt(cfg->credentials.realm, &r->realm)) ||
	    (rc =
	         dup_opt(cfg->user_agent ? cfg->user_agent : DEFAULT_USER_AGENT, &r->user_agent)) ||
	    (rc = dup_opt(cfg->allow ? cfg->allow : DEFAULT_ALLOW, &r->allow)) ||
	    (rc = dup_opt(cfg->extra_headers && cfg->extra_headers[0] ? cfg->extra_headers : NULL,
	                  &r->extra_headers)))
		goto out;
	if (r->username && !r->password && (rc = dup_opt("", &r->password)))
		goto out;
	if ((rc = sip_random_token(r->call_id, sizeof(r->call_id), CALL_ID_LEN, r->random,
	                           r->arg)) ||
	    (rc = sip_random_token(r->tag, sizeof(r->tag), TAG_LEN, r->random, r->arg)))
		goto out;
	*out = r;
	return 0;
out:
	sip_registerer_free(r);
	return rc;
}

void sip_registerer_free(struct sip_registerer *r)
{
	if (!r)
		return;
	if (r->txn)
		sip_txn_set_user(r->txn, NULL, NULL);
	auth_clear(&r->www);
	auth_clear(&r->proxy);
	free(r->registrar);
	free(r->aor);
	free(r->via);
	free(r->contact);
	free(r->route);
	free(r->username);
	if (r->password) {
		/* the password does not outlive its registerer in freed memory */
		volatile char *p = r->password;
		while (*p)
			*p++ = 0;
		free(r->password);
	}
	free(r->realm);
	free(r->user_agent);
	free(r->allow);
	free(r->extra_headers);
	free(r);
}

/* ---- the owner's calls ---- */

int sip_registerer_register(struct sip_registerer *r)
{
	if (!r)
		return -EINVAL;
	if (r->state == SIP_REGISTERER_TERMINATED || r->want == WANT_TERMINATED)
		return -EPROTO;
	if (r->txn) {
		/* a REGISTER out: its outcome will do; an unregister out: a new
		 * REGISTER follows its outcome */
		r->want = WANT_REGISTERED;
		return 0;
	}
	r->want = WANT_REGISTERED;
	r->failures = 0;
	begin_attempt(r, false);
	return 0;
}

int sip_registerer_unregister(struct sip_registerer *r)
{
	if (!r)
		return -EINVAL;
	if (r->state == SIP_REGISTERER_TERMINATED || r->want == WANT_TERMINATED)
		return -EPROTO;
	if (r->txn) {
		r->want = WANT_UNREGISTERED;
		return 0;
	}
	bool again = r->want == WANT_UNREGISTERED;
	r->want = WANT_UNREGISTERED;
	timer_stop(r);
	if (again || !r->ever_sent) {
		/* nothing was registered since the last unregistration */
		set_outcome(r, 0, SIP_PL(""));
		finish_unregistered(r);
		return 0;
	}
	begin_attempt(r, true);
	return 0;
}

int sip_registerer_dispose(struct sip_registerer *r)
{
	if (!r)
		return -EINVAL;
	if (r->state == SIP_REGISTERER_TERMINATED || r->want == WANT_TERMINATED)
		return 0;
	r->want = WANT_TERMINATED;
	timer_stop(r);
	if (r->txn)
		return 0; /* the outcome decides: see registered() and fail() */
	if (r->state == SIP_REGISTERER_REGISTERED) {
		begin_attempt(r, true);
		return 0;
	}
	binding_clear(r);
	set_outcome(r, 0, SIP_PL(""));
	set_state(r, SIP_REGISTERER_TERMINATED);
	return 0;
}

int sip_registerer_set_transport(struct sip_registerer *r, const struct sip_ua_transport *t)
{
	if (!r || !t)
		return -EINVAL;
	return set_transport(r, t);
}

uint64_t sip_registerer_next_deadline(const struct sip_registerer *r)
{
	if (!r || r->state == SIP_REGISTERER_TERMINATED)
		return UINT64_MAX;
	uint64_t d = r->timer != TIMER_NONE ? r->timer_at : UINT64_MAX;
	if (r->state == SIP_REGISTERER_REGISTERED && r->expires_at && r->expires_at < d)
		d = r->expires_at;
	return d;
}

void sip_registerer_tick(struct sip_registerer *r)
{
	if (!r || r->state == SIP_REGISTERER_TERMINATED)
		return;
	uint64_t t = now(r);
	if (r->state == SIP_REGISTERER_REGISTERED && r->expires_at && t >= r->expires_at) {
		/* a refresh is still out (or never left): the binding is gone
		 * meanwhile; the refresh's outcome may bring it back */
		binding_clear(r);
		set_outcome(r, 408, SIP_PL("Registration Expired"));
		reg_log(r, "binding lapsed before a refresh was answered");
		set_state(r, SIP_REGISTERER_UNREGISTERED);
		if (r->state == SIP_REGISTERER_TERMINATED)
			return;
	}
	if (r->timer != TIMER_NONE && t >= r->timer_at && !r->txn && r->want == WANT_REGISTERED) {
		enum timer_kind kind = r->timer;
		timer_stop(r);
		reg_log(r, "%s", kind == TIMER_REFRESH ? "refresh" : "retry");
		begin_attempt(r, false);
	}
}

/* ---- accessors ---- */

enum sip_registerer_state sip_registerer_state(const struct sip_registerer *r)
{
	return r->state;
}
int sip_registerer_last_status(const struct sip_registerer *r)
{
	return r->last_status;
}
const char *sip_registerer_last_reason(const struct sip_registerer *r)
{
	return r->last_reason;
}
uint32_t sip_registerer_expires(const struct sip_registerer *r)
{
	return r->granted;
}
uint64_t sip_registerer_expires_at(const struct sip_registerer *r)
{
	return r->expires_at;
}
unsigned sip_registerer_failures(const struct sip_registerer *r)
{
	return r->failures;
}
bool sip_registerer_busy(const struct sip_registerer *r)
{
	return r->txn != NULL;
}
sip_pl sip_registerer_call_id(const struct sip_registerer *r)
{
	return sip_pl_from_cstr(r->call_id);
}
