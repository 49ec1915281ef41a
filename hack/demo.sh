#!/usr/bin/env bash
# make demo: the whole mk8s loop on a local sandbox (see README). As root, on a fresh
# machine: installs the Debian packages (hack/install-deps.sh) and builds the real
# kube-apiserver/etcd/kubectl (hack/testenv.sh) when missing, then runs the demo program
# (e2e/demo): real apiserver + etcd, SSH hosts in network namespaces, a bare repository
# as the push target, the mk8s daemon, a signed change and an unsigned one. Everything
# it starts is stopped by PID and removed at the end, on Ctrl-C and on failure too.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

if [ "$(id -u)" -ne 0 ]; then
  echo "make demo needs root (network namespaces for the SSH hosts)" >&2
  exit 1
fi
need=()
for c in sshd git ssh-keygen unshare ip; do
  command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || need+=("$c")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing the packages the demo needs (missing: ${need[*]})"
  hack/install-deps.sh
fi
echo "== real kube-apiserver, etcd and kubectl (hack/testenv.sh; built once into a cache)"
KUBEBUILDER_ASSETS="${KUBEBUILDER_ASSETS:-$(hack/testenv.sh)}"
export KUBEBUILDER_ASSETS
echo "   $KUBEBUILDER_ASSETS"
[ -x bin/mk8s ] || go build -o bin/mk8s ./cmd/mk8s
go build -o bin/mk8s-demo ./e2e/demo
# exec: the demo program gets Ctrl-C itself and tears the sandbox down.
exec bin/mk8s-demo -mk8s bin/mk8s
