/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON lines the peering commands print (`macula listen`, `macula dial`,
 * and `macula demo` later): one object per line, flushed at once so that a
 * script reading the pipe sees each event as it happens. */
#include <string.h>

#include "cli.h"

static void key(FILE *f, const char *k)
{
    fputc(',', f);
    cli_json_string(f, k, strlen(k));
    fputc(':', f);
}

static void str_field(FILE *f, const char *k, const char *v)
{
    key(f, k);
    cli_json_string(f, v, strlen(v));
}

static void hex_field(FILE *f, const char *k, const uint8_t *p, size_t len)
{
    key(f, k);
    fputc('"', f);
    cli_print_hex(f, p, len);
    fputc('"', f);
}

/* "publisher_sig":"valid"/"invalid" for a PUBLISH/EVENT that carries one
 * (PROTOCOL.md §6.1); nothing when it has none or is of another type. A
 * malformed publisher_sig (or publisher) cannot check: "invalid". */
static void publisher_sig_field(FILE *f, const macula_frame *frame)
{
    const char *type = macula_frame_type(frame);
    if (!type || (strcmp(type, "publish") && strcmp(type, "event")) || !macula_frame_get(frame, "publisher_sig"))
        return;
    str_field(f, "publisher_sig", macula_frame_verify_publisher(frame) == MACULA_OK ? "valid" : "invalid");
}

static const char *event_name(macula_event_type t)
{
    switch (t) {
    case MACULA_EVENT_CONNECTED: return "connected";
    case MACULA_EVENT_FRAME: return "frame";
    case MACULA_EVENT_DISCONNECTED: return "disconnected";
    case MACULA_EVENT_HANDSHAKE_COMPLETE: return "handshake_complete";
    case MACULA_EVENT_SEND_READY: return "send_ready";
    case MACULA_EVENT_STREAM_OPENED: return "stream_opened";
    case MACULA_EVENT_STREAM_CLOSED: return "stream_closed";
    }
    return "unknown";
}

void cli_event_print(FILE *f, const macula_event *ev, int with_wire)
{
    flockfile(f);
    fprintf(f, "{\"event\":\"%s\",\"conn\":%llu", event_name(ev->type),
            (unsigned long long)macula_peer_serial(ev->peer));
    if (ev->has_peer_node_id)
        hex_field(f, "peer", ev->peer_node_id, MACULA_NODE_ID_LEN);
    if (ev->type == MACULA_EVENT_FRAME || ev->type == MACULA_EVENT_STREAM_OPENED ||
        ev->type == MACULA_EVENT_STREAM_CLOSED) {
        key(f, "stream");
        fprintf(f, "%lld", (long long)ev->stream);
    }
    if (ev->type == MACULA_EVENT_STREAM_OPENED)
        str_field(f, "by", ev->stream_origin == MACULA_STREAM_BY_PEER ? "peer" : "local");
    if (ev->type == MACULA_EVENT_STREAM_CLOSED) {
        str_field(f, "how", ev->stream_end == MACULA_STREAM_END_FIN     ? "fin"
                            : ev->stream_end == MACULA_STREAM_END_RESET ? "reset"
                                                                        : "connection");
        if (ev->stream_end == MACULA_STREAM_END_RESET) {
            key(f, "code");
            fprintf(f, "%llu", (unsigned long long)ev->stream_code);
        }
        if (ev->detail && ev->detail[0])
            str_field(f, "detail", ev->detail);
    }
    if (ev->type == MACULA_EVENT_FRAME && ev->frame) {
        const char *type = macula_frame_type(ev->frame);
        str_field(f, "frame_type", type ? type : "");
        key(f, "wire_len");
        fprintf(f, "%zu", ev->wire_len);
        char *diag = macula_frame_diag(ev->frame);
        if (diag)
            str_field(f, "diag", diag);
        macula_free(diag);
        publisher_sig_field(f, ev->frame);
        if (ev->unsigned_frame)
            fputs(",\"unsigned\":true", f);
        uint8_t *wire = NULL;
        size_t len = 0;
        if (with_wire && ev->wire) /* the bytes as received */
            hex_field(f, "wire", ev->wire, ev->wire_len);
        else if (with_wire && macula_frame_encode(ev->frame, &wire, &len) == 0)
            hex_field(f, "wire", wire, len);
        macula_free(wire);
    }
    if (ev->type == MACULA_EVENT_DISCONNECTED) {
        str_field(f, "reason", macula_disconnect_reason_name(ev->reason));
        if (ev->detail && ev->detail[0])
            str_field(f, "detail", ev->detail);
        if (ev->reason == MACULA_DISC_REFUSED) {
            key(f, "refusal_code");
            if (ev->refusal_code >= 0)
                fprintf(f, "%lld", (long long)ev->refusal_code);
            else
                fputs("null", f);
        }
        str_field(f, "cause", macula_err_name(ev->cause));
    }
    fputs("}\n", f);
    fflush(f);
    funlockfile(f);
}

void cli_diag_print(FILE *f, const char *name, const macula_diag_field *fields, size_t n)
{
    flockfile(f);
    fputs("{\"event\":\"diag\"", f);
    str_field(f, "name", name);
    /* The fields in their own object: their keys ("event", "state", ...)
     * cannot collide with ours. */
    fputs(",\"fields\":{", f);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        cli_json_string(f, fields[i].key, strlen(fields[i].key));
        fputc(':', f);
        cli_json_string(f, fields[i].value, strlen(fields[i].value));
    }
    fputs("}}\n", f);
    fflush(f);
    funlockfile(f);
}

void cli_listening_print(FILE *f, const char *address, uint16_t port, const uint8_t node_id[MACULA_NODE_ID_LEN])
{
    flockfile(f);
    fputs("{\"event\":\"listening\"", f);
    str_field(f, "address", address);
    key(f, "port");
    fprintf(f, "%u", port);
    hex_field(f, "node_id", node_id, MACULA_NODE_ID_LEN);
    fputs("}\n", f);
    fflush(f);
    funlockfile(f);
}
