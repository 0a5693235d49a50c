/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded cross-thread command queue woken by an eventfd (see command_queue.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "macula/common.h"
#include "runtime/command_queue.h"

int macula__command_queue_init(macula__command_queue *q, size_t max)
{
    q->ring = NULL;
    q->head = q->len = q->cap = 0;
    q->max = max ? max : 1;
    q->wake_armed = 0;
    q->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->wake_fd < 0)
        return MACULA_ERR_IO;
    if (pthread_mutex_init(&q->mu, NULL) != 0) {
        close(q->wake_fd);
        return MACULA_ERR_INTERNAL;
    }
    return 0;
}

void macula__command_queue_destroy(macula__command_queue *q)
{
    pthread_mutex_destroy(&q->mu);
    if (q->wake_fd >= 0)
        close(q->wake_fd);
    q->wake_fd = -1;
    free(q->ring);
    q->ring = NULL;
}

static int grow(macula__command_queue *q)
{
    size_t cap = q->cap ? q->cap * 2 : 256;
    if (cap > q->max)
        cap = q->max;
    macula__command *ring = malloc(cap * sizeof *ring);
    if (!ring)
        return MACULA_ERR_NOMEM;
    for (size_t i = 0; i < q->len; i++)
        ring[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int macula__command_queue_push(macula__command_queue *q, void (*fn)(void *arg), void *arg)
{
    int rc = 0, wake = 0;
    pthread_mutex_lock(&q->mu);
    if (q->len >= q->max) {
        rc = MACULA_ERR_QUEUE_FULL;
    } else if (q->len == q->cap && (rc = grow(q)) != 0) {
        /* rc set */
    } else {
        q->ring[(q->head + q->len) % q->cap] = (macula__command){fn, arg};
        q->len++;
        if (!q->wake_armed) {
            q->wake_armed = 1;
            wake = 1;
        }
    }
    pthread_mutex_unlock(&q->mu);
    if (wake) {
        uint64_t one = 1;
        /* EAGAIN means the counter is already non-zero: the loop will wake. */
        while (write(q->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
    return rc;
}

size_t macula__command_queue_drain(macula__command_queue *q)
{
    uint64_t count;
    while (read(q->wake_fd, &count, sizeof count) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&q->mu);
    size_t n = q->len;
    q->wake_armed = 0;
    pthread_mutex_unlock(&q->mu);
    size_t ran = 0;
    while (ran < n) {
        pthread_mutex_lock(&q->mu);
        macula__command c = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        pthread_mutex_unlock(&q->mu);
        c.fn(c.arg);
        ran++;
    }
    return ran;
}

size_t macula__command_queue_pending(macula__command_queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}
