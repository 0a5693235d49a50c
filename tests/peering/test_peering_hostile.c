/* SPDX-License-Identifier: Apache-2.0 */
/* Every disconnect reason of PROTOCOL.md §4 that a peer on the wire can
 * cause, over real QUIC on loopback, with raw QUIC peers (raw_quic.h) on
 * the other side:
 *  - server workers (a listener) against raw clients: garbage, a bogus
 *    4 GiB length, an unsigned CONNECT, a CONNECT signed by another key, a
 *    HELLO, silence, a QUIC close during the handshake, a close and a
 *    stream reset after connecting, an undecodable frame that is dropped
 *    while the connection goes on, frames in the same write as CONNECT,
 *    a signed frame and garbage before CONNECT (dropped, then connected),
 *    and the graceful QUIC close (0, "closed") after GOODBYE and drain;
 *  - client workers against raw servers: a tampered HELLO, a CONNECT, a
 *    refusal with its code, silence, closes before and after HELLO and
 *    during the drain, a HELLO from another node than the pinned one, a
 *    server with another ALPN than the default "macula";
 *  - connect_failed: a closed port, a black hole, a wrong TLS pin. */
#include "raw_quic.h"

static macula_identity *alice, *bob, *mallory;

/* ===== server side: a listener and one raw client per case ===== */
typedef struct srv_case {
    macula_runtime *rt;
    pt_diags diags;
    pt_recorder rec;
    macula_listener *l;
    raw_client rc;
} srv_case;

static int srv_up(srv_case *c, uint32_t handshake_ms)
{
    memset(c, 0, sizeof *c);
    c->rt = pt_case_begin(&c->diags, 0, &c->rec, NULL);
    if (!c->rt)
        return -1;
    macula_peer_options so;
    pt_server_options(&so, &c->rec);
    so.handshake_timeout_ms = handshake_ms;
    so.drain_timeout_ms = 300;
    c->l = pt_listen_auto(c->rt, alice, &so);
    return c->l ? 0 : -1;
}

static void srv_down(srv_case *c)
{
    macula_runtime_free(c->rt);
    pt_case_end(&c->diags, &c->rec, NULL);
    pthread_mutex_destroy(&c->rc.mu);
}

/* Sends `bytes` from a raw client and expects the server worker to end
 * with `reason`; returns the DISCONNECTED event in *out. */
static int srv_expect(srv_case *c, const uint8_t *bytes, size_t len, macula_disconnect_reason reason, pt_event *out)
{
    c->rc.data = bytes;
    c->rc.len = len;
    if (raw_client_start(&c->rc, c->rt, macula_listener_port(c->l)) != 0)
        return 0;
    return pt_disconnected_with(&c->rec, 0, reason, 15000, out);
}

static uint8_t *connect_wire(const macula_identity *id, const macula_identity *signer, size_t *len)
{
    return raw_wire(macula_frame_connect(id, NULL, NULL, 0, 0, NULL), signer, len);
}

static void test_srv_bogus_length(void)
{
    srv_case c;
    REQUIRE(srv_up(&c, 10000) == 0);
    static const uint8_t bogus[] = {0xff, 0xff, 0xff, 0xff, 'x', 'y'};
    pt_event d;
    CHECK(srv_expect(&c, bogus, sizeof bogus, MACULA_DISC_FRAME_TOO_LARGE, &d));
    CHECK_EQ_INT(d.cause, MACULA_ERR_FRAME_TOO_LARGE);
    CHECK(raw_client_wait_closed(&c.rc, 5000)); /* the server closed the connection */
    srv_down(&c);
}

static void test_srv_garbage(void)
{
    /* A well-delimited body that is not a frame: stepped over (a
     * diagnostic), the handshake still waits; then the timeout. */
    srv_case c;
    REQUIRE(srv_up(&c, 500) == 0);
    uint8_t garbage[4 + 40] = {0, 0, 0, 40};
    for (int i = 0; i < 40; i++)
        garbage[4 + i] = (uint8_t)(0x9f ^ (i * 37));
    pt_event d;
    CHECK(srv_expect(&c, garbage, sizeof garbage, MACULA_DISC_HANDSHAKE_TIMEOUT, &d));
    CHECK(pt_has_diag(&c.diags, "frame_dropped", "state=handshaking"));
    CHECK(pt_has_diag(&c.diags, "handshake_timeout", "peer="));
    srv_down(&c);
}

static void test_srv_silent(void)
{
    srv_case c;
    REQUIRE(srv_up(&c, 400) == 0);
    uint64_t t0 = pt_now_ms();
    pt_event d;
    CHECK(srv_expect(&c, NULL, 0, MACULA_DISC_HANDSHAKE_TIMEOUT, &d));
    CHECK_EQ_INT(d.cause, MACULA_ERR_HANDSHAKE_TIMEOUT);
    uint64_t took = pt_now_ms() - t0;
    CHECK(took >= 350 && took < 10000);
    CHECK(strstr(d.detail, "CONNECT") != NULL);
    srv_down(&c);
}

/* One raw client sending `w` (taken) with the given behaviour; the server
 * worker must end with `reason`, its detail containing `detail_part`. */
static void srv_case_run(uint8_t *w, size_t len, int close_after_send, int close_on_reply, int reset_on_reply,
                         macula_disconnect_reason reason, int cause, const char *detail_part, int connected)
{
    srv_case c;
    REQUIRE(srv_up(&c, 10000) == 0);
    c.rc.close_after_send = close_after_send;
    c.rc.close_on_reply = close_on_reply;
    c.rc.reset_on_reply = reset_on_reply;
    pt_event d;
    CHECK(srv_expect(&c, w, len, reason, &d));
    CHECK_EQ_INT(d.cause, cause);
    if (detail_part && !strstr(d.detail, detail_part)) {
        fprintf(stderr, "  detail '%s' lacks '%s'\n", d.detail, detail_part);
        CHECK(0);
    }
    CHECK_EQ_INT(pt_count(&c.rec, 0, MACULA_EVENT_CONNECTED), connected);
    srv_down(&c);
    free(w);
}

static void test_srv_unsigned_connect(void)
{
    size_t len;
    uint8_t *w = connect_wire(bob, NULL, &len);
    srv_case_run(w, len, 0, 0, 0, MACULA_DISC_CONNECT_VERIFY_FAILED, MACULA_ERR_SIGNATURE_INVALID, "signature", 0);
}

static void test_srv_connect_signed_by_other(void)
{
    size_t len;
    uint8_t *w = connect_wire(bob, mallory, &len); /* node_id bob, signed by mallory */
    srv_case_run(w, len, 0, 0, 0, MACULA_DISC_CONNECT_VERIFY_FAILED, MACULA_ERR_SIGNATURE_INVALID, "does not verify", 0);
}

static void test_srv_unexpected_hello(void)
{
    size_t len;
    uint8_t *w = raw_wire(macula_frame_hello(bob, NULL, NULL, 0, 0, 1, -1, 0, NULL), bob, &len);
    srv_case_run(w, len, 0, 0, 0, MACULA_DISC_UNEXPECTED_HELLO_ON_SERVER, MACULA_ERR_BAD_FRAME, "hello", 0);
}

static void test_srv_closed_during_handshake(void)
{
    srv_case_run(NULL, 0, 1, 0, 0, MACULA_DISC_CLOSED_DURING_HANDSHAKE, MACULA_ERR_PEER_CLOSED, "peer", 0);
}

/* CONNECT, then the raw client closes QUIC once HELLO arrives. */
static void test_srv_peer_closed(void)
{
    size_t len;
    uint8_t *w = connect_wire(bob, bob, &len);
    srv_case_run(w, len, 0, 1, 0, MACULA_DISC_PEER_CLOSED, MACULA_ERR_PEER_CLOSED, "peer", 1);
}

/* CONNECT, then the raw client resets the stream once HELLO arrives. */
static void test_srv_stream_reset(void)
{
    size_t len;
    uint8_t *w = connect_wire(bob, bob, &len);
    srv_case_run(w, len, 0, 0, 1, MACULA_DISC_PEER_CLOSED, MACULA_ERR_STREAM_CLOSED, "reset", 1);
}

/* A raw client sends a valid CONNECT; once the server worker has
 * connected, its CONNECTED event in *connected. The CONNECT's wire (to free
 * after the case), or NULL. */
static uint8_t *srv_connect_raw(srv_case *c, pt_event *connected)
{
    size_t len;
    uint8_t *w = connect_wire(bob, bob, &len);
    c->rc.data = w;
    c->rc.len = len;
    if (!w || raw_client_start(&c->rc, c->rt, macula_listener_port(c->l)) != 0 ||
        !pt_wait(&c->rec, 0, MACULA_EVENT_CONNECTED, 1, 10000) ||
        !pt_last(&c->rec, 0, MACULA_EVENT_CONNECTED, connected)) {
        free(w);
        return NULL;
    }
    return w;
}

/* A second stream from the peer is a dedicated stream (PROTOCOL.md §6.2):
 * STREAM_OPENED with its QUIC id, by the peer; its two stray bytes stay in
 * its own parser, and the session goes on. */
static void test_srv_second_stream(void)
{
    srv_case c;
    REQUIRE(srv_up(&c, 10000) == 0);
    c.rc.second_stream_on_reply = 1;
    pt_event e;
    uint8_t *w = srv_connect_raw(&c, &e);
    REQUIRE(w);
    CHECK(pt_wait(&c.rec, e.peer, MACULA_EVENT_STREAM_OPENED, 1, 5000));
    pt_event so;
    CHECK(pt_last(&c.rec, e.peer, MACULA_EVENT_STREAM_OPENED, &so) && so.stream == 4 &&
          so.origin == MACULA_STREAM_BY_PEER);
    CHECK(!pt_has_diag(&c.diags, "unexpected_event", NULL));
    CHECK_EQ_INT(pt_count(&c.rec, e.peer, MACULA_EVENT_FRAME), 0);
    macula_peer_info info;
    macula_peer_info_init(&info);
    CHECK(macula_peer_get_info(c.rt, e.peer, &info) == 0 && info.state == MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(pt_count(&c.rec, 0, MACULA_EVENT_DISCONNECTED), 0);
    srv_down(&c);
    free(w);
}

/* One write mixing frames around CONNECT, built piece by piece. */
typedef struct mixed_write {
    uint8_t *bytes;
    size_t len;
} mixed_write;

static void mixed_add_wire(mixed_write *m, uint8_t *wire, size_t len) /* takes wire */
{
    raw_append(&m->bytes, &m->len, wire, len);
    free(wire);
}

static void mixed_add_frame(mixed_write *m, uint64_t seq)
{
    size_t len = 0;
    uint8_t *w = raw_wire(pt_numbered(0, seq, 10), bob, &len);
    mixed_add_wire(m, w, len);
}

static void mixed_add_connect(mixed_write *m)
{
    size_t len = 0;
    uint8_t *w = connect_wire(bob, bob, &len);
    mixed_add_wire(m, w, len);
}

static void mixed_add_bad_body(mixed_write *m)
{
    static const uint8_t bad[] = {0, 0, 0, 3, 0xa1, 0x01, 0x02}; /* a map with an integer key */
    raw_append(&m->bytes, &m->len, bad, sizeof bad);
}

/* Sends the write from a raw client; a bogus length once HELLO has come
 * back ends the server worker (frame_too_large), which must have connected
 * once. The DISCONNECTED event in *d. */
static void srv_expect_mixed(srv_case *c, mixed_write *m, pt_event *d)
{
    static const uint8_t bogus[] = {0xff, 0xff, 0xff, 0xff};
    c->rc.after_reply = bogus;
    c->rc.after_reply_len = sizeof bogus;
    CHECK(srv_expect(c, m->bytes, m->len, MACULA_DISC_FRAME_TOO_LARGE, d));
    CHECK_EQ_INT(pt_count(&c->rec, 0, MACULA_EVENT_CONNECTED), 1);
}

/* One write built from `plan` (C: a CONNECT, B: an undecodable body, a
 * digit: a PUBLISH with that seq), sent by a raw client; `delivered`
 * frames with seq 0, 1, ... must reach the handler, in order, and the
 * diagnostics must contain `diag` and `diag2` (unless NULL). */
static void srv_mixed_case(const char *plan, long delivered, const char *diag, const char *diag2)
{
    srv_case c;
    REQUIRE(srv_up(&c, 10000) == 0);
    mixed_write m = {0};
    for (const char *step = plan; *step; step++) {
        if (*step == 'C')
            mixed_add_connect(&m);
        else if (*step == 'B')
            mixed_add_bad_body(&m);
        else
            mixed_add_frame(&m, (uint64_t)(*step - '0'));
    }
    pt_event d;
    srv_expect_mixed(&c, &m, &d);
    CHECK_EQ_INT(pt_count(&c.rec, 0, MACULA_EVENT_FRAME), delivered);
    CHECK_EQ_INT(pt_frames_in_order(&c.rec, d.peer, 1, (uint64_t)delivered), delivered);
    CHECK(pt_has_diag(&c.diags, "frame_dropped", diag));
    if (diag2)
        CHECK(pt_has_diag(&c.diags, "frame_dropped", diag2));
    srv_down(&c);
    free(m.bytes);
}

/* CONNECT, a frame, an undecodable one and another frame in one write: the
 * server connects, drops the bad one with a diagnostic and delivers the
 * others in order after CONNECTED. */
static void test_srv_frames_after_connect(void) { srv_mixed_case("C0B1", 2, "state=connected", NULL); }

/* A signed PUBLISH (seq 7) and an undecodable body before CONNECT: both
 * dropped with a diagnostic, never delivered; the CONNECT then connects and
 * the frame after it (seq 0) arrives. */
static void test_srv_frames_before_connect(void)
{
    srv_mixed_case("7BC0", 1, "reason=before_handshake frame_type=publish", "state=handshaking reason=bad_frame");
}

/* A server worker closed by its owner after connecting: GOODBYE, the drain
 * (the raw client never answers), then the QUIC close the peer sees is the
 * graceful one: application error 0, reason "closed". */
static void test_srv_graceful_close_on_the_wire(void)
{
    srv_case c;
    REQUIRE(srv_up(&c, 10000) == 0);
    pt_event e;
    uint8_t *w = srv_connect_raw(&c, &e);
    REQUIRE(w);
    macula_peer_close(c.rt, e.peer, NULL);
    CHECK(pt_disconnected_with(&c.rec, e.peer, MACULA_DISC_DRAINED, 10000, NULL));
    CHECK(raw_client_wait_closed(&c.rc, 5000));
    pthread_mutex_lock(&c.rc.mu);
    CHECK_EQ_INT(c.rc.cause, MACULA_QUIC_CLOSE_PEER);
    CHECK_EQ_INT(c.rc.app_error, 1);
    CHECK_EQ_INT(c.rc.code, 0);
    CHECK(strcmp(c.rc.reason, "closed") == 0);
    pthread_mutex_unlock(&c.rc.mu);
    srv_down(&c);
    free(w);
}

/* ===== client side: a peering client against a raw server ===== */
typedef struct cli_case {
    macula_runtime *rt;
    pt_diags diags;
    pt_recorder rec;
    raw_server srv;
    macula_peer p;
} cli_case;

static int cli_run_alpn(cli_case *c, raw_mode mode, const macula_identity *cert_id, const macula_identity *hello_id,
                        const uint8_t *expect, const char *server_alpn)
{
    memset(c, 0, sizeof *c);
    c->rt = pt_case_begin(&c->diags, 0, &c->rec, NULL);
    if (!c->rt)
        return -1;
    if (raw_server_start(&c->srv, c->rt, mode, cert_id, hello_id, server_alpn) != 0)
        return -1;
    macula_peer_options o;
    pt_client_options(&o, bob, &c->rec, macula_quic_endpoint_port(c->srv.ep));
    o.handshake_timeout_ms = 500;
    o.expected_node_id = expect;
    c->p = pt_connect(c->rt, &o);
    return c->p ? 0 : -1;
}

static int cli_run(cli_case *c, raw_mode mode, const macula_identity *cert_id, const macula_identity *hello_id,
                   const uint8_t *expect)
{
    return cli_run_alpn(c, mode, cert_id, hello_id, expect, NULL);
}

static void cli_down(cli_case *c)
{
    macula_runtime_free(c->rt);
    pt_case_end(&c->diags, &c->rec, NULL);
    raw_server_free(&c->srv);
}

/* The client must end with `reason` (its detail containing detail_part
 * unless NULL, its refusal code `refusal`) without ever connecting; then
 * the case ends. */
static void cli_ends_unconnected(cli_case *c, macula_disconnect_reason reason, int cause, const char *detail_part,
                                 int64_t refusal)
{
    pt_event d;
    CHECK(pt_disconnected_cause(&c->rec, c->p, reason, cause, 15000, &d));
    if (detail_part)
        CHECK(strstr(d.detail, detail_part) != NULL);
    CHECK_EQ_INT(d.refusal_code, refusal);
    CHECK_EQ_INT(pt_count(&c->rec, c->p, MACULA_EVENT_CONNECTED), 0);
    cli_down(c);
}

static void cli_expect(raw_mode mode, macula_disconnect_reason reason, int cause, const char *detail_part,
                       int64_t refusal)
{
    cli_case c;
    REQUIRE(cli_run(&c, mode, alice, alice, NULL) == 0);
    cli_ends_unconnected(&c, reason, cause, detail_part, refusal);
}

static void test_cli_tampered_hello(void) { cli_expect(RAW_TAMPERED_HELLO, MACULA_DISC_HELLO_VERIFY_FAILED, MACULA_ERR_SIGNATURE_INVALID, "verify", -1); }
static void test_cli_unexpected_connect(void)
{
    cli_expect(RAW_CONNECT, MACULA_DISC_UNEXPECTED_CONNECT_ON_CLIENT, MACULA_ERR_BAD_FRAME, NULL, -1);
}
static void test_cli_refused(void) { cli_expect(RAW_REFUSE, MACULA_DISC_REFUSED, MACULA_ERR_REFUSED, "7", 7); }
static void test_cli_handshake_timeout(void) { cli_expect(RAW_SILENT, MACULA_DISC_HANDSHAKE_TIMEOUT, MACULA_ERR_HANDSHAKE_TIMEOUT, "HELLO", -1); }
static void test_cli_closed_during_handshake(void)
{
    cli_expect(RAW_CLOSE, MACULA_DISC_CLOSED_DURING_HANDSHAKE, MACULA_ERR_PEER_CLOSED, "peer", -1);
}

static void test_cli_peer_closed(void)
{
    cli_case c;
    REQUIRE(cli_run(&c, RAW_HELLO_THEN_CLOSE, alice, alice, NULL) == 0);
    pt_event d;
    CHECK(pt_disconnected_cause(&c.rec, c.p, MACULA_DISC_PEER_CLOSED, MACULA_ERR_PEER_CLOSED, 15000, &d));
    CHECK(strstr(d.detail, "raw server closes") != NULL);
    CHECK_EQ_INT(pt_count(&c.rec, c.p, MACULA_EVENT_CONNECTED), 1);
    cli_down(&c);
}

static void test_cli_peer_closed_during_drain(void)
{
    cli_case c;
    REQUIRE(cli_run(&c, RAW_HELLO_CLOSE_ON_GOODBYE, alice, alice, NULL) == 0);
    REQUIRE(pt_wait(&c.rec, c.p, MACULA_EVENT_CONNECTED, 1, 10000));
    macula_peer_close(c.rt, c.p, "leaving");
    pt_event d;
    CHECK(pt_disconnected_cause(&c.rec, c.p, MACULA_DISC_PEER_CLOSED_DURING_DRAIN, MACULA_OK, 15000, &d));
    pthread_mutex_lock(&c.srv.mu);
    CHECK(c.srv.got_goodbye);
    pthread_mutex_unlock(&c.srv.mu);
    cli_down(&c);
}

/* HELLO and two frames in the same write: delivered after CONNECTED. */
static void test_cli_frames_with_hello(void)
{
    cli_case c;
    REQUIRE(cli_run(&c, RAW_HELLO_AND_FRAMES, alice, alice, NULL) == 0);
    REQUIRE(pt_wait(&c.rec, c.p, MACULA_EVENT_FRAME, 2, 10000));
    CHECK_EQ_INT(pt_frames_in_order(&c.rec, c.p, 1, 2), 2);
    macula_peer_close(c.rt, c.p, NULL);
    cli_down(&c); /* the runtime's shutdown ends the drain */
}


/* A client left with the default ALPN list speaks "macula": it peers with
 * a server that serves only "macula", and fails to connect (QUIC's
 * no_application_protocol) to one that serves only another protocol. */
static void test_cli_default_alpn_is_macula(void)
{
    cli_case c;
    REQUIRE(cli_run_alpn(&c, RAW_HELLO, alice, alice, NULL, "macula") == 0);
    CHECK(pt_wait(&c.rec, c.p, MACULA_EVENT_CONNECTED, 1, 10000));
    macula_peer_close(c.rt, c.p, NULL);
    cli_down(&c);

    REQUIRE(cli_run_alpn(&c, RAW_HELLO, alice, alice, NULL, "macula-other") == 0);
    cli_ends_unconnected(&c, MACULA_DISC_CONNECT_FAILED, MACULA_ERR_ALPN, "alpn_mismatch", -1);
}

/* The certificate is mallory's (so the pin on mallory passes) but the
 * HELLO is alice's: the verified node id is not the expected one. */
static void test_cli_hello_identity_mismatch(void)
{
    cli_case c;
    REQUIRE(cli_run(&c, RAW_HELLO, mallory, alice, macula_identity_node_id(mallory)) == 0);
    cli_ends_unconnected(&c, MACULA_DISC_PEER_IDENTITY_MISMATCH, MACULA_ERR_IDENTITY_MISMATCH, "not the expected", -1);
}

/* The TLS pin fails before any frame: connect_failed that says so. */
static void test_cli_pin_mismatch(void)
{
    cli_case c;
    REQUIRE(cli_run(&c, RAW_HELLO, alice, alice, macula_identity_node_id(mallory)) == 0);
    cli_ends_unconnected(&c, MACULA_DISC_CONNECT_FAILED, MACULA_ERR_PIN_MISMATCH, "pin", -1);
}

/* ===== connect_failed without a server ===== */
static void connect_failed_to(uint16_t port, uint32_t timeout_ms, const char *detail_part, int cause)
{
    pt_diags diags;
    pt_recorder rec;
    macula_runtime *rt = pt_case_begin(&diags, 0, &rec, NULL);
    REQUIRE(rt);
    macula_peer_options o;
    pt_client_options(&o, bob, &rec, port);
    o.connect_timeout_ms = timeout_ms;
    uint64_t t0 = pt_now_ms();
    macula_peer p = pt_connect(rt, &o);
    pt_event d;
    CHECK(pt_disconnected_cause(&rec, p, MACULA_DISC_CONNECT_FAILED, cause, timeout_ms + 10000, &d));
    CHECK(pt_now_ms() - t0 < timeout_ms + 5000);
    if (detail_part && !strstr(d.detail, detail_part)) {
        fprintf(stderr, "  detail '%s' lacks '%s'\n", d.detail, detail_part);
        CHECK(0);
    }
    macula_runtime_free(rt);
    pt_case_end(&diags, &rec, NULL);
}

static void test_connect_failed_closed_port(void)
{
    uint16_t port = 0;
    int fd = pt_black_hole(&port); /* a port known to be free once closed */
    REQUIRE(fd >= 0);
    close(fd);
    connect_failed_to(port, 3000, "dial_failed", MACULA_ERR_REFUSED);
}

static void test_connect_failed_black_hole(void)
{
    uint16_t port = 0;
    int fd = pt_black_hole(&port);
    REQUIRE(fd >= 0);
    connect_failed_to(port, 500, "timeout", MACULA_ERR_TIMEOUT);
    close(fd);
}

int main(void)
{
    if (pt_begin(300, &alice, &bob, &mallory, NULL) != 0)
        return 1;
    RUN(test_srv_bogus_length);
    RUN(test_srv_garbage);
    RUN(test_srv_silent);
    RUN(test_srv_unsigned_connect);
    RUN(test_srv_connect_signed_by_other);
    RUN(test_srv_unexpected_hello);
    RUN(test_srv_closed_during_handshake);
    RUN(test_srv_peer_closed);
    RUN(test_srv_stream_reset);
    RUN(test_srv_frames_after_connect);
    RUN(test_srv_frames_before_connect);
    RUN(test_srv_graceful_close_on_the_wire);
    RUN(test_srv_second_stream);
    RUN(test_cli_tampered_hello);
    RUN(test_cli_unexpected_connect);
    RUN(test_cli_refused);
    RUN(test_cli_handshake_timeout);
    RUN(test_cli_closed_during_handshake);
    RUN(test_cli_peer_closed);
    RUN(test_cli_peer_closed_during_drain);
    RUN(test_cli_frames_with_hello);
    RUN(test_cli_default_alpn_is_macula);
    RUN(test_cli_hello_identity_mismatch);
    RUN(test_cli_pin_mismatch);
    RUN(test_connect_failed_closed_port);
    RUN(test_connect_failed_black_hole);
    return pt_end(&alice, &bob, &mallory, NULL);
}
