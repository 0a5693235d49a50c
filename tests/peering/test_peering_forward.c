/* SPDX-License-Identifier: Apache-2.0 */
/* Forwarding over real QUIC on loopback, three runtimes: A and B dial the
 * relay R, which forwards every frame from A to B with macula_peer_forward.
 * B must receive A's bytes exactly, in order (mixed sizes, so that frames
 * of every size share QUIC writes); R's lazy events carry no frame, and
 * one decoded on demand equals the eager decode; a malformed frame never
 * reaches a lazy handler; B's buffers survive A's end while they wait at
 * R (ASan catches a use after free); and no received frame is signed by
 * R: not by send_frame (MACULA_ERR_NOT_SIGNABLE), not by a clone, and the
 * forwarded unsigned frame does not verify against R's key (the signing
 * oracle of `macula listen --echo` is gone). */
#include "peering_test_util.h"
#include "raw_quic.h"

static macula_identity *id_a, *id_b, *id_r;

/* --- the relay's handler --- */
typedef struct relay {
    macula_runtime *rt;
    _Atomic macula_peer to_b; /* R's server peer of B */
    atomic_ulong frames, lazy_ok, lazy_bad, forward_failed, unsigned_seen, decode_checked, decode_bad;
    int check_decode;   /* compare on-demand decode with the eager one */
    int oracle;         /* try to sign received frames instead of forwarding */
    atomic_int oracle_rc, clone_rc, oracle_done;
    pt_recorder rec;    /* every event, also recorded */
    _Atomic(macula_mailbox *) mailbox; /* set: A's frames go there instead */
    _Atomic macula_stream stream;      /* where R forwards to B (0 = control) */
} relay;

static int same_node(const macula_event *ev, const macula_identity *id)
{
    return ev->has_peer_node_id && memcmp(ev->peer_node_id, macula_identity_node_id(id), MACULA_NODE_ID_LEN) == 0;
}

/* encode(decode(wire)) == wire, and decode on demand == decode of wire. */
static int lazy_matches(macula_event *ev)
{
    macula_frame *eager = NULL;
    size_t used = 0;
    if (macula_frame_decode(ev->wire, ev->wire_len, &eager, &used, NULL) != 0 || used != ev->wire_len)
        return 0;
    macula_frame *lazy = macula_event_frame(ev);
    int ok = lazy && macula_event_frame(ev) == lazy; /* decoded once, kept by the event */
    char *d1 = macula_frame_diag(eager), *d2 = lazy ? macula_frame_diag(lazy) : NULL;
    ok = ok && d1 && d2 && strcmp(d1, d2) == 0;
    uint8_t *re = NULL;
    size_t relen = 0;
    ok = ok && macula_frame_encode(lazy, &re, &relen) == 0 && relen == ev->wire_len &&
         memcmp(re, ev->wire, relen) == 0;
    macula_free(re);
    macula_free(d1);
    macula_free(d2);
    macula_frame_free(eager);
    return ok;
}

static void relay_handler(void *user, macula_event *ev)
{
    relay *r = user;
    pt_record(&r->rec, ev);
    if (ev->type == MACULA_EVENT_CONNECTED && same_node(ev, id_b))
        atomic_store(&r->to_b, ev->peer);
    if (ev->type != MACULA_EVENT_FRAME || !same_node(ev, id_a))
        return;
    const char *type = macula_event_frame_type(ev);
    if (type && strcmp(type, "goodbye") == 0)
        return; /* the peering's own: not forwarded */
    if (!type || (strcmp(type, "publish") != 0))
        atomic_fetch_add(&r->lazy_bad, 1);
    macula_mailbox *mb = atomic_load(&r->mailbox);
    if (mb) {
        macula_mailbox_handler(mb, ev);
        return;
    }
    atomic_fetch_add(&r->frames, 1);
    if (ev->unsigned_frame)
        atomic_fetch_add(&r->unsigned_seen, 1);
    if (!ev->frame && ev->wire && ev->wire_len > 4)
        atomic_fetch_add(&r->lazy_ok, 1);
    else
        atomic_fetch_add(&r->lazy_bad, 1);
    if (r->oracle) {
        /* what an echo built on send_frame did: sign the peer's frame */
        macula_frame *c = macula_frame_clone(macula_event_frame(ev), NULL);
        atomic_store(&r->clone_rc, macula_peer_send_frame(r->rt, ev->peer, c));
        atomic_store(&r->oracle_rc, macula_peer_send_frame(r->rt, ev->peer, macula_event_take_frame(ev)));
        /* and what it does now: the bytes as received, back to the sender */
        if (macula_peer_forward(r->rt, ev->peer, MACULA_STREAM_CONTROL, ev) != 0)
            atomic_fetch_add(&r->forward_failed, 1);
        atomic_store(&r->oracle_done, 1);
        return;
    }
    if (r->check_decode && atomic_load(&r->frames) % 7 == 1) {
        atomic_fetch_add(&r->decode_checked, 1);
        if (!lazy_matches(ev))
            atomic_fetch_add(&r->decode_bad, 1);
    }
    macula_peer b = atomic_load(&r->to_b);
    if (!b || macula_peer_forward(r->rt, b, atomic_load(&r->stream), ev) != 0)
        atomic_fetch_add(&r->forward_failed, 1);
}

/* --- B (and A): every received wire, concatenated --- */
typedef struct sink {
    pthread_mutex_t mu;
    uint8_t *bytes;
    size_t len, cap, frames, unsigned_frames, connected, on_streams;
    int verify_against_r; /* frames that verify against R's key */
} sink;

static void sink_handler(void *user, macula_event *ev)
{
    sink *s = user;
    pthread_mutex_lock(&s->mu);
    if (ev->type == MACULA_EVENT_CONNECTED)
        s->connected = 1;
    if (ev->type == MACULA_EVENT_FRAME && ev->wire) {
        if (s->len + ev->wire_len > s->cap) {
            size_t cap = s->cap ? s->cap : 1 << 16;
            while (cap < s->len + ev->wire_len)
                cap *= 2;
            uint8_t *nb = realloc(s->bytes, cap);
            if (nb) {
                s->bytes = nb;
                s->cap = cap;
            }
        }
        if (s->len + ev->wire_len <= s->cap) {
            memcpy(s->bytes + s->len, ev->wire, ev->wire_len);
            s->len += ev->wire_len;
        }
        s->frames++;
        s->on_streams += ev->stream != MACULA_STREAM_CONTROL;
        s->unsigned_frames += ev->unsigned_frame != 0;
        if (ev->frame && macula_frame_verify(ev->frame, macula_identity_public_key(id_r)) == 0)
            s->verify_against_r++;
    }
    pthread_mutex_unlock(&s->mu);
}

static size_t sink_get(sink *s, size_t *frames)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->len;
    if (frames)
        *frames = s->frames;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int sink_wait(sink *s, size_t frames, unsigned timeout_ms)
{
    uint64_t end = pt_now_ms() + timeout_ms;
    size_t got = 0;
    while (sink_get(s, &got), got < frames && pt_now_ms() < end)
        pt_sleep_ms(5);
    if (got < frames)
        fprintf(stderr, "  sink: %zu of %zu frames\n", got, frames);
    return got >= frames;
}

static int sink_connected(sink *s, unsigned timeout_ms)
{
    uint64_t end = pt_now_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int c = s->connected != 0;
        pthread_mutex_unlock(&s->mu);
        if (c || pt_now_ms() > end)
            return c;
        pt_sleep_ms(5);
    }
}

/* --- the rig --- */
typedef struct rig {
    macula_runtime *rt_r, *rt_a, *rt_b;
    pt_diags dr, da, db;
    relay r;
    sink a, b;
    macula_listener *l;
    macula_peer pa, pb;
} rig;

static macula_runtime *rig_runtime(pt_diags *d)
{
    pt_diags_init(d);
    return pt_runtime(d, 2000);
}

static void client_opts(macula_peer_options *o, const macula_identity *id, sink *s, uint16_t port)
{
    macula_peer_options_init(o);
    o->identity = id;
    o->handler = sink_handler;
    o->handler_user = s;
    o->host = "127.0.0.1";
    o->port = port;
    o->drain_timeout_ms = 300;
}

static int rig_up(rig *g, int lazy, int with_b)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->a.mu, NULL);
    pthread_mutex_init(&g->b.mu, NULL);
    g->rt_r = rig_runtime(&g->dr);
    g->rt_a = rig_runtime(&g->da);
    g->rt_b = rig_runtime(&g->db);
    if (!g->rt_r || !g->rt_a || !g->rt_b)
        return -1;
    g->r.rt = g->rt_r;
    pt_recorder_init(&g->r.rec, g->rt_r);
    macula_peer_options so;
    macula_peer_options_init(&so);
    so.handler = relay_handler;
    so.handler_user = &g->r;
    so.lazy_frames = lazy;
    so.drain_timeout_ms = 300;
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    lo.identity = id_r;
    lo.auto_accept = &so;
    /* a small QUIC queue, so that forwarded buffers wait in R's worker
     * while B does not read */
    lo.quic.send_queue_cap = 256 * 1024;
    g->l = pt_listen(g->rt_r, &lo);
    if (!g->l)
        return -1;
    uint16_t port = macula_listener_port(g->l);
    macula_peer_options o;
    if (with_b) {
        client_opts(&o, id_b, &g->b, port);
        g->pb = pt_connect(g->rt_b, &o);
        if (!g->pb || !sink_connected(&g->b, 10000))
            return -1;
        uint64_t end = pt_now_ms() + 5000;
        while (!atomic_load(&g->r.to_b) && pt_now_ms() < end)
            pt_sleep_ms(2);
        if (!atomic_load(&g->r.to_b))
            return -1;
    }
    client_opts(&o, id_a, &g->a, port);
    g->pa = pt_connect(g->rt_a, &o);
    return g->pa && sink_connected(&g->a, 10000) ? 0 : -1;
}

static void rig_down(rig *g)
{
    macula_runtime_free(g->rt_a);
    macula_runtime_free(g->rt_b);
    macula_runtime_free(g->rt_r);
    CHECK_EQ_INT(pt_check_promises(&g->r.rec, 1), 0);
    pt_recorder_free(&g->r.rec);
    pt_diags_free(&g->dr);
    pt_diags_free(&g->da);
    pt_diags_free(&g->db);
    free(g->a.bytes);
    free(g->b.bytes);
    pthread_mutex_destroy(&g->a.mu);
    pthread_mutex_destroy(&g->b.mu);
}

/* Frame i of the mixed sequence: mostly small, some 4 KiB and 64 KiB, a
 * few unsigned (forwarding never signs, so they arrive unsigned). */
static size_t mixed_size(size_t i)
{
    if (i % 97 == 50)
        return 65536;
    if (i % 13 == 5)
        return 4096;
    return 100 + (i * 37) % 300;
}

static uint8_t *mixed_wire(size_t i, size_t *len)
{
    return raw_wire(pt_numbered(0, i, mixed_size(i)), i % 31 == 3 ? NULL : id_a, len);
}

/* A sends `n` frames with send_wire (retrying on a full queue); the
 * concatenation of their wires in *all. */
static int send_mixed(rig *g, size_t n, uint8_t **all, size_t *all_len)
{
    *all = NULL;
    *all_len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        uint8_t *w = mixed_wire(i, &len);
        if (!w)
            return -1;
        int rc;
        while ((rc = macula_peer_send_wire(g->rt_a, g->pa, w, len)) == MACULA_ERR_QUEUE_FULL)
            pt_sleep_ms(1);
        raw_append(all, all_len, w, len);
        free(w);
        if (rc != 0) {
            fprintf(stderr, "  send_wire %zu: %s\n", i, macula_err_name(rc));
            return -1;
        }
    }
    return 0;
}

/* B gets A's bytes exactly, frame for frame, in order; R never built a
 * frame it was not asked for, and an on-demand decode equals the eager. */
static void test_forward_exact(void)
{
    rig g;
    REQUIRE(rig_up(&g, 1, 1) == 0);
    g.r.check_decode = 1;
    const size_t n = 1500;
    uint8_t *all = NULL;
    size_t all_len = 0;
    CHECK(send_mixed(&g, n, &all, &all_len) == 0);
    CHECK(sink_wait(&g.b, n, 30000));
    size_t frames = 0;
    size_t got = sink_get(&g.b, &frames);
    CHECK_EQ_INT(frames, n);
    CHECK_EQ_INT(got, all_len);
    pthread_mutex_lock(&g.b.mu);
    CHECK(got == all_len && memcmp(g.b.bytes, all, all_len) == 0);
    size_t expect_unsigned = 0;
    for (size_t i = 0; i < n; i++)
        expect_unsigned += i % 31 == 3;
    CHECK_EQ_INT(g.b.unsigned_frames, expect_unsigned);
    CHECK_EQ_INT(g.b.verify_against_r, 0);
    pthread_mutex_unlock(&g.b.mu);
    CHECK_EQ_INT(atomic_load(&g.r.frames), n);
    CHECK_EQ_INT(atomic_load(&g.r.lazy_ok), n);
    CHECK_EQ_INT(atomic_load(&g.r.lazy_bad), 0);
    CHECK_EQ_INT(atomic_load(&g.r.forward_failed), 0);
    CHECK_EQ_INT(atomic_load(&g.r.unsigned_seen), expect_unsigned);
    CHECK(atomic_load(&g.r.decode_checked) > 100);
    CHECK_EQ_INT(atomic_load(&g.r.decode_bad), 0);
    CHECK(pt_has_diag(&g.dr, "unsigned_frame", NULL));
    free(all);
    rig_down(&g);
}

/* A's frames wait at R (B's loop is held, so B reads nothing and R's queue
 * towards B fills), A ends, its events are gone: B still gets every byte
 * once it reads again. Under ASan a buffer freed with A's worker or its
 * event would show here. */
static void block_cb(void *arg)
{
    atomic_int *open = arg;
    while (!atomic_load(open))
        pt_sleep_ms(1);
}

static void test_forward_source_gone(void)
{
    rig g;
    REQUIRE(rig_up(&g, 1, 1) == 0);
    atomic_int open = 0;
    REQUIRE(macula_runtime_post(g.rt_b, block_cb, &open) == 0);
    const size_t n = 300; /* ~4 MiB: far beyond what QUIC lets R send B unread */
    uint8_t *all = NULL;
    size_t all_len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        uint8_t *w = raw_wire(pt_numbered(0, i, i % 3 ? 16384 : 200), id_a, &len);
        REQUIRE(w);
        CHECK_EQ_INT(macula_peer_send_wire(g.rt_a, g.pa, w, len), 0);
        raw_append(&all, &all_len, w, len);
        free(w);
    }
    uint64_t end = pt_now_ms() + 20000;
    while (atomic_load(&g.r.frames) < n && pt_now_ms() < end)
        pt_sleep_ms(5);
    CHECK_EQ_INT(atomic_load(&g.r.frames), n);
    macula_peer_info info;
    macula_peer_info_init(&info);
    /* R still holds most of it for B */
    macula_peer b = atomic_load(&g.r.to_b);
    CHECK(macula_peer_get_info(g.rt_r, b, &info) == 0 && info.bytes_out < all_len);
    macula_peer_close(g.rt_a, g.pa, "done");
    CHECK(pt_wait(&g.r.rec, 0, MACULA_EVENT_DISCONNECTED, 1, 10000)); /* A's worker at R has ended */
    macula_runtime_free(g.rt_a);
    g.rt_a = NULL;
    atomic_store(&open, 1);
    CHECK(sink_wait(&g.b, n, 30000));
    pthread_mutex_lock(&g.b.mu);
    CHECK_EQ_INT(g.b.len, all_len);
    CHECK_EQ_INT(g.b.frames, n);
    CHECK(g.b.len == all_len && memcmp(g.b.bytes, all, all_len) == 0);
    pthread_mutex_unlock(&g.b.mu);
    free(all);
    rig_down(&g);
}

/* The oracle: A sends an UNSIGNED frame naming R as its publisher. R's
 * send_frame refuses to sign it (also a clone of it); forwarded back, A
 * receives it unsigned, and nothing A receives verifies against R's key. */
static void test_no_signing_oracle(void)
{
    rig g;
    REQUIRE(rig_up(&g, 0, 0) == 0);
    g.r.oracle = 1;
    macula_frame *f = pt_numbered(0, 1, 150);
    REQUIRE(f);
    CHECK_EQ_INT(macula_frame_put_bytes(f, "publisher", macula_identity_node_id(id_r), MACULA_NODE_ID_LEN), 0);
    size_t len = 0;
    uint8_t *w = raw_wire(f, NULL, &len);
    REQUIRE(w);
    CHECK_EQ_INT(macula_peer_send_wire(g.rt_a, g.pa, w, len), 0);
    uint64_t end = pt_now_ms() + 10000;
    while (!atomic_load(&g.r.oracle_done) && pt_now_ms() < end)
        pt_sleep_ms(2);
    CHECK_EQ_INT(atomic_load(&g.r.oracle_rc), MACULA_ERR_NOT_SIGNABLE);
    CHECK_EQ_INT(atomic_load(&g.r.clone_rc), MACULA_ERR_NOT_SIGNABLE);
    CHECK_EQ_INT(atomic_load(&g.r.forward_failed), 0);
    CHECK_EQ_INT(atomic_load(&g.r.unsigned_seen), 1);
    CHECK(sink_wait(&g.a, 1, 10000));
    pt_sleep_ms(200); /* anything else R might have sent */
    pthread_mutex_lock(&g.a.mu);
    CHECK_EQ_INT(g.a.frames, 1);
    CHECK_EQ_INT(g.a.unsigned_frames, 1);
    CHECK_EQ_INT(g.a.verify_against_r, 0);
    CHECK(g.a.len == len && memcmp(g.a.bytes, w, len) == 0); /* exactly what A sent */
    pthread_mutex_unlock(&g.a.mu);
    /* An application's own frame is still signed as before. */
    macula_frame *own = pt_numbered(0, 2, 10);
    CHECK_EQ_INT(macula_frame_is_signed(own), 0);
    macula_frame *own_clone = macula_frame_clone(own, NULL);
    CHECK_EQ_INT(macula_peer_send_frame(g.rt_a, g.pa, own), 0);
    CHECK_EQ_INT(macula_peer_send_frame(g.rt_a, g.pa, own_clone), 0);
    free(w);
    rig_down(&g);
}

/* A lazy handler never sees a malformed frame: a raw client sends, after
 * the handshake, a good frame, a body with an integer key, a body with a
 * duplicate key and another good frame; only the good ones arrive (no
 * frame built, wire set), the others are dropped with a diagnostic. */
static void test_lazy_malformed(void)
{
    pt_diags d;
    pt_recorder rec;
    macula_runtime *rt = pt_case_begin(&d, 0, &rec, NULL);
    REQUIRE(rt);
    macula_peer_options so;
    pt_server_options(&so, &rec);
    so.lazy_frames = 1;
    so.drain_timeout_ms = 300;
    macula_listener *l = pt_listen_auto(rt, id_r, &so);
    REQUIRE(l);
    size_t clen = 0, g0 = 0, g1 = 0;
    uint8_t *connect = raw_wire(macula_frame_connect(id_a, NULL, NULL, 0, 0, NULL), id_a, &clen);
    uint8_t *good0 = raw_wire(pt_numbered(0, 0, 10), id_a, &g0);
    uint8_t *good1 = raw_wire(pt_numbered(0, 1, 10), id_a, &g1);
    REQUIRE(connect && good0 && good1);
    static const uint8_t int_key[] = {0, 0, 0, 3, 0xa1, 0x01, 0x02};
    static const uint8_t dup_key[] = {0, 0, 0, 7, 0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02};
    uint8_t *after = NULL;
    size_t after_len = 0;
    raw_append(&after, &after_len, good0, g0);
    raw_append(&after, &after_len, int_key, sizeof int_key);
    raw_append(&after, &after_len, dup_key, sizeof dup_key);
    raw_append(&after, &after_len, good1, g1);
    raw_client rc;
    memset(&rc, 0, sizeof rc);
    rc.data = connect;
    rc.len = clen;
    rc.after_reply = after;
    rc.after_reply_len = after_len;
    REQUIRE(raw_client_start(&rc, rt, macula_listener_port(l)) == 0);
    CHECK(pt_wait(&rec, 0, MACULA_EVENT_FRAME, 2, 10000));
    pt_sleep_ms(100);
    CHECK_EQ_INT(pt_count(&rec, 0, MACULA_EVENT_FRAME), 2);
    pthread_mutex_lock(&rec.mu);
    size_t k = 0;
    for (size_t i = 0; i < rec.n; i++) {
        if (rec.ev[i].type != MACULA_EVENT_FRAME)
            continue;
        CHECK(rec.ev[i].frame_type[0] == '\0'); /* lazy: nothing decoded */
        CHECK_EQ_INT(rec.ev[i].wire_len, k == 0 ? g0 : g1);
        k++;
    }
    pthread_mutex_unlock(&rec.mu);
    CHECK(pt_has_diag(&d, "frame_dropped", "reason=bad_frame"));
    macula_runtime_free(rt);
    pt_case_end(&d, &rec, NULL);
    pthread_mutex_destroy(&rc.mu);
    free(connect);
    free(good0);
    free(good1);
    free(after);
}

/* Through a mailbox, on another thread: R's lazy events are popped by this
 * thread, decoded on demand for some, forwarded to B (the command path,
 * the buffer shared by reference) and freed at once, while the frames are
 * still on their way: B gets A's bytes exactly (ASan: no use after free). */
static void test_forward_from_mailbox(void)
{
    rig g;
    REQUIRE(rig_up(&g, 1, 1) == 0);
    macula_mailbox *mb = macula_mailbox_new(0, NULL);
    REQUIRE(mb);
    atomic_store(&g.r.mailbox, mb);
    const size_t n = 400;
    uint8_t *all = NULL;
    size_t all_len = 0;
    CHECK(send_mixed(&g, n, &all, &all_len) == 0);
    macula_peer b = atomic_load(&g.r.to_b);
    size_t got = 0, lazy = 0, decoded_ok = 0;
    uint64_t end = pt_now_ms() + 30000;
    while (got < n && pt_now_ms() < end) {
        macula_event *ev = macula_mailbox_pop(mb, 100);
        if (!ev)
            continue;
        if (ev->type == MACULA_EVENT_FRAME) {
            lazy += ev->frame == NULL;
            if (got % 5 == 0)
                decoded_ok += lazy_matches(ev);
            CHECK_EQ_INT(macula_peer_forward(g.rt_r, b, MACULA_STREAM_CONTROL, ev), 0);
            got++;
        }
        macula_event_free(ev); /* the forwarded bytes live on by reference */
    }
    CHECK_EQ_INT(got, n);
    CHECK_EQ_INT(lazy, n);
    CHECK_EQ_INT(decoded_ok, (n + 4) / 5);
    CHECK(sink_wait(&g.b, n, 30000));
    pthread_mutex_lock(&g.b.mu);
    CHECK(g.b.len == all_len && memcmp(g.b.bytes, all, all_len) == 0);
    pthread_mutex_unlock(&g.b.mu);
    free(all);
    rig_down(&g);
    macula_mailbox_free(mb);
}

/* Forwarded onto a dedicated stream R opened towards B: the same bytes, in
 * order, every one on that stream. */
static void test_forward_on_stream(void)
{
    rig g;
    REQUIRE(rig_up(&g, 1, 1) == 0);
    macula_peer b = atomic_load(&g.r.to_b);
    macula_stream sid = 0;
    REQUIRE(macula_peer_open_stream(g.rt_r, b, &sid) == 0 && sid > 0);
    CHECK(pt_wait(&g.r.rec, b, MACULA_EVENT_STREAM_OPENED, 1, 5000));
    atomic_store(&g.r.stream, sid);
    const size_t n = 600;
    uint8_t *all = NULL;
    size_t all_len = 0;
    CHECK(send_mixed(&g, n, &all, &all_len) == 0);
    CHECK(sink_wait(&g.b, n, 30000));
    pthread_mutex_lock(&g.b.mu);
    CHECK_EQ_INT(g.b.on_streams, n);
    CHECK(g.b.len == all_len && memcmp(g.b.bytes, all, all_len) == 0);
    pthread_mutex_unlock(&g.b.mu);
    CHECK_EQ_INT(atomic_load(&g.r.forward_failed), 0);
    /* an unknown stream: refused at once on the loop thread, nothing sent */
    atomic_store(&g.r.stream, sid + 400);
    size_t len = 0;
    uint8_t *w = mixed_wire(0, &len);
    CHECK_EQ_INT(macula_peer_send_wire(g.rt_a, g.pa, w, len), 0);
    uint64_t end = pt_now_ms() + 5000;
    while (atomic_load(&g.r.forward_failed) == 0 && pt_now_ms() < end)
        pt_sleep_ms(2);
    CHECK_EQ_INT(atomic_load(&g.r.forward_failed), 1);
    CHECK(pt_has_diag(&g.dr, "frame_dropped", "reason=stream_closed"));
    free(w);
    free(all);
    rig_down(&g);
}

int main(void)
{
    if (pt_begin(240, &id_a, &id_b, &id_r, NULL) != 0)
        return 1;
    RUN(test_forward_exact);
    RUN(test_forward_source_gone);
    RUN(test_forward_from_mailbox);
    RUN(test_forward_on_stream);
    RUN(test_no_signing_oracle);
    RUN(test_lazy_malformed);
    return pt_end(&id_a, &id_b, &id_r, NULL);
}
