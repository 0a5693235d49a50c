/* SPDX-License-Identifier: Apache-2.0 */
/* Stream and ownership behaviour: 200 concurrent connections to one
 * listener; half-close (the server keeps sending after the client's FIN);
 * reset with an application code; owner hand-over with events queued in
 * between and replayed in order, flow-control credit withheld meanwhile;
 * endpoint close during transfers; runtime stop closing everything;
 * STREAM_ACKED after macula_quic_conn_watch_acked (once per watch, from
 * the loop when the offset was acknowledged already). */
#include "quic_test_util.h"

/* --- 200 concurrent connections --- */

enum { MANY = 200 };
struct many {
    macula_runtime *rt;
    struct echo_client cl[MANY];
    int done;
};
static uint8_t many_msg[MANY][64];

static void test_many_connections(void)
{
    macula_runtime *rt;
    macula_identity *id;
    struct echo_server srv;
    REQUIRE(echo_setup(&rt, &id, &srv) == 0);
    static struct many m;
    memset(&m, 0, sizeof m);
    uint16_t port = macula_quic_endpoint_port(srv.ep);
    for (int i = 0; i < MANY; i++) {
        snprintf((char *)many_msg[i], sizeof many_msg[i], "connection %d says hello", i);
        REQUIRE(client_dial(&m.cl[i], rt, "127.0.0.1", port, many_msg[i], strlen((char *)many_msg[i]), NULL));
    }
    struct watchdog wd;
    watchdog_arm(&wd, rt, 30000);
    /* Poll until every client has its echo and has closed. */
    int finished = 0;
    uint64_t t0 = macula__clock_now();
    while (!wd.fired && finished < MANY) {
        macula_runtime_process(rt);
        int ready = macula_runtime_next_timeout_ms(rt);
        if (ready != 0)
            usleep(200);
        finished = 0;
        for (int i = 0; i < MANY; i++)
            finished += m.cl[i].closed;
    }
    uint64_t ms = ms_since(t0);
    CHECK(!wd.fired);
    CHECK_EQ_INT(srv.connected, MANY);
    int exact = 0;
    for (int i = 0; i < MANY; i++) {
        uint8_t want[32], got[32];
        crypto_hash_sha256(want, many_msg[i], strlen((char *)many_msg[i]));
        crypto_hash_sha256_final(&m.cl[i].rx, got);
        exact += m.cl[i].got_fin && memcmp(want, got, 32) == 0 && m.cl[i].close.cause == MACULA_QUIC_CLOSE_LOCAL;
    }
    CHECK_EQ_INT(exact, MANY);
    fprintf(stderr, "  %d connections echoed and closed in %llu ms\n", MANY, (unsigned long long)ms);
    echo_teardown(rt, id);
}

/* --- half-close and reset --- */

struct hc_server {
    macula_quic_endpoint *ep;
    macula_quic_conn *conn;
    int64_t sid;
    uint64_t got;
    int got_fin;
    int reset_seen;
    uint64_t reset_code;
    int closed;
};
static void hc_conn(void *user, const macula_quic_event *ev)
{
    struct hc_server *s = user;
    switch (ev->type) {
    case MACULA_QUIC_EV_STREAM_DATA:
        s->got += ev->len;
        s->sid = ev->stream_id;
        if (ev->fin) {
            s->got_fin = 1;
            /* The client finished; we still talk, then finish too. */
            macula_quic_conn_send(s->conn, ev->stream_id, (const uint8_t *)"after your fin", 14, 0);
            macula_quic_conn_send(s->conn, ev->stream_id, (const uint8_t *)"; bye", 5, 1);
        }
        break;
    case MACULA_QUIC_EV_STREAM_RESET:
        s->reset_seen = 1;
        s->reset_code = ev->error_code;
        break;
    case MACULA_QUIC_EV_CLOSED:
        s->closed = 1;
        break;
    default:
        break;
    }
}
static void hc_accept(void *user, const macula_quic_event *ev)
{
    struct hc_server *s = user;
    if (ev->type == MACULA_QUIC_EV_CONNECTED) {
        s->conn = ev->conn;
        macula_quic_conn_set_owner(ev->conn, hc_conn, s);
    }
}

struct hc_client {
    macula_runtime *rt;
    macula_quic_conn *conn;
    int64_t sid;
    int reset_mode;
    char rx[64];
    size_t rx_len;
    int got_fin, stream_closed, closed;
    int send_after_fin_rc;
};
static void hc_client(void *user, const macula_quic_event *ev)
{
    struct hc_client *c = user;
    switch (ev->type) {
    case MACULA_QUIC_EV_CONNECTED:
        macula_quic_conn_open_stream(c->conn, &c->sid);
        if (c->reset_mode) {
            macula_quic_conn_send(c->conn, c->sid, (const uint8_t *)"partial", 7, 0);
            macula_quic_conn_reset_stream(c->conn, c->sid, 7);
        } else {
            macula_quic_conn_send(c->conn, c->sid, (const uint8_t *)"hello", 5, 1);
            c->send_after_fin_rc = macula_quic_conn_send(c->conn, c->sid, (const uint8_t *)"x", 1, 0);
        }
        break;
    case MACULA_QUIC_EV_STREAM_DATA:
        if (ev->len && c->rx_len + ev->len < sizeof c->rx) {
            memcpy(c->rx + c->rx_len, ev->data, ev->len);
            c->rx_len += ev->len;
        }
        if (ev->fin)
            c->got_fin = 1;
        break;
    case MACULA_QUIC_EV_STREAM_CLOSED:
        c->stream_closed = 1;
        macula_quic_conn_close(c->conn, 0, NULL);
        break;
    case MACULA_QUIC_EV_CLOSED:
        c->closed = 1;
        break;
    default:
        break;
    }
}

static void half_close_or_reset(int reset_mode)
{
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    macula_identity *id = macula_identity_generate(NULL);
    REQUIRE(rt && id);
    struct hc_server s;
    memset(&s, 0, sizeof s);
    s.ep = qt_listen(rt, id, NULL, hc_accept, &s, NULL, 0);
    REQUIRE(s.ep);
    struct hc_client c;
    memset(&c, 0, sizeof c);
    c.rt = rt;
    c.reset_mode = reset_mode;
    macula_quic_dial_options d;
    macula_quic_dial_options_init(&d);
    d.host = "127.0.0.1";
    d.port = macula_quic_endpoint_port(s.ep);
    c.conn = macula_quic_dial(rt, NULL, &d, hc_client, &c, NULL);
    REQUIRE(c.conn);
    if (reset_mode) {
        run_until(rt, &s.reset_seen, 10000);
        CHECK(s.reset_seen);
        CHECK_EQ_INT(s.reset_code, 7);
        CHECK(!s.got_fin);
    } else {
        run_until(rt, &c.closed, 10000);
        CHECK(s.got_fin);
        CHECK_EQ_INT(s.got, 5);
        CHECK_EQ_INT(c.send_after_fin_rc, MACULA_ERR_STREAM_CLOSED);
        CHECK(c.got_fin && c.stream_closed && c.closed);
        CHECK_EQ_INT(c.rx_len, 19);
        CHECK(memcmp(c.rx, "after your fin; bye", 19) == 0);
    }
    macula_runtime_free(rt);
    CHECK(s.closed);
    macula_identity_free(id);
}

static void test_half_close(void) { half_close_or_reset(0); }
static void test_reset(void) { half_close_or_reset(1); }

/* --- owner hand-over --- */

struct handover {
    macula_quic_conn *conn;
    int connected;
    /* events seen by the new owner, in order */
    int types[4096];
    int n;
    uint64_t bytes;
    int fin;
    crypto_hash_sha256_state h;
};
static void ho_owner(void *user, const macula_quic_event *ev)
{
    struct handover *h = user;
    if (h->n < 4096)
        h->types[h->n++] = ev->type;
    if (ev->type == MACULA_QUIC_EV_STREAM_DATA) {
        crypto_hash_sha256_update(&h->h, ev->data, ev->len);
        h->bytes += ev->len;
        h->fin |= ev->fin;
    }
}
static void ho_accept(void *user, const macula_quic_event *ev)
{
    struct handover *h = user;
    if (ev->type == MACULA_QUIC_EV_CONNECTED) {
        h->conn = ev->conn;
        h->connected = 1;
        macula_quic_conn_set_owner(ev->conn, NULL, NULL); /* nobody, for now */
    }
}

static void test_owner_handover(void)
{
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    macula_identity *id = macula_identity_generate(NULL);
    REQUIRE(rt && id);
    static struct handover h;
    memset(&h, 0, sizeof h);
    crypto_hash_sha256_init(&h.h);
    macula_quic_settings small;
    macula_quic_settings_init(&small);
    small.stream_window = 64 * 1024; /* so withheld credit shows */
    small.conn_window = 128 * 1024;
    macula_quic_endpoint *ep = qt_listen(rt, id, &small, ho_accept, &h, NULL, 0);
    REQUIRE(ep);
    size_t len = 1u << 20;
    uint8_t *data = malloc(len);
    randombytes_buf(data, len);
    struct echo_client cl;
    REQUIRE(client_dial(&cl, rt, "127.0.0.1", macula_quic_endpoint_port(ep), data, len, NULL));
    cl.keep_open = 1;
    run_until(rt, &h.connected, 10000);
    REQUIRE(h.connected);
    /* Ownerless for a while: the client streams into the void. */
    int never = 0;
    run_until(rt, &never, 500);
    macula_quic_conn_stats st;
    macula_quic_conn_stats_init(&st);
    macula_quic_conn_get_stats(cl.conn, &st);
    CHECK(st.bytes_sent <= small.stream_window); /* credit was withheld */
    CHECK(st.bytes_sent > 0);
    fprintf(stderr, "  while ownerless the client could send %llu of %zu bytes\n",
            (unsigned long long)st.bytes_sent, len);
    /* Hand over: everything queued comes first, in order, then the rest. */
    macula_quic_conn_set_owner(h.conn, ho_owner, &h);
    CHECK_EQ_INT(h.n, 0); /* not from inside set_owner */
    run_until(rt, &h.fin, 10000);
    CHECK(h.fin);
    CHECK_EQ_INT(h.bytes, len);
    uint8_t want[32], got[32];
    crypto_hash_sha256(want, data, len);
    crypto_hash_sha256_final(&h.h, got);
    CHECK_MEM(want, got, 32);
    CHECK(h.n >= 2);
    CHECK_EQ_INT(h.types[0], MACULA_QUIC_EV_STREAM_OPENED);
    CHECK_EQ_INT(h.types[1], MACULA_QUIC_EV_STREAM_DATA);
    macula_runtime_free(rt);
    CHECK_EQ_INT(h.types[h.n - 1], MACULA_QUIC_EV_CLOSED);
    free(data);
    macula_identity_free(id);
}

/* --- endpoint close during a transfer --- */

static void test_endpoint_close_during_transfer(void)
{
    macula_runtime *rt;
    macula_identity *id;
    struct echo_server srv;
    REQUIRE(echo_setup(&rt, &id, &srv) == 0);
    size_t len = 64u << 20;
    uint8_t *data = calloc(1, len);
    REQUIRE(data);
    struct echo_client cl;
    REQUIRE(client_dial(&cl, rt, "127.0.0.1", macula_quic_endpoint_port(srv.ep), data, len, NULL));
    int never = 0;
    uint64_t start = 0;
    while (srv.bytes < (1u << 20)) {
        run_until(rt, &never, 10);
        if (++start > 2000)
            break;
    }
    CHECK(srv.bytes >= (1u << 20));
    CHECK(srv.bytes < len);
    macula_quic_endpoint_close(srv.ep); /* mid-transfer */
    CHECK_EQ_INT(srv.closed, 1);        /* delivered inside the close */
    CHECK_EQ_INT(srv.last_cause, MACULA_QUIC_CLOSE_LOCAL);
    run_until(rt, &cl.closed, 10000);
    CHECK(cl.closed);
    CHECK_EQ_INT(cl.close.cause, MACULA_QUIC_CLOSE_PEER);
    CHECK_EQ_INT(cl.close.app_error, 1);
    CHECK_EQ_INT(cl.close.error_code, 0);
    CHECK(strcmp(cl.reason, "closed") == 0);
    echo_teardown(rt, id);
    free(data);
}

/* --- runtime stop closes every connection, from any thread --- */

static void test_runtime_stop_closes(void)
{
    macula_runtime *rt;
    macula_identity *id;
    struct echo_server srv;
    REQUIRE(echo_setup(&rt, &id, &srv) == 0);
    struct echo_client cl;
    REQUIRE(client_dial(&cl, rt, "127.0.0.1", macula_quic_endpoint_port(srv.ep), (const uint8_t *)"x", 1, NULL));
    cl.keep_open = 1;
    run_until(rt, &cl.got_fin, 10000);
    CHECK(cl.got_fin);
    REQUIRE(macula_runtime_start(rt) == 0);
    usleep(20000);
    macula_runtime_stop(rt);
    macula_runtime_join(rt);
    CHECK(cl.closed);
    CHECK_EQ_INT(cl.close.cause, MACULA_QUIC_CLOSE_LOCAL);
    CHECK_EQ_INT(srv.closed, 1);
    /* New work is refused once stopped. */
    macula_quic_dial_options d;
    macula_quic_dial_options_init(&d);
    d.host = "127.0.0.1";
    d.port = 1;
    int err = 0;
    CHECK(!macula_quic_dial(rt, NULL, &d, ho_owner, NULL, &err));
    CHECK_EQ_INT(err, MACULA_ERR_SHUTDOWN);
    echo_teardown(rt, id);
}

/* --- acknowledged-offset watch --- */

enum { WA_LEN = 200000 };
struct watch {
    macula_quic_conn *conn;
    int64_t sid;
    int acked, in_call, acked_in_call, bad_rc, unknown_rc;
    uint64_t offset;
    int64_t acked_sid;
};
static void wa_client(void *user, const macula_quic_event *ev)
{
    struct watch *w = user;
    static uint8_t buf[WA_LEN];
    switch (ev->type) {
    case MACULA_QUIC_EV_CONNECTED:
        if (macula_quic_conn_open_stream(w->conn, &w->sid) != 0 ||
            macula_quic_conn_send(w->conn, w->sid, buf, WA_LEN, 0) != 0 ||
            macula_quic_conn_watch_acked(w->conn, w->sid, WA_LEN) != 0)
            w->bad_rc = 1;
        w->unknown_rc = macula_quic_conn_watch_acked(w->conn, w->sid + 400, 1);
        break;
    case MACULA_QUIC_EV_STREAM_ACKED:
        w->acked++;
        w->offset = ev->offset;
        w->acked_sid = ev->stream_id;
        w->acked_in_call |= w->in_call;
        break;
    default:
        break;
    }
}
static void wa_sink(void *user, const macula_quic_event *ev)
{
    (void)user;
    (void)ev; /* reads and forgets: the credit goes back, the sender is acked */
}
static void wa_accept(void *user, const macula_quic_event *ev)
{
    (void)user;
    if (ev->type == MACULA_QUIC_EV_CONNECTED)
        macula_quic_conn_set_owner(ev->conn, wa_sink, NULL);
}

static void test_watch_acked(void)
{
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    macula_identity *id = macula_identity_generate(NULL);
    REQUIRE(rt && id);
    macula_quic_endpoint *ep = qt_listen(rt, id, NULL, wa_accept, NULL, NULL, 0);
    REQUIRE(ep);
    struct watch w;
    memset(&w, 0, sizeof w);
    macula_quic_dial_options d;
    macula_quic_dial_options_init(&d);
    d.host = "127.0.0.1";
    d.port = macula_quic_endpoint_port(ep);
    w.conn = macula_quic_dial(rt, NULL, &d, wa_client, &w, NULL);
    REQUIRE(w.conn);
    run_until(rt, &w.acked, 10000);
    CHECK_EQ_INT(w.bad_rc, 0);
    CHECK_EQ_INT(w.unknown_rc, MACULA_ERR_STREAM_CLOSED);
    CHECK_EQ_INT(w.acked, 1);
    CHECK_EQ_INT(w.acked_sid, w.sid);
    CHECK(w.offset >= WA_LEN);
    /* Watching what is acknowledged already: one event, from the loop. */
    w.in_call = 1;
    CHECK_EQ_INT(macula_quic_conn_watch_acked(w.conn, w.sid, 10), 0);
    w.in_call = 0;
    CHECK_EQ_INT(w.acked, 1);
    int two = 0;
    for (int i = 0; i < 200 && !two; i++) {
        run_until(rt, &two, 5);
        two = w.acked == 2;
    }
    CHECK_EQ_INT(w.acked, 2);
    CHECK_EQ_INT(w.acked_in_call, 0);
    /* A watch beyond what was sent waits: nothing more comes. */
    CHECK_EQ_INT(macula_quic_conn_watch_acked(w.conn, w.sid, 2 * WA_LEN), 0);
    int never = 0;
    run_until(rt, &never, 200);
    CHECK_EQ_INT(w.acked, 2);
    macula_quic_conn_close(w.conn, 0, NULL);
    macula_runtime_free(rt);
    macula_identity_free(id);
}

int main(void)
{
    if (macula_crypto_init() != 0)
        return 1;
    RUN(test_many_connections);
    RUN(test_half_close);
    RUN(test_reset);
    RUN(test_owner_handover);
    RUN(test_endpoint_close_during_transfer);
    RUN(test_runtime_stop_closes);
    RUN(test_watch_acked);
    return tu_summary();
}
