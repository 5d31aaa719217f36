/* bench_srtp.c — CPU per SRTP protect and unprotect (webrtc/srtp).
 *
 * For each profile and each number of live sessions (1, and --contexts,
 * 2,000 by default), packets of 160 bytes of payload (one 20 ms G.711
 * frame) go round-robin over the session pairs: protected by one side,
 * then unprotected by the other. Each phase is timed over a batch, so the
 * clock is read twice per batch, not per packet. Many live sessions show
 * what a library whose per-session state falls out of the caches costs.
 *
 *   bench_srtp [--packets N] [--contexts N] [--quick]
 *
 * --quick: 20,000 packets and 200 sessions, to show it works in seconds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "webrtc/srtp.h"

#define PAYLOAD_LEN 160
#define PACKET_LEN (12 + PAYLOAD_LEN)
#define SLOT_LEN (PACKET_LEN + SRTP_DTLS_TRAILER_MAX)

struct pair {
	struct srtp_session *tx, *rx;
	uint16_t seq;
	uint32_t ssrc;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void build_rtp(uint8_t *b, uint32_t ssrc, uint16_t seq)
{
	memset(b, 0, 12);
	b[0] = 0x80;
	b[2] = (uint8_t)(seq >> 8);
	b[3] = (uint8_t)seq;
	b[8] = (uint8_t)(ssrc >> 24);
	b[9] = (uint8_t)(ssrc >> 16);
	b[10] = (uint8_t)(ssrc >> 8);
	b[11] = (uint8_t)ssrc;
	memset(b + 12, 0xd5, PAYLOAD_LEN);
}

static int make_pair(enum srtp_profile profile, unsigned i, struct pair *p)
{
	struct srtp_keys a = {.profile = profile}, b = {.profile = profile};
	for (size_t k = 0; k < SRTP_DTLS_KEY_LEN; k++) {
		a.local_key[k] = b.remote_key[k] = (uint8_t)(i * 31 + k);
		a.remote_key[k] = b.local_key[k] = (uint8_t)(i * 17 + k + 100);
	}
	for (size_t k = 0; k < SRTP_DTLS_SALT_MAX; k++) {
		a.local_salt[k] = b.remote_salt[k] = (uint8_t)(i * 7 + k);
		a.remote_salt[k] = b.local_salt[k] = (uint8_t)(i * 5 + k + 50);
	}
	p->seq = (uint16_t)(i * 101);
	p->ssrc = 0x10000000u + i;
	int rc = srtp_session_new(&a, &p->tx);
	if (rc == 0)
		rc = srtp_session_new(&b, &p->rx);
	return rc;
}

/* Runs about `packets` packets over `contexts` pairs; fills the µs per
 * protect and per unprotect. 0 or a negative errno. */
static int run(enum srtp_profile profile, unsigned contexts, unsigned long packets,
	       double *protect_us, double *unprotect_us)
{
	unsigned batch = contexts > 256 ? contexts : 256;
	struct pair *pairs = calloc(contexts, sizeof(*pairs));
	uint8_t *slots = malloc((size_t)batch * SLOT_LEN);
	int *lens = malloc(batch * sizeof(*lens));
	int rc = (pairs && slots && lens) ? 0 : -ENOMEM;
	for (unsigned i = 0; rc == 0 && i < contexts; i++)
		rc = make_pair(profile, i, &pairs[i]);

	/* The first packet of an SSRC makes libsrtp2 derive that stream's keys
	 * from the session's template: one untimed packet per pair pays for it. */
	for (unsigned i = 0; rc == 0 && i < contexts; i++) {
		uint8_t b[SLOT_LEN];
		build_rtp(b, pairs[i].ssrc, pairs[i].seq++);
		int n = srtp_session_protect_rtp(pairs[i].tx, b, PACKET_LEN, sizeof(b));
		if (n > 0)
			n = srtp_session_unprotect_rtp(pairs[i].rx, b, (size_t)n);
		if (n != PACKET_LEN)
			rc = n < 0 ? n : -EIO;
	}

	double t_protect = 0, t_unprotect = 0;
	unsigned long done = 0;
	while (rc == 0 && done < packets) {
		for (unsigned j = 0; j < batch; j++) {
			struct pair *p = &pairs[j % contexts];
			build_rtp(slots + (size_t)j * SLOT_LEN, p->ssrc, p->seq++);
		}
		double t0 = now_s();
		for (unsigned j = 0; j < batch; j++)
			lens[j] = srtp_session_protect_rtp(pairs[j % contexts].tx,
							   slots + (size_t)j * SLOT_LEN, PACKET_LEN,
							   SLOT_LEN);
		double t1 = now_s();
		for (unsigned j = 0; j < batch; j++) {
			if (lens[j] < 0) {
				rc = lens[j];
				break;
			}
			int n = srtp_session_unprotect_rtp(pairs[j % contexts].rx,
							   slots + (size_t)j * SLOT_LEN,
							   (size_t)lens[j]);
			if (n != PACKET_LEN) {
				rc = n < 0 ? n : -EIO;
				break;
			}
		}
		double t2 = now_s();
		t_protect += t1 - t0;
		t_unprotect += t2 - t1;
		done += batch;
	}
	if (rc == 0) {
		*protect_us = t_protect * 1e6 / (double)done;
		*unprotect_us = t_unprotect * 1e6 / (double)done;
	}
	for (unsigned i = 0; pairs && i < contexts; i++) {
		srtp_session_free(pairs[i].tx);
		srtp_session_free(pairs[i].rx);
	}
	free(pairs);
	free(slots);
	free(lens);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned long packets = 200000;
	unsigned contexts = 2000;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			/* Seconds: with Debian's NSS-backed libsrtp2, creating sessions
			 * costs more the more are live (2,000 pairs take ~40 s). */
			packets = 20000;
			contexts = 200;
		} else if (strcmp(argv[i], "--packets") == 0 && i + 1 < argc) {
			packets = strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--contexts") == 0 && i + 1 < argc) {
			contexts = (unsigned)strtoul(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: bench_srtp [--packets N] [--contexts N] [--quick]\n");
			return 2;
		}
	}
	if (contexts == 0 || packets == 0) {
		fprintf(stderr, "bench_srtp: --contexts and --packets must be positive\n");
		return 2;
	}

	static const struct {
		enum srtp_profile profile;
		const char *name;
	} profiles[] = {
		{SRTP_PROFILE_AES128_CM_SHA1_80, "AES128_CM_SHA1_80"},
		{SRTP_PROFILE_AEAD_AES_128_GCM, "AEAD_AES_128_GCM"},
	};
	unsigned counts[] = {1, contexts};
	printf("srtp: %u-byte payloads, %lu packets per run\n", PAYLOAD_LEN, packets);
	for (size_t p = 0; p < 2; p++) {
		for (size_t c = 0; c < 2; c++) {
			double prot = 0, unprot = 0;
			int rc = run(profiles[p].profile, counts[c], packets, &prot, &unprot);
			if (rc < 0) {
				fprintf(stderr, "bench_srtp: %s with %u sessions: %s\n",
					profiles[p].name, counts[c], strerror(-rc));
				return 1;
			}
			printf("srtp: %-17s %5u live  protect %.2f us  unprotect %.2f us\n",
			       profiles[p].name, counts[c], prot, unprot);
		}
	}
	return 0;
}
