package objects

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/fluxcd/pkg/ssa"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/schema"
)

// pruneVerdict is what prune decided for one stale inventory entry.
type pruneVerdict struct {
	obj    *unstructured.Unstructured // the stub (identity only)
	live   *unstructured.Unstructured // nil when absent
	action change.Action              // Deleted (would delete), Skipped
	reason string
	// keep says the entry stays in the inventory (a later reconcile retries it).
	keep bool
}

// judgeStale decides, without writing, what to do with each stale entry: delete only
// objects mk8s created (same UID) that still carry our ownership labels and whose fields
// mk8s manages; never a Volume whose PersistentVolume is bound, nor a namespace that
// still holds desired objects, nor a CRD whose kind desired objects still have.
// Entries are returned in deletion order (reverse of the apply order).
func (m *Manager) judgeStale(ctx context.Context, stale []InventoryEntry, inv *inventory, want []desired) ([]pruneVerdict, error) {
	inUse, kindInUse := map[string]int{}, map[string]int{}
	for _, d := range want {
		if ns := d.obj.GetNamespace(); ns != "" {
			inUse[ns]++
		}
		gvk := d.obj.GroupVersionKind()
		kindInUse[gvk.Group+"/"+gvk.Kind]++
	}
	var stubs []*unstructured.Unstructured
	for _, e := range stale {
		u, err := e.stub()
		if err != nil {
			return nil, fmt.Errorf("inventory entry %q: %w", e.ID, err)
		}
		stubs = append(stubs, u)
	}
	sort.Sort(sort.Reverse(ssa.SortableUnstructureds(stubs)))
	var out []pruneVerdict
	for _, u := range stubs {
		v := pruneVerdict{obj: u}
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(u.GroupVersionKind())
		err := m.client.Get(ctx, client.ObjectKeyFromObject(u), live)
		switch {
		case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
			v.action, v.reason = change.Skipped, "already absent"
		case err != nil:
			v.action, v.reason, v.keep = change.Failed, fmt.Sprintf("read before prune: %v", err), true
		default:
			v.live = live
			v.action, v.reason, v.keep = m.mayDelete(ctx, live, inv.state[objectID(u)].CreatedUID)
			if n := inUse[live.GetName()]; v.action == change.Deleted && isNamespace(live) && n > 0 {
				// Deleting it would delete desired objects with it. It stays in the
				// inventory, so that it is pruned once the site drops them too.
				v.action, v.reason, v.keep = change.Skipped, fmt.Sprintf("not deleted: the site still has %d objects in it", n), true
			}
			if v.action == change.Deleted && live.GetKind() == "CustomResourceDefinition" && live.GroupVersionKind().Group == "apiextensions.k8s.io" {
				// Same for a CRD: deleting it would delete the site's objects of its kind.
				g, _, _ := unstructured.NestedString(live.Object, "spec", "group")
				k, _, _ := unstructured.NestedString(live.Object, "spec", "names", "kind")
				if n := kindInUse[g+"/"+k]; n > 0 {
					v.action, v.reason, v.keep = change.Skipped, fmt.Sprintf("not deleted: the site still has %d objects of kind %s", n, k), true
				}
			}
		}
		out = append(out, v)
	}
	// An object prune leaves in place would be deleted with its namespace or its CRD:
	// those stay too, in the inventory as long as that object does.
	held := map[string]pruneVerdict{}
	for _, v := range out {
		leftInPlace := v.live != nil && v.action != change.Deleted && v.live.GetDeletionTimestamp() == nil
		if !leftInPlace && v.action != change.Failed {
			continue
		}
		gvk := v.obj.GroupVersionKind()
		for _, key := range []string{"Namespace/" + v.obj.GetNamespace(), "kind/" + gvk.Group + "/" + gvk.Kind} {
			if h, seen := held[key]; !seen || (v.keep && !h.keep) {
				held[key] = v
			}
		}
	}
	for i, v := range out {
		if v.action != change.Deleted {
			continue
		}
		key := ""
		switch {
		case isNamespace(v.obj):
			key = "Namespace/" + v.obj.GetName()
		case v.obj.GetKind() == "CustomResourceDefinition" && v.obj.GroupVersionKind().Group == "apiextensions.k8s.io":
			g, _, _ := unstructured.NestedString(v.live.Object, "spec", "group")
			k, _, _ := unstructured.NestedString(v.live.Object, "spec", "names", "kind")
			key = "kind/" + g + "/" + k
		}
		if h, ok := held[key]; ok && key != "" {
			out[i].action, out[i].keep = change.Skipped, h.keep
			out[i].reason = fmt.Sprintf("not deleted: it holds %s, which mk8s leaves in place", subjectOf(h.obj))
		}
	}
	return out, nil
}

// protectedNamespaces are never pruned, whoever declared them: mk8s's own (it holds the
// inventory) and the ones Kubernetes needs.
var protectedNamespaces = map[string]bool{
	InventoryNamespace: true, "default": true, "kube-system": true, "kube-public": true, "kube-node-lease": true,
}

// mayDelete applies the safety rules to a live object mk8s once applied; createdUID is
// the UID of the object mk8s created under this name, if it did.
func (m *Manager) mayDelete(ctx context.Context, live *unstructured.Unstructured, createdUID string) (change.Action, string, bool) {
	if createdUID == "" {
		return change.Skipped, "not deleted: it existed before mk8s first applied it, and mk8s only deletes what it created; delete it by hand if it is no longer needed", false
	}
	if string(live.GetUID()) != createdUID {
		return change.Skipped, "not deleted: it was recreated by someone else since mk8s created it; delete it by hand if it is no longer needed", false
	}
	labels := live.GetLabels()
	if labels[render.LabelManagedBy] != render.ManagedByValue || labels[render.LabelSite] != m.site {
		return change.Skipped, "not deleted: it no longer carries mk8s's ownership labels", false
	}
	if !managedBy(live, FieldManager) {
		return change.Skipped, "not deleted: mk8s does not manage any of its fields", false
	}
	if isNamespace(live) && protectedNamespaces[live.GetName()] {
		return change.Skipped, "not deleted: mk8s never deletes its own namespace nor the system namespaces", false
	}
	if live.GetDeletionTimestamp() != nil {
		return change.Skipped, "already being deleted", false
	}
	if live.GroupVersionKind().Group == "storage.metalk8s.scality.com" && live.GetKind() == schema.KindVolume {
		if bound, pv := m.volumeBound(ctx, live.GetName()); bound {
			return change.Skipped, fmt.Sprintf("not deleted: its PersistentVolume %s is Bound", pv), true
		}
	}
	return change.Deleted, "", false
}

func isNamespace(u *unstructured.Unstructured) bool {
	return u.GetKind() == "Namespace" && u.GroupVersionKind().Group == ""
}

// managedBy reports whether a field manager applied fields of the object.
func managedBy(u *unstructured.Unstructured, manager string) bool {
	for _, mf := range u.GetManagedFields() {
		if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

// volumeBound reports whether the PersistentVolume backing a Volume (same name, as the
// MetalK8s storage operator creates it) is Bound, or has a claim that is being bound to
// it (the PV controller sets the claimRef first): a deletion cannot be undone. Released
// (its claim deleted, the claimRef kept) it is free. When it cannot tell, it says
// bound: a volume is only deleted when we know it is free.
func (m *Manager) volumeBound(ctx context.Context, name string) (bool, string) {
	pv := &unstructured.Unstructured{}
	pv.SetAPIVersion("v1")
	pv.SetKind("PersistentVolume")
	err := m.client.Get(ctx, client.ObjectKey{Name: name}, pv)
	if apierrors.IsNotFound(err) {
		return false, ""
	}
	if err != nil {
		return true, name + " (unknown state: " + err.Error() + ")"
	}
	phase, _, _ := unstructured.NestedString(pv.Object, "status", "phase")
	ns, _, _ := unstructured.NestedString(pv.Object, "spec", "claimRef", "namespace")
	claim, _, _ := unstructured.NestedString(pv.Object, "spec", "claimRef", "name")
	switch {
	case phase == "Released" || phase == "Failed":
		// Its claim was deleted (a Retain volume keeps the claimRef): free.
		return false, name
	case claim != "":
		return true, name + " (claim " + ns + "/" + claim + ")"
	}
	return phase == "Bound", name
}

// prune deletes what judgeStale allows and updates the inventory: deleted and absent
// objects leave it, objects whose deletion failed or was refused for a reason that may
// pass (a bound volume) stay in it.
func (m *Manager) prune(ctx context.Context, stale []InventoryEntry, inv *inventory, want []desired) (change.Set, error) {
	if len(stale) == 0 {
		return nil, nil
	}
	verdicts, err := m.judgeStale(ctx, stale, inv, want)
	if err != nil {
		return nil, err
	}
	var set change.Set
	var errs []error
	for _, v := range verdicts {
		id := objectID(v.obj)
		e := change.Entry{Subject: subjectOf(v.obj), Action: v.action, Message: v.reason}
		if v.action == change.Deleted {
			// The UID precondition makes sure we delete the object we judged, not one
			// recreated meanwhile by someone else.
			uid := v.live.GetUID()
			err := m.client.Delete(ctx, v.live, client.PropagationPolicy(metav1.DeletePropagationBackground),
				client.Preconditions{UID: &uid})
			if err != nil && !apierrors.IsNotFound(err) {
				e.Action, e.Message, v.keep = change.Failed, fmt.Sprintf("delete: %v", err), true
				errs = append(errs, fmt.Errorf("prune %s: %w", e.Subject, err))
			}
		}
		if v.action == change.Failed {
			errs = append(errs, fmt.Errorf("prune %s: %s", e.Subject, v.reason))
		}
		if !v.keep {
			delete(inv.entries, id)
			delete(inv.state, id)
		}
		set.Add(e)
	}
	return set, errors.Join(errs...)
}
