/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the event loop under macula_runtime (epoll + timer heap +
 * eventfd-woken command queue). Loop-thread only unless marked otherwise.
 * The QUIC layer and the peering layer use it; nothing here is public.
 */
#ifndef MACULA_RUNTIME_LOOP_H
#define MACULA_RUNTIME_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "macula/runtime.h"

typedef struct macula__loop macula__loop;

/* The loop of a runtime. */
macula__loop *macula__runtime_loop(macula_runtime *rt);
/* runtime options' peer_recv_budget, 0 replaced by its default
 * (peering/budget.h); SIZE_MAX = no cap. */
size_t macula__runtime_peer_recv_budget(const macula_runtime *rt);
size_t macula__runtime_peer_send_budget(const macula_runtime *rt);
/* The runtime a loop belongs to. */
macula_runtime *macula__loop_runtime(macula__loop *loop);

/* Monotonic time in nanoseconds, cached once per loop iteration (cheap). */
uint64_t macula__loop_now(const macula__loop *loop);
/* Re-reads the clock into the cache and returns it (after long work). */
uint64_t macula__loop_update_now(macula__loop *loop);
/* Fresh monotonic time in nanoseconds (a clock_gettime call). */
uint64_t macula__clock_now(void);

/* --- timers: embedded in their owner, no allocation --- */
typedef struct macula__timer {
    uint64_t deadline;  /* monotonic ns */
    size_t heap_index;  /* SIZE_MAX when not armed */
    void (*cb)(void *arg);
    void *arg;
} macula__timer;

void macula__timer_init(macula__timer *t, void (*cb)(void *arg), void *arg);
/* (Re)arms `t` to fire once at `deadline` (monotonic ns). A deadline in the
 * past fires in the current loop iteration, after I/O callbacks: arming at
 * 0 is the way to run deferred work "soon, but not inside this call".
 * Fails only with MACULA_ERR_NOMEM (the heap could not grow). */
int macula__timer_arm(macula__loop *loop, macula__timer *t, uint64_t deadline);
void macula__timer_cancel(macula__loop *loop, macula__timer *t);
int macula__timer_armed(const macula__timer *t);

/* --- file descriptors --- */
typedef struct macula__io {
    int fd;
    void (*cb)(void *arg, uint32_t epoll_events);
    void *arg;
} macula__io;

/* Watches io->fd for `epoll_events` (EPOLLIN, ...); `io` must stay put. */
int macula__io_start(macula__loop *loop, macula__io *io, uint32_t epoll_events);
int macula__io_modify(macula__loop *loop, macula__io *io, uint32_t epoll_events);
void macula__io_stop(macula__loop *loop, macula__io *io);

/* --- shutdown participants ---
 * Layers that own long-lived things (peering workers, QUIC endpoints)
 * register here. When the runtime stops, hooks run one after the other in
 * reverse order of registration (peering before QUIC), hooks marked `late`
 * after all others whatever their registration order (QUIC marks its hooks
 * late so that a peering layer created after an endpoint still drains over
 * live connections). Each hook's begin() gets the shutdown deadline and
 * calls macula__runtime_shutdown_done() once its part has ended (possibly
 * from inside begin()); the next hook begins then. The loop ends when all
 * have, or at the deadline after calling force() on those not done.
 * release(), if set, is called by macula_runtime_free() for every hook still
 * registered then, so the layer can free what the runtime owns for it. */
typedef struct macula__shutdown_hook {
    void (*begin)(void *arg, uint64_t deadline_ns);
    void (*force)(void *arg); /* deadline passed: end everything now */
    void *arg;
    int done;
    struct macula__shutdown_hook *next;
    int late;                    /* run after the hooks that are not late */
    void (*release)(void *arg);  /* optional: runtime is being freed */
    int begun;                   /* internal */
} macula__shutdown_hook;

void macula__runtime_add_shutdown_hook(macula_runtime *rt, macula__shutdown_hook *hook);
void macula__runtime_remove_shutdown_hook(macula_runtime *rt, macula__shutdown_hook *hook);
void macula__runtime_shutdown_done(macula_runtime *rt, macula__shutdown_hook *hook);
/* 1 once macula_runtime_stop() has been called. Any thread. */
int macula__runtime_stopping(const macula_runtime *rt);
/* Thread rules of loop-thread-only calls (runtime.h): 0 on the loop thread
 * or while no thread runs the loop; otherwise an "api_misuse" diagnostic
 * naming `call` and MACULA_ERR_STATE. */
int macula__runtime_thread_check(macula_runtime *rt, const char *call);
/* 1 once the loop has finished: macula_runtime_post() then fails with
 * MACULA_ERR_SHUTDOWN. Any thread. */
int macula__runtime_ended(const macula_runtime *rt);

/* Emits a diagnostic through the runtime's hook (no-op without one).
 * The variable part alternates key, value, ..., NULL (at most 16 pairs). */
void macula__runtime_diag(macula_runtime *rt, const char *event, ...);
/* The same with the fields in an array (the peering worker hands its
 * diagnostics over as one). Loop thread. */
void macula__runtime_diag_fields(macula_runtime *rt, const char *event, const macula_diag_field *fields,
                                 size_t n_fields);

/* --- per-runtime slots for layers above (QUIC's per-runtime state: shared
 * client endpoints, pending dials; the peering supervisor); loop thread
 * only; NULL until set. --- */
enum { MACULA__SLOT_QUIC = 0, MACULA__SLOT_PEERING = 1, MACULA__SLOT_COUNT = 8 };
void **macula__runtime_slot(macula_runtime *rt, unsigned index);
/* Any thread (added for the peering layer, whose public calls may come from
 * any thread while the loop runs): the object in slot `index`, made by
 * make(rt) the first time, under a runtime lock so that two threads never
 * make two. destroy(obj), if not NULL, is called by macula_runtime_free()
 * after the shutdown hooks' release(): a layer whose object was made off
 * the loop thread cannot always register a hook before the loop ends, so
 * the runtime frees it. Returns NULL when make() fails (or a bad index).
 * Reading the slot with macula__runtime_slot() afterwards is fine on the
 * loop thread. */
void *macula__runtime_slot_get_or_make(macula_runtime *rt, unsigned index, void *(*make)(macula_runtime *rt),
                                       void (*destroy)(void *obj));

/* --- posting from threads that may outlive the runtime ---
 * A helper thread (e.g. a name resolver) holds a post handle instead of the
 * runtime pointer: posting through it after the runtime was freed fails
 * with MACULA_ERR_SHUTDOWN instead of touching freed memory. Any thread. */
typedef struct macula__post_handle macula__post_handle;
macula__post_handle *macula__runtime_post_handle(macula_runtime *rt);
int macula__post_handle_post(macula__post_handle *h, void (*fn)(void *arg), void *arg);
void macula__post_handle_release(macula__post_handle *h);

#endif
