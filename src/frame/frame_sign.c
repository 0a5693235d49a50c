/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signatures (PROTOCOL.md §2.6, §6.1).
 *
 * Frame signature: Ed25519 over "macula-v2-frame\0" followed by the
 * canonical CBOR of the frame without its `signature` and `publisher_sig`
 * entries (Macula 10 leaves the publisher's signature out, so that a relay
 * can sign a frame that carries someone else's publisher_sig). The signed
 * bytes are produced straight from the tree with those entries left out
 * (no copy of the frame), into a stack buffer for ordinary frames, so that
 * signing costs little more than the Ed25519 operation itself.
 *
 * Publisher signature (PUBLISH/EVENT): Ed25519 by the `publisher` key over
 * "macula-v2-event-pub\0" followed by the canonical CBOR of the map
 * {seq, realm, topic, payload, publisher} taken from the frame; it
 * survives relaying, where the frame signature is replaced.
 */
#include <stdlib.h>
#include <string.h>

#include "frame/frame_internal.h"

#define STACK_SIGNING_INPUT 2048

/* What the frame signature leaves out. */
static const char *const frame_unsigned_keys[] = {FRAME_SIGNATURE_KEY, FRAME_PUBLISHER_SIG_KEY};
#define N_FRAME_UNSIGNED_KEYS (sizeof frame_unsigned_keys / sizeof frame_unsigned_keys[0])

/* Builds domain ++ canonical CBOR of `map` (without the `skip` keys) in
 * `stack` (STACK_SIGNING_INPUT bytes) or a malloc'd buffer (*heap). */
static int build_input(const char *domain, size_t domain_len, const macula_value *map, const char *const *skip,
                       size_t n_skip, uint8_t *stack, uint8_t **heap, uint8_t **msg, size_t *len)
{
    size_t size;
    *heap = NULL;
    int rc = macula__cbor_size_skip(map, skip, n_skip, &size);
    if (rc)
        return rc;
    if (size > MACULA_FRAME_MAX_BODY)
        return MACULA_ERR_FRAME_TOO_LARGE;
    size_t total = domain_len + size;
    uint8_t *buf = stack;
    if (total > STACK_SIGNING_INPUT) {
        buf = malloc(total);
        if (!buf)
            return MACULA_ERR_NOMEM;
        *heap = buf;
    }
    memcpy(buf, domain, domain_len); /* the literal's NUL is the domain's last byte */
    rc = macula__cbor_encode_skip(map, skip, n_skip, buf + domain_len, size);
    if (rc) {
        free(*heap);
        *heap = NULL;
        return rc;
    }
    *msg = buf;
    *len = total;
    return MACULA_OK;
}

static int signing_input(const macula_frame *f, uint8_t *stack, uint8_t **heap, uint8_t **msg, size_t *len)
{
    return build_input(MACULA_SIGNATURE_DOMAIN, MACULA_SIGNATURE_DOMAIN_LEN, f->map, frame_unsigned_keys,
                       N_FRAME_UNSIGNED_KEYS, stack, heap, msg, len);
}

/* Copies a signing input held in stack/heap into a malloc'd buffer. */
static int hand_out(int rc, uint8_t *heap, const uint8_t *msg, size_t len, uint8_t **out, size_t *out_len)
{
    if (rc)
        return rc;
    uint8_t *buf = heap;
    if (!buf) {
        buf = malloc(len);
        if (!buf)
            return MACULA_ERR_NOMEM;
        memcpy(buf, msg, len);
    }
    *out = buf;
    *out_len = len;
    return MACULA_OK;
}

int macula_frame_signing_input(const macula_frame *f, uint8_t **out, size_t *out_len)
{
    if (!f || !out || !out_len)
        return MACULA_ERR_INVALID_ARG;
    uint8_t stack[STACK_SIGNING_INPUT], *heap, *msg = NULL;
    size_t len = 0;
    int rc = signing_input(f, stack, &heap, &msg, &len);
    return hand_out(rc, heap, msg, len, out, out_len);
}

int macula_frame_is_signed(const macula_frame *f)
{
    return f && macula__cbor_map_find(f->map, FRAME_SIGNATURE_KEY, sizeof FRAME_SIGNATURE_KEY - 1) >= 0;
}

static int sign_into(macula_frame *f, const macula_identity *id, const uint8_t *msg, size_t len, macula_value *key)
{
    uint8_t sig[MACULA_SIGNATURE_LEN];
    int rc = macula_identity_sign(id, msg, len, sig);
    if (rc)
        return rc;
    return macula__frame_set(f, key, macula_value_bytes(sig, sizeof sig));
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
    static macula_value k_signature = MACULA__STATIC_TEXT(FRAME_SIGNATURE_KEY);
    rc = sign_into(f, id, msg, len, &k_signature);
    free(heap);
    return rc;
}

/* Ed25519 check with the library's error split: the signature does not
 * match, or the crypto library failed. */
static int check_sig(const uint8_t *pubkey, const uint8_t *msg, size_t len, const uint8_t *sig)
{
    int rc = macula_ed25519_verify(pubkey, msg, len, sig);
    return rc == MACULA_OK ? MACULA_OK : (rc == MACULA_ERR_SIGNATURE_INVALID ? rc : MACULA_ERR_CRYPTO);
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
    rc = check_sig(pubkey, msg, len, sig);
    free(heap);
    return rc;
}

/* --- publisher signature (§6.1) --- */

/* 1 for the frame types that carry a publisher signature. */
static int publisher_frame_type(const macula_frame *f)
{
    const char *type = macula_frame_type(f);
    return type && (!strcmp(type, "publish") || !strcmp(type, "event"));
}

/*
 * The publisher signing input of a PUBLISH/EVENT, and its 32-byte
 * `publisher` key. The five-entry map is a stack node whose items borrow
 * the frame's values (static storage: nothing is freed, nothing copied).
 * BAD_FRAME when the frame is of another type, or a field is missing, or
 * `publisher` is not 32 bytes.
 */
static int publisher_input(const macula_frame *f, const uint8_t **publisher, uint8_t *stack, uint8_t **heap,
                           uint8_t **msg, size_t *len)
{
    /* in canonical order: shorter keys first, "realm" < "topic" */
    static macula_value k_seq = MACULA__STATIC_TEXT("seq"), k_realm = MACULA__STATIC_TEXT("realm"),
                        k_topic = MACULA__STATIC_TEXT("topic"), k_payload = MACULA__STATIC_TEXT("payload"),
                        k_publisher = MACULA__STATIC_TEXT("publisher");
    macula_value *keys[5] = {&k_seq, &k_realm, &k_topic, &k_payload, &k_publisher};
    *heap = NULL;
    if (!publisher_frame_type(f))
        return MACULA_ERR_BAD_FRAME;
    macula_value *items[10];
    for (size_t i = 0; i < 5; i++) {
        long at = macula__cbor_map_find(f->map, (const char *)keys[i]->as.str.data, keys[i]->as.str.len);
        if (at < 0)
            return MACULA_ERR_BAD_FRAME;
        items[2 * i] = keys[i];
        items[2 * i + 1] = f->map->as.c.items[2 * at + 1];
    }
    size_t pk_len;
    if (macula_value_kind(items[9]) != MACULA_KIND_BYTES || macula_value_get_bytes(items[9], publisher, &pk_len) ||
        pk_len != MACULA_PUBKEY_LEN)
        return MACULA_ERR_BAD_FRAME;
    macula_value map = {.kind = MACULA_KIND_MAP, .storage = MACULA__VALUE_STATIC, .as.c = {5, 10, items}};
    int rc = build_input(MACULA_PUBLISHER_SIG_DOMAIN, MACULA_PUBLISHER_SIG_DOMAIN_LEN, &map, NULL, 0, stack, heap,
                         msg, len);
    if (rc && rc != MACULA_ERR_NOMEM)
        rc = MACULA_ERR_BAD_FRAME; /* a payload too deep to encode, or a non-finite float */
    return rc;
}

int macula_frame_publisher_signing_input(const macula_frame *f, uint8_t **out, size_t *out_len)
{
    if (!f || !out || !out_len)
        return MACULA_ERR_INVALID_ARG;
    uint8_t stack[STACK_SIGNING_INPUT], *heap, *msg = NULL;
    const uint8_t *publisher;
    size_t len = 0;
    int rc = publisher_input(f, &publisher, stack, &heap, &msg, &len);
    return hand_out(rc, heap, msg, len, out, out_len);
}

int macula_frame_sign_publisher(macula_frame *f, const macula_identity *id)
{
    if (!f || !id)
        return MACULA_ERR_INVALID_ARG;
    uint8_t stack[STACK_SIGNING_INPUT], *heap, *msg;
    const uint8_t *publisher;
    size_t len;
    int rc = publisher_input(f, &publisher, stack, &heap, &msg, &len);
    if (rc)
        return rc;
    /* a signature by another key than `publisher` could never verify */
    if (memcmp(publisher, macula_identity_public_key(id), MACULA_PUBKEY_LEN) != 0) {
        free(heap);
        return MACULA_ERR_INVALID_ARG;
    }
    static macula_value k_publisher_sig = MACULA__STATIC_TEXT(FRAME_PUBLISHER_SIG_KEY);
    rc = sign_into(f, id, msg, len, &k_publisher_sig);
    free(heap);
    return rc;
}

int macula_frame_verify_publisher(const macula_frame *f)
{
    if (!f || !publisher_frame_type(f))
        return MACULA_ERR_BAD_FRAME;
    const macula_value *sigv = macula_frame_get(f, FRAME_PUBLISHER_SIG_KEY);
    if (!sigv)
        return MACULA_ERR_NO_PUBLISHER_SIG;
    const uint8_t *sig;
    size_t sig_len;
    if (macula_value_kind(sigv) != MACULA_KIND_BYTES || macula_value_get_bytes(sigv, &sig, &sig_len) ||
        sig_len != MACULA_SIGNATURE_LEN)
        return MACULA_ERR_BAD_FRAME;
    uint8_t stack[STACK_SIGNING_INPUT], *heap, *msg;
    const uint8_t *publisher;
    size_t len;
    int rc = publisher_input(f, &publisher, stack, &heap, &msg, &len);
    if (rc)
        return rc;
    rc = check_sig(publisher, msg, len, sig);
    free(heap);
    return rc;
}
