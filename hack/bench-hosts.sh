#!/usr/bin/env bash
# make bench (hosts): converge the same files and directories on 10 namespace sshd hosts
# with mk8s (hostsync plan + apply) and with Debian's ansible-playbook over ssh, first
# convergence and no-op, side by side in one run. Needs root, openssh-server, ansible.
# The result table is printed; BENCHMARKS.md ("Hosts") records it.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
echo "command: MK8S_BENCH_HOSTS=1 go test ./e2e/hostsync -run '^TestBenchHostsVsAnsible\$' -count=1 -v"
MK8S_BENCH_HOSTS=1 go test ${GOTEST_FLAGS:-} ./e2e/hostsync -run '^TestBenchHostsVsAnsible$' -count=1 -v -timeout 40m 2>&1 |
  grep --line-buffered -v -E '^(=== RUN|--- PASS|PASS|ok )'
