/* SPDX-License-Identifier: Apache-2.0 */
/* GnuTLS certificate credentials for QUIC servers (self-signed over the
 * identity, or PEM files) and clients (optionally the system trust store). */
#include "quic/tls_cert.h"

#include <errno.h>
#include <gnutls/abstract.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A certificate chain or key file larger than this is not one. */
#define PEM_FILE_MAX (1024 * 1024)

/* Reads a whole (small) file into a GnuTLS datum the caller frees with
 * free(). Returns 0 or MACULA_ERR_IO / _LIMIT / _NOMEM with `why` set. */
static int read_small_file(const char *path, const char *what, gnutls_datum_t *out, char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        macula__tls_why(why, why_len, "cannot open %s file %s: %s", what, path, strerror(errno));
        return MACULA_ERR_IO;
    }
    unsigned char *buf = malloc(PEM_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        macula__tls_why(why, why_len, "out of memory reading %s", path);
        return MACULA_ERR_NOMEM;
    }
    size_t n = fread(buf, 1, PEM_FILE_MAX + 1, f);
    int failed = ferror(f);
    int saved = errno;
    fclose(f);
    if (failed) {
        free(buf);
        macula__tls_why(why, why_len, "cannot read %s file %s: %s", what, path, strerror(saved));
        return MACULA_ERR_IO;
    }
    if (n > PEM_FILE_MAX) {
        free(buf);
        macula__tls_why(why, why_len, "%s file %s is larger than %d bytes", what, path, PEM_FILE_MAX);
        return MACULA_ERR_LIMIT;
    }
    out->data = buf;
    out->size = (unsigned)n;
    return MACULA_OK;
}

static void free_file(gnutls_datum_t *d)
{
    if (d->data) {
        memset(d->data, 0, d->size); /* may hold a private key */
        free(d->data);
    }
    d->data = NULL;
    d->size = 0;
}

/* Same key in both: compare the SHA-256 key ids of their public keys. */
static int key_matches_cert(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
    unsigned char a[32], b[32];
    size_t alen = sizeof a, blen = sizeof b;
    if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &alen) < 0 ||
        gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &blen) < 0)
        return 0;
    return alen == blen && memcmp(a, b, alen) == 0;
}

static int credentials_from_files(gnutls_certificate_credentials_t cred, const char *cert_file,
                                  const char *key_file, char *why, size_t why_len)
{
    gnutls_datum_t cert_pem = {NULL, 0}, key_pem = {NULL, 0};
    gnutls_x509_crt_t *chain = NULL;
    unsigned n_chain = 0;
    gnutls_x509_privkey_t key = NULL;
    int rc = read_small_file(cert_file, "certificate", &cert_pem, why, why_len);
    if (rc == 0)
        rc = read_small_file(key_file, "private key", &key_pem, why, why_len);
    if (rc == 0) {
        int grc = gnutls_x509_crt_list_import2(&chain, &n_chain, &cert_pem, GNUTLS_X509_FMT_PEM, 0);
        if (grc < 0 || n_chain == 0) {
            macula__tls_why(why, why_len, "%s holds no readable PEM certificate (%s)", cert_file,
                    grc < 0 ? gnutls_strerror(grc) : "empty");
            rc = MACULA_ERR_TLS;
        }
    }
    if (rc == 0 && gnutls_x509_privkey_init(&key) < 0) {
        macula__tls_why(why, why_len, "out of memory");
        rc = MACULA_ERR_NOMEM;
    }
    if (rc == 0) {
        int grc = gnutls_x509_privkey_import2(key, &key_pem, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (grc < 0) {
            macula__tls_why(why, why_len, "%s holds no readable unencrypted PEM private key (%s)", key_file,
                    gnutls_strerror(grc));
            rc = MACULA_ERR_TLS;
        }
    }
    if (rc == 0 && !key_matches_cert(chain[0], key)) {
        macula__tls_why(why, why_len, "the private key in %s does not match the certificate in %s", key_file, cert_file);
        rc = MACULA_ERR_TLS;
    }
    if (rc == 0) {
        int grc = gnutls_certificate_set_x509_key(cred, chain, n_chain, key);
        if (grc < 0) {
            macula__tls_why(why, why_len, "cannot use %s with %s: %s", cert_file, key_file, gnutls_strerror(grc));
            rc = MACULA_ERR_TLS;
        }
    }
    for (unsigned i = 0; i < n_chain; i++)
        gnutls_x509_crt_deinit(chain[i]);
    gnutls_free(chain);
    if (key)
        gnutls_x509_privkey_deinit(key);
    free_file(&cert_pem);
    free_file(&key_pem);
    return rc;
}

static int credentials_self_signed(gnutls_certificate_credentials_t cred, const macula_identity *id,
                                   const char *const *sans, size_t n_sans, char *why, size_t why_len)
{
    gnutls_x509_crt_t crt;
    gnutls_privkey_t key;
    int rc = macula__cert_self_signed(id, sans, n_sans, &crt, &key);
    if (rc != 0) {
        macula__tls_why(why, why_len, "cannot make the self-signed certificate: %s",
                rc == MACULA_ERR_INVALID_ARG ? "a SAN is neither an IP address nor a DNS name"
                                             : macula_strerror(rc));
        return rc;
    }
    gnutls_x509_privkey_t xkey = NULL;
    int grc = gnutls_privkey_export_x509(key, &xkey);
    if (grc >= 0)
        grc = gnutls_certificate_set_x509_key(cred, &crt, 1, xkey); /* copies both */
    if (grc < 0) {
        macula__tls_why(why, why_len, "cannot use the self-signed certificate: %s", gnutls_strerror(grc));
        rc = MACULA_ERR_TLS;
    }
    if (xkey)
        gnutls_x509_privkey_deinit(xkey);
    gnutls_privkey_deinit(key);
    gnutls_x509_crt_deinit(crt);
    return rc;
}

int macula__tls_server_credentials(const macula_identity *id, const char *const *sans, size_t n_sans,
                                   const char *cert_file, const char *key_file,
                                   gnutls_certificate_credentials_t *out, char *why, size_t why_len)
{
    macula__tls_why(why, why_len, "%s", "");
    if (!out)
        return MACULA_ERR_INVALID_ARG;
    if ((cert_file != NULL) != (key_file != NULL)) {
        macula__tls_why(why, why_len, "a PEM certificate file needs its private key file and the other way round");
        return MACULA_ERR_INVALID_ARG;
    }
    if (!cert_file && !id) {
        macula__tls_why(why, why_len, "a server needs an identity or PEM certificate and key files");
        return MACULA_ERR_INVALID_ARG;
    }
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        macula__tls_why(why, why_len, "out of memory");
        return MACULA_ERR_NOMEM;
    }
    int rc = cert_file ? credentials_from_files(cred, cert_file, key_file, why, why_len)
                       : credentials_self_signed(cred, id, sans, n_sans, why, why_len);
    if (rc != 0) {
        gnutls_certificate_free_credentials(cred);
        return rc;
    }
    *out = cred;
    return MACULA_OK;
}

int macula__tls_client_credentials(int system_trust, gnutls_certificate_credentials_t *out)
{
    if (!out)
        return MACULA_ERR_INVALID_ARG;
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0)
        return MACULA_ERR_NOMEM;
    /* Only PKI mode pays for parsing the system store; an empty store is
     * not an error here: verification then fails with a readable reason. */
    if (system_trust && gnutls_certificate_set_x509_system_trust(cred) < 0) {
        gnutls_certificate_free_credentials(cred);
        return MACULA_ERR_TLS;
    }
    *out = cred;
    return MACULA_OK;
}

int macula__tls_client_credentials_ca(const char *ca_file, gnutls_certificate_credentials_t *out, char *why,
                                      size_t why_len)
{
    macula__tls_why(why, why_len, "%s", "");
    if (!ca_file || !out)
        return MACULA_ERR_INVALID_ARG;
    gnutls_datum_t pem = {NULL, 0};
    int rc = read_small_file(ca_file, "CA", &pem, why, why_len);
    if (rc != 0)
        return rc;
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        free_file(&pem);
        macula__tls_why(why, why_len, "out of memory");
        return MACULA_ERR_NOMEM;
    }
    /* The count of trusted certificates: zero means the file trusts
     * nothing, which would fail every handshake with a vaguer reason. */
    int n = gnutls_certificate_set_x509_trust_mem(cred, &pem, GNUTLS_X509_FMT_PEM);
    free_file(&pem);
    if (n <= 0) {
        macula__tls_why(why, why_len, "CA file %s holds no readable PEM certificate (%s)", ca_file,
                        n < 0 ? gnutls_strerror(n) : "none found");
        gnutls_certificate_free_credentials(cred);
        return MACULA_ERR_TLS;
    }
    *out = cred;
    return MACULA_OK;
}
