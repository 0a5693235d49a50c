/* SPDX-License-Identifier: Apache-2.0 */
/* The one deallocator for memory the library hands out, so that callers
 * never depend on which allocator the library was built with. */
#include <stdlib.h>

#include "macula/common.h"

void macula_free(void *p) { free(p); }
