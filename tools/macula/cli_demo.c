/* SPDX-License-Identifier: Apache-2.0 */
/* `macula demo`: two peers in one process on loopback. A listener and a
 * dialer with fresh identities complete the CONNECT/HELLO handshake over
 * QUIC, exchange a PUBLISH each way (the listener echoes the dialer's back
 * unchanged), and the dialer closes with GOODBYE and a drain. Every event
 * is printed as the same JSON line `macula listen` / `macula dial` print,
 * labelled by side, then one summary line. The exit status is 0 only when
 * each of those steps was observed (and checked: node ids, signatures, the
 * echo's frame id, how each side ended). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "macula.h"

#define DEMO_TOPIC "demo"
#define DEMO_CLOSE_REASON "demo finished"
#define DEMO_DEADLINE_MS 15000

struct demo_side {
    const char *name; /* "dialer" / "listener": the "side" of its JSON lines */
    const macula_identity *id;
    const macula_identity *peer_id; /* whom it must find at the other end */
    macula_peer peer;
    int connected, handshake_complete, ended;
    unsigned frames_in;
    int got_publish, got_echo, got_goodbye;
    macula_disconnect_reason reason;
};

struct demo {
    macula_runtime *rt;
    macula_listener *listener;
    struct demo_side dialer, server;
    uint64_t t_dial_ns, t_connected_ns;
    uint8_t sent_frame_id[MACULA_FRAME_ID_LEN]; /* the dialer's PUBLISH, to know its echo */
    uint32_t drain_ms;
    char failure[256]; /* first thing that went wrong, "" if none */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
};

/* The demo prints the very lines of `macula listen` / `macula dial`
 * (cli_events.c) with a "side" member put first: each line is printed into
 * memory, then written out with `{"side":"...",` in place of its `{`. */
struct labelled {
    char *buf;
    size_t len;
    FILE *mem;
};

static FILE *label_begin(struct labelled *l)
{
    l->buf = NULL;
    l->len = 0;
    l->mem = open_memstream(&l->buf, &l->len);
    return l->mem ? l->mem : stdout; /* no memory: print it unlabelled */
}

static void label_end(struct labelled *l, const char *side)
{
    if (!l->mem)
        return;
    fclose(l->mem);
    if (l->len > 1 && l->buf[0] == '{')
        printf("{\"side\":\"%s\",%s", side, l->buf + 1);
    else
        fputs(l->buf ? l->buf : "", stdout);
    fflush(stdout);
    free(l->buf);
}

static void print_event(const char *side, const macula_event *ev)
{
    struct labelled l;
    cli_event_print(label_begin(&l), ev, 0);
    label_end(&l, side);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(struct demo *d, const char *side, const char *what)
{
    if (!d->failure[0])
        snprintf(d->failure, sizeof d->failure, "%s: %s", side, what);
}

static void finish(struct demo *d)
{
    pthread_mutex_lock(&d->mu);
    d->done = 1;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* A signed PUBLISH from `side` with a text payload. */
static int send_publish(struct demo *d, struct demo_side *s, const char *text, uint8_t *frame_id_out)
{
    int err = 0;
    macula_frame *f = macula_frame_publish(s->id, NULL, DEMO_TOPIC, strlen(DEMO_TOPIC),
                                           macula_value_bytes(text, strlen(text)), 0, -1, 0, &err);
    if (!f)
        return err;
    if (frame_id_out) {
        const uint8_t *fid;
        size_t n;
        if (macula_frame_get_bytes(f, "frame_id", &fid, &n) != 0 || n != MACULA_FRAME_ID_LEN) {
            macula_frame_free(f);
            return MACULA_ERR_INTERNAL;
        }
        memcpy(frame_id_out, fid, n);
    }
    return macula_peer_send_frame(d->rt, s->peer, f); /* signs it; takes it in every case */
}

static int same_key(const uint8_t *a, const macula_identity *id)
{
    return memcmp(a, macula_identity_node_id(id), MACULA_NODE_ID_LEN) == 0;
}

/* Checks a received PUBLISH: which side wrote it (publisher field, and its
 * signature must verify with that side's key) and, for the dialer, whether
 * it is the echo of its own frame. */
static void check_publish(struct demo *d, struct demo_side *s, const macula_frame *f)
{
    const uint8_t *publisher, *fid;
    size_t n, fid_len;
    if (macula_frame_get_bytes(f, "publisher", &publisher, &n) != 0 || n != MACULA_NODE_ID_LEN) {
        fail(d, s->name, "a PUBLISH without a 32-byte publisher");
        return;
    }
    const macula_identity *author = same_key(publisher, s->id) ? s->id : s->peer_id;
    if (!same_key(publisher, author)) {
        fail(d, s->name, "a PUBLISH from an unknown publisher");
        return;
    }
    if (macula_frame_verify(f, macula_identity_public_key(author)) != 0) {
        fail(d, s->name, "a PUBLISH whose signature does not verify");
        return;
    }
    if (author == s->peer_id) {
        s->got_publish++;
        return;
    }
    /* Our own frame came back: it must be exactly the one we sent. */
    if (macula_frame_get_bytes(f, "frame_id", &fid, &fid_len) != 0 || fid_len != MACULA_FRAME_ID_LEN ||
        memcmp(fid, d->sent_frame_id, MACULA_FRAME_ID_LEN) != 0)
        fail(d, s->name, "our own PUBLISH came back with another frame_id");
    else
        s->got_echo++;
}

static void on_connected(struct demo *d, struct demo_side *s, macula_event *ev)
{
    s->connected++;
    s->peer = ev->peer;
    if (!ev->has_peer_node_id || !same_key(ev->peer_node_id, s->peer_id)) {
        fail(d, s->name, "connected to an unexpected node id");
        return;
    }
    const char *text = s == &d->dialer ? "ping from the dialer" : "hello from the listener";
    int rc = send_publish(d, s, text, s == &d->dialer ? d->sent_frame_id : NULL);
    if (rc != 0)
        fail(d, s->name, macula_strerror(rc));
}

static void on_frame(struct demo *d, struct demo_side *s, macula_event *ev)
{
    s->frames_in++;
    const char *type = macula_frame_type(ev->frame);
    if (type && !strcmp(type, "publish")) {
        check_publish(d, s, ev->frame);
        if (s == &d->server) {
            /* Echo: the frame is signed already, so it goes back unchanged. */
            int rc = macula_peer_send_frame(d->rt, ev->peer, macula_event_take_frame(ev));
            if (rc != 0)
                fail(d, s->name, macula_strerror(rc));
        } else if (s->got_publish && s->got_echo) {
            int rc = macula_peer_close(d->rt, s->peer, DEMO_CLOSE_REASON);
            if (rc != 0)
                fail(d, s->name, macula_strerror(rc));
        }
    } else if (type && !strcmp(type, "goodbye")) {
        const char *reason;
        size_t n;
        if (macula_frame_get_text(ev->frame, "reason", &reason, &n) == 0 && n == strlen(DEMO_CLOSE_REASON) &&
            !memcmp(reason, DEMO_CLOSE_REASON, n))
            s->got_goodbye++;
        else
            fail(d, s->name, "a GOODBYE without our reason");
    } else {
        fail(d, s->name, "an unexpected frame type");
    }
}

static void on_event(struct demo *d, struct demo_side *s, macula_event *ev)
{
    print_event(s->name, ev);
    switch (ev->type) {
    case MACULA_EVENT_CONNECTED:
        if (s == &d->dialer)
            d->t_connected_ns = now_ns();
        on_connected(d, s, ev);
        break;
    case MACULA_EVENT_HANDSHAKE_COMPLETE:
        s->handshake_complete++;
        break;
    case MACULA_EVENT_SEND_READY: /* the demo never fills a send queue */
    case MACULA_EVENT_STREAM_OPENED: /* the demo uses the control stream only */
    case MACULA_EVENT_STREAM_CLOSED:
        break;
    case MACULA_EVENT_FRAME:
        on_frame(d, s, ev);
        break;
    case MACULA_EVENT_DISCONNECTED:
        s->ended++;
        s->reason = ev->reason;
        /* Done once the dialer has ended and so has the listener's worker
         * (or it never connected, e.g. the dial failed). */
        if (d->dialer.ended && (d->server.ended || !d->server.connected)) {
            if (d->listener) {
                macula_listener_close(d->listener);
                d->listener = NULL;
            }
            finish(d);
        }
        break;
    }
}

static void dialer_handler(void *user, macula_event *ev)
{
    struct demo *d = user;
    on_event(d, &d->dialer, ev);
}

static void server_handler(void *user, macula_event *ev)
{
    struct demo *d = user;
    on_event(d, &d->server, ev);
}

static void diag_hook(void *user, const char *event, const macula_diag_field *fields, size_t n_fields)
{
    (void)user;
    struct labelled l;
    cli_diag_print(label_begin(&l), event, fields, n_fields);
    label_end(&l, "runtime");
}

/* Every step the demo promised, checked; the first one missing is named. */
static const char *missing_step(const struct demo *d)
{
    if (d->failure[0])
        return d->failure;
    if (d->dialer.connected != 1)
        return "the dialer did not connect";
    if (d->server.connected != 1)
        return "the listener's worker did not connect";
    if (d->server.handshake_complete != 1)
        return "the accept owner got no handshake_complete";
    if (d->dialer.got_publish != 1)
        return "the dialer did not get the listener's PUBLISH";
    if (d->dialer.got_echo != 1)
        return "the dialer did not get its PUBLISH echoed";
    if (d->server.got_publish != 1)
        return "the listener did not get the dialer's PUBLISH";
    if (d->server.got_goodbye != 1)
        return "the listener did not get the GOODBYE";
    if (d->dialer.frames_in != 2 || d->server.frames_in != 2)
        return "frames beyond the expected two each way";
    if (!d->dialer.ended || d->dialer.reason != MACULA_DISC_DRAINED)
        return "the dialer did not end with drained";
    if (!d->server.ended || d->server.reason != MACULA_DISC_PEER_CLOSED)
        return "the listener's worker did not end with peer_closed";
    return NULL;
}

static void print_summary(const struct demo *d, const char *missing)
{
    double hs_ms = d->t_connected_ns ? (double)(d->t_connected_ns - d->t_dial_ns) / 1e6 : 0.0;
    printf("%s: handshake %.2f ms (QUIC + TLS + CONNECT/HELLO, dial to connected), "
           "dialer->listener %u frames (publish, goodbye), listener->dialer %u frames (publish, echo), "
           "ended: dialer %s, listener %s (drain shortened to %u ms for the demo; default 5000)",
           missing ? "demo FAILED" : "demo ok", hs_ms, d->server.frames_in, d->dialer.frames_in,
           d->dialer.ended ? macula_disconnect_reason_name(d->dialer.reason) : "not ended",
           d->server.ended ? macula_disconnect_reason_name(d->server.reason) : "not ended", d->drain_ms);
    if (missing)
        printf(": %s", missing);
    printf("\n");
}

static int demo_usage(FILE *f)
{
    fprintf(f, "usage: macula demo [--drain-ms N]\n"
               "\n"
               "Two peers in this process on 127.0.0.1 with fresh identities: a listener and a\n"
               "dialer complete the CONNECT/HELLO handshake over QUIC, send a signed PUBLISH each\n"
               "way (the listener echoes the dialer's back), and the dialer closes with GOODBYE\n"
               "and a drain (--drain-ms, default 200 here, 5000 in the library). Prints every\n"
               "event as the JSON line `macula listen`/`dial` print, with \"side\" added, then a\n"
               "summary line. Exit 0 only when every step was observed, 1 otherwise, 2 on bad\n"
               "usage.\n");
    return cli_usage_exit(f);
}

static int setup_listener(struct demo *d, macula_identity *ids[2])
{
    int err = 0;
    const char *why = NULL;
    macula_peer_options srv;
    macula_peer_options_init(&srv);
    srv.identity = ids[0];
    srv.handler = server_handler;
    srv.handler_user = d;
    srv.accept_owner = server_handler; /* HANDSHAKE_COMPLETE, printed as the listener's */
    srv.accept_owner_user = d;

    macula_listener_options lo;
    macula_listener_options_init(&lo);
    static const char *const sans[] = {"127.0.0.1", "localhost"};
    lo.bind_host = "127.0.0.1";
    lo.bind_port = 0;
    lo.identity = ids[0];
    lo.sans = sans;
    lo.n_sans = 2;
    lo.auto_accept = &srv;
    d->listener = macula_listener_new(d->rt, &lo, &err, &why);
    if (!d->listener) {
        cli_errorf("demo: listener: %s%s%s", macula_strerror(err), why ? ": " : "", why ? why : "");
        return -1;
    }
    struct labelled l;
    cli_listening_print(label_begin(&l), "127.0.0.1", macula_listener_port(d->listener),
                        macula_identity_node_id(ids[0]));
    label_end(&l, "listener");
    return 0;
}

static int dial(struct demo *d, macula_identity *ids[2])
{
    int err = 0;
    const char *why = NULL;
    macula_peer_options cli;
    macula_peer_options_init(&cli);
    cli.identity = ids[1];
    cli.host = "127.0.0.1";
    cli.port = macula_listener_port(d->listener);
    cli.expected_node_id = macula_identity_node_id(ids[0]); /* pins the listener's TLS key too */
    cli.connect_timeout_ms = 5000;
    cli.drain_timeout_ms = d->drain_ms;
    cli.handler = dialer_handler;
    cli.handler_user = d;
    printf("{\"side\":\"dialer\",\"event\":\"dialing\",\"address\":\"127.0.0.1\",\"port\":%u,\"node_id\":\"",
           (unsigned)cli.port);
    cli_print_hex(stdout, macula_identity_node_id(ids[1]), MACULA_NODE_ID_LEN);
    printf("\"}\n");
    fflush(stdout);
    d->t_dial_ns = now_ns();
    if (macula_peer_connect(d->rt, &cli, &err, &why) == MACULA_PEER_INVALID) {
        cli_errorf("demo: connect: %s%s%s", macula_strerror(err), why ? ": " : "", why ? why : "");
        return -1;
    }
    return 0;
}

static int wait_done(struct demo *d, uint32_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&d->mu);
    int rc = 0;
    while (!d->done && rc == 0)
        rc = pthread_cond_timedwait(&d->cv, &d->mu, &until);
    int done = d->done;
    pthread_mutex_unlock(&d->mu);
    return done;
}

/* Listener, loop, dial, then wait for the handlers to finish the script. */
static int run(struct demo *d, macula_identity *ids[2])
{
    /* The listener is made before the loop runs (allowed from any thread
     * then); from the dial on, everything happens in the handlers. */
    if (setup_listener(d, ids) != 0)
        return CLI_EXIT_PROTOCOL;
    int err = macula_runtime_start(d->rt);
    if (err != 0) {
        cli_errorf("demo: runtime: %s", macula_strerror(err));
        return CLI_EXIT_PROTOCOL;
    }
    int dialed = dial(d, ids) == 0;
    int done = dialed && wait_done(d, DEMO_DEADLINE_MS);
    macula_runtime_stop(d->rt);
    macula_runtime_join(d->rt);
    if (!dialed)
        return CLI_EXIT_PROTOCOL;
    const char *missing = done ? missing_step(d) : "timed out before both peers had ended";
    print_summary(d, missing);
    return missing ? CLI_EXIT_PROTOCOL : CLI_EXIT_OK;
}

int cli_demo(int argc, char **argv)
{
    struct demo d;
    memset(&d, 0, sizeof d);
    d.drain_ms = 200;
    for (int i = 1; i < argc; i++) {
        uint64_t v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return demo_usage(stdout);
        if (!strcmp(argv[i], "--drain-ms")) {
            if (i + 1 == argc || cli_parse_u64(argv[++i], 1, 60000, &v) != 0) {
                cli_errorf("--drain-ms: expected milliseconds (1..60000)");
                return CLI_EXIT_USAGE;
            }
            d.drain_ms = (uint32_t)v;
            continue;
        }
        return cli_usage_error(demo_usage, "demo: unexpected argument '%s'", argv[i]);
    }
    d.dialer.name = "dialer";
    d.server.name = "listener";
    pthread_mutex_init(&d.mu, NULL);
    pthread_cond_init(&d.cv, NULL);

    int err = 0, status = CLI_EXIT_PROTOCOL;
    macula_identity *ids[2] = {macula_identity_generate(&err), macula_identity_generate(&err)};
    macula_runtime_options ro;
    macula_runtime_options_init(&ro);
    ro.diag = diag_hook;
    if (ids[0] && ids[1])
        d.rt = macula_runtime_new(&ro, &err);
    if (!d.rt) {
        cli_errorf("demo: %s", macula_strerror(err));
        goto out;
    }
    d.server.id = ids[0];
    d.server.peer_id = ids[1];
    d.dialer.id = ids[1];
    d.dialer.peer_id = ids[0];

    printf("macula demo: two peers on loopback; macula-c %s, wire-compatible with %s\n", macula_version(),
           MACULA_WIRE_COMPAT_STRING);
    status = run(&d, ids);
out:
    macula_runtime_free(d.rt);
    macula_identity_free(ids[0]);
    macula_identity_free(ids[1]);
    pthread_cond_destroy(&d.cv);
    pthread_mutex_destroy(&d.mu);
    return status;
}
