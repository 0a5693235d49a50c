/* SPDX-License-Identifier: Apache-2.0 */
/* Canonical CBOR encoder (RFC 8949 §4.2.1): shortest heads, definite
 * lengths, map entries in the bytewise order of their encoded keys,
 * floats always as binary64. Sizes are computed first so that the output
 * is written once into a buffer of the exact size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/cbor.h"

size_t macula__cbor_head_size(uint64_t v)
{
    if (v < 24)
        return 1;
    if (v <= 0xff)
        return 2;
    if (v <= 0xffff)
        return 3;
    if (v <= 0xffffffffu)
        return 5;
    return 9;
}

size_t macula__cbor_write_head(uint8_t *p, unsigned major, uint64_t v)
{
    uint8_t m = (uint8_t)(major << 5);
    if (v < 24) {
        p[0] = (uint8_t)(m | v);
        return 1;
    }
    size_t n;
    if (v <= 0xff) {
        p[0] = m | 24;
        n = 1;
    } else if (v <= 0xffff) {
        p[0] = m | 25;
        n = 2;
    } else if (v <= 0xffffffffu) {
        p[0] = m | 26;
        n = 4;
    } else {
        p[0] = m | 27;
        n = 8;
    }
    for (size_t i = 0; i < n; i++)
        p[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return n + 1;
}

/*
 * Keys are text or integers (cbor.h), whose encodings are a head followed
 * by content. With shortest heads, the head order within one major type is
 * the order of the arguments (a longer head starts with a larger byte), so
 * comparing (major type, argument, content) gives the bytewise order of
 * the encodings without producing them.
 */
int macula__cbor_key_cmp(const macula_value *a, const macula_value *b)
{
    if (a->kind != b->kind)
        return (int)a->kind < (int)b->kind ? -1 : 1; /* kind == major type for key kinds */
    if (a->kind == MACULA_KIND_TEXT) {
        if (a->as.str.len != b->as.str.len)
            return a->as.str.len < b->as.str.len ? -1 : 1;
        return memcmp(a->as.str.data, b->as.str.data, a->as.str.len);
    }
    return a->as.u < b->as.u ? -1 : a->as.u > b->as.u;
}

struct entry {
    const macula_value *key, *val;
};

static int entry_cmp(const void *x, const void *y)
{
    return macula__cbor_key_cmp(((const struct entry *)x)->key, ((const struct entry *)y)->key);
}

#define SMALL_MAP 32 /* entries sorted in a stack buffer */

/* Top-level keys left out of an encoding (see macula__cbor_size_skip). */
struct skip {
    const char *const *keys;
    size_t n;
};

static bool skipped(const macula_value *key, const struct skip *skip)
{
    for (size_t i = 0; skip && i < skip->n; i++)
        if (macula__cbor_key_is(key, skip->keys[i], strlen(skip->keys[i])))
            return true;
    return false;
}

/* The entries of `map` (without `skip`) in canonical order, in `buf` or a
 * malloc'd array (*heap set). */
static struct entry *sorted_entries(const macula_value *map, const struct skip *skip, struct entry *buf,
                                    struct entry **heap, size_t *count)
{
    size_t n = map->as.c.count;
    struct entry *e = buf;
    *heap = NULL;
    if (n > SMALL_MAP) {
        e = malloc(n * sizeof *e);
        if (!e)
            return NULL;
        *heap = e;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const macula_value *key = map->as.c.items[2 * i];
        if (skipped(key, skip))
            continue;
        e[k].key = key;
        e[k].val = map->as.c.items[2 * i + 1];
        k++;
    }
    if (k <= SMALL_MAP) {
        /* insertion sort: frames are small and often already in order */
        for (size_t i = 1; i < k; i++) {
            struct entry t = e[i];
            size_t j = i;
            while (j > 0 && macula__cbor_key_cmp(e[j - 1].key, t.key) > 0) {
                e[j] = e[j - 1];
                j--;
            }
            e[j] = t;
        }
    } else {
        qsort(e, k, sizeof *e, entry_cmp);
    }
    *count = k;
    return e;
}

static int size_of(const macula_value *v, unsigned depth, const struct skip *skip, size_t *acc)
{
    switch (v->kind) {
    case MACULA_KIND_UINT:
    case MACULA_KIND_NINT:
        *acc += macula__cbor_head_size(v->as.u);
        return MACULA_OK;
    case MACULA_KIND_BYTES:
    case MACULA_KIND_TEXT:
        *acc += macula__cbor_head_size(v->as.str.len) + v->as.str.len;
        return MACULA_OK;
    case MACULA_KIND_NULL:
        *acc += 1;
        return MACULA_OK;
    case MACULA_KIND_FLOAT:
        if (!isfinite(v->as.f))
            return MACULA_ERR_CBOR_TYPE; /* the reference refuses Infinity and NaN */
        *acc += 9;
        return MACULA_OK;
    case MACULA_KIND_ARRAY:
    case MACULA_KIND_MAP: {
        if (depth >= MACULA_CBOR_MAX_DEPTH)
            return MACULA_ERR_CBOR_DEPTH;
        size_t n = v->as.c.count, slots = v->kind == MACULA_KIND_MAP ? 2 * n : n;
        for (size_t i = 0; i < slots; i += (v->kind == MACULA_KIND_MAP ? 2 : 1)) {
            if (v->kind == MACULA_KIND_MAP && skipped(v->as.c.items[i], skip)) {
                n--;
                continue;
            }
            int rc = size_of(v->as.c.items[i], depth + 1, NULL, acc);
            if (rc == MACULA_OK && v->kind == MACULA_KIND_MAP)
                rc = size_of(v->as.c.items[i + 1], depth + 1, NULL, acc);
            if (rc)
                return rc;
        }
        *acc += macula__cbor_head_size(n);
        return MACULA_OK;
    }
    }
    return MACULA_ERR_INTERNAL;
}

int macula__cbor_size_skip(const macula_value *v, const char *const *skip, size_t n_skip, size_t *size)
{
    if (!v || !size)
        return MACULA_ERR_INVALID_ARG;
    *size = 0;
    struct skip s = {skip, skip ? n_skip : 0};
    return size_of(v, 0, &s, size);
}

static int write_value(const macula_value *v, const struct skip *skip, uint8_t **pp)
{
    uint8_t *p = *pp;
    switch (v->kind) {
    case MACULA_KIND_UINT:
        p += macula__cbor_write_head(p, CBOR_MAJOR_UINT, v->as.u);
        break;
    case MACULA_KIND_NINT:
        p += macula__cbor_write_head(p, CBOR_MAJOR_NINT, v->as.u);
        break;
    case MACULA_KIND_BYTES:
    case MACULA_KIND_TEXT:
        p += macula__cbor_write_head(p, v->kind == MACULA_KIND_TEXT ? CBOR_MAJOR_TEXT : CBOR_MAJOR_BYTES,
                                     v->as.str.len);
        if (v->as.str.len)
            memcpy(p, v->as.str.data, v->as.str.len);
        p += v->as.str.len;
        break;
    case MACULA_KIND_NULL:
        *p++ = CBOR_NULL_BYTE;
        break;
    case MACULA_KIND_FLOAT: {
        uint64_t bits;
        memcpy(&bits, &v->as.f, 8);
        *p++ = CBOR_FLOAT64_BYTE;
        for (int i = 7; i >= 0; i--)
            *p++ = (uint8_t)(bits >> (8 * i));
        break;
    }
    case MACULA_KIND_ARRAY:
        p += macula__cbor_write_head(p, CBOR_MAJOR_ARRAY, v->as.c.count);
        for (size_t i = 0; i < v->as.c.count; i++) {
            int rc = write_value(v->as.c.items[i], NULL, &p);
            if (rc)
                return rc;
        }
        break;
    case MACULA_KIND_MAP: {
        struct entry buf[SMALL_MAP], *heap;
        size_t n;
        struct entry *e = sorted_entries(v, skip, buf, &heap, &n);
        if (!e)
            return MACULA_ERR_NOMEM;
        p += macula__cbor_write_head(p, CBOR_MAJOR_MAP, n);
        int rc = MACULA_OK;
        for (size_t i = 0; i < n && rc == MACULA_OK; i++) {
            rc = write_value(e[i].key, NULL, &p);
            if (rc == MACULA_OK)
                rc = write_value(e[i].val, NULL, &p);
        }
        free(heap);
        if (rc)
            return rc;
        break;
    }
    }
    *pp = p;
    return MACULA_OK;
}

int macula__cbor_encode_skip(const macula_value *v, const char *const *skip, size_t n_skip, uint8_t *out,
                             size_t size)
{
    uint8_t *p = out;
    struct skip s = {skip, skip ? n_skip : 0};
    int rc = write_value(v, &s, &p);
    if (rc)
        return rc;
    return (size_t)(p - out) == size ? MACULA_OK : MACULA_ERR_INTERNAL;
}

size_t macula_cbor_encoded_size(const macula_value *v)
{
    size_t size;
    return macula__cbor_size_skip(v, NULL, 0, &size) == MACULA_OK ? size : 0;
}

int macula_cbor_encode(const macula_value *v, uint8_t **out, size_t *out_len)
{
    if (!v || !out || !out_len)
        return MACULA_ERR_INVALID_ARG;
    size_t size;
    int rc = macula__cbor_size_skip(v, NULL, 0, &size);
    if (rc)
        return rc;
    uint8_t *buf = malloc(size);
    if (!buf)
        return MACULA_ERR_NOMEM;
    rc = macula__cbor_encode_skip(v, NULL, 0, buf, size);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = size;
    return MACULA_OK;
}
