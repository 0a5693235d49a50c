/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attack rig for RELIABILITY.md ("Peer-side budgets and back-pressure"):
 * hostile peers against a `macula listen --echo` on loopback, next to one
 * honest peer whose echo round trips are the anchor (a stalled loop shows
 * as a long round trip). Public API only, so the same source builds
 * against an older library for the "before" figures.
 *
 *   attack_peer partial PORT N SECONDS   N connections each send CONNECT and
 *       then all but the last byte of a maximal frame (16 MiB - 1), and
 *       stay; after SECONDS it prints how many were closed by the listener.
 *   attack_peer bomb PORT SECONDS        one connection sends CONNECT and a
 *       maximal frame of ~16 M one-byte CBOR items.
 *
 * Bounded: loopback only, at most 64 connections, at most 60 s. Prints one
 * JSON line with the honest peer's echo count and worst round trip.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macula/frame.h"
#include "macula/identity.h"
#include "macula/quic.h"
#include "macula/runtime.h"

#define MAX_CONNS 64

typedef struct conn {
    macula_quic_conn *c;
    int64_t sid;
    uint8_t *out;
    size_t out_len, out_off;
    int honest, closed, connected;
    /* honest: echo bookkeeping */
    macula_stream_parser *parser;
    uint64_t sent_at_ns;
    int hello_seen;
} conn;

static macula_identity *g_id;
static conn g_conns[MAX_CONNS + 1];
static atomic_int g_closed, g_echoes;
static atomic_uint_fast64_t g_worst_rtt_ns;
static uint64_t g_seq;
static atomic_int g_stop;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void pump(conn *k)
{
    while (k->out && k->out_off < k->out_len) {
        size_t n = k->out_len - k->out_off;
        if (n > 262144)
            n = 262144;
        int rc = macula_quic_conn_send(k->c, k->sid, k->out + k->out_off, n, 0);
        if (rc != 0)
            return; /* WOULD_BLOCK: SEND_READY resumes */
        k->out_off += n;
    }
}

static void append(conn *k, const uint8_t *p, size_t n)
{
    k->out = realloc(k->out, k->out_len + n);
    memcpy(k->out + k->out_len, p, n);
    k->out_len += n;
}

static void append_frame(conn *k, macula_frame *f)
{
    uint8_t *w;
    size_t n;
    if (macula_frame_sign(f, g_id) == 0 && macula_frame_encode(f, &w, &n) == 0) {
        append(k, w, n);
        macula_free(w);
    }
    macula_frame_free(f);
}

static void honest_ping(conn *k)
{
    static const uint8_t realm[32];
    macula_frame *f = macula_frame_publish(g_id, realm, "t", 1, NULL, g_seq++, -1, macula_unix_ms(), NULL);
    if (!f)
        return;
    k->sent_at_ns = now_ns();
    append_frame(k, f);
    pump(k);
}

static void on_quic(void *user, const macula_quic_event *ev)
{
    conn *k = user;
    switch (ev->type) {
    case MACULA_QUIC_EV_CONNECTED:
        k->connected = 1;
        if (macula_quic_conn_open_stream(ev->conn, &k->sid) != 0)
            return;
        pump(k);
        break;
    case MACULA_QUIC_EV_SEND_READY:
        pump(k);
        break;
    case MACULA_QUIC_EV_STREAM_DATA:
        if (!k->honest || !k->parser)
            return;
        macula_stream_parser_feed(k->parser, ev->data, ev->len);
        for (;;) {
            macula_frame *f = NULL;
            if (macula_stream_parser_next(k->parser, &f, NULL) != 0)
                break;
            const char *t = macula_frame_type(f);
            if (t && !strcmp(t, "hello")) {
                k->hello_seen = 1;
            } else if (t && !strcmp(t, "publish")) {
                uint64_t rtt = now_ns() - k->sent_at_ns;
                if (rtt > atomic_load(&g_worst_rtt_ns))
                    atomic_store(&g_worst_rtt_ns, rtt);
                atomic_fetch_add(&g_echoes, 1);
            }
            /* one ping in flight: the next goes when this one is back (or
             * the first when HELLO came) */
            int next = t && (!strcmp(t, "publish") || !strcmp(t, "hello"));
            macula_frame_free(f);
            if (next && !atomic_load(&g_stop))
                honest_ping(k);
        }
        break;
    case MACULA_QUIC_EV_CLOSED:
        k->closed = 1;
        k->c = NULL;
        atomic_fetch_add(&g_closed, 1);
        break;
    default:
        break;
    }
}

static macula_quic_conn *dial(macula_runtime *rt, uint16_t port, conn *k)
{
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    o.host = "127.0.0.1";
    o.port = port;
    o.verify = MACULA_QUIC_VERIFY_NONE;
    o.settings.keepalive_ms = 1000;
    int err = 0;
    return macula_quic_dial(rt, NULL, &o, on_quic, k, &err);
}

static void add_connect(conn *k)
{
    macula_frame *f = macula_frame_connect(g_id, NULL, NULL, 0, 0, NULL);
    if (f)
        append_frame(k, f);
}

/* A maximal frame, minus its last byte: it never completes. */
static void add_partial(conn *k)
{
    size_t body = 16777215u, n = 4 + body - 1;
    uint8_t *w = calloc(1, n);
    w[0] = 0x00, w[1] = 0xff, w[2] = 0xff, w[3] = 0xff;
    append(k, w, n);
    free(w);
}

/* {"frame_type": "publish", "p": [0, 0, ...]}: ~16 M items. */
static void add_bomb(conn *k)
{
    static const uint8_t pre[] = {0xa2, 0x6a, 'f', 'r', 'a', 'm', 'e', '_', 't', 'y', 'p', 'e',
                                  0x67, 'p', 'u', 'b', 'l', 'i', 's', 'h', 0x61, 'p', 0x9a};
    size_t items = 16777215u - sizeof pre - 4, body = sizeof pre + 4 + items;
    uint8_t *w = calloc(1, 4 + body);
    w[0] = (uint8_t)(body >> 24), w[1] = (uint8_t)(body >> 16), w[2] = (uint8_t)(body >> 8), w[3] = (uint8_t)body;
    memcpy(w + 4, pre, sizeof pre);
    uint8_t *c = w + 4 + sizeof pre;
    c[0] = (uint8_t)(items >> 24), c[1] = (uint8_t)(items >> 16), c[2] = (uint8_t)(items >> 8), c[3] = (uint8_t)items;
    append(k, w, 4 + body);
    free(w);
}

typedef struct job {
    macula_runtime *rt;
    uint16_t port;
    conn *k;
} job;

static void start_conn(void *arg)
{
    job *j = arg;
    j->k->c = dial(j->rt, j->port, j->k);
    free(j);
}

static void on_loop(macula_runtime *rt, uint16_t port, conn *k)
{
    job *j = malloc(sizeof *j);
    *j = (job){rt, port, k};
    macula_runtime_post(rt, start_conn, j);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: attack_peer partial PORT N SECONDS | bomb PORT SECONDS\n");
        return 2;
    }
    int partial = !strcmp(argv[1], "partial");
    uint16_t port = (uint16_t)atoi(argv[2]);
    int n = partial ? atoi(argv[3]) : 1;
    int secs = atoi(argv[partial ? 4 : 3]);
    if (n < 1 || n > MAX_CONNS || secs < 1 || secs > 60) {
        fprintf(stderr, "bounds: 1..%d connections, 1..60 s\n", MAX_CONNS);
        return 2;
    }
    macula_crypto_init();
    g_id = macula_identity_generate(NULL);
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    if (!g_id || !rt || macula_runtime_start(rt) != 0)
        return 1;
    conn *h = &g_conns[MAX_CONNS];
    h->honest = 1;
    h->parser = macula_stream_parser_new(NULL);
    add_connect(h);
    on_loop(rt, port, h);
    usleep(1000000);
    atomic_store(&g_worst_rtt_ns, 0); /* the anchor counts from the attack on */
    int echoes0 = atomic_load(&g_echoes);
    for (int i = 0; i < n; i++) {
        conn *k = &g_conns[i];
        add_connect(k);
        if (partial)
            add_partial(k);
        else
            add_bomb(k);
        on_loop(rt, port, k);
    }
    sleep((unsigned)secs);
    atomic_store(&g_stop, 1);
    int closed = atomic_load(&g_closed) - (h->closed ? 1 : 0);
    printf("{\"attack\":\"%s\",\"conns\":%d,\"seconds\":%d,\"closed_by_listener\":%d,"
           "\"honest_echoes\":%d,\"honest_worst_rtt_ms\":%.1f,\"honest_alive\":%s}\n",
           argv[1], n, secs, closed, atomic_load(&g_echoes) - echoes0,
           (double)atomic_load(&g_worst_rtt_ns) / 1e6, h->closed ? "false" : "true");
    fflush(stdout);
    macula_runtime_free(rt);
    return 0;
}
