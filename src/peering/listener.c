/* SPDX-License-Identifier: Apache-2.0 */
/* Listeners: a QUIC endpoint whose new connections become server workers,
 * automatically (auto_accept) or through the application (on_connection +
 * macula_peer_accept / macula_listener_refuse); with the cap on
 * connections still handshaking and the closing of duplicate peers. */
#include <stdlib.h>
#include <string.h>

#include "peering/supervisor.h"
#include "util/abi.h"

typedef struct pending_conn {
    macula_quic_conn *conn;
    struct pending_conn *next;
} pending_conn;

struct macula_listener {
    macula__peering *pr;
    macula_quic_endpoint *ep;
    int auto_mode;
    macula__peer_template tmpl; /* automatic mode */
    macula_connection_fn on_connection;
    void *on_connection_user;
    size_t max_handshaking;
    int close_duplicates;
    /* Connections not yet connected: workers in awaiting_start or
     * handshaking, and connections waiting for macula_peer_accept. */
    size_t handshaking;
    pending_conn *pending;
    macula__peer_entry *entries;
    size_t n_entries;
    int closing;
    int busy; /* inside listener code that must not see `l` freed */
    macula_listener *prev, *next;
};

/* Released layouts (common.h, "ABI rules"). */
static const size_t listener_options_ends[] = {MACULA__FIELD_END(macula_listener_options, close_duplicate_peers),
                                               sizeof(macula_listener_options)};

void macula_listener_options_init_sized(macula_listener_options *o, size_t struct_size)
{
    if (!o)
        return;
    macula_listener_options d;
    memset(&d, 0, sizeof d);
    macula_quic_settings_init(&d.quic);
    macula__abi_init(o, struct_size, &d, sizeof d);
}

/* --- lifetime --- */

static void unlink_listener(macula_listener *l)
{
    macula__peering *pr = l->pr;
    if (l->prev)
        l->prev->next = l->next;
    else if (pr->listeners == l)
        pr->listeners = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
}

static void free_pending(macula_listener *l)
{
    while (l->pending) {
        pending_conn *p = l->pending;
        l->pending = p->next;
        free(p);
    }
}

static void free_listener(macula_listener *l)
{
    free_pending(l);
    macula__peer_template_clear(&l->tmpl);
    free(l);
}

/* Releases the endpoint and the listener once it is closing and empty. */
static void maybe_finalize(macula_listener *l)
{
    if (!l->closing || l->busy || l->n_entries || l->pending)
        return;
    unlink_listener(l);
    macula_quic_endpoint_close(l->ep);
    free_listener(l);
}

static void drop_conn(macula_quic_conn *conn, uint64_t code, const char *reason)
{
    macula_quic_conn_close(conn, code, reason);
    macula_quic_conn_set_owner(conn, macula__peering_quic_sink, NULL);
}

/* Closes the connections waiting for macula_peer_accept. */
static void close_pending(macula_listener *l, uint64_t code, const char *reason)
{
    while (l->pending) {
        pending_conn *p = l->pending;
        l->pending = p->next;
        drop_conn(p->conn, code, reason);
        l->handshaking--;
        free(p);
    }
}

/* --- new connections --- */

static void on_endpoint_event(void *user, const macula_quic_event *ev)
{
    macula_listener *l = user;
    macula__peering *pr = l->pr;
    if (ev->type != MACULA_QUIC_EV_CONNECTED)
        return;
    macula_quic_conn *conn = ev->conn;
    if (l->closing || pr->stopping) {
        drop_conn(conn, 0, NULL);
        return;
    }
    if (l->max_handshaking && l->handshaking >= l->max_handshaking) {
        char addr[MACULA__PEER_ADDR_LEN] = "";
        macula_quic_conn_peer_addr_string(conn, addr, sizeof addr);
        drop_conn(conn, 1, "busy");
        macula_diag_field f = {"peer_addr", addr};
        macula__runtime_diag_fields(pr->rt, "listener_busy", &f, 1);
        return;
    }
    if (l->auto_mode) {
        int err = 0;
        macula__peer_entry *e = macula__peer_entry_new(pr, &l->tmpl, &err);
        if (!e) {
            drop_conn(conn, 1, "out of memory");
            macula_diag_field f = {"error", macula_err_name(err)};
            macula__runtime_diag_fields(pr->rt, "listener_accept_failed", &f, 1);
            return;
        }
        macula__listener_adopt(l, e);
        macula__peer_entry_start(e, conn); /* may end `e` (and, through a handler, `l`) */
        return;
    }
    pending_conn *p = malloc(sizeof *p);
    if (!p) {
        drop_conn(conn, 1, "out of memory");
        return;
    }
    p->conn = conn;
    p->next = l->pending;
    l->pending = p;
    l->handshaking++;
    /* Nobody owns it until macula_peer_accept: QUIC keeps its events. */
    macula_quic_conn_set_owner(conn, NULL, NULL);
    l->on_connection(l->on_connection_user, l, conn);
}

macula_listener *macula_listener_new(macula_runtime *rt, const macula_listener_options *caller_opts, int *err,
                                     const char **errmsg)
{
    int rc = MACULA_ERR_INVALID_ARG;
    const char *bad = NULL;
    /* The caller's release of the struct, completed with defaults. */
    macula_listener_options full;
    const macula_listener_options *opts = &full;
    macula_listener_options_init(&full);
    if (!rt)
        bad = "rt";
    else if (!caller_opts)
        bad = "opts";
    else if (macula__abi_read(&full, caller_opts, listener_options_ends, 2) != 0)
        bad = "struct_size";
    else if (full.quic.struct_size != sizeof full.quic)
        bad = "quic.struct_size";
    else if (!opts->identity && !(opts->cert_pem_file && opts->key_pem_file))
        bad = "identity";
    else if (!opts->auto_accept && !opts->on_connection)
        bad = "on_connection";
    macula_listener *l = NULL;
    if (bad)
        goto fail;
    rc = MACULA_ERR_NOMEM;
    macula__peering *pr = macula__peering_get(rt);
    l = calloc(1, sizeof *l);
    if (!pr || !l)
        goto fail;
    l->pr = pr;
    if (opts->auto_accept) {
        rc = macula__peer_template_init(&l->tmpl, opts->auto_accept, 1, opts->identity, &bad);
        if (rc != 0) {
            if (rc == MACULA_ERR_INVALID_ARG && !strcmp(bad, "identity"))
                bad = "auto_accept.identity";
            else if (rc == MACULA_ERR_INVALID_ARG && !strcmp(bad, "handler"))
                bad = "auto_accept.handler";
            else if (rc == MACULA_ERR_INVALID_ARG && !strcmp(bad, "struct_size"))
                bad = "auto_accept.struct_size";
            goto fail;
        }
        l->auto_mode = 1;
    }
    /* After the option checks, so that a bad option is reported the same
     * on every thread. */
    rc = macula__runtime_thread_check(rt, "macula_listener_new");
    if (rc != 0) {
        bad = "thread: loop thread only while the loop runs";
        goto fail;
    }
    l->on_connection = opts->on_connection;
    l->on_connection_user = opts->on_connection_user;
    l->max_handshaking = opts->max_handshaking;
    l->close_duplicates = opts->close_duplicate_peers;

    macula_quic_endpoint_options eo;
    macula_quic_endpoint_options_init(&eo);
    eo.bind_host = opts->bind_host;
    eo.bind_port = opts->bind_port;
    eo.on_connection = on_endpoint_event;
    eo.on_connection_user = l;
    eo.identity = opts->identity;
    eo.sans = opts->sans;
    eo.n_sans = opts->n_sans;
    eo.cert_pem_file = opts->cert_pem_file;
    eo.key_pem_file = opts->key_pem_file;
    eo.alpn = opts->alpn;
    eo.n_alpn = opts->n_alpn;
    eo.settings = opts->quic;
    eo.max_pending = opts->max_pending;
    eo.max_pending_per_addr = opts->max_pending_per_addr;
    eo.pending_budget = opts->pending_budget;
    eo.max_connections = opts->max_connections;
    eo.retry = opts->retry;
    eo.hold_until_admitted = 1; /* pending until the peer's CONNECT */
    l->ep = macula_quic_endpoint_new(rt, &eo, &rc);
    if (!l->ep) {
        bad = rc == MACULA_ERR_INVALID_ARG ? "endpoint options (bind_host, alpn, sans, quic)"
                                           : "cannot bind or load the certificate";
        goto fail;
    }
    /* Loop thread, or before the loop runs (peering.h). */
    macula__peering_ensure_hook(pr);
    l->next = pr->listeners;
    if (pr->listeners)
        pr->listeners->prev = l;
    pr->listeners = l;
    if (err)
        *err = 0;
    return l;

fail:
    if (l)
        free_listener(l);
    if (err)
        *err = rc;
    if (errmsg)
        *errmsg = bad ? bad : "out of memory";
    return NULL;
}

uint16_t macula_listener_port(const macula_listener *l) { return l ? macula_quic_endpoint_port(l->ep) : 0; }

int macula_listener_get_stats(const macula_listener *l, macula_quic_endpoint_stats *out)
{
    return l ? macula_quic_endpoint_get_stats(l->ep, out) : MACULA_ERR_INVALID_ARG;
}

void macula_listener_refuse(macula_listener *l, macula_quic_conn *conn)
{
    if (!l || !conn || macula__runtime_thread_check(l->pr->rt, "macula_listener_refuse") != 0)
        return;
    for (pending_conn **pp = &l->pending; *pp; pp = &(*pp)->next) {
        pending_conn *p = *pp;
        if (p->conn == conn) {
            *pp = p->next;
            free(p);
            l->handshaking--;
            drop_conn(conn, 1, "refused");
            maybe_finalize(l);
            return;
        }
    }
}

void macula_listener_close(macula_listener *l)
{
    if (!l || l->closing || macula__runtime_thread_check(l->pr->rt, "macula_listener_close") != 0)
        return;
    l->closing = 1;
    l->busy++;
    close_pending(l, 0, NULL);
    /* Entries may end (and leave the list) while we close them. */
    size_t n = 0;
    macula_peer *handles = malloc((l->n_entries ? l->n_entries : 1) * sizeof *handles);
    for (macula__peer_entry *e = l->entries; e && handles; e = e->l_next)
        handles[n++] = e->handle;
    for (size_t i = 0; i < n; i++) {
        macula__peer_entry *e = macula__peer_table_entry(&l->pr->table, handles[i]);
        if (e && e->linked)
            macula__peer_entry_close(e, "listener_closed");
    }
    free(handles);
    l->busy--;
    maybe_finalize(l);
}

/* --- bookkeeping for the shell and the supervisor --- */

void macula__listener_adopt(macula_listener *l, macula__peer_entry *e)
{
    e->listener = l;
    e->counted = 1;
    l->handshaking++;
    e->l_prev = NULL;
    e->l_next = l->entries;
    if (l->entries)
        l->entries->l_prev = e;
    l->entries = e;
    l->n_entries++;
}

macula_listener *macula__listener_take_pending(macula__peering *pr, macula_quic_conn *conn)
{
    for (macula_listener *l = pr->listeners; l; l = l->next) {
        for (pending_conn **pp = &l->pending; *pp; pp = &(*pp)->next) {
            pending_conn *p = *pp;
            if (p->conn == conn) {
                *pp = p->next;
                free(p);
                l->handshaking--; /* macula__listener_adopt counts it again */
                return l;
            }
        }
    }
    return NULL;
}

void macula__listener_entry_update(macula__peer_entry *e)
{
    macula_listener *l = e->listener;
    if (!e->counted)
        return;
    macula_peer_state s = macula__worker_state(e->w);
    if (s != MACULA_PEER_AWAITING_START && s != MACULA_PEER_HANDSHAKING) {
        e->counted = 0;
        l->handshaking--;
        /* Past CONNECT (or ending): no longer pending, never evicted. */
        if (e->conn)
            macula_quic_conn_admitted(e->conn);
    }
}

void macula__listener_entry_connected(macula__peer_entry *e, const uint8_t node_id[MACULA_NODE_ID_LEN])
{
    macula_listener *l = e->listener;
    macula__listener_entry_update(e);
    if (!l->close_duplicates)
        return;
    /* At most one other connected worker can share the id (each arrival
     * closes the previous one), but look until none is left anyway. */
    for (;;) {
        macula__peer_entry *old = NULL;
        for (macula__peer_entry *x = l->entries; x; x = x->l_next) {
            if (x == e || x->ended || macula__worker_state(x->w) != MACULA_PEER_CONNECTED)
                continue;
            macula_peer_info info;
            macula__worker_get_info(x->w, &info);
            if (info.has_node_id && memcmp(info.node_id, node_id, MACULA_NODE_ID_LEN) == 0) {
                old = x;
                break;
            }
        }
        if (!old)
            return;
        macula__peer_entry_close(old, "replaced");
    }
}

void macula__listener_entry_gone(macula__peer_entry *e)
{
    macula_listener *l = e->listener;
    if (e->counted) {
        e->counted = 0;
        l->handshaking--;
    }
    if (e->l_prev)
        e->l_prev->l_next = e->l_next;
    else
        l->entries = e->l_next;
    if (e->l_next)
        e->l_next->l_prev = e->l_prev;
    e->l_prev = e->l_next = NULL;
    e->listener = NULL;
    l->n_entries--;
    maybe_finalize(l);
}

void macula__listeners_shutdown(macula__peering *pr)
{
    macula_listener *next;
    for (macula_listener *l = pr->listeners; l; l = next) {
        next = l->next;
        l->closing = 1;
        close_pending(l, 0, NULL);
        maybe_finalize(l);
    }
}

void macula__listeners_free_now(macula__peering *pr)
{
    while (pr->listeners) {
        macula_listener *l = pr->listeners;
        pr->listeners = l->next;
        free_listener(l);
    }
}
