/* SPDX-License-Identifier: Apache-2.0 */
/* The peering supervisor of a runtime: its lazily made state, the command
 * queue behind the fire-and-forget calls, and the graceful shutdown
 * (GOODBYE on every connected worker, the others ended, everything within
 * the runtime's shutdown deadline). See supervisor.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peering/supervisor.h"

/* Drains finish this long before the runtime's shutdown deadline, so that
 * they end as "drained" rather than being forced. */
#define STOP_MARGIN_MAX_NS (250ull * 1000000ull)

static void hook_begin(void *arg, uint64_t deadline_ns);
static void hook_force(void *arg);
static void destroy(void *obj);
static void done_cb(void *arg);

static void *make(macula_runtime *rt)
{
    macula__peering *pr = calloc(1, sizeof *pr);
    if (!pr)
        return NULL;
    if (macula__peer_table_init(&pr->table) != 0) {
        free(pr);
        return NULL;
    }
    if (pthread_mutex_init(&pr->cmd_mu, NULL) != 0) {
        macula__peer_table_destroy(&pr->table);
        free(pr);
        return NULL;
    }
    pr->rt = rt;
    pr->loop = macula__runtime_loop(rt);
    size_t rb = macula__runtime_peer_recv_budget(rt);
    pr->recv_budget.limit = rb == SIZE_MAX ? 0 : rb;
    size_t sb = macula__runtime_peer_send_budget(rt);
    pr->send_budget = macula__send_budget_new(sb == SIZE_MAX ? 0 : sb); /* NULL: no runtime-wide cap */
    pr->hook.begin = hook_begin;
    pr->hook.force = hook_force;
    pr->hook.arg = pr;
    macula__timer_init(&pr->done_timer, done_cb, pr);
    return pr;
}

macula__peering *macula__peering_get(macula_runtime *rt)
{
    return macula__runtime_slot_get_or_make(rt, MACULA__SLOT_PEERING, make, destroy);
}

void macula__peering_ensure_hook(macula__peering *pr)
{
    if (pr->hook_registered)
        return;
    pr->hook_registered = 1;
    macula__runtime_add_shutdown_hook(pr->rt, &pr->hook);
}

/* --- commands --- */

void macula__peering_cmd_free(macula__peering_cmd *c)
{
    if (!c)
        return;
    if (c->entry)
        macula__peer_entry_discard(c->entry);
    if (c->sh) {
        macula__peer_shared_unreserve(c->sh, c->len);
        atomic_fetch_sub(&c->sh->unsent_frames, 1);
        macula__peer_shared_unref(c->sh);
    }
    free(c->wire);
    macula__wirebuf_unref(c->wb);
    free(c);
}

void macula__peering_cmd_send(macula__peering_cmd *c, macula__worker *w, uint64_t now)
{
    if (c->wb)
        macula__worker_send_buf(w, now, c->stream, c->wb);
    else
        macula__worker_send_on(w, now, c->stream, c->wire, c->len);
    c->wb = NULL;
    c->wire = NULL;
}

static void run(macula__peering *pr, macula__peering_cmd *c)
{
    macula__peer_entry *e;
    macula_listener *l;
    switch (c->kind) {
    case MACULA__CMD_START:
        e = c->entry;
        c->entry = NULL;
        macula__peer_entry_start(e, NULL);
        break;
    case MACULA__CMD_ACCEPT:
        e = c->entry;
        c->entry = NULL;
        l = macula__listener_take_pending(pr, c->conn);
        if (l)
            macula__listener_adopt(l, e);
        macula__peer_entry_start(e, l ? c->conn : NULL);
        break;
    case MACULA__CMD_CLOSE:
        e = macula__peer_table_entry(&pr->table, c->peer);
        if (e && e->linked)
            macula__peer_entry_close(e, c->reason[0] ? c->reason : NULL);
        break;
    case MACULA__CMD_SEND:
        e = macula__peer_table_entry(&pr->table, c->peer);
        if (e && e->linked && macula__peer_entry_hold(e, c))
            return; /* the entry keeps the command until CONNECTED */
        if (e && e->linked) {
            /* The worker takes the bytes (and counts them) before the
             * reservation is released: the cap check stays conservative. */
            macula__peering_cmd_send(c, e->w, macula__loop_now(pr->loop));
            macula__peer_shared_set_worker_bytes(e->sh, macula__worker_queued_bytes(e->w));
            /* once for all the SENDs of this batch of commands: queued
             * together, small frames leave in one QUIC write */
            macula__peer_entry_drive_soon(e);
        }
        break;
    case MACULA__CMD_SEND_READY_CHECK:
        e = macula__peer_table_entry(&pr->table, c->peer);
        if (e && e->linked)
            macula__peer_entry_check_send_ready(e);
        break;
    case MACULA__CMD_OPEN_STREAM:
    case MACULA__CMD_FINISH_STREAM:
    case MACULA__CMD_RESET_STREAM:
        e = macula__peer_table_entry(&pr->table, c->peer);
        if (e && e->linked) {
            uint64_t now = macula__loop_now(pr->loop);
            /* Refusals are reported by the worker (events, diagnostics). */
            if (c->kind == MACULA__CMD_OPEN_STREAM)
                (void)macula__worker_open_stream(e->w, now, c->stream);
            else if (c->kind == MACULA__CMD_FINISH_STREAM)
                (void)macula__worker_finish_stream(e->w, now, c->stream);
            else
                (void)macula__worker_reset_stream(e->w, now, c->stream, c->code);
            macula__peer_shared_set_worker_bytes(e->sh, macula__worker_queued_bytes(e->w));
            macula__peer_entry_drive(e);
        }
        break;
    }
    macula__peering_cmd_free(c);
}

/* Empties the queue; the commands, oldest first. */
static macula__peering_cmd *take_commands(macula__peering *pr)
{
    pthread_mutex_lock(&pr->cmd_mu);
    macula__peering_cmd *c = pr->cmd_head;
    pr->cmd_head = pr->cmd_tail = NULL;
    pr->n_cmds = 0;
    pr->drain_posted = 0; /* commands from now on need a new drain */
    pthread_mutex_unlock(&pr->cmd_mu);
    return c;
}

static void drain(void *arg)
{
    macula__peering *pr = arg;
    macula__peering_ensure_hook(pr);
    macula__peering_cmd *c = take_commands(pr);
    while (c) {
        macula__peering_cmd *next = c->next;
        run(pr, c);
        c = next;
    }
}

int macula__peering_post(macula__peering *pr, macula__peering_cmd *c)
{
    c->next = NULL;
    pthread_mutex_lock(&pr->cmd_mu);
    /* One runtime command (drain) for every command that queues up before
     * it runs: the post tells us at once when the runtime has ended (or its
     * queue is full); behind a drain already posted, the runtime's end is
     * checked the same way, so a command is never accepted that no drain
     * would run (what the end leaves queued, destroy() settles).
     * Posting under our lock keeps the queue and the posts in step. */
    int rc = 0;
    if (pr->n_cmds >= MACULA__PEERING_MAX_COMMANDS)
        rc = MACULA_ERR_QUEUE_FULL;
    else if (pr->drain_posted)
        rc = macula__runtime_ended(pr->rt) ? MACULA_ERR_SHUTDOWN : 0;
    else if ((rc = macula_runtime_post(pr->rt, drain, pr)) == 0)
        pr->drain_posted = 1;
    if (rc == 0) {
        if (pr->cmd_tail)
            pr->cmd_tail->next = c;
        else
            pr->cmd_head = c;
        pr->cmd_tail = c;
        pr->n_cmds++;
    }
    pthread_mutex_unlock(&pr->cmd_mu);
    if (rc != 0) {
        macula__peering_cmd_free(c);
        return rc == MACULA_ERR_QUEUE_FULL || rc == MACULA_ERR_NOMEM ? rc : MACULA_ERR_SHUTDOWN;
    }
    return 0;
}

/* --- diagnostics --- */

void macula__peering_diag(macula__peering *pr, macula_peer peer, const char *name, const macula_diag_field *fields,
                          size_t n)
{
    macula_diag_field all[MACULA__WORKER_DIAG_MAX_FIELDS + 1];
    char serial[24];
    snprintf(serial, sizeof serial, "%llu", (unsigned long long)macula_peer_serial(peer));
    size_t k = 0;
    all[k].key = "peer";
    all[k].value = serial;
    k++;
    for (size_t i = 0; i < n && k < sizeof all / sizeof all[0]; i++)
        all[k++] = fields[i];
    macula__runtime_diag_fields(pr->rt, name, all, k);
}

/* --- shutdown --- */

/* Reporting "done" lets the next hook (QUIC's, which frees connections)
 * begin at once, so it never happens from inside a QUIC event handler:
 * the report waits for the top of the loop. */
static void done_cb(void *arg)
{
    macula__peering *pr = arg;
    if (!pr->stopping || pr->stop_reported || pr->n_entries)
        return;
    macula__listeners_shutdown(pr);
    pr->stop_reported = 1;
    macula__runtime_shutdown_done(pr->rt, &pr->hook);
}

static void check_done(macula__peering *pr)
{
    if (pr->stopping && !pr->stop_reported && !pr->n_entries)
        macula__timer_arm(pr->loop, &pr->done_timer, 0);
}

void macula__peering_entry_gone(macula__peering *pr)
{
    pr->n_entries--;
    check_done(pr);
}

/* Applies fn to every live, started entry. Entries may end (and be freed)
 * along the way, so each is looked up again by its handle. */
static void each_entry(macula__peering *pr, void (*fn)(macula__peer_entry *e))
{
    size_t n = 0;
    macula_peer *handles = macula__peer_table_handles(&pr->table, &n);
    for (size_t i = 0; i < n; i++) {
        macula__peer_entry *e = macula__peer_table_entry(&pr->table, handles[i]);
        if (e && e->linked)
            fn(e);
    }
    free(handles);
}

static void close_for_shutdown(macula__peer_entry *e) { macula__peer_entry_close(e, "shutdown"); }

static void hook_begin(void *arg, uint64_t deadline_ns)
{
    macula__peering *pr = arg;
    uint64_t now = macula__loop_now(pr->loop);
    uint64_t margin = deadline_ns > now ? (deadline_ns - now) / 20 : 0;
    if (margin > STOP_MARGIN_MAX_NS)
        margin = STOP_MARGIN_MAX_NS;
    pr->stop_cap = deadline_ns > now + margin ? deadline_ns - margin : now;
    pr->stopping = 1;
    /* Commands already queued run now, so that no peer started before the
     * stop is left without its DISCONNECTED. */
    drain(pr);
    macula__listeners_shutdown(pr);
    each_entry(pr, close_for_shutdown);
    each_entry(pr, macula__peer_entry_cap_timer);
    check_done(pr);
}

static void hook_force(void *arg)
{
    macula__peering *pr = arg;
    each_entry(pr, macula__peer_entry_force);
    /* The runtime has marked the hook done itself. */
    pr->stop_reported = 1;
    macula__timer_cancel(pr->loop, &pr->done_timer);
    macula__listeners_shutdown(pr);
}

/* Called by macula_runtime_free() after the layers' release hooks (the QUIC
 * endpoints and connections are gone by then: nothing here touches them). */
static void destroy(void *obj)
{
    macula__peering *pr = obj;
    pr->stopping = 1;
    pr->stop_reported = 1;
    macula__timer_cancel(pr->loop, &pr->done_timer);
    /* Commands that never ran: peers started before the runtime ended still
     * get their one DISCONNECTED (closed, "shutdown"), without transport. */
    macula__peering_cmd *c = take_commands(pr);
    while (c) {
        macula__peering_cmd *next = c->next;
        if (c->kind == MACULA__CMD_START || c->kind == MACULA__CMD_ACCEPT) {
            macula__peer_entry *e = c->entry;
            c->entry = NULL;
            macula__peer_entry_start(e, NULL);
        }
        macula__peering_cmd_free(c);
        c = next;
    }
    while (pr->entries)
        macula__peer_entry_free_now(pr->entries);
    macula__listeners_free_now(pr);
    macula__peer_table_destroy(&pr->table);
    macula__send_budget_unref(pr->send_budget);
    pthread_mutex_destroy(&pr->cmd_mu);
    free(pr);
}
