/* SPDX-License-Identifier: Apache-2.0 */
/* `macula bench`: the peering benchmarks of BENCHMARKS.md (figures, never
 * asserted by tests). Every measurement runs a listener and dialers on two
 * runtimes (two loop threads) on 127.0.0.1 through the public API only;
 * `idle` puts them in two processes so each side's memory is its own. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_bench_raw.h"
#include "cli_bench_relay.h"
#include "cli_bench_rig.h"

#define BENCH_TOPIC "bench"
#define BENCH_WAIT_MS 120000u
/* Bytes of frames sent but not yet counted by the receiver: enough to keep
 * QUIC's windows full, small enough that send_frame never meets its cap. */
#define BENCH_INFLIGHT_BYTES (8u << 20)

enum frame_mode { MODE_SIGNED, MODE_PRESIGNED_WIRE, MODE_PRESIGNED_FRAME };
static const char *const mode_names[] = {"signed", "presigned", "presigned-frame"};

struct hs_result {
    size_t n, connected;
    double p50_ms, p99_ms, per_s;
    double cpu_ms; /* process CPU (both ends, every thread) per handshake, close included */
};

struct frames_result {
    uint64_t frames;
    size_t wire_len;
    double per_s, wire_mb_s, payload_mb_s;
    double sender_cpu_us;  /* sending thread's CPU per frame (build, sign, encode, queue) */
    double process_cpu_us; /* whole process CPU per frame: both loops and the sender */
    uint64_t queue_full;   /* send_frame/send_wire answered QUEUE_FULL (retried) */
};

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ===================================================================== */
/* handshakes                                                            */
/* ===================================================================== */

/* `n` full peering handshakes (QUIC + TLS + CONNECT/HELLO), `concurrency`
 * in flight; each peer closes (GOODBYE) as soon as it is connected. */
static int run_handshakes(struct rig *r, size_t n, size_t concurrency, struct hs_result *out)
{
    memset(out, 0, sizeof *out);
    double cpu0 = rig_process_cpu_s();
    uint64_t srv_ended0 = atomic_load(&r->srv_ended);
    struct rig_batch *b = rig_dial(r, n, concurrency, 1, BENCH_WAIT_MS);
    if (!b)
        return MACULA_ERR_NOMEM;
    uint64_t *lat = calloc(n ? n : 1, sizeof *lat);
    if (!lat)
        return MACULA_ERR_NOMEM;
    uint64_t first = UINT64_MAX, last = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct rig_peer *p = &b->peers[i];
        if (!atomic_load(&p->connected))
            continue;
        lat[k++] = p->t_conn_ns - p->t_dial_ns;
        if (p->t_dial_ns < first)
            first = p->t_dial_ns;
        if (p->t_conn_ns > last)
            last = p->t_conn_ns;
    }
    out->n = n;
    out->connected = k;
    if (k) {
        qsort(lat, k, sizeof *lat, cmp_u64);
        out->p50_ms = (double)lat[k / 2] / 1e6;
        out->p99_ms = (double)lat[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1] / 1e6;
        out->per_s = last > first ? (double)k / ((double)(last - first) / 1e9) : 0;
    }
    free(lat);
    /* Let the GOODBYEs drain so the next measurement starts quiet. */
    rig_wait(&b->ended, atomic_load(&b->next_dial) < n ? atomic_load(&b->next_dial) : n, BENCH_WAIT_MS);
    rig_wait(&r->srv_ended, srv_ended0 + k, BENCH_WAIT_MS); /* the listener's workers too */
    out->cpu_ms = k ? (rig_process_cpu_s() - cpu0) * 1e3 / (double)k : 0;
    return k == n ? 0 : MACULA_ERR_TIMEOUT;
}

/* ===================================================================== */
/* frames                                                                */
/* ===================================================================== */

static macula_frame *bench_publish(const struct rig *r, const uint8_t *payload, size_t size, uint64_t seq)
{
    return macula_frame_publish(r->cli_id, NULL, BENCH_TOPIC, strlen(BENCH_TOPIC), macula_value_bytes(payload, size),
                                seq, -1, 0, NULL);
}

/* One frame of `mode` onto `peer`; 0, QUEUE_FULL (nothing sent) or an error. */
static int send_one(struct rig *r, macula_peer peer, enum frame_mode mode, const uint8_t *payload, size_t size,
                    uint64_t seq, const macula_frame *signed_frame, const uint8_t *wire, size_t wire_len)
{
    macula_frame *f;
    switch (mode) {
    case MODE_SIGNED:
        if (!(f = bench_publish(r, payload, size, seq)))
            return MACULA_ERR_NOMEM;
        return macula_peer_send_frame(r->cli_rt, peer, f); /* signs and encodes here, on this thread */
    case MODE_PRESIGNED_FRAME:
        if (!(f = macula_frame_clone(signed_frame, NULL)))
            return MACULA_ERR_NOMEM;
        return macula_peer_send_frame(r->cli_rt, peer, f); /* has a signature: encoded, not signed */
    case MODE_PRESIGNED_WIRE:
        return macula_peer_send_wire(r->cli_rt, peer, wire, wire_len);
    }
    return MACULA_ERR_INVALID_ARG;
}

/* `count` PUBLISH frames with a `size`-byte payload, round-robin over
 * `peers`, from this thread; timed from the first send to the receiver's
 * last FRAME event. */
static int run_frames(struct rig *r, const macula_peer *peers, size_t n_peers, size_t size, uint64_t count,
                      enum frame_mode mode, struct frames_result *out)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    uint8_t *payload = malloc(size ? size : 1), *wire = NULL;
    size_t wire_len = 0;
    if (!payload)
        return MACULA_ERR_NOMEM;
    for (size_t i = 0; i < size; i++)
        payload[i] = (uint8_t)(i * 131u + 7u);
    /* One signed sample: the pre-signed modes send it, every mode uses its size. */
    macula_frame *sample = bench_publish(r, payload, size, 0);
    if (!sample || (rc = macula_frame_sign(sample, r->cli_id)) != 0 ||
        (rc = macula_frame_encode(sample, &wire, &wire_len)) != 0) {
        rc = rc ? rc : MACULA_ERR_NOMEM;
        goto out;
    }
    out->wire_len = wire_len;
    uint64_t window = BENCH_INFLIGHT_BYTES / wire_len + 1;
    uint64_t base = atomic_load(&r->srv_frames);
    atomic_store(&r->srv_last_frame_ns, 0);
    atomic_store(&r->srv_frames_target, base + count);
    double cpu0 = thread_cpu_s(), pcpu0 = rig_process_cpu_s();
    uint64_t t0 = rig_now_ns();
    for (uint64_t i = 0; i < count;) {
        if (i - (atomic_load(&r->srv_frames) - base) >= window) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
            continue;
        }
        rc = send_one(r, peers[i % n_peers], mode, payload, size, i, sample, wire, wire_len);
        if (rc == MACULA_ERR_QUEUE_FULL) {
            out->queue_full++;
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (rc != 0)
            goto out;
        i++;
    }
    double sender_cpu = thread_cpu_s() - cpu0;
    if (!rig_wait(&r->srv_frames, base + count, BENCH_WAIT_MS) ||
        !rig_wait(&r->srv_last_frame_ns, 1, BENCH_WAIT_MS)) {
        rc = MACULA_ERR_TIMEOUT;
        goto out;
    }
    double secs = (double)(atomic_load(&r->srv_last_frame_ns) - t0) / 1e9;
    double pcpu = rig_process_cpu_s() - pcpu0;
    out->frames = count;
    out->per_s = (double)count / secs;
    out->wire_mb_s = (double)count * (double)wire_len / secs / 1e6;
    out->payload_mb_s = (double)count * (double)size / secs / 1e6;
    out->sender_cpu_us = sender_cpu / (double)count * 1e6;
    out->process_cpu_us = pcpu / (double)count * 1e6;
out:
    macula_frame_free(sample);
    macula_free(wire);
    free(payload);
    return rc;
}

/* The connected peers of a batch, as handles. */
static size_t batch_handles(const struct rig_batch *b, macula_peer *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < b->n && k < max; i++)
        if (atomic_load(&b->peers[i].connected) && !atomic_load(&b->peers[i].ended))
            out[k++] = b->peers[i].peer;
    return k;
}

/* ===================================================================== */
/* idle memory: listener and dialers in two processes                    */
/* ===================================================================== */

struct idle_point {
    uint64_t peers;
    double listener_kib, dialer_kib;           /* RSS growth per peer */
    double listener_heap_kib, dialer_heap_kib; /* heap-in-use growth per peer */
    int ok;
};

static int read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

#define IDLE_WARMUP 16
#define IDLE_SETTLE_MS 1000

struct idle_msg {
    uint64_t peers, connected, rss, heap; /* dialer -> listener after each step */
};

/* The dialer process: connect up to each target in turn, report RSS. */
static int idle_child(int rfd, int wfd, const uint64_t *targets, size_t n_targets)
{
    struct {
        uint16_t port;
        uint8_t node[MACULA_NODE_ID_LEN];
    } hello;
    if (read_full(rfd, &hello, sizeof hello) != 0)
        return 1;
    struct rig r;
    memset(&r, 0, sizeof r);
    r.drain_ms = 100;
    if (rig_client_open(&r, hello.port, hello.node) != 0)
        return 1;
    struct rig_batch *warm = rig_dial(&r, IDLE_WARMUP, IDLE_WARMUP, 0, BENCH_WAIT_MS);
    uint64_t connected = warm ? atomic_load(&warm->connected) : 0, have = 0;
    struct timespec settle = {IDLE_SETTLE_MS / 1000, (IDLE_SETTLE_MS % 1000) * 1000000L};
    nanosleep(&settle, NULL);
    struct idle_msg m = {0, connected, rig_rss_bytes(), rig_heap_bytes()};
    int status = write_full(wfd, &m, sizeof m);
    for (size_t t = 0; t < n_targets && status == 0; t++) {
        struct rig_batch *b = rig_dial(&r, targets[t] - have, 100, 0, BENCH_WAIT_MS);
        connected += b ? atomic_load(&b->connected) : 0;
        have = targets[t];
        nanosleep(&settle, NULL);
        m = (struct idle_msg){targets[t], connected, rig_rss_bytes(), rig_heap_bytes()};
        char ack;
        status = write_full(wfd, &m, sizeof m) || read_full(rfd, &ack, 1);
    }
    rig_close(&r);
    return status ? 1 : 0;
}

/* Peer counts must rise; each point is the RSS growth over the baseline
 * (taken after IDLE_WARMUP peers) divided by the peers added since. */
static int run_idle(const uint64_t *targets, size_t n_targets, struct idle_point *points)
{
    int p2c[2], c2p[2];
    if (pipe(p2c) != 0 || pipe(c2p) != 0)
        return MACULA_ERR_IO;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return MACULA_ERR_IO;
    if (pid == 0) {
        close(p2c[1]);
        close(c2p[0]);
        _exit(idle_child(p2c[0], c2p[1], targets, n_targets));
    }
    close(p2c[0]);
    close(c2p[1]);
    struct rig r;
    memset(&r, 0, sizeof r);
    int rc = rig_server_open(&r);
    struct {
        uint16_t port;
        uint8_t node[MACULA_NODE_ID_LEN];
    } hello;
    memset(&hello, 0, sizeof hello);
    hello.port = r.port;
    memcpy(hello.node, r.srv_node_id, MACULA_NODE_ID_LEN);
    struct idle_msg base, m;
    uint64_t srv_base = 0, srv_heap_base = 0;
    if (rc == 0 && (write_full(p2c[1], &hello, sizeof hello) != 0 || read_full(c2p[0], &base, sizeof base) != 0))
        rc = MACULA_ERR_IO;
    if (rc == 0) {
        rig_wait(&r.srv_connected, IDLE_WARMUP, 10000);
        srv_base = rig_rss_bytes();
        srv_heap_base = rig_heap_bytes();
    }
    for (size_t t = 0; t < n_targets && rc == 0; t++) {
        if (read_full(c2p[0], &m, sizeof m) != 0) {
            rc = MACULA_ERR_IO;
            break;
        }
        int all = m.connected == m.peers + IDLE_WARMUP &&
                  rig_wait(&r.srv_connected, m.peers + IDLE_WARMUP, 10000);
        struct timespec settle = {0, 200000000L};
        nanosleep(&settle, NULL);
        uint64_t srv_rss = rig_rss_bytes(), srv_heap = rig_heap_bytes();
        points[t].peers = m.peers;
        points[t].ok = all;
        points[t].listener_kib = ((double)srv_rss - (double)srv_base) / (double)m.peers / 1024.0;
        points[t].dialer_kib = ((double)m.rss - (double)base.rss) / (double)m.peers / 1024.0;
        points[t].listener_heap_kib = ((double)srv_heap - (double)srv_heap_base) / (double)m.peers / 1024.0;
        points[t].dialer_heap_kib = ((double)m.heap - (double)base.heap) / (double)m.peers / 1024.0;
        char ack = 1;
        if (write_full(p2c[1], &ack, 1) != 0)
            rc = MACULA_ERR_IO;
    }
    close(p2c[1]);
    close(c2p[0]);
    int wst = 0;
    waitpid(pid, &wst, 0);
    rig_close(&r);
    if (rc == 0 && !(WIFEXITED(wst) && WEXITSTATUS(wst) == 0))
        rc = MACULA_ERR_INTERNAL;
    return rc;
}

/* ===================================================================== */
/* printing                                                              */
/* ===================================================================== */

static void print_hs(const char *label, size_t background, size_t concurrency, const struct hs_result *h)
{
    printf("handshake  %-22s conns=%-5zu concurrency=%-3zu n=%zu connected=%zu  p50 %.3f ms  p99 %.3f ms  "
           "%.0f handshakes/s  process CPU %.2f ms/handshake\n",
           label, background + 1, concurrency, h->n, h->connected, h->p50_ms, h->p99_ms, h->per_s, h->cpu_ms);
}

static void print_idle(const struct idle_point *p)
{
    printf("idle       peers=%-6llu RSS listener %.1f KiB/peer, dialer %.1f KiB/peer | heap listener %.1f KiB/peer, "
           "dialer %.1f KiB/peer%s\n",
           (unsigned long long)p->peers, p->listener_kib, p->dialer_kib, p->listener_heap_kib, p->dialer_heap_kib,
           p->ok ? "" : "  (not all connected)");
    fflush(stdout);
}

static void print_frames(const char *label, size_t conns, size_t size, enum frame_mode mode,
                         const struct frames_result *f)
{
    printf("frames     %-22s conns=%-5zu payload=%-6zu wire=%-6zu %-15s n=%llu  %.0f frames/s  %.1f MB/s wire  "
           "%.1f MB/s payload  sender %.2f us/frame  process %.2f us/frame%s\n",
           label, conns, size, f->wire_len, mode_names[mode], (unsigned long long)f->frames, f->per_s, f->wire_mb_s,
           f->payload_mb_s, f->sender_cpu_us, f->process_cpu_us, f->queue_full ? "  (queue full met)" : "");
    fflush(stdout);
}

/* ===================================================================== */
/* commands                                                              */
/* ===================================================================== */

static int bench_usage(FILE *f)
{
    fprintf(f,
            "usage: macula bench handshake [--count N] [--concurrency C] [--background B]\n"
            "       macula bench frames [--size BYTES] [--count N] [--mode signed|presigned|presigned-frame]\n"
            "                           [--conns C] [--background B]\n"
            "       macula bench raw [--size BYTES] [--count N]\n"
            "       macula bench idle [--peers N[,N]...]\n"
            "       macula bench scale [--levels N[,N]...]\n"
            "       macula bench all [--quick]\n"
            "       macula bench relay [--size BYTES] [--count N] [--rounds R] [--quick]\n"
            "                          [--only relay|quic-relay|direct|quic-direct]\n"
            "\n"
            "Peering benchmarks on 127.0.0.1: a listener and dialers on two runtimes (two loop\n"
            "threads). Figures only; nothing is asserted.\n"
            "  handshake  full peering handshakes (QUIC + TLS + CONNECT/HELLO), dial to CONNECTED:\n"
            "             p50/p99 and handshakes/s with C dials in flight (default 1; count 1000),\n"
            "             with B idle peers connected meanwhile (default 0)\n"
            "  frames     PUBLISH frames with a BYTES payload (default 150) from this thread, timed\n"
            "             to the receiver's last FRAME event. signed: built and signed per frame\n"
            "             (send_frame); presigned: one signed wire frame re-sent (send_wire,\n"
            "             forwarding); presigned-frame: a signed frame object (send_frame encodes it)\n"
            "  raw        plain QUIC on the same two runtimes: N writes of BYTES (default 453, a\n"
            "             150 B PUBLISH's wire size) on one stream, one way: the transport's ceiling\n"
            "  idle       RSS growth per idle connected peer, listener and dialers in two processes\n"
            "             (default 1000,5000 peers)\n"
            "  scale      handshake and frame figures with 1, 10, 100, 1000 connections open\n"
            "  all        every row of BENCHMARKS.md's Peering table (--quick: smaller counts)\n"
            "  relay      A -> R -> B on three runtimes, R forwarding each frame (lazy events,\n"
            "             macula_peer_forward), beside a plain-QUIC relay, direct pre-signed frames\n"
            "             and plain QUIC, per size (default 150, 4096, 65536), R rounds alternated\n"
            "Any of them with --low-memory: every connection with the QUIC low_memory setting\n"
            "(kept for compatibility: no effect, the default allocator gives its savings).\n");
    return f == stderr ? CLI_EXIT_USAGE : CLI_EXIT_OK;
}

static int parse_list(const char *s, uint64_t *out, size_t max, size_t *n)
{
    *n = 0;
    char *copy = strdup(s), *save = NULL;
    if (!copy)
        return -1;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        uint64_t v;
        if (*n >= max || cli_parse_u64(tok, 1, 100000, &v) != 0 || (*n && v <= out[*n - 1]))
            rc = -1;
        else
            out[(*n)++] = v;
    }
    free(copy);
    return rc || !*n ? -1 : 0;
}

struct bench_opts {
    uint64_t count, concurrency, background, size, conns, rounds;
    enum frame_mode mode;
    int only_kind; /* relay: 1 + the one measurement to run (profiling); 0 = all */
    uint64_t list[16];
    size_t n_list;
    int quick;
};

static int parse_opts(int argc, char **argv, struct bench_opts *o)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            o->quick = 1;
            continue;
        }
        if (!strcmp(a, "--low-memory")) {
            rig_set_low_memory(1);
            continue;
        }
        if (!v)
            return -1;
        int bad = 0;
        if (!strcmp(a, "--count"))
            bad = cli_parse_u64(v, 1, 100000000, &o->count);
        else if (!strcmp(a, "--concurrency"))
            bad = cli_parse_u64(v, 1, 10000, &o->concurrency);
        else if (!strcmp(a, "--background"))
            bad = cli_parse_u64(v, 0, 100000, &o->background);
        else if (!strcmp(a, "--size"))
            bad = cli_parse_u64(v, 0, 16000000, &o->size);
        else if (!strcmp(a, "--only")) {
            static const char *const kinds[] = {"relay", "quic-relay", "direct", "quic-direct"};
            bad = -1;
            for (int k = 0; k < 4; k++)
                if (!strcmp(v, kinds[k])) {
                    o->only_kind = k + 1;
                    bad = 0;
                }
        } else if (!strcmp(a, "--rounds"))
            bad = cli_parse_u64(v, 1, 100, &o->rounds);
        else if (!strcmp(a, "--conns"))
            bad = cli_parse_u64(v, 1, 100000, &o->conns);
        else if (!strcmp(a, "--peers") || !strcmp(a, "--levels"))
            bad = parse_list(v, o->list, sizeof o->list / sizeof o->list[0], &o->n_list);
        else if (!strcmp(a, "--mode")) {
            bad = -1;
            for (int m = 0; m < 3; m++)
                if (!strcmp(v, mode_names[m])) {
                    o->mode = (enum frame_mode)m;
                    bad = 0;
                }
        } else
            return -1;
        if (bad)
            return -1;
        i++;
    }
    return 0;
}

static int fail_rc(const char *what, int rc)
{
    cli_errorf("bench %s: %s", what, macula_strerror(rc));
    return CLI_EXIT_PROTOCOL;
}

/* Opens a rig with `background` idle peers connected (they stay). */
static int open_rig(struct rig *r, uint64_t background)
{
    memset(r, 0, sizeof *r);
    r->drain_ms = 100;
    int rc = rig_open(r);
    if (rc != 0)
        return rc;
    if (background) {
        struct rig_batch *b = rig_dial(r, background, 100, 0, BENCH_WAIT_MS);
        if (!b || atomic_load(&b->connected) != background)
            return MACULA_ERR_TIMEOUT;
    }
    return 0;
}

static int cmd_handshake(const struct bench_opts *o)
{
    struct rig r;
    int rc = open_rig(&r, o->background);
    /* A timeout in open_rig (background peers) leaves no measurement; only
     * run_handshakes' own timeout has partial figures worth printing. */
    if (rc == 0) {
        struct hs_result h;
        rc = run_handshakes(&r, o->count ? o->count : 1000, o->concurrency ? o->concurrency : 1, &h);
        if (rc == 0 || rc == MACULA_ERR_TIMEOUT)
            print_hs("", o->background, o->concurrency ? o->concurrency : 1, &h);
    }
    rig_close(&r);
    return rc ? fail_rc("handshake", rc) : CLI_EXIT_OK;
}

/* Dials `conns` peers for frames (beyond the background ones). */
static int frame_peers(struct rig *r, size_t conns, macula_peer **out, size_t *n)
{
    struct rig_batch *b = rig_dial(r, conns, 100, 0, BENCH_WAIT_MS);
    if (!b || !(*out = calloc(conns, sizeof **out)))
        return MACULA_ERR_NOMEM;
    *n = batch_handles(b, *out, conns);
    return *n == conns ? 0 : MACULA_ERR_TIMEOUT;
}

static int cmd_frames(const struct bench_opts *o)
{
    struct rig r;
    size_t conns = o->conns ? o->conns : 1, n = 0;
    size_t size = o->size != UINT64_MAX ? (size_t)o->size : 150;
    macula_peer *peers = NULL;
    int rc = open_rig(&r, o->background);
    if (rc == 0)
        rc = frame_peers(&r, conns, &peers, &n);
    struct frames_result f;
    uint64_t count = o->count ? o->count : (size >= 65536 ? 5000 : size >= 4096 ? 50000 : 200000);
    if (rc == 0)
        rc = run_frames(&r, peers, n, size, count, o->mode, &f);
    if (rc == 0)
        print_frames("", conns + o->background, size, o->mode, &f);
    free(peers);
    rig_close(&r);
    return rc ? fail_rc("frames", rc) : CLI_EXIT_OK;
}

static void print_raw(size_t size, uint64_t count, const struct raw_result *x)
{
    printf("raw QUIC   one stream             write=%-8zu n=%llu  %.0f writes/s  %.1f MB/s  process %.2f us/write\n",
           size, (unsigned long long)count, x->writes_per_s, x->mb_s, x->process_cpu_us);
    fflush(stdout);
}

static int cmd_raw(const struct bench_opts *o)
{
    size_t size = o->size != UINT64_MAX && o->size ? (size_t)o->size : 453;
    uint64_t count = o->count ? o->count : (size >= 65536 ? 20000 : size >= 4096 ? 200000 : 1000000);
    struct raw_result x;
    int rc = bench_raw_quic(size, count, &x);
    if (rc == 0)
        print_raw(size, count, &x);
    return rc ? fail_rc("raw", rc) : CLI_EXIT_OK;
}

static int cmd_idle(const struct bench_opts *o)
{
    uint64_t def[] = {1000, 5000};
    const uint64_t *t = o->n_list ? o->list : def;
    size_t n = o->n_list ? o->n_list : 2;
    struct idle_point pts[16];
    memset(pts, 0, sizeof pts);
    rig_raise_nofile();
    int rc = run_idle(t, n, pts);
    for (size_t i = 0; i < n; i++)
        if (pts[i].peers)
            print_idle(&pts[i]);
    return rc ? fail_rc("idle", rc) : CLI_EXIT_OK;
}

/* One level of the scale table. */
struct scale_row {
    uint64_t conns;
    struct hs_result hs1, hsc;
    struct frames_result one_signed, one_presigned, spread_signed;
    double pair_kib; /* heap growth per peer added at this level, both ends in this process */
};

static int run_scale(const uint64_t *levels, size_t n_levels, int quick, struct scale_row *rows)
{
    struct rig r;
    memset(&r, 0, sizeof r);
    r.drain_ms = 100;
    int rc = rig_open(&r);
    macula_peer *peers = NULL, *all = NULL;
    size_t n1 = 0;
    /* The busy connection, then background peers added level by level. */
    if (rc == 0)
        rc = frame_peers(&r, 1, &peers, &n1);
    uint64_t have = 1;
    for (size_t l = 0; l < n_levels && rc == 0; l++) {
        struct scale_row *row = &rows[l];
        row->conns = levels[l];
        struct timespec settle = {0, 300000000L};
        if (levels[l] > have) {
            /* Memory: heap in use across this level's dials only (RSS
             * would hide peers placed in memory earlier runs freed). */
            nanosleep(&settle, NULL);
            uint64_t heap0 = rig_heap_bytes();
            struct rig_batch *b = rig_dial(&r, levels[l] - have, 100, 0, BENCH_WAIT_MS);
            if (!b || atomic_load(&b->connected) != levels[l] - have) {
                rc = MACULA_ERR_TIMEOUT;
                break;
            }
            nanosleep(&settle, NULL);
            row->pair_kib = ((double)rig_heap_bytes() - (double)heap0) / (double)(levels[l] - have) / 1024.0;
            have = levels[l];
        }
        nanosleep(&settle, NULL);
        if ((rc = run_handshakes(&r, quick ? 200 : 500, 1, &row->hs1)) != 0 ||
            (rc = run_handshakes(&r, quick ? 500 : 2000, 32, &row->hsc)) != 0 ||
            (rc = run_frames(&r, peers, 1, 150, quick ? 50000 : 200000, MODE_SIGNED, &row->one_signed)) != 0 ||
            (rc = run_frames(&r, peers, 1, 150, quick ? 100000 : 500000, MODE_PRESIGNED_WIRE,
                             &row->one_presigned)) != 0)
            break;
        /* Frames spread round-robin over every open connection. */
        free(all);
        if (!(all = calloc(have, sizeof *all))) {
            rc = MACULA_ERR_NOMEM;
            break;
        }
        size_t k = 0;
        for (struct rig_batch *b = r.batches; b; b = b->older)
            k += batch_handles(b, all + k, have - k);
        if ((rc = run_frames(&r, all, k, 150, quick ? 50000 : 200000, MODE_SIGNED, &row->spread_signed)) != 0)
            break;
        printf("scale      conns=%-5llu hs p50 %.3f ms p99 %.3f ms | %.0f hs/s (c=32), CPU %.2f ms/hs | one conn: "
               "%.0f signed/s (CPU %.1f us/frame), %.0f presigned/s (CPU %.1f us/frame) | spread over %zu: "
               "%.0f signed/s (CPU %.1f us/frame) | %.1f heap KiB per added peer (both ends)\n",
               (unsigned long long)row->conns, row->hs1.p50_ms, row->hs1.p99_ms, row->hsc.per_s, row->hsc.cpu_ms,
               row->one_signed.per_s, row->one_signed.process_cpu_us, row->one_presigned.per_s,
               row->one_presigned.process_cpu_us, k, row->spread_signed.per_s, row->spread_signed.process_cpu_us,
               row->pair_kib);
        fflush(stdout);
    }
    free(peers);
    free(all);
    rig_close(&r);
    return rc;
}

static int cmd_scale(const struct bench_opts *o)
{
    uint64_t def[] = {1, 10, 100, 1000};
    const uint64_t *levels = o->n_list ? o->list : def;
    size_t n = o->n_list ? o->n_list : 4;
    struct scale_row rows[16];
    memset(rows, 0, sizeof rows);
    rig_raise_nofile();
    int rc = run_scale(levels, n, o->quick, rows);
    return rc ? fail_rc("scale", rc) : CLI_EXIT_OK;
}

/* Every figure of the Peering table, printed as it is measured, then as
 * Markdown rows. */
static int cmd_all(const struct bench_opts *o)
{
    int q = o->quick, rc;
    struct rig r;
    struct hs_result hs1, hs64;
    struct frames_result fr[8];
    static const struct {
        size_t size;
        enum frame_mode mode;
        uint64_t count, quick_count;
    } runs[8] = {
        {150, MODE_SIGNED, 300000, 50000},        {150, MODE_PRESIGNED_WIRE, 1000000, 100000},
        {150, MODE_PRESIGNED_FRAME, 300000, 50000}, {4096, MODE_SIGNED, 100000, 20000},
        {4096, MODE_PRESIGNED_WIRE, 200000, 20000}, {65536, MODE_SIGNED, 10000, 2000},
        {65536, MODE_PRESIGNED_WIRE, 20000, 2000},  {1048576, MODE_PRESIGNED_WIRE, 1000, 200},
    };
    macula_peer *peers = NULL;
    size_t n = 0;
    rig_raise_nofile();
    printf("# macula bench all%s: macula-c %s, %ld CPUs online\n", q ? " --quick" : "", macula_version(),
           sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
    if ((rc = open_rig(&r, 0)) != 0 || (rc = run_handshakes(&r, 50, 1, &hs1)) != 0 /* warm-up */ ||
        (rc = run_handshakes(&r, q ? 300 : 2000, 1, &hs1)) != 0 ||
        (rc = run_handshakes(&r, q ? 1000 : 5000, 64, &hs64)) != 0) {
        rig_close(&r);
        return fail_rc("all (handshakes)", rc);
    }
    print_hs("sequential", 0, 1, &hs1);
    print_hs("64 dialers", 0, 64, &hs64);
    if ((rc = frame_peers(&r, 1, &peers, &n)) == 0)
        for (size_t i = 0; i < 8 && rc == 0; i++) {
            rc = run_frames(&r, peers, 1, runs[i].size, q ? runs[i].quick_count : runs[i].count, runs[i].mode, &fr[i]);
            if (rc == 0)
                print_frames("one connection", 1, runs[i].size, runs[i].mode, &fr[i]);
        }
    free(peers);
    rig_close(&r);
    if (rc != 0)
        return fail_rc("all (frames)", rc);
    /* The transport's ceiling at the pre-signed rows' wire sizes. */
    static const size_t raw_rows[4] = {1, 4, 6, 7}; /* indexes into runs[] */
    struct raw_result raw[4];
    for (size_t i = 0; i < 4 && rc == 0; i++) {
        const size_t k = raw_rows[i];
        uint64_t count = q ? runs[k].quick_count : runs[k].count;
        rc = bench_raw_quic(fr[k].wire_len, count, &raw[i]);
        if (rc == 0)
            print_raw(fr[k].wire_len, count, &raw[i]);
    }
    if (rc != 0)
        return fail_rc("all (raw QUIC)", rc);

    uint64_t idle_targets[] = {1000, 5000};
    struct idle_point idle[2];
    memset(idle, 0, sizeof idle);
    if ((rc = run_idle(idle_targets, 2, idle)) != 0)
        return fail_rc("all (idle)", rc);
    for (size_t i = 0; i < 2; i++)
        print_idle(&idle[i]);

    uint64_t levels[] = {1, 10, 100, 1000};
    struct scale_row rows[4];
    memset(rows, 0, sizeof rows);
    if ((rc = run_scale(levels, 4, q, rows)) != 0)
        return fail_rc("all (scale)", rc);

    printf("\n| measurement | macula-c |\n|---|---|\n");
    printf("| full peering handshake, sequential: p50 / p99 (CPU per handshake, both ends) | %.2f ms / %.2f ms "
           "(%.2f ms) |\n", hs1.p50_ms, hs1.p99_ms, hs1.cpu_ms);
    printf("| handshakes per second, 64 concurrent dialers (p50 / p99 latency; CPU per handshake) | %.0f/s "
           "(%.2f / %.2f ms; %.2f ms) |\n", hs64.per_s, hs64.p50_ms, hs64.p99_ms, hs64.cpu_ms);
    static const char *const row_names[8] = {
        "signed 150 B PUBLISH, one connection (sender signs each)",
        "pre-signed 150 B PUBLISH, one connection (send_wire)",
        "pre-signed 150 B PUBLISH, one connection (send_frame of a signed frame)",
        "signed 4 KiB PUBLISH, one connection",
        "pre-signed 4 KiB PUBLISH, one connection",
        "signed 64 KiB PUBLISH, one connection",
        "pre-signed 64 KiB PUBLISH, one connection",
        "pre-signed 1 MiB PUBLISH, one connection",
    };
    for (size_t i = 0; i < 8; i++)
        printf("| %s | %.0f frames/s, %.1f MB/s (sender %.2f µs, process %.2f µs CPU per frame) |\n", row_names[i],
               fr[i].per_s, fr[i].wire_mb_s, fr[i].sender_cpu_us, fr[i].process_cpu_us);
    for (size_t i = 0; i < 4; i++)
        printf("| plain QUIC on the same rig, %zu-byte writes (the wire size of row \"%s\") | %.0f writes/s, %.1f MB/s "
               "(process %.2f µs CPU per write) |\n", fr[raw_rows[i]].wire_len, row_names[raw_rows[i]],
               raw[i].writes_per_s, raw[i].mb_s, raw[i].process_cpu_us);
    for (size_t i = 0; i < 2; i++)
        printf("| memory per idle connected peer, %llu peers: RSS listener / dialer (heap in use) | %.1f KiB / %.1f KiB "
               "(%.1f / %.1f KiB) |\n", (unsigned long long)idle[i].peers, idle[i].listener_kib, idle[i].dialer_kib,
               idle[i].listener_heap_kib, idle[i].dialer_heap_kib);
    printf("\n| open connections | handshake p50 / p99 | handshakes/s (32 dialers) | CPU per handshake | "
           "signed 150 B/s, one conn (CPU/frame) | pre-signed 150 B/s, one conn (CPU/frame) | "
           "signed 150 B/s spread over all (CPU/frame) | heap KiB per added peer (both ends) |\n"
           "|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < 4; i++) {
        char kib[32] = "– (none added)";
        if (i > 0)
            snprintf(kib, sizeof kib, "%.1f", rows[i].pair_kib);
        printf("| %llu | %.2f / %.2f ms | %.0f | %.2f ms | %.0f (%.1f µs) | %.0f (%.1f µs) | %.0f (%.1f µs) | %s |\n",
               (unsigned long long)rows[i].conns, rows[i].hs1.p50_ms, rows[i].hs1.p99_ms, rows[i].hsc.per_s,
               rows[i].hsc.cpu_ms, rows[i].one_signed.per_s, rows[i].one_signed.process_cpu_us,
               rows[i].one_presigned.per_s, rows[i].one_presigned.process_cpu_us, rows[i].spread_signed.per_s,
               rows[i].spread_signed.process_cpu_us, kib);
    }
    return CLI_EXIT_OK;
}

/* ===================================================================== */
/* relay                                                                 */
/* ===================================================================== */

enum { RL_RELAY, RL_QRELAY, RL_DIRECT, RL_QDIRECT, RL_KINDS };
static const char *const relay_labels[RL_KINDS] = {"relay  peering forward", "relay  plain QUIC     ",
                                                   "direct peering presig.", "direct plain QUIC    "};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One measurement of `kind`: frames (writes) per second and MB/s. */
static int relay_measure(int kind, size_t size, uint64_t count, size_t *wire_len, double *per_s, double *mb_s,
                         double *cpu_us)
{
    int rc;
    if (kind == RL_RELAY || kind == RL_QRELAY) {
        struct relay_result x;
        rc = kind == RL_RELAY ? bench_relay_peering(size, count, &x) : bench_relay_quic(*wire_len, count, &x);
        if (rc == 0 && x.forward_failed)
            cli_errorf("bench relay: %llu forwards refused", (unsigned long long)x.forward_failed);
        if (rc == 0 && kind == RL_RELAY)
            *wire_len = x.wire_len;
        *per_s = x.per_s, *mb_s = x.mb_s, *cpu_us = x.process_cpu_us;
        return rc;
    }
    if (kind == RL_QDIRECT) {
        struct raw_result x;
        rc = bench_raw_quic(*wire_len, count, &x);
        *per_s = x.writes_per_s, *mb_s = x.mb_s, *cpu_us = x.process_cpu_us;
        return rc;
    }
    struct rig r;
    macula_peer *peers = NULL;
    size_t n = 0;
    struct frames_result f;
    memset(&f, 0, sizeof f);
    rc = open_rig(&r, 0);
    if (rc == 0)
        rc = frame_peers(&r, 1, &peers, &n);
    if (rc == 0)
        rc = run_frames(&r, peers, n, size, count, MODE_PRESIGNED_WIRE, &f);
    free(peers);
    rig_close(&r);
    *per_s = f.per_s, *mb_s = f.wire_mb_s, *cpu_us = f.process_cpu_us;
    return rc;
}

/* The wire size of the PUBLISH the relay rows send (for --only). */
static size_t bench_wire_len(size_t payload)
{
    size_t len = 0;
    uint8_t *pl = calloc(1, payload ? payload : 1), *wire = NULL;
    macula_identity *id = macula_identity_generate(NULL);
    macula_frame *f = pl && id ? macula_frame_publish(id, NULL, BENCH_TOPIC, strlen(BENCH_TOPIC),
                                                      macula_value_bytes(pl, payload), 0, -1, 0, NULL)
                               : NULL;
    if (f && macula_frame_sign(f, id) == 0 && macula_frame_encode(f, &wire, &len) != 0)
        len = 0;
    macula_free(wire);
    macula_frame_free(f);
    macula_identity_free(id);
    free(pl);
    return len;
}

static int cmd_relay(const struct bench_opts *o)
{
    static const size_t all_sizes[] = {150, 4096, 65536};
    size_t sizes[3], n_sizes = 0;
    if (o->size != UINT64_MAX)
        sizes[n_sizes++] = (size_t)o->size;
    else
        for (; n_sizes < 3; n_sizes++)
            sizes[n_sizes] = all_sizes[n_sizes];
    size_t rounds = o->rounds ? (size_t)o->rounds : 1;
    for (size_t s = 0; s < n_sizes; s++) {
        size_t size = sizes[s], wire_len = 0;
        uint64_t count = o->count ? o->count : size >= 65536 ? 5000 : size >= 4096 ? 50000 : 200000;
        if (o->quick && !o->count)
            count /= 20;
        double per_s[RL_KINDS][100], mb_s[RL_KINDS][100];
        for (size_t k = 0; k < rounds; k++) {
            /* the peering relay first (it learns the wire size), then the
             * others in an order that alternates between rounds */
            static const int orders[2][RL_KINDS] = {{RL_RELAY, RL_QRELAY, RL_DIRECT, RL_QDIRECT},
                                                    {RL_RELAY, RL_QDIRECT, RL_DIRECT, RL_QRELAY}};
            for (int j = 0; j < RL_KINDS; j++) {
                int kind = orders[k % 2][j];
                double cpu = 0;
                if (o->only_kind && kind != o->only_kind - 1) {
                    per_s[kind][k] = mb_s[kind][k] = 0;
                    if (kind == RL_RELAY)
                        wire_len = bench_wire_len(size);
                    continue;
                }
                int rc = relay_measure(kind, size, count, &wire_len, &per_s[kind][k], &mb_s[kind][k], &cpu);
                if (rc != 0)
                    return fail_rc("relay", rc);
                printf("relay-bench %s payload=%-6zu wire=%-6zu n=%-7llu %10.0f frames/s %8.1f MB/s  "
                       "process %.2f us/frame  round %zu\n",
                       relay_labels[kind], size, wire_len, (unsigned long long)count, per_s[kind][k],
                       mb_s[kind][k], cpu, k + 1);
                fflush(stdout);
            }
        }
        double med[RL_KINDS], lo[RL_KINDS], hi[RL_KINDS], mmb[RL_KINDS];
        for (int kind = 0; kind < RL_KINDS; kind++) {
            qsort(per_s[kind], rounds, sizeof(double), cmp_double);
            qsort(mb_s[kind], rounds, sizeof(double), cmp_double);
            med[kind] = rounds % 2 ? per_s[kind][rounds / 2]
                                   : (per_s[kind][rounds / 2 - 1] + per_s[kind][rounds / 2]) / 2;
            mmb[kind] = rounds % 2 ? mb_s[kind][rounds / 2] : (mb_s[kind][rounds / 2 - 1] + mb_s[kind][rounds / 2]) / 2;
            lo[kind] = per_s[kind][0];
            hi[kind] = per_s[kind][rounds - 1];
            printf("relay-median %s payload=%-6zu wire=%-6zu %10.0f frames/s (%.0f-%.0f) %8.1f MB/s  rounds=%zu\n",
                   relay_labels[kind], size, wire_len, med[kind], lo[kind], hi[kind], mmb[kind], rounds);
        }
        printf("relay-ratio  payload=%-6zu relay/plain-QUIC-relay %.2f   direct presigned/plain QUIC %.2f\n", size,
               med[RL_RELAY] / med[RL_QRELAY], med[RL_DIRECT] / med[RL_QDIRECT]);
        fflush(stdout);
    }
    return CLI_EXIT_OK;
}

int cli_bench(int argc, char **argv)
{
    if (argc < 2)
        return bench_usage(stderr);
    const char *what = argv[1];
    if (!strcmp(what, "-h") || !strcmp(what, "--help"))
        return bench_usage(stdout);
    struct bench_opts o;
    memset(&o, 0, sizeof o);
    o.size = UINT64_MAX;
    if (parse_opts(argc, argv, &o) != 0)
        return bench_usage(stderr);
    signal(SIGPIPE, SIG_IGN);
    if (!strcmp(what, "handshake"))
        return cmd_handshake(&o);
    if (!strcmp(what, "frames"))
        return cmd_frames(&o);
    if (!strcmp(what, "idle"))
        return cmd_idle(&o);
    if (!strcmp(what, "raw"))
        return cmd_raw(&o);
    if (!strcmp(what, "scale"))
        return cmd_scale(&o);
    if (!strcmp(what, "all"))
        return cmd_all(&o);
    if (!strcmp(what, "relay"))
        return cmd_relay(&o);
    return bench_usage(stderr);
}
