/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the endpoint's table of the stateless reset tokens PEERS gave
 * us (RFC 9000 10.3), for the destination connection ids our connections
 * are using: the server's transport parameter and NEW_CONNECTION_ID frames.
 *
 * Why: a short-header datagram whose connection id we do not know may be a
 * stateless reset. Recognising it by its last 16 bytes costs one hash and
 * at most a few constant-time compares, whatever the number of
 * connections; the alternative (letting every connection with that peer
 * try to decrypt it) made spoofed garbage cost O(connections) each.
 *
 * State and limits:
 *  - Open addressing, linear probing, backward-shift deletion, keyed
 *    SipHash (crypto_shorthash) so peers cannot make tokens collide.
 *  - At most `max_entries` tokens (beyond it insertions fail with
 *    MACULA_ERR_LIMIT and that token is simply not recognised: the
 *    connection still ends at its idle timeout). The slot array grows by
 *    doubling up to 2 * max_entries; it never shrinks.
 *  - Each connection owns at most MACULA__RTOK_PER_CONN tokens; it keeps
 *    copies to remove them (macula__rtok_conn_*).
 *  - Lookups compare whole tokens with sodium_memcmp (constant time), so
 *    timing does not reveal how much of a guessed token was right.
 *  - A token may be given by two connections (a hostile peer can repeat
 *    one): the latest insert wins; removal only removes its own mapping.
 */
#ifndef MACULA_QUIC_RESET_TOKENS_H
#define MACULA_QUIC_RESET_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#define MACULA__RTOK_LEN 16
/* Destination ids a connection uses at once (ngtcp2 0.12: current + bound
 * paths), with their tokens. */
#define MACULA__RTOK_PER_CONN 8

typedef struct macula__rtok_entry {
    void *value; /* NULL = empty slot */
    uint8_t token[MACULA__RTOK_LEN];
} macula__rtok_entry;

typedef struct macula__rtok_table {
    macula__rtok_entry *slots;
    size_t cap; /* power of two (0 before the first insert) */
    size_t len;
    size_t max_entries;
    uint8_t key[16];
    /* statistics */
    uint64_t lookups;
    uint64_t compares; /* sodium_memcmp calls (bounded per lookup by probing) */
    uint64_t hits;
} macula__rtok_table;

/* A connection's own tokens (copies), to remove them again. */
typedef struct macula__rtok_conn {
    uint8_t tokens[MACULA__RTOK_PER_CONN][MACULA__RTOK_LEN];
    size_t n;
} macula__rtok_conn;

void macula__rtok_init(macula__rtok_table *t, size_t max_entries);
void macula__rtok_free(macula__rtok_table *t);
/* Inserts or replaces: 0, MACULA_ERR_LIMIT or MACULA_ERR_NOMEM. */
int macula__rtok_put(macula__rtok_table *t, const uint8_t token[MACULA__RTOK_LEN], void *value);
/* The value stored for `token`, or NULL. */
void *macula__rtok_get(macula__rtok_table *t, const uint8_t token[MACULA__RTOK_LEN]);
/* Removes the mapping if it is to `value`. */
void macula__rtok_del(macula__rtok_table *t, const uint8_t token[MACULA__RTOK_LEN], const void *value);

/* Replaces everything `value` had in the table by tokens[0..n) (n is cut
 * to MACULA__RTOK_PER_CONN). Returns how many are in the table now. */
size_t macula__rtok_conn_set(macula__rtok_table *t, macula__rtok_conn *own, void *value,
                             const uint8_t (*tokens)[MACULA__RTOK_LEN], size_t n);
void macula__rtok_conn_clear(macula__rtok_table *t, macula__rtok_conn *own, void *value);

#endif
