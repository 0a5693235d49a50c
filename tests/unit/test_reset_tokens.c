/* SPDX-License-Identifier: Apache-2.0 */
/* The endpoint's table of peers' stateless reset tokens: insert, replace,
 * remove (incl. backward-shift across wrapped probe runs), lookup through
 * the constant-time compare, the entry cap, and per-connection sets. */
#include <sodium.h>

#include "macula/common.h"
#include "quic/reset_tokens.h"
#include "testutil.h"

static void tok(uint8_t *t, uint32_t i)
{
    memset(t, 0xa5, MACULA__RTOK_LEN);
    memcpy(t, &i, sizeof i);
}

static void test_put_get_del(void)
{
    macula__rtok_table t;
    macula__rtok_init(&t, 10000);
    int vals[2000];
    uint8_t k[MACULA__RTOK_LEN];
    for (uint32_t i = 0; i < 2000; i++) {
        tok(k, i);
        CHECK_EQ_INT(macula__rtok_put(&t, k, &vals[i]), 0);
    }
    CHECK_EQ_INT(t.len, 2000);
    int bad = 0;
    for (uint32_t i = 0; i < 2000; i++) {
        tok(k, i);
        bad += macula__rtok_get(&t, k) != &vals[i];
    }
    CHECK_EQ_INT(bad, 0);
    /* One differing byte (the index's high byte, the filler, the last) is a
     * miss; lower index bytes would name other stored tokens. */
    for (size_t pos = 3; pos < MACULA__RTOK_LEN; pos++) {
        tok(k, 7);
        k[pos] ^= 0x01;
        CHECK(macula__rtok_get(&t, k) == NULL);
    }
    /* Every lookup went through sodium_memcmp, within short probe runs. */
    CHECK(t.compares > 0);
    CHECK(t.compares < t.lookups * 8);
    /* Removing the even ones keeps every odd one reachable (the deletion
     * must not break probe runs). */
    for (uint32_t i = 0; i < 2000; i += 2) {
        tok(k, i);
        macula__rtok_del(&t, k, &vals[i]);
    }
    CHECK_EQ_INT(t.len, 1000);
    bad = 0;
    for (uint32_t i = 0; i < 2000; i++) {
        tok(k, i);
        void *v = macula__rtok_get(&t, k);
        bad += (i % 2) ? v != &vals[i] : v != NULL;
    }
    CHECK_EQ_INT(bad, 0);
    /* Removal with the wrong owner leaves the mapping. */
    tok(k, 1);
    macula__rtok_del(&t, k, &vals[3]);
    CHECK(macula__rtok_get(&t, k) == &vals[1]);
    /* Replace: the latest owner wins; the old owner's removal is a no-op. */
    CHECK_EQ_INT(macula__rtok_put(&t, k, &vals[5]), 0);
    CHECK_EQ_INT(t.len, 1000);
    macula__rtok_del(&t, k, &vals[1]);
    CHECK(macula__rtok_get(&t, k) == &vals[5]);
    CHECK_EQ_INT(macula__rtok_put(&t, k, NULL), MACULA_ERR_INVALID_ARG);
    macula__rtok_free(&t);
}

static void test_random_churn(void)
{
    /* Random tokens, random deletions, checked against a plain array. */
    macula__rtok_table t;
    macula__rtok_init(&t, 512);
    enum { N = 400 };
    uint8_t keys[N][MACULA__RTOK_LEN];
    int present[N] = {0};
    int vals[N];
    randombytes_buf(keys, sizeof keys);
    for (int round = 0; round < 20000; round++) {
        uint32_t i = randombytes_uniform(N);
        if (present[i]) {
            macula__rtok_del(&t, keys[i], &vals[i]);
            present[i] = 0;
        } else {
            CHECK_EQ_INT(macula__rtok_put(&t, keys[i], &vals[i]), 0);
            present[i] = 1;
        }
    }
    size_t n = 0;
    int bad = 0;
    for (int i = 0; i < N; i++) {
        n += (size_t)present[i];
        void *v = macula__rtok_get(&t, keys[i]);
        bad += present[i] ? v != &vals[i] : v != NULL;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(t.len, n);
    CHECK(t.cap <= 2 * 512);
    macula__rtok_free(&t);
}

static void test_capacity(void)
{
    macula__rtok_table t;
    macula__rtok_init(&t, 3);
    int v;
    uint8_t k[MACULA__RTOK_LEN];
    for (uint32_t i = 0; i < 3; i++) {
        tok(k, i);
        CHECK_EQ_INT(macula__rtok_put(&t, k, &v), 0);
    }
    tok(k, 99);
    CHECK_EQ_INT(macula__rtok_put(&t, k, &v), MACULA_ERR_LIMIT);
    CHECK(macula__rtok_get(&t, k) == NULL);
    /* Replacing an existing token is not a new entry. */
    tok(k, 1);
    CHECK_EQ_INT(macula__rtok_put(&t, k, &v), 0);
    macula__rtok_del(&t, k, &v);
    tok(k, 99);
    CHECK_EQ_INT(macula__rtok_put(&t, k, &v), 0);
    CHECK_EQ_INT(t.len, 3);
    macula__rtok_free(&t);
}

static void test_conn_sets(void)
{
    macula__rtok_table t;
    macula__rtok_init(&t, 100);
    macula__rtok_conn a = {0}, b = {0};
    int va, vb;
    uint8_t ta[3][MACULA__RTOK_LEN], tb[MACULA__RTOK_PER_CONN + 4][MACULA__RTOK_LEN];
    randombytes_buf(ta, sizeof ta);
    randombytes_buf(tb, sizeof tb);
    CHECK_EQ_INT(macula__rtok_conn_set(&t, &a, &va, (const uint8_t(*)[MACULA__RTOK_LEN])ta, 3), 3);
    /* More than a connection may hold: cut to MACULA__RTOK_PER_CONN. */
    CHECK_EQ_INT(macula__rtok_conn_set(&t, &b, &vb, (const uint8_t(*)[MACULA__RTOK_LEN])tb, MACULA__RTOK_PER_CONN + 4),
                 MACULA__RTOK_PER_CONN);
    CHECK_EQ_INT(t.len, 3 + MACULA__RTOK_PER_CONN);
    CHECK(macula__rtok_get(&t, ta[2]) == &va);
    CHECK(macula__rtok_get(&t, tb[0]) == &vb);
    CHECK(macula__rtok_get(&t, tb[MACULA__RTOK_PER_CONN]) == NULL);
    /* A new set replaces the old one. */
    CHECK_EQ_INT(macula__rtok_conn_set(&t, &a, &va, (const uint8_t(*)[MACULA__RTOK_LEN])ta + 1, 1), 1);
    CHECK(macula__rtok_get(&t, ta[0]) == NULL);
    CHECK(macula__rtok_get(&t, ta[1]) == &va);
    CHECK(macula__rtok_get(&t, ta[2]) == NULL);
    macula__rtok_conn_clear(&t, &b, &vb);
    macula__rtok_conn_clear(&t, &a, &va);
    CHECK_EQ_INT(t.len, 0);
    CHECK_EQ_INT(a.n + b.n, 0);
    macula__rtok_free(&t);
}

int main(void)
{
    if (sodium_init() < 0)
        return 2;
    RUN(test_put_get_del);
    RUN(test_random_churn);
    RUN(test_capacity);
    RUN(test_conn_sets);
    return tu_summary();
}
