package volumes

import (
	"cmp"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/schema"
)

// platformStorageClass is the StorageClass MetalK8s installs, which a site may use
// without declaring it (schema: platformStorageClasses): the one of the service volumes.
var platformStorageClass = schema.StorageClass{Name: "metalk8s", Provisioner: "kubernetes.io/no-provisioner",
	ReclaimPolicy: "Retain", VolumeBindingMode: "WaitForFirstConsumer", MountOptions: []string{"rw"},
	Parameters: map[string]string{"fsType": "ext4", "mkfsOptions": `["-m", "0"]`}}

// specFor is what the host half needs of a Volume: its document, its StorageClass and
// the UID the API server gave its object.
func specFor(site *schema.Site, v *schema.Volume, uid string) (volume.Spec, *schema.StorageClass, error) {
	s := volume.Spec{Name: v.Name, UID: uid, Node: v.NodeName, Mode: v.Mode}
	if s.Mode == "" {
		s.Mode = volume.ModeFilesystem
	}
	size := func(field, q string) (int64, error) {
		n, err := resource.ParseQuantity(q)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", field, q, err)
		}
		if n.Value() <= 0 {
			return 0, fmt.Errorf("%s: %q: must be positive", field, q)
		}
		return n.Value(), nil
	}
	var err error
	switch {
	case v.SparseLoopDevice != nil:
		s.SparseSize, err = size("spec.sparseLoopDevice.size", v.SparseLoopDevice.Size)
	case v.RawBlockDevice != nil:
		s.DevicePath = v.RawBlockDevice.DevicePath
	case v.LVMLogicalVolume != nil:
		s.LVM = &volume.LVM{VGName: v.LVMLogicalVolume.VGName}
		s.LVM.Size, err = size("spec.lvmLogicalVolume.size", v.LVMLogicalVolume.Size)
	default:
		err = fmt.Errorf("spec: no sparseLoopDevice, rawBlockDevice or lvmLogicalVolume")
	}
	if err != nil {
		return s, nil, err
	}
	var sc *schema.StorageClass
	for i := range site.StorageClasses {
		if site.StorageClasses[i].Name == v.StorageClassName {
			sc = &site.StorageClasses[i]
		}
	}
	if sc == nil && v.StorageClassName == platformStorageClass.Name {
		sc = &platformStorageClass
	}
	if sc == nil {
		return s, nil, fmt.Errorf("spec.storageClassName: StorageClass %q is not in the site", v.StorageClassName)
	}
	if s.Mode == volume.ModeFilesystem {
		s.FSType = sc.Parameters["fsType"]
		if s.FSType == "" {
			// As the storage operator: no filesystem type, no PersistentVolume.
			return s, sc, fmt.Errorf("StorageClass %s: parameters.fsType is not set (xfs or ext4)", sc.Name)
		}
		if opts := sc.Parameters["mkfsOptions"]; opts != "" {
			if err := json.Unmarshal([]byte(opts), &s.MkfsOptions); err != nil {
				return s, sc, fmt.Errorf("StorageClass %s: parameters.mkfsOptions: %w", sc.Name, err)
			}
		}
	}
	return s, sc, nil
}

// specChange names what the site changed of a Volume the cluster already has: the field
// (in the document's terms), its value in the site and in the cluster; "" when nothing.
// The API server refuses such a change (the Volume CRD makes them immutable), so the
// cluster's Volume, whose UID names its storage, still has the former spec: preparing
// the site's would put a second filesystem with that UUID on another device, or storage
// on a node its PersistentVolume does not name.
func specChange(v *schema.Volume, live *unstructured.Unstructured) (field, site, cluster string) {
	str := func(f ...string) string {
		x, _, _ := unstructured.NestedFieldNoCopy(live.Object, append([]string{"spec"}, f...)...)
		if x == nil {
			return ""
		}
		return fmt.Sprint(x)
	}
	sameSize := func(a, b string) bool {
		qa, errA := resource.ParseQuantity(a)
		qb, errB := resource.ParseQuantity(b)
		if errA != nil || errB != nil {
			return a == b
		}
		return qa.Cmp(qb) == 0
	}
	source := func(sparse, raw, lvm bool) string {
		switch {
		case sparse:
			return "sparseLoopDevice"
		case raw:
			return "rawBlockDevice"
		case lvm:
			return "lvmLogicalVolume"
		}
		return "none"
	}
	siteSource := source(v.SparseLoopDevice != nil, v.RawBlockDevice != nil, v.LVMLogicalVolume != nil)
	liveSource := source(str("sparseLoopDevice") != "", str("rawBlockDevice") != "", str("lvmLogicalVolume") != "")
	switch {
	case v.NodeName != str("nodeName"):
		return "spec.nodeName", v.NodeName, str("nodeName")
	case v.StorageClassName != str("storageClassName"):
		return "spec.storageClassName", v.StorageClassName, str("storageClassName")
	case cmp.Or(v.Mode, volume.ModeFilesystem) != cmp.Or(str("mode"), volume.ModeFilesystem):
		return "spec.mode", cmp.Or(v.Mode, volume.ModeFilesystem), cmp.Or(str("mode"), volume.ModeFilesystem)
	case siteSource != liveSource:
		return "spec." + siteSource, siteSource, liveSource
	case v.SparseLoopDevice != nil && !sameSize(v.SparseLoopDevice.Size, str("sparseLoopDevice", "size")):
		return "spec.sparseLoopDevice.size", v.SparseLoopDevice.Size, str("sparseLoopDevice", "size")
	case v.RawBlockDevice != nil && v.RawBlockDevice.DevicePath != str("rawBlockDevice", "devicePath"):
		return "spec.rawBlockDevice.devicePath", v.RawBlockDevice.DevicePath, str("rawBlockDevice", "devicePath")
	case v.LVMLogicalVolume != nil && v.LVMLogicalVolume.VGName != str("lvmLogicalVolume", "vgName"):
		return "spec.lvmLogicalVolume.vgName", v.LVMLogicalVolume.VGName, str("lvmLogicalVolume", "vgName")
	case v.LVMLogicalVolume != nil && !sameSize(v.LVMLogicalVolume.Size, str("lvmLogicalVolume", "size")):
		return "spec.lvmLogicalVolume.size", v.LVMLogicalVolume.Size, str("lvmLogicalVolume", "size")
	}
	return "", "", ""
}
