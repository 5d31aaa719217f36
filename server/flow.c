/* flow.c — see flow.h. */
#include "server/flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sw_tp_name(enum sw_tp tp)
{
	static const char *const names[] = {"UDP", "TCP", "TLS", "WS", "WSS"};
	return (unsigned)tp < sizeof names / sizeof names[0] ? names[tp] : "?";
}

const char *sw_tp_param(enum sw_tp tp)
{
	static const char *const names[] = {"udp", "tcp", "tls", "ws", "wss"};
	return (unsigned)tp < sizeof names / sizeof names[0] ? names[tp] : "?";
}

socklen_t sw_sockaddr_len(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

unsigned sw_sockaddr_port(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	case AF_INET6:
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	default:
		return 0;
	}
}

void sw_sockaddr_str(const struct sockaddr *sa, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	switch (sa->sa_family) {
	case AF_INET:
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, host,
		          sizeof host);
		snprintf(out, size, "%s:%u", host, sw_sockaddr_port(sa));
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		          host, sizeof host);
		snprintf(out, size, "[%s]:%u", host, sw_sockaddr_port(sa));
		break;
	default:
		snprintf(out, size, "-");
	}
}

/* An IPv4 peer of a dual-stack socket shows as ::ffff:a.b.c.d: store it as
 * the IPv4 address it is, so logs, Via received= and keys read the same
 * whichever socket it came through. */
static void copy_addr(struct sockaddr_storage *dst, const struct sockaddr *src, socklen_t len)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)src;
	if (src->sa_family == AF_INET6 && len >= sizeof *s6 &&
	    IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)dst;
		memset(s4, 0, sizeof *s4);
		s4->sin_family = AF_INET;
		s4->sin_port = s6->sin6_port;
		memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
		return;
	}
	memcpy(dst, src, len);
}

int sw_sockaddr_parse(const char *s, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof *out);
	struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)out;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)out;
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return 0;
	}
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']' && n - 2 < sizeof buf) {
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = '\0';
		s = buf;
	}
	if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

struct sw_flow *sw_flow_new(enum sw_tp tp, const struct sw_flow_ops *ops, void *tp_data,
                            const struct sockaddr *peer, socklen_t peer_len,
                            const struct sockaddr *local, socklen_t local_len)
{
	static uint64_t next_id = 1;
	struct sw_flow *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->id = next_id++;
	f->tp = tp;
	f->refs = 1;
	f->ops = ops;
	f->tp_data = tp_data;
	if (peer && peer_len && peer_len <= sizeof f->peer)
		copy_addr(&f->peer, peer, peer_len);
	if (local && local_len && local_len <= sizeof f->local)
		copy_addr(&f->local, local, local_len);
	sw_sockaddr_str((const struct sockaddr *)&f->peer, f->peer_str, sizeof f->peer_str);
	return f;
}

struct sw_flow *sw_flow_ref(struct sw_flow *f)
{
	f->refs++;
	return f;
}

struct sw_flow *sw_flow_unref(struct sw_flow *f)
{
	if (f && --f->refs == 0) {
		if (f->ops && f->ops->destroy)
			f->ops->destroy(f);
		free(f);
	}
	return NULL;
}

int sw_flow_send(struct sw_flow *f, const char *buf, size_t len)
{
	if (f->closed)
		return -EPIPE;
	return f->ops->send(f, buf, len);
}

void sw_flow_close(struct sw_flow *f, int ws_code, const char *reason)
{
	if (!f->closed)
		f->ops->close(f, ws_code, reason);
}

void sw_flow_closed(struct sw_flow *f, const struct sw_flow_sink *sink)
{
	if (f->closed)
		return;
	f->closed = true;
	/* The sink may drop its own references from inside; hold one so f
	 * outlives the call. */
	sw_flow_ref(f);
	if (sink && sink->on_closed)
		sink->on_closed(sink->arg, f);
	sw_flow_unref(f);
}

ssize_t sw_flow_stream_input(struct sw_flow *f, const struct sw_flow_sink *sink,
                             struct sip_msg *scratch, const struct sip_limits *limits,
                             const char *buf, size_t len)
{
	size_t off = 0;
	while (off < len && !f->closed) {
		size_t used = 0;
		struct sip_parse_error err = {0};
		enum sip_parse_result r =
			sip_msg_parse(scratch, buf + off, len - off, SIP_PARSE_STREAM, &used, &err);
		switch (r) {
		case SIP_PARSE_OK:
			sink->on_message(sink->arg, f, buf + off, used);
			off += used;
			break;
		case SIP_PARSE_KEEPALIVE:
			/* RFC 5626 §3.5.1: a ping is answered with a pong. */
			if (used == 4)
				sw_flow_send(f, "\r\n", 2);
			off += used;
			break;
		case SIP_PARSE_NEED_MORE:
			if (len - off > limits->max_msg_size)
				return -EPROTO;
			return (ssize_t)off;
		case SIP_PARSE_ERROR:
			/* The sink parses the same bytes the same way and answers. */
			sink->on_message(sink->arg, f, buf + off, len - off);
			return -EPROTO;
		}
	}
	return (ssize_t)off;
}

bool sw_addr_matches_prefix(const struct sockaddr *sa, const char *spec)
{
	char host[64];
	unsigned bits = 128;
	const char *slash = strchr(spec, '/');
	size_t hl = slash ? (size_t)(slash - spec) : strlen(spec);
	if (hl >= sizeof host)
		return false;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	unsigned char want[16], have[16];
	size_t len;
	if (inet_pton(AF_INET, host, want) == 1) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
		if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
			memcpy(have, &v6->sin6_addr.s6_addr[12], 4); /* a dual-stack socket's IPv4 peer */
		else if (sa->sa_family == AF_INET)
			memcpy(have, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		else
			return false;
		len = 4;
	} else if (inet_pton(AF_INET6, host, want) == 1) {
		if (sa->sa_family != AF_INET6)
			return false;
		memcpy(have, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		len = 16;
	} else {
		return false;
	}
	bits = slash ? (unsigned)strtoul(slash + 1, NULL, 10) : (unsigned)len * 8;
	if (bits > len * 8)
		bits = (unsigned)len * 8;
	for (size_t i = 0; i < len && bits; i++) {
		unsigned take = bits >= 8 ? 8 : bits;
		unsigned char mask = (unsigned char)(0xff00u >> take);
		if ((want[i] & mask) != (have[i] & mask))
			return false;
		bits -= take;
	}
	return true;
}
