/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the strict CBOR decoder on arbitrary bytes.
 * Invariants: the validating pass alone (macula__cbor_validate) gives the
 * decoder's result, whatever decodes re-encodes canonically, the canonical bytes
 * decode to an equal value and encode to themselves (a fixed point), the
 * encoder's size prediction is exact, a clone is equal, and every negative
 * integer (the whole range down to -2^64) reads back through
 * macula_value_get_nint_arg, rebuilds equal from its argument, and goes
 * through the int64 getter exactly when it fits. */
#include <string.h>

#include "codec/cbor.h"
#include "fuzz_check.h"
#include "macula/value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The NINT invariants over a whole tree (keys included). */
static void check_nints(const macula_value *v)
{
    size_t n = macula_value_count(v);
    switch (macula_value_kind(v)) {
    case MACULA_KIND_NINT: {
        uint64_t arg;
        int64_t s;
        FUZZ_ASSERT(macula_value_get_nint_arg(v, &arg) == MACULA_OK);
        int rc = macula_value_get_int(v, &s);
        if (arg <= (uint64_t)INT64_MAX)
            FUZZ_ASSERT(rc == MACULA_OK && s == -1 - (int64_t)arg);
        else
            FUZZ_ASSERT(rc == MACULA_ERR_CBOR_TYPE);
        macula_value *w = macula_value_nint_arg(arg);
        FUZZ_ASSERT(w && macula_value_equal(v, w));
        macula_value_free(w);
        break;
    }
    case MACULA_KIND_ARRAY:
        for (size_t i = 0; i < n; i++)
            check_nints(macula_value_array_at(v, i));
        break;
    case MACULA_KIND_MAP:
        for (size_t i = 0; i < n; i++) {
            check_nints(macula_value_map_key_at(v, i));
            check_nints(macula_value_map_value_at(v, i));
        }
        break;
    default: {
        uint64_t arg;
        FUZZ_ASSERT(macula_value_get_nint_arg(v, &arg) == MACULA_ERR_CBOR_TYPE);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    macula_value *v = NULL;
    int rc = macula_cbor_decode(data, size, &v);
    FUZZ_ASSERT(macula__cbor_validate(data, size, false) == rc);
    if (rc != MACULA_OK) {
        FUZZ_ASSERT(v == NULL);
        FUZZ_ASSERT(rc == MACULA_ERR_BAD_FRAME || rc == MACULA_ERR_CBOR_TYPE || rc == MACULA_ERR_CBOR_DEPTH ||
                    rc == MACULA_ERR_CBOR_DUPLICATE_KEY);
        return 0;
    }
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    FUZZ_ASSERT(macula_cbor_encode(v, &enc, &enc_len) == MACULA_OK);
    FUZZ_ASSERT(enc_len == macula_cbor_encoded_size(v));
    FUZZ_ASSERT(enc_len <= size); /* canonical form is never longer */

    macula_value *w = NULL;
    FUZZ_ASSERT(macula_cbor_decode(enc, enc_len, &w) == MACULA_OK);
    FUZZ_ASSERT(macula_value_equal(v, w));
    uint8_t *enc2 = NULL;
    size_t enc2_len = 0;
    FUZZ_ASSERT(macula_cbor_encode(w, &enc2, &enc2_len) == MACULA_OK);
    FUZZ_ASSERT(enc2_len == enc_len && memcmp(enc, enc2, enc_len) == 0);

    check_nints(v);
    macula_value *c = macula_value_clone(v);
    FUZZ_ASSERT(c && macula_value_equal(c, v));
    char *diag = macula_value_diag(v);
    FUZZ_ASSERT(diag != NULL);

    macula_free(diag);
    macula_value_free(c);
    macula_free(enc2);
    macula_value_free(w);
    macula_free(enc);
    macula_value_free(v);
    return 0;
}
