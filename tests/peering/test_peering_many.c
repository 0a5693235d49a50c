/* SPDX-License-Identifier: Apache-2.0 */
/* 500 peers handshaking with one listener at once, in one process and one
 * runtime (so both ends share one loop thread, as a CI machine with two
 * cores would run them anyway): every client and every server worker
 * connects, each client then sends a frame and closes with GOODBYE, the
 * server answers each GOODBYE with its own close (short drain), and every
 * worker ends with exactly one DISCONNECTED. The time taken is printed,
 * not asserted (the deadline only catches a hang). */
#include "peering_test_util.h"

#define PEERS 500

static void close_on_goodbye(pt_recorder *r, macula_event *ev)
{
    if (ev->type == MACULA_EVENT_FRAME && !strcmp(macula_frame_type(ev->frame), "goodbye"))
        macula_peer_close(r->rt, ev->peer, "bye");
}

static void test_500_peers(void)
{
    macula_identity *server_id = macula_identity_generate(NULL);
    REQUIRE(server_id);
    pt_diags diags;
    pt_recorder srv, cli;
    macula_runtime *rt = pt_case_begin(&diags, 0, &srv, &cli, NULL);
    REQUIRE(rt);
    macula_peer_options so;
    pt_server_options(&so, &srv);
    so.drain_timeout_ms = 100;
    srv.hook = close_on_goodbye;
    /* All 500 dial from one loopback address at once: a burst the default
     * per-address admission limit exists to stop (quic.h); opt out. */
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    lo.identity = server_id;
    lo.auto_accept = &so;
    lo.max_pending_per_addr = PEERS;
    macula_listener *l = pt_listen(rt, &lo);
    REQUIRE(l);

    macula_identity **ids = calloc(PEERS, sizeof *ids);
    macula_peer *peers = calloc(PEERS, sizeof *peers);
    REQUIRE(ids && peers);
    for (int i = 0; i < PEERS; i++)
        ids[i] = macula_identity_generate(NULL);
    uint64_t t0 = pt_now_ms();
    for (int i = 0; i < PEERS; i++) {
        macula_peer_options o;
        pt_client_options(&o, ids[i], &cli, macula_listener_port(l));
        o.drain_timeout_ms = 5000; /* the default: a loaded machine needs time to deliver everything */
        o.handshake_timeout_ms = 60000;
        o.connect_timeout_ms = 60000;
        peers[i] = pt_connect(rt, &o);
        CHECK(peers[i] != MACULA_PEER_INVALID);
    }
    int all = pt_wait(&cli, 0, MACULA_EVENT_CONNECTED, PEERS, 90000) &&
              pt_wait(&srv, 0, MACULA_EVENT_CONNECTED, PEERS, 30000);
    uint64_t t_connected = pt_now_ms() - t0;
    CHECK(all);
    CHECK_EQ_INT(pt_count(&cli, 0, MACULA_EVENT_DISCONNECTED), 0);
    CHECK_EQ_INT(pt_count(&srv, 0, MACULA_EVENT_DISCONNECTED), 0);
    fprintf(stderr, "  %d concurrent handshakes (QUIC + CONNECT/HELLO) completed in %llu ms\n", PEERS,
            (unsigned long long)t_connected);

    /* each server worker knows its client's node id */
    int matched = 0;
    for (int i = 0; i < PEERS; i++) {
        macula_peer_info info;
        macula_peer_info_init(&info);
        if (macula_peer_get_info(rt, peers[i], &info) == 0 && info.has_node_id &&
            memcmp(info.node_id, macula_identity_node_id(server_id), 32) == 0)
            matched++;
    }
    CHECK_EQ_INT(matched, PEERS);

    for (int i = 0; i < PEERS; i++) {
        CHECK_EQ_INT(macula_peer_send_frame(rt, peers[i], pt_numbered(0, 0, 64)), 0);
        CHECK_EQ_INT(macula_peer_close(rt, peers[i], "done"), 0);
    }
    CHECK(pt_wait(&srv, 0, MACULA_EVENT_FRAME, 2 * PEERS, 30000)); /* the frame + GOODBYE each */
    CHECK(pt_wait(&cli, 0, MACULA_EVENT_DISCONNECTED, PEERS, 30000));
    CHECK(pt_wait(&srv, 0, MACULA_EVENT_DISCONNECTED, PEERS, 30000));
    fprintf(stderr, "  all %d sessions closed after %llu ms\n", PEERS, (unsigned long long)(pt_now_ms() - t0));
    for (int i = 0; i < PEERS; i++) {
        pt_event d;
        if (pt_last(&cli, peers[i], MACULA_EVENT_DISCONNECTED, &d) && d.reason != MACULA_DISC_PEER_CLOSED_DURING_DRAIN) {
            fprintf(stderr, "  peer %d: %s %s\n", i, macula_disconnect_reason_name(d.reason), d.detail);
            CHECK(0);
            break;
        }
    }
    size_t drained = 0;
    pthread_mutex_lock(&srv.mu);
    for (size_t i = 0; i < srv.n; i++)
        drained += srv.ev[i].type == MACULA_EVENT_DISCONNECTED && srv.ev[i].reason == MACULA_DISC_DRAINED;
    pthread_mutex_unlock(&srv.mu);
    CHECK_EQ_INT(drained, PEERS);
    macula_runtime_free(rt);
    pt_case_end(&diags, &cli, &srv, NULL);
    for (int i = 0; i < PEERS; i++)
        macula_identity_free(ids[i]);
    free(ids);
    free(peers);
    macula_identity_free(server_id);
}

int main(void)
{
    if (pt_begin(400, NULL) != 0)
        return 1;
    RUN(test_500_peers);
    return tu_summary();
}
