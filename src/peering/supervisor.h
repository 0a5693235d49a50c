/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the peering supervisor of one runtime (PROTOCOL.md §5) and the
 * shell that runs each sans-I/O worker (worker.h) against a QUIC
 * connection.
 *
 * Pieces:
 *  - macula__peering (supervisor.c): the per-runtime state, made on first
 *    use from any thread (runtime slot MACULA__SLOT_PEERING). It holds the
 *    handle table (peer_table.h), a FIFO of commands from the public calls
 *    (one queue for every caller, so each caller's calls run in the order
 *    it made them), the live entries and listeners, and the shutdown hook.
 *  - macula__peer_entry (peer_shell.c): one worker with its connection,
 *    its loop timer and its receivers. drive() executes the worker's
 *    actions; QUIC events and the timer feed it.
 *  - listeners (listener.c).
 *
 * Threads: entries, listeners and everything below marked "loop" belong to
 * the loop thread. An entry is built by the calling thread (handle, shared
 * block, worker) and handed to the loop through the command queue; until
 * its START / ACCEPT command runs only that command refers to it.
 */
#ifndef MACULA_PEERING_SUPERVISOR_H
#define MACULA_PEERING_SUPERVISOR_H

#include <pthread.h>

#include "macula/peering.h"
#include "peering/wirebuf.h"
#include "peering/budget.h"
#include "peering/peer_table.h"
#include "peering/peer_template.h"
#include "peering/worker.h"
#include "runtime/loop.h"

#define MACULA__PEERING_MAX_COMMANDS ((size_t)1 << 20)
#define MACULA__PEER_ADDR_LEN 64

typedef struct macula__peering macula__peering;

struct macula__peer_entry {
    macula__peering *pr;
    macula_peer handle;
    macula__peer_shared *sh; /* one reference */
    macula__worker *w;
    macula_quic_conn *conn;  /* NULL before the dial / once closed */
    macula__timer timer;
    uint64_t worker_deadline; /* what the worker asked for */
    int timer_capped;         /* armed earlier than asked: the runtime is stopping */
    macula_event_fn handler;
    void *handler_user;
    macula_event_fn owner;
    void *owner_user;
    macula__peer_template *dial; /* client: the target (owned) */
    macula_listener *listener;   /* server workers of a listener */
    int counted;                 /* counted in listener->handshaking */
    int linked, driving, ended;
    char peer_addr[MACULA__PEER_ADDR_LEN];
    macula__peer_entry *prev, *next;     /* pr->entries */
    macula__peer_entry *l_prev, *l_next; /* listener->entries */

    /* Causes, final state, user pointer, held sends (peer_shell.c). */
    void *peer_user;           /* copied into every event */
    int queue_until_connected; /* hold SEND commands until CONNECTED */
    struct macula__peering_cmd *held_head, *held_tail; /* held SENDs, in call order */
    int close_seen;            /* the connection's CLOSED came: close_* are set */
    macula_quic_close_cause close_cause;
    int close_err;             /* its macula_err detail (0 if none) */
    int dial_err;              /* macula_quic_dial refused at once (0 if not) */
    int close_requested;       /* the worker was told to close ... */
    int close_by_shutdown;     /* ... first by the runtime's shutdown */
    macula_peer_info final_info; /* DISCONNECTED: the event's final_info */

    /* Forwarding (peer_api.c): loop-thread forwards queue into the worker
     * and ask for one drive later in the loop iteration, so that the
     * frames of one read leave as one batched SEND. */
    macula__timer fwd_timer;
    /* Mailbox back-pressure (peer_backpressure.c; loop thread). */
    int64_t cur_sid;             /* stream whose data is being handled, or -1 */
    int bp_waiting;              /* a waiter sits in the mailbox: reading is paused */
    struct macula__bp_waiter *bp_spare; /* the waiter the next full push hands over */
    int64_t *bp_sids;            /* streams paused for it */
    size_t n_bp_sids, cap_bp_sids;

    /* Dead-peer detection (peer_deadpeer.c; loop thread). */
    uint64_t dp_timeout_ns;      /* 0 = off */
    macula__timer dp_timer;
    uint64_t dp_packets;         /* packets_received when last seen moving */
    uint64_t dp_heard;           /* loop time it last moved */
};

typedef enum macula__peering_cmd_kind {
    MACULA__CMD_START = 1, /* link and start a new client entry */
    MACULA__CMD_ACCEPT,    /* link a new server entry to `conn` and start it */
    MACULA__CMD_CLOSE,
    MACULA__CMD_SEND,          /* on `stream` */
    MACULA__CMD_SEND_READY_CHECK, /* a send was refused: SEND_READY when there is room */
    MACULA__CMD_OPEN_STREAM,   /* `stream`: the id handed to the caller */
    MACULA__CMD_FINISH_STREAM,
    MACULA__CMD_RESET_STREAM   /* with `code` */
} macula__peering_cmd_kind;

typedef struct macula__peering_cmd {
    struct macula__peering_cmd *next;
    macula__peering_cmd_kind kind;
    macula_peer peer;
    macula__peer_entry *entry; /* START, ACCEPT (owned until run) */
    macula_quic_conn *conn;    /* ACCEPT */
    uint8_t *wire;             /* SEND (owned) */
    size_t len;                /* SEND: bytes reserved in sh */
    macula__peer_shared *sh;   /* SEND: one reference */
    int64_t stream;            /* SEND and *_STREAM */
    uint64_t code;             /* RESET_STREAM */
    macula__wirebuf *wb;       /* SEND of a forwarded buffer (one reference; wire is NULL) */
    char reason[];             /* CLOSE; "" = default */
} macula__peering_cmd;

struct macula__peering {
    macula_runtime *rt;
    macula__loop *loop;
    macula__peer_table table;

    pthread_mutex_t cmd_mu;
    macula__peering_cmd *cmd_head, *cmd_tail;
    size_t n_cmds;
    int drain_posted; /* a drain is posted and has not taken the queue yet */

    /* loop thread */
    macula__shutdown_hook hook;
    int hook_registered;
    int stopping;      /* the shutdown began: no new dials, drains capped */
    int stop_reported; /* macula__runtime_shutdown_done() was called */
    uint64_t stop_cap; /* no worker timer beyond this while stopping */
    macula__timer done_timer; /* reports the end of the shutdown from the loop's top */
    macula__peer_entry *entries;
    size_t n_entries;
    macula_listener *listeners;
    /* partial inbound frames of every worker (budget.h; loop thread) */
    macula__budget recv_budget;
    /* queued outbound bytes of every peer (peer_table.h; any thread) */
    macula__send_budget *send_budget;
};

/* --- supervisor.c --- */
/* Any thread: the runtime's peering state, made on first use; NULL when
 * out of memory. */
macula__peering *macula__peering_get(macula_runtime *rt);
/* Loop thread (or before the loop runs): registers the shutdown hook once. */
void macula__peering_ensure_hook(macula__peering *pr);
/* Any thread: queues a command (ownership passes, also on failure: the
 * command is then freed). 0, MACULA_ERR_QUEUE_FULL or MACULA_ERR_SHUTDOWN. */
int macula__peering_post(macula__peering *pr, macula__peering_cmd *c);
/* Hands a SEND command's bytes (wire or wb) to worker `w`; the command no
 * longer holds them. */
void macula__peering_cmd_send(macula__peering_cmd *c, macula__worker *w, uint64_t now);
/* Frees a command that will not run (its entry, wire, reservation). */
void macula__peering_cmd_free(macula__peering_cmd *c);
/* Loop: an entry left; finishes the shutdown when it was the last. */
void macula__peering_entry_gone(macula__peering *pr);
/* Loop: a diagnostic with the peer's serial as the field "peer". */
void macula__peering_diag(macula__peering *pr, macula_peer peer, const char *name, const macula_diag_field *fields,
                          size_t n);

/* --- peer_backpressure.c: mailbox back-pressure (peering.h,
 * macula_mailbox_new_budget). A FRAME pushed into a full mailbox pauses
 * the stream being read (and every stream that delivers later) with
 * macula_quic_conn_pause_reading, and leaves a waiter in the mailbox;
 * when pops make room the waiter posts a resume to the loop, which
 * un-pauses them. Nothing is dropped. --- */
/* Loop: routes `ev` into the entry's mailbox, pausing as above; returns
 * macula__mailbox_push_bp's result. */
int macula__bp_push(macula__peer_entry *e, macula_event *ev);
/* Loop: stream data is about to be handled on `sid` (-1: done). */
void macula__bp_reading(macula__peer_entry *e, int64_t sid);
/* Loop: releases what the entry holds for back-pressure. */
void macula__bp_clear(macula__peer_entry *e);

/* --- peer_deadpeer.c: dead-peer detection (macula_peer_options
 * dead_peer_timeout_ms). A timer every quarter of the timeout reads the
 * connection's packets_received; when it has not moved for the whole
 * timeout the worker ends with MACULA_DISC_DEAD_PEER. --- */
/* Loop: arms the check when the entry has a timeout (before the first
 * drive: that may free the entry). */
void macula__dp_start(macula__peer_entry *e);
void macula__dp_stop(macula__peer_entry *e);

/* --- peer_shell.c --- */
/* Any thread: a new entry (handle, shared block, worker) from a template;
 * a client entry takes ownership of *t's contents (t is then cleared),
 * a server entry only borrows it. NULL with *err on failure. */
macula__peer_entry *macula__peer_entry_new(macula__peering *pr, macula__peer_template *t, int *err);
/* Frees an entry that was never linked (its command did not run). */
void macula__peer_entry_discard(macula__peer_entry *e);
/* Loop: links the entry, attaches `conn` (server, may be NULL when the
 * connection is gone) and gives the start signal; the entry may have ended
 * and been freed when this returns. */
void macula__peer_entry_start(macula__peer_entry *e, macula_quic_conn *conn);
/* Loop: executes every queued action; frees the entry after ENDED (the
 * caller must not use `e` afterwards unless it knows the worker is alive). */
void macula__peer_entry_drive(macula__peer_entry *e);
/* Drives `e` later in this loop iteration (once however often it is
 * asked), or now when that cannot be arranged; nothing while it drives. */
void macula__peer_entry_drive_soon(macula__peer_entry *e);
/* Loop: API close then drive. */
void macula__peer_entry_close(macula__peer_entry *e, const char *reason);
/* Loop: a SEND command for an entry not yet connected whose options say
 * queue_until_connected: keeps it (1; sent right after CONNECTED, in
 * order), or 0 when the worker should take it now. */
int macula__peer_entry_hold(macula__peer_entry *e, struct macula__peering_cmd *c);
/* Loop: delivers SEND_READY when one is owed and the send queue has room. */
void macula__peer_entry_check_send_ready(macula__peer_entry *e);
/* Loop: ends an entry at the shutdown deadline (a draining worker ends
 * with its drain, the others are closed), then drive. */
void macula__peer_entry_force(macula__peer_entry *e);
/* Loop: re-arms the timer no later than pr->stop_cap. */
void macula__peer_entry_cap_timer(macula__peer_entry *e);
/* Frees an entry whatever its state, without events (runtime teardown
 * after a loop failure; its connection is no longer touched). */
void macula__peer_entry_free_now(macula__peer_entry *e);
/* The QUIC handler that ignores everything: owner of connections nobody
 * wants any more (closed ones keep delivering events until CLOSED). */
void macula__peering_quic_sink(void *user, const macula_quic_event *ev);

/* --- listener.c --- */
/* Loop: bookkeeping after an entry of a listener moved (handshaking count,
 * duplicates on CONNECTED). */
void macula__listener_entry_connected(macula__peer_entry *e, const uint8_t node_id[MACULA_NODE_ID_LEN]);
void macula__listener_entry_update(macula__peer_entry *e);
void macula__listener_entry_gone(macula__peer_entry *e);
/* Loop: takes `conn` out of the pending lists of the listeners (manual
 * mode); the listener it came from, or NULL when it is not pending. */
macula_listener *macula__listener_take_pending(macula__peering *pr, macula_quic_conn *conn);
/* Loop: adopts an entry started on a pending connection of `l`. */
void macula__listener_adopt(macula_listener *l, macula__peer_entry *e);
/* Loop: shutdown: close every listener (workers are closed separately). */
void macula__listeners_shutdown(macula__peering *pr);
/* Teardown: frees listener memory without touching QUIC. */
void macula__listeners_free_now(macula__peering *pr);

#endif
