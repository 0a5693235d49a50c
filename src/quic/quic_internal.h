/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the QUIC transport's objects (endpoint, connection, stream) and
 * the functions its files share. Everything here runs on the loop thread.
 *
 * Re-entrancy rule: owner handlers may call any public function, so no
 * public function reads or writes packets itself. They change state and
 * "kick" the connection (a per-connection timer armed at 0); the kick runs
 * close requests, delivers queued events and writes packets from the top of
 * the loop, never from inside ngtcp2 or a handler. Connections and
 * endpoints are freed only there too (or from the endpoint's own close when
 * no dispatch of it is on the stack).
 */
#ifndef MACULA_QUIC_INTERNAL_H
#define MACULA_QUIC_INTERNAL_H

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "macula/quic.h"
#include "quic/admission.h"
#include "quic/cid_table.h"
#include "quic/reset_tokens.h"
#include "quic/send_buffer.h"
#include "quic/udp_socket.h"
#include "runtime/loop.h"

/* Every connection id we issue has this length (short-header packets do not
 * carry the length, so the endpoint needs one). */
#define QUIC_CID_LEN 16
/* CIDs a peer may hold for us at once (active_connection_id_limit). */
#define QUIC_ACTIVE_CID_LIMIT 4
/* Our CIDs per connection: the active ones, ones being retired, and the
 * client's original destination CID on the server side. */
#define QUIC_MAX_CIDS 12
#define QUIC_REASON_MAX 256

typedef struct quic_rt quic_rt;
typedef struct quic_stream quic_stream;
typedef struct quic_event_item quic_event_item;

enum conn_state {
    CONN_RESOLVING = 1, /* client: waiting for the host name */
    CONN_HANDSHAKING,
    CONN_CONNECTED,
    CONN_CLOSING,       /* we sent CONNECTION_CLOSE; answering with it for 3 PTO */
    CONN_DRAINING,      /* the peer closed (or reset); silent for 3 PTO */
    CONN_DEAD           /* waiting to be freed */
};

/* What the endpoint does with the connection's state on termination. */
enum term_mode {
    TERM_SEND_CLOSE, /* write CONNECTION_CLOSE, keep a closing remnant */
    TERM_DRAIN,      /* peer closed: keep a silent remnant */
    TERM_DROP        /* free as soon as CLOSED is delivered */
};

struct quic_stream {
    int64_t id;
    quic_stream *next;
    macula__send_buffer sb;
    int fin_queued;    /* owner asked for FIN after the queued bytes */
    int fin_sent;
    int want_send_ready; /* owner got WOULD_BLOCK; SEND_READY owed */
    size_t wanted;       /* bytes of the refused send */
    int read_paused;
    int reset;           /* reset locally or by the peer: no more sending */
    int local_reset;     /* macula_quic_conn_reset_stream() was called */
    int gone;            /* ngtcp2 closed it; kept only for a pause */
    int reset_reported;
    unsigned skip_gen;   /* write pass in which ngtcp2 said "blocked" */
    size_t queued_events; /* its events waiting in the connection's queue */
    int ack_watch;        /* STREAM_ACKED owed once `acked` reaches ack_watch_off */
    uint64_t ack_watch_off;
};

struct quic_event_item {
    quic_event_item *next;
    macula_quic_event ev;
    uint8_t data[]; /* STREAM_DATA payload */
};

struct macula_quic_conn {
    macula_quic_endpoint *ep;  /* NULL while resolving */
    quic_rt *qrt;
    macula_runtime *rt;
    macula__loop *loop;
    macula_quic_conn *prev, *next; /* endpoint's (or resolving) list */
    ngtcp2_conn *q;
    ngtcp2_crypto_conn_ref conn_ref;
    ngtcp2_mem mem;            /* ngtcp2's allocator for q (quic_mem.c) */
    gnutls_session_t tls;      /* NULL once the handshake is complete */
    int tls_group;             /* the key exchange group the handshake used */
    int is_server;
    int visible;  /* the owner knows this connection (server: after CONNECTED) */
    enum conn_state state;
    struct sockaddr_storage remote;
    socklen_t remote_len;
    macula_quic_settings settings;

    macula__timer expiry;   /* ngtcp2 expiry, or the end of a closing/draining remnant */
    macula__timer kick;     /* deferred work, armed at 0 */
    macula__timer deadline; /* client: resolution + handshake */

    /* owner and its queue */
    macula_quic_handler handler;
    void *user;
    quic_event_item *evq_head, *evq_tail;
    size_t evq_len;
    int in_handler;
    int delivering;
    int close_queued;     /* CLOSED is in the queue: the owner API is inert */
    int close_delivered;
    int in_ngtcp2;        /* inside a read/write/expiry call of ngtcp2 */
    int resumed;          /* a stream's reading was resumed during delivery */
    int oom;              /* an event could not be queued: end the connection */

    /* streams */
    quic_stream *streams;
    unsigned write_gen;
    int64_t rr_last;      /* round-robin: last stream written */

    /* our connection ids in the endpoint's table */
    ngtcp2_cid cids[QUIC_MAX_CIDS];
    size_t n_cids;

    /* close */
    int close_requested;
    int ccerr_set;        /* close with `ccerr` (e.g. a TLS alert), not the app code */
    ngtcp2_connection_close_error ccerr;
    uint64_t close_req_code;
    char close_req_reason[QUIC_REASON_MAX];
    macula_quic_close_info close;
    char close_reason[QUIC_REASON_MAX];
    int got_stateless_reset;
    uint8_t *closing_pkt;   /* our CONNECTION_CLOSE, resent while closing */
    size_t closing_pkt_len;
    uint64_t closing_rx;    /* packets received while closing */

    /* TLS */
    macula_quic_verify verify;
    uint8_t pin[MACULA_PUBKEY_LEN];
    char *server_name;
    char *ca_file;                           /* PKI with a CA file, else NULL */
    gnutls_certificate_credentials_t ca_cred; /* this dial's own trust (ca_file) */
    int verify_err;
    char verify_why[QUIC_REASON_MAX];
    uint8_t peer_key[MACULA_PUBKEY_LEN];
    int have_peer_key;
    char alpn[256];
    int have_alpn;

    /* client dial */
    char *host;
    uint16_t port;
    char **alpn_list;
    size_t n_alpn;
    struct resolve_job *resolve;
    int numeric_ready;             /* c->remote holds the numeric address */
    macula_quic_endpoint *dial_ep; /* endpoint the caller chose, or NULL */

    macula_quic_conn_stats stats;

    /* The peer's stateless reset tokens in the endpoint's table (see
     * reset_tokens.h); refreshed after ngtcp2 calls when `rtok_dirty`. */
    macula__rtok_conn rtok;
    int rtok_dirty;
    /* Server: its place among the endpoint's pending connections. */
    macula__adm_node adm;
};

struct macula_quic_endpoint {
    macula_runtime *rt;
    macula__loop *loop;
    quic_rt *qrt;
    macula_quic_endpoint *prev, *next; /* quic_rt's list */
    macula__udp_socket sock;
    macula__io io;
    int shared_client;  /* the runtime's client endpoint */
    int closing;
    int close_deferred; /* close asked during dispatch */
    unsigned depth;     /* dispatches of this endpoint on the stack */

    /* server role */
    macula_quic_handler on_connection;
    void *on_connection_user;
    gnutls_certificate_credentials_t server_cred;
    gnutls_datum_t alpn[MACULA_QUIC_MAX_ALPN];
    size_t n_alpn;
    char *alpn_store;
    size_t max_connections;
    macula_quic_settings settings;

    /* client role (lazy) */
    gnutls_certificate_credentials_t client_cred;
    gnutls_certificate_credentials_t client_cred_pki;

    gnutls_priority_t priority;
    uint8_t static_secret[32]; /* stateless reset tokens */
    macula__cid_table cids;
    macula_quic_conn *conns;
    size_t n_conns;

    /* stateless-reset / version-negotiation rate limit */
    uint64_t sr_window_start;
    unsigned sr_sent;

    /* Peers' stateless reset tokens -> connection (reset_tokens.h). */
    macula__rtok_table rtoks;
    /* Short-header datagrams for no known connection id, and how many of
     * them were handed to a connection (a token matched): at most one
     * connection read each. */
    uint64_t stray_datagrams;
    uint64_t stray_conn_reads;

    /* Admission of pending server connections (admission.h). */
    macula__admission adm;
    int hold_until_admitted;
    uint8_t retry_secret[32]; /* per run: Retry tokens only live seconds */
    uint64_t evicted, refused_per_addr, refused, retry_sent, retry_token_bad;
};

/* Per-runtime QUIC state (runtime slot MACULA__SLOT_QUIC). */
struct quic_rt {
    macula_runtime *rt;
    macula_quic_endpoint *endpoints;
    macula_quic_endpoint *client4, *client6;
    macula_quic_conn *resolving;
    macula__shutdown_hook hook;
    int shutting_down;
};

/* quic_rt.c */
quic_rt *macula__quic_rt_get(macula_runtime *rt, int create);
void macula__quic_rt_link_endpoint(quic_rt *qrt, macula_quic_endpoint *ep);
void macula__quic_rt_unlink_endpoint(quic_rt *qrt, macula_quic_endpoint *ep);
macula_quic_endpoint *macula__quic_rt_client_endpoint(quic_rt *qrt, int family, int *err);
/* Takes a dial off the list of those still resolving. */
void macula__quic_rt_unlink_resolving(quic_rt *qrt, macula_quic_conn *c);

/* endpoint.c */
void macula__endpoint_send(macula_quic_endpoint *ep, const struct sockaddr *to, socklen_t to_len,
                           const uint8_t *data, size_t len);
void macula__endpoint_link_conn(macula_quic_endpoint *ep, macula_quic_conn *c);
void macula__endpoint_unlink_conn(macula_quic_endpoint *ep, macula_quic_conn *c);
int macula__endpoint_add_cid(macula_quic_endpoint *ep, macula_quic_conn *c, const ngtcp2_cid *cid);
void macula__endpoint_remove_cid(macula_quic_endpoint *ep, macula_quic_conn *c, const ngtcp2_cid *cid);
void macula__endpoint_reset_token(const macula_quic_endpoint *ep, const ngtcp2_cid *cid, uint8_t *token);
int macula__endpoint_client_cred(macula_quic_endpoint *ep, int pki, gnutls_certificate_credentials_t *out);
void macula__endpoint_enter(macula_quic_endpoint *ep);
void macula__endpoint_leave(macula_quic_endpoint *ep);
void macula__endpoint_free_now(macula_quic_endpoint *ep);

/* conn.c: life cycle, packets, timers */
macula_quic_conn *macula__conn_alloc(macula_runtime *rt, quic_rt *qrt, const macula_quic_settings *s);
/* `odcid`: the client's first destination id when it came back with a
 * valid Retry token (hd->dcid is then our Retry's source id), else NULL. */
int macula__conn_start_server(macula_quic_conn *c, macula_quic_endpoint *ep, const ngtcp2_pkt_hd *hd,
                              const ngtcp2_cid *odcid, const struct sockaddr *remote, socklen_t remote_len);
int macula__conn_start_client(macula_quic_conn *c, macula_quic_endpoint *ep, const struct sockaddr *remote,
                              socklen_t remote_len);
void macula__conn_read(macula_quic_conn *c, const ngtcp2_path *path, const ngtcp2_pkt_info *pi,
                       const uint8_t *pkt, size_t len);
/* Puts the peer's current reset tokens in the endpoint's table. */
void macula__conn_refresh_reset_tokens(macula_quic_conn *c);
/* Runs the deferred work now: close request, events, writes, reaping. */
void macula__conn_process(macula_quic_conn *c);
void macula__conn_kick(macula_quic_conn *c);
/* Ends the connection; CLOSED is queued (if the owner knows it). */
void macula__conn_terminate(macula_quic_conn *c, macula_quic_close_cause cause, int err, enum term_mode mode);
/* Local application close now (endpoint/runtime closing): sends
 * CONNECTION_CLOSE, delivers everything queued plus CLOSED, frees. */
void macula__conn_close_now(macula_quic_conn *c);
void macula__conn_free(macula_quic_conn *c);
void macula__conn_fail_dial(macula_quic_conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* conn_events.c: the owner queue */
void macula__conn_emit(macula_quic_conn *c, const macula_quic_event *ev, quic_stream *s);
void macula__conn_deliver(macula_quic_conn *c);
void macula__conn_return_credit(macula_quic_conn *c, int64_t stream_id, size_t len);

/* conn_streams.c */
quic_stream *macula__stream_find(macula_quic_conn *c, int64_t id);
quic_stream *macula__stream_new(macula_quic_conn *c, int64_t id);
void macula__stream_free(macula_quic_conn *c, quic_stream *s);
/* SEND_READY to owners whose refused sends now fit. */
void macula__streams_check_send_ready(macula_quic_conn *c);
/* Emits STREAM_ACKED when the stream's watched offset is acknowledged. */
void macula__stream_check_acked(macula_quic_conn *c, quic_stream *s);

/* tls_session.c */
int macula__tls_session_server(macula_quic_conn *c);
int macula__tls_session_client(macula_quic_conn *c);
/* Caches the ALPN and the key exchange group, then releases the TLS
 * session (both sides: it has no more use). */
void macula__tls_after_handshake(macula_quic_conn *c);
/* Frees a dial's own CA credentials once its TLS session is gone. */
void macula__tls_free_ca_cred(macula_quic_conn *c);
/* ngtcp2's recv_crypto_data. Once the session is gone, a client drops
 * 1-RTT CRYPTO data (session tickets) and any other is refused. */
int macula__tls_recv_crypto_data(ngtcp2_conn *q, ngtcp2_crypto_level level, uint64_t offset, const uint8_t *data,
                                 size_t len, void *user);
/* quic_mem.c: the allocator for c's ngtcp2_conn (the block pool for large
 * blocks; NULL, ngtcp2's default, only if the pool cannot be created); c
 * must outlive the ngtcp2_conn. */
const ngtcp2_mem *macula__quic_mem(macula_quic_conn *c);

/* dial.c */
void macula__dial_cancel_resolve(macula_quic_conn *c);
/* Starts a dial whose numeric address is in c->remote. */
void macula__dial_connect_numeric(macula_quic_conn *c);

/* settings.c */
void macula__settings_fix(macula_quic_settings *s);
/* ABI (common.h): 1 when a nested settings struct has its frozen size. */
int macula__settings_valid(const macula_quic_settings *s);
/* The caller's options read into *full over the defaults; 0 or
 * MACULA_ERR_INVALID_ARG for an unknown struct_size (outer or settings). */
int macula__endpoint_options_read(macula_quic_endpoint_options *full, const macula_quic_endpoint_options *o);
int macula__dial_options_read(macula_quic_dial_options *full, const macula_quic_dial_options *o);
/* Writes the stats into the caller's struct up to its struct_size. */
int macula__conn_stats_write(macula_quic_conn_stats *out, const macula_quic_conn_stats *full);
int macula__alpn_valid(const char *const *alpn, size_t n);
const char *macula__tls_alert_name(int alert);
int macula__sockaddr_string(const struct sockaddr *sa, char *buf, size_t size);

#endif
