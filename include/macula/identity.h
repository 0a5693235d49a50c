/* SPDX-License-Identifier: Apache-2.0 */
/*
 * macula-c: node identity (PROTOCOL.md §1).
 *
 * An identity is an Ed25519 key pair; the 32-byte public key is the node
 * id. The secret part is the 32-byte seed, as the reference stores it.
 *
 * Ownership: `macula_identity` is an opaque, immutable value. Whoever
 * receives one from a constructor owns it and frees it with
 * `macula_identity_free()`. Other functions only borrow it.
 * Thread-safety: an identity is immutable after creation, so it may be
 * used from any number of threads at once (sign/verify included).
 * Secret bytes are wiped from memory when the identity is freed.
 */
#ifndef MACULA_IDENTITY_H
#define MACULA_IDENTITY_H

#include "macula/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MACULA_SEED_LEN 32
#define MACULA_PUBKEY_LEN 32
#define MACULA_NODE_ID_LEN 32
#define MACULA_SIGNATURE_LEN 64
#define MACULA_PUZZLE_EVIDENCE_LEN 32
#define MACULA_KEYFILE_LEN 78
#define MACULA_DEFAULT_PUZZLE_DIFFICULTY 8

typedef struct macula_identity macula_identity;

/* Initialise the crypto library. Idempotent and thread-safe; every other
 * call does it implicitly, so calling it is optional. */
MACULA_API int macula_crypto_init(void);

/* A fresh random identity. */
MACULA_API macula_identity *macula_identity_generate(int *err);
/* The identity derived from a 32-byte seed (deterministic). */
MACULA_API macula_identity *macula_identity_from_seed(const uint8_t seed[MACULA_SEED_LEN], int *err);
/* Generate keys until SHA-256(pubkey) starts with `difficulty` zero bits
 * (0..32 accepted; each extra bit doubles the expected work). */
MACULA_API macula_identity *macula_identity_generate_puzzle(unsigned difficulty, int *err);
MACULA_API void macula_identity_free(macula_identity *id);

/* Key file (78 bytes: "macula-v2-key\0" ++ pubkey ++ seed).
 * load: MACULA_ERR_KEYFILE_MISSING / _SIZE / _MAGIC / _MISMATCH / MACULA_ERR_IO.
 * save: written to a temporary file in the same directory, fsync'd, given
 * mode 0600 and renamed over `path`, so readers never see a partial file. */
MACULA_API macula_identity *macula_identity_load(const char *path, int *err);
MACULA_API int macula_identity_save(const macula_identity *id, const char *path);
/* The exact 78 key-file bytes, for callers that store keys elsewhere. */
MACULA_API void macula_identity_to_keyfile_bytes(const macula_identity *id, uint8_t out[MACULA_KEYFILE_LEN]);
MACULA_API macula_identity *macula_identity_from_keyfile_bytes(const uint8_t *bytes, size_t len, int *err);

/* Borrowed pointers valid while `id` lives. */
MACULA_API const uint8_t *macula_identity_public_key(const macula_identity *id); /* == node id */
MACULA_API const uint8_t *macula_identity_node_id(const macula_identity *id);
MACULA_API const uint8_t *macula_identity_seed(const macula_identity *id);

/* SHA-256 of the public key. */
MACULA_API void macula_identity_puzzle_evidence(const macula_identity *id, uint8_t out[MACULA_PUZZLE_EVIDENCE_LEN]);
MACULA_API void macula_puzzle_evidence_of(const uint8_t pubkey[MACULA_PUBKEY_LEN], uint8_t out[MACULA_PUZZLE_EVIDENCE_LEN]);
/* 1 when `evidence` starts with `difficulty` zero bits, else 0. */
MACULA_API int macula_puzzle_valid(const uint8_t evidence[MACULA_PUZZLE_EVIDENCE_LEN], unsigned difficulty);

/* Pure Ed25519 (RFC 8032) over `msg`. */
MACULA_API int macula_identity_sign(const macula_identity *id, const uint8_t *msg, size_t len,
                                    uint8_t sig[MACULA_SIGNATURE_LEN]);
/* 0 when valid, MACULA_ERR_SIGNATURE_INVALID otherwise. */
MACULA_API int macula_ed25519_verify(const uint8_t pubkey[MACULA_PUBKEY_LEN], const uint8_t *msg, size_t len,
                                     const uint8_t sig[MACULA_SIGNATURE_LEN]);

#ifdef __cplusplus
}
#endif
#endif /* MACULA_IDENTITY_H */
