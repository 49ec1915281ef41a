//go:build deps

// Package deps pins the required dependencies in go.mod before every one of them is
// imported by real code (go mod tidy considers all build tags). Remove an import here
// once a package of the module uses it.
package deps

import (
	_ "cuelang.org/go/cue"
	_ "github.com/ProtonMail/go-crypto/openpgp"
	_ "github.com/diskfs/go-diskfs"
	_ "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	_ "github.com/fluxcd/pkg/ssa"
	_ "github.com/go-git/go-git/v5"
	_ "github.com/hiddeco/sshsig"
	_ "github.com/pmezard/go-difflib/difflib"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "golang.org/x/crypto/ssh"
	_ "golang.org/x/sys/unix"
	_ "k8s.io/client-go/kubernetes"
	_ "sigs.k8s.io/controller-runtime/pkg/client"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
	_ "sigs.k8s.io/yaml"
)
