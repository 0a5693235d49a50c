/* SPDX-License-Identifier: Apache-2.0 */
/* The test rig of `macula bench`: a listener on its own runtime (its own
 * loop thread) and dialers on another, on 127.0.0.1, so both ends of every
 * connection run as they would in two programs. Either half may live in
 * another process (the memory figures fork one). Only public API calls. */
#ifndef MACULA_CLI_BENCH_RIG_H
#define MACULA_CLI_BENCH_RIG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "macula.h"

struct rig;
struct rig_batch;

/* One dialed peer. */
struct rig_peer {
    struct rig_batch *batch;
    macula_peer peer;
    uint64_t t_dial_ns, t_conn_ns; /* connect() called / CONNECTED seen */
    atomic_int connected, ended;
};

/* Peers dialed by one rig_dial() call; kept until rig_close (handlers
 * point into it). */
struct rig_batch {
    struct rig *rig;
    struct rig_peer *peers;
    size_t n;
    atomic_size_t next_dial;
    int close_on_connect; /* handshake runs: GOODBYE at once, keep the pool turning */
    atomic_uint_fast64_t connected, failed, ended;
    struct rig_batch *older;
};

struct rig {
    /* server half */
    macula_runtime *srv_rt;
    macula_listener *listener;
    macula_identity *srv_id;
    uint16_t port;
    atomic_uint_fast64_t srv_connected, srv_ended, srv_frames, srv_bytes;
    /* When srv_frames reaches srv_frames_target the handler notes the time
     * (one clock read per run, not per frame). */
    atomic_uint_fast64_t srv_frames_target, srv_last_frame_ns;

    /* client half */
    macula_runtime *cli_rt;
    macula_identity *cli_id;
    uint8_t srv_node_id[MACULA_NODE_ID_LEN]; /* pinned by every dial */
    uint32_t drain_ms;                       /* drain of the dialers' GOODBYE */
    struct rig_batch *batches;               /* newest first */
};

uint64_t rig_now_ns(void);
/* CPU time of the whole process (every thread), in seconds. */
double rig_process_cpu_s(void);
/* Resident set size of this process in bytes (/proc/self/statm). */
uint64_t rig_rss_bytes(void);
/* Heap bytes in use (malloc's view over every arena, mmapped blocks
 * included): unlike RSS it does not hide growth in memory freed earlier. */
uint64_t rig_heap_bytes(void);
/* Raises RLIMIT_NOFILE's soft limit to the hard one (many peers). */
void rig_raise_nofile(void);

/* Server half: a runtime with a listener on 127.0.0.1:0 (auto accept,
 * counting handler). 0 or a negative macula_err. */
/* Every rig opened from now on, in this process: both ends' connections
 * with QUIC low_memory on (1) or off (0, the default). */
void rig_set_low_memory(int on);
int rig_server_open(struct rig *r);
/* A listener on 127.0.0.1:0 of `rt` (self-signed over `id`, every peer
 * accepted with `accept`), in the rigs' low_memory mode; NULL and *err
 * (the failure printed, naming `what`) when it cannot start. */
macula_listener *rig_loopback_listener(macula_runtime *rt, const macula_identity *id,
                                       const macula_peer_options *accept, const char *what, int *err);
/* Client half, dialing `port` and pinning `srv_node_id`. */
int rig_client_open(struct rig *r, uint16_t port, const uint8_t srv_node_id[MACULA_NODE_ID_LEN]);
/* Both halves in this process. */
int rig_open(struct rig *r);
/* Frees whichever halves are open (graceful: GOODBYE to connected peers). */
void rig_close(struct rig *r);

/* Dials `n` peers keeping `concurrency` dials in flight (each new dial is
 * started from the loop when one connects or fails) and waits up to
 * `timeout_ms` until every one has connected or failed. Returns the batch
 * (owned by the rig), NULL when out of memory; check batch->connected. */
struct rig_batch *rig_dial(struct rig *r, size_t n, size_t concurrency, int close_on_connect,
                           uint32_t timeout_ms);
/* Waits until `counter` reaches `target` or `timeout_ms` passes; returns
 * 1 when reached. Polls (the counters are bumped on loop threads). */
int rig_wait(atomic_uint_fast64_t *counter, uint64_t target, uint32_t timeout_ms);
/* Closes every peer of the batch and waits for their ends. */
void rig_close_batch(struct rig_batch *b, uint32_t timeout_ms);

#endif
