/* SPDX-License-Identifier: Apache-2.0 */
/* Access to the shared frame vectors (frames.json, path in env
 * MACULA_VECTORS) for the unit tests. */
#ifndef MACULA_TEST_VECTORS_H
#define MACULA_TEST_VECTORS_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* The parsed file, or NULL (with a message) when MACULA_VECTORS is unset
 * or unreadable. Free with json_free. */
json *vectors_load(void);
/* The vector / negative case named `name`, or NULL. */
const json *vectors_find(const json *root, const char *section, const char *name);
/* Hex member `key` of `obj` decoded into a malloc'd buffer (never NULL on
 * success; *len may be 0); NULL when absent or not hex. */
uint8_t *vectors_hex(const json *obj, const char *key, size_t *len);
/* Hex text to bytes; NULL when not hex. */
uint8_t *vectors_unhex(const char *hex, size_t *len);

#endif
