/* sip_dialog.h — RFC 3261 §12 dialogs, as a sans-I/O core.
 *
 * A dialog is the state two user agents share between a dialog-creating
 * request and its end: Call-ID, the two tags, the two URIs, the CSeq counters,
 * the remote target and the route set. A B2BUA keeps one dialog per leg (and,
 * while an INVITE forks, one early dialog per answering branch). The layer
 * sends nothing and runs no timer: it builds in-dialog requests into a
 * caller's buffer and checks and absorbs incoming in-dialog messages.
 *
 * Ownership: a struct sip_dialog has one owner, who frees it with
 * sip_dialog_free (which also takes it out of its table). A dialog copies
 * everything it keeps into one buffer of its own, so messages and their
 * buffers may be dropped as soon as a call returns. Views returned by the
 * accessors stay valid until the next call that changes the dialog (a target
 * refresh or a route-set change replaces that buffer) or its free.
 *
 * Which rules are followed where the RFC leaves a choice:
 *  - UAC route set: from the Record-Route of the response that created the
 *    dialog, reversed (§12.1.2). When a 2xx confirms an early dialog, the route
 *    set and the remote target are recomputed from the 2xx (§13.2.2.4). After
 *    that the route set never changes (§12.2.1.2).
 *  - A 1xx that creates an early dialog without a Contact (seen from PBXs,
 *    against §12.1.2) gets the request's Request-URI as remote target until the
 *    2xx supplies one; a 2xx without exactly one usable Contact is refused.
 *  - Target refresh: INVITE, UPDATE, SUBSCRIBE, NOTIFY and REFER, in both
 *    directions (RFC 3261, RFC 3311, RFC 6665). A refresh request without a
 *    Contact keeps the old target, except a re-INVITE, which must carry one.
 *  - A UAS dialog's local CSeq starts at 1 with its first request.
 *  - Secure (§12.1.1/§12.1.2): the Request-URI is sips and the top Via of the
 *    dialog-creating request is TLS or WSS. */
#ifndef SIPWIRE_SIP_DIALOG_H
#define SIPWIRE_SIP_DIALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip/sip_build.h"
#include "sip/sip_msg.h"

/* Fill buf with len random bytes; 0 or a negative errno. */
typedef int (*sip_random_fn)(void *arg, void *buf, size_t len);

/* A random token of len characters from [0-9a-zA-Z] in out (NUL-terminated,
 * size > len): tags, Call-IDs, the part of a branch after "z9hG4bK". fn NULL
 * draws from OpenSSL's RAND_bytes; tests pass their own for repeatable output.
 * Returns 0, -ENOSPC, or the generator's error. */
int sip_random_token(char *out, size_t size, size_t len, sip_random_fn fn, void *arg);

enum sip_dialog_state {
	SIP_DIALOG_EARLY,
	SIP_DIALOG_CONFIRMED,
	SIP_DIALOG_TERMINATED,
};
const char *sip_dialog_state_name(enum sip_dialog_state state);

struct sip_dialog;

/* UAS side (§12.1.1): a dialog for an incoming dialog-creating request (INVITE,
 * SUBSCRIBE, REFER...) whose To has no tag, answered with local_tag. The route
 * set is the request's Record-Route in order, the remote target its Contact,
 * the remote CSeq its CSeq. local_contact is the whole Contact value to put in
 * our requests ("<sip:...;transport=ws>;+sip.instance=..."). State EARLY:
 * call sip_dialog_confirm once a 2xx is sent.
 * Returns 0, -EINVAL (To already has a tag, empty local tag, no From...),
 * -EBADMSG (Contact missing, several, '*', not sip/sips; a bad Record-Route:
 * answer 400) or -ENOMEM. */
int sip_dialog_new_uas(const struct sip_msg *req, sip_pl local_tag, sip_pl local_contact,
                       struct sip_dialog **out);

/* UAC side (§12.1.2): a dialog from our request and a response to it that has
 * a To tag: 101-199 gives EARLY, 2xx gives CONFIRMED. The route set is the
 * response's Record-Route reversed, the remote target its Contact, the local
 * CSeq the request's. Returns 0; -ENOENT when the response creates no dialog
 * (no To tag, status 100 or >= 300); -EINVAL when it does not answer req
 * (Call-ID, From tag or CSeq differ) or req has no From tag; -EBADMSG for a
 * 2xx without exactly one sip/sips Contact or a bad Record-Route; -ENOMEM. */
int sip_dialog_new_uac(const struct sip_msg *req, const struct sip_msg *resp, sip_pl local_contact,
                       struct sip_dialog **out);

/* Frees the dialog and takes it out of its table. NULL is a no-op. */
void sip_dialog_free(struct sip_dialog *d);

/* UAS: the 2xx was sent (EARLY -> CONFIRMED). -EPROTO from TERMINATED. */
int sip_dialog_confirm(struct sip_dialog *d);
/* The owner ends the dialog (BYE sent or received, non-2xx final to the
 * initial INVITE sent...). Further requests are refused. */
void sip_dialog_terminate(struct sip_dialog *d);

/* ---- requests out (§12.2.1.1) ---- */
struct sip_dialog_request_opts {
	/* The whole Via value, written as the first header field ("SIP/2.0/WSS
	 * h.invalid;branch=z9hG4bK..."): the caller knows the transport and
	 * picks the branch. Required. */
	sip_pl via;
	/* Zero or more complete header lines, each ending in CRLF, copied as they
	 * are after the dialog's own fields (Allow, Supported, Event, RAck...). */
	sip_pl extra_headers;
	sip_pl body;       /* unset: no body */
	const char *ctype; /* Content-Type when there is a body */
	/* ACK and CANCEL only: the CSeq number of the INVITE they belong to;
	 * 0 takes the last INVITE this dialog built (or the initial one). */
	uint32_t cseq;
};

/* Build an in-dialog request into out (appended): the Request-URI and Route
 * fields of §12.2.1.1 — loose routing (first route has ;lr): the remote
 * target, every route as Route; strict routing: the first route's URI (less
 * its headers), the other routes and then the remote target as Route — then
 * Via, Max-Forwards: 70, From (local URI and tag), To (remote URI and tag),
 * Call-ID, CSeq (the local CSeq plus one; ACK and CANCEL reuse the INVITE's
 * number), Contact for target-refresh methods, the extra headers, the body.
 * next_hop (optional) is where the request goes: the first route's URI, or
 * the remote target with no route set (a view valid like the accessors').
 * Returns 0, -EINVAL (no Via, an extension method, bad extra headers, ACK with
 * no INVITE to refer to), -EPROTO (terminated dialog), -ERANGE (CSeq would
 * reach 2^31), or the buffer's error. The local CSeq moves only on success.
 * A CANCEL built here is for a re-INVITE (pass the re-INVITE's Via); the
 * CANCEL of an initial INVITE copies that INVITE (its To has no tag, §9.1)
 * and is no dialog request. */
int sip_dialog_build_request(struct sip_dialog *d, enum sip_method method,
                             const struct sip_dialog_request_opts *opts, struct sip_buf *out,
                             sip_pl *next_hop);

/* The ACK to a 2xx (§13.2.2.4): method ACK, the INVITE's CSeq number
 * (invite_cseq, 0: the last INVITE built), the route set and target of the
 * confirmed dialog, and the caller's new Via with a new branch. */
int sip_dialog_build_ack(struct sip_dialog *d, uint32_t invite_cseq,
                         const struct sip_dialog_request_opts *opts, struct sip_buf *out,
                         sip_pl *next_hop);

/* ---- messages in ---- */

/* An incoming request the table matched to this dialog (§12.2.2). Returns the
 * status to answer with: 0 to go on processing, 481 when the request is not
 * of this dialog (Call-ID, To tag, From tag), 500 for a CSeq lower than the
 * last one (ACK and CANCEL are exempt), 400 for a target-refresh request with
 * a bad Contact (or a re-INVITE with none). On 0 the remote CSeq is updated
 * and a target-refresh request's Contact becomes the remote target; on any
 * other status nothing changed. -ENOMEM when the refresh ran out of memory. */
int sip_dialog_receive_request(struct sip_dialog *d, const struct sip_msg *req);

/* A response to a request we sent in this dialog (including the initial
 * INVITE, for each of its early dialogs):
 *  - 2xx to INVITE on an EARLY dialog: CONFIRMED, route set and remote target
 *    recomputed from the 2xx (which needs a Contact: -EBADMSG otherwise, and
 *    the dialog is unchanged);
 *  - 2xx to a target-refresh request on a confirmed dialog (re-INVITE,
 *    UPDATE...): the Contact, if any, becomes the remote target;
 *  - 481 or 408 to any request: TERMINATED (§12.2.1.2);
 *  - a final >= 300 to INVITE on an EARLY dialog: TERMINATED;
 *  - anything else (1xx, 2xx to BYE...): no change.
 * Returns 0, -EINVAL when the response is not of this dialog, -EBADMSG, or
 * -ENOMEM.
 * What stays with the owner, who knows which requests are pending (§12.3,
 * §13.2.2.4): a non-2xx final response to an initial INVITE ends every early
 * dialog that INVITE made, whatever its To tag (a forking proxy forwards only
 * the best final response); a request that gets no response at all (the
 * transaction timed out) ends the dialog with sip_dialog_terminate; and once
 * one branch's 2xx confirmed a dialog, the other branches' early dialogs are
 * dropped and any late 2xx gets its own dialog (sip_dialog_new_uac) to ACK and
 * BYE. */
int sip_dialog_receive_response(struct sip_dialog *d, const struct sip_msg *resp);

/* ---- accessors ---- */
enum sip_dialog_state sip_dialog_state(const struct sip_dialog *d);
bool sip_dialog_is_uac(const struct sip_dialog *d);
bool sip_dialog_secure(const struct sip_dialog *d);
sip_pl sip_dialog_call_id(const struct sip_dialog *d);
sip_pl sip_dialog_local_tag(const struct sip_dialog *d);
sip_pl sip_dialog_remote_tag(const struct sip_dialog *d); /* empty for RFC 2543 peers */
/* The From (ours) and To (theirs) values we send, tags included. */
sip_pl sip_dialog_local_addr(const struct sip_dialog *d);
sip_pl sip_dialog_remote_addr(const struct sip_dialog *d);
sip_pl sip_dialog_remote_target(const struct sip_dialog *d); /* a URI */
/* The route set as one Route header value, in the order we send it; empty
 * when there is none. */
sip_pl sip_dialog_route_set(const struct sip_dialog *d);
sip_pl sip_dialog_local_contact(const struct sip_dialog *d);
/* 0 until the first local request (UAS side). */
uint32_t sip_dialog_local_cseq(const struct sip_dialog *d);
/* false until the peer's first request (UAC side). */
bool sip_dialog_remote_cseq(const struct sip_dialog *d, uint32_t *seq);
/* The owner's pointer (the leg, the session). */
void sip_dialog_set_user(struct sip_dialog *d, void *user);
void *sip_dialog_user(const struct sip_dialog *d);

/* ---- the table: every dialog of an owner, keyed by (Call-ID, local tag,
 * remote tag); a forked INVITE has one entry per answering branch. A hash
 * table with a keyed hash (Call-IDs and tags come from the network), O(1)
 * expected per operation. The table does not own its dialogs. */
struct sip_dialog_table;

/* fn/arg: where the hash key comes from (NULL: RAND_bytes). NULL when out of
 * memory or when the generator fails. */
struct sip_dialog_table *sip_dialog_table_new(sip_random_fn fn, void *arg);
/* Takes every dialog out of the table (they stay the owner's). */
void sip_dialog_table_free(struct sip_dialog_table *t);
/* -EEXIST when a dialog with the same key is there, -EBUSY when d is in a
 * table already, -ENOMEM. */
int sip_dialog_table_add(struct sip_dialog_table *t, struct sip_dialog *d);
void sip_dialog_table_remove(struct sip_dialog_table *t, struct sip_dialog *d);
struct sip_dialog *sip_dialog_table_find(const struct sip_dialog_table *t, sip_pl call_id,
                                         sip_pl local_tag, sip_pl remote_tag);
/* The dialog an incoming request belongs to: Call-ID, To tag as the local tag,
 * From tag as the remote one. NULL for a request without a To tag (it creates
 * a dialog or is outside any) and for one that matches none: when such a
 * request has a To tag and is not an ACK, the caller answers 481 Call/
 * Transaction Does Not Exist (§12.2.2); an unmatched ACK is dropped. */
struct sip_dialog *sip_dialog_table_find_request(const struct sip_dialog_table *t,
                                                 const struct sip_msg *req);
/* The dialog a response to our request belongs to: Call-ID, From tag as the
 * local tag, To tag as the remote one. NULL when the response has no To tag,
 * or (forking) when it comes from a branch that has no dialog yet: the caller
 * then creates one with sip_dialog_new_uac. */
struct sip_dialog *sip_dialog_table_find_response(const struct sip_dialog_table *t,
                                                  const struct sip_msg *resp);
size_t sip_dialog_table_count(const struct sip_dialog_table *t);

#endif
