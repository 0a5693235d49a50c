/* SPDX-License-Identifier: Apache-2.0 */
/* The shell around one connection worker (worker.h, "What the shell must
 * do"): it executes the worker's actions against a QUIC connection, feeds
 * it QUIC events and its timer, routes its events to the handler, the
 * accept owner or a mailbox, publishes its state for the getters, and
 * frees it after ENDED. See supervisor.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peering/mailbox.h"
#include "peering/supervisor.h"

static void timer_cb(void *arg);

void macula__peering_quic_sink(void *user, const macula_quic_event *ev)
{
    (void)user;
    (void)ev;
}

static void fwd_timer_cb(void *arg) { macula__peer_entry_drive(arg); }

macula__peer_entry *macula__peer_entry_new(macula__peering *pr, macula__peer_template *t, int *err)
{
    int rc = MACULA_ERR_NOMEM;
    macula__peer_entry *e = calloc(1, sizeof *e);
    if (!e)
        goto fail;
    e->pr = pr;
    e->cur_sid = -1;
    e->sh = macula__peer_shared_new(t->identity, t->send_queue_cap, t->is_server, &rc);
    if (!e->sh)
        goto fail_e;
    e->sh->queue_until_connected = t->queue_until_connected; /* before any other thread can see it */
    if (pr->send_budget) {
        atomic_fetch_add(&pr->send_budget->refs, 1);
        e->sh->global = pr->send_budget;
    }
    e->peer_user = t->peer_user;
    e->dp_timeout_ns = (uint64_t)t->dead_peer_timeout_ms * 1000000u;
    e->queue_until_connected = t->queue_until_connected;
    rc = macula__peer_table_add(&pr->table, e->sh, e, &e->handle);
    if (rc != 0)
        goto fail_sh;
    macula__worker_config cfg;
    macula__peer_template_worker_config(t, e->handle, &cfg);
    cfg.recv_global = &pr->recv_budget;
    e->w = macula__worker_new(&cfg, &rc);
    if (!e->w)
        goto fail_table;
    e->handler = t->handler;
    e->handler_user = t->handler_user;
    e->owner = t->accept_owner;
    e->owner_user = t->accept_owner_user;
    if (!t->is_server) {
        e->dial = malloc(sizeof *e->dial);
        if (!e->dial) {
            rc = MACULA_ERR_NOMEM;
            goto fail_worker;
        }
        *e->dial = *t; /* moved: the entry owns the target now */
        memset(t, 0, sizeof *t);
    }
    macula__timer_init(&e->timer, timer_cb, e);
    macula__timer_init(&e->fwd_timer, fwd_timer_cb, e);
    return e;

fail_worker:
    macula__worker_free(e->w);
fail_table:
    macula__peer_table_remove(&pr->table, e->handle);
fail_sh:
    macula__peer_shared_unref(e->sh);
fail_e:
    free(e);
fail:
    if (err)
        *err = rc;
    return NULL;
}

/* Frees the held SENDs (their reservations go back). */
static void free_held(macula__peer_entry *e)
{
    while (e->held_head) {
        macula__peering_cmd *c = e->held_head;
        e->held_head = c->next;
        macula__peering_cmd_free(c);
    }
    e->held_tail = NULL;
}

static void free_memory(macula__peer_entry *e)
{
    if (macula__timer_armed(&e->fwd_timer)) /* armed only on the loop thread */
        macula__timer_cancel(e->pr->loop, &e->fwd_timer);
    free_held(e);
    macula__bp_clear(e);
    macula__peer_table_remove(&e->pr->table, e->handle);
    atomic_store(&e->sh->ended, 1);
    macula__peer_shared_unref(e->sh);
    macula__worker_free(e->w);
    if (e->dial) {
        macula__peer_template_clear(e->dial);
        free(e->dial);
    }
    free(e);
}

void macula__peer_entry_discard(macula__peer_entry *e)
{
    if (e)
        free_memory(e);
}

static void unlink_entry(macula__peer_entry *e)
{
    macula__peering *pr = e->pr;
    if (e->prev)
        e->prev->next = e->next;
    else
        pr->entries = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
    e->linked = 0;
}

/* After ENDED: let go of the connection, the listener and the handle. */
static void finish(macula__peer_entry *e)
{
    macula__peering *pr = e->pr;
    macula__timer_cancel(pr->loop, &e->timer);
    macula__dp_stop(e);
    if (e->conn) {
        /* The worker closes its transport before it ends; this is only a
         * safety net so that no event can reach a freed entry. */
        macula_quic_conn_close(e->conn, 0, NULL);
        macula_quic_conn_set_owner(e->conn, macula__peering_quic_sink, NULL);
        e->conn = NULL;
    }
    if (e->listener)
        macula__listener_entry_gone(e);
    unlink_entry(e);
    free_memory(e);
    macula__peering_entry_gone(pr);
}

void macula__peer_entry_free_now(macula__peer_entry *e)
{
    macula__timer_cancel(e->pr->loop, &e->timer);
    macula__dp_stop(e);
    e->listener = NULL; /* listeners are freed wholesale after the entries */
    if (e->linked) {
        unlink_entry(e);
        e->pr->n_entries--;
    }
    free_memory(e);
}

/* --- connection --- */

static void set_peer_addr(macula__peer_entry *e)
{
    if (e->conn && macula_quic_conn_peer_addr_string(e->conn, e->peer_addr, sizeof e->peer_addr) != 0)
        e->peer_addr[0] = '\0';
}

/* A readable cause for the worker's detail, e.g. "peer: code 0: closed" or
 * "handshake_failed: pin_mismatch: ...". */
static void describe_close(const macula_quic_close_info *ci, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s", macula_quic_close_cause_name(ci->cause));
    if (ci->err && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, ": %s", macula_err_name(ci->err));
    if (ci->cause == MACULA_QUIC_CLOSE_PEER && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, ": %s code %llu", ci->app_error ? "application" : "transport",
                      (unsigned long long)ci->error_code);
    if (ci->reason && ci->reason[0] && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ": %s", ci->reason);
}

static void conn_handler(void *user, const macula_quic_event *ev)
{
    macula__peer_entry *e = user;
    uint64_t now = macula__loop_now(e->pr->loop);
    char detail[256];
    e->cur_sid = -1; /* only STREAM_DATA below reads a stream */
    switch (ev->type) {
    case MACULA_QUIC_EV_CONNECTED:
        set_peer_addr(e);
        macula__worker_on_dial_succeeded(e->w, now);
        break;
    case MACULA_QUIC_EV_STREAM_OPENED:
        macula__worker_on_stream_opened(e->w, now, ev->stream_id);
        break;
    case MACULA_QUIC_EV_STREAM_DATA:
        macula__bp_reading(e, ev->stream_id);
        macula__worker_on_stream_data(e->w, now, ev->stream_id, ev->data, ev->len, ev->fin);
        break;
    case MACULA_QUIC_EV_STREAM_RESET:
        macula__worker_on_stream_reset(e->w, now, ev->stream_id, ev->error_code);
        break;
    case MACULA_QUIC_EV_SEND_READY:
        macula__worker_on_send_ready(e->w, now, ev->stream_id);
        break;
    case MACULA_QUIC_EV_STREAM_ACKED:
        macula__worker_on_stream_acked(e->w, now, ev->stream_id, ev->offset);
        break;
    case MACULA_QUIC_EV_CLOSED:
        /* The connection pointer dies when this handler returns. */
        e->conn = NULL;
        e->close_seen = 1;
        e->close_cause = ev->close.cause;
        e->close_err = ev->close.err;
        describe_close(&ev->close, detail, sizeof detail);
        if (macula__worker_state(e->w) == MACULA_PEER_CONNECTING)
            macula__worker_on_dial_failed(e->w, now, detail);
        else
            macula__worker_on_transport_closed(e->w, now, detail);
        break;
    default:
        return; /* STREAM_CLOSED: nothing for the worker */
    }
    macula__peer_entry_drive(e);
}

static void timer_cb(void *arg)
{
    macula__peer_entry *e = arg;
    uint64_t now = macula__loop_now(e->pr->loop);
    /* A timer cut short by the shutdown is the worker's deadline reached. */
    if (e->timer_capped && now < e->worker_deadline)
        now = e->worker_deadline;
    e->timer_capped = 0;
    macula__worker_on_timer(e->w, now);
    macula__peer_entry_drive(e);
}

static void arm(macula__peer_entry *e, uint64_t deadline)
{
    macula__peering *pr = e->pr;
    e->worker_deadline = deadline;
    e->timer_capped = 0;
    if (pr->stopping && deadline > pr->stop_cap) {
        deadline = pr->stop_cap;
        e->timer_capped = 1;
    }
    if (macula__timer_arm(pr->loop, &e->timer, deadline) != 0) {
        macula_diag_field f = {"error", "out of memory arming the timer"};
        macula__peering_diag(pr, e->handle, "internal_error", &f, 1);
    }
}

void macula__peer_entry_cap_timer(macula__peer_entry *e)
{
    if (macula__timer_armed(&e->timer) && e->timer.deadline > e->pr->stop_cap)
        arm(e, e->worker_deadline);
}

/* --- events --- */

/* What the transport's end says, for the causes below: `fallback` when
 * the connection did not report one (the stream ended, or no connection). */
static int transport_cause(const macula__peer_entry *e, int fallback)
{
    if (!e->close_seen)
        return e->pr->stopping ? MACULA_ERR_SHUTDOWN : fallback;
    switch (e->close_cause) {
    case MACULA_QUIC_CLOSE_LOCAL:
        return e->pr->stopping ? MACULA_ERR_SHUTDOWN : MACULA_ERR_CONN_CLOSED;
    case MACULA_QUIC_CLOSE_PEER:
    case MACULA_QUIC_CLOSE_STATELESS_RESET:
        return MACULA_ERR_PEER_CLOSED;
    case MACULA_QUIC_CLOSE_IDLE_TIMEOUT:
        return MACULA_ERR_IDLE_TIMEOUT;
    case MACULA_QUIC_CLOSE_HANDSHAKE_FAILED:
        return e->close_err ? e->close_err : MACULA_ERR_TLS;
    case MACULA_QUIC_CLOSE_DIAL_FAILED:
        return e->close_err ? e->close_err : MACULA_ERR_TIMEOUT;
    case MACULA_QUIC_CLOSE_ERROR:
        return e->close_err ? e->close_err : MACULA_ERR_QUIC;
    }
    return MACULA_ERR_QUIC;
}

/* DISCONNECTED's cause (peering.h): the reason, refined by what the
 * transport reported and by who asked for the end. */
static int disconnect_cause(const macula__peer_entry *e, macula_disconnect_reason reason)
{
    int ours = e->close_by_shutdown ? MACULA_ERR_SHUTDOWN : MACULA_OK;
    switch (reason) {
    case MACULA_DISC_CONNECT_FAILED:
        return e->dial_err ? e->dial_err : transport_cause(e, MACULA_ERR_CONN_CLOSED);
    case MACULA_DISC_HANDSHAKE_TIMEOUT:
        return MACULA_ERR_HANDSHAKE_TIMEOUT;
    case MACULA_DISC_CONNECT_VERIFY_FAILED:
    case MACULA_DISC_HELLO_VERIFY_FAILED:
        return MACULA_ERR_SIGNATURE_INVALID;
    case MACULA_DISC_REFUSED:
        return MACULA_ERR_REFUSED;
    case MACULA_DISC_UNEXPECTED_HELLO_ON_SERVER:
    case MACULA_DISC_UNEXPECTED_CONNECT_ON_CLIENT:
        return MACULA_ERR_BAD_FRAME;
    case MACULA_DISC_STREAM_OPEN_FAILED:
    case MACULA_DISC_CONNECT_SEND_FAILED:
    case MACULA_DISC_HELLO_SEND_FAILED:
        return transport_cause(e, MACULA_ERR_QUIC);
    case MACULA_DISC_CLOSED_DURING_HANDSHAKE:
    case MACULA_DISC_PEER_CLOSED:
        return transport_cause(e, MACULA_ERR_STREAM_CLOSED);
    case MACULA_DISC_DRAINED:
    case MACULA_DISC_CLOSED:
        return ours;
    case MACULA_DISC_PEER_CLOSED_DURING_DRAIN: {
        /* The peer answering our GOODBYE by closing is the normal end. */
        int t = transport_cause(e, MACULA_ERR_PEER_CLOSED);
        return t == MACULA_ERR_PEER_CLOSED || t == MACULA_ERR_STREAM_CLOSED || t == MACULA_ERR_SHUTDOWN ? ours : t;
    }
    case MACULA_DISC_FRAME_TOO_LARGE:
        return MACULA_ERR_FRAME_TOO_LARGE;
    case MACULA_DISC_PEER_IDENTITY_MISMATCH:
        return MACULA_ERR_IDENTITY_MISMATCH;
    case MACULA_DISC_INTERNAL_ERROR:
        return MACULA_ERR_INTERNAL;
    case MACULA_DISC_RECV_BUDGET:
        return MACULA_ERR_LIMIT;
    case MACULA_DISC_DEAD_PEER:
        return MACULA_ERR_TIMEOUT;
    }
    return MACULA_ERR_INTERNAL;
}

/* Routes an event to the handler or the mailbox (not the accept owner). */
static void to_handler(macula__peer_entry *e, macula_event *ev)
{
    if (e->handler == macula_mailbox_handler) {
        int rc = macula__bp_push(e, ev);
        if (rc < 0) {
            macula__worker_count_dropped(e->w, ev->type == MACULA_EVENT_FRAME);
            macula_diag_field f = {"error", macula_err_name(rc)};
            macula__peering_diag(e->pr, e->handle, rc == MACULA_ERR_SHUTDOWN ? "mailbox_closed" : "mailbox_full", &f,
                                 1);
        }
    } else {
        e->handler(e->handler_user, ev);
    }
}

/* Hands the held SENDs to the worker, in call order (right after
 * CONNECTED; the outer drive() executes what they queue). */
static void release_held(macula__peer_entry *e)
{
    uint64_t now = macula__loop_now(e->pr->loop);
    while (e->held_head) {
        macula__peering_cmd *c = e->held_head;
        e->held_head = c->next;
        macula__peering_cmd_send(c, e->w, now);
        macula__peer_shared_set_worker_bytes(e->sh, macula__worker_queued_bytes(e->w));
        macula__peering_cmd_free(c); /* releases the reservation the worker now counts */
    }
    e->held_tail = NULL;
}

static void deliver(macula__peer_entry *e, macula__worker_action *a)
{
    macula_event *ev = &a->event;
    ev->peer_user = e->peer_user;
    if (ev->type == MACULA_EVENT_DISCONNECTED) {
        ev->cause = disconnect_cause(e, ev->reason);
        ev->final_info = &e->final_info;
        /* From here on the handle is stale, also for the handler itself. */
        atomic_store(&e->sh->ended, 1);
        macula__peer_table_remove(&e->pr->table, e->handle);
    }
    if (a->to_accept_owner) {
        if (e->owner)
            e->owner(e->owner_user, ev);
    } else {
        to_handler(e, ev);
    }
    if (ev->type == MACULA_EVENT_CONNECTED) {
        if (e->listener)
            macula__listener_entry_connected(e, ev->peer_node_id);
        release_held(e);
    }
}

int macula__peer_entry_hold(macula__peer_entry *e, macula__peering_cmd *c)
{
    macula_peer_state st = macula__worker_state(e->w);
    if (!e->queue_until_connected || st == MACULA_PEER_CONNECTED || st == MACULA_PEER_DRAINING ||
        st == MACULA_PEER_ENDED)
        return 0;
    c->next = NULL;
    if (e->held_tail)
        e->held_tail->next = c;
    else
        e->held_head = c;
    e->held_tail = c;
    return 1;
}

void macula__peer_entry_check_send_ready(macula__peer_entry *e)
{
    macula__peer_shared *sh = e->sh;
    if (!atomic_load(&sh->want_send_ready) || macula__worker_state(e->w) != MACULA_PEER_CONNECTED)
        return;
    size_t queued = atomic_load(&sh->reserved) + atomic_load(&sh->worker_bytes);
    size_t want = atomic_load(&sh->refused_len);
    if (queued != 0 && (queued > sh->send_queue_cap || want > sh->send_queue_cap - queued))
        return;
    atomic_store(&sh->want_send_ready, 0);
    macula_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = MACULA_EVENT_SEND_READY;
    ev.peer = e->handle;
    macula_peer_info info;
    macula__worker_get_info(e->w, &info);
    ev.has_peer_node_id = info.has_node_id;
    memcpy(ev.peer_node_id, info.node_id, MACULA_NODE_ID_LEN);
    ev.detail = "";
    ev.refusal_code = -1;
    ev.peer_user = e->peer_user;
    to_handler(e, &ev);
}

/* --- actions --- */

static void execute(macula__peer_entry *e, macula__worker_action *a)
{
    macula__peering *pr = e->pr;
    uint64_t now = macula__loop_now(pr->loop);
    int rc = 0;
    int64_t sid = -1;
    switch (a->type) {
    case MACULA__ACT_DIAL: {
        macula_quic_dial_options o;
        macula__peer_template_dial_options(e->dial, &o);
        e->conn = macula_quic_dial(pr->rt, NULL, &o, conn_handler, e, &rc);
        if (!e->conn) {
            e->dial_err = rc;
            char detail[128];
            snprintf(detail, sizeof detail, "cannot dial: %s", macula_strerror(rc));
            macula__worker_on_dial_failed(e->w, now, detail);
        }
        break;
    }
    case MACULA__ACT_OPEN_STREAM:
        rc = e->conn ? macula_quic_conn_open_stream(e->conn, &sid) : MACULA_ERR_CONN_CLOSED;
        macula__worker_on_stream_open_result(e->w, now, rc, sid);
        break;
    case MACULA__ACT_SEND:
        rc = e->conn ? macula_quic_conn_send(e->conn, a->stream_id, a->data, a->len, 0) : MACULA_ERR_CONN_CLOSED;
        macula__worker_on_send_result(e->w, now, rc);
        break;
    case MACULA__ACT_CLOSE_TRANSPORT:
        if (e->conn) {
            macula_quic_conn_close(e->conn, a->app_error_code, a->close_reason);
            macula_quic_conn_set_owner(e->conn, macula__peering_quic_sink, NULL);
            e->conn = NULL;
        }
        break;
    case MACULA__ACT_EVENT:
        /* Sends the worker never got (held for a connection that never
         * came, or still in the command queue) are lost: counted before
         * the final snapshot. `ended` first: a sender counts its frame in
         * unsent_frames before it checks `ended` (peer_api.c), so each
         * frame is either counted here or refused there. */
        if (a->event.type == MACULA_EVENT_DISCONNECTED) {
            atomic_store(&e->sh->ended, 1);
            macula__worker_count_dropped(e->w, atomic_load(&e->sh->unsent_frames));
        }
        /* Whoever hears an event sees at least that state in the getters. */
        macula__peer_shared_publish(e->sh, e->w, e->peer_addr);
        if (a->event.type == MACULA_EVENT_DISCONNECTED)
            macula__peer_shared_snapshot(e->sh, &e->final_info, NULL, 0);
        deliver(e, a);
        break;
    case MACULA__ACT_ARM_TIMER:
        arm(e, a->deadline);
        break;
    case MACULA__ACT_CANCEL_TIMER:
        macula__timer_cancel(pr->loop, &e->timer);
        e->timer_capped = 0;
        break;
    case MACULA__ACT_DIAG:
        macula__peering_diag(pr, e->handle, a->diag_name, a->diag_fields, a->n_diag_fields);
        break;
    case MACULA__ACT_ENDED:
        e->ended = 1;
        break;
    case MACULA__ACT_SHUTDOWN_STREAM:
        /* The stream may be gone (the peer reset it): nothing to finish. */
        if (e->conn)
            (void)macula_quic_conn_shutdown_stream(e->conn, a->stream_id);
        break;
    case MACULA__ACT_RESET_STREAM:
        if (e->conn)
            (void)macula_quic_conn_reset_stream(e->conn, a->stream_id, a->app_error_code);
        break;
    case MACULA__ACT_WATCH_ACKED:
        /* A failure means the connection or the stream is going away; the
         * worker hears that separately. */
        if (e->conn)
            (void)macula_quic_conn_watch_acked(e->conn, a->stream_id, a->offset);
        break;
    }
}

void macula__peer_entry_drive(macula__peer_entry *e)
{
    /* Inputs fed while the actions run (a handler closing a peer of its
     * listener, say) only queue actions: the outer call executes them. */
    if (e->driving)
        return;
    e->driving = 1;
    macula__worker_action a;
    while (macula__worker_poll(e->w, &a)) {
        execute(e, &a);
        macula__worker_action_clear(&a);
    }
    e->driving = 0;
    if (e->ended) {
        finish(e);
        return;
    }
    macula__peer_shared_publish(e->sh, e->w, e->peer_addr);
    if (e->listener)
        macula__listener_entry_update(e);
    macula__peer_entry_check_send_ready(e);
}

/* --- starting, closing, forcing --- */

void macula__peer_entry_start(macula__peer_entry *e, macula_quic_conn *conn)
{
    macula__peering *pr = e->pr;
    e->linked = 1;
    e->next = pr->entries;
    if (pr->entries)
        pr->entries->prev = e;
    pr->entries = e;
    pr->n_entries++;
    uint64_t now = macula__loop_now(pr->loop);
    int is_server = macula__worker_is_server(e->w);
    if (conn) {
        e->conn = conn;
        set_peer_addr(e);
        macula_quic_conn_set_owner(conn, conn_handler, e);
    }
    if (pr->stopping) {
        e->close_requested = e->close_by_shutdown = 1;
        macula__worker_close(e->w, now, "shutdown");
    } else {
        macula__worker_start(e->w, now);
        if (is_server && !conn)
            macula__worker_on_transport_closed(e->w, now, "the connection is not waiting for macula_peer_accept");
        macula__dp_start(e);
    }
    macula__peer_entry_drive(e);
}

void macula__peer_entry_close(macula__peer_entry *e, const char *reason)
{
    if (!e->close_requested) {
        e->close_requested = 1;
        e->close_by_shutdown = e->pr->stopping;
    }
    macula__worker_close(e->w, macula__loop_now(e->pr->loop), reason);
    macula__peer_entry_drive(e);
}

void macula__peer_entry_force(macula__peer_entry *e)
{
    macula__peering *pr = e->pr;
    macula_peer h = e->handle;
    uint64_t now = macula__loop_now(pr->loop);
    if (!e->close_requested)
        e->close_requested = e->close_by_shutdown = 1;
    if (macula__worker_state(e->w) == MACULA_PEER_DRAINING)
        macula__worker_on_timer(e->w, now > e->worker_deadline ? now : e->worker_deadline);
    else
        macula__worker_close(e->w, now, "shutdown");
    macula__peer_entry_drive(e);
    /* Still alive (nothing above could end it): the transport is going
     * away with the runtime, which is what the worker hears. */
    e = macula__peer_table_entry(&pr->table, h);
    if (e) {
        macula__worker_on_transport_closed(e->w, now, "runtime stopped");
        macula__peer_entry_drive(e);
    }
}

void macula__peer_entry_drive_soon(macula__peer_entry *e)
{
    if (e->driving || macula__timer_armed(&e->fwd_timer))
        return;
    if (macula__timer_arm(e->pr->loop, &e->fwd_timer, 0) != 0)
        macula__peer_entry_drive(e);
}
