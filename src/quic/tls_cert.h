/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: TLS material for the QUIC layer (GnuTLS). Certificates over a
 * node's Ed25519 identity, credentials for servers and clients, and the
 * client's check of the server certificate (none / pin / PKI).
 * The QUIC session glue (ngtcp2_crypto_gnutls) lives in the transport; it
 * calls macula__tls_check_peer() from its certificate verify callback.
 */
#ifndef MACULA_QUIC_TLS_CERT_H
#define MACULA_QUIC_TLS_CERT_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "macula/identity.h"
#include "macula/quic.h"

/* Self-signed X.509 v3 over the identity's Ed25519 key: subject and issuer
 * CN "Macula Identity", SANs (each an IP address when it parses as one,
 * otherwise a DNS name), validity from one hour ago for ~10 years, a
 * random positive serial. The caller owns both outputs. */
int macula__cert_self_signed(const macula_identity *id, const char *const *sans, size_t n_sans,
                             gnutls_x509_crt_t *crt, gnutls_privkey_t *key);

/* Server credentials: self-signed over `id`, or from PEM files when
 * cert_file and key_file are set. On failure a readable reason goes into
 * `why` (may be NULL). The caller owns *out. */
int macula__tls_server_credentials(const macula_identity *id, const char *const *sans, size_t n_sans,
                                   const char *cert_file, const char *key_file,
                                   gnutls_certificate_credentials_t *out, char *why, size_t why_len);

/* Client credentials; with `system_trust` the system CA store is loaded. */
int macula__tls_client_credentials(int system_trust, gnutls_certificate_credentials_t *out);
/* Client credentials trusting the CA certificates of a PEM file (at most
 * 1 MiB, at least one certificate) instead of the system store. On failure
 * a readable reason goes into `why`. The caller owns *out. */
int macula__tls_client_credentials_ca(const char *ca_file, gnutls_certificate_credentials_t *out, char *why,
                                      size_t why_len);

/* The Ed25519 public key of a DER certificate's SubjectPublicKeyInfo.
 * MACULA_ERR_PIN_MISMATCH when the key is not Ed25519,
 * MACULA_ERR_TLS when the certificate does not parse. Keys read from the
 * last 8 certificates (by exact DER bytes) are kept and not parsed again. */
int macula__cert_ed25519_key(const gnutls_datum_t *der, uint8_t out[MACULA_PUBKEY_LEN]);

/* Checks the server certificate of a client session during the handshake.
 * NONE: always accepts. PIN: the leaf's SubjectPublicKeyInfo must be the
 * Ed25519 key `pin` (MACULA_ERR_PIN_MISMATCH otherwise). PKI: chain
 * against the session credentials' trust (the system store or a CA file)
 * and host name `server_name`
 * (MACULA_ERR_TLS otherwise). When the leaf has an Ed25519 key it is
 * copied to `peer_key` and *have_peer_key set. `why` receives a readable
 * reason on failure ("server key 3f2a... is not the pinned key 98d3...").
 * Returns 0 or the error. */
int macula__tls_check_peer(gnutls_session_t session, macula_quic_verify mode, const uint8_t *pin,
                           const char *server_name, uint8_t peer_key[MACULA_PUBKEY_LEN], int *have_peer_key,
                           char *why, size_t why_len);

/* Formats a reason into `why` (when non-NULL and why_len > 0); shared by
 * the TLS files so that every failure carries readable text. */
void macula__tls_why(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
