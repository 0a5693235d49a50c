/* SPDX-License-Identifier: Apache-2.0 */
/* `macula bench relay`: A -> R -> B, through the peering layer with
 * macula_peer_forward and through a plain-QUIC relay (cli_bench_relay.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_bench_relay.h"
#include "cli_bench_rig.h"

#define RELAY_WAIT_MS 120000u
/* Frames sent by A but not yet seen by B: keeps every window full, and R's
 * queue towards B far below send_queue_cap, so no forward is refused. */
#define RELAY_INFLIGHT_BYTES (8u << 20)

static void nap_us(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000L};
    nanosleep(&ts, NULL);
}

/* A runtime, started unless `later` (a listener is made before the loop
 * runs). */
static macula_runtime *relay_runtime_opt(int *err, int later)
{
    macula_runtime_options ro;
    macula_runtime_options_init(&ro);
    ro.shutdown_timeout_ms = 2000;
    macula_runtime *rt = macula_runtime_new(&ro, err);
    if (rt && !later && (*err = macula_runtime_start(rt)) != 0) {
        macula_runtime_free(rt);
        rt = NULL;
    }
    return rt;
}

static macula_runtime *relay_runtime(int *err) { return relay_runtime_opt(err, 0); }

/* ===================================================================== */
/* peering: R forwards with macula_peer_forward                          */
/* ===================================================================== */

struct prelay {
    macula_runtime *rt_r, *rt_a, *rt_b;
    macula_identity *id_r, *id_a, *id_b;
    macula_listener *l;
    _Atomic macula_peer r_to_b; /* R's server peer of B */
    atomic_int a_up, b_up;
    macula_peer a;              /* A's client peer (towards R) */
    atomic_uint_fast64_t b_frames, b_target, b_last_ns, forward_failed;
};

static void r_handler(void *user, macula_event *ev)
{
    struct prelay *p = user;
    if (ev->type == MACULA_EVENT_CONNECTED && ev->has_peer_node_id &&
        memcmp(ev->peer_node_id, macula_identity_node_id(p->id_b), MACULA_NODE_ID_LEN) == 0)
        atomic_store(&p->r_to_b, ev->peer);
    if (ev->type != MACULA_EVENT_FRAME || ev->peer == atomic_load(&p->r_to_b))
        return;
    /* the frame type is read from the bytes: GOODBYE is the peering's own */
    const char *type = macula_event_frame_type(ev);
    if (type && !strcmp(type, "goodbye"))
        return;
    macula_peer b = atomic_load(&p->r_to_b);
    if (!b || macula_peer_forward(p->rt_r, b, MACULA_STREAM_CONTROL, ev) != 0)
        atomic_fetch_add(&p->forward_failed, 1);
}

static void a_handler(void *user, macula_event *ev)
{
    struct prelay *p = user;
    if (ev->type == MACULA_EVENT_CONNECTED)
        atomic_store(&p->a_up, 1);
}

static void b_handler(void *user, macula_event *ev)
{
    struct prelay *p = user;
    if (ev->type == MACULA_EVENT_CONNECTED)
        atomic_store(&p->b_up, 1);
    if (ev->type == MACULA_EVENT_FRAME &&
        atomic_fetch_add(&p->b_frames, 1) + 1 == atomic_load(&p->b_target))
        atomic_store(&p->b_last_ns, rig_now_ns());
}

static int wait_flag(atomic_int *f, uint32_t timeout_ms)
{
    uint64_t end = rig_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (!atomic_load(f) && rig_now_ns() < end)
        nap_us(200);
    return atomic_load(f);
}

static macula_peer dial_r(struct prelay *p, macula_runtime *rt, const macula_identity *id, macula_event_fn fn,
                          int *err)
{
    macula_peer_options o;
    macula_peer_options_init(&o);
    o.identity = id;
    o.host = "127.0.0.1";
    o.port = macula_listener_port(p->l);
    o.expected_node_id = macula_identity_node_id(p->id_r);
    o.handler = fn;
    o.handler_user = p;
    o.drain_timeout_ms = 100;
    o.lazy_frames = 1; /* B counts frames: checked, nothing built (A receives none) */
    return macula_peer_connect(rt, &o, err, NULL);
}

static int prelay_open(struct prelay *p)
{
    int err = 0;
    if (!(p->id_r = macula_identity_generate(&err)) || !(p->id_a = macula_identity_generate(&err)) ||
        !(p->id_b = macula_identity_generate(&err)))
        return err;
    if (!(p->rt_r = relay_runtime_opt(&err, 1)) || !(p->rt_a = relay_runtime(&err)) || !(p->rt_b = relay_runtime(&err)))
        return err;
    macula_peer_options po;
    macula_peer_options_init(&po);
    po.identity = p->id_r;
    po.handler = r_handler;
    po.handler_user = p;
    po.lazy_frames = 1; /* R forwards without decoding */
    if (!(p->l = rig_loopback_listener(p->rt_r, p->id_r, &po, "bench relay", &err)))
        return err;
    if ((err = macula_runtime_start(p->rt_r)) != 0)
        return err;
    if (!dial_r(p, p->rt_b, p->id_b, b_handler, &err) || !wait_flag(&p->b_up, 10000))
        return err ? err : MACULA_ERR_TIMEOUT;
    uint64_t end = rig_now_ns() + 10000000000ull;
    while (!atomic_load(&p->r_to_b) && rig_now_ns() < end)
        nap_us(200);
    if (!atomic_load(&p->r_to_b))
        return MACULA_ERR_TIMEOUT;
    if (!(p->a = dial_r(p, p->rt_a, p->id_a, a_handler, &err)) || !wait_flag(&p->a_up, 10000))
        return err ? err : MACULA_ERR_TIMEOUT;
    return 0;
}

static void prelay_close(struct prelay *p)
{
    macula_runtime_free(p->rt_a);
    macula_runtime_free(p->rt_b);
    macula_runtime_free(p->rt_r);
    macula_identity_free(p->id_a);
    macula_identity_free(p->id_b);
    macula_identity_free(p->id_r);
}

int bench_relay_peering(size_t payload, uint64_t count, struct relay_result *out)
{
    memset(out, 0, sizeof *out);
    struct prelay p;
    memset(&p, 0, sizeof p);
    uint8_t *pl = malloc(payload ? payload : 1), *wire = NULL;
    size_t wire_len = 0;
    int rc = pl ? prelay_open(&p) : MACULA_ERR_NOMEM;
    macula_frame *f = NULL;
    if (rc == 0) {
        for (size_t i = 0; i < payload; i++)
            pl[i] = (uint8_t)(i * 131u + 7u);
        f = macula_frame_publish(p.id_a, NULL, "bench", 5, macula_value_bytes(pl, payload), 0, -1, 0, NULL);
        if (!f || (rc = macula_frame_sign(f, p.id_a)) != 0 || (rc = macula_frame_encode(f, &wire, &wire_len)) != 0)
            rc = rc ? rc : MACULA_ERR_NOMEM;
    }
    if (rc == 0) {
        out->wire_len = wire_len;
        uint64_t window = RELAY_INFLIGHT_BYTES / wire_len + 1;
        atomic_store(&p.b_target, count);
        double cpu0 = rig_process_cpu_s();
        uint64_t t0 = rig_now_ns();
        for (uint64_t i = 0; i < count && rc == 0;) {
            if (i - atomic_load(&p.b_frames) >= window) {
                nap_us(20);
                continue;
            }
            rc = macula_peer_send_wire(p.rt_a, p.a, wire, wire_len);
            if (rc == MACULA_ERR_QUEUE_FULL) {
                rc = 0;
                nap_us(50);
                continue;
            }
            i++;
        }
        if (rc == 0 && (!rig_wait(&p.b_frames, count, RELAY_WAIT_MS) || !rig_wait(&p.b_last_ns, 1, RELAY_WAIT_MS)))
            rc = MACULA_ERR_TIMEOUT;
        if (rc == 0) {
            double secs = (double)(atomic_load(&p.b_last_ns) - t0) / 1e9;
            out->n = count;
            out->per_s = (double)count / secs;
            out->mb_s = (double)count * (double)wire_len / secs / 1e6;
            out->process_cpu_us = (rig_process_cpu_s() - cpu0) / (double)count * 1e6;
        }
        out->forward_failed = atomic_load(&p.forward_failed);
    }
    macula_frame_free(f);
    macula_free(wire);
    free(pl);
    prelay_close(&p);
    return rc;
}

/* ===================================================================== */
/* plain QUIC: R copies A's stream onto B's                              */
/* ===================================================================== */

struct qrelay {
    macula_runtime *rt_r, *rt_a, *rt_b;
    macula_identity *id;
    macula_quic_endpoint *ep;
    uint16_t port;
    /* R (its loop only): the two accepted connections and their streams */
    macula_quic_conn *r_b, *r_a;
    int64_t r_b_stream, r_a_stream;
    uint8_t *pending; /* bytes read from A that B's queue could not take yet */
    size_t pending_len, pending_cap;
    /* A (its loop only) */
    macula_quic_conn *a_conn;
    int64_t a_stream;
    uint8_t *chunk;
    size_t chunk_len;
    uint64_t writes_total, writes_done, t0_ns;
    /* B (its loop only) */
    macula_quic_conn *b_conn;
    int64_t b_stream;
    atomic_uint_fast64_t b_bytes, b_last_ns;
    atomic_int failed, b_ready, a_ready, step;
};

static void q_fail(struct qrelay *q) { atomic_store(&q->failed, 1); }

/* R: hands `len` bytes to B, keeping what does not fit (A paused). */
static void r_to_b(struct qrelay *q, const uint8_t *data, size_t len)
{
    if (q->pending_len == 0) {
        int rc = macula_quic_conn_send(q->r_b, q->r_b_stream, data, len, 0);
        if (rc == 0)
            return;
        if (rc != MACULA_ERR_WOULD_BLOCK) {
            q_fail(q);
            return;
        }
        macula_quic_conn_pause_reading(q->r_a, q->r_a_stream, 1);
    }
    if (q->pending_len + len > q->pending_cap) {
        size_t cap = q->pending_cap ? q->pending_cap : 65536;
        while (cap < q->pending_len + len)
            cap *= 2;
        uint8_t *nb = realloc(q->pending, cap);
        if (!nb) {
            q_fail(q);
            return;
        }
        q->pending = nb;
        q->pending_cap = cap;
    }
    memcpy(q->pending + q->pending_len, data, len);
    q->pending_len += len;
}

static void r_event(void *user, const macula_quic_event *ev)
{
    struct qrelay *q = user;
    switch (ev->type) {
    case MACULA_QUIC_EV_STREAM_DATA:
        if (!ev->len)
            break;
        if (!q->r_b) { /* B announces itself with one byte before A dials */
            q->r_b = ev->conn;
            q->r_b_stream = ev->stream_id;
            atomic_store(&q->b_ready, 1);
        } else if (ev->conn != q->r_b) {
            q->r_a = ev->conn;
            q->r_a_stream = ev->stream_id;
            r_to_b(q, ev->data, ev->len);
        }
        break;
    case MACULA_QUIC_EV_SEND_READY:
        if (ev->conn == q->r_b && q->pending_len) {
            int rc = macula_quic_conn_send(q->r_b, q->r_b_stream, q->pending, q->pending_len, 0);
            if (rc == 0) {
                q->pending_len = 0;
                macula_quic_conn_pause_reading(q->r_a, q->r_a_stream, 0);
            } else if (rc != MACULA_ERR_WOULD_BLOCK) {
                q_fail(q);
            }
        }
        break;
    default:
        break;
    }
}

static void a_pump(struct qrelay *q)
{
    while (q->writes_done < q->writes_total) {
        int rc = macula_quic_conn_send(q->a_conn, q->a_stream, q->chunk, q->chunk_len, 0);
        if (rc == MACULA_ERR_WOULD_BLOCK)
            return;
        if (rc != 0) {
            q_fail(q);
            return;
        }
        q->writes_done++;
    }
}

static void a_event(void *user, const macula_quic_event *ev)
{
    struct qrelay *q = user;
    if (ev->type == MACULA_QUIC_EV_CONNECTED) {
        q->a_conn = ev->conn;
        if (macula_quic_conn_open_stream(ev->conn, &q->a_stream) != 0)
            q_fail(q);
        atomic_store(&q->a_ready, 1);
    } else if (ev->type == MACULA_QUIC_EV_SEND_READY) {
        a_pump(q);
    } else if (ev->type == MACULA_QUIC_EV_CLOSED && !q->a_conn) {
        q_fail(q);
        atomic_store(&q->a_ready, 1);
    }
}

static void b_event(void *user, const macula_quic_event *ev)
{
    struct qrelay *q = user;
    if (ev->type == MACULA_QUIC_EV_CONNECTED) {
        static const uint8_t hello = 'B';
        q->b_conn = ev->conn;
        if (macula_quic_conn_open_stream(ev->conn, &q->b_stream) != 0 ||
            macula_quic_conn_send(ev->conn, q->b_stream, &hello, 1, 0) != 0)
            q_fail(q);
    } else if (ev->type == MACULA_QUIC_EV_STREAM_DATA && ev->len) {
        atomic_store(&q->b_last_ns, rig_now_ns());
        atomic_fetch_add(&q->b_bytes, ev->len);
    } else if (ev->type == MACULA_QUIC_EV_CLOSED && !q->b_conn) {
        q_fail(q);
        atomic_store(&q->b_ready, 1);
    }
}

/* Loop-thread steps, posted and waited for through q->step. */
static void step_done(struct qrelay *q) { atomic_store(&q->step, 1); }

static int run_step(struct qrelay *q, macula_runtime *rt, void (*fn)(void *))
{
    atomic_store(&q->step, 0);
    int rc = macula_runtime_post(rt, fn, q);
    if (rc != 0)
        return rc;
    while (!atomic_load(&q->step))
        nap_us(100);
    return 0;
}

static void r_open(void *arg)
{
    struct qrelay *q = arg;
    macula_quic_endpoint_options eo;
    macula_quic_endpoint_options_init(&eo);
    eo.bind_host = "127.0.0.1";
    eo.identity = q->id;
    eo.on_connection = r_event;
    eo.on_connection_user = q;
    int err = 0;
    q->ep = macula_quic_endpoint_new(q->rt_r, &eo, &err);
    q->port = q->ep ? macula_quic_endpoint_port(q->ep) : 0;
    step_done(q);
}

static void q_dial(struct qrelay *q, macula_runtime *rt, macula_quic_handler fn)
{
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    o.host = "127.0.0.1";
    o.port = q->port;
    o.verify = MACULA_QUIC_VERIFY_PIN;
    o.pin_ed25519 = macula_identity_node_id(q->id);
    o.timeout_ms = 10000;
    int err = 0;
    if (!macula_quic_dial(rt, NULL, &o, fn, q, &err))
        q_fail(q);
}

static void b_dial(void *arg)
{
    struct qrelay *q = arg;
    q_dial(q, q->rt_b, b_event);
    step_done(q);
}

static void a_dial(void *arg)
{
    struct qrelay *q = arg;
    q_dial(q, q->rt_a, a_event);
    step_done(q);
}

static void a_start(void *arg)
{
    struct qrelay *q = arg;
    q->t0_ns = rig_now_ns();
    a_pump(q);
    step_done(q);
}

static void a_close(void *arg)
{
    struct qrelay *q = arg;
    if (q->a_conn)
        macula_quic_conn_close(q->a_conn, 0, NULL);
    step_done(q);
}

static void b_close(void *arg)
{
    struct qrelay *q = arg;
    if (q->b_conn)
        macula_quic_conn_close(q->b_conn, 0, NULL);
    step_done(q);
}

static void r_close(void *arg)
{
    struct qrelay *q = arg;
    if (q->ep)
        macula_quic_endpoint_close(q->ep);
    q->ep = NULL;
    step_done(q);
}

int bench_relay_quic(size_t write_len, uint64_t count, struct relay_result *out)
{
    memset(out, 0, sizeof *out);
    struct qrelay q;
    memset(&q, 0, sizeof q);
    int err = 0;
    q.chunk_len = write_len ? write_len : 1;
    q.writes_total = count;
    int rc = (q.chunk = malloc(q.chunk_len)) ? 0 : MACULA_ERR_NOMEM;
    if (rc == 0) {
        memset(q.chunk, 0x5a, q.chunk_len);
        if (!(q.id = macula_identity_generate(&err)) || !(q.rt_r = relay_runtime(&err)) ||
            !(q.rt_a = relay_runtime(&err)) || !(q.rt_b = relay_runtime(&err)))
            rc = err ? err : MACULA_ERR_NOMEM;
    }
    if (rc == 0 && (rc = run_step(&q, q.rt_r, r_open)) == 0 && !q.ep)
        rc = MACULA_ERR_IO;
    if (rc == 0 && (rc = run_step(&q, q.rt_b, b_dial)) == 0 && (!wait_flag(&q.b_ready, 10000) || q.failed))
        rc = MACULA_ERR_TIMEOUT;
    if (rc == 0 && (rc = run_step(&q, q.rt_a, a_dial)) == 0 && (!wait_flag(&q.a_ready, 10000) || q.failed))
        rc = MACULA_ERR_TIMEOUT;
    if (rc == 0) {
        uint64_t total = (uint64_t)q.chunk_len * count;
        double cpu0 = rig_process_cpu_s();
        rc = run_step(&q, q.rt_a, a_start);
        if (rc == 0 && !rig_wait(&q.b_bytes, total, RELAY_WAIT_MS))
            rc = MACULA_ERR_TIMEOUT;
        if (rc == 0 && atomic_load(&q.failed))
            rc = MACULA_ERR_CONN_CLOSED;
        if (rc == 0) {
            double secs = (double)(atomic_load(&q.b_last_ns) - q.t0_ns) / 1e9;
            out->n = count;
            out->wire_len = q.chunk_len;
            out->per_s = (double)count / secs;
            out->mb_s = (double)total / secs / 1e6;
            out->process_cpu_us = (rig_process_cpu_s() - cpu0) / (double)count * 1e6;
        }
    }
    if (q.rt_a)
        run_step(&q, q.rt_a, a_close);
    if (q.rt_b)
        run_step(&q, q.rt_b, b_close);
    if (q.rt_r && q.ep)
        run_step(&q, q.rt_r, r_close);
    macula_runtime_free(q.rt_a);
    macula_runtime_free(q.rt_b);
    macula_runtime_free(q.rt_r);
    macula_identity_free(q.id);
    free(q.chunk);
    free(q.pending);
    return rc;
}
