/* SPDX-License-Identifier: Apache-2.0 */
/* The event mailbox of peering.h: deep copies (frame taken, detail
 * copied), FIFO order, the eventfd readable exactly while events wait,
 * pop timeouts, the FRAME-only cap, several producer and consumer
 * threads at once, macula_mailbox_close (wakes blocked consumers, refuses
 * later events) and the final_info copy. */
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "macula/peering.h"
#include "peering/mailbox.h"
#include "testutil.h"

static int fd_readable(const macula_mailbox *mb)
{
    struct pollfd p = {.fd = macula_mailbox_fd(mb), .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static macula_event make_event(macula_event_type type, macula_peer peer, size_t n)
{
    macula_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.peer = peer;
    ev.wire_len = n;
    ev.detail = "";
    ev.refusal_code = -1;
    return ev;
}

static void test_deep_copy_and_order(void)
{
    int err = -1;
    macula_mailbox *mb = macula_mailbox_new(0, &err);
    REQUIRE(mb);
    CHECK_EQ_INT(err, 0);
    CHECK(macula_mailbox_fd(mb) >= 0);
    CHECK(!fd_readable(mb));
    CHECK(macula_mailbox_pop(mb, 0) == NULL);

    macula_event c = make_event(MACULA_EVENT_CONNECTED, 7, 0);
    c.has_peer_node_id = 1;
    memset(c.peer_node_id, 0xab, 32);
    macula_mailbox_handler(mb, &c);
    CHECK(fd_readable(mb));

    macula_event f = make_event(MACULA_EVENT_FRAME, 7, 123);
    f.frame = macula_frame_new("publish", NULL);
    macula_frame *original = f.frame;
    macula_mailbox_handler(mb, &f);
    CHECK(f.frame == NULL); /* taken */

    char detail[32] = {0}; /* the memset below keeps the last NUL */
    strcpy(detail, "peer: code 0 closed");
    macula_event d = make_event(MACULA_EVENT_DISCONNECTED, 7, 0);
    d.reason = MACULA_DISC_PEER_CLOSED;
    d.detail = detail;
    macula_mailbox_handler(mb, &d);
    memset(detail, 'x', sizeof detail - 1); /* the handler's copy must not change */
    CHECK_EQ_INT(macula__mailbox_count(mb), 3);

    macula_event *e = macula_mailbox_pop(mb, 0);
    REQUIRE(e);
    CHECK(e->type == MACULA_EVENT_CONNECTED && e->peer == 7 && e->has_peer_node_id && e->peer_node_id[31] == 0xab);
    CHECK(strcmp(e->detail, "") == 0);
    CHECK(macula_event_take_frame(e) == NULL);
    macula_event_free(e);

    e = macula_mailbox_pop(mb, 0);
    REQUIRE(e);
    CHECK(e->type == MACULA_EVENT_FRAME && e->wire_len == 123 && e->frame == original);
    macula_frame *taken = macula_event_take_frame(e);
    CHECK(taken == original && e->frame == NULL);
    macula_event_free(e);
    CHECK(strcmp(macula_frame_type(taken), "publish") == 0);
    macula_frame_free(taken);

    CHECK(fd_readable(mb));
    e = macula_mailbox_pop(mb, -1);
    REQUIRE(e);
    CHECK(e->type == MACULA_EVENT_DISCONNECTED && e->reason == MACULA_DISC_PEER_CLOSED);
    CHECK(strcmp(e->detail, "peer: code 0 closed") == 0);
    macula_event_free(e);
    CHECK(!fd_readable(mb)); /* empty again */
    CHECK(macula_mailbox_pop(mb, 30) == NULL); /* times out */
    macula_event_free(NULL);
    CHECK(macula_event_take_frame(NULL) == NULL);

    /* freeing a mailbox frees the events still queued (ASan checks) */
    f.frame = macula_frame_new("ping", NULL);
    macula_mailbox_handler(mb, &f);
    macula_mailbox_handler(mb, &d);
    macula_mailbox_free(mb);
}

static void test_cap_drops_frames_only(void)
{
    macula_mailbox *mb = macula_mailbox_new_budget(2, 0, MACULA_MAILBOX_DROP_WHEN_FULL, NULL);
    REQUIRE(mb);
    for (int i = 0; i < 2; i++) {
        macula_event f = make_event(MACULA_EVENT_FRAME, 1, (size_t)i);
        f.frame = macula_frame_new("publish", NULL);
        CHECK_EQ_INT(macula__mailbox_push(mb, &f), 0);
        CHECK(f.frame == NULL);
    }
    macula_event f = make_event(MACULA_EVENT_FRAME, 1, 2);
    f.frame = macula_frame_new("publish", NULL);
    CHECK_EQ_INT(macula__mailbox_push(mb, &f), MACULA_ERR_QUEUE_FULL);
    CHECK(f.frame != NULL); /* not taken: still the caller's */
    macula_mailbox_handler(mb, &f); /* the handler drops it the same way */
    CHECK(f.frame != NULL);
    macula_frame_free(f.frame);
    CHECK_EQ_INT(macula__mailbox_dropped(mb), 2);
    /* the others always get in */
    macula_event d = make_event(MACULA_EVENT_DISCONNECTED, 1, 0);
    d.reason = MACULA_DISC_DRAINED;
    CHECK_EQ_INT(macula__mailbox_push(mb, &d), 0);
    macula_event h = make_event(MACULA_EVENT_HANDSHAKE_COMPLETE, 1, 0);
    CHECK_EQ_INT(macula__mailbox_push(mb, &h), 0);
    CHECK_EQ_INT(macula__mailbox_count(mb), 4);
    size_t n = 0;
    macula_event *e;
    while ((e = macula_mailbox_pop(mb, 0)) != NULL) {
        if (n < 2)
            CHECK(e->type == MACULA_EVENT_FRAME && e->wire_len == n);
        n++;
        macula_event_free(e);
    }
    CHECK_EQ_INT(n, 4);
    macula_mailbox_free(mb);
}

/* --- threads --- */
#define PRODUCERS 4
#define PER_PRODUCER 20000

typedef struct {
    macula_mailbox *mb;
    int id;
} producer_arg;

static void *producer(void *p)
{
    producer_arg *a = p;
    for (size_t i = 0; i < PER_PRODUCER; i++) {
        macula_event ev = make_event(MACULA_EVENT_FRAME, (macula_peer)a->id, i);
        if (i % 64 == 0) /* some carry real frames, to check ownership under ASan */
            ev.frame = macula_frame_new("publish", NULL);
        if (macula__mailbox_push(a->mb, &ev) != 0)
            macula_frame_free(ev.frame);
    }
    macula_event d = make_event(MACULA_EVENT_DISCONNECTED, (macula_peer)a->id, PER_PRODUCER);
    d.detail = "done";
    macula_mailbox_handler(a->mb, &d);
    return NULL;
}

typedef struct {
    macula_mailbox *mb;
    size_t got, frames, done, out_of_order;
    size_t next[PRODUCERS + 1];
    int use_fd;
    pthread_mutex_t *stop_mu;
    int *stop;
} consumer_arg;

static void *consumer(void *p)
{
    consumer_arg *c = p;
    for (;;) {
        macula_event *e;
        if (c->use_fd) { /* wait on the descriptor, then pop without blocking */
            struct pollfd pf = {.fd = macula_mailbox_fd(c->mb), .events = POLLIN};
            poll(&pf, 1, 20);
            e = macula_mailbox_pop(c->mb, 0);
        } else {
            e = macula_mailbox_pop(c->mb, 20);
        }
        if (!e) {
            pthread_mutex_lock(c->stop_mu);
            int stop = *c->stop;
            pthread_mutex_unlock(c->stop_mu);
            if (stop && macula__mailbox_count(c->mb) == 0)
                return NULL;
            continue;
        }
        c->got++;
        size_t id = (size_t)e->peer;
        if (e->type == MACULA_EVENT_DISCONNECTED) {
            c->done++;
        } else if (id >= 1 && id <= PRODUCERS) {
            /* one consumer sees each producer's events in order; with
             * several, each sees an increasing subsequence */
            if (e->wire_len < c->next[id])
                c->out_of_order++;
            c->next[id] = e->wire_len + 1;
            c->frames++;
        }
        macula_event_free(e);
    }
}

static void run_threads(size_t consumers)
{
    macula_mailbox *mb = macula_mailbox_new(0, NULL);
    REQUIRE(mb);
    pthread_mutex_t stop_mu = PTHREAD_MUTEX_INITIALIZER;
    int stop = 0;
    pthread_t pt[PRODUCERS], ct[2];
    producer_arg pa[PRODUCERS];
    consumer_arg ca[2];
    memset(ca, 0, sizeof ca);
    for (size_t i = 0; i < consumers; i++) {
        ca[i].mb = mb;
        ca[i].use_fd = (int)i;
        ca[i].stop_mu = &stop_mu;
        ca[i].stop = &stop;
        pthread_create(&ct[i], NULL, consumer, &ca[i]);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pa[i].mb = mb;
        pa[i].id = i + 1;
        pthread_create(&pt[i], NULL, producer, &pa[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    pthread_mutex_lock(&stop_mu);
    stop = 1;
    pthread_mutex_unlock(&stop_mu);
    size_t got = 0, frames = 0, done = 0, disorder = 0;
    for (size_t i = 0; i < consumers; i++) {
        pthread_join(ct[i], NULL);
        got += ca[i].got;
        frames += ca[i].frames;
        done += ca[i].done;
        disorder += ca[i].out_of_order;
    }
    CHECK_EQ_INT(frames, PRODUCERS * PER_PRODUCER);
    CHECK_EQ_INT(done, PRODUCERS);
    CHECK_EQ_INT(got, PRODUCERS * (PER_PRODUCER + 1));
    CHECK_EQ_INT(disorder, 0);
    CHECK_EQ_INT(macula__mailbox_dropped(mb), 0);
    CHECK(!fd_readable(mb));
    macula_mailbox_free(mb);
}

/* Back-pressure (the default): over the byte budget FRAME events are still
 * queued, the push says "full" and takes the waiter once; pops fire it at
 * half of the budget, not before; nothing is dropped. */
typedef struct test_waiter {
    macula__mailbox_waiter base;
    int fired, room;
} test_waiter;

static void test_waiter_fn(macula__mailbox_waiter *w, int room)
{
    test_waiter *t = (test_waiter *)w;
    t->fired++;
    t->room = room;
}

static void test_byte_budget_backpressure(void)
{
    CHECK(macula_mailbox_new_budget(0, 0, 2u, NULL) == NULL); /* unknown flag */
    macula_mailbox *mb = macula_mailbox_new_budget(0, 10 * 1024, 0, NULL);
    REQUIRE(mb);
    test_waiter w = {{NULL, test_waiter_fn}, 0, 0};
    int full_at = -1;
    for (int i = 0; i < 20; i++) {
        macula_event f = make_event(MACULA_EVENT_FRAME, 1, 1024);
        f.frame = macula_frame_new("publish", NULL);
        int rc = macula__mailbox_push_bp(mb, &f, full_at < 0 ? &w.base : NULL);
        CHECK(rc == 0 || rc == MACULA__MAILBOX_FULL);
        CHECK(f.frame == NULL); /* always taken */
        if (rc == MACULA__MAILBOX_FULL && full_at < 0)
            full_at = i;
    }
    CHECK(full_at >= 7 && full_at <= 9); /* ~1.2 KiB each against 10 KiB */
    CHECK_EQ_INT(macula__mailbox_count(mb), 20);
    CHECK_EQ_INT(macula__mailbox_dropped(mb), 0);
    size_t peak = 0;
    CHECK(macula__mailbox_bytes(mb, &peak) >= 20 * 1024);
    CHECK(peak >= 20 * 1024);
    int popped = 0;
    while (!w.fired) {
        macula_event *e = macula_mailbox_pop(mb, 0);
        REQUIRE(e != NULL);
        CHECK_EQ_INT(e->wire_len, 1024);
        macula_event_free(e);
        popped++;
        if (!w.fired)
            CHECK(macula__mailbox_bytes(mb, NULL) > 5 * 1024);
    }
    CHECK_EQ_INT(w.fired, 1);
    CHECK_EQ_INT(w.room, 1);
    CHECK(macula__mailbox_bytes(mb, NULL) <= 5 * 1024);
    CHECK(popped >= 15);
    /* a waiter still inside when the mailbox is freed is told "no room" */
    test_waiter w2 = {{NULL, test_waiter_fn}, 0, 0};
    int taken = 0;
    for (int i = 0; i < 10; i++) {
        macula_event f = make_event(MACULA_EVENT_FRAME, 1, 1024);
        f.frame = macula_frame_new("publish", NULL);
        if (macula__mailbox_push_bp(mb, &f, taken ? NULL : &w2.base) == MACULA__MAILBOX_FULL)
            taken = 1;
    }
    CHECK(taken);
    macula_mailbox_free(mb);
    CHECK_EQ_INT(w2.fired, 1);
    CHECK_EQ_INT(w2.room, 0);
    /* closing the mailbox lets paused peers go (their frames are then refused) */
    mb = macula_mailbox_new_budget(0, 4096, 0, NULL);
    REQUIRE(mb);
    test_waiter w3 = {{NULL, test_waiter_fn}, 0, 0};
    taken = 0;
    for (int i = 0; i < 8; i++) {
        macula_event f = make_event(MACULA_EVENT_FRAME, 1, 1024);
        f.frame = macula_frame_new("publish", NULL);
        if (macula__mailbox_push_bp(mb, &f, taken ? NULL : &w3.base) == MACULA__MAILBOX_FULL)
            taken = 1;
    }
    CHECK(taken && !w3.fired);
    macula_mailbox_close(mb);
    CHECK_EQ_INT(w3.fired, 1);
    CHECK_EQ_INT(w3.room, 1);
    macula_mailbox_free(mb);
    CHECK_EQ_INT(w3.fired, 1);
    /* drop-when-full counts against bytes too */
    mb = macula_mailbox_new_budget(0, 4096, MACULA_MAILBOX_DROP_WHEN_FULL, NULL);
    REQUIRE(mb);
    int dropped = 0;
    for (int i = 0; i < 10; i++) {
        macula_event f = make_event(MACULA_EVENT_FRAME, 1, 1024);
        f.frame = macula_frame_new("publish", NULL);
        if (macula__mailbox_push(mb, &f) == MACULA_ERR_QUEUE_FULL) {
            dropped++;
            macula_frame_free(f.frame);
        }
    }
    CHECK(dropped >= 6);
    CHECK_EQ_INT(macula__mailbox_dropped(mb), (uint64_t)dropped);
    macula_mailbox_free(mb);
}

static void test_threads_one_consumer(void) { run_threads(1); }
static void test_threads_two_consumers(void) { run_threads(2); }

/* A consumer blocked in pop(-1) wakes up when an event arrives. */
static void *late_push(void *p)
{
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    macula_event ev = make_event(MACULA_EVENT_CONNECTED, 42, 0);
    macula_mailbox_handler(p, &ev);
    return NULL;
}

static void test_blocking_pop_wakes(void)
{
    macula_mailbox *mb = macula_mailbox_new(0, NULL);
    REQUIRE(mb);
    pthread_t t;
    pthread_create(&t, NULL, late_push, mb);
    macula_event *e = macula_mailbox_pop(mb, -1);
    CHECK(e && e->peer == 42);
    macula_event_free(e);
    pthread_join(t, NULL);
    macula_mailbox_free(mb);
}

/* close: queued events stay poppable, pop never waits any more, new
 * events are refused (the frame stays with the caller), the fd stays
 * readable. */
static void test_close(void)
{
    macula_mailbox *mb = macula_mailbox_new(0, NULL);
    REQUIRE(mb);
    macula_event c = make_event(MACULA_EVENT_CONNECTED, 5, 0);
    CHECK_EQ_INT(macula__mailbox_push(mb, &c), 0);
    macula_mailbox_close(mb);
    macula_mailbox_close(mb); /* idempotent */
    CHECK(fd_readable(mb));
    macula_event f = make_event(MACULA_EVENT_FRAME, 5, 1);
    f.frame = macula_frame_new("publish", NULL);
    CHECK_EQ_INT(macula__mailbox_push(mb, &f), MACULA_ERR_SHUTDOWN);
    CHECK(f.frame != NULL); /* not taken */
    macula_frame_free(f.frame);
    macula_event d = make_event(MACULA_EVENT_DISCONNECTED, 5, 0);
    CHECK_EQ_INT(macula__mailbox_push(mb, &d), MACULA_ERR_SHUTDOWN); /* even the last event */
    macula_event *e = macula_mailbox_pop(mb, -1);
    CHECK(e && e->type == MACULA_EVENT_CONNECTED);
    macula_event_free(e);
    CHECK(fd_readable(mb)); /* empty but closed: still readable */
    CHECK(macula_mailbox_pop(mb, -1) == NULL); /* returns at once */
    CHECK(macula_mailbox_pop(mb, 10000) == NULL);
    macula_mailbox_free(mb);
}

/* DISCONNECTED's final_info is copied with the event. */
static void test_final_info_copied(void)
{
    macula_mailbox *mb = macula_mailbox_new(0, NULL);
    REQUIRE(mb);
    macula_peer_info info;
    macula_peer_info_init(&info);
    info.frames_out = 11;
    info.state = MACULA_PEER_ENDED;
    int user;
    macula_event d = make_event(MACULA_EVENT_DISCONNECTED, 5, 0);
    d.cause = MACULA_ERR_PEER_CLOSED;
    d.final_info = &info;
    d.peer_user = &user;
    CHECK_EQ_INT(macula__mailbox_push(mb, &d), 0);
    info.frames_out = 0; /* the sender's copy goes away */
    macula_event *e = macula_mailbox_pop(mb, 0);
    REQUIRE(e && e->final_info && e->final_info != &info);
    CHECK_EQ_INT(e->final_info->frames_out, 11);
    CHECK_EQ_INT(e->cause, MACULA_ERR_PEER_CLOSED);
    CHECK(e->peer_user == &user);
    macula_event_free(e);
    macula_mailbox_free(mb);
}

/* Several consumers blocked in pop(-1): every event is popped exactly
 * once, each consumer sees a peer's events in increasing order, and
 * macula_mailbox_close wakes them all once the queue is empty. */
enum { CLOSE_CONSUMERS = 4, CLOSE_EVENTS = 20000 };
typedef struct {
    macula_mailbox *mb;
    unsigned char *seen;
    pthread_mutex_t *mu;
    size_t got, disorder, dup;
} blocking_arg;

static void *blocking_consumer(void *p)
{
    blocking_arg *a = p;
    size_t last = 0;
    int first = 1;
    macula_event *e;
    while ((e = macula_mailbox_pop(a->mb, -1)) != NULL) {
        size_t i = e->wire_len;
        if (!first && i <= last)
            a->disorder++;
        first = 0;
        last = i;
        pthread_mutex_lock(a->mu);
        if (a->seen[i]++)
            a->dup++;
        pthread_mutex_unlock(a->mu);
        a->got++;
        macula_event_free(e);
    }
    return NULL;
}

static void test_close_wakes_consumers(void)
{
    macula_mailbox *mb = macula_mailbox_new(0, NULL);
    REQUIRE(mb);
    unsigned char *seen = calloc(CLOSE_EVENTS, 1);
    REQUIRE(seen);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_t t[CLOSE_CONSUMERS];
    blocking_arg a[CLOSE_CONSUMERS];
    for (int i = 0; i < CLOSE_CONSUMERS; i++) {
        a[i] = (blocking_arg){mb, seen, &mu, 0, 0, 0};
        pthread_create(&t[i], NULL, blocking_consumer, &a[i]);
    }
    for (size_t i = 0; i < CLOSE_EVENTS; i++) {
        macula_event ev = make_event(MACULA_EVENT_FRAME, 9, i);
        CHECK_EQ_INT(macula__mailbox_push(mb, &ev), 0);
    }
    while (macula__mailbox_count(mb) != 0) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    macula_mailbox_close(mb); /* the consumers are (or will be) blocked: all wake */
    size_t got = 0, disorder = 0, dup = 0;
    for (int i = 0; i < CLOSE_CONSUMERS; i++) {
        pthread_join(t[i], NULL);
        got += a[i].got;
        disorder += a[i].disorder;
        dup += a[i].dup;
    }
    CHECK_EQ_INT(got, CLOSE_EVENTS);
    CHECK_EQ_INT(dup, 0);
    CHECK_EQ_INT(disorder, 0);
    size_t missing = 0;
    for (size_t i = 0; i < CLOSE_EVENTS; i++)
        missing += seen[i] != 1;
    CHECK_EQ_INT(missing, 0);
    free(seen);
    macula_mailbox_free(mb);
}

int main(void)
{
    RUN(test_deep_copy_and_order);
    RUN(test_cap_drops_frames_only);
    RUN(test_byte_budget_backpressure);
    RUN(test_threads_one_consumer);
    RUN(test_threads_two_consumers);
    RUN(test_blocking_pop_wakes);
    RUN(test_close);
    RUN(test_final_info_copied);
    RUN(test_close_wakes_consumers);
    return tu_summary();
}
