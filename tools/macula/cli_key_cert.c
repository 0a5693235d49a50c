/* SPDX-License-Identifier: Apache-2.0 */
/* `macula key cert`: the self-signed certificate a Macula listener serves for
 * an identity, and the identity's private key as PKCS#8, as PEM files that
 * other QUIC stacks (quinn, curl, openssl) can serve or check. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "macula/identity.h"
#include "macula/quic.h"

#define MAX_SANS 64

static int cert_usage(FILE *f)
{
    fprintf(f, "usage: macula key cert KEYFILE [--san NAME]... --cert-out CERT.pem --key-out KEY.pem\n"
               "  writes the self-signed certificate (CN \"Macula Identity\", SANs: IP addresses\n"
               "  or DNS names) and the identity's private key (PKCS#8, mode 0600); prints the node id\n"
               "Exit status: 0 on success, 1 when the certificate cannot be made or written, 2 on bad\n"
               "usage (a key file that cannot be read included).\n");
    return cli_usage_exit(f);
}

/* Writes `text` to a temporary file beside `path` with `mode`, syncs it and
 * renames it over `path`: readers see the old file or the whole new one,
 * and a private key is never readable by others, not even briefly. */
static int write_file_replacing(const char *path, const char *text, mode_t mode)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = mkstemp(tmp); /* 0600 from the start */
    if (fd < 0)
        return -1;
    size_t len = strlen(text), done = 0;
    int failed = fchmod(fd, mode) != 0;
    while (!failed && done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            failed = 1;
        else
            done += (size_t)w;
    }
    if (!failed && fsync(fd) != 0)
        failed = 1;
    int saved = errno;
    if (close(fd) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    if (!failed && rename(tmp, path) != 0) {
        failed = 1;
        saved = errno;
    }
    if (failed) {
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return 0;
}

struct cert_args {
    const char *keyfile, *cert_out, *key_out;
    const char *sans[MAX_SANS];
    size_t n_sans;
};

/* 0 to go on; -1 when done, with the exit code in *code (usage printed,
 * or 0 after --help). */
static int parse_args(int argc, char **argv, struct cert_args *a, int *code)
{
    memset(a, 0, sizeof *a);
    *code = CLI_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        int has_value = i + 1 < argc;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            *code = cert_usage(stdout);
            return -1;
        } else if (!strcmp(argv[i], "--san") && has_value) {
            if (a->n_sans == MAX_SANS) {
                cli_errorf("--san: at most %d names", MAX_SANS);
                return -1;
            }
            a->sans[a->n_sans++] = argv[++i];
        } else if (!strcmp(argv[i], "--cert-out") && has_value) {
            a->cert_out = argv[++i];
        } else if (!strcmp(argv[i], "--key-out") && has_value) {
            a->key_out = argv[++i];
        } else if (argv[i][0] != '-' && !a->keyfile) {
            a->keyfile = argv[i];
        } else {
            cli_usage_error(cert_usage, "key cert: unexpected argument '%s'", argv[i]);
            return -1;
        }
    }
    if (!a->keyfile || !a->cert_out || !a->key_out) {
        cli_usage_error(cert_usage, "key cert: KEYFILE, --cert-out and --key-out are required");
        return -1;
    }
    if (!strcmp(a->cert_out, a->key_out)) {
        cli_errorf("--cert-out and --key-out must be different files");
        return -1;
    }
    return 0;
}

int cli_key_cert(int argc, char **argv)
{
    struct cert_args a;
    int code;
    if (parse_args(argc, argv, &a, &code) != 0)
        return code;
    macula_identity *id = cli_load_key(a.keyfile);
    if (!id)
        return CLI_EXIT_USAGE;
    char *cert_pem = NULL, *key_pem = NULL;
    int rc = macula_quic_make_cert_pem(id, a.sans, a.n_sans, &cert_pem, &key_pem);
    int status = CLI_EXIT_OK;
    if (rc == MACULA_ERR_INVALID_ARG) {
        cli_errorf("--san: each name must be an IP address or a DNS name (letters, digits, '-', '.', '_', '*')");
        status = CLI_EXIT_USAGE;
    } else if (rc != 0) {
        cli_errorf("cannot make the certificate: %s", macula_strerror(rc));
        status = CLI_EXIT_PROTOCOL;
    } else if (write_file_replacing(a.key_out, key_pem, 0600) != 0) {
        cli_errorf("cannot write %s: %s", a.key_out, strerror(errno));
        status = CLI_EXIT_PROTOCOL;
    } else if (write_file_replacing(a.cert_out, cert_pem, 0644) != 0) {
        cli_errorf("cannot write %s: %s", a.cert_out, strerror(errno));
        status = CLI_EXIT_PROTOCOL;
    }
    if (status == CLI_EXIT_OK) {
        printf("node_id ");
        cli_print_hex(stdout, macula_identity_node_id(id), MACULA_NODE_ID_LEN);
        printf("\n");
    }
    if (key_pem)
        memset(key_pem, 0, strlen(key_pem));
    macula_free(cert_pem);
    macula_free(key_pem);
    macula_identity_free(id);
    return status;
}
