/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's inbound side: stream bytes into the frame parser, and each
 * complete frame handled by state (handshake frame, delivery while
 * connected, ignored while draining). An undecodable frame is stepped over
 * and reported; an oversize declared length ends the connection. */
#include <stdio.h>
#include <string.h>

#include "frame/frame_internal.h"
#include "frame/wire_check.h"
#include "peering/worker_internal.h"

macula_stream_parser *macula__worker_parser_new(macula__worker *w, int *err)
{
    macula_stream_parser *p = macula_stream_parser_new(err);
    macula__stream_parser_set_limits(p, w->max_frame_size, w->max_decode_bytes);
    return p;
}

int macula__worker_recv_sync(macula__worker *w)
{
    size_t held = macula__stream_parser_held(w->parser);
    for (macula__wstream *s = w->ws_head; s; s = s->next)
        held += macula__stream_parser_held(s->parser);
    if (macula__budget_move(&w->recv, w->recv_global, w->recv_counted, held) == 0) {
        w->recv_counted = held;
        return 0;
    }
    /* Over budget: the partial frames cannot be completed by reading less,
     * so the connection ends; what it holds is released by the end. */
    int global = w->recv.limit == 0 || held - w->recv_counted <= w->recv.limit - w->recv.used;
    macula__worker_end(w, MACULA_DISC_RECV_BUDGET, -1, "partial frames would hold %zu bytes: over the %s receive budget (%zu)",
                       held, global ? "runtime's" : "connection's",
                       global && w->recv_global ? w->recv_global->limit : w->recv.limit);
    w->inbound_dead = 1;
    held = macula__stream_parser_held(w->parser);
    for (macula__wstream *s = w->ws_head; s; s = s->next)
        held += macula__stream_parser_held(s->parser);
    if (held <= w->recv_counted) {
        macula__budget_move(&w->recv, w->recv_global, w->recv_counted, held);
        w->recv_counted = held;
    }
    return MACULA_ERR_LIMIT;
}

static void drop_inbound(macula__worker *w, const char *reason, const char *frame_type, size_t wire_len)
{
    char lenbuf[24];
    snprintf(lenbuf, sizeof lenbuf, "%zu", wire_len);
    w->frames_dropped++;
    if (frame_type)
        macula__worker_diag(w, "frame_dropped", "reason", reason, "frame_type", frame_type, "wire_len", lenbuf,
                    (const char *)NULL);
    else
        macula__worker_diag(w, "frame_dropped", "reason", reason, "wire_len", lenbuf, (const char *)NULL);
}

/* The declared length at the head of the parser's tail (for details). */
static unsigned long long declared_length(const macula__worker *w)
{
    size_t n = 0;
    const uint8_t *t = macula_stream_parser_tail(w->parser, &n);
    if (n < 4)
        return 0;
    return (unsigned long long)t[0] << 24 | (unsigned long long)t[1] << 16 | (unsigned long long)t[2] << 8 | t[3];
}

static void too_large(macula__worker *w)
{
    unsigned long long len = declared_length(w);
    if (w->state == MACULA_PEER_DRAINING) {
        /* Late input is ignored anyway; stop parsing it. */
        w->inbound_dead = 1;
        macula__worker_diag(w, "frame_dropped", "reason", "frame_too_large", (const char *)NULL);
        return;
    }
    size_t max = w->max_frame_size && w->max_frame_size < MACULA_FRAME_MAX_BODY ? w->max_frame_size
                                                                                   : MACULA_FRAME_MAX_BODY;
    macula__worker_end(w, MACULA_DISC_FRAME_TOO_LARGE, -1, "declared frame length %llu exceeds %zu", len, max);
}

static void dispatch(macula__worker *w, uint64_t now, macula_frame *f, macula__wirebuf *wb, size_t wire_len)
{
    switch (w->state) {
    case MACULA_PEER_HANDSHAKING:
        macula__worker_handshake_frame(w, now, f, wire_len);
        break;
    case MACULA_PEER_CONNECTED:
        w->frames_in++;
        w->bytes_in += wire_len;
        if (w->station && f)
            macula__worker_station_inbound(w, f);
        macula__worker_emit_frame(w, NULL, f, wb);
        wb = NULL;
        break;
    default: /* draining: late inbound data is ignored */
        drop_inbound(w, "during_drain", f ? macula_frame_type(f) : NULL, wire_len);
        macula_frame_free(f);
        break;
    }
    macula__wirebuf_unref(wb);
}

int macula__worker_next_frame(macula_stream_parser *p, int build, int want_wire, macula_frame **f,
                              macula__wirebuf **wb, size_t *wire_len)
{
    const uint8_t *wire = NULL;
    *wb = NULL;
    int rc = macula__stream_parser_peek_frame(p, build, f, &wire, wire_len);
    if (rc == MACULA_OK && want_wire) {
        /* copied before the parser moves on: the event, and whatever it is
         * forwarded to, share this one copy */
        *wb = macula__wirebuf_new(wire, *wire_len);
        if (!*wb) {
            macula_frame_free(*f);
            *f = NULL;
            return MACULA_ERR_NOMEM;
        }
    }
    if (rc == MACULA_OK || rc == MACULA_ERR_BAD_FRAME || rc == MACULA_ERR_DECODE_BUDGET)
        macula__stream_parser_skip(p, *wire_len);
    return rc;
}

/* The peer finished its side of the stream: what is left can never
 * complete a frame, and a handshake can never finish. */
static void after_fin(macula__worker *w)
{
    size_t tail = 0;
    macula_stream_parser_tail(w->parser, &tail);
    w->peer_fin = 2; /* handled */
    if (tail)
        drop_inbound(w, "truncated_at_fin", NULL, tail);
    if (w->state == MACULA_PEER_HANDSHAKING)
        macula__worker_end(w, MACULA_DISC_CLOSED_DURING_HANDSHAKE, -1, "the peer finished the stream");
    else if (w->state == MACULA_PEER_CONNECTED)
        macula__worker_diag(w, "peer_finished_stream", (const char *)NULL);
}

/* Before the handshake frame only CONNECT (server) / HELLO (client) and
 * the other side's handshake frame matter: any other frame is dropped
 * after reading its frame_type, not decoded (a hostile peer cannot make
 * the loop build frames that are thrown away). 1 when the frame at the
 * head was dealt with so. */
static int skip_before_handshake(macula__worker *w)
{
    const uint8_t *wire, *type = NULL;
    size_t len, type_len = 0;
    if (macula__stream_parser_peek(w->parser, &wire, &len) != 0)
        return 0;
    int rc = macula__frame_peek_type(wire + MACULA_FRAME_HEADER_LEN, len - MACULA_FRAME_HEADER_LEN, &type, &type_len);
    if (rc == 0 && ((type_len == 7 && memcmp(type, "connect", 7) == 0) ||
                    (type_len == 5 && memcmp(type, "hello", 5) == 0)))
        return 0; /* decoded and checked in full */
    char tbuf[32] = "";
    if (rc == 0) {
        size_t n = type_len < sizeof tbuf - 1 ? type_len : sizeof tbuf - 1;
        for (size_t i = 0; i < n; i++) /* printable in the diagnostic */
            tbuf[i] = type[i] >= 0x20 && type[i] < 0x7f ? (char)type[i] : '?';
        tbuf[n] = '\0';
    }
    w->frames_undecoded++;
    drop_inbound(w, rc == 0 ? "before_handshake" : "bad_frame", rc == 0 ? tbuf : NULL, len);
    macula__stream_parser_skip(w->parser, len);
    return 1;
}

static int pumping(const macula__worker *w)
{
    return (w->state == MACULA_PEER_HANDSHAKING || w->state == MACULA_PEER_CONNECTED ||
            w->state == MACULA_PEER_DRAINING) &&
           w->parser && !w->inbound_dead && !w->hs_send_pending;
}

void macula__worker_pump(macula__worker *w, uint64_t now)
{
    while (pumping(w)) {
        macula_frame *f = NULL;
        macula__wirebuf *wb = NULL;
        size_t wire_len = 0;
        if (w->state == MACULA_PEER_HANDSHAKING && skip_before_handshake(w))
            continue;
        int connected = w->state == MACULA_PEER_CONNECTED;
        /* only a connected peer's frames may stay undecoded (a station
         * looks at each one for its ping) */
        int build = !connected || !w->lazy_frames || w->station;
        int rc = macula__worker_next_frame(w->parser, build, connected, &f, &wb, &wire_len);
        if (rc == 0) {
            dispatch(w, now, f, wb, wire_len);
        } else if (rc == MACULA_ERR_BAD_FRAME) {
            drop_inbound(w, "bad_frame", NULL, wire_len);
        } else if (rc == MACULA_ERR_DECODE_BUDGET) {
            w->decode_refused++;
            drop_inbound(w, "decode_budget", NULL, wire_len);
        } else if (rc == MACULA_ERR_NEED_MORE) {
            if (w->peer_fin == 1)
                after_fin(w);
            return;
        } else if (rc == MACULA_ERR_FRAME_TOO_LARGE) {
            too_large(w);
            return;
        } else {
            macula__worker_end(w, MACULA_DISC_INTERNAL_ERROR, -1, "frame parser: %s", macula_err_name(rc));
            return;
        }
    }
}

void macula__worker_inbound(macula__worker *w, uint64_t now, int64_t stream_id, const uint8_t *data, size_t len, int fin)
{
    if (w->state == MACULA_PEER_CONNECTING) {
        macula__worker_diag(w, "unexpected_event", "event", "stream_data", (const char *)NULL);
        return;
    }
    if (!w->has_stream && w->is_server && !w->stream_open_pending) {
        /* Data before the "opened" notice: the first peer stream is ours. */
        w->has_stream = 1;
        w->stream_id = stream_id;
        macula__worker_flush(w);
    }
    if (!w->has_stream) {
        macula__worker_diag(w, "unexpected_event", "event", "stream_data_before_stream", (const char *)NULL);
        return;
    }
    if (stream_id != w->stream_id) {
        macula__wstreams_data(w, now, stream_id, data, len, fin);
        macula__worker_recv_sync(w);
        return;
    }
    if (w->inbound_dead || !w->parser)
        return;
    if (fin && !w->peer_fin)
        w->peer_fin = 1;
    if (len) {
        int rc = macula_stream_parser_feed(w->parser, data, len);
        if (rc != 0 && rc != MACULA_ERR_FRAME_TOO_LARGE) {
            if (w->state == MACULA_PEER_DRAINING) {
                w->inbound_dead = 1;
                return;
            }
            macula__worker_end(w, MACULA_DISC_INTERNAL_ERROR, -1, "frame parser refused input: %s", macula_err_name(rc));
            return;
        }
    }
    if (macula__worker_recv_sync(w) != 0)
        return;
    macula__worker_pump(w, now);
    macula__worker_recv_sync(w);
}
