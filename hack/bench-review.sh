#!/usr/bin/env bash
# Review of a change (mk8s plan --repo --from --to, offline) on the 200-node /
# 2,000-volume site between two revisions: in process and through the binary.
# Target (issue 11): under 1.5 s. Results in BENCHMARKS.md ("Review").
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
make -s build
MK8S_BENCH_BIN="$PWD/bin/mk8s" go test ./reconciler/review/ -run '^$' -bench 'BenchmarkOfflinePlan200Nodes' -benchtime 5x -count 3
