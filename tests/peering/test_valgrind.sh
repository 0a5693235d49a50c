#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The in-process peering session test (handshake, frames both ways, drain,
# stale handles, early close, refused sends: real QUIC on loopback) under
# valgrind memcheck: no invalid access, no leak. Skipped (77) when valgrind
# is missing or the build is sanitized (valgrind cannot run ASan binaries).
set -euo pipefail
: "${MACULA_BUILD_DIR:?}"
prog="$MACULA_BUILD_DIR/tests/peering/peering_test_peering_session"
if ! command -v valgrind >/dev/null; then
  echo "valgrind is not installed: skipped" >&2
  exit 77
fi
if grep -q '^MACULA_SANITIZE:BOOL=ON' "$MACULA_BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
  echo "sanitized build: skipped" >&2
  exit 77
fi
[ -x "$prog" ] || { echo "FAIL: $prog is missing" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Leaks of any kind but "still reachable" count as errors.
if ! valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --log-file="$log" "$prog"; then
  cat "$log" >&2
  echo "FAIL: valgrind reported errors (or the test failed)" >&2
  exit 1
fi
grep -v 'unhandled amd64-linux syscall\|You may be able to write\|README_MISSING_SYSCALL\|Nevertheless we consider\|valgrind.org/support' "$log" >&2 || true
echo "valgrind: clean"
