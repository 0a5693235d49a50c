/* SPDX-License-Identifier: Apache-2.0 */
/* Self-signed X.509 certificates over a node's Ed25519 identity (GnuTLS),
 * their PEM export for other QUIC stacks, and reading the Ed25519 key back
 * out of a peer's certificate. */
#include "quic/tls_cert.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CERT_COMMON_NAME "Macula Identity"
/* Valid from an hour ago (tolerates peers whose clocks run behind) for
 * ten years, as the reference's certificates are. */
#define CERT_BACKDATE_S (60 * 60)
#define CERT_LIFETIME_S ((time_t)3650 * 24 * 60 * 60)
/* 16 random bytes: unique enough, and well under RFC 5280's 20-octet cap. */
#define CERT_SERIAL_LEN 16
/* A certificate is not a place for unbounded input. */
#define CERT_MAX_SANS 64
#define DNS_NAME_MAX 253

void macula__tls_why(char *why, size_t why_len, const char *fmt, ...)
{
    if (!why || why_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static int from_gnutls(int rc)
{
    if (rc >= 0)
        return MACULA_OK;
    return rc == GNUTLS_E_MEMORY_ERROR ? MACULA_ERR_NOMEM : MACULA_ERR_TLS;
}

/* The identity's key pair as a GnuTLS key: for Ed25519, x is the public key
 * and k the 32-byte seed (RFC 8032's private key). */
static int identity_x509_key(const macula_identity *id, gnutls_x509_privkey_t *out)
{
    gnutls_x509_privkey_t key;
    int rc = gnutls_x509_privkey_init(&key);
    if (rc < 0)
        return from_gnutls(rc);
    /* GnuTLS datums are not const: hand it copies, and wipe the seed's. */
    unsigned char pub[MACULA_PUBKEY_LEN], seed[MACULA_SEED_LEN];
    memcpy(pub, macula_identity_public_key(id), sizeof pub);
    memcpy(seed, macula_identity_seed(id), sizeof seed);
    gnutls_datum_t x = {pub, sizeof pub}, k = {seed, sizeof seed};
    rc = gnutls_x509_privkey_import_ecc_raw(key, GNUTLS_ECC_CURVE_ED25519, &x, NULL, &k);
    gnutls_memset(seed, 0, sizeof seed);
    if (rc < 0) {
        gnutls_x509_privkey_deinit(key);
        return from_gnutls(rc);
    }
    *out = key;
    return MACULA_OK;
}

static int dns_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DNS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                 c == '.' || c == '_' || c == '*';
        if (!ok)
            return 0;
    }
    return 1;
}

/* One SAN: an IP address when the text parses as one ("[v6]" too),
 * otherwise a DNS name. */
static int add_san(gnutls_x509_crt_t crt, const char *san)
{
    if (!san)
        return MACULA_ERR_INVALID_ARG;
    unsigned char addr[16];
    char inner[64];
    const char *text = san;
    size_t n = strlen(san);
    if (n >= 2 && san[0] == '[' && san[n - 1] == ']' && n - 2 < sizeof inner) {
        memcpy(inner, san + 1, n - 2);
        inner[n - 2] = 0;
        text = inner;
    }
    int rc;
    if (inet_pton(AF_INET, text, addr) == 1) {
        rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, addr, 4, GNUTLS_FSAN_APPEND);
    } else if (inet_pton(AF_INET6, text, addr) == 1) {
        rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, addr, 16, GNUTLS_FSAN_APPEND);
    } else {
        if (!dns_name_ok(san))
            return MACULA_ERR_INVALID_ARG;
        rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, san, (unsigned)strlen(san),
                                                  GNUTLS_FSAN_APPEND);
    }
    return from_gnutls(rc);
}

static int set_random_serial(gnutls_x509_crt_t crt)
{
    unsigned char serial[CERT_SERIAL_LEN];
    int rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial);
    if (rc < 0)
        return MACULA_ERR_CRYPTO;
    /* DER INTEGERs are signed: clear the top bit so the serial is positive,
     * and set the next so that it is never zero nor has a leading zero. */
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
    return from_gnutls(gnutls_x509_crt_set_serial(crt, serial, sizeof serial));
}

/* Subject, validity, key, serial and the extensions a TLS server leaf
 * needs; everything but the signature. */
static int fill_certificate(gnutls_x509_crt_t crt, gnutls_pubkey_t pub, const char *const *sans, size_t n_sans)
{
    int rc = from_gnutls(gnutls_x509_crt_set_version(crt, 3));
    if (rc == 0)
        rc = set_random_serial(crt);
    if (rc == 0)
        rc = from_gnutls(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, CERT_COMMON_NAME,
                                                       (unsigned)strlen(CERT_COMMON_NAME)));
    time_t now = time(NULL);
    if (rc == 0)
        rc = from_gnutls(gnutls_x509_crt_set_activation_time(crt, now - CERT_BACKDATE_S));
    if (rc == 0)
        rc = from_gnutls(gnutls_x509_crt_set_expiration_time(crt, now + CERT_LIFETIME_S));
    if (rc == 0)
        rc = from_gnutls(gnutls_x509_crt_set_pubkey(crt, pub));
    if (rc == 0)
        rc = from_gnutls(gnutls_x509_crt_set_basic_constraints(crt, 0, -1));
    if (rc == 0)
        rc = from_gnutls(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE));
    if (rc == 0)
        rc = from_gnutls(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0));
    unsigned char key_id[20];
    size_t key_id_len = sizeof key_id;
    if (rc == 0)
        rc = from_gnutls(gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA1, key_id, &key_id_len));
    if (rc == 0)
        rc = from_gnutls(gnutls_x509_crt_set_subject_key_id(crt, key_id, key_id_len));
    for (size_t i = 0; rc == 0 && i < n_sans; i++)
        rc = add_san(crt, sans[i]);
    return rc;
}

int macula__cert_self_signed(const macula_identity *id, const char *const *sans, size_t n_sans,
                             gnutls_x509_crt_t *crt_out, gnutls_privkey_t *key_out)
{
    if (!id || !crt_out || !key_out || (n_sans && !sans) || n_sans > CERT_MAX_SANS)
        return MACULA_ERR_INVALID_ARG;
    gnutls_x509_privkey_t xkey = NULL;
    gnutls_privkey_t key = NULL;
    gnutls_pubkey_t pub = NULL;
    gnutls_x509_crt_t crt = NULL;
    int rc = identity_x509_key(id, &xkey);
    if (rc == 0)
        rc = from_gnutls(gnutls_privkey_init(&key));
    if (rc == 0) {
        rc = from_gnutls(gnutls_privkey_import_x509(key, xkey, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE));
        if (rc == 0)
            xkey = NULL; /* now owned by `key` */
    }
    if (rc == 0)
        rc = from_gnutls(gnutls_pubkey_init(&pub));
    if (rc == 0)
        rc = from_gnutls(gnutls_pubkey_import_privkey(pub, key, 0, 0));
    if (rc == 0)
        rc = from_gnutls(gnutls_x509_crt_init(&crt));
    if (rc == 0)
        rc = fill_certificate(crt, pub, sans, n_sans);
    /* Ed25519 fixes its own hash; 0 lets GnuTLS pick it. */
    if (rc == 0)
        rc = from_gnutls(gnutls_x509_crt_privkey_sign(crt, crt, key, 0, 0));
    if (pub)
        gnutls_pubkey_deinit(pub);
    if (xkey)
        gnutls_x509_privkey_deinit(xkey);
    if (rc != 0) {
        if (crt)
            gnutls_x509_crt_deinit(crt);
        if (key)
            gnutls_privkey_deinit(key);
        return rc;
    }
    *crt_out = crt;
    *key_out = key;
    return MACULA_OK;
}

/* A malloc'd NUL-terminated copy of a GnuTLS datum (which GnuTLS frees). */
static char *datum_to_string(gnutls_datum_t *d)
{
    char *s = malloc((size_t)d->size + 1);
    if (s) {
        memcpy(s, d->data, d->size);
        s[d->size] = 0;
    }
    gnutls_memset(d->data, 0, d->size);
    gnutls_free(d->data);
    d->data = NULL;
    return s;
}

int macula_quic_make_cert_pem(const macula_identity *id, const char *const *sans, size_t n_sans, char **cert_pem,
                              char **key_pem)
{
    if (!cert_pem || !key_pem)
        return MACULA_ERR_INVALID_ARG;
    *cert_pem = NULL;
    *key_pem = NULL;
    gnutls_x509_crt_t crt;
    gnutls_privkey_t key;
    int rc = macula__cert_self_signed(id, sans, n_sans, &crt, &key);
    if (rc != 0)
        return rc;
    gnutls_x509_privkey_t xkey = NULL;
    gnutls_datum_t cert_d = {NULL, 0}, key_d = {NULL, 0};
    rc = from_gnutls(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cert_d));
    if (rc == 0)
        rc = from_gnutls(gnutls_privkey_export_x509(key, &xkey));
    /* Unencrypted PKCS#8 (RFC 8410 for Ed25519): what rustls, OpenSSL and
     * curl read. */
    if (rc == 0)
        rc = from_gnutls(gnutls_x509_privkey_export2_pkcs8(xkey, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &key_d));
    if (rc == 0) {
        *cert_pem = datum_to_string(&cert_d);
        *key_pem = datum_to_string(&key_d);
        if (!*cert_pem || !*key_pem) {
            free(*cert_pem);
            if (*key_pem)
                gnutls_memset(*key_pem, 0, strlen(*key_pem));
            free(*key_pem);
            *cert_pem = *key_pem = NULL;
            rc = MACULA_ERR_NOMEM;
        }
    }
    if (cert_d.data)
        gnutls_free(cert_d.data);
    if (key_d.data) {
        gnutls_memset(key_d.data, 0, key_d.size);
        gnutls_free(key_d.data);
    }
    if (xkey)
        gnutls_x509_privkey_deinit(xkey);
    gnutls_privkey_deinit(key);
    gnutls_x509_crt_deinit(crt);
    return rc;
}

/* The last certificates whose Ed25519 key was read, by their exact DER
 * bytes: a client checks the same few servers' certificates on every
 * connection, and parsing one (libtasn1) costs ~170k instructions, about
 * 1.5 % of a whole peering handshake. The key is a function of the bytes,
 * so an exact match may reuse it. Process-wide, under a mutex. */
#define KEY_CACHE_SLOTS 8
#define KEY_CACHE_MAX_DER 2048
static struct key_cache_entry {
    uint8_t *der;
    size_t len;
    uint8_t key[MACULA_PUBKEY_LEN];
} key_cache[KEY_CACHE_SLOTS];
static unsigned key_cache_next;
static pthread_mutex_t key_cache_mu = PTHREAD_MUTEX_INITIALIZER;

static int key_cache_get(const gnutls_datum_t *der, uint8_t out[MACULA_PUBKEY_LEN])
{
    int hit = 0;
    pthread_mutex_lock(&key_cache_mu);
    for (unsigned i = 0; i < KEY_CACHE_SLOTS && !hit; i++) {
        struct key_cache_entry *e = &key_cache[i];
        if (e->der && e->len == der->size && memcmp(e->der, der->data, e->len) == 0) {
            memcpy(out, e->key, MACULA_PUBKEY_LEN);
            hit = 1;
        }
    }
    pthread_mutex_unlock(&key_cache_mu);
    return hit;
}

static void key_cache_put(const gnutls_datum_t *der, const uint8_t key[MACULA_PUBKEY_LEN])
{
    if (der->size > KEY_CACHE_MAX_DER)
        return;
    uint8_t *copy = malloc(der->size);
    if (!copy)
        return; /* only a lost saving */
    memcpy(copy, der->data, der->size);
    pthread_mutex_lock(&key_cache_mu);
    struct key_cache_entry *e = &key_cache[key_cache_next++ % KEY_CACHE_SLOTS];
    uint8_t *old = e->der;
    e->der = copy;
    e->len = der->size;
    memcpy(e->key, key, MACULA_PUBKEY_LEN);
    pthread_mutex_unlock(&key_cache_mu);
    free(old);
}

static int parse_ed25519_key(const gnutls_datum_t *der, uint8_t out[MACULA_PUBKEY_LEN]);

int macula__cert_ed25519_key(const gnutls_datum_t *der, uint8_t out[MACULA_PUBKEY_LEN])
{
    if (!der || !der->data || !out)
        return MACULA_ERR_INVALID_ARG;
    if (key_cache_get(der, out))
        return MACULA_OK;
    int rc = parse_ed25519_key(der, out);
    if (rc == MACULA_OK)
        key_cache_put(der, out);
    return rc;
}

static int parse_ed25519_key(const gnutls_datum_t *der, uint8_t out[MACULA_PUBKEY_LEN])
{
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return MACULA_ERR_NOMEM;
    int rc = MACULA_ERR_TLS;
    if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0)
        goto done;
    rc = MACULA_ERR_PIN_MISMATCH;
    if (gnutls_x509_crt_get_pk_algorithm(crt, NULL) != GNUTLS_PK_EDDSA_ED25519)
        goto done;
    gnutls_ecc_curve_t curve;
    gnutls_datum_t x = {NULL, 0}, y = {NULL, 0};
    if (gnutls_x509_crt_get_pk_ecc_raw(crt, &curve, &x, &y) < 0) {
        rc = MACULA_ERR_TLS;
        goto done;
    }
    if (curve == GNUTLS_ECC_CURVE_ED25519 && x.size == MACULA_PUBKEY_LEN) {
        memcpy(out, x.data, MACULA_PUBKEY_LEN);
        rc = MACULA_OK;
    }
    gnutls_free(x.data);
    gnutls_free(y.data);
done:
    gnutls_x509_crt_deinit(crt);
    return rc;
}
