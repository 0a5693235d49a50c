/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: a binary min-heap of embedded timers ordered by deadline. Each
 * timer records its own index so cancel and re-arm are O(log n) without a
 * search. The heap stores pointers only; timers live in their owners.
 */
#ifndef MACULA_RUNTIME_TIMER_HEAP_H
#define MACULA_RUNTIME_TIMER_HEAP_H

#include "runtime/loop.h"

typedef struct macula__timer_heap {
    macula__timer **items;
    size_t len;
    size_t cap;
} macula__timer_heap;

void macula__timer_heap_init(macula__timer_heap *h);
void macula__timer_heap_free(macula__timer_heap *h);
/* Inserts `t` or moves it to its new deadline. 0 or MACULA_ERR_NOMEM. */
int macula__timer_heap_set(macula__timer_heap *h, macula__timer *t, uint64_t deadline);
void macula__timer_heap_remove(macula__timer_heap *h, macula__timer *t);
/* The earliest timer, or NULL. */
macula__timer *macula__timer_heap_top(const macula__timer_heap *h);

#endif
