/* SPDX-License-Identifier: Apache-2.0 */
/* Identity: derivation, key files, puzzle evidence, sign/verify. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macula/identity.h"
#include "testutil.h"

static char tmpdir[] = "/tmp/macula-test-identity-XXXXXX";

static void path_in_tmp(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

/* RFC 8032 §7.1 test 1: the empty message. */
static void test_rfc8032_vector(void)
{
    uint8_t *seed = tu_unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", NULL);
    uint8_t *pub = tu_unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", NULL);
    uint8_t *sig = tu_unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
                            NULL);
    int err = -1;
    macula_identity *id = macula_identity_from_seed(seed, &err);
    REQUIRE(id);
    CHECK_EQ_INT(err, MACULA_OK);
    CHECK_MEM(macula_identity_public_key(id), pub, 32);
    CHECK_MEM(macula_identity_node_id(id), pub, 32);
    CHECK_MEM(macula_identity_seed(id), seed, 32);
    uint8_t out[64];
    CHECK_EQ_INT(macula_identity_sign(id, (const uint8_t *)"", 0, out), 0);
    CHECK_MEM(out, sig, 64);
    CHECK_EQ_INT(macula_ed25519_verify(pub, (const uint8_t *)"", 0, sig), 0);
    sig[10] ^= 1;
    CHECK_EQ_INT(macula_ed25519_verify(pub, (const uint8_t *)"", 0, sig), MACULA_ERR_SIGNATURE_INVALID);
    macula_identity_free(id);
    free(seed);
    free(pub);
    free(sig);
}

static void test_keyfile_roundtrip(void)
{
    char path[256];
    path_in_tmp(path, sizeof path, "roundtrip.key");
    macula_identity *id = macula_identity_generate(NULL);
    REQUIRE(id);
    CHECK_EQ_INT(macula_identity_save(id, path), 0);
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    CHECK_EQ_INT(st.st_size, MACULA_KEYFILE_LEN);

    uint8_t bytes[MACULA_KEYFILE_LEN];
    macula_identity_to_keyfile_bytes(id, bytes);
    CHECK_MEM(bytes, "macula-v2-key\0", 14);
    CHECK_MEM(bytes + 14, macula_identity_public_key(id), 32);
    CHECK_MEM(bytes + 46, macula_identity_seed(id), 32);

    int err = -1;
    macula_identity *back = macula_identity_load(path, &err);
    REQUIRE(back);
    CHECK_MEM(macula_identity_public_key(back), macula_identity_public_key(id), 32);
    CHECK_MEM(macula_identity_seed(back), macula_identity_seed(id), 32);
    macula_identity_free(back);

    /* Overwrite atomically: a second save replaces the file, leaving no temp. */
    macula_identity *other = macula_identity_generate(NULL);
    REQUIRE(other);
    CHECK_EQ_INT(macula_identity_save(other, path), 0);
    back = macula_identity_load(path, NULL);
    REQUIRE(back);
    CHECK_MEM(macula_identity_public_key(back), macula_identity_public_key(other), 32);
    macula_identity_free(back);
    macula_identity_free(other);
    macula_identity_free(id);
    unlink(path);
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, p, n) != (ssize_t)n)
        exit(2);
    close(fd);
}

static void test_keyfile_errors(void)
{
    char path[256];
    int err = 0;
    path_in_tmp(path, sizeof path, "missing.key");
    CHECK(macula_identity_load(path, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_KEYFILE_MISSING);

    macula_identity *id = macula_identity_generate(NULL);
    REQUIRE(id);
    uint8_t bytes[MACULA_KEYFILE_LEN + 1];
    macula_identity_to_keyfile_bytes(id, bytes);

    path_in_tmp(path, sizeof path, "short.key");
    write_file(path, bytes, 77);
    CHECK(macula_identity_load(path, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_KEYFILE_SIZE);

    path_in_tmp(path, sizeof path, "long.key");
    bytes[78] = 0;
    write_file(path, bytes, 79);
    CHECK(macula_identity_load(path, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_KEYFILE_SIZE);

    path_in_tmp(path, sizeof path, "empty.key");
    write_file(path, bytes, 0);
    CHECK(macula_identity_load(path, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_KEYFILE_SIZE);

    path_in_tmp(path, sizeof path, "magic.key");
    bytes[0] = 'M';
    write_file(path, bytes, 78);
    CHECK(macula_identity_load(path, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_KEYFILE_MAGIC);
    bytes[0] = 'm';

    path_in_tmp(path, sizeof path, "mismatch.key");
    bytes[20] ^= 0x40;
    write_file(path, bytes, 78);
    CHECK(macula_identity_load(path, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_KEYFILE_MISMATCH);

    CHECK(macula_identity_load(tmpdir, &err) == NULL); /* a directory */
    CHECK(err == MACULA_ERR_KEYFILE_SIZE || err == MACULA_ERR_IO);

    CHECK_EQ_INT(macula_identity_save(id, "/nonexistent-dir/x.key"), MACULA_ERR_IO);
    CHECK(strcmp(macula_err_name(MACULA_ERR_KEYFILE_MAGIC), "keyfile_bad_magic") == 0);
    macula_identity_free(id);
}

static void test_puzzle(void)
{
    uint8_t ev[32] = {0};
    CHECK(macula_puzzle_valid(ev, 0));
    CHECK(macula_puzzle_valid(ev, 256));
    ev[0] = 0x01;
    CHECK(macula_puzzle_valid(ev, 7));
    CHECK(!macula_puzzle_valid(ev, 8));
    ev[0] = 0;
    ev[1] = 0x80;
    CHECK(macula_puzzle_valid(ev, 8));
    CHECK(!macula_puzzle_valid(ev, 9));
    CHECK(!macula_puzzle_valid(ev, 257));

    int err = -1;
    macula_identity *id = macula_identity_generate_puzzle(10, &err);
    REQUIRE(id);
    uint8_t evidence[32], direct[32];
    macula_identity_puzzle_evidence(id, evidence);
    macula_puzzle_evidence_of(macula_identity_public_key(id), direct);
    CHECK_MEM(evidence, direct, 32);
    CHECK(macula_puzzle_valid(evidence, 10));
    macula_identity_free(id);
    CHECK(macula_identity_generate_puzzle(33, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_INVALID_ARG);
}

static void test_sign_verify_random(void)
{
    macula_identity *a = macula_identity_generate(NULL), *b = macula_identity_generate(NULL);
    REQUIRE(a && b);
    uint8_t msg[300];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7);
    uint8_t sig[64];
    CHECK_EQ_INT(macula_identity_sign(a, msg, sizeof msg, sig), 0);
    CHECK_EQ_INT(macula_ed25519_verify(macula_identity_public_key(a), msg, sizeof msg, sig), 0);
    CHECK_EQ_INT(macula_ed25519_verify(macula_identity_public_key(b), msg, sizeof msg, sig),
                 MACULA_ERR_SIGNATURE_INVALID);
    msg[299] ^= 1;
    CHECK_EQ_INT(macula_ed25519_verify(macula_identity_public_key(a), msg, sizeof msg, sig),
                 MACULA_ERR_SIGNATURE_INVALID);
    CHECK_EQ_INT(macula_identity_sign(NULL, msg, 1, sig), MACULA_ERR_INVALID_ARG);
    macula_identity_free(a);
    macula_identity_free(b);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_rfc8032_vector);
    RUN(test_keyfile_roundtrip);
    RUN(test_keyfile_errors);
    RUN(test_puzzle);
    RUN(test_sign_verify_random);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    return tu_summary();
}
