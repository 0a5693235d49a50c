/* SPDX-License-Identifier: Apache-2.0 */
/* `macula key ...`: make, derive and inspect identity key files. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "macula/identity.h"

static int key_usage(FILE *f)
{
    fprintf(f, "usage: macula key from-seed SEED_HEX -o FILE\n"
               "       macula key gen [--puzzle N] -o FILE\n"
               "       macula key show FILE\n"
               "       macula key cert KEYFILE [--san NAME]... --cert-out CERT.pem --key-out KEY.pem\n"
               "\n"
               "from-seed writes the key file of a 32-byte Ed25519 seed (64 hex digits; @FILE or -\n"
               "for stdin); gen writes a fresh one (--puzzle N: keys are drawn until SHA-256 of the\n"
               "public key starts with N zero bits, 0..32); show prints 'node_id <hex>' and\n"
               "'puzzle_evidence <hex>'; cert writes the identity's TLS certificate and PKCS#8 key\n"
               "('macula key cert --help').\n"
               "Exit status: 0 on success, 1 when a key cannot be made or a file written, 2 on bad\n"
               "usage (a key file or seed that cannot be read included).\n");
    return cli_usage_exit(f);
}

static int save_identity(macula_identity *id, const char *path)
{
    int rc = macula_identity_save(id, path);
    macula_identity_free(id);
    if (rc != 0) {
        cli_errorf("cannot write key file %s: %s", path, macula_strerror(rc));
        return CLI_EXIT_PROTOCOL;
    }
    return CLI_EXIT_OK;
}

static int key_from_seed(int argc, char **argv)
{
    const char *seed_arg = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (!seed_arg && strcmp(argv[i], "-o") != 0)
            seed_arg = argv[i];
        else
            return cli_usage_error(key_usage, "key from-seed: unexpected argument '%s'", argv[i]);
    }
    if (!seed_arg || !out)
        return cli_usage_error(key_usage, "key from-seed: SEED_HEX and -o FILE are required");
    macula_identity *id;
    int code = cli_identity_from_seed_arg(seed_arg, &id);
    return code == CLI_EXIT_OK ? save_identity(id, out) : code;
}

static int key_gen(int argc, char **argv)
{
    const char *out = NULL;
    uint64_t difficulty = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--puzzle")) {
            if (i + 1 == argc || cli_parse_u64(argv[++i], 0, 32, &difficulty) != 0) {
                cli_errorf("--puzzle: expected a difficulty from 0 to 32 bits");
                return CLI_EXIT_USAGE;
            }
        } else {
            return cli_usage_error(key_usage, "key gen: unexpected argument '%s'", argv[i]);
        }
    }
    if (!out)
        return cli_usage_error(key_usage, "key gen: -o FILE is required");
    int err;
    macula_identity *id = macula_identity_generate_puzzle((unsigned)difficulty, &err);
    if (!id) {
        cli_errorf("cannot generate identity: %s", macula_strerror(err));
        return CLI_EXIT_PROTOCOL;
    }
    return save_identity(id, out);
}

static int key_show(int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error(key_usage, "key show: expected one key FILE");
    macula_identity *id = cli_load_key(argv[1]);
    if (!id)
        return CLI_EXIT_USAGE;
    uint8_t evidence[MACULA_PUZZLE_EVIDENCE_LEN];
    macula_identity_puzzle_evidence(id, evidence);
    printf("node_id ");
    cli_print_hex(stdout, macula_identity_node_id(id), MACULA_NODE_ID_LEN);
    printf("\npuzzle_evidence ");
    cli_print_hex(stdout, evidence, sizeof evidence);
    printf("\n");
    macula_identity_free(id);
    return CLI_EXIT_OK;
}

int cli_key(int argc, char **argv)
{
    static const cli_subcommand cmds[] = {
        {"from-seed", key_from_seed, 0},
        {"gen", key_gen, 0},
        {"show", key_show, 0},
        {"cert", cli_key_cert, 1},
    };
    return cli_dispatch(argc, argv, cmds, sizeof cmds / sizeof cmds[0], key_usage);
}
