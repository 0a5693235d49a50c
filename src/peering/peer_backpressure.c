/* SPDX-License-Identifier: Apache-2.0 */
/* Mailbox back-pressure for the runtime's peers (supervisor.h,
 * "peer_backpressure.c"). The mailbox may be popped on any thread and
 * outlive the runtime, so its waiter reaches the loop through a post
 * handle and names the peer by handle: a resume for a peer that has ended
 * meanwhile finds nothing and does nothing. */
#include <stdlib.h>

#include "peering/mailbox.h"
#include "peering/supervisor.h"

typedef struct macula__bp_waiter {
    macula__mailbox_waiter base; /* first: the mailbox hands this back */
    macula__post_handle *ph;
    macula_runtime *rt;
    macula_peer peer;
} bp_waiter;

static void waiter_free(bp_waiter *w)
{
    macula__post_handle_release(w->ph);
    free(w);
}

/* Loop thread of w->rt: un-pause the peer's streams. */
static void resume_on_loop(void *arg)
{
    bp_waiter *w = arg;
    macula__peering *pr = macula__peering_get(w->rt);
    macula__peer_entry *e = pr ? macula__peer_table_entry(&pr->table, w->peer) : NULL;
    waiter_free(w);
    if (!e || !e->linked)
        return;
    e->bp_waiting = 0;
    for (size_t i = 0; i < e->n_bp_sids; i++)
        if (e->conn)
            (void)macula_quic_conn_pause_reading(e->conn, e->bp_sids[i], 0); /* a gone stream is fine */
    e->n_bp_sids = 0;
    macula_diag_field f = {"why", "mailbox_room"};
    macula__peering_diag(pr, e->handle, "reading_resumed", &f, 1);
}

/* The mailbox's thread: there is room (or the mailbox is being freed). */
static void waiter_fire(macula__mailbox_waiter *mw, int room)
{
    bp_waiter *w = (bp_waiter *)mw;
    if (!room || macula__post_handle_post(w->ph, resume_on_loop, w) != 0)
        waiter_free(w);
}

static void pause_sid(macula__peer_entry *e, int64_t sid)
{
    if (sid < 0 || !e->conn)
        return;
    for (size_t i = 0; i < e->n_bp_sids; i++)
        if (e->bp_sids[i] == sid)
            return;
    if (e->n_bp_sids == e->cap_bp_sids) {
        size_t cap = e->cap_bp_sids ? 2 * e->cap_bp_sids : 4;
        int64_t *n = realloc(e->bp_sids, cap * sizeof *n);
        if (!n)
            return; /* not paused: the mailbox takes a little more */
        e->bp_sids = n;
        e->cap_bp_sids = cap;
    }
    if (macula_quic_conn_pause_reading(e->conn, sid, 1) == 0)
        e->bp_sids[e->n_bp_sids++] = sid;
}

void macula__bp_reading(macula__peer_entry *e, int64_t sid)
{
    e->cur_sid = sid;
    if (e->bp_waiting)
        pause_sid(e, sid); /* this delivery is handled; the next one waits */
}

int macula__bp_push(macula__peer_entry *e, macula_event *ev)
{
    macula_mailbox *mb = e->handler_user;
    if (ev->type == MACULA_EVENT_FRAME && !e->bp_waiting && !e->bp_spare) {
        bp_waiter *w = calloc(1, sizeof *w);
        if (w) {
            w->base.fn = waiter_fire;
            w->ph = macula__runtime_post_handle(e->pr->rt);
            w->rt = e->pr->rt;
            w->peer = e->handle;
            e->bp_spare = w;
        }
    }
    macula__mailbox_waiter *give = !e->bp_waiting && e->bp_spare ? &e->bp_spare->base : NULL;
    int rc = macula__mailbox_push_bp(mb, ev, give);
    if (rc == MACULA__MAILBOX_FULL) {
        if (give) { /* taken: it fires once there is room */
            e->bp_spare = NULL;
            e->bp_waiting = 1;
            macula__worker_count_paused(e->w);
            macula_diag_field f = {"why", "mailbox_full"};
            macula__peering_diag(e->pr, e->handle, "reading_paused", &f, 1);
        }
        if (e->bp_waiting)
            pause_sid(e, e->cur_sid);
    }
    return rc;
}

void macula__bp_clear(macula__peer_entry *e)
{
    if (e->bp_spare)
        waiter_free(e->bp_spare);
    e->bp_spare = NULL;
    free(e->bp_sids);
    e->bp_sids = NULL;
    e->n_bp_sids = e->cap_bp_sids = 0;
}
