/* SPDX-License-Identifier: Apache-2.0 */
/* Dedicated streams (PROTOCOL.md §6.2) and the server's HELLO-flight hold
 * (§6.5) in the sans-I/O worker, through the fake shell: two workers
 * (client alice, server bob) opening streams both ways, frames interleaved
 * on several streams, FIN, resets with codes, the peer-stream cap, a bad
 * frame confined to its stream, would-block per stream, the peer vanishing
 * and GOODBYE/drain with streams open. The shell checks on every action
 * that stream events come once per stream and before DISCONNECTED. */
#include <string.h>

#include "support/worker_shell.h"
#include "testutil.h"

static macula_identity *alice, *bob, *mallory;

typedef struct pair {
    ws_shell *c, *s;
} pair;

static pair pair_new(size_t max_peer_streams, int manual_ack)
{
    macula__worker_config cc, sc;
    ws_config(&cc, 0, alice);
    ws_config(&sc, 1, bob);
    cc.max_peer_streams = sc.max_peer_streams = max_peer_streams;
    pair p = {ws_new(&cc, "client"), ws_new(&sc, "server")};
    p.s->manual_ack = manual_ack;
    ws_client_up(p.c);
    ws_start(p.s);
    ws_stream_opened(p.s, 0);
    ws_exchange(p.c, p.s);
    return p;
}

static int pair_finish(pair *p)
{
    int problems = ws_finish(p->c) + ws_finish(p->s);
    ws_free(p->c);
    ws_free(p->s);
    return problems;
}

static int send_on(ws_shell *s, const macula_identity *id, int64_t stream, uint64_t n)
{
    size_t len;
    uint8_t *f = ws_numbered_frame(id, n, &len);
    int rc = ws_send_on(s, stream, f, len);
    macula_free(f);
    return rc;
}

/* The "seq" of FRAME events on `stream`, in delivery order. */
static size_t seqs_on(const ws_shell *s, int64_t stream, uint64_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_events; i++)
        if (s->events[i].type == MACULA_EVENT_FRAME && s->events[i].stream == stream && n < max)
            out[n++] = ws_frame_seq(s->events[i].frame);
    return n;
}

static const ws_event *stream_event(const ws_shell *s, macula_event_type type, int64_t stream)
{
    for (size_t i = 0; i < s->n_events; i++)
        if (s->events[i].type == type && s->events[i].stream == stream)
            return &s->events[i];
    return NULL;
}

static void test_open_both_ways(void)
{
    pair p = pair_new(0, 0);
    REQUIRE(macula__worker_state(p.c->w) == MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(ws_open_stream(p.c, 4), 0);
    const ws_event *e = stream_event(p.c, MACULA_EVENT_STREAM_OPENED, 4);
    CHECK(e && e->origin == MACULA_STREAM_BY_LOCAL);
    CHECK_EQ_INT(ws_open_stream(p.s, 1), 0);
    e = stream_event(p.s, MACULA_EVENT_STREAM_OPENED, 1);
    CHECK(e && e->origin == MACULA_STREAM_BY_LOCAL);
    /* Nothing sent yet: QUIC announces a stream with its first bytes. */
    CHECK_EQ_INT(send_on(p.c, alice, 4, 40), 0);
    CHECK_EQ_INT(send_on(p.s, bob, 1, 10), 0);
    ws_exchange_streams(p.c, p.s);
    e = stream_event(p.s, MACULA_EVENT_STREAM_OPENED, 4);
    CHECK(e && e->origin == MACULA_STREAM_BY_PEER);
    e = stream_event(p.c, MACULA_EVENT_STREAM_OPENED, 1);
    CHECK(e && e->origin == MACULA_STREAM_BY_PEER);
    uint64_t seq[4];
    CHECK(seqs_on(p.s, 4, seq, 4) == 1 && seq[0] == 40);
    CHECK(seqs_on(p.c, 1, seq, 4) == 1 && seq[0] == 10);
    /* Answers on the peer's streams come back on them. */
    CHECK_EQ_INT(send_on(p.s, bob, 4, 41), 0);
    CHECK_EQ_INT(send_on(p.c, alice, 1, 11), 0);
    ws_exchange_streams(p.c, p.s);
    CHECK(seqs_on(p.c, 4, seq, 4) == 1 && seq[0] == 41);
    CHECK(seqs_on(p.s, 1, seq, 4) == 1 && seq[0] == 11);
    CHECK_EQ_INT(ws_count_on(p.c, MACULA_EVENT_FRAME, 0) + ws_count_on(p.s, MACULA_EVENT_FRAME, 0), 0);
    /* Bad ids: the peer's parity, the control stream, one in use. */
    CHECK_EQ_INT(ws_open_stream(p.c, 1), MACULA_ERR_INVALID_ARG);
    CHECK_EQ_INT(ws_open_stream(p.c, 0), MACULA_ERR_INVALID_ARG);
    CHECK_EQ_INT(ws_open_stream(p.c, 4), MACULA_ERR_INVALID_ARG);
    CHECK_EQ_INT(ws_open_stream(p.s, 4), MACULA_ERR_INVALID_ARG);
    CHECK_EQ_INT(macula__worker_state(p.c->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

static void test_interleaved_three_streams(void)
{
    pair p = pair_new(0, 0);
    int64_t ids[3] = {4, 8, 12};
    for (int k = 0; k < 3; k++)
        CHECK_EQ_INT(ws_open_stream(p.c, ids[k]), 0);
    /* Round after round, one frame per stream and one on control, moved
     * to the server in small uneven pieces is what ws_exchange does not do:
     * so alternate sends and exchanges. */
    for (uint64_t n = 0; n < 30; n++) {
        CHECK_EQ_INT(send_on(p.c, alice, ids[n % 3], n), 0);
        if (n % 4 == 0)
            CHECK_EQ_INT(send_on(p.c, alice, MACULA_STREAM_CONTROL, 1000 + n), 0);
        if (n % 7 == 0)
            ws_exchange_streams(p.c, p.s);
    }
    ws_exchange_streams(p.c, p.s);
    for (int k = 0; k < 3; k++) {
        uint64_t seq[16];
        size_t n = seqs_on(p.s, ids[k], seq, 16);
        CHECK_EQ_INT(n, 10);
        for (size_t i = 0; i < n; i++)
            CHECK_EQ_INT(seq[i], (uint64_t)k + 3 * i);
    }
    uint64_t cseq[16];
    size_t n = seqs_on(p.s, MACULA_STREAM_CONTROL, cseq, 16);
    CHECK_EQ_INT(n, 8);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(cseq[i], 1000 + 4 * i);
    macula_peer_info ci, si;
    macula__worker_get_info(p.c->w, &ci);
    macula__worker_get_info(p.s->w, &si);
    CHECK_EQ_INT(ci.bytes_out, si.bytes_in);
    CHECK_EQ_INT(ci.frames_out, si.frames_in);
    CHECK_EQ_INT(macula__worker_queued_bytes(p.c->w), 0);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

static void test_fin(void)
{
    pair p = pair_new(0, 0);
    CHECK_EQ_INT(ws_open_stream(p.c, 4), 0);
    for (uint64_t n = 0; n < 3; n++)
        CHECK_EQ_INT(send_on(p.c, alice, 4, n), 0);
    CHECK_EQ_INT(ws_finish_stream(p.c, 4), 0);
    ws_qstream *q = ws_qstream_get(p.c, 4);
    REQUIRE(q);
    CHECK_EQ_INT(q->shutdowns, 1);
    CHECK_EQ_INT(ws_sent_count_on(p.c, 4), 3); /* FIN after the frames */
    /* Finished: no more sends, no second finish. */
    CHECK_EQ_INT(send_on(p.c, alice, 4, 9), MACULA_ERR_STREAM_CLOSED);
    CHECK(ws_has_diag(p.c, "reason=stream_closed"));
    CHECK_EQ_INT(ws_finish_stream(p.c, 4), MACULA_ERR_STREAM_CLOSED);
    CHECK_EQ_INT(ws_finish_stream(p.c, MACULA_STREAM_CONTROL), MACULA_ERR_INVALID_ARG);
    ws_exchange_streams(p.c, p.s);
    /* The server: three frames, then STREAM_CLOSED(FIN); it may still answer. */
    CHECK_EQ_INT(ws_count_on(p.s, MACULA_EVENT_FRAME, 4), 3);
    const ws_event *e = stream_event(p.s, MACULA_EVENT_STREAM_CLOSED, 4);
    CHECK(e && e->end == MACULA_STREAM_END_FIN && e->origin == MACULA_STREAM_BY_PEER);
    CHECK(!stream_event(p.c, MACULA_EVENT_STREAM_CLOSED, 4)); /* the client still reads */
    CHECK_EQ_INT(send_on(p.s, bob, 4, 7), 0);
    CHECK_EQ_INT(ws_finish_stream(p.s, 4), 0);
    ws_exchange_streams(p.c, p.s);
    CHECK_EQ_INT(ws_count_on(p.c, MACULA_EVENT_FRAME, 4), 1);
    e = stream_event(p.c, MACULA_EVENT_STREAM_CLOSED, 4);
    CHECK(e && e->end == MACULA_STREAM_END_FIN && e->origin == MACULA_STREAM_BY_LOCAL);
    /* Both sides done: released, so unknown now. */
    CHECK_EQ_INT(ws_reset_stream(p.c, 4, 1), MACULA_ERR_STREAM_CLOSED);
    CHECK_EQ_INT(ws_reset_stream(p.s, 4, 1), MACULA_ERR_STREAM_CLOSED);
    /* A truncated frame before FIN is reported, the stream still closes. */
    CHECK_EQ_INT(ws_open_stream(p.s, 1), 0);
    size_t len;
    uint8_t *f = ws_numbered_frame(bob, 5, &len);
    ws_data_on(p.c, 1, f, len - 3, 1);
    macula_free(f);
    CHECK(ws_has_diag(p.c, "truncated_at_fin"));
    e = stream_event(p.c, MACULA_EVENT_STREAM_CLOSED, 1);
    CHECK(e && e->end == MACULA_STREAM_END_FIN);
    CHECK_EQ_INT(macula__worker_state(p.c->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(macula__worker_state(p.s->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

static void test_reset_with_code(void)
{
    pair p = pair_new(0, 0);
    CHECK_EQ_INT(ws_open_stream(p.c, 4), 0);
    CHECK_EQ_INT(ws_open_stream(p.c, 8), 0);
    CHECK_EQ_INT(send_on(p.c, alice, 4, 1), 0);
    CHECK_EQ_INT(send_on(p.c, alice, 8, 2), 0);
    ws_exchange_streams(p.c, p.s);
    /* Local reset: RESET_STREAM with the code, STREAM_CLOSED(RESET, code). */
    p.c->would_block_qid_on = 1; /* keep frames queued on 4: the reset drops them */
    p.c->would_block_qid = 4;
    CHECK_EQ_INT(send_on(p.c, alice, 4, 3), 0);
    CHECK_EQ_INT(ws_reset_stream(p.c, 4, 77), 0);
    CHECK(ws_has_diag(p.c, "reason=stream_reset"));
    ws_qstream *q = ws_qstream_get(p.c, 4);
    CHECK(q && q->resets == 1 && q->reset_code == 77);
    const ws_event *e = stream_event(p.c, MACULA_EVENT_STREAM_CLOSED, 4);
    CHECK(e && e->end == MACULA_STREAM_END_RESET && e->code == 77);
    CHECK_EQ_INT(macula__worker_queued_bytes(p.c->w), 0);
    CHECK_EQ_INT(ws_reset_stream(p.c, 4, 1), MACULA_ERR_STREAM_CLOSED);
    CHECK_EQ_INT(ws_reset_stream(p.c, MACULA_STREAM_CONTROL, 1), MACULA_ERR_INVALID_ARG);
    CHECK_EQ_INT(ws_reset_stream(p.c, 8, (uint64_t)1 << 62), MACULA_ERR_INVALID_ARG);
    ws_exchange_streams(p.c, p.s);
    e = stream_event(p.s, MACULA_EVENT_STREAM_CLOSED, 4);
    CHECK(e && e->end == MACULA_STREAM_END_RESET && e->code == 77);
    q = ws_qstream_get(p.s, 4);
    CHECK(q && q->resets && q->reset_code == 77); /* the server aborted its side too */
    /* Peer reset of 8 (by the server): the client closes it with the code. */
    CHECK_EQ_INT(ws_reset_stream(p.s, 8, 5), 0);
    ws_exchange_streams(p.c, p.s);
    e = stream_event(p.c, MACULA_EVENT_STREAM_CLOSED, 8);
    CHECK(e && e->end == MACULA_STREAM_END_RESET && e->code == 5);
    /* Neither reset touched the peer or the control stream. */
    CHECK_EQ_INT(send_on(p.c, alice, MACULA_STREAM_CONTROL, 99), 0);
    ws_exchange_streams(p.c, p.s);
    uint64_t seq[2];
    CHECK(seqs_on(p.s, MACULA_STREAM_CONTROL, seq, 2) == 1 && seq[0] == 99);
    CHECK_EQ_INT(macula__worker_state(p.c->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(macula__worker_state(p.s->w), MACULA_PEER_CONNECTED);
    /* Late bytes on a reset stream are ignored. */
    size_t n = p.s->n_events;
    size_t len;
    uint8_t *f = ws_numbered_frame(alice, 1, &len);
    ws_data_on(p.s, 4, f, len, 0);
    macula_free(f);
    CHECK_EQ_INT(p.s->n_events, n);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

static void test_cap_exceeded(void)
{
    pair p = pair_new(2, 0);
    size_t len;
    uint8_t *f = ws_numbered_frame(alice, 1, &len);
    ws_data_on(p.s, 4, f, len, 0);
    ws_data_on(p.s, 8, f, len, 0);
    ws_data_on(p.s, 12, f, len, 0); /* the third: refused */
    CHECK(ws_has_diag(p.s, "stream_refused state=connected reason=max_peer_streams stream=12"));
    ws_qstream *q = ws_qstream_get(p.s, 12);
    CHECK(q && q->resets == 1 && q->reset_code == MACULA_STREAM_CODE_REFUSED);
    CHECK_EQ_INT(ws_count_on(p.s, 0, 12), 0); /* no event at all for it */
    ws_data_on(p.s, 12, f, len, 0);            /* its late bytes are ignored */
    CHECK_EQ_INT(ws_count_on(p.s, 0, 12), 0);
    ws_stream_opened(p.s, 14); /* a unidirectional stream is refused too */
    CHECK(ws_has_diag(p.s, "reason=unidirectional stream=14"));
    CHECK_EQ_INT(ws_count(p.s, MACULA_EVENT_STREAM_OPENED), 2);
    /* One ends (reset by the peer): room for the next. */
    ws_stream_reset_on(p.s, 4, 3);
    ws_data_on(p.s, 16, f, len, 0);
    CHECK(stream_event(p.s, MACULA_EVENT_STREAM_OPENED, 16) != NULL);
    CHECK_EQ_INT(ws_count_on(p.s, MACULA_EVENT_FRAME, 16), 1);
    macula_free(f);
    CHECK_EQ_INT(macula__worker_state(p.s->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

static void test_bad_frame_confined(void)
{
    pair p = pair_new(0, 0);
    /* A length-delimited frame whose body is not CBOR, on stream 4, between
     * good frames; good frames on 8 and on the control stream around it. */
    static const uint8_t junk[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
    size_t l1, l2, l3;
    uint8_t *a = ws_numbered_frame(alice, 1, &l1), *b = ws_numbered_frame(alice, 2, &l2),
            *c = ws_numbered_frame(alice, 3, &l3);
    ws_data_on(p.s, 4, a, l1, 0);
    ws_data_on(p.s, 8, a, l1 - 5, 0); /* half a frame pending on 8 */
    ws_data_on(p.s, 4, junk, sizeof junk, 0);
    CHECK(ws_has_diag(p.s, "frame_dropped state=connected reason=bad_frame"));
    CHECK(ws_has_diag(p.s, "stream=4"));
    ws_data_on(p.s, 4, b, l2, 0);
    ws_data_on(p.s, 8, a + l1 - 5, 5, 0);
    ws_data(p.s, c, l3, 0);
    uint64_t seq[4];
    CHECK(seqs_on(p.s, 4, seq, 4) == 2 && seq[0] == 1 && seq[1] == 2);
    CHECK(seqs_on(p.s, 8, seq, 4) == 1 && seq[0] == 1);
    CHECK(seqs_on(p.s, MACULA_STREAM_CONTROL, seq, 4) == 1 && seq[0] == 3);
    macula_peer_info si;
    macula__worker_get_info(p.s->w, &si);
    CHECK_EQ_INT(si.frames_dropped, 1);
    /* A declared length over the limit resets that stream only. */
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
    ws_data_on(p.s, 8, huge, sizeof huge, 0);
    const ws_event *e = stream_event(p.s, MACULA_EVENT_STREAM_CLOSED, 8);
    CHECK(e && e->end == MACULA_STREAM_END_RESET && e->code == MACULA_STREAM_CODE_FRAME_TOO_LARGE);
    ws_qstream *q = ws_qstream_get(p.s, 8);
    CHECK(q && q->resets == 1 && q->reset_code == MACULA_STREAM_CODE_FRAME_TOO_LARGE);
    CHECK_EQ_INT(macula__worker_state(p.s->w), MACULA_PEER_CONNECTED);
    ws_data_on(p.s, 4, c, l3, 0);
    CHECK_EQ_INT(ws_count_on(p.s, MACULA_EVENT_FRAME, 4), 3);
    macula_free(a);
    macula_free(b);
    macula_free(c);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

static void test_would_block_per_stream(void)
{
    pair p = pair_new(0, 0);
    CHECK_EQ_INT(ws_open_stream(p.c, 4), 0);
    CHECK_EQ_INT(ws_open_stream(p.c, 8), 0);
    p.c->would_block_qid_on = 1;
    p.c->would_block_qid = 4;
    for (uint64_t n = 0; n < 4; n++) {
        CHECK_EQ_INT(send_on(p.c, alice, 4, n), 0);
        CHECK_EQ_INT(send_on(p.c, alice, 8, 10 + n), 0);
        CHECK_EQ_INT(send_on(p.c, alice, MACULA_STREAM_CONTROL, 20 + n), 0);
    }
    /* 4 is blocked; 8 and the control stream are not held up by it. */
    CHECK_EQ_INT(ws_sent_count_on(p.c, 4), 0);
    CHECK_EQ_INT(ws_sent_count_on(p.c, 8), 4);
    CHECK_EQ_INT(ws_sent_count(p.c), 1 + 4); /* CONNECT + 4 */
    size_t sends = (size_t)p.c->sends;
    ws_send_ready_on(p.c, 8); /* another stream's SEND_READY: 4 stays blocked */
    CHECK_EQ_INT((size_t)p.c->sends, sends);
    p.c->would_block_qid_on = 0;
    ws_send_ready_on(p.c, 4);
    CHECK_EQ_INT(ws_sent_count_on(p.c, 4), 4);
    ws_exchange_streams(p.c, p.s);
    uint64_t seq[8];
    CHECK(seqs_on(p.s, 4, seq, 8) == 4 && seq[0] == 0 && seq[3] == 3);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

static void test_open_refused(void)
{
    macula__worker_config cc;
    ws_config(&cc, 0, alice);
    ws_shell *s = ws_new(&cc, "client");
    ws_client_up(s);
    /* Not connected: the id is reported closed at once. */
    CHECK_EQ_INT(ws_open_stream(s, 4), MACULA_ERR_STATE);
    const ws_event *e = stream_event(s, MACULA_EVENT_STREAM_CLOSED, 4);
    CHECK(e && e->end == MACULA_STREAM_END_RESET && e->origin == MACULA_STREAM_BY_LOCAL);
    CHECK(ws_has_diag(s, "stream_open_failed state=handshaking error=not_connected"));
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
    /* QUIC refuses the open (the peer's stream limit). */
    pair p = pair_new(0, 0);
    p.c->open_fail = 1;
    CHECK_EQ_INT(ws_open_stream(p.c, 4), 0);
    CHECK_EQ_INT(send_on(p.c, alice, 4, 1), MACULA_ERR_STREAM_CLOSED);
    e = stream_event(p.c, MACULA_EVENT_STREAM_CLOSED, 4);
    CHECK(e && e->end == MACULA_STREAM_END_RESET && strstr(e->detail, "stream limit"));
    CHECK(!stream_event(p.c, MACULA_EVENT_STREAM_OPENED, 4));
    p.c->open_fail = 0;
    CHECK_EQ_INT(ws_open_stream(p.c, 8), 0); /* the next one works */
    CHECK(stream_event(p.c, MACULA_EVENT_STREAM_OPENED, 8) != NULL);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

static void test_peer_vanishes_with_streams_open(void)
{
    pair p = pair_new(0, 0);
    CHECK_EQ_INT(ws_open_stream(p.c, 4), 0);
    CHECK_EQ_INT(ws_open_stream(p.c, 8), 0);
    CHECK_EQ_INT(send_on(p.c, alice, 4, 1), 0);
    CHECK_EQ_INT(send_on(p.c, alice, 8, 1), 0);
    ws_exchange_streams(p.c, p.s);
    CHECK_EQ_INT(ws_open_stream(p.s, 1), 0);
    p.c->would_block_qid_on = 1; /* frames stay queued on 4 */
    p.c->would_block_qid = 4;
    CHECK_EQ_INT(send_on(p.c, alice, 4, 2), 0);
    CHECK_EQ_INT(send_on(p.c, alice, 4, 3), 0);
    ws_transport_closed(p.c, "peer: gone");
    CHECK(ws_ended_with(p.c, MACULA_DISC_PEER_CLOSED));
    /* Every stream the client knew got STREAM_CLOSED(CONNECTION) right
     * before DISCONNECTED; the server's stream 1 was never announced. */
    size_t n = p.c->n_events;
    REQUIRE(n >= 3);
    CHECK_EQ_INT(p.c->events[n - 1].type, MACULA_EVENT_DISCONNECTED);
    CHECK(p.c->events[n - 2].type == MACULA_EVENT_STREAM_CLOSED &&
          p.c->events[n - 2].end == MACULA_STREAM_END_CONNECTION);
    CHECK(p.c->events[n - 3].type == MACULA_EVENT_STREAM_CLOSED &&
          p.c->events[n - 3].end == MACULA_STREAM_END_CONNECTION);
    CHECK_EQ_INT(ws_count(p.c, MACULA_EVENT_STREAM_CLOSED), 2);
    CHECK_EQ_INT(ws_count_on(p.c, 0, 1), 0);
    macula_peer_info ci;
    macula__worker_get_info(p.c->w, &ci);
    CHECK(ci.frames_dropped >= 1); /* what was queued on 4 */
    ws_transport_closed(p.s, "peer: gone");
    CHECK(ws_ended_with(p.s, MACULA_DISC_PEER_CLOSED));
    CHECK_EQ_INT(ws_count(p.s, MACULA_EVENT_STREAM_CLOSED), 3); /* 4, 8 (peer) and 1 (local) */
    CHECK_EQ_INT(pair_finish(&p), 0);
}

static void test_goodbye_drain_with_streams(void)
{
    pair p = pair_new(0, 0);
    CHECK_EQ_INT(ws_open_stream(p.c, 4), 0);
    CHECK_EQ_INT(ws_open_stream(p.c, 8), 0);
    CHECK_EQ_INT(send_on(p.c, alice, 4, 1), 0);
    ws_exchange_streams(p.c, p.s);
    CHECK_EQ_INT(send_on(p.s, bob, 4, 2), 0); /* the server's answer, still to travel */
    ws_close(p.c, "bye");
    CHECK_EQ_INT(macula__worker_state(p.c->w), MACULA_PEER_DRAINING);
    /* GOODBYE finishes every stream of ours. */
    ws_qstream *q4 = ws_qstream_get(p.c, 4), *q8 = ws_qstream_get(p.c, 8);
    CHECK(q4 && q4->shutdowns == 1 && q8 && q8->shutdowns == 1);
    CHECK_EQ_INT(send_on(p.c, alice, 4, 3), MACULA_ERR_STATE);
    CHECK_EQ_INT(ws_open_stream(p.c, 12), MACULA_ERR_STATE);
    ws_exchange_streams(p.c, p.s);
    /* The server: GOODBYE as a frame, FIN on 4 and 8 (STREAM_CLOSED FIN). */
    const ws_event *e = stream_event(p.s, MACULA_EVENT_STREAM_CLOSED, 4);
    CHECK(e && e->end == MACULA_STREAM_END_FIN);
    /* Late inbound on a stream while draining is dropped. */
    CHECK(ws_has_diag(p.c, "reason=during_drain"));
    CHECK_EQ_INT(ws_count_on(p.c, MACULA_EVENT_FRAME, 4), 0);
    ws_advance(p.c, 6 * WS_SEC);
    CHECK(ws_ended_with(p.c, MACULA_DISC_DRAINED));
    /* 4's FIN from the server came (closed FIN) or not; 8 still open: every
     * stream closed exactly once either way. */
    CHECK_EQ_INT(ws_count_on(p.c, MACULA_EVENT_STREAM_CLOSED, 4), 1);
    CHECK_EQ_INT(ws_count_on(p.c, MACULA_EVENT_STREAM_CLOSED, 8), 1);
    CHECK_EQ_INT(stream_event(p.c, MACULA_EVENT_STREAM_CLOSED, 8)->end, MACULA_STREAM_END_CONNECTION);
    /* The server side closes too: its streams end before its DISCONNECTED. */
    ws_close(p.s, "done");
    ws_advance(p.s, 6 * WS_SEC);
    CHECK(ws_ended_with(p.s, MACULA_DISC_DRAINED));
    CHECK_EQ_INT(ws_count_on(p.s, MACULA_EVENT_STREAM_CLOSED, 4), 1);
    CHECK_EQ_INT(ws_count_on(p.s, MACULA_EVENT_STREAM_CLOSED, 8), 1);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

/* Streams the server opens while the client still waits for HELLO are
 * announced, and their frames delivered, after CONNECTED. */
static void test_peer_streams_during_handshake(void)
{
    macula__worker_config cc;
    ws_config(&cc, 0, alice);
    ws_shell *c = ws_new(&cc, "client");
    ws_client_up(c);
    size_t len;
    uint8_t *f = ws_numbered_frame(bob, 3, &len);
    ws_data_on(c, 1, f, len, 0);
    macula_free(f);
    CHECK_EQ_INT(c->n_events, 0);
    macula__worker_config sc;
    ws_config(&sc, 1, bob);
    ws_shell *s = ws_new(&sc, "server");
    ws_start(s);
    ws_stream_opened(s, 0);
    ws_exchange(c, s);
    REQUIRE(c->n_events >= 3);
    CHECK_EQ_INT(c->events[0].type, MACULA_EVENT_CONNECTED);
    CHECK(c->events[1].type == MACULA_EVENT_STREAM_OPENED && c->events[1].stream == 1);
    CHECK(c->events[2].type == MACULA_EVENT_FRAME && c->events[2].stream == 1 &&
          ws_frame_seq(c->events[2].frame) == 3);
    CHECK_EQ_INT(ws_finish(c) + ws_finish(s), 0);
    ws_free(c);
    ws_free(s);
}

/* PROTOCOL.md §6.5: a server sends nothing but its HELLO until the peer
 * acknowledged the HELLO's bytes. */
static void test_hello_flight_hold(void)
{
    pair p = pair_new(0, 1);
    REQUIRE(macula__worker_state(p.s->w) == MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(p.s->watches, 1);
    size_t hello_len = p.s->out_len;
    CHECK_EQ_INT(p.s->watch_offset, hello_len);
    CHECK_EQ_INT(p.s->watch_qid, 0);
    CHECK_EQ_INT(ws_open_stream(p.s, 1), 0);
    for (uint64_t n = 0; n < 50; n++)
        CHECK_EQ_INT(send_on(p.s, bob, MACULA_STREAM_CONTROL, n), 0);
    CHECK_EQ_INT(send_on(p.s, bob, 1, 100), 0);
    CHECK_EQ_INT(ws_finish_stream(p.s, 1), 0);
    /* Held: only the HELLO went out, nothing on the server's stream. */
    CHECK_EQ_INT(p.s->out_len, hello_len);
    CHECK_EQ_INT(p.s->sends, 1);
    CHECK_EQ_INT(ws_sent_count_on(p.s, 1), 0);
    CHECK(ws_qstream_get(p.s, 1) == NULL || ws_qstream_get(p.s, 1)->shutdowns == 0);
    ws_acked(p.s, 0, hello_len - 1); /* not all of it yet */
    CHECK_EQ_INT(p.s->sends, 1);
    ws_send_ready(p.s); /* a SEND_READY does not lift the hold either */
    CHECK_EQ_INT(p.s->sends, 1);
    ws_acked(p.s, 0, hello_len);
    CHECK_EQ_INT(ws_sent_count(p.s), 51);
    CHECK_EQ_INT(ws_sent_count_on(p.s, 1), 1);
    ws_exchange_streams(p.c, p.s);
    uint64_t seq[64];
    size_t n = seqs_on(p.c, MACULA_STREAM_CONTROL, seq, 64);
    CHECK_EQ_INT(n, 50);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(seq[i], i);
    CHECK_EQ_INT(ws_count_on(p.c, MACULA_EVENT_FRAME, 1), 1);
    /* A stray ack later is only a diagnostic. */
    ws_acked(p.s, 0, hello_len);
    CHECK(ws_has_diag(p.s, "event=stream_acked"));
    /* The client holds nothing: it asked for no watch. */
    CHECK_EQ_INT(p.c->watches, 0);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

/* A GOODBYE during the hold waits for the ack too; the drain still ends. */
static void test_hold_then_close(void)
{
    pair p = pair_new(0, 1);
    size_t hello_len = p.s->out_len;
    CHECK_EQ_INT(send_on(p.s, bob, MACULA_STREAM_CONTROL, 1), 0);
    ws_close(p.s, "early");
    CHECK_EQ_INT(p.s->out_len, hello_len);
    ws_acked(p.s, 0, hello_len);
    CHECK_EQ_INT(ws_sent_count(p.s), 3); /* HELLO, the frame, GOODBYE */
    ws_advance(p.s, 6 * WS_SEC);
    CHECK(ws_ended_with(p.s, MACULA_DISC_DRAINED));
    CHECK_EQ_INT(pair_finish(&p), 0);
}

int main(void)
{
    if (ws_identities(&alice, &bob, &mallory) != 0)
        return 1;
    RUN(test_open_both_ways);
    RUN(test_interleaved_three_streams);
    RUN(test_fin);
    RUN(test_reset_with_code);
    RUN(test_cap_exceeded);
    RUN(test_bad_frame_confined);
    RUN(test_would_block_per_stream);
    RUN(test_open_refused);
    RUN(test_peer_vanishes_with_streams_open);
    RUN(test_goodbye_drain_with_streams);
    RUN(test_peer_streams_during_handshake);
    RUN(test_hello_flight_hold);
    RUN(test_hold_then_close);
    ws_identities_free(alice, bob, mallory);
    return tu_summary();
}
