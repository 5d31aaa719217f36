/* fuzz_dtls.c — arbitrary datagrams to a DTLS-SRTP server endpoint.
 *
 * The input is a sequence of datagrams, each a 2-byte big-endian length then
 * that many bytes (a short last one is taken as it is). Between datagrams the
 * clock moves 700 ms and the retransmission timer is ticked, so timeouts and
 * retransmissions run as well as the record layer and handshake parsing. The
 * properties below trap when broken. Seeds: a real ClientHello, whole and cut
 * into fragments, and a client's second flight. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webrtc/dtls.h"
#include "fuzz.h"

static struct dtls_cert *cert;
static size_t sent;
static int connected, failed;

static void on_send(void *arg, const uint8_t *buf, size_t len)
{
	(void)arg;
	CHECK(len > 0 && len <= 1200);
	sent++;
}

static void on_connected(void *arg, const struct dtls_srtp_keys *keys)
{
	(void)arg;
	CHECK(keys->profile == DTLS_SRTP_AES128_CM_SHA1_80 ||
	      keys->profile == DTLS_SRTP_AEAD_AES_128_GCM);
	connected++;
}

static void on_failed(void *arg, const char *reason)
{
	(void)arg;
	CHECK(reason && reason[0]);
	failed++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!cert && dtls_cert_new(3600, &cert) != 0)
		abort();
	struct dtls_config cfg = {
		.cert = cert,
		.role = DTLS_ROLE_SERVER,
		.peer_fingerprint_alg = "sha-256",
		.peer_fingerprint = dtls_cert_fingerprint(cert),
		.send = on_send,
		.on_connected = on_connected,
		.on_failed = on_failed,
	};
	struct dtls *d;
	CHECK(dtls_new(&cfg, &d) == 0);
	CHECK(dtls_next_deadline(d) == -1);
	connected = failed = 0;
	uint64_t now = 5000;
	size_t off = 0;
	while (off < size) {
		size_t len = size - off; /* fewer than 2 bytes left: they are the datagram */
		if (size - off >= 2) {
			len = (size_t)data[off] << 8 | data[off + 1];
			off += 2;
		}
		if (len > size - off)
			len = size - off;
		struct dtls_stats before = dtls_stats(d);
		int r = dtls_recv(d, data + off, len, now);
		struct dtls_stats after = dtls_stats(d);
		off += len;
		if (r == 0)
			CHECK(after.rx_datagrams == before.rx_datagrams + 1);
		else
			CHECK((r == -EINVAL || r == -EPIPE) &&
			      after.rx_refused == before.rx_refused + 1);
		enum dtls_state st = dtls_state(d);
		CHECK(st == DTLS_STATE_HANDSHAKING || st == DTLS_STATE_CONNECTED ||
		      st == DTLS_STATE_FAILED || (st == DTLS_STATE_NEW && r != 0));
		int64_t deadline = dtls_next_deadline(d);
		if (st != DTLS_STATE_HANDSHAKING)
			CHECK(deadline == -1);
		else if (deadline >= 0)
			CHECK((uint64_t)deadline >= now);
		now += 700;
		dtls_tick(d, now);
	}
	CHECK(failed <= 1 && connected <= 1);
	CHECK(dtls_stats(d).tx_datagrams == sent);
	dtls_free(d);
	sent = 0;
	return 0;
}
