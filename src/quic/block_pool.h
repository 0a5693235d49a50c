/* SPDX-License-Identifier: Apache-2.0 */
/* A pool of page-aligned blocks for ngtcp2's large allocations.
 *
 * Why: ngtcp2 0.12 reserves its skip-list and object-pool memory in blocks
 * of 4-16 KiB per list (block allocators filled front to back), and an idle
 * connection writes only the first part of each. From glibc's heap such a
 * block is often recycled from memory a handshake dirtied and then costs
 * every page; a clean page-aligned slot costs only the pages written.
 *
 * State: slots of 1..MACULA__BLOCK_POOL_MAX_PAGES pages, one size class per
 * page count; each class carves its slots out of its own chunks of
 * MACULA__BLOCK_POOL_CHUNK bytes (one aligned anonymous mapping each, so a
 * 5,000-connection process needs about a hundred mappings, not one per
 * block). The free-slot lists live outside the slots, so a free slot is
 * never written. A freed slot stays "dirty" (its pages resident) and is
 * the first one reused by its class (last freed, first reused): handshakes
 * that come and go recycle the same slots with no page fault and no
 * system call. Dirty slots age: one not reused between two aging steps
 * (every MACULA__BLOCK_POOL_AGE_MS, run by allocations, frees and
 * macula__block_pool_tick) is discarded (madvise MADV_DONTNEED: its pages
 * read back as zeroes), adjacent ones in one call, and past
 * MACULA__BLOCK_POOL_DIRTY_MAX dirty slots the older half is discarded at
 * once; so memory that closed connections and finished handshakes dirtied
 * does not stay resident. A slot never used or discarded is clean, and a
 * block made of it costs only the pages written (calloc needs no memset).
 *
 * Limits: requests above MACULA__BLOCK_POOL_MAX_PAGES pages, or when a
 * chunk cannot be mapped, return NULL (the caller falls back to malloc).
 * Chunks are only unmapped by macula__block_pool_destroy (address space is
 * kept; freed slots stay resident for at most two aging periods, and
 * never more than DIRTY_MAX of them). All functions are thread-safe (one
 * mutex per pool; tick takes it only when an aging step is due). */
#ifndef MACULA_QUIC_BLOCK_POOL_H
#define MACULA_QUIC_BLOCK_POOL_H

#include <stddef.h>

#define MACULA__BLOCK_POOL_MAX_PAGES 8
#define MACULA__BLOCK_POOL_CHUNK ((size_t)4 << 20)
#define MACULA__BLOCK_POOL_DIRTY_MAX 4096
#define MACULA__BLOCK_POOL_AGE_MS 250

typedef struct macula__block_pool macula__block_pool;

typedef struct macula__block_pool_stats {
    size_t chunks;        /* mappings held */
    size_t live;          /* blocks handed out and not freed */
    size_t dirty;         /* freed slots not yet discarded (<= DIRTY_MAX) */
    size_t discard_calls; /* madvise calls made so far */
} macula__block_pool_stats;

macula__block_pool *macula__block_pool_new(void);
/* Unmaps every chunk; blocks still live become invalid. */
void macula__block_pool_destroy(macula__block_pool *p);
/* The process's pool used by QUIC connections (never destroyed). */
macula__block_pool *macula__block_pool_shared(void);

/* A block of at least n bytes, page-aligned; zeroed if zero is set. NULL
 * if n is 0, too large, or no memory. */
void *macula__block_pool_alloc(macula__block_pool *p, size_t n, int zero);
/* Whether b is a live block of p (O(log chunks)). */
int macula__block_pool_owns(macula__block_pool *p, const void *b);
/* Usable bytes of a block of p; 0 if b is not p's. */
size_t macula__block_pool_size(macula__block_pool *p, const void *b);
/* Frees b and returns 1 if b is p's; returns 0 (and does nothing) if b is
 * not inside p's chunks. Aborts on a double free of a pool block. */
int macula__block_pool_free(macula__block_pool *p, void *b);
/* Discards every dirty slot now. */
void macula__block_pool_flush(macula__block_pool *p);
/* The aging period (default MACULA__BLOCK_POOL_AGE_MS; 0: aging only by
 * macula__block_pool_age), counted from now. */
void macula__block_pool_set_age_ms(macula__block_pool *p, unsigned ms);
/* One aging step now (tests; tick runs them on time). */
void macula__block_pool_age(macula__block_pool *p);
/* Runs an aging step if one is due; cheap otherwise (no lock). For
 * periodic callers such as connection timers, so that freed memory is
 * discarded even when nothing is allocated or freed any more. */
void macula__block_pool_tick(macula__block_pool *p);
void macula__block_pool_get_stats(macula__block_pool *p, macula__block_pool_stats *out);

#endif
