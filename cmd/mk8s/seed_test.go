package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/metalk8s/mk8s/seed"
)

func seedKey(t *testing.T) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "signer")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "signer@example.invalid", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return key
}

func runMk8s(args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

func seedArgs(key, dir string, extra ...string) []string {
	return append([]string{"seed", "--name", "bootstrap", "--ssh-host", "10.213.1.11",
		"--control-plane-cidr", "10.213.1.0/24", "--workload-plane-cidr", "10.213.2.0/24",
		"--archive", "/srv/scality/metalk8s-2.10.0.iso",
		"--ssh-host-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN7ZW4mVvUxrNMAxeamI1vKIYUDUIE6kpSotZhVDPzsB",
		"--signing-key", key, "--feature-gate", "SomeFeature=true"}, append(extra, dir)...)
}

// `mk8s seed -o json` prints the Result: files, the commit git sees, the signer.
func TestSeedCommandJSON(t *testing.T) {
	key := seedKey(t)
	dir := filepath.Join(t.TempDir(), "site")
	out, stderr, err := runMk8s(seedArgs(key, dir, "-o", "json")...)
	if err != nil {
		t.Fatalf("mk8s seed: %v\n%s", err, stderr)
	}
	var res seed.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	head, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != strings.TrimSpace(string(head)) || res.Signer.Format != "ssh" || len(res.Files) != 12 {
		t.Fatalf("result = %+v, HEAD %s", res, head)
	}
	b, err := os.ReadFile(filepath.Join(dir, "cluster.yaml"))
	if err != nil || !strings.Contains(string(b), "SomeFeature: true") {
		t.Fatalf("cluster.yaml lacks the feature gate: %v\n%s", err, b)
	}
}

// -o yaml prints the same data as YAML; the default text names the commit.
func TestSeedCommandYAMLAndText(t *testing.T) {
	key := seedKey(t)
	out, stderr, err := runMk8s(seedArgs(key, filepath.Join(t.TempDir(), "site"), "-o", "yaml", "--bare")...)
	if err != nil {
		t.Fatalf("mk8s seed: %v\n%s", err, stderr)
	}
	var res seed.Result
	if err := yaml.Unmarshal([]byte(out), &res); err != nil || !res.Bare || res.Commit == "" {
		t.Fatalf("yaml output: %v\n%s", err, out)
	}
	out, stderr, err = runMk8s(seedArgs(key, filepath.Join(t.TempDir(), "site"))...)
	if err != nil {
		t.Fatalf("mk8s seed: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "Commit ") || !strings.Contains(out, "signed (ssh)") {
		t.Fatalf("text output:\n%s", out)
	}
}

// A failed seed exits 1 with the reason; an existing repository needs --force.
func TestSeedCommandErrors(t *testing.T) {
	key := seedKey(t)
	dir := filepath.Join(t.TempDir(), "site")
	if _, stderr, err := runMk8s(seedArgs(key, dir)...); err != nil {
		t.Fatalf("mk8s seed: %v\n%s", err, stderr)
	}
	for name, args := range map[string][]string{
		"exists":       seedArgs(key, dir),
		"feature gate": seedArgs(key, filepath.Join(t.TempDir(), "x"), "--feature-gate", "Bad"),
		"date":         seedArgs(key, filepath.Join(t.TempDir(), "x"), "--date", "yesterday"),
		"output":       seedArgs(key, filepath.Join(t.TempDir(), "x"), "-o", "markdown"),
	} {
		_, _, err := runMk8s(args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != exitCodeError {
			t.Errorf("%s: err = %v, want exit code 1", name, err)
		}
	}
	if _, _, err := runMk8s(seedArgs(key, dir, "--force")...); err != nil {
		t.Fatalf("--force: %v", err)
	}
}

func TestSeedCommandHelp(t *testing.T) {
	out, _, err := runMk8s("seed", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Examples:", "--bootstrap-config", "--signing-key", "--bare", "--force", "--ssh-host-key"} {
		if !strings.Contains(out, s) {
			t.Errorf("help lacks %s", s)
		}
	}
}
