/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Event lines written off the loop thread (`macula listen`): the runtime's
 * handlers format a line and queue it; a writer thread writes the queue to
 * a descriptor. A slow or stalled reader of stdout therefore never stalls
 * the loop (and with it every peer).
 *
 * State and limits: a FIFO of lines of at most `cap` bytes (default
 * CLI_OUT_DEFAULT_CAP, `--out-buffer BYTES`). A line that does not fit is
 * dropped (never blocked on: the loop must go on) and counted; the next
 * line written is preceded by {"event":"lines_dropped","count":N}, and
 * stop() reports drops still pending the same way. The total is in
 * cli_out_dropped().
 */
#ifndef MACULA_CLI_OUT_H
#define MACULA_CLI_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_OUT_DEFAULT_CAP ((size_t)8 << 20)
/* How long stop() waits for a stalled reader before leaving the rest. */
#define CLI_OUT_STOP_WAIT_S 5

typedef struct cli_out cli_out;

/* Starts the writer thread on `fd`; NULL when out of memory or no thread. */
cli_out *cli_out_start(int fd, size_t cap);
/* Any thread: queues one line (`len` bytes, its newline included), or
 * drops it when the queue is full. */
void cli_out_line(cli_out *o, const char *line, size_t len);
/* A memory stream to print one line into; cli_out_flush_line() queues
 * it. NULL when out of memory (the line is lost, and counted). */
FILE *cli_out_open_line(cli_out *o, char **buf, size_t *len);
void cli_out_flush_line(cli_out *o, FILE *m, char **buf, size_t *len);
/* Writes what is queued (and a pending lines_dropped), ends the thread,
 * frees; when the reader takes nothing for CLI_OUT_STOP_WAIT_S seconds,
 * returns anyway and leaves the thread and the rest to the process's exit
 * (the program is ending). */
void cli_out_stop(cli_out *o);
uint64_t cli_out_dropped(cli_out *o);

#endif
