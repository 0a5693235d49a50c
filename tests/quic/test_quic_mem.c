/* SPDX-License-Identifier: Apache-2.0 */
/* ngtcp2's allocator (src/quic/quic_mem.c), the same for every connection
 * (low_memory is an alias of the default): a block of any size holds what
 * is written to it, grows with realloc, and calloc returns zeroes even when
 * memory an earlier block dirtied is reused; a large block (ngtcp2's
 * reservations) has no resident page until it is touched. */
#include <sys/mman.h>

#include "quic/block_pool.h"
#include "quic/quic_internal.h"
#include "quic_test_util.h"

/* How many of the whole pages inside [p, p + n) are resident. */
static size_t resident_pages(const void *p, size_t n, size_t *whole)
{
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)p + ps - 1) & ~(uintptr_t)(ps - 1);
    uintptr_t end = ((uintptr_t)p + n) & ~(uintptr_t)(ps - 1);
    *whole = end > start ? (end - start) / ps : 0;
    if (!*whole)
        return 0;
    unsigned char vec[256];
    if (*whole > sizeof vec || mincore((void *)start, end - start, vec) != 0)
        return SIZE_MAX;
    size_t in = 0;
    for (size_t i = 0; i < *whole; i++)
        in += vec[i] & 1;
    return in;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Sizes around the discard threshold and page multiples, odd ones too. */
static const size_t sizes[] = {1, 100, 4095, 4096, 8191, 8192, 8193, 11288, 12184, 65536, 70001, 300000};

static void check_blocks(const ngtcp2_mem *m)
{
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        /* Dirty a block, free it, then ask for the same size again: the
         * heap usually returns the same memory. */
        uint8_t *dirty = m->malloc(n, m->user_data);
        REQUIRE(dirty);
        memset(dirty, 0xA5, n);
        m->free(dirty, m->user_data);
        uint8_t *z = m->calloc(1, n, m->user_data);
        REQUIRE(z);
        CHECK(all_zero(z, n));
        /* A block keeps what is written to it, end to end. */
        for (size_t i = 0; i < n; i++)
            z[i] = (uint8_t)(i * 31 + 7);
        uint8_t *w = m->malloc(n, m->user_data);
        REQUIRE(w);
        memset(w, 0x5A, n);
        int kept = 1;
        for (size_t i = 0; i < n; i++)
            kept &= z[i] == (uint8_t)(i * 31 + 7) && w[i] == 0x5A;
        CHECK(kept);
        uint8_t *grown = m->realloc(w, n * 2, m->user_data);
        REQUIRE(grown);
        CHECK(grown[0] == 0x5A && grown[n - 1] == 0x5A);
        m->free(grown, m->user_data);
        m->free(z, m->user_data);
    }
}

/* Every connection, low_memory or not, gets the pooled allocator. */
static void test_every_conn_pooled(void)
{
    for (int low = 0; low <= 1; low++) {
        macula_quic_conn c;
        memset(&c, 0, sizeof c);
        macula_quic_settings_init(&c.settings);
        c.settings.low_memory = low;
        const ngtcp2_mem *m = macula__quic_mem(&c);
        REQUIRE(m);
        CHECK(m->user_data == macula__block_pool_shared());
        c.state = CONN_HANDSHAKING;
        check_blocks(m);
        c.state = CONN_CONNECTED;
        check_blocks(m);
    }
}

static void test_large_blocks_clean(void)
{
    macula_quic_conn c;
    memset(&c, 0, sizeof c);
    macula_quic_settings_init(&c.settings);
    const ngtcp2_mem *m = macula__quic_mem(&c);
    REQUIRE(m);
    /* What the pool is for: a block of ngtcp2's sizes made of a freed
     * block's memory is resident at most where that block was written,
     * and once the pool has discarded freed memory (it does past
     * DIRTY_MAX freed blocks; flush here) a new block holds no resident
     * page until it is touched, and calloc's zeroes cost no page either. */
    size_t whole;
    const size_t sizes_ng[] = {4248, 7192, 8216, 8352, 11288, 12184};
    macula__block_pool *pool = macula__block_pool_shared();
    for (size_t k = 0; k < sizeof sizes_ng / sizeof sizes_ng[0]; k++) {
        size_t n = sizes_ng[k];
        macula__block_pool_flush(pool); /* no slot dirtied by earlier tests */
        uint8_t *dirty = m->malloc(n, m->user_data);
        REQUIRE(dirty);
        CHECK(((uintptr_t)dirty & 4095) == 0);
        memset(dirty, 0xA5, 100); /* its first page only */
        m->free(dirty, m->user_data);
        uint8_t *b = m->malloc(n, m->user_data);
        REQUIRE(b);
        CHECK_EQ_INT(resident_pages(b, n, &whole), 1);
        memset(b, 0xA5, n);
        m->free(b, m->user_data);
        macula__block_pool_flush(pool);
        b = m->malloc(n, m->user_data);
        REQUIRE(b);
        CHECK_EQ_INT(resident_pages(b, n, &whole), 0);
        uint8_t *z = m->calloc(1, n, m->user_data);
        REQUIRE(z);
        CHECK_EQ_INT(resident_pages(z, n, &whole), 0);
        CHECK(all_zero(z, n));
        m->free(b, m->user_data);
        m->free(z, m->user_data);
    }
}

int main(void)
{
    RUN(test_every_conn_pooled);
    RUN(test_large_blocks_clean);
    return tu_summary();
}
