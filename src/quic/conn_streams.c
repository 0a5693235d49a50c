/* SPDX-License-Identifier: Apache-2.0 */
/* A connection's streams: lookup, creation, release, and SEND_READY once a
 * refused send fits again. */
#include <stdlib.h>

#include "quic/quic_internal.h"

quic_stream *macula__stream_find(macula_quic_conn *c, int64_t id)
{
    for (quic_stream *s = c->streams; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

quic_stream *macula__stream_new(macula_quic_conn *c, int64_t id)
{
    quic_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->id = id;
    macula__sb_init(&s->sb);
    s->next = c->streams;
    c->streams = s;
    return s;
}

void macula__stream_free(macula_quic_conn *c, quic_stream *s)
{
    for (quic_stream **p = &c->streams; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    macula__sb_free(&s->sb);
    free(s);
}

void macula__streams_check_send_ready(macula_quic_conn *c)
{
    size_t cap = c->settings.send_queue_cap;
    for (quic_stream *s = c->streams; s; s = s->next) {
        if (!s->want_send_ready || s->reset)
            continue;
        uint64_t used = macula__sb_used(&s->sb);
        /* Wait for room for the refused write, or half the queue, so that a
         * writer is not woken for every acknowledged packet. */
        uint64_t want = s->wanted > cap / 2 ? s->wanted : cap / 2;
        if (cap - used >= want || used == 0) {
            s->want_send_ready = 0;
            macula_quic_event ev = {0};
            ev.type = MACULA_QUIC_EV_SEND_READY;
            ev.conn = c;
            ev.stream_id = s->id;
            macula__conn_emit(c, &ev, s);
        }
    }
}

void macula__stream_check_acked(macula_quic_conn *c, quic_stream *s)
{
    if (!s->ack_watch || s->sb.acked < s->ack_watch_off)
        return;
    s->ack_watch = 0;
    macula_quic_event ev = {0};
    ev.type = MACULA_QUIC_EV_STREAM_ACKED;
    ev.conn = c;
    ev.stream_id = s->id;
    ev.offset = s->sb.acked;
    macula__conn_emit(c, &ev, s);
}
