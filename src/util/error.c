/* SPDX-License-Identifier: Apache-2.0 */
/* Readable names and sentences for every macula_err code. */
#include "macula/common.h"

struct err_text {
    int code;
    const char *name;
    const char *text;
};

static const struct err_text err_table[] = {
    {MACULA_OK, "ok", "success"},
    {MACULA_ERR_INVALID_ARG, "invalid_argument", "invalid argument or option"},
    {MACULA_ERR_NOMEM, "out_of_memory", "out of memory"},
    {MACULA_ERR_IO, "io_error", "operating-system I/O call failed"},
    {MACULA_ERR_INTERNAL, "internal_error", "internal library error"},
    {MACULA_ERR_UNSUPPORTED, "unsupported", "operation not supported"},
    {MACULA_ERR_LIMIT, "limit_exceeded", "a configured limit would be exceeded"},
    {MACULA_ERR_NEED_MORE, "more", "incomplete input: more bytes are needed"},
    {MACULA_ERR_FRAME_TOO_LARGE, "frame_too_large", "frame length exceeds 16777215 bytes"},
    {MACULA_ERR_BAD_FRAME, "bad_frame", "frame body is not an acceptable CBOR map"},
    {MACULA_ERR_SIGNATURE_INVALID, "signature_invalid", "frame signature does not verify"},
    {MACULA_ERR_CBOR_DEPTH, "cbor_too_deep", "CBOR nesting exceeds the depth limit"},
    {MACULA_ERR_CBOR_TYPE, "cbor_unsupported_type", "CBOR value of a kind that is not allowed"},
    {MACULA_ERR_CBOR_DUPLICATE_KEY, "cbor_duplicate_key", "CBOR map repeats a key"},
    {MACULA_ERR_NOT_FOUND, "not_found", "field is absent or of another kind"},
    {MACULA_ERR_NO_PUBLISHER_SIG, "no_publisher_sig", "PUBLISH or EVENT frame carries no publisher_sig"},
    {MACULA_ERR_DECODE_BUDGET, "decode_budget", "decoding the frame would take more memory than its budget"},
    {MACULA_ERR_KEYFILE_MISSING, "keyfile_missing", "key file does not exist"},
    {MACULA_ERR_KEYFILE_SIZE, "keyfile_bad_size", "key file is not 78 bytes long"},
    {MACULA_ERR_KEYFILE_MAGIC, "keyfile_bad_magic", "key file does not start with \"macula-v2-key\\0\""},
    {MACULA_ERR_KEYFILE_MISMATCH, "keyfile_key_mismatch", "key file's public key does not match its seed"},
    {MACULA_ERR_CRYPTO, "crypto_error", "cryptographic library failure"},
    {MACULA_ERR_RESOLVE, "resolve_failed", "host name could not be resolved"},
    {MACULA_ERR_TIMEOUT, "timeout", "deadline passed"},
    {MACULA_ERR_TLS, "tls_error", "TLS handshake failed"},
    {MACULA_ERR_PIN_MISMATCH, "pin_mismatch", "peer certificate key is not the pinned Ed25519 key"},
    {MACULA_ERR_ALPN, "alpn_mismatch", "no application protocol (ALPN) in common"},
    {MACULA_ERR_QUIC, "quic_error", "QUIC protocol error"},
    {MACULA_ERR_CONN_CLOSED, "connection_closed", "connection is closed"},
    {MACULA_ERR_STREAM_CLOSED, "stream_closed", "stream is closed or was reset"},
    {MACULA_ERR_WOULD_BLOCK, "would_block", "send queue is full; retry when writable"},
    {MACULA_ERR_REFUSED, "refused", "peer refused the connection"},
    {MACULA_ERR_IDLE_TIMEOUT, "idle_timeout", "nothing heard from the peer for the idle timeout"},
    {MACULA_ERR_PEER_CLOSED, "peer_closed", "the peer closed the connection"},
    {MACULA_ERR_STALE_HANDLE, "stale_handle", "handle refers to a connection that has ended"},
    {MACULA_ERR_STATE, "bad_state", "call not valid in the current state"},
    {MACULA_ERR_SHUTDOWN, "shutting_down", "runtime is shutting down"},
    {MACULA_ERR_QUEUE_FULL, "queue_full", "queue is full"},
    {MACULA_ERR_IDENTITY_MISMATCH, "identity_mismatch", "peer node id is not the expected one"},
    {MACULA_ERR_HANDSHAKE_TIMEOUT, "handshake_timeout", "no CONNECT/HELLO within the handshake timeout"},
    {MACULA_ERR_NOT_SIGNABLE, "not_signable", "an unsigned frame received from a peer is never signed with our key"},
};

static const struct err_text *find_err(int code)
{
    for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
        if (err_table[i].code == code)
            return &err_table[i];
    return NULL;
}

const char *macula_strerror(int err)
{
    const struct err_text *e = find_err(err);
    return e ? e->text : "unknown error code";
}

const char *macula_err_name(int err)
{
    const struct err_text *e = find_err(err);
    return e ? e->name : "unknown_error";
}

const char *macula_version(void) { return MACULA_VERSION_STRING; }
unsigned macula_version_num(void) { return MACULA_VERSION_NUM; }
