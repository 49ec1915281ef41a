package schema_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/schema"
	"github.com/metalk8s/mk8s/schema/diag"
)

var update = flag.Bool("update", false, "rewrite the want.txt files of schema/testdata from the loader's output")

func render(l diag.List) string {
	var b strings.Builder
	for _, d := range l {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// TestInvalidSites loads every site of testdata/invalid: each must be refused with
// exactly the diagnostics of its want.txt (errors, then warnings), in that order.
func TestInvalidSites(t *testing.T) {
	dirs, err := filepath.Glob("testdata/invalid/*")
	if err != nil || len(dirs) < 40 {
		t.Fatalf("expected at least 40 invalid sites, got %d (%v)", len(dirs), err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			site, diags := schema.LoadDir(context.Background(), dir)
			if site != nil {
				t.Errorf("site loaded; want it refused")
			}
			if !diags.HasErrors() {
				t.Errorf("no error reported")
			}
			got := render(diags.Errors()) + render(diags.Warnings())
			checkGolden(t, filepath.Join(dir, "want.txt"), got)
		})
	}
}

// TestValidSites loads every site of testdata/valid: none may have an error; a want.txt,
// when present, lists the warnings expected.
func TestValidSites(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/valid/*")
	if len(dirs) == 0 {
		t.Fatal("no valid site")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			site, diags := schema.LoadDir(context.Background(), dir)
			if site == nil || diags.HasErrors() {
				t.Fatalf("site refused:\n%s", render(diags))
			}
			want := filepath.Join(dir, "want.txt")
			if _, err := os.Stat(want); err == nil || *update && len(diags) > 0 {
				checkGolden(t, want, render(diags))
			} else if len(diags) > 0 {
				t.Errorf("unexpected diagnostics:\n%s", render(diags))
			}
		})
	}
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if got != string(want) {
		t.Errorf("diagnostics differ from %s\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestLoadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	site, diags := schema.LoadDir(ctx, "testdata/valid/minimal")
	if site != nil || !diags.HasErrors() {
		t.Fatalf("cancelled load returned a site (%v)", diags)
	}
}

// TestLoadDirSymlinkOutsideSite: a symlink in the site that points out of the site
// directory is not followed (the file it names is not read); one inside is.
func TestLoadDirSymlinkOutsideSite(t *testing.T) {
	tmp := t.TempDir()
	site := filepath.Join(tmp, "site")
	if err := os.CopyFS(site, os.DirFS("../site-example")); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(tmp, "outside.yaml")
	if err := os.WriteFile(outside, []byte("apiVersion: v1\nkind: Node\nmetadata:\n  name: OUTSIDE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(site, "nodes", "evil.yaml")); err != nil {
		t.Fatal(err)
	}
	_, diags := schema.LoadDir(context.Background(), site)
	got := render(diags)
	if strings.Contains(got, "OUTSIDE") || !strings.Contains(got, "nodes/evil.yaml: cannot read") {
		t.Fatalf("want nodes/evil.yaml refused without reading its target, got:\n%s", got)
	}
	if len(diags) != 1 {
		t.Errorf("want one diagnostic, got:\n%s", got)
	}
}
