#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Interop under loss, reordering and duplication: quinn's client against
# `macula quic serve --echo`, and `macula quic dial` against quinn's server,
# each through the lossy UDP relay, 1 MiB each way, byte-exact.
. "$MACULA_TEST_HELPERS/interop.sh"
t_need_quinn
t_need_relay

"$MACULA" key gen -o "$T_DIR/node.key"
node_id=$(t_node_id "$T_DIR/node.key")
"$MACULA" key cert "$T_DIR/node.key" --cert-out "$T_DIR/cert.pem" --key-out "$T_DIR/key.pem" >/dev/null
t_random_file "$T_DIR/in.bin" 1048576
impair=(--loss 6 --reorder 5 --reorder-gap 3 --dup 3)

# quinn client -> relay -> macula server
t_macula_serve server "$T_DIR/node.key"
t_relay relay1 "$T_PORT" "${impair[@]}" --seed 21
t_run_bounded 30 "$MACULA_QUINN_PEER" dial --connect "127.0.0.1:$T_RELAY_PORT" --pin-ed25519 "$node_id" \
  <"$T_DIR/in.bin" >"$T_DIR/out1.bin" 2>"$T_DIR/quinn-dial.log" || t_fail "quinn -> relay -> macula failed"
t_same_sha "$T_DIR/in.bin" "$T_DIR/out1.bin" "quinn -> relay -> macula"
t_relay_stats relay1; stats=$T_STATS
echo "quinn->macula: $stats" >&2
[ "$(t_stat "$stats" to_target dropped)" -gt 0 ] || t_fail "relay dropped nothing"

# macula client -> relay -> quinn server
t_quinn_serve quinn "$T_DIR/cert.pem" "$T_DIR/key.pem"
t_relay relay2 "$T_PORT" "${impair[@]}" --seed 22
t_run_bounded 30 "$MACULA" quic dial "127.0.0.1:$T_RELAY_PORT" --pin "$node_id" \
  <"$T_DIR/in.bin" >"$T_DIR/out2.bin" 2>"$T_DIR/dial.log" || t_fail "macula -> relay -> quinn failed"
t_same_sha "$T_DIR/in.bin" "$T_DIR/out2.bin" "macula -> relay -> quinn"
t_relay_stats relay2; stats=$T_STATS
echo "macula->quinn: $stats" >&2
[ "$(t_stat "$stats" to_client dropped)" -gt 0 ] || t_fail "relay dropped nothing"
echo ok
