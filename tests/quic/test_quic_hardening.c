/* SPDX-License-Identifier: Apache-2.0 */
/* The QUIC endpoint under hostile load (issue 11), in one process over
 * loopback: stray short-header datagrams from the address of many
 * connections reach none of them; a real stateless reset still ends its
 * connection (found by its token); Retry when forced; the pending cap
 * evicts the oldest pending connection and the per-address cap refuses
 * only the flooding address's newcomers. */
#include <arpa/inet.h>

#include "quic/quic_internal.h"
#include "quic_test_util.h"

#define MAXC 64

struct side {
    macula_quic_conn *conns[MAXC];
    int n_connected, n_closed;
    int closed[MAXC];
    macula_quic_close_info close[MAXC];
    char reason[MAXC][160];
};

struct slot {
    struct side *side;
    int i;
};

static void record(struct side *s, int i, const macula_quic_event *ev)
{
    if (ev->type == MACULA_QUIC_EV_CONNECTED) {
        s->conns[i] = ev->conn;
        s->n_connected++;
    } else if (ev->type == MACULA_QUIC_EV_CLOSED) {
        s->closed[i] = 1;
        s->close[i] = ev->close;
        snprintf(s->reason[i], sizeof s->reason[i], "%s", ev->close.reason);
        s->n_closed++;
    }
}

static void hc_handler(void *user, const macula_quic_event *ev)
{
    struct slot *sl = user;
    record(sl->side, sl->i, ev);
}

/* Server: connections numbered in arrival order. */
static struct side srv_side;
static struct slot srv_slots[MAXC];
static int srv_next;

static void srv_conn_handler(void *user, const macula_quic_event *ev) { hc_handler(user, ev); }

static void srv_on_connection(void *user, const macula_quic_event *ev)
{
    (void)user;
    if (ev->type != MACULA_QUIC_EV_CONNECTED || srv_next == MAXC)
        return;
    struct slot *sl = &srv_slots[srv_next];
    sl->side = &srv_side;
    sl->i = srv_next++;
    record(&srv_side, sl->i, ev);
    macula_quic_conn_set_owner(ev->conn, srv_conn_handler, sl);
}

static macula_quic_endpoint *server(macula_runtime *rt, const macula_identity *id, size_t max_pending,
                                    size_t per_addr, macula_quic_retry retry, int hold)
{
    memset(&srv_side, 0, sizeof srv_side);
    srv_next = 0;
    macula_quic_endpoint_options o;
    macula_quic_endpoint_options_init(&o);
    o.bind_host = "127.0.0.1";
    o.identity = id;
    o.on_connection = srv_on_connection;
    o.max_pending = max_pending;
    o.max_pending_per_addr = per_addr;
    o.retry = retry;
    o.hold_until_admitted = hold;
    return macula_quic_endpoint_new(rt, &o, NULL);
}

static macula_quic_endpoint *client_ep(macula_runtime *rt, const char *host)
{
    macula_quic_endpoint_options o;
    macula_quic_endpoint_options_init(&o);
    o.bind_host = host;
    return macula_quic_endpoint_new(rt, &o, NULL);
}

static macula_quic_conn *dial(macula_runtime *rt, macula_quic_endpoint *cep, uint16_t port, struct slot *sl)
{
    macula_quic_dial_options d;
    macula_quic_dial_options_init(&d);
    d.host = "127.0.0.1";
    d.port = port;
    d.timeout_ms = 10000;
    d.verify = MACULA_QUIC_VERIFY_NONE;
    return macula_quic_dial(rt, cep, &d, hc_handler, sl, NULL);
}

static void pump(macula_runtime *rt, unsigned ms)
{
    int never = 0;
    run_until(rt, &never, ms);
}

static int wait_count(macula_runtime *rt, const int *counter, int want, unsigned ms)
{
    uint64_t end = macula__clock_now() + (uint64_t)ms * 1000000u;
    while (*counter < want && macula__clock_now() < end) {
        macula_runtime_process(rt);
        if (macula_runtime_next_timeout_ms(rt) != 0)
            usleep(200);
    }
    return *counter >= want;
}

static uint64_t srv_packets(int n)
{
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        if (srv_side.conns[i] && !srv_side.closed[i]) {
            macula_quic_conn_stats st;
            macula_quic_conn_get_stats(srv_side.conns[i], &st);
            sum += st.packets_received;
        }
    }
    return sum;
}

/* 40 connections from one address:port, then 300 spoofable garbage
 * short-header datagrams from that same socket: the old dispatch offered
 * each to all 40 connections (ngtcp2 decrypt attempts); now none reads
 * any. Then a real stateless reset ends exactly its connection. */
static void test_stray_flood_and_real_reset(void)
{
    enum { M = 40, K = 300 };
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    macula_identity *id = macula_identity_generate(NULL);
    REQUIRE(rt && id);
    macula_quic_endpoint *sep = server(rt, id, 0, 0, MACULA_QUIC_RETRY_NEVER, 0);
    macula_quic_endpoint *cep = client_ep(rt, "127.0.0.1");
    REQUIRE(sep && cep);
    static struct side cl;
    static struct slot sl[M];
    memset(&cl, 0, sizeof cl);
    for (int i = 0; i < M; i++) {
        sl[i].side = &cl;
        sl[i].i = i;
        REQUIRE(dial(rt, cep, macula_quic_endpoint_port(sep), &sl[i]));
    }
    CHECK(wait_count(rt, &cl.n_connected, M, 20000));
    CHECK(wait_count(rt, &srv_side.n_connected, M, 5000));
    pump(rt, 100);
    macula_quic_endpoint_stats cs, ss0, ss;
    macula_quic_endpoint_stats_init(&cs);
    macula_quic_endpoint_stats_init(&ss0);
    macula_quic_endpoint_stats_init(&ss);
    macula_quic_endpoint_get_stats(cep, &cs);
    /* Every client connection's server-given reset token is known. */
    CHECK_EQ_INT(cs.reset_tokens, M);
    macula_quic_endpoint_get_stats(sep, &ss0);
    uint64_t before = srv_packets(M);

    struct sockaddr_storage sa;
    socklen_t salen;
    REQUIRE(macula_quic_endpoint_local_addr(sep, &sa, &salen) == 0);
    for (int k = 0; k < K; k++) {
        uint8_t pkt[64];
        randombytes_buf(pkt, sizeof pkt);
        pkt[0] = (uint8_t)(0x40 | (pkt[0] & 0x3f)); /* short header, fixed bit */
        macula__endpoint_send(cep, (const struct sockaddr *)&sa, salen, pkt, sizeof pkt);
        if (k % 50 == 0)
            macula_runtime_process(rt);
    }
    pump(rt, 300);
    macula_quic_endpoint_get_stats(sep, &ss);
    uint64_t after = srv_packets(M);
    CHECK(ss.stray_datagrams - ss0.stray_datagrams >= K);
    CHECK_EQ_INT(ss.stray_conn_reads - ss0.stray_conn_reads, 0);
    /* No connection read the garbage (the old path: K x M reads). */
    CHECK((after - before) < 5);
    fprintf(stderr, "  %d stray datagrams: %llu connection reads (old dispatch: up to %d)\n", K,
            (unsigned long long)(after - before), K * M);
    CHECK_EQ_INT(cl.n_closed, 0);
    CHECK_EQ_INT(srv_side.n_closed, 0);

    /* A real reset for client connection 7: the token the server gave for
     * the id the client uses towards it, from the server's socket. */
    macula_quic_conn *victim = cl.conns[7];
    REQUIRE(victim && victim->q);
    const ngtcp2_cid *dcid = ngtcp2_conn_get_dcid(victim->q);
    uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN], rnd[40], pkt[64];
    macula__endpoint_reset_token(sep, dcid, token);
    randombytes_buf(rnd, sizeof rnd);
    ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(pkt, sizeof pkt, token, rnd, sizeof rnd);
    REQUIRE(n > 0);
    struct sockaddr_storage ca;
    socklen_t calen;
    REQUIRE(macula_quic_endpoint_local_addr(cep, &ca, &calen) == 0);
    macula__endpoint_send(sep, (const struct sockaddr *)&ca, calen, pkt, (size_t)n);
    CHECK(wait_count(rt, &cl.n_closed, 1, 3000));
    CHECK(cl.closed[7]);
    CHECK_EQ_INT(cl.close[7].cause, MACULA_QUIC_CLOSE_STATELESS_RESET);
    pump(rt, 50);
    CHECK_EQ_INT(cl.n_closed, 1);
    macula_quic_endpoint_get_stats(cep, &cs);
    CHECK_EQ_INT(cs.stray_conn_reads, 1);
    CHECK_EQ_INT(cs.reset_tokens, M - 1);
    macula_runtime_free(rt);
    macula_identity_free(id);
}

/* Retry forced: the dial still connects, after one Retry. */
static void test_retry_always(void)
{
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    macula_identity *id = macula_identity_generate(NULL);
    REQUIRE(rt && id);
    for (int mode = 0; mode < 2; mode++) {
        macula_quic_endpoint *sep =
            server(rt, id, 0, 0, mode ? MACULA_QUIC_RETRY_NEVER : MACULA_QUIC_RETRY_ALWAYS, 0);
        REQUIRE(sep);
        static struct side cl;
        static struct slot sl;
        memset(&cl, 0, sizeof cl);
        sl.side = &cl;
        REQUIRE(dial(rt, NULL, macula_quic_endpoint_port(sep), &sl));
        CHECK(wait_count(rt, &cl.n_connected, 1, 10000));
        CHECK(wait_count(rt, &srv_side.n_connected, 1, 5000));
        macula_quic_endpoint_stats ss;
        macula_quic_endpoint_stats_init(&ss);
        macula_quic_endpoint_get_stats(sep, &ss);
        CHECK_EQ_INT(ss.retry_sent, mode ? 0 : 1);
        CHECK_EQ_INT(ss.retry_token_bad, 0);
        CHECK_EQ_INT(srv_side.n_connected, 1);
        macula_quic_endpoint_close(sep);
        pump(rt, 50);
    }
    macula_runtime_free(rt);
    macula_identity_free(id);
}

/* Pending cap 4, connections held pending after the handshake (as the
 * peering listener holds them until CONNECT): a 5th evicts the oldest,
 * which is closed "evicted"; admitted connections are out of reach. */
static void test_pending_cap_evicts_oldest(void)
{
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    macula_identity *id = macula_identity_generate(NULL);
    REQUIRE(rt && id);
    macula_quic_endpoint *sep = server(rt, id, 4, 0, MACULA_QUIC_RETRY_NEVER, 1);
    macula_quic_endpoint *slow = client_ep(rt, "127.0.0.2");
    REQUIRE(sep && slow);
    static struct side cl;
    static struct slot sl[8];
    memset(&cl, 0, sizeof cl);
    uint16_t port = macula_quic_endpoint_port(sep);
    for (int i = 0; i < 4; i++) {
        sl[i].side = &cl;
        sl[i].i = i;
        REQUIRE(dial(rt, slow, port, &sl[i]));
        CHECK(wait_count(rt, &cl.n_connected, i + 1, 10000)); /* in order: 0 is the oldest */
    }
    macula_quic_endpoint_stats ss;
    macula_quic_endpoint_stats_init(&ss);
    macula_quic_endpoint_get_stats(sep, &ss);
    CHECK_EQ_INT(ss.pending, 4);
    CHECK_EQ_INT(ss.pending_cap, 4);
    /* Admit server connection 1: no longer pending, never evicted. */
    macula_quic_conn_admitted(srv_side.conns[1]);
    macula_quic_endpoint_get_stats(sep, &ss);
    CHECK_EQ_INT(ss.pending, 3);
    /* Two newcomers (the shared client endpoint, 127.0.0.1): the first fits,
     * the second evicts the oldest pending: connection 0. */
    for (int i = 4; i < 6; i++) {
        sl[i].side = &cl;
        sl[i].i = i;
        REQUIRE(dial(rt, NULL, port, &sl[i]));
        CHECK(wait_count(rt, &cl.n_connected, i + 1, 10000));
    }
    CHECK(wait_count(rt, &cl.n_closed, 1, 5000));
    pump(rt, 50);
    macula_quic_endpoint_get_stats(sep, &ss);
    CHECK_EQ_INT(ss.evicted, 1);
    CHECK_EQ_INT(ss.refused_per_addr, 0);
    CHECK_EQ_INT(ss.pending, 4);
    CHECK(cl.closed[0]);
    CHECK(cl.close[0].app_error && cl.close[0].error_code == 1);
    CHECK(strstr(cl.reason[0], "evicted") != NULL);
    CHECK(!cl.closed[1] && !cl.closed[2] && !cl.closed[3] && !cl.closed[4] && !cl.closed[5]);
    CHECK_EQ_INT(cl.n_closed, 1);
    macula_runtime_free(rt);
    macula_identity_free(id);
}

/* Cap 8, 2 per address under pressure: 3 connections from 127.0.0.3,
 * then 6 from 127.0.0.2 one after another. .2's first two fit (5 pending,
 * more than half the cap); its next four are refused at once, without a
 * handshake (and without evicting anybody). .3's are never touched. */
static void test_per_addr_cap(void)
{
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    macula_identity *id = macula_identity_generate(NULL);
    REQUIRE(rt && id);
    macula_quic_endpoint *sep = server(rt, id, 8, 2, MACULA_QUIC_RETRY_NEVER, 1);
    macula_quic_endpoint *a3 = client_ep(rt, "127.0.0.3");
    macula_quic_endpoint *a2 = client_ep(rt, "127.0.0.2");
    REQUIRE(sep && a3 && a2);
    static struct side cl;
    static struct slot sl[9];
    memset(&cl, 0, sizeof cl);
    uint16_t port = macula_quic_endpoint_port(sep);
    for (int i = 0; i < 9; i++) {
        sl[i].side = &cl;
        sl[i].i = i;
        REQUIRE(dial(rt, i < 3 ? a3 : a2, port, &sl[i]));
        uint64_t end = macula__clock_now() + 10000000000ull;
        while (cl.n_connected + cl.n_closed < i + 1 && macula__clock_now() < end)
            pump(rt, 1);
    }
    pump(rt, 100);
    macula_quic_endpoint_stats ss;
    macula_quic_endpoint_stats_init(&ss);
    macula_quic_endpoint_get_stats(sep, &ss);
    CHECK_EQ_INT(ss.refused_per_addr, 4);
    CHECK_EQ_INT(ss.evicted, 0);
    CHECK_EQ_INT(ss.pending, 5);
    CHECK_EQ_INT(cl.n_connected, 5);
    for (int i = 0; i < 5; i++)
        CHECK(cl.conns[i] && !cl.closed[i]);
    for (int i = 5; i < 9; i++) {
        CHECK(cl.closed[i] && !cl.conns[i]);
        CHECK_EQ_INT(cl.close[i].cause, MACULA_QUIC_CLOSE_DIAL_FAILED);
        CHECK(strstr(cl.reason[i], "too many pending from this address") != NULL);
    }
    macula_runtime_free(rt);
    macula_identity_free(id);
}

int main(void)
{
    if (sodium_init() < 0)
        return 2;
    RUN(test_stray_flood_and_real_reset);
    RUN(test_retry_always);
    RUN(test_pending_cap_evicts_oldest);
    RUN(test_per_addr_cap);
    return tu_summary();
}
