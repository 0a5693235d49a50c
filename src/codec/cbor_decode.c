/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict CBOR decoder, in two passes over the input:
 *   1. validate: walks the whole item without building anything, checks
 *      every head, every declared length and count against the bytes that
 *      are actually left, the nesting depth, the allowed kinds, UTF-8 and
 *      duplicate map keys, and that nothing trails the item. A hostile
 *      length therefore fails here, before any allocation (9 bytes claiming
 *      4 GiB cost nothing). It also counts what pass 2 will need. On its
 *      own it is macula__cbor_validate (forwarding checks a frame without
 *      building it).
 *   2. build: the input is now known to be well formed, so the whole tree
 *      (nodes, item arrays, string bytes) is laid out in one block of
 *      exactly the counted size: one allocation per decoded item instead of
 *      one per value. value.c keeps such a tree mutable (see `storage`).
 * Recursion is bounded by MACULA_CBOR_MAX_DEPTH in both passes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/cbor.h"

/* The per-item steps are inlined into the container loops, so that only
 * containers cost a call (GCC does not inline into a recursion by itself). */
#define ITEM_STEP static inline __attribute__((always_inline))

/* Keys of the maps being validated whose heads are kept on the cursor
 * without allocating (frames have about 20). */
#define SMALL_KEYS 64

struct cursor {
    const uint8_t *p, *end;
    /* pass 1: what the block of pass 2 holds */
    size_t nodes, slots, bytes;
    /* the most pass 2's block may take (SIZE_MAX: no budget) */
    size_t budget;
    bool top_text_map; /* the item must be a map with text keys (a frame body) */
    int duplicate;     /* a repeated map key, reported once the rest is known well formed */
    /* pass 1: the keys (their heads) of the maps being walked, innermost last */
    const uint8_t **keys;
    size_t n_keys, cap_keys;
    const uint8_t *small_keys[SMALL_KEYS];
};

struct head {
    uint8_t initial; /* the initial byte */
    unsigned major, ai;
    uint64_t arg;
};

static size_t left(const struct cursor *c) { return (size_t)(c->end - c->p); }

/* Reads one head. Malformed (truncated, reserved additional info, a break
 * byte, indefinite int/tag) -> BAD_FRAME; indefinite strings/containers
 * -> CBOR_TYPE (a valid CBOR form this subset does not allow). */
static inline int read_head(const uint8_t **pp, const uint8_t *end, struct head *h)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return MACULA_ERR_BAD_FRAME;
    uint8_t ib = *p++;
    h->initial = ib;
    h->major = ib >> 5;
    h->ai = ib & 31;
    if (h->ai < 24) {
        h->arg = h->ai;
        *pp = p;
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
    if ((size_t)(end - p) < n)
        return MACULA_ERR_BAD_FRAME;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    *pp = p + n;
    h->arg = v;
    return MACULA_OK;
}

/* null is the one simple value allowed; it decodes to the shared node.
 * (Testing the initial byte rather than major and ai together also keeps
 * the compiler from reading both with one load right after read_head
 * stored them apart, which stalls.) */
static bool is_null(const struct head *h) { return h->initial == CBOR_NULL_BYTE; }

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* runs of ASCII: eight bytes at a time, then byte by byte */
        for (uint64_t w; n - i >= 8 && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080u));)
            i += 8;
        while (i < n && s[i] < 0x80)
            i++;
        if (i == n)
            break;
        uint8_t b = s[i];
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

/* A map key as pass 1 sees it: kind, argument (text: its length) and, for
 * text, where its bytes are. */
struct key {
    unsigned major;
    uint64_t arg;
    const uint8_t *text;
};

/* The key whose head starts at `p` (already validated). */
static struct key key_at(const struct cursor *c, const uint8_t *p)
{
    struct head h = {0};
    read_head(&p, c->end, &h);
    return (struct key){h.major, h.arg, p};
}

/* The order of the keys' canonical encodings, as macula__cbor_key_cmp
 * orders built keys: integers before text, then by argument (text:
 * shorter first), then text by its bytes. */
static int key_cmp(const struct key *a, const struct key *b)
{
    if (a->major != b->major)
        return a->major < b->major ? -1 : 1;
    if (a->arg != b->arg)
        return a->arg < b->arg ? -1 : 1;
    return a->major == CBOR_MAJOR_TEXT ? memcmp(a->text, b->text, (size_t)a->arg) : 0;
}

static int push_key(struct cursor *c, const uint8_t *head)
{
    if (c->n_keys == c->cap_keys) {
        size_t cap = 2 * c->cap_keys;
        const uint8_t **keys = c->keys == c->small_keys ? malloc(cap * sizeof *keys)
                                                        : realloc(c->keys, cap * sizeof *keys);
        if (!keys)
            return MACULA_ERR_NOMEM;
        if (c->keys == c->small_keys)
            memcpy(keys, c->small_keys, c->n_keys * sizeof *keys);
        c->keys = keys;
        c->cap_keys = cap;
    }
    c->keys[c->n_keys++] = head;
    return MACULA_OK;
}

static int key_cmp_at(const struct cursor *c, const uint8_t *a, const uint8_t *b)
{
    struct key x = key_at(c, a), y = key_at(c, b);
    return key_cmp(&x, &y);
}

static void sift_down(const struct cursor *c, const uint8_t **keys, size_t root, size_t n)
{
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && key_cmp_at(c, keys[child], keys[child + 1]) < 0)
            child++;
        if (key_cmp_at(c, keys[root], keys[child]) >= 0)
            return;
        const uint8_t *t = keys[root];
        keys[root] = keys[child];
        keys[child] = t;
    }
}

/* No two of the n keys encode alike (keys not in canonical order; heap
 * sort keeps the worst case at n log n on hostile input). Sorts `keys`. */
static int check_unique_keys(const struct cursor *c, const uint8_t **keys, size_t n)
{
    for (size_t root = n / 2; root-- > 0;)
        sift_down(c, keys, root, n);
    for (size_t end = n; end-- > 1;) {
        const uint8_t *t = keys[0];
        keys[0] = keys[end];
        keys[end] = t;
        sift_down(c, keys, 0, end);
    }
    for (size_t i = 1; i < n; i++)
        if (key_cmp_at(c, keys[i - 1], keys[i]) == 0)
            return MACULA_ERR_CBOR_DUPLICATE_KEY;
    return MACULA_OK;
}

ITEM_STEP int validate(struct cursor *c, unsigned depth);

/* The content of a byte or text string whose head was just read. */
static inline int take_string(struct cursor *c, const struct head *h)
{
    if (h->arg > left(c))
        return MACULA_ERR_BAD_FRAME;
    if (h->major == CBOR_MAJOR_TEXT && !utf8_valid(c->p, (size_t)h->arg))
        return MACULA_ERR_BAD_FRAME;
    c->p += h->arg;
    c->bytes += (size_t)h->arg + 1; /* with a NUL */
    return MACULA_OK;
}

/* Pass 1 for a map key: text or an integer (as the reference requires). */
static int validate_key(struct cursor *c, struct key *k)
{
    struct head h;
    int rc = read_head(&c->p, c->end, &h);
    if (rc)
        return rc;
    *k = (struct key){h.major, h.arg, c->p};
    c->nodes++;
    switch (h.major) {
    case CBOR_MAJOR_UINT:
    case CBOR_MAJOR_NINT: /* the whole range, down to -2^64 (PROTOCOL.md §6.3) */
        return MACULA_OK;
    case CBOR_MAJOR_TEXT:
        return take_string(c, &h);
    default:
        return MACULA_ERR_CBOR_TYPE;
    }
}

/* Pass 1 over a map's n entries, `depth` containers deep. Keys in strictly
 * increasing canonical order (canonical input) are unique; any other order
 * is sorted and checked. */
static int validate_map(struct cursor *c, size_t n, unsigned depth)
{
    size_t base = c->n_keys;
    bool ordered = true;
    struct key prev = {0, 0, NULL}, k;
    int rc = MACULA_OK;
    for (size_t i = 0; i < n && rc == MACULA_OK; i++) {
        const uint8_t *head = c->p;
        if ((rc = validate_key(c, &k)) != MACULA_OK || (rc = push_key(c, head)) != MACULA_OK)
            break;
        if (c->top_text_map && depth == 1 && k.major != CBOR_MAJOR_TEXT)
            rc = MACULA_ERR_CBOR_TYPE; /* a frame's keys are text */
        else
            rc = validate(c, depth);
        if (ordered && i > 0 && key_cmp(&prev, &k) >= 0)
            ordered = false;
        prev = k;
    }
    if (rc == MACULA_OK && !ordered && !c->duplicate)
        c->duplicate = check_unique_keys(c, c->keys + base, n);
    c->n_keys = base;
    return rc;
}

/* Pass 1 for an array or a map whose head `h` was just read, `depth`
 * containers deep (the only recursion: scalars are checked in line). */
static int validate_container(struct cursor *c, const struct head *h, unsigned depth)
{
    if (depth + 1 > MACULA_CBOR_MAX_DEPTH)
        return MACULA_ERR_CBOR_DEPTH;
    /* every item takes at least one byte: a count larger than what is
     * left is a lie, whatever follows */
    uint64_t per = h->major == CBOR_MAJOR_MAP ? 2 : 1;
    if (h->arg > left(c) / per)
        return MACULA_ERR_BAD_FRAME;
    c->slots += (size_t)(h->arg * per);
    /* a lower bound of the block already (each item has its slot), so a
     * container of millions of tiny items fails before they are walked */
    if (c->budget != SIZE_MAX &&
        c->nodes * sizeof(macula_value) + c->slots * sizeof(macula_value *) + c->bytes > c->budget)
        return MACULA_ERR_DECODE_BUDGET;
    if (h->major == CBOR_MAJOR_MAP)
        return validate_map(c, (size_t)h->arg, depth + 1);
    for (uint64_t i = 0; i < h->arg; i++) {
        int rc = validate(c, depth + 1);
        if (rc != MACULA_OK)
            return rc;
    }
    return MACULA_OK;
}

/* Pass 1. `depth` is the number of containers around this item. */
ITEM_STEP int validate(struct cursor *c, unsigned depth)
{
    struct head h;
    int rc = read_head(&c->p, c->end, &h);
    if (rc)
        return rc;
    c->nodes += !is_null(&h); /* null: the shared static node */
    switch (h.major) {
    case CBOR_MAJOR_UINT:
    case CBOR_MAJOR_NINT: /* the whole range, down to -2^64 (PROTOCOL.md §6.3) */
        return MACULA_OK;
    case CBOR_MAJOR_BYTES:
    case CBOR_MAJOR_TEXT:
        return take_string(c, &h);
    case CBOR_MAJOR_ARRAY:
    case CBOR_MAJOR_MAP:
        return validate_container(c, &h, depth);
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

/* Pass 1 over data[0..len): 0 when it is exactly one acceptable item (then
 * c holds the counts for pass 2), else the decoder's error. Structural
 * errors anywhere win over a duplicate key, as when pass 2 found those. */
static int check(struct cursor *c, const uint8_t *data, size_t len, bool top_text_map, size_t budget)
{
    c->p = data;
    c->end = data + len;
    c->nodes = c->slots = c->bytes = 0;
    c->budget = budget;
    c->top_text_map = top_text_map;
    c->duplicate = MACULA_OK;
    c->keys = c->small_keys;
    c->n_keys = 0;
    c->cap_keys = SMALL_KEYS;
    if (len == 0)
        return MACULA_ERR_BAD_FRAME;
    int rc = validate(c, 0);
    if (c->keys != c->small_keys)
        free(c->keys);
    if (rc == MACULA_OK && c->p != c->end)
        rc = MACULA_ERR_BAD_FRAME; /* bytes after the item */
    if (rc == MACULA_OK)
        rc = c->duplicate;
    if (rc == MACULA_OK && top_text_map && data[0] >> 5 != CBOR_MAJOR_MAP)
        rc = MACULA_ERR_CBOR_TYPE;
    return rc;
}

int macula__cbor_validate(const uint8_t *data, size_t len, bool top_text_map)
{
    if (!data && len)
        return MACULA_ERR_INVALID_ARG;
    struct cursor c;
    return check(&c, data, len, top_text_map, SIZE_MAX);
}

/* Pass 2's block: nodes, then item arrays, then string bytes, each handed
 * out in input order. */
struct block {
    macula_value *node, *node_end;
    macula_value **slot, **slot_end;
    uint8_t *byte, *byte_end;
};

static int build_container(struct cursor *c, struct block *b, const struct head *h, macula_value *v);

/* Pass 2 for the item whose head `h` was just read, over input that pass 1
 * accepted and counted: it cannot fail on such input (the checks only
 * guard against the bytes changing under us). Containers recurse. */
ITEM_STEP int build_item(struct cursor *c, struct block *b, const struct head *h, macula_value **out)
{
    if (is_null(h)) {
        *out = macula__cbor_null();
        return MACULA_OK;
    }
    if (b->node == b->node_end)
        return MACULA_ERR_INTERNAL;
    macula_value *v = b->node++;
    v->storage = MACULA__VALUE_IN_BLOCK;
    v->items_in_block = false;
    switch (h->major) {
    case CBOR_MAJOR_UINT:
    case CBOR_MAJOR_NINT: /* NINT keeps the argument n of -1 - n */
        v->kind = h->major == CBOR_MAJOR_UINT ? MACULA_KIND_UINT : MACULA_KIND_NINT;
        v->as.u = h->arg;
        break;
    case CBOR_MAJOR_BYTES:
    case CBOR_MAJOR_TEXT: {
        size_t n = (size_t)h->arg;
        if (n > left(c) || (size_t)(b->byte_end - b->byte) < n + 1)
            return MACULA_ERR_INTERNAL;
        v->kind = h->major == CBOR_MAJOR_TEXT ? MACULA_KIND_TEXT : MACULA_KIND_BYTES;
        v->as.str.len = n;
        v->as.str.data = b->byte;
        memcpy(b->byte, c->p, n);
        b->byte[n] = 0;
        b->byte += n + 1;
        c->p += n;
        break;
    }
    case CBOR_MAJOR_ARRAY:
    case CBOR_MAJOR_MAP: {
        int rc = build_container(c, b, h, v);
        if (rc != MACULA_OK)
            return rc;
        break;
    }
    default: /* pass 1 let only null and binary64 through */
        v->kind = MACULA_KIND_FLOAT;
        memcpy(&v->as.f, &h->arg, 8);
        break;
    }
    *out = v;
    return MACULA_OK;
}

/* Pass 2 for the items of array or map `v` (head `h`). */
static int build_container(struct cursor *c, struct block *b, const struct head *h, macula_value *v)
{
    bool is_map = h->major == CBOR_MAJOR_MAP;
    size_t n = (size_t)h->arg * (is_map ? 2 : 1);
    if ((size_t)(b->slot_end - b->slot) < n)
        return MACULA_ERR_INTERNAL;
    v->kind = is_map ? MACULA_KIND_MAP : MACULA_KIND_ARRAY;
    v->as.c.count = (size_t)h->arg;
    v->as.c.cap = n;
    v->as.c.items = n ? b->slot : NULL;
    v->items_in_block = n > 0;
    b->slot += n;
    for (size_t i = 0; i < n; i++) {
        struct head ih;
        int rc = read_head(&c->p, c->end, &ih);
        if (rc == MACULA_OK)
            rc = build_item(c, b, &ih, &v->as.c.items[i]);
        if (rc != MACULA_OK)
            return rc;
    }
    return MACULA_OK;
}

int macula_cbor_decode(const uint8_t *data, size_t len, macula_value **out)
{
    return macula__cbor_decode_budget(data, len, SIZE_MAX, out);
}

int macula__cbor_decode_budget(const uint8_t *data, size_t len, size_t budget, macula_value **out)
{
    if ((!data && len) || !out)
        return MACULA_ERR_INVALID_ARG;
    *out = NULL;
    struct cursor c;
    int rc = check(&c, data, len, false, budget);
    if (rc)
        return rc;
    /* Every item takes at least one input byte, so the counts are bounded
     * by `len` and the block by ~42 bytes per input byte. */
    if (c.nodes > SIZE_MAX / 64 || c.slots > SIZE_MAX / 64 || c.bytes > SIZE_MAX / 4)
        return MACULA_ERR_NOMEM;
    if (c.nodes == 0) { /* the item is null */
        *out = macula__cbor_null();
        return MACULA_OK;
    }
    size_t node_size = c.nodes * sizeof(macula_value), slot_size = c.slots * sizeof(macula_value *);
    if (node_size + slot_size + c.bytes > budget)
        return MACULA_ERR_DECODE_BUDGET;
    uint8_t *mem = malloc(node_size + slot_size + c.bytes);
    if (!mem)
        return MACULA_ERR_NOMEM;
    struct block b = {(macula_value *)mem, (macula_value *)(mem + node_size),
                      (macula_value **)(mem + node_size), (macula_value **)(mem + node_size + slot_size),
                      mem + node_size + slot_size, mem + node_size + slot_size + c.bytes};
    c.p = data;
    struct head h;
    rc = read_head(&c.p, c.end, &h);
    if (rc == MACULA_OK)
        rc = build_item(&c, &b, &h, out);
    if (rc == MACULA_OK && (b.node != b.node_end || b.slot != b.slot_end || b.byte != b.byte_end))
        rc = MACULA_ERR_INTERNAL;
    if (rc) {
        free(mem);
        *out = NULL;
        return rc;
    }
    (*out)->storage = MACULA__VALUE_BLOCK; /* the first node: it owns the block */
    return MACULA_OK;
}

/* Steps over one item without checking more than its framing (counts
 * against the bytes left, depth); nothing is allocated. */
static int skip_item(const uint8_t **p, const uint8_t *end, unsigned depth)
{
    struct head h;
    int rc = read_head(p, end, &h);
    if (rc)
        return rc;
    switch (h.major) {
    case CBOR_MAJOR_BYTES:
    case CBOR_MAJOR_TEXT:
        if (h.arg > (uint64_t)(end - *p))
            return MACULA_ERR_BAD_FRAME;
        *p += h.arg;
        return MACULA_OK;
    case CBOR_MAJOR_ARRAY:
    case CBOR_MAJOR_MAP: {
        if (depth + 1 > MACULA_CBOR_MAX_DEPTH)
            return MACULA_ERR_CBOR_DEPTH;
        uint64_t n = h.major == CBOR_MAJOR_MAP ? 2 : 1;
        if (h.arg > (uint64_t)(end - *p) / n)
            return MACULA_ERR_BAD_FRAME;
        n *= h.arg;
        for (uint64_t i = 0; i < n; i++)
            if ((rc = skip_item(p, end, depth + 1)) != MACULA_OK)
                return rc;
        return MACULA_OK;
    }
    default:
        return MACULA_OK;
    }
}

int macula__cbor_peek_text_field(const uint8_t *data, size_t len, const char *key, const uint8_t **val,
                                 size_t *val_len)
{
    if (!data || !key || !val || !val_len)
        return MACULA_ERR_INVALID_ARG;
    const uint8_t *p = data, *end = data + len;
    size_t klen = strlen(key);
    struct head h;
    int rc = read_head(&p, end, &h);
    if (rc)
        return rc;
    if (h.major != CBOR_MAJOR_MAP)
        return MACULA_ERR_BAD_FRAME;
    for (uint64_t i = 0; i < h.arg; i++) {
        struct head k;
        if ((rc = read_head(&p, end, &k)) != MACULA_OK)
            return rc;
        if (k.major != CBOR_MAJOR_TEXT || k.arg > (uint64_t)(end - p))
            return MACULA_ERR_BAD_FRAME;
        int match = k.arg == klen && memcmp(p, key, klen) == 0;
        p += k.arg;
        if (match) {
            struct head v;
            if ((rc = read_head(&p, end, &v)) != MACULA_OK)
                return rc;
            if (v.major != CBOR_MAJOR_TEXT || v.arg > (uint64_t)(end - p))
                return MACULA_ERR_BAD_FRAME;
            *val = p;
            *val_len = (size_t)v.arg;
            return MACULA_OK;
        }
        if ((rc = skip_item(&p, end, 1)) != MACULA_OK)
            return rc;
    }
    return MACULA_ERR_NOT_FOUND;
}
