/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stream parser: bytes in, frames out, the incomplete tail kept.
 * Unlike the reference, a length-delimited frame whose body does not
 * decode is stepped over (its length is known), so one bad frame does not
 * stall the stream. An oversize length cannot be stepped over safely (the
 * peer may be out of sync), so it is fatal and sticky.
 */
#include <stdlib.h>
#include <string.h>

#include "frame/frame_internal.h"
#include "frame/wire_check.h"

/* What may be buffered at most: one maximal frame that is still being
 * completed plus as much again of new input. A caller that drains next()
 * until NEED_MORE between feeds never gets near it. */
#define PARSER_MAX_BUFFERED (2u * (MACULA_FRAME_HEADER_LEN + MACULA_FRAME_MAX_BODY))
/* The first buffer's size: most frames are smaller, so it rarely grows. */
#define PARSER_FIRST_CAPACITY 4096u

struct macula_stream_parser {
    uint8_t *buf;
    size_t start; /* first byte not yet returned */
    size_t end;   /* one past the last buffered byte */
    size_t cap;
    int fatal;
};

macula_stream_parser *macula_stream_parser_new(int *err)
{
    macula_stream_parser *p = calloc(1, sizeof *p);
    frame_set_err(err, p ? MACULA_OK : MACULA_ERR_NOMEM);
    return p;
}

void macula_stream_parser_free(macula_stream_parser *p)
{
    if (!p)
        return;
    free(p->buf);
    free(p);
}

/* A declared length over the cap at the head of the buffer is fatal as
 * soon as its 4 bytes are in: nothing after it can be trusted. */
static void check_head(macula_stream_parser *p)
{
    if (p->end - p->start < MACULA_FRAME_HEADER_LEN)
        return;
    const uint8_t *h = p->buf + p->start;
    uint32_t body = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (body > MACULA_FRAME_MAX_BODY)
        p->fatal = 1;
}

int macula_stream_parser_feed(macula_stream_parser *p, const uint8_t *data, size_t len)
{
    if (!p || (!data && len))
        return MACULA_ERR_INVALID_ARG;
    if (p->fatal)
        return MACULA_ERR_FRAME_TOO_LARGE;
    if (len == 0)
        return MACULA_OK;
    size_t held = p->end - p->start;
    if (len > PARSER_MAX_BUFFERED - held)
        return MACULA_ERR_LIMIT;
    if (p->start > 0) { /* move the tail to the front before growing */
        memmove(p->buf, p->buf + p->start, held);
        p->start = 0;
        p->end = held;
    }
    if (p->cap - p->end < len) {
        size_t cap = p->cap ? p->cap : PARSER_FIRST_CAPACITY;
        while (cap - p->end < len)
            cap *= 2;
        uint8_t *nb = realloc(p->buf, cap);
        if (!nb)
            return MACULA_ERR_NOMEM;
        p->buf = nb;
        p->cap = cap;
    }
    memcpy(p->buf + p->end, data, len);
    p->end += len;
    check_head(p);
    return p->fatal ? MACULA_ERR_FRAME_TOO_LARGE : MACULA_OK;
}

/* After bytes were taken from the front: an empty parser holds no memory,
 * since an idle connection's parser is empty, and thousands of idle peers
 * would otherwise keep 4 KiB each. The price is one malloc per feed that
 * ends on a frame boundary. */
static void after_consume(macula_stream_parser *p)
{
    if (p->start == p->end) {
        free(p->buf);
        p->buf = NULL;
        p->start = p->end = p->cap = 0;
    }
    check_head(p);
}

int macula_stream_parser_next(macula_stream_parser *p, macula_frame **out, size_t *wire_len)
{
    if (!p || !out)
        return MACULA_ERR_INVALID_ARG;
    *out = NULL;
    if (p->fatal)
        return MACULA_ERR_FRAME_TOO_LARGE;
    if (p->end == p->start)
        return MACULA_ERR_NEED_MORE; /* also: no buffer yet */
    size_t consumed = 0;
    int rc = macula_frame_decode(p->buf + p->start, p->end - p->start, out, &consumed, NULL);
    switch (rc) {
    case MACULA_OK:
    case MACULA_ERR_BAD_FRAME:
        p->start += consumed;
        if (wire_len)
            *wire_len = consumed;
        after_consume(p);
        return rc;
    case MACULA_ERR_FRAME_TOO_LARGE:
        p->fatal = 1;
        return rc;
    default: /* NEED_MORE, NOMEM: nothing consumed, try again later */
        return rc;
    }
}

const uint8_t *macula_stream_parser_tail(const macula_stream_parser *p, size_t *len)
{
    if (len)
        *len = p ? p->end - p->start : 0;
    return p && p->buf ? p->buf + p->start : (const uint8_t *)"";
}

int macula__stream_parser_peek(macula_stream_parser *p, int build, macula_frame **out, const uint8_t **wire,
                               size_t *wire_len)
{
    if (!p || !out || !wire || !wire_len)
        return MACULA_ERR_INVALID_ARG;
    *out = NULL;
    *wire = NULL;
    *wire_len = 0;
    if (p->fatal)
        return MACULA_ERR_FRAME_TOO_LARGE;
    if (p->end == p->start)
        return MACULA_ERR_NEED_MORE;
    size_t consumed = 0;
    const uint8_t *at = p->buf + p->start;
    int rc = build ? macula_frame_decode(at, p->end - p->start, out, &consumed, NULL)
                   : macula__frame_check_wire(at, p->end - p->start, &consumed);
    if (rc == MACULA_OK || rc == MACULA_ERR_BAD_FRAME) {
        *wire = at;
        *wire_len = consumed;
    } else if (rc == MACULA_ERR_FRAME_TOO_LARGE) {
        p->fatal = 1;
    }
    return rc;
}

void macula__stream_parser_consume(macula_stream_parser *p, size_t len)
{
    if (!p || len > p->end - p->start)
        return;
    p->start += len;
    after_consume(p);
}
