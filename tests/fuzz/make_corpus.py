#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the fuzzers' seed corpora from the shared vectors (at test time;
the vectors are never copied into the repository).
usage: make_corpus.py frames.json OUT_DIR [frames-v10.json]  -> OUT_DIR/{cbor,frame,stream}/"""
import json, os, sys

vectors, out = sys.argv[1], sys.argv[2]
doc = json.load(open(vectors))
v10 = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else {"vectors": [], "decode_cases": []}
dirs = {k: os.path.join(out, k) for k in ("cbor", "frame", "stream")}
for d in dirs.values():
    os.makedirs(d, exist_ok=True)

def put(kind, name, data):
    with open(os.path.join(dirs[kind], name), "wb") as f:
        f.write(data)

wires = []
for v in doc["vectors"]:
    wire = bytes.fromhex(v["wire_hex"])
    wires.append(wire)
    put("cbor", v["name"] + "_unsigned", bytes.fromhex(v["unsigned_cbor_hex"]))
    put("cbor", v["name"] + "_signed", wire[4:])
    put("frame", v["name"], wire)
for n in doc["negative"]:
    data = bytes.fromhex(n["input_hex"])
    put("frame", n["name"], data)
    put("stream", n["name"], b"\x07" + data)
# streams: the stream target takes one byte of chunking seed, then bytes
put("stream", "all_vectors", b"\x01" + b"".join(wires))
put("stream", "bad_in_middle", b"\x02" + wires[0] + bytes.fromhex("0000000adeadbeef001122334455") + wires[1])
put("stream", "oversize_after_frame", b"\x03" + wires[7] + bytes.fromhex("02000000") + wires[7])
# a few hand-made CBOR edge cases
# Macula 10: publisher_sig, integers down to -2^64, integer keys of both signs
for v in v10["vectors"]:
    wire = bytes.fromhex(v["wire_hex"])
    put("cbor", "v10_" + v["name"], wire[4:])
    put("frame", "v10_" + v["name"], wire)
for d in v10["decode_cases"]:
    put("frame", "v10_" + d["name"], bytes.fromhex(d["input_hex"]))
    put("cbor", "v10_" + d["name"], bytes.fromhex(d["input_hex"])[4:])
for name, hx in {"nint_min": "833bffffffffffffffff3b800000000000000020",
                 "nint_keys": "a320013bffffffffffffffff021bffffffffffffffff03"}.items():
    put("cbor", name, bytes.fromhex(hx))
for name, hx in {"floats": "a2616101616bfb3ff8000000000000", "nint": "83203b7fffffffffffffff00",
                 "nested": "81" * 40 + "a0", "noncanonical": "a2616202616101"}.items():
    put("cbor", name, bytes.fromhex(hx))
