/* SPDX-License-Identifier: Apache-2.0 */
/* Admission of pending server connections (see admission.h). */
#include "quic/admission.h"

#include <netinet/in.h>
#include <string.h>

#include "macula/common.h"
#include "macula/quic.h"

int macula__adm_init(macula__admission *a, size_t cap, size_t max_per_addr, int retry_mode)
{
    memset(a, 0, sizeof *a);
    a->cap = cap ? cap : 1;
    a->max_per_addr = max_per_addr ? max_per_addr : 1;
    a->retry_mode = retry_mode;
    return macula__cid_table_init(&a->per_addr);
}

void macula__adm_free(macula__admission *a)
{
    while (a->head)
        macula__adm_remove(a, a->head);
    macula__cid_table_free(&a->per_addr);
}

size_t macula__adm_key(const struct sockaddr *sa, uint8_t key[MACULA__ADM_KEY_MAX])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        key[0] = 4;
        memcpy(key + 1, &in->sin_addr, 4);
        return 5;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            key[0] = 4;
            memcpy(key + 1, in6->sin6_addr.s6_addr + 12, 4);
            return 5;
        }
        /* A host usually holds a whole /64. */
        key[0] = 6;
        memcpy(key + 1, in6->sin6_addr.s6_addr, 8);
        return 9;
    }
    key[0] = 0;
    return 1;
}

size_t macula__adm_addr_count(const macula__admission *a, const uint8_t *key, size_t keylen)
{
    return (size_t)(uintptr_t)macula__cid_table_get(&a->per_addr, key, keylen);
}

int macula__adm_add(macula__admission *a, macula__adm_node *node, const uint8_t *key, size_t keylen,
                    uint64_t now_ns)
{
    if (node->linked)
        return 0;
    size_t count = macula__adm_addr_count(a, key, keylen);
    int rc = macula__cid_table_put(&a->per_addr, key, keylen, (void *)(uintptr_t)(count + 1));
    if (rc != 0)
        return rc;
    memcpy(node->key, key, keylen);
    node->keylen = (uint8_t)keylen;
    node->since_ns = now_ns;
    node->next = NULL;
    node->prev = a->tail;
    if (a->tail)
        a->tail->next = node;
    else
        a->head = node;
    a->tail = node;
    node->linked = 1;
    a->n++;
    return 0;
}

void macula__adm_remove(macula__admission *a, macula__adm_node *node)
{
    if (!node->linked)
        return;
    if (node->prev)
        node->prev->next = node->next;
    else
        a->head = node->next;
    if (node->next)
        node->next->prev = node->prev;
    else
        a->tail = node->prev;
    node->prev = node->next = NULL;
    node->linked = 0;
    a->n--;
    size_t count = macula__adm_addr_count(a, node->key, node->keylen);
    if (count <= 1)
        macula__cid_table_del(&a->per_addr, node->key, node->keylen, NULL);
    else /* on NOMEM (the table may grow) the count stays one high: only stricter */
        (void)macula__cid_table_put(&a->per_addr, node->key, node->keylen, (void *)(uintptr_t)(count - 1));
}

int macula__adm_addr_full(const macula__admission *a, const uint8_t *key, size_t keylen)
{
    /* Only under pressure: a burst of honest dials from one host (a
     * gateway, a test) is fine while there is room. */
    return a->n > a->cap / 2 && macula__adm_addr_count(a, key, keylen) >= a->max_per_addr;
}

macula__adm_node *macula__adm_victim(const macula__admission *a) { return a->n >= a->cap ? a->head : NULL; }

int macula__adm_want_retry(const macula__admission *a)
{
    if (a->retry_mode == MACULA_QUIC_RETRY_ALWAYS)
        return 1;
    if (a->retry_mode == MACULA_QUIC_RETRY_NEVER)
        return 0;
    return a->n > a->cap / 2;
}
