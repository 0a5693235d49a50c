/* SPDX-License-Identifier: Apache-2.0 */
/* Names of ERROR frame codes (PROTOCOL.md §6.5). Only the codes whose
 * names the public vectors show: 1 in frames.json (call_error) and the
 * 10.0.0 set, 5 and 16 in frames-v10.json (error, error_2). */
#include "macula/peering.h"

const char *macula_error_code_name(uint8_t code)
{
    switch (code) {
    case MACULA_ERROR_UNKNOWN_NEXT_PEER: return "unknown_next_peer";
    case MACULA_ERROR_TARGET_REALM_REFUSED: return "target_realm_refused";
    case MACULA_ERROR_UNAUTHORIZED: return "unauthorized";
    default: return NULL;
    }
}
