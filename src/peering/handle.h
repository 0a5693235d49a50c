/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: how a macula_peer handle is made. A handle packs the peer's
 * serial (1, 2, 3, ... in creation order, never reused within a runtime)
 * above a slot index into the supervisor's table, so that a lookup is one
 * index and one comparison, and a stale handle (its slot reused by a later
 * serial) can never match. 0 is MACULA_PEER_INVALID (serial 0 is never
 * given out).
 */
#ifndef MACULA_PEERING_HANDLE_H
#define MACULA_PEERING_HANDLE_H

#include <stdint.h>

#include "macula/peering.h"

#define MACULA__PEER_SLOT_BITS 24
#define MACULA__PEER_MAX_SLOTS ((uint64_t)1 << MACULA__PEER_SLOT_BITS)
#define MACULA__PEER_MAX_SERIAL (((uint64_t)1 << (64 - MACULA__PEER_SLOT_BITS)) - 1)

static inline macula_peer macula__peer_handle(uint64_t serial, uint32_t slot)
{
    return (serial << MACULA__PEER_SLOT_BITS) | ((uint64_t)slot & (MACULA__PEER_MAX_SLOTS - 1));
}

static inline uint32_t macula__peer_slot(macula_peer p)
{
    return (uint32_t)(p & (MACULA__PEER_MAX_SLOTS - 1));
}

#endif
