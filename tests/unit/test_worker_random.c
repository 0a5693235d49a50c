/* SPDX-License-Identifier: Apache-2.0 */
/* Randomized inputs against the connection worker. Thousands of workers,
 * alone (fed random transport events, API calls, clock jumps and bytes
 * cut from valid, invalid and hostile frames) and in pairs (a client and
 * a server exchanging bytes in random slices while both sides send,
 * close, stall and lose their transport). Every run must keep the fake
 * shell's promises (event order, exactly one DISCONNECTED, last; ENDED
 * once; no action after it), deliver numbered frames in increasing order,
 * and leak nothing (ASan). Dedicated streams (PROTOCOL.md §6.2) join in:
 * peer streams opened, fed frames and junk, finished and reset; streams
 * opened, written, finished and reset by the API; acks for the HELLO hold;
 * frames must arrive in order per stream and every stream must close once
 * before DISCONNECTED. MACULA_TEST_SEED picks another seed. */
#include <string.h>

#include "support/worker_shell.h"
#include "testutil.h"

static macula_identity *alice, *bob, *mallory;
static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* --- a growing byte script the "peer" writes on the stream --- */
typedef struct script {
    uint8_t *buf;
    size_t len, cap, fed;
    uint64_t next_seq;
} script;

static void script_add(script *sc, const uint8_t *b, size_t n)
{
    if (sc->len + n > sc->cap) {
        sc->cap = (sc->len + n) * 2 + 256;
        sc->buf = realloc(sc->buf, sc->cap);
    }
    memcpy(sc->buf + sc->len, b, n);
    sc->len += n;
}

static void script_add_owned(script *sc, uint8_t *b, const size_t *n)
{
    if (b)
        script_add(sc, b, *n); /* read after the wire was made */
    macula_free(b);
}

/* Appends one random piece, as the peer (alice) of a worker (bob) would
 * or a hostile one could. */
static void script_piece(script *sc, int worker_is_server)
{
    size_t n = 0;
    switch (below(12)) {
    case 0:
    case 1: /* the right handshake frame for the worker's role */
        if (worker_is_server)
            script_add_owned(sc, ws_wire(macula_frame_connect(alice, NULL, NULL, 0, 3, NULL), alice, &n), &n);
        else
            script_add_owned(sc, ws_wire(macula_frame_hello(alice, NULL, NULL, 0, 3, below(4) != 0, 2, 3, NULL),
                                         alice, &n), &n);
        break;
    case 2: /* the wrong one */
        if (worker_is_server)
            script_add_owned(sc, ws_wire(macula_frame_hello(alice, NULL, NULL, 0, 3, 1, -1, 3, NULL), alice, &n), &n);
        else
            script_add_owned(sc, ws_wire(macula_frame_connect(alice, NULL, NULL, 0, 3, NULL), alice, &n), &n);
        break;
    case 3: { /* the right handshake frame signed by someone else, or not at all */
        const macula_identity *signer = below(2) ? mallory : NULL;
        macula_frame *f = worker_is_server ? macula_frame_connect(alice, NULL, NULL, 0, 3, NULL)
                                           : macula_frame_hello(alice, NULL, NULL, 0, 3, 1, -1, 3, NULL);
        script_add_owned(sc, ws_wire(f, signer, &n), &n);
        break;
    }
    case 4:
    case 5:
    case 6: { /* ordinary numbered frames */
        uint8_t *w = ws_numbered_frame(alice, sc->next_seq++, &n);
        script_add_owned(sc, w, &n);
        break;
    }
    case 7: /* a body that is not a frame */
        script_add(sc, (const uint8_t *)"\0\0\0\x05garbg", 9);
        break;
    case 8: /* a GOODBYE */
        script_add_owned(sc, ws_wire(macula_frame_goodbye("bye", NULL, 0, NULL), alice, &n), &n);
        break;
    case 9: /* hostile length */
        if (below(4) == 0)
            script_add(sc, (const uint8_t *)"\xff\xff\xff\xff", 4);
        break;
    case 10: { /* random bytes */
        uint8_t junk[16];
        size_t k = 1 + below(sizeof junk);
        for (size_t i = 0; i < k; i++)
            junk[i] = (uint8_t)rnd();
        if (below(8) == 0)
            script_add(sc, junk, k);
        break;
    }
    default: /* an empty frame body, legal length */
        script_add(sc, (const uint8_t *)"\0\0\0\0", 4);
        break;
    }
}

static void check_seq_order(ws_shell *s)
{
    for (size_t i = 0; i < s->n_events; i++) {
        if (s->events[i].type != MACULA_EVENT_FRAME)
            continue;
        uint64_t seq = ws_frame_seq(s->events[i].frame);
        if (seq == UINT64_MAX)
            continue; /* a GOODBYE or other unnumbered frame */
        /* In order per stream: compare with the previous numbered frame of
         * the same stream. */
        for (size_t j = i; j-- > 0;) {
            if (s->events[j].type != MACULA_EVENT_FRAME || s->events[j].stream != s->events[i].stream)
                continue;
            uint64_t prev = ws_frame_seq(s->events[j].frame);
            if (prev == UINT64_MAX)
                continue;
            if (seq <= prev) {
                fprintf(stderr, "  frames out of order on stream %lld: %llu after %llu\n",
                        (long long)s->events[i].stream, (unsigned long long)seq, (unsigned long long)prev);
                CHECK(0);
            }
            break;
        }
    }
    const ws_event *d = ws_disconnected(s);
    if (d && ws_count(s, MACULA_EVENT_CONNECTED))
        CHECK(d->has_node_id);
}

static int64_t refusal_code = 4;
static int admit_some(void *user, const uint8_t node_id[32], int64_t *code)
{
    (void)user;
    (void)node_id;
    *code = refusal_code;
    return below(2) == 0;
}

static int reasons_seen[MACULA_DISC_INTERNAL_ERROR + 1];

/* Stream events seen: opened by the peer / by us, closed by FIN / reset /
 * the connection, and frames on dedicated streams. */
static int stream_seen[6];

static void note_reason(const ws_shell *s)
{
    for (size_t i = 0; i < s->n_events; i++) {
        const ws_event *e = &s->events[i];
        if (e->type == MACULA_EVENT_STREAM_OPENED)
            stream_seen[e->origin == MACULA_STREAM_BY_PEER ? 0 : 1]++;
        else if (e->type == MACULA_EVENT_STREAM_CLOSED)
            stream_seen[1 + (int)e->end]++;
        else if (e->type == MACULA_EVENT_FRAME && e->stream != MACULA_STREAM_CONTROL)
            stream_seen[5]++;
    }
    const ws_event *d = ws_disconnected(s);
    if (d && d->reason >= 1 && d->reason <= MACULA_DISC_INTERNAL_ERROR)
        reasons_seen[d->reason]++;
}

static const int send_results[] = {0, 0, 0, MACULA_ERR_WOULD_BLOCK, MACULA_ERR_WOULD_BLOCK, MACULA_ERR_STREAM_CLOSED};

static void random_config(macula__worker_config *cfg, int is_server, const macula_identity *id)
{
    ws_config(cfg, is_server, id);
    cfg->has_accept_owner = (int)below(2);
    size_t pick = below(6);
    cfg->expected_node_id = pick == 0 ? macula_identity_node_id(mallory)
                            : pick == 1 ? macula_identity_node_id(is_server ? alice : bob)
                                        : NULL;
    if (is_server && below(4) == 0)
        cfg->admit = admit_some;
    cfg->handshake_timeout_ns = (1 + below(40)) * WS_SEC;
    cfg->drain_timeout_ns = (1 + below(6)) * WS_SEC;
    cfg->send_queue_cap = below(2) ? 0 : 200 + below(2000);
    cfg->backlog_cap = below(4) ? 0 : 400 + below(4000);
}

static void one_worker(void)
{
    int is_server = (int)below(2);
    macula__worker_config cfg;
    random_config(&cfg, is_server, bob);
    ws_shell *s = ws_new(&cfg, is_server ? "rand-server" : "rand-client");
    if (!s) {
        CHECK(0);
        return;
    }
    s->open_rc = below(10) == 0 ? MACULA_ERR_CONN_CLOSED : 0;
    s->manual_ack = (int)below(2);
    s->open_fail = below(8) == 0;
    script sc = {0};
    uint64_t stream_seq = 0;
    size_t steps = 1 + below(60);
    for (size_t i = 0; i < steps; i++) {
        /* Stream ids around both parities and both directions. */
        static const int64_t ids[] = {1, 2, 3, 4, 5, 8, 9, 12, 13, 16};
        int64_t sid = ids[below(sizeof ids / sizeof ids[0])];
        int64_t data_sid = sid == 4 ? 8 : sid; /* 4 carries the script (numbered on its own) */
        /* One step in five is a stream step: the rest keeps the mix that
         * reaches every ending. */
        switch (below(5) == 0 ? 16 + below(8) : below(16)) {
        case 16:
            ws_stream_opened(s, sid);
            break;
        case 17:
        case 18: { /* a numbered frame, whole or cut, or junk, maybe with FIN */
            size_t n;
            uint8_t *w = ws_numbered_frame(alice, stream_seq++, &n);
            static const uint8_t junk[] = {0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
            if (below(5) == 0)
                ws_data_on(s, data_sid, junk, 1 + below(sizeof junk), below(6) == 0);
            else
                ws_data_on(s, data_sid, w, below(3) ? n : below(n + 1), below(6) == 0);
            macula_free(w);
            break;
        }
        case 19:
            ws_open_stream(s, sid);
            break;
        case 20: {
            size_t n;
            uint8_t *w = ws_numbered_frame(bob, i, &n);
            ws_send_on(s, below(4) ? sid : MACULA_STREAM_CONTROL, w, n);
            macula_free(w);
            break;
        }
        case 21:
            if (below(2))
                ws_finish_stream(s, sid);
            else
                ws_reset_stream(s, sid, below(100));
            break;
        case 22:
            if (below(2)) {
                ws_stream_reset_on(s, sid, below(100));
            } else {
                s->would_block_qid_on = (int)below(2);
                s->would_block_qid = sid;
                ws_send_ready_on(s, sid);
            }
            break;
        case 23:
            ws_acked(s, below(3) ? s->open_sid : sid, below(2) ? s->watch_offset : below(1000));
            break;
        case 0:
            ws_start(s);
            break;
        case 1:
            ws_dial_ok(s);
            break;
        case 2:
            if (below(4) == 0)
                ws_dial_failed(s, "random dial failure");
            break;
        case 3:
            ws_stream_opened(s, below(4) ? 0 : 4);
            break;
        case 4:
        case 5:
        case 6:
        case 7: { /* more bytes of the script, in a random slice */
            if (sc.fed == sc.len)
                script_piece(&sc, is_server);
            size_t left = sc.len - sc.fed;
            size_t n = below(3) == 0 ? left : 1 + below(left);
            if (n > left)
                n = left;
            ws_data_on(s, below(12) ? 0 : 4, sc.buf + sc.fed, n, below(30) == 0);
            sc.fed += n;
            break;
        }
        case 8:
            if (below(6) == 0)
                ws_reset(s, below(3));
            break;
        case 9:
            ws_send_ready(s);
            break;
        case 10:
            if (below(5) == 0)
                ws_transport_closed(s, "random close");
            break;
        case 11:
            ws_advance(s, below(3) ? below(3 * WS_SEC) : below(45 * WS_SEC));
            break;
        case 12:
            if (below(4) == 0)
                ws_close(s, below(2) ? "random" : NULL);
            break;
        case 13: {
            size_t n;
            uint8_t *w = ws_numbered_frame(bob, i, &n);
            ws_send(s, w, n);
            macula_free(w);
            break;
        }
        case 14:
            if (s->n_send_rcs < WS_MAX_SCRIPT)
                s->send_rcs[s->n_send_rcs++] = send_results[below(sizeof send_results / sizeof send_results[0])];
            break;
        default: /* a spurious timer wake-up */
            macula__worker_on_timer(s->w, s->now);
            ws_run(s);
            break;
        }
    }
    CHECK_EQ_INT(ws_finish(s), 0);
    check_seq_order(s);
    note_reason(s);
    const ws_event *d = ws_disconnected(s);
    if (getenv("WS_DEBUG") && d) { /* WS_DEBUG=1: one line per worker; =2: with its diagnostics */
        fprintf(stderr, "%s steps=%zu fed=%zu reason=%s (%s) diags=%zu\n", s->name, steps, sc.fed,
                macula_disconnect_reason_name(d->reason), d->detail, s->n_diags);
        if (getenv("WS_DEBUG")[0] == '2')
            for (size_t i = 0; i < s->n_diags; i++)
                fprintf(stderr, "   %s\n", s->diags[i]);
    }
    free(sc.buf);
    ws_free(s);
}

/* Forwards up to n bytes not yet forwarded from one side to the other. */
static void forward_some(ws_shell *from, ws_shell *to, size_t n)
{
    size_t left = from->out_len - from->out_forwarded;
    if (n > left)
        n = left;
    if (!n)
        return;
    uint8_t *chunk = malloc(n);
    memcpy(chunk, from->out + from->out_forwarded, n);
    from->out_forwarded += n;
    ws_data(to, chunk, n, 0);
    free(chunk);
}

static void one_pair(void)
{
    macula__worker_config cc, sc;
    random_config(&cc, 0, alice);
    random_config(&sc, 1, bob);
    cc.expected_node_id = below(8) ? NULL : macula_identity_node_id(mallory);
    sc.expected_node_id = NULL;
    ws_shell *c = ws_new(&cc, "pair-client"), *s = ws_new(&sc, "pair-server");
    if (!c || !s) {
        CHECK(0);
        ws_free(c);
        ws_free(s);
        return;
    }
    ws_start(c);
    if (below(8))
        ws_dial_ok(c);
    int c_closed_seen = 0, s_closed_seen = 0;
    uint64_t cseq = 0, sseq = 1u << 20;
    int64_t c_next = 4, s_next = 1; /* ids each side opens next */
    size_t steps = 10 + below(80);
    for (size_t i = 0; i < steps; i++) {
        ws_shell *x = below(2) ? c : s, *y = x == c ? s : c;
        int64_t *next = x == c ? &c_next : &s_next;
        /* a stream of x: one it opened, or one of the peer's */
        int64_t any_sid = below(2) ? (*next > 4 ? *next - 4 * (int64_t)(1 + below((size_t)(*next / 4))) : *next)
                                   : (x == c ? 1 + 4 * (int64_t)below(3) : 4 + 4 * (int64_t)below(3));
        switch (below(5) == 0 ? 11 + below(4) : below(11)) {
        case 11:
            if (ws_open_stream(x, *next) != MACULA_ERR_INVALID_ARG)
                *next += 4;
            break;
        case 12: {
            size_t n;
            uint8_t *w = ws_numbered_frame(x == c ? alice : bob, x == c ? cseq++ : sseq++, &n);
            ws_send_on(x, any_sid, w, n);
            macula_free(w);
            break;
        }
        case 13:
            if (below(3))
                ws_finish_stream(x, any_sid);
            else
                ws_reset_stream(x, any_sid, below(50));
            break;
        case 14:
            if (!c->closes && !s->closes)
                ws_exchange_streams(c, s);
            break;
        case 0:
            if (x == s)
                ws_start(s);
            break;
        case 1:
            if (x == s)
                ws_stream_opened(s, 0);
            break;
        case 2:
        case 3:
        case 4:
            forward_some(x, y, 1 + below(600));
            break;
        case 5:
        case 6: {
            size_t n;
            uint8_t *w = ws_numbered_frame(x == c ? alice : bob, x == c ? cseq++ : sseq++, &n);
            ws_send(x, w, n);
            macula_free(w);
            break;
        }
        case 7:
            if (below(3) == 0)
                ws_close(x, "pair close");
            break;
        case 8:
            ws_advance(x, below(4) ? below(2 * WS_SEC) : below(40 * WS_SEC));
            break;
        case 9:
            if (x->n_send_rcs < WS_MAX_SCRIPT)
                x->send_rcs[x->n_send_rcs++] = send_results[below(4)]; /* 0 or would block */
            break;
        default:
            ws_send_ready(x);
            break;
        }
        /* A side that closed its transport is heard by the other, later. */
        if (c->closes && !c_closed_seen && below(3) == 0) {
            c_closed_seen = 1;
            forward_some(c, s, SIZE_MAX);
            ws_transport_closed(s, "peer: code 0 closed");
        }
        if (s->closes && !s_closed_seen && below(3) == 0) {
            s_closed_seen = 1;
            forward_some(s, c, SIZE_MAX);
            ws_transport_closed(c, "peer: code 0 closed");
        }
    }
    CHECK_EQ_INT(ws_finish(c), 0);
    CHECK_EQ_INT(ws_finish(s), 0);
    check_seq_order(c);
    check_seq_order(s);
    note_reason(c);
    note_reason(s);
    ws_free(c);
    ws_free(s);
}

int main(void)
{
    if (ws_identities(&alice, &bob, &mallory) != 0)
        return 1;
    const char *seed_env = getenv("MACULA_TEST_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0x5eed1234abcdULL;
    rng_state = seed ? seed : 1;
    fprintf(stderr, "seed 0x%llx\n", (unsigned long long)seed);
    int before = tu_failures;
    for (int i = 0; i < 5000 && tu_failures == before; i++)
        one_worker();
    fprintf(stderr, "%-48s %s\n", "random single workers", tu_failures == before ? "ok" : "FAILED");
    before = tu_failures;
    for (int i = 0; i < 2000 && tu_failures == before; i++)
        one_pair();
    fprintf(stderr, "%-48s %s\n", "random worker pairs", tu_failures == before ? "ok" : "FAILED");

    /* The runs must have reached a wide range of endings, or they test little. */
    int distinct = 0;
    for (int r = 1; r <= MACULA_DISC_INTERNAL_ERROR; r++) {
        if (reasons_seen[r])
            distinct++;
        fprintf(stderr, "  %-28s %d\n", macula_disconnect_reason_name((macula_disconnect_reason)r), reasons_seen[r]);
    }
    CHECK_EQ_INT(distinct, MACULA_DISC_INTERNAL_ERROR); /* every reason, internal_error by the backlog cap */
    static const char *const stream_names[] = {"stream opened by peer", "stream opened by us", "stream closed fin",
                                               "stream closed reset", "stream closed connection", "stream frames"};
    for (int k = 0; k < 6; k++) {
        fprintf(stderr, "  %-28s %d\n", stream_names[k], stream_seen[k]);
        CHECK(stream_seen[k] > 0); /* the stream paths were all reached */
    }
    ws_identities_free(alice, bob, mallory);
    return tu_summary();
}
