/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the worker (worker*.c): dedicated streams (PROTOCOL.md §6.2).
 * The control stream stays in the worker itself (worker_internal.h); this
 * module keeps every other stream of the connection.
 *
 * State of one dedicated stream (macula__wstream):
 *  - identity: `id` is the public number (peering.h "streams"), `qid` the
 *    QUIC id (-1 while a local open awaits its result); `by_peer`.
 *  - receive side: its own frame parser (undecodable frames are stepped
 *    over here only), `peer_fin` (1 seen, 2 handled), `in_done` once the
 *    peer finished or reset it (STREAM_CLOSED then reported, once).
 *  - send side: its own queue of encoded frames (OUT_API, counted in the
 *    worker's out_api_bytes, so send_queue_cap covers all streams),
 *    `blocked` after a "would block" until that QUIC stream's SEND_READY,
 *    `fin_wanted` (FIN once the queue is empty), `out_done` once FIN or a
 *    reset was issued.
 *  - `announced`: STREAM_OPENED delivered (peer streams seen while
 *    handshaking are announced, and their frames delivered, on CONNECTED).
 * A stream is released when both sides are done; everything left is
 * released with the worker.
 *
 * Limits: at most max_peer_streams peer-opened streams alive at once (one
 * more is reset with MACULA_STREAM_CODE_REFUSED); a peer's unidirectional
 * stream is refused the same way; a declared frame length over the limit
 * resets that stream (MACULA_STREAM_CODE_FRAME_TOO_LARGE), not the peer.
 * A peer stream id at or below the highest seen that is no longer kept is
 * an old stream: its late events are ignored (QUIC numbers peer streams in
 * order).
 *
 * Sending: one SEND in flight for the whole worker (the shell answers at
 * once); the control stream goes first, then the dedicated streams in
 * turn, skipping blocked ones.
 */
#ifndef MACULA_PEERING_WORKER_STREAMS_H
#define MACULA_PEERING_WORKER_STREAMS_H

#include <stdint.h>

#include "macula/frame.h"
#include "macula/peering.h"

#define MACULA__WORKER_DEFAULT_MAX_PEER_STREAMS 100

struct worker_out;
typedef struct macula__worker macula__worker;

typedef struct macula__wstream {
    struct macula__wstream *next;
    int64_t id;
    int64_t qid;
    int by_peer;
    int announced, closed_reported;
    int open_requested; /* local: OPEN_STREAM queued, result pending */
    macula_stream_parser *parser;
    int peer_fin;
    int in_done;
    struct worker_out *out_head, *out_tail;
    int blocked;
    int fin_wanted, out_done;
    uint64_t reset_code; /* our reset's code (applied at the open result if it came first) */
} macula__wstream;

/* API (worker.h documents the results). */
int macula__wstreams_open(macula__worker *w, int64_t id);
typedef struct macula__wirebuf macula__wirebuf;
int macula__wstreams_send(macula__worker *w, int64_t id, uint8_t *wire, size_t len);
/* The same with a wirebuf (wire = wb->data; the reference is taken in
 * every case, released instead of free(wire)). */
int macula__wstreams_send_buf(macula__worker *w, int64_t id, uint8_t *wire, size_t len, macula__wirebuf *wb);
int macula__wstreams_finish(macula__worker *w, int64_t id);
int macula__wstreams_reset(macula__worker *w, int64_t id, uint64_t code);

/* Transport inputs for a stream that is not the control stream. */
void macula__wstreams_open_result(macula__worker *w, int rc, int64_t qid);
void macula__wstreams_peer_opened(macula__worker *w, uint64_t now, int64_t qid);
void macula__wstreams_data(macula__worker *w, uint64_t now, int64_t qid, const uint8_t *data, size_t len, int fin);
void macula__wstreams_peer_reset(macula__worker *w, int64_t qid, uint64_t code);
void macula__wstreams_send_ready(macula__worker *w, int64_t qid);
/* A local OPEN_STREAM is awaiting its result. */
int macula__wstreams_open_pending(const macula__worker *w);

/* Sending: queues SHUTDOWN_STREAM for streams whose FIN is due and, when
 * none is in flight, one SEND; 1 when it queued a SEND. */
int macula__wstreams_flush(macula__worker *w);
/* Result of the SEND of `s` in flight. */
void macula__wstreams_send_result(macula__worker *w, uint64_t now, macula__wstream *s, int rc);

/* The worker became connected: announce and deliver peer streams. */
void macula__wstreams_connected(macula__worker *w, uint64_t now);
/* close(): every stream finishes after what is queued on it. */
void macula__wstreams_close_all(macula__worker *w);
/* The worker ended: drop what is queued (but a SEND in flight) and stop
 * parsing; the records stay for the terminal STREAM_CLOSED events. */
void macula__wstreams_end(macula__worker *w);
/* Terminal sequence: the next STREAM_CLOSED(CONNECTION) owed (filled into
 * *ev, which fill_event prepared), without allocating; 0 when none. */
int macula__wstreams_next_final_close(macula__worker *w, macula_event *ev);
void macula__wstreams_free(macula__worker *w);

#endif
