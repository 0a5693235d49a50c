/* The frame value: a root map of text keys, with the common header. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "frame/frame_internal.h"

macula_frame *macula_frame_new_empty(int *err)
{
    macula_frame *f = malloc(sizeof *f);
    if (f)
        f->map = macula_value_map();
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
    return macula_frame_from_map(map, err);
}

void macula_frame_free(macula_frame *f)
{
    if (!f)
        return;
    macula_value_free(f->map);
    free(f);
}

int macula__frame_append(macula_frame *f, const char *key, macula_value *val)
{
    if (!val)
        return MACULA_ERR_NOMEM;
    macula_value *k = macula_value_text_cstr(key);
    if (!k) {
        macula_value_free(val);
        return MACULA_ERR_NOMEM;
    }
    return macula__cbor_map_append(f->map, k, val);
}

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

void macula_uuidv7(uint64_t unix_ms, uint8_t out[MACULA_FRAME_ID_LEN])
{
    randombytes_buf(out + 6, MACULA_FRAME_ID_LEN - 6);
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
    int rc = macula_frame_put_bytes(f, "frame_id", id, sizeof id);
    return rc ? rc : macula_frame_put_uint(f, "sent_at_ms", now);
}

macula_frame *macula_frame_new(const char *frame_type, int *err)
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
    int rc = macula__frame_append(f, "realm", macula_value_null());
    if (!rc)
        rc = macula__frame_append(f, "call_id", macula_value_null());
    if (!rc)
        rc = macula__frame_append(f, "version", macula_value_uint(MACULA_FRAME_VERSION));
    if (!rc)
        rc = macula__frame_append(f, "frame_id", macula_value_bytes(id, sizeof id));
    if (!rc)
        rc = macula__frame_append(f, "frame_type", macula_value_text_cstr(frame_type));
    if (!rc)
        rc = macula__frame_append(f, "sent_at_ms", macula_value_uint(now));
    if (!rc)
        rc = macula__frame_append(f, "capabilities", macula_value_uint(0));
    if (!rc)
        rc = macula__frame_append(f, "source_route", macula_value_null());
    if (rc) {
        macula_frame_free(f);
        frame_set_err(err, rc);
        return NULL;
    }
    return f;
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
    return macula__frame_append(f, key, val);
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
