/* fuzz_msg — the message parser on arbitrary bytes, in both framing modes.
 * Beyond "no crash", it checks two properties:
 *  - every view of an accepted message lies inside the input;
 *  - a response built for an accepted request (or for a rejected one that
 *    reports a status) parses back, and for an accepted request it carries
 *    the same Call-ID, CSeq and top Via branch. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_build.h"
#include "sip/sip_msg.h"
#include "fuzz.h"


static void touch_headers(const struct sip_msg *m, const char *buf, size_t len)
{
	for (unsigned i = 0; i < sip_msg_hdr_count(m); i++) {
		const struct sip_hdr *h = sip_msg_hdr_at(m, i);
		check_inside(h->name, buf, len);
		check_inside(h->value, buf, len);
		(void)sip_msg_hdr_by_name(m, h->name);
		(void)sip_msg_hdr_next(m, h);
	}
	struct sip_value_iter it = {0};
	sip_pl v;
	while (sip_msg_value_next(m, SIP_HDR_CONTACT, &it, &v)) {
		struct sip_contact c;
		if (sip_contact_parse(v, &c) == 0 && !c.star) {
			check_inside(c.addr.uri_text, buf, len);
			check_inside(c.instance, buf, len);
		}
	}
	struct sip_value_iter it2 = {0};
	while (sip_msg_value_next(m, SIP_HDR_RECORD_ROUTE, &it2, &v)) {
		struct sip_addr a;
		if (sip_addr_parse(v, &a) == 0)
			check_inside(a.uri.host, buf, len);
	}
	(void)sip_msg_has_option(m, SIP_HDR_SUPPORTED, "100rel");
}

static void reply_round_trip(const struct sip_msg *req, const struct sip_parse_error *err,
                             bool accepted)
{
	struct sip_buf b;
	sip_buf_init(&b, 0);
	int status = accepted ? 200 : err->status;
	if (sip_build_response(&b, req, status, accepted ? NULL : err->reason, SIP_PL("fz1")) == 0 &&
	    sip_build_body(&b, NULL, SIP_PL("")) == 0) {
		struct sip_msg *r = sip_msg_new(NULL);
		size_t used;
		struct sip_parse_error rerr;
		enum sip_parse_result res =
			sip_msg_parse(r, b.p, b.len, SIP_PARSE_STREAM, &used, &rerr);
		if (accepted) {
			CHECK(res == SIP_PARSE_OK);
			CHECK(used == b.len);
			CHECK(sip_msg_status(r) == 200);
			CHECK(sip_pl_eq(sip_msg_call_id(r), sip_msg_call_id(req)));
			CHECK(sip_msg_cseq(r)->seq == sip_msg_cseq(req)->seq);
			CHECK(sip_pl_eq(sip_msg_via(r)->branch, sip_msg_via(req)->branch));
		}
		sip_msg_free(r);
	}
	sip_buf_free(&b);
}

static struct sip_msg *msg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!msg)
		msg = sip_msg_new(NULL);
	const char *buf = (const char *)data;
	for (int mode = 0; mode < 2; mode++) {
		size_t used;
		struct sip_parse_error err;
		enum sip_parse_result r =
			sip_msg_parse(msg, buf, size, mode ? SIP_PARSE_STREAM : SIP_PARSE_DATAGRAM,
			              &used, &err);
		CHECK(used <= size);
		if (r == SIP_PARSE_OK) {
			check_inside(sip_msg_raw(msg), buf, size);
			check_inside(sip_msg_body(msg), buf, size);
			check_inside(sip_msg_call_id(msg), buf, size);
			check_inside(sip_msg_via(msg)->branch, buf, size);
			check_inside(sip_msg_from(msg)->tag, buf, size);
			touch_headers(msg, buf, size);
			if (sip_msg_is_request(msg) && sip_msg_method(msg) != SIP_METHOD_ACK)
				reply_round_trip(msg, &err, true);
		} else if (r == SIP_PARSE_ERROR && err.status) {
			CHECK(err.reason != NULL);
			CHECK(sip_msg_is_request(msg));
			reply_round_trip(msg, &err, false);
		}
	}
	return 0;
}
