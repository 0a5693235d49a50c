#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `macula demo`: exit 0, every event line is JSON with a side, and the log
# shows the whole script: both sides connected to each other's node id,
# the accept owner's handshake_complete, a PUBLISH each way plus the echo,
# the GOODBYE with the demo's reason, the dialer drained and the listener's
# worker saw the peer close; then the summary line.
. "$MACULA_TEST_HELPERS/interop.sh"
out=$T_DIR/demo.out

timeout 60 "$MACULA" demo --drain-ms 100 >"$out" || t_fail "macula demo exited $?: $(cat "$out")"
python3 - "$out" <<'PY' || t_fail "the event log does not show the demo: $(cat "$out")"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines[0].startswith("macula demo:"), lines[0]
assert lines[-1].startswith("demo ok: handshake "), lines[-1]
assert "dialer->listener 2 frames" in lines[-1] and "listener->dialer 2 frames" in lines[-1], lines[-1]
assert "ended: dialer drained, listener peer_closed" in lines[-1], lines[-1]
ev = [json.loads(l) for l in lines[1:-1]]
for e in ev:
    assert e["side"] in ("dialer", "listener"), e
def of(side, name):
    return [e for e in ev if e["side"] == side and e["event"] == name]
lst, = of("listener", "listening")
dia, = of("dialer", "dialing")
assert dia["port"] == lst["port"]
c_dialer, = of("dialer", "connected")
c_listener, = of("listener", "connected")
assert c_dialer["peer"] == lst["node_id"] and c_listener["peer"] == dia["node_id"]
hc, = of("listener", "handshake_complete")
assert hc["peer"] == dia["node_id"]
types = lambda side: [e["frame_type"] for e in of(side, "frame")]
assert types("dialer") == ["publish", "publish"], types("dialer")
assert types("listener") == ["publish", "goodbye"], types("listener")
assert '"reason": "demo finished"' in of("listener", "frame")[1]["diag"]
# the echo is the dialer's own frame, byte for byte
sent = of("listener", "frame")[0]["diag"]
assert sent in [e["diag"] for e in of("dialer", "frame")]
d_end, = of("dialer", "disconnected")
l_end, = of("listener", "disconnected")
assert d_end["reason"] == "drained" and l_end["reason"] == "peer_closed"
# per side: connected first, disconnected last
for side in ("dialer", "listener"):
    seq = [e["event"] for e in ev if e["side"] == side and e["event"] in ("connected", "frame", "disconnected")]
    assert seq[0] == "connected" and seq[-1] == "disconnected" and seq.count("disconnected") == 1, seq
PY
t_expect_exit 2 "^usage: macula demo" "$MACULA" demo --bogus
echo ok
