/* SPDX-License-Identifier: Apache-2.0 */
/* Defaults, option checks and small naming helpers of the QUIC layer. */
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "quic/quic_internal.h"
#include "util/abi.h"

/* Released layouts (common.h, "ABI rules"); macula_quic_settings is frozen. */
static const size_t endpoint_options_ends[] = {MACULA__FIELD_END(macula_quic_endpoint_options, settings),
                                               sizeof(macula_quic_endpoint_options)};
static const size_t dial_options_ends[] = {MACULA__FIELD_END(macula_quic_dial_options, settings),
                                           sizeof(macula_quic_dial_options)};
static const size_t conn_stats_ends[] = {MACULA__FIELD_END(macula_quic_conn_stats, smoothed_rtt_us),
                                         sizeof(macula_quic_conn_stats)};

static void settings_defaults(macula_quic_settings *s)
{
    memset(s, 0, sizeof *s);
    s->struct_size = sizeof *s;
    s->idle_timeout_ms = 300000;
    s->keepalive_ms = 15000;
    s->handshake_timeout_ms = 30000;
    s->stream_window = 16u * 1024 * 1024;
    s->conn_window = 64u * 1024 * 1024;
    s->max_bidi_streams = 100;
    s->max_uni_streams = 3;
    s->send_queue_cap = 32u * 1024 * 1024;
}

void macula_quic_settings_init_sized(macula_quic_settings *s, size_t struct_size)
{
    if (!s)
        return;
    macula_quic_settings d;
    settings_defaults(&d);
    macula__abi_init(s, struct_size, &d, sizeof d);
}

int macula__settings_valid(const macula_quic_settings *s) { return s->struct_size == sizeof *s; }

int macula__endpoint_options_read(macula_quic_endpoint_options *full, const macula_quic_endpoint_options *o)
{
    macula_quic_endpoint_options_init(full);
    if (macula__abi_read(full, o, endpoint_options_ends, 2) != 0 || !macula__settings_valid(&full->settings))
        return MACULA_ERR_INVALID_ARG;
    return 0;
}

int macula__dial_options_read(macula_quic_dial_options *full, const macula_quic_dial_options *o)
{
    macula_quic_dial_options_init(full);
    if (macula__abi_read(full, o, dial_options_ends, 2) != 0 || !macula__settings_valid(&full->settings))
        return MACULA_ERR_INVALID_ARG;
    return 0;
}

void macula_quic_conn_stats_init_sized(macula_quic_conn_stats *out, size_t struct_size)
{
    if (!out)
        return;
    macula_quic_conn_stats d;
    memset(&d, 0, sizeof d);
    macula__abi_init(out, struct_size, &d, sizeof d);
}

int macula__conn_stats_write(macula_quic_conn_stats *out, const macula_quic_conn_stats *full)
{
    return macula__abi_write(out, full, conn_stats_ends, 2);
}

/* Zeroed fields take their defaults, so a caller may set only what it needs
 * on a memset structure. */
void macula__settings_fix(macula_quic_settings *s)
{
    macula_quic_settings d;
    macula_quic_settings_init(&d);
    if (!s->idle_timeout_ms)
        s->idle_timeout_ms = d.idle_timeout_ms;
    if (!s->handshake_timeout_ms)
        s->handshake_timeout_ms = d.handshake_timeout_ms;
    if (!s->stream_window)
        s->stream_window = d.stream_window;
    if (!s->conn_window)
        s->conn_window = d.conn_window;
    if (!s->send_queue_cap)
        s->send_queue_cap = d.send_queue_cap;
    /* QUIC caps stream counts at 2^60. */
    if (s->max_bidi_streams > (1ull << 60))
        s->max_bidi_streams = 1ull << 60;
    if (s->max_uni_streams > (1ull << 60))
        s->max_uni_streams = 1ull << 60;
}

void macula_quic_endpoint_options_init_sized(macula_quic_endpoint_options *o, size_t struct_size)
{
    if (!o)
        return;
    macula_quic_endpoint_options d;
    memset(&d, 0, sizeof d);
    settings_defaults(&d.settings);
    macula__abi_init(o, struct_size, &d, sizeof d);
}

void macula_quic_dial_options_init_sized(macula_quic_dial_options *o, size_t struct_size)
{
    if (!o)
        return;
    macula_quic_dial_options d;
    memset(&d, 0, sizeof d);
    d.timeout_ms = 30000;
    settings_defaults(&d.settings);
    macula__abi_init(o, struct_size, &d, sizeof d);
}

const char *macula_quic_close_cause_name(macula_quic_close_cause cause)
{
    switch (cause) {
    case MACULA_QUIC_CLOSE_LOCAL:
        return "local";
    case MACULA_QUIC_CLOSE_PEER:
        return "peer";
    case MACULA_QUIC_CLOSE_IDLE_TIMEOUT:
        return "idle_timeout";
    case MACULA_QUIC_CLOSE_HANDSHAKE_FAILED:
        return "handshake_failed";
    case MACULA_QUIC_CLOSE_STATELESS_RESET:
        return "stateless_reset";
    case MACULA_QUIC_CLOSE_DIAL_FAILED:
        return "dial_failed";
    case MACULA_QUIC_CLOSE_ERROR:
        return "error";
    }
    return "unknown";
}

int macula__alpn_valid(const char *const *alpn, size_t n)
{
    if (!alpn)
        return n == 0;
    if (n == 0 || n > MACULA_QUIC_MAX_ALPN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = alpn[i] ? strlen(alpn[i]) : 0;
        if (len == 0 || len > 255)
            return 0;
    }
    return 1;
}

const char *macula__tls_alert_name(int alert)
{
    if (alert < 0 || alert > 255)
        return "none";
    const char *name = gnutls_alert_get_name((gnutls_alert_description_t)alert);
    return name ? name : "unknown alert";
}

int macula__sockaddr_string(const struct sockaddr *sa, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];
    unsigned port;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        return snprintf(buf, size, "%s:%u", host, port) < (int)size ? 0 : MACULA_ERR_LIMIT;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof host);
            return snprintf(buf, size, "%s:%u", host, port) < (int)size ? 0 : MACULA_ERR_LIMIT;
        }
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        return snprintf(buf, size, "[%s]:%u", host, port) < (int)size ? 0 : MACULA_ERR_LIMIT;
    }
    return MACULA_ERR_INVALID_ARG;
}
