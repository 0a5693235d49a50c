#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Forwarding under loss, reordering and duplication: `macula dial` -> lossy
# UDP relay -> `macula listen --echo`, whose echo forwards each received
# frame with macula_peer_forward (its received bytes, never re-encoded or
# signed). 240 frames of 10 B to 40 KiB, some unsigned, some signed by a
# key the listener does not know; the dialer must get every one back, byte
# for byte and in order, and the relay must really have impaired the
# traffic.
. "$MACULA_TEST_HELPERS/interop.sh"
t_need_relay

"$MACULA" key gen -o "$T_DIR/r.key"
"$MACULA" key gen -o "$T_DIR/a.key"
r_id=$(t_node_id "$T_DIR/r.key")
t_bg listen "$MACULA" listen --listen 127.0.0.1:0 --key "$T_DIR/r.key" --echo --drain-ms 300
listen_pid=$T_LAST_PID
port=$(t_port_of "$(t_wait_match "$T_DIR/listen.out" '"event":"listening"')")

# The frames: PUBLISH-shaped CBOR maps (keys in canonical order), one hex
# wire frame per file; every third one signed with a random seed.
n=240
python3 - "$T_DIR" "$n" <<'EOF'
import os, struct, sys
d, n = sys.argv[1], int(sys.argv[2])
def head(major, v):
    if v < 24: return bytes([major << 5 | v])
    if v < 256: return bytes([major << 5 | 24, v])
    if v < 65536: return bytes([major << 5 | 25]) + struct.pack(">H", v)
    return bytes([major << 5 | 26]) + struct.pack(">I", v)
def text(s):
    b = s.encode(); return head(3, len(b)) + b
sizes = [10, 150, 600, 4096, 40000, 333]
for i in range(n):
    size = sizes[i % len(sizes)]
    payload = bytes((i * 7 + k) & 0xff for k in range(size))
    body = head(5, 3) + text("seq") + head(0, i) + text("payload") + head(2, size) + payload \
        + text("frame_type") + text("publish")
    with open(os.path.join(d, "f%03d.hex" % i), "w") as f:
        f.write((struct.pack(">I", len(body)) + body).hex())
EOF
seed=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
args=()
for ((i = 0; i < n; i++)); do
  f=$(printf '%s/f%03d.hex' "$T_DIR" "$i")
  if ((i % 3 == 1)); then
    "$MACULA" frame resign "$seed" "@$f" >"$f.signed" || t_fail "resign failed"
    mv "$f.signed" "$f"
  fi
  tr -d '\n' <"$f" >>"$T_DIR/sent.txt"
  echo >>"$T_DIR/sent.txt"
  args+=(--send "@$f")
done

t_relay relay "$port" --loss 5 --reorder 5 --reorder-gap 3 --dup 5 --seed 21
t_run_bounded 90 "$MACULA" dial "127.0.0.1:$T_RELAY_PORT" --key "$T_DIR/a.key" --expect "$r_id" --wire \
  --frames "$n" --close-after 80000 --drain-ms 300 "${args[@]}" >"$T_DIR/dial.out" 2>"$T_DIR/dial.log" ||
  t_fail "dial through the relay failed (status $?): $(tail -3 "$T_DIR/dial.log")"
t_alive "$listen_pid" "the listener"
grep '"event":"frame"' "$T_DIR/dial.out" | sed -E 's/.*"wire":"([0-9a-f]*)".*/\1/' >"$T_DIR/got.txt"
got=$(wc -l <"$T_DIR/got.txt")
[ "$got" = "$n" ] || t_fail "$got frames came back, expected $n"
cmp -s "$T_DIR/sent.txt" "$T_DIR/got.txt" || t_fail "the frames that came back differ from those sent"
# Unsigned ones came back unsigned (flagged), none signed by the listener.
unsigned=$(grep '"event":"frame"' "$T_DIR/dial.out" | grep -c '"unsigned":true' || true)
[ "$unsigned" = $((n - n / 3)) ] || t_fail "$unsigned unsigned frames came back, expected $((n - n / 3))"
grep -q '"event":"diag".*echo_failed' "$T_DIR/listen.out" && t_fail "the listener's echo failed"
t_relay_stats relay
for field in dropped reordered duplicated; do
  for dir in to_target to_client; do
    v=$(t_stat "$T_STATS" "$dir" "$field")
    [ -n "$v" ] && [ "$v" -gt 0 ] || t_fail "the relay shows no $field packets $dir ($T_STATS)"
  done
done
echo "forwarded $n frames under loss: $T_STATS" >&2
echo ok
