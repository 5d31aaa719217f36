/* fuzz_ua — two UA cores, each on a real transaction layer, joined by a fake
 * wire the input controls: which messages arrive, which are lost or arrive
 * twice, when the clock moves, which API calls the owners make (accept,
 * progress, reject, BYE, INFO, re-INVITE, CANCEL, REFER, dispose, unref),
 * flows closing, and hand-made requests inside the sessions' dialogs (with
 * Session-Expires, RAck, Refer-To, Replaces, bodies or none). Checks: states
 * only move forward, deadlines never lie behind the clock, the UA's session
 * count matches the live sessions it announced, no use after free and no
 * leak (ASan) once everything is freed in any order. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_build.h"
#include "sip/sip_msg.h"
#include "sip/sip_txn.h"
#include "sip/sip_ua.h"
#include "fuzz.h"

#define MAXS 16
#define MAXW 256
#define MAXRQ 16

struct wmsg {
	int from;
	char *bytes;
	size_t len;
};
static struct wmsg wire[MAXW];
static size_t nwire, next_in;
static uint64_t now;
static struct sip_msg *M;

struct fside {
	int idx;
	char flow;
	struct sip_txn_layer *txn;
	struct sip_ua *ua;
	struct sip_ua_transport tp;
	int sdh_fail;
	unsigned version;
};
static struct fside S[2];

struct tracked {
	struct sip_session *s;
	int side;
	enum sip_session_state last;
};
static struct tracked T[MAXS];
static size_t nT;
static size_t announced[2]; /* Invitations raised + Inviters invited, per side */

struct pending {
	struct sip_incoming_request *rq;
	struct sip_session *s;
};
static struct pending P[MAXRQ];
static size_t nP;
static bool answer_later;

static volatile unsigned sink;

static int wire_send(void *arg, const struct sip_txn_dest *d, const char *b, size_t len)
{
	struct fside *sd = arg;
	(void)d;
	unsigned sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += (unsigned char)b[i];
	sink = sum;
	if (nwire >= MAXW)
		return 0; /* the wire is full: lost */
	wire[nwire].from = sd->idx;
	wire[nwire].bytes = malloc(len);
	memcpy(wire[nwire].bytes, b, len);
	wire[nwire].len = len;
	nwire++;
	return 0;
}

static uint64_t clock_ms(void *arg)
{
	(void)arg;
	return now;
}

static unsigned rnd_counter;
static int frandom(void *arg, void *buf, size_t len)
{
	(void)arg;
	unsigned char *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)((++rnd_counter * 2654435761u) >> 13);
	return 0;
}

/* ---- the SDH ---- */
static int sdh_get(void *ctx, const void *o, char *buf, size_t size, size_t *len,
                   const char **ctype)
{
	struct fside *sd = ctx;
	(void)o;
	if (sd->sdh_fail == 1)
		return -EIO;
	int n = snprintf(buf, size, "v=0\r\no=%c 1 %u IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n",
	                 'A' + sd->idx, ++sd->version);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	*len = (size_t)n;
	*ctype = "application/sdp";
	return 0;
}
static int sdh_set(void *ctx, const char *ctype, const char *body, size_t len, const void *o)
{
	struct fside *sd = ctx;
	(void)o;
	CHECK(ctype != NULL);
	unsigned sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += (unsigned char)body[i];
	sink = sum;
	return sd->sdh_fail == 2 ? -EINVAL : 0;
}
static bool sdh_has(void *ctx, const char *ctype, size_t len)
{
	(void)ctx;
	(void)ctype;
	return len > 0;
}
static void sdh_void(void *ctx) { (void)ctx; }
static const struct sip_sdh_ops sdh_ops = {.get_description = sdh_get,
                                           .set_description = sdh_set,
                                           .has_description = sdh_has,
                                           .rollback_description = sdh_void,
                                           .close = sdh_void};

/* ---- tracking ---- */
static void drop_pending_of(struct sip_session *s)
{
	for (size_t i = 0; i < nP;)
		if (P[i].s == s)
			P[i] = P[--nP];
		else
			i++;
}

static void on_state(void *arg, struct sip_session *s, enum sip_session_state st)
{
	struct tracked *t = NULL;
	for (size_t i = 0; i < nT; i++)
		if (T[i].s == s)
			t = &T[i];
	(void)arg;
	if (t) {
		CHECK(st > t->last);
		t->last = st;
	}
	if (st == SIP_SESSION_TERMINATED)
		drop_pending_of(s);
}

static void track(struct sip_session *s, int side)
{
	if (nT >= MAXS)
		return;
	T[nT++] = (struct tracked){.s = sip_session_ref(s), .side = side,
	                           .last = sip_session_state(s)};
	sip_session_add_state_listener(s, on_state, NULL);
}

static void keep(struct sip_session *s, struct sip_incoming_request *rq)
{
	if (!answer_later || nP >= MAXRQ) {
		if (sip_incoming_method(rq) == SIP_METHOD_REFER)
			sip_incoming_accept(rq, NULL);
		else
			sip_incoming_accept(rq, NULL);
		return;
	}
	P[nP++] = (struct pending){rq, s};
}
static void d_rq(void *data, struct sip_session *s, struct sip_incoming_request *rq)
{
	(void)data;
	CHECK(sip_session_state(s) != SIP_SESSION_TERMINATED);
	CHECK(sip_incoming_message(rq) != NULL);
	keep(s, rq);
}
static void d_bye(void *data, struct sip_session *s, const struct sip_msg *m)
{
	(void)data;
	(void)s;
	CHECK(sip_msg_method(m) == SIP_METHOD_BYE);
}
static void d_cancel(void *data, struct sip_session *s, const struct sip_msg *m)
{
	(void)data;
	(void)s;
	CHECK(sip_msg_method(m) == SIP_METHOD_CANCEL);
}
static const struct sip_session_delegate delegate = {
    .on_bye = d_bye,
    .on_info = d_rq,
    .on_message = d_rq,
    .on_refer = d_rq,
    .on_notify = d_rq,
    .on_invite = d_rq,
    .on_cancel = d_cancel,
};

static void on_invite(void *arg, struct sip_session *s)
{
	struct fside *sd = arg;
	announced[sd->idx]++;
	sip_session_set_sdh(s, (struct sip_sdh){&sdh_ops, sd});
	sip_session_set_delegate(s, &delegate, sd);
	track(s, sd->idx);
}

static void on_request(void *arg, struct sip_txn *txn, const struct sip_msg *msg)
{
	struct fside *sd = arg;
	int rc = sip_ua_receive_request(sd->ua, txn, msg, &sd->tp);
	if (rc == -ENOENT) {
		struct sip_buf b;
		sip_buf_init(&b, 0);
		sip_build_response(&b, msg, 405, NULL, SIP_PL("x"));
		sip_build_body(&b, NULL, SIP_PL_NULL);
		if (!b.error)
			sip_txn_server_respond(txn, b.p, b.len, now);
		sip_buf_free(&b);
	}
}

/* ---- the world ---- */
static void deliver(const char *bytes, size_t len, int to)
{
	char *copy = malloc(len ? len : 1);
	memcpy(copy, bytes, len);
	size_t used;
	struct sip_parse_error err;
	if (sip_msg_parse(M, copy, len, SIP_PARSE_DATAGRAM, &used, &err) == SIP_PARSE_OK) {
		struct sip_txn_dest from = {.flow = &S[to].flow, .reliable = to == 1};
		int rc = sip_txn_layer_recv(S[to].txn, M, &from, now);
		if (rc == SIP_TXN_RECV_STRAY && sip_msg_is_request(M))
			sip_ua_receive_ack(S[to].ua, M, &from);
	}
	free(copy);
}

static void tick_all(void)
{
	for (int i = 0; i < 2; i++) {
		sip_txn_layer_tick(S[i].txn, now);
		sip_ua_tick(S[i].ua);
	}
	for (int i = 0; i < 2; i++) {
		CHECK(sip_ua_next_deadline(S[i].ua) > now);
		CHECK(sip_txn_layer_next_deadline(S[i].txn) > now);
	}
}

static struct sip_session *pick(uint8_t b, int *side)
{
	if (!nT)
		return NULL;
	struct tracked *t = &T[b % nT];
	if (side)
		*side = t->side;
	return t->s;
}

static const char *const methods[] = {"BYE",    "INFO",   "MESSAGE", "UPDATE", "INVITE",
                                      "NOTIFY", "REFER",  "PRACK",   "OPTIONS", "CANCEL",
                                      "ACK",    "FOO"};
static const char *const extras[] = {
    "",
    "Session-Expires: 90\r\nSupported: timer\r\n",
    "Session-Expires: 30\r\n",
    "Session-Expires: 120;refresher=uas\r\n",
    "RAck: 1 1 INVITE\r\n",
    "Refer-To: <sip:c@x>\r\n",
    "Require: 100rel\r\n",
    "Require: foo\r\n",
    "Event: refer\r\nSubscription-State: active\r\n",
    "Contact: *\r\n",
};

/* A request from the peer of session s into its dialog (or a near miss). */
static void forge_in_dialog(struct sip_session *s, int side, const uint8_t *p)
{
	struct sip_dialog *d = sip_session_dialog(s);
	if (!d)
		return;
	sip_pl cid = sip_dialog_call_id(d), la = sip_dialog_local_addr(d),
	       ra = sip_dialog_remote_addr(d);
	const char *m = methods[p[0] % 12];
	struct sip_buf b;
	sip_buf_init(&b, 8192);
	sip_buf_printf(&b,
	               "%s sip:x@192.0.2.9 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKf%u\r\n"
	               "Max-Forwards: 70\r\nFrom: %.*s\r\nTo: %.*s%s\r\nCall-ID: %.*s\r\n"
	               "CSeq: %u %s\r\nContact: <sip:peer@192.0.2.9>\r\n%s",
	               m, (unsigned)(p[1] | p[2] << 8), (int)ra.l, ra.p, (int)la.l, la.p,
	               (p[3] & 0x80) ? "x" : "", (int)cid.l, cid.p, (unsigned)(p[3] & 0x3f) + 1, m,
	               extras[p[4] % 10]);
	if (p[2] & 1)
		sip_build_body(&b, "application/sdp", SIP_PL("v=0\r\no=P 1 1 IN IP4 192.0.2.9\r\n"));
	else
		sip_build_body(&b, NULL, SIP_PL_NULL);
	if (!b.error)
		deliver(b.p, b.len, side);
	sip_buf_free(&b);
}

/* A new INVITE into side `side`, maybe with Replaces naming a session. */
static void forge_invite(int side, const uint8_t *p)
{
	struct sip_buf b;
	sip_buf_init(&b, 8192);
	char repl[256] = "";
	struct sip_session *r = pick(p[1], NULL);
	struct sip_dialog *d = r ? sip_session_dialog(r) : NULL;
	if (d && (p[2] & 1)) {
		sip_pl c = sip_dialog_call_id(d), l = sip_dialog_local_tag(d), t = sip_dialog_remote_tag(d);
		snprintf(repl, sizeof(repl), "Replaces: %.*s;to-tag=%.*s;from-tag=%.*s%s\r\n", (int)c.l,
		         c.p, (int)l.l, l.p, (int)t.l, t.p, (p[2] & 2) ? ";early-only" : "");
	}
	sip_buf_printf(&b,
	               "INVITE sip:x@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKi%u\r\n"
	               "Max-Forwards: 70\r\nFrom: <sip:p@x>;tag=pt%u\r\nTo: <sip:x@y>\r\n"
	               "Call-ID: fi%u\r\nCSeq: 1 INVITE\r\nContact: <sip:p@192.0.2.9>\r\n"
	               "Supported: %s\r\nAllow: INVITE, ACK, BYE%s\r\n%s%s",
	               (unsigned)p[3], (unsigned)p[3], (unsigned)p[3] >> 2,
	               (p[4] & 1) ? "100rel, timer" : "replaces", (p[4] & 2) ? ", UPDATE" : "", repl,
	               extras[p[4] % 10]);
	if (p[4] & 0x80)
		sip_build_body(&b, "application/sdp", SIP_PL("v=0\r\no=P 1 1 IN IP4 192.0.2.9\r\n"));
	else
		sip_build_body(&b, NULL, SIP_PL_NULL);
	if (!b.error)
		deliver(b.p, b.len, side);
	sip_buf_free(&b);
}

static void api_call(const uint8_t *p)
{
	int side = 0;
	struct sip_session *s = pick(p[1], &side);
	if (!s)
		return;
	static const int statuses[] = {180, 183, 486, 603, 302, 500};
	switch (p[0] % 16) {
	case 0:
		sip_invitation_accept(s, NULL);
		break;
	case 1:
		sip_invitation_progress(s, &(struct sip_progress_opts){
		                               .status = statuses[p[2] % 2],
		                               .with_description = p[2] & 2,
		                               .rel100 = p[2] & 4});
		break;
	case 2:
		sip_invitation_reject(s, &(struct sip_reject_opts){.status = statuses[2 + p[2] % 4]});
		break;
	case 3:
		sip_session_bye(s, NULL);
		break;
	case 4:
		sip_session_info(s, &(struct sip_request_opts){.ctype = "application/dtmf-relay",
		                                               .body = "Signal=1\r\n",
		                                               .body_len = 10});
		break;
	case 5:
		sip_session_message(s, NULL);
		break;
	case 6:
		sip_session_invite(s, &(struct sip_invite_opts){.without_sdp = p[2] & 1,
		                                                .retry_491 = p[2] % 3});
		break;
	case 7:
		sip_inviter_cancel(s, NULL);
		break;
	case 8:
		sip_session_dispose(s);
		break;
	case 9: {
		struct sip_session *other = pick(p[2], NULL);
		sip_session_refer(s, (p[3] & 1) ? "sip:c@x" : NULL, (p[3] & 1) ? NULL : other, NULL);
		break;
	}
	case 10:
		sip_session_notify_refer(s, 100 + (p[2] % 6) * 100, NULL);
		break;
	case 11: /* the owner lets go */
		for (size_t i = 0; i < nT; i++)
			if (T[i].s == s) {
				drop_pending_of(s);
				sip_session_remove_state_listener(s, on_state, NULL);
				T[i] = T[--nT];
				sip_session_unref(s);
				break;
			}
		break;
	case 12:
		S[side].sdh_fail = p[2] % 3;
		break;
	default: { /* an accessor sweep */
		sip_pl v = sip_session_remote_identity(s);
		sink = (unsigned)v.l + (unsigned)sip_session_local_identity(s).l +
		       (unsigned)sip_session_body(s).l + (unsigned)strlen(sip_session_id(s));
		(void)sip_session_replacee(s);
		(void)sip_session_end_reason(s);
		break;
	}
	}
}

static void new_inviter(const uint8_t *p)
{
	int side = p[1] & 1;
	struct sip_inviter_opts o = {
	    .request_uri = "sip:x@192.0.2.2",
	    .from = "<sip:a@x>",
	    .to = "<sip:b@x>",
	    .transport = S[side].tp,
	    .sdh = {&sdh_ops, &S[side]},
	    .delegate = &delegate,
	    .rel100 = p[2] & 1,
	    .early_media = p[2] & 2,
	    .follow_redirects = p[2] & 4,
	    .credentials = {.username = (p[2] & 8) ? "u" : NULL, .password = "p"},
	};
	struct sip_session *s = NULL;
	if (sip_inviter_new(S[side].ua, &o, &s) != 0)
		return;
	if (sip_inviter_invite(s, &(struct sip_invite_opts){.without_sdp = p[2] & 16}) == 0)
		announced[side]++;
	track(s, side);
	sip_session_unref(s); /* track() holds it */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	M = sip_msg_new(NULL);
	now = 1000;
	nwire = next_in = nT = nP = 0;
	rnd_counter = 0;
	answer_later = data[0] & 1;
	for (int i = 0; i < 2; i++) {
		struct fside *sd = &S[i];
		memset(sd, 0, sizeof(*sd));
		sd->idx = i;
		announced[i] = 0;
		sd->tp = (struct sip_ua_transport){
		    .dest = {.flow = &sd->flow, .reliable = i == 1 && (data[0] & 2)},
		    .via = i ? "SIP/2.0/UDP 192.0.2.2" : "SIP/2.0/UDP 192.0.2.1",
		    .contact = i ? "<sip:b@192.0.2.2>" : "<sip:a@192.0.2.1>"};
		struct sip_txn_layer_config tc = {
		    .timers = SIP_TXN_TIMERS_DEFAULT,
		    .trying_delay_ms = (data[0] & 4) ? 0 : SIP_TXN_NO_TRYING,
		    .cb = {.send = wire_send, .on_request = on_request},
		    .arg = sd,
		};
		sd->txn = sip_txn_layer_new(&tc);
		struct sip_ua_config uc = {
		    .txn = sd->txn,
		    .now_ms = clock_ms,
		    .random = frandom,
		    .auto_180 = data[0] & 8,
		    .session_expires = (data[0] & 16) ? 90 : 0,
		    .cb = {.send = wire_send, .on_invite = on_invite},
		    .arg = sd,
		};
		sd->ua = sip_ua_new(&uc);
		CHECK(sd->txn && sd->ua);
	}
	size_t i = 1;
	while (i + 6 <= size) {
		const uint8_t *p = data + i;
		i += 6;
		switch (p[0] % 10) {
		case 0:
			new_inviter(p + 1);
			break;
		case 1:
		case 2: /* deliver up to n messages */
			for (int n = 1 + p[1] % 4; n > 0 && next_in < nwire; n--, next_in++)
				deliver(wire[next_in].bytes, wire[next_in].len, 1 - wire[next_in].from);
			break;
		case 3: /* lose one, or hear an old one again */
			if (p[1] & 1) {
				if (next_in < nwire)
					next_in++;
			} else if (nwire) {
				struct wmsg *w = &wire[p[2] % nwire];
				deliver(w->bytes, w->len, 1 - w->from);
			}
			break;
		case 4:
		case 5:
			api_call(p + 1);
			break;
		case 6:
			now += (uint64_t)p[1] * 97 + (uint64_t)p[2] * 4099;
			tick_all();
			break;
		case 7: {
			int side;
			struct sip_session *s = pick(p[1], &side);
			if (s && (p[2] & 1))
				forge_in_dialog(s, side, p + 1);
			else
				forge_invite(p[2] & 1 ? 0 : 1, p + 1);
			break;
		}
		case 8: /* the owner answers a request it kept */
			if (nP) {
				size_t k = p[1] % nP;
				struct sip_incoming_request *rq = P[k].rq;
				P[k] = P[--nP];
				if (p[2] & 1)
					sip_incoming_accept(rq, NULL);
				else
					sip_incoming_reject(rq, NULL);
			}
			break;
		case 9:
			if (p[1] % 8 == 0) {
				sip_ua_flow_closed(S[p[2] & 1].ua, &S[p[2] & 1].flow);
			} else {
				for (int k = 0; k < 2; k++)
					CHECK(sip_ua_session_count(S[k].ua) <= announced[k]);
			}
			break;
		}
	}
	/* a long quiet time: every UA timer runs out or keeps its promise */
	for (int k = 0; k < 400; k++) {
		while (next_in < nwire) {
			deliver(wire[next_in].bytes, wire[next_in].len, 1 - wire[next_in].from);
			next_in++;
		}
		uint64_t d = UINT64_MAX;
		for (int j = 0; j < 2; j++) {
			uint64_t x = sip_ua_next_deadline(S[j].ua);
			d = x < d ? x : d;
			x = sip_txn_layer_next_deadline(S[j].txn);
			d = x < d ? x : d;
		}
		if (d == UINT64_MAX || nwire >= MAXW)
			break;
		CHECK(d >= now);
		now = d;
		tick_all();
	}
	/* free in the order an owner might: UAs first (data[0] & 32) or sessions */
	if (data[0] & 32) {
		for (int k = 0; k < 2; k++)
			sip_ua_free(S[k].ua);
		for (size_t k = 0; k < nT; k++)
			sip_session_unref(T[k].s);
	} else {
		nP = 0;
		while (nT) {
			struct sip_session *s = T[--nT].s;
			sip_session_remove_state_listener(s, on_state, NULL);
			sip_session_unref(s);
		}
		for (int k = 0; k < 2; k++)
			sip_ua_free(S[k].ua);
	}
	nT = nP = 0;
	for (int k = 0; k < 2; k++)
		sip_txn_layer_free(S[k].txn);
	for (size_t k = 0; k < nwire; k++)
		free(wire[k].bytes);
	sip_msg_free(M);
	return 0;
}
