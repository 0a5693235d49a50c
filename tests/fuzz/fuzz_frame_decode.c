/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the single-frame decoder (length prefix + body).
 * Invariants: the outcome agrees with the 4-byte header (need / too large
 * / consumed), the check without building (macula__frame_check_wire, what
 * macula_peer_send_wire uses) gives the same outcome and consumed, a
 * decoded frame re-encodes to a wire form that decodes to
 * the same canonical bytes, verification of arbitrary input never passes
 * with a key that signed nothing, and signing it with a fixed key then
 * verifying succeeds. Macula 10 (PROTOCOL.md §6.1): the frame signing
 * input is the canonical CBOR without `signature` and `publisher_sig`
 * (so removing publisher_sig keeps a signature valid), publisher_sig
 * checks answer one of the four documented results, and a PUBLISH/EVENT
 * whose publisher fields we sign verifies. */
#include <string.h>

#include "frame/wire_check.h"
#include "fuzz_check.h"
#include "macula/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static macula_identity *signer(void)
{
    static macula_identity *id;
    if (!id) {
        uint8_t seed[MACULA_SEED_LEN];
        memset(seed, 0x5a, sizeof seed);
        id = macula_identity_from_seed(seed, NULL);
        FUZZ_ASSERT(id);
    }
    return id;
}

/* `f` decoded from the input; `g` an equal copy, signed with signer(). */
static void check_publisher_sig(const macula_frame *f, macula_frame *g)
{
    const uint8_t *pk = macula_identity_public_key(signer());
    int pr = macula_frame_verify_publisher(f);
    FUZZ_ASSERT(pr == MACULA_OK || pr == MACULA_ERR_SIGNATURE_INVALID || pr == MACULA_ERR_NO_PUBLISHER_SIG ||
                pr == MACULA_ERR_BAD_FRAME);
    if (pr == MACULA_ERR_NO_PUBLISHER_SIG)
        FUZZ_ASSERT(macula_frame_get(f, "publisher_sig") == NULL);

    /* the signing input, rebuilt from a copy without the two keys */
    uint8_t *in = NULL, *cbor = NULL;
    size_t in_len = 0, cbor_len = 0;
    FUZZ_ASSERT(macula_frame_signing_input(g, &in, &in_len) == MACULA_OK);
    macula_frame *h = macula_frame_clone(g, NULL);
    FUZZ_ASSERT(h);
    macula_frame_remove(h, "signature");
    int had_pub_sig = macula_frame_remove(h, "publisher_sig") == MACULA_OK;
    FUZZ_ASSERT(macula_cbor_encode(macula_frame_map(h), &cbor, &cbor_len) == MACULA_OK);
    FUZZ_ASSERT(in_len == MACULA_SIGNATURE_DOMAIN_LEN + cbor_len &&
                memcmp(in, MACULA_SIGNATURE_DOMAIN, MACULA_SIGNATURE_DOMAIN_LEN) == 0 &&
                memcmp(in + MACULA_SIGNATURE_DOMAIN_LEN, cbor, cbor_len) == 0);
    /* g's signature holds without its publisher_sig too */
    if (had_pub_sig) {
        macula_frame *k = macula_frame_clone(g, NULL);
        FUZZ_ASSERT(k && macula_frame_remove(k, "publisher_sig") == MACULA_OK);
        FUZZ_ASSERT(macula_frame_verify(k, pk) == MACULA_OK);
        macula_frame_free(k);
    }
    macula_free(cbor);
    macula_free(in);

    /* a PUBLISH/EVENT with the five fields: made the signer's, its
     * publisher fields signed, both signatures verify */
    const char *type = macula_frame_type(h);
    if (type && (!strcmp(type, "publish") || !strcmp(type, "event")) && macula_frame_get(h, "seq") &&
        macula_frame_get(h, "realm") && macula_frame_get(h, "topic") && macula_frame_get(h, "payload")) {
        FUZZ_ASSERT(macula_frame_put_bytes(h, "publisher", pk, MACULA_PUBKEY_LEN) == MACULA_OK);
        FUZZ_ASSERT(macula_frame_verify_publisher(h) == MACULA_ERR_NO_PUBLISHER_SIG);
        FUZZ_ASSERT(macula_frame_sign_publisher(h, signer()) == MACULA_OK);
        FUZZ_ASSERT(macula_frame_sign(h, signer()) == MACULA_OK);
        FUZZ_ASSERT(macula_frame_verify_publisher(h) == MACULA_OK);
        FUZZ_ASSERT(macula_frame_verify(h, pk) == MACULA_OK);
    }
    macula_frame_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    macula_frame *f = NULL;
    size_t consumed = 0, need = 0;
    int rc = macula_frame_decode(data, size, &f, &consumed, &need);
    size_t checked = 0;
    int check_rc = macula__frame_check_wire(data, size, &checked);
    FUZZ_ASSERT(check_rc == rc);
    FUZZ_ASSERT(rc != MACULA_OK && rc != MACULA_ERR_BAD_FRAME ? 1 : checked == consumed);
    size_t body = size >= 4 ? ((size_t)data[0] << 24 | (size_t)data[1] << 16 | (size_t)data[2] << 8 | data[3]) : 0;
    switch (rc) {
    case MACULA_ERR_NEED_MORE:
        FUZZ_ASSERT(need > 0 && (size < 4 ? need == 4 - size : size + need == 4 + body));
        FUZZ_ASSERT(f == NULL);
        return 0;
    case MACULA_ERR_FRAME_TOO_LARGE:
        FUZZ_ASSERT(size >= 4 && body > MACULA_FRAME_MAX_BODY && f == NULL);
        return 0;
    case MACULA_ERR_BAD_FRAME:
        FUZZ_ASSERT(consumed == 4 + body && consumed <= size && f == NULL);
        return 0;
    case MACULA_OK:
        FUZZ_ASSERT(consumed == 4 + body && consumed <= size && f != NULL);
        break;
    default:
        FUZZ_ASSERT(!"unexpected decode result");
    }

    uint8_t *wire = NULL;
    size_t wire_len = 0;
    FUZZ_ASSERT(macula_frame_encode(f, &wire, &wire_len) == MACULA_OK);
    FUZZ_ASSERT(wire_len <= consumed && wire_len == macula_frame_wire_size(f));
    macula_frame *g = NULL;
    size_t consumed2 = 0;
    FUZZ_ASSERT(macula_frame_decode(wire, wire_len, &g, &consumed2, NULL) == MACULA_OK && consumed2 == wire_len);
    FUZZ_ASSERT(macula_value_equal(macula_frame_map(f), macula_frame_map(g)));

    /* nobody signed this input with the fixed key */
    const uint8_t *pk = macula_identity_public_key(signer());
    int vr = macula_frame_verify(f, pk);
    FUZZ_ASSERT(vr == MACULA_ERR_BAD_FRAME || vr == MACULA_ERR_SIGNATURE_INVALID);
    /* once signed with it, it verifies, in memory and after a round trip */
    FUZZ_ASSERT(macula_frame_sign(g, signer()) == MACULA_OK);
    FUZZ_ASSERT(macula_frame_verify(g, pk) == MACULA_OK);
    check_publisher_sig(f, g);
    char *diag = macula_frame_diag(f);
    FUZZ_ASSERT(diag != NULL);

    macula_free(diag);
    macula_frame_free(g);
    macula_free(wire);
    macula_frame_free(f);
    return 0;
}
