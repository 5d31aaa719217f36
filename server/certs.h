/* certs.h — the certificate the daemon serves WSS and SIP over TLS with.
 *
 * When none is configured, a self-signed one is made on the first run and kept
 * in the state directory, so a laptop gets wss://localhost:8443 with one click
 * through the browser's warning, and the same certificate on every restart. */
#ifndef SIPWIRE_SERVER_CERTS_H
#define SIPWIRE_SERVER_CERTS_H

#include <stddef.h>

/* Make state_dir (mode 0700) if needed, and state_dir/cert.pem + key.pem
 * (key mode 0600) if either is missing: an ECDSA P-256 key and a self-signed
 * certificate for CN=sipwire, subjectAltName localhost, 127.0.0.1 and ::1,
 * valid for 825 days. The paths are written to cert_out/key_out. Returns 0
 * (created or already there), or a negative errno with a log line. */
int sw_certs_ensure_self_signed(const char *state_dir, char *cert_out, char *key_out,
                                size_t size);

#endif
