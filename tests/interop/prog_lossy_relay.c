/* SPDX-License-Identifier: Apache-2.0 */
/* A lossy UDP relay for transport tests: listens on a loopback port, relays
 * every datagram between its clients and one target, and on the way drops,
 * duplicates and reorders datagrams with the configured probabilities.
 *
 *   prog_lossy_relay --target HOST:PORT [--listen HOST:PORT] [--loss PCT]
 *                    [--dup PCT] [--reorder PCT] [--reorder-gap N]
 *                    [--hold-ms MS] [--seed N]
 *
 * Prints its bound port on stdout (one line), then relays until SIGTERM or
 * SIGINT, and prints what it did as one JSON line on stderr. Each client
 * address gets its own upstream socket, so the target sees one peer per
 * client. A reordered datagram is held back and sent after the next N
 * datagrams of the same direction (or after --hold-ms with no traffic).
 * Decisions come from a seeded generator, one stream per direction, so a
 * seed gives the same sequence of decisions for the same traffic.
 * Plain sockets only: no library internals. */

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FLOWS 256
#define MAX_HELD 64
#define MAX_DGRAM 65536

enum { TO_TARGET = 0, TO_CLIENT = 1 };

struct held {
    uint8_t *data;
    size_t len;
    int flow;
    unsigned countdown; /* datagrams of this direction still to pass it */
    uint64_t since_ms;
};

struct direction {
    uint64_t rng;
    struct held held[MAX_HELD];
    size_t n_held;
    uint64_t in, sent, dropped, duplicated, reordered;
};

struct flow {
    struct sockaddr_storage client;
    socklen_t client_len;
    int upstream; /* connected to the target */
};

static struct {
    double loss, dup, reorder;
    unsigned gap;
    unsigned hold_ms;
    int listen_fd;
    struct flow flows[MAX_FLOWS];
    int n_flows;
    struct sockaddr_storage target;
    socklen_t target_len;
    struct direction dir[2];
    uint64_t send_errors;
    int last_send_errno;
} R;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: prog_lossy_relay --target HOST:PORT [--listen HOST:PORT] [--loss PCT] [--dup PCT]\n"
                    "                        [--reorder PCT] [--reorder-gap N] [--hold-ms MS] [--seed N]\n");
    exit(2);
}

/* xorshift64*: small, fast, and the same on every machine. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static int chance(struct direction *d, double pct)
{
    if (pct <= 0)
        return 0;
    return (double)(next_random(&d->rng) >> 11) / 9007199254740992.0 * 100.0 < pct;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int resolve(const char *hostport, struct sockaddr_storage *out, socklen_t *len)
{
    char buf[256];
    if (strlen(hostport) >= sizeof buf)
        return -1;
    strcpy(buf, hostport);
    char *colon = strrchr(buf, ':');
    if (!colon)
        return -1;
    *colon = 0;
    char *host = buf;
    if (host[0] == '[') {
        size_t n = strlen(host);
        if (n < 2 || host[n - 1] != ']')
            return -1;
        host[n - 1] = 0;
        host++;
    }
    struct addrinfo hints = {0}, *res;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static double parse_pct(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || v < 0 || v > 100)
        usage();
    return v;
}

static void transmit(int dirn, int flow, const uint8_t *data, size_t len)
{
    ssize_t rc;
    if (dirn == TO_TARGET)
        rc = send(R.flows[flow].upstream, data, len, 0);
    else
        rc = sendto(R.listen_fd, data, len, 0, (const struct sockaddr *)&R.flows[flow].client,
                    R.flows[flow].client_len);
    if (rc < 0) {
        R.send_errors++; /* a full socket buffer is loss too; the transport copes */
        R.last_send_errno = errno;
    }
    else
        R.dir[dirn].sent++;
}

static void release_held(struct direction *d, int dirn, size_t i)
{
    transmit(dirn, d->held[i].flow, d->held[i].data, d->held[i].len);
    free(d->held[i].data);
    d->held[i] = d->held[--d->n_held];
}

/* After a datagram went out: held ones whose count ran out follow it. */
static void count_down_held(int dirn)
{
    struct direction *d = &R.dir[dirn];
    for (size_t i = 0; i < d->n_held;) {
        if (d->held[i].countdown > 0)
            d->held[i].countdown--;
        if (d->held[i].countdown == 0)
            release_held(d, dirn, i);
        else
            i++;
    }
}

static void release_stale(uint64_t now)
{
    for (int dirn = 0; dirn < 2; dirn++) {
        struct direction *d = &R.dir[dirn];
        for (size_t i = 0; i < d->n_held;) {
            if (now - d->held[i].since_ms >= R.hold_ms)
                release_held(d, dirn, i);
            else
                i++;
        }
    }
}

static void relay(int dirn, int flow, const uint8_t *data, size_t len)
{
    struct direction *d = &R.dir[dirn];
    d->in++;
    if (chance(d, R.loss)) {
        d->dropped++;
        return;
    }
    int dup = chance(d, R.dup);
    if (chance(d, R.reorder) && d->n_held < MAX_HELD) {
        uint8_t *copy = malloc(len ? len : 1);
        if (copy) {
            memcpy(copy, data, len);
            d->held[d->n_held++] = (struct held){copy, len, flow, R.gap, now_ms()};
            d->reordered++;
            if (!dup)
                return;
            /* a duplicated datagram that is also held: one copy goes now */
        }
    }
    transmit(dirn, flow, data, len);
    if (dup) {
        d->duplicated++;
        transmit(dirn, flow, data, len);
    }
    count_down_held(dirn);
}

static int find_or_add_flow(const struct sockaddr_storage *from, socklen_t from_len)
{
    for (int i = 0; i < R.n_flows; i++)
        if (R.flows[i].client_len == from_len && memcmp(&R.flows[i].client, from, from_len) == 0)
            return i;
    if (R.n_flows == MAX_FLOWS)
        return -1;
    int fd = socket(R.target.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&R.target, R.target_len) != 0) {
        close(fd);
        return -1;
    }
    int buf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    struct flow *f = &R.flows[R.n_flows];
    memcpy(&f->client, from, from_len);
    f->client_len = from_len;
    f->upstream = fd;
    return R.n_flows++;
}

int main(int argc, char **argv)
{
    const char *target = NULL, *listen_at = "127.0.0.1:0";
    uint64_t seed = 1;
    R.gap = 3;
    R.hold_ms = 20;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        const char *k = argv[i], *v = argv[++i];
        if (!strcmp(k, "--target"))
            target = v;
        else if (!strcmp(k, "--listen"))
            listen_at = v;
        else if (!strcmp(k, "--loss"))
            R.loss = parse_pct(v);
        else if (!strcmp(k, "--dup"))
            R.dup = parse_pct(v);
        else if (!strcmp(k, "--reorder"))
            R.reorder = parse_pct(v);
        else if (!strcmp(k, "--reorder-gap"))
            R.gap = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--hold-ms"))
            R.hold_ms = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--seed"))
            seed = strtoull(v, NULL, 10);
        else
            usage();
    }
    if (!target || R.gap == 0)
        usage();
    if (resolve(target, &R.target, &R.target_len) != 0) {
        fprintf(stderr, "prog_lossy_relay: cannot resolve target %s\n", target);
        return 1;
    }
    struct sockaddr_storage la;
    socklen_t la_len;
    if (resolve(listen_at, &la, &la_len) != 0) {
        fprintf(stderr, "prog_lossy_relay: cannot resolve listen address %s\n", listen_at);
        return 1;
    }
    /* Two independent streams, so that one direction's traffic does not
     * shift the other's decisions. */
    R.dir[TO_TARGET].rng = seed * 2 + 0x9e3779b97f4a7c15ull;
    R.dir[TO_CLIENT].rng = seed * 2 + 1 + 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 2; i++)
        next_random(&R.dir[i].rng);

    R.listen_fd = socket(la.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (R.listen_fd < 0 || bind(R.listen_fd, (struct sockaddr *)&la, la_len) != 0) {
        perror("prog_lossy_relay: bind");
        return 1;
    }
    int buf = 4 << 20;
    setsockopt(R.listen_fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(R.listen_fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    la_len = sizeof la;
    getsockname(R.listen_fd, (struct sockaddr *)&la, &la_len);
    unsigned port = la.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&la)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&la)->sin_port);
    printf("%u\n", port);
    fflush(stdout);

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    static uint8_t dgram[MAX_DGRAM];
    struct pollfd pfd[MAX_FLOWS + 1];
    while (!stopping) {
        pfd[0] = (struct pollfd){R.listen_fd, POLLIN, 0};
        for (int i = 0; i < R.n_flows; i++)
            pfd[i + 1] = (struct pollfd){R.flows[i].upstream, POLLIN, 0};
        int held = R.dir[0].n_held + R.dir[1].n_held > 0;
        int n = poll(pfd, (nfds_t)R.n_flows + 1, held ? 5 : 200);
        if (n < 0 && errno != EINTR) {
            perror("prog_lossy_relay: poll");
            return 1;
        }
        int n_polled = R.n_flows; /* flows the listener adds below were not polled */
        if (n > 0 && (pfd[0].revents & POLLIN)) {
            for (int burst = 0; burst < 64; burst++) {
                struct sockaddr_storage from;
                socklen_t from_len = sizeof from;
                ssize_t got = recvfrom(R.listen_fd, dgram, sizeof dgram, 0, (struct sockaddr *)&from, &from_len);
                if (got < 0)
                    break;
                int flow = find_or_add_flow(&from, from_len);
                if (flow >= 0)
                    relay(TO_TARGET, flow, dgram, (size_t)got);
            }
        }
        for (int i = 0; n > 0 && i < n_polled; i++) {
            if (!(pfd[i + 1].revents & POLLIN))
                continue;
            for (int burst = 0; burst < 64; burst++) {
                ssize_t got = recv(R.flows[i].upstream, dgram, sizeof dgram, 0);
                if (got < 0)
                    break; /* EAGAIN, or ICMP refusal from a closed target */
                relay(TO_CLIENT, i, dgram, (size_t)got);
            }
        }
        release_stale(now_ms());
    }
    fprintf(stderr,
            "{\"event\":\"relay_stats\",\"to_target\":{\"in\":%llu,\"sent\":%llu,\"dropped\":%llu,"
            "\"duplicated\":%llu,\"reordered\":%llu},\"to_client\":{\"in\":%llu,\"sent\":%llu,\"dropped\":%llu,"
            "\"duplicated\":%llu,\"reordered\":%llu},\"send_errors\":%llu,\"last_send_error\":\"%s\",\"flows\":%d}\n",
            (unsigned long long)R.dir[0].in, (unsigned long long)R.dir[0].sent,
            (unsigned long long)R.dir[0].dropped, (unsigned long long)R.dir[0].duplicated,
            (unsigned long long)R.dir[0].reordered, (unsigned long long)R.dir[1].in,
            (unsigned long long)R.dir[1].sent, (unsigned long long)R.dir[1].dropped,
            (unsigned long long)R.dir[1].duplicated, (unsigned long long)R.dir[1].reordered,
            (unsigned long long)R.send_errors, R.send_errors ? strerror(R.last_send_errno) : "", R.n_flows);
    return 0;
}
