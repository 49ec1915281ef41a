package loop

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/sandbox"
	"github.com/metalk8s/mk8s/reconciler/status"
)

// kobj is the part of an object these tests read.
type kobj struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name, Namespace, ResourceVersion string
		Labels                           map[string]string
	} `json:"metadata"`
	Spec json.RawMessage `json:"spec"`
	Data map[string]string
	// RoleRef and Subjects of bindings.
	RoleRef struct {
		Kind, Name string
	} `json:"roleRef"`
	Subjects []struct {
		Kind, Name, Namespace string
	} `json:"subjects"`
}

func getObj(t *testing.T, ctx context.Context, sb *sandbox.Sandbox, args ...string) kobj {
	t.Helper()
	var o kobj
	if err := json.Unmarshal([]byte(kubectl(t, ctx, sb, append(args, "-o", "json")...)), &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// namespaceObjects lists kind/name=resourceVersion of the solution kinds in ns.
func namespaceObjects(t *testing.T, ctx context.Context, sb *sandbox.Sandbox, ns string) map[string]string {
	t.Helper()
	var list struct{ Items []kobj }
	out := kubectl(t, ctx, sb, "-n", ns, "get", "serviceaccounts,roles,rolebindings,configmaps,deployments", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, o := range list.Items {
		if o.Kind == "ServiceAccount" && o.Metadata.Name == "default" || o.Kind == "ConfigMap" && o.Metadata.Name == "kube-root-ca.crt" {
			continue // the API server's own
		}
		m[o.Kind+"/"+o.Metadata.Name] = o.Metadata.ResourceVersion
	}
	return m
}

// The life of a Solution, every step a signed commit: two versions of the example
// Solution, built as ISOs, imported, 1.0.0 activated and run in two environments; one
// environment upgraded to 2.0.0; the solution removed from the other; then revisions
// that name a forbidden role.yaml, a missing and a damaged archive, each refused with
// nothing applied.
func TestSolutionLifecycleFromCommits(t *testing.T) {
	ctx := testCtx(t)
	sb := startSandbox(t, ctx, 3)
	if err := sb.RollOutDeployments(ctx); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, ctx, sb, sandbox.DaemonOptions{})
	waitApplied(t, ctx, sb, head(t, ctx, sb))
	v1, err := sb.SolutionISO(ctx, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := sb.SolutionISO(ctx, "2.0.0")
	if err != nil {
		t.Fatal(err)
	}

	// Import both, activate 1.0.0, run it in staging and prod.
	writeSolutions(t, sb, "1.0.0", v1, v2)
	writeEnv(t, sb, "staging", "example-staging", "1.0.0")
	writeEnv(t, sb, "prod", "example-prod", "1.0.0")
	c := commitPush(t, ctx, sb, true, "Import example-solution 1.0.0 and 2.0.0; run 1.0.0 in staging and prod")
	waitApplied(t, ctx, sb, c)

	for _, ns := range []string{"example-staging", "example-prod"} {
		checkOperator(t, ctx, sb, ns, "1.0.0")
	}
	var solutions []map[string]any
	cm := getObj(t, ctx, sb, "-n", "metalk8s-solutions", "get", "configmap", "metalk8s-solutions")
	if err := json.Unmarshal([]byte(cm.Data["example-solution"]), &solutions); err != nil || len(solutions) != 2 ||
		solutions[0]["version"] != "1.0.0" || solutions[0]["active"] != true || solutions[1]["version"] != "2.0.0" || solutions[1]["active"] != false ||
		solutions[0]["mountpoint"] != "/srv/scality/example-solution-1.0.0" || solutions[0]["archive"] != v1 {
		t.Fatalf("metalk8s-solutions: %v %v", cm.Data, err)
	}
	crd := getObj(t, ctx, sb, "get", "crd", "clockservers.example-solution.metalk8s.scality.com")
	if crd.Metadata.Labels["app.kubernetes.io/version"] != "1.0.0" {
		t.Errorf("CRD of the active version: labels %v", crd.Metadata.Labels)
	}
	// Imported on the bootstrap node: both ISOs mounted read-only where MetalK8s mounts
	// them, their images served by the registry under <name>-<version>.
	for _, id := range []string{"example-solution-1.0.0", "example-solution-2.0.0"} {
		out := hostRun(t, ctx, sb, "bootstrap", "findmnt -n -o OPTIONS /srv/scality/"+id+" && test -f /srv/scality/"+id+"/manifest.yaml && "+
			"grep -c /srv/scality/"+id+"/images /var/lib/metalk8s/repositories/conf.d/"+id+"-registry-config.inc && "+
			"grep -c 'mountPath: /srv/scality/"+id+"' /etc/kubernetes/manifests/repositories.yaml")
		if !strings.HasPrefix(out, "ro") {
			t.Errorf("%s on the bootstrap node: %q", id, out)
		}
	}

	// Upgrade staging to 2.0.0: its operator moves, prod's objects do not.
	prod := namespaceObjects(t, ctx, sb, "example-prod")
	writeEnv(t, sb, "staging", "example-staging", "2.0.0")
	c = commitPush(t, ctx, sb, true, "Upgrade example-solution to 2.0.0 in staging")
	waitApplied(t, ctx, sb, c)
	checkOperator(t, ctx, sb, "example-staging", "2.0.0")
	if got := namespaceObjects(t, ctx, sb, "example-prod"); !maps.Equal(got, prod) {
		t.Errorf("prod changed with staging's upgrade:\n%v\n%v", prod, got)
	}
	if crd := getObj(t, ctx, sb, "get", "crd", "clockservers.example-solution.metalk8s.scality.com"); crd.Metadata.Labels["app.kubernetes.io/version"] != "1.0.0" {
		t.Errorf("the CRDs are those of the active version, 1.0.0: %v", crd.Metadata.Labels)
	}

	// Remove the solution from prod: exactly its objects go.
	staging := namespaceObjects(t, ctx, sb, "example-staging")
	writeEnv(t, sb, "prod", "example-prod", "")
	c = commitPush(t, ctx, sb, true, "Remove example-solution from prod")
	waitApplied(t, ctx, sb, c)
	after := namespaceObjects(t, ctx, sb, "example-prod")
	if _, ok := after["ConfigMap/metalk8s-environment"]; !ok || len(after) != 1 {
		t.Errorf("prod after the removal: %v, want only its metalk8s-environment ConfigMap", after)
	}
	if got := namespaceObjects(t, ctx, sb, "example-staging"); !maps.Equal(got, staging) {
		t.Errorf("staging changed with prod's removal:\n%v\n%v", staging, got)
	}
	if out, err := sb.Kube.RunKubectl(ctx, "get", "clusterrolebinding", "-l", "app.kubernetes.io/instance=example-prod", "-o", "name"); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("prod's ClusterRoleBindings after the removal: %q %v", out, err)
	}
	good := c

	// Refused revisions: nothing applied, on the hosts or in the API.
	before := takeSnapshot(t, ctx, sb)
	mounts := hostRun(t, ctx, sb, "bootstrap", "findmnt -n -l -o TARGET,SOURCE | grep /srv/scality || true")
	refuse := func(name string, mutate func(), wantMsgs ...string) {
		t.Run(name, func(t *testing.T) {
			mutate()
			c := commitPush(t, ctx, sb, true, name)
			site, err := sb.WaitSite(ctx, 2*time.Minute, name+" refused", func(s *status.Site) bool {
				return s.Status.LastAttemptedRevision == sandbox.Revision(c) && hasReason(s, status.ReasonValidationFailed)
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range wantMsgs {
				if ready := site.Status.Condition(status.ConditionReady); ready == nil || !strings.Contains(ready.Message, want) {
					t.Errorf("Ready condition %+v, want a message containing %q", ready, want)
				}
			}
			before.assertSame(t, takeSnapshot(t, ctx, sb))
			if m := hostRun(t, ctx, sb, "bootstrap", "findmnt -n -l -o TARGET,SOURCE | grep /srv/scality || true"); m != mounts {
				t.Errorf("the bootstrap node's mounts changed:\n%s\n%s", mounts, m)
			}
			if _, err := sb.Git(ctx, "reset", "-q", "--hard", good); err != nil {
				t.Fatal(err)
			}
			if _, err := sb.Git(ctx, "push", "-q", "--force", sb.Bare, "main"); err != nil {
				t.Fatal(err)
			}
		})
	}
	badVerb, err := sb.SolutionISOWithRole(ctx, "3.0.0", `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: example-solution-operator
rules:
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [clusterroles]
    verbs: [get, escalate]
`)
	if err != nil {
		t.Fatal(err)
	}
	badKind, err := sb.SolutionISOWithRole(ctx, "3.1.0", `apiVersion: v1
kind: ServiceAccount
metadata:
  name: example-solution-operator
`)
	if err != nil {
		t.Fatal(err)
	}
	refuse("forbidden verb", func() {
		writeSolutions(t, sb, "1.0.0", v1, v2, badVerb)
		writeEnv(t, sb, "prod", "example-prod", "3.0.0")
	}, "solutions.yaml:", "archives[2]", badVerb+": operator/deploy/role.yaml", `rules[0].verbs: "escalate" is not allowed`)
	refuse("forbidden kind", func() {
		writeSolutions(t, sb, "1.0.0", v1, v2, badKind)
	}, badKind+": operator/deploy/role.yaml", "ServiceAccount", "Role and ClusterRole")
	refuse("missing archive", func() {
		writeSolutions(t, sb, "1.0.0", v1, v2, "/srv/scality/solutions/example-solution-9.9.9.iso")
	}, "/srv/scality/solutions/example-solution-9.9.9.iso", "no such file")
	refuse("damaged archive", func() {
		b, err := os.ReadFile(v2)
		if err != nil {
			t.Fatal(err)
		}
		// The same archive, cut short: the reconciler reads its new size.
		if err := os.WriteFile(v2, b[:len(b)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.WriteFile(v2, b, 0o644) })
		writeSolutions(t, sb, "latest", v1, v2)
	}, v2)
}

// checkOperator checks the operator objects of example-solution in ns, at version v,
// against what the seeds describe (ServiceAccount <name>-operator, the role.yaml's
// Role bound to it, the OperatorConfig, the Deployment run with --config).
func checkOperator(t *testing.T, ctx context.Context, sb *sandbox.Sandbox, ns, v string) {
	t.Helper()
	id := "example-solution-" + v
	getObj(t, ctx, sb, "-n", ns, "get", "serviceaccount", "example-solution-operator")
	getObj(t, ctx, sb, "-n", ns, "get", "role", "example-solution-operator")
	rb := getObj(t, ctx, sb, "-n", ns, "get", "rolebinding", "example-solution-operator")
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != "example-solution-operator" || len(rb.Subjects) != 1 ||
		rb.Subjects[0].Name != "example-solution-operator" || rb.Subjects[0].Namespace != ns {
		t.Errorf("%s RoleBinding: %+v", ns, rb)
	}
	crb := getObj(t, ctx, sb, "get", "clusterrolebinding", id+":example-solution-operator:"+ns)
	if crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != id+":example-solution-operator" {
		t.Errorf("%s ClusterRoleBinding: %+v", ns, crb)
	}
	cfg := getObj(t, ctx, sb, "-n", ns, "get", "configmap", "example-solution-operator-config")
	op := cfg.Data["operator.yaml"]
	for _, want := range []string{"kind: OperatorConfig", "metalk8s-registry-from-config.invalid/example-solution-1.0.0",
		"metalk8s-registry-from-config.invalid/example-solution-2.0.0"} {
		if !strings.Contains(op, want) {
			t.Errorf("%s OperatorConfig lacks %q:\n%s", ns, want, op)
		}
	}
	dep := getObj(t, ctx, sb, "-n", ns, "get", "deployment", "example-solution-operator")
	var compact bytes.Buffer
	if err := json.Compact(&compact, dep.Spec); err != nil {
		t.Fatal(err)
	}
	spec := compact.String()
	for _, want := range []string{`"image":"metalk8s-registry-from-config.invalid/` + id + `/example-solution-operator:` + v + `"`,
		`--config=/etc/metalk8s/operator/operator.yaml`, `"serviceAccountName":"example-solution-operator"`,
		`"name":"example-solution-operator-config"`} {
		if !strings.Contains(spec, want) {
			t.Errorf("%s Deployment lacks %s:\n%s", ns, want, spec)
		}
	}
	if dep.Metadata.Labels["app.kubernetes.io/version"] != v {
		t.Errorf("%s Deployment labels %v, want version %s", ns, dep.Metadata.Labels, v)
	}
}

func writeSolutions(t *testing.T, sb *sandbox.Sandbox, active string, archives ...string) {
	t.Helper()
	doc := "apiVersion: solutions.metalk8s.scality.com/v1alpha1\nkind: SolutionsConfiguration\narchives:\n"
	for _, a := range archives {
		doc += "  - " + a + "\n"
	}
	doc += "active:\n  example-solution: " + active + "\n"
	if err := sb.WriteFile("solutions.yaml", doc); err != nil {
		t.Fatal(err)
	}
}

// writeEnv writes an environment of one namespace running example-solution at v
// (nothing when v is empty).
func writeEnv(t *testing.T, sb *sandbox.Sandbox, env, ns, v string) {
	t.Helper()
	doc := "apiVersion: solutions.metalk8s.scality.com/v1alpha1\nkind: Environment\nmetadata:\n  name: " + env +
		"\nspec:\n  description: The " + env + " environment\n  namespaces:\n    - name: " + ns + "\n"
	if v != "" {
		doc += "      solutions:\n        example-solution: " + v + "\n"
	}
	if err := sb.WriteFile("environments/"+env+".yaml", doc); err != nil {
		t.Fatal(err)
	}
}

func hostRun(t *testing.T, ctx context.Context, sb *sandbox.Sandbox, node, script string) string {
	t.Helper()
	out, err := sb.Lab.Run(ctx, sb.Nodes[node], script)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", node, script, err, out)
	}
	return out
}
