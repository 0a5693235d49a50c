#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `macula frame decode|verify|resign|parse-stream` over every vector and
# negative case of frames.json, as a script would drive them: output lines,
# exit codes, and HEX arguments given literally, as @FILE and on stdin.
set -euo pipefail
: "${MACULA:?path of the macula program}" "${MACULA_VECTORS:?path of frames.json}" "${MACULA_TEST_HELPERS:?}"
exec python3 - "$MACULA" "$MACULA_VECTORS" "$MACULA_TEST_HELPERS" <<'PY'
import json, os, sys
sys.path.insert(0, sys.argv[3])
from macula_cli import Checks, top_level_entries, vectors, workdir
from macula_cli import run as run_cmd

macula = sys.argv[1]
doc, _, ids = vectors(sys.argv[2])
c = Checks()
check = c.check

def run(*args, stdin=None):
    rc, _, out, err = run_cmd([macula, *args], timeout=60, stdin=stdin)
    return rc, out, err

def signed_diag(v):
    """The vector's diag (unsigned, wire order) with the signature entry put
    where the wire has it."""
    entries = top_level_entries(v["diag"])
    keys = [json.loads(e.split(": ", 1)[0]) for e in entries]
    order = v["wire_key_order"]
    check(keys == [k for k in order if k != "signature"], v["name"] + ": diag keys follow wire_key_order")
    entries.insert(order.index("signature"), '"signature": h\'%s\'' % v["signature_hex"])
    return "{" + ", ".join(entries) + "}"

tmp = workdir()
for v in doc["vectors"]:
    name, wire = v["name"], v["wire_hex"]
    want = signed_diag(v)
    rc, out, err = run("frame", "decode", wire)
    check(rc == 0 and out == [want], name + ": decode prints the signed diag")
    path = os.path.join(tmp, name + ".hex")
    with open(path, "w") as f:
        f.write(wire[:50] + "\n" + wire[50:].upper() + "\n")  # line breaks and case are free
    rc, out2, _ = run("frame", "decode", "@" + path)
    check(rc == 0 and out2 == [want], name + ": decode @FILE")
    rc, out3, _ = run("frame", "decode", "-", stdin=wire)
    check(rc == 0 and out3 == [want], name + ": decode from stdin")
    rc, out, _ = run("frame", "decode", wire + "00ff")
    check(rc == 0 and out == [want, "rest 00ff"], name + ": decode reports the rest")
    # verify: own key ok; the other identity's key is a bad signature
    rc, out, _ = run("frame", "verify", wire, v["pubkey_hex"])
    check(rc == 0 and out[-1:] == ["ok"], name + ": verify ok")
    other = [i for i in ids.values() if i["pubkey_hex"] != v["pubkey_hex"]][0]
    rc, out, _ = run("frame", "verify", "@" + path, other["pubkey_hex"])
    check(rc == 1 and out[-1:] == ["error signature_invalid"], name + ": verify with another key")
    # resign: the reference's frames come back byte for byte
    rc, out, _ = run("frame", "resign", v["seed_hex"], wire)
    check(rc == 0 and out == [wire], name + ": resign equals the input")
    rc, out, _ = run("frame", "resign", other["seed_hex"], "-", stdin=wire)
    check(rc == 0 and len(out) == 1 and out[0] != wire and len(out[0]) == len(wire), name + ": resign with another seed")
    if rc == 0:
        rc, o, _ = run("frame", "verify", out[0], other["pubkey_hex"])
        check(rc == 0 and o[-1:] == ["ok"], name + ": re-signed frame verifies with the new key")

# all vectors as one stream, with a partial frame at the end
stream = "".join(v["wire_hex"] for v in doc["vectors"])
partial = doc["vectors"][0]["wire_hex"][:20]
rc, out, _ = run("frame", "parse-stream", stream + partial)
want = ["frame %s %d" % (v["frame_type"], v["wire_len"]) for v in doc["vectors"]] + ["tail " + partial]
check(rc == 0 and out == want, "parse-stream of every vector")
rc, out, _ = run("frame", "parse-stream", stream)
check(rc == 0 and out[-1] == "tail", "parse-stream with nothing left prints 'tail'")

# a bad frame in the middle is stepped over and reported (unlike the reference)
bad = "0000000adeadbeef001122334455"
first, second = doc["vectors"][0], doc["vectors"][1]
rc, out, _ = run("frame", "parse-stream", first["wire_hex"] + bad + second["wire_hex"])
check(rc == 0 and out == ["frame %s %d" % (first["frame_type"], first["wire_len"]), "bad_frame 14",
                          "frame %s %d" % (second["frame_type"], second["wire_len"]), "tail"],
      "parse-stream steps over a bad frame")
rc, out, _ = run("frame", "parse-stream", first["wire_hex"] + "02000000")
check(rc == 1 and out[-1] == "error frame_too_large", "parse-stream stops at an oversize length")

# the negative cases, with the reference's answers
for n in doc["negative"]:
    name, exp = n["name"], n["expected"]
    if n["op"] == "decode":
        rc, out, _ = run("frame", "decode", n["input_hex"] if n["input_hex"] else "-", stdin="")
        if exp["result"] == "more":
            check(rc == 1 and out[-1:] == ["more %d" % exp["more_bytes"]], name)
        elif exp["result"] == "error":
            check(rc == 1 and out[-1:] == ["error " + exp["error"]], name)
        else:
            check(rc == 0, name)
    elif n["op"] == "verify":
        rc, out, _ = run("frame", "verify", n["input_hex"], n["pubkey_hex"])
        if exp["result"] == "ok":
            check(rc == 0 and out[-1:] == ["ok"], name)
        else:
            check(rc == 1 and out[-1:] == ["error " + exp["error"]], name)
    elif n["op"] == "parse_stream":
        rc, out, _ = run("frame", "parse-stream", n["input_hex"])
        frames = [l.split()[1] for l in out if l.startswith("frame ")]
        check(rc == 0 and frames == exp["frame_types"] and len(frames) == exp["frames"], name + ": frames")
        check(out[-1] == ("tail " + exp["tail_hex"] if exp["tail_len"] else "tail"), name + ": tail")
    else:
        check(False, name + ": unknown op " + n["op"])

# usage errors exit 2 with a message on stderr
for args in (["frame"], ["frame", "decode"], ["frame", "decode", "zz"], ["frame", "decode", "abc"],
             ["frame", "verify", first["wire_hex"]], ["frame", "resign", "00", first["wire_hex"]],
             ["frame", "decode", "@" + os.path.join(tmp, "missing.hex")], ["frame", "bogus", "00"]):
    rc, out, err = run(*args)
    check(rc == 2 and err.strip() != "", "usage error: %s" % " ".join(a[:12] for a in args))
# a public key that is not 32 bytes cannot verify anything: bad_frame
rc, out, _ = run("frame", "verify", first["wire_hex"], "00" * 31)
check(rc == 1 and out[-1:] == ["error bad_frame"], "verify with a 31-byte key")

c.done()
PY
