# SPDX-License-Identifier: Apache-2.0
# Shell helpers for the script tests (sourced): a scratch directory,
# background processes that are always stopped, port discovery from the
# peers' JSON logs, the lossy relay, SHA-256 comparisons and exit-status
# checks. Every process started here is stopped by its own PID on exit.

set -euo pipefail
: "${MACULA:?MACULA must point to the macula program}"
: "${MACULA_BUILD_DIR:?MACULA_BUILD_DIR must be set}"

T_DIR=$(mktemp -d /tmp/macula-test.XXXXXX)
T_PIDS=()
T_RELAY="$MACULA_BUILD_DIR/tests/bin/prog_lossy_relay"

t_cleanup() {
  local pid
  for pid in "${T_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${T_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${T_KEEP:-0}" = 1 ]; then echo "kept $T_DIR" >&2; else rm -rf "$T_DIR"; fi
}
trap t_cleanup EXIT

t_fail() {
  echo "FAIL: $*" >&2
  local f pid rc
  for pid in "${T_PIDS[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rc=0; wait "$pid" 2>/dev/null || rc=$?
      echo "(background process $pid had ended, status $rc)" >&2
    fi
  done
  for f in "$T_DIR"/*.log; do
    [ -e "$f" ] || continue
    echo "--- $(basename "$f") (last 20 lines)" >&2
    tail -n 20 "$f" >&2
  done
  exit 1
}

# The interop peer must exist wherever the steering repo's shared/ (which
# holds its sources) is beside the clone: then a missing peer is a failure,
# never a pass. A plain clone without ../shared cannot build it: the test
# is skipped (exit 77, which CTest reports as "Skipped") with the reason.
t_need_quinn() {
  if [ -n "${MACULA_QUINN_PEER:-}" ] && [ -x "$MACULA_QUINN_PEER" ]; then
    return 0
  fi
  if [ ! -e "${MACULA_SHARED_DIR:-/nonexistent}/interop/quinn-peer" ]; then
    echo "SKIP: quinn-peer unavailable: no shared/interop/quinn-peer at '${MACULA_SHARED_DIR:-}' to build it from" >&2
    exit 77
  fi
  echo "FAIL: quinn-peer not found at '${MACULA_QUINN_PEER:-}' (scripts/test.sh builds it with" \
    "${MACULA_SHARED_DIR}/interop/quinn-peer/build.sh into build/quinn-peer; or configure -DMACULA_QUINN_PEER=...)" >&2
  exit 1
}

# t_alive PID WHAT: fails unless the background process is still running.
t_alive() {
  kill -0 "$1" 2>/dev/null && return 0
  local rc=0
  wait "$1" 2>/dev/null || rc=$?
  t_fail "$2 has exited (status $rc)"
}

t_need_relay() {
  [ -x "$T_RELAY" ] || t_fail "relay helper $T_RELAY is not built"
}

# t_bg NAME CMD...: runs CMD in the background, stdout to NAME.out and
# stderr to NAME.log in T_DIR; sets T_LAST_PID.
t_bg() {
  local name=$1; shift
  "$@" >"$T_DIR/$name.out" 2>"$T_DIR/$name.log" &
  T_LAST_PID=$!
  T_PIDS+=("$T_LAST_PID")
}

# t_wait_match FILE REGEX [SECONDS]: waits until FILE has a line matching
# REGEX; prints that line.
t_wait_match() {
  local file=$1 re=$2 secs=${3:-10} i line
  for ((i = 0; i < secs * 20; i++)); do
    if [ -f "$file" ] && line=$(grep -E -m 1 -- "$re" "$file"); then
      printf '%s\n' "$line"
      return 0
    fi
    sleep 0.05
  done
  t_fail "no line matching '$re' in $(basename "$file") within ${secs}s"
}

# The port of an "ADDR:PORT" or "port":N field in a JSON line.
t_port_of() {
  local line=$1 port
  port=$(sed -n -E 's/.*"port":([0-9]+).*/\1/p' <<<"$line")
  [ -n "$port" ] || port=$(sed -n -E 's/.*"(addr|address|local|listen)":"[^"]*:([0-9]+)".*/\2/p' <<<"$line")
  [ -n "$port" ] || t_fail "no port in '$line'"
  echo "$port"
}

# t_macula_serve NAME KEYFILE [ARGS...]: `macula quic serve --echo` on a
# loopback port (T_SERVE_PORT when set, else any); sets T_PORT and
# T_LAST_PID.
t_macula_serve() {
  local name=$1 key=$2; shift 2
  t_bg "$name" "$MACULA" quic serve --listen "127.0.0.1:${T_SERVE_PORT:-0}" --key "$key" --echo "$@"
  local line
  line=$(t_wait_match "$T_DIR/$name.out" '"event":"listening"')
  T_PORT=$(t_port_of "$line")
}

# t_quinn_serve NAME CERT KEY [ARGS...]: quinn-peer's echo server; sets
# T_PORT and T_LAST_PID.
t_quinn_serve() {
  local name=$1 cert=$2 key=$3; shift 3
  t_bg "$name" "$MACULA_QUINN_PEER" serve --listen 127.0.0.1:0 --cert "$cert" --key "$key" "$@"
  local line
  line=$(t_wait_match "$T_DIR/$name.log" '"event":"listening"')
  T_PORT=$(t_port_of "$line")
}

# t_relay NAME TARGET_PORT [RELAY ARGS...]: the lossy relay in front of a
# loopback port; sets T_RELAY_PORT and T_RELAY_PID.
t_relay() {
  local name=$1 target=$2; shift 2
  t_bg "$name" "$T_RELAY" --target "127.0.0.1:$target" "$@"
  T_RELAY_PID=$T_LAST_PID
  T_RELAY_PORT=$(t_wait_match "$T_DIR/$name.out" '^[0-9]+$')
}

# t_relay_stats NAME: stops the relay and sets T_STATS to its statistics
# line. (Not in a $(...) subshell: only this shell can wait for the relay.)
t_relay_stats() {
  local name=$1
  kill -TERM "$T_RELAY_PID" 2>/dev/null || true
  wait "$T_RELAY_PID" 2>/dev/null || true
  T_STATS=$(grep -m 1 '"event":"relay_stats"' "$T_DIR/$name.log") || t_fail "relay printed no statistics"
}

# t_stat JSON DIRECTION FIELD: one counter of a relay_stats line.
t_stat() {
  sed -n -E "s/.*\"$2\":\\{[^}]*\"$3\":([0-9]+).*/\\1/p" <<<"$1"
}

t_random_file() { # PATH BYTES
  head -c "$2" /dev/urandom >"$1"
}

t_sha() { sha256sum "$1" | cut -d' ' -f1; }

# t_same_sha IN OUT WHAT: fails unless both files have the same SHA-256.
t_same_sha() {
  local a b
  a=$(t_sha "$1"); b=$(t_sha "$2")
  [ "$a" = "$b" ] || t_fail "$3: SHA-256 differs ($(stat -c %s "$1") bytes sent, $(stat -c %s "$2") received)"
}

# t_node_id KEYFILE
t_node_id() { "$MACULA" key show "$1" | sed -n 's/^node_id //p'; }

# t_run_bounded SECONDS CMD...: runs CMD (stdin/stdout as given) and fails
# the test if it has not finished within SECONDS; returns CMD's status.
t_run_bounded() {
  local secs=$1; shift
  timeout --kill-after=5 "$secs" "$@"
}

# t_expect_exit CODE PATTERN CMD...: fails unless CMD exits with CODE and
# says something matching PATTERN (grep) on stderr.
t_expect_exit() {
  local code=$1 pattern=$2; shift 2
  local rc=0 err
  err=$("$@" 2>&1 >/dev/null) || rc=$?
  [ "$rc" = "$code" ] || t_fail "'$*' exited $rc, expected $code ($err)"
  grep -q -- "$pattern" <<<"$err" || t_fail "'$*' said '$err', expected '$pattern'"
}
