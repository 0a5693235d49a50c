/* SPDX-License-Identifier: Apache-2.0 */
/* Dead-peer detection over real QUIC (loopback): a client with
 * keep-alive every 100 ms and dead_peer_timeout_ms 500 stays connected to
 * a live listener for 1.5 s (no false alarm), then the listener's runtime
 * stops being run (a frozen peer: no ACK for the PINGs) and the client
 * ends with MACULA_DISC_DEAD_PEER within about the timeout, not at the
 * 300 s idle timeout. */
#include "peering_test_util.h"

static macula_identity *alice, *bob;

static void run_for(macula_runtime *srv, unsigned ms)
{
    uint64_t end = pt_now_ms() + ms;
    while (pt_now_ms() < end) {
        macula_runtime_process(srv);
        pt_sleep_ms(1);
    }
}

static void test_frozen_peer_detected(void)
{
    pt_diags diags;
    pt_recorder cli, srv_rec;
    macula_runtime *rt = pt_case_begin(&diags, 0, &cli, NULL);
    REQUIRE(rt);
    /* the server's runtime is driven by this thread: it freezes when we stop */
    macula_runtime *srv = macula_runtime_new(NULL, NULL);
    REQUIRE(srv);
    pt_recorder_init(&srv_rec, srv);
    macula_peer_options so;
    pt_server_options(&so, &srv_rec);
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    lo.identity = alice;
    lo.auto_accept = &so;
    int err = 0;
    macula_listener *l = macula_listener_new(srv, &lo, &err, NULL);
    REQUIRE(l);
    macula_peer_options o;
    pt_client_options(&o, bob, &cli, macula_listener_port(l));
    o.keepalive_ms = 100;
    o.dead_peer_timeout_ms = 500;
    macula_peer p = pt_connect(rt, &o);
    REQUIRE(p);
    for (int i = 0; i < 5000 && !pt_wait(&cli, p, MACULA_EVENT_CONNECTED, 1, 0); i++)
        run_for(srv, 2);
    REQUIRE(pt_wait(&cli, p, MACULA_EVENT_CONNECTED, 1, 0));
    run_for(srv, 1500); /* alive: keep-alive ACKs keep it so */
    CHECK(!pt_wait(&cli, p, MACULA_EVENT_DISCONNECTED, 1, 0));
    uint64_t t0 = pt_now_ms();
    pt_event e;
    CHECK(pt_disconnected_with(&cli, p, MACULA_DISC_DEAD_PEER, 10000, &e));
    uint64_t took = pt_now_ms() - t0;
    fprintf(stderr, "  frozen peer ended as dead_peer after %llu ms (timeout 500, keep-alive 100): %s\n",
            (unsigned long long)took, e.detail);
    CHECK(took >= 400 && took < 2000);
    CHECK(!strcmp(macula_disconnect_reason_name(MACULA_DISC_DEAD_PEER), "dead_peer"));
    /* a dial without keep-alive cannot detect it: refused */
    o.keepalive_ms = 0;
    const char *why = NULL;
    CHECK(macula_peer_connect(rt, &o, &err, &why) == 0 && err == MACULA_ERR_INVALID_ARG && why &&
          !strcmp(why, "dead_peer_timeout_ms"));
    macula_runtime_free(rt);
    run_for(srv, 50);
    macula_runtime_free(srv);
    pt_case_end(&diags, &cli, NULL);
    pt_recorder_free(&srv_rec);
}

int main(void)
{
    if (pt_begin(120, &alice, &bob, NULL) != 0)
        return 1;
    RUN(test_frozen_peer_detected);
    return pt_end(&alice, &bob, NULL);
}
