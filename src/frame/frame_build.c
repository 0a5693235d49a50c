/* Constructors with the reference's exact field sets (PROTOCOL.md §2.5;
 * checked field by field against the vectors): CONNECT, HELLO, GOODBYE
 * and PUBLISH. Fields are stored in canonical order. */
#include <stdlib.h>
#include <string.h>

#include "frame/frame_internal.h"

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
    macula_frame *f = macula_frame_new(type, rc);
    if (!f)
        return NULL;
    const uint8_t *pk = macula_identity_public_key(id);
    *rc = macula_frame_put_uint(f, "capabilities", capabilities);
    if (!*rc)
        *rc = macula__frame_append(f, "node_id", macula_value_bytes(pk, MACULA_PUBKEY_LEN));
    if (!*rc)
        *rc = macula__frame_append(f, "station_id",
                                   macula_value_bytes(station_id ? station_id : pk, MACULA_PUBKEY_LEN));
    if (!*rc)
        *rc = macula__frame_append(f, "realms", realm_array(realms, n_realms));
    if (!*rc)
        *rc = macula__frame_append(f, "addresses", macula_value_array());
    if (!*rc)
        *rc = macula__frame_append(f, "site", macula_value_null());
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
    rc = macula__frame_append(f, "puzzle_evidence", macula_value_bytes(evidence, sizeof evidence));
    if (!rc)
        rc = macula__frame_append(f, "endorsements", macula_value_array());
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
    rc = macula__frame_append(f, "accepted", macula_value_bool(accepted));
    if (!rc)
        rc = macula__frame_append(f, "refusal_code", refusal_code < 0 ? macula_value_null()
                                                                      : macula_value_uint((uint64_t)refusal_code));
    if (!rc)
        rc = macula__frame_append(f, "negotiated_capabilities", macula_value_uint(negotiated_capabilities));
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
    int rc = macula__frame_append(f, "reason", macula_value_text_cstr(reason));
    if (!rc)
        rc = macula__frame_append(f, "detail", detail ? macula_value_bytes(detail, detail_len) : macula_value_null());
    return finish(f, rc, err);
}

macula_frame *macula_frame_publish(const macula_identity *id, const uint8_t *realm, const void *topic,
                                   size_t topic_len, macula_value *payload, uint64_t seq, int64_t ttl_ms,
                                   uint64_t published_at_ms, int *err)
{
    if (!id || (topic_len && !topic)) {
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
        rc = macula_frame_put_bytes(f, "realm", realm, MACULA_REALM_LEN);
    if (!rc && !published_at_ms)
        rc = macula_frame_get_uint(f, "sent_at_ms", &published_at_ms);
    if (!rc) {
        rc = macula__frame_append(f, "payload", payload ? payload : macula_value_null());
        payload = NULL;
    }
    if (!rc)
        rc = macula__frame_append(f, "seq", macula_value_uint(seq));
    if (!rc)
        rc = macula__frame_append(f, "topic", macula_value_bytes(topic, topic_len));
    if (!rc)
        rc = macula__frame_append(f, "ttl_ms", ttl_ms < 0 ? macula_value_null() : macula_value_uint((uint64_t)ttl_ms));
    if (!rc)
        rc = macula__frame_append(f, "publisher",
                                  macula_value_bytes(macula_identity_public_key(id), MACULA_PUBKEY_LEN));
    if (!rc)
        rc = macula__frame_append(f, "published_at_ms", macula_value_uint(published_at_ms));
    macula_value_free(payload);
    return finish(f, rc, err);
}
