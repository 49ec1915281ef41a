package objects_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/pkg/ssa/utils"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/objects"
	"github.com/metalk8s/mk8s/reconciler/render"
)

type failingTransport func(*http.Request) (*http.Response, error)

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// refusingManager is a Manager whose real (not dry-run) PATCH requests of a path ending
// in suffix are refused, as a webhook or a lost connection would.
func refusingManager(t *testing.T, site, suffix string) *objects.Manager {
	t.Helper()
	cfg := rest.CopyConfig(needEnv(t).Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return failingTransport(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodPatch && req.URL.Query().Get("dryRun") == "" && strings.HasSuffix(req.URL.Path, suffix) {
				return nil, errors.New("injected failure")
			}
			return rt.RoundTrip(req)
		})
	}
	m, err := objects.New(cfg, objects.NewOptions{Site: site})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func immutableCM(ns, name, value string) *unstructured.Unstructured {
	cm := configMap(ns, name, map[string]any{"k": value})
	cm.Object["immutable"] = true
	cm.SetAnnotations(map[string]string{render.AnnotationRecreate: "true"})
	return cm
}

// An opted-in object whose new version the API server refuses (not an immutable
// field: an invalid one) must not be deleted: bad input changes nothing.
func TestRefusedOptedInObjectIsNotDeleted(t *testing.T) {
	site, ns := unique("lc-bad"), unique("lc-bad-ns")
	m := newManager(t, site, nil)
	cm := configMap(ns, "opted", map[string]any{"k": "1"})
	cm.SetAnnotations(map[string]string{render.AnnotationRecreate: "true"})
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), cm)})
	uid := get(t, m.Client(), cm).GetUID()

	bad := configMap(ns, "opted", map[string]any{"not a valid key!": "1"})
	bad.SetAnnotations(map[string]string{render.AnnotationRecreate: "true"})
	want := owned(site, namespace(ns), bad)
	if _, err := m.Plan(context.Background(), objects.PlanOptions{Objects: want}); err == nil {
		t.Errorf("plan accepted an invalid object")
	}
	set, err := m.Apply(context.Background(), objects.ApplyOptions{Objects: want})
	if err == nil {
		t.Fatalf("apply of an invalid object succeeded: %v", set)
	}
	if !exists(t, m.Client(), cm) || get(t, m.Client(), cm).GetUID() != uid {
		t.Fatalf("the live object was deleted or replaced by a refused apply: %v", err)
	}
}

// Opted-in objects recreated by an apply that then stopped (a later write refused) are
// the ones mk8s created: dropped from the site, they are pruned.
func TestRecreatedByInterruptedApplyIsPruned(t *testing.T) {
	site, ns := unique("lc-rec"), unique("lc-rec-ns")
	m := newManager(t, site, nil)
	keep := configMap(ns, "keep", map[string]any{"k": "v"})
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), keep, immutableCM(ns, "a", "1"), immutableCM(ns, "b", "1"), immutableCM(ns, "c", "1"))})
	uidC := get(t, m.Client(), immutableCM(ns, "c", "")).GetUID()

	// a is recreated, then the write of b is refused.
	broken := refusingManager(t, site, "/configmaps/b")
	v2 := owned(site, namespace(ns), keep, immutableCM(ns, "a", "2"), immutableCM(ns, "b", "2"), immutableCM(ns, "c", "2"))
	set, err := broken.Apply(context.Background(), objects.ApplyOptions{Objects: v2})
	if err == nil {
		t.Fatalf("apply did not fail: %v", set)
	}
	// a was recreated before the stop, the stop was at b, and c was not touched.
	if got := actions(set); got["ConfigMap/"+ns+"/a"] != change.Created || got["ConfigMap/"+ns+"/b"] != change.Failed || got["ConfigMap/"+ns+"/c"] != change.Skipped {
		t.Errorf("interrupted apply reported %v", set)
	}
	if v, _, _ := unstructured.NestedString(get(t, m.Client(), immutableCM(ns, "a", "")).Object, "data", "k"); v != "2" {
		t.Fatalf("a was not recreated before the failure (k=%s)", v)
	}
	if !exists(t, m.Client(), immutableCM(ns, "c", "")) || get(t, m.Client(), immutableCM(ns, "c", "")).GetUID() != uidC {
		t.Fatalf("c, after the refused b, was deleted or replaced")
	}
	apply(t, m, objects.ApplyOptions{Objects: v2})

	set = apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), keep)})
	for _, n := range []string{"a", "b", "c"} {
		if a := actions(set)["ConfigMap/"+ns+"/"+n]; a != change.Deleted || exists(t, m.Client(), immutableCM(ns, n, "")) {
			t.Errorf("%s: %s, want deleted: %v", n, a, set)
		}
	}
}

// Namespaces created by a first stage that then stopped (the next namespace refused)
// are mk8s's, reported created, and pruned once dropped.
func TestDefinitionStageInterruptedRemembersWhatItCreated(t *testing.T) {
	site := unique("lc-defs")
	nsA, nsB := site+"-a", site+"-b"
	broken := refusingManager(t, site, "/namespaces/"+nsB)
	set, err := broken.Apply(context.Background(), objects.ApplyOptions{Objects: owned(site, namespace(nsA), namespace(nsB))})
	if err == nil {
		t.Fatalf("apply did not fail: %v", set)
	}
	if got := actions(set); got["Namespace/"+nsA] != change.Created || got["Namespace/"+nsB] != change.Failed {
		t.Errorf("interrupted apply reported %v", set)
	}
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(nsA), namespace(nsB))})
	set = apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(nsB))})
	if a := actions(set)["Namespace/"+nsA]; a != change.Deleted {
		t.Errorf("namespace created by the interrupted apply: %s, want deleted (%v)", a, set)
	}
}

// An immutable-field change on an object whose live version opted in to recreation but
// whose new version no longer does is refused by Apply; Plan says so too, rather than
// announcing a recreation.
func TestPlanAgreesWhenRecreateOptInIsDropped(t *testing.T) {
	site, ns := unique("lc-drop"), unique("lc-drop-ns")
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), immutableCM(ns, "a", "1"))})
	next := immutableCM(ns, "a", "2")
	next.SetAnnotations(nil)
	want := owned(site, namespace(ns), next)
	set, planErr := m.Plan(context.Background(), objects.PlanOptions{Objects: want})
	_, applyErr := m.Apply(context.Background(), objects.ApplyOptions{Objects: want})
	if applyErr == nil {
		t.Fatalf("apply recreated an object that no longer opts in")
	}
	if planErr == nil || actions(set)["ConfigMap/"+ns+"/a"] != change.Failed {
		t.Errorf("plan: %v (%v), while apply failed: %v", set, planErr, applyErr)
	}
}

func crd(group, kind, plural string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": plural + "." + group},
		"spec": map[string]any{
			"group": group, "scope": "Namespaced",
			"names": map[string]any{"kind": kind, "plural": plural, "singular": strings.ToLower(kind), "listKind": kind + "List"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		}}}
}

// A CRD the site dropped while keeping objects of its kind is not deleted (that would
// delete them with it); it is pruned once the site drops them too. The CRD and its
// objects are created by the same apply.
func TestCRDInUseIsNotPruned(t *testing.T) {
	site, ns := unique("lc-crd"), unique("lc-crd-ns")
	group := site + ".example.com"
	def := crd(group, "Widget", "widgets")
	cr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": ns}, "spec": map[string]any{"size": int64(1)}}}
	m := newManager(t, site, nil)
	set := apply(t, m, objects.ApplyOptions{Objects: owned(site, def, namespace(ns), cr)})
	if set.Summary()[change.Created] != 3 {
		t.Fatalf("first apply: %v", set)
	}
	var counter kubeenv.RequestCounter
	set = apply(t, newManager(t, site, &counter), objects.ApplyOptions{Objects: owned(site, def, namespace(ns), cr)})
	if set.Changed() || counter.Writes() != 0 || counter.DryRuns() != 0 {
		t.Fatalf("no-op after creating a CRD and its objects: %v; requests %s", set, counter.String())
	}
	set = apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), cr)})
	if a := actions(set)["CustomResourceDefinition/"+def.GetName()]; a != change.Skipped || !exists(t, m.Client(), cr) {
		t.Fatalf("CRD in use: %s, Widget exists %v (%v)", a, exists(t, m.Client(), cr), set)
	}
	set = apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns))})
	if a := actions(set)["CustomResourceDefinition/"+def.GetName()]; a != change.Deleted {
		t.Errorf("CRD no longer in use: %s, want deleted (%v)", a, set)
	}
}

// An apply cancelled after it created objects (Ctrl-C during a reconcile) still records
// that mk8s created them: dropped from the site later, they are pruned.
func TestCancelledApplyRemembersWhatItCreated(t *testing.T) {
	site, ns1, ns2 := unique("lc-cancel"), unique("lc-cancel-ns"), unique("lc-cancel-ns")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := rest.CopyConfig(needEnv(t).Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return failingTransport(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodPatch && req.URL.Query().Get("dryRun") == "" && strings.HasSuffix(req.URL.Path, "/configmaps/cm") {
				cancel()
				return nil, context.Canceled
			}
			return rt.RoundTrip(req)
		})
	}
	cancelling, err := objects.New(cfg, objects.NewOptions{Site: site})
	if err != nil {
		t.Fatal(err)
	}
	cm := configMap(ns1, "cm", map[string]any{"k": "v"})
	if set, err := cancelling.Apply(ctx, objects.ApplyOptions{Objects: owned(site, namespace(ns1), namespace(ns2), cm)}); err == nil {
		t.Fatalf("apply was not interrupted: %v", set)
	}
	m := newManager(t, site, nil)
	if !exists(t, m.Client(), namespace(ns2)) {
		t.Fatalf("the namespaces were not created before the cancel")
	}
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns1), namespace(ns2), configMap(ns1, "cm", map[string]any{"k": "v"}))})
	set := apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns1), configMap(ns1, "cm", map[string]any{"k": "v"}))})
	if a := actions(set)["Namespace/"+ns2]; a != change.Deleted {
		t.Errorf("namespace created by the cancelled apply: %s, want deleted (%v)", a, set)
	}
}

// A namespace mk8s created that holds an object mk8s adopted (created with kubectl,
// then added to the site) is not deleted when the site drops both: that would delete
// the adopted object, which mk8s never deletes.
func TestNamespaceHoldingAdoptedObjectIsNotPruned(t *testing.T) {
	e := needEnv(t)
	site, ns, other := unique("lc-adns"), unique("lc-adns-ns"), unique("lc-adns-other")
	ctx := context.Background()
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), namespace(other))})
	if out, err := e.RunKubectl(ctx, "-n", ns, "create", "configmap", "legacy", "--from-literal=a=1"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	legacy := configMap(ns, "legacy", map[string]any{"a": "1"})
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), namespace(other), legacy)})

	remaining := owned(site, namespace(other))
	plan, err := m.Plan(ctx, objects.PlanOptions{Objects: remaining})
	if err != nil {
		t.Fatal(err)
	}
	set := apply(t, m, objects.ApplyOptions{Objects: remaining})
	for what, s := range map[string]change.Set{"plan": plan, "apply": set} {
		if a := actions(s)["Namespace/"+ns]; a != change.Skipped {
			t.Errorf("%s: namespace holding an adopted object: %s, want skipped (%v)", what, a, s)
		}
	}
	if !exists(t, m.Client(), legacy) || !exists(t, m.Client(), namespace(ns)) {
		t.Fatalf("the adopted object was deleted with its namespace")
	}
	// Nor by the next reconcile, once the adopted object is forgotten.
	apply(t, m, objects.ApplyOptions{Objects: remaining})
	if !exists(t, m.Client(), legacy) {
		t.Fatalf("the adopted object was deleted with its namespace by the next reconcile")
	}
}

// An adopted object (created with kubectl) that opts in to recreation and is recreated
// by mk8s for an immutable-field change is mk8s's from then on: dropped, it is pruned.
func TestAdoptedObjectRecreatedByMk8sIsPruned(t *testing.T) {
	e := needEnv(t)
	site, ns := unique("lc-adrec"), unique("lc-adrec-ns")
	ctx := context.Background()
	m := newManager(t, site, nil)
	keep := configMap(ns, "keep", nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), keep)})
	pre := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"` + ns + `"},"immutable":true,"data":{"k":"1"}}`
	if out, err := e.RunKubectlStdin(ctx, []byte(pre), "create", "-f", "-"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	uid := get(t, m.Client(), immutableCM(ns, "a", "")).GetUID()
	set := apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), keep, immutableCM(ns, "a", "2"))})
	if get(t, m.Client(), immutableCM(ns, "a", "")).GetUID() == uid {
		t.Fatalf("not recreated: %v", set)
	}
	set = apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), keep)})
	if a := actions(set)["ConfigMap/"+ns+"/a"]; a != change.Deleted {
		t.Errorf("recreated by mk8s: %s, want deleted (%v)", a, set)
	}
}

// When one write is refused, the writes already sent are not abandoned: an object the
// server created is known as mk8s's (and reported), so that it is pruned once dropped.
func TestWritesInFlightWhenOneIsRefusedAreRecorded(t *testing.T) {
	site, ns := unique("lc-flight"), unique("lc-flight-ns")
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns))})

	var inFlight atomic.Int32
	failed := make(chan struct{})
	cfg := rest.CopyConfig(needEnv(t).Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return failingTransport(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodPatch || req.URL.Query().Get("dryRun") != "" || !strings.Contains(req.URL.Path, "/configmaps/") {
				return rt.RoundTrip(req)
			}
			if strings.HasSuffix(req.URL.Path, "/configmaps/cm-5") {
				for deadline := time.Now().Add(5 * time.Second); inFlight.Load() < 3 && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
				}
				close(failed)
				return nil, errors.New("injected failure")
			}
			// The server does the write; the client gives up on it if its context is
			// cancelled meanwhile, as when a connection is torn down.
			inFlight.Add(1)
			resp, err := rt.RoundTrip(req.WithContext(context.WithoutCancel(req.Context())))
			select {
			case <-failed:
			case <-time.After(5 * time.Second):
			}
			for deadline := time.Now().Add(time.Second); req.Context().Err() == nil && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if err := req.Context().Err(); err != nil {
				return nil, err
			}
			return resp, err
		})
	}
	broken, err := objects.New(cfg, objects.NewOptions{Site: site})
	if err != nil {
		t.Fatal(err)
	}
	var cms []*unstructured.Unstructured
	for i := range 10 {
		cms = append(cms, configMap(ns, fmt.Sprintf("cm-%d", i), map[string]any{"k": "v"}))
	}
	set, err := broken.Apply(context.Background(), objects.ApplyOptions{Objects: owned(site, append([]*unstructured.Unstructured{namespace(ns)}, cms...)...)})
	if err == nil {
		t.Fatalf("apply did not fail: %v", set)
	}
	for _, cm := range cms {
		if a := actions(set)[utils.FmtUnstructured(cm)]; exists(t, m.Client(), cm) != (a == change.Created) {
			t.Errorf("%s: exists %v, reported %s", cm.GetName(), exists(t, m.Client(), cm), a)
		}
	}
	apply(t, m, objects.ApplyOptions{Objects: owned(site, append([]*unstructured.Unstructured{namespace(ns)}, cms...)...)})
	set = apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns))})
	for _, cm := range cms {
		if a := actions(set)[utils.FmtUnstructured(cm)]; a != change.Deleted {
			t.Errorf("%s: %s, want deleted (%v)", cm.GetName(), a, message(set, utils.FmtUnstructured(cm)))
		}
	}
}

// Same for a CRD mk8s created whose kind has an object mk8s adopted.
func TestCRDOfAdoptedObjectIsNotPruned(t *testing.T) {
	e := needEnv(t)
	site, ns := unique("lc-adcrd"), unique("lc-adcrd-ns")
	group := site + ".example.com"
	def := crd(group, "Gadget", "gadgets")
	ctx := context.Background()
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, def, namespace(ns))})
	legacy := `{"apiVersion":"` + group + `/v1","kind":"Gadget","metadata":{"name":"legacy","namespace":"` + ns + `"},"spec":{"a":1}}`
	if out, err := e.RunKubectlStdin(ctx, []byte(legacy), "create", "-f", "-"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	cr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1", "kind": "Gadget",
		"metadata": map[string]any{"name": "legacy", "namespace": ns}, "spec": map[string]any{"a": int64(1)}}}
	apply(t, m, objects.ApplyOptions{Objects: owned(site, def, namespace(ns), cr)})

	set := apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns))})
	if a := actions(set)["CustomResourceDefinition/"+def.GetName()]; a != change.Skipped || !exists(t, m.Client(), cr) {
		t.Fatalf("CRD of an adopted object: %s (%v)", a, set)
	}
}

// An opted-in Service recreated for a new clusterIP keeps its fixed nodePort: the
// check before the recreation does not mistake the port the live Service holds for
// a refusal.
func TestOptedInServiceWithFixedNodePortIsRecreated(t *testing.T) {
	site, ns := unique("lc-svc"), unique("lc-svc-ns")
	svc := func(ip string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Service",
			"metadata": map[string]any{"name": "web", "namespace": ns,
				"annotations": map[string]any{render.AnnotationRecreate: "true"}},
			"spec": map[string]any{"type": "NodePort", "clusterIP": ip, "selector": map[string]any{"app": "web"},
				"ports": []any{map[string]any{"port": int64(80), "nodePort": int64(30000 + sequence.Add(1)%2000)}}},
		}}
	}
	first := svc("10.0.0.201")
	port := first.Object["spec"].(map[string]any)["ports"]
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), first)})
	next := svc("10.0.0.202")
	next.Object["spec"].(map[string]any)["ports"] = port
	plan, err := m.Plan(context.Background(), objects.PlanOptions{Objects: owned(site, namespace(ns), next)})
	if err != nil || actions(plan)["Service/"+ns+"/web"] != change.Created {
		t.Errorf("plan: %v (%v), want the Service recreated", plan, err)
	}
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), next)})
	if ip, _, _ := unstructured.NestedString(get(t, m.Client(), next).Object, "spec", "clusterIP"); ip != "10.0.0.202" {
		t.Errorf("not recreated: clusterIP %s", ip)
	}
}

// createdUIDs reads state.json of the site's inventory: createdUID by inventory id.
func createdUIDs(t *testing.T, m *objects.Manager, site string) map[string]string {
	t.Helper()
	cm := get(t, m.Client(), configMap(objects.InventoryNamespace, objects.InventoryName(site), nil))
	raw, _, _ := unstructured.NestedString(cm.Object, "data", "state.json")
	var state map[string]struct {
		CreatedUID string `json:"createdUID"`
	}
	if err := json.Unmarshal([]byte(raw), &state); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for id, s := range state {
		out[id] = s.CreatedUID
	}
	return out
}

// The inventory remembers, step by step, which objects mk8s created: set on creation,
// kept across an edit by kubectl and the reconcile that restores it, replaced by a
// recreation, absent for an adopted object.
func TestInventoryCreatedUIDAcrossSteps(t *testing.T) {
	e := needEnv(t)
	site, ns := unique("lc-uid"), unique("lc-uid-ns")
	ctx := context.Background()
	m := newManager(t, site, nil)
	mine, imm := configMap(ns, "mine", map[string]any{"k": "v"}), immutableCM(ns, "imm", "1")
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), mine, imm)})
	id := func(name string) string { return ns + "_" + name + "__ConfigMap" }
	uids := createdUIDs(t, m, site)
	if uids[id("mine")] != string(get(t, m.Client(), mine).GetUID()) || uids["_"+ns+"__Namespace"] == "" {
		t.Fatalf("after creation: %v", uids)
	}

	if out, err := e.RunKubectl(ctx, "-n", ns, "patch", "configmap", "mine", "--type=merge", "-p", `{"data":{"k":"edited","x":"y"}}`); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := e.RunKubectl(ctx, "-n", ns, "create", "configmap", "legacy", "--from-literal=a=1"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	legacy := configMap(ns, "legacy", map[string]any{"a": "2"})
	set := apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns), mine, immutableCM(ns, "imm", "2"), legacy)})
	after := createdUIDs(t, m, site)
	if after[id("mine")] != uids[id("mine")] {
		t.Errorf("edited and restored: createdUID %q, want %q (%v)", after[id("mine")], uids[id("mine")], set)
	}
	if after[id("imm")] == uids[id("imm")] || after[id("imm")] != string(get(t, m.Client(), imm).GetUID()) {
		t.Errorf("recreated: createdUID %q, live %q (%v)", after[id("imm")], get(t, m.Client(), imm).GetUID(), set)
	}
	if after[id("legacy")] != "" {
		t.Errorf("adopted: createdUID %q, want none", after[id("legacy")])
	}

	var counter kubeenv.RequestCounter
	set = apply(t, newManager(t, site, &counter), objects.ApplyOptions{Objects: owned(site, namespace(ns), mine, immutableCM(ns, "imm", "2"), legacy)})
	if set.Changed() || counter.Writes() != 0 {
		t.Errorf("no-op: %v, %s", set, counter.String())
	}
	set = apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns))})
	got := actions(set)
	if got["ConfigMap/"+ns+"/mine"] != change.Deleted || got["ConfigMap/"+ns+"/imm"] != change.Deleted || got["ConfigMap/"+ns+"/legacy"] != change.Skipped {
		t.Errorf("prune: %v", set)
	}
}

// A StorageClass (a class definition, applied by ssa's staged apply) that opts in to
// recreation and gets an immutable change together with an invalid field is refused
// before it is deleted: the classes are checked with the rest before the first write.
func TestRefusedOptedInStorageClassIsNotDeleted(t *testing.T) {
	site := unique("sc-optin")
	optIn := map[string]any{render.AnnotationRecreate: "true"}
	sc := storageClass(unique("sc"), "xfs", optIn)
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, sc)})
	uid := get(t, m.Client(), sc).GetUID()

	bad := storageClass(sc.GetName(), "ext4", optIn) // parameters are immutable
	bad.Object["reclaimPolicy"] = "Bogus"
	if _, err := m.Apply(context.Background(), objects.ApplyOptions{Objects: owned(site, bad)}); err == nil || !strings.Contains(err.Error(), "reclaimPolicy") {
		t.Fatalf("want a refusal naming reclaimPolicy, got %v", err)
	}
	if got := get(t, m.Client(), sc); got.GetUID() != uid {
		t.Errorf("the StorageClass was deleted (uid %s -> %s)", uid, got.GetUID())
	}
}

// A cluster definition that opts in to recreation (a CRD whose scope changes) together
// with an invalid change is refused before ssa's staged apply deletes it.
func TestRefusedOptedInCRDIsNotDeleted(t *testing.T) {
	site := unique("crd-optin")
	group := site + ".example.com"
	def := crd(group, "Widget", "widgets")
	def.SetAnnotations(map[string]string{render.AnnotationRecreate: "true"})
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, def)})
	uid := get(t, m.Client(), def).GetUID()

	bad := def.DeepCopy()
	_ = unstructured.SetNestedField(bad.Object, "Cluster", "spec", "scope") // immutable
	_ = unstructured.SetNestedField(bad.Object, "Not A Kind", "spec", "names", "kind")
	if _, err := m.Apply(context.Background(), objects.ApplyOptions{Objects: owned(site, bad)}); err == nil {
		t.Fatal("the invalid CRD was accepted")
	}
	if got := get(t, m.Client(), def); got.GetUID() != uid {
		t.Errorf("the CRD was deleted (uid %s -> %s)", uid, got.GetUID())
	}
}
