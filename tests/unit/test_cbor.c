/* SPDX-License-Identifier: Apache-2.0 */
/* Deterministic CBOR: canonical encoding, the strict decoder's edge cases,
 * the value API and diagnostic notation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec/cbor.h"
#include "macula/value.h"
#include "support/vectors.h"
#include "testutil.h"

static char *hex_of(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        sprintf(s + 2 * i, "%02x", p[i]);
    s[2 * n] = 0;
    return s;
}

/* Encodes v (taking ownership) and compares with `want` hex. */
static int enc_is(macula_value *v, const char *want)
{
    uint8_t *out = NULL;
    size_t len = 0;
    int ok = v && macula_cbor_encode(v, &out, &len) == 0;
    char *got = ok ? hex_of(out, len) : NULL;
    ok = ok && !strcmp(got, want) && len == macula_cbor_encoded_size(v);
    if (!ok)
        fprintf(stderr, "  encoded %s, want %s\n", got ? got : "(error)", want);
    free(got);
    macula_free(out);
    macula_value_free(v);
    return ok;
}

/* Decode result of a hex input (the validating pass alone must agree). */
static int dec_rc(const char *hex)
{
    size_t n;
    uint8_t *in = vectors_unhex(hex, &n);
    macula_value *v = NULL;
    int rc = macula_cbor_decode(in, n, &v);
    CHECK(rc == 0 ? v != NULL : v == NULL);
    CHECK_EQ_INT(macula__cbor_validate(in, n, false), rc);
    macula_value_free(v);
    free(in);
    return rc;
}

/* Decodes, re-encodes canonically, compares. */
static int canon_is(const char *hex, const char *want)
{
    size_t n;
    uint8_t *in = vectors_unhex(hex, &n);
    macula_value *v = NULL;
    int ok = macula_cbor_decode(in, n, &v) == 0;
    free(in);
    return ok && enc_is(v, want);
}

static void test_integers(void)
{
    CHECK(enc_is(macula_value_uint(0), "00"));
    CHECK(enc_is(macula_value_uint(23), "17"));
    CHECK(enc_is(macula_value_uint(24), "1818"));
    CHECK(enc_is(macula_value_uint(255), "18ff"));
    CHECK(enc_is(macula_value_uint(256), "190100"));
    CHECK(enc_is(macula_value_uint(65535), "19ffff"));
    CHECK(enc_is(macula_value_uint(65536), "1a00010000"));
    CHECK(enc_is(macula_value_uint(4294967295u), "1affffffff"));
    CHECK(enc_is(macula_value_uint(4294967296u), "1b0000000100000000"));
    CHECK(enc_is(macula_value_uint(UINT64_MAX), "1bffffffffffffffff"));
    CHECK(enc_is(macula_value_int(-1), "20"));
    CHECK(enc_is(macula_value_int(-24), "37"));
    CHECK(enc_is(macula_value_int(-25), "3818"));
    CHECK(enc_is(macula_value_int(-1000), "3903e7"));
    CHECK(enc_is(macula_value_int(INT64_MIN), "3b7fffffffffffffff"));
    CHECK(enc_is(macula_value_int(5), "05"));
    CHECK(enc_is(macula_value_null(), "f6"));
    CHECK(enc_is(macula_value_float(1.5), "fb3ff8000000000000"));
    CHECK(enc_is(macula_value_float(-0.0), "fb8000000000000000"));
    CHECK(enc_is(macula_value_bool(1), "6474727565"));
    CHECK(enc_is(macula_value_bool(0), "6566616c7365"));

    int64_t i;
    macula_value *v = macula_value_int(INT64_MIN);
    CHECK(macula_value_get_int(v, &i) == 0 && i == INT64_MIN);
    CHECK_EQ_INT(macula_value_kind(v), MACULA_KIND_NINT);
    uint64_t u;
    CHECK_EQ_INT(macula_value_get_uint(v, &u), MACULA_ERR_CBOR_TYPE);
    macula_value_free(v);
    v = macula_value_uint(UINT64_MAX);
    CHECK_EQ_INT(macula_value_get_int(v, &i), MACULA_ERR_CBOR_TYPE);
    macula_value_free(v);
}

static void test_strings(void)
{
    CHECK(enc_is(macula_value_bytes(NULL, 0), "40"));
    CHECK(enc_is(macula_value_text("", 0), "60"));
    CHECK(enc_is(macula_value_text_cstr("IETF"), "6449455446"));
    CHECK(enc_is(macula_value_text("a\0b", 3), "63610062"));
    uint8_t buf[300];
    memset(buf, 0xab, sizeof buf);
    macula_value *v = macula_value_bytes(buf, 24);
    uint8_t *out;
    size_t len;
    CHECK(macula_cbor_encode(v, &out, &len) == 0 && len == 26 && out[0] == 0x58 && out[1] == 24);
    macula_free(out);
    macula_value_free(v);
    v = macula_value_bytes(buf, 300);
    CHECK(macula_cbor_encode(v, &out, &len) == 0 && len == 303 && out[0] == 0x59 && out[1] == 1 && out[2] == 44);
    macula_free(out);
    macula_value_free(v);
    const char *s;
    size_t n;
    v = macula_value_text("a\0b", 3);
    CHECK(macula_value_get_text(v, &s, &n) == 0 && n == 3 && s[3] == 0);
    macula_value_free(v);
}

static void test_map_order(void)
{
    /* sorted by encoded key bytes: 01 < 20 < 6161 < 6162 < 626161 */
    macula_value *m = macula_value_map();
    CHECK_EQ_INT(macula_value_map_put_cstr(m, "aa", macula_value_uint(1)), 0);
    CHECK_EQ_INT(macula_value_map_put_cstr(m, "b", macula_value_uint(2)), 0);
    CHECK_EQ_INT(macula_value_map_put(m, macula_value_int(-1), macula_value_uint(3)), 0);
    CHECK_EQ_INT(macula_value_map_put_cstr(m, "a", macula_value_uint(4)), 0);
    CHECK_EQ_INT(macula_value_map_put(m, macula_value_uint(1), macula_value_uint(5)), 0);
    /* stored order stays insertion order */
    const char *k;
    CHECK(macula_value_get_text(macula_value_map_key_at(m, 0), &k, NULL) == 0 && !strcmp(k, "aa"));
    CHECK(macula_value_get_text(macula_value_map_key_at(m, 3), &k, NULL) == 0 && !strcmp(k, "a"));
    macula_value_free(m);
}

static void test_map_order_exact(void)
{
    macula_value *m = macula_value_map();
    macula_value_map_put_cstr(m, "aa", macula_value_uint(1));
    macula_value_map_put_cstr(m, "b", macula_value_uint(2));
    macula_value_map_put(m, macula_value_int(-1), macula_value_uint(3));
    macula_value_map_put_cstr(m, "a", macula_value_uint(4));
    macula_value_map_put(m, macula_value_uint(1), macula_value_uint(5));
    CHECK(enc_is(m, "a50105200361610461620262616101"));

    /* a large map (sorted through the non-small path) comes out ordered */
    m = macula_value_map();
    char key[16];
    for (int i = 199; i >= 0; i--) {
        snprintf(key, sizeof key, "k%d", (i * 7919) % 200);
        CHECK_EQ_INT(macula_value_map_put_cstr(m, key, macula_value_uint((uint64_t)i)), 0);
    }
    CHECK_EQ_INT(macula_value_count(m), 200);
    uint8_t *out;
    size_t len;
    CHECK_EQ_INT(macula_cbor_encode(m, &out, &len), 0);
    macula_value *d = NULL;
    CHECK_EQ_INT(macula_cbor_decode(out, len, &d), 0);
    CHECK(macula_value_equal(m, d));
    for (size_t i = 1; d && i < macula_value_count(d); i++) {
        const char *a, *b;
        size_t al, bl;
        macula_value_get_text(macula_value_map_key_at(d, i - 1), &a, &al);
        macula_value_get_text(macula_value_map_key_at(d, i), &b, &bl);
        CHECK(al < bl || (al == bl && memcmp(a, b, al) < 0));
    }
    macula_value_free(d);
    macula_free(out);
    macula_value_free(m);
}

static void test_map_api(void)
{
    macula_value *m = macula_value_map();
    macula_value_map_put_cstr(m, "x", macula_value_uint(1));
    macula_value_map_put_cstr(m, "y", macula_value_uint(2));
    macula_value_map_put_cstr(m, "z", macula_value_uint(3));
    CHECK_EQ_INT(macula_value_map_put_cstr(m, "y", macula_value_text_cstr("two")), 0); /* replaces */
    CHECK_EQ_INT(macula_value_count(m), 3);
    CHECK_EQ_INT(macula_value_kind(macula_value_map_get(m, "y")), MACULA_KIND_TEXT);
    CHECK_EQ_INT(macula_value_map_remove_cstr(m, "x"), 0);
    CHECK_EQ_INT(macula_value_map_remove_cstr(m, "x"), MACULA_ERR_NOT_FOUND);
    const char *k;
    CHECK(macula_value_get_text(macula_value_map_key_at(m, 0), &k, NULL) == 0 && !strcmp(k, "y"));
    CHECK(macula_value_map_get(m, "nope") == NULL);
    /* keys must be text or integers; the value is freed all the same */
    CHECK_EQ_INT(macula_value_map_put(m, macula_value_bytes("k", 1), macula_value_uint(1)), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(macula_value_map_put(m, macula_value_null(), macula_value_uint(1)), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(macula_value_map_put(m, macula_value_array(), macula_value_uint(1)), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(macula_value_array_append(m, macula_value_uint(1)), MACULA_ERR_INVALID_ARG);
    macula_value *c = macula_value_clone(m);
    CHECK(macula_value_equal(c, m));
    macula_value_map_put_cstr(c, "z", macula_value_uint(4));
    CHECK(!macula_value_equal(c, m));
    macula_value_free(c);
    macula_value_free(m);

    macula_value *a = macula_value_array();
    CHECK_EQ_INT(macula_value_array_append(a, macula_value_uint(1)), 0);
    CHECK_EQ_INT(macula_value_array_append(a, a), MACULA_ERR_INVALID_ARG); /* not into itself */
    CHECK_EQ_INT(macula_value_count(a), 1);
    CHECK(macula_value_array_at(a, 1) == NULL);
    macula_value_free(a);
}

static void test_encoder_limits(void)
{
    /* a tree the decoder would refuse is not produced either */
    macula_value *v = macula_value_uint(0);
    for (int i = 0; i < MACULA_CBOR_MAX_DEPTH; i++) {
        macula_value *a = macula_value_array();
        macula_value_array_append(a, v);
        v = a;
    }
    uint8_t *out;
    size_t len;
    CHECK_EQ_INT(macula_cbor_encode(v, &out, &len), 0);
    macula_free(out);
    macula_value *a = macula_value_array();
    macula_value_array_append(a, v);
    CHECK_EQ_INT(macula_cbor_encode(a, &out, &len), MACULA_ERR_CBOR_DEPTH);
    CHECK_EQ_INT(macula_cbor_encoded_size(a), 0);
    CHECK(macula_value_diag(a) == NULL);
    macula_value_free(a);
    v = macula_value_float(INFINITY);
    CHECK_EQ_INT(macula_cbor_encode(v, &out, &len), MACULA_ERR_CBOR_TYPE);
    macula_value_free(v);
    v = macula_value_float(NAN);
    CHECK_EQ_INT(macula_cbor_encode(v, &out, &len), MACULA_ERR_CBOR_TYPE);
    macula_value_free(v);
}

static void test_decoder_accepts(void)
{
    CHECK_EQ_INT(dec_rc("a0"), 0);
    CHECK_EQ_INT(dec_rc("f6"), 0); /* any item at this level; frames insist on a map */
    CHECK_EQ_INT(dec_rc("1bffffffffffffffff"), 0);
    CHECK_EQ_INT(dec_rc("3b7fffffffffffffff"), 0);
    CHECK_EQ_INT(dec_rc("a1616b65636166c3a9"), 0); /* multibyte UTF-8 */
    CHECK_EQ_INT(dec_rc("63efbfbe"), 0);           /* U+FFFE is a valid scalar */
    CHECK_EQ_INT(dec_rc("a201022003"), 0);         /* integer keys */
    CHECK_EQ_INT(dec_rc("5b000000000000000100"), 0);
    CHECK_EQ_INT(dec_rc("fb3ff8000000000000"), 0);
    /* non-canonical input is accepted and re-encoded canonically */
    CHECK(canon_is("1800", "00"));
    CHECK(canon_is("190017", "17"));
    CHECK(canon_is("1b0000000000000018", "1818"));
    CHECK(canon_is("5800", "40"));
    CHECK(canon_is("780161", "6161"));
    CHECK(canon_is("a2616202616101", "a2616101616202"));      /* key order */
    CHECK(canon_is("b800", "a0"));
    CHECK(canon_is("9900028080", "828080"));
    CHECK(canon_is("a2626161016162a1617a1901f4", "a26162a1617a1901f462616101"));
}

static void test_decoder_rejects(void)
{
    /* malformed or truncated */
    CHECK_EQ_INT(dec_rc(""), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("a26161"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("4200"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("19"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("1c"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("1d"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("1e"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("ff"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("1f"), MACULA_ERR_BAD_FRAME);
    /* bytes left over */
    CHECK_EQ_INT(dec_rc("a161610100"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("810000"), MACULA_ERR_BAD_FRAME);
    /* lengths and counts larger than the input */
    CHECK_EQ_INT(dec_rc("7bffffffffffffffff"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("bbffffffffffffffff"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("9affffffff"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("5b0000000100000000"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("a30000"), MACULA_ERR_BAD_FRAME);
    /* tags, indefinite lengths, simple values other than null, small floats */
    CHECK_EQ_INT(dec_rc("c060"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("c11a00000001"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("c24101"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("5f4161ff"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("7f6161ff"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("9f01ff"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("bf616101ff"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("a1616181f4"), MACULA_ERR_CBOR_TYPE); /* false, nested */
    CHECK_EQ_INT(dec_rc("f4"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("f5"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("f7"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("e0"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("f3"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("f818"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("f820"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("f93c00"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("fa3f800000"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("fb7ff0000000000000"), MACULA_ERR_CBOR_TYPE); /* +Infinity */
    CHECK_EQ_INT(dec_rc("fbfff0000000000000"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("fb7ff8000000000000"), MACULA_ERR_CBOR_TYPE); /* NaN */
    /* integers below int64 are accepted since Macula 10 (test_nint_full_range) */
    CHECK_EQ_INT(dec_rc("3b8000000000000000"), MACULA_OK);
    CHECK_EQ_INT(dec_rc("3bffffffffffffffff"), MACULA_OK);
    /* keys other than text and integers */
    CHECK_EQ_INT(dec_rc("a1416101"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("a1fb3ff800000000000001"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("a18001"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("a1a001"), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(dec_rc("a1f601"), MACULA_ERR_CBOR_TYPE);
    /* text that is not UTF-8 */
    CHECK_EQ_INT(dec_rc("a1616161ff"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("a161ff01"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("63eda080"), MACULA_ERR_BAD_FRAME); /* surrogate */
    CHECK_EQ_INT(dec_rc("62c080"), MACULA_ERR_BAD_FRAME);   /* overlong NUL */
    CHECK_EQ_INT(dec_rc("64f4908080"), MACULA_ERR_BAD_FRAME); /* above U+10FFFF */
    CHECK_EQ_INT(dec_rc("62e282"), MACULA_ERR_BAD_FRAME);   /* cut multibyte */
}

static void test_duplicate_keys(void)
{
    CHECK_EQ_INT(dec_rc("a2616101616102"), MACULA_ERR_CBOR_DUPLICATE_KEY);
    CHECK_EQ_INT(dec_rc("a16162a2616101616102"), MACULA_ERR_CBOR_DUPLICATE_KEY);
    CHECK_EQ_INT(dec_rc("81a2616101616102"), MACULA_ERR_CBOR_DUPLICATE_KEY);
    CHECK_EQ_INT(dec_rc("a201020103"), MACULA_ERR_CBOR_DUPLICATE_KEY);
    CHECK_EQ_INT(dec_rc("a260016002"), MACULA_ERR_CBOR_DUPLICATE_KEY);
    CHECK_EQ_INT(dec_rc("a261610178016102"), MACULA_ERR_CBOR_DUPLICATE_KEY);   /* two widths */
    CHECK_EQ_INT(dec_rc("a20101180102"), MACULA_ERR_CBOR_DUPLICATE_KEY);
    CHECK_EQ_INT(dec_rc("a22001380002"), MACULA_ERR_CBOR_DUPLICATE_KEY);
    /* a large unsorted map whose last key repeats an early one */
    size_t n = 300;
    uint8_t *buf = malloc(3 + n * 8);
    size_t len = 0;
    buf[len++] = 0xb9;
    buf[len++] = (uint8_t)(n >> 8);
    buf[len++] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        unsigned k = i == n - 1 ? 17 : (unsigned)((i * 37) % 1000 + 1000);
        buf[len++] = 0x19; /* uint16 key */
        buf[len++] = (uint8_t)(k >> 8);
        buf[len++] = (uint8_t)k;
        buf[len++] = 0xf6;
        if (i == 5) { /* key 17 once early, as a plain small head */
            buf[len++] = 0x11;
            buf[len++] = 0xf6;
        }
    }
    buf[2] = (uint8_t)(n + 1); /* count the extra early entry */
    buf[1] = (uint8_t)((n + 1) >> 8);
    macula_value *v = NULL;
    CHECK_EQ_INT(macula_cbor_decode(buf, len, &v), MACULA_ERR_CBOR_DUPLICATE_KEY);
    CHECK_EQ_INT(macula__cbor_validate(buf, len, false), MACULA_ERR_CBOR_DUPLICATE_KEY);
    /* the same map without the repeat decodes */
    buf[2] = (uint8_t)n;
    buf[1] = (uint8_t)(n >> 8);
    CHECK_EQ_INT(macula__cbor_validate(buf, len - 4, false), 0);
    CHECK_EQ_INT(macula_cbor_decode(buf, len - 4, &v), 0);
    CHECK_EQ_INT(macula_value_count(v), n);
    macula_value_free(v);
    free(buf);
}

static void test_depth(void)
{
    char hex[2 * 200 + 8];
    for (int depth = 62; depth <= 66; depth++) {
        /* `depth` nested arrays around 0 */
        hex[0] = 0;
        for (int i = 0; i < depth; i++)
            strcat(hex, "81");
        strcat(hex, "00");
        CHECK_EQ_INT(dec_rc(hex), depth <= MACULA_CBOR_MAX_DEPTH ? 0 : MACULA_ERR_CBOR_DEPTH);
        /* a map whose value is `depth - 1` arrays deep: `depth` containers */
        strcpy(hex, "a16161");
        for (int i = 0; i < depth - 1; i++)
            strcat(hex, "81");
        strcat(hex, "00");
        CHECK_EQ_INT(dec_rc(hex), depth <= MACULA_CBOR_MAX_DEPTH ? 0 : MACULA_ERR_CBOR_DEPTH);
    }
    /* a depth bomb: a million nested arrays costs nothing and fails fast */
    size_t n = 1000000;
    uint8_t *bomb = malloc(n + 1);
    memset(bomb, 0x81, n);
    bomb[n] = 0;
    macula_value *v = NULL;
    CHECK_EQ_INT(macula_cbor_decode(bomb, n + 1, &v), MACULA_ERR_CBOR_DEPTH);
    memset(bomb, 0x9f, n); /* indefinite arrays */
    CHECK_EQ_INT(macula_cbor_decode(bomb, n + 1, &v), MACULA_ERR_CBOR_TYPE);
    free(bomb);
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static void test_no_allocation_from_lying_lengths(void)
{
#ifdef UNDER_ASAN
    fprintf(stderr, "  (address-space cap skipped under ASan; rejection still checked)\n");
    CHECK_EQ_INT(dec_rc("5b0000000100000000"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(dec_rc("9b0000000100000000"), MACULA_ERR_BAD_FRAME);
#else
    /* In a child with its address space capped at 256 MiB, a decoder that
     * trusted a 9-byte input's 4 GiB length would get NULL from malloc and
     * answer out_of_memory instead of rejecting the input. */
    static const char *lies[] = {"5b0000000100000000", "7b0000000100000000", "9b0000000100000000",
                                 "bb0000000100000000", "9a10000000", "a1616159ffff"};
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            struct rlimit rl = {256u << 20, 256u << 20};
            setrlimit(RLIMIT_AS, &rl);
            size_t n;
            uint8_t *in = vectors_unhex(lies[i], &n);
            macula_value *v = NULL;
            int rc = macula_cbor_decode(in, n, &v);
            _exit(rc == MACULA_ERR_BAD_FRAME ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
#endif
}

static char *diag_of_hex(const char *hex)
{
    size_t n;
    uint8_t *in = vectors_unhex(hex, &n);
    macula_value *v = NULL;
    char *d = macula_cbor_decode(in, n, &v) == 0 ? macula_value_diag(v) : NULL;
    macula_value_free(v);
    free(in);
    return d;
}

static int diag_is(const char *hex, const char *want)
{
    char *d = diag_of_hex(hex);
    int ok = d && !strcmp(d, want);
    if (!ok)
        fprintf(stderr, "  diag of %s: got %s, want %s\n", hex, d ? d : "(null)", want);
    macula_free(d);
    return ok;
}

static void test_diag(void)
{
    CHECK(diag_is("a0", "{}"));
    CHECK(diag_is("80", "[]"));
    CHECK(diag_is("40", "h''"));
    CHECK(diag_is("60", "\"\""));
    CHECK(diag_is("f6", "null"));
    CHECK(diag_is("1bffffffffffffffff", "18446744073709551615"));
    CHECK(diag_is("20", "-1"));
    CHECK(diag_is("3b7fffffffffffffff", "-9223372036854775808"));
    CHECK(diag_is("3b8000000000000000", "-9223372036854775809"));
    CHECK(diag_is("3bfffffffffffffffe", "-18446744073709551615"));
    CHECK(diag_is("3bffffffffffffffff", "-18446744073709551616"));
    CHECK(diag_is("a23bffffffffffffffff013b8000000000000000f6", "{-18446744073709551616: 1, -9223372036854775809: null}"));
    CHECK(diag_is("a2616202616101", "{\"b\": 2, \"a\": 1}")); /* stored (wire) order */
    CHECK(diag_is("83014300ff0a8102", "[1, h'00ff0a', [2]]"));
    CHECK(diag_is("a201022003", "{1: 2, -1: 3}"));
    /* escapes: quote, backslash, \n \r \t, other controls and DEL as \u00xx; UTF-8 kept */
    CHECK(diag_is("6d225c0a0d09011f7fc3a9e282ac", "\"\\\"\\\\\\n\\r\\t\\u0001\\u001f\\u007f\xc3\xa9\xe2\x82\xac\""));
    /* floats: shortest spelling that reads back, always with a '.' */
    CHECK(diag_is("fb3ff8000000000000", "1.5"));
    CHECK(diag_is("fb4059000000000000", "100.0"));
    CHECK(diag_is("fb8000000000000000", "-0.0"));
    CHECK(diag_is("fb3fb999999999999a", "0.1"));
    CHECK(diag_is("fb7e37e43c8800759c", "1.0e+300"));
    CHECK(diag_is("fb3fd5555555555555", "0.3333333333333333"));
    CHECK(diag_is("fb3f50624dd2f1a9fc", "0.001"));
    CHECK(diag_is("fb3ee4f8b588e368f1", "1.0e-05"));
    CHECK(diag_is("fb4415af1d78b58c40", "1.0e+20"));
    CHECK(diag_is("fbc3e0000000000000", "-9.223372036854776e+18"));
    CHECK(diag_is("fb0000000000000001", "5.0e-324"));
    /* non-finite values can be built (not encoded) and still print */
    macula_value *v = macula_value_float(-INFINITY);
    char *d = macula_value_diag(v);
    CHECK(d && !strcmp(d, "-Infinity"));
    macula_free(d);
    macula_value_free(v);
    /* every finite double's spelling reads back to the same bits */
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double f;
        memcpy(&f, &x, 8);
        if (!isfinite(f))
            continue;
        v = macula_value_float(f);
        d = macula_value_diag(v);
        double back = d ? strtod(d, NULL) : NAN;
        CHECK(d && memcmp(&back, &f, 8) == 0 && strpbrk(d, ".") != NULL);
        macula_free(d);
        macula_value_free(v);
    }
}

/* Decodes `hex` and returns the NINT's argument through *n (0 on success). */
static int dec_nint(const char *hex, uint64_t *n)
{
    size_t len;
    uint8_t *in = vectors_unhex(hex, &len);
    macula_value *v = NULL;
    int rc = macula_cbor_decode(in, len, &v);
    free(in);
    if (rc == 0)
        rc = macula_value_get_nint_arg(v, n);
    macula_value_free(v);
    return rc;
}

/* Major type 1 over its whole range (PROTOCOL.md §6.3): -1 down to -2^64. */
static void test_nint_full_range(void)
{
    static const struct {
        uint64_t arg;
        const char *hex, *diag;
        int fits_int64;
    } edges[] = {
        {0, "20", "-1", 1},
        {23, "37", "-24", 1},
        {(uint64_t)INT64_MAX, "3b7fffffffffffffff", "-9223372036854775808", 1},
        {(uint64_t)INT64_MAX + 1, "3b8000000000000000", "-9223372036854775809", 0},
        {UINT64_MAX - 1, "3bfffffffffffffffe", "-18446744073709551615", 0},
        {UINT64_MAX, "3bffffffffffffffff", "-18446744073709551616", 0},
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        macula_value *v = macula_value_nint_arg(edges[i].arg);
        REQUIRE(v);
        CHECK_EQ_INT(macula_value_kind(v), MACULA_KIND_NINT);
        uint64_t n = 0, u;
        CHECK(macula_value_get_nint_arg(v, &n) == 0 && n == edges[i].arg);
        CHECK_EQ_INT(macula_value_get_uint(v, &u), MACULA_ERR_CBOR_TYPE);
        int64_t s = 0;
        int rc = macula_value_get_int(v, &s);
        if (edges[i].fits_int64) {
            CHECK(rc == 0 && s == -1 - (int64_t)edges[i].arg);
            /* the int64 constructor makes the same value */
            macula_value *w = macula_value_int(s);
            CHECK(macula_value_equal(v, w));
            macula_value_free(w);
        } else {
            CHECK_EQ_INT(rc, MACULA_ERR_CBOR_TYPE); /* refused, not truncated */
        }
        char *d = macula_value_diag(v);
        CHECK(d && !strcmp(d, edges[i].diag));
        macula_free(d);
        CHECK(enc_is(v, edges[i].hex)); /* frees v */
        /* wire -> value -> wire */
        n = 0;
        CHECK(dec_nint(edges[i].hex, &n) == 0 && n == edges[i].arg);
        CHECK(canon_is(edges[i].hex, edges[i].hex));
        CHECK(diag_is(edges[i].hex, edges[i].diag));
    }
    /* non-minimal heads are still accepted, and re-encoded shortest */
    CHECK(canon_is("3800", "20"));
    CHECK(canon_is("3b0000000000000000", "20"));
    CHECK(canon_is("3a7fffffff", "3a7fffffff"));
    CHECK(canon_is("3b00000000ffffffff", "3affffffff"));
    uint64_t n;
    CHECK(dec_nint("3b00000000000000ff", &n) == 0 && n == 255);
    /* getters refuse other kinds */
    macula_value *v = macula_value_uint(5);
    CHECK_EQ_INT(macula_value_get_nint_arg(v, &n), MACULA_ERR_CBOR_TYPE);
    macula_value_free(v);
    v = macula_value_nint_arg(5);
    CHECK_EQ_INT(macula_value_get_nint_arg(v, NULL), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(macula_value_get_nint_arg(NULL, &n), MACULA_ERR_CBOR_TYPE);
    macula_value *c = macula_value_clone(v);
    CHECK(c && macula_value_equal(c, v) && macula_value_get_nint_arg(c, &n) == 0 && n == 5);
    macula_value_free(c);
    macula_value_free(v);
    /* a truncated 8-byte argument is malformed, as for every head */
    CHECK_EQ_INT(dec_rc("3bffffffffffffff"), MACULA_ERR_BAD_FRAME);

    /* integer map keys of both signs, sorted by their encoded bytes:
     * unsigned (major 0) first, then negative by argument, then text */
    macula_value *m = macula_value_map();
    CHECK_EQ_INT(macula_value_map_put_cstr(m, "a", macula_value_uint(0)), 0);
    CHECK_EQ_INT(macula_value_map_put(m, macula_value_nint_arg(UINT64_MAX), macula_value_uint(1)), 0);
    CHECK_EQ_INT(macula_value_map_put(m, macula_value_nint_arg((uint64_t)INT64_MAX + 1), macula_value_uint(2)), 0);
    CHECK_EQ_INT(macula_value_map_put(m, macula_value_int(-1), macula_value_uint(3)), 0);
    CHECK_EQ_INT(macula_value_map_put(m, macula_value_uint(UINT64_MAX), macula_value_uint(4)), 0);
    CHECK_EQ_INT(macula_value_map_put(m, macula_value_uint(7), macula_value_uint(5)), 0);
    /* the same key again replaces */
    CHECK_EQ_INT(macula_value_map_put(m, macula_value_nint_arg(UINT64_MAX), macula_value_uint(6)), 0);
    CHECK_EQ_INT(macula_value_count(m), 6);
    CHECK(enc_is(m, "a6" "0705" "1bffffffffffffffff04" "2003" "3b800000000000000002" "3bffffffffffffffff06"
                    "616100"));
    /* decoded in any order, they are unique and come back canonical */
    CHECK(canon_is("a3616100" "3bffffffffffffffff06" "2003", "a3" "2003" "3bffffffffffffffff06" "616100"));
    CHECK(diag_is("a23bffffffffffffffff060703", "{-18446744073709551616: 6, 7: 3}"));
    CHECK_EQ_INT(dec_rc("a23bffffffffffffffff013bffffffffffffffff02"), MACULA_ERR_CBOR_DUPLICATE_KEY);
    /* a non-minimal head spells the same key */
    CHECK_EQ_INT(dec_rc("a220013b000000000000000002"), MACULA_ERR_CBOR_DUPLICATE_KEY);
}

int main(void)
{
    RUN(test_integers);
    RUN(test_strings);
    RUN(test_map_order);
    RUN(test_map_order_exact);
    RUN(test_map_api);
    RUN(test_encoder_limits);
    RUN(test_decoder_accepts);
    RUN(test_decoder_rejects);
    RUN(test_duplicate_keys);
    RUN(test_depth);
    RUN(test_no_allocation_from_lying_lengths);
    RUN(test_diag);
    RUN(test_nint_full_range);
    return tu_summary();
}
