package objects_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/objects"
)

func secret(ns, name string, data map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata": map[string]any{"name": name, "namespace": ns}, "stringData": data}}
}

// Plan shows created, configured and deleted objects with diffs, redacts Secrets, and
// changes nothing.
func TestPlanDiffs(t *testing.T) {
	site, ns := unique("plan"), unique("plan-ns")
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, namespace(ns),
		configMap(ns, "conf", map[string]any{"level": "info"}),
		configMap(ns, "gone", map[string]any{"x": "1"}),
		secret(ns, "creds", map[string]any{"password": "hunter2"}))})

	want := owned(site, namespace(ns),
		configMap(ns, "conf", map[string]any{"level": "debug"}),
		configMap(ns, "new", map[string]any{"why": "2"}),
		secret(ns, "creds", map[string]any{"password": "correct-horse"}))
	var counter kubeenv.RequestCounter
	pm := newManager(t, site, &counter)
	set, err := pm.Plan(context.Background(), objects.PlanOptions{Objects: want})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if counter.Writes() != 0 {
		t.Fatalf("plan made %d writes (%s)", counter.Writes(), counter.String())
	}
	by := map[string]change.Entry{}
	for _, e := range set {
		by[e.Subject] = e
	}
	conf := by["ConfigMap/"+ns+"/conf"]
	if conf.Action != change.Configured || !strings.Contains(conf.Diff, "-  level: info") || !strings.Contains(conf.Diff, "+  level: debug") {
		t.Errorf("conf: %s\n%s", conf.Action, conf.Diff)
	}
	if strings.Contains(conf.Diff, "managedFields") || strings.Contains(conf.Diff, "resourceVersion") {
		t.Errorf("diff shows server bookkeeping:\n%s", conf.Diff)
	}
	if e := by["ConfigMap/"+ns+"/new"]; e.Action != change.Created || !strings.Contains(e.Diff, "+  why: \"2\"") {
		t.Errorf("new: %s\n%s", e.Action, e.Diff)
	}
	if e := by["ConfigMap/"+ns+"/gone"]; e.Action != change.Deleted || !strings.Contains(e.Diff, "-  x: \"1\"") {
		t.Errorf("gone: %s\n%s", e.Action, e.Diff)
	}
	if e := by["Namespace/"+ns]; e.Action != change.Unchanged {
		t.Errorf("namespace: %s", e.Action)
	}
	cr := by["Secret/"+ns+"/creds"]
	if cr.Action != change.Configured {
		t.Errorf("secret: %s", cr.Action)
	}
	for _, e := range set {
		for _, leak := range []string{"hunter2", "correct-horse", "aHVudGVyMg", "Y29ycmVjdC1ob3Jz"} {
			if strings.Contains(e.Diff, leak) || strings.Contains(e.Message, leak) {
				t.Errorf("%s leaks a secret value:\n%s", e.Subject, e.Diff)
			}
		}
	}
	if !strings.Contains(cr.Diff, "***") {
		t.Errorf("secret diff does not show the redacted change:\n%s", cr.Diff)
	}
	if !exists(t, pm.Client(), configMap(ns, "gone", nil)) || exists(t, pm.Client(), configMap(ns, "new", nil)) {
		t.Error("plan changed the cluster")
	}
}
