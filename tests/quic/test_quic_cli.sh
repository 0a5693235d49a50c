#!/usr/bin/env bash
# `macula quic serve --echo` and `macula quic dial` over loopback: echo of
# 0 B, 1 B, 1 MiB and 64 MiB (equal SHA-256), the JSON event lines, pin
# match and mismatch, ALPN mismatch and a closed port, each failing cleanly.
set -euo pipefail
M=${MACULA:?MACULA must point at the macula program}
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$M" key gen -o "$work/k.key" >/dev/null
node=$("$M" key show "$work/k.key" | awk '/^node_id/ {print $2}')
[ ${#node} = 64 ] || fail "no node id"

"$M" quic serve --listen 127.0.0.1:0 --key "$work/k.key" --echo >"$work/serve.log" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$work/serve.log" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$work/serve.log")
[ -n "$port" ] || fail "server did not report its port"
grep -q "\"event\":\"listening\".*\"node_id\":\"$node\"" "$work/serve.log" || fail "listening line without the node id"

for size in 0 1 1048576 67108864; do
  head -c "$size" /dev/urandom >"$work/in"
  timeout 60 "$M" quic dial "127.0.0.1:$port" --pin "$node" <"$work/in" >"$work/out" 2>"$work/dial.err" \
    || fail "echo of $size bytes: $(cat "$work/dial.err")"
  [ "$(sha256sum <"$work/in")" = "$(sha256sum <"$work/out")" ] || fail "echo of $size bytes differs"
  echo "echo $size bytes: ok"
done

# The server's JSON lines for those connections.
sleep 0.2
grep -q '"event":"connection","conn":1,"peer":"127.0.0.1:[0-9]*","alpn":"macula"' "$work/serve.log" || fail "connection line"
grep -q '"event":"stream_opened","conn":3,"stream":0' "$work/serve.log" || fail "stream_opened line"
grep -q '"event":"fin","conn":4,"stream":0,"total":67108864' "$work/serve.log" || fail "fin line with the byte count"
grep -q '"event":"closed","conn":4,"cause":"peer","error":"ok","app":true,"code":0,"reason":"closed"' "$work/serve.log" \
  || fail "closed line"

# Pin mismatch: clean failure on both ends.
wrong=$(printf '%s' "$node" | sed 's/^./0/;t;' | sed 's/^0\(.*\)/1\1/')
[ "$wrong" != "$node" ] || wrong=$(printf '%s' "$node" | sed 's/^./2/')
if echo hi | timeout 20 "$M" quic dial "127.0.0.1:$port" --pin "$wrong" >"$work/out" 2>"$work/dial.err"; then
  fail "pin mismatch accepted"
fi
grep -q "is not the pinned key" "$work/dial.err" || fail "pin mismatch reason: $(cat "$work/dial.err")"
grep -q "(pin_mismatch)" "$work/dial.err" || fail "pin mismatch error name"
sleep 0.2
grep -q '"name":"quic_handshake_failed".*"reason":"peer sent TLS alert 42' "$work/serve.log" || fail "server did not report the failed handshake"
echo "pin mismatch: ok"

# ALPN mismatch.
if echo hi | timeout 20 "$M" quic dial "127.0.0.1:$port" --alpn h3 >"$work/out" 2>"$work/dial.err"; then
  fail "ALPN mismatch accepted"
fi
grep -q "ALPN" "$work/dial.err" || fail "ALPN reason: $(cat "$work/dial.err")"
echo "ALPN mismatch: ok"

# A closed port fails fast (ICMP), well within its deadline.
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
start=$(date +%s%N)
if echo hi | timeout 20 "$M" quic dial "127.0.0.1:$port" --timeout-ms 5000 >"$work/out" 2>"$work/dial.err"; then
  fail "dial to a closed port succeeded"
fi
took=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "refused" "$work/dial.err" || fail "closed port reason: $(cat "$work/dial.err")"
[ "$took" -lt 5000 ] || fail "closed port took $took ms"
echo "closed port: refused after $took ms"

# Bad usage.
if "$M" quic dial 2>/dev/null; then fail "dial without a target"; fi
if "$M" quic serve --listen nonsense --key "$work/k.key" 2>/dev/null; then fail "bad --listen"; fi
"$M" quic --help | grep -q '"event":"listening"' || fail "usage documents the JSON lines"
echo "all ok"
