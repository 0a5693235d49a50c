/* SPDX-License-Identifier: Apache-2.0 */
/* Printable names of peer states and disconnect reasons (the reference's
 * atoms where it has one), and the serial packed in a peer handle. */
#include "macula/peering.h"
#include "peering/handle.h"

uint64_t macula_peer_serial(macula_peer p) { return p >> MACULA__PEER_SLOT_BITS; }

const char *macula_peer_state_name(macula_peer_state s)
{
    switch (s) {
    case MACULA_PEER_CONNECTING: return "connecting";
    case MACULA_PEER_AWAITING_START: return "awaiting_start";
    case MACULA_PEER_HANDSHAKING: return "handshaking";
    case MACULA_PEER_CONNECTED: return "connected";
    case MACULA_PEER_DRAINING: return "draining";
    case MACULA_PEER_ENDED: return "ended";
    }
    return "unknown";
}

const char *macula_disconnect_reason_name(macula_disconnect_reason r)
{
    switch (r) {
    case MACULA_DISC_CONNECT_FAILED: return "connect_failed";
    case MACULA_DISC_HANDSHAKE_TIMEOUT: return "handshake_timeout";
    case MACULA_DISC_CONNECT_VERIFY_FAILED: return "connect_verify_failed";
    case MACULA_DISC_HELLO_VERIFY_FAILED: return "hello_verify_failed";
    case MACULA_DISC_REFUSED: return "refused";
    case MACULA_DISC_UNEXPECTED_HELLO_ON_SERVER: return "unexpected_hello_on_server";
    case MACULA_DISC_UNEXPECTED_CONNECT_ON_CLIENT: return "unexpected_connect_on_client";
    case MACULA_DISC_STREAM_OPEN_FAILED: return "stream_open_failed";
    case MACULA_DISC_CONNECT_SEND_FAILED: return "connect_send_failed";
    case MACULA_DISC_HELLO_SEND_FAILED: return "hello_send_failed";
    case MACULA_DISC_CLOSED_DURING_HANDSHAKE: return "closed_during_handshake";
    case MACULA_DISC_PEER_CLOSED: return "peer_closed";
    case MACULA_DISC_DRAINED: return "drained";
    case MACULA_DISC_PEER_CLOSED_DURING_DRAIN: return "peer_closed_during_drain";
    case MACULA_DISC_FRAME_TOO_LARGE: return "frame_too_large";
    case MACULA_DISC_PEER_IDENTITY_MISMATCH: return "peer_identity_mismatch";
    case MACULA_DISC_CLOSED: return "closed";
    case MACULA_DISC_INTERNAL_ERROR: return "internal_error";
    case MACULA_DISC_RECV_BUDGET: return "recv_budget";
    case MACULA_DISC_DEAD_PEER: return "dead_peer";
    }
    return "unknown";
}
