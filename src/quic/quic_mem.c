/* SPDX-License-Identifier: Apache-2.0 */
/* ngtcp2's allocator for connections with settings.low_memory: the C heap,
 * except that a large block malloc'd once the handshake is done comes back
 * with its whole pages discarded (MADV_DONTNEED).
 *
 * Why: ngtcp2 0.12 reserves memory in large blocks it fills slowly (skip
 * lists reserve 8 nodes of 31 keys at a time, object pools 16-64 objects);
 * an idle connection touches a small part of each. A block carved from
 * fresh heap stays mostly non-resident, but one recycled from memory that
 * handshakes used and freed is resident in full. Discarding the pages makes
 * such a block cost only what is touched again. Blocks allocated during the
 * handshake are left alone: most are the handshake's own and touched in
 * full, so discarding them would only add page faults. The cost is the
 * system call and the faults of pages touched again (see the setting in
 * macula/quic.h).
 *
 * The heap keeps owning the memory (no mapping per block, so no limit on
 * mappings is approached); what malloc returns has no defined contents, so
 * discarded pages (which read back as zeroes) change nothing ngtcp2 may
 * rely on. Called on the connection's loop thread, like ngtcp2. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "quic/quic_internal.h"

/* Below this a block has at most one whole page inside: not worth a
 * system call. */
#define QUIC_MEM_DISCARD_MIN (8u * 1024)

static size_t page_size(void)
{
    long v = sysconf(_SC_PAGESIZE); /* read from the auxiliary vector: no system call */
    return v > 0 ? (size_t)v : 4096;
}

/* Discards the whole pages inside [p, p + n) (a failure leaves them as
 * they are, which is only a lost saving). */
static void discard_inside(void *p, size_t n)
{
    size_t ps = page_size();
    uintptr_t start = ((uintptr_t)p + ps - 1) & ~(uintptr_t)(ps - 1);
    uintptr_t end = ((uintptr_t)p + n) & ~(uintptr_t)(ps - 1);
    if (end > start)
        (void)madvise((void *)start, end - start, MADV_DONTNEED);
}

static int after_handshake(void *user)
{
    return ((const macula_quic_conn *)user)->state >= CONN_CONNECTED;
}

static void *mem_malloc(size_t n, void *user)
{
    void *p = malloc(n);
    if (p && n >= QUIC_MEM_DISCARD_MIN && after_handshake(user))
        discard_inside(p, n);
    return p;
}

/* calloc is left as it is: its zeroes are promised, and memory checkers
 * (valgrind) would take discarded pages for unwritten ones. ngtcp2's large
 * reservations come through malloc. */
static void *mem_calloc(size_t count, size_t size, void *user)
{
    (void)user;
    return calloc(count, size);
}

static void mem_free(void *p, void *user)
{
    (void)user;
    free(p);
}

static void *mem_realloc(void *p, size_t n, void *user)
{
    (void)user;
    return realloc(p, n);
}

const ngtcp2_mem *macula__quic_mem(macula_quic_conn *c)
{
    if (!c->settings.low_memory)
        return NULL; /* ngtcp2's default: the C heap as is */
    c->mem = (ngtcp2_mem){c, mem_malloc, mem_free, mem_calloc, mem_realloc};
    return &c->mem;
}
