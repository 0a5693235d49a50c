#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The source tree as a parent project uses it: tests/example/consumer/ is
# configured in a temporary folder, takes macula-c with add_subdirectory()
# (with -DMACULA_WERROR=ON, which a subproject must ignore), checks in CMake
# that no top-level decision or build flag of macula-c leaks, builds its C
# (shared and static) and C++ programs under its own stricter warnings
# with -Werror, and runs them.
set -euo pipefail
: "${MACULA_BUILD_DIR:?}" "${MACULA_SOURCE_DIR:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v c++ >/dev/null || fail "no C++ compiler (c++) installed"
dir=$(mktemp -d /tmp/macula-subdir.XXXXXX)
trap 'rm -rf "$dir"' EXIT
# The same C compiler as this build (gcc or clang).
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$MACULA_BUILD_DIR/CMakeCache.txt")
cmake -S "$MACULA_SOURCE_DIR/tests/example/consumer" -B "$dir/build" -DMACULA_SOURCE_DIR="$MACULA_SOURCE_DIR" \
  ${cc:+-DCMAKE_C_COMPILER="$cc"} -DMACULA_WERROR=ON >"$dir/configure.log" 2>&1 \
  || { cat "$dir/configure.log" >&2; fail "the consumer does not configure"; }
cmake --build "$dir/build" -j "$(nproc 2>/dev/null || echo 2)" >"$dir/build.log" 2>&1 \
  || { cat "$dir/build.log" >&2; fail "the consumer does not build"; }
for prog in consumer_c consumer_c_static consumer_cxx; do
  out=$("$dir/build/$prog") || fail "$prog exited $?: $out"
  echo "$out"
done
grep -q 'NEEDED.*libmacula\.so' <<<"$(readelf -d "$dir/build/consumer_c")" || fail "consumer_c (macula::macula) is not linked to libmacula.so"
if grep -q libmacula <<<"$(readelf -d "$dir/build/consumer_c_static")"; then fail "consumer_c_static needs libmacula.so"; fi
echo "ok: add_subdirectory consumer built with its own -Werror warnings (C and C++) and ran"
