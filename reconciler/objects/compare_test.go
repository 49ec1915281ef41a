package objects

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/reconciler/change"
)

func obj(kind, ns, name string, data map[string]any) *unstructured.Unstructured {
	o := map[string]any{"apiVersion": "v1", "kind": kind, "metadata": map[string]any{"name": name}}
	if ns != "" {
		o["metadata"].(map[string]any)["namespace"] = ns
	}
	for k, v := range data {
		o[k] = v
	}
	return &unstructured.Unstructured{Object: o}
}

// Compare matches the objects of two renders by kind, namespace and name: what only to
// has is created, what only from had is deleted (a Volume flagged as a volume removal),
// what differs is configured with a from/to diff, Secrets redacted; order follows to.
func TestCompareRenders(t *testing.T) {
	vol := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "storage.metalk8s.scality.com/v1alpha1", "kind": "Volume",
		"metadata": map[string]any{"name": "worker-1-loki"}, "spec": map[string]any{"nodeName": "worker-1"}}}
	from := []*unstructured.Unstructured{
		obj("ConfigMap", "a", "same", map[string]any{"data": map[string]any{"k": "v"}}),
		obj("ConfigMap", "a", "edited", map[string]any{"data": map[string]any{"k": "old"}}),
		obj("Secret", "a", "creds", map[string]any{"data": map[string]any{"password": "b2xk"}}),
		vol,
	}
	to := []*unstructured.Unstructured{
		obj("Namespace", "", "new", nil),
		obj("ConfigMap", "a", "same", map[string]any{"data": map[string]any{"k": "v"}}),
		obj("ConfigMap", "a", "edited", map[string]any{"data": map[string]any{"k": "new"}}),
		obj("Secret", "a", "creds", map[string]any{"data": map[string]any{"password": "bmV3"}}),
	}
	set, err := Compare(from, to)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range set {
		got = append(got, e.Subject+" "+string(e.Action))
	}
	want := []string{"Namespace/new created", "ConfigMap/a/same unchanged", "ConfigMap/a/edited configured",
		"Secret/a/creds configured", "Volume/worker-1-loki deleted"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := set[2].Diff; !strings.Contains(d, "--- from/ConfigMap/a/edited") || !strings.Contains(d, "-  k: old") || !strings.Contains(d, "+  k: new") {
		t.Errorf("edited diff:\n%s", d)
	}
	if d := set[3].Diff; strings.Contains(d, "b2xk") || strings.Contains(d, "bmV3") || !strings.Contains(d, Redacted+" (after)") {
		t.Errorf("secret diff leaks or hides the change:\n%s", d)
	}
	if set[4].Disruptive != change.VolumeRemoval || !strings.Contains(set[4].Diff, "+++ /dev/null") {
		t.Errorf("volume removal: %+v", set[4])
	}
	if set[1].Diff != "" || set[0].Diff == "" {
		t.Errorf("diffs: unchanged %q, created %q", set[1].Diff, set[0].Diff)
	}
	// Nothing to compare with: every object is created.
	if set, err := Compare(nil, to); err != nil || set.Summary()[change.Created] != len(to) {
		t.Fatalf("from nothing: %v %v", set, err)
	}
}
