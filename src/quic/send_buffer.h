/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: one stream's send queue. Bytes are copied in once and stay put
 * (ngtcp2 points at them for retransmission) until the peer acknowledges
 * them; blocks are freed as acknowledgements pass them. Offsets are
 * absolute stream offsets: acked <= sent <= queued.
 */
#ifndef MACULA_QUIC_SEND_BUFFER_H
#define MACULA_QUIC_SEND_BUFFER_H

#include <ngtcp2/ngtcp2.h>
#include <stddef.h>
#include <stdint.h>

typedef struct macula__sb_block {
    struct macula__sb_block *next;
    size_t cap, len;
    uint8_t data[];
} macula__sb_block;

typedef struct macula__send_buffer {
    macula__sb_block *head, *tail;
    uint64_t head_off;  /* stream offset of head->data[0] */
    uint64_t acked;     /* everything below is acknowledged */
    uint64_t sent;      /* everything below was handed to ngtcp2 */
    uint64_t queued;    /* end of the queued bytes */
    macula__sb_block *cursor; /* block holding offset `sent` */
    uint64_t cursor_off;      /* stream offset of cursor->data[0] */
} macula__send_buffer;

void macula__sb_init(macula__send_buffer *sb);
void macula__sb_free(macula__send_buffer *sb);
/* Copies all `len` bytes in, or nothing (MACULA_ERR_NOMEM). */
int macula__sb_append(macula__send_buffer *sb, const uint8_t *data, size_t len);
/* Unsent bytes as up to `max` vectors; returns the count. */
size_t macula__sb_unsent(const macula__send_buffer *sb, ngtcp2_vec *vec, size_t max);
void macula__sb_mark_sent(macula__send_buffer *sb, size_t n);
/* The peer acknowledged [offset, offset+len): frees fully acknowledged
 * blocks. Acknowledgements arrive in order (ngtcp2 guarantees it). */
void macula__sb_acked(macula__send_buffer *sb, uint64_t offset, uint64_t len);
static inline uint64_t macula__sb_used(const macula__send_buffer *sb) { return sb->queued - sb->acked; }
static inline uint64_t macula__sb_unsent_len(const macula__send_buffer *sb) { return sb->queued - sb->sent; }

#endif
