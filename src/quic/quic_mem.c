/* SPDX-License-Identifier: Apache-2.0 */
/* ngtcp2's allocator for every connection: blocks of MEM_POOL_MIN bytes or
 * more come from the process's block pool (quic/block_pool.h), the rest
 * from the C heap.
 *
 * Why: ngtcp2 0.12 reserves memory in large blocks it fills front to back
 * (skip lists reserve 8 nodes of 31 keys at a time, object pools 64
 * objects, the connection struct itself is ~9 KB of mostly unwritten
 * fields); an idle connection touches a small part of each. From glibc's
 * heap such a block is often recycled from memory that handshakes dirtied
 * and freed, and is then resident in full. A pool slot is page-aligned and
 * reused only by blocks of its own size class, first while still dirty
 * (handshakes that come and go recycle it with no page fault); freed slots
 * not reused within an aging period are discarded, so a long-lived block
 * costs only the pages ngtcp2 writes. Measured (BENCHMARKS.md): about the
 * RSS of the old low_memory setting by default, without its handshake CPU.
 * The older low_memory scheme (discard each large malloc'd block after the
 * handshake, one system call and its page faults each) is superseded; the
 * setting is kept as an alias of the default.
 *
 * Called on the connection's loop thread, like ngtcp2 (the pool is
 * thread-safe: connections of several runtimes share it). */
#include <stdlib.h>
#include <string.h>

#include "quic/block_pool.h"
#include "quic/quic_internal.h"

/* Below this a block would waste most of its page when small and is
 * usually written in full: the heap packs it better. */
#define MEM_POOL_MIN ((size_t)3072)

static void *mem_malloc(size_t n, void *user)
{
    if (n >= MEM_POOL_MIN) {
        void *b = macula__block_pool_alloc(user, n, 0);
        if (b)
            return b;
    }
    return malloc(n);
}

static void *mem_calloc(size_t count, size_t size, void *user)
{
    if (size && count <= SIZE_MAX / size && count * size >= MEM_POOL_MIN) {
        void *b = macula__block_pool_alloc(user, count * size, 1);
        if (b)
            return b;
    }
    return calloc(count, size);
}

static void mem_free(void *p, void *user)
{
    if (p && !macula__block_pool_free(user, p))
        free(p);
}

static void *mem_realloc(void *p, size_t n, void *user)
{
    size_t have = macula__block_pool_size(user, p);
    if (!have)
        return realloc(p, n);
    if (n <= have && n >= MEM_POOL_MIN)
        return p;
    void *q = mem_malloc(n, user);
    if (!q)
        return NULL;
    memcpy(q, p, n < have ? n : have);
    macula__block_pool_free(user, p);
    return q;
}

const ngtcp2_mem *macula__quic_mem(macula_quic_conn *c)
{
    macula__block_pool *pool = macula__block_pool_shared();
    if (!pool)
        return NULL; /* ngtcp2's default: the C heap as is */
    c->mem = (ngtcp2_mem){pool, mem_malloc, mem_free, mem_calloc, mem_realloc};
    return &c->mem;
}
