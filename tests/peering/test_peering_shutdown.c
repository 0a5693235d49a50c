/* SPDX-License-Identifier: Apache-2.0 */
/* Runtime shutdown over real QUIC: macula_runtime_stop() (and
 * macula_runtime_free() without a stop) sends GOODBYE on every connected
 * worker, ends the others at once (closed, "shutdown"), and finishes within
 * the runtime's shutdown timeout even when the peers never close (their
 * drains are cut to fit and still end "drained"); when the peers answer
 * the GOODBYE by closing, it finishes as soon as they have. Two runtimes:
 * the one that stops, and one for the other ends. */
#include "raw_quic.h"

#define N 20

static macula_identity *alice, *bob;

/* The far side closes its peer when a GOODBYE arrives. */
static atomic_int answer_goodbye;
static void far_hook(pt_recorder *r, macula_event *ev)
{
    if (answer_goodbye && ev->type == MACULA_EVENT_FRAME && ev->frame &&
        !strcmp(macula_frame_type(ev->frame), "goodbye"))
        macula_peer_close(r->rt, ev->peer, "ok_bye");
}

typedef struct pair {
    macula_runtime *near; /* the one that stops: listener */
    macula_runtime *far;  /* clients */
    pt_diags diags;
    pt_recorder srv, cli;
    macula_listener *l;
    macula_peer clients[N];
} pair;

static int pair_up(pair *p, uint32_t near_shutdown_ms)
{
    memset(p, 0, sizeof *p);
    p->near = pt_case_begin(&p->diags, near_shutdown_ms, &p->srv, NULL);
    p->far = pt_runtime(NULL, 0);
    if (!p->near || !p->far)
        return -1;
    pt_recorder_init(&p->cli, p->far);
    p->cli.hook = far_hook;
    macula_peer_options so;
    pt_server_options(&so, &p->srv);
    so.handshake_timeout_ms = 30000;
    p->l = pt_listen_auto(p->near, alice, &so);
    if (!p->l)
        return -1;
    for (int i = 0; i < N; i++) {
        macula_peer_options o;
        pt_client_options(&o, bob, &p->cli, macula_listener_port(p->l));
        o.drain_timeout_ms = 200;
        p->clients[i] = pt_connect(p->far, &o);
    }
    if (!pt_wait(&p->cli, 0, MACULA_EVENT_CONNECTED, N, 20000) || !pt_wait(&p->srv, 0, MACULA_EVENT_CONNECTED, N, 20000))
        return -1;
    return 0;
}

static void pair_down(pair *p)
{
    macula_runtime_free(p->near);
    macula_runtime_free(p->far);
    pt_case_end(&p->diags, &p->srv, &p->cli, NULL);
}

static size_t count_reason(pt_recorder *r, macula_disconnect_reason reason)
{
    size_t n = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        if (r->ev[i].type == MACULA_EVENT_DISCONNECTED && r->ev[i].reason == reason)
            n++;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static size_t count_goodbyes(pt_recorder *r, const char *reason)
{
    size_t n = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        if (r->ev[i].type == MACULA_EVENT_FRAME && !strcmp(r->ev[i].frame_type, "goodbye") &&
            !strcmp(r->ev[i].text, reason))
            n++;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* The far peers never close: the stop still ends within its timeout, each
 * connected worker "drained", the handshaking one "closed". */
static void test_stop_with_silent_peers(void)
{
    answer_goodbye = 0;
    pair p;
    REQUIRE(pair_up(&p, 1500) == 0);
    /* one more connection that never sends CONNECT: handshaking at the stop */
    raw_client rc;
    memset(&rc, 0, sizeof rc);
    REQUIRE(raw_client_start(&rc, p.far, macula_listener_port(p.l)) == 0);
    raw_client_wait(&rc, &rc.connected, 5000);
    pt_sleep_ms(100); /* the listener has made its worker (handshaking) */
    uint64_t t0 = pt_now_ms();
    CHECK_EQ_INT(macula_runtime_stop(p.near), 0);
    CHECK_EQ_INT(macula_runtime_join(p.near), 0);
    uint64_t took = pt_now_ms() - t0;
    fprintf(stderr, "  stop with %d silent connected peers: %llu ms (timeout 1500)\n", N, (unsigned long long)took);
    CHECK(took < 1500 + 1000);
    CHECK_EQ_INT(count_reason(&p.srv, MACULA_DISC_DRAINED), N);
    CHECK_EQ_INT(count_reason(&p.srv, MACULA_DISC_CLOSED), 1);
    CHECK(pt_wait(&p.cli, 0, MACULA_EVENT_DISCONNECTED, N, 10000));
    CHECK_EQ_INT(count_goodbyes(&p.cli, "shutdown"), N);
    CHECK_EQ_INT(count_reason(&p.cli, MACULA_DISC_PEER_CLOSED), N);
    CHECK(!pt_has_diag(&p.diags, "shutdown_deadline", NULL));
    pair_down(&p);
    pthread_mutex_destroy(&rc.mu);
}

/* The far peers answer GOODBYE with their own close: the default 5 s
 * shutdown finishes as soon as their drains end. */
static void test_stop_with_answering_peers(void)
{
    answer_goodbye = 1;
    pair p;
    REQUIRE(pair_up(&p, 0) == 0);
    uint64_t t0 = pt_now_ms();
    macula_runtime_stop(p.near);
    macula_runtime_join(p.near);
    uint64_t took = pt_now_ms() - t0;
    fprintf(stderr, "  stop with %d answering peers: %llu ms (timeout 5000)\n", N, (unsigned long long)took);
    CHECK(took < 4000);
    CHECK_EQ_INT(count_reason(&p.srv, MACULA_DISC_PEER_CLOSED_DURING_DRAIN), N);
    CHECK(pt_wait(&p.cli, 0, MACULA_EVENT_DISCONNECTED, N, 10000));
    CHECK_EQ_INT(count_reason(&p.cli, MACULA_DISC_DRAINED), N);
    /* their GOODBYEs reach workers that are draining: ignored (§4) */
    CHECK_EQ_INT(count_goodbyes(&p.srv, "ok_bye"), 0);
    pair_down(&p);
    answer_goodbye = 0;
}

/* macula_runtime_free() without a stop does the same graceful shutdown;
 * a connect queued just before is ended, not lost. */
static void test_free_without_stop(void)
{
    answer_goodbye = 1;
    pair p;
    REQUIRE(pair_up(&p, 0) == 0);
    macula_peer_options o;
    pt_client_options(&o, bob, &p.cli, 9);
    o.handler_user = &p.srv; /* its events join the near side's record */
    macula_peer late = pt_connect(p.near, &o);
    REQUIRE(late);
    macula_runtime_free(p.near);
    p.near = NULL;
    CHECK_EQ_INT(count_reason(&p.srv, MACULA_DISC_PEER_CLOSED_DURING_DRAIN), N);
    CHECK_EQ_INT(pt_count(&p.srv, late, MACULA_EVENT_DISCONNECTED), 1);
    CHECK(pt_wait(&p.cli, 0, MACULA_EVENT_DISCONNECTED, N, 10000));
    CHECK_EQ_INT(count_goodbyes(&p.cli, "shutdown"), N);
    pair_down(&p);
    answer_goodbye = 0;
}

int main(void)
{
    if (pt_begin(300, &alice, &bob, NULL) != 0)
        return 1;
    RUN(test_stop_with_silent_peers);
    RUN(test_stop_with_answering_peers);
    RUN(test_free_without_stop);
    return pt_end(&alice, &bob, NULL);
}
