package objects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/fluxcd/cli-utils/pkg/object"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/reconciler/render"
)

// desired is one rendered object with its inventory id and the digest of its content.
type desired struct {
	obj    *unstructured.Unstructured
	id     string
	digest string
}

func prepare(objs []*unstructured.Unstructured) ([]desired, error) {
	out := make([]desired, 0, len(objs))
	seen := map[string]bool{}
	for _, o := range objs {
		id := objectID(o)
		if seen[id] {
			return nil, fmt.Errorf("%s is rendered twice", subjectOf(o))
		}
		seen[id] = true
		b, err := json.Marshal(o.Object) // map keys sorted: canonical
		if err != nil {
			return nil, fmt.Errorf("%s: %w", subjectOf(o), err)
		}
		d, err := render.Digest(json.RawMessage(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", subjectOf(o), err)
		}
		out = append(out, desired{obj: o, id: id, digest: d})
	}
	return out, nil
}

// selection is the result of the fast path: which objects need the server (dry-run and
// maybe apply) and which are known unchanged without asking.
type selection struct {
	check     []desired
	unchanged []desired
	// liveRV holds the resourceVersion of the objects found by the per-kind lists, by id.
	liveRV map[string]string
}

// selectChanged decides, from one list request per kind, which desired objects may
// differ from the cluster. An object is unchanged without any dry-run when the digest of
// its desired content is the one last applied and either its live resourceVersion is the
// one recorded then, or every field we set is still there with our value (someone else
// wrote other fields only, such as a status). Everything else is checked by the server.
func (m *Manager) selectChanged(ctx context.Context, want []desired, inv *inventory) (*selection, error) {
	live, err := m.listLive(ctx, want)
	if err != nil {
		return nil, err
	}
	sel := &selection{liveRV: live}
	for _, d := range want {
		st, known := inv.state[d.id]
		rv, found := live[d.id]
		switch {
		case !known || !found || st.Digest != d.digest:
			sel.check = append(sel.check, d)
		case st.ResourceVersion != "" && st.ResourceVersion == rv:
			sel.unchanged = append(sel.unchanged, d)
		default:
			// Someone wrote the object since: read it whole (a GET, not a dry-run) and
			// see whether our fields are intact.
			full := &unstructured.Unstructured{}
			full.SetGroupVersionKind(d.obj.GroupVersionKind())
			if err := m.client.Get(ctx, client.ObjectKeyFromObject(d.obj), full); err == nil && coveredObject(d.obj, full) {
				sel.unchanged = append(sel.unchanged, d)
				sel.liveRV[d.id] = full.GetResourceVersion()
			} else {
				sel.check = append(sel.check, d)
			}
		}
	}
	var nodes map[string]*unstructured.Unstructured
	for i, d := range sel.check {
		if !isNode(d.obj) {
			continue
		}
		if nodes == nil {
			if nodes, err = m.liveNodes(ctx); err != nil {
				return nil, err
			}
		}
		if sel.check[i], err = keepSystemTaints(d, nodes[d.obj.GetName()]); err != nil {
			return nil, err
		}
	}
	return sel, nil
}

// coveredObject is covered for whole objects (a Node's taints are a set; see taints.go).
func coveredObject(want, have *unstructured.Unstructured) bool {
	if isNode(want) {
		return nodeCovered(want.Object, have.Object)
	}
	return covered(want.Object, have.Object)
}

// listLive lists, once per kind and metadata only, the objects carrying the site's
// ownership labels, and returns their resourceVersions by id. Kinds the server does not
// know yet (a CRD rendered in the same site) are skipped: their objects will be created.
func (m *Manager) listLive(ctx context.Context, want []desired) (map[string]string, error) {
	gvks := map[schema.GroupVersionKind]bool{}
	for _, d := range want {
		gvks[d.obj.GroupVersionKind()] = true
	}
	keys := slices.SortedFunc(maps.Keys(gvks), func(a, b schema.GroupVersionKind) int {
		if a.String() < b.String() {
			return -1
		}
		if a.String() > b.String() {
			return 1
		}
		return 0
	})
	live := map[string]string{}
	for _, gvk := range keys {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		err := m.client.List(ctx, list, client.MatchingLabels(render.OwnershipLabels(m.site)))
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", gvk.Kind, err)
		}
		for _, item := range list.Items {
			md := object.ObjMetadata{Namespace: item.Namespace, Name: item.Name, GroupKind: gvk.GroupKind()}
			live[md.String()] = item.ResourceVersion
		}
	}
	return live, nil
}

// covered reports whether every field of want is present in have with the same value:
// the live object still holds everything we set. Lists must match element by element.
// An empty map or list in want is covered by an absent field (the server drops them).
func covered(want, have any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return len(w) == 0 && have == nil
		}
		for k, wv := range w {
			hv, ok := h[k]
			if !ok {
				if isEmpty(wv) {
					continue
				}
				return false
			}
			if !covered(wv, hv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok {
			return len(w) == 0 && have == nil
		}
		if len(h) != len(w) {
			return false
		}
		for i := range w {
			if !covered(w[i], h[i]) {
				return false
			}
		}
		return true
	default:
		return scalarEqual(want, have)
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func scalarEqual(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return a == b
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// ScopeError says a desired object cannot be applied as written: its kind is unknown
// to the API server (and no CustomResourceDefinition of the render defines it), or it
// is namespaced and has no metadata.namespace. Object is the offending desired object.
type ScopeError struct {
	Object *unstructured.Unstructured
	Reason string
}

func (e *ScopeError) Error() string { return subjectOf(e.Object) + ": " + e.Reason }

// scoped checks every desired object against the API server's discovery before
// anything is dry-run or written: an unknown kind or a namespaced object without a
// namespace is an error (all of them are reported), and the metadata.namespace of a
// cluster-scoped object is dropped, as kubectl does (it would otherwise end up in the
// inventory id and never match the live object). The input is not modified.
func (m *Manager) scoped(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	// Kinds defined by CRDs of the render, and whether they are namespaced.
	crdScope := map[schema.GroupKind]bool{}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" || o.GroupVersionKind().Group != "apiextensions.k8s.io" {
			continue
		}
		g, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		k, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		crdScope[schema.GroupKind{Group: g, Kind: k}] = scope != "Cluster"
	}
	out := make([]*unstructured.Unstructured, 0, len(objs))
	var errs []error
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		var namespaced bool
		mapping, err := m.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		switch {
		case err == nil:
			namespaced = mapping.Scope.Name() == meta.RESTScopeNameNamespace
		case meta.IsNoMatchError(err):
			ns, ok := crdScope[gvk.GroupKind()]
			if !ok {
				errs = append(errs, &ScopeError{Object: o, Reason: fmt.Sprintf(
					"the API server does not know kind %s in apiVersion %s, and no CustomResourceDefinition of the site defines it",
					gvk.Kind, gvk.GroupVersion().String())})
				continue
			}
			namespaced = ns
		default:
			return nil, fmt.Errorf("%s: discover the kind %s: %w", subjectOf(o), gvk.Kind, err)
		}
		switch {
		case namespaced && o.GetNamespace() == "":
			errs = append(errs, &ScopeError{Object: o, Reason: fmt.Sprintf(
				"%s is a namespaced kind and metadata.namespace is not set", gvk.Kind)})
			continue
		case !namespaced && o.GetNamespace() != "":
			o = o.DeepCopy()
			o.SetNamespace("")
		}
		out = append(out, o)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
