/* SPDX-License-Identifier: Apache-2.0 */
/* Binary min-heap of embedded timers (see timer_heap.h). */
#include <stdint.h>
#include <stdlib.h>

#include "runtime/timer_heap.h"

void macula__timer_heap_init(macula__timer_heap *h)
{
    h->items = NULL;
    h->len = 0;
    h->cap = 0;
}

void macula__timer_heap_free(macula__timer_heap *h)
{
    for (size_t i = 0; i < h->len; i++)
        h->items[i]->heap_index = SIZE_MAX;
    free(h->items);
    macula__timer_heap_init(h);
}

static void place(macula__timer_heap *h, size_t i, macula__timer *t)
{
    h->items[i] = t;
    t->heap_index = i;
}

static void sift_up(macula__timer_heap *h, size_t i)
{
    macula__timer *t = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->deadline <= t->deadline)
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(macula__timer_heap *h, size_t i)
{
    macula__timer *t = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && h->items[child + 1]->deadline < h->items[child]->deadline)
            child++;
        if (h->items[child]->deadline >= t->deadline)
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, t);
}

int macula__timer_heap_set(macula__timer_heap *h, macula__timer *t, uint64_t deadline)
{
    if (t->heap_index != SIZE_MAX) {
        uint64_t old = t->deadline;
        t->deadline = deadline;
        if (deadline < old)
            sift_up(h, t->heap_index);
        else if (deadline > old)
            sift_down(h, t->heap_index);
        return 0;
    }
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        macula__timer **items = realloc(h->items, cap * sizeof *items);
        if (!items)
            return MACULA_ERR_NOMEM;
        h->items = items;
        h->cap = cap;
    }
    t->deadline = deadline;
    place(h, h->len++, t);
    sift_up(h, h->len - 1);
    return 0;
}

void macula__timer_heap_remove(macula__timer_heap *h, macula__timer *t)
{
    size_t i = t->heap_index;
    if (i == SIZE_MAX || i >= h->len || h->items[i] != t)
        return;
    t->heap_index = SIZE_MAX;
    h->len--;
    if (i == h->len)
        return;
    macula__timer *last = h->items[h->len];
    place(h, i, last);
    if (i > 0 && h->items[(i - 1) / 2]->deadline > last->deadline)
        sift_up(h, i);
    else
        sift_down(h, i);
}

macula__timer *macula__timer_heap_top(const macula__timer_heap *h)
{
    return h->len ? h->items[0] : NULL;
}
