/* fuzz_uri — the URI parser on arbitrary bytes. Beyond "no crash", it checks:
 *  - every view of an accepted URI lies inside the input;
 *  - an accepted URI equals itself, and equals the same bytes parsed again from
 *    another buffer; equality of the input split in two is symmetric;
 *  - every pre-extracted parameter agrees with sip_uri_param();
 *  - unescaping every part of an accepted URI succeeds (the parser validated
 *    the escapes). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_uri.h"
#include "fuzz.h"


static void check_known(const struct sip_uri *u, const char *name, sip_pl known)
{
	sip_pl v = SIP_PL("unset?");
	bool found = sip_uri_param(u, name, &v);
	if (known.p) {
		CHECK(found);
		CHECK(sip_pl_eq(v, known));
	}
}

static void check_unescapes(sip_pl v)
{
	char buf[256];
	if (!v.p)
		return;
	int n = sip_uri_unescape(v, buf, sizeof(buf));
	CHECK(n == -ENOSPC || (n >= 0 && (size_t)n <= v.l));
}

static void check_uri(const struct sip_uri *u, const char *buf, size_t len)
{
	check_inside(u->user, buf, len);
	check_inside(u->password, buf, len);
	check_inside(u->host, buf, len);
	check_inside(u->params, buf, len);
	check_inside(u->headers, buf, len);
	check_inside(u->transport, buf, len);
	check_inside(u->user_param, buf, len);
	check_inside(u->method, buf, len);
	check_inside(u->maddr, buf, len);
	check_inside(u->ttl, buf, len);
	check_inside(u->gr, buf, len);
	CHECK(u->scheme >= SIP_URI_SIP && u->scheme <= SIP_URI_TEL);
	if (u->scheme == SIP_URI_TEL) {
		CHECK(u->host_type == SIP_URI_HOST_NONE && !u->host.p);
		CHECK(sip_uri_default_port(u) == 0);
	} else {
		CHECK(u->host.p && u->host.l > 0);
		CHECK(u->host_type != SIP_URI_HOST_NONE);
		if (u->host_type == SIP_URI_HOST_IPV6)
			CHECK(u->host.p[0] == '[' && u->host.p[u->host.l - 1] == ']');
		uint16_t dp = sip_uri_default_port(u);
		CHECK(dp == 5060 || dp == 5061);
		check_known(u, "transport", u->transport);
		check_known(u, "user", u->user_param);
		check_known(u, "method", u->method);
		check_known(u, "maddr", u->maddr);
		check_known(u, "ttl", u->ttl);
		check_known(u, "gr", u->gr);
		if (u->lr)
			CHECK(sip_uri_param(u, "lr", NULL));
		if (u->ob)
			CHECK(sip_uri_param(u, "ob", NULL));
		if (u->has_gr)
			CHECK(sip_uri_param(u, "gr", NULL));
	}
	check_unescapes(u->user);
	check_unescapes(u->password);
	check_unescapes(u->params);
	check_unescapes(u->headers);
	CHECK(sip_uri_equal(u, u));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so reading one byte past the view is caught */
	char *buf = malloc(size ? size : 1);
	char *again = malloc(size ? size : 1);
	if (!buf || !again)
		goto out;
	if (size) {
		memcpy(buf, data, size);
		memcpy(again, data, size);
	}

	struct sip_uri u, v;
	int rc = sip_uri_parse((sip_pl){buf, size}, &u);
	CHECK(rc == 0 || rc == -EINVAL || rc == -EPROTONOSUPPORT);
	if (rc == 0) {
		check_uri(&u, buf, size);
		CHECK(sip_uri_parse((sip_pl){again, size}, &v) == 0);
		CHECK(sip_uri_equal(&u, &v) && sip_uri_equal(&v, &u));
	}

	/* two URIs from one input, split at the first newline, to compare
	 * arbitrary pairs */
	const char *nl = size ? memchr(buf, '\n', size) : NULL;
	if (nl) {
		size_t first = (size_t)(nl - buf);
		struct sip_uri a, b;
		if (sip_uri_parse((sip_pl){buf, first}, &a) == 0 &&
		    sip_uri_parse((sip_pl){nl + 1, size - first - 1}, &b) == 0) {
			check_uri(&a, buf, first);
			check_uri(&b, nl + 1, size - first - 1);
			CHECK(sip_uri_equal(&a, &b) == sip_uri_equal(&b, &a));
		}
	}
out:
	free(buf);
	free(again);
	return 0;
}
