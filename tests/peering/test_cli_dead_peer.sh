#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# --dead-peer-ms with two `macula` processes: one side is frozen with
# SIGSTOP (no ACK for keep-alive PINGs any more) and the other ends the
# peer with reason dead_peer within about the configured time, not at the
# QUIC idle timeout (300 s). Both directions: a dialer noticing a frozen
# listener, and a listener noticing a frozen dialer.
set -euo pipefail
: "${MACULA:?}" "${MACULA_TEST_HELPERS:?}"
exec python3 - "$MACULA" "$MACULA_TEST_HELPERS" <<'PY'
import signal, sys, time
sys.path.insert(0, sys.argv[2])
from macula_cli import *

macula = sys.argv[1]
c = Checks()
tmp = workdir()
keys, _ = make_keys(macula, tmp, "ab")
fast = ["--keepalive-ms", "100", "--dead-peer-ms", "600", "--drain-ms", "200"]

# 1. the dialer notices a frozen listener
listen, port, _ = start_listen(macula, keys["a"], "--keepalive-ms", "100")
dial = Proc([macula, "dial", "127.0.0.1:%d" % port, "--key", keys["b"], "--close-after", "30000", *fast],
            name="dial")
try:
    c.check(dial.wait_for(ev_is("connected"), 10, "dial connected") is not None, "dialer connected")
    time.sleep(1.0)  # alive: keep-alive ACKs flow, no false alarm
    c.check(not dial.matching(ev_is("disconnected")), "no dead_peer while the listener runs")
    listen.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    d = dial.wait_for(ev_is("disconnected"), 10, "dial's disconnected")
    took = time.monotonic() - t0
    c.check(d is not None and d.get("reason") == "dead_peer", "dialer: reason dead_peer: %s" % d)
    c.check(took < 3.0, "dialer noticed within 3 s (%.2f s; timeout 0.6 s)" % took)
    print("  dialer: dead_peer %.2f s after SIGSTOP of the listener" % took, file=sys.stderr)
finally:
    listen.signal(signal.SIGCONT)
    dial.kill()
    listen.kill()

# 2. the listener notices a frozen dialer
listen, port, _ = start_listen(macula, keys["a"], *fast)
dial = Proc([macula, "dial", "127.0.0.1:%d" % port, "--key", keys["b"], "--close-after", "30000",
             "--keepalive-ms", "100"], name="dial")
try:
    c.check(listen.wait_for(ev_is("connected"), 10, "listener connected") is not None, "listener connected")
    time.sleep(1.0)
    dial.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    d = listen.wait_for(ev_is("disconnected"), 10, "listener's disconnected")
    took = time.monotonic() - t0
    c.check(d is not None and d.get("reason") == "dead_peer", "listener: reason dead_peer: %s" % d)
    c.check(took < 3.0, "listener noticed within 3 s (%.2f s)" % took)
    print("  listener: dead_peer %.2f s after SIGSTOP of the dialer" % took, file=sys.stderr)
finally:
    dial.signal(signal.SIGCONT)
    dial.kill()
    listen.kill()
c.done()
PY
