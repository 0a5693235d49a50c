/* SPDX-License-Identifier: Apache-2.0 */
/* Stream parser: frames in order whatever the chunking, incomplete tail
 * kept, bad frames stepped over and reported (our deliberate difference
 * from the reference), oversize lengths fatal and sticky, buffer cap. */
#include <stdlib.h>
#include <string.h>

#include "macula/frame.h"
#include "support/vectors.h"
#include "testutil.h"

static json *root;

/* All vector wires back to back; *lens gets each wire length. */
static uint8_t *all_wires(size_t *total, size_t *lens, size_t *count)
{
    const json *list = json_get(root, "vectors");
    uint8_t *buf = NULL;
    *total = 0;
    *count = list ? list->count : 0;
    for (size_t i = 0; i < *count; i++) {
        size_t n;
        uint8_t *w = vectors_hex(list->items[i], "wire_hex", &n);
        buf = realloc(buf, *total + n);
        memcpy(buf + *total, w, n);
        *total += n;
        lens[i] = n;
        free(w);
    }
    return buf;
}

static const char *vector_type(size_t i) { return json_str(json_at(json_get(root, "vectors"), i), "frame_type"); }

static void test_chunkings(void)
{
    size_t lens[64], count, total;
    uint8_t *buf = all_wires(&total, lens, &count);
    REQUIRE(buf && count >= 15);
    static const size_t chunk_sizes[] = {1, 2, 3, 7, 64, 1000, 100000};
    for (size_t c = 0; c < sizeof chunk_sizes / sizeof chunk_sizes[0]; c++) {
        macula_stream_parser *p = macula_stream_parser_new(NULL);
        REQUIRE(p);
        size_t got = 0;
        for (size_t off = 0; off < total; off += chunk_sizes[c]) {
            size_t n = total - off < chunk_sizes[c] ? total - off : chunk_sizes[c];
            CHECK_EQ_INT(macula_stream_parser_feed(p, buf + off, n), 0);
            for (;;) {
                macula_frame *f = NULL;
                size_t wl = 0;
                int rc = macula_stream_parser_next(p, &f, &wl);
                if (rc == MACULA_ERR_NEED_MORE) {
                    CHECK(f == NULL);
                    break;
                }
                CHECK_EQ_INT(rc, 0);
                CHECK(got < count && wl == lens[got] && !strcmp(macula_frame_type(f), vector_type(got)));
                got++;
                macula_frame_free(f);
            }
        }
        CHECK_EQ_INT(got, count);
        size_t tail_len;
        macula_stream_parser_tail(p, &tail_len);
        CHECK_EQ_INT(tail_len, 0);
        macula_stream_parser_free(p);
    }
    free(buf);
}

static void test_tail_and_bad_frames(void)
{
    size_t lens[64], count, total;
    uint8_t *buf = all_wires(&total, lens, &count);
    REQUIRE(buf);
    /* frame 0, garbage frame, frame 1, a frame with a dup key, frame 2's first 9 bytes */
    static const uint8_t garbage[] = {0, 0, 0, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0x11, 0x22, 0x33, 0x44, 0x55};
    static const uint8_t dup[] = {0, 0, 0, 7, 0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02};
    macula_stream_parser *p = macula_stream_parser_new(NULL);
    REQUIRE(p);
    CHECK_EQ_INT(macula_stream_parser_feed(p, buf, lens[0]), 0);
    CHECK_EQ_INT(macula_stream_parser_feed(p, garbage, sizeof garbage), 0);
    CHECK_EQ_INT(macula_stream_parser_feed(p, buf + lens[0], lens[1]), 0);
    CHECK_EQ_INT(macula_stream_parser_feed(p, dup, sizeof dup), 0);
    CHECK_EQ_INT(macula_stream_parser_feed(p, buf + lens[0] + lens[1], 9), 0);
    macula_frame *f = NULL;
    size_t wl = 0;
    CHECK_EQ_INT(macula_stream_parser_next(p, &f, &wl), 0);
    CHECK(f && !strcmp(macula_frame_type(f), vector_type(0)) && wl == lens[0]);
    macula_frame_free(f);
    CHECK_EQ_INT(macula_stream_parser_next(p, &f, &wl), MACULA_ERR_BAD_FRAME);
    CHECK(f == NULL && wl == sizeof garbage);
    CHECK_EQ_INT(macula_stream_parser_next(p, &f, &wl), 0);
    CHECK(f && !strcmp(macula_frame_type(f), vector_type(1)) && wl == lens[1]);
    macula_frame_free(f);
    CHECK_EQ_INT(macula_stream_parser_next(p, &f, &wl), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(wl, sizeof dup);
    CHECK_EQ_INT(macula_stream_parser_next(p, &f, &wl), MACULA_ERR_NEED_MORE);
    size_t tail_len;
    const uint8_t *tail = macula_stream_parser_tail(p, &tail_len);
    CHECK(tail_len == 9 && !memcmp(tail, buf + lens[0] + lens[1], 9));
    /* completing the frame releases it */
    CHECK_EQ_INT(macula_stream_parser_feed(p, buf + lens[0] + lens[1] + 9, lens[2] - 9), 0);
    CHECK_EQ_INT(macula_stream_parser_next(p, &f, NULL), 0);
    CHECK(f && !strcmp(macula_frame_type(f), vector_type(2)));
    macula_frame_free(f);
    macula_stream_parser_tail(p, &tail_len);
    CHECK_EQ_INT(tail_len, 0);
    macula_stream_parser_free(p);
    free(buf);
}

static void test_oversize_is_fatal(void)
{
    size_t lens[64], count, total;
    uint8_t *buf = all_wires(&total, lens, &count);
    REQUIRE(buf);
    macula_stream_parser *p = macula_stream_parser_new(NULL);
    REQUIRE(p);
    static const uint8_t huge[] = {0x01, 0x00, 0x00, 0x00};
    CHECK_EQ_INT(macula_stream_parser_feed(p, buf, lens[0]), 0);
    CHECK_EQ_INT(macula_stream_parser_feed(p, huge, 2), 0);
    /* the frame before it still comes out; then the length is complete */
    macula_frame *f = NULL;
    CHECK_EQ_INT(macula_stream_parser_next(p, &f, NULL), 0);
    macula_frame_free(f);
    CHECK_EQ_INT(macula_stream_parser_next(p, &f, NULL), MACULA_ERR_NEED_MORE);
    CHECK_EQ_INT(macula_stream_parser_feed(p, huge + 2, 2), MACULA_ERR_FRAME_TOO_LARGE);
    CHECK_EQ_INT(macula_stream_parser_next(p, &f, NULL), MACULA_ERR_FRAME_TOO_LARGE);
    /* sticky */
    CHECK_EQ_INT(macula_stream_parser_feed(p, buf, lens[0]), MACULA_ERR_FRAME_TOO_LARGE);
    CHECK_EQ_INT(macula_stream_parser_next(p, &f, NULL), MACULA_ERR_FRAME_TOO_LARGE);
    CHECK(f == NULL);
    macula_stream_parser_free(p);

    /* met while draining: frame, then an oversize header in the same feed */
    p = macula_stream_parser_new(NULL);
    uint8_t *two = malloc(lens[0] + 4);
    memcpy(two, buf, lens[0]);
    memcpy(two + lens[0], huge, 4);
    CHECK_EQ_INT(macula_stream_parser_feed(p, two, lens[0] + 4), 0);
    CHECK_EQ_INT(macula_stream_parser_next(p, &f, NULL), 0);
    macula_frame_free(f);
    CHECK_EQ_INT(macula_stream_parser_next(p, &f, NULL), MACULA_ERR_FRAME_TOO_LARGE);
    CHECK_EQ_INT(macula_stream_parser_feed(p, buf, 1), MACULA_ERR_FRAME_TOO_LARGE);
    macula_stream_parser_free(p);
    free(two);
    free(buf);
}

static void test_large_frame_and_cap(void)
{
    /* a 1 MiB frame fed in 4 KiB pieces */
    macula_frame *f = macula_frame_new("blob", NULL);
    size_t n = 1 << 20;
    uint8_t *data = malloc(n);
    memset(data, 0x5c, n);
    macula_frame_put_bytes(f, "payload", data, n);
    uint8_t *wire;
    size_t wire_len;
    REQUIRE(macula_frame_encode(f, &wire, &wire_len) == 0);
    macula_stream_parser *p = macula_stream_parser_new(NULL);
    macula_frame *out = NULL;
    size_t frames = 0;
    for (size_t off = 0; off < wire_len; off += 4096) {
        size_t k = wire_len - off < 4096 ? wire_len - off : 4096;
        CHECK_EQ_INT(macula_stream_parser_feed(p, wire + off, k), 0);
        int rc = macula_stream_parser_next(p, &out, NULL);
        if (rc == 0) {
            frames++;
            const uint8_t *b;
            size_t bl;
            CHECK(macula_frame_get_bytes(out, "payload", &b, &bl) == 0 && bl == n && !memcmp(b, data, n));
            macula_frame_free(out);
        } else {
            CHECK_EQ_INT(rc, MACULA_ERR_NEED_MORE);
        }
    }
    CHECK_EQ_INT(frames, 1);
    macula_free(wire);
    macula_frame_free(f);
    free(data);

    /* feeding more than two maximal frames without draining is refused */
    size_t big = 2 * (4 + (size_t)MACULA_FRAME_MAX_BODY) + 1;
    uint8_t *zeros = calloc(1, big);
    REQUIRE(zeros);
    CHECK_EQ_INT(macula_stream_parser_feed(p, zeros, big), MACULA_ERR_LIMIT);
    size_t tail_len;
    macula_stream_parser_tail(p, &tail_len);
    CHECK_EQ_INT(tail_len, 0);
    /* what fits is taken: zero-length bodies, each stepped over as bad */
    CHECK_EQ_INT(macula_stream_parser_feed(p, zeros, 12), 0);
    size_t bad = 0, wl;
    while (macula_stream_parser_next(p, &out, &wl) == MACULA_ERR_BAD_FRAME)
        bad += wl == 4;
    CHECK_EQ_INT(bad, 3);
    free(zeros);
    macula_stream_parser_free(p);
}

static void test_empty_parser(void)
{
    macula_stream_parser *p = macula_stream_parser_new(NULL);
    REQUIRE(p);
    macula_frame *f = (macula_frame *)p; /* must be reset to NULL */
    CHECK_EQ_INT(macula_stream_parser_next(p, &f, NULL), MACULA_ERR_NEED_MORE);
    CHECK(f == NULL);
    size_t len = 99;
    CHECK(macula_stream_parser_tail(p, &len) != NULL && len == 0);
    CHECK_EQ_INT(macula_stream_parser_feed(p, NULL, 0), 0);
    CHECK_EQ_INT(macula_stream_parser_feed(p, NULL, 3), MACULA_ERR_INVALID_ARG);
    macula_stream_parser_free(p);
    macula_stream_parser_free(NULL);
}

int main(void)
{
    root = vectors_load();
    if (!root)
        return 1;
    RUN(test_chunkings);
    RUN(test_tail_and_bad_frames);
    RUN(test_oversize_is_fatal);
    RUN(test_large_frame_and_cap);
    RUN(test_empty_parser);
    json_free(root);
    return tu_summary();
}
