package schema

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzLoad replaces (or adds) one file of a valid site with arbitrary bytes: Load must
// never panic, and must return either a site or errors, never both nor neither.
func FuzzLoad(f *testing.F) {
	base := fstest.MapFS{}
	root := "testdata/valid/minimal"
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		base[filepath.ToSlash(rel)] = &fstest.MapFile{Data: b}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	for name, file := range base {
		f.Add(name, file.Data)
	}
	seeds, _ := filepath.Glob("testdata/invalid/*/*/*.yaml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			parts := strings.Split(filepath.ToSlash(s), "/")
			f.Add(strings.Join(parts[3:], "/"), b)
		}
	}
	f.Add("manifests/x.cue", []byte(`[{apiVersion: "v1", kind: "ConfigMap", metadata: name: "x"}]`))
	f.Add("services/am.yaml", []byte("apiVersion: addons.metalk8s.scality.com\nkind: AlertmanagerConfig\nspec: {notification: {config: {receivers: [{name: a, slack_configs: [{api_url: x}]}]}}}\n"))
	f.Add("nodes/x.yaml", []byte("a: &a [*a]\n"))
	f.Add("nodes/y.yaml", []byte("--- !!binary\n---\n- 1\n--- {apiVersion: 1, kind: [2]}\n"))

	f.Fuzz(func(t *testing.T, name string, data []byte) {
		if !fs.ValidPath(name) || name == "." {
			name = "fuzz.yaml"
		}
		fsys := fstest.MapFS{}
		for k, v := range base {
			fsys[k] = v
		}
		fsys[name] = &fstest.MapFile{Data: data}
		site, diags := Load(context.Background(), fsys)
		if (site == nil) != diags.HasErrors() {
			t.Fatalf("site=%v with diagnostics %v", site != nil, diags)
		}
		for _, d := range diags {
			if d.File == "" || d.Message == "" {
				t.Fatalf("diagnostic without file or message: %#v", d)
			}
			_ = d.String()
		}
		if site != nil {
			if site.BootstrapNode() == nil || site.Cluster.APIVersion == "" {
				t.Fatalf("valid site without bootstrap node or cluster")
			}
			for _, k := range []string{"AlertmanagerConfig", "DexConfig", "ShellUIConfig"} {
				if _, err := EffectiveConfig(site, k); err != nil {
					t.Fatalf("EffectiveConfig(%s): %v", k, err)
				}
			}
		}
	})
}
