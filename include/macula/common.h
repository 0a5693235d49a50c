/* SPDX-License-Identifier: Apache-2.0 */
/*
 * macula-c: shared definitions (export macro, error codes, version).
 *
 * Every public symbol of the library starts with `macula_` (functions,
 * types) or `MACULA_` (macros, enum constants). Internal symbols use the
 * `macula__` prefix and are hidden in the shared library.
 *
 * Error convention: functions that can fail return `int`, 0 on success and
 * a negative `macula_err` value on failure; constructors return NULL and,
 * when the caller passes a non-NULL `int *err`, store the reason there.
 * `macula_strerror()` turns any code into a readable sentence and
 * `macula_err_name()` into a stable short name (the one the CLI prints).
 *
 * ABI rules (structs the caller allocates: macula_runtime_options,
 * macula_peer_options, macula_listener_options, macula_quic_settings,
 * macula_quic_endpoint_options, macula_quic_dial_options, and the output
 * structs macula_peer_info and macula_quic_conn_stats):
 *  - Their first member is `size_t struct_size`: the sizeof of the struct
 *    as the caller was compiled. Always fill such a struct with its
 *    `_init` macro (e.g. macula_peer_options_init(&o)), which expands to
 *    the exported `_init_sized(o, sizeof *(o))`: it zeroes the struct,
 *    sets every default and records struct_size. Never build one with a
 *    designated or zero initializer.
 *  - Fields are only ever appended, in blocks ("releases"). A library
 *    reading a struct whose struct_size is that of an older release uses
 *    the caller's fields of that release and its defaults for every newer
 *    field; output structs are written only up to the caller's release.
 *    A struct_size below the first release, above the library's own
 *    sizeof, or 0 (not initialized) is refused with MACULA_ERR_INVALID_ARG
 *    (functions with an `errmsg` name the field: "struct_size").
 *  - A new block never starts inside the tail padding of the previous
 *    release (the library checks this at compile time), so sizes of
 *    different releases never collide.
 *  - Nested by value: macula_quic_settings is embedded in the listener,
 *    endpoint and dial options, so its layout is frozen (new transport
 *    settings are appended to the embedding structs instead). Its
 *    struct_size must equal its sizeof (the embedding struct's _init sets
 *    it; copying an initialized macula_quic_settings in is fine); anything
 *    else is MACULA_ERR_INVALID_ARG (errmsg "quic.struct_size" or
 *    "settings.struct_size").
 *  - Structs the library allocates and hands out (macula_event,
 *    macula_quic_event, diagnostics) carry no struct_size: they only grow
 *    at the end, and a caller reads the prefix it knows.
 */
#ifndef MACULA_COMMON_H
#define MACULA_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MACULA_BUILDING) && defined(__GNUC__)
#define MACULA_API __attribute__((visibility("default")))
#else
#define MACULA_API
#endif

/* MACULA_VERSION_MAJOR/MINOR/PATCH/NUM/STRING, generated from the project
 * version. */
#include <macula/version.h>

/* The Macula releases whose wire format and peering behaviour this library
 * speaks (10.0.0 keeps 4.3.0's frames and adds PROTOCOL.md §6). */
#define MACULA_WIRE_COMPAT_STRING "macula 4.3.0 and 10.0.0 (frame version 2)"

/*
 * Error codes. Values are stable ABI: new codes are only ever appended.
 * Grouped by layer so that a code tells where a failure came from.
 */
typedef enum macula_err {
    MACULA_OK = 0,

    /* general */
    MACULA_ERR_INVALID_ARG = -1,   /* a parameter or option is invalid */
    MACULA_ERR_NOMEM = -2,         /* out of memory */
    MACULA_ERR_IO = -3,            /* an OS call failed (see errno) */
    MACULA_ERR_INTERNAL = -4,      /* a library invariant broke */
    MACULA_ERR_UNSUPPORTED = -5,   /* valid request the library cannot do */
    MACULA_ERR_LIMIT = -6,         /* a configured cap would be exceeded */

    /* codec / frames (PROTOCOL.md §2) */
    MACULA_ERR_NEED_MORE = -20,          /* incomplete input: need more bytes */
    MACULA_ERR_FRAME_TOO_LARGE = -21,    /* declared length > 16,777,215 */
    MACULA_ERR_BAD_FRAME = -22,          /* body is not an acceptable frame */
    MACULA_ERR_SIGNATURE_INVALID = -23,  /* signature does not verify */
    MACULA_ERR_CBOR_DEPTH = -24,         /* nesting deeper than the cap */
    MACULA_ERR_CBOR_TYPE = -25,          /* value kind not allowed here */
    MACULA_ERR_CBOR_DUPLICATE_KEY = -26, /* a map repeats a key */
    MACULA_ERR_NOT_FOUND = -27,          /* field absent / wrong kind */
    MACULA_ERR_NO_PUBLISHER_SIG = -28,   /* PUBLISH/EVENT without publisher_sig */
    MACULA_ERR_DECODE_BUDGET = -29,      /* decoding would take more memory than allowed */

    /* identity (PROTOCOL.md §1) */
    MACULA_ERR_KEYFILE_MISSING = -40, /* key file does not exist */
    MACULA_ERR_KEYFILE_SIZE = -41,    /* key file is not 78 bytes */
    MACULA_ERR_KEYFILE_MAGIC = -42,   /* key file lacks "macula-v2-key\0" */
    MACULA_ERR_KEYFILE_MISMATCH = -43,/* stored public key != seed's key */
    MACULA_ERR_CRYPTO = -44,          /* crypto library failure */

    /* transport (QUIC) */
    MACULA_ERR_RESOLVE = -60,          /* host name did not resolve */
    MACULA_ERR_TIMEOUT = -61,          /* a deadline passed */
    MACULA_ERR_TLS = -62,              /* TLS handshake failed */
    MACULA_ERR_PIN_MISMATCH = -63,     /* peer key is not the pinned key */
    MACULA_ERR_ALPN = -64,             /* no common ALPN */
    MACULA_ERR_QUIC = -65,             /* QUIC protocol error */
    MACULA_ERR_CONN_CLOSED = -66,      /* connection is closed */
    MACULA_ERR_STREAM_CLOSED = -67,    /* stream is closed / reset */
    MACULA_ERR_WOULD_BLOCK = -68,      /* send queue full, try later */
    MACULA_ERR_REFUSED = -69,          /* peer refused (port closed, ...) */
    MACULA_ERR_IDLE_TIMEOUT = -70,     /* nothing heard for the idle timeout */
    MACULA_ERR_PEER_CLOSED = -71,      /* the peer closed the connection */

    /* runtime / peering */
    MACULA_ERR_STALE_HANDLE = -80, /* handle refers to an ended worker */
    MACULA_ERR_STATE = -81,        /* call not valid in the current state */
    MACULA_ERR_SHUTDOWN = -82,     /* runtime is shutting down */
    MACULA_ERR_QUEUE_FULL = -83,   /* command or mailbox queue is full */
    MACULA_ERR_IDENTITY_MISMATCH = -84, /* verified node id != expected_node_id */
    MACULA_ERR_HANDSHAKE_TIMEOUT = -85, /* no CONNECT/HELLO in time */
    MACULA_ERR_NOT_SIGNABLE = -86       /* an unsigned frame received from a peer: never signed by us */
} macula_err;

/* A readable sentence for `err` (never NULL; unknown codes say so). */
MACULA_API const char *macula_strerror(int err);
/* A stable short name: "ok", "bad_frame", "frame_too_large", ... */
MACULA_API const char *macula_err_name(int err);

/* Releases memory the library handed out (encoded buffers, diag strings,
 * PEM text). NULL is fine. */
MACULA_API void macula_free(void *p);

/* Library version string, e.g. "0.1.0". */
MACULA_API const char *macula_version(void);
/* The same as a number, in MACULA_VERSION_NUM's form (0.1.0 is 0x000100):
 * the library actually loaded, to compare with the headers' value. */
MACULA_API unsigned macula_version_num(void);

#ifdef __cplusplus
}
#endif
#endif /* MACULA_COMMON_H */
