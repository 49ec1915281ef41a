package volumes

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/schema"
)

// defaultFSType is the StorageClass fsType when its parameters do not say (MetalK8s'
// metalk8s StorageClass uses xfs).
const defaultFSType = "xfs"

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
	if sc == nil {
		return s, nil, fmt.Errorf("spec.storageClassName: StorageClass %q is not in the site", v.StorageClassName)
	}
	if s.Mode == volume.ModeFilesystem {
		s.FSType = sc.Parameters["fsType"]
		if s.FSType == "" {
			s.FSType = defaultFSType
		}
		if opts := sc.Parameters["mkfsOptions"]; opts != "" {
			if err := json.Unmarshal([]byte(opts), &s.MkfsOptions); err != nil {
				return s, sc, fmt.Errorf("StorageClass %s: parameters.mkfsOptions: %w", sc.Name, err)
			}
		}
	}
	return s, sc, nil
}
