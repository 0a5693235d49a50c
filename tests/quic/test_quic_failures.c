/* SPDX-License-Identifier: Apache-2.0 */
/* Connections that must fail, each cleanly, with the right cause and
 * reason, within their deadline: ALPN mismatch, pin mismatch (and a
 * matching pin), idle timeout, a closed port, and an address that drops
 * everything. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "quic_test_util.h"

struct diag_log {
    int handshake_failed;
    char error[64];
};
static void diag_cb(void *user, const char *event, const macula_diag_field *f, size_t n)
{
    struct diag_log *d = user;
    if (strcmp(event, "quic_handshake_failed") != 0)
        return;
    d->handshake_failed++;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i].key, "error"))
            snprintf(d->error, sizeof d->error, "%s", f[i].value);
}

struct fixture {
    macula_runtime *rt;
    macula_identity *id;
    struct echo_server srv;
    struct diag_log diag;
    struct watchdog wd;
};

static int fixture_start(struct fixture *fx, const macula_quic_settings *srv_settings, const char *const *alpn,
                         size_t n_alpn)
{
    memset(fx, 0, sizeof *fx);
    macula_runtime_options ro;
    macula_runtime_options_init(&ro);
    ro.diag = diag_cb;
    ro.diag_user = &fx->diag;
    fx->rt = macula_runtime_new(&ro, NULL);
    fx->id = macula_identity_generate(NULL);
    if (!fx->rt || !fx->id || !echo_server_start(fx->rt, &fx->srv, fx->id, srv_settings, alpn, n_alpn))
        return -1;
    watchdog_arm(&fx->wd, fx->rt, 20000);
    return 0;
}

static void fixture_end(struct fixture *fx)
{
    macula_runtime_free(fx->rt);
    macula_identity_free(fx->id);
}

static uint64_t run_client(struct fixture *fx, struct echo_client *cl, const char *host, uint16_t port,
                           const macula_quic_dial_options *o)
{
    static const uint8_t msg[] = "hello";
    if (!client_dial(cl, fx->rt, host, port, msg, sizeof msg - 1, o))
        return 0;
    cl->stop_when_closed = 1;
    uint64_t t0 = macula__clock_now();
    macula_runtime_run(fx->rt);
    return ms_since(t0);
}

static void test_alpn_mismatch(void)
{
    struct fixture fx;
    static const char *const srv_alpn[] = {"macula"};
    REQUIRE(fixture_start(&fx, NULL, srv_alpn, 1) == 0);
    static const char *const cl_alpn[] = {"h3", "other"};
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    o.alpn = cl_alpn;
    o.n_alpn = 2;
    struct echo_client cl;
    run_client(&fx, &cl, "127.0.0.1", macula_quic_endpoint_port(fx.srv.ep), &o);
    CHECK(!fx.wd.fired);
    CHECK(cl.closed && !cl.connected);
    CHECK_EQ_INT(cl.close.cause, MACULA_QUIC_CLOSE_HANDSHAKE_FAILED);
    CHECK_EQ_INT(cl.close.err, MACULA_ERR_ALPN);
    CHECK_EQ_INT(cl.close.tls_alert, 120);
    CHECK(strstr(cl.reason, "ALPN") != NULL);
    /* The server saw it fail too, and never handed out a connection. */
    CHECK_EQ_INT(fx.srv.connected, 0);
    CHECK_EQ_INT(fx.diag.handshake_failed, 1);
    CHECK(strcmp(fx.diag.error, "alpn_mismatch") == 0);
    fixture_end(&fx);
}

static void test_pin(void)
{
    struct fixture fx;
    REQUIRE(fixture_start(&fx, NULL, NULL, 0) == 0);
    uint16_t port = macula_quic_endpoint_port(fx.srv.ep);
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    o.verify = MACULA_QUIC_VERIFY_PIN;
    uint8_t wrong[MACULA_PUBKEY_LEN];
    memcpy(wrong, macula_identity_public_key(fx.id), sizeof wrong);
    wrong[0] ^= 1;
    o.pin_ed25519 = wrong;
    struct echo_client cl;
    run_client(&fx, &cl, "127.0.0.1", port, &o);
    CHECK(!cl.connected);
    CHECK_EQ_INT(cl.close.cause, MACULA_QUIC_CLOSE_HANDSHAKE_FAILED);
    CHECK_EQ_INT(cl.close.err, MACULA_ERR_PIN_MISMATCH);
    CHECK(strstr(cl.reason, "pinned") != NULL);
    CHECK_EQ_INT(fx.diag.handshake_failed, 1); /* the server saw the alert */
    CHECK_EQ_INT(fx.srv.connected, 0);

    fixture_end(&fx);
}

struct pin_ok {
    macula_runtime *rt;
    const uint8_t *want;
    int key_ok, connected, closed;
    macula_quic_close_cause cause;
    macula__timer stop;
};
static void stop_later(void *arg)
{
    struct pin_ok *p = arg;
    macula_runtime_stop(p->rt);
}
static void check_key(void *user, const macula_quic_event *ev)
{
    struct pin_ok *p = user;
    if (ev->type == MACULA_QUIC_EV_CONNECTED) {
        p->connected = 1;
        const uint8_t *k = macula_quic_conn_peer_ed25519(ev->conn);
        p->key_ok = k && memcmp(k, p->want, MACULA_PUBKEY_LEN) == 0 &&
                    strcmp(macula_quic_conn_alpn(ev->conn), "macula") == 0 && !macula_quic_conn_is_server(ev->conn);
        macula_quic_conn_close(ev->conn, 0, NULL);
    } else if (ev->type == MACULA_QUIC_EV_CLOSED) {
        p->closed = 1;
        p->cause = ev->close.cause;
        macula__loop *loop = macula__runtime_loop(p->rt);
        macula__timer_init(&p->stop, stop_later, p);
        macula__timer_arm(loop, &p->stop, macula__loop_now(loop) + 150000000u);
    }
}

static void test_pin_match(void)
{
    struct fixture fx;
    REQUIRE(fixture_start(&fx, NULL, NULL, 0) == 0);
    struct pin_ok p;
    memset(&p, 0, sizeof p);
    p.rt = fx.rt;
    p.want = macula_identity_public_key(fx.id);
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    o.host = "127.0.0.1";
    o.port = macula_quic_endpoint_port(fx.srv.ep);
    o.verify = MACULA_QUIC_VERIFY_PIN;
    o.pin_ed25519 = p.want;
    REQUIRE(macula_quic_dial(fx.rt, NULL, &o, check_key, &p, NULL));
    macula_runtime_run(fx.rt);
    CHECK(p.connected && p.key_ok && p.closed);
    CHECK_EQ_INT(p.cause, MACULA_QUIC_CLOSE_LOCAL);
    CHECK_EQ_INT(fx.srv.connected, 1);
    fixture_end(&fx);
}

static void test_idle_timeout(void)
{
    macula_quic_settings s;
    macula_quic_settings_init(&s);
    s.idle_timeout_ms = 300;
    s.keepalive_ms = 0;
    struct fixture fx;
    REQUIRE(fixture_start(&fx, &s, NULL, 0) == 0);
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    o.settings = s;
    struct echo_client cl;
    uint64_t ms;
    /* A connection that stays open and silent. */
    static const uint8_t msg[] = "ping";
    REQUIRE(client_dial(&cl, fx.rt, "127.0.0.1", macula_quic_endpoint_port(fx.srv.ep), msg, 4, &o));
    cl.keep_open = 1;
    uint64_t t0 = macula__clock_now();
    run_until(fx.rt, &cl.closed, 10000);
    ms = ms_since(t0);
    CHECK(cl.got_fin);
    CHECK_EQ_INT(cl.close.cause, MACULA_QUIC_CLOSE_IDLE_TIMEOUT);
    CHECK_EQ_INT(cl.close.err, MACULA_ERR_TIMEOUT);
    CHECK(ms >= 250 && ms < 5000);
    fprintf(stderr, "  idle timeout after %llu ms (configured 300)\n", (unsigned long long)ms);
    run_until(fx.rt, &fx.srv.closed, 5000); /* the server times out on its own too */
    CHECK_EQ_INT(fx.srv.closed, 1);
    fixture_end(&fx);
    CHECK_EQ_INT(fx.srv.last_cause, MACULA_QUIC_CLOSE_IDLE_TIMEOUT);
}

/* A UDP socket bound to a free loopback port; its port in *port. */
static int bind_loopback(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void test_closed_port(void)
{
    struct fixture fx;
    REQUIRE(fixture_start(&fx, NULL, NULL, 0) == 0);
    /* A port nobody listens on: bind one, note it, close it. */
    uint16_t port;
    close(bind_loopback(&port));
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    o.timeout_ms = 5000;
    struct echo_client cl;
    uint64_t ms = run_client(&fx, &cl, "127.0.0.1", port, &o);
    CHECK(!cl.connected);
    CHECK_EQ_INT(cl.close.cause, MACULA_QUIC_CLOSE_DIAL_FAILED);
    CHECK_EQ_INT(cl.close.err, MACULA_ERR_REFUSED);
    CHECK(ms < 4000); /* ICMP port unreachable ends it before the deadline */
    fprintf(stderr, "  closed port refused after %llu ms: %s\n", (unsigned long long)ms, cl.reason);
    fixture_end(&fx);
}

static void test_black_hole(void)
{
    struct fixture fx;
    REQUIRE(fixture_start(&fx, NULL, NULL, 0) == 0);
    /* A bound socket that never reads nor answers. */
    uint16_t port;
    int fd = bind_loopback(&port);
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    o.timeout_ms = 800;
    struct echo_client cl;
    uint64_t ms = run_client(&fx, &cl, "127.0.0.1", port, &o);
    close(fd);
    CHECK(!fx.wd.fired);
    CHECK(!cl.connected);
    CHECK_EQ_INT(cl.close.cause, MACULA_QUIC_CLOSE_DIAL_FAILED);
    CHECK_EQ_INT(cl.close.err, MACULA_ERR_TIMEOUT);
    CHECK(ms >= 750 && ms < 5200);
    fprintf(stderr, "  black hole timed out after %llu ms (deadline 800): %s\n", (unsigned long long)ms, cl.reason);
    fixture_end(&fx);
}

static void test_unresolvable(void)
{
    struct fixture fx;
    REQUIRE(fixture_start(&fx, NULL, NULL, 0) == 0);
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    o.timeout_ms = 10000;
    struct echo_client cl;
    uint64_t ms = run_client(&fx, &cl, "no-such-host.invalid", 4433, &o);
    CHECK(!cl.connected);
    CHECK_EQ_INT(cl.close.cause, MACULA_QUIC_CLOSE_DIAL_FAILED);
    CHECK(cl.close.err == MACULA_ERR_RESOLVE || cl.close.err == MACULA_ERR_TIMEOUT);
    CHECK(ms < 10500);
    fixture_end(&fx);
}

static void test_bad_options(void)
{
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    REQUIRE(rt);
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    int err = 0;
    CHECK(!macula_quic_dial(rt, NULL, &o, check_key, NULL, &err)); /* no host */
    CHECK_EQ_INT(err, MACULA_ERR_INVALID_ARG);
    o.host = "127.0.0.1";
    o.port = 1;
    o.verify = MACULA_QUIC_VERIFY_PIN; /* without a pin */
    CHECK(!macula_quic_dial(rt, NULL, &o, check_key, NULL, &err));
    CHECK_EQ_INT(err, MACULA_ERR_INVALID_ARG);
    o.verify = MACULA_QUIC_VERIFY_NONE;
    static const char *const empty[] = {""};
    o.alpn = empty;
    o.n_alpn = 1;
    CHECK(!macula_quic_dial(rt, NULL, &o, check_key, NULL, &err));
    macula_quic_endpoint_options eo;
    macula_quic_endpoint_options_init(&eo);
    eo.on_connection = check_key; /* a server without a certificate */
    CHECK(!macula_quic_endpoint_new(rt, &eo, &err));
    CHECK_EQ_INT(err, MACULA_ERR_INVALID_ARG);
    eo.on_connection = NULL;
    eo.bind_host = "not-an-address";
    CHECK(!macula_quic_endpoint_new(rt, &eo, &err));
    macula_runtime_free(rt);
}

int main(void)
{
    if (macula_crypto_init() != 0)
        return 1;
    RUN(test_alpn_mismatch);
    RUN(test_pin);
    RUN(test_pin_match);
    RUN(test_idle_timeout);
    RUN(test_closed_port);
    RUN(test_black_hole);
    RUN(test_unresolvable);
    RUN(test_bad_options);
    return tu_summary();
}
