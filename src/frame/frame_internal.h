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

#endif
