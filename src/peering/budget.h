/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: byte budgets of the peering layer (issue 11, "a listener that
 * holds under attack"). A budget is a limit and what is counted against
 * it; it belongs to the loop thread (no locking).
 *
 * State and limits (defaults sized for a 2-vCPU, ~4 GB box; each can be
 * overridden, see peering.h / runtime.h):
 *  - receive, per connection: the bytes the frame parsers of one
 *    connection (control + dedicated streams) hold allocated, i.e.
 *    partial frames. 32 MiB (two maximal frames) by default
 *    (macula_peer_options.recv_budget).
 *  - receive, per runtime: the same summed over every connection.
 *    256 MiB (macula_runtime_options.peer_recv_budget).
 *    A connection whose parsers would take more than either is ended with
 *    MACULA_DISC_RECV_BUDGET ("recv_budget"): a partial frame cannot be
 *    completed by pausing the reads, so slowing the peer would not free
 *    anything.
 *  - frame size: macula_peer_options.max_frame_size (16 MiB - 1, the
 *    protocol's); a larger declared length ends the connection with
 *    MACULA_DISC_FRAME_TOO_LARGE as soon as its 4 bytes are in.
 *  - decode: a decoded frame may take at most 32 bytes per wire byte plus
 *    64 KiB, and never more than macula_peer_options.max_decode_bytes
 *    (64 MiB); beyond it the frame is dropped unbuilt ("frame_dropped",
 *    reason decode_budget), found before anything is allocated.
 *  - before CONNECT / HELLO: frames of any other type are dropped after
 *    reading their frame_type only (frames_undecoded counts them).
 *
 * Elsewhere, same issue (not in this file's struct):
 *  - send, per peer: send_queue_cap (64 MiB) of frames the worker holds,
 *    plus QUIC's per-stream queue (quic_send_queue_cap on a dial, the
 *    listener's quic.send_queue_cap; 32 MiB);
 *  - send, per runtime: macula_runtime_options.peer_send_budget (256 MiB)
 *    over every peer's reserved + worker-held bytes (peer_table.h,
 *    macula__send_budget; any thread, atomics). Both answer QUEUE_FULL.
 *  - inbound events: the mailbox's byte budget (64 MiB) and count; when
 *    full the peer's streams are paused (peer_backpressure.c).
 */
#ifndef MACULA_PEERING_BUDGET_H
#define MACULA_PEERING_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#define MACULA__DEFAULT_RECV_BUDGET ((size_t)32 << 20)
#define MACULA__DEFAULT_RUNTIME_RECV_BUDGET ((size_t)256 << 20)
#define MACULA__DEFAULT_MAX_DECODE_BYTES ((size_t)64 << 20)

typedef struct macula__budget {
    size_t limit; /* 0 = no limit */
    size_t used;
    size_t peak;
    uint64_t refused; /* takes refused */
} macula__budget;

/* Counts `n` more bytes: 0, or MACULA_ERR_LIMIT (nothing counted) when
 * that would exceed the limit. */
int macula__budget_take(macula__budget *b, size_t n);
/* Returns `n` bytes taken before (clamped at 0). */
void macula__budget_give(macula__budget *b, size_t n);
/* Moves a holding from `old` to `now` bytes against both budgets
 * (`global` may be NULL); on refusal nothing changes. */
int macula__budget_move(macula__budget *local, macula__budget *global, size_t old, size_t now);

#endif
