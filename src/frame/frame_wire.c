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
