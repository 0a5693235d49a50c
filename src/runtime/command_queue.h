/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the runtime's cross-thread command queue. Any thread pushes
 * (fn, arg) pairs under a mutex; the loop thread drains them. The ring
 * grows on demand up to a cap (then MACULA_ERR_QUEUE_FULL) and an eventfd
 * wakes the loop when the queue turns non-empty, so a burst of posts costs
 * one wake-up.
 */
#ifndef MACULA_RUNTIME_COMMAND_QUEUE_H
#define MACULA_RUNTIME_COMMAND_QUEUE_H

#include <pthread.h>
#include <stddef.h>

typedef struct macula__command {
    void (*fn)(void *arg);
    void *arg;
} macula__command;

typedef struct macula__command_queue {
    pthread_mutex_t mu;
    macula__command *ring;
    size_t head, len, cap, max;
    int wake_fd;     /* eventfd, non-blocking */
    int wake_armed;  /* an eventfd write is outstanding */
} macula__command_queue;

int macula__command_queue_init(macula__command_queue *q, size_t max);
void macula__command_queue_destroy(macula__command_queue *q);
/* Any thread. 0, MACULA_ERR_QUEUE_FULL or MACULA_ERR_NOMEM. */
int macula__command_queue_push(macula__command_queue *q, void (*fn)(void *arg), void *arg);
/* Loop thread: runs the commands queued when the call began (commands they
 * post run on a later drain, so a self-reposting command cannot starve the
 * loop). Returns how many ran. */
size_t macula__command_queue_drain(macula__command_queue *q);
/* Commands waiting. */
size_t macula__command_queue_pending(macula__command_queue *q);

#endif
