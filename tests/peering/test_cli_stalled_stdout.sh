#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `macula listen` with a stdout nobody reads (a pipe left full): the loop
# must go on serving peers. A flooding dialer fills the pipe and the
# listener's --out-buffer; a second dialer still gets its echo at once.
# When stdout is read again, the dropped lines are reported as a counted
# {"event":"lines_dropped","count":N} line. Before the writer thread, the
# loop blocked in fwrite on the full pipe and the second dial timed out.
set -euo pipefail
: "${MACULA:?}" "${MACULA_TEST_HELPERS:?}"
exec python3 - "$MACULA" "$MACULA_TEST_HELPERS" <<'PY'
import json, os, subprocess, sys, time
sys.path.insert(0, sys.argv[2])
from macula_cli import *

macula = sys.argv[1]
c = Checks()
tmp = workdir()
keys, key_ids = make_keys(macula, tmp, "abc")
# stdout: a pipe this script does not read until the end
listen = subprocess.Popen([macula, "listen", "--listen", "127.0.0.1:0", "--key", keys["a"], "--echo",
                           "--drain-ms", "200", "--out-buffer", "65536"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
first = listen.stdout.readline()
port = json.loads(first)["port"]
target = "127.0.0.1:%d" % port
try:
    # ~3000 frame events of ~450 bytes: far beyond the pipe (64 KiB) and the buffer
    flood = ["--publish", "x" * 64] * 3000
    rc, evs, _, err = run([macula, "dial", target, "--key", keys["b"], *flood, "--frames", "3000",
                           "--close-after", "30000", "--drain-ms", "200"], timeout=60)
    c.check(rc == 0, "the flooding dialer is served while stdout is stalled (rc %d %s)" % (rc, err[-300:]))
    c.check(sum(1 for e in evs if e["event"] == "frame") == 3000, "the flooding dialer got its 3000 echoes")
    t0 = time.monotonic()
    rc, evs, _, err = run([macula, "dial", target, "--key", keys["c"], "--publish", "hello", "--frames", "1",
                           "--close-after", "10000", "--drain-ms", "200"], timeout=30)
    took = time.monotonic() - t0
    c.check(rc == 0 and [e["event"] for e in evs].count("frame") == 1,
            "another peer still gets its echo (rc %d, %.2f s)" % (rc, took))
    c.check(took < 5, "... quickly: %.2f s" % took)
finally:
    listen.terminate()
out = listen.stdout.read().decode("utf-8", "replace").splitlines()
listen.wait(timeout=20)
drops = [json.loads(l) for l in out if '"lines_dropped"' in l]
c.check(len(drops) >= 1 and all(d["count"] > 0 for d in drops),
        "dropped lines are reported with a count: %s" % drops[:3])
frames = sum(1 for l in out if '"event":"frame"' in l)
total = frames + sum(d["count"] for d in drops)
c.check(total >= 3001, "frame lines written + lines reported dropped cover every frame (%d + %d)" %
        (frames, total - frames))

# A signal while stdout is still stalled: the listener exits anyway (the
# writer gets 5 s, then the rest is left behind), instead of hanging.
listen = subprocess.Popen([macula, "listen", "--listen", "127.0.0.1:0", "--key", keys["a"], "--echo",
                           "--drain-ms", "200", "--out-buffer", "65536"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
port = json.loads(listen.stdout.readline())["port"]
run([macula, "dial", "127.0.0.1:%d" % port, "--key", keys["b"], *flood, "--frames", "3000",
     "--close-after", "30000", "--drain-ms", "200"], timeout=60)
t0 = time.monotonic()
listen.terminate()
try:
    rc = listen.wait(timeout=15)
except subprocess.TimeoutExpired:
    listen.kill()
    rc = "hung"
c.check(rc == 0, "SIGTERM with stdout stalled: exit 0 within 15 s (rc %s after %.1f s)" % (rc, time.monotonic() - t0))
sys.exit(c.done())
PY
