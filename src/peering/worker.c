/* SPDX-License-Identifier: Apache-2.0 */
/* The connection worker: creation, the start signal (with the replay of
 * transport events that came before it), transport and timer inputs, the
 * API close, and the read-only accessors. The handshake, inbound and
 * outbound halves live in worker_handshake.c, macula__worker_inbound.c and
 * worker_outbound.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peering/worker_internal.h"
#include "identity/identity_internal.h"

const char *macula__worker_hex(const uint8_t *b, size_t n, char *buf, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    size_t i = 0;
    for (; i < n && 2 * i + 2 < size; i++) {
        buf[2 * i] = digits[b[i] >> 4];
        buf[2 * i + 1] = digits[b[i] & 15];
    }
    buf[2 * i] = '\0';
    return buf;
}

static void set_err(int *err, int code)
{
    if (err)
        *err = code;
}

macula__worker *macula__worker_new(const macula__worker_config *cfg, int *err)
{
    if (!cfg || !cfg->identity || (cfg->n_realms && !cfg->realms) || cfg->n_realms > MACULA__WORKER_MAX_REALMS) {
        set_err(err, MACULA_ERR_INVALID_ARG);
        return NULL;
    }
    macula__worker *w = calloc(1, sizeof *w);
    if (!w) {
        set_err(err, MACULA_ERR_NOMEM);
        return NULL;
    }
    int rc = 0;
    w->identity = macula__identity_dup(cfg->identity, &rc);
    w->max_frame_size = cfg->max_frame_size;
    w->max_decode_bytes = cfg->max_decode_bytes ? cfg->max_decode_bytes : MACULA__DEFAULT_MAX_DECODE_BYTES;
    w->recv.limit = cfg->recv_budget ? cfg->recv_budget : MACULA__DEFAULT_RECV_BUDGET;
    w->recv_global = cfg->recv_global;
    w->parser = macula__worker_parser_new(w, &rc);
    if (cfg->n_realms) {
        w->realms = malloc(cfg->n_realms * MACULA_REALM_LEN);
        if (w->realms)
            memcpy(w->realms, cfg->realms, cfg->n_realms * MACULA_REALM_LEN);
    }
    if (!w->identity || !w->parser || (cfg->n_realms && !w->realms)) {
        macula__worker_free(w);
        set_err(err, rc ? rc : MACULA_ERR_NOMEM);
        return NULL;
    }
    w->is_server = cfg->is_server ? 1 : 0;
    w->peer = cfg->peer;
    w->n_realms = cfg->n_realms;
    w->capabilities = cfg->capabilities;
    w->station = cfg->station != 0;
    w->lazy_frames = cfg->lazy_frames != 0;
    memcpy(w->station_id, cfg->station_id ? cfg->station_id : macula_identity_node_id(w->identity),
           MACULA_NODE_ID_LEN);
    if (cfg->expected_node_id) {
        w->has_expected = 1;
        memcpy(w->expected_node_id, cfg->expected_node_id, MACULA_NODE_ID_LEN);
    }
    w->has_accept_owner = cfg->has_accept_owner ? 1 : 0;
    w->handshake_timeout_ns = cfg->handshake_timeout_ns ? cfg->handshake_timeout_ns : WORKER_DEFAULT_HANDSHAKE_NS;
    w->drain_timeout_ns = cfg->drain_timeout_ns ? cfg->drain_timeout_ns : WORKER_DEFAULT_DRAIN_NS;
    w->send_queue_cap = cfg->send_queue_cap ? cfg->send_queue_cap : WORKER_DEFAULT_SEND_QUEUE_CAP;
    w->backlog_cap = cfg->backlog_cap ? cfg->backlog_cap : WORKER_DEFAULT_BACKLOG_CAP;
    w->max_peer_streams = cfg->max_peer_streams ? cfg->max_peer_streams : MACULA__WORKER_DEFAULT_MAX_PEER_STREAMS;
    w->max_peer_qid = -1;
    w->rr_last = -1;
    w->admit = cfg->is_server ? cfg->admit : NULL;
    w->admit_user = cfg->admit_user;
    w->state = w->is_server ? MACULA_PEER_AWAITING_START : MACULA_PEER_CONNECTING;
    /* A server worker is born on an accepted connection. */
    w->transport_open = w->is_server;
    w->refusal_code = -1;
    set_err(err, MACULA_OK);
    return w;
}

void macula__worker_free(macula__worker *w)
{
    if (!w)
        return;
    macula__worker_free_actions(w);
    macula__worker_free_outbound(w);
    macula__wstreams_free(w);
    for (worker_backlog *b = w->bl_head; b;) {
        worker_backlog *next = b->next;
        free(b);
        b = next;
    }
    macula_stream_parser_free(w->parser);
    w->parser = NULL;
    if (w->recv_global) /* what the runtime's budget still counts for us */
        macula__budget_give(w->recv_global, w->recv_counted);
    macula_identity_free(w->identity);
    free(w->realms);
    free(w->peer_realms);
    free(w);
}

/* --- the backlog of a server worker awaiting its start signal --- */

static int backlog_add(macula__worker *w, worker_backlog_kind kind, int64_t stream_id, uint64_t code,
                       const void *data, size_t len, int fin)
{
    size_t cost = sizeof(worker_backlog) + len + 1;
    if (cost > w->backlog_cap || w->bl_bytes > w->backlog_cap - cost) {
        macula__worker_end(w, MACULA_DISC_INTERNAL_ERROR, -1, "more than %zu bytes of transport events before the start",
                   w->backlog_cap);
        return -1;
    }
    worker_backlog *b = malloc(cost);
    if (!b) {
        macula__worker_end(w, MACULA_DISC_INTERNAL_ERROR, -1, "out of memory keeping an event before the start");
        return -1;
    }
    b->next = NULL;
    b->kind = kind;
    b->stream_id = stream_id;
    b->code = code;
    b->fin = fin;
    b->len = len;
    if (len)
        memcpy(b->data, data, len);
    b->data[len] = '\0';
    if (w->bl_tail)
        w->bl_tail->next = b;
    else
        w->bl_head = b;
    w->bl_tail = b;
    w->bl_bytes += cost;
    return 0;
}

/* Replays kept events in order. A replayed CONNECT makes the worker send
 * HELLO, whose result the shell reports only after executing the action:
 * replay pauses while a SEND awaits its result and resumes from
 * on_send_result(). Inputs that arrive while events are still kept join
 * the end of the backlog, so nothing overtakes them. */
void macula__worker_replay(macula__worker *w, uint64_t now)
{
    while (w->bl_head && w->started && !w->send_in_flight && w->state != MACULA_PEER_ENDED &&
           w->state != MACULA_PEER_AWAITING_START) {
        worker_backlog *b = w->bl_head;
        w->bl_head = b->next;
        if (!w->bl_head)
            w->bl_tail = NULL;
        w->bl_bytes -= sizeof(worker_backlog) + b->len + 1;
        w->replaying = 1;
        switch (b->kind) {
        case BL_STREAM_OPENED:
            macula__worker_on_stream_opened(w, now, b->stream_id);
            break;
        case BL_STREAM_DATA:
            macula__worker_on_stream_data(w, now, b->stream_id, b->data, b->len, b->fin);
            break;
        case BL_STREAM_RESET:
            macula__worker_on_stream_reset(w, now, b->stream_id, b->code);
            break;
        case BL_TRANSPORT_CLOSED:
            macula__worker_on_transport_closed(w, now, (const char *)b->data);
            break;
        }
        w->replaying = 0;
        free(b);
    }
}

/* Whether an input must wait in the backlog: before the start, and while
 * earlier events are still being replayed. */
static int must_keep(const macula__worker *w)
{
    return w->state == MACULA_PEER_AWAITING_START || (w->bl_head && !w->replaying);
}

/* --- inputs --- */

static void unexpected(macula__worker *w, const char *event)
{
    macula__worker_diag(w, "unexpected_event", "event", event, (const char *)NULL);
}

void macula__worker_start(macula__worker *w, uint64_t now)
{
    if (!w || w->state == MACULA_PEER_ENDED)
        return;
    if (w->started) {
        unexpected(w, "start");
        return;
    }
    w->started = 1;
    if (!w->is_server) {
        macula__worker_action a;
        memset(&a, 0, sizeof a);
        a.type = MACULA__ACT_DIAL;
        w->transport_open = 1;
        macula__worker_push(w, &a);
        return;
    }
    w->state = MACULA_PEER_HANDSHAKING;
    macula__worker_arm_timer(w, now + w->handshake_timeout_ns);
    macula__worker_replay(w, now);
}

void macula__worker_on_dial_succeeded(macula__worker *w, uint64_t now)
{
    if (!w || w->state == MACULA_PEER_ENDED)
        return;
    if (w->is_server || w->state != MACULA_PEER_CONNECTING || !w->started) {
        unexpected(w, "dial_succeeded");
        return;
    }
    w->state = MACULA_PEER_HANDSHAKING;
    macula__worker_arm_timer(w, now + w->handshake_timeout_ns);
    macula__worker_action a;
    memset(&a, 0, sizeof a);
    a.type = MACULA__ACT_OPEN_STREAM;
    w->stream_open_pending = 1;
    macula__worker_push(w, &a);
}

void macula__worker_on_dial_failed(macula__worker *w, uint64_t now, const char *detail)
{
    (void)now;
    if (!w || w->state == MACULA_PEER_ENDED)
        return;
    if (w->is_server || w->state != MACULA_PEER_CONNECTING || !w->started) {
        unexpected(w, "dial_failed");
        return;
    }
    w->transport_open = 0; /* nothing left to close */
    macula__worker_end(w, MACULA_DISC_CONNECT_FAILED, -1, "%s", detail ? detail : "");
}

void macula__worker_on_stream_open_result(macula__worker *w, uint64_t now, int rc, int64_t stream_id)
{
    (void)now;
    if (!w || w->state == MACULA_PEER_ENDED)
        return;
    if (!w->stream_open_pending && macula__wstreams_open_pending(w)) {
        macula__wstreams_open_result(w, rc, stream_id);
        macula__worker_flush(w);
        return;
    }
    if (!w->stream_open_pending || w->state != MACULA_PEER_HANDSHAKING) {
        unexpected(w, "stream_open_result");
        return;
    }
    w->stream_open_pending = 0;
    if (rc != 0) {
        macula__worker_end(w, MACULA_DISC_STREAM_OPEN_FAILED, -1, "%s", macula_err_name(rc));
        return;
    }
    w->has_stream = 1;
    w->stream_id = stream_id;
    macula__worker_send_connect(w);
}

void macula__worker_on_stream_opened(macula__worker *w, uint64_t now, int64_t stream_id)
{
    (void)now;
    if (!w || w->state == MACULA_PEER_ENDED)
        return;
    if (must_keep(w)) {
        backlog_add(w, BL_STREAM_OPENED, stream_id, 0, NULL, 0, 0);
        return;
    }
    if (!w->is_server || w->has_stream) {
        if (!(w->has_stream && stream_id == w->stream_id))
            macula__wstreams_peer_opened(w, now, stream_id);
        return;
    }
    w->has_stream = 1;
    w->stream_id = stream_id;
    macula__worker_flush(w);
}

void macula__worker_on_stream_data(macula__worker *w, uint64_t now, int64_t stream_id, const uint8_t *data,
                                   size_t len, int fin)
{
    if (!w || w->state == MACULA_PEER_ENDED || (len && !data))
        return;
    if (must_keep(w)) {
        backlog_add(w, BL_STREAM_DATA, stream_id, 0, data, len, fin);
        return;
    }
    macula__worker_inbound(w, now, stream_id, data, len, fin);
}

void macula__worker_on_stream_reset(macula__worker *w, uint64_t now, int64_t stream_id, uint64_t app_error_code)
{
    (void)now;
    if (!w || w->state == MACULA_PEER_ENDED)
        return;
    if (must_keep(w)) {
        backlog_add(w, BL_STREAM_RESET, stream_id, app_error_code, NULL, 0, 0);
        return;
    }
    if (w->has_stream && stream_id != w->stream_id) {
        macula__wstreams_peer_reset(w, stream_id, app_error_code);
        return;
    }
    if (!w->has_stream || w->state == MACULA_PEER_CONNECTING) {
        unexpected(w, "stream_reset");
        return;
    }
    char detail[64];
    snprintf(detail, sizeof detail, "stream reset by the peer (code %llu)", (unsigned long long)app_error_code);
    macula__worker_peer_gone(w, detail);
}

void macula__worker_on_transport_closed(macula__worker *w, uint64_t now, const char *detail)
{
    (void)now;
    if (!w || w->state == MACULA_PEER_ENDED)
        return;
    if (!detail)
        detail = "";
    if (must_keep(w)) {
        backlog_add(w, BL_TRANSPORT_CLOSED, 0, 0, detail, strlen(detail), 0);
        return;
    }
    w->transport_open = 0; /* gone: nothing to close any more */
    macula__worker_peer_gone(w, detail);
}

void macula__worker_on_timer(macula__worker *w, uint64_t now)
{
    if (!w || w->state == MACULA_PEER_ENDED)
        return;
    if (!w->timer_armed) {
        unexpected(w, "timer_not_armed");
        return;
    }
    if (now < w->timer_deadline) { /* early wake-up: keep waiting */
        macula__worker_arm_timer(w, w->timer_deadline);
        return;
    }
    w->timer_armed = 0;
    char ms[24];
    switch (w->state) {
    case MACULA_PEER_HANDSHAKING:
        snprintf(ms, sizeof ms, "%llu", (unsigned long long)(w->handshake_timeout_ns / 1000000u));
        macula__worker_diag(w, "handshake_timeout", "timeout_ms", ms, (const char *)NULL);
        macula__worker_end(w, MACULA_DISC_HANDSHAKE_TIMEOUT, -1, "no %s within %s ms", w->is_server ? "CONNECT" : "HELLO",
                   ms);
        break;
    case MACULA_PEER_DRAINING:
        if (w->refusing)
            macula__worker_end(w, MACULA_DISC_REFUSED, w->refusal_code, "refused the peer (refusal_code %lld)",
                       (long long)w->refusal_code);
        else
            macula__worker_end(w, MACULA_DISC_DRAINED, -1, "%s", "");
        break;
    default:
        unexpected(w, "timer");
        break;
    }
}

void macula__worker_close(macula__worker *w, uint64_t now, const char *reason)
{
    if (!w)
        return;
    if (!reason)
        reason = "normal";
    switch (w->state) {
    case MACULA_PEER_CONNECTING:
    case MACULA_PEER_AWAITING_START:
    case MACULA_PEER_HANDSHAKING:
        macula__worker_end(w, MACULA_DISC_CLOSED, -1, "%s", reason);
        return;
    case MACULA_PEER_CONNECTED:
        break;
    default: /* draining or ended: nothing to do */
        return;
    }
    int err = 0;
    uint8_t *wire = NULL;
    size_t len = 0;
    macula_frame *bye = macula_frame_goodbye(reason, NULL, 0, &err);
    int rc = bye ? macula__worker_sign_encode(w, bye, &wire, &len) : err;
    if (rc != 0) {
        macula__worker_end(w, MACULA_DISC_INTERNAL_ERROR, -1, "cannot build GOODBYE: %s", macula_err_name(rc));
        return;
    }
    w->state = MACULA_PEER_DRAINING;
    /* GOODBYE ends every stream: each finishes after what is queued on it. */
    macula__wstreams_close_all(w);
    if (macula__worker_queue_out(w, OUT_GOODBYE, wire, len) != 0) {
        macula__worker_end(w, MACULA_DISC_INTERNAL_ERROR, -1, "out of memory queueing GOODBYE");
        return;
    }
    macula__worker_arm_timer(w, now + w->drain_timeout_ns);
}

/* --- dedicated streams (API) --- */

int macula__worker_open_stream(macula__worker *w, uint64_t now, int64_t id)
{
    (void)now;
    if (!w)
        return MACULA_ERR_INVALID_ARG;
    if (w->state == MACULA_PEER_ENDED)
        return MACULA_ERR_STALE_HANDLE;
    /* Our side's QUIC numbering (bidi, initiator bit), so that ids of
     * streams we open can never meet the ids of the peer's. */
    if (id <= 0 || (id & 3) != (w->is_server ? 1 : 0)) {
        macula__worker_diag(w, "stream_open_failed", "error", "bad_stream_id", (const char *)NULL);
        return MACULA_ERR_INVALID_ARG;
    }
    /* Ids only grow (as the API hands them out): an id is never reused,
     * so its events come once. */
    if (id <= w->max_local_id) {
        macula__worker_diag(w, "stream_open_failed", "error", "stream_id_used", (const char *)NULL);
        return MACULA_ERR_INVALID_ARG;
    }
    w->max_local_id = id;
    if (w->state != MACULA_PEER_CONNECTED) {
        /* The application holds the id already: tell it the stream is over. */
        macula__wstream tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.id = id;
        macula__worker_diag(w, "stream_open_failed", "error", "not_connected", (const char *)NULL);
        macula__worker_emit_stream_event(w, MACULA_EVENT_STREAM_CLOSED, &tmp, NULL, 0, MACULA_STREAM_END_RESET, 0,
                                         w->state == MACULA_PEER_DRAINING ? "the peer is draining"
                                                                          : "the peer is not connected");
        return MACULA_ERR_STATE;
    }
    return macula__wstreams_open(w, id);
}

int macula__worker_finish_stream(macula__worker *w, uint64_t now, int64_t id)
{
    (void)now;
    if (!w)
        return MACULA_ERR_INVALID_ARG;
    if (w->state == MACULA_PEER_ENDED)
        return MACULA_ERR_STALE_HANDLE;
    if (id == MACULA_STREAM_CONTROL)
        return MACULA_ERR_INVALID_ARG;
    int rc = macula__wstreams_finish(w, id);
    if (rc != 0)
        unexpected(w, "finish_unknown_stream");
    return rc;
}

int macula__worker_reset_stream(macula__worker *w, uint64_t now, int64_t id, uint64_t code)
{
    (void)now;
    if (!w)
        return MACULA_ERR_INVALID_ARG;
    if (w->state == MACULA_PEER_ENDED)
        return MACULA_ERR_STALE_HANDLE;
    if (id == MACULA_STREAM_CONTROL || code >= ((uint64_t)1 << 62))
        return MACULA_ERR_INVALID_ARG;
    int rc = macula__wstreams_reset(w, id, code);
    if (rc != 0)
        unexpected(w, "reset_unknown_stream");
    return rc;
}

void macula__worker_count_dropped(macula__worker *w, uint64_t n)
{
    if (w)
        w->frames_dropped += n;
}

/* --- accessors --- */

macula_peer_state macula__worker_state(const macula__worker *w) { return w->state; }

int macula__worker_is_server(const macula__worker *w) { return w->is_server; }

void macula__worker_get_info(const macula__worker *w, macula_peer_info *out)
{
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    out->state = w->state;
    out->is_server = w->is_server;
    out->has_node_id = w->has_peer;
    if (w->has_peer) {
        memcpy(out->node_id, w->peer_node_id, MACULA_NODE_ID_LEN);
        memcpy(out->station_id, w->peer_station_id, MACULA_NODE_ID_LEN);
        out->capabilities = w->peer_capabilities;
        out->n_realms = w->n_peer_realms;
    }
    out->frames_in = w->frames_in;
    out->frames_out = w->frames_out;
    out->bytes_in = w->bytes_in;
    out->bytes_out = w->bytes_out;
    out->frames_dropped = w->frames_dropped;
    out->recv_held = w->recv.used;
    out->recv_peak = w->recv.peak;
    out->frames_undecoded = w->frames_undecoded;
    out->decode_refused = w->decode_refused;
    out->reads_paused = w->reads_paused;
}

void macula__worker_on_dead_peer(macula__worker *w, uint64_t now, uint64_t silent_ms)
{
    (void)now;
    if (!w || w->ending || w->state == MACULA_PEER_ENDED)
        return;
    macula__worker_end(w, MACULA_DISC_DEAD_PEER, -1, "nothing heard from the peer for %llu ms",
                       (unsigned long long)silent_ms);
}

void macula__worker_count_paused(macula__worker *w)
{
    if (w)
        w->reads_paused++;
}

void macula__worker_get_budget_info(const macula__worker *w, macula__worker_budget_info *out)
{
    out->recv_held = w->recv.used;
    out->recv_peak = w->recv.peak;
    out->frames_undecoded = w->frames_undecoded;
    out->decode_refused = w->decode_refused;
}

const uint8_t *macula__worker_peer_realms(const macula__worker *w, size_t *n)
{
    if (n)
        *n = w->n_peer_realms;
    return w->n_peer_realms ? w->peer_realms : NULL;
}
