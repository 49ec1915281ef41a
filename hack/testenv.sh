#!/usr/bin/env bash
# Build the real test components (kube-apiserver, kubectl, etcd) from the Go module
# proxy into a cache outside the repository, keyed by version. A second run with the
# same versions costs nothing. Prints the assets directory (KUBEBUILDER_ASSETS) on stdout.
#
# Why build: Debian has no kube-apiserver, and the envtest downloader needs a network
# we do not have. See shared/reference/test-infra.md §5.
set -euo pipefail
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

K8S_VERSION=${K8S_VERSION:-1.36.3}
ETCD_VERSION=${ETCD_VERSION:-3.5.35}
CACHE=${MK8S_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mk8s-testenv}
ASSETS="$CACHE/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"

if [ -x "$ASSETS/kube-apiserver" ] && [ -x "$ASSETS/etcd" ] && [ -x "$ASSETS/kubectl" ]; then
  echo "$ASSETS"; exit 0
fi
mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
log() { echo "testenv: $*" >&2; }

# --- kube-apiserver and kubectl: k8s.io/kubernetes as a library, staging modules pinned.
log "building kube-apiserver and kubectl v$K8S_VERSION (first time: several minutes)"
mkdir -p "$work/k8s/kube-apiserver" "$work/k8s/kubectl"
GM=$(cd "$work/k8s" && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
{
  printf 'module mk8s.invalid/testenv\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes v%s\n\n' "$K8S_VERSION"
  grep -E '=> ./staging' "$GM" | awk -v v="0.${K8S_VERSION#1.}" '{print "replace " $1 " => " $1 " v" v}'
} > "$work/k8s/go.mod"
cat > "$work/k8s/kube-apiserver/main.go" <<'GO'
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }
GO
cat > "$work/k8s/kubectl/main.go" <<'GO'
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
)

func main() { os.Exit(cli.Run(cmd.NewDefaultKubectlCommand())) }
GO
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
(cd "$work/k8s" && go mod tidy >&2 && go build -trimpath -ldflags "$ldflags" -o "$work/out/kube-apiserver" ./kube-apiserver \
  && go build -trimpath -ldflags "$ldflags" -o "$work/out/kubectl" ./kubectl)

# --- etcd: a wrapper module around etcdmain (go install refuses its replace directives).
log "building etcd v$ETCD_VERSION"
mkdir -p "$work/etcd"
cat > "$work/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
(cd "$work/etcd" && go mod init mk8s.invalid/etcd >&2 2>/dev/null && go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2 \
  && go mod tidy >&2 && go build -trimpath -ldflags "-s -w" -o "$work/out/etcd" .)

rm -rf "$ASSETS.tmp"; mv "$work/out" "$ASSETS.tmp"; rm -rf "$ASSETS"; mv "$ASSETS.tmp" "$ASSETS"
log "ready in $ASSETS"
echo "$ASSETS"
