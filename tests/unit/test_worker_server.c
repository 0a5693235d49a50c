/* SPDX-License-Identifier: Apache-2.0 */
/* The connection worker as a server (PROTOCOL.md §4), sans-I/O with the
 * fake shell: the start signal and the replay of events that raced it,
 * the reference's CONNECT vectors, every server-side disconnect reason,
 * the refusal path, and hostile clients. */
#include <string.h>

#include "support/vectors.h"
#include "support/worker_shell.h"
#include "testutil.h"

static macula_identity *alice, *bob, *mallory;

static ws_shell *server_with(const uint8_t *expected, int owner)
{
    macula__worker_config cfg;
    ws_config(&cfg, 1, bob);
    cfg.expected_node_id = expected;
    cfg.has_accept_owner = owner;
    return ws_new(&cfg, "server");
}

static ws_shell *server(void) { return server_with(NULL, 1); }

/* A started server whose peer opened stream 0. */
static ws_shell *server_up(void)
{
    ws_shell *s = server();
    ws_start(s);
    ws_stream_opened(s, 0);
    return s;
}

/* Checks the HELLO the server sent first. */
static void check_hello(ws_shell *s, int accepted, int64_t refusal)
{
    macula_frame *f = ws_sent_frame(s, 0, NULL);
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(strcmp(macula_frame_type(f), "hello") == 0);
    CHECK_EQ_INT(macula_frame_verify(f, macula_identity_node_id(bob)), 0);
    const char *acc;
    size_t len;
    CHECK(macula_frame_get_text(f, "accepted", &acc, &len) == 0 && strcmp(acc, accepted ? "true" : "false") == 0);
    uint64_t code = 0;
    if (refusal < 0)
        CHECK(macula_frame_get_uint(f, "refusal_code", &code) != 0);
    else
        CHECK(macula_frame_get_uint(f, "refusal_code", &code) == 0 && code == (uint64_t)refusal);
    CHECK(macula_frame_get_uint(f, "negotiated_capabilities", &code) == 0 && code == 5);
    macula_frame_free(f);
}

static void test_reference_connect(void)
{
    size_t len;
    uint8_t *connect = ws_vector("connect_two_realms", &len);
    ws_shell *s = server_up();
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_HANDSHAKING);
    CHECK(s->timer_armed && s->timer_deadline == s->now + 30 * WS_SEC);
    ws_data(s, connect, len, 0);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(s->timer_armed, 0);
    check_hello(s, 1, -1);
    /* CONNECTED to the handler, then HANDSHAKE_COMPLETE to the owner */
    REQUIRE(s->n_events == 2);
    CHECK(s->events[0].type == MACULA_EVENT_CONNECTED && !s->events[0].to_owner);
    CHECK(s->events[1].type == MACULA_EVENT_HANDSHAKE_COMPLETE && s->events[1].to_owner);
    CHECK(memcmp(s->events[1].node_id, macula_identity_node_id(alice), 32) == 0);
    macula_peer_info info;
    macula__worker_get_info(s->w, &info);
    CHECK(info.is_server && info.has_node_id && memcmp(info.node_id, macula_identity_node_id(alice), 32) == 0);
    CHECK(memcmp(info.station_id, macula_identity_node_id(bob), 32) == 0); /* the vector's station_id */
    CHECK_EQ_INT(info.capabilities, 5);
    CHECK_EQ_INT(info.n_realms, 2);
    CHECK_EQ_INT(info.frames_in, 1);
    CHECK_EQ_INT(info.frames_out, 1);
    size_t n;
    const uint8_t *r = macula__worker_peer_realms(s->w, &n);
    CHECK(n == 2 && r[0] == 0x6c && r[32] == 0xf3);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(connect);
    ws_free(s);
}

/* Everything that happens before the start signal is kept and replayed
 * in order: the stream, CONNECT plus two frames, even the FIN. */
static void test_events_before_start_replayed(void)
{
    size_t clen, f1len, f2len;
    uint8_t *connect = ws_vector("connect_empty_realms", &clen);
    uint8_t *f1 = ws_numbered_frame(alice, 1, &f1len);
    uint8_t *f2 = ws_numbered_frame(alice, 2, &f2len);
    ws_shell *s = server();
    ws_stream_opened(s, 0);
    ws_data(s, connect, 10, 0);
    ws_data(s, connect + 10, clen - 10, 0);
    ws_data(s, f1, f1len, 0);
    ws_data(s, f2, f2len, 1);
    ws_send_ready(s);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_AWAITING_START);
    CHECK_EQ_INT(s->n_events, 0);
    CHECK_EQ_INT(s->n_diags, 0);
    CHECK_EQ_INT(s->sends, 0);
    ws_start(s);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_CONNECTED);
    REQUIRE(s->n_events == 4);
    CHECK(s->events[0].type == MACULA_EVENT_CONNECTED);
    CHECK(s->events[1].type == MACULA_EVENT_HANDSHAKE_COMPLETE);
    CHECK_EQ_INT(ws_frame_seq(s->events[2].frame), 1);
    CHECK_EQ_INT(ws_frame_seq(s->events[3].frame), 2);
    CHECK(ws_has_diag(s, "peer_finished_stream"));
    check_hello(s, 1, -1);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);

    /* the transport closing before the start is replayed too */
    s = server();
    ws_stream_opened(s, 0);
    ws_data(s, connect, clen, 0);
    ws_transport_closed(s, "idle_timeout");
    CHECK_EQ_INT(s->n_events, 0);
    ws_start(s);
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_CONNECTED), 1); /* the CONNECT came first */
    CHECK(ws_ended_with(s, MACULA_DISC_PEER_CLOSED));
    CHECK(strcmp(ws_disconnected(s)->detail, "idle_timeout") == 0);
    CHECK_EQ_INT(s->closes, 0);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);

    s = server();
    ws_transport_closed(s, "peer closed");
    ws_start(s);
    CHECK(ws_ended_with(s, MACULA_DISC_CLOSED_DURING_HANDSHAKE));
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);

    /* a reset before the start, replayed after it */
    s = server();
    ws_stream_opened(s, 0);
    ws_reset(s, 5);
    ws_start(s);
    CHECK(ws_ended_with(s, MACULA_DISC_CLOSED_DURING_HANDSHAKE));
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
    free(connect);
    macula_free(f1);
    macula_free(f2);
}

static void test_backlog_cap(void)
{
    macula__worker_config cfg;
    ws_config(&cfg, 1, bob);
    cfg.backlog_cap = 4096;
    ws_shell *s = ws_new(&cfg, "server");
    uint8_t chunk[1024] = {0};
    for (int i = 0; i < 8 && !s->ends; i++)
        ws_data(s, chunk, sizeof chunk, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_INTERNAL_ERROR));
    CHECK(strstr(ws_disconnected(s)->detail, "before the start") != NULL);
    CHECK_EQ_INT(s->closes, 1);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

static void test_close_awaiting_start(void)
{
    ws_shell *s = server();
    ws_stream_opened(s, 0);
    ws_close(s, "not today");
    CHECK(ws_ended_with(s, MACULA_DISC_CLOSED));
    CHECK(strcmp(ws_disconnected(s)->detail, "not today") == 0);
    CHECK_EQ_INT(s->closes, 1); /* the accepted connection is closed */
    ws_start(s);                /* a late start does nothing */
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

static void test_frames_after_connect_in_order(void)
{
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        size_t clen, total;
        uint8_t *connect = ws_vector("connect_empty_realms", &clen);
        uint8_t *buf = malloc(clen + 8 * 512);
        memcpy(buf, connect, clen);
        total = clen;
        for (uint64_t i = 0; i < 8; i++) {
            size_t flen;
            uint8_t *f = ws_numbered_frame(alice, i, &flen);
            memcpy(buf + total, f, flen);
            total += flen;
            macula_free(f);
        }
        ws_shell *s = server_up();
        if (bytewise)
            for (size_t i = 0; i < total; i++)
                ws_data(s, buf + i, 1, 0);
        else
            ws_data(s, buf, total, 0);
        REQUIRE(s->n_events == 10);
        CHECK(s->events[0].type == MACULA_EVENT_CONNECTED);
        CHECK(s->events[1].type == MACULA_EVENT_HANDSHAKE_COMPLETE);
        for (size_t i = 2; i < 10; i++)
            CHECK_EQ_INT(ws_frame_seq(s->events[i].frame), i - 2);
        macula_peer_info info;
        macula__worker_get_info(s->w, &info);
        CHECK_EQ_INT(info.frames_in, 9);
        CHECK_EQ_INT(info.bytes_in, total);
        CHECK_EQ_INT(ws_finish(s), 0);
        free(connect);
        free(buf);
        ws_free(s);
    }
}

/* --- CONNECT variants that must not verify --- */
static void connect_node_id_31(macula_frame *f) { macula_frame_put_bytes(f, "node_id", macula_identity_node_id(alice), 31); }
static void connect_realm_31(macula_frame *f)
{
    macula_value *a = macula_value_array();
    macula_value_array_append(a, macula_value_bytes("0123456789012345678901234567890", 31));
    macula_frame_put(f, "realms", a);
}
static void connect_realms_text(macula_frame *f) { macula_frame_put_text(f, "realms", "all"); }
static void connect_many_realms(macula_frame *f)
{
    macula_value *a = macula_value_array();
    uint8_t r[32] = {0};
    for (int i = 0; i <= MACULA__WORKER_MAX_REALMS; i++)
        macula_value_array_append(a, macula_value_bytes(r, 32));
    macula_frame_put(f, "realms", a);
}
static void connect_caps_text(macula_frame *f) { macula_frame_put_text(f, "capabilities", "all"); }
static void connect_no_node_id(macula_frame *f) { macula_frame_remove(f, "node_id"); }

static void connect_fails(void (*edit)(macula_frame *), const macula_identity *signer, const char *detail)
{
    macula_frame *f = macula_frame_connect(alice, NULL, NULL, 0, 5, NULL);
    if (edit)
        edit(f);
    size_t len;
    uint8_t *w = ws_wire(f, signer, &len);
    REQUIRE(w);
    ws_shell *s = server_up();
    ws_data(s, w, len, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_CONNECT_VERIFY_FAILED));
    const ws_event *d = ws_disconnected(s);
    if (d && !strstr(d->detail, detail))
        fprintf(stderr, "  detail \"%s\" lacks \"%s\"\n", d->detail, detail);
    CHECK(d && strstr(d->detail, detail));
    CHECK(d && !d->has_node_id);
    CHECK_EQ_INT(s->sends, 0); /* no HELLO */
    CHECK_EQ_INT(s->closes, 1);
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_CONNECTED), 0);
    CHECK_EQ_INT(ws_finish(s), 0);
    macula_free(w);
    ws_free(s);
}

static void test_connect_verify_failed(void)
{
    connect_fails(NULL, NULL, "signature");          /* unsigned */
    connect_fails(NULL, mallory, "does not verify"); /* signed by another key */
    connect_fails(connect_node_id_31, alice, "node_id");
    connect_fails(connect_no_node_id, alice, "node_id");
    connect_fails(connect_realm_31, alice, "realm");
    connect_fails(connect_realms_text, alice, "realms");
    connect_fails(connect_many_realms, alice, "too many realms");
    connect_fails(connect_caps_text, alice, "capabilities");

    /* the reference's tampered CONNECT (one bit of node_id flipped) */
    json *root = vectors_load();
    REQUIRE(root);
    size_t len;
    uint8_t *w = vectors_hex(vectors_find(root, "negative", "verify_tampered_field"), "input_hex", &len);
    json_free(root);
    REQUIRE(w);
    ws_shell *s = server_up();
    ws_data(s, w, len, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_CONNECT_VERIFY_FAILED));
    CHECK_EQ_INT(ws_finish(s), 0);
    free(w);
    ws_free(s);
}

static void test_unexpected_hello_on_server(void)
{
    size_t len;
    uint8_t *hello = ws_vector("hello_accepted", &len);
    ws_shell *s = server_up();
    ws_data(s, hello, len, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_UNEXPECTED_HELLO_ON_SERVER));
    CHECK_EQ_INT(s->closes, 1);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(hello);
    ws_free(s);
}

static void test_hello_send_failed(void)
{
    size_t len;
    uint8_t *connect = ws_vector("connect_empty_realms", &len);
    ws_shell *s = server_up();
    s->send_rcs[s->n_send_rcs++] = MACULA_ERR_CONN_CLOSED;
    ws_data(s, connect, len, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_HELLO_SEND_FAILED));
    CHECK(strstr(ws_disconnected(s)->detail, "connection_closed") != NULL);
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_CONNECTED), 0);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(connect);
    ws_free(s);
}

/* A HELLO the transport cannot take yet is queued: the server connects,
 * and later frames leave after it in order once the transport is ready. */
static void test_hello_would_block(void)
{
    size_t len, flen;
    uint8_t *connect = ws_vector("connect_empty_realms", &len);
    uint8_t *f = ws_numbered_frame(bob, 1, &flen);
    ws_shell *s = server_up();
    s->send_rcs[s->n_send_rcs++] = MACULA_ERR_WOULD_BLOCK;
    ws_data(s, connect, len, 0);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(ws_send(s, f, flen), 0);
    CHECK_EQ_INT(s->out_len, 0);
    CHECK_EQ_INT(macula__worker_queued_bytes(s->w), flen);
    ws_send_ready(s);
    CHECK_EQ_INT(ws_sent_count(s), 2);
    check_hello(s, 1, -1);
    macula_frame *second = ws_sent_frame(s, 1, NULL);
    CHECK_EQ_INT(ws_frame_seq(second), 1);
    macula_frame_free(second);
    CHECK_EQ_INT(macula__worker_queued_bytes(s->w), 0);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(connect);
    macula_free(f);
    ws_free(s);
}

static int refuse_all(void *user, const uint8_t node_id[32], int64_t *code)
{
    (void)node_id;
    *code = *(int64_t *)user;
    return 1;
}

static void test_refusal(void)
{
    for (int peer_closes = 0; peer_closes < 2; peer_closes++) {
        int64_t code = 7;
        macula__worker_config cfg;
        ws_config(&cfg, 1, bob);
        cfg.admit = refuse_all;
        cfg.admit_user = &code;
        cfg.has_accept_owner = 1;
        ws_shell *s = ws_new(&cfg, "server");
        ws_start(s);
        ws_stream_opened(s, 0);
        size_t len;
        uint8_t *connect = ws_vector("connect_empty_realms", &len);
        ws_data(s, connect, len, 0);
        CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_DRAINING);
        check_hello(s, 0, 7);
        CHECK(ws_has_diag(s, "peer_refused"));
        CHECK(s->timer_armed && s->timer_deadline == s->now + 5 * WS_SEC);
        ws_data(s, connect, len, 0); /* late input is ignored */
        CHECK(ws_has_diag(s, "reason=during_drain"));
        if (peer_closes) {
            ws_transport_closed(s, "peer: closed");
        } else {
            ws_advance(s, 4 * WS_SEC);
            CHECK_EQ_INT(s->ends, 0);
            ws_advance(s, WS_SEC);
        }
        CHECK(ws_ended_with(s, MACULA_DISC_REFUSED));
        CHECK_EQ_INT(ws_disconnected(s)->refusal_code, 7);
        CHECK_EQ_INT(ws_count(s, MACULA_EVENT_CONNECTED), 0);
        CHECK_EQ_INT(ws_count(s, MACULA_EVENT_HANDSHAKE_COMPLETE), 0);
        CHECK_EQ_INT(s->closes, peer_closes ? 0 : 1);
        CHECK_EQ_INT(ws_finish(s), 0);
        free(connect);
        ws_free(s);
    }
}

/* A client that never sends CONNECT. */
static void test_handshake_timeout(void)
{
    ws_shell *s = server_up();
    ws_advance(s, 30 * WS_SEC - 1);
    CHECK_EQ_INT(s->ends, 0);
    ws_advance(s, 1);
    CHECK(ws_ended_with(s, MACULA_DISC_HANDSHAKE_TIMEOUT));
    CHECK(strstr(ws_disconnected(s)->detail, "CONNECT") != NULL);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

static void test_identity_mismatch(void)
{
    size_t len;
    uint8_t *connect = ws_vector("connect_empty_realms", &len);
    ws_shell *s = server_with(macula_identity_node_id(mallory), 1);
    ws_start(s);
    ws_stream_opened(s, 0);
    ws_data(s, connect, len, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_PEER_IDENTITY_MISMATCH));
    CHECK_EQ_INT(s->sends, 0);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(connect);
    ws_free(s);
}

static void test_hostile_bytes_before_connect(void)
{
    /* a bogus 4 GiB length */
    static const uint8_t bogus[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    ws_shell *s = server_up();
    ws_data(s, bogus, sizeof bogus, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_FRAME_TOO_LARGE));
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);

    /* text garbage: its first four bytes read as a length over the cap */
    s = server_up();
    ws_data(s, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_FRAME_TOO_LARGE));
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);

    /* small-length garbage is skipped; the CONNECT after it works */
    size_t len, glen;
    uint8_t *connect = ws_vector("connect_empty_realms", &len);
    uint8_t *garbage = tu_unhex("00000003ffffff0000000100", &glen);
    s = server_up();
    ws_data(s, garbage, glen, 0);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_HANDSHAKING);
    ws_data(s, connect, len, 0);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_CONNECTED);
    macula_peer_info info;
    macula__worker_get_info(s->w, &info);
    CHECK_EQ_INT(info.frames_dropped, 2);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(garbage);
    free(connect);
    ws_free(s);

    /* a GOODBYE before CONNECT is just an early frame */
    uint8_t *bye = ws_vector("goodbye_no_detail", &len);
    s = server_up();
    ws_data(s, bye, len, 0);
    CHECK(ws_has_diag(s, "before_handshake frame_type=goodbye"));
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_HANDSHAKING);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(bye);
    ws_free(s);
}

static void test_streams(void)
{
    size_t len;
    uint8_t *connect = ws_vector("connect_empty_realms", &len);
    /* data before the "opened" notice adopts the stream */
    ws_shell *s = server();
    ws_start(s);
    s->open_sid = 8;
    ws_data(s, connect, len, 0);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_CONNECTED);
    /* A second stream is a dedicated stream (PROTOCOL.md §6.2): announced,
     * its frames delivered with its id, the control stream untouched. */
    ws_stream_opened(s, 12);
    CHECK_EQ_INT(ws_count_on(s, MACULA_EVENT_STREAM_OPENED, 12), 1);
    CHECK_EQ_INT(ws_last(s)->origin, MACULA_STREAM_BY_PEER);
    ws_data_on(s, 12, connect, len, 0);
    CHECK_EQ_INT(ws_count_on(s, MACULA_EVENT_FRAME, 12), 1);
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_FRAME), 1);
    ws_reset(s, 3); /* the control stream reset: the peer is gone, and so is stream 12 */
    CHECK(ws_ended_with(s, MACULA_DISC_PEER_CLOSED));
    CHECK_EQ_INT(ws_count_on(s, MACULA_EVENT_STREAM_CLOSED, 12), 1);
    CHECK_EQ_INT(s->events[s->n_events - 2].type, MACULA_EVENT_STREAM_CLOSED);
    CHECK_EQ_INT(s->events[s->n_events - 2].end, MACULA_STREAM_END_CONNECTION);
    CHECK_EQ_INT(s->closes, 1);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(connect);
    ws_free(s);
}

int main(void)
{
    if (ws_identities(&alice, &bob, &mallory) != 0)
        return 1;
    RUN(test_reference_connect);
    RUN(test_events_before_start_replayed);
    RUN(test_backlog_cap);
    RUN(test_close_awaiting_start);
    RUN(test_frames_after_connect_in_order);
    RUN(test_connect_verify_failed);
    RUN(test_unexpected_hello_on_server);
    RUN(test_hello_send_failed);
    RUN(test_hello_would_block);
    RUN(test_refusal);
    RUN(test_handshake_timeout);
    RUN(test_identity_mismatch);
    RUN(test_hostile_bytes_before_connect);
    RUN(test_streams);
    ws_identities_free(alice, bob, mallory);
    return tu_summary();
}
