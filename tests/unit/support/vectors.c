/* SPDX-License-Identifier: Apache-2.0 */
/* Loader and hex helpers for the shared frame vectors (see vectors.h). */
#include "vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json *vectors_load(void)
{
    const char *path = getenv("MACULA_VECTORS");
    if (!path || !*path) {
        fprintf(stderr, "MACULA_VECTORS is not set (path of frames.json)\n");
        return NULL;
    }
    json *root = json_load_file(path);
    if (!root)
        fprintf(stderr, "cannot read vectors from %s\n", path);
    return root;
}

const json *vectors_find(const json *root, const char *section, const char *name)
{
    const json *list = json_get(root, section);
    for (size_t i = 0; list && i < list->count; i++) {
        const char *n = json_str(list->items[i], "name");
        if (n && !strcmp(n, name))
            return list->items[i];
    }
    return NULL;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

uint8_t *vectors_unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2)
        return NULL;
    uint8_t *out = malloc(n / 2 + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}

uint8_t *vectors_hex(const json *obj, const char *key, size_t *len)
{
    const char *hex = json_str(obj, key);
    return hex ? vectors_unhex(hex, len) : NULL;
}
