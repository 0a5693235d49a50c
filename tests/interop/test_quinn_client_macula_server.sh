#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Interop: quinn (quinn-peer dial) as the client of `macula quic serve --echo`,
# ALPN "macula", the listener's self-signed Ed25519 certificate checked by
# quinn against the node id; 1 MiB echoed back byte-exact.
. "$MACULA_TEST_HELPERS/interop.sh"
t_need_quinn

"$MACULA" key gen -o "$T_DIR/server.key"
node_id=$(t_node_id "$T_DIR/server.key")
t_macula_serve server "$T_DIR/server.key"
server_pid=$T_LAST_PID

t_random_file "$T_DIR/in.bin" 1048576
t_run_bounded 30 "$MACULA_QUINN_PEER" dial --connect "127.0.0.1:$T_PORT" --alpn macula --pin-ed25519 "$node_id" \
  <"$T_DIR/in.bin" >"$T_DIR/out.bin" 2>"$T_DIR/quinn-dial.log" || t_fail "quinn-peer dial failed"
t_same_sha "$T_DIR/in.bin" "$T_DIR/out.bin" "quinn -> macula echo of 1 MiB"

# The listener saw the connection with ALPN macula, and quinn's close.
t_wait_match "$T_DIR/server.out" '"event":"(new_connection|connection|connected)"' >/dev/null
line=$(t_wait_match "$T_DIR/server.out" '"event":"closed"')
grep -q '"cause":"peer"' <<<"$line" || t_fail "server's closed event is not a peer close: $line"
grep -q '"alpn":"macula"' "$T_DIR/server.out" || t_fail "server did not report ALPN macula"

# quinn pinning another key refuses our certificate.
other=$(printf '%064d' 7)
if t_run_bounded 30 "$MACULA_QUINN_PEER" dial --connect "127.0.0.1:$T_PORT" --pin-ed25519 "$other" \
  </dev/null >/dev/null 2>"$T_DIR/quinn-wrong.log"; then
  t_fail "quinn accepted the certificate under a wrong pin"
fi
grep -q "pinned" "$T_DIR/quinn-wrong.log" || t_fail "quinn's refusal does not name the pin"
kill -0 "$server_pid" 2>/dev/null || t_fail "the server died"
echo ok
