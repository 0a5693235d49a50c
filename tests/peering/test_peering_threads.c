/* SPDX-License-Identifier: Apache-2.0 */
/* The "any thread" promises over real QUIC: several threads send_frame on
 * one peer at once (signing and encoding in their own threads, backing off
 * on MACULA_ERR_QUEUE_FULL) while another reads get_info; the receiving
 * side pops its events from a mailbox on yet another thread and finds every
 * frame, complete, signed by the sender, in per-thread order. A full
 * mailbox drops FRAME events (counted, diagnosed) but never CONNECTED or
 * DISCONNECTED. */
#include <poll.h>
#include <stdatomic.h>

#include "peering_test_util.h"

#define THREADS 4
#define PER_THREAD 400

static macula_identity *alice, *bob;

typedef struct sender {
    macula_runtime *rt;
    macula_peer p;
    uint64_t id;
    int errors;
    unsigned queue_full;
} sender;

static void *send_thread(void *arg)
{
    sender *s = arg;
    for (uint64_t i = 0; i < PER_THREAD; i++) {
        for (;;) {
            int rc = macula_peer_send_frame(s->rt, s->p, pt_numbered(s->id, i, 300 + (i % 3) * 700));
            if (rc == MACULA_ERR_QUEUE_FULL) {
                s->queue_full++;
                pt_sleep_ms(1);
                continue;
            }
            if (rc != 0)
                s->errors++;
            break;
        }
    }
    return NULL;
}

typedef struct info_reader {
    macula_runtime *rt;
    macula_peer p;
    atomic_int stop;
    int errors;
    uint64_t reads;
} info_reader;

static void *info_thread(void *arg)
{
    info_reader *r = arg;
    uint64_t last_out = 0;
    while (!r->stop) {
        macula_peer_info info;
        macula_peer_info_init(&info);
        if (macula_peer_get_info(r->rt, r->p, &info) != 0 || info.state != MACULA_PEER_CONNECTED ||
            info.frames_out < last_out)
            r->errors++;
        last_out = info.frames_out;
        r->reads++;
        pt_sleep_ms(1);
    }
    return NULL;
}

typedef struct consumer {
    macula_mailbox *mb;
    uint64_t next[THREADS];
    atomic_uint_fast64_t frames;
    int connected, disconnected, bad_order, bad_sig, fd_wrong;
    macula_disconnect_reason reason;
} consumer;

static void *consume_thread(void *arg)
{
    consumer *c = arg;
    while (!c->disconnected) {
        struct pollfd pfd = {macula_mailbox_fd(c->mb), POLLIN, 0};
        if (poll(&pfd, 1, 20000) != 1) {
            fprintf(stderr, "  mailbox: nothing for 20 s\n");
            break;
        }
        macula_event *ev = macula_mailbox_pop(c->mb, 0);
        if (!ev) {
            c->fd_wrong++; /* readable but empty */
            continue;
        }
        switch (ev->type) {
        case MACULA_EVENT_CONNECTED:
            c->connected++;
            break;
        case MACULA_EVENT_FRAME: {
            uint64_t t = pt_frame_uint(ev->frame, "thread"), seq = pt_frame_uint(ev->frame, "seq");
            if (t >= THREADS || seq != c->next[t])
                c->bad_order++;
            else
                c->next[t]++;
            if (macula_frame_verify(ev->frame, macula_identity_node_id(bob)) != 0)
                c->bad_sig++;
            c->frames++;
            break;
        }
        case MACULA_EVENT_DISCONNECTED:
            c->disconnected++;
            c->reason = ev->reason;
            break;
        default:
            break;
        }
        macula_event_free(ev);
    }
    return NULL;
}

/* A runtime, a listener whose workers post to a mailbox of `mailbox_cap`
 * events, and a connected client (recorded). */
typedef struct mb_setup {
    pt_diags diags;
    macula_runtime *rt;
    macula_mailbox *mb;
    pt_recorder cli;
    macula_peer p;
} mb_setup;

static int mb_setup_up(mb_setup *m, size_t mailbox_cap, size_t send_queue_cap, uint32_t drain_ms)
{
    memset(m, 0, sizeof *m);
    m->rt = pt_case_begin(&m->diags, 0, &m->cli, NULL);
    /* a capped mailbox here is the explicit drop-when-full kind */
    m->mb = macula_mailbox_new_budget(mailbox_cap, 0, mailbox_cap ? MACULA_MAILBOX_DROP_WHEN_FULL : 0, NULL);
    if (!m->rt || !m->mb)
        return -1;
    macula_peer_options so;
    macula_peer_options_init(&so);
    so.handler = macula_mailbox_handler;
    so.handler_user = m->mb;
    macula_listener *l = pt_listen_auto(m->rt, alice, &so);
    if (!l)
        return -1;
    macula_peer_options o;
    pt_client_options(&o, bob, &m->cli, macula_listener_port(l));
    if (send_queue_cap)
        o.send_queue_cap = send_queue_cap;
    o.drain_timeout_ms = drain_ms;
    m->p = pt_connect(m->rt, &o);
    return pt_wait(&m->cli, m->p, MACULA_EVENT_CONNECTED, 1, 10000) ? 0 : -1;
}

static void mb_setup_down(mb_setup *m)
{
    macula_runtime_free(m->rt);
    macula_mailbox_free(m->mb);
    pt_case_end(&m->diags, &m->cli, NULL);
}

static void test_many_senders_mailbox_reader(void)
{
    mb_setup m;
    REQUIRE(mb_setup_up(&m, 0, 256 * 1024 /* small: the senders meet QUEUE_FULL */, 500) == 0);
    macula_runtime *rt = m.rt;
    macula_peer p = m.p;
    consumer con;
    memset(&con, 0, sizeof con);
    con.mb = m.mb;
    pthread_t ct;
    REQUIRE(pthread_create(&ct, NULL, consume_thread, &con) == 0);

    sender s[THREADS];
    pthread_t st[THREADS];
    info_reader ir = {rt, p, 0, 0, 0};
    pthread_t it;
    REQUIRE(pthread_create(&it, NULL, info_thread, &ir) == 0);
    uint64_t t0 = pt_now_ms();
    for (int i = 0; i < THREADS; i++) {
        s[i] = (sender){rt, p, (uint64_t)i, 0, 0};
        REQUIRE(pthread_create(&st[i], NULL, send_thread, &s[i]) == 0);
    }
    unsigned full = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(st[i], NULL);
        CHECK_EQ_INT(s[i].errors, 0);
        full += s[i].queue_full;
    }
    ir.stop = 1;
    pthread_join(it, NULL);
    CHECK_EQ_INT(ir.errors, 0);
    /* everything queued arrives; then the close's GOODBYE (closing earlier
     * would start the drain clock with frames still queued) */
    for (int i = 0; i < 6000 && atomic_load(&con.frames) < THREADS * PER_THREAD; i++)
        pt_sleep_ms(10);
    uint64_t t_all = pt_now_ms() - t0;
    macula_peer_close(rt, p, NULL);
    CHECK(pt_disconnected_with(&m.cli, p, MACULA_DISC_DRAINED, 30000, NULL));
    pthread_join(ct, NULL);
    fprintf(stderr, "  %d threads x %d frames received in %llu ms (%u QUEUE_FULL answers, %llu get_info reads)\n",
            THREADS, PER_THREAD, (unsigned long long)t_all, full, (unsigned long long)ir.reads);
    CHECK_EQ_INT(con.connected, 1);
    CHECK_EQ_INT(atomic_load(&con.frames), THREADS * PER_THREAD + 1); /* + the GOODBYE */
    CHECK_EQ_INT(con.bad_order, 1);                     /* the GOODBYE has no thread/seq */
    CHECK_EQ_INT(con.bad_sig, 0);
    CHECK_EQ_INT(con.fd_wrong, 0);
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ_INT(con.next[i], PER_THREAD);
    CHECK_EQ_INT(con.disconnected, 1);
    CHECK_EQ_INT(con.reason, MACULA_DISC_PEER_CLOSED);
    mb_setup_down(&m);
}

/* A drop-when-full mailbox of 3 events that nobody reads: frames beyond
 * it are dropped and counted, the DISCONNECTED still arrives. */
static void test_mailbox_full(void)
{
    mb_setup m;
    REQUIRE(mb_setup_up(&m, 3, 0, 200) == 0);
    macula_runtime *rt = m.rt;
    macula_mailbox *mb = m.mb;
    macula_peer p = m.p;
    macula_event *ev = macula_mailbox_pop(mb, 10000);
    REQUIRE(ev && ev->type == MACULA_EVENT_CONNECTED);
    macula_peer sp = ev->peer;
    macula_event_free(ev);
    for (uint64_t i = 0; i < 10; i++)
        CHECK_EQ_INT(macula_peer_send_frame(rt, p, pt_numbered(0, i, 0)), 0);
    /* wait until the server counted all ten (3 kept, 7 dropped) */
    macula_peer_info info;
    macula_peer_info_init(&info);
    for (int i = 0; i < 500 && !(info.frames_in == 11 && info.frames_dropped == 7); i++) {
        pt_sleep_ms(10);
        macula_peer_get_info(rt, sp, &info);
    }
    CHECK_EQ_INT(info.frames_in, 11); /* CONNECT + 10 */
    CHECK_EQ_INT(info.frames_dropped, 7);
    CHECK(pt_has_diag(&m.diags, "mailbox_full", "error=queue_full"));
    macula_peer_close(rt, p, NULL);
    CHECK(pt_disconnected_with(&m.cli, p, MACULA_DISC_DRAINED, 10000, NULL));
    uint64_t seqs = 0;
    int disc = 0;
    while ((ev = macula_mailbox_pop(mb, 5000)) != NULL) {
        if (ev->type == MACULA_EVENT_FRAME)
            seqs++;
        if (ev->type == MACULA_EVENT_DISCONNECTED)
            disc++;
        int last = ev->type == MACULA_EVENT_DISCONNECTED;
        macula_event_free(ev);
        if (last)
            break;
    }
    CHECK_EQ_INT(seqs, 3);
    CHECK_EQ_INT(disc, 1);
    mb_setup_down(&m);
}

int main(void)
{
    if (pt_begin(300, &alice, &bob, NULL) != 0)
        return 1;
    RUN(test_many_senders_mailbox_reader);
    RUN(test_mailbox_full);
    return pt_end(&alice, &bob, NULL);
}
