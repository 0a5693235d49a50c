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

/* Monotonic time in nanoseconds, cached once per loop iteration (cheap). */
uint64_t macula__loop_now(const macula__loop *loop);
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
/* (Re)arms `t` to fire once at `deadline` (monotonic ns). */
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
 * register here. When the runtime stops, hooks run in reverse order of
 * registration (peering before QUIC) with the shutdown deadline; each hook
 * calls macula__runtime_shutdown_done() once its part has ended, and the
 * loop ends when all have (or at the deadline, after calling force()). */
typedef struct macula__shutdown_hook {
    void (*begin)(void *arg, uint64_t deadline_ns);
    void (*force)(void *arg); /* deadline passed: end everything now */
    void *arg;
    int done;
    struct macula__shutdown_hook *next;
} macula__shutdown_hook;

void macula__runtime_add_shutdown_hook(macula_runtime *rt, macula__shutdown_hook *hook);
void macula__runtime_remove_shutdown_hook(macula_runtime *rt, macula__shutdown_hook *hook);
void macula__runtime_shutdown_done(macula_runtime *rt, macula__shutdown_hook *hook);
/* 1 once macula_runtime_stop() has been called. */
int macula__runtime_stopping(const macula_runtime *rt);

/* Emits a diagnostic through the runtime's hook (no-op without one).
 * `fields` alternates key, value, ..., NULL. */
void macula__runtime_diag(macula_runtime *rt, const char *event, ...);

#endif
