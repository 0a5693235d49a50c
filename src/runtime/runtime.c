/* SPDX-License-Identifier: Apache-2.0 */
/* The public runtime: lifetime, threads, embedding, posting, graceful
 * shutdown through registered hooks, and the diagnostics hook. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"
#include "util/abi.h"

#define DIAG_MAX_FIELDS 16

/* Released layouts of macula_runtime_options (common.h, "ABI rules"). */
static const size_t runtime_options_ends[] = {MACULA__FIELD_END(macula_runtime_options, diag_user),
                                              MACULA__FIELD_END(macula_runtime_options, peer_send_budget),
                                              sizeof(macula_runtime_options)};
_Static_assert(offsetof(macula_runtime_options, peer_recv_budget) >=
                   MACULA__ROUND_UP(MACULA__FIELD_END(macula_runtime_options, diag_user),
                                    _Alignof(macula_runtime_options)),
               "release 2 of macula_runtime_options starts inside release 1's tail padding");

void macula_runtime_options_init_sized(macula_runtime_options *o, size_t struct_size)
{
    if (!o)
        return;
    macula_runtime_options d;
    memset(&d, 0, sizeof d);
    d.shutdown_timeout_ms = 5000;
    d.command_queue_cap = 1048576;
    d.diag_rate_per_sec = 20;
    d.diag_burst = 100;
    macula__abi_init(o, struct_size, &d, sizeof d);
}

macula__loop *macula__runtime_loop(macula_runtime *rt) { return &rt->loop; }

size_t macula__runtime_peer_recv_budget(const macula_runtime *rt)
{
    return rt->opts.peer_recv_budget ? rt->opts.peer_recv_budget : (size_t)256 << 20;
}

size_t macula__runtime_peer_send_budget(const macula_runtime *rt)
{
    return rt->opts.peer_send_budget ? rt->opts.peer_send_budget : (size_t)256 << 20;
}

void **macula__runtime_slot(macula_runtime *rt, unsigned index)
{
    return index < MACULA__SLOT_COUNT ? &rt->slots[index] : NULL;
}

void *macula__runtime_slot_get_or_make(macula_runtime *rt, unsigned index, void *(*make)(macula_runtime *rt),
                                       void (*destroy)(void *obj))
{
    if (index >= MACULA__SLOT_COUNT)
        return NULL;
    pthread_mutex_lock(&rt->slots_mu);
    void *obj = rt->slots[index];
    if (!obj && make) {
        obj = make(rt);
        if (obj) {
            rt->slots[index] = obj;
            rt->slot_destroy[index] = destroy;
        }
    }
    pthread_mutex_unlock(&rt->slots_mu);
    return obj;
}

static void shutdown_timer_cb(void *arg);

macula_runtime *macula_runtime_new(const macula_runtime_options *opts, int *err)
{
    int rc = MACULA_ERR_NOMEM;
    macula_runtime_options o;
    macula_runtime_options_init(&o);
    if (opts && macula__abi_read(&o, opts, runtime_options_ends, sizeof runtime_options_ends / sizeof runtime_options_ends[0]) != 0) {
        rc = MACULA_ERR_INVALID_ARG;
        goto fail;
    }
    macula_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        goto fail;
    rt->opts = o;
    if (rt->opts.command_queue_cap == 0)
        rt->opts.command_queue_cap = 1048576;
    rt->post_handle = calloc(1, sizeof *rt->post_handle);
    if (!rt->post_handle)
        goto fail_rt;
    if (pthread_mutex_init(&rt->post_handle->mu, NULL) != 0) {
        rc = MACULA_ERR_INTERNAL;
        goto fail_handle;
    }
    rt->post_handle->rt = rt;
    rt->post_handle->refs = 1;
    macula__diag_limit_init(&rt->diag_limit, rt->opts.diag_rate_per_sec, rt->opts.diag_burst);
    if (pthread_mutex_init(&rt->diag_mu, NULL) != 0) {
        rc = MACULA_ERR_INTERNAL;
        goto fail_mutex;
    }
    if (pthread_mutex_init(&rt->slots_mu, NULL) != 0) {
        rc = MACULA_ERR_INTERNAL;
        goto fail_diag_mu;
    }
    rc = macula__loop_init(&rt->loop, rt, rt->opts.command_queue_cap);
    if (rc != 0)
        goto fail_slots_mu;
    macula__timer_init(&rt->shutdown_timer, shutdown_timer_cb, rt);
    atomic_init(&rt->loop_thread_set, 0);
    atomic_init(&rt->in_loop, 0);
    atomic_init(&rt->stop_requested, 0);
    atomic_init(&rt->ended, 0);
    if (err)
        *err = 0;
    return rt;

fail_slots_mu:
    pthread_mutex_destroy(&rt->slots_mu);
fail_diag_mu:
    pthread_mutex_destroy(&rt->diag_mu);
fail_mutex:
    pthread_mutex_destroy(&rt->post_handle->mu);
fail_handle:
    free(rt->post_handle);
fail_rt:
    free(rt);
fail:
    if (err)
        *err = rc;
    return NULL;
}

/* --- shutdown --- */

/* Next hook to begin: not-late hooks most recent first, then late ones. */
static macula__shutdown_hook *next_hook(macula_runtime *rt)
{
    for (int late = 0; late <= 1; late++)
        for (macula__shutdown_hook *h = rt->hooks; h; h = h->next)
            if (!h->done && (h->late != 0) == (late != 0))
                return h;
    return NULL;
}

static void finish(macula_runtime *rt)
{
    macula__timer_cancel(&rt->loop, &rt->shutdown_timer);
    atomic_store(&rt->ended, 1);
}

/* Begins hooks one after the other; a hook that finishes inside begin()
 * lets the next one begin at once. Re-entrant calls just return. */
static void advance(macula_runtime *rt)
{
    if (!rt->shutdown_begun || rt->advancing || atomic_load(&rt->ended))
        return;
    rt->advancing = 1;
    for (;;) {
        macula__shutdown_hook *h = next_hook(rt);
        if (!h) {
            finish(rt);
            break;
        }
        if (h->begun)
            break; /* still working */
        h->begun = 1;
        h->begin(h->arg, rt->shutdown_deadline);
    }
    rt->advancing = 0;
}

void macula__runtime_begin_shutdown(macula_runtime *rt)
{
    if (rt->shutdown_begun)
        return;
    rt->shutdown_begun = 1;
    rt->shutdown_deadline = macula__loop_now(&rt->loop) + (uint64_t)rt->opts.shutdown_timeout_ms * 1000000u;
    macula__timer_arm(&rt->loop, &rt->shutdown_timer, rt->shutdown_deadline);
    advance(rt);
}

static void shutdown_timer_cb(void *arg)
{
    macula_runtime *rt = arg;
    macula__shutdown_hook *h;
    macula__runtime_diag(rt, "shutdown_deadline", NULL);
    while ((h = next_hook(rt)) != NULL) {
        h->done = 1;
        if (h->force)
            h->force(h->arg);
    }
    finish(rt);
}

void macula__runtime_add_shutdown_hook(macula_runtime *rt, macula__shutdown_hook *hook)
{
    hook->done = 0;
    hook->begun = 0;
    hook->next = rt->hooks;
    rt->hooks = hook;
    advance(rt);
}

void macula__runtime_remove_shutdown_hook(macula_runtime *rt, macula__shutdown_hook *hook)
{
    for (macula__shutdown_hook **p = &rt->hooks; *p; p = &(*p)->next) {
        if (*p == hook) {
            *p = hook->next;
            hook->next = NULL;
            break;
        }
    }
    advance(rt);
}

void macula__runtime_shutdown_done(macula_runtime *rt, macula__shutdown_hook *hook)
{
    hook->done = 1;
    advance(rt);
}

int macula__runtime_stopping(const macula_runtime *rt) { return atomic_load(&rt->stop_requested); }
int macula__runtime_ended(const macula_runtime *rt) { return atomic_load(&rt->ended); }

int macula_runtime_stop(macula_runtime *rt)
{
    if (!rt)
        return MACULA_ERR_INVALID_ARG;
    if (atomic_exchange(&rt->stop_requested, 1))
        return 0;
    /* Wake the loop; it notices the flag after the iteration. */
    uint64_t one = 1;
    while (write(rt->loop.commands.wake_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    return 0;
}

/* --- running --- */

static void claim_thread(macula_runtime *rt)
{
    rt->loop_thread = pthread_self();
    atomic_store(&rt->loop_thread_set, 1);
}

static int step(macula_runtime *rt, uint64_t timeout_ns)
{
    int rc = macula__loop_iterate(&rt->loop, timeout_ns);
    if (atomic_load(&rt->stop_requested) && !rt->shutdown_begun)
        macula__runtime_begin_shutdown(rt);
    return rc;
}

/* Claims the loop for the calling thread (or the internal thread about to
 * be made); 0, or MACULA_ERR_STATE when another runner has it. */
static int claim_loop(macula_runtime *rt)
{
    int expected = 0;
    return atomic_compare_exchange_strong(&rt->in_loop, &expected, 1) ? 0 : MACULA_ERR_STATE;
}

static int run_claimed(macula_runtime *rt)
{
    claim_thread(rt);
    int rc = 0;
    while (!atomic_load(&rt->ended) && rc == 0)
        rc = step(rt, UINT64_MAX);
    atomic_store(&rt->loop_thread_set, 0);
    atomic_store(&rt->in_loop, 0);
    return rc;
}

int macula_runtime_run(macula_runtime *rt)
{
    if (!rt)
        return MACULA_ERR_INVALID_ARG;
    /* Twice, from a handler, on a second thread, or next to start() /
     * process(): refused rather than two loops on one state. */
    if (claim_loop(rt) != 0)
        return MACULA_ERR_STATE;
    return run_claimed(rt);
}

static void *thread_main(void *arg)
{
    run_claimed(arg);
    return NULL;
}

int macula_runtime_start(macula_runtime *rt)
{
    if (!rt)
        return MACULA_ERR_INVALID_ARG;
    if (rt->internal_started || claim_loop(rt) != 0)
        return MACULA_ERR_STATE;
    if (pthread_create(&rt->internal_thread, NULL, thread_main, rt) != 0) {
        atomic_store(&rt->in_loop, 0);
        return MACULA_ERR_IO;
    }
    rt->internal_started = 1;
    return 0;
}

/* 1 when the caller is a loop callback (inside run(), process() or the
 * internal thread's loop). */
static int in_callback(const macula_runtime *rt)
{
    return atomic_load(&rt->in_loop) && macula_runtime_on_loop_thread(rt);
}

int macula__runtime_thread_check(macula_runtime *rt, const char *call)
{
    if (macula_runtime_on_loop_thread(rt) || (!atomic_load(&rt->in_loop) && !atomic_load(&rt->loop_thread_set)))
        return 0;
    macula__runtime_diag(rt, "api_misuse", "call", call, "error", macula_err_name(MACULA_ERR_STATE), "why",
                         "loop-thread-only call from another thread while the loop runs", NULL);
    return MACULA_ERR_STATE;
}

int macula_runtime_join(macula_runtime *rt)
{
    if (!rt)
        return MACULA_ERR_INVALID_ARG;
    if (in_callback(rt))
        return MACULA_ERR_STATE;
    if (!rt->internal_started || rt->internal_joined)
        return 0;
    if (pthread_equal(pthread_self(), rt->internal_thread))
        return MACULA_ERR_STATE;
    pthread_join(rt->internal_thread, NULL);
    rt->internal_joined = 1;
    return 0;
}

int macula_runtime_fd(const macula_runtime *rt) { return rt ? rt->loop.epfd : -1; }

int macula_runtime_process(macula_runtime *rt)
{
    if (!rt)
        return MACULA_ERR_INVALID_ARG;
    if (atomic_load(&rt->ended))
        return 0;
    /* Not while run() or the internal thread owns the loop, nor from
     * inside a callback of this very call. */
    if (claim_loop(rt) != 0)
        return MACULA_ERR_STATE;
    claim_thread(rt);
    int rc = step(rt, 0);
    atomic_store(&rt->in_loop, 0);
    if (rc != 0)
        return rc;
    return atomic_load(&rt->ended) ? 0 : 1;
}

int macula_runtime_next_timeout_ms(const macula_runtime *rt)
{
    if (!rt || atomic_load(&rt->ended))
        return -1;
    /* Waiting commands make the fd readable, so only timers count here. */
    const macula__timer *top = macula__timer_heap_top(&rt->loop.timers);
    if (!top)
        return -1;
    uint64_t now = macula__clock_now();
    if (top->deadline <= now)
        return 0;
    uint64_t ms = (top->deadline - now + 999999u) / 1000000u;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

int macula_runtime_post(macula_runtime *rt, void (*fn)(void *arg), void *arg)
{
    if (!rt || !fn)
        return MACULA_ERR_INVALID_ARG;
    if (atomic_load(&rt->ended))
        return MACULA_ERR_SHUTDOWN;
    return macula__command_queue_push(&rt->loop.commands, fn, arg);
}

int macula_runtime_on_loop_thread(const macula_runtime *rt)
{
    return rt && atomic_load(&rt->loop_thread_set) && pthread_equal(pthread_self(), rt->loop_thread);
}

void macula_runtime_free(macula_runtime *rt)
{
    if (!rt)
        return;
    /* From a callback, or while another thread is inside run() / process(),
     * freeing would pull the loop from under its runner: refused (the
     * runtime stays usable and must be freed properly later). */
    if (atomic_load(&rt->in_loop) && (macula_runtime_on_loop_thread(rt) || !rt->internal_started)) {
        macula__runtime_diag(rt, "api_misuse", "call", "macula_runtime_free", "error",
                             macula_err_name(MACULA_ERR_STATE), "why",
                             in_callback(rt) ? "called on the loop thread" : "another thread runs the loop", NULL);
        return;
    }
    if (rt->internal_started) {
        macula_runtime_stop(rt);
        macula_runtime_join(rt);
    } else if (!atomic_load(&rt->ended)) {
        /* Never run, or embedded: finish the graceful shutdown here (as the
         * loop's runner, so that callbacks cannot re-enter it). */
        macula_runtime_stop(rt);
        atomic_store(&rt->in_loop, 1);
        claim_thread(rt);
        while (!atomic_load(&rt->ended))
            if (step(rt, UINT64_MAX) != 0)
                break;
        atomic_store(&rt->loop_thread_set, 0);
    }
    /* Teardown may still call handlers (peers that never started get their
     * DISCONNECTED): they must not re-enter free / run / process. */
    atomic_store(&rt->in_loop, 1);
    claim_thread(rt);
    macula__shutdown_hook *h;
    while ((h = rt->hooks) != NULL) {
        rt->hooks = h->next;
        h->next = NULL;
        if (h->release)
            h->release(h->arg);
    }
    for (unsigned i = 0; i < MACULA__SLOT_COUNT; i++) {
        void *obj = rt->slots[i];
        if (obj && rt->slot_destroy[i]) {
            rt->slots[i] = NULL;
            rt->slot_destroy[i](obj);
        }
    }
    atomic_store(&rt->loop_thread_set, 0);
    macula__post_handle *ph = rt->post_handle;
    pthread_mutex_lock(&ph->mu);
    ph->rt = NULL;
    pthread_mutex_unlock(&ph->mu);
    macula__post_handle_release(ph);
    macula__loop_destroy(&rt->loop);
    pthread_mutex_destroy(&rt->slots_mu);
    pthread_mutex_destroy(&rt->diag_mu);
    free(rt);
}

/* --- post handles --- */

macula__post_handle *macula__runtime_post_handle(macula_runtime *rt)
{
    macula__post_handle *h = rt->post_handle;
    pthread_mutex_lock(&h->mu);
    h->refs++;
    pthread_mutex_unlock(&h->mu);
    return h;
}

int macula__post_handle_post(macula__post_handle *h, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&h->mu);
    int rc = h->rt ? macula_runtime_post(h->rt, fn, arg) : MACULA_ERR_SHUTDOWN;
    pthread_mutex_unlock(&h->mu);
    return rc;
}

void macula__post_handle_release(macula__post_handle *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    unsigned left = --h->refs;
    pthread_mutex_unlock(&h->mu);
    if (left == 0) {
        pthread_mutex_destroy(&h->mu);
        free(h);
    }
}

/* --- diagnostics --- */

/* The rate limit (diag_limit.h): 1 to deliver, with *suppressed set. */
static int diag_allowed(macula_runtime *rt, const char *event, uint64_t *suppressed)
{
    pthread_mutex_lock(&rt->diag_mu);
    int ok = macula__diag_limit_take(&rt->diag_limit, event, macula__clock_now(), suppressed);
    pthread_mutex_unlock(&rt->diag_mu);
    return ok;
}

static void diag_deliver(macula_runtime *rt, const char *event, const macula_diag_field *fields, size_t n,
                         uint64_t suppressed)
{
    if (!suppressed) {
        rt->opts.diag(rt->opts.diag_user, event, fields, n);
        return;
    }
    macula_diag_field all[DIAG_MAX_FIELDS + 1];
    if (n > DIAG_MAX_FIELDS)
        n = DIAG_MAX_FIELDS;
    memcpy(all, fields, n * sizeof *fields);
    char count[24];
    snprintf(count, sizeof count, "%llu", (unsigned long long)suppressed);
    all[n].key = "suppressed";
    all[n].value = count;
    rt->opts.diag(rt->opts.diag_user, event, all, n + 1);
}

void macula__runtime_diag_fields(macula_runtime *rt, const char *event, const macula_diag_field *fields,
                                 size_t n_fields)
{
    uint64_t suppressed;
    if (rt && rt->opts.diag && diag_allowed(rt, event, &suppressed))
        diag_deliver(rt, event, fields, n_fields, suppressed);
}

void macula__runtime_diag(macula_runtime *rt, const char *event, ...)
{
    uint64_t suppressed;
    if (!rt || !rt->opts.diag || !diag_allowed(rt, event, &suppressed))
        return;
    macula_diag_field fields[DIAG_MAX_FIELDS];
    size_t n = 0;
    va_list ap;
    va_start(ap, event);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key || n == DIAG_MAX_FIELDS)
            break;
        const char *value = va_arg(ap, const char *);
        fields[n].key = key;
        fields[n].value = value ? value : "";
        n++;
    }
    va_end(ap);
    diag_deliver(rt, event, fields, n, suppressed);
}
