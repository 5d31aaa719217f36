/* fuzz_dialog — drives the dialog layer with a sequence of operations decoded
 * from the input: dialogs created on both sides from templated messages whose
 * fields (Record-Route, Contact, From, tags, CSeq) are picked by the input or
 * taken from its raw bytes, incoming requests and responses, requests built
 * and parsed back, table adds, finds and removes, frees.
 * Checks: every request a dialog builds parses, and carries the dialog's
 * Call-ID, tags and CSeq (the next number, or the INVITE's for ACK and
 * CANCEL) and the remote target or first route as Request-URI; a refused
 * build moves no CSeq; every dialog in the table is found by its key and by
 * the requests and responses of its peer; no leak or use after free (ASan). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "sip/sip_build.h"
#include "sip/sip_dialog.h"
#include "sip/sip_msg.h"

#define MAXD 8
static struct sip_dialog *dlg[MAXD];
static bool in_table[MAXD]; /* dlg[i] went into the table (no -EEXIST) */
static struct sip_dialog_table *T;
static struct sip_msg *M1, *M2, *MB;

/* Input cursor. */
struct in {
	const uint8_t *p;
	size_t n;
};
static uint8_t take(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}
/* Up to max raw bytes from the input (length from the input), as a view. */
static sip_pl take_raw(struct in *in, size_t max)
{
	size_t len = take(in) % (max + 1);
	if (len > in->n)
		len = in->n;
	sip_pl v = {(const char *)in->p, len};
	in->p += len;
	in->n -= len;
	return v;
}

static const char *methods[] = {"INVITE", "BYE",    "INFO",   "UPDATE",
                                "ACK",    "CANCEL", "NOTIFY", "MESSAGE"};
static const enum sip_method build_methods[] = {
    SIP_METHOD_INVITE, SIP_METHOD_BYE,       SIP_METHOD_INFO,  SIP_METHOD_UPDATE, SIP_METHOD_ACK,
    SIP_METHOD_CANCEL, SIP_METHOD_SUBSCRIBE, SIP_METHOD_REFER, SIP_METHOD_PRACK,  SIP_METHOD_OTHER};
static const char *rrs[] = {
    "",
    "Record-Route: <sip:p1.example.com;lr>\r\n",
    "Record-Route: <sip:s1.example.com;transport=udp>, <sip:p2.example.com;lr>\r\n",
    "Record-Route: <sip:p1;lr>\r\nRecord-Route: <sips:p2;lr?a=b>,\r\n <sip:p3;lr>\r\n",
    "Record-Route: <tel:+1>\r\n",
    NULL, /* raw bytes */
    "Record-Route: <sip:old.example.com;maddr=192.0.2.9?X-A=1>\r\n",
};
static const char *contacts[] = {
    "",
    "Contact: <sip:a@192.0.2.1:5060>\r\n",
    "Contact: *\r\n",
    "Contact: <sip:a@h>, <sip:b@h>\r\n",
    "Contact: sips:a@[2001:db8::1]:5061;transport=tls\r\n",
    NULL, /* raw bytes */
};
static const char *froms[] = {"<sip:a@x>", "\"A\\\"x\" <sip:a@x>", "sip:a@x;p=1", "A\r\n <sip:a@x>",
                              NULL};
static const char *tags[] = {"", ";tag=t1", ";tag=t2", ";tag=L1"};
static const char *ruris[] = {"sip:b@192.0.2.10", "sips:b@x", "sip:b@x;lr"};
static const char *transports[] = {"UDP", "TLS", "WSS"};

static size_t format_field(char *dst, size_t size, const char *fixed, const char *name, sip_pl raw)
{
	int n;
	if (fixed)
		n = snprintf(dst, size, "%s", fixed);
	else
		n = snprintf(dst, size, "%s: %.*s\r\n", name, (int)raw.l, raw.p);
	return n < 0 ? 0 : (size_t)n;
}

/* A request (to_tag_pick: 0 none) or a response built from choices. */
static size_t make(char *buf, size_t size, struct in *in, bool response)
{
	uint8_t a = take(in), b = take(in), c = take(in);
	char rr[512], ct[512], from[300];
	const char *rrfix = rrs[a % 7], *ctfix = contacts[(a >> 3) % 6];
	sip_pl raw = rrfix && ctfix && froms[b % 5] ? SIP_PL_NULL : take_raw(in, 200);
	format_field(rr, sizeof(rr), rrfix, "Record-Route", raw);
	format_field(ct, sizeof(ct), ctfix, "Contact", raw);
	if (froms[b % 5])
		snprintf(from, sizeof(from), "%s", froms[b % 5]);
	else
		snprintf(from, sizeof(from), "%.*s", (int)raw.l, raw.p);
	const char *method = methods[(b >> 3) % 8];
	const char *from_tag = tags[(c >> 2) % 4];
	const char *to_tag = tags[(c >> 4) % 4];
	unsigned cseq = 1 + (c & 3) + ((a >> 6) << 2);
	unsigned call = (b >> 6) & 1;
	int n;
	if (response) {
		static const int statuses[] = {100, 180, 183, 200, 202, 408, 481, 486};
		n = snprintf(buf, size,
		             "SIP/2.0 %d X\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKr\r\n%s"
		             "From: %s%s\r\nTo: <sip:r@x>%s\r\nCall-ID: c%u\r\nCSeq: %u %s\r\n"
		             "%sContent-Length: 0\r\n\r\n",
		             statuses[(b >> 7 | (a & 0x7) << 1) % 8], rr, from, from_tag, to_tag,
		             call, cseq, method, ct);
	} else {
		n = snprintf(buf, size,
		             "%s %s SIP/2.0\r\nVia: SIP/2.0/%s h.invalid;branch=z9hG4bKq\r\n%s"
		             "From: %s%s\r\nTo: <sip:r@x>%s\r\nCall-ID: c%u\r\nCSeq: %u %s\r\n"
		             "%sContent-Length: 0\r\n\r\n",
		             method, ruris[c % 3], transports[(a >> 1) % 3], rr, from, from_tag,
		             to_tag, call, cseq, method, ct);
	}
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}

static const struct sip_msg *parse(struct sip_msg *m, const char *buf, size_t len)
{
	size_t consumed;
	struct sip_parse_error e;
	if (!len || sip_msg_parse(m, buf, len, SIP_PARSE_DATAGRAM, &consumed, &e) != SIP_PARSE_OK)
		return NULL;
	return m;
}

static void keep(struct sip_dialog *d, uint8_t slot)
{
	unsigned i = slot % MAXD;
	sip_dialog_free(dlg[i]);
	dlg[i] = d;
	int rc = sip_dialog_table_add(T, d);
	CHECK(rc == 0 || rc == -EEXIST);
	in_table[i] = rc == 0;
}

static void check_table(void)
{
	for (unsigned i = 0; i < MAXD; i++) {
		struct sip_dialog *d = dlg[i];
		if (!d || !in_table[i])
			continue;
		CHECK(sip_dialog_table_find(T, sip_dialog_call_id(d), sip_dialog_local_tag(d),
		                            sip_dialog_remote_tag(d)) == d);
	}
}

static bool in_table_of(const struct sip_dialog *d)
{
	for (unsigned i = 0; i < MAXD; i++)
		if (dlg[i] == d)
			return in_table[i];
	return false;
}

/* Build and parse back; check what the dialog promised. */
static void build_and_check(struct sip_dialog *d, struct in *in)
{
	uint8_t a = take(in);
	enum sip_method method = build_methods[a % 10];
	struct sip_dialog_request_opts o = {
	    .via = SIP_PL("SIP/2.0/WSS h.invalid;branch=z9hG4bKb"),
	    .cseq = (a & 0x40) ? take(in) : 0,
	};
	if (a & 0x80) {
		o.body = SIP_PL("v=0\r\n");
		o.ctype = "application/sdp";
		o.extra_headers = SIP_PL("Allow: INVITE, ACK\r\n");
	}
	uint32_t before = sip_dialog_local_cseq(d);
	struct sip_buf b;
	sip_buf_init(&b, (a & 0x20) ? 200 : 0);
	sip_pl hop = SIP_PL_NULL;
	int rc = (a & 0x10) ? sip_dialog_build_ack(d, o.cseq, &o, &b, &hop)
	                    : sip_dialog_build_request(d, method, &o, &b, &hop);
	bool ack = (a & 0x10) || method == SIP_METHOD_ACK;
	bool reuses = ack || method == SIP_METHOD_CANCEL;
	if (rc) {
		CHECK(sip_dialog_local_cseq(d) == before);
		sip_buf_free(&b);
		return;
	}
	const struct sip_msg *m = parse(MB, b.p, b.len);
	CHECK(m != NULL);
	CHECK(sip_msg_is_request(m));
	CHECK(sip_pl_eq(sip_msg_call_id(m), sip_dialog_call_id(d)));
	CHECK(sip_pl_eq(sip_msg_from(m)->tag, sip_dialog_local_tag(d)));
	CHECK(sip_pl_eq(sip_msg_to(m)->tag, sip_dialog_remote_tag(d)));
	CHECK(sip_msg_max_forwards(m) == 70);
	if (reuses) {
		CHECK(sip_dialog_local_cseq(d) == before);
		if (o.cseq)
			CHECK(sip_msg_cseq(m)->seq == o.cseq);
	} else {
		CHECK(sip_msg_cseq(m)->seq == before + 1);
		CHECK(sip_dialog_local_cseq(d) == before + 1);
	}
	sip_pl routes = sip_dialog_route_set(d);
	if (!routes.l) {
		CHECK(sip_pl_eq(sip_msg_ruri(m), sip_dialog_remote_target(d)));
		CHECK(sip_pl_eq(hop, sip_dialog_remote_target(d)));
		CHECK(sip_msg_hdr(m, SIP_HDR_ROUTE) == NULL);
	} else {
		CHECK(sip_msg_hdr(m, SIP_HDR_ROUTE) != NULL);
	}
	CHECK((sip_msg_hdr(m, SIP_HDR_CONTACT) != NULL) ==
	      (!ack && (method == SIP_METHOD_INVITE || method == SIP_METHOD_UPDATE ||
	                method == SIP_METHOD_SUBSCRIBE || method == SIP_METHOD_REFER)));
	CHECK(sip_msg_body(m).l == ((a & 0x80) ? 5u : 0u));
	/* the peer's answer to it finds the same dialog (built into a buffer of
	 * its own: m points into b) */
	struct sip_buf rb;
	sip_buf_init(&rb, 0);
	if (sip_build_response(&rb, m, 200, NULL, SIP_PL_NULL) == 0 &&
	    sip_build_body(&rb, NULL, SIP_PL_NULL) == 0 && !rb.error) {
		const struct sip_msg *r = parse(M2, rb.p, rb.len);
		CHECK(r != NULL);
		struct sip_dialog *f = sip_dialog_table_find_response(T, r);
		if (f)
			CHECK(sip_pl_eq(sip_dialog_call_id(f), sip_dialog_call_id(d)) &&
			      sip_pl_eq(sip_dialog_local_tag(f), sip_dialog_local_tag(d)) &&
			      sip_pl_eq(sip_dialog_remote_tag(f), sip_dialog_remote_tag(d)));
		if (sip_dialog_remote_tag(d).l && in_table_of(d))
			CHECK(f == d);
	}
	sip_buf_free(&rb);
	sip_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	T = sip_dialog_table_new(NULL, NULL);
	M1 = sip_msg_new(NULL);
	M2 = sip_msg_new(NULL);
	MB = sip_msg_new(NULL);
	CHECK(T && M1 && M2 && MB);
	static char b1[2048], b2[2048];
	static const sip_pl contact =
	    SIP_PL("<sip:gw@192.0.2.10;transport=ws>;+sip.instance=\"x\"");
	while (in.n) {
		uint8_t op = take(&in);
		uint8_t slot = take(&in);
		struct sip_dialog *d = dlg[slot % MAXD];
		switch (op % 9) {
		case 0: { /* UAS creation */
			const struct sip_msg *req = parse(M1, b1, make(b1, sizeof(b1), &in, false));
			struct sip_dialog *nd = NULL;
			if (req &&
			    sip_dialog_new_uas(req, (slot & 0x80) ? SIP_PL("L1") : SIP_PL("u2"),
			                       contact, &nd) == 0) {
				CHECK(sip_dialog_state(nd) == SIP_DIALOG_EARLY);
				if (slot & 0x40)
					sip_dialog_confirm(nd);
				keep(nd, slot);
			}
			break;
		}
		case 1: { /* UAC creation */
			const struct sip_msg *req = parse(M1, b1, make(b1, sizeof(b1), &in, false));
			const struct sip_msg *resp = parse(M2, b2, make(b2, sizeof(b2), &in, true));
			struct sip_dialog *nd = NULL;
			if (req && resp && sip_dialog_new_uac(req, resp, contact, &nd) == 0) {
				int st = sip_msg_status(resp);
				CHECK(st > 100 && st < 300);
				CHECK(sip_dialog_state(nd) ==
				      (st < 200 ? SIP_DIALOG_EARLY : SIP_DIALOG_CONFIRMED));
				keep(nd, slot);
			}
			break;
		}
		case 2: { /* incoming request */
			const struct sip_msg *req = parse(M1, b1, make(b1, sizeof(b1), &in, false));
			if (!req)
				break;
			struct sip_dialog *f = sip_dialog_table_find_request(T, req);
			if (f) {
				int st = sip_dialog_receive_request(f, req);
				CHECK(st == 0 || st == 400 || st == 500 || st == -ENOMEM ||
				      (st == 481 && sip_dialog_state(f) == SIP_DIALOG_TERMINATED));
			}
			if (d) {
				uint32_t before = 0, after = 0;
				bool had = sip_dialog_remote_cseq(d, &before);
				int st = sip_dialog_receive_request(d, req);
				if (st && had)
					CHECK(sip_dialog_remote_cseq(d, &after) && after == before);
			}
			break;
		}
		case 3: { /* incoming response */
			const struct sip_msg *resp = parse(M2, b2, make(b2, sizeof(b2), &in, true));
			if (!resp)
				break;
			struct sip_dialog *f = sip_dialog_table_find_response(T, resp);
			if (f)
				CHECK(sip_dialog_receive_response(f, resp) != -EINVAL);
			if (d)
				sip_dialog_receive_response(d, resp);
			break;
		}
		case 4:
		case 5:
			if (d)
				build_and_check(d, &in);
			break;
		case 6: /* free, or end */
			if (d && (slot & 0x80)) {
				sip_dialog_terminate(d);
				CHECK(sip_dialog_state(d) == SIP_DIALOG_TERMINATED);
				CHECK(sip_dialog_confirm(d) == -EPROTO);
				break;
			}
			sip_dialog_free(d);
			dlg[slot % MAXD] = NULL;
			in_table[slot % MAXD] = false;
			break;
		case 7: /* out of the table and back */
			if (d) {
				sip_dialog_table_remove(T, d);
				int rc = sip_dialog_table_add(T, d);
				CHECK(rc == 0 || rc == -EEXIST);
				in_table[slot % MAXD] = rc == 0;
			}
			break;
		case 8: { /* raw bytes as a message */
			sip_pl raw = take_raw(&in, 255);
			const struct sip_msg *m = parse(M1, raw.p, raw.l);
			if (m) {
				sip_dialog_table_find_request(T, m);
				sip_dialog_table_find_response(T, m);
				if (d) {
					if (sip_msg_is_request(m))
						sip_dialog_receive_request(d, m);
					else
						sip_dialog_receive_response(d, m);
				}
			}
			break;
		}
		}
		check_table();
	}
	for (unsigned i = 0; i < MAXD; i++) {
		sip_dialog_free(dlg[i]);
		dlg[i] = NULL;
		in_table[i] = false;
	}
	CHECK(sip_dialog_table_count(T) == 0);
	sip_dialog_table_free(T);
	sip_msg_free(M1);
	sip_msg_free(M2);
	sip_msg_free(MB);
	return 0;
}
