/* Shared helpers of the `macula` command-line program. */
#ifndef MACULA_CLI_H
#define MACULA_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* Print "macula: <fmt>\n" on stderr. */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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

/* Split "HOST:PORT" or "[V6]:PORT" into host (malloc'd) and port. */
int cli_split_host_port(const char *s, char **host, uint16_t *port);

#endif
