#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# usage: vectors_in_sync.sh REPO_COPY SHARED_VECTORS
# The repository keeps its own copy of the public frame vectors; where the
# steering repo's shared/vectors/ exists, the two must be identical.
set -euo pipefail
copy=$1 shared=$2
if [ ! -d "$shared" ]; then
  echo "SKIP: $shared does not exist (a clone without ../shared); the in-repo copy is used alone"
  exit 77
fi
for f in "$shared"/*; do
  name=$(basename "$f")
  cmp -s "$f" "$copy/$name" || { echo "FAIL: $copy/$name differs from $f (update tests/vectors/)"; exit 1; }
done
for f in "$copy"/*; do
  [ -e "$shared/$(basename "$f")" ] || { echo "FAIL: $f has no counterpart in $shared"; exit 1; }
done
echo "ok: $(ls "$copy" | wc -l) files identical to $shared"
