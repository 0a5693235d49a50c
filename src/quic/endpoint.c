/* SPDX-License-Identifier: Apache-2.0 */
/* A QUIC endpoint: one UDP socket, the connection-id table, packet
 * dispatch to connections, and the server's answers to packets that belong
 * to no connection (accept, version negotiation, refusal, stateless reset). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "quic/quic_internal.h"
#include "quic/tls_cert.h"
#include "util/abi.h"

/* Packets we answer statelessly (resets, version negotiation, refusals)
 * per endpoint and second: enough for restarts, useless for reflection. */
#define STATELESS_PER_SEC 256
/* How long a Retry token is accepted: a round trip, with a wide margin. */
#define RETRY_TOKEN_TIMEOUT_NS (10ull * 1000000000ull)
/* Datagrams handled per readiness callback before other work runs. */
#define RECV_BUDGET 512
/* Key exchange: X25519 first (GnuTLS's NORMAL puts P-256 first; X25519 is
 * several times cheaper in nettle and is what quinn/rustls prefer), P-256 and
 * P-384 for other peers; no finite-field groups. */
#define TLS_PRIORITY                                                                                             \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"                    \
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%DISABLE_TLS13_COMPAT_MODE"

static void io_cb(void *arg, uint32_t events);

/* --- connection bookkeeping --- */

void macula__endpoint_link_conn(macula_quic_endpoint *ep, macula_quic_conn *c)
{
    c->prev = NULL;
    c->next = ep->conns;
    if (ep->conns)
        ep->conns->prev = c;
    ep->conns = c;
    ep->n_conns++;
}

void macula__endpoint_unlink_conn(macula_quic_endpoint *ep, macula_quic_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (ep->conns == c)
        ep->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    ep->n_conns--;
}

int macula__endpoint_add_cid(macula_quic_endpoint *ep, macula_quic_conn *c, const ngtcp2_cid *cid)
{
    if (c->n_cids == QUIC_MAX_CIDS)
        return MACULA_ERR_LIMIT;
    int rc = macula__cid_table_put(&ep->cids, cid->data, cid->datalen, c);
    if (rc == 0)
        c->cids[c->n_cids++] = *cid;
    return rc;
}

void macula__endpoint_remove_cid(macula_quic_endpoint *ep, macula_quic_conn *c, const ngtcp2_cid *cid)
{
    macula__cid_table_del(&ep->cids, cid->data, cid->datalen, c);
    for (size_t i = 0; i < c->n_cids; i++) {
        if (ngtcp2_cid_eq(&c->cids[i], cid)) {
            c->cids[i] = c->cids[--c->n_cids];
            break;
        }
    }
}

void macula__endpoint_reset_token(const macula_quic_endpoint *ep, const ngtcp2_cid *cid, uint8_t *token)
{
    ngtcp2_crypto_generate_stateless_reset_token(token, ep->static_secret, sizeof ep->static_secret, cid);
}

void macula__endpoint_send(macula_quic_endpoint *ep, const struct sockaddr *to, socklen_t to_len,
                           const uint8_t *data, size_t len)
{
    macula__udp_send_one(&ep->sock, to, to_len, data, len);
}

int macula__endpoint_client_cred(macula_quic_endpoint *ep, int pki, gnutls_certificate_credentials_t *out)
{
    gnutls_certificate_credentials_t *slot = pki ? &ep->client_cred_pki : &ep->client_cred;
    if (!*slot) {
        int rc = macula__tls_client_credentials(pki, slot);
        if (rc != 0)
            return rc;
    }
    *out = *slot;
    return 0;
}

void macula__endpoint_enter(macula_quic_endpoint *ep) { ep->depth++; }

void macula__endpoint_leave(macula_quic_endpoint *ep)
{
    if (--ep->depth == 0 && ep->close_deferred)
        macula__endpoint_free_now(ep);
}

/* --- stateless answers --- */

static int stateless_allowed(macula_quic_endpoint *ep)
{
    uint64_t now = macula__loop_now(ep->loop);
    if (now - ep->sr_window_start > 1000000000ull) {
        ep->sr_window_start = now;
        ep->sr_sent = 0;
    }
    return ep->sr_sent++ < STATELESS_PER_SEC;
}

/* RFC 9000 10.3: a short-header packet for a connection we do not know
 * (e.g. we restarted) gets a stateless reset, smaller than the packet so
 * that two endpoints cannot loop. The token comes from the endpoint's
 * static secret, which an identity makes stable across restarts. */
static void send_stateless_reset(macula_quic_endpoint *ep, const uint8_t *dcid, size_t pktlen,
                                 const struct sockaddr *to, socklen_t to_len)
{
    if (pktlen < NGTCP2_STATELESS_RESET_TOKENLEN + NGTCP2_MIN_STATELESS_RESET_RANDLEN + 1)
        return;
    size_t out = pktlen - 1 < 43 ? pktlen - 1 : 43;
    uint8_t rnd[43], token[NGTCP2_STATELESS_RESET_TOKENLEN], buf[64];
    size_t randlen = out - NGTCP2_STATELESS_RESET_TOKENLEN;
    randombytes_buf(rnd, randlen);
    ngtcp2_cid cid;
    ngtcp2_cid_init(&cid, dcid, QUIC_CID_LEN);
    macula__endpoint_reset_token(ep, &cid, token);
    ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(buf, sizeof buf, token, rnd, randlen);
    if (n > 0)
        macula__endpoint_send(ep, to, to_len, buf, (size_t)n);
}

static void send_version_negotiation(macula_quic_endpoint *ep, const ngtcp2_version_cid *vc, const struct sockaddr *to,
                                     socklen_t to_len)
{
    if (!stateless_allowed(ep))
        return;
    uint8_t buf[1024], r;
    randombytes_buf(&r, 1);
    /* v1 plus a reserved version, so clients keep handling unknown ones. */
    uint32_t sv[2] = {NGTCP2_PROTO_VER_V1, 0x1a2a3a4au};
    ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(buf, sizeof buf, r, vc->scid, vc->scidlen, vc->dcid,
                                                          vc->dcidlen, sv, 2);
    if (n > 0)
        macula__endpoint_send(ep, to, to_len, buf, (size_t)n);
}

static void refuse_code(macula_quic_endpoint *ep, const ngtcp2_pkt_hd *hd, const struct sockaddr *to,
                        socklen_t to_len, uint64_t code, const char *why);

static void refuse(macula_quic_endpoint *ep, const ngtcp2_pkt_hd *hd, const struct sockaddr *to, socklen_t to_len)
{
    refuse_code(ep, hd, to, to_len, NGTCP2_CONNECTION_REFUSED, "server busy");
}

/* RFC 9000 8.1.2: answer with a Retry carrying a token that only a client
 * receiving at this address can echo; nothing is kept. The Retry is much
 * smaller than the 1200-byte Initial it answers (no amplification). */
static void send_retry(macula_quic_endpoint *ep, const ngtcp2_pkt_hd *hd, const struct sockaddr *to,
                       socklen_t to_len)
{
    uint8_t raw[QUIC_CID_LEN], token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN], buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
    randombytes_buf(raw, sizeof raw);
    ngtcp2_cid scid;
    ngtcp2_cid_init(&scid, raw, sizeof raw);
    ngtcp2_ssize tl = ngtcp2_crypto_generate_retry_token(token, ep->retry_secret, sizeof ep->retry_secret,
                                                         hd->version, (const ngtcp2_sockaddr *)to, to_len, &scid,
                                                         &hd->dcid, macula__loop_now(ep->loop));
    if (tl < 0)
        return;
    ngtcp2_ssize n =
        ngtcp2_crypto_write_retry(buf, sizeof buf, hd->version, &hd->scid, &scid, &hd->dcid, token, (size_t)tl);
    if (n > 0) {
        ep->retry_sent++;
        macula__endpoint_send(ep, to, to_len, buf, (size_t)n);
    }
}

static void refuse_code(macula_quic_endpoint *ep, const ngtcp2_pkt_hd *hd, const struct sockaddr *to,
                        socklen_t to_len, uint64_t code, const char *why)
{
    if (!stateless_allowed(ep))
        return;
    uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
    ngtcp2_ssize n = ngtcp2_crypto_write_connection_close(buf, sizeof buf, hd->version, &hd->scid, &hd->dcid, code,
                                                          (const uint8_t *)why, strlen(why));
    if (n > 0)
        macula__endpoint_send(ep, to, to_len, buf, (size_t)n);
}

static macula_quic_conn *conn_of_node(macula__adm_node *n)
{
    return (macula_quic_conn *)(void *)((char *)n - offsetof(macula_quic_conn, adm));
}

/* Makes room for a newcomer: the oldest pending connection is closed. */
static void evict(macula_quic_endpoint *ep, macula__adm_node *node)
{
    macula_quic_conn *c = conn_of_node(node);
    uint64_t age_ms = (macula__loop_now(ep->loop) - node->since_ns) / 1000000u;
    macula__adm_remove(&ep->adm, node);
    ep->evicted++;
    char peer[64] = "", age[24];
    macula__sockaddr_string((const struct sockaddr *)&c->remote, peer, sizeof peer);
    snprintf(age, sizeof age, "%llu", (unsigned long long)age_ms);
    macula__runtime_diag(ep->rt, "quic_pending_evicted", "peer", peer, "age_ms", age, NULL);
    macula_quic_conn_close(c, 1, "evicted");
}

static void accept_initial(macula_quic_endpoint *ep, const ngtcp2_path *path, const uint8_t *data, size_t len,
                           const struct sockaddr *from, socklen_t from_len)
{
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, data, len) != 0 || hd.type != NGTCP2_PKT_INITIAL)
        return;
    if (ep->closing || ep->qrt->shutting_down || ep->n_conns >= ep->max_connections) {
        ep->refused++;
        refuse(ep, &hd, from, from_len);
        return;
    }
    ngtcp2_cid odcid;
    int validated = 0;
    if (hd.token.len && hd.token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
        if (ngtcp2_crypto_verify_retry_token(&odcid, hd.token.base, hd.token.len, ep->retry_secret,
                                             sizeof ep->retry_secret, hd.version, (const ngtcp2_sockaddr *)from,
                                             from_len, &hd.dcid, RETRY_TOKEN_TIMEOUT_NS,
                                             macula__loop_now(ep->loop)) != 0) {
            /* Forged, expired, or from another address. */
            ep->retry_token_bad++;
            refuse_code(ep, &hd, from, from_len, NGTCP2_INVALID_TOKEN, "invalid token");
            return;
        }
        validated = 1;
    }
    uint8_t key[MACULA__ADM_KEY_MAX];
    size_t klen = macula__adm_key(from, key);
    if (macula__adm_addr_full(&ep->adm, key, klen)) {
        ep->refused_per_addr++;
        char peer[64] = "";
        macula__sockaddr_string(from, peer, sizeof peer);
        macula__runtime_diag(ep->rt, "quic_pending_refused", "peer", peer, NULL);
        refuse_code(ep, &hd, from, from_len, NGTCP2_CONNECTION_REFUSED, "busy: too many pending from this address");
        return;
    }
    /* Other tokens (NEW_TOKEN: we never send one) count as none. */
    if (!validated && macula__adm_want_retry(&ep->adm)) {
        send_retry(ep, &hd, from, from_len);
        return;
    }
    macula__adm_node *victim = macula__adm_victim(&ep->adm);
    if (victim)
        evict(ep, victim);
    macula_quic_conn *c = macula__conn_alloc(ep->rt, ep->qrt, &ep->settings);
    if (!c)
        return;
    if (macula__conn_start_server(c, ep, &hd, validated ? &odcid : NULL, from, from_len) != 0 ||
        macula__adm_add(&ep->adm, &c->adm, key, klen, macula__loop_now(ep->loop)) != 0) {
        macula__conn_free(c);
        return;
    }
    macula__conn_read(c, path, NULL, data, len);
}

/* --- receiving --- */

static int same_peer(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr *b, socklen_t blen)
{
    return alen == blen && memcmp(a, b, blen) == 0;
}

/* A short-header packet with no known connection id may be a peer's
 * stateless reset: random bytes where the id would be and, in its last 16
 * bytes, the token that peer gave us for the id we use towards it. One
 * table lookup finds the only connection it can end, which then checks it
 * (ngtcp2); nothing else sees the datagram, so spoofed garbage costs O(1)
 * whatever the number of connections. Returns 1 when it went to one. */
static int offer_as_reset(macula_quic_endpoint *ep, const ngtcp2_path *path, const uint8_t *data, size_t len)
{
    if (len < NGTCP2_STATELESS_RESET_TOKENLEN)
        return 0;
    macula_quic_conn *c = macula__rtok_get(&ep->rtoks, data + len - NGTCP2_STATELESS_RESET_TOKENLEN);
    if (!c || (c->state != CONN_HANDSHAKING && c->state != CONN_CONNECTED))
        return 0;
    ep->stray_conn_reads++;
    macula__conn_read(c, path, NULL, data, len);
    return 1;
}

static void on_datagram(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *from, socklen_t from_len)
{
    macula_quic_endpoint *ep = ctx;
    ngtcp2_version_cid vc;
    int rv = ngtcp2_pkt_decode_version_cid(&vc, data, len, QUIC_CID_LEN);
    if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
        /* Only servers answer, and only to datagrams as big as a client's
         * first flight must be (no amplification). */
        if (ep->on_connection && len >= NGTCP2_MAX_UDP_PAYLOAD_SIZE)
            send_version_negotiation(ep, &vc, from, from_len);
        return;
    }
    if (rv != 0)
        return;
    ngtcp2_path path;
    path.local.addr = (ngtcp2_sockaddr *)(uintptr_t)&ep->sock.local;
    path.local.addrlen = ep->sock.local_len;
    path.remote.addr = (ngtcp2_sockaddr *)(uintptr_t)from;
    path.remote.addrlen = from_len;
    path.user_data = NULL;
    macula_quic_conn *c = macula__cid_table_get(&ep->cids, vc.dcid, vc.dcidlen);
    if (c) {
        macula__conn_read(c, &path, NULL, data, len);
        return;
    }
    if (vc.version) {
        if (ep->on_connection)
            accept_initial(ep, &path, data, len, from, from_len);
        return;
    }
    ep->stray_datagrams++;
    if (len < NGTCP2_STATELESS_RESET_TOKENLEN + NGTCP2_MIN_STATELESS_RESET_RANDLEN)
        return;
    if (offer_as_reset(ep, &path, data, len))
        return;
    /* Ours may answer a peer's reset we did not recognise: harmless, it is
     * smaller than what it answers (RFC 9000 10.3.3), so no loop lasts. */
    if (stateless_allowed(ep))
        send_stateless_reset(ep, vc.dcid, len, from, from_len);
}

/* ICMP errors about our datagrams: a dial to a closed port fails at once
 * instead of at its deadline. Established connections ignore them (ICMP
 * can be forged; QUIC's own timers decide). */
static void on_icmp_error(void *ctx, const struct sockaddr *to, socklen_t to_len, int error)
{
    macula_quic_endpoint *ep = ctx;
    macula_quic_conn *next;
    for (macula_quic_conn *c = ep->conns; c; c = next) {
        next = c->next;
        if (c->is_server || c->state != CONN_HANDSHAKING || !same_peer(&c->remote, c->remote_len, to, to_len))
            continue;
        char addr[64];
        macula__sockaddr_string(to, addr, sizeof addr);
        if (error == ECONNREFUSED)
            macula__conn_fail_dial(c, MACULA_ERR_REFUSED, "%s refused the connection (UDP port closed)", addr);
        else
            macula__conn_fail_dial(c, MACULA_ERR_REFUSED, "%s is unreachable: %s", addr, strerror(error));
    }
}

static void io_cb(void *arg, uint32_t events)
{
    macula_quic_endpoint *ep = arg;
    macula__endpoint_enter(ep);
    if (events & EPOLLERR)
        macula__udp_read_errors(&ep->sock, on_icmp_error, ep);
    if (events & EPOLLIN) {
        int total = 0;
        while (total < RECV_BUDGET && !ep->close_deferred) {
            int n = macula__udp_recv_batch(&ep->sock, on_datagram, ep);
            if (n <= 0)
                break;
            total += n;
        }
    }
    macula__endpoint_leave(ep);
}

/* --- life cycle --- */

static void derive_secret(macula_quic_endpoint *ep, const macula_identity *id)
{
    if (!id) {
        randombytes_buf(ep->static_secret, sizeof ep->static_secret);
        return;
    }
    /* Ed25519 signatures are deterministic, so this is a stable secret only
     * the key's holder can compute: a restarted server can still reset the
     * connections its previous run had. */
    static const char label[] = "macula quic stateless reset secret v1";
    uint8_t sig[MACULA_SIGNATURE_LEN];
    macula_identity_sign(id, (const uint8_t *)label, sizeof label - 1, sig);
    crypto_generichash(ep->static_secret, sizeof ep->static_secret, sig, sizeof sig, NULL, 0);
    sodium_memzero(sig, sizeof sig);
}

static int copy_alpn(macula_quic_endpoint *ep, const char *const *alpn, size_t n)
{
    static const char *const dflt[] = {MACULA_QUIC_DEFAULT_ALPN};
    if (!alpn) {
        alpn = dflt;
        n = 1;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(alpn[i]) + 1;
    ep->alpn_store = malloc(total);
    if (!ep->alpn_store)
        return MACULA_ERR_NOMEM;
    char *p = ep->alpn_store;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(alpn[i]);
        memcpy(p, alpn[i], len + 1);
        ep->alpn[i].data = (unsigned char *)p;
        ep->alpn[i].size = (unsigned)len;
        p += len + 1;
    }
    ep->n_alpn = n;
    return 0;
}

macula_quic_endpoint *macula_quic_endpoint_new(macula_runtime *rt, const macula_quic_endpoint_options *caller_opts,
                                               int *err)
{
    int rc = MACULA_ERR_INVALID_ARG;
    macula_quic_endpoint *ep = NULL;
    /* The caller's release of the struct, completed with defaults. */
    macula_quic_endpoint_options full;
    const macula_quic_endpoint_options *opts = &full;
    if (!caller_opts || macula__endpoint_options_read(&full, caller_opts) != 0)
        goto fail;
    if (!rt || !macula__alpn_valid(opts->alpn, opts->n_alpn) || (opts->n_sans && !opts->sans))
        goto fail;
    if (opts->on_connection && !opts->identity && !(opts->cert_pem_file && opts->key_pem_file))
        goto fail; /* a server needs a certificate */
    /* Loop thread only (quic.h): refused, not raced, while another thread
     * runs the loop. */
    if ((rc = macula__runtime_thread_check(rt, "macula_quic_endpoint_new")) != 0)
        goto fail;
    rc = macula_crypto_init();
    if (rc != 0)
        goto fail;
    quic_rt *qrt = macula__quic_rt_get(rt, 1);
    rc = MACULA_ERR_NOMEM;
    if (!qrt)
        goto fail;
    rc = MACULA_ERR_SHUTDOWN;
    if (qrt->shutting_down || macula__runtime_stopping(rt))
        goto fail;
    rc = MACULA_ERR_NOMEM;
    ep = calloc(1, sizeof *ep);
    if (!ep)
        goto fail;
    ep->rt = rt;
    ep->loop = macula__runtime_loop(rt);
    ep->qrt = qrt;
    ep->sock.fd = -1;
    ep->io.fd = -1;
    ep->settings = opts->settings;
    macula__settings_fix(&ep->settings);
    ep->max_connections = opts->max_connections ? opts->max_connections : MACULA_QUIC_DEFAULT_MAX_CONNECTIONS;
    size_t max_pending = opts->max_pending ? opts->max_pending : MACULA_QUIC_DEFAULT_MAX_PENDING;
    size_t budget = opts->pending_budget ? opts->pending_budget : MACULA_QUIC_DEFAULT_PENDING_BUDGET;
    if (budget / MACULA_QUIC_PENDING_BYTES < max_pending)
        max_pending = budget / MACULA_QUIC_PENDING_BYTES;
    if (max_pending > ep->max_connections)
        max_pending = ep->max_connections;
    if (opts->retry < MACULA_QUIC_RETRY_AUTO || opts->retry > MACULA_QUIC_RETRY_NEVER) {
        rc = MACULA_ERR_INVALID_ARG;
        goto fail_ep;
    }
    ep->hold_until_admitted = opts->hold_until_admitted;
    randombytes_buf(ep->retry_secret, sizeof ep->retry_secret);
    derive_secret(ep, opts->identity);
    if ((rc = macula__cid_table_init(&ep->cids)) != 0)
        goto fail_ep;
    if ((rc = macula__adm_init(&ep->adm, max_pending,
                               opts->max_pending_per_addr ? opts->max_pending_per_addr
                                                          : MACULA_QUIC_DEFAULT_MAX_PENDING_PER_ADDR,
                               (int)opts->retry)) != 0)
        goto fail_ep;
    macula__rtok_init(&ep->rtoks, ep->max_connections > SIZE_MAX / MACULA__RTOK_PER_CONN
                                      ? SIZE_MAX
                                      : ep->max_connections * MACULA__RTOK_PER_CONN);
    if ((rc = copy_alpn(ep, opts->alpn, opts->n_alpn)) != 0)
        goto fail_ep;
    if (gnutls_priority_init(&ep->priority, TLS_PRIORITY, NULL) != GNUTLS_E_SUCCESS) {
        ep->priority = NULL;
        rc = MACULA_ERR_TLS;
        goto fail_ep;
    }
    if (opts->on_connection) {
        char why[256] = "";
        rc = macula__tls_server_credentials(opts->identity, opts->sans, opts->n_sans, opts->cert_pem_file,
                                            opts->key_pem_file, &ep->server_cred, why, sizeof why);
        if (rc != 0) {
            macula__runtime_diag(rt, "quic_endpoint_failed", "why", why, NULL);
            goto fail_ep;
        }
        ep->on_connection = opts->on_connection;
        ep->on_connection_user = opts->on_connection_user;
    }
    char why[256] = "";
    rc = macula__udp_open(&ep->sock, opts->bind_host, opts->bind_port, why, sizeof why);
    if (rc != 0) {
        macula__runtime_diag(rt, "quic_endpoint_failed", "why", why, NULL);
        goto fail_ep;
    }
    ep->io.fd = ep->sock.fd;
    ep->io.cb = io_cb;
    ep->io.arg = ep;
    if ((rc = macula__io_start(ep->loop, &ep->io, EPOLLIN)) != 0)
        goto fail_ep;
    macula__quic_rt_link_endpoint(qrt, ep);
    if (err)
        *err = 0;
    return ep;

fail_ep:
    ep->io.fd = -1;
    macula__quic_rt_link_endpoint(qrt, ep);
    macula__endpoint_free_now(ep);
fail:
    if (err)
        *err = rc;
    return NULL;
}

void macula__endpoint_free_now(macula_quic_endpoint *ep)
{
    ep->closing = 1;
    ep->depth++; /* no nested free while connections are closed below */
    while (ep->conns)
        macula__conn_close_now(ep->conns);
    ep->depth--;
    if (ep->io.fd >= 0)
        macula__io_stop(ep->loop, &ep->io);
    macula__udp_close(&ep->sock);
    macula__quic_rt_unlink_endpoint(ep->qrt, ep);
    if (ep->server_cred)
        gnutls_certificate_free_credentials(ep->server_cred);
    if (ep->client_cred)
        gnutls_certificate_free_credentials(ep->client_cred);
    if (ep->client_cred_pki)
        gnutls_certificate_free_credentials(ep->client_cred_pki);
    if (ep->priority)
        gnutls_priority_deinit(ep->priority);
    macula__cid_table_free(&ep->cids);
    macula__rtok_free(&ep->rtoks);
    macula__adm_free(&ep->adm);
    sodium_memzero(ep->retry_secret, sizeof ep->retry_secret);
    free(ep->alpn_store);
    sodium_memzero(ep->static_secret, sizeof ep->static_secret);
    free(ep);
}

void macula_quic_endpoint_close(macula_quic_endpoint *ep)
{
    if (!ep || ep->close_deferred || macula__runtime_thread_check(ep->rt, "macula_quic_endpoint_close") != 0)
        return;
    ep->closing = 1;
    if (ep->depth > 0) {
        /* Called from one of its own connections' handlers: finish once
         * that dispatch has returned. */
        ep->close_deferred = 1;
        return;
    }
    macula__endpoint_free_now(ep);
}

int macula_quic_endpoint_local_addr(const macula_quic_endpoint *ep, struct sockaddr_storage *addr, socklen_t *len)
{
    if (!ep || !addr || !len)
        return MACULA_ERR_INVALID_ARG;
    memcpy(addr, &ep->sock.local, ep->sock.local_len);
    *len = ep->sock.local_len;
    return 0;
}

uint16_t macula_quic_endpoint_port(const macula_quic_endpoint *ep)
{
    if (!ep)
        return 0;
    const struct sockaddr *sa = (const struct sockaddr *)&ep->sock.local;
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    return 0;
}

/* Released layouts of macula_quic_endpoint_stats (common.h, "ABI rules"):
 * one so far. */
static const size_t endpoint_stats_ends[] = {sizeof(macula_quic_endpoint_stats)};

void macula_quic_endpoint_stats_init_sized(macula_quic_endpoint_stats *out, size_t struct_size)
{
    if (!out)
        return;
    macula_quic_endpoint_stats d;
    memset(&d, 0, sizeof d);
    macula__abi_init(out, struct_size, &d, sizeof d);
}

int macula_quic_endpoint_get_stats(const macula_quic_endpoint *ep, macula_quic_endpoint_stats *out)
{
    if (!ep || !out)
        return MACULA_ERR_INVALID_ARG;
    macula_quic_endpoint_stats full;
    memset(&full, 0, sizeof full);
    full.struct_size = sizeof full;
    full.connections = ep->n_conns;
    full.pending = ep->adm.n;
    full.pending_cap = ep->adm.cap;
    full.evicted = ep->evicted;
    full.refused_per_addr = ep->refused_per_addr;
    full.refused = ep->refused;
    full.retry_sent = ep->retry_sent;
    full.retry_token_bad = ep->retry_token_bad;
    full.stray_datagrams = ep->stray_datagrams;
    full.stray_conn_reads = ep->stray_conn_reads;
    full.reset_tokens = ep->rtoks.len;
    return macula__abi_write(out, &full, endpoint_stats_ends, 1);
}
