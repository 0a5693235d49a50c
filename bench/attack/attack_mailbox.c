/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rig for RELIABILITY.md: one fast peer against an application that pops
 * its mailbox slowly. A forked child dials and sends COUNT signed PUBLISH
 * frames of SIZE bytes as fast as the library lets it (retrying on
 * QUEUE_FULL); the parent runs a listener whose workers post into a
 * mailbox made with macula_mailbox_new(0) (the default kind) and a
 * consumer thread that sleeps POP_US microseconds per popped frame. It prints the
 * parent's peak resident memory, the frames consumed, the frames the
 * listener dropped, and the time. Public API only (builds against older
 * releases); loopback; bounded by COUNT (<= 8192) and 120 s.
 *   attack_mailbox COUNT SIZE POP_US
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macula/frame.h"
#include "macula/identity.h"
#include "macula/peering.h"
#include "macula/runtime.h"

static atomic_int g_frames, g_connected;
static macula_peer g_server_peer;
static atomic_int g_stop;
static unsigned g_pop_us;

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static long hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            v = atol(line + 6);
    if (f)
        fclose(f);
    return v;
}

static void *consume(void *arg)
{
    macula_mailbox *mb = arg;
    while (!atomic_load(&g_stop)) {
        macula_event *ev = macula_mailbox_pop(mb, 100);
        if (!ev)
            continue;
        if (ev->type == MACULA_EVENT_CONNECTED) {
            g_server_peer = ev->peer;
            atomic_store(&g_connected, 1);
        } else if (ev->type == MACULA_EVENT_FRAME) {
            atomic_fetch_add(&g_frames, 1);
            usleep(g_pop_us);
        }
        macula_event_free(ev);
    }
    return NULL;
}

static void noop(void *u, macula_event *ev)
{
    (void)u;
    (void)ev;
}

static int sender(uint16_t port, int count, size_t size)
{
    macula_identity *id = macula_identity_generate(NULL);
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    if (!id || !rt || macula_runtime_start(rt) != 0)
        return 1;
    macula_peer_options o;
    macula_peer_options_init(&o);
    o.identity = id;
    o.handler = noop;
    o.host = "127.0.0.1";
    o.port = port;
    o.queue_until_connected = 1;
    macula_peer p = macula_peer_connect(rt, &o, NULL, NULL);
    uint8_t *payload = calloc(1, size);
    static const uint8_t realm[32];
    for (int i = 0; i < count; i++) {
        macula_value *v = macula_value_bytes(payload, size);
        macula_frame *f = macula_frame_publish(id, realm, "t", 1, v, (uint64_t)i, -1, macula_unix_ms(), NULL);
        int rc;
        while ((rc = macula_peer_send_frame(rt, p, f)) == MACULA_ERR_QUEUE_FULL) {
            usleep(1000);
            v = macula_value_bytes(payload, size);
            f = macula_frame_publish(id, realm, "t", 1, v, (uint64_t)i, -1, macula_unix_ms(), NULL);
        }
        if (rc != 0)
            break;
    }
    sleep(120); /* the parent ends it */
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    g_pop_us = (unsigned)atoi(argv[3]);
    int count = atoi(argv[1]);
    size_t size = (size_t)atol(argv[2]);
    if (count < 1 || count > 8192 || size < 1 || size > (1u << 20) || g_pop_us > 100000)
        return 2;
    macula_crypto_init();
    macula_identity *id = macula_identity_generate(NULL);
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    macula_mailbox *mb = macula_mailbox_new(0, NULL);
    if (!id || !rt || !mb)
        return 1;
    macula_peer_options so;
    macula_peer_options_init(&so);
    so.handler = macula_mailbox_handler;
    so.handler_user = mb;
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    lo.bind_host = "127.0.0.1";
    lo.identity = id;
    lo.auto_accept = &so;
    macula_listener *l = macula_listener_new(rt, &lo, NULL, NULL);
    if (!l || macula_runtime_start(rt) != 0)
        return 1;
    uint16_t port = macula_listener_port(l);
    pid_t child = fork();
    if (child == 0)
        _exit(sender(port, count, size));
    pthread_t ct;
    pthread_create(&ct, NULL, consume, mb);
    uint64_t t0 = now_ms();
    while (atomic_load(&g_frames) < count && now_ms() - t0 < 120000) {
        macula_peer_info info;
        macula_peer_info_init(&info);
        if (atomic_load(&g_connected) && macula_peer_get_info(rt, g_server_peer, &info) == 0 &&
            atomic_load(&g_frames) + (int)info.frames_dropped >= count)
            break;
        usleep(10000);
    }
    uint64_t took = now_ms() - t0;
    macula_peer_info info;
    macula_peer_info_init(&info);
    macula_peer_get_info(rt, g_server_peer, &info);
    printf("{\"attack\":\"slow_mailbox\",\"frames\":%d,\"size\":%zu,\"consumed\":%d,\"dropped\":%llu,"
           "\"ms\":%llu,\"pop_us\":%u,\"listener_process_hwm_kib\":%ld}\n",
           count, size, atomic_load(&g_frames), (unsigned long long)info.frames_dropped,
           (unsigned long long)took, g_pop_us, hwm_kib());
    fflush(stdout);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    atomic_store(&g_stop, 1);
    pthread_join(ct, NULL);
    macula_runtime_free(rt);
    macula_mailbox_free(mb);
    macula_identity_free(id);
    return 0;
}
