/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal test harness: CHECK macros that report file:line and keep going,
 * and a summary that sets the exit status. */
#ifndef MACULA_TESTUTIL_H
#define MACULA_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_failures;
static int tu_checks;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        tu_checks++;                                                                   \
        if (!(cond)) {                                                                 \
            tu_failures++;                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                              \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                             \
    do {                                                                               \
        long long tu_a = (long long)(a), tu_b = (long long)(b);                        \
        tu_checks++;                                                                   \
        if (tu_a != tu_b) {                                                            \
            tu_failures++;                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, \
                    __LINE__, #a, #b, tu_a, tu_b);                                     \
        }                                                                              \
    } while (0)

#define CHECK_MEM(a, b, n)                                                             \
    do {                                                                               \
        tu_checks++;                                                                   \
        if (memcmp((a), (b), (n)) != 0) {                                              \
            tu_failures++;                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s equals %s (%zu bytes)\n", __FILE__,  \
                    __LINE__, #a, #b, (size_t)(n));                                    \
        }                                                                              \
    } while (0)

/* Abort the current test function when a precondition fails. */
#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        tu_checks++;                                                                   \
        if (!(cond)) {                                                                 \
            tu_failures++;                                                             \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define RUN(test)                                                                      \
    do {                                                                               \
        int tu_before = tu_failures;                                                   \
        test();                                                                        \
        fprintf(stderr, "%-48s %s\n", #test, tu_failures == tu_before ? "ok" : "FAILED"); \
    } while (0)

static inline int tu_summary(void)
{
    fprintf(stderr, "%d checks, %d failures\n", tu_checks, tu_failures);
    return tu_failures ? 1 : 0;
}

/* Decode hex text into a malloc'd buffer; aborts the process on bad hex
 * since test inputs are fixed. */
static inline uint8_t *tu_unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2) {
        fprintf(stderr, "tu_unhex: odd length\n");
        exit(2);
    }
    uint8_t *out = malloc(n / 2 + 1);
    if (!out)
        exit(2);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            fprintf(stderr, "tu_unhex: bad hex\n");
            exit(2);
        }
        out[i] = (uint8_t)v;
    }
    if (len)
        *len = n / 2;
    return out;
}

#endif
