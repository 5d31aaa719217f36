/* sip_ua_priv.h — the UA core's private structures, shared by sip_ua.c (the
 * UA, sessions, timers, the INVITE dialogs) and sip_ua_dialog.c (requests
 * inside a dialog: BYE, INFO, MESSAGE, re-INVITE, UPDATE, PRACK, REFER,
 * NOTIFY). Nothing outside sip/ includes it. */
#ifndef SIPWIRE_SIP_UA_PRIV_H
#define SIPWIRE_SIP_UA_PRIV_H

#include <stdarg.h>

#include "sip/sip_build.h"
#include "sip/sip_timer_heap.h"
#include "sip/sip_ua.h"

#define UA_MAX_EARLY 8     /* early dialogs of one forked INVITE */
#define UA_MAX_KILLED 4    /* late-2xx branches already ACKed and BYEd */
#define UA_MAX_LISTENERS 4
#define UA_MAX_REDIRECTS 5

enum ua_timer_kind {
	UT_2XX_RETX,  /* UAS: our 2xx again (unreliable transports) */
	UT_ACK_WAIT,  /* UAS: 64*T1 for the ACK of our 2xx */
	UT_1XX_RETX,  /* UAS: our reliable 1xx again */
	UT_PRACK_WAIT,/* UAS: 64*T1 for the PRACK */
	UT_GLARE,     /* UAC: retry a re-INVITE refused 491 */
	UT_SESSION,   /* RFC 4028: refresh (we refresh) or expiry (peer refreshes) */
	UT_CANCEL_WAIT, /* UAC: 64*T1 for the INVITE's final answer after our CANCEL */
	UT_COUNT,
};

struct ua_timer {
	struct sip_timer tm; /* first: the heap's pointer is the ua_timer's */
	struct sip_session *s;
	enum ua_timer_kind kind;
};

/* An outgoing request of a session inside a client transaction. It holds a
 * session reference until its transaction ends. */
enum ua_req_kind {
	UR_PLAIN,      /* INFO, MESSAGE, NOTIFY, REFER, UPDATE, PRACK */
	UR_BYE,
	UR_REINVITE,
	UR_CANCEL,
	UR_LATE_BYE,   /* the BYE to a late 2xx of another fork branch */
};
struct ua_request {
	struct sip_ua *ua;
	struct sip_session *s;
	struct sip_txn *txn;
	enum ua_req_kind kind;
	enum sip_method method;
	uint32_t cseq;
	struct sip_request_delegate delegate;
	struct ua_request *prev, *next; /* the UA's list */
	/* re-INVITE: the ACK to its 2xx, kept for 2xx retransmissions */
	struct sip_buf ack;
	bool final_seen;
};

struct sip_incoming_request {
	struct sip_session *s;
	struct sip_txn *txn;
	enum sip_method method;
	char *bytes;
	struct sip_msg *msg;
	bool answered;
	bool in_callback; /* freed by the caller of the delegate, not by accept */
	bool offer;       /* re-INVITE/UPDATE whose offer the SDH holds */
	struct sip_incoming_request *next; /* the session's pending list */
};

struct ua_listener {
	sip_session_state_fn fn;
	void *arg;
};

struct sip_session {
	struct sip_ua *ua; /* NULL once the UA was freed */
	unsigned refs;
	bool inviter;
	bool in_ua_list;
	enum sip_session_state state;
	enum sip_end_reason reason;
	struct sip_session *prev, *next; /* the UA's live list */
	struct sip_session *ended_next;  /* the UA's to-release list */
	bool on_ended_list;
	bool ua_ref;                     /* the UA holds a reference */
	struct sip_session *all_prev, *all_next; /* every session of the UA */

	char *id;
	char log_tag[16]; /* the owner's name for the session in log lines */
	char local_tag[24];
	bool own_call_id; /* we made the Call-ID (§14.1 glare delay) */

	/* the initial INVITE: ours (Inviter) or theirs (Invitation) */
	char *req_bytes;
	size_t req_len;
	struct sip_msg *req;

	struct sip_dialog *dialog;              /* confirmed, or the UAS early one */
	struct sip_dialog *early[UA_MAX_EARLY]; /* Inviter: early dialogs per branch */
	size_t nearly;
	char killed_tags[UA_MAX_KILLED][64];
	size_t nkilled;

	struct sip_txn_dest dest;
	char *via;
	char *contact;

	struct sip_session_delegate delegate;
	void *data;
	struct sip_sdh sdh;
	bool sdh_closed;
	const void *sdh_opts_initial, *sdh_opts_reinvite;
	struct ua_listener listeners[UA_MAX_LISTENERS];

	struct ua_timer timers[UT_COUNT];

	/* ---- Invitation ---- */
	struct sip_txn *ist;       /* the INVITE server transaction, while it lives */
	int final_status;          /* the final status we sent, 0 before */
	bool offer_in_invite;      /* the INVITE carried an offer */
	bool remote_offer_set;     /* given to the SDH */
	bool answer_sent;          /* our answer went out (183 or 2xx) */
	struct sip_buf answer;     /* the answer, repeated in the 2xx */
	const char *answer_ctype;
	bool peer_100rel;          /* Supported/Require: 100rel in the INVITE */
	bool requires_100rel;
	bool accept_queued;        /* 2xx waits for a PRACK */
	struct sip_invitation_accept_opts accept_opts;
	char *accept_extra;
	/* reliable 1xx (RFC 3262) */
	uint32_t rseq;
	bool rel1xx_pending;
	bool rel1xx_has_sdp;
	struct sip_buf rel1xx;
	uint64_t rel1xx_iv;
	/* our 2xx to an INVITE (initial or re-) waiting for its ACK */
	struct sip_buf uas_2xx;
	uint32_t uas_2xx_cseq;
	uint64_t uas_2xx_iv;
	bool waiting_ack;
	bool uas_2xx_offer;  /* the 2xx carried our offer: the answer is in the ACK */
	bool bye_after_ack;  /* BYE asked for before the ACK came */
	bool cancelled;

	/* ---- Inviter ---- */
	char *ruri, *from, *to, *call_id, *route, *extra_headers;
	int max_forwards;
	char *cred_user, *cred_pass, *cred_realm;
	bool follow_redirects, early_media, rel100;
	struct sip_txn *ict;
	struct sip_request_delegate inv_delegate;
	bool invite_without_sdp;
	const void *invite_sdh_opts;
	char *invite_extra;
	uint32_t invite_cseq;
	char invite_branch[40];
	bool got_provisional;
	bool cancel_wanted;
	bool cancel_sent;
	char *cancel_extra;
	bool answer_applied;            /* the SDH has the remote answer */
	struct sip_dialog *answer_from; /* ... from this early dialog */
	struct sip_buf ack;             /* our ACK to the kept 2xx */
	unsigned auth_tries;
	unsigned redirects;
	uint32_t early_rseq[UA_MAX_EARLY]; /* last RSeq PRACKed per early dialog */

	/* ---- both ---- */
	struct ua_request *out_reinvite;          /* our re-INVITE/UPDATE offer pending */
	/* our re-INVITE, kept for a retry after 491 */
	const void *rinv_sdh_opts;
	char *rinv_extra;
	struct sip_request_delegate rinv_delegate;
	unsigned rinv_retries;
	bool rinv_without_sdp;
	bool rinv_refresh;   /* a session refresh: the same description again */
	bool rinv_waiting;   /* the glare timer runs */
	struct sip_buf local_sdp; /* our last description (session refresh) */
	const char *local_ctype;
	bool flow_dead;
	struct sip_incoming_request *in_offer;    /* their re-INVITE/UPDATE pending */
	struct sip_incoming_request *incoming;    /* unanswered requests */
	struct sip_session *replacee;
	/* RFC 4028 */
	uint32_t se_interval; /* 0: no session timer */
	bool we_refresh;
	bool peer_allows_update;
	bool refer_sub; /* an implicit REFER subscription we notify */
};

struct sip_ua {
	struct sip_ua_config cfg;
	char *allow, *supported, *user_agent;
	struct sip_dialog_table *dialogs;
	struct sip_session *sessions; /* live (not Terminated) */
	size_t nsessions;
	struct sip_session *ended;    /* Terminated, UA reference to drop */
	struct sip_session *all;      /* every session not yet freed */
	struct ua_request *requests;
	struct sip_timer_heap timers;
	unsigned depth;
	struct sip_msg *scratch;
};

/* ---- sip_ua.c, used by sip_ua_dialog.c and sip_ua_inviter.c ---- */
char *ua_strdup(const char *s);
char *ua_strdup_pl(sip_pl pl);
bool ua_clean_value(const char *s);  /* no CR or LF */
bool ua_clean_lines(const char *s);  /* complete header lines, or NULL/"" */
sip_pl ua_header_value(const struct sip_msg *m, enum sip_hdr_id id);
int ua_token(struct sip_ua *ua, char *out, size_t size, size_t len);
struct sip_session *ua_session_alloc(struct sip_ua *ua, bool inviter);
void ua_session_free(struct sip_session *s);
void ua_session_link(struct sip_session *s);
int ua_set_transport(struct sip_session *s, const struct sip_ua_transport *t);
int ua_make_id(struct sip_session *s, sip_pl call_id);
/* Keep a copy of the initial INVITE in s->req (parsed). */
int ua_keep_message(struct sip_session *s, const char *bytes, size_t len);
void ua_enter(struct sip_ua *ua);
void ua_leave(struct sip_ua *ua);
uint64_t ua_now(const struct sip_ua *ua);
uint32_t ua_t1(const struct sip_ua *ua);
uint32_t ua_t2(const struct sip_ua *ua);
uint32_t ua_random_u32(struct sip_ua *ua);
void ua_log(struct sip_ua *ua, const struct sip_session *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ua_timer_start(struct sip_session *s, enum ua_timer_kind k, uint64_t at);
void ua_timer_stop(struct sip_session *s, enum ua_timer_kind k);
void ua_set_state(struct sip_session *s, enum sip_session_state st);
void ua_terminate(struct sip_session *s, enum sip_end_reason why);
int ua_branch(struct sip_ua *ua, char *out, size_t size);
int ua_via(struct sip_session *s, char *out, size_t size);
/* Respond to req through txn: status line, Via..CSeq, To tag, Record-Route
 * and Contact when `dialog_resp`, then Allow/Supported when `caps`, extra
 * headers and the body. */
struct ua_resp {
	int status;
	const char *reason;
	sip_pl to_tag;
	bool dialog_resp;
	bool caps;
	const char *extra; /* complete lines */
	const char *extra2;
	const char *ctype;
	sip_pl body;
};
int ua_build_response(struct sip_session *s, const struct sip_msg *req, const struct ua_resp *r,
                      struct sip_buf *b);
int ua_respond(struct sip_session *s, struct sip_txn *txn, const struct sip_msg *req,
               const struct ua_resp *r);
int ua_respond_plain(struct sip_ua *ua, struct sip_txn *txn, const struct sip_msg *req,
                     int status, const char *extra);
int ua_sdh_get(struct sip_session *s, const void *opts, struct sip_buf *out, const char **ctype);
int ua_sdh_set(struct sip_session *s, const struct sip_msg *m, const void *opts);
bool ua_sdh_has(struct sip_session *s, const struct sip_msg *m);
void ua_sdh_rollback(struct sip_session *s);
struct sip_session *ua_session_hold(struct sip_session *s);
void ua_session_release(struct sip_session *s);

/* ---- sip_ua_dialog.c ---- */
/* An in-dialog request of session s (its dialog matched, its CSeq accepted). */
void ua_dialog_request(struct sip_session *s, struct sip_txn *txn, const struct sip_msg *msg);
/* Send an in-dialog request on dialog d of s (NULL: s->dialog). */
int ua_send_request(struct sip_session *s, struct sip_dialog *d, enum sip_method m,
                    enum ua_req_kind kind, const struct sip_request_opts *opts, const char *extra2,
                    struct ua_request **out);
/* Start a client transaction for the request in bytes (a CANCEL built by
 * hand, or what ua_send_request built). */
int ua_request_start(struct sip_session *s, enum ua_req_kind kind, enum sip_method m, uint32_t cseq,
                     const char *bytes, size_t len, const struct sip_request_delegate *delegate,
                     struct ua_request **out);
void ua_request_detach_all(struct sip_ua *ua);
void ua_incoming_free(struct sip_incoming_request *rq);
void ua_incoming_answer_all(struct sip_session *s, int status);
void ua_reinvite_retry(struct sip_session *s);
void ua_session_timer_fire(struct sip_session *s);
void ua_session_timer_from_request(struct sip_session *s, const struct sip_msg *req,
                                   struct sip_buf *hdrs);
void ua_session_timer_from_response(struct sip_session *s, const struct sip_msg *resp);
void ua_session_timer_arm(struct sip_session *s);
int ua_check_min_se(struct sip_ua *ua, struct sip_txn *txn, const struct sip_msg *msg);
/* UAS: send the queued 2xx once the reliable 1xx was PRACKed. */
int ua_invitation_send_2xx(struct sip_session *s);
void ua_invitation_prack(struct sip_session *s, struct sip_txn *txn, const struct sip_msg *msg);
void ua_uas_ack(struct sip_session *s, const struct sip_msg *ack);
int ua_inviter_send_cancel(struct sip_session *s);
void ua_inviter_cancel_timeout(struct sip_session *s);

#endif
