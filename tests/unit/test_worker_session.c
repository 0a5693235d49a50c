/* SPDX-License-Identifier: Apache-2.0 */
/* Two workers talking to each other through the fake shell (client alice,
 * server bob): the handshake end to end, frames both ways in order,
 * backpressure, the send-queue cap, GOODBYE + drain, peer_closed,
 * peer_closed_during_drain, close idempotence and re-entrant close. */
#include <string.h>

#include "support/worker_shell.h"
#include "testutil.h"

static macula_identity *alice, *bob, *mallory;

typedef struct pair {
    ws_shell *c, *s;
} pair;

static pair pair_new(size_t send_queue_cap)
{
    macula__worker_config cc, sc;
    ws_config(&cc, 0, alice);
    ws_config(&sc, 1, bob);
    cc.send_queue_cap = sc.send_queue_cap = send_queue_cap;
    cc.expected_node_id = macula_identity_node_id(bob);
    sc.has_accept_owner = 1;
    pair p = {ws_new(&cc, "client"), ws_new(&sc, "server")};
    return p;
}

/* Dial, start both, exchange CONNECT / HELLO. */
static pair pair_connected(size_t send_queue_cap)
{
    pair p = pair_new(send_queue_cap);
    ws_client_up(p.c);
    ws_start(p.s);
    ws_stream_opened(p.s, 0);
    ws_exchange(p.c, p.s);
    return p;
}

/* Both ends' counters; what one end sent, the other received, byte for
 * byte. */
static void pair_infos(pair *p, macula_peer_info *ci, macula_peer_info *si)
{
    macula__worker_get_info(p->c->w, ci);
    macula__worker_get_info(p->s->w, si);
    CHECK_EQ_INT(ci->bytes_out, si->bytes_in);
    CHECK_EQ_INT(si->bytes_out, ci->bytes_in);
}

static int pair_finish(pair *p)
{
    int problems = ws_finish(p->c) + ws_finish(p->s);
    ws_free(p->c);
    ws_free(p->s);
    return problems;
}

static int send_numbered(ws_shell *s, const macula_identity *id, uint64_t n)
{
    size_t len;
    uint8_t *f = ws_numbered_frame(id, n, &len);
    int rc = ws_send(s, f, len);
    macula_free(f);
    return rc;
}

static void test_handshake_end_to_end(void)
{
    pair p = pair_connected(0);
    CHECK_EQ_INT(macula__worker_state(p.c->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(macula__worker_state(p.s->w), MACULA_PEER_CONNECTED);
    REQUIRE(p.c->n_events == 1 && p.s->n_events == 2);
    CHECK(memcmp(p.c->events[0].node_id, macula_identity_node_id(bob), 32) == 0);
    CHECK(memcmp(p.s->events[0].node_id, macula_identity_node_id(alice), 32) == 0);
    CHECK(p.s->events[1].type == MACULA_EVENT_HANDSHAKE_COMPLETE);
    macula_peer_info ci, si;
    pair_infos(&p, &ci, &si);
    CHECK_EQ_INT(ci.frames_out, 1);
    CHECK_EQ_INT(ci.frames_in, 1);
    CHECK_EQ_INT(ci.capabilities, 5);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

static void test_frames_both_ways_in_order(void)
{
    pair p = pair_connected(0);
    for (uint64_t i = 0; i < 200; i++) {
        CHECK_EQ_INT(send_numbered(p.c, alice, i), 0);
        CHECK_EQ_INT(send_numbered(p.s, bob, 1000 + i), 0);
        if (i % 7 == 0)
            ws_exchange(p.c, p.s);
    }
    ws_exchange(p.c, p.s);
    CHECK_EQ_INT(ws_count(p.s, MACULA_EVENT_FRAME), 200);
    CHECK_EQ_INT(ws_count(p.c, MACULA_EVENT_FRAME), 200);
    uint64_t want_s = 0, want_c = 1000;
    for (size_t i = 0; i < p.s->n_events; i++)
        if (p.s->events[i].type == MACULA_EVENT_FRAME) {
            CHECK_EQ_INT(ws_frame_seq(p.s->events[i].frame), want_s);
            CHECK(macula_frame_verify(p.s->events[i].frame, macula_identity_node_id(alice)) == 0);
            want_s++;
        }
    for (size_t i = 0; i < p.c->n_events; i++)
        if (p.c->events[i].type == MACULA_EVENT_FRAME)
            CHECK_EQ_INT(ws_frame_seq(p.c->events[i].frame), want_c++);
    macula_peer_info ci, si;
    pair_infos(&p, &ci, &si);
    CHECK_EQ_INT(ci.frames_out, 201);
    CHECK_EQ_INT(si.frames_in, 201);
    CHECK_EQ_INT(ci.frames_dropped + si.frames_dropped, 0);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

/* "Would block" keeps frames queued in order; SEND_READY flushes them;
 * nothing is lost or reordered, however the transport stutters. */
static void test_backpressure_keeps_order(void)
{
    pair p = pair_connected(0);
    for (int i = 0; i < 30; i++) /* every other send stalls */
        p.c->send_rcs[p.c->n_send_rcs++] = (i % 2) ? 0 : MACULA_ERR_WOULD_BLOCK;
    for (uint64_t i = 0; i < 50; i++) {
        CHECK_EQ_INT(send_numbered(p.c, alice, i), 0);
        if (i % 3 == 0)
            ws_send_ready(p.c);
    }
    for (int i = 0; i < 60; i++)
        ws_send_ready(p.c);
    CHECK_EQ_INT(macula__worker_queued_bytes(p.c->w), 0);
    ws_exchange(p.c, p.s);
    CHECK_EQ_INT(ws_count(p.s, MACULA_EVENT_FRAME), 50);
    uint64_t want = 0;
    for (size_t i = 0; i < p.s->n_events; i++)
        if (p.s->events[i].type == MACULA_EVENT_FRAME)
            CHECK_EQ_INT(ws_frame_seq(p.s->events[i].frame), want++);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

static void test_send_queue_cap(void)
{
    size_t flen;
    uint8_t *f = ws_numbered_frame(alice, 1, &flen);
    pair p = pair_connected(3 * flen);
    p.c->send_rcs[p.c->n_send_rcs++] = MACULA_ERR_WOULD_BLOCK; /* the transport is full */
    CHECK_EQ_INT(ws_send(p.c, f, flen), 0);
    CHECK_EQ_INT(ws_send(p.c, f, flen), 0);
    CHECK_EQ_INT(ws_send(p.c, f, flen), 0);
    CHECK_EQ_INT(ws_send(p.c, f, flen), MACULA_ERR_QUEUE_FULL);
    CHECK(ws_has_diag(p.c, "reason=send_queue_full"));
    CHECK_EQ_INT(macula__worker_queued_bytes(p.c->w), 3 * flen);
    ws_send_ready(p.c);
    CHECK_EQ_INT(macula__worker_queued_bytes(p.c->w), 0);
    CHECK_EQ_INT(ws_send(p.c, f, flen), 0); /* room again */
    macula_peer_info ci;
    macula__worker_get_info(p.c->w, &ci);
    CHECK_EQ_INT(ci.frames_dropped, 1);
    CHECK_EQ_INT(ci.frames_out, 5);
    CHECK_EQ_INT(pair_finish(&p), 0);
    macula_free(f);
}

/* close(): GOODBYE with the reason reaches the peer as an ordinary frame,
 * the closer drains 5 s, ignores late input, closes, reports drained. */
static void test_goodbye_and_drain(void)
{
    pair p = pair_connected(0);
    CHECK_EQ_INT(send_numbered(p.c, alice, 1), 0);
    ws_close(p.c, "shutting down");
    CHECK_EQ_INT(macula__worker_state(p.c->w), MACULA_PEER_DRAINING);
    CHECK(p.c->timer_armed && p.c->timer_deadline == p.c->now + 5 * WS_SEC);
    ws_close(p.c, "again"); /* close while draining does nothing */
    ws_close(p.c, NULL);
    CHECK_EQ_INT(send_numbered(p.c, alice, 2), MACULA_ERR_STATE);
    CHECK(ws_has_diag(p.c, "reason=send_while_draining"));
    ws_exchange(p.c, p.s);
    /* the server got the frame, then the GOODBYE as a frame */
    REQUIRE(ws_count(p.s, MACULA_EVENT_FRAME) == 2);
    const ws_event *bye = ws_last(p.s);
    CHECK(strcmp(macula_frame_type(bye->frame), "goodbye") == 0);
    const char *reason;
    size_t rlen;
    CHECK(macula_frame_get_text(bye->frame, "reason", &reason, &rlen) == 0 && strcmp(reason, "shutting down") == 0);
    CHECK(macula_frame_verify(bye->frame, macula_identity_node_id(alice)) == 0);
    CHECK_EQ_INT(ws_sent_count(p.c), 3); /* CONNECT, frame, one GOODBYE */
    /* the server answers: frames and its own GOODBYE are late input for the client */
    CHECK_EQ_INT(send_numbered(p.s, bob, 9), 0);
    ws_close(p.s, "bye too");
    ws_exchange(p.c, p.s);
    CHECK_EQ_INT(ws_count(p.c, MACULA_EVENT_FRAME), 0);
    CHECK(ws_has_diag(p.c, "frame_dropped state=draining reason=during_drain frame_type=publish"));
    CHECK(ws_has_diag(p.c, "frame_dropped state=draining reason=during_drain frame_type=goodbye"));
    ws_advance(p.c, 5 * WS_SEC - 1);
    CHECK_EQ_INT(p.c->ends, 0);
    ws_advance(p.c, 1);
    CHECK(ws_ended_with(p.c, MACULA_DISC_DRAINED));
    CHECK_EQ_INT(p.c->closes, 1);
    CHECK(ws_disconnected(p.c)->has_node_id);
    macula_peer_info ci;
    macula__worker_get_info(p.c->w, &ci);
    CHECK_EQ_INT(ci.frames_dropped, 3); /* the refused send and two late frames */
    /* the client's transport is gone: the server hears it while draining */
    ws_transport_closed(p.s, "peer: code 0 closed");
    CHECK(ws_ended_with(p.s, MACULA_DISC_PEER_CLOSED_DURING_DRAIN));
    CHECK_EQ_INT(p.s->closes, 0);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

/* Frames held back by backpressure at close(): the drain clock starts when
 * the GOODBYE reaches the transport, so they still get their full drain;
 * when the GOODBYE never gets out, the deadline armed at close ends it. */
static void test_drain_runs_from_goodbye_send(void)
{
    pair p = pair_connected(0);
    p.c->send_rcs[p.c->n_send_rcs++] = MACULA_ERR_WOULD_BLOCK; /* the transport is full */
    CHECK_EQ_INT(send_numbered(p.c, alice, 1), 0);
    ws_close(p.c, "done");
    uint64_t closed_at = p.c->now;
    CHECK(p.c->timer_armed && p.c->timer_deadline == closed_at + 5 * WS_SEC);
    ws_advance(p.c, 3 * WS_SEC); /* the transport frees up 3 s later */
    ws_send_ready(p.c);
    CHECK(p.c->timer_armed && p.c->timer_deadline == closed_at + 8 * WS_SEC);
    ws_exchange(p.c, p.s);
    CHECK_EQ_INT(ws_count(p.s, MACULA_EVENT_FRAME), 2); /* the frame, then GOODBYE */
    ws_advance(p.c, 5 * WS_SEC - 1);
    CHECK_EQ_INT(p.c->ends, 0);
    ws_advance(p.c, 1);
    CHECK(ws_ended_with(p.c, MACULA_DISC_DRAINED));
    CHECK_EQ_INT(pair_finish(&p), 0);

    pair q = pair_connected(0);
    q.c->send_rcs[q.c->n_send_rcs++] = MACULA_ERR_WOULD_BLOCK; /* and it never frees up */
    CHECK_EQ_INT(send_numbered(q.c, alice, 1), 0);
    ws_close(q.c, "done");
    ws_advance(q.c, 5 * WS_SEC);
    CHECK(ws_ended_with(q.c, MACULA_DISC_DRAINED));
    CHECK_EQ_INT(pair_finish(&q), 0);
}

static void test_peer_closed(void)
{
    pair p = pair_connected(0);
    ws_transport_closed(p.s, "peer: code 0 closed");
    CHECK(ws_ended_with(p.s, MACULA_DISC_PEER_CLOSED));
    CHECK(strcmp(ws_disconnected(p.s)->detail, "peer: code 0 closed") == 0);
    CHECK(ws_disconnected(p.s)->has_node_id);
    CHECK_EQ_INT(p.s->closes, 0);
    /* a failed send while connected means the peer is gone too */
    p.c->send_rcs[p.c->n_send_rcs++] = MACULA_ERR_STREAM_CLOSED;
    CHECK_EQ_INT(send_numbered(p.c, alice, 1), 0);
    CHECK(ws_ended_with(p.c, MACULA_DISC_PEER_CLOSED));
    CHECK(strstr(ws_disconnected(p.c)->detail, "stream_closed") != NULL);
    CHECK_EQ_INT(p.c->closes, 1);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

static void test_peer_closed_during_drain(void)
{
    pair p = pair_connected(0);
    ws_close(p.c, NULL);
    ws_transport_closed(p.c, "peer: code 0 closed");
    CHECK(ws_ended_with(p.c, MACULA_DISC_PEER_CLOSED_DURING_DRAIN));
    CHECK_EQ_INT(p.c->timer_armed, 0);
    CHECK_EQ_INT(p.c->closes, 0);
    ws_close(p.s, NULL);
    ws_reset(p.s, 0); /* a stream reset while draining counts the same */
    CHECK(ws_ended_with(p.s, MACULA_DISC_PEER_CLOSED_DURING_DRAIN));
    CHECK_EQ_INT(pair_finish(&p), 0);

    /* a GOODBYE the transport refuses: the peer is gone */
    p = pair_connected(0);
    p.c->send_rcs[p.c->n_send_rcs++] = MACULA_ERR_CONN_CLOSED;
    ws_close(p.c, NULL);
    CHECK(ws_ended_with(p.c, MACULA_DISC_PEER_CLOSED_DURING_DRAIN));
    CHECK_EQ_INT(pair_finish(&p), 0);
}

/* Frames still queued when the drain ends are counted as dropped. */
static void test_unsent_at_end_counted(void)
{
    pair p = pair_connected(0);
    p.c->send_rcs[p.c->n_send_rcs++] = MACULA_ERR_WOULD_BLOCK;
    for (uint64_t i = 0; i < 4; i++)
        CHECK_EQ_INT(send_numbered(p.c, alice, i), 0);
    ws_close(p.c, NULL);
    ws_advance(p.c, 5 * WS_SEC);
    CHECK(ws_ended_with(p.c, MACULA_DISC_DRAINED));
    CHECK(ws_has_diag(p.c, "reason=unsent_at_end frames=5"));
    macula_peer_info ci;
    macula__worker_get_info(p.c->w, &ci);
    CHECK_EQ_INT(ci.frames_dropped, 5); /* four frames and the GOODBYE */
    CHECK_EQ_INT(pair_finish(&p), 0);
}

/* A handler may close the peer from inside its CONNECTED callback. */
static void test_close_from_handler(void)
{
    pair p = pair_new(0);
    p.s->close_on_event = MACULA_EVENT_CONNECTED;
    p.s->close_on_event_reason = "not wanted";
    ws_client_up(p.c);
    ws_start(p.s);
    ws_stream_opened(p.s, 0);
    ws_exchange(p.c, p.s);
    CHECK_EQ_INT(macula__worker_state(p.s->w), MACULA_PEER_DRAINING);
    /* HANDSHAKE_COMPLETE still follows CONNECTED */
    CHECK(p.s->n_events == 2 && p.s->events[1].type == MACULA_EVENT_HANDSHAKE_COMPLETE);
    const ws_event *bye = ws_last(p.c);
    CHECK(bye && bye->type == MACULA_EVENT_FRAME && strcmp(macula_frame_type(bye->frame), "goodbye") == 0);
    ws_advance(p.s, 5 * WS_SEC);
    CHECK(ws_ended_with(p.s, MACULA_DISC_DRAINED));
    CHECK_EQ_INT(pair_finish(&p), 0);
}

/* A FIN from the peer while connected keeps our side usable. */
static void test_peer_fin_while_connected(void)
{
    pair p = pair_connected(0);
    static const uint8_t partial[] = {0, 0, 0, 9, 0xa1};
    ws_data(p.s, partial, sizeof partial, 1);
    CHECK(ws_has_diag(p.s, "reason=truncated_at_fin"));
    CHECK(ws_has_diag(p.s, "peer_finished_stream"));
    CHECK_EQ_INT(macula__worker_state(p.s->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(send_numbered(p.s, bob, 3), 0);
    ws_exchange(p.c, p.s);
    CHECK_EQ_INT(ws_count(p.c, MACULA_EVENT_FRAME), 1);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

/* Batching: small frames queued behind a stalled SEND go out as few SENDs
 * (at most 32 KiB each, a large frame alone), and the peer still gets
 * every frame, whole and in order; a batch refused with "would block"
 * stays queued and goes out after SEND_READY. */
static void test_small_frames_batched(void)
{
    pair p = pair_connected(0);
    p.c->send_rcs[p.c->n_send_rcs++] = MACULA_ERR_WOULD_BLOCK; /* the first frame stalls */
    int sends0 = p.c->sends;
    size_t big_len = 0;
    macula_frame *bf = macula_frame_new("publish", NULL);
    REQUIRE(bf);
    static uint8_t payload[20000];
    macula_frame_put_uint(bf, "seq", 40);
    macula_frame_put_bytes(bf, "payload", payload, sizeof payload);
    uint8_t *big = ws_wire(bf, alice, &big_len);
    REQUIRE(big);
    uint64_t seq = 0;
    for (; seq < 40; seq++)
        CHECK_EQ_INT(send_numbered(p.c, alice, seq), 0);
    CHECK_EQ_INT(ws_send(p.c, big, big_len), 0);
    seq++;
    for (; seq < 300; seq++)
        CHECK_EQ_INT(send_numbered(p.c, alice, seq), 0);
    CHECK_EQ_INT(p.c->sends - sends0, 1); /* only the stalled one so far */
    p.c->send_rcs[p.c->n_send_rcs++] = MACULA_ERR_WOULD_BLOCK; /* and the first batch too */
    ws_send_ready(p.c);
    ws_send_ready(p.c);
    CHECK_EQ_INT(macula__worker_queued_bytes(p.c->w), 0);
    int sends = p.c->sends - sends0;
    CHECK(sends >= 4 && sends < 20); /* 300 frames of ~100 B: a few batches, the big one alone */
    ws_exchange(p.c, p.s);
    CHECK_EQ_INT(ws_count(p.s, MACULA_EVENT_FRAME), 300);
    uint64_t want = 0;
    for (size_t i = 0; i < p.s->n_events; i++)
        if (p.s->events[i].type == MACULA_EVENT_FRAME) {
            CHECK_EQ_INT(ws_frame_seq(p.s->events[i].frame), want);
            if (want == 40)
                CHECK_EQ_INT(p.s->events[i].wire_len, big_len);
            want++;
        }
    macula_peer_info ci, si;
    pair_infos(&p, &ci, &si);
    CHECK_EQ_INT(ci.frames_out, 301);
    CHECK_EQ_INT(si.frames_in, 301);
    macula_free(big);
    CHECK_EQ_INT(pair_finish(&p), 0);
}

int main(void)
{
    if (ws_identities(&alice, &bob, &mallory) != 0)
        return 1;
    RUN(test_handshake_end_to_end);
    RUN(test_frames_both_ways_in_order);
    RUN(test_backpressure_keeps_order);
    RUN(test_send_queue_cap);
    RUN(test_goodbye_and_drain);
    RUN(test_drain_runs_from_goodbye_send);
    RUN(test_peer_closed);
    RUN(test_peer_closed_during_drain);
    RUN(test_unsent_at_end_counted);
    RUN(test_close_from_handler);
    RUN(test_peer_fin_while_connected);
    RUN(test_small_frames_batched);
    ws_identities_free(alice, bob, mallory);
    return tu_summary();
}
