#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The libraries' global symbols follow the naming rule of
# include/macula/common.h: libmacula.a defines nothing outside macula_ /
# macula__ (a stray global would clash with a user's symbols when linked
# statically), and libmacula.so exports macula_* only, never the internal
# macula__*, under the version node named after the soname.
# Usage: check_symbols.sh NM READELF LIBMACULA.A [LIBMACULA.SO SONAME NODE]
set -euo pipefail
nm=${1:-nm} readelf=${2:-readelf} archive=$3 shared=${4:-} soname=${5:-} node=${6:-}
fail=0

# Sanitizer and coverage instrumentation add globals of its own (gcc's
# __odr_asan.*, clang's __sancov_*); they are not the library's names.
instrumentation='^(__odr_asan|__asan_|__sancov_|__ubsan_|__llvm_)'

# nm -g --defined-only on an archive: "member.o:" headers, blank lines,
# and "ADDR TYPE NAME" rows.
bad=$("$nm" -g --defined-only "$archive" | awk 'NF == 3 {print $3}' | grep -Ev "$instrumentation" \
  | grep -v '^macula_' || true)
if [ -n "$bad" ]; then
  echo "FAIL: $archive defines global symbols outside macula_/macula__:" >&2
  echo "$bad" | sed 's/^/  /' >&2
  fail=1
fi
echo "static: $("$nm" -g --defined-only "$archive" | awk 'NF == 3' | grep -c ' macula_[^_]') public, $("$nm" -g --defined-only "$archive" | awk 'NF == 3' | grep -c ' macula__') internal globals"

if [ -n "$shared" ]; then
  # The version node itself shows up as an absolute symbol (type A).
  exported=$("$nm" -D --defined-only "$shared" | awk 'NF == 3 && $2 != "A" {print $3}')
  bad=$(echo "$exported" | grep -Ev "$instrumentation" | grep -v '^macula_[^_]' || true)
  if [ -n "$bad" ]; then
    echo "FAIL: $shared exports symbols other than macula_* (or internal macula__*):" >&2
    echo "$bad" | sed 's/^/  /' >&2
    fail=1
  fi
  [ -n "$(echo "$exported" | grep '^macula_' || true)" ] || { echo "FAIL: $shared exports no macula_* symbol" >&2; fail=1; }
  got=$("$readelf" -d "$shared" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  if [ "$got" != "$soname" ]; then
    echo "FAIL: soname is '$got', expected '$soname'" >&2
    fail=1
  fi
  # Every exported function carries the version node (macula_x@@MACULA_0.1).
  unversioned=$("$readelf" -W --dyn-syms "$shared" | awk '$7 != "UND" && $8 ~ /^macula_/ && $8 !~ /@@'"$node"'$/ {print $8}')
  if [ -n "$unversioned" ]; then
    echo "FAIL: exported symbols without version $node:" >&2
    echo "$unversioned" | sed 's/^/  /' >&2
    fail=1
  fi
  echo "shared: $(echo "$exported" | grep -c '^macula_') exported, soname $got, version $node"
fi
[ $fail = 0 ] && echo "ok: symbol names"
exit $fail
