/* SPDX-License-Identifier: Apache-2.0 */
/* A QUIC connection on ngtcp2: creation (client and server), the ngtcp2
 * callbacks, packet reading and writing, the one expiry timer, and the
 * ways a connection ends (see quic_internal.h for the re-entrancy rule). */
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quic/block_pool.h"
#include "quic/quic_internal.h"

#define WRITE_MAX_VECS 16

static void expiry_cb(void *arg);
static void kick_cb(void *arg);
static void deadline_cb(void *arg);
static void handle_error(macula_quic_conn *c, int rv);

static uint64_t now_ns(const macula_quic_conn *c) { return macula__loop_now(c->loop); }

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
    macula_quic_conn *c = ref->user_data;
    return c->q;
}

macula_quic_conn *macula__conn_alloc(macula_runtime *rt, quic_rt *qrt, const macula_quic_settings *s)
{
    macula_quic_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->rt = rt;
    c->qrt = qrt;
    c->loop = macula__runtime_loop(rt);
    c->settings = *s;
    macula__settings_fix(&c->settings);
    macula__timer_init(&c->expiry, expiry_cb, c);
    macula__timer_init(&c->kick, kick_cb, c);
    macula__timer_init(&c->deadline, deadline_cb, c);
    c->close.tls_alert = -1;
    c->close.reason = c->close_reason;
    c->rr_last = -1;
    c->conn_ref.get_conn = get_conn;
    c->conn_ref.user_data = c;
    return c;
}

void macula__conn_kick(macula_quic_conn *c)
{
    if (!macula__timer_armed(&c->kick))
        macula__timer_arm(c->loop, &c->kick, 0);
}

static void set_close(macula_quic_conn *c, macula_quic_close_cause cause, int err, int app, uint64_t code,
                      int alert, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void set_close(macula_quic_conn *c, macula_quic_close_cause cause, int err, int app, uint64_t code,
                      int alert, const char *fmt, ...)
{
    c->close.cause = cause;
    c->close.err = err;
    c->close.app_error = app;
    c->close.error_code = code;
    c->close.tls_alert = alert;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->close_reason, sizeof c->close_reason, fmt, ap);
    va_end(ap);
    c->close.reason = c->close_reason;
}

/* --- ngtcp2 callbacks --- */

static void cb_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
    (void)ctx;
    randombytes_buf(dest, len);
}

static int new_cid(macula_quic_conn *c, ngtcp2_cid *cid, size_t len)
{
    uint8_t buf[NGTCP2_MAX_CIDLEN];
    for (int tries = 0; tries < 8; tries++) {
        randombytes_buf(buf, len);
        if (!macula__cid_table_get(&c->ep->cids, buf, len)) {
            ngtcp2_cid_init(cid, buf, len);
            return 0;
        }
    }
    return MACULA_ERR_INTERNAL;
}

static int cb_get_new_cid(ngtcp2_conn *q, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *user)
{
    (void)q;
    macula_quic_conn *c = user;
    if (new_cid(c, cid, cidlen) != 0 || macula__endpoint_add_cid(c->ep, c, cid) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    macula__endpoint_reset_token(c->ep, cid, token);
    return 0;
}

static int cb_remove_cid(ngtcp2_conn *q, const ngtcp2_cid *cid, void *user)
{
    (void)q;
    macula_quic_conn *c = user;
    macula__endpoint_remove_cid(c->ep, c, cid);
    return 0;
}

/* The peer's ids (and so its reset tokens) changed: read them after this
 * ngtcp2 call returns (inside it the list may be mid-update). */
static int cb_dcid_status(ngtcp2_conn *q, int type, uint64_t seq, const ngtcp2_cid *cid, const uint8_t *token,
                          void *user)
{
    (void)q;
    (void)type;
    (void)seq;
    (void)cid;
    (void)token;
    macula_quic_conn *c = user;
    c->rtok_dirty = 1;
    return 0;
}

void macula__conn_refresh_reset_tokens(macula_quic_conn *c)
{
    c->rtok_dirty = 0;
    if (!c->ep)
        return;
    if (!c->q || (c->state != CONN_HANDSHAKING && c->state != CONN_CONNECTED)) {
        macula__rtok_conn_clear(&c->ep->rtoks, &c->rtok, c);
        return;
    }
    /* ngtcp2 0.12 keeps the current id plus at most a few bound to paths
     * being validated; more than this many is not expected. */
    ngtcp2_cid_token ct[MACULA__RTOK_PER_CONN];
    uint8_t tokens[MACULA__RTOK_PER_CONN][MACULA__RTOK_LEN];
    size_t n = ngtcp2_conn_get_num_active_dcid(c->q), k = 0;
    if (n > MACULA__RTOK_PER_CONN) {
        macula__rtok_conn_clear(&c->ep->rtoks, &c->rtok, c);
        return;
    }
    n = ngtcp2_conn_get_active_dcid(c->q, ct);
    for (size_t i = 0; i < n; i++) {
        if (ct[i].token_present)
            memcpy(tokens[k++], ct[i].token, MACULA__RTOK_LEN);
    }
    macula__rtok_conn_set(&c->ep->rtoks, &c->rtok, c, (const uint8_t(*)[MACULA__RTOK_LEN])tokens, k);
    sodium_memzero(tokens, sizeof tokens);
}

static int cb_handshake_completed(ngtcp2_conn *q, void *user)
{
    (void)q;
    macula_quic_conn *c = user;
    c->rtok_dirty = 1;
    macula__tls_after_handshake(c);
    if (!c->have_alpn) {
        /* QUIC requires ALPN; a peer that offered none is refused. */
        set_close(c, MACULA_QUIC_CLOSE_HANDSHAKE_FAILED, MACULA_ERR_ALPN, 0, NGTCP2_CRYPTO_ERROR | 120, 120,
                  "no application protocol negotiated");
        ngtcp2_connection_close_error_set_transport_error_tls_alert(&c->ccerr, 120, NULL, 0);
        c->ccerr_set = 1;
        c->close_requested = 1;
        macula__conn_kick(c);
        return 0;
    }
    c->state = CONN_CONNECTED;
    if (c->is_server) {
        if (!c->ep->hold_until_admitted)
            macula__adm_remove(&c->ep->adm, &c->adm);
        c->visible = 1;
        c->handler = c->ep->on_connection;
        c->user = c->ep->on_connection_user;
    } else {
        macula__timer_cancel(c->loop, &c->deadline);
    }
    macula_quic_event ev = {0};
    ev.type = MACULA_QUIC_EV_CONNECTED;
    ev.conn = c;
    macula__conn_emit(c, &ev, NULL);
    return 0;
}

static int cb_recv_stream_data(ngtcp2_conn *q, uint32_t flags, int64_t stream_id, uint64_t offset,
                               const uint8_t *data, size_t datalen, void *user, void *stream_user)
{
    (void)q;
    (void)offset;
    macula_quic_conn *c = user;
    c->stats.bytes_received += datalen;
    macula_quic_event ev = {0};
    ev.type = MACULA_QUIC_EV_STREAM_DATA;
    ev.conn = c;
    ev.stream_id = stream_id;
    ev.data = data;
    ev.len = datalen;
    ev.fin = (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0;
    macula__conn_emit(c, &ev, stream_user);
    return 0;
}

static int cb_stream_open(ngtcp2_conn *q, int64_t stream_id, void *user)
{
    macula_quic_conn *c = user;
    quic_stream *s = macula__stream_new(c, stream_id);
    if (!s)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    ngtcp2_conn_set_stream_user_data(q, stream_id, s);
    macula_quic_event ev = {0};
    ev.type = MACULA_QUIC_EV_STREAM_OPENED;
    ev.conn = c;
    ev.stream_id = stream_id;
    macula__conn_emit(c, &ev, s);
    return 0;
}

static void report_reset(macula_quic_conn *c, quic_stream *s, int64_t stream_id, uint64_t code)
{
    if (s) {
        if (s->reset_reported)
            return;
        s->reset_reported = 1;
        s->reset = 1;
    }
    macula_quic_event ev = {0};
    ev.type = MACULA_QUIC_EV_STREAM_RESET;
    ev.conn = c;
    ev.stream_id = stream_id;
    ev.error_code = code;
    macula__conn_emit(c, &ev, s);
}

static int cb_stream_reset(ngtcp2_conn *q, int64_t stream_id, uint64_t final_size, uint64_t app_error_code,
                           void *user, void *stream_user)
{
    (void)q;
    (void)final_size;
    report_reset(user, stream_user, stream_id, app_error_code);
    return 0;
}

static int cb_stream_close(ngtcp2_conn *q, uint32_t flags, int64_t stream_id, uint64_t app_error_code, void *user,
                           void *stream_user)
{
    macula_quic_conn *c = user;
    quic_stream *s = stream_user;
    /* An error code we did not set ourselves means the peer aborted the
     * stream (e.g. STOP_SENDING, which ngtcp2 answers by itself). */
    if ((flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) && !(s && s->local_reset))
        report_reset(c, s, stream_id, app_error_code);
    c->stats.packets_lost += ngtcp2_conn_get_stream_loss_count(q, stream_id);
    macula_quic_event ev = {0};
    ev.type = MACULA_QUIC_EV_STREAM_CLOSED;
    ev.conn = c;
    ev.stream_id = stream_id;
    macula__conn_emit(c, &ev, s);
    if (s) {
        if (s->read_paused) {
            /* Its held events still need the pause: keep the record (without
             * its send queue) until the owner resumes reading. */
            s->gone = 1;
            s->reset = 1;
            macula__sb_free(&s->sb);
            macula__sb_init(&s->sb);
        } else {
            macula__stream_free(c, s);
        }
    }
    if (!ngtcp2_conn_is_local_stream(q, stream_id)) {
        if (ngtcp2_is_bidi_stream(stream_id))
            ngtcp2_conn_extend_max_streams_bidi(q, 1);
        else
            ngtcp2_conn_extend_max_streams_uni(q, 1);
    }
    return 0;
}

static int cb_acked(ngtcp2_conn *q, int64_t stream_id, uint64_t offset, uint64_t datalen, void *user,
                    void *stream_user)
{
    (void)q;
    (void)stream_id;
    macula_quic_conn *c = user;
    quic_stream *s = stream_user;
    if (s) {
        macula__sb_acked(&s->sb, offset, datalen);
        if (s->want_send_ready)
            macula__streams_check_send_ready(c);
        macula__stream_check_acked(c, s);
    }
    return 0;
}

static int cb_recv_stateless_reset(ngtcp2_conn *q, const ngtcp2_pkt_stateless_reset *sr, void *user)
{
    (void)q;
    (void)sr;
    macula_quic_conn *c = user;
    c->got_stateless_reset = 1;
    return 0;
}

static void fill_callbacks(ngtcp2_callbacks *cb, int server)
{
    memset(cb, 0, sizeof *cb);
    if (server)
        cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    else {
        cb->client_initial = ngtcp2_crypto_client_initial_cb;
        cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
    }
    cb->recv_crypto_data = macula__tls_recv_crypto_data;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb->rand = cb_rand;
    cb->get_new_connection_id = cb_get_new_cid;
    cb->remove_connection_id = cb_remove_cid;
    cb->handshake_completed = cb_handshake_completed;
    cb->recv_stream_data = cb_recv_stream_data;
    cb->acked_stream_data_offset = cb_acked;
    cb->stream_open = cb_stream_open;
    cb->stream_close = cb_stream_close;
    cb->stream_reset = cb_stream_reset;
    cb->recv_stateless_reset = cb_recv_stateless_reset;
    cb->dcid_status = cb_dcid_status;
}

static void fill_params(const macula_quic_conn *c, ngtcp2_settings *st, ngtcp2_transport_params *p,
                        uint64_t handshake_timeout_ns)
{
    const macula_quic_settings *s = &c->settings;
    ngtcp2_settings_default(st);
    st->initial_ts = now_ns(c);
    st->cc_algo = NGTCP2_CC_ALGO_CUBIC;
    st->handshake_timeout = handshake_timeout_ns;
    /* The windows start at their full size: no auto-tuning beyond them. */
    st->max_window = s->conn_window;
    st->max_stream_window = s->stream_window;
    ngtcp2_transport_params_default(p);
    p->initial_max_stream_data_bidi_local = s->stream_window;
    p->initial_max_stream_data_bidi_remote = s->stream_window;
    p->initial_max_stream_data_uni = s->stream_window;
    p->initial_max_data = s->conn_window;
    p->initial_max_streams_bidi = s->max_bidi_streams;
    p->initial_max_streams_uni = s->max_uni_streams;
    p->max_idle_timeout = (uint64_t)s->idle_timeout_ms * NGTCP2_MILLISECONDS;
    p->active_connection_id_limit = QUIC_ACTIVE_CID_LIMIT;
}

static void init_path(const macula_quic_conn *c, ngtcp2_path *path)
{
    memset(path, 0, sizeof *path);
    path->local.addr = (ngtcp2_sockaddr *)(uintptr_t)&c->ep->sock.local;
    path->local.addrlen = c->ep->sock.local_len;
    path->remote.addr = (ngtcp2_sockaddr *)(uintptr_t)&c->remote;
    path->remote.addrlen = c->remote_len;
}

static void after_start(macula_quic_conn *c)
{
    if (c->settings.keepalive_ms)
        ngtcp2_conn_set_keep_alive_timeout(c->q, (uint64_t)c->settings.keepalive_ms * NGTCP2_MILLISECONDS);
    ngtcp2_conn_set_tls_native_handle(c->q, c->tls);
    c->state = CONN_HANDSHAKING;
}

int macula__conn_start_server(macula_quic_conn *c, macula_quic_endpoint *ep, const ngtcp2_pkt_hd *hd,
                              const ngtcp2_cid *odcid, const struct sockaddr *remote, socklen_t remote_len)
{
    c->ep = ep;
    c->is_server = 1;
    memcpy(&c->remote, remote, remote_len);
    c->remote_len = remote_len;
    macula__endpoint_link_conn(ep, c);
    ngtcp2_cid scid;
    if (new_cid(c, &scid, QUIC_CID_LEN) != 0)
        return MACULA_ERR_INTERNAL;
    ngtcp2_settings st;
    ngtcp2_transport_params p;
    fill_params(c, &st, &p, (uint64_t)c->settings.handshake_timeout_ms * NGTCP2_MILLISECONDS);
    p.original_dcid = hd->dcid;
    if (odcid) {
        /* RFC 9000 7.3: after a Retry both ids go in the transport
         * parameters; ngtcp2 wants the token it came with (verified). */
        p.original_dcid = *odcid;
        p.retry_scid = hd->dcid;
        p.retry_scid_present = 1;
        st.token = hd->token;
    }
    p.stateless_reset_token_present = 1;
    macula__endpoint_reset_token(ep, &scid, p.stateless_reset_token);
    ngtcp2_callbacks cb;
    fill_callbacks(&cb, 1);
    ngtcp2_path path;
    init_path(c, &path);
    if (ngtcp2_conn_server_new(&c->q, &hd->scid, &scid, &path, hd->version, &cb, &st, &p, macula__quic_mem(c), c) != 0)
        return MACULA_ERR_NOMEM;
    int rc = macula__tls_session_server(c);
    if (rc != 0)
        return rc;
    after_start(c);
    if ((rc = macula__endpoint_add_cid(ep, c, &scid)) != 0 || (rc = macula__endpoint_add_cid(ep, c, &hd->dcid)) != 0)
        return rc;
    return 0;
}

int macula__conn_start_client(macula_quic_conn *c, macula_quic_endpoint *ep, const struct sockaddr *remote,
                              socklen_t remote_len)
{
    c->ep = ep;
    memcpy(&c->remote, remote, remote_len);
    c->remote_len = remote_len;
    macula__endpoint_link_conn(ep, c);
    ngtcp2_cid scid, dcid;
    uint8_t raw[QUIC_CID_LEN];
    randombytes_buf(raw, sizeof raw);
    ngtcp2_cid_init(&dcid, raw, sizeof raw);
    if (new_cid(c, &scid, QUIC_CID_LEN) != 0)
        return MACULA_ERR_INTERNAL;
    uint64_t now = now_ns(c);
    uint64_t left = c->deadline.deadline > now ? c->deadline.deadline - now : 1;
    ngtcp2_settings st;
    ngtcp2_transport_params p;
    fill_params(c, &st, &p, left);
    ngtcp2_callbacks cb;
    fill_callbacks(&cb, 0);
    ngtcp2_path path;
    init_path(c, &path);
    if (ngtcp2_conn_client_new(&c->q, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &st, &p, macula__quic_mem(c), c) != 0)
        return MACULA_ERR_NOMEM;
    int rc = macula__tls_session_client(c);
    if (rc != 0)
        return rc;
    after_start(c);
    if ((rc = macula__endpoint_add_cid(ep, c, &scid)) != 0)
        return rc;
    macula__conn_kick(c);
    return 0;
}

/* --- ending --- */

static void free_streams(macula_quic_conn *c)
{
    while (c->streams)
        macula__stream_free(c, c->streams);
}

static void release_ngtcp2(macula_quic_conn *c)
{
    if (c->ep)
        macula__rtok_conn_clear(&c->ep->rtoks, &c->rtok, c);
    if (c->q) {
        ngtcp2_conn_del(c->q);
        c->q = NULL;
    }
    if (c->tls) {
        gnutls_deinit(c->tls);
        c->tls = NULL;
    }
    macula__tls_free_ca_cred(c);
}

void macula__conn_terminate(macula_quic_conn *c, macula_quic_close_cause cause, int err, enum term_mode mode)
{
    if (c->state >= CONN_CLOSING)
        return;
    (void)cause;
    (void)err;
    if (c->ep)
        macula__adm_remove(&c->ep->adm, &c->adm);
    uint64_t now = now_ns(c);
    uint64_t linger = 0;
    if (c->q && mode != TERM_DROP) {
        uint64_t pto = ngtcp2_conn_get_pto(c->q);
        linger = 3 * pto;
    }
    c->state = CONN_DEAD;
    if (mode == TERM_SEND_CLOSE && c->q && c->ep) {
        ngtcp2_connection_close_error ccerr;
        if (c->ccerr_set) {
            ccerr = c->ccerr;
        } else {
            ngtcp2_connection_close_error_default(&ccerr);
            ngtcp2_connection_close_error_set_application_error(&ccerr, c->close_req_code,
                                                                (const uint8_t *)c->close_req_reason,
                                                                strlen(c->close_req_reason));
        }
        uint8_t buf[NGTCP2_MAX_PMTUD_UDP_PAYLOAD_SIZE];
        ngtcp2_path_storage ps;
        ngtcp2_path_storage_zero(&ps);
        ngtcp2_pkt_info pi;
        size_t max = ngtcp2_conn_get_path_max_tx_udp_payload_size(c->q);
        if (max > sizeof buf)
            max = sizeof buf;
        ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c->q, &ps.path, &pi, buf, max, &ccerr, now);
        if (n > 0) {
            macula__endpoint_send(c->ep, (const struct sockaddr *)&c->remote, c->remote_len, buf, (size_t)n);
            c->stats.packets_sent++;
            c->closing_pkt = malloc((size_t)n);
            if (c->closing_pkt) {
                memcpy(c->closing_pkt, buf, (size_t)n);
                c->closing_pkt_len = (size_t)n;
                c->state = CONN_CLOSING;
            }
        }
    } else if (mode == TERM_DRAIN) {
        c->state = CONN_DRAINING;
    }
    macula__timer_cancel(c->loop, &c->deadline);
    macula__dial_cancel_resolve(c);
    free_streams(c);
    release_ngtcp2(c);
    if (c->state == CONN_DEAD)
        macula__timer_cancel(c->loop, &c->expiry);
    else
        macula__timer_arm(c->loop, &c->expiry, now + (linger ? linger : 1000000000ull));
    if (!c->visible && c->close.cause != MACULA_QUIC_CLOSE_LOCAL) {
        /* A server connection that never reached its owner: say why. */
        char peer[64] = "";
        macula__sockaddr_string((const struct sockaddr *)&c->remote, peer, sizeof peer);
        macula__runtime_diag(c->rt, "quic_handshake_failed", "peer", peer, "cause",
                             macula_quic_close_cause_name(c->close.cause), "error", macula_err_name(c->close.err),
                             "reason", c->close_reason, NULL);
    }
    macula_quic_event ev = {0};
    ev.type = MACULA_QUIC_EV_CLOSED;
    ev.conn = c;
    ev.close = c->close;
    macula__conn_emit(c, &ev, NULL);
    macula__conn_kick(c);
}

void macula__conn_fail_dial(macula_quic_conn *c, int err, const char *fmt, ...)
{
    if (c->state >= CONN_CLOSING)
        return;
    c->close.cause = MACULA_QUIC_CLOSE_DIAL_FAILED;
    c->close.err = err;
    c->close.app_error = 0;
    c->close.error_code = 0;
    c->close.tls_alert = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->close_reason, sizeof c->close_reason, fmt, ap);
    va_end(ap);
    macula__conn_terminate(c, MACULA_QUIC_CLOSE_DIAL_FAILED, err, TERM_DROP);
}

/* The peer's CONNECTION_CLOSE (we are draining now). */
static void peer_closed(macula_quic_conn *c)
{
    ngtcp2_connection_close_error ccerr;
    ngtcp2_conn_get_connection_close_error(c->q, &ccerr);
    char reason[QUIC_REASON_MAX];
    size_t rlen = ccerr.reasonlen < sizeof reason - 1 ? ccerr.reasonlen : sizeof reason - 1;
    for (size_t i = 0; i < rlen; i++) {
        uint8_t ch = ccerr.reason[i];
        reason[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?'; /* hostile text: printable ASCII only */
    }
    reason[rlen] = 0;
    int app = ccerr.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION;
    int handshaking = c->state == CONN_HANDSHAKING;
    if (!app && ccerr.error_code >= NGTCP2_CRYPTO_ERROR && ccerr.error_code <= (NGTCP2_CRYPTO_ERROR | 0xff)) {
        int alert = (int)(ccerr.error_code & 0xff);
        set_close(c, handshaking ? MACULA_QUIC_CLOSE_HANDSHAKE_FAILED : MACULA_QUIC_CLOSE_PEER,
                  alert == 120 ? MACULA_ERR_ALPN : MACULA_ERR_TLS, 0, ccerr.error_code, alert,
                  "%speer sent TLS alert %d (%s)%s%s", alert == 120 ? "no common ALPN protocol: " : "", alert,
                  macula__tls_alert_name(alert), rlen ? ": " : "", reason);
    } else if (!app && handshaking && !c->is_server && ccerr.error_code == NGTCP2_CONNECTION_REFUSED) {
        set_close(c, MACULA_QUIC_CLOSE_DIAL_FAILED, MACULA_ERR_REFUSED, 0, ccerr.error_code, -1,
                  "server refused the connection%s%s", rlen ? ": " : "", reason);
    } else {
        set_close(c, MACULA_QUIC_CLOSE_PEER, 0, app, ccerr.error_code, -1, "%s", reason);
    }
    macula__conn_terminate(c, c->close.cause, c->close.err, TERM_DRAIN);
}

static void handle_error(macula_quic_conn *c, int rv)
{
    int handshaking = c->state == CONN_HANDSHAKING;
    switch (rv) {
    case NGTCP2_ERR_DRAINING:
        if (c->got_stateless_reset) {
            set_close(c, MACULA_QUIC_CLOSE_STATELESS_RESET, MACULA_ERR_CONN_CLOSED, 0, 0, -1,
                      "peer sent a stateless reset (it lost the connection's state)");
            macula__conn_terminate(c, c->close.cause, c->close.err, TERM_DROP);
        } else {
            peer_closed(c);
        }
        return;
    case NGTCP2_ERR_IDLE_CLOSE:
        set_close(c, MACULA_QUIC_CLOSE_IDLE_TIMEOUT, MACULA_ERR_TIMEOUT, 0, 0, -1,
                  "nothing heard from the peer for %u ms", c->settings.idle_timeout_ms);
        macula__conn_terminate(c, c->close.cause, c->close.err, TERM_DROP);
        return;
    case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
        if (c->is_server)
            set_close(c, MACULA_QUIC_CLOSE_HANDSHAKE_FAILED, MACULA_ERR_TIMEOUT, 0, 0, -1,
                      "handshake not complete within %u ms", c->settings.handshake_timeout_ms);
        else
            set_close(c, MACULA_QUIC_CLOSE_DIAL_FAILED, MACULA_ERR_TIMEOUT, 0, 0, -1,
                      "no QUIC handshake with %s within the dial deadline", c->host ? c->host : "the server");
        macula__conn_terminate(c, c->close.cause, c->close.err, TERM_DROP);
        return;
    case NGTCP2_ERR_CRYPTO: {
        int alert = ngtcp2_conn_get_tls_alert(c->q);
        int err = c->verify_err ? c->verify_err : alert == 120 ? MACULA_ERR_ALPN : MACULA_ERR_TLS;
        if (c->verify_err)
            set_close(c, MACULA_QUIC_CLOSE_HANDSHAKE_FAILED, err, 0, NGTCP2_CRYPTO_ERROR | (uint64_t)alert, alert,
                      "%s", c->verify_why);
        else
            set_close(c, handshaking ? MACULA_QUIC_CLOSE_HANDSHAKE_FAILED : MACULA_QUIC_CLOSE_ERROR, err, 0,
                      NGTCP2_CRYPTO_ERROR | (uint64_t)alert, alert, "TLS handshake failed: alert %d (%s)", alert,
                      macula__tls_alert_name(alert));
        ngtcp2_connection_close_error_set_transport_error_tls_alert(&c->ccerr, (uint8_t)alert, NULL, 0);
        c->ccerr_set = 1;
        macula__conn_terminate(c, c->close.cause, err, TERM_SEND_CLOSE);
        return;
    }
    case NGTCP2_ERR_RECV_VERSION_NEGOTIATION:
        set_close(c, MACULA_QUIC_CLOSE_DIAL_FAILED, MACULA_ERR_QUIC, 0, 0, -1,
                  "server does not speak QUIC version 1");
        macula__conn_terminate(c, c->close.cause, c->close.err, TERM_DROP);
        return;
    case NGTCP2_ERR_DROP_CONN:
    case NGTCP2_ERR_RETRY:
        set_close(c, handshaking ? MACULA_QUIC_CLOSE_HANDSHAKE_FAILED : MACULA_QUIC_CLOSE_ERROR, MACULA_ERR_QUIC, 0,
                  0, -1, "QUIC: %s", ngtcp2_strerror(rv));
        macula__conn_terminate(c, c->close.cause, c->close.err, TERM_DROP);
        return;
    default:
        set_close(c, handshaking ? MACULA_QUIC_CLOSE_HANDSHAKE_FAILED : MACULA_QUIC_CLOSE_ERROR,
                  rv == NGTCP2_ERR_NOMEM ? MACULA_ERR_NOMEM : MACULA_ERR_QUIC, 0,
                  ngtcp2_err_infer_quic_transport_error_code(rv), -1, "QUIC: %s", ngtcp2_strerror(rv));
        ngtcp2_connection_close_error_set_transport_error_liberr(&c->ccerr, rv, NULL, 0);
        c->ccerr_set = 1;
        macula__conn_terminate(c, c->close.cause, c->close.err, TERM_SEND_CLOSE);
        return;
    }
}

/* Local application close (macula_quic_conn_close or endpoint closing). */
static void local_close(macula_quic_conn *c)
{
    if (c->state >= CONN_CLOSING)
        return;
    if (c->ccerr_set) {
        /* A close decided inside a callback (e.g. no ALPN): info already set. */
        macula__conn_terminate(c, c->close.cause, c->close.err, TERM_SEND_CLOSE);
        return;
    }
    if (!c->close_req_reason[0] && !c->close_requested)
        snprintf(c->close_req_reason, sizeof c->close_req_reason, "closed");
    set_close(c, MACULA_QUIC_CLOSE_LOCAL, 0, 1, c->close_req_code, -1, "%s", c->close_req_reason);
    macula__conn_terminate(c, MACULA_QUIC_CLOSE_LOCAL, 0, c->q ? TERM_SEND_CLOSE : TERM_DROP);
}

/* --- packets --- */

void macula__conn_read(macula_quic_conn *c, const ngtcp2_path *path, const ngtcp2_pkt_info *pi, const uint8_t *pkt,
                       size_t len)
{
    c->stats.packets_received++;
    if (c->state == CONN_CLOSING) {
        /* RFC 9000 10.2.1: answer with our CONNECTION_CLOSE, less and less
         * often (on the 1st, 2nd, 4th, 8th... packet). */
        c->closing_rx++;
        if (c->closing_pkt && (c->closing_rx & (c->closing_rx - 1)) == 0)
            macula__endpoint_send(c->ep, (const struct sockaddr *)&c->remote, c->remote_len, c->closing_pkt,
                                  c->closing_pkt_len);
        return;
    }
    if (!c->q || (c->state != CONN_HANDSHAKING && c->state != CONN_CONNECTED))
        return;
    c->in_ngtcp2++;
    int rv = ngtcp2_conn_read_pkt(c->q, path, pi, pkt, len, now_ns(c));
    c->in_ngtcp2--;
    if (rv != 0)
        handle_error(c, rv);
    else if (c->rtok_dirty)
        macula__conn_refresh_reset_tokens(c);
    macula__conn_kick(c);
}

/* The next stream with something to send, round-robin by stream id. */
static quic_stream *next_stream(macula_quic_conn *c)
{
    quic_stream *after = NULL, *lowest = NULL;
    for (quic_stream *s = c->streams; s; s = s->next) {
        if (s->reset || s->skip_gen == c->write_gen)
            continue;
        if (macula__sb_unsent_len(&s->sb) == 0 && !(s->fin_queued && !s->fin_sent))
            continue;
        if (!lowest || s->id < lowest->id)
            lowest = s;
        if (s->id > c->rr_last && (!after || s->id < after->id))
            after = s;
    }
    return after ? after : lowest;
}

static void account(macula_quic_conn *c, quic_stream *s, ngtcp2_ssize ndatalen, int fin_asked)
{
    if (!s || ndatalen < 0)
        return;
    macula__sb_mark_sent(&s->sb, (size_t)ndatalen);
    c->stats.bytes_sent += (uint64_t)ndatalen;
    if (fin_asked && macula__sb_unsent_len(&s->sb) == 0)
        s->fin_sent = 1;
    c->rr_last = s->id;
}

static void arm_expiry(macula_quic_conn *c)
{
    ngtcp2_tstamp exp = ngtcp2_conn_get_expiry(c->q);
    if (exp == UINT64_MAX)
        macula__timer_cancel(c->loop, &c->expiry);
    else
        macula__timer_arm(c->loop, &c->expiry, exp);
}

/* Writes packets in bursts of one send quantum, each burst one GSO send.
 * ngtcp2 paces: it refuses (returns 0) once the next packet is due more
 * than its pacing allowance ahead, and its expiry then says when to go on.
 * Bursts continue while it accepts, up to a bound that keeps other
 * connections served. */
#define WRITE_MAX_BURSTS 16

static size_t write_burst(macula_quic_conn *c, size_t max_pkts, size_t max_udp, uint64_t now, int *failed)
{
    macula__udp_socket *sock = &c->ep->sock;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    c->write_gen++;
    size_t pkts = 0;
    int guard = 0;
    while (pkts < max_pkts && guard++ < 4096) {
        const ngtcp2_path *cur = ngtcp2_conn_get_path(c->q);
        uint8_t *buf = macula__udp_tx_slot(sock, (const struct sockaddr *)cur->remote.addr, cur->remote.addrlen,
                                           max_udp);
        quic_stream *s = next_stream(c);
        ngtcp2_vec vec[WRITE_MAX_VECS];
        size_t nvec = 0;
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
        int fin_asked = 0;
        if (s) {
            nvec = macula__sb_unsent(&s->sb, vec, WRITE_MAX_VECS);
            uint64_t given = 0;
            for (size_t i = 0; i < nvec; i++)
                given += vec[i].len;
            /* FIN only when these vectors carry every unsent byte. */
            if (s->fin_queued && !s->fin_sent && given == macula__sb_unsent_len(&s->sb)) {
                flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
                fin_asked = 1;
            }
        }
        ngtcp2_ssize ndatalen = -1;
        c->in_ngtcp2++;
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->q, &ps.path, &pi, buf, max_udp, &ndatalen, flags,
                                                   s ? s->id : -1, vec, nvec, now);
        c->in_ngtcp2--;
        if (n < 0) {
            if (n == NGTCP2_ERR_WRITE_MORE) {
                account(c, s, ndatalen, fin_asked);
                if (s && ndatalen == 0 && !fin_asked)
                    s->skip_gen = c->write_gen;
                continue;
            }
            if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED && s) {
                s->skip_gen = c->write_gen;
                continue;
            }
            if ((n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) && s) {
                s->reset = 1;
                continue;
            }
            macula__udp_tx_flush(sock);
            handle_error(c, (int)n);
            *failed = 1;
            return pkts;
        }
        account(c, s, ndatalen, fin_asked);
        if (n == 0)
            break;
        macula__udp_tx_commit(sock, (size_t)n);
        c->stats.packets_sent++;
        pkts++;
    }
    macula__udp_tx_flush(sock);
    /* Pacing starts once the handshake is complete: before an RTT sample
     * ngtcp2 paces with the 333 ms initial RTT, which would hold the
     * client's Finished back ~25 ms behind its first Initial. The handshake
     * sends a few small, amplification-limited flights anyway. */
    if (ngtcp2_conn_get_handshake_completed(c->q))
        ngtcp2_conn_update_pkt_tx_time(c->q, now);
    return pkts;
}

static void conn_write(macula_quic_conn *c)
{
    if (!c->q || (c->state != CONN_HANDSHAKING && c->state != CONN_CONNECTED))
        return;
    uint64_t now = now_ns(c);
    for (int burst = 0; burst < WRITE_MAX_BURSTS; burst++) {
        size_t max_udp = ngtcp2_conn_get_path_max_tx_udp_payload_size(c->q);
        size_t max_pkts = ngtcp2_conn_get_send_quantum(c->q) / max_udp;
        if (max_pkts < 1)
            max_pkts = 1;
        if (max_pkts > MACULA__UDP_MAX_SEGMENTS)
            max_pkts = MACULA__UDP_MAX_SEGMENTS;
        int failed = 0;
        size_t sent = write_burst(c, max_pkts, max_udp, now, &failed);
        if (failed)
            return;
        if (sent < max_pkts)
            break; /* nothing more, congestion or pacing: the expiry resumes */
    }
    arm_expiry(c);
}

/* --- deferred work and timers --- */

static void reap(macula_quic_conn *c)
{
    if (c->state == CONN_DEAD && (c->close_delivered || !c->visible))
        macula__conn_free(c);
}

void macula__conn_process(macula_quic_conn *c)
{
    if (c->numeric_ready && c->state == CONN_RESOLVING && !c->close_requested) {
        c->numeric_ready = 0;
        macula__dial_connect_numeric(c);
    }
    if (c->oom && c->state < CONN_CLOSING) {
        set_close(c, MACULA_QUIC_CLOSE_ERROR, MACULA_ERR_NOMEM, 0, 0, -1, "out of memory queueing an event");
        c->close_req_code = 0;
        snprintf(c->close_req_reason, sizeof c->close_req_reason, "internal error");
        macula__conn_terminate(c, c->close.cause, c->close.err, c->q ? TERM_SEND_CLOSE : TERM_DROP);
    }
    if (c->close_requested && c->state < CONN_CLOSING) {
        if (c->state == CONN_RESOLVING) {
            set_close(c, MACULA_QUIC_CLOSE_LOCAL, 0, 1, c->close_req_code, -1, "%s", c->close_req_reason);
            macula__conn_terminate(c, MACULA_QUIC_CLOSE_LOCAL, 0, TERM_DROP);
        } else {
            /* Send what is due first (e.g. the client's handshake Finished,
             * so that the server learns of the connection it is closing). */
            conn_write(c);
            local_close(c);
        }
    }
    macula__conn_deliver(c);
    conn_write(c);
    if (c->rtok_dirty)
        macula__conn_refresh_reset_tokens(c);
    macula__conn_deliver(c);
    reap(c);
}

static void with_endpoint(macula_quic_conn *c, void (*fn)(macula_quic_conn *c))
{
    macula_quic_endpoint *ep = c->ep;
    if (ep)
        macula__endpoint_enter(ep);
    fn(c);
    if (ep)
        macula__endpoint_leave(ep);
}

static void kick_cb(void *arg) { with_endpoint(arg, macula__conn_process); }

static void expiry_run(macula_quic_conn *c)
{
    if (c->state == CONN_CLOSING || c->state == CONN_DRAINING) {
        c->state = CONN_DEAD;
        reap(c);
        return;
    }
    if (!c->q || (c->state != CONN_HANDSHAKING && c->state != CONN_CONNECTED))
        return;
    c->in_ngtcp2++;
    int rv = ngtcp2_conn_handle_expiry(c->q, now_ns(c));
    c->in_ngtcp2--;
    if (rv != 0)
        handle_error(c, rv);
    else if (c->rtok_dirty)
        macula__conn_refresh_reset_tokens(c);
    macula__conn_process(c);
}

static void expiry_cb(void *arg)
{
    /* Connection timers keep firing while connections idle: they let the
     * block pool discard memory freed by the last handshakes. */
    macula__block_pool_tick(macula__block_pool_shared());
    with_endpoint(arg, expiry_run);
}

static void deadline_run(macula_quic_conn *c)
{
    if (c->state == CONN_RESOLVING)
        macula__conn_fail_dial(c, MACULA_ERR_TIMEOUT, "resolving %s took longer than the dial deadline", c->host);
    else if (c->state == CONN_HANDSHAKING)
        macula__conn_fail_dial(c, MACULA_ERR_TIMEOUT, "no QUIC handshake with %s:%u within the dial deadline",
                               c->host, (unsigned)c->port);
    macula__conn_process(c);
}

static void deadline_cb(void *arg) { with_endpoint(arg, deadline_run); }

void macula__conn_close_now(macula_quic_conn *c)
{
    if (c->state < CONN_CLOSING)
        local_close(c);
    macula__conn_deliver(c);
    macula__conn_free(c);
}

void macula__conn_free(macula_quic_conn *c)
{
    macula__timer_cancel(c->loop, &c->expiry);
    macula__timer_cancel(c->loop, &c->kick);
    macula__timer_cancel(c->loop, &c->deadline);
    macula__dial_cancel_resolve(c);
    if (c->ep) {
        macula__adm_remove(&c->ep->adm, &c->adm);
        while (c->n_cids)
            macula__endpoint_remove_cid(c->ep, c, &c->cids[c->n_cids - 1]);
        macula__endpoint_unlink_conn(c->ep, c);
    } else if (c->qrt) {
        macula__quic_rt_unlink_resolving(c->qrt, c);
    }
    free_streams(c);
    while (c->evq_head) {
        quic_event_item *it = c->evq_head;
        c->evq_head = it->next;
        free(it);
    }
    release_ngtcp2(c);
    free(c->closing_pkt);
    free(c->host);
    free(c->server_name);
    free(c->ca_file);
    if (c->alpn_list) {
        for (size_t i = 0; i < c->n_alpn; i++)
            free(c->alpn_list[i]);
        free(c->alpn_list);
    }
    free(c);
}
