/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: checking a wire frame without building it, for callers that
 * forward bytes they did not decode (macula_peer_send_wire). */
#ifndef MACULA_FRAME_WIRE_CHECK_H
#define MACULA_FRAME_WIRE_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* What macula_frame_decode(buf, len, ...) would return, and the same
 * *consumed (set on 0 and MACULA_ERR_BAD_FRAME; may be NULL), without
 * building the frame: 0, MACULA_ERR_NEED_MORE, MACULA_ERR_FRAME_TOO_LARGE,
 * MACULA_ERR_BAD_FRAME, MACULA_ERR_NOMEM (duplicate-key checks of large
 * maps out of canonical order need scratch memory). */
int macula__frame_check_wire(const uint8_t *buf, size_t len, size_t *consumed);

/* --- received frames (the peering layer; see struct macula_frame) --- */
typedef struct macula_frame macula_frame;
void macula__frame_mark_received(macula_frame *f);
int macula__frame_is_received(const macula_frame *f);
/* 1 when the frame body at buf[0..len) (already validated: a map with
 * text keys) has a top-level `signature` entry, else 0. Walks the keys
 * without building anything. */
int macula__frame_body_is_signed(const uint8_t *body, size_t len);
/* 1 and the bytes of top-level text entry `key` (not NUL-terminated), or 0
 * when absent or not text. Same input as above. */
int macula__frame_body_text(const uint8_t *body, size_t len, const char *key, const uint8_t **text, size_t *text_len);

/* Stream parser, without building frames (forwarding, lazy decode): the
 * first complete frame in the buffer, left in place. `build` 0 validates
 * it only (*out stays NULL); `build` 1 decodes it within the parser's
 * decode budget (macula__stream_parser_set_limits). Returns what
 * macula_stream_parser_next would (0, BAD_FRAME, DECODE_BUDGET, NEED_MORE,
 * FRAME_TOO_LARGE, NOMEM) with *wire / *wire_len pointing at its bytes
 * inside the parser (valid until the next call on the parser) on 0,
 * BAD_FRAME and DECODE_BUDGET; the caller then steps over them with
 * macula__stream_parser_skip(p, *wire_len) (frame_internal.h). */
typedef struct macula_stream_parser macula_stream_parser;
int macula__stream_parser_peek_frame(macula_stream_parser *p, int build, macula_frame **out, const uint8_t **wire,
                                     size_t *wire_len);

#endif
