/* SPDX-License-Identifier: Apache-2.0 */
/*
 * macula-c: Macula frames (PROTOCOL.md §2): one CBOR map with text keys,
 * signed with Ed25519 and sent as a 4-byte big-endian length + the CBOR.
 *
 * Ownership: constructors and decoders return a frame owned by the caller,
 * released with macula_frame_free(). Values put into a frame become the
 * frame's (also when the call fails). Getters return borrowed pointers
 * valid until the frame is changed or freed. Encoded buffers and diag
 * strings are malloc'd; release them with macula_free().
 *
 * Thread-safety: a frame may be read (encoded, verified, printed) from
 * several threads at once; changing or signing it needs exclusive access.
 * A stream parser belongs to one thread at a time.
 */
#ifndef MACULA_FRAME_H
#define MACULA_FRAME_H

#include "macula/common.h"
#include "macula/identity.h"
#include "macula/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MACULA_FRAME_VERSION 2
#define MACULA_FRAME_MAX_BODY 16777215u /* 0xFFFFFF */
#define MACULA_FRAME_HEADER_LEN 4
#define MACULA_FRAME_ID_LEN 16
#define MACULA_REALM_LEN 32
/* "macula-v2-frame\0": prepended to the unsigned CBOR before signing. */
#define MACULA_SIGNATURE_DOMAIN "macula-v2-frame"
#define MACULA_SIGNATURE_DOMAIN_LEN 16
/* "macula-v2-event-pub\0": prepended to the publisher fields' CBOR before
 * the publisher signs them (PROTOCOL.md §6.1). */
#define MACULA_PUBLISHER_SIG_DOMAIN "macula-v2-event-pub"
#define MACULA_PUBLISHER_SIG_DOMAIN_LEN 20

typedef struct macula_frame macula_frame;

/* --- construction --- */
/* A frame with no fields at all. */
MACULA_API macula_frame *macula_frame_new_empty(int *err);
/* A frame with the common header (§2.4): version 2, frame_type, a fresh
 * UUIDv7 frame_id, sent_at_ms = now, capabilities 0, realm, call_id and
 * source_route null. */
MACULA_API macula_frame *macula_frame_new(const char *frame_type, int *err);
/* Wraps a map whose keys are all text (ownership passes, also on error). */
MACULA_API macula_frame *macula_frame_from_map(macula_value *map, int *err);
MACULA_API macula_frame *macula_frame_clone(const macula_frame *f, int *err);
MACULA_API void macula_frame_free(macula_frame *f);

/* Constructors store their fields in canonical (wire) order, so that a
 * constructed frame prints like the vectors' `diag` and encodes without
 * reordering. */
/* CONNECT (§2.5): header with `capabilities`, node_id = own key,
 * station_id (NULL = own key), realms (n_realms * 32 bytes), addresses [],
 * site null, puzzle_evidence, endorsements []. Unsigned. */
MACULA_API macula_frame *macula_frame_connect(const macula_identity *id, const uint8_t *station_id,
                                              const uint8_t *realms, size_t n_realms,
                                              uint64_t capabilities, int *err);
/* HELLO (§2.5): accepted as "true"/"false", refusal_code < 0 means null. */
MACULA_API macula_frame *macula_frame_hello(const macula_identity *id, const uint8_t *station_id,
                                            const uint8_t *realms, size_t n_realms,
                                            uint64_t capabilities, int accepted, int64_t refusal_code,
                                            uint64_t negotiated_capabilities, int *err);
/* GOODBYE (§2.5): reason text; detail bytes or NULL for null. */
MACULA_API macula_frame *macula_frame_goodbye(const char *reason, const uint8_t *detail,
                                              size_t detail_len, int *err);

/* PUBLISH (the reference's publish/1 field set): header plus realm (32
 * bytes, or null when `realm` is NULL), topic (bytes), payload (any value;
 * ownership passes, also on error; NULL means null), seq, ttl_ms (null
 * when negative), publisher = own key, published_at_ms (0 means the frame's
 * sent_at_ms), and publisher_sig by `id` over those fields (§6.1), as
 * Macula 10 clients send it. The frame signature is not set. Same as
 * macula_frame_publish_ex(..., 0, err). */
MACULA_API macula_frame *macula_frame_publish(const macula_identity *id, const uint8_t *realm, const void *topic,
                                              size_t topic_len, macula_value *payload, uint64_t seq,
                                              int64_t ttl_ms, uint64_t published_at_ms, int *err);
/* Flags of macula_frame_publish_ex. */
#define MACULA_PUBLISH_NO_PUBLISHER_SIG 0x1u /* leave publisher_sig out: the 4.3.0 field set */
/* macula_frame_publish with flags (MACULA_PUBLISH_*; unknown bits are
 * MACULA_ERR_INVALID_ARG). With MACULA_PUBLISH_NO_PUBLISHER_SIG the frame
 * is exactly the 4.3.0 reference's publish/1 (checked against the
 * publish_* vectors of frames.json). */
MACULA_API macula_frame *macula_frame_publish_ex(const macula_identity *id, const uint8_t *realm,
                                                 const void *topic, size_t topic_len, macula_value *payload,
                                                 uint64_t seq, int64_t ttl_ms, uint64_t published_at_ms,
                                                 unsigned flags, int *err);

/* --- fields --- */
/* The root map (borrowed). */
MACULA_API const macula_value *macula_frame_map(const macula_frame *f);
MACULA_API const macula_value *macula_frame_get(const macula_frame *f, const char *key);
/* Puts key = val (replacing); ownership of val passes. */
MACULA_API int macula_frame_put(macula_frame *f, const char *key, macula_value *val);
MACULA_API int macula_frame_put_uint(macula_frame *f, const char *key, uint64_t v);
MACULA_API int macula_frame_put_bytes(macula_frame *f, const char *key, const void *data, size_t len);
MACULA_API int macula_frame_put_text(macula_frame *f, const char *key, const char *text);
MACULA_API int macula_frame_put_null(macula_frame *f, const char *key);
MACULA_API int macula_frame_remove(macula_frame *f, const char *key);
/* Typed getters: 0, MACULA_ERR_NOT_FOUND (absent) or MACULA_ERR_CBOR_TYPE. */
MACULA_API int macula_frame_get_uint(const macula_frame *f, const char *key, uint64_t *out);
MACULA_API int macula_frame_get_bytes(const macula_frame *f, const char *key, const uint8_t **data,
                                      size_t *len);
MACULA_API int macula_frame_get_text(const macula_frame *f, const char *key, const char **s, size_t *len);
/* The frame_type text as a C string, or NULL when absent / not text. */
MACULA_API const char *macula_frame_type(const macula_frame *f);

/* Sets frame_id to a fresh UUIDv7 and sent_at_ms to now. */
MACULA_API int macula_frame_stamp(macula_frame *f);
/* A UUIDv7 for `unix_ms` (48-bit ms, version 7, random, variant 10). */
MACULA_API void macula_uuidv7(uint64_t unix_ms, uint8_t out[MACULA_FRAME_ID_LEN]);
/* Wall-clock Unix time in milliseconds. */
MACULA_API uint64_t macula_unix_ms(void);

/* --- signatures (§2.6, §6.1) --- */
/* 1 when the frame has a `signature` entry (of any kind), else 0. */
MACULA_API int macula_frame_is_signed(const macula_frame *f);
/* Replaces any signature with Ed25519(seed, domain ++ canonical CBOR of the
 * frame without `signature` and without `publisher_sig`). Deterministic.
 * A publisher_sig the frame carries is kept as it is. */
MACULA_API int macula_frame_sign(macula_frame *f, const macula_identity *id);
/* 0 when valid; MACULA_ERR_BAD_FRAME when the signature is missing or not
 * 64 bytes (or pubkey is NULL); MACULA_ERR_SIGNATURE_INVALID otherwise.
 * The signed bytes (without `signature` and `publisher_sig`) are
 * re-created canonically, so a frame received in non-canonical form still
 * verifies. */
MACULA_API int macula_frame_verify(const macula_frame *f, const uint8_t pubkey[MACULA_PUBKEY_LEN]);
/* The exact Ed25519 message of the frame signature: "macula-v2-frame\0" ++
 * canonical CBOR without `signature` and `publisher_sig`. *out is
 * malloc'd (macula_free). MACULA_ERR_CBOR_DEPTH / MACULA_ERR_CBOR_TYPE /
 * MACULA_ERR_FRAME_TOO_LARGE when the frame cannot be encoded. */
MACULA_API int macula_frame_signing_input(const macula_frame *f, uint8_t **out, size_t *out_len);

/* Publisher signature of PUBLISH and EVENT frames (§6.1): Ed25519 by the
 * frame's `publisher` key over "macula-v2-event-pub\0" ++ canonical CBOR of
 * {seq, realm, topic, payload, publisher} (the frame's values, whatever
 * their kinds). The frame signature does not cover it, so it can be added
 * or checked before or after macula_frame_sign, and a relay keeps it.
 * The exact message, malloc'd (macula_free); MACULA_ERR_BAD_FRAME when the
 * frame is not a PUBLISH/EVENT, lacks one of the five fields, its
 * `publisher` is not 32 bytes, or the fields cannot be encoded. */
MACULA_API int macula_frame_publisher_signing_input(const macula_frame *f, uint8_t **out, size_t *out_len);
/* Sets (or replaces) `publisher_sig`. `id` must be the publisher: its key
 * must equal the `publisher` field, else MACULA_ERR_INVALID_ARG. Errors of
 * the signing input as above. Deterministic. */
MACULA_API int macula_frame_sign_publisher(macula_frame *f, const macula_identity *id);
/* Checks `publisher_sig` against the frame's own `publisher` key:
 *   0                              valid
 *   MACULA_ERR_SIGNATURE_INVALID   does not verify
 *   MACULA_ERR_NO_PUBLISHER_SIG    the frame carries no publisher_sig
 *   MACULA_ERR_BAD_FRAME           not a PUBLISH/EVENT, publisher_sig not a
 *                                  64-byte byte string, or the signing
 *                                  input cannot be built (see above)
 * It says who published, not who sent: check the frame signature too. */
MACULA_API int macula_frame_verify_publisher(const macula_frame *f);

/* --- wire --- */
/* 4-byte length + canonical CBOR into a malloc'd buffer; release with
 * macula_free. MACULA_ERR_FRAME_TOO_LARGE when the body exceeds the cap. */
MACULA_API int macula_frame_encode(const macula_frame *f, uint8_t **wire, size_t *wire_len);
/* Size that macula_frame_encode would produce (length prefix included). */
MACULA_API size_t macula_frame_wire_size(const macula_frame *f);
/*
 * Decodes one frame from the start of `buf` (the reference's decode/1):
 *   0                         *out = frame, *consumed = 4 + body length
 *   MACULA_ERR_NEED_MORE      *need = how many more bytes are required
 *   MACULA_ERR_FRAME_TOO_LARGE declared length > MACULA_FRAME_MAX_BODY
 *                             (reported from the 4 header bytes alone)
 *   MACULA_ERR_BAD_FRAME      the body is not an acceptable CBOR map
 *                             (*consumed = 4 + body length: what to skip)
 *   MACULA_ERR_NOMEM
 * `consumed` and `need` may be NULL.
 */
MACULA_API int macula_frame_decode(const uint8_t *buf, size_t len, macula_frame **out, size_t *consumed,
                                   size_t *need);
/* Decodes a body without the length prefix. */
MACULA_API int macula_frame_decode_body(const uint8_t *body, size_t len, macula_frame **out);

/* Diagnostic notation of the whole frame (signature included) in stored
 * order, one line, like the vectors' `diag`. malloc'd; macula_free. */
MACULA_API char *macula_frame_diag(const macula_frame *f);

/* --- stream parser --- */
/* Turns a byte stream into frames, keeping the incomplete tail. Unlike the
 * reference (which stalls forever on the first bad frame), a frame whose
 * body does not decode is stepped over and reported. The buffered bytes
 * never exceed one maximal frame plus what was fed since the last call to
 * next(). */
typedef struct macula_stream_parser macula_stream_parser;

MACULA_API macula_stream_parser *macula_stream_parser_new(int *err);
MACULA_API void macula_stream_parser_free(macula_stream_parser *p);
/* Appends bytes (copied). MACULA_ERR_FRAME_TOO_LARGE once the parser has
 * met an oversize length (sticky: the stream cannot be resynchronised);
 * it is reported as soon as the 4 length bytes are buffered.
 * MACULA_ERR_LIMIT (nothing appended) when more than two maximal frames
 * would be buffered, i.e. the caller fed without draining next(). */
MACULA_API int macula_stream_parser_feed(macula_stream_parser *p, const uint8_t *data, size_t len);
/*
 * Next complete frame:
 *   0                          *out = frame (caller owns), *wire_len set
 *   MACULA_ERR_NEED_MORE       no complete frame buffered
 *   MACULA_ERR_BAD_FRAME       a frame of *wire_len bytes was stepped over
 *   MACULA_ERR_FRAME_TOO_LARGE fatal; the rest of the stream is unusable
 *   MACULA_ERR_NOMEM
 * `wire_len` may be NULL.
 */
MACULA_API int macula_stream_parser_next(macula_stream_parser *p, macula_frame **out, size_t *wire_len);
/* The bytes buffered but not yet returned (borrowed until the next call). */
MACULA_API const uint8_t *macula_stream_parser_tail(const macula_stream_parser *p, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* MACULA_FRAME_H */
