/* SPDX-License-Identifier: Apache-2.0 */
/* The connection worker as a client (PROTOCOL.md §4), sans-I/O with the
 * fake shell: connecting, handshaking against the reference's own HELLO
 * vectors, every client-side disconnect reason, and the hostile inputs. */
#include <string.h>

#include "testutil.h"
#include "peering/handle.h"
#include "support/worker_shell.h"

static macula_identity *alice, *bob, *mallory;

static ws_shell *client(const uint8_t *expected)
{
    macula__worker_config cfg;
    ws_config(&cfg, 0, alice);
    cfg.expected_node_id = expected;
    return ws_new(&cfg, "client");
}

/* A HELLO from bob, changed by `edit` (may be NULL) and signed by `signer`
 * (NULL: unsigned). */
static uint8_t *hello_from_bob(void (*edit)(macula_frame *), const macula_identity *signer, size_t *len)
{
    macula_frame *f = macula_frame_hello(bob, NULL, NULL, 0, 7, 1, -1, 5, NULL);
    if (edit)
        edit(f);
    return ws_wire(f, signer, len);
}

static void test_start_dials(void)
{
    ws_shell *s = client(NULL);
    REQUIRE(s);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_CONNECTING);
    macula__worker_action a;
    CHECK_EQ_INT(macula__worker_poll(s->w, &a), 0); /* nothing before the start */
    ws_start(s);
    CHECK_EQ_INT(s->dials, 1);
    CHECK_EQ_INT(s->timer_armed, 0); /* the dial has its own deadline */
    ws_start(s);                      /* a second start is a stray event */
    CHECK_EQ_INT(s->dials, 1);
    CHECK(ws_has_diag(s, "unexpected_event state=connecting event=start"));
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

static void test_connect_failed(void)
{
    ws_shell *s = client(NULL);
    ws_start(s);
    ws_dial_failed(s, "dial_failed: resolve_failed");
    CHECK(ws_ended_with(s, MACULA_DISC_CONNECT_FAILED));
    CHECK(strcmp(ws_disconnected(s)->detail, "dial_failed: resolve_failed") == 0);
    CHECK_EQ_INT(s->closes, 0); /* nothing left to close */
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);

    /* The transport reporting CLOSED while dialing means the same. */
    s = client(NULL);
    ws_start(s);
    ws_transport_closed(s, "handshake_failed: tls_error");
    CHECK(ws_ended_with(s, MACULA_DISC_CONNECT_FAILED));
    CHECK(strstr(ws_disconnected(s)->detail, "tls_error") != NULL);
    CHECK_EQ_INT(s->closes, 0);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

static void test_handshake_sends_signed_connect(void)
{
    macula__worker_config cfg;
    uint8_t realms[64], station[32];
    memset(realms, 0x11, 32);
    memset(realms + 32, 0x22, 32);
    memset(station, 0x33, 32);
    ws_config(&cfg, 0, alice);
    cfg.realms = realms;
    cfg.n_realms = 2;
    cfg.station_id = station;
    cfg.capabilities = 9;
    ws_shell *s = ws_new(&cfg, "client");
    REQUIRE(s);
    s->open_sid = 4;
    ws_client_up(s);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_HANDSHAKING);
    CHECK_EQ_INT(s->opens, 1);
    CHECK(s->timer_armed && s->timer_deadline == s->now + 30 * WS_SEC);
    CHECK_EQ_INT(ws_sent_count(s), 1);
    macula_frame *f = ws_sent_frame(s, 0, NULL);
    REQUIRE(f);
    CHECK(strcmp(macula_frame_type(f), "connect") == 0);
    CHECK_EQ_INT(macula_frame_verify(f, macula_identity_node_id(alice)), 0);
    const uint8_t *b;
    size_t len;
    CHECK(macula_frame_get_bytes(f, "node_id", &b, &len) == 0 && len == 32 &&
          memcmp(b, macula_identity_node_id(alice), 32) == 0);
    CHECK(macula_frame_get_bytes(f, "station_id", &b, &len) == 0 && len == 32 && memcmp(b, station, 32) == 0);
    uint64_t caps = 0;
    CHECK(macula_frame_get_uint(f, "capabilities", &caps) == 0 && caps == 9);
    const macula_value *r = macula_frame_get(f, "realms");
    CHECK(r && macula_value_count(r) == 2);
    macula_frame_free(f);
    macula_peer_info info;
    macula__worker_get_info(s->w, &info);
    CHECK_EQ_INT(info.frames_out, 1);
    CHECK_EQ_INT(info.bytes_out, s->out_len);
    CHECK_EQ_INT(info.has_node_id, 0);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

/* The reference's own HELLO (bob, accepted) completes our handshake. */
static void test_connected_with_reference_hello(void)
{
    size_t len;
    uint8_t *hello = ws_vector("hello_accepted", &len);
    ws_shell *s = client(NULL);
    ws_client_up(s);
    ws_data(s, hello, len, 0);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_CONNECTED), 1);
    const ws_event *e = &s->events[0];
    CHECK(e->type == MACULA_EVENT_CONNECTED && e->has_node_id &&
          memcmp(e->node_id, macula_identity_node_id(bob), 32) == 0);
    CHECK_EQ_INT(s->timer_armed, 0); /* the handshake timer is cancelled */
    macula_peer_info info;
    macula__worker_get_info(s->w, &info);
    CHECK_EQ_INT(info.state, MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(info.is_server, 0);
    CHECK(info.has_node_id && memcmp(info.node_id, macula_identity_node_id(bob), 32) == 0);
    CHECK(memcmp(info.station_id, macula_identity_node_id(bob), 32) == 0);
    CHECK_EQ_INT(info.capabilities, 7);
    CHECK_EQ_INT(info.n_realms, 1);
    CHECK_EQ_INT(info.frames_in, 1);
    CHECK_EQ_INT(info.bytes_in, len);
    size_t n = 0;
    const uint8_t *realms = macula__worker_peer_realms(s->w, &n);
    CHECK(n == 1 && realms && realms[0] == 0x6c && realms[31] == 0xbf);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(hello);
    ws_free(s);
}

static uint8_t *concat(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, size_t *len)
{
    uint8_t *out = malloc(alen + blen);
    memcpy(out, a, alen);
    memcpy(out + alen, b, blen);
    *len = alen + blen;
    return out;
}

/* HELLO + 3 frames in one read: all three come after CONNECTED, in order
 * (the reference dropped them). Then the same bytes one at a time. */
static void test_frames_in_same_read_as_hello(void)
{
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        size_t len, total = 0;
        uint8_t *buf = ws_vector("hello_accepted", &len);
        total = len;
        for (uint64_t i = 0; i < 3; i++) {
            size_t flen;
            uint8_t *f = ws_numbered_frame(bob, i, &flen);
            uint8_t *n = concat(buf, total, f, flen, &total);
            free(buf);
            macula_free(f);
            buf = n;
        }
        ws_shell *s = client(NULL);
        ws_client_up(s);
        if (bytewise) {
            for (size_t i = 0; i < total; i++)
                ws_data(s, buf + i, 1, 0);
        } else {
            ws_data(s, buf, total, 0);
        }
        CHECK_EQ_INT(s->n_events, 4);
        CHECK(s->events[0].type == MACULA_EVENT_CONNECTED);
        for (size_t i = 1; i < 4 && i < s->n_events; i++) {
            CHECK(s->events[i].type == MACULA_EVENT_FRAME);
            CHECK_EQ_INT(ws_frame_seq(s->events[i].frame), i - 1);
        }
        CHECK_EQ_INT(ws_finish(s), 0);
        free(buf);
        ws_free(s);
    }
}

static void test_refused_by_reference_hello(void)
{
    size_t len;
    uint8_t *hello = ws_vector("hello_refused", &len);
    ws_shell *s = client(NULL);
    ws_client_up(s);
    ws_data(s, hello, len, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_REFUSED));
    CHECK_EQ_INT(ws_disconnected(s)->refusal_code, 3);
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_CONNECTED), 0);
    CHECK_EQ_INT(s->closes, 1);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(hello);
    ws_free(s);

    /* refusal_code null is reported as -1 */
    macula_frame *f = macula_frame_hello(bob, NULL, NULL, 0, 7, 0, -1, 0, NULL);
    uint8_t *w = ws_wire(f, bob, &len);
    s = client(NULL);
    ws_client_up(s);
    ws_data(s, w, len, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_REFUSED));
    CHECK_EQ_INT(ws_disconnected(s)->refusal_code, -1);
    CHECK_EQ_INT(ws_finish(s), 0);
    macula_free(w);
    ws_free(s);
}

static void set_node_id_31(macula_frame *f) { macula_frame_put_bytes(f, "node_id", macula_identity_node_id(bob), 31); }
static void set_accepted_maybe(macula_frame *f) { macula_frame_put_text(f, "accepted", "maybe"); }
static void set_realms_bad(macula_frame *f) { macula_frame_put_bytes(f, "realms", "xx", 2); }
static void set_station_bad(macula_frame *f) { macula_frame_put_uint(f, "station_id", 7); }

static void hello_fails(void (*edit)(macula_frame *), const macula_identity *signer, const char *detail)
{
    size_t len;
    uint8_t *w = hello_from_bob(edit, signer, &len);
    REQUIRE(w);
    ws_shell *s = client(NULL);
    ws_client_up(s);
    ws_data(s, w, len, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_HELLO_VERIFY_FAILED));
    const ws_event *d = ws_disconnected(s);
    if (d && !strstr(d->detail, detail))
        fprintf(stderr, "  detail \"%s\" lacks \"%s\"\n", d->detail, detail);
    CHECK(d && strstr(d->detail, detail));
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_CONNECTED), 0);
    CHECK_EQ_INT(s->closes, 1);
    CHECK_EQ_INT(ws_finish(s), 0);
    macula_free(w);
    ws_free(s);
}

static void test_hello_verify_failed(void)
{
    hello_fails(NULL, NULL, "signature");           /* unsigned */
    hello_fails(NULL, mallory, "does not verify");  /* bob's HELLO signed by another key */
    hello_fails(set_node_id_31, bob, "node_id");    /* 31-byte node id */
    hello_fails(set_accepted_maybe, bob, "accepted");
    hello_fails(set_realms_bad, bob, "realms");
    hello_fails(set_station_bad, bob, "station_id");
}

static void test_unexpected_connect_on_client(void)
{
    size_t len;
    uint8_t *connect = ws_vector("connect_empty_realms", &len);
    ws_shell *s = client(NULL);
    ws_client_up(s);
    ws_data(s, connect, len, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_UNEXPECTED_CONNECT_ON_CLIENT));
    CHECK_EQ_INT(s->closes, 1);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(connect);
    ws_free(s);
}

static void test_stream_open_and_connect_send_failures(void)
{
    ws_shell *s = client(NULL);
    s->open_rc = MACULA_ERR_CONN_CLOSED;
    ws_client_up(s);
    CHECK(ws_ended_with(s, MACULA_DISC_STREAM_OPEN_FAILED));
    CHECK(strstr(ws_disconnected(s)->detail, "connection_closed") != NULL);
    CHECK_EQ_INT(s->closes, 1);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);

    s = client(NULL);
    s->send_rcs[s->n_send_rcs++] = MACULA_ERR_STREAM_CLOSED;
    ws_client_up(s);
    CHECK(ws_ended_with(s, MACULA_DISC_CONNECT_SEND_FAILED));
    CHECK(strstr(ws_disconnected(s)->detail, "stream_closed") != NULL);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

/* A CONNECT the transport cannot take yet stays queued; the handshake
 * goes on and the bytes leave on SEND_READY. */
static void test_connect_would_block(void)
{
    size_t len;
    uint8_t *hello = ws_vector("hello_accepted", &len);
    ws_shell *s = client(NULL);
    s->send_rcs[s->n_send_rcs++] = MACULA_ERR_WOULD_BLOCK;
    ws_client_up(s);
    CHECK_EQ_INT(s->out_len, 0);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_HANDSHAKING);
    ws_send_ready(s);
    CHECK_EQ_INT(ws_sent_count(s), 1);
    ws_data(s, hello, len, 0);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(hello);
    ws_free(s);
}

static void test_closed_during_handshake(void)
{
    ws_shell *s = client(NULL);
    ws_client_up(s);
    ws_transport_closed(s, "peer: code 0 closed");
    CHECK(ws_ended_with(s, MACULA_DISC_CLOSED_DURING_HANDSHAKE));
    CHECK(strcmp(ws_disconnected(s)->detail, "peer: code 0 closed") == 0);
    CHECK_EQ_INT(s->closes, 0); /* already gone */
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);

    s = client(NULL);
    ws_client_up(s);
    ws_reset(s, 42);
    CHECK(ws_ended_with(s, MACULA_DISC_CLOSED_DURING_HANDSHAKE));
    CHECK(strstr(ws_disconnected(s)->detail, "42") != NULL);
    CHECK_EQ_INT(s->closes, 1);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);

    /* the peer finishing its side before HELLO: it can never come */
    s = client(NULL);
    ws_client_up(s);
    ws_data(s, NULL, 0, 1);
    CHECK(ws_ended_with(s, MACULA_DISC_CLOSED_DURING_HANDSHAKE));
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

/* A server that never answers: handshake_timeout at 30 s, not before. */
static void test_handshake_timeout(void)
{
    ws_shell *s = client(NULL);
    ws_client_up(s);
    ws_advance(s, 29 * WS_SEC);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_HANDSHAKING);
    /* a spurious early wake-up re-arms instead of ending */
    macula__worker_on_timer(s->w, s->now);
    ws_run(s);
    CHECK(s->timer_armed && macula__worker_state(s->w) == MACULA_PEER_HANDSHAKING);
    ws_advance(s, WS_SEC);
    CHECK(ws_ended_with(s, MACULA_DISC_HANDSHAKE_TIMEOUT));
    CHECK(ws_has_diag(s, "handshake_timeout"));
    CHECK_EQ_INT(s->closes, 1);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);

    /* a configured timeout */
    macula__worker_config cfg;
    ws_config(&cfg, 0, alice);
    cfg.handshake_timeout_ns = 2 * WS_SEC;
    s = ws_new(&cfg, "client");
    ws_client_up(s);
    ws_advance(s, 2 * WS_SEC);
    CHECK(ws_ended_with(s, MACULA_DISC_HANDSHAKE_TIMEOUT));
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

static void test_close_in_early_states(void)
{
    /* connecting: DISCONNECTED(closed, detail = reason) at once; the dial is aborted */
    ws_shell *s = client(NULL);
    ws_start(s);
    ws_close(s, "bye now");
    CHECK(ws_ended_with(s, MACULA_DISC_CLOSED));
    CHECK(strcmp(ws_disconnected(s)->detail, "bye now") == 0);
    CHECK_EQ_INT(s->closes, 1);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);

    /* handshaking, no reason: "normal"; the handshake timer is cancelled */
    s = client(NULL);
    ws_client_up(s);
    ws_close(s, NULL);
    CHECK(ws_ended_with(s, MACULA_DISC_CLOSED));
    CHECK(strcmp(ws_disconnected(s)->detail, "normal") == 0);
    CHECK_EQ_INT(s->timer_armed, 0);
    CHECK_EQ_INT(s->closes, 1);
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_CONNECTED), 0);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);

    /* before the start signal: nothing to abort */
    s = client(NULL);
    ws_close(s, "never mind");
    CHECK(ws_ended_with(s, MACULA_DISC_CLOSED));
    CHECK_EQ_INT(s->closes, 0);
    CHECK_EQ_INT(s->dials, 0);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

static void test_peer_identity_mismatch(void)
{
    size_t len;
    uint8_t *hello = ws_vector("hello_accepted", &len);
    ws_shell *s = client(macula_identity_node_id(mallory));
    ws_client_up(s);
    ws_data(s, hello, len, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_PEER_IDENTITY_MISMATCH));
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", macula_identity_node_id(bob)[i]);
    CHECK(strstr(ws_disconnected(s)->detail, hex) != NULL);
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_CONNECTED), 0);
    CHECK_EQ_INT(s->closes, 1);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);

    s = client(macula_identity_node_id(bob)); /* the right pin connects */
    ws_client_up(s);
    ws_data(s, hello, len, 0);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
    free(hello);
}

/* Frames before the HELLO are ignored (counted, reported); so is garbage
 * with a sane length; the HELLO after them still connects. */
static void test_frames_before_hello_ignored(void)
{
    size_t hlen, plen, glen;
    uint8_t *hello = ws_vector("hello_accepted", &hlen);
    uint8_t *publish = ws_vector("publish_simple", &plen);
    uint8_t *garbage = tu_unhex("0000000a00112233445566778899", &glen);
    ws_shell *s = client(NULL);
    ws_client_up(s);
    ws_data(s, publish, plen, 0);
    ws_data(s, garbage, glen, 0);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_HANDSHAKING);
    CHECK(ws_has_diag(s, "frame_dropped state=handshaking reason=before_handshake frame_type=publish"));
    CHECK(ws_has_diag(s, "frame_dropped state=handshaking reason=bad_frame wire_len=14"));
    ws_data(s, hello, hlen, 0);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_FRAME), 0);
    macula_peer_info info;
    macula__worker_get_info(s->w, &info);
    CHECK_EQ_INT(info.frames_dropped, 2);
    CHECK_EQ_INT(info.frames_in, 1);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(hello);
    free(publish);
    free(garbage);
    ws_free(s);
}

static void test_send_before_connected_dropped(void)
{
    size_t len;
    uint8_t *f = ws_numbered_frame(alice, 1, &len);
    ws_shell *s = client(NULL);
    CHECK_EQ_INT(ws_send(s, f, len), MACULA_ERR_STATE); /* connecting */
    ws_client_up(s);
    CHECK_EQ_INT(ws_send(s, f, len), MACULA_ERR_STATE); /* handshaking */
    CHECK(ws_has_diag(s, "frame_dropped state=handshaking reason=send_before_connected"));
    CHECK_EQ_INT(ws_sent_count(s), 1); /* the CONNECT only */
    macula_peer_info info;
    macula__worker_get_info(s->w, &info);
    CHECK_EQ_INT(info.frames_dropped, 2);
    CHECK_EQ_INT(ws_finish(s), 0);
    macula_free(f);
    ws_free(s);
}

/* Connected, then hostile bytes: a bad body is skipped, an oversize
 * length (the bogus 4 GiB one, or one byte over the cap) ends it. */
static void test_connected_hostile_lengths(void)
{
    static const char *lengths[] = {"ffffffff", "01000000"};
    for (size_t i = 0; i < 2; i++) {
        size_t hlen, glen, flen, blen;
        uint8_t *hello = ws_vector("hello_accepted", &hlen);
        uint8_t *garbage = tu_unhex("0000000a00112233445566778899", &glen);
        uint8_t *frame = ws_numbered_frame(bob, 7, &flen);
        uint8_t *bogus = tu_unhex(lengths[i], &blen);
        ws_shell *s = client(NULL);
        ws_client_up(s);
        ws_data(s, hello, hlen, 0);
        ws_data(s, garbage, glen, 0);
        ws_data(s, frame, flen, 0); /* the connection survived the bad frame */
        CHECK_EQ_INT(ws_count(s, MACULA_EVENT_FRAME), 1);
        CHECK(ws_has_diag(s, "frame_dropped state=connected reason=bad_frame"));
        for (size_t k = 0; k < blen; k++) /* split: it ends as soon as the 4 bytes are in */
            ws_data(s, bogus + k, 1, 0);
        CHECK(ws_ended_with(s, MACULA_DISC_FRAME_TOO_LARGE));
        CHECK(strstr(ws_disconnected(s)->detail, i == 0 ? "4294967295" : "16777216") != NULL);
        CHECK_EQ_INT(s->closes, 1);
        CHECK(ws_disconnected(s)->has_node_id);
        macula_peer_info info;
        macula__worker_get_info(s->w, &info);
        CHECK_EQ_INT(info.frames_dropped, 1);
        CHECK_EQ_INT(ws_finish(s), 0);
        free(hello);
        free(garbage);
        free(bogus);
        macula_free(frame);
        ws_free(s);
    }

    /* the largest legal length is not an error: it waits for the body */
    size_t hlen;
    uint8_t *hello = ws_vector("hello_accepted", &hlen);
    static const uint8_t max_len[] = {0x00, 0xff, 0xff, 0xff, 0xa0};
    ws_shell *s = client(NULL);
    ws_client_up(s);
    ws_data(s, hello, hlen, 0);
    ws_data(s, max_len, sizeof max_len, 0);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(ws_finish(s), 0);
    free(hello);
    ws_free(s);
}

/* The bogus 4 GiB length before the handshake ends it too. */
static void test_handshaking_too_large(void)
{
    static const uint8_t bogus[] = {0xff, 0xff, 0xff, 0xff, 0x00};
    ws_shell *s = client(NULL);
    ws_client_up(s);
    ws_data(s, bogus, sizeof bogus, 0);
    CHECK(ws_ended_with(s, MACULA_DISC_FRAME_TOO_LARGE));
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

static void test_stray_events_are_diagnosed(void)
{
    ws_shell *s = client(NULL);
    ws_dial_ok(s); /* before the start */
    CHECK(ws_has_diag(s, "unexpected_event state=connecting event=dial_succeeded"));
    ws_start(s);
    ws_data(s, (const uint8_t *)"x", 1, 0); /* no stream yet */
    CHECK(ws_has_diag(s, "unexpected_event state=connecting event=stream_data"));
    ws_stream_opened(s, 1); /* no peer streams before the connection exists */
    CHECK(ws_has_diag(s, "stream_refused state=connecting reason=not_connected"));
    CHECK_EQ_INT(ws_qstream_get(s, 1) ? (int)ws_qstream_get(s, 1)->reset_code : -1, MACULA_STREAM_CODE_REFUSED);
    macula__worker_on_stream_open_result(s->w, s->now, 0, 9); /* no OPEN_STREAM asked */
    ws_run(s);
    CHECK(ws_has_diag(s, "stream_open_result"));
    macula__worker_on_send_result(s->w, s->now, 0); /* no SEND in flight */
    ws_run(s);
    CHECK(ws_has_diag(s, "send_result"));
    macula__worker_on_timer(s->w, s->now); /* no timer armed */
    ws_run(s);
    CHECK(ws_has_diag(s, "timer_not_armed"));
    ws_dial_ok(s);
    ws_data_on(s, 99, (const uint8_t *)"x", 1, 0); /* the peer's unidirectional stream */
    CHECK(ws_has_diag(s, "stream_refused state=handshaking reason=unidirectional"));
    size_t diags = s->n_diags;
    macula__worker_on_stream_reset(s->w, s->now, 99, 1); /* a refused stream's late reset: ignored */
    ws_run(s);
    CHECK_EQ_INT(s->n_diags, diags);
    ws_data_on(s, 4, (const uint8_t *)"x", 1, 0); /* our side's id that we never opened: ignored */
    CHECK_EQ_INT(s->n_diags, diags);
    CHECK_EQ_INT(s->n_events, 0);
    CHECK_EQ_INT(macula__worker_state(s->w), MACULA_PEER_HANDSHAKING);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

static void test_names(void)
{
    macula_peer p = macula__peer_handle(5, 9);
    CHECK_EQ_INT(macula_peer_serial(p), 5);
    CHECK_EQ_INT(macula__peer_slot(p), 9);
    CHECK(macula__peer_handle(6, 9) != p); /* a reused slot gives another handle */
    CHECK_EQ_INT(macula_peer_serial(MACULA_PEER_INVALID), 0);
    CHECK(strcmp(macula_peer_state_name(MACULA_PEER_AWAITING_START), "awaiting_start") == 0);
    CHECK(strcmp(macula_peer_state_name(MACULA_PEER_ENDED), "ended") == 0);
    CHECK(strcmp(macula_peer_state_name((macula_peer_state)99), "unknown") == 0);
    /* every reason has a distinct name */
    for (int a = MACULA_DISC_CONNECT_FAILED; a <= MACULA_DISC_RECV_BUDGET; a++) {
        const char *na = macula_disconnect_reason_name((macula_disconnect_reason)a);
        CHECK(strcmp(na, "unknown") != 0);
        for (int b = a + 1; b <= MACULA_DISC_RECV_BUDGET; b++)
            CHECK(strcmp(na, macula_disconnect_reason_name((macula_disconnect_reason)b)) != 0);
    }
    CHECK(strcmp(macula_disconnect_reason_name(MACULA_DISC_PEER_CLOSED_DURING_DRAIN), "peer_closed_during_drain") == 0);
    CHECK(strcmp(macula_disconnect_reason_name(MACULA_DISC_UNEXPECTED_HELLO_ON_SERVER),
                 "unexpected_hello_on_server") == 0);
}

int main(void)
{
    if (ws_identities(&alice, &bob, &mallory) != 0)
        return 1;
    RUN(test_start_dials);
    RUN(test_connect_failed);
    RUN(test_handshake_sends_signed_connect);
    RUN(test_connected_with_reference_hello);
    RUN(test_frames_in_same_read_as_hello);
    RUN(test_refused_by_reference_hello);
    RUN(test_hello_verify_failed);
    RUN(test_unexpected_connect_on_client);
    RUN(test_stream_open_and_connect_send_failures);
    RUN(test_connect_would_block);
    RUN(test_closed_during_handshake);
    RUN(test_handshake_timeout);
    RUN(test_close_in_early_states);
    RUN(test_peer_identity_mismatch);
    RUN(test_frames_before_hello_ignored);
    RUN(test_send_before_connected_dropped);
    RUN(test_connected_hostile_lengths);
    RUN(test_handshaking_too_large);
    RUN(test_stray_events_are_diagnosed);
    RUN(test_names);
    ws_identities_free(alice, bob, mallory);
    return tu_summary();
}
