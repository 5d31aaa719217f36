/* certs.h — the certificate the daemon serves WSS and SIP over TLS with.
 *
 * When none is configured, a self-signed one is made on the first run and kept
 * in the state directory, so a laptop gets wss://localhost:8443 with one click
 * through the browser's warning, and the same certificate on every restart. */
#ifndef SIPWIRE_SERVER_CERTS_H
#define SIPWIRE_SERVER_CERTS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* Make state_dir (mode 0700) if needed, and state_dir/cert.pem + key.pem
 * (key mode 0600) if either is missing: an ECDSA P-256 key and a self-signed
 * certificate for CN=sipwire, subjectAltName localhost, 127.0.0.1 and ::1,
 * valid for 825 days. The paths are written to cert_out/key_out. Returns 0
 * (created or already there), or a negative errno with a log line. */
int sw_certs_ensure_self_signed(const char *state_dir, char *cert_out, char *key_out,
                                size_t size);

/* The TLS every listener and client of the daemon speaks: TLS 1.2 or 1.3,
 * no renegotiation, no compression, the server's order of ciphers; for
 * TLS 1.2 only ECDHE key exchange
 * with AEAD ciphers (AES-GCM, ChaCha20-Poly1305), for TLS 1.3 its three
 * AEAD suites; groups X25519, P-256, P-384. Returns 0, or -EINVAL with a log
 * line when OpenSSL refuses a list. */
#define SW_TLS12_CIPHERS                                                                           \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define SW_TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define SW_TLS_GROUPS "X25519:P-256:P-384"
int sw_tls_apply_policy(SSL_CTX *ctx);

/* Replace the certificate chain and key ctx serves with, from PEM files.
 * Both are loaded and checked against each other in a scratch context first,
 * so a bad pair changes nothing (-EINVAL, with a log line naming the file);
 * connections already up keep the certificate they were made with, new ones
 * get the new one. 0 on success. */
int sw_tls_reload_cert(SSL_CTX *ctx, const char *cert_file, const char *key_file);

#endif
