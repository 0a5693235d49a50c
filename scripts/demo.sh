#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job: set-up on a fresh Debian 12 machine, then a real two-peer
# exchange on loopback (`macula demo`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
exec "$root/build/bin/macula" demo "$@"
