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

macula__peer_entry *macula__peer_entry_new(macula__peering *pr, macula__peer_template *t, int *err)
{
    int rc = MACULA_ERR_NOMEM;
    macula__peer_entry *e = calloc(1, sizeof *e);
    if (!e)
        goto fail;
    e->pr = pr;
    e->sh = macula__peer_shared_new(t->identity, t->send_queue_cap, t->is_server, &rc);
    if (!e->sh)
        goto fail_e;
    rc = macula__peer_table_add(&pr->table, e->sh, e, &e->handle);
    if (rc != 0)
        goto fail_sh;
    macula__worker_config cfg;
    macula__peer_template_worker_config(t, e->handle, &cfg);
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

static void free_memory(macula__peer_entry *e)
{
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
    switch (ev->type) {
    case MACULA_QUIC_EV_CONNECTED:
        set_peer_addr(e);
        macula__worker_on_dial_succeeded(e->w, now);
        break;
    case MACULA_QUIC_EV_STREAM_OPENED:
        macula__worker_on_stream_opened(e->w, now, ev->stream_id);
        break;
    case MACULA_QUIC_EV_STREAM_DATA:
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

static void deliver(macula__peer_entry *e, macula__worker_action *a)
{
    macula_event *ev = &a->event;
    if (ev->type == MACULA_EVENT_DISCONNECTED) {
        /* From here on the handle is stale, also for the handler itself. */
        atomic_store(&e->sh->ended, 1);
        macula__peer_table_remove(&e->pr->table, e->handle);
    }
    if (a->to_accept_owner) {
        if (e->owner)
            e->owner(e->owner_user, ev);
    } else if (e->handler == macula_mailbox_handler) {
        int rc = macula__mailbox_push(e->handler_user, ev);
        if (rc != 0) {
            macula__worker_count_dropped(e->w, ev->type == MACULA_EVENT_FRAME);
            macula_diag_field f = {"error", macula_err_name(rc)};
            macula__peering_diag(e->pr, e->handle, "mailbox_full", &f, 1);
        }
    } else {
        e->handler(e->handler_user, ev);
    }
    if (ev->type == MACULA_EVENT_CONNECTED && e->listener)
        macula__listener_entry_connected(e, ev->peer_node_id);
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
        /* Whoever hears an event sees at least that state in the getters. */
        macula__peer_shared_publish(e->sh, e->w, e->peer_addr);
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
        macula__worker_close(e->w, now, "shutdown");
    } else {
        macula__worker_start(e->w, now);
        if (is_server && !conn)
            macula__worker_on_transport_closed(e->w, now, "the connection is not waiting for macula_peer_accept");
    }
    macula__peer_entry_drive(e);
}

void macula__peer_entry_close(macula__peer_entry *e, const char *reason)
{
    macula__worker_close(e->w, macula__loop_now(e->pr->loop), reason);
    macula__peer_entry_drive(e);
}

void macula__peer_entry_force(macula__peer_entry *e)
{
    macula__peering *pr = e->pr;
    macula_peer h = e->handle;
    uint64_t now = macula__loop_now(pr->loop);
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
