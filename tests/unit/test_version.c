/* SPDX-License-Identifier: Apache-2.0 */
/* The version macros generated from the project version agree with each
 * other and with what the library reports at run time. */
#include <stdio.h>
#include <string.h>

#include "macula/common.h"
#include "testutil.h"

#if MACULA_VERSION_NUM != (MACULA_VERSION_MAJOR << 16 | MACULA_VERSION_MINOR << 8 | MACULA_VERSION_PATCH)
#error "MACULA_VERSION_NUM does not pack MAJOR.MINOR.PATCH"
#endif

static void test_macros_agree(void)
{
    char s[32];
    snprintf(s, sizeof s, "%d.%d.%d", MACULA_VERSION_MAJOR, MACULA_VERSION_MINOR, MACULA_VERSION_PATCH);
    CHECK(strcmp(s, MACULA_VERSION_STRING) == 0);
}

static void test_runtime_matches_headers(void)
{
    CHECK(strcmp(macula_version(), MACULA_VERSION_STRING) == 0);
    CHECK_EQ_INT(macula_version_num(), MACULA_VERSION_NUM);
}

int main(void)
{
    RUN(test_macros_agree);
    RUN(test_runtime_matches_headers);
    return tu_summary();
}
