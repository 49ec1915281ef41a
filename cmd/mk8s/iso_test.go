package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/signing"
)

// `mk8s iso build`, `inspect` and `import` end to end with real keys and the real git.
func TestISOCommands(t *testing.T) {
	dir := t.TempDir()
	key := signing.NewSSHKey(t, dir, "signer", "ops@example.invalid")
	work := signing.NewRepo(t, filepath.Join(dir, "work"))
	first := work.Commit(key, "first", map[string]string{"cluster.yaml": "name: a\n"})
	local := signing.NewBare(t, filepath.Join(dir, "local.git"))
	work.PushTo(local, "HEAD:refs/heads/main", false)
	head := work.Commit(key, "add node", map[string]string{"nodes/n1.yaml": "name: n1\n"})
	carry := signing.NewBare(t, filepath.Join(dir, "carry.git"))
	work.PushTo(carry, "HEAD:refs/heads/main", false)

	os.WriteFile(filepath.Join(dir, "allowed_signers"), []byte(key.AllowedSigner("")+"\n"), 0o644)
	cfg := filepath.Join(dir, "reconciler.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("source:\n  url: %s\ntrust:\n  allowedSignersFile: allowed_signers\nstateDir: state\n", local)), 0o600)

	img := filepath.Join(dir, "site.iso")
	out, stderr, err := runMk8s("iso", "build", "--repo", carry, "--signing-key", key.Private, "--image", img)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "wrote "+img) {
		t.Fatalf("build printed %q", out)
	}

	out, _, err = runMk8s("iso", "inspect", "--config", cfg, img, "-o", "json")
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	var res struct {
		Imported bool
		From, To string
		Commits  []struct{ Commit, Subject string }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("inspect -o json: %v\n%s", err, out)
	}
	if res.Imported || res.From != first || res.To != head || len(res.Commits) != 1 || res.Commits[0].Subject != "add node" {
		t.Fatalf("inspect: %+v", res)
	}
	if got := strings.TrimSpace(work.Git("--git-dir", local, "rev-parse", "main")); got != first {
		t.Fatalf("inspect moved main to %s", got)
	}

	out, _, err = runMk8s("iso", "import", "--config", cfg, img)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if !strings.Contains(out, "imported: ") || !strings.Contains(out, head[:12]) {
		t.Fatalf("import printed %q", out)
	}
	if got := strings.TrimSpace(work.Git("--git-dir", local, "rev-parse", "main")); got != head {
		t.Fatalf("import left main at %s, want %s", got, head)
	}

	// An unsigned commit on the image: exit code 1, the commit named, nothing changed.
	bad := work.Commit(nil, "unsigned", nil)
	work.PushTo(carry, "HEAD:refs/heads/main", false)
	img2 := filepath.Join(dir, "bad.iso")
	if _, stderr, err := runMk8s("iso", "build", "--repo", carry, "--signing-key", key.Private, "--image", img2); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	_, _, err = runMk8s("iso", "import", "--config", cfg, img2)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitCodeError || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "unsigned") {
		t.Fatalf("want exit 1 naming %s, got %v", bad, err)
	}
	if got := strings.TrimSpace(work.Git("--git-dir", local, "rev-parse", "main")); got != head {
		t.Fatalf("refused import moved main to %s", got)
	}
}
