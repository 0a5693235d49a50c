#!/usr/bin/env bash
# `macula bench` still runs end to end with tiny counts (its figures are
# printed, never asserted: this only checks that each measurement completes
# and reports every connection and frame it was asked for).
set -euo pipefail
: "${MACULA:?MACULA must point to the macula program}"
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$(timeout 120 "$MACULA" bench handshake --count 20 --concurrency 4) || fail "bench handshake exited $?"
grep -q 'n=20 connected=20 ' <<<"$out" || fail "bench handshake: $out"
for mode in signed presigned presigned-frame; do
  out=$(timeout 120 "$MACULA" bench frames --size 4096 --count 200 --mode "$mode") || fail "bench frames $mode exited $?"
  grep -q "payload=4096 .* $mode .*n=200 " <<<"$out" || fail "bench frames $mode: $out"
done
out=$(timeout 120 "$MACULA" bench frames --count 300 --conns 3 --background 5) || fail "bench frames --conns exited $?"
grep -q 'conns=8 .*n=300 ' <<<"$out" || fail "bench frames --conns: $out"
out=$(timeout 120 "$MACULA" bench raw --size 1000 --count 500) || fail "bench raw exited $?"
grep -q '^raw QUIC .*write=1000 .*n=500 ' <<<"$out" || fail "bench raw: $out"
out=$(timeout 120 "$MACULA" bench idle --peers 10,20) || fail "bench idle exited $?"
[ "$(grep -c '^idle .*heap listener .*KiB/peer$' <<<"$out")" = 2 ] || fail "bench idle: $out"
rc=0
"$MACULA" bench nonsense >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "bench nonsense exited $rc, expected 2"
echo ok
