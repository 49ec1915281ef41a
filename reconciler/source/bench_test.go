package source_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/metalk8s/mk8s/e2e/harness/gitserver"
	"github.com/metalk8s/mk8s/e2e/harness/signing"
	"github.com/metalk8s/mk8s/reconciler/source"
	"github.com/metalk8s/mk8s/reconciler/source/config"
)

// benchFixture is a served repository with one signed base commit and, on branch
// "main", 1,000 more signed commits (OpenPGP and SSH alternately), for the source
// benchmarks (hack/bench-source.sh).
type benchFixture struct {
	w      *world
	daemon *gitserver.Daemon
	base   string
	head   string
}

var (
	benchOnce sync.Once
	bench     *benchFixture
)

const benchCommits = 1000

func fixture(b *testing.B) *benchFixture {
	benchOnce.Do(func() { bench = makeFixture(b) })
	if bench == nil {
		b.Fatal("fixture failed")
	}
	return bench
}

func makeFixture(b *testing.B) *benchFixture {
	dir, err := os.MkdirTemp("", "mk8s-bench-")
	if err != nil {
		b.Fatal(err)
	}
	tb := &fixtureTB{TB: b, dir: dir}
	benchCleanup = tb
	w := &world{dir: dir}
	w.gpg = signing.NewGPGKey(tb, "Bench PGP", "pgp@example.invalid", signing.GPGOptions{})
	w.ssh = signing.NewSSHKey(tb, dir, "sshsign", "ssh@example.invalid")
	w.work = signing.NewRepo(tb, filepath.Join(dir, "work"))
	w.bareRoot = filepath.Join(dir, "srv")
	w.bare = signing.NewBare(tb, filepath.Join(w.bareRoot, "site.git"))
	w.signers = []string{w.ssh.AllowedSigner("")}
	w.pgpFiles = []string{w.gpg.PublicKeyFile}
	base := w.work.Commit(w.gpg, "base", map[string]string{"cluster.yaml": "name: bench\n"})
	w.work.PushTo(w.bare, "HEAD:refs/heads/base", false)

	secret := filepath.Join(dir, "secret.asc")
	w.gpg.ExportSecret(tb, secret)
	head := generate(b, w, secret, plumbing.NewHash(base), benchCommits)
	// A server keeps its repositories packed; upload-pack then only streams.
	mustRun(b, nil, "git", "--git-dir", w.bare, "repack", "-adq")
	d := gitserver.StartDaemon(tb, w.bareRoot)
	return &benchFixture{w: w, daemon: d, base: base, head: head}
}

// fixtureTB lets the harness run under a benchmark while keeping its cleanups until the
// process ends (the fixture is shared by every benchmark of the run).
type fixtureTB struct {
	testing.TB
	dir      string
	cleanups []func()
}

func (f *fixtureTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fixtureTB) TempDir() string   { d, _ := os.MkdirTemp(f.dir, "t"); return d }

// close runs the cleanups (gpg-agent, git daemon) in reverse and removes the directory.
func (f *fixtureTB) close() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	os.RemoveAll(f.dir)
}

var benchCleanup *fixtureTB

// TestMain stops what the shared benchmark fixture started once every benchmark ran.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchCleanup != nil {
		benchCleanup.close()
	}
	os.Exit(code)
}

// generate writes n commits on top of base straight into the bare repository, signed
// in-process with the keys ssh-keygen and gpg made (sshsig and OpenPGP detached
// signatures, exactly the headers git writes), and points main at the last one. The
// benchmark's baseline (`git log --format=%G?`) checks them with the real tools.
func generate(b *testing.B, w *world, secretKey string, base plumbing.Hash, n int) string {
	repo, err := git.PlainOpen(w.bare)
	if err != nil {
		b.Fatal(err)
	}
	armored, _ := os.ReadFile(secretKey)
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := os.ReadFile(w.ssh.Private)
	sshSigner, err := ssh.ParsePrivateKey(raw)
	if err != nil {
		b.Fatal(err)
	}
	st := repo.Storer.(*filesystem.Storage)
	parent := base
	when := time.Now().Add(-time.Hour)
	for i := 0; i < n; i++ {
		blob := st.NewEncodedObject()
		blob.SetType(plumbing.BlobObject)
		wr, _ := blob.Writer()
		fmt.Fprintf(wr, "name: bench\nrevision: %d\n", i)
		wr.Close()
		bh, err := st.SetEncodedObject(blob)
		if err != nil {
			b.Fatal(err)
		}
		tree := &object.Tree{Entries: []object.TreeEntry{{Name: "cluster.yaml", Mode: filemode.Regular, Hash: bh}}}
		to := st.NewEncodedObject()
		if err := tree.Encode(to); err != nil {
			b.Fatal(err)
		}
		th, _ := st.SetEncodedObject(to)
		email := "ssh@example.invalid"
		if i%2 == 0 {
			email = "pgp@example.invalid"
		}
		sig := object.Signature{Name: "Bench", Email: email, When: when.Add(time.Duration(i) * time.Second)}
		c := &object.Commit{Author: sig, Committer: sig, Message: fmt.Sprintf("change %d\n", i), TreeHash: th, ParentHashes: []plumbing.Hash{parent}}
		payload := st.NewEncodedObject()
		c.EncodeWithoutSignature(payload)
		r, _ := payload.Reader()
		var buf bytes.Buffer
		buf.ReadFrom(r)
		if i%2 == 0 {
			var out bytes.Buffer
			if err := openpgp.ArmoredDetachSign(&out, el[0], bytes.NewReader(buf.Bytes()), nil); err != nil {
				b.Fatal(err)
			}
			c.PGPSignature = out.String() + "\n"
		} else {
			s, err := sshsig.Sign(bytes.NewReader(buf.Bytes()), sshSigner, sshsig.HashSHA512, "git")
			if err != nil {
				b.Fatal(err)
			}
			c.PGPSignature = string(sshsig.Armor(s))
		}
		co := st.NewEncodedObject()
		if err := c.Encode(co); err != nil {
			b.Fatal(err)
		}
		parent, err = st.SetEncodedObject(co)
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := st.SetReference(plumbing.NewHashReference("refs/heads/main", parent)); err != nil {
		b.Fatal(err)
	}
	return parent.String()
}

// BenchmarkSourceFetchVerify1000 is one Sync that fetches 1,000 new commits over git://
// into a mirror that has the base, and verifies every one of their signatures.
func BenchmarkSourceFetchVerify1000(b *testing.B) {
	f := fixture(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := f.freshSource(b)
		b.StartTimer()
		rev, err := s.Sync(context.Background(), source.SyncOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(rev.Verified) != benchCommits {
			b.Fatalf("verified %d commits", len(rev.Verified))
		}
	}
}

// BenchmarkSourceNoChangePoll is a Sync when nothing changed: one ls-remote.
func BenchmarkSourceNoChangePoll(b *testing.B) {
	f := fixture(b)
	b.ResetTimer()
	s := f.freshSource(b)
	rev, err := s.Sync(context.Background(), source.SyncOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.MarkApplied(context.Background(), rev); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rev, err := s.Sync(context.Background(), source.SyncOptions{})
		if err != nil || rev.Changed {
			b.Fatalf("poll: %+v %v", rev, err)
		}
	}
}

// BenchmarkGitFetchVerify1000 is the baseline with the real tools: git fetch of the same
// 1,000 commits into a bare repository that has the base, then `git log --format=%G?`
// over them (gpg and ssh-keygen check each signature).
func BenchmarkGitFetchVerify1000(b *testing.B) {
	f := fixture(b)
	b.ResetTimer()
	as := filepath.Join(f.w.dir, "allowed_signers")
	os.WriteFile(as, []byte(strings.Join(f.w.signers, "\n")+"\n"), 0o644)
	env := []string{"GNUPGHOME=" + f.w.gpg.Home, "HOME=" + f.w.dir, "GIT_CONFIG_NOSYSTEM=1"}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir, _ := os.MkdirTemp(f.w.dir, "gitbase-")
		mustRun(b, env, "git", "init", "-q", "--bare", dir)
		mustRun(b, env, "git", "--git-dir", dir, "fetch", "-q", f.daemon.URL("site.git"), "+refs/heads/base:refs/heads/base")
		b.StartTimer()
		mustRun(b, env, "git", "--git-dir", dir, "fetch", "-q", f.daemon.URL("site.git"), "+refs/heads/main:refs/heads/main")
		out := mustRun(b, env, "git", "--git-dir", dir, "-c", "gpg.ssh.allowedSignersFile="+as, "log", "--format=%G?", "base..main")
		b.StopTimer()
		if good := strings.Count(out, "G\n"); good != benchCommits {
			b.Fatalf("git verified %d good signatures of %d:\n%.300s", good, benchCommits, out)
		}
		os.RemoveAll(dir)
		b.StartTimer()
	}
}

// BenchmarkGitLsRemote is the baseline of a no-change poll: `git ls-remote`.
func BenchmarkGitLsRemote(b *testing.B) {
	f := fixture(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mustRun(b, nil, "git", "ls-remote", f.daemon.URL("site.git"), "refs/heads/main")
	}
}

func (f *benchFixture) freshSource(b *testing.B) *source.Source {
	b.Helper()
	w := f.w
	state, _ := os.MkdirTemp(w.dir, "state-")
	as := filepath.Join(w.dir, "allowed_signers")
	os.WriteFile(as, []byte(strings.Join(w.signers, "\n")+"\n"), 0o644)
	y := fmt.Sprintf("source:\n  url: %s\ntrust:\n  allowedSignersFile: %s\n  openpgpKeyFiles: [%s]\n  anchor: %s\nstateDir: %s\n",
		f.daemon.URL("site.git"), as, w.gpg.PublicKeyFile, f.base, state)
	p := filepath.Join(state, "reconciler.yaml")
	os.WriteFile(p, []byte(y), 0o600)
	cfg, diags := config.Load(p)
	if diags.HasErrors() {
		b.Fatal(diags.Err())
	}
	s, err := source.New(cfg, source.Options{})
	if err != nil {
		b.Fatal(err)
	}
	// The mirror already has the base, as a reconciler that applied it would.
	mirror := filepath.Join(state, "mirror.git")
	mustRun(b, nil, "git", "init", "-q", "--bare", mirror)
	mustRun(b, nil, "git", "--git-dir", mirror, "fetch", "-q", w.bare, "refs/heads/base:refs/mk8s/applied")
	return s
}

func mustRun(b *testing.B, env []string, name string, args ...string) string {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}, env...)
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}
