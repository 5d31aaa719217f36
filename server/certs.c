/* certs.c — see certs.h. */
#include "server/certs.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/log.h"

static int mkdir_p(const char *dir)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
		return -ENAMETOOLONG;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* Write with fopen on a descriptor opened with the mode we want, so the key
 * is never readable by others, not even for a moment. */
static FILE *open_private(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "w");
	if (!f)
		close(fd);
	return f;
}

static int make_self_signed(const char *cert_path, const char *key_path)
{
	int rc = -EIO;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	FILE *kf = NULL, *cf = NULL;
	if (!key || !cert)
		goto out;
	X509_set_version(cert, 2);
	unsigned char serial[16];
	FILE *ur = fopen("/dev/urandom", "rb");
	if (!ur || fread(serial, 1, sizeof serial, ur) != sizeof serial) {
		if (ur)
			fclose(ur);
		goto out;
	}
	fclose(ur);
	serial[0] &= 0x7f; /* a positive serial */
	BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
		BN_free(bn);
		goto out;
	}
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 825L * 24 * 3600);
	X509_NAME *name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sipwire", -1,
	                           -1, 0);
	X509_set_issuer_name(cert, name);
	X509_set_pubkey(cert, key);
	if (add_ext(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") < 0 ||
	    add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(cert, NID_ext_key_usage, "serverAuth") < 0)
		goto out;
	if (!X509_sign(cert, key, EVP_sha256()))
		goto out;
	kf = open_private(key_path, 0600);
	cf = open_private(cert_path, 0644);
	if (!kf || !cf) {
		rc = -errno;
		goto out;
	}
	if (!PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_X509(cf, cert))
		goto out;
	rc = 0;
out:
	if (kf && fclose(kf) != 0)
		rc = -EIO;
	if (cf && fclose(cf) != 0)
		rc = -EIO;
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

int sw_certs_ensure_self_signed(const char *state_dir, char *cert_out, char *key_out,
                                size_t size)
{
	if (snprintf(cert_out, size, "%s/cert.pem", state_dir) >= (int)size ||
	    snprintf(key_out, size, "%s/key.pem", state_dir) >= (int)size)
		return -ENAMETOOLONG;
	if (access(cert_out, R_OK) == 0 && access(key_out, R_OK) == 0)
		return 0;
	int rc = mkdir_p(state_dir);
	if (rc < 0) {
		LOG_ERR("tls", "cannot create the state directory %s: %s", state_dir, strerror(-rc));
		return rc;
	}
	rc = make_self_signed(cert_out, key_out);
	if (rc < 0) {
		LOG_ERR("tls", "cannot write a self-signed certificate in %s: %s", state_dir,
		        strerror(-rc));
		unlink(cert_out);
		unlink(key_out);
		return rc;
	}
	LOG_INFO("tls", "created a self-signed certificate %s (CN=sipwire, localhost)", cert_out);
	return 0;
}

static void log_tls_errors(const char *what, const char *file)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	LOG_ERR("tls", "%s%s%s%s%s", what, file ? " " : "", file ? file : "", *buf ? ": " : "",
	        buf);
}

int sw_tls_apply_policy(SSL_CTX *ctx)
{
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, SW_TLS12_CIPHERS) ||
	    !SSL_CTX_set_ciphersuites(ctx, SW_TLS13_SUITES) ||
	    !SSL_CTX_set1_groups_list(ctx, SW_TLS_GROUPS)) {
		log_tls_errors("cannot apply the TLS policy", NULL);
		return -EINVAL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	return 0;
}

static bool load_pair(SSL_CTX *ctx, const char *cert_file, const char *key_file)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		log_tls_errors("cannot load the certificate", cert_file);
		return false;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		log_tls_errors("cannot load the key", key_file);
		return false;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		log_tls_errors("the key does not match the certificate", key_file);
		return false;
	}
	return true;
}

int sw_tls_reload_cert(SSL_CTX *ctx, const char *cert_file, const char *key_file)
{
	SSL_CTX *scratch = SSL_CTX_new(TLS_server_method());
	if (!scratch)
		return -ENOMEM;
	bool ok = load_pair(scratch, cert_file, key_file);
	SSL_CTX_free(scratch);
	if (!ok)
		return -EINVAL;
	/* The live context changes only once the pair is known good. Each SSL
	 * copies the context's certificate when it is made, so connections
	 * already up are not touched. */
	return load_pair(ctx, cert_file, key_file) ? 0 : -EINVAL;
}
