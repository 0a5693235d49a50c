/* SPDX-License-Identifier: Apache-2.0 */
/* `macula bench relay` (cli_bench_relay.c): A -> R -> B on 127.0.0.1, three
 * runtimes (three loop threads), the sender on the calling thread.
 *  - peering: A sends pre-signed PUBLISH wire frames (send_wire) to R; R's
 *    handler (lazy_frames) forwards each to B with macula_peer_forward; B
 *    (lazy_frames too: every frame checked, none built) counts them; the
 *    rate runs from A's first send to B's FRAME event for the last frame.
 *  - plain QUIC: the same topology on macula/quic.h alone: A writes
 *    `wire_len`-byte chunks on one stream, R copies every byte it reads
 *    onto B's stream (pausing A's stream while B's queue is full), timed to
 *    B's last byte. What the transport allows a relay at that size.
 * No assertion on speed; state: none between calls. */
#ifndef MACULA_CLI_BENCH_RELAY_H
#define MACULA_CLI_BENCH_RELAY_H

#include <stddef.h>
#include <stdint.h>

struct relay_result {
    uint64_t n;          /* frames (or writes) that reached B */
    size_t wire_len;     /* bytes per frame / write */
    double per_s, mb_s;  /* frames (writes) per second, wire MB/s */
    double process_cpu_us; /* whole process CPU per frame, all three ends */
    uint64_t forward_failed; /* peering: forwards R could not queue (should be 0) */
};

/* A pre-signed PUBLISH with a `payload`-byte payload, `count` times. */
int bench_relay_peering(size_t payload, uint64_t count, struct relay_result *out);
/* `count` writes of `write_len` bytes through a plain-QUIC relay. */
int bench_relay_quic(size_t write_len, uint64_t count, struct relay_result *out);

#endif
