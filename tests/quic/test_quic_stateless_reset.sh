#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A server that restarts on the same port with the same identity answers
# packets of connections it no longer knows with a stateless reset (its
# token comes from the identity, so it matches the one the first run gave),
# and the client reports cause stateless_reset instead of waiting for its
# idle timeout.
. "$MACULA_TEST_HELPERS/interop.sh"
work=$T_DIR

"$MACULA" key gen -o "$work/k.key" >/dev/null
t_macula_serve server1 "$work/k.key"
server_pid=$T_LAST_PID
port=$T_PORT

# The dial's stdin is a FIFO this shell keeps open for writing (fd 3).
mkfifo "$work/in"
timeout 60 "$MACULA" quic dial "127.0.0.1:$port" --timeout-ms 5000 <"$work/in" >"$work/dial.out" 2>"$work/dial.log" &
dial_pid=$!
T_PIDS+=("$dial_pid")
exec 3>"$work/in"
echo first >&3
t_wait_match "$work/dial.out" first >/dev/null

# Lose all state: kill -9, then start again on the same port, same key.
kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true
T_SERVE_PORT=$port t_macula_serve server2 "$work/k.key"
start=$(date +%s%N)
echo second >&3
status=0
wait "$dial_pid" || status=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$status" = 1 ] || t_fail "dial exit status $status, expected 1: $(cat "$work/dial.log")"
grep -q "stateless reset" "$work/dial.log" || t_fail "reason: $(cat "$work/dial.log")"
[ "$took" -lt 10000 ] || t_fail "took $took ms"
echo "stateless reset seen after $took ms: $(tail -1 "$work/dial.log")"
