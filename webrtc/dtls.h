/* dtls.h — DTLS-SRTP key agreement (RFC 5763, RFC 5764) as a sans-I/O core.
 *
 * One endpoint (struct dtls) runs one DTLS 1.2 handshake over datagrams the
 * caller carries: received datagrams go in with dtls_recv(), datagrams to send
 * come out through the config's send callback, and the handshake
 * retransmission timer is driven by the caller (dtls_next_deadline(),
 * dtls_tick()) with a clock it gives in milliseconds. Nothing here opens a
 * socket or reads a clock of its own choosing.
 *
 * Identity is a self-signed certificate, one per process (dtls_cert_new()),
 * whose SHA-256 fingerprint goes into SDP as a=fingerprint. The peer's
 * certificate is not verified against any authority: it must hash to the
 * fingerprint its SDP announced, and a mismatch fails the handshake — that
 * check is what secures the media.
 *
 * When the handshake completes, on_connected gives the SRTP protection profile
 * the server selected (use_srtp extension) and the keying material exported
 * with the label "EXTRACTOR-dtls_srtp", split as RFC 5764 §4.2 lays it out.
 *
 * Timing: OpenSSL 3.0 measures its retransmission timer with gettimeofday();
 * this module sets the timer's durations (initial, doubled on each
 * retransmission up to 60 s) and reports the deadline in the caller's clock,
 * so a caller whose clock and gettimeofday() advance together sees
 * retransmissions exactly at dtls_next_deadline(). A dtls_tick() that comes
 * early is harmless: nothing is sent and the deadline is reported again.
 *
 * Not thread-safe; the callbacks run inside dtls_start/dtls_recv/dtls_tick and
 * must not call dtls_free on the endpoint that called them.
 */
#ifndef SIPWIRE_WEBRTC_DTLS_H
#define SIPWIRE_WEBRTC_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- certificate ---- */

struct dtls_cert;

/* "AB:CD:...": 32 bytes as uppercase hex pairs joined by colons, plus NUL. */
#define DTLS_FINGERPRINT_SHA256_LEN (32 * 3)

/* A new ECDSA P-256 self-signed certificate valid from one hour ago for
 * validity_s seconds (0: 30 days), at *out. 0, or -ENOMEM / -EIO when OpenSSL
 * cannot make one. */
int dtls_cert_new(uint32_t validity_s, struct dtls_cert **out);
void dtls_cert_free(struct dtls_cert *cert);

/* The SHA-256 fingerprint as SDP writes it after "a=fingerprint:sha-256 ". */
const char *dtls_cert_fingerprint(const struct dtls_cert *cert);

/* ---- endpoint ---- */

enum dtls_role {
	DTLS_ROLE_CLIENT, /* a=setup:active: sends the ClientHello */
	DTLS_ROLE_SERVER, /* a=setup:passive: waits for it */
};

/* SRTP protection profiles by their IANA ids (RFC 5764 §4.1.2, RFC 7714). */
enum dtls_srtp_profile {
	DTLS_SRTP_NONE = 0,
	DTLS_SRTP_AES128_CM_SHA1_80 = 0x0001,
	DTLS_SRTP_AEAD_AES_128_GCM = 0x0007,
};

/* Bits for dtls_config.profiles. */
#define DTLS_OFFER_AEAD_AES_128_GCM 0x1u
#define DTLS_OFFER_AES128_CM_SHA1_80 0x2u
#define DTLS_OFFER_ALL (DTLS_OFFER_AEAD_AES_128_GCM | DTLS_OFFER_AES128_CM_SHA1_80)

#define DTLS_SRTP_MAX_KEY_LEN  16
#define DTLS_SRTP_MAX_SALT_LEN 14

/* Keying material for one SRTP session. The client's key and salt protect
 * what the client sends, the server's what the server sends (RFC 5764 §4.2);
 * local_is_client tells which of them this endpoint uses to send. */
struct dtls_srtp_keys {
	enum dtls_srtp_profile profile;
	size_t key_len;  /* 16 for both profiles */
	size_t salt_len; /* 14 for AES128_CM_SHA1_80, 12 for AEAD_AES_128_GCM */
	uint8_t client_key[DTLS_SRTP_MAX_KEY_LEN];
	uint8_t client_salt[DTLS_SRTP_MAX_SALT_LEN];
	uint8_t server_key[DTLS_SRTP_MAX_KEY_LEN];
	uint8_t server_salt[DTLS_SRTP_MAX_SALT_LEN];
	bool local_is_client;
	/* The exported bytes as they came (2 * (key_len + salt_len)), for
	 * srtp_keys_from_material() in webrtc/srtp.h; profile ids are shared. */
	uint8_t material[2 * (DTLS_SRTP_MAX_KEY_LEN + DTLS_SRTP_MAX_SALT_LEN)];
	size_t material_len;
};

struct dtls_config {
	const struct dtls_cert *cert; /* copied in by dtls_new: may be freed after */
	enum dtls_role role;
	/* The peer's a=fingerprint: a hash name ("sha-1", "sha-224", "sha-256",
	 * "sha-384", "sha-512", any case) and its hex bytes with or without
	 * colons, any case. */
	const char *peer_fingerprint_alg;
	const char *peer_fingerprint;
	unsigned profiles;            /* DTLS_OFFER_* bits; 0: all, GCM preferred */
	unsigned mtu;                 /* largest datagram sent; 0: 1200 */
	unsigned initial_timeout_ms;  /* first retransmission; 0: 1000 */
	/* Called with each datagram to send; buf is valid during the call. */
	void (*send)(void *arg, const uint8_t *buf, size_t len);
	void (*on_connected)(void *arg, const struct dtls_srtp_keys *keys);
	/* The handshake failed or the association ended: "fingerprint mismatch",
	 * "handshake timeout", "no SRTP profile", "closed by peer", or OpenSSL's
	 * reason. Called once; the endpoint then refuses everything. */
	void (*on_failed)(void *arg, const char *reason);
	void *arg;
};

enum dtls_state {
	DTLS_STATE_NEW,         /* made, not started */
	DTLS_STATE_HANDSHAKING,
	DTLS_STATE_CONNECTED,
	DTLS_STATE_FAILED,      /* on_failed was called */
};

struct dtls_stats {
	uint64_t rx_datagrams;  /* given to dtls_recv and handed to OpenSSL */
	uint64_t rx_refused;    /* not DTLS by RFC 7983, too short or too long, or
	                         * after the endpoint failed */
	uint64_t tx_datagrams;
	uint64_t retransmits;   /* timer expiries that resent a flight */
};

struct dtls;

/* A new endpoint at *out. 0; -EINVAL (no certificate or callbacks, an
 * unknown hash or bad hex in the peer fingerprint, mtu below 256, no known
 * profile bit); -ENOMEM / -EIO from OpenSSL. */
int dtls_new(const struct dtls_config *cfg, struct dtls **out);
void dtls_free(struct dtls *d);

/* Starts the handshake: a client sends its ClientHello, a server waits for
 * one. Call once the SDP answer has fixed the roles. 0, or -EALREADY. */
int dtls_start(struct dtls *d, uint64_t now_ms);

/* Feeds one received datagram (the caller has classified it as DTLS, but it
 * is checked again). 0 when taken; -EINVAL when refused (counted);
 * -EPIPE when the endpoint has failed. A server that was not started starts
 * on its first datagram. */
int dtls_recv(struct dtls *d, const uint8_t *buf, size_t len, uint64_t now_ms);

/* When dtls_tick should next run, in the caller's clock; -1 when no timer
 * runs (not started, waiting for a ClientHello, connected or failed). */
int64_t dtls_next_deadline(const struct dtls *d);

/* Retransmits the last flight if its timer has expired; fails the handshake
 * with "handshake timeout" when a flight has been retransmitted
 * DTLS_MAX_RETRANSMITS times and its last timer expires. */
#define DTLS_MAX_RETRANSMITS 7
void dtls_tick(struct dtls *d, uint64_t now_ms);

enum dtls_state dtls_state(const struct dtls *d);
struct dtls_stats dtls_stats(const struct dtls *d);
/* The retransmission timeout the current flight uses, in ms (0 when none). */
unsigned dtls_timeout_ms(const struct dtls *d);

#endif
