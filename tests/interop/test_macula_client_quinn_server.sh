#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Interop: `macula quic dial` as the client of quinn (quinn-peer serve) serving
# the certificate and PKCS#8 key `macula key cert` made; the dial pins the
# identity's node id, 1 MiB is echoed back byte-exact; a wrong pin is refused
# with a reason naming both keys, and a non-zero exit.
. "$MACULA_TEST_HELPERS/interop.sh"
t_need_quinn

"$MACULA" key gen -o "$T_DIR/server.key"
node_id=$(t_node_id "$T_DIR/server.key")
"$MACULA" key cert "$T_DIR/server.key" --san 127.0.0.1 --san localhost \
  --cert-out "$T_DIR/cert.pem" --key-out "$T_DIR/key.pem" >/dev/null
t_quinn_serve quinn "$T_DIR/cert.pem" "$T_DIR/key.pem" --alpn macula
quinn_pid=$T_LAST_PID

t_random_file "$T_DIR/in.bin" 1048576
t_run_bounded 30 "$MACULA" quic dial "127.0.0.1:$T_PORT" --alpn macula --pin "$node_id" \
  <"$T_DIR/in.bin" >"$T_DIR/out.bin" 2>"$T_DIR/dial.log" || t_fail "macula quic dial to quinn failed"
t_same_sha "$T_DIR/in.bin" "$T_DIR/out.bin" "macula -> quinn echo of 1 MiB"
t_wait_match "$T_DIR/quinn.log" '"event":"stream_done","bytes":1048576' >/dev/null
t_wait_match "$T_DIR/quinn.log" '"event":"closed"' >/dev/null

# Without a pin (verification off) it works too: the dialer warns.
t_run_bounded 30 "$MACULA" quic dial "127.0.0.1:$T_PORT" <"$T_DIR/in.bin" >"$T_DIR/out2.bin" \
  2>"$T_DIR/dial-nopin.log" || t_fail "unpinned dial to quinn failed"
t_same_sha "$T_DIR/in.bin" "$T_DIR/out2.bin" "unpinned macula -> quinn echo"

# A wrong node id: refused, exit non-zero, the reason names the key found
# and the one expected.
"$MACULA" key gen -o "$T_DIR/other.key"
other_id=$(t_node_id "$T_DIR/other.key")
rc=0
t_run_bounded 30 "$MACULA" quic dial "127.0.0.1:$T_PORT" --pin "$other_id" </dev/null >/dev/null \
  2>"$T_DIR/dial-wrong.log" || rc=$?
[ "$rc" != 0 ] || t_fail "dial accepted quinn's certificate under a wrong pin"
[ "$rc" != 124 ] && [ "$rc" != 137 ] || t_fail "dial with a wrong pin hung until the test's timeout"
grep -q "$node_id" "$T_DIR/dial-wrong.log" || t_fail "reason does not name the server's key: $(cat "$T_DIR/dial-wrong.log")"
grep -q "$other_id" "$T_DIR/dial-wrong.log" || t_fail "reason does not name the pinned key: $(cat "$T_DIR/dial-wrong.log")"
t_wait_match "$T_DIR/quinn.log" '"event":"handshake_failed"' >/dev/null
kill -0 "$quinn_pid" 2>/dev/null || t_fail "quinn-peer died"
echo ok
