/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the endpoint's connection-id table, mapping every connection id
 * that routes packets to us (ours, incl. newly issued and not-yet-retired
 * ones, and a client's original destination id) to its connection.
 * Open addressing with linear probing and backward-shift deletion; keyed
 * SipHash so that client-chosen ids cannot be crafted to collide.
 */
#ifndef MACULA_QUIC_CID_TABLE_H
#define MACULA_QUIC_CID_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define MACULA__CID_MAX 20

typedef struct macula__cid_entry {
    void *value;       /* NULL = empty slot */
    uint8_t len;
    uint8_t cid[MACULA__CID_MAX];
} macula__cid_entry;

typedef struct macula__cid_table {
    macula__cid_entry *slots;
    size_t cap;   /* power of two */
    size_t len;
    uint8_t key[16];
} macula__cid_table;

int macula__cid_table_init(macula__cid_table *t);
void macula__cid_table_free(macula__cid_table *t);
/* Inserts or replaces. 0, MACULA_ERR_INVALID_ARG (len) or MACULA_ERR_NOMEM. */
int macula__cid_table_put(macula__cid_table *t, const uint8_t *cid, size_t len, void *value);
void *macula__cid_table_get(const macula__cid_table *t, const uint8_t *cid, size_t len);
/* Removes the entry if it maps to `value` (or any value when NULL). */
void macula__cid_table_del(macula__cid_table *t, const uint8_t *cid, size_t len, const void *value);

#endif
