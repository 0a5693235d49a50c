/* SPDX-License-Identifier: Apache-2.0 */
/* The CBOR value tree: constructors, containers, readers, equality. */
#include <stdlib.h>
#include <string.h>

#include "codec/cbor.h"

static macula_value *node_new(macula_kind kind)
{
    macula_value *v = calloc(1, sizeof *v);
    if (v)
        v->kind = kind;
    return v;
}

/* Byte and text strings: node and content in one allocation. */
static macula_value *string_new(macula_kind kind, const void *data, size_t len)
{
    if (len > SIZE_MAX - sizeof(macula_value) - 1 || (!data && len))
        return NULL;
    macula_value *v = malloc(sizeof *v + len + 1);
    if (!v)
        return NULL;
    v->kind = kind;
    v->storage = MACULA__VALUE_HEAP;
    v->items_in_block = false;
    v->as.str.len = len;
    v->as.str.data = v->inline_data;
    if (len)
        memcpy(v->inline_data, data, len);
    v->inline_data[len] = 0;
    return v;
}

macula_value *macula_value_uint(uint64_t v)
{
    macula_value *n = node_new(MACULA_KIND_UINT);
    if (n)
        n->as.u = v;
    return n;
}

macula_value *macula_value_int(int64_t v)
{
    if (v >= 0)
        return macula_value_uint((uint64_t)v);
    macula_value *n = node_new(MACULA_KIND_NINT);
    if (n)
        n->as.u = (uint64_t)(-(v + 1)); /* CBOR argument of -1 - n; no overflow at INT64_MIN */
    return n;
}

macula_value *macula_value_nint_arg(uint64_t n)
{
    macula_value *v = node_new(MACULA_KIND_NINT);
    if (v)
        v->as.u = n;
    return v;
}

macula_value *macula_value_float(double v)
{
    macula_value *n = node_new(MACULA_KIND_FLOAT);
    if (n)
        n->as.f = v;
    return n;
}

macula_value *macula_value_bytes(const void *data, size_t len) { return string_new(MACULA_KIND_BYTES, data, len); }
macula_value *macula_value_text(const char *s, size_t len) { return string_new(MACULA_KIND_TEXT, s, len); }

macula_value *macula_value_text_cstr(const char *s)
{
    return s ? string_new(MACULA_KIND_TEXT, s, strlen(s)) : NULL;
}

macula_value *macula_value_bool(int b) { return macula_value_text_cstr(b ? "true" : "false"); }
macula_value *macula_value_null(void) { return node_new(MACULA_KIND_NULL); }
macula_value *macula__cbor_null(void)
{
    static macula_value shared_null = {.kind = MACULA_KIND_NULL, .storage = MACULA__VALUE_STATIC};
    return &shared_null;
}

macula_value *macula_value_array(void) { return node_new(MACULA_KIND_ARRAY); }
macula_value *macula_value_map(void) { return node_new(MACULA_KIND_MAP); }

static bool is_container(const macula_value *v)
{
    return v->kind == MACULA_KIND_ARRAY || v->kind == MACULA_KIND_MAP;
}

static size_t slots(const macula_value *v)
{
    return v->kind == MACULA_KIND_MAP ? 2 * v->as.c.count : v->as.c.count;
}

/* Whether freeing `v` releases anything: static nodes and the scalars of
 * a decoded block hold nothing of their own (skipping them keeps freeing a
 * decoded frame to a glance at each of its values). */
static bool holds_memory(const macula_value *v)
{
    return v->storage != MACULA__VALUE_STATIC && (v->storage != MACULA__VALUE_IN_BLOCK || is_container(v));
}

void macula_value_free(macula_value *v)
{
    if (!v || v->storage == MACULA__VALUE_STATIC)
        return;
    if (is_container(v)) {
        size_t n = slots(v);
        for (size_t i = 0; i < n; i++)
            if (holds_memory(v->as.c.items[i]))
                macula_value_free(v->as.c.items[i]);
        if (!v->items_in_block)
            free(v->as.c.items);
    }
    if (v->storage != MACULA__VALUE_IN_BLOCK)
        free(v); /* a BLOCK node: the whole decoded block */
}

macula_value *macula_value_clone(const macula_value *v)
{
    if (!v)
        return NULL;
    switch (v->kind) {
    case MACULA_KIND_BYTES:
    case MACULA_KIND_TEXT:
        return string_new(v->kind, v->as.str.data, v->as.str.len);
    case MACULA_KIND_ARRAY:
    case MACULA_KIND_MAP: {
        macula_value *c = node_new(v->kind);
        size_t n = slots(v);
        if (!c || n == 0)
            return c;
        c->as.c.items = malloc(n * sizeof *c->as.c.items);
        if (!c->as.c.items) {
            free(c);
            return NULL;
        }
        c->as.c.cap = n;
        for (size_t i = 0; i < n; i++) {
            c->as.c.items[i] = macula_value_clone(v->as.c.items[i]);
            if (!c->as.c.items[i]) {
                c->as.c.count = v->kind == MACULA_KIND_MAP ? i / 2 : i;
                /* a half-built map entry: free the orphan key */
                if (v->kind == MACULA_KIND_MAP && i % 2)
                    macula_value_free(c->as.c.items[i - 1]);
                macula_value_free(c);
                return NULL;
            }
        }
        c->as.c.count = v->as.c.count;
        return c;
    }
    default: {
        macula_value *c = node_new(v->kind);
        if (c)
            c->as = v->as;
        return c;
    }
    }
}

/* Room for `extra` more slots in a container's item array. */
static int reserve(macula_value *c, size_t extra)
{
    size_t used = slots(c);
    if (c->as.c.cap - used >= extra)
        return MACULA_OK;
    size_t cap = c->as.c.cap ? c->as.c.cap : 8;
    while (cap - used < extra) {
        if (cap > SIZE_MAX / 2 / sizeof(macula_value *))
            return MACULA_ERR_NOMEM;
        cap *= 2;
    }
    macula_value **items;
    if (c->items_in_block) { /* a decoded block's array cannot grow in place */
        items = malloc(cap * sizeof *items);
        if (items)
            memcpy(items, c->as.c.items, used * sizeof *items);
    } else {
        items = realloc(c->as.c.items, cap * sizeof *items);
    }
    if (!items)
        return MACULA_ERR_NOMEM;
    c->as.c.items = items;
    c->items_in_block = false;
    c->as.c.cap = cap;
    return MACULA_OK;
}

int macula__cbor_map_reserve(macula_value *map, size_t entries)
{
    if (entries > SIZE_MAX / 4)
        return MACULA_ERR_NOMEM;
    return reserve(map, 2 * entries);
}

int macula_value_array_append(macula_value *array, macula_value *item)
{
    if (!array || !item || array->kind != MACULA_KIND_ARRAY || array == item) {
        if (item != array)
            macula_value_free(item);
        return MACULA_ERR_INVALID_ARG;
    }
    int rc = reserve(array, 1);
    if (rc) {
        macula_value_free(item);
        return rc;
    }
    array->as.c.items[array->as.c.count++] = item;
    return MACULA_OK;
}

int macula__cbor_map_append(macula_value *map, macula_value *key, macula_value *val)
{
    int rc = reserve(map, 2);
    if (rc) {
        macula_value_free(key);
        macula_value_free(val);
        return rc;
    }
    map->as.c.items[2 * map->as.c.count] = key;
    map->as.c.items[2 * map->as.c.count + 1] = val;
    map->as.c.count++;
    return MACULA_OK;
}

int macula_value_map_put(macula_value *map, macula_value *key, macula_value *val)
{
    if (!map || map->kind != MACULA_KIND_MAP || !key || !val || key == map || val == map || key == val) {
        if (key != map)
            macula_value_free(key);
        if (val != map && val != key)
            macula_value_free(val);
        return MACULA_ERR_INVALID_ARG;
    }
    if (!macula__cbor_key_kind_ok(key->kind)) {
        macula_value_free(key);
        macula_value_free(val);
        return MACULA_ERR_CBOR_TYPE;
    }
    for (size_t i = 0; i < map->as.c.count; i++) {
        if (macula__cbor_key_cmp(map->as.c.items[2 * i], key) == 0) {
            macula_value_free(key);
            macula_value_free(map->as.c.items[2 * i + 1]);
            map->as.c.items[2 * i + 1] = val;
            return MACULA_OK;
        }
    }
    return macula__cbor_map_append(map, key, val);
}

int macula_value_map_put_cstr(macula_value *map, const char *text_key, macula_value *val)
{
    if (!text_key) {
        macula_value_free(val);
        return MACULA_ERR_INVALID_ARG;
    }
    macula_value *key = macula_value_text_cstr(text_key);
    if (!key) {
        macula_value_free(val);
        return MACULA_ERR_NOMEM;
    }
    return macula_value_map_put(map, key, val);
}

bool macula__cbor_key_is(const macula_value *key, const char *s, size_t len)
{
    return key->kind == MACULA_KIND_TEXT && key->as.str.len == len && memcmp(key->as.str.data, s, len) == 0;
}

long macula__cbor_map_find(const macula_value *map, const char *s, size_t len)
{
    if (!map || map->kind != MACULA_KIND_MAP || !s)
        return -1;
    for (size_t i = 0; i < map->as.c.count; i++)
        if (macula__cbor_key_is(map->as.c.items[2 * i], s, len))
            return (long)i;
    return -1;
}

int macula_value_map_remove_cstr(macula_value *map, const char *text_key)
{
    long i = macula__cbor_map_find(map, text_key, text_key ? strlen(text_key) : 0);
    if (i < 0)
        return MACULA_ERR_NOT_FOUND;
    macula_value **items = map->as.c.items;
    macula_value_free(items[2 * i]);
    macula_value_free(items[2 * i + 1]);
    /* keep the stored order of the remaining entries */
    memmove(&items[2 * i], &items[2 * i + 2], (2 * (map->as.c.count - (size_t)i) - 2) * sizeof *items);
    map->as.c.count--;
    return MACULA_OK;
}

macula_kind macula_value_kind(const macula_value *v) { return v ? v->kind : MACULA_KIND_NULL; }

int macula_value_get_uint(const macula_value *v, uint64_t *out)
{
    if (!v || v->kind != MACULA_KIND_UINT || !out)
        return MACULA_ERR_CBOR_TYPE;
    *out = v->as.u;
    return MACULA_OK;
}

int macula_value_get_int(const macula_value *v, int64_t *out)
{
    if (!v || !out)
        return MACULA_ERR_CBOR_TYPE;
    if (v->kind == MACULA_KIND_UINT && v->as.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v->as.u;
        return MACULA_OK;
    }
    if (v->kind == MACULA_KIND_NINT && v->as.u <= (uint64_t)INT64_MAX) {
        *out = -1 - (int64_t)v->as.u;
        return MACULA_OK;
    }
    return MACULA_ERR_CBOR_TYPE;
}

int macula_value_get_nint_arg(const macula_value *v, uint64_t *n)
{
    if (!v || v->kind != MACULA_KIND_NINT || !n)
        return MACULA_ERR_CBOR_TYPE;
    *n = v->as.u;
    return MACULA_OK;
}

int macula_value_get_float(const macula_value *v, double *out)
{
    if (!v || v->kind != MACULA_KIND_FLOAT || !out)
        return MACULA_ERR_CBOR_TYPE;
    *out = v->as.f;
    return MACULA_OK;
}

int macula_value_get_bytes(const macula_value *v, const uint8_t **data, size_t *len)
{
    if (!v || (v->kind != MACULA_KIND_BYTES && v->kind != MACULA_KIND_TEXT))
        return MACULA_ERR_CBOR_TYPE;
    if (data)
        *data = v->as.str.data;
    if (len)
        *len = v->as.str.len;
    return MACULA_OK;
}

int macula_value_get_text(const macula_value *v, const char **s, size_t *len)
{
    if (!v || v->kind != MACULA_KIND_TEXT)
        return MACULA_ERR_CBOR_TYPE;
    if (s)
        *s = (const char *)v->as.str.data;
    if (len)
        *len = v->as.str.len;
    return MACULA_OK;
}

size_t macula_value_count(const macula_value *v) { return v && is_container(v) ? v->as.c.count : 0; }

const macula_value *macula_value_array_at(const macula_value *array, size_t i)
{
    if (!array || array->kind != MACULA_KIND_ARRAY || i >= array->as.c.count)
        return NULL;
    return array->as.c.items[i];
}

const macula_value *macula_value_map_key_at(const macula_value *map, size_t i)
{
    if (!map || map->kind != MACULA_KIND_MAP || i >= map->as.c.count)
        return NULL;
    return map->as.c.items[2 * i];
}

const macula_value *macula_value_map_value_at(const macula_value *map, size_t i)
{
    if (!map || map->kind != MACULA_KIND_MAP || i >= map->as.c.count)
        return NULL;
    return map->as.c.items[2 * i + 1];
}

macula_value *macula_value_map_get_mut(macula_value *map, const char *text_key)
{
    long i = macula__cbor_map_find(map, text_key, text_key ? strlen(text_key) : 0);
    return i < 0 ? NULL : map->as.c.items[2 * i + 1];
}

const macula_value *macula_value_map_get(const macula_value *map, const char *text_key)
{
    long i = macula__cbor_map_find(map, text_key, text_key ? strlen(text_key) : 0);
    return i < 0 ? NULL : map->as.c.items[2 * i + 1];
}

/* Structural equality that matches "same canonical bytes": maps compare
 * as sets of entries, floats by their bits. */
int macula_value_equal(const macula_value *a, const macula_value *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case MACULA_KIND_UINT:
    case MACULA_KIND_NINT:
        return a->as.u == b->as.u;
    case MACULA_KIND_FLOAT: {
        uint64_t x, y;
        memcpy(&x, &a->as.f, 8);
        memcpy(&y, &b->as.f, 8);
        return x == y;
    }
    case MACULA_KIND_NULL:
        return 1;
    case MACULA_KIND_BYTES:
    case MACULA_KIND_TEXT:
        return a->as.str.len == b->as.str.len && memcmp(a->as.str.data, b->as.str.data, a->as.str.len) == 0;
    case MACULA_KIND_ARRAY:
        if (a->as.c.count != b->as.c.count)
            return 0;
        for (size_t i = 0; i < a->as.c.count; i++)
            if (!macula_value_equal(a->as.c.items[i], b->as.c.items[i]))
                return 0;
        return 1;
    case MACULA_KIND_MAP:
        if (a->as.c.count != b->as.c.count)
            return 0;
        /* Keys are unique within a map, so "every entry of a is in b"
         * together with equal counts means the same set. Entries are
         * usually in the same order: look at the same position first. */
        for (size_t i = 0; i < a->as.c.count; i++) {
            const macula_value *ka = a->as.c.items[2 * i];
            size_t j = i;
            if (macula__cbor_key_cmp(ka, b->as.c.items[2 * j]) != 0)
                for (j = 0; j < b->as.c.count; j++)
                    if (macula__cbor_key_cmp(ka, b->as.c.items[2 * j]) == 0)
                        break;
            if (j == b->as.c.count || !macula_value_equal(a->as.c.items[2 * i + 1], b->as.c.items[2 * j + 1]))
                return 0;
        }
        return 1;
    }
    return 0;
}
