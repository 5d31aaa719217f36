/* certs.c — see certs.h. */
#include "server/certs.h"

#include <errno.h>
#include <fcntl.h>
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
