#!/usr/bin/env bash
# make bench: run every area's benchmark script (hack/bench-<area>.sh) in turn.
# Each prints its results and the command that produced them; BENCHMARKS.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
for area in schema objects source hosts loop review; do
  s="hack/bench-$area.sh"
  [ -x "$s" ] || continue
  echo "=== $area"
  "$s"
done
