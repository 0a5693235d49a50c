/* SPDX-License-Identifier: Apache-2.0 */
/*
 * macula-c: CBOR values and the deterministic codec (PROTOCOL.md §2.2).
 *
 * A `macula_value` is one node of a small tree: an unsigned or negative
 * integer, a binary64 float, a byte string, a text string, an array, a map
 * or null. Frames (frame.h) are maps of text keys to such values.
 *
 * Ownership: every constructor returns a value owned by the caller. Adding
 * a value to an array or map (or to a frame) transfers ownership to the
 * container, also when the call fails (the value is then freed), so that
 * callers never have to clean up after an error. Readers return borrowed
 * pointers that stay valid until the owning tree is changed or freed.
 * Strings handed to constructors are copied.
 *
 * Thread-safety: a tree may be read from several threads at once; changing
 * it needs exclusive access. There is no global state.
 *
 * Encoding is always canonical (shortest heads, definite lengths, map
 * entries sorted by their encoded keys). Decoding is strict and
 * bounds-checked: see macula_cbor_decode().
 */
#ifndef MACULA_VALUE_H
#define MACULA_VALUE_H

#include "macula/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum macula_kind {
    MACULA_KIND_UINT = 0, /* major type 0: 0 .. 2^64-1 */
    MACULA_KIND_NINT = 1, /* major type 1: -2^64 .. -1, kept as the CBOR argument n
                           * (value -1 - n, n = 0 .. 2^64-1): see macula_value_nint_arg */
    MACULA_KIND_BYTES = 2,
    MACULA_KIND_TEXT = 3,
    MACULA_KIND_ARRAY = 4,
    MACULA_KIND_MAP = 5,
    MACULA_KIND_NULL = 6,  /* 0xf6 */
    MACULA_KIND_FLOAT = 7  /* always encoded as binary64 (0xfb) */
} macula_kind;

/* Deepest nesting of containers the decoder accepts and the encoder
 * produces (the top-level map is depth 1; scalars do not count). 64 is
 * where the reference's strict decoder draws the line (64 nested arrays
 * decode, 65 are too deep); it was 32 in the first draft of this header. */
#define MACULA_CBOR_MAX_DEPTH 64

typedef struct macula_value macula_value;

/* --- constructors (NULL when out of memory) --- */
MACULA_API macula_value *macula_value_uint(uint64_t v);
/* Non-negative values become UINT, negative ones NINT. */
MACULA_API macula_value *macula_value_int(int64_t v);
/* The negative integer -1 - n (NINT with CBOR argument n), for the whole
 * major-type-1 range: n = 0 is -1, n = 2^63 - 1 is INT64_MIN, n = 2^63 is
 * -2^63 - 1, n = UINT64_MAX is -2^64. Peers (Macula 10, PROTOCOL.md §6.3)
 * send values below INT64_MIN, which int64_t cannot hold. */
MACULA_API macula_value *macula_value_nint_arg(uint64_t n);
MACULA_API macula_value *macula_value_float(double v);
MACULA_API macula_value *macula_value_bytes(const void *data, size_t len);
/* Text is stored as given (length-delimited; it may contain NUL). */
MACULA_API macula_value *macula_value_text(const char *s, size_t len);
MACULA_API macula_value *macula_value_text_cstr(const char *s);
/* Macula's booleans are the text strings "true" / "false". */
MACULA_API macula_value *macula_value_bool(int b);
MACULA_API macula_value *macula_value_null(void);
MACULA_API macula_value *macula_value_array(void);
MACULA_API macula_value *macula_value_map(void);
MACULA_API macula_value *macula_value_clone(const macula_value *v);
MACULA_API void macula_value_free(macula_value *v);

/* --- building containers (ownership of item/key/val always passes) --- */
MACULA_API int macula_value_array_append(macula_value *array, macula_value *item);
/* Sets map[key] = val, replacing (and freeing) an entry whose key encodes
 * to the same bytes. New keys are appended (iteration order = insertion
 * order; the encoder sorts). Keys must be text or integers, as the
 * reference requires: other kinds give MACULA_ERR_CBOR_TYPE. */
MACULA_API int macula_value_map_put(macula_value *map, macula_value *key, macula_value *val);
MACULA_API int macula_value_map_put_cstr(macula_value *map, const char *text_key, macula_value *val);
/* Removes map[text_key]; MACULA_ERR_NOT_FOUND when absent. */
MACULA_API int macula_value_map_remove_cstr(macula_value *map, const char *text_key);

/* --- reading --- */
MACULA_API macula_kind macula_value_kind(const macula_value *v);
/* 0, or MACULA_ERR_CBOR_TYPE when `v` is of another kind (or does not fit). */
MACULA_API int macula_value_get_uint(const macula_value *v, uint64_t *out);
/* UINT <= INT64_MAX, or NINT >= INT64_MIN (argument <= INT64_MAX); a NINT
 * below INT64_MIN is MACULA_ERR_CBOR_TYPE: read it with get_nint_arg. */
MACULA_API int macula_value_get_int(const macula_value *v, int64_t *out);
/* Any NINT: *n = its CBOR argument (the value is -1 - *n). Other kinds:
 * MACULA_ERR_CBOR_TYPE. */
MACULA_API int macula_value_get_nint_arg(const macula_value *v, uint64_t *n);
MACULA_API int macula_value_get_float(const macula_value *v, double *out);
/* BYTES or TEXT: pointer to the content (followed by a NUL that is not
 * counted, so text can be used as a C string when it holds no NUL). */
MACULA_API int macula_value_get_bytes(const macula_value *v, const uint8_t **data, size_t *len);
MACULA_API int macula_value_get_text(const macula_value *v, const char **s, size_t *len);
/* Items of an array, entries of a map; 0 for other kinds. */
MACULA_API size_t macula_value_count(const macula_value *v);
MACULA_API const macula_value *macula_value_array_at(const macula_value *array, size_t i);
/* Map entries in stored order (insertion order, or wire order after decoding). */
MACULA_API const macula_value *macula_value_map_key_at(const macula_value *map, size_t i);
MACULA_API const macula_value *macula_value_map_value_at(const macula_value *map, size_t i);
/* map[text_key], or NULL when absent (or `map` is not a map). */
MACULA_API const macula_value *macula_value_map_get(const macula_value *map, const char *text_key);
MACULA_API macula_value *macula_value_map_get_mut(macula_value *map, const char *text_key);
/* 1 when both encode to the same canonical bytes, else 0. */
MACULA_API int macula_value_equal(const macula_value *a, const macula_value *b);

/* --- codec --- */
/* Canonical CBOR of `v` into a malloc'd buffer (release with macula_free).
 * MACULA_ERR_CBOR_DEPTH for a tree nested deeper than MACULA_CBOR_MAX_DEPTH,
 * MACULA_ERR_CBOR_TYPE for a non-finite float (no peer accepts those). */
MACULA_API int macula_cbor_encode(const macula_value *v, uint8_t **out, size_t *out_len);
/* Size of the canonical encoding, without producing it (0 when `v` cannot
 * be encoded, see above). */
MACULA_API size_t macula_cbor_encoded_size(const macula_value *v);
/*
 * Strict decode of exactly one item occupying all `len` bytes.
 * Accepts non-canonical key order and non-minimal heads (as the reference
 * does); rejects tags, indefinite lengths, simple values other than null,
 * half/single floats, non-finite floats, bytes left over, nesting deeper
 * than MACULA_CBOR_MAX_DEPTH, duplicate map keys, map keys that are not
 * text or integers, and text that is not valid UTF-8. Integers of both
 * signs cover the whole CBOR range (2^64 - 1 down to -2^64), also as map
 * keys. Every declared length is checked against the bytes present
 * before anything is allocated. Errors: MACULA_ERR_BAD_FRAME (malformed or
 * truncated), MACULA_ERR_CBOR_TYPE, MACULA_ERR_CBOR_DEPTH,
 * MACULA_ERR_CBOR_DUPLICATE_KEY, MACULA_ERR_NOMEM.
 */
MACULA_API int macula_cbor_decode(const uint8_t *data, size_t len, macula_value **out);

/* CBOR diagnostic notation in stored order, in the style of the vectors'
 * `diag` fields: {k: v, k: v}, [a, b], h'hex', null, decimal integers
 * (all of them, -18446744073709551616 included),
 * "text" with UTF-8 kept and JSON-style escapes (\" \\ \n \r \t, \u00xx
 * for other control characters and DEL). Floats: the shortest decimal that
 * reads back to the same double, always with a '.' (1.5, 100.0, 1.0e+300,
 * -0.0). malloc'd; macula_free. NULL when out of memory or nested deeper
 * than MACULA_CBOR_MAX_DEPTH. */
MACULA_API char *macula_value_diag(const macula_value *v);

#ifdef __cplusplus
}
#endif
#endif /* MACULA_VALUE_H */
