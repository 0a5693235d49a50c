/* SPDX-License-Identifier: Apache-2.0 */
/* Runtime and loop: timer heap order, cross-thread posting, embedding,
 * graceful stop with shutdown hooks, post handles outliving the runtime,
 * the thread rules (a second runner, calls from callbacks), and the
 * struct_size checks of the options. */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "macula/runtime.h"
#include "runtime/loop.h"
#include "runtime/timer_heap.h"
#include "testutil.h"

/* --- timer heap --- */

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void noop(void *arg) { (void)arg; }

static void test_timer_heap_order(void)
{
    enum { N = 2000 };
    static macula__timer timers[N];
    macula__timer_heap h;
    macula__timer_heap_init(&h);
    for (int i = 0; i < N; i++) {
        macula__timer_init(&timers[i], noop, NULL);
        REQUIRE(macula__timer_heap_set(&h, &timers[i], rng() % 100000) == 0);
    }
    /* Re-arm a third, cancel a third. */
    for (int i = 0; i < N; i += 3)
        macula__timer_heap_set(&h, &timers[i], rng() % 100000);
    int cancelled = 0;
    for (int i = 1; i < N; i += 3) {
        macula__timer_heap_remove(&h, &timers[i]);
        CHECK(timers[i].heap_index == SIZE_MAX);
        cancelled++;
    }
    macula__timer_heap_remove(&h, &timers[1]); /* twice: harmless */
    CHECK_EQ_INT(h.len, N - cancelled);
    uint64_t last = 0;
    size_t popped = 0;
    macula__timer *t;
    while ((t = macula__timer_heap_top(&h)) != NULL) {
        CHECK(t->deadline >= last);
        last = t->deadline;
        macula__timer_heap_remove(&h, t);
        popped++;
    }
    CHECK_EQ_INT(popped, N - cancelled);
    macula__timer_heap_free(&h);
}

/* --- timers on a running loop --- */

struct fire_log {
    int order[8];
    int n;
    macula_runtime *rt;
};
struct fire_item {
    struct fire_log *log;
    int id;
    macula__timer timer;
};

static void fire_cb(void *arg)
{
    struct fire_item *it = arg;
    it->log->order[it->log->n++] = it->id;
    if (it->log->n == 3)
        macula_runtime_stop(it->log->rt);
}

static void test_loop_timers_fire_in_order(void)
{
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    REQUIRE(rt);
    macula__loop *loop = macula__runtime_loop(rt);
    struct fire_log log = {{0}, 0, rt};
    struct fire_item items[4];
    uint64_t now = macula__clock_now();
    uint64_t at[4] = {now + 30000000, now + 10000000, now + 20000000, now + 50000000};
    for (int i = 0; i < 4; i++) {
        items[i].log = &log;
        items[i].id = i;
        macula__timer_init(&items[i].timer, fire_cb, &items[i]);
        CHECK(macula__timer_arm(loop, &items[i].timer, at[i]) == 0);
    }
    macula__timer_cancel(loop, &items[3].timer);
    CHECK(!macula__timer_armed(&items[3].timer));
    uint64_t t0 = macula__clock_now();
    CHECK(macula_runtime_run(rt) == 0);
    uint64_t took = macula__clock_now() - t0;
    CHECK_EQ_INT(log.n, 3);
    CHECK_EQ_INT(log.order[0], 1);
    CHECK_EQ_INT(log.order[1], 2);
    CHECK_EQ_INT(log.order[2], 0);
    CHECK(took >= 25000000); /* the last one was due 30 ms after arming */
    macula_runtime_free(rt);
}

/* --- posting from many threads --- */

enum { POSTERS = 8, POSTS_EACH = 20000 };
struct post_ctx {
    macula_runtime *rt;
    atomic_int ran;
    int on_loop_ok;
    int last_seen[POSTERS];
    int order_ok;
};
struct post_arg {
    struct post_ctx *ctx;
    int thread;
    int seq;
};
static struct post_arg post_args[POSTERS][POSTS_EACH];

static void counted(void *arg)
{
    struct post_arg *a = arg;
    struct post_ctx *ctx = a->ctx;
    if (!macula_runtime_on_loop_thread(ctx->rt))
        ctx->on_loop_ok = 0;
    /* Posts from one thread run in the order they were made. */
    if (a->seq != ctx->last_seen[a->thread] + 1)
        ctx->order_ok = 0;
    ctx->last_seen[a->thread] = a->seq;
    if (atomic_fetch_add(&ctx->ran, 1) + 1 == POSTERS * POSTS_EACH)
        macula_runtime_stop(ctx->rt);
}

static void *poster(void *arg)
{
    struct post_arg *row = arg;
    for (int i = 0; i < POSTS_EACH; i++) {
        while (macula_runtime_post(row[i].ctx->rt, counted, &row[i]) == MACULA_ERR_QUEUE_FULL)
            usleep(100);
    }
    return NULL;
}

static void test_post_from_many_threads(void)
{
    macula_runtime_options o;
    macula_runtime_options_init(&o);
    o.command_queue_cap = 4096; /* small: exercises QUEUE_FULL and retry */
    struct post_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.rt = macula_runtime_new(&o, NULL);
    REQUIRE(ctx.rt);
    atomic_init(&ctx.ran, 0);
    ctx.on_loop_ok = 1;
    ctx.order_ok = 1;
    for (int t = 0; t < POSTERS; t++) {
        ctx.last_seen[t] = -1;
        for (int i = 0; i < POSTS_EACH; i++)
            post_args[t][i] = (struct post_arg){&ctx, t, i};
    }
    CHECK(!macula_runtime_on_loop_thread(ctx.rt));
    REQUIRE(macula_runtime_start(ctx.rt) == 0);
    pthread_t th[POSTERS];
    for (int t = 0; t < POSTERS; t++)
        pthread_create(&th[t], NULL, poster, post_args[t]);
    for (int t = 0; t < POSTERS; t++)
        pthread_join(th[t], NULL);
    CHECK(macula_runtime_join(ctx.rt) == 0);
    CHECK_EQ_INT(atomic_load(&ctx.ran), POSTERS * POSTS_EACH);
    CHECK(ctx.on_loop_ok);
    CHECK(ctx.order_ok);
    CHECK(!macula_runtime_on_loop_thread(ctx.rt));
    /* After the loop ended, posting is refused. */
    CHECK_EQ_INT(macula_runtime_post(ctx.rt, counted, &post_args[0][0]), MACULA_ERR_SHUTDOWN);
    macula_runtime_free(ctx.rt);
}

static void test_queue_cap(void)
{
    macula_runtime_options o;
    macula_runtime_options_init(&o);
    o.command_queue_cap = 3;
    macula_runtime *rt = macula_runtime_new(&o, NULL);
    REQUIRE(rt);
    for (int i = 0; i < 3; i++)
        CHECK(macula_runtime_post(rt, noop, NULL) == 0);
    CHECK_EQ_INT(macula_runtime_post(rt, noop, NULL), MACULA_ERR_QUEUE_FULL);
    CHECK_EQ_INT(macula_runtime_post(rt, NULL, NULL), MACULA_ERR_INVALID_ARG);
    macula_runtime_free(rt); /* never run: free still finishes */
}

/* --- embedding --- */

static void mark(void *arg) { (*(int *)arg)++; }

static void test_embedding(void)
{
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    REQUIRE(rt);
    int fd = macula_runtime_fd(rt);
    CHECK(fd >= 0);
    CHECK_EQ_INT(macula_runtime_next_timeout_ms(rt), -1);
    struct pollfd p = {fd, POLLIN, 0};
    CHECK_EQ_INT(poll(&p, 1, 0), 0); /* nothing to do yet */

    int posted = 0;
    CHECK(macula_runtime_post(rt, mark, &posted) == 0);
    CHECK_EQ_INT(poll(&p, 1, 1000), 1); /* a post makes the fd readable */
    CHECK_EQ_INT(macula_runtime_process(rt), 1);
    CHECK_EQ_INT(posted, 1);
    CHECK(macula_runtime_on_loop_thread(rt));

    int fired = 0;
    macula__timer t;
    macula__timer_init(&t, mark, &fired);
    macula__loop *loop = macula__runtime_loop(rt);
    macula__timer_arm(loop, &t, macula__clock_now() + 40000000);
    int ms = macula_runtime_next_timeout_ms(rt);
    CHECK(ms > 0 && ms <= 40);
    /* Drive it like a foreign loop would: poll the fd with the timeout. */
    uint64_t deadline = macula__clock_now() + 2000000000ull;
    while (!fired && macula__clock_now() < deadline) {
        int to = macula_runtime_next_timeout_ms(rt);
        poll(&p, 1, to);
        CHECK_EQ_INT(macula_runtime_process(rt), 1);
    }
    CHECK_EQ_INT(fired, 1);
    CHECK_EQ_INT(macula_runtime_next_timeout_ms(rt), -1);
    macula_runtime_stop(rt);
    int rc = 1;
    for (int i = 0; i < 10 && rc == 1; i++)
        rc = macula_runtime_process(rt);
    CHECK_EQ_INT(rc, 0);
    macula_runtime_free(rt);
}

/* --- graceful stop with hooks --- */

struct hook_ctx {
    macula_runtime *rt;
    macula__shutdown_hook hook;
    const char *name;
    char *log;
    int finish_in_begin;   /* call done() inside begin() */
    int finish_after_ms;   /* or later, from a timer; -1 = never */
    macula__timer timer;
    int forced;
    int released;
    uint64_t deadline_seen;
};

static void hook_timer(void *arg)
{
    struct hook_ctx *h = arg;
    strcat(h->log, "~");
    strcat(h->log, h->name);
    macula__runtime_shutdown_done(h->rt, &h->hook);
}

static void hook_begin(void *arg, uint64_t deadline)
{
    struct hook_ctx *h = arg;
    h->deadline_seen = deadline;
    strcat(h->log, h->name);
    if (h->finish_in_begin) {
        macula__runtime_shutdown_done(h->rt, &h->hook);
    } else if (h->finish_after_ms >= 0) {
        macula__loop *loop = macula__runtime_loop(h->rt);
        macula__timer_arm(loop, &h->timer, macula__loop_now(loop) + (uint64_t)h->finish_after_ms * 1000000u);
    }
}

static void hook_force(void *arg)
{
    struct hook_ctx *h = arg;
    h->forced = 1;
    strcat(h->log, "!");
    strcat(h->log, h->name);
}

static void hook_release(void *arg) { ((struct hook_ctx *)arg)->released++; }

static void hook_setup(struct hook_ctx *h, macula_runtime *rt, const char *name, char *log, int late)
{
    memset(h, 0, sizeof *h);
    h->rt = rt;
    h->name = name;
    h->log = log;
    h->finish_after_ms = -1;
    h->hook.begin = hook_begin;
    h->hook.force = hook_force;
    h->hook.release = hook_release;
    h->hook.arg = h;
    h->hook.late = late;
    macula__timer_init(&h->timer, hook_timer, h);
}

static void test_graceful_stop_with_hooks(void)
{
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    REQUIRE(rt);
    char log[128] = "";
    struct hook_ctx quic, peering, extra;
    /* QUIC registers first but is late; peering after it; extra last. */
    hook_setup(&quic, rt, "Q", log, 1);
    quic.finish_in_begin = 1;
    hook_setup(&peering, rt, "P", log, 0);
    peering.finish_after_ms = 20;
    hook_setup(&extra, rt, "X", log, 0);
    extra.finish_in_begin = 1;
    macula__runtime_add_shutdown_hook(rt, &quic.hook);
    macula__runtime_add_shutdown_hook(rt, &peering.hook);
    macula__runtime_add_shutdown_hook(rt, &extra.hook);
    CHECK(!macula__runtime_stopping(rt));
    REQUIRE(macula_runtime_start(rt) == 0);
    uint64_t t0 = macula__clock_now();
    CHECK(macula_runtime_stop(rt) == 0);
    CHECK(macula_runtime_stop(rt) == 0); /* idempotent */
    CHECK(macula__runtime_stopping(rt));
    CHECK(macula_runtime_join(rt) == 0);
    uint64_t took = macula__clock_now() - t0;
    CHECK(strcmp(log, "XP~PQ") == 0);
    CHECK(!quic.forced && !peering.forced);
    CHECK(took >= 15000000 && took < 4000000000ull);
    CHECK(peering.deadline_seen > t0);
    macula_runtime_free(rt);
    CHECK_EQ_INT(quic.released + peering.released + extra.released, 3);
}

static void test_stop_deadline_forces(void)
{
    macula_runtime_options o;
    macula_runtime_options_init(&o);
    o.shutdown_timeout_ms = 100;
    macula_runtime *rt = macula_runtime_new(&o, NULL);
    REQUIRE(rt);
    char log[64] = "";
    struct hook_ctx stuck, quic;
    hook_setup(&stuck, rt, "S", log, 0); /* never finishes */
    hook_setup(&quic, rt, "Q", log, 1);
    quic.finish_in_begin = 1;
    macula__runtime_add_shutdown_hook(rt, &quic.hook);
    macula__runtime_add_shutdown_hook(rt, &stuck.hook);
    uint64_t t0 = macula__clock_now();
    macula_runtime_stop(rt);
    CHECK(macula_runtime_run(rt) == 0);
    uint64_t took = macula__clock_now() - t0;
    CHECK(took >= 90000000 && took < 3000000000ull);
    CHECK(stuck.forced);
    CHECK(quic.forced); /* never began: forced at the deadline too */
    CHECK(strcmp(log, "S!S!Q") == 0);
    macula__runtime_remove_shutdown_hook(rt, &stuck.hook);
    macula_runtime_free(rt);
    CHECK_EQ_INT(stuck.released, 0);
    CHECK_EQ_INT(quic.released, 1);
}

/* --- post handles and diagnostics --- */

static void test_post_handle_outlives_runtime(void)
{
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    REQUIRE(rt);
    macula__post_handle *h = macula__runtime_post_handle(rt);
    int hits = 0;
    CHECK(macula__post_handle_post(h, mark, &hits) == 0);
    CHECK_EQ_INT(macula_runtime_process(rt), 1);
    CHECK_EQ_INT(hits, 1);
    macula_runtime_free(rt);
    CHECK_EQ_INT(macula__post_handle_post(h, mark, &hits), MACULA_ERR_SHUTDOWN);
    macula__post_handle_release(h);
    CHECK_EQ_INT(hits, 1);
}

struct diag_seen {
    char event[32];
    size_t n;
    char first[32];
};
static void diag_fn(void *user, const char *event, const macula_diag_field *f, size_t n)
{
    struct diag_seen *d = user;
    snprintf(d->event, sizeof d->event, "%s", event);
    d->n = n;
    if (n)
        snprintf(d->first, sizeof d->first, "%s=%s", f[0].key, f[0].value);
}

static void test_diag(void)
{
    struct diag_seen seen;
    memset(&seen, 0, sizeof seen);
    macula_runtime_options o;
    macula_runtime_options_init(&o);
    o.diag = diag_fn;
    o.diag_user = &seen;
    macula_runtime *rt = macula_runtime_new(&o, NULL);
    REQUIRE(rt);
    macula__runtime_diag(rt, "frame_dropped", "reason", "bad_frame", "conn", "3", NULL);
    CHECK(strcmp(seen.event, "frame_dropped") == 0);
    CHECK_EQ_INT(seen.n, 2);
    CHECK(strcmp(seen.first, "reason=bad_frame") == 0);
    void **slot = macula__runtime_slot(rt, MACULA__SLOT_QUIC);
    CHECK(slot && *slot == NULL);
    CHECK(macula__runtime_slot(rt, MACULA__SLOT_COUNT) == NULL);
    macula_runtime_free(rt);
}

/* --- thread rules --- */

struct misuse {
    macula_runtime *rt;
    int run_rc, process_rc, join_rc, start_rc;
    atomic_int diags;
    atomic_int done;
};

static void misuse_diag(void *user, const char *event, const macula_diag_field *fields, size_t n)
{
    struct misuse *m = user;
    if (strcmp(event, "api_misuse") == 0 && n >= 1 && strcmp(fields[0].key, "call") == 0)
        atomic_fetch_add(&m->diags, 1);
}

/* From inside a callback: every call that would re-enter the loop or pull
 * it from under itself is refused. */
static void misuse_cb(void *arg)
{
    struct misuse *m = arg;
    m->run_rc = macula_runtime_run(m->rt);
    m->process_rc = macula_runtime_process(m->rt);
    m->join_rc = macula_runtime_join(m->rt);
    m->start_rc = macula_runtime_start(m->rt);
    macula_runtime_free(m->rt); /* ignored: diagnostic */
    atomic_store(&m->done, 1);
    macula_runtime_stop(m->rt);
}

static macula_runtime *misuse_runtime(struct misuse *m)
{
    memset(m, 0, sizeof *m);
    macula_runtime_options o;
    macula_runtime_options_init(&o);
    o.diag = misuse_diag;
    o.diag_user = m;
    m->rt = macula_runtime_new(&o, NULL);
    return m->rt;
}

static void test_thread_rules_in_callbacks(void)
{
    struct misuse m;
    /* inside run() */
    REQUIRE(misuse_runtime(&m));
    REQUIRE(macula_runtime_post(m.rt, misuse_cb, &m) == 0);
    CHECK_EQ_INT(macula_runtime_run(m.rt), 0);
    CHECK(atomic_load(&m.done));
    CHECK_EQ_INT(m.run_rc, MACULA_ERR_STATE);
    CHECK_EQ_INT(m.process_rc, MACULA_ERR_STATE);
    CHECK_EQ_INT(m.join_rc, MACULA_ERR_STATE);
    CHECK_EQ_INT(m.start_rc, MACULA_ERR_STATE);
    CHECK_EQ_INT(atomic_load(&m.diags), 1);
    CHECK_EQ_INT(macula_runtime_run(m.rt), 0); /* ended: returns at once */
    macula_runtime_free(m.rt);

    /* inside process() (embedded) */
    REQUIRE(misuse_runtime(&m));
    REQUIRE(macula_runtime_post(m.rt, misuse_cb, &m) == 0);
    for (int i = 0; i < 1000 && !atomic_load(&m.done); i++)
        CHECK(macula_runtime_process(m.rt) >= 0);
    CHECK(atomic_load(&m.done));
    CHECK_EQ_INT(m.run_rc, MACULA_ERR_STATE);
    CHECK_EQ_INT(m.process_rc, MACULA_ERR_STATE);
    CHECK_EQ_INT(m.join_rc, MACULA_ERR_STATE);
    CHECK_EQ_INT(m.start_rc, MACULA_ERR_STATE);
    CHECK_EQ_INT(atomic_load(&m.diags), 1);
    macula_runtime_free(m.rt); /* the embedding thread, outside process(): fine */

    /* on the internal thread */
    REQUIRE(misuse_runtime(&m));
    REQUIRE(macula_runtime_start(m.rt) == 0);
    REQUIRE(macula_runtime_post(m.rt, misuse_cb, &m) == 0);
    CHECK_EQ_INT(macula_runtime_join(m.rt), 0);
    CHECK(atomic_load(&m.done));
    CHECK_EQ_INT(m.run_rc, MACULA_ERR_STATE);
    CHECK_EQ_INT(m.process_rc, MACULA_ERR_STATE);
    CHECK_EQ_INT(m.join_rc, MACULA_ERR_STATE);
    CHECK_EQ_INT(m.start_rc, MACULA_ERR_STATE);
    CHECK_EQ_INT(atomic_load(&m.diags), 1);
    macula_runtime_free(m.rt);
}

static void *run_thread(void *arg)
{
    macula_runtime *rt = arg;
    return (void *)(intptr_t)macula_runtime_run(rt);
}

static void set_flag_cb(void *arg) { atomic_store((atomic_int *)arg, 1); }

/* Returns once the runner has claimed the loop (a posted call ran). */
static void wait_loop_thread(macula_runtime *rt)
{
    atomic_int ran;
    atomic_init(&ran, 0);
    REQUIRE(macula_runtime_post(rt, set_flag_cb, &ran) == 0);
    for (int i = 0; i < 5000 && !atomic_load(&ran); i++)
        usleep(1000);
    REQUIRE(atomic_load(&ran));
}

/* Another thread runs the loop: a second runner in any mode is refused;
 * free is refused (diagnostic) until run() has returned. */
static void test_thread_rules_two_threads(void)
{
    struct misuse m;
    REQUIRE(misuse_runtime(&m));
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, run_thread, m.rt) == 0);
    wait_loop_thread(m.rt);
    CHECK_EQ_INT(macula_runtime_run(m.rt), MACULA_ERR_STATE);
    CHECK_EQ_INT(macula_runtime_process(m.rt), MACULA_ERR_STATE);
    CHECK_EQ_INT(macula_runtime_start(m.rt), MACULA_ERR_STATE);
    CHECK_EQ_INT(macula_runtime_on_loop_thread(m.rt), 0);
    macula_runtime_free(m.rt); /* refused: run() is using it */
    CHECK_EQ_INT(atomic_load(&m.diags), 1);
    CHECK_EQ_INT(macula_runtime_stop(m.rt), 0);
    void *rc = NULL;
    pthread_join(t, &rc);
    CHECK_EQ_INT((int)(intptr_t)rc, 0);
    macula_runtime_free(m.rt);

    /* start() owns the loop: run / process / a second start refused */
    REQUIRE(misuse_runtime(&m));
    REQUIRE(macula_runtime_start(m.rt) == 0);
    CHECK_EQ_INT(macula_runtime_start(m.rt), MACULA_ERR_STATE);
    CHECK_EQ_INT(macula_runtime_run(m.rt), MACULA_ERR_STATE);
    CHECK_EQ_INT(macula_runtime_process(m.rt), MACULA_ERR_STATE);
    macula_runtime_free(m.rt); /* from another thread: stops and joins */
}

/* --- struct_size (common.h, "ABI rules") --- */
static void test_options_struct_size(void)
{
    int err = 0;
    macula_runtime_options o;
    macula_runtime_options_init(&o);
    CHECK_EQ_INT(o.struct_size, sizeof o);
    CHECK_EQ_INT(o.shutdown_timeout_ms, 5000);
    o.struct_size = 0; /* not initialized */
    CHECK(macula_runtime_new(&o, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_INVALID_ARG);
    o.struct_size = 7;
    CHECK(macula_runtime_new(&o, &err) == NULL);
    o.struct_size = sizeof o + 8; /* a newer caller than this library */
    CHECK(macula_runtime_new(&o, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_INVALID_ARG);
    o.struct_size = sizeof o;
    macula_runtime *rt = macula_runtime_new(&o, &err);
    CHECK(rt != NULL && err == 0);
    macula_runtime_free(rt);
    /* init writes only the caller's bytes */
    unsigned char buf[sizeof(macula_runtime_options) + 16];
    memset(buf, 0xEE, sizeof buf);
    macula_runtime_options_init_sized((macula_runtime_options *)(void *)buf, sizeof(size_t) + 4);
    for (size_t i = sizeof(size_t) + 4; i < sizeof buf; i++)
        if (buf[i] != 0xEE) {
            CHECK(0);
            break;
        }
}

int main(void)
{
    RUN(test_timer_heap_order);
    RUN(test_loop_timers_fire_in_order);
    RUN(test_post_from_many_threads);
    RUN(test_queue_cap);
    RUN(test_embedding);
    RUN(test_graceful_stop_with_hooks);
    RUN(test_stop_deadline_forces);
    RUN(test_post_handle_outlives_runtime);
    RUN(test_diag);
    RUN(test_thread_rules_in_callbacks);
    RUN(test_thread_rules_two_threads);
    RUN(test_options_struct_size);
    return tu_summary();
}
