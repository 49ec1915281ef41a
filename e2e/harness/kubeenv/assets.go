package kubeenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// modulePath identifies the repository whose hack/testenv.sh we run.
const modulePath = "github.com/metalk8s/mk8s"

// ErrNoAssets means the test binaries are not available and cannot be built here.
var ErrNoAssets = errors.New("kube-apiserver/etcd/kubectl test binaries are not available")

// AssetsDir returns the directory holding kube-apiserver, etcd and kubectl:
// $KUBEBUILDER_ASSETS when set, otherwise the output of hack/testenv.sh found from the
// module root (which builds the binaries into its cache the first time), so that a
// plain `go test ./...` works without make.
func AssetsDir(ctx context.Context) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		if err := checkAssets(dir); err != nil {
			return "", err
		}
		return dir, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("%w: KUBEBUILDER_ASSETS is unset and %v", ErrNoAssets, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "testenv.sh"))
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: hack/testenv.sh: %v: %s", ErrNoAssets, err, lastLines(stderr.String(), 5))
	}
	dir := strings.TrimSpace(lastLines(stdout.String(), 1))
	if err := checkAssets(dir); err != nil {
		return "", err
	}
	return dir, nil
}

func checkAssets(dir string) error {
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		fi, err := os.Stat(filepath.Join(dir, bin))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNoAssets, err)
		}
		if fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%w: %s is not executable", ErrNoAssets, filepath.Join(dir, bin))
		}
	}
	return nil
}

// moduleRoot walks up from the working directory (a package directory under go test)
// to the go.mod of the mk8s module.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module "+modulePath)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
