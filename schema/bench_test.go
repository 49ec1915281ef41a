package schema_test

import (
	"context"
	"testing"

	"github.com/metalk8s/mk8s/schema"
	"github.com/metalk8s/mk8s/schema/sitegen"
)

// BenchmarkLoad200Nodes loads and validates a generated 200-node / 2,000-volume site
// from memory (DESIGN §8: validate + render under 1 s).
func BenchmarkLoad200Nodes(b *testing.B) {
	fsys := sitegen.FS(sitegen.Options{Nodes: 200, VolumesPerNode: 10})
	for b.Loop() {
		site, diags := schema.Load(context.Background(), fsys)
		if site == nil {
			b.Fatal(diags.Err())
		}
		if len(site.Nodes) != 200 || len(site.Volumes) != 2000 {
			b.Fatalf("got %d nodes, %d volumes", len(site.Nodes), len(site.Volumes))
		}
	}
}
