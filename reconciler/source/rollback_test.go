package source

import (
	"strings"
	"testing"
)

// An uppercase (or pasted with a newline) full hash names the same commit: it is
// recorded in git's lowercase spelling, the one the next sync compares with.
func TestAllowRollbackNormalizesTheHash(t *testing.T) {
	dir := t.TempDir()
	h := "3F1C2D9E" + strings.Repeat("a", 32)
	if err := AllowRollback(dir, h+"\n"); err != nil {
		t.Fatal(err)
	}
	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.AllowRollbackTo != strings.ToLower(h) {
		t.Fatalf("recorded %q", st.AllowRollbackTo)
	}
	if err := AllowRollback(dir, "3f1c2d9e"); err == nil {
		t.Fatal("a short hash must be refused")
	}
}
