/* SPDX-License-Identifier: Apache-2.0 */
/* dial_print: dial a Macula peer, send it one signed PUBLISH, print every
 * frame it sends back, and close with GOODBYE after the first one.
 * Build against the installed library:
 *   cc dial_print.c $(pkg-config --cflags --libs macula) -o dial_print
 * Usage: dial_print HOST PORT      (exit 0 once the GOODBYE has drained) */
#include <macula.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 2;
    }
    int err = 0, status = 1, closing = 0;
    macula_peer peer = MACULA_PEER_INVALID;
    macula_identity *id = macula_identity_generate(&err);
    macula_runtime *rt = id ? macula_runtime_new(NULL, &err) : NULL;
    macula_mailbox *mb = rt ? macula_mailbox_new(0, &err) : NULL; /* events pulled by this thread */
    if (!mb || (err = macula_runtime_start(rt)) != 0) {
        fprintf(stderr, "setup failed: %s\n", macula_strerror(err));
        goto out;
    }
    macula_peer_options o;
    macula_peer_options_init(&o);
    o.identity = id;
    o.host = argv[1];
    o.port = (uint16_t)atoi(argv[2]);
    o.connect_timeout_ms = 5000;
    o.drain_timeout_ms = 500; /* after our GOODBYE; the default is 5000 */
    o.handler = macula_mailbox_handler;
    o.handler_user = mb;
    const char *why = NULL;
    peer = macula_peer_connect(rt, &o, &err, &why);
    if (peer == MACULA_PEER_INVALID)
        fprintf(stderr, "connect: %s (%s)\n", macula_strerror(err), why ? why : "");

    for (macula_event *ev; peer != MACULA_PEER_INVALID;) {
        if (!(ev = macula_mailbox_pop(mb, closing ? -1 : 10000))) { /* quiet for 10 s: give up */
            macula_peer_close(rt, peer, "timeout");
            closing = 1;
            continue;
        }
        if (ev->type == MACULA_EVENT_CONNECTED) {
            printf("connected\n");
            macula_frame *f = macula_frame_publish(id, NULL, "example", 7, macula_value_bytes("hello", 5), 0,
                                                   -1, 0, &err);
            if (!f || macula_peer_send_frame(rt, peer, f) != 0) /* signs it; takes the frame */
                fprintf(stderr, "send failed\n");
        } else if (ev->type == MACULA_EVENT_FRAME) {
            char *diag = macula_frame_diag(ev->frame);
            printf("frame %s %zu bytes: %s\n", macula_frame_type(ev->frame), ev->wire_len, diag ? diag : "?");
            macula_free(diag);
            if (!closing)
                macula_peer_close(rt, peer, "normal"); /* GOODBYE, then drain */
            closing = 1;
        } else if (ev->type == MACULA_EVENT_DISCONNECTED) {
            /* cause: why, as an error name ("ok" for a normal end); final_info: the last counters */
            printf("disconnected: %s %s (cause %s, %llu frames out)\n", macula_disconnect_reason_name(ev->reason),
                   ev->detail ? ev->detail : "", macula_err_name(ev->cause),
                   (unsigned long long)ev->final_info->frames_out);
            status = ev->reason == MACULA_DISC_DRAINED ? 0 : 1;
            peer = MACULA_PEER_INVALID;
        }
        macula_event_free(ev);
    }
out: /* all three accept NULL */
    macula_runtime_free(rt);
    macula_mailbox_free(mb);
    macula_identity_free(id);
    return status;
}
