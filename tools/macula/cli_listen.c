/* SPDX-License-Identifier: Apache-2.0 */
/* `macula listen`: accepts Macula peers and prints one JSON line per event
 * until SIGINT/SIGTERM, then shuts down gracefully (GOODBYE to every
 * connected peer, within the drain). The runtime runs on its own thread;
 * events are formatted (and echoed) in its handlers and written to stdout
 * by a writer thread (cli_out.h), so a slow stdout never stalls the loop. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_out.h"

static int listen_usage(FILE *f)
{
    fprintf(f,
            "usage: macula listen --listen ADDR:PORT --key FILE [--realm HEX]... [--capabilities N]\n"
            "                     [--echo] [--max-handshaking N] [--close-duplicates] [--refuse CODE]\n"
            "                     [--cert CERT.pem --cert-key KEY.pem] [--max-pending N]\n"
            "                     [--max-pending-per-addr N] [--pending-budget-mb N] [--max-connections N]\n"
            "                     [--retry auto|always|never] [options below]\n"
            "\n"
            "Accepts Macula peers on ADDR:PORT (port 0 picks one) and prints one JSON object per\n"
            "line on stdout, until SIGINT/SIGTERM, which sends GOODBYE (reason \"shutdown\") to every\n"
            "connected peer and ends within the drain (exit 0):\n"
            "  {\"event\":\"listening\",\"address\":\"127.0.0.1\",\"port\":4433,\"node_id\":\"<hex>\"}\n"
            "  {\"event\":\"connected\",\"conn\":1,\"peer\":\"<node id hex>\"}\n"
            "  {\"event\":\"handshake_complete\",\"conn\":1,\"peer\":\"<hex>\"}\n"
            "  {\"event\":\"frame\",\"conn\":1,\"peer\":\"<hex>\",\"stream\":0,\"frame_type\":\"publish\",\"wire_len\":210,\"diag\":\"{...}\"}\n"
            "      (\"stream\": the stream it came on; 0 is the control stream, others are dedicated\n"
            "       streams, PROTOCOL.md §6.2)\n"
            "  {\"event\":\"stream_opened\",\"conn\":1,\"peer\":\"<hex>\",\"stream\":4,\"by\":\"peer\"}   (or \"local\")\n"
            "  {\"event\":\"stream_closed\",\"conn\":1,\"peer\":\"<hex>\",\"stream\":4,\"how\":\"fin\"}\n"
            "      (how: fin = the peer finished it; reset (+ \"code\") = reset by either side;\n"
            "       connection = the connection ended first; \"detail\" only when there is one)\n"
            "  {\"event\":\"disconnected\",\"conn\":1,\"peer\":\"<hex>\",\"reason\":\"peer_closed\",\"detail\":\"...\",\n"
            "   \"cause\":\"peer_closed\"}\n"
            "      (reason: connect_failed, handshake_timeout, connect_verify_failed, refused (+ refusal_code),\n"
            "       closed_during_handshake, peer_closed, drained, peer_closed_during_drain, frame_too_large,\n"
            "       peer_identity_mismatch, closed, ...; \"detail\" only when there is one; \"cause\": the\n"
            "       error name: ok, shutting_down, refused, timeout, resolve, tls, pin_mismatch, alpn,\n"
            "       idle_timeout, peer_closed, stream_closed, handshake_timeout, signature_invalid, ...)\n"
            "  {\"event\":\"send_ready\",\"conn\":1,\"peer\":\"<hex>\"} (room again after a full send queue)\n"
            "  {\"event\":\"diag\",\"name\":\"frame_dropped\",\"fields\":{\"peer\":\"1\",\"state\":\"connected\",...}}\n"
            "  \"conn\" is the peer's serial number in this process. A PUBLISH/EVENT frame that carries\n"
            "  a publisher_sig also gets \"publisher_sig\":\"valid\" or \"invalid\" (checked against its\n"
            "  own \"publisher\" key).\n"
            "\n");
    fprintf(f,
            "  --listen ADDR:PORT         numeric address to bind (required)\n" CLI_PEER_ARGS_USAGE
            "  --echo                     send every received frame but GOODBYE back as received\n"
            "                             (not signed by us), on its stream; finish a dedicated\n"
            "                             stream when the peer did\n"
            "  --max-handshaking N        close connections beyond N not yet connected (\"busy\", code 1)\n"
            "  --close-duplicates         a second connection of a node id replaces the first\n"
            "                             (the older one gets GOODBYE \"replaced\")\n"
            "  --refuse CODE              refuse every peer: HELLO accepted=false, refusal_code CODE\n"
            "  --cert FILE --cert-key FILE  serve this PEM certificate chain (leaf first, then any\n"
            "                             intermediates) and key instead of one made from --key\n"
            "                             (which still signs HELLO), e.g. a CA-issued one\n"
            "  --peer-recv-budget BYTES   partial frames all peers together may hold (default 268435456)\n"
            "  --peer-send-budget BYTES   frames queued towards all peers together (default 268435456)\n"
            "  --out-buffer BYTES         lines waiting for stdout kept at most (default 8388608); a\n"
            "                             slow reader never stalls the peers: lines beyond it are\n"
            "                             dropped and then counted in {\"event\":\"lines_dropped\",\"count\":N}\n");
    /* Several calls: one string literal would pass the 4095 bytes C99 promises. */
    fprintf(f,
            "  --max-pending N            connections not yet connected (QUIC handshake or waiting for\n"
            "                             CONNECT) at once; beyond, the oldest is evicted (default 1024,\n"
            "                             and at most the budget below allows: 655 by default)\n"
            "  --max-pending-per-addr N   per source address (IPv4, IPv6 /64) while more than half of\n"
            "                             --max-pending is used; newcomers beyond it are refused (default 64)\n"
            "  --pending-budget-mb N      memory for them at 100 KiB each; lowers the cap (default 64)\n"
            "  --max-connections N        connections at once, beyond refused (default 65536)\n"
            "  --retry MODE               QUIC address validation: auto (while more than half the pending\n"
            "                             cap is used; default), always or never\n"
            "  At exit a line {\"event\":\"stats\",...} gives the listener's counters (pending, evicted,\n"
            "  retry_sent, stray_datagrams, ...).\n"
            "Exit status: 0 after a signal, 1 when the listener cannot start, 2 on bad usage (a key\n"
            "file that cannot be read included).\n");
    return cli_usage_exit(f);
}

typedef struct listen_state {
    macula_runtime *rt;
    int echo;
    int with_wire;
    int64_t refuse_code;
    cli_out *out;
    macula_listener *l; /* for the stats line at exit */
} listen_state;

static void emit_event(listen_state *s, const macula_event *ev)
{
    char *buf;
    size_t len;
    FILE *m = cli_out_open_line(s->out, &buf, &len);
    if (m) {
        cli_event_print(m, ev, s->with_wire);
        cli_out_flush_line(s->out, m, &buf, &len);
    }
}

static void emit_diag(listen_state *s, const char *name, const macula_diag_field *fields, size_t n)
{
    char *buf;
    size_t len;
    FILE *m = cli_out_open_line(s->out, &buf, &len);
    if (m) {
        cli_diag_print(m, name, fields, n);
        cli_out_flush_line(s->out, m, &buf, &len);
    }
}

static void on_event(void *user, macula_event *ev)
{
    listen_state *s = user;
    emit_event(s, ev);
    if (s->echo && ev->type == MACULA_EVENT_FRAME && ev->frame) {
        const char *type = macula_frame_type(ev->frame);
        if (type && strcmp(type, "goodbye") != 0) {
            /* Forwarded: the received bytes as they came, where they came,
             * never signed by us (an unsigned frame goes back unsigned:
             * the echo is no signing oracle). */
            int rc = macula_peer_forward(s->rt, ev->peer, ev->stream, ev);
            if (rc != 0) {
                macula_diag_field f[] = {{"error", macula_err_name(rc)}};
                emit_diag(s, "echo_failed", f, 1);
            }
        }
    }
    /* The peer is done with the stream: so is the mirror. */
    if (s->echo && ev->type == MACULA_EVENT_STREAM_CLOSED && ev->stream_end == MACULA_STREAM_END_FIN) {
        int rc = macula_peer_finish_stream(s->rt, ev->peer, ev->stream);
        if (rc != 0 && rc != MACULA_ERR_STALE_HANDLE) {
            macula_diag_field f[] = {{"error", macula_err_name(rc)}};
            emit_diag(s, "echo_failed", f, 1);
        }
    }
}

static void on_owner(void *user, macula_event *ev) { emit_event(user, ev); }

static void on_diag(void *user, const char *name, const macula_diag_field *fields, size_t n)
{
    emit_diag(user, name, fields, n);
}

static int refuse_all(void *user, const uint8_t node_id[MACULA_NODE_ID_LEN], int64_t *code)
{
    (void)node_id;
    *code = ((listen_state *)user)->refuse_code;
    return 1;
}

/* The listener's counters, printed from the loop thread before the stop. */
/* The stats line goes through the writer too, after the lines before it. */
static void print_stats(void *arg)
{
    listen_state *st = arg;
    macula_quic_endpoint_stats s;
    macula_quic_endpoint_stats_init(&s);
    char *buf;
    size_t len;
    FILE *m;
    if (macula_listener_get_stats(st->l, &s) == 0 && (m = cli_out_open_line(st->out, &buf, &len))) {
        cli_endpoint_stats_print(m, &s);
        cli_out_flush_line(st->out, m, &buf, &len);
    }
}

int cli_listen(int argc, char **argv)
{
    const char *listen = NULL, *cert = NULL, *cert_key = NULL;
    cli_peer_args pa;
    cli_peer_args_init(&pa);
    listen_state st;
    memset(&st, 0, sizeof st);
    st.refuse_code = -2; /* none */
    uint64_t max_handshaking = 0, max_pending = 0, max_pending_addr = 0, budget_mb = 0, max_conns = 0;
    uint64_t out_buffer = CLI_OUT_DEFAULT_CAP, recv_total = 0, send_total = 0;
    macula_quic_retry retry = MACULA_QUIC_RETRY_AUTO;
    int dups = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = cli_peer_args_parse(&pa, argc, argv, &i);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        if (!strcmp(a, "--listen") && v) {
            listen = v;
            i++;
        } else if (!strcmp(a, "--echo")) {
            st.echo = 1;
        } else if (!strcmp(a, "--max-handshaking")) {
            if (!v || cli_parse_u64(v, 1, 10000000, &max_handshaking) != 0) {
                cli_errorf("--max-handshaking: expected 1..10000000");
                return CLI_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--max-pending") || !strcmp(a, "--max-pending-per-addr") ||
                   !strcmp(a, "--pending-budget-mb") || !strcmp(a, "--max-connections")) {
            uint64_t *out = !strcmp(a, "--max-pending")            ? &max_pending
                            : !strcmp(a, "--max-pending-per-addr") ? &max_pending_addr
                            : !strcmp(a, "--pending-budget-mb")    ? &budget_mb
                                                                    : &max_conns;
            if (!v || cli_parse_u64(v, 1, 10000000, out) != 0) {
                cli_errorf("%s: expected 1..10000000", a);
                return CLI_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--retry")) {
            if (cli_parse_retry(v, &retry) != 0)
                return CLI_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "--peer-recv-budget") || !strcmp(a, "--peer-send-budget")) {
            if (!v || cli_parse_u64(v, 1, (uint64_t)1 << 40, !strcmp(a, "--peer-recv-budget") ? &recv_total
                                                                                                : &send_total) != 0) {
                cli_errorf("%s: expected 1..2^40 bytes", a);
                return CLI_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--out-buffer")) {
            if (!v || cli_parse_u64(v, 4096, (uint64_t)1 << 40, &out_buffer) != 0) {
                cli_errorf("--out-buffer: expected 4096..2^40 bytes");
                return CLI_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--close-duplicates")) {
            dups = 1;
        } else if (!strcmp(a, "--refuse")) {
            uint64_t code;
            if (!v || cli_parse_u64(v, 0, INT64_MAX, &code) != 0) {
                cli_errorf("--refuse: expected a refusal code (unsigned)");
                return CLI_EXIT_USAGE;
            }
            st.refuse_code = (int64_t)code;
            i++;
        } else if (!strcmp(a, "--cert") && v) {
            cert = v;
            i++;
        } else if (!strcmp(a, "--cert-key") && v) {
            cert_key = v;
            i++;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            return listen_usage(stdout);
        } else {
            return cli_usage_error(listen_usage, "listen: unexpected argument '%s'", a);
        }
    }
    if (!listen || !pa.key_file)
        return cli_usage_error(listen_usage, "listen: --listen and --key are required");
    if (!cert != !cert_key) {
        cli_errorf("listen: --cert and --cert-key go together");
        return CLI_EXIT_USAGE;
    }
    char *host = NULL;
    uint16_t port;
    if (cli_parse_host_port("--listen", listen, 1, &host, &port) != 0)
        return CLI_EXIT_USAGE;
    int err = 0;
    macula_identity *id = cli_load_key(pa.key_file);
    if (!id) {
        free(host);
        return CLI_EXIT_USAGE;
    }
    /* Signals end the program through sigwait on this thread. */
    sigset_t sigs;
    cli_block_stop_signals(&sigs);

    int status = CLI_EXIT_PROTOCOL;
    fflush(stdout);
    st.out = cli_out_start(STDOUT_FILENO, (size_t)out_buffer);
    if (!st.out) {
        cli_errorf("listen: cannot start the output thread");
        macula_identity_free(id);
        free(host);
        return CLI_EXIT_PROTOCOL;
    }
    macula_runtime_options ro;
    macula_runtime_options_init(&ro);
    ro.diag = on_diag;
    ro.diag_user = &st;
    ro.peer_recv_budget = (size_t)recv_total;
    ro.peer_send_budget = (size_t)send_total;
    /* The graceful stop lasts as long as the drain it promises. */
    if (pa.drain_ms)
        ro.shutdown_timeout_ms = pa.drain_ms + 1000;
    st.rt = macula_runtime_new(&ro, &err);
    st.with_wire = pa.with_wire;
    if (!st.rt) {
        cli_errorf("runtime: %s", macula_strerror(err));
        goto out;
    }
    macula_peer_options po;
    macula_peer_options_init(&po);
    cli_peer_args_apply(&pa, &po);
    po.handler = on_event;
    po.handler_user = &st;
    po.accept_owner = on_owner;
    po.accept_owner_user = &st;
    if (st.refuse_code >= 0) {
        po.admit = refuse_all;
        po.admit_user = &st;
    }
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    lo.bind_host = host;
    lo.bind_port = port;
    lo.identity = id;
    lo.cert_pem_file = cert;
    lo.key_pem_file = cert_key;
    lo.alpn = po.alpn;
    lo.n_alpn = po.n_alpn;
    if (pa.idle_ms)
        lo.quic.idle_timeout_ms = pa.idle_ms;
    if (pa.keepalive_set)
        lo.quic.keepalive_ms = pa.keepalive_ms;
    lo.quic.low_memory = pa.low_memory;
    lo.auto_accept = &po;
    lo.max_handshaking = (size_t)max_handshaking;
    lo.close_duplicate_peers = dups;
    lo.max_pending = (size_t)max_pending;
    lo.max_pending_per_addr = (size_t)max_pending_addr;
    lo.pending_budget = (size_t)budget_mb * 1024u * 1024u;
    lo.max_connections = (size_t)max_conns;
    lo.retry = retry;
    const char *why = NULL;
    macula_listener *l = macula_listener_new(st.rt, &lo, &err, &why); /* before the loop runs */
    if (!l) {
        cli_errorf("cannot listen on %s: %s (%s)", listen, macula_strerror(err), why ? why : "");
        goto out;
    }
    {
        char *buf;
        size_t len;
        FILE *m = cli_out_open_line(st.out, &buf, &len);
        if (m) {
            cli_listening_print(m, host, macula_listener_port(l), macula_identity_node_id(id));
            cli_out_flush_line(st.out, m, &buf, &len);
        }
    }
    st.l = l;
    if (cli_run_until_signal_then(st.rt, &sigs, print_stats, &st) == 0)
        status = CLI_EXIT_OK;
out:
    macula_runtime_free(st.rt);
    cli_out_stop(st.out); /* after the runtime: its last lines are queued */
    macula_identity_free(id);
    free(host);
    return status;
}
