package kubeenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Env is one running control plane (etcd + kube-apiserver).
type Env struct {
	// Config authenticates as a cluster admin (system:masters).
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for the same admin, for kubectl and
	// `mk8s --kubeconfig`.
	Kubeconfig string
	// AssetsDir holds the kube-apiserver, etcd and kubectl binaries.
	AssetsDir string
	// Kubectl is the path of the real kubectl binary of the test environment.
	Kubectl string

	env *envtest.Environment
	dir string
}

// StartOptions tune Start.
type StartOptions struct {
	// StartTimeout bounds the control plane start; default 60s.
	StartTimeout time.Duration
}

// Start starts etcd and kube-apiserver. The caller must Stop the Env; tests should use
// StartT, which does it in t.Cleanup. It returns an error wrapping ErrNoAssets when the
// binaries cannot be found or built.
func Start(ctx context.Context, opts StartOptions) (*Env, error) {
	assets, err := AssetsDir(ctx)
	if err != nil {
		return nil, err
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	dir, err := os.MkdirTemp("", "mk8s-kubeenv-")
	if err != nil {
		return nil, err
	}
	// envtest logs through controller-runtime's global logger, which complains loudly
	// when it was never set.
	ctrllog.SetLogger(logr.Discard())
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: opts.StartTimeout,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	cfg, err := env.Start()
	if err != nil {
		// Start may have left etcd running when the apiserver failed.
		_ = env.Stop()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start kube-apiserver and etcd from %s: %w", assets, err)
	}
	e := &Env{Config: cfg, AssetsDir: assets, Kubectl: filepath.Join(assets, "kubectl"), env: env, dir: dir}
	e.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, env.KubeConfig, 0o600); err != nil {
		_ = e.Stop()
		return nil, err
	}
	return e, nil
}

// Stop stops the processes Start started (envtest signals them by PID) and removes
// their directories.
func (e *Env) Stop() error {
	err := e.env.Stop()
	return errors.Join(err, os.RemoveAll(e.dir))
}

// StartT starts a control plane for one test and stops it in t.Cleanup. When the
// binaries are unavailable it skips the test, except under CI=true where it fails:
// CI must never skip the real apiserver silently.
func StartT(t testing.TB) *Env {
	t.Helper()
	e, err := Start(context.Background(), StartOptions{})
	if err != nil {
		SkipOrFail(t, err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("stop test apiserver: %v", err)
		}
	})
	return e
}

// SkipOrFail skips the test when err says the binaries are unavailable outside CI,
// and fails it otherwise.
func SkipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoAssets) && os.Getenv("CI") != "true" {
		t.Skipf("real apiserver unavailable (run make testenv): %v", err)
	}
	t.Fatalf("real apiserver: %v", err)
}

// AddUser returns a REST config authenticating as a new user of the given groups (for
// tests of what mk8s does when RBAC refuses it something).
func (e *Env) AddUser(name string, groups ...string) (*rest.Config, error) {
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, rest.CopyConfig(e.Config))
	if err != nil {
		return nil, err
	}
	return u.Config(), nil
}

// RunKubectl runs the real kubectl against this Env and returns its combined output.
func (e *Env) RunKubectl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, e.Kubectl, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("kubectl %v: %w: %s", args, err, out.String())
	}
	return out.Bytes(), nil
}

// RunKubectlStdin is RunKubectl with stdin (for `kubectl apply -f -`).
func (e *Env) RunKubectlStdin(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, e.Kubectl, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("kubectl %v: %w: %s", args, err, out.String())
	}
	return out.Bytes(), nil
}
