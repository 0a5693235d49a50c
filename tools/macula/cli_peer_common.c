/* SPDX-License-Identifier: Apache-2.0 */
/* What `macula listen` and `macula dial` share: the options (key, realms,
 * capabilities, ALPNs, the peering and QUIC timeouts). */
#include <string.h>

#include "cli.h"

void cli_peer_args_init(cli_peer_args *a) { memset(a, 0, sizeof *a); }

int cli_peer_args_parse(cli_peer_args *a, int argc, char **argv, int *i)
{
    const char *opt = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    uint32_t *ms = NULL;
    if (!strcmp(opt, "--wire")) {
        a->with_wire = 1;
        return 1;
    }
    if (!strcmp(opt, "--low-memory")) {
        a->low_memory = 1;
        return 1;
    }
    if (!strcmp(opt, "--station")) {
        a->station = 1;
        return 1;
    }
    if (!strcmp(opt, "--key")) {
        if (!v) {
            cli_errorf("--key: a key file is needed");
            return -1;
        }
        a->key_file = v;
    } else if (!strcmp(opt, "--realm")) {
        if (a->n_realms == CLI_MAX_REALMS) {
            cli_errorf("--realm: at most %d realms", CLI_MAX_REALMS);
            return -1;
        }
        if (cli_read_hex_fixed(v, "--realm", a->realms + a->n_realms * MACULA_REALM_LEN, MACULA_REALM_LEN) != 0)
            return -1;
        a->n_realms++;
    } else if (!strcmp(opt, "--capabilities")) {
        if (!v || cli_parse_u64(v, 0, UINT64_MAX, &a->capabilities) != 0) {
            cli_errorf("--capabilities: expected an unsigned number");
            return -1;
        }
    } else if (!strcmp(opt, "--alpn")) {
        if (cli_add_alpn(a->alpn, &a->n_alpn, v) != 0)
            return -1;
    } else if (!strcmp(opt, "--handshake-timeout-ms")) {
        ms = &a->handshake_ms;
    } else if (!strcmp(opt, "--drain-ms")) {
        ms = &a->drain_ms;
    } else if (!strcmp(opt, "--idle-timeout-ms")) {
        ms = &a->idle_ms;
    } else if (!strcmp(opt, "--dead-peer-ms")) {
        ms = &a->dead_peer_ms;
    } else if (!strcmp(opt, "--max-frame-size") || !strcmp(opt, "--recv-budget")) {
        uint64_t n;
        int frame = !strcmp(opt, "--max-frame-size");
        if (!v || cli_parse_u64(v, 1, frame ? 16777215u : (uint64_t)1 << 40, &n) != 0) {
            cli_errorf("%s: expected 1..%s bytes", opt, frame ? "16777215" : "2^40");
            return -1;
        }
        *(frame ? &a->max_frame_size : &a->recv_budget) = (size_t)n;
    } else if (!strcmp(opt, "--keepalive-ms")) {
        if (cli_parse_ms(opt, v, 1, &a->keepalive_ms) != 0)
            return -1;
        a->keepalive_set = 1;
    } else {
        return 0;
    }
    if (ms && cli_parse_ms(opt, v, 0, ms) != 0)
        return -1;
    (*i)++;
    return 1;
}

void cli_peer_args_apply(const cli_peer_args *a, macula_peer_options *o)
{
    o->realms = a->n_realms ? a->realms : NULL;
    o->n_realms = a->n_realms;
    o->capabilities = a->capabilities;
    if (a->handshake_ms)
        o->handshake_timeout_ms = a->handshake_ms;
    if (a->drain_ms)
        o->drain_timeout_ms = a->drain_ms;
    if (a->idle_ms)
        o->idle_timeout_ms = a->idle_ms;
    if (a->keepalive_set)
        o->keepalive_ms = a->keepalive_ms;
    o->low_memory = a->low_memory;
    o->station = a->station;
    o->dead_peer_timeout_ms = a->dead_peer_ms;
    o->max_frame_size = a->max_frame_size;
    o->recv_budget = a->recv_budget;
    o->alpn = a->n_alpn ? a->alpn : NULL;
    o->n_alpn = a->n_alpn;
}
