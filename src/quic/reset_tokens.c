/* SPDX-License-Identifier: Apache-2.0 */
/* The table of peers' stateless reset tokens (see reset_tokens.h). */
#include "quic/reset_tokens.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "macula/common.h"

#define RTOK_MIN_CAP 16

void macula__rtok_init(macula__rtok_table *t, size_t max_entries)
{
    memset(t, 0, sizeof *t);
    t->max_entries = max_entries ? max_entries : 1;
    randombytes_buf(t->key, sizeof t->key);
}

void macula__rtok_free(macula__rtok_table *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->len = 0;
}

static size_t slot_of(const macula__rtok_table *t, const uint8_t *token)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, token, MACULA__RTOK_LEN, t->key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (size_t)v & (t->cap - 1);
}

static int grow(macula__rtok_table *t)
{
    size_t ncap = t->cap ? t->cap * 2 : RTOK_MIN_CAP;
    macula__rtok_entry *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return MACULA_ERR_NOMEM;
    macula__rtok_entry *old = t->slots;
    size_t ocap = t->cap;
    t->slots = ns;
    t->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].value)
            continue;
        size_t j = slot_of(t, old[i].token);
        while (t->slots[j].value)
            j = (j + 1) & (t->cap - 1);
        t->slots[j] = old[i];
    }
    free(old);
    return 0;
}

/* The slot holding `token`, or the empty slot ending its probe run. */
static size_t find(macula__rtok_table *t, const uint8_t *token)
{
    size_t i = slot_of(t, token);
    while (t->slots[i].value) {
        t->compares++;
        if (sodium_memcmp(t->slots[i].token, token, MACULA__RTOK_LEN) == 0)
            return i;
        i = (i + 1) & (t->cap - 1);
    }
    return i;
}

int macula__rtok_put(macula__rtok_table *t, const uint8_t token[MACULA__RTOK_LEN], void *value)
{
    if (!value)
        return MACULA_ERR_INVALID_ARG;
    if (t->cap) {
        size_t i = find(t, token);
        if (t->slots[i].value) {
            t->slots[i].value = value;
            return 0;
        }
    }
    if (t->len >= t->max_entries)
        return MACULA_ERR_LIMIT;
    /* Load factor at most 1/2: probe runs stay short. */
    if ((t->len + 1) * 2 > t->cap) {
        int rc = grow(t);
        if (rc != 0)
            return rc;
    }
    size_t i = find(t, token);
    memcpy(t->slots[i].token, token, MACULA__RTOK_LEN);
    t->slots[i].value = value;
    t->len++;
    return 0;
}

void *macula__rtok_get(macula__rtok_table *t, const uint8_t token[MACULA__RTOK_LEN])
{
    t->lookups++;
    if (!t->len)
        return NULL;
    size_t i = find(t, token);
    if (t->slots[i].value)
        t->hits++;
    return t->slots[i].value;
}

void macula__rtok_del(macula__rtok_table *t, const uint8_t token[MACULA__RTOK_LEN], const void *value)
{
    if (!t->len)
        return;
    size_t i = find(t, token);
    if (!t->slots[i].value || t->slots[i].value != value)
        return;
    /* Backward-shift deletion: keeps every probe run unbroken. */
    size_t mask = t->cap - 1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->slots[j].value)
            break;
        size_t home = slot_of(t, t->slots[j].token);
        /* Move j into the hole at i unless its home lies in (i, j]. */
        int between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].value = NULL;
    sodium_memzero(t->slots[i].token, MACULA__RTOK_LEN);
    t->len--;
}

void macula__rtok_conn_clear(macula__rtok_table *t, macula__rtok_conn *own, void *value)
{
    for (size_t i = 0; i < own->n; i++)
        macula__rtok_del(t, own->tokens[i], value);
    own->n = 0;
}

size_t macula__rtok_conn_set(macula__rtok_table *t, macula__rtok_conn *own, void *value,
                             const uint8_t (*tokens)[MACULA__RTOK_LEN], size_t n)
{
    macula__rtok_conn_clear(t, own, value);
    if (n > MACULA__RTOK_PER_CONN)
        n = MACULA__RTOK_PER_CONN;
    for (size_t i = 0; i < n; i++) {
        if (macula__rtok_put(t, tokens[i], value) == 0)
            memcpy(own->tokens[own->n++], tokens[i], MACULA__RTOK_LEN);
    }
    return own->n;
}
