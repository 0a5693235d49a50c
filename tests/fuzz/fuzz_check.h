/* SPDX-License-Identifier: Apache-2.0 */
/* Invariant checks shared by the fuzz targets: a broken invariant aborts,
 * which libFuzzer reports as a crash with the input saved. */
#ifndef MACULA_FUZZ_CHECK_H
#define MACULA_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(cond)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

#endif
