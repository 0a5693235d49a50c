/* SPDX-License-Identifier: Apache-2.0 */
/* Every vector and negative case of the shared frames.json, through the
 * library: constructors, canonical encoding, signing input, signature,
 * wire bytes, decode + re-encode, verify, diag, and the reference's exact
 * answers to the negative cases. */
#include <stdlib.h>
#include <string.h>

#include "macula/frame.h"
#include "support/vectors.h"
#include "testutil.h"

static json *root;

/* Encodes `f` without its signature (the unsigned CBOR of the vectors). */
static int unsigned_cbor(const macula_frame *f, uint8_t **out, size_t *len)
{
    int err;
    macula_frame *c = macula_frame_clone(f, &err);
    if (!c)
        return err;
    macula_frame_remove(c, "signature");
    int rc = macula_cbor_encode(macula_frame_map(c), out, len);
    macula_frame_free(c);
    return rc;
}

static void check_bytes(const char *what, const char *name, const uint8_t *got, size_t got_len, const uint8_t *want,
                        size_t want_len)
{
    tu_checks++;
    if (got_len != want_len || memcmp(got, want, want_len) != 0) {
        tu_failures++;
        fprintf(stderr, "%s: %s differs (%zu vs %zu bytes)\n", name, what, got_len, want_len);
    }
}

static const uint8_t *field_bytes(const macula_frame *f, const char *key)
{
    const uint8_t *p = NULL;
    size_t n;
    if (macula_frame_get_bytes(f, key, &p, &n) != 0)
        return NULL;
    return p;
}

static uint64_t field_uint(const macula_frame *f, const char *key)
{
    uint64_t v = 0;
    macula_frame_get_uint(f, key, &v);
    return v;
}

/* The realm ids of a reference frame as one flat buffer. */
static uint8_t *realms_of(const macula_frame *ref, size_t *n)
{
    const macula_value *a = macula_frame_get(ref, "realms");
    *n = macula_value_count(a);
    uint8_t *flat = malloc(*n * MACULA_REALM_LEN + 1);
    for (size_t i = 0; i < *n; i++) {
        const uint8_t *p;
        size_t len;
        if (macula_value_get_bytes(macula_value_array_at(a, i), &p, &len) == 0 && len == MACULA_REALM_LEN)
            memcpy(flat + i * MACULA_REALM_LEN, p, MACULA_REALM_LEN);
    }
    return flat;
}

static macula_value *clone_field(const macula_frame *ref, const char *key)
{
    return macula_value_clone(macula_frame_get(ref, key));
}

/*
 * Builds the vector's frame with our constructor, from the parameters the
 * reference frame carries, then sets the two fixed header fields as the
 * generator did. NULL for frame types without a constructor.
 */
static macula_frame *construct(const json *v, const macula_identity *id, const macula_frame *ref)
{
    const char *ctor = json_str(v, "constructor");
    size_t n_realms;
    uint8_t *realms = realms_of(ref, &n_realms);
    macula_frame *f = NULL;
    int err = 0;
    if (!strcmp(ctor, "macula_frame:connect/1")) {
        f = macula_frame_connect(id, field_bytes(ref, "station_id"), realms, n_realms,
                                 field_uint(ref, "capabilities"), &err);
        /* the constructor leaves addresses/site/endorsements at their
         * defaults; vectors that fill them get them put afterwards */
        if (f && macula_value_count(macula_frame_get(ref, "addresses")))
            macula_frame_put(f, "addresses", clone_field(ref, "addresses"));
        if (f && macula_value_kind(macula_frame_get(ref, "site")) != MACULA_KIND_NULL)
            macula_frame_put(f, "site", clone_field(ref, "site"));
        if (f && macula_value_count(macula_frame_get(ref, "endorsements")))
            macula_frame_put(f, "endorsements", clone_field(ref, "endorsements"));
    } else if (!strcmp(ctor, "macula_frame:hello/1")) {
        const char *accepted = NULL;
        macula_frame_get_text(ref, "accepted", &accepted, NULL);
        uint64_t refusal;
        int64_t code = macula_frame_get_uint(ref, "refusal_code", &refusal) == 0 ? (int64_t)refusal : -1;
        f = macula_frame_hello(id, field_bytes(ref, "station_id"), realms, n_realms, field_uint(ref, "capabilities"),
                               accepted && !strcmp(accepted, "true"), code,
                               field_uint(ref, "negotiated_capabilities"), &err);
    } else if (!strcmp(ctor, "macula_frame:goodbye/2")) {
        const char *reason = NULL;
        const uint8_t *detail = NULL;
        size_t detail_len = 0;
        macula_frame_get_text(ref, "reason", &reason, NULL);
        macula_frame_get_bytes(ref, "detail", &detail, &detail_len);
        f = macula_frame_goodbye(reason, detail, detail_len, &err);
    } else if (!strcmp(ctor, "macula_frame:publish/1")) {
        const uint8_t *topic = NULL;
        size_t topic_len = 0;
        macula_frame_get_bytes(ref, "topic", &topic, &topic_len);
        uint64_t ttl;
        int64_t ttl_ms = macula_frame_get_uint(ref, "ttl_ms", &ttl) == 0 ? (int64_t)ttl : -1;
        /* 4.3.0 had no publisher_sig (Macula 10 adds it, PROTOCOL.md §6.1) */
        f = macula_frame_publish_ex(id, field_bytes(ref, "realm"), topic, topic_len, clone_field(ref, "payload"),
                                    field_uint(ref, "seq"), ttl_ms, field_uint(ref, "published_at_ms"),
                                    MACULA_PUBLISH_NO_PUBLISHER_SIG, &err);
    } else {
        free(realms);
        return NULL;
    }
    free(realms);
    CHECK(f != NULL);
    if (!f)
        return NULL;
    size_t id_len;
    uint8_t *frame_id = vectors_hex(v, "frame_id_hex", &id_len);
    CHECK_EQ_INT(macula_frame_put_bytes(f, "frame_id", frame_id, id_len), 0);
    CHECK_EQ_INT(macula_frame_put_uint(f, "sent_at_ms", json_u64(v, "sent_at_ms")), 0);
    free(frame_id);
    return f;
}

static void run_vector(const json *v)
{
    const char *name = json_str(v, "name");
    size_t seed_len, pk_len, ucbor_len, input_len, sig_len, wire_len;
    uint8_t *seed = vectors_hex(v, "seed_hex", &seed_len);
    uint8_t *pk = vectors_hex(v, "pubkey_hex", &pk_len);
    uint8_t *ucbor = vectors_hex(v, "unsigned_cbor_hex", &ucbor_len);
    uint8_t *input = vectors_hex(v, "signing_input_hex", &input_len);
    uint8_t *sig = vectors_hex(v, "signature_hex", &sig_len);
    uint8_t *wire = vectors_hex(v, "wire_hex", &wire_len);
    REQUIRE(seed && pk && ucbor && input && sig && wire && seed_len == 32 && sig_len == 64);
    CHECK_EQ_INT(wire_len, json_u64(v, "wire_len"));

    macula_identity *id = macula_identity_from_seed(seed, NULL);
    REQUIRE(id);
    CHECK_MEM(macula_identity_public_key(id), pk, 32);

    /* the reference's unsigned frame: decode, re-encode, print */
    macula_frame *ref = NULL;
    CHECK_EQ_INT(macula_frame_decode_body(ucbor, ucbor_len, &ref), 0);
    REQUIRE(ref);
    CHECK(!strcmp(macula_frame_type(ref), json_str(v, "frame_type")));
    uint8_t *out;
    size_t out_len;
    CHECK_EQ_INT(macula_cbor_encode(macula_frame_map(ref), &out, &out_len), 0);
    check_bytes("re-encoded unsigned CBOR", name, out, out_len, ucbor, ucbor_len);
    macula_free(out);
    char *diag = macula_frame_diag(ref);
    CHECK(diag && !strcmp(diag, json_str(v, "diag")));
    if (diag && strcmp(diag, json_str(v, "diag")))
        fprintf(stderr, "%s: diag\n  got  %s\n  want %s\n", name, diag, json_str(v, "diag"));
    macula_free(diag);

    /* our constructor, where there is one, must give the same bytes */
    macula_frame *built = construct(v, id, ref);
    if (built) {
        CHECK_EQ_INT(macula_cbor_encode(macula_frame_map(built), &out, &out_len), 0);
        check_bytes("constructed unsigned CBOR", name, out, out_len, ucbor, ucbor_len);
        macula_free(out);
    }

    /* sign (the constructed frame, else the decoded one) */
    macula_frame *f = built ? built : ref;
    CHECK(!macula_frame_is_signed(f));
    CHECK_EQ_INT(macula_frame_sign(f, id), 0);
    CHECK(macula_frame_is_signed(f));
    const uint8_t *got_sig;
    size_t got_sig_len;
    CHECK_EQ_INT(macula_frame_get_bytes(f, "signature", &got_sig, &got_sig_len), 0);
    check_bytes("signature", name, got_sig, got_sig_len, sig, sig_len);
    CHECK_EQ_INT(unsigned_cbor(f, &out, &out_len), 0);
    uint8_t *msg = malloc(out_len + 16);
    memcpy(msg, MACULA_SIGNATURE_DOMAIN, 16);
    memcpy(msg + 16, out, out_len);
    check_bytes("signing input", name, msg, out_len + 16, input, input_len);
    free(msg);
    macula_free(out);
    CHECK_EQ_INT(macula_frame_encode(f, &out, &out_len), 0);
    check_bytes("wire", name, out, out_len, wire, wire_len);
    CHECK_EQ_INT(macula_frame_wire_size(f), wire_len);
    macula_free(out);
    CHECK_EQ_INT(macula_frame_verify(f, pk), 0);
    /* signing again replaces the signature with the same bytes */
    CHECK_EQ_INT(macula_frame_sign(f, id), 0);
    CHECK_EQ_INT(macula_frame_encode(f, &out, &out_len), 0);
    check_bytes("wire after re-signing", name, out, out_len, wire, wire_len);
    macula_free(out);

    /* decode the wire, check order, verify, re-encode */
    macula_frame *dec = NULL;
    size_t consumed = 0;
    CHECK_EQ_INT(macula_frame_decode(wire, wire_len, &dec, &consumed, NULL), 0);
    REQUIRE(dec);
    CHECK_EQ_INT(consumed, wire_len);
    const json *order = json_get(v, "wire_key_order");
    const macula_value *map = macula_frame_map(dec);
    CHECK_EQ_INT(macula_value_count(map), order->count);
    for (size_t i = 0; i < order->count && i < macula_value_count(map); i++) {
        const char *k;
        CHECK(macula_value_get_text(macula_value_map_key_at(map, i), &k, NULL) == 0 && !strcmp(k, order->items[i]->str));
    }
    CHECK_EQ_INT(macula_frame_verify(dec, pk), 0);
    CHECK_EQ_INT(macula_frame_encode(dec, &out, &out_len), 0);
    check_bytes("wire re-encoded", name, out, out_len, wire, wire_len);
    macula_free(out);
    /* the rest after the frame is reported through `consumed` */
    uint8_t *twice = malloc(2 * wire_len);
    memcpy(twice, wire, wire_len);
    memcpy(twice + wire_len, wire, wire_len);
    macula_frame *again = NULL;
    CHECK_EQ_INT(macula_frame_decode(twice, 2 * wire_len - 1, &again, &consumed, NULL), 0);
    CHECK_EQ_INT(consumed, wire_len);
    free(twice);

    macula_frame_free(again);
    macula_frame_free(dec);
    macula_frame_free(built);
    macula_frame_free(ref);
    macula_identity_free(id);
    free(seed);
    free(pk);
    free(ucbor);
    free(input);
    free(sig);
    free(wire);
}

static void test_all_vectors(void)
{
    const json *list = json_get(root, "vectors");
    REQUIRE(list && list->count >= 15);
    for (size_t i = 0; i < list->count; i++) {
        int before = tu_failures;
        run_vector(list->items[i]);
        if (tu_failures != before)
            fprintf(stderr, "  vector %s FAILED\n", json_str(list->items[i], "name"));
    }
}

static void test_every_constructor_vector_was_constructed(void)
{
    /* guard against construct() silently skipping a constructor */
    const json *list = json_get(root, "vectors");
    int n = 0;
    for (size_t i = 0; list && i < list->count; i++) {
        const char *c = json_str(list->items[i], "constructor");
        n += !strcmp(c, "macula_frame:connect/1") || !strcmp(c, "macula_frame:hello/1") ||
             !strcmp(c, "macula_frame:goodbye/2") || !strcmp(c, "macula_frame:publish/1");
    }
    CHECK_EQ_INT(n, 9);
}

static void run_negative(const json *c)
{
    const char *name = json_str(c, "name"), *op = json_str(c, "op");
    const json *want = json_get(c, "expected");
    size_t len;
    uint8_t *in = vectors_hex(c, "input_hex", &len);
    REQUIRE(in && op && want);
    const char *result = json_str(want, "result");
    if (!strcmp(op, "decode")) {
        macula_frame *f = NULL;
        size_t consumed = 0, need = 0;
        int rc = macula_frame_decode(in, len, &f, &consumed, &need);
        if (!strcmp(result, "more")) {
            CHECK_EQ_INT(rc, MACULA_ERR_NEED_MORE);
            CHECK_EQ_INT(need, json_u64(want, "more_bytes"));
        } else if (!strcmp(result, "error")) {
            const char *e = json_str(want, "error");
            CHECK_EQ_INT(rc, !strcmp(e, "frame_too_large") ? MACULA_ERR_FRAME_TOO_LARGE : MACULA_ERR_BAD_FRAME);
            CHECK(!strcmp(macula_err_name(rc), e));
        } else {
            CHECK_EQ_INT(rc, 0);
            size_t rest_len;
            uint8_t *rest = vectors_hex(want, "rest_hex", &rest_len);
            CHECK(rest && len - consumed == rest_len && !memcmp(in + consumed, rest, rest_len));
            free(rest);
        }
        CHECK(rc == 0 || f == NULL);
        macula_frame_free(f);
    } else if (!strcmp(op, "verify")) {
        size_t pk_len;
        uint8_t *pk = vectors_hex(c, "pubkey_hex", &pk_len);
        macula_frame *f = NULL;
        size_t consumed;
        CHECK_EQ_INT(macula_frame_decode(in, len, &f, &consumed, NULL), 0);
        CHECK_EQ_INT(consumed, len);
        if (f && pk) {
            int rc = macula_frame_verify(f, pk);
            if (!strcmp(result, "ok"))
                CHECK_EQ_INT(rc, 0);
            else
                CHECK(!strcmp(macula_err_name(rc), json_str(want, "error")));
        }
        macula_frame_free(f);
        free(pk);
    } else if (!strcmp(op, "parse_stream")) {
        macula_stream_parser *p = macula_stream_parser_new(NULL);
        REQUIRE(p);
        CHECK_EQ_INT(macula_stream_parser_feed(p, in, len), 0);
        const json *types = json_get(want, "frame_types");
        size_t n = 0;
        for (;;) {
            macula_frame *f = NULL;
            size_t wl = 0;
            int rc = macula_stream_parser_next(p, &f, &wl);
            if (rc != 0) {
                CHECK_EQ_INT(rc, MACULA_ERR_NEED_MORE);
                break;
            }
            const json *t = json_at(types, n);
            CHECK(t && !strcmp(macula_frame_type(f), t->str));
            n++;
            macula_frame_free(f);
        }
        CHECK_EQ_INT(n, json_u64(want, "frames"));
        size_t tail_len, want_tail_len;
        const uint8_t *tail = macula_stream_parser_tail(p, &tail_len);
        uint8_t *want_tail = vectors_hex(want, "tail_hex", &want_tail_len);
        CHECK_EQ_INT(tail_len, json_u64(want, "tail_len"));
        CHECK(want_tail && tail_len == want_tail_len && !memcmp(tail, want_tail, tail_len));
        free(want_tail);
        macula_stream_parser_free(p);
    } else {
        CHECK(!"unknown op");
        fprintf(stderr, "%s: unknown op %s\n", name, op);
    }
    free(in);
}

static void test_all_negative_cases(void)
{
    const json *list = json_get(root, "negative");
    REQUIRE(list && list->count >= 9);
    for (size_t i = 0; i < list->count; i++) {
        int before = tu_failures;
        run_negative(list->items[i]);
        if (tu_failures != before)
            fprintf(stderr, "  negative case %s FAILED\n", json_str(list->items[i], "name"));
    }
}

static void test_identities(void)
{
    const json *ids = json_get(root, "identities");
    REQUIRE(ids && ids->count >= 2);
    for (size_t i = 0; i < ids->count; i++) {
        size_t n, m, k;
        uint8_t *seed = vectors_hex(ids->items[i], "seed_hex", &n);
        uint8_t *ev = vectors_hex(ids->items[i], "puzzle_evidence_hex", &m);
        uint8_t *kf = vectors_hex(ids->items[i], "key_file_hex", &k);
        REQUIRE(seed && ev && kf && n == 32 && m == 32 && k == 78);
        macula_identity *id = macula_identity_from_seed(seed, NULL);
        REQUIRE(id);
        uint8_t got[32], file[78];
        macula_identity_puzzle_evidence(id, got);
        CHECK_MEM(got, ev, 32);
        macula_identity_to_keyfile_bytes(id, file);
        CHECK_MEM(file, kf, 78);
        macula_identity_free(id);
        free(seed);
        free(ev);
        free(kf);
    }
}

int main(void)
{
    root = vectors_load();
    if (!root)
        return 1;
    size_t dl;
    uint8_t *domain = vectors_hex(root, "signature_domain_hex", &dl);
    CHECK(domain && dl == MACULA_SIGNATURE_DOMAIN_LEN && !memcmp(domain, MACULA_SIGNATURE_DOMAIN, dl));
    free(domain);
    RUN(test_identities);
    RUN(test_all_vectors);
    RUN(test_every_constructor_vector_was_constructed);
    RUN(test_all_negative_cases);
    json_free(root);
    return tu_summary();
}
