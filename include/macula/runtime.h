/* SPDX-License-Identifier: Apache-2.0 */
/*
 * macula-c: the runtime. One event loop (epoll, a timer heap and a
 * cross-thread command queue) that drives every QUIC endpoint, connection
 * and peering worker created on it.
 *
 * Threads: the loop runs on exactly one thread at a time, the "loop
 * thread": the thread inside macula_runtime_run(), the internal thread
 * started by macula_runtime_start(), or whichever thread calls
 * macula_runtime_process() when the runtime is embedded in another loop.
 * Every callback the library makes (events, diagnostics) runs on the loop
 * thread. Functions documented "any thread" may be called concurrently
 * from any thread; all others are loop-thread only.
 *
 * Enforced (a wrong call is refused, never run):
 *  - One runner at a time: run(), start() and process() claim the loop;
 *    while another claim holds (a second run() or process() on any thread,
 *    also from inside a callback; run() or process() after start(); a
 *    second start()) the call returns MACULA_ERR_STATE.
 *  - join() from a callback (or on the internal thread) returns
 *    MACULA_ERR_STATE.
 *  - free() from a callback, or while another thread is inside run() or
 *    process(), does nothing but report an "api_misuse" diagnostic (fields
 *    call, error, why): the runtime stays valid and must be freed later,
 *    from a proper thread. (After start() any other thread may free.)
 *  - Loop-thread-only functions of peering.h (listeners) refuse calls from
 *    another thread while a thread runs the loop: see peering.h. In
 *    embedded mode the thread that last called process() counts as the
 *    loop thread.
 * "api_misuse" diagnostics are delivered on the calling thread.
 *
 * Ownership: the creator owns the runtime and frees it with
 * macula_runtime_free() from a thread that is not the loop thread (or
 * after run() returned).
 */
#ifndef MACULA_RUNTIME_H
#define MACULA_RUNTIME_H

#include "macula/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct macula_runtime macula_runtime;

/* A structured diagnostic: an event name ("frame_dropped",
 * "handshake_timeout", "unexpected_event", ...) and key/value fields, all
 * borrowed for the duration of the call. Called on the loop thread. */
typedef struct macula_diag_field {
    const char *key;
    const char *value;
} macula_diag_field;
typedef void (*macula_diag_fn)(void *user, const char *event, const macula_diag_field *fields, size_t n_fields);

typedef struct macula_runtime_options {
    /* ABI: set by macula_runtime_options_init() (common.h, "ABI rules"). */
    size_t struct_size;
    /* Upper bound for a graceful shutdown (GOODBYE + drain). Default 5000. */
    uint32_t shutdown_timeout_ms;
    /* Commands queued from other threads beyond this are refused with
     * MACULA_ERR_QUEUE_FULL. Default 1,048,576. */
    size_t command_queue_cap;
    /* Optional diagnostics hook. */
    macula_diag_fn diag;
    void *diag_user;

    /* --- release 2 (a struct_size of release 1 reads these as their
     * defaults) --- */
    /* Diagnostics rate limit (added for issue 11).
     * One token bucket per diagnostic name: at most diag_burst lines at
     * once, refilled at diag_rate_per_sec per second. Lines beyond are not
     * delivered but counted; the next delivered line of that name carries
     * an extra field "suppressed" with the count (so a flood of hostile
     * packets gives a bounded log that still says how big it was). 64
     * names are tracked separately, any further ones share one bucket.
     * macula_runtime_options_init sets 20 per second, burst 100;
     * diag_rate_per_sec 0 = no limit. */
    uint32_t diag_rate_per_sec;
    uint32_t diag_burst;
    /* Bytes that partial inbound frames of all peers together may hold
     * (each peer also has its own recv_budget, peering.h); a peer whose
     * partial frames would take more ends with MACULA_DISC_RECV_BUDGET.
     * 0 = 256 MiB (sized for a 2-vCPU, ~4 GB box); SIZE_MAX = no cap. */
    size_t peer_recv_budget;
    /* Bytes of frames queued towards all peers together (each peer also
     * has its own send_queue_cap): beyond it macula_peer_send_frame /
     * send_wire answer MACULA_ERR_QUEUE_FULL, as for one peer's cap. Bytes
     * QUIC has taken are not counted (each stream's QUIC queue is bounded
     * by macula_quic_settings.send_queue_cap). 0 = 256 MiB; SIZE_MAX = no
     * cap. */
    size_t peer_send_budget;
} macula_runtime_options;

/* Fills `o` with the defaults and records its size (common.h, "ABI
 * rules"); call it through the macro. Any thread. */
MACULA_API void macula_runtime_options_init_sized(macula_runtime_options *o, size_t struct_size);
#define macula_runtime_options_init(o) macula_runtime_options_init_sized((o), sizeof *(o))

/* `opts` may be NULL (defaults); it is copied. MACULA_ERR_INVALID_ARG
 * when opts->struct_size is not a known size. */
MACULA_API macula_runtime *macula_runtime_new(const macula_runtime_options *opts, int *err);

/* Runs the loop on the calling thread until the runtime has stopped
 * (macula_runtime_stop() and the graceful shutdown finished).
 * MACULA_ERR_STATE when another runner holds the loop (see Threads); 0 at
 * once when the runtime has already ended. */
MACULA_API int macula_runtime_run(macula_runtime *rt);
/* Runs the loop on an internal thread; returns at once. MACULA_ERR_STATE
 * when started before or another runner holds the loop. */
MACULA_API int macula_runtime_start(macula_runtime *rt);
/* Any thread. Begins a graceful shutdown: every connected peer gets a
 * GOODBYE and drains, every QUIC connection closes, then the loop ends.
 * It finishes within shutdown_timeout_ms. Idempotent. */
MACULA_API int macula_runtime_stop(macula_runtime *rt);
/* Any thread but the loop thread: waits until the internal thread started
 * by macula_runtime_start() has ended (0 at once when it was not started).
 * MACULA_ERR_STATE from a callback. */
MACULA_API int macula_runtime_join(macula_runtime *rt);
/* Stops (if needed), joins, releases everything. Not on the loop thread
 * and not while another thread is inside run() / process(): such a call
 * is ignored (an "api_misuse" diagnostic). */
MACULA_API void macula_runtime_free(macula_runtime *rt);

/* --- embedding in another event loop --- */
/* A file descriptor that becomes readable when the runtime has work. */
MACULA_API int macula_runtime_fd(const macula_runtime *rt);
/* Does all work that is ready, without blocking. Returns 1 while the
 * runtime is alive, 0 once it has stopped, or a negative error
 * (MACULA_ERR_STATE while another runner holds the loop, or from inside a
 * callback of this very call). */
MACULA_API int macula_runtime_process(macula_runtime *rt);
/* Milliseconds until the next timer (0 = work is ready, -1 = none). */
MACULA_API int macula_runtime_next_timeout_ms(const macula_runtime *rt);

/* Any thread: run fn(arg) on the loop thread soon. */
MACULA_API int macula_runtime_post(macula_runtime *rt, void (*fn)(void *arg), void *arg);
/* 1 when called on the loop thread. */
MACULA_API int macula_runtime_on_loop_thread(const macula_runtime *rt);

#ifdef __cplusplus
}
#endif
#endif /* MACULA_RUNTIME_H */
