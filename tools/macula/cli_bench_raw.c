/* SPDX-License-Identifier: Apache-2.0 */
/* `macula bench raw`: the transport ceiling under the peering rows. The
 * same two runtimes on 127.0.0.1 as the peering rig, but plain QUIC
 * (macula/quic.h, no frames, no peering): one stream, one direction, the
 * same bytes per write as a peering frame's wire size. Its MB/s and writes
 * per second say how much of a peering figure QUIC itself allows. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_bench_raw.h"
#include "cli_bench_rig.h"

struct raw {
    macula_runtime *srv_rt, *cli_rt;
    macula_identity *id;
    macula_quic_endpoint *ep;
    uint16_t port;
    /* client side (its loop thread only) */
    macula_quic_conn *conn;
    int64_t stream;
    uint8_t *chunk;
    size_t chunk_len;
    uint64_t writes_total, writes_done;
    uint64_t t0_ns;
    /* server side counters */
    atomic_uint_fast64_t rx_bytes, rx_last_ns;
    atomic_int failed;
    /* "run on the loop and wait" */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int step_done;
};

static void step_finish(struct raw *r)
{
    pthread_mutex_lock(&r->mu);
    r->step_done = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Runs fn on the runtime's loop thread (quic.h is loop-thread only) and
 * waits until it has called step_finish. */
static int on_loop(struct raw *r, macula_runtime *rt, void (*fn)(void *))
{
    r->step_done = 0;
    int rc = macula_runtime_post(rt, fn, r);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&r->mu);
    while (!r->step_done)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

static void srv_event(void *user, const macula_quic_event *ev)
{
    struct raw *r = user;
    if (ev->type == MACULA_QUIC_EV_STREAM_DATA && ev->len) {
        atomic_store(&r->rx_last_ns, rig_now_ns());
        atomic_fetch_add(&r->rx_bytes, ev->len);
    }
}

static void open_endpoint(void *arg)
{
    struct raw *r = arg;
    macula_quic_endpoint_options eo;
    macula_quic_endpoint_options_init(&eo);
    eo.bind_host = "127.0.0.1";
    eo.identity = r->id;
    eo.on_connection = srv_event;
    eo.on_connection_user = r;
    int err = 0;
    r->ep = macula_quic_endpoint_new(r->srv_rt, &eo, &err);
    r->port = r->ep ? macula_quic_endpoint_port(r->ep) : 0;
    step_finish(r);
}

/* Queues writes until QUIC's send queue says "later" (SEND_READY). */
static void pump(struct raw *r)
{
    while (r->writes_done < r->writes_total) {
        int rc = macula_quic_conn_send(r->conn, r->stream, r->chunk, r->chunk_len, 0);
        if (rc == MACULA_ERR_WOULD_BLOCK)
            return;
        if (rc != 0) {
            atomic_store(&r->failed, 1);
            return;
        }
        r->writes_done++;
    }
}

static void cli_event(void *user, const macula_quic_event *ev)
{
    struct raw *r = user;
    switch (ev->type) {
    case MACULA_QUIC_EV_CONNECTED:
        r->conn = ev->conn;
        if (macula_quic_conn_open_stream(ev->conn, &r->stream) != 0) {
            atomic_store(&r->failed, 1);
            step_finish(r);
            return;
        }
        step_finish(r); /* connected: the main thread starts the clock */
        break;
    case MACULA_QUIC_EV_SEND_READY:
        pump(r);
        break;
    case MACULA_QUIC_EV_CLOSED:
        if (!r->conn) {
            atomic_store(&r->failed, 1);
            step_finish(r);
        }
        r->conn = NULL;
        break;
    default:
        break;
    }
}

static void dial(void *arg)
{
    struct raw *r = arg;
    macula_quic_dial_options o;
    macula_quic_dial_options_init(&o);
    o.host = "127.0.0.1";
    o.port = r->port;
    o.verify = MACULA_QUIC_VERIFY_PIN;
    o.pin_ed25519 = macula_identity_node_id(r->id);
    o.timeout_ms = 10000;
    int err = 0;
    if (!macula_quic_dial(r->cli_rt, NULL, &o, cli_event, r, &err)) {
        atomic_store(&r->failed, 1);
        step_finish(r);
    }
}

static void start_pump(void *arg)
{
    struct raw *r = arg;
    r->t0_ns = rig_now_ns();
    if (r->conn)
        pump(r);
    step_finish(r);
}

static void close_conn(void *arg)
{
    struct raw *r = arg;
    if (r->conn)
        macula_quic_conn_close(r->conn, 0, NULL);
    step_finish(r);
}

static void close_endpoint(void *arg)
{
    struct raw *r = arg;
    if (r->ep)
        macula_quic_endpoint_close(r->ep);
    r->ep = NULL;
    step_finish(r);
}

static int raw_setup(struct raw *r)
{
    int err = 0;
    if (!(r->id = macula_identity_generate(&err)) || !(r->srv_rt = macula_runtime_new(NULL, &err)) ||
        !(r->cli_rt = macula_runtime_new(NULL, &err)))
        return err;
    if ((err = macula_runtime_start(r->srv_rt)) != 0 || (err = macula_runtime_start(r->cli_rt)) != 0)
        return err;
    if ((err = on_loop(r, r->srv_rt, open_endpoint)) != 0)
        return err;
    if (!r->ep)
        return MACULA_ERR_IO;
    if ((err = on_loop(r, r->cli_rt, dial)) != 0)
        return err;
    return atomic_load(&r->failed) ? MACULA_ERR_CONN_CLOSED : 0;
}

int bench_raw_quic(size_t write_len, uint64_t writes, struct raw_result *out)
{
    memset(out, 0, sizeof *out);
    struct raw r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    int rc = MACULA_ERR_NOMEM;
    r.chunk_len = write_len ? write_len : 1;
    r.writes_total = writes;
    if ((r.chunk = malloc(r.chunk_len)) != NULL) {
        memset(r.chunk, 0x5a, r.chunk_len);
        rc = raw_setup(&r);
    }
    if (rc == 0) {
        double cpu0 = rig_process_cpu_s();
        uint64_t total = (uint64_t)r.chunk_len * writes;
        rc = on_loop(&r, r.cli_rt, start_pump);
        if (rc == 0 && !rig_wait(&r.rx_bytes, total, 120000))
            rc = MACULA_ERR_TIMEOUT;
        if (rc == 0 && atomic_load(&r.failed))
            rc = MACULA_ERR_CONN_CLOSED;
        if (rc == 0) {
            double secs = (double)(atomic_load(&r.rx_last_ns) - r.t0_ns) / 1e9;
            out->writes_per_s = (double)writes / secs;
            out->mb_s = (double)total / secs / 1e6;
            out->process_cpu_us = (rig_process_cpu_s() - cpu0) / (double)writes * 1e6;
        }
        on_loop(&r, r.cli_rt, close_conn);
    }
    if (r.srv_rt && r.ep)
        on_loop(&r, r.srv_rt, close_endpoint);
    macula_runtime_free(r.cli_rt);
    macula_runtime_free(r.srv_rt);
    macula_identity_free(r.id);
    free(r.chunk);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    return rc;
}
