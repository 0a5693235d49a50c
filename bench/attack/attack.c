/* SPDX-License-Identifier: Apache-2.0 */
/*
 * build/bench/quic_attack: loopback attack rig for RELIABILITY.md (issue 11).
 * Figures, never asserted. It attacks a listener (any build: it only
 * speaks QUIC/peering over UDP) on 127.0.0.0/8 and never elsewhere; count
 * and time are bounded (--conns <= 20000, --seconds <= 120).
 *
 *   quic_attack --port P --mode stray    --conns N --rate R --seconds S
 *       N peering connections (CONNECT done) from one UDP socket, then R
 *       garbage short-header datagrams per second from that same socket
 *       (what a spoofer can send: the source of N live connections).
 *   quic_attack --port P --mode silent   --conns N --seconds S [--from A]
 *       N QUIC connections that finish TLS and never send CONNECT; any the
 *       server closes is dialed again (a slowloris keeps its hold).
 *   quic_attack --port P --mode halfopen --conns N --seconds S [--from A]
 *       N QUIC handshakes whose replies are never read (a ClientHello, its
 *       retransmissions, nothing else), dialed over ~1 s.
 *
 * It prints {"event":"attacking",...} once the attack runs (the script
 * times honest dials from then on) and {"event":"done",...} at the end,
 * with the target's peak RSS and its CPU time during the attack when --pid
 * is given.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macula/peering.h"
#include "macula/quic.h"
#include "quic/quic_internal.h"

typedef struct rig {
    macula_runtime *rt;
    const char *mode;
    uint16_t port;
    int conns, rate, seconds;
    const char *from;
    int pid;
    macula_identity *id;
    macula_quic_endpoint *ep;
    int connected, closed, redials;
    uint64_t sent;
    long rss_start_kb, rss_peak_kb;
} rig;

static rig R;

static long target_rss_kb(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* The target's CPU time (user + system) in ms, or -1. */
static long target_cpu_ms(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Fields after the command name, which may hold spaces: from the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static void pump_ms(unsigned ms)
{
    uint64_t end = macula__clock_now() + (uint64_t)ms * 1000000u;
    while (macula__clock_now() < end) {
        macula_runtime_process(R.rt);
        int t = macula_runtime_next_timeout_ms(R.rt);
        if (t != 0)
            usleep(t < 0 || t > 2 ? 1000 : 200);
    }
}

/* --- QUIC-level attackers (silent, halfopen) --- */
static void quic_dial_one(void);

static void quic_handler(void *user, const macula_quic_event *ev)
{
    (void)user;
    if (ev->type == MACULA_QUIC_EV_CONNECTED)
        R.connected++;
    else if (ev->type == MACULA_QUIC_EV_CLOSED) {
        R.closed++;
        if (!strcmp(R.mode, "silent")) {
            R.redials++;
            quic_dial_one();
        }
    }
}

static void quic_dial_one(void)
{
    macula_quic_dial_options d;
    macula_quic_dial_options_init(&d);
    d.host = "127.0.0.1";
    d.port = R.port;
    d.timeout_ms = (uint32_t)R.seconds * 1000u + 5000u;
    d.verify = MACULA_QUIC_VERIFY_NONE;
    macula_quic_dial(R.rt, R.ep, &d, quic_handler, NULL, NULL);
}

/* --- peering connections (stray) --- */
static void peer_handler(void *user, macula_event *ev)
{
    (void)user;
    if (ev->type == MACULA_EVENT_CONNECTED)
        R.connected++;
    else if (ev->type == MACULA_EVENT_DISCONNECTED)
        R.closed++;
}

static int usage(void)
{
    fprintf(stderr, "usage: quic_attack --port P --mode stray|silent|halfopen --conns N [--rate R] [--seconds S]\n"
                    "                   [--from 127.0.0.X] [--pid TARGET_PID]\n");
    return 2;
}

int main(int argc, char **argv)
{
    R.mode = "";
    R.seconds = 10;
    R.from = "127.0.0.2";
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--port"))
            R.port = (uint16_t)atoi(v);
        else if (!strcmp(a, "--mode"))
            R.mode = v;
        else if (!strcmp(a, "--conns"))
            R.conns = atoi(v);
        else if (!strcmp(a, "--rate"))
            R.rate = atoi(v);
        else if (!strcmp(a, "--seconds"))
            R.seconds = atoi(v);
        else if (!strcmp(a, "--from"))
            R.from = v;
        else if (!strcmp(a, "--pid"))
            R.pid = atoi(v);
        else
            return usage();
    }
    struct in_addr fa;
    if (!R.port || R.conns < 1 || R.conns > 20000 || R.seconds < 1 || R.seconds > 120 || R.rate < 0 ||
        R.rate > 100000 || inet_pton(AF_INET, R.from, &fa) != 1 || (ntohl(fa.s_addr) >> 24) != 127)
        return usage(); /* loopback only, bounded */
    signal(SIGPIPE, SIG_IGN);
    macula_runtime_options ro;
    macula_runtime_options_init(&ro);
    R.rt = macula_runtime_new(&ro, NULL);
    R.id = macula_identity_generate(NULL);
    if (!R.rt || !R.id)
        return 1;
    R.rss_start_kb = R.rss_peak_kb = target_rss_kb(R.pid);
    uint64_t t0 = macula__clock_now();

    if (!strcmp(R.mode, "silent") || !strcmp(R.mode, "halfopen")) {
        macula_quic_endpoint_options o;
        macula_quic_endpoint_options_init(&o);
        o.bind_host = R.from;
        R.ep = macula_quic_endpoint_new(R.rt, &o, NULL);
        if (!R.ep)
            return 1;
        if (!strcmp(R.mode, "halfopen")) {
            /* Never read a reply: the server's flight (and Retry) go unread. */
            macula__io_stop(R.ep->loop, &R.ep->io);
            R.ep->io.fd = -1;
        }
        int per_ms = R.conns / 1000 + 1;
        for (int i = 0; i < R.conns; i++) {
            quic_dial_one();
            if (i % per_ms == 0)
                pump_ms(1);
        }
        if (!strcmp(R.mode, "silent")) {
            uint64_t end = macula__clock_now() + 20000000000ull;
            while (R.connected < R.conns && macula__clock_now() < end)
                pump_ms(10);
        } else {
            pump_ms(200);
        }
    } else if (!strcmp(R.mode, "stray")) {
        macula_peer_options po;
        macula_peer_options_init(&po);
        po.identity = R.id;
        po.handler = peer_handler;
        po.host = "127.0.0.1";
        po.port = R.port;
        po.verify = MACULA_QUIC_VERIFY_NONE;
        po.drain_timeout_ms = 100;
        for (int i = 0; i < R.conns; i++) {
            macula_peer_connect(R.rt, &po, NULL, NULL);
            if (i % 20 == 0)
                pump_ms(1);
        }
        uint64_t end = macula__clock_now() + 60000000000ull;
        while (R.connected < R.conns && macula__clock_now() < end)
            pump_ms(10);
        quic_rt *qrt = macula__quic_rt_get(R.rt, 0);
        R.ep = qrt ? qrt->client4 : NULL;
        if (!R.ep)
            return 1;
    } else {
        return usage();
    }
    long setup_ms = (long)((macula__clock_now() - t0) / 1000000u);
    printf("{\"event\":\"attacking\",\"mode\":\"%s\",\"conns\":%d,\"connected\":%d,\"setup_ms\":%ld}\n", R.mode,
           R.conns, R.connected, setup_ms);
    fflush(stdout);

    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons(R.port);
    to.sin_addr.s_addr = htonl(0x7f000001);
    long cpu0 = target_cpu_ms(R.pid);
    uint64_t start = macula__clock_now(), end = start + (uint64_t)R.seconds * 1000000000ull;
    while (macula__clock_now() < end) {
        if (!strcmp(R.mode, "stray") && R.rate) {
            /* Keep to R per second, in 1 ms steps. */
            uint64_t due = (macula__clock_now() - start) * (uint64_t)R.rate / 1000000000ull;
            while (R.sent < due) {
                uint8_t pkt[64];
                randombytes_buf(pkt, sizeof pkt);
                pkt[0] = (uint8_t)(0x40 | (pkt[0] & 0x3f));
                macula__endpoint_send(R.ep, (const struct sockaddr *)&to, sizeof to, pkt, sizeof pkt);
                R.sent++;
            }
        }
        pump_ms(1);
        long rss = target_rss_kb(R.pid);
        if (rss > R.rss_peak_kb)
            R.rss_peak_kb = rss;
    }
    long cpu1 = target_cpu_ms(R.pid);
    printf("{\"event\":\"done\",\"mode\":\"%s\",\"conns\":%d,\"connected\":%d,\"closed\":%d,\"redials\":%d,"
           "\"stray_sent\":%llu,\"target_rss_start_kb\":%ld,\"target_rss_peak_kb\":%ld,"
           "\"target_cpu_ms_during_attack\":%ld}\n",
           R.mode, R.conns, R.connected, R.closed, R.redials, (unsigned long long)R.sent, R.rss_start_kb,
           R.rss_peak_kb, cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1);
    fflush(stdout);
    /* Leave without goodbyes: the server finds out by itself. */
    _exit(0);
}
