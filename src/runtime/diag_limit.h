/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the rate limit on diagnostics (runtime.h, "Diagnostics rate
 * limit"). One token bucket per diagnostic name: `burst` lines at once,
 * refilled at `rate` lines per second. A line beyond it is not delivered
 * but counted; the next line of that name that is delivered carries the
 * count in an extra field "suppressed".
 *
 * Why: a flood of hostile packets (fake Initials, stray datagrams) gives
 * one diagnostic each; unlimited, the hook (often a log write) costs more
 * than the packet and the log drowns.
 *
 * State and limits: at most MACULA__DIAG_NAMES names are tracked (names
 * are compared as strings); names beyond share one last bucket. Not
 * thread-safe: the runtime calls it under its diag lock.
 */
#ifndef MACULA_RUNTIME_DIAG_LIMIT_H
#define MACULA_RUNTIME_DIAG_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#define MACULA__DIAG_NAMES 64
#define MACULA__DIAG_NAME_MAX 48

typedef struct macula__diag_bucket {
    char name[MACULA__DIAG_NAME_MAX];
    double tokens;
    uint64_t last_ns;
    uint64_t suppressed;
} macula__diag_bucket;

typedef struct macula__diag_limit {
    double rate;  /* tokens per second; 0 = unlimited */
    double burst;
    size_t n;
    macula__diag_bucket buckets[MACULA__DIAG_NAMES];
    uint64_t suppressed_total;
} macula__diag_limit;

void macula__diag_limit_init(macula__diag_limit *d, uint32_t rate_per_sec, uint32_t burst);
/* 1: deliver the line (then *suppressed is how many of this name were
 * dropped since the last delivered one, and is reset); 0: drop it. */
int macula__diag_limit_take(macula__diag_limit *d, const char *name, uint64_t now_ns, uint64_t *suppressed);

#endif
