#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Interop under address validation: quinn (quinn-peer dial) as the client of
# `macula quic serve --retry always`: it must follow our Retry (token,
# new connection ids, retry_source_connection_id checked by quinn) and then
# get its 64 KiB echoed byte-exact. The server's exit stats line shows
# that a Retry was sent and no token was refused.
. "$MACULA_TEST_HELPERS/interop.sh"
t_need_quinn

"$MACULA" key gen -o "$T_DIR/server.key"
node_id=$(t_node_id "$T_DIR/server.key")
t_macula_serve server "$T_DIR/server.key" --retry always
server_pid=$T_LAST_PID

t_random_file "$T_DIR/in.bin" 65536
t_run_bounded 30 "$MACULA_QUINN_PEER" dial --connect "127.0.0.1:$T_PORT" --alpn macula --pin-ed25519 "$node_id" \
  <"$T_DIR/in.bin" >"$T_DIR/out.bin" 2>"$T_DIR/quinn-dial.log" || t_fail "quinn-peer dial failed: $(tail -3 "$T_DIR/quinn-dial.log")"
t_same_sha "$T_DIR/in.bin" "$T_DIR/out.bin" "quinn -> macula (Retry) echo of 64 KiB"
kill -TERM "$server_pid"
line=$(t_wait_match "$T_DIR/server.out" '"event":"stats"')
grep -q '"retry_sent":1,' <<<"$line" || t_fail "expected one Retry: $line"
grep -q '"retry_token_bad":0' <<<"$line" || t_fail "a token was refused: $line"
echo "ok: $line"
