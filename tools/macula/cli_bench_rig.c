/* SPDX-License-Identifier: Apache-2.0 */
/* The two-runtime rig of `macula bench` (see cli_bench_rig.h). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_bench_rig.h"

uint64_t rig_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double rig_process_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t rig_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t rig_heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

void rig_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void sleep_us(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000L};
    nanosleep(&ts, NULL);
}

int rig_wait(atomic_uint_fast64_t *counter, uint64_t target, uint32_t timeout_ms)
{
    uint64_t deadline = rig_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (atomic_load(counter) < target) {
        if (rig_now_ns() > deadline)
            return 0;
        sleep_us(200);
    }
    return 1;
}

/* --- server half --- */

static void srv_handler(void *user, macula_event *ev)
{
    struct rig *r = user;
    switch (ev->type) {
    case MACULA_EVENT_CONNECTED:
        atomic_fetch_add(&r->srv_connected, 1);
        break;
    case MACULA_EVENT_FRAME:
        atomic_fetch_add(&r->srv_bytes, ev->wire_len);
        if (atomic_fetch_add(&r->srv_frames, 1) + 1 == atomic_load(&r->srv_frames_target))
            atomic_store(&r->srv_last_frame_ns, rig_now_ns());
        break;
    case MACULA_EVENT_DISCONNECTED:
        atomic_fetch_add(&r->srv_ended, 1);
        break;
    case MACULA_EVENT_HANDSHAKE_COMPLETE:
    case MACULA_EVENT_SEND_READY:
    case MACULA_EVENT_STREAM_OPENED: /* the benchmark uses the control stream only */
    case MACULA_EVENT_STREAM_CLOSED:
        break;
    }
}

static macula_runtime *new_runtime(int *err)
{
    macula_runtime_options ro;
    macula_runtime_options_init(&ro);
    ro.shutdown_timeout_ms = 2000; /* the benchmark's own peers; no need to wait 5 s */
    return macula_runtime_new(&ro, err);
}

static int rig_low_memory; /* set once, before any rig runs */

void rig_set_low_memory(int on) { rig_low_memory = on; }

macula_listener *rig_loopback_listener(macula_runtime *rt, const macula_identity *id,
                                       const macula_peer_options *accept, const char *what, int *err)
{
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    static const char *const sans[] = {"127.0.0.1"};
    lo.bind_host = "127.0.0.1";
    lo.identity = id;
    lo.sans = sans;
    lo.n_sans = 1;
    lo.auto_accept = accept;
    lo.quic.low_memory = rig_low_memory;
    const char *why = NULL;
    macula_listener *l = macula_listener_new(rt, &lo, err, &why);
    if (!l) {
        cli_errorf("%s: listener: %s%s%s", what, macula_strerror(*err), why ? ": " : "", why ? why : "");
        if (!*err)
            *err = MACULA_ERR_INTERNAL;
    }
    return l;
}

int rig_server_open(struct rig *r)
{
    int err = 0;
    if (!(r->srv_id = macula_identity_generate(&err)) || !(r->srv_rt = new_runtime(&err)))
        return err;
    macula_peer_options po;
    macula_peer_options_init(&po);
    po.identity = r->srv_id;
    po.handler = srv_handler;
    po.handler_user = r;
    if (!(r->listener = rig_loopback_listener(r->srv_rt, r->srv_id, &po, "bench", &err)))
        return err;
    r->port = macula_listener_port(r->listener);
    memcpy(r->srv_node_id, macula_identity_node_id(r->srv_id), MACULA_NODE_ID_LEN);
    return macula_runtime_start(r->srv_rt);
}

/* --- client half --- */

static void dial_next(struct rig_batch *b);

static void cli_handler(void *user, macula_event *ev)
{
    struct rig_peer *p = user;
    struct rig_batch *b = p->batch;
    switch (ev->type) {
    case MACULA_EVENT_CONNECTED:
        p->t_conn_ns = rig_now_ns();
        p->peer = ev->peer;
        atomic_store(&p->connected, 1);
        atomic_fetch_add(&b->connected, 1);
        if (b->close_on_connect)
            macula_peer_close(b->rig->cli_rt, ev->peer, "bench");
        dial_next(b);
        break;
    case MACULA_EVENT_DISCONNECTED:
        atomic_store(&p->ended, 1);
        if (!atomic_load(&p->connected)) {
            atomic_fetch_add(&b->failed, 1);
            dial_next(b);
        }
        atomic_fetch_add(&b->ended, 1);
        break;
    case MACULA_EVENT_FRAME:
    case MACULA_EVENT_HANDSHAKE_COMPLETE:
    case MACULA_EVENT_SEND_READY:
    case MACULA_EVENT_STREAM_OPENED: /* the benchmark uses the control stream only */
    case MACULA_EVENT_STREAM_CLOSED:
        break;
    }
}

/* Starts the batch's next dial, if any is left (any thread). */
static void dial_next(struct rig_batch *b)
{
    size_t i = atomic_fetch_add(&b->next_dial, 1);
    if (i >= b->n)
        return;
    struct rig *r = b->rig;
    struct rig_peer *p = &b->peers[i];
    macula_peer_options o;
    macula_peer_options_init(&o);
    o.identity = r->cli_id;
    o.host = "127.0.0.1";
    o.port = r->port;
    o.expected_node_id = r->srv_node_id;
    o.connect_timeout_ms = 10000;
    o.drain_timeout_ms = r->drain_ms;
    o.handler = cli_handler;
    o.handler_user = p;
    o.low_memory = rig_low_memory;
    int err = 0;
    p->t_dial_ns = rig_now_ns();
    if (macula_peer_connect(r->cli_rt, &o, &err, NULL) == MACULA_PEER_INVALID) {
        atomic_store(&p->ended, 1);
        atomic_fetch_add(&b->failed, 1);
        atomic_fetch_add(&b->ended, 1);
    }
}

int rig_client_open(struct rig *r, uint16_t port, const uint8_t srv_node_id[MACULA_NODE_ID_LEN])
{
    int err = 0;
    r->port = port;
    memcpy(r->srv_node_id, srv_node_id, MACULA_NODE_ID_LEN);
    if (!r->drain_ms)
        r->drain_ms = 100;
    if (!(r->cli_id = macula_identity_generate(&err)) || !(r->cli_rt = new_runtime(&err)))
        return err;
    return macula_runtime_start(r->cli_rt);
}

int rig_open(struct rig *r)
{
    int rc = rig_server_open(r);
    return rc ? rc : rig_client_open(r, r->port, r->srv_node_id);
}

struct rig_batch *rig_dial(struct rig *r, size_t n, size_t concurrency, int close_on_connect,
                           uint32_t timeout_ms)
{
    struct rig_batch *b = calloc(1, sizeof *b);
    if (!b || !(b->peers = calloc(n ? n : 1, sizeof *b->peers))) {
        free(b);
        return NULL;
    }
    b->rig = r;
    b->n = n;
    b->close_on_connect = close_on_connect;
    for (size_t i = 0; i < n; i++)
        b->peers[i].batch = b;
    b->older = r->batches;
    r->batches = b;
    for (size_t i = 0; i < concurrency && i < n; i++)
        dial_next(b);
    uint64_t deadline = rig_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (atomic_load(&b->connected) + atomic_load(&b->failed) < n && rig_now_ns() < deadline)
        sleep_us(200);
    return b;
}

void rig_close_batch(struct rig_batch *b, uint32_t timeout_ms)
{
    for (size_t i = 0; i < b->n; i++)
        if (atomic_load(&b->peers[i].connected) && !atomic_load(&b->peers[i].ended))
            macula_peer_close(b->rig->cli_rt, b->peers[i].peer, "bench");
    uint64_t started = atomic_load(&b->next_dial) < b->n ? atomic_load(&b->next_dial) : b->n;
    rig_wait(&b->ended, started, timeout_ms);
}

void rig_close(struct rig *r)
{
    /* Runtimes first: after they are freed no handler can touch a batch. */
    macula_runtime_free(r->cli_rt);
    macula_runtime_free(r->srv_rt);
    r->cli_rt = r->srv_rt = NULL;
    r->listener = NULL;
    while (r->batches) {
        struct rig_batch *b = r->batches;
        r->batches = b->older;
        free(b->peers);
        free(b);
    }
    macula_identity_free(r->cli_id);
    macula_identity_free(r->srv_id);
    r->cli_id = r->srv_id = NULL;
}
