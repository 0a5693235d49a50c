/* SPDX-License-Identifier: Apache-2.0 */
/* "No silent loss" and what an application learns at the end of a peer,
 * over real QUIC on loopback: sends refused with MACULA_ERR_STATE before
 * CONNECTED and after close; queue_until_connected (frames held and sent
 * in order after CONNECTED, or counted as dropped when the peer never
 * connects); SEND_READY once after MACULA_ERR_QUEUE_FULL; the
 * DISCONNECTED cause for our close, the runtime's shutdown and a refused
 * peer; final_info (also through a mailbox); peer_user in every event; and
 * the thread rule of listeners and QUIC entry points. */
#include "peering_test_util.h"

static macula_identity *alice, *bob;
static int cli_user, srv_user; /* their addresses are the peer_user values */

typedef struct setup {
    macula_runtime *rt;
    pt_diags diags;
    pt_recorder srv, cli;
    macula_listener *l;
    macula_peer_options sopts;
    uint16_t port;
} setup;

static int setup_up(setup *s)
{
    memset(s, 0, sizeof *s);
    s->rt = pt_case_begin(&s->diags, 0, &s->srv, &s->cli, NULL);
    if (!s->rt)
        return -1;
    pt_server_options(&s->sopts, &s->srv);
    s->sopts.peer_user = &srv_user;
    s->l = pt_listen_auto(s->rt, alice, &s->sopts);
    if (!s->l)
        return -1;
    s->port = macula_listener_port(s->l);
    return 0;
}

static void setup_down(setup *s)
{
    macula_runtime_free(s->rt);
    pt_case_end(&s->diags, &s->srv, &s->cli, NULL);
}

static void client_options(setup *s, macula_peer_options *o)
{
    pt_client_options(o, bob, &s->cli, s->port);
    o->peer_user = &cli_user;
    o->drain_timeout_ms = 300;
}

/* Every recorded event of `peer` (0 = any) carries `user`. */
static int all_events_carry(pt_recorder *r, macula_peer peer, void *user)
{
    int bad = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        if ((!peer || r->ev[i].peer == peer) && r->ev[i].peer_user != user)
            bad++;
    pthread_mutex_unlock(&r->mu);
    return bad == 0 && r->n > 0;
}

static void quic_noop(void *user, const macula_quic_event *ev)
{
    (void)user;
    (void)ev;
}

/* --- holding the loop: what a caller sees while the loop is busy --- */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, open;
} gate;

static void gate_cb(void *arg)
{
    gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->entered = 1;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

/* Blocks the loop thread until gate_open(). */
static void gate_close(macula_runtime *rt, gate *g)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    REQUIRE(macula_runtime_post(rt, gate_cb, g) == 0);
    pthread_mutex_lock(&g->mu);
    while (!g->entered)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_free(gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

/* --- cases --- */

/* Our close: DISCONNECTED(drained) with cause ok, the final counters, and
 * peer_user in every event on both sides; sends after close are refused. */
static void test_final_info_and_user(void)
{
    setup s;
    REQUIRE(setup_up(&s) == 0);
    macula_peer_options o;
    client_options(&s, &o);
    macula_peer c = pt_connect(s.rt, &o);
    REQUIRE(c);
    REQUIRE(pt_wait(&s.cli, c, MACULA_EVENT_CONNECTED, 1, 10000));
    for (uint64_t i = 0; i < 5; i++)
        CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, i, 10)), 0);
    REQUIRE(pt_wait(&s.srv, 0, MACULA_EVENT_FRAME, 5, 10000));
    macula_peer_info live;
    macula_peer_info_init(&live);
    REQUIRE(macula_peer_get_info(s.rt, c, &live) == 0);
    CHECK_EQ_INT(macula_peer_close(s.rt, c, "bye"), 0);
    /* Refused at once: it would only be dropped behind the GOODBYE. */
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, 99, 0)), MACULA_ERR_STATE);
    pt_event d;
    CHECK(pt_disconnected_cause(&s.cli, c, MACULA_DISC_DRAINED, MACULA_OK, 10000, &d));
    CHECK(d.has_final);
    CHECK_EQ_INT(d.final_info.struct_size, sizeof(macula_peer_info));
    CHECK_EQ_INT(d.final_info.state, MACULA_PEER_ENDED);
    CHECK_EQ_INT(d.final_info.frames_out, 7); /* CONNECT, 5 frames, GOODBYE */
    CHECK(d.final_info.bytes_out > live.bytes_out);
    CHECK_EQ_INT(d.final_info.frames_in, 1); /* HELLO */
    CHECK_EQ_INT(d.final_info.frames_dropped, 0);
    CHECK(d.final_info.has_node_id && memcmp(d.final_info.node_id, macula_identity_node_id(alice), 32) == 0);
    CHECK(strncmp(d.final_info.peer_addr, "127.0.0.1:", 10) == 0);
    /* the handle is stale now; final_info was the last snapshot */
    CHECK_EQ_INT(macula_peer_get_info(s.rt, c, &live), MACULA_ERR_STALE_HANDLE);
    pt_event sd;
    REQUIRE(pt_wait(&s.srv, 0, MACULA_EVENT_DISCONNECTED, 1, 10000));
    pt_last(&s.srv, 0, MACULA_EVENT_DISCONNECTED, &sd);
    CHECK(sd.has_final && sd.final_info.frames_in == 7 && sd.final_info.is_server);
    CHECK(all_events_carry(&s.cli, c, &cli_user));
    CHECK(all_events_carry(&s.srv, 0, &srv_user));
    /* connected events carry no cause or final info */
    pt_event ce;
    REQUIRE(pt_last(&s.cli, c, MACULA_EVENT_CONNECTED, &ce));
    CHECK(ce.cause == 0 && !ce.has_final);
    setup_down(&s);
}

/* The same through a mailbox: the popped DISCONNECTED owns a copy of the
 * final info. */
static void test_final_info_through_mailbox(void)
{
    setup s;
    REQUIRE(setup_up(&s) == 0);
    macula_mailbox *mb = macula_mailbox_new(0, NULL);
    REQUIRE(mb);
    macula_peer_options o;
    client_options(&s, &o);
    o.handler = macula_mailbox_handler;
    o.handler_user = mb;
    macula_peer c = pt_connect(s.rt, &o);
    REQUIRE(c);
    macula_event *ev = macula_mailbox_pop(mb, 10000);
    REQUIRE(ev && ev->type == MACULA_EVENT_CONNECTED);
    CHECK(ev->peer_user == &cli_user && ev->final_info == NULL);
    macula_event_free(ev);
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, 0, 0)), 0);
    macula_peer_close(s.rt, c, NULL);
    ev = macula_mailbox_pop(mb, 10000);
    REQUIRE(ev && ev->type == MACULA_EVENT_DISCONNECTED);
    CHECK_EQ_INT(ev->cause, MACULA_OK);
    CHECK(ev->peer_user == &cli_user);
    REQUIRE(ev->final_info != NULL);
    CHECK_EQ_INT(ev->final_info->frames_out, 3);
    CHECK_EQ_INT(ev->final_info->state, MACULA_PEER_ENDED);
    macula_event_free(ev);
    setup_down(&s);
    macula_mailbox_free(mb);
}

/* queue_until_connected: frames sent while connecting arrive, in order,
 * right after CONNECTED; without it they are refused. */
static void test_queue_until_connected(void)
{
    setup s;
    REQUIRE(setup_up(&s) == 0);
    macula_peer_options o;
    client_options(&s, &o);
    o.queue_until_connected = 1;
    gate g;
    gate_close(s.rt, &g); /* the peer cannot get anywhere before our sends */
    macula_peer c = pt_connect(s.rt, &o);
    REQUIRE(c);
    for (uint64_t i = 0; i < 20; i++)
        CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, i, 100)), 0);
    o.queue_until_connected = 0;
    macula_peer plain = pt_connect(s.rt, &o);
    REQUIRE(plain);
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, plain, pt_numbered(1, 0, 0)), MACULA_ERR_STATE);
    gate_open(&g);
    REQUIRE(pt_wait(&s.cli, c, MACULA_EVENT_CONNECTED, 1, 10000));
    REQUIRE(pt_wait(&s.srv, 0, MACULA_EVENT_FRAME, 20, 10000));
    pthread_mutex_lock(&s.srv.mu);
    macula_peer sp = 0;
    for (size_t i = 0; i < s.srv.n && !sp; i++)
        if (s.srv.ev[i].type == MACULA_EVENT_FRAME)
            sp = s.srv.ev[i].peer;
    pthread_mutex_unlock(&s.srv.mu);
    CHECK_EQ_INT(pt_frames_in_order(&s.srv, sp, 1, 20), 20);
    REQUIRE(pt_wait(&s.cli, plain, MACULA_EVENT_CONNECTED, 1, 10000));
    setup_down(&s);
    gate_free(&g);
}

/* queue_until_connected towards a peer that never answers: the held
 * frames are counted as dropped in the final info; our close is cause ok. */
static void test_held_frames_dropped(void)
{
    setup s;
    REQUIRE(setup_up(&s) == 0);
    uint16_t port = 0;
    int hole = pt_black_hole(&port);
    REQUIRE(hole >= 0);
    macula_peer_options o;
    client_options(&s, &o);
    o.port = port;
    o.queue_until_connected = 1;
    macula_peer c = pt_connect(s.rt, &o);
    REQUIRE(c);
    for (uint64_t i = 0; i < 3; i++)
        CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, i, 0)), 0);
    pt_sleep_ms(50);
    macula_peer_close(s.rt, c, "give up");
    pt_event d;
    CHECK(pt_disconnected_cause(&s.cli, c, MACULA_DISC_CLOSED, MACULA_OK, 10000, &d));
    CHECK(d.has_final && d.final_info.frames_dropped == 3 && d.final_info.frames_out == 0);
    close(hole);
    setup_down(&s);
}

/* MACULA_ERR_QUEUE_FULL, then one SEND_READY once the queue has room; a
 * frame larger than the cap owes nothing. */
static void test_send_ready(void)
{
    setup s;
    REQUIRE(setup_up(&s) == 0);
    macula_peer_options o;
    client_options(&s, &o);
    o.send_queue_cap = 4096;
    macula_peer c = pt_connect(s.rt, &o);
    REQUIRE(c);
    REQUIRE(pt_wait(&s.cli, c, MACULA_EVENT_CONNECTED, 1, 10000));
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, 0, 5000)), MACULA_ERR_QUEUE_FULL);
    pt_sleep_ms(200);
    CHECK_EQ_INT(pt_count(&s.cli, c, MACULA_EVENT_SEND_READY), 0);

    gate g;
    gate_close(s.rt, &g); /* nothing leaves the queue meanwhile */
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, 0, 3000)), 0);
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, 1, 3000)), MACULA_ERR_QUEUE_FULL);
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, 1, 3000)), MACULA_ERR_QUEUE_FULL);
    CHECK_EQ_INT(pt_count(&s.cli, c, MACULA_EVENT_SEND_READY), 0);
    gate_open(&g);
    REQUIRE(pt_wait(&s.cli, c, MACULA_EVENT_SEND_READY, 1, 10000));
    pt_event r;
    REQUIRE(pt_last(&s.cli, c, MACULA_EVENT_SEND_READY, &r));
    CHECK(r.peer_user == &cli_user && r.has_node_id && r.cause == 0);
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, c, pt_numbered(0, 1, 3000)), 0);
    REQUIRE(pt_wait(&s.srv, 0, MACULA_EVENT_FRAME, 2, 10000));
    pt_sleep_ms(100);
    CHECK_EQ_INT(pt_count(&s.cli, c, MACULA_EVENT_SEND_READY), 1); /* once, for two refusals */
    macula_peer_close(s.rt, c, NULL);
    CHECK(pt_disconnected_cause(&s.cli, c, MACULA_DISC_DRAINED, MACULA_OK, 10000, NULL));
    setup_down(&s);
    gate_free(&g);
}

/* The runtime's stop: a connected peer drains (cause shutting_down), a
 * connecting one ends closed (cause shutting_down). */
static void test_shutdown_cause(void)
{
    setup s;
    REQUIRE(setup_up(&s) == 0);
    macula_peer_options o;
    client_options(&s, &o);
    macula_peer c = pt_connect(s.rt, &o);
    REQUIRE(c);
    REQUIRE(pt_wait(&s.cli, c, MACULA_EVENT_CONNECTED, 1, 10000));
    uint16_t port = 0;
    int hole = pt_black_hole(&port);
    REQUIRE(hole >= 0);
    o.port = port;
    macula_peer early = pt_connect(s.rt, &o);
    REQUIRE(early);
    pt_sleep_ms(50);
    macula_runtime_stop(s.rt);
    CHECK(pt_disconnected_cause(&s.cli, c, MACULA_DISC_DRAINED, MACULA_ERR_SHUTDOWN, 10000, NULL));
    CHECK(pt_disconnected_cause(&s.cli, early, MACULA_DISC_CLOSED, MACULA_ERR_SHUTDOWN, 10000, NULL));
    close(hole);
    setup_down(&s);
}

/* An admit policy that refuses: both ends say refused. */
static int refuse_all(void *user, const uint8_t node_id[MACULA_NODE_ID_LEN], int64_t *refusal_code)
{
    (void)user;
    (void)node_id;
    *refusal_code = 3;
    return 1;
}

static void test_refused_cause(void)
{
    pt_diags diags;
    pt_recorder srv, cli;
    macula_runtime *rt = pt_case_begin(&diags, 0, &srv, &cli, NULL);
    REQUIRE(rt);
    macula_peer_options so;
    pt_server_options(&so, &srv);
    so.admit = refuse_all;
    so.drain_timeout_ms = 300;
    macula_listener *l = pt_listen_auto(rt, alice, &so);
    REQUIRE(l);
    macula_peer_options o;
    pt_client_options(&o, bob, &cli, macula_listener_port(l));
    macula_peer c = pt_connect(rt, &o);
    REQUIRE(c);
    CHECK(pt_disconnected_cause(&cli, c, MACULA_DISC_REFUSED, MACULA_ERR_REFUSED, 10000, NULL));
    CHECK(pt_disconnected_cause(&srv, 0, MACULA_DISC_REFUSED, MACULA_ERR_REFUSED, 10000, NULL));
    macula_runtime_free(rt);
    pt_case_end(&diags, &srv, &cli, NULL);
}

/* Listeners are loop-thread calls once the loop runs: elsewhere
 * listener_new fails with MACULA_ERR_STATE and close is ignored (with an
 * "api_misuse" diagnostic), leaving the listener working. */
static void test_listener_thread_rule(void)
{
    setup s;
    REQUIRE(setup_up(&s) == 0);
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    lo.bind_host = "127.0.0.1";
    lo.identity = alice;
    lo.auto_accept = &s.sopts;
    int err = 0;
    const char *msg = NULL;
    CHECK(macula_listener_new(s.rt, &lo, &err, &msg) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_STATE);
    CHECK(pt_has_diag(&s.diags, "api_misuse", "macula_listener_new"));
    macula_listener_close(s.l); /* wrong thread: ignored */
    CHECK(pt_has_diag(&s.diags, "api_misuse", "macula_listener_close"));
    /* the QUIC layer's entry points too */
    macula_quic_dial_options d;
    macula_quic_dial_options_init(&d);
    d.host = "127.0.0.1";
    d.port = s.port;
    CHECK(macula_quic_dial(s.rt, NULL, &d, quic_noop, NULL, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_STATE);
    macula_quic_endpoint_options eo;
    macula_quic_endpoint_options_init(&eo);
    CHECK(macula_quic_endpoint_new(s.rt, &eo, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_STATE);
    macula_peer_options o;
    client_options(&s, &o);
    macula_peer c = pt_connect(s.rt, &o);
    REQUIRE(c);
    CHECK(pt_wait(&s.cli, c, MACULA_EVENT_CONNECTED, 1, 10000));
    pt_listener_close(s.rt, s.l); /* on the loop thread: closes */
    /* the server's worker says GOODBYE and drains; the client hears the
     * peer close the connection */
    CHECK(pt_disconnected_cause(&s.cli, c, MACULA_DISC_PEER_CLOSED, MACULA_ERR_PEER_CLOSED, 10000, NULL));
    setup_down(&s);
}

int main(void)
{
    if (pt_begin(240, &alice, &bob, NULL) != 0)
        return 1;
    RUN(test_final_info_and_user);
    RUN(test_final_info_through_mailbox);
    RUN(test_queue_until_connected);
    RUN(test_held_frames_dropped);
    RUN(test_send_ready);
    RUN(test_shutdown_cause);
    RUN(test_refused_cause);
    RUN(test_listener_thread_rule);
    return pt_end(&alice, &bob, NULL);
}
