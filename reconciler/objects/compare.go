package objects

import (
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/render"
)

// Compare is the offline plan of a change for the objects: the difference between the
// objects two revisions render, without a cluster (a pull-request review on a CI
// runner). Objects are matched by kind, namespace and name; the diff runs from the
// render of from to the render of to, with Secrets and service credentials redacted as
// in a live plan. Entries follow the order of to, then the objects only from had.
//
// What the cluster adds (defaults, status) is not known here, so an object the live
// plan would find unchanged after a defaulted field moved may show as configured: the
// live mode (plan with a kubeconfig) is the exact one.
func Compare(from, to []*unstructured.Unstructured) (change.Set, error) {
	before := make(map[string]*unstructured.Unstructured, len(from))
	for _, o := range from {
		before[render.ID(o)] = o
	}
	var out change.Set
	seen := make(map[string]bool, len(to))
	for _, o := range to {
		id := render.ID(o)
		seen[id] = true
		name := subjectOf(o)
		b := before[id]
		if b != nil && equality.Semantic.DeepEqual(b.Object, o.Object) {
			// Most objects of a change are the same: no YAML, no diff.
			out = append(out, change.Entry{Subject: name, Action: change.Unchanged})
			continue
		}
		d, err := reviewDiff(name, b, o)
		if err != nil {
			return nil, err
		}
		e := change.Entry{Subject: name, Action: change.Unchanged}
		switch {
		case b == nil:
			e.Action, e.Diff = change.Created, d
		case d != "":
			e.Action, e.Diff = change.Configured, d
		}
		out = append(out, e)
	}
	for _, o := range from {
		id := render.ID(o)
		if seen[id] {
			continue
		}
		name := subjectOf(o)
		d, err := reviewDiff(name, o, nil)
		if err != nil {
			return nil, err
		}
		e := change.Entry{Subject: name, Action: change.Deleted, Diff: d}
		switch o.GetKind() {
		case "Volume":
			e.Disruptive = change.VolumeRemoval
			e.Message = "prune deletes it unless its PersistentVolume is bound; its storage is released"
		case "Node":
			e.Disruptive = change.NodeRemoval
		}
		out = append(out, e)
	}
	return out, nil
}

// reviewDiff is unifiedDiff between two renders, labelled by revision; "" when the two
// are the same once redacted (a re-encrypted, unchanged secret is no change).
func reviewDiff(name string, before, after *unstructured.Unstructured) (string, error) {
	return diffLabelled(name, before, after, "from/", "to/")
}
