#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite, from a fresh Debian 12 machine:
#   1. set-up and the normal build (scripts/setup.sh)
#   2. the quinn interop peer, built offline from Debian's Rust crates
#   3. every test of the normal build (unit, cli, quic, interop, peering, example)
#   4. all of them again under AddressSanitizer + UndefinedBehaviorSanitizer
#   5. bounded libFuzzer runs of the decoder and the stream parser (clang)
# Exit status is non-zero if any step fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
jobs=$(nproc 2>/dev/null || echo 2)

"$root/scripts/setup.sh"
macula_install_packages clang libclang-rt-14-dev iproute2 python3 openssl valgrind

shared=$(sed -n 's/^MACULA_SHARED_DIR:PATH=//p' "$root/build/CMakeCache.txt")
quinn_dir="$root/build/quinn-peer"
if [ -x "$shared/interop/quinn-peer/build.sh" ]; then
  echo "test: building quinn-peer (interop peer)" >&2
  "$shared/interop/quinn-peer/build.sh" "$quinn_dir" >/dev/null
else
  # A plain clone: the interop tests that need quinn-peer report themselves
  # as skipped (CTest "Skipped", with the reason); everything else runs on
  # the repository's own data.
  echo "test: $shared/interop/quinn-peer not found: the quinn interop tests will be skipped" >&2
fi

status=0
echo "== tests (normal build)" >&2
(cd "$root/build" && ctest --output-on-failure -j "$jobs" -LE fuzz) || status=1

echo "== tests under ASan + UBSan" >&2
macula_configure_build "$root/build-asan" -DMACULA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
  -DMACULA_QUINN_PEER="$quinn_dir/release/quinn-peer"
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j "$jobs" -LE fuzz) || status=1

echo "== bounded fuzzing (libFuzzer + ASan)" >&2
CC=clang macula_configure_build "$root/build-fuzz" -DMACULA_FUZZ=ON -DMACULA_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Debug
(cd "$root/build-fuzz" && ctest --output-on-failure -L fuzz) || status=1

if [ $status = 0 ]; then echo "test: all passed" >&2; else echo "test: FAILED" >&2; fi
exit $status
