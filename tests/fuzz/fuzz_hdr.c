/* fuzz_hdr — the typed header parsers on arbitrary bytes. The first byte picks
 * the parser, the rest is the header value (in an exact-size buffer, so any
 * read past the view is caught by ASan). Beyond "no crash" it checks that
 * every view of an accepted value lies inside the input, that the numeric
 * fields keep their documented ranges, and that a parsed URI is equivalent to
 * itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_hdr.h"
#include "fuzz.h"


static const char *g_buf;
static size_t g_len;

static void inside(sip_pl v)
{
	if (v.p)
		CHECK(v.p >= g_buf && v.p + v.l <= g_buf + g_len);
}

/* Walk a parameter list the way callers do, checking every view. */
static void walk_params(sip_pl params)
{
	inside(params);
	size_t pos = 0;
	struct sip_param prm;
	bool bad = false;
	while (sip_param_next(params, &pos, &prm, &bad)) {
		inside(prm.name);
		inside(prm.value);
	}
	CHECK(!bad); /* the parsers validated the list */
}

static void check_uri(const struct sip_uri *u)
{
	inside(u->user);
	inside(u->password);
	inside(u->host);
	inside(u->params);
	inside(u->headers);
	inside(u->transport);
	inside(u->user_param);
	inside(u->method);
	inside(u->maddr);
	inside(u->ttl);
	inside(u->gr);
	CHECK(sip_uri_equal(u, u));
	sip_pl v;
	(void)sip_uri_param(u, "transport", &v);
	(void)sip_uri_param(u, "lr", &v);
	char tmp[64];
	if (u->user.p) /* an unset view is not something to unescape */
		(void)sip_uri_unescape(u->user, tmp, sizeof(tmp));
	(void)sip_uri_default_port(u);
}

static void check_addr(const struct sip_addr *a)
{
	inside(a->display);
	inside(a->uri_text);
	CHECK(a->uri_text.p && a->uri_text.l > 0);
	inside(a->tag);
	walk_params(a->params);
	if (a->display_quoted) {
		char tmp[256];
		(void)sip_unquote(a->display, tmp, sizeof(tmp));
	}
	if (a->uri.scheme != 0)
		check_uri(&a->uri);
	else
		CHECK(!a->uri.host.p);
}

static void run(unsigned which, sip_pl v)
{
	switch (which) {
	case 0: {
		struct sip_via via;
		if (sip_via_parse(v, &via) != 0)
			return;
		inside(via.protocol);
		inside(via.transport);
		inside(via.host);
		CHECK(via.host.l > 0 && via.host_type != SIP_URI_HOST_NONE);
		inside(via.branch);
		inside(via.received);
		inside(via.maddr);
		inside(via.ttl);
		walk_params(via.params);
		CHECK(via.rport || via.rport_value == 0);
		break;
	}
	case 1: {
		struct sip_addr a;
		if (sip_addr_parse(v, &a) == 0)
			check_addr(&a);
		break;
	}
	case 2: {
		struct sip_contact c;
		if (sip_contact_parse(v, &c) != 0)
			return;
		if (c.star)
			return;
		check_addr(&c.addr);
		inside(c.instance);
		CHECK(!c.has_q ? c.q == 0 : c.q <= 1000);
		break;
	}
	case 3: {
		struct sip_cseq c;
		if (sip_cseq_parse(v, &c) != 0)
			return;
		CHECK(c.seq < 0x80000000u);
		inside(c.method_name);
		CHECK(c.method_name.l > 0);
		(void)sip_method_name(c.method);
		break;
	}
	case 4: {
		struct sip_rack r;
		if (sip_rack_parse(v, &r) != 0)
			return;
		CHECK(r.cseq < 0x80000000u);
		inside(r.method_name);
		break;
	}
	case 5: {
		uint32_t n;
		if (sip_uint_parse(v, 255, &n) == 0)
			CHECK(n <= 255);
		(void)sip_uint_parse(v, UINT32_MAX, &n);
		break;
	}
	case 6: {
		struct sip_ctype ct;
		if (sip_ctype_parse(v, &ct) != 0)
			return;
		inside(ct.type);
		inside(ct.subtype);
		walk_params(ct.params);
		break;
	}
	case 7: {
		struct sip_event ev;
		if (sip_event_parse(v, &ev) != 0)
			return;
		inside(ev.package);
		inside(ev.id);
		walk_params(ev.params);
		break;
	}
	case 8: {
		struct sip_substate ss;
		if (sip_substate_parse(v, &ss) != 0)
			return;
		inside(ss.state);
		inside(ss.reason);
		walk_params(ss.params);
		break;
	}
	case 9: {
		struct sip_replaces rp;
		if (sip_replaces_parse(v, &rp) != 0)
			return;
		inside(rp.call_id);
		inside(rp.to_tag);
		inside(rp.from_tag);
		CHECK(rp.to_tag.p && rp.from_tag.p);
		walk_params(rp.params);
		break;
	}
	case 10: {
		struct sip_session_expires se;
		if (sip_session_expires_parse(v, &se) != 0)
			return;
		inside(se.refresher);
		CHECK(!se.refresher.p || se.refresher.l == 3);
		walk_params(se.params);
		break;
	}
	case 11: {
		struct sip_reason r;
		if (sip_reason_parse(v, &r) != 0)
			return;
		inside(r.protocol);
		inside(r.text);
		walk_params(r.params);
		break;
	}
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned which = data[0] % 12;
	size_t len = size - 1;
	char *buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	if (len)
		memcpy(buf, data + 1, len);
	g_buf = buf;
	g_len = len;
	run(which, (sip_pl){buf, len});
	/* the list splitter feeds these parsers: run each element too */
	size_t pos = 0;
	sip_pl item;
	unsigned items = 0;
	while (items++ < 16 && sip_list_next((sip_pl){buf, len}, &pos, &item)) {
		inside(item);
		run(which, item);
	}
	free(buf);
	return 0;
}
