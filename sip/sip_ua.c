/* sip_ua.c — the UA core (see sip_ua.h): the UA, its timers, sessions,
 * the Invitation (the incoming INVITE), BYE and the ACK of our 2xx. The
 * Inviter lives in sip_ua_inviter.c, requests inside a dialog in
 * sip_ua_dialog.c.
 *
 * Lifetimes: the UA holds one reference to every session from the moment it
 * is live (an Invitation at once, an Inviter from invite()) until it is
 * Terminated; that reference is dropped when the outermost UA call returns
 * (ua_leave), so nothing a callback does frees a session under the UA. Each
 * outgoing request holds a reference until its transaction ends. */
#include "sip/sip_ua.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "sip/sip_build.h"
#include "sip/sip_ua_priv.h"

#define DEFAULT_ALLOW "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE, UPDATE, PRACK, REFER, NOTIFY"
#define DEFAULT_SUPPORTED "timer, replaces, 100rel"
#define DEFAULT_USER_AGENT "sipwire"

static const char *const state_names[] = {
    [SIP_SESSION_INITIAL] = "Initial",         [SIP_SESSION_ESTABLISHING] = "Establishing",
    [SIP_SESSION_ESTABLISHED] = "Established", [SIP_SESSION_TERMINATING] = "Terminating",
    [SIP_SESSION_TERMINATED] = "Terminated",
};

const char *sip_session_state_name(enum sip_session_state st)
{
	if ((unsigned)st >= sizeof(state_names) / sizeof(state_names[0]))
		return "?";
	return state_names[st];
}

static const char *const reason_names[] = {
    [SIP_END_NONE] = "none",
    [SIP_END_BYE_SENT] = "bye-sent",
    [SIP_END_BYE_RECEIVED] = "bye-received",
    [SIP_END_REJECTED] = "rejected",
    [SIP_END_FAILED] = "failed",
    [SIP_END_CANCELED] = "canceled",
    [SIP_END_TIMEOUT] = "timeout",
    [SIP_END_TRANSPORT] = "transport",
    [SIP_END_SESSION_EXPIRED] = "session-expired",
    [SIP_END_REPLACED] = "replaced",
    [SIP_END_ERROR] = "error",
};

const char *sip_end_reason_name(enum sip_end_reason r)
{
	if ((unsigned)r >= sizeof(reason_names) / sizeof(reason_names[0]))
		return "?";
	return reason_names[r];
}

/* ---- small helpers ---- */

char *ua_strdup(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *p = malloc(n + 1);
	if (p)
		memcpy(p, s, n + 1);
	return p;
}

char *ua_strdup_pl(sip_pl pl)
{
	char *p = malloc(pl.l + 1);
	if (!p)
		return NULL;
	if (pl.l)
		memcpy(p, pl.p, pl.l);
	p[pl.l] = '\0';
	return p;
}

/* A NUL-free, CR/LF-free value (a header value we print). */
bool ua_clean_value(const char *s)
{
	if (!s)
		return true;
	for (; *s; s++)
		if (*s == '\r' || *s == '\n')
			return false;
	return true;
}

/* Complete header lines: each ends in CRLF, no bare CR or LF. */
bool ua_clean_lines(const char *s)
{
	if (!s || !*s)
		return true;
	size_t n = strlen(s);
	if (n < 2 || s[n - 2] != '\r' || s[n - 1] != '\n')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' && (i + 1 >= n || s[i + 1] != '\n'))
			return false;
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return false;
		if (s[i] == '\r' && i + 2 < n && s[i + 2] == '\r')
			return false; /* an empty line would end the header section */
	}
	return s[0] != '\r';
}

uint64_t ua_now(const struct sip_ua *ua) { return ua->cfg.now_ms(ua->cfg.arg); }
uint32_t ua_t1(const struct sip_ua *ua) { return ua->cfg.timers.t1; }
uint32_t ua_t2(const struct sip_ua *ua) { return ua->cfg.timers.t2; }

static int ua_random(struct sip_ua *ua, void *buf, size_t len)
{
	if (ua->cfg.random)
		return ua->cfg.random(ua->cfg.arg, buf, len);
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

uint32_t ua_random_u32(struct sip_ua *ua)
{
	uint32_t v = 0;
	if (ua_random(ua, &v, sizeof(v)) != 0)
		v = (uint32_t)ua_now(ua) * 2654435761u; /* still varies between calls */
	return v;
}

int ua_token(struct sip_ua *ua, char *out, size_t size, size_t len)
{
	return sip_random_token(out, size, len, ua->cfg.random, ua->cfg.arg);
}

int ua_branch(struct sip_ua *ua, char *out, size_t size)
{
	if (size < 8 + 16)
		return -ENOSPC;
	memcpy(out, "z9hG4bK", 7);
	return ua_token(ua, out + 7, size - 7, 16);
}

int ua_via(struct sip_session *s, char *out, size_t size)
{
	char branch[32];
	int rc = ua_branch(s->ua, branch, sizeof(branch));
	if (rc)
		return rc;
	int n = snprintf(out, size, "%s;branch=%s", s->via, branch);
	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

void ua_log(struct sip_ua *ua, const struct sip_session *s, const char *fmt, ...)
{
	if (!ua || !ua->cfg.cb.on_log)
		return;
	char msg[320], line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s && s->log_tag[0])
		snprintf(line, sizeof(line), "%s: ua [%s] %s", s->log_tag, s->id ? s->id : "-", msg);
	else
		snprintf(line, sizeof(line), "ua [%s] %s", s && s->id ? s->id : "-", msg);
	ua->cfg.cb.on_log(ua->cfg.arg, line);
}

/* ---- session timers (sip_timer_heap) ---- */

void ua_timer_stop(struct sip_session *s, enum ua_timer_kind k)
{
	if (s->ua)
		sip_timer_heap_stop(&s->ua->timers, &s->timers[k].tm);
}

void ua_timer_start(struct sip_session *s, enum ua_timer_kind k, uint64_t at)
{
	if (s->ua && sip_timer_heap_start(&s->ua->timers, &s->timers[k].tm, at) != 0)
		ua_log(s->ua, s, "out of memory arming a timer");
}

static void timers_stop_all(struct sip_session *s)
{
	for (int k = 0; k < UT_COUNT; k++)
		ua_timer_stop(s, (enum ua_timer_kind)k);
}

/* ---- the UA ---- */

struct sip_ua *sip_ua_new(const struct sip_ua_config *cfg)
{
	if (!cfg || !cfg->txn || !cfg->now_ms || !cfg->cb.send || !cfg->cb.on_invite)
		return NULL;
	struct sip_ua *ua = calloc(1, sizeof(*ua));
	if (!ua)
		return NULL;
	ua->cfg = *cfg;
	if (!ua->cfg.timers.t1)
		ua->cfg.timers.t1 = 500;
	if (!ua->cfg.timers.t2)
		ua->cfg.timers.t2 = 4000;
	if (!ua->cfg.timers.t4)
		ua->cfg.timers.t4 = 5000;
	ua->allow = ua_strdup(cfg->allow ? cfg->allow : DEFAULT_ALLOW);
	ua->supported = ua_strdup(cfg->supported ? cfg->supported : DEFAULT_SUPPORTED);
	ua->user_agent = ua_strdup(cfg->user_agent ? cfg->user_agent : DEFAULT_USER_AGENT);
	ua->dialogs = sip_dialog_table_new(cfg->random, cfg->arg);
	ua->scratch = sip_msg_new(NULL);
	if (!ua->allow || !ua->supported || !ua->user_agent || !ua->dialogs || !ua->scratch ||
	    !ua_clean_value(ua->allow) || !ua_clean_value(ua->supported) ||
	    !ua_clean_value(ua->user_agent)) {
		sip_ua_free(ua);
		return NULL;
	}
	ua->cfg.allow = ua->allow;
	ua->cfg.supported = ua->supported;
	ua->cfg.user_agent = ua->user_agent;
	return ua;
}

static void session_detach(struct sip_session *s);
static void session_unlink(struct sip_session *s);

void sip_ua_free(struct sip_ua *ua)
{
	if (!ua)
		return;
	ua->depth++; /* nothing is released while we walk the lists */
	ua_request_detach_all(ua);
	for (struct sip_session *s = ua->all; s; s = s->all_next)
		s->flow_dead = true; /* nothing leaves any more */
	while (ua->sessions) {
		struct sip_session *s = ua_session_hold(ua->sessions);
		ua_terminate(s, SIP_END_ERROR);
		if (s->in_ua_list)
			session_unlink(s); /* defensive: terminate takes it off */
		ua_session_release(s);
	}
	/* Inviters never invited (the owner's alone) end too */
	for (struct sip_session *s = ua->all; s; s = s->all_next)
		if (s->state != SIP_SESSION_TERMINATED)
			ua_terminate(s, SIP_END_ERROR);
	while (ua->ended) {
		struct sip_session *s = ua->ended;
		ua->ended = s->ended_next;
		s->on_ended_list = false;
		s->ua_ref = false;
		ua_session_release(s);
	}
	/* sessions their owners still hold live on, detached from the UA */
	while (ua->all)
		session_detach(ua->all);
	sip_dialog_table_free(ua->dialogs);
	sip_msg_free(ua->scratch);
	sip_timer_heap_free(&ua->timers);
	free(ua->allow);
	free(ua->supported);
	free(ua->user_agent);
	free(ua);
}

void ua_enter(struct sip_ua *ua) { ua->depth++; }

void ua_leave(struct sip_ua *ua)
{
	if (--ua->depth)
		return;
	ua->depth++;
	while (ua->ended) {
		struct sip_session *s = ua->ended;
		ua->ended = s->ended_next;
		s->on_ended_list = false;
		s->ua_ref = false;
		ua_session_release(s);
	}
	ua->depth--;
}

uint64_t sip_ua_next_deadline(const struct sip_ua *ua)
{
	if (!ua)
		return UINT64_MAX;
	return sip_timer_heap_next(&ua->timers);
}

size_t sip_ua_session_count(const struct sip_ua *ua) { return ua ? ua->nsessions : 0; }

static void timer_fire(struct sip_session *s, enum ua_timer_kind k);

void sip_ua_tick(struct sip_ua *ua)
{
	if (!ua)
		return;
	ua_enter(ua);
	uint64_t now = ua_now(ua);
	struct sip_timer *top;
	while ((top = sip_timer_heap_top(&ua->timers)) && top->at <= now) {
		struct ua_timer *t = (struct ua_timer *)top;
		struct sip_session *s = t->s;
		ua_timer_stop(s, t->kind);
		ua_session_hold(s);
		timer_fire(s, t->kind);
		ua_session_release(s);
	}
	ua_leave(ua);
}

/* ---- sessions: references, state, termination ---- */

struct sip_session *ua_session_hold(struct sip_session *s)
{
	s->refs++;
	return s;
}

void ua_session_release(struct sip_session *s)
{
	if (!s)
		return;
	if (--s->refs)
		return;
	if (s->state != SIP_SESSION_TERMINATED) {
		/* an Inviter never invited (the UA holds no reference to it):
		 * nothing to send, only the SDH to close */
		s->refs = 1;
		ua_terminate(s, SIP_END_NONE);
		if (--s->refs)
			return;
	}
	ua_session_free(s);
}

struct sip_session *sip_session_ref(struct sip_session *s)
{
	if (s)
		s->refs++;
	return s;
}

struct sip_session *sip_session_unref(struct sip_session *s)
{
	if (!s)
		return NULL;
	struct sip_ua *ua = s->ua;
	if (ua)
		ua_enter(ua);
	ua_session_release(s);
	if (ua)
		ua_leave(ua);
	return NULL;
}

static void session_detach(struct sip_session *s)
{
	timers_stop_all(s);
	for (size_t i = 0; i < s->nearly; i++) {
		if (s->early[i] && s->ua)
			sip_dialog_table_remove(s->ua->dialogs, s->early[i]);
	}
	if (s->dialog && s->ua)
		sip_dialog_table_remove(s->ua->dialogs, s->dialog);
	if (s->ist)
		sip_txn_set_user(s->ist, NULL, NULL);
	if (s->ict)
		sip_txn_set_user(s->ict, NULL, NULL);
	s->ist = s->ict = NULL;
	session_unlink(s);
	struct sip_ua *ua = s->ua;
	if (ua) {
		if (s->all_prev)
			s->all_prev->all_next = s->all_next;
		else if (ua->all == s)
			ua->all = s->all_next;
		if (s->all_next)
			s->all_next->all_prev = s->all_prev;
		s->all_prev = s->all_next = NULL;
	}
	s->ua = NULL;
}

void ua_session_free(struct sip_session *s)
{
	if (s->ua)
		session_detach(s);
	for (size_t i = 0; i < s->nearly; i++)
		if (s->early[i] != s->dialog)
			sip_dialog_free(s->early[i]);
	sip_dialog_free(s->dialog);
	sip_msg_free(s->req);
	sip_buf_free(&s->answer);
	sip_buf_free(&s->rel1xx);
	sip_buf_free(&s->uas_2xx);
	sip_buf_free(&s->ack);
	sip_buf_free(&s->local_sdp);
	free(s->rinv_extra);
	/* the replacee is referenced so that sip_session_replacee can look at it
	 * safely; its release may free it (never s itself: a replacee names an
	 * older session) */
	struct sip_session *replacee = s->replacee;
	free(s->req_bytes);
	free(s->id);
	free(s->via);
	free(s->contact);
	free(s->accept_extra);
	free(s->ruri);
	free(s->from);
	free(s->to);
	free(s->call_id);
	free(s->route);
	free(s->extra_headers);
	free(s->cred_user);
	free(s->cred_pass);
	free(s->cred_realm);
	free(s->invite_extra);
	free(s->cancel_extra);
	free(s);
	ua_session_release(replacee);
}

struct sip_session *ua_session_alloc(struct sip_ua *ua, bool inviter)
{
	struct sip_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->ua = ua;
	s->refs = 1;
	s->inviter = inviter;
	s->state = SIP_SESSION_INITIAL;
	for (int k = 0; k < UT_COUNT; k++) {
		sip_timer_init(&s->timers[k].tm);
		s->timers[k].s = s;
		s->timers[k].kind = (enum ua_timer_kind)k;
	}
	sip_buf_init(&s->answer, 0);
	sip_buf_init(&s->rel1xx, 0);
	sip_buf_init(&s->uas_2xx, 0);
	sip_buf_init(&s->ack, 0);
	sip_buf_init(&s->local_sdp, 0);
	s->all_next = ua->all;
	if (ua->all)
		ua->all->all_prev = s;
	ua->all = s;
	return s;
}

void ua_session_link(struct sip_session *s)
{
	struct sip_ua *ua = s->ua;
	s->prev = NULL;
	s->next = ua->sessions;
	if (ua->sessions)
		ua->sessions->prev = s;
	ua->sessions = s;
	s->in_ua_list = true;
	ua->nsessions++;
}

static void session_unlink(struct sip_session *s)
{
	struct sip_ua *ua = s->ua;
	if (!s->in_ua_list || !ua)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		ua->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->in_ua_list = false;
	ua->nsessions--;
}

static bool transition_ok(enum sip_session_state from, enum sip_session_state to)
{
	switch (from) {
	case SIP_SESSION_INITIAL:
		return to == SIP_SESSION_ESTABLISHING || to == SIP_SESSION_TERMINATING ||
		       to == SIP_SESSION_TERMINATED;
	case SIP_SESSION_ESTABLISHING:
		return to == SIP_SESSION_ESTABLISHED || to == SIP_SESSION_TERMINATING ||
		       to == SIP_SESSION_TERMINATED;
	case SIP_SESSION_ESTABLISHED:
		return to == SIP_SESSION_TERMINATING || to == SIP_SESSION_TERMINATED;
	case SIP_SESSION_TERMINATING:
		return to == SIP_SESSION_TERMINATED;
	default:
		return false;
	}
}

void ua_set_state(struct sip_session *s, enum sip_session_state st)
{
	if (s->state == st)
		return;
	if (!transition_ok(s->state, st)) {
		ua_log(s->ua, s, "illegal transition %s -> %s refused", sip_session_state_name(s->state),
		       sip_session_state_name(st));
		return;
	}
	ua_log(s->ua, s, "%s -> %s", sip_session_state_name(s->state), sip_session_state_name(st));
	s->state = st;
	struct ua_listener ls[UA_MAX_LISTENERS];
	memcpy(ls, s->listeners, sizeof(ls)); /* a listener may remove itself */
	for (int i = 0; i < UA_MAX_LISTENERS; i++)
		if (ls[i].fn)
			ls[i].fn(ls[i].arg, s, st);
}

void ua_terminate(struct sip_session *s, enum sip_end_reason why)
{
	if (s->state == SIP_SESSION_TERMINATED)
		return;
	struct sip_ua *ua = s->ua;
	if (!s->reason)
		s->reason = why;
	timers_stop_all(s);
	s->waiting_ack = false;
	s->rel1xx_pending = false;
	s->accept_queued = false;
	if (ua) {
		for (size_t i = 0; i < s->nearly; i++)
			sip_dialog_table_remove(ua->dialogs, s->early[i]);
		if (s->dialog) {
			sip_dialog_table_remove(ua->dialogs, s->dialog);
			sip_dialog_terminate(s->dialog);
		}
	}
	/* an unanswered INVITE gets its final answer */
	if (!s->inviter && s->ist && !s->final_status && !s->flow_dead) {
		struct ua_resp r = {.status = 487, .to_tag = sip_pl_from_cstr(s->local_tag)};
		s->final_status = 487;
		ua_respond(s, s->ist, s->req, &r);
	}
	ua_incoming_answer_all(s, 481);
	session_unlink(s);
	ua_set_state(s, SIP_SESSION_TERMINATED);
	if (s->sdh.ops && s->sdh.ops->close && !s->sdh_closed) {
		s->sdh_closed = true;
		s->sdh.ops->close(s->sdh.ctx);
	}
	if (ua && s->ua_ref && !s->on_ended_list) {
		s->ended_next = ua->ended;
		ua->ended = s;
		s->on_ended_list = true;
	}
}

/* ---- responses ---- */

int ua_build_response(struct sip_session *s, const struct sip_msg *req, const struct ua_resp *r,
                      struct sip_buf *b)
{
	struct sip_ua *ua = s ? s->ua : NULL;
	sip_build_response(b, req, r->status, r->reason, r->to_tag);
	if (r->dialog_resp && s) {
		const struct sip_hdr *h;
		for (h = sip_msg_hdr(req, SIP_HDR_RECORD_ROUTE); h; h = sip_msg_hdr_next(req, h))
			sip_build_header(b, "Record-Route", h->value);
		if (s->contact)
			sip_build_header(b, "Contact", sip_pl_from_cstr(s->contact));
	}
	if (r->caps && ua) {
		sip_build_header(b, "Allow", sip_pl_from_cstr(ua->allow));
		sip_build_header(b, "Supported", sip_pl_from_cstr(ua->supported));
	}
	if (ua && r->status >= 200)
		sip_build_header(b, "Server", sip_pl_from_cstr(ua->user_agent));
	if (r->extra)
		sip_buf_append(b, r->extra, strlen(r->extra));
	if (r->extra2)
		sip_buf_append(b, r->extra2, strlen(r->extra2));
	sip_build_body(b, r->ctype, r->body);
	return b->error;
}

int ua_respond(struct sip_session *s, struct sip_txn *txn, const struct sip_msg *req,
               const struct ua_resp *r)
{
	if (!txn || !req)
		return -EINVAL;
	struct sip_buf b;
	sip_buf_init(&b, 0);
	int rc = ua_build_response(s, req, r, &b);
	if (!rc)
		rc = sip_txn_server_respond(txn, b.p, b.len, s && s->ua ? ua_now(s->ua) : 0);
	sip_buf_free(&b);
	if (rc && s)
		ua_log(s->ua, s, "sending %d failed (%d)", r->status, rc);
	return rc;
}

int ua_respond_plain(struct sip_ua *ua, struct sip_txn *txn, const struct sip_msg *req, int status,
                     const char *extra)
{
	struct sip_buf b;
	sip_buf_init(&b, 0);
	sip_build_response(&b, req, status, NULL, SIP_PL_NULL);
	if (status >= 200)
		sip_build_header(&b, "Server", sip_pl_from_cstr(ua->user_agent));
	if (extra)
		sip_buf_append(&b, extra, strlen(extra));
	sip_build_body(&b, NULL, SIP_PL_NULL);
	int rc = b.error;
	if (!rc)
		rc = sip_txn_server_respond(txn, b.p, b.len, ua_now(ua));
	sip_buf_free(&b);
	return rc;
}

/* ---- the SDH ---- */

int ua_sdh_get(struct sip_session *s, const void *opts, struct sip_buf *out, const char **ctype)
{
	if (!s->sdh.ops || !s->sdh.ops->get_description)
		return -ENOTSUP;
	size_t size = 4096;
	for (int tries = 0; tries < 5; tries++, size *= 2) {
		char *buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		size_t len = 0;
		*ctype = "application/sdp";
		int rc = s->sdh.ops->get_description(s->sdh.ctx, opts, buf, size, &len, ctype);
		if (rc == -ENOSPC) {
			free(buf);
			continue;
		}
		if (rc == 0) {
			if (len > size)
				rc = -EINVAL;
			else {
				sip_buf_reset(out);
				sip_buf_append(out, buf, len);
				rc = out->error;
			}
		}
		free(buf);
		if (!*ctype)
			*ctype = "application/sdp";
		return rc;
	}
	return -ENOSPC;
}

static const char *msg_ctype(const struct sip_msg *m, char *buf, size_t size)
{
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_CONTENT_TYPE);
	if (!h || sip_pl_strcpy(h->value, buf, size))
		return "";
	return buf;
}

bool ua_sdh_has(struct sip_session *s, const struct sip_msg *m)
{
	sip_pl body = sip_msg_body(m);
	if (!body.l)
		return false;
	char ct[128];
	const char *ctype = msg_ctype(m, ct, sizeof(ct));
	if (s->sdh.ops && s->sdh.ops->has_description)
		return s->sdh.ops->has_description(s->sdh.ctx, ctype, body.l);
	return true;
}

int ua_sdh_set(struct sip_session *s, const struct sip_msg *m, const void *opts)
{
	if (!s->sdh.ops || !s->sdh.ops->set_description)
		return -ENOTSUP;
	char ct[128];
	sip_pl body = sip_msg_body(m);
	return s->sdh.ops->set_description(s->sdh.ctx, msg_ctype(m, ct, sizeof(ct)), body.p,
	                                   body.l, opts);
}

void ua_sdh_rollback(struct sip_session *s)
{
	if (s->sdh.ops && s->sdh.ops->rollback_description)
		s->sdh.ops->rollback_description(s->sdh.ctx);
}

/* ---- accessors ---- */

enum sip_session_state sip_session_state(const struct sip_session *s)
{
	return s ? s->state : SIP_SESSION_TERMINATED;
}
enum sip_end_reason sip_session_end_reason(const struct sip_session *s)
{
	return s ? s->reason : SIP_END_NONE;
}
bool sip_session_is_inviter(const struct sip_session *s) { return s && s->inviter; }
const char *sip_session_id(const struct sip_session *s) { return s && s->id ? s->id : ""; }
sip_pl sip_session_call_id(const struct sip_session *s)
{
	if (!s || !s->req)
		return SIP_PL_NULL;
	return sip_msg_call_id(s->req);
}
struct sip_dialog *sip_session_dialog(const struct sip_session *s)
{
	if (!s)
		return NULL;
	if (s->dialog)
		return s->dialog;
	return s->nearly ? s->early[s->nearly - 1] : NULL;
}
const struct sip_msg *sip_session_request(const struct sip_session *s) { return s ? s->req : NULL; }
sip_pl sip_session_body(const struct sip_session *s)
{
	return s && s->req ? sip_msg_body(s->req) : SIP_PL_NULL;
}

sip_pl ua_header_value(const struct sip_msg *m, enum sip_hdr_id id)
{
	const struct sip_hdr *h = m ? sip_msg_hdr(m, id) : NULL;
	return h ? h->value : SIP_PL_NULL;
}

sip_pl sip_session_local_identity(const struct sip_session *s)
{
	if (!s)
		return SIP_PL_NULL;
	struct sip_dialog *d = sip_session_dialog(s);
	if (d)
		return sip_dialog_local_addr(d);
	return ua_header_value(s->req, s->inviter ? SIP_HDR_FROM : SIP_HDR_TO);
}
sip_pl sip_session_remote_identity(const struct sip_session *s)
{
	if (!s)
		return SIP_PL_NULL;
	struct sip_dialog *d = sip_session_dialog(s);
	if (d)
		return sip_dialog_remote_addr(d);
	return ua_header_value(s->req, s->inviter ? SIP_HDR_TO : SIP_HDR_FROM);
}
sip_pl sip_session_asserted_identity(const struct sip_session *s)
{
	return s ? ua_header_value(s->req, SIP_HDR_P_ASSERTED_IDENTITY) : SIP_PL_NULL;
}
struct sip_session *sip_session_replacee(const struct sip_session *s)
{
	if (!s || !s->replacee || s->replacee->state == SIP_SESSION_TERMINATED)
		return NULL;
	return s->replacee;
}

void sip_session_set_log_tag(struct sip_session *s, const char *tag)
{
	if (s)
		snprintf(s->log_tag, sizeof(s->log_tag), "%s", tag ? tag : "");
}

void sip_session_set_delegate(struct sip_session *s, const struct sip_session_delegate *d,
                              void *data)
{
	if (!s)
		return;
	if (d)
		s->delegate = *d;
	else
		memset(&s->delegate, 0, sizeof(s->delegate));
	s->data = data;
}
void *sip_session_data(const struct sip_session *s) { return s ? s->data : NULL; }
void sip_session_set_sdh(struct sip_session *s, struct sip_sdh sdh)
{
	if (s)
		s->sdh = sdh;
}
const struct sip_sdh *sip_session_sdh(const struct sip_session *s)
{
	return s && s->sdh.ops ? &s->sdh : NULL;
}
void sip_session_set_sdh_options(struct sip_session *s, const void *initial, const void *reinvite)
{
	if (!s)
		return;
	s->sdh_opts_initial = initial;
	s->sdh_opts_reinvite = reinvite;
}

int ua_set_transport(struct sip_session *s, const struct sip_ua_transport *t)
{
	if (!t || !t->via || !t->contact || !ua_clean_value(t->via) || !ua_clean_value(t->contact))
		return -EINVAL;
	char *via = ua_strdup(t->via), *contact = ua_strdup(t->contact);
	if (!via || !contact) {
		free(via);
		free(contact);
		return -ENOMEM;
	}
	free(s->via);
	free(s->contact);
	s->via = via;
	s->contact = contact;
	s->dest = t->dest;
	return 0;
}

void sip_session_set_transport(struct sip_session *s, const struct sip_ua_transport *t)
{
	if (s && ua_set_transport(s, t) != 0)
		ua_log(s->ua, s, "transport not changed");
}
const struct sip_txn_dest *sip_session_dest(const struct sip_session *s)
{
	return s ? &s->dest : NULL;
}

int sip_session_add_state_listener(struct sip_session *s, sip_session_state_fn fn, void *arg)
{
	if (!s || !fn)
		return -EINVAL;
	for (int i = 0; i < UA_MAX_LISTENERS; i++) {
		if (!s->listeners[i].fn) {
			s->listeners[i].fn = fn;
			s->listeners[i].arg = arg;
			return 0;
		}
	}
	return -ENOSPC;
}

void sip_session_remove_state_listener(struct sip_session *s, sip_session_state_fn fn, void *arg)
{
	if (!s)
		return;
	for (int i = 0; i < UA_MAX_LISTENERS; i++)
		if (s->listeners[i].fn == fn && s->listeners[i].arg == arg) {
			s->listeners[i].fn = NULL;
			s->listeners[i].arg = NULL;
			return;
		}
}

int ua_make_id(struct sip_session *s, sip_pl call_id)
{
	size_t n = call_id.l + 1 + strlen(s->local_tag) + 1;
	s->id = malloc(n);
	if (!s->id)
		return -ENOMEM;
	snprintf(s->id, n, "%.*s;%s", (int)call_id.l, call_id.p, s->local_tag);
	return 0;
}

/* Keep a copy of a message and parse it. */
int ua_keep_message(struct sip_session *s, const char *bytes, size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, bytes, len);
	copy[len] = '\0';
	/* Kept for the session's life: a copy sized to its fields. */
	struct sip_msg *m;
	int rc = sip_msg_parse_kept(copy, len, SIP_PARSE_DATAGRAM, NULL, &m);
	if (rc) {
		free(copy);
		return rc;
	}
	sip_msg_free(s->req);
	s->req = m;
	free(s->req_bytes);
	s->req_bytes = copy;
	s->req_len = len;
	return 0;
}

/* ---- Invitation (UAS) ---- */

static void ist_on_ack(void *user, struct sip_txn *txn, const struct sip_msg *msg);
static void ist_on_terminated(void *user, struct sip_txn *txn);
static const struct sip_txn_user ist_user = {
    .on_ack = ist_on_ack,
    .on_terminated = ist_on_terminated,
};

static void ist_on_ack(void *user, struct sip_txn *txn, const struct sip_msg *msg)
{
	struct sip_session *s = user;
	(void)txn;
	if (!s || !s->ua)
		return;
	ua_enter(s->ua);
	struct sip_ua *ua = s->ua;
	ua_session_hold(s);
	ua_uas_ack(s, msg);
	ua_session_release(s);
	ua_leave(ua);
}

static void ist_on_terminated(void *user, struct sip_txn *txn)
{
	struct sip_session *s = user;
	if (s && s->ist == txn)
		s->ist = NULL;
}

/* Option tags we understand in a Require. */
static bool option_known(sip_pl tag)
{
	return sip_pl_caseeq_cstr(tag, "100rel") || sip_pl_caseeq_cstr(tag, "timer") ||
	       sip_pl_caseeq_cstr(tag, "replaces");
}

/* 420 with the tags we lack, or 0 when every required tag is known. */
static int check_require(struct sip_ua *ua, struct sip_txn *txn, const struct sip_msg *msg)
{
	struct sip_value_iter it = {0};
	sip_pl v;
	struct sip_buf un;
	sip_buf_init(&un, 1024);
	while (sip_msg_value_next(msg, SIP_HDR_REQUIRE, &it, &v)) {
		if (!v.l || option_known(v))
			continue;
		if (un.len)
			sip_buf_append(&un, ", ", 2);
		sip_buf_append_pl(&un, v);
	}
	if (!un.len) {
		sip_buf_free(&un);
		return 0;
	}
	struct sip_buf h;
	sip_buf_init(&h, 0);
	sip_buf_printf(&h, "Unsupported: %.*s\r\n", (int)un.len, un.p);
	if (!h.error)
		ua_respond_plain(ua, txn, msg, 420, h.p);
	sip_buf_free(&h);
	sip_buf_free(&un);
	return 420;
}

static int ensure_uas_dialog(struct sip_session *s)
{
	if (s->dialog)
		return 0;
	int rc = sip_dialog_new_uas(s->req, sip_pl_from_cstr(s->local_tag),
	                            sip_pl_from_cstr(s->contact), &s->dialog);
	if (rc)
		return rc;
	sip_dialog_set_user(s->dialog, s);
	rc = sip_dialog_table_add(s->ua->dialogs, s->dialog);
	if (rc) {
		sip_dialog_free(s->dialog);
		s->dialog = NULL;
	}
	return rc;
}

/* The SDH takes the INVITE's offer (once). */
static int apply_invite_offer(struct sip_session *s)
{
	if (!s->offer_in_invite || s->remote_offer_set)
		return 0;
	int rc = ua_sdh_set(s, s->req, s->sdh_opts_initial);
	if (rc == 0)
		s->remote_offer_set = true;
	return rc;
}

/* Our description for the INVITE: the answer to its offer, or our offer. */
static int make_local_description(struct sip_session *s, const void *opts)
{
	if (s->answer_sent || s->answer.len)
		return 0;
	int rc = apply_invite_offer(s);
	if (rc)
		return rc;
	rc = ua_sdh_get(s, opts ? opts : s->sdh_opts_initial, &s->answer, &s->answer_ctype);
	return rc;
}

static void reject_488(struct sip_session *s, int err)
{
	ua_log(s->ua, s, "the SDH refused the description (%d): 488", err);
	struct ua_resp r = {.status = 488, .to_tag = sip_pl_from_cstr(s->local_tag)};
	s->final_status = 488;
	ua_respond(s, s->ist, s->req, &r);
	ua_terminate(s, SIP_END_ERROR);
}

int sip_invitation_progress(struct sip_session *s, const struct sip_progress_opts *opts)
{
	static const struct sip_progress_opts none = {0};
	if (!s)
		return -EINVAL;
	if (!opts)
		opts = &none;
	if (s->inviter || !s->ua)
		return -EPROTO;
	if (s->cancelled)
		return -ECANCELED;
	if (s->final_status || s->state != SIP_SESSION_INITIAL || !s->ist)
		return -EPROTO;
	int status = opts->status ? opts->status : 180;
	if (status < 100 || status > 199 || !ua_clean_lines(opts->extra_headers) ||
	    !ua_clean_value(opts->reason))
		return -EINVAL;
	bool reliable = opts->rel100 && s->peer_100rel && status != 100;
	if (reliable && s->rel1xx_pending)
		return -EBUSY;
	if (opts->with_description && !s->offer_in_invite && !reliable)
		return -EINVAL; /* an offer goes only in a reliable 1xx (RFC 3262 §5) */
	struct sip_ua *ua = s->ua;
	ua_enter(ua);
	int rc = 0;
	if (status != 100 && (rc = ensure_uas_dialog(s)) != 0)
		goto out;
	bool with_sdp = opts->with_description;
	if (with_sdp && (rc = make_local_description(s, NULL)) != 0) {
		if (rc != -ENOMEM)
			reject_488(s, rc);
		goto out;
	}
	char rel[64] = "";
	if (reliable) {
		s->rseq = s->rseq ? s->rseq + 1 : 1 + (ua_random_u32(ua) & 0x7fff);
		snprintf(rel, sizeof(rel), "Require: 100rel\r\nRSeq: %u\r\n", (unsigned)s->rseq);
	}
	struct ua_resp r = {
	    .status = status,
	    .reason = opts->reason,
	    .to_tag = status != 100 ? sip_pl_from_cstr(s->local_tag) : SIP_PL_NULL,
	    .dialog_resp = status != 100,
	    .caps = status != 100,
	    .extra = rel,
	    .extra2 = opts->extra_headers,
	    .ctype = with_sdp ? s->answer_ctype : NULL,
	    .body = with_sdp ? sip_buf_pl(&s->answer) : SIP_PL_NULL,
	};
	struct sip_buf b;
	sip_buf_init(&b, 0);
	rc = ua_build_response(s, s->req, &r, &b);
	if (!rc)
		rc = sip_txn_server_respond(s->ist, b.p, b.len, ua_now(ua));
	if (rc) {
		sip_buf_free(&b);
		goto out;
	}
	if (with_sdp)
		s->answer_sent = true;
	if (reliable) {
		sip_buf_free(&s->rel1xx);
		s->rel1xx = b;
		s->rel1xx_pending = true;
		s->rel1xx_has_sdp = with_sdp;
		s->rel1xx_iv = ua_t1(ua);
		ua_timer_start(s, UT_1XX_RETX, ua_now(ua) + s->rel1xx_iv);
		ua_timer_start(s, UT_PRACK_WAIT, ua_now(ua) + 64ull * ua_t1(ua));
	} else {
		sip_buf_free(&b);
	}
out:
	ua_leave(ua);
	return rc;
}

int ua_invitation_send_2xx(struct sip_session *s)
{
	struct sip_ua *ua = s->ua;
	int rc = ensure_uas_dialog(s);
	if (rc)
		return rc;
	struct sip_buf se;
	sip_buf_init(&se, 0);
	ua_session_timer_from_request(s, s->req, &se);
	struct ua_resp r = {
	    .status = 200,
	    .to_tag = sip_pl_from_cstr(s->local_tag),
	    .dialog_resp = true,
	    .caps = true,
	    .extra = se.len ? se.p : NULL,
	    .extra2 = s->accept_extra,
	    .ctype = s->answer.len ? s->answer_ctype : NULL,
	    .body = s->answer.len ? sip_buf_pl(&s->answer) : SIP_PL_NULL,
	};
	/* our offer went in a reliable 1xx and its answer came in the PRACK:
	 * the offer/answer is over, the 2xx carries no description */
	bool done_early = !s->offer_in_invite && s->remote_offer_set;
	if (done_early) {
		r.ctype = NULL;
		r.body = SIP_PL_NULL;
	}
	struct sip_buf b;
	sip_buf_init(&b, 0);
	rc = ua_build_response(s, s->req, &r, &b);
	sip_buf_free(&se);
	if (!rc)
		rc = sip_txn_server_respond(s->ist, b.p, b.len, ua_now(ua));
	if (rc) {
		sip_buf_free(&b);
		return rc;
	}
	s->final_status = 200;
	s->answer_sent = true;
	sip_buf_reset(&s->local_sdp);
	sip_buf_append(&s->local_sdp, s->answer.p, s->answer.len);
	s->local_ctype = s->answer_ctype;
	sip_dialog_confirm(s->dialog);
	sip_buf_free(&s->uas_2xx);
	s->uas_2xx = b;
	s->uas_2xx_cseq = sip_msg_cseq(s->req)->seq;
	s->uas_2xx_offer = !s->offer_in_invite && !done_early;
	s->waiting_ack = true;
	uint64_t now = ua_now(ua);
	if (!s->dest.reliable) {
		s->uas_2xx_iv = ua_t1(ua);
		ua_timer_start(s, UT_2XX_RETX, now + s->uas_2xx_iv);
	}
	ua_timer_start(s, UT_ACK_WAIT, now + 64ull * ua_t1(ua));
	return 0;
}

int sip_invitation_accept(struct sip_session *s, const struct sip_invitation_accept_opts *opts)
{
	if (!s)
		return -EINVAL;
	if (s->inviter || !s->ua)
		return -EPROTO;
	if (s->cancelled)
		return -ECANCELED;
	if (s->final_status || s->state != SIP_SESSION_INITIAL || !s->ist)
		return -EPROTO;
	if (opts && !ua_clean_lines(opts->extra_headers))
		return -EINVAL;
	struct sip_ua *ua = s->ua;
	ua_enter(ua);
	ua_session_hold(s);
	int rc = make_local_description(s, opts ? opts->sdh_options : NULL);
	if (rc) {
		if (rc != -ENOMEM)
			reject_488(s, rc);
		goto out;
	}
	free(s->accept_extra);
	s->accept_extra = opts ? ua_strdup(opts->extra_headers) : NULL;
	ua_set_state(s, SIP_SESSION_ESTABLISHING);
	if (s->state != SIP_SESSION_ESTABLISHING) { /* a listener ended it */
		rc = -ECANCELED;
		goto out;
	}
	if (s->rel1xx_pending && s->rel1xx_has_sdp) {
		/* RFC 3262 §3: no 2xx while a reliable 1xx with a description waits
		 * for its PRACK; the PRACK sends it */
		s->accept_queued = true;
		goto out;
	}
	rc = ua_invitation_send_2xx(s);
	if (rc) {
		ua_log(ua, s, "the 2xx could not be sent (%d)", rc);
		ua_terminate(s, rc == -ENOMEM ? SIP_END_ERROR : SIP_END_TRANSPORT);
	}
out:
	ua_session_release(s);
	ua_leave(ua);
	return rc;
}

int sip_invitation_reject(struct sip_session *s, const struct sip_reject_opts *opts)
{
	if (!s)
		return -EINVAL;
	if (s->inviter || !s->ua)
		return -EPROTO;
	if (s->cancelled)
		return -ECANCELED;
	if (s->final_status || !s->ist ||
	    (s->state != SIP_SESSION_INITIAL && !(s->state == SIP_SESSION_ESTABLISHING &&
	                                          s->accept_queued)))
		return -EPROTO;
	int status = opts && opts->status ? opts->status : 480;
	if (status < 300 || status > 699 || (opts && (!ua_clean_lines(opts->extra_headers) ||
	                                              !ua_clean_value(opts->reason))))
		return -EINVAL;
	struct sip_ua *ua = s->ua;
	ua_enter(ua);
	struct ua_resp r = {
	    .status = status,
	    .reason = opts ? opts->reason : NULL,
	    .to_tag = sip_pl_from_cstr(s->local_tag),
	    .extra = opts ? opts->extra_headers : NULL,
	};
	s->final_status = status;
	int rc = ua_respond(s, s->ist, s->req, &r);
	ua_terminate(s, SIP_END_REJECTED);
	ua_leave(ua);
	return rc;
}

/* CANCEL for our Invitation: 200 to it, 487 to the INVITE. */
static void invitation_cancelled(struct sip_session *s, struct sip_txn *txn,
                                 const struct sip_msg *cancel)
{
	ua_respond_plain(s->ua, txn, cancel, 200, NULL);
	if (s->final_status || s->state == SIP_SESSION_TERMINATED)
		return; /* answered already: the CANCEL changes nothing */
	s->cancelled = true;
	struct ua_resp r = {.status = 487, .to_tag = sip_pl_from_cstr(s->local_tag)};
	s->final_status = 487;
	ua_respond(s, s->ist, s->req, &r);
	if (s->delegate.on_cancel)
		s->delegate.on_cancel(s->data, s, cancel);
	ua_terminate(s, SIP_END_CANCELED);
}

/* RFC 3891: the session an INVITE with Replaces names, or an error status. */
static int find_replacee(struct sip_ua *ua, const struct sip_msg *msg, struct sip_session **out)
{
	*out = NULL;
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_REPLACES);
	if (!h)
		return 0;
	if (sip_msg_hdr_next(msg, h))
		return 400;
	struct sip_replaces rp;
	if (sip_replaces_parse(h->value, &rp) != 0)
		return 400;
	struct sip_dialog *d = sip_dialog_table_find(ua->dialogs, rp.call_id, rp.to_tag, rp.from_tag);
	struct sip_session *t = d ? sip_dialog_user(d) : NULL;
	if (!t || t->state == SIP_SESSION_TERMINATED || t->state == SIP_SESSION_TERMINATING)
		return 481;
	bool confirmed = sip_dialog_state(d) == SIP_DIALOG_CONFIRMED;
	if (!confirmed && t->inviter)
		return 481; /* an early dialog we created as UAC cannot be replaced */
	if (confirmed && rp.early_only)
		return 486;
	*out = t;
	return 0;
}

static int invitation_new(struct sip_ua *ua, struct sip_txn *txn, const struct sip_msg *msg,
                          const struct sip_ua_transport *where)
{
	if (check_require(ua, txn, msg) || ua_check_min_se(ua, txn, msg))
		return 0;
	struct sip_session *replacee = NULL;
	int st = find_replacee(ua, msg, &replacee);
	if (st) {
		ua_respond_plain(ua, txn, msg, st, NULL);
		return 0;
	}
	struct sip_session *s = ua_session_alloc(ua, false);
	if (!s) {
		ua_respond_plain(ua, txn, msg, 500, NULL);
		return -ENOMEM;
	}
	sip_pl raw = sip_msg_raw(msg);
	int rc = ua_keep_message(s, raw.p, raw.l);
	if (!rc)
		rc = ua_set_transport(s, where);
	if (!rc && !where->dest.flow)
		s->dest = *sip_txn_dest(txn);
	if (!rc)
		rc = ua_token(ua, s->local_tag, sizeof(s->local_tag), 10);
	if (!rc)
		rc = ua_make_id(s, sip_msg_call_id(msg));
	if (rc) {
		ua_respond_plain(ua, txn, msg, rc == -EINVAL ? 400 : 500, NULL);
		ua_session_free(s);
		return rc == -ENOMEM ? -ENOMEM : 0;
	}
	s->replacee = replacee ? ua_session_hold(replacee) : NULL; /* see session_free */
	s->offer_in_invite = sip_msg_body(s->req).l > 0;
	s->peer_100rel = sip_msg_has_option(msg, SIP_HDR_SUPPORTED, "100rel") ||
	                 sip_msg_has_option(msg, SIP_HDR_REQUIRE, "100rel");
	s->requires_100rel = sip_msg_has_option(msg, SIP_HDR_REQUIRE, "100rel");
	s->peer_allows_update = false;
	struct sip_value_iter it = {0};
	sip_pl v;
	while (sip_msg_value_next(msg, SIP_HDR_ALLOW, &it, &v))
		if (sip_pl_caseeq_cstr(v, "UPDATE"))
			s->peer_allows_update = true;
	s->ist = txn;
	sip_txn_set_user(txn, &ist_user, s);
	ua_session_link(s);
	s->ua_ref = true; /* the reference session_alloc made */
	ua_log(ua, s, "Invitation from %.*s", (int)sip_session_remote_identity(s).l,
	       sip_session_remote_identity(s).p);
	ua_session_hold(s);
	ua->cfg.cb.on_invite(ua->cfg.arg, s);
	if (ua->cfg.auto_180 && s->state == SIP_SESSION_INITIAL && !s->final_status &&
	    !s->cancelled && !s->requires_100rel && !s->dialog)
		sip_invitation_progress(s, NULL);
	ua_session_release(s);
	return 0;
}

/* ---- dispose, bye ---- */

int sip_session_dispose(struct sip_session *s)
{
	if (!s)
		return -EINVAL;
	switch (s->state) {
	case SIP_SESSION_INITIAL:
		if (s->inviter)
			return sip_inviter_cancel(s, NULL);
		return sip_invitation_reject(s, NULL);
	case SIP_SESSION_ESTABLISHING:
		if (s->inviter)
			return sip_inviter_cancel(s, NULL);
		if (s->accept_queued)
			return sip_invitation_reject(s, NULL);
		return sip_session_bye(s, NULL);
	case SIP_SESSION_ESTABLISHED:
		return sip_session_bye(s, NULL);
	default:
		return 0;
	}
}

int sip_session_bye(struct sip_session *s, const struct sip_request_opts *opts)
{
	if (!s || !s->ua)
		return -EINVAL;
	bool accepted = !s->inviter && s->state == SIP_SESSION_ESTABLISHING && s->waiting_ack;
	if (s->state != SIP_SESSION_ESTABLISHED && !accepted)
		return -EPROTO;
	struct sip_ua *ua = s->ua;
	ua_enter(ua);
	int rc = 0;
	ua_set_state(s, SIP_SESSION_TERMINATING);
	if (accepted) {
		/* §15: no BYE before the ACK (or its timeout) */
		s->bye_after_ack = true;
		goto out;
	}
	rc = ua_send_request(s, NULL, SIP_METHOD_BYE, UR_BYE, opts, NULL, NULL);
	if (rc)
		ua_terminate(s, rc == -ENOMEM ? SIP_END_ERROR : SIP_END_TRANSPORT);
out:
	ua_leave(ua);
	return rc;
}

/* ---- timers ---- */

static void uas_ack_timeout(struct sip_session *s)
{
	struct sip_ua *ua = s->ua;
	ua_timer_stop(s, UT_2XX_RETX);
	s->waiting_ack = false;
	ua_log(ua, s, "no ACK for our 2xx in 64*T1: BYE");
	if (!s->reason)
		s->reason = SIP_END_TIMEOUT;
	if (s->state != SIP_SESSION_TERMINATING)
		ua_set_state(s, SIP_SESSION_TERMINATING);
	if (s->state != SIP_SESSION_TERMINATING)
		return;
	if (ua_send_request(s, NULL, SIP_METHOD_BYE, UR_BYE, NULL, NULL, NULL) != 0)
		ua_terminate(s, SIP_END_TIMEOUT);
}

static void timer_fire(struct sip_session *s, enum ua_timer_kind k)
{
	struct sip_ua *ua = s->ua;
	uint64_t now = ua_now(ua);
	switch (k) {
	case UT_2XX_RETX:
		if (!s->waiting_ack)
			return;
		ua->cfg.cb.send(ua->cfg.arg, &s->dest, s->uas_2xx.p, s->uas_2xx.len);
		s->uas_2xx_iv = s->uas_2xx_iv * 2 < ua_t2(ua) ? s->uas_2xx_iv * 2 : ua_t2(ua);
		ua_timer_start(s, UT_2XX_RETX, now + s->uas_2xx_iv);
		break;
	case UT_ACK_WAIT:
		if (s->waiting_ack)
			uas_ack_timeout(s);
		break;
	case UT_1XX_RETX:
		if (!s->rel1xx_pending || !s->ist || s->final_status)
			return;
		sip_txn_server_respond(s->ist, s->rel1xx.p, s->rel1xx.len, now);
		s->rel1xx_iv *= 2;
		ua_timer_start(s, UT_1XX_RETX, now + s->rel1xx_iv);
		break;
	case UT_PRACK_WAIT:
		if (!s->rel1xx_pending || s->final_status)
			return;
		ua_log(ua, s, "no PRACK in 64*T1: 504");
		s->rel1xx_pending = false;
		ua_timer_stop(s, UT_1XX_RETX);
		{
			struct ua_resp r = {.status = 504, .to_tag = sip_pl_from_cstr(s->local_tag)};
			s->final_status = 504;
			ua_respond(s, s->ist, s->req, &r);
		}
		ua_terminate(s, SIP_END_TIMEOUT);
		break;
	case UT_GLARE:
		ua_reinvite_retry(s);
		break;
	case UT_SESSION:
		ua_session_timer_fire(s);
		break;
	case UT_CANCEL_WAIT:
		ua_inviter_cancel_timeout(s);
		break;
	default:
		break;
	}
}

/* ---- input ---- */

static struct sip_session *session_of_invite_txn(struct sip_ua *ua, struct sip_txn *ist)
{
	for (struct sip_session *s = ua->sessions; s; s = s->next)
		if (s->ist == ist)
			return s;
	return NULL;
}

int sip_ua_receive_request(struct sip_ua *ua, struct sip_txn *txn, const struct sip_msg *msg,
                           const struct sip_ua_transport *where)
{
	if (!ua || !txn || !msg || !sip_msg_is_request(msg))
		return -EINVAL;
	enum sip_method m = sip_msg_method(msg);
	if (m == SIP_METHOD_ACK)
		return -EINVAL;
	ua_enter(ua);
	int rc = 0;
	if (m == SIP_METHOD_CANCEL) {
		struct sip_txn *ist =
		    sip_txn_find_invite_for_cancel(ua->cfg.txn, msg, sip_txn_dest(txn));
		struct sip_session *s = ist ? session_of_invite_txn(ua, ist) : NULL;
		if (s) {
			ua_session_hold(s);
			invitation_cancelled(s, txn, msg);
			ua_session_release(s);
			goto out;
		}
		/* a CANCEL of a re-INVITE of ours, or of nothing */
		struct sip_dialog *d = sip_dialog_table_find_request(ua->dialogs, msg);
		if (d && sip_dialog_user(d)) {
			struct sip_session *ds = sip_dialog_user(d);
			ua_session_hold(ds);
			ua_dialog_request(ds, txn, msg);
			ua_session_release(ds);
			goto out;
		}
		ua_respond_plain(ua, txn, msg, 481, NULL);
		goto out;
	}
	const struct sip_addr *to = sip_msg_to(msg);
	if (!to->tag.p) {
		if (m == SIP_METHOD_INVITE) {
			if (!where || !where->via || !where->contact) {
				ua_respond_plain(ua, txn, msg, 500, NULL);
				rc = -EINVAL;
			} else {
				rc = invitation_new(ua, txn, msg, where);
			}
		} else {
			rc = -ENOENT;
		}
		goto out;
	}
	struct sip_dialog *d = sip_dialog_table_find_request(ua->dialogs, msg);
	struct sip_session *s = d ? sip_dialog_user(d) : NULL;
	if (!s || s->state == SIP_SESSION_TERMINATED) {
		ua_log(ua, NULL, "%.*s for no dialog: 481", (int)sip_msg_method_name(msg).l,
		       sip_msg_method_name(msg).p);
		ua_respond_plain(ua, txn, msg, 481, NULL);
		goto out;
	}
	int st = sip_dialog_receive_request(d, msg);
	if (st < 0) {
		ua_respond_plain(ua, txn, msg, 500, NULL);
		rc = st;
		goto out;
	}
	if (st) {
		ua_respond_plain(ua, txn, msg, st, NULL);
		goto out;
	}
	ua_session_hold(s);
	if (d != s->dialog && m != SIP_METHOD_BYE && m != SIP_METHOD_PRACK &&
	    m != SIP_METHOD_UPDATE && m != SIP_METHOD_INFO && m != SIP_METHOD_NOTIFY &&
	    m != SIP_METHOD_MESSAGE) {
		/* an early dialog of a fork we did not keep */
		ua_respond_plain(ua, txn, msg, 481, NULL);
	} else if (m != SIP_METHOD_PRACK && check_require(ua, txn, msg)) {
		/* answered 420 */
	} else if (m == SIP_METHOD_PRACK && !s->inviter) {
		ua_invitation_prack(s, txn, msg);
	} else {
		ua_dialog_request(s, txn, msg);
	}
	ua_session_release(s);
out:
	ua_leave(ua);
	return rc;
}

int sip_ua_receive_ack(struct sip_ua *ua, const struct sip_msg *ack, const struct sip_txn_dest *from)
{
	(void)from;
	if (!ua || !ack || !sip_msg_is_request(ack) || sip_msg_method(ack) != SIP_METHOD_ACK)
		return -EINVAL;
	struct sip_dialog *d = sip_dialog_table_find_request(ua->dialogs, ack);
	struct sip_session *s = d ? sip_dialog_user(d) : NULL;
	if (!s || d != s->dialog)
		return -ENOENT;
	if (!s->waiting_ack || sip_msg_cseq(ack)->seq != s->uas_2xx_cseq)
		return s->state == SIP_SESSION_TERMINATED ? -ENOENT : 0; /* a retransmission */
	ua_enter(ua);
	ua_session_hold(s);
	ua_uas_ack(s, ack);
	ua_session_release(s);
	ua_leave(ua);
	return 0;
}

/* RFC 3891 §3: once the INVITE with Replaces is established, the session
 * it names ends — BYE when it was established, 487 when it was still an
 * unanswered Invitation. */
static void end_replacee(struct sip_session *s)
{
	struct sip_session *r = s->replacee;
	if (!r || r->state == SIP_SESSION_TERMINATED || r->state == SIP_SESSION_TERMINATING)
		return;
	ua_session_hold(r);
	ua_log(s->ua, r, "replaced by %s", s->id);
	r->reason = SIP_END_REPLACED;
	if (r->state == SIP_SESSION_ESTABLISHED)
		sip_session_bye(r, NULL);
	else if (!r->inviter && !r->final_status)
		sip_invitation_reject(r, &(struct sip_reject_opts){.status = 487});
	else
		sip_session_dispose(r);
	ua_session_release(r);
}

void ua_uas_ack(struct sip_session *s, const struct sip_msg *ack)
{
	if (!s->waiting_ack || sip_msg_cseq(ack)->seq != s->uas_2xx_cseq)
		return;
	s->waiting_ack = false;
	ua_timer_stop(s, UT_2XX_RETX);
	ua_timer_stop(s, UT_ACK_WAIT);
	bool initial = s->state == SIP_SESSION_ESTABLISHING ||
	               (s->state == SIP_SESSION_TERMINATING && s->bye_after_ack);
	if (s->uas_2xx_offer) {
		s->uas_2xx_offer = false;
		if (ua_sdh_has(s, ack)) {
			if (ua_sdh_set(s, ack, initial ? s->sdh_opts_initial : s->sdh_opts_reinvite) ==
			    0) {
				if (s->delegate.on_description && s->state != SIP_SESSION_TERMINATING)
					s->delegate.on_description(s->data, s);
			} else {
				ua_log(s->ua, s, "the answer in the ACK was refused: BYE");
				s->reason = SIP_END_ERROR;
				s->bye_after_ack = true;
			}
		} else {
			ua_log(s->ua, s, "ACK without the answer to our offer: BYE");
			s->reason = SIP_END_ERROR;
			s->bye_after_ack = true;
		}
	}
	if (s->bye_after_ack) {
		s->bye_after_ack = false;
		if (s->state != SIP_SESSION_TERMINATING)
			ua_set_state(s, SIP_SESSION_TERMINATING);
		if (ua_send_request(s, NULL, SIP_METHOD_BYE, UR_BYE, NULL, NULL, NULL) != 0)
			ua_terminate(s, SIP_END_ERROR);
		return;
	}
	if (s->state == SIP_SESSION_ESTABLISHING) {
		ua_set_state(s, SIP_SESSION_ESTABLISHED);
		if (s->state == SIP_SESSION_ESTABLISHED) {
			ua_session_timer_arm(s);
			end_replacee(s);
		}
	}
}

size_t sip_ua_flow_closed(struct sip_ua *ua, const void *flow)
{
	if (!ua)
		return 0;
	ua_enter(ua);
	size_t n = 0;
	struct sip_session *s = ua->sessions;
	while (s) {
		struct sip_session *next = s->next;
		if (s->dest.flow == flow) {
			ua_session_hold(s);
			s->flow_dead = true;
			if (s->ist && !s->final_status)
				s->final_status = 503; /* nothing can be sent: no 487 either */
			ua_terminate(s, SIP_END_TRANSPORT);
			/* the list may have changed under callbacks: restart from the head */
			next = ua->sessions;
			ua_session_release(s);
			n++;
		}
		s = next;
	}
	ua_leave(ua);
	return n;
}
