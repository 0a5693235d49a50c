/* SPDX-License-Identifier: Apache-2.0 */
/*
 * macula-c: the QUIC transport (PROTOCOL.md §3), on ngtcp2 + GnuTLS.
 *
 * QUIC v1, TLS 1.3, ALPN "macula" by default. It moves bytes on streams
 * and reports what happens to connections; it knows nothing about frames.
 *
 * Threads: every function here is loop-thread only (see runtime.h), and
 * every event is delivered on the loop thread. Enforced where a call
 * starts from nothing: macula_quic_endpoint_new and macula_quic_dial fail
 * with MACULA_ERR_STATE, and macula_quic_endpoint_close is ignored (an
 * "api_misuse" diagnostic), when called from another thread while a
 * thread runs the loop; the connection functions take a connection that
 * only its loop-thread owner holds.
 *
 * Ownership and lifetime:
 *  - An endpoint is owned by its creator until macula_quic_endpoint_close();
 *    the runtime frees endpoints that are still open when it is freed.
 *  - A connection has exactly one owner: the (handler, user) pair that
 *    receives its events. A dialed connection starts with the handler given
 *    to macula_quic_dial(); an accepted one with the endpoint's
 *    on_connection handler. macula_quic_conn_set_owner() hands it over.
 *    While the owner is "none" (handler NULL) events are queued in order,
 *    and delivered to the next owner, never dropped; received stream data
 *    is then held and flow-control credit is not returned, so the queue
 *    stays within the receive windows.
 *  - A connection pointer is valid until its MACULA_QUIC_EV_CLOSED event
 *    handler returns; CLOSED is always its last event, delivered once.
 *  - Event data (bytes, reason strings) is borrowed for the duration of the
 *    handler call.
 */
#ifndef MACULA_QUIC_H
#define MACULA_QUIC_H

#include <sys/socket.h>

#include "macula/common.h"
#include "macula/identity.h"
#include "macula/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MACULA_QUIC_DEFAULT_ALPN "macula"
#define MACULA_QUIC_MAX_ALPN 8

typedef struct macula_quic_endpoint macula_quic_endpoint;
typedef struct macula_quic_conn macula_quic_conn;

/* --- events --- */
typedef enum macula_quic_event_type {
    /* Handshake complete: a dial succeeded, or (endpoint handler) a new
     * connection was accepted. */
    MACULA_QUIC_EV_CONNECTED = 1,
    /* The peer opened `stream_id`. */
    MACULA_QUIC_EV_STREAM_OPENED,
    /* `len` bytes (possibly 0) in order on `stream_id`; `fin` when the
     * peer has finished sending on it. Each byte is delivered once. */
    MACULA_QUIC_EV_STREAM_DATA,
    /* The peer reset `stream_id` (RESET_STREAM) or asked us to stop
     * sending (STOP_SENDING); `error_code` is its application code. */
    MACULA_QUIC_EV_STREAM_RESET,
    /* A send that returned MACULA_ERR_WOULD_BLOCK may be retried. */
    MACULA_QUIC_EV_SEND_READY,
    /* The connection has ended; see `close`. Last event. */
    MACULA_QUIC_EV_CLOSED,
    /* Both directions of `stream_id` are over: the peer finished (or reset)
     * its side and everything we sent on it, FIN included, was
     * acknowledged (or we reset it). Added with the implementation: it is
     * how a sender learns that its last bytes arrived before it closes the
     * connection (`macula quic dial` exits on it). */
    MACULA_QUIC_EV_STREAM_CLOSED,
    /* Everything below `offset` on `stream_id` has been acknowledged by the
     * peer; only after macula_quic_conn_watch_acked(), once per call.
     * Added for the peering layer: a server must not let application
     * frames share the first flight with its HELLO (PROTOCOL.md §6.5). */
    MACULA_QUIC_EV_STREAM_ACKED
} macula_quic_event_type;

typedef enum macula_quic_close_cause {
    MACULA_QUIC_CLOSE_LOCAL = 1,        /* macula_quic_conn_close() or endpoint/runtime closing */
    MACULA_QUIC_CLOSE_PEER,             /* peer sent CONNECTION_CLOSE (code, reason) */
    MACULA_QUIC_CLOSE_IDLE_TIMEOUT,     /* nothing heard for the idle timeout */
    MACULA_QUIC_CLOSE_HANDSHAKE_FAILED, /* TLS/QUIC handshake failed (tls_alert, err) */
    MACULA_QUIC_CLOSE_STATELESS_RESET,  /* peer sent a stateless reset */
    MACULA_QUIC_CLOSE_DIAL_FAILED,      /* resolution, refusal or the dial deadline (err) */
    MACULA_QUIC_CLOSE_ERROR             /* local protocol or I/O error (err) */
} macula_quic_close_cause;

typedef struct macula_quic_close_info {
    macula_quic_close_cause cause;
    int err;              /* a macula_err giving the detail (0 if none) */
    int app_error;        /* 1: error_code is an application code */
    uint64_t error_code;  /* QUIC transport or application error code */
    const char *reason;   /* NUL-terminated reason text ("" if none) */
    int tls_alert;        /* TLS alert number, or -1 */
} macula_quic_close_info;

typedef struct macula_quic_event {
    macula_quic_event_type type;
    macula_quic_conn *conn;
    int64_t stream_id;     /* STREAM_* and SEND_READY events */
    const uint8_t *data;   /* STREAM_DATA */
    size_t len;
    int fin;               /* STREAM_DATA */
    uint64_t error_code;   /* STREAM_RESET */
    macula_quic_close_info close; /* CLOSED */
    uint64_t offset;       /* STREAM_ACKED: the acknowledged offset (>= the one watched) */
} macula_quic_event;

typedef void (*macula_quic_handler)(void *user, const macula_quic_event *ev);

/* Short stable names: "local", "peer", "idle_timeout", ... */
MACULA_API const char *macula_quic_close_cause_name(macula_quic_close_cause cause);

/* --- transport settings --- */
/* Embedded by value in the endpoint, dial and listener options, so its
 * layout is frozen (common.h, "ABI rules"): struct_size must be its sizeof,
 * which the embedding struct's _init sets. */
typedef struct macula_quic_settings {
    size_t struct_size;
    uint32_t idle_timeout_ms;  /* 300000; a silent peer is detected at this point */
    uint32_t keepalive_ms;     /* 15000; 0 disables keep-alive PINGs */
    uint32_t handshake_timeout_ms; /* 30000; server-side bound on a handshake */
    uint64_t stream_window;    /* 16 MiB receive window per stream */
    uint64_t conn_window;      /* 64 MiB receive window per connection */
    uint64_t max_bidi_streams; /* 100 streams the peer may open */
    uint64_t max_uni_streams;  /* 3 */
    size_t send_queue_cap;     /* bytes queued (unsent + unacked) per stream; 32 MiB */
    /* Kept for compatibility; it has no effect any more: every connection
     * gets what this used to buy (ngtcp2's large blocks come
     * from a pool of page-aligned slots, so an idle connection keeps
     * resident only what it touches; BENCHMARKS.md), without its handshake
     * CPU cost. 0. */
    int low_memory;
} macula_quic_settings;

MACULA_API void macula_quic_settings_init_sized(macula_quic_settings *s, size_t struct_size);
#define macula_quic_settings_init(s) macula_quic_settings_init_sized((s), sizeof *(s))

/* --- endpoints --- */

/* Admission of server connections not yet connected ("pending": from the
 * first Initial until the QUIC handshake completes, or, with
 * hold_until_admitted, until macula_quic_conn_admitted()). Defaults sized
 * for a 2-vCPU box; see RELIABILITY.md for the measurements behind them. */
/* Pending connections at once. */
#define MACULA_QUIC_DEFAULT_MAX_PENDING 1024
/* Pending connections from one source address (IPv4 /32, IPv6 /64),
 * enforced (newcomers refused) while more than half the pending cap is used. */
#define MACULA_QUIC_DEFAULT_MAX_PENDING_PER_ADDR 64
/* Memory the pending connections may use... */
#define MACULA_QUIC_DEFAULT_PENDING_BUDGET (64u * 1024u * 1024u)
/* ...counted at this estimate per pending connection: measured RSS per
 * half-open handshake and per connection awaiting CONNECT (the larger),
 * rounded up (RELIABILITY.md). */
#define MACULA_QUIC_PENDING_BYTES (100u * 1024u)
/* Connections of one endpoint at once (all states). */
#define MACULA_QUIC_DEFAULT_MAX_CONNECTIONS 65536

/* QUIC address validation (RFC 9000 8.1): a Retry packet makes the client
 * prove it receives at its source address before any state is kept. It
 * costs honest clients one round trip. */
typedef enum macula_quic_retry {
    MACULA_QUIC_RETRY_AUTO = 0, /* while more than half the pending cap is used */
    MACULA_QUIC_RETRY_ALWAYS,
    MACULA_QUIC_RETRY_NEVER
} macula_quic_retry;

typedef struct macula_quic_endpoint_options {
    size_t struct_size; /* ABI: set by macula_quic_endpoint_options_init() */
    const char *bind_host;  /* numeric address; NULL = "0.0.0.0" ("::" for IPv6) */
    uint16_t bind_port;     /* 0 picks a free port */

    /* Server role: set on_connection to accept connections. */
    macula_quic_handler on_connection; /* gets CONNECTED for each new connection */
    void *on_connection_user;
    /* Certificate: either self-signed over `identity` (copied), with
     * subject CN "Macula Identity", the given SANs (DNS names or IP
     * addresses) and ~10 years' validity... */
    const macula_identity *identity;
    const char *const *sans;
    size_t n_sans;
    /* ...or PEM files (used when both are set). */
    const char *cert_pem_file;
    const char *key_pem_file;
    /* ALPNs the server accepts, in preference order; NULL = {"macula"}. */
    const char *const *alpn;
    size_t n_alpn;
    size_t max_connections; /* 0 = 65536; beyond it new connections are refused */

    macula_quic_settings settings;

    /* --- admission (server role; added for issue 11) ---
     * Pending connections are capped at min(max_pending, pending_budget /
     * MACULA_QUIC_PENDING_BYTES). A newcomer beyond the cap EVICTS the
     * oldest pending connection: it is closed with application code 1,
     * reason "evicted", a "quic_pending_evicted" diagnostic (fields peer,
     * age_ms) and counted in the endpoint's stats; a slow or silent peer
     * thus cannot hold honest ones out. While more than half the cap is
     * used, a newcomer from an address that already has
     * max_pending_per_addr pending is refused at once (stateless
     * CONNECTION_CLOSE "busy: too many pending from this address", no
     * handshake work; diagnostic "quic_pending_refused"), so one address
     * can neither take the cap nor churn through it. 0 = default. */
    size_t max_pending;          /* MACULA_QUIC_DEFAULT_MAX_PENDING */
    size_t max_pending_per_addr; /* MACULA_QUIC_DEFAULT_MAX_PENDING_PER_ADDR */
    size_t pending_budget;       /* bytes; MACULA_QUIC_DEFAULT_PENDING_BUDGET */
    macula_quic_retry retry;     /* AUTO */
    /* 1: a connection stays pending after its handshake until the owner
     * calls macula_quic_conn_admitted() (or it closes). */
    int hold_until_admitted;
} macula_quic_endpoint_options;

/* Zeroes `o`, sets the default settings and records the struct sizes
 * (common.h, "ABI rules"). */
MACULA_API void macula_quic_endpoint_options_init_sized(macula_quic_endpoint_options *o, size_t struct_size);
#define macula_quic_endpoint_options_init(o) macula_quic_endpoint_options_init_sized((o), sizeof *(o))
/* Binds a UDP socket. Options are copied (MACULA_ERR_INVALID_ARG for an
 * unknown struct_size, outer or settings). */
MACULA_API macula_quic_endpoint *macula_quic_endpoint_new(macula_runtime *rt,
                                                          const macula_quic_endpoint_options *opts,
                                                          int *err);
/* The bound address (port 0 resolved). */
MACULA_API int macula_quic_endpoint_local_addr(const macula_quic_endpoint *ep,
                                               struct sockaddr_storage *addr, socklen_t *len);
MACULA_API uint16_t macula_quic_endpoint_port(const macula_quic_endpoint *ep);

/* Counters of one endpoint (added for issue 11). Caller-allocated: fill it
 * with macula_quic_endpoint_stats_init() first (common.h, "ABI rules"). */
typedef struct macula_quic_endpoint_stats {
    size_t struct_size;        /* ABI: set by macula_quic_endpoint_stats_init() */
    uint64_t connections;      /* now, all states */
    uint64_t pending;          /* now: not yet connected (see admission) */
    uint64_t pending_cap;      /* the effective cap */
    uint64_t evicted;          /* pending connections evicted (the cap) */
    uint64_t refused_per_addr; /* Initials refused by the per-address limit */
    uint64_t refused;          /* Initials refused (max_connections, closing) */
    uint64_t retry_sent;       /* Retry packets sent */
    uint64_t retry_token_bad;  /* Initials with an invalid or expired token */
    uint64_t stray_datagrams;  /* short-header datagrams for no known id */
    uint64_t stray_conn_reads; /* ...handed to a connection (reset token matched) */
    uint64_t reset_tokens;     /* peers' stateless reset tokens known now */
} macula_quic_endpoint_stats;
MACULA_API void macula_quic_endpoint_stats_init_sized(macula_quic_endpoint_stats *out, size_t struct_size);
#define macula_quic_endpoint_stats_init(o) macula_quic_endpoint_stats_init_sized((o), sizeof *(o))
/* Loop thread. MACULA_ERR_INVALID_ARG for an uninitialised `out`. */
MACULA_API int macula_quic_endpoint_get_stats(const macula_quic_endpoint *ep, macula_quic_endpoint_stats *out);
/* Closes every connection of the endpoint (each gets CLOSED, cause local)
 * and releases the endpoint. */
MACULA_API void macula_quic_endpoint_close(macula_quic_endpoint *ep);

/* --- dialing --- */
typedef enum macula_quic_verify {
    MACULA_QUIC_VERIFY_NONE = 0, /* accept any certificate (logs a warning) */
    MACULA_QUIC_VERIFY_PIN,      /* leaf SubjectPublicKeyInfo must be pin_ed25519 */
    MACULA_QUIC_VERIFY_PKI       /* chain to the system trust store (or ca_file) + host name */
} macula_quic_verify;

typedef struct macula_quic_dial_options {
    size_t struct_size;        /* ABI: set by macula_quic_dial_options_init() */
    const char *host;          /* name or numeric address */
    uint16_t port;
    const char *const *alpn;   /* NULL = {"macula"} */
    size_t n_alpn;
    uint32_t timeout_ms;       /* 30000: resolution + the whole handshake */
    macula_quic_verify verify;
    const uint8_t *pin_ed25519; /* 32 bytes, for MACULA_QUIC_VERIFY_PIN */
    const char *server_name;   /* SNI / PKI host name; NULL = host (when a name) */
    macula_quic_settings settings;
    /* PKI only: a PEM file of the CA certificates to trust instead of the
     * system trust store (NULL = the system store). Read when the dial
     * starts; one that cannot be read, or holds no certificate, fails the
     * dial (CLOSED, cause DIAL_FAILED, with the reason). Set with another
     * verify mode: MACULA_ERR_INVALID_ARG. */
    const char *ca_file;
} macula_quic_dial_options;

/* Defaults and struct sizes (common.h, "ABI rules"). */
MACULA_API void macula_quic_dial_options_init_sized(macula_quic_dial_options *o, size_t struct_size);
#define macula_quic_dial_options_init(o) macula_quic_dial_options_init_sized((o), sizeof *(o))
/* Starts a dial; returns at once. The connection then gets CONNECTED or
 * CLOSED (cause DIAL_FAILED / HANDSHAKE_FAILED, never a hang: the deadline
 * covers everything). `ep` NULL uses the runtime's shared client endpoint
 * of the right address family. Only invalid options fail here. */
MACULA_API macula_quic_conn *macula_quic_dial(macula_runtime *rt, macula_quic_endpoint *ep,
                                              const macula_quic_dial_options *opts,
                                              macula_quic_handler handler, void *user, int *err);

/* --- connections --- */
/* Hands the connection to a new owner; queued events are delivered to it
 * (from the loop, not from inside this call). handler NULL = queue. */
MACULA_API void macula_quic_conn_set_owner(macula_quic_conn *c, macula_quic_handler handler, void *user);
/* Opens a bidirectional stream (client or server). */
MACULA_API int macula_quic_conn_open_stream(macula_quic_conn *c, int64_t *stream_id);
/* Queues `len` bytes (copied) on the stream, all or nothing; `fin` ends the
 * sending side after them. MACULA_ERR_WOULD_BLOCK when they do not fit in
 * the send queue (then SEND_READY comes later). Bytes are never dropped or
 * reordered. */
MACULA_API int macula_quic_conn_send(macula_quic_conn *c, int64_t stream_id, const uint8_t *data, size_t len,
                                     int fin);
/* Free space in the stream's send queue. */
MACULA_API size_t macula_quic_conn_send_space(const macula_quic_conn *c, int64_t stream_id);
/* Half-close: FIN after what is queued. */
MACULA_API int macula_quic_conn_shutdown_stream(macula_quic_conn *c, int64_t stream_id);
/* Read-side backpressure (added by the transport's implementer: an owner
 * that cannot take more data, e.g. an echo whose send queue is full, needs
 * a way to stop the peer without dropping bytes). While a stream is
 * paused, its STREAM_DATA (and a later STREAM_RESET) events stay queued in
 * the connection with their flow-control credit withheld, so the peer
 * stops at the stream window; resuming delivers them in order, from the
 * loop, not inside this call. Other streams' and connection events keep
 * flowing. Pausing is ignored once the connection is closing: everything
 * queued is delivered before CLOSED. */
MACULA_API int macula_quic_conn_pause_reading(macula_quic_conn *c, int64_t stream_id, int paused);
/* Asks for one STREAM_ACKED event once the peer has acknowledged every
 * byte below `offset` on the stream (at once, from the loop, if it has
 * already). A later call replaces the watch. MACULA_ERR_STREAM_CLOSED
 * when the stream is gone or reset: no event will come. */
MACULA_API int macula_quic_conn_watch_acked(macula_quic_conn *c, int64_t stream_id, uint64_t offset);
/* Abort both directions of the stream with an application error code. */
MACULA_API int macula_quic_conn_reset_stream(macula_quic_conn *c, int64_t stream_id, uint64_t app_error_code);
/* Application close (code 0 and reason "closed" are the Macula defaults;
 * reason NULL = "closed"). CLOSED follows (cause LOCAL). Idempotent. */
MACULA_API void macula_quic_conn_close(macula_quic_conn *c, uint64_t app_error_code, const char *reason);

MACULA_API int macula_quic_conn_peer_addr(const macula_quic_conn *c, struct sockaddr_storage *addr,
                                          socklen_t *len);
/* "ip:port" / "[ip6]:port" into buf. */
MACULA_API int macula_quic_conn_peer_addr_string(const macula_quic_conn *c, char *buf, size_t size);
/* Negotiated ALPN (borrowed), NULL before the handshake. */
MACULA_API const char *macula_quic_conn_alpn(const macula_quic_conn *c);
/* The peer certificate's Ed25519 key (client side), or NULL. */
MACULA_API const uint8_t *macula_quic_conn_peer_ed25519(const macula_quic_conn *c);
MACULA_API int macula_quic_conn_is_server(const macula_quic_conn *c);
/* Server connections of an endpoint with hold_until_admitted: the owner
 * has seen what it waited for (e.g. the peer's CONNECT); the connection
 * stops counting as pending and can no longer be evicted. Idempotent;
 * no-op for other connections. */
MACULA_API void macula_quic_conn_admitted(macula_quic_conn *c);

typedef struct macula_quic_conn_stats {
    size_t struct_size;      /* ABI: set by macula_quic_conn_stats_init() */
    uint64_t bytes_sent;     /* stream payload bytes */
    uint64_t bytes_received;
    uint64_t packets_sent;
    uint64_t packets_received;
    uint64_t packets_lost;   /* packets carrying stream data declared lost */
    uint64_t smoothed_rtt_us;
} macula_quic_conn_stats;
/* Zeroes `out` and records its size (common.h, "ABI rules"). */
MACULA_API void macula_quic_conn_stats_init_sized(macula_quic_conn_stats *out, size_t struct_size);
#define macula_quic_conn_stats_init(o) macula_quic_conn_stats_init_sized((o), sizeof *(o))
/* Fills `out` up to its struct_size (initialize it first). 0, or
 * MACULA_ERR_INVALID_ARG (NULL, or an unknown struct_size: nothing
 * written). */
MACULA_API int macula_quic_conn_get_stats(const macula_quic_conn *c, macula_quic_conn_stats *out);

/* --- certificates --- */
/* The self-signed certificate an endpoint would serve for `id` (PEM) and
 * the identity's private key as PKCS#8 PEM, for other QUIC stacks. Both
 * malloc'd (macula_free). */
MACULA_API int macula_quic_make_cert_pem(const macula_identity *id, const char *const *sans, size_t n_sans,
                                         char **cert_pem, char **key_pem);

#ifdef __cplusplus
}
#endif
#endif /* MACULA_QUIC_H */
