/* SPDX-License-Identifier: Apache-2.0 */
/* Constructors with the reference's exact field sets (PROTOCOL.md §2.5;
 * checked field by field against the vectors): CONNECT, HELLO, GOODBYE
 * and PUBLISH (with Macula 10's publisher_sig, §6.1, by default). Fields
 * are stored in canonical order. */
#include <stdlib.h>
#include <string.h>

#include "frame/frame_internal.h"

static macula_value k_node_id = MACULA__STATIC_TEXT("node_id"),
                    k_station_id = MACULA__STATIC_TEXT("station_id"),
                    k_realms = MACULA__STATIC_TEXT("realms"),
                    k_addresses = MACULA__STATIC_TEXT("addresses"),
                    k_site = MACULA__STATIC_TEXT("site"),
                    k_puzzle_evidence = MACULA__STATIC_TEXT("puzzle_evidence"),
                    k_endorsements = MACULA__STATIC_TEXT("endorsements"),
                    k_accepted = MACULA__STATIC_TEXT("accepted"),
                    k_refusal_code = MACULA__STATIC_TEXT("refusal_code"),
                    k_negotiated_capabilities = MACULA__STATIC_TEXT("negotiated_capabilities"),
                    k_reason = MACULA__STATIC_TEXT("reason"),
                    k_detail = MACULA__STATIC_TEXT("detail"),
                    k_payload = MACULA__STATIC_TEXT("payload"),
                    k_seq = MACULA__STATIC_TEXT("seq"),
                    k_topic = MACULA__STATIC_TEXT("topic"),
                    k_ttl_ms = MACULA__STATIC_TEXT("ttl_ms"),
                    k_publisher = MACULA__STATIC_TEXT("publisher"),
                    k_published_at_ms = MACULA__STATIC_TEXT("published_at_ms");

static macula_value *realm_array(const uint8_t *realms, size_t n)
{
    macula_value *a = macula_value_array();
    for (size_t i = 0; a && i < n; i++) {
        if (macula_value_array_append(a, macula_value_bytes(realms + i * MACULA_REALM_LEN, MACULA_REALM_LEN))) {
            macula_value_free(a);
            return NULL;
        }
    }
    return a;
}

/* Header plus the fields CONNECT and HELLO share. */
static macula_frame *handshake_frame(const char *type, const macula_identity *id, const uint8_t *station_id,
                                     const uint8_t *realms, size_t n_realms, uint64_t capabilities, int *rc)
{
    if (!id || (n_realms && !realms) || n_realms > SIZE_MAX / MACULA_REALM_LEN) {
        *rc = MACULA_ERR_INVALID_ARG;
        return NULL;
    }
    macula_frame *f = macula__frame_new_header(type, capabilities, rc);
    if (!f)
        return NULL;
    const uint8_t *pk = macula_identity_public_key(id);
    *rc = macula__frame_append(f, &k_node_id, macula_value_bytes(pk, MACULA_PUBKEY_LEN));
    if (!*rc)
        *rc = macula__frame_append(f, &k_station_id,
                                   macula_value_bytes(station_id ? station_id : pk, MACULA_PUBKEY_LEN));
    if (!*rc)
        *rc = macula__frame_append(f, &k_realms, realm_array(realms, n_realms));
    if (!*rc)
        *rc = macula__frame_append(f, &k_addresses, macula_value_array());
    if (!*rc)
        *rc = macula__frame_append(f, &k_site, macula__cbor_null());
    if (*rc) {
        macula_frame_free(f);
        return NULL;
    }
    return f;
}

static macula_frame *finish(macula_frame *f, int rc, int *err)
{
    if (rc) {
        macula_frame_free(f);
        frame_set_err(err, rc);
        return NULL;
    }
    macula__frame_sort(f);
    frame_set_err(err, MACULA_OK);
    return f;
}

macula_frame *macula_frame_connect(const macula_identity *id, const uint8_t *station_id, const uint8_t *realms,
                                   size_t n_realms, uint64_t capabilities, int *err)
{
    int rc;
    macula_frame *f = handshake_frame("connect", id, station_id, realms, n_realms, capabilities, &rc);
    if (!f) {
        frame_set_err(err, rc);
        return NULL;
    }
    uint8_t evidence[MACULA_PUZZLE_EVIDENCE_LEN];
    macula_identity_puzzle_evidence(id, evidence);
    rc = macula__frame_append(f, &k_puzzle_evidence, macula_value_bytes(evidence, sizeof evidence));
    if (!rc)
        rc = macula__frame_append(f, &k_endorsements, macula_value_array());
    return finish(f, rc, err);
}

macula_frame *macula_frame_hello(const macula_identity *id, const uint8_t *station_id, const uint8_t *realms,
                                 size_t n_realms, uint64_t capabilities, int accepted, int64_t refusal_code,
                                 uint64_t negotiated_capabilities, int *err)
{
    int rc;
    macula_frame *f = handshake_frame("hello", id, station_id, realms, n_realms, capabilities, &rc);
    if (!f) {
        frame_set_err(err, rc);
        return NULL;
    }
    rc = macula__frame_append(f, &k_accepted, macula_value_bool(accepted));
    if (!rc)
        rc = macula__frame_append(f, &k_refusal_code, refusal_code < 0 ? macula__cbor_null()
                                                                      : macula_value_uint((uint64_t)refusal_code));
    if (!rc)
        rc = macula__frame_append(f, &k_negotiated_capabilities, macula_value_uint(negotiated_capabilities));
    return finish(f, rc, err);
}

macula_frame *macula_frame_goodbye(const char *reason, const uint8_t *detail, size_t detail_len, int *err)
{
    if (!reason || (detail_len && !detail)) {
        frame_set_err(err, MACULA_ERR_INVALID_ARG);
        return NULL;
    }
    macula_frame *f = macula_frame_new("goodbye", err);
    if (!f)
        return NULL;
    int rc = macula__frame_append(f, &k_reason, macula_value_text_cstr(reason));
    if (!rc)
        rc = macula__frame_append(f, &k_detail, detail ? macula_value_bytes(detail, detail_len) : macula__cbor_null());
    return finish(f, rc, err);
}

macula_frame *macula_frame_publish(const macula_identity *id, const uint8_t *realm, const void *topic,
                                   size_t topic_len, macula_value *payload, uint64_t seq, int64_t ttl_ms,
                                   uint64_t published_at_ms, int *err)
{
    return macula_frame_publish_ex(id, realm, topic, topic_len, payload, seq, ttl_ms, published_at_ms, 0, err);
}

macula_frame *macula_frame_publish_ex(const macula_identity *id, const uint8_t *realm, const void *topic,
                                      size_t topic_len, macula_value *payload, uint64_t seq, int64_t ttl_ms,
                                      uint64_t published_at_ms, unsigned flags, int *err)
{
    if (!id || (topic_len && !topic) || (flags & ~MACULA_PUBLISH_NO_PUBLISHER_SIG)) {
        macula_value_free(payload);
        frame_set_err(err, MACULA_ERR_INVALID_ARG);
        return NULL;
    }
    macula_frame *f = macula_frame_new("publish", err);
    if (!f) {
        macula_value_free(payload);
        return NULL;
    }
    int rc = MACULA_OK;
    if (realm)
        rc = macula_frame_put_bytes(f, "realm", realm, MACULA_REALM_LEN); /* replaces the header's null */
    if (!rc && !published_at_ms)
        rc = macula_frame_get_uint(f, "sent_at_ms", &published_at_ms);
    if (!rc) {
        rc = macula__frame_append(f, &k_payload, payload ? payload : macula__cbor_null());
        payload = NULL;
    }
    if (!rc)
        rc = macula__frame_append(f, &k_seq, macula_value_uint(seq));
    if (!rc)
        rc = macula__frame_append(f, &k_topic, macula_value_bytes(topic, topic_len));
    if (!rc)
        rc = macula__frame_append(f, &k_ttl_ms, ttl_ms < 0 ? macula__cbor_null() : macula_value_uint((uint64_t)ttl_ms));
    if (!rc)
        rc = macula__frame_append(f, &k_publisher,
                                  macula_value_bytes(macula_identity_public_key(id), MACULA_PUBKEY_LEN));
    if (!rc)
        rc = macula__frame_append(f, &k_published_at_ms, macula_value_uint(published_at_ms));
    /* Macula 10 clients sign every PUBLISH's publisher fields by default */
    if (!rc && !(flags & MACULA_PUBLISH_NO_PUBLISHER_SIG))
        rc = macula_frame_sign_publisher(f, id);
    macula_value_free(payload);
    return finish(f, rc, err);
}
