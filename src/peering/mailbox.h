/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the mailbox's queueing entry point for the runtime glue.
 *
 * macula_mailbox_handler() (public) cannot report that it dropped a FRAME
 * event; the glue, when a peer's handler is macula_mailbox_handler, calls
 * macula__mailbox_push() instead so that it can count the drop in the
 * peer's frames_dropped (macula__worker_count_dropped) and emit the
 * "mailbox_full" diagnostic.
 */
#ifndef MACULA_PEERING_MAILBOX_H
#define MACULA_PEERING_MAILBOX_H

#include "macula/peering.h"

/* Back-pressure: a waiter is handed to the mailbox by a push that found it
 * full (count or bytes); once pops bring it down to half of both caps,
 * fn(waiter, 1) is called on the popping thread, outside the mailbox's
 * lock; fn(waiter, 0) when the mailbox is freed first. fn owns the waiter
 * from then on. */
typedef struct macula__mailbox_waiter {
    struct macula__mailbox_waiter *next;
    void (*fn)(struct macula__mailbox_waiter *w, int room);
} macula__mailbox_waiter;

#define MACULA__MAILBOX_FULL 1

/* Deep-copies `ev` into the mailbox (the frame is taken from `ev`, the
 * detail and final_info copied). Returns 0; MACULA_ERR_QUEUE_FULL when a
 * FRAME event met a full mailbox, MACULA_ERR_SHUTDOWN when the mailbox is
 * closed (nothing taken: `ev` still owns its frame); or MACULA_ERR_NOMEM
 * (nothing taken). Any thread. */
int macula__mailbox_push(macula_mailbox *mb, macula_event *ev);
/* As macula__mailbox_push; also MACULA__MAILBOX_FULL (> 0) when the event
 * was queued but the mailbox is now full and does not drop: then
 * `waiter` (when non-NULL) was taken, the caller should stop reading
 * from the peer until it fires. When another value is returned the waiter
 * stays the caller's. */
int macula__mailbox_push_bp(macula_mailbox *mb, macula_event *ev, macula__mailbox_waiter *waiter);
/* Bytes counted now (and the most so far in *peak when non-NULL). */
size_t macula__mailbox_bytes(macula_mailbox *mb, size_t *peak);
/* FRAME events dropped so far because the mailbox was full. */
uint64_t macula__mailbox_dropped(macula_mailbox *mb);
/* Events currently queued. */
size_t macula__mailbox_count(macula_mailbox *mb);

#endif
