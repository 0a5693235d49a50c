/* SPDX-License-Identifier: Apache-2.0 */
/* Decoded trees live in one block (src/codec/cbor_decode.c) yet keep every
 * promise of value.h and frame.h: they can be changed (entries replaced,
 * removed, added; arrays appended to), nested into other trees, cloned and
 * freed piece by piece, without leaks or double frees (this test also runs
 * under ASan). And the validating pass alone (forwarding's check) accepts
 * and rejects exactly what the full decoder does. */
#include <stdlib.h>
#include <string.h>

#include "codec/cbor.h"
#include "frame/wire_check.h"
#include "macula/frame.h"
#include "support/vectors.h"
#include "testutil.h"

/* {"a": [1, "x", h'00'], "b": {"c": null, "d": -5}, "e": "text", "f": 1.5} */
#define SAMPLE_HEX "a461618301617841006162a26163f6616424616564746578746166fb3ff8000000000000"

static macula_value *decode_hex(const char *hex)
{
    size_t n;
    uint8_t *in = vectors_unhex(hex, &n);
    macula_value *v = NULL;
    int rc = in ? macula_cbor_decode(in, n, &v) : MACULA_ERR_INVALID_ARG;
    free(in);
    return rc == 0 ? v : NULL;
}

static int text_is(const macula_value *v, const char *want)
{
    const char *s;
    size_t len;
    return macula_value_get_text(v, &s, &len) == 0 && len == strlen(want) && !memcmp(s, want, len);
}

static void test_decoded_tree_is_mutable(void)
{
    macula_value *v = decode_hex(SAMPLE_HEX);
    REQUIRE(v);
    /* append to a decoded array far beyond its decoded size */
    macula_value *a = macula_value_map_get_mut(v, "a");
    for (uint64_t i = 0; i < 100; i++)
        CHECK_EQ_INT(macula_value_array_append(a, macula_value_uint(i)), 0);
    CHECK_EQ_INT(macula_value_count(a), 103);
    uint64_t u = 0;
    CHECK(macula_value_get_uint(macula_value_array_at(a, 0), &u) == 0 && u == 1);
    CHECK(text_is(macula_value_array_at(a, 1), "x"));
    CHECK(macula_value_get_uint(macula_value_array_at(a, 102), &u) == 0 && u == 99);
    /* a decoded inner map: add entries (it grows), replace one with a heap
     * subtree, remove another */
    macula_value *b = macula_value_map_get_mut(v, "b");
    CHECK_EQ_INT(macula_value_map_put_cstr(b, "g", macula_value_text_cstr("new")), 0);
    macula_value *inner = macula_value_array();
    macula_value_array_append(inner, macula_value_bytes("zz", 2));
    CHECK_EQ_INT(macula_value_map_put_cstr(b, "c", inner), 0);
    CHECK_EQ_INT(macula_value_map_remove_cstr(b, "d"), 0);
    /* the root: remove, replace, add many */
    CHECK_EQ_INT(macula_value_map_remove_cstr(v, "e"), 0);
    CHECK_EQ_INT(macula_value_map_put_cstr(v, "f", macula_value_float(2.5)), 0);
    char key[16];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "k%02d", i);
        CHECK_EQ_INT(macula_value_map_put_cstr(v, key, macula_value_int(-i)), 0);
    }

    /* the same tree built from constructors */
    macula_value *want = macula_value_map();
    macula_value *wa = macula_value_array();
    macula_value_array_append(wa, macula_value_uint(1));
    macula_value_array_append(wa, macula_value_text_cstr("x"));
    macula_value_array_append(wa, macula_value_bytes("", 1));
    for (uint64_t i = 0; i < 100; i++)
        macula_value_array_append(wa, macula_value_uint(i));
    macula_value_map_put_cstr(want, "a", wa);
    macula_value *wb = macula_value_map();
    macula_value *wi = macula_value_array();
    macula_value_array_append(wi, macula_value_bytes("zz", 2));
    macula_value_map_put_cstr(wb, "c", wi);
    macula_value_map_put_cstr(wb, "g", macula_value_text_cstr("new"));
    macula_value_map_put_cstr(want, "b", wb);
    macula_value_map_put_cstr(want, "f", macula_value_float(2.5));
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "k%02d", i);
        macula_value_map_put_cstr(want, key, macula_value_int(-i));
    }
    CHECK(macula_value_equal(v, want));
    uint8_t *e1 = NULL, *e2 = NULL;
    size_t l1 = 0, l2 = 0;
    CHECK_EQ_INT(macula_cbor_encode(v, &e1, &l1), 0);
    CHECK_EQ_INT(macula_cbor_encode(want, &e2, &l2), 0);
    CHECK(l1 == l2 && e1 && e2 && !memcmp(e1, e2, l1));
    macula_free(e1);
    macula_free(e2);

    /* replacing a decoded subtree that now holds heap nodes frees them */
    CHECK_EQ_INT(macula_value_map_put_cstr(v, "b", macula_value_null()), 0);
    CHECK_EQ_INT(macula_value_map_put_cstr(v, "a", macula_value_uint(7)), 0);
    CHECK_EQ_INT(macula_value_count(v), 23);
    macula_value_free(want);
    macula_value_free(v);
}

static void test_decoded_tree_nests_and_clones(void)
{
    macula_value *v = decode_hex(SAMPLE_HEX), *w = decode_hex(SAMPLE_HEX);
    REQUIRE(v && w);
    /* a clone owns its own memory: it outlives the decoded block */
    macula_value *c = macula_value_clone(v);
    CHECK(macula_value_equal(c, v));
    macula_value_free(v);
    CHECK(text_is(macula_value_map_get(c, "e"), "text"));
    CHECK(text_is(macula_value_array_at(macula_value_map_get(c, "a"), 1), "x"));
    /* a decoded tree inside another decoded tree, inside a heap array */
    CHECK_EQ_INT(macula_value_map_put_cstr(c, "nested", w), 0);
    macula_value *outer = decode_hex(SAMPLE_HEX);
    REQUIRE(outer);
    CHECK_EQ_INT(macula_value_map_put_cstr(outer, "clone", c), 0);
    macula_value *arr = macula_value_array();
    CHECK_EQ_INT(macula_value_array_append(arr, outer), 0);
    CHECK(text_is(macula_value_map_get(macula_value_map_get(macula_value_map_get(outer, "clone"), "nested"), "e"),
                  "text"));
    macula_value_free(arr); /* frees outer's block, c, and w's block */

    /* top-level scalars: null is the shared node, others a block of one */
    macula_value *n = decode_hex("f6");
    CHECK(n && macula_value_kind(n) == MACULA_KIND_NULL);
    macula_value_free(n);
    macula_value_free(n); /* the shared node is never freed */
    macula_value *t = decode_hex("6568656c6c6f");
    CHECK(text_is(t, "hello"));
    macula_value *m = macula_value_map();
    CHECK_EQ_INT(macula_value_map_put_cstr(m, "t", t), 0);
    macula_value_free(m);
    macula_value *e = decode_hex("80"); /* an empty decoded array grows on the heap */
    REQUIRE(e);
    CHECK_EQ_INT(macula_value_array_append(e, macula_value_uint(1)), 0);
    CHECK_EQ_INT(macula_value_count(e), 1);
    macula_value_free(e);
}

static macula_frame *vector_frame(const json *root, const char *name, uint8_t **wire, size_t *len)
{
    const json *v = vectors_find(root, "vectors", name);
    *wire = v ? vectors_hex(v, "wire_hex", len) : NULL;
    macula_frame *f = NULL;
    if (*wire && macula_frame_decode(*wire, *len, &f, NULL, NULL) != 0)
        f = NULL;
    return f;
}

static void test_decoded_frame_is_mutable(void)
{
    json *root = vectors_load();
    REQUIRE(root);
    uint8_t *wire;
    size_t len;
    macula_frame *f = vector_frame(root, "publish_simple", &wire, &len);
    REQUIRE(f);
    uint8_t seed[MACULA_SEED_LEN];
    memset(seed, 0x21, sizeof seed);
    macula_identity *id = macula_identity_from_seed(seed, NULL);
    REQUIRE(id);
    /* replace the payload, drop a field, add one, re-sign (replaces the
     * decoded signature), stamp (replaces frame_id and sent_at_ms) */
    uint8_t big[5000];
    memset(big, 0xab, sizeof big);
    CHECK_EQ_INT(macula_frame_put_bytes(f, "payload", big, sizeof big), 0);
    CHECK_EQ_INT(macula_frame_remove(f, "ttl_ms"), 0);
    CHECK_EQ_INT(macula_frame_put_text(f, "extra", "yes"), 0);
    CHECK_EQ_INT(macula_frame_stamp(f), 0);
    CHECK_EQ_INT(macula_frame_sign(f, id), 0);
    CHECK_EQ_INT(macula_frame_verify(f, macula_identity_public_key(id)), 0);
    uint8_t *w2 = NULL;
    size_t l2 = 0;
    CHECK_EQ_INT(macula_frame_encode(f, &w2, &l2), 0);
    macula_frame *g = NULL;
    CHECK_EQ_INT(macula_frame_decode(w2, l2, &g, NULL, NULL), 0);
    REQUIRE(g);
    CHECK(macula_value_equal(macula_frame_map(f), macula_frame_map(g)));
    CHECK_EQ_INT(macula_frame_verify(g, macula_identity_public_key(id)), 0);
    const uint8_t *p;
    size_t plen;
    CHECK(macula_frame_get_bytes(g, "payload", &p, &plen) == 0 && plen == sizeof big && !memcmp(p, big, plen));
    CHECK(macula_frame_get(g, "ttl_ms") == NULL);
    /* a clone of a decoded frame outlives it */
    macula_frame *c = macula_frame_clone(g, NULL);
    macula_frame_free(g);
    REQUIRE(c);
    CHECK(!strcmp(macula_frame_type(c), "publish"));
    macula_frame_free(c);
    macula_free(w2);
    macula_frame_free(f);
    macula_identity_free(id);
    free(wire);
    json_free(root);
}

/* macula__frame_check_wire and macula_frame_decode give the same result
 * and the same `consumed` on `buf`. */
static int check_agrees(const uint8_t *buf, size_t len)
{
    macula_frame *f = NULL;
    size_t c1 = 0, c2 = 0;
    int rc1 = macula_frame_decode(buf, len, &f, &c1, NULL);
    int rc2 = macula__frame_check_wire(buf, len, &c2);
    macula_frame_free(f);
    int ok = rc1 == rc2 && (rc1 != 0 && rc1 != MACULA_ERR_BAD_FRAME ? 1 : c1 == c2);
    if (!ok)
        fprintf(stderr, "  decode %d (consumed %zu), check %d (consumed %zu)\n", rc1, c1, rc2, c2);
    return ok;
}

static int check_agrees_hex(const char *hex)
{
    size_t n;
    uint8_t *in = vectors_unhex(hex, &n);
    int ok = in && check_agrees(in, n);
    free(in);
    return ok;
}

static void test_check_wire_agrees_with_decode(void)
{
    /* hand-made bodies: what a frame may and may not be */
    CHECK(check_agrees_hex("00000001a0"));                       /* {} */
    CHECK(check_agrees_hex("0000000101"));                       /* not a map */
    CHECK(check_agrees_hex("00000003a10101"));                   /* integer key at the top */
    CHECK(check_agrees_hex("00000007a16161a10101"));             /* ... fine when nested */
    CHECK(check_agrees_hex("00000007a2616101616102"));           /* duplicate key */
    CHECK(check_agrees_hex("00000007a2616201616101"));           /* out of order */
    CHECK(check_agrees_hex("00000004a16161c0"));                 /* a tag */
    CHECK(check_agrees_hex("00000002a0a0"));                     /* bytes after the map */
    CHECK(check_agrees_hex("00000003a0"));                       /* need more */
    CHECK(check_agrees_hex("01000000a0"));                       /* too large */
    CHECK(check_agrees_hex("0000000aa0a0a0a0a0a0a0a0a0a0a0a0")); /* a frame and more bytes */
    uint8_t forty[40] = {0};
    for (size_t i = 0; i <= sizeof forty; i++)
        CHECK(check_agrees(forty, i));

    /* every vector, all its prefixes and many single-byte changes */
    json *root = vectors_load();
    REQUIRE(root);
    const json *list = json_get(root, "vectors");
    REQUIRE(list);
    uint64_t x = 0x9e3779b97f4a7c15u;
    int bad = 0;
    for (size_t i = 0; i < list->count; i++) {
        size_t len;
        uint8_t *wire = vectors_hex(list->items[i], "wire_hex", &len);
        REQUIRE(wire && len > 4);
        uint8_t *copy = malloc(len);
        REQUIRE(copy);
        for (size_t n = 0; n <= len; n++)
            bad += !check_agrees(wire, n);
        for (int k = 0; k < 3000; k++) {
            memcpy(copy, wire, len);
            for (int flips = 0; flips < 1 + k % 3; flips++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                /* mostly the body; the header now and then */
                size_t at = x % 8 == 0 ? (x >> 8) % len : 4 + (x >> 8) % (len - 4);
                copy[at] = (uint8_t)(x >> 40);
            }
            bad += !check_agrees(copy, len);
        }
        free(copy);
        free(wire);
    }
    CHECK_EQ_INT(bad, 0);
    json_free(root);
}

int main(void)
{
    RUN(test_decoded_tree_is_mutable);
    RUN(test_decoded_tree_nests_and_clones);
    RUN(test_decoded_frame_is_mutable);
    RUN(test_check_wire_agrees_with_decode);
    return tu_summary();
}
