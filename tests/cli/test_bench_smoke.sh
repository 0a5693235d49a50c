#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `macula bench` still runs end to end with tiny counts (its figures are
# printed, never asserted: this only checks that each measurement completes
# and reports every connection and frame it was asked for).
. "$MACULA_TEST_HELPERS/interop.sh"

out=$(timeout 120 "$MACULA" bench handshake --count 20 --concurrency 4) || t_fail "bench handshake exited $?"
grep -q 'n=20 connected=20 ' <<<"$out" || t_fail "bench handshake: $out"
for mode in signed presigned presigned-frame; do
  out=$(timeout 120 "$MACULA" bench frames --size 4096 --count 200 --mode "$mode") || t_fail "bench frames $mode exited $?"
  grep -q "payload=4096 .* $mode .*n=200 " <<<"$out" || t_fail "bench frames $mode: $out"
done
out=$(timeout 120 "$MACULA" bench frames --count 300 --conns 3 --background 5) || t_fail "bench frames --conns exited $?"
grep -q 'conns=8 .*n=300 ' <<<"$out" || t_fail "bench frames --conns: $out"
out=$(timeout 120 "$MACULA" bench raw --size 1000 --count 500) || t_fail "bench raw exited $?"
grep -q '^raw QUIC .*write=1000 .*n=500 ' <<<"$out" || t_fail "bench raw: $out"
out=$(timeout 120 "$MACULA" bench idle --peers 10,20) || t_fail "bench idle exited $?"
[ "$(grep -c '^idle .*heap listener .*KiB/peer$' <<<"$out")" = 2 ] || t_fail "bench idle: $out"
out=$(timeout 120 "$MACULA" bench idle --peers 10 --low-memory) || t_fail "bench idle --low-memory exited $?"
grep -q '^idle .*peers=10 .*KiB/peer$' <<<"$out" || t_fail "bench idle --low-memory: $out"
# relay: every row of every size, two rounds (medians and ratios printed)
out=$(timeout 300 "$MACULA" bench relay --count 200 --rounds 2 2>&1) || t_fail "bench relay exited $?"
for size in 150 4096 65536; do
  [ "$(grep -c "^relay-bench .*payload=$size .*n=200 .*frames/s .*MB/s" <<<"$out")" = 8 ] ||
    t_fail "bench relay $size: $out"
  [ "$(grep -c "^relay-median .*payload=$size .*rounds=2" <<<"$out")" = 4 ] || t_fail "bench relay medians $size: $out"
  grep -q "^relay-ratio  payload=$size .*relay/plain-QUIC-relay [0-9.]* .*direct presigned/plain QUIC [0-9.]*" <<<"$out" ||
    t_fail "bench relay ratio $size: $out"
done
grep -q "forwards refused" <<<"$out" && t_fail "bench relay: $out"
t_expect_exit 2 "^usage: macula bench" "$MACULA" bench relay --only nonsense
t_expect_exit 2 "^usage: macula bench" "$MACULA" bench nonsense
echo ok
