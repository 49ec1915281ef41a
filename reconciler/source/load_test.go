package source_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/gitserver"
	"github.com/metalk8s/mk8s/schema"
)

// The loader reads a verified revision straight from git objects: the example site,
// committed and signed, fetched over git://, loads from rev.FS as it does from disk.
func TestLoaderReadsVerifiedRevisionFromGitObjects(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	example := filepath.Join(filepath.Dir(file), "..", "..", "site-example")
	w := newWorld(t)
	if err := os.CopyFS(w.work.Dir, os.DirFS(example)); err != nil {
		t.Fatal(err)
	}
	head := w.work.Commit(w.ssh, "example site", nil)
	// An uncommitted edit in the working directory must not be seen.
	os.WriteFile(filepath.Join(w.work.Dir, "cluster.yaml"), []byte("not: committed\n"), 0o644)
	w.push(false)
	d := gitserver.StartDaemon(t, w.bareRoot)
	rev := syncApply(t, w.source(w.config(d.URL("site.git"), "", "")))
	if rev.Commit != head {
		t.Fatalf("head %s, want %s", rev.Commit, head)
	}
	site, diags := schema.Load(context.Background(), rev.FS)
	if diags.HasErrors() {
		t.Fatalf("load from git objects:\n%v", diags.Err())
	}
	fromDisk, diags := schema.LoadDir(context.Background(), example)
	if diags.HasErrors() {
		t.Fatalf("load from disk:\n%v", diags.Err())
	}
	if len(site.Nodes) == 0 || len(site.Nodes) != len(fromDisk.Nodes) || len(site.Volumes) != len(fromDisk.Volumes) ||
		site.Cluster.Version != fromDisk.Cluster.Version || site.Cluster.Version == "" {
		t.Fatalf("git site: %d nodes, %d volumes, version %q; disk: %d nodes, %d volumes, version %q",
			len(site.Nodes), len(site.Volumes), site.Cluster.Version, len(fromDisk.Nodes), len(fromDisk.Volumes), fromDisk.Cluster.Version)
	}
}
