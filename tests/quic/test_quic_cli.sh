#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `macula quic serve --echo` and `macula quic dial` over loopback: echo of
# 0 B, 1 B, 1 MiB and 64 MiB (equal SHA-256), the JSON event lines, pin
# match and mismatch, ALPN mismatch and a closed port, each failing cleanly.
. "$MACULA_TEST_HELPERS/interop.sh"
M=$MACULA
work=$T_DIR

"$M" key gen -o "$work/k.key" >/dev/null
node=$(t_node_id "$work/k.key")
[ ${#node} = 64 ] || t_fail "no node id"

t_macula_serve server "$work/k.key"
server_pid=$T_LAST_PID
port=$T_PORT
serve_log=$work/server.out
grep -q "\"event\":\"listening\".*\"node_id\":\"$node\"" "$serve_log" || t_fail "listening line without the node id"

for size in 0 1 1048576 67108864; do
  t_random_file "$work/in" "$size"
  t_run_bounded 60 "$M" quic dial "127.0.0.1:$port" --pin "$node" <"$work/in" >"$work/out" 2>"$work/dial.err" \
    || t_fail "echo of $size bytes: $(cat "$work/dial.err")"
  t_same_sha "$work/in" "$work/out" "echo of $size bytes"
  echo "echo $size bytes: ok"
done

# The server's JSON lines for those connections.
sleep 0.2
grep -q '"event":"connection","conn":1,"peer":"127.0.0.1:[0-9]*","alpn":"macula"' "$serve_log" || t_fail "connection line"
grep -q '"event":"stream_opened","conn":3,"stream":0' "$serve_log" || t_fail "stream_opened line"
grep -q '"event":"fin","conn":4,"stream":0,"total":67108864' "$serve_log" || t_fail "fin line with the byte count"
grep -q '"event":"closed","conn":4,"cause":"peer","error":"ok","app":true,"code":0,"reason":"closed"' "$serve_log" \
  || t_fail "closed line"

# Pin mismatch: clean failure on both ends.
wrong=$(printf '%s' "$node" | sed 's/^./0/;t;' | sed 's/^0\(.*\)/1\1/')
[ "$wrong" != "$node" ] || wrong=$(printf '%s' "$node" | sed 's/^./2/')
if echo hi | t_run_bounded 20 "$M" quic dial "127.0.0.1:$port" --pin "$wrong" >"$work/out" 2>"$work/dial.err"; then
  t_fail "pin mismatch accepted"
fi
grep -q "is not the pinned key" "$work/dial.err" || t_fail "pin mismatch reason: $(cat "$work/dial.err")"
grep -q "(pin_mismatch)" "$work/dial.err" || t_fail "pin mismatch error name"
sleep 0.2
grep -q '"name":"quic_handshake_failed".*"reason":"peer sent TLS alert 42' "$serve_log" || t_fail "server did not report the failed handshake"
echo "pin mismatch: ok"

# ALPN mismatch.
if echo hi | t_run_bounded 20 "$M" quic dial "127.0.0.1:$port" --alpn h3 >"$work/out" 2>"$work/dial.err"; then
  t_fail "ALPN mismatch accepted"
fi
grep -q "ALPN" "$work/dial.err" || t_fail "ALPN reason: $(cat "$work/dial.err")"
echo "ALPN mismatch: ok"

# A closed port fails fast (ICMP), well within its deadline.
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
start=$(date +%s%N)
if echo hi | t_run_bounded 20 "$M" quic dial "127.0.0.1:$port" --timeout-ms 5000 >"$work/out" 2>"$work/dial.err"; then
  t_fail "dial to a closed port succeeded"
fi
took=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "refused" "$work/dial.err" || t_fail "closed port reason: $(cat "$work/dial.err")"
[ "$took" -lt 5000 ] || t_fail "closed port took $took ms"
echo "closed port: refused after $took ms"

# Bad usage.
if "$M" quic dial 2>/dev/null; then t_fail "dial without a target"; fi
if "$M" quic serve --listen nonsense --key "$work/k.key" 2>/dev/null; then t_fail "bad --listen"; fi
"$M" quic --help | grep -q '"event":"listening"' || t_fail "usage documents the JSON lines"
echo "all ok"
