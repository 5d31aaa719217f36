/* rtpengine_ng — see rtpengine_ng.h. */
#include "rtpengine_ng.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#define NG_TRIES   5
#define NG_MSG_MAX 16384

struct ng_client {
	int fd;
	unsigned timeout_ms;
	uint32_t prefix; /* tells this client's cookies from another run's */
	uint64_t serial;
	char out[NG_COOKIE_MAX + 1 + NG_MSG_MAX];
};

int ng_reply_parse(struct ng_reply *r, const char *cookie)
{
	r->dict = NULL;
	r->reason[0] = '\0';
	r->d = (struct bdec){.nodes = r->nodes, .cap = NG_NODES_MAX};
	const char *sp = memchr(r->buf, ' ', r->len);
	if (!sp || sp == r->buf) {
		snprintf(r->reason, sizeof r->reason, "no cookie");
		return -EINVAL;
	}
	size_t clen = (size_t)(sp - r->buf);
	if (clen != strlen(cookie) || memcmp(r->buf, cookie, clen))
		return -ESRCH;
	const char *body = sp + 1;
	size_t blen = r->len - clen - 1;
	int rc = bdec_parse(&r->d, body, blen, NULL);
	if (rc < 0) {
		snprintf(r->reason, sizeof r->reason, "the reply is not bencode");
		return -EINVAL;
	}
	const struct bdec_node *root = bdec_root(&r->d);
	if (root->type != BDEC_DICT) {
		snprintf(r->reason, sizeof r->reason, "the reply is not a dictionary");
		return -EINVAL;
	}
	r->dict = root;
	const struct bdec_node *result = bdec_get(&r->d, root, "result");
	if (bdec_is(result, "ok") || bdec_is(result, "pong"))
		return 0;
	if (bdec_is(result, "error")) {
		const struct bdec_node *why = bdec_get(&r->d, root, "error-reason");
		if (bdec_copy(why, r->reason, sizeof r->reason) < 0 || !r->reason[0])
			snprintf(r->reason, sizeof r->reason, "an error without a reason");
		return -EPROTO;
	}
	snprintf(r->reason, sizeof r->reason, "no result ok or error in the reply");
	return -EINVAL;
}

int ng_client_new(const char *host, unsigned port, unsigned timeout_ms, struct ng_client **out)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (port == 0 || port > 65535 || inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return -EINVAL;
	struct ng_client *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->timeout_ms = timeout_ms ? timeout_ms : 1000;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	c->prefix = (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 12;
	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a)) {
		int rc = -errno;
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void ng_client_free(struct ng_client *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

int ng_request(struct ng_client *c, const char *msg, size_t len, struct ng_reply *r)
{
	char cookie[NG_COOKIE_MAX];
	int clen = snprintf(cookie, sizeof cookie, "%08x_%llu", c->prefix,
	                    (unsigned long long)++c->serial);
	if (len > NG_MSG_MAX)
		return -EMSGSIZE;
	memcpy(c->out, cookie, (size_t)clen);
	c->out[clen] = ' ';
	memcpy(c->out + clen + 1, msg, len);
	size_t total = (size_t)clen + 1 + len;
	r->reason[0] = '\0';
	for (int attempt = 0; attempt < NG_TRIES; attempt++) {
		if (send(c->fd, c->out, total, 0) < 0)
			return -errno;
		struct timespec t0, now;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long waited = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
			if (waited >= (long)c->timeout_ms)
				break;
			struct pollfd p = {.fd = c->fd, .events = POLLIN};
			int n = poll(&p, 1, (int)(c->timeout_ms - (unsigned long)waited));
			if (n < 0 && errno != EINTR)
				return -errno;
			if (n <= 0)
				continue;
			ssize_t k = recv(c->fd, r->buf, sizeof r->buf, 0);
			if (k < 0) {
				/* nobody listens yet (ICMP port unreachable): wait out the try */
				if (errno == ECONNREFUSED || errno == EINTR || errno == EAGAIN)
					continue;
				return -errno;
			}
			r->len = (size_t)k;
			int rc = ng_reply_parse(r, cookie);
			if (rc != -ESRCH) /* a late reply to an earlier request is skipped */
				return rc;
		}
	}
	snprintf(r->reason, sizeof r->reason, "no reply in %u ms, %d tries", c->timeout_ms, NG_TRIES);
	return -ETIMEDOUT;
}

static int sdp_request(struct ng_client *c, const char *command, const struct ng_sdp_request *q,
                       struct ng_reply *r, struct ng_sdp *out)
{
	char *msg = malloc(NG_MSG_MAX);
	if (!msg)
		return -ENOMEM;
	struct benc b;
	benc_init(&b, msg, NG_MSG_MAX);
	benc_dict(&b);
	benc_kv_str(&b, "command", command);
	benc_kv_str(&b, "call-id", q->call_id);
	benc_kv_str(&b, "from-tag", q->from_tag);
	if (q->to_tag)
		benc_kv_str(&b, "to-tag", q->to_tag);
	benc_kv_str(&b, "sdp", q->sdp);
	if (q->transport)
		benc_kv_str(&b, "transport-protocol", q->transport);
	if (q->ice_remove)
		benc_kv_str(&b, "ICE", "remove");
	if (q->dtls_off)
		benc_kv_str(&b, "DTLS", "off");
	if (q->sdes) {
		benc_str(&b, "SDES");
		benc_list(&b);
		for (const char *const *s = q->sdes; *s; s++)
			benc_str(&b, *s);
		benc_end(&b);
	}
	benc_end(&b);
	int len = benc_finish(&b);
	int rc = len < 0 ? len : ng_request(c, msg, (size_t)len, r);
	free(msg);
	if (rc < 0)
		return rc;
	const struct bdec_node *sdp = bdec_get(&r->d, r->dict, "sdp");
	if (!sdp || sdp->type != BDEC_STR) {
		snprintf(r->reason, sizeof r->reason, "no SDP in the reply to %s", command);
		return -EINVAL;
	}
	out->p = sdp->str;
	out->len = sdp->len;
	return 0;
}

int ng_offer(struct ng_client *c, const struct ng_sdp_request *q, struct ng_reply *r,
             struct ng_sdp *out)
{
	return sdp_request(c, "offer", q, r, out);
}

int ng_answer(struct ng_client *c, const struct ng_sdp_request *q, struct ng_reply *r,
              struct ng_sdp *out)
{
	if (!q->to_tag)
		return -EINVAL;
	return sdp_request(c, "answer", q, r, out);
}

int ng_delete(struct ng_client *c, const char *call_id, const char *from_tag,
              struct ng_reply *r)
{
	char msg[512];
	struct benc b;
	benc_init(&b, msg, sizeof msg);
	benc_dict(&b);
	benc_kv_str(&b, "command", "delete");
	benc_kv_str(&b, "call-id", call_id);
	benc_kv_str(&b, "from-tag", from_tag);
	benc_end(&b);
	int len = benc_finish(&b);
	return len < 0 ? len : ng_request(c, msg, (size_t)len, r);
}

int ng_ping(struct ng_client *c, struct ng_reply *r)
{
	char msg[64];
	struct benc b;
	benc_init(&b, msg, sizeof msg);
	benc_dict(&b);
	benc_kv_str(&b, "command", "ping");
	benc_end(&b);
	int len = benc_finish(&b);
	return len < 0 ? len : ng_request(c, msg, (size_t)len, r);
}
