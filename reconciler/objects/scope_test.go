package objects_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/objects"
)

// A namespaced object without metadata.namespace, or of a kind the server does not
// know, is refused before anything is written or recorded: an error naming the object,
// no object created, no inventory entry (which could never be pruned).
func TestUnappliableObjectsAreRefusedUpFront(t *testing.T) {
	site, ns := unique("scope"), unique("scope-ns")
	noNS := configMap("", "no-namespace", map[string]any{"k": "v"})
	unknown := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "nope.example.com/v1", "kind": "Gadget",
		"metadata": map[string]any{"name": "g", "namespace": ns}}}
	good := configMap(ns, "good", map[string]any{"k": "v"})
	objs := owned(site, namespace(ns), good, noNS, unknown)
	m := newManager(t, site, nil)

	if _, err := m.Plan(context.Background(), objects.PlanOptions{Objects: objs}); err == nil {
		t.Fatal("plan accepted a namespaced object without namespace")
	}
	set, err := m.Apply(context.Background(), objects.ApplyOptions{Objects: objs})
	var se *objects.ScopeError
	if err == nil || !errors.As(err, &se) {
		t.Fatalf("apply: err %v, want a ScopeError\n%v", err, set)
	}
	for _, want := range []string{
		"ConfigMap/no-namespace: ConfigMap is a namespaced kind and metadata.namespace is not set",
		"Gadget/" + ns + "/g: the API server does not know kind Gadget in apiVersion nope.example.com/v1",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if exists(t, m.Client(), namespace(ns)) || set.Changed() {
		t.Errorf("something was applied: %v", set)
	}
	inv, err := m.ReadInventory(context.Background())
	if err != nil || len(inv.Entries) != 0 {
		t.Errorf("inventory after a refused apply: %v %v", inv, err)
	}

	// Fixed: the site applies, and removing the objects later prunes them all.
	objs = owned(site, namespace(ns), good)
	apply(t, m, objects.ApplyOptions{Objects: objs, Wait: true})
	set = apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns)), Wait: true})
	if a := actions(set); a["ConfigMap/"+ns+"/good"] != change.Deleted {
		t.Errorf("prune: %v", set)
	}
}

// A cluster-scoped object written with a metadata.namespace is applied without it (as
// kubectl does): its inventory id has no namespace, the next apply is a no-op, and
// removing it prunes it.
func TestClusterScopedObjectWithNamespace(t *testing.T) {
	site, ns := unique("cs"), unique("cs-ns")
	role := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
			"metadata": map[string]any{"name": site + "-role", "namespace": ns}, "rules": []any{}}}
	}
	keep := configMap("default", site+"-keep", map[string]any{"k": "v"})
	objs := owned(site, role(), keep)
	m := newManager(t, site, nil)
	set := apply(t, m, objects.ApplyOptions{Objects: objs, Wait: true})
	if a := actions(set); a["ClusterRole/"+site+"-role"] != change.Created {
		t.Fatalf("first apply: %v", set)
	}
	if objs[0].GetNamespace() != ns {
		t.Error("Apply modified its input")
	}
	inv, err := m.ReadInventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range inv.Entries {
		if strings.HasPrefix(e.ID, ns+"_") {
			t.Errorf("inventory id with the namespace of a cluster-scoped object: %s", e.ID)
		}
	}
	set = apply(t, m, objects.ApplyOptions{Objects: objs, Wait: true})
	if set.Changed() || set.Summary()[change.Unchanged] != 2 {
		t.Errorf("second apply: %v", set)
	}
	set = apply(t, m, objects.ApplyOptions{Objects: owned(site, keep), Wait: true})
	if a := actions(set); a["ClusterRole/"+site+"-role"] != change.Deleted {
		t.Errorf("prune: %v", set)
	}
}

// The site name becomes a label value and part of the inventory ConfigMap's name: a
// name that cannot be either is refused with a message saying so.
func TestInvalidSiteName(t *testing.T) {
	for _, name := range []string{"Bad_Name!", "a/b", "UPPER", strings.Repeat("a", 64), "-x"} {
		if _, err := objects.New(needEnv(t).Config, objects.NewOptions{Site: name}); err == nil || !strings.Contains(err.Error(), "invalid site name") {
			t.Errorf("site %q: err %v", name, err)
		}
	}
}

// A stale object the plan cannot read is a failed entry and a plan error, as the prune
// of Apply would fail on it: plan must not exit as if the change were fine.
func TestPlanFailsWhenAStaleObjectCannotBeRead(t *testing.T) {
	e := needEnv(t)
	site, ns := unique("unreadable"), unique("unreadable-ns")
	user := unique("no-secrets")
	ctx := context.Background()
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "s", "namespace": ns}, "stringData": map[string]any{"k": "v"}}}
	admin := newManager(t, site, nil)
	apply(t, admin, objects.ApplyOptions{Objects: owned(site, namespace(ns), configMap(ns, "cm", nil), secret)})

	cfg := limitedUser(t, e, user, `[""]`, `["configmaps", "namespaces"]`, `["get", "list", "watch", "create", "update", "patch"]`)
	limited, err := objects.New(cfg, objects.NewOptions{Site: site})
	if err != nil {
		t.Fatal(err)
	}
	set, err := limited.Plan(ctx, objects.PlanOptions{Objects: owned(site, namespace(ns), configMap(ns, "cm", nil))})
	if actions(set)["Secret/"+ns+"/s"] != change.Failed {
		t.Errorf("plan: %v", set)
	}
	if err == nil || !strings.Contains(err.Error(), "Secret/"+ns+"/s") {
		t.Errorf("plan error = %v, want one naming the unreadable stale Secret", err)
	}
}
