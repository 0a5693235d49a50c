/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the frame layer, shared by the files of src/frame/. */
#ifndef MACULA_FRAME_INTERNAL_H
#define MACULA_FRAME_INTERNAL_H

#include "codec/cbor.h"
#include "macula/frame.h"

/* A frame is its root map; the wrapper keeps the type opaque and leaves
 * room for cached state later without an API change. */
struct macula_frame {
    macula_value *map;
    /* Decoded by the peering layer from a peer's bytes: the API never signs
     * it with our key (macula_peer_send_frame refuses an unsigned one), or
     * any peer could have us sign content of its choosing. Kept by
     * macula_frame_clone, so that a copy is no way around it. */
    int received;
};

#define FRAME_SIGNATURE_KEY "signature"
#define FRAME_PUBLISHER_SIG_KEY "publisher_sig"

static inline void frame_set_err(int *err, int code)
{
    if (err)
        *err = code;
}

/* macula_frame_new with the header's capabilities set. */
macula_frame *macula__frame_new_header(const char *frame_type, uint64_t capabilities, int *err);
/* Appends key = val to the frame's map without looking for an existing
 * key (constructors know their keys are new). `key` is a static node
 * (MACULA__STATIC_TEXT). Ownership of val passes; NULL val = NOMEM. */
int macula__frame_append(macula_frame *f, macula_value *key, macula_value *val);
/* Sets key = val, replacing an existing entry; appends `key` (a static
 * node) when there is none. */
int macula__frame_set(macula_frame *f, macula_value *key, macula_value *val);
/* Reserves room for the entries a constructor is about to append. */
int macula__frame_reserve(macula_frame *f, size_t entries);
/* Reorders the stored entries into canonical order, so that constructed
 * frames print in wire order and encode without reordering. */
void macula__frame_sort(macula_frame *f);

/* --- budgets (peering/budget.h sets them) --- */
/* The decoded-memory budget of a frame body of `body` bytes: 32 bytes of
 * tree per wire byte plus 64 KiB (a frame of ordinary fields and strings
 * takes 2-3; millions of one-byte items take 40), and never above `cap`
 * (SIZE_MAX: no absolute cap). */
size_t macula__decode_budget(size_t body, size_t cap);
/* macula_frame_decode_body with that budget: MACULA_ERR_DECODE_BUDGET
 * (nothing allocated) when the tree would take more. */
int macula__frame_decode_body_budget(const uint8_t *body, size_t len, size_t budget, macula_frame **out);
/* The text value of the top-level key "frame_type" of a frame body, found
 * without decoding (no allocation; other values are skipped over, at most
 * MACULA_CBOR_MAX_DEPTH deep): 0 and *type / *type_len pointing into
 * `body`, or MACULA_ERR_BAD_FRAME / MACULA_ERR_NOT_FOUND. */
int macula__frame_peek_type(const uint8_t *body, size_t len, const uint8_t **type, size_t *type_len);
/* Stream parser limits: frames whose declared body exceeds max_body
 * (0 or above MACULA_FRAME_MAX_BODY = the protocol's maximum) are fatal
 * as oversize ones are; decode_cap is the absolute cap of
 * macula__decode_budget (0 = none). */
void macula__stream_parser_set_limits(macula_stream_parser *p, size_t max_body, size_t decode_cap);
/* The bytes the parser holds allocated (its buffer's capacity). */
size_t macula__stream_parser_held(const macula_stream_parser *p);
/* The complete frame at the head, not decoded: 0 with *wire / *len (valid
 * until the next feed / next / skip), NEED_MORE, or FRAME_TOO_LARGE. */
int macula__stream_parser_peek(const macula_stream_parser *p, const uint8_t **wire, size_t *len);
/* Steps over `len` bytes at the head (a frame peek returned). */
void macula__stream_parser_skip(macula_stream_parser *p, size_t len);

#endif
