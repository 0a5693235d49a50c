#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One attack against one listener build, on loopback, with its anchor:
#   bench/attack/run.sh MACULA_BIN ATTACK_BIN LABEL MODE CONNS RATE SECONDS HONEST [LISTEN ARGS...]
# starts `MACULA_BIN listen` on 127.0.0.1, times HONEST sequential honest
# dials (`macula dial`, QUIC + CONNECT/HELLO, 10 s deadline) with no attack
# (the anchor), then again while ATTACK_BIN runs MODE (see attack.c), and
# prints one JSON line: latencies (ms: p50, p95, max), failures, the
# listener's peak RSS, the rig's figures and (newer builds) the listener's
# exit stats line. Everything it starts it stops, by pid.
set -u
macula=$1 attack=$2 label=$3 mode=$4 conns=$5 rate=$6 seconds=$7 honest=$8
shift 8
work=$(mktemp -d /tmp/macula-attack-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT

"$macula" key gen -o "$work/s.key" >/dev/null
"$macula" key gen -o "$work/h.key" >/dev/null
"$macula" listen --listen 127.0.0.1:0 --key "$work/s.key" "$@" >"$work/l.out" 2>"$work/l.err" &
lpid=$!
pids+=("$lpid")
for _ in $(seq 100); do grep -q '"port"' "$work/l.out" 2>/dev/null && break; sleep 0.05; done
port=$(grep -o '"port":[0-9]*' "$work/l.out" | head -1 | cut -d: -f2)
[ -n "$port" ] || { echo "listener did not start: $(cat "$work/l.err")" >&2; exit 1; }

# honest N OUT [GAP_S]: N sequential dials, GAP_S seconds apart (spread
# over the attack); "ms ok" lines into OUT.
honest() {
  local n=$1 out=$2 gap=${3:-0}
  : >"$out"
  for _ in $(seq "$n"); do
    sleep "$gap"
    local s e ok=0
    s=$(date +%s%N)
    if timeout 15 "$macula" dial "127.0.0.1:$port" --key "$work/h.key" --close-after 1 --drain-ms 1 \
         --timeout-ms 10000 --handshake-timeout-ms 10000 2>/dev/null | grep -q '"event":"connected"'; then
      ok=1
    fi
    e=$(date +%s%N)
    echo "$(( (e - s) / 1000000 )) $ok" >>"$out"
  done
}
# summary FILE: {"p50":..,"p95":..,"max":..,"failed":..,"n":..} over all dials.
summary() {
  sort -n "$1" | awk '{ms[NR]=$1; if(!$2) f++} END {
    n=NR; p50=ms[int((n+1)*0.5)]; i95=int(n*0.95+0.999); if(i95>n)i95=n; p95=ms[i95];
    printf "{\"n\":%d,\"p50_ms\":%d,\"p95_ms\":%d,\"max_ms\":%d,\"failed\":%d}", n, p50, p95, ms[n], f+0 }'
}

honest "$honest" "$work/anchor"
"$attack" --port "$port" --mode "$mode" --conns "$conns" --rate "$rate" --seconds "$seconds" --pid "$lpid" \
  >"$work/a.out" 2>"$work/a.err" &
apid=$!
pids+=("$apid")
for _ in $(seq 1200); do grep -q '"attacking"' "$work/a.out" 2>/dev/null && break; sleep 0.05; done
attacking=$(grep '"attacking"' "$work/a.out" || echo '{}')
gap=$(awk -v s="$seconds" -v n="$honest" 'BEGIN { printf "%.3f", s * 0.8 / n }')
honest "$honest" "$work/under" "$gap"
wait "$apid"
done_line=$(grep '"done"' "$work/a.out" || echo '{}')
load=$(cut -d' ' -f1-3 /proc/loadavg)
kill -INT "$lpid"
for _ in $(seq 100); do kill -0 "$lpid" 2>/dev/null || break; sleep 0.05; done
stats=$(grep '"event":"stats"' "$work/l.out" || echo '{}')
printf '{"label":"%s","mode":"%s","conns":%s,"rate":%s,"seconds":%s,"listen_args":"%s","loadavg":"%s",\n "anchor":%s,\n "under_attack":%s,\n "rig_setup":%s,\n "rig":%s,\n "listener_stats":%s}\n' \
  "$label" "$mode" "$conns" "$rate" "$seconds" "$*" "$load" "$(summary "$work/anchor")" "$(summary "$work/under")" \
  "$attacking" "$done_line" "$stats"
