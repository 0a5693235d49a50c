/* SPDX-License-Identifier: Apache-2.0 */
/* The handle table and the per-peer shared blocks (see peer_table.h). */
#include <stdlib.h>
#include <string.h>

#include "peering/handle.h"
#include "peering/peer_table.h"
#include "identity/identity_internal.h"

/* --- shared blocks --- */

macula__peer_shared *macula__peer_shared_new(const macula_identity *id, size_t send_queue_cap, int is_server,
                                             int *err)
{
    int rc = MACULA_ERR_NOMEM;
    macula__peer_shared *sh = calloc(1, sizeof *sh);
    if (!sh)
        goto fail;
    sh->identity = macula__identity_dup(id, &rc);
    if (!sh->identity)
        goto fail_sh;
    if (pthread_mutex_init(&sh->mu, NULL) != 0) {
        rc = MACULA_ERR_INTERNAL;
        goto fail_id;
    }
    atomic_init(&sh->refs, 1);
    atomic_init(&sh->reserved, 0);
    atomic_init(&sh->worker_bytes, 0);
    atomic_init(&sh->ended, 0);
    /* Our side's QUIC bidi numbering; 0 (the client's control stream) is
     * never handed out. */
    atomic_init(&sh->next_stream, is_server ? 1 : 4);
    sh->send_queue_cap = send_queue_cap;
    sh->info.struct_size = sizeof sh->info;
    sh->info.state = is_server ? MACULA_PEER_AWAITING_START : MACULA_PEER_CONNECTING;
    atomic_init(&sh->state, (int)sh->info.state);
    atomic_init(&sh->closing, 0);
    atomic_init(&sh->want_send_ready, 0);
    atomic_init(&sh->refused_len, 0);
    atomic_init(&sh->unsent_frames, 0);
    sh->info.is_server = is_server;
    return sh;

fail_id:
    macula_identity_free(sh->identity);
fail_sh:
    free(sh);
fail:
    if (err)
        *err = rc;
    return NULL;
}

void macula__peer_shared_unref(macula__peer_shared *sh)
{
    if (!sh || atomic_fetch_sub(&sh->refs, 1) != 1)
        return;
    if (sh->global) { /* what it still counts goes back */
        atomic_fetch_sub(&sh->global->used, atomic_load(&sh->reserved) + atomic_load(&sh->worker_bytes));
        macula__send_budget_unref(sh->global);
    }
    macula_identity_free(sh->identity);
    pthread_mutex_destroy(&sh->mu);
    free(sh->realms);
    free(sh);
}

macula__send_budget *macula__send_budget_new(size_t cap)
{
    macula__send_budget *b = calloc(1, sizeof *b);
    if (b) {
        atomic_init(&b->used, 0);
        atomic_init(&b->refs, 1);
        b->cap = cap;
    }
    return b;
}

void macula__send_budget_unref(macula__send_budget *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

void macula__peer_shared_set_worker_bytes(macula__peer_shared *sh, size_t n)
{
    size_t old = atomic_exchange(&sh->worker_bytes, n);
    if (sh->global && n >= old)
        atomic_fetch_add(&sh->global->used, n - old);
    else if (sh->global)
        atomic_fetch_sub(&sh->global->used, old - n);
}

int macula__peer_shared_reserve(macula__peer_shared *sh, size_t len)
{
    /* The runtime's budget first, the same way: reserve, then check. */
    if (sh->global) {
        size_t all = atomic_fetch_add(&sh->global->used, len) + len;
        if (sh->global->cap && (all < len || all > sh->global->cap)) {
            atomic_fetch_sub(&sh->global->used, len);
            return MACULA_ERR_QUEUE_FULL;
        }
    }
    /* Reserve first, then check: concurrent senders can never pass the
     * cap together. The worker's share only shrinks between publications
     * (it grows only by what we reserved), so the check is conservative. */
    size_t mine = atomic_fetch_add(&sh->reserved, len) + len;
    size_t worker = atomic_load(&sh->worker_bytes);
    if (mine < len || mine > sh->send_queue_cap || worker > sh->send_queue_cap - mine) {
        atomic_fetch_sub(&sh->reserved, len);
        if (sh->global)
            atomic_fetch_sub(&sh->global->used, len);
        return MACULA_ERR_QUEUE_FULL;
    }
    return 0;
}

void macula__peer_shared_unreserve(macula__peer_shared *sh, size_t len)
{
    atomic_fetch_sub(&sh->reserved, len);
    if (sh->global)
        atomic_fetch_sub(&sh->global->used, len);
}

int macula__peer_shared_send_allowed(macula__peer_shared *sh)
{
    int st = atomic_load(&sh->state);
    if (atomic_load(&sh->closing) || st == MACULA_PEER_DRAINING || st == MACULA_PEER_ENDED)
        return MACULA_ERR_STATE;
    if (st == MACULA_PEER_CONNECTED || sh->queue_until_connected)
        return 0;
    return MACULA_ERR_STATE;
}

size_t macula__peer_shared_snapshot(macula__peer_shared *sh, macula_peer_info *info, uint8_t *realms, size_t max)
{
    pthread_mutex_lock(&sh->mu);
    size_t n = sh->n_realms;
    if (info)
        *info = sh->info;
    if (n && max && realms)
        memcpy(realms, sh->realms, (n < max ? n : max) * MACULA_REALM_LEN);
    pthread_mutex_unlock(&sh->mu);
    return n;
}

void macula__peer_shared_publish(macula__peer_shared *sh, const macula__worker *w, const char *peer_addr)
{
    macula__peer_shared_set_worker_bytes(sh, macula__worker_queued_bytes(w));
    size_t n = 0;
    const uint8_t *realms = macula__worker_peer_realms(w, &n);
    /* Built outside the lock, which the getters share; this runs after
     * every worker step, so it stays short. */
    macula_peer_info info;
    macula__worker_get_info(w, &info);
    if (peer_addr) {
        size_t len = strnlen(peer_addr, sizeof info.peer_addr - 1);
        memcpy(info.peer_addr, peer_addr, len);
        info.peer_addr[len] = '\0';
    }
    atomic_store(&sh->state, (int)info.state);
    pthread_mutex_lock(&sh->mu);
    sh->info = info;
    /* The peer's realms are recorded once, with its handshake frame. */
    if (n && !sh->n_realms) {
        sh->realms = malloc(n * MACULA_REALM_LEN);
        if (sh->realms) {
            memcpy(sh->realms, realms, n * MACULA_REALM_LEN);
            sh->n_realms = n;
        }
    }
    pthread_mutex_unlock(&sh->mu);
}

/* --- the table --- */

int macula__peer_table_init(macula__peer_table *t)
{
    memset(t, 0, sizeof *t);
    t->next_serial = 1;
    return pthread_mutex_init(&t->mu, NULL) == 0 ? 0 : MACULA_ERR_INTERNAL;
}

void macula__peer_table_destroy(macula__peer_table *t)
{
    for (uint32_t i = 0; i < t->cap; i++)
        if (t->slots[i].serial)
            macula__peer_shared_unref(t->slots[i].sh);
    free(t->slots);
    t->slots = NULL;
    t->cap = 0;
    pthread_mutex_destroy(&t->mu);
}

static int grow(macula__peer_table *t)
{
    if (t->cap >= MACULA__PEER_MAX_SLOTS)
        return MACULA_ERR_LIMIT;
    uint64_t cap = t->cap ? (uint64_t)t->cap * 2 : 64;
    if (cap > MACULA__PEER_MAX_SLOTS)
        cap = MACULA__PEER_MAX_SLOTS;
    macula__peer_table_slot *s = realloc(t->slots, (size_t)cap * sizeof *s);
    if (!s)
        return MACULA_ERR_NOMEM;
    for (uint64_t i = t->cap; i < cap; i++) {
        s[i].serial = 0;
        s[i].sh = NULL;
        s[i].entry = NULL;
        s[i].next_free = (uint32_t)(i + 1);
    }
    t->slots = s;
    t->free_head = t->cap;
    t->cap = (uint32_t)cap;
    return 0;
}

int macula__peer_table_add(macula__peer_table *t, macula__peer_shared *sh, macula__peer_entry *entry,
                           macula_peer *out)
{
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    if (t->next_serial > MACULA__PEER_MAX_SERIAL) {
        rc = MACULA_ERR_LIMIT;
    } else if (t->free_head >= t->cap) {
        rc = grow(t);
    }
    if (rc == 0) {
        uint32_t i = t->free_head;
        macula__peer_table_slot *s = &t->slots[i];
        t->free_head = s->next_free;
        s->serial = t->next_serial++;
        s->sh = sh;
        s->entry = entry;
        atomic_fetch_add(&sh->refs, 1);
        t->live++;
        *out = macula__peer_handle(s->serial, i);
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* The slot of a live handle, or NULL. Under the lock. */
static macula__peer_table_slot *find(macula__peer_table *t, macula_peer p)
{
    uint32_t i = macula__peer_slot(p);
    uint64_t serial = macula_peer_serial(p);
    if (serial == 0 || i >= t->cap || t->slots[i].serial != serial)
        return NULL;
    return &t->slots[i];
}

macula__peer_shared *macula__peer_table_ref(macula__peer_table *t, macula_peer p)
{
    pthread_mutex_lock(&t->mu);
    macula__peer_table_slot *s = find(t, p);
    macula__peer_shared *sh = s ? s->sh : NULL;
    if (sh)
        atomic_fetch_add(&sh->refs, 1);
    pthread_mutex_unlock(&t->mu);
    return sh;
}

macula__peer_entry *macula__peer_table_entry(macula__peer_table *t, macula_peer p)
{
    pthread_mutex_lock(&t->mu);
    macula__peer_table_slot *s = find(t, p);
    macula__peer_entry *e = s ? s->entry : NULL;
    pthread_mutex_unlock(&t->mu);
    return e;
}

void macula__peer_table_remove(macula__peer_table *t, macula_peer p)
{
    macula__peer_shared *sh = NULL;
    pthread_mutex_lock(&t->mu);
    macula__peer_table_slot *s = find(t, p);
    if (s) {
        sh = s->sh;
        s->serial = 0;
        s->sh = NULL;
        s->entry = NULL;
        s->next_free = t->free_head;
        t->free_head = macula__peer_slot(p);
        t->live--;
    }
    pthread_mutex_unlock(&t->mu);
    macula__peer_shared_unref(sh);
}

macula_peer *macula__peer_table_handles(macula__peer_table *t, size_t *n)
{
    *n = 0;
    pthread_mutex_lock(&t->mu);
    macula_peer *out = t->live ? malloc(t->live * sizeof *out) : NULL;
    if (out) {
        for (uint32_t i = 0; i < t->cap; i++)
            if (t->slots[i].serial)
                out[(*n)++] = macula__peer_handle(t->slots[i].serial, i);
    }
    pthread_mutex_unlock(&t->mu);
    return out;
}
