/* SPDX-License-Identifier: Apache-2.0 */
/* struct_size handling of the caller-allocated public structs (abi.h). */
#include <string.h>

#include "macula/common.h"
#include "util/abi.h"

size_t macula__abi_size(const void *caller, const size_t *ends, size_t n)
{
    size_t size;
    memcpy(&size, caller, sizeof size);
    return size >= ends[0] && size <= ends[n - 1] ? size : 0;
}

/* The newest release `size` covers. */
static size_t covered(size_t size, const size_t *ends, size_t n)
{
    size_t k = ends[0];
    for (size_t i = 0; i < n && ends[i] <= size; i++)
        k = ends[i];
    return k;
}

int macula__abi_read(void *full, const void *caller, const size_t *ends, size_t n)
{
    size_t size = macula__abi_size(caller, ends, n);
    if (!size)
        return MACULA_ERR_INVALID_ARG;
    size_t k = covered(size, ends, n);
    memcpy((char *)full + sizeof(size_t), (const char *)caller + sizeof(size_t), k - sizeof(size_t));
    size_t full_size = ends[n - 1];
    memcpy(full, &full_size, sizeof full_size);
    return 0;
}

int macula__abi_write(void *caller, const void *full, const size_t *ends, size_t n)
{
    size_t size = macula__abi_size(caller, ends, n);
    if (!size)
        return MACULA_ERR_INVALID_ARG;
    size_t k = covered(size, ends, n);
    memcpy((char *)caller + sizeof(size_t), (const char *)full + sizeof(size_t), k - sizeof(size_t));
    return 0;
}

void macula__abi_init(void *caller, size_t size, const void *defaults, size_t full_size)
{
    memset(caller, 0, size);
    if (size > sizeof(size_t))
        memcpy((char *)caller + sizeof(size_t), (const char *)defaults + sizeof(size_t),
               (size < full_size ? size : full_size) - sizeof(size_t));
    if (size >= sizeof(size_t))
        memcpy(caller, &size, sizeof size);
}
