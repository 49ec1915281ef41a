package objects

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
)

// A manifest the cluster cannot take as written (a namespaced object without a
// namespace, a kind the server does not know) fails plan and reconcile with exit 1 and
// an error naming file:line and the object, and nothing is applied; an invalid
// --site-name is refused with a message saying what a site name may be.
func TestManifestScopeErrorsNameFileAndLine(t *testing.T) {
	env := kubeenv.StartT(t)
	dir := copySite(t)
	base := []string{"--dir", dir, "--kubeconfig", env.Kubeconfig, "--objects-only"}
	doc := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: scope-probe\n---\n" +
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: no-namespace\ndata:\n  a: b\n---\n" +
		"apiVersion: nope.example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: scope-probe\n"
	if err := os.WriteFile(filepath.Join(dir, "manifests", "extra.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	wants := []string{
		"manifests/extra.yaml:6: ConfigMap/no-namespace: ConfigMap is a namespaced kind and metadata.namespace is not set",
		"manifests/extra.yaml:13: Gadget/scope-probe/g: the API server does not know kind Gadget in apiVersion nope.example.com/v1",
	}
	for _, cmd := range [][]string{{"plan", "--exit-code"}, {"reconcile", "--once"}} {
		out, errOut, code := runMk8s(t, append(cmd, base...)...)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1\n%s%s", cmd[0], code, out, errOut)
		}
		for _, w := range wants {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", cmd[0], w, errOut)
			}
		}
	}
	out, _, code := runMk8s(t, append([]string{"reconcile", "--once", "-o", "json"}, base...)...)
	var res struct {
		Error string `json:"error"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &res) != nil || !strings.Contains(res.Error, wants[0]) {
		t.Errorf("reconcile -o json: exit %d\n%s", code, out)
	}
	if _, found := getObj(t, newClient(t, env), "v1", "Namespace", "", "scope-probe"); found {
		t.Error("a refused site created objects")
	}

	_, errOut, code := runMk8s(t, append([]string{"plan", "--site-name", "Bad_Name!"}, base...)...)
	if code != 1 || !strings.Contains(errOut, `--site-name: invalid site name "Bad_Name!"`) {
		t.Errorf("invalid --site-name: exit %d\n%s", code, errOut)
	}
}
