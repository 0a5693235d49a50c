#!/usr/bin/env bash
# A server that restarts on the same port with the same identity answers
# packets of connections it no longer knows with a stateless reset (its
# token comes from the identity, so it matches the one the first run gave),
# and the client reports cause stateless_reset instead of waiting for its
# idle timeout.
set -euo pipefail
M=${MACULA:?MACULA must point at the macula program}
work=$(mktemp -d)
server_pid=
dial_pid=
cleanup() {
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true
  [ -n "$dial_pid" ] && kill "$dial_pid" 2>/dev/null || true
  exec 3>&- 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

start_server() {
  : >"$work/serve.log"
  "$M" quic serve --listen "127.0.0.1:$1" --key "$work/k.key" --echo >"$work/serve.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do grep -q listening "$work/serve.log" 2>/dev/null && break; sleep 0.05; done
  grep -q listening "$work/serve.log" || fail "server did not start: $(cat "$work/serve.log")"
}

"$M" key gen -o "$work/k.key" >/dev/null
start_server 0
port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$work/serve.log")

mkfifo "$work/in"
timeout 60 "$M" quic dial "127.0.0.1:$port" --timeout-ms 5000 <"$work/in" >"$work/out" 2>"$work/dial.err" &
dial_pid=$!
exec 3>"$work/in"
echo first >&3
for _ in $(seq 100); do grep -q first "$work/out" 2>/dev/null && break; sleep 0.05; done
grep -q first "$work/out" || fail "no echo before the restart"

# Lose all state: kill -9, then start again on the same port, same key.
kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true
start_server "$port"
start=$(date +%s%N)
echo second >&3
status=0
wait "$dial_pid" || status=$?
dial_pid=
took=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$status" = 1 ] || fail "dial exit status $status, expected 1: $(cat "$work/dial.err")"
grep -q "stateless reset" "$work/dial.err" || fail "reason: $(cat "$work/dial.err")"
[ "$took" -lt 10000 ] || fail "took $took ms"
echo "stateless reset seen after $took ms: $(tail -1 "$work/dial.err")"
