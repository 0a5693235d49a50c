/* SPDX-License-Identifier: Apache-2.0 */
/* Ed25519 identity on libsodium: chosen after measuring it against
 * OpenSSL 3.0 on this machine class (sign ~13 us vs ~23 us, verify ~36 us
 * vs ~61 us); see BENCHMARKS.md. */
#include "macula/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identity/identity_internal.h"

static const uint8_t keyfile_magic[14] = "macula-v2-key"; /* 13 chars + NUL */

struct macula_identity {
    uint8_t seed[MACULA_SEED_LEN];
    uint8_t pubkey[MACULA_PUBKEY_LEN];
    uint8_t secret_key[crypto_sign_SECRETKEYBYTES]; /* libsodium form: seed ++ pubkey */
};

int macula_crypto_init(void)
{
    /* sodium_init is thread-safe and returns 1 when already initialised. */
    return sodium_init() < 0 ? MACULA_ERR_CRYPTO : MACULA_OK;
}

static void set_err(int *err, int code)
{
    if (err)
        *err = code;
}

macula_identity *macula_identity_from_seed(const uint8_t seed[MACULA_SEED_LEN], int *err)
{
    if (!seed) {
        set_err(err, MACULA_ERR_INVALID_ARG);
        return NULL;
    }
    if (macula_crypto_init() != 0) {
        set_err(err, MACULA_ERR_CRYPTO);
        return NULL;
    }
    macula_identity *id = calloc(1, sizeof *id);
    if (!id) {
        set_err(err, MACULA_ERR_NOMEM);
        return NULL;
    }
    memcpy(id->seed, seed, MACULA_SEED_LEN);
    if (crypto_sign_seed_keypair(id->pubkey, id->secret_key, id->seed) != 0) {
        macula_identity_free(id);
        set_err(err, MACULA_ERR_CRYPTO);
        return NULL;
    }
    set_err(err, MACULA_OK);
    return id;
}

macula_identity *macula__identity_dup(const macula_identity *id, int *err)
{
    if (!id) {
        set_err(err, MACULA_ERR_INVALID_ARG);
        return NULL;
    }
    macula_identity *copy = malloc(sizeof *copy);
    if (!copy) {
        set_err(err, MACULA_ERR_NOMEM);
        return NULL;
    }
    memcpy(copy, id, sizeof *copy);
    set_err(err, MACULA_OK);
    return copy;
}

macula_identity *macula_identity_generate(int *err)
{
    if (macula_crypto_init() != 0) {
        set_err(err, MACULA_ERR_CRYPTO);
        return NULL;
    }
    uint8_t seed[MACULA_SEED_LEN];
    randombytes_buf(seed, sizeof seed);
    macula_identity *id = macula_identity_from_seed(seed, err);
    sodium_memzero(seed, sizeof seed);
    return id;
}

macula_identity *macula_identity_generate_puzzle(unsigned difficulty, int *err)
{
    if (difficulty > 32) {
        set_err(err, MACULA_ERR_INVALID_ARG);
        return NULL;
    }
    for (;;) {
        macula_identity *id = macula_identity_generate(err);
        if (!id)
            return NULL;
        uint8_t evidence[MACULA_PUZZLE_EVIDENCE_LEN];
        macula_identity_puzzle_evidence(id, evidence);
        if (macula_puzzle_valid(evidence, difficulty))
            return id;
        macula_identity_free(id);
    }
}

void macula_identity_free(macula_identity *id)
{
    if (!id)
        return;
    sodium_memzero(id, sizeof *id);
    free(id);
}

const uint8_t *macula_identity_public_key(const macula_identity *id) { return id->pubkey; }
const uint8_t *macula_identity_node_id(const macula_identity *id) { return id->pubkey; }
const uint8_t *macula_identity_seed(const macula_identity *id) { return id->seed; }

void macula_puzzle_evidence_of(const uint8_t pubkey[MACULA_PUBKEY_LEN], uint8_t out[MACULA_PUZZLE_EVIDENCE_LEN])
{
    crypto_hash_sha256(out, pubkey, MACULA_PUBKEY_LEN);
}

void macula_identity_puzzle_evidence(const macula_identity *id, uint8_t out[MACULA_PUZZLE_EVIDENCE_LEN])
{
    macula_puzzle_evidence_of(id->pubkey, out);
}

int macula_puzzle_valid(const uint8_t evidence[MACULA_PUZZLE_EVIDENCE_LEN], unsigned difficulty)
{
    if (difficulty > 8 * MACULA_PUZZLE_EVIDENCE_LEN)
        return 0;
    unsigned full = difficulty / 8, bits = difficulty % 8;
    for (unsigned i = 0; i < full; i++)
        if (evidence[i] != 0)
            return 0;
    if (bits && (evidence[full] >> (8 - bits)) != 0)
        return 0;
    return 1;
}

int macula_identity_sign(const macula_identity *id, const uint8_t *msg, size_t len, uint8_t sig[MACULA_SIGNATURE_LEN])
{
    if (!id || (!msg && len) || !sig)
        return MACULA_ERR_INVALID_ARG;
    if (crypto_sign_detached(sig, NULL, msg, len, id->secret_key) != 0)
        return MACULA_ERR_CRYPTO;
    return MACULA_OK;
}

int macula_ed25519_verify(const uint8_t pubkey[MACULA_PUBKEY_LEN], const uint8_t *msg, size_t len,
                          const uint8_t sig[MACULA_SIGNATURE_LEN])
{
    if (!pubkey || (!msg && len) || !sig)
        return MACULA_ERR_INVALID_ARG;
    if (macula_crypto_init() != 0)
        return MACULA_ERR_CRYPTO;
    return crypto_sign_verify_detached(sig, msg, len, pubkey) == 0 ? MACULA_OK : MACULA_ERR_SIGNATURE_INVALID;
}

void macula_identity_to_keyfile_bytes(const macula_identity *id, uint8_t out[MACULA_KEYFILE_LEN])
{
    memcpy(out, keyfile_magic, sizeof keyfile_magic);
    memcpy(out + 14, id->pubkey, MACULA_PUBKEY_LEN);
    memcpy(out + 14 + MACULA_PUBKEY_LEN, id->seed, MACULA_SEED_LEN);
}

macula_identity *macula_identity_from_keyfile_bytes(const uint8_t *bytes, size_t len, int *err)
{
    if (!bytes) {
        set_err(err, MACULA_ERR_INVALID_ARG);
        return NULL;
    }
    if (len != MACULA_KEYFILE_LEN) {
        set_err(err, MACULA_ERR_KEYFILE_SIZE);
        return NULL;
    }
    if (memcmp(bytes, keyfile_magic, sizeof keyfile_magic) != 0) {
        set_err(err, MACULA_ERR_KEYFILE_MAGIC);
        return NULL;
    }
    macula_identity *id = macula_identity_from_seed(bytes + 14 + MACULA_PUBKEY_LEN, err);
    if (!id)
        return NULL;
    /* A file whose stored public key is not the seed's would make us sign
     * as one node while claiming to be another. */
    if (sodium_memcmp(id->pubkey, bytes + 14, MACULA_PUBKEY_LEN) != 0) {
        macula_identity_free(id);
        set_err(err, MACULA_ERR_KEYFILE_MISMATCH);
        return NULL;
    }
    return id;
}

macula_identity *macula_identity_load(const char *path, int *err)
{
    if (!path) {
        set_err(err, MACULA_ERR_INVALID_ARG);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errno == ENOENT ? MACULA_ERR_KEYFILE_MISSING : MACULA_ERR_IO);
        return NULL;
    }
    /* Read one byte more than a key file holds, so that an oversized file
     * is reported as the wrong size rather than silently truncated. */
    uint8_t buf[MACULA_KEYFILE_LEN + 1];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            sodium_memzero(buf, sizeof buf);
            set_err(err, errno == EISDIR ? MACULA_ERR_KEYFILE_SIZE : MACULA_ERR_IO);
            return NULL;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    macula_identity *id = macula_identity_from_keyfile_bytes(buf, got, err);
    sodium_memzero(buf, sizeof buf);
    return id;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int macula_identity_save(const macula_identity *id, const char *path)
{
    if (!id || !path || !*path)
        return MACULA_ERR_INVALID_ARG;
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return MACULA_ERR_INVALID_ARG;
    int fd = mkstemp(tmp); /* created with mode 0600 */
    if (fd < 0)
        return MACULA_ERR_IO;
    uint8_t bytes[MACULA_KEYFILE_LEN];
    macula_identity_to_keyfile_bytes(id, bytes);
    int rc = MACULA_OK;
    if (fchmod(fd, 0600) != 0 || write_all(fd, bytes, sizeof bytes) != 0 || fsync(fd) != 0)
        rc = MACULA_ERR_IO;
    sodium_memzero(bytes, sizeof bytes);
    if (close(fd) != 0 && rc == MACULA_OK)
        rc = MACULA_ERR_IO;
    if (rc == MACULA_OK && rename(tmp, path) != 0)
        rc = MACULA_ERR_IO;
    if (rc != MACULA_OK) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
    }
    return rc;
}
