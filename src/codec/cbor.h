/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the CBOR value tree and codec, shared by the files of
 * src/codec/ and by the frame layer (which encodes maps with the
 * `signature` entry left out without copying the tree). */
#ifndef MACULA_CODEC_CBOR_H
#define MACULA_CODEC_CBOR_H

#include <stdbool.h>

#include "macula/value.h"

/* CBOR major types (RFC 8949 §3.1). */
enum {
    CBOR_MAJOR_UINT = 0,
    CBOR_MAJOR_NINT = 1,
    CBOR_MAJOR_BYTES = 2,
    CBOR_MAJOR_TEXT = 3,
    CBOR_MAJOR_ARRAY = 4,
    CBOR_MAJOR_MAP = 5,
    CBOR_MAJOR_TAG = 6,
    CBOR_MAJOR_SIMPLE = 7
};
#define CBOR_NULL_BYTE 0xf6u
#define CBOR_FLOAT64_BYTE 0xfbu

/* Where a node lives, which decides what macula_value_free releases. */
enum {
    MACULA__VALUE_HEAP = 0, /* its own allocation (the constructors) */
    MACULA__VALUE_STATIC,   /* static storage, shared, never freed */
    /* A decoded tree lives in one block (cbor_decode.c): its nodes are
     * never freed one by one; freeing the root, the block's first node,
     * releases the block. Values put into such a tree later are ordinary
     * heap nodes and are freed as usual. */
    MACULA__VALUE_IN_BLOCK,
    MACULA__VALUE_BLOCK
};

/*
 * One node. Byte and text strings keep their content right after the
 * node (one allocation; decoded ones: in their block), NUL-terminated. A
 * map keeps keys and values interleaved in `items` (key i at 2i, value i
 * at 2i+1), in stored order.
 */
struct macula_value {
    macula_kind kind;
    uint8_t storage;     /* MACULA__VALUE_* */
    bool items_in_block; /* `items` lies in a decoded block: copied to the heap before growing */
    union {
        uint64_t u; /* UINT: the value; NINT: the CBOR argument n (value = -1 - n) */
        double f;
        struct {
            size_t len;
            uint8_t *data; /* `inline_data`, or a decoded block's bytes */
        } str;
        struct {
            size_t count; /* items (array) or entries (map) */
            size_t cap;   /* capacity in slots of `items` */
            macula_value **items;
        } c;
    } as;
    uint8_t inline_data[];
};

/* A static text node for a key the library uses all the time (frame
 * field names): building a frame then allocates only its values. Such
 * nodes are immutable, may sit in any number of maps at once and are
 * skipped by macula_value_free. */
#define MACULA__STATIC_TEXT(literal)                                                     \
    {                                                                                    \
        .kind = MACULA_KIND_TEXT, .storage = MACULA__VALUE_STATIC,                       \
        .as.str = {sizeof(literal) - 1, (uint8_t *)(literal)}                            \
    }

/* A shared static null node (immutable, never freed): frames hold many
 * nulls, and this spares an allocation for each. */
macula_value *macula__cbor_null(void);

/* Kinds that may be map keys: the reference accepts text and integers
 * only, and keeping keys to head-plus-content kinds lets keys be compared
 * in canonical order without encoding them. */
static inline bool macula__cbor_key_kind_ok(macula_kind k)
{
    return k == MACULA_KIND_TEXT || k == MACULA_KIND_UINT || k == MACULA_KIND_NINT;
}

/* Order of two keys' canonical encodings (<0, 0, >0). Both must be of a
 * key kind (see above). */
int macula__cbor_key_cmp(const macula_value *a, const macula_value *b);
/* 1 when `key` is the text string `s` of `len` bytes. */
bool macula__cbor_key_is(const macula_value *key, const char *s, size_t len);

/* Appends a map entry without looking for an equal key (the caller knows
 * it is new). Ownership of key and val passes, also on failure. */
int macula__cbor_map_append(macula_value *map, macula_value *key, macula_value *val);
/* Room for `entries` more entries in a map without reallocating. */
int macula__cbor_map_reserve(macula_value *map, size_t entries);
/* Index of the entry whose key is the text `s`, or -1. */
long macula__cbor_map_find(const macula_value *map, const char *s, size_t len);

/* Pass 1 of macula_cbor_decode on its own: 0 when data[0..len) is exactly
 * one item that macula_cbor_decode accepts, else the error it gives
 * (MACULA_ERR_NOMEM aside), without building anything. top_text_map: the
 * item must also be a map with text keys (a frame body), else
 * MACULA_ERR_CBOR_TYPE. */
int macula__cbor_validate(const uint8_t *data, size_t len, bool top_text_map);

/* macula_cbor_decode whose decoded tree may take at most `budget` bytes
 * (SIZE_MAX: no cap); beyond it MACULA_ERR_DECODE_BUDGET, found in pass 1
 * before anything is allocated (peering/budget.h says who sets it). */
int macula__cbor_decode_budget(const uint8_t *data, size_t len, size_t budget, macula_value **out);
/* The text value of `key` in the top-level map of data[0..len), found by
 * stepping over the other entries (no allocation, nothing else checked):
 * 0 with *val / *val_len pointing into `data`, MACULA_ERR_NOT_FOUND, or
 * MACULA_ERR_BAD_FRAME / CBOR_DEPTH when the map cannot be walked. */
int macula__cbor_peek_text_field(const uint8_t *data, size_t len, const char *key, const uint8_t **val,
                                 size_t *val_len);

/* Bytes in the head for argument `v`. */
size_t macula__cbor_head_size(uint64_t v);
/* Writes a shortest head; returns bytes written. */
size_t macula__cbor_write_head(uint8_t *p, unsigned major, uint64_t v);

/*
 * Encoding with some top-level map entries left out (`skip`: n_skip text
 * keys; NULL/0 for none), so that the signed bytes (without `signature`
 * and `publisher_sig`, PROTOCOL.md §6.1) can be produced without copying
 * the frame. size: 0, or MACULA_ERR_CBOR_DEPTH (deeper than
 * MACULA_CBOR_MAX_DEPTH) / MACULA_ERR_CBOR_TYPE (a non-finite float);
 * encode writes exactly `size` bytes into `out`.
 */
int macula__cbor_size_skip(const macula_value *v, const char *const *skip, size_t n_skip, size_t *size);
int macula__cbor_encode_skip(const macula_value *v, const char *const *skip, size_t n_skip, uint8_t *out,
                             size_t size);

#endif
