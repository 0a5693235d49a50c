/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the connection worker of PROTOCOL.md §4, written sans-I/O.
 *
 * A worker is a pure state machine for one peer connection. It never calls
 * the transport, the clock or a handler itself: the runtime glue (the
 * "shell") feeds it inputs (transport events, API calls, timer expiry,
 * each with the current monotonic time in ns) and then executes the
 * actions it queued, in order, by calling macula__worker_poll() until it
 * returns 0. Every transition is therefore testable with a fake transport
 * and a fake clock (tests/unit/test_worker*.c).
 *
 * States: client CONNECTING -> HANDSHAKING -> CONNECTED -> DRAINING -> ENDED;
 * server AWAITING_START -> HANDSHAKING -> CONNECTED -> DRAINING -> ENDED.
 *
 * Promises (the public promises of peering.h rest on these):
 *  - Events, in action order: CONNECTED at most once, then FRAME for every
 *    inbound frame after the handshake frame, in stream order per stream
 *    (also those that came in the same read as CONNECT/HELLO), STREAM_OPENED
 *    and STREAM_CLOSED once per dedicated stream (worker_streams.h), then
 *    exactly one DISCONNECTED. HANDSHAKE_COMPLETE (to the accept owner, only when
 *    config.has_accept_owner) right after CONNECTED.
 *  - Every path ends with the terminal sequence: [CANCEL_TIMER if a timer
 *    is armed] [CLOSE_TRANSPORT if the transport is still open]
 *    EVENT(DISCONNECTED) ENDED. ENDED is the last action ever; no memory
 *    allocation is needed to produce it, so it comes out of memory too.
 *  - Outbound bytes go out in the order they were queued per stream
 *    (handshake frame first, GOODBYE last on the control stream), one SEND
 *    in flight at a time; a "would block" keeps that stream's bytes queued
 *    until its SEND_READY while other streams go on. A server holds every
 *    frame but its HELLO until the peer acknowledged the HELLO's bytes
 *    (WATCH_ACKED / on_stream_acked, PROTOCOL.md §6.5). Nothing is dropped or reordered
 *    except at the end (unsent frames are then counted as dropped).
 *    On the control stream small API frames queued behind each other (up
 *    to 4 KiB each) go out as one SEND of up to 32 KiB, their bytes
 *    concatenated in order (one action and one QUIC write for many).
 *  - Inputs that make no sense in a state are ignored with a DIAG action,
 *    never a crash; inputs after ENDED produce no action at all.
 *
 * Counters (macula__worker_get_info): frames_in / bytes_in count the
 * peer's handshake frame and every frame delivered as FRAME; frames_out /
 * bytes_out count frames the transport accepted (CONNECT / HELLO / GOODBYE
 * included); frames_dropped counts inbound frames that were undecodable,
 * came before the handshake frame or during the drain, API sends refused
 * (not connected, queue full), frames still queued when the worker ended,
 * and what the shell reports with macula__worker_count_dropped().
 * Budgets (budget.h): frames over the decode budget are dropped unbuilt
 * (frames_dropped, decode_refused); before the handshake frame other
 * frames are dropped after reading their frame_type only
 * (frames_undecoded); partial frames over the receive budgets end the
 * worker with MACULA_DISC_RECV_BUDGET.
 *
 * What the shell (runtime glue) must do:
 *  - after every input, poll and execute all actions in order;
 *  - answer OPEN_STREAM and SEND with on_stream_open_result() /
 *    on_send_result() right after executing them, before any other input
 *    (WATCH_ACKED later with on_stream_acked)
 *    (a replay of pre-start events continues from the send result);
 *  - map QUIC events: CONNECTED (dial) -> on_dial_succeeded, CLOSED while
 *    dialing -> on_dial_failed or on_transport_closed (same outcome),
 *    STREAM_OPENED / STREAM_DATA / STREAM_RESET / SEND_READY / STREAM_ACKED /
 *    CLOSED to the inputs of the same name (CLOSED with a readable detail, e.g.
 *    "peer: code 0 closed"); once the worker has ended, ignore them;
 *  - keep one timer per worker for ARM_TIMER / CANCEL_TIMER; call
 *    on_timer() when it fires;
 *  - add the peer's serial to DIAG fields if it wants them; route EVENT to
 *    the handler or the accept owner; free the worker after ENDED.
 *
 * Threads: a worker belongs to one thread (the loop thread) at a time.
 */
#ifndef MACULA_PEERING_WORKER_H
#define MACULA_PEERING_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "macula/peering.h"

typedef struct macula__worker macula__worker;

/* Server-side admission policy (optional). Called on a verified CONNECT
 * before the HELLO is built. Return 0 to accept; non-zero to refuse, with
 * *refusal_code set (>= 0, or -1 for null): the worker then answers HELLO
 * accepted = "false", drains, and ends with DISCONNECTED(refused). */
typedef int (*macula__worker_admit_fn)(void *user, const uint8_t node_id[MACULA_NODE_ID_LEN],
                                       int64_t *refusal_code);

typedef struct macula__worker_config {
    int is_server;
    macula_peer peer;                  /* handle put into every event */
    const macula_identity *identity;   /* required; the worker keeps its own copy */
    const uint8_t *realms;             /* n_realms * 32 bytes, copied */
    size_t n_realms;
    uint64_t capabilities;
    const uint8_t *station_id;         /* 32 bytes, copied; NULL = own node id */
    const uint8_t *expected_node_id;   /* 32 bytes, copied; NULL = any peer */
    int has_accept_owner;              /* emit HANDSHAKE_COMPLETE */
    uint64_t handshake_timeout_ns;     /* 0 = 30 s */
    uint64_t drain_timeout_ns;         /* 0 = 5 s */
    size_t send_queue_cap;             /* bytes of API frames queued; 0 = 64 MiB */
    /* Bytes of transport events kept for replay while awaiting the start
     * signal; beyond it the worker ends (internal_error). 0 = 64 MiB. */
    size_t backlog_cap;
    size_t max_peer_streams;           /* dedicated streams the peer may hold open; 0 = 100 */
    macula__worker_admit_fn admit;     /* server only; NULL = admit everyone */
    void *admit_user;
    /* Relay station (PROTOCOL.md §6.5): answer "_macula.ping" CALLs while
     * connected with ERROR unknown_next_peer (worker_station.c). The
     * capability bit is the caller's to set in `capabilities`. */
    int station;
    /* FRAME events without a decoded frame (macula_peer_options.lazy_frames). */
    int lazy_frames;
    /* Receive and decode budgets (peering/budget.h): the largest frame
     * body accepted (0 = MACULA_FRAME_MAX_BODY), the bytes this
     * connection's parsers may hold (0 = 32 MiB), the absolute cap of a
     * decoded frame (0 = 64 MiB), and the runtime-wide receive budget the
     * held bytes also count against (NULL = none; loop thread, outlives
     * the worker). */
    size_t max_frame_size;
    size_t recv_budget;
    size_t max_decode_bytes;
    struct macula__budget *recv_global;
} macula__worker_config;

#define MACULA__WORKER_MAX_REALMS 1024  /* a peer announcing more fails verification */
#define MACULA__WORKER_DIAG_MAX_FIELDS 8

typedef enum macula__worker_action_type {
    /* Client: start dialing the target (the shell knows host/port/ALPN).
     * Answer later with on_dial_succeeded / on_dial_failed, or
     * on_transport_closed while CONNECTING. */
    MACULA__ACT_DIAL = 1,
    /* Open a bidirectional stream (the client's control stream, or a
     * dedicated one); answer with on_stream_open_result() before feeding
     * any other input. */
    MACULA__ACT_OPEN_STREAM,
    /* Send data[0..len) on stream_id (all or nothing). The bytes belong to
     * the worker and stay valid until on_send_result() is called (or the
     * worker is freed). Answer with on_send_result() before feeding any
     * other input. Never more than one SEND is awaiting its result. */
    MACULA__ACT_SEND,
    /* Close the transport (connection, or the dial in progress) with
     * application code app_error_code (0) and `close_reason` ("closed",
     * static). The worker needs no answer; later transport events are
     * ignored once it has ended. */
    MACULA__ACT_CLOSE_TRANSPORT,
    /* Deliver `event` to the controlling handler, or to the accept owner
     * when to_accept_owner. The handler may take event.frame
     * (macula_event_take_frame); macula__worker_action_clear() frees what
     * remains. A FRAME also holds its received bytes (event.wire, a
     * wirebuf reference in event.wire_ref_, released by the clear or moved
     * into a mailbox copy); with config.lazy_frames event.frame is NULL
     * while connected (the bytes passed the same validating check). event.detail is valid until the action is cleared (the
     * DISCONNECTED one lives in the worker: until the worker is freed). */
    MACULA__ACT_EVENT,
    /* (Re)arm the worker's single timer for `deadline` (monotonic ns);
     * call on_timer() when it expires. */
    MACULA__ACT_ARM_TIMER,
    MACULA__ACT_CANCEL_TIMER,
    /* A diagnostic: diag_name (static) and diag_fields (values owned by the
     * action). */
    MACULA__ACT_DIAG,
    /* The worker has ended: nothing more will come out of it. The shell
     * detaches it from the transport and frees it (after clearing this
     * action). Always the last action, exactly once. */
    MACULA__ACT_ENDED,
    /* Finish our side of stream_id (FIN after what was sent). No answer;
     * a failure (stream already gone) is ignored. */
    MACULA__ACT_SHUTDOWN_STREAM,
    /* Abort stream_id both ways with app_error_code. No answer. */
    MACULA__ACT_RESET_STREAM,
    /* Server, HELLO-flight hold (PROTOCOL.md §6.5): report with
     * on_stream_acked() once the peer has acknowledged every byte below
     * `offset` on stream_id. No immediate answer. */
    MACULA__ACT_WATCH_ACKED
} macula__worker_action_type;

typedef struct macula__worker_action {
    macula__worker_action_type type;
    /* SEND */
    int64_t stream_id;
    const uint8_t *data;
    size_t len;
    /* CLOSE_TRANSPORT, RESET_STREAM */
    uint64_t app_error_code;
    const char *close_reason;
    /* ARM_TIMER */
    uint64_t deadline;
    /* WATCH_ACKED */
    uint64_t offset;
    /* EVENT */
    int to_accept_owner;
    macula_event event;
    /* DIAG */
    const char *diag_name;
    macula_diag_field diag_fields[MACULA__WORKER_DIAG_MAX_FIELDS];
    size_t n_diag_fields;
    /* private: memory owned by the action */
    void *owned_;
} macula__worker_action;

/* Creates a worker in CONNECTING (client) or AWAITING_START (server). No
 * action is queued until the start signal. NULL on bad config (*err =
 * MACULA_ERR_INVALID_ARG) or out of memory. */
macula__worker *macula__worker_new(const macula__worker_config *cfg, int *err);
/* Frees the worker and everything it still holds (also before ENDED: the
 * shell then owns the consequences, e.g. an open transport). */
void macula__worker_free(macula__worker *w);

/* --- inputs (loop thread; `now` = monotonic ns) --- */
/* Client: queue DIAL. Server: HANDSHAKING, arm the handshake timer and
 * replay the transport events that came before, in order. */
void macula__worker_start(macula__worker *w, uint64_t now);
void macula__worker_on_dial_succeeded(macula__worker *w, uint64_t now);
void macula__worker_on_dial_failed(macula__worker *w, uint64_t now, const char *detail);
/* The peer opened a stream: on a server the first one is the control
 * stream; every other one is a dedicated stream (worker_streams.h). */
void macula__worker_on_stream_opened(macula__worker *w, uint64_t now, int64_t stream_id);
/* Result of OPEN_STREAM (rc 0 and the QUIC id, or a negative macula_err). */
void macula__worker_on_stream_open_result(macula__worker *w, uint64_t now, int rc, int64_t stream_id);
/* Bytes received on a stream (borrowed for the call); fin = the peer
 * finished its sending side. */
void macula__worker_on_stream_data(macula__worker *w, uint64_t now, int64_t stream_id, const uint8_t *data,
                                   size_t len, int fin);
void macula__worker_on_stream_reset(macula__worker *w, uint64_t now, int64_t stream_id, uint64_t app_error_code);
/* Result of the SEND just executed: 0, MACULA_ERR_WOULD_BLOCK (the bytes
 * stay queued; send them again after on_send_ready) or another error. */
void macula__worker_on_send_result(macula__worker *w, uint64_t now, int rc);
/* The transport can take more on stream_id (QUIC SEND_READY). */
void macula__worker_on_send_ready(macula__worker *w, uint64_t now, int64_t stream_id);
/* Everything below `offset` on stream_id has been acknowledged (answer to
 * WATCH_ACKED). */
void macula__worker_on_stream_acked(macula__worker *w, uint64_t now, int64_t stream_id, uint64_t offset);
/* The transport has ended (detail: readable cause, borrowed). */
void macula__worker_on_transport_closed(macula__worker *w, uint64_t now, const char *detail);
void macula__worker_on_timer(macula__worker *w, uint64_t now);
/* API close: GOODBYE + drain when connected (the drain runs for
 * drain_timeout from close; when backpressure held the GOODBYE back and
 * the transport takes it before that deadline, from that moment);
 * DISCONNECTED(closed, detail = reason) in earlier states; nothing when
 * draining or ended. NULL reason = "normal". */
void macula__worker_close(macula__worker *w, uint64_t now, const char *reason);
/* API send of one encoded, signed wire frame (malloc'd; the worker takes
 * ownership in every case). Returns 0 when queued; MACULA_ERR_STATE when
 * not connected (dropped, DIAG), MACULA_ERR_QUEUE_FULL beyond
 * send_queue_cap (dropped, DIAG), MACULA_ERR_STALE_HANDLE once ended. */
int macula__worker_send(macula__worker *w, uint64_t now, uint8_t *wire, size_t len);
/* API, dedicated streams (ids: peering.h "streams"). open_stream: `id`
 * must have our side's parity (4k on a client, 4k+1 on a server), not 0,
 * and be above every id given before; returns 0 when the opening is queued (STREAM_OPENED or
 * STREAM_CLOSED follows), MACULA_ERR_INVALID_ARG for a bad id,
 * MACULA_ERR_STALE_HANDLE once ended; when not connected it returns
 * MACULA_ERR_STATE after queueing STREAM_CLOSED(RESET, 0) for it.
 * send_on: as macula__worker_send on stream `id` (MACULA_STREAM_CONTROL
 * = the control stream); MACULA_ERR_STREAM_CLOSED (dropped, DIAG) when the
 * stream is unknown, finished or reset. finish / reset:
 * 0, MACULA_ERR_STREAM_CLOSED, MACULA_ERR_INVALID_ARG (control stream). */
int macula__worker_open_stream(macula__worker *w, uint64_t now, int64_t id);
int macula__worker_send_on(macula__worker *w, uint64_t now, int64_t id, uint8_t *wire, size_t len);
/* As send_on with a reference-counted buffer (forwarding, wirebuf.h): the
 * worker takes the reference in every case and releases it once QUIC has
 * copied the bytes (or on refusal / at the end). */
typedef struct macula__wirebuf macula__wirebuf;
int macula__worker_send_buf(macula__worker *w, uint64_t now, int64_t id, macula__wirebuf *wb);
int macula__worker_finish_stream(macula__worker *w, uint64_t now, int64_t id);
int macula__worker_reset_stream(macula__worker *w, uint64_t now, int64_t id, uint64_t code);
/* The shell dropped `n` inbound frames the worker delivered (e.g. a full
 * mailbox): counted in frames_dropped. */
void macula__worker_count_dropped(macula__worker *w, uint64_t n);
/* The shell paused reading from the peer for a full mailbox: counted in
 * the info's reads_paused. */
void macula__worker_count_paused(macula__worker *w);
/* The shell heard nothing from the peer for `silent_ms` although
 * keep-alive runs: ends the worker with MACULA_DISC_DEAD_PEER (nothing
 * once it is ending). */
void macula__worker_on_dead_peer(macula__worker *w, uint64_t now, uint64_t silent_ms);

/* Receive-budget figures (budget.h) for tests and the getters: bytes the
 * parsers hold now and at most, frames dropped before the handshake
 * without being decoded, frames refused by the decode budget. */
typedef struct macula__worker_budget_info {
    size_t recv_held, recv_peak;
    uint64_t frames_undecoded, decode_refused;
} macula__worker_budget_info;
void macula__worker_get_budget_info(const macula__worker *w, macula__worker_budget_info *out);

/* --- actions --- */
/* Moves the oldest queued action into *out: 1, or 0 when none is left.
 * The shell executes it, then calls macula__worker_action_clear(out). */
int macula__worker_poll(macula__worker *w, macula__worker_action *out);
void macula__worker_action_clear(macula__worker_action *a);

/* --- state --- */
macula_peer_state macula__worker_state(const macula__worker *w);
int macula__worker_is_server(const macula__worker *w);
/* Fills everything but peer_addr (set to ""). */
void macula__worker_get_info(const macula__worker *w, macula_peer_info *out);
/* The peer's realms (n * 32 bytes, borrowed; NULL when none). */
const uint8_t *macula__worker_peer_realms(const macula__worker *w, size_t *n);
/* Bytes of API frames queued and not yet accepted by the transport. */
size_t macula__worker_queued_bytes(const macula__worker *w);

#endif
