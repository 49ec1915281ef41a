package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/metalk8s/mk8s/e2e/harness/solutioniso"
)

// `mk8s solution inspect` on a Solution ISO built by xorriso: text, JSON and YAML.
func TestSolutionInspect(t *testing.T) {
	iso := solutioniso.Build(t, t.TempDir(), solutioniso.Example("1.0.0"))

	out, stderr, code := runValidateCLI(t, "solution", "inspect", iso)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"Solution archive " + iso + ": valid\n",
		"  Name:            example-solution (Example Solution)\n",
		"  Version:         1.0.0\n",
		"  ID:              example-solution-1.0.0\n",
		"  Volume ID:       example-solution 1.0.0\n",
		"  Digest:          sha256:",
		"  Images:          base-server:1.0.0, example-solution-operator:1.0.0\n",
		"  Operator image:  example-solution-operator:1.0.0\n",
		"  Registry config: registry-config.inc.j2\n",
		"    example-solution.metalk8s.scality.com/ClockServer  versions v1alpha1, Namespaced\n",
		"    Role example-solution-operator\n",
		`      apiGroups: ""  resources: nodes, namespaces  verbs: get, list, watch` + "\n",
		"      nonResourceURLs: /metrics  verbs: get\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}

	for _, format := range []string{"json", "yaml"} {
		out, stderr, code := runValidateCLI(t, "solution", "inspect", iso, "-o", format)
		if code != 0 {
			t.Fatalf("-o %s: exit %d: %s", format, code, stderr)
		}
		var res solutionInspection
		if err := yaml.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("-o %s: %v\n%s", format, err, out)
		}
		if !res.Valid || res.ID != "example-solution-1.0.0" || res.OperatorImage != "example-solution-operator:1.0.0" ||
			len(res.CRDs) != 2 || res.CRDs[1].Kind != "VersionServer" || len(res.Roles) != 2 ||
			res.Roles[1].Kind != "ClusterRole" || len(res.Roles[0].Rules) != 4 || res.Roles[0].Rules[3].Verbs[0] != "*" {
			t.Errorf("-o %s: %+v", format, res)
		}
	}
}

// An archive the reconciler would refuse: exit 1, the error on stderr as main prints it,
// and in -o json the error field by field.
func TestSolutionInspectRefused(t *testing.T) {
	s := solutioniso.Example("1.0.0")
	s.RoleYAML = solutioniso.ExampleRoleYAML(s.Name) + "---\n" +
		solutioniso.ClusterRoleYAML("greedy", "- apiGroups: [rbac.authorization.k8s.io]\n  resources: [clusterroles]\n  verbs: [escalate]\n")
	iso := solutioniso.Build(t, t.TempDir(), s)

	_, _, err := runMk8s("solution", "inspect", iso)
	stderr, ferr := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if ferr != nil {
		t.Fatal(ferr)
	}
	if code := exitCode(err, stderr); code != 1 {
		t.Fatalf("exit %d, want 1 (%v)", code, err)
	}
	stderr.Close()
	printed, _ := os.ReadFile(stderr.Name())
	want := "Error: solution archive " + iso + ": operator/deploy/role.yaml:"
	if !strings.HasPrefix(string(printed), want) ||
		!strings.Contains(string(printed), `ClusterRole greedy: rules[0].verbs: "escalate" is not allowed`) {
		t.Fatalf("stderr:\n%s\nwant %q and the rule", printed, want)
	}

	out, _, code := runValidateCLI(t, "solution", "inspect", iso, "-o", "json")
	var res solutionInspection
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if code != 1 || res.Valid || res.Error == nil || res.Error.File != "operator/deploy/role.yaml" ||
		res.Error.Object != "ClusterRole greedy" || res.Error.Field != "rules[0].verbs" || res.Archive != iso {
		t.Fatalf("-o json: exit %d, %+v %+v", code, res, res.Error)
	}

	// Not an archive at all.
	_, _, code = runValidateCLI(t, "solution", "inspect", filepath.Join(t.TempDir(), "absent.iso"))
	if code != 1 {
		t.Fatalf("missing archive: exit %d", code)
	}
}
