/* SPDX-License-Identifier: Apache-2.0 */
/* TLS session details of the transport: the key exchange is X25519 (the
 * cheap group, first in our priority); both sides release their TLS
 * session once the handshake is complete (to save memory per idle
 * connection). After that, CRYPTO data from the client at the 1-RTT level
 * (what a TLS KeyUpdate would be; QUIC forbids it) must end that connection
 * with a crypto error (alert 10, unexpected_message), never touch the
 * released session, and leave the listener serving; a server's
 * NewSessionTicket (a server may send them) must leave the client's connection
 * working. */
#include "quic/quic_internal.h"
#include "quic_test_util.h"

struct probe {
    macula_quic_conn *conn;
    int64_t sid;
    int echoed, injected, closed;
    int group, released;
    macula_quic_close_info close;
    char reason[256];
};

/* TLS KeyUpdate(update_not_requested): handshake type 24, length 1, 0. */
static const uint8_t key_update[] = {24, 0, 0, 1, 0};

static void probe_handler(void *user, const macula_quic_event *ev)
{
    struct probe *p = user;
    switch (ev->type) {
    case MACULA_QUIC_EV_CONNECTED:
        p->group = ev->conn->tls_group;
        p->released = ev->conn->tls == NULL;
        if (macula_quic_conn_open_stream(ev->conn, &p->sid) == 0)
            macula_quic_conn_send(ev->conn, p->sid, (const uint8_t *)"ping", 4, 0);
        break;
    case MACULA_QUIC_EV_STREAM_DATA:
        /* The echo proves the server has completed its handshake (and so
         * released its session); now send what it must refuse. */
        if (ev->len && !p->injected) {
            p->echoed = 1;
            p->injected = ngtcp2_conn_submit_crypto_data(ev->conn->q, NGTCP2_CRYPTO_LEVEL_APPLICATION, key_update,
                                                         sizeof key_update) == 0;
            macula__conn_kick(ev->conn);
        }
        break;
    case MACULA_QUIC_EV_CLOSED:
        p->closed = 1;
        p->close = ev->close;
        snprintf(p->reason, sizeof p->reason, "%s", ev->close.reason);
        break;
    default:
        break;
    }
}

/* Dial options towards the echo server, pinning its identity. */
static void pinned_to(macula_quic_dial_options *o, struct echo_server *srv, const macula_identity *id)
{
    macula_quic_dial_options_init(o);
    o->host = "127.0.0.1";
    o->port = macula_quic_endpoint_port(srv->ep);
    o->verify = MACULA_QUIC_VERIFY_PIN;
    o->pin_ed25519 = macula_identity_node_id(id);
}

static void test_post_handshake_crypto_refused(void)
{
    macula_runtime *rt;
    macula_identity *id;
    struct echo_server srv;
    REQUIRE(echo_setup(&rt, &id, &srv) == 0);
    struct probe p = {0};
    macula_quic_dial_options o;
    pinned_to(&o, &srv, id);
    p.conn = macula_quic_dial(rt, NULL, &o, probe_handler, &p, NULL);
    REQUIRE(p.conn);
    run_until(rt, &p.closed, 10000);

    CHECK_EQ_INT(p.group, GNUTLS_GROUP_X25519);
    CHECK(p.released);
    CHECK(p.echoed);
    CHECK(p.injected);
    CHECK(p.closed);
    CHECK_EQ_INT(p.close.cause, MACULA_QUIC_CLOSE_PEER);
    CHECK_EQ_INT(p.close.app_error, 0);
    CHECK_EQ_INT(p.close.error_code, NGTCP2_CRYPTO_ERROR | 10);
    CHECK_EQ_INT(srv.connected, 1);

    /* The listener still serves: a fresh connection echoes. */
    static const uint8_t msg[] = "still here";
    struct echo_client cl;
    REQUIRE(client_dial(&cl, rt, "127.0.0.1", macula_quic_endpoint_port(srv.ep), msg, sizeof msg - 1, &o));
    run_until(rt, &cl.closed, 10000);
    CHECK(cl.closed);
    CHECK(cl.got_fin);
    CHECK_EQ_INT(cl.rx_len, sizeof msg - 1);
    CHECK_EQ_INT(srv.connected, 2);

    echo_teardown(rt, id);
}

struct ticket_probe {
    struct echo_server *srv;
    int64_t sid;
    int phase; /* 0: "ping" sent; 1: ticket sent, "pong" + FIN sent */
    size_t rx;
    int fin, closed, released;
    macula_quic_close_info close;
};

/* TLS NewSessionTicket (type 4): lifetime 7200 s, age_add, a 1-byte nonce,
 * a 4-byte ticket, no extensions. */
static const uint8_t session_ticket[] = {4, 0, 0, 18, 0, 0, 0x1c, 0x20, 1, 2, 3, 4, 1, 9, 0, 4, 't', 'i', 'c', 'k', 0, 0};

static void ticket_handler(void *user, const macula_quic_event *ev)
{
    struct ticket_probe *p = user;
    switch (ev->type) {
    case MACULA_QUIC_EV_CONNECTED:
        p->released = ev->conn->tls == NULL;
        if (macula_quic_conn_open_stream(ev->conn, &p->sid) == 0)
            macula_quic_conn_send(ev->conn, p->sid, (const uint8_t *)"ping", 4, 0);
        break;
    case MACULA_QUIC_EV_STREAM_DATA:
        p->rx += ev->len;
        p->fin |= ev->fin;
        if (p->rx == 4 && p->phase == 0 && p->srv->conns) {
            /* The server's side of this connection sends a ticket, then
             * the client carries on as if nothing came. */
            macula_quic_conn *server_side = p->srv->conns->conn;
            REQUIRE(ngtcp2_conn_submit_crypto_data(server_side->q, NGTCP2_CRYPTO_LEVEL_APPLICATION, session_ticket,
                                                   sizeof session_ticket) == 0);
            macula__conn_kick(server_side);
            p->phase = 1;
            macula_quic_conn_send(ev->conn, p->sid, (const uint8_t *)"pong", 4, 1);
        }
        if (p->fin)
            macula_quic_conn_close(ev->conn, 0, "closed");
        break;
    case MACULA_QUIC_EV_CLOSED:
        p->closed = 1;
        p->close = ev->close;
        break;
    default:
        break;
    }
}

static void test_session_ticket_ignored_by_client(void)
{
    macula_runtime *rt;
    macula_identity *id;
    struct echo_server srv;
    REQUIRE(echo_setup(&rt, &id, &srv) == 0);
    struct ticket_probe p = {.srv = &srv};
    macula_quic_dial_options o;
    pinned_to(&o, &srv, id);
    REQUIRE(macula_quic_dial(rt, NULL, &o, ticket_handler, &p, NULL));
    run_until(rt, &p.closed, 10000);

    CHECK(p.released);
    CHECK_EQ_INT(p.phase, 1);
    CHECK_EQ_INT(p.rx, 8);
    CHECK(p.fin);
    CHECK_EQ_INT(p.close.cause, MACULA_QUIC_CLOSE_LOCAL);
    CHECK_EQ_INT(srv.connected, 1);

    echo_teardown(rt, id);
}

int main(void)
{
    RUN(test_post_handshake_crypto_refused);
    RUN(test_session_ticket_ignored_by_client);
    return tu_summary();
}
