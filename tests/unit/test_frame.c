/* SPDX-License-Identifier: Apache-2.0 */
/* Frame API: header, UUIDv7, constructors' field sets, sign/verify error
 * answers, size cap, body decoding rules. */
#include <stdlib.h>
#include <string.h>

#include "macula/frame.h"
#include "testutil.h"

static macula_identity *ident(uint8_t fill)
{
    uint8_t seed[32];
    memset(seed, fill, sizeof seed);
    return macula_identity_from_seed(seed, NULL);
}

/* The frame's keys, comma-separated in stored order. */
static void keys_of(const macula_frame *f, char *out, size_t cap)
{
    const macula_value *m = macula_frame_map(f);
    out[0] = 0;
    for (size_t i = 0; i < macula_value_count(m); i++) {
        const char *k;
        macula_value_get_text(macula_value_map_key_at(m, i), &k, NULL);
        if (i)
            strncat(out, ",", cap - strlen(out) - 1);
        strncat(out, k, cap - strlen(out) - 1);
    }
}

static void test_uuidv7(void)
{
    uint8_t a[16], b[16];
    uint64_t ms = 0x019b76daa800u;
    macula_uuidv7(ms, a);
    macula_uuidv7(ms, b);
    CHECK(a[0] == 0x01 && a[1] == 0x9b && a[2] == 0x76 && a[3] == 0xda && a[4] == 0xa8 && a[5] == 0x00);
    CHECK((a[6] >> 4) == 7);
    CHECK((a[8] >> 6) == 2);
    CHECK(memcmp(a + 6, b + 6, 10) != 0); /* random part */
    uint64_t now = macula_unix_ms();
    CHECK(now > 1700000000000u && now < 4102444800000u);
}

static void test_header(void)
{
    macula_frame *f = macula_frame_new("ping", NULL);
    REQUIRE(f);
    char keys[512];
    keys_of(f, keys, sizeof keys);
    CHECK(!strcmp(keys, "realm,call_id,version,frame_id,frame_type,sent_at_ms,capabilities,source_route"));
    uint64_t v, sent;
    CHECK(macula_frame_get_uint(f, "version", &v) == 0 && v == 2);
    CHECK(macula_frame_get_uint(f, "capabilities", &v) == 0 && v == 0);
    CHECK(!strcmp(macula_frame_type(f), "ping"));
    const uint8_t *id;
    size_t n;
    CHECK(macula_frame_get_bytes(f, "frame_id", &id, &n) == 0 && n == 16);
    CHECK(macula_frame_get_uint(f, "sent_at_ms", &sent) == 0);
    uint64_t id_ms = 0;
    for (int i = 0; i < 6; i++)
        id_ms = id_ms << 8 | id[i];
    CHECK(id_ms == sent);
    CHECK(macula_frame_get_uint(f, "sent_at_ms", &v) == 0 && v + 60000 > macula_unix_ms());
    CHECK_EQ_INT(macula_value_kind(macula_frame_get(f, "realm")), MACULA_KIND_NULL);
    CHECK_EQ_INT(macula_frame_get_uint(f, "nope", &v), MACULA_ERR_NOT_FOUND);
    CHECK_EQ_INT(macula_frame_get_uint(f, "frame_type", &v), MACULA_ERR_CBOR_TYPE);
    CHECK_EQ_INT(macula_frame_get_bytes(f, "frame_type", &id, &n), MACULA_ERR_CBOR_TYPE);
    uint8_t old[16];
    memcpy(old, id, 16);
    CHECK_EQ_INT(macula_frame_stamp(f), 0);
    CHECK(macula_frame_get_bytes(f, "frame_id", &id, &n) == 0 && memcmp(old, id, 16) != 0);
    CHECK(!macula_frame_is_signed(f));
    macula_frame_free(f);
    f = macula_frame_new_empty(NULL);
    CHECK(f && macula_value_count(macula_frame_map(f)) == 0 && macula_frame_type(f) == NULL);
    macula_frame_free(f);
}

static void test_constructor_field_sets(void)
{
    macula_identity *alice = ident(1), *bob = ident(2);
    uint8_t realms[64];
    memset(realms, 0xaa, 32);
    memset(realms + 32, 0xbb, 32);
    char keys[1024];

    macula_frame *f = macula_frame_connect(alice, NULL, realms, 2, 5, NULL);
    REQUIRE(f);
    keys_of(f, keys, sizeof keys);
    CHECK(!strcmp(keys, "site,realm,realms,call_id,node_id,version,frame_id,addresses,frame_type,sent_at_ms,"
                        "station_id,capabilities,endorsements,source_route,puzzle_evidence"));
    const uint8_t *p;
    size_t n;
    CHECK(macula_frame_get_bytes(f, "station_id", &p, &n) == 0 && !memcmp(p, macula_identity_public_key(alice), 32));
    CHECK(macula_frame_get_bytes(f, "node_id", &p, &n) == 0 && !memcmp(p, macula_identity_public_key(alice), 32));
    uint8_t ev[32];
    macula_identity_puzzle_evidence(alice, ev);
    CHECK(macula_frame_get_bytes(f, "puzzle_evidence", &p, &n) == 0 && n == 32 && !memcmp(p, ev, 32));
    CHECK_EQ_INT(macula_value_count(macula_frame_get(f, "realms")), 2);
    uint64_t v;
    CHECK(macula_frame_get_uint(f, "capabilities", &v) == 0 && v == 5);
    macula_frame_free(f);

    f = macula_frame_connect(alice, macula_identity_public_key(bob), NULL, 0, 0, NULL);
    CHECK(f && macula_frame_get_bytes(f, "station_id", &p, &n) == 0 &&
          !memcmp(p, macula_identity_public_key(bob), 32));
    macula_frame_free(f);
    int err = 0;
    CHECK(macula_frame_connect(NULL, NULL, NULL, 0, 0, &err) == NULL && err == MACULA_ERR_INVALID_ARG);
    CHECK(macula_frame_connect(alice, NULL, NULL, 3, 0, &err) == NULL && err == MACULA_ERR_INVALID_ARG);

    f = macula_frame_hello(bob, NULL, realms, 1, 7, 0, 3, 0, NULL);
    REQUIRE(f);
    keys_of(f, keys, sizeof keys);
    CHECK(!strcmp(keys, "site,realm,realms,call_id,node_id,version,accepted,frame_id,addresses,frame_type,"
                        "sent_at_ms,station_id,capabilities,refusal_code,source_route,negotiated_capabilities"));
    const char *t;
    CHECK(macula_frame_get_text(f, "accepted", &t, NULL) == 0 && !strcmp(t, "false"));
    CHECK(macula_frame_get_uint(f, "refusal_code", &v) == 0 && v == 3);
    macula_frame_free(f);
    f = macula_frame_hello(bob, NULL, NULL, 0, 7, 1, -1, 5, NULL);
    CHECK(f && macula_frame_get_text(f, "accepted", &t, NULL) == 0 && !strcmp(t, "true"));
    CHECK(f && macula_value_kind(macula_frame_get(f, "refusal_code")) == MACULA_KIND_NULL);
    CHECK(f && macula_frame_get_uint(f, "negotiated_capabilities", &v) == 0 && v == 5);
    macula_frame_free(f);

    f = macula_frame_goodbye("normal", NULL, 0, NULL);
    REQUIRE(f);
    keys_of(f, keys, sizeof keys);
    CHECK(!strcmp(keys, "realm,detail,reason,call_id,version,frame_id,frame_type,sent_at_ms,capabilities,"
                        "source_route"));
    CHECK_EQ_INT(macula_value_kind(macula_frame_get(f, "detail")), MACULA_KIND_NULL);
    macula_frame_free(f);
    f = macula_frame_goodbye("shutdown", (const uint8_t *)"bye", 3, NULL);
    CHECK(f && macula_frame_get_bytes(f, "detail", &p, &n) == 0 && n == 3);
    macula_frame_free(f);
    CHECK(macula_frame_goodbye(NULL, NULL, 0, &err) == NULL && err == MACULA_ERR_INVALID_ARG);

    macula_value *payload = macula_value_map();
    macula_value_map_put_cstr(payload, "celsius", macula_value_uint(21));
    f = macula_frame_publish(alice, NULL, "t/1", 3, payload, 9, -1, 0, NULL);
    REQUIRE(f);
    keys_of(f, keys, sizeof keys);
    CHECK(!strcmp(keys, "seq,realm,topic,ttl_ms,call_id,payload,version,frame_id,publisher,frame_type,"
                        "sent_at_ms,capabilities,source_route,publisher_sig,published_at_ms"));
    CHECK_EQ_INT(macula_frame_verify_publisher(f), 0);
    macula_frame_free(f);
    /* without publisher_sig: the 4.3.0 field set */
    payload = macula_value_map();
    macula_value_map_put_cstr(payload, "celsius", macula_value_uint(21));
    f = macula_frame_publish_ex(alice, NULL, "t/1", 3, payload, 9, -1, 0, MACULA_PUBLISH_NO_PUBLISHER_SIG, NULL);
    REQUIRE(f);
    keys_of(f, keys, sizeof keys);
    CHECK(!strcmp(keys, "seq,realm,topic,ttl_ms,call_id,payload,version,frame_id,publisher,frame_type,"
                        "sent_at_ms,capabilities,source_route,published_at_ms"));
    CHECK_EQ_INT(macula_frame_verify_publisher(f), MACULA_ERR_NO_PUBLISHER_SIG);
    uint64_t sent, pub;
    CHECK(macula_frame_get_uint(f, "sent_at_ms", &sent) == 0 && macula_frame_get_uint(f, "published_at_ms", &pub) == 0 &&
          sent == pub);
    CHECK_EQ_INT(macula_value_kind(macula_frame_get(f, "ttl_ms")), MACULA_KIND_NULL);
    CHECK_EQ_INT(macula_value_kind(macula_frame_get(f, "realm")), MACULA_KIND_NULL);
    CHECK(macula_frame_get_bytes(f, "topic", &p, &n) == 0 && n == 3);
    CHECK(macula_frame_get_bytes(f, "publisher", &p, &n) == 0 && !memcmp(p, macula_identity_public_key(alice), 32));
    macula_frame_free(f);
    f = macula_frame_publish(alice, realms, "t", 1, NULL, 1, 60000, 1234, NULL);
    CHECK(f && macula_frame_get_uint(f, "ttl_ms", &v) == 0 && v == 60000);
    CHECK(f && macula_frame_get_uint(f, "published_at_ms", &v) == 0 && v == 1234);
    CHECK(f && macula_frame_get_bytes(f, "realm", &p, &n) == 0 && n == 32);
    CHECK(f && macula_value_kind(macula_frame_get(f, "payload")) == MACULA_KIND_NULL);
    macula_frame_free(f);
    /* the payload is taken also on failure (ASan would report a leak) */
    CHECK(macula_frame_publish(NULL, NULL, "t", 1, macula_value_uint(1), 0, -1, 0, &err) == NULL &&
          err == MACULA_ERR_INVALID_ARG);
    CHECK(macula_frame_publish_ex(alice, NULL, "t", 1, macula_value_uint(1), 0, -1, 0, 0x2, &err) == NULL &&
          err == MACULA_ERR_INVALID_ARG); /* unknown flag */

    macula_identity_free(alice);
    macula_identity_free(bob);
}

static void test_sign_verify_answers(void)
{
    macula_identity *alice = ident(1), *bob = ident(2);
    const uint8_t *apk = macula_identity_public_key(alice);
    macula_frame *f = macula_frame_goodbye("normal", NULL, 0, NULL);
    REQUIRE(f);
    CHECK_EQ_INT(macula_frame_verify(f, apk), MACULA_ERR_BAD_FRAME); /* unsigned */
    CHECK_EQ_INT(macula_frame_sign(f, alice), 0);
    CHECK_EQ_INT(macula_frame_verify(f, apk), 0);
    CHECK_EQ_INT(macula_frame_verify(f, macula_identity_public_key(bob)), MACULA_ERR_SIGNATURE_INVALID);
    CHECK_EQ_INT(macula_frame_verify(f, NULL), MACULA_ERR_BAD_FRAME);
    /* deterministic */
    const uint8_t *s1, *s2;
    size_t n;
    macula_frame_get_bytes(f, "signature", &s1, &n);
    uint8_t first[64];
    memcpy(first, s1, 64);
    CHECK_EQ_INT(macula_frame_sign(f, alice), 0);
    macula_frame_get_bytes(f, "signature", &s2, &n);
    CHECK_MEM(first, s2, 64);
    /* changing a field breaks it; putting it back restores it */
    macula_frame_put_text(f, "reason", "other");
    CHECK_EQ_INT(macula_frame_verify(f, apk), MACULA_ERR_SIGNATURE_INVALID);
    macula_frame_put_text(f, "reason", "normal");
    CHECK_EQ_INT(macula_frame_verify(f, apk), 0);
    /* a signature of the wrong length or kind is bad_frame */
    macula_frame_put_bytes(f, "signature", first, 63);
    CHECK_EQ_INT(macula_frame_verify(f, apk), MACULA_ERR_BAD_FRAME);
    macula_frame_put(f, "signature", macula_value_text("0123456789012345678901234567890123456789012345678901234567890123", 64));
    CHECK_EQ_INT(macula_frame_verify(f, apk), MACULA_ERR_BAD_FRAME);
    CHECK(macula_frame_is_signed(f));
    macula_frame_put_bytes(f, "signature", first, 64);
    CHECK_EQ_INT(macula_frame_verify(f, apk), 0);
    /* the signature covers the frame without itself, whatever order it was stored in */
    macula_frame *c = macula_frame_clone(f, NULL);
    CHECK_EQ_INT(macula_frame_remove(c, "reason"), 0);
    CHECK_EQ_INT(macula_frame_put_text(c, "reason", "normal"), 0);
    CHECK_EQ_INT(macula_frame_verify(c, apk), 0);
    macula_frame_free(c);
    macula_frame_free(f);
    macula_identity_free(alice);
    macula_identity_free(bob);
}

static void test_size_cap(void)
{
    /* {"x": bytes(L)}: 1 + 2 + 5 + L bytes of body */
    size_t l = MACULA_FRAME_MAX_BODY - 8;
    uint8_t *big = calloc(1, l + 1);
    REQUIRE(big);
    macula_frame *f = macula_frame_new_empty(NULL);
    CHECK_EQ_INT(macula_frame_put_bytes(f, "x", big, l), 0);
    uint8_t *wire;
    size_t wire_len;
    CHECK_EQ_INT(macula_frame_encode(f, &wire, &wire_len), 0);
    CHECK_EQ_INT(wire_len, 4 + MACULA_FRAME_MAX_BODY);
    CHECK(wire[0] == 0 && wire[1] == 0xff && wire[2] == 0xff && wire[3] == 0xff);
    macula_frame *d = NULL;
    size_t consumed;
    CHECK_EQ_INT(macula_frame_decode(wire, wire_len, &d, &consumed, NULL), 0);
    macula_frame_free(d);
    macula_free(wire);
    CHECK_EQ_INT(macula_frame_put_bytes(f, "x", big, l + 1), 0);
    CHECK_EQ_INT(macula_frame_encode(f, &wire, &wire_len), MACULA_ERR_FRAME_TOO_LARGE);
    CHECK_EQ_INT(macula_frame_wire_size(f), 4 + MACULA_FRAME_MAX_BODY + 1);
    macula_frame_free(f);
    free(big);
}

static int body_rc(const char *hex)
{
    size_t n;
    uint8_t *b = tu_unhex(hex, &n);
    macula_frame *f = NULL;
    int rc = macula_frame_decode_body(b, n, &f);
    macula_frame_free(f);
    free(b);
    return rc;
}

static void test_body_rules(void)
{
    CHECK_EQ_INT(body_rc("a0"), 0);
    CHECK_EQ_INT(body_rc("a1616101"), 0);
    CHECK_EQ_INT(body_rc("80"), MACULA_ERR_BAD_FRAME);        /* not a map */
    CHECK_EQ_INT(body_rc("f6"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(body_rc("a10102"), MACULA_ERR_BAD_FRAME);    /* frame keys are text */
    CHECK_EQ_INT(body_rc("a2616101616102"), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(body_rc("a161619f01ff"), MACULA_ERR_BAD_FRAME);
    /* a zero-length body is bad_frame, and 4 bytes are stepped over */
    uint8_t zero[6] = {0, 0, 0, 0, 0xa0, 0};
    macula_frame *f = NULL;
    size_t consumed = 0, need = 0;
    CHECK_EQ_INT(macula_frame_decode(zero, sizeof zero, &f, &consumed, &need), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(consumed, 4);
    /* the length is judged before the body is there */
    uint8_t big[4] = {0x01, 0x00, 0x00, 0x00};
    CHECK_EQ_INT(macula_frame_decode(big, 4, &f, &consumed, &need), MACULA_ERR_FRAME_TOO_LARGE);
    uint8_t max[5] = {0x00, 0xff, 0xff, 0xff, 0xa0};
    CHECK_EQ_INT(macula_frame_decode(max, 5, &f, &consumed, &need), MACULA_ERR_NEED_MORE);
    CHECK_EQ_INT(need, MACULA_FRAME_MAX_BODY - 1);
    CHECK(f == NULL);
    int err = 0;
    CHECK(macula_frame_from_map(macula_value_array(), &err) == NULL && err == MACULA_ERR_CBOR_TYPE);
}

/* domain ++ canonical CBOR of `map`, built here from the public API only
 * (the library's own signing inputs are checked against it). */
static uint8_t *domain_and_cbor(const char *domain, size_t domain_len, const macula_value *map, size_t *len)
{
    uint8_t *cbor;
    size_t n;
    if (macula_cbor_encode(map, &cbor, &n) != 0)
        return NULL;
    uint8_t *out = malloc(domain_len + n);
    memcpy(out, domain, domain_len);
    memcpy(out + domain_len, cbor, n);
    macula_free(cbor);
    *len = domain_len + n;
    return out;
}

static void check_signing_inputs(const macula_frame *f)
{
    /* frame signature: without signature and publisher_sig */
    macula_frame *c = macula_frame_clone(f, NULL);
    REQUIRE(c);
    macula_frame_remove(c, "signature");
    macula_frame_remove(c, "publisher_sig");
    size_t want_len, got_len;
    uint8_t *want = domain_and_cbor(MACULA_SIGNATURE_DOMAIN, 16, macula_frame_map(c), &want_len), *got = NULL;
    CHECK_EQ_INT(macula_frame_signing_input(f, &got, &got_len), 0);
    CHECK(want && got && got_len == want_len && !memcmp(got, want, want_len));
    free(want);
    macula_free(got);
    macula_frame_free(c);
    /* publisher signature: the five fields, in whatever order the map takes them */
    macula_value *m = macula_value_map();
    static const char *const five[] = {"publisher", "payload", "topic", "realm", "seq"};
    for (size_t i = 0; i < 5; i++)
        macula_value_map_put_cstr(m, five[i], macula_value_clone(macula_frame_get(f, five[i])));
    want = domain_and_cbor("macula-v2-event-pub", 20, m, &want_len);
    got = NULL;
    CHECK_EQ_INT(macula_frame_publisher_signing_input(f, &got, &got_len), 0);
    CHECK(want && got && got_len == want_len && !memcmp(got, want, want_len));
    CHECK(got && got_len > 21 && got[19] == 0 && got[20] == 0xa5); /* NUL ends the domain; a 5-entry map */
    free(want);
    macula_free(got);
    macula_value_free(m);
}

/* PROTOCOL.md §6.1: publisher_sig, and the frame signature leaving it out. */
static void test_publisher_sig(void)
{
    macula_identity *alice = ident(1), *bob = ident(2);
    const uint8_t *apk = macula_identity_public_key(alice), *bpk = macula_identity_public_key(bob);
    uint8_t realm[32] = {7};
    macula_frame *f = macula_frame_publish(alice, realm, "t/1", 3, macula_value_text_cstr("hi"), 3, -1, 0, NULL);
    REQUIRE(f);
    CHECK_EQ_INT(macula_frame_verify_publisher(f), 0);
    check_signing_inputs(f);
    const uint8_t *sig;
    size_t n;
    CHECK(macula_frame_get_bytes(f, "publisher_sig", &sig, &n) == 0 && n == 64);
    uint8_t first[64];
    memcpy(first, sig, 64);
    /* deterministic, and independent of the header (frame_id, sent_at_ms) */
    CHECK_EQ_INT(macula_frame_stamp(f), 0);
    CHECK_EQ_INT(macula_frame_sign_publisher(f, alice), 0);
    CHECK(macula_frame_get_bytes(f, "publisher_sig", &sig, &n) == 0 && n == 64 && !memcmp(sig, first, 64));
    /* only the publisher can sign: bob's signature could never verify */
    CHECK_EQ_INT(macula_frame_sign_publisher(f, bob), MACULA_ERR_INVALID_ARG);
    CHECK_EQ_INT(macula_frame_sign_publisher(NULL, alice), MACULA_ERR_INVALID_ARG);
    CHECK_EQ_INT(macula_frame_verify_publisher(NULL), MACULA_ERR_BAD_FRAME);

    /* a relay (bob) signs the frame; publisher_sig is not covered, so the
     * frame signature holds with or without it, and it stays alice's */
    CHECK_EQ_INT(macula_frame_sign(f, bob), 0);
    CHECK_EQ_INT(macula_frame_verify(f, bpk), 0);
    CHECK_EQ_INT(macula_frame_verify(f, apk), MACULA_ERR_SIGNATURE_INVALID);
    check_signing_inputs(f);
    macula_frame *g = macula_frame_clone(f, NULL);
    REQUIRE(g);
    CHECK_EQ_INT(macula_frame_put_bytes(g, "publisher_sig", "x", 1), 0);
    CHECK_EQ_INT(macula_frame_verify(g, bpk), 0);
    CHECK_EQ_INT(macula_frame_verify_publisher(g), MACULA_ERR_BAD_FRAME); /* not 64 bytes */
    CHECK_EQ_INT(macula_frame_put_text(g, "publisher_sig", "x"), 0);
    CHECK_EQ_INT(macula_frame_verify_publisher(g), MACULA_ERR_BAD_FRAME); /* not bytes */
    CHECK_EQ_INT(macula_frame_remove(g, "publisher_sig"), 0);
    CHECK_EQ_INT(macula_frame_verify(g, bpk), 0);
    CHECK_EQ_INT(macula_frame_verify_publisher(g), MACULA_ERR_NO_PUBLISHER_SIG);
    macula_frame_free(g);

    /* forwarding: decode + re-encode keeps every byte, both signatures hold */
    uint8_t *wire, *again;
    size_t wire_len, again_len;
    CHECK_EQ_INT(macula_frame_encode(f, &wire, &wire_len), 0);
    macula_frame *fwd = NULL;
    CHECK_EQ_INT(macula_frame_decode(wire, wire_len, &fwd, NULL, NULL), 0);
    REQUIRE(fwd);
    CHECK_EQ_INT(macula_frame_verify(fwd, bpk), 0);
    CHECK_EQ_INT(macula_frame_verify_publisher(fwd), 0);
    CHECK_EQ_INT(macula_frame_encode(fwd, &again, &again_len), 0);
    CHECK(again_len == wire_len && !memcmp(again, wire, wire_len));
    macula_free(again);
    /* a PUBLISH relayed as EVENT (the type is not covered) keeps it valid */
    CHECK_EQ_INT(macula_frame_put_text(fwd, "frame_type", "event"), 0);
    CHECK_EQ_INT(macula_frame_put_text(fwd, "delivered_via", "plumtree"), 0);
    CHECK_EQ_INT(macula_frame_sign(fwd, bob), 0);
    CHECK_EQ_INT(macula_frame_verify_publisher(fwd), 0);
    CHECK(macula_frame_get_bytes(fwd, "publisher_sig", &sig, &n) == 0 && n == 64 && !memcmp(sig, first, 64));
    /* fields outside the five do not matter; each of the five does */
    CHECK_EQ_INT(macula_frame_put_uint(fwd, "ttl_ms", 5), 0);
    CHECK_EQ_INT(macula_frame_verify_publisher(fwd), 0);
    static const char *const five[] = {"seq", "realm", "topic", "payload", "publisher"};
    for (size_t i = 0; i < 5; i++) {
        macula_frame *t = macula_frame_clone(fwd, NULL);
        REQUIRE(t);
        CHECK_EQ_INT(macula_frame_put_uint(t, five[i], 99), 0);
        /* publisher: no longer 32 bytes, so there is no key to check with */
        CHECK_EQ_INT(macula_frame_verify_publisher(t),
                     i == 4 ? MACULA_ERR_BAD_FRAME : MACULA_ERR_SIGNATURE_INVALID);
        CHECK_EQ_INT(macula_frame_remove(t, five[i]), 0);
        CHECK_EQ_INT(macula_frame_verify_publisher(t), MACULA_ERR_BAD_FRAME); /* missing field */
        macula_frame_free(t);
    }
    /* another publisher key: invalid */
    CHECK_EQ_INT(macula_frame_put_bytes(fwd, "publisher", bpk, 32), 0);
    CHECK_EQ_INT(macula_frame_verify_publisher(fwd), MACULA_ERR_SIGNATURE_INVALID);
    /* bob may now sign it as the publisher */
    CHECK_EQ_INT(macula_frame_sign_publisher(fwd, bob), 0);
    CHECK_EQ_INT(macula_frame_verify_publisher(fwd), 0);
    /* only PUBLISH and EVENT carry it */
    CHECK_EQ_INT(macula_frame_put_text(fwd, "frame_type", "call"), 0);
    CHECK_EQ_INT(macula_frame_verify_publisher(fwd), MACULA_ERR_BAD_FRAME);
    CHECK_EQ_INT(macula_frame_sign_publisher(fwd, bob), MACULA_ERR_BAD_FRAME);
    CHECK(!strcmp(macula_err_name(MACULA_ERR_NO_PUBLISHER_SIG), "no_publisher_sig"));
    macula_frame_free(fwd);
    macula_free(wire);
    macula_frame_free(f);
    macula_identity_free(alice);
    macula_identity_free(bob);
}

int main(void)
{
    RUN(test_uuidv7);
    RUN(test_header);
    RUN(test_constructor_field_sets);
    RUN(test_sign_verify_answers);
    RUN(test_size_cap);
    RUN(test_body_rules);
    RUN(test_publisher_sig);
    return tu_summary();
}
