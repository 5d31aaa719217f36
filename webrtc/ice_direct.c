/* ice_direct.c — see ice_direct.h. */
#include "webrtc/ice_direct.h"

#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <stun/usages/ice.h>

/* RFC 7675 §5.1: a consent check every 4 to 6 s, consent lost 30 s after
 * the last answer */
#define CHECK_MIN_US  4000000
#define CHECK_SPAN_US 2000000
#define CONSENT_US    30000000

static int64_t next_check_delay(void)
{
	return CHECK_MIN_US + (int64_t)(g_random_int() % CHECK_SPAN_US);
}

void ice_direct_init(struct ice_direct *d, const char *ufrag, const char *pwd,
                     const char *remote_ufrag, const char *remote_pwd, bool controlling,
                     uint32_t priority, const struct sockaddr_storage *remote,
                     socklen_t remote_len, int64_t now_us)
{
	memset(d, 0, sizeof *d);
	g_strlcpy(d->ufrag, ufrag, sizeof d->ufrag);
	g_strlcpy(d->pwd, pwd, sizeof d->pwd);
	g_strlcpy(d->remote_ufrag, remote_ufrag, sizeof d->remote_ufrag);
	g_strlcpy(d->remote_pwd, remote_pwd, sizeof d->remote_pwd);
	d->controlling = controlling;
	d->priority = priority;
	d->tie = (uint64_t)g_random_int() << 32 | g_random_int();
	if (remote_len > sizeof d->remote)
		remote_len = sizeof d->remote;
	memcpy(&d->remote, remote, remote_len);
	d->remote_len = remote_len;
	static const uint16_t known[] = {
	    STUN_ATTRIBUTE_USERNAME,          STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
	    STUN_ATTRIBUTE_PRIORITY,          STUN_ATTRIBUTE_USE_CANDIDATE,
	    STUN_ATTRIBUTE_ICE_CONTROLLED,    STUN_ATTRIBUTE_ICE_CONTROLLING,
	    STUN_ATTRIBUTE_FINGERPRINT,       STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
	    STUN_ATTRIBUTE_MAPPED_ADDRESS,    STUN_ATTRIBUTE_ERROR_CODE,
	    STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES, 0,
	};
	stun_agent_init(&d->stun, known, STUN_COMPATIBILITY_RFC5389,
	                STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
	d->consent_until_us = now_us + CONSENT_US;
	d->next_check_us = now_us + next_check_delay();
}

bool ice_direct_from_pair(const struct ice_direct *d, const struct sockaddr_storage *from)
{
	const struct sockaddr_storage *x = from, *y = &d->remote;
	if (x->ss_family != y->ss_family)
		return false;
	if (x->ss_family == AF_INET) {
		const struct sockaddr_in *p = (const void *)x, *q = (const void *)y;
		return p->sin_port == q->sin_port && p->sin_addr.s_addr == q->sin_addr.s_addr;
	}
	if (x->ss_family != AF_INET6)
		return false;
	const struct sockaddr_in6 *p = (const void *)x, *q = (const void *)y;
	return p->sin6_port == q->sin6_port &&
	       memcmp(&p->sin6_addr, &q->sin6_addr, sizeof p->sin6_addr) == 0;
}

/* A check's USERNAME is "OURS:THEIRS", keyed with our password. */
static bool check_key(StunAgent *agent, StunMessage *message, uint8_t *username,
                      uint16_t username_len, uint8_t **password, size_t *password_len,
                      void *user_data)
{
	struct ice_direct *d = user_data;
	size_t ul = strlen(d->ufrag);
	if (username_len <= ul || memcmp(username, d->ufrag, ul) != 0 || username[ul] != ':')
		return false;
	*password = (uint8_t *)d->pwd;
	*password_len = strlen(d->pwd);
	return true;
}

enum ice_direct_verdict ice_direct_input(struct ice_direct *d, const uint8_t *buf, size_t len,
                                         const struct sockaddr_storage *from,
                                         socklen_t from_len, int64_t now_us, uint8_t *out,
                                         size_t *out_len)
{
	if (len == 0)
		return ICE_DIRECT_DROP;
	if (buf[0] >= 4)
		return ice_direct_from_pair(d, from) ? ICE_DIRECT_MEDIA : ICE_DIRECT_DROP;
	StunMessage msg;
	if (stun_agent_validate(&d->stun, &msg, buf, len, check_key, d) != STUN_VALIDATION_SUCCESS) {
		d->refused++;
		return ICE_DIRECT_DROP;
	}
	StunClass cls = stun_message_get_class(&msg);
	if (cls == STUN_RESPONSE) {
		/* an answer to one of our checks: the STUN agent matched its
		 * transaction and checked it with the peer's password */
		if (ice_direct_from_pair(d, from)) {
			d->consent_until_us = now_us + CONSENT_US;
			d->answers++;
		}
		return ICE_DIRECT_DROP;
	}
	if (cls != STUN_REQUEST)
		return ICE_DIRECT_DROP; /* indications (keepalives), error answers */
	StunMessage res;
	size_t n = ICE_DIRECT_STUN_MAX;
	bool controlling = d->controlling;
	StunUsageIceReturn r = stun_usage_ice_conncheck_create_reply(
	    &d->stun, &msg, &res, out, &n, from, from_len, &controlling, d->tie,
	    STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
	if ((r != STUN_USAGE_ICE_RETURN_SUCCESS && r != STUN_USAGE_ICE_RETURN_ROLE_CONFLICT) ||
	    n == 0) {
		d->refused++;
		return ICE_DIRECT_DROP;
	}
	d->controlling = controlling;
	d->answered++;
	/* The controlling peer nominates another pair ending on this socket
	 * (its address changed, say): media follows it. */
	if (!d->controlling && stun_usage_ice_conncheck_use_candidate(&msg) &&
	    !ice_direct_from_pair(d, from) && from_len <= sizeof d->remote) {
		memcpy(&d->remote, from, from_len);
		d->remote_len = from_len;
	}
	*out_len = n;
	return ICE_DIRECT_REPLY;
}

int ice_direct_tick(struct ice_direct *d, int64_t now_us, uint8_t *out)
{
	if (now_us >= d->consent_until_us)
		return -ETIMEDOUT;
	if (now_us < d->next_check_us)
		return 0;
	d->next_check_us = now_us + next_check_delay();
	/* USERNAME "THEIRS:OURS", keyed with the peer's password */
	char user[2 * ICE_DIRECT_CRED_MAX + 2];
	int ul = snprintf(user, sizeof user, "%s:%s", d->remote_ufrag, d->ufrag);
	/* the check before last is not answered any more: forget it, so that
	 * unanswered checks do not fill the agent's list */
	if (d->n_checks == 2)
		stun_agent_forget_transaction(&d->stun, d->last_check[0]);
	StunMessage msg;
	size_t n = stun_usage_ice_conncheck_create(
	    &d->stun, &msg, out, ICE_DIRECT_STUN_MAX, (const uint8_t *)user, (size_t)ul,
	    (const uint8_t *)d->remote_pwd, strlen(d->remote_pwd), false, d->controlling,
	    d->priority, d->tie, NULL, STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
	if (n == 0)
		return 0;
	if (d->n_checks == 2)
		memcpy(d->last_check[0], d->last_check[1], sizeof d->last_check[0]);
	else
		d->n_checks++;
	stun_message_id(&msg, d->last_check[d->n_checks - 1]);
	d->checks++;
	return (int)n;
}

int64_t ice_direct_due(const struct ice_direct *d)
{
	return d->next_check_us < d->consent_until_us ? d->next_check_us : d->consent_until_us;
}
