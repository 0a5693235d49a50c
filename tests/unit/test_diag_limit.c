/* SPDX-License-Identifier: Apache-2.0 */
/* The diagnostics rate limit: per-name buckets, refill over time, the
 * suppressed count on the next delivered line, the shared overflow bucket,
 * "unlimited", and the runtime delivering the "suppressed" field. */
#include "macula/runtime.h"
#include "runtime/diag_limit.h"
#include "runtime/runtime_internal.h"
#include "testutil.h"

#define SEC 1000000000ull

static void test_bucket(void)
{
    macula__diag_limit d;
    macula__diag_limit_init(&d, 10, 5);
    uint64_t sup = 99, t = 1000;
    int ok = 0;
    for (int i = 0; i < 50; i++)
        ok += macula__diag_limit_take(&d, "flood", t, &sup);
    CHECK_EQ_INT(ok, 5); /* the burst */
    CHECK_EQ_INT(d.suppressed_total, 45);
    /* Another name has its own bucket. */
    CHECK_EQ_INT(macula__diag_limit_take(&d, "other", t, &sup), 1);
    CHECK_EQ_INT(sup, 0);
    /* 0.1 s later one token is back: the line carries the 45 dropped. */
    CHECK_EQ_INT(macula__diag_limit_take(&d, "flood", t + SEC / 10, &sup), 1);
    CHECK_EQ_INT(sup, 45);
    CHECK_EQ_INT(macula__diag_limit_take(&d, "flood", t + SEC / 10, &sup), 0);
    CHECK_EQ_INT(macula__diag_limit_take(&d, "flood", t + SEC / 5, &sup), 1);
    CHECK_EQ_INT(sup, 1);
    /* Refill never exceeds the burst. */
    ok = 0;
    for (int i = 0; i < 20; i++)
        ok += macula__diag_limit_take(&d, "flood", t + 100 * SEC, &sup);
    CHECK_EQ_INT(ok, 5);
}

static void test_overflow_and_unlimited(void)
{
    macula__diag_limit d;
    macula__diag_limit_init(&d, 1, 1);
    char name[32];
    uint64_t sup;
    int ok = 0;
    for (int i = 0; i < MACULA__DIAG_NAMES + 40; i++) {
        snprintf(name, sizeof name, "n%d", i);
        ok += macula__diag_limit_take(&d, name, 5, &sup);
    }
    /* 63 own buckets, then one shared bucket of burst 1. */
    CHECK_EQ_INT(ok, MACULA__DIAG_NAMES);
    CHECK_EQ_INT(d.n, MACULA__DIAG_NAMES);
    macula__diag_limit_init(&d, 0, 1);
    ok = 0;
    for (int i = 0; i < 1000; i++)
        ok += macula__diag_limit_take(&d, "x", 5, &sup);
    CHECK_EQ_INT(ok, 1000);
}

static int seen, with_count;
static char last_count[32];

static void hook(void *user, const char *event, const macula_diag_field *f, size_t n)
{
    (void)user;
    (void)event;
    seen++;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(f[i].key, "suppressed")) {
            with_count++;
            snprintf(last_count, sizeof last_count, "%s", f[i].value);
        }
    }
}

static void test_runtime_field(void)
{
    macula_runtime_options o;
    macula_runtime_options_init(&o);
    CHECK_EQ_INT(o.diag_rate_per_sec, 20);
    CHECK_EQ_INT(o.diag_burst, 100);
    o.diag = hook;
    o.diag_rate_per_sec = 1000;
    o.diag_burst = 3;
    macula_runtime *rt = macula_runtime_new(&o, NULL);
    REQUIRE(rt);
    for (int i = 0; i < 10; i++)
        macula__runtime_diag(rt, "test_flood", "i", "x", NULL);
    CHECK_EQ_INT(seen, 3);
    /* Wait for a token (1 ms at 1000/s), then the next line says 7. */
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    macula_diag_field f = {"k", "v"};
    macula__runtime_diag_fields(rt, "test_flood", &f, 1);
    CHECK_EQ_INT(seen, 4);
    CHECK_EQ_INT(with_count, 1);
    CHECK(!strcmp(last_count, "7"));
    macula_runtime_free(rt);
}

int main(void)
{
    RUN(test_bucket);
    RUN(test_overflow_and_unlimited);
    RUN(test_runtime_field);
    return tu_summary();
}
