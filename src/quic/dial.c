/* SPDX-License-Identifier: Apache-2.0 */
/* Dialing: option checks, host-name resolution on a helper thread (a slow
 * resolver never blocks the loop), and one deadline that covers resolution
 * and the whole handshake. */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quic/quic_internal.h"

struct resolve_job {
    macula__post_handle *post;
    macula_quic_conn *conn; /* loop thread only; NULL once the dial ended */
    char *host;
    uint16_t port;
    int family;             /* AF_UNSPEC, or the caller's endpoint family */
    int rc;                 /* getaddrinfo result */
    struct sockaddr_storage addr;
    socklen_t addr_len;
};

static void free_job(struct resolve_job *job)
{
    macula__post_handle_release(job->post);
    free(job->host);
    free(job);
}

void macula__dial_cancel_resolve(macula_quic_conn *c)
{
    if (c->resolve) {
        c->resolve->conn = NULL; /* the job frees itself when it reports */
        c->resolve = NULL;
    }
}

/* Prefers the requested family; otherwise IPv4 first, because "localhost"
 * often lists ::1 first while services commonly listen on 127.0.0.1. */
static const struct addrinfo *pick(const struct addrinfo *res, int family)
{
    int want = family != AF_UNSPEC ? family : AF_INET;
    for (const struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == want)
            return a;
    for (const struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
            return a;
    return NULL;
}

static int resolve(const char *host, uint16_t port, int family, int numeric_only, struct sockaddr_storage *out,
                   socklen_t *out_len)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV | (numeric_only ? AI_NUMERICHOST : 0);
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0)
        return rc;
    const struct addrinfo *a = pick(res, family);
    if (!a) {
        freeaddrinfo(res);
        return EAI_FAMILY;
    }
    memcpy(out, a->ai_addr, a->ai_addrlen);
    *out_len = a->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* On the loop: the address is known; attach to an endpoint and start. */
static void connect_resolved(macula_quic_conn *c, const struct sockaddr_storage *addr, socklen_t addr_len);

void macula__dial_connect_numeric(macula_quic_conn *c)
{
    struct sockaddr_storage addr = c->remote;
    connect_resolved(c, &addr, c->remote_len);
}

static void connect_resolved(macula_quic_conn *c, const struct sockaddr_storage *addr, socklen_t addr_len)
{
    struct sockaddr_storage to = *addr;
    socklen_t to_len = addr_len;
    macula_quic_endpoint *ep = c->dial_ep;
    int err = 0;
    if (ep && ep->closing) {
        macula__conn_fail_dial(c, MACULA_ERR_STATE, "the dialing endpoint is closing");
        return;
    }
    if (ep && ep->sock.family == AF_INET6 && to.ss_family == AF_INET) {
        /* A dual-stack IPv6 endpoint reaches IPv4 peers as mapped addresses. */
        struct sockaddr_in v4;
        memcpy(&v4, &to, sizeof v4);
        struct sockaddr_in6 v6;
        memset(&v6, 0, sizeof v6);
        v6.sin6_family = AF_INET6;
        v6.sin6_port = v4.sin_port;
        v6.sin6_addr.s6_addr[10] = 0xff;
        v6.sin6_addr.s6_addr[11] = 0xff;
        memcpy(&v6.sin6_addr.s6_addr[12], &v4.sin_addr, 4);
        memcpy(&to, &v6, sizeof v6);
        to_len = sizeof v6;
    } else if (ep && ep->sock.family != to.ss_family) {
        macula__conn_fail_dial(c, MACULA_ERR_INVALID_ARG, "%s resolved to an address the endpoint cannot reach",
                               c->host);
        return;
    }
    if (!ep) {
        ep = macula__quic_rt_client_endpoint(c->qrt, to.ss_family, &err);
        if (!ep) {
            macula__conn_fail_dial(c, err, "cannot open a client UDP socket: %s", macula_strerror(err));
            return;
        }
    }
    /* Leave the resolving list for the endpoint's. */
    macula__quic_rt_unlink_resolving(c->qrt, c);
    err = macula__conn_start_client(c, ep, (const struct sockaddr *)&to, to_len);
    if (err != 0)
        macula__conn_fail_dial(c, err, "cannot start the QUIC connection: %s",
                               c->verify_why[0] ? c->verify_why : macula_strerror(err));
}

static void job_done(void *arg)
{
    struct resolve_job *job = arg;
    macula_quic_conn *c = job->conn;
    if (c) {
        c->resolve = NULL;
        if (job->rc == 0)
            connect_resolved(c, &job->addr, job->addr_len);
        else
            macula__conn_fail_dial(c, MACULA_ERR_RESOLVE, "cannot resolve %s: %s", c->host, gai_strerror(job->rc));
        macula__conn_kick(c);
    }
    free_job(job);
}

static void *resolver_main(void *arg)
{
    struct resolve_job *job = arg;
    job->rc = resolve(job->host, job->port, job->family, 0, &job->addr, &job->addr_len);
    if (macula__post_handle_post(job->post, job_done, job) != 0)
        free_job(job); /* the runtime is gone: nobody waits for the answer */
    return NULL;
}

static int start_resolver(macula_quic_conn *c)
{
    struct resolve_job *job = calloc(1, sizeof *job);
    if (!job)
        return MACULA_ERR_NOMEM;
    job->host = strdup(c->host);
    if (!job->host) {
        free(job);
        return MACULA_ERR_NOMEM;
    }
    job->port = c->port;
    job->family = c->dial_ep ? c->dial_ep->sock.family : AF_UNSPEC;
    job->post = macula__runtime_post_handle(c->rt);
    job->conn = c;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int rc = pthread_create(&th, &attr, resolver_main, job);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free_job(job);
        return MACULA_ERR_IO;
    }
    c->resolve = job;
    return 0;
}

static char *strip_brackets(const char *host)
{
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
        return strndup(host + 1, len - 2);
    return strdup(host);
}

macula_quic_conn *macula_quic_dial(macula_runtime *rt, macula_quic_endpoint *ep,
                                   const macula_quic_dial_options *caller_opts, macula_quic_handler handler, void *user,
                                   int *err)
{
    int rc = MACULA_ERR_INVALID_ARG;
    macula_quic_conn *c = NULL;
    /* The caller's release of the struct, completed with defaults. */
    macula_quic_dial_options full;
    const macula_quic_dial_options *opts = &full;
    if (!caller_opts || macula__dial_options_read(&full, caller_opts) != 0)
        goto fail;
    if (!rt || !handler || !opts->host || !opts->host[0] || strlen(opts->host) > 255 || opts->port == 0 ||
        !macula__alpn_valid(opts->alpn, opts->n_alpn) || (opts->verify == MACULA_QUIC_VERIFY_PIN && !opts->pin_ed25519) ||
        opts->verify > MACULA_QUIC_VERIFY_PKI || (opts->ca_file && opts->verify != MACULA_QUIC_VERIFY_PKI) ||
        (opts->ca_file && !opts->ca_file[0]) || (ep && ep->rt != rt))
        goto fail;
    /* Loop thread only (quic.h): refused, not raced, while another thread
     * runs the loop. */
    if ((rc = macula__runtime_thread_check(rt, "macula_quic_dial")) != 0)
        goto fail;
    if ((rc = macula_crypto_init()) != 0)
        goto fail;
    rc = MACULA_ERR_NOMEM;
    quic_rt *qrt = macula__quic_rt_get(rt, 1);
    if (!qrt)
        goto fail;
    rc = MACULA_ERR_SHUTDOWN;
    if (qrt->shutting_down || macula__runtime_stopping(rt) || (ep && ep->closing))
        goto fail;
    rc = MACULA_ERR_NOMEM;
    c = macula__conn_alloc(rt, qrt, &opts->settings);
    if (!c)
        goto fail;
    c->handler = handler;
    c->user = user;
    c->visible = 1;
    c->state = CONN_RESOLVING;
    c->dial_ep = ep;
    c->port = opts->port;
    c->verify = opts->verify;
    if (opts->verify == MACULA_QUIC_VERIFY_PIN)
        memcpy(c->pin, opts->pin_ed25519, MACULA_PUBKEY_LEN);
    c->host = strip_brackets(opts->host);
    if (!c->host)
        goto fail_conn;
    if (opts->server_name)
        c->server_name = strdup(opts->server_name);
    else
        c->server_name = strdup(c->host);
    if (!c->server_name)
        goto fail_conn;
    if (opts->ca_file && !(c->ca_file = strdup(opts->ca_file)))
        goto fail_conn;
    static const char *const dflt[] = {MACULA_QUIC_DEFAULT_ALPN};
    const char *const *alpn = opts->alpn ? opts->alpn : dflt;
    size_t n_alpn = opts->alpn ? opts->n_alpn : 1;
    c->alpn_list = calloc(n_alpn, sizeof *c->alpn_list);
    if (!c->alpn_list)
        goto fail_conn;
    for (size_t i = 0; i < n_alpn; i++) {
        c->alpn_list[i] = strdup(alpn[i]);
        if (!c->alpn_list[i])
            goto fail_conn;
        c->n_alpn = i + 1;
    }
    /* On the resolving list until it has an endpoint. */
    c->next = qrt->resolving;
    if (qrt->resolving)
        qrt->resolving->prev = c;
    qrt->resolving = c;
    uint32_t timeout = opts->timeout_ms ? opts->timeout_ms : 30000;
    macula__timer_arm(c->loop, &c->deadline, macula__loop_update_now(c->loop) + (uint64_t)timeout * 1000000u);

    if (resolve(c->host, c->port, ep ? ep->sock.family : AF_UNSPEC, 1, &c->remote, &c->remote_len) == 0) {
        /* A numeric host needs no thread; it starts from the loop so that
         * no event is delivered inside this call. */
        c->numeric_ready = 1;
        macula__conn_kick(c);
    } else if ((rc = start_resolver(c)) != 0) {
        goto fail_listed;
    }
    if (err)
        *err = 0;
    return c;

fail_listed:
    macula__conn_free(c);
    c = NULL;
    goto fail;
fail_conn:
    macula__conn_free(c);
    c = NULL;
fail:
    if (err)
        *err = rc;
    return NULL;
}
