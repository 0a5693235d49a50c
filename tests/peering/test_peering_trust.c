/* SPDX-License-Identifier: Apache-2.0 */
/* Trust when dialing (PROTOCOL.md §6.4) and relay stations (§6.5) over
 * real QUIC. The test makes its own PKI with GnuTLS: a root CA, an
 * intermediate CA, and an ECDSA leaf for 127.0.0.1 / localhost issued by
 * the intermediate. A listener whose node is bob serves that chain (leaf +
 * intermediate; the TLS key is not bob's) as a station. Dials:
 * PKI + CA file (+ HELLO check; the same leaf served without its
 * intermediate fails), the host name checked (wrong one fails),
 * the system store (fails), another CA (fails), an unreadable CA file, a
 * pin that cannot match (pin_mismatch), the HELLO check failing under PKI
 * and under no verification (peer_identity_mismatch), the option checks;
 * and the station's answer to a "_macula.ping" CALL, signed by bob. */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sys/stat.h>

#include "peering_test_util.h"

static macula_identity *alice, *bob, *mallory;
static char dir[] = "/tmp/macula-test-trust-XXXXXX";
static char ca_pem[256], other_ca_pem[256], chain_pem[256], leaf_only_pem[256], leaf_key_pem[256];

/* --- the test's PKI --- */

typedef struct tcert {
    gnutls_x509_crt_t crt;
    gnutls_x509_privkey_t key;
} tcert;

/* An ECDSA P-256 certificate. issuer NULL: a self-signed root CA. is_ca:
 * a CA (an intermediate when issued). Otherwise a TLS server leaf for
 * IP 127.0.0.1 and DNS localhost. */
static int make_cert(tcert *out, const tcert *issuer, int is_ca, const char *cn, unsigned char serial)
{
    memset(out, 0, sizeof *out);
    if (gnutls_x509_privkey_init(&out->key) < 0 ||
        gnutls_x509_privkey_generate(out->key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                                     0) < 0 ||
        gnutls_x509_crt_init(&out->crt) < 0)
        return -1;
    gnutls_x509_crt_t c = out->crt;
    unsigned char ser[] = {0x40, serial};
    unsigned char kid[64];
    size_t kid_len = sizeof kid;
    time_t now = time(NULL);
    if (gnutls_x509_crt_set_version(c, 3) < 0 || gnutls_x509_crt_set_serial(c, ser, sizeof ser) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, cn, (unsigned)strlen(cn)) < 0 ||
        gnutls_x509_crt_set_activation_time(c, now - 3600) < 0 ||
        gnutls_x509_crt_set_expiration_time(c, now + 86400) < 0 || gnutls_x509_crt_set_key(c, out->key) < 0 ||
        gnutls_x509_crt_get_key_id(c, GNUTLS_KEYID_USE_SHA1, kid, &kid_len) < 0 ||
        gnutls_x509_crt_set_subject_key_id(c, kid, kid_len) < 0)
        return -1;
    if (is_ca) {
        if (gnutls_x509_crt_set_basic_constraints(c, 1, issuer ? 0 : -1) < 0 ||
            gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN) < 0)
            return -1;
    } else {
        static const unsigned char ip[4] = {127, 0, 0, 1};
        if (gnutls_x509_crt_set_basic_constraints(c, 0, -1) < 0 ||
            gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
            gnutls_x509_crt_set_key_purpose_oid(c, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0 ||
            gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_IPADDRESS, ip, sizeof ip, GNUTLS_FSAN_APPEND) < 0 ||
            gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_DNSNAME, "localhost", 9, GNUTLS_FSAN_APPEND) < 0)
            return -1;
    }
    if (issuer) {
        unsigned char akid[64];
        size_t akid_len = sizeof akid;
        unsigned critical = 0;
        if (gnutls_x509_crt_get_subject_key_id(issuer->crt, akid, &akid_len, &critical) < 0 ||
            gnutls_x509_crt_set_authority_key_id(c, akid, akid_len) < 0 ||
            gnutls_x509_crt_sign2(c, issuer->crt, issuer->key, GNUTLS_DIG_SHA256, 0) < 0)
            return -1;
    } else if (gnutls_x509_crt_sign2(c, c, out->key, GNUTLS_DIG_SHA256, 0) < 0) {
        return -1;
    }
    return 0;
}

static void free_cert(tcert *t)
{
    if (t->crt)
        gnutls_x509_crt_deinit(t->crt);
    if (t->key)
        gnutls_x509_privkey_deinit(t->key);
}

/* Appends the PEM of `crt` (or of `key` when crt is NULL) to `path`. */
static int append_pem(const char *path, gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
    gnutls_datum_t d = {NULL, 0};
    int rc = crt ? gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d)
                 : gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d);
    if (rc < 0)
        return -1;
    FILE *f = fopen(path, "ab");
    int ok = f && fwrite(d.data, 1, d.size, f) == d.size;
    if (f && fclose(f) != 0)
        ok = 0;
    gnutls_free(d.data);
    return ok ? 0 : -1;
}

static int make_pki(void)
{
    if (!mkdtemp(dir))
        return -1;
    snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", dir);
    snprintf(other_ca_pem, sizeof other_ca_pem, "%s/other-ca.pem", dir);
    snprintf(chain_pem, sizeof chain_pem, "%s/chain.pem", dir);
    snprintf(leaf_key_pem, sizeof leaf_key_pem, "%s/leaf-key.pem", dir);
    snprintf(leaf_only_pem, sizeof leaf_only_pem, "%s/leaf-only.pem", dir);
    tcert root, inter, leaf, other;
    int rc = make_cert(&root, NULL, 1, "macula test root CA", 1) || make_cert(&inter, &root, 1, "macula test intermediate", 2) ||
             make_cert(&leaf, &inter, 0, "macula test station", 3) || make_cert(&other, NULL, 1, "unrelated CA", 4) ||
             append_pem(ca_pem, root.crt, NULL) || append_pem(other_ca_pem, other.crt, NULL) ||
             append_pem(chain_pem, leaf.crt, NULL) || append_pem(chain_pem, inter.crt, NULL) ||
             append_pem(leaf_only_pem, leaf.crt, NULL) ||
             append_pem(leaf_key_pem, NULL, leaf.key);
    free_cert(&root);
    free_cert(&inter);
    free_cert(&leaf);
    free_cert(&other);
    return rc ? -1 : 0;
}

static void remove_pki(void)
{
    unlink(ca_pem);
    unlink(other_ca_pem);
    unlink(chain_pem);
    unlink(leaf_key_pem);
    unlink(leaf_only_pem);
    rmdir(dir);
}

/* --- the case: one runtime, bob's station listener serving the chain --- */

typedef struct tcase {
    macula_runtime *rt;
    pt_diags diags;
    pt_recorder srv, cli;
    macula_listener *l;
    uint16_t port;
} tcase;

static int tc_up(tcase *c)
{
    memset(c, 0, sizeof *c);
    c->rt = pt_case_begin(&c->diags, 0, &c->srv, &c->cli, NULL);
    if (!c->rt)
        return -1;
    macula_peer_options so;
    pt_server_options(&so, &c->srv);
    so.drain_timeout_ms = 200;
    so.station = 1;
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    lo.identity = bob; /* signs HELLO; the TLS key is the leaf's */
    lo.cert_pem_file = chain_pem;
    lo.key_pem_file = leaf_key_pem;
    lo.auto_accept = &so;
    c->l = pt_listen(c->rt, &lo);
    c->port = c->l ? macula_listener_port(c->l) : 0;
    return c->l ? 0 : -1;
}

static void tc_down(tcase *c)
{
    macula_runtime_free(c->rt);
    pt_case_end(&c->diags, &c->srv, &c->cli, NULL);
}

/* Client options for alice towards the station. */
static void client(tcase *c, macula_peer_options *o, macula_quic_verify verify, const char *ca,
                   const macula_identity *expect, int hello_only)
{
    pt_client_options(o, alice, &c->cli, c->port);
    o->verify = verify;
    o->ca_file = ca;
    o->expected_node_id = expect ? macula_identity_node_id(expect) : NULL;
    o->hello_only = hello_only;
    o->drain_timeout_ms = 200;
    o->connect_timeout_ms = 5000;
}

/* Connects, expects CONNECTED with bob's node id, closes. */
static void expect_connected(tcase *c, const macula_peer_options *o, const char *what)
{
    macula_peer p = pt_connect(c->rt, o);
    REQUIRE(p);
    int ok = pt_wait(&c->cli, p, MACULA_EVENT_CONNECTED, 1, 10000);
    pt_event e;
    CHECK(ok && pt_last(&c->cli, p, MACULA_EVENT_CONNECTED, &e) && e.has_node_id &&
          memcmp(e.node_id, macula_identity_node_id(bob), MACULA_NODE_ID_LEN) == 0);
    if (!ok) {
        if (pt_last(&c->cli, p, MACULA_EVENT_DISCONNECTED, &e))
            fprintf(stderr, "  %s: %s (%s)\n", what, macula_disconnect_reason_name(e.reason), e.detail);
        return;
    }
    /* the station bit the listener's options set */
    macula_peer_info info;
    macula_peer_info_init(&info);
    CHECK(macula_peer_get_info(c->rt, p, &info) == 0 && (info.capabilities & MACULA_CAP_RELAY_STATION));
    macula_peer_close(c->rt, p, NULL);
    CHECK(pt_disconnected_with(&c->cli, p, MACULA_DISC_DRAINED, 10000, NULL));
}

/* Connects, expects DISCONNECTED(reason) before any CONNECTED, with
 * `needle` in the detail. */
static void expect_failure(tcase *c, const macula_peer_options *o, macula_disconnect_reason reason,
                           const char *needle, const char *what)
{
    macula_peer p = pt_connect(c->rt, o);
    REQUIRE(p);
    pt_event e;
    int ok = pt_disconnected_with(&c->cli, p, reason, 15000, &e);
    CHECK(ok);
    CHECK_EQ_INT(pt_count(&c->cli, p, MACULA_EVENT_CONNECTED), 0);
    if (needle && !strstr(e.detail, needle)) {
        fprintf(stderr, "  %s: detail \"%s\" lacks \"%s\"\n", what, e.detail, needle);
        CHECK(0);
    }
}

static void test_pki_with_ca_file(void)
{
    tcase c;
    REQUIRE(tc_up(&c) == 0);
    macula_peer_options o;
    /* the chain checked against the CA file and the IP address dialed;
     * the HELLO must be bob's */
    client(&c, &o, MACULA_QUIC_VERIFY_PKI, ca_pem, bob, 1);
    expect_connected(&c, &o, "pki + ca + hello");
    /* the host name checked is server_name when given */
    client(&c, &o, MACULA_QUIC_VERIFY_PKI, ca_pem, NULL, 0);
    o.server_name = "localhost";
    expect_connected(&c, &o, "pki + ca, server_name localhost");
    /* the server name is a host name to check, not decoration */
    client(&c, &o, MACULA_QUIC_VERIFY_PKI, ca_pem, NULL, 0);
    o.server_name = "wrong.example";
    expect_failure(&c, &o, MACULA_DISC_CONNECT_FAILED, "server certificate rejected", "wrong host name");
    /* the test CA is in no system store */
    client(&c, &o, MACULA_QUIC_VERIFY_PKI, NULL, bob, 1);
    expect_failure(&c, &o, MACULA_DISC_CONNECT_FAILED, "server certificate rejected", "system store");
    client(&c, &o, MACULA_QUIC_VERIFY_PKI, other_ca_pem, NULL, 0);
    expect_failure(&c, &o, MACULA_DISC_CONNECT_FAILED, "server certificate rejected", "another CA");
    /* the intermediate is needed, so it was served: without it in the
     * listener's file the same dial fails */
    macula_peer_options so;
    pt_server_options(&so, &c.srv);
    macula_listener_options lo;
    macula_listener_options_init(&lo);
    lo.identity = bob;
    lo.cert_pem_file = leaf_only_pem;
    lo.key_pem_file = leaf_key_pem;
    lo.auto_accept = &so;
    macula_listener *l2 = pt_listen(c.rt, &lo);
    REQUIRE(l2);
    client(&c, &o, MACULA_QUIC_VERIFY_PKI, ca_pem, bob, 1);
    o.port = macula_listener_port(l2);
    expect_failure(&c, &o, MACULA_DISC_CONNECT_FAILED, "server certificate rejected", "leaf without intermediate");
    char missing[300];
    snprintf(missing, sizeof missing, "%s/missing.pem", dir);
    client(&c, &o, MACULA_QUIC_VERIFY_PKI, missing, NULL, 0);
    expect_failure(&c, &o, MACULA_DISC_CONNECT_FAILED, "missing.pem", "unreadable CA file");
    client(&c, &o, MACULA_QUIC_VERIFY_PKI, leaf_key_pem, NULL, 0);
    expect_failure(&c, &o, MACULA_DISC_CONNECT_FAILED, "no readable PEM certificate", "CA file without certificates");
    tc_down(&c);
}

static void test_pin_and_hello_checks(void)
{
    tcase c;
    REQUIRE(tc_up(&c) == 0);
    macula_peer_options o;
    /* the default with expected_node_id pins the TLS key: the leaf's
     * ECDSA key is not bob's Ed25519 key */
    client(&c, &o, MACULA_QUIC_VERIFY_NONE, NULL, bob, 0);
    expect_failure(&c, &o, MACULA_DISC_CONNECT_FAILED, "pin_mismatch", "pinned");
    /* PKI passes, the HELLO is not mallory's */
    client(&c, &o, MACULA_QUIC_VERIFY_PKI, ca_pem, mallory, 1);
    expect_failure(&c, &o, MACULA_DISC_PEER_IDENTITY_MISMATCH, NULL, "pki + wrong HELLO");
    /* no TLS check, the HELLO checked */
    client(&c, &o, MACULA_QUIC_VERIFY_NONE, NULL, bob, 1);
    expect_connected(&c, &o, "none + hello");
    client(&c, &o, MACULA_QUIC_VERIFY_NONE, NULL, mallory, 1);
    expect_failure(&c, &o, MACULA_DISC_PEER_IDENTITY_MISMATCH, NULL, "none + wrong HELLO");
    CHECK(pt_has_diag(&c.diags, "tls_unverified_peer", NULL));
    tc_down(&c);
}

static void ignore_quic(void *user, const macula_quic_event *ev)
{
    (void)user;
    (void)ev;
}

/* Invalid combinations fail at once, naming the field. */
static void test_option_checks(void)
{
    tcase c;
    REQUIRE(tc_up(&c) == 0);
    struct {
        macula_quic_verify verify;
        const char *ca;
        const macula_identity *expect;
        int hello_only;
        const char *field;
    } bad[] = {
        {MACULA_QUIC_VERIFY_NONE, NULL, NULL, 1, "hello_only"},      /* nothing to check in the HELLO */
        {MACULA_QUIC_VERIFY_PIN, NULL, bob, 1, "verify"},            /* a pin is not HELLO-only */
        {MACULA_QUIC_VERIFY_NONE, ca_pem, NULL, 0, "ca_file"},       /* a CA file without PKI */
        {MACULA_QUIC_VERIFY_PKI, ca_pem, bob, 0, "ca_file"},         /* pinned: the CA file is unused */
        {MACULA_QUIC_VERIFY_PKI, "", NULL, 0, "ca_file"},
        {MACULA_QUIC_VERIFY_PIN, NULL, NULL, 0, "expected_node_id"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        macula_peer_options o;
        client(&c, &o, bad[i].verify, bad[i].ca, bad[i].expect, bad[i].hello_only);
        int err = 0;
        const char *msg = NULL;
        macula_peer p = macula_peer_connect(c.rt, &o, &err, &msg);
        CHECK(p == MACULA_PEER_INVALID && err == MACULA_ERR_INVALID_ARG && msg && !strcmp(msg, bad[i].field));
        if (msg && strcmp(msg, bad[i].field))
            fprintf(stderr, "  case %zu: \"%s\", expected \"%s\"\n", i, msg, bad[i].field);
    }
    /* the QUIC layer refuses a CA file outside PKI too */
    macula_quic_dial_options qo;
    macula_quic_dial_options_init(&qo);
    qo.host = "127.0.0.1";
    qo.port = c.port;
    qo.ca_file = ca_pem;
    int err = 0;
    CHECK(macula_quic_dial(c.rt, NULL, &qo, ignore_quic, NULL, &err) == NULL &&
          err == MACULA_ERR_INVALID_ARG);
    tc_down(&c);
}

/* --- the station's answer, end to end --- */

typedef struct answer {
    pthread_mutex_t mu;
    int errors, verified, code, call_id_ok;
} answer;
static answer ans = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
static const uint8_t probe_id[16] = {0xca, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};

static void check_error_frame(pt_recorder *r, macula_event *ev)
{
    (void)r;
    if (ev->type != MACULA_EVENT_FRAME || !ev->frame || strcmp(macula_frame_type(ev->frame), "error") != 0)
        return;
    uint64_t code = 0;
    const uint8_t *b = NULL;
    size_t n = 0;
    pthread_mutex_lock(&ans.mu);
    ans.errors++;
    ans.verified = macula_frame_verify(ev->frame, macula_identity_node_id(bob)) == 0;
    ans.code = macula_frame_get_uint(ev->frame, "code", &code) == 0 ? (int)code : -1;
    ans.call_id_ok = macula_frame_get_bytes(ev->frame, "call_id", &b, &n) == 0 && n == sizeof probe_id &&
                     memcmp(b, probe_id, n) == 0;
    pthread_mutex_unlock(&ans.mu);
}

static void test_station_answers_ping(void)
{
    tcase c;
    REQUIRE(tc_up(&c) == 0);
    c.cli.hook = check_error_frame;
    macula_peer_options o;
    client(&c, &o, MACULA_QUIC_VERIFY_PKI, ca_pem, bob, 1);
    macula_peer p = pt_connect(c.rt, &o);
    REQUIRE(p && pt_wait(&c.cli, p, MACULA_EVENT_CONNECTED, 1, 10000));
    /* the probe as a 10.0.0 client builds it */
    static const uint8_t zero_realm[MACULA_REALM_LEN];
    macula_frame *f = macula_frame_new("call", NULL);
    REQUIRE(f);
    macula_frame_put_bytes(f, "realm", zero_realm, sizeof zero_realm);
    macula_frame_put_bytes(f, "call_id", probe_id, sizeof probe_id);
    macula_frame_put_bytes(f, "procedure", MACULA_STATION_PING_PROCEDURE, strlen(MACULA_STATION_PING_PROCEDURE));
    macula_frame_put_bytes(f, "caller", macula_identity_node_id(alice), MACULA_NODE_ID_LEN);
    macula_frame_put(f, "payload", macula_value_map());
    macula_frame_put_uint(f, "deadline_ms", macula_unix_ms() + 5000);
    CHECK_EQ_INT(macula_peer_send_frame(c.rt, p, f), 0);
    CHECK(pt_wait(&c.cli, p, MACULA_EVENT_FRAME, 1, 10000));
    /* the hook runs after the event is recorded */
    for (uint64_t end = pt_now_ms() + 5000; pt_now_ms() < end; pt_sleep_ms(5)) {
        pthread_mutex_lock(&ans.mu);
        int seen = ans.errors;
        pthread_mutex_unlock(&ans.mu);
        if (seen)
            break;
    }
    pthread_mutex_lock(&ans.mu);
    CHECK_EQ_INT(ans.errors, 1);
    CHECK(ans.verified);
    CHECK_EQ_INT(ans.code, MACULA_ERROR_UNKNOWN_NEXT_PEER);
    CHECK(ans.call_id_ok);
    pthread_mutex_unlock(&ans.mu);
    /* the station's application saw the CALL too */
    CHECK(pt_wait(&c.srv, 0, MACULA_EVENT_FRAME, 1, 10000));
    pt_event e;
    CHECK(pt_last(&c.srv, 0, MACULA_EVENT_FRAME, &e) && !strcmp(e.frame_type, "call"));
    macula_peer_close(c.rt, p, NULL);
    CHECK(pt_disconnected_with(&c.cli, p, MACULA_DISC_DRAINED, 10000, NULL));
    tc_down(&c);
}

int main(void)
{
    if (pt_begin(120, &alice, &bob, &mallory, NULL) != 0 || make_pki() != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    RUN(test_pki_with_ca_file);
    RUN(test_pin_and_hello_checks);
    RUN(test_option_checks);
    RUN(test_station_answers_ping);
    remove_pki();
    return pt_end(&alice, &bob, &mallory, NULL);
}
