/* SPDX-License-Identifier: Apache-2.0 */
/* GnuTLS sessions for QUIC connections (ngtcp2_crypto_gnutls glue): TLS 1.3
 * only, ALPN required, the client's certificate check through
 * macula__tls_check_peer() with its reason kept for the CLOSED event. */
#include <arpa/inet.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <string.h>

#include "quic/quic_internal.h"
#include "quic/tls_cert.h"

static int verify_cb(gnutls_session_t session)
{
    ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(session);
    macula_quic_conn *c = ref->user_data;
    int rc = macula__tls_check_peer(session, c->verify, c->pin, c->server_name, c->peer_key, &c->have_peer_key,
                                    c->verify_why, sizeof c->verify_why);
    if (rc != 0) {
        c->verify_err = rc;
        return -1; /* GnuTLS aborts the handshake with a certificate alert */
    }
    if (c->verify == MACULA_QUIC_VERIFY_NONE)
        macula__runtime_diag(c->rt, "tls_unverified_peer", "host", c->host ? c->host : "", "why",
                             "verify mode none: the server certificate was not checked", NULL);
    return 0;
}

static int common_setup(macula_quic_conn *c, unsigned flags, gnutls_certificate_credentials_t cred,
                        const gnutls_datum_t *alpn, size_t n_alpn, unsigned alpn_flags)
{
    if (gnutls_init(&c->tls, flags | GNUTLS_NO_END_OF_EARLY_DATA | GNUTLS_NO_TICKETS) != GNUTLS_E_SUCCESS) {
        c->tls = NULL;
        return MACULA_ERR_TLS;
    }
    int server = (flags & GNUTLS_SERVER) != 0;
    if (gnutls_priority_set(c->tls, c->ep->priority) != GNUTLS_E_SUCCESS ||
        (server ? ngtcp2_crypto_gnutls_configure_server_session(c->tls)
                : ngtcp2_crypto_gnutls_configure_client_session(c->tls)) != 0 ||
        gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, cred) != GNUTLS_E_SUCCESS ||
        gnutls_alpn_set_protocols(c->tls, alpn, (unsigned)n_alpn, alpn_flags) != GNUTLS_E_SUCCESS)
        return MACULA_ERR_TLS;
    gnutls_session_set_ptr(c->tls, &c->conn_ref);
    return 0;
}

int macula__tls_session_server(macula_quic_conn *c)
{
    return common_setup(c, GNUTLS_SERVER, c->ep->server_cred, c->ep->alpn, c->ep->n_alpn,
                        GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE);
}

static int is_ip_literal(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int macula__tls_session_client(macula_quic_conn *c)
{
    gnutls_certificate_credentials_t cred;
    int rc;
    if (c->ca_file) {
        /* A CA file is this dial's own trust: not shared through the
         * endpoint, whose other dials may trust something else. */
        rc = macula__tls_client_credentials_ca(c->ca_file, &c->ca_cred, c->verify_why, sizeof c->verify_why);
        cred = c->ca_cred;
    } else {
        rc = macula__endpoint_client_cred(c->ep, c->verify == MACULA_QUIC_VERIFY_PKI, &cred);
    }
    if (rc != 0)
        return rc;
    gnutls_datum_t alpn[MACULA_QUIC_MAX_ALPN];
    for (size_t i = 0; i < c->n_alpn; i++) {
        alpn[i].data = (unsigned char *)c->alpn_list[i];
        alpn[i].size = (unsigned)strlen(c->alpn_list[i]);
    }
    /* One key share, for our first group (X25519), instead of GnuTLS's
     * default of one per key type (X25519 and P-256): the P-256 key pair was
     * generated on every dial and thrown away whenever the server picks
     * X25519 (~30 us). A server without X25519 still gets P-256 and P-384
     * offered and asks for them with a HelloRetryRequest (one round trip
     * more, for such servers only). */
    rc = common_setup(c, GNUTLS_CLIENT | GNUTLS_KEY_SHARE_TOP, cred, alpn, c->n_alpn, GNUTLS_ALPN_MANDATORY);
    if (rc != 0)
        return rc;
    gnutls_session_set_verify_function(c->tls, verify_cb);
    if (c->server_name && !is_ip_literal(c->server_name) &&
        gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, c->server_name, strlen(c->server_name)) != GNUTLS_E_SUCCESS)
        return MACULA_ERR_TLS;
    return 0;
}

void macula__tls_free_ca_cred(macula_quic_conn *c)
{
    /* Only once the session that uses them is gone. */
    if (c->ca_cred && !c->tls) {
        gnutls_certificate_free_credentials(c->ca_cred);
        c->ca_cred = NULL;
    }
}

void macula__tls_after_handshake(macula_quic_conn *c)
{
    gnutls_datum_t proto;
    if (gnutls_alpn_get_selected_protocol(c->tls, &proto) == GNUTLS_E_SUCCESS && proto.size > 0 &&
        proto.size < sizeof c->alpn) {
        memcpy(c->alpn, proto.data, proto.size);
        c->alpn[proto.size] = 0;
        c->have_alpn = 1;
    }
    c->tls_group = (int)gnutls_group_get(c->tls);
    /* Neither side's TLS session has work left once the handshake is
     * complete: the 1-RTT keys (and their key updates) live in ngtcp2, we
     * send no session tickets and resume none, and QUIC allows no
     * post-handshake TLS message but a server's NewSessionTicket (see
     * macula__tls_recv_crypto_data). Releasing it saves ~10 KB per idle
     * connection. */
    ngtcp2_conn_set_tls_native_handle(c->q, NULL);
    gnutls_deinit(c->tls);
    c->tls = NULL;
    macula__tls_free_ca_cred(c);
}

int macula__tls_recv_crypto_data(ngtcp2_conn *q, ngtcp2_crypto_level level, uint64_t offset, const uint8_t *data,
                                 size_t len, void *user)
{
    macula_quic_conn *c = user;
    if (!c->tls) {
        /* CRYPTO data after the session was released. A server may send
         * NewSessionTicket messages to a client at the 1-RTT level; we
         * resume no sessions, so they are dropped unread (ngtcp2 caps what
         * it buffers out of order). Anything else is what QUIC forbids (a
         * TLS KeyUpdate, post-handshake authentication: RFC 9001 sections
         * 4.4 and 6): unexpected_message. */
        if (!c->is_server && level == NGTCP2_CRYPTO_LEVEL_APPLICATION)
            return 0;
        ngtcp2_conn_set_tls_alert(q, 10);
        return NGTCP2_ERR_CRYPTO;
    }
    return ngtcp2_crypto_recv_crypto_data_cb(q, level, offset, data, len, user);
}
