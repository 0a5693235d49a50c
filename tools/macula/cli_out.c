/* SPDX-License-Identifier: Apache-2.0 */
/* The writer thread behind `macula listen`'s output (cli_out.h). */
#include "cli_out.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct out_line {
    struct out_line *next;
    uint64_t dropped_before; /* lines dropped just before this one */
    size_t len;
    char text[];
} out_line;

struct cli_out {
    int fd;
    size_t cap, bytes;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    out_line *head, *tail;
    uint64_t pending_drops, total_drops;
    int stopping, done;
    pthread_t thread;
};

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* reader gone: nothing more can be said */
        p += w;
        n -= (size_t)w;
    }
}

static void write_drops(int fd, uint64_t n)
{
    char buf[64];
    int k = snprintf(buf, sizeof buf, "{\"event\":\"lines_dropped\",\"count\":%llu}\n", (unsigned long long)n);
    write_all(fd, buf, (size_t)k);
}

static void *writer(void *arg)
{
    cli_out *o = arg;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->head && !o->stopping)
            pthread_cond_wait(&o->cv, &o->mu);
        out_line *l = o->head;
        if (!l) { /* stopping and empty */
            uint64_t d = o->pending_drops;
            o->pending_drops = 0;
            pthread_mutex_unlock(&o->mu);
            if (d)
                write_drops(o->fd, d);
            pthread_mutex_lock(&o->mu);
            o->done = 1;
            pthread_cond_broadcast(&o->cv);
            pthread_mutex_unlock(&o->mu);
            return NULL;
        }
        o->head = l->next;
        if (!o->head)
            o->tail = NULL;
        pthread_mutex_unlock(&o->mu);
        /* written without the lock: a stalled reader blocks this thread only */
        if (l->dropped_before)
            write_drops(o->fd, l->dropped_before);
        write_all(o->fd, l->text, l->len);
        pthread_mutex_lock(&o->mu);
        o->bytes -= l->len; /* room only once written: the cap bounds memory */
        free(l);
    }
}

cli_out *cli_out_start(int fd, size_t cap)
{
    cli_out *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->fd = fd;
    o->cap = cap ? cap : CLI_OUT_DEFAULT_CAP;
    pthread_mutex_init(&o->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&o->thread, NULL, writer, o) != 0) {
        pthread_cond_destroy(&o->cv);
        pthread_mutex_destroy(&o->mu);
        free(o);
        return NULL;
    }
    return o;
}

static void count_drop(cli_out *o)
{
    pthread_mutex_lock(&o->mu);
    o->pending_drops++;
    o->total_drops++;
    pthread_mutex_unlock(&o->mu);
}

void cli_out_line(cli_out *o, const char *line, size_t len)
{
    pthread_mutex_lock(&o->mu);
    int fits = len <= o->cap && o->bytes <= o->cap - len;
    pthread_mutex_unlock(&o->mu);
    out_line *l = fits ? malloc(sizeof *l + len) : NULL;
    if (!l) {
        count_drop(o);
        return;
    }
    memcpy(l->text, line, len);
    l->len = len;
    l->next = NULL;
    pthread_mutex_lock(&o->mu);
    if (o->bytes > o->cap - len) { /* filled meanwhile by another thread */
        o->pending_drops++;
        o->total_drops++;
        pthread_mutex_unlock(&o->mu);
        free(l);
        return;
    }
    l->dropped_before = o->pending_drops;
    o->pending_drops = 0;
    o->bytes += len;
    if (o->tail)
        o->tail->next = l;
    else
        o->head = l;
    o->tail = l;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

FILE *cli_out_open_line(cli_out *o, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *m = open_memstream(buf, len);
    if (!m)
        count_drop(o);
    return m;
}

void cli_out_flush_line(cli_out *o, FILE *m, char **buf, size_t *len)
{
    if (!m)
        return;
    if (fclose(m) == 0 && *buf)
        cli_out_line(o, *buf, *len);
    else
        count_drop(o);
    free(*buf);
    *buf = NULL;
}

uint64_t cli_out_dropped(cli_out *o)
{
    pthread_mutex_lock(&o->mu);
    uint64_t n = o->total_drops;
    pthread_mutex_unlock(&o->mu);
    return n;
}

void cli_out_stop(cli_out *o)
{
    if (!o)
        return;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += CLI_OUT_STOP_WAIT_S;
    pthread_mutex_lock(&o->mu);
    o->stopping = 1;
    pthread_cond_broadcast(&o->cv);
    int timed_out = 0;
    while (!o->done && !timed_out)
        timed_out = pthread_cond_timedwait(&o->cv, &o->mu, &until) == ETIMEDOUT;
    pthread_mutex_unlock(&o->mu);
    if (timed_out) {
        /* The reader is stuck: leave the thread (blocked in write) and its
         * queue to the process's exit rather than hang it. */
        pthread_detach(o->thread);
        return;
    }
    pthread_join(o->thread, NULL);
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->mu);
    free(o);
}
