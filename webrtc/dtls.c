/* dtls.c — DTLS-SRTP over OpenSSL 3.0 without sockets; see dtls.h. */
#include "webrtc/dtls.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "webrtc/rtp.h"

#define DTLS_DEFAULT_MTU        1200
#define DTLS_MIN_MTU            256
#define DTLS_DEFAULT_TIMEOUT_MS 1000
#define DTLS_MAX_TIMEOUT_MS     60000
#define DTLS_RECORD_HEADER_LEN  13
#define DTLS_MAX_DATAGRAM       (16384 + 2048)
#define DTLS_EXPORTER_LABEL     "EXTRACTOR-dtls_srtp"

struct dtls_cert {
	X509 *x509;
	EVP_PKEY *key;
	char fingerprint[DTLS_FINGERPRINT_SHA256_LEN];
};

/* Datagrams OpenSSL wrote during one call, sent once the call has returned so
 * that no callback runs inside OpenSSL. */
struct out_datagram {
	uint8_t *buf;
	size_t len;
};

struct dtls {
	struct dtls_config cfg;
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *rbio; /* memory BIO: one received datagram at a time */
	enum dtls_state state;
	const EVP_MD *peer_md;
	uint8_t peer_fp[EVP_MAX_MD_SIZE];
	unsigned peer_fp_len;
	const char *fail_reason; /* set where the failure is found */
	uint64_t now_ms;
	int64_t deadline_ms;
	unsigned timeout_ms;
	unsigned flight_retransmits; /* of the flight now waiting for an answer */
	struct dtls_stats stats;
	struct out_datagram *out;
	size_t out_count, out_cap;
	bool out_oom;
};

/* ---- certificate ---- */

static void fingerprint_text(const uint8_t *md, unsigned len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	for (unsigned i = 0; i < len; i++) {
		out[3 * i] = hex[md[i] >> 4];
		out[3 * i + 1] = hex[md[i] & 15];
		out[3 * i + 2] = i + 1 < len ? ':' : '\0';
	}
}

int dtls_cert_new(uint32_t validity_s, struct dtls_cert **out)
{
	if (!validity_s)
		validity_s = 30u * 24 * 3600;
	struct dtls_cert *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	int err = -EIO;
	c->key = EVP_EC_gen("P-256");
	c->x509 = X509_new();
	if (!c->key || !c->x509)
		goto fail;
	uint8_t serial[8];
	if (RAND_bytes(serial, sizeof serial) != 1)
		goto fail;
	serial[0] &= 0x7f; /* a positive INTEGER */
	BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
	bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c->x509));
	BN_free(bn);
	X509_NAME *name = X509_get_subject_name(c->x509);
	ok = ok && X509_set_version(c->x509, X509_VERSION_3) &&
	     X509_gmtime_adj(X509_getm_notBefore(c->x509), -3600) &&
	     X509_gmtime_adj(X509_getm_notAfter(c->x509), (long)validity_s) &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                                (const unsigned char *)"sipwire", -1, -1, 0) &&
	     X509_set_issuer_name(c->x509, name) && X509_set_pubkey(c->x509, c->key) &&
	     X509_sign(c->x509, c->key, EVP_sha256()) > 0;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	if (!ok || !X509_digest(c->x509, EVP_sha256(), md, &md_len) || md_len != 32)
		goto fail;
	fingerprint_text(md, md_len, c->fingerprint);
	*out = c;
	return 0;
fail:
	ERR_clear_error();
	dtls_cert_free(c);
	return err;
}

void dtls_cert_free(struct dtls_cert *cert)
{
	if (!cert)
		return;
	X509_free(cert->x509);
	EVP_PKEY_free(cert->key);
	free(cert);
}

const char *dtls_cert_fingerprint(const struct dtls_cert *cert)
{
	return cert->fingerprint;
}

/* ---- fingerprint parsing ---- */

static const EVP_MD *fingerprint_md(const char *alg)
{
	static const struct {
		const char *sdp;
		const char *ossl;
	} names[] = {
		{"sha-1", "SHA1"},     {"sha-224", "SHA224"}, {"sha-256", "SHA256"},
		{"sha-384", "SHA384"}, {"sha-512", "SHA512"},
	};
	for (size_t i = 0; alg && i < sizeof names / sizeof names[0]; i++)
		if (!strcasecmp(alg, names[i].sdp))
			return EVP_get_digestbyname(names[i].ossl);
	return NULL;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)tolower((unsigned char)ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Hex pairs, optionally separated by single colons; exactly want bytes. */
static int parse_hex_fingerprint(const char *s, uint8_t *out, unsigned want)
{
	unsigned n = 0;
	while (*s) {
		int hi = hex_value(s[0]), lo = hi < 0 ? -1 : hex_value(s[1]);
		if (lo < 0 || n == want)
			return -EINVAL;
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (*s == ':' && s[1])
			s++;
	}
	return n == want ? 0 : -EINVAL;
}

/* ---- the write BIO: each write is one datagram ---- */

static int out_bio_write(BIO *b, const char *buf, int len)
{
	struct dtls *d = BIO_get_data(b);
	if (len <= 0)
		return 0;
	if (d->out_count == d->out_cap) {
		size_t cap = d->out_cap ? d->out_cap * 2 : 8;
		struct out_datagram *o = realloc(d->out, cap * sizeof *o);
		if (!o) {
			d->out_oom = true;
			return -1;
		}
		d->out = o;
		d->out_cap = cap;
	}
	uint8_t *copy = malloc((size_t)len);
	if (!copy) {
		d->out_oom = true;
		return -1;
	}
	memcpy(copy, buf, (size_t)len);
	d->out[d->out_count++] = (struct out_datagram){copy, (size_t)len};
	return len;
}

static long out_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_WPENDING:
	case BIO_CTRL_PENDING:
		return 0;
	default:
		/* MTU queries answer 0: the link MTU is set on the SSL, and
		 * SSL_OP_NO_QUERY_MTU keeps OpenSSL from asking. */
		return 0;
	}
}

static int out_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *out_bio_method(void)
{
	/* Made once, never freed: one small table for the process. */
	static BIO_METHOD *method;
	if (!method) {
		BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
		                             "sipwire dtls out");
		if (!m || !BIO_meth_set_write(m, out_bio_write) ||
		    !BIO_meth_set_ctrl(m, out_bio_ctrl) || !BIO_meth_set_create(m, out_bio_create)) {
			BIO_meth_free(m);
			return NULL;
		}
		method = m;
	}
	return method;
}

static void flush_out(struct dtls *d)
{
	for (size_t i = 0; i < d->out_count; i++) {
		d->stats.tx_datagrams++;
		d->cfg.send(d->cfg.arg, d->out[i].buf, d->out[i].len);
		free(d->out[i].buf);
	}
	d->out_count = 0;
}

/* ---- OpenSSL callbacks ---- */

static int ssl_index(void)
{
	static int index = -1;
	if (index < 0)
		index = SSL_get_ex_new_index(0, "sipwire dtls", NULL, NULL, NULL);
	return index;
}

/* No authority vouches for a WebRTC peer: its certificate is accepted when it
 * hashes to the SDP fingerprint, and refused otherwise, during the handshake
 * so that the peer gets a bad_certificate alert. */
static int verify_peer(int preverify_ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct dtls *d = ssl ? SSL_get_ex_data(ssl, ssl_index()) : NULL;
	if (!d)
		return 0;
	if (X509_STORE_CTX_get_error_depth(store) != 0)
		return 1; /* only the leaf certificate is checked */
	X509 *cert = X509_STORE_CTX_get_current_cert(store);
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	if (!cert || !X509_digest(cert, d->peer_md, md, &len) || len != d->peer_fp_len ||
	    CRYPTO_memcmp(md, d->peer_fp, len) != 0) {
		d->fail_reason = "fingerprint mismatch";
		return 0;
	}
	X509_STORE_CTX_set_error(store, X509_V_OK);
	return 1;
}

/* OpenSSL asks for the next timeout: 0 when a flight starts its timer, the
 * previous one when it expired. */
static unsigned int timer_duration(SSL *ssl, unsigned int previous_us)
{
	struct dtls *d = SSL_get_ex_data(ssl, ssl_index());
	if (previous_us == 0) {
		d->timeout_ms = d->cfg.initial_timeout_ms;
		d->flight_retransmits = 0;
	} else {
		d->stats.retransmits++;
		d->flight_retransmits++;
		d->timeout_ms = d->timeout_ms * 2 > DTLS_MAX_TIMEOUT_MS ? DTLS_MAX_TIMEOUT_MS
		                                                      : d->timeout_ms * 2;
	}
	return d->timeout_ms * 1000u;
}

/* ---- endpoint ---- */

static const char *srtp_profile_list(unsigned profiles)
{
	switch (profiles & DTLS_OFFER_ALL) {
	case DTLS_OFFER_AEAD_AES_128_GCM:
		return "SRTP_AEAD_AES_128_GCM";
	case DTLS_OFFER_AES128_CM_SHA1_80:
		return "SRTP_AES128_CM_SHA1_80";
	default:
		return "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";
	}
}

int dtls_new(const struct dtls_config *cfg, struct dtls **out)
{
	if (!cfg || !cfg->cert || !cfg->send || !cfg->on_connected || !cfg->on_failed ||
	    !cfg->peer_fingerprint || (cfg->mtu && cfg->mtu < DTLS_MIN_MTU) ||
	    (cfg->profiles && !(cfg->profiles & DTLS_OFFER_ALL)) ||
	    (cfg->role != DTLS_ROLE_CLIENT && cfg->role != DTLS_ROLE_SERVER))
		return -EINVAL;
	const EVP_MD *md = fingerprint_md(cfg->peer_fingerprint_alg);
	if (!md)
		return -EINVAL;
	struct dtls *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->cfg.peer_fingerprint = NULL; /* parsed below; the caller's string may go */
	d->cfg.peer_fingerprint_alg = NULL;
	if (!d->cfg.mtu)
		d->cfg.mtu = DTLS_DEFAULT_MTU;
	if (!d->cfg.initial_timeout_ms)
		d->cfg.initial_timeout_ms = DTLS_DEFAULT_TIMEOUT_MS;
	if (d->cfg.initial_timeout_ms > DTLS_MAX_TIMEOUT_MS)
		d->cfg.initial_timeout_ms = DTLS_MAX_TIMEOUT_MS;
	d->peer_md = md;
	d->peer_fp_len = (unsigned)EVP_MD_get_size(md);
	d->deadline_ms = -1;
	d->state = DTLS_STATE_NEW;
	if (parse_hex_fingerprint(cfg->peer_fingerprint, d->peer_fp, d->peer_fp_len) != 0) {
		free(d);
		return -EINVAL;
	}

	int err = -EIO;
	BIO *wbio = NULL;
	BIO_METHOD *method = out_bio_method();
	d->ctx = SSL_CTX_new(DTLS_method());
	if (!method || !d->ctx)
		goto fail;
	/* 0 is success for SSL_CTX_set_tlsext_use_srtp. */
	if (!SSL_CTX_set_min_proto_version(d->ctx, DTLS1_2_VERSION) ||
	    !SSL_CTX_use_certificate(d->ctx, cfg->cert->x509) ||
	    !SSL_CTX_use_PrivateKey(d->ctx, cfg->cert->key) ||
	    SSL_CTX_set_tlsext_use_srtp(d->ctx, srtp_profile_list(cfg->profiles)) != 0)
		goto fail;
	SSL_CTX_set_verify(d->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_peer);
	SSL_CTX_set_verify_depth(d->ctx, 4);
	SSL_CTX_set_read_ahead(d->ctx, 1);
	d->ssl = SSL_new(d->ctx);
	d->rbio = BIO_new(BIO_s_mem());
	wbio = BIO_new(method);
	if (!d->ssl || !d->rbio || !wbio || ssl_index() < 0 ||
	    !SSL_set_ex_data(d->ssl, ssl_index(), d))
		goto fail;
	BIO_set_mem_eof_return(d->rbio, -1); /* empty means "wait", not EOF */
	BIO_set_data(wbio, d);
	SSL_set_bio(d->ssl, d->rbio, wbio); /* the SSL owns both now */
	wbio = NULL;
	SSL_set_options(d->ssl, SSL_OP_NO_QUERY_MTU);
	if (!DTLS_set_link_mtu(d->ssl, d->cfg.mtu))
		goto fail;
	DTLS_set_timer_cb(d->ssl, timer_duration);
	if (cfg->role == DTLS_ROLE_CLIENT)
		SSL_set_connect_state(d->ssl);
	else
		SSL_set_accept_state(d->ssl);
	*out = d;
	return 0;
fail:
	ERR_clear_error();
	BIO_free(wbio);
	if (!d->ssl)
		BIO_free(d->rbio);
	d->rbio = NULL;
	dtls_free(d);
	return err;
}

void dtls_free(struct dtls *d)
{
	if (!d)
		return;
	SSL_free(d->ssl);
	SSL_CTX_free(d->ctx);
	for (size_t i = 0; i < d->out_count; i++)
		free(d->out[i].buf);
	free(d->out);
	free(d);
}

static void update_deadline(struct dtls *d)
{
	struct timeval left;
	if (d->state != DTLS_STATE_HANDSHAKING || !DTLSv1_get_timeout(d->ssl, &left)) {
		d->deadline_ms = -1;
		return;
	}
	uint64_t ms = (uint64_t)left.tv_sec * 1000 + ((uint64_t)left.tv_usec + 999) / 1000;
	d->deadline_ms = (int64_t)(d->now_ms + ms);
}

/* Leaves the endpoint failed: sends what OpenSSL queued (an alert), then tells
 * the owner. */
static void fail(struct dtls *d, const char *reason)
{
	d->state = DTLS_STATE_FAILED;
	d->deadline_ms = -1;
	flush_out(d);
	d->cfg.on_failed(d->cfg.arg, reason);
}

static const char *openssl_reason(struct dtls *d)
{
	if (d->fail_reason)
		return d->fail_reason;
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	return r ? r : "handshake failed";
}

static void connected(struct dtls *d)
{
	/* The verify callback ran during the handshake; this only makes sure a
	 * certificate was there to check. */
	X509 *peer = SSL_get0_peer_certificate(d->ssl);
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	if (!peer || !X509_digest(peer, d->peer_md, md, &len) || len != d->peer_fp_len ||
	    CRYPTO_memcmp(md, d->peer_fp, len) != 0) {
		fail(d, "fingerprint mismatch");
		return;
	}
	SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(d->ssl);
	struct dtls_srtp_keys keys = {0};
	if (!p) {
		fail(d, "no SRTP profile");
		return;
	}
	keys.key_len = 16;
	if (p->id == DTLS_SRTP_AES128_CM_SHA1_80) {
		keys.salt_len = 14;
	} else if (p->id == DTLS_SRTP_AEAD_AES_128_GCM) {
		keys.salt_len = 12;
	} else {
		fail(d, "no SRTP profile");
		return;
	}
	keys.profile = (enum dtls_srtp_profile)p->id;
	uint8_t *material = keys.material;
	size_t total = 2 * (keys.key_len + keys.salt_len);
	keys.material_len = total;
	if (SSL_export_keying_material(d->ssl, material, total, DTLS_EXPORTER_LABEL,
	                               strlen(DTLS_EXPORTER_LABEL), NULL, 0, 0) != 1) {
		fail(d, "keying material export failed");
		return;
	}
	/* RFC 5764 §4.2: client key, server key, client salt, server salt. */
	const uint8_t *m = material;
	memcpy(keys.client_key, m, keys.key_len);
	memcpy(keys.server_key, m + keys.key_len, keys.key_len);
	memcpy(keys.client_salt, m + 2 * keys.key_len, keys.salt_len);
	memcpy(keys.server_salt, m + 2 * keys.key_len + keys.salt_len, keys.salt_len);
	keys.local_is_client = d->cfg.role == DTLS_ROLE_CLIENT;
	d->state = DTLS_STATE_CONNECTED;
	d->deadline_ms = -1;
	flush_out(d);
	d->cfg.on_connected(d->cfg.arg, &keys);
	OPENSSL_cleanse(&keys, sizeof keys);
}

/* Runs OpenSSL on what it has been given, then sends its output and reports
 * what changed. */
static void drive(struct dtls *d)
{
	ERR_clear_error();
	if (d->state == DTLS_STATE_HANDSHAKING) {
		int r = SSL_do_handshake(d->ssl);
		if (d->out_oom) {
			fail(d, "out of memory");
			return;
		}
		if (r == 1) {
			connected(d);
			return;
		}
		int e = SSL_get_error(d->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			fail(d, openssl_reason(d));
			return;
		}
		update_deadline(d);
		flush_out(d);
		return;
	}
	/* Connected: nothing but alerts (or a peer's retransmitted Finished)
	 * should come; application data has no use here and is dropped. */
	uint8_t sink[2048];
	int r;
	while ((r = SSL_read(d->ssl, sink, sizeof sink)) > 0)
		;
	int e = SSL_get_error(d->ssl, r);
	if (e == SSL_ERROR_ZERO_RETURN) {
		fail(d, "closed by peer");
		return;
	}
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
		fail(d, openssl_reason(d));
		return;
	}
	flush_out(d);
}

int dtls_start(struct dtls *d, uint64_t now_ms)
{
	if (d->state != DTLS_STATE_NEW)
		return -EALREADY;
	d->now_ms = now_ms;
	d->state = DTLS_STATE_HANDSHAKING;
	if (d->cfg.role == DTLS_ROLE_CLIENT)
		drive(d);
	return 0;
}

int dtls_recv(struct dtls *d, const uint8_t *buf, size_t len, uint64_t now_ms)
{
	if (d->state == DTLS_STATE_FAILED) {
		d->stats.rx_refused++;
		return -EPIPE;
	}
	if (len < DTLS_RECORD_HEADER_LEN || len > DTLS_MAX_DATAGRAM ||
	    rtp_demux(buf, len) != RTP_DEMUX_DTLS) {
		d->stats.rx_refused++;
		return -EINVAL;
	}
	if (d->state == DTLS_STATE_NEW) {
		if (d->cfg.role == DTLS_ROLE_CLIENT) {
			/* a client speaks first; before that nothing is expected */
			d->stats.rx_refused++;
			return -EINVAL;
		}
		d->state = DTLS_STATE_HANDSHAKING;
	}
	d->now_ms = now_ms;
	d->stats.rx_datagrams++;
	/* The memory BIO holds at most this datagram: OpenSSL reads each record
	 * layer packet in one BIO_read, so one datagram in, one drive. */
	if (BIO_write(d->rbio, buf, (int)len) != (int)len) {
		fail(d, "out of memory");
		return -EPIPE;
	}
	drive(d);
	(void)BIO_reset(d->rbio); /* whatever OpenSSL left is not a datagram */
	return 0;
}

int64_t dtls_next_deadline(const struct dtls *d)
{
	return d->deadline_ms;
}

void dtls_tick(struct dtls *d, uint64_t now_ms)
{
	if (d->state != DTLS_STATE_HANDSHAKING || d->deadline_ms < 0 ||
	    now_ms < (uint64_t)d->deadline_ms)
		return;
	d->now_ms = now_ms;
	if (d->flight_retransmits >= DTLS_MAX_RETRANSMITS) {
		fail(d, "handshake timeout");
		return;
	}
	ERR_clear_error();
	if (DTLSv1_handle_timeout(d->ssl) < 0) {
		fail(d, openssl_reason(d));
		return;
	}
	if (d->out_oom) {
		fail(d, "out of memory");
		return;
	}
	update_deadline(d);
	flush_out(d);
}

enum dtls_state dtls_state(const struct dtls *d)
{
	return d->state;
}

struct dtls_stats dtls_stats(const struct dtls *d)
{
	return d->stats;
}

unsigned dtls_timeout_ms(const struct dtls *d)
{
	return d->deadline_ms < 0 ? 0 : d->timeout_ms;
}
