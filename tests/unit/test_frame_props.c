/* SPDX-License-Identifier: Apache-2.0 */
/* Property tests over random frames (fixed PRNG seed, so failures repeat):
 * encode -> decode -> encode is the identity; a non-canonical encoding of
 * a signed frame (shuffled keys, over-long heads) still decodes and
 * verifies; flipping any byte of a signed frame's wire form makes decode
 * or verify fail; the same for PUBLISH frames with publisher_sig, where
 * one of the two signatures must fail. */
#include <stdlib.h>
#include <string.h>

#include "macula/frame.h"
#include "testutil.h"

static uint64_t rng = 0x243f6a8885a308d3u;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t rnd_below(uint64_t n) { return rnd() % n; }

static macula_value *random_value(int depth);

static macula_value *random_text(void)
{
    static const char *pieces[] = {"a", "zz", "\xc3\xa9", "\xe2\x82\xac", "\"", "\\", "\n", "\x01", " ", "key"};
    char buf[64] = "";
    size_t n = rnd_below(6);
    for (size_t i = 0; i < n; i++)
        strcat(buf, pieces[rnd_below(10)]);
    return macula_value_text_cstr(buf);
}

static macula_value *random_value(int depth)
{
    int kind = (int)rnd_below(depth > 3 ? 6 : 8);
    switch (kind) {
    case 0: {
        static const uint64_t edges[] = {0, 23, 24, 255, 256, 65535, 65536, 4294967295u, 4294967296u, UINT64_MAX};
        return macula_value_uint(rnd_below(2) ? edges[rnd_below(10)] : rnd() >> rnd_below(64));
    }
    case 1: { /* the whole major-type-1 range, -1 .. -2^64 (PROTOCOL.md §6.3) */
        static const uint64_t edges[] = {0, 23, 24, (uint64_t)INT64_MAX, (uint64_t)INT64_MAX + 1, UINT64_MAX};
        return macula_value_nint_arg(rnd_below(4) == 0 ? edges[rnd_below(6)] : rnd() >> rnd_below(64));
    }
    case 2: {
        uint8_t b[300];
        size_t n = rnd_below(4) == 0 ? rnd_below(300) : rnd_below(40);
        for (size_t i = 0; i < n; i++)
            b[i] = (uint8_t)rnd();
        return macula_value_bytes(b, n);
    }
    case 3:
        return random_text();
    case 4:
        return macula_value_null();
    case 5: {
        double d = (double)(int64_t)rnd() / (double)(1 + rnd_below(1000000));
        return macula_value_float(d);
    }
    case 6: {
        macula_value *a = macula_value_array();
        size_t n = rnd_below(5);
        for (size_t i = 0; i < n; i++)
            macula_value_array_append(a, random_value(depth + 1));
        return a;
    }
    default: {
        macula_value *m = macula_value_map();
        size_t n = rnd_below(5);
        for (size_t i = 0; i < n; i++) {
            macula_value *k = rnd_below(3)   ? random_text()
                              : rnd_below(4) ? macula_value_int((int64_t)rnd_below(40) - 20)
                                             : macula_value_nint_arg(UINT64_MAX - rnd_below(3));
            macula_value_map_put(m, k, random_value(depth + 1));
        }
        return m;
    }
    }
}

static macula_frame *random_frame(void)
{
    static const char *types[] = {"connect", "hello", "goodbye", "publish", "ping", "call", "x"};
    macula_frame *f = macula_frame_new(types[rnd_below(7)], NULL);
    size_t extra = rnd_below(8);
    for (size_t i = 0; i < extra; i++) {
        char key[16];
        snprintf(key, sizeof key, "f%u", (unsigned)rnd_below(1000));
        macula_frame_put(f, key, random_value(1));
    }
    return f;
}

/* --- a deliberately sloppy encoder: entries in reverse stored order,
 * every head one size larger than needed (where there is one) --- */
static size_t sloppy_head(uint8_t *p, unsigned major, uint64_t v)
{
    uint8_t m = (uint8_t)(major << 5);
    if (v <= 0xff) {
        p[0] = m | 25, p[1] = 0, p[2] = (uint8_t)v;
        return 3;
    }
    if (v <= 0xffff) {
        p[0] = m | 26, p[1] = p[2] = 0, p[3] = (uint8_t)(v >> 8), p[4] = (uint8_t)v;
        return 5;
    }
    p[0] = m | 27;
    for (int i = 0; i < 8; i++)
        p[1 + i] = (uint8_t)(v >> (8 * (7 - i)));
    return 9;
}

static size_t sloppy(const macula_value *v, uint8_t *p)
{
    size_t n = 0;
    uint64_t u;
    const uint8_t *data;
    size_t len;
    switch (macula_value_kind(v)) {
    case MACULA_KIND_UINT:
        macula_value_get_uint(v, &u);
        return sloppy_head(p, 0, u);
    case MACULA_KIND_NINT:
        macula_value_get_nint_arg(v, &u);
        return sloppy_head(p, 1, u);
    case MACULA_KIND_BYTES:
    case MACULA_KIND_TEXT:
        macula_value_get_bytes(v, &data, &len);
        n = sloppy_head(p, macula_value_kind(v) == MACULA_KIND_TEXT ? 3 : 2, len);
        memcpy(p + n, data, len);
        return n + len;
    case MACULA_KIND_NULL:
        p[0] = 0xf6;
        return 1;
    case MACULA_KIND_FLOAT: {
        uint8_t *enc;
        size_t el;
        macula_cbor_encode(v, &enc, &el);
        memcpy(p, enc, el);
        macula_free(enc);
        return el;
    }
    case MACULA_KIND_ARRAY:
        n = sloppy_head(p, 4, macula_value_count(v));
        for (size_t i = 0; i < macula_value_count(v); i++)
            n += sloppy(macula_value_array_at(v, i), p + n);
        return n;
    case MACULA_KIND_MAP:
        n = sloppy_head(p, 5, macula_value_count(v));
        for (size_t i = macula_value_count(v); i-- > 0;) {
            n += sloppy(macula_value_map_key_at(v, i), p + n);
            n += sloppy(macula_value_map_value_at(v, i), p + n);
        }
        return n;
    }
    return 0;
}

static void test_roundtrip_identity(void)
{
    for (int iter = 0; iter < 300; iter++) {
        macula_frame *f = random_frame();
        REQUIRE(f);
        uint8_t *w1, *w2;
        size_t l1, l2, consumed;
        REQUIRE(macula_frame_encode(f, &w1, &l1) == 0);
        macula_frame *d = NULL;
        CHECK_EQ_INT(macula_frame_decode(w1, l1, &d, &consumed, NULL), 0);
        REQUIRE(d);
        CHECK_EQ_INT(consumed, l1);
        CHECK(macula_value_equal(macula_frame_map(f), macula_frame_map(d)));
        CHECK_EQ_INT(macula_frame_encode(d, &w2, &l2), 0);
        CHECK(l1 == l2 && memcmp(w1, w2, l1) == 0);
        /* diag of the decoded frame is stable too */
        char *a = macula_frame_diag(d);
        macula_frame *d2 = NULL;
        macula_frame_decode(w2, l2, &d2, &consumed, NULL);
        char *b = macula_frame_diag(d2);
        CHECK(a && b && !strcmp(a, b));
        macula_free(a);
        macula_free(b);
        macula_frame_free(d2);
        macula_free(w1);
        macula_free(w2);
        macula_frame_free(d);
        macula_frame_free(f);
    }
}

static void test_noncanonical_still_verifies(void)
{
    uint8_t seed[32] = {7};
    macula_identity *id = macula_identity_from_seed(seed, NULL);
    for (int iter = 0; iter < 100; iter++) {
        macula_frame *f = random_frame();
        CHECK_EQ_INT(macula_frame_sign(f, id), 0);
        size_t cap = 16 * macula_frame_wire_size(f) + 64;
        uint8_t *body = malloc(cap);
        size_t len = sloppy(macula_frame_map(f), body);
        REQUIRE(len < cap);
        macula_frame *d = NULL;
        CHECK_EQ_INT(macula_frame_decode_body(body, len, &d), 0);
        CHECK(d && macula_frame_verify(d, macula_identity_public_key(id)) == 0);
        /* and it re-encodes to the canonical bytes */
        uint8_t *w1, *w2;
        size_t l1, l2;
        macula_frame_encode(f, &w1, &l1);
        if (d && macula_frame_encode(d, &w2, &l2) == 0) {
            CHECK(l1 == l2 && !memcmp(w1, w2, l1));
            macula_free(w2);
        }
        macula_free(w1);
        macula_frame_free(d);
        free(body);
        macula_frame_free(f);
    }
    macula_identity_free(id);
}

static void test_any_flipped_byte_fails(void)
{
    uint8_t seed[32] = {9};
    macula_identity *id = macula_identity_from_seed(seed, NULL);
    const uint8_t *pk = macula_identity_public_key(id);
    size_t flips = 0;
    for (int iter = 0; iter < 25; iter++) {
        macula_frame *f = random_frame();
        CHECK_EQ_INT(macula_frame_sign(f, id), 0);
        uint8_t *wire;
        size_t len;
        REQUIRE(macula_frame_encode(f, &wire, &len) == 0);
        for (size_t i = 0; i < len; i++) {
            uint8_t saved = wire[i];
            wire[i] ^= (uint8_t)(1 + rnd_below(255));
            macula_frame *d = NULL;
            size_t consumed = 0;
            int rc = macula_frame_decode(wire, len, &d, &consumed, NULL);
            int ok = rc == 0 && consumed == len && macula_frame_verify(d, pk) == 0;
            if (ok)
                fprintf(stderr, "  flip at %zu of %zu still verifies\n", i, len);
            CHECK(!ok);
            macula_frame_free(d);
            wire[i] = saved;
            flips++;
        }
        macula_free(wire);
        macula_frame_free(f);
    }
    CHECK(flips > 1000);
    macula_identity_free(id);
}

/* PUBLISH frames with publisher_sig (alice publishes, a relay signs the
 * frame), random payloads: a non-canonical encoding keeps both signatures
 * valid; any flipped byte breaks decoding, the frame signature or the
 * publisher signature (publisher_sig itself is covered only by the last). */
static void test_publisher_sig_props(void)
{
    uint8_t seed[32] = {11};
    macula_identity *alice = macula_identity_from_seed(seed, NULL);
    seed[0] = 12;
    macula_identity *relay = macula_identity_from_seed(seed, NULL);
    REQUIRE(alice && relay);
    const uint8_t *rpk = macula_identity_public_key(relay);
    size_t flips = 0, caught_by_publisher_sig = 0;
    for (int iter = 0; iter < 20; iter++) {
        uint8_t realm[32];
        for (size_t i = 0; i < sizeof realm; i++)
            realm[i] = (uint8_t)rnd();
        macula_frame *f = macula_frame_publish(alice, rnd_below(2) ? realm : NULL, "t", 1, random_value(1), rnd(),
                                               -1, 0, NULL);
        REQUIRE(f);
        CHECK_EQ_INT(macula_frame_sign(f, relay), 0);
        CHECK_EQ_INT(macula_frame_verify_publisher(f), 0);
        size_t cap = 16 * macula_frame_wire_size(f) + 64;
        uint8_t *body = malloc(cap);
        size_t blen = sloppy(macula_frame_map(f), body);
        REQUIRE(blen < cap);
        macula_frame *d = NULL;
        CHECK_EQ_INT(macula_frame_decode_body(body, blen, &d), 0);
        CHECK(d && macula_frame_verify(d, rpk) == 0 && macula_frame_verify_publisher(d) == 0);
        macula_frame_free(d);
        free(body);

        uint8_t *wire;
        size_t len;
        REQUIRE(macula_frame_encode(f, &wire, &len) == 0);
        for (size_t i = 0; i < len; i++) {
            uint8_t saved = wire[i];
            wire[i] ^= (uint8_t)(1 + rnd_below(255));
            d = NULL;
            size_t consumed = 0;
            int rc = macula_frame_decode(wire, len, &d, &consumed, NULL);
            int frame_ok = rc == 0 && consumed == len && macula_frame_verify(d, rpk) == 0;
            int pub_ok = rc == 0 && macula_frame_verify_publisher(d) == 0;
            if (frame_ok && pub_ok)
                fprintf(stderr, "  flip at %zu of %zu still verifies twice\n", i, len);
            CHECK(!(frame_ok && pub_ok));
            caught_by_publisher_sig += frame_ok && !pub_ok;
            macula_frame_free(d);
            wire[i] = saved;
            flips++;
        }
        macula_free(wire);
        macula_frame_free(f);
    }
    CHECK(flips > 1000);
    /* the 64 signature bytes of every frame, at least */
    CHECK(caught_by_publisher_sig >= 20 * 64);
    macula_identity_free(alice);
    macula_identity_free(relay);
}

int main(void)
{
    RUN(test_roundtrip_identity);
    RUN(test_noncanonical_still_verifies);
    RUN(test_any_flipped_byte_fails);
    RUN(test_publisher_sig_props);
    return tu_summary();
}
