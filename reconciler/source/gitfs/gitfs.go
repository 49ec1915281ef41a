package gitfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// FS is an fs.FS over a git tree. Files are read into memory when opened; a site
// repository holds small YAML documents.
type FS struct {
	tree    *object.Tree
	modTime time.Time

	// trees caches the decoded directories by path: go-git's own path cache skips
	// first-level directories, and decoding volumes/ (thousands of entries) again for
	// each of its files made loading a large site quadratic.
	mu    sync.Mutex
	trees map[string]*object.Tree
}

var (
	_ fs.FS         = (*FS)(nil)
	_ fs.ReadFileFS = (*FS)(nil)
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
)

// New returns the FS of a commit's tree. Every entry's ModTime is the commit time, so that
// the same revision always looks the same.
func New(c *object.Commit) (*FS, error) {
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("tree of commit %s: %w", c.Hash, err)
	}
	return &FS{tree: t, modTime: c.Committer.When}, nil
}

// NewFromTree returns the FS of a tree, with the given ModTime for every entry.
func NewFromTree(t *object.Tree, modTime time.Time) *FS { return &FS{tree: t, modTime: modTime} }

// Open implements fs.FS.
func (f *FS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &dir{info: f.dirInfo("."), fsys: f, tree: f.tree, name: "."}, nil
	}
	// Symlinks are followed while they stay inside the tree, as the loader does for a
	// site directory (os.Root); reading one yields its target's content, not the target path.
	real, err := f.resolve(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if real == "." {
		return &dir{info: f.dirInfo(path.Base(name)), fsys: f, tree: f.tree, name: name}, nil
	}
	e, err := f.entry(real)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	switch {
	case e.Mode == filemode.Dir:
		t, err := f.dirTree(real)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &dir{info: f.dirInfo(path.Base(name)), fsys: f, tree: t, name: name}, nil
	case e.Mode == filemode.Submodule:
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("a submodule has no content here")}
	}
	file, err := f.tree.TreeEntryFile(e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	r, err := file.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	fi := f.entryInfo(e, file.Size)
	fi.name = path.Base(name)
	return &openFile{Reader: bytes.NewReader(data), info: fi}, nil
}

// maxSymlinks bounds the links followed for one name, like the kernel's ELOOP.
const maxSymlinks = 40

// resolve returns the path of the entry name denotes once every symlink on the way is
// followed. A link that is absolute or leads out of the tree is an error.
func (f *FS) resolve(name string) (string, error) {
	parts := strings.Split(name, "/")
	cur, hops := ".", 0
	for i := 0; i < len(parts); i++ {
		if parts[i] == "." || parts[i] == "" {
			continue
		}
		p := path.Join(cur, parts[i])
		e, err := f.entry(p)
		if err != nil {
			return "", fs.ErrNotExist
		}
		if e.Mode != filemode.Symlink {
			cur = p
			continue
		}
		if hops++; hops > maxSymlinks {
			return "", errors.New("too many levels of symbolic links")
		}
		target, err := f.linkTarget(e)
		if err != nil {
			return "", err
		}
		t := path.Join(cur, target)
		if path.IsAbs(target) || t == ".." || strings.HasPrefix(t, "../") {
			return "", fmt.Errorf("symlink %s -> %s leads out of the repository", p, target)
		}
		// Go on from the target, with the rest of the name after it.
		rest := parts[i+1:]
		parts = append(strings.Split(t, "/"), rest...)
		cur, i = ".", -1
	}
	return cur, nil
}

// entry finds the entry at p (no symlink followed), through the cache of directories.
func (f *FS) entry(p string) (*object.TreeEntry, error) {
	parent, base := path.Split(p)
	t, err := f.dirTree(strings.TrimSuffix(parent, "/"))
	if err != nil {
		return nil, err
	}
	return t.FindEntry(base) // one name: go-git's map of the tree's entries
}

// dirTree is the decoded tree of the directory at p ("" or "." is the root).
func (f *FS) dirTree(p string) (*object.Tree, error) {
	if p == "" || p == "." {
		return f.tree, nil
	}
	f.mu.Lock()
	t, ok := f.trees[p]
	f.mu.Unlock()
	if ok {
		return t, nil
	}
	parent, base := path.Split(p)
	pt, err := f.dirTree(strings.TrimSuffix(parent, "/"))
	if err != nil {
		return nil, err
	}
	if t, err = pt.Tree(base); err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.trees == nil {
		f.trees = map[string]*object.Tree{}
	}
	f.trees[p] = t
	f.mu.Unlock()
	return t, nil
}

func (f *FS) linkTarget(e *object.TreeEntry) (string, error) {
	file, err := f.tree.TreeEntryFile(e)
	if err != nil {
		return "", err
	}
	return file.Contents()
}

// ReadFile implements fs.ReadFileFS.
func (f *FS) ReadFile(name string) ([]byte, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	if _, ok := file.(*dir); ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	return io.ReadAll(file)
}

// ReadDir implements fs.ReadDirFS.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	d, ok := file.(*dir)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return d.ReadDir(-1)
}

// Stat implements fs.StatFS.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return file.Stat()
}

func (f *FS) dirInfo(name string) info {
	return info{name: name, mode: fs.ModeDir | 0o555, modTime: f.modTime}
}

func (f *FS) entryInfo(e *object.TreeEntry, size int64) info {
	i := info{name: e.Name, size: size, modTime: f.modTime, mode: 0o444}
	switch e.Mode {
	case filemode.Dir:
		i.mode, i.size = fs.ModeDir|0o555, 0
	case filemode.Executable:
		i.mode = 0o555
	case filemode.Symlink:
		i.mode = fs.ModeSymlink | 0o777
	case filemode.Submodule:
		i.mode, i.size = fs.ModeIrregular, 0
	}
	return i
}

type info struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

func (i info) Name() string               { return i.name }
func (i info) Size() int64                { return i.size }
func (i info) Mode() fs.FileMode          { return i.mode }
func (i info) ModTime() time.Time         { return i.modTime }
func (i info) IsDir() bool                { return i.mode.IsDir() }
func (i info) Sys() any                   { return nil }
func (i info) Info() (fs.FileInfo, error) { return i, nil }
func (i info) Type() fs.FileMode          { return i.mode.Type() }

// openFile is an open regular file.
type openFile struct {
	*bytes.Reader
	info info
}

func (f *openFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *openFile) Close() error               { return nil }

type dir struct {
	info    info
	fsys    *FS
	tree    *object.Tree
	name    string
	entries []fs.DirEntry
	offset  int
	loaded  bool
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dir) Close() error               { return nil }
func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}

func (d *dir) load() error {
	if d.loaded {
		return nil
	}
	d.loaded = true
	for i := range d.tree.Entries {
		e := &d.tree.Entries[i]
		var size int64
		if e.Mode.IsFile() {
			s, err := d.tree.Size(e.Name)
			if err != nil {
				return &fs.PathError{Op: "readdir", Path: d.name, Err: err}
			}
			size = s
		}
		d.entries = append(d.entries, d.fsys.entryInfo(e, size))
	}
	slices.SortFunc(d.entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return nil
}

// ReadDir implements fs.ReadDirFile.
func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	if err := d.load(); err != nil {
		return nil, err
	}
	rest := d.entries[d.offset:]
	if n <= 0 {
		d.offset = len(d.entries)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.offset += n
	return slices.Clone(rest[:n]), nil
}
