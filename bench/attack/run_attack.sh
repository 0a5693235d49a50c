#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs one attack of attack_peer against a fresh `macula listen --echo` on
# 127.0.0.1 and prints the rig's JSON line plus the listener's peak and
# final resident memory (VmHWM / VmRSS, from /proc).
#   bench/attack/run_attack.sh MACULA ATTACK_PEER partial N SECONDS [listen args...]
#   bench/attack/run_attack.sh MACULA ATTACK_PEER bomb SECONDS [listen args...]
set -euo pipefail
macula=$1 rig=$2 kind=$3
shift 3
if [ "$kind" = partial ]; then args=("$1" "$2"); shift 2; else args=("$1"); shift 1; fi
tmp=$(mktemp -d)
trap 'kill "$lpid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$macula" key gen -o "$tmp/k" >/dev/null
"$macula" listen --listen 127.0.0.1:0 --key "$tmp/k" --echo "$@" >"$tmp/out" 2>/dev/null &
lpid=$!
for _ in $(seq 100); do grep -q '"listening"' "$tmp/out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$tmp/out" | head -1)
line=$("$rig" "$kind" "$port" "${args[@]}")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$lpid/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$lpid/status")
ended=$(grep -c '"event":"disconnected"' "$tmp/out" || true)
reasons=$(grep -o '"reason":"[a-z_]*"' "$tmp/out" | sort | uniq -c | tr '\n' ' ' || true)
echo "$line listener: VmHWM ${hwm} kB, VmRSS ${rss} kB, disconnected events ${ended} (${reasons})"
