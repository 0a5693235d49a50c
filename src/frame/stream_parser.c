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
    /* limits (macula__stream_parser_set_limits): the largest body taken,
     * and the most a decoded frame may take */
    size_t max_body;
    size_t decode_cap;
};

macula_stream_parser *macula_stream_parser_new(int *err)
{
    macula_stream_parser *p = calloc(1, sizeof *p);
    frame_set_err(err, p ? MACULA_OK : MACULA_ERR_NOMEM);
    if (p) {
        p->max_body = MACULA_FRAME_MAX_BODY;
        p->decode_cap = SIZE_MAX;
    }
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
    if (body > MACULA_FRAME_MAX_BODY || body > p->max_body)
        p->fatal = 1;
}

/* Bytes from `start` to the end of the frame at the head, or 0 when its
 * header is not in yet. */
static size_t head_frame_len(const macula_stream_parser *p)
{
    if (p->end - p->start < MACULA_FRAME_HEADER_LEN)
        return 0;
    const uint8_t *h = p->buf + p->start;
    return MACULA_FRAME_HEADER_LEN +
           ((size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | (size_t)h[3]);
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
        /* Not beyond the frame being completed (when its length is known
         * and the input stays within it): a partial frame then holds what
         * it declared, not the next power of two (a 16 MiB frame would
         * take 32), which the receive budgets count (peering/budget.h). */
        size_t want = head_frame_len(p);
        if (want && p->end + len <= want && cap > want)
            cap = want;
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
    size_t flen = head_frame_len(p);
    int rc;
    if (flen == 0 || p->end - p->start < flen) {
        rc = macula_frame_decode(p->buf + p->start, p->end - p->start, out, &consumed, NULL);
    } else {
        /* whole frame in: decode within the budget */
        size_t body = flen - MACULA_FRAME_HEADER_LEN;
        rc = body > MACULA_FRAME_MAX_BODY ? MACULA_ERR_FRAME_TOO_LARGE
                                          : macula__frame_decode_body_budget(p->buf + p->start + MACULA_FRAME_HEADER_LEN,
                                                                             body, macula__decode_budget(body, p->decode_cap), out);
        consumed = flen;
    }
    switch (rc) {
    case MACULA_OK:
    case MACULA_ERR_BAD_FRAME:
    case MACULA_ERR_DECODE_BUDGET:
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

void macula__stream_parser_set_limits(macula_stream_parser *p, size_t max_body, size_t decode_cap)
{
    if (!p)
        return;
    p->max_body = max_body && max_body < MACULA_FRAME_MAX_BODY ? max_body : MACULA_FRAME_MAX_BODY;
    p->decode_cap = decode_cap ? decode_cap : SIZE_MAX;
    check_head(p);
}

size_t macula__stream_parser_held(const macula_stream_parser *p) { return p ? p->cap : 0; }

int macula__stream_parser_peek(const macula_stream_parser *p, const uint8_t **wire, size_t *len)
{
    if (!p || !wire || !len)
        return MACULA_ERR_INVALID_ARG;
    if (p->fatal)
        return MACULA_ERR_FRAME_TOO_LARGE;
    size_t flen = head_frame_len(p);
    if (flen == 0 || p->end - p->start < flen)
        return MACULA_ERR_NEED_MORE;
    *wire = p->buf + p->start;
    *len = flen;
    return MACULA_OK;
}

int macula__stream_parser_peek_frame(macula_stream_parser *p, int build, macula_frame **out, const uint8_t **wire,
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
    size_t flen = head_frame_len(p);
    if (flen == 0 || p->end - p->start < flen)
        return MACULA_ERR_NEED_MORE;
    const uint8_t *at = p->buf + p->start;
    size_t body = flen - MACULA_FRAME_HEADER_LEN;
    int rc;
    if (body > MACULA_FRAME_MAX_BODY)
        rc = MACULA_ERR_FRAME_TOO_LARGE;
    else if (build) /* built within the same decode budget as next() */
        rc = macula__frame_decode_body_budget(at + MACULA_FRAME_HEADER_LEN, body,
                                              macula__decode_budget(body, p->decode_cap), out);
    else {
        size_t consumed = 0;
        rc = macula__frame_check_wire(at, flen, &consumed);
    }
    if (rc == MACULA_OK || rc == MACULA_ERR_BAD_FRAME || rc == MACULA_ERR_DECODE_BUDGET) {
        *wire = at;
        *wire_len = flen;
    } else if (rc == MACULA_ERR_FRAME_TOO_LARGE) {
        p->fatal = 1;
    }
    return rc;
}

void macula__stream_parser_skip(macula_stream_parser *p, size_t len)
{
    if (!p || len > p->end - p->start)
        return;
    p->start += len;
    after_consume(p);
}
