/* SPDX-License-Identifier: Apache-2.0 */
/* The CONNECT/HELLO handshake of PROTOCOL.md §4: building and signing our
 * handshake frame, checking the peer's (signature against its own node_id,
 * field shapes, the pinned node id), and the transition to CONNECTED. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peering/worker_internal.h"

/* What a verified CONNECT / HELLO tells about the peer. */
typedef struct peer_hs {
    uint8_t node_id[MACULA_NODE_ID_LEN];
    uint8_t station_id[MACULA_NODE_ID_LEN];
    uint64_t capabilities;
    const macula_value *realms; /* array (borrowed from the frame) or NULL */
} peer_hs;

/* Checks a handshake frame: node_id is 32 bytes, the signature verifies
 * against it, station_id / realms / capabilities have the shapes of §2.5.
 * Absent optional fields take neutral values (station_id = node_id, no
 * realms, capabilities 0); present ones must be right. Returns 0, or -1
 * with `why` set (static text). */
static int check_peer_frame(const macula_frame *f, peer_hs *out, const char **why)
{
    const uint8_t *b;
    size_t len;
    if (macula_frame_get_bytes(f, "node_id", &b, &len) != 0 || len != MACULA_NODE_ID_LEN) {
        *why = "node_id is not a 32-byte string";
        return -1;
    }
    memcpy(out->node_id, b, MACULA_NODE_ID_LEN);
    int rc = macula_frame_verify(f, out->node_id);
    if (rc == MACULA_ERR_BAD_FRAME) {
        *why = "no 64-byte signature";
        return -1;
    }
    if (rc != 0) {
        *why = "signature does not verify against node_id";
        return -1;
    }

    const macula_value *v = macula_frame_get(f, "station_id");
    if (!v || macula_value_kind(v) == MACULA_KIND_NULL) {
        memcpy(out->station_id, out->node_id, MACULA_NODE_ID_LEN);
    } else if (macula_value_get_bytes(v, &b, &len) == 0 && macula_value_kind(v) == MACULA_KIND_BYTES &&
               len == MACULA_NODE_ID_LEN) {
        memcpy(out->station_id, b, MACULA_NODE_ID_LEN);
    } else {
        *why = "station_id is not a 32-byte string";
        return -1;
    }

    out->realms = NULL;
    v = macula_frame_get(f, "realms");
    if (v && macula_value_kind(v) != MACULA_KIND_NULL) {
        if (macula_value_kind(v) != MACULA_KIND_ARRAY) {
            *why = "realms is not an array";
            return -1;
        }
        size_t n = macula_value_count(v);
        if (n > MACULA__WORKER_MAX_REALMS) {
            *why = "too many realms";
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            const macula_value *r = macula_value_array_at(v, i);
            if (!r || macula_value_kind(r) != MACULA_KIND_BYTES || macula_value_get_bytes(r, &b, &len) != 0 ||
                len != MACULA_REALM_LEN) {
                *why = "a realm is not a 32-byte string";
                return -1;
            }
        }
        out->realms = v;
    }

    out->capabilities = 0;
    v = macula_frame_get(f, "capabilities");
    if (v && macula_value_get_uint(v, &out->capabilities) != 0) {
        *why = "capabilities is not an unsigned integer";
        return -1;
    }
    return 0;
}

/* Applies expected_node_id; ends the worker on a mismatch. */
static int check_expected(macula__worker *w, const peer_hs *p)
{
    if (!w->has_expected || memcmp(p->node_id, w->expected_node_id, MACULA_NODE_ID_LEN) == 0)
        return 0;
    char got[2 * MACULA_NODE_ID_LEN + 1], want[2 * MACULA_NODE_ID_LEN + 1];
    macula__worker_end(w, MACULA_DISC_PEER_IDENTITY_MISMATCH, -1, "peer node id %s is not the expected %s",
               macula__worker_hex(p->node_id, MACULA_NODE_ID_LEN, got, sizeof got),
               macula__worker_hex(w->expected_node_id, MACULA_NODE_ID_LEN, want, sizeof want));
    return -1;
}

/* Records the peer (node id, station id, capabilities, realms). */
static int record_peer(macula__worker *w, const peer_hs *p)
{
    size_t n = p->realms ? macula_value_count(p->realms) : 0;
    uint8_t *realms = NULL;
    if (n) {
        realms = malloc(n * MACULA_REALM_LEN);
        if (!realms) {
            macula__worker_end(w, MACULA_DISC_INTERNAL_ERROR, -1, "out of memory recording the peer's realms");
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            const uint8_t *b;
            size_t len;
            macula_value_get_bytes(macula_value_array_at(p->realms, i), &b, &len);
            memcpy(realms + i * MACULA_REALM_LEN, b, MACULA_REALM_LEN);
        }
    }
    free(w->peer_realms);
    w->peer_realms = realms;
    w->n_peer_realms = n;
    w->has_peer = 1;
    memcpy(w->peer_node_id, p->node_id, MACULA_NODE_ID_LEN);
    memcpy(w->peer_station_id, p->station_id, MACULA_NODE_ID_LEN);
    w->peer_capabilities = p->capabilities;
    return 0;
}

/* Signs, encodes and queues our CONNECT / HELLO; inbound processing holds
 * until it has been handed to the transport (macula__worker_handshake_sent). */
static int queue_handshake_frame(macula__worker *w, macula_frame *f, int err, worker_out_kind kind)
{
    uint8_t *wire = NULL;
    size_t len = 0;
    if (!f) {
        macula__worker_end(w, MACULA_DISC_INTERNAL_ERROR, -1, "cannot build the handshake frame: %s", macula_err_name(err));
        return -1;
    }
    int rc = macula__worker_sign_encode(w, f, &wire, &len);
    if (rc != 0) {
        macula__worker_end(w, MACULA_DISC_INTERNAL_ERROR, -1, "cannot sign the handshake frame: %s", macula_err_name(rc));
        return -1;
    }
    if (kind == OUT_HANDSHAKE)
        w->hs_send_pending = 1;
    rc = macula__worker_queue_out(w, kind, wire, len);
    if (rc != 0) {
        w->hs_send_pending = 0;
        macula__worker_end(w, MACULA_DISC_INTERNAL_ERROR, -1, "out of memory queueing the handshake frame");
        return -1;
    }
    return 0;
}

void macula__worker_send_connect(macula__worker *w)
{
    int err = 0;
    macula_frame *f =
        macula_frame_connect(w->identity, w->station_id, w->realms, w->n_realms, w->capabilities, &err);
    queue_handshake_frame(w, f, err, OUT_HANDSHAKE);
}

void macula__worker_become_connected(macula__worker *w)
{
    w->state = MACULA_PEER_CONNECTED;
    macula__worker_cancel_timer(w);
    if (macula__worker_emit_event(w, MACULA_EVENT_CONNECTED, 0, NULL, 0) != 0)
        return;
    if (w->has_accept_owner && macula__worker_emit_event(w, MACULA_EVENT_HANDSHAKE_COMPLETE, 1, NULL, 0) != 0)
        return;
    /* Streams the peer opened while we shook hands: announce, deliver. */
    macula__wstreams_connected(w, 0);
}

void macula__worker_handshake_sent(macula__worker *w, uint64_t now)
{
    w->hs_send_pending = 0;
    if (w->is_server && w->state == MACULA_PEER_HANDSHAKING && w->has_peer)
        macula__worker_become_connected(w);
    /* Frames that came right after CONNECT / HELLO are still in the
     * parser: deliver them now, after CONNECTED. */
    macula__worker_pump(w, now);
}

/* Server: answer a CONNECT with HELLO accepted = "false" and drain. */
static void refuse(macula__worker *w, uint64_t now, int64_t code)
{
    int err = 0;
    macula_frame *f = macula_frame_hello(w->identity, w->station_id, w->realms, w->n_realms, w->capabilities, 0,
                                         code, w->capabilities, &err);
    w->state = MACULA_PEER_DRAINING;
    w->refusing = 1;
    w->refusal_code = code;
    if (queue_handshake_frame(w, f, err, OUT_GOODBYE) != 0)
        return;
    macula__worker_arm_timer(w, now + w->drain_timeout_ns);
}

static void on_connect(macula__worker *w, uint64_t now, const macula_frame *f, size_t wire_len)
{
    peer_hs p;
    const char *why = "";
    if (check_peer_frame(f, &p, &why) != 0) {
        macula__worker_end(w, MACULA_DISC_CONNECT_VERIFY_FAILED, -1, "%s", why);
        return;
    }
    if (check_expected(w, &p) != 0)
        return;
    w->frames_in++;
    w->bytes_in += wire_len;
    int64_t code = -1;
    if (w->admit && w->admit(w->admit_user, p.node_id, &code) != 0) {
        char hex[2 * MACULA_NODE_ID_LEN + 1];
        char codebuf[24];
        snprintf(codebuf, sizeof codebuf, "%lld", (long long)code);
        macula__worker_diag(w, "peer_refused", "peer", macula__worker_hex(p.node_id, MACULA_NODE_ID_LEN, hex, sizeof hex),
                    "refusal_code", codebuf, (const char *)NULL);
        refuse(w, now, code < 0 ? -1 : code);
        return;
    }
    if (record_peer(w, &p) != 0)
        return;
    int err = 0;
    macula_frame *hello = macula_frame_hello(w->identity, w->station_id, w->realms, w->n_realms, w->capabilities,
                                             1, -1, w->capabilities, &err);
    w->ack_hold = 1; /* PROTOCOL.md §6.5: nothing may share the HELLO's flight */
    queue_handshake_frame(w, hello, err, OUT_HANDSHAKE);
}

static void on_hello(macula__worker *w, const macula_frame *f, size_t wire_len)
{
    peer_hs p;
    const char *why = "";
    if (check_peer_frame(f, &p, &why) != 0) {
        macula__worker_end(w, MACULA_DISC_HELLO_VERIFY_FAILED, -1, "%s", why);
        return;
    }
    const char *acc;
    size_t acc_len;
    int accepted;
    if (macula_frame_get_text(f, "accepted", &acc, &acc_len) != 0) {
        macula__worker_end(w, MACULA_DISC_HELLO_VERIFY_FAILED, -1, "accepted is not text");
        return;
    }
    if (acc_len == 4 && memcmp(acc, "true", 4) == 0) {
        accepted = 1;
    } else if (acc_len == 5 && memcmp(acc, "false", 5) == 0) {
        accepted = 0;
    } else {
        macula__worker_end(w, MACULA_DISC_HELLO_VERIFY_FAILED, -1, "accepted is neither \"true\" nor \"false\"");
        return;
    }
    if (check_expected(w, &p) != 0)
        return;
    w->frames_in++;
    w->bytes_in += wire_len;
    if (!accepted) {
        uint64_t code;
        int64_t refusal = -1;
        if (macula_frame_get_uint(f, "refusal_code", &code) == 0 && code <= (uint64_t)INT64_MAX)
            refusal = (int64_t)code;
        macula__worker_end(w, MACULA_DISC_REFUSED, refusal, "the peer refused the connection (refusal_code %lld)",
                   (long long)refusal);
        return;
    }
    if (record_peer(w, &p) != 0)
        return;
    macula__worker_become_connected(w);
}

void macula__worker_handshake_frame(macula__worker *w, uint64_t now, macula_frame *f, size_t wire_len)
{
    const char *type = macula_frame_type(f);
    const char *mine = w->is_server ? "connect" : "hello";
    const char *theirs = w->is_server ? "hello" : "connect";
    if (type && strcmp(type, mine) == 0) {
        if (w->is_server)
            on_connect(w, now, f, wire_len);
        else
            on_hello(w, f, wire_len);
    } else if (type && strcmp(type, theirs) == 0) {
        macula__worker_end(w, w->is_server ? MACULA_DISC_UNEXPECTED_HELLO_ON_SERVER : MACULA_DISC_UNEXPECTED_CONNECT_ON_CLIENT,
                   -1, "received %s during the handshake", theirs);
    } else {
        char lenbuf[24];
        snprintf(lenbuf, sizeof lenbuf, "%zu", wire_len);
        w->frames_dropped++;
        macula__worker_diag(w, "frame_dropped", "reason", "before_handshake", "frame_type", type ? type : "",
                    "wire_len", lenbuf, (const char *)NULL);
    }
    macula_frame_free(f);
}
