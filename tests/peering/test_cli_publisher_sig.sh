#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Macula 10's publisher_sig through two `macula` processes on loopback
# (`macula listen --echo`, `macula dial`): --publish frames carry a valid
# publisher_sig by default and none with --no-publisher-sig; the frame
# event lines say "publisher_sig":"valid"/"invalid" for PUBLISH/EVENT
# frames that carry one and leave the key out otherwise; the v10 vectors
# sent as they are (one with a damaged publisher_sig, which the frame
# signature does not cover) are delivered and judged on both sides.
set -euo pipefail
: "${MACULA:?}" "${MACULA_VECTORS_V10:?}" "${MACULA_TEST_HELPERS:?}"
exec python3 - "$MACULA" "$MACULA_VECTORS_V10" "$MACULA_TEST_HELPERS" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[3])
from macula_cli import *

macula = sys.argv[1]
with open(sys.argv[2]) as f:
    vecs = {v["name"]: v for v in json.load(f)["vectors"]}
c = Checks()
tmp = workdir()
keys, key_ids = make_keys(macula, tmp, "ab")

listen, port, nid = start_listen(macula, keys["a"], "--echo", "--drain-ms", "200", "--wire")
target = "127.0.0.1:%d" % port
pub2, ev2, ping = vecs["publish_2"]["wire_hex"], vecs["event_2"]["wire_hex"], vecs["ping"]["wire_hex"]
sig = vecs["publish_2"]["publisher_sig_hex"]
damaged = pub2.replace(sig, sig[:20] + ("%02x" % (int(sig[20:22], 16) ^ 1)) + sig[22:])
assert damaged != pub2

def dial(*extra, frames):
    rc, evs, _, err = run([macula, "dial", target, "--key", keys["b"], *extra, "--frames", str(frames),
                           "--close-after", "20000", "--drain-ms", "200", "--wire"])
    c.check(rc == 0, "dial %s exits 0 (rc %d, %r)" % (" ".join(extra)[:40], rc, err))
    return [e for e in evs if e["event"] == "frame"]

try:
    # default: PUBLISH with a valid publisher_sig, echoed back
    got = dial("--publish", "hello", "--publish", "world", frames=2)
    c.check([f.get("frame_type") for f in got] == ["publish", "publish"], "two PUBLISH echoed")
    for f in got:
        c.check(f.get("publisher_sig") == "valid", "--publish carries a valid publisher_sig: %s" % f)
        c.check('"publisher_sig": h\'' in f.get("diag", ""), "publisher_sig is in the diag")
        rc, _, out, _ = run([macula, "frame", "verify-publisher", f.get("wire", "")])
        c.check(rc == 0 and out[-1:] == ["ok"], "the echoed wire's publisher_sig verifies: %s" % out)
        rc, _, out, _ = run([macula, "frame", "verify", f.get("wire", ""), key_ids["b"]])
        c.check(rc == 0 and out[-1:] == ["ok"], "and the frame is signed by the dialer: %s" % out)

    # --no-publisher-sig: the 4.3.0 field set, no key on the line
    got = dial("--no-publisher-sig", "--publish", "plain", frames=1)
    c.check(len(got) == 1 and "publisher_sig" not in got[0], "--no-publisher-sig: no publisher_sig key: %s" % got)
    c.check(len(got) == 1 and "publisher_sig" not in got[0].get("diag", "x"), "--no-publisher-sig: none in the diag")

    # ready frames: valid PUBLISH, EVENT, damaged publisher_sig, a PING
    got = dial("--send", pub2, "--send", ev2, "--send", damaged, "--send", ping, frames=4)
    c.check([f.get("frame_type") for f in got] == ["publish", "event", "publish", "ping"], "four frames echoed")
    c.check([f.get("publisher_sig") for f in got] == ["valid", "valid", "invalid", None],
            "publisher_sig judged: %s" % [f.get("publisher_sig") for f in got])
    c.check([f.get("wire") for f in got] == [pub2, ev2, damaged, ping], "the frames travel byte for byte")

    # the listener judged them the same way
    d = listen.wait_for(lambda e: e.get("event") == "frame" and e.get("frame_type") == "ping", 10, "the PING")
    seen = [e for e in listen.matching(lambda e: e.get("event") == "frame" and e.get("conn") == (d or {}).get("conn"))]
    c.check([e.get("publisher_sig") for e in seen[:4]] == ["valid", "valid", "invalid", None],
            "listener's lines: %s" % [e.get("publisher_sig") for e in seen[:4]])
finally:
    terminate(listen)
c.done()
PY
