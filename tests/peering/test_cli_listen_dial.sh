#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Two `macula` processes peering on loopback: `macula listen --echo` and
# `macula dial --publish/--send`: the handshake both ways (with --expect
# pinning the listener), frames in order both ways (signed PUBLISH frames
# with the reference's field set, a ready wire frame sent as is and echoed
# byte for byte), GOODBYE and the drain, the JSON lines and exit codes; then
# SIGTERM on the listener with a peer connected: GOODBYE "shutdown" to it
# and a clean exit within the drain.
set -euo pipefail
: "${MACULA:?}" "${MACULA_VECTORS:?}" "${MACULA_TEST_HELPERS:?}"
exec python3 - "$MACULA" "$MACULA_VECTORS" "$MACULA_TEST_HELPERS" <<'PY'
import sys
sys.path.insert(0, sys.argv[3])
from macula_cli import *

macula, vec_path = sys.argv[1], sys.argv[2]
c = Checks()
_, vecs, ids = vectors(vec_path)
tmp = workdir()
keys, key_ids = make_keys(macula, tmp, "ab")
(a_key, b_key), (a_id, b_id) = (keys["a"], keys["b"]), (key_ids["a"], key_ids["b"])
realm = "ab" * 32

listen, port, nid = start_listen(macula, a_key, "--echo", "--drain-ms", "300", "--wire", "--capabilities", "6")
c.check(nid == a_id, "listening line carries the node id")
target = "127.0.0.1:%d" % port
ping = vecs["ping"]["wire_hex"]
try:
    rc, evs, lines, err = run([macula, "dial", target, "--key", b_key, "--expect", a_id, "--realm", realm,
                               "--publish", "hello", "--publish", "world", "--send", ping,
                               "--frames", "3", "--close-after", "20000", "--drain-ms", "300", "--wire"])
    c.check(rc == 0, "dial exits 0 (rc %d, stderr %r)" % (rc, err))
    kinds = [e["event"] for e in evs]
    c.check(kinds == ["connected", "frame", "frame", "frame", "disconnected"], "dial's events: %s" % kinds)
    c.check(evs[0].get("peer") == a_id, "dial: connected to the listener's node id")
    conn = evs[0].get("conn")
    c.check(all(e.get("conn") == conn for e in evs), "one conn number on every line")
    frames = [e for e in evs if e["event"] == "frame"]
    c.check([f["frame_type"] for f in frames] == ["publish", "publish", "ping"], "echoed frames in order")
    for i, (f, text) in enumerate(zip(frames, ["hello", "world"])):
        d = f["diag"]
        c.check('"seq": %d' % i in d, "publish %d: seq" % i)
        c.check('"topic": h\'636c69\'' in d, "publish %d: topic cli as bytes" % i)
        c.check('"payload": h\'%s\'' % text.encode().hex() in d, "publish %d: payload as bytes" % i)
        c.check('"realm": h\'%s\'' % realm in d, "publish %d: realm = first --realm" % i)
        c.check('"publisher": h\'%s\'' % b_id in d, "publish %d: publisher = own node id" % i)
        c.check('"published_at_ms": ' in d and '"ttl_ms": null' in d, "publish %d: the reference's fields" % i)
        vr, _, vout, verr = run([macula, "frame", "verify", f["wire"], b_id])
        c.check(vr == 0, "publish %d: signed by the dialer (%s %s)" % (i, vout, verr))
    c.check(frames[2]["wire"] == ping, "a --send frame travels byte for byte (and back)")
    c.check(evs[-1].get("reason") == "drained" and "detail" not in evs[-1], "dial ends drained: %s" % evs[-1])

    # The listener's side of it.
    d = listen.wait_for(ev_is("disconnected"), 10, "the listener's disconnected")
    c.check(d is not None and d.get("reason") == "peer_closed" and d.get("peer") == b_id,
            "listener: peer_closed after the dialer's drain: %s" % d)
    mine = [e for e in listen.matching(lambda e: e.get("conn") == (d or {}).get("conn"))]
    kinds = [e["event"] for e in mine]
    c.check(kinds == ["connected", "handshake_complete", "frame", "frame", "frame", "frame", "disconnected"],
            "listener's events: %s" % kinds)
    c.check(mine[0].get("peer") == b_id, "listener: connected to the dialer's node id")
    c.check([e.get("frame_type") for e in mine if e["event"] == "frame"] == ["publish", "publish", "ping", "goodbye"],
            "listener: frames in order, GOODBYE last")
    c.check('"reason": "normal"' in mine[5]["diag"], "GOODBYE reason normal")

    # A dial without --frames closes after --close-after (this one with --low-memory).
    t0 = time.monotonic()
    rc, evs, _, err = run([macula, "dial", target, "--key", b_key, "--close-after", "200", "--drain-ms", "100",
                           "--low-memory"])
    c.check(rc == 0 and [e["event"] for e in evs if e["event"] != "diag"] == ["connected", "disconnected"],
            "close-after: %d %s" % (rc, evs))
    # without --expect nothing was checked, and dial says so (a diag line)
    c.check([e.get("name") for e in evs if e["event"] == "diag"] == ["tls_unverified_peer"], "diag: %s" % evs)
    c.check(time.monotonic() - t0 < 10, "close-after closes on time")

    # SIGTERM with a peer connected: GOODBYE "shutdown", exit 0 within the drain.
    dial = Proc([macula, "dial", target, "--key", b_key, "--close-after", "30000"], name="dial")
    c.check(dial.wait_for(ev_is("connected"), 10, "connected") is not None, "second dial connects")
    c.check(listen.wait_for(lambda e: e.get("event") == "handshake_complete" and e.get("conn") != conn, 10) is not None,
            "listener sees it")
    t0 = time.monotonic()
    listen.signal(signal.SIGTERM)
    lrc = listen.wait(15)
    took = time.monotonic() - t0
    c.check(lrc == 0, "listen exits 0 on SIGTERM (rc %d: %s)" % (lrc, listen.stderr()))
    c.check(took < 0.3 + 1.0 + 3.0, "listen stops within its drain (%.2f s)" % took)
    g = dial.wait_for(ev_is("frame", frame_type="goodbye"), 10, "GOODBYE")
    c.check(g is not None and '"reason": "shutdown"' in g["diag"], "the peer gets GOODBYE shutdown")
    drc = dial.wait(15)
    last = dial.events[-1] if dial.events else {}
    c.check(last.get("event") == "disconnected" and last.get("reason") == "peer_closed", "dial then ends peer_closed: %s" % last)
    c.check(drc == 1 and "peer_closed" in dial.stderr(), "dial exits 1 when the peer left first (rc %d)" % drc)
    stopped = [e for e in listen.events if e.get("event") == "disconnected"]
    c.check(stopped and stopped[-1].get("reason") == "drained", "listener's last peer drained: %s" % stopped[-1:])
finally:
    terminate(listen)
c.done()
PY
