/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test double for the runtime glue of the connection worker: a fake shell
 * with a fake clock and a fake transport. It executes every action the
 * worker queues, answers OPEN_STREAM and SEND with scripted results, keeps
 * what the handler and the accept owner received, and checks the worker's
 * generic promises on every action of every test:
 *   - events: CONNECTED at most once and before any FRAME; FRAME only
 *     while connected; HANDSHAKE_COMPLETE once, to the accept owner, only
 *     after CONNECTED; exactly one DISCONNECTED, and nothing after it but
 *     ENDED; ENDED exactly once, last, with no timer left armed;
 *   - SEND: never two without a result, never after CLOSE_TRANSPORT;
 *   - CLOSE_TRANSPORT at most once; DIAL / OPEN_STREAM at most once.
 * ws_finish() makes sure the worker ends (closing it and letting the clock
 * run if needed) and returns the number of broken promises.
 */
#ifndef MACULA_TEST_WORKER_SHELL_H
#define MACULA_TEST_WORKER_SHELL_H

#include <stddef.h>
#include <stdint.h>

#include "macula/peering.h"
#include "peering/worker.h"

#define WS_MAX_EVENTS 8192
#define WS_MAX_DIAGS 8192
#define WS_MAX_SCRIPT 64
#define WS_SEC 1000000000ull
#define WS_MS 1000000ull

typedef struct ws_event {
    macula_event_type type;
    int to_owner;
    macula_disconnect_reason reason;
    char detail[256];
    int64_t refusal_code;
    int has_node_id;
    uint8_t node_id[MACULA_NODE_ID_LEN];
    macula_frame *frame; /* FRAME: taken from the event, freed by ws_free */
    size_t wire_len;
    int64_t stream;      /* FRAME / STREAM_*: the public stream id */
    macula_stream_origin origin;
    macula_stream_end end;
    uint64_t code;
    uint64_t at; /* fake time when delivered */
} ws_event;

#define WS_MAX_STREAMS 512

/* Bytes the fake transport took on one QUIC stream, and what the worker
 * asked for it. */
typedef struct ws_qstream {
    int64_t qid;
    uint8_t *out;
    size_t out_len, out_cap, out_forwarded;
    int shutdowns, resets;
    uint64_t reset_code;
    int blocked; /* the last SEND on it was answered "would block" */
} ws_qstream;

typedef struct ws_shell {
    macula__worker *w;
    uint64_t now;
    int has_owner;
    const char *name;

    /* scripted transport answers */
    int open_rc;       /* OPEN_STREAM result (default 0) */
    int64_t open_sid;  /* stream id given on success (default 0) */
    int send_rcs[WS_MAX_SCRIPT]; /* results of the next SENDs; then 0 */
    size_t n_send_rcs, send_rc_pos;
    /* close the worker from inside the handler on this event type */
    macula_event_type close_on_event;
    const char *close_on_event_reason;

    /* what happened */
    int dials, opens, sends, closes, ends, timer_armed;
    uint64_t timer_deadline;
    size_t n_events, cap_events;
    ws_event *events; /* grows; at most WS_MAX_EVENTS */
    size_t n_diags, cap_diags;
    char **diags; /* "name key=value key=value"; at most WS_MAX_DIAGS */
    uint8_t *out;              /* bytes the transport accepted, in order */
    size_t out_len, out_cap, out_forwarded;
    int send_pending; /* a SEND action awaits its result (checked) */
    /* dedicated streams: OPEN_STREAM answers after the control stream
     * (next_local_qid, stepping by 4; open_fail makes the next ones fail),
     * bytes per QUIC stream (the control stream's also in `out`) */
    int64_t next_local_qid;
    int open_fail;
    ws_qstream qs[WS_MAX_STREAMS];
    size_t n_qs;
    int would_block_qid_on; /* answer SENDs on would_block_qid with WOULD_BLOCK */
    int64_t would_block_qid;
    /* HELLO hold: WATCH_ACKED requests (answered at once unless manual_ack) */
    int manual_ack, watches;
    int64_t watch_qid;
    uint64_t watch_offset;

    /* promises broken */
    int problems;
    int connected_seen, disconnected_seen, owner_seen;
} ws_shell;

/* A shell around a new worker built from cfg (cfg->has_accept_owner taken
 * into account). The worker is not started. */
ws_shell *ws_new(const macula__worker_config *cfg, const char *name);
void ws_free(ws_shell *s);
/* Executes every queued action. */
void ws_run(ws_shell *s);

/* Inputs (each followed by ws_run). */
void ws_start(ws_shell *s);
void ws_dial_ok(ws_shell *s);
void ws_dial_failed(ws_shell *s, const char *detail);
void ws_stream_opened(ws_shell *s, int64_t sid);
void ws_data(ws_shell *s, const uint8_t *data, size_t len, int fin); /* on the worker's stream (or 0) */
void ws_data_on(ws_shell *s, int64_t sid, const uint8_t *data, size_t len, int fin);
void ws_reset(ws_shell *s, uint64_t code);
void ws_send_ready(ws_shell *s);
void ws_send_ready_on(ws_shell *s, int64_t qid);
void ws_stream_reset_on(ws_shell *s, int64_t qid, uint64_t code);
void ws_acked(ws_shell *s, int64_t qid, uint64_t offset);
int ws_open_stream(ws_shell *s, int64_t id);
int ws_send_on(ws_shell *s, int64_t id, const uint8_t *wire, size_t len); /* copies wire */
int ws_finish_stream(ws_shell *s, int64_t id);
int ws_reset_stream(ws_shell *s, int64_t id, uint64_t code);
/* The record of QUIC stream qid (NULL when nothing happened on it). */
ws_qstream *ws_qstream_get(ws_shell *s, int64_t qid);
/* Decodes the i-th frame sent on QUIC stream qid; caller frees. */
macula_frame *ws_sent_frame_on(ws_shell *s, int64_t qid, size_t index);
size_t ws_sent_count_on(ws_shell *s, int64_t qid);
/* Forwards bytes sent on dedicated streams (not the control stream) to the
 * other side as stream data on the same QUIC id (plus FIN / reset); with
 * ws_exchange, a two-worker session over several streams. */
void ws_exchange_streams(ws_shell *a, ws_shell *b);
/* Events of `type` on public stream id (any type when type is 0). */
size_t ws_count_on(const ws_shell *s, macula_event_type type, int64_t stream);
void ws_transport_closed(ws_shell *s, const char *detail);
void ws_close(ws_shell *s, const char *reason);
int ws_send(ws_shell *s, const uint8_t *wire, size_t len); /* copies wire */
/* Moves the fake clock on by `ns`, firing the timer when it is due. */
void ws_advance(ws_shell *s, uint64_t ns);
/* Drives a client shell to HANDSHAKING with its stream open (start, dial ok). */
void ws_client_up(ws_shell *s);

/* Forwards the bytes one side's transport accepted to the other side as
 * stream data, both ways, until nothing moves. */
void ws_exchange(ws_shell *a, ws_shell *b);

/* Queries. */
size_t ws_count(const ws_shell *s, macula_event_type type);
const ws_event *ws_last(const ws_shell *s);
const ws_event *ws_disconnected(const ws_shell *s); /* NULL when none */
int ws_has_diag(const ws_shell *s, const char *needle); /* substring of any diag line */
/* Decodes the i-th frame the worker sent (0 = first); caller frees. */
macula_frame *ws_sent_frame(const ws_shell *s, size_t index, size_t *wire_len);
size_t ws_sent_count(const ws_shell *s);

/* 1 when the worker has ended (ENDED once) with DISCONNECTED(reason);
 * otherwise prints what happened and returns 0. */
int ws_ended_with(const ws_shell *s, macula_disconnect_reason reason);

/* Ends the worker if it has not ended (close, then time), checks the
 * terminal promises and returns the number of broken promises. */
int ws_finish(ws_shell *s);

/* --- identities and frames --- */
/* "alice" / "bob" from $MACULA_VECTORS, or "mallory" (a fixed seed). */
macula_identity *ws_identity(const char *name);
/* Loads alice, bob (vectors) and mallory; 0, or -1 with a message. */
int ws_identities(macula_identity **alice, macula_identity **bob, macula_identity **mallory);
void ws_identities_free(macula_identity *alice, macula_identity *bob, macula_identity *mallory);
/* wire bytes of the named vector (malloc'd), NULL when missing. */
uint8_t *ws_vector_wire(const char *name, size_t *len);
/* The same, but a missing vector ends the test program (exit 2). */
uint8_t *ws_vector(const char *name, size_t *len);
/* Signs f with id (unless id is NULL), encodes it, frees f. malloc'd wire
 * (free with macula_free), NULL on error. */
uint8_t *ws_wire(macula_frame *f, const macula_identity *id, size_t *len);
/* A small signed PUBLISH-like frame with "seq" = n. */
uint8_t *ws_numbered_frame(const macula_identity *id, uint64_t n, size_t *len);
/* The "seq" of a frame, or UINT64_MAX. */
uint64_t ws_frame_seq(const macula_frame *f);
/* A config with the usual defaults for tests. */
void ws_config(macula__worker_config *cfg, int is_server, const macula_identity *id);

#endif
