/* SPDX-License-Identifier: Apache-2.0 */
/* The relay-station behaviour of PROTOCOL.md §6.5, sans-I/O with the fake
 * shell: a station worker answers a 10.0.0 client's "_macula.ping" CALL
 * with a signed ERROR unknown_next_peer carrying the same call_id (and
 * still delivers the CALL); nothing else is answered, nor by a worker that
 * is not a station; the answer obeys the send-queue cap. Also the ERROR
 * code names against every ERROR frame of the public vectors. */
#include <string.h>

#include "support/json.h"
#include "support/vectors.h"
#include "support/worker_shell.h"
#include "testutil.h"

static macula_identity *alice, *bob, *mallory;
static json *v10;

static const uint8_t call_id_16[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11};

/* The 10.0.0 "call" vector (procedure rig.echo, call_id 00..11) with
 * `procedure` replaced (as bytes, or as text when as_text) and re-signed
 * by alice; call_id replaced when `call_id` is non-NULL (call_id_len 0
 * removes it). malloc'd wire. */
static uint8_t *v10_call(const char *procedure, int as_text, const uint8_t *call_id, size_t call_id_len,
                         size_t *len)
{
    const json *vec = NULL;
    const json *all = json_get(v10, "vectors");
    for (size_t i = 0; all && i < all->count; i++)
        if (!strcmp(json_str(json_at(all, i), "name"), "call"))
            vec = json_at(all, i);
    if (!vec)
        return NULL;
    size_t wlen = 0;
    uint8_t *wire = vectors_hex(vec, "wire_hex", &wlen);
    macula_frame *f = NULL;
    if (!wire || macula_frame_decode(wire, wlen, &f, NULL, NULL) != 0) {
        free(wire);
        return NULL;
    }
    free(wire);
    if (procedure)
        as_text ? macula_frame_put_text(f, "procedure", procedure)
                : macula_frame_put_bytes(f, "procedure", procedure, strlen(procedure));
    if (call_id && call_id_len)
        macula_frame_put_bytes(f, "call_id", call_id, call_id_len);
    else if (call_id)
        macula_frame_remove(f, "call_id");
    return ws_wire(f, alice, len);
}

static uint8_t *ping(size_t *len) { return v10_call(MACULA_STATION_PING_PROCEDURE, 0, NULL, 0, len); }

/* A server worker (bob) connected to alice; station as given. */
static ws_shell *connected_server(int station, size_t send_queue_cap)
{
    macula__worker_config cfg;
    ws_config(&cfg, 1, bob);
    cfg.station = station;
    cfg.send_queue_cap = send_queue_cap;
    ws_shell *s = ws_new(&cfg, "station");
    ws_start(s);
    ws_stream_opened(s, 0);
    size_t len;
    uint8_t *connect = ws_vector("connect_empty_realms", &len);
    ws_data(s, connect, len, 0);
    free(connect);
    return s;
}

/* Checks that frame #index sent is the ERROR answer to call_id. */
static void check_answer(const ws_shell *s, size_t index, const uint8_t *call_id, size_t call_id_len)
{
    size_t wire_len = 0;
    macula_frame *e = ws_sent_frame(s, index, &wire_len);
    REQUIRE(e != NULL);
    CHECK(strcmp(macula_frame_type(e), "error") == 0);
    CHECK_EQ_INT(macula_frame_verify(e, macula_identity_node_id(bob)), 0);
    uint64_t code = 0;
    CHECK(macula_frame_get_uint(e, "code", &code) == 0 && code == 1);
    const char *name = NULL;
    size_t n = 0;
    CHECK(macula_frame_get_text(e, "name", &name, &n) == 0 && n == 17 && !memcmp(name, "unknown_next_peer", 17));
    const uint8_t *b = NULL;
    CHECK(macula_frame_get_bytes(e, "call_id", &b, &n) == 0 && n == call_id_len && !memcmp(b, call_id, n));
    CHECK(macula_frame_get_bytes(e, "reported_by", &b, &n) == 0 && n == 32 &&
          !memcmp(b, macula_identity_node_id(bob), 32));
    /* the rest of the 10.0.0 ERROR field set */
    static const char *const keys[] = {"realm", "detail", "version", "frame_id", "sent_at_ms", "capabilities",
                                       "source_route", "offending_hop", "source_route_partial", "signature"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        CHECK(macula_frame_get(e, keys[i]) != NULL);
    CHECK_EQ_INT(macula_value_count(macula_frame_map(e)), 15);
    macula_frame_free(e);
}

static void test_ping_answered(void)
{
    ws_shell *s = connected_server(1, 0);
    REQUIRE(macula__worker_state(s->w) == MACULA_PEER_CONNECTED);
    size_t sent_before = ws_sent_count(s); /* the HELLO */
    size_t len;
    uint8_t *p = ping(&len);
    REQUIRE(p != NULL);
    ws_data(s, p, len, 0);
    CHECK_EQ_INT(ws_sent_count(s), sent_before + 1);
    check_answer(s, sent_before, call_id_16, sizeof call_id_16);
    /* the CALL is still the application's */
    const ws_event *ev = ws_last(s);
    CHECK(ev->type == MACULA_EVENT_FRAME && ev->frame && !strcmp(macula_frame_type(ev->frame), "call"));
    macula_peer_info info;
    macula__worker_get_info(s->w, &info);
    CHECK_EQ_INT(info.frames_out, 2); /* HELLO + ERROR */
    CHECK_EQ_INT(info.frames_dropped, 0);
    /* every probe gets its answer (two in one read) */
    uint8_t *two = malloc(2 * len);
    REQUIRE(two != NULL);
    memcpy(two, p, len);
    memcpy(two + len, p, len);
    ws_data(s, two, 2 * len, 0);
    CHECK_EQ_INT(ws_sent_count(s), sent_before + 3);
    check_answer(s, sent_before + 2, call_id_16, sizeof call_id_16);
    free(two);
    free(p);
    /* procedure as text, another call_id */
    static const uint8_t other_id[3] = {7, 8, 9};
    p = v10_call(MACULA_STATION_PING_PROCEDURE, 1, other_id, sizeof other_id, &len);
    REQUIRE(p != NULL);
    ws_data(s, p, len, 0);
    CHECK_EQ_INT(ws_sent_count(s), sent_before + 4);
    check_answer(s, sent_before + 3, other_id, sizeof other_id);
    free(p);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

/* What is not a probe gets no answer, and is delivered as usual. */
static void test_not_a_ping(void)
{
    ws_shell *s = connected_server(1, 0);
    size_t sent_before = ws_sent_count(s), n_frames = 0, len;
    uint8_t big_id[65];
    memset(big_id, 0xab, sizeof big_id);
    uint8_t *frames[] = {
        v10_call(NULL, 0, NULL, 0, &len),                                       /* rig.echo */
        v10_call("_macula.pin", 0, NULL, 0, &len),                              /* a prefix */
        v10_call("_macula.pingx", 0, NULL, 0, &len),                            /* longer */
        v10_call(MACULA_STATION_PING_PROCEDURE, 0, call_id_16, 0, &len),        /* no call_id */
        v10_call(MACULA_STATION_PING_PROCEDURE, 0, big_id, sizeof big_id, &len) /* call_id > 64 bytes */
    };
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        REQUIRE(frames[i] != NULL);
        size_t flen = ((size_t)frames[i][0] << 24 | (size_t)frames[i][1] << 16 | (size_t)frames[i][2] << 8 |
                       frames[i][3]) + 4;
        ws_data(s, frames[i], flen, 0);
        free(frames[i]);
        n_frames++;
    }
    /* a frame that is not a CALL but names the procedure */
    int err = 0;
    macula_frame *f = macula_frame_new("cast", &err);
    REQUIRE(f != NULL);
    macula_frame_put_bytes(f, "procedure", MACULA_STATION_PING_PROCEDURE, 12);
    macula_frame_put_bytes(f, "call_id", call_id_16, sizeof call_id_16);
    uint8_t *cast = ws_wire(f, alice, &len);
    REQUIRE(cast != NULL);
    ws_data(s, cast, len, 0);
    macula_free(cast);
    n_frames++;
    CHECK_EQ_INT(ws_sent_count(s), sent_before);
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_FRAME), n_frames);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

/* A worker that is not a station delivers the probe and answers nothing. */
static void test_not_a_station(void)
{
    ws_shell *s = connected_server(0, 0);
    size_t sent_before = ws_sent_count(s), len;
    uint8_t *p = ping(&len);
    REQUIRE(p != NULL);
    ws_data(s, p, len, 0);
    free(p);
    CHECK_EQ_INT(ws_sent_count(s), sent_before);
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_FRAME), 1);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

/* A client that is a station answers too (the option is per connection). */
static void test_client_station(void)
{
    macula__worker_config cc, sc;
    ws_config(&cc, 0, alice);
    cc.station = 1;
    ws_config(&sc, 1, bob);
    ws_shell *c = ws_new(&cc, "client-station"), *s = ws_new(&sc, "server");
    ws_client_up(c);
    ws_start(s);
    ws_stream_opened(s, 0);
    ws_exchange(c, s);
    REQUIRE(macula__worker_state(c->w) == MACULA_PEER_CONNECTED);
    int err = 0;
    macula_frame *f = macula_frame_new("call", &err);
    REQUIRE(f != NULL);
    macula_frame_put_bytes(f, "procedure", MACULA_STATION_PING_PROCEDURE, 12);
    macula_frame_put_bytes(f, "call_id", call_id_16, sizeof call_id_16);
    size_t len;
    uint8_t *wire = ws_wire(f, bob, &len);
    REQUIRE(wire != NULL);
    CHECK_EQ_INT(ws_send(s, wire, len), 0);
    macula_free(wire);
    ws_exchange(c, s);
    /* the server's handler got the client's ERROR */
    const ws_event *ev = ws_last(s);
    REQUIRE(ev->type == MACULA_EVENT_FRAME && ev->frame);
    CHECK(!strcmp(macula_frame_type(ev->frame), "error"));
    CHECK_EQ_INT(macula_frame_verify(ev->frame, macula_identity_node_id(alice)), 0);
    const uint8_t *b = NULL;
    size_t n = 0;
    CHECK(macula_frame_get_bytes(ev->frame, "call_id", &b, &n) == 0 && n == 16 && !memcmp(b, call_id_16, 16));
    CHECK_EQ_INT(ws_finish(c), 0);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(c);
    ws_free(s);
}

/* The answer is an ordinary send: with the transport stuck, answers queue
 * up to send_queue_cap, beyond it they are dropped (counted, reported). */
static void test_answers_obey_the_cap(void)
{
    size_t len, answer_len = 0;
    uint8_t *p = ping(&len);
    REQUIRE(p != NULL);
    ws_shell *s = connected_server(1, 0);
    ws_data(s, p, len, 0);
    macula_frame_free(ws_sent_frame(s, 1, &answer_len));
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
    REQUIRE(answer_len > 0);
    s = connected_server(1, 2 * answer_len + answer_len / 2); /* room for two answers */
    size_t sent_before = ws_sent_count(s);
    s->send_rcs[0] = MACULA_ERR_WOULD_BLOCK;
    s->n_send_rcs = 1;
    s->send_rc_pos = 0;
    for (int i = 0; i < 5; i++)
        ws_data(s, p, len, 0);
    free(p);
    CHECK_EQ_INT(ws_sent_count(s), sent_before); /* nothing got through yet */
    macula_peer_info info;
    macula__worker_get_info(s->w, &info);
    CHECK_EQ_INT(info.frames_dropped, 3);
    CHECK(ws_has_diag(s, "send_queue_full"));
    CHECK_EQ_INT(ws_count(s, MACULA_EVENT_FRAME), 5); /* every CALL still delivered */
    ws_send_ready(s);
    CHECK_EQ_INT(ws_sent_count(s), sent_before + 2);
    check_answer(s, sent_before + 1, call_id_16, sizeof call_id_16);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

/* A probe that arrives while we drain is late input: no answer. */
static void test_no_answer_while_draining(void)
{
    ws_shell *s = connected_server(1, 0);
    ws_close(s, "bye");
    REQUIRE(macula__worker_state(s->w) == MACULA_PEER_DRAINING);
    size_t sent_before = ws_sent_count(s), len; /* HELLO, GOODBYE */
    uint8_t *p = ping(&len);
    REQUIRE(p != NULL);
    ws_data(s, p, len, 0);
    free(p);
    CHECK_EQ_INT(ws_sent_count(s), sent_before);
    CHECK_EQ_INT(ws_finish(s), 0);
    ws_free(s);
}

/* Every ERROR frame in the public vectors carries the name our table
 * gives its code; codes without a sourced name have none. */
static void check_vector_names(const json *root, const char *what)
{
    const json *all = json_get(root, "vectors");
    size_t seen = 0;
    for (size_t i = 0; all && i < all->count; i++) {
        const json *v = json_at(all, i);
        if (strcmp(json_str(v, "frame_type"), "error") != 0)
            continue;
        size_t len = 0;
        uint8_t *wire = vectors_hex(v, "wire_hex", &len);
        macula_frame *f = NULL;
        REQUIRE(wire && macula_frame_decode(wire, len, &f, NULL, NULL) == 0);
        uint64_t code = 0;
        const char *name = NULL;
        size_t n = 0;
        CHECK(macula_frame_get_uint(f, "code", &code) == 0 && code < 256);
        CHECK(macula_frame_get_text(f, "name", &name, &n) == 0);
        const char *ours = macula_error_code_name((uint8_t)code);
        CHECK(ours && strlen(ours) == n && !memcmp(ours, name, n));
        if (!ours)
            fprintf(stderr, "%s: code %llu has no name here\n", what, (unsigned long long)code);
        macula_frame_free(f);
        free(wire);
        seen++;
    }
    CHECK(seen > 0);
}

static void test_error_code_names(void)
{
    check_vector_names(v10, "frames-v10.json");
    json *v4 = vectors_load();
    REQUIRE(v4 != NULL);
    check_vector_names(v4, "frames.json");
    json_free(v4);
    CHECK(!strcmp(macula_error_code_name(MACULA_ERROR_UNKNOWN_NEXT_PEER), "unknown_next_peer"));
    CHECK(!strcmp(macula_error_code_name(MACULA_ERROR_TARGET_REALM_REFUSED), "target_realm_refused"));
    CHECK(!strcmp(macula_error_code_name(MACULA_ERROR_UNAUTHORIZED), "unauthorized"));
    CHECK(macula_error_code_name(0) == NULL);
    CHECK(macula_error_code_name(2) == NULL);
    CHECK(macula_error_code_name(255) == NULL);
}

int main(void)
{
    const char *path = getenv("MACULA_VECTORS_V10");
    v10 = path ? json_load_file(path) : NULL;
    if (!v10 || ws_identities(&alice, &bob, &mallory) != 0) {
        fprintf(stderr, "needs MACULA_VECTORS and MACULA_VECTORS_V10\n");
        return 1;
    }
    RUN(test_ping_answered);
    RUN(test_not_a_ping);
    RUN(test_not_a_station);
    RUN(test_client_station);
    RUN(test_answers_obey_the_cap);
    RUN(test_no_answer_while_draining);
    RUN(test_error_code_names);
    ws_identities_free(alice, bob, mallory);
    json_free(v10);
    return tu_summary();
}
