/* SPDX-License-Identifier: Apache-2.0 */
/* A relay station's answer to the liveness probe of PROTOCOL.md §6.5: a
 * 10.0.0 client CALLs "_macula.ping" on its station every 30 s and drops
 * the link after two unanswered probes; stations answer with an ERROR
 * frame, code 1 (unknown_next_peer), carrying the CALL's call_id. The
 * answer is an ordinary API send (same queue, cap and counters), so a
 * peer that floods probes without reading meets send_queue_cap. */
#include <string.h>

#include "peering/worker_internal.h"

/* A call_id is 16 bytes in the vectors; anything much longer is not a
 * probe worth echoing. */
#define STATION_MAX_CALL_ID 64

/* Bytes or text equal to `want` (a 10.0.0 node sends binaries as bytes;
 * text is accepted too, as a peer may spell it either way). */
static int value_is(const macula_value *v, const char *want)
{
    const uint8_t *b = NULL;
    const char *t = NULL;
    size_t len = 0, wlen = strlen(want);
    if (v && macula_value_get_bytes(v, &b, &len) == 0)
        return len == wlen && memcmp(b, want, wlen) == 0;
    if (v && macula_value_get_text(v, &t, &len) == 0)
        return len == wlen && memcmp(t, want, wlen) == 0;
    return 0;
}

/* The probe's call_id when `f` is one, else NULL. */
static const macula_value *ping_call_id(const macula_frame *f)
{
    const char *type = macula_frame_type(f);
    if (!type || strcmp(type, "call") != 0 ||
        !value_is(macula_frame_get(f, "procedure"), MACULA_STATION_PING_PROCEDURE))
        return NULL;
    const macula_value *id = macula_frame_get(f, "call_id");
    const uint8_t *b = NULL;
    const char *t = NULL;
    size_t len = 0;
    if (id && ((macula_value_get_bytes(id, &b, &len) == 0) || (macula_value_get_text(id, &t, &len) == 0)) &&
        len > 0 && len <= STATION_MAX_CALL_ID)
        return id;
    return NULL;
}

/* ERROR with the field set of the 10.0.0 vectors (`error`, `error_2`). */
static macula_frame *error_frame(const macula__worker *w, const macula_value *call_id, int *err)
{
    macula_frame *e = macula_frame_new("error", err);
    if (!e)
        return NULL;
    macula_value *id = macula_value_clone(call_id);
    int rc = id ? 0 : MACULA_ERR_NOMEM;
    if (rc == 0)
        rc = macula_frame_put_uint(e, "code", MACULA_ERROR_UNKNOWN_NEXT_PEER);
    if (rc == 0)
        rc = macula_frame_put_text(e, "name", macula_error_code_name(MACULA_ERROR_UNKNOWN_NEXT_PEER));
    if (rc == 0)
        rc = macula_frame_put_null(e, "detail");
    if (rc == 0) {
        rc = macula_frame_put(e, "call_id", id);
        id = NULL; /* the frame's, also on failure */
    }
    if (rc == 0)
        rc = macula_frame_put_bytes(e, "reported_by", macula_identity_node_id(w->identity), MACULA_NODE_ID_LEN);
    if (rc == 0)
        rc = macula_frame_put_null(e, "offending_hop");
    if (rc == 0)
        rc = macula_frame_put_bytes(e, "source_route_partial", "", 0);
    macula_value_free(id);
    if (rc != 0) {
        macula_frame_free(e);
        *err = rc;
        return NULL;
    }
    return e;
}

void macula__worker_station_inbound(macula__worker *w, const macula_frame *f)
{
    const macula_value *call_id = ping_call_id(f);
    if (!call_id)
        return;
    int rc = 0;
    uint8_t *wire = NULL;
    size_t len = 0;
    macula_frame *e = error_frame(w, call_id, &rc);
    if (e)
        rc = macula__worker_sign_encode(w, e, &wire, &len);
    if (rc == 0)
        rc = macula__worker_send(w, 0, wire, len); /* takes wire; reports a refusal itself */
    else
        macula__worker_diag(w, "station_ping_unanswered", "error", macula_err_name(rc), (const char *)NULL);
}
