// Package volumes is the cluster half of MetalK8s Volumes, run by the reconciler after
// the objects are applied, in place of MetalK8s' storage operator: for each Volume of
// the site it adds the protecting finalizer, has the storage prepared on the node
// (Storage: hostsync over SSH), creates the PersistentVolume on the persistent device
// path, and records the Volume's status (Pending, Available, Failed, Terminating, the
// device name). A Volume being deleted is released only when its PersistentVolume is
// not bound: the PersistentVolume goes, the storage is released on the node, and the
// finalizer is removed so that the API server deletes the Volume. Plan walks the same
// code without writing.
package volumes
