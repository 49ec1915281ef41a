#!/usr/bin/env bash
# make bench (loop): push-to-applied latency of an object-only change (p50, p90 over 20
# pushes) with the local-repository watch and with the webhook, and the daemon's idle
# RSS, on the loop sandbox (real apiserver + etcd, SSH hosts in network namespaces, a
# bare repository, `mk8s run` with hosts wired). Needs root. Prints what BENCHMARKS.md
# records.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
export KUBEBUILDER_ASSETS="${KUBEBUILDER_ASSETS:-$(hack/testenv.sh)}"
[ -x bin/mk8s ] || go build -o bin/mk8s ./cmd/mk8s
echo "command: go run ./hack/benchloop -mk8s bin/mk8s -pushes ${PUSHES:-20}"
go run ./hack/benchloop -mk8s bin/mk8s -pushes "${PUSHES:-20}"
