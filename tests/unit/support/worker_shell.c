/* SPDX-License-Identifier: Apache-2.0 */
/* Fake shell for the connection worker: see worker_shell.h. */
#include "worker_shell.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"

static void problem(ws_shell *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(ws_shell *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "worker_shell[%s]: broken promise: ", s->name ? s->name : "?");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    s->problems++;
}

ws_shell *ws_new(const macula__worker_config *cfg, const char *name)
{
    ws_shell *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->name = name;
    s->now = 1000 * WS_SEC; /* an arbitrary monotonic origin */
    s->has_owner = cfg->has_accept_owner;
    int err = 0;
    s->w = macula__worker_new(cfg, &err);
    if (!s->w) {
        fprintf(stderr, "worker_shell: macula__worker_new: %s\n", macula_err_name(err));
        free(s);
        return NULL;
    }
    return s;
}

void ws_free(ws_shell *s)
{
    if (!s)
        return;
    macula__worker_free(s->w);
    for (size_t i = 0; i < s->n_events; i++)
        macula_frame_free(s->events[i].frame);
    for (size_t i = 0; i < s->n_diags; i++)
        free(s->diags[i]);
    free(s->events);
    free(s->diags);
    free(s->out);
    for (size_t i = 0; i < s->n_qs; i++)
        free(s->qs[i].out);
    free(s);
}

static void keep_out(ws_shell *s, const uint8_t *data, size_t len)
{
    if (s->out_len + len > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 1024;
        while (cap < s->out_len + len)
            cap *= 2;
        uint8_t *n = realloc(s->out, cap);
        if (!n) {
            problem(s, "test out of memory");
            return;
        }
        s->out = n;
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_len, data, len);
    s->out_len += len;
}

static void check_event(ws_shell *s, const macula__worker_action *a)
{
    const macula_event *ev = &a->event;
    if (s->disconnected_seen)
        problem(s, "event %d after DISCONNECTED", (int)ev->type);
    if (ev->detail == NULL)
        problem(s, "event detail is NULL");
    if (a->to_accept_owner != (ev->type == MACULA_EVENT_HANDSHAKE_COMPLETE))
        problem(s, "event %d sent to the wrong receiver", (int)ev->type);
    switch (ev->type) {
    case MACULA_EVENT_CONNECTED:
        if (s->connected_seen)
            problem(s, "CONNECTED twice");
        if (!ev->has_peer_node_id)
            problem(s, "CONNECTED without the peer's node id");
        s->connected_seen = 1;
        break;
    case MACULA_EVENT_STREAM_OPENED:
    case MACULA_EVENT_STREAM_CLOSED:
        if (!s->connected_seen && ev->type == MACULA_EVENT_STREAM_OPENED)
            problem(s, "STREAM_OPENED before CONNECTED");
        if (ev->stream <= 0)
            problem(s, "stream event on stream %lld", (long long)ev->stream);
        if (ev->stream_origin != MACULA_STREAM_BY_PEER && ev->stream_origin != MACULA_STREAM_BY_LOCAL)
            problem(s, "stream event without an origin");
        if (ev->type == MACULA_EVENT_STREAM_CLOSED &&
            (ev->stream_end < MACULA_STREAM_END_FIN || ev->stream_end > MACULA_STREAM_END_CONNECTION))
            problem(s, "STREAM_CLOSED without an end");
        break;
    case MACULA_EVENT_HANDSHAKE_COMPLETE:
        if (!s->has_owner)
            problem(s, "HANDSHAKE_COMPLETE without an accept owner");
        if (!s->connected_seen || s->owner_seen)
            problem(s, "HANDSHAKE_COMPLETE not once right after CONNECTED");
        if (!ev->has_peer_node_id)
            problem(s, "HANDSHAKE_COMPLETE without the peer's node id");
        s->owner_seen = 1;
        break;
    case MACULA_EVENT_FRAME:
        if (!s->connected_seen)
            problem(s, "FRAME before CONNECTED");
        if (!ev->frame)
            problem(s, "FRAME without a frame");
        if (!ev->has_peer_node_id)
            problem(s, "FRAME without the peer's node id");
        break;
    case MACULA_EVENT_DISCONNECTED:
        s->disconnected_seen = 1;
        /* Every stream announced has ended before its peer does. */
        for (size_t i = 0; i < s->n_events; i++) {
            if (s->events[i].type != MACULA_EVENT_STREAM_OPENED)
                continue;
            size_t closed = 0;
            for (size_t j = i + 1; j < s->n_events; j++)
                closed += s->events[j].type == MACULA_EVENT_STREAM_CLOSED && s->events[j].stream == s->events[i].stream;
            if (closed != 1)
                problem(s, "stream %lld: %zu STREAM_CLOSED before DISCONNECTED", (long long)s->events[i].stream, closed);
        }
        if (ev->frame)
            problem(s, "DISCONNECTED carries a frame");
        if (strcmp(macula_disconnect_reason_name(ev->reason), "unknown") == 0)
            problem(s, "DISCONNECTED with an unnamed reason %d", (int)ev->reason);
        if (ev->reason != MACULA_DISC_REFUSED && ev->refusal_code != -1)
            problem(s, "refusal_code set on a non-refused DISCONNECTED");
        break;
    case MACULA_EVENT_SEND_READY:
        problem(s, "SEND_READY from the worker (only the shell makes it)");
        break;
    }
    if (s->has_owner && ev->type == MACULA_EVENT_FRAME && !s->owner_seen)
        problem(s, "FRAME before HANDSHAKE_COMPLETE reached the accept owner");
}

static void record_event(ws_shell *s, macula__worker_action *a)
{
    if (s->n_events >= WS_MAX_EVENTS) {
        problem(s, "too many events for the test shell");
        return;
    }
    if (s->n_events == s->cap_events) {
        size_t cap = s->cap_events ? 2 * s->cap_events : 16;
        ws_event *n = realloc(s->events, cap * sizeof *n);
        if (!n) {
            problem(s, "test out of memory");
            return;
        }
        s->events = n;
        s->cap_events = cap;
    }
    ws_event *e = &s->events[s->n_events++];
    memset(e, 0, sizeof *e);
    e->type = a->event.type;
    e->to_owner = a->to_accept_owner;
    e->reason = a->event.reason;
    snprintf(e->detail, sizeof e->detail, "%s", a->event.detail ? a->event.detail : "");
    e->refusal_code = a->event.refusal_code;
    e->has_node_id = a->event.has_peer_node_id;
    memcpy(e->node_id, a->event.peer_node_id, MACULA_NODE_ID_LEN);
    e->frame = macula_event_take_frame(&a->event); /* as a handler that keeps it would */
    e->wire_len = a->event.wire_len;
    e->stream = a->event.stream;
    e->origin = a->event.stream_origin;
    e->end = a->event.stream_end;
    e->code = a->event.stream_code;
    e->at = s->now;
    /* Stream events: exactly once per stream (opened, closed). */
    if (e->type == MACULA_EVENT_STREAM_OPENED || e->type == MACULA_EVENT_STREAM_CLOSED) {
        for (size_t i = 0; i + 1 < s->n_events; i++)
            if (s->events[i].type == e->type && s->events[i].stream == e->stream)
                problem(s, "event %d twice on stream %lld", (int)e->type, (long long)e->stream);
    }
    if (e->type == MACULA_EVENT_FRAME || e->type == MACULA_EVENT_STREAM_OPENED) {
        for (size_t i = 0; i + 1 < s->n_events; i++)
            if (s->events[i].type == MACULA_EVENT_STREAM_CLOSED && s->events[i].stream == e->stream &&
                e->stream != MACULA_STREAM_CONTROL)
                problem(s, "event %d on stream %lld after its STREAM_CLOSED", (int)e->type, (long long)e->stream);
    }
}

ws_qstream *ws_qstream_get(ws_shell *s, int64_t qid)
{
    for (size_t i = 0; i < s->n_qs; i++)
        if (s->qs[i].qid == qid)
            return &s->qs[i];
    return NULL;
}

static ws_qstream *qstream(ws_shell *s, int64_t qid)
{
    ws_qstream *q = ws_qstream_get(s, qid);
    if (q || s->n_qs >= WS_MAX_STREAMS)
        return q;
    q = &s->qs[s->n_qs++];
    memset(q, 0, sizeof *q);
    q->qid = qid;
    return q;
}

static void keep_q(ws_shell *s, ws_qstream *q, const uint8_t *data, size_t len)
{
    if (q->out_len + len > q->out_cap) {
        size_t cap = q->out_cap ? q->out_cap : 256;
        while (cap < q->out_len + len)
            cap *= 2;
        uint8_t *n = realloc(q->out, cap);
        if (!n) {
            problem(s, "test out of memory");
            return;
        }
        q->out = n;
        q->out_cap = cap;
    }
    memcpy(q->out + q->out_len, data, len);
    q->out_len += len;
}

static void record_diag(ws_shell *s, const macula__worker_action *a)
{
    if (s->n_diags >= WS_MAX_DIAGS)
        return;
    if (s->n_diags == s->cap_diags) {
        size_t cap = s->cap_diags ? 2 * s->cap_diags : 16;
        char **n = realloc(s->diags, cap * sizeof *n);
        if (!n)
            return;
        s->diags = n;
        s->cap_diags = cap;
    }
    char line[1024];
    size_t off = (size_t)snprintf(line, sizeof line, "%s", a->diag_name);
    for (size_t i = 0; i < a->n_diag_fields && off < sizeof line; i++)
        off += (size_t)snprintf(line + off, sizeof line - off, " %s=%s", a->diag_fields[i].key,
                                a->diag_fields[i].value);
    s->diags[s->n_diags++] = strdup(line);
}

static void execute(ws_shell *s, macula__worker_action *a)
{
    if (s->ends)
        problem(s, "action %d after ENDED", (int)a->type);
    switch (a->type) {
    case MACULA__ACT_DIAL:
        if (s->dials++)
            problem(s, "DIAL twice");
        break;
    case MACULA__ACT_OPEN_STREAM:
        if (s->opens++ == 0 && !macula__worker_is_server(s->w)) { /* the client's control stream */
            macula__worker_on_stream_open_result(s->w, s->now, s->open_rc, s->open_sid);
        } else if (s->open_fail) {
            macula__worker_on_stream_open_result(s->w, s->now, MACULA_ERR_LIMIT, -1);
        } else {
            if (!s->next_local_qid)
                s->next_local_qid = macula__worker_is_server(s->w) ? 1 : 4;
            int64_t qid = s->next_local_qid;
            s->next_local_qid += 4;
            qstream(s, qid);
            macula__worker_on_stream_open_result(s->w, s->now, 0, qid);
        }
        break;
    case MACULA__ACT_SHUTDOWN_STREAM: {
        ws_qstream *q = qstream(s, a->stream_id);
        if (q && q->shutdowns++)
            problem(s, "SHUTDOWN_STREAM twice on %lld", (long long)a->stream_id);
        if (q && q->resets)
            problem(s, "SHUTDOWN_STREAM after RESET_STREAM on %lld", (long long)a->stream_id);
        break;
    }
    case MACULA__ACT_RESET_STREAM: {
        ws_qstream *q = qstream(s, a->stream_id);
        if (q) {
            q->resets++;
            q->reset_code = a->app_error_code;
        }
        break;
    }
    case MACULA__ACT_WATCH_ACKED:
        s->watches++;
        s->watch_qid = a->stream_id;
        s->watch_offset = a->offset;
        {
            ws_qstream *wq = a->stream_id == s->open_sid ? NULL : ws_qstream_get(s, a->stream_id);
            size_t sent = wq ? wq->out_len : s->out_len;
            if (a->offset == 0 || a->offset > sent)
                problem(s, "WATCH_ACKED for offset %llu with %zu bytes sent", (unsigned long long)a->offset, sent);
        }
        if (!s->manual_ack)
            macula__worker_on_stream_acked(s->w, s->now, a->stream_id, a->offset);
        break;
    case MACULA__ACT_SEND: {
        if (s->closes)
            problem(s, "SEND after CLOSE_TRANSPORT");
        if (!a->data || !a->len)
            problem(s, "SEND without bytes");
        s->sends++;
        ws_qstream *q = a->stream_id == s->open_sid ? NULL : qstream(s, a->stream_id);
        if (q && (q->shutdowns || q->resets))
            problem(s, "SEND on stream %lld after its FIN or reset", (long long)a->stream_id);
        int rc;
        if (q && s->would_block_qid_on && a->stream_id == s->would_block_qid) {
            rc = MACULA_ERR_WOULD_BLOCK;
            q->blocked = 1;
        } else if (q) {
            rc = 0;
            keep_q(s, q, a->data, a->len);
        } else {
            rc = s->send_rc_pos < s->n_send_rcs ? s->send_rcs[s->send_rc_pos++] : 0;
            if (rc == 0)
                keep_out(s, a->data, a->len);
        }
        macula__worker_on_send_result(s->w, s->now, rc);
        break;
    }
    case MACULA__ACT_CLOSE_TRANSPORT:
        if (s->closes++)
            problem(s, "CLOSE_TRANSPORT twice");
        if (a->app_error_code != 0 || !a->close_reason || strcmp(a->close_reason, "closed") != 0)
            problem(s, "CLOSE_TRANSPORT not with code 0 / \"closed\"");
        break;
    case MACULA__ACT_EVENT: {
        check_event(s, a);
        macula_event_type type = a->event.type;
        record_event(s, a);
        if (s->close_on_event == type && type != MACULA_EVENT_DISCONNECTED)
            macula__worker_close(s->w, s->now, s->close_on_event_reason); /* re-entrant, as handlers may */
        break;
    }
    case MACULA__ACT_ARM_TIMER:
        s->timer_armed = 1;
        s->timer_deadline = a->deadline;
        break;
    case MACULA__ACT_CANCEL_TIMER:
        s->timer_armed = 0;
        break;
    case MACULA__ACT_DIAG:
        if (!a->diag_name)
            problem(s, "DIAG without a name");
        record_diag(s, a);
        break;
    case MACULA__ACT_ENDED:
        s->ends++;
        if (!s->disconnected_seen)
            problem(s, "ENDED before DISCONNECTED");
        if (s->n_events == 0 || s->events[s->n_events - 1].type != MACULA_EVENT_DISCONNECTED)
            problem(s, "the last event is not DISCONNECTED");
        if (s->timer_armed)
            problem(s, "ENDED with the timer still armed");
        if (macula__worker_state(s->w) != MACULA_PEER_ENDED)
            problem(s, "ENDED while the state is %s", macula_peer_state_name(macula__worker_state(s->w)));
        break;
    default:
        problem(s, "unknown action %d", (int)a->type);
        break;
    }
}

void ws_run(ws_shell *s)
{
    macula__worker_action a;
    while (macula__worker_poll(s->w, &a)) {
        execute(s, &a);
        macula__worker_action_clear(&a);
    }
    if (s->disconnected_seen && !s->ends)
        problem(s, "DISCONNECTED without ENDED after it");
}

void ws_start(ws_shell *s) { macula__worker_start(s->w, s->now), ws_run(s); }
void ws_dial_ok(ws_shell *s) { macula__worker_on_dial_succeeded(s->w, s->now), ws_run(s); }
void ws_dial_failed(ws_shell *s, const char *d) { macula__worker_on_dial_failed(s->w, s->now, d), ws_run(s); }
void ws_stream_opened(ws_shell *s, int64_t sid) { macula__worker_on_stream_opened(s->w, s->now, sid), ws_run(s); }
void ws_reset(ws_shell *s, uint64_t code) { macula__worker_on_stream_reset(s->w, s->now, s->open_sid, code), ws_run(s); }
void ws_send_ready(ws_shell *s) { macula__worker_on_send_ready(s->w, s->now, s->open_sid), ws_run(s); }
void ws_send_ready_on(ws_shell *s, int64_t qid) { macula__worker_on_send_ready(s->w, s->now, qid), ws_run(s); }
void ws_acked(ws_shell *s, int64_t qid, uint64_t off) { macula__worker_on_stream_acked(s->w, s->now, qid, off), ws_run(s); }

void ws_stream_reset_on(ws_shell *s, int64_t qid, uint64_t code)
{
    macula__worker_on_stream_reset(s->w, s->now, qid, code);
    ws_run(s);
}

int ws_open_stream(ws_shell *s, int64_t id)
{
    int rc = macula__worker_open_stream(s->w, s->now, id);
    ws_run(s);
    return rc;
}

int ws_send_on(ws_shell *s, int64_t id, const uint8_t *wire, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return MACULA_ERR_NOMEM;
    memcpy(copy, wire, len);
    int rc = macula__worker_send_on(s->w, s->now, id, copy, len);
    ws_run(s);
    return rc;
}

int ws_finish_stream(ws_shell *s, int64_t id)
{
    int rc = macula__worker_finish_stream(s->w, s->now, id);
    ws_run(s);
    return rc;
}

int ws_reset_stream(ws_shell *s, int64_t id, uint64_t code)
{
    int rc = macula__worker_reset_stream(s->w, s->now, id, code);
    ws_run(s);
    return rc;
}

static macula_frame *decode_at(const uint8_t *buf, size_t len, size_t index, size_t *count)
{
    size_t off = 0, n = 0;
    for (;;) {
        macula_frame *f = NULL;
        size_t used = 0;
        if (off >= len || macula_frame_decode(buf + off, len - off, &f, &used, NULL) != 0)
            break;
        if (!count && n == index)
            return f;
        macula_frame_free(f);
        off += used;
        n++;
    }
    if (count)
        *count = n;
    return NULL;
}

macula_frame *ws_sent_frame_on(ws_shell *s, int64_t qid, size_t index)
{
    ws_qstream *q = ws_qstream_get(s, qid);
    return q ? decode_at(q->out, q->out_len, index, NULL) : NULL;
}

size_t ws_sent_count_on(ws_shell *s, int64_t qid)
{
    ws_qstream *q = ws_qstream_get(s, qid);
    size_t n = 0;
    if (q)
        decode_at(q->out, q->out_len, 0, &n);
    return n;
}

size_t ws_count_on(const ws_shell *s, macula_event_type type, int64_t stream)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_events; i++)
        n += (type == 0 || s->events[i].type == type) && s->events[i].stream == stream;
    return n;
}

void ws_exchange_streams(ws_shell *a, ws_shell *b)
{
    for (int moved = 1; moved;) {
        moved = 0;
        ws_shell *sides[2][2] = {{a, b}, {b, a}};
        for (int i = 0; i < 2; i++) {
            ws_shell *from = sides[i][0], *to = sides[i][1];
            for (size_t k = 0; k < from->n_qs; k++) {
                ws_qstream *q = &from->qs[k];
                if (q->out_forwarded < q->out_len) {
                    size_t n = q->out_len - q->out_forwarded;
                    uint8_t *chunk = malloc(n);
                    memcpy(chunk, q->out + q->out_forwarded, n);
                    q->out_forwarded = q->out_len;
                    ws_data_on(to, q->qid, chunk, n, 0);
                    free(chunk);
                    moved = 1;
                }
                /* FIN and reset travel once (shutdowns / resets > 0 mark them
                 * sent; bit 8 marks them forwarded). */
                if (q->shutdowns == 1) {
                    q->shutdowns |= 0x100;
                    ws_data_on(to, q->qid, NULL, 0, 1);
                    moved = 1;
                }
                if (q->resets && !(q->resets & 0x100)) {
                    q->resets |= 0x100;
                    ws_stream_reset_on(to, q->qid, q->reset_code);
                    moved = 1;
                }
            }
        }
        if (!moved) {
            ws_exchange(a, b);
            for (int i = 0; i < 2 && !moved; i++) {
                ws_shell *from = sides[i][0];
                for (size_t k = 0; k < from->n_qs && !moved; k++)
                    moved = from->qs[k].out_forwarded < from->qs[k].out_len;
            }
        }
    }
}
void ws_close(ws_shell *s, const char *reason) { macula__worker_close(s->w, s->now, reason), ws_run(s); }

void ws_transport_closed(ws_shell *s, const char *detail)
{
    macula__worker_on_transport_closed(s->w, s->now, detail);
    ws_run(s);
}

void ws_data_on(ws_shell *s, int64_t sid, const uint8_t *data, size_t len, int fin)
{
    macula__worker_on_stream_data(s->w, s->now, sid, data, len, fin);
    ws_run(s);
}

void ws_data(ws_shell *s, const uint8_t *data, size_t len, int fin) { ws_data_on(s, s->open_sid, data, len, fin); }

int ws_send(ws_shell *s, const uint8_t *wire, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return MACULA_ERR_NOMEM;
    memcpy(copy, wire, len);
    int rc = macula__worker_send(s->w, s->now, copy, len);
    ws_run(s);
    return rc;
}

void ws_advance(ws_shell *s, uint64_t ns)
{
    s->now += ns;
    if (s->timer_armed && s->timer_deadline <= s->now) {
        s->timer_armed = 0;
        macula__worker_on_timer(s->w, s->now);
        ws_run(s);
    }
}

void ws_client_up(ws_shell *s)
{
    ws_start(s);
    ws_dial_ok(s);
}

void ws_exchange(ws_shell *a, ws_shell *b)
{
    for (int moved = 1; moved;) {
        moved = 0;
        ws_shell *sides[2][2] = {{a, b}, {b, a}};
        for (int i = 0; i < 2; i++) {
            ws_shell *from = sides[i][0], *to = sides[i][1];
            if (from->out_forwarded < from->out_len) {
                size_t n = from->out_len - from->out_forwarded;
                uint8_t *chunk = malloc(n);
                memcpy(chunk, from->out + from->out_forwarded, n);
                from->out_forwarded = from->out_len;
                ws_data(to, chunk, n, 0);
                free(chunk);
                moved = 1;
            }
        }
    }
}

size_t ws_count(const ws_shell *s, macula_event_type type)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_events; i++)
        n += s->events[i].type == type;
    return n;
}

const ws_event *ws_last(const ws_shell *s) { return s->n_events ? &s->events[s->n_events - 1] : NULL; }

const ws_event *ws_disconnected(const ws_shell *s)
{
    for (size_t i = 0; i < s->n_events; i++)
        if (s->events[i].type == MACULA_EVENT_DISCONNECTED)
            return &s->events[i];
    return NULL;
}

int ws_has_diag(const ws_shell *s, const char *needle)
{
    for (size_t i = 0; i < s->n_diags; i++)
        if (s->diags[i] && strstr(s->diags[i], needle))
            return 1;
    return 0;
}

macula_frame *ws_sent_frame(const ws_shell *s, size_t index, size_t *wire_len)
{
    size_t off = 0;
    for (size_t i = 0;; i++) {
        macula_frame *f = NULL;
        size_t used = 0;
        if (macula_frame_decode(s->out + off, s->out_len - off, &f, &used, NULL) != 0)
            return NULL;
        if (i == index) {
            if (wire_len)
                *wire_len = used;
            return f;
        }
        macula_frame_free(f);
        off += used;
    }
}

size_t ws_sent_count(const ws_shell *s)
{
    size_t n = 0, off = 0;
    for (;;) {
        macula_frame *f = NULL;
        size_t used = 0;
        if (off >= s->out_len || macula_frame_decode(s->out + off, s->out_len - off, &f, &used, NULL) != 0)
            return n;
        macula_frame_free(f);
        off += used;
        n++;
    }
}

int ws_ended_with(const ws_shell *s, macula_disconnect_reason reason)
{
    const ws_event *d = ws_disconnected(s);
    if (d && d->reason == reason && s->ends == 1 && macula__worker_state(s->w) == MACULA_PEER_ENDED)
        return 1;
    fprintf(stderr, "  %s: want %s, got %s (%s), ENDED %d times\n", s->name, macula_disconnect_reason_name(reason),
            d ? macula_disconnect_reason_name(d->reason) : "no DISCONNECTED", d ? d->detail : "", s->ends);
    return 0;
}

int ws_finish(ws_shell *s)
{
    if (!s->ends) {
        ws_close(s, "test over");
        for (int i = 0; i < 100 && !s->ends; i++)
            ws_advance(s, 60 * WS_SEC);
    }
    if (s->ends != 1)
        problem(s, "ENDED came %d times", s->ends);
    if (ws_count(s, MACULA_EVENT_DISCONNECTED) != 1)
        problem(s, "%zu DISCONNECTED events", ws_count(s, MACULA_EVENT_DISCONNECTED));
    if (s->has_owner && ws_count(s, MACULA_EVENT_HANDSHAKE_COMPLETE) != ws_count(s, MACULA_EVENT_CONNECTED))
        problem(s, "HANDSHAKE_COMPLETE does not match CONNECTED");
    /* Nothing may come out of an ended worker, whatever it is fed. */
    size_t events = s->n_events, diags = s->n_diags;
    static const uint8_t junk[8] = {0, 0, 0, 1, 0xa0, 0, 0, 0};
    macula__worker_close(s->w, s->now, "again");
    macula__worker_on_stream_data(s->w, s->now, s->open_sid, junk, sizeof junk, 1);
    macula__worker_on_transport_closed(s->w, s->now, "late");
    macula__worker_on_timer(s->w, s->now + 3600 * WS_SEC);
    uint8_t *wire = malloc(8);
    memcpy(wire, junk, 8);
    if (macula__worker_send(s->w, s->now, wire, 8) != MACULA_ERR_STALE_HANDLE)
        problem(s, "send on an ended worker is not STALE_HANDLE");
    ws_run(s);
    if (s->n_events != events || s->n_diags != diags)
        problem(s, "an ended worker produced actions");
    return s->problems;
}

/* --- identities and frames --- */

macula_identity *ws_identity(const char *name)
{
    if (strcmp(name, "mallory") == 0) {
        uint8_t seed[MACULA_SEED_LEN];
        for (size_t i = 0; i < sizeof seed; i++)
            seed[i] = (uint8_t)(0xA5 ^ i);
        return macula_identity_from_seed(seed, NULL);
    }
    json *root = vectors_load();
    if (!root)
        return NULL;
    const json *ids = json_get(root, "identities");
    macula_identity *id = NULL;
    for (size_t i = 0; ids && json_at(ids, i); i++) {
        const json *o = json_at(ids, i);
        const char *n = json_str(o, "name");
        if (n && strcmp(n, name) == 0) {
            size_t len = 0;
            uint8_t *seed = vectors_hex(o, "seed_hex", &len);
            if (seed && len == MACULA_SEED_LEN)
                id = macula_identity_from_seed(seed, NULL);
            free(seed);
        }
    }
    json_free(root);
    return id;
}

uint8_t *ws_vector_wire(const char *name, size_t *len)
{
    json *root = vectors_load();
    if (!root)
        return NULL;
    const json *v = vectors_find(root, "vectors", name);
    uint8_t *wire = v ? vectors_hex(v, "wire_hex", len) : NULL;
    json_free(root);
    return wire;
}

uint8_t *ws_vector(const char *name, size_t *len)
{
    uint8_t *w = ws_vector_wire(name, len);
    if (!w) {
        fprintf(stderr, "vector %s missing (MACULA_VECTORS)\n", name);
        exit(2);
    }
    return w;
}

int ws_identities(macula_identity **alice, macula_identity **bob, macula_identity **mallory)
{
    *alice = ws_identity("alice");
    *bob = ws_identity("bob");
    *mallory = ws_identity("mallory");
    if (*alice && *bob && *mallory)
        return 0;
    fprintf(stderr, "identities unavailable (MACULA_VECTORS)\n");
    ws_identities_free(*alice, *bob, *mallory);
    return -1;
}

void ws_identities_free(macula_identity *alice, macula_identity *bob, macula_identity *mallory)
{
    macula_identity_free(alice);
    macula_identity_free(bob);
    macula_identity_free(mallory);
}

uint8_t *ws_wire(macula_frame *f, const macula_identity *id, size_t *len)
{
    uint8_t *wire = NULL;
    if (!f)
        return NULL;
    if ((id && macula_frame_sign(f, id) != 0) || macula_frame_encode(f, &wire, len) != 0)
        wire = NULL;
    macula_frame_free(f);
    return wire;
}

uint8_t *ws_numbered_frame(const macula_identity *id, uint64_t n, size_t *len)
{
    macula_frame *f = macula_frame_new("publish", NULL);
    if (!f || macula_frame_put_uint(f, "seq", n) != 0 || macula_frame_put_bytes(f, "topic", "t", 1) != 0) {
        macula_frame_free(f);
        return NULL;
    }
    return ws_wire(f, id, len);
}

uint64_t ws_frame_seq(const macula_frame *f)
{
    uint64_t n;
    return f && macula_frame_get_uint(f, "seq", &n) == 0 ? n : UINT64_MAX;
}

void ws_config(macula__worker_config *cfg, int is_server, const macula_identity *id)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->is_server = is_server;
    cfg->peer = is_server ? 2 : 1;
    cfg->identity = id;
    cfg->capabilities = 5;
}
