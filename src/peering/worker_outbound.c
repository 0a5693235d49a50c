/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's outbound side: an ordered queue of encoded frames with one
 * SEND in flight at a time, "would block" backpressure, the API send and
 * signing of the worker's own frames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peering/worker_internal.h"

int macula__worker_sign_encode(macula__worker *w, macula_frame *f, uint8_t **wire, size_t *len)
{
    int rc = macula_frame_sign(f, w->identity);
    if (rc == 0)
        rc = macula_frame_encode(f, wire, len);
    macula_frame_free(f);
    return rc;
}

/* Batches are for many small frames: each SEND costs an action, a QUIC
 * call and its answer, more than copying a few hundred bytes. Large frames
 * go alone (no copy); a batch never exceeds BATCH_MAX. */
#define BATCH_SMALL 4096u
#define BATCH_MAX 32768u

/* Turns the SEND `a` of out_head into one of out_head and the small API
 * frames right behind it, when there are any. */
static void batch(macula__worker *w, macula__worker_action *a)
{
    worker_out *o = w->out_head;
    if (o->kind != OUT_API || o->len > BATCH_SMALL || !o->next || o->next->kind != OUT_API ||
        o->next->len > BATCH_SMALL)
        return;
    if (!w->batch) {
        w->batch = malloc(BATCH_MAX);
        if (!w->batch)
            return; /* unbatched then */
        w->batch_cap = BATCH_MAX;
    }
    size_t len = 0, n = 0;
    for (; o && o->kind == OUT_API && o->len <= BATCH_SMALL && len + o->len <= w->batch_cap; o = o->next, n++) {
        memcpy(w->batch + len, o->bytes, o->len);
        len += o->len;
    }
    a->data = w->batch;
    a->len = len;
    w->batch_n = n;
}

void macula__worker_flush(macula__worker *w)
{
    if (w->send_in_flight)
        return;
    /* The control stream first; while the HELLO hold lasts only the HELLO
     * itself may go. */
    if (w->send_blocked || !w->out_head || !w->has_stream ||
        (w->ack_hold && w->out_head->kind != OUT_HANDSHAKE)) {
        macula__wstreams_flush(w);
        return;
    }
    macula__worker_action a;
    memset(&a, 0, sizeof a);
    a.type = MACULA__ACT_SEND;
    a.stream_id = w->stream_id;
    a.data = w->out_head->bytes;
    a.len = w->out_head->len;
    w->batch_n = 0;
    batch(w, &a);
    w->send_in_flight = 1;
    w->send_ws = NULL;
    if (macula__worker_push(w, &a) != 0)
        w->send_in_flight = 0;
    else
        macula__wstreams_flush(w); /* FINs that are due */
}

int macula__worker_queue_out(macula__worker *w, worker_out_kind kind, uint8_t *bytes, size_t len)
{
    return macula__worker_queue_out_buf(w, kind, bytes, len, NULL);
}

void macula__worker_release_bytes(uint8_t *bytes, macula__wirebuf *wb)
{
    if (wb)
        macula__wirebuf_unref(wb);
    else
        free(bytes);
}

int macula__worker_out_append(worker_out **head, worker_out **tail, worker_out_kind kind, uint8_t *bytes,
                              size_t len, macula__wirebuf *wb)
{
    worker_out *o = malloc(sizeof *o);
    if (!o) {
        macula__worker_release_bytes(bytes, wb);
        return MACULA_ERR_NOMEM;
    }
    o->next = NULL;
    o->kind = kind;
    o->len = len;
    o->bytes = bytes;
    o->wb = wb;
    if (*tail)
        (*tail)->next = o;
    else
        *head = o;
    *tail = o;
    return 0;
}

int macula__worker_queue_out_buf(macula__worker *w, worker_out_kind kind, uint8_t *bytes, size_t len,
                                 macula__wirebuf *wb)
{
    int rc = macula__worker_out_append(&w->out_head, &w->out_tail, kind, bytes, len, wb);
    if (rc)
        return rc;
    if (kind == OUT_API)
        w->out_api_bytes += len;
    macula__worker_flush(w);
    return 0;
}

static void free_out(worker_out *o)
{
    if (o->wb)
        macula__wirebuf_unref(o->wb);
    else
        free(o->bytes);
    free(o);
}

void macula__worker_drop_outbound(macula__worker *w)
{
    worker_out **link = &w->out_head;
    uint64_t dropped = 0;
    /* The head stays while a SEND of it is in flight: the shell may still
     * be reading its bytes. It is freed with the worker. */
    if (w->send_in_flight && !w->send_ws && *link)
        link = &(*link)->next;
    for (size_t i = 1; i < w->batch_n && w->send_in_flight && !w->send_ws && *link; i++)
        link = &(*link)->next; /* the rest of a batch in flight */
    while (*link) {
        worker_out *o = *link;
        *link = o->next;
        if (o->kind == OUT_API)
            w->out_api_bytes -= o->len;
        free_out(o);
        dropped++;
    }
    w->out_tail = NULL;
    for (worker_out *o = w->out_head; o; o = o->next)
        w->out_tail = o;
    if (dropped) {
        w->frames_dropped += dropped;
        char n[24];
        snprintf(n, sizeof n, "%llu", (unsigned long long)dropped);
        macula__worker_diag(w, "frame_dropped", "reason", "unsent_at_end", "frames", n, (const char *)NULL);
    }
}

uint64_t macula__worker_free_out_chain(macula__worker *w, worker_out *o)
{
    uint64_t n = 0;
    while (o) {
        worker_out *next = o->next;
        if (o->kind == OUT_API)
            w->out_api_bytes -= o->len;
        free_out(o);
        n++;
        o = next;
    }
    return n;
}

void macula__worker_free_outbound(macula__worker *w)
{
    free(w->batch);
    w->batch = NULL;
    w->batch_cap = w->batch_n = 0;
    while (w->out_head) {
        worker_out *o = w->out_head;
        w->out_head = o->next;
        free_out(o);
    }
    w->out_tail = NULL;
    w->out_api_bytes = 0;
}

/* What a failed send means: for our CONNECT / HELLO, that reason;
 * otherwise the peer (or its stream) is gone. */
static void send_failed(macula__worker *w, worker_out_kind kind, int rc)
{
    char detail[64];
    snprintf(detail, sizeof detail, "send failed: %s", macula_err_name(rc));
    if (w->state == MACULA_PEER_HANDSHAKING && kind == OUT_HANDSHAKE)
        macula__worker_end(w, w->is_server ? MACULA_DISC_HELLO_SEND_FAILED : MACULA_DISC_CONNECT_SEND_FAILED, -1, "%s",
                   detail);
    else
        macula__worker_peer_gone(w, detail);
}

void macula__worker_on_send_result(macula__worker *w, uint64_t now, int rc)
{
    if (!w || w->state == MACULA_PEER_ENDED)
        return;
    if (w->send_in_flight && w->send_ws) {
        macula__wstream *s = w->send_ws;
        w->send_in_flight = 0;
        w->send_ws = NULL;
        macula__wstreams_send_result(w, now, s, rc);
        if (w->state != MACULA_PEER_ENDED)
            macula__worker_flush(w);
        macula__worker_replay(w, now);
        return;
    }
    if (!w->send_in_flight || !w->out_head) {
        macula__worker_diag(w, "unexpected_event", "event", "send_result", (const char *)NULL);
        return;
    }
    w->send_in_flight = 0;
    worker_out *o = w->out_head;
    worker_out_kind kind = o->kind;
    if (rc == MACULA_ERR_WOULD_BLOCK) {
        w->send_blocked = 1;
        w->batch_n = 0; /* rebuilt when the transport has room */
        /* A handshake frame that the transport cannot take yet stays first
         * in our queue and goes out in order: the handshake proceeds. */
        if (kind == OUT_HANDSHAKE && w->hs_send_pending)
            macula__worker_handshake_sent(w, now);
        if (w->state != MACULA_PEER_ENDED)
            macula__worker_flush(w); /* other streams are not blocked */
        macula__worker_replay(w, now);
        return;
    }
    if (rc != 0) {
        send_failed(w, kind, rc);
        return;
    }
    /* A batch: the entries after the head went out with it (all API). */
    for (size_t i = 1; i < w->batch_n && o->next; i++) {
        worker_out *b = o->next;
        o->next = b->next;
        if (w->out_tail == b)
            w->out_tail = o;
        w->out_api_bytes -= b->len;
        w->frames_out++;
        w->bytes_out += b->len;
        w->ctl_sent += b->len;
        free_out(b);
    }
    w->batch_n = 0;
    w->out_head = o->next;
    if (!w->out_head)
        w->out_tail = NULL;
    if (kind == OUT_API)
        w->out_api_bytes -= o->len;
    w->frames_out++;
    w->bytes_out += o->len;
    w->ctl_sent += o->len;
    o->next = NULL;
    free_out(o);
    if (kind == OUT_HANDSHAKE && w->is_server && w->ack_hold && !w->ack_hold_offset) {
        /* The HELLO is with the transport: hold the rest until the peer
         * acknowledges its last byte. */
        w->ack_hold_offset = w->ctl_sent;
        macula__worker_action wa;
        memset(&wa, 0, sizeof wa);
        wa.type = MACULA__ACT_WATCH_ACKED;
        wa.stream_id = w->stream_id;
        wa.offset = w->ack_hold_offset;
        macula__worker_push(w, &wa);
    }
    if (kind == OUT_HANDSHAKE && w->hs_send_pending)
        macula__worker_handshake_sent(w, now);
    /* The drain gives the peer its full time to read what we sent before
     * the GOODBYE: when frames queued behind backpressure delay the GOODBYE,
     * the drain runs from the moment the transport takes it (still bounded:
     * if it never does, the deadline armed at close ends the drain). */
    if (kind == OUT_GOODBYE && w->state == MACULA_PEER_DRAINING && w->timer_armed &&
        w->timer_deadline < now + w->drain_timeout_ns)
        macula__worker_arm_timer(w, now + w->drain_timeout_ns);
    if (w->state != MACULA_PEER_ENDED)
        macula__worker_flush(w);
    macula__worker_replay(w, now);
}

void macula__worker_on_send_ready(macula__worker *w, uint64_t now, int64_t stream_id)
{
    (void)now;
    if (!w || w->state == MACULA_PEER_ENDED)
        return;
    if (w->has_stream && stream_id == w->stream_id)
        w->send_blocked = 0;
    else
        macula__wstreams_send_ready(w, stream_id);
    macula__worker_flush(w);
}

void macula__worker_on_stream_acked(macula__worker *w, uint64_t now, int64_t stream_id, uint64_t offset)
{
    (void)now;
    if (!w || w->state == MACULA_PEER_ENDED)
        return;
    if (!w->ack_hold || !w->ack_hold_offset || !w->has_stream || stream_id != w->stream_id) {
        macula__worker_diag(w, "unexpected_event", "event", "stream_acked", (const char *)NULL);
        return;
    }
    if (offset < w->ack_hold_offset)
        return;
    w->ack_hold = 0;
    macula__worker_flush(w);
}

/* An API send refused: counted and reported (takes `wire`). */
static int send_refused(macula__worker *w, int rc, const char *reason, uint8_t *wire, size_t len)
{
    char lenbuf[24];
    snprintf(lenbuf, sizeof lenbuf, "%zu", len);
    free(wire);
    w->frames_dropped++;
    macula__worker_diag(w, "frame_dropped", "reason", reason, "wire_len", lenbuf, (const char *)NULL);
    return rc;
}

int macula__worker_send_check(macula__worker *w, uint8_t *wire, size_t len)
{
    if (!w) {
        free(wire);
        return MACULA_ERR_INVALID_ARG;
    }
    if (w->state == MACULA_PEER_ENDED) {
        free(wire);
        return MACULA_ERR_STALE_HANDLE;
    }
    if (!wire || len == 0) {
        free(wire);
        return MACULA_ERR_INVALID_ARG;
    }
    if (w->state != MACULA_PEER_CONNECTED)
        return send_refused(w, MACULA_ERR_STATE,
                            w->state == MACULA_PEER_DRAINING ? "send_while_draining" : "send_before_connected",
                            wire, len);
    if (len > w->send_queue_cap || w->out_api_bytes > w->send_queue_cap - len)
        return send_refused(w, MACULA_ERR_QUEUE_FULL, "send_queue_full", wire, len);
    return 0;
}

int macula__worker_send(macula__worker *w, uint64_t now, uint8_t *wire, size_t len)
{
    (void)now;
    int rc = macula__worker_send_check(w, wire, len);
    if (rc != 0)
        return rc;
    rc = macula__worker_queue_out(w, OUT_API, wire, len);
    if (rc != 0) /* the bytes are gone already */
        return send_refused(w, rc, "out_of_memory", NULL, len);
    return rc;
}

int macula__worker_send_on(macula__worker *w, uint64_t now, int64_t id, uint8_t *wire, size_t len)
{
    if (id == MACULA_STREAM_CONTROL)
        return macula__worker_send(w, now, wire, len);
    int rc = macula__worker_send_check(w, wire, len);
    if (rc != 0)
        return rc;
    rc = macula__wstreams_send(w, id, wire, len);
    if (rc == MACULA_ERR_STREAM_CLOSED)
        return send_refused(w, rc, "stream_closed", NULL, len);
    if (rc != 0)
        return send_refused(w, rc, "out_of_memory", NULL, len);
    return 0;
}

size_t macula__worker_queued_bytes(const macula__worker *w) { return w ? w->out_api_bytes : 0; }

int macula__worker_send_buf(macula__worker *w, uint64_t now, int64_t id, macula__wirebuf *wb)
{
    (void)now;
    if (!w || !wb) {
        macula__wirebuf_unref(wb);
        return MACULA_ERR_INVALID_ARG;
    }
    size_t len = wb->len;
    int rc = 0;
    if (w->state == MACULA_PEER_ENDED)
        rc = MACULA_ERR_STALE_HANDLE;
    else if (w->state != MACULA_PEER_CONNECTED)
        rc = send_refused(w, MACULA_ERR_STATE,
                          w->state == MACULA_PEER_DRAINING ? "send_while_draining" : "send_before_connected", NULL,
                          len);
    else if (len > w->send_queue_cap || w->out_api_bytes > w->send_queue_cap - len)
        rc = send_refused(w, MACULA_ERR_QUEUE_FULL, "send_queue_full", NULL, len);
    if (rc != 0) {
        macula__wirebuf_unref(wb);
        return rc;
    }
    if (id == MACULA_STREAM_CONTROL) {
        rc = macula__worker_queue_out_buf(w, OUT_API, wb->data, len, wb);
        return rc != 0 ? send_refused(w, rc, "out_of_memory", NULL, len) : 0;
    }
    rc = macula__wstreams_send_buf(w, id, wb->data, len, wb);
    if (rc == MACULA_ERR_STREAM_CLOSED)
        return send_refused(w, rc, "stream_closed", NULL, len);
    return rc != 0 ? send_refused(w, rc, "out_of_memory", NULL, len) : 0;
}
