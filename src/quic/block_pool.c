/* SPDX-License-Identifier: Apache-2.0 */
/* Page-aligned block pool for ngtcp2's large allocations: see
 * block_pool.h for why, its state and its limits. */
#include "quic/block_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { SLOT_FRESH = 0, SLOT_LIVE, SLOT_DIRTY, SLOT_CLEAN };

typedef struct pool_chunk {
    uintptr_t base;
    unsigned pages;   /* size class: pages per slot */
    size_t nslots;
    size_t bump;      /* slots [bump, nslots) never handed out: clean */
    uint8_t *state;   /* per slot: SLOT_* */
} pool_chunk;

typedef struct pool_class {
    uintptr_t *clean; /* discarded free slots (addresses), a stack */
    uintptr_t *dirty; /* freed, not discarded: reused first, a stack */
    size_t n_clean, n_dirty, cap; /* both stacks hold cap addresses */
    size_t old; /* dirty[0, old) were already dirty at the last aging step */
    pool_chunk *bump_chunk; /* the class's chunk with unused slots left, if any */
} pool_class;

struct macula__block_pool {
    pthread_mutex_t mu;
    size_t page;
    pool_chunk **chunks; /* sorted by base */
    size_t n_chunks, cap_chunks;
    pool_class cls[MACULA__BLOCK_POOL_MAX_PAGES + 1]; /* index = pages */
    uintptr_t scratch[MACULA__BLOCK_POOL_DIRTY_MAX]; /* slots being discarded, sorted */
    size_t n_dirty; /* over all classes */
    _Atomic uint64_t last_age_ms; /* time of the last aging step */
    _Atomic uint64_t age_ms;      /* aging period; 0: only macula__block_pool_age */
    size_t live, discard_calls;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* vDSO: no system call */
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

macula__block_pool *macula__block_pool_new(void)
{
    macula__block_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    long ps = sysconf(_SC_PAGESIZE);
    p->page = ps > 0 ? (size_t)ps : 4096;
    atomic_init(&p->last_age_ms, now_ms());
    atomic_init(&p->age_ms, MACULA__BLOCK_POOL_AGE_MS);
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

void macula__block_pool_destroy(macula__block_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_chunks; i++) {
        munmap((void *)p->chunks[i]->base, MACULA__BLOCK_POOL_CHUNK);
        free(p->chunks[i]->state);
        free(p->chunks[i]);
    }
    free(p->chunks);
    for (size_t c = 0; c <= MACULA__BLOCK_POOL_MAX_PAGES; c++) {
        free(p->cls[c].clean);
        free(p->cls[c].dirty);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static pthread_once_t shared_once = PTHREAD_ONCE_INIT;
static macula__block_pool *shared_pool;

/* A fork while another thread holds the shared pool's mutex would leave
 * the child's copy locked forever: hold it across fork, like malloc. */
static void fork_prepare(void) { pthread_mutex_lock(&shared_pool->mu); }
static void fork_release(void) { pthread_mutex_unlock(&shared_pool->mu); }

static void shared_init(void)
{
    shared_pool = macula__block_pool_new();
    if (shared_pool)
        (void)pthread_atfork(fork_prepare, fork_release, fork_release);
}

macula__block_pool *macula__block_pool_shared(void)
{
    pthread_once(&shared_once, shared_init);
    return shared_pool;
}

static pool_chunk *find_chunk(const macula__block_pool *p, uintptr_t a)
{
    uintptr_t base = a & ~(uintptr_t)(MACULA__BLOCK_POOL_CHUNK - 1);
    size_t lo = 0, hi = p->n_chunks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uintptr_t b = p->chunks[mid]->base;
        if (b == base)
            return p->chunks[mid];
        if (b < base)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* A chunk-aligned mapping: map twice the size, drop the unaligned ends. */
static void *map_aligned(void)
{
    size_t sz = MACULA__BLOCK_POOL_CHUNK;
    uint8_t *m = mmap(NULL, 2 * sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)m + sz - 1) & ~(uintptr_t)(sz - 1);
    size_t head = a - (uintptr_t)m;
    if (head)
        munmap(m, head);
    if (sz - head)
        munmap((uint8_t *)a + sz, sz - head);
    return (void *)a;
}

static pool_chunk *add_chunk(macula__block_pool *p, unsigned pages)
{
    if (p->n_chunks == p->cap_chunks) {
        size_t cap = p->cap_chunks ? 2 * p->cap_chunks : 16;
        pool_chunk **v = realloc(p->chunks, cap * sizeof *v);
        if (!v)
            return NULL;
        p->chunks = v;
        p->cap_chunks = cap;
    }
    pool_chunk *ch = calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->pages = pages;
    ch->nslots = MACULA__BLOCK_POOL_CHUNK / (pages * p->page);
    /* Room for every slot on either stack, so pushing never fails. */
    pool_class *cl = &p->cls[pages];
    size_t need = 0;
    for (size_t i = 0; i < p->n_chunks; i++)
        if (p->chunks[i]->pages == pages)
            need += p->chunks[i]->nslots;
    need += ch->nslots;
    if (need > cl->cap) {
        uintptr_t *v = realloc(cl->clean, need * sizeof *v);
        if (v)
            cl->clean = v;
        uintptr_t *d = v ? realloc(cl->dirty, need * sizeof *d) : NULL;
        if (d)
            cl->dirty = d;
        if (!v || !d) {
            free(ch);
            return NULL;
        }
        cl->cap = need;
    }
    ch->state = calloc(ch->nslots, 1);
    void *m = ch->state ? map_aligned() : NULL;
    if (!m) {
        free(ch->state);
        free(ch);
        return NULL;
    }
    ch->base = (uintptr_t)m;
    size_t at = p->n_chunks;
    while (at > 0 && p->chunks[at - 1]->base > ch->base) {
        p->chunks[at] = p->chunks[at - 1];
        at--;
    }
    p->chunks[at] = ch;
    p->n_chunks++;
    return ch;
}

static int cmp_addr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

enum discard_what { DISCARD_ALL, DISCARD_OLD, DISCARD_OLDER_HALF };

/* Discards the bottom (oldest) dirty slots of every class, as chosen by
 * what, one madvise per run of adjacent ones. */
static void discard_locked(macula__block_pool *p, enum discard_what what)
{
    size_t n = 0;
    for (unsigned c = 1; c <= MACULA__BLOCK_POOL_MAX_PAGES; c++) {
        pool_class *cl = &p->cls[c];
        size_t k = what == DISCARD_ALL ? cl->n_dirty : what == DISCARD_OLD ? cl->old : cl->n_dirty / 2;
        if (k > cl->n_dirty)
            k = cl->n_dirty;
        if (!k)
            continue;
        memcpy(p->scratch + n, cl->dirty, k * sizeof cl->dirty[0]);
        memmove(cl->dirty, cl->dirty + k, (cl->n_dirty - k) * sizeof cl->dirty[0]);
        cl->n_dirty -= k;
        cl->old = cl->old > k ? cl->old - k : 0;
        p->n_dirty -= k;
        n += k;
    }
    qsort(p->scratch, n, sizeof p->scratch[0], cmp_addr);
    size_t i = 0;
    while (i < n) {
        pool_chunk *ch = find_chunk(p, p->scratch[i]);
        size_t slot = ch->pages * p->page;
        uintptr_t start = p->scratch[i], end = start + slot;
        size_t j = i + 1;
        while (j < n && p->scratch[j] == end && end < ch->base + MACULA__BLOCK_POOL_CHUNK) {
            end += slot;
            j++;
        }
        p->discard_calls++;
        if (madvise((void *)start, end - start, MADV_DONTNEED) != 0)
            memset((void *)start, 0, end - start); /* clean means zero */
        pool_class *cl = &p->cls[ch->pages];
        for (size_t k = i; k < j; k++) {
            ch->state[(p->scratch[k] - ch->base) / slot] = SLOT_CLEAN;
            cl->clean[cl->n_clean++] = p->scratch[k];
        }
        i = j;
    }
}

/* One aging step: slots dirty since the previous step and not reused
 * are discarded; the rest become old. */
static void age_locked(macula__block_pool *p)
{
    discard_locked(p, DISCARD_OLD);
    for (unsigned c = 1; c <= MACULA__BLOCK_POOL_MAX_PAGES; c++)
        p->cls[c].old = p->cls[c].n_dirty;
}

/* Whether an aging step is due; claims it if so. */
static int age_due(macula__block_pool *p)
{
    uint64_t period = atomic_load_explicit(&p->age_ms, memory_order_relaxed);
    uint64_t now = now_ms(), last = atomic_load_explicit(&p->last_age_ms, memory_order_relaxed);
    return period && now - last >= period &&
           atomic_compare_exchange_strong(&p->last_age_ms, &last, now);
}

/* A free slot: a dirty one first (no page faults, no system call; its
 * previous owner was a block of the same size class, usually the same
 * kind of ngtcp2 object, so it rarely holds pages the new one would not
 * touch), then a clean one, then one never used. *zero tells whether
 * it reads as zeroes. */
static void *take_locked(macula__block_pool *p, unsigned pages, int *zero)
{
    pool_class *cl = &p->cls[pages];
    *zero = 1;
    if (cl->n_dirty) {
        uintptr_t a = cl->dirty[--cl->n_dirty];
        p->n_dirty--;
        if (cl->old > cl->n_dirty)
            cl->old = cl->n_dirty;
        pool_chunk *ch = find_chunk(p, a);
        ch->state[(a - ch->base) / (pages * p->page)] = SLOT_LIVE;
        *zero = 0;
        return (void *)a;
    }
    if (cl->n_clean) {
        uintptr_t a = cl->clean[--cl->n_clean];
        pool_chunk *ch = find_chunk(p, a);
        ch->state[(a - ch->base) / (pages * p->page)] = SLOT_LIVE;
        return (void *)a;
    }
    pool_chunk *ch = cl->bump_chunk;
    if (!ch || ch->bump == ch->nslots)
        return NULL;
    size_t s = ch->bump++;
    ch->state[s] = SLOT_LIVE;
    return (void *)(ch->base + s * pages * p->page);
}

void *macula__block_pool_alloc(macula__block_pool *p, size_t n, int zero)
{
    if (!p || n == 0 || n > MACULA__BLOCK_POOL_MAX_PAGES * p->page)
        return NULL;
    unsigned pages = (unsigned)((n + p->page - 1) / p->page);
    int is_zero = 1;
    int age = age_due(p);
    pthread_mutex_lock(&p->mu);
    if (age)
        age_locked(p);
    void *b = take_locked(p, pages, &is_zero);
    if (!b) {
        pool_chunk *ch = add_chunk(p, pages);
        if (ch) {
            p->cls[pages].bump_chunk = ch;
            b = take_locked(p, pages, &is_zero);
        }
    }
    if (b)
        p->live++;
    pthread_mutex_unlock(&p->mu);
    if (b && zero && !is_zero)
        memset(b, 0, n); /* outside the lock: it is ours now */
    return b;
}

int macula__block_pool_owns(macula__block_pool *p, const void *b)
{
    if (!p || !b)
        return 0;
    pthread_mutex_lock(&p->mu);
    int r = find_chunk(p, (uintptr_t)b) != NULL;
    pthread_mutex_unlock(&p->mu);
    return r;
}

size_t macula__block_pool_size(macula__block_pool *p, const void *b)
{
    if (!p || !b)
        return 0;
    pthread_mutex_lock(&p->mu);
    pool_chunk *ch = find_chunk(p, (uintptr_t)b);
    size_t n = ch ? ch->pages * p->page : 0;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int macula__block_pool_free(macula__block_pool *p, void *b)
{
    if (!p || !b)
        return 0;
    int age = age_due(p);
    pthread_mutex_lock(&p->mu);
    if (age)
        age_locked(p);
    pool_chunk *ch = find_chunk(p, (uintptr_t)b);
    if (ch) {
        size_t slot = ch->pages * p->page;
        size_t i = ((uintptr_t)b - ch->base) / slot;
        if ((uintptr_t)b == ch->base + i * slot && i < ch->nslots && ch->state[i] == SLOT_LIVE) {
            if (p->n_dirty == MACULA__BLOCK_POOL_DIRTY_MAX)
                discard_locked(p, DISCARD_OLDER_HALF);
            ch->state[i] = SLOT_DIRTY;
            pool_class *cl = &p->cls[ch->pages];
            cl->dirty[cl->n_dirty++] = (uintptr_t)b;
            p->n_dirty++;
            p->live--;
        } else {
            abort(); /* not a live block: a double free or a stray pointer */
        }
    }
    pthread_mutex_unlock(&p->mu);
    return ch != NULL;
}

void macula__block_pool_flush(macula__block_pool *p)
{
    pthread_mutex_lock(&p->mu);
    discard_locked(p, DISCARD_ALL);
    pthread_mutex_unlock(&p->mu);
}

void macula__block_pool_age(macula__block_pool *p)
{
    pthread_mutex_lock(&p->mu);
    age_locked(p);
    pthread_mutex_unlock(&p->mu);
}

void macula__block_pool_set_age_ms(macula__block_pool *p, unsigned ms)
{
    atomic_store(&p->last_age_ms, now_ms());
    atomic_store(&p->age_ms, ms);
}

void macula__block_pool_tick(macula__block_pool *p)
{
    if (p && age_due(p))
        macula__block_pool_age(p);
}

void macula__block_pool_get_stats(macula__block_pool *p, macula__block_pool_stats *out)
{
    pthread_mutex_lock(&p->mu);
    out->chunks = p->n_chunks;
    out->live = p->live;
    out->dirty = p->n_dirty;
    out->discard_calls = p->discard_calls;
    pthread_mutex_unlock(&p->mu);
}
