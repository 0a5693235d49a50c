/* SPDX-License-Identifier: Apache-2.0 */
/* Per-runtime QUIC state: the endpoints of a runtime, its shared client
 * endpoints, dials still resolving, and the shutdown hook that closes them
 * all when the runtime stops. */
#include <stdlib.h>
#include <sys/socket.h>

#include "quic/quic_internal.h"

/* Stop: every connection closes now (CONNECTION_CLOSE sent, CLOSED
 * delivered); endpoints stay until closed or the runtime is freed. */
static void hook_begin(void *arg, uint64_t deadline_ns)
{
    (void)deadline_ns;
    quic_rt *qrt = arg;
    qrt->shutting_down = 1;
    while (qrt->resolving)
        macula__conn_close_now(qrt->resolving);
    /* Handlers may close endpoints while their connections close: hold
     * every endpoint first so that such closes wait until it is left. */
    for (macula_quic_endpoint *ep = qrt->endpoints; ep; ep = ep->next)
        macula__endpoint_enter(ep);
    for (macula_quic_endpoint *ep = qrt->endpoints; ep; ep = ep->next) {
        ep->closing = 1;
        while (ep->conns)
            macula__conn_close_now(ep->conns);
    }
    macula_quic_endpoint *next;
    for (macula_quic_endpoint *ep = qrt->endpoints; ep; ep = next) {
        next = ep->next;
        macula__endpoint_leave(ep);
    }
    macula__runtime_shutdown_done(qrt->rt, &qrt->hook);
}

static void hook_force(void *arg) { hook_begin(arg, 0); }

static void hook_release(void *arg)
{
    quic_rt *qrt = arg;
    qrt->shutting_down = 1;
    while (qrt->resolving)
        macula__conn_close_now(qrt->resolving);
    while (qrt->endpoints)
        macula__endpoint_free_now(qrt->endpoints);
    *macula__runtime_slot(qrt->rt, MACULA__SLOT_QUIC) = NULL;
    free(qrt);
}

quic_rt *macula__quic_rt_get(macula_runtime *rt, int create)
{
    void **slot = macula__runtime_slot(rt, MACULA__SLOT_QUIC);
    if (*slot || !create)
        return *slot;
    quic_rt *qrt = calloc(1, sizeof *qrt);
    if (!qrt)
        return NULL;
    qrt->rt = rt;
    qrt->hook.begin = hook_begin;
    qrt->hook.force = hook_force;
    qrt->hook.release = hook_release;
    qrt->hook.arg = qrt;
    qrt->hook.late = 1;
    macula__runtime_add_shutdown_hook(rt, &qrt->hook);
    *slot = qrt;
    return qrt;
}

void macula__quic_rt_link_endpoint(quic_rt *qrt, macula_quic_endpoint *ep)
{
    ep->prev = NULL;
    ep->next = qrt->endpoints;
    if (qrt->endpoints)
        qrt->endpoints->prev = ep;
    qrt->endpoints = ep;
}

void macula__quic_rt_unlink_endpoint(quic_rt *qrt, macula_quic_endpoint *ep)
{
    if (ep->prev)
        ep->prev->next = ep->next;
    else if (qrt->endpoints == ep)
        qrt->endpoints = ep->next;
    if (ep->next)
        ep->next->prev = ep->prev;
    ep->prev = ep->next = NULL;
    if (qrt->client4 == ep)
        qrt->client4 = NULL;
    if (qrt->client6 == ep)
        qrt->client6 = NULL;
}

macula_quic_endpoint *macula__quic_rt_client_endpoint(quic_rt *qrt, int family, int *err)
{
    macula_quic_endpoint **slot = family == AF_INET6 ? &qrt->client6 : &qrt->client4;
    if (*slot)
        return *slot;
    macula_quic_endpoint_options o;
    macula_quic_endpoint_options_init(&o);
    o.bind_host = family == AF_INET6 ? "::" : "0.0.0.0";
    macula_quic_endpoint *ep = macula_quic_endpoint_new(qrt->rt, &o, err);
    if (!ep)
        return NULL;
    ep->shared_client = 1;
    *slot = ep;
    return ep;
}

void macula__quic_rt_unlink_resolving(quic_rt *qrt, macula_quic_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (qrt->resolving == c)
        qrt->resolving = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}
