/* SPDX-License-Identifier: Apache-2.0 */
/* Every vector and decode case of frames-v10.json (Macula 10.0.0, env
 * MACULA_VECTORS_V10) through the library: decode, diag, re-encode, the
 * frame signing input without `signature` and `publisher_sig`, verify,
 * re-sign byte for byte, the publisher signature (PROTOCOL.md §6.1), our
 * constructors where there is one, and integers down to -2^64 (§6.3). */
#include <stdlib.h>
#include <string.h>

#include "macula/frame.h"
#include "support/vectors.h"
#include "testutil.h"

static json *root;

static void check_bytes(const char *what, const char *name, const uint8_t *got, size_t got_len, const uint8_t *want,
                        size_t want_len)
{
    tu_checks++;
    if (!got || got_len != want_len || memcmp(got, want, want_len) != 0) {
        tu_failures++;
        fprintf(stderr, "%s: %s differs (%zu vs %zu bytes)\n", name, what, got ? got_len : 0, want_len);
    }
}

static void check_str(const char *what, const char *name, const char *got, const char *want)
{
    tu_checks++;
    if (!got || !want || strcmp(got, want) != 0) {
        tu_failures++;
        fprintf(stderr, "%s: %s\n  got  %s\n  want %s\n", name, what, got ? got : "(null)", want ? want : "(null)");
    }
}

/* Encodes `f` and compares with the vector's wire. */
static void check_wire(const char *what, const char *name, const macula_frame *f, const uint8_t *wire, size_t len)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    CHECK_EQ_INT(macula_frame_encode(f, &out, &out_len), 0);
    check_bytes(what, name, out, out_len, wire, len);
    macula_free(out);
}

/* The frame signing input rebuilt from the public API alone: domain ++
 * canonical CBOR of a copy without signature and publisher_sig. */
static uint8_t *independent_signing_input(const macula_frame *f, size_t *len)
{
    macula_frame *c = macula_frame_clone(f, NULL);
    if (!c)
        return NULL;
    macula_frame_remove(c, "signature");
    macula_frame_remove(c, "publisher_sig");
    uint8_t *cbor, *out = NULL;
    size_t n;
    if (macula_cbor_encode(macula_frame_map(c), &cbor, &n) == 0) {
        out = malloc(MACULA_SIGNATURE_DOMAIN_LEN + n);
        memcpy(out, MACULA_SIGNATURE_DOMAIN, MACULA_SIGNATURE_DOMAIN_LEN);
        memcpy(out + MACULA_SIGNATURE_DOMAIN_LEN, cbor, n);
        *len = MACULA_SIGNATURE_DOMAIN_LEN + n;
        macula_free(cbor);
    }
    macula_frame_free(c);
    return out;
}

static int is_pubsub(const macula_frame *f)
{
    const char *t = macula_frame_type(f);
    return t && (!strcmp(t, "publish") || !strcmp(t, "event"));
}

static const uint8_t *field_bytes(const macula_frame *f, const char *key)
{
    const uint8_t *p = NULL;
    size_t n;
    return macula_frame_get_bytes(f, key, &p, &n) == 0 ? p : NULL;
}

static uint64_t field_uint(const macula_frame *f, const char *key)
{
    uint64_t v = 0;
    macula_frame_get_uint(f, key, &v);
    return v;
}

static int constructed; /* vectors our constructors rebuilt */

/* Rebuilds CONNECT / HELLO / GOODBYE / PUBLISH with our constructors from
 * the decoded frame's parameters (frame_id and sent_at_ms copied, as the
 * generator fixed them), signs, and compares with the wire. */
static void check_constructor(const char *name, const macula_frame *ref, const macula_identity *id,
                              const uint8_t *wire, size_t wire_len)
{
    const char *type = macula_frame_type(ref);
    const macula_value *rv = macula_frame_get(ref, "realms");
    size_t n_realms = macula_value_count(rv);
    uint8_t realms[4 * MACULA_REALM_LEN];
    for (size_t i = 0; i < n_realms && i < 4; i++) {
        const uint8_t *p;
        size_t len;
        if (macula_value_get_bytes(macula_value_array_at(rv, i), &p, &len) == 0 && len == MACULA_REALM_LEN)
            memcpy(realms + i * MACULA_REALM_LEN, p, MACULA_REALM_LEN);
    }
    if (n_realms > 4)
        return;
    macula_frame *f = NULL;
    if (!strcmp(type, "connect")) {
        f = macula_frame_connect(id, field_bytes(ref, "station_id"), realms, n_realms,
                                 field_uint(ref, "capabilities"), NULL);
    } else if (!strcmp(type, "hello")) {
        const char *accepted = NULL;
        macula_frame_get_text(ref, "accepted", &accepted, NULL);
        uint64_t code;
        f = macula_frame_hello(id, field_bytes(ref, "station_id"), realms, n_realms, field_uint(ref, "capabilities"),
                               accepted && !strcmp(accepted, "true"),
                               macula_frame_get_uint(ref, "refusal_code", &code) == 0 ? (int64_t)code : -1,
                               field_uint(ref, "negotiated_capabilities"), NULL);
    } else if (!strcmp(type, "goodbye")) {
        const char *reason = NULL;
        const uint8_t *detail = NULL;
        size_t detail_len = 0;
        macula_frame_get_text(ref, "reason", &reason, NULL);
        macula_frame_get_bytes(ref, "detail", &detail, &detail_len);
        f = macula_frame_goodbye(reason, detail, detail_len, NULL);
    } else if (!strcmp(type, "publish")) {
        const uint8_t *topic = NULL;
        size_t topic_len = 0;
        macula_frame_get_bytes(ref, "topic", &topic, &topic_len);
        uint64_t ttl;
        int64_t ttl_ms = macula_frame_get_uint(ref, "ttl_ms", &ttl) == 0 ? (int64_t)ttl : -1;
        int with_sig = macula_frame_get(ref, "publisher_sig") != NULL;
        uint64_t seq = field_uint(ref, "seq"), at = field_uint(ref, "published_at_ms");
        macula_value *payload = macula_value_clone(macula_frame_get(ref, "payload"));
        /* the default (Macula 10) adds publisher_sig; the flag leaves it out */
        f = with_sig ? macula_frame_publish(id, field_bytes(ref, "realm"), topic, topic_len, payload, seq, ttl_ms,
                                            at, NULL)
                     : macula_frame_publish_ex(id, field_bytes(ref, "realm"), topic, topic_len, payload, seq,
                                               ttl_ms, at, MACULA_PUBLISH_NO_PUBLISHER_SIG, NULL);
    } else {
        return;
    }
    CHECK(f != NULL);
    if (!f)
        return;
    constructed++;
    const uint8_t *fid = field_bytes(ref, "frame_id");
    CHECK(fid && macula_frame_put_bytes(f, "frame_id", fid, MACULA_FRAME_ID_LEN) == 0);
    CHECK_EQ_INT(macula_frame_put_uint(f, "sent_at_ms", field_uint(ref, "sent_at_ms")), 0);
    CHECK_EQ_INT(macula_frame_sign(f, id), 0);
    check_wire("constructed and signed wire", name, f, wire, wire_len);
    macula_frame_free(f);
}

static int with_publisher_sig; /* vectors that carry one */

/* §6.1 on a vector with publisher_signing_input_hex / publisher_sig_hex. */
static void check_publisher_sig(const json *v, macula_frame *dec, const macula_identity *id, const uint8_t *pk,
                                const uint8_t *wire, size_t wire_len)
{
    const char *name = json_str(v, "name");
    size_t pin_len, psig_len;
    uint8_t *pin = vectors_hex(v, "publisher_signing_input_hex", &pin_len);
    uint8_t *psig = vectors_hex(v, "publisher_sig_hex", &psig_len);
    REQUIRE(pin && psig && psig_len == MACULA_SIGNATURE_LEN);
    with_publisher_sig++;
    uint8_t *got = NULL;
    size_t got_len = 0;
    CHECK_EQ_INT(macula_frame_publisher_signing_input(dec, &got, &got_len), 0);
    check_bytes("publisher signing input", name, got, got_len, pin, pin_len);
    macula_free(got);
    const uint8_t *sig;
    size_t sig_len;
    CHECK(macula_frame_get_bytes(dec, "publisher_sig", &sig, &sig_len) == 0);
    check_bytes("publisher_sig field", name, sig, sig_len, psig, psig_len);
    CHECK_EQ_INT(macula_frame_verify_publisher(dec), 0);
    /* the publisher is the vector's signer here */
    CHECK_MEM(field_bytes(dec, "publisher"), pk, MACULA_PUBKEY_LEN);

    /* one payload byte changed: both signatures break (the frame signature
     * covers the payload too) */
    macula_frame *t = macula_frame_clone(dec, NULL);
    REQUIRE(t);
    const uint8_t *pl;
    size_t pl_len;
    REQUIRE(macula_frame_get_bytes(t, "payload", &pl, &pl_len) == 0 && pl_len > 0);
    uint8_t *flipped = malloc(pl_len);
    memcpy(flipped, pl, pl_len);
    flipped[0] ^= 0x01;
    CHECK_EQ_INT(macula_frame_put_bytes(t, "payload", flipped, pl_len), 0);
    free(flipped);
    CHECK_EQ_INT(macula_frame_verify_publisher(t), MACULA_ERR_SIGNATURE_INVALID);
    CHECK_EQ_INT(macula_frame_verify(t, pk), MACULA_ERR_SIGNATURE_INVALID);
    macula_frame_free(t);

    /* without publisher_sig: absent, and the frame signature still holds
     * (it never covered publisher_sig) */
    t = macula_frame_clone(dec, NULL);
    REQUIRE(t);
    CHECK_EQ_INT(macula_frame_remove(t, "publisher_sig"), 0);
    CHECK_EQ_INT(macula_frame_verify_publisher(t), MACULA_ERR_NO_PUBLISHER_SIG);
    CHECK_EQ_INT(macula_frame_verify(t, pk), 0);
    /* signing the publisher fields with the seed brings back the exact
     * signature and the exact wire */
    CHECK_EQ_INT(macula_frame_sign_publisher(t, id), 0);
    CHECK(macula_frame_get_bytes(t, "publisher_sig", &sig, &sig_len) == 0);
    check_bytes("re-made publisher_sig", name, sig, sig_len, psig, psig_len);
    CHECK_EQ_INT(macula_frame_verify_publisher(t), 0);
    check_wire("wire after re-making publisher_sig", name, t, wire, wire_len);
    /* from scratch: both signatures removed and made again */
    CHECK_EQ_INT(macula_frame_remove(t, "signature"), 0);
    CHECK_EQ_INT(macula_frame_remove(t, "publisher_sig"), 0);
    CHECK_EQ_INT(macula_frame_sign(t, id), 0);
    CHECK_EQ_INT(macula_frame_sign_publisher(t, id), 0);
    check_wire("wire signed from scratch", name, t, wire, wire_len);
    macula_frame_free(t);
    free(pin);
    free(psig);
}

static void run_vector(const json *v, const macula_identity *other)
{
    const char *name = json_str(v, "name");
    size_t seed_len, pk_len, input_len, sig_len, wire_len;
    uint8_t *seed = vectors_hex(v, "seed_hex", &seed_len);
    uint8_t *pk = vectors_hex(v, "pubkey_hex", &pk_len);
    uint8_t *input = vectors_hex(v, "signing_input_hex", &input_len);
    uint8_t *sig = vectors_hex(v, "signature_hex", &sig_len);
    uint8_t *wire = vectors_hex(v, "wire_hex", &wire_len);
    REQUIRE(seed && pk && input && sig && wire && seed_len == 32 && pk_len == 32 && sig_len == 64);
    CHECK_EQ_INT(wire_len, json_u64(v, "wire_len"));
    macula_identity *id = macula_identity_from_seed(seed, NULL);
    REQUIRE(id);
    CHECK_MEM(macula_identity_public_key(id), pk, 32);

    /* decode: one frame, all of it */
    macula_frame *dec = NULL;
    size_t consumed = 0;
    CHECK_EQ_INT(macula_frame_decode(wire, wire_len, &dec, &consumed, NULL), 0);
    REQUIRE(dec);
    CHECK_EQ_INT(consumed, wire_len);
    check_str("frame_type", name, macula_frame_type(dec), json_str(v, "frame_type"));

    /* diag of the frame without its signature, in wire order */
    macula_frame *unsigned_f = macula_frame_clone(dec, NULL);
    REQUIRE(unsigned_f);
    CHECK_EQ_INT(macula_frame_remove(unsigned_f, "signature"), 0);
    char *diag = macula_frame_diag(unsigned_f);
    check_str("diag", name, diag, json_str(v, "diag"));
    macula_free(diag);
    macula_frame_free(unsigned_f);

    /* re-encode: the exact wire */
    check_wire("re-encoded wire", name, dec, wire, wire_len);

    /* signing input, from the library and rebuilt independently */
    uint8_t *got = NULL;
    size_t got_len = 0;
    CHECK_EQ_INT(macula_frame_signing_input(dec, &got, &got_len), 0);
    check_bytes("signing input", name, got, got_len, input, input_len);
    macula_free(got);
    got = independent_signing_input(dec, &got_len);
    check_bytes("signing input (rebuilt)", name, got, got_len, input, input_len);
    free(got);

    /* the signature verifies with the vector's key and not with another */
    const uint8_t *fsig;
    size_t fsig_len;
    CHECK(macula_frame_get_bytes(dec, "signature", &fsig, &fsig_len) == 0);
    check_bytes("signature field", name, fsig, fsig_len, sig, sig_len);
    CHECK_EQ_INT(macula_frame_verify(dec, pk), 0);
    CHECK_EQ_INT(macula_frame_verify(dec, macula_identity_public_key(other)), MACULA_ERR_SIGNATURE_INVALID);

    /* re-sign with the seed: byte for byte (a publisher_sig stays) */
    macula_frame *re = macula_frame_clone(dec, NULL);
    REQUIRE(re);
    CHECK_EQ_INT(macula_frame_remove(re, "signature"), 0);
    CHECK_EQ_INT(macula_frame_sign(re, id), 0);
    check_wire("re-signed wire", name, re, wire, wire_len);
    /* and signing over an existing signature replaces it with the same */
    CHECK_EQ_INT(macula_frame_sign(re, id), 0);
    check_wire("wire signed twice", name, re, wire, wire_len);
    macula_frame_free(re);

    /* publisher signature */
    int has_pin = json_get(v, "publisher_signing_input_hex") != NULL;
    CHECK_EQ_INT(has_pin, json_get(v, "publisher_sig_hex") != NULL);
    CHECK_EQ_INT(has_pin, macula_frame_get(dec, "publisher_sig") != NULL);
    if (has_pin)
        check_publisher_sig(v, dec, id, pk, wire, wire_len);
    else if (is_pubsub(dec))
        CHECK_EQ_INT(macula_frame_verify_publisher(dec), MACULA_ERR_NO_PUBLISHER_SIG);
    else
        CHECK_EQ_INT(macula_frame_verify_publisher(dec), MACULA_ERR_BAD_FRAME);

    check_constructor(name, dec, id, wire, wire_len);

    macula_frame_free(dec);
    macula_identity_free(id);
    free(seed);
    free(pk);
    free(input);
    free(sig);
    free(wire);
}

static void test_all_vectors(void)
{
    const json *list = json_get(root, "vectors");
    REQUIRE(list);
    CHECK_EQ_INT(list->count, 53);
    uint8_t seed[32];
    memset(seed, 0x01, sizeof seed);
    macula_identity *other = macula_identity_from_seed(seed, NULL);
    REQUIRE(other);
    for (size_t i = 0; i < list->count; i++) {
        int before = tu_failures;
        run_vector(list->items[i], other);
        if (tu_failures != before)
            fprintf(stderr, "  vector %s FAILED\n", json_str(list->items[i], "name"));
    }
    macula_identity_free(other);
    /* guard against a branch silently skipped: publish_2 and event_2 carry
     * publisher_sig; connect, hello, goodbye and publish x3 are constructed */
    CHECK_EQ_INT(with_publisher_sig, 2);
    CHECK_EQ_INT(constructed, 6);
}

/* All vectors as one stream: every frame comes out, in order. */
static void test_stream(void)
{
    const json *list = json_get(root, "vectors");
    REQUIRE(list);
    macula_stream_parser *p = macula_stream_parser_new(NULL);
    REQUIRE(p);
    for (size_t i = 0; i < list->count; i++) {
        size_t len;
        uint8_t *wire = vectors_hex(list->items[i], "wire_hex", &len);
        CHECK(wire && macula_stream_parser_feed(p, wire, len) == 0);
        free(wire);
        macula_frame *f = NULL;
        size_t wl = 0;
        CHECK_EQ_INT(macula_stream_parser_next(p, &f, &wl), 0);
        CHECK(f && !strcmp(macula_frame_type(f), json_str(list->items[i], "frame_type")));
        CHECK_EQ_INT(wl, json_u64(list->items[i], "wire_len"));
        macula_frame_free(f);
    }
    CHECK_EQ_INT(macula_stream_parser_next(p, &(macula_frame *){NULL}, NULL), MACULA_ERR_NEED_MORE);
    macula_stream_parser_free(p);
}

/* The CBOR argument n of a negative integer spelled "-D" in decimal
 * (value -1 - n, so n = D - 1), computed from the text: the vectors' own
 * spelling, not the library's. 0 when it does not parse. */
static int nint_arg_of(const char *dec, uint64_t *n)
{
    if (dec[0] != '-' || !dec[1])
        return 0;
    char digits[32];
    size_t len = strlen(dec + 1);
    if (len >= sizeof digits)
        return 0;
    memcpy(digits, dec + 1, len + 1);
    /* decimal D - 1 (D >= 1), borrowing leftwards */
    for (size_t i = len; i-- > 0;) {
        if (digits[i] > '0') {
            digits[i]--;
            break;
        }
        digits[i] = '9';
    }
    char *end;
    *n = strtoull(digits, &end, 10);
    return *end == 0;
}

static void run_decode_case(const json *c)
{
    const char *name = json_str(c, "name");
    const json *want = json_get(c, "expected");
    size_t len;
    uint8_t *in = vectors_hex(c, "input_hex", &len);
    REQUIRE(in && want && !strcmp(json_str(c, "op"), "decode") && !strcmp(json_str(want, "result"), "ok"));
    macula_frame *f = NULL;
    size_t consumed = 0;
    CHECK_EQ_INT(macula_frame_decode(in, len, &f, &consumed, NULL), 0);
    REQUIRE(f);
    CHECK_EQ_INT(consumed, len);
    char *diag = macula_frame_diag(f);
    check_str("diag", name, diag, json_str(want, "diag"));
    macula_free(diag);
    check_wire("re-encoded", name, f, in, len);
    /* the one field "x" through the typed getters */
    const macula_value *x = macula_frame_get(f, "x");
    REQUIRE(x);
    const char *expected = strstr(json_str(want, "diag"), ": ");
    REQUIRE(expected);
    char spelled[32];
    snprintf(spelled, sizeof spelled, "%.*s", (int)strcspn(expected + 2, "}"), expected + 2);
    int64_t s;
    uint64_t n = 0, want_n = 0;
    if (spelled[0] == '-') {
        REQUIRE(nint_arg_of(spelled, &want_n));
        CHECK_EQ_INT(macula_value_kind(x), MACULA_KIND_NINT);
        CHECK(macula_value_get_nint_arg(x, &n) == 0 && n == want_n);
        /* int64 takes it only when the argument is at most INT64_MAX */
        if (want_n <= (uint64_t)INT64_MAX)
            CHECK(macula_value_get_int(x, &s) == 0 && s == -1 - (int64_t)want_n);
        else
            CHECK_EQ_INT(macula_value_get_int(x, &s), MACULA_ERR_CBOR_TYPE);
        /* the constructor spells the same bytes */
        macula_frame *g = macula_frame_new_empty(NULL);
        REQUIRE(g);
        CHECK_EQ_INT(macula_frame_put(g, "x", macula_value_nint_arg(want_n)), 0);
        check_wire("built from nint_arg", name, g, in, len);
        macula_frame_free(g);
    } else {
        CHECK(macula_value_get_uint(x, &n) == 0 && n == strtoull(spelled, NULL, 10));
    }
    macula_frame_free(f);
    free(in);
}

static void test_decode_cases(void)
{
    const json *list = json_get(root, "decode_cases");
    REQUIRE(list && list->count >= 4);
    for (size_t i = 0; i < list->count; i++) {
        int before = tu_failures;
        run_decode_case(list->items[i]);
        if (tu_failures != before)
            fprintf(stderr, "  decode case %s FAILED\n", json_str(list->items[i], "name"));
    }
}

int main(void)
{
    const char *path = getenv("MACULA_VECTORS_V10");
    if (!path || !*path) {
        fprintf(stderr, "MACULA_VECTORS_V10 is not set (path of frames-v10.json)\n");
        return 1;
    }
    root = json_load_file(path);
    if (!root) {
        fprintf(stderr, "cannot read vectors from %s\n", path);
        return 1;
    }
    size_t n;
    uint8_t *d = vectors_hex(root, "signature_domain_hex", &n);
    CHECK(d && n == MACULA_SIGNATURE_DOMAIN_LEN && !memcmp(d, MACULA_SIGNATURE_DOMAIN, n));
    free(d);
    d = vectors_hex(root, "publisher_sig_domain_hex", &n);
    CHECK(d && n == MACULA_PUBLISHER_SIG_DOMAIN_LEN && !memcmp(d, MACULA_PUBLISHER_SIG_DOMAIN, n));
    free(d);
    RUN(test_all_vectors);
    RUN(test_stream);
    RUN(test_decode_cases);
    json_free(root);
    return tu_summary();
}
