package objects

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// A Node's spec.taints is an atomic list: whoever applies it owns every entry. The
// taints Kubernetes itself puts on nodes (not-ready, unreachable, unschedulable, the
// pressure conditions, the cloud provider's) must survive mk8s's applies, or a no-op
// reconcile of a node whose file declares taints would strip the unreachable taint of a
// dead node and let the scheduler use it. So:
//   - a Node is unchanged when every taint the site declares is there, whatever others
//     were added (nodeCovered);
//   - when a Node is applied, the system taints found on the live Node are applied with
//     the declared ones, in the live order (keepSystemTaints).

// systemTaint reports whether a taint key is one Kubernetes controllers manage.
func systemTaint(key string) bool {
	return strings.HasPrefix(key, "node.kubernetes.io/") || strings.HasPrefix(key, "node.cloudprovider.kubernetes.io/")
}

func isNode(u *unstructured.Unstructured) bool {
	return u.GetKind() == "Node" && u.GroupVersionKind().Group == ""
}

func taintKey(t any) (string, bool) {
	m, ok := t.(map[string]any)
	if !ok {
		return "", false
	}
	k, _ := m["key"].(string)
	e, _ := m["effect"].(string)
	return k + ":" + e, true
}

// nodeCovered is covered for a Node, with spec.taints compared as a set that may hold
// more than the site declares.
func nodeCovered(want, have map[string]any) bool {
	wt, _, _ := unstructured.NestedSlice(want, "spec", "taints")
	ht, _, _ := unstructured.NestedSlice(have, "spec", "taints")
	for _, w := range wt {
		found := false
		for _, h := range ht {
			if covered(w, h) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	w, h := runtime.DeepCopyJSON(want), runtime.DeepCopyJSON(have)
	unstructured.RemoveNestedField(w, "spec", "taints")
	unstructured.RemoveNestedField(h, "spec", "taints")
	return covered(w, h)
}

// liveNodes reads every Node in one request (keepSystemTaints needs their taints).
func (m *Manager) liveNodes(ctx context.Context) (map[string]*unstructured.Unstructured, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "NodeList"})
	if err := m.client.List(ctx, list); err != nil {
		return nil, fmt.Errorf("list nodes (to keep the taints Kubernetes set): %w", err)
	}
	out := make(map[string]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		out[list.Items[i].GetName()] = &list.Items[i]
	}
	return out, nil
}

// keepSystemTaints returns the desired Node with the system taints of the live Node
// added (d unchanged when there is none or live is nil). The result keeps the live
// order, declared taints taking the place of the live entry with the same key and
// effect and new ones last, so that an unchanged set of taints reads as unchanged.
func keepSystemTaints(d desired, live *unstructured.Unstructured) (desired, error) {
	if live == nil {
		return d, nil
	}
	liveT, _, _ := unstructured.NestedSlice(live.Object, "spec", "taints")
	wantT, _, _ := unstructured.NestedSlice(d.obj.Object, "spec", "taints")
	declared := map[string]any{}
	for _, t := range wantT {
		if k, ok := taintKey(t); ok {
			declared[k] = t
		}
	}
	var merged []any
	kept, placed := false, map[string]bool{}
	for _, t := range liveT {
		k, ok := taintKey(t)
		if !ok {
			continue
		}
		if w, ok := declared[k]; ok {
			if !placed[k] {
				merged = append(merged, w)
				placed[k] = true
			}
			continue
		}
		if key, _ := t.(map[string]any)["key"].(string); systemTaint(key) {
			merged = append(merged, runtime.DeepCopyJSONValue(t))
			kept = true
		}
	}
	if !kept {
		return d, nil
	}
	for _, t := range wantT {
		if k, ok := taintKey(t); ok && !placed[k] {
			merged = append(merged, t)
			placed[k] = true
		}
	}
	obj := d.obj.DeepCopy()
	if err := unstructured.SetNestedSlice(obj.Object, merged, "spec", "taints"); err != nil {
		return d, err
	}
	d.obj = obj
	return d, nil
}
