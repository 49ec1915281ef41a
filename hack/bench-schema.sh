#!/usr/bin/env bash
# make bench (area schema): load + validate a generated 200-node / 2,000-volume site.
#  1. the Go benchmark BenchmarkLoad200Nodes (in memory, no disk reads);
#  2. `bin/mk8s validate` on the same site written to disk, end to end (process start,
#     reading 2,200 files, validation, output), timed over RUNS runs.
# Target (DESIGN §8): under 1 s.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
RUNS=${RUNS:-10}

echo "--- go test ./schema -run '^\$' -bench BenchmarkLoad200Nodes -benchtime ${RUNS}x -benchmem"
go test ./schema -run '^$' -bench 'BenchmarkLoad200Nodes' -benchtime "${RUNS}x" -benchmem | grep -E '^(Benchmark|ok|cpu)'

[ -x bin/mk8s ] || go build -o bin/mk8s ./cmd/mk8s
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
go run ./schema/sitegen/cmd/sitegen -nodes 200 -volumes-per-node 10 "$site"
echo "--- bin/mk8s validate <generated site: $(find "$site" -name '*.yaml' | wc -l) files>, $RUNS runs"
bin/mk8s validate "$site" | tail -1
times=()
for _ in $(seq "$RUNS"); do
  start=$(date +%s%N)
  bin/mk8s validate -o json "$site" >/dev/null
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "wall ms: min $(echo "$sorted" | head -1), median $(echo "$sorted" | sed -n "$(( (RUNS + 1) / 2 ))p"), max $(echo "$sorted" | tail -1)"
TIMEFORMAT='one run: real %3Rs user %3Us sys %3Ss'
time bin/mk8s validate -o json "$site" >/dev/null
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores shared; wall times inflate under load, user+sys does not)"
