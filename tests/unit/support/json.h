/* SPDX-License-Identifier: Apache-2.0 */
/* A small JSON reader for the test suite (enough for frames.json):
 * objects, arrays, strings (with \uXXXX escapes, surrogate pairs), numbers
 * (integers kept exactly as uint64/int64), true/false/null. */
#ifndef MACULA_TEST_JSON_H
#define MACULA_TEST_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json json;
struct json {
    json_type type;
    int boolean;
    int is_integer, negative;
    uint64_t magnitude; /* integers: absolute value */
    double number;
    char *str;          /* strings: NUL-terminated, `len` bytes */
    size_t len;
    json **items;       /* arrays and objects (values) */
    char **keys;        /* objects */
    size_t count;
};

/* Parses `text`; NULL on a syntax error (reported on stderr). */
json *json_parse(const char *text, size_t len);
/* Reads and parses a file; NULL on error. */
json *json_load_file(const char *path);
void json_free(json *j);

/* Object member or NULL; array item or NULL. */
const json *json_get(const json *obj, const char *key);
const json *json_at(const json *arr, size_t i);
/* Typed shortcuts: NULL / 0 when absent or of another type. */
const char *json_str(const json *obj, const char *key);
uint64_t json_u64(const json *obj, const char *key);

#endif
