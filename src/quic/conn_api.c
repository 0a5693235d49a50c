/* SPDX-License-Identifier: Apache-2.0 */
/* The public connection API (quic.h). None of these read or write packets:
 * they change state and kick the connection (see quic_internal.h). */
#include <stdio.h>
#include <string.h>

#include "quic/quic_internal.h"

static int usable(const macula_quic_conn *c)
{
    return c && !c->close_queued && !c->close_requested && c->state < CONN_CLOSING;
}

void macula_quic_conn_set_owner(macula_quic_conn *c, macula_quic_handler handler, void *user)
{
    if (!c || c->close_delivered)
        return;
    c->handler = handler;
    c->user = user;
    if (handler && c->evq_head)
        macula__conn_kick(c);
}

int macula_quic_conn_open_stream(macula_quic_conn *c, int64_t *stream_id)
{
    if (!c || !stream_id)
        return MACULA_ERR_INVALID_ARG;
    if (!usable(c))
        return MACULA_ERR_CONN_CLOSED;
    if (c->state != CONN_CONNECTED)
        return MACULA_ERR_STATE;
    int64_t id;
    int rv = ngtcp2_conn_open_bidi_stream(c->q, &id, NULL);
    if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED)
        return MACULA_ERR_LIMIT;
    if (rv != 0)
        return MACULA_ERR_NOMEM;
    quic_stream *s = macula__stream_new(c, id);
    if (!s) {
        ngtcp2_conn_shutdown_stream(c->q, id, 0);
        return MACULA_ERR_NOMEM;
    }
    ngtcp2_conn_set_stream_user_data(c->q, id, s);
    *stream_id = id;
    return 0;
}

/* The stream if we may send on it, else an error in *rc. */
static quic_stream *send_stream(macula_quic_conn *c, int64_t stream_id, int *rc)
{
    *rc = 0;
    if (!c) {
        *rc = MACULA_ERR_INVALID_ARG;
        return NULL;
    }
    if (!usable(c)) {
        *rc = MACULA_ERR_CONN_CLOSED;
        return NULL;
    }
    quic_stream *s = macula__stream_find(c, stream_id);
    if (!s || s->reset || s->fin_queued) {
        *rc = MACULA_ERR_STREAM_CLOSED;
        return NULL;
    }
    if (!ngtcp2_is_bidi_stream(stream_id) && !ngtcp2_conn_is_local_stream(c->q, stream_id)) {
        *rc = MACULA_ERR_INVALID_ARG; /* the peer's unidirectional stream */
        return NULL;
    }
    return s;
}

int macula_quic_conn_send(macula_quic_conn *c, int64_t stream_id, const uint8_t *data, size_t len, int fin)
{
    int rc;
    quic_stream *s = send_stream(c, stream_id, &rc);
    if (!s)
        return rc;
    if (len && !data)
        return MACULA_ERR_INVALID_ARG;
    size_t cap = c->settings.send_queue_cap;
    if (len > cap)
        return MACULA_ERR_LIMIT; /* could never fit */
    if (macula__sb_used(&s->sb) + len > cap) {
        s->want_send_ready = 1;
        s->wanted = len;
        return MACULA_ERR_WOULD_BLOCK;
    }
    if (len && (rc = macula__sb_append(&s->sb, data, len)) != 0)
        return rc;
    if (fin)
        s->fin_queued = 1;
    macula__conn_kick(c);
    return 0;
}

size_t macula_quic_conn_send_space(const macula_quic_conn *c, int64_t stream_id)
{
    if (!c || c->close_queued || c->state >= CONN_CLOSING)
        return 0;
    for (const quic_stream *s = c->streams; s; s = s->next) {
        if (s->id == stream_id) {
            if (s->reset || s->fin_queued)
                return 0;
            uint64_t used = macula__sb_used(&s->sb);
            return used >= c->settings.send_queue_cap ? 0 : (size_t)(c->settings.send_queue_cap - used);
        }
    }
    return 0;
}

int macula_quic_conn_shutdown_stream(macula_quic_conn *c, int64_t stream_id)
{
    int rc;
    quic_stream *s = send_stream(c, stream_id, &rc);
    if (!s)
        return rc;
    s->fin_queued = 1;
    macula__conn_kick(c);
    return 0;
}

int macula_quic_conn_reset_stream(macula_quic_conn *c, int64_t stream_id, uint64_t app_error_code)
{
    if (!c)
        return MACULA_ERR_INVALID_ARG;
    if (!usable(c))
        return MACULA_ERR_CONN_CLOSED;
    quic_stream *s = macula__stream_find(c, stream_id);
    if (!s)
        return MACULA_ERR_STREAM_CLOSED;
    if (s->local_reset || s->gone)
        return 0;
    s->local_reset = 1;
    s->reset = 1;
    s->want_send_ready = 0;
    if (ngtcp2_conn_shutdown_stream(c->q, stream_id, app_error_code) != 0)
        return MACULA_ERR_NOMEM;
    macula__conn_kick(c);
    return 0;
}

int macula_quic_conn_watch_acked(macula_quic_conn *c, int64_t stream_id, uint64_t offset)
{
    if (!c)
        return MACULA_ERR_INVALID_ARG;
    if (!usable(c))
        return MACULA_ERR_CONN_CLOSED;
    quic_stream *s = macula__stream_find(c, stream_id);
    if (!s || s->reset || s->gone)
        return MACULA_ERR_STREAM_CLOSED;
    s->ack_watch = 1;
    s->ack_watch_off = offset;
    /* Already there: emitting from here would call the owner inside its
     * own call; the event queue delivers it from the loop instead. */
    if (s->sb.acked >= offset) {
        c->in_handler++;
        macula__stream_check_acked(c, s);
        c->in_handler--;
    }
    return 0;
}

int macula_quic_conn_pause_reading(macula_quic_conn *c, int64_t stream_id, int paused)
{
    if (!c)
        return MACULA_ERR_INVALID_ARG;
    quic_stream *s = macula__stream_find(c, stream_id);
    if (!s)
        return MACULA_ERR_STREAM_CLOSED;
    if (s->read_paused && !paused) {
        c->resumed = 1;
        if (c->evq_head)
            macula__conn_kick(c);
    }
    s->read_paused = paused != 0;
    if (!s->read_paused && s->gone)
        macula__stream_free(c, s); /* ngtcp2 closed it while it was paused */
    return 0;
}

void macula_quic_conn_close(macula_quic_conn *c, uint64_t app_error_code, const char *reason)
{
    if (!usable(c))
        return;
    c->close_requested = 1;
    c->close_req_code = app_error_code;
    snprintf(c->close_req_reason, sizeof c->close_req_reason, "%s", reason ? reason : "closed");
    macula__conn_kick(c);
}

void macula_quic_conn_admitted(macula_quic_conn *c)
{
    if (c && c->is_server && c->ep)
        macula__adm_remove(&c->ep->adm, &c->adm);
}

int macula_quic_conn_peer_addr(const macula_quic_conn *c, struct sockaddr_storage *addr, socklen_t *len)
{
    if (!c || !addr || !len)
        return MACULA_ERR_INVALID_ARG;
    if (!c->remote_len)
        return MACULA_ERR_STATE; /* still resolving */
    memcpy(addr, &c->remote, c->remote_len);
    *len = c->remote_len;
    return 0;
}

int macula_quic_conn_peer_addr_string(const macula_quic_conn *c, char *buf, size_t size)
{
    if (!c || !buf || !size)
        return MACULA_ERR_INVALID_ARG;
    if (!c->remote_len)
        return MACULA_ERR_STATE;
    return macula__sockaddr_string((const struct sockaddr *)&c->remote, buf, size);
}

const char *macula_quic_conn_alpn(const macula_quic_conn *c) { return c && c->have_alpn ? c->alpn : NULL; }

const uint8_t *macula_quic_conn_peer_ed25519(const macula_quic_conn *c)
{
    return c && !c->is_server && c->have_peer_key ? c->peer_key : NULL;
}

int macula_quic_conn_is_server(const macula_quic_conn *c) { return c ? c->is_server : 0; }

int macula_quic_conn_get_stats(const macula_quic_conn *c, macula_quic_conn_stats *caller_out)
{
    if (!c || !caller_out)
        return MACULA_ERR_INVALID_ARG;
    macula_quic_conn_stats full = c->stats;
    macula_quic_conn_stats *out = &full;
    if (c->q) {
        ngtcp2_conn_stat st;
        ngtcp2_conn_get_conn_stat(c->q, &st);
        out->smoothed_rtt_us = st.smoothed_rtt / 1000u;
        for (const quic_stream *s = c->streams; s; s = s->next)
            out->packets_lost += ngtcp2_conn_get_stream_loss_count(c->q, s->id);
    }
    return macula__conn_stats_write(caller_out, out);
}
