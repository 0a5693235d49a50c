/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: reference-counted wire buffers, the unit of forwarding.
 *
 * A received frame's bytes (length prefix included) are copied once out of
 * the stream parser into a wirebuf; the FRAME event holds one reference,
 * a mailbox copy of the event its own, and every macula_peer_forward
 * another until the target worker has handed the bytes to QUIC (which
 * copies them into its send buffer). The bytes never change after
 * creation, so any thread may read them while it holds a reference.
 *
 * State: the count (atomic) and the bytes. Limits: a frame's size
 * (16 MiB + 4) at most; the count never exceeds the holders.
 */
#ifndef MACULA_PEERING_WIREBUF_H
#define MACULA_PEERING_WIREBUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct macula__wirebuf {
    atomic_size_t refs;
    size_t len;
    uint8_t data[];
} macula__wirebuf;

/* A buffer holding a copy of data[0..len) with one reference; NULL when
 * out of memory. */
macula__wirebuf *macula__wirebuf_new(const uint8_t *data, size_t len);
macula__wirebuf *macula__wirebuf_ref(macula__wirebuf *b);
/* Drops one reference; the last one frees. NULL is ignored. */
void macula__wirebuf_unref(macula__wirebuf *b);

#endif
