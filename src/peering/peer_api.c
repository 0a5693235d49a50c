/* SPDX-License-Identifier: Apache-2.0 */
/* The public calls of peering.h that any thread may make: connect and
 * accept (build the entry here, start it on the loop), close, send_frame /
 * send_wire (sign and encode here, in the calling thread, and enforce
 * send_queue_cap before queueing), and the getters (from the snapshot the
 * loop publishes). */
#include <stdlib.h>
#include <string.h>

#include "frame/wire_check.h"
#include "peering/supervisor.h"
#include "util/abi.h"

/* Released layouts of macula_peer_info (common.h, "ABI rules"). */
static const size_t peer_info_ends[] = {MACULA__FIELD_END(macula_peer_info, peer_addr),
                                        MACULA__FIELD_END(macula_peer_info, reads_paused), sizeof(macula_peer_info)};
_Static_assert(offsetof(macula_peer_info, recv_held) >=
                   MACULA__ROUND_UP(MACULA__FIELD_END(macula_peer_info, peer_addr), _Alignof(macula_peer_info)),
               "release 2 of macula_peer_info starts inside release 1's tail padding");

void macula_peer_info_init_sized(macula_peer_info *out, size_t struct_size)
{
    if (!out)
        return;
    macula_peer_info d;
    memset(&d, 0, sizeof d);
    macula__abi_init(out, struct_size, &d, sizeof d);
}

static void set_err(int *err, int rc)
{
    if (err)
        *err = rc;
}

/* The runtime's peering state if it exists (no handle can be live
 * otherwise). */
static macula__peering *existing(macula_runtime *rt)
{
    return rt ? macula__runtime_slot_get_or_make(rt, MACULA__SLOT_PEERING, NULL, NULL) : NULL;
}

static macula__peering_cmd *new_cmd(macula__peering_cmd_kind kind, macula_peer p, size_t extra)
{
    macula__peering_cmd *c = calloc(1, sizeof *c + extra + 1);
    if (c) {
        c->kind = kind;
        c->peer = p;
    }
    return c;
}

/* Builds an entry from `o` and queues its start. */
static macula_peer start_peer(macula_runtime *rt, const macula_peer_options *o, int is_server,
                              macula_quic_conn *conn, int *err, const char **errmsg)
{
    macula__peer_template t;
    int rc;
    if (errmsg)
        *errmsg = NULL;
    if (!rt) {
        if (errmsg)
            *errmsg = "rt";
        set_err(err, MACULA_ERR_INVALID_ARG);
        return MACULA_PEER_INVALID;
    }
    if (is_server && !conn) {
        if (errmsg)
            *errmsg = "conn";
        set_err(err, MACULA_ERR_INVALID_ARG);
        return MACULA_PEER_INVALID;
    }
    rc = macula__peer_template_init(&t, o, is_server, NULL, errmsg);
    if (rc != 0) {
        set_err(err, rc);
        return MACULA_PEER_INVALID;
    }
    if (macula__runtime_stopping(rt)) {
        macula__peer_template_clear(&t);
        set_err(err, MACULA_ERR_SHUTDOWN);
        return MACULA_PEER_INVALID;
    }
    macula__peering *pr = macula__peering_get(rt);
    macula__peer_entry *e = pr ? macula__peer_entry_new(pr, &t, &rc) : NULL;
    macula__peer_template_clear(&t); /* a client entry took it over; a server entry copied it */
    if (!e) {
        set_err(err, pr ? rc : MACULA_ERR_NOMEM);
        return MACULA_PEER_INVALID;
    }
    macula_peer handle = e->handle; /* `e` belongs to the loop once queued */
    macula__peering_cmd *c = new_cmd(is_server ? MACULA__CMD_ACCEPT : MACULA__CMD_START, handle, 0);
    if (!c) {
        macula__peer_entry_discard(e);
        set_err(err, MACULA_ERR_NOMEM);
        return MACULA_PEER_INVALID;
    }
    c->entry = e;
    c->conn = conn;
    rc = macula__peering_post(pr, c);
    set_err(err, rc);
    return rc == 0 ? handle : MACULA_PEER_INVALID;
}

macula_peer macula_peer_connect(macula_runtime *rt, const macula_peer_options *opts, int *err, const char **errmsg)
{
    return start_peer(rt, opts, 0, NULL, err, errmsg);
}

macula_peer macula_peer_accept(macula_runtime *rt, macula_quic_conn *conn, const macula_peer_options *opts,
                               int *err, const char **errmsg)
{
    return start_peer(rt, opts, 1, conn, err, errmsg);
}

int macula_peer_close(macula_runtime *rt, macula_peer p, const char *reason)
{
    macula__peering *pr = existing(rt);
    if (!pr)
        return rt ? 0 : MACULA_ERR_INVALID_ARG;
    macula__peer_shared *sh = macula__peer_table_ref(&pr->table, p);
    if (!sh)
        return 0; /* stale: nothing to close */
    /* Sends from now on are refused (MACULA_ERR_STATE) rather than queued
     * behind the GOODBYE and dropped. */
    atomic_store(&sh->closing, 1);
    macula__peer_shared_unref(sh);
    size_t len = reason ? strlen(reason) : 0;
    macula__peering_cmd *c = new_cmd(MACULA__CMD_CLOSE, p, len);
    if (!c)
        return MACULA_ERR_NOMEM;
    if (len)
        memcpy(c->reason, reason, len);
    return macula__peering_post(pr, c);
}

/* After a MACULA_ERR_QUEUE_FULL refusal of `len` bytes: a SEND_READY is
 * owed. The first refusal asks the loop to check (the queue may have
 * drained meanwhile, with no later step to notice); later steps check on
 * their own. A frame larger than the cap never fits: no event. */
static void owe_send_ready(macula__peering *pr, macula__peer_shared *sh, macula_peer p, size_t len)
{
    if (len > sh->send_queue_cap)
        return;
    atomic_store(&sh->refused_len, len);
    if (atomic_exchange(&sh->want_send_ready, 1))
        return;
    macula__peering_cmd *c = new_cmd(MACULA__CMD_SEND_READY_CHECK, p, 0);
    if (c)
        (void)macula__peering_post(pr, c); /* best effort: the next step checks too */
}

/* Reserves `len` bytes of the peer's send queue and queues `wire`
 * (taken in every case). */
static int queue_wire_buf(macula__peering *pr, macula__peer_shared *sh, macula_peer p, int64_t stream,
                          uint8_t *wire, size_t len, macula__wirebuf *wb);

static int queue_wire(macula__peering *pr, macula__peer_shared *sh, macula_peer p, int64_t stream, uint8_t *wire,
                      size_t len)
{
    return queue_wire_buf(pr, sh, p, stream, wire, len, NULL);
}

/* queue_wire with either malloc'd `wire` or a wirebuf reference `wb`
 * (wire NULL, len = wb->len), taken in every case. */
static int queue_wire_buf(macula__peering *pr, macula__peer_shared *sh, macula_peer p, int64_t stream,
                          uint8_t *wire, size_t len, macula__wirebuf *wb)
{
    int rc = macula__peer_shared_reserve(sh, len);
    if (rc != 0) {
        free(wire);
        macula__wirebuf_unref(wb);
        if (rc == MACULA_ERR_QUEUE_FULL)
            owe_send_ready(pr, sh, p, len);
        macula__peer_shared_unref(sh);
        return rc;
    }
    macula__peering_cmd *c = new_cmd(MACULA__CMD_SEND, p, 0);
    if (!c) {
        macula__peer_shared_unreserve(sh, len);
        macula__peer_shared_unref(sh);
        free(wire);
        macula__wirebuf_unref(wb);
        return MACULA_ERR_NOMEM;
    }
    c->wire = wire;
    c->wb = wb;
    c->len = len;
    c->stream = stream;
    c->sh = sh; /* our reference moves into the command */
    atomic_fetch_add(&sh->unsent_frames, 1); /* the command's free takes it back */
    /* After counting: a peer ending meanwhile either saw the count (the
     * frame is in its final frames_dropped) or ended before it, and the
     * frame is refused here rather than lost unnoticed (peer_shell.c). */
    if (atomic_load(&sh->ended)) {
        macula__peering_cmd_free(c);
        return MACULA_ERR_STALE_HANDLE;
    }
    return macula__peering_post(pr, c);
}

/* A reference to a live peer's shared block, or NULL. */
static macula__peer_shared *live_peer(macula_runtime *rt, macula_peer p, macula__peering **pr_out)
{
    macula__peering *pr = existing(rt);
    macula__peer_shared *sh = pr ? macula__peer_table_ref(&pr->table, p) : NULL;
    if (sh && atomic_load(&sh->ended)) {
        macula__peer_shared_unref(sh);
        sh = NULL;
    }
    *pr_out = pr;
    return sh;
}

static int send_frame_on(macula_runtime *rt, macula_peer p, int64_t stream, macula_frame *frame)
{
    if (!rt || !frame) {
        macula_frame_free(frame);
        return MACULA_ERR_INVALID_ARG;
    }
    macula__peering *pr;
    macula__peer_shared *sh = live_peer(rt, p, &pr);
    if (!sh) {
        macula_frame_free(frame);
        return MACULA_ERR_STALE_HANDLE;
    }
    int rc = macula__peer_shared_send_allowed(sh);
    if (rc != 0) {
        macula_frame_free(frame);
        macula__peer_shared_unref(sh);
        return rc;
    }
    /* Sign and encode here: callers on several threads do this work in
     * parallel, and a frame that cannot be encoded is refused at once. A
     * peer's unsigned frame is never signed: that would make us a signing
     * oracle for whoever sends it (e.g. an echo of a frame naming us as
     * publisher). */
    if (macula_frame_is_signed(frame))
        rc = 0;
    else if (macula__frame_is_received(frame))
        rc = MACULA_ERR_NOT_SIGNABLE;
    else
        rc = macula_frame_sign(frame, sh->identity);
    uint8_t *wire = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = macula_frame_encode(frame, &wire, &len);
    macula_frame_free(frame);
    if (rc != 0) {
        macula__peer_shared_unref(sh);
        return rc;
    }
    return queue_wire(pr, sh, p, stream, wire, len);
}

int macula_peer_send_frame(macula_runtime *rt, macula_peer p, macula_frame *frame)
{
    return send_frame_on(rt, p, MACULA_STREAM_CONTROL, frame);
}

int macula_peer_send_frame_on(macula_runtime *rt, macula_peer p, macula_stream stream, macula_frame *frame)
{
    if (stream < 0) {
        macula_frame_free(frame);
        return MACULA_ERR_INVALID_ARG;
    }
    return send_frame_on(rt, p, stream, frame);
}

static int send_wire_on(macula_runtime *rt, macula_peer p, int64_t stream, const uint8_t *wire, size_t len)
{
    if (!rt || (!wire && len))
        return MACULA_ERR_INVALID_ARG;
    /* Exactly one well-formed frame, so that the peer's stream stays in
     * step whatever the caller passed (checked without building it). */
    size_t consumed = 0;
    int rc = macula__frame_check_wire(wire, len, &consumed);
    if (rc == MACULA_ERR_NEED_MORE || (rc == 0 && consumed != len))
        rc = MACULA_ERR_BAD_FRAME;
    if (rc != 0)
        return rc;
    macula__peering *pr;
    macula__peer_shared *sh = live_peer(rt, p, &pr);
    if (!sh)
        return MACULA_ERR_STALE_HANDLE;
    rc = macula__peer_shared_send_allowed(sh);
    if (rc != 0) {
        macula__peer_shared_unref(sh);
        return rc;
    }
    uint8_t *copy = malloc(len);
    if (!copy) {
        macula__peer_shared_unref(sh);
        return MACULA_ERR_NOMEM;
    }
    memcpy(copy, wire, len);
    return queue_wire(pr, sh, p, stream, copy, len);
}

int macula_peer_send_wire(macula_runtime *rt, macula_peer p, const uint8_t *wire, size_t len)
{
    return send_wire_on(rt, p, MACULA_STREAM_CONTROL, wire, len);
}

int macula_peer_send_wire_on(macula_runtime *rt, macula_peer p, macula_stream stream, const uint8_t *wire,
                             size_t len)
{
    if (stream < 0)
        return MACULA_ERR_INVALID_ARG;
    return send_wire_on(rt, p, stream, wire, len);
}

/* Queues a stream command for a live peer. */
static int stream_cmd(macula_runtime *rt, macula_peer p, macula__peering_cmd_kind kind, int64_t stream,
                      uint64_t code, int64_t *stream_out)
{
    macula__peering *pr;
    macula__peer_shared *sh = live_peer(rt, p, &pr);
    if (!sh)
        return MACULA_ERR_STALE_HANDLE;
    if (kind == MACULA__CMD_OPEN_STREAM)
        stream = atomic_fetch_add(&sh->next_stream, 4);
    macula__peer_shared_unref(sh);
    macula__peering_cmd *c = new_cmd(kind, p, 0);
    if (!c)
        return MACULA_ERR_NOMEM;
    c->stream = stream;
    c->code = code;
    int rc = macula__peering_post(pr, c);
    if (rc == 0 && stream_out)
        *stream_out = stream;
    return rc;
}

int macula_peer_open_stream(macula_runtime *rt, macula_peer p, macula_stream *stream_out)
{
    if (!rt || !stream_out)
        return MACULA_ERR_INVALID_ARG;
    return stream_cmd(rt, p, MACULA__CMD_OPEN_STREAM, 0, 0, stream_out);
}

int macula_peer_finish_stream(macula_runtime *rt, macula_peer p, macula_stream stream)
{
    if (!rt || stream <= MACULA_STREAM_CONTROL)
        return MACULA_ERR_INVALID_ARG;
    return stream_cmd(rt, p, MACULA__CMD_FINISH_STREAM, stream, 0, NULL);
}

int macula_peer_reset_stream(macula_runtime *rt, macula_peer p, macula_stream stream, uint64_t code)
{
    if (!rt || stream <= MACULA_STREAM_CONTROL || code >= ((uint64_t)1 << 62))
        return MACULA_ERR_INVALID_ARG;
    return stream_cmd(rt, p, MACULA__CMD_RESET_STREAM, stream, code, NULL);
}

int macula_peer_get_info(macula_runtime *rt, macula_peer p, macula_peer_info *out)
{
    if (!rt || !out || !macula__abi_size(out, peer_info_ends, sizeof peer_info_ends / sizeof peer_info_ends[0]))
        return MACULA_ERR_INVALID_ARG;
    macula__peering *pr;
    macula__peer_shared *sh = live_peer(rt, p, &pr);
    if (!sh)
        return MACULA_ERR_STALE_HANDLE;
    macula_peer_info full;
    macula__peer_shared_snapshot(sh, &full, NULL, 0);
    macula__peer_shared_unref(sh);
    return macula__abi_write(out, &full, peer_info_ends, sizeof peer_info_ends / sizeof peer_info_ends[0]);
}

int macula_peer_get_realms(macula_runtime *rt, macula_peer p, uint8_t *out, size_t max)
{
    if (!rt || (!out && max))
        return MACULA_ERR_INVALID_ARG;
    macula__peering *pr;
    macula__peer_shared *sh = live_peer(rt, p, &pr);
    if (!sh)
        return MACULA_ERR_STALE_HANDLE;
    size_t n = macula__peer_shared_snapshot(sh, NULL, out, max);
    macula__peer_shared_unref(sh);
    return (int)n;
}

#define FORWARD_QUEUE 1

/* The loop thread's shortcut (a relay's handler): the buffer goes straight
 * into the target worker, without a command, its allocation, the queue's
 * lock and a wake-up. Only when no SEND command for the target is still
 * on its way (unsent_frames == 0: calls keep their order) and the target
 * is connected; otherwise FORWARD_QUEUE (take the command path). Takes
 * nothing on FORWARD_QUEUE; otherwise releases `sh`. */
static int forward_on_loop(macula__peering *pr, macula__peer_shared *sh, macula_peer to, int64_t stream,
                           macula__wirebuf *wb)
{
    if (!macula_runtime_on_loop_thread(pr->rt) || atomic_load(&sh->unsent_frames) != 0)
        return FORWARD_QUEUE;
    macula__peer_entry *e = macula__peer_table_entry(&pr->table, to);
    if (!e || !e->linked || e->ended || macula__worker_state(e->w) != MACULA_PEER_CONNECTED)
        return FORWARD_QUEUE;
    int rc = macula__peer_shared_reserve(sh, wb->len);
    if (rc != 0) {
        if (rc == MACULA_ERR_QUEUE_FULL)
            owe_send_ready(pr, sh, to, wb->len);
        macula__peer_shared_unref(sh);
        return rc;
    }
    rc = macula__worker_send_buf(e->w, macula__loop_now(pr->loop), stream, macula__wirebuf_ref(wb));
    /* the worker counts the bytes now: the reservation goes back */
    macula__peer_shared_set_worker_bytes(sh, macula__worker_queued_bytes(e->w));
    macula__peer_shared_unreserve(sh, wb->len);
    macula__peer_shared_unref(sh);
    macula__peer_entry_drive(e); /* a no-op inside e's own drive: the outer one executes */
    return rc;
}

int macula_peer_forward(macula_runtime *rt, macula_peer to, macula_stream stream, macula_event *ev)
{
    if (!rt || !ev || ev->type != MACULA_EVENT_FRAME || stream < 0 || !ev->wire || !ev->wire_len)
        return MACULA_ERR_INVALID_ARG;
    macula__wirebuf *wb = ev->wire_ref_;
    if (!wb || wb->data != ev->wire || wb->len != ev->wire_len)
        return send_wire_on(rt, to, stream, ev->wire, ev->wire_len); /* not ours: checked and copied */
    macula__peering *pr;
    macula__peer_shared *sh = live_peer(rt, to, &pr);
    if (!sh)
        return MACULA_ERR_STALE_HANDLE;
    int rc = macula__peer_shared_send_allowed(sh);
    if (rc != 0) {
        macula__peer_shared_unref(sh);
        return rc;
    }
    /* The bytes were checked when they arrived and never change: no check,
     * no copy, one more reference. */
    rc = forward_on_loop(pr, sh, to, stream, wb);
    if (rc != FORWARD_QUEUE)
        return rc;
    return queue_wire_buf(pr, sh, to, stream, NULL, wb->len, macula__wirebuf_ref(wb));
}
