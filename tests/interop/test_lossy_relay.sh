#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Loss, reordering and duplication between two macula processes: `macula quic
# dial` -> lossy UDP relay -> `macula quic serve --echo`, 2 MiB each way per
# profile, byte-exact (SHA-256), and the relay really did impair the traffic.
. "$MACULA_TEST_HELPERS/interop.sh"
t_need_relay

"$MACULA" key gen -o "$T_DIR/server.key"
node_id=$(t_node_id "$T_DIR/server.key")
t_macula_serve server "$T_DIR/server.key"
server_port=$T_PORT
server_pid=$T_LAST_PID
t_random_file "$T_DIR/in.bin" $((2 * 1048576))

# run_profile NAME RELAY-ARGS...
run_profile() {
  local name=$1; shift
  t_alive "$server_pid" "the server"
  t_relay "relay-$name" "$server_port" "$@"
  t_run_bounded 30 "$MACULA" quic dial "127.0.0.1:$T_RELAY_PORT" --pin "$node_id" \
    <"$T_DIR/in.bin" >"$T_DIR/out-$name.bin" 2>"$T_DIR/dial-$name.log" ||
    t_fail "$name: dial through the relay failed (status $?)"
  t_same_sha "$T_DIR/in.bin" "$T_DIR/out-$name.bin" "$name"
  t_relay_stats "relay-$name"
  echo "$name: $T_STATS" >&2
}

# stat_positive NAME FIELD: both directions had some of FIELD.
stat_positive() {
  local dir v
  for dir in to_target to_client; do
    v=$(t_stat "$T_STATS" "$dir" "$2")
    [ -n "$v" ] && [ "$v" -gt 0 ] || t_fail "$1: the relay shows no $2 packets $dir ($T_STATS)"
  done
}

run_profile loss --loss 7 --seed 11
stat_positive loss dropped

run_profile reorder-dup --reorder 10 --reorder-gap 3 --dup 5 --seed 12
stat_positive reorder-dup reordered
stat_positive reorder-dup duplicated

run_profile mixed --loss 5 --reorder 5 --reorder-gap 4 --dup 5 --seed 13
stat_positive mixed dropped
stat_positive mixed reordered
stat_positive mixed duplicated
echo ok
