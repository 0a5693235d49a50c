#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Set-up on a fresh Debian 12 machine: install the Debian packages the build
# needs (only those missing), then configure and build into ./build.
# Usage: scripts/setup.sh            (idempotent; quick when nothing changed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

macula_install_packages build-essential cmake pkg-config \
  libsodium-dev libgnutls28-dev gnutls-bin libngtcp2-dev libngtcp2-crypto-gnutls-dev
macula_configure_build "$root/build"
