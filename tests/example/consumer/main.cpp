/* SPDX-License-Identifier: Apache-2.0 */
/* The same from C++: <macula.h> is usable from C++ (extern "C", no C-only
 * constructs in the declarations) under strict C++ warnings. */
#include <macula.h>

#include <cstdio>
#include <cstring>
#include <memory>

int main()
{
    uint8_t seed[MACULA_SEED_LEN];
    std::memset(seed, 1, sizeof seed);
    int err = 0;
    std::unique_ptr<macula_identity, decltype(&macula_identity_free)> id(macula_identity_from_seed(seed, &err),
                                                                          macula_identity_free);
    if (!id) {
        std::fprintf(stderr, "macula_identity_from_seed: %s\n", macula_strerror(err));
        return 1;
    }
    const uint8_t *node = macula_identity_node_id(id.get());
    macula_peer none = MACULA_PEER_INVALID;
    std::printf("c++: macula %s (0x%06x), node %02x%02x..., invalid peer %llu\n", macula_version(),
                macula_version_num(), node[0], node[1], static_cast<unsigned long long>(none));
    return macula_version_num() == MACULA_VERSION_NUM ? 0 : 1;
}
