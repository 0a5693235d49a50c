/* SPDX-License-Identifier: Apache-2.0 */
/*
 * macula-c: the peering layer (PROTOCOL.md §4-5): Macula's
 * `macula_peering` API in C.
 *
 * One worker per peer connection runs the CONNECT/HELLO handshake over a
 * QUIC connection, carries signed frames both ways on its control stream
 * and on dedicated streams (see "streams" below), and closes with GOODBYE
 * and a drain. As a server it lets nothing but HELLO into its first
 * flight: frames sent right after CONNECTED wait until the peer has
 * acknowledged the HELLO (PROTOCOL.md §6.5). Workers live in the runtime's
 * supervisor; they are created on demand (connect / accept / a listener)
 * and never restarted.
 *
 * Events, per peer, in this order: CONNECTED once, then FRAME for each
 * inbound frame after the handshake (and STREAM_OPENED / STREAM_CLOSED
 * around the frames of each dedicated stream), then exactly one
 * DISCONNECTED, always last. An optional accept owner gets
 * HANDSHAKE_COMPLETE at the moment the peer becomes connected. SEND_READY
 * (between CONNECTED and DISCONNECTED) comes once after a send was refused
 * with MACULA_ERR_QUEUE_FULL, when the peer's send queue has room again.
 * Every event carries the peer's macula_peer_options.peer_user;
 * DISCONNECTED carries a `cause` (a macula_err, MACULA_OK for a normal
 * end) and the peer's final counters.
 *
 * Threads:
 *  - macula_peer_connect, macula_peer_accept, macula_peer_close,
 *    macula_peer_send_frame, macula_peer_send_wire, macula_peer_forward,
 *    the stream calls
 *    (open_stream, send_frame_on, send_wire_on, finish_stream,
 *    reset_stream), macula_peer_get_info, macula_peer_get_realms: any thread, return at once ("fire and
 *    forget": the work is queued to the loop thread in call order).
 *  - Event handlers and the diagnostics hook run on the loop thread; they
 *    may call any function of this header (but must not block for long).
 *  - Listeners: created and closed on the loop thread, or on any thread
 *    while no thread runs the loop (before macula_runtime_run/start; in
 *    embedded mode the thread calling macula_runtime_process is the loop
 *    thread). Enforced: macula_listener_new from another thread fails with
 *    MACULA_ERR_STATE; macula_listener_close and macula_listener_refuse
 *    from another thread do nothing but report an "api_misuse" diagnostic
 *    (on the calling thread).
 *  - Mailboxes: any thread (see macula_mailbox_pop for several consumers).
 *
 * Handles: a `macula_peer` is a plain number, never reused within a
 * runtime. Once its worker has ended the handle is stale: closing it is a
 * harmless no-op, sending on it returns MACULA_ERR_STALE_HANDLE, getters
 * return MACULA_ERR_STALE_HANDLE. It turns stale when DISCONNECTED is
 * delivered (so also for the handler receiving it): the peer's last
 * snapshot is the event's final_info.
 *
 * Runtime shutdown (macula_runtime_stop / macula_runtime_free): every
 * connected peer gets GOODBYE with reason "shutdown" and drains; peers in
 * earlier states end at once with DISCONNECTED(closed, detail "shutdown");
 * listeners close. Drains that would outlast the runtime's
 * shutdown_timeout_ms are cut short to end just before it (still
 * "drained"), so the whole shutdown ends within that timeout. A connect
 * queued before the stop ends the same way; connect/accept called once
 * the runtime is stopping fail with MACULA_ERR_SHUTDOWN.
 *
 * Diagnostics (the runtime's diag hook, loop thread): the field "peer" is
 * the peer's serial; workers also give "state". Names: "frame_dropped"
 * (reason: bad_frame, before_handshake, during_drain, truncated_at_fin,
 * send_before_connected, send_while_draining, send_queue_full,
 * unsent_at_end, stream_closed, stream_reset, stream_send_failed,
 * stream_open_failed, ...; "stream" names the stream when it is not the
 * control stream), "stream_refused" (reason: max_peer_streams,
 * unidirectional, not_connected, ...; the peer's stream was reset),
 * "stream_open_failed", "stream_reset" (a stream we reset because of what
 * came on it), "handshake_timeout", "unexpected_event" (event: what came), "peer_refused" (an admit policy said no), "mailbox_full" (a
 * FRAME event a mailbox could not take; counted in frames_dropped),
 * "listener_busy" (max_handshaking reached; field peer_addr),
 * "quic_pending_evicted" and "quic_pending_refused" (admission, see the
 * listener options),
 * "listener_accept_failed", "internal_error", "mailbox_closed" (an event
 * for a closed mailbox, freed; a FRAME is counted in frames_dropped),
 * "api_misuse" (a call on the wrong thread, refused; see Threads),
 * "unsigned_frame" (the first FRAME of a peer without a signature; every
 * such frame is delivered with macula_event.unsigned_frame set).
 *
 * Forwarding (a relay): with lazy_frames a FRAME event carries the checked
 * bytes (ev->wire) and no frame until one is asked for
 * (macula_event_frame); macula_peer_forward hands those bytes to another
 * peer without decoding, re-encoding, signing or copying them (the buffer
 * is shared by reference, so the event may go and the source peer may end
 * meanwhile). Small frames queued on a control stream leave in one QUIC
 * write. A frame decoded from a peer is never signed by
 * macula_peer_send_frame (MACULA_ERR_NOT_SIGNABLE when unsigned).
 * "reading_paused" (why: mailbox_full) and "reading_resumed" (why:
 * mailbox_room): mailbox back-pressure (macula_mailbox_new_budget).
 * "frame_dropped" reasons include decode_budget (the frame would decode
 * into more memory than allowed: macula_peer_options.max_decode_bytes) and
 * before_handshake (dropped after reading its frame_type only).
 */
#ifndef MACULA_PEERING_H
#define MACULA_PEERING_H

#include "macula/common.h"
#include "macula/frame.h"
#include "macula/identity.h"
#include "macula/quic.h"
#include "macula/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t macula_peer;
#define MACULA_PEER_INVALID ((macula_peer)0)

/* A small number (1, 2, 3, ... in creation order) naming the peer in logs. */
MACULA_API uint64_t macula_peer_serial(macula_peer p);

typedef enum macula_peer_state {
    MACULA_PEER_CONNECTING = 1, /* client: dialing */
    MACULA_PEER_AWAITING_START, /* server: waiting for the start signal */
    MACULA_PEER_HANDSHAKING,
    MACULA_PEER_CONNECTED,
    MACULA_PEER_DRAINING,
    MACULA_PEER_ENDED
} macula_peer_state;
/* "connecting", "awaiting_start", ... */
MACULA_API const char *macula_peer_state_name(macula_peer_state s);

/* Why a peer ended (PROTOCOL.md §4). Every reason has a distinct code and
 * a printable name equal to the reference's atom where it has one. */
typedef enum macula_disconnect_reason {
    MACULA_DISC_CONNECT_FAILED = 1,          /* dial failed; detail says why */
    MACULA_DISC_HANDSHAKE_TIMEOUT,           /* no CONNECT/HELLO in time */
    MACULA_DISC_CONNECT_VERIFY_FAILED,       /* server: CONNECT did not verify */
    MACULA_DISC_HELLO_VERIFY_FAILED,         /* client: HELLO did not verify */
    MACULA_DISC_REFUSED,                     /* HELLO accepted = "false"; see refusal_code */
    MACULA_DISC_UNEXPECTED_HELLO_ON_SERVER,
    MACULA_DISC_UNEXPECTED_CONNECT_ON_CLIENT,
    MACULA_DISC_STREAM_OPEN_FAILED,          /* client could not open the stream */
    MACULA_DISC_CONNECT_SEND_FAILED,         /* client could not send CONNECT */
    MACULA_DISC_HELLO_SEND_FAILED,           /* server could not send HELLO */
    MACULA_DISC_CLOSED_DURING_HANDSHAKE,     /* transport closed before connected */
    MACULA_DISC_PEER_CLOSED,                 /* transport closed while connected */
    MACULA_DISC_DRAINED,                     /* our close: GOODBYE sent, drain over */
    MACULA_DISC_PEER_CLOSED_DURING_DRAIN,    /* peer closed while we drained */
    MACULA_DISC_FRAME_TOO_LARGE,             /* peer declared a frame > 16,777,215 B */
    MACULA_DISC_PEER_IDENTITY_MISMATCH,      /* verified node id != expected_node_id */
    MACULA_DISC_CLOSED,                      /* close() before connected; detail = the reason given */
    MACULA_DISC_INTERNAL_ERROR,              /* out of memory or a broken invariant; detail says */
    /* Partial frames of the peer would hold more than its connection's
     * recv_budget or the runtime's peer_recv_budget. */
    MACULA_DISC_RECV_BUDGET,
    /* Nothing at all came from the peer (not even the ACK of a keep-alive
     * PING) for dead_peer_timeout_ms. */
    MACULA_DISC_DEAD_PEER
} macula_disconnect_reason;
/* "connect_failed", "handshake_timeout", ..., "closed", "internal_error". */
MACULA_API const char *macula_disconnect_reason_name(macula_disconnect_reason r);

/* --- events --- */
typedef enum macula_event_type {
    MACULA_EVENT_CONNECTED = 1,
    MACULA_EVENT_FRAME,
    MACULA_EVENT_DISCONNECTED,
    MACULA_EVENT_HANDSHAKE_COMPLETE, /* to the accept owner only */
    /* The peer's send queue has room again: delivered once after a send
     * refused with MACULA_ERR_QUEUE_FULL, as soon as the bytes queued
     * towards the peer plus the refused frame fit in send_queue_cap again
     * (or the queue is empty). Not for a frame larger than send_queue_cap,
     * which never fits. Never dropped by a full mailbox. */
    MACULA_EVENT_SEND_READY,
    /* Dedicated streams (PROTOCOL.md §6.2; see "streams" below). */
    MACULA_EVENT_STREAM_OPENED, /* a stream is usable: peer-opened, or one we opened */
    MACULA_EVENT_STREAM_CLOSED  /* a stream delivered its last event */
} macula_event_type;

typedef struct macula_peer_info macula_peer_info; /* defined below */

/* --- streams (PROTOCOL.md §6.2) ---
 * A peer connection carries the control stream, on which the handshake,
 * macula_peer_send_frame and GOODBYE travel, and after the handshake any
 * number of dedicated bidirectional streams that either side opens. Each
 * stream carries its own sequence of signed frames, parsed separately: an
 * undecodable frame on one stream is stepped over there and touches no
 * other stream. A stream's end (FIN or reset) never ends the peer;
 * GOODBYE, the drain and the connection's end end every stream.
 *
 * Stream ids (macula_stream) are numbers unique within one peer, never
 * reused: MACULA_STREAM_CONTROL (0) is the control stream (it is also the
 * QUIC id of the client's first stream); a stream the peer opened has its
 * QUIC stream id; a stream we open gets its id at once from
 * macula_peer_open_stream (in the sequence QUIC uses for our side: 4, 8,
 * 12, ... on a client, 1, 5, 9, ... on a server, which is normally also its
 * QUIC id; the library maps it if QUIC numbered it differently).
 *
 * Events per stream (all before the peer's DISCONNECTED, after CONNECTED):
 * STREAM_OPENED once (stream_origin: who opened it), FRAME for each frame in
 * stream order (ev->stream says which stream), STREAM_CLOSED once
 * (stream_end: FIN = the peer finished its side after its last frame;
 * RESET = reset by the peer or by us, stream_code = the application error
 * code; CONNECTION = the peer connection ended first). A stream we open
 * whose opening fails gets only STREAM_CLOSED (RESET, code 0, detail
 * saying why). After STREAM_CLOSED(FIN) our side may still send, and
 * should finish it: a stream is released once both sides are done. */
typedef int64_t macula_stream;
#define MACULA_STREAM_CONTROL ((macula_stream)0)
/* Application error codes macula-c resets a peer-opened stream with. */
#define MACULA_STREAM_CODE_REFUSED 1u         /* beyond max_peer_streams (or not a bidi stream) */
#define MACULA_STREAM_CODE_FRAME_TOO_LARGE 2u /* a declared frame length over the limit */

typedef enum macula_stream_origin {
    MACULA_STREAM_BY_PEER = 1,
    MACULA_STREAM_BY_LOCAL
} macula_stream_origin;

typedef enum macula_stream_end {
    MACULA_STREAM_END_FIN = 1,
    MACULA_STREAM_END_RESET,
    MACULA_STREAM_END_CONNECTION
} macula_stream_end;

typedef struct macula_event {
    macula_event_type type;
    macula_peer peer;
    /* The peer's verified node id: set for CONNECTED, HANDSHAKE_COMPLETE,
     * FRAME, and DISCONNECTED after the handshake. */
    int has_peer_node_id;
    uint8_t peer_node_id[MACULA_NODE_ID_LEN];
    /* FRAME: the decoded frame, owned by the event; a handler that wants
     * to keep it calls macula_event_take_frame(). */
    macula_frame *frame;
    size_t wire_len;
    /* DISCONNECTED */
    macula_disconnect_reason reason;
    const char *detail;   /* readable detail, "" if none; owned by the event */
    int64_t refusal_code; /* REFUSED: the HELLO's refusal_code; -1 when null */

    /* --- appended (the library allocates events; see common.h) --- */
    /* DISCONNECTED: why, as a macula_err: MACULA_OK (drained, our close, or
     * the peer closing while we drained), MACULA_ERR_SHUTDOWN (runtime
     * stop), MACULA_ERR_RESOLVE / REFUSED / TIMEOUT (dial), MACULA_ERR_TLS /
     * PIN_MISMATCH / ALPN (TLS handshake), MACULA_ERR_IDLE_TIMEOUT,
     * MACULA_ERR_PEER_CLOSED (the peer closed the connection or reset it),
     * MACULA_ERR_STREAM_CLOSED (the peer ended or reset the stream),
     * MACULA_ERR_CONN_CLOSED (our side's QUIC connection went away under
     * the worker, e.g. its endpoint closed),
     * MACULA_ERR_HANDSHAKE_TIMEOUT, MACULA_ERR_SIGNATURE_INVALID (CONNECT /
     * HELLO did not verify), MACULA_ERR_IDENTITY_MISMATCH,
     * MACULA_ERR_REFUSED (also a HELLO accepted = "false"),
     * MACULA_ERR_BAD_FRAME (unexpected handshake frame),
     * MACULA_ERR_FRAME_TOO_LARGE, MACULA_ERR_QUIC (other transport errors),
     * MACULA_ERR_INTERNAL. 0 for other events. */
    int cause;
    /* DISCONNECTED: the peer's final snapshot (state ENDED, counters,
     * addresses) as macula_peer_get_info would have given it, owned by the
     * event (a mailbox copy has its own); its struct_size is the library's.
     * frames_dropped includes every frame a send accepted that never
     * reached the transport (held, queued, or unsent at the end). NULL for
     * other events. */
    const macula_peer_info *final_info;
    /* Every event: macula_peer_options.peer_user of the peer. */
    void *peer_user;
    /* FRAME: the stream it came on (MACULA_STREAM_CONTROL for the control
     * stream); STREAM_OPENED / STREAM_CLOSED: the stream. */
    macula_stream stream;
    macula_stream_origin stream_origin; /* STREAM_OPENED / STREAM_CLOSED */
    macula_stream_end stream_end;       /* STREAM_CLOSED */
    uint64_t stream_code;               /* STREAM_CLOSED with RESET: the application error code */

    /* --- appended: forwarding and lazy decoding --- */
    /* FRAME: the frame exactly as received, wire_len bytes, length prefix
     * included; already checked well formed. Valid as long as the event
     * (until the handler returns, or until macula_event_free of a mailbox
     * event); macula_peer_forward sends these bytes on without copying. */
    const uint8_t *wire;
    /* FRAME: 1 when the frame carries no `signature`. After the handshake
     * a peer should sign every frame; unsigned ones are still delivered
     * (flagged here; the first one per peer also gives an "unsigned_frame"
     * diagnostic) and macula_peer_send_frame refuses to sign them
     * (MACULA_ERR_NOT_SIGNABLE). */
    int unsigned_frame;
    /* private to the library: the reference on `wire`, and whether `frame`
     * is still to be decoded (lazy_frames) */
    void *wire_ref_;
    int lazy_;
} macula_event;

/* Called on the loop thread; `ev` and everything in it is valid until the
 * handler returns. */
typedef void (*macula_event_fn)(void *user, macula_event *ev);

/* Takes ownership of a FRAME event's frame (NULL for other events). With
 * lazy_frames it decodes the frame first (NULL when out of memory or over
 * the default decode budget, see max_decode_bytes). */
MACULA_API macula_frame *macula_event_take_frame(macula_event *ev);
/* A FRAME event's frame, still owned by the event: ev->frame, decoded from
 * ev->wire on the first call when the peer has lazy_frames (then stored in
 * ev->frame). NULL for other events, after take_frame, out of memory, or
 * when the frame would decode into more than the default max_decode_bytes
 * (64 MiB) or 32 bytes per wire byte: decoding lazily is no way around the
 * decode budget; ev->wire stays usable (e.g. for macula_peer_forward).
 * A frame decoded from a peer's bytes is marked received: see
 * macula_peer_send_frame. */
MACULA_API macula_frame *macula_event_frame(macula_event *ev);
/* A FRAME event's frame type ("publish", "goodbye", ...) as
 * macula_frame_type would give it, read from ev->wire without decoding for
 * the common types (a lazy relay skips GOODBYE with it); valid as long as
 * the event. NULL for other events or a frame without a text type. */
MACULA_API const char *macula_event_frame_type(macula_event *ev);
/* Frees an event popped from a mailbox. */
MACULA_API void macula_event_free(macula_event *ev);

/* --- mailbox: a thread-safe event queue with a pollable descriptor --- */
typedef struct macula_mailbox macula_mailbox;
/* macula_mailbox_new_budget(max_events, 0, 0, err): back-pressure, the
 * default byte budget. */
MACULA_API macula_mailbox *macula_mailbox_new(size_t max_events, int *err);
/* A mailbox bounded by `max_events` (0 = 1,048,576) and `max_bytes` of
 * queued events (each counts its frame's wire size plus ~200 bytes;
 * 0 = 64 MiB). When either is reached:
 *  - by default (back-pressure), FRAME events are still queued, and each
 *    peer that delivered into the full mailbox stops being read (QUIC flow
 *    control then stops the sender within its window; its peer_info
 *    reads_paused counts it) until pops bring the mailbox down to half of
 *    both caps: nothing is lost and each peer's order is kept. The caps
 *    are exceeded by at most what paused peers had in flight (a QUIC
 *    stream window each). macula_mailbox_close resumes them too (what
 *    they deliver is then refused, see below). A mailbox fed by
 *    macula_mailbox_handler outside a runtime's peers only queues.
 *  - with MACULA_MAILBOX_DROP_WHEN_FULL, FRAME events are dropped (counted
 *    in the peer's frames_dropped, reported as a "mailbox_full"
 *    diagnostic).
 * CONNECTED, HANDSHAKE_COMPLETE, SEND_READY, stream and DISCONNECTED events
 * are always queued (until macula_mailbox_close). flags: 0 or
 * MACULA_MAILBOX_DROP_WHEN_FULL; anything else is MACULA_ERR_INVALID_ARG. */
#define MACULA_MAILBOX_DROP_WHEN_FULL 1u
MACULA_API macula_mailbox *macula_mailbox_new_budget(size_t max_events, size_t max_bytes, unsigned flags,
                                                     int *err);
/* Free only once no runtime can post to it any more (runtime freed, or
 * every peer using it has ended) and no thread is inside
 * macula_mailbox_pop. Queued events are freed. */
MACULA_API void macula_mailbox_free(macula_mailbox *mb);
/* Any thread. Closes the mailbox: consumers blocked in macula_mailbox_pop
 * wake up; pop then never waits, returns the events still queued and NULL
 * once it is empty; the descriptor stays readable. Events posted later are
 * refused and freed (a dropped FRAME is counted in the peer's
 * frames_dropped, with a "mailbox_closed" diagnostic). Idempotent; the
 * mailbox must still be freed with macula_mailbox_free. */
MACULA_API void macula_mailbox_close(macula_mailbox *mb);
/* Readable while the mailbox holds events (an eventfd). */
MACULA_API int macula_mailbox_fd(const macula_mailbox *mb);
/* The oldest event (caller owns; macula_event_free), or NULL when empty
 * (after the timeout) or closed and empty. timeout_ms: 0 = don't wait,
 * -1 = wait forever (until an event or macula_mailbox_close).
 * Several consumers: each event is popped by exactly one of them, and pops
 * return events in queue order; but once several threads handle what they
 * popped, nothing orders their handling, so a peer's events are processed
 * in order only with a single consumer (or one consumer per peer, each
 * peer with its own mailbox). */
MACULA_API macula_event *macula_mailbox_pop(macula_mailbox *mb, int timeout_ms);
/* An event handler that queues into the mailbox passed as `user`:
 * opts.handler = macula_mailbox_handler; opts.handler_user = mb. */
MACULA_API void macula_mailbox_handler(void *mailbox, macula_event *ev);

/* --- peer options --- */
/* Admission policy of a server worker (added with the runtime glue: the
 * worker could always refuse, and this lets an application, or `macula
 * listen --refuse`, do it). Called on the loop thread with the verified
 * node id of a CONNECT. Return 0 to admit; non-zero to refuse, after
 * setting *refusal_code (>= 0, or -1 for null): the peer then gets HELLO
 * accepted = "false", the worker drains, and both sides end with
 * DISCONNECTED(refused) carrying that code. */
typedef int (*macula_admit_fn)(void *user, const uint8_t node_id[MACULA_NODE_ID_LEN], int64_t *refusal_code);

typedef struct macula_peer_options {
    /* ABI: set by macula_peer_options_init() (common.h, "ABI rules"). */
    size_t struct_size;
    /* Required: the local identity (copied; the caller keeps its own). */
    const macula_identity *identity;
    /* Realms (n_realms * 32 bytes, copied) and capabilities announced in
     * CONNECT / HELLO. */
    const uint8_t *realms;
    size_t n_realms;
    uint64_t capabilities;
    /* station_id announced (32 bytes); NULL = own node id. */
    const uint8_t *station_id;

    /* Required: the controlling handler. */
    macula_event_fn handler;
    void *handler_user;
    /* Optional: the accept owner (HANDSHAKE_COMPLETE). */
    macula_event_fn accept_owner;
    void *accept_owner_user;

    /* Target (connect only). */
    const char *host;
    uint16_t port;
    const char *const *alpn; /* NULL = {"macula"} */
    size_t n_alpn;
    uint32_t connect_timeout_ms; /* 30000 */

    /* Pins the peer: a CONNECT/HELLO whose verified node id differs ends
     * the peer with MACULA_DISC_PEER_IDENTITY_MISMATCH, and (client, unless
     * hello_only) the TLS check requires this Ed25519 key. NULL = any peer. */
    const uint8_t *expected_node_id;
    /* TLS check when expected_node_id is NULL or hello_only is set (NONE or
     * PKI); ignored (PIN) otherwise. */
    macula_quic_verify verify;
    const char *server_name; /* SNI and PKI host name; NULL = host */

    uint32_t handshake_timeout_ms; /* 30000 */
    uint32_t drain_timeout_ms;     /* 5000 */
    /* QUIC idle timeout and keep-alive of dialed connections (accepted
     * ones use their listener's QUIC settings). */
    uint32_t idle_timeout_ms; /* 300000 */
    uint32_t keepalive_ms;    /* 15000 */
    int low_memory;           /* 0; see macula_quic_settings.low_memory */
    /* Bytes of encoded frames queued towards the peer (beyond what QUIC
     * holds) before send_frame answers MACULA_ERR_QUEUE_FULL. 64 MiB. */
    size_t send_queue_cap;

    /* Server workers only (accept, listeners): see macula_admit_fn. NULL =
     * admit every peer whose CONNECT verifies. */
    macula_admit_fn admit;
    void *admit_user;

    /* --- release 2 (a struct_size of release 1 reads these as their
     * defaults) --- */
    /* Copied into every event of this peer (macula_event.peer_user); not
     * dereferenced by the library. A listener's auto_accept gives its value
     * to every worker of the listener. NULL. */
    void *peer_user;
    /* 0 (default): macula_peer_send_frame / send_wire before CONNECTED
     * fail with MACULA_ERR_STATE. 1: they are queued (within
     * send_queue_cap) and sent in call order right after CONNECTED; if the
     * peer ends without connecting they are counted in frames_dropped. */
    int queue_until_connected;

    /* Trust when dialing (PROTOCOL.md §6.4; client only). 1 = 10.0.0's
     * `pin_tls_cert => false`: expected_node_id (required then) is checked
     * against the HELLO only, and TLS is checked by `verify`, PKI (for a
     * peer serving a CA-issued certificate) or NONE; PIN is refused. 0 =
     * expected_node_id also pins the certificate's key. */
    int hello_only;
    /* PKI: a PEM file of the CA certificates to trust; NULL = the system
     * trust store. Refused ("ca_file") with any other effective mode. */
    const char *ca_file;
    /* 1: behave as a relay station (§6.5): announce capability bit 0
     * (MACULA_CAP_RELAY_STATION, OR-ed into `capabilities`) in CONNECT /
     * HELLO, and answer every CALL to procedure "_macula.ping" that
     * arrives while connected with a signed ERROR frame, code 1
     * (unknown_next_peer), with the CALL's call_id: the liveness probe a
     * 10.0.0 client sends its station every 30 s (it drops the link after
     * two unanswered ones). The CALL is still delivered as a FRAME event
     * (the application sees all traffic) and must not be answered again.
     * A listener's auto_accept options carry it to every server worker. */
    int station;
    /* Dedicated streams the peer may have open at once; one more is reset
     * with MACULA_STREAM_CODE_REFUSED (and a "stream_refused" diagnostic).
     * 0 = 100, as the reference's transport allows. */
    size_t max_peer_streams;

    /* --- release 3 (a struct_size of release 2 reads these as their
     * defaults) --- */
    /* 1: FRAME events come with ev->frame NULL and the checked bytes in
     * ev->wire (the same well-formedness check as a decode, nothing
     * built); macula_event_frame() / take_frame() decode on demand. For
     * relays that forward most frames unread. 0: ev->frame is decoded
     * before delivery (ev->wire is set too). The handshake frame and a
     * station's inbound frames are always decoded. */
    int lazy_frames;
    /* Budgets (issue 11). Defaults are sized for a 2-vCPU, ~4 GB box; see
     * also macula_runtime_options.peer_recv_budget. */
    /* Largest inbound frame body accepted; a larger declared length ends
     * the peer with MACULA_DISC_FRAME_TOO_LARGE as soon as its 4-byte
     * header is in. 0 = 16,777,215 (the protocol's maximum, also the
     * upper bound). */
    size_t max_frame_size;
    /* Bytes the peer's partial inbound frames (all its streams) may hold;
     * beyond it the peer ends with MACULA_DISC_RECV_BUDGET. 0 = 32 MiB. */
    size_t recv_budget;
    /* Memory a decoded inbound frame may take: at most 32 bytes per wire
     * byte plus 64 KiB, and never more than this. A frame over it is
     * dropped undecoded ("frame_dropped", reason decode_budget; counted
     * in frames_dropped). 0 = 64 MiB. */
    size_t max_decode_bytes;
    /* Dead-peer detection: end the peer with MACULA_DISC_DEAD_PEER when
     * no packet at all has come from it for this long, well before the
     * QUIC idle timeout. It relies on keep-alive PINGs (ack-eliciting, so
     * a live peer always answers): set it above the keep-alive interval
     * (keepalive_ms when dialing, the listener's quic.keepalive_ms when
     * accepting; 2-3 intervals avoids ending a peer for one lost ACK).
     * A dial with keepalive_ms 0 refuses it ("dead_peer_timeout_ms").
     * Checked every quarter of it. 0 = off (default). */
    uint32_t dead_peer_timeout_ms;
    /* Dialed connections: bytes QUIC keeps per stream (unsent + unacked),
     * on top of send_queue_cap (accepted ones use their listener's
     * quic.send_queue_cap). What a peer that stops reading can cost a
     * sender is therefore send_queue_cap + this per stream, and all peers
     * together are also held by macula_runtime_options.peer_send_budget.
     * 0 = the QUIC default (32 MiB). */
    size_t quic_send_queue_cap;
} macula_peer_options;

/* Zeroes `o`, sets every default above and records its size (common.h,
 * "ABI rules"); call it through the macro. A timeout, connect_timeout_ms
 * or send_queue_cap left at 0 also means its default, except keepalive_ms
 * (0 = no keep-alive PINGs). verify MACULA_QUIC_VERIFY_PIN requires
 * expected_node_id, which selects it by itself anyway (unless hello_only).
 * The trust modes of a dial, by expected_node_id / hello_only / verify:
 *   set / 0 / NONE or PIN   TLS pins the key, HELLO node id checked
 *   set / 1 / PKI           CA-verified TLS + host name, HELLO checked
 *   set / 1 / NONE          TLS unchecked, HELLO checked
 *   NULL / 0 / PKI or NONE  CA-verified TLS, or nothing checked */
MACULA_API void macula_peer_options_init_sized(macula_peer_options *o, size_t struct_size);
#define macula_peer_options_init(o) macula_peer_options_init_sized((o), sizeof *(o))

/* Any thread. Starts a client worker: dial, CONNECT, HELLO. Returns the
 * handle at once; only invalid options fail here (MACULA_ERR_INVALID_ARG,
 * with a message naming the field in *errmsg when errmsg is non-NULL:
 * a static string, e.g. "host" or "struct_size"), besides MACULA_ERR_SHUTDOWN once the
 * runtime is stopping and MACULA_ERR_NOMEM / MACULA_ERR_QUEUE_FULL.
 * Everything in `opts` is copied. */
MACULA_API macula_peer macula_peer_connect(macula_runtime *rt, const macula_peer_options *opts, int *err,
                                           const char **errmsg);
/* Any thread. Starts a server worker on a QUIC connection the application
 * received from a listener in manual mode (see macula_listener_options).
 * Events the connection had before are replayed to the worker, in order.
 * Call it at most once per connection, and not after
 * macula_listener_refuse() or macula_listener_close(): a connection that
 * is no longer waiting gives a worker that ends at once with
 * DISCONNECTED(closed_during_handshake). opts->identity is required. */
MACULA_API macula_peer macula_peer_accept(macula_runtime *rt, macula_quic_conn *conn,
                                          const macula_peer_options *opts, int *err, const char **errmsg);

/* Any thread; fire and forget. Connected: GOODBYE(reason) then drain, then
 * DISCONNECTED(drained). Earlier states: DISCONNECTED(closed, detail =
 * reason) at once. Draining or ended: nothing. reason NULL = "normal".
 * Returns 0, or MACULA_ERR_SHUTDOWN / MACULA_ERR_QUEUE_FULL when the
 * command could not be queued. A stale handle is a no-op returning 0. */
MACULA_API int macula_peer_close(macula_runtime *rt, macula_peer p, const char *reason);

/* Any thread. Takes ownership of `frame` in every case. Signs it with the
 * worker's identity unless it already has a signature, encodes it (in the
 * calling thread), and queues it. Errors, all synchronous:
 * MACULA_ERR_STALE_HANDLE, MACULA_ERR_FRAME_TOO_LARGE, MACULA_ERR_QUEUE_FULL
 * (send_queue_cap reached: a SEND_READY event follows once there is room,
 * unless the frame alone exceeds send_queue_cap), MACULA_ERR_SHUTDOWN, and
 * MACULA_ERR_STATE when the peer is not connected: before CONNECTED
 * (unless queue_until_connected), or once macula_peer_close was called or
 * it is draining. The state is the one published by the loop (what the
 * getters show, and at least what the last delivered event says), so a
 * send from the CONNECTED handler, or after popping CONNECTED, succeeds.
 * A frame accepted here is lost only when the peer ends before the
 * transport takes it; it is then counted in frames_dropped (see the
 * DISCONNECTED event's final_info).
 * A frame decoded from a peer (a FRAME event's frame, or a clone of it) is
 * never signed with our key: unsigned, it is refused with
 * MACULA_ERR_NOT_SIGNABLE (signing it would let any peer obtain our
 * signature over content of its choosing); signed, it is sent as it is.
 * To forward received frames use macula_peer_forward. */
MACULA_API int macula_peer_send_frame(macula_runtime *rt, macula_peer p, macula_frame *frame);
/* Any thread. Sends an already encoded wire frame (length prefix
 * included) as is, e.g. one being forwarded; it must be exactly one
 * well-formed frame (MACULA_ERR_BAD_FRAME otherwise). Copied. */
MACULA_API int macula_peer_send_wire(macula_runtime *rt, macula_peer p, const uint8_t *wire, size_t len);

/* Any thread. Forwards a FRAME event's frame to peer `to` on `stream`
 * (MACULA_STREAM_CONTROL = the control stream) exactly as it was received:
 * never decoded, re-encoded or signed, and not copied: the target's queue
 * shares the event's buffer (reference-counted; the event may be freed
 * right after, the source peer may end). An event whose wire bytes the
 * library does not hold (e.g. one built by the application) is copied as
 * macula_peer_send_wire_on would. Same send_queue_cap, state rules and
 * errors as send_wire_on; MACULA_ERR_INVALID_ARG for an event that is not
 * a FRAME. On the loop thread (a handler) the buffer goes straight into
 * the target's queue when no earlier send to it is still on its way, so a
 * refusal there (e.g. MACULA_ERR_STREAM_CLOSED for an unknown stream, with
 * its "frame_dropped" diagnostic) is returned at once; the target sends
 * later in the same loop iteration, with the other frames queued by then
 * (small ones share a QUIC write). */
MACULA_API int macula_peer_forward(macula_runtime *rt, macula_peer to, macula_stream stream, macula_event *ev);

/* Any thread; fire and forget, like send_frame. Opens a dedicated stream
 * on a connected peer and stores its id in *stream_out at once (see
 * "streams" above); STREAM_OPENED(BY_LOCAL) follows, or STREAM_CLOSED
 * (RESET, code 0) when it cannot be opened (not connected, draining, QUIC
 * stream limit). Frames sent on it before STREAM_OPENED are queued in
 * order. Errors: MACULA_ERR_STALE_HANDLE, MACULA_ERR_SHUTDOWN,
 * MACULA_ERR_QUEUE_FULL (command queue), MACULA_ERR_INVALID_ARG. */
MACULA_API int macula_peer_open_stream(macula_runtime *rt, macula_peer p, macula_stream *stream_out);
/* As macula_peer_send_frame / send_wire (same signing, encoding checks,
 * send_queue_cap and errors), on `stream`; MACULA_STREAM_CONTROL is the
 * control stream. Frames on one stream go out in order; a stream QUIC
 * cannot take more on waits without holding up the others. A send on a
 * stream that is unknown, finished or closed is dropped on the loop thread
 * with a "frame_dropped" diagnostic (reason stream_closed). */
MACULA_API int macula_peer_send_frame_on(macula_runtime *rt, macula_peer p, macula_stream stream,
                                         macula_frame *frame);
MACULA_API int macula_peer_send_wire_on(macula_runtime *rt, macula_peer p, macula_stream stream,
                                        const uint8_t *wire, size_t len);
/* Any thread; fire and forget. Ends our side of a dedicated stream with
 * FIN after the frames queued on it. The control stream cannot be
 * finished or reset (MACULA_ERR_INVALID_ARG): close the peer instead. */
MACULA_API int macula_peer_finish_stream(macula_runtime *rt, macula_peer p, macula_stream stream);
/* Any thread; fire and forget. Aborts a dedicated stream both ways with
 * application error code `code` (< 2^62); frames still queued on it are
 * dropped. STREAM_CLOSED(RESET, code) follows unless it was closed already. */
MACULA_API int macula_peer_reset_stream(macula_runtime *rt, macula_peer p, macula_stream stream, uint64_t code);

struct macula_peer_info {
    /* ABI: set by macula_peer_info_init() (common.h, "ABI rules"). */
    size_t struct_size;
    macula_peer_state state;
    int is_server;
    int has_node_id; /* set once the peer's CONNECT / HELLO verified */
    uint8_t node_id[MACULA_NODE_ID_LEN];
    uint8_t station_id[MACULA_NODE_ID_LEN];
    uint64_t capabilities; /* the peer's announced capabilities */
    size_t n_realms;       /* see macula_peer_get_realms */
    uint64_t frames_in, frames_out;
    uint64_t bytes_in, bytes_out; /* wire bytes of frames */
    uint64_t frames_dropped;      /* undecodable, early, late or unqueueable */
    char peer_addr[64];           /* "ip:port" once known, else "" */

    /* --- release 2: budgets (issue 11) --- */
    uint64_t recv_held;        /* bytes its partial inbound frames hold now */
    uint64_t recv_peak;        /* ... and at most so far */
    uint64_t frames_undecoded; /* dropped before the handshake after reading frame_type only */
    uint64_t decode_refused;   /* dropped by the decode budget (also in frames_dropped) */
    uint64_t reads_paused;     /* times reading paused for a full mailbox (back-pressure) */
};

/* Zeroes `out` and records its size (common.h, "ABI rules"). */
MACULA_API void macula_peer_info_init_sized(macula_peer_info *out, size_t struct_size);
#define macula_peer_info_init(o) macula_peer_info_init_sized((o), sizeof *(o))
/* Any thread: a consistent snapshot, written up to out->struct_size
 * (MACULA_ERR_INVALID_ARG when it is not a known size: initialize `out`
 * first). MACULA_ERR_STALE_HANDLE once ended: the last snapshot is the
 * DISCONNECTED event's final_info. */
MACULA_API int macula_peer_get_info(macula_runtime *rt, macula_peer p, macula_peer_info *out);
/* Any thread: copies up to `max` realm ids (32 bytes each) into `out`;
 * returns how many the peer announced (may exceed max) or an error. */
MACULA_API int macula_peer_get_realms(macula_runtime *rt, macula_peer p, uint8_t *out, size_t max);

/* --- listeners --- */
typedef struct macula_listener macula_listener;

/* Manual mode: a new QUIC connection (handshake done). The application
 * must call macula_peer_accept() (any thread, now or later) or
 * macula_listener_refuse(). Events meanwhile are queued for the worker. */
typedef void (*macula_connection_fn)(void *user, macula_listener *l, macula_quic_conn *conn);

typedef struct macula_listener_options {
    /* ABI: set by macula_listener_options_init() (common.h, "ABI rules"). */
    size_t struct_size;
    const char *bind_host; /* numeric; NULL = "0.0.0.0" */
    uint16_t bind_port;    /* 0 picks one: see macula_listener_port */
    /* Certificate: self-signed over `identity` with `sans`, or PEM files. */
    const macula_identity *identity;
    const char *const *sans;
    size_t n_sans;
    const char *cert_pem_file;
    const char *key_pem_file;
    const char *const *alpn; /* NULL = {"macula"} */
    size_t n_alpn;
    macula_quic_settings quic;

    /* Automatic mode: every connection gets a server worker with these
     * options (copied; identity NULL = the listener's). */
    const macula_peer_options *auto_accept;
    /* Manual mode (when auto_accept is NULL). */
    macula_connection_fn on_connection;
    void *on_connection_user;

    /* Cap on connections of this listener that have not finished the
     * CONNECT/HELLO handshake (workers awaiting the start or handshaking,
     * and manual-mode connections not yet accepted or refused); beyond it
     * new connections are closed at once with application code 1 and
     * reason "busy" (and a "listener_busy" diagnostic). 0 = no cap. */
    size_t max_handshaking;
    /* When a second connection from the same peer node id completes its
     * handshake, close the older worker (GOODBYE reason "replaced"). */
    int close_duplicate_peers;

    /* --- admission (added for issue 11; see quic.h) ---
     * "Pending" here spans the QUIC handshake AND the wait for the peer's
     * CONNECT/HELLO (manual mode: and for macula_peer_accept): a listener
     * holds its connections pending until then. Beyond the caps the oldest
     * pending connection is evicted (closed, application code 1, reason
     * "evicted", diagnostic "quic_pending_evicted", counted in
     * macula_listener_get_stats) instead of refusing the newcomer, so a
     * slowloris cannot lock honest peers out; under pressure one address's
     * newcomers beyond max_pending_per_addr are refused (quic.h).
     * max_handshaking above, when set, still refuses beyond it ("busy").
     * 0 = the quic.h default. */
    size_t max_pending;          /* MACULA_QUIC_DEFAULT_MAX_PENDING */
    size_t max_pending_per_addr; /* MACULA_QUIC_DEFAULT_MAX_PENDING_PER_ADDR */
    size_t pending_budget;       /* bytes; MACULA_QUIC_DEFAULT_PENDING_BUDGET */
    size_t max_connections;      /* MACULA_QUIC_DEFAULT_MAX_CONNECTIONS */
    macula_quic_retry retry;     /* MACULA_QUIC_RETRY_AUTO */
} macula_listener_options;

/* Zeroes `o`, sets the default QUIC settings and records the struct sizes
 * (common.h, "ABI rules"). */
MACULA_API void macula_listener_options_init_sized(macula_listener_options *o, size_t struct_size);
#define macula_listener_options_init(o) macula_listener_options_init_sized((o), sizeof *(o))
/* Binds and starts accepting. Everything in `opts` is copied. Fails with
 * MACULA_ERR_INVALID_ARG and *errmsg naming the field (static text, e.g.
 * "struct_size", "quic.struct_size"), with MACULA_ERR_STATE when called
 * off the loop thread while the loop runs (see Threads), or with the
 * endpoint's error (e.g. MACULA_ERR_IO when the port is taken).
 * The listener belongs to the runtime: macula_listener_close() releases
 * it, and so does the runtime's shutdown. */
MACULA_API macula_listener *macula_listener_new(macula_runtime *rt, const macula_listener_options *opts,
                                                int *err, const char **errmsg);
MACULA_API uint16_t macula_listener_port(const macula_listener *l);
/* Loop thread: the counters of the listener's QUIC endpoint (pending,
 * evicted, Retry, stray datagrams...). */
MACULA_API int macula_listener_get_stats(const macula_listener *l, macula_quic_endpoint_stats *out);
/* Manual mode: refuse a connection given to on_connection (loop thread;
 * from another thread while the loop runs: ignored, "api_misuse"
 * diagnostic): it is closed with application code 1 and reason
 * "refused". */
MACULA_API void macula_listener_refuse(macula_listener *l, macula_quic_conn *conn);
/* Stops accepting and closes every worker of the listener as
 * macula_peer_close(p, "listener_closed") would (GOODBYE + drain for
 * connected ones); connections still waiting for macula_peer_accept are
 * closed. The UDP endpoint and the listener are released once the workers
 * have ended: `l` must not be used after this call. Loop thread (from
 * another thread while the loop runs the call is ignored with an
 * "api_misuse" diagnostic: `l` stays open). When the runtime stops, its
 * listeners are closed the same way. */
MACULA_API void macula_listener_close(macula_listener *l);

/* --- stations, ERROR codes (PROTOCOL.md §6.5) --- */
/* capabilities bit 0: the node is a relay station. */
#define MACULA_CAP_RELAY_STATION 1u
/* The liveness probe's procedure (CALL, realm of 32 zero bytes). */
#define MACULA_STATION_PING_PROCEDURE "_macula.ping"
/* ERROR frame `code`s whose names the public vectors show. */
#define MACULA_ERROR_UNKNOWN_NEXT_PEER 1
#define MACULA_ERROR_TARGET_REALM_REFUSED 5
#define MACULA_ERROR_UNAUTHORIZED 16 /* added by 10.0.0 */
/* The name an ERROR frame carries with `code` ("unknown_next_peer",
 * "target_realm_refused", "unauthorized"), or NULL for a code whose name
 * is not known here. */
MACULA_API const char *macula_error_code_name(uint8_t code);

#ifdef __cplusplus
}
#endif
#endif /* MACULA_PEERING_H */
