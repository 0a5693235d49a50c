#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# QUIC benchmarks, ours and quinn's side by side in one run (BENCHMARKS.md).
#   bench/quic/run.sh [BUILD_DIR]      (default: ./build)
# Needs: BUILD/bin/macula, BUILD/bench/bench_quic, BUILD/quinn-peer/release/quinn-peer
# (scripts/test.sh builds quinn-peer), python3. Loopback only. Prints a
# Markdown table on stdout and every raw figure on stderr.
#
# Both servers run at once and every measurement alternates between them
# (and between clients), repetition by repetition, so that background load
# on the machine falls on both alike; figures are medians over REPS, with
# the range (min-max) in brackets.
#
# What is measured:
#  - handshakes: bench_quic (our library, in-process, one UDP socket) dials
#    a server HS_COUNT times, C in flight, closing each connection as soon
#    as it is established; latency = dial call -> handshake complete. The
#    same client for both servers, so the difference is the servers'.
#  - process-per-dial: `macula quic dial` and `quinn-peer dial` with empty
#    stdin, one process per dial: start-up, TLS set-up, handshake, an empty
#    stream, close and exit (quinn-peer also waits for its endpoint to go
#    idle). The only way to time quinn's client side through its CLI.
#  - bulk: 256 MiB through one stream to an echo server (so 256 MiB each way
#    at once); MB/s = 268.4 MB / time. Clients: bench_quic bulk (our library,
#    bytes from memory), `macula quic dial` and `quinn-peer dial` (stdin from
#    a file in /dev/shm, stdout to /dev/shm).
#  - idle memory: bench_quic holds IDLE_COUNT connections (no stream) to a
#    freshly started server; (server RSS after - before) / IDLE_COUNT, the
#    "before" taken after one warm-up connection. Also bench_quic's own RSS
#    growth (our client side; quinn-peer cannot hold many connections).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
macula=$build/bin/macula
bench=$build/bench/bench_quic
quinn=${MACULA_QUINN_PEER:-$build/quinn-peer/release/quinn-peer}
HS_COUNT=${HS_COUNT:-1000}
PROC_COUNT=${PROC_COUNT:-30}
BULK_MIB=${BULK_MIB:-256}
REPS=${REPS:-5}
IDLE_COUNT=${IDLE_COUNT:-1000}
PHASES=${PHASES:-handshakes proc bulk idle}
for f in "$macula" "$bench" "$quinn"; do
  [ -x "$f" ] || { echo "bench: $f is missing (build it first)" >&2; exit 1; }
done

work=$(mktemp -d /dev/shm/macula-bench.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$macula" key gen -o "$work/node.key"
node_id=$("$macula" key show "$work/node.key" | sed -n 's/^node_id //p')
"$macula" key cert "$work/node.key" --cert-out "$work/cert.pem" --key-out "$work/key.pem" >/dev/null

port_from() { # FILE: the port of its first "listening" line
  local i line
  for ((i = 0; i < 200; i++)); do
    if line=$(grep -m 1 '"event":"listening"' "$1" 2>/dev/null); then
      sed -n -E 's/.*"port":([0-9]+).*/\1/p; s/.*"(addr|address|listen)":"[^"]*:([0-9]+)".*/\2/p' <<<"$line" | head -n 1
      return 0
    fi
    sleep 0.05
  done
  echo "bench: no listening line in $1" >&2
  exit 1
}

declare -A PID PORT
start_server() { # macula|quinn
  if [ "$1" = macula ]; then
    "$macula" quic serve --listen 127.0.0.1:0 --key "$work/node.key" --echo >"$work/serve-macula.out" 2>&1 &
  else
    "$quinn" serve --listen 127.0.0.1:0 --cert "$work/cert.pem" --key "$work/key.pem" 2>"$work/serve-quinn.out" &
  fi
  PID[$1]=$!
  pids+=("${PID[$1]}")
  PORT[$1]=$(port_from "$work/serve-$1.out")
}
stop_server() {
  kill "${PID[$1]}" 2>/dev/null || true
  wait "${PID[$1]}" 2>/dev/null || true
}
check_server() { # NAME PHASE: says so when the server has died
  kill -0 "${PID[$1]}" 2>/dev/null && return 0
  local rc=0
  wait "${PID[$1]}" 2>/dev/null || rc=$?
  echo "bench: the $1 server died during '$2' (status $rc)" >&2
  return 1
}
has_phase() { [[ " $PHASES " == *" $1 "* ]]; }
json() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# median (min-max) of the repetitions, e.g. "137 (86-202)"
median() {
  python3 -c '
import statistics, sys
v = [float(x) for x in sys.argv[1:]]
f = (lambda x: "%.0f" % x) if max(v) >= 100 else (lambda x: "%.2f" % x)
print(f(statistics.median(v)) if len(v) == 1 else "%s (%s-%s)" % (f(statistics.median(v)), f(min(v)), f(max(v))))' "$@"
}
now_ns() { date +%s%N; }
# client_cmd CLIENT SERVER: the command line of a CLI client for a server
client_cmd() {
  if [ "$1" = macula ]; then
    CMD=("$macula" quic dial "127.0.0.1:${PORT[$2]}" --pin "$node_id")
  else
    CMD=("$quinn" dial --connect "127.0.0.1:${PORT[$2]}" --pin-ed25519 "$node_id")
  fi
}

declare -A R
declare -A L
add() { L[$1]="${L[$1]:-} $2"; } # KEY VALUE: collect a repetition

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
  "$(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
start_server macula
start_server quinn
echo "servers: macula on ${PORT[macula]}, quinn on ${PORT[quinn]}" >&2

if has_phase handshakes; then
  for c in 1 8; do
    for ((r = 0; r < REPS; r++)); do
      for s in macula quinn; do
        out=$("$bench" handshakes "127.0.0.1:${PORT[$s]}" --count "$HS_COUNT" --concurrency "$c" --pin "$node_id")
        echo "handshakes c=$c -> $s: $out" >&2
        add "$s.hs$c.rate" "$(json "$out" handshakes_per_s)"
        add "$s.hs$c.p50" "$(json "$out" p50_ms)"
        add "$s.hs$c.p99" "$(json "$out" p99_ms)"
      done
    done
  done
fi

if has_phase proc; then
  declare -A T
  for ((i = 0; i < PROC_COUNT; i++)); do
    for s in macula quinn; do
      for cl in macula quinn; do
        client_cmd "$cl" "$s"
        t0=$(now_ns)
        "${CMD[@]}" </dev/null >/dev/null 2>>"$work/proc.log" || echo "bench: $cl -> $s dial failed" >&2
        T[$cl.$s]=$((${T[$cl.$s]:-0} + $(now_ns) - t0))
      done
    done
  done
  for k in "${!T[@]}"; do
    R[proc.$k]=$(python3 -c "print('%.1f' % (${T[$k]} / 1e6 / $PROC_COUNT))")
    echo "process-per-dial $k: ${R[proc.$k]} ms" >&2
  done
fi

if has_phase bulk; then
  head -c $((BULK_MIB * 1048576)) /dev/urandom >"$work/bulk.bin"
  for ((r = 0; r < REPS; r++)); do
    for s in macula quinn; do
      out=$("$bench" bulk "127.0.0.1:${PORT[$s]}" --mib "$BULK_MIB" --pin "$node_id")
      echo "bulk bench_quic -> $s: $out" >&2
      add "$s.bulk.lib" "$(json "$out" mb_per_s)"
      for cl in macula quinn; do
        client_cmd "$cl" "$s"
        t0=$(now_ns)
        "${CMD[@]}" <"$work/bulk.bin" >"$work/bulk.out" 2>>"$work/bulk.log" || echo "bench: bulk run failed" >&2
        t1=$(now_ns)
        got=$(stat -c %s "$work/bulk.out")
        [ "$got" = $((BULK_MIB * 1048576)) ] || echo "bench: $cl -> $s echoed $got bytes" >&2
        rate=$(python3 -c "print('%.1f' % ($BULK_MIB * 1048576 / 1e6 / (($t1 - $t0) / 1e9)))")
        echo "bulk $cl CLI -> $s: $rate MB/s" >&2
        add "$s.bulk.$cl" "$rate"
        rm -f "$work/bulk.out"
      done
    done
  done
  rm -f "$work/bulk.bin"
fi
for s in macula quinn; do check_server "$s" "$PHASES" || true; done

# Idle memory on fresh servers: memory freed by the phases above would be
# reused and hide the per-connection cost.
if has_phase idle; then
  for s in macula quinn; do
    stop_server "$s"
    start_server "$s"
    sleep 0.5
    out=$("$bench" idle "127.0.0.1:${PORT[$s]}" --count "$IDLE_COUNT" --server-pid "${PID[$s]}")
    echo "idle -> $s: $out" >&2
    R[$s.idle.server]=$(json "$out" server_bytes_per_conn)
    R[$s.idle.client]=$(json "$out" client_bytes_per_conn)
    check_server "$s" idle || true
  done
fi
for k in "${!L[@]}"; do
  # shellcheck disable=SC2086
  R[$k]=$(median ${L[$k]})
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

v() { echo "${R[$1]:-n/a}"; }
cat <<EOF
| measure | macula-c server | quinn server |
|---|---|---|
| handshakes/s, 1 in flight (bench_quic client) | $(v macula.hs1.rate) | $(v quinn.hs1.rate) |
| handshake latency p50 / p99, ms, 1 in flight | $(v macula.hs1.p50) / $(v macula.hs1.p99) | $(v quinn.hs1.p50) / $(v quinn.hs1.p99) |
| handshakes/s, 8 in flight (bench_quic client) | $(v macula.hs8.rate) | $(v quinn.hs8.rate) |
| handshake latency p50 / p99, ms, 8 in flight | $(v macula.hs8.p50) / $(v macula.hs8.p99) | $(v quinn.hs8.p50) / $(v quinn.hs8.p99) |
| process-per-dial, \`macula quic dial\`, ms | $(v proc.macula.macula) | $(v proc.macula.quinn) |
| process-per-dial, \`quinn-peer dial\`, ms | $(v proc.quinn.macula) | $(v proc.quinn.quinn) |
| bulk ${BULK_MIB} MiB echo, bench_quic client (library), MB/s | $(v macula.bulk.lib) | $(v quinn.bulk.lib) |
| bulk ${BULK_MIB} MiB echo, \`macula quic dial\` client, MB/s | $(v macula.bulk.macula) | $(v quinn.bulk.macula) |
| bulk ${BULK_MIB} MiB echo, \`quinn-peer dial\` client, MB/s | $(v macula.bulk.quinn) | $(v quinn.bulk.quinn) |
| server RSS growth per idle connection, bytes (${IDLE_COUNT} connections) | $(v macula.idle.server) | $(v quinn.idle.server) |
| bench_quic (our client) RSS growth per idle connection, bytes | $(v macula.idle.client) | $(v quinn.idle.client) |
EOF
