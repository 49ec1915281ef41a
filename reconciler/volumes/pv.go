package volumes

import (
	"maps"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/schema"
)

// desiredPV is the PersistentVolume of a prepared Volume, as the storage operator
// makes it: named like the Volume, on the persistent device path, bound to the node by
// affinity, owned by the Volume and protected by the same finalizer.
func desiredPV(site string, v *schema.Volume, vol *unstructured.Unstructured, s volume.Spec, sc *schema.StorageClass, info volume.Info) *unstructured.Unstructured {
	labels := maps.Clone(v.TemplateLabels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, render.OwnershipLabels(site))
	spec := map[string]any{
		"capacity":                      map[string]any{"storage": strconv.FormatInt(info.SizeBytes, 10)},
		"accessModes":                   []any{"ReadWriteOnce"},
		"persistentVolumeReclaimPolicy": "Retain",
		"storageClassName":              v.StorageClassName,
		"volumeMode":                    s.Mode,
		"local":                         map[string]any{"path": info.Path},
		"nodeAffinity": map[string]any{"required": map[string]any{"nodeSelectorTerms": []any{
			map[string]any{"matchExpressions": []any{map[string]any{
				"key": "kubernetes.io/hostname", "operator": "In", "values": []any{v.NodeName}}}},
		}}},
	}
	if s.Mode == volume.ModeFilesystem && len(sc.MountOptions) > 0 {
		opts := make([]any, len(sc.MountOptions))
		for i, o := range sc.MountOptions {
			opts[i] = o
		}
		spec["mountOptions"] = opts
	}
	pv := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "PersistentVolume",
		"metadata": map[string]any{"name": v.Name},
		"spec":     spec,
	}}
	pv.SetLabels(labels)
	pv.SetFinalizers([]string{Finalizer})
	yes := true
	pv.SetOwnerReferences([]metav1.OwnerReference{{
		APIVersion: vol.GetAPIVersion(), Kind: vol.GetKind(), Name: vol.GetName(), UID: vol.GetUID(),
		Controller: &yes, BlockOwnerDeletion: &yes,
	}})
	return pv
}
