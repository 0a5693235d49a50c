/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the command groups: usage and subcommands, hex
 * arguments, JSON, numbers and addresses, keys, stop signals. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Hex text larger than this is refused: a frame is at most 16 MiB, so its
 * hex is at most ~32 MiB plus whitespace. */
#define CLI_MAX_HEX_TEXT (80u * 1024 * 1024)

__attribute__((format(printf, 1, 0))) static void verrorf(const char *fmt, va_list ap)
{
    fputs("macula: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verrorf(fmt, ap);
    va_end(ap);
}

int cli_usage_exit(FILE *f) { return f == stderr ? CLI_EXIT_USAGE : CLI_EXIT_OK; }

int cli_usage_error(cli_usage_fn usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verrorf(fmt, ap);
    va_end(ap);
    return usage(stderr);
}

int cli_dispatch(int argc, char **argv, const cli_subcommand *cmds, size_t n, cli_usage_fn usage)
{
    if (argc < 2)
        return cli_usage_error(usage, "%s: a subcommand is needed", argv[0]);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
        return usage(stdout);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(argv[1], cmds[i].name) != 0)
            continue;
        if (!cmds[i].own_help && argc > 2 && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help")))
            return usage(stdout);
        return cmds[i].fn(argc - 1, argv + 1);
    }
    return cli_usage_error(usage, "%s: unknown subcommand '%s'", argv[0], argv[1]);
}

static char *slurp(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= CLI_MAX_HEX_TEXT) {
                free(buf);
                errno = EFBIG;
                return NULL;
            }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                free(buf);
                return NULL;
            }
            break;
        }
    }
    *len = n;
    return buf;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int decode_hex_text(const char *text, size_t len, const char *what, uint8_t **out, size_t *out_len)
{
    uint8_t *buf = malloc(len / 2 + 1);
    if (!buf) {
        cli_errorf("%s: out of memory", what);
        return -1;
    }
    size_t n = 0;
    int hi = -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (isspace(c))
            continue;
        int v = hex_value(c);
        if (v < 0) {
            cli_errorf("%s: not hex (character %zu is '%c')", what, i + 1, isprint(c) ? c : '?');
            free(buf);
            return -1;
        }
        if (hi < 0) {
            hi = v;
        } else {
            buf[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0) {
        cli_errorf("%s: odd number of hex digits", what);
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

int cli_read_hex_arg(const char *arg, const char *what, uint8_t **out, size_t *out_len)
{
    if (!arg) {
        cli_errorf("%s: missing", what);
        return -1;
    }
    if (arg[0] != '@' && strcmp(arg, "-") != 0)
        return decode_hex_text(arg, strlen(arg), what, out, out_len);

    FILE *f = stdin;
    if (arg[0] == '@') {
        f = fopen(arg + 1, "rb");
        if (!f) {
            cli_errorf("%s: cannot open %s: %s", what, arg + 1, strerror(errno));
            return -1;
        }
    }
    size_t len = 0;
    char *text = slurp(f, &len);
    int saved = errno;
    if (f != stdin)
        fclose(f);
    if (!text) {
        cli_errorf("%s: cannot read %s: %s", what, arg[0] == '@' ? arg + 1 : "stdin", strerror(saved));
        return -1;
    }
    int rc = decode_hex_text(text, len, what, out, out_len);
    free(text);
    return rc;
}

int cli_read_hex_fixed(const char *arg, const char *what, uint8_t *out, size_t len)
{
    uint8_t *buf;
    size_t n;
    if (cli_read_hex_arg(arg, what, &buf, &n) != 0)
        return -1;
    if (n != len) {
        cli_errorf("%s: expected %zu bytes (%zu hex digits), got %zu bytes", what, len, 2 * len, n);
        free(buf);
        return -1;
    }
    memcpy(out, buf, len);
    free(buf);
    return 0;
}

static const char hex_digits[] = "0123456789abcdef";

void cli_print_hex(FILE *f, const uint8_t *p, size_t len)
{
    char chunk[512];
    size_t used = 0;
    for (size_t i = 0; i < len; i++) {
        chunk[used++] = hex_digits[p[i] >> 4];
        chunk[used++] = hex_digits[p[i] & 15];
        if (used == sizeof chunk) {
            fwrite(chunk, 1, used, f);
            used = 0;
        }
    }
    fwrite(chunk, 1, used, f);
}

char *cli_hex_string(const uint8_t *p, size_t len)
{
    char *s = malloc(2 * len + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        s[2 * i] = hex_digits[p[i] >> 4];
        s[2 * i + 1] = hex_digits[p[i] & 15];
    }
    s[2 * len] = 0;
    return s;
}

void cli_json_string(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !*s || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_split_host_port(const char *s, char **host, uint16_t *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hlen = (size_t)(colon - s);
    }
    uint64_t p;
    if (hlen == 0 || cli_parse_u64(colon + 1, 0, 65535, &p) != 0)
        return -1;
    *host = strndup(h, hlen);
    if (!*host)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

int cli_parse_host_port(const char *what, const char *s, int allow_port0, char **host, uint16_t *port)
{
    *host = NULL;
    if (cli_split_host_port(s, host, port) != 0 || (!allow_port0 && *port == 0)) {
        free(*host);
        *host = NULL;
        cli_errorf("%s: expected HOST:PORT or [V6]:PORT%s, got '%s'", what, allow_port0 ? "" : " with a non-zero port",
                   s);
        return -1;
    }
    return 0;
}

int cli_parse_ms(const char *opt, const char *v, int allow_zero, uint32_t *out)
{
    uint64_t n;
    if (!v || cli_parse_u64(v, allow_zero ? 0 : 1, 86400000, &n) != 0) {
        cli_errorf("%s: expected milliseconds (%d..86400000)", opt, allow_zero ? 0 : 1);
        return -1;
    }
    *out = (uint32_t)n;
    return 0;
}

int cli_add_alpn(const char **alpn, size_t *n, const char *v)
{
    if (!v || !*v || strlen(v) > 255 || *n == MACULA_QUIC_MAX_ALPN) {
        cli_errorf("--alpn: expected a protocol name of 1..255 bytes, at most %d of them", MACULA_QUIC_MAX_ALPN);
        return -1;
    }
    alpn[(*n)++] = v;
    return 0;
}

macula_identity *cli_load_key(const char *path)
{
    int err = 0;
    macula_identity *id = macula_identity_load(path, &err);
    if (!id)
        cli_errorf("cannot load key file %s: %s", path, macula_strerror(err));
    return id;
}

int cli_identity_from_seed_arg(const char *arg, macula_identity **id)
{
    uint8_t seed[MACULA_SEED_LEN];
    if (cli_read_hex_fixed(arg, "SEED_HEX", seed, sizeof seed) != 0)
        return CLI_EXIT_USAGE;
    int err;
    *id = macula_identity_from_seed(seed, &err);
    memset(seed, 0, sizeof seed);
    if (!*id) {
        cli_errorf("cannot derive identity: %s", macula_strerror(err));
        return CLI_EXIT_PROTOCOL;
    }
    return CLI_EXIT_OK;
}

void cli_block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cli_run_until_signal(macula_runtime *rt, const sigset_t *sigs)
{
    if (macula_runtime_start(rt) != 0) {
        cli_errorf("cannot start the runtime thread");
        return -1;
    }
    int sig;
    sigwait(sigs, &sig);
    macula_runtime_stop(rt);
    macula_runtime_join(rt);
    return 0;
}

int cli_parse_retry(const char *v, macula_quic_retry *out)
{
    if (v && !strcmp(v, "auto"))
        *out = MACULA_QUIC_RETRY_AUTO;
    else if (v && !strcmp(v, "always"))
        *out = MACULA_QUIC_RETRY_ALWAYS;
    else if (v && !strcmp(v, "never"))
        *out = MACULA_QUIC_RETRY_NEVER;
    else {
        cli_errorf("--retry: expected auto, always or never");
        return -1;
    }
    return 0;
}

typedef struct loop_call {
    void (*fn)(void *arg);
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} loop_call;

static void loop_call_cb(void *p)
{
    loop_call *c = p;
    c->fn(c->arg);
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

int cli_run_until_signal_then(macula_runtime *rt, const sigset_t *sigs, void (*before_stop)(void *arg), void *arg)
{
    if (macula_runtime_start(rt) != 0) {
        cli_errorf("cannot start the runtime thread");
        return -1;
    }
    int sig;
    sigwait(sigs, &sig);
    loop_call c = {before_stop, arg, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    if (before_stop && macula_runtime_post(rt, loop_call_cb, &c) == 0) {
        pthread_mutex_lock(&c.mu);
        while (!c.done)
            pthread_cond_wait(&c.cv, &c.mu);
        pthread_mutex_unlock(&c.mu);
    }
    macula_runtime_stop(rt);
    macula_runtime_join(rt);
    return 0;
}

void cli_endpoint_stats_print(FILE *f, const macula_quic_endpoint_stats *s)
{
    fprintf(f,
            "{\"event\":\"stats\",\"connections\":%llu,\"pending\":%llu,\"pending_cap\":%llu,"
            "\"evicted\":%llu,\"refused_per_addr\":%llu,\"refused\":%llu,\"retry_sent\":%llu,"
            "\"retry_token_bad\":%llu,\"stray_datagrams\":%llu,\"stray_conn_reads\":%llu,"
            "\"reset_tokens\":%llu}\n",
            (unsigned long long)s->connections, (unsigned long long)s->pending,
            (unsigned long long)s->pending_cap, (unsigned long long)s->evicted,
            (unsigned long long)s->refused_per_addr, (unsigned long long)s->refused,
            (unsigned long long)s->retry_sent, (unsigned long long)s->retry_token_bad,
            (unsigned long long)s->stray_datagrams, (unsigned long long)s->stray_conn_reads,
            (unsigned long long)s->reset_tokens);
    fflush(f);
}
