#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Dedicated streams (PROTOCOL.md §6.2) through the CLI: `macula listen
# --echo` and `macula dial --publish/--stream-publish/--next-stream`
# exchange PUBLISH frames on the control stream and on two dedicated
# streams the dialer opens; every frame line carries its "stream", the echo
# comes back on the stream it went out on, in order per stream, and each
# dedicated stream is announced (stream_opened, by local / by peer) and
# closed with FIN (stream_closed, how fin) exactly once on both sides,
# before disconnected.
set -euo pipefail
: "${MACULA:?}" "${MACULA_VECTORS:?}" "${MACULA_TEST_HELPERS:?}"
exec python3 - "$MACULA" "$MACULA_VECTORS" "$MACULA_TEST_HELPERS" <<'PY'
import sys
sys.path.insert(0, sys.argv[3])
from macula_cli import *
import re

macula, vec_path = sys.argv[1], sys.argv[2]
c = Checks()
tmp = workdir()
keys, key_ids = make_keys(macula, tmp, "ab")
(a_key, b_key), (a_id, b_id) = (keys["a"], keys["b"]), (key_ids["a"], key_ids["b"])

def payload(f):
    m = re.search(r'"payload": h\'([0-9a-f]*)\'', f.get("diag", ""))
    return bytes.fromhex(m.group(1)).decode() if m else None

listen, port, nid = start_listen(macula, a_key, "--echo", "--drain-ms", "300")
target = "127.0.0.1:%d" % port
try:
    rc, evs, lines, err = run([macula, "dial", target, "--key", b_key, "--expect", nid,
                               "--publish", "c1", "--stream-publish", "s1a", "--stream-publish", "s1b",
                               "--publish", "c2", "--next-stream", "--stream-publish", "s2a",
                               "--stream-publish", "s2b", "--stream-publish", "s2c",
                               "--frames", "7", "--close-after", "20000", "--drain-ms", "300"])
    c.check(rc == 0, "dial exits 0 (rc %d, stderr %r)" % (rc, err))
    kinds = [e["event"] for e in evs]
    c.check(kinds[0] == "connected" and kinds[-1] == "disconnected", "dial: connected first, disconnected last: %s" % kinds)
    opened = [e for e in evs if e["event"] == "stream_opened"]
    closed = [e for e in evs if e["event"] == "stream_closed"]
    sids = [e.get("stream") for e in opened]
    c.check(sids == [4, 8], "dial opened streams 4 and 8 (the client's QUIC numbering): %s" % opened)
    c.check(all(e.get("by") == "local" and e.get("peer") == a_id for e in opened), "dial: by local: %s" % opened)
    c.check(sorted(e.get("stream") for e in closed) == [4, 8] and all(e.get("how") == "fin" and "code" not in e
            for e in closed), "dial: each stream closed once with fin (the echo finished it): %s" % closed)
    frames = [e for e in evs if e["event"] == "frame"]
    c.check(all("stream" in f for f in frames), "every frame line carries stream")
    per = {}
    for f in frames:
        per.setdefault(f["stream"], []).append(payload(f))
    c.check(per.get(0) == ["c1", "c2"], "control stream (0): echoed in order: %s" % per.get(0))
    c.check(per.get(4) == ["s1a", "s1b"], "stream 4: echoed on it, in order: %s" % per.get(4))
    c.check(per.get(8) == ["s2a", "s2b", "s2c"], "stream 8: echoed on it, in order: %s" % per.get(8))
    for s in (4, 8):
        i_open = next(i for i, e in enumerate(evs) if e["event"] == "stream_opened" and e["stream"] == s)
        i_close = next(i for i, e in enumerate(evs) if e["event"] == "stream_closed" and e["stream"] == s)
        i_frames = [i for i, e in enumerate(evs) if e["event"] == "frame" and e["stream"] == s]
        c.check(i_open < min(i_frames) and max(i_frames) < i_close, "stream %d: opened, frames, closed in order" % s)
    c.check(evs[-1].get("reason") == "drained", "dial ends drained: %s" % evs[-1])

    d = listen.wait_for(ev_is("disconnected"), 10, "the listener's disconnected")
    mine = listen.matching(lambda e: e.get("conn") == (d or {}).get("conn"))
    kinds = [e["event"] for e in mine]
    c.check(kinds[0] == "connected" and kinds[-1] == "disconnected", "listener: %s" % kinds)
    lo = [e for e in mine if e["event"] == "stream_opened"]
    lc = [e for e in mine if e["event"] == "stream_closed"]
    c.check([e.get("stream") for e in lo] == [4, 8] and all(e.get("by") == "peer" for e in lo),
            "listener: streams 4 and 8 opened by the peer: %s" % lo)
    c.check(sorted(e.get("stream") for e in lc) == [4, 8] and all(e.get("how") == "fin" for e in lc),
            "listener: each closed once with fin: %s" % lc)
    lf = [e for e in mine if e["event"] == "frame" and e.get("frame_type") == "publish"]
    lper = {}
    for f in lf:
        lper.setdefault(f["stream"], []).append(payload(f))
    c.check(lper == {0: ["c1", "c2"], 4: ["s1a", "s1b"], 8: ["s2a", "s2b", "s2c"]},
            "listener: frames per stream in order: %s" % lper)
    c.check(not listen.matching(lambda e: e.get("event") == "diag" and e.get("name") in ("echo_failed", "frame_dropped")),
            "listener: no echo failure, nothing dropped")

    rc, _, hl, _ = run([macula, "dial", "--help"])
    out = "\n".join(hl)
    c.check(rc == 0 and "--stream-publish" in out and "--next-stream" in out, "dial --help documents the stream options")
    rc, _, hl, _ = run([macula, "listen", "--help"])
    out = "\n".join(hl)
    c.check('"event":"stream_closed"' in out and '"by":"peer"' in out, "listen --help shows the stream lines")
finally:
    terminate(listen)
c.done()
PY
