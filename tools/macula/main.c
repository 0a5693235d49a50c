/* SPDX-License-Identifier: Apache-2.0 */
/* `macula`: command-line entry point; dispatches to one group per file. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "macula/common.h"

struct cli_group {
    const char *name;
    cli_command_fn fn;
    const char *summary;
};

static const struct cli_group groups[] = {
    {"key", cli_key, "make, derive and inspect identity key files; make certificates"},
    {"frame", cli_frame, "decode, verify, re-sign and parse wire frames"},
    {"quic", cli_quic, "netcat over Macula's QUIC: serve (echo) and dial"},
    {"listen", cli_listen, "accept Macula peers and print their events"},
    {"dial", cli_dial, "connect to a Macula peer, send frames, print what comes back"},
    {"demo", cli_demo, "two peers on loopback: handshake, frames both ways, GOODBYE"},
    {"bench", cli_bench, "peering benchmarks (figures, not tests)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: macula <command> [args]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        fprintf(f, "  %-8s %s\n", groups[i].name, groups[i].summary);
    fprintf(f, "\n'macula <command> --help' documents each command. Exit status: 0 success,\n"
               "1 a protocol-level answer or failure, 2 bad usage.\n");
    fprintf(f, "\nmacula %s, wire-compatible with %s\n", macula_version(), MACULA_WIRE_COMPAT_STRING);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("macula %s\n", macula_version());
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (!strcmp(argv[1], groups[i].name))
            return groups[i].fn(argc - 1, argv + 1);
    cli_errorf("unknown command '%s' (try 'macula --help')", argv[1]);
    return CLI_EXIT_USAGE;
}
