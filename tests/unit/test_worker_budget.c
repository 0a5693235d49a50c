/* SPDX-License-Identifier: Apache-2.0 */
/* Receive and decode budgets of the connection worker (peering/budget.h),
 * sans-I/O with the fake shell: a peer parking a huge partial frame is
 * ended at the connection's and at the runtime's budget with the held
 * bytes bounded, max_frame_size, a frame of millions of one-byte items is
 * refused by the decode budget quickly and without a big allocation, and
 * frames before CONNECT are dropped undecoded. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "codec/cbor.h"
#include "peering/budget.h"
#include "support/worker_shell.h"
#include "testutil.h"

static macula_identity *alice, *bob, *mallory;

static ws_shell *server_cfg(size_t recv_budget, size_t max_frame, macula__budget *global)
{
    macula__worker_config cfg;
    ws_config(&cfg, 1, bob);
    cfg.recv_budget = recv_budget;
    cfg.max_frame_size = max_frame;
    cfg.recv_global = global;
    ws_shell *s = ws_new(&cfg, "server");
    ws_start(s);
    ws_stream_opened(s, 0);
    return s;
}

static void connect_it(ws_shell *s)
{
    size_t len;
    uint8_t *connect = ws_vector("connect_empty_realms", &len);
    ws_data(s, connect, len, 0);
    free(connect);
}

static macula__worker_budget_info binfo(ws_shell *s)
{
    macula__worker_budget_info b;
    memset(&b, 0, sizeof b);
    macula__worker_get_budget_info(s->w, &b);
    return b;
}

/* A header declaring a maximal body, then the body trickled in 64 KiB
 * pieces: the connection is ended once its parser would hold more than
 * the budget, and it never held much more. */
static void test_partial_frame_connection_budget(void)
{
    static uint8_t chunk[65536];
    const size_t budget = (size_t)1 << 20;
    ws_shell *s = server_cfg(budget, 0, NULL);
    connect_it(s);
    REQUIRE(macula__worker_state(s->w) == MACULA_PEER_CONNECTED);
    static const uint8_t head[4] = {0x00, 0xff, 0xff, 0x00}; /* 16 MiB - 256 */
    ws_data(s, head, 4, 0);
    size_t fed = 4, peak = 0;
    for (int i = 0; i < 256 && !ws_disconnected(s); i++) {
        ws_data(s, chunk, sizeof chunk, 0);
        fed += sizeof chunk;
        if (!ws_disconnected(s)) {
            macula__worker_budget_info b = binfo(s);
            CHECK(b.recv_held <= budget);
            if (b.recv_held > peak)
                peak = b.recv_held;
        }
    }
    CHECK(ws_ended_with(s, MACULA_DISC_RECV_BUDGET));
    CHECK(fed <= budget + 2 * sizeof chunk); /* ended as soon as it went over */
    CHECK(peak > budget / 2);                /* it did hold the partial frame until then */
    CHECK(strstr(ws_disconnected(s)->detail, "connection's receive budget") != NULL);
    CHECK(!strcmp(macula_disconnect_reason_name(MACULA_DISC_RECV_BUDGET), "recv_budget"));
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

/* Two connections share a runtime budget: the second one to grow is the
 * one ended; freeing a worker returns what it held. */
static void test_partial_frame_runtime_budget(void)
{
    static uint8_t chunk[65536];
    macula__budget global = {(size_t)3 << 19, 0, 0, 0}; /* 1.5 MiB */
    ws_shell *a = server_cfg((size_t)1 << 20, 0, &global);
    ws_shell *b = server_cfg((size_t)1 << 20, 0, &global);
    connect_it(a);
    connect_it(b);
    static const uint8_t head[4] = {0x00, 0x20, 0x00, 0x00}; /* 2 MiB */
    ws_data(a, head, 4, 0);
    ws_data(b, head, 4, 0);
    for (int i = 0; i < 14; i++) /* a: 896 KiB, within its own budget */
        ws_data(a, chunk, sizeof chunk, 0);
    CHECK(!ws_disconnected(a));
    CHECK(binfo(a).recv_held >= 14 * sizeof chunk);
    for (int i = 0; i < 14 && !ws_disconnected(b); i++)
        ws_data(b, chunk, sizeof chunk, 0);
    CHECK(ws_ended_with(b, MACULA_DISC_RECV_BUDGET));
    CHECK(strstr(ws_disconnected(b)->detail, "runtime's receive budget") != NULL);
    CHECK(!ws_disconnected(a));
    CHECK(global.used <= global.limit);
    CHECK(global.refused >= 1);
    CHECK_EQ_INT(ws_finish(b), 0);
    ws_free(b);
    CHECK_EQ_INT(global.used, binfo(a).recv_held);
    CHECK_EQ_INT(ws_finish(a), 0);
    ws_free(a);
    CHECK_EQ_INT(global.used, 0);
}

static void test_max_frame_size(void)
{
    ws_shell *s = server_cfg(0, 1000, NULL);
    connect_it(s);
    size_t len;
    uint8_t *f = ws_numbered_frame(alice, 7, &len);
    REQUIRE(len - 4 <= 1000);
    ws_data(s, f, len, 0);
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_FRAME), 1);
    macula_free(f);
    static const uint8_t head[4] = {0x00, 0x00, 0x03, 0xe9}; /* 1001 */
    ws_data(s, head, 4, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_FRAME_TOO_LARGE));
    CHECK(strstr(ws_disconnected(s)->detail, "1001 exceeds 1000") != NULL);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

/* A frame {"frame_type": "publish", "p": [0, 0, ... n zeros]}. */
static uint8_t *tiny_items_frame(size_t n, size_t *len)
{
    static const uint8_t pre[] = {0xa2, 0x6a, 'f', 'r', 'a', 'm', 'e', '_', 't', 'y', 'p', 'e',
                                  0x67, 'p', 'u', 'b', 'l', 'i', 's', 'h', 0x61, 'p', 0x9a};
    size_t body = sizeof pre + 4 + n;
    uint8_t *w = calloc(1, 4 + body);
    if (!w)
        return NULL;
    w[0] = (uint8_t)(body >> 24), w[1] = (uint8_t)(body >> 16), w[2] = (uint8_t)(body >> 8), w[3] = (uint8_t)body;
    memcpy(w + 4, pre, sizeof pre);
    uint8_t *c = w + 4 + sizeof pre;
    c[0] = (uint8_t)(n >> 24), c[1] = (uint8_t)(n >> 16), c[2] = (uint8_t)(n >> 8), c[3] = (uint8_t)n;
    *len = 4 + body;
    return w;
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static double secs(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* 16 M one-byte items in one (maximal) frame: decoding would build ~640 MB;
 * the budget refuses it before allocating, fast, and the peer goes on. */
static void test_decode_budget(void)
{
    size_t len;
    uint8_t *big = tiny_items_frame(MACULA_FRAME_MAX_BODY - 40, &len);
    REQUIRE(big != NULL && len - 4 <= MACULA_FRAME_MAX_BODY);
    for (int before_connect = 0; before_connect < 2; before_connect++) {
        ws_shell *s = server_cfg(0, 0, NULL);
        if (!before_connect)
            connect_it(s);
        long rss0 = max_rss_kib();
        double t0 = secs();
        ws_data(s, big, len, 0);
        double took = secs() - t0;
        long grew_mib = (max_rss_kib() - rss0) / 1024;
        /* the parser holds one copy of the wire (16 MiB); a decode would be 640 */
        CHECK(grew_mib < 100);
        CHECK(took < 1.0);
        macula__worker_budget_info b = binfo(s);
        macula_peer_info info;
        macula__worker_get_info(s->w, &info);
        if (before_connect) {
            CHECK_EQ_INT(b.frames_undecoded, 1);
            CHECK_EQ_INT(b.decode_refused, 0);
            connect_it(s);
        } else {
            CHECK_EQ_INT(b.decode_refused, 1);
            CHECK(ws_has_diag(s, "reason=decode_budget"));
        }
        CHECK_EQ_INT(info.frames_dropped, 1);
        CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_CONNECTED);
        /* the stream is still in step: the next frame arrives */
        size_t flen;
        uint8_t *f = ws_numbered_frame(alice, 1, &flen);
        ws_data(s, f, flen, 0);
        macula_free(f);
        CHECK_EQ_INT(ws_count(s, MACULA_EVENT_FRAME), 1);
        CHECK_EQ_INT(binfo(s).recv_held, 0); /* an idle parser holds nothing */
        CHECK_EQ_INT(ws_finish(s), 0);
        ws_free(s);
    }
    free(big);
}

/* A lazy FRAME event (the relay path: checked, not built) decodes on
 * demand within the same budget: the bomb gives NULL, fast and without a
 * big allocation; an ordinary frame decodes. */
static void test_lazy_decode_budget(void)
{
    size_t len;
    uint8_t *big = tiny_items_frame(MACULA_FRAME_MAX_BODY - 40, &len);
    REQUIRE(big != NULL);
    macula_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = MACULA_EVENT_FRAME;
    ev.lazy_ = 1;
    ev.wire = big;
    ev.wire_len = len;
    long rss0 = max_rss_kib();
    double t0 = secs();
    CHECK(macula_event_frame(&ev) == NULL);
    CHECK(secs() - t0 < 1.0);
    CHECK((max_rss_kib() - rss0) / 1024 < 100);
    CHECK(ev.frame == NULL && ev.wire == big);
    free(big);

    size_t flen;
    uint8_t *f = ws_numbered_frame(alice, 7, &flen);
    memset(&ev, 0, sizeof ev);
    ev.type = MACULA_EVENT_FRAME;
    ev.lazy_ = 1;
    ev.wire = f;
    ev.wire_len = flen;
    macula_frame *got = macula_event_frame(&ev);
    CHECK(got != NULL && ev.frame == got);
    macula_frame_free(macula_event_take_frame(&ev));
    macula_free(f);
}

/* The decoder's own budget: the slot count fails at the array's head, the
 * node count once the items were walked; within budget it decodes. */
static void test_cbor_decode_budget(void)
{
    size_t len;
    uint8_t *w = tiny_items_frame(1000, &len);
    REQUIRE(w != NULL);
    macula_value *v = NULL;
    CHECK_EQ_INT(macula__cbor_decode_budget(w + 4, len - 4, 4000, &v), MACULA_ERR_DECODE_BUDGET);
    CHECK(v == NULL);
    CHECK_EQ_INT(macula__cbor_decode_budget(w + 4, len - 4, 9000, &v), MACULA_ERR_DECODE_BUDGET);
    CHECK_EQ_INT(macula__cbor_decode_budget(w + 4, len - 4, 1 << 20, &v), 0);
    macula_value_free(v);
    CHECK(!strcmp(macula_err_name(MACULA_ERR_DECODE_BUDGET), "decode_budget"));
    free(w);
}

/* Frames before CONNECT are dropped after reading frame_type only; the
 * CONNECT after them still works. */
static void test_before_connect_not_decoded(void)
{
    ws_shell *s = server_cfg(0, 0, NULL);
    for (uint64_t i = 0; i < 3; i++) {
        size_t flen;
        uint8_t *f = ws_numbered_frame(alice, i, &flen);
        ws_data(s, f, flen, 0);
        macula_free(f);
    }
    CHECK_EQ_INT(binfo(s).frames_undecoded, 3);
    CHECK(ws_has_diag(s, "reason=before_handshake"));
    connect_it(s);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(binfo(s).frames_undecoded, 3);
    macula_peer_info info;
    macula__worker_get_info(s->w, &info);
    CHECK_EQ_INT(info.frames_dropped, 3);
    CHECK_EQ_INT(info.frames_undecoded, 3);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

int main(void)
{
    if (ws_identities(&alice, &bob, &mallory) != 0)
        return 1;
    RUN(test_partial_frame_connection_budget);
    RUN(test_partial_frame_runtime_budget);
    RUN(test_max_frame_size);
    RUN(test_decode_budget);
    RUN(test_cbor_decode_budget);
    RUN(test_lazy_decode_budget);
    RUN(test_before_connect_not_decoded);
    ws_identities_free(alice, bob, mallory);
    return tu_summary();
}
