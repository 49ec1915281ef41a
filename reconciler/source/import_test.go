package source_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/metalk8s/mk8s/e2e/harness/signing"
	"github.com/metalk8s/mk8s/reconciler/source"
	"github.com/metalk8s/mk8s/reconciler/source/iso"
	"github.com/metalk8s/mk8s/reconciler/source/verify"
)

// isoWorld has a local site repository at a signed first commit and a carried repository
// two signed commits ahead.
type isoWorld struct {
	*world
	local string
	first string
	head  string
	trust *verify.Trust
}

func newISOWorld(t *testing.T) *isoWorld {
	w := newWorld(t)
	first := w.work.Commit(w.gpg, "first", map[string]string{"cluster.yaml": "name: a\n"})
	local := signing.NewBare(t, filepath.Join(w.dir, "local.git"))
	w.work.PushTo(local, "HEAD:refs/heads/main", false)
	w.work.Commit(w.ssh, "second", map[string]string{"nodes/n1.yaml": "name: n1\n"})
	head := w.work.Commit(w.gpg, "third", map[string]string{"nodes/n2.yaml": "name: n2\n"})
	w.push(false)
	cfg := w.config(w.bare, "", "")
	return &isoWorld{world: w, local: local, first: first, head: head, trust: w.source(cfg).Trust()}
}

func (w *isoWorld) build(t *testing.T, key, name string) string {
	t.Helper()
	out := filepath.Join(w.dir, name)
	if _, err := iso.Build(context.Background(), iso.BuildOptions{RepoDir: w.bare, SigningKeyFile: key, Output: out}); err != nil {
		t.Fatal(err)
	}
	return out
}

func (w *isoWorld) importISO(path string, dryRun bool) (*source.ImportResult, error) {
	return source.Import(context.Background(), source.ImportOptions{ISO: path, Repo: w.local, Ref: "main", Trust: w.trust, DryRun: dryRun})
}

func localHead(t *testing.T, repo string) string {
	t.Helper()
	r, err := git.PlainOpen(repo)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := r.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		t.Fatal(err)
	}
	return ref.Hash().String()
}

func TestISOImportSignedRepository(t *testing.T) {
	w := newISOWorld(t)
	img := w.build(t, w.ssh.Private, "site.iso")

	// inspect changes nothing.
	res, err := w.importISO(img, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported || len(res.Commits) != 2 || localHead(t, w.local) != w.first {
		t.Fatalf("inspect: %+v, local %s", res, localHead(t, w.local))
	}
	res, err = w.importISO(img, false)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Imported || res.From != w.first || res.To != w.head || len(res.Commits) != 2 || res.Manifest.Format != "ssh" {
		t.Fatalf("import: %+v", res)
	}
	if got := localHead(t, w.local); got != w.head {
		t.Fatalf("local main %s, want %s", got, w.head)
	}
	// The real git agrees the imported repository is whole.
	if out, err := exec.Command("git", "--git-dir", w.local, "fsck", "--full", "--strict").CombinedOutput(); err != nil {
		t.Fatalf("git fsck: %v\n%s", err, out)
	}
	// Importing again is a no-op.
	res, err = w.importISO(img, false)
	if err != nil || res.Imported {
		t.Fatalf("second import: %+v %v", res, err)
	}
}

func TestISOImportOpenPGPSignedManifest(t *testing.T) {
	w := newISOWorld(t)
	secret := filepath.Join(w.dir, "secret.asc")
	w.gpg.ExportSecret(t, secret)
	img := w.build(t, secret, "pgp.iso")
	res, err := w.importISO(img, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.Format != "openpgp" || res.Manifest.Key != w.gpg.Fingerprint || localHead(t, w.local) != w.head {
		t.Fatalf("import: %+v", res)
	}
}

func TestISOImportRefusesOneChangedByte(t *testing.T) {
	w := newISOWorld(t)
	img := w.build(t, w.ssh.Private, "site.iso")
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	// Change one byte of a file's content: the repository's HEAD ("ref: refs/heads/main").
	i := bytes.Index(data, []byte("ref: refs/heads/main"))
	if i < 0 {
		t.Fatal("HEAD content not found in the image")
	}
	data[i+len("ref: refs/heads/mai")] = 'X'
	bad := filepath.Join(w.dir, "bad.iso")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = w.importISO(bad, false)
	var ie *iso.IntegrityError
	if !errors.As(err, &ie) || ie.File != "repo.git/HEAD" {
		t.Fatalf("want an integrity error on repo.git/HEAD, got %v", err)
	}
	t.Logf("refused as expected: %v", err)
	if got := localHead(t, w.local); got != w.first {
		t.Fatalf("local main moved to %s", got)
	}

	// A changed byte in the manifest breaks its signature.
	data, _ = os.ReadFile(img)
	i = bytes.Index(data, []byte("  repo.git/HEAD"))
	if i < 0 {
		t.Fatal("manifest not found in the image")
	}
	data[i-1] ^= 1 // last hex digit of HEAD's sum
	os.WriteFile(bad, data, 0o644)
	_, err = w.importISO(bad, false)
	if !errors.As(err, &ie) || ie.File != iso.SignatureName || !strings.Contains(err.Error(), "bad-signature") {
		t.Fatalf("want a bad manifest signature, got %v", err)
	}
	t.Logf("refused as expected: %v", err)
	if got := localHead(t, w.local); got != w.first {
		t.Fatalf("local main moved to %s", got)
	}
}

func TestISOImportRefusesUnsignedCommit(t *testing.T) {
	w := newISOWorld(t)
	unsigned := w.work.Commit(nil, "unsigned", map[string]string{"evil.yaml": "x: 1\n"})
	w.work.Commit(w.ssh, "signed on top", nil)
	w.push(false)
	img := w.build(t, w.ssh.Private, "unsigned.iso") // a good manifest signature over a bad history
	before, _ := exec.Command("git", "--git-dir", w.local, "count-objects", "-v").Output()
	_, err := w.importISO(img, false)
	wantRefused(t, err, unsigned, verify.ReasonUnsigned)
	if got := localHead(t, w.local); got != w.first {
		t.Fatalf("local main moved to %s", got)
	}
	after, _ := exec.Command("git", "--git-dir", w.local, "count-objects", "-v").Output()
	if !bytes.Equal(before, after) {
		t.Fatalf("objects were written into the local repository:\n%s\n%s", before, after)
	}
}

// The documented xorriso + ssh-keygen recipe makes images mk8s imports.
func TestISOImportXorrisoRecipe(t *testing.T) {
	if _, err := exec.LookPath("xorriso"); err != nil {
		t.Skip("xorriso not installed")
	}
	w := newISOWorld(t)
	staging := filepath.Join(w.dir, "staging")
	os.MkdirAll(staging, 0o755)
	sh := func(script string) {
		t.Helper()
		cmd := exec.Command("/bin/sh", "-ec", script)
		cmd.Dir = staging
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "KEY=" + w.ssh.Private, "REPO=" + w.bare, "OUT=" + filepath.Join(w.dir, "x.iso")}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
	}
	sh(`git clone -q --bare --no-local "$REPO" repo.git
find repo.git -type f -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS
ssh-keygen -q -Y sign -f "$KEY" -n mk8s-iso SHA256SUMS
xorriso -as mkisofs -quiet -R -J -joliet-long -V MK8S-SITE -o "$OUT" .`)
	res, err := w.importISO(filepath.Join(w.dir, "x.iso"), false)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Imported || localHead(t, w.local) != w.head {
		t.Fatalf("import: %+v", res)
	}
}

// The pure-Go image is a standard one: Rock Ridge and Joliet, readable by xorriso.
func TestISOBuildIsStandard(t *testing.T) {
	if _, err := exec.LookPath("isoinfo"); err != nil {
		t.Skip("isoinfo not installed")
	}
	w := newISOWorld(t)
	img := w.build(t, w.ssh.Private, "site.iso")
	out, err := exec.Command("isoinfo", "-d", "-i", img).CombinedOutput()
	if err != nil {
		t.Fatalf("isoinfo: %v\n%s", err, out)
	}
	for _, want := range []string{"Rock Ridge", "Joliet"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("isoinfo -d lacks %s:\n%s", want, out)
		}
	}
	out, err = exec.Command("isoinfo", "-R", "-x", "/repo.git/HEAD", "-i", img).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ref: refs/heads/main" {
		t.Fatalf("isoinfo -x /repo.git/HEAD: %q %v", out, err)
	}
}

// An iso:// URL is a source like any other.
func TestSyncFromISOURL(t *testing.T) {
	w := newISOWorld(t)
	img := w.build(t, w.ssh.Private, "site.iso")
	cfg := w.config("iso://"+img+"#/repo.git", "", "")
	rev := syncApply(t, w.source(cfg))
	if rev.Commit != w.head || len(rev.Verified) != 3 || readFS(t, rev.FS, "nodes/n2.yaml") != "name: n2\n" {
		t.Fatalf("rev %+v", rev)
	}
}

// The local repository may be named as source.url spells it, file:///path included
// (`mk8s iso import` defaults --repo to source.url).
func TestISOImportIntoFileURL(t *testing.T) {
	w := newISOWorld(t)
	img := w.build(t, w.ssh.Private, "site.iso")
	res, err := source.Import(context.Background(), source.ImportOptions{ISO: img, Repo: "file://" + w.local, Ref: "main", Trust: w.trust})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Imported || localHead(t, w.local) != w.head {
		t.Fatalf("import: %+v, local %s", res, localHead(t, w.local))
	}
}
