/* SPDX-License-Identifier: Apache-2.0 */
/* The block pool behind ngtcp2's allocator (src/quic/block_pool.h): blocks
 * are page-aligned, hold what is written to them and do not overlap, and
 * are zeroed when asked even when a dirty slot is reused; sizes beyond the
 * largest class are refused; a freed slot is reused first, dirty, by its
 * class; dirty slots not reused for an aging period are discarded, and past
 * DIRTY_MAX dirty slots the older half, adjacent ones in one call; a
 * discarded slot is not resident when handed out again;
 * other pointers are not taken for pool blocks; it is thread-safe; destroy
 * releases everything (ASan/LSan check that in a MACULA_SANITIZE build). */
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "quic/block_pool.h"
#include "testutil.h"

static size_t page;

static size_t resident(const void *p, size_t n)
{
    unsigned char vec[64];
    size_t np = (n + page - 1) / page;
    if (np > sizeof vec || mincore((void *)(uintptr_t)p, np * page, vec) != 0)
        return SIZE_MAX;
    size_t r = 0;
    for (size_t i = 0; i < np; i++)
        r += vec[i] & 1;
    return r;
}

static int all_byte(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

static void test_limits(void)
{
    macula__block_pool *p = macula__block_pool_new();
    REQUIRE(p);
    CHECK(macula__block_pool_alloc(p, 0, 0) == NULL);
    CHECK(macula__block_pool_alloc(p, MACULA__BLOCK_POOL_MAX_PAGES * page + 1, 0) == NULL);
    CHECK(macula__block_pool_alloc(NULL, 100, 0) == NULL);
    void *max = macula__block_pool_alloc(p, MACULA__BLOCK_POOL_MAX_PAGES * page, 0);
    CHECK(max != NULL);
    CHECK_EQ_INT(macula__block_pool_size(p, max), MACULA__BLOCK_POOL_MAX_PAGES * page);
    /* Pointers that are not the pool's: free declines them. */
    int local;
    void *heap = malloc(64);
    REQUIRE(heap);
    CHECK(!macula__block_pool_owns(p, &local));
    CHECK(!macula__block_pool_owns(p, heap));
    CHECK_EQ_INT(macula__block_pool_free(p, heap), 0);
    CHECK_EQ_INT(macula__block_pool_free(p, NULL), 0);
    CHECK_EQ_INT(macula__block_pool_size(p, heap), 0);
    free(heap);
    CHECK_EQ_INT(macula__block_pool_free(p, max), 1);
    macula__block_pool_destroy(p);
}

#define N_BLOCKS 600

static void test_blocks(void)
{
    macula__block_pool *p = macula__block_pool_new();
    REQUIRE(p);
    static uint8_t *b[N_BLOCKS];
    static size_t len[N_BLOCKS];
    /* Sizes across every class, odd ones included; more blocks than one
     * chunk of the smallest class holds is not needed, but several
     * chunks per class are used for the larger ones. */
    for (size_t i = 0; i < N_BLOCKS; i++) {
        len[i] = 1 + (i * 7919) % (MACULA__BLOCK_POOL_MAX_PAGES * page);
        b[i] = macula__block_pool_alloc(p, len[i], 1);
        REQUIRE(b[i]);
        CHECK(((uintptr_t)b[i] & (page - 1)) == 0);
        CHECK(macula__block_pool_owns(p, b[i]));
        CHECK(macula__block_pool_size(p, b[i]) >= len[i]);
        CHECK(all_byte(b[i], len[i], 0));
        memset(b[i], (int)(i & 0xff), len[i]);
    }
    /* No block overlaps another: each still holds its own bytes. */
    int kept = 1;
    for (size_t i = 0; i < N_BLOCKS; i++)
        kept &= all_byte(b[i], len[i], (uint8_t)(i & 0xff));
    CHECK(kept);
    macula__block_pool_stats st;
    macula__block_pool_get_stats(p, &st);
    CHECK_EQ_INT(st.live, N_BLOCKS);
    CHECK(st.chunks >= MACULA__BLOCK_POOL_MAX_PAGES);
    /* Free every other block (more than DIRTY_MAX), allocate again:
     * reused slots, dirty or discarded, come back zeroed when asked, and
     * the survivors are untouched. */
    for (size_t i = 0; i < N_BLOCKS; i += 2)
        CHECK_EQ_INT(macula__block_pool_free(p, b[i]), 1);
    macula__block_pool_get_stats(p, &st);
    CHECK_EQ_INT(st.live, N_BLOCKS / 2);
    CHECK(st.dirty <= MACULA__BLOCK_POOL_DIRTY_MAX);
    for (size_t i = 0; i < N_BLOCKS; i += 2) {
        b[i] = macula__block_pool_alloc(p, len[i], 1);
        REQUIRE(b[i]);
        CHECK(all_byte(b[i], len[i], 0));
        memset(b[i], 0xEE, len[i]);
    }
    kept = 1;
    for (size_t i = 0; i < N_BLOCKS; i++)
        kept &= all_byte(b[i], len[i], i % 2 ? (uint8_t)(i & 0xff) : 0xEE);
    CHECK(kept);
    for (size_t i = 0; i < N_BLOCKS; i++)
        CHECK_EQ_INT(macula__block_pool_free(p, b[i]), 1);
    macula__block_pool_get_stats(p, &st);
    CHECK_EQ_INT(st.live, 0);
    macula__block_pool_flush(p);
    macula__block_pool_get_stats(p, &st);
    CHECK_EQ_INT(st.dirty, 0);
    macula__block_pool_destroy(p);
}

/* Reuse and discards: a freed slot is reused dirty by its class (no new
 * slot, contents kept unless zero is asked); flush discards it (no page
 * resident, zeroes); DIRTY_MAX adjacent frees are discarded by one call. */
static void test_reuse_and_discard(void)
{
    macula__block_pool *p = macula__block_pool_new();
    REQUIRE(p);
    macula__block_pool_set_age_ms(p, 0); /* no aging by time: counts exact */
    size_t n = 3 * page;
    uint8_t *a = macula__block_pool_alloc(p, n, 0);
    REQUIRE(a);
    memset(a, 0x77, n);
    CHECK_EQ_INT(resident(a, n), 3);
    macula__block_pool_free(p, a);
    uint8_t *b = macula__block_pool_alloc(p, n, 0);
    CHECK(b == a);
    CHECK(b[0] == 0x77); /* dirty reuse: nothing was paid to clean it */
    macula__block_pool_free(p, b);
    b = macula__block_pool_alloc(p, n - 100, 1);
    CHECK(b == a);
    CHECK(all_byte(b, n - 100, 0));
    memset(b, 0x77, n);
    macula__block_pool_free(p, b);
    macula__block_pool_stats st;
    macula__block_pool_get_stats(p, &st);
    CHECK_EQ_INT(st.dirty, 1);
    macula__block_pool_flush(p);
    macula__block_pool_get_stats(p, &st);
    CHECK_EQ_INT(st.dirty, 0);
    CHECK_EQ_INT(st.discard_calls, 1);
    b = macula__block_pool_alloc(p, n, 0);
    CHECK(b == a);
    CHECK_EQ_INT(resident(b, n), 0);
    CHECK(all_byte(b, n, 0));
    macula__block_pool_free(p, b);
    macula__block_pool_flush(p);

    /* DIRTY_MAX + 1 one-page blocks, freed in order: the last free finds
     * DIRTY_MAX dirty slots and discards the older half (adjacent slots in
     * one call per chunk); allocating them all again gives back the dirty
     * ones (resident) first, then the discarded ones (not resident). */
    enum { M = MACULA__BLOCK_POOL_DIRTY_MAX + 1 };
    static uint8_t *v[M];
    for (size_t i = 0; i < M; i++) {
        v[i] = macula__block_pool_alloc(p, page, 0);
        REQUIRE(v[i]);
        v[i][0] = 1;
    }
    macula__block_pool_get_stats(p, &st);
    size_t calls = st.discard_calls;
    size_t per_chunk = MACULA__BLOCK_POOL_CHUNK / page;
    for (size_t i = 0; i < M; i++)
        macula__block_pool_free(p, v[i]);
    macula__block_pool_get_stats(p, &st);
    CHECK(st.discard_calls >= calls + 1);
    CHECK(st.discard_calls <= calls + 1 + MACULA__BLOCK_POOL_DIRTY_MAX / 2 / per_chunk + 1);
    CHECK_EQ_INT(st.dirty, MACULA__BLOCK_POOL_DIRTY_MAX / 2 + 1);
    size_t resident_blocks = 0;
    for (size_t i = 0; i < M; i++) {
        v[i] = macula__block_pool_alloc(p, page, 0);
        REQUIRE(v[i]);
        resident_blocks += resident(v[i], page);
    }
    CHECK_EQ_INT(resident_blocks, MACULA__BLOCK_POOL_DIRTY_MAX / 2 + 1);
    for (size_t i = 0; i < M; i++)
        macula__block_pool_free(p, v[i]);
    macula__block_pool_destroy(p);
}

/* Aging: a dirty slot not reused between two aging steps is discarded;
 * one reused in between is not; tick runs a step once AGE_MS passed. */
static void test_aging(void)
{
    macula__block_pool *p = macula__block_pool_new();
    REQUIRE(p);
    macula__block_pool_set_age_ms(p, 0); /* steps by hand until the tick part */
    uint8_t *a = macula__block_pool_alloc(p, page, 0);
    uint8_t *b = macula__block_pool_alloc(p, page, 0);
    REQUIRE(a && b);
    a[0] = b[0] = 1;
    macula__block_pool_free(p, a);
    macula__block_pool_stats st;
    macula__block_pool_age(p); /* a becomes old */
    macula__block_pool_get_stats(p, &st);
    CHECK_EQ_INT(st.dirty, 1);
    CHECK_EQ_INT(st.discard_calls, 0);
    macula__block_pool_age(p); /* a was not reused: discarded */
    macula__block_pool_get_stats(p, &st);
    CHECK_EQ_INT(st.dirty, 0);
    CHECK_EQ_INT(st.discard_calls, 1);
    CHECK_EQ_INT(resident(a, page), 0);

    macula__block_pool_free(p, b);
    macula__block_pool_age(p); /* b becomes old */
    uint8_t *again = macula__block_pool_alloc(p, page, 0);
    CHECK(again == b); /* reused dirty */
    CHECK(again[0] == 1);
    macula__block_pool_free(p, again); /* freed again: young */
    macula__block_pool_age(p);
    macula__block_pool_get_stats(p, &st);
    CHECK_EQ_INT(st.dirty, 1); /* not discarded: it was reused meanwhile */
    CHECK_EQ_INT(st.discard_calls, 1);

    /* tick: discarded after two periods. */
    macula__block_pool_tick(p);
    macula__block_pool_get_stats(p, &st);
    CHECK_EQ_INT(st.dirty, 1); /* no aging by time while the period is 0 */
    macula__block_pool_set_age_ms(p, 50);
    struct timespec ts = {0, 70 * 1000000L};
    for (int i = 0; i < 3; i++) {
        nanosleep(&ts, NULL);
        macula__block_pool_tick(p);
    }
    macula__block_pool_get_stats(p, &st);
    CHECK_EQ_INT(st.dirty, 0);
    CHECK_EQ_INT(st.discard_calls, 2);
    CHECK_EQ_INT(st.live, 0);
    macula__block_pool_destroy(p);
}

struct thread_arg {
    macula__block_pool *p;
    unsigned seed;
    int ok;
};

static void *hammer(void *arg)
{
    struct thread_arg *a = arg;
    uint8_t *mine[32] = {0};
    size_t len[32] = {0};
    a->ok = 1;
    for (int round = 0; round < 4000; round++) {
        unsigned k = (a->seed = a->seed * 1103515245u + 12345u) >> 16;
        size_t i = k % 32;
        if (mine[i]) {
            a->ok &= all_byte(mine[i], len[i], (uint8_t)i);
            macula__block_pool_free(a->p, mine[i]);
            mine[i] = NULL;
        } else {
            len[i] = 1 + k % (4 * page);
            mine[i] = macula__block_pool_alloc(a->p, len[i], 1);
            if (!mine[i]) {
                a->ok = 0;
                break;
            }
            a->ok &= all_byte(mine[i], len[i], 0);
            memset(mine[i], (int)i, len[i]);
        }
    }
    for (size_t i = 0; i < 32; i++)
        if (mine[i])
            macula__block_pool_free(a->p, mine[i]);
    return NULL;
}

static void test_threads(void)
{
    macula__block_pool *p = macula__block_pool_new();
    REQUIRE(p);
    pthread_t t[4];
    struct thread_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct thread_arg){p, (unsigned)(i + 1) * 2654435761u, 0};
        REQUIRE(pthread_create(&t[i], NULL, hammer, &a[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(a[i].ok);
    }
    macula__block_pool_stats st;
    macula__block_pool_get_stats(p, &st);
    CHECK_EQ_INT(st.live, 0);
    macula__block_pool_destroy(p);
}

int main(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    CHECK(macula__block_pool_shared() != NULL);
    CHECK(macula__block_pool_shared() == macula__block_pool_shared());
    RUN(test_limits);
    RUN(test_blocks);
    RUN(test_reuse_and_discard);
    RUN(test_aging);
    RUN(test_threads);
    return tu_summary();
}
