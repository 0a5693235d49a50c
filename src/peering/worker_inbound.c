/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's inbound side: stream bytes into the frame parser, and each
 * complete frame handled by state (handshake frame, delivery while
 * connected, ignored while draining). An undecodable frame is stepped over
 * and reported; an oversize declared length ends the connection. */
#include <stdio.h>
#include <string.h>

#include "frame/wire_check.h"
#include "peering/worker_internal.h"

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
    macula__worker_end(w, MACULA_DISC_FRAME_TOO_LARGE, -1, "declared frame length %llu exceeds %u", len,
               MACULA_FRAME_MAX_BODY);
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
    int rc = macula__stream_parser_peek(p, build, f, &wire, wire_len);
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
    if (rc == MACULA_OK || rc == MACULA_ERR_BAD_FRAME)
        macula__stream_parser_consume(p, *wire_len);
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
        int connected = w->state == MACULA_PEER_CONNECTED;
        /* only a connected peer's frames may stay undecoded (a station
         * looks at each one for its ping) */
        int build = !connected || !w->lazy_frames || w->station;
        int rc = macula__worker_next_frame(w->parser, build, connected, &f, &wb, &wire_len);
        if (rc == 0) {
            dispatch(w, now, f, wb, wire_len);
        } else if (rc == MACULA_ERR_BAD_FRAME) {
            drop_inbound(w, "bad_frame", NULL, wire_len);
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
    macula__worker_pump(w, now);
}
