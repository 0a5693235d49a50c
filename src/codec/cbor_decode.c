/*
 * Strict CBOR decoder, in two passes over the input:
 *   1. validate: walks the whole item without allocating anything, checks
 *      every head, every declared length and count against the bytes that
 *      are actually left, the nesting depth, the allowed kinds and UTF-8,
 *      and that nothing trails the item. A hostile length therefore fails
 *      here, before any allocation (9 bytes claiming 4 GiB cost nothing).
 *   2. build: the input is now known to be well formed, so each container
 *      gets an item array of exactly its declared count; duplicate keys are
 *      detected per map as it is built.
 * Recursion is bounded by MACULA_CBOR_MAX_DEPTH in both passes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/cbor.h"

struct cursor {
    const uint8_t *p, *end;
    size_t nodes; /* items seen (pass 1) or built (pass 2) */
};

struct head {
    unsigned major, ai;
    uint64_t arg;
};

static size_t left(const struct cursor *c) { return (size_t)(c->end - c->p); }

/* Reads one head. Malformed (truncated, reserved additional info, a break
 * byte, indefinite int/tag) -> BAD_FRAME; indefinite strings/containers
 * -> CBOR_TYPE (a valid CBOR form this subset does not allow). */
static int read_head(struct cursor *c, struct head *h)
{
    if (c->p >= c->end)
        return MACULA_ERR_BAD_FRAME;
    uint8_t ib = *c->p++;
    h->major = ib >> 5;
    h->ai = ib & 31;
    if (h->ai < 24) {
        h->arg = h->ai;
        return MACULA_OK;
    }
    if (h->ai == 31) {
        if (h->major >= CBOR_MAJOR_BYTES && h->major <= CBOR_MAJOR_MAP)
            return MACULA_ERR_CBOR_TYPE;
        return MACULA_ERR_BAD_FRAME;
    }
    if (h->ai > 27)
        return MACULA_ERR_BAD_FRAME;
    size_t n = (size_t)1 << (h->ai - 24);
    if (left(c) < n)
        return MACULA_ERR_BAD_FRAME;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | c->p[i];
    c->p += n;
    h->arg = v;
    return MACULA_OK;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if (b >= 0xc2 && b <= 0xdf) {
            need = 1, cp = b & 0x1f, min = 0x80;
        } else if (b >= 0xe0 && b <= 0xef) {
            need = 2, cp = b & 0x0f, min = 0x800;
        } else if (b >= 0xf0 && b <= 0xf4) {
            need = 3, cp = b & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

/* Pass 1. `depth` is the number of containers around this item. */
static int validate(struct cursor *c, unsigned depth, bool is_key)
{
    struct head h;
    int rc = read_head(c, &h);
    if (rc)
        return rc;
    c->nodes++;
    if (is_key && h.major != CBOR_MAJOR_UINT && h.major != CBOR_MAJOR_NINT && h.major != CBOR_MAJOR_TEXT)
        return MACULA_ERR_CBOR_TYPE; /* keys are text or integers (as the reference requires) */
    switch (h.major) {
    case CBOR_MAJOR_UINT:
        return MACULA_OK;
    case CBOR_MAJOR_NINT:
        return h.arg > (uint64_t)INT64_MAX ? MACULA_ERR_CBOR_TYPE : MACULA_OK;
    case CBOR_MAJOR_BYTES:
    case CBOR_MAJOR_TEXT:
        if (h.arg > left(c))
            return MACULA_ERR_BAD_FRAME;
        if (h.major == CBOR_MAJOR_TEXT && !utf8_valid(c->p, (size_t)h.arg))
            return MACULA_ERR_BAD_FRAME;
        c->p += h.arg;
        return MACULA_OK;
    case CBOR_MAJOR_ARRAY:
    case CBOR_MAJOR_MAP: {
        if (depth + 1 > MACULA_CBOR_MAX_DEPTH)
            return MACULA_ERR_CBOR_DEPTH;
        /* every item takes at least one byte: a count larger than what is
         * left is a lie, whatever follows */
        uint64_t per = h.major == CBOR_MAJOR_MAP ? 2 : 1;
        if (h.arg > left(c) / per)
            return MACULA_ERR_BAD_FRAME;
        for (uint64_t i = 0; i < h.arg; i++) {
            if (h.major == CBOR_MAJOR_MAP && (rc = validate(c, depth + 1, true)) != MACULA_OK)
                return rc;
            if ((rc = validate(c, depth + 1, false)) != MACULA_OK)
                return rc;
        }
        return MACULA_OK;
    }
    case CBOR_MAJOR_TAG:
        return MACULA_ERR_CBOR_TYPE;
    default: /* major 7 */
        if (h.ai == 22)
            return MACULA_OK; /* null */
        if (h.ai == 27) {
            double d;
            memcpy(&d, &h.arg, 8);
            return isfinite(d) ? MACULA_OK : MACULA_ERR_CBOR_TYPE;
        }
        return MACULA_ERR_CBOR_TYPE; /* false/true/undefined/simple, half and single floats */
    }
}

static void sift_down(const macula_value **keys, size_t root, size_t n)
{
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && macula__cbor_key_cmp(keys[child], keys[child + 1]) < 0)
            child++;
        if (macula__cbor_key_cmp(keys[root], keys[child]) >= 0)
            return;
        const macula_value *t = keys[root];
        keys[root] = keys[child];
        keys[child] = t;
    }
}

/* No two keys of `map` encode alike. Canonical input is strictly
 * increasing, which one linear pass confirms; anything else is sorted. */
static int check_unique_keys(const macula_value *map)
{
    size_t n = map->as.c.count;
    macula_value *const *it = map->as.c.items;
    size_t i;
    for (i = 1; i < n; i++)
        if (macula__cbor_key_cmp(it[2 * (i - 1)], it[2 * i]) >= 0)
            break;
    if (i >= n)
        return MACULA_OK;

    const macula_value *small[64];
    const macula_value **keys = small;
    if (n > sizeof small / sizeof small[0]) {
        keys = malloc(n * sizeof *keys);
        if (!keys)
            return MACULA_ERR_NOMEM;
    }
    for (i = 0; i < n; i++)
        keys[i] = it[2 * i];
    /* heap sort keeps the worst case at n log n on hostile input */
    for (size_t root = n / 2; root-- > 0;)
        sift_down(keys, root, n);
    for (size_t end = n; end-- > 1;) {
        const macula_value *t = keys[0];
        keys[0] = keys[end];
        keys[end] = t;
        sift_down(keys, 0, end);
    }
    int rc = MACULA_OK;
    for (i = 1; i < n; i++)
        if (macula__cbor_key_cmp(keys[i - 1], keys[i]) == 0) {
            rc = MACULA_ERR_CBOR_DUPLICATE_KEY;
            break;
        }
    if (keys != small)
        free(keys);
    return rc;
}

/* Pass 2, over input that pass 1 accepted. */
static int build(struct cursor *c, macula_value **out)
{
    struct head h;
    int rc = read_head(c, &h);
    if (rc)
        return rc;
    macula_value *v = NULL;
    switch (h.major) {
    case CBOR_MAJOR_UINT:
        v = macula_value_uint(h.arg);
        break;
    case CBOR_MAJOR_NINT:
        v = macula_value_int(-1 - (int64_t)h.arg);
        break;
    case CBOR_MAJOR_BYTES:
    case CBOR_MAJOR_TEXT:
        v = h.major == CBOR_MAJOR_TEXT ? macula_value_text((const char *)c->p, (size_t)h.arg)
                                       : macula_value_bytes(c->p, (size_t)h.arg);
        c->p += h.arg;
        break;
    case CBOR_MAJOR_ARRAY:
    case CBOR_MAJOR_MAP: {
        bool is_map = h.major == CBOR_MAJOR_MAP;
        v = is_map ? macula_value_map() : macula_value_array();
        if (!v)
            return MACULA_ERR_NOMEM;
        size_t slots = (size_t)h.arg * (is_map ? 2 : 1);
        if (slots) {
            v->as.c.items = malloc(slots * sizeof *v->as.c.items);
            if (!v->as.c.items) {
                free(v);
                return MACULA_ERR_NOMEM;
            }
            v->as.c.cap = slots;
        }
        for (size_t i = 0; i < slots; i++) {
            rc = build(c, &v->as.c.items[i]);
            if (rc) {
                /* keep only whole entries, then free the partial node */
                if (is_map && i % 2)
                    macula_value_free(v->as.c.items[i - 1]);
                v->as.c.count = is_map ? i / 2 : i;
                macula_value_free(v);
                return rc;
            }
        }
        v->as.c.count = (size_t)h.arg;
        if (is_map && (rc = check_unique_keys(v)) != MACULA_OK) {
            macula_value_free(v);
            return rc;
        }
        break;
    }
    default:
        if (h.ai == 27) {
            double d;
            memcpy(&d, &h.arg, 8);
            v = macula_value_float(d);
        } else {
            v = macula__cbor_null();
        }
        break;
    }
    if (!v)
        return MACULA_ERR_NOMEM;
    c->nodes++;
    *out = v;
    return MACULA_OK;
}

int macula_cbor_decode(const uint8_t *data, size_t len, macula_value **out)
{
    if ((!data && len) || !out)
        return MACULA_ERR_INVALID_ARG;
    *out = NULL;
    struct cursor c = {data, data + len, 0};
    if (len == 0)
        return MACULA_ERR_BAD_FRAME;
    int rc = validate(&c, 0, false);
    if (rc)
        return rc;
    if (c.p != c.end)
        return MACULA_ERR_BAD_FRAME; /* bytes after the item */
    /* Every item takes at least one input byte, so pass 2 allocates at
     * most `len` nodes plus `len` bytes of string content. */
    size_t counted = c.nodes;
    c.p = data;
    c.nodes = 0;
    rc = build(&c, out);
    if (rc == MACULA_OK && c.nodes != counted) {
        macula_value_free(*out);
        *out = NULL;
        return MACULA_ERR_INTERNAL;
    }
    return rc;
}
