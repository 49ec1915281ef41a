package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/reconciler/status"
)

// TestRewindIsRefusedUntilTheOperatorAllowsIt runs the daemon on a seeded repository,
// applies a second signed commit, then force-pushes the branch back to the first one:
// the daemon refuses the rewind and keeps the second applied. `mk8s allow-rollback`
// records the one-shot override and `mk8s reconcile --now` makes the daemon apply the
// first commit at once; the Site says a rollback was accepted by override. A second
// override is needed for any later rewind: the first was consumed.
func TestRewindIsRefusedUntilTheOperatorAllowsIt(t *testing.T) {
	env := kubeenv.StartT(t)
	base := t.TempDir()
	bare, cfgPath, key := seedForRun(t, base)
	first := gitOut(t, bare, "rev-parse", "main")
	startRun(t, cfgPath, env.Kubeconfig)
	c, err := status.NewClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	waitSite(t, c, "first commit applied", func(s *status.Site) bool {
		return s.IsReady() && s.Status.LastAppliedRevision == "main@sha1:"+first
	})

	// A second commit, signed by the trusted key (committer = its allowed_signers principal).
	work := filepath.Join(base, "work")
	gitOut(t, base, "clone", "-q", bare, work)
	if err := os.MkdirAll(filepath.Join(work, "manifests"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "manifests", "namespace.yaml"), []byte(`apiVersion: v1
kind: Namespace
metadata:
  name: rollback-test
`), 0o644); err != nil {
		t.Fatal(err)
	}
	gitOut(t, work, "add", ".")
	// The committer is the principal the seeded allowed_signers file names.
	gitAs(t, work, "Signer", "signer@example.invalid", "-c", "gpg.format=ssh", "-c", "user.signingkey="+key+".pub", "commit", "-q", "-S", "-m", "second")
	second := gitOut(t, work, "rev-parse", "HEAD")
	gitOut(t, work, "push", "-q", "origin", "main")
	waitSite(t, c, "second commit applied", func(s *status.Site) bool {
		return s.IsReady() && s.Status.LastAppliedRevision == "main@sha1:"+second
	})

	// The rewind: refused, the second commit stays applied.
	gitOut(t, work, "push", "-q", "--force", "origin", first+":main")
	site := waitSite(t, c, "rewind refused", func(s *status.Site) bool {
		r := s.Status.Condition(status.ConditionReady)
		return r != nil && r.Reason == status.ReasonVerificationFailed && s.Status.LastAttemptedRevision == "main@sha1:"+first
	})
	if site.Status.LastAppliedRevision != "main@sha1:"+second {
		t.Fatalf("after a refused rewind the applied revision is %q, want the second commit", site.Status.LastAppliedRevision)
	}

	// A malformed override is refused and records nothing.
	if _, _, err := runMk8s("allow-rollback", "--config", cfgPath, first[:12]); err == nil {
		t.Fatal("allow-rollback with an abbreviated hash succeeded; want a refusal")
	}
	// The operator's one-shot override, then a reconcile now.
	if out, stderr, err := runMk8s("allow-rollback", "--config", cfgPath, first); err != nil {
		t.Fatalf("mk8s allow-rollback: %v\n%s%s", err, out, stderr)
	}
	out, stderr, err := runMk8s("reconcile", "--now", "--kubeconfig", env.Kubeconfig, "--timeout", "90s")
	if err != nil {
		t.Fatalf("mk8s reconcile --now: %v\n%s%s", err, out, stderr)
	}
	if !strings.Contains(out, "Ready") {
		t.Errorf("reconcile --now printed no Ready status:\n%s", out)
	}
	site = waitSite(t, c, "rollback applied", func(s *status.Site) bool {
		return s.IsReady() && s.Status.LastAppliedRevision == "main@sha1:"+first
	})
	msg := site.Status.Condition(status.ConditionReady).Message
	if !strings.Contains(msg, "rollback from main@sha1:"+second) || !strings.Contains(msg, "override") {
		t.Errorf("the Ready message does not record the rollback: %q", msg)
	}
}
