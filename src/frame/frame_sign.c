/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signatures (PROTOCOL.md §2.6): Ed25519 over "macula-v2-frame\0" followed
 * by the canonical CBOR of the frame without its `signature` entry. The
 * signed bytes are produced straight from the tree with that entry left
 * out (no copy of the frame), into a stack buffer for ordinary frames, so
 * that signing costs little more than the Ed25519 operation itself.
 */
#include <stdlib.h>
#include <string.h>

#include "frame/frame_internal.h"

#define STACK_SIGNING_INPUT 2048

/* Builds domain ++ canonical CBOR (without signature) in `stack` or a
 * malloc'd buffer (*heap). */
static int signing_input(const macula_frame *f, uint8_t *stack, uint8_t **heap, uint8_t **msg, size_t *len)
{
    size_t size;
    int rc = macula__cbor_size_skip(f->map, FRAME_SIGNATURE_KEY, &size);
    if (rc)
        return rc;
    if (size > MACULA_FRAME_MAX_BODY)
        return MACULA_ERR_FRAME_TOO_LARGE;
    size_t total = MACULA_SIGNATURE_DOMAIN_LEN + size;
    uint8_t *buf = stack;
    *heap = NULL;
    if (total > STACK_SIGNING_INPUT) {
        buf = malloc(total);
        if (!buf)
            return MACULA_ERR_NOMEM;
        *heap = buf;
    }
    memcpy(buf, MACULA_SIGNATURE_DOMAIN, MACULA_SIGNATURE_DOMAIN_LEN); /* the literal's NUL is the 16th byte */
    rc = macula__cbor_encode_skip(f->map, FRAME_SIGNATURE_KEY, buf + MACULA_SIGNATURE_DOMAIN_LEN, size);
    if (rc) {
        free(*heap);
        *heap = NULL;
        return rc;
    }
    *msg = buf;
    *len = total;
    return MACULA_OK;
}

int macula_frame_is_signed(const macula_frame *f)
{
    return f && macula__cbor_map_find(f->map, FRAME_SIGNATURE_KEY, sizeof FRAME_SIGNATURE_KEY - 1) >= 0;
}

int macula_frame_sign(macula_frame *f, const macula_identity *id)
{
    if (!f || !id)
        return MACULA_ERR_INVALID_ARG;
    uint8_t stack[STACK_SIGNING_INPUT], *heap, *msg;
    size_t len;
    int rc = signing_input(f, stack, &heap, &msg, &len);
    if (rc)
        return rc;
    uint8_t sig[MACULA_SIGNATURE_LEN];
    rc = macula_identity_sign(id, msg, len, sig);
    free(heap);
    if (rc)
        return rc;
    static macula_value k_signature = MACULA__STATIC_TEXT(FRAME_SIGNATURE_KEY);
    return macula__frame_set(f, &k_signature, macula_value_bytes(sig, sizeof sig));
}

int macula_frame_verify(const macula_frame *f, const uint8_t pubkey[MACULA_PUBKEY_LEN])
{
    if (!f || !pubkey)
        return MACULA_ERR_BAD_FRAME;
    const uint8_t *sig;
    size_t sig_len;
    if (macula_frame_get_bytes(f, FRAME_SIGNATURE_KEY, &sig, &sig_len) != MACULA_OK ||
        sig_len != MACULA_SIGNATURE_LEN)
        return MACULA_ERR_BAD_FRAME;
    uint8_t stack[STACK_SIGNING_INPUT], *heap, *msg;
    size_t len;
    int rc = signing_input(f, stack, &heap, &msg, &len);
    if (rc)
        return rc == MACULA_ERR_NOMEM ? rc : MACULA_ERR_BAD_FRAME;
    rc = macula_ed25519_verify(pubkey, msg, len, sig);
    free(heap);
    return rc == MACULA_OK ? MACULA_OK : (rc == MACULA_ERR_SIGNATURE_INVALID ? rc : MACULA_ERR_CRYPTO);
}
