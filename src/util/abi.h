/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the struct_size rules of common.h ("ABI rules") for the public
 * structs that callers allocate. Each such struct starts with
 * `size_t struct_size`; the library knows the sizes of its releases of
 * the layout (`ends`, ascending, the last being the full sizeof) and reads
 * or writes only the fields of the newest release the caller's size
 * covers.
 */
#ifndef MACULA_UTIL_ABI_H
#define MACULA_UTIL_ABI_H

#include <stddef.h>

/* Where `field` of `type` ends: a release ending with that field. */
#define MACULA__FIELD_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define MACULA__ROUND_UP(n, a) (((n) + (a) - 1) / (a) * (a))

/* The caller's struct_size if it lies within [ends[0], ends[n-1]],
 * otherwise 0. */
size_t macula__abi_size(const void *caller, const size_t *ends, size_t n);
/* Reads the caller's struct into `full` (the library's layout, already
 * holding the defaults): the fields of the newest release its struct_size
 * covers are copied, the others keep their defaults. full's struct_size
 * becomes the full size. 0, or MACULA_ERR_INVALID_ARG when struct_size is
 * outside the known range (nothing copied). */
int macula__abi_read(void *full, const void *caller, const size_t *ends, size_t n);
/* Writes `full` into the caller's output struct up to the newest release
 * its struct_size covers (struct_size itself is kept). 0 or
 * MACULA_ERR_INVALID_ARG (nothing written). */
int macula__abi_write(void *caller, const void *full, const size_t *ends, size_t n);
/* The body of every *_init_sized(): zeroes the caller's `size` bytes,
 * copies the defaults that fit and records `size` as struct_size. */
void macula__abi_init(void *caller, size_t size, const void *defaults, size_t full_size);

#endif
