#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Peering benchmarks and their anchors in one run (BENCHMARKS.md, "## Peering").
#   bench/peering/run.sh [BUILD_DIR]       (default: ./build)
#   QUICK=1 bench/peering/run.sh           smaller counts, for a smoke run
# Runs, in this order, on this machine:
#  1. `macula bench all`: every row of the Peering table (handshakes, frames
#     per second signed and pre-signed, 4 KiB / 64 KiB MB/s, memory per idle
#     peer at 1,000 and 5,000 peers, the 1 -> 1,000 connections table), then
#     the idle memory and handshake cost with the QUIC low_memory setting
#     (a no-op since the block pool: a check that both columns agree) and
#     the public-key floor of a handshake (build/bench/bench_hs_floor);
#  2. the anchors: quinn-peer's raw QUIC figures (bulk MB/s, handshake rate)
#     beside ours, through the QUIC benchmark script bench/quic/run.sh when
#     it is present (it needs BUILD/bench/bench_quic and quinn-peer, built
#     with ../shared/interop/quinn-peer/build.sh BUILD/quinn-peer);
#  3. the reference's codec figures, quoted (they were measured on Erlang
#     4.3.0 / OTP 25, not re-run here).
# Figures only; nothing is asserted. Loopback only.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
macula=$build/bin/macula
[ -x "$macula" ] || { echo "bench: $macula is missing (run scripts/setup.sh)" >&2; exit 1; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
  "$(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r), open files $(ulimit -n)"
echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
# Other work on the machine moves wall-clock figures (not the CPU-per-frame
# ones much): the load average is printed before each part.
load() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }
echo
echo "== 1. macula bench all${QUICK:+ --quick}"
load
"$macula" bench all ${QUICK:+--quick}

echo
echo "== 1b. the headline rows again, REPEAT times each, alternating (median, min-max)"
load
REPEAT=${REPEAT:-5}
declare -A seen
for ((i = 0; i < REPEAT; i++)); do
  seen[hs]+=" $("$macula" bench handshake --count 500 | sed -n 's/.* p50 \([0-9.]*\) ms.*/\1/p')"
  seen[signed]+=" $("$macula" bench frames --mode signed --count 200000 | sed -n 's/.* \([0-9]*\) frames\/s.*/\1/p')"
  seen[presigned]+=" $("$macula" bench frames --mode presigned --count 1000000 | sed -n 's/.* \([0-9]*\) frames\/s.*/\1/p')"
  seen[raw]+=" $("$macula" bench raw --size 453 --count 1000000 | sed -n 's/.* \([0-9]*\) writes\/s.*/\1/p')"
done
stat() { python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[2:]]; print("%-44s median %10.2f  (min %.2f, max %.2f, n=%d)" % (sys.argv[1], statistics.median(v), min(v), max(v), len(v)))' "$@"; }
# shellcheck disable=SC2086
{
  stat "handshake p50 ms, sequential (500 each)" ${seen[hs]}
  stat "signed 150 B frames/s, one connection" ${seen[signed]}
  stat "pre-signed 150 B frames/s (send_wire)" ${seen[presigned]}
  stat "plain QUIC 453-byte writes/s, same rig" ${seen[raw]}
}

echo
echo "== 1c. the QUIC low_memory setting (no effect any more): idle memory and handshake cost"
load
"$macula" bench idle --low-memory ${QUICK:+--peers 200}
pairs=3
[ -z "${QUICK:-}" ] || pairs=1
for ((i = 0; i < pairs; i++)); do
  echo "default     $("$macula" bench handshake --count 1000)"
  echo "low_memory  $("$macula" bench handshake --count 1000 --low-memory)"
done
echo "default     $("$macula" bench handshake --count 3000 --concurrency 64)"
echo "low_memory  $("$macula" bench handshake --count 3000 --concurrency 64 --low-memory)"
if [ -x "$build/bench/bench_hs_floor" ]; then
  echo
  echo "== 1d. the public-key operations of one peering handshake (bench_hs_floor)"
  "$build/bench/bench_hs_floor"
fi

echo
echo "== 2. anchors: raw QUIC, ours and quinn's (bench/quic/run.sh)"
load
if [ -x "$root/bench/quic/run.sh" ] && [ -x "$build/bench/bench_quic" ]; then
  if [ -n "${QUICK:-}" ]; then
    HS_COUNT=${HS_COUNT:-300} PROC_COUNT=${PROC_COUNT:-10} BULK_MIB=${BULK_MIB:-64} REPS=${REPS:-1} \
      "$root/bench/quic/run.sh" "$build"
  else
    "$root/bench/quic/run.sh" "$build"
  fi
else
  echo "bench: bench/quic/run.sh or $build/bench/bench_quic missing: no quinn anchor in this run" >&2
fi

load
echo
echo "== 3. the reference's codec figures (Erlang 4.3.0, OTP 25; quoted, medians)"
cat <<'TABLE'
| operation | reference µs | frames/s at that cost on one core |
|---|---|---|
| CONNECT build + sign + encode | 60 | 16,700 |
| CONNECT decode + verify | 73 | 13,700 |
| PUBLISH 150 B build + sign + encode | 60 | 16,700 |
| PUBLISH 150 B decode + verify | 73 | 13,700 |
| PUBLISH 4 KiB build + sign + encode | 67 | 14,900 |
| PUBLISH 4 KiB decode + verify | 77 | 13,000 |
TABLE
