/* SPDX-License-Identifier: Apache-2.0 */
/* Shared pieces of the in-process peering tests over real QUIC: an event
 * recorder that any thread can wait on, a diagnostics recorder, identities,
 * numbered frames, and helpers that run code on the loop thread. Every test
 * program also arms alarm() so that a hang fails instead of blocking CI. */
#ifndef MACULA_TESTS_PEERING_UTIL_H
#define MACULA_TESTS_PEERING_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macula/peering.h"
#include "testutil.h"

/* --- time --- */
static inline uint64_t pt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void pt_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The start of every test program: a watchdog (alarm: a hang fails the
 * test instead of blocking CI), libsodium, and a fresh identity for each
 * `macula_identity **` given (NULL-terminated). 0, or -1. */
static inline int pt_begin(unsigned alarm_s, ...)
{
    alarm(alarm_s);
    if (macula_crypto_init() != 0)
        return -1;
    va_list ap;
    va_start(ap, alarm_s);
    macula_identity **slot;
    int rc = 0;
    while ((slot = va_arg(ap, macula_identity **)) != NULL)
        if (!(*slot = macula_identity_generate(NULL)))
            rc = -1;
    va_end(ap);
    return rc;
}

/* Frees the identities (NULL-terminated) and returns the exit status. */
static inline int pt_end(macula_identity **first, ...)
{
    va_list ap;
    va_start(ap, first);
    for (macula_identity **slot = first; slot; slot = va_arg(ap, macula_identity **))
        macula_identity_free(*slot);
    va_end(ap);
    return tu_summary();
}

/* A "black hole": a bound UDP socket on 127.0.0.1 that never reads, so a
 * QUIC dial towards it hears nothing. Returns the fd, sets *port. */
static inline int pt_black_hole(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* --- recorded events --- */
typedef struct pt_event {
    macula_event_type type;
    macula_peer peer;
    macula_disconnect_reason reason;
    char detail[256];
    int64_t refusal_code;
    int has_node_id;
    uint8_t node_id[MACULA_NODE_ID_LEN];
    char frame_type[32];
    uint64_t seq;      /* FRAME: the "seq" field, or UINT64_MAX */
    uint64_t thread;   /* FRAME: the "thread" field, or UINT64_MAX */
    char text[64];     /* FRAME: GOODBYE reason */
    size_t wire_len;
    uint64_t at_ms;
    /* the event's cause, peer_user and (DISCONNECTED) final_info */
    int cause;
    void *peer_user;
    int has_final;
    macula_peer_info final_info;
    int64_t stream; /* FRAME / STREAM_*: the stream */
    int origin, end;
    uint64_t code;
} pt_event;

typedef struct pt_recorder {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pt_event *ev;
    size_t n, cap;
    /* Optional: called on the loop thread after recording (e.g. to echo or
     * close); gets the live event. */
    void (*hook)(struct pt_recorder *r, macula_event *ev);
    void *hook_user;
    macula_runtime *rt;
} pt_recorder;

static inline void pt_recorder_init(pt_recorder *r, macula_runtime *rt)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->rt = rt;
}

static inline void pt_recorder_free(pt_recorder *r)
{
    free(r->ev);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

static inline uint64_t pt_frame_uint(const macula_frame *f, const char *key)
{
    uint64_t v;
    return f && macula_frame_get_uint(f, key, &v) == 0 ? v : UINT64_MAX;
}

static void pt_record(void *user, macula_event *ev)
{
    pt_recorder *r = user;
    pt_event e;
    memset(&e, 0, sizeof e);
    e.type = ev->type;
    e.peer = ev->peer;
    e.reason = ev->reason;
    snprintf(e.detail, sizeof e.detail, "%s", ev->detail ? ev->detail : "");
    e.refusal_code = ev->refusal_code;
    e.has_node_id = ev->has_peer_node_id;
    memcpy(e.node_id, ev->peer_node_id, MACULA_NODE_ID_LEN);
    e.seq = e.thread = UINT64_MAX;
    if (ev->frame) {
        const char *t = macula_frame_type(ev->frame);
        snprintf(e.frame_type, sizeof e.frame_type, "%s", t ? t : "");
        e.seq = pt_frame_uint(ev->frame, "seq");
        e.thread = pt_frame_uint(ev->frame, "thread");
        const char *s;
        size_t len;
        if (macula_frame_get_text(ev->frame, "reason", &s, &len) == 0)
            snprintf(e.text, sizeof e.text, "%.*s", (int)len, s);
    }
    e.wire_len = ev->wire_len;
    e.stream = ev->stream;
    e.origin = (int)ev->stream_origin;
    e.end = (int)ev->stream_end;
    e.code = ev->stream_code;
    e.at_ms = pt_now_ms();
    e.cause = ev->cause;
    e.peer_user = ev->peer_user;
    if (ev->final_info) {
        e.has_final = 1;
        e.final_info = *ev->final_info;
    }
    pthread_mutex_lock(&r->mu);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        pt_event *n = realloc(r->ev, cap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&r->mu);
            return;
        }
        r->ev = n;
        r->cap = cap;
    }
    r->ev[r->n++] = e;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (r->hook)
        r->hook(r, ev);
}

/* Events of `type` for `peer` (0 = any peer). Under the lock. */
static inline size_t pt_count_locked(pt_recorder *r, macula_peer peer, macula_event_type type)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->ev[i].type == type && (!peer || r->ev[i].peer == peer))
            n++;
    return n;
}

static inline size_t pt_count(pt_recorder *r, macula_peer peer, macula_event_type type)
{
    pthread_mutex_lock(&r->mu);
    size_t n = pt_count_locked(r, peer, type);
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Waits until at least `n` events of `type` for `peer` (0 = any) were
 * recorded; 1 when they were, 0 on timeout. */
static inline int pt_wait(pt_recorder *r, macula_peer peer, macula_event_type type, size_t n, unsigned timeout_ms)
{
    uint64_t deadline = pt_now_ms() + timeout_ms;
    pthread_mutex_lock(&r->mu);
    while (pt_count_locked(r, peer, type) < n) {
        uint64_t now = pt_now_ms();
        if (now >= deadline)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wait = deadline - now < 50 ? deadline - now : 50;
        ts.tv_nsec += (long)wait * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    int ok = pt_count_locked(r, peer, type) >= n;
    pthread_mutex_unlock(&r->mu);
    if (!ok)
        fprintf(stderr, "  timed out waiting for %zu event(s) of type %d (peer serial %llu)\n", n, (int)type,
                (unsigned long long)macula_peer_serial(peer));
    return ok;
}

/* A copy of the last event of `type` for `peer` (0 = any); 1 if found. */
static inline int pt_last(pt_recorder *r, macula_peer peer, macula_event_type type, pt_event *out)
{
    int found = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = r->n; i-- > 0;) {
        if (r->ev[i].type == type && (!peer || r->ev[i].peer == peer)) {
            *out = r->ev[i];
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return found;
}

/* Waits for the DISCONNECTED of `peer` and checks its reason; prints what
 * came instead. */
static inline int pt_disconnected_with(pt_recorder *r, macula_peer peer, macula_disconnect_reason reason,
                                       unsigned timeout_ms, pt_event *out)
{
    pt_event e;
    if (!pt_wait(r, peer, MACULA_EVENT_DISCONNECTED, 1, timeout_ms))
        return 0;
    pt_last(r, peer, MACULA_EVENT_DISCONNECTED, &e);
    if (out)
        *out = e;
    if (e.reason != reason) {
        fprintf(stderr, "  peer %llu: disconnected %s (%s), expected %s\n", (unsigned long long)macula_peer_serial(peer),
                macula_disconnect_reason_name(e.reason), e.detail, macula_disconnect_reason_name(reason));
        return 0;
    }
    return 1;
}

/* pt_disconnected_with, and the event's cause must be `cause`. */
static inline int pt_disconnected_cause(pt_recorder *r, macula_peer peer, macula_disconnect_reason reason, int cause,
                                        unsigned timeout_ms, pt_event *out)
{
    pt_event e;
    if (!pt_disconnected_with(r, peer, reason, timeout_ms, &e))
        return 0;
    if (out)
        *out = e;
    if (e.cause != cause) {
        fprintf(stderr, "  peer %llu: disconnected %s (%s) with cause %s, expected %s\n",
                (unsigned long long)macula_peer_serial(peer), macula_disconnect_reason_name(e.reason), e.detail,
                macula_err_name(e.cause), macula_err_name(cause));
        return 0;
    }
    return 1;
}

/* Checks the per-peer promises on everything recorded: CONNECTED at most
 * once and first, FRAME only after it, exactly one DISCONNECTED and last.
 * `expect_disc`: every peer seen must have ended. Returns problems found. */
static inline int pt_check_promises(pt_recorder *r, int expect_disc)
{
    int problems = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        macula_peer p = r->ev[i].peer;
        int seen_before = 0;
        for (size_t j = 0; j < i; j++)
            if (r->ev[j].peer == p)
                seen_before = 1;
        if (seen_before)
            continue;
        int connected = 0, disc = 0;
        for (size_t j = i; j < r->n; j++) {
            if (r->ev[j].peer != p)
                continue;
            if (disc) {
                fprintf(stderr, "  peer %llu: event %d after DISCONNECTED\n", (unsigned long long)macula_peer_serial(p),
                        (int)r->ev[j].type);
                problems++;
            }
            switch (r->ev[j].type) {
            case MACULA_EVENT_CONNECTED:
                if (connected++)
                    problems++;
                break;
            case MACULA_EVENT_FRAME:
            case MACULA_EVENT_SEND_READY:
                if (!connected)
                    problems++;
                break;
            case MACULA_EVENT_DISCONNECTED:
                disc++;
                break;
            default:
                break;
            }
        }
        if (disc > 1 || (expect_disc && disc != 1)) {
            fprintf(stderr, "  peer %llu: %d DISCONNECTED events\n", (unsigned long long)macula_peer_serial(p), disc);
            problems++;
        }
        /* Streams: each STREAM_OPENED once, then its frames, then exactly
         * one STREAM_CLOSED, all before DISCONNECTED. */
        for (size_t j = i; j < r->n; j++) {
            if (r->ev[j].peer != p || r->ev[j].type != MACULA_EVENT_STREAM_OPENED)
                continue;
            int opened = 0, closed = 0, after = 0, ended = 0;
            for (size_t k = i; k < r->n; k++) {
                pt_event *e = &r->ev[k];
                if (e->peer != p)
                    continue;
                if (e->type == MACULA_EVENT_DISCONNECTED)
                    ended = 1;
                if (e->stream != r->ev[j].stream)
                    continue;
                if (e->type == MACULA_EVENT_STREAM_OPENED)
                    opened++;
                else if (e->type == MACULA_EVENT_STREAM_CLOSED)
                    closed += !ended;
                else if (e->type == MACULA_EVENT_FRAME && (closed || k < j))
                    after++;
            }
            if (opened != 1 || (expect_disc && closed != 1) || closed > 1 || after) {
                fprintf(stderr, "  peer %llu stream %lld: opened %d, closed %d before DISCONNECTED, %d frames outside\n",
                        (unsigned long long)macula_peer_serial(p), (long long)r->ev[j].stream, opened, closed, after);
                problems++;
            }
        }
    }
    pthread_mutex_unlock(&r->mu);
    return problems;
}

/* --- diagnostics recorder (one per runtime) --- */
typedef struct pt_diags {
    pthread_mutex_t mu;
    char **lines;
    size_t n, cap;
} pt_diags;

static void pt_diag(void *user, const char *event, const macula_diag_field *fields, size_t n)
{
    pt_diags *d = user;
    char line[1024];
    size_t off = (size_t)snprintf(line, sizeof line, "%s", event);
    for (size_t i = 0; i < n && off < sizeof line; i++)
        off += (size_t)snprintf(line + off, sizeof line - off, " %s=%s", fields[i].key, fields[i].value);
    pthread_mutex_lock(&d->mu);
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        char **nl = realloc(d->lines, cap * sizeof *nl);
        if (nl) {
            d->lines = nl;
            d->cap = cap;
        }
    }
    if (d->n < d->cap)
        d->lines[d->n++] = strdup(line);
    pthread_mutex_unlock(&d->mu);
}

static inline void pt_diags_init(pt_diags *d)
{
    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
}

static inline void pt_diags_free(pt_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->lines[i]);
    free(d->lines);
    pthread_mutex_destroy(&d->mu);
}

/* 1 when a diagnostic line contains every one of the NULL-terminated
 * needles. */
static inline int pt_has_diag(pt_diags *d, const char *needle, const char *needle2)
{
    int found = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->n && !found; i++)
        if (d->lines[i] && strstr(d->lines[i], needle) && (!needle2 || strstr(d->lines[i], needle2)))
            found = 1;
    pthread_mutex_unlock(&d->mu);
    return found;
}

/* A runtime with a diagnostics recorder, started on its own thread. */
static inline macula_runtime *pt_runtime(pt_diags *d, uint32_t shutdown_ms)
{
    macula_runtime_options o;
    macula_runtime_options_init(&o);
    if (d) {
        o.diag = pt_diag;
        o.diag_user = d;
    }
    if (shutdown_ms)
        o.shutdown_timeout_ms = shutdown_ms;
    macula_runtime *rt = macula_runtime_new(&o, NULL);
    if (rt && macula_runtime_start(rt) != 0) {
        macula_runtime_free(rt);
        return NULL;
    }
    return rt;
}

/* --- one test case's runtime, diagnostics and recorders --- */
/* A runtime started on its own thread, its diagnostics recorded into `d`,
 * and each recorder given (NULL-terminated) set up on it. NULL (nothing
 * to undo but `d`) when the runtime cannot start. */
static inline macula_runtime *pt_case_begin(pt_diags *d, uint32_t shutdown_ms, ...)
{
    pt_diags_init(d);
    macula_runtime *rt = pt_runtime(d, shutdown_ms);
    if (!rt)
        return NULL;
    va_list ap;
    va_start(ap, shutdown_ms);
    for (pt_recorder *r; (r = va_arg(ap, pt_recorder *)) != NULL;)
        pt_recorder_init(r, rt);
    va_end(ap);
    return rt;
}

/* The end of a case, once its runtimes are freed (so every peer has
 * ended): each recorder given (NULL-terminated) must have kept the
 * per-peer promises (pt_check_promises, every peer ended); then the
 * recorders and `d` are freed. */
static inline void pt_case_end(pt_diags *d, ...)
{
    va_list ap;
    va_start(ap, d);
    for (pt_recorder *r; (r = va_arg(ap, pt_recorder *)) != NULL;) {
        CHECK_EQ_INT(pt_check_promises(r, 1), 0);
        pt_recorder_free(r);
    }
    va_end(ap);
    pt_diags_free(d);
}

/* --- running code on the loop thread and waiting for it --- */
typedef struct pt_call {
    void (*fn)(void *arg);
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} pt_call;

static void pt_call_trampoline(void *arg)
{
    pt_call *c = arg;
    c->fn(c->arg);
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static inline int pt_on_loop(macula_runtime *rt, void (*fn)(void *arg), void *arg)
{
    pt_call c;
    c.fn = fn;
    c.arg = arg;
    c.done = 0;
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    int rc = macula_runtime_post(rt, pt_call_trampoline, &c);
    if (rc == 0) {
        pthread_mutex_lock(&c.mu);
        while (!c.done)
            pthread_cond_wait(&c.cv, &c.mu);
        pthread_mutex_unlock(&c.mu);
    }
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
    return rc;
}

/* --- listeners and peers --- */
typedef struct pt_listen_args {
    macula_runtime *rt;
    macula_listener_options *opts;
    macula_listener *l;
    int err;
    const char *errmsg;
} pt_listen_args;

static void pt_listen_cb(void *arg)
{
    pt_listen_args *a = arg;
    a->l = macula_listener_new(a->rt, a->opts, &a->err, &a->errmsg);
}

/* Creates a listener on the loop thread (127.0.0.1, port 0). */
static inline macula_listener *pt_listen(macula_runtime *rt, macula_listener_options *o)
{
    pt_listen_args a = {rt, o, NULL, 0, NULL};
    if (!o->bind_host)
        o->bind_host = "127.0.0.1";
    pt_on_loop(rt, pt_listen_cb, &a);
    if (!a.l)
        fprintf(stderr, "  listener: %s (%s)\n", macula_strerror(a.err), a.errmsg ? a.errmsg : "");
    return a.l;
}

/* An automatic listener (127.0.0.1, port 0, certificate over `id`): every
 * connection gets a server worker with the options `so` (copied). */
static inline macula_listener *pt_listen_auto(macula_runtime *rt, const macula_identity *id,
                                              const macula_peer_options *so)
{
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    lo.identity = id;
    lo.auto_accept = so;
    return pt_listen(rt, &lo);
}

static void pt_listener_close_cb(void *arg) { macula_listener_close(arg); }

static inline void pt_listener_close(macula_runtime *rt, macula_listener *l)
{
    pt_on_loop(rt, pt_listener_close_cb, l);
}

/* Server worker options recording into r (identity: the listener's). */
static inline void pt_server_options(macula_peer_options *o, pt_recorder *r)
{
    macula_peer_options_init(o);
    o->handler = pt_record;
    o->handler_user = r;
}

/* Client options towards 127.0.0.1:port, recording into r. */
static inline void pt_client_options(macula_peer_options *o, const macula_identity *id, pt_recorder *r,
                                     uint16_t port)
{
    macula_peer_options_init(o);
    o->identity = id;
    o->handler = pt_record;
    o->handler_user = r;
    o->host = "127.0.0.1";
    o->port = port;
}

static inline macula_peer pt_connect(macula_runtime *rt, const macula_peer_options *o)
{
    int err = 0;
    const char *msg = NULL;
    macula_peer p = macula_peer_connect(rt, o, &err, &msg);
    if (!p)
        fprintf(stderr, "  connect: %s (%s)\n", macula_strerror(err), msg ? msg : "");
    return p;
}

/* A signed-later PUBLISH-like frame with "seq" and "thread". */
static inline macula_frame *pt_numbered(uint64_t thread, uint64_t seq, size_t payload_len)
{
    macula_frame *f = macula_frame_new("publish", NULL);
    if (!f)
        return NULL;
    macula_frame_put_uint(f, "seq", seq);
    macula_frame_put_uint(f, "thread", thread);
    if (payload_len) {
        uint8_t *p = calloc(1, payload_len);
        if (p) {
            for (size_t i = 0; i < payload_len; i++)
                p[i] = (uint8_t)(seq + i);
            macula_frame_put_bytes(f, "payload", p, payload_len);
            free(p);
        }
    }
    return f;
}

/* Checks that the FRAME events of `peer` carry, per "thread", the seqs
 * 0..n-1 in order; returns the number of frames seen (or -1 on a gap). */
static inline long pt_frames_in_order(pt_recorder *r, macula_peer peer, uint64_t threads, uint64_t n)
{
    uint64_t *next = calloc(threads, sizeof *next);
    long total = 0;
    int bad = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        pt_event *e = &r->ev[i];
        if (e->type != MACULA_EVENT_FRAME || e->peer != peer || strcmp(e->frame_type, "publish") != 0)
            continue;
        uint64_t t = e->thread == UINT64_MAX ? 0 : e->thread;
        if (t >= threads || e->seq != next[t]) {
            if (!bad)
                fprintf(stderr, "  frame out of order: thread %llu seq %llu, expected %llu\n", (unsigned long long)t,
                        (unsigned long long)e->seq, t < threads ? (unsigned long long)next[t] : 0ull);
            bad = 1;
            continue;
        }
        next[t]++;
        total++;
    }
    pthread_mutex_unlock(&r->mu);
    for (uint64_t t = 0; t < threads; t++)
        if (next[t] != n)
            bad = 1;
    free(next);
    return bad ? -1 : total;
}

#endif
