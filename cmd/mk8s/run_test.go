package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/reconciler/status"
)

// TestRunAppliesASignedSiteAndRefusesAnUnsignedPush runs `mk8s run --objects-only` on a
// bare repository written by `mk8s seed`, against a real apiserver: the signed first
// commit is applied and recorded Ready; an unsigned commit pushed into the repository is
// noticed through the ref watch and refused, the previous revision staying applied.
func TestRunAppliesASignedSiteAndRefusesAnUnsignedPush(t *testing.T) {
	env := kubeenv.StartT(t)
	base := t.TempDir()
	bare, cfgPath, _ := seedForRun(t, base)
	head := gitOut(t, bare, "rev-parse", "main")

	startRun(t, cfgPath, env.Kubeconfig)

	c, err := status.NewClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	want := "main@sha1:" + head
	site := waitSite(t, c, "applied "+want, func(s *status.Site) bool {
		return s.IsReady() && s.Status.LastAppliedRevision == want
	})
	t.Logf("applied: %s", site.Status.Condition(status.ConditionReady).Message)

	// An unsigned commit pushed to the bare repository.
	work := filepath.Join(base, "work")
	gitOut(t, base, "clone", "-q", bare, work)
	if err := os.WriteFile(filepath.Join(work, "unsigned.txt"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitOut(t, work, "add", ".")
	gitOut(t, work, "-c", "commit.gpgsign=false", "commit", "-q", "-m", "unsigned")
	gitOut(t, work, "push", "-q", "origin", "main")
	bad := "main@sha1:" + gitOut(t, bare, "rev-parse", "main")
	site = waitSite(t, c, "refused "+bad, func(s *status.Site) bool {
		r := s.Status.Condition(status.ConditionReady)
		return r != nil && r.Reason == status.ReasonVerificationFailed && s.Status.LastAttemptedRevision == bad
	})
	if site.Status.LastAppliedRevision != want {
		t.Fatalf("after a refused push the applied revision is %q, want %q", site.Status.LastAppliedRevision, want)
	}
	t.Logf("refused: %s", site.Status.Condition(status.ConditionReady).Message)
}

// startRun runs `mk8s run --objects-only` in this process until the test ends.
func startRun(t *testing.T, cfgPath, kubeconfig string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stdout, stderr bytes.Buffer
	go func() {
		root := newRootCmd(&stdout, &stderr)
		root.SetArgs([]string{"run", "--config", cfgPath, "--kubeconfig", kubeconfig, "--listen", "127.0.0.1:0",
			"--objects-only", "-v"})
		done <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("mk8s run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("mk8s run did not stop")
		}
		if t.Failed() {
			t.Logf("mk8s run stderr:\n%s", stderr.String())
		}
	})
}

// seedForRun seeds a bare repository with its reconciler config (state in base/state)
// and returns the repository, the config path and the signing key.
func seedForRun(t *testing.T, base string) (bare, cfgPath, key string) {
	t.Helper()
	bare, cfgPath = filepath.Join(base, "site.git"), filepath.Join(base, "etc", "reconciler.yaml")
	key = seedKey(t)
	if _, stderr, err := runMk8s(seedArgs(key, bare, "--bare", "--reconciler-config", cfgPath)...); err != nil {
		t.Fatalf("mk8s seed: %v\n%s", err, stderr)
	}
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.Replace(cfg, []byte("stateDir: /var/lib/mk8s/source"), []byte("stateDir: "+filepath.Join(base, "state")), 1)
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return bare, cfgPath, key
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return gitAs(t, dir, "t", "t@example.invalid", args...)
}

// gitAs runs git in dir as the given author and committer, with no user or system config.
func gitAs(t *testing.T, dir, name, email string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME="+name, "GIT_AUTHOR_EMAIL="+email, "GIT_COMMITTER_NAME="+name, "GIT_COMMITTER_EMAIL="+email)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func waitSite(t *testing.T, c *status.Client, what string, cond func(*status.Site) bool) *status.Site {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last *status.Site
	for time.Now().Before(deadline) {
		if s, err := c.Get(context.Background(), "default"); err == nil {
			last = s
			if cond(s) {
				return s
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if last != nil {
		t.Fatalf("timed out waiting for %s; Site status: %+v", what, last.Status)
	}
	t.Fatalf("timed out waiting for %s; no Site", what)
	return nil
}
