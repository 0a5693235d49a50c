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

/* Deep-copies `ev` into the mailbox (the frame is taken from `ev`, the
 * detail and final_info copied). Returns 0; MACULA_ERR_QUEUE_FULL when a
 * FRAME event met a full mailbox, MACULA_ERR_SHUTDOWN when the mailbox is
 * closed (nothing taken: `ev` still owns its frame); or MACULA_ERR_NOMEM
 * (nothing taken). Any thread. */
int macula__mailbox_push(macula_mailbox *mb, macula_event *ev);
/* FRAME events dropped so far because the mailbox was full. */
uint64_t macula__mailbox_dropped(macula_mailbox *mb);
/* Events currently queued. */
size_t macula__mailbox_count(macula_mailbox *mb);

#endif
