package objects

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
)

// mk8s plan on a changed site prints the expected diff and exits 2 with --exit-code;
// on an unchanged one it exits 0. mk8s reconcile applies it.
func TestPlanAndReconcileCLI(t *testing.T) {
	env := kubeenv.StartT(t)
	dir := copySite(t)
	base := []string{"--dir", dir, "--kubeconfig", env.Kubeconfig, "--objects-only"}

	out, errOut, code := runMk8s(t, append([]string{"reconcile", "--once", "-o", "json"}, base...)...)
	if code != 0 {
		t.Fatalf("reconcile exit %d: %s\n%s", code, errOut, out)
	}
	var res struct {
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Summary["created"] == 0 {
		t.Fatalf("reconcile -o json: %v\n%s", err, out)
	}

	out, errOut, code = runMk8s(t, append([]string{"plan", "--exit-code"}, base...)...)
	if code != 0 {
		t.Fatalf("plan of an unchanged site: exit %d, want 0\n%s%s", code, out, errOut)
	}
	if !strings.HasPrefix(out, "Plan: 0 created, 0 configured, ") || !strings.Contains(out, ", 0 deleted") {
		t.Errorf("unchanged plan summary:\n%s", out)
	}

	edit(t, dir, "services/prometheus.yaml", "replicas: 2", "replicas: 3")
	out, errOut, code = runMk8s(t, append([]string{"plan", "--exit-code"}, base...)...)
	if code != 2 {
		t.Fatalf("plan of a changed site: exit %d, want 2\n%s%s", code, out, errOut)
	}
	if !strings.HasPrefix(out, "Plan: 0 created, 1 configured, ") {
		t.Errorf("summary is not first or not right:\n%s", out)
	}
	for _, want := range []string{
		"ConfigMap/metalk8s-monitoring/metalk8s-prometheus-config configured",
		"--- live/ConfigMap/metalk8s-monitoring/metalk8s-prometheus-config",
		"+++ desired/ConfigMap/metalk8s-monitoring/metalk8s-prometheus-config",
		"-        replicas: 2", "+        replicas: 3",
		"-    " + "mk8s.metalk8s.scality.com/effective-config-digest: sha256:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}

	md, _, code := runMk8s(t, append([]string{"plan", "-o", "markdown", "--exit-code"}, base...)...)
	if code != 2 || !strings.Contains(md, "| configured | `ConfigMap/metalk8s-monitoring/metalk8s-prometheus-config` |") || !strings.Contains(md, "```diff") {
		t.Errorf("markdown plan (exit %d):\n%s", code, md)
	}

	// The plan changed nothing: reconcile now configures exactly that object.
	out, errOut, code = runMk8s(t, append([]string{"reconcile", "--once"}, base...)...)
	if code != 0 || !strings.HasPrefix(out, "Reconcile: 0 created, 1 configured,") {
		t.Fatalf("reconcile after plan: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code = runMk8s(t, append([]string{"plan", "--exit-code"}, base...)...); code != 0 {
		t.Errorf("plan after reconcile: exit %d, want 0", code)
	}
}

// A manifest the API server refuses (here an out-of-range port) fails plan and
// reconcile with exit 1 and an error naming its file and line, and nothing is written.
func TestManifestRefusedByServerNamesFileAndLine(t *testing.T) {
	env := kubeenv.StartT(t)
	dir := copySite(t)
	base := []string{"--dir", dir, "--kubeconfig", env.Kubeconfig, "--objects-only"}
	doc := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n  namespace: default\n---\n" +
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\n  namespace: default\nspec:\n  ports:\n    - port: 70000\n"
	if err := os.WriteFile(filepath.Join(dir, "manifests", "bad.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "manifests/bad.yaml:7: Service/default/bad: the API server refused the object: "
	for _, cmd := range [][]string{{"plan", "--exit-code"}, {"reconcile", "--once"}} {
		out, errOut, code := runMk8s(t, append(cmd, base...)...)
		if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "spec.ports[0].port") {
			t.Errorf("%s: exit %d, want 1 and %q\n%s%s", cmd[0], code, want, out, errOut)
		}
	}
	if _, found := getObj(t, newClient(t, env), "v1", "ConfigMap", "default", "fine"); found {
		t.Error("a refused manifest let the rest of its stage be written")
	}
}
