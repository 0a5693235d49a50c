/* SPDX-License-Identifier: Apache-2.0 */
/* The public-key operations of one full peering handshake (both ends), each
 * timed on its own with the same crypto the handshake uses, and their sum:
 * the floor under "CPU per handshake" that no change outside the crypto
 * libraries can remove.
 *
 * One peering handshake with the benchmark rig (macula bench handshake)
 * performs: TLS 1.3 with X25519 (each end one key generation and one
 * shared-secret computation, nettle through GnuTLS), the server's Ed25519
 * CertificateVerify (one GnuTLS sign, one GnuTLS verify), then CONNECT and
 * HELLO signed and verified (libsodium) and GOODBYE signed (the rig closes
 * each peer at once; callgrind counts 3 libsodium signatures and 2
 * verifications per handshake). GnuTLS's client also generates a P-256 key
 * share it does not use when the server picks X25519: printed apart.
 *
 * Times are CPU time of this thread, median of 51 batches (bench_util.h). */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <nettle/curve25519.h>
#include <nettle/ecc-curve.h>
#include <nettle/ecdsa.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "bench_util.h"

struct ctx {
    uint8_t msg[450]; /* about a CONNECT's signed bytes */
    uint8_t tls_msg[130]; /* TLS 1.3 CertificateVerify content: 64 spaces, label, hash */
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES], sig[crypto_sign_BYTES];
    gnutls_privkey_t gpriv;
    gnutls_pubkey_t gpub;
    gnutls_datum_t gsig;
    uint8_t x_sk[CURVE25519_SIZE], x_pk[CURVE25519_SIZE], x_peer[CURVE25519_SIZE], x_out[CURVE25519_SIZE];
    struct ecc_scalar p256_key;
    struct ecc_point p256_pub;
    int failed;
};

static void op_sodium_sign(void *v)
{
    struct ctx *c = v;
    crypto_sign_detached(c->sig, NULL, c->msg, sizeof c->msg, c->sk);
}

static void op_sodium_verify(void *v)
{
    struct ctx *c = v;
    if (crypto_sign_verify_detached(c->sig, c->msg, sizeof c->msg, c->pk) != 0)
        c->failed = 1;
}

static void op_gnutls_sign(void *v)
{
    struct ctx *c = v;
    gnutls_datum_t d = {c->tls_msg, sizeof c->tls_msg}, s;
    if (gnutls_privkey_sign_data2(c->gpriv, GNUTLS_SIGN_EDDSA_ED25519, 0, &d, &s) < 0) {
        c->failed = 1;
        return;
    }
    gnutls_free(s.data);
}

static void op_gnutls_verify(void *v)
{
    struct ctx *c = v;
    gnutls_datum_t d = {c->tls_msg, sizeof c->tls_msg};
    if (gnutls_pubkey_verify_data2(c->gpub, GNUTLS_SIGN_EDDSA_ED25519, 0, &d, &c->gsig) < 0)
        c->failed = 1;
}

static void op_x25519_keygen(void *v)
{
    struct ctx *c = v;
    c->x_sk[0]++;
    curve25519_mul_g(c->x_pk, c->x_sk);
}

static void op_x25519_shared(void *v)
{
    struct ctx *c = v;
    curve25519_mul(c->x_out, c->x_sk, c->x_peer);
}

static void rnd(void *ctx, size_t n, uint8_t *dst)
{
    (void)ctx;
    randombytes_buf(dst, n);
}

static void op_p256_keygen(void *v)
{
    struct ctx *c = v;
    ecdsa_generate_keypair(&c->p256_pub, &c->p256_key, NULL, rnd);
}

int main(void)
{
    if (sodium_init() < 0 || gnutls_global_init() < 0)
        return 1;
    static struct ctx c;
    randombytes_buf(c.msg, sizeof c.msg);
    memset(c.tls_msg, ' ', 64);
    randombytes_buf(c.tls_msg + 64, sizeof c.tls_msg - 64);
    crypto_sign_keypair(c.pk, c.sk);
    crypto_sign_detached(c.sig, NULL, c.msg, sizeof c.msg, c.sk);
    if (gnutls_privkey_init(&c.gpriv) < 0 ||
        gnutls_privkey_generate(c.gpriv, GNUTLS_PK_EDDSA_ED25519, 256, 0) < 0 || gnutls_pubkey_init(&c.gpub) < 0 ||
        gnutls_pubkey_import_privkey(c.gpub, c.gpriv, 0, 0) < 0)
        return 1;
    gnutls_datum_t d = {c.tls_msg, sizeof c.tls_msg};
    if (gnutls_privkey_sign_data2(c.gpriv, GNUTLS_SIGN_EDDSA_ED25519, 0, &d, &c.gsig) < 0)
        return 1;
    randombytes_buf(c.x_sk, sizeof c.x_sk);
    randombytes_buf(c.x_peer, sizeof c.x_peer);
    curve25519_mul_g(c.x_peer, c.x_peer); /* a valid public key */
    ecc_point_init(&c.p256_pub, nettle_get_secp_256r1());
    ecc_scalar_init(&c.p256_key, nettle_get_secp_256r1());

    struct {
        const char *name;
        void (*op)(void *);
        int per_handshake;
    } rows[] = {
        {"Ed25519 sign, libsodium (CONNECT, HELLO, GOODBYE)", op_sodium_sign, 3},
        {"Ed25519 verify, libsodium (CONNECT, HELLO)", op_sodium_verify, 2},
        {"Ed25519 sign, GnuTLS (CertificateVerify)", op_gnutls_sign, 1},
        {"Ed25519 verify, GnuTLS (CertificateVerify)", op_gnutls_verify, 1},
        {"X25519 key generation, nettle", op_x25519_keygen, 2},
        {"X25519 shared secret, nettle", op_x25519_shared, 2},
    };
    double floor_us = 0, sig_us = 0;
    printf("%-52s %10s %6s %12s\n", "operation", "us each", "count", "us/handshake");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double us = bench_median_us(rows[i].op, &c, 200);
        printf("%-52s %10.1f %6d %12.1f\n", rows[i].name, us, rows[i].per_handshake, us * rows[i].per_handshake);
        floor_us += us * rows[i].per_handshake;
        if (i < 4)
            sig_us += us * rows[i].per_handshake;
    }
    double p256 = bench_median_us(op_p256_keygen, &c, 100);
    printf("%-52s %10.1f\n", "signatures (Ed25519 signs + verifies) per handshake", sig_us);
    printf("%-52s %10.1f\n", "public-key floor per handshake (both ends)", floor_us);
    printf("%-52s %10.1f %6d %12.1f\n", "P-256 key share, GnuTLS client (unused), nettle", p256, 1, p256);
    ecc_point_clear(&c.p256_pub);
    ecc_scalar_clear(&c.p256_key);
    gnutls_free(c.gsig.data);
    gnutls_pubkey_deinit(c.gpub);
    gnutls_privkey_deinit(c.gpriv);
    gnutls_global_deinit();
    if (c.failed)
        fprintf(stderr, "a verification failed\n");
    return c.failed;
}
