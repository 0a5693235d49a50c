/* Internals of the frame layer, shared by the files of src/frame/. */
#ifndef MACULA_FRAME_INTERNAL_H
#define MACULA_FRAME_INTERNAL_H

#include "codec/cbor.h"
#include "macula/frame.h"

/* A frame is its root map; the wrapper keeps the type opaque and leaves
 * room for cached state later without an API change. */
struct macula_frame {
    macula_value *map;
};

#define FRAME_SIGNATURE_KEY "signature"

static inline void frame_set_err(int *err, int code)
{
    if (err)
        *err = code;
}

/* Appends key = val to the frame's map without looking for an existing
 * key (constructors know their keys are new). Ownership of val passes. */
int macula__frame_append(macula_frame *f, const char *key, macula_value *val);
/* Reorders the stored entries into canonical order, so that constructed
 * frames print in wire order and encode without reordering. */
void macula__frame_sort(macula_frame *f);

#endif
