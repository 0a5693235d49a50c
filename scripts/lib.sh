# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the scripts (sourced, not run).

# Install the given Debian packages when any is missing. Uses sudo when
# not root. Quiet unless something goes wrong.
macula_install_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  echo "setup: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Configure (once) and build a tree. Extra arguments go to cmake configure.
# The project's own builds treat warnings as errors (MACULA_WERROR is OFF
# by default so that other compilers or a parent project are not broken).
macula_configure_build() {
  local dir=$1; shift
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMACULA_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}
