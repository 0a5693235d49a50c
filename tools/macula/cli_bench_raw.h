/* SPDX-License-Identifier: Apache-2.0 */
/* Plain QUIC throughput on the bench rig's two runtimes (cli_bench_raw.c). */
#ifndef MACULA_CLI_BENCH_RAW_H
#define MACULA_CLI_BENCH_RAW_H

#include <stddef.h>
#include <stdint.h>

struct raw_result {
    double mb_s, writes_per_s;
    double process_cpu_us; /* whole process CPU per write, both ends */
};

/* `writes` writes of `write_len` bytes on one QUIC stream from one runtime
 * to another on 127.0.0.1, timed from the first write to the last byte
 * received. 0 or a negative macula_err. */
int bench_raw_quic(size_t write_len, uint64_t writes, struct raw_result *out);

#endif
