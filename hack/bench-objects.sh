#!/usr/bin/env bash
# make bench (objects): first apply of 1,000 objects and a no-op re-apply by mk8s, side
# by side with `kubectl apply --server-side` of the same objects against the same real
# kube-apiserver (hack/testenv.sh). Prints the table recorded in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
export KUBEBUILDER_ASSETS="${KUBEBUILDER_ASSETS:-$(hack/testenv.sh)}"
echo "command: go run ./hack/benchobjects -rounds ${ROUNDS:-3}"
go run ./hack/benchobjects -rounds "${ROUNDS:-3}"
