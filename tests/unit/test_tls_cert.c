/* SPDX-License-Identifier: Apache-2.0 */
/* TLS material of the QUIC layer: the self-signed certificate over an
 * Ed25519 identity (fields, extensions, signature), its PEM export, server
 * credentials from PEM files, and the client's peer check (none / pin /
 * PKI) exercised through real TLS 1.3 handshakes between two in-memory
 * GnuTLS sessions. */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <errno.h>
#include <sodium.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macula/identity.h"
#include "macula/quic.h"
#include "quic/tls_cert.h"
#include "testutil.h"

static char tmpdir[] = "/tmp/macula-test-tls-XXXXXX";

static macula_identity *fixed_identity(uint8_t fill)
{
    uint8_t seed[MACULA_SEED_LEN];
    memset(seed, fill, sizeof seed);
    return macula_identity_from_seed(seed, NULL);
}

static char *hex32(const uint8_t *p)
{
    char *s = malloc(65);
    if (!s)
        exit(2);
    for (int i = 0; i < 32; i++)
        snprintf(s + 2 * i, 3, "%02x", p[i]);
    return s;
}

static void tmp_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", tmpdir, name); }

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        exit(2);
    fputs(text, f);
    fclose(f);
}

/* --- certificate fields --- */

/* The certificate as a peer sees it: exported to DER and parsed again
 * (GnuTLS caches some fields, such as SANs, only when it imports). */
static gnutls_x509_crt_t reparse(gnutls_x509_crt_t crt)
{
    gnutls_datum_t der = {NULL, 0};
    gnutls_x509_crt_t out = NULL;
    if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der) < 0 || gnutls_x509_crt_init(&out) < 0 ||
        gnutls_x509_crt_import(out, &der, GNUTLS_X509_FMT_DER) < 0)
        exit(2);
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
    return out;
}

static void test_cert_fields(void)
{
    macula_identity *id = fixed_identity(7);
    REQUIRE(id);
    const char *sans[] = {"127.0.0.1", "node1.example", "::1", "[fe80::2]"};
    gnutls_x509_crt_t crt;
    gnutls_privkey_t key;
    time_t before = time(NULL);
    REQUIRE(macula__cert_self_signed(id, sans, 4, &crt, &key) == 0);
    crt = reparse(crt);

    CHECK_EQ_INT(gnutls_x509_crt_get_version(crt), 3);
    char dn[128];
    size_t dn_len = sizeof dn;
    CHECK_EQ_INT(gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, dn, &dn_len), 0);
    CHECK(strcmp(dn, "Macula Identity") == 0);
    dn_len = sizeof dn;
    CHECK_EQ_INT(gnutls_x509_crt_get_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, dn, &dn_len), 0);
    CHECK(strcmp(dn, "Macula Identity") == 0);

    /* ~10 years, starting no later than now. */
    time_t from = gnutls_x509_crt_get_activation_time(crt);
    time_t until = gnutls_x509_crt_get_expiration_time(crt);
    CHECK(from <= before);
    CHECK(from >= before - 2 * 3600);
    double years = (double)(until - from) / (365.25 * 24 * 3600);
    CHECK(years > 9.9 && years < 10.1);

    /* Random positive serial. */
    unsigned char serial[40];
    size_t serial_len = sizeof serial;
    CHECK_EQ_INT(gnutls_x509_crt_get_serial(crt, serial, &serial_len), 0);
    CHECK(serial_len >= 8 && serial_len <= 20);
    CHECK(serial[0] != 0 && serial[0] < 0x80);

    /* SANs in order, IP addresses as addresses. */
    unsigned char san[256];
    size_t san_len = sizeof san;
    unsigned critical;
    CHECK_EQ_INT(gnutls_x509_crt_get_subject_alt_name(crt, 0, san, &san_len, &critical), GNUTLS_SAN_IPADDRESS);
    CHECK(san_len == 4 && memcmp(san, "\x7f\x00\x00\x01", 4) == 0);
    san_len = sizeof san;
    CHECK_EQ_INT(gnutls_x509_crt_get_subject_alt_name(crt, 1, san, &san_len, &critical), GNUTLS_SAN_DNSNAME);
    CHECK(san_len == 13 && memcmp(san, "node1.example", 13) == 0);
    san_len = sizeof san;
    CHECK_EQ_INT(gnutls_x509_crt_get_subject_alt_name(crt, 2, san, &san_len, &critical), GNUTLS_SAN_IPADDRESS);
    CHECK(san_len == 16 && san[15] == 1);
    san_len = sizeof san;
    CHECK_EQ_INT(gnutls_x509_crt_get_subject_alt_name(crt, 3, san, &san_len, &critical), GNUTLS_SAN_IPADDRESS);
    CHECK(san_len == 16 && san[0] == 0xfe && san[15] == 2);
    san_len = sizeof san;
    CHECK_EQ_INT(gnutls_x509_crt_get_subject_alt_name(crt, 4, san, &san_len, &critical),
                 GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);

    /* Key: Ed25519, equal to the node id. */
    unsigned bits;
    CHECK_EQ_INT(gnutls_x509_crt_get_pk_algorithm(crt, &bits), GNUTLS_PK_EDDSA_ED25519);
    gnutls_ecc_curve_t curve;
    gnutls_datum_t x = {NULL, 0}, y = {NULL, 0};
    CHECK_EQ_INT(gnutls_x509_crt_get_pk_ecc_raw(crt, &curve, &x, &y), 0);
    CHECK(x.size == 32 && memcmp(x.data, macula_identity_node_id(id), 32) == 0);
    gnutls_free(x.data);
    gnutls_free(y.data);

    /* Extensions of a TLS server leaf. */
    unsigned ca = 1;
    int path_len;
    CHECK(gnutls_x509_crt_get_basic_constraints(crt, &critical, &ca, &path_len) >= 0);
    CHECK_EQ_INT(ca, 0);
    unsigned usage = 0;
    CHECK_EQ_INT(gnutls_x509_crt_get_key_usage(crt, &usage, &critical), 0);
    CHECK_EQ_INT(usage, GNUTLS_KEY_DIGITAL_SIGNATURE);
    char oid[64];
    size_t oid_len = sizeof oid;
    CHECK_EQ_INT(gnutls_x509_crt_get_key_purpose_oid(crt, 0, oid, &oid_len, &critical), 0);
    CHECK(strcmp(oid, GNUTLS_KP_TLS_WWW_SERVER) == 0);
    unsigned char skid[64];
    size_t skid_len = sizeof skid;
    CHECK_EQ_INT(gnutls_x509_crt_get_subject_key_id(crt, skid, &skid_len, &critical), 0);
    CHECK_EQ_INT(skid_len, 20);

    CHECK_EQ_INT(gnutls_x509_crt_get_signature_algorithm(crt), GNUTLS_SIGN_EDDSA_ED25519);

    /* A second certificate gets another serial. */
    gnutls_x509_crt_t crt2;
    gnutls_privkey_t key2;
    REQUIRE(macula__cert_self_signed(id, NULL, 0, &crt2, &key2) == 0);
    crt2 = reparse(crt2);
    unsigned char serial2[40];
    size_t serial2_len = sizeof serial2;
    CHECK_EQ_INT(gnutls_x509_crt_get_serial(crt2, serial2, &serial2_len), 0);
    CHECK(serial2_len != serial_len || memcmp(serial, serial2, serial_len) != 0);
    san_len = sizeof san;
    CHECK_EQ_INT(gnutls_x509_crt_get_subject_alt_name(crt2, 0, san, &san_len, &critical),
                 GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);

    gnutls_x509_crt_deinit(crt2);
    gnutls_privkey_deinit(key2);
    gnutls_x509_crt_deinit(crt);
    gnutls_privkey_deinit(key);
    macula_identity_free(id);
}

/* Reads one DER TLV header; returns the header length or 0. */
static size_t der_header(const unsigned char *p, size_t n, size_t *content_len)
{
    if (n < 2)
        return 0;
    if (p[1] < 0x80) {
        *content_len = p[1];
        return 2;
    }
    size_t k = p[1] & 0x7f;
    if (k == 0 || k > 3 || n < 2 + k)
        return 0;
    size_t len = 0;
    for (size_t i = 0; i < k; i++)
        len = len << 8 | p[2 + i];
    *content_len = len;
    return 2 + k;
}

/* The signature checked independently of GnuTLS: libsodium over the
 * DER bytes of TBSCertificate. */
static void test_self_signature_verifies(void)
{
    macula_identity *id = fixed_identity(9);
    REQUIRE(id);
    const char *sans[] = {"localhost"};
    gnutls_x509_crt_t crt;
    gnutls_privkey_t key;
    REQUIRE(macula__cert_self_signed(id, sans, 1, &crt, &key) == 0);
    gnutls_datum_t der = {NULL, 0};
    REQUIRE(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der) == 0);
    size_t outer_len = 0, tbs_len = 0;
    size_t outer_hdr = der_header(der.data, der.size, &outer_len);
    REQUIRE(outer_hdr && der.data[0] == 0x30);
    size_t tbs_hdr = der_header(der.data + outer_hdr, der.size - outer_hdr, &tbs_len);
    REQUIRE(tbs_hdr && outer_hdr + tbs_hdr + tbs_len <= der.size);
    unsigned char sig[128];
    size_t sig_len = sizeof sig;
    REQUIRE(gnutls_x509_crt_get_signature(crt, (char *)sig, &sig_len) == 0);
    CHECK_EQ_INT(sig_len, 64);
    const unsigned char *tbs = der.data + outer_hdr;
    CHECK_EQ_INT(crypto_sign_verify_detached(sig, tbs, tbs_hdr + tbs_len, macula_identity_node_id(id)), 0);
    sig[5] ^= 1;
    CHECK(crypto_sign_verify_detached(sig, tbs, tbs_hdr + tbs_len, macula_identity_node_id(id)) != 0);

    /* GnuTLS agrees: self-issued, and the signature checks out against
     * its own key (a leaf, so no CA bit is required here). */
    CHECK(gnutls_x509_crt_check_issuer(crt, crt) == 1);
    unsigned status = 99;
    CHECK_EQ_INT(gnutls_x509_crt_verify(crt, &crt, 1, GNUTLS_VERIFY_DISABLE_CA_SIGN, &status), 0);
    CHECK_EQ_INT(status, 0);

    /* ...and macula__cert_ed25519_key reads the node id back. */
    uint8_t pk[32];
    CHECK_EQ_INT(macula__cert_ed25519_key(&der, pk), 0);
    CHECK_MEM(pk, macula_identity_node_id(id), 32);

    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_privkey_deinit(key);
    macula_identity_free(id);
}

/* The key cache never confuses certificates: 12 identities (more than
 * the 8 cached), each certificate read twice and again after the others
 * evicted it, always gives its own key; one changed byte of a cached
 * certificate is parsed again (and no longer parses as Ed25519 here). */
static void test_ed25519_key_cache(void)
{
    enum { N = 12 };
    gnutls_datum_t der[N];
    macula_identity *ids[N];
    for (int i = 0; i < N; i++) {
        ids[i] = fixed_identity((uint8_t)(40 + i));
        REQUIRE(ids[i]);
        gnutls_x509_crt_t crt;
        gnutls_privkey_t key;
        REQUIRE(macula__cert_self_signed(ids[i], NULL, 0, &crt, &key) == 0);
        der[i] = (gnutls_datum_t){NULL, 0};
        REQUIRE(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der[i]) == 0);
        gnutls_x509_crt_deinit(crt);
        gnutls_privkey_deinit(key);
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            uint8_t pk[32];
            memset(pk, 0, sizeof pk);
            CHECK_EQ_INT(macula__cert_ed25519_key(&der[i], pk), 0);
            CHECK_MEM(pk, macula_identity_node_id(ids[i]), 32);
            CHECK_EQ_INT(macula__cert_ed25519_key(&der[i], pk), 0);
            CHECK_MEM(pk, macula_identity_node_id(ids[i]), 32);
        }
    }
    /* Flip a byte inside the key itself (the last 32 bytes of the
     * SubjectPublicKeyInfo precede the signature algorithm): whatever
     * the parser makes of it, it is not the cached key. */
    uint8_t pk[32];
    CHECK_EQ_INT(macula__cert_ed25519_key(&der[0], pk), 0);
    uint8_t *copy = malloc(der[0].size);
    REQUIRE(copy);
    memcpy(copy, der[0].data, der[0].size);
    gnutls_datum_t changed = {copy, der[0].size};
    size_t at = 0;
    for (size_t i = 0; i + 32 <= der[0].size; i++)
        if (memcmp(copy + i, macula_identity_node_id(ids[0]), 32) == 0)
            at = i;
    REQUIRE(at > 0);
    copy[at + 7] ^= 0x40;
    memset(pk, 0, sizeof pk);
    int rc = macula__cert_ed25519_key(&changed, pk);
    CHECK(rc != 0 || memcmp(pk, macula_identity_node_id(ids[0]), 32) != 0);
    free(copy);
    for (int i = 0; i < N; i++) {
        gnutls_free(der[i].data);
        macula_identity_free(ids[i]);
    }
}

static void test_bad_sans(void)
{
    macula_identity *id = fixed_identity(3);
    REQUIRE(id);
    gnutls_x509_crt_t crt;
    gnutls_privkey_t key;
    const char *spaces[] = {"has space"};
    CHECK_EQ_INT(macula__cert_self_signed(id, spaces, 1, &crt, &key), MACULA_ERR_INVALID_ARG);
    const char *empty[] = {""};
    CHECK_EQ_INT(macula__cert_self_signed(id, empty, 1, &crt, &key), MACULA_ERR_INVALID_ARG);
    const char *null_san[] = {NULL};
    CHECK_EQ_INT(macula__cert_self_signed(id, null_san, 1, &crt, &key), MACULA_ERR_INVALID_ARG);
    CHECK_EQ_INT(macula__cert_self_signed(NULL, NULL, 0, &crt, &key), MACULA_ERR_INVALID_ARG);
    char *c, *k;
    CHECK_EQ_INT(macula_quic_make_cert_pem(id, spaces, 1, &c, &k), MACULA_ERR_INVALID_ARG);
    CHECK(c == NULL && k == NULL);
    macula_identity_free(id);
}

/* --- PEM export --- */

static void test_pem_roundtrip(void)
{
    macula_identity *id = fixed_identity(11);
    REQUIRE(id);
    const char *sans[] = {"127.0.0.1"};
    char *cert_pem = NULL, *key_pem = NULL;
    REQUIRE(macula_quic_make_cert_pem(id, sans, 1, &cert_pem, &key_pem) == 0);
    CHECK(strncmp(cert_pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
    CHECK(strncmp(key_pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0); /* PKCS#8, unencrypted */

    gnutls_x509_crt_t crt;
    REQUIRE(gnutls_x509_crt_init(&crt) == 0);
    gnutls_datum_t d = {(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)};
    CHECK_EQ_INT(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
    gnutls_datum_t der = {NULL, 0};
    CHECK_EQ_INT(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);
    uint8_t pk[32];
    CHECK_EQ_INT(macula__cert_ed25519_key(&der, pk), 0);
    CHECK_MEM(pk, macula_identity_node_id(id), 32);
    gnutls_free(der.data);

    /* The private key is the identity's: seed and public key. */
    gnutls_x509_privkey_t xkey;
    REQUIRE(gnutls_x509_privkey_init(&xkey) == 0);
    gnutls_datum_t kd = {(unsigned char *)key_pem, (unsigned)strlen(key_pem)};
    CHECK_EQ_INT(gnutls_x509_privkey_import2(xkey, &kd, GNUTLS_X509_FMT_PEM, NULL, 0), 0);
    CHECK_EQ_INT(gnutls_x509_privkey_get_pk_algorithm(xkey), GNUTLS_PK_EDDSA_ED25519);
    gnutls_ecc_curve_t curve;
    gnutls_datum_t x = {NULL, 0}, y = {NULL, 0}, k = {NULL, 0};
    CHECK_EQ_INT(gnutls_x509_privkey_export_ecc_raw(xkey, &curve, &x, &y, &k), 0);
    CHECK(x.size == 32 && memcmp(x.data, macula_identity_node_id(id), 32) == 0);
    CHECK(k.size == 32 && memcmp(k.data, macula_identity_seed(id), 32) == 0);
    gnutls_free(x.data);
    gnutls_free(y.data);
    gnutls_free(k.data);

    /* The pair matches (same key id). */
    unsigned char a[32], b[32];
    size_t alen = sizeof a, blen = sizeof b;
    CHECK_EQ_INT(gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &alen), 0);
    CHECK_EQ_INT(gnutls_x509_privkey_get_key_id(xkey, GNUTLS_KEYID_USE_SHA256, b, &blen), 0);
    CHECK(alen == blen && memcmp(a, b, alen) == 0);

    gnutls_x509_privkey_deinit(xkey);
    gnutls_x509_crt_deinit(crt);
    macula_free(cert_pem);
    macula_free(key_pem);
    macula_identity_free(id);
}

/* --- other certificates, made with GnuTLS for the tests --- */

struct test_cert {
    gnutls_x509_crt_t crt;
    gnutls_x509_privkey_t key;
};

/* An ECDSA P-256 certificate: a CA when `issuer` is NULL, else a leaf with
 * the DNS SAN `san` signed by `issuer`. */
static int make_ecdsa_cert(struct test_cert *out, const struct test_cert *issuer, const char *san)
{
    if (gnutls_x509_privkey_init(&out->key) < 0 ||
        gnutls_x509_privkey_generate(out->key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                                     0) < 0 ||
        gnutls_x509_crt_init(&out->crt) < 0)
        return -1;
    gnutls_x509_crt_t c = out->crt;
    unsigned char serial[] = {0x01, 0x02, 0x03};
    time_t now = time(NULL);
    const char *cn = issuer ? "test leaf" : "test CA";
    if (gnutls_x509_crt_set_version(c, 3) < 0 || gnutls_x509_crt_set_serial(c, serial, sizeof serial) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, cn, (unsigned)strlen(cn)) < 0 ||
        gnutls_x509_crt_set_activation_time(c, now - 3600) < 0 ||
        gnutls_x509_crt_set_expiration_time(c, now + 86400) < 0 || gnutls_x509_crt_set_key(c, out->key) < 0)
        return -1;
    if (!issuer) {
        if (gnutls_x509_crt_set_basic_constraints(c, 1, -1) < 0 ||
            gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_KEY_CERT_SIGN) < 0 ||
            gnutls_x509_crt_sign2(c, c, out->key, GNUTLS_DIG_SHA256, 0) < 0)
            return -1;
        return 0;
    }
    if (gnutls_x509_crt_set_basic_constraints(c, 0, -1) < 0 ||
        gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
        gnutls_x509_crt_set_key_purpose_oid(c, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0 ||
        gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_DNSNAME, san, (unsigned)strlen(san),
                                             GNUTLS_FSAN_APPEND) < 0 ||
        gnutls_x509_crt_sign2(c, issuer->crt, issuer->key, GNUTLS_DIG_SHA256, 0) < 0)
        return -1;
    return 0;
}

static void free_test_cert(struct test_cert *t)
{
    gnutls_x509_crt_deinit(t->crt);
    gnutls_x509_privkey_deinit(t->key);
}

static void test_ed25519_key_of_other_certs(void)
{
    struct test_cert ca;
    REQUIRE(make_ecdsa_cert(&ca, NULL, NULL) == 0);
    gnutls_datum_t der = {NULL, 0};
    REQUIRE(gnutls_x509_crt_export2(ca.crt, GNUTLS_X509_FMT_DER, &der) == 0);
    uint8_t pk[32];
    CHECK_EQ_INT(macula__cert_ed25519_key(&der, pk), MACULA_ERR_PIN_MISMATCH);
    /* A truncated certificate does not parse. */
    gnutls_datum_t cut = {der.data, der.size / 2};
    CHECK_EQ_INT(macula__cert_ed25519_key(&cut, pk), MACULA_ERR_TLS);
    unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    gnutls_datum_t jd = {junk, sizeof junk};
    CHECK_EQ_INT(macula__cert_ed25519_key(&jd, pk), MACULA_ERR_TLS);
    CHECK_EQ_INT(macula__cert_ed25519_key(NULL, pk), MACULA_ERR_INVALID_ARG);
    gnutls_free(der.data);
    free_test_cert(&ca);
}

/* --- server credentials from files --- */

static void test_server_credentials(void)
{
    macula_identity *id = fixed_identity(21), *other = fixed_identity(22);
    REQUIRE(id && other);
    char cert_path[256], key_path[256], other_key_path[256], junk_path[256], missing[256];
    tmp_path(cert_path, sizeof cert_path, "cert.pem");
    tmp_path(key_path, sizeof key_path, "key.pem");
    tmp_path(other_key_path, sizeof other_key_path, "other-key.pem");
    tmp_path(junk_path, sizeof junk_path, "junk.pem");
    tmp_path(missing, sizeof missing, "missing.pem");
    char *cert_pem, *key_pem, *ocert_pem, *okey_pem;
    REQUIRE(macula_quic_make_cert_pem(id, NULL, 0, &cert_pem, &key_pem) == 0);
    REQUIRE(macula_quic_make_cert_pem(other, NULL, 0, &ocert_pem, &okey_pem) == 0);
    write_text(cert_path, cert_pem);
    write_text(key_path, key_pem);
    write_text(other_key_path, okey_pem);
    write_text(junk_path, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n");

    gnutls_certificate_credentials_t cred = NULL;
    char why[512];
    CHECK_EQ_INT(macula__tls_server_credentials(NULL, NULL, 0, cert_path, key_path, &cred, why, sizeof why), 0);
    CHECK(cred != NULL);
    if (cred)
        gnutls_certificate_free_credentials(cred);
    CHECK_EQ_INT(macula__tls_server_credentials(id, NULL, 0, NULL, NULL, &cred, why, sizeof why), 0);
    gnutls_certificate_free_credentials(cred);

    CHECK_EQ_INT(macula__tls_server_credentials(NULL, NULL, 0, missing, key_path, &cred, why, sizeof why),
                 MACULA_ERR_IO);
    CHECK(strstr(why, "missing.pem") && strstr(why, "No such file"));
    CHECK_EQ_INT(macula__tls_server_credentials(NULL, NULL, 0, junk_path, key_path, &cred, why, sizeof why),
                 MACULA_ERR_TLS);
    CHECK(strstr(why, "junk.pem") && strstr(why, "no readable PEM certificate"));
    CHECK_EQ_INT(macula__tls_server_credentials(NULL, NULL, 0, cert_path, junk_path, &cred, why, sizeof why),
                 MACULA_ERR_TLS);
    CHECK(strstr(why, "junk.pem") && strstr(why, "private key"));
    CHECK_EQ_INT(macula__tls_server_credentials(NULL, NULL, 0, cert_path, other_key_path, &cred, why, sizeof why),
                 MACULA_ERR_TLS);
    CHECK(strstr(why, "does not match"));
    CHECK_EQ_INT(macula__tls_server_credentials(NULL, NULL, 0, cert_path, NULL, &cred, why, sizeof why),
                 MACULA_ERR_INVALID_ARG);
    CHECK(why[0] != 0);
    CHECK_EQ_INT(macula__tls_server_credentials(NULL, NULL, 0, NULL, NULL, &cred, why, sizeof why),
                 MACULA_ERR_INVALID_ARG);
    const char *bad[] = {"bad name!"};
    CHECK_EQ_INT(macula__tls_server_credentials(id, bad, 1, NULL, NULL, &cred, why, sizeof why),
                 MACULA_ERR_INVALID_ARG);
    CHECK(strstr(why, "SAN"));

    unlink(cert_path);
    unlink(key_path);
    unlink(other_key_path);
    unlink(junk_path);
    macula_free(cert_pem);
    macula_free(key_pem);
    macula_free(ocert_pem);
    macula_free(okey_pem);
    macula_identity_free(id);
    macula_identity_free(other);
}

/* --- the peer check in real TLS 1.3 handshakes over memory --- */

#define PIPE_CAP (256 * 1024)
struct pipe {
    unsigned char buf[PIPE_CAP];
    size_t len;
};

struct end {
    gnutls_session_t session;
    struct pipe *in, *out;
};

static ssize_t pipe_push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
    struct end *e = ptr;
    if (len > PIPE_CAP - e->out->len) {
        gnutls_transport_set_errno(e->session, ENOBUFS);
        return -1;
    }
    memcpy(e->out->buf + e->out->len, data, len);
    e->out->len += len;
    return (ssize_t)len;
}

static ssize_t pipe_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
    struct end *e = ptr;
    if (e->in->len == 0) {
        gnutls_transport_set_errno(e->session, EAGAIN);
        return -1;
    }
    size_t n = len < e->in->len ? len : e->in->len;
    memcpy(data, e->in->buf, n);
    memmove(e->in->buf, e->in->buf + n, e->in->len - n);
    e->in->len -= n;
    return (ssize_t)n;
}

struct check_ctx {
    macula_quic_verify mode;
    const uint8_t *pin;
    const char *server_name;
    int called, rc, have_key;
    uint8_t key[32];
    char why[512];
};

static int verify_cb(gnutls_session_t session)
{
    struct check_ctx *ctx = gnutls_session_get_ptr(session);
    ctx->called++;
    ctx->rc = macula__tls_check_peer(session, ctx->mode, ctx->pin, ctx->server_name, ctx->key, &ctx->have_key,
                                     ctx->why, sizeof ctx->why);
    return ctx->rc == 0 ? 0 : -1;
}

static void setup_end(struct end *e, unsigned flags, gnutls_certificate_credentials_t cred)
{
    if (gnutls_init(&e->session, flags | GNUTLS_NONBLOCK) < 0 ||
        gnutls_priority_set_direct(e->session, "NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL) < 0 ||
        gnutls_credentials_set(e->session, GNUTLS_CRD_CERTIFICATE, cred) < 0)
        exit(2);
    gnutls_transport_set_ptr(e->session, e);
    gnutls_transport_set_push_function(e->session, pipe_push);
    gnutls_transport_set_pull_function(e->session, pipe_pull);
}

/* Runs a TLS 1.3 handshake between a server with `scred` and a client whose
 * certificate check is `ctx`; returns 0 when both ends completed. */
static int handshake(gnutls_certificate_credentials_t scred, gnutls_certificate_credentials_t ccred,
                     struct check_ctx *ctx)
{
    static struct pipe c2s, s2c;
    c2s.len = s2c.len = 0;
    struct end server = {NULL, &c2s, &s2c}, client = {NULL, &s2c, &c2s};
    setup_end(&server, GNUTLS_SERVER, scred);
    setup_end(&client, GNUTLS_CLIENT, ccred);
    gnutls_session_set_ptr(client.session, ctx);
    gnutls_certificate_set_verify_function(ccred, verify_cb);
    int c_done = 0, s_done = 0, failed = 0;
    for (int round = 0; round < 50 && !(c_done && s_done) && !failed; round++) {
        if (!c_done) {
            int r = gnutls_handshake(client.session);
            c_done = r == 0;
            failed |= r < 0 && gnutls_error_is_fatal(r);
        }
        if (!s_done) {
            int r = gnutls_handshake(server.session);
            s_done = r == 0;
            failed |= r < 0 && gnutls_error_is_fatal(r);
        }
    }
    gnutls_deinit(client.session);
    gnutls_deinit(server.session);
    return c_done && s_done ? 0 : -1;
}

static void test_check_peer_none_and_pin(void)
{
    macula_identity *id = fixed_identity(31), *other = fixed_identity(32);
    REQUIRE(id && other);
    gnutls_certificate_credentials_t scred, ccred;
    char why[256];
    REQUIRE(macula__tls_server_credentials(id, NULL, 0, NULL, NULL, &scred, why, sizeof why) == 0);
    REQUIRE(macula__tls_client_credentials(0, &ccred) == 0);

    struct check_ctx none = {.mode = MACULA_QUIC_VERIFY_NONE};
    CHECK_EQ_INT(handshake(scred, ccred, &none), 0);
    CHECK_EQ_INT(none.called, 1);
    CHECK_EQ_INT(none.rc, 0);
    CHECK_EQ_INT(none.have_key, 1);
    CHECK_MEM(none.key, macula_identity_node_id(id), 32);

    struct check_ctx match = {.mode = MACULA_QUIC_VERIFY_PIN, .pin = macula_identity_node_id(id)};
    CHECK_EQ_INT(handshake(scred, ccred, &match), 0);
    CHECK_EQ_INT(match.rc, 0);
    CHECK_EQ_INT(match.have_key, 1);

    struct check_ctx mismatch = {.mode = MACULA_QUIC_VERIFY_PIN, .pin = macula_identity_node_id(other)};
    CHECK(handshake(scred, ccred, &mismatch) != 0);
    CHECK_EQ_INT(mismatch.rc, MACULA_ERR_PIN_MISMATCH);
    char *found = hex32(macula_identity_node_id(id)), *wanted = hex32(macula_identity_node_id(other));
    CHECK(strstr(mismatch.why, found) != NULL);
    CHECK(strstr(mismatch.why, wanted) != NULL);
    CHECK(strstr(mismatch.why, "not the pinned key") != NULL);
    CHECK_EQ_INT(mismatch.have_key, 1); /* the key found is still reported */
    free(found);
    free(wanted);

    struct check_ctx no_pin = {.mode = MACULA_QUIC_VERIFY_PIN, .pin = NULL};
    CHECK(handshake(scred, ccred, &no_pin) != 0);
    CHECK_EQ_INT(no_pin.rc, MACULA_ERR_INVALID_ARG);

    /* PKI with the system store: a self-signed identity is not trusted. */
    gnutls_certificate_credentials_t sys;
    REQUIRE(macula__tls_client_credentials(1, &sys) == 0);
    struct check_ctx pki = {.mode = MACULA_QUIC_VERIFY_PKI, .server_name = "localhost"};
    CHECK(handshake(scred, sys, &pki) != 0);
    CHECK_EQ_INT(pki.rc, MACULA_ERR_TLS);
    CHECK(strstr(pki.why, "rejected") != NULL);
    gnutls_certificate_free_credentials(sys);

    gnutls_certificate_free_credentials(scred);
    gnutls_certificate_free_credentials(ccred);
    macula_identity_free(id);
    macula_identity_free(other);
}

/* A CA-issued ECDSA server: PKI accepts the right host name and rejects
 * another with a reason; pinning refuses it as not Ed25519. */
static void test_check_peer_pki_and_non_ed25519(void)
{
    struct test_cert ca, leaf;
    REQUIRE(make_ecdsa_cert(&ca, NULL, NULL) == 0);
    REQUIRE(make_ecdsa_cert(&leaf, &ca, "localhost") == 0);
    gnutls_certificate_credentials_t scred, ccred;
    REQUIRE(gnutls_certificate_allocate_credentials(&scred) == 0);
    gnutls_x509_crt_t chain[2] = {leaf.crt, ca.crt};
    REQUIRE(gnutls_certificate_set_x509_key(scred, chain, 2, leaf.key) == 0);
    REQUIRE(macula__tls_client_credentials(1, &ccred) == 0);
    REQUIRE(gnutls_certificate_set_x509_trust(ccred, &ca.crt, 1) == 1);

    struct check_ctx ok = {.mode = MACULA_QUIC_VERIFY_PKI, .server_name = "localhost"};
    CHECK_EQ_INT(handshake(scred, ccred, &ok), 0);
    CHECK_EQ_INT(ok.rc, 0);
    CHECK_EQ_INT(ok.have_key, 0);

    struct check_ctx wrong_name = {.mode = MACULA_QUIC_VERIFY_PKI, .server_name = "other.example"};
    CHECK(handshake(scred, ccred, &wrong_name) != 0);
    CHECK_EQ_INT(wrong_name.rc, MACULA_ERR_TLS);
    CHECK(strstr(wrong_name.why, "rejected") != NULL);
    CHECK(strstr(wrong_name.why, "name") != NULL);

    macula_identity *id = fixed_identity(41);
    REQUIRE(id);
    struct check_ctx pin = {.mode = MACULA_QUIC_VERIFY_PIN, .pin = macula_identity_node_id(id)};
    CHECK(handshake(scred, ccred, &pin) != 0);
    CHECK_EQ_INT(pin.rc, MACULA_ERR_PIN_MISMATCH);
    CHECK(strstr(pin.why, "not Ed25519") != NULL);
    CHECK(strstr(pin.why, "EC") != NULL);

    struct check_ctx none = {.mode = MACULA_QUIC_VERIFY_NONE};
    CHECK_EQ_INT(handshake(scred, ccred, &none), 0);
    CHECK_EQ_INT(none.have_key, 0);

    macula_identity_free(id);
    gnutls_certificate_free_credentials(scred);
    gnutls_certificate_free_credentials(ccred);
    free_test_cert(&leaf);
    free_test_cert(&ca);
}

/* Server credentials from the PEM files `macula key cert` writes serve a
 * handshake that a pinned client accepts. */
static void test_pem_files_serve_pinned_handshake(void)
{
    macula_identity *id = fixed_identity(51);
    REQUIRE(id);
    char cert_path[256], key_path[256];
    tmp_path(cert_path, sizeof cert_path, "serve-cert.pem");
    tmp_path(key_path, sizeof key_path, "serve-key.pem");
    char *cert_pem, *key_pem;
    REQUIRE(macula_quic_make_cert_pem(id, NULL, 0, &cert_pem, &key_pem) == 0);
    write_text(cert_path, cert_pem);
    write_text(key_path, key_pem);
    gnutls_certificate_credentials_t scred, ccred;
    char why[256];
    REQUIRE(macula__tls_server_credentials(NULL, NULL, 0, cert_path, key_path, &scred, why, sizeof why) == 0);
    REQUIRE(macula__tls_client_credentials(0, &ccred) == 0);
    struct check_ctx pin = {.mode = MACULA_QUIC_VERIFY_PIN, .pin = macula_identity_node_id(id)};
    CHECK_EQ_INT(handshake(scred, ccred, &pin), 0);
    CHECK_EQ_INT(pin.rc, 0);
    gnutls_certificate_free_credentials(scred);
    gnutls_certificate_free_credentials(ccred);
    unlink(cert_path);
    unlink(key_path);
    macula_free(cert_pem);
    macula_free(key_pem);
    macula_identity_free(id);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_cert_fields);
    RUN(test_self_signature_verifies);
    RUN(test_ed25519_key_cache);
    RUN(test_bad_sans);
    RUN(test_pem_roundtrip);
    RUN(test_ed25519_key_of_other_certs);
    RUN(test_server_credentials);
    RUN(test_check_peer_none_and_pin);
    RUN(test_check_peer_pki_and_non_ed25519);
    RUN(test_pem_files_serve_pinned_handshake);
    rmdir(tmpdir);
    return tu_summary();
}
