/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenSSL 3 Ed25519 beside libsodium's, for the crypto library choice
 * (issue 2): median microseconds to sign and verify messages of the sizes
 * frames have. Built only when OpenSSL's headers are installed; the
 * library itself does not use OpenSSL.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "bench_util.h"
#include "macula/identity.h"

struct ctx {
    EVP_PKEY *key;
    const macula_identity *id;
    uint8_t msg[4400];
    size_t len;
    uint8_t sig[64];
};

static void ossl_sign(void *p)
{
    struct ctx *c = p;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t sl = 64;
    if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, c->key) != 1 ||
        EVP_DigestSign(md, c->sig, &sl, c->msg, c->len) != 1)
        abort();
    EVP_MD_CTX_free(md);
}

static void ossl_verify(void *p)
{
    struct ctx *c = p;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestVerifyInit(md, NULL, NULL, NULL, c->key) != 1 ||
        EVP_DigestVerify(md, c->sig, 64, c->msg, c->len) != 1)
        abort();
    EVP_MD_CTX_free(md);
}

static void sodium_sign(void *p)
{
    struct ctx *c = p;
    if (macula_identity_sign(c->id, c->msg, c->len, c->sig))
        abort();
}

static void sodium_verify(void *p)
{
    struct ctx *c = p;
    if (macula_ed25519_verify(macula_identity_public_key(c->id), c->msg, c->len, c->sig))
        abort();
}

int main(void)
{
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 7 + 1);
    struct ctx c;
    memset(c.msg, 0x42, sizeof c.msg);
    c.key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    macula_identity *id = macula_identity_from_seed(seed, NULL);
    c.id = id;
    if (!c.key || !id)
        return 1;
    printf("Ed25519, median us (thread CPU time) per operation (%d batches x 500)\n", BENCH_BATCHES);
    printf("%8s %12s %12s %12s %12s\n", "msg B", "sodium sign", "ossl sign", "sodium verif", "ossl verif");
    static const size_t sizes[] = {64, 450, 4300};
    for (size_t i = 0; i < 3; i++) {
        c.len = sizes[i];
        double ss = bench_median_us(sodium_sign, &c, 500);
        double os = bench_median_us(ossl_sign, &c, 500);
        /* both produce the same deterministic signature (RFC 8032) */
        double sv = bench_median_us(sodium_verify, &c, 500);
        double ov = bench_median_us(ossl_verify, &c, 500);
        printf("%8zu %12.2f %12.2f %12.2f %12.2f\n", c.len, ss, os, sv, ov);
    }
    EVP_PKEY_free(c.key);
    macula_identity_free(id);
    return 0;
}
