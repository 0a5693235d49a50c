/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the runtime object and its loop, shared by loop.c (epoll, timers,
 * one iteration) and runtime.c (public API, threads, shutdown, diagnostics).
 */
#ifndef MACULA_RUNTIME_INTERNAL_H
#define MACULA_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "runtime/command_queue.h"
#include "runtime/diag_limit.h"
#include "runtime/loop.h"
#include "runtime/timer_heap.h"

#include <sys/epoll.h>

#define LOOP_MAX_EVENTS 64

struct macula__loop {
    macula_runtime *rt;
    int epfd;
    uint64_t now;
    macula__timer_heap timers;
    macula__command_queue commands;
    macula__io wake_io;
    struct epoll_event batch[LOOP_MAX_EVENTS]; /* events being dispatched */
    int batch_len;
};

struct macula__post_handle {
    pthread_mutex_t mu;
    macula_runtime *rt; /* NULL once the runtime is freed */
    unsigned refs;
};

struct macula_runtime {
    macula_runtime_options opts;
    macula__loop loop;

    /* The loop thread: set while run()/process() executes or the internal
     * thread lives. */
    pthread_t loop_thread;
    atomic_int loop_thread_set;
    pthread_t internal_thread;
    int internal_started;
    int internal_joined;
    /* Thread rules (runtime.h): 1 while a thread is inside run() or
     * process(), or the internal thread owns the loop (set by start()
     * before the thread exists). Claimed by compare-and-swap, so a second
     * runner is refused with MACULA_ERR_STATE instead of racing. */
    atomic_int in_loop;

    atomic_int stop_requested;
    int shutdown_begun;   /* loop thread */
    atomic_int ended;     /* the loop has finished (read from any thread) */
    int advancing;        /* loop thread: inside advance() */
    uint64_t shutdown_deadline;
    macula__timer shutdown_timer;
    macula__shutdown_hook *hooks; /* most recent first */

    void *slots[MACULA__SLOT_COUNT];
    void (*slot_destroy[MACULA__SLOT_COUNT])(void *obj);
    pthread_mutex_t slots_mu; /* macula__runtime_slot_get_or_make */
    pthread_mutex_t diag_mu;  /* diag_limit */
    macula__diag_limit diag_limit;
    macula__post_handle *post_handle;
};

/* loop.c */
int macula__loop_init(macula__loop *loop, macula_runtime *rt, size_t command_cap);
void macula__loop_destroy(macula__loop *loop);
/* One iteration: wait at most `timeout_ns` (0 = poll, UINT64_MAX = until
 * work), run I/O callbacks, commands and due timers. 0 or an error. */
int macula__loop_iterate(macula__loop *loop, uint64_t timeout_ns);
/* ns until the earliest timer (0 if due or commands wait, UINT64_MAX if none). */
uint64_t macula__loop_next_wait(macula__loop *loop);

/* runtime.c */
void macula__runtime_begin_shutdown(macula_runtime *rt);

#endif
