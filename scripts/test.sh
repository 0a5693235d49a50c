#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite, from a fresh Debian 12 machine:
#   1. set-up and the normal build (scripts/setup.sh)
#   2. the quinn interop peer, built offline from Debian's Rust crates
#   3. every test of the normal build (unit, abi, cli, quic, interop, peering, example)
#   4. all of them again under AddressSanitizer + UndefinedBehaviorSanitizer
#   5. bounded libFuzzer runs of the decoder and the stream parser (clang)
#   6. other compilers and build types: gcc Release (-O3), gcc MinSizeRel,
#      clang Release, and a Debian-hardened build (dpkg-buildflags with
#      hardening=+all, _FORTIFY_SOURCE=3, PIE, full RELRO), each with
#      -Werror, running the unit and abi tests
# Exit status is non-zero if any step fails. Each step prints its time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
jobs=$(nproc 2>/dev/null || echo 2)

t0=$SECONDS
"$root/scripts/setup.sh"
macula_install_packages clang libclang-rt-14-dev iproute2 python3 openssl valgrind abigail-tools
took() { echo "test: $1 took $((SECONDS - t0)) s" >&2; t0=$SECONDS; }
took "set-up and the normal build"

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

took "quinn-peer"

status=0
echo "== tests (normal build)" >&2
(cd "$root/build" && ctest --output-on-failure -j "$jobs" -LE fuzz) || status=1
took "tests (normal build)"

echo "== tests under ASan + UBSan" >&2
macula_configure_build "$root/build-asan" -DMACULA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
  -DMACULA_QUINN_PEER="$quinn_dir/release/quinn-peer"
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j "$jobs" -LE fuzz) || status=1
took "ASan + UBSan build and tests"

echo "== bounded fuzzing (libFuzzer + ASan)" >&2
CC=clang macula_configure_build "$root/build-fuzz" -DMACULA_FUZZ=ON -DMACULA_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Debug
(cd "$root/build-fuzz" && ctest --output-on-failure -L fuzz) || status=1
took "fuzz build and runs"

# Every build type must build warning-free with both compilers (-O3 and
# -Os see different code than -O2: gcc's maybe-uninitialized, for one).
# The whole tree is built (library, CLI, benchmarks, every test program:
# warnings anywhere fail); only the unit and abi tests run, as the other
# areas are exercised by the builds above.
extra_build() {
  local name=$1; shift
  echo "== $name build (-Werror), unit + abi tests" >&2
  if macula_configure_build "$root/build-$name" "$@"; then
    (cd "$root/build-$name" && ctest --output-on-failure -j "$jobs" -L 'unit|abi') || status=1
  else
    status=1
  fi
  took "$name build and tests"
}
extra_build gcc-release -DCMAKE_BUILD_TYPE=Release
extra_build gcc-minsizerel -DCMAKE_BUILD_TYPE=MinSizeRel
CC=clang extra_build clang-release -DCMAKE_BUILD_TYPE=Release

# A Debian-hardened build: dpkg-buildflags' flags with every hardening
# feature, and _FORTIFY_SOURCE raised to 3 (gcc 12 + glibc 2.36; dpkg on
# Debian 12 still says 2). Build type None: those flags only, as debhelper
# builds a package.
hardened_check() {
  local b=$root/build-hardened ok=1 f macros dyn
  # (outputs captured first: grep -q on a pipe would SIGPIPE the writer,
  # which pipefail reports as a failure)
  # -U then -D: the level the compiler really sees
  # shellcheck disable=SC2086
  macros=$(echo | cc $hardened_cflags -dM -E -x c -)
  grep -qx '#define _FORTIFY_SOURCE 3' <<<"$macros" || { echo "hardened: _FORTIFY_SOURCE is not 3" >&2; ok=0; }
  for f in "$b/bin/macula" "$b/lib/libmacula.so"; do
    grep -q GNU_RELRO <<<"$(readelf -lW "$f")" || { echo "hardened: $f has no RELRO" >&2; ok=0; }
    grep -Eq 'BIND_NOW|FLAGS.*NOW' <<<"$(readelf -dW "$f")" || { echo "hardened: $f is not bound now" >&2; ok=0; }
  done
  grep -q 'DYN (' <<<"$(readelf -hW "$b/bin/macula")" || { echo "hardened: bin/macula is not PIE" >&2; ok=0; }
  grep -q 'FLAGS_1.*PIE' <<<"$(readelf -dW "$b/bin/macula")" || { echo "hardened: bin/macula is not PIE" >&2; ok=0; }
  # fortified calls (__memcpy_chk, ...) and the stack protector are in use
  dyn=$(nm -D "$b/lib/libmacula.so")
  grep -q '__[a-z_]*_chk' <<<"$dyn" || { echo "hardened: no fortified calls" >&2; ok=0; }
  grep -q '__stack_chk_fail' <<<"$dyn" || { echo "hardened: no stack protector" >&2; ok=0; }
  [ $ok = 1 ] && echo "hardened: FORTIFY_SOURCE=3, stack protector, PIE, RELRO, BIND_NOW: ok" >&2
  [ $ok = 1 ]
}
hardened_cflags="$(cd "$root" && DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CPPFLAGS)"
hardened_cflags+=" $(cd "$root" && DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CFLAGS)"
hardened_cflags+=" -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 -fstack-protector-strong"
hardened_ldflags="$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get LDFLAGS) -Wl,-z,relro,-z,now"
extra_build hardened -DCMAKE_BUILD_TYPE=None -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DCMAKE_C_FLAGS="$hardened_cflags" -DCMAKE_EXE_LINKER_FLAGS="$hardened_ldflags" \
  -DCMAKE_SHARED_LINKER_FLAGS="$hardened_ldflags"
hardened_check || status=1

if [ $status = 0 ]; then echo "test: all passed" >&2; else echo "test: FAILED" >&2; fi
exit $status
