package iso

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// BuildOptions says what to put in an image.
type BuildOptions struct {
	// RepoDir is the bare repository to carry (a non-bare one's .git works too).
	RepoDir string
	// SigningKeyFile signs the manifest (see SignManifest).
	SigningKeyFile string
	// Output is the image to write; it must not exist.
	Output string
	// RepoName is the repository's directory in the image; DefaultRepo when empty.
	RepoName string
	// VolumeID is the ISO volume label; MK8S-SITE when empty.
	VolumeID string
}

// Build writes a Rock Ridge + Joliet image holding the repository, its SHA256SUMS and the
// manifest's signature. Pure Go; the equivalent xorriso recipe is in the package doc.
func Build(ctx context.Context, opts BuildOptions) (map[string]string, error) {
	if opts.RepoName == "" {
		opts.RepoName = DefaultRepo
	}
	if opts.VolumeID == "" {
		opts.VolumeID = "MK8S-SITE"
	}
	if _, err := os.Stat(filepath.Join(opts.RepoDir, "HEAD")); err != nil {
		return nil, fmt.Errorf("%s is not a bare git repository: %w", opts.RepoDir, err)
	}
	ws, err := os.MkdirTemp("", "mk8s-iso-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(ws)
	if err := os.CopyFS(filepath.Join(ws, opts.RepoName), os.DirFS(opts.RepoDir)); err != nil {
		return nil, fmt.Errorf("copy %s: %w", opts.RepoDir, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sums := map[string]string{}
	var size int64
	nEntries := 0
	err = filepath.WalkDir(ws, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		nEntries++
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(ws, p)
		rel = filepath.ToSlash(rel)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		size += roundUp(n)
		sums[rel] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", opts.RepoDir, err)
	}
	paths := make([]string, 0, len(sums))
	for p := range sums {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var manifest strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&manifest, "%s  %s\n", sums[p], p)
	}
	sig, err := SignManifest([]byte(manifest.String()), opts.SigningKeyFile)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(ws, ManifestName), []byte(manifest.String()), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(ws, SignatureName), sig, 0o644); err != nil {
		return nil, err
	}
	size += roundUp(int64(manifest.Len())) + roundUp(int64(len(sig)))
	// Room for the system area, descriptors, path tables and directory records (Rock
	// Ridge and Joliet each add a record per entry); the image is trimmed afterwards.
	size += 1<<20 + int64(nEntries+2)*3*2048
	if err := writeImage(ws, opts.Output, size, opts.VolumeID); err != nil {
		return nil, err
	}
	return sums, nil
}

func roundUp(n int64) int64 { return (n + 2047) / 2048 * 2048 }

func writeImage(ws, output string, size int64, volumeID string) (err error) {
	if _, err := os.Stat(output); err == nil {
		return fmt.Errorf("%s exists; refusing to overwrite it", output)
	}
	d, err := diskfs.Create(output, size, diskfs.SectorSize(2048))
	if err != nil {
		return fmt.Errorf("create %s: %w", output, err)
	}
	defer func() {
		if cerr := d.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(output)
		}
	}()
	// go-diskfs removes its workspace when it finalizes: give it a copy it may own.
	own, err := os.MkdirTemp("", "mk8s-iso-ws-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(own)
	if err := os.CopyFS(filepath.Join(own, "root"), os.DirFS(ws)); err != nil {
		return err
	}
	fsys, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 0, FSType: filesystem.TypeISO9660,
		VolumeLabel: volumeID, WorkDir: filepath.Join(own, "root")})
	if err != nil {
		return fmt.Errorf("create ISO filesystem: %w", err)
	}
	iso, ok := fsys.(*iso9660.FileSystem)
	if !ok {
		return fmt.Errorf("unexpected filesystem %T", fsys)
	}
	if err := iso.Finalize(iso9660.FinalizeOptions{RockRidge: true, Joliet: true, DeepDirectories: true, VolumeIdentifier: volumeID}); err != nil {
		return fmt.Errorf("finalize %s: %w", output, err)
	}
	return trimImage(output)
}

// trimImage cuts the pre-allocated image to the volume space size its primary volume
// descriptor records.
func trimImage(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var pvd [2048]byte
	if _, err := f.ReadAt(pvd[:], 16*2048); err != nil {
		return fmt.Errorf("read volume descriptor of %s: %w", path, err)
	}
	if pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return fmt.Errorf("%s: no primary volume descriptor", path)
	}
	blocks := int64(binary.LittleEndian.Uint32(pvd[80:84]))
	blockSize := int64(binary.LittleEndian.Uint16(pvd[128:130]))
	if blocks*blockSize <= 0 {
		return nil
	}
	return f.Truncate(blocks * blockSize)
}
