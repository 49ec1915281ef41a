package source_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/gitserver"
	"github.com/metalk8s/mk8s/e2e/harness/signing"
	"github.com/metalk8s/mk8s/reconciler/source"
	"github.com/metalk8s/mk8s/reconciler/source/verify"
)

// A chain of commits signed alternately with OpenPGP and SSH keys, fetched from git
// daemon, is accepted; an unchanged poll is skipped, also after a restart.
func TestSyncAcceptsMixedSignedChainOverGitDaemon(t *testing.T) {
	w := newWorld(t)
	var chain []string
	chain = append(chain, w.work.Commit(w.gpg, "cluster", map[string]string{"cluster.yaml": "name: a\n"}))
	chain = append(chain, w.work.Commit(w.ssh, "node 1", map[string]string{"nodes/n1.yaml": "name: n1\n"}))
	chain = append(chain, w.work.Commit(w.gpg, "node 2", map[string]string{"nodes/n2.yaml": "name: n2\n"}))
	w.push(false)
	d := gitserver.StartDaemon(t, w.bareRoot)
	cfg := w.config(d.URL("site.git"), "", "")
	s := w.source(cfg)

	rev := syncApply(t, s)
	if !rev.Changed || rev.Commit != chain[2] || len(rev.Verified) != 3 {
		t.Fatalf("rev = %+v, want changed head %s with 3 verified commits", rev, chain[2])
	}
	formats := map[string]bool{}
	for _, c := range rev.Verified {
		formats[c.Format] = true
	}
	if !formats["openpgp"] || !formats["ssh"] {
		t.Fatalf("verified %+v, want both openpgp and ssh", rev.Verified)
	}
	if got := readFS(t, rev.FS, "nodes/n2.yaml"); got != "name: n2\n" {
		t.Fatalf("nodes/n2.yaml = %q", got)
	}
	assertApplied(t, cfg, chain[2])

	// A restart (a new Source over the same state dir) sees nothing new.
	rev, err := w.source(cfg).Sync(context.Background(), source.SyncOptions{})
	if err != nil || rev.Changed || len(rev.Verified) != 0 {
		t.Fatalf("unchanged poll: rev %+v, err %v", rev, err)
	}

	// One more commit: only it is verified.
	next := w.work.Commit(w.ssh, "node 3", map[string]string{"nodes/n3.yaml": "name: n3\n"})
	w.push(false)
	rev = syncApply(t, s)
	if rev.Commit != next || len(rev.Verified) != 1 || rev.Verified[0].Commit != next {
		t.Fatalf("rev = %+v, want only %s verified", rev, next)
	}
}

// A signed merge of two signed branches, fetched over sshd + git-shell, is accepted and
// every commit of both branches is verified.
func TestSyncAcceptsSignedMergeOverSSH(t *testing.T) {
	w := newWorld(t)
	base := w.work.Commit(w.gpg, "base", map[string]string{"cluster.yaml": "name: a\n"})
	w.push(false)
	srv := gitserver.StartSSHD(t, w.bareRoot)
	cfg := w.config(srv.URL("site.git"), "  ssh:\n    identityFile: "+srv.ClientKey+"\n    knownHostsFile: "+srv.KnownHosts+"\n", "")
	s := w.source(cfg)
	syncApply(t, s)

	w.work.Git("checkout", "-q", "-b", "feature")
	f1 := w.work.Commit(w.ssh, "feature 1", map[string]string{"a.yaml": "a: 1\n"})
	f2 := w.work.Commit(w.gpg, "feature 2", map[string]string{"b.yaml": "b: 1\n"})
	w.work.Git("checkout", "-q", "main")
	m1 := w.work.Commit(w.gpg, "main 1", map[string]string{"c.yaml": "c: 1\n"})
	merge := w.work.Merge(w.ssh, "feature", "merge feature")
	w.push(false)

	rev := syncApply(t, s)
	got := map[string]bool{}
	for _, c := range rev.Verified {
		got[c.Commit] = true
	}
	for _, want := range []string{f1, f2, m1, merge} {
		if !got[want] {
			t.Errorf("commit %s not verified; verified %v", want, rev.Verified)
		}
	}
	if got[base] || len(got) != 4 {
		t.Errorf("verified %v, want exactly the 4 new commits", rev.Verified)
	}
	if readFS(t, rev.FS, "a.yaml") != "a: 1\n" || readFS(t, rev.FS, "c.yaml") != "c: 1\n" {
		t.Fatal("merged tree is not the merge's")
	}
}

// HTTPS with a custom CA and token auth; then basic auth.
func TestSyncOverSmartHTTPS(t *testing.T) {
	w := newWorld(t)
	head := w.work.Commit(w.ssh, "first", map[string]string{"cluster.yaml": "name: a\n"})
	w.push(false)
	srv := gitserver.StartHTTP(t, w.bareRoot, gitserver.HTTPOptions{Username: "ops", Password: "s3cret", Token: "t0ken", TLS: true})
	tok := w.dir + "/token"
	pw := w.dir + "/password"
	os.WriteFile(tok, []byte("t0ken\n"), 0o600)
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)

	cfg := w.config(srv.URL("site.git"), "  https:\n    tokenFile: "+tok+"\n    caFile: "+srv.CAFile+"\n", "")
	rev := syncApply(t, w.source(cfg))
	if rev.Commit != head {
		t.Fatalf("head %s, want %s", rev.Commit, head)
	}
	next := w.work.Commit(w.gpg, "second", nil)
	w.push(false)
	cfg = w.config(srv.URL("site.git"), "  https:\n    username: ops\n    passwordFile: "+pw+"\n    caFile: "+srv.CAFile+"\n", "")
	rev = syncApply(t, w.source(cfg))
	if rev.Commit != next {
		t.Fatalf("head %s, want %s", rev.Commit, next)
	}
	// Without the CA the server is not trusted.
	cfg = w.config(srv.URL("site.git"), "  https:\n    tokenFile: "+tok+"\n", "")
	if _, err := w.source(cfg).Sync(context.Background(), source.SyncOptions{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("want a TLS error without the CA, got %v", err)
	}
}

// refusalWorld has an applied, signed first commit served by git daemon.
func refusalWorld(t *testing.T) (*world, *source.Source, string) {
	w := newWorld(t)
	first := w.work.Commit(w.gpg, "first", map[string]string{"cluster.yaml": "name: a\n"})
	w.push(false)
	d := gitserver.StartDaemon(t, w.bareRoot)
	cfg := w.config(d.URL("site.git"), "", "")
	s := w.source(cfg)
	syncApply(t, s)
	return w, s, first
}

func syncRefused(t *testing.T, w *world, s *source.Source, applied, commit string, reason verify.Reason) *verify.RefusedError {
	t.Helper()
	_, err := s.Sync(context.Background(), source.SyncOptions{})
	r := wantRefused(t, err, commit, reason)
	st, _ := s.State()
	if st.Applied != applied {
		t.Fatalf("applied moved to %s after a refusal", st.Applied)
	}
	return r
}

func TestSyncRefusesUnsignedCommitInTheMiddle(t *testing.T) {
	w, s, first := refusalWorld(t)
	w.work.Commit(w.gpg, "signed before", nil)
	unsigned := w.work.Commit(nil, "unsigned in the middle", map[string]string{"x.yaml": "x: 1\n"})
	w.work.Commit(w.ssh, "signed after", nil)
	w.push(false)
	r := syncRefused(t, w, s, first, unsigned, verify.ReasonUnsigned)
	if !strings.Contains(r.Error(), "unsigned in the middle") {
		t.Fatalf("message %q should quote the commit", r)
	}
}

func TestSyncHeadModeChecksOnlyTheHead(t *testing.T) {
	w := newWorld(t)
	w.work.Commit(w.gpg, "first", nil)
	w.work.Commit(nil, "unsigned", nil)
	head := w.work.Commit(w.ssh, "signed head", nil)
	w.push(false)
	d := gitserver.StartDaemon(t, w.bareRoot)
	cfg := w.config(d.URL("site.git"), "", "  mode: head\n")
	rev := syncApply(t, w.source(cfg))
	if rev.Commit != head || len(rev.Verified) != 1 {
		t.Fatalf("head mode: %+v", rev)
	}
}

func TestSyncRefusesUntrustedKey(t *testing.T) {
	w, s, first := refusalWorld(t)
	stranger := signing.NewGPGKey(t, "Stranger", "stranger@example.invalid", signing.GPGOptions{})
	bad := w.work.Commit(stranger, "by a stranger", nil)
	w.push(false)
	r := syncRefused(t, w, s, first, bad, verify.ReasonUntrustedKey)
	if !strings.HasSuffix(stranger.Fingerprint, r.Key) && r.Key != stranger.Fingerprint {
		t.Fatalf("key %q should identify the stranger's key %s", r.Key, stranger.Fingerprint)
	}
	// An SSH key that is not in allowed_signers, too.
	w.work.Git("reset", "-q", "--hard", first)
	sshStranger := signing.NewSSHKey(t, w.dir, "stranger", "stranger@example.invalid")
	bad = w.work.Commit(sshStranger, "by an ssh stranger", nil)
	w.push(true)
	r = syncRefused(t, w, s, first, bad, verify.ReasonUntrustedKey)
	if !strings.HasPrefix(r.Key, "SHA256:") {
		t.Fatalf("key %q should be the SSH fingerprint", r.Key)
	}
}

func TestSyncRefusesTamperedCommit(t *testing.T) {
	w, s, first := refusalWorld(t)
	signed := w.work.Commit(w.ssh, "harmless change", map[string]string{"x.yaml": "x: 1\n"})
	tampered := w.work.Tamper(signed, "harmless change (rewritten)")
	w.work.Git("update-ref", "refs/heads/main", tampered)
	w.push(true)
	syncRefused(t, w, s, first, tampered, verify.ReasonBadSignature)

	// The same with an OpenPGP signature.
	w.work.Git("reset", "-q", "--hard", first)
	signed = w.work.Commit(w.gpg, "harmless pgp change", nil)
	tampered = w.work.Tamper(signed, "evil")
	w.work.Git("update-ref", "refs/heads/main", tampered)
	w.push(true)
	syncRefused(t, w, s, first, tampered, verify.ReasonBadSignature)
}

func TestSyncRefusesExpiredOpenPGPKey(t *testing.T) {
	w, s, first := refusalWorld(t)
	// Made and used in 2020, valid for one day: expired long before now.
	old := signing.NewGPGKey(t, "Old Key", "old@example.invalid", signing.GPGOptions{Expire: "1d", FakedTime: "20200101T000000"})
	w.pgpFiles = append(w.pgpFiles, old.PublicKeyFile)
	cfg := w.config(w.url, "", "")
	s = w.source(cfg)
	bad := w.work.Commit(old, "signed with a key that has expired", nil, signing.CommitOptions{Date: time.Date(2020, 1, 1, 1, 0, 0, 0, time.UTC)})
	w.push(false)
	r := syncRefused(t, w, s, first, bad, verify.ReasonExpiredKey)
	if r.Key != old.Fingerprint {
		t.Fatalf("key %q, want %s", r.Key, old.Fingerprint)
	}
}

func TestSyncRefusesSSHSignerOutsideValidBefore(t *testing.T) {
	w, s, first := refusalWorld(t)
	retired := signing.NewSSHKey(t, w.dir, "retired", "retired@example.invalid")
	w.signers = append(w.signers, retired.AllowedSigner(`namespaces="git",valid-before="20240101Z"`))
	s = w.source(w.config(w.url, "", ""))
	bad := w.work.Commit(retired, "signed by a retired signer", nil)
	w.push(false)
	r := syncRefused(t, w, s, first, bad, verify.ReasonSignerNotValid)
	if !strings.Contains(r.Error(), "valid-before") || r.Signer != "retired@example.invalid" {
		t.Fatalf("message %q should name valid-before and the signer", r)
	}
}

func TestSyncRefusesForcePushRewind(t *testing.T) {
	w, s, first := refusalWorld(t)
	second := w.work.Commit(w.ssh, "second", nil)
	third := w.work.Commit(w.gpg, "third", nil)
	w.push(false)
	syncApply(t, s)
	assertApplied(t, cfgOf(t, w), third)

	w.work.Git("reset", "-q", "--hard", second)
	w.push(true)
	r := syncRefused(t, w, s, third, second, verify.ReasonNotDescendant)
	if !strings.Contains(r.Detail, "rewound") || !strings.Contains(r.Detail, third) {
		t.Fatalf("detail %q should say the branch was rewound from %s", r.Detail, third)
	}
	// Replacing history is refused too.
	w.work.Git("reset", "-q", "--hard", first)
	other := w.work.Commit(w.gpg, "alternative history", nil)
	w.push(true)
	syncRefused(t, w, s, third, other, verify.ReasonNotDescendant)

	// The operator's one-shot override accepts exactly that commit, and is recorded.
	if err := source.AllowRollback(cfgOf(t, w).StateDir, other); err != nil {
		t.Fatal(err)
	}
	rev := syncApply(t, s)
	if !rev.Rollback || rev.Commit != other {
		t.Fatalf("override: %+v", rev)
	}
	st, _ := s.State()
	if len(st.Rollbacks) != 1 || st.Rollbacks[0].From != third || st.Rollbacks[0].To != other || st.AllowRollbackTo != "" {
		t.Fatalf("state after override: %+v", st)
	}
	// One shot: the next rewind is refused again.
	w.work.Git("reset", "-q", "--hard", first)
	w.push(true)
	syncRefused(t, w, s, other, first, verify.ReasonNotDescendant)
}

func TestSyncRefusesUnknownSSHHostKey(t *testing.T) {
	w := newWorld(t)
	w.work.Commit(w.gpg, "first", nil)
	w.push(false)
	srv := gitserver.StartSSHD(t, w.bareRoot)
	// known_hosts pins some other host, not this one.
	other := signing.NewSSHKey(t, w.dir, "otherhost", "other")
	kh := w.dir + "/known_hosts"
	os.WriteFile(kh, []byte("[127.0.0.1]:1 "+other.PublicLine+"\n"), 0o644)
	cfg := w.config(srv.URL("site.git"), "  ssh:\n    identityFile: "+srv.ClientKey+"\n    knownHostsFile: "+kh+"\n", "")
	_, err := w.source(cfg).Sync(context.Background(), source.SyncOptions{})
	var uh *source.UnknownHostError
	if !errors.As(err, &uh) {
		t.Fatalf("want an unknown host error, got %v", err)
	}
	fields := strings.Fields(srv.HostKeyPub)
	if uh.KeyType != fields[0] || !strings.Contains(err.Error(), uh.Fingerprint) || !strings.HasPrefix(uh.Fingerprint, "SHA256:") {
		t.Fatalf("message %q should carry the host key fingerprint", err)
	}
	t.Logf("refused as expected: %v", err)
	assertApplied(t, cfg, "")
}

func TestSyncRefusesRevokedOpenPGPKey(t *testing.T) {
	w, _, first := refusalWorld(t)
	leaver := signing.NewGPGKey(t, "Leaver", "leaver@example.invalid", signing.GPGOptions{})
	bad := w.work.Commit(leaver, "signed before the key was revoked", nil)
	w.push(false)
	leaver.Revoke(t)
	w.pgpFiles = append(w.pgpFiles, leaver.PublicKeyFile)
	s := w.source(w.config(w.url, "", ""))
	r := syncRefused(t, w, s, first, bad, verify.ReasonRevokedKey)
	if r.Key != leaver.Fingerprint {
		t.Fatalf("key %q, want %s", r.Key, leaver.Fingerprint)
	}
}

// The applied head is verified again when the trust changes: a key removed from the
// configuration no longer vouches for it, and the refusal changes nothing.
func TestSyncReverifiesWhenTrustChanges(t *testing.T) {
	w, s, first := refusalWorld(t)
	head := w.work.Commit(w.ssh, "by ssh", nil)
	w.push(false)
	syncApply(t, s)
	rev, err := s.Sync(context.Background(), source.SyncOptions{})
	if err != nil || rev.Changed {
		t.Fatalf("unchanged: %+v %v", rev, err)
	}
	w.signers = []string{"nobody@example.invalid " + signing.NewSSHKey(t, w.dir, "other", "x").PublicLine}
	s = w.source(w.config(w.url, "", ""))
	syncRefused(t, w, s, head, head, verify.ReasonUntrustedKey)
	_ = first
}
