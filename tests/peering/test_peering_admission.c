/* SPDX-License-Identifier: Apache-2.0 */
/* A listener's admission (issue 11) over real QUIC: connections that
 * finish the QUIC handshake and never send CONNECT fill the pending cap;
 * an honest peer still connects (through a Retry, the cap being more than
 * half used) because the oldest silent one is evicted, which is closed
 * "evicted", reported ("quic_pending_evicted") and counted in the
 * listener's stats. Connected peers are never evicted. */
#include "raw_quic.h"

static macula_identity *alice, *bob, *carol;

typedef struct stats_call {
    macula_listener *l;
    macula_quic_endpoint_stats s;
} stats_call;

static void stats_cb(void *arg)
{
    stats_call *c = arg;
    macula_listener_get_stats(c->l, &c->s);
}

static void get_stats(macula_runtime *rt, macula_listener *l, macula_quic_endpoint_stats *out)
{
    stats_call c = {.l = l};
    macula_quic_endpoint_stats_init(&c.s);
    pt_on_loop(rt, stats_cb, &c);
    *out = c.s;
}

#define CAP 6

static void test_silent_connections_evicted(void)
{
    pt_diags diags;
    pt_recorder srv, cli;
    macula_runtime *rt = pt_case_begin(&diags, 0, &srv, &cli, NULL);
    REQUIRE(rt);
    macula_peer_options so;
    pt_server_options(&so, &srv);
    so.identity = alice;
    so.drain_timeout_ms = 200;
    so.handshake_timeout_ms = 60000; /* the silent ones would hold for a minute */
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    lo.identity = alice;
    lo.auto_accept = &so;
    lo.max_pending = CAP;
    macula_listener *l = pt_listen(rt, &lo);
    REQUIRE(l);
    uint16_t port = macula_listener_port(l);

    /* One honest peer first: connected, so never evicted later. */
    macula_peer_options co;
    pt_client_options(&co, carol, &cli, port);
    co.handshake_timeout_ms = 10000;
    macula_peer p0 = pt_connect(rt, &co);
    REQUIRE(pt_wait(&cli, p0, MACULA_EVENT_CONNECTED, 1, 10000));

    static raw_client rc[CAP];
    memset(rc, 0, sizeof rc);
    for (int i = 0; i < CAP; i++) {
        REQUIRE(raw_client_start(&rc[i], rt, port) == 0);
        CHECK(raw_client_wait(&rc[i], &rc[i].connected, 5000));
        pt_sleep_ms(20); /* arrival order = age order */
    }
    pt_sleep_ms(100);
    macula_quic_endpoint_stats s;
    macula_quic_endpoint_stats_init(&s);
    get_stats(rt, l, &s);
    CHECK_EQ_INT(s.pending, CAP);
    CHECK_EQ_INT(s.evicted, 0);

    /* The honest newcomer: the cap is full of silent connections. */
    pt_client_options(&co, bob, &cli, port);
    co.handshake_timeout_ms = 10000;
    macula_peer p1 = pt_connect(rt, &co);
    CHECK(pt_wait(&cli, p1, MACULA_EVENT_CONNECTED, 1, 10000));
    /* The oldest silent connection paid for it. */
    CHECK(raw_client_wait_closed(&rc[0], 5000));
    pthread_mutex_lock(&rc[0].mu);
    CHECK(rc[0].app_error && rc[0].code == 1);
    CHECK(strstr(rc[0].reason, "evicted") != NULL);
    pthread_mutex_unlock(&rc[0].mu);
    for (int i = 1; i < CAP; i++) {
        pthread_mutex_lock(&rc[i].mu);
        CHECK(!rc[i].closed);
        pthread_mutex_unlock(&rc[i].mu);
    }
    get_stats(rt, l, &s);
    CHECK_EQ_INT(s.evicted, 1);
    CHECK(s.retry_sent >= 1); /* more than half the cap pending: Retry */
    CHECK_EQ_INT(s.pending, CAP - 1); /* the silent ones left; bob sent CONNECT */
    CHECK(pt_has_diag(&diags, "quic_pending_evicted", "age_ms="));
    /* The connected peers are untouched. */
    macula_peer_info info;
    macula_peer_info_init(&info);
    CHECK(macula_peer_get_info(rt, p0, &info) == 0 && info.state == MACULA_PEER_CONNECTED);
    CHECK(macula_peer_get_info(rt, p1, &info) == 0 && info.state == MACULA_PEER_CONNECTED);

    /* Honest peers do not stay pending: there is room again, and the next
     * ones get in without evicting anybody. */
    macula_peer more[3];
    for (int i = 0; i < 3; i++) {
        pt_client_options(&co, i % 2 ? bob : carol, &cli, port);
        co.handshake_timeout_ms = 10000;
        more[i] = pt_connect(rt, &co);
        CHECK(pt_wait(&cli, more[i], MACULA_EVENT_CONNECTED, 1, 10000));
    }
    get_stats(rt, l, &s);
    CHECK_EQ_INT(s.evicted, 1);
    CHECK_EQ_INT(s.pending, CAP - 1);
    for (int i = 1; i < CAP; i++) {
        pthread_mutex_lock(&rc[i].mu);
        CHECK(!rc[i].closed);
        pthread_mutex_unlock(&rc[i].mu);
    }

    macula_runtime_free(rt);
    pt_case_end(&diags, &srv, &cli, NULL);
    for (int i = 0; i < CAP; i++)
        pthread_mutex_destroy(&rc[i].mu);
}

int main(void)
{
    if (pt_begin(300, &alice, &bob, &carol, NULL) != 0)
        return 1;
    RUN(test_silent_connections_evicted);
    return pt_end(&alice, &bob, &carol, NULL);
}
