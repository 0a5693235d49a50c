/* SPDX-License-Identifier: Apache-2.0 */
/* The client's check of the server certificate during the TLS handshake:
 * none, pin (the leaf's key must be a given Ed25519 key) or system PKI. */
#include "quic/tls_cert.h"

#include <stdio.h>
#include <string.h>

#define HEX_KEY_LEN (2 * MACULA_PUBKEY_LEN + 1)

static void key_hex(const uint8_t key[MACULA_PUBKEY_LEN], char out[HEX_KEY_LEN])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < MACULA_PUBKEY_LEN; i++) {
        out[2 * i] = digits[key[i] >> 4];
        out[2 * i + 1] = digits[key[i] & 15];
    }
    out[2 * MACULA_PUBKEY_LEN] = 0;
}

/* "RSA (2048 bits)", "ECDSA-SECP256R1 (256 bits)": what a non-Ed25519
 * leaf carries, for the reason text. */
static void describe_key(const gnutls_datum_t *der, char *buf, size_t len)
{
    snprintf(buf, len, "of an unknown kind");
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return;
    if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) >= 0) {
        unsigned bits = 0;
        int pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
        const char *name = pk >= 0 ? gnutls_pk_get_name((gnutls_pk_algorithm_t)pk) : NULL;
        if (name)
            snprintf(buf, len, "%s (%u bits)", name, bits);
    }
    gnutls_x509_crt_deinit(crt);
}

static int check_pin(const gnutls_datum_t *leaf, int key_rc, const uint8_t leaf_key[MACULA_PUBKEY_LEN],
                     const uint8_t *pin, char *why, size_t why_len)
{
    char want[HEX_KEY_LEN];
    key_hex(pin, want);
    if (key_rc == MACULA_ERR_PIN_MISMATCH) {
        char kind[64];
        describe_key(leaf, kind, sizeof kind);
        macula__tls_why(why, why_len, "server certificate key is %s, not Ed25519; expected the pinned Ed25519 key %s",
                kind, want);
        return MACULA_ERR_PIN_MISMATCH;
    }
    if (key_rc != 0) {
        macula__tls_why(why, why_len, "server certificate does not parse; expected the pinned Ed25519 key %s", want);
        return MACULA_ERR_TLS;
    }
    if (memcmp(leaf_key, pin, MACULA_PUBKEY_LEN) != 0) {
        char got[HEX_KEY_LEN];
        key_hex(leaf_key, got);
        macula__tls_why(why, why_len, "server key %s is not the pinned key %s", got, want);
        return MACULA_ERR_PIN_MISMATCH;
    }
    return MACULA_OK;
}

static int check_pki(gnutls_session_t session, const char *server_name, char *why, size_t why_len)
{
    unsigned status = 0;
    int grc = gnutls_certificate_verify_peers3(session, server_name, &status);
    if (grc < 0) {
        macula__tls_why(why, why_len, "cannot verify the server certificate: %s", gnutls_strerror(grc));
        return MACULA_ERR_TLS;
    }
    if (status == 0)
        return MACULA_OK;
    gnutls_datum_t text = {NULL, 0};
    if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) >= 0 && text.data) {
        size_t n = strlen((const char *)text.data);
        while (n && text.data[n - 1] == ' ')
            text.data[--n] = 0;
        macula__tls_why(why, why_len, "server certificate rejected: %s", (const char *)text.data);
        gnutls_free(text.data);
    } else {
        macula__tls_why(why, why_len, "server certificate rejected (status 0x%x)", status);
    }
    return MACULA_ERR_TLS;
}

int macula__tls_check_peer(gnutls_session_t session, macula_quic_verify mode, const uint8_t *pin,
                           const char *server_name, uint8_t peer_key[MACULA_PUBKEY_LEN], int *have_peer_key,
                           char *why, size_t why_len)
{
    macula__tls_why(why, why_len, "%s", "");
    if (have_peer_key)
        *have_peer_key = 0;
    if (!session || (mode == MACULA_QUIC_VERIFY_PIN && !pin))
        return MACULA_ERR_INVALID_ARG;
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(session, &n);
    if (!certs || n == 0) {
        macula__tls_why(why, why_len, "server sent no certificate");
        return MACULA_ERR_TLS;
    }
    uint8_t leaf_key[MACULA_PUBKEY_LEN];
    int key_rc = macula__cert_ed25519_key(&certs[0], leaf_key);
    if (key_rc == 0) {
        if (peer_key)
            memcpy(peer_key, leaf_key, MACULA_PUBKEY_LEN);
        if (have_peer_key)
            *have_peer_key = 1;
    }
    switch (mode) {
    case MACULA_QUIC_VERIFY_NONE:
        return MACULA_OK; /* the caller logs that nothing was checked */
    case MACULA_QUIC_VERIFY_PIN:
        return check_pin(&certs[0], key_rc, leaf_key, pin, why, why_len);
    case MACULA_QUIC_VERIFY_PKI:
        return check_pki(session, server_name, why, why_len);
    }
    macula__tls_why(why, why_len, "unknown verification mode %d", (int)mode);
    return MACULA_ERR_INVALID_ARG;
}
