package objects_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/reconciler/objects"
	"github.com/metalk8s/mk8s/reconciler/render"
)

// env is the one real apiserver the tests of this package share; each test uses its
// own site name (so its own inventory), namespaces and object names.
var (
	env      *kubeenv.Env
	envErr   error
	sequence atomic.Int64
)

func TestMain(m *testing.M) {
	env, envErr = kubeenv.Start(context.Background(), kubeenv.StartOptions{})
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop apiserver:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// needEnv returns the shared apiserver, or skips/fails the test as kubeenv says.
func needEnv(t *testing.T) *kubeenv.Env {
	t.Helper()
	if envErr != nil {
		kubeenv.SkipOrFail(t, envErr)
	}
	return env
}

// unique returns a name unique in this test run.
func unique(prefix string) string { return fmt.Sprintf("%s-%d", prefix, sequence.Add(1)) }

// newManager builds a Manager for a fresh site, optionally through a request counter.
func newManager(t *testing.T, site string, counter *kubeenv.RequestCounter) *objects.Manager {
	t.Helper()
	cfg := needEnv(t).Config
	if counter != nil {
		cfg = counter.Wrap(cfg)
	}
	m, err := objects.New(cfg, objects.NewOptions{Site: site})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// owned sets the ownership labels render would set.
func owned(site string, objs ...*unstructured.Unstructured) []*unstructured.Unstructured {
	for _, o := range objs {
		l := o.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		for k, v := range render.OwnershipLabels(site) {
			l[k] = v
		}
		o.SetLabels(l)
	}
	return objs
}

func namespace(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
}

func configMap(ns, name string, data map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": ns}, "data": data}}
}

func get(t *testing.T, c client.Client, proto *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(proto.GroupVersionKind())
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(proto), u); err != nil {
		t.Fatalf("get %s/%s: %v", proto.GetKind(), proto.GetName(), err)
	}
	return u
}

func exists(t *testing.T, c client.Client, proto *unstructured.Unstructured) bool {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(proto.GroupVersionKind())
	err := c.Get(context.Background(), client.ObjectKeyFromObject(proto), u)
	if err == nil {
		return u.GetDeletionTimestamp() == nil
	}
	if client.IgnoreNotFound(err) == nil {
		return false
	}
	t.Fatalf("get %s: %v", proto.GetName(), err)
	return false
}

// limitedUser creates a user whose only rights are one ClusterRole with the given rule
// (apiGroups, resources and verbs as YAML flow lists) and returns its REST config.
func limitedUser(t *testing.T, e *kubeenv.Env, name, apiGroups, resources, verbs string) *rest.Config {
	t.Helper()
	rbac := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ` + name + `
rules:
- apiGroups: ` + apiGroups + `
  resources: ` + resources + `
  verbs: ` + verbs + `
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ` + name + `
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ` + name + `}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: ` + name + `}
`
	if out, err := e.RunKubectlStdin(context.Background(), []byte(rbac), "apply", "-f", "-"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	cfg, err := e.AddUser(name)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
