#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `macula dial` / `macula listen` when the session cannot go as asked, over
# real QUIC between processes: a closed port (connect_failed), a refusal
# with its code (listen --refuse), a wrong --expect (the TLS pin fails:
# connect_failed saying pin_mismatch), a listener whose certificate key is
# not its node id (the pin passes, the HELLO does not:
# peer_identity_mismatch), --max-handshaking ("busy"), --close-duplicates
# ("replaced"), and bad usage (exit 2).
set -euo pipefail
: "${MACULA:?}" "${MACULA_VECTORS:?}" "${MACULA_TEST_HELPERS:?}"
exec python3 - "$MACULA" "$MACULA_VECTORS" "$MACULA_TEST_HELPERS" <<'PY'
import socket
import sys
sys.path.insert(0, sys.argv[3])
from macula_cli import *

macula = sys.argv[1]
c = Checks()
tmp = workdir()
keys, ids = make_keys(macula, tmp, "abcd")
procs = []

def dial(port, *extra, key="b", timeout=30):
    return run([macula, "dial", "127.0.0.1:%d" % port, "--key", keys[key], "--drain-ms", "200", *extra], timeout=timeout)

def last_disc(evs):
    d = [e for e in evs if e.get("event") == "disconnected"]
    return d[-1] if d else {}

try:
    # A closed port.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    rc, evs, _, err = dial(closed, "--timeout-ms", "3000")
    d = last_disc(evs)
    c.check(rc == 1 and d.get("reason") == "connect_failed", "closed port: connect_failed, exit 1 (%d %s)" % (rc, d))
    c.check("connect_failed" in err, "closed port: the reason on stderr")
    c.check(d.get("cause") == "refused", "closed port: cause refused (%s)" % d)
    c.check(not [e for e in evs if e.get("event") == "connected"], "closed port: never connected")

    # Refused with a code: both sides.
    lr, port, _ = start_listen(macula, keys["a"], "--refuse", "7", "--drain-ms", "200", name="listen-refuse")
    procs.append(lr)
    rc, evs, _, err = dial(port)
    d = last_disc(evs)
    c.check(rc == 1 and d.get("reason") == "refused" and d.get("refusal_code") == 7,
            "refused with code 7, exit 1 (%d %s)" % (rc, d))
    c.check("refused" in err, "refused: on stderr")
    ld = lr.wait_for(ev_is("disconnected"), 10, "listener's refused")
    c.check(ld and ld.get("reason") == "refused" and ld.get("refusal_code") == 7, "listener: refused 7 (%s)" % ld)
    c.check(lr.wait_for(lambda e: e.get("event") == "diag" and e.get("name") == "peer_refused", 5) is not None,
            "listener: a peer_refused diagnostic")

    # A wrong --expect: the TLS pin fails before any frame.
    la, port_a, nid_a = start_listen(macula, keys["a"], "--drain-ms", "200", name="listen-a")
    procs.append(la)
    rc, evs, _, err = dial(port_a, "--expect", ids["c"])
    d = last_disc(evs)
    c.check(rc == 1 and d.get("reason") == "connect_failed" and "pin_mismatch" in d.get("detail", ""),
            "wrong --expect: connect_failed saying pin_mismatch (%d %s)" % (rc, d))
    c.check(d.get("cause") == "pin_mismatch", "wrong --expect: cause pin_mismatch (%s)" % d)
    rc, evs, _, err = dial(port_a, "--expect", nid_a, "--close-after", "50")
    c.check(rc == 0 and last_disc(evs).get("reason") == "drained", "right --expect: ok (%d %s)" % (rc, err))
    c.check(last_disc(evs).get("cause") == "ok", "right --expect: cause ok (%s)" % last_disc(evs))

    # The certificate is c's, the HELLO a's: --expect c passes TLS, not HELLO.
    cert, ckey = os.path.join(tmp, "c.pem"), os.path.join(tmp, "c-key.pem")
    subprocess.run([macula, "key", "cert", keys["c"], "--cert-out", cert, "--key-out", ckey], check=True,
                   stdout=subprocess.DEVNULL)
    lm, port_m, _ = start_listen(macula, keys["a"], "--cert", cert, "--cert-key", ckey, name="listen-mismatch")
    procs.append(lm)
    rc, evs, _, err = dial(port_m, "--expect", ids["c"])
    d = last_disc(evs)
    c.check(rc == 1 and d.get("reason") == "peer_identity_mismatch", "HELLO from another node: mismatch (%d %s)" % (rc, d))
    c.check(d.get("cause") == "identity_mismatch", "HELLO from another node: cause identity_mismatch (%s)" % d)
    c.check(ids["a"] in d.get("detail", "") and ids["c"] in d.get("detail", ""), "mismatch detail names both ids")

    # --max-handshaking 1: a raw QUIC connection that never sends CONNECT
    # holds the only place; a dial meanwhile is turned away "busy".
    lb, port_b, _ = start_listen(macula, keys["a"], "--max-handshaking", "1", "--handshake-timeout-ms", "1500",
                                 name="listen-busy")
    procs.append(lb)
    raw = subprocess.Popen([macula, "quic", "dial", "127.0.0.1:%d" % port_b], stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(raw)
    time.sleep(1.0)  # its QUIC handshake takes milliseconds; its worker then waits for CONNECT
    rc, evs, _, err = dial(port_b)
    d = last_disc(evs)
    c.check(rc == 1 and "busy" in d.get("detail", ""), "beyond --max-handshaking: busy (%d %s)" % (rc, d))
    c.check(lb.wait_for(lambda e: e.get("name") == "listener_busy", 5) is not None, "listener: listener_busy diagnostic")
    t = lb.wait_for(ev_is("disconnected", reason="handshake_timeout"), 10, "the raw connection's timeout")
    c.check(t is not None, "the silent connection ends handshake_timeout")
    rc, evs, _, err = dial(port_b, "--close-after", "50")
    c.check(rc == 0, "room again after the timeout (%d %s)" % (rc, err))
    raw.stdin.close()
    raw.wait(10)

    # --close-duplicates: a second session of the same node replaces the first.
    ld2, port_d, _ = start_listen(macula, keys["a"], "--close-duplicates", "--drain-ms", "200", name="listen-dups")
    procs.append(ld2)
    first = Proc([macula, "dial", "127.0.0.1:%d" % port_d, "--key", keys["d"], "--close-after", "30000"], name="first")
    procs.append(first)
    c.check(first.wait_for(ev_is("connected"), 10) is not None, "first session up")
    rc, evs, _, err = dial(port_d, "--close-after", "1000", key="d")
    c.check(rc == 0, "second session of the same node: ok (%d %s)" % (rc, err))
    g = first.wait_for(ev_is("frame", frame_type="goodbye"), 10, "GOODBYE replaced")
    c.check(g is not None and '"reason": "replaced"' in g["diag"], "the first gets GOODBYE replaced")
    c.check(first.wait(10) == 1 and first.events[-1].get("reason") == "peer_closed", "the first ends peer_closed")

    # Bad usage: exit 2, nothing dialed.
    for args in (["dial"], ["dial", "127.0.0.1:1"], ["dial", "127.0.0.1:0", "--key", keys["b"]],
                 ["dial", "127.0.0.1:1", "--key", keys["b"], "--expect", "abcd"],
                 ["dial", "127.0.0.1:1", "--key", keys["b"], "--send", "00000001"],
                 ["dial", "127.0.0.1:1", "--key", keys["b"], "--realm", "00"],
                 ["dial", "127.0.0.1:1", "--key", keys["b"], "--bogus"],
                 ["dial", "127.0.0.1:1", "--key", os.path.join(tmp, "missing.key")],
                 ["listen", "--key", keys["a"]], ["listen", "--listen", "nonsense", "--key", keys["a"]],
                 ["listen", "--listen", "127.0.0.1:0", "--key", keys["a"], "--cert", cert]):
        rc, evs, _, err = run([macula, *args], timeout=10)
        c.check(rc == 2 and not evs, "usage %s: exit 2 (%d, %s)" % (args[:3], rc, err.strip()[:80]))
    rc, _, lines, _ = run([macula, "dial", "--help"])
    c.check(rc == 0 and any("--publish TEXT" in l for l in lines), "dial --help")
    rc, _, lines, _ = run([macula, "listen", "--help"])
    c.check(rc == 0 and any('"event":"disconnected"' in l for l in lines), "listen --help documents the lines")
finally:
    for p in procs:
        if isinstance(p, Proc):
            p.kill()
        elif p.poll() is None:
            p.kill()
            p.wait()
c.done()
PY
