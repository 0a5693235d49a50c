/* SPDX-License-Identifier: Apache-2.0 */
/* Peering over real QUIC on loopback, one runtime: the CONNECT/HELLO
 * handshake both ways (with the TLS pin), the getters, frames in order both
 * ways (also with QUIC low_memory), close with GOODBYE and drain (drained /
 * peer_closed / peer_closed_during_drain), keep-alive past the idle
 * timeout, stale handles, close in early states, sends refused at once (too
 * large, queue full, not connected: MACULA_ERR_STATE), and option checks
 * that name the field. */
#include <poll.h>

#include "peering_test_util.h"

#define FRAMES_EACH_WAY 300

static macula_identity *alice, *bob;
/* QUIC low_memory on every connection of the case (both ends). */
static int low_memory;
static const uint8_t realm_a[32] = {1, 2, 3};
static uint8_t realms_b[64];

/* --- a server that can close its peer on GOODBYE --- */
static atomic_int close_on_goodbye;
static void server_hook(pt_recorder *r, macula_event *ev)
{
    if (close_on_goodbye && ev->type == MACULA_EVENT_FRAME && ev->frame &&
        strcmp(macula_frame_type(ev->frame), "goodbye") == 0)
        macula_peer_close(r->rt, ev->peer, "goodbye_seen");
}

typedef struct setup {
    macula_runtime *rt;
    pt_diags diags;
    pt_recorder srv, cli, owner;
    macula_listener *l;
    macula_peer_options sopts;
    uint16_t port;
} setup;

static int setup_up(setup *s, uint32_t server_drain_ms)
{
    memset(s, 0, sizeof *s);
    s->rt = pt_case_begin(&s->diags, 0, &s->srv, &s->cli, &s->owner, NULL);
    if (!s->rt)
        return -1;
    s->srv.hook = server_hook;
    pt_server_options(&s->sopts, &s->srv);
    s->sopts.accept_owner = pt_record;
    s->sopts.accept_owner_user = &s->owner;
    s->sopts.realms = realm_a;
    s->sopts.n_realms = 1;
    s->sopts.capabilities = 5;
    s->sopts.drain_timeout_ms = server_drain_ms;
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    lo.identity = alice;
    lo.auto_accept = &s->sopts;
    lo.quic.low_memory = low_memory;
    s->l = pt_listen(s->rt, &lo);
    if (!s->l)
        return -1;
    s->port = macula_listener_port(s->l);
    return 0;
}

static void setup_down(setup *s)
{
    macula_runtime_free(s->rt);
    pt_case_end(&s->diags, &s->srv, &s->cli, NULL);
    pt_recorder_free(&s->owner); /* HANDSHAKE_COMPLETE only: no per-peer promises */
}

/* A client towards a black hole (a bound UDP socket that never answers;
 * its fd in *hole): it stays connecting until closed. */
static macula_peer connect_to_black_hole(setup *s, int *hole)
{
    uint16_t port = 0;
    *hole = pt_black_hole(&port);
    if (*hole < 0)
        return MACULA_PEER_INVALID;
    macula_peer_options o;
    pt_client_options(&o, bob, &s->cli, port);
    return pt_connect(s->rt, &o);
}

static void test_session(void)
{
    setup s;
    REQUIRE(setup_up(&s, 5000) == 0);
    macula_peer_options o;
    pt_client_options(&o, bob, &s.cli, s.port);
    o.realms = realms_b;
    o.n_realms = 2;
    o.capabilities = 9;
    o.expected_node_id = macula_identity_node_id(alice); /* TLS pin + HELLO check */
    o.drain_timeout_ms = 300;
    o.low_memory = low_memory;
    macula_peer c = pt_connect(s.rt, &o);
    REQUIRE(c);
    CHECK_EQ_INT(macula_peer_serial(c) >= 1, 1);
    REQUIRE(pt_wait(&s.cli, c, MACULA_EVENT_CONNECTED, 1, 10000));
    REQUIRE(pt_wait(&s.srv, 0, MACULA_EVENT_CONNECTED, 1, 10000));
    REQUIRE(pt_wait(&s.owner, 0, MACULA_EVENT_HANDSHAKE_COMPLETE, 1, 10000));
    pt_event ce, se, oe;
    pt_last(&s.cli, c, MACULA_EVENT_CONNECTED, &ce);
    pt_last(&s.srv, 0, MACULA_EVENT_CONNECTED, &se);
    pt_last(&s.owner, 0, MACULA_EVENT_HANDSHAKE_COMPLETE, &oe);
    macula_peer sp = se.peer;
    CHECK(ce.has_node_id && memcmp(ce.node_id, macula_identity_node_id(alice), 32) == 0);
    CHECK(se.has_node_id && memcmp(se.node_id, macula_identity_node_id(bob), 32) == 0);
    CHECK(oe.peer == sp && memcmp(oe.node_id, macula_identity_node_id(bob), 32) == 0);
    CHECK(sp != c);

    /* getters on both sides */
    macula_peer_info ci, si;
    macula_peer_info_init(&ci);
    macula_peer_info_init(&si);
    REQUIRE(macula_peer_get_info(s.rt, c, &ci) == 0);
    REQUIRE(macula_peer_get_info(s.rt, sp, &si) == 0);
    CHECK_EQ_INT(ci.state, MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(si.state, MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(ci.is_server, 0);
    CHECK_EQ_INT(si.is_server, 1);
    CHECK(ci.has_node_id && memcmp(ci.node_id, macula_identity_node_id(alice), 32) == 0);
    CHECK(memcmp(ci.station_id, macula_identity_node_id(alice), 32) == 0);
    CHECK(si.has_node_id && memcmp(si.node_id, macula_identity_node_id(bob), 32) == 0);
    CHECK_EQ_INT(ci.capabilities, 5);
    CHECK_EQ_INT(si.capabilities, 9);
    CHECK_EQ_INT(ci.n_realms, 1);
    CHECK_EQ_INT(si.n_realms, 2);
    CHECK(strncmp(ci.peer_addr, "127.0.0.1:", 10) == 0);
    CHECK(strncmp(si.peer_addr, "127.0.0.1:", 10) == 0);
    uint8_t got[3 * 32];
    CHECK_EQ_INT(macula_peer_get_realms(s.rt, sp, got, 3), 2);
    CHECK_MEM(got, realms_b, 64);
    CHECK_EQ_INT(macula_peer_get_realms(s.rt, c, got, 0), 1);
    CHECK_EQ_INT(macula_peer_get_realms(s.rt, c, got, 1), 1);
    CHECK_MEM(got, realm_a, 32);
    CHECK_EQ_INT(ci.frames_out, 1); /* CONNECT */
    CHECK_EQ_INT(ci.frames_in, 1);  /* HELLO */

    /* frames both ways, in order */
    for (uint64_t i = 0; i < FRAMES_EACH_WAY; i++) {
        CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, i, i % 7 * 100)), 0);
        CHECK_EQ_INT(macula_peer_send_frame(s.rt, sp, pt_numbered(0, i, i % 5 * 1000)), 0);
    }
    REQUIRE(pt_wait(&s.srv, sp, MACULA_EVENT_FRAME, FRAMES_EACH_WAY, 20000));
    REQUIRE(pt_wait(&s.cli, c, MACULA_EVENT_FRAME, FRAMES_EACH_WAY, 20000));
    CHECK_EQ_INT(pt_frames_in_order(&s.srv, sp, 1, FRAMES_EACH_WAY), FRAMES_EACH_WAY);
    CHECK_EQ_INT(pt_frames_in_order(&s.cli, c, 1, FRAMES_EACH_WAY), FRAMES_EACH_WAY);
    /* a pre-signed frame keeps its author's signature; send_wire sends as is */
    macula_frame *pre = pt_numbered(0, 12345, 0);
    REQUIRE(macula_frame_sign(pre, alice) == 0);
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pre), 0);
    uint8_t *wire;
    size_t wlen;
    macula_frame *w2 = pt_numbered(0, 23456, 0);
    macula_frame_sign(w2, bob);
    REQUIRE(macula_frame_encode(w2, &wire, &wlen) == 0);
    macula_frame_free(w2);
    CHECK_EQ_INT(macula_peer_send_wire(s.rt, c, wire, wlen), 0);
    CHECK_EQ_INT(macula_peer_send_wire(s.rt, c, wire, wlen - 1), MACULA_ERR_BAD_FRAME);
    macula_free(wire);
    REQUIRE(pt_wait(&s.srv, sp, MACULA_EVENT_FRAME, FRAMES_EACH_WAY + 2, 10000));
    pt_sleep_ms(50); /* the snapshot is published after the loop's step */
    REQUIRE(macula_peer_get_info(s.rt, c, &ci) == 0);
    CHECK_EQ_INT(ci.frames_out, 1 + FRAMES_EACH_WAY + 2);
    CHECK_EQ_INT(ci.frames_in, 1 + FRAMES_EACH_WAY);
    CHECK(ci.bytes_out > FRAMES_EACH_WAY * 50u);
    CHECK_EQ_INT(ci.frames_dropped, 0);

    /* close: GOODBYE("bye") then drain; the server hears it as a frame and,
     * not closing itself, sees the transport go: peer_closed */
    uint64_t t0 = pt_now_ms();
    CHECK_EQ_INT(macula_peer_close(s.rt, c, "bye"), 0);
    CHECK_EQ_INT(macula_peer_close(s.rt, c, "again"), 0); /* draining: nothing */
    pt_event d;
    CHECK(pt_disconnected_with(&s.cli, c, MACULA_DISC_DRAINED, 10000, &d));
    CHECK(pt_now_ms() - t0 >= 250); /* the 300 ms drain */
    CHECK(pt_disconnected_with(&s.srv, sp, MACULA_DISC_PEER_CLOSED, 10000, &d));
    pt_event gb;
    CHECK(pt_last(&s.srv, sp, MACULA_EVENT_FRAME, &gb) && strcmp(gb.frame_type, "goodbye") == 0 &&
          strcmp(gb.text, "bye") == 0);
    CHECK_EQ_INT(pt_count(&s.cli, c, MACULA_EVENT_DISCONNECTED), 1);
    CHECK_EQ_INT(pt_count(&s.owner, 0, MACULA_EVENT_HANDSHAKE_COMPLETE), 1);

    /* stale handles: harmless */
    CHECK_EQ_INT(macula_peer_close(s.rt, c, NULL), 0);
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, 0, 0)), MACULA_ERR_STALE_HANDLE);
    CHECK_EQ_INT(macula_peer_send_wire(s.rt, sp, (const uint8_t *)"\0\0\0\1\xa0", 5), MACULA_ERR_STALE_HANDLE);
    CHECK_EQ_INT(macula_peer_get_info(s.rt, c, &ci), MACULA_ERR_STALE_HANDLE);
    CHECK_EQ_INT(macula_peer_get_realms(s.rt, sp, got, 3), MACULA_ERR_STALE_HANDLE);
    CHECK_EQ_INT(macula_peer_close(s.rt, MACULA_PEER_INVALID, NULL), 0);
    CHECK_EQ_INT(macula_peer_get_info(s.rt, c + 1, &ci), MACULA_ERR_STALE_HANDLE);

    /* a new peer never reuses a handle */
    macula_peer c2 = pt_connect(s.rt, &o);
    REQUIRE(c2);
    CHECK(c2 != c && c2 != sp && macula_peer_serial(c2) > macula_peer_serial(sp));
    REQUIRE(pt_wait(&s.cli, c2, MACULA_EVENT_CONNECTED, 1, 10000));
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, 0, 0)), MACULA_ERR_STALE_HANDLE);
    setup_down(&s);
}

/* The same session with the QUIC low_memory setting on both ends. */
static void test_session_low_memory(void)
{
    low_memory = 1;
    test_session();
    low_memory = 0;
}

/* Both sides close: the client (short drain) closes first; the server
 * closes when it sees the GOODBYE and is still draining when the client's
 * drain ends and closes QUIC. */
static void test_peer_closed_during_drain(void)
{
    setup s;
    REQUIRE(setup_up(&s, 5000) == 0);
    close_on_goodbye = 1;
    macula_peer_options o;
    pt_client_options(&o, bob, &s.cli, s.port);
    o.drain_timeout_ms = 300;
    macula_peer c = pt_connect(s.rt, &o);
    REQUIRE(pt_wait(&s.srv, 0, MACULA_EVENT_CONNECTED, 1, 10000));
    REQUIRE(pt_wait(&s.cli, c, MACULA_EVENT_CONNECTED, 1, 10000));
    pt_event se;
    pt_last(&s.srv, 0, MACULA_EVENT_CONNECTED, &se);
    macula_peer_close(s.rt, c, NULL);
    CHECK(pt_disconnected_with(&s.cli, c, MACULA_DISC_DRAINED, 10000, NULL));
    CHECK(pt_disconnected_with(&s.srv, se.peer, MACULA_DISC_PEER_CLOSED_DURING_DRAIN, 10000, NULL));
    pt_event gb;
    CHECK(pt_last(&s.srv, se.peer, MACULA_EVENT_FRAME, &gb) && strcmp(gb.text, "normal") == 0);
    close_on_goodbye = 0;
    setup_down(&s);
}

/* Close before connected: DISCONNECTED(closed, detail = the reason) at once,
 * on a client still dialing and on a server worker still handshaking. */
static void test_close_early(void)
{
    setup s;
    REQUIRE(setup_up(&s, 5000) == 0);
    int hole;
    macula_peer c = connect_to_black_hole(&s, &hole);
    REQUIRE(c);
    macula_peer_info info;
    macula_peer_info_init(&info);
    int rc = macula_peer_get_info(s.rt, c, &info);
    CHECK(rc == 0 && (info.state == MACULA_PEER_CONNECTING || info.state == MACULA_PEER_HANDSHAKING));
    CHECK_EQ_INT(macula_peer_close(s.rt, c, "changed_my_mind"), 0);
    pt_event d;
    CHECK(pt_disconnected_with(&s.cli, c, MACULA_DISC_CLOSED, 5000, &d));
    CHECK(strcmp(d.detail, "changed_my_mind") == 0);
    CHECK_EQ_INT(pt_count(&s.cli, c, MACULA_EVENT_CONNECTED), 0);
    close(hole);
    setup_down(&s);
}

/* Sends refused synchronously, and a send before connected dropped with a
 * diagnostic. */
static void test_send_refusals(void)
{
    setup s;
    REQUIRE(setup_up(&s, 5000) == 0);
    /* before connected (a peer that never answers): refused at once, so
     * nothing is dropped behind the caller's back */
    int hole;
    macula_peer early = connect_to_black_hole(&s, &hole);
    REQUIRE(early);
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, early, pt_numbered(0, 999, 0)), MACULA_ERR_STATE);
    uint8_t *w = NULL;
    size_t wlen = 0;
    macula_frame *wf = pt_numbered(0, 998, 0);
    REQUIRE(wf && macula_frame_sign(wf, bob) == 0 && macula_frame_encode(wf, &w, &wlen) == 0);
    macula_frame_free(wf);
    CHECK_EQ_INT(macula_peer_send_wire(s.rt, early, w, wlen), MACULA_ERR_STATE);
    macula_free(w);
    macula_peer_info info;
    macula_peer_info_init(&info);
    pt_sleep_ms(50);
    CHECK_EQ_INT(macula_peer_get_info(s.rt, early, &info), 0);
    CHECK_EQ_INT(info.frames_dropped, 0);
    CHECK(!pt_has_diag(&s.diags, "frame_dropped", "send_before_connected"));
    macula_peer_close(s.rt, early, NULL);
    CHECK(pt_disconnected_with(&s.cli, early, MACULA_DISC_CLOSED, 10000, NULL));
    close(hole);

    macula_peer_options o;
    pt_client_options(&o, bob, &s.cli, s.port);
    o.send_queue_cap = 4096;
    o.drain_timeout_ms = 200;
    macula_peer c = pt_connect(s.rt, &o);
    REQUIRE(c);
    REQUIRE(pt_wait(&s.cli, c, MACULA_EVENT_CONNECTED, 1, 10000));
    /* too large to encode: refused here, nothing queued */
    macula_frame *big = macula_frame_new("publish", NULL);
    uint8_t *blob = calloc(1, MACULA_FRAME_MAX_BODY + 1);
    REQUIRE(big && blob);
    macula_frame_put_bytes(big, "payload", blob, MACULA_FRAME_MAX_BODY + 1);
    free(blob);
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, big), MACULA_ERR_FRAME_TOO_LARGE);
    /* beyond send_queue_cap */
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, 0, 5000)), MACULA_ERR_QUEUE_FULL);
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, 0, 100)), 0);
    REQUIRE(pt_wait(&s.srv, 0, MACULA_EVENT_FRAME, 1, 10000));
    /* NULL frame */
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, NULL), MACULA_ERR_INVALID_ARG);
    macula_peer_close(s.rt, c, NULL);
    CHECK(pt_disconnected_with(&s.cli, c, MACULA_DISC_DRAINED, 10000, NULL));
    setup_down(&s);
}

/* The client's runtime embedded in this thread's own poll loop
 * (macula_runtime_fd / next_timeout_ms / process): the same session. */
static int embedded_until(macula_runtime *rt, pt_recorder *r, macula_peer p, macula_event_type type, unsigned ms)
{
    uint64_t end = pt_now_ms() + ms;
    while (pt_count(r, p, type) == 0) {
        if (pt_now_ms() > end)
            return 0;
        int t = macula_runtime_next_timeout_ms(rt);
        struct pollfd pfd = {macula_runtime_fd(rt), POLLIN, 0};
        poll(&pfd, 1, t < 0 || t > 50 ? 50 : t);
        if (macula_runtime_process(rt) < 0)
            return 0;
    }
    return 1;
}

static void test_embedded_client(void)
{
    setup s;
    REQUIRE(setup_up(&s, 5000) == 0);
    macula_runtime *emb = macula_runtime_new(NULL, NULL);
    REQUIRE(emb);
    pt_recorder cli;
    pt_recorder_init(&cli, emb);
    macula_peer_options o;
    pt_client_options(&o, bob, &cli, s.port);
    o.drain_timeout_ms = 200;
    macula_peer c = pt_connect(emb, &o);
    REQUIRE(c);
    CHECK(embedded_until(emb, &cli, c, MACULA_EVENT_CONNECTED, 10000));
    CHECK_EQ_INT(macula_peer_send_frame(emb, c, pt_numbered(0, 0, 10)), 0);
    CHECK(embedded_until(emb, &s.srv, 0, MACULA_EVENT_FRAME, 10000)); /* (the client's loop must run) */
    pt_event se;
    pt_last(&s.srv, 0, MACULA_EVENT_CONNECTED, &se);
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, se.peer, pt_numbered(0, 0, 10)), 0);
    CHECK(embedded_until(emb, &cli, c, MACULA_EVENT_FRAME, 10000));
    macula_peer_close(emb, c, NULL);
    CHECK(embedded_until(emb, &cli, c, MACULA_EVENT_DISCONNECTED, 10000));
    pt_event d;
    CHECK(pt_last(&cli, c, MACULA_EVENT_DISCONNECTED, &d) && d.reason == MACULA_DISC_DRAINED);
    macula_runtime_free(emb);
    CHECK_EQ_INT(pt_check_promises(&cli, 1), 0);
    pt_recorder_free(&cli);
    setup_down(&s);
}

static void noop_handler(void *user, macula_event *ev)
{
    (void)user;
    (void)ev;
}

static void test_invalid_options(void)
{
    macula_runtime *rt = pt_runtime(NULL, 0);
    REQUIRE(rt);
    macula_peer_options o;
    int err = 0;
    const char *msg = NULL;
    macula_peer_options_init(&o);
    CHECK_EQ_INT(o.connect_timeout_ms, 30000);
    CHECK_EQ_INT(o.handshake_timeout_ms, 30000);
    CHECK_EQ_INT(o.drain_timeout_ms, 5000);
    CHECK_EQ_INT(o.idle_timeout_ms, 300000);
    CHECK_EQ_INT(o.keepalive_ms, 15000);
    CHECK_EQ_INT(o.send_queue_cap, 64u << 20);
    CHECK(!macula_peer_connect(rt, &o, &err, &msg) && err == MACULA_ERR_INVALID_ARG && !strcmp(msg, "identity"));
    o.identity = bob;
    CHECK(!macula_peer_connect(rt, &o, &err, &msg) && !strcmp(msg, "handler"));
    o.handler = noop_handler;
    CHECK(!macula_peer_connect(rt, &o, &err, &msg) && !strcmp(msg, "host"));
    o.host = "127.0.0.1";
    CHECK(!macula_peer_connect(rt, &o, &err, &msg) && !strcmp(msg, "port"));
    o.port = 1;
    o.n_realms = 1;
    CHECK(!macula_peer_connect(rt, &o, &err, &msg) && !strcmp(msg, "realms"));
    o.n_realms = 0;
    const char *bad_alpn[] = {""};
    o.alpn = bad_alpn;
    o.n_alpn = 1;
    CHECK(!macula_peer_connect(rt, &o, &err, &msg) && !strcmp(msg, "alpn"));
    o.alpn = NULL;
    o.n_alpn = 0;
    o.verify = MACULA_QUIC_VERIFY_PIN;
    CHECK(!macula_peer_connect(rt, &o, &err, &msg) && !strcmp(msg, "expected_node_id"));
    o.verify = MACULA_QUIC_VERIFY_NONE;
    CHECK(!macula_peer_connect(NULL, &o, &err, &msg) && !strcmp(msg, "rt"));
    CHECK(!macula_peer_accept(rt, NULL, &o, &err, &msg) && !strcmp(msg, "conn"));
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    CHECK(!macula_listener_new(rt, &lo, &err, &msg) && !strcmp(msg, "identity"));
    lo.identity = alice;
    CHECK(!macula_listener_new(rt, &lo, &err, &msg) && !strcmp(msg, "on_connection"));
    macula_peer_options bad;
    macula_peer_options_init(&bad);
    lo.auto_accept = &bad;
    CHECK(!macula_listener_new(rt, &lo, &err, &msg) && !strcmp(msg, "auto_accept.handler"));
    /* a valid connect to a closed port still returns a handle at once */
    macula_peer p = macula_peer_connect(rt, &o, &err, &msg);
    CHECK(p != MACULA_PEER_INVALID && err == 0);
    macula_runtime_stop(rt);
    macula_runtime_join(rt);
    CHECK(!macula_peer_connect(rt, &o, &err, &msg) && err == MACULA_ERR_SHUTDOWN);
    macula_runtime_free(rt);
}

/* QUIC keep-alive holds a silent session open past its idle timeout; the
 * control, the same session with keep-alive off, ends at the idle timeout
 * on both ends. The client's idle timeout (1 s) is the connection's:
 * QUIC takes the smaller of the two sides'. */
static void keepalive_case(uint32_t keepalive_ms)
{
    setup s;
    REQUIRE(setup_up(&s, 5000) == 0);
    macula_peer_options o;
    pt_client_options(&o, bob, &s.cli, s.port);
    o.idle_timeout_ms = 1000;
    o.keepalive_ms = keepalive_ms;
    macula_peer c = pt_connect(s.rt, &o);
    REQUIRE(pt_wait(&s.srv, 0, MACULA_EVENT_CONNECTED, 1, 10000));
    REQUIRE(pt_wait(&s.cli, c, MACULA_EVENT_CONNECTED, 1, 10000));
    pt_event se;
    pt_last(&s.srv, 0, MACULA_EVENT_CONNECTED, &se);
    if (keepalive_ms) {
        /* Three idle timeouts of silence: nothing ends. */
        pt_sleep_ms(3000);
        CHECK_EQ_INT(pt_count(&s.cli, c, MACULA_EVENT_DISCONNECTED), 0);
        CHECK_EQ_INT(pt_count(&s.srv, se.peer, MACULA_EVENT_DISCONNECTED), 0);
        macula_peer_info info;
        macula_peer_info_init(&info);
        CHECK(macula_peer_get_info(s.rt, c, &info) == 0 && info.state == MACULA_PEER_CONNECTED);
        CHECK(macula_peer_get_info(s.rt, se.peer, &info) == 0 && info.state == MACULA_PEER_CONNECTED);
        macula_peer_close(s.rt, c, NULL);
        CHECK(pt_disconnected_cause(&s.cli, c, MACULA_DISC_DRAINED, MACULA_OK, 10000, NULL));
    } else {
        /* Well before the defaults (300 s), within the wait; both ends
         * name the idle timeout (QUIC uses the smaller one on both). */
        CHECK(pt_disconnected_cause(&s.cli, c, MACULA_DISC_PEER_CLOSED, MACULA_ERR_IDLE_TIMEOUT, 5000, NULL));
        CHECK(pt_disconnected_cause(&s.srv, se.peer, MACULA_DISC_PEER_CLOSED, MACULA_ERR_IDLE_TIMEOUT, 5000, NULL));
    }
    setup_down(&s);
}

static void test_keepalive_holds_idle_session(void)
{
    keepalive_case(100);
}

static void test_no_keepalive_idles_out(void)
{
    keepalive_case(0);
}

int main(void)
{
    if (pt_begin(240, &alice, &bob, NULL) != 0)
        return 1;
    for (int i = 0; i < 64; i++)
        realms_b[i] = (uint8_t)(0xA0 + i);
    RUN(test_session);
    RUN(test_session_low_memory);
    RUN(test_peer_closed_during_drain);
    RUN(test_close_early);
    RUN(test_send_refusals);
    RUN(test_embedded_client);
    RUN(test_invalid_options);
    RUN(test_keepalive_holds_idle_session);
    RUN(test_no_keepalive_idles_out);
    return pt_end(&alice, &bob, NULL);
}
