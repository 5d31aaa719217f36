/* test_dtls.c — two DTLS-SRTP endpoints in one process, joined by a fake wire
 * and run on a fake clock.
 *
 * OpenSSL 3.0 times its handshake retransmissions with gettimeofday(); this
 * test program defines gettimeofday() itself so that OpenSSL and the
 * endpoints read the same fake clock, which only moves when a test moves it.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "webrtc/dtls.h"
#include "webrtc/srtp.h"

/* ---- fake clock ---- */

#define EPOCH_S 1800000000ull
static uint64_t now_ms = 1000000;

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	(void)tz;
	tv->tv_sec = (time_t)(EPOCH_S + now_ms / 1000);
	tv->tv_usec = (suseconds_t)(now_ms % 1000 * 1000);
	return 0;
}

/* ---- fake wire ---- */

#define MAX_QUEUED 64

struct datagram {
	uint8_t *buf;
	size_t len;
};

struct side {
	const char *name;
	struct dtls *dtls;
	struct side *peer;
	struct datagram queue[MAX_QUEUED]; /* sent by this side, not delivered yet */
	size_t queued;
	size_t sent_total;
	size_t largest_sent;
	int connected;
	int failed;
	char reason[128];
	struct dtls_srtp_keys keys;
};

static struct dtls_cert *cert_a, *cert_b;
static struct side A = {.name = "A"}, B = {.name = "B"};

static void on_send(void *arg, const uint8_t *buf, size_t len)
{
	struct side *s = arg;
	cr_assert(s->queued < MAX_QUEUED, "%s queued too many datagrams", s->name);
	uint8_t *copy = malloc(len);
	cr_assert(copy);
	memcpy(copy, buf, len);
	s->queue[s->queued++] = (struct datagram){copy, len};
	s->sent_total++;
	if (len > s->largest_sent)
		s->largest_sent = len;
}

static void on_connected(void *arg, const struct dtls_srtp_keys *keys)
{
	struct side *s = arg;
	s->connected++;
	s->keys = *keys;
}

static void on_failed(void *arg, const char *reason)
{
	struct side *s = arg;
	s->failed++;
	snprintf(s->reason, sizeof s->reason, "%s", reason);
}

static void drop_queue(struct side *s)
{
	for (size_t i = 0; i < s->queued; i++)
		free(s->queue[i].buf);
	s->queued = 0;
}

/* When the wire has cut A's ClientHello into several records, it numbers them
 * as A would have, so A's later epoch-0 records must move up by as many for
 * B's replay window (RFC 6347 §4.1.2.6) to take them. Epoch-0 records carry
 * no MAC, so the wire can renumber them. */
static unsigned a_epoch0_shift;

static void shift_epoch0_records(uint8_t *buf, size_t len, unsigned by)
{
	for (size_t off = 0; off + 13 <= len;) {
		uint8_t *rec = buf + off;
		if (rec[3] == 0 && rec[4] == 0) {
			uint64_t seq = 0;
			for (int i = 5; i < 11; i++)
				seq = seq << 8 | rec[i];
			seq += by;
			for (int i = 10; i >= 5; i--, seq >>= 8)
				rec[i] = (uint8_t)seq;
		}
		off += 13 + ((size_t)rec[11] << 8 | rec[12]);
	}
}

/* Delivers what s has queued to its peer; reversed: last datagram first. */
static size_t deliver(struct side *s, bool reversed)
{
	size_t n = s->queued;
	struct datagram q[MAX_QUEUED];
	memcpy(q, s->queue, n * sizeof q[0]);
	s->queued = 0;
	for (size_t i = 0; i < n; i++) {
		struct datagram *g = &q[reversed ? n - 1 - i : i];
		if (s == &A && a_epoch0_shift)
			shift_epoch0_records(g->buf, g->len, a_epoch0_shift);
		dtls_recv(s->peer->dtls, g->buf, g->len, now_ms);
		free(g->buf);
	}
	return n;
}

/* Delivers both ways until the wire is quiet. */
static void pump(bool reversed)
{
	for (int round = 0; round < 32; round++) {
		size_t n = deliver(&A, reversed) + deliver(&B, reversed);
		if (n == 0)
			return;
	}
	cr_assert_fail("the wire never went quiet");
}

static void setup_certs(void)
{
	cr_assert_eq(dtls_cert_new(0, &cert_a), 0);
	cr_assert_eq(dtls_cert_new(3600, &cert_b), 0);
	A.peer = &B;
	B.peer = &A;
}

static void teardown_all(void)
{
	drop_queue(&A);
	drop_queue(&B);
	dtls_free(A.dtls);
	dtls_free(B.dtls);
	dtls_cert_free(cert_a);
	dtls_cert_free(cert_b);
}

struct opts {
	unsigned profiles;
	unsigned mtu;
	const char *expect_fp; /* what this side expects of its peer; NULL: the right one */
};

static void make_side(struct side *s, struct dtls_cert *own, struct dtls_cert *peer_cert,
                      enum dtls_role role, struct opts o)
{
	struct dtls_config cfg = {
		.cert = own,
		.role = role,
		.peer_fingerprint_alg = "sha-256",
		.peer_fingerprint = o.expect_fp ? o.expect_fp : dtls_cert_fingerprint(peer_cert),
		.profiles = o.profiles,
		.mtu = o.mtu,
		.send = on_send,
		.on_connected = on_connected,
		.on_failed = on_failed,
		.arg = s,
	};
	cr_assert_eq(dtls_new(&cfg, &s->dtls), 0);
}

/* A is the client, B the server unless swapped. */
static void make_pair(bool a_is_client, struct opts a, struct opts b)
{
	make_side(&A, cert_a, cert_b, a_is_client ? DTLS_ROLE_CLIENT : DTLS_ROLE_SERVER, a);
	make_side(&B, cert_b, cert_a, a_is_client ? DTLS_ROLE_SERVER : DTLS_ROLE_CLIENT, b);
	cr_assert_eq(dtls_start(B.dtls, now_ms), 0);
	cr_assert_eq(dtls_start(A.dtls, now_ms), 0);
}

static void assert_same_keys(void)
{
	cr_assert_eq(A.connected, 1);
	cr_assert_eq(B.connected, 1);
	cr_assert_eq(A.keys.profile, B.keys.profile);
	cr_assert_eq(A.keys.key_len, 16);
	cr_assert_eq(A.keys.key_len, B.keys.key_len);
	cr_assert_eq(A.keys.salt_len, B.keys.salt_len);
	cr_assert_eq(memcmp(A.keys.client_key, B.keys.client_key, A.keys.key_len), 0);
	cr_assert_eq(memcmp(A.keys.server_key, B.keys.server_key, A.keys.key_len), 0);
	cr_assert_eq(memcmp(A.keys.client_salt, B.keys.client_salt, A.keys.salt_len), 0);
	cr_assert_eq(memcmp(A.keys.server_salt, B.keys.server_salt, A.keys.salt_len), 0);
	cr_assert_neq(memcmp(A.keys.client_key, A.keys.server_key, A.keys.key_len), 0);
	cr_assert_neq(A.keys.local_is_client, B.keys.local_is_client);

	/* what one side sends with, the other receives with (webrtc/srtp.h) */
	struct srtp_keys ka, kb;
	cr_assert_eq(A.keys.material_len, 2 * (A.keys.key_len + A.keys.salt_len));
	cr_assert_eq(srtp_keys_from_material((enum srtp_profile)A.keys.profile, A.keys.material,
	                                     A.keys.material_len, A.keys.local_is_client, &ka), 0);
	cr_assert_eq(srtp_keys_from_material((enum srtp_profile)B.keys.profile, B.keys.material,
	                                     B.keys.material_len, B.keys.local_is_client, &kb), 0);
	cr_assert_eq(memcmp(ka.local_key, kb.remote_key, sizeof ka.local_key), 0);
	cr_assert_eq(memcmp(ka.remote_key, kb.local_key, sizeof ka.local_key), 0);
	cr_assert_eq(memcmp(ka.local_salt, kb.remote_salt, A.keys.salt_len), 0);
	cr_assert_eq(memcmp(ka.local_key, A.keys.local_is_client ? A.keys.client_key
	                                                          : A.keys.server_key, 16), 0);
	cr_assert_eq(dtls_state(A.dtls), DTLS_STATE_CONNECTED);
	cr_assert_eq(dtls_state(B.dtls), DTLS_STATE_CONNECTED);
	cr_assert_eq(dtls_next_deadline(A.dtls), -1);
	cr_assert_eq(dtls_next_deadline(B.dtls), -1);
}

TestSuite(dtls, .init = setup_certs, .fini = teardown_all);

Test(dtls, fingerprint_text_is_uppercase_hex_pairs_with_colons)
{
	const char *fp = dtls_cert_fingerprint(cert_a);
	cr_assert_eq(strlen(fp), 32 * 3 - 1);
	for (size_t i = 0; fp[i]; i++) {
		if (i % 3 == 2)
			cr_assert_eq(fp[i], ':', "at %zu: %s", i, fp);
		else
			cr_assert(isxdigit((unsigned char)fp[i]) && !islower((unsigned char)fp[i]),
			          "at %zu: %s", i, fp);
	}
	cr_assert_str_neq(fp, dtls_cert_fingerprint(cert_b));
}

Test(dtls, peer_fingerprint_parsing)
{
	char lower[128], bare[128];
	const char *fp = dtls_cert_fingerprint(cert_b);
	size_t n = 0;
	for (size_t i = 0; fp[i]; i++) {
		lower[i] = (char)tolower((unsigned char)fp[i]);
		if (fp[i] != ':')
			bare[n++] = fp[i];
	}
	lower[strlen(fp)] = '\0';
	bare[n] = '\0';
	struct dtls_config cfg = {
		.cert = cert_a, .role = DTLS_ROLE_SERVER, .peer_fingerprint_alg = "SHA-256",
		.send = on_send, .on_connected = on_connected, .on_failed = on_failed, .arg = &A,
	};
	struct dtls *d;
	const char *good[] = {fp, lower, bare};
	for (size_t i = 0; i < 3; i++) {
		cfg.peer_fingerprint = good[i];
		cr_assert_eq(dtls_new(&cfg, &d), 0, "%s", good[i]);
		dtls_free(d);
	}
	char short_fp[128];
	snprintf(short_fp, sizeof short_fp, "%.*s", 30 * 3 - 1, fp);
	const char *bad[] = {"", "AB", short_fp, "ZZ:ZZ", "A:BC"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cfg.peer_fingerprint = bad[i];
		cr_assert_eq(dtls_new(&cfg, &d), -EINVAL, "%s", bad[i]);
	}
	cfg.peer_fingerprint = fp;
	cfg.peer_fingerprint_alg = "md5";
	cr_assert_eq(dtls_new(&cfg, &d), -EINVAL);
	cfg.peer_fingerprint_alg = "sha-256";
	cfg.mtu = 100;
	cr_assert_eq(dtls_new(&cfg, &d), -EINVAL);
}

Test(dtls, handshake_a_client)
{
	make_pair(true, (struct opts){0}, (struct opts){0});
	cr_assert_gt(A.queued, 0, "the client speaks first");
	cr_assert_eq(B.queued, 0, "the server waits");
	cr_assert_eq(dtls_next_deadline(B.dtls), -1);
	pump(false);
	assert_same_keys();
	cr_assert(A.keys.local_is_client);
	cr_assert_eq(A.keys.profile, DTLS_SRTP_AEAD_AES_128_GCM, "GCM preferred");
	cr_assert_eq(A.keys.salt_len, 12);
	cr_assert_eq(A.failed + B.failed, 0);
}

Test(dtls, handshake_a_server)
{
	make_pair(false, (struct opts){0}, (struct opts){0});
	cr_assert_eq(A.queued, 0);
	pump(false);
	assert_same_keys();
	cr_assert(B.keys.local_is_client);
	cr_assert_eq(dtls_stats(A.dtls).rx_refused, 0);
}

Test(dtls, cm_when_the_server_only_offers_cm)
{
	make_pair(true, (struct opts){0}, (struct opts){.profiles = DTLS_OFFER_AES128_CM_SHA1_80});
	pump(false);
	assert_same_keys();
	cr_assert_eq(A.keys.profile, DTLS_SRTP_AES128_CM_SHA1_80);
	cr_assert_eq(A.keys.salt_len, 14);
}

Test(dtls, cm_when_the_client_only_offers_cm)
{
	make_pair(true, (struct opts){.profiles = DTLS_OFFER_AES128_CM_SHA1_80}, (struct opts){0});
	pump(false);
	assert_same_keys();
	cr_assert_eq(B.keys.profile, DTLS_SRTP_AES128_CM_SHA1_80);
}

Test(dtls, no_common_profile_fails_both)
{
	make_pair(true, (struct opts){.profiles = DTLS_OFFER_AEAD_AES_128_GCM},
	          (struct opts){.profiles = DTLS_OFFER_AES128_CM_SHA1_80});
	pump(false);
	cr_assert_eq(A.connected + B.connected, 0);
	cr_assert_eq(A.failed, 1);
	cr_assert_eq(B.failed, 1);
	cr_assert_str_eq(A.reason, "no SRTP profile");
}

static const char wrong_fp[] = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
                               "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

Test(dtls, client_refuses_a_server_with_the_wrong_fingerprint)
{
	make_pair(true, (struct opts){.expect_fp = wrong_fp}, (struct opts){0});
	pump(false);
	cr_assert_eq(A.connected + B.connected, 0);
	cr_assert_eq(A.failed, 1);
	cr_assert_str_eq(A.reason, "fingerprint mismatch");
	cr_assert_eq(B.failed, 1, "the server hears the client's alert");
	cr_assert_eq(dtls_state(A.dtls), DTLS_STATE_FAILED);
	cr_assert_eq(dtls_state(B.dtls), DTLS_STATE_FAILED);
	cr_assert_eq(dtls_next_deadline(A.dtls), -1);
}

Test(dtls, server_refuses_a_client_with_the_wrong_fingerprint)
{
	make_pair(true, (struct opts){0}, (struct opts){.expect_fp = wrong_fp});
	pump(false);
	cr_assert_eq(A.connected + B.connected, 0);
	cr_assert_eq(B.failed, 1);
	cr_assert_str_eq(B.reason, "fingerprint mismatch");
	cr_assert_eq(A.failed, 1, "the client hears the server's alert");
	/* a failed endpoint refuses what still comes */
	uint8_t record[20] = {22, 0xfe, 0xfd};
	cr_assert_eq(dtls_recv(B.dtls, record, sizeof record, now_ms), -EPIPE);
}

Test(dtls, lost_flights_are_retransmitted_with_a_doubling_timer)
{
	make_pair(true, (struct opts){0}, (struct opts){0});
	size_t first_flight = A.queued;
	cr_assert_gt(first_flight, 0);
	int64_t deadline = dtls_next_deadline(A.dtls);
	cr_assert_eq(deadline, (int64_t)now_ms + 1000);
	cr_assert_eq(dtls_timeout_ms(A.dtls), 1000);
	drop_queue(&A);

	now_ms += 999;
	dtls_tick(A.dtls, now_ms);
	cr_assert_eq(A.queued, 0, "nothing before the deadline");
	now_ms += 1;
	dtls_tick(A.dtls, now_ms);
	cr_assert_eq(A.queued, first_flight, "the ClientHello again");
	cr_assert_eq(dtls_next_deadline(A.dtls), (int64_t)now_ms + 2000);
	cr_assert_eq(dtls_stats(A.dtls).retransmits, 1);
	drop_queue(&A);

	now_ms += 2000;
	dtls_tick(A.dtls, now_ms);
	cr_assert_eq(A.queued, first_flight);
	cr_assert_eq(dtls_next_deadline(A.dtls), (int64_t)now_ms + 4000);
	cr_assert_eq(dtls_timeout_ms(A.dtls), 4000);

	/* the third copy arrives; the server's flight is lost once too */
	deliver(&A, false);
	cr_assert_gt(B.queued, 0);
	cr_assert_eq(dtls_next_deadline(B.dtls), (int64_t)now_ms + 1000);
	drop_queue(&B);
	now_ms += 1000;
	dtls_tick(B.dtls, now_ms);
	cr_assert_gt(B.queued, 0);
	cr_assert_eq(dtls_stats(B.dtls).retransmits, 1);
	pump(false);
	assert_same_keys();
}

Test(dtls, lost_final_flight_is_recovered)
{
	make_pair(true, (struct opts){0}, (struct opts){0});
	deliver(&A, false); /* ClientHello */
	deliver(&B, false); /* ServerHello .. ServerHelloDone */
	deliver(&A, false); /* Certificate .. Finished */
	cr_assert_eq(B.connected, 1);
	drop_queue(&B);     /* the server's ChangeCipherSpec + Finished are lost */
	cr_assert_eq(A.connected, 0);
	int64_t deadline = dtls_next_deadline(A.dtls);
	cr_assert_gt(deadline, 0);
	now_ms = (uint64_t)deadline;
	dtls_tick(A.dtls, now_ms); /* the client resends its flight ... */
	pump(false);               /* ... and the server answers with its last one */
	assert_same_keys();
}

Test(dtls, gives_up_when_nothing_answers)
{
	make_pair(true, (struct opts){0}, (struct opts){0});
	for (int i = 0; i < 20 && !A.failed; i++) {
		drop_queue(&A);
		int64_t deadline = dtls_next_deadline(A.dtls);
		cr_assert_gt(deadline, 0);
		now_ms = (uint64_t)deadline;
		dtls_tick(A.dtls, now_ms);
	}
	cr_assert_eq(A.failed, 1);
	cr_assert_str_eq(A.reason, "handshake timeout");
	cr_assert_eq(dtls_stats(A.dtls).retransmits, DTLS_MAX_RETRANSMITS);
}

Test(dtls, small_mtu_fragments_the_handshake)
{
	make_pair(true, (struct opts){.mtu = 256}, (struct opts){.mtu = 500});
	pump(false);
	assert_same_keys();
	cr_assert_leq(A.largest_sent, 256);
	cr_assert_leq(B.largest_sent, 500);
	cr_assert_gt(B.sent_total, 3, "the server's flight spans several datagrams");
}

static void put24(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}

static size_t get24(const uint8_t *p)
{
	return (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
}

/* A ClientHello larger than the path MTU (Chrome's, with DTLS 1.3 key shares)
 * comes as handshake fragments in several datagrams (RFC 6347 §4.2.3). The
 * client here sends it whole, so the wire cuts it into pieces of `piece`
 * bytes, one record per datagram, and delivers them in the order given. */
static void deliver_client_hello_in_pieces(size_t piece, bool reversed)
{
	cr_assert_eq(A.queued, 1);
	const uint8_t *rec = A.queue[0].buf;
	size_t len = A.queue[0].len;
	cr_assert(len > 25 && rec[0] == 22 && rec[13] == 1, "one record, a ClientHello");
	size_t body_len = get24(rec + 14);
	cr_assert_eq(get24(rec + 19), 0);
	cr_assert_eq(get24(rec + 22), body_len, "sent unfragmented");
	cr_assert_eq(len, 25 + body_len);
	const uint8_t *body = rec + 25;

	size_t count = (body_len + piece - 1) / piece;
	cr_assert_gt(count, 2);
	for (size_t k = 0; k < count; k++) {
		size_t i = reversed ? count - 1 - k : k;
		size_t off = i * piece, n = body_len - off < piece ? body_len - off : piece;
		uint8_t dgram[25 + 512];
		memcpy(dgram, rec, 19); /* record header, msg type, length, message_seq */
		dgram[10] = (uint8_t)i; /* record sequence number: one per fragment */
		dgram[11] = (uint8_t)((12 + n) >> 8);
		dgram[12] = (uint8_t)(12 + n);
		put24(dgram + 19, off);
		put24(dgram + 22, n);
		memcpy(dgram + 25, body + off, n);
		cr_assert_eq(dtls_recv(B.dtls, dgram, 25 + n, now_ms), 0);
		if (k + 1 < count)
			cr_assert_eq(B.queued, 0, "no answer before the whole ClientHello");
	}
	drop_queue(&A);
	a_epoch0_shift = (unsigned)count - 1;
	cr_assert_gt(B.queued, 0, "the server answers the reassembled ClientHello");
}

Test(dtls, server_reassembles_a_fragmented_client_hello)
{
	make_pair(true, (struct opts){0}, (struct opts){0});
	deliver_client_hello_in_pieces(50, false);
	pump(false);
	assert_same_keys();
}

Test(dtls, server_reassembles_client_hello_fragments_out_of_order)
{
	make_pair(true, (struct opts){0}, (struct opts){0});
	deliver_client_hello_in_pieces(64, true);
	pump(false);
	assert_same_keys();
}

Test(dtls, fragments_out_of_order_are_reassembled)
{
	make_pair(true, (struct opts){.mtu = 256}, (struct opts){.mtu = 256});
	/* what a reordered flight leaves missing comes again on the timer */
	int timer_rounds = 0;
	for (pump(true); !(A.connected && B.connected) && !A.failed && !B.failed; pump(true)) {
		int64_t a = dtls_next_deadline(A.dtls), b = dtls_next_deadline(B.dtls);
		cr_assert(a >= 0 || b >= 0, "stuck with no timer");
		now_ms = (uint64_t)(a < 0 ? b : b < 0 ? a : a < b ? a : b);
		dtls_tick(A.dtls, now_ms);
		dtls_tick(B.dtls, now_ms);
		cr_assert_lt(++timer_rounds, 6);
	}
	assert_same_keys();
}

Test(dtls, garbage_is_refused_and_counted)
{
	make_pair(false, (struct opts){0}, (struct opts){0});
	uint8_t rtp[40] = {0x80, 0x00, 0x12, 0x34};
	uint8_t stun[20] = {0x00, 0x01};
	uint8_t tiny[5] = {22, 0xfe, 0xfd};
	cr_assert_eq(dtls_recv(A.dtls, rtp, sizeof rtp, now_ms), -EINVAL);
	cr_assert_eq(dtls_recv(A.dtls, stun, sizeof stun, now_ms), -EINVAL);
	cr_assert_eq(dtls_recv(A.dtls, tiny, sizeof tiny, now_ms), -EINVAL);
	cr_assert_eq(dtls_recv(A.dtls, tiny, 0, now_ms), -EINVAL);
	cr_assert_eq(dtls_stats(A.dtls).rx_refused, 4);

	/* DTLS-looking records with bad contents: dropped by OpenSSL, handshake
	 * still possible afterwards */
	uint8_t junk[300];
	uint32_t x = 12345;
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof junk; i++) {
			x = x * 1103515245u + 12345u;
			junk[i] = (uint8_t)(x >> 16);
		}
		junk[0] = (uint8_t)(20 + round % 4);
		junk[1] = 0xfe;
		junk[2] = round % 2 ? 0xfd : 0xff;
		dtls_recv(A.dtls, junk, sizeof junk - (size_t)round, now_ms);
	}
	cr_assert_eq(A.connected + A.failed, 0);
	cr_assert_eq(dtls_stats(A.dtls).rx_datagrams, 50);
	drop_queue(&A);
	pump(false);
	assert_same_keys();
	/* and after connection, junk is dropped without harm */
	for (int round = 0; round < 20; round++) {
		junk[0] = (uint8_t)(20 + round % 4);
		cr_assert_eq(dtls_recv(A.dtls, junk, sizeof junk, now_ms), 0);
	}
	cr_assert_eq(dtls_state(A.dtls), DTLS_STATE_CONNECTED);
	cr_assert_eq(dtls_stats(A.dtls).rx_refused, 4);
}
