/* SPDX-License-Identifier: Apache-2.0 */
/* The allocator behind the low_memory setting (src/quic/quic_mem.c):
 * default connections use ngtcp2's own (none given); with low_memory, a
 * block of any size holds what is written to it and calloc returns zeroes
 * even when the heap hands back memory an earlier block dirtied, during the
 * handshake and after it; after the handshake a large malloc'd block has no
 * resident page until it is touched, even when it is made of memory a freed
 * block dirtied. */
#include <sys/mman.h>

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

static void test_default_is_ngtcp2s(void)
{
    macula_quic_conn c;
    memset(&c, 0, sizeof c);
    macula_quic_settings_init(&c.settings);
    CHECK(macula__quic_mem(&c) == NULL);
}

static void test_low_memory_blocks(void)
{
    macula_quic_conn c;
    memset(&c, 0, sizeof c);
    macula_quic_settings_init(&c.settings);
    c.settings.low_memory = 1;
    const ngtcp2_mem *m = macula__quic_mem(&c);
    REQUIRE(m);
    CHECK(m->user_data == &c);
    c.state = CONN_HANDSHAKING; /* blocks left as the heap gives them */
    check_blocks(m);
    c.state = CONN_CONNECTED; /* blocks of 8 KiB and more discarded first */
    check_blocks(m);

    /* What the setting is for: a large block, even one made of memory a
     * freed block dirtied, holds no resident page until it is touched. */
    size_t whole;
    uint8_t *dirty = m->malloc(100000, &c);
    REQUIRE(dirty);
    memset(dirty, 0xA5, 100000);
    CHECK(resident_pages(dirty, 100000, &whole) == whole && whole > 0);
    m->free(dirty, &c);
    uint8_t *b = m->malloc(100000, &c);
    REQUIRE(b);
    CHECK_EQ_INT(resident_pages(b, 100000, &whole), 0);
    CHECK(whole >= 20);
    m->free(b, &c);
}

int main(void)
{
    RUN(test_default_is_ngtcp2s);
    RUN(test_low_memory_blocks);
    return tu_summary();
}
