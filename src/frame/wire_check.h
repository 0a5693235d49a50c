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

#endif
