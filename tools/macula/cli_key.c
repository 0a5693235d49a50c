/* `macula key ...`: make, derive and inspect identity key files. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "macula/identity.h"

static int key_usage(void)
{
    fprintf(stderr,
            "usage: macula key from-seed SEED_HEX -o FILE\n"
            "       macula key gen [--puzzle N] -o FILE\n"
            "       macula key show FILE\n"
            "       macula key cert KEYFILE [--san NAME]... --cert-out CERT.pem --key-out KEY.pem\n");
    return CLI_EXIT_USAGE;
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
        else if (!seed_arg)
            seed_arg = argv[i];
        else
            return key_usage();
    }
    if (!seed_arg || !out)
        return key_usage();
    uint8_t seed[MACULA_SEED_LEN];
    if (cli_read_hex_fixed(seed_arg, "SEED_HEX", seed, sizeof seed) != 0)
        return CLI_EXIT_USAGE;
    int err;
    macula_identity *id = macula_identity_from_seed(seed, &err);
    memset(seed, 0, sizeof seed);
    if (!id) {
        cli_errorf("cannot derive identity: %s", macula_strerror(err));
        return CLI_EXIT_PROTOCOL;
    }
    return save_identity(id, out);
}

static int key_gen(int argc, char **argv)
{
    const char *out = NULL;
    uint64_t difficulty = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--puzzle") && i + 1 < argc) {
            if (cli_parse_u64(argv[++i], 0, 32, &difficulty) != 0) {
                cli_errorf("--puzzle: expected a difficulty from 0 to 32 bits");
                return CLI_EXIT_USAGE;
            }
        } else {
            return key_usage();
        }
    }
    if (!out)
        return key_usage();
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
        return key_usage();
    int err;
    macula_identity *id = macula_identity_load(argv[1], &err);
    if (!id) {
        cli_errorf("cannot load key file %s: %s", argv[1], macula_strerror(err));
        return CLI_EXIT_PROTOCOL;
    }
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
    if (argc < 2)
        return key_usage();
    if (!strcmp(argv[1], "from-seed"))
        return key_from_seed(argc - 1, argv + 1);
    if (!strcmp(argv[1], "gen"))
        return key_gen(argc - 1, argv + 1);
    if (!strcmp(argv[1], "show"))
        return key_show(argc - 1, argv + 1);
    if (!strcmp(argv[1], "cert"))
        return cli_key_cert(argc - 1, argv + 1);
    return key_usage();
}
