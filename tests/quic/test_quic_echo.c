/* SPDX-License-Identifier: Apache-2.0 */
/* Handshake and echo over loopback: 0 B, 1 B, 1 MiB and 64 MiB of random
 * data come back byte-exact (equal SHA-256), with backpressure on both
 * sides (the client's send queue refuses, the echo pauses reading); 1 MiB
 * and 64 MiB again with the low_memory setting on both ends (ngtcp2's
 * large blocks then start with discarded pages). */
#include "quic_test_util.h"

static void echo_size_with(size_t len, int low_memory)
{
    macula_runtime *rt;
    macula_identity *id;
    struct echo_server srv;
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    o.settings.low_memory = low_memory;
    REQUIRE(echo_setup_with(&rt, &id, &srv, &o.settings) == 0);
    uint8_t *data = malloc(len ? len : 1);
    REQUIRE(data);
    randombytes_buf(data, len);
    struct echo_client cl;
    REQUIRE(client_dial(&cl, rt, "127.0.0.1", macula_quic_endpoint_port(srv.ep), data, len, &o));
    cl.stop_when_closed = 1;
    struct watchdog wd;
    watchdog_arm(&wd, rt, 60000);
    uint64_t t0 = macula__clock_now();
    CHECK(macula_runtime_run(rt) == 0);
    uint64_t ms = ms_since(t0);
    CHECK(!wd.fired);
    CHECK(cl.connected);
    CHECK(cl.got_fin);
    CHECK_EQ_INT(cl.rx_len, len);
    uint8_t want[32], got[32];
    crypto_hash_sha256(want, data, len);
    crypto_hash_sha256_final(&cl.rx, got);
    CHECK_MEM(want, got, 32);
    CHECK(cl.closed);
    CHECK_EQ_INT(cl.close.cause, MACULA_QUIC_CLOSE_LOCAL);
    CHECK(strcmp(cl.reason, "closed") == 0);
    CHECK_EQ_INT(srv.connected, 1);
    CHECK_EQ_INT(srv.bytes, len);
    fprintf(stderr, "  echo %zu bytes: %llu ms%s\n", len, (unsigned long long)ms,
            cl.would_block_seen ? " (send queue pushed back)" : "");
    echo_teardown(rt, id); /* closes the server endpoint; CLOSED reaches it */
    CHECK_EQ_INT(srv.closed, 1);
    free(data);
}

static void test_echo_0(void) { echo_size_with(0, 0); }
static void test_echo_1(void) { echo_size_with(1, 0); }
static void test_echo_1mib(void) { echo_size_with(1u << 20, 0); }
static void test_echo_64mib(void) { echo_size_with(64u << 20, 0); }
static void test_echo_1mib_low_memory(void) { echo_size_with(1u << 20, 1); }
static void test_echo_64mib_low_memory(void) { echo_size_with(64u << 20, 1); }

int main(void)
{
    if (macula_crypto_init() != 0)
        return 1;
    RUN(test_echo_0);
    RUN(test_echo_1);
    RUN(test_echo_1mib);
    RUN(test_echo_64mib);
    RUN(test_echo_1mib_low_memory);
    RUN(test_echo_64mib_low_memory);
    return tu_summary();
}
