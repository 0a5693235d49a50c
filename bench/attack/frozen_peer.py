#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Rig for RELIABILITY.md: `macula dial` (keep-alive 100 ms, plus any extra
# dial flags) to a `macula listen` that is SIGSTOPped once connected; prints
# how long the dialer took to end the peer and the reason (bounded: 10 s).
#   bench/attack/frozen_peer.py MACULA [dial flags, e.g. --dead-peer-ms 600]
import json, os, signal, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "lib"))
from macula_cli import *

macula, extra = sys.argv[1], sys.argv[2:]
tmp = workdir()
keys, _ = make_keys(macula, tmp, "ab")
listen, port, _ = start_listen(macula, keys["a"], "--keepalive-ms", "100")
dial = Proc([macula, "dial", "127.0.0.1:%d" % port, "--key", keys["b"], "--close-after", "30000",
             "--keepalive-ms", "100", "--drain-ms", "200", *extra], name="dial")
try:
    dial.wait_for(ev_is("connected"), 10, "dial connected")
    time.sleep(1.0)
    alive = not dial.matching(ev_is("disconnected"))
    listen.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    d = dial.wait_for(ev_is("disconnected"), 10, "the dialer's disconnected")
    took = time.monotonic() - t0
finally:
    listen.signal(signal.SIGCONT)
    dial.kill()
    listen.kill()
print(json.dumps({"alive_before_freeze": alive, "ended": d is not None,
                  "reason": d.get("reason") if d else None, "s_after_freeze": round(took, 2), "bound_s": 10}))
