package objects_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/objects"
	"github.com/metalk8s/mk8s/reconciler/render"
)

func actions(set change.Set) map[string]change.Action {
	m := map[string]change.Action{}
	for _, e := range set {
		m[e.Subject] = e.Action
	}
	return m
}

func apply(t *testing.T, m *objects.Manager, opts objects.ApplyOptions) change.Set {
	t.Helper()
	set, err := m.Apply(context.Background(), opts)
	if err != nil {
		t.Fatalf("apply: %v\n%v", err, set)
	}
	return set
}

// An unchanged set of objects against an unchanged cluster: every object unchanged,
// no write request, no dry-run, no resourceVersion moves.
func TestSecondApplyWritesNothing(t *testing.T) {
	site, ns := unique("noop"), unique("noop-ns")
	desired := func() []*unstructured.Unstructured {
		objs := []*unstructured.Unstructured{namespace(ns)}
		for i := range 20 {
			objs = append(objs, configMap(ns, fmt.Sprintf("cm-%02d", i), map[string]any{"k": "v", "n": "1"}))
		}
		return owned(site, objs...)
	}
	objs := desired()
	m := newManager(t, site, nil)
	first := apply(t, m, objects.ApplyOptions{Objects: objs, Wait: true})
	if got := first.Summary()[change.Created]; got != len(objs) {
		t.Fatalf("first apply created %d, want %d: %v", got, len(objs), first)
	}
	before := map[string]string{}
	for _, o := range objs {
		before[o.GetName()] = get(t, m.Client(), o).GetResourceVersion()
	}

	var counter kubeenv.RequestCounter
	m2 := newManager(t, site, &counter)
	second := apply(t, m2, objects.ApplyOptions{Objects: objs, Wait: true})
	if second.Changed() || second.Summary()[change.Unchanged] != len(objs) {
		t.Fatalf("second apply is not all unchanged: %v", second)
	}
	if counter.Writes() != 0 || counter.DryRuns() != 0 {
		t.Fatalf("second apply made %d writes and %d dry-runs (%s), want none", counter.Writes(), counter.DryRuns(), counter.String())
	}
	for _, o := range objs {
		if rv := get(t, m.Client(), o).GetResourceVersion(); rv != before[o.GetName()] {
			t.Errorf("%s resourceVersion moved %s -> %s", o.GetName(), before[o.GetName()], rv)
		}
	}
	t.Logf("no-op requests: %s", counter.String())
}

// Someone changes a field mk8s owns and adds one it does not set: the next apply
// restores the first and leaves the second alone.
func TestDriftOnOwnedFieldIsRestored(t *testing.T) {
	e := needEnv(t)
	site, ns := unique("drift"), unique("drift-ns")
	cm := configMap(ns, "settings", map[string]any{"mode": "strict", "level": "3"})
	objs := owned(site, namespace(ns), cm)
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: objs})

	ctx := context.Background()
	// kubectl edit is an Update by manager "kubectl-edit"; a merge patch by kubectl is
	// the same kind of write by another manager.
	if out, err := e.RunKubectl(ctx, "-n", ns, "patch", "configmap", "settings", "--type=merge",
		"-p", `{"data":{"mode":"lax","extra":"kept"}}`); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := e.RunKubectl(ctx, "-n", ns, "label", "configmap", "settings", "team=storage"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	set := apply(t, m, objects.ApplyOptions{Objects: objs})
	if a := actions(set)["ConfigMap/"+ns+"/settings"]; a != change.Configured {
		t.Fatalf("drifted ConfigMap: %s, want configured (%v)", a, set)
	}
	live := get(t, m.Client(), cm)
	data, _, _ := unstructured.NestedStringMap(live.Object, "data")
	if data["mode"] != "strict" {
		t.Errorf("owned field not restored: mode=%q", data["mode"])
	}
	if data["extra"] != "kept" || live.GetLabels()["team"] != "storage" {
		t.Errorf("fields of another manager were not left alone: data=%v labels=%v", data, live.GetLabels())
	}
	// And then it is quiet again.
	if again := apply(t, m, objects.ApplyOptions{Objects: objs}); again.Changed() {
		t.Errorf("apply after restore is not a no-op: %v", again)
	}
}

// Prune deletes what the inventory holds and the render dropped, and nothing created
// by someone else, even in the same namespace with the same labels.
func TestPruneOnlyWhatMk8sCreated(t *testing.T) {
	e := needEnv(t)
	site, ns := unique("prune"), unique("prune-ns")
	keep := configMap(ns, "keep", map[string]any{"a": "1"})
	drop := configMap(ns, "drop", map[string]any{"a": "1"})
	disowned := configMap(ns, "disowned", map[string]any{"a": "1"})
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), keep, drop, disowned)})

	ctx := context.Background()
	// An object created by kubectl, even one carrying our labels, is not ours.
	foreign := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"by-kubectl","namespace":"` + ns +
		`","labels":{"app.kubernetes.io/managed-by":"mk8s","mk8s.metalk8s.scality.com/site":"` + site + `"}},"data":{"x":"y"}}`
	if out, err := e.RunKubectlStdin(ctx, []byte(foreign), "create", "-f", "-"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// An object someone took away from mk8s by removing its labels.
	if out, err := e.RunKubectl(ctx, "-n", ns, "label", "configmap", "disowned", render.LabelSite+"-"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	set := apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), keep)})
	got := actions(set)
	if got["ConfigMap/"+ns+"/drop"] != change.Deleted {
		t.Errorf("drop: %s, want deleted (%v)", got["ConfigMap/"+ns+"/drop"], set)
	}
	if got["ConfigMap/"+ns+"/disowned"] != change.Skipped {
		t.Errorf("disowned: %s, want skipped (%v)", got["ConfigMap/"+ns+"/disowned"], set)
	}
	if _, ok := got["ConfigMap/"+ns+"/by-kubectl"]; ok {
		t.Errorf("by-kubectl appears in the change set: %v", set)
	}
	c := m.Client()
	if exists(t, c, drop) {
		t.Error("drop still exists")
	}
	for _, o := range []*unstructured.Unstructured{keep, disowned, configMap(ns, "by-kubectl", nil)} {
		if !exists(t, c, o) {
			t.Errorf("%s was deleted", o.GetName())
		}
	}
	inv, err := m.ReadInventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range inv.Entries {
		if strings.Contains(en.ID, "_drop_") || strings.Contains(en.ID, "_disowned_") {
			t.Errorf("inventory still holds %s", en.ID)
		}
	}
}

// An object that existed before mk8s first applied it (created with kubectl, say, and
// later added to the site) is adopted, never created: when the site drops it, plan and
// apply both leave it in place, say why, and forget it.
func TestAdoptedObjectIsNeverPruned(t *testing.T) {
	e := needEnv(t)
	site, ns := unique("adopt"), unique("adopt-ns")
	ctx := context.Background()
	if out, err := e.RunKubectl(ctx, "create", "namespace", ns); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := e.RunKubectl(ctx, "-n", ns, "create", "configmap", "pre-existing", "--from-literal=a=1"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ours := configMap(ns, "ours", map[string]any{"a": "1"})
	adopted := configMap(ns, "pre-existing", map[string]any{"a": "2"})
	m := newManager(t, site, nil)
	kept := configMap(ns, "kept", nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), ours, adopted, kept)})
	if got := get(t, m.Client(), adopted); got.GetLabels()[render.LabelSite] != site {
		t.Fatalf("the pre-existing object was not applied: labels %v", got.GetLabels())
	}

	remaining := owned(site, kept)
	plan, err := m.Plan(ctx, objects.PlanOptions{Objects: remaining})
	if err != nil {
		t.Fatal(err)
	}
	set := apply(t, m, objects.ApplyOptions{Objects: remaining})
	for what, s := range map[string]change.Set{"plan": plan, "apply": set} {
		got := actions(s)
		if got["ConfigMap/"+ns+"/ours"] != change.Deleted {
			t.Errorf("%s: ours: %s, want deleted (%v)", what, got["ConfigMap/"+ns+"/ours"], s)
		}
		for _, subject := range []string{"ConfigMap/" + ns + "/pre-existing", "Namespace/" + ns} {
			if got[subject] != change.Skipped {
				t.Errorf("%s: %s: %s, want skipped (%v)", what, subject, got[subject], s)
			}
			if msg := message(s, subject); !strings.Contains(msg, "existed before mk8s") {
				t.Errorf("%s: %s: message %q does not say why it is kept", what, subject, msg)
			}
		}
	}
	if exists(t, m.Client(), ours) {
		t.Error("ours still exists")
	}
	if !exists(t, m.Client(), adopted) || !exists(t, m.Client(), namespace(ns)) {
		t.Error("an object mk8s did not create was deleted")
	}
	inv, err := m.ReadInventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range inv.Entries {
		if strings.Contains(en.ID, "pre-existing") || en.ID == "_"+ns+"__Namespace" {
			t.Errorf("inventory still holds %s", en.ID)
		}
	}
}

// An object mk8s created, then deleted and recreated by someone else under the same
// name, is theirs: mk8s applies it while the site has it, but does not prune it.
func TestObjectRecreatedBySomeoneElseIsNotPruned(t *testing.T) {
	e := needEnv(t)
	site, ns := unique("recreated"), unique("recreated-ns")
	ctx := context.Background()
	cm := configMap(ns, "cm", map[string]any{"a": "1"})
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), cm)})
	for _, args := range [][]string{{"-n", ns, "delete", "configmap", "cm"}, {"-n", ns, "create", "configmap", "cm", "--from-literal=a=0"}} {
		if out, err := e.RunKubectl(ctx, args...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), cm)})
	if got, _, _ := unstructured.NestedString(get(t, m.Client(), cm).Object, "data", "a"); got != "1" {
		t.Fatalf("the recreated object was not converged: a=%q", got)
	}

	set := apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns))})
	if got := actions(set)["ConfigMap/"+ns+"/cm"]; got != change.Skipped || !exists(t, m.Client(), cm) {
		t.Errorf("cm: %s, exists %v; want skipped and kept (%v)", got, exists(t, m.Client(), cm), set)
	}
	if msg := message(set, "ConfigMap/"+ns+"/cm"); !strings.Contains(msg, "recreated by someone else") {
		t.Errorf("message %q does not say why it is kept", msg)
	}
}

func message(set change.Set, subject string) string {
	for _, e := range set {
		if e.Subject == subject {
			return e.Message
		}
	}
	return ""
}

// A namespace mk8s created is not pruned while the site still has objects in it
// (deleting it would delete them); it is pruned once the site drops them too.
func TestNamespaceInUseIsNotPruned(t *testing.T) {
	site, ns := unique("inuse"), unique("inuse-ns")
	cm, other := configMap(ns, "cm", map[string]any{"a": "1"}), configMap(ns, "other", nil)
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), cm, other)})

	set := apply(t, m, objects.ApplyOptions{Objects: owned(site, cm)})
	if got := actions(set)["Namespace/"+ns]; got != change.Skipped || !exists(t, m.Client(), cm) {
		t.Fatalf("namespace: %s, cm exists %v; want skipped and cm kept (%v)", got, exists(t, m.Client(), cm), set)
	}
	if msg := message(set, "Namespace/"+ns); !strings.Contains(msg, "still has 1 objects in it") {
		t.Errorf("message %q", msg)
	}
	set = apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(unique("elsewhere"))), AllowPruneAll: true})
	if got := actions(set)["Namespace/"+ns]; got != change.Deleted {
		t.Errorf("namespace once empty of desired objects: %s, want deleted (%v)", got, set)
	}
}

// An object the API server refuses is found before anything is written: the namespaces,
// classes and other objects of the same apply are not created, and no inventory is
// written. Only objects whose namespace the same apply creates are checked later.
func TestRefusedObjectChangesNothing(t *testing.T) {
	site, ns := unique("refused"), unique("refused-ns")
	bad := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": unique("bad-port"), "namespace": "default"},
		"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(99999)}}}}}
	class := storageClass(unique("refused-sc"), "xfs", nil)
	node := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": unique("refused-node")}}}
	good := []*unstructured.Unstructured{namespace(ns), configMap(ns, "cm", nil), class, node, configMap("default", unique("cm"), nil)}
	m := newManager(t, site, nil)
	ctx := context.Background()
	set, err := m.Apply(ctx, objects.ApplyOptions{Objects: owned(site, append(good, bad)...)})
	if err == nil || !strings.Contains(err.Error(), "Service/default/"+bad.GetName()) || !strings.Contains(err.Error(), "spec.ports[0].port") {
		t.Fatalf("want an error naming the object and the field, got %v", err)
	}
	if got := actions(set)["Service/default/"+bad.GetName()]; got != change.Failed {
		t.Errorf("the refused object is %q in the set, want failed (%v)", got, set)
	}
	for _, o := range good {
		if exists(t, m.Client(), o) {
			t.Errorf("%s %s was written", o.GetKind(), o.GetName())
		}
		// Every object still has its entry: the result names what was not applied.
		if got := actions(set)[utils.FmtUnstructured(o)]; got != change.Skipped {
			t.Errorf("%s is %q in the set, want skipped (%v)", utils.FmtUnstructured(o), got, set)
		}
	}
	inv := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": objects.InventoryName(site), "namespace": objects.InventoryNamespace}}}
	if exists(t, m.Client(), inv) {
		t.Error("an inventory was written")
	}
}

// The up-front check also covers objects in a namespace that exists already without
// being mk8s's (one the site takes over): the namespace is not taken over when one of
// its objects is refused.
func TestRefusedObjectInExistingNamespaceChangesNothing(t *testing.T) {
	e := needEnv(t)
	site, ns := unique("refused-existing"), unique("refused-existing-ns")
	ctx := context.Background()
	if out, err := e.RunKubectl(ctx, "create", "namespace", ns); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	bad := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "bad-port", "namespace": ns},
		"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(0)}}}}}
	good := configMap(ns, "cm", nil)
	m := newManager(t, site, nil)
	if _, err := m.Apply(ctx, objects.ApplyOptions{Objects: owned(site, namespace(ns), good, bad)}); err == nil {
		t.Fatal("the refused object was accepted")
	}
	if exists(t, m.Client(), good) {
		t.Error("the good ConfigMap was written")
	}
	if labels := get(t, m.Client(), namespace(ns)).GetLabels(); labels[render.LabelSite] != "" {
		t.Errorf("the namespace was taken over: labels %v", labels)
	}
}

// A render that keeps none of the managed objects is refused, and nothing changes;
// with AllowPruneAll it proceeds.
func TestPruneEverythingIsRefused(t *testing.T) {
	site, ns := unique("all"), unique("all-ns")
	a := configMap(ns, "a", map[string]any{"a": "1"})
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), a)})

	other := owned(site, configMap(ns, "b", map[string]any{"b": "1"}))
	_, err := m.Apply(context.Background(), objects.ApplyOptions{Objects: other})
	if !errors.Is(err, objects.ErrPruneAll) {
		t.Fatalf("want ErrPruneAll, got %v", err)
	}
	if !strings.Contains(err.Error(), "--allow-prune-all") {
		t.Errorf("error does not say how to proceed: %v", err)
	}
	if !exists(t, m.Client(), a) || exists(t, m.Client(), other[0]) {
		t.Fatal("a refused render changed the cluster")
	}
	if _, err := m.Apply(context.Background(), objects.ApplyOptions{Objects: nil}); !errors.Is(err, objects.ErrPruneAll) {
		t.Fatalf("empty render: want ErrPruneAll, got %v", err)
	}
	set := apply(t, m, objects.ApplyOptions{Objects: other, AllowPruneAll: true})
	if actions(set)["ConfigMap/"+ns+"/a"] != change.Deleted || exists(t, m.Client(), a) {
		t.Errorf("AllowPruneAll did not prune: %v", set)
	}
}

func storageClass(name, fsType string, annotations map[string]any) *unstructured.Unstructured {
	md := map[string]any{"name": name}
	if annotations != nil {
		md["annotations"] = annotations
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": md,
		"provisioner": "kubernetes.io/no-provisioner", "parameters": map[string]any{"fsType": fsType}}}
}

// A change of an immutable field fails with the object and field named, unless the
// object opts in to recreation.
func TestImmutableFieldChange(t *testing.T) {
	site := unique("imm")
	plain, optin := unique("sc-plain"), unique("sc-optin")
	m := newManager(t, site, nil)
	rec := map[string]any{render.AnnotationRecreate: "true"}
	apply(t, m, objects.ApplyOptions{Objects: owned(site, storageClass(plain, "ext4", nil), storageClass(optin, "ext4", rec))})
	uid := get(t, m.Client(), storageClass(optin, "", nil)).GetUID()

	_, err := m.Apply(context.Background(), objects.ApplyOptions{Objects: owned(site, storageClass(plain, "xfs", nil), storageClass(optin, "ext4", rec))})
	var ie *objects.ImmutableError
	if !errors.As(err, &ie) {
		t.Fatalf("want an ImmutableError, got %v", err)
	}
	for _, want := range []string{"StorageClass/" + plain, "parameters", render.AnnotationRecreate} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if fs, _, _ := unstructured.NestedString(get(t, m.Client(), storageClass(plain, "", nil)).Object, "parameters", "fsType"); fs != "ext4" {
		t.Errorf("refused change was applied: fsType=%s", fs)
	}

	set := apply(t, m, objects.ApplyOptions{Objects: owned(site, storageClass(plain, "ext4", nil), storageClass(optin, "xfs", rec))})
	live := get(t, m.Client(), storageClass(optin, "", nil))
	if fs, _, _ := unstructured.NestedString(live.Object, "parameters", "fsType"); fs != "xfs" || live.GetUID() == uid {
		t.Errorf("opted-in object not recreated: fsType=%s uid changed=%v (%v)", fs, live.GetUID() != uid, set)
	}
}

// The inventory lives in the cluster in Flux's id/v shape.
func TestInventoryShape(t *testing.T) {
	site, ns := unique("inv"), unique("inv-ns")
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), configMap(ns, "one", map[string]any{"a": "b"}))})
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	if err := m.Client().Get(context.Background(), client.ObjectKey{Namespace: objects.InventoryNamespace, Name: objects.InventoryName(site)}, cm); err != nil {
		t.Fatal(err)
	}
	raw, _, _ := unstructured.NestedString(cm.Object, "data", "inventory.json")
	want := `{"entries":[{"id":"_` + ns + `__Namespace","v":"v1"},{"id":"` + ns + `_one__ConfigMap","v":"v1"}]}`
	if raw != want {
		t.Errorf("inventory.json = %s\nwant %s", raw, want)
	}
}

// An object whose deletion fails stays in the inventory and is pruned by a later
// reconcile that may delete it.
func TestFailedDeletionStaysInInventory(t *testing.T) {
	e := needEnv(t)
	site, ns := unique("keep"), unique("keep-ns")
	user := unique("no-delete")
	ctx := context.Background()
	cfg := limitedUser(t, e, user, `["*"]`, `["*"]`, `["get", "list", "watch", "create", "update", "patch"]`)
	limited, err := objects.New(cfg, objects.NewOptions{Site: site})
	if err != nil {
		t.Fatal(err)
	}
	doomed := configMap(ns, "doomed", map[string]any{"a": "1"})
	apply(t, limited, objects.ApplyOptions{Objects: owned(site, namespace(ns), configMap(ns, "stays", nil), doomed)})

	set, err := limited.Apply(ctx, objects.ApplyOptions{Objects: owned(site, namespace(ns), configMap(ns, "stays", nil))})
	if err == nil || !strings.Contains(err.Error(), "ConfigMap/"+ns+"/doomed") {
		t.Fatalf("want a prune error naming the object, got %v", err)
	}
	if a := actions(set)["ConfigMap/"+ns+"/doomed"]; a != change.Failed {
		t.Errorf("doomed: %s, want failed", a)
	}
	inv, err := limited.ReadInventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, en := range inv.Entries {
		found = found || en.ID == ns+"_doomed__ConfigMap"
	}
	if !found || !exists(t, limited.Client(), doomed) {
		t.Fatalf("failed deletion left the inventory (%v) or the object is gone", inv.Entries)
	}

	admin := newManager(t, site, nil)
	set = apply(t, admin, objects.ApplyOptions{Objects: owned(site, namespace(ns), configMap(ns, "stays", nil))})
	if actions(set)["ConfigMap/"+ns+"/doomed"] != change.Deleted || exists(t, admin.Client(), doomed) {
		t.Errorf("the next reconcile did not prune it: %v", set)
	}
}

// mk8s never prunes its own namespace (it holds the inventory) nor system namespaces,
// even when a site declared them and then dropped them.
func TestProtectedNamespacesAreNotPruned(t *testing.T) {
	site, ns := unique("prot"), unique("prot-ns")
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(objects.InventoryNamespace), namespace("kube-public"), namespace(ns))})
	set := apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns))})
	got := actions(set)
	for _, n := range []string{objects.InventoryNamespace, "kube-public"} {
		if got["Namespace/"+n] != change.Skipped || !exists(t, m.Client(), namespace(n)) {
			t.Errorf("namespace %s: %s (%v)", n, got["Namespace/"+n], set)
		}
	}
}
