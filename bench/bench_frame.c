/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Frame codec benchmark (issue 2): median microseconds per operation for
 * CONNECT build+sign+encode and decode+verify, PUBLISH with a 150 B and a
 * 4 KiB payload both ways, the CBOR part alone, and libsodium's raw
 * Ed25519 over the very bytes each row signs (the floor each row
 * contains). Each row alternates batches of the operation and of the raw
 * Ed25519 call, and the ratio column is the median of the per-pair
 * ratios, so that load from other processes hits both sides alike.
 * Prints figures only; nothing is asserted.
 * usage: bench_frame [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "macula/frame.h"

static macula_identity *alice;
static uint8_t bob_key[32];
static uint8_t realm[32];

struct row {
    const char *name;
    size_t payload; /* 0 = CONNECT */
    uint8_t *wire;
    size_t wire_len;
    uint8_t *msg; /* domain ++ unsigned CBOR */
    size_t msg_len;
    uint8_t sig[64];
    double ref_build, ref_parse; /* the reference's medians (issue 2) */
};

static macula_frame *build(const struct row *r)
{
    if (!r->payload)
        return macula_frame_connect(alice, bob_key, realm, 1, 3, NULL);
    static uint8_t data[4096];
    /* The 4.3.0 field set (no publisher_sig): the rows compare with the
     * reference's 4.3.0 figures, whose PUBLISH carries one signature. */
    return macula_frame_publish_ex(alice, realm, "sensors/room1/temperature", 25,
                                   macula_value_bytes(data, r->payload), 42, -1, 0,
                                   MACULA_PUBLISH_NO_PUBLISHER_SIG, NULL);
}

static void op_build_sign_encode(void *ctx)
{
    const struct row *r = ctx;
    macula_frame *f = build(r);
    uint8_t *wire;
    size_t len;
    if (!f || macula_frame_sign(f, alice) || macula_frame_encode(f, &wire, &len))
        abort();
    macula_free(wire);
    macula_frame_free(f);
}

static void op_decode_verify(void *ctx)
{
    const struct row *r = ctx;
    macula_frame *f;
    if (macula_frame_decode(r->wire, r->wire_len, &f, NULL, NULL) ||
        macula_frame_verify(f, macula_identity_public_key(alice)))
        abort();
    macula_frame_free(f);
}

static void op_build_encode(void *ctx) /* the codec alone: no signature */
{
    const struct row *r = ctx;
    macula_frame *f = build(r);
    uint8_t *wire;
    size_t len;
    if (!f || macula_frame_put_bytes(f, "signature", r->sig, 64) || macula_frame_encode(f, &wire, &len))
        abort();
    macula_free(wire);
    macula_frame_free(f);
}

static void op_decode_reencode(void *ctx) /* decode + the canonical re-encoding verify needs */
{
    const struct row *r = ctx;
    macula_frame *f;
    if (macula_frame_decode(r->wire, r->wire_len, &f, NULL, NULL))
        abort();
    macula_frame_remove(f, "signature");
    uint8_t *out;
    size_t len;
    if (macula_cbor_encode(macula_frame_map(f), &out, &len))
        abort();
    macula_free(out);
    macula_frame_free(f);
}

static void op_raw_sign(void *ctx)
{
    struct row *r = ctx;
    if (macula_identity_sign(alice, r->msg, r->msg_len, r->sig))
        abort();
}

static void op_raw_verify(void *ctx)
{
    const struct row *r = ctx;
    if (macula_ed25519_verify(macula_identity_public_key(alice), r->msg, r->msg_len, r->sig))
        abort();
}

static void prepare(struct row *r)
{
    macula_frame *f = build(r);
    if (!f || macula_frame_sign(f, alice) || macula_frame_encode(f, &r->wire, &r->wire_len))
        abort();
    macula_frame_remove(f, "signature");
    uint8_t *cbor;
    size_t n;
    if (macula_cbor_encode(macula_frame_map(f), &cbor, &n))
        abort();
    r->msg_len = MACULA_SIGNATURE_DOMAIN_LEN + n;
    r->msg = malloc(r->msg_len);
    memcpy(r->msg, MACULA_SIGNATURE_DOMAIN, MACULA_SIGNATURE_DOMAIN_LEN);
    memcpy(r->msg + MACULA_SIGNATURE_DOMAIN_LEN, cbor, n);
    macula_free(cbor);
    macula_frame_free(f);
    op_raw_sign(r);
}

int main(int argc, char **argv)
{
    int per_batch = argc > 1 && !strcmp(argv[1], "--quick") ? 50 : 500;
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 7 + 1), bob_key[i] = (uint8_t)(255 - i), realm[i] = (uint8_t)(i * 3);
    alice = macula_identity_from_seed(seed, NULL);
    if (!alice)
        return 1;
    struct row rows[] = {
        {"CONNECT", 0, NULL, 0, NULL, 0, {0}, 60, 73},
        {"PUBLISH 150 B", 150, NULL, 0, NULL, 0, {0}, 60, 73},
        {"PUBLISH 4 KiB", 4096, NULL, 0, NULL, 0, {0}, 67, 77},
    };
    printf("macula-c %s frame codec, median us (thread CPU time) per operation (%d batches x %d)\n",
           macula_version(), BENCH_BATCHES, per_batch);
    printf("%-15s %-22s %6s %9s %9s %7s %9s\n", "frame", "operation", "wire B", "ours us", "Ed25519", "ratio",
           "ref us");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct row *r = &rows[i];
        prepare(r);
        double bse, sign, r_bse, dv, verify, r_dv;
        bench_pair(op_build_sign_encode, op_raw_sign, r, per_batch, &bse, &sign, &r_bse);
        bench_pair(op_decode_verify, op_raw_verify, r, per_batch, &dv, &verify, &r_dv);
        double be = bench_median_us(op_build_encode, r, per_batch * 4);
        double dr = bench_median_us(op_decode_reencode, r, per_batch * 4);
        printf("%-15s %-22s %6zu %9.2f %9.2f %6.3fx %9.0f\n", r->name, "build+sign+encode", r->wire_len, bse, sign,
               r_bse, r->ref_build);
        printf("%-15s %-22s %6zu %9.2f %9.2f %6.3fx %9.0f\n", r->name, "decode+verify", r->wire_len, dv, verify,
               r_dv, r->ref_parse);
        printf("%-15s %-22s %6zu %9.2f %9s %7s %9s\n", r->name, "  CBOR: build+encode", r->wire_len, be, "", "", "");
        printf("%-15s %-22s %6zu %9.2f %9s %7s %9s\n", r->name, "  CBOR: decode+re-enc", r->wire_len, dr, "", "", "");
        free(r->msg);
        macula_free(r->wire);
    }
    macula_identity_free(alice);
    return 0;
}
