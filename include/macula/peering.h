/* SPDX-License-Identifier: Apache-2.0 */
/*
 * macula-c: the peering layer (PROTOCOL.md §4-5): Macula's
 * `macula_peering` API in C.
 *
 * One worker per peer connection runs the CONNECT/HELLO handshake over a
 * QUIC connection, carries signed frames both ways on one stream, and
 * closes with GOODBYE and a drain. Workers live in the runtime's
 * supervisor; they are created on demand (connect / accept / a listener)
 * and never restarted.
 *
 * Events, per peer, in this order: CONNECTED once, then FRAME for each
 * inbound frame after the handshake, then exactly one DISCONNECTED, always
 * last. An optional accept owner gets HANDSHAKE_COMPLETE at the moment the
 * peer becomes connected.
 *
 * Threads:
 *  - macula_peer_connect, macula_peer_accept, macula_peer_close,
 *    macula_peer_send_frame, macula_peer_send_wire, macula_peer_get_info,
 *    macula_peer_get_realms: any thread, return at once ("fire and
 *    forget": the work is queued to the loop thread in call order).
 *  - Event handlers and the diagnostics hook run on the loop thread; they
 *    may call any function of this header (but must not block for long).
 *  - Listeners: created and closed on the loop thread, or on any thread
 *    before the runtime starts running.
 *  - A mailbox may be popped from any thread.
 *
 * Handles: a `macula_peer` is a plain number, never reused within a
 * runtime. Once its worker has ended the handle is stale: closing it is a
 * harmless no-op, sending on it returns MACULA_ERR_STALE_HANDLE, getters
 * return MACULA_ERR_STALE_HANDLE. It turns stale when DISCONNECTED is
 * delivered (so also for the handler receiving it).
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
 * unsent_at_end, ...), "handshake_timeout", "unexpected_event" (event:
 * what came), "peer_refused" (an admit policy said no), "mailbox_full" (a
 * FRAME event a mailbox could not take; counted in frames_dropped),
 * "listener_busy" (max_handshaking reached; field peer_addr),
 * "quic_pending_evicted" and "quic_pending_refused" (admission, see the
 * listener options),
 * "listener_accept_failed", "internal_error".
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
    MACULA_DISC_INTERNAL_ERROR               /* out of memory or a broken invariant; detail says */
} macula_disconnect_reason;
/* "connect_failed", "handshake_timeout", ..., "closed", "internal_error". */
MACULA_API const char *macula_disconnect_reason_name(macula_disconnect_reason r);

/* --- events --- */
typedef enum macula_event_type {
    MACULA_EVENT_CONNECTED = 1,
    MACULA_EVENT_FRAME,
    MACULA_EVENT_DISCONNECTED,
    MACULA_EVENT_HANDSHAKE_COMPLETE /* to the accept owner only */
} macula_event_type;

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
} macula_event;

/* Called on the loop thread; `ev` and everything in it is valid until the
 * handler returns. */
typedef void (*macula_event_fn)(void *user, macula_event *ev);

/* Takes ownership of a FRAME event's frame (NULL for other events). */
MACULA_API macula_frame *macula_event_take_frame(macula_event *ev);
/* Frees an event popped from a mailbox. */
MACULA_API void macula_event_free(macula_event *ev);

/* --- mailbox: a thread-safe event queue with a pollable descriptor --- */
typedef struct macula_mailbox macula_mailbox;
/* `max_events` 0 = 1,048,576. When full, FRAME events are dropped (counted
 * in the peer's frames_dropped, reported as a "mailbox_full" diagnostic);
 * CONNECTED, HANDSHAKE_COMPLETE and DISCONNECTED are always queued. */
MACULA_API macula_mailbox *macula_mailbox_new(size_t max_events, int *err);
/* Free only once no runtime can post to it any more (runtime freed, or
 * every peer using it has ended). Queued events are freed. */
MACULA_API void macula_mailbox_free(macula_mailbox *mb);
/* Readable while the mailbox holds events (an eventfd). */
MACULA_API int macula_mailbox_fd(const macula_mailbox *mb);
/* The oldest event (caller owns; macula_event_free), or NULL when empty.
 * timeout_ms: 0 = don't wait, -1 = wait forever. */
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
} macula_peer_options;

/* Zeroes `o` and sets every default above. A timeout, connect_timeout_ms
 * or send_queue_cap left at 0 also means its default, except keepalive_ms
 * (0 = no keep-alive PINGs). verify MACULA_QUIC_VERIFY_PIN requires
 * expected_node_id, which selects it by itself anyway (unless hello_only).
 * The trust modes of a dial, by expected_node_id / hello_only / verify:
 *   set / 0 / NONE or PIN   TLS pins the key, HELLO node id checked
 *   set / 1 / PKI           CA-verified TLS + host name, HELLO checked
 *   set / 1 / NONE          TLS unchecked, HELLO checked
 *   NULL / 0 / PKI or NONE  CA-verified TLS, or nothing checked */
MACULA_API void macula_peer_options_init(macula_peer_options *o);

/* Any thread. Starts a client worker: dial, CONNECT, HELLO. Returns the
 * handle at once; only invalid options fail here (MACULA_ERR_INVALID_ARG,
 * with a message naming the field in *errmsg when errmsg is non-NULL:
 * a static string, e.g. "host"), besides MACULA_ERR_SHUTDOWN once the
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
 * (send_queue_cap reached: retry later), MACULA_ERR_SHUTDOWN. A frame sent
 * before the peer is connected is dropped with a diagnostic (as the
 * reference does). */
MACULA_API int macula_peer_send_frame(macula_runtime *rt, macula_peer p, macula_frame *frame);
/* Any thread. Sends an already encoded wire frame (length prefix
 * included) as is, e.g. one being forwarded; it must be exactly one
 * well-formed frame (MACULA_ERR_BAD_FRAME otherwise). Copied. */
MACULA_API int macula_peer_send_wire(macula_runtime *rt, macula_peer p, const uint8_t *wire, size_t len);

typedef struct macula_peer_info {
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
} macula_peer_info;

/* Any thread: a consistent snapshot. MACULA_ERR_STALE_HANDLE once ended. */
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

/* Zeroes `o` and sets the default QUIC settings. */
MACULA_API void macula_listener_options_init(macula_listener_options *o);
/* Binds and starts accepting. Everything in `opts` is copied. Fails with
 * MACULA_ERR_INVALID_ARG and *errmsg naming the field (static text), or
 * with the endpoint's error (e.g. MACULA_ERR_IO when the port is taken).
 * The listener belongs to the runtime: macula_listener_close() releases
 * it, and so does the runtime's shutdown. */
MACULA_API macula_listener *macula_listener_new(macula_runtime *rt, const macula_listener_options *opts,
                                                int *err, const char **errmsg);
MACULA_API uint16_t macula_listener_port(const macula_listener *l);
/* Loop thread: the counters of the listener's QUIC endpoint (pending,
 * evicted, Retry, stray datagrams...). */
MACULA_API int macula_listener_get_stats(const macula_listener *l, macula_quic_endpoint_stats *out);
/* Manual mode: refuse a connection given to on_connection (loop thread):
 * it is closed with application code 1 and reason "refused". */
MACULA_API void macula_listener_refuse(macula_listener *l, macula_quic_conn *conn);
/* Stops accepting and closes every worker of the listener as
 * macula_peer_close(p, "listener_closed") would (GOODBYE + drain for
 * connected ones); connections still waiting for macula_peer_accept are
 * closed. The UDP endpoint and the listener are released once the workers
 * have ended: `l` must not be used after this call. Loop thread. When the
 * runtime stops, its listeners are closed the same way. */
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
