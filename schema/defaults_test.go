package schema

import (
	"context"
	"testing"

	"github.com/metalk8s/mk8s/schema/diag"
)

// TestPlatformDefaultsMatchSchema: the platform defaults of every service kind, rendered
// for a site, satisfy the schema of that kind's override (the schema knows every field
// the defaults use).
func TestPlatformDefaultsMatchSchema(t *testing.T) {
	site, diags := LoadDir(context.Background(), "testdata/valid/full")
	if site == nil {
		t.Fatal(diags.Err())
	}
	c, err := compileSchema()
	if err != nil {
		t.Fatal(err)
	}
	k := newChecker(c)
	for _, svc := range Services() {
		cfg, err := EffectiveConfig(site, svc.Kind)
		if err != nil {
			t.Fatalf("%s: %v", svc.Kind, err)
		}
		var l diag.List
		dc := &docCheck{doc: &document{File: svc.Kind}, diags: &l}
		k.walk(dc, k.plans[svc.Kind], cfg, "")
		if l.HasErrors() {
			t.Errorf("%s defaults do not match the schema:\n%v", svc.Kind, l.Err())
		}
	}
}
