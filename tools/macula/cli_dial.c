/* SPDX-License-Identifier: Apache-2.0 */
/* `macula dial`: connects to a Macula peer, sends the frames asked for once
 * connected, prints one JSON line per event, and closes with GOODBYE. The
 * runtime runs on its own thread; this thread reads the events from a
 * mailbox (and SIGINT/SIGTERM from a signalfd: the first one closes
 * gracefully). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define DEFAULT_CLOSE_AFTER_MS 1000u
#define MAX_ITEMS 4096
#define MAX_STREAMS 64

static int dial_usage(FILE *f)
{
    fprintf(f,
            "usage: macula dial ADDR:PORT --key FILE [--expect NODE_ID_HEX] [--verify pin|pki|none]\n"
            "                   [--ca FILE] [--server-name NAME] [--realm HEX]...\n"
            "                   [--capabilities N] [--send WIRE_HEX]... [--publish TEXT]...\n"
            "                   [--no-publisher-sig] [--stream-publish TEXT]... [--next-stream]\n"
            "                   [--close-after MS] [--frames N] [--reason TEXT] [options below]\n"
            "\n"
            "Connects (QUIC, then CONNECT/HELLO), sends the --send and --publish frames in the\n"
            "order given, prints one JSON object per event on stdout (the lines of\n"
            "'macula listen --help': connected, frame, disconnected, diag), and closes with\n"
            "GOODBYE --close-after MS after connecting (default 1000), or as soon as --frames N\n"
            "frames have come back (on any stream) and every stream it opened has closed.\n"
            "SIGINT/SIGTERM close at once (GOODBYE); a second one exits.\n"
            "\n"
            "  --expect NODE_ID_HEX       accept only this peer: the HELLO's verified node id must be\n"
            "                             it (else peer_identity_mismatch), and with --verify pin\n"
            "                             (its default) the TLS certificate must carry this Ed25519\n"
            "                             key (else connect_failed, pin_mismatch)\n"
            "  --verify pin|pki|none      the TLS check (PROTOCOL.md 6.4): pin (needs --expect; the\n"
            "                             default with it), pki (the certificate chain against the\n"
            "                             system trust store or --ca, and the host name: --server-name\n"
            "                             or the dialed host), none (the default without --expect:\n"
            "                             nothing checked). pki and none with --expect check the\n"
            "                             HELLO only (10.0.0's pin_tls_cert => false)\n"
            "  --ca FILE                  --verify pki: trust these PEM CA certificates instead of the\n"
            "                             system store\n"
            "  --server-name NAME         TLS server name (SNI) and the host name pki checks\n"
            );
    /* Two calls: one string literal may not exceed 4095 bytes (C99 limit). */
    fprintf(f,
            "  --send WIRE_HEX            a ready wire frame (length prefix included; @FILE or -\n"
            "                             for stdin), sent as is (repeatable)\n"
            "  --publish TEXT             a PUBLISH signed with --key: topic \"cli\" (bytes), payload\n"
            "                             TEXT (bytes), realm = first --realm or 32 zero bytes,\n"
            "                             publisher = own node id, seq 0, 1, ..., published_at_ms = now,\n"
            "                             publisher_sig by --key (as Macula 10 clients send it)\n"
            "  --no-publisher-sig         --publish / --stream-publish frames without publisher_sig (the\n"
            "                             4.3.0 field set)\n"
            "  --stream-publish TEXT      a PUBLISH built as --publish, sent on a dedicated QUIC stream\n"
            "                             (PROTOCOL.md §6.2) that dial opens once connected and\n"
            "                             finishes (FIN) after its last frame (repeatable: one stream)\n"
            "  --next-stream              later --stream-publish frames go on another dedicated stream\n"
            "                             Stream lines: {\"event\":\"stream_opened\",...,\"stream\":4,\"by\":\"local\"},\n"
            "                             {\"event\":\"stream_closed\",...,\"stream\":4,\"how\":\"fin\"} (see\n"
            "                             'macula listen --help'); frame lines carry \"stream\" (0 = control)\n"
            "  --close-after MS           when to close after connecting (default 1000)\n"
            "  --frames N                 close as soon as N frames have arrived\n"
            "  --reason TEXT              the GOODBYE reason (default \"normal\")\n"
            "  --timeout-ms N             QUIC dial deadline (default 30000)\n" CLI_PEER_ARGS_USAGE
            "Exit status: 0 when the session went as asked (connected, everything sent, closed by\n"
            "us and ended drained or peer_closed_during_drain); 1 for a protocol-level failure\n"
            "(connect_failed, refused, peer_identity_mismatch, ..., or the peer closing first; the\n"
            "reason is on stderr too); 2 for bad usage (a key file that cannot be read included).\n");
    return cli_usage_exit(f);
}

typedef struct item {
    const char *text; /* --publish, --stream-publish */
    uint8_t *wire;    /* --send */
    size_t len;
    int group;        /* --stream-publish: which dedicated stream; -1 = the control stream */
} item;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Opens the dedicated streams (n_groups), sends every item on its stream
 * and finishes the dedicated streams; 0 or the first error (printed). */
static int send_items(macula_runtime *rt, macula_peer p, const macula_identity *id, const item *items, size_t n,
                      const uint8_t *realm, unsigned publish_flags, int n_groups, macula_stream *sids)
{
    uint64_t seq = 0;
    for (int g = 0; g < n_groups; g++) {
        int rc = macula_peer_open_stream(rt, p, &sids[g]);
        if (rc != 0) {
            cli_errorf("open stream #%d: %s", g + 1, macula_strerror(rc));
            return rc;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int rc;
        macula_stream sid = items[i].group >= 0 ? sids[items[i].group] : MACULA_STREAM_CONTROL;
        if (items[i].wire) {
            rc = macula_peer_send_wire(rt, p, items[i].wire, items[i].len);
        } else {
            int err = 0;
            size_t tlen = strlen(items[i].text);
            macula_frame *f = macula_frame_publish_ex(id, realm, "cli", 3, macula_value_bytes(items[i].text, tlen),
                                                      seq++, -1, 0, publish_flags, &err);
            rc = f ? macula_peer_send_frame_on(rt, p, sid, f) : err;
        }
        if (rc != 0) {
            cli_errorf("send %s #%zu: %s",
                       items[i].wire ? "--send" : items[i].group >= 0 ? "--stream-publish" : "--publish", i + 1,
                       macula_strerror(rc));
            return rc;
        }
    }
    for (int g = 0; g < n_groups; g++) {
        int rc = macula_peer_finish_stream(rt, p, sids[g]);
        if (rc != 0) {
            cli_errorf("finish stream %lld: %s", (long long)sids[g], macula_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* The runtime's diagnostics, as the promised "diag" lines (loop thread;
 * cli_diag_print locks stdout against the event lines of this thread). */
static void on_diag(void *user, const char *name, const macula_diag_field *fields, size_t n)
{
    (void)user;
    cli_diag_print(stdout, name, fields, n);
}

/* The mode a --verify value names, or -2. */
static int parse_verify(const char *v)
{
    if (!v)
        return -2;
    if (!strcmp(v, "pin"))
        return MACULA_QUIC_VERIFY_PIN;
    if (!strcmp(v, "pki"))
        return MACULA_QUIC_VERIFY_PKI;
    if (!strcmp(v, "none"))
        return MACULA_QUIC_VERIFY_NONE;
    return -2;
}

int cli_dial(int argc, char **argv)
{
    const char *target = NULL, *expect_hex = NULL, *reason = NULL;
    const char *ca_file = NULL, *server_name = NULL;
    int verify = -1;
    cli_peer_args pa;
    cli_peer_args_init(&pa);
    uint32_t close_after = DEFAULT_CLOSE_AFTER_MS, timeout_ms = 0;
    uint64_t want_frames = 0;
    unsigned publish_flags = 0; /* --no-publisher-sig */
    item *items = calloc(MAX_ITEMS, sizeof *items);
    size_t n_items = 0;
    int group = 0, n_groups = 0; /* the --stream-publish stream being filled; streams used */
    macula_stream sids[MAX_STREAMS];
    int status = CLI_EXIT_USAGE;
    if (!items) {
        cli_errorf("out of memory");
        return CLI_EXIT_PROTOCOL;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = cli_peer_args_parse(&pa, argc, argv, &i);
        if (r < 0)
            goto out_items;
        if (r > 0)
            continue;
        if (!strcmp(a, "--expect") && v) {
            expect_hex = v;
            i++;
        } else if (!strcmp(a, "--verify")) {
            verify = parse_verify(v);
            if (verify < 0) {
                cli_usage_error(dial_usage, "--verify: expected pin, pki or none");
                goto out_items;
            }
            i++;
        } else if (!strcmp(a, "--ca") && v) {
            ca_file = v;
            i++;
        } else if (!strcmp(a, "--server-name") && v) {
            server_name = v;
            i++;
        } else if (!strcmp(a, "--next-stream")) {
            if (group < n_groups)
                group = n_groups; /* the next --stream-publish starts a new stream */
        } else if ((!strcmp(a, "--send") || !strcmp(a, "--publish") || !strcmp(a, "--stream-publish")) && v) {
            if (n_items == MAX_ITEMS) {
                cli_errorf("%s: at most %d --send/--publish/--stream-publish frames", a, MAX_ITEMS);
                goto out_items;
            }
            item *it = &items[n_items];
            it->group = -1;
            if (!strcmp(a, "--publish")) {
                it->text = v;
            } else if (!strcmp(a, "--stream-publish")) {
                if (group >= MAX_STREAMS) {
                    cli_errorf("--stream-publish: at most %d streams", MAX_STREAMS);
                    goto out_items;
                }
                it->text = v;
                it->group = group;
                if (group + 1 > n_groups)
                    n_groups = group + 1;
            } else {
                if (cli_read_hex_arg(v, "--send", &it->wire, &it->len) != 0)
                    goto out_items;
                /* exactly one well-formed frame, checked before dialing */
                macula_frame *f = NULL;
                size_t used = 0;
                int rc = macula_frame_decode(it->wire, it->len, &f, &used, NULL);
                macula_frame_free(f);
                if (rc != 0 || used != it->len) {
                    cli_errorf("--send #%zu: not exactly one wire frame (%s)", n_items + 1,
                               rc ? macula_err_name(rc) : "bytes after the frame");
                    free(it->wire);
                    it->wire = NULL;
                    goto out_items;
                }
            }
            n_items++;
            i++;
        } else if (!strcmp(a, "--no-publisher-sig")) {
            publish_flags |= MACULA_PUBLISH_NO_PUBLISHER_SIG;
        } else if (!strcmp(a, "--close-after")) {
            if (cli_parse_ms(a, v, 1, &close_after) != 0)
                goto out_items;
            i++;
        } else if (!strcmp(a, "--frames")) {
            if (!v || cli_parse_u64(v, 1, UINT32_MAX, &want_frames) != 0) {
                cli_errorf("--frames: expected a count");
                goto out_items;
            }
            i++;
        } else if (!strcmp(a, "--reason") && v) {
            reason = v;
            i++;
        } else if (!strcmp(a, "--timeout-ms")) {
            if (cli_parse_ms(a, v, 0, &timeout_ms) != 0)
                goto out_items;
            i++;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            status = dial_usage(stdout);
            goto out_items;
        } else if (a[0] != '-' && !target) {
            target = a;
        } else {
            cli_usage_error(dial_usage, "dial: unexpected argument '%s'", a);
            goto out_items;
        }
    }
    if (!target || !pa.key_file) {
        cli_usage_error(dial_usage, "dial: ADDR:PORT and --key are required");
        goto out_items;
    }
    if (verify == MACULA_QUIC_VERIFY_PIN && !expect_hex) {
        cli_usage_error(dial_usage, "dial: --verify pin needs --expect (the key to pin)");
        goto out_items;
    }
    if (ca_file && verify != MACULA_QUIC_VERIFY_PKI) {
        cli_usage_error(dial_usage, "dial: --ca goes with --verify pki");
        goto out_items;
    }
    char *host = NULL;
    uint16_t port;
    if (cli_parse_host_port("dial", target, 0, &host, &port) != 0)
        goto out_host;
    uint8_t expect[MACULA_NODE_ID_LEN];
    if (expect_hex && cli_read_hex_fixed(expect_hex, "--expect", expect, sizeof expect) != 0)
        goto out_host;
    int err = 0;
    macula_identity *id = cli_load_key(pa.key_file);
    if (!id)
        goto out_host;
    static const uint8_t zero_realm[MACULA_REALM_LEN];
    const uint8_t *realm = pa.n_realms ? pa.realms : zero_realm;

    sigset_t sigs;
    cli_block_stop_signals(&sigs); /* before the runtime thread exists: it inherits the mask */
    int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

    status = CLI_EXIT_PROTOCOL;
    macula_runtime_options ro;
    macula_runtime_options_init(&ro);
    ro.diag = on_diag;
    macula_mailbox *mb = macula_mailbox_new(0, &err);
    macula_runtime *rt = mb ? macula_runtime_new(&ro, &err) : NULL;
    if (!rt || macula_runtime_start(rt) != 0) {
        cli_errorf("runtime: %s", macula_strerror(err));
        goto out_rt;
    }
    macula_peer_options po;
    macula_peer_options_init(&po);
    cli_peer_args_apply(&pa, &po);
    po.identity = id;
    po.handler = macula_mailbox_handler;
    po.handler_user = mb;
    po.host = host;
    po.port = port;
    if (timeout_ms)
        po.connect_timeout_ms = timeout_ms;
    po.expected_node_id = expect_hex ? expect : NULL;
    if (verify >= 0 && verify != MACULA_QUIC_VERIFY_PIN) {
        po.verify = (macula_quic_verify)verify;
        po.hello_only = expect_hex != NULL; /* pki/none with --expect: the HELLO check only */
    }
    po.ca_file = ca_file;
    po.server_name = server_name;
    const char *why = NULL;
    macula_peer p = macula_peer_connect(rt, &po, &err, &why);
    if (!p) {
        cli_errorf("dial %s: %s (%s)", target, macula_strerror(err), why ? why : "");
        status = err == MACULA_ERR_INVALID_ARG ? CLI_EXIT_USAGE : CLI_EXIT_PROTOCOL;
        goto out_rt;
    }

    int connected = 0, sent_ok = 0, closing = 0, done = 0, signals = 0;
    int streams_open = 0; /* our dedicated streams not yet closed */
    uint64_t frames = 0, close_at = 0;
    macula_disconnect_reason end_reason = 0;
    while (!done) {
        int wait = -1;
        if (connected && !closing) {
            uint64_t now = now_ms();
            wait = close_at > now ? (int)(close_at - now) : 0;
        }
        struct pollfd pfd[2] = {{macula_mailbox_fd(mb), POLLIN, 0}, {sfd, POLLIN, 0}};
        int n = poll(pfd, sfd >= 0 ? 2 : 1, wait);
        if (n < 0 && errno != EINTR)
            break;
        if (sfd >= 0 && (pfd[1].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                signals++;
            if (signals > 1)
                break; /* a second signal: leave now */
            if (!closing) {
                closing = 1;
                macula_peer_close(rt, p, reason ? reason : "interrupted");
            }
        }
        macula_event *ev;
        while (!done && (ev = macula_mailbox_pop(mb, 0)) != NULL) {
            cli_event_print(stdout, ev, pa.with_wire);
            switch (ev->type) {
            case MACULA_EVENT_CONNECTED:
                connected = 1;
                close_at = now_ms() + close_after;
                streams_open = n_groups;
                sent_ok = send_items(rt, p, id, items, n_items, realm, publish_flags, n_groups, sids) == 0;
                if (!sent_ok && !closing) {
                    closing = 1;
                    macula_peer_close(rt, p, "send_failed");
                }
                break;
            case MACULA_EVENT_FRAME:
                if (want_frames && ++frames >= want_frames && !streams_open && !closing) {
                    closing = 1;
                    macula_peer_close(rt, p, reason);
                }
                break;
            case MACULA_EVENT_STREAM_CLOSED:
                if (ev->stream_origin == MACULA_STREAM_BY_LOCAL && streams_open > 0)
                    streams_open--;
                if (want_frames && frames >= want_frames && !streams_open && !closing) {
                    closing = 1;
                    macula_peer_close(rt, p, reason);
                }
                break;
            case MACULA_EVENT_DISCONNECTED:
                done = 1;
                end_reason = ev->reason;
                if (!(closing && (ev->reason == MACULA_DISC_DRAINED ||
                                  ev->reason == MACULA_DISC_PEER_CLOSED_DURING_DRAIN)))
                    cli_errorf("disconnected: %s%s%s", macula_disconnect_reason_name(ev->reason),
                               ev->detail[0] ? ": " : "", ev->detail);
                break;
            default:
                break;
            }
            macula_event_free(ev);
        }
        if (connected && !closing && now_ms() >= close_at) {
            closing = 1;
            macula_peer_close(rt, p, reason);
        }
    }
    if (done && connected && sent_ok && closing && signals == 0 &&
        (end_reason == MACULA_DISC_DRAINED || end_reason == MACULA_DISC_PEER_CLOSED_DURING_DRAIN))
        status = CLI_EXIT_OK;

out_rt:
    macula_runtime_free(rt);
    macula_mailbox_free(mb);
    if (sfd >= 0)
        close(sfd);
    macula_identity_free(id);
out_host:
    free(host);
out_items:
    for (size_t i = 0; i < n_items; i++)
        free(items[i].wire);
    free(items);
    return status;
}
