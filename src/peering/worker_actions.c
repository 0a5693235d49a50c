/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's action queue: pushing actions, diagnostics and events,
 * the timer bookkeeping, and the terminal sequence that ends every worker
 * (produced by poll() from fields, so that it needs no allocation). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame/wire_check.h"
#include "peering/worker_internal.h"

void macula__worker_action_clear(macula__worker_action *a)
{
    if (!a)
        return;
    if (a->type == MACULA__ACT_EVENT && a->event.frame) {
        macula_frame_free(a->event.frame);
        a->event.frame = NULL;
    }
    if (a->type == MACULA__ACT_EVENT && a->event.wire_ref_)
        macula__wirebuf_unref(a->event.wire_ref_);
    free(a->owned_);
    memset(a, 0, sizeof *a);
}

/* Appends a copy of *a to the queue; -1 when out of memory. */
static int append(macula__worker *w, const macula__worker_action *a)
{
    worker_action_node *n = malloc(sizeof *n);
    if (!n)
        return -1;
    n->next = NULL;
    n->action = *a;
    if (w->act_tail)
        w->act_tail->next = n;
    else
        w->act_head = n;
    w->act_tail = n;
    return 0;
}

int macula__worker_push(macula__worker *w, macula__worker_action *a)
{
    if (append(w, a) != 0) {
        if (a->type == MACULA__ACT_EVENT && a->event.type == MACULA_EVENT_FRAME)
            w->frames_dropped++;
        macula__worker_action_clear(a);
        macula__worker_end(w, MACULA_DISC_INTERNAL_ERROR, -1, "out of memory queueing an action");
        return MACULA_ERR_NOMEM;
    }
    return 0;
}

void macula__worker_peer_gone(macula__worker *w, const char *detail)
{
    switch (w->state) {
    case MACULA_PEER_CONNECTING:
        macula__worker_end(w, MACULA_DISC_CONNECT_FAILED, -1, "%s", detail);
        break;
    case MACULA_PEER_AWAITING_START:
    case MACULA_PEER_HANDSHAKING:
        macula__worker_end(w, MACULA_DISC_CLOSED_DURING_HANDSHAKE, -1, "%s", detail);
        break;
    case MACULA_PEER_CONNECTED:
        macula__worker_end(w, MACULA_DISC_PEER_CLOSED, -1, "%s", detail);
        break;
    case MACULA_PEER_DRAINING:
        if (w->refusing) /* the refusal is what happened; the close only follows it */
            macula__worker_end(w, MACULA_DISC_REFUSED, w->refusal_code, "refused the peer; then %s", detail);
        else
            macula__worker_end(w, MACULA_DISC_PEER_CLOSED_DURING_DRAIN, -1, "%s", detail);
        break;
    case MACULA_PEER_ENDED:
        break;
    }
}

void macula__worker_free_actions(macula__worker *w)
{
    worker_action_node *n = w->act_head;
    while (n) {
        worker_action_node *next = n->next;
        macula__worker_action_clear(&n->action);
        free(n);
        n = next;
    }
    w->act_head = w->act_tail = NULL;
}

void macula__worker_diag(macula__worker *w, const char *name, ...)
{
    if (w->state == MACULA_PEER_ENDED && !w->ending)
        return;
    const char *keys[MACULA__WORKER_DIAG_MAX_FIELDS], *vals[MACULA__WORKER_DIAG_MAX_FIELDS];
    size_t n = 0, total = 0;
    keys[n] = "state";
    vals[n] = macula_peer_state_name(w->state);
    total += strlen(vals[n]) + 1;
    n++;
    va_list ap;
    va_start(ap, name);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        if (n < MACULA__WORKER_DIAG_MAX_FIELDS) {
            keys[n] = k;
            vals[n] = v ? v : "";
            total += strlen(vals[n]) + 1;
            n++;
        }
    }
    va_end(ap);

    char *block = malloc(total);
    if (!block)
        return; /* diagnostics are best effort */
    macula__worker_action a;
    memset(&a, 0, sizeof a);
    a.type = MACULA__ACT_DIAG;
    a.diag_name = name;
    a.owned_ = block;
    char *p = block;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(vals[i]) + 1;
        memcpy(p, vals[i], len);
        a.diag_fields[i].key = keys[i];
        a.diag_fields[i].value = p;
        p += len;
    }
    a.n_diag_fields = n;
    /* A diagnostic never ends a worker: skip it rather than fail. */
    if (append(w, &a) != 0)
        free(block);
}

static void fill_event(const macula__worker *w, macula_event *ev, macula_event_type type)
{
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->peer = w->peer;
    ev->detail = "";
    ev->refusal_code = -1;
    if (w->has_peer) {
        ev->has_peer_node_id = 1;
        memcpy(ev->peer_node_id, w->peer_node_id, MACULA_NODE_ID_LEN);
    }
}

int macula__worker_emit_event(macula__worker *w, macula_event_type type, int to_accept_owner, macula_frame *frame,
                      size_t wire_len)
{
    macula__worker_action a;
    memset(&a, 0, sizeof a);
    a.type = MACULA__ACT_EVENT;
    a.to_accept_owner = to_accept_owner;
    fill_event(w, &a.event, type);
    a.event.frame = frame;
    a.event.wire_len = wire_len;
    return macula__worker_push(w, &a);
}

int macula__worker_emit_stream_event(macula__worker *w, macula_event_type type, const macula__wstream *s,
                                     macula_frame *frame, size_t wire_len, macula_stream_end end, uint64_t code,
                                     const char *detail)
{
    macula__worker_action a;
    memset(&a, 0, sizeof a);
    a.type = MACULA__ACT_EVENT;
    fill_event(w, &a.event, type);
    a.event.frame = frame;
    a.event.wire_len = wire_len;
    a.event.stream = s->id;
    a.event.stream_origin = s->by_peer ? MACULA_STREAM_BY_PEER : MACULA_STREAM_BY_LOCAL;
    if (type == MACULA_EVENT_STREAM_CLOSED) {
        a.event.stream_end = end;
        a.event.stream_code = end == MACULA_STREAM_END_RESET ? code : 0;
        a.event.detail = detail ? detail : "";
    }
    return macula__worker_push(w, &a);
}

void macula__worker_push_stream_action(macula__worker *w, macula__worker_action_type type, int64_t qid,
                                       uint64_t code)
{
    macula__worker_action a;
    memset(&a, 0, sizeof a);
    a.type = type;
    a.stream_id = qid;
    a.app_error_code = code;
    macula__worker_push(w, &a);
}

void macula__worker_arm_timer(macula__worker *w, uint64_t deadline)
{
    macula__worker_action a;
    memset(&a, 0, sizeof a);
    a.type = MACULA__ACT_ARM_TIMER;
    a.deadline = deadline;
    w->timer_armed = 1;
    w->timer_deadline = deadline;
    macula__worker_push(w, &a);
}

void macula__worker_cancel_timer(macula__worker *w)
{
    if (!w->timer_armed)
        return;
    w->timer_armed = 0;
    macula__worker_action a;
    memset(&a, 0, sizeof a);
    a.type = MACULA__ACT_CANCEL_TIMER;
    macula__worker_push(w, &a);
}

static void free_backlog(macula__worker *w)
{
    worker_backlog *b = w->bl_head;
    while (b) {
        worker_backlog *next = b->next;
        free(b);
        b = next;
    }
    w->bl_head = w->bl_tail = NULL;
    w->bl_bytes = 0;
}

void macula__worker_end(macula__worker *w, macula_disconnect_reason reason, int64_t refusal_code, const char *fmt, ...)
{
    if (w->state == MACULA_PEER_ENDED)
        return;
    w->state = MACULA_PEER_ENDED;
    w->ending = 1;
    w->end_reason = reason;
    w->end_refusal_code = refusal_code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->end_detail, sizeof w->end_detail, fmt, ap);
    va_end(ap);

    /* The terminal sequence is emitted by poll() after every action queued
     * so far; decide its steps now. A timer armed through an ARM_TIMER
     * that is still queued is cancelled by it too, as poll() keeps order. */
    w->term_cancel_timer = w->timer_armed;
    w->timer_armed = 0;
    w->term_close_transport = w->transport_open;
    w->transport_open = 0;
    w->term_disconnected = 1;
    w->term_ended = 1;

    macula__worker_drop_outbound(w);
    macula__wstreams_end(w);
    free_backlog(w);
    macula_stream_parser_free(w->parser);
    w->parser = NULL;
}

int macula__worker_poll(macula__worker *w, macula__worker_action *out)
{
    worker_action_node *n = w ? w->act_head : NULL;
    if (n) {
        w->act_head = n->next;
        if (!w->act_head)
            w->act_tail = NULL;
        *out = n->action;
        free(n);
        return 1;
    }
    memset(out, 0, sizeof *out);
    if (!w)
        return 0;
    if (!w->ending)
        return 0;
    if (w->term_cancel_timer) {
        w->term_cancel_timer = 0;
        out->type = MACULA__ACT_CANCEL_TIMER;
        return 1;
    }
    if (w->term_close_transport) {
        w->term_close_transport = 0;
        out->type = MACULA__ACT_CLOSE_TRANSPORT;
        out->app_error_code = 0;
        out->close_reason = "closed";
        return 1;
    }
    if (w->term_streams) {
        /* Every stream the application knows ends before the peer does. */
        fill_event(w, &out->event, MACULA_EVENT_STREAM_CLOSED);
        if (macula__wstreams_next_final_close(w, &out->event)) {
            out->type = MACULA__ACT_EVENT;
            return 1;
        }
        w->term_streams = 0;
        memset(out, 0, sizeof *out);
    }
    if (w->term_disconnected) {
        w->term_disconnected = 0;
        out->type = MACULA__ACT_EVENT;
        fill_event(w, &out->event, MACULA_EVENT_DISCONNECTED);
        out->event.reason = w->end_reason;
        out->event.refusal_code = w->end_refusal_code;
        out->event.detail = w->end_detail; /* the worker's; valid until it is freed */
        return 1;
    }
    if (w->term_ended) {
        w->term_ended = 0;
        w->ending = 0;
        out->type = MACULA__ACT_ENDED;
        return 1;
    }
    return 0;
}

int macula__worker_emit_frame(macula__worker *w, const macula__wstream *s, macula_frame *f, macula__wirebuf *wb)
{
    macula__worker_action a;
    memset(&a, 0, sizeof a);
    a.type = MACULA__ACT_EVENT;
    fill_event(w, &a.event, MACULA_EVENT_FRAME);
    a.event.frame = f;
    a.event.wire_len = wb->len;
    a.event.wire = wb->data;
    a.event.wire_ref_ = wb;
    a.event.lazy_ = f == NULL;
    if (s) {
        a.event.stream = s->id;
        a.event.stream_origin = s->by_peer ? MACULA_STREAM_BY_PEER : MACULA_STREAM_BY_LOCAL;
    }
    macula__frame_mark_received(f);
    a.event.unsigned_frame = f ? !macula_frame_is_signed(f)
                               : !macula__frame_body_is_signed(wb->data + MACULA_FRAME_HEADER_LEN,
                                                               wb->len - MACULA_FRAME_HEADER_LEN);
    if (a.event.unsigned_frame && !w->unsigned_reported) {
        /* once per peer: a peer that never signs would flood the hook */
        w->unsigned_reported = 1;
        macula__worker_diag(w, "unsigned_frame", "frame_type", f ? macula_frame_type(f) : "", (const char *)NULL);
    }
    return macula__worker_push(w, &a);
}
