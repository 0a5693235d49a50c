/* SPDX-License-Identifier: Apache-2.0 */
/* Dedicated streams (PROTOCOL.md §6.2) over real QUIC on loopback: streams
 * opened both ways with frames and FIN, three streams interleaved with the
 * control stream (in order per stream), resets with codes both ways, the
 * peer-stream cap, a client runtime vanishing with streams open; and the
 * server's HELLO-flight hold (§6.5): 50 frames sent right after
 * `connected` all arrive, and a raw client sees the HELLO alone in its
 * first read (a 10.0.0 client drops what shares that read). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "raw_quic.h"

static macula_identity *alice, *bob;

/* The server's reaction to its events (loop thread). */
enum {
    SRV_ECHO_ON_STREAM = 1,   /* echo every frame on its stream; finish after the peer's FIN */
    SRV_OPEN_AND_SEND = 2,    /* on CONNECTED: open a stream, send 2 frames, finish it */
    SRV_RESET_PEER_STREAM = 4, /* reset every peer stream with code 7 after its first frame */
    SRV_SEND_50 = 8           /* on CONNECTED: 50 frames on the control stream */
};
static atomic_int srv_mode;

static void server_hook(pt_recorder *r, macula_event *ev)
{
    int mode = atomic_load(&srv_mode);
    if (ev->type == MACULA_EVENT_CONNECTED && (mode & SRV_SEND_50)) {
        for (uint64_t i = 0; i < 50; i++)
            macula_peer_send_frame(r->rt, ev->peer, pt_numbered(0, i, 0));
    }
    if (ev->type == MACULA_EVENT_CONNECTED && (mode & SRV_OPEN_AND_SEND)) {
        macula_stream sid = -1;
        if (macula_peer_open_stream(r->rt, ev->peer, &sid) == 0) {
            macula_peer_send_frame_on(r->rt, ev->peer, sid, pt_numbered(5, 0, 0));
            macula_peer_send_frame_on(r->rt, ev->peer, sid, pt_numbered(5, 1, 0));
            macula_peer_finish_stream(r->rt, ev->peer, sid);
        }
    }
    if (ev->type == MACULA_EVENT_FRAME && ev->stream != MACULA_STREAM_CONTROL && ev->frame) {
        if (mode & SRV_RESET_PEER_STREAM)
            macula_peer_reset_stream(r->rt, ev->peer, ev->stream, 7);
        else if (mode & SRV_ECHO_ON_STREAM)
            macula_peer_send_frame_on(r->rt, ev->peer, ev->stream, macula_event_take_frame(ev));
    }
    if (ev->type == MACULA_EVENT_STREAM_CLOSED && ev->stream_end == MACULA_STREAM_END_FIN &&
        (mode & SRV_ECHO_ON_STREAM))
        macula_peer_finish_stream(r->rt, ev->peer, ev->stream);
}

/* The client finishes its side of a peer stream the peer finished. */
static void client_hook(pt_recorder *r, macula_event *ev)
{
    if (ev->type == MACULA_EVENT_STREAM_CLOSED && ev->stream_end == MACULA_STREAM_END_FIN &&
        ev->stream_origin == MACULA_STREAM_BY_PEER)
        macula_peer_finish_stream(r->rt, ev->peer, ev->stream);
}

typedef struct setup {
    macula_runtime *rt;
    pt_diags diags;
    pt_recorder srv, cli;
    macula_listener *l;
    uint16_t port;
    macula_peer c, sp; /* the client and the server's peer */
} setup;

static int setup_up(setup *s, int mode, size_t max_peer_streams)
{
    memset(s, 0, sizeof *s);
    atomic_store(&srv_mode, mode);
    s->rt = pt_case_begin(&s->diags, 2000, &s->srv, &s->cli, NULL);
    if (!s->rt)
        return -1;
    s->srv.hook = server_hook;
    s->cli.hook = client_hook;
    macula_peer_options so;
    pt_server_options(&so, &s->srv);
    so.max_peer_streams = max_peer_streams;
    so.drain_timeout_ms = 300;
    s->l = pt_listen_auto(s->rt, alice, &so);
    if (!s->l)
        return -1;
    s->port = macula_listener_port(s->l);
    return 0;
}

static int connect_client(setup *s)
{
    macula_peer_options o;
    pt_client_options(&o, bob, &s->cli, s->port);
    o.drain_timeout_ms = 300;
    s->c = pt_connect(s->rt, &o);
    if (!s->c || !pt_wait(&s->cli, s->c, MACULA_EVENT_CONNECTED, 1, 10000) ||
        !pt_wait(&s->srv, 0, MACULA_EVENT_CONNECTED, 1, 10000))
        return -1;
    pt_event e;
    pt_last(&s->srv, 0, MACULA_EVENT_CONNECTED, &e);
    s->sp = e.peer;
    return 0;
}

static void setup_down(setup *s)
{
    macula_runtime_free(s->rt);
    pt_case_end(&s->diags, &s->srv, &s->cli, NULL);
}

/* A copy of the first event of `type` on `stream` for `peer`; 1 if found. */
static int stream_event(pt_recorder *r, macula_peer peer, macula_event_type type, int64_t stream, pt_event *out)
{
    int found = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n && !found; i++)
        if (r->ev[i].peer == peer && r->ev[i].type == type && r->ev[i].stream == stream) {
            *out = r->ev[i];
            found = 1;
        }
    pthread_mutex_unlock(&r->mu);
    return found;
}

static int wait_stream_event(pt_recorder *r, macula_peer peer, macula_event_type type, int64_t stream,
                             pt_event *out, unsigned timeout_ms)
{
    uint64_t end = pt_now_ms() + timeout_ms;
    while (!stream_event(r, peer, type, stream, out)) {
        if (pt_now_ms() > end) {
            fprintf(stderr, "  timed out waiting for event %d on stream %lld\n", (int)type, (long long)stream);
            return 0;
        }
        pt_sleep_ms(5);
    }
    return 1;
}

/* FRAME events on `stream` for `peer`: their "seq" in order into out. */
static size_t stream_seqs(pt_recorder *r, macula_peer peer, int64_t stream, uint64_t *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        if (r->ev[i].peer == peer && r->ev[i].type == MACULA_EVENT_FRAME && r->ev[i].stream == stream && n < max)
            out[n++] = r->ev[i].seq;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void test_open_both_ways_fin(void)
{
    setup s;
    REQUIRE(setup_up(&s, SRV_ECHO_ON_STREAM | SRV_OPEN_AND_SEND, 0) == 0);
    REQUIRE(connect_client(&s) == 0);
    macula_stream sid = -1;
    REQUIRE(macula_peer_open_stream(s.rt, s.c, &sid) == 0);
    CHECK_EQ_INT(sid, 4); /* the client's second bidi stream, in QUIC's numbering */
    for (uint64_t i = 0; i < 3; i++)
        CHECK_EQ_INT(macula_peer_send_frame_on(s.rt, s.c, sid, pt_numbered(1, i, 100)), 0);
    CHECK_EQ_INT(macula_peer_finish_stream(s.rt, s.c, sid), 0);
    pt_event e;
    CHECK(wait_stream_event(&s.cli, s.c, MACULA_EVENT_STREAM_OPENED, 4, &e, 5000) &&
          e.origin == MACULA_STREAM_BY_LOCAL);
    /* The server: opened by the peer, three frames, FIN; its echo comes
     * back on stream 4, then its FIN. */
    CHECK(wait_stream_event(&s.srv, s.sp, MACULA_EVENT_STREAM_CLOSED, 4, &e, 5000) &&
          e.end == MACULA_STREAM_END_FIN);
    CHECK(stream_event(&s.srv, s.sp, MACULA_EVENT_STREAM_OPENED, 4, &e) && e.origin == MACULA_STREAM_BY_PEER);
    uint64_t seq[8];
    CHECK(stream_seqs(&s.srv, s.sp, 4, seq, 8) == 3 && seq[0] == 0 && seq[2] == 2);
    CHECK(wait_stream_event(&s.cli, s.c, MACULA_EVENT_STREAM_CLOSED, 4, &e, 5000) && e.end == MACULA_STREAM_END_FIN);
    CHECK(stream_seqs(&s.cli, s.c, 4, seq, 8) == 3 && seq[0] == 0 && seq[2] == 2);
    /* The server's own stream (1): announced to the client by the peer. */
    CHECK(wait_stream_event(&s.cli, s.c, MACULA_EVENT_STREAM_CLOSED, 1, &e, 5000) && e.end == MACULA_STREAM_END_FIN);
    CHECK(stream_event(&s.cli, s.c, MACULA_EVENT_STREAM_OPENED, 1, &e) && e.origin == MACULA_STREAM_BY_PEER);
    CHECK(stream_seqs(&s.cli, s.c, 1, seq, 8) == 2 && seq[0] == 0 && seq[1] == 1);
    CHECK(stream_event(&s.srv, s.sp, MACULA_EVENT_STREAM_OPENED, 1, &e) && e.origin == MACULA_STREAM_BY_LOCAL);
    /* The client finished stream 1 in turn: the server's record of it closes. */
    CHECK(wait_stream_event(&s.srv, s.sp, MACULA_EVENT_STREAM_CLOSED, 1, &e, 5000) && e.end == MACULA_STREAM_END_FIN);
    /* Control stream untouched, both peers connected. */
    CHECK_EQ_INT(pt_count(&s.cli, s.c, MACULA_EVENT_DISCONNECTED), 0);
    macula_peer_info ci;
    macula_peer_info_init(&ci);
    CHECK(macula_peer_get_info(s.rt, s.c, &ci) == 0 && ci.state == MACULA_PEER_CONNECTED && ci.frames_dropped == 0);
    CHECK_EQ_INT(macula_peer_finish_stream(s.rt, s.c, MACULA_STREAM_CONTROL), MACULA_ERR_INVALID_ARG);
    macula_peer_close(s.rt, s.c, "done");
    CHECK(pt_disconnected_with(&s.cli, s.c, MACULA_DISC_DRAINED, 5000, NULL));
    setup_down(&s);
}

static void test_three_interleaved(void)
{
    setup s;
    REQUIRE(setup_up(&s, SRV_ECHO_ON_STREAM, 0) == 0);
    REQUIRE(connect_client(&s) == 0);
    macula_stream sids[3];
    for (int k = 0; k < 3; k++)
        REQUIRE(macula_peer_open_stream(s.rt, s.c, &sids[k]) == 0);
    CHECK(sids[0] == 4 && sids[1] == 8 && sids[2] == 12);
    enum { N = 200 };
    for (uint64_t i = 0; i < N; i++) {
        for (int k = 0; k < 3; k++)
            CHECK_EQ_INT(macula_peer_send_frame_on(s.rt, s.c, sids[k], pt_numbered((uint64_t)k, i, 1 + i % 300)), 0);
        CHECK_EQ_INT(macula_peer_send_frame(s.rt, s.c, pt_numbered(9, i, 10)), 0);
    }
    for (int k = 0; k < 3; k++)
        CHECK_EQ_INT(macula_peer_finish_stream(s.rt, s.c, sids[k]), 0);
    pt_event e;
    for (int k = 0; k < 3; k++)
        CHECK(wait_stream_event(&s.cli, s.c, MACULA_EVENT_STREAM_CLOSED, sids[k], &e, 10000) &&
              e.end == MACULA_STREAM_END_FIN);
    REQUIRE(pt_wait(&s.srv, s.sp, MACULA_EVENT_FRAME, 4 * N, 10000));
    static uint64_t seq[N + 8];
    for (int k = 0; k < 3; k++) {
        /* in order per stream, on both sides (the echo came back on it) */
        size_t n = stream_seqs(&s.srv, s.sp, sids[k], seq, N + 8);
        CHECK_EQ_INT(n, N);
        for (size_t i = 0; i < n; i++)
            if (seq[i] != i) {
                CHECK_EQ_INT(seq[i], i);
                break;
            }
        n = stream_seqs(&s.cli, s.c, sids[k], seq, N + 8);
        CHECK_EQ_INT(n, N);
        for (size_t i = 0; i < n; i++)
            if (seq[i] != i) {
                CHECK_EQ_INT(seq[i], i);
                break;
            }
    }
    size_t n = stream_seqs(&s.srv, s.sp, MACULA_STREAM_CONTROL, seq, N + 8);
    CHECK_EQ_INT(n, N);
    for (size_t i = 0; i < n; i++)
        if (seq[i] != i) {
            CHECK_EQ_INT(seq[i], i);
            break;
        }
    setup_down(&s);
}

static void test_reset_with_code(void)
{
    setup s;
    REQUIRE(setup_up(&s, SRV_RESET_PEER_STREAM, 0) == 0);
    REQUIRE(connect_client(&s) == 0);
    macula_stream a, b;
    REQUIRE(macula_peer_open_stream(s.rt, s.c, &a) == 0);
    REQUIRE(macula_peer_open_stream(s.rt, s.c, &b) == 0);
    /* a: the client resets it with 42 after one frame. */
    CHECK_EQ_INT(macula_peer_send_frame_on(s.rt, s.c, a, pt_numbered(0, 0, 0)), 0);
    pt_event e;
    REQUIRE(wait_stream_event(&s.srv, s.sp, MACULA_EVENT_STREAM_CLOSED, a, &e, 5000));
    /* the server's hook resets a peer stream at its first frame: code 7 */
    CHECK(e.end == MACULA_STREAM_END_RESET && e.code == 7);
    CHECK(wait_stream_event(&s.cli, s.c, MACULA_EVENT_STREAM_CLOSED, a, &e, 5000) &&
          e.end == MACULA_STREAM_END_RESET && e.code == 7);
    atomic_store(&srv_mode, 0);
    CHECK_EQ_INT(macula_peer_send_frame_on(s.rt, s.c, b, pt_numbered(0, 0, 0)), 0);
    REQUIRE(wait_stream_event(&s.srv, s.sp, MACULA_EVENT_STREAM_OPENED, b, &e, 5000));
    CHECK_EQ_INT(macula_peer_reset_stream(s.rt, s.c, b, 42), 0);
    CHECK(wait_stream_event(&s.srv, s.sp, MACULA_EVENT_STREAM_CLOSED, b, &e, 5000) &&
          e.end == MACULA_STREAM_END_RESET && e.code == 42);
    CHECK(stream_event(&s.cli, s.c, MACULA_EVENT_STREAM_CLOSED, b, &e) && e.end == MACULA_STREAM_END_RESET &&
          e.code == 42);
    /* Sends on a reset stream are dropped on the loop (diagnostic). */
    CHECK_EQ_INT(macula_peer_send_frame_on(s.rt, s.c, b, pt_numbered(0, 1, 0)), 0);
    for (int i = 0; i < 200 && !pt_has_diag(&s.diags, "reason=stream_closed", NULL); i++)
        pt_sleep_ms(5);
    CHECK(pt_has_diag(&s.diags, "reason=stream_closed", NULL));
    /* The peers are fine: the control stream still carries frames. */
    CHECK_EQ_INT(macula_peer_send_frame(s.rt, s.c, pt_numbered(0, 5, 0)), 0);
    CHECK(pt_wait(&s.srv, s.sp, MACULA_EVENT_FRAME, 3, 5000));
    CHECK_EQ_INT(pt_count(&s.srv, s.sp, MACULA_EVENT_DISCONNECTED), 0);
    CHECK_EQ_INT(pt_count(&s.cli, s.c, MACULA_EVENT_DISCONNECTED), 0);
    CHECK_EQ_INT(macula_peer_reset_stream(s.rt, s.c, b, (uint64_t)1 << 62), MACULA_ERR_INVALID_ARG);
    setup_down(&s);
}

static void test_cap(void)
{
    setup s;
    REQUIRE(setup_up(&s, 0, 2) == 0);
    REQUIRE(connect_client(&s) == 0);
    macula_stream sid[3];
    for (int k = 0; k < 3; k++) {
        REQUIRE(macula_peer_open_stream(s.rt, s.c, &sid[k]) == 0);
        CHECK_EQ_INT(macula_peer_send_frame_on(s.rt, s.c, sid[k], pt_numbered((uint64_t)k, 0, 0)), 0);
    }
    pt_event e;
    CHECK(wait_stream_event(&s.cli, s.c, MACULA_EVENT_STREAM_CLOSED, sid[2], &e, 5000) &&
          e.end == MACULA_STREAM_END_RESET && e.code == MACULA_STREAM_CODE_REFUSED);
    CHECK(pt_has_diag(&s.diags, "stream_refused", "reason=max_peer_streams"));
    CHECK(pt_wait(&s.srv, s.sp, MACULA_EVENT_FRAME, 2, 5000));
    CHECK_EQ_INT(pt_count(&s.srv, s.sp, MACULA_EVENT_STREAM_OPENED), 2);
    CHECK(!stream_event(&s.srv, s.sp, MACULA_EVENT_STREAM_OPENED, sid[2], &e));
    /* Once one of the two ends, another stream gets in. */
    CHECK_EQ_INT(macula_peer_reset_stream(s.rt, s.c, sid[0], 3), 0);
    CHECK(wait_stream_event(&s.srv, s.sp, MACULA_EVENT_STREAM_CLOSED, sid[0], &e, 5000));
    macula_stream more;
    REQUIRE(macula_peer_open_stream(s.rt, s.c, &more) == 0);
    CHECK_EQ_INT(macula_peer_send_frame_on(s.rt, s.c, more, pt_numbered(7, 0, 0)), 0);
    CHECK(wait_stream_event(&s.srv, s.sp, MACULA_EVENT_FRAME, more, &e, 5000));
    CHECK_EQ_INT(pt_count(&s.srv, s.sp, MACULA_EVENT_DISCONNECTED), 0);
    setup_down(&s);
}

/* A client in its own runtime vanishes (runtime freed, shutdown cut
 * short) with streams open both ways; ASan checks nothing leaks. */
static void test_vanish_with_streams(void)
{
    setup s;
    REQUIRE(setup_up(&s, SRV_OPEN_AND_SEND, 0) == 0);
    pt_diags cd;
    pt_recorder cr;
    macula_runtime *crt = pt_case_begin(&cd, 100, &cr, NULL);
    REQUIRE(crt);
    macula_peer_options o;
    pt_client_options(&o, bob, &cr, s.port);
    macula_peer c = pt_connect(crt, &o);
    REQUIRE(c && pt_wait(&cr, c, MACULA_EVENT_CONNECTED, 1, 10000));
    REQUIRE(pt_wait(&s.srv, 0, MACULA_EVENT_CONNECTED, 1, 10000));
    pt_event se;
    pt_last(&s.srv, 0, MACULA_EVENT_CONNECTED, &se);
    macula_stream sid[2];
    for (int k = 0; k < 2; k++) {
        REQUIRE(macula_peer_open_stream(crt, c, &sid[k]) == 0);
        for (uint64_t i = 0; i < 20; i++)
            macula_peer_send_frame_on(crt, c, sid[k], pt_numbered((uint64_t)k, i, 2000));
    }
    pt_event e;
    CHECK(wait_stream_event(&s.srv, se.peer, MACULA_EVENT_STREAM_OPENED, sid[1], &e, 5000));
    CHECK(wait_stream_event(&cr, c, MACULA_EVENT_STREAM_OPENED, 1, &e, 5000));
    macula_runtime_free(crt); /* GOODBYE + a drain cut to 100 ms */
    CHECK_EQ_INT(pt_count(&cr, c, MACULA_EVENT_DISCONNECTED), 1);
    for (int k = 0; k < 2; k++)
        CHECK(stream_event(&cr, c, MACULA_EVENT_STREAM_CLOSED, sid[k], &e));
    CHECK(stream_event(&cr, c, MACULA_EVENT_STREAM_CLOSED, 1, &e));
    pt_case_end(&cd, &cr, NULL); /* every stream closed once, before DISCONNECTED */
    REQUIRE(pt_wait(&s.srv, se.peer, MACULA_EVENT_DISCONNECTED, 1, 10000));
    for (int k = 0; k < 2; k++)
        CHECK(stream_event(&s.srv, se.peer, MACULA_EVENT_STREAM_CLOSED, sid[k], &e));
    setup_down(&s);
}

/* PROTOCOL.md §6.5: 50 frames the server sends in its CONNECTED handler
 * all arrive, in order (our client). */
static void test_50_after_connected(void)
{
    setup s;
    REQUIRE(setup_up(&s, SRV_SEND_50, 0) == 0);
    REQUIRE(connect_client(&s) == 0);
    CHECK(pt_wait(&s.cli, s.c, MACULA_EVENT_FRAME, 50, 10000));
    CHECK_EQ_INT(pt_frames_in_order(&s.cli, s.c, 1, 50), 50);
    setup_down(&s);
}

/* The same against a raw QUIC client that records its reads: the HELLO
 * comes alone in the first one, so a 10.0.0 client (which drops what
 * shares the HELLO's read) loses none of the 50. */
static void test_hello_alone_in_first_read(void)
{
    setup s;
    REQUIRE(setup_up(&s, SRV_SEND_50, 0) == 0);
    int err = 0;
    size_t clen = 0;
    uint8_t *connect = raw_wire(macula_frame_connect(bob, NULL, NULL, 0, 0, &err), bob, &clen);
    REQUIRE(connect);
    raw_client rc;
    memset(&rc, 0, sizeof rc);
    rc.data = connect;
    rc.len = clen;
    rc.keep_rx = 1;
    REQUIRE(raw_client_start(&rc, s.rt, s.port) == 0);
    REQUIRE(pt_wait(&s.srv, 0, MACULA_EVENT_CONNECTED, 1, 10000));
    /* HELLO plus 50 frames, whatever the reads. */
    size_t frames = 0, hello_len = 0, off = 0;
    for (int i = 0; i < 1000 && frames < 51; i++) {
        pthread_mutex_lock(&rc.mu);
        frames = 0;
        off = 0;
        for (;;) {
            macula_frame *f = NULL;
            size_t used = 0;
            if (off >= rc.rx_len || macula_frame_decode(rc.rx + off, rc.rx_len - off, &f, &used, NULL) != 0)
                break;
            if (frames == 0)
                hello_len = used;
            else
                CHECK_EQ_INT(pt_frame_uint(f, "seq"), frames - 1);
            macula_frame_free(f);
            off += used;
            frames++;
        }
        pthread_mutex_unlock(&rc.mu);
        if (frames < 51)
            pt_sleep_ms(10);
    }
    CHECK_EQ_INT(frames, 51);
    pthread_mutex_lock(&rc.mu);
    size_t first = rc.first_read_len;
    pthread_mutex_unlock(&rc.mu);
    CHECK(hello_len > 0);
    CHECK_EQ_INT(first, hello_len); /* nothing shared the HELLO's read */
    setup_down(&s);
    free(rc.rx);
    pthread_mutex_destroy(&rc.mu);
    free(connect);
}

/* --- a lossy UDP proxy between a raw client and the listener --- */
/* It drops one server datagram: the first short-header (1-RTT) one of 200
 * bytes or more. The raw client sends CONNECT as soon as its handshake is
 * done, in the datagram carrying its Finished, so the server's first 1-RTT
 * datagram carries HANDSHAKE_DONE and the HELLO (the test checks that the
 * HELLO was in it: the HELLO's retransmission comes late). Whatever the
 * server sends meanwhile reaches the client first. */
typedef struct proxy {
    int front, back;
    uint16_t port;
    struct sockaddr_in client;
    int have_client;
    atomic_int stop, connect_seen, dropped;
    pthread_t th;
} proxy;

static void *proxy_main(void *arg)
{
    proxy *p = arg;
    uint8_t buf[2048];
    while (!atomic_load(&p->stop)) {
        struct pollfd pfd[2] = {{p->front, POLLIN, 0}, {p->back, POLLIN, 0}};
        if (poll(pfd, 2, 20) <= 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            socklen_t sl = sizeof p->client;
            ssize_t n = recvfrom(p->front, buf, sizeof buf, 0, (struct sockaddr *)&p->client, &sl);
            if (n > 0) {
                p->have_client = 1;
                if (n >= 200 && n < 1200)
                    atomic_store(&p->connect_seen, 1);
                (void)send(p->back, buf, (size_t)n, 0);
            }
        }
        if (pfd[1].revents & POLLIN) {
            ssize_t n = recv(p->back, buf, sizeof buf, 0);
            if (n > 0 && p->have_client) {
                if (!(buf[0] & 0x80) && !atomic_load(&p->dropped) && n >= 200) {
                    atomic_store(&p->dropped, 1);
                    continue;
                }
                (void)sendto(p->front, buf, (size_t)n, 0, (struct sockaddr *)&p->client, sizeof p->client);
            }
        }
    }
    return NULL;
}

static int proxy_start(proxy *p, uint16_t server_port)
{
    memset(p, 0, sizeof *p);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->front = socket(AF_INET, SOCK_DGRAM, 0);
    p->back = socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t sl = sizeof a;
    if (p->front < 0 || p->back < 0 || bind(p->front, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(p->front, (struct sockaddr *)&a, &sl) != 0)
        return -1;
    p->port = ntohs(a.sin_port);
    a.sin_port = htons(server_port);
    if (connect(p->back, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    return pthread_create(&p->th, NULL, proxy_main, p) == 0 ? 0 : -1;
}

static void proxy_stop(proxy *p)
{
    atomic_store(&p->stop, 1);
    pthread_join(p->th, NULL);
    close(p->front);
    close(p->back);
}

/* The HELLO's packet is lost: the hold must still end (the ack of the
 * retransmitted HELLO reaches the worker through STREAM_ACKED), all 50
 * frames must arrive after the HELLO, and the HELLO must come alone in the
 * client's first read. (An ngtcp2 receiver delivers the retransmitted range
 * in its own callback, so this one also passes without the hold; what it
 * pins is the ack plumbing under loss.) */
static void test_hello_lost_then_alone(void)
{
    setup s;
    REQUIRE(setup_up(&s, SRV_SEND_50, 0) == 0);
    proxy px;
    REQUIRE(proxy_start(&px, s.port) == 0);
    int err = 0;
    size_t clen = 0;
    uint8_t *connect = raw_wire(macula_frame_connect(bob, NULL, NULL, 0, 0, &err), bob, &clen);
    REQUIRE(connect);
    raw_client rc;
    memset(&rc, 0, sizeof rc);
    rc.data = connect;
    rc.len = clen;
    rc.keep_rx = 1;
    REQUIRE(raw_client_start(&rc, s.rt, px.port) == 0);
    size_t frames = 0, hello_len = 0;
    for (int i = 0; i < 1000 && frames < 51; i++) {
        pthread_mutex_lock(&rc.mu);
        frames = 0;
        size_t off = 0;
        for (;;) {
            macula_frame *f = NULL;
            size_t used = 0;
            if (off >= rc.rx_len || macula_frame_decode(rc.rx + off, rc.rx_len - off, &f, &used, NULL) != 0)
                break;
            if (frames == 0)
                hello_len = used;
            macula_frame_free(f);
            off += used;
            frames++;
        }
        pthread_mutex_unlock(&rc.mu);
        if (frames < 51)
            pt_sleep_ms(10);
    }
    CHECK_EQ_INT(frames, 51);
    CHECK_EQ_INT(atomic_load(&px.dropped), 1); /* the loss did happen */
    pthread_mutex_lock(&rc.mu);
    size_t first = rc.first_read_len;
    pthread_mutex_unlock(&rc.mu);
    CHECK(hello_len > 0);
    CHECK_EQ_INT(first, hello_len);
    setup_down(&s);
    proxy_stop(&px);
    free(rc.rx);
    pthread_mutex_destroy(&rc.mu);
    free(connect);
}

int main(void)
{
    if (pt_begin(120, &alice, &bob, NULL) != 0)
        return 1;
    RUN(test_open_both_ways_fin);
    RUN(test_three_interleaved);
    RUN(test_reset_with_code);
    RUN(test_cap);
    RUN(test_vanish_with_streams);
    RUN(test_50_after_connected);
    RUN(test_hello_alone_in_first_read);
    RUN(test_hello_lost_then_alone);
    return pt_end(&alice, &bob, NULL);
}
