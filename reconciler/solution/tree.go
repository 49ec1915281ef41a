package solution

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// The layout of a Solution archive (MetalK8s' "Solution archive guidelines").
const (
	FileManifest = "manifest.yaml"
	DirImages    = "images"
	FileRole     = "operator/deploy/role.yaml"
	DirCRDs      = "operator/deploy/crds"
	// FileRegistryConfigTemplate is what static-container-registry writes with
	// --name-prefix '{{ repository }}' --server-root '{{ registry_root }}';
	// FileRegistryConfig is read when the template is absent.
	FileRegistryConfigTemplate = "registry-config.inc.j2"
	FileRegistryConfig         = "registry-config.inc"
)

// tree indexes every file and directory of an image once, so that what is missing is
// told apart from what cannot be read.
type tree struct {
	fsys    fs.FS
	entries map[string]treeEntry
}

type treeEntry struct {
	dir  bool
	size int64
}

// walkTree lists the whole image. An error is an image whose directories cannot be read,
// or loop: a directory record pointing at a directory already listed (its own, an
// ancestor's) would make the walk endless, each directory being listed in itself.
func walkTree(ctx context.Context, fsys fs.FS) (*tree, error) {
	t := &tree{fsys: fsys, entries: map[string]treeEntry{}}
	dirs := map[uint32]string{} // extent -> the directory listed there
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			if st, ok := info.Sys().(*iso9660.StatT); ok {
				if prev, seen := dirs[st.Location]; seen {
					return fmt.Errorf("directory %s is at block %d, as %s is: the image's directories loop", p, st.Location, prev)
				}
				dirs[st.Location] = p
			}
			t.entries[p] = treeEntry{dir: true}
			return nil
		}
		t.entries[p] = treeEntry{size: info.Size()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (t *tree) isDir(p string) bool  { return t.entries[p].dir }
func (t *tree) isFile(p string) bool { e, ok := t.entries[p]; return ok && !e.dir }

func (t *tree) size(p string) (int64, bool) {
	e, ok := t.entries[p]
	return e.size, ok && !e.dir
}

// files returns the files directly in dir whose name ends with suffix, sorted.
func (t *tree) files(dir, suffix string) []string {
	var out []string
	for p, e := range t.entries {
		if !e.dir && path.Dir(p) == dir && strings.HasSuffix(p, suffix) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
