/* SPDX-License-Identifier: Apache-2.0 */
/* The owner model: events go straight to the owner when it can take them,
 * otherwise into the connection's queue, from which they are delivered in
 * order later (see quic.h). Stream data gives its flow-control credit back
 * only once an owner has had it. */
#include <stdlib.h>
#include <string.h>

#include "quic/quic_internal.h"

static int stream_scoped(const macula_quic_event *ev)
{
    return ev->type == MACULA_QUIC_EV_STREAM_DATA || ev->type == MACULA_QUIC_EV_STREAM_RESET ||
           ev->type == MACULA_QUIC_EV_STREAM_CLOSED;
}

static void call_owner(macula_quic_conn *c, const macula_quic_event *ev)
{
    c->in_handler++;
    c->handler(c->user, ev);
    c->in_handler--;
}

void macula__conn_return_credit(macula_quic_conn *c, int64_t stream_id, size_t len)
{
    if (!c->q || len == 0 || (c->state != CONN_CONNECTED && c->state != CONN_HANDSHAKING))
        return;
    ngtcp2_conn_extend_max_stream_offset(c->q, stream_id, len);
    ngtcp2_conn_extend_max_offset(c->q, len);
}

void macula__conn_emit(macula_quic_conn *c, const macula_quic_event *ev, quic_stream *s)
{
    if (c->close_queued || !c->visible)
        return; /* CLOSED is last; unseen server connections have no owner */
    if (ev->type == MACULA_QUIC_EV_CLOSED)
        c->close_queued = 1;
    int held = !c->handler || c->evq_head || c->in_handler || c->delivering || ev->type == MACULA_QUIC_EV_CLOSED ||
               (stream_scoped(ev) && s && s->read_paused);
    if (!held) {
        call_owner(c, ev);
        if (ev->type == MACULA_QUIC_EV_STREAM_DATA)
            macula__conn_return_credit(c, ev->stream_id, ev->len);
        return;
    }
    size_t extra = ev->type == MACULA_QUIC_EV_STREAM_DATA ? ev->len : 0;
    quic_event_item *it = malloc(sizeof *it + extra);
    if (!it) {
        /* Dropping would break "exactly once": end the connection instead. */
        c->oom = 1;
        macula__conn_kick(c);
        return;
    }
    it->next = NULL;
    it->ev = *ev;
    if (extra) {
        memcpy(it->data, ev->data, extra);
        it->ev.data = it->data;
    } else if (ev->type == MACULA_QUIC_EV_STREAM_DATA) {
        it->ev.data = NULL;
    }
    if (ev->type == MACULA_QUIC_EV_CLOSED)
        it->ev.close.reason = c->close_reason;
    if (c->evq_tail)
        c->evq_tail->next = it;
    else
        c->evq_head = it;
    c->evq_tail = it;
    c->evq_len++;
    if (s && stream_scoped(ev))
        s->queued_events++;
    macula__conn_kick(c);
}

/* 1 when every queued event waits behind a paused stream: nothing to do
 * (saves rescanning a long held queue on every kick). */
static int all_held(macula_quic_conn *c)
{
    if (c->close_queued)
        return 0;
    size_t held = 0;
    for (quic_stream *s = c->streams; s; s = s->next)
        if (s->read_paused)
            held += s->queued_events;
    return held == c->evq_len;
}

void macula__conn_deliver(macula_quic_conn *c)
{
    if (c->delivering || c->in_handler || c->in_ngtcp2 || !c->evq_head || !c->handler || all_held(c))
        return;
    c->delivering = 1;
    quic_event_item **pp = &c->evq_head, *prev = NULL;
    while (*pp && c->handler) {
        quic_event_item *it = *pp;
        quic_stream *s = stream_scoped(&it->ev) ? macula__stream_find(c, it->ev.stream_id) : NULL;
        if (s && s->read_paused && !c->close_queued) {
            prev = it;
            pp = &it->next;
            continue; /* held: its stream's later events stay behind it */
        }
        *pp = it->next;
        if (c->evq_tail == it)
            c->evq_tail = prev;
        c->evq_len--;
        if (s)
            s->queued_events--;
        c->resumed = 0;
        call_owner(c, &it->ev);
        if (it->ev.type == MACULA_QUIC_EV_STREAM_DATA)
            macula__conn_return_credit(c, it->ev.stream_id, it->ev.len);
        if (it->ev.type == MACULA_QUIC_EV_CLOSED)
            c->close_delivered = 1;
        free(it);
        if (c->resumed) {
            /* A stream was resumed: its held events come first again. */
            pp = &c->evq_head;
            prev = NULL;
        } else if (all_held(c)) {
            break;
        }
    }
    c->delivering = 0;
}
