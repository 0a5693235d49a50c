/* SPDX-License-Identifier: Apache-2.0 */
/* Reference-counted wire buffers (wirebuf.h). */
#include <stdlib.h>
#include <string.h>

#include "peering/wirebuf.h"

macula__wirebuf *macula__wirebuf_new(const uint8_t *data, size_t len)
{
    macula__wirebuf *b = malloc(sizeof *b + len);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->len = len;
    if (len)
        memcpy(b->data, data, len);
    return b;
}

macula__wirebuf *macula__wirebuf_ref(macula__wirebuf *b)
{
    if (b)
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void macula__wirebuf_unref(macula__wirebuf *b)
{
    /* acq_rel: the last holder must see every other holder's reads done */
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}
