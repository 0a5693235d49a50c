/* SPDX-License-Identifier: Apache-2.0 */
/* Raw QUIC peers for the hostile tests: a client that sends chosen bytes on
 * one stream (and may close at chosen moments), and a server that answers a
 * peering client's CONNECT in chosen wrong ways. Both are built on the
 * public QUIC API, so the peering layer meets them over real QUIC. */
#ifndef MACULA_TESTS_PEERING_RAW_QUIC_H
#define MACULA_TESTS_PEERING_RAW_QUIC_H

#include "macula/quic.h"
#include "peering_test_util.h"

/* Signs (unless id is NULL) and encodes f, frees it; malloc'd wire. */
static inline uint8_t *raw_wire(macula_frame *f, const macula_identity *id, size_t *len)
{
    uint8_t *w = NULL;
    if (!f)
        return NULL;
    if (id && macula_frame_sign(f, id) != 0) {
        macula_frame_free(f);
        return NULL;
    }
    if (macula_frame_encode(f, &w, len) != 0)
        w = NULL;
    macula_frame_free(f);
    return w;
}

/* Appends `len` bytes to a growing buffer. */
static inline void raw_append(uint8_t **buf, size_t *n, const void *p, size_t len)
{
    uint8_t *nb = realloc(*buf, *n + len);
    if (!nb)
        return;
    memcpy(nb + *n, p, len);
    *buf = nb;
    *n += len;
}

/* ===== raw client ===== */
typedef struct raw_client {
    macula_runtime *rt;
    macula_quic_conn *conn;
    int64_t sid;
    uint16_t port;
    const uint8_t *data; /* sent right after the QUIC handshake */
    size_t len;
    int close_after_send;   /* close QUIC at once after sending */
    int close_on_reply;     /* close QUIC when the server's first bytes arrive */
    int reset_on_reply;     /* reset the stream instead */
    int second_stream_on_reply; /* open another stream and send on it */
    const uint8_t *after_reply; /* sent once the first reply arrived */
    size_t after_reply_len;
    /* what happened (under mu) */
    pthread_mutex_t mu;
    int dial_ok;
    int connected, closed, replied;
    size_t received;
    size_t first_read_len; /* bytes in the first STREAM_DATA with bytes (a 10.0.0 client's "read") */
    int keep_rx;           /* keep every byte received on the stream in rx (free it after the runtime) */
    uint8_t *rx;
    size_t rx_len;
    macula_quic_close_cause cause;
    int app_error;
    uint64_t code;
    char reason[128];
} raw_client;

static void raw_client_handler(void *user, const macula_quic_event *ev)
{
    raw_client *rc = user;
    switch (ev->type) {
    case MACULA_QUIC_EV_CONNECTED:
        pthread_mutex_lock(&rc->mu);
        rc->connected = 1;
        pthread_mutex_unlock(&rc->mu);
        if (macula_quic_conn_open_stream(rc->conn, &rc->sid) != 0)
            break;
        if (rc->len)
            macula_quic_conn_send(rc->conn, rc->sid, rc->data, rc->len, 0);
        if (rc->close_after_send)
            macula_quic_conn_close(rc->conn, 0, NULL);
        break;
    case MACULA_QUIC_EV_STREAM_DATA: {
        pthread_mutex_lock(&rc->mu);
        int first = !rc->replied && ev->len;
        rc->received += ev->len;
        if (first)
            rc->first_read_len = ev->len;
        if (rc->keep_rx && ev->stream_id == rc->sid && ev->len)
            raw_append(&rc->rx, &rc->rx_len, ev->data, ev->len);
        if (ev->len)
            rc->replied = 1;
        pthread_mutex_unlock(&rc->mu);
        if (first && rc->after_reply_len)
            macula_quic_conn_send(rc->conn, rc->sid, rc->after_reply, rc->after_reply_len, 0);
        if (first && rc->reset_on_reply)
            macula_quic_conn_reset_stream(rc->conn, rc->sid, 9);
        int64_t other;
        if (first && rc->second_stream_on_reply && macula_quic_conn_open_stream(rc->conn, &other) == 0)
            macula_quic_conn_send(rc->conn, other, (const uint8_t *)"??", 2, 0);
        if (first && rc->close_on_reply)
            macula_quic_conn_close(rc->conn, 0, NULL);
        break;
    }
    case MACULA_QUIC_EV_CLOSED:
        pthread_mutex_lock(&rc->mu);
        rc->closed = 1;
        rc->cause = ev->close.cause;
        rc->app_error = ev->close.app_error;
        rc->code = ev->close.error_code;
        snprintf(rc->reason, sizeof rc->reason, "%s", ev->close.reason);
        rc->conn = NULL;
        pthread_mutex_unlock(&rc->mu);
        break;
    default:
        break;
    }
}

static void raw_client_dial_cb(void *arg)
{
    raw_client *rc = arg;
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    o.host = "127.0.0.1";
    o.port = rc->port;
    o.timeout_ms = 10000;
    int err = 0;
    rc->conn = macula_quic_dial(rc->rt, NULL, &o, raw_client_handler, rc, &err);
    rc->dial_ok = rc->conn != NULL;
    if (!rc->conn)
        fprintf(stderr, "  raw dial: %s\n", macula_strerror(err));
}

/* Dials 127.0.0.1:port from the loop thread. The struct must stay alive
 * until the runtime is freed. */
static inline int raw_client_start(raw_client *rc, macula_runtime *rt, uint16_t port)
{
    pthread_mutex_init(&rc->mu, NULL);
    rc->rt = rt;
    rc->port = port;
    pt_on_loop(rt, raw_client_dial_cb, rc);
    return rc->dial_ok ? 0 : -1; /* (conn may already be gone again) */
}

/* Waits until *flag (rc->connected, rc->closed, ...; read under rc->mu)
 * is set: 1, or 0 after timeout_ms. */
static inline int raw_client_wait(raw_client *rc, const int *flag, unsigned timeout_ms)
{
    uint64_t end = pt_now_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&rc->mu);
        int set = *flag;
        pthread_mutex_unlock(&rc->mu);
        if (set)
            return 1;
        if (pt_now_ms() > end)
            return 0;
        pt_sleep_ms(5);
    }
}

static inline int raw_client_wait_closed(raw_client *rc, unsigned timeout_ms)
{
    return raw_client_wait(rc, &rc->closed, timeout_ms);
}

/* ===== raw server ===== */
typedef enum raw_mode {
    RAW_TAMPERED_HELLO = 1, /* HELLO with one signature byte flipped */
    RAW_CONNECT,            /* answers CONNECT with a CONNECT */
    RAW_REFUSE,             /* HELLO accepted = "false", refusal_code 7 */
    RAW_SILENT,             /* never answers */
    RAW_CLOSE,              /* closes QUIC on CONNECT */
    RAW_HELLO_THEN_CLOSE,   /* valid HELLO, then closes QUIC */
    RAW_HELLO_CLOSE_ON_GOODBYE, /* valid HELLO; closes QUIC when GOODBYE arrives */
    RAW_HELLO,              /* valid HELLO signed by hello_id */
    RAW_HELLO_AND_FRAMES    /* valid HELLO and two frames in the same write */
} raw_mode;

typedef struct raw_server {
    macula_runtime *rt;
    macula_quic_endpoint *ep;
    raw_mode mode;
    const macula_identity *cert_id;  /* certificate */
    const macula_identity *hello_id; /* signs the answers */
    const char *alpn;                /* the one ALPN served; NULL = the default */
    macula_quic_conn *conn;
    int64_t sid;
    macula_stream_parser *parser;
    pthread_mutex_t mu;
    int got_connect, got_goodbye, closed;
} raw_server;

static void raw_server_answer(raw_server *s)
{
    const macula_identity *id = s->hello_id;
    uint8_t *w = NULL, *extra = NULL;
    size_t len = 0, n = 0;
    switch (s->mode) {
    case RAW_TAMPERED_HELLO:
        w = raw_wire(macula_frame_hello(id, NULL, NULL, 0, 0, 1, -1, 0, NULL), id, &len);
        if (w)
            w[len - 1] ^= 0x01; /* a signed field changes: the signature no longer fits */
        break;
    case RAW_CONNECT:
        w = raw_wire(macula_frame_connect(id, NULL, NULL, 0, 0, NULL), id, &len);
        break;
    case RAW_REFUSE:
        w = raw_wire(macula_frame_hello(id, NULL, NULL, 0, 0, 0, 7, 0, NULL), id, &len);
        break;
    case RAW_SILENT:
        return;
    case RAW_CLOSE:
        macula_quic_conn_close(s->conn, 0, NULL);
        return;
    case RAW_HELLO_THEN_CLOSE:
    case RAW_HELLO_CLOSE_ON_GOODBYE:
    case RAW_HELLO:
    case RAW_HELLO_AND_FRAMES:
        w = raw_wire(macula_frame_hello(id, NULL, NULL, 0, 3, 1, -1, 3, NULL), id, &len);
        break;
    }
    if (!w)
        return;
    if (s->mode == RAW_HELLO_AND_FRAMES) {
        for (uint64_t i = 0; i < 2; i++) {
            extra = raw_wire(pt_numbered(0, i, 0), id, &n);
            raw_append(&w, &len, extra, n);
            free(extra);
        }
    }
    macula_quic_conn_send(s->conn, s->sid, w, len, 0);
    free(w);
    if (s->mode == RAW_HELLO_THEN_CLOSE)
        macula_quic_conn_close(s->conn, 0, "raw server closes");
}

static void raw_server_conn(void *user, const macula_quic_event *ev)
{
    raw_server *s = user;
    switch (ev->type) {
    case MACULA_QUIC_EV_STREAM_DATA: {
        s->sid = ev->stream_id;
        if (!ev->len || macula_stream_parser_feed(s->parser, ev->data, ev->len) != 0)
            break;
        macula_frame *f;
        while (macula_stream_parser_next(s->parser, &f, NULL) == 0) {
            const char *t = macula_frame_type(f);
            if (t && !strcmp(t, "connect")) {
                pthread_mutex_lock(&s->mu);
                s->got_connect = 1;
                pthread_mutex_unlock(&s->mu);
                raw_server_answer(s);
            } else if (t && !strcmp(t, "goodbye")) {
                pthread_mutex_lock(&s->mu);
                s->got_goodbye = 1;
                pthread_mutex_unlock(&s->mu);
                if (s->mode == RAW_HELLO_CLOSE_ON_GOODBYE)
                    macula_quic_conn_close(s->conn, 0, NULL);
            }
            macula_frame_free(f);
        }
        break;
    }
    case MACULA_QUIC_EV_CLOSED:
        pthread_mutex_lock(&s->mu);
        s->closed = 1;
        pthread_mutex_unlock(&s->mu);
        s->conn = NULL;
        break;
    default:
        break;
    }
}

static void raw_server_on_connection(void *user, const macula_quic_event *ev)
{
    raw_server *s = user;
    if (ev->type != MACULA_QUIC_EV_CONNECTED)
        return;
    s->conn = ev->conn;
    macula_quic_conn_set_owner(ev->conn, raw_server_conn, s);
}

static void raw_server_start_cb(void *arg)
{
    raw_server *s = arg;
    macula_quic_endpoint_options o;
    macula_quic_endpoint_options_init(&o);
    o.bind_host = "127.0.0.1";
    o.identity = s->cert_id;
    if (s->alpn) {
        o.alpn = &s->alpn;
        o.n_alpn = 1;
    }
    o.on_connection = raw_server_on_connection;
    o.on_connection_user = s;
    int err = 0;
    s->ep = macula_quic_endpoint_new(s->rt, &o, &err);
    if (!s->ep)
        fprintf(stderr, "  raw server: %s\n", macula_strerror(err));
}

static inline int raw_server_start(raw_server *s, macula_runtime *rt, raw_mode mode, const macula_identity *cert_id,
                                   const macula_identity *hello_id, const char *alpn)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->rt = rt;
    s->mode = mode;
    s->cert_id = cert_id;
    s->hello_id = hello_id;
    s->alpn = alpn;
    s->parser = macula_stream_parser_new(NULL);
    pt_on_loop(rt, raw_server_start_cb, s);
    return s->ep ? 0 : -1;
}

/* After the runtime was freed. */
static inline void raw_server_free(raw_server *s)
{
    macula_stream_parser_free(s->parser);
    pthread_mutex_destroy(&s->mu);
}

#endif
