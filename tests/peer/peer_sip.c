/* peer_sip.c — the test peer's SIP user agent; see peer_sip.h. */
#include "peer_sip.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "sip/sip_auth.h"
#include "sip/sip_build.h"
#include "sip/sip_msg.h"

#define MAX_PENDING 8
#define MAX_ROUTES  8
#define HDR_MAX     512
#define USER_AGENT  "sipwire-webrtc-peer"
#define ALLOW       "ACK,CANCEL,INVITE,MESSAGE,BYE,OPTIONS,INFO,NOTIFY,REFER"

enum call_state {
	CALL_NONE,
	CALL_CALLING,   /* our INVITE is out */
	CALL_RINGING,   /* an INVITE came in and is not answered with a 2xx yet */
	CALL_ANSWERED,  /* we sent the 2xx, the ACK is due */
	CALL_CONFIRMED,
	CALL_ENDED,
};

/* A request sent inside the call, waiting for its final response. */
struct pending {
	bool used;
	char branch[40];
	char method[16];
	uint32_t cseq;
};

struct peer_sip {
	struct peer_sip_config cfg;
	char domain[128], user[64], password[128];
	const char *transport; /* "WS" or "WSS" in Via */
	char via_host[32];
	char contact[160]; /* the URI, without <> */
	char instance[40];

	/* registration */
	char reg_call_id[40], reg_tag[16];
	uint32_t reg_cseq;
	char reg_branch[40];
	unsigned reg_expires;
	bool reg_challenged;

	/* the call */
	enum call_state state;
	char call_id[128];
	char local_tag[16];
	char local_hdr[HDR_MAX], remote_hdr[HDR_MAX]; /* From/To values with their tags */
	char remote_target[HDR_MAX];
	char request_uri[HDR_MAX]; /* of the initial INVITE */
	char routes[MAX_ROUTES][HDR_MAX];
	unsigned n_routes;
	uint32_t local_cseq, invite_cseq;
	char invite_branch[40];
	char *invite_sdp;
	bool invite_challenged;
	char *in_invite_buf; /* the INVITE that rings here, kept to answer it */
	struct sip_msg *in_invite;
	char *answer_sdp; /* our 2xx's body, resent on a retransmitted INVITE */
	struct pending pending[MAX_PENDING];

	struct sip_msg *msg;
	struct sip_buf out;
};

/* ---- small things ---- */

static void random_hex(char *out, size_t nbytes)
{
	uint8_t r[32];
	if (nbytes > sizeof r)
		nbytes = sizeof r;
	if (RAND_bytes(r, (int)nbytes) != 1)
		for (size_t i = 0; i < nbytes; i++)
			r[i] = (uint8_t)rand();
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static void new_branch(char *out)
{
	memcpy(out, "z9hG4bK", 7);
	random_hex(out + 7, 8);
}

static bool pl_copy(sip_pl pl, char *dst, size_t size)
{
	return sip_pl_strcpy(pl, dst, size) == 0;
}

static bool str_copy(char *dst, size_t size, const char *src)
{
	if (!src)
		src = "";
	size_t n = strlen(src);
	if (n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

static void send_out(struct peer_sip *ua)
{
	if (ua->out.error) {
		fprintf(stderr, "[sip] message not built: %s\n", strerror(-ua->out.error));
		return;
	}
	ua->cfg.h.send(ua->cfg.h.arg, ua->out.p, ua->out.len);
}

static int finish(struct peer_sip *ua, const char *ctype, const char *body)
{
	sip_buf_printf(&ua->out, "Supported: outbound\r\nUser-Agent: %s\r\n", USER_AGENT);
	sip_build_body(&ua->out, body && *body ? ctype : NULL, sip_pl_from_cstr(body ? body : ""));
	if (ua->out.error)
		return ua->out.error;
	send_out(ua);
	return 0;
}

static void request_line(struct peer_sip *ua, const char *method, const char *ruri,
                         const char *branch)
{
	sip_buf_reset(&ua->out);
	sip_buf_printf(&ua->out, "%s %s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=%s\r\n"
	                         "Max-Forwards: 70\r\n",
	               method, ruri, ua->transport, ua->via_host, branch);
}

static struct pending *pending_add(struct peer_sip *ua, const char *method, uint32_t cseq,
                                   const char *branch)
{
	for (unsigned i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &ua->pending[i];
		if (p->used)
			continue;
		p->used = true;
		str_copy(p->branch, sizeof p->branch, branch);
		str_copy(p->method, sizeof p->method, method);
		p->cseq = cseq;
		return p;
	}
	return NULL;
}

static struct pending *pending_find(struct peer_sip *ua, sip_pl branch)
{
	for (unsigned i = 0; i < MAX_PENDING; i++)
		if (ua->pending[i].used && sip_pl_eq_cstr(branch, ua->pending[i].branch))
			return &ua->pending[i];
	return NULL;
}

/* ---- life ---- */

int peer_sip_new(const struct peer_sip_config *cfg, struct peer_sip **out)
{
	struct peer_sip *ua = calloc(1, sizeof *ua);
	if (!ua)
		return -ENOMEM;
	ua->cfg = *cfg;
	if (!str_copy(ua->domain, sizeof ua->domain, cfg->domain) ||
	    !str_copy(ua->user, sizeof ua->user, cfg->user) ||
	    !str_copy(ua->password, sizeof ua->password, cfg->password)) {
		free(ua);
		return -EINVAL;
	}
	ua->msg = sip_msg_new(NULL);
	if (!ua->msg) {
		free(ua);
		return -ENOMEM;
	}
	sip_buf_init(&ua->out, 0);
	ua->transport = cfg->wss ? "WSS" : "WS";
	char host[16], cuser[12];
	random_hex(host, 6);
	random_hex(cuser, 4);
	snprintf(ua->via_host, sizeof ua->via_host, "%s.invalid", host);
	snprintf(ua->contact, sizeof ua->contact, "sip:%s@%s;transport=ws", cuser, ua->via_host);
	char u[33];
	random_hex(u, 16);
	snprintf(ua->instance, sizeof ua->instance, "%.8s-%.4s-4%.3s-a%.3s-%.12s", u, u + 8, u + 12,
	         u + 15, u + 18);
	random_hex(ua->reg_call_id, 12);
	random_hex(ua->reg_tag, 5);
	*out = ua;
	return 0;
}

void peer_sip_free(struct peer_sip *ua)
{
	if (!ua)
		return;
	sip_msg_free(ua->msg);
	sip_msg_free(ua->in_invite);
	free(ua->in_invite_buf);
	free(ua->invite_sdp);
	free(ua->answer_sdp);
	sip_buf_free(&ua->out);
	free(ua);
}

bool peer_sip_in_call(const struct peer_sip *ua)
{
	return ua->state == CALL_CONFIRMED;
}

const char *peer_sip_call_id(const struct peer_sip *ua)
{
	return ua->call_id;
}

/* ---- digest ---- */

/* The credentials header answering the challenge in res, for a request of
 * this method and Request-URI, at the end of ua->out. */
static int add_credentials(struct peer_sip *ua, const struct sip_msg *res, const char *method,
                           const char *ruri, struct sip_buf *b)
{
	bool proxy = sip_msg_status(res) == 407;
	const struct sip_hdr *h =
		sip_msg_hdr(res, proxy ? SIP_HDR_PROXY_AUTHENTICATE : SIP_HDR_WWW_AUTHENTICATE);
	struct sip_auth_challenge ch;
	if (!h || sip_auth_challenge_parse(h->value, &ch) < 0)
		return -EPROTO;
	char cnonce[17];
	random_hex(cnonce, 8);
	struct sip_auth_client_params p = {
		.username = sip_pl_from_cstr(ua->user),
		.password = sip_pl_from_cstr(ua->password),
		.method = sip_pl_from_cstr(method),
		.uri = sip_pl_from_cstr(ruri),
		.cnonce = sip_pl_from_cstr(cnonce),
		.nc = 1,
	};
	char value[1024];
	int n = sip_auth_client_answer(&ch, &p, value, sizeof value);
	if (n < 0)
		return n;
	return sip_buf_printf(b, "%s: %s\r\n", proxy ? "Proxy-Authorization" : "Authorization",
	                      value);
}

/* ---- REGISTER ---- */

static int send_register(struct peer_sip *ua, const struct sip_msg *challenge)
{
	char ruri[160], aor[256];
	snprintf(ruri, sizeof ruri, "sip:%s", ua->domain);
	snprintf(aor, sizeof aor, "sip:%s@%s", ua->user, ua->domain);
	new_branch(ua->reg_branch);
	request_line(ua, "REGISTER", ruri, ua->reg_branch);
	struct sip_buf *b = &ua->out;
	sip_buf_printf(b, "To: <%s>\r\nFrom: <%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: %" PRIu32
	                  " REGISTER\r\n",
	               aor, aor, ua->reg_tag, ua->reg_call_id, ++ua->reg_cseq);
	sip_buf_printf(b, "Contact: <%s>;+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:%s>\";"
	                  "expires=%u\r\nExpires: %u\r\n",
	               ua->contact, ua->instance, ua->reg_expires, ua->reg_expires);
	if (challenge) {
		int rc = add_credentials(ua, challenge, "REGISTER", ruri, b);
		if (rc < 0)
			return rc;
	}
	sip_buf_printf(b, "Allow: %s\r\nSupported: path, gruu, outbound\r\nUser-Agent: %s\r\n",
	               ALLOW, USER_AGENT);
	sip_build_body(b, NULL, SIP_PL(""));
	if (b->error)
		return b->error;
	send_out(ua);
	return 0;
}

int peer_sip_register(struct peer_sip *ua, unsigned expires)
{
	if (!ua->user[0])
		return -EINVAL;
	ua->reg_expires = expires;
	ua->reg_challenged = false;
	return send_register(ua, NULL);
}

static void on_register_response(struct peer_sip *ua, const struct sip_msg *res)
{
	int status = sip_msg_status(res);
	if (status < 200)
		return;
	if ((status == 401 || status == 407) && !ua->reg_challenged && ua->password[0]) {
		ua->reg_challenged = true;
		if (send_register(ua, res) == 0)
			return;
	}
	ua->reg_branch[0] = '\0';
	ua->cfg.h.on_register(ua->cfg.h.arg, status);
}

/* ---- the call: requests ---- */

static void write_routes(struct peer_sip *ua)
{
	for (unsigned i = 0; i < ua->n_routes; i++)
		sip_buf_printf(&ua->out, "Route: %s\r\n", ua->routes[i]);
}

static int send_invite(struct peer_sip *ua, const struct sip_msg *challenge)
{
	new_branch(ua->invite_branch);
	ua->invite_cseq = ++ua->local_cseq;
	request_line(ua, "INVITE", ua->request_uri, ua->invite_branch);
	struct sip_buf *b = &ua->out;
	sip_buf_printf(b, "To: <%s>\r\nFrom: %s\r\nCall-ID: %s\r\nCSeq: %" PRIu32 " INVITE\r\n",
	               ua->request_uri, ua->local_hdr, ua->call_id, ua->invite_cseq);
	sip_buf_printf(b, "Contact: <%s;ob>\r\nAllow: %s\r\n", ua->contact, ALLOW);
	if (challenge) {
		int rc = add_credentials(ua, challenge, "INVITE", ua->request_uri, b);
		if (rc < 0)
			return rc;
	}
	return finish(ua, "application/sdp", ua->invite_sdp);
}

int peer_sip_invite(struct peer_sip *ua, const char *target, const char *sdp)
{
	if (ua->state != CALL_NONE && ua->state != CALL_ENDED)
		return -EALREADY;
	if (!strncmp(target, "sip:", 4) || !strncmp(target, "sips:", 5))
		snprintf(ua->request_uri, sizeof ua->request_uri, "%s", target);
	else
		snprintf(ua->request_uri, sizeof ua->request_uri, "sip:%s@%s", target, ua->domain);
	free(ua->invite_sdp);
	ua->invite_sdp = strdup(sdp ? sdp : "");
	if (!ua->invite_sdp)
		return -ENOMEM;
	random_hex(ua->call_id, 11);
	random_hex(ua->local_tag, 5);
	if (ua->user[0])
		snprintf(ua->local_hdr, sizeof ua->local_hdr, "\"%s\" <sip:%s@%s>;tag=%s", ua->user,
		         ua->user, ua->domain, ua->local_tag);
	else
		snprintf(ua->local_hdr, sizeof ua->local_hdr,
		         "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=%s", ua->local_tag);
	ua->remote_hdr[0] = '\0';
	ua->n_routes = 0;
	ua->invite_challenged = false;
	ua->state = CALL_CALLING;
	snprintf(ua->remote_target, sizeof ua->remote_target, "%s", ua->request_uri);
	return send_invite(ua, NULL);
}

/* A request inside the dialog: method, a new CSeq, the route set. */
static int in_dialog(struct peer_sip *ua, const char *method, const char *extra,
                     const char *ctype, const char *body)
{
	if (ua->state != CALL_CONFIRMED)
		return -ENOTCONN;
	char branch[40];
	new_branch(branch);
	uint32_t cseq = ++ua->local_cseq;
	if (!pending_add(ua, method, cseq, branch))
		return -EBUSY;
	request_line(ua, method, ua->remote_target, branch);
	write_routes(ua);
	sip_buf_printf(&ua->out, "To: %s\r\nFrom: %s\r\nCall-ID: %s\r\nCSeq: %" PRIu32 " %s\r\n",
	               ua->remote_hdr, ua->local_hdr, ua->call_id, cseq, method);
	if (extra)
		sip_buf_printf(&ua->out, "%s", extra);
	return finish(ua, ctype, body);
}

int peer_sip_reinvite(struct peer_sip *ua, const char *sdp)
{
	char extra[256];
	snprintf(extra, sizeof extra, "Contact: <%s;ob>\r\nAllow: %s\r\n", ua->contact, ALLOW);
	return in_dialog(ua, "INVITE", extra, "application/sdp", sdp);
}

int peer_sip_info(struct peer_sip *ua, const char *ctype, const char *body)
{
	return in_dialog(ua, "INFO", NULL, ctype, body);
}

int peer_sip_bye(struct peer_sip *ua)
{
	int rc = in_dialog(ua, "BYE", NULL, NULL, NULL);
	if (rc == 0)
		ua->state = CALL_ENDED;
	return rc;
}

/* ACK for a 2xx: its own transaction, to the remote target (RFC 3261 §13.2.2.4). */
static void send_ack_2xx(struct peer_sip *ua, uint32_t cseq)
{
	char branch[40];
	new_branch(branch);
	request_line(ua, "ACK", ua->remote_target, branch);
	write_routes(ua);
	sip_buf_printf(&ua->out, "To: %s\r\nFrom: %s\r\nCall-ID: %s\r\nCSeq: %" PRIu32 " ACK\r\n",
	               ua->remote_hdr, ua->local_hdr, ua->call_id, cseq);
	finish(ua, NULL, NULL);
}

/* ACK for a final response above 2xx: the INVITE's branch and Request-URI,
 * the response's To (RFC 3261 §17.1.1.3). */
static void send_ack_non2xx(struct peer_sip *ua, const struct sip_msg *res)
{
	request_line(ua, "ACK", ua->request_uri, ua->invite_branch);
	const struct sip_hdr *to = sip_msg_hdr(res, SIP_HDR_TO);
	sip_buf_printf(&ua->out, "To: %.*s\r\nFrom: %s\r\nCall-ID: %s\r\nCSeq: %" PRIu32 " ACK\r\n",
	               to ? (int)to->value.l : 0, to ? to->value.p : "", ua->local_hdr, ua->call_id,
	               ua->invite_cseq);
	finish(ua, NULL, NULL);
}

/* ---- the call: what arrives ---- */

static void first_contact(const struct sip_msg *m, char *out, size_t size)
{
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_CONTACT);
	if (!h)
		return;
	size_t pos = 0;
	sip_pl item;
	struct sip_contact c;
	if (sip_list_next(h->value, &pos, &item) && sip_contact_parse(item, &c) == 0 && !c.star)
		pl_copy(c.addr.uri_text, out, size);
}

static void read_routes(struct peer_sip *ua, const struct sip_msg *m, bool reverse)
{
	char list[MAX_ROUTES][HDR_MAX];
	unsigned n = 0;
	struct sip_value_iter it = {0};
	sip_pl v;
	while (n < MAX_ROUTES && sip_msg_value_next(m, SIP_HDR_RECORD_ROUTE, &it, &v))
		if (pl_copy(v, list[n], HDR_MAX))
			n++;
	for (unsigned i = 0; i < n; i++)
		memcpy(ua->routes[i], list[reverse ? n - 1 - i : i], HDR_MAX);
	ua->n_routes = n;
}

static void body_of(const struct sip_msg *m, const char **p, size_t *len)
{
	sip_pl b = sip_msg_body(m);
	*p = b.l ? b.p : NULL;
	*len = b.l;
}

static void on_invite_response(struct peer_sip *ua, const struct sip_msg *res)
{
	int status = sip_msg_status(res);
	const char *sdp;
	size_t sdp_len;
	body_of(res, &sdp, &sdp_len);
	if (status < 200) {
		if (ua->state == CALL_CALLING)
			ua->cfg.h.on_provisional(ua->cfg.h.arg, status, sdp, sdp_len);
		return;
	}
	if (status < 300) {
		if (ua->state != CALL_CALLING) {
			send_ack_2xx(ua, ua->invite_cseq); /* a retransmission: its ACK was lost */
			return;
		}
		const struct sip_hdr *to = sip_msg_hdr(res, SIP_HDR_TO);
		if (to)
			pl_copy(to->value, ua->remote_hdr, sizeof ua->remote_hdr);
		first_contact(res, ua->remote_target, sizeof ua->remote_target);
		read_routes(ua, res, true);
		ua->state = CALL_CONFIRMED;
		send_ack_2xx(ua, ua->invite_cseq);
	} else {
		if (ua->state != CALL_CALLING)
			return;
		send_ack_non2xx(ua, res);
		if ((status == 401 || status == 407) && !ua->invite_challenged && ua->password[0]) {
			ua->invite_challenged = true;
			if (send_invite(ua, res) == 0)
				return;
		}
		ua->state = CALL_ENDED;
	}
	char reason[128] = "";
	pl_copy(sip_msg_reason(res), reason, sizeof reason);
	ua->cfg.h.on_final(ua->cfg.h.arg, status, reason, sdp, sdp_len);
}

static void on_response(struct peer_sip *ua, const struct sip_msg *res)
{
	const struct sip_via *via = sip_msg_via(res);
	const struct sip_cseq *cseq = sip_msg_cseq(res);
	if (!via || !cseq)
		return;
	if (ua->reg_branch[0] && sip_pl_eq_cstr(via->branch, ua->reg_branch)) {
		on_register_response(ua, res);
		return;
	}
	if (cseq->method == SIP_METHOD_INVITE && cseq->seq == ua->invite_cseq &&
	    sip_pl_eq_cstr(sip_msg_call_id(res), ua->call_id)) {
		on_invite_response(ua, res);
		return;
	}
	struct pending *p = pending_find(ua, via->branch);
	int status = sip_msg_status(res);
	if (!p || status < 200)
		return;
	const char *sdp;
	size_t sdp_len;
	body_of(res, &sdp, &sdp_len);
	if (!strcmp(p->method, "INVITE") && status < 300)
		send_ack_2xx(ua, p->cseq);
	char method[16];
	str_copy(method, sizeof method, p->method);
	p->used = false;
	ua->cfg.h.on_response(ua->cfg.h.arg, method, status, sdp, sdp_len);
}

/* A response to req: Record-Route, Contact and Allow on an INVITE's 1xx/2xx. */
static void respond(struct peer_sip *ua, const struct sip_msg *req, int status,
                    const char *ctype, const char *body)
{
	char tag[16];
	const char *to_tag = ua->local_tag;
	if (!sip_pl_eq_cstr(sip_msg_call_id(req), ua->call_id) || !ua->local_tag[0]) {
		random_hex(tag, 5);
		to_tag = tag;
	}
	sip_buf_reset(&ua->out);
	sip_build_response(&ua->out, req, status, NULL, sip_pl_from_cstr(to_tag));
	if (sip_msg_method(req) == SIP_METHOD_INVITE && status > 100 && status < 300) {
		const struct sip_hdr *rr = sip_msg_hdr(req, SIP_HDR_RECORD_ROUTE);
		for (; rr; rr = sip_msg_hdr_next(req, rr)) {
			sip_build_header(&ua->out, "Record-Route", rr->value);
		}
		sip_buf_printf(&ua->out, "Contact: <%s;ob>\r\nAllow: %s\r\n", ua->contact, ALLOW);
	}
	if (status == 200 && sip_msg_method(req) == SIP_METHOD_OPTIONS)
		sip_buf_printf(&ua->out, "Allow: %s\r\nAccept: application/sdp\r\n", ALLOW);
	finish(ua, ctype, body);
}

static bool same_call(const struct peer_sip *ua, const struct sip_msg *req)
{
	return ua->call_id[0] && sip_pl_eq_cstr(sip_msg_call_id(req), ua->call_id) &&
	       ua->state != CALL_NONE && ua->state != CALL_ENDED;
}

static void on_new_invite(struct peer_sip *ua, const struct sip_msg *req)
{
	if (ua->state != CALL_NONE && ua->state != CALL_ENDED) {
		respond(ua, req, 486, NULL, NULL);
		return;
	}
	sip_pl raw = sip_msg_raw(req);
	char *copy = malloc(raw.l + 1);
	struct sip_msg *kept = NULL;
	if (!copy) {
		respond(ua, req, 500, NULL, NULL);
		return;
	}
	memcpy(copy, raw.p, raw.l);
	copy[raw.l] = '\0';
	if (sip_msg_parse_kept(copy, raw.l, SIP_PARSE_DATAGRAM, NULL, &kept) < 0) {
		free(copy);
		respond(ua, req, 500, NULL, NULL);
		return;
	}
	free(ua->in_invite_buf);
	sip_msg_free(ua->in_invite);
	ua->in_invite_buf = copy;
	ua->in_invite = kept;
	free(ua->answer_sdp);
	ua->answer_sdp = NULL;
	pl_copy(sip_msg_call_id(kept), ua->call_id, sizeof ua->call_id);
	random_hex(ua->local_tag, 5);
	const struct sip_hdr *from = sip_msg_hdr(kept, SIP_HDR_FROM);
	const struct sip_hdr *to = sip_msg_hdr(kept, SIP_HDR_TO);
	char to_value[HDR_MAX] = "";
	if (from)
		pl_copy(from->value, ua->remote_hdr, sizeof ua->remote_hdr);
	if (to)
		pl_copy(to->value, to_value, sizeof to_value);
	snprintf(ua->local_hdr, sizeof ua->local_hdr, "%s;tag=%s", to_value, ua->local_tag);
	ua->remote_target[0] = '\0';
	first_contact(kept, ua->remote_target, sizeof ua->remote_target);
	read_routes(ua, kept, false);
	ua->local_cseq = 0;
	ua->invite_cseq = 0;
	ua->state = CALL_RINGING;
	respond(ua, kept, 100, NULL, NULL);
	const char *sdp;
	size_t len;
	body_of(kept, &sdp, &len);
	ua->cfg.h.on_invite(ua->cfg.h.arg, sdp, len);
}

static void on_reinvite(struct peer_sip *ua, const struct sip_msg *req)
{
	const char *sdp;
	size_t len;
	body_of(req, &sdp, &len);
	int status = 488;
	char *answer = ua->cfg.h.on_reinvite(ua->cfg.h.arg, sdp, len, &status);
	if (!answer) {
		respond(ua, req, status >= 300 ? status : 488, NULL, NULL);
		return;
	}
	respond(ua, req, 200, "application/sdp", answer);
	free(answer);
}

static void on_request(struct peer_sip *ua, const struct sip_msg *req)
{
	enum sip_method method = sip_msg_method(req);
	const char *body;
	size_t len;
	body_of(req, &body, &len);
	bool ours = same_call(ua, req);
	switch (method) {
	case SIP_METHOD_ACK:
		if (ours && ua->state == CALL_ANSWERED) {
			ua->state = CALL_CONFIRMED;
			ua->cfg.h.on_ack(ua->cfg.h.arg, body, len);
		} else if (ours && ua->state == CALL_CONFIRMED && len) {
			ua->cfg.h.on_ack(ua->cfg.h.arg, body, len); /* an answer to our offer in a 2xx */
		}
		return;
	case SIP_METHOD_CANCEL:
		if (ours && ua->state == CALL_RINGING) {
			respond(ua, req, 200, NULL, NULL);
			respond(ua, ua->in_invite, 487, NULL, NULL);
			ua->state = CALL_ENDED;
			ua->cfg.h.on_cancel(ua->cfg.h.arg);
		} else {
			respond(ua, req, 481, NULL, NULL);
		}
		return;
	case SIP_METHOD_INVITE:
		if (!ours) {
			on_new_invite(ua, req);
		} else if (ua->state == CALL_CONFIRMED) {
			on_reinvite(ua, req);
		} else if (ua->state == CALL_ANSWERED && ua->answer_sdp) {
			respond(ua, ua->in_invite, 200, "application/sdp", ua->answer_sdp);
		}
		return; /* a retransmission while ringing: 100 went out already */
	case SIP_METHOD_BYE:
		if (!ours) {
			respond(ua, req, 481, NULL, NULL);
			return;
		}
		respond(ua, req, 200, NULL, NULL);
		ua->state = CALL_ENDED;
		const struct sip_hdr *reason = sip_msg_hdr(req, SIP_HDR_REASON);
		char text[HDR_MAX] = "";
		if (reason)
			pl_copy(reason->value, text, sizeof text);
		ua->cfg.h.on_bye(ua->cfg.h.arg, reason ? text : NULL);
		return;
	case SIP_METHOD_OPTIONS:
		respond(ua, req, 200, NULL, NULL);
		return;
	case SIP_METHOD_UPDATE:
		respond(ua, req, ours ? 501 : 481, NULL, NULL);
		return;
	case SIP_METHOD_INFO:
	case SIP_METHOD_NOTIFY:
	case SIP_METHOD_MESSAGE:
		if (!ours) {
			respond(ua, req, 481, NULL, NULL);
			return;
		}
		respond(ua, req, 200, NULL, NULL);
		if (method == SIP_METHOD_INFO) {
			const struct sip_hdr *ct = sip_msg_hdr(req, SIP_HDR_CONTENT_TYPE);
			char ctype[128] = "";
			if (ct)
				pl_copy(ct->value, ctype, sizeof ctype);
			ua->cfg.h.on_info(ua->cfg.h.arg, ctype, body, len);
		}
		return;
	default:
		respond(ua, req, 501, NULL, NULL);
		return;
	}
}

void peer_sip_receive(struct peer_sip *ua, const char *buf, size_t len)
{
	size_t consumed;
	struct sip_parse_error err;
	enum sip_parse_result r =
		sip_msg_parse(ua->msg, buf, len, SIP_PARSE_DATAGRAM, &consumed, &err);
	if (r == SIP_PARSE_KEEPALIVE)
		return; /* SIP.js never answers a CRLF ping */
	if (r != SIP_PARSE_OK) {
		fprintf(stderr, "[sip] dropped a message that does not parse (%s)\n",
		        err.reason ? err.reason : "?");
		return;
	}
	if (sip_msg_is_request(ua->msg))
		on_request(ua, ua->msg);
	else
		on_response(ua, ua->msg);
}

/* ---- answering ---- */

int peer_sip_ring(struct peer_sip *ua)
{
	if (ua->state != CALL_RINGING)
		return -ENOTCONN;
	respond(ua, ua->in_invite, 180, NULL, NULL);
	return 0;
}

int peer_sip_answer(struct peer_sip *ua, const char *sdp)
{
	if (ua->state != CALL_RINGING)
		return -ENOTCONN;
	free(ua->answer_sdp);
	ua->answer_sdp = strdup(sdp ? sdp : "");
	if (!ua->answer_sdp)
		return -ENOMEM;
	ua->state = CALL_ANSWERED;
	respond(ua, ua->in_invite, 200, "application/sdp", ua->answer_sdp);
	return 0;
}

int peer_sip_reject(struct peer_sip *ua, int status)
{
	if (ua->state != CALL_RINGING)
		return -ENOTCONN;
	respond(ua, ua->in_invite, status, NULL, NULL);
	ua->state = CALL_ENDED;
	return 0;
}
