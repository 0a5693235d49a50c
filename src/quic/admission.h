/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: admission of server connections that are not yet connected
 * ("pending"): from the first Initial until the QUIC handshake completes
 * and, when the endpoint's owner asks for it (the peering listener does),
 * until the owner calls macula_quic_conn_admitted() (the peer's CONNECT).
 *
 * Why: a pending connection costs memory (see MACULA_QUIC_PENDING_BYTES in
 * quic.h) and handshake CPU, and one that never advances must not hold its
 * slot for the whole handshake timeout while honest peers are refused.
 *
 * State and limits:
 *  - One FIFO of pending connections, oldest first (intrusive nodes, O(1)
 *    add/remove), and a per-source-address count (cid_table keyed by the
 *    address: IPv4 /32, IPv6 /64, v4-mapped IPv6 as IPv4; the port is not
 *    part of it, a client picks ports freely).
 *  - `cap` = min(max_pending, memory_budget / MACULA_QUIC_PENDING_BYTES),
 *    at least 1. A newcomer at `cap` evicts the oldest pending connection:
 *    honest handshakes finish in milliseconds, so the oldest are the ones
 *    that stopped advancing, and a newcomer always gets a slot.
 *  - Under pressure (more than cap/2 pending) a newcomer whose address
 *    already has max_per_addr pending is refused (a stateless close, no
 *    handshake work): one address cannot take more, nor churn through the
 *    cap (evicting its own and redialing costs a handshake each).
 *  - Retry (address validation) is asked for every Initial without a valid
 *    token in mode ALWAYS, and in mode AUTO while more than cap/2 are
 *    pending; a spoofed source then never gets a pending slot.
 */
#ifndef MACULA_QUIC_ADMISSION_H
#define MACULA_QUIC_ADMISSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "quic/cid_table.h"

#define MACULA__ADM_KEY_MAX 9

typedef struct macula__adm_node {
    struct macula__adm_node *prev, *next;
    uint64_t since_ns;
    uint8_t key[MACULA__ADM_KEY_MAX];
    uint8_t keylen;
    int linked;
} macula__adm_node;

typedef struct macula__admission {
    macula__adm_node *head, *tail; /* oldest first */
    size_t n;
    size_t cap;
    size_t max_per_addr;
    int retry_mode; /* macula_quic_retry */
    macula__cid_table per_addr; /* key -> (void *)(uintptr_t)count */
} macula__admission;

int macula__adm_init(macula__admission *a, size_t cap, size_t max_per_addr, int retry_mode);
void macula__adm_free(macula__admission *a);
/* The address key of `sa` into node-sized storage; returns its length. */
size_t macula__adm_key(const struct sockaddr *sa, uint8_t key[MACULA__ADM_KEY_MAX]);
size_t macula__adm_addr_count(const macula__admission *a, const uint8_t *key, size_t keylen);
/* Links `node` as the newest pending (key copied). 0 or MACULA_ERR_NOMEM. */
int macula__adm_add(macula__admission *a, macula__adm_node *node, const uint8_t *key, size_t keylen,
                    uint64_t now_ns);
/* Unlinks `node` if linked. */
void macula__adm_remove(macula__admission *a, macula__adm_node *node);
/* 1 when a newcomer from `key` must be refused (per-address limit). */
int macula__adm_addr_full(const macula__admission *a, const uint8_t *key, size_t keylen);
/* The pending node a newcomer must evict (the oldest), or NULL when there
 * is room. */
macula__adm_node *macula__adm_victim(const macula__admission *a);
/* 1 when an Initial without a valid token must be answered with Retry. */
int macula__adm_want_retry(const macula__admission *a);

#endif
