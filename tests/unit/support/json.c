/* SPDX-License-Identifier: Apache-2.0 */
/* The test suite's JSON reader (see json.h). Recursive descent. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jp {
    const char *p, *end;
    int depth;
};

static void ws(struct jp *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static json *jnew(json_type t)
{
    json *j = calloc(1, sizeof *j);
    if (j)
        j->type = t;
    return j;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static char *parse_string(struct jp *s, size_t *len)
{
    if (s->p >= s->end || *s->p != '"')
        return NULL;
    s->p++;
    char *out = malloc((size_t)(s->end - s->p) + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    while (s->p < s->end && *s->p != '"') {
        char c = *s->p++;
        if (c != '\\') {
            out[n++] = c;
            continue;
        }
        if (s->p >= s->end)
            break;
        c = *s->p++;
        switch (c) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (s->end - s->p < 4 || hex4(s->p, &cp)) {
                free(out);
                return NULL;
            }
            s->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u' &&
                hex4(s->p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                s->p += 6;
            }
            n += put_utf8(out + n, cp);
            break;
        }
        default:
            free(out);
            return NULL;
        }
    }
    if (s->p >= s->end) {
        free(out);
        return NULL;
    }
    s->p++; /* closing quote */
    out[n] = 0;
    *len = n;
    return out;
}

static json *parse_value(struct jp *s);

static json *parse_container(struct jp *s, int object)
{
    json *j = jnew(object ? JSON_OBJECT : JSON_ARRAY);
    if (!j)
        return NULL;
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == (object ? '}' : ']')) {
        s->p++;
        return j;
    }
    size_t cap = 0;
    for (;;) {
        ws(s);
        char *key = NULL;
        if (object) {
            size_t kl;
            key = parse_string(s, &kl);
            ws(s);
            if (!key || s->p >= s->end || *s->p != ':') {
                free(key);
                json_free(j);
                return NULL;
            }
            s->p++;
        }
        json *v = parse_value(s);
        if (!v) {
            free(key);
            json_free(j);
            return NULL;
        }
        if (j->count == cap) {
            cap = cap ? 2 * cap : 8;
            json **ni = realloc(j->items, cap * sizeof *ni);
            char **nk = object ? realloc(j->keys, cap * sizeof *nk) : NULL;
            if (ni)
                j->items = ni;
            if (nk)
                j->keys = nk;
            if (!ni || (object && !nk)) {
                free(key);
                json_free(v);
                json_free(j);
                return NULL;
            }
        }
        if (object)
            j->keys[j->count] = key;
        j->items[j->count++] = v;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == (object ? '}' : ']')) {
            s->p++;
            return j;
        }
        json_free(j);
        return NULL;
    }
}

static json *parse_number(struct jp *s)
{
    json *j = jnew(JSON_NUMBER);
    if (!j)
        return NULL;
    const char *start = s->p;
    if (*s->p == '-') {
        j->negative = 1;
        s->p++;
    }
    j->is_integer = 1;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        j->magnitude = j->magnitude * 10 + (uint64_t)(*s->p - '0');
        s->p++;
    }
    while (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E' || *s->p == '+' || *s->p == '-' ||
                             (*s->p >= '0' && *s->p <= '9'))) {
        j->is_integer = 0;
        s->p++;
    }
    char tmp[64];
    size_t n = (size_t)(s->p - start);
    if (n == 0 || n >= sizeof tmp) {
        json_free(j);
        return NULL;
    }
    memcpy(tmp, start, n);
    tmp[n] = 0;
    j->number = strtod(tmp, NULL);
    return j;
}

static json *parse_value(struct jp *s)
{
    ws(s);
    if (s->p >= s->end || ++s->depth > 200)
        return NULL;
    json *j = NULL;
    char c = *s->p;
    if (c == '{' || c == '[') {
        j = parse_container(s, c == '{');
    } else if (c == '"') {
        j = jnew(JSON_STRING);
        if (j && !(j->str = parse_string(s, &j->len))) {
            free(j);
            j = NULL;
        }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        j = parse_number(s);
    } else if (s->end - s->p >= 4 && !memcmp(s->p, "true", 4)) {
        j = jnew(JSON_BOOL);
        if (j)
            j->boolean = 1;
        s->p += 4;
    } else if (s->end - s->p >= 5 && !memcmp(s->p, "false", 5)) {
        j = jnew(JSON_BOOL);
        s->p += 5;
    } else if (s->end - s->p >= 4 && !memcmp(s->p, "null", 4)) {
        j = jnew(JSON_NULL);
        s->p += 4;
    }
    s->depth--;
    return j;
}

json *json_parse(const char *text, size_t len)
{
    struct jp s = {text, text + len, 0};
    json *j = parse_value(&s);
    ws(&s);
    if (!j || s.p != s.end) {
        fprintf(stderr, "json: syntax error near offset %zu\n", (size_t)(s.p - text));
        json_free(j);
        return NULL;
    }
    return j;
}

json *json_load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "json: cannot open %s\n", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    json *j = json_parse(buf, n);
    free(buf);
    return j;
}

void json_free(json *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->count; i++) {
        json_free(j->items[i]);
        if (j->keys)
            free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->str);
    free(j);
}

const json *json_get(const json *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->count; i++)
        if (!strcmp(obj->keys[i], key))
            return obj->items[i];
    return NULL;
}

const json *json_at(const json *arr, size_t i)
{
    if (!arr || (arr->type != JSON_ARRAY && arr->type != JSON_OBJECT) || i >= arr->count)
        return NULL;
    return arr->items[i];
}

const char *json_str(const json *obj, const char *key)
{
    const json *v = json_get(obj, key);
    return v && v->type == JSON_STRING ? v->str : NULL;
}

uint64_t json_u64(const json *obj, const char *key)
{
    const json *v = json_get(obj, key);
    return v && v->type == JSON_NUMBER && v->is_integer && !v->negative ? v->magnitude : 0;
}
