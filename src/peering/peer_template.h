/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: macula_peer_options checked and deep-copied ("a template"), so
 * that nothing the caller passed is read after the call returns. A client
 * worker's entry owns one (it holds the dial target); a listener in
 * automatic mode owns one for all its server workers.
 */
#ifndef MACULA_PEERING_PEER_TEMPLATE_H
#define MACULA_PEERING_PEER_TEMPLATE_H

#include "macula/peering.h"
#include "peering/worker.h"

typedef struct macula__peer_template {
    int is_server;
    macula_identity *identity;
    uint8_t *realms; /* n_realms * 32 */
    size_t n_realms;
    uint64_t capabilities;
    int has_station_id;
    uint8_t station_id[MACULA_NODE_ID_LEN];
    int has_expected;
    uint8_t expected_node_id[MACULA_NODE_ID_LEN];
    macula_event_fn handler;
    void *handler_user;
    macula_event_fn accept_owner;
    void *accept_owner_user;
    macula__worker_admit_fn admit;
    void *admit_user;
    uint32_t handshake_timeout_ms, drain_timeout_ms;
    size_t send_queue_cap;
    size_t max_peer_streams;
    size_t max_frame_size, recv_budget, max_decode_bytes; /* 0 = defaults (budget.h) */
    uint32_t dead_peer_timeout_ms;                        /* 0 = off */
    size_t quic_send_queue_cap;                           /* dial; 0 = QUIC default */
    /* client only: the target and its QUIC settings */
    char *host;
    uint16_t port;
    char **alpn;
    size_t n_alpn;
    uint32_t connect_timeout_ms;
    macula_quic_verify verify;
    char *server_name;
    uint32_t idle_timeout_ms, keepalive_ms;
    int low_memory;
    char *ca_file;
    int station; /* both roles */
    int lazy_frames;

    /* peer options release 2 (the shell's, not the worker's) */
    void *peer_user;
    int queue_until_connected;
} macula__peer_template;

/* Checks `o` and copies it into *t. `fallback_id` stands in for a NULL
 * o->identity (a listener's own identity), may be NULL. Returns 0, or
 * MACULA_ERR_INVALID_ARG with *errmsg naming the field (static text), or
 * MACULA_ERR_NOMEM. *t is cleared on failure. */
int macula__peer_template_init(macula__peer_template *t, const macula_peer_options *o, int is_server,
                               const macula_identity *fallback_id, const char **errmsg);
void macula__peer_template_clear(macula__peer_template *t);
/* The worker configuration the template describes (pointers borrowed). */
void macula__peer_template_worker_config(const macula__peer_template *t, macula_peer peer,
                                         macula__worker_config *cfg);
/* The dial options of a client template (pointers borrowed). */
void macula__peer_template_dial_options(const macula__peer_template *t, macula_quic_dial_options *o);

#endif
