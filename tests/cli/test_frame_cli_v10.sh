#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `macula frame decode|verify|verify-publisher|resign` over every vector and
# decode case of frames-v10.json (Macula 10.0.0), as a script would drive
# them: the frame signature leaves out publisher_sig, resign keeps it, and
# verify-publisher answers ok / signature_invalid / no_publisher_sig /
# bad_frame. Wires for the invalid and absent cases are made here by byte
# surgery on the vectors' wires, not by the program under test.
set -euo pipefail
: "${MACULA:?path of the macula program}" "${MACULA_VECTORS_V10:?path of frames-v10.json}"
: "${MACULA_VECTORS:?path of frames.json (another identity)}" "${MACULA_TEST_HELPERS:?}"
exec python3 - "$MACULA" "$MACULA_VECTORS_V10" "$MACULA_VECTORS" "$MACULA_TEST_HELPERS" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[4])
from macula_cli import Checks, top_level_entries
from macula_cli import run as run_cmd

macula = sys.argv[1]
with open(sys.argv[2]) as f:
    doc = json.load(f)
with open(sys.argv[3]) as f:
    ids = json.load(f)["identities"]
c = Checks()
check = c.check

def run(*args, stdin=None):
    rc, _, out, err = run_cmd([macula, *args], timeout=60, stdin=stdin)
    return rc, out, err

def canon_key(k):
    """Canonical order of text keys: by encoded bytes, i.e. shorter first."""
    b = k.encode()
    return (len(b), b)

def signed_diag(v):
    """The vector's diag (without signature, wire order) with the signature
    entry put where canonical order puts it."""
    entries = top_level_entries(v["diag"])
    keys = [json.loads(e.split(": ", 1)[0]) for e in entries]
    check(keys == sorted(keys, key=canon_key), v["name"] + ": diag keys are in canonical order")
    at = len([k for k in keys if canon_key(k) < canon_key("signature")])
    entries.insert(at, '"signature": h\'%s\'' % v["signature_hex"])
    return "{" + ", ".join(entries) + "}"

# --- byte surgery on wire hex (top-level map of text keys) ---
def head(b, i):
    """(major, argument, offset after the head) of the CBOR head at b[i]."""
    major, ai = b[i] >> 5, b[i] & 31
    if ai < 24:
        return major, ai, i + 1
    n = 1 << (ai - 24)
    return major, int.from_bytes(b[i + 1:i + 1 + n], "big"), i + 1 + n

def item_end(b, i):
    """Offset after the item starting at b[i] (definite lengths only)."""
    major, arg, j = head(b, i)
    if major in (2, 3):
        return j + arg
    if major == 4:
        for _ in range(arg): j = item_end(b, j)
        return j
    if major == 5:
        for _ in range(2 * arg): j = item_end(b, j)
        return j
    if major == 7 and b[i] == 0xfb:
        return i + 9
    return j

def entries_of(wire):
    """[(key, key_offset, value_offset, value_end)] of the frame's map."""
    b = bytes.fromhex(wire)
    major, n, j = head(b, 4)
    assert major == 5
    out = []
    for _ in range(n):
        _, klen, ks = head(b, j)
        key = b[ks:ks + klen].decode()
        vs = ks + klen
        ve = item_end(b, vs)
        out.append((key, j, vs, ve))
        j = ve
    assert j == len(b)
    return b, out

def map_head(n):
    return bytes([0xa0 | n]) if n < 24 else bytes([0xb8, n])

def without_key(wire, key):
    """The wire with one top-level entry removed (count and length fixed)."""
    b, ents = entries_of(wire)
    body = b"".join(b[k:ve] for (name, k, _, ve) in ents if name != key)
    body = map_head(len([e for e in ents if e[0] != key])) + body
    return (len(body).to_bytes(4, "big") + body).hex()

def flip_in_value(wire, key, at=0):
    """The wire with one content byte of a byte-string field flipped."""
    b, ents = entries_of(wire)
    (_, _, vs, ve), = [e for e in ents if e[0] == key]
    major, _, cs = head(b, vs)
    assert major == 2 and cs + at < ve
    b = bytearray(b)
    b[cs + at] ^= 0x01
    return b.hex()

first = doc["vectors"][0]
other = [i for i in ids if i["pubkey_hex"] != first["pubkey_hex"]][0]
n_pub = 0
check(len(doc["vectors"]) == 53, "53 vectors")
for v in doc["vectors"]:
    name, wire, pk = v["name"], v["wire_hex"], v["pubkey_hex"]
    ftype = v["frame_type"]
    # decode: the diag with the signature in its wire place
    rc, out, _ = run("frame", "decode", wire)
    check(rc == 0 and out == [signed_diag(v)], name + ": decode prints the signed diag")
    rc, out, _ = run("frame", "decode", "-", stdin=wire + "00ff")
    check(rc == 0 and out == [signed_diag(v), "rest 00ff"], name + ": decode from stdin with a rest")
    # verify
    rc, out, _ = run("frame", "verify", wire, pk)
    check(rc == 0 and out[-1:] == ["ok"], name + ": verify ok")
    rc, out, _ = run("frame", "verify", wire, other["pubkey_hex"])
    check(rc == 1 and out[-1:] == ["error signature_invalid"], name + ": verify with another key")
    # resign: byte for byte with the vector's seed (publisher_sig kept)
    rc, out, _ = run("frame", "resign", v["seed_hex"], wire)
    check(rc == 0 and out == [wire], name + ": resign equals the input")
    rc, out, _ = run("frame", "resign", other["seed_hex"], wire)
    check(rc == 0 and len(out) == 1 and out[0] != wire and len(out[0]) == len(wire), name + ": resign, other seed")
    resigned = out[0] if rc == 0 and out else ""
    rc, o, _ = run("frame", "verify", resigned, other["pubkey_hex"])
    check(rc == 0 and o[-1:] == ["ok"], name + ": re-signed frame verifies with the new key")
    # verify-publisher
    rc, out, _ = run("frame", "verify-publisher", wire)
    if "publisher_sig_hex" in v:
        n_pub += 1
        check(rc == 0 and out[-1:] == ["ok"], name + ": verify-publisher ok")
        check(v["publisher_sig_hex"] in wire, name + ": publisher_sig is on the wire")
        # the relay's re-signed frame keeps the publisher's signature
        rc, out, _ = run("frame", "verify-publisher", resigned)
        check(rc == 0 and out[-1:] == ["ok"], name + ": publisher_sig survives re-signing with another key")
        # a flipped publisher_sig byte: publisher invalid, frame signature unaffected
        bad = flip_in_value(wire, "publisher_sig", 10)
        rc, out, _ = run("frame", "verify-publisher", bad)
        check(rc == 1 and out[-1:] == ["error signature_invalid"], name + ": flipped publisher_sig is invalid")
        rc, out, _ = run("frame", "verify", bad, pk)
        check(rc == 0 and out[-1:] == ["ok"], name + ": the frame signature does not cover publisher_sig")
        # a flipped payload byte: both break
        bad = flip_in_value(wire, "payload")
        rc, out, _ = run("frame", "verify-publisher", bad)
        check(rc == 1 and out[-1:] == ["error signature_invalid"], name + ": flipped payload, publisher invalid")
        rc, out, _ = run("frame", "verify", bad, pk)
        check(rc == 1 and out[-1:] == ["error signature_invalid"], name + ": flipped payload, frame invalid")
        # publisher_sig removed: absent, and the frame signature still holds
        gone = without_key(wire, "publisher_sig")
        check(len(gone) == len(wire) - 2 * (1 + 13 + 2 + 64), name + ": publisher_sig entry removed")
        rc, out, _ = run("frame", "verify-publisher", gone)
        check(rc == 1 and out[-1:] == ["error no_publisher_sig"], name + ": verify-publisher without it")
        rc, out, _ = run("frame", "verify", gone, pk)
        check(rc == 0 and out[-1:] == ["ok"], name + ": frame verifies without publisher_sig")
        # publisher missing: nothing to check with
        rc, out, _ = run("frame", "verify-publisher", without_key(wire, "publisher"))
        check(rc == 1 and out[-1:] == ["error bad_frame"], name + ": verify-publisher without publisher")
    elif ftype in ("publish", "event"):
        check(rc == 1 and out[-1:] == ["error no_publisher_sig"], name + ": verify-publisher, none carried")
    else:
        check(rc == 1 and out[-1:] == ["error bad_frame"], name + ": verify-publisher on a " + ftype)
check(n_pub == 2, "two vectors carry publisher_sig")

# integers at the edges of the CBOR range
check(len(doc["decode_cases"]) >= 4, "decode cases present")
for d in doc["decode_cases"]:
    name, hx, want = d["name"], d["input_hex"], d["expected"]["diag"]
    rc, out, _ = run("frame", "decode", hx)
    check(rc == 0 and out == [want], name + ": decode prints " + want)
    rc, out, _ = run("frame", "verify", hx, first["pubkey_hex"])
    check(rc == 1 and out[-1:] == ["error bad_frame"], name + ": verify without a signature")
    rc, out, _ = run("frame", "verify-publisher", hx)
    check(rc == 1 and out[-1:] == ["error bad_frame"], name + ": verify-publisher on a frame without type")
    # resign adds a signature; the integer keeps its exact bytes
    rc, out, _ = run("frame", "resign", first["seed_hex"], hx)
    check(rc == 0 and len(out) == 1, name + ": resign")
    signed = out[0] if rc == 0 and out else ""
    body = bytes.fromhex(hx)[4:]
    check(body[1:].hex() in signed, name + ": the integer's bytes are kept")
    rc, out, _ = run("frame", "verify", signed, first["pubkey_hex"])
    check(rc == 0 and out[-1:] == ["ok"], name + ": re-signed verifies")
    rc, out, _ = run("frame", "decode", signed)
    check(rc == 0 and len(out) == 1 and out[0].startswith(want[:-1] + ", \"signature\": h'"),
          name + ": re-signed decodes with the same integer")

# bad input: the usual answers and exit codes
rc, out, _ = run("frame", "verify-publisher", first["wire_hex"][:20])
check(rc == 1 and out[-1:] == ["more %d" % (first["wire_len"] - 10)], "verify-publisher on a partial frame")
rc, out, _ = run("frame", "verify-publisher", "0000000adeadbeef001122334455")
check(rc == 1 and out[-1:] == ["error bad_frame"], "verify-publisher on a bad body")
for args in (["frame", "verify-publisher"], ["frame", "verify-publisher", "zz"],
             ["frame", "verify-publisher", first["wire_hex"], "extra"]):
    rc, out, err = run(*args)
    check(rc == 2 and out == [] and err.strip() != "", "usage error: %s" % " ".join(a[:12] for a in args))
rc, out, _ = run("frame", "--help")
check(rc == 0 and any("verify-publisher WIRE_HEX" in l for l in out), "frame --help lists verify-publisher")
c.done()
PY
