/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CBOR diagnostic notation (RFC 8949 §8) in the style of the vectors'
 * `diag` fields: {k: v, k: v}, [a, b], h'lowercase hex', null, decimal
 * integers, "text" with UTF-8 kept and JSON-style escapes (\" \\ \n \r \t,
 * \u00xx for other control characters and DEL).
 * Floats: the fewest significant digits (1 to 17) that read back to the
 * same binary64, in plain notation when the decimal exponent is in
 * [-4, 16) and in exponent notation otherwise, always with a '.' so that
 * they cannot be taken for integers: 1.5, 100.0, 0.001, -0.0, 1.0e+300,
 * 5.0e-324; Infinity, -Infinity and NaN for values no finite spelling has.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/cbor.h"

struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
};

static void sb_reserve(struct sbuf *b, size_t n)
{
    if (b->failed || b->cap - b->len > n)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= n) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(struct sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static const char hexd[] = "0123456789abcdef";

static void put_float(struct sbuf *b, double d)
{
    if (isnan(d)) {
        sb_str(b, "NaN");
        return;
    }
    if (isinf(d)) {
        sb_str(b, d < 0 ? "-Infinity" : "Infinity");
        return;
    }
    /* shortest number of significant digits that reads back exactly */
    char sci[40];
    int prec;
    for (prec = 1; prec < 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    snprintf(sci, sizeof sci, "%.*e", prec - 1, d);
    int exp10 = atoi(strchr(sci, 'e') + 1);
    char out[400];
    if (exp10 >= -4 && exp10 < 16) {
        /* plain notation with the same significant digits: 100.0, 0.001 */
        int decimals = prec - 1 - exp10;
        snprintf(out, sizeof out, "%.*f", decimals > 0 ? decimals : 0, d);
        if (!strchr(out, '.'))
            strcat(out, ".0");
    } else if (!strchr(sci, '.')) {
        char *e = strchr(sci, 'e'); /* 1e+300 -> 1.0e+300 */
        snprintf(out, sizeof out, "%.*s.0%s", (int)(e - sci), sci, e);
    } else {
        snprintf(out, sizeof out, "%s", sci);
    }
    sb_str(b, out);
}

static void put_text(struct sbuf *b, const uint8_t *s, size_t n)
{
    sb_reserve(b, n + 2);
    sb_put(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed in one go */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hexd[c >> 4], u[5] = hexd[c & 15], u[6] = 0;
                esc = u;
            }
        }
        if (!esc) {
            run++;
            continue;
        }
        sb_put(b, (const char *)s + i - run, run);
        run = 0;
        sb_str(b, esc);
    }
    sb_put(b, (const char *)s + n - run, run);
    sb_put(b, "\"", 1);
}

static void put_bytes(struct sbuf *b, const uint8_t *s, size_t n)
{
    sb_put(b, "h'", 2);
    sb_reserve(b, 2 * n + 1);
    if (b->failed)
        return;
    for (size_t i = 0; i < n; i++) {
        b->p[b->len++] = hexd[s[i] >> 4];
        b->p[b->len++] = hexd[s[i] & 15];
    }
    b->p[b->len] = 0;
    sb_put(b, "'", 1);
}

static void put_value(struct sbuf *b, const macula_value *v, unsigned depth)
{
    if (b->failed)
        return;
    switch (v->kind) {
    case MACULA_KIND_UINT:
        sb_fmt(b, "%llu", (unsigned long long)v->as.u);
        break;
    case MACULA_KIND_NINT:
        /* -1 - n = -(n + 1); n + 1 overflows uint64 only at n = 2^64 - 1 */
        if (v->as.u == UINT64_MAX)
            sb_str(b, "-18446744073709551616");
        else
            sb_fmt(b, "-%llu", (unsigned long long)v->as.u + 1);
        break;
    case MACULA_KIND_FLOAT:
        put_float(b, v->as.f);
        break;
    case MACULA_KIND_NULL:
        sb_str(b, "null");
        break;
    case MACULA_KIND_BYTES:
        put_bytes(b, v->as.str.data, v->as.str.len);
        break;
    case MACULA_KIND_TEXT:
        put_text(b, v->as.str.data, v->as.str.len);
        break;
    case MACULA_KIND_ARRAY:
    case MACULA_KIND_MAP: {
        if (depth >= MACULA_CBOR_MAX_DEPTH) {
            b->failed = 1; /* such a tree could not be encoded either */
            return;
        }
        int is_map = v->kind == MACULA_KIND_MAP;
        sb_put(b, is_map ? "{" : "[", 1);
        for (size_t i = 0; i < v->as.c.count; i++) {
            if (i)
                sb_put(b, ", ", 2);
            if (is_map) {
                put_value(b, v->as.c.items[2 * i], depth + 1);
                sb_put(b, ": ", 2);
                put_value(b, v->as.c.items[2 * i + 1], depth + 1);
            } else {
                put_value(b, v->as.c.items[i], depth + 1);
            }
        }
        sb_put(b, is_map ? "}" : "]", 1);
        break;
    }
    }
}

char *macula_value_diag(const macula_value *v)
{
    if (!v)
        return NULL;
    struct sbuf b = {0};
    put_value(&b, v, 0);
    if (b.failed || !b.p) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
