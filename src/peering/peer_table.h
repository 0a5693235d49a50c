/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the table of live peers of one runtime, and the small block of
 * per-peer state that other threads may touch.
 *
 * A handle (handle.h) is a serial that is never given out twice and a slot
 * index. The table maps it, under a mutex, to:
 *  - the peer's shared block, which any thread may use after taking a
 *    reference (macula__peer_table_ref): the identity the peer signs with
 *    (so that macula_peer_send_frame signs and encodes in the calling
 *    thread, in parallel), the byte count that enforces send_queue_cap
 *    before anything is queued, and the snapshot behind
 *    macula_peer_get_info / get_realms;
 *  - the loop-side entry (supervisor.h), which only the loop thread
 *    dereferences.
 * A handle is removed when its worker ends; from then on every lookup
 * misses, so a stale handle can never reach a later peer.
 */
#ifndef MACULA_PEERING_PEER_TABLE_H
#define MACULA_PEERING_PEER_TABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "macula/peering.h"
#include "peering/worker.h"

typedef struct macula__peer_entry macula__peer_entry;

/* The runtime-wide send budget (macula_runtime_options.peer_send_budget):
 * bytes reserved by callers plus bytes the workers hold, over every peer
 * of the runtime. Any thread; refcounted, as peers' shared blocks may be
 * released after the peering state. */
typedef struct macula__send_budget {
    atomic_size_t used;
    size_t cap; /* 0 = none */
    atomic_uint refs;
} macula__send_budget;
macula__send_budget *macula__send_budget_new(size_t cap);
void macula__send_budget_unref(macula__send_budget *b);

typedef struct macula__peer_shared {
    atomic_uint refs;
    /* Immutable after creation: read by any thread holding a reference. */
    macula_identity *identity;
    size_t send_queue_cap;
    /* Bytes of frames encoded by callers whose SEND command has not reached
     * the worker yet, and bytes the worker still holds (published by the
     * loop after every step). Their sum is checked against send_queue_cap. */
    atomic_size_t reserved;
    atomic_size_t worker_bytes;
    atomic_int ended;
    /* Send checks made by the calling thread (peering.h): the state the
     * loop published last, whether macula_peer_close was called, and a
     * SEND_READY owed after a MACULA_ERR_QUEUE_FULL refusal (with the
     * refused frame's size: the event waits until it would fit). */
    atomic_int state;
    atomic_int closing;
    int queue_until_connected; /* immutable */
    atomic_int want_send_ready;
    atomic_size_t refused_len;
    /* Frames accepted by send_frame / send_wire whose SEND command has not
     * been handed to the worker (queued or held): if the peer ends first
     * they are lost, and DISCONNECTED's final_info counts them as dropped. */
    atomic_size_t unsent_frames;
    /* The next id macula_peer_open_stream hands out (steps of 4). */
    atomic_llong next_stream;
    /* The snapshot for the getters. */
    pthread_mutex_t mu;
    macula_peer_info info;
    uint8_t *realms; /* n_realms * 32 */
    size_t n_realms;
    /* The runtime's send budget (one reference) or NULL; set before any
     * other thread sees the block. reserved + worker_bytes count in it. */
    macula__send_budget *global;
} macula__peer_shared;

/* One reference, for the caller. The identity is copied. The state starts
 * as CONNECTING (client) or AWAITING_START (server). */
macula__peer_shared *macula__peer_shared_new(const macula_identity *id, size_t send_queue_cap, int is_server,
                                             int *err);
void macula__peer_shared_unref(macula__peer_shared *sh);
/* Any thread: reserves `len` bytes against send_queue_cap; 0 or
 * MACULA_ERR_QUEUE_FULL (nothing reserved). */
int macula__peer_shared_reserve(macula__peer_shared *sh, size_t len);
/* Loop thread: the bytes the worker holds now (kept in step with the
 * runtime's send budget). */
void macula__peer_shared_set_worker_bytes(macula__peer_shared *sh, size_t n);
void macula__peer_shared_unreserve(macula__peer_shared *sh, size_t len);
/* Any thread: copies the snapshot (info when non-NULL, up to max realm ids
 * into realms); returns how many realms the peer announced. */
size_t macula__peer_shared_snapshot(macula__peer_shared *sh, macula_peer_info *info, uint8_t *realms, size_t max);
/* Any thread: 0 when a frame may be queued now (connected, or not yet
 * connected and queue_until_connected), otherwise MACULA_ERR_STATE. */
int macula__peer_shared_send_allowed(macula__peer_shared *sh);
/* Loop thread: publishes the worker's state, counters and queued bytes. */
void macula__peer_shared_publish(macula__peer_shared *sh, const macula__worker *w, const char *peer_addr);

typedef struct macula__peer_table_slot {
    uint64_t serial; /* 0 = free */
    macula__peer_shared *sh;
    macula__peer_entry *entry;
    uint32_t next_free;
} macula__peer_table_slot;

typedef struct macula__peer_table {
    pthread_mutex_t mu;
    macula__peer_table_slot *slots;
    uint32_t cap, free_head; /* free_head == cap: none free */
    uint64_t next_serial;
    size_t live;
} macula__peer_table;

int macula__peer_table_init(macula__peer_table *t);
/* Drops the table's references. */
void macula__peer_table_destroy(macula__peer_table *t);
/* Any thread: a new handle for (sh, entry); the table takes its own
 * reference to sh. MACULA_ERR_LIMIT when 2^24 peers are live. */
int macula__peer_table_add(macula__peer_table *t, macula__peer_shared *sh, macula__peer_entry *entry,
                           macula_peer *out);
/* Any thread: the shared block of a live handle with a new reference, or
 * NULL (stale or invalid). */
macula__peer_shared *macula__peer_table_ref(macula__peer_table *t, macula_peer p);
/* Loop thread: the entry of a live handle, or NULL. */
macula__peer_entry *macula__peer_table_entry(macula__peer_table *t, macula_peer p);
/* Loop thread: forgets the handle (and drops the table's reference). */
void macula__peer_table_remove(macula__peer_table *t, macula_peer p);
/* Any thread: every live handle (malloc'd array, *n entries); NULL when
 * none or out of memory. */
macula_peer *macula__peer_table_handles(macula__peer_table *t, size_t *n);

#endif
