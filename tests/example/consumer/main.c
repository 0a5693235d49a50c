/* SPDX-License-Identifier: Apache-2.0 */
/* A parent project's C program using macula-c through add_subdirectory()
 * (see CMakeLists.txt here): the public headers under strict warnings,
 * and the library's version as headers and library see it. */
#include <macula.h>
#include <stdio.h>
#include <string.h>

/* macula-c builds with these; its users must not inherit them. */
#ifdef _GNU_SOURCE
#error "_GNU_SOURCE reached a consumer of macula-c"
#endif
#ifdef MACULA_BUILDING
#error "MACULA_BUILDING reached a consumer of macula-c"
#endif

int main(void)
{
    uint8_t seed[MACULA_SEED_LEN];
    memset(seed, 1, sizeof seed);
    int err = 0;
    macula_identity *id = macula_identity_from_seed(seed, &err);
    if (!id) {
        fprintf(stderr, "macula_identity_from_seed: %s\n", macula_strerror(err));
        return 1;
    }
    const uint8_t *node = macula_identity_node_id(id);
    printf("c: macula %s (0x%06x), node %02x%02x..., %s\n", macula_version(), macula_version_num(), node[0], node[1],
           macula_err_name(MACULA_ERR_TIMEOUT));
    macula_identity_free(id);
    return macula_version_num() == MACULA_VERSION_NUM && strcmp(macula_version(), MACULA_VERSION_STRING) == 0 ? 0 : 1;
}
