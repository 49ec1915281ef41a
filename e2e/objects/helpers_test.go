package objects

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/reconciler"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// copySite copies site-example into a temporary directory the test may edit.
func copySite(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("..", "..", "site-example"))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// edit replaces old by new in a file of the site, failing when old is absent.
func edit(t *testing.T, dir, file, old, new string) {
	t.Helper()
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func reconcile(t *testing.T, env *kubeenv.Env, dir string, mod func(*reconciler.Options)) (reconciler.Result, error) {
	t.Helper()
	opts := reconciler.Options{Dir: dir, Kube: env.Config, ObjectsOnly: true, Wait: true}
	if mod != nil {
		mod(&opts)
	}
	return reconciler.Reconcile(context.Background(), opts)
}

func mustReconcile(t *testing.T, env *kubeenv.Env, dir string) change.Set {
	t.Helper()
	res, err := reconcile(t, env, dir, nil)
	if err != nil {
		t.Fatalf("reconcile: %v\n%v", err, res.Objects)
	}
	return res.Objects
}

func byAction(set change.Set) map[change.Action][]string {
	m := map[change.Action][]string{}
	for _, e := range set {
		m[e.Action] = append(m[e.Action], e.Subject)
	}
	return m
}

func getObj(t *testing.T, c client.Client, apiVersion, kind, ns, name string) (*unstructured.Unstructured, bool) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u)
	if client.IgnoreNotFound(err) == nil && err != nil {
		return nil, false
	}
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", kind, ns, name, err)
	}
	return u, u.GetDeletionTimestamp() == nil
}

func newClient(t *testing.T, env *kubeenv.Env) client.Client {
	t.Helper()
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mk8sBinary builds the mk8s binary once per test binary run.
func mk8sBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "mk8s")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "build", "-o", bin, "github.com/metalk8s/mk8s/cmd/mk8s")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build mk8s: %v\n%s", err, out)
	}
	return bin
}

// runMk8s runs the binary and returns stdout, stderr and the exit code.
func runMk8s(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(mk8sBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
