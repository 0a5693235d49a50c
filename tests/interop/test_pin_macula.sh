#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pinning between two macula processes: the right node id connects and
# echoes; a wrong one fails cleanly on both ends (the dialer exits non-zero
# with a reason naming both keys; the listener reports a handshake-failed
# close and keeps serving).
. "$MACULA_TEST_HELPERS/interop.sh"

"$MACULA" key gen -o "$T_DIR/server.key"
"$MACULA" key gen -o "$T_DIR/other.key"
node_id=$(t_node_id "$T_DIR/server.key")
other_id=$(t_node_id "$T_DIR/other.key")
t_macula_serve server "$T_DIR/server.key"
server_pid=$T_LAST_PID

t_random_file "$T_DIR/in.bin" 65536
t_run_bounded 30 "$MACULA" quic dial "127.0.0.1:$T_PORT" --pin "$node_id" <"$T_DIR/in.bin" >"$T_DIR/out.bin" \
  2>"$T_DIR/dial.log" || t_fail "pinned dial with the right node id failed"
t_same_sha "$T_DIR/in.bin" "$T_DIR/out.bin" "pinned echo"

rc=0
t_run_bounded 30 "$MACULA" quic dial "127.0.0.1:$T_PORT" --pin "$other_id" <"$T_DIR/in.bin" >"$T_DIR/out-wrong.bin" \
  2>"$T_DIR/dial-wrong.log" || rc=$?
[ "$rc" != 0 ] || t_fail "dial accepted the server under a wrong pin"
[ "$rc" != 124 ] && [ "$rc" != 137 ] || t_fail "dial with a wrong pin hung"
[ ! -s "$T_DIR/out-wrong.bin" ] || t_fail "bytes flowed under a wrong pin"
grep -q "$node_id" "$T_DIR/dial-wrong.log" || t_fail "reason does not name the server's key"
grep -q "$other_id" "$T_DIR/dial-wrong.log" || t_fail "reason does not name the pinned key"
t_wait_match "$T_DIR/server.out" '"event":"(closed|diag)".*handshake_failed' >/dev/null

# The listener is still serving.
t_run_bounded 30 "$MACULA" quic dial "127.0.0.1:$T_PORT" --pin "$node_id" <"$T_DIR/in.bin" >"$T_DIR/out2.bin" \
  2>"$T_DIR/dial2.log" || t_fail "dial after the refused one failed"
t_same_sha "$T_DIR/in.bin" "$T_DIR/out2.bin" "echo after a refused dial"
kill -0 "$server_pid" 2>/dev/null || t_fail "the server died"
echo ok
