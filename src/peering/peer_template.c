/* SPDX-License-Identifier: Apache-2.0 */
/* Peer options: defaults, checks that name the faulty field, and the deep
 * copy the workers are built from (see peer_template.h). */
#include <stdlib.h>
#include <string.h>

#include "peering/peer_template.h"
#include "util/abi.h"
#include "identity/identity_internal.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 30000u
#define DEFAULT_HANDSHAKE_TIMEOUT_MS 30000u
#define DEFAULT_DRAIN_TIMEOUT_MS 5000u
#define DEFAULT_IDLE_TIMEOUT_MS 300000u
#define DEFAULT_KEEPALIVE_MS 15000u
#define DEFAULT_SEND_QUEUE_CAP ((size_t)64 << 20)
#define MAX_ALPN_LEN 255

/* Released layouts (common.h, "ABI rules"): release 1 ends with
 * admit_user, release 2 with max_peer_streams, release 3 (lazy_frames and
 * the budgets) with quic_send_queue_cap. */
#define PEER_OPTIONS_R1 MACULA__FIELD_END(macula_peer_options, admit_user)
#define PEER_OPTIONS_R2 MACULA__FIELD_END(macula_peer_options, max_peer_streams)
#define PEER_OPTIONS_R3 MACULA__FIELD_END(macula_peer_options, quic_send_queue_cap)
static const size_t peer_options_ends[] = {PEER_OPTIONS_R1, PEER_OPTIONS_R2, PEER_OPTIONS_R3,
                                           sizeof(macula_peer_options)};
_Static_assert(offsetof(macula_peer_options, lazy_frames) >=
                   MACULA__ROUND_UP(PEER_OPTIONS_R2, _Alignof(macula_peer_options)),
               "release 3 of macula_peer_options starts inside release 2's tail padding");
_Static_assert(offsetof(macula_peer_options, peer_user) >=
                   MACULA__ROUND_UP(PEER_OPTIONS_R1, _Alignof(macula_peer_options)),
               "release 2 of macula_peer_options starts inside release 1's tail padding");

void macula_peer_options_init_sized(macula_peer_options *o, size_t struct_size)
{
    if (!o)
        return;
    macula_peer_options d;
    memset(&d, 0, sizeof d);
    d.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    d.verify = MACULA_QUIC_VERIFY_NONE;
    d.handshake_timeout_ms = DEFAULT_HANDSHAKE_TIMEOUT_MS;
    d.drain_timeout_ms = DEFAULT_DRAIN_TIMEOUT_MS;
    d.idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    d.keepalive_ms = DEFAULT_KEEPALIVE_MS;
    d.send_queue_cap = DEFAULT_SEND_QUEUE_CAP;
    macula__abi_init(o, struct_size, &d, sizeof d);
}

/* The TLS check a dial makes (see the table at macula_peer_options_init). */
static macula_quic_verify effective_verify(const macula_peer_options *o)
{
    return o->expected_node_id && !o->hello_only ? MACULA_QUIC_VERIFY_PIN : o->verify;
}

static const char *check(const macula_peer_options *o, int is_server, const macula_identity *fallback_id)
{
    if (!o->identity && !fallback_id)
        return "identity";
    if (!o->handler)
        return "handler";
    if (o->n_realms && !o->realms)
        return "realms";
    if (o->n_realms > MACULA__WORKER_MAX_REALMS)
        return "n_realms";
    if (o->verify != MACULA_QUIC_VERIFY_NONE && o->verify != MACULA_QUIC_VERIFY_PIN &&
        o->verify != MACULA_QUIC_VERIFY_PKI)
        return "verify";
    if (is_server)
        return NULL;
    if (!o->host || !o->host[0])
        return "host";
    if (o->port == 0)
        return "port";
    if (o->n_alpn > MACULA_QUIC_MAX_ALPN || (o->n_alpn && !o->alpn))
        return "alpn";
    for (size_t i = 0; i < o->n_alpn; i++)
        if (!o->alpn[i] || !o->alpn[i][0] || strlen(o->alpn[i]) > MAX_ALPN_LEN)
            return "alpn";
    /* PIN needs a key: expected_node_id is that key. */
    if (o->verify == MACULA_QUIC_VERIFY_PIN && !o->expected_node_id)
        return "expected_node_id";
    /* hello_only relaxes a pin: without one it means nothing, and it
     * contradicts PIN. */
    if (o->hello_only && !o->expected_node_id)
        return "hello_only";
    if (o->hello_only && o->verify == MACULA_QUIC_VERIFY_PIN)
        return "verify";
    if (o->ca_file && (!o->ca_file[0] || effective_verify(o) != MACULA_QUIC_VERIFY_PKI))
        return "ca_file";
    if (o->dead_peer_timeout_ms && (!o->keepalive_ms || o->dead_peer_timeout_ms <= o->keepalive_ms))
        return "dead_peer_timeout_ms"; /* nothing would make a live peer speak */
    return NULL;
}

static char *dup_str(const char *s, int *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = 0;
    return d;
}

int macula__peer_template_init(macula__peer_template *t, const macula_peer_options *caller_opts, int is_server,
                               const macula_identity *fallback_id, const char **errmsg)
{
    memset(t, 0, sizeof *t);
    /* The caller's release of the struct, completed with defaults. */
    macula_peer_options full;
    const macula_peer_options *o = &full;
    const char *bad = NULL;
    macula_peer_options_init(&full);
    if (!caller_opts)
        bad = "opts";
    else if (macula__abi_read(&full, caller_opts, peer_options_ends, sizeof peer_options_ends / sizeof peer_options_ends[0]) != 0)
        bad = "struct_size";
    else
        bad = check(o, is_server, fallback_id);
    if (bad) {
        if (errmsg)
            *errmsg = bad;
        return MACULA_ERR_INVALID_ARG;
    }
    int ok = 1, rc = 0;
    t->is_server = is_server;
    t->identity = macula__identity_dup(o->identity ? o->identity : fallback_id, &rc);
    if (!t->identity)
        ok = 0;
    if (o->n_realms) {
        t->realms = malloc(o->n_realms * MACULA_REALM_LEN);
        if (t->realms)
            memcpy(t->realms, o->realms, o->n_realms * MACULA_REALM_LEN);
        else
            ok = 0;
        t->n_realms = o->n_realms;
    }
    t->station = o->station != 0;
    t->capabilities = o->capabilities | (t->station ? MACULA_CAP_RELAY_STATION : 0);
    if (o->station_id) {
        t->has_station_id = 1;
        memcpy(t->station_id, o->station_id, MACULA_NODE_ID_LEN);
    }
    if (o->expected_node_id) {
        t->has_expected = 1;
        memcpy(t->expected_node_id, o->expected_node_id, MACULA_NODE_ID_LEN);
    }
    t->handler = o->handler;
    t->handler_user = o->handler_user;
    t->accept_owner = o->accept_owner;
    t->accept_owner_user = o->accept_owner_user;
    t->admit = is_server ? o->admit : NULL;
    t->admit_user = o->admit_user;
    t->handshake_timeout_ms = o->handshake_timeout_ms ? o->handshake_timeout_ms : DEFAULT_HANDSHAKE_TIMEOUT_MS;
    t->drain_timeout_ms = o->drain_timeout_ms ? o->drain_timeout_ms : DEFAULT_DRAIN_TIMEOUT_MS;
    t->send_queue_cap = o->send_queue_cap ? o->send_queue_cap : DEFAULT_SEND_QUEUE_CAP;
    t->peer_user = o->peer_user;
    t->queue_until_connected = o->queue_until_connected != 0;
    t->max_peer_streams = o->max_peer_streams;
    t->lazy_frames = o->lazy_frames != 0;
    t->max_frame_size = o->max_frame_size;
    t->recv_budget = o->recv_budget;
    t->max_decode_bytes = o->max_decode_bytes;
    t->dead_peer_timeout_ms = o->dead_peer_timeout_ms;
    if (!is_server) {
        t->host = dup_str(o->host, &ok);
        t->port = o->port;
        if (o->n_alpn) {
            t->alpn = calloc(o->n_alpn, sizeof *t->alpn);
            if (!t->alpn)
                ok = 0;
            for (size_t i = 0; t->alpn && i < o->n_alpn; i++)
                t->alpn[i] = dup_str(o->alpn[i], &ok);
            t->n_alpn = o->n_alpn;
        }
        t->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
        t->verify = effective_verify(o);
        t->server_name = dup_str(o->server_name, &ok);
        t->ca_file = dup_str(o->ca_file, &ok);
        t->idle_timeout_ms = o->idle_timeout_ms ? o->idle_timeout_ms : DEFAULT_IDLE_TIMEOUT_MS;
        t->keepalive_ms = o->keepalive_ms;
        t->low_memory = o->low_memory != 0;
        t->quic_send_queue_cap = o->quic_send_queue_cap;
    }
    if (!ok) {
        macula__peer_template_clear(t);
        return rc && rc != MACULA_ERR_NOMEM ? rc : MACULA_ERR_NOMEM;
    }
    return 0;
}

void macula__peer_template_clear(macula__peer_template *t)
{
    if (!t)
        return;
    macula_identity_free(t->identity);
    free(t->realms);
    free(t->host);
    for (size_t i = 0; t->alpn && i < t->n_alpn; i++)
        free(t->alpn[i]);
    free(t->alpn);
    free(t->server_name);
    free(t->ca_file);
    memset(t, 0, sizeof *t);
}

void macula__peer_template_worker_config(const macula__peer_template *t, macula_peer peer,
                                         macula__worker_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->is_server = t->is_server;
    cfg->peer = peer;
    cfg->identity = t->identity;
    cfg->realms = t->realms;
    cfg->n_realms = t->n_realms;
    cfg->capabilities = t->capabilities;
    cfg->station_id = t->has_station_id ? t->station_id : NULL;
    cfg->expected_node_id = t->has_expected ? t->expected_node_id : NULL;
    cfg->has_accept_owner = t->accept_owner != NULL;
    cfg->handshake_timeout_ns = (uint64_t)t->handshake_timeout_ms * 1000000u;
    cfg->drain_timeout_ns = (uint64_t)t->drain_timeout_ms * 1000000u;
    cfg->send_queue_cap = t->send_queue_cap;
    cfg->max_peer_streams = t->max_peer_streams;
    cfg->max_frame_size = t->max_frame_size;
    cfg->recv_budget = t->recv_budget;
    cfg->max_decode_bytes = t->max_decode_bytes;
    cfg->admit = t->admit;
    cfg->admit_user = t->admit_user;
    cfg->station = t->station;
    cfg->lazy_frames = t->lazy_frames;
}

void macula__peer_template_dial_options(const macula__peer_template *t, macula_quic_dial_options *o)
{
    macula_quic_dial_options_init(o);
    o->host = t->host;
    o->port = t->port;
    o->alpn = (const char *const *)t->alpn;
    o->n_alpn = t->n_alpn;
    o->timeout_ms = t->connect_timeout_ms;
    o->verify = t->verify;
    o->pin_ed25519 = t->verify == MACULA_QUIC_VERIFY_PIN ? t->expected_node_id : NULL;
    o->server_name = t->server_name;
    o->ca_file = t->ca_file;
    o->settings.idle_timeout_ms = t->idle_timeout_ms;
    o->settings.keepalive_ms = t->keepalive_ms;
    o->settings.low_memory = t->low_memory;
    if (t->quic_send_queue_cap)
        o->settings.send_queue_cap = t->quic_send_queue_cap;
}
