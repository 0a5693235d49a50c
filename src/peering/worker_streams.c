/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's dedicated streams (PROTOCOL.md §6.2): see worker_streams.h
 * for the state of a stream and its limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peering/worker_internal.h"

static int peer_initiated(const macula__worker *w, int64_t qid)
{
    /* QUIC: bit 0 of a stream id is set for server-initiated streams. */
    return ((qid & 1) != 0) != (w->is_server != 0);
}

static macula__wstream *find_id(macula__worker *w, int64_t id)
{
    for (macula__wstream *s = w->ws_head; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

static macula__wstream *find_qid(macula__worker *w, int64_t qid)
{
    for (macula__wstream *s = w->ws_head; s; s = s->next)
        if (s->qid == qid && qid >= 0)
            return s;
    return NULL;
}

static int in_flight(const macula__worker *w, const macula__wstream *s)
{
    return w->send_in_flight && w->send_ws == s;
}

static macula__wstream *add(macula__worker *w, int64_t id, int64_t qid, int by_peer)
{
    macula__wstream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    int rc = 0;
    s->parser = macula__worker_parser_new(w, &rc);
    if (!s->parser) {
        free(s);
        return NULL;
    }
    s->id = id;
    s->qid = qid;
    s->by_peer = by_peer;
    if (w->ws_tail)
        w->ws_tail->next = s;
    else
        w->ws_head = s;
    w->ws_tail = s;
    if (by_peer)
        w->n_peer_streams++;
    return s;
}

/* Drops the queued frames of `s` (not a head whose SEND is in flight: the
 * shell may still read it); returns how many. */
static uint64_t drop_queue(macula__worker *w, macula__wstream *s)
{
    worker_out *keep = in_flight(w, s) ? s->out_head : NULL;
    worker_out *rest = keep ? keep->next : s->out_head;
    if (keep) {
        keep->next = NULL;
        s->out_tail = keep;
    } else {
        s->out_head = s->out_tail = NULL;
    }
    return macula__worker_free_out_chain(w, rest);
}

static void count_dropped(macula__worker *w, uint64_t n, const char *reason, int64_t id)
{
    if (!n)
        return;
    w->frames_dropped += n;
    char nbuf[24], idbuf[24];
    snprintf(nbuf, sizeof nbuf, "%llu", (unsigned long long)n);
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
    macula__worker_diag(w, "frame_dropped", "reason", reason, "frames", nbuf, "stream", idbuf, (const char *)NULL);
}

static void unlink_free(macula__worker *w, macula__wstream *s)
{
    macula__wstream *prev = NULL;
    for (macula__wstream *p = w->ws_head; p; prev = p, p = p->next) {
        if (p != s)
            continue;
        if (prev)
            prev->next = s->next;
        else
            w->ws_head = s->next;
        if (w->ws_tail == s)
            w->ws_tail = prev;
        break;
    }
    if (s->by_peer)
        w->n_peer_streams--;
    macula__worker_free_out_chain(w, s->out_head);
    macula_stream_parser_free(s->parser);
    free(s);
}

/* Releases `s` once both sides are done (never while the worker ends: the
 * terminal sequence still reads the records). */
static void maybe_release(macula__worker *w, macula__wstream *s)
{
    if (s->in_done && s->out_done && !in_flight(w, s) && w->state != MACULA_PEER_ENDED)
        unlink_free(w, s);
}

static void report_closed(macula__worker *w, macula__wstream *s, macula_stream_end end, uint64_t code,
                          const char *detail)
{
    /* A peer stream is the application's once announced; ours always. */
    if (s->closed_reported || (s->by_peer && !s->announced))
        return;
    s->closed_reported = 1;
    macula__worker_emit_stream_event(w, MACULA_EVENT_STREAM_CLOSED, s, NULL, 0, end, code, detail);
}

static void refuse_peer_stream(macula__worker *w, int64_t qid, const char *reason)
{
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)qid);
    macula__worker_diag(w, "stream_refused", "reason", reason, "stream", idbuf, (const char *)NULL);
    macula__worker_push_stream_action(w, MACULA__ACT_RESET_STREAM, qid, MACULA_STREAM_CODE_REFUSED);
}

/* Aborts `s` both ways (our reset); the caller reports. */
static void abort_stream(macula__worker *w, macula__wstream *s, uint64_t code, const char *why)
{
    count_dropped(w, drop_queue(w, s), why, s->id);
    s->reset_code = code;
    if (!s->out_done || !s->in_done) {
        if (s->qid >= 0)
            macula__worker_push_stream_action(w, MACULA__ACT_RESET_STREAM, s->qid, code);
    }
    s->out_done = s->in_done = 1;
    s->fin_wanted = 0;
    macula_stream_parser_free(s->parser);
    s->parser = NULL;
}

/* --- receiving --- */

static void drop_inbound(macula__worker *w, macula__wstream *s, const char *reason, const char *type, size_t len)
{
    char lenbuf[24], idbuf[24];
    snprintf(lenbuf, sizeof lenbuf, "%zu", len);
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)s->id);
    w->frames_dropped++;
    macula__worker_diag(w, "frame_dropped", "reason", reason, "frame_type", type ? type : "", "wire_len", lenbuf,
                        "stream", idbuf, (const char *)NULL);
}

static void pump(macula__worker *w, macula__wstream *s)
{
    while (s->parser && (w->state == MACULA_PEER_CONNECTED || w->state == MACULA_PEER_DRAINING)) {
        macula_frame *f = NULL;
        macula__wirebuf *wb = NULL;
        size_t wire_len = 0;
        int connected = w->state == MACULA_PEER_CONNECTED;
        int rc = macula__worker_next_frame(s->parser, !connected || !w->lazy_frames, connected, &f, &wb, &wire_len);
        if (rc == 0) {
            if (connected) {
                w->frames_in++;
                w->bytes_in += wire_len;
                macula__worker_emit_frame(w, s, f, wb);
            } else {
                drop_inbound(w, s, "during_drain", f ? macula_frame_type(f) : NULL, wire_len);
                macula_frame_free(f);
            }
        } else if (rc == MACULA_ERR_BAD_FRAME) {
            drop_inbound(w, s, "bad_frame", NULL, wire_len);
        } else if (rc == MACULA_ERR_DECODE_BUDGET) {
            w->decode_refused++;
            drop_inbound(w, s, "decode_budget", NULL, wire_len);
        } else if (rc == MACULA_ERR_NEED_MORE) {
            if (s->peer_fin == 1) {
                size_t tail = 0;
                macula_stream_parser_tail(s->parser, &tail);
                s->peer_fin = 2;
                if (tail)
                    drop_inbound(w, s, "truncated_at_fin", NULL, tail);
                s->in_done = 1;
                macula_stream_parser_free(s->parser);
                s->parser = NULL;
                report_closed(w, s, MACULA_STREAM_END_FIN, 0, "");
                maybe_release(w, s);
            }
            return;
        } else {
            /* Too large (cannot be skipped) or the parser failed: this
             * stream is lost, the others and the peer are not. */
            uint64_t code = rc == MACULA_ERR_FRAME_TOO_LARGE ? MACULA_STREAM_CODE_FRAME_TOO_LARGE : 0;
            char idbuf[24];
            snprintf(idbuf, sizeof idbuf, "%lld", (long long)s->id);
            macula__worker_diag(w, "stream_reset", "reason", macula_err_name(rc), "stream", idbuf,
                                (const char *)NULL);
            abort_stream(w, s, code, "stream_reset");
            report_closed(w, s, MACULA_STREAM_END_RESET, code,
                          rc == MACULA_ERR_FRAME_TOO_LARGE ? "frame too large" : "frame parser failed");
            maybe_release(w, s);
            return;
        }
    }
}

void macula__wstreams_peer_opened(macula__worker *w, uint64_t now, int64_t qid)
{
    (void)now;
    if (find_qid(w, qid))
        return; /* "opened" after its first data: already known */
    if (qid < 0 || !peer_initiated(w, qid)) {
        macula__worker_diag(w, "unexpected_event", "event", "stream_opened_not_by_peer", (const char *)NULL);
        return;
    }
    if (qid <= w->max_peer_qid)
        return; /* an old stream, already released or refused */
    w->max_peer_qid = qid;
    if (w->state != MACULA_PEER_HANDSHAKING && w->state != MACULA_PEER_CONNECTED) {
        refuse_peer_stream(w, qid, "not_connected");
        return;
    }
    if (qid & 2) { /* unidirectional: Macula uses none, and we could not answer on it */
        refuse_peer_stream(w, qid, "unidirectional");
        return;
    }
    if (w->n_peer_streams >= w->max_peer_streams) {
        refuse_peer_stream(w, qid, "max_peer_streams");
        return;
    }
    if (qid == MACULA_STREAM_CONTROL || find_id(w, qid)) {
        refuse_peer_stream(w, qid, "id_in_use");
        return;
    }
    macula__wstream *s = add(w, qid, qid, 1);
    if (!s) {
        refuse_peer_stream(w, qid, "out_of_memory");
        return;
    }
    if (w->state == MACULA_PEER_CONNECTED) {
        s->announced = 1;
        macula__worker_emit_stream_event(w, MACULA_EVENT_STREAM_OPENED, s, NULL, 0, 0, 0, "");
    }
}

void macula__wstreams_data(macula__worker *w, uint64_t now, int64_t qid, const uint8_t *data, size_t len, int fin)
{
    macula__wstream *s = find_qid(w, qid);
    if (!s && peer_initiated(w, qid) && qid > w->max_peer_qid) {
        macula__wstreams_peer_opened(w, now, qid); /* data before the "opened" notice */
        s = find_qid(w, qid);
    }
    if (!s || s->in_done || !s->parser)
        return; /* late bytes of a stream we no longer read (refused, reset, released) */
    if (fin && !s->peer_fin)
        s->peer_fin = 1;
    if (len) {
        int rc = macula_stream_parser_feed(s->parser, data, len);
        if (rc != 0 && rc != MACULA_ERR_FRAME_TOO_LARGE) {
            abort_stream(w, s, 0, "stream_reset");
            report_closed(w, s, MACULA_STREAM_END_RESET, 0, "frame parser refused input");
            maybe_release(w, s);
            return;
        }
    }
    pump(w, s);
}

void macula__wstreams_peer_reset(macula__worker *w, int64_t qid, uint64_t code)
{
    macula__wstream *s = find_qid(w, qid);
    if (!s)
        return; /* a stream we already let go of */
    abort_stream(w, s, code, "stream_reset");
    report_closed(w, s, MACULA_STREAM_END_RESET, code, "");
    maybe_release(w, s);
}

void macula__wstreams_send_ready(macula__worker *w, int64_t qid)
{
    macula__wstream *s = find_qid(w, qid);
    if (s)
        s->blocked = 0;
}

void macula__wstreams_connected(macula__worker *w, uint64_t now)
{
    (void)now;
    for (macula__wstream *s = w->ws_head; s && w->state == MACULA_PEER_CONNECTED; s = s->next) {
        if (s->by_peer && !s->announced) {
            s->announced = 1;
            macula__worker_emit_stream_event(w, MACULA_EVENT_STREAM_OPENED, s, NULL, 0, 0, 0, "");
        }
    }
    /* Their frames waited in their parsers; pumping may release a stream. */
    macula__wstream *s = w->ws_head;
    while (s && w->state == MACULA_PEER_CONNECTED) {
        macula__wstream *next = s->next;
        pump(w, s);
        s = next;
    }
}

/* --- the API --- */

int macula__wstreams_open(macula__worker *w, int64_t id)
{
    macula__wstream *s = add(w, id, -1, 0);
    if (!s)
        return MACULA_ERR_NOMEM;
    s->open_requested = 1;
    macula__worker_action a;
    memset(&a, 0, sizeof a);
    a.type = MACULA__ACT_OPEN_STREAM;
    return macula__worker_push(w, &a);
}

int macula__wstreams_open_pending(const macula__worker *w)
{
    for (const macula__wstream *s = w->ws_head; s; s = s->next)
        if (s->open_requested)
            return 1;
    return 0;
}

void macula__wstreams_open_result(macula__worker *w, int rc, int64_t qid)
{
    macula__wstream *s = w->ws_head;
    while (s && !s->open_requested)
        s = s->next;
    if (!s)
        return;
    s->open_requested = 0;
    if (rc != 0 || qid < 0 || find_qid(w, qid)) {
        macula__worker_diag(w, "stream_open_failed", "error", macula_err_name(rc), (const char *)NULL);
        count_dropped(w, drop_queue(w, s), "stream_open_failed", s->id);
        s->in_done = s->out_done = 1;
        /* The detail must outlive the action: a static text per cause. */
        report_closed(w, s, MACULA_STREAM_END_RESET, 0,
                      rc == MACULA_ERR_LIMIT ? "cannot open the stream: the peer's stream limit"
                                             : "cannot open the stream");
        maybe_release(w, s);
        return;
    }
    s->qid = qid;
    if (s->out_done) { /* reset before the open completed */
        macula__worker_push_stream_action(w, MACULA__ACT_RESET_STREAM, qid, s->reset_code);
        maybe_release(w, s);
        return;
    }
    s->announced = 1;
    macula__worker_emit_stream_event(w, MACULA_EVENT_STREAM_OPENED, s, NULL, 0, 0, 0, "");
}

int macula__wstreams_send(macula__worker *w, int64_t id, uint8_t *wire, size_t len)
{
    return macula__wstreams_send_buf(w, id, wire, len, NULL);
}

/* Gives up bytes that were not queued. */
int macula__wstreams_send_buf(macula__worker *w, int64_t id, uint8_t *wire, size_t len, macula__wirebuf *wb)
{
    macula__wstream *s = find_id(w, id);
    if (!s || s->out_done || s->fin_wanted) {
        macula__worker_release_bytes(wire, wb);
        return MACULA_ERR_STREAM_CLOSED;
    }
    int rc = macula__worker_out_append(&s->out_head, &s->out_tail, OUT_API, wire, len, wb);
    if (rc)
        return rc;
    w->out_api_bytes += len;
    macula__worker_flush(w);
    return 0;
}

int macula__wstreams_finish(macula__worker *w, int64_t id)
{
    macula__wstream *s = find_id(w, id);
    if (!s || s->out_done || s->fin_wanted)
        return MACULA_ERR_STREAM_CLOSED;
    s->fin_wanted = 1;
    macula__worker_flush(w);
    return 0;
}

int macula__wstreams_reset(macula__worker *w, int64_t id, uint64_t code)
{
    macula__wstream *s = find_id(w, id);
    if (!s || (s->out_done && s->in_done))
        return MACULA_ERR_STREAM_CLOSED;
    abort_stream(w, s, code, "stream_reset");
    report_closed(w, s, MACULA_STREAM_END_RESET, code, "");
    if (s->open_requested)
        return 0; /* the open result resets it */
    maybe_release(w, s);
    return 0;
}

/* --- sending --- */

static int ready(const macula__worker *w, const macula__wstream *s)
{
    (void)w;
    return s->out_head && !s->blocked && s->qid >= 0 && !s->out_done;
}

int macula__wstreams_flush(macula__worker *w)
{
    if (w->ack_hold || w->state == MACULA_PEER_ENDED)
        return 0;
    /* FINs that are due: nothing left to send on the stream. */
    macula__wstream *s = w->ws_head;
    while (s) {
        macula__wstream *next = s->next;
        if (s->fin_wanted && !s->out_done && !s->out_head && s->qid >= 0) {
            s->out_done = 1;
            macula__worker_push_stream_action(w, MACULA__ACT_SHUTDOWN_STREAM, s->qid, 0);
            maybe_release(w, s);
        }
        s = next;
    }
    if (w->send_in_flight || !w->ws_head)
        return 0;
    /* Round robin: start after the stream served last. */
    macula__wstream *start = w->ws_head;
    for (macula__wstream *p = w->ws_head; p; p = p->next)
        if (p->id == w->rr_last) {
            start = p->next ? p->next : w->ws_head;
            break;
        }
    macula__wstream *pick = NULL;
    for (macula__wstream *p = start; p && !pick; p = p->next)
        if (ready(w, p))
            pick = p;
    for (macula__wstream *p = w->ws_head; p && p != start && !pick; p = p->next)
        if (ready(w, p))
            pick = p;
    if (!pick)
        return 0;
    macula__worker_action a;
    memset(&a, 0, sizeof a);
    a.type = MACULA__ACT_SEND;
    a.stream_id = pick->qid;
    a.data = pick->out_head->bytes;
    a.len = pick->out_head->len;
    w->send_in_flight = 1;
    w->send_ws = pick;
    w->rr_last = pick->id;
    if (macula__worker_push(w, &a) != 0) {
        w->send_in_flight = 0;
        w->send_ws = NULL;
        return 0;
    }
    return 1;
}

void macula__wstreams_send_result(macula__worker *w, uint64_t now, macula__wstream *s, int rc)
{
    (void)now;
    if (s->out_done && !s->fin_wanted && s->out_head) {
        /* Reset while its SEND was in flight: whatever the answer, the
         * stream sends nothing more; release it once both sides are done. */
        worker_out *o = s->out_head;
        s->out_head = o->next;
        if (!s->out_head)
            s->out_tail = NULL;
        o->next = NULL;
        if (rc == 0) {
            w->frames_out++;
            w->bytes_out += o->len;
            macula__worker_free_out_chain(w, o);
        } else {
            count_dropped(w, macula__worker_free_out_chain(w, o), "stream_reset", s->id);
        }
        count_dropped(w, macula__worker_free_out_chain(w, s->out_head), "stream_reset", s->id);
        s->out_head = s->out_tail = NULL;
        maybe_release(w, s);
        return;
    }
    if (rc == MACULA_ERR_WOULD_BLOCK) {
        s->blocked = 1;
        return;
    }
    worker_out *o = s->out_head;
    if (rc != 0) {
        /* The QUIC stream is gone (the peer aborted it): the stream ends,
         * never the peer. */
        count_dropped(w, macula__worker_free_out_chain(w, s->out_head), "stream_send_failed", s->id);
        s->out_head = s->out_tail = NULL;
        s->out_done = s->in_done = 1;
        s->fin_wanted = 0;
        macula_stream_parser_free(s->parser);
        s->parser = NULL;
        report_closed(w, s, MACULA_STREAM_END_RESET, 0, "send failed: the stream is gone");
        maybe_release(w, s);
        return;
    }
    s->out_head = o->next;
    if (!s->out_head)
        s->out_tail = NULL;
    o->next = NULL;
    w->frames_out++;
    w->bytes_out += o->len;
    macula__worker_free_out_chain(w, o);
    maybe_release(w, s);
}

/* --- close, end, free --- */

void macula__wstreams_close_all(macula__worker *w)
{
    for (macula__wstream *s = w->ws_head; s; s = s->next)
        if (!s->out_done)
            s->fin_wanted = 1;
}

void macula__wstreams_end(macula__worker *w)
{
    uint64_t dropped = 0;
    for (macula__wstream *s = w->ws_head; s; s = s->next) {
        dropped += drop_queue(w, s);
        macula_stream_parser_free(s->parser);
        s->parser = NULL;
    }
    if (dropped) {
        w->frames_dropped += dropped;
        char n[24];
        snprintf(n, sizeof n, "%llu", (unsigned long long)dropped);
        macula__worker_diag(w, "frame_dropped", "reason", "unsent_at_end", "frames", n, (const char *)NULL);
    }
    w->term_streams = 1;
}

int macula__wstreams_next_final_close(macula__worker *w, macula_event *ev)
{
    for (macula__wstream *s = w->ws_head; s; s = s->next) {
        if (s->closed_reported || (s->by_peer && !s->announced))
            continue;
        s->closed_reported = 1;
        ev->type = MACULA_EVENT_STREAM_CLOSED;
        ev->stream = s->id;
        ev->stream_origin = s->by_peer ? MACULA_STREAM_BY_PEER : MACULA_STREAM_BY_LOCAL;
        ev->stream_end = MACULA_STREAM_END_CONNECTION;
        return 1;
    }
    return 0;
}

void macula__wstreams_free(macula__worker *w)
{
    while (w->ws_head) {
        macula__wstream *s = w->ws_head;
        w->ws_head = s->next;
        macula__worker_free_out_chain(w, s->out_head);
        macula_stream_parser_free(s->parser);
        free(s);
    }
    w->ws_tail = NULL;
    w->n_peer_streams = 0;
}
