package seed

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage"
)

// commitInput is the first commit of the repository.
type commitInput struct {
	branch  string
	author  object.Signature
	message string
	signer  git.Signer
}

// writeRepository initialises a repository in dir (which must be empty) and makes one
// signed commit holding files on branch. The objects are written straight to the object
// store, so the bare and non-bare forms get the same commit; a non-bare repository then
// gets its work tree and index.
func writeRepository(dir string, bare bool, files []File, c commitInput) (plumbing.Hash, error) {
	branch := plumbing.NewBranchReferenceName(c.branch)
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		Bare: bare, InitOptions: git.InitOptions{DefaultBranch: branch}})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git init %s: %w", dir, err)
	}
	tree, err := writeTree(repo.Storer, files)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	commit := &object.Commit{Author: c.author, Committer: c.author, Message: c.message, TreeHash: tree}
	var payload plumbing.MemoryObject
	if err := commit.EncodeWithoutSignature(&payload); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode commit: %w", err)
	}
	r, err := payload.Reader()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode commit: %w", err)
	}
	sig, err := c.signer.Sign(r)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("sign the first commit: %w", err)
	}
	commit.PGPSignature = string(sig)
	obj := repo.Storer.NewEncodedObject()
	if err := commit.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode commit: %w", err)
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store commit: %w", err)
	}
	if err := repo.Storer.SetReference(plumbing.NewHashReference(branch, h)); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("set %s: %w", branch, err)
	}
	if bare {
		return h, nil
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("write %s: %w", f.Path, err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("write %s: %w", f.Path, err)
		}
	}
	wt, err := repo.Worktree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("work tree of %s: %w", dir, err)
	}
	// The index is built from the commit; the files on disk are already those bytes.
	if err := wt.Reset(&git.ResetOptions{Commit: h, Mode: git.MixedReset}); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("index of %s: %w", dir, err)
	}
	return h, nil
}

// writeTree stores the blobs and trees of files and returns the root tree.
func writeTree(s storage.Storer, files []File) (plumbing.Hash, error) {
	type dirNode struct {
		files map[string]plumbing.Hash
		dirs  map[string]bool
	}
	dirs := map[string]*dirNode{"": {files: map[string]plumbing.Hash{}, dirs: map[string]bool{}}}
	var ensure func(d string) *dirNode
	ensure = func(d string) *dirNode {
		if n, ok := dirs[d]; ok {
			return n
		}
		n := &dirNode{files: map[string]plumbing.Hash{}, dirs: map[string]bool{}}
		dirs[d] = n
		parent := path.Dir(d)
		if parent == "." {
			parent = ""
		}
		ensure(parent).dirs[path.Base(d)] = true
		return n
	}
	for _, f := range files {
		obj := s.NewEncodedObject()
		obj.SetType(plumbing.BlobObject)
		w, err := obj.Writer()
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("store %s: %w", f.Path, err)
		}
		if _, err := w.Write(f.Data); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("store %s: %w", f.Path, err)
		}
		if err := w.Close(); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("store %s: %w", f.Path, err)
		}
		h, err := s.SetEncodedObject(obj)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("store %s: %w", f.Path, err)
		}
		d := path.Dir(f.Path)
		if d == "." {
			d = ""
		}
		ensure(d).files[path.Base(f.Path)] = h
	}
	var build func(d string) (plumbing.Hash, error)
	build = func(d string) (plumbing.Hash, error) {
		n := dirs[d]
		var t object.Tree
		for name, h := range n.files {
			t.Entries = append(t.Entries, object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: h})
		}
		for name := range n.dirs {
			h, err := build(strings.TrimPrefix(d+"/"+name, "/"))
			if err != nil {
				return plumbing.ZeroHash, err
			}
			t.Entries = append(t.Entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
		}
		// git orders tree entries by name, a directory sorting as if its name ended in '/'.
		key := func(e object.TreeEntry) string {
			if e.Mode == filemode.Dir {
				return e.Name + "/"
			}
			return e.Name
		}
		sort.Slice(t.Entries, func(i, j int) bool { return key(t.Entries[i]) < key(t.Entries[j]) })
		obj := s.NewEncodedObject()
		if err := t.Encode(obj); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("encode tree %q: %w", d, err)
		}
		return s.SetEncodedObject(obj)
	}
	return build("")
}

// isGitRepository reports whether dir holds a repository: a work tree with .git, or a
// bare repository (HEAD, objects/ and refs/).
func isGitRepository(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		return true
	}
	for _, p := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return false
		}
	}
	head, err := os.ReadFile(filepath.Join(dir, "HEAD"))
	return err == nil && (bytes.HasPrefix(head, []byte("ref: ")) || len(bytes.TrimSpace(head)) == 40)
}
