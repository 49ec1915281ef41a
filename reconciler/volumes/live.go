package volumes

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/schema"
)

// listPVs reads every PersistentVolume, by name, in one request: a Volume's is named
// like it, whoever created it (one that is not ours is refused, never adopted).
func (m *Manager) listPVs(ctx context.Context) (map[string]*unstructured.Unstructured, error) {
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion("v1")
	list.SetKind("PersistentVolumeList")
	if err := m.client.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing PersistentVolumes: %w", err)
	}
	out := make(map[string]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		out[list.Items[i].GetName()] = &list.Items[i]
	}
	return out, nil
}

// deletePV removes our finalizer, then deletes the PersistentVolume.
func (m *Manager) deletePV(ctx context.Context, pv *unstructured.Unstructured) error {
	if f := pv.GetFinalizers(); slices.Contains(f, Finalizer) {
		pv.SetFinalizers(slices.DeleteFunc(f, func(s string) bool { return s == Finalizer }))
		if err := m.client.Update(ctx, pv); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("PersistentVolume/%s: removing the finalizer: %w", pv.GetName(), err)
		}
	}
	if err := m.client.Delete(ctx, pv); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting PersistentVolume/%s: %w", pv.GetName(), err)
	}
	return nil
}

// isOurs: mk8s created it (the site's ownership labels).
func isOurs(u *unstructured.Unstructured, site string) bool {
	l := u.GetLabels()
	for k, v := range render.OwnershipLabels(site) {
		if l[k] != v {
			return false
		}
	}
	return true
}

// ownedBy says the PersistentVolume is the one of the Volume whose UID is uid.
func ownedBy(pv *unstructured.Unstructured, uid string) bool {
	for _, o := range pv.GetOwnerReferences() {
		if string(o.UID) == uid {
			return true
		}
	}
	return false
}

// boundClaim names the claim a PersistentVolume is bound to, "" when it is free. Bound
// is what the PV controller says; a claimRef alone (a claim being bound) counts too:
// a volume is only released when nothing is about to use it. Released (or Failed), its
// claim was deleted, whose claimRef a Retain volume keeps: free.
func boundClaim(pv *unstructured.Unstructured) string {
	phase, _, _ := unstructured.NestedString(pv.Object, "status", "phase")
	ns, _, _ := unstructured.NestedString(pv.Object, "spec", "claimRef", "namespace")
	name, _, _ := unstructured.NestedString(pv.Object, "spec", "claimRef", "name")
	switch {
	case phase == "Released" || phase == "Failed":
		return ""
	case name != "":
		return ns + "/" + name
	case phase == "Bound":
		return "(unknown)"
	}
	return ""
}

// releaseSpec is the spec of a Volume being deleted, from its object: the site no
// longer has its document.
func releaseSpec(site *schema.Site, vol *unstructured.Unstructured) (volume.Spec, error) {
	str := func(f ...string) string {
		s, _, _ := unstructured.NestedString(vol.Object, append([]string{"spec"}, f...)...)
		return s
	}
	v := schema.Volume{Name: vol.GetName(), NodeName: str("nodeName"), StorageClassName: str("storageClassName"), Mode: str("mode")}
	switch {
	case str("sparseLoopDevice", "size") != "":
		v.SparseLoopDevice = &schema.SparseLoopDevice{Size: str("sparseLoopDevice", "size")}
	case str("rawBlockDevice", "devicePath") != "":
		v.RawBlockDevice = &schema.RawBlockDevice{DevicePath: str("rawBlockDevice", "devicePath")}
	case str("lvmLogicalVolume", "vgName") != "":
		v.LVMLogicalVolume = &schema.LVMLogicalVolume{VGName: str("lvmLogicalVolume", "vgName"), Size: str("lvmLogicalVolume", "size")}
	}
	s, _, err := specFor(site, &v, string(vol.GetUID()))
	if err != nil && s.Node != "" && (s.SparseSize > 0 || s.DevicePath != "" || s.LVM != nil) {
		// The StorageClass may be gone with the Volume: releasing needs no filesystem type.
		return s, nil
	}
	return s, err
}
