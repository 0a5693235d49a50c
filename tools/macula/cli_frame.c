/* SPDX-License-Identifier: Apache-2.0 */
/* `macula frame ...`: decode, verify, re-sign and parse wire frames.
 * Answers go to stdout, one per line, so that scripts can read the last
 * line; exit 0 = success, 1 = protocol-level answer, 2 = bad usage. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "macula/frame.h"

static int frame_usage(FILE *f)
{
    fprintf(f,
            "usage: macula frame decode WIRE_HEX\n"
            "       macula frame verify WIRE_HEX PUBKEY_HEX\n"
            "       macula frame verify-publisher WIRE_HEX\n"
            "       macula frame resign SEED_HEX WIRE_HEX\n"
            "       macula frame parse-stream HEX\n"
            "HEX arguments may also be @FILE (hex text in a file) or - (stdin).\n"
            "decode prints the frame in CBOR diagnostic notation (wire order), then\n"
            "'rest <hex>' when bytes follow it; failures end with 'more N',\n"
            "'error frame_too_large' or 'error bad_frame' (exit 1).\n"
            "verify ends with 'ok', 'error signature_invalid' or 'error bad_frame' (also\n"
            "for a key that is not 32 bytes). The frame signature leaves out `signature`\n"
            "and `publisher_sig` (Macula 10).\n"
            "verify-publisher checks a PUBLISH/EVENT's publisher_sig against its own\n"
            "`publisher` key: 'ok', 'error signature_invalid', 'error no_publisher_sig'\n"
            "or 'error bad_frame' (another frame type, a missing field, a publisher_sig\n"
            "that is not 64 bytes).\n"
            "resign prints the re-signed wire hex (a publisher_sig is kept as it is).\n"
            "parse-stream prints 'frame <type> <wire_len>' per frame, 'bad_frame\n"
            "<wire_len>' per frame stepped over, and 'tail [<hex>]' last (exit 0), or\n"
            "'error frame_too_large' at a length over the cap (exit 1).\n"
            "Bad usage (a HEX argument that cannot be read included) exits 2.\n");
    return cli_usage_exit(f);
}

/* Prints the protocol-level answer for a failed decode; returns the exit code. */
static int print_decode_failure(int rc, size_t need)
{
    if (rc == MACULA_ERR_NEED_MORE)
        printf("more %zu\n", need);
    else if (rc == MACULA_ERR_FRAME_TOO_LARGE || rc == MACULA_ERR_BAD_FRAME)
        printf("error %s\n", macula_err_name(rc));
    else
        cli_errorf("decode failed: %s", macula_strerror(rc));
    return CLI_EXIT_PROTOCOL;
}

/* The first frame of a WIRE_HEX argument, and the bytes it came in. */
struct decoded {
    uint8_t *wire;
    size_t len, consumed;
    macula_frame *f;
};

/* 0 with *d filled (decoded_free frees it); -1 when done, the answer or
 * error printed and the exit code in *exit_code. */
static int decode_arg(const char *arg, struct decoded *d, int *exit_code)
{
    if (cli_read_hex_arg(arg, "WIRE_HEX", &d->wire, &d->len) != 0) {
        *exit_code = CLI_EXIT_USAGE;
        return -1;
    }
    size_t need = 0;
    int rc = macula_frame_decode(d->wire, d->len, &d->f, &d->consumed, &need);
    if (rc != MACULA_OK) {
        free(d->wire);
        *exit_code = print_decode_failure(rc, need);
        return -1;
    }
    return 0;
}

static void decoded_free(struct decoded *d)
{
    macula_frame_free(d->f);
    free(d->wire);
}

/* "rest <hex>" when bytes follow the frame. */
static void print_rest(const struct decoded *d)
{
    if (d->consumed < d->len) {
        printf("rest ");
        cli_print_hex(stdout, d->wire + d->consumed, d->len - d->consumed);
        printf("\n");
    }
}

/* The verify commands' last line: "ok" (exit 0) or "error <name>" (1). */
static int print_verdict(int rc)
{
    if (rc == MACULA_OK) {
        printf("ok\n");
        return CLI_EXIT_OK;
    }
    printf("error %s\n", macula_err_name(rc));
    return CLI_EXIT_PROTOCOL;
}

static int frame_decode(int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error(frame_usage, "frame decode: expected WIRE_HEX");
    struct decoded d;
    int code;
    if (decode_arg(argv[1], &d, &code) != 0)
        return code;
    char *diag = macula_frame_diag(d.f);
    if (!diag) {
        cli_errorf("out of memory");
        code = CLI_EXIT_PROTOCOL;
    } else {
        printf("%s\n", diag);
        print_rest(&d);
        code = CLI_EXIT_OK;
    }
    macula_free(diag);
    decoded_free(&d);
    return code;
}

static int frame_verify(int argc, char **argv)
{
    if (argc != 3)
        return cli_usage_error(frame_usage, "frame verify: expected WIRE_HEX PUBKEY_HEX");
    uint8_t *pk;
    size_t pk_len;
    if (cli_read_hex_arg(argv[2], "PUBKEY_HEX", &pk, &pk_len) != 0)
        return CLI_EXIT_USAGE;
    struct decoded d;
    int code;
    if (decode_arg(argv[1], &d, &code) != 0) {
        free(pk);
        return code;
    }
    /* a key that is not 32 bytes cannot check anything: bad_frame (§2.6) */
    code = print_verdict(pk_len == MACULA_PUBKEY_LEN ? macula_frame_verify(d.f, pk) : MACULA_ERR_BAD_FRAME);
    decoded_free(&d);
    free(pk);
    return code;
}

/* Macula 10's publisher signature (PROTOCOL.md §6.1): answers like verify. */
static int frame_verify_publisher(int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error(frame_usage, "frame verify-publisher: expected WIRE_HEX");
    struct decoded d;
    int code;
    if (decode_arg(argv[1], &d, &code) != 0)
        return code;
    code = print_verdict(macula_frame_verify_publisher(d.f));
    decoded_free(&d);
    return code;
}

static int frame_resign(int argc, char **argv)
{
    if (argc != 3)
        return cli_usage_error(frame_usage, "frame resign: expected SEED_HEX WIRE_HEX");
    macula_identity *id;
    int code = cli_identity_from_seed_arg(argv[1], &id);
    if (code != CLI_EXIT_OK)
        return code;
    struct decoded d;
    if (decode_arg(argv[2], &d, &code) != 0) {
        macula_identity_free(id);
        return code;
    }
    uint8_t *out = NULL;
    size_t out_len;
    macula_frame_remove(d.f, "signature");
    int rc = macula_frame_sign(d.f, id);
    if (rc == MACULA_OK)
        rc = macula_frame_encode(d.f, &out, &out_len);
    if (rc == MACULA_OK) {
        cli_print_hex(stdout, out, out_len);
        printf("\n");
        print_rest(&d);
        code = CLI_EXIT_OK;
    } else {
        printf("error %s\n", macula_err_name(rc));
        code = CLI_EXIT_PROTOCOL;
    }
    macula_free(out);
    decoded_free(&d);
    macula_identity_free(id);
    return code;
}

static int frame_parse_stream(int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error(frame_usage, "frame parse-stream: expected HEX");
    uint8_t *bytes;
    size_t len;
    if (cli_read_hex_arg(argv[1], "HEX", &bytes, &len) != 0)
        return CLI_EXIT_USAGE;
    macula_stream_parser *p = macula_stream_parser_new(NULL);
    if (!p) {
        free(bytes);
        cli_errorf("out of memory");
        return CLI_EXIT_PROTOCOL;
    }
    int rc = macula_stream_parser_feed(p, bytes, len);
    free(bytes);
    while (rc == MACULA_OK || rc == MACULA_ERR_BAD_FRAME) {
        macula_frame *f = NULL;
        size_t wire_len = 0;
        rc = macula_stream_parser_next(p, &f, &wire_len);
        if (rc == MACULA_OK) {
            const char *type = macula_frame_type(f);
            printf("frame %s %zu\n", type && *type && !strpbrk(type, " \t\r\n") ? type : "-", wire_len);
            macula_frame_free(f);
        } else if (rc == MACULA_ERR_BAD_FRAME) {
            printf("bad_frame %zu\n", wire_len);
        }
    }
    int code = CLI_EXIT_OK;
    if (rc == MACULA_ERR_NEED_MORE) {
        size_t tail_len;
        const uint8_t *tail = macula_stream_parser_tail(p, &tail_len);
        printf("tail%s", tail_len ? " " : "");
        cli_print_hex(stdout, tail, tail_len);
        printf("\n");
    } else if (rc == MACULA_ERR_FRAME_TOO_LARGE) {
        printf("error frame_too_large\n");
        code = CLI_EXIT_PROTOCOL;
    } else {
        cli_errorf("parse-stream failed: %s", macula_strerror(rc));
        code = CLI_EXIT_PROTOCOL;
    }
    macula_stream_parser_free(p);
    return code;
}

int cli_frame(int argc, char **argv)
{
    static const cli_subcommand cmds[] = {
        {"decode", frame_decode, 0},
        {"verify", frame_verify, 0},
        {"verify-publisher", frame_verify_publisher, 0},
        {"resign", frame_resign, 0},
        {"parse-stream", frame_parse_stream, 0},
    };
    return cli_dispatch(argc, argv, cmds, sizeof cmds / sizeof cmds[0], frame_usage);
}
