package sitegen_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/metalk8s/mk8s/schema"
	"github.com/metalk8s/mk8s/schema/sitegen"
)

// TestGeneratedSiteIsValidAndDeterministic: the generated site loads without a
// diagnostic, has the size asked for, and the same options give the same bytes.
func TestGeneratedSiteIsValidAndDeterministic(t *testing.T) {
	o := sitegen.Options{Nodes: 20, VolumesPerNode: 3}
	site, diags := schema.Load(context.Background(), sitegen.FS(o))
	if site == nil || len(diags) > 0 {
		t.Fatalf("generated site refused:\n%v", diags)
	}
	if len(site.Nodes) != 20 || len(site.Volumes) != 60 || site.BootstrapNode().Name != "node-000" {
		t.Errorf("got %d nodes, %d volumes", len(site.Nodes), len(site.Volumes))
	}
	a, b := sitegen.Files(o), sitegen.Files(o)
	if len(a) != len(b) {
		t.Fatal("different file sets")
	}
	for name, content := range a {
		if !bytes.Equal(content, b[name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
	if err := sitegen.WriteDir(t.TempDir(), o); err != nil {
		t.Fatal(err)
	}
}
