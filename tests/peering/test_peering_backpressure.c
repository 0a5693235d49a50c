/* SPDX-License-Identifier: Apache-2.0 */
/* Mailbox back-pressure over real QUIC (loopback): a fast sender, a
 * listener whose worker posts into a small byte-budget mailbox, and a slow
 * consumer thread. The server stops reading while the mailbox is full
 * (reads_paused), QUIC flow control holds the sender, and every frame
 * arrives, in order, with the mailbox's bytes bounded far below what was
 * sent. */
#include <stdatomic.h>

#include "peering/mailbox.h"
#include "peering_test_util.h"

#define FRAMES 1500
#define PAYLOAD 16384
#define MAILBOX_BYTES ((size_t)256 * 1024)

static macula_identity *alice, *bob;

typedef struct slow_consumer {
    macula_mailbox *mb;
    atomic_int frames;
    int bad_order, connected;
    macula_peer server_peer;
    atomic_int stop;
    size_t max_bytes_seen;
} slow_consumer;

static void *consume(void *arg)
{
    slow_consumer *c = arg;
    uint64_t next = 0;
    while (!atomic_load(&c->stop)) {
        size_t now = macula__mailbox_bytes(c->mb, NULL);
        if (now > c->max_bytes_seen)
            c->max_bytes_seen = now;
        macula_event *ev = macula_mailbox_pop(c->mb, 100);
        if (!ev)
            continue;
        if (ev->type == MACULA_EVENT_CONNECTED) {
            c->connected++;
            c->server_peer = ev->peer;
        } else if (ev->type == MACULA_EVENT_FRAME) {
            uint64_t seq = UINT64_MAX;
            macula_frame_get_uint(ev->frame, "seq", &seq);
            if (seq != next)
                c->bad_order++;
            next = seq + 1;
            atomic_fetch_add(&c->frames, 1);
            pt_sleep_ms(1); /* slow: ~16 MB/s at most, the sender is faster */
        }
        macula_event_free(ev);
    }
    return NULL;
}

static void test_mailbox_backpressure_no_loss(void)
{
    pt_diags diags;
    pt_recorder cli;
    macula_runtime *rt = pt_case_begin(&diags, 0, &cli, NULL);
    macula_mailbox *mb = macula_mailbox_new_budget(0, MAILBOX_BYTES, 0, NULL);
    REQUIRE(rt && mb);
    macula_peer_options so;
    macula_peer_options_init(&so);
    so.handler = macula_mailbox_handler;
    so.handler_user = mb;
    macula_listener *l = pt_listen_auto(rt, alice, &so);
    REQUIRE(l);
    macula_peer_options o;
    pt_client_options(&o, bob, &cli, macula_listener_port(l));
    macula_peer p = pt_connect(rt, &o);
    REQUIRE(pt_wait(&cli, p, MACULA_EVENT_CONNECTED, 1, 10000));

    slow_consumer c;
    memset(&c, 0, sizeof c);
    c.mb = mb;
    pthread_t ct;
    REQUIRE(pthread_create(&ct, NULL, consume, &c) == 0);
    uint64_t t0 = pt_now_ms();
    unsigned full = 0;
    for (uint64_t i = 0; i < FRAMES; i++) {
        int rc;
        while ((rc = macula_peer_send_frame(rt, p, pt_numbered(0, i, PAYLOAD))) == MACULA_ERR_QUEUE_FULL) {
            full++;
            pt_sleep_ms(1);
        }
        CHECK_EQ_INT(rc, 0);
    }
    uint64_t t_sent = pt_now_ms() - t0;
    for (int i = 0; i < 12000 && atomic_load(&c.frames) < FRAMES; i++)
        pt_sleep_ms(10);
    uint64_t t_all = pt_now_ms() - t0;
    CHECK_EQ_INT(atomic_load(&c.frames), FRAMES);
    CHECK_EQ_INT(c.bad_order, 0);
    macula_peer_info info;
    macula_peer_info_init(&info);
    CHECK_EQ_INT(macula_peer_get_info(rt, c.server_peer, &info), 0);
    CHECK_EQ_INT(info.frames_dropped, 0);
    CHECK(info.reads_paused >= 1);
    size_t peak = 0;
    macula__mailbox_bytes(mb, &peak);
    /* ~24 MB went through a 256 KiB mailbox: what it ever held is the
     * budget plus what paused streams still had in flight */
    CHECK(peak < (size_t)8 << 20);
    CHECK(pt_has_diag(&diags, "reading_paused", "why=mailbox_full"));
    CHECK(pt_has_diag(&diags, "reading_resumed", "why=mailbox_room"));
    fprintf(stderr,
            "  %d x %d B through a %zu B mailbox: sent in %llu ms, consumed in %llu ms, peak %zu B queued, "
            "reads paused %llu times, %u QUEUE_FULL\n",
            FRAMES, PAYLOAD, MAILBOX_BYTES, (unsigned long long)t_sent, (unsigned long long)t_all, peak,
            (unsigned long long)info.reads_paused, full);
    macula_peer_close(rt, p, NULL);
    CHECK(pt_disconnected_with(&cli, p, MACULA_DISC_DRAINED, 30000, NULL));
    atomic_store(&c.stop, 1);
    pthread_join(ct, NULL);
    macula_runtime_free(rt);
    macula_mailbox_free(mb);
    pt_case_end(&diags, &cli, NULL);
}

/* A peer that never reads (its application never pops a mailbox, so the
 * listener stops reading it): the sender is refused with QUEUE_FULL once
 * the runtime's send budget (512 KiB here) plus what one QUIC stream
 * queue holds (32 MiB) plus the receiver's flow-control window (the
 * paused listener's QUIC holds that much, acknowledged) is reached:
 * ~49 MiB, where its own send_queue_cap alone would let ~112 MiB in. */
static void non_reading_peer(size_t runtime_budget, size_t send_cap, size_t quic_cap, size_t below)
{
    pt_diags diags;
    pt_recorder cli;
    pt_diags_init(&diags);
    macula_runtime_options ro;
    macula_runtime_options_init(&ro);
    ro.peer_send_budget = runtime_budget;
    macula_runtime *rt = macula_runtime_new(&ro, NULL);
    REQUIRE(rt && macula_runtime_start(rt) == 0);
    pt_recorder_init(&cli, rt);
    macula_mailbox *mb = macula_mailbox_new_budget(0, 64 * 1024, 0, NULL); /* never popped */
    REQUIRE(mb);
    macula_peer_options so;
    macula_peer_options_init(&so);
    so.handler = macula_mailbox_handler;
    so.handler_user = mb;
    macula_listener *l = pt_listen_auto(rt, alice, &so);
    REQUIRE(l);
    macula_peer_options o;
    pt_client_options(&o, bob, &cli, macula_listener_port(l));
    o.send_queue_cap = send_cap;
    o.quic_send_queue_cap = quic_cap;
    macula_peer p = pt_connect(rt, &o);
    REQUIRE(pt_wait(&cli, p, MACULA_EVENT_CONNECTED, 1, 10000));
    size_t accepted = 0;
    int full = 0;
    uint64_t t0 = pt_now_ms();
    while (!full && pt_now_ms() - t0 < 20000) {
        int rc = macula_peer_send_frame(rt, p, pt_numbered(0, accepted, 16384));
        if (rc == MACULA_ERR_QUEUE_FULL) {
            /* refused: is it for good? QUIC may still take bytes for a while */
            pt_sleep_ms(200);
            rc = macula_peer_send_frame(rt, p, pt_numbered(0, accepted, 16384));
            full = rc == MACULA_ERR_QUEUE_FULL;
        }
        if (rc == 0)
            accepted += 16384;
    }
    fprintf(stderr, "  non-reading peer: %zu KiB accepted before QUEUE_FULL stuck (runtime budget %zu, send_queue_cap %zu, "
            "quic_send_queue_cap %zu)\n", accepted / 1024, runtime_budget, send_cap, quic_cap);
    CHECK(full);
    CHECK(accepted < below);
    macula_peer_close(rt, p, NULL);
    macula_runtime_free(rt);
    macula_mailbox_free(mb);
    pt_case_end(&diags, &cli, NULL);
}

static void test_runtime_send_budget_non_reading_peer(void)
{
    non_reading_peer(512 * 1024, 0, 0, (size_t)56 << 20);
}

/* Per connection: send_queue_cap 1 MiB and a 1 MiB QUIC stream queue let
 * ~1 + 1 MiB plus the receiver's window in (the defaults: 64 + 32 MiB). */
static void test_connection_send_budget_non_reading_peer(void)
{
    non_reading_peer(0, (size_t)1 << 20, (size_t)1 << 20, (size_t)24 << 20);
}

int main(void)
{
    if (pt_begin(300, &alice, &bob, NULL) != 0)
        return 1;
    RUN(test_mailbox_backpressure_no_loss);
    RUN(test_runtime_send_budget_non_reading_peer);
    RUN(test_connection_send_budget_non_reading_peer);
    return pt_end(&alice, &bob, NULL);
}
