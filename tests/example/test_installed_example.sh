#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The installed library, as a user gets it: `cmake --install` into a
# temporary prefix (and each install component into its own, holding just
# its files), then examples/dial_print.c built against that prefix
# only, four ways (pkg-config shared and static, find_package shared and
# static), each run against the installed `macula listen --echo`: it must
# get its PUBLISH echoed and end with GOODBYE + drain (exit 0). The API
# sample in README.md is compiled and run the same way.
set -euo pipefail
: "${MACULA_BUILD_DIR:?}" "${MACULA_SOURCE_DIR:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in cc cmake pkg-config; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
dir=$(mktemp -d /tmp/macula-example.XXXXXX)
listener_pid=
cleanup() {
  [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null && wait "$listener_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
prefix=$dir/prefix
src=$MACULA_SOURCE_DIR/examples/dial_print.c
cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -O2)
# A sanitized build installs sanitized code: its users must link the runtime.
san=()
if grep -q '^MACULA_SANITIZE:BOOL=ON' "$MACULA_BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
  san=(-fsanitize=address,undefined)
  cflags+=("${san[@]}")
fi

# --- install ---
cmake --install "$MACULA_BUILD_DIR" --prefix "$prefix" >"$dir/install.log" || { cat "$dir/install.log" >&2; fail "cmake --install failed"; }
for f in include/macula.h include/macula/common.h include/macula/identity.h include/macula/value.h \
         include/macula/frame.h include/macula/runtime.h include/macula/quic.h include/macula/peering.h bin/macula; do
  [ -e "$prefix/$f" ] || fail "$f was not installed"
done
pc=$(find "$prefix" -name macula.pc -path '*/pkgconfig/*')
[ -n "$pc" ] || fail "no pkgconfig/macula.pc installed"
libdir=$(dirname "$(dirname "$pc")")
for f in libmacula.so libmacula.a "cmake/macula/maculaConfig.cmake" "cmake/macula/maculaConfigVersion.cmake"; do
  [ -e "$libdir/$f" ] || fail "$libdir/$f was not installed"
done
for f in include/macula/version.h share/doc/macula/LICENSE; do
  [ -e "$prefix/$f" ] || fail "$f was not installed"
done
[ -z "$(find "$prefix" -name '*.in')" ] || fail "templates were installed: $(find "$prefix" -name '*.in')"
soname=$(readelf -d "$libdir/libmacula.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ -L "$libdir/$soname" ] || fail "no soname link $libdir/$soname"
# Nothing installed may point back into the build or source tree.
if grep -rl -e "$MACULA_BUILD_DIR" -e "$MACULA_SOURCE_DIR" "$prefix/include" "$libdir/pkgconfig" "$libdir/cmake" >/dev/null; then
  fail "installed files mention the build or source tree: $(grep -rl -e "$MACULA_BUILD_DIR" -e "$MACULA_SOURCE_DIR" "$prefix/include" "$libdir/pkgconfig" "$libdir/cmake")"
fi

# --- install components: each holds its own files and only those ---
# (paths relative to the prefix, symlinks included, sorted)
rel_libdir=${libdir#"$prefix"/}
component_files() {
  rm -rf "$dir/c-$1"
  cmake --install "$MACULA_BUILD_DIR" --prefix "$dir/c-$1" --component "$1" >/dev/null \
    || fail "cmake --install --component $1 failed"
  (cd "$dir/c-$1" && find . \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort)
}
want_runtime=$(printf '%s\n' "$rel_libdir/$soname" "$rel_libdir/$(readlink "$libdir/$soname")" share/doc/macula/LICENSE | LC_ALL=C sort)
got=$(component_files runtime)
[ "$got" = "$want_runtime" ] || fail "component runtime installs:
$got
expected:
$want_runtime"
got=$(component_files tools)
[ "$got" = "$(printf '%s\n' bin/macula share/doc/macula/LICENSE)" ] || fail "component tools installs: $got"
got=$(component_files development)
for f in include/macula.h include/macula/common.h include/macula/version.h "$rel_libdir/libmacula.so" \
         "$rel_libdir/libmacula.a" "$rel_libdir/pkgconfig/macula.pc" "$rel_libdir/cmake/macula/maculaConfig.cmake" \
         "$rel_libdir/cmake/macula/maculaTargets.cmake" share/doc/macula/LICENSE; do
  grep -qxF "$f" <<<"$got" || fail "component development lacks $f: $got"
done
if grep -e "$soname" -e '^bin/' <<<"$got"; then fail "component development holds runtime or tools files"; fi
# runtime + development + tools is the whole install
all=$( (cd "$prefix" && find . \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort) )
union=$(cat <(component_files runtime) <(component_files development) <(component_files tools) | LC_ALL=C sort -u)
[ "$all" = "$union" ] || fail "files outside the runtime, development and tools components: $(comm -23 <(echo "$all") <(echo "$union"))"

# --- build with pkg-config (shared, then static) ---
export PKG_CONFIG_PATH=$libdir/pkgconfig
[ "$(pkg-config --modversion macula)" = "$("$prefix/bin/macula" --version | awk '{print $2}')" ] \
  || fail "pkg-config --modversion macula says $(pkg-config --modversion macula)"
grep -q '^License: Apache-2.0$' "$libdir/pkgconfig/macula.pc" || fail "macula.pc has no License field"
[ "$(pkg-config --variable=libdir macula)" -ef "$libdir" ] || fail "pkg-config libdir is $(pkg-config --variable=libdir macula)"
# shellcheck disable=SC2046
cc "${cflags[@]}" "$src" $(pkg-config --cflags --libs macula) -Wl,-rpath,"$libdir" -o "$dir/dial_print_pc" \
  || fail "dial_print does not build with pkg-config --cflags --libs macula"
# Static: the archive by name, then everything --static says it needs.
static_libs=$(pkg-config --static --libs macula)
static_libs=${static_libs/-lmacula/-l:libmacula.a}
# shellcheck disable=SC2046,SC2086
cc "${cflags[@]}" "$src" $(pkg-config --cflags macula) $static_libs -o "$dir/dial_print_pc_static" \
  || fail "dial_print does not link statically with pkg-config --static --libs macula"
readelf -d "$dir/dial_print_pc" | grep -q 'NEEDED.*libmacula\.so' || fail "dial_print_pc is not linked to libmacula.so"
if readelf -d "$dir/dial_print_pc_static" | grep -q 'libmacula'; then fail "dial_print_pc_static needs libmacula.so"; fi

# --- build with find_package(macula) ---
mkdir -p "$dir/consumer"
cp "$src" "$dir/consumer/"
cat >"$dir/consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.22)
project(macula_consumer LANGUAGES C)
find_package(macula 0.1 REQUIRED)
if(NOT macula_LICENSE STREQUAL "Apache-2.0" OR NOT EXISTS "${macula_LICENSE_FILE}")
  message(FATAL_ERROR "macula_LICENSE='${macula_LICENSE}' macula_LICENSE_FILE='${macula_LICENSE_FILE}'")
endif()
add_executable(dial_print_cmake dial_print.c)
target_link_libraries(dial_print_cmake PRIVATE macula::macula)
add_executable(dial_print_cmake_static dial_print.c)
target_link_libraries(dial_print_cmake_static PRIVATE macula::static)
CMAKE
cmake -S "$dir/consumer" -B "$dir/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_C_FLAGS="-Wall -Wextra -Wpedantic -Werror ${san[*]}" >"$dir/cmake.log" 2>&1 \
  || { cat "$dir/cmake.log" >&2; fail "find_package(macula) failed"; }
cmake --build "$dir/consumer/build" >>"$dir/cmake.log" 2>&1 || { cat "$dir/cmake.log" >&2; fail "the find_package build failed"; }
grep -q "macula_DIR:PATH=$libdir/cmake/macula" "$dir/consumer/build/CMakeCache.txt" \
  || fail "find_package found macula elsewhere: $(grep macula_DIR "$dir/consumer/build/CMakeCache.txt")"
if readelf -d "$dir/consumer/build/dial_print_cmake_static" | grep -q 'libmacula'; then fail "macula::static needs libmacula.so"; fi

# --- run each against the installed `macula listen --echo` ---
"$prefix/bin/macula" key gen -o "$dir/listener.key" >/dev/null
"$prefix/bin/macula" listen --listen 127.0.0.1:0 --key "$dir/listener.key" --echo >"$dir/listen.out" 2>"$dir/listen.err" &
listener_pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$dir/listen.out" | head -n 1)
  [ -n "$port" ] && break
  kill -0 "$listener_pid" 2>/dev/null || { cat "$dir/listen.err" >&2; fail "macula listen exited"; }
  sleep 0.1
done
[ -n "$port" ] || fail "macula listen printed no listening port: $(cat "$dir/listen.out")"

n=0
for prog in "$dir/dial_print_pc" "$dir/dial_print_pc_static" "$dir/consumer/build/dial_print_cmake" \
            "$dir/consumer/build/dial_print_cmake_static"; do
  name=$(basename "$prog")
  timeout 30 "$prog" 127.0.0.1 "$port" >"$dir/$name.out" 2>"$dir/$name.err" \
    || fail "$name exited $?: $(cat "$dir/$name.out" "$dir/$name.err")"
  grep -qx connected "$dir/$name.out" || fail "$name: no 'connected' line: $(cat "$dir/$name.out")"
  grep -q '^frame publish .*"frame_type": "publish"' "$dir/$name.out" || fail "$name: no echoed publish: $(cat "$dir/$name.out")"
  grep -q "h'68656c6c6f'" "$dir/$name.out" || fail "$name: the echo does not carry the payload 'hello': $(cat "$dir/$name.out")"
  grep -q '^disconnected: drained' "$dir/$name.out" || fail "$name: did not end with drained: $(cat "$dir/$name.out")"
  n=$((n + 1))
done
# The listener saw each of them connect, send, say goodbye and go.
for _ in $(seq 100); do
  [ "$(grep -c '"event":"disconnected"' "$dir/listen.out")" -ge $n ] && break
  sleep 0.1
done
[ "$(grep -c '"event":"connected"' "$dir/listen.out")" = $n ] || fail "listener saw $(grep -c '"event":"connected"' "$dir/listen.out") connections, expected $n"
[ "$(grep -c '"event":"disconnected"' "$dir/listen.out")" = $n ] || fail "listener saw $(grep -c '"event":"disconnected"' "$dir/listen.out") disconnections, expected $n"
[ "$(grep -c '"frame_type":"goodbye"' "$dir/listen.out")" = $n ] || fail "listener did not get $n GOODBYE frames: $(cat "$dir/listen.out")"

# --- the README's API sample compiles and runs against the installed library ---
awk '/<!-- api-sample -->/ {on = 1; next} on && /^```c$/ {body = 1; next} body && /^```$/ {exit} body {print}' \
  "$MACULA_SOURCE_DIR/README.md" >"$dir/readme_sample.c"
[ -s "$dir/readme_sample.c" ] || fail "README.md has no C block after <!-- api-sample -->"
# shellcheck disable=SC2046
cc "${cflags[@]}" "$dir/readme_sample.c" $(pkg-config --cflags --libs macula) -Wl,-rpath,"$libdir" -o "$dir/readme_sample" \
  || fail "the README's API sample does not compile"
timeout 30 "$dir/readme_sample" >"$dir/readme_sample.out" 2>&1 || fail "the README sample exited $?: $(cat "$dir/readme_sample.out")"
echo "ok: installed to $prefix, dial_print built 4 ways and echoed, README sample ran"
