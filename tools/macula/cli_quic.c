/* SPDX-License-Identifier: Apache-2.0 */
/* `macula quic`: netcat over Macula's QUIC. `serve` accepts connections and
 * prints one JSON object per event (optionally echoing every stream);
 * `dial` copies stdin to one stream and the stream to stdout. Both stream
 * with backpressure: memory stays bounded whatever the amount of data. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "macula/identity.h"
#include "macula/quic.h"
#include "macula/runtime.h"

/* The endpoint's counters at exit, from the loop thread. */
static void print_ep_stats(void *arg)
{
    macula_quic_endpoint_stats s;
    macula_quic_endpoint_stats_init(&s);
    if (macula_quic_endpoint_get_stats(arg, &s) == 0)
        cli_endpoint_stats_print(stdout, &s);
}

static int quic_usage(FILE *f)
{
    fprintf(f,
            "usage: macula quic serve --listen ADDR:PORT --key KEYFILE [--alpn A]... [--echo]\n"
            "                         [--idle-timeout-ms N] [--max-connections N] [--max-pending N]\n"
            "                         [--retry auto|always|never]\n"
            "       macula quic dial ADDR:PORT [--alpn A]... [--pin PUBKEY_HEX] [--timeout-ms N]\n"
            "                         [--idle-timeout-ms N] [--server-name NAME]\n"
            "\n"
            "serve: accepts QUIC connections (TLS 1.3, self-signed certificate over the key's\n"
            "  Ed25519 identity, ALPN \"macula\" unless --alpn is given) on ADDR:PORT (port 0\n"
            "  picks one) and prints one JSON object per line on stdout, until SIGINT/SIGTERM:\n"
            "    {\"event\":\"listening\",\"address\":\"127.0.0.1\",\"port\":4433,\"node_id\":\"<hex>\"}\n"
            "    {\"event\":\"connection\",\"conn\":1,\"peer\":\"127.0.0.1:50000\",\"alpn\":\"macula\"}\n"
            "    {\"event\":\"stream_opened\",\"conn\":1,\"stream\":0}\n"
            "    {\"event\":\"data\",\"conn\":1,\"stream\":0,\"bytes\":1200,\"total\":1200}\n"
            "        (byte counts, not contents; bursts are summed into one line)\n"
            "    {\"event\":\"fin\",\"conn\":1,\"stream\":0,\"total\":1200}      peer half-closed\n"
            "    {\"event\":\"reset\",\"conn\":1,\"stream\":0,\"code\":7}        peer reset/stop-sending\n"
            "    {\"event\":\"stream_closed\",\"conn\":1,\"stream\":0}\n"
            "    {\"event\":\"closed\",\"conn\":1,\"cause\":\"peer\",\"error\":\"ok\",\"app\":true,\"code\":0,\n"
            "     \"reason\":\"closed\",\"tls_alert\":-1}\n"
            "        cause: local, peer, idle_timeout, handshake_failed, stateless_reset, error\n"
            "    {\"event\":\"diag\",\"name\":\"quic_handshake_failed\",\"fields\":{\"peer\":\"127.0.0.1:50000\",\n"
            "     \"cause\":...,\"error\":\"pin_mismatch\",\"reason\":...}}   a connection that never completed\n"
            "  --echo writes every byte back on its stream and half-closes when the peer does.\n"
            "  --max-pending N: connections still handshaking at once, beyond it the oldest is\n"
            "  evicted (default 1024, at most 655 within the default 64 MiB pending budget);\n"
            "  --retry: QUIC address validation (auto: while more than\n"
            "  half of --max-pending is used; default). At exit a line {\"event\":\"stats\",...}\n"
            "  gives the endpoint's counters (pending, evicted, retry_sent, stray_datagrams...).\n"
            "\n"
            "dial: connects (default timeout 30000 ms for resolution + handshake), opens one\n"
            "  stream, copies stdin to it, half-closes at EOF, copies the stream to stdout and\n"
            "  exits 0 once the peer has half-closed and everything sent was acknowledged.\n"
            "  Otherwise it exits 1 with the reason on stderr (timeout, refused, pin mismatch,\n"
            "  ALPN, peer close...). --pin accepts only a server whose certificate key is that\n"
            "  Ed25519 key (the node id, 64 hex digits); without it the certificate is not\n"
            "  checked (a warning says so).\n"
            "\n"
            "Exit status: serve 0 after a signal, 1 when it cannot listen; dial as above;\n"
            "2 on bad usage (a key file that cannot be read included).\n");
    return cli_usage_exit(f);
}

static void print_close(FILE *f, const macula_quic_close_info *ci)
{
    fprintf(f, "\"cause\":\"%s\",\"error\":\"%s\",\"app\":%s,\"code\":%llu,\"reason\":",
            macula_quic_close_cause_name(ci->cause), macula_err_name(ci->err), ci->app_error ? "true" : "false",
            (unsigned long long)ci->error_code);
    cli_json_string(f, ci->reason, strlen(ci->reason));
    fprintf(f, ",\"tls_alert\":%d", ci->tls_alert);
}

/* ===================================================================== */
/* serve                                                                 */
/* ===================================================================== */

struct srv_stream {
    int64_t id;
    uint64_t total, unreported;
    uint8_t *pending;   /* echo bytes the send queue refused */
    size_t pending_len;
    int fin_pending;
    struct srv_stream *next;
};

struct srv_conn {
    struct server *srv;
    macula_quic_conn *conn;
    unsigned long id;
    struct srv_stream *streams;
    struct srv_conn *next, *prev;
};

struct server {
    macula_runtime *rt;
    int echo;
    unsigned long next_id;
    struct srv_conn *conns;
    int flush_posted;
};

static struct srv_stream *srv_stream(struct srv_conn *sc, int64_t id, int create)
{
    for (struct srv_stream *s = sc->streams; s; s = s->next)
        if (s->id == id)
            return s;
    if (!create)
        return NULL;
    struct srv_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->id = id;
    s->next = sc->streams;
    sc->streams = s;
    return s;
}

static void report_data(struct srv_conn *sc, struct srv_stream *s)
{
    if (!s->unreported)
        return;
    printf("{\"event\":\"data\",\"conn\":%lu,\"stream\":%lld,\"bytes\":%llu,\"total\":%llu}\n", sc->id,
           (long long)s->id, (unsigned long long)s->unreported, (unsigned long long)s->total);
    s->unreported = 0;
}

static void flush_reports(void *arg)
{
    struct server *srv = arg;
    srv->flush_posted = 0;
    for (struct srv_conn *sc = srv->conns; sc; sc = sc->next)
        for (struct srv_stream *s = sc->streams; s; s = s->next)
            report_data(sc, s);
    fflush(stdout);
}

static void echo_retry(struct srv_conn *sc, struct srv_stream *s)
{
    if (s->pending_len) {
        int rc = macula_quic_conn_send(sc->conn, s->id, s->pending, s->pending_len, 0);
        if (rc == MACULA_ERR_WOULD_BLOCK)
            return;
        free(s->pending);
        s->pending = NULL;
        s->pending_len = 0;
        macula_quic_conn_pause_reading(sc->conn, s->id, 0);
    }
    if (s->fin_pending) {
        s->fin_pending = 0;
        macula_quic_conn_shutdown_stream(sc->conn, s->id);
    }
}

static void echo_data(struct srv_conn *sc, struct srv_stream *s, const macula_quic_event *ev)
{
    if (ev->len) {
        int rc = macula_quic_conn_send(sc->conn, ev->stream_id, ev->data, ev->len, 0);
        if (rc == MACULA_ERR_WOULD_BLOCK) {
            /* Keep these bytes and take no more from the peer until the
             * queue drains (SEND_READY): the peer stops at its window. */
            s->pending = malloc(ev->len);
            if (!s->pending) {
                macula_quic_conn_close(sc->conn, 1, "out of memory");
                return;
            }
            memcpy(s->pending, ev->data, ev->len);
            s->pending_len = ev->len;
            macula_quic_conn_pause_reading(sc->conn, ev->stream_id, 1);
        }
    }
    if (ev->fin) {
        s->fin_pending = 1;
        if (!s->pending_len)
            echo_retry(sc, s);
    }
}

static void srv_conn_free(struct srv_conn *sc)
{
    struct server *srv = sc->srv;
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        srv->conns = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
    while (sc->streams) {
        struct srv_stream *s = sc->streams;
        sc->streams = s->next;
        free(s->pending);
        free(s);
    }
    free(sc);
}

static void srv_conn_handler(void *user, const macula_quic_event *ev)
{
    struct srv_conn *sc = user;
    struct server *srv = sc->srv;
    struct srv_stream *s;
    switch (ev->type) {
    case MACULA_QUIC_EV_STREAM_OPENED:
        srv_stream(sc, ev->stream_id, 1);
        printf("{\"event\":\"stream_opened\",\"conn\":%lu,\"stream\":%lld}\n", sc->id, (long long)ev->stream_id);
        fflush(stdout);
        break;
    case MACULA_QUIC_EV_STREAM_DATA:
        s = srv_stream(sc, ev->stream_id, 1);
        if (!s)
            break;
        s->total += ev->len;
        s->unreported += ev->len;
        if (ev->fin) {
            report_data(sc, s);
            printf("{\"event\":\"fin\",\"conn\":%lu,\"stream\":%lld,\"total\":%llu}\n", sc->id,
                   (long long)ev->stream_id, (unsigned long long)s->total);
            fflush(stdout);
        } else if (!srv->flush_posted && macula_runtime_post(srv->rt, flush_reports, srv) == 0) {
            srv->flush_posted = 1;
        }
        if (srv->echo)
            echo_data(sc, s, ev);
        break;
    case MACULA_QUIC_EV_SEND_READY:
        s = srv_stream(sc, ev->stream_id, 0);
        if (s)
            echo_retry(sc, s);
        break;
    case MACULA_QUIC_EV_STREAM_RESET:
        s = srv_stream(sc, ev->stream_id, 0);
        if (s)
            report_data(sc, s);
        printf("{\"event\":\"reset\",\"conn\":%lu,\"stream\":%lld,\"code\":%llu}\n", sc->id,
               (long long)ev->stream_id, (unsigned long long)ev->error_code);
        fflush(stdout);
        break;
    case MACULA_QUIC_EV_STREAM_CLOSED:
        s = srv_stream(sc, ev->stream_id, 0);
        if (s)
            report_data(sc, s);
        printf("{\"event\":\"stream_closed\",\"conn\":%lu,\"stream\":%lld}\n", sc->id, (long long)ev->stream_id);
        fflush(stdout);
        break;
    case MACULA_QUIC_EV_CLOSED:
        for (s = sc->streams; s; s = s->next)
            report_data(sc, s);
        printf("{\"event\":\"closed\",\"conn\":%lu,", sc->id);
        print_close(stdout, &ev->close);
        printf("}\n");
        fflush(stdout);
        srv_conn_free(sc);
        break;
    default:
        break;
    }
}

/* Diagnostics (e.g. a handshake that failed before a connection existed
 * for us) become JSON lines too, as in every command. */
static void srv_diag(void *user, const char *event, const macula_diag_field *fields, size_t n)
{
    (void)user;
    cli_diag_print(stdout, event, fields, n);
}

static void srv_on_connection(void *user, const macula_quic_event *ev)
{
    struct server *srv = user;
    if (ev->type != MACULA_QUIC_EV_CONNECTED)
        return;
    struct srv_conn *sc = calloc(1, sizeof *sc);
    if (!sc) {
        macula_quic_conn_close(ev->conn, 1, "out of memory");
        return;
    }
    sc->srv = srv;
    sc->conn = ev->conn;
    sc->id = ++srv->next_id;
    sc->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = sc;
    srv->conns = sc;
    char peer[80] = "?";
    macula_quic_conn_peer_addr_string(ev->conn, peer, sizeof peer);
    const char *alpn = macula_quic_conn_alpn(ev->conn);
    printf("{\"event\":\"connection\",\"conn\":%lu,\"peer\":", sc->id);
    cli_json_string(stdout, peer, strlen(peer));
    printf(",\"alpn\":");
    cli_json_string(stdout, alpn ? alpn : "", alpn ? strlen(alpn) : 0);
    printf("}\n");
    fflush(stdout);
    macula_quic_conn_set_owner(ev->conn, srv_conn_handler, sc);
}

static int cmd_serve(int argc, char **argv)
{
    const char *listen = NULL, *keyfile = NULL;
    const char *alpn[MACULA_QUIC_MAX_ALPN];
    size_t n_alpn = 0;
    int echo = 0;
    macula_quic_endpoint_options o;
    macula_quic_endpoint_options_init(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--listen") && v) {
            listen = v;
            i++;
        } else if (!strcmp(a, "--key") && v) {
            keyfile = v;
            i++;
        } else if (!strcmp(a, "--alpn")) {
            if (cli_add_alpn(alpn, &n_alpn, v) != 0)
                return CLI_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "--echo")) {
            echo = 1;
        } else if (!strcmp(a, "--idle-timeout-ms")) {
            if (cli_parse_ms(a, v, 0, &o.settings.idle_timeout_ms) != 0)
                return CLI_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "--max-connections")) {
            uint64_t n;
            if (!v || cli_parse_u64(v, 1, 1000000, &n) != 0) {
                cli_errorf("--max-connections: expected 1..1000000");
                return CLI_EXIT_USAGE;
            }
            o.max_connections = (size_t)n;
            i++;
        } else if (!strcmp(a, "--max-pending")) {
            uint64_t n;
            if (!v || cli_parse_u64(v, 1, 10000000, &n) != 0) {
                cli_errorf("--max-pending: expected 1..10000000");
                return CLI_EXIT_USAGE;
            }
            o.max_pending = (size_t)n;
            i++;
        } else if (!strcmp(a, "--retry")) {
            if (cli_parse_retry(v, &o.retry) != 0)
                return CLI_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            return quic_usage(stdout);
        } else {
            return cli_usage_error(quic_usage, "quic serve: unexpected argument '%s'", a);
        }
    }
    if (!listen || !keyfile)
        return cli_usage_error(quic_usage, "quic serve: --listen and --key are required");
    char *host = NULL;
    uint16_t port;
    if (cli_parse_host_port("--listen", listen, 1, &host, &port) != 0)
        return CLI_EXIT_USAGE;
    macula_identity *id = cli_load_key(keyfile);
    if (!id) {
        free(host);
        return CLI_EXIT_USAGE;
    }
    /* SIGINT/SIGTERM end the server through sigwait on this thread; the
     * loop runs on the runtime's own thread. */
    sigset_t sigs;
    cli_block_stop_signals(&sigs);
    int err = 0;

    struct server srv;
    memset(&srv, 0, sizeof srv);
    srv.echo = echo;
    int status = CLI_EXIT_OK;
    macula_runtime_options ro;
    macula_runtime_options_init(&ro);
    ro.diag = srv_diag;
    srv.rt = macula_runtime_new(&ro, &err);
    if (!srv.rt) {
        cli_errorf("runtime: %s", macula_strerror(err));
        status = CLI_EXIT_PROTOCOL;
        goto out;
    }
    o.bind_host = host;
    o.bind_port = port;
    o.identity = id;
    o.on_connection = srv_on_connection;
    o.on_connection_user = &srv;
    o.alpn = n_alpn ? alpn : NULL;
    o.n_alpn = n_alpn;
    macula_quic_endpoint *ep = macula_quic_endpoint_new(srv.rt, &o, &err);
    if (!ep) {
        cli_errorf("cannot listen on %s: %s", listen, macula_strerror(err));
        status = CLI_EXIT_PROTOCOL;
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sslen;
    char addr[80] = "?";
    if (macula_quic_endpoint_local_addr(ep, &ss, &sslen) == 0) {
        if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof addr);
        else
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
    }
    cli_listening_print(stdout, addr, macula_quic_endpoint_port(ep), macula_identity_node_id(id));
    if (cli_run_until_signal_then(srv.rt, &sigs, print_ep_stats, ep) != 0)
        status = CLI_EXIT_PROTOCOL;
out:
    macula_runtime_free(srv.rt);
    macula_identity_free(id);
    free(host);
    return status;
}

/* ===================================================================== */
/* dial                                                                  */
/* ===================================================================== */

#define DIAL_CHUNK (256 * 1024)
#define DIAL_CHUNKS 4 /* stdin chunks in flight between the reader and the loop */

struct chunk {
    uint8_t data[DIAL_CHUNK];
    size_t len; /* 0 = EOF marker */
    size_t off; /* bytes already queued on the stream */
};

struct dialer {
    macula_runtime *rt;
    macula_quic_conn *conn;
    int64_t sid;
    int have_stream;
    /* stdin reader thread <-> loop */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int free_chunks;  /* chunks the reader may fill */
    int stopping;     /* the loop is ending: the reader must not post */
    struct chunk *ready[DIAL_CHUNKS + 1]; /* loop side FIFO */
    size_t ready_head, ready_len;
    int eof_seen;
    int fin_sent;
    int peer_fin;
    int done;
    int status;
    int write_failed;
    /* stdout: stream bytes are gathered and written in big pieces; a blocking
     * write stalls the loop, so a slow reader of stdout slows the server
     * through our receive window. */
    uint8_t *out;
    size_t out_len;
    int out_flush_posted;
};

#define DIAL_OUT_BUF (1024 * 1024)

static void dial_finish(struct dialer *d, int status)
{
    if (d->done)
        return;
    d->done = 1;
    d->status = status;
    if (d->conn)
        macula_quic_conn_close(d->conn, status == 0 ? 0 : 1, status == 0 ? NULL : "dial client failed");
}

static void release_chunk(struct dialer *d, struct chunk *ch)
{
    free(ch);
    pthread_mutex_lock(&d->mu);
    d->free_chunks++;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* Loop: moves ready stdin chunks into the stream's send queue until it
 * pushes back; SEND_READY calls this again. */
static void dial_pump(struct dialer *d)
{
    if (!d->have_stream || d->done)
        return;
    while (d->ready_len) {
        struct chunk *ch = d->ready[d->ready_head];
        if (ch->len == 0) {
            if (!d->fin_sent && macula_quic_conn_shutdown_stream(d->conn, d->sid) == 0)
                d->fin_sent = 1;
        } else {
            int rc = macula_quic_conn_send(d->conn, d->sid, ch->data + ch->off, ch->len - ch->off, 0);
            if (rc == MACULA_ERR_WOULD_BLOCK)
                return;
            if (rc != 0) {
                cli_errorf("send: %s", macula_strerror(rc));
                dial_finish(d, CLI_EXIT_PROTOCOL);
                return;
            }
        }
        d->ready_head = (d->ready_head + 1) % (DIAL_CHUNKS + 1);
        d->ready_len--;
        release_chunk(d, ch);
    }
}

struct chunk_post {
    struct dialer *d;
    struct chunk *ch;
};

static void on_chunk(void *arg)
{
    struct chunk_post *p = arg;
    struct dialer *d = p->d;
    d->ready[(d->ready_head + d->ready_len) % (DIAL_CHUNKS + 1)] = p->ch;
    d->ready_len++;
    free(p);
    dial_pump(d);
}

static void *stdin_reader(void *arg)
{
    struct dialer *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        while (d->free_chunks == 0 && !d->stopping)
            pthread_cond_wait(&d->cv, &d->mu);
        int stop = d->stopping;
        if (!stop)
            d->free_chunks--;
        pthread_mutex_unlock(&d->mu);
        if (stop)
            return NULL;
        struct chunk *ch = malloc(sizeof *ch);
        struct chunk_post *p = malloc(sizeof *p);
        if (!ch || !p) {
            free(ch);
            free(p);
            return NULL;
        }
        ch->off = 0;
        ch->len = 0;
        for (;;) {
            /* One read: whatever arrived goes out at once (interactive use);
             * files and busy pipes fill the chunk anyway. */
            ssize_t n = read(STDIN_FILENO, ch->data, DIAL_CHUNK);
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0)
                ch->len = (size_t)n;
            break;
        }
        int eof = ch->len == 0;
        p->d = d;
        p->ch = ch;
        pthread_mutex_lock(&d->mu);
        int posted = !d->stopping && macula_runtime_post(d->rt, on_chunk, p) == 0;
        pthread_mutex_unlock(&d->mu);
        if (!posted) {
            free(ch);
            free(p);
            return NULL;
        }
        if (eof)
            return NULL;
    }
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void dial_flush_out(struct dialer *d)
{
    if (d->out_len && !d->write_failed && write_all(STDOUT_FILENO, d->out, d->out_len) != 0) {
        d->write_failed = 1;
        cli_errorf("stdout: %s", strerror(errno));
        dial_finish(d, CLI_EXIT_PROTOCOL);
    }
    d->out_len = 0;
}

static void dial_flush_posted(void *arg)
{
    struct dialer *d = arg;
    d->out_flush_posted = 0;
    dial_flush_out(d);
}

static void dial_output(struct dialer *d, const uint8_t *p, size_t len)
{
    if (d->out_len + len > DIAL_OUT_BUF)
        dial_flush_out(d);
    if (len >= DIAL_OUT_BUF) {
        d->out_len = 0;
        if (!d->write_failed && write_all(STDOUT_FILENO, p, len) != 0) {
            d->write_failed = 1;
            dial_finish(d, CLI_EXIT_PROTOCOL);
        }
        return;
    }
    memcpy(d->out + d->out_len, p, len);
    d->out_len += len;
    /* Written once this burst of packets has been handled. */
    if (!d->out_flush_posted && macula_runtime_post(d->rt, dial_flush_posted, d) == 0)
        d->out_flush_posted = 1;
}

static void dial_handler(void *user, const macula_quic_event *ev)
{
    struct dialer *d = user;
    switch (ev->type) {
    case MACULA_QUIC_EV_CONNECTED:
        if (macula_quic_conn_open_stream(d->conn, &d->sid) != 0) {
            cli_errorf("cannot open a stream");
            dial_finish(d, CLI_EXIT_PROTOCOL);
            break;
        }
        d->have_stream = 1;
        dial_pump(d);
        break;
    case MACULA_QUIC_EV_SEND_READY:
        dial_pump(d);
        break;
    case MACULA_QUIC_EV_STREAM_DATA:
        /* A blocking write: a slow stdout stalls the loop, which stops
         * reading, and the server stops at our receive window. */
        if (ev->len)
            dial_output(d, ev->data, ev->len);
        if (ev->fin) {
            d->peer_fin = 1;
            dial_flush_out(d);
        }
        break;
    case MACULA_QUIC_EV_STREAM_RESET:
        cli_errorf("the server reset the stream (code %llu)", (unsigned long long)ev->error_code);
        dial_finish(d, CLI_EXIT_PROTOCOL);
        break;
    case MACULA_QUIC_EV_STREAM_CLOSED:
        /* Peer's FIN received and all we sent acknowledged. */
        if (d->have_stream && ev->stream_id == d->sid && d->peer_fin && d->fin_sent)
            dial_finish(d, CLI_EXIT_OK);
        break;
    case MACULA_QUIC_EV_CLOSED:
        dial_flush_out(d);
        if (!d->done || d->status != CLI_EXIT_OK) {
            if (!d->done || ev->close.cause != MACULA_QUIC_CLOSE_LOCAL) {
                cli_errorf("%s: %s (%s)",
                        ev->close.cause == MACULA_QUIC_CLOSE_DIAL_FAILED ? "dial failed"
                        : ev->close.cause == MACULA_QUIC_CLOSE_HANDSHAKE_FAILED ? "handshake failed"
                                                                              : "connection closed",
                        ev->close.reason[0] ? ev->close.reason : macula_quic_close_cause_name(ev->close.cause),
                        ev->close.err ? macula_err_name(ev->close.err) : macula_quic_close_cause_name(ev->close.cause));
            }
            if (!d->done)
                d->status = CLI_EXIT_PROTOCOL;
            d->done = 1;
        }
        d->conn = NULL;
        macula_runtime_stop(d->rt);
        break;
    default:
        break;
    }
}

static int cmd_dial(int argc, char **argv)
{
    const char *target = NULL, *server_name = NULL, *pin_hex = NULL;
    const char *alpn[MACULA_QUIC_MAX_ALPN];
    size_t n_alpn = 0;
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--alpn")) {
            if (cli_add_alpn(alpn, &n_alpn, v) != 0)
                return CLI_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "--pin") && v) {
            pin_hex = v;
            i++;
        } else if (!strcmp(a, "--server-name") && v) {
            server_name = v;
            i++;
        } else if (!strcmp(a, "--timeout-ms")) {
            if (cli_parse_ms(a, v, 0, &o.timeout_ms) != 0)
                return CLI_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "--idle-timeout-ms")) {
            if (cli_parse_ms(a, v, 0, &o.settings.idle_timeout_ms) != 0)
                return CLI_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            return quic_usage(stdout);
        } else if (a[0] != '-' && !target) {
            target = a;
        } else {
            return cli_usage_error(quic_usage, "quic dial: unexpected argument '%s'", a);
        }
    }
    if (!target)
        return cli_usage_error(quic_usage, "quic dial: ADDR:PORT is required");
    char *host = NULL;
    uint16_t port;
    if (cli_parse_host_port("quic dial", target, 0, &host, &port) != 0)
        return CLI_EXIT_USAGE;
    uint8_t pin[MACULA_PUBKEY_LEN];
    if (pin_hex) {
        if (cli_read_hex_fixed(pin_hex, "--pin", pin, sizeof pin) != 0) {
            free(host);
            return CLI_EXIT_USAGE;
        }
        o.verify = MACULA_QUIC_VERIFY_PIN;
        o.pin_ed25519 = pin;
    } else {
        cli_errorf("warning: no --pin: the server's certificate is not checked");
    }
    signal(SIGPIPE, SIG_IGN);
    o.host = host;
    o.port = port;
    o.alpn = n_alpn ? alpn : NULL;
    o.n_alpn = n_alpn;
    o.server_name = server_name;

    static struct dialer d; /* static: the detached reader may touch it until exit */
    memset(&d, 0, sizeof d);
    d.status = CLI_EXIT_PROTOCOL;
    d.free_chunks = DIAL_CHUNKS;
    d.out = malloc(DIAL_OUT_BUF);
    int err = MACULA_ERR_NOMEM;
    d.rt = d.out ? macula_runtime_new(NULL, &err) : NULL;
    if (!d.rt) {
        cli_errorf("runtime: %s", macula_strerror(err));
        free(d.out);
        free(host);
        return CLI_EXIT_PROTOCOL;
    }
    pthread_mutex_init(&d.mu, NULL);
    pthread_cond_init(&d.cv, NULL);
    d.conn = macula_quic_dial(d.rt, NULL, &o, dial_handler, &d, &err);
    if (!d.conn) {
        /* Only options the transport refuses fail here (bad usage), or a
         * lack of resources. */
        cli_errorf("dial %s: %s", target, macula_strerror(err));
        macula_runtime_free(d.rt);
        free(d.out);
        free(host);
        return err == MACULA_ERR_INVALID_ARG ? CLI_EXIT_USAGE : CLI_EXIT_PROTOCOL;
    }
    pthread_t reader;
    int have_reader = pthread_create(&reader, NULL, stdin_reader, &d) == 0;
    if (!have_reader) {
        cli_errorf("cannot start the stdin reader");
        dial_finish(&d, CLI_EXIT_PROTOCOL);
    }
    macula_runtime_run(d.rt);
    pthread_mutex_lock(&d.mu);
    d.stopping = 1;
    pthread_cond_broadcast(&d.cv);
    pthread_mutex_unlock(&d.mu);
    /* The reader may sit in read(stdin) forever (a terminal): it no longer
     * posts, so leave it; process exit ends it. */
    if (have_reader)
        pthread_detach(reader);
    while (d.ready_len) {
        free(d.ready[d.ready_head]);
        d.ready_head = (d.ready_head + 1) % (DIAL_CHUNKS + 1);
        d.ready_len--;
    }
    macula_runtime_free(d.rt);
    dial_flush_out(&d);
    free(d.out);
    free(host);
    return d.status;
}

int cli_quic(int argc, char **argv)
{
    static const cli_subcommand cmds[] = {
        {"serve", cmd_serve, 1},
        {"dial", cmd_dial, 1},
    };
    return cli_dispatch(argc, argv, cmds, sizeof cmds / sizeof cmds[0], quic_usage);
}
