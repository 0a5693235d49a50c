/* SPDX-License-Identifier: Apache-2.0 */
/* QUIC client-side benchmarks on the library, against any QUIC echo server
 * with ALPN "macula" (`macula quic serve`, quinn-peer serve, ...). Prints
 * one JSON object with the figures; never asserts.
 *
 *   bench_quic handshakes HOST:PORT [--count N] [--concurrency C] [--pin HEX]
 *       N dials, C in flight; each connection is closed as soon as its
 *       handshake completes. Latency = dial call -> CONNECTED event.
 *   bench_quic idle HOST:PORT [--count N] [--concurrency C] [--server-pid PID]
 *                             [--settle-ms MS]
 *       N connections held open with no stream; the RSS growth of the
 *       server process (and of this client) divided by N.
 *   bench_quic bulk HOST:PORT [--mib N] [--pin HEX]
 *       One stream to an echo server: N MiB sent (from memory) while the
 *       echo is read back and counted; MB/s = N MiB / time from the first
 *       byte queued to the echo's FIN. No stdin/stdout in the way.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macula/quic.h"
#include "macula/runtime.h"

struct bench {
    macula_runtime *rt;
    const char *host;
    uint16_t port;
    int have_pin;
    uint8_t pin[32];
    size_t count, concurrency;
    size_t next_count; /* idle mode: set by main, applied on the loop thread */
    int hold; /* idle mode: keep connections open */
    size_t started, in_flight;
    atomic_size_t finished, connected, failed;
    double *latency_ms;
    macula_quic_conn **conns;
    char last_error[256];
};

struct dial_ctx {
    struct bench *b;
    size_t index;
    double t0;
    int connected;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void start_more(struct bench *b);

static void on_event(void *user, const macula_quic_event *ev)
{
    struct dial_ctx *d = user;
    struct bench *b = d->b;
    if (ev->type == MACULA_QUIC_EV_CONNECTED) {
        b->latency_ms[d->index] = (now_s() - d->t0) * 1000.0;
        d->connected = 1;
        atomic_fetch_add(&b->connected, 1);
        if (b->hold) {
            b->conns[d->index] = ev->conn;
            b->in_flight--;
            start_more(b);
        } else {
            macula_quic_conn_close(ev->conn, 0, NULL);
        }
        return;
    }
    if (ev->type != MACULA_QUIC_EV_CLOSED)
        return;
    if (!d->connected) {
        atomic_fetch_add(&b->failed, 1);
        snprintf(b->last_error, sizeof b->last_error, "%s: %s", macula_quic_close_cause_name(ev->close.cause),
                 ev->close.reason ? ev->close.reason : "");
    }
    if (!b->hold || !d->connected) {
        b->in_flight--;
    } else {
        b->conns[d->index] = NULL;
    }
    atomic_fetch_add(&b->finished, 1);
    free(d);
    if (!b->hold) {
        start_more(b);
        if (atomic_load(&b->finished) == b->count)
            macula_runtime_stop(b->rt);
    }
}

static void start_more(struct bench *b)
{
    while (b->started < b->count && b->in_flight < b->concurrency) {
        struct dial_ctx *d = calloc(1, sizeof *d);
        if (!d)
            abort(); /* a benchmark, not the library */
        d->b = b;
        d->index = b->started++;
        macula_quic_dial_options o;
        macula_quic_dial_options_init(&o);
        o.host = b->host;
        o.port = b->port;
        o.timeout_ms = 10000;
        if (b->have_pin) {
            o.verify = MACULA_QUIC_VERIFY_PIN;
            o.pin_ed25519 = b->pin;
        }
        d->t0 = now_s();
        int err = 0;
        b->in_flight++;
        if (!macula_quic_dial(b->rt, NULL, &o, on_event, d, &err)) {
            fprintf(stderr, "bench_quic: dial: %s\n", macula_strerror(err));
            b->in_flight--;
            atomic_fetch_add(&b->failed, 1);
            atomic_fetch_add(&b->finished, 1);
            free(d);
        }
    }
}

static void start_on_loop(void *arg) { start_more(arg); }

static void grow_on_loop(void *arg)
{
    struct bench *b = arg;
    b->count = b->next_count;
    start_more(b);
}

static void close_all_on_loop(void *arg)
{
    struct bench *b = arg;
    for (size_t i = 0; i < b->started; i++)
        if (b->conns[i])
            macula_quic_conn_close(b->conns[i], 0, NULL);
}

/* --- bulk: one stream, bytes from memory, echo counted --- */

#define BULK_BLOCK (256 * 1024)

struct bulk {
    macula_runtime *rt;
    macula_quic_conn *conn;
    int64_t sid;
    uint64_t total, queued, received;
    int fin_queued, done, failed;
    double t_start, t_end;
    uint8_t block[BULK_BLOCK];
    macula_quic_conn_stats stats;
    char error[256];
};

static void bulk_pump(struct bulk *k)
{
    while (!k->fin_queued) {
        uint64_t left = k->total - k->queued;
        size_t n = left < BULK_BLOCK ? (size_t)left : BULK_BLOCK;
        int fin = left <= BULK_BLOCK;
        int rc = macula_quic_conn_send(k->conn, k->sid, k->block, n, fin);
        if (rc == MACULA_ERR_WOULD_BLOCK)
            return;
        if (rc != 0) {
            snprintf(k->error, sizeof k->error, "send: %s", macula_strerror(rc));
            k->failed = 1;
            macula_quic_conn_close(k->conn, 1, "bench failed");
            return;
        }
        k->queued += n;
        k->fin_queued = fin;
    }
}

static void bulk_event(void *user, const macula_quic_event *ev)
{
    struct bulk *k = user;
    switch (ev->type) {
    case MACULA_QUIC_EV_CONNECTED:
        if (macula_quic_conn_open_stream(ev->conn, &k->sid) != 0) {
            k->failed = 1;
            macula_quic_conn_close(ev->conn, 1, "no stream");
            return;
        }
        k->t_start = now_s();
        bulk_pump(k);
        break;
    case MACULA_QUIC_EV_SEND_READY:
        bulk_pump(k);
        break;
    case MACULA_QUIC_EV_STREAM_DATA:
        k->received += ev->len;
        if (ev->fin) {
            k->t_end = now_s();
            k->done = 1;
            macula_quic_conn_stats_init(&k->stats);
            macula_quic_conn_get_stats(ev->conn, &k->stats);
            macula_quic_conn_close(ev->conn, 0, NULL);
        }
        break;
    case MACULA_QUIC_EV_CLOSED:
        if (!k->done) {
            k->failed = 1;
            snprintf(k->error, sizeof k->error, "%s: %s", macula_quic_close_cause_name(ev->close.cause),
                     ev->close.reason ? ev->close.reason : "");
        }
        macula_runtime_stop(k->rt);
        break;
    default:
        break;
    }
}

static int run_bulk(struct bench *b, uint64_t mib)
{
    struct bulk *k = calloc(1, sizeof *k);
    if (!k)
        return 1;
    k->rt = b->rt;
    k->total = mib * 1048576;
    for (size_t i = 0; i < sizeof k->block; i++)
        k->block[i] = (uint8_t)(i * 2654435761u >> 13);
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    o.host = b->host;
    o.port = b->port;
    if (b->have_pin) {
        o.verify = MACULA_QUIC_VERIFY_PIN;
        o.pin_ed25519 = b->pin;
    }
    int err = 0;
    k->conn = macula_quic_dial(b->rt, NULL, &o, bulk_event, k, &err);
    if (!k->conn) {
        fprintf(stderr, "bench_quic: dial: %s\n", macula_strerror(err));
        free(k);
        return 1;
    }
    macula_runtime_run(b->rt);
    double secs = k->t_end - k->t_start;
    printf("{\"mode\":\"bulk\",\"mib\":%llu,\"ok\":%s,\"echoed\":%llu,\"seconds\":%.3f,\"mb_per_s\":%.1f,"
           "\"packets_sent\":%llu,\"packets_received\":%llu,\"packets_lost\":%llu,\"smoothed_rtt_us\":%llu,"
           "\"error\":\"%s\"}\n",
           (unsigned long long)mib, k->done && k->received == k->total ? "true" : "false",
           (unsigned long long)k->received, secs, k->done ? (double)k->total / 1e6 / secs : 0.0,
           (unsigned long long)k->stats.packets_sent, (unsigned long long)k->stats.packets_received,
           (unsigned long long)k->stats.packets_lost, (unsigned long long)k->stats.smoothed_rtt_us, k->error);
    int rc = k->done && k->received == k->total ? 0 : 1;
    free(k);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return sorted[i];
}

static long rss_kib(long pid)
{
    char path[64], line[256];
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%ld/status", pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static int parse_hostport(const char *s, struct bench *b)
{
    static char host[256];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = 0;
    }
    b->host = host;
    b->port = (uint16_t)atoi(colon + 1);
    return b->port ? 0 : -1;
}

static int parse_pin(const char *hex, uint8_t out[32])
{
    if (strlen(hex) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_quic handshakes HOST:PORT [--count N] [--concurrency C] [--pin HEX]\n"
                    "       bench_quic bulk HOST:PORT [--mib N] [--pin HEX]\n"
                    "       bench_quic idle HOST:PORT [--count N] [--concurrency C] [--server-pid PID] "
                    "[--settle-ms MS]\n");
    exit(2);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    struct bench b;
    memset(&b, 0, sizeof b);
    const char *mode = argv[1];
    if (parse_hostport(argv[2], &b) != 0)
        usage();
    int idle = !strcmp(mode, "idle"), bulk = !strcmp(mode, "bulk");
    if (!idle && !bulk && strcmp(mode, "handshakes"))
        usage();
    uint64_t mib = 256;
    b.count = idle ? 1000 : 2000;
    b.concurrency = idle ? 50 : 1;
    long server_pid = 0, settle_ms = 2000;
    for (int i = 3; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        const char *k = argv[i], *v = argv[++i];
        if (!strcmp(k, "--count"))
            b.count = (size_t)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--concurrency"))
            b.concurrency = (size_t)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--pin") && parse_pin(v, b.pin) == 0)
            b.have_pin = 1;
        else if (!strcmp(k, "--server-pid"))
            server_pid = strtol(v, NULL, 10);
        else if (!strcmp(k, "--mib"))
            mib = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--settle-ms"))
            settle_ms = strtol(v, NULL, 10);
        else
            usage();
    }
    if (b.count == 0 || b.concurrency == 0)
        usage();
    b.hold = idle;
    b.latency_ms = calloc(b.count + 1, sizeof *b.latency_ms);
    b.conns = calloc(b.count + 1, sizeof *b.conns);
    int err;
    b.rt = macula_runtime_new(NULL, &err);
    if (!b.latency_ms || !b.conns || !b.rt) {
        fprintf(stderr, "bench_quic: setup failed\n");
        return 1;
    }

    if (bulk) {
        int rc = run_bulk(&b, mib);
        macula_runtime_free(b.rt);
        free(b.latency_ms);
        free(b.conns);
        return rc;
    }
    if (!idle) {
        double t0 = now_s();
        macula_runtime_post(b.rt, start_on_loop, &b);
        macula_runtime_run(b.rt);
        double elapsed = now_s() - t0;
        size_t ok = atomic_load(&b.connected);
        double *sorted = malloc((ok ? ok : 1) * sizeof *sorted);
        size_t n = 0;
        for (size_t i = 0; i < b.count; i++)
            if (b.latency_ms[i] > 0)
                sorted[n++] = b.latency_ms[i];
        qsort(sorted, n, sizeof *sorted, cmp_double);
        printf("{\"mode\":\"handshakes\",\"count\":%zu,\"concurrency\":%zu,\"ok\":%zu,\"failed\":%zu,"
               "\"seconds\":%.3f,\"handshakes_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"last_error\":\"%s\"}\n",
               b.count, b.concurrency, ok, atomic_load(&b.failed), elapsed, (double)ok / elapsed,
               percentile(sorted, n, 0.50), percentile(sorted, n, 0.99), b.last_error);
        free(sorted);
    } else {
        /* One connection first, so that lazily built state on both sides
         * (credentials, tables, first buffers) is not counted per connection. */
        size_t total = b.count;
        b.count = 1; /* before the loop thread starts */
        macula_runtime_start(b.rt);
        macula_runtime_post(b.rt, start_on_loop, &b);
        for (int i = 0; i < 1000 && atomic_load(&b.finished) + atomic_load(&b.connected) < 1; i++)
            sleep_ms(10);
        sleep_ms(settle_ms / 4);
        long server_before = rss_kib(server_pid), self_before = rss_kib(0);
        double t0 = now_s();
        b.next_count = total + 1;
        macula_runtime_post(b.rt, grow_on_loop, &b);
        for (int i = 0; i < 6000 && atomic_load(&b.connected) + atomic_load(&b.failed) < total + 1; i++)
            sleep_ms(10);
        double connect_s = now_s() - t0;
        sleep_ms(settle_ms);
        long server_after = rss_kib(server_pid), self_after = rss_kib(0);
        size_t held = atomic_load(&b.connected) - atomic_load(&b.finished);
        size_t measured = total;
        printf("{\"mode\":\"idle\",\"count\":%zu,\"connected\":%zu,\"failed\":%zu,\"open_at_measure\":%zu,"
               "\"connect_seconds\":%.3f,\"server_rss_before_kib\":%ld,\"server_rss_after_kib\":%ld,"
               "\"server_bytes_per_conn\":%.0f,\"client_rss_before_kib\":%ld,\"client_rss_after_kib\":%ld,"
               "\"client_bytes_per_conn\":%.0f,\"last_error\":\"%s\"}\n",
               measured, atomic_load(&b.connected), atomic_load(&b.failed), held, connect_s, server_before,
               server_after, server_pid > 0 ? (double)(server_after - server_before) * 1024.0 / (double)measured : 0,
               self_before, self_after, (double)(self_after - self_before) * 1024.0 / (double)measured, b.last_error);
        fflush(stdout);
        macula_runtime_post(b.rt, close_all_on_loop, &b);
        sleep_ms(200);
        macula_runtime_stop(b.rt);
        macula_runtime_join(b.rt);
    }
    macula_runtime_free(b.rt);
    free(b.latency_ms);
    free(b.conns);
    return 0;
}
