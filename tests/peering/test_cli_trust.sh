#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `macula dial --verify pin|pki|none` against `macula listen --station`
# serving a CA-issued chain (PROTOCOL.md 6.4, 6.5), over real QUIC between
# processes. The PKI is made here with the openssl CLI: a root CA, an
# intermediate CA and a P-256 leaf for 127.0.0.1 / localhost; the listener
# serves leaf + intermediate with --cert/--cert-key while its node key
# (--key) signs the HELLO. Checked: pki with --ca and --expect (HELLO
# check), pki with --server-name (right and wrong), pki against the system
# store (fails), the default pin with --expect (pin_mismatch), HELLO
# mismatches under pki and none, dial's diag lines (tls_unverified_peer),
# the station's answer to a CALL _macula.ping sent with --send (and no
# answer without --station), and the usage errors of the new options.
set -euo pipefail
: "${MACULA:?}" "${MACULA_VECTORS_V10:?}" "${MACULA_TEST_HELPERS:?}"
command -v openssl >/dev/null || { echo "SKIP: openssl is not installed"; exit 77; }
exec python3 - "$MACULA" "$MACULA_VECTORS_V10" "$MACULA_TEST_HELPERS" <<'PY'
import json
import sys
sys.path.insert(0, sys.argv[3])
from macula_cli import *

macula = sys.argv[1]
c = Checks()
tmp = workdir()
keys, ids = make_keys(macula, tmp, "abm")
procs = []


def path(name):
    return os.path.join(tmp, name)


def ossl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def ext_file(name, lines):
    with open(path(name), "w") as f:
        f.write("\n".join(lines) + "\n")
    return path(name)


def new_key_csr(name, cn):
    ossl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", path(name + ".key"), "-out", path(name + ".csr"), "-subj", "/CN=" + cn)


def sign(name, issuer, ext):
    ossl("x509", "-req", "-in", path(name + ".csr"), "-CA", path(issuer + ".pem"), "-CAkey", path(issuer + ".key"),
         "-set_serial", str(abs(hash(name)) % 100000 + 2), "-days", "2", "-out", path(name + ".pem"), "-extfile", ext)


# root -> intermediate -> leaf (127.0.0.1, localhost)
ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
     "-keyout", path("root.key"), "-out", path("root.pem"), "-days", "2", "-subj", "/CN=macula test root",
     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
new_key_csr("inter", "macula test intermediate")
sign("inter", "root", ext_file("inter.ext", ["basicConstraints=critical,CA:TRUE,pathlen:0",
                                              "keyUsage=critical,keyCertSign,cRLSign",
                                              "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid"]))
new_key_csr("leaf", "macula test station")
sign("leaf", "inter", ext_file("leaf.ext", ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
                                            "extendedKeyUsage=serverAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                                            "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid"]))
with open(path("chain.pem"), "w") as out:
    for part in ("leaf.pem", "inter.pem"):
        with open(path(part)) as f:
            out.write(f.read())

# A 10.0.0 CALL to _macula.ping: the v10 "call" vector (procedure
# "rig.echo", call_id 00..11) with its procedure replaced, re-signed.
with open(sys.argv[2]) as f:
    v10 = {v["name"]: v for v in json.load(f)["vectors"]}
call = v10["call"]
body = bytes.fromhex(call["wire_hex"])[4:]
old, new = b"\x48rig.echo", b"\x4c_macula.ping"
assert body.count(old) == 1
body = body.replace(old, new)
rc, _, lines, err = run([macula, "frame", "resign", call["seed_hex"], (len(body).to_bytes(4, "big") + body).hex()])
c.check(rc == 0 and lines, "resign the probe (%s)" % err)
ping_hex = lines[0].strip()
call_id = "00000000000000000000000000000011"


def dial(port, *extra, timeout=30):
    return run([macula, "dial", "127.0.0.1:%d" % port, "--key", keys["a"], "--drain-ms", "200",
                "--close-after", "100", "--timeout-ms", "5000", *extra], timeout=timeout)


def last_disc(evs):
    d = [e for e in evs if e.get("event") == "disconnected"]
    return d[-1] if d else {}


def connected_to(evs):
    e = [e for e in evs if e.get("event") == "connected"]
    return e[0].get("peer") if e else None


try:
    ls, port, nid = start_listen(macula, keys["b"], "--station", "--cert", path("chain.pem"),
                                 "--cert-key", path("leaf.key"), "--drain-ms", "200", name="listen-station")
    procs.append(ls)
    c.check(nid == ids["b"], "the listener's node id is its --key's")

    # pki + --ca + --expect: the chain and 127.0.0.1 verified, the HELLO checked.
    rc, evs, _, err = dial(port, "--verify", "pki", "--ca", path("root.pem"), "--expect", nid)
    c.check(rc == 0 and connected_to(evs) == nid and last_disc(evs).get("reason") == "drained",
            "pki + --ca + --expect: connected to the node (%d %s)" % (rc, err.strip()))
    rc, evs, _, err = dial(port, "--verify", "pki", "--ca", path("root.pem"), "--server-name", "localhost")
    c.check(rc == 0 and connected_to(evs) == nid, "pki + --server-name localhost (%d %s)" % (rc, err.strip()))
    rc, evs, _, err = dial(port, "--verify", "pki", "--ca", path("root.pem"), "--server-name", "wrong.example")
    d = last_disc(evs)
    c.check(rc == 1 and d.get("reason") == "connect_failed" and "rejected" in d.get("detail", ""),
            "pki + a wrong host name: connect_failed (%d %s)" % (rc, d))
    rc, evs, _, err = dial(port, "--verify", "pki")
    d = last_disc(evs)
    c.check(rc == 1 and d.get("reason") == "connect_failed" and "rejected" in d.get("detail", ""),
            "pki against the system store: connect_failed (%d %s)" % (rc, d))
    c.check(connected_to(evs) is None, "system store: never connected")
    rc, evs, _, err = dial(port, "--verify", "pki", "--ca", path("inter.pem") + ".missing")
    d = last_disc(evs)
    c.check(rc == 1 and "inter.pem.missing" in d.get("detail", ""), "an unreadable --ca is named (%d %s)" % (rc, d))

    # --expect alone pins the TLS key: the leaf's key is not the node's.
    rc, evs, _, err = dial(port, "--expect", nid)
    d = last_disc(evs)
    c.check(rc == 1 and d.get("reason") == "connect_failed" and "pin_mismatch" in d.get("detail", ""),
            "default pin with --expect: pin_mismatch (%d %s)" % (rc, d))
    rc, evs, _, err = dial(port, "--verify", "pin", "--expect", nid)
    c.check(rc == 1 and "pin_mismatch" in last_disc(evs).get("detail", ""), "--verify pin: pin_mismatch")

    # The HELLO check under pki and none.
    rc, evs, _, err = dial(port, "--verify", "pki", "--ca", path("root.pem"), "--expect", ids["m"])
    d = last_disc(evs)
    c.check(rc == 1 and d.get("reason") == "peer_identity_mismatch" and ids["m"] in d.get("detail", ""),
            "pki + another --expect: peer_identity_mismatch (%d %s)" % (rc, d))
    rc, evs, _, err = dial(port, "--verify", "none", "--expect", nid)
    c.check(rc == 0 and connected_to(evs) == nid, "none + --expect: connected (%d %s)" % (rc, err.strip()))
    diag = [e for e in evs if e.get("event") == "diag" and e.get("name") == "tls_unverified_peer"]
    c.check(len(diag) == 1 and diag[0].get("fields", {}).get("host") == "127.0.0.1",
            "dial prints the runtime's diagnostics as diag lines (%s)" % diag)
    rc, evs, _, err = dial(port, "--verify", "none", "--expect", ids["m"])
    c.check(rc == 1 and last_disc(evs).get("reason") == "peer_identity_mismatch",
            "none + another --expect: peer_identity_mismatch (%d)" % rc)

    # The station: bit 0 announced, the probe answered with ERROR 1 and its call_id.
    rc, evs, _, err = dial(port, "--verify", "pki", "--ca", path("root.pem"), "--expect", nid,
                           "--send", ping_hex, "--frames", "1", "--close-after", "5000")
    frames = [e for e in evs if e.get("event") == "frame"]
    c.check(rc == 0 and len(frames) == 1 and frames[0].get("frame_type") == "error",
            "the probe is answered with an ERROR (%d %s)" % (rc, frames))
    ediag = frames[0].get("diag", "") if frames else ""
    c.check('"code": 1' in ediag and '"name": "unknown_next_peer"' in ediag and
            ('"call_id": h\'%s\'' % call_id) in ediag and ('"reported_by": h\'%s\'' % nid) in ediag,
            "ERROR code 1 unknown_next_peer, same call_id, reported by the node (%s)" % ediag)
    got = ls.wait_for(ev_is("frame", frame_type="call"), 10, "the CALL at the station")
    c.check(got is not None and ("\"procedure\": h'%s'" % b"_macula.ping".hex()) in got.get("diag", ""),
            "the station's application sees the CALL too")
    # Without --station the same probe goes unanswered: the dial waits for
    # its one frame in vain and closes after --close-after.
    lp, port_p, nid_p = start_listen(macula, keys["m"], "--drain-ms", "200", name="listen-plain")
    procs.append(lp)
    rc, evs, _, err = dial(port_p, "--expect", nid_p, "--send", ping_hex, "--frames", "1", "--close-after", "1500")
    c.check(rc == 0 and not [e for e in evs if e.get("event") == "frame"], "no station: no answer (%d)" % rc)
    c.check(lp.wait_for(ev_is("frame", frame_type="call"), 10, "the CALL at the plain listener") is not None,
            "the plain listener got the CALL")
    rc, _, lines, _ = run([macula, "listen", "--help"])
    c.check(rc == 0 and any("--station" in l for l in lines), "listen --help documents --station")

    # Usage errors: exit 2, nothing dialed.
    for args in (["--verify", "pin"], ["--verify", "bogus"], ["--verify"], ["--ca", path("root.pem")],
                 ["--verify", "none", "--ca", path("root.pem")]):
        rc, evs, _, err = run([macula, "dial", "127.0.0.1:1", "--key", keys["a"], *args], timeout=10)
        c.check(rc == 2 and not evs, "usage %s: exit 2 (%d, %s)" % (args, rc, err.strip()[:80]))
finally:
    for p in procs:
        p.kill()
c.done()
PY
