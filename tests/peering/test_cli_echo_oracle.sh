#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `macula listen --echo` is no signing oracle (issue 11 item 5): a peer sends
# an UNSIGNED PUBLISH naming the listener as its publisher; the echo must
# come back byte for byte as sent, flagged unsigned, and nothing the peer
# receives may verify against the listener's key. A signed frame is still
# echoed unchanged (its signature is the sender's).
. "$MACULA_TEST_HELPERS/interop.sh"

"$MACULA" key gen -o "$T_DIR/r.key"
"$MACULA" key gen -o "$T_DIR/a.key"
r_id=$(t_node_id "$T_DIR/r.key")
t_bg listen "$MACULA" listen --listen 127.0.0.1:0 --key "$T_DIR/r.key" --echo --drain-ms 300
listen_pid=$T_LAST_PID
port=$(t_port_of "$(t_wait_match "$T_DIR/listen.out" '"event":"listening"')")

# {"seq": 1, "topic": "t", "payload": "x", "publisher": <listener id>,
#  "frame_type": "publish"}, canonical key order, no signature.
unsigned=$(python3 - "$r_id" <<'EOF'
import struct, sys
pub = bytes.fromhex(sys.argv[1])
def head(major, v):
    if v < 24: return bytes([major << 5 | v])
    if v < 256: return bytes([major << 5 | 24, v])
    return bytes([major << 5 | 25]) + struct.pack(">H", v)
def text(s):
    b = s.encode(); return head(3, len(b)) + b
def byts(b): return head(2, len(b)) + b
body = head(5, 5) + text("seq") + head(0, 1) + text("topic") + byts(b"t") + text("payload") + byts(b"x") \
    + text("publisher") + byts(pub) + text("frame_type") + text("publish")
print((struct.pack(">I", len(body)) + body).hex())
EOF
)
[ -n "$unsigned" ] || t_fail "could not build the frame"
seed=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
signed=$("$MACULA" frame resign "$seed" "$unsigned") || t_fail "resign failed"

t_run_bounded 30 "$MACULA" dial "127.0.0.1:$port" --key "$T_DIR/a.key" --expect "$r_id" --wire --frames 2 \
  --close-after 20000 --send "$unsigned" --send "$signed" >"$T_DIR/dial.out" 2>"$T_DIR/dial.log" ||
  t_fail "dial failed (status $?): $(tail -3 "$T_DIR/dial.log")"
t_alive "$listen_pid" "the listener"
mapfile -t got < <(grep '"event":"frame"' "$T_DIR/dial.out" | sed -E 's/.*"wire":"([0-9a-f]*)".*/\1/')
[ "${#got[@]}" = 2 ] || t_fail "${#got[@]} frames came back, expected 2: $(cat "$T_DIR/dial.out")"
[ "${got[0]}" = "$unsigned" ] || t_fail "the unsigned frame came back changed: ${got[0]}"
[ "${got[1]}" = "$signed" ] || t_fail "the signed frame came back changed: ${got[1]}"
grep '"event":"frame"' "$T_DIR/dial.out" | head -1 | grep -q '"unsigned":true' || t_fail "the echo is not flagged unsigned"
for w in "${got[@]}"; do
  out=$("$MACULA" frame verify "$w" "$r_id" 2>&1) || true
  [ "$out" != ok ] || t_fail "a frame the peer received verifies against the listener's key: $w"
done
grep -q '"name":"unsigned_frame"' "$T_DIR/listen.out" || t_fail "the listener reported no unsigned_frame"
echo ok
