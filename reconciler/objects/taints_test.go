package objects_test

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/objects"
)

func node(name string, labels map[string]any, taints ...string) *unstructured.Unstructured {
	var ts []any
	for _, k := range taints {
		ts = append(ts, map[string]any{"key": k, "effect": "NoSchedule"})
	}
	obj := map[string]any{"apiVersion": "v1", "kind": "Node", "metadata": map[string]any{"name": name, "labels": labels}}
	if len(ts) > 0 {
		obj["spec"] = map[string]any{"taints": ts}
	}
	return &unstructured.Unstructured{Object: obj}
}

func taintKeys(t *testing.T, m *objects.Manager, n *unstructured.Unstructured) map[string]bool {
	t.Helper()
	ts, _, _ := unstructured.NestedSlice(get(t, m.Client(), n).Object, "spec", "taints")
	out := map[string]bool{}
	for _, x := range ts {
		out[x.(map[string]any)["key"].(string)] = true
	}
	return out
}

// spec.taints of a Node is an atomic list, yet the taints Kubernetes puts on a node
// (unreachable, not-ready, …) survive mk8s: a no-op reconcile leaves every added taint
// alone and writes nothing, and an apply of a changed Node keeps the system taints while
// it sets the declared ones.
func TestNodeTaintsOfOthersAreKept(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	site, name := unique("taints"), unique("node")
	m := newManager(t, site, nil)
	apply(t, m, objects.ApplyOptions{Objects: owned(site, node(name, nil, "node-role.kubernetes.io/infra", "dedicated"))})
	for _, args := range [][]string{
		{"taint", "nodes", name, "node.kubernetes.io/unreachable:NoExecute"},
		{"taint", "nodes", name, "maintenance=true:NoSchedule"},
	} {
		if out, err := e.RunKubectl(ctx, args...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}

	var counter kubeenv.RequestCounter
	set := apply(t, newManager(t, site, &counter), objects.ApplyOptions{Objects: owned(site, node(name, nil, "node-role.kubernetes.io/infra", "dedicated"))})
	if set.Changed() || counter.Writes() != 0 {
		t.Errorf("no-op reconcile of a node others tainted: %v, %d writes", set, counter.Writes())
	}
	if k := taintKeys(t, m, node(name, nil)); !k["node.kubernetes.io/unreachable"] || !k["maintenance"] {
		t.Errorf("taints of others removed by a no-op reconcile: %v", k)
	}

	// A changed label and one declared taint fewer: the node is applied, the system
	// taint stays, the dropped declared taint goes.
	set = apply(t, m, objects.ApplyOptions{Objects: owned(site, node(name, map[string]any{"zone": "a"}, "node-role.kubernetes.io/infra"))})
	if actions(set)["Node/"+name] != change.Configured {
		t.Errorf("changed node: %v", set)
	}
	k := taintKeys(t, m, node(name, nil))
	if !k["node.kubernetes.io/unreachable"] || !k["node-role.kubernetes.io/infra"] || k["dedicated"] {
		t.Errorf("taints after applying a changed node: %v, want unreachable and infra, not dedicated", k)
	}
}
