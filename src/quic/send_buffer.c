/* SPDX-License-Identifier: Apache-2.0 */
/* A stream's send queue: blocks kept until acknowledged (see send_buffer.h). */
#include <stdlib.h>
#include <string.h>

#include "macula/common.h"
#include "quic/send_buffer.h"

/* Blocks are sized to the write that needs them within these bounds: small
 * messages cost little memory, bulk writes few allocations. */
#define SB_MIN_BLOCK 4096u
#define SB_MAX_BLOCK 65536u

void macula__sb_init(macula__send_buffer *sb) { memset(sb, 0, sizeof *sb); }

void macula__sb_free(macula__send_buffer *sb)
{
    macula__sb_block *b = sb->head;
    while (b) {
        macula__sb_block *next = b->next;
        free(b);
        b = next;
    }
    sb->head = sb->tail = sb->cursor = NULL;
}

int macula__sb_append(macula__send_buffer *sb, const uint8_t *data, size_t len)
{
    size_t room = sb->tail ? sb->tail->cap - sb->tail->len : 0;
    /* Allocate every new block first so that a failure leaves no trace. */
    macula__sb_block *first = NULL, *last = NULL;
    size_t need = len > room ? len - room : 0;
    while (need > 0) {
        size_t cap = need < SB_MIN_BLOCK ? SB_MIN_BLOCK : need > SB_MAX_BLOCK ? SB_MAX_BLOCK : need;
        macula__sb_block *b = malloc(sizeof *b + cap);
        if (!b) {
            while (first) {
                macula__sb_block *next = first->next;
                free(first);
                first = next;
            }
            return MACULA_ERR_NOMEM;
        }
        b->next = NULL;
        b->cap = cap;
        b->len = 0;
        if (last)
            last->next = b;
        else
            first = b;
        last = b;
        need -= cap < need ? cap : need;
    }
    size_t take = len < room ? len : room;
    if (take) {
        memcpy(sb->tail->data + sb->tail->len, data, take);
        sb->tail->len += take;
    }
    size_t done = take;
    for (macula__sb_block *b = first; b; b = b->next) {
        size_t n = len - done < b->cap ? len - done : b->cap;
        memcpy(b->data, data + done, n);
        b->len = n;
        done += n;
    }
    if (first) {
        if (sb->tail)
            sb->tail->next = first;
        else
            sb->head = first;
        sb->tail = last;
    }
    if (!sb->cursor) {
        /* Everything queued had been sent and the tail was full (or there
         * was none), so no byte went into it: the first new block holds
         * the next byte to send. */
        sb->cursor = first;
        sb->cursor_off = sb->sent;
    }
    sb->queued += len;
    return 0;
}

size_t macula__sb_unsent(const macula__send_buffer *sb, ngtcp2_vec *vec, size_t max)
{
    size_t n = 0;
    uint64_t off = sb->cursor_off;
    for (macula__sb_block *b = sb->cursor; b && n < max; b = b->next) {
        size_t skip = sb->sent > off ? (size_t)(sb->sent - off) : 0;
        if (skip < b->len) {
            vec[n].base = b->data + skip;
            vec[n].len = b->len - skip;
            n++;
        }
        off += b->len;
    }
    return n;
}

void macula__sb_mark_sent(macula__send_buffer *sb, size_t n)
{
    sb->sent += n;
    while (sb->cursor && sb->cursor_off + sb->cursor->len <= sb->sent) {
        if (!sb->cursor->next && sb->cursor->len < sb->cursor->cap)
            break; /* keep the cursor on a tail that can still grow */
        sb->cursor_off += sb->cursor->len;
        sb->cursor = sb->cursor->next;
    }
}

void macula__sb_acked(macula__send_buffer *sb, uint64_t offset, uint64_t len)
{
    uint64_t end = offset + len;
    if (end <= sb->acked)
        return;
    sb->acked = end > sb->sent ? sb->sent : end;
    while (sb->head && sb->head_off + sb->head->len <= sb->acked) {
        macula__sb_block *b = sb->head;
        if (b == sb->cursor) {
            /* Still the block to send from: free it only once nothing is
             * left to send, so that an idle stream holds no memory. */
            if (sb->sent != sb->queued)
                break;
            sb->cursor = NULL;
            sb->cursor_off = sb->sent;
        }
        sb->head_off += b->len;
        sb->head = b->next;
        if (!sb->head)
            sb->tail = NULL;
        free(b);
    }
}
