#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Hostile peers against `macula listen`, each a separate process speaking
# raw QUIC (`macula quic dial`, stdin copied to the stream) or a `macula
# dial` that gets killed: a bogus 4 GiB length (frame_too_large), an
# unsigned CONNECT and a CONNECT signed by another key
# (connect_verify_failed), a peer that never sends CONNECT
# (handshake_timeout), a valid CONNECT followed in the same write by an
# undecodable frame and a PUBLISH (the bad frame is dropped with a
# diagnostic, the PUBLISH delivered after connected), a raw peer that ends
# its stream before CONNECT (closed_during_handshake), and a peer process
# killed mid-session (peer_closed at the idle timeout).
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
a_key, b_key, b_id = keys["a"], keys["b"], key_ids["b"]
alice = ids["alice"]["pubkey_hex"]

listen, port, _ = start_listen(macula, a_key, "--handshake-timeout-ms", "700", "--idle-timeout-ms", "1000",
                               "--drain-ms", "200")
target = "127.0.0.1:%d" % port
raws = []

def raw(data, keep_open=False):
    """A raw QUIC peer sending `data`; with keep_open its stdin stays open."""
    p = subprocess.Popen([macula, "quic", "dial", target, "--timeout-ms", "5000"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    raws.append(p)
    p.stdin.write(data)
    p.stdin.flush()
    if not keep_open:
        p.stdin.close()
    return p

seen = set()
def next_disconnected(what):
    """The next listener 'disconnected' line not looked at yet."""
    ev = listen.wait_for(lambda e: e.get("event") == "disconnected" and e["conn"] not in seen, 15, what)
    if ev:
        seen.add(ev["conn"])
    return ev or {}

def with_len(body_hex):
    body = bytes.fromhex(body_hex)
    return len(body).to_bytes(4, "big") + body

try:
    # A bogus 4 GiB length.
    raw(b"\xff\xff\xff\xff" + b"junk")
    d = next_disconnected("frame_too_large")
    c.check(d.get("reason") == "frame_too_large", "4 GiB length: %s" % d)

    # An unsigned CONNECT (the reference's CONNECT without its signature).
    raw(with_len(vecs["connect_empty_realms"]["unsigned_cbor_hex"]))
    d = next_disconnected("unsigned CONNECT")
    c.check(d.get("reason") == "connect_verify_failed" and "signature" in d.get("detail", ""), "unsigned CONNECT: %s" % d)

    # alice's CONNECT re-signed with bob's seed: node_id alice, signature bob.
    rc, _, lines, err = run([macula, "frame", "resign", ids["bob"]["seed_hex"], vecs["connect_empty_realms"]["wire_hex"]])
    c.check(rc == 0 and lines, "resign works (%s)" % err)
    raw(bytes.fromhex(lines[0].strip()))
    d = next_disconnected("CONNECT signed by another key")
    c.check(d.get("reason") == "connect_verify_failed" and "verify" in d.get("detail", ""), "other key: %s" % d)

    # Silence: QUIC up, no CONNECT.
    t0 = time.monotonic()
    raw(b"", keep_open=True)
    d = next_disconnected("handshake_timeout")
    c.check(d.get("reason") == "handshake_timeout", "silent peer: %s" % d)
    c.check(time.monotonic() - t0 < 8, "within the handshake timeout")

    # A valid CONNECT (alice's vector), an undecodable frame, a PUBLISH: one write.
    bad = b"\x00\x00\x00\x03\xa1\x01\x02"  # a map with an integer key
    p = raw(bytes.fromhex(vecs["connect_empty_realms"]["wire_hex"]) + bad +
            bytes.fromhex(vecs["publish_simple"]["wire_hex"]), keep_open=True)
    conn = listen.wait_for(lambda e: e.get("event") == "connected" and e.get("peer") == alice, 10, "alice connected")
    c.check(conn is not None, "the vector CONNECT is accepted")
    cn = (conn or {}).get("conn")
    f = listen.wait_for(ev_is("frame", conn=cn), 10, "the PUBLISH")
    c.check(f is not None and f.get("frame_type") == "publish", "the PUBLISH after the bad frame is delivered")
    dd = listen.wait_for(lambda e: e.get("event") == "diag" and e.get("name") == "frame_dropped" and
                         e["fields"].get("peer") == str(cn), 5, "frame_dropped")
    c.check(dd is not None and dd["fields"].get("state") == "connected", "the bad frame: frame_dropped diag %s" % dd)
    p.kill()  # the raw peer vanishes: idle timeout
    d = next_disconnected("idle")
    c.check(d.get("conn") == cn and d.get("reason") == "peer_closed" and "idle" in d.get("detail", ""),
            "vanished raw peer: peer_closed at the idle timeout: %s" % d)

    # The peer ends its stream before any frame (stdin at EOF: FIN at once).
    raw(b"")
    d = next_disconnected("closed during handshake")
    c.check(d.get("reason") == "closed_during_handshake" and "finished" in d.get("detail", ""),
            "stream finished before CONNECT: %s" % d)

    # A real peer process killed mid-session.
    dial = Proc([macula, "dial", target, "--key", b_key, "--close-after", "60000", "--publish", "x"], name="dial")
    c.check(dial.wait_for(ev_is("connected"), 10) is not None, "dial connected")
    c.check(listen.wait_for(lambda e: e.get("event") == "frame" and e.get("peer") == b_id, 10) is not None,
            "its frame arrived")
    dial.kill()
    d = next_disconnected("killed peer")
    c.check(d.get("peer") == b_id and d.get("reason") == "peer_closed" and "idle" in d.get("detail", ""),
            "killed peer: peer_closed (idle timeout): %s" % d)

    # The listener survived all of it.
    rc, evs, _, err = run([macula, "dial", target, "--key", b_key, "--close-after", "50", "--drain-ms", "100"])
    c.check(rc == 0, "a normal peer still gets through (%d %s)" % (rc, err))
finally:
    for p in raws:
        if p.poll() is None:
            p.kill()
        p.wait()
    listen.signal(signal.SIGTERM)
    c.check(listen.wait(10) == 0, "listen exits 0")
c.done()
PY
