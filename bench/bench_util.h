/* SPDX-License-Identifier: Apache-2.0 */
/* Timing helpers shared by the benchmark programs: the median over
 * batches of the per-operation time, in microseconds. Time is the CPU
 * time of the calling thread, so that on a machine shared with other jobs
 * the time they take from the benchmark while it is descheduled does not
 * count (cache and memory-bus contention still does). */
#ifndef MACULA_BENCH_UTIL_H
#define MACULA_BENCH_UTIL_H

#include <stdlib.h>
#include <time.h>

#define BENCH_BATCHES 51

static inline double bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs op(ctx) `per_batch` times per batch after a warm-up batch and
 * returns the median time of one call in microseconds. */
static inline double bench_median_us(void (*op)(void *), void *ctx, int per_batch)
{
    double t[BENCH_BATCHES];
    for (int i = 0; i < per_batch; i++)
        op(ctx);
    for (int b = 0; b < BENCH_BATCHES; b++) {
        double start = bench_now_us();
        for (int i = 0; i < per_batch; i++)
            op(ctx);
        t[b] = (bench_now_us() - start) / per_batch;
    }
    qsort(t, BENCH_BATCHES, sizeof t[0], bench_cmp_double);
    return t[BENCH_BATCHES / 2];
}

/* Alternates batches of `op` and of `base` (so that load from elsewhere
 * hits both alike) and gives their medians and the median of the per-pair
 * ratios op/base. */
static inline void bench_pair(void (*op)(void *), void (*base)(void *), void *ctx, int per_batch, double *op_us,
                              double *base_us, double *ratio)
{
    double t[BENCH_BATCHES], u[BENCH_BATCHES], r[BENCH_BATCHES];
    for (int i = 0; i < per_batch; i++) {
        op(ctx);
        base(ctx);
    }
    for (int b = 0; b < BENCH_BATCHES; b++) {
        double start = bench_now_us();
        for (int i = 0; i < per_batch; i++)
            op(ctx);
        double mid = bench_now_us();
        for (int i = 0; i < per_batch; i++)
            base(ctx);
        double end = bench_now_us();
        t[b] = (mid - start) / per_batch;
        u[b] = (end - mid) / per_batch;
        r[b] = t[b] / u[b];
    }
    qsort(t, BENCH_BATCHES, sizeof t[0], bench_cmp_double);
    qsort(u, BENCH_BATCHES, sizeof u[0], bench_cmp_double);
    qsort(r, BENCH_BATCHES, sizeof r[0], bench_cmp_double);
    *op_us = t[BENCH_BATCHES / 2];
    *base_us = u[BENCH_BATCHES / 2];
    *ratio = r[BENCH_BATCHES / 2];
}

#endif
