/* SPDX-License-Identifier: Apache-2.0 */
/* Shared pieces of the in-process QUIC tests: a runtime with a watchdog, an
 * echo server built on the public API (with read-side backpressure), and a
 * client that streams a buffer and hashes what comes back. */
#ifndef MACULA_TESTS_QUIC_UTIL_H
#define MACULA_TESTS_QUIC_UTIL_H

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macula/quic.h"
#include "macula/runtime.h"
#include "runtime/loop.h"
#include "testutil.h"

/* --- watchdog: a test that hangs fails instead --- */
struct watchdog {
    macula_runtime *rt;
    macula__timer timer;
    int fired;
};
static void watchdog_cb(void *arg)
{
    struct watchdog *w = arg;
    w->fired = 1;
    fprintf(stderr, "watchdog fired\n");
    macula_runtime_stop(w->rt);
}
static inline void watchdog_arm(struct watchdog *w, macula_runtime *rt, unsigned ms)
{
    w->rt = rt;
    w->fired = 0;
    macula__timer_init(&w->timer, watchdog_cb, w);
    macula__loop *loop = macula__runtime_loop(rt);
    macula__timer_arm(loop, &w->timer, macula__clock_now() + (uint64_t)ms * 1000000u);
}
static inline void watchdog_disarm(struct watchdog *w)
{
    macula__timer_cancel(macula__runtime_loop(w->rt), &w->timer);
}

static inline uint64_t ms_since(uint64_t t0) { return (macula__clock_now() - t0) / 1000000u; }

/* Drives the runtime from this thread (embedded) until *flag or `ms`. */
static inline void run_until(macula_runtime *rt, int *flag, unsigned ms)
{
    uint64_t end = macula__clock_now() + (uint64_t)ms * 1000000u;
    while (!*flag && macula__clock_now() < end) {
        macula_runtime_process(rt);
        if (macula_runtime_next_timeout_ms(rt) != 0)
            usleep(200);
    }
}

/* A server endpoint on 127.0.0.1 (port 0) with a certificate over `id`;
 * every new connection goes to on_connection. NULL (printed) on failure. */
static inline macula_quic_endpoint *qt_listen(macula_runtime *rt, const macula_identity *id,
                                              const macula_quic_settings *settings, macula_quic_handler on_connection,
                                              void *user, const char *const *alpn, size_t n_alpn)
{
    macula_quic_endpoint_options o;
    macula_quic_endpoint_options_init(&o);
    o.bind_host = "127.0.0.1";
    o.identity = id;
    o.on_connection = on_connection;
    o.on_connection_user = user;
    o.alpn = alpn;
    o.n_alpn = n_alpn;
    if (settings)
        o.settings = *settings;
    int err = 0;
    macula_quic_endpoint *ep = macula_quic_endpoint_new(rt, &o, &err);
    if (!ep)
        fprintf(stderr, "endpoint_new: %s\n", macula_strerror(err));
    return ep;
}

/* --- echo server: writes back every byte, FIN after the peer's FIN --- */
#define ECHO_MAX_STREAMS 8
struct echo_stream {
    int64_t id;
    uint8_t *pending; /* bytes the send queue refused */
    size_t pending_len;
    int fin_pending;
};
struct echo_conn {
    struct echo_server *srv;
    macula_quic_conn *conn;
    struct echo_stream streams[ECHO_MAX_STREAMS];
    int n_streams;
    struct echo_conn *next;
};
struct echo_server {
    macula_quic_endpoint *ep;
    int connected, closed;
    macula_quic_close_cause last_cause;
    uint64_t bytes;
    struct echo_conn *conns;
    int no_echo; /* count only */
};

static struct echo_stream *echo_stream(struct echo_conn *ec, int64_t id)
{
    for (int i = 0; i < ec->n_streams; i++)
        if (ec->streams[i].id == id)
            return &ec->streams[i];
    if (ec->n_streams == ECHO_MAX_STREAMS)
        return NULL;
    struct echo_stream *s = &ec->streams[ec->n_streams++];
    memset(s, 0, sizeof *s);
    s->id = id;
    return s;
}

static void echo_try(struct echo_conn *ec, struct echo_stream *s)
{
    if (s->pending_len) {
        int rc = macula_quic_conn_send(ec->conn, s->id, s->pending, s->pending_len, 0);
        if (rc == MACULA_ERR_WOULD_BLOCK)
            return;
        free(s->pending);
        s->pending = NULL;
        s->pending_len = 0;
        macula_quic_conn_pause_reading(ec->conn, s->id, 0);
    }
    if (s->fin_pending) {
        s->fin_pending = 0;
        macula_quic_conn_shutdown_stream(ec->conn, s->id);
    }
}

static void echo_conn_handler(void *user, const macula_quic_event *ev)
{
    struct echo_conn *ec = user;
    struct echo_server *srv = ec->srv;
    struct echo_stream *s;
    switch (ev->type) {
    case MACULA_QUIC_EV_STREAM_DATA:
        srv->bytes += ev->len;
        if (srv->no_echo)
            break;
        s = echo_stream(ec, ev->stream_id);
        if (!s)
            break;
        if (ev->len) {
            int rc = macula_quic_conn_send(ec->conn, ev->stream_id, ev->data, ev->len, 0);
            if (rc == MACULA_ERR_WOULD_BLOCK) {
                /* Keep these bytes, take no more until SEND_READY. */
                s->pending = malloc(ev->len);
                memcpy(s->pending, ev->data, ev->len);
                s->pending_len = ev->len;
                macula_quic_conn_pause_reading(ec->conn, ev->stream_id, 1);
            }
        }
        if (ev->fin) {
            s->fin_pending = 1;
            echo_try(ec, s);
        }
        break;
    case MACULA_QUIC_EV_SEND_READY:
        s = echo_stream(ec, ev->stream_id);
        if (s)
            echo_try(ec, s);
        break;
    case MACULA_QUIC_EV_CLOSED:
        srv->closed++;
        srv->last_cause = ev->close.cause;
        for (struct echo_conn **p = &srv->conns; *p; p = &(*p)->next) {
            if (*p == ec) {
                *p = ec->next;
                break;
            }
        }
        for (int i = 0; i < ec->n_streams; i++)
            free(ec->streams[i].pending);
        free(ec);
        break;
    default:
        break;
    }
}

static void echo_on_connection(void *user, const macula_quic_event *ev)
{
    struct echo_server *srv = user;
    if (ev->type != MACULA_QUIC_EV_CONNECTED)
        return;
    struct echo_conn *ec = calloc(1, sizeof *ec);
    ec->srv = srv;
    ec->conn = ev->conn;
    ec->next = srv->conns;
    srv->conns = ec;
    srv->connected++;
    macula_quic_conn_set_owner(ev->conn, echo_conn_handler, ec);
}

static inline macula_quic_endpoint *echo_server_start(macula_runtime *rt, struct echo_server *srv,
                                                      const macula_identity *id, const macula_quic_settings *settings,
                                                      const char *const *alpn, size_t n_alpn)
{
    memset(srv, 0, sizeof *srv);
    srv->ep = qt_listen(rt, id, settings, echo_on_connection, srv, alpn, n_alpn);
    return srv->ep;
}

/* The start of most tests: an embedded runtime (this thread drives it), a
 * fresh identity, and an echo server over it with `settings` (NULL:
 * defaults). 0, or -1 with nothing left to free. */
static inline int echo_setup_with(macula_runtime **rt, macula_identity **id, struct echo_server *srv,
                                  const macula_quic_settings *settings)
{
    *rt = macula_runtime_new(NULL, NULL);
    *id = macula_identity_generate(NULL);
    if (*rt && *id && echo_server_start(*rt, srv, *id, settings, NULL, 0))
        return 0;
    macula_runtime_free(*rt);
    macula_identity_free(*id);
    return -1;
}

static inline int echo_setup(macula_runtime **rt, macula_identity **id, struct echo_server *srv)
{
    return echo_setup_with(rt, id, srv, NULL);
}

/* Ends what echo_setup made (the runtime first: every connection closes,
 * the echo server's counters stay readable). */
static inline void echo_teardown(macula_runtime *rt, macula_identity *id)
{
    macula_runtime_free(rt);
    macula_identity_free(id);
}

#endif

#ifndef MACULA_TESTS_QUIC_CLIENT
#define MACULA_TESTS_QUIC_CLIENT
/* --- streaming client: sends `data`, FIN, hashes the echo, closes --- */
struct echo_client {
    macula_runtime *rt;
    macula_quic_conn *conn;
    int64_t sid;
    const uint8_t *data;
    size_t len, off;
    int fin_sent;
    crypto_hash_sha256_state rx;
    uint64_t rx_len;
    int got_fin;
    int connected;
    int closed;
    macula_quic_close_info close;
    char reason[256];
    int stop_when_closed;
    int keep_open; /* don't close after the echo's FIN */
    int would_block_seen;
    macula__timer stop_timer; /* stops the runtime a little after CLOSED */
};

static void client_stop_cb(void *arg)
{
    struct echo_client *cl = arg;
    macula_runtime_stop(cl->rt);
}

static void client_pump(struct echo_client *cl)
{
    while (cl->off < cl->len) {
        size_t chunk = cl->len - cl->off < 262144 ? cl->len - cl->off : 262144;
        int rc = macula_quic_conn_send(cl->conn, cl->sid, cl->data + cl->off, chunk, 0);
        if (rc == MACULA_ERR_WOULD_BLOCK) {
            cl->would_block_seen++;
            return;
        }
        if (rc != 0) {
            fprintf(stderr, "send: %s\n", macula_strerror(rc));
            return;
        }
        cl->off += chunk;
    }
    if (!cl->fin_sent) {
        cl->fin_sent = 1;
        macula_quic_conn_shutdown_stream(cl->conn, cl->sid);
    }
}

static void client_handler(void *user, const macula_quic_event *ev)
{
    struct echo_client *cl = user;
    switch (ev->type) {
    case MACULA_QUIC_EV_CONNECTED:
        cl->connected = 1;
        if (macula_quic_conn_open_stream(cl->conn, &cl->sid) != 0) {
            macula_quic_conn_close(cl->conn, 1, "no stream");
            break;
        }
        client_pump(cl);
        break;
    case MACULA_QUIC_EV_SEND_READY:
        client_pump(cl);
        break;
    case MACULA_QUIC_EV_STREAM_DATA:
        crypto_hash_sha256_update(&cl->rx, ev->data, ev->len);
        cl->rx_len += ev->len;
        if (ev->fin) {
            cl->got_fin = 1;
            if (!cl->keep_open)
                macula_quic_conn_close(cl->conn, 0, NULL);
        }
        break;
    case MACULA_QUIC_EV_CLOSED:
        cl->closed = 1;
        cl->close = ev->close;
        snprintf(cl->reason, sizeof cl->reason, "%s", ev->close.reason);
        cl->close.reason = cl->reason;
        if (cl->stop_when_closed) {
            /* Give the other side time to see the end too. */
            macula__loop *loop = macula__runtime_loop(cl->rt);
            macula__timer_init(&cl->stop_timer, client_stop_cb, cl);
            macula__timer_arm(loop, &cl->stop_timer, macula__loop_now(loop) + 150000000u);
        }
        break;
    default:
        break;
    }
}

static inline macula_quic_conn *client_dial(struct echo_client *cl, macula_runtime *rt, const char *host,
                                            uint16_t port, const uint8_t *data, size_t len,
                                            const macula_quic_dial_options *base)
{
    memset(cl, 0, sizeof *cl);
    cl->rt = rt;
    cl->data = data;
    cl->len = len;
    crypto_hash_sha256_init(&cl->rx);
    macula_quic_dial_options o;
    if (base)
        o = *base;
    else
        macula_quic_dial_options_init(&o);
    o.host = host;
    o.port = port;
    int err = 0;
    cl->conn = macula_quic_dial(rt, NULL, &o, client_handler, cl, &err);
    if (!cl->conn)
        fprintf(stderr, "dial: %s\n", macula_strerror(err));
    return cl->conn;
}
#endif
