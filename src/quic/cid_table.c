/* SPDX-License-Identifier: Apache-2.0 */
/* Connection-id hash table (see cid_table.h). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "macula/common.h"
#include "quic/cid_table.h"

static size_t hash(const macula__cid_table *t, const uint8_t *cid, size_t len)
{
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, cid, len, t->key);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return (size_t)h;
}

int macula__cid_table_init(macula__cid_table *t)
{
    t->cap = 64;
    t->len = 0;
    t->slots = calloc(t->cap, sizeof *t->slots);
    if (!t->slots)
        return MACULA_ERR_NOMEM;
    randombytes_buf(t->key, sizeof t->key);
    return 0;
}

void macula__cid_table_free(macula__cid_table *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->len = 0;
}

static macula__cid_entry *find(const macula__cid_table *t, const uint8_t *cid, size_t len)
{
    size_t mask = t->cap - 1;
    for (size_t i = hash(t, cid, len) & mask;; i = (i + 1) & mask) {
        macula__cid_entry *e = &t->slots[i];
        if (!e->value)
            return e;
        if (e->len == len && memcmp(e->cid, cid, len) == 0)
            return e;
    }
}

static int grow(macula__cid_table *t)
{
    macula__cid_table bigger = *t;
    bigger.cap = t->cap * 2;
    bigger.len = 0;
    bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
    if (!bigger.slots)
        return MACULA_ERR_NOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        macula__cid_entry *e = &t->slots[i];
        if (e->value) {
            *find(&bigger, e->cid, e->len) = *e;
            bigger.len++;
        }
    }
    free(t->slots);
    *t = bigger;
    return 0;
}

int macula__cid_table_put(macula__cid_table *t, const uint8_t *cid, size_t len, void *value)
{
    if (len == 0 || len > MACULA__CID_MAX || !value)
        return MACULA_ERR_INVALID_ARG;
    if ((t->len + 1) * 2 > t->cap) {
        int rc = grow(t);
        if (rc != 0)
            return rc;
    }
    macula__cid_entry *e = find(t, cid, len);
    if (!e->value) {
        e->len = (uint8_t)len;
        memcpy(e->cid, cid, len);
        t->len++;
    }
    e->value = value;
    return 0;
}

void *macula__cid_table_get(const macula__cid_table *t, const uint8_t *cid, size_t len)
{
    if (len == 0 || len > MACULA__CID_MAX)
        return NULL;
    return find(t, cid, len)->value;
}

void macula__cid_table_del(macula__cid_table *t, const uint8_t *cid, size_t len, const void *value)
{
    if (len == 0 || len > MACULA__CID_MAX)
        return;
    macula__cid_entry *e = find(t, cid, len);
    if (!e->value || (value && e->value != value))
        return;
    /* Backward-shift deletion keeps probe chains intact without tombstones. */
    size_t mask = t->cap - 1;
    size_t hole = (size_t)(e - t->slots);
    for (size_t i = (hole + 1) & mask; t->slots[i].value; i = (i + 1) & mask) {
        size_t home = hash(t, t->slots[i].cid, t->slots[i].len) & mask;
        /* Move entry i into the hole unless its home lies cyclically in (hole, i]. */
        int stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!stays) {
            t->slots[hole] = t->slots[i];
            hole = i;
        }
    }
    memset(&t->slots[hole], 0, sizeof t->slots[hole]);
    t->len--;
}
