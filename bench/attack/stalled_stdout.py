#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Rig for RELIABILITY.md: `macula listen --echo` whose stdout (a pipe) is
# not read. A flooding dialer sends 3000 PUBLISH frames (~1.4 MB of event
# lines, beyond the 64 KiB pipe), then an honest dialer sends one; prints
# how long each dial took and whether it completed (each bounded by 20 s).
#   bench/attack/stalled_stdout.py MACULA [listen args...]
import json, os, subprocess, sys, tempfile, time

macula, extra = sys.argv[1], sys.argv[2:]
tmp = tempfile.mkdtemp()
for k in "abc":
    subprocess.run([macula, "key", "gen", "-o", os.path.join(tmp, k)], check=True, capture_output=True)
listen = subprocess.Popen([macula, "listen", "--listen", "127.0.0.1:0", "--key", os.path.join(tmp, "a"), "--echo",
                           "--drain-ms", "200", *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
port = json.loads(listen.stdout.readline())["port"]


def dial(key, publishes):
    args = [macula, "dial", "127.0.0.1:%d" % port, "--key", os.path.join(tmp, key), "--frames", str(publishes),
            "--close-after", "15000", "--drain-ms", "200"] + ["--publish", "x" * 64] * publishes
    t0 = time.monotonic()
    try:
        r = subprocess.run(args, capture_output=True, timeout=20)
        echoes = sum(1 for l in r.stdout.decode().splitlines() if '"event":"frame"' in l)
        return r.returncode, echoes, time.monotonic() - t0
    except subprocess.TimeoutExpired:
        return "timeout", 0, time.monotonic() - t0


try:
    f = dial("b", 3000)
    h = dial("c", 1)
finally:
    listen.terminate()
out = listen.stdout.read().decode("utf-8", "replace").splitlines()
drops = sum(json.loads(l)["count"] for l in out if '"lines_dropped"' in l)
print(json.dumps({"flood_dial": {"rc": f[0], "echoes": f[1], "s": round(f[2], 2)},
                  "honest_dial": {"rc": h[0], "echoes": h[1], "s": round(h[2], 2)},
                  "lines_dropped_reported": drops}))
listen.wait(timeout=20)
