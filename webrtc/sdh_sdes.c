/* sdh_sdes.c — see sdh_sdes.h. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "webrtc/sdh_sdes.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "webrtc/sdp.h"

#define PROTO "RTP/SAVP"

/* What our offers carry, in our order of preference: the suites every SDES
 * peer has, each line with a key of its own. */
static const enum sdes_suite offer_suites[] = {
	SDES_AES_CM_128_HMAC_SHA1_80,
	SDES_AES_CM_128_HMAC_SHA1_32,
};
#define N_OFFER (sizeof(offer_suites) / sizeof(offer_suites[0]))

/* One direction's SRTP: the line whose key it runs on, and the context. */
struct direction {
	struct sdes_crypto key;
	struct srtp_session *srtp; /* NULL until agreed */
};

struct sdh_sdes {
	struct sdh_rtp *h;
	void (*on_log)(void *, const char *);
	void *log_arg;
	/* the lines of our last offer */
	struct sdes_crypto offered[N_OFFER];
	unsigned n_offered;
	/* what the description being agreed chose: the peer's line, and ours */
	bool have_pending;
	struct sdes_crypto pending_rx, pending_tx;
	struct direction rx, tx;
	bool expired_logged;
	/* counters of the contexts gone (re-keyed, closed), so the leg's
	 * totals survive them */
	struct srtp_counters rx_done, tx_done;
	uint64_t no_keys, expired, rekeys;
};

static void logf_(const struct sdh_sdes *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void logf_(const struct sdh_sdes *s, const char *fmt, ...)
{
	if (!s->on_log)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	s->on_log(s->log_arg, line);
}

static void add_counters(struct srtp_counters *sum, const struct srtp_counters *c)
{
	sum->protected += c->protected;
	sum->unprotected += c->unprotected;
	sum->auth_failures += c->auth_failures;
	sum->replays += c->replays;
	sum->other_errors += c->other_errors;
}

/* Drop a direction's context (its counters go to done) and key. */
static void direction_clear(struct direction *d, struct srtp_counters *done)
{
	if (d->srtp) {
		struct srtp_counters c;
		srtp_session_counters(d->srtp, &c);
		add_counters(done, &c);
		srtp_session_free(d->srtp);
		d->srtp = NULL;
	}
	sdes_crypto_clear(&d->key);
}

/* ---- reading the peer's lines ---- */

/* The a=crypto lines of m in order: fn sees each one that parses, and what
 * sdes_parse made of it; a line that does not parse is logged and skipped
 * (RFC 4568 §5.1.2: lines the answerer cannot use are ignored). */
static unsigned each_crypto(struct sdh_sdes *s, const struct sdp_media *m,
                            bool (*fn)(struct sdh_sdes *, const struct sdes_crypto *, void *),
                            void *arg)
{
	unsigned from = 0, seen = 0;
	const struct sdp_attr *a;
	while ((a = sdp_attr_next(m->attrs, m->n_attrs, SDP_ATTR_OTHER, "crypto", &from))) {
		seen++;
		struct sdes_crypto c;
		const char *v = a->value ? a->value : "";
		if (sdes_parse(v, strlen(v), &c) != 0) {
			logf_(s, "sdes: a=crypto line %u is malformed: skipped", seen);
			continue;
		}
		bool done = fn(s, &c, arg);
		sdes_crypto_clear(&c);
		if (done)
			break;
	}
	return seen;
}

struct choice {
	struct sdes_crypto line;
	bool found;
};

/* An offer: the first line we can honour. */
static bool offered_line(struct sdh_sdes *s, const struct sdes_crypto *c, void *arg)
{
	struct choice *ch = arg;
	if (c->unsupported) {
		logf_(s, "sdes: a=crypto tag %u %s refused: %s", c->tag,
		      c->suite ? sdes_suite_name(c->suite) : "(unknown suite)", c->unsupported);
		return false;
	}
	ch->line = *c;
	ch->found = true;
	return true;
}

/* An answer: the line must answer one of ours, by tag and suite. */
static bool answered_line(struct sdh_sdes *s, const struct sdes_crypto *c, void *arg)
{
	struct choice *ch = arg;
	for (unsigned i = 0; i < s->n_offered; i++) {
		if (s->offered[i].tag != c->tag)
			continue;
		if (s->offered[i].suite != c->suite) {
			logf_(s, "sdes: answer's a=crypto tag %u names another suite than we offered",
			      c->tag);
			return false;
		}
		if (c->unsupported) {
			logf_(s, "sdes: answer's a=crypto tag %u refused: %s", c->tag, c->unsupported);
			return false;
		}
		ch->line = *c;
		ch->found = true;
		return true;
	}
	logf_(s, "sdes: answer's a=crypto tag %u is none we offered", c->tag);
	return false;
}

static int tp_remote(void *arg, const struct sdp_session *sdp, const struct sdp_media *m, bool offer)
{
	(void)sdp;
	struct sdh_sdes *s = arg;
	struct choice ch = {.found = false};
	unsigned seen = each_crypto(s, m, offer ? offered_line : answered_line, &ch);
	if (!ch.found) {
		logf_(s, "sdes: refused %s: %s", offer ? "offer" : "answer",
		      seen ? "no a=crypto line we can use" : "no a=crypto line");
		sdes_crypto_clear(&ch.line);
		return -ENOTSUP;
	}
	sdes_crypto_clear(&s->pending_rx);
	sdes_crypto_clear(&s->pending_tx);
	s->pending_rx = ch.line;
	sdes_crypto_clear(&ch.line);
	int rc = 0;
	if (!offer) {
		for (unsigned i = 0; i < s->n_offered; i++)
			if (s->offered[i].tag == s->pending_rx.tag)
				s->pending_tx = s->offered[i];
	} else if (s->tx.srtp && s->tx.key.suite == s->pending_rx.suite) {
		/* keep sending with the key in use: no re-key for a re-offer */
		s->pending_tx = s->tx.key;
		s->pending_tx.tag = s->pending_rx.tag;
	} else {
		rc = sdes_generate(s->pending_rx.suite, s->pending_rx.tag, &s->pending_tx);
	}
	if (rc != 0) {
		sdes_crypto_clear(&s->pending_rx);
		logf_(s, "sdes: no key: %s", strerror(-rc));
		return rc;
	}
	s->have_pending = true;
	return 0;
}

/* ---- agreeing ---- */

/* A context for one direction: the other half of the keys srtp_session_new
 * wants is never used, and random so nothing guessable is ever keyed. */
static int direction_start(struct direction *d, const struct sdes_crypto *line, bool inbound,
                           struct srtp_counters *done)
{
	struct srtp_keys k = {.profile = sdes_suite_profile(line->suite)};
	size_t salt = sdes_salt_len(line->suite);
	struct sdes_crypto unused;
	int rc = sdes_generate(line->suite, 1, &unused);
	if (rc != 0)
		return rc;
	memcpy(inbound ? k.remote_key : k.local_key, line->key, SDES_KEY_LEN);
	memcpy(inbound ? k.remote_salt : k.local_salt, line->salt, salt);
	memcpy(inbound ? k.local_key : k.remote_key, unused.key, SDES_KEY_LEN);
	memcpy(inbound ? k.local_salt : k.remote_salt, unused.salt, salt);
	sdes_crypto_clear(&unused);
	struct srtp_session *srtp = NULL;
	rc = srtp_session_new(&k, &srtp);
	memset(&k, 0, sizeof k);
	if (rc != 0)
		return rc;
	direction_clear(d, done);
	d->srtp = srtp;
	d->key = *line;
	return 0;
}

static void tp_agreed(void *arg)
{
	struct sdh_sdes *s = arg;
	if (!s->have_pending)
		return;
	s->have_pending = false;
	if (!s->rx.srtp || !sdes_same_key(&s->rx.key, &s->pending_rx)) {
		if (s->rx.srtp)
			s->rekeys++;
		int rc = direction_start(&s->rx, &s->pending_rx, true, &s->rx_done);
		if (rc != 0) {
			logf_(s, "sdes: no inbound SRTP: %s", strerror(-rc));
			direction_clear(&s->rx, &s->rx_done); /* what the peer sends is dropped */
		}
		s->expired_logged = false;
	}
	s->rx.key.tag = s->pending_rx.tag;
	if (!s->tx.srtp || !sdes_same_key(&s->tx.key, &s->pending_tx)) {
		if (s->tx.srtp)
			s->rekeys++;
		int rc = direction_start(&s->tx, &s->pending_tx, false, &s->tx_done);
		if (rc != 0) {
			logf_(s, "sdes: no outbound SRTP: %s", strerror(-rc));
			direction_clear(&s->tx, &s->tx_done); /* nothing is sent */
		}
	}
	s->tx.key.tag = s->pending_tx.tag;
	sdes_crypto_clear(&s->pending_rx);
	sdes_crypto_clear(&s->pending_tx);
}

/* ---- our descriptions ---- */

static void put_line(GString *lines, const struct sdes_crypto *c)
{
	char v[SDES_FORMAT_MAX];
	if (sdes_format(c, v, sizeof v) > 0)
		g_string_append_printf(lines, "a=crypto:%s\r\n", v);
	explicit_bzero(v, sizeof v);
}

static void tp_describe(void *arg, bool answer, const char *mid, uint16_t *port,
                        const char **address, GString *session_lines, GString *media_lines)
{
	(void)mid;
	(void)port;
	(void)address;
	(void)session_lines;
	struct sdh_sdes *s = arg;
	if (answer) {
		/* the line chosen from the offer (a repeated answer: the one in use) */
		put_line(media_lines, s->have_pending ? &s->pending_tx : &s->tx.key);
		return;
	}
	/* An offer: the key we send with first, under its suite, so that an
	 * answer taking it changes nothing; then fresh keys of the others. */
	for (unsigned i = 0; i < s->n_offered; i++)
		sdes_crypto_clear(&s->offered[i]);
	s->n_offered = 0;
	if (s->tx.srtp) {
		s->offered[s->n_offered] = s->tx.key;
		s->offered[s->n_offered].tag = s->n_offered + 1;
		s->n_offered++;
	}
	for (unsigned i = 0; i < N_OFFER && s->n_offered < N_OFFER; i++) {
		if (s->tx.srtp && offer_suites[i] == s->tx.key.suite)
			continue;
		if (sdes_generate(offer_suites[i], s->n_offered + 1, &s->offered[s->n_offered]) == 0)
			s->n_offered++;
	}
	for (unsigned i = 0; i < s->n_offered; i++)
		put_line(media_lines, &s->offered[i]);
}

/* ---- packets ---- */

static int tp_unprotect(void *arg, uint8_t *buf, size_t len, bool rtcp)
{
	struct sdh_sdes *s = arg;
	if (!s->rx.srtp) {
		s->no_keys++;
		return -ENOTCONN;
	}
	struct srtp_counters c;
	srtp_session_counters(s->rx.srtp, &c);
	/* RFC 4568 §6.1: no packet is taken under a key past its lifetime */
	if (s->rx.key.lifetime && c.unprotected >= s->rx.key.lifetime) {
		s->expired++;
		if (!s->expired_logged) {
			s->expired_logged = true;
			logf_(s, "sdes: the peer's key reached its lifetime of %" G_GUINT64_FORMAT
			         " packets: dropping until it re-keys",
			      s->rx.key.lifetime);
		}
		return -EKEYEXPIRED;
	}
	return rtcp ? srtp_session_unprotect_rtcp(s->rx.srtp, buf, len)
	            : srtp_session_unprotect_rtp(s->rx.srtp, buf, len);
}

static int tp_protect(void *arg, uint8_t *buf, size_t len, size_t cap, bool rtcp)
{
	struct sdh_sdes *s = arg;
	if (!s->tx.srtp)
		return -ENOTCONN;
	return rtcp ? srtp_session_protect_rtcp(s->tx.srtp, buf, len, cap)
	            : srtp_session_protect_rtp(s->tx.srtp, buf, len, cap);
}

/* The keys go as soon as media stops, not when the leg is freed. */
static void tp_close(void *arg)
{
	struct sdh_sdes *s = arg;
	direction_clear(&s->rx, &s->rx_done);
	direction_clear(&s->tx, &s->tx_done);
	for (unsigned i = 0; i < N_OFFER; i++)
		sdes_crypto_clear(&s->offered[i]);
	s->n_offered = 0;
	sdes_crypto_clear(&s->pending_rx);
	sdes_crypto_clear(&s->pending_tx);
	s->have_pending = false;
}

/* ---- a leg ---- */

int sdh_sdes_new(struct sdh_rtp_ctx *c, const struct sdh_sdes_params *p, struct sdh_sdes **out)
{
	*out = NULL;
	int rc = srtp_library_init();
	if (rc != 0)
		return rc;
	struct sdh_sdes *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	if (p) {
		s->on_log = p->on_log;
		s->log_arg = p->log_arg;
	}
	struct sdh_rtp_transport tp = {
	    .proto = PROTO,
	    .remote = tp_remote,
	    .agreed = tp_agreed,
	    .describe = tp_describe,
	    .send = NULL, /* the handler's own port pair */
	    .unprotect = tp_unprotect,
	    .protect = tp_protect,
	    .close = tp_close,
	    .arg = s,
	};
	rc = sdh_rtp_new(c, &(struct sdh_rtp_opts){.rtcp_mux = p && p->rtcp_mux, .transport = &tp},
	                 &s->h);
	if (rc != 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void sdh_sdes_free(struct sdh_sdes *s)
{
	if (!s)
		return;
	sdh_rtp_free(s->h); /* closes: tp_close wipes the keys */
	free(s);
}

struct sdh_rtp *sdh_sdes_handler(struct sdh_sdes *s) { return s->h; }

void sdh_sdes_get_stats(const struct sdh_sdes *s, struct sdh_sdes_stats *out)
{
	memset(out, 0, sizeof *out);
	out->rx = s->rx_done;
	out->tx = s->tx_done;
	struct srtp_counters c;
	if (s->rx.srtp) {
		out->rx_suite = s->rx.key.suite;
		srtp_session_counters(s->rx.srtp, &c);
		add_counters(&out->rx, &c);
	}
	if (s->tx.srtp) {
		out->tx_suite = s->tx.key.suite;
		srtp_session_counters(s->tx.srtp, &c);
		add_counters(&out->tx, &c);
	}
	out->no_keys = s->no_keys;
	out->expired = s->expired;
	out->rekeys = s->rekeys;
}
