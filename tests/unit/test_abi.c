/* SPDX-License-Identifier: Apache-2.0 */
/* The ABI rules of common.h: struct_size set by the _init macros, an "old
 * binary" (a struct of an earlier release: a prefix) read with defaults
 * for the newer fields, unknown sizes refused with the field named, nested
 * settings checked, and output structs written only up to the caller's
 * release. No network: peers are started on a runtime that never runs and
 * end with its shutdown. */
#include <string.h>

#include "macula/peering.h"
#include "testutil.h"
#include "util/abi.h"

/* Release 1 of macula_peer_options ended with admit_user. */
#define PEER_OPTIONS_R1 (offsetof(macula_peer_options, admit_user) + sizeof(void *))

static macula_identity *id;

typedef struct seen {
    int n, disconnected, cause;
    macula_disconnect_reason reason;
    void *peer_user;
    uint64_t frames_dropped;
} seen;

static void record(void *user, macula_event *ev)
{
    seen *s = user;
    s->n++;
    if (ev->type == MACULA_EVENT_DISCONNECTED) {
        s->disconnected++;
        s->cause = ev->cause;
        s->reason = ev->reason;
        s->peer_user = ev->peer_user;
        s->frames_dropped = ev->final_info ? ev->final_info->frames_dropped : 999;
    }
}

static void quic_noop(void *user, const macula_quic_event *ev)
{
    (void)user;
    (void)ev;
}

static void fill_target(macula_peer_options *o, seen *s)
{
    o->identity = id;
    o->handler = record;
    o->handler_user = s;
    o->host = "127.0.0.1";
    o->port = 9;
}

/* An old binary's struct: release 1 bytes, then whatever its memory held
 * (0xAB) where this library has newer fields. */
static void test_old_binary_peer_options(void)
{
    unsigned char buf[sizeof(macula_peer_options) + 32];
    memset(buf, 0xAB, sizeof buf);
    macula_peer_options *o = (macula_peer_options *)(void *)buf;
    macula_peer_options_init_sized(o, PEER_OPTIONS_R1);
    CHECK_EQ_INT(o->struct_size, PEER_OPTIONS_R1);
    CHECK_EQ_INT(o->connect_timeout_ms, 30000);
    size_t untouched = 0;
    for (size_t i = PEER_OPTIONS_R1; i < sizeof buf; i++)
        untouched += buf[i] == 0xAB;
    CHECK_EQ_INT(untouched, sizeof buf - PEER_OPTIONS_R1); /* init wrote only the caller's bytes */

    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    REQUIRE(rt);
    seen s;
    memset(&s, 0, sizeof s);
    fill_target(o, &s);
    int err = -1;
    const char *msg = NULL;
    macula_peer p = macula_peer_connect(rt, o, &err, &msg);
    REQUIRE(p != MACULA_PEER_INVALID);
    CHECK_EQ_INT(err, 0);
    /* queue_until_connected was not read from the garbage: its default (0)
     * refuses a send before CONNECTED */
    CHECK_EQ_INT(macula_peer_send_frame(rt, p, macula_frame_new("publish", NULL)), MACULA_ERR_STATE);
    macula_runtime_free(rt);
    CHECK_EQ_INT(s.disconnected, 1);
    CHECK_EQ_INT(s.cause, MACULA_ERR_SHUTDOWN); /* the dial met the stopping runtime */
    CHECK(s.peer_user == NULL); /* not 0xABAB... */
}

/* The current release: the newer fields are read. */
static void test_current_peer_options(void)
{
    macula_peer_options o;
    macula_peer_options_init(&o);
    CHECK_EQ_INT(o.struct_size, sizeof o);
    CHECK(o.peer_user == NULL && o.queue_until_connected == 0);
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    REQUIRE(rt);
    seen s;
    memset(&s, 0, sizeof s);
    fill_target(&o, &s);
    o.peer_user = &s;
    o.queue_until_connected = 1;
    macula_peer p = macula_peer_connect(rt, &o, NULL, NULL);
    REQUIRE(p != MACULA_PEER_INVALID);
    CHECK_EQ_INT(macula_peer_send_frame(rt, p, macula_frame_new("publish", NULL)), 0);
    macula_peer_info info;
    macula_peer_info_init(&info);
    CHECK_EQ_INT(macula_peer_get_info(rt, p, &info), 0);
    CHECK_EQ_INT(info.state, MACULA_PEER_CONNECTING);
    info.struct_size = 0;
    CHECK_EQ_INT(macula_peer_get_info(rt, p, &info), MACULA_ERR_INVALID_ARG);
    macula_runtime_free(rt);
    CHECK_EQ_INT(s.disconnected, 1);
    CHECK(s.peer_user == &s);
    CHECK_EQ_INT(s.frames_dropped, 1); /* held, never connected */
}

static void expect_refused(macula_runtime *rt, macula_peer_options *o, size_t size)
{
    o->struct_size = size;
    int err = 0;
    const char *msg = NULL;
    CHECK(macula_peer_connect(rt, o, &err, &msg) == MACULA_PEER_INVALID);
    CHECK_EQ_INT(err, MACULA_ERR_INVALID_ARG);
    CHECK(msg && strcmp(msg, "struct_size") == 0);
}

/* Garbage sizes: never initialized, too small, newer than the library. */
static void test_unknown_sizes(void)
{
    macula_runtime *rt = macula_runtime_new(NULL, NULL);
    REQUIRE(rt);
    seen s;
    memset(&s, 0, sizeof s);
    macula_peer_options o;
    macula_peer_options_init(&o);
    fill_target(&o, &s);
    expect_refused(rt, &o, 0);
    expect_refused(rt, &o, 3);
    expect_refused(rt, &o, PEER_OPTIONS_R1 - 1);
    expect_refused(rt, &o, sizeof o + 8);

    macula_listener_options lo;
    macula_listener_options_init(&lo);
    CHECK_EQ_INT(lo.struct_size, sizeof lo);
    CHECK_EQ_INT(lo.quic.struct_size, sizeof lo.quic);
    lo.identity = id;
    lo.on_connection = NULL;
    macula_peer_options_init(&o);
    fill_target(&o, &s);
    lo.auto_accept = &o;
    int err = 0;
    const char *msg = NULL;
    lo.quic.struct_size = sizeof lo.quic + 4; /* a frozen struct: only its own size */
    CHECK(macula_listener_new(rt, &lo, &err, &msg) == NULL);
    CHECK(err == MACULA_ERR_INVALID_ARG && msg && strcmp(msg, "quic.struct_size") == 0);
    lo.quic.struct_size = sizeof lo.quic;
    lo.struct_size = 0;
    CHECK(macula_listener_new(rt, &lo, &err, &msg) == NULL);
    CHECK(err == MACULA_ERR_INVALID_ARG && msg && strcmp(msg, "struct_size") == 0);
    lo.struct_size = sizeof lo;
    o.struct_size = 1;
    CHECK(macula_listener_new(rt, &lo, &err, &msg) == NULL);
    CHECK(err == MACULA_ERR_INVALID_ARG && msg && strcmp(msg, "auto_accept.struct_size") == 0);

    macula_quic_dial_options d;
    macula_quic_dial_options_init(&d);
    CHECK_EQ_INT(d.struct_size, sizeof d);
    CHECK_EQ_INT(d.settings.struct_size, sizeof d.settings);
    CHECK_EQ_INT(d.timeout_ms, 30000);
    d.host = "127.0.0.1";
    d.port = 9;
    d.settings.struct_size = 0;
    CHECK(macula_quic_dial(rt, NULL, &d, quic_noop, &s, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_INVALID_ARG);
    d.settings.struct_size = sizeof d.settings;
    d.struct_size = sizeof d + 16;
    CHECK(macula_quic_dial(rt, NULL, &d, quic_noop, &s, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_INVALID_ARG);

    macula_quic_endpoint_options eo;
    macula_quic_endpoint_options_init(&eo);
    CHECK_EQ_INT(eo.settings.idle_timeout_ms, 300000);
    eo.struct_size = 2;
    CHECK(macula_quic_endpoint_new(rt, &eo, &err) == NULL);
    CHECK_EQ_INT(err, MACULA_ERR_INVALID_ARG);

    macula_quic_conn_stats st;
    macula_quic_conn_stats_init(&st);
    CHECK_EQ_INT(st.struct_size, sizeof st);
    CHECK_EQ_INT(macula_quic_conn_get_stats(NULL, &st), MACULA_ERR_INVALID_ARG);
    macula_runtime_free(rt);
    CHECK_EQ_INT(s.n, 0); /* nothing refused ever started */
}

/* The helpers on a struct with three releases: an output struct is
 * written up to the caller's release; an input struct keeps the defaults
 * beyond it; sizes between releases use the older one. */
typedef struct three {
    size_t struct_size;
    uint32_t a; /* release 1 ends here */
    uint64_t b; /* release 2 */
    uint32_t c; /* release 3 */
} three;

static void test_helpers_three_releases(void)
{
    const size_t ends[] = {MACULA__FIELD_END(three, a), MACULA__FIELD_END(three, b), sizeof(three)};
    three full = {sizeof(three), 1, 2, 3};
    three out;
    memset(&out, 0x55, sizeof out);
    out.struct_size = MACULA__FIELD_END(three, b) + 2; /* between releases 2 and 3 */
    CHECK_EQ_INT(macula__abi_write(&out, &full, ends, 3), 0);
    CHECK(out.a == 1 && out.b == 2 && out.c == 0x55555555u);
    CHECK_EQ_INT(out.struct_size, MACULA__FIELD_END(three, b) + 2);

    three caller = {MACULA__FIELD_END(three, a), 10, 20, 30};
    three got = {0, 100, 200, 300}; /* the defaults */
    CHECK_EQ_INT(macula__abi_read(&got, &caller, ends, 3), 0);
    CHECK(got.a == 10 && got.b == 200 && got.c == 300);
    CHECK_EQ_INT(got.struct_size, sizeof(three));
    caller.struct_size = sizeof(three) + 1;
    CHECK_EQ_INT(macula__abi_read(&got, &caller, ends, 3), MACULA_ERR_INVALID_ARG);
    caller.struct_size = 4;
    CHECK_EQ_INT(macula__abi_write(&caller, &full, ends, 3), MACULA_ERR_INVALID_ARG);
}

int main(void)
{
    if (macula_crypto_init() != 0 || !(id = macula_identity_generate(NULL)))
        return 1;
    RUN(test_old_binary_peer_options);
    RUN(test_current_peer_options);
    RUN(test_unknown_sizes);
    RUN(test_helpers_three_releases);
    macula_identity_free(id);
    return tu_summary();
}
