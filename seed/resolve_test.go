package seed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A host key is given as a line or as a .pub file (ssh-keygen's own output); both are
// pinned without their comment.
func TestHostKeyLine(t *testing.T) {
	k := newSSHKey(t, "root@somehost")
	want := strings.Join(strings.Fields(k.publicLine)[:2], " ")
	for _, in := range []string{k.publicLine, k.public} {
		got, err := hostKeyLine(in)
		if err != nil || got != want {
			t.Errorf("hostKeyLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.pub")
	if err := os.WriteFile(bad, []byte("not a key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"ssh-ed25519 AAAA", bad, "/nonexistent.pub"} {
		if _, err := hostKeyLine(in); err == nil {
			t.Errorf("hostKeyLine(%q) accepted", in)
		}
	}
}
