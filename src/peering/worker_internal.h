/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the worker's source files (worker*.c): the worker's state
 * and the helpers its parts share. Nothing outside src/peering/worker*.c
 * includes this.
 */
#ifndef MACULA_PEERING_WORKER_INTERNAL_H
#define MACULA_PEERING_WORKER_INTERNAL_H

#include <stdint.h>

#include "peering/wirebuf.h"
#include "peering/budget.h"
#include "peering/worker.h"
#include "peering/worker_streams.h"

#define WORKER_DEFAULT_HANDSHAKE_NS (30ull * 1000000000ull)
#define WORKER_DEFAULT_DRAIN_NS (5ull * 1000000000ull)
#define WORKER_DEFAULT_SEND_QUEUE_CAP ((size_t)64 << 20)
#define WORKER_DEFAULT_BACKLOG_CAP ((size_t)64 << 20)
#define WORKER_DETAIL_MAX 256

/* One queued action. */
typedef struct worker_action_node {
    struct worker_action_node *next;
    macula__worker_action action;
} worker_action_node;

/* What an outbound buffer is: handshake frames and GOODBYE bypass the
 * send-queue cap and say which reason a failure to send them gives. */
typedef enum worker_out_kind { OUT_API = 0, OUT_HANDSHAKE, OUT_GOODBYE } worker_out_kind;

typedef struct worker_out {
    struct worker_out *next;
    worker_out_kind kind;
    size_t len;
    uint8_t *bytes; /* malloc'd, or wb->data when wb is set */
    macula__wirebuf *wb; /* a forwarded buffer: one reference, released instead of free(bytes) */
} worker_out;

/* A transport event kept while awaiting the start signal. */
typedef enum worker_backlog_kind {
    BL_STREAM_OPENED = 1,
    BL_STREAM_DATA,
    BL_STREAM_RESET,
    BL_TRANSPORT_CLOSED
} worker_backlog_kind;

typedef struct worker_backlog {
    struct worker_backlog *next;
    worker_backlog_kind kind;
    int64_t stream_id;
    uint64_t code;
    int fin;
    size_t len;
    uint8_t data[]; /* stream bytes, or the NUL-terminated close detail */
} worker_backlog;

/* Which frame a SEND in flight carries decides what its failure means. */
struct macula__worker {
    /* configuration (owned copies) */
    int is_server;
    macula_peer peer;
    macula_identity *identity;
    uint8_t *realms;
    size_t n_realms;
    uint64_t capabilities;
    uint8_t station_id[MACULA_NODE_ID_LEN];
    int has_expected;
    uint8_t expected_node_id[MACULA_NODE_ID_LEN];
    int has_accept_owner;
    uint64_t handshake_timeout_ns, drain_timeout_ns;
    size_t send_queue_cap, backlog_cap, max_peer_streams;
    macula__worker_admit_fn admit;
    void *admit_user;
    int station;
    int lazy_frames;
    int unsigned_reported; /* the "unsigned_frame" diagnostic was given */

    macula_peer_state state;
    int started;

    /* transport */
    int transport_open;    /* a dial or connection exists that we may have to close */
    int has_stream;
    int64_t stream_id;
    int stream_open_pending; /* client: OPEN_STREAM awaiting its result */
    int peer_fin;            /* the peer finished its sending side */
    int inbound_dead;        /* draining after an oversize length: ignore all input */
    macula_stream_parser *parser;

    /* handshake */
    int hs_send_pending; /* our CONNECT/HELLO is queued and not yet handed over: hold inbound */
    int refusing;        /* server: HELLO accepted=false sent, draining towards REFUSED */
    int64_t refusal_code;

    /* outbound queue */
    worker_out *out_head, *out_tail;
    size_t out_api_bytes; /* bytes of OUT_API buffers queued (the cap applies to these) */
    int send_in_flight;   /* a SEND awaits its result: of out_head, or of send_ws's head */
    /* Batching (control stream): small API frames queued behind the head
     * go out in one SEND, copied into `batch`; batch_n queue entries (from
     * out_head) are in that SEND, 0 when the SEND is out_head's own bytes. */
    uint8_t *batch;
    size_t batch_cap, batch_n;
    int send_blocked;     /* the transport said "would block": wait for SEND_READY */
    uint64_t ctl_sent;    /* bytes the transport took on the control stream */
    /* Server, PROTOCOL.md §6.5: nothing but the HELLO goes out until the
     * peer acknowledged the HELLO's bytes (a 10.0.0 client drops frames
     * that come in the same read as HELLO). */
    int ack_hold;
    uint64_t ack_hold_offset; /* 0 until the HELLO was taken */

    /* dedicated streams (worker_streams.c) */
    macula__wstream *ws_head, *ws_tail;
    size_t n_peer_streams;     /* peer-opened records alive */
    int64_t max_peer_qid;      /* highest peer-initiated QUIC id seen; -1 */
    int64_t max_local_id;      /* highest id given to open_stream: ids only grow */
    macula__wstream *send_ws;  /* its SEND is in flight (NULL: the control stream's) */
    int64_t rr_last;           /* id of the stream served last */

    /* awaiting_start backlog */
    worker_backlog *bl_head, *bl_tail;
    size_t bl_bytes;
    int replaying; /* an input is being replayed from the backlog */

    /* the single timer */
    int timer_armed;
    uint64_t timer_deadline;

    /* the peer, once its CONNECT/HELLO verified and was accepted */
    int has_peer;
    uint8_t peer_node_id[MACULA_NODE_ID_LEN];
    uint8_t peer_station_id[MACULA_NODE_ID_LEN];
    uint64_t peer_capabilities;
    uint8_t *peer_realms;
    size_t n_peer_realms;

    /* counters */
    uint64_t frames_in, frames_out, bytes_in, bytes_out, frames_dropped;

    /* actions */
    worker_action_node *act_head, *act_tail;

    /* the terminal sequence, produced by poll without allocating */
    int ending; /* end() ran; steps below remain */
    int term_cancel_timer, term_close_transport, term_streams, term_disconnected, term_ended;
    macula_disconnect_reason end_reason;
    int64_t end_refusal_code;
    char end_detail[WORKER_DETAIL_MAX];

    /* receive / decode budgets (budget.h, worker_inbound.c) */
    size_t max_frame_size, max_decode_bytes;
    macula__budget recv;          /* this connection's parsers */
    macula__budget *recv_global;  /* the runtime's, or NULL */
    size_t recv_counted;          /* what recv / recv_global hold for us */
    uint64_t frames_undecoded, decode_refused;
    uint64_t reads_paused;
};

/* --- worker_actions.c --- */
/* Queues an action (moved in). On allocation failure the action is cleared
 * and the worker ends with internal_error; returns 0 or MACULA_ERR_NOMEM. */
int macula__worker_push(macula__worker *w, macula__worker_action *a);
/* DIAG `name` with key, value, ..., NULL pairs (values copied) plus the
 * state; best effort (skipped when out of memory). */
void macula__worker_diag(macula__worker *w, const char *name, ...);
/* EVENT of `type` for the handler (or the accept owner), with the peer's
 * node id when known; takes `frame`. */
/* A FRAME event for a received frame: `f` (NULL with lazy_frames) and the
 * reference `wb` are taken; s NULL = the control stream. Marks the frame
 * received and flags an unsigned one. */
int macula__worker_emit_frame(macula__worker *w, const macula__wstream *s, macula_frame *f, macula__wirebuf *wb);
/* The next frame of parser `p` (macula_stream_parser_next's outcomes):
 * decoded when `build`, and its bytes copied into *wb when `want_wire`
 * (NOMEM then consumes nothing). */
int macula__worker_next_frame(macula_stream_parser *p, int build, int want_wire, macula_frame **f,
                              macula__wirebuf **wb, size_t *wire_len);
int macula__worker_emit_event(macula__worker *w, macula_event_type type, int to_accept_owner, macula_frame *frame,
                      size_t wire_len);
/* STREAM_OPENED / STREAM_CLOSED for `s`, or FRAME on it (takes frame);
 * detail static. */
int macula__worker_emit_stream_event(macula__worker *w, macula_event_type type, const macula__wstream *s,
                                     macula_frame *frame, size_t wire_len, macula_stream_end end, uint64_t code,
                                     const char *detail);
/* An action that names a stream only (SHUTDOWN_STREAM, RESET_STREAM). */
void macula__worker_push_stream_action(macula__worker *w, macula__worker_action_type type, int64_t qid,
                                       uint64_t code);
void macula__worker_arm_timer(macula__worker *w, uint64_t deadline);
void macula__worker_cancel_timer(macula__worker *w);
/* Ends the worker: records the reason and detail (printf-style), frees
 * what is no longer needed; poll() then yields the terminal sequence.
 * A second call does nothing. */
void macula__worker_end(macula__worker *w, macula_disconnect_reason reason, int64_t refusal_code, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));
void macula__worker_free_actions(macula__worker *w);
/* The transport, the stream or a send failed under us: ends the worker
 * with the reason that state gives (connect_failed, closed_during_handshake,
 * peer_closed, peer_closed_during_drain, or refused while refusing). */
void macula__worker_peer_gone(macula__worker *w, const char *detail);

/* --- worker_inbound.c --- */
/* Brings the receive budgets in line with what the parsers hold now;
 * ends the worker (recv_budget) when that is more than either allows.
 * 0, or MACULA_ERR_LIMIT when it ended the worker. */
int macula__worker_recv_sync(macula__worker *w);
/* A new parser with the worker's limits. */
macula_stream_parser *macula__worker_parser_new(macula__worker *w, int *err);

/* --- worker_outbound.c --- */
/* Appends an encoded frame (ownership passes) and sends it when possible. */
int macula__worker_queue_out(macula__worker *w, worker_out_kind kind, uint8_t *bytes, size_t len);
/* Queues a SEND for out_head when none is in flight and not blocked. */
void macula__worker_flush(macula__worker *w);
/* Counts queued frames as dropped and frees them (except one in flight,
 * whose bytes the shell may still be reading). */
void macula__worker_drop_outbound(macula__worker *w);
void macula__worker_free_outbound(macula__worker *w);
/* Frees a chain of outbound buffers; returns how many there were. */
uint64_t macula__worker_free_out_chain(macula__worker *w, worker_out *o);
/* Checks state and send_queue_cap for an API send (takes `wire` when
 * refused): 0 to go on. */
int macula__worker_send_check(macula__worker *w, uint8_t *wire, size_t len);
/* Frees a buffer that goes nowhere: drops the reference, or frees the
 * malloc'd bytes. */
void macula__worker_release_bytes(uint8_t *bytes, macula__wirebuf *wb);
/* Appends a buffer to an outbound queue (the control stream's or a
 * dedicated stream's); on allocation failure the bytes are released. */
int macula__worker_out_append(worker_out **head, worker_out **tail, worker_out_kind kind, uint8_t *bytes,
                              size_t len, macula__wirebuf *wb);
/* macula__worker_queue_out with a wirebuf (bytes = wb->data; the
 * reference is taken in every case). */
int macula__worker_queue_out_buf(macula__worker *w, worker_out_kind kind, uint8_t *bytes, size_t len,
                                 macula__wirebuf *wb);
/* Signs `f` with the worker identity, encodes it and frees it. */
int macula__worker_sign_encode(macula__worker *w, macula_frame *f, uint8_t **wire, size_t *len);

/* --- worker_handshake.c --- */
/* Client: the stream is open; build, sign and queue CONNECT. */
void macula__worker_send_connect(macula__worker *w);
/* A frame that arrived in HANDSHAKING (taken). */
void macula__worker_handshake_frame(macula__worker *w, uint64_t now, macula_frame *f, size_t wire_len);
/* Our handshake frame has been handed to the transport. */
void macula__worker_handshake_sent(macula__worker *w, uint64_t now);
/* The transition to CONNECTED (events, timer). */
void macula__worker_become_connected(macula__worker *w);

/* --- macula__worker_inbound.c --- */
/* Pulls every complete frame from the parser and handles it by state. */
void macula__worker_pump(macula__worker *w, uint64_t now);
/* Hands inbound bytes to the parser (and pumps). */
void macula__worker_inbound(macula__worker *w, uint64_t now, int64_t stream_id, const uint8_t *data, size_t len, int fin);

/* --- worker_station.c --- */
/* Connected station: when `f` is a "_macula.ping" CALL, queue the signed
 * ERROR unknown_next_peer answer. `f` stays the caller's. */
void macula__worker_station_inbound(macula__worker *w, const macula_frame *f);

/* --- worker.c --- */
/* Replays the events kept before the start (pausing while a SEND awaits
 * its result). */
void macula__worker_replay(macula__worker *w, uint64_t now);
const char *macula__worker_hex(const uint8_t *b, size_t n, char *buf, size_t size);

#endif
