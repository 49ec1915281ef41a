package gitfs_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/metalk8s/mk8s/e2e/harness/signing"
	"github.com/metalk8s/mk8s/reconciler/source/gitfs"
)

// The FS of a commit made by the real git passes fstest.TestFS and shows that commit's
// tree, not the working directory's.
func TestFSOverCommitTree(t *testing.T) {
	dir := t.TempDir()
	r := signing.NewRepo(t, dir)
	files := map[string]string{
		"cluster.yaml":         "name: a\n",
		"nodes/n1.yaml":        "name: n1\n",
		"nodes/n2.yaml":        "name: n2\n",
		"nodes/deep/er/x.yaml": "x: 1\n",
		"manifests/empty.yaml": "",
		"hack/run.sh":          "#!/bin/sh\n",
	}
	head := r.Commit(nil, "site", files)
	os.Chmod(filepath.Join(dir, "hack/run.sh"), 0o755)
	r.Git("add", "-A")
	exe := r.Commit(nil, "exec bit", nil)
	// The working directory moves on; the FS must not.
	os.WriteFile(filepath.Join(dir, "cluster.yaml"), []byte("changed"), 0o644)

	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(exe))
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := gitfs.New(c)
	if err != nil {
		t.Fatal(err)
	}
	expected := make([]string, 0, len(files))
	for p := range files {
		expected = append(expected, p)
	}
	if err := fstest.TestFS(fsys, expected...); err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(fsys, "cluster.yaml")
	if err != nil || string(b) != "name: a\n" {
		t.Fatalf("cluster.yaml = %q, %v", b, err)
	}
	st, err := fs.Stat(fsys, "hack/run.sh")
	if err != nil || st.Mode().Perm()&0o111 == 0 {
		t.Fatalf("hack/run.sh mode %v, %v", st.Mode(), err)
	}
	if _, err := fsys.Open("nodes/missing.yaml"); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
	_ = head
}

// A symlink committed in the site repository is followed inside the tree, as the loader
// follows it in a site directory: reading it gives the target's content, never the target
// path; a link out of the repository is refused.
func TestFSFollowsSymlinksInsideTheTree(t *testing.T) {
	dir := t.TempDir()
	r := signing.NewRepo(t, dir)
	r.Commit(nil, "site", map[string]string{"shared/common.yaml": "name: common\n"})
	for link, target := range map[string]string{
		"nodes/common.yaml": "../shared/common.yaml",
		"alias":             "shared",
		"escape.yaml":       "../../etc/passwd",
		"abs.yaml":          "/etc/passwd",
		"loop.yaml":         "loop.yaml",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, link)), 0o755)
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	r.Git("add", "-A")
	head := r.Commit(nil, "links", nil)
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(head))
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := gitfs.New(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nodes/common.yaml", "alias/common.yaml"} {
		b, err := fs.ReadFile(fsys, name)
		if err != nil || string(b) != "name: common\n" {
			t.Fatalf("%s = %q, %v; want the target's content", name, b, err)
		}
	}
	if st, err := fs.Stat(fsys, "alias"); err != nil || !st.IsDir() {
		t.Fatalf("alias: %v, %v", st, err)
	}
	for _, name := range []string{"escape.yaml", "abs.yaml", "loop.yaml"} {
		if b, err := fs.ReadFile(fsys, name); err == nil {
			t.Fatalf("%s read %q; want an error", name, b)
		}
	}
}
