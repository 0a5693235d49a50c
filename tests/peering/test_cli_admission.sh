#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `macula listen`'s admission flags: bad values are usage errors (exit 2);
# with --retry always and a small --max-pending a `macula dial` connects
# through a Retry, and the exit stats line (SIGINT) counts it and shows the
# cap the flags made; --pending-budget-mb lowers the cap (1 MiB / 100 KiB).
. "$MACULA_TEST_HELPERS/interop.sh"

"$MACULA" key gen -o "$T_DIR/s.key" >/dev/null
"$MACULA" key gen -o "$T_DIR/c.key" >/dev/null
for bad in "--retry sometimes" "--retry" "--max-pending 0" "--max-pending-per-addr x" \
           "--pending-budget-mb 0" "--max-connections -1"; do
  # shellcheck disable=SC2086
  t_expect_exit 2 "expected" "$MACULA" listen --listen 127.0.0.1:0 --key "$T_DIR/s.key" $bad
done

t_bg listen "$MACULA" listen --listen 127.0.0.1:0 --key "$T_DIR/s.key" --retry always --max-pending 8 \
  --max-pending-per-addr 4 --max-connections 100
lpid=$T_LAST_PID
port=$(t_port_of "$(t_wait_match "$T_DIR/listen.out" '"event":"listening"')")
out=$(t_run_bounded 20 "$MACULA" dial "127.0.0.1:$port" --key "$T_DIR/c.key" --close-after 1 --drain-ms 50 2>/dev/null) \
  || t_fail "dial failed: $out"
grep -q '"event":"connected"' <<<"$out" || t_fail "dial did not connect: $out"
kill -INT "$lpid"
line=$(t_wait_match "$T_DIR/listen.out" '"event":"stats"')
grep -q '"retry_sent":1,' <<<"$line" || t_fail "expected one Retry: $line"
grep -q '"pending_cap":8,' <<<"$line" || t_fail "expected cap 8: $line"
grep -q '"evicted":0,' <<<"$line" || t_fail "nothing to evict: $line"

t_bg listen2 "$MACULA" listen --listen 127.0.0.1:0 --key "$T_DIR/s.key" --pending-budget-mb 1 --retry never
lpid=$T_LAST_PID
t_wait_match "$T_DIR/listen2.out" '"event":"listening"' >/dev/null
kill -INT "$lpid"
line=$(t_wait_match "$T_DIR/listen2.out" '"event":"stats"')
grep -q '"pending_cap":10,' <<<"$line" || t_fail "1 MiB / 100 KiB is a cap of 10: $line"
grep -q '"retry_sent":0,' <<<"$line" || t_fail "$line"
echo ok
