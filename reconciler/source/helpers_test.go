package source_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/metalk8s/mk8s/e2e/harness/signing"
	"github.com/metalk8s/mk8s/reconciler/source"
	"github.com/metalk8s/mk8s/reconciler/source/config"
	"github.com/metalk8s/mk8s/reconciler/source/verify"
)

// world is one test's keys, working repository and served bare repository.
type world struct {
	t        *testing.T
	dir      string
	gpg      *signing.GPGKey
	ssh      *signing.SSHKey
	work     *signing.Repo
	bareRoot string
	bare     string // bareRoot/site.git
	signers  []string
	pgpFiles []string
	url      string // of the last config
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{t: t, dir: dir}
	w.gpg = signing.NewGPGKey(t, "Ops PGP", "pgp@example.invalid", signing.GPGOptions{})
	w.ssh = signing.NewSSHKey(t, dir, "sshsign", "ssh@example.invalid")
	w.work = signing.NewRepo(t, filepath.Join(dir, "work"))
	w.bareRoot = filepath.Join(dir, "srv")
	w.bare = signing.NewBare(t, filepath.Join(w.bareRoot, "site.git"))
	w.signers = []string{w.ssh.AllowedSigner("")}
	w.pgpFiles = []string{w.gpg.PublicKeyFile}
	return w
}

func (w *world) push(force bool) { w.work.PushTo(w.bare, "HEAD:refs/heads/main", force) }

// config writes a reconciler.yaml for url and loads it; extra is appended under source.
func (w *world) config(url, sourceExtra, trustExtra string) *config.Config {
	w.t.Helper()
	w.url = url
	as := filepath.Join(w.dir, "allowed_signers")
	if err := os.WriteFile(as, []byte(strings.Join(w.signers, "\n")+"\n"), 0o644); err != nil {
		w.t.Fatal(err)
	}
	var pgp strings.Builder
	for _, f := range w.pgpFiles {
		fmt.Fprintf(&pgp, "    - %s\n", f)
	}
	y := fmt.Sprintf("source:\n  url: %q\n  ref: main\n%strust:\n  allowedSignersFile: %s\n  openpgpKeyFiles:\n%s%sstateDir: %s\npollInterval: 10s\n",
		url, sourceExtra, as, pgp.String(), trustExtra, filepath.Join(w.dir, "state"))
	path := filepath.Join(w.dir, "reconciler.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		w.t.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		w.t.Fatalf("config:\n%v\n%s", diags.Err(), y)
	}
	return cfg
}

func (w *world) source(cfg *config.Config) *source.Source {
	w.t.Helper()
	s, err := source.New(cfg, source.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// syncApply syncs and marks the revision applied, failing the test on refusal.
func syncApply(t *testing.T, s *source.Source) *source.Revision {
	t.Helper()
	rev, err := s.Sync(context.Background(), source.SyncOptions{})
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if err := s.MarkApplied(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
	return rev
}

// wantRefused asserts err is a refusal of commit with reason, and that nothing changed.
func wantRefused(t *testing.T, err error, commit string, reason verify.Reason) *verify.RefusedError {
	t.Helper()
	var r *verify.RefusedError
	if !errors.As(err, &r) {
		t.Fatalf("want a refusal (%s of %s), got %v", reason, commit, err)
	}
	if r.Reason != reason || (commit != "" && r.Commit != commit) {
		t.Fatalf("want refusal %s of %s, got %s of %s: %v", reason, commit, r.Reason, r.Commit, err)
	}
	if !strings.Contains(err.Error(), r.Commit) || !strings.Contains(err.Error(), string(reason)) {
		t.Fatalf("message %q must name the commit and the reason", err)
	}
	t.Logf("refused as expected: %v", err)
	return r
}

// assertApplied checks both records of the applied revision: state.json and the mirror ref.
func assertApplied(t *testing.T, cfg *config.Config, want string) {
	t.Helper()
	st, err := source.ReadState(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Applied != want {
		t.Fatalf("state applied = %q, want %q", st.Applied, want)
	}
	repo, err := git.PlainOpen(filepath.Join(cfg.StateDir, "mirror.git"))
	if want == "" && errors.Is(err, git.ErrRepositoryNotExists) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Reference("refs/mk8s/applied", true)
	if want == "" {
		if err == nil {
			t.Fatalf("refs/mk8s/applied = %s, want none", ref.Hash())
		}
		return
	}
	if err != nil || ref.Hash() != plumbing.NewHash(want) {
		t.Fatalf("refs/mk8s/applied = %v (%v), want %s", ref, err, want)
	}
}

func readFS(t *testing.T, fsys fs.FS, name string) string {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cfgOf reloads the world's current config.
func cfgOf(t *testing.T, w *world) *config.Config {
	t.Helper()
	cfg, diags := config.Load(filepath.Join(w.dir, "reconciler.yaml"))
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	return cfg
}
