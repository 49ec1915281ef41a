// Package volume prepares the storage of MetalK8s Volumes on their nodes, as the
// storage operator's Salt states do: a sparse file attached to a loop device, a raw
// block device or an LVM logical volume, formatted with the StorageClass' filesystem
// whose UUID is the Volume's UID (Filesystem mode), or given a GPT partition whose GUID
// is the Volume's UID (Block mode); and releases it when the Volume goes. The steps are
// host resources of hostsync's vocabulary (probe, decide, apply), so a plan shows them
// before they happen and a second run changes nothing. A device that holds a
// filesystem or a partition table that is not the Volume's is never formatted.
package volume
