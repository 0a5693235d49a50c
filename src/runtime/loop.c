/* SPDX-License-Identifier: Apache-2.0 */
/* The event loop: epoll for descriptors, a timer heap, the command queue and
 * a cached monotonic clock (see loop.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"

/* Timers run per iteration at most this many times over, so that timers that
 * keep re-arming themselves in the past cannot starve I/O. */
#define LOOP_MAX_TIMER_RUNS 4096

uint64_t macula__clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t macula__loop_now(const macula__loop *loop) { return loop->now; }

uint64_t macula__loop_update_now(macula__loop *loop)
{
    loop->now = macula__clock_now();
    return loop->now;
}

macula_runtime *macula__loop_runtime(macula__loop *loop) { return loop->rt; }

void macula__timer_init(macula__timer *t, void (*cb)(void *arg), void *arg)
{
    t->deadline = 0;
    t->heap_index = SIZE_MAX;
    t->cb = cb;
    t->arg = arg;
}

int macula__timer_arm(macula__loop *loop, macula__timer *t, uint64_t deadline)
{
    return macula__timer_heap_set(&loop->timers, t, deadline);
}

void macula__timer_cancel(macula__loop *loop, macula__timer *t)
{
    macula__timer_heap_remove(&loop->timers, t);
}

int macula__timer_armed(const macula__timer *t) { return t->heap_index != SIZE_MAX; }

static int io_ctl(macula__loop *loop, macula__io *io, int op, uint32_t epoll_events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = epoll_events;
    ev.data.ptr = io;
    return epoll_ctl(loop->epfd, op, io->fd, &ev) == 0 ? 0 : MACULA_ERR_IO;
}

int macula__io_start(macula__loop *loop, macula__io *io, uint32_t epoll_events)
{
    return io_ctl(loop, io, EPOLL_CTL_ADD, epoll_events);
}

int macula__io_modify(macula__loop *loop, macula__io *io, uint32_t epoll_events)
{
    return io_ctl(loop, io, EPOLL_CTL_MOD, epoll_events);
}

void macula__io_stop(macula__loop *loop, macula__io *io)
{
    if (io->fd >= 0)
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    /* The owner may free `io` right after this call; forget any event for it
     * still waiting in this iteration's batch. */
    for (int i = 0; i < loop->batch_len; i++)
        if (loop->batch[i].data.ptr == io)
            loop->batch[i].data.ptr = NULL;
}

static void wake_cb(void *arg, uint32_t events)
{
    (void)events;
    macula__loop *loop = arg;
    macula__command_queue_drain(&loop->commands);
}

int macula__loop_init(macula__loop *loop, macula_runtime *rt, size_t command_cap)
{
    memset(loop, 0, sizeof *loop);
    loop->rt = rt;
    macula__timer_heap_init(&loop->timers);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        return MACULA_ERR_IO;
    int rc = macula__command_queue_init(&loop->commands, command_cap);
    if (rc != 0) {
        close(loop->epfd);
        return rc;
    }
    loop->wake_io.fd = loop->commands.wake_fd;
    loop->wake_io.cb = wake_cb;
    loop->wake_io.arg = loop;
    rc = macula__io_start(loop, &loop->wake_io, EPOLLIN);
    if (rc != 0) {
        macula__command_queue_destroy(&loop->commands);
        close(loop->epfd);
        return rc;
    }
    loop->now = macula__clock_now();
    return 0;
}

void macula__loop_destroy(macula__loop *loop)
{
    macula__timer_heap_free(&loop->timers);
    macula__command_queue_destroy(&loop->commands);
    if (loop->epfd >= 0)
        close(loop->epfd);
    loop->epfd = -1;
}

uint64_t macula__loop_next_wait(macula__loop *loop)
{
    macula__timer *top = macula__timer_heap_top(&loop->timers);
    if (!top)
        return UINT64_MAX;
    uint64_t now = macula__clock_now();
    return top->deadline <= now ? 0 : top->deadline - now;
}

static void run_timers(macula__loop *loop)
{
    uint64_t now = macula__loop_update_now(loop);
    for (int runs = 0; runs < LOOP_MAX_TIMER_RUNS; runs++) {
        macula__timer *t = macula__timer_heap_top(&loop->timers);
        if (!t || t->deadline > now)
            break;
        macula__timer_heap_remove(&loop->timers, t);
        t->cb(t->arg);
    }
}

/* Waits with nanosecond precision where the kernel has epoll_pwait2 (5.11+),
 * so sub-millisecond QUIC timers (pacing, ACK delay) neither spin nor sleep
 * a whole extra millisecond. */
static int wait_events(macula__loop *loop, struct epoll_event *events, uint64_t timeout_ns)
{
    static int have_pwait2 = 1;
    if (have_pwait2 && timeout_ns != UINT64_MAX) {
        struct timespec ts;
        ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
        ts.tv_nsec = (long)(timeout_ns % 1000000000u);
        int n = epoll_pwait2(loop->epfd, events, LOOP_MAX_EVENTS, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        have_pwait2 = 0;
    }
    int ms;
    if (timeout_ns == UINT64_MAX)
        ms = -1;
    else if (timeout_ns / 1000000u >= INT32_MAX)
        ms = INT32_MAX;
    else
        ms = (int)((timeout_ns + 999999u) / 1000000u);
    return epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, ms);
}

int macula__loop_iterate(macula__loop *loop, uint64_t timeout_ns)
{
    struct epoll_event *events = loop->batch;
    uint64_t until_timer = macula__loop_next_wait(loop);
    if (until_timer < timeout_ns)
        timeout_ns = until_timer;
    int n = wait_events(loop, events, timeout_ns);
    if (n < 0) {
        if (errno != EINTR)
            return MACULA_ERR_IO;
        n = 0;
    }
    macula__loop_update_now(loop);
    loop->batch_len = n;
    for (int i = 0; i < n; i++) {
        macula__io *io = events[i].data.ptr;
        if (io)
            io->cb(io->arg, events[i].events);
    }
    loop->batch_len = 0;
    run_timers(loop);
    return 0;
}
