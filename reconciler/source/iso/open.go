package iso

import (
	"fmt"
	"io/fs"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
)

// Names inside an image.
const (
	ManifestName  = "SHA256SUMS"
	SignatureName = "SHA256SUMS.sig"
	// DefaultRepo is where Build puts the repository.
	DefaultRepo = "repo.git"
	// Namespace is the SSH signature namespace of a manifest signature.
	Namespace = "mk8s-iso"
)

// Image is an open ISO image. Close it when done.
type Image struct {
	// FS is the image's content, read-only; paths have no leading slash.
	FS   fs.FS
	Path string
	d    *disk.Disk
}

// Open opens the image at path read-only, without mounting it.
func Open(path string) (*Image, error) {
	d, err := diskfs.Open(path, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		return nil, fmt.Errorf("ISO %s: %w", path, err)
	}
	fsys, err := d.GetFilesystem(0)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("ISO %s: no ISO-9660 filesystem: %w", path, err)
	}
	f, ok := fsys.(fs.FS)
	if !ok {
		d.Close()
		return nil, fmt.Errorf("ISO %s: filesystem %T cannot be read as an fs.FS", path, fsys)
	}
	return &Image{FS: f, Path: path, d: d}, nil
}

// Close releases the image file.
func (i *Image) Close() error { return i.d.Close() }
