package seed

import (
	"context"
	"testing"

	"github.com/metalk8s/mk8s/schema"
)

// validateSite loads a site directory with the real loader and fails on any error.
func validateSite(t *testing.T, dir string) *schema.Site {
	t.Helper()
	site, diags := schema.LoadDir(context.Background(), dir)
	if diags.HasErrors() || site == nil {
		t.Fatalf("schema.LoadDir(%s) refused the site:\n%v", dir, diags.Err())
	}
	for _, w := range diags.Warnings() {
		t.Logf("warning: %s", w)
	}
	return site
}
