/* SPDX-License-Identifier: Apache-2.0 */
/* The frame value: a root map of text keys, with the common header. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "frame/frame_internal.h"

/* Header field names as static key nodes (see MACULA__STATIC_TEXT). */
static macula_value k_realm = MACULA__STATIC_TEXT("realm"), k_call_id = MACULA__STATIC_TEXT("call_id"),
                    k_version = MACULA__STATIC_TEXT("version"), k_frame_id = MACULA__STATIC_TEXT("frame_id"),
                    k_frame_type = MACULA__STATIC_TEXT("frame_type"), k_sent_at_ms = MACULA__STATIC_TEXT("sent_at_ms"),
                    k_capabilities = MACULA__STATIC_TEXT("capabilities"),
                    k_source_route = MACULA__STATIC_TEXT("source_route");

/* Room for the header plus the fields of the largest constructor and a
 * signature, so that building a frame never reallocates its entries. */
#define FRAME_ENTRIES_HINT 20

macula_frame *macula_frame_new_empty(int *err)
{
    macula_frame *f = malloc(sizeof *f);
    if (f) {
        f->map = macula_value_map();
        f->received = 0;
    }
    if (!f || !f->map) {
        free(f);
        frame_set_err(err, MACULA_ERR_NOMEM);
        return NULL;
    }
    frame_set_err(err, MACULA_OK);
    return f;
}

macula_frame *macula_frame_from_map(macula_value *map, int *err)
{
    if (!map || macula_value_kind(map) != MACULA_KIND_MAP) {
        macula_value_free(map);
        frame_set_err(err, MACULA_ERR_CBOR_TYPE);
        return NULL;
    }
    for (size_t i = 0; i < map->as.c.count; i++) {
        if (map->as.c.items[2 * i]->kind != MACULA_KIND_TEXT) {
            macula_value_free(map);
            frame_set_err(err, MACULA_ERR_CBOR_TYPE);
            return NULL;
        }
    }
    macula_frame *f = malloc(sizeof *f);
    if (!f) {
        macula_value_free(map);
        frame_set_err(err, MACULA_ERR_NOMEM);
        return NULL;
    }
    f->map = map;
    f->received = 0;
    frame_set_err(err, MACULA_OK);
    return f;
}

macula_frame *macula_frame_clone(const macula_frame *f, int *err)
{
    if (!f) {
        frame_set_err(err, MACULA_ERR_INVALID_ARG);
        return NULL;
    }
    macula_value *map = macula_value_clone(f->map);
    if (!map) {
        frame_set_err(err, MACULA_ERR_NOMEM);
        return NULL;
    }
    macula_frame *c = macula_frame_from_map(map, err);
    if (c)
        c->received = f->received;
    return c;
}

void macula_frame_free(macula_frame *f)
{
    if (!f)
        return;
    macula_value_free(f->map);
    free(f);
}

int macula__frame_append(macula_frame *f, macula_value *key, macula_value *val)
{
    if (!val)
        return MACULA_ERR_NOMEM;
    return macula__cbor_map_append(f->map, key, val);
}

int macula__frame_set(macula_frame *f, macula_value *key, macula_value *val)
{
    if (!val)
        return MACULA_ERR_NOMEM;
    long i = macula__cbor_map_find(f->map, (const char *)key->as.str.data, key->as.str.len);
    if (i < 0)
        return macula__cbor_map_append(f->map, key, val);
    macula_value_free(f->map->as.c.items[2 * i + 1]);
    f->map->as.c.items[2 * i + 1] = val;
    return MACULA_OK;
}

int macula__frame_reserve(macula_frame *f, size_t entries) { return macula__cbor_map_reserve(f->map, entries); }

void macula__frame_sort(macula_frame *f)
{
    macula_value **it = f->map->as.c.items;
    size_t n = f->map->as.c.count;
    for (size_t i = 1; i < n; i++) {
        macula_value *k = it[2 * i], *v = it[2 * i + 1];
        size_t j = i;
        while (j > 0 && macula__cbor_key_cmp(it[2 * (j - 1)], k) > 0) {
            it[2 * j] = it[2 * (j - 1)];
            it[2 * j + 1] = it[2 * (j - 1) + 1];
            j--;
        }
        it[2 * j] = k;
        it[2 * j + 1] = v;
    }
}

uint64_t macula_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Random bits for frame ids come from a per-thread pool refilled from the
 * system generator 1 KiB at a time: one getrandom() per frame would cost
 * more than the rest of building a frame. After fork() the child empties
 * its pool (pthread_atfork), so parent and child never hand out the same
 * bytes.
 */
#define RANDOM_POOL 1024
static _Thread_local struct {
    uint8_t bytes[RANDOM_POOL];
    size_t used;
} pool = {.used = RANDOM_POOL};
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_forget(void) { pool.used = RANDOM_POOL; }
static void pool_register(void) { pthread_atfork(NULL, NULL, pool_forget); }

static void pool_take(uint8_t *out, size_t n)
{
    pthread_once(&pool_once, pool_register);
    if (pool.used + n > RANDOM_POOL) {
        randombytes_buf(pool.bytes, RANDOM_POOL);
        pool.used = 0;
    }
    memcpy(out, pool.bytes + pool.used, n);
    sodium_memzero(pool.bytes + pool.used, n); /* handed out once */
    pool.used += n;
}

void macula_uuidv7(uint64_t unix_ms, uint8_t out[MACULA_FRAME_ID_LEN])
{
    pool_take(out + 6, MACULA_FRAME_ID_LEN - 6);
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)(unix_ms >> (8 * (5 - i)));
    out[6] = (uint8_t)(0x70 | (out[6] & 0x0f)); /* version 7 */
    out[8] = (uint8_t)(0x80 | (out[8] & 0x3f)); /* variant 10 */
}

int macula_frame_stamp(macula_frame *f)
{
    if (!f)
        return MACULA_ERR_INVALID_ARG;
    uint64_t now = macula_unix_ms();
    uint8_t id[MACULA_FRAME_ID_LEN];
    macula_uuidv7(now, id);
    int rc = macula__frame_set(f, &k_frame_id, macula_value_bytes(id, sizeof id));
    return rc ? rc : macula__frame_set(f, &k_sent_at_ms, macula_value_uint(now));
}

macula_frame *macula__frame_new_header(const char *frame_type, uint64_t capabilities, int *err)
{
    if (!frame_type) {
        frame_set_err(err, MACULA_ERR_INVALID_ARG);
        return NULL;
    }
    macula_frame *f = macula_frame_new_empty(err);
    if (!f)
        return NULL;
    uint64_t now = macula_unix_ms();
    uint8_t id[MACULA_FRAME_ID_LEN];
    macula_uuidv7(now, id);
    /* appended in canonical order (shorter keys first) */
    int rc = macula__frame_reserve(f, FRAME_ENTRIES_HINT);
    if (!rc)
        rc = macula__frame_append(f, &k_realm, macula__cbor_null());
    if (!rc)
        rc = macula__frame_append(f, &k_call_id, macula__cbor_null());
    if (!rc)
        rc = macula__frame_append(f, &k_version, macula_value_uint(MACULA_FRAME_VERSION));
    if (!rc)
        rc = macula__frame_append(f, &k_frame_id, macula_value_bytes(id, sizeof id));
    if (!rc)
        rc = macula__frame_append(f, &k_frame_type, macula_value_text_cstr(frame_type));
    if (!rc)
        rc = macula__frame_append(f, &k_sent_at_ms, macula_value_uint(now));
    if (!rc)
        rc = macula__frame_append(f, &k_capabilities, macula_value_uint(capabilities));
    if (!rc)
        rc = macula__frame_append(f, &k_source_route, macula__cbor_null());
    if (rc) {
        macula_frame_free(f);
        frame_set_err(err, rc);
        return NULL;
    }
    return f;
}

macula_frame *macula_frame_new(const char *frame_type, int *err)
{
    return macula__frame_new_header(frame_type, 0, err);
}

const macula_value *macula_frame_map(const macula_frame *f) { return f ? f->map : NULL; }

const macula_value *macula_frame_get(const macula_frame *f, const char *key)
{
    return f ? macula_value_map_get(f->map, key) : NULL;
}

int macula_frame_put(macula_frame *f, const char *key, macula_value *val)
{
    if (!f || !key) {
        macula_value_free(val);
        return MACULA_ERR_INVALID_ARG;
    }
    if (!val)
        return MACULA_ERR_NOMEM; /* the usual cause: a constructor that failed */
    long i = macula__cbor_map_find(f->map, key, strlen(key));
    if (i >= 0) {
        macula_value_free(f->map->as.c.items[2 * i + 1]);
        f->map->as.c.items[2 * i + 1] = val;
        return MACULA_OK;
    }
    macula_value *k = macula_value_text_cstr(key);
    if (!k) {
        macula_value_free(val);
        return MACULA_ERR_NOMEM;
    }
    return macula__cbor_map_append(f->map, k, val);
}

int macula_frame_put_uint(macula_frame *f, const char *key, uint64_t v)
{
    return macula_frame_put(f, key, macula_value_uint(v));
}

int macula_frame_put_bytes(macula_frame *f, const char *key, const void *data, size_t len)
{
    return macula_frame_put(f, key, macula_value_bytes(data, len));
}

int macula_frame_put_text(macula_frame *f, const char *key, const char *text)
{
    if (!text)
        return MACULA_ERR_INVALID_ARG;
    return macula_frame_put(f, key, macula_value_text_cstr(text));
}

int macula_frame_put_null(macula_frame *f, const char *key) { return macula_frame_put(f, key, macula_value_null()); }

int macula_frame_remove(macula_frame *f, const char *key)
{
    return f ? macula_value_map_remove_cstr(f->map, key) : MACULA_ERR_INVALID_ARG;
}

int macula_frame_get_uint(const macula_frame *f, const char *key, uint64_t *out)
{
    const macula_value *v = macula_frame_get(f, key);
    return v ? macula_value_get_uint(v, out) : MACULA_ERR_NOT_FOUND;
}

int macula_frame_get_bytes(const macula_frame *f, const char *key, const uint8_t **data, size_t *len)
{
    const macula_value *v = macula_frame_get(f, key);
    if (!v)
        return MACULA_ERR_NOT_FOUND;
    return v->kind == MACULA_KIND_BYTES ? macula_value_get_bytes(v, data, len) : MACULA_ERR_CBOR_TYPE;
}

int macula_frame_get_text(const macula_frame *f, const char *key, const char **s, size_t *len)
{
    const macula_value *v = macula_frame_get(f, key);
    return v ? macula_value_get_text(v, s, len) : MACULA_ERR_NOT_FOUND;
}

const char *macula_frame_type(const macula_frame *f)
{
    const char *s;
    return macula_frame_get_text(f, "frame_type", &s, NULL) == MACULA_OK ? s : NULL;
}

char *macula_frame_diag(const macula_frame *f) { return f ? macula_value_diag(f->map) : NULL; }
