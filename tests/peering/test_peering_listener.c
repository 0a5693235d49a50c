/* SPDX-License-Identifier: Apache-2.0 */
/* Listeners over real QUIC: manual accept from another thread long after
 * the client sent its CONNECT (the events kept meanwhile are replayed),
 * refuse, the cap on handshaking connections (manual and automatic mode),
 * close_duplicate_peers ("replaced"), an admit policy refusing with a code
 * (refused on both sides), and macula_listener_close. */
#include "raw_quic.h"

static macula_identity *alice, *bob, *carol;

typedef struct lcase {
    macula_runtime *rt;
    pt_diags diags;
    pt_recorder srv, cli;
    macula_listener *l;
    macula_peer_options sopts;
    /* manual mode */
    pthread_mutex_t mu;
    macula_quic_conn *pending[8];
    int n_pending;
    int refuse_all;
} lcase;

static void on_conn(void *user, macula_listener *l, macula_quic_conn *conn)
{
    lcase *c = user;
    if (c->refuse_all) {
        macula_listener_refuse(l, conn);
        pthread_mutex_lock(&c->mu);
        c->n_pending++;
        pthread_mutex_unlock(&c->mu);
        return;
    }
    pthread_mutex_lock(&c->mu);
    if (c->n_pending < 8)
        c->pending[c->n_pending] = conn;
    c->n_pending++;
    pthread_mutex_unlock(&c->mu);
}

static int wait_pending(lcase *c, int n)
{
    uint64_t end = pt_now_ms() + 10000;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int have = c->n_pending;
        pthread_mutex_unlock(&c->mu);
        if (have >= n)
            return 1;
        if (pt_now_ms() > end)
            return 0;
        pt_sleep_ms(5);
    }
}

/* manual: auto = NULL; otherwise the server options are c->sopts. */
static int lc_up(lcase *c, int manual, size_t max_handshaking, int dups)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->rt = pt_case_begin(&c->diags, 0, &c->srv, &c->cli, NULL);
    if (!c->rt)
        return -1;
    pt_server_options(&c->sopts, &c->srv);
    c->sopts.identity = alice;
    c->sopts.drain_timeout_ms = 300;
    c->sopts.handshake_timeout_ms = 500;
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    lo.identity = alice;
    if (manual) {
        lo.on_connection = on_conn;
        lo.on_connection_user = c;
    } else {
        lo.auto_accept = &c->sopts;
    }
    lo.max_handshaking = max_handshaking;
    lo.close_duplicate_peers = dups;
    c->l = pt_listen(c->rt, &lo);
    return c->l ? 0 : -1;
}

static void lc_down(lcase *c)
{
    macula_runtime_free(c->rt);
    pt_case_end(&c->diags, &c->srv, &c->cli, NULL);
    pthread_mutex_destroy(&c->mu);
}

static macula_peer lc_connect(lcase *c, const macula_identity *id)
{
    macula_peer_options o;
    pt_client_options(&o, id, &c->cli, macula_listener_port(c->l));
    o.drain_timeout_ms = 300;
    o.handshake_timeout_ms = 10000;
    return pt_connect(c->rt, &o);
}

/* Client p was turned away before its handshake (refused, busy): it ends
 * closed_during_handshake or connect_failed (as far as its QUIC handshake
 * had got), the detail saying why. */
static void check_turned_away(lcase *c, macula_peer p, const char *why)
{
    pt_event d;
    CHECK(pt_wait(&c->cli, p, MACULA_EVENT_DISCONNECTED, 1, 10000));
    pt_last(&c->cli, p, MACULA_EVENT_DISCONNECTED, &d);
    CHECK(d.reason == MACULA_DISC_CLOSED_DURING_HANDSHAKE || d.reason == MACULA_DISC_CONNECT_FAILED);
    CHECK(strstr(d.detail, why) != NULL);
}

/* The client sends two frames the moment it is connected. */
static void send_on_connected(pt_recorder *r, macula_event *ev)
{
    if (ev->type != MACULA_EVENT_CONNECTED)
        return;
    for (uint64_t i = 0; i < 2; i++)
        macula_peer_send_frame(r->rt, ev->peer, pt_numbered(0, i, 0));
}

static void test_manual_accept_later(void)
{
    lcase c;
    REQUIRE(lc_up(&c, 1, 0, 0) == 0);
    c.cli.hook = send_on_connected;
    macula_peer p = lc_connect(&c, bob);
    REQUIRE(wait_pending(&c, 1));
    /* the client's CONNECT is in flight (or held by QUIC) meanwhile */
    pt_sleep_ms(300);
    CHECK_EQ_INT(pt_count(&c.cli, p, MACULA_EVENT_CONNECTED), 0);
    int err = 0;
    const char *msg = NULL;
    macula_peer sp = macula_peer_accept(c.rt, c.pending[0], &c.sopts, &err, &msg);
    REQUIRE(sp);
    CHECK(pt_wait(&c.srv, sp, MACULA_EVENT_CONNECTED, 1, 10000));
    CHECK(pt_wait(&c.cli, p, MACULA_EVENT_CONNECTED, 1, 10000));
    CHECK(pt_wait(&c.srv, sp, MACULA_EVENT_FRAME, 2, 10000));
    CHECK_EQ_INT(pt_frames_in_order(&c.srv, sp, 1, 2), 2);
    pt_event e;
    CHECK(pt_last(&c.srv, sp, MACULA_EVENT_CONNECTED, &e) && memcmp(e.node_id, macula_identity_node_id(bob), 32) == 0);
    macula_peer_close(c.rt, p, NULL);
    CHECK(pt_disconnected_with(&c.cli, p, MACULA_DISC_DRAINED, 10000, NULL));
    CHECK(pt_disconnected_with(&c.srv, sp, MACULA_DISC_PEER_CLOSED, 10000, NULL));
    lc_down(&c);
}

struct accept_close {
    lcase *c;
    macula_peer sp;
};

static void accept_then_close(void *arg)
{
    struct accept_close *ac = arg;
    ac->sp = macula_peer_accept(ac->c->rt, ac->c->pending[0], &ac->c->sopts, NULL, NULL);
    macula_peer_close(ac->c->rt, ac->sp, "not_now");
}

/* Closed right after accept (awaiting_start / handshaking): DISCONNECTED
 * (closed, detail = the reason) at once; the client sees the transport go. */
static void test_close_after_accept(void)
{
    lcase c;
    REQUIRE(lc_up(&c, 1, 0, 0) == 0);
    macula_peer p = lc_connect(&c, bob);
    REQUIRE(wait_pending(&c, 1));
    /* Both calls from one loop callback: their commands run back to back,
     * before QUIC hands the connection's queued CONNECT to the worker. */
    struct accept_close ac = {&c, 0};
    pt_on_loop(c.rt, accept_then_close, &ac);
    macula_peer sp = ac.sp;
    REQUIRE(sp);
    pt_event d;
    CHECK(pt_disconnected_with(&c.srv, sp, MACULA_DISC_CLOSED, 10000, &d));
    CHECK(strcmp(d.detail, "not_now") == 0);
    CHECK_EQ_INT(pt_count(&c.srv, sp, MACULA_EVENT_CONNECTED), 0);
    CHECK(pt_disconnected_with(&c.cli, p, MACULA_DISC_CLOSED_DURING_HANDSHAKE, 10000, &d));
    lc_down(&c);
}

/* A server worker that expects another node: peer_identity_mismatch. */
static void test_server_expects_other_node(void)
{
    lcase c;
    REQUIRE(lc_up(&c, 1, 0, 0) == 0);
    macula_peer p = lc_connect(&c, bob);
    REQUIRE(wait_pending(&c, 1));
    macula_peer_options so = c.sopts;
    so.expected_node_id = macula_identity_node_id(carol);
    macula_peer sp = macula_peer_accept(c.rt, c.pending[0], &so, NULL, NULL);
    REQUIRE(sp);
    pt_event d;
    CHECK(pt_disconnected_with(&c.srv, sp, MACULA_DISC_PEER_IDENTITY_MISMATCH, 10000, &d));
    CHECK(pt_disconnected_with(&c.cli, p, MACULA_DISC_CLOSED_DURING_HANDSHAKE, 10000, &d));
    lc_down(&c);
}

static void test_manual_refuse(void)
{
    lcase c;
    REQUIRE(lc_up(&c, 1, 0, 0) == 0);
    c.refuse_all = 1;
    macula_peer p = lc_connect(&c, bob);
    check_turned_away(&c, p, "refused");
    CHECK_EQ_INT(pt_count(&c.srv, 0, MACULA_EVENT_CONNECTED), 0);
    lc_down(&c);
}

struct refusal {
    macula_listener *l;
    macula_quic_conn *conn;
};

static void refuse_cb(void *arg)
{
    struct refusal *r = arg;
    macula_listener_refuse(r->l, r->conn);
}

/* Manual mode, cap 1: the first connection waits for accept; the second is
 * closed "busy"; once the first is refused there is room again. */
static void test_max_handshaking_manual(void)
{
    lcase c;
    REQUIRE(lc_up(&c, 1, 1, 0) == 0);
    macula_peer p1 = lc_connect(&c, bob);
    REQUIRE(wait_pending(&c, 1));
    macula_peer p2 = lc_connect(&c, carol);
    check_turned_away(&c, p2, "busy");
    CHECK(pt_has_diag(&c.diags, "listener_busy", "peer_addr=127.0.0.1:"));
    pthread_mutex_lock(&c.mu);
    CHECK_EQ_INT(c.n_pending, 1);
    pthread_mutex_unlock(&c.mu);
    /* refuse the first: the count drops, a third connection is offered */
    c.refuse_all = 1; /* (for later ones) */
    struct refusal r = {c.l, c.pending[0]};
    pt_on_loop(c.rt, refuse_cb, &r);
    CHECK(pt_wait(&c.cli, p1, MACULA_EVENT_DISCONNECTED, 1, 10000));
    macula_peer p3 = lc_connect(&c, carol);
    CHECK(wait_pending(&c, 2));
    check_turned_away(&c, p3, "refused");
    lc_down(&c);
}

/* Automatic mode, cap 1: a raw client that never sends CONNECT holds the
 * only place; a peer is turned away "busy" until that worker times out. */
static void test_max_handshaking_auto(void)
{
    lcase c;
    REQUIRE(lc_up(&c, 0, 1, 0) == 0);
    raw_client rc;
    memset(&rc, 0, sizeof rc);
    REQUIRE(raw_client_start(&rc, c.rt, macula_listener_port(c.l)) == 0);
    raw_client_wait(&rc, &rc.connected, 5000);
    pt_sleep_ms(200); /* the server has finished its side too: its worker handshakes */
    macula_peer p1 = lc_connect(&c, bob);
    check_turned_away(&c, p1, "busy");
    /* the raw client's worker times out (500 ms): room again */
    CHECK(pt_disconnected_with(&c.srv, 0, MACULA_DISC_HANDSHAKE_TIMEOUT, 10000, NULL));
    macula_peer p2 = lc_connect(&c, bob);
    CHECK(pt_wait(&c.cli, p2, MACULA_EVENT_CONNECTED, 1, 10000));
    lc_down(&c);
    pthread_mutex_destroy(&rc.mu);
}

static void test_close_duplicates(void)
{
    lcase c;
    REQUIRE(lc_up(&c, 0, 0, 1) == 0);
    macula_peer p1 = lc_connect(&c, bob);
    REQUIRE(pt_wait(&c.cli, p1, MACULA_EVENT_CONNECTED, 1, 10000));
    REQUIRE(pt_wait(&c.srv, 0, MACULA_EVENT_CONNECTED, 1, 10000));
    pt_event s1;
    pt_last(&c.srv, 0, MACULA_EVENT_CONNECTED, &s1);
    macula_peer p3 = lc_connect(&c, carol); /* another node: untouched */
    REQUIRE(pt_wait(&c.cli, p3, MACULA_EVENT_CONNECTED, 1, 10000));
    macula_peer p2 = lc_connect(&c, bob);
    REQUIRE(pt_wait(&c.cli, p2, MACULA_EVENT_CONNECTED, 1, 10000));
    /* the older worker of bob says GOODBYE("replaced") and drains */
    CHECK(pt_wait(&c.cli, p1, MACULA_EVENT_FRAME, 1, 10000));
    pt_event gb;
    CHECK(pt_last(&c.cli, p1, MACULA_EVENT_FRAME, &gb) && !strcmp(gb.frame_type, "goodbye") &&
          !strcmp(gb.text, "replaced"));
    CHECK(pt_disconnected_with(&c.srv, s1.peer, MACULA_DISC_DRAINED, 10000, NULL));
    CHECK(pt_disconnected_with(&c.cli, p1, MACULA_DISC_PEER_CLOSED, 10000, NULL));
    macula_peer_info info;
    macula_peer_info_init(&info);
    CHECK(macula_peer_get_info(c.rt, p2, &info) == 0 && info.state == MACULA_PEER_CONNECTED);
    CHECK(macula_peer_get_info(c.rt, p3, &info) == 0 && info.state == MACULA_PEER_CONNECTED);
    CHECK_EQ_INT(pt_count(&c.cli, p3, MACULA_EVENT_FRAME), 0);
    lc_down(&c);
}

static int refuse_bob(void *user, const uint8_t node_id[MACULA_NODE_ID_LEN], int64_t *code)
{
    const macula_identity *who = user;
    if (memcmp(node_id, macula_identity_node_id(who), MACULA_NODE_ID_LEN) != 0)
        return 0;
    *code = 42;
    return 1;
}

static void test_admit_refuses(void)
{
    lcase c;
    memset(&c, 0, sizeof c);
    REQUIRE(lc_up(&c, 0, 0, 0) == 0);
    /* (the listener copied sopts already: make a second one with admit) */
    macula_peer_options so = c.sopts;
    so.admit = refuse_bob;
    so.admit_user = bob;
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    lo.identity = alice;
    lo.auto_accept = &so;
    macula_listener *l2 = pt_listen(c.rt, &lo);
    REQUIRE(l2);
    macula_peer_options o;
    pt_client_options(&o, bob, &c.cli, macula_listener_port(l2));
    macula_peer p = pt_connect(c.rt, &o);
    pt_event d;
    CHECK(pt_disconnected_with(&c.cli, p, MACULA_DISC_REFUSED, 10000, &d));
    CHECK_EQ_INT(d.refusal_code, 42);
    CHECK(pt_disconnected_with(&c.srv, 0, MACULA_DISC_REFUSED, 10000, &d));
    CHECK_EQ_INT(d.refusal_code, 42);
    CHECK(pt_has_diag(&c.diags, "peer_refused", "refusal_code=42"));
    pt_client_options(&o, carol, &c.cli, macula_listener_port(l2));
    macula_peer p2 = pt_connect(c.rt, &o);
    CHECK(pt_wait(&c.cli, p2, MACULA_EVENT_CONNECTED, 1, 10000));
    lc_down(&c);
}

static void test_listener_close(void)
{
    lcase c;
    REQUIRE(lc_up(&c, 0, 0, 0) == 0);
    uint16_t port = macula_listener_port(c.l);
    macula_peer p1 = lc_connect(&c, bob);
    macula_peer p2 = lc_connect(&c, carol);
    REQUIRE(pt_wait(&c.cli, p1, MACULA_EVENT_CONNECTED, 1, 10000));
    REQUIRE(pt_wait(&c.cli, p2, MACULA_EVENT_CONNECTED, 1, 10000));
    REQUIRE(pt_wait(&c.srv, 0, MACULA_EVENT_CONNECTED, 2, 10000));
    pt_listener_close(c.rt, c.l);
    pt_event gb;
    CHECK(pt_wait(&c.cli, p1, MACULA_EVENT_FRAME, 1, 10000));
    CHECK(pt_last(&c.cli, p1, MACULA_EVENT_FRAME, &gb) && !strcmp(gb.text, "listener_closed"));
    CHECK(pt_disconnected_with(&c.cli, p1, MACULA_DISC_PEER_CLOSED, 10000, NULL));
    CHECK(pt_disconnected_with(&c.cli, p2, MACULA_DISC_PEER_CLOSED, 10000, NULL));
    CHECK(pt_wait(&c.srv, 0, MACULA_EVENT_DISCONNECTED, 2, 10000));
    /* the endpoint is released once its workers ended: nobody answers */
    pt_sleep_ms(100);
    macula_peer_options o;
    pt_client_options(&o, bob, &c.cli, port);
    o.connect_timeout_ms = 1000;
    macula_peer p3 = pt_connect(c.rt, &o);
    CHECK(pt_disconnected_with(&c.cli, p3, MACULA_DISC_CONNECT_FAILED, 10000, NULL));
    lc_down(&c);
}

int main(void)
{
    if (pt_begin(300, &alice, &bob, &carol, NULL) != 0)
        return 1;
    RUN(test_manual_accept_later);
    RUN(test_close_after_accept);
    RUN(test_server_expects_other_node);
    RUN(test_manual_refuse);
    RUN(test_max_handshaking_manual);
    RUN(test_max_handshaking_auto);
    RUN(test_close_duplicates);
    RUN(test_admit_refuses);
    RUN(test_listener_close);
    return pt_end(&alice, &bob, &carol, NULL);
}
