package volume

import "github.com/metalk8s/mk8s/reconciler/change"

// Filesystem and Block are the Volume modes (spec.mode).
const (
	ModeFilesystem = "Filesystem"
	ModeBlock      = "Block"
)

// SparseDir is where sparse files live, as MetalK8s keeps them:
// /var/lib/metalk8s/storage/sparse/<volume uid>.
const SparseDir = "/var/lib/metalk8s/storage/sparse"

// Spec is one Volume to prepare (or release) on its node: what the Volume object and
// its StorageClass say, and the UID the API server gave the Volume. Exactly one of
// SparseSize, DevicePath and LVM is set.
type Spec struct {
	// Name is the Volume's metadata.name; UID its metadata.uid (a UUID).
	Name, UID string
	// Node is spec.nodeName.
	Node string
	// Mode is ModeFilesystem or ModeBlock.
	Mode string
	// SparseSize is the size in bytes of a sparseLoopDevice volume.
	SparseSize int64
	// DevicePath is the device of a rawBlockDevice volume (a disk, a partition or an LV).
	DevicePath string
	// LVM is an lvmLogicalVolume volume.
	LVM *LVM
	// FSType (xfs or ext4) and MkfsOptions (the StorageClass' parameters) format a
	// Filesystem volume.
	FSType      string
	MkfsOptions []string
}

// LVM is a logical volume to create in an existing volume group.
type LVM struct {
	VGName string
	// Size in bytes.
	Size int64
}

// Outcome is what happened to one Volume's storage in a run of the host half: its
// steps (planned, or applied), what the PersistentVolume needs once it is prepared
// (zero in a plan), and why it failed.
type Outcome struct {
	Steps change.Set
	Info  Info
	Err   error
}

// Info is what the PersistentVolume needs once the volume is prepared.
type Info struct {
	// Path is the persistent device path: /dev/disk/by-uuid/<uid> (Filesystem),
	// /dev/disk/by-partuuid/<uid> (Block), /dev/disk/by-id/dm-uuid-LVM-<lvm uuid> (an LV
	// in Block mode).
	Path string
	// SizeBytes is the capacity.
	SizeBytes int64
	// DeviceName is the kernel's name of the device now backing it ("loop3", "sdb1"),
	// for the Volume's status.
	DeviceName string
}
