#!/usr/bin/env bash
# make demo: until the reconciler daemon exists (issue 6), show what exists end to end:
# validate the example site and print what it declares.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== mk8s demo (foundation stage)"
echo "The full demo (sandbox apiserver, SSH hosts, git server, signed pushes) arrives with the"
echo "reconciler daemon. For now: validate site-example/."
bin/mk8s version
bin/mk8s validate site-example
