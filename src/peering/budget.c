/* SPDX-License-Identifier: Apache-2.0 */
/* Byte budgets (budget.h). */
#include "peering/budget.h"

#include "macula/common.h"

int macula__budget_take(macula__budget *b, size_t n)
{
    if (b->limit && (n > b->limit || b->used > b->limit - n)) {
        b->refused++;
        return MACULA_ERR_LIMIT;
    }
    b->used += n;
    if (b->used > b->peak)
        b->peak = b->used;
    return 0;
}

void macula__budget_give(macula__budget *b, size_t n) { b->used = n > b->used ? 0 : b->used - n; }

int macula__budget_move(macula__budget *local, macula__budget *global, size_t old, size_t now)
{
    if (now <= old) {
        macula__budget_give(local, old - now);
        if (global)
            macula__budget_give(global, old - now);
        return 0;
    }
    if (macula__budget_take(local, now - old) != 0)
        return MACULA_ERR_LIMIT;
    if (global && macula__budget_take(global, now - old) != 0) {
        macula__budget_give(local, now - old);
        return MACULA_ERR_LIMIT;
    }
    return 0;
}
