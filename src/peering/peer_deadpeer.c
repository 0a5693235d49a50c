/* SPDX-License-Identifier: Apache-2.0 */
/* Dead-peer detection (supervisor.h, "peer_deadpeer.c"). ngtcp2's
 * keep-alive PINGs are ack-eliciting, so a live peer sends at least an ACK
 * per interval: a packets_received counter that stands still for the whole
 * timeout means the peer (or the path) is gone. The QUIC idle timeout
 * would notice too, but only after minutes. */
#include "peering/supervisor.h"

static void dp_arm(macula__peer_entry *e, uint64_t now)
{
    uint64_t step = e->dp_timeout_ns / 4;
    (void)macula__timer_arm(e->pr->loop, &e->dp_timer, now + (step ? step : 1));
}

static void dp_check(void *arg)
{
    macula__peer_entry *e = arg;
    uint64_t now = macula__loop_now(e->pr->loop);
    if (!e->conn) { /* still dialing: the clock starts with the connection */
        e->dp_heard = now;
        dp_arm(e, now);
        return;
    }
    macula_quic_conn_stats st;
    macula_quic_conn_stats_init(&st);
    if (macula_quic_conn_get_stats(e->conn, &st) == 0 && st.packets_received != e->dp_packets) {
        e->dp_packets = st.packets_received;
        e->dp_heard = now;
    }
    if (now - e->dp_heard < e->dp_timeout_ns) {
        dp_arm(e, now);
        return;
    }
    macula__worker_on_dead_peer(e->w, now, (now - e->dp_heard) / 1000000u);
    macula__peer_entry_drive(e); /* may free e */
}

void macula__dp_start(macula__peer_entry *e)
{
    if (!e->dp_timeout_ns)
        return;
    uint64_t now = macula__loop_now(e->pr->loop);
    macula__timer_init(&e->dp_timer, dp_check, e);
    e->dp_heard = now;
    e->dp_packets = 0;
    dp_arm(e, now);
}

void macula__dp_stop(macula__peer_entry *e)
{
    if (e->dp_timer.cb) /* initialized by dp_start only */
        macula__timer_cancel(e->pr->loop, &e->dp_timer);
}
