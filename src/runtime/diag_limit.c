/* SPDX-License-Identifier: Apache-2.0 */
/* Per-name token buckets for diagnostics (see diag_limit.h). */
#include "runtime/diag_limit.h"

#include <string.h>

void macula__diag_limit_init(macula__diag_limit *d, uint32_t rate_per_sec, uint32_t burst)
{
    memset(d, 0, sizeof *d);
    d->rate = rate_per_sec;
    d->burst = burst ? burst : 1;
}

static macula__diag_bucket *bucket(macula__diag_limit *d, const char *name, uint64_t now_ns)
{
    for (size_t i = 0; i < d->n; i++) {
        if (!strncmp(d->buckets[i].name, name, MACULA__DIAG_NAME_MAX - 1))
            return &d->buckets[i];
    }
    /* The last bucket is shared by every name beyond the table. */
    macula__diag_bucket *b = &d->buckets[d->n < MACULA__DIAG_NAMES ? d->n : MACULA__DIAG_NAMES - 1];
    if (d->n < MACULA__DIAG_NAMES) {
        d->n++;
        strncpy(b->name, d->n == MACULA__DIAG_NAMES ? "" : name, MACULA__DIAG_NAME_MAX - 1);
        b->tokens = d->burst;
        b->last_ns = now_ns;
    }
    return b;
}

int macula__diag_limit_take(macula__diag_limit *d, const char *name, uint64_t now_ns, uint64_t *suppressed)
{
    *suppressed = 0;
    if (d->rate <= 0)
        return 1;
    macula__diag_bucket *b = bucket(d, name ? name : "", now_ns);
    if (now_ns > b->last_ns) {
        b->tokens += (double)(now_ns - b->last_ns) * d->rate / 1e9;
        if (b->tokens > d->burst)
            b->tokens = d->burst;
    }
    b->last_ns = now_ns;
    if (b->tokens < 1.0) {
        b->suppressed++;
        d->suppressed_total++;
        return 0;
    }
    b->tokens -= 1.0;
    *suppressed = b->suppressed;
    b->suppressed = 0;
    return 1;
}
