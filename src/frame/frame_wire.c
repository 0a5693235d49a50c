/* SPDX-License-Identifier: Apache-2.0 */
/* Wire form (PROTOCOL.md §2.1): 4-byte big-endian body length, then the
 * canonical CBOR map; single-frame decode with the reference's outcomes. */
#include <stdlib.h>
#include <string.h>

#include "frame/frame_internal.h"
#include "frame/wire_check.h"

size_t macula_frame_wire_size(const macula_frame *f)
{
    size_t size;
    if (!f || macula__cbor_size_skip(f->map, NULL, 0, &size) != MACULA_OK)
        return 0;
    return MACULA_FRAME_HEADER_LEN + size;
}

int macula_frame_encode(const macula_frame *f, uint8_t **wire, size_t *wire_len)
{
    if (!f || !wire || !wire_len)
        return MACULA_ERR_INVALID_ARG;
    size_t size;
    int rc = macula__cbor_size_skip(f->map, NULL, 0, &size);
    if (rc)
        return rc;
    if (size > MACULA_FRAME_MAX_BODY)
        return MACULA_ERR_FRAME_TOO_LARGE;
    uint8_t *buf = malloc(MACULA_FRAME_HEADER_LEN + size);
    if (!buf)
        return MACULA_ERR_NOMEM;
    buf[0] = (uint8_t)(size >> 24);
    buf[1] = (uint8_t)(size >> 16);
    buf[2] = (uint8_t)(size >> 8);
    buf[3] = (uint8_t)size;
    rc = macula__cbor_encode_skip(f->map, NULL, 0, buf + MACULA_FRAME_HEADER_LEN, size);
    if (rc) {
        free(buf);
        return rc;
    }
    *wire = buf;
    *wire_len = MACULA_FRAME_HEADER_LEN + size;
    return MACULA_OK;
}

int macula_frame_decode_body(const uint8_t *body, size_t len, macula_frame **out)
{
    return macula__frame_decode_body_budget(body, len, SIZE_MAX, out);
}

int macula__frame_peek_type(const uint8_t *body, size_t len, const uint8_t **type, size_t *type_len)
{
    int rc = macula__cbor_peek_text_field(body, len, "frame_type", type, type_len);
    return rc == MACULA_OK || rc == MACULA_ERR_NOT_FOUND || rc == MACULA_ERR_INVALID_ARG ? rc : MACULA_ERR_BAD_FRAME;
}

size_t macula__decode_budget(size_t body, size_t cap)
{
    size_t b = body > (SIZE_MAX - 65536) / 32 ? SIZE_MAX : body * 32 + 65536;
    return b < cap ? b : cap;
}

int macula__frame_decode_body_budget(const uint8_t *body, size_t len, size_t budget, macula_frame **out)
{
    if ((!body && len) || !out)
        return MACULA_ERR_INVALID_ARG;
    *out = NULL;
    if (len > MACULA_FRAME_MAX_BODY)
        return MACULA_ERR_FRAME_TOO_LARGE;
    macula_value *map;
    int rc = macula__cbor_decode_budget(body, len, budget, &map);
    if (rc)
        return rc == MACULA_ERR_NOMEM || rc == MACULA_ERR_DECODE_BUDGET ? rc : MACULA_ERR_BAD_FRAME;
    int err;
    *out = macula_frame_from_map(map, &err); /* a map with text keys, or bad_frame */
    if (!*out)
        return err == MACULA_ERR_NOMEM ? err : MACULA_ERR_BAD_FRAME;
    return MACULA_OK;
}

/* The body length from a frame's 4-byte header, with macula_frame_decode's
 * outcomes before the body is looked at: 0 (the whole frame is in `buf`),
 * NEED_MORE (*need set when non-NULL) or FRAME_TOO_LARGE. */
static int frame_extent(const uint8_t *buf, size_t len, size_t *body_len, size_t *need)
{
    if (len < MACULA_FRAME_HEADER_LEN) {
        if (need)
            *need = MACULA_FRAME_HEADER_LEN - len;
        return MACULA_ERR_NEED_MORE;
    }
    size_t body = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
    if (body > MACULA_FRAME_MAX_BODY)
        return MACULA_ERR_FRAME_TOO_LARGE; /* decided from the header alone */
    if (len - MACULA_FRAME_HEADER_LEN < body) {
        if (need)
            *need = body - (len - MACULA_FRAME_HEADER_LEN);
        return MACULA_ERR_NEED_MORE;
    }
    *body_len = body;
    return MACULA_OK;
}

int macula_frame_decode(const uint8_t *buf, size_t len, macula_frame **out, size_t *consumed, size_t *need)
{
    if ((!buf && len) || !out)
        return MACULA_ERR_INVALID_ARG;
    *out = NULL;
    size_t body = 0;
    int rc = frame_extent(buf, len, &body, need);
    if (rc == MACULA_OK)
        rc = macula_frame_decode_body(buf + MACULA_FRAME_HEADER_LEN, body, out);
    if (consumed && (rc == MACULA_OK || rc == MACULA_ERR_BAD_FRAME))
        *consumed = MACULA_FRAME_HEADER_LEN + body;
    return rc;
}

int macula__frame_check_wire(const uint8_t *buf, size_t len, size_t *consumed)
{
    if (!buf && len)
        return MACULA_ERR_INVALID_ARG;
    size_t body = 0;
    int rc = frame_extent(buf, len, &body, NULL);
    if (rc == MACULA_OK) {
        /* what decode_body + macula_frame_from_map accept */
        rc = macula__cbor_validate(buf + MACULA_FRAME_HEADER_LEN, body, true);
        if (rc != MACULA_OK && rc != MACULA_ERR_NOMEM)
            rc = MACULA_ERR_BAD_FRAME;
    }
    if (consumed && (rc == MACULA_OK || rc == MACULA_ERR_BAD_FRAME))
        *consumed = MACULA_FRAME_HEADER_LEN + body;
    return rc;
}

void macula__frame_mark_received(macula_frame *f)
{
    if (f)
        f->received = 1;
}

int macula__frame_is_received(const macula_frame *f) { return f && f->received; }

/* One CBOR head of validated input (definite lengths only, as the
 * validator demands); 0 past the end. */
static int walk_head(const uint8_t **pp, const uint8_t *end, unsigned *major, uint64_t *arg)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return 0;
    uint8_t ib = *p++;
    unsigned ai = ib & 31u;
    *major = ib >> 5;
    uint64_t v = ai;
    if (ai >= 24) {
        if (ai > 27)
            return 0;
        size_t n = (size_t)1 << (ai - 24);
        if ((size_t)(end - p) < n)
            return 0;
        v = 0;
        for (size_t i = 0; i < n; i++)
            v = v << 8 | p[i];
        p += n;
    }
    *arg = v;
    *pp = p;
    return 1;
}

/* Steps over one item; the pending count replaces recursion (the
 * validator already bounded the depth, this needs no bound). */
static int walk_skip(const uint8_t **pp, const uint8_t *end)
{
    uint64_t pending = 1;
    while (pending) {
        unsigned major;
        uint64_t arg;
        if (!walk_head(pp, end, &major, &arg))
            return 0;
        pending--;
        switch (major) {
        case 2:
        case 3:
            if ((uint64_t)(end - *pp) < arg)
                return 0;
            *pp += arg;
            break;
        case 4:
            pending += arg;
            break;
        case 5:
            pending += 2 * arg;
            break;
        case 6:
            pending += 1;
            break;
        default:
            break;
        }
    }
    return 1;
}

/* The value of top-level key `key` in a validated frame body: its first
 * byte, or NULL when absent. */
static const uint8_t *body_find(const uint8_t *body, size_t len, const char *key, size_t key_len)
{
    const uint8_t *p = body, *end = body + len;
    unsigned major;
    uint64_t n;
    if (!body || !walk_head(&p, end, &major, &n) || major != 5)
        return NULL;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t klen;
        if (!walk_head(&p, end, &major, &klen) || major != 3 || (uint64_t)(end - p) < klen)
            return NULL;
        if (klen == key_len && memcmp(p, key, klen) == 0)
            return p + klen < end ? p + klen : NULL;
        p += klen;
        if (!walk_skip(&p, end))
            return NULL;
    }
    return NULL;
}

int macula__frame_body_is_signed(const uint8_t *body, size_t len)
{
    return body_find(body, len, FRAME_SIGNATURE_KEY, sizeof FRAME_SIGNATURE_KEY - 1) != NULL;
}

int macula__frame_body_text(const uint8_t *body, size_t len, const char *key, const uint8_t **text, size_t *text_len)
{
    const uint8_t *v = body_find(body, len, key, strlen(key));
    const uint8_t *end = body + len;
    unsigned major;
    uint64_t n;
    if (!v || !walk_head(&v, end, &major, &n) || major != 3 || (uint64_t)(end - v) < n)
        return 0;
    *text = v;
    *text_len = (size_t)n;
    return 1;
}
