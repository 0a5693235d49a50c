/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the stream parser. The first byte of the input seeds
 * how the rest is cut into chunks; the events (frame type/length, frame
 * stepped over, fatal oversize) and the tail must be the same however the
 * bytes are cut, and the same as a plain walk with the single-frame
 * decoder. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "macula/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENTS 4096

struct events {
    size_t n;
    long long ev[MAX_EVENTS]; /* wire_len for a frame, -wire_len for a bad one, -1 for fatal */
    size_t tail;
};

static void add(struct events *e, long long v)
{
    if (e->n < MAX_EVENTS)
        e->ev[e->n] = v;
    e->n++;
}

/* Drains the parser; returns 1 once fatal. */
static int drain(macula_stream_parser *p, struct events *e)
{
    for (;;) {
        macula_frame *f = NULL;
        size_t wl = 0;
        int rc = macula_stream_parser_next(p, &f, &wl);
        if (rc == MACULA_OK) {
            FUZZ_ASSERT(f && wl >= 4);
            add(e, (long long)wl);
            macula_frame_free(f);
        } else if (rc == MACULA_ERR_BAD_FRAME) {
            FUZZ_ASSERT(!f && wl >= 4);
            add(e, -(long long)wl);
        } else if (rc == MACULA_ERR_FRAME_TOO_LARGE) {
            add(e, -1);
            return 1;
        } else {
            FUZZ_ASSERT(rc == MACULA_ERR_NEED_MORE);
            return 0;
        }
    }
}

static void chunked(const uint8_t *data, size_t size, unsigned seed, struct events *e)
{
    macula_stream_parser *p = macula_stream_parser_new(NULL);
    FUZZ_ASSERT(p);
    size_t off = 0;
    int fatal = 0;
    while (off < size && !fatal) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 64;
        if (n > size - off)
            n = size - off;
        int rc = macula_stream_parser_feed(p, data + off, n);
        off += n;
        if (rc == MACULA_ERR_FRAME_TOO_LARGE) {
            /* reported at feed time; next() must say so too */
            fatal = drain(p, e);
            FUZZ_ASSERT(fatal);
            break;
        }
        FUZZ_ASSERT(rc == MACULA_OK);
        fatal = drain(p, e);
    }
    if (!fatal)
        macula_stream_parser_tail(p, &e->tail);
    macula_stream_parser_free(p);
}

/* The model: walk the bytes with the single-frame decoder. */
static void model(const uint8_t *data, size_t size, struct events *e)
{
    size_t off = 0;
    for (;;) {
        macula_frame *f = NULL;
        size_t consumed = 0;
        int rc = macula_frame_decode(data + off, size - off, &f, &consumed, NULL);
        if (rc == MACULA_OK) {
            add(e, (long long)consumed);
            macula_frame_free(f);
        } else if (rc == MACULA_ERR_BAD_FRAME) {
            add(e, -(long long)consumed);
        } else if (rc == MACULA_ERR_FRAME_TOO_LARGE) {
            add(e, -1);
            return;
        } else {
            e->tail = size - off;
            return;
        }
        off += consumed;
    }
}

static int same(const struct events *a, const struct events *b)
{
    if (a->n != b->n || a->tail != b->tail)
        return 0;
    size_t n = a->n < MAX_EVENTS ? a->n : MAX_EVENTS;
    return memcmp(a->ev, b->ev, n * sizeof a->ev[0]) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned seed = data[0];
    data++, size--;
    static struct events whole, cut, ref;
    memset(&whole, 0, sizeof whole);
    memset(&cut, 0, sizeof cut);
    memset(&ref, 0, sizeof ref);
    model(data, size, &ref);
    /* all at once */
    macula_stream_parser *p = macula_stream_parser_new(NULL);
    FUZZ_ASSERT(p);
    int rc = macula_stream_parser_feed(p, data, size);
    FUZZ_ASSERT(rc == MACULA_OK || rc == MACULA_ERR_FRAME_TOO_LARGE);
    if (!drain(p, &whole))
        macula_stream_parser_tail(p, &whole.tail);
    macula_stream_parser_free(p);
    /* in pseudo-random chunks */
    chunked(data, size, seed, &cut);
    FUZZ_ASSERT(same(&whole, &ref));
    FUZZ_ASSERT(same(&cut, &ref));
    return 0;
}
