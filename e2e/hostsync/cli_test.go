package hostsynce2e_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// TestPlanCLIShowsWhatReconcileCLIPerforms drives the real binary against real sshd
// hosts: after a change of the apiserver feature gates in cluster.yaml, `mk8s plan`
// lists exactly the kube-apiserver static pods of the masters, with the diff, and exits
// 2 with --exit-code; `mk8s reconcile --once` then performs exactly those entries, and a
// second plan has nothing left to do.
func TestPlanCLIShowsWhatReconcileCLIPerforms(t *testing.T) {
	ctx := testCtx(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 3})
	bin := buildMk8s(t)
	site := t.TempDir()
	writeLabSiteDir(t, site, l, "InPlacePodVerticalScaling: true")

	hostArgs := []string{"--hosts-only", "--dir", site, "--ssh-netns", l.CtlNS, "--packages", "probe-only", "-o", "json", "--state-dir", t.TempDir()}
	if out, code := runBin(t, bin, append([]string{"reconcile", "--once"}, hostArgs...)...); code != 0 {
		t.Fatalf("first reconcile exited %d:\n%s", code, out)
	}
	if out, code := runBin(t, bin, append([]string{"plan", "--exit-code"}, hostArgs...)...); code != 0 {
		t.Fatalf("plan right after a reconcile exited %d, want 0 (nothing pending):\n%s", code, out)
	}

	writeLabSiteDir(t, site, l, "InPlacePodVerticalScaling: false")
	out, code := runBin(t, bin, append([]string{"plan", "--exit-code"}, hostArgs...)...)
	if code != 2 {
		t.Fatalf("plan of a changed feature gate exited %d, want 2:\n%s", code, out)
	}
	planned := changedEntries(t, out)
	want := []string{"bootstrap", "master-1"} // the masters; worker-1 runs no apiserver
	var hostsSeen []string
	for _, e := range planned {
		if e.Action != change.Configured || !strings.Contains(e.Subject, "/etc/kubernetes/manifests/kube-apiserver.yaml") {
			t.Errorf("plan lists %s %s %s; want only the kube-apiserver static pods configured", e.Host, e.Subject, e.Action)
		}
		if !strings.Contains(e.Diff, "-    - --feature-gates=InPlacePodVerticalScaling=true") ||
			!strings.Contains(e.Diff, "+    - --feature-gates=InPlacePodVerticalScaling=false") {
			t.Errorf("diff of %s %s does not show the feature gate change:\n%s", e.Host, e.Subject, e.Diff)
		}
		hostsSeen = append(hostsSeen, e.Host)
	}
	slices.Sort(hostsSeen)
	if !slices.Equal(hostsSeen, want) {
		t.Errorf("plan changes hosts %v, want %v", hostsSeen, want)
	}

	out, code = runBin(t, bin, append([]string{"reconcile", "--once"}, hostArgs...)...)
	if code != 0 {
		t.Fatalf("reconcile exited %d:\n%s", code, out)
	}
	applied := changedEntries(t, out)
	if got, wantKeys := entryKeys(applied), entryKeys(planned); !slices.Equal(got, wantKeys) {
		t.Errorf("reconcile performed %v, plan said %v", got, wantKeys)
	}
	if out, code := runBin(t, bin, append([]string{"plan", "--exit-code"}, hostArgs...)...); code != 0 {
		t.Fatalf("plan after the reconcile exited %d, want 0:\n%s", code, out)
	}
	for _, h := range l.Hosts[:2] {
		got, err := l.Run(ctx, h, "grep -c 'InPlacePodVerticalScaling=false' /etc/kubernetes/manifests/kube-apiserver.yaml")
		if err != nil || strings.TrimSpace(got) != "1" {
			t.Errorf("%s: the applied manifest does not carry the new gate (%q, %v)", h.Name, got, err)
		}
	}
}

// writeLabSiteDir writes a site directory whose nodes are the lab's hosts: bootstrap
// (bootstrap, master, etcd, infra), master-1 (master, etcd) and worker-1 (node).
func writeLabSiteDir(t *testing.T, dir string, l *hosts.Lab, gate string) {
	t.Helper()
	files := map[string]string{"cluster.yaml": labClusterYAML(l, "bootstrap", "kubernetes:\n  apiServer:\n    featureGates:\n      "+gate+"\n")}
	roles := map[string][]string{"bootstrap": {"bootstrap", "etcd", "infra", "master"}, "master-1": {"etcd", "master"}, "worker-1": {"node"}}
	for i, name := range []string{"bootstrap", "master-1", "worker-1"} {
		h := l.Hosts[i]
		var labels strings.Builder
		for _, r := range roles[name] {
			fmt.Fprintf(&labels, "    node-role.kubernetes.io/%s: \"\"\n", r)
		}
		files["nodes/"+name+".yaml"] = fmt.Sprintf(`apiVersion: v1
kind: Node
metadata:
  name: %s
  labels:
%s  annotations:
    metalk8s.scality.com/ssh-host: %s
    metalk8s.scality.com/ssh-host-key: %q
    metalk8s.scality.com/ssh-key-path: %s
`, name, labels.String(), h.IP, h.HostKey, l.KeyPath)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// labClusterYAML is the cluster.yaml of a site on the lab's subnet, whose CA minion is
// ca, followed by extra (YAML at the top level).
func labClusterYAML(l *hosts.Lab, ca, extra string) string {
	return fmt.Sprintf(`apiVersion: metalk8s.scality.com/v1alpha3
kind: BootstrapConfiguration
version: "2.10.0"
networks:
  controlPlane:
    cidr: 10.213.%[1]d.0/24
  workloadPlane:
    cidr: 10.213.%[1]d.0/24
ca:
  minion: %[2]s
archives:
  - /srv/scality/metalk8s-2.10.0.iso
`, l.Subnet, ca) + extra
}

// buildMk8s builds the binary into the test's temporary directory.
func buildMk8s(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mk8s")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/metalk8s/mk8s/cmd/mk8s")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build mk8s: %v\n%s", err, out)
	}
	return bin
}

// runBin runs the binary and returns stdout (stderr appended on failure) and the exit code.
func runBin(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return stdout.String() + stderr.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return stdout.String(), 0
}

// changedEntries decodes a plan or reconcile JSON result and keeps the entries that
// change something.
func changedEntries(t *testing.T, out string) change.Set {
	t.Helper()
	var res struct {
		Changes change.Set `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not the JSON result: %v\n%s", err, out)
	}
	return changed(res.Changes)
}

func entryKeys(s change.Set) []string {
	var out []string
	for _, e := range s {
		out = append(out, e.Host+" "+e.Subject+" "+string(e.Action))
	}
	slices.Sort(out)
	return out
}
