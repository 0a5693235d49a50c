/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers of the `macula` command-line program. */
#ifndef MACULA_CLI_H
#define MACULA_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>

#include "macula/peering.h"

/* Exit codes scripts rely on. */
enum {
    CLI_EXIT_OK = 0,       /* success */
    CLI_EXIT_PROTOCOL = 1, /* protocol-level answer: need more, bad frame, bad signature, failure */
    CLI_EXIT_USAGE = 2     /* bad usage */
};

/* One `macula <group>` entry point: argv[0] is the group name. */
typedef int (*cli_command_fn)(int argc, char **argv);

int cli_key(int argc, char **argv);
int cli_key_cert(int argc, char **argv); /* cli_key_cert.c */
int cli_frame(int argc, char **argv);
int cli_quic(int argc, char **argv);
int cli_listen(int argc, char **argv);
int cli_dial(int argc, char **argv);
int cli_demo(int argc, char **argv);
int cli_bench(int argc, char **argv);

/* --- helpers shared by the command groups (cli_util.c) --- */
/* Print "macula: <fmt>\n" on stderr. */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A group's usage text: printed to stdout when asked for (--help), then
 * CLI_EXIT_OK; to stderr after bad usage, then CLI_EXIT_USAGE. */
typedef int (*cli_usage_fn)(FILE *f);
/* The exit code that goes with a usage text printed to `f`. */
int cli_usage_exit(FILE *f);
/* Bad usage: "macula: <fmt>" on stderr, then the usage text there too;
 * returns CLI_EXIT_USAGE. */
int cli_usage_error(cli_usage_fn usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One subcommand of a group (`macula <group> <name> ...`): it gets argv
 * from its own name on. */
typedef struct cli_subcommand {
    const char *name;
    cli_command_fn fn;
    int own_help; /* fn answers -h/--help itself (else the group's usage does) */
} cli_subcommand;
/* Runs the subcommand that argv[1] names. "-h", "--help" and "help", and
 * "-h"/"--help" right after a subcommand without own_help, print the
 * group's usage on stdout (exit 0); none or an unknown name is bad usage. */
int cli_dispatch(int argc, char **argv, const cli_subcommand *cmds, size_t n, cli_usage_fn usage);

/* Read a HEX argument: literal hex, "@FILE" (hex text in a file) or "-"
 * (hex text on stdin). Whitespace in the text is ignored; case is free.
 * On success *out is malloc'd (caller frees) and 0 is returned; on failure
 * an error naming `what` is printed and -1 returned. */
int cli_read_hex_arg(const char *arg, const char *what, uint8_t **out, size_t *out_len);
/* Like cli_read_hex_arg but requires exactly `len` bytes into `out`. */
int cli_read_hex_fixed(const char *arg, const char *what, uint8_t *out, size_t len);

/* Lowercase hex of `len` bytes to `f` (no newline). */
void cli_print_hex(FILE *f, const uint8_t *p, size_t len);
/* Lowercase hex into a malloc'd NUL-terminated string (NULL on OOM). */
char *cli_hex_string(const uint8_t *p, size_t len);

/* Write `s` (len bytes) as a JSON string literal, quotes included. */
void cli_json_string(FILE *f, const char *s, size_t len);

/* Parse an unsigned decimal number within [min, max]; -1 on error. */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Like cli_run_until_signal, but runs before_stop(arg) on the loop thread
 * (and waits for it) between the signal and the stop. */
int cli_run_until_signal_then(macula_runtime *rt, const sigset_t *sigs, void (*before_stop)(void *arg), void *arg);
/* One JSON line {"event":"stats",...} with an endpoint's counters. */
void cli_endpoint_stats_print(FILE *f, const macula_quic_endpoint_stats *s);
/* --retry auto|always|never (an error printed otherwise). */
int cli_parse_retry(const char *v, macula_quic_retry *out);

/* Parses milliseconds in 1..86400000 (0 allowed when allow_zero) for
 * option `opt`; -1 with the error printed. */
int cli_parse_ms(const char *opt, const char *v, int allow_zero, uint32_t *out);

/* Split "HOST:PORT" or "[V6]:PORT" into host (malloc'd) and port. */
int cli_split_host_port(const char *s, char **host, uint16_t *port);
/* cli_split_host_port for the argument `what` (an option, or the command
 * for an operand), port 0 refused unless allow_port0; -1 with the error
 * printed. */
int cli_parse_host_port(const char *what, const char *s, int allow_port0, char **host, uint16_t *port);

/* Adds `v` to an ALPN list of at most MACULA_QUIC_MAX_ALPN entries (each
 * 1..255 bytes); -1 with the error printed. */
int cli_add_alpn(const char **alpn, size_t *n, const char *v);

/* macula_identity_load with the error printed; NULL on failure. A key file
 * that cannot be loaded is bad usage (CLI_EXIT_USAGE), like any argument
 * naming nothing usable. */
macula_identity *cli_load_key(const char *path);
/* The identity of a SEED_HEX argument (cli_read_hex_fixed rules) into *id;
 * returns the exit code (CLI_EXIT_OK, or the error printed). */
int cli_identity_from_seed_arg(const char *arg, macula_identity **id);

/* Blocks SIGINT and SIGTERM in the calling thread (threads created later
 * inherit it; the caller takes them with sigwait or a signalfd) and
 * ignores SIGPIPE. */
void cli_block_stop_signals(sigset_t *set);
/* For the servers (`listen`, `quic serve`): runs `rt` on its own thread
 * until SIGINT/SIGTERM (blocked in `sigs` by cli_block_stop_signals), then
 * stops it gracefully and joins it. -1 (printed) when it cannot start. */
int cli_run_until_signal(macula_runtime *rt, const sigset_t *sigs);

/* --- peering commands (cli_events.c): the JSON lines of `listen`, `dial`
 * (and `demo`): one object per line, flushed. --- */
/* {"event":"connected"|"handshake_complete"|"frame"|"disconnected","conn":SERIAL,
 *  "peer":NODE_ID_HEX (once known), frame: "frame_type","wire_len","diag"
 *  (+ "wire": canonical wire hex when with_wire), disconnected: "reason",
 *  "detail" (when non-empty), "refusal_code" (refused)} */
void cli_event_print(FILE *f, const macula_event *ev, int with_wire);
/* {"event":"diag","name":NAME,"fields":{KEY:VALUE,...}} */
void cli_diag_print(FILE *f, const char *name, const macula_diag_field *fields, size_t n);
/* {"event":"listening","address":ADDR,"port":N,"node_id":HEX} */
void cli_listening_print(FILE *f, const char *address, uint16_t port, const uint8_t node_id[MACULA_NODE_ID_LEN]);

/* --- the options `listen` and `dial` share (cli_peer_common.c) --- */
#define CLI_MAX_REALMS 64
typedef struct cli_peer_args {
    const char *key_file;
    uint8_t realms[CLI_MAX_REALMS * MACULA_REALM_LEN];
    size_t n_realms;
    uint64_t capabilities;
    uint32_t drain_ms, handshake_ms, idle_ms, keepalive_ms; /* 0 = default */
    uint32_t dead_peer_ms;                                  /* 0 = off */
    size_t max_frame_size, recv_budget;                     /* 0 = default */
    int keepalive_set;
    int low_memory; /* --low-memory */
    const char *alpn[MACULA_QUIC_MAX_ALPN];
    size_t n_alpn;
    int with_wire; /* --wire */
    int station;   /* --station */
} cli_peer_args;
/* Usage lines for the options below. */
#define CLI_PEER_ARGS_USAGE                                                                              \
    "  --key FILE                 identity key file (required)\n"                                       \
    "  --realm HEX                a 32-byte realm id to announce (repeatable)\n"                        \
    "  --capabilities N           capability bitmask to announce (default 0)\n"                         \
    "  --alpn A                   ALPN to offer/accept (repeatable; default macula)\n"                  \
    "  --handshake-timeout-ms N   CONNECT/HELLO deadline (default 30000)\n"                             \
    "  --drain-ms N               drain after GOODBYE before closing QUIC (default 5000)\n"             \
    "  --idle-timeout-ms N        QUIC idle timeout (default 300000)\n"                                 \
    "  --keepalive-ms N           QUIC keep-alive interval, 0 = none (default 15000)\n"                 \
    "  --dead-peer-ms N           end a peer silent for N ms (not even a keep-alive ACK) with\n"      \
    "                             reason dead_peer; N above the keep-alive interval (default off)\n"  \
    "  --max-frame-size N         largest frame body accepted (default 16777215)\n"                   \
    "  --recv-budget BYTES        partial frames one peer may hold (default 33554432)\n"              \
    "  --low-memory               no effect (kept for compatibility; lean by default)\n"                \
    "  --wire                     add \"wire\" (the frame's canonical wire hex) to frame events\n"      \
    "  --station                  act as a relay station: capability bit 0 in CONNECT/HELLO, and\n"     \
    "                             answer each CALL _macula.ping with ERROR 1 unknown_next_peer\n"
void cli_peer_args_init(cli_peer_args *a);
/* When argv[*i] is one of the options above, consumes it (and its value,
 * advancing *i) and returns 1; 0 when it is not one; -1 on a bad value
 * (message printed). */
int cli_peer_args_parse(cli_peer_args *a, int argc, char **argv, int *i);
/* Sets identity-independent fields of `o` (realms, capabilities, timeouts,
 * ALPN; `a` must outlive `o`'s use). */
void cli_peer_args_apply(const cli_peer_args *a, macula_peer_options *o);

#endif
