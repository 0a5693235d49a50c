/* SPDX-License-Identifier: Apache-2.0 */
/* The mailbox of peering.h: a bounded, thread-safe FIFO of deep-copied
 * events with an eventfd that is readable exactly while events are queued
 * (so a program can poll it next to its own descriptors). Bounded by a
 * count and a byte budget; when either is reached, FRAME events are either
 * dropped (MACULA_MAILBOX_DROP_WHEN_FULL) or still queued while the runtime
 * stops reading from the peer until pops bring the mailbox down to half of
 * both (back-pressure, mailbox.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "frame/frame_internal.h"
#include "frame/wire_check.h"
#include "peering/budget.h"
#include "peering/mailbox.h"
#include "peering/wirebuf.h"

#define MAILBOX_DEFAULT_MAX ((size_t)1 << 20)
#define MAILBOX_DEFAULT_MAX_BYTES ((size_t)64 << 20)

/* A popped event is the first member of its item, so that
 * macula_event_free() can find the whole allocation. */
typedef struct mb_item {
    macula_event ev;
    struct mb_item *next;
    macula_peer_info final_info; /* ev.final_info points here when set */
    char detail[];
} mb_item;

struct macula_mailbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int efd;
    mb_item *head, *tail;
    size_t count, max;
    uint64_t dropped;
    int closed; /* macula_mailbox_close(): no waiting, no new events */
    size_t bytes, max_bytes, peak_bytes; /* item_cost() of what is queued */
    unsigned flags;
    macula__mailbox_waiter *waiters; /* told once there is room again */
};

macula_frame *macula_event_frame(macula_event *ev)
{
    if (!ev || ev->type != MACULA_EVENT_FRAME)
        return NULL;
    if (!ev->frame && ev->lazy_ && ev->wire) {
        /* Checked on arrival, so only memory or the decode budget (the
         * default cap: the peer's own option is not at hand here) can
         * fail: a lazy decode is no way around the budget. */
        size_t body = ev->wire_len - MACULA_FRAME_HEADER_LEN;
        if (ev->wire_len < MACULA_FRAME_HEADER_LEN ||
            macula__frame_decode_body_budget(ev->wire + MACULA_FRAME_HEADER_LEN, body,
                                             macula__decode_budget(body, MACULA__DEFAULT_MAX_DECODE_BYTES),
                                             &ev->frame) != MACULA_OK)
            return NULL;
        macula__frame_mark_received(ev->frame);
        ev->lazy_ = 0;
    }
    return ev->frame;
}

const char *macula_event_frame_type(macula_event *ev)
{
    if (!ev || ev->type != MACULA_EVENT_FRAME)
        return NULL;
    if (ev->frame || !ev->lazy_ || !ev->wire || ev->wire_len < MACULA_FRAME_HEADER_LEN)
        return ev->frame ? macula_frame_type(ev->frame) : NULL;
    /* The common types are named without decoding; others need the frame. */
    static const char *const known[] = {"publish", "event", "call", "reply", "error", "goodbye", "subscribe",
                                        "unsubscribe", "connect", "hello", "ping", "pong"};
    const uint8_t *t;
    size_t n;
    if (macula__frame_body_text(ev->wire + MACULA_FRAME_HEADER_LEN, ev->wire_len - MACULA_FRAME_HEADER_LEN, "frame_type",
                                &t, &n)) {
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strlen(known[i]) == n && memcmp(known[i], t, n) == 0)
                return known[i];
    }
    macula_frame *f = macula_event_frame(ev);
    return f ? macula_frame_type(f) : NULL;
}
/* What an event counts against the byte budget: its frame's wire size
 * plus the item. */
static size_t item_cost(const macula_event *ev)
{
    return sizeof(mb_item) + (ev->frame || ev->wire ? ev->wire_len : 0); /* eager or lazy */
}

static int over(const macula_mailbox *mb) { return mb->count >= mb->max || mb->bytes >= mb->max_bytes; }

macula_frame *macula_event_take_frame(macula_event *ev)
{
    if (!ev)
        return NULL;
    macula_frame *f = macula_event_frame(ev);
    ev->frame = NULL;
    return f;
}

void macula_event_free(macula_event *ev)
{
    if (!ev)
        return;
    mb_item *it = (mb_item *)(void *)ev;
    macula_frame_free(it->ev.frame);
    macula__wirebuf_unref(it->ev.wire_ref_);
    free(it);
}

macula_mailbox *macula_mailbox_new(size_t max_events, int *err)
{
    return macula_mailbox_new_budget(max_events, 0, 0, err);
}

macula_mailbox *macula_mailbox_new_budget(size_t max_events, size_t max_bytes, unsigned flags, int *err)
{
    if (flags & ~(unsigned)MACULA_MAILBOX_DROP_WHEN_FULL) {
        if (err)
            *err = MACULA_ERR_INVALID_ARG;
        return NULL;
    }
    macula_mailbox *mb = calloc(1, sizeof *mb);
    if (!mb) {
        if (err)
            *err = MACULA_ERR_NOMEM;
        return NULL;
    }
    mb->max = max_events ? max_events : MAILBOX_DEFAULT_MAX;
    mb->max_bytes = max_bytes ? max_bytes : MAILBOX_DEFAULT_MAX_BYTES;
    mb->flags = flags;
    mb->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_condattr_t ca;
    int ok = mb->efd >= 0 && pthread_condattr_init(&ca) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&mb->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
        if (ok && pthread_mutex_init(&mb->mu, NULL) != 0) {
            pthread_cond_destroy(&mb->cv);
            ok = 0;
        }
    }
    if (!ok) {
        if (mb->efd >= 0)
            close(mb->efd);
        free(mb);
        if (err)
            *err = MACULA_ERR_IO;
        return NULL;
    }
    if (err)
        *err = MACULA_OK;
    return mb;
}

void macula_mailbox_free(macula_mailbox *mb)
{
    if (!mb)
        return;
    mb_item *it = mb->head;
    while (it) {
        mb_item *next = it->next;
        macula_event_free(&it->ev);
        it = next;
    }
    for (macula__mailbox_waiter *w = mb->waiters; w;) {
        macula__mailbox_waiter *next = w->next;
        w->fn(w, 0);
        w = next;
    }
    close(mb->efd);
    pthread_cond_destroy(&mb->cv);
    pthread_mutex_destroy(&mb->mu);
    free(mb);
}

int macula_mailbox_fd(const macula_mailbox *mb) { return mb ? mb->efd : -1; }

/* The eventfd counter is 1 while events are queued and 0 otherwise; both
 * changes happen under the lock so that the two never disagree. */
static void efd_set(macula_mailbox *mb)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(mb->efd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
}

static void efd_clear(macula_mailbox *mb)
{
    uint64_t v;
    ssize_t n;
    do
        n = read(mb->efd, &v, sizeof v);
    while (n < 0 && errno == EINTR);
}

int macula__mailbox_push(macula_mailbox *mb, macula_event *ev) { return macula__mailbox_push_bp(mb, ev, NULL); }

int macula__mailbox_push_bp(macula_mailbox *mb, macula_event *ev, macula__mailbox_waiter *waiter)
{
    if (!mb || !ev)
        return MACULA_ERR_INVALID_ARG;
    const char *detail = ev->detail ? ev->detail : "";
    size_t dlen = strlen(detail);
    mb_item *it = malloc(sizeof *it + dlen + 1);
    if (!it)
        return MACULA_ERR_NOMEM;
    pthread_mutex_lock(&mb->mu);
    if (mb->closed) {
        pthread_mutex_unlock(&mb->mu);
        free(it);
        return MACULA_ERR_SHUTDOWN;
    }
    /* Only FRAME events count against the cap: the others are few (at most
     * four per peer, SEND_READY included) and must never be lost. */
    if (ev->type == MACULA_EVENT_FRAME && (mb->flags & MACULA_MAILBOX_DROP_WHEN_FULL) && over(mb)) {
        mb->dropped++;
        pthread_mutex_unlock(&mb->mu);
        free(it);
        return MACULA_ERR_QUEUE_FULL;
    }
    size_t cost = item_cost(ev);
    it->ev = *ev;
    memcpy(it->detail, detail, dlen + 1);
    it->ev.detail = it->detail;
    it->ev.frame = ev->frame; /* moved as is: a lazy event stays lazy */
    ev->frame = NULL;
    ev->wire_ref_ = NULL; /* the reference moves too; `wire` stays valid through it */
    if (ev->final_info) {
        it->final_info = *ev->final_info;
        it->ev.final_info = &it->final_info;
    }
    it->next = NULL;
    if (mb->tail)
        mb->tail->next = it;
    else
        mb->head = it;
    mb->tail = it;
    if (mb->count++ == 0)
        efd_set(mb);
    mb->bytes += cost;
    if (mb->bytes > mb->peak_bytes)
        mb->peak_bytes = mb->bytes;
    int full = ev->type == MACULA_EVENT_FRAME && !(mb->flags & MACULA_MAILBOX_DROP_WHEN_FULL) && over(mb);
    if (full && waiter) { /* registered under the lock: no pop can slip between */
        waiter->next = mb->waiters;
        mb->waiters = waiter;
    }
    pthread_cond_signal(&mb->cv);
    pthread_mutex_unlock(&mb->mu);
    return full ? MACULA__MAILBOX_FULL : 0;
}

void macula_mailbox_handler(void *mailbox, macula_event *ev)
{
    /* A drop is counted in the mailbox (macula__mailbox_dropped); the
     * runtime glue pushes directly to count it per peer as well. */
    (void)macula__mailbox_push(mailbox, ev);
}

void macula_mailbox_close(macula_mailbox *mb)
{
    if (!mb)
        return;
    pthread_mutex_lock(&mb->mu);
    macula__mailbox_waiter *wake = NULL;
    if (!mb->closed) {
        mb->closed = 1;
        /* Readable from now on, so that pollers notice too. */
        if (mb->count == 0)
            efd_set(mb);
        pthread_cond_broadcast(&mb->cv);
        /* Paused peers read again: what they deliver is now refused
         * ("mailbox_closed") instead of waiting for pops that may never
         * come. */
        wake = mb->waiters;
        mb->waiters = NULL;
    }
    pthread_mutex_unlock(&mb->mu);
    while (wake) {
        macula__mailbox_waiter *next = wake->next;
        wake->fn(wake, 1);
        wake = next;
    }
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

macula_event *macula_mailbox_pop(macula_mailbox *mb, int timeout_ms)
{
    if (!mb)
        return NULL;
    struct timespec deadline;
    if (timeout_ms > 0)
        deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&mb->mu);
    while (!mb->head && timeout_ms != 0 && !mb->closed) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&mb->cv, &mb->mu);
        } else if (pthread_cond_timedwait(&mb->cv, &mb->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    mb_item *it = mb->head;
    macula__mailbox_waiter *wake = NULL;
    if (it) {
        mb->head = it->next;
        if (!mb->head)
            mb->tail = NULL;
        if (--mb->count == 0 && !mb->closed)
            efd_clear(mb);
        it->next = NULL;
        size_t cost = item_cost(&it->ev);
        mb->bytes = cost > mb->bytes ? 0 : mb->bytes - cost;
        /* Resume at half of both caps, not at the first free byte, so that
         * a paused peer is resumed once per half-mailbox, not per pop. */
        if (mb->waiters && mb->count <= mb->max / 2 && mb->bytes <= mb->max_bytes / 2) {
            wake = mb->waiters;
            mb->waiters = NULL;
        }
    }
    pthread_mutex_unlock(&mb->mu);
    while (wake) { /* outside the lock: they post to runtimes */
        macula__mailbox_waiter *next = wake->next;
        wake->fn(wake, 1);
        wake = next;
    }
    return it ? &it->ev : NULL;
}

uint64_t macula__mailbox_dropped(macula_mailbox *mb)
{
    pthread_mutex_lock(&mb->mu);
    uint64_t n = mb->dropped;
    pthread_mutex_unlock(&mb->mu);
    return n;
}

size_t macula__mailbox_count(macula_mailbox *mb)
{
    pthread_mutex_lock(&mb->mu);
    size_t n = mb->count;
    pthread_mutex_unlock(&mb->mu);
    return n;
}

size_t macula__mailbox_bytes(macula_mailbox *mb, size_t *peak)
{
    pthread_mutex_lock(&mb->mu);
    size_t n = mb->bytes;
    if (peak)
        *peak = mb->peak_bytes;
    pthread_mutex_unlock(&mb->mu);
    return n;
}
