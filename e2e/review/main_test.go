// Package review_test runs `mk8s plan --repo --from --to` as a reviewer's CI does: the
// real binary on real git repositories with real SSH signatures, offline and against a
// real kube-apiserver, and the CI example script of docs/ci.
package review_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/mk8sbin"
	"github.com/metalk8s/mk8s/e2e/harness/signing"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// mk8sBin is the mk8s binary built from this tree.
var mk8sBin string

func TestMain(m *testing.M) { os.Exit(mk8sbin.Main(m, &mk8sBin)) }

// mk8s runs the binary in dir and returns stdout, stderr and the exit code.
func mk8s(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(mk8sBin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), 0
}

// siteRepo is a site repository: site-example without worker-3, committed and signed
// by the operator's SSH key, with the reconciler's configuration trusting that key.
type siteRepo struct {
	*signing.Repo
	key         *signing.SSHKey
	trustConfig string
}

func newSiteRepo(t *testing.T) *siteRepo {
	t.Helper()
	base := t.TempDir()
	key := signing.NewSSHKey(t, base, "operator", "ops@example.invalid")
	r := &siteRepo{Repo: signing.NewRepo(t, filepath.Join(base, "site")), key: key}
	files := map[string]string{}
	root := filepath.Join("..", "..", "site-example")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "nodes/worker-3.yaml" {
			return nil
		}
		b, err := os.ReadFile(p)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Commit(key, "site: first revision", files)
	etc := filepath.Join(base, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "allowed_signers"), []byte(key.AllowedSigner(`namespaces="git"`)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.trustConfig = filepath.Join(etc, "reconciler.yaml")
	cfg := fmt.Sprintf("source:\n  url: file://%s\n  ref: main\ntrust:\n  allowedSignersFile: allowed_signers\n  mode: range\nstateDir: %s\n", r.Dir, filepath.Join(base, "state"))
	if err := os.WriteFile(r.trustConfig, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *siteRepo) read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.Dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (r *siteRepo) remove(t *testing.T, rel string) {
	t.Helper()
	if err := os.Remove(filepath.Join(r.Dir, rel)); err != nil {
		t.Fatal(err)
	}
}

// review is the JSON of mk8s plan --repo (docs/review.md).
type review struct {
	Mode     string `json:"mode"`
	Descends bool   `json:"descends"`
	From, To struct {
		Revision, Commit, Subject string
	}
	Objects    change.Set `json:"objects"`
	Hosts      change.Set `json:"hosts"`
	Drift      change.Set `json:"drift"`
	Signatures *struct {
		Commits []struct {
			Commit  string `json:"commit"`
			Subject string `json:"subject"`
			Refused *struct {
				Reason string `json:"reason"`
			} `json:"refused"`
		} `json:"commits"`
	} `json:"signatures"`
	WouldBeRefused bool   `json:"wouldBeRefused"`
	Error          string `json:"error"`
	Summary        struct {
		Disruptive int `json:"disruptive"`
	} `json:"summary"`
}

func parseReview(t *testing.T, out string) review {
	t.Helper()
	var r review
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, out)
	}
	return r
}

// changedSubjects lists "<host> <subject> <action>" of what is not unchanged.
func changedSubjects(s change.Set) []string {
	var out []string
	for _, e := range s {
		if e.Action == change.Unchanged {
			continue
		}
		out = append(out, strings.TrimSpace(e.Host+" "+e.Subject+" "+string(e.Action)))
	}
	return out
}
