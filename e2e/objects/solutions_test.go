package objects

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fluxcd/cli-utils/pkg/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/e2e/harness/solutioniso"
	"github.com/metalk8s/mk8s/internal/solutiontest"
	"github.com/metalk8s/mk8s/reconciler"
	"github.com/metalk8s/mk8s/reconciler/change"
	"github.com/metalk8s/mk8s/reconciler/objects"
	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/reconciler/solution"
)

// writeSolutions gives the site both versions of the example Solution, 1.0.0 active,
// and two environments: prod (namespace prod-a) and staging (example-staging), each
// running the version given ("" runs nothing).
func writeSolutions(t *testing.T, dir, prod, staging string) {
	t.Helper()
	env := func(name, ns, version string) string {
		s := "apiVersion: solutions.metalk8s.scality.com/v1alpha1\nkind: Environment\nmetadata:\n  name: " + name + "\n" +
			"spec:\n  description: the " + name + " environment\n  namespaces:\n    - name: " + ns + "\n"
		if version != "" {
			s += "      solutions:\n        example-solution: " + version + "\n"
		}
		return s
	}
	files := map[string]string{
		"solutions.yaml": "apiVersion: solutions.metalk8s.scality.com/v1alpha1\nkind: SolutionsConfiguration\narchives:\n" +
			"  - " + solutiontest.Path("1.0.0") + "\n  - " + solutiontest.Path("2.0.0") + "\nactive:\n  example-solution: 1.0.0\n",
		"environments/prod.yaml":    env("prod", "prod-a", prod),
		"environments/staging.yaml": env("staging", "example-staging", staging),
	}
	for rel, text := range files {
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// reconcileSolutions reconciles with an archive reader. The operators' Deployments
// never become available here (no controller-manager, no kubelet): no wait.
func reconcileSolutions(t *testing.T, env *kubeenv.Env, dir string, open solution.OpenFunc) (reconciler.Result, error) {
	t.Helper()
	return reconcile(t, env, dir, func(o *reconciler.Options) { o.OpenArchive = open; o.Wait = false })
}

// invID is an object's inventory ID (a ':' in its name is written "__").
func invID(ns, name, group, kind string) string {
	return object.ObjMetadata{Namespace: ns, Name: name, GroupKind: schema.GroupKind{Group: group, Kind: kind}}.String()
}

// operatorIDs are the inventory IDs of the objects of the example Solution's operator
// in a namespace: those in the namespace, then the ClusterRoleBinding of its version.
func operatorIDs(ns, version string) []string {
	return append(namespacedOperatorIDs(ns),
		invID("", "example-solution-"+version+":example-solution-operator:"+ns, "rbac.authorization.k8s.io", "ClusterRoleBinding"))
}

func namespacedOperatorIDs(ns string) []string {
	const rbac = "rbac.authorization.k8s.io"
	return []string{
		invID(ns, "example-solution-operator", "apps", "Deployment"),
		invID(ns, "example-solution-operator-config", "", "ConfigMap"),
		invID(ns, "example-solution-operator", "", "ServiceAccount"),
		invID(ns, "example-solution-operator", rbac, "Role"),
		invID(ns, "example-solution-operator", rbac, "RoleBinding"),
	}
}

func clusterRoleID(version string) string {
	return invID("", "example-solution-"+version+":example-solution-operator", "rbac.authorization.k8s.io", "ClusterRole")
}

var crdID = invID("", solutiontest.CRDName, "apiextensions.k8s.io", "CustomResourceDefinition")

// inventoryRV is the resourceVersion of the inventory ConfigMap itself.
func inventoryRV(t *testing.T, env *kubeenv.Env) string {
	t.Helper()
	u, ok := getObj(t, newClient(t, env), "v1", "ConfigMap", "mk8s-system", "mk8s-inventory-"+reconciler.DefaultSiteName)
	if !ok {
		t.Fatal("no inventory")
	}
	return u.GetResourceVersion()
}

// changedRVs are the objects present in both snapshots whose resourceVersion moved.
func changedRVs(before, after map[string]string) []string {
	var out []string
	for id, rv := range after {
		if prev, ok := before[id]; ok && prev != rv {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func operatorImage(t *testing.T, env *kubeenv.Env, ns string) string {
	t.Helper()
	d, ok := getObj(t, newClient(t, env), "apps/v1", "Deployment", ns, "example-solution-operator")
	if !ok {
		t.Fatalf("no operator Deployment in %s", ns)
	}
	c, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	return c[0].(map[string]any)["image"].(string)
}

// crdHasReplicas tells the CRD of 2.x (spec.replicas in its schema) from 1.x's.
func crdHasReplicas(t *testing.T, env *kubeenv.Env) bool {
	t.Helper()
	crd, ok := getObj(t, newClient(t, env), "apiextensions.k8s.io/v1", "CustomResourceDefinition", "", solutiontest.CRDName)
	if !ok {
		t.Fatal("no CRD of the example Solution")
	}
	vs, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	_, has, _ := unstructured.NestedMap(vs[0].(map[string]any), "schema", "openAPIV3Schema", "properties", "spec", "properties", "replicas")
	return has
}

// The life of a Solution against a real kube-apiserver, from edits of the site: both
// versions imported and 1.0.0 active, two environments running it (planned first,
// then created), staging upgraded to 2.0.0, the solution removed from prod, and an
// archive that can no longer be opened.
func TestSolutionLifecycle(t *testing.T) {
	env := kubeenv.StartT(t)
	dir := copySite(t)
	open := solutiontest.Open(solutiontest.Example("1.0.0"), solutiontest.Example("2.0.0"))
	writeSolutions(t, dir, "1.0.0", "1.0.0")

	// 1. The plan shows every object of the solutions before the reconcile creates them.
	wantV1 := []string{
		"Namespace/metalk8s-solutions", "ConfigMap/metalk8s-solutions/metalk8s-solutions",
		"CustomResourceDefinition/" + solutiontest.CRDName,
		"ClusterRole/example-solution-1.0.0:example-solution-operator",
	}
	for _, ns := range []string{"prod-a", "example-staging"} {
		wantV1 = append(wantV1,
			"ServiceAccount/"+ns+"/example-solution-operator", "Role/"+ns+"/example-solution-operator",
			"RoleBinding/"+ns+"/example-solution-operator", "ConfigMap/"+ns+"/example-solution-operator-config",
			"Deployment/"+ns+"/example-solution-operator",
			"ClusterRoleBinding/example-solution-1.0.0:example-solution-operator:"+ns)
	}
	plan, err := reconciler.Plan(context.Background(), reconciler.Options{Dir: dir, Kube: env.Config, ObjectsOnly: true, OpenArchive: open})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	planned := byAction(plan.Objects)[change.Created]
	for _, s := range wantV1 {
		if !slices.Contains(planned, s) {
			t.Errorf("the plan does not create %s", s)
		}
	}
	if _, ok := getObj(t, newClient(t, env), "apps/v1", "Deployment", "prod-a", "example-solution-operator"); ok {
		t.Fatal("the plan created the operator")
	}

	// 2. The reconcile creates them, as planned.
	res, err := reconcileSolutions(t, env, dir, open)
	if err != nil {
		t.Fatalf("reconcile: %v\n%v", err, res.Objects)
	}
	if created := byAction(res.Objects)[change.Created]; !slices.Equal(sorted(created), sorted(planned)) {
		t.Errorf("created %q, planned %q", sorted(created), sorted(planned))
	}
	for _, ns := range []string{"prod-a", "example-staging"} {
		if img := operatorImage(t, env, ns); img != "metalk8s-registry-from-config.invalid/example-solution-1.0.0/example-solution-operator:1.0.0" {
			t.Errorf("%s runs %s", ns, img)
		}
	}
	if crdHasReplicas(t, env) {
		t.Error("1.0.0 is active, the CRD is 2.0.0's")
	}
	cm, _ := getObj(t, newClient(t, env), "v1", "ConfigMap", "metalk8s-solutions", "metalk8s-solutions")
	if data, _, _ := unstructured.NestedString(cm.Object, "data", "example-solution"); !strings.Contains(data, `"active":true,"archive":"/srv/scality/solutions/example-solution-1.0.0.iso"`) {
		t.Errorf("metalk8s-solutions: %s", data)
	}

	// 3. Staging upgraded to 2.0.0 by an edit: its operator runs 2.0.0 with 2.0.0's
	// ClusterRole; prod is untouched, and the CRD stays 1.0.0's, the active version.
	before := resourceVersions(t, env)
	writeSolutions(t, dir, "1.0.0", "2.0.0")
	res, err = reconcileSolutions(t, env, dir, open)
	if err != nil {
		t.Fatalf("upgrade: %v\n%v", err, res.Objects)
	}
	got := byAction(res.Objects)
	if want := []string{"ClusterRole/example-solution-2.0.0:example-solution-operator",
		"ClusterRoleBinding/example-solution-2.0.0:example-solution-operator:example-staging"}; !slices.Equal(sorted(got[change.Created]), want) {
		t.Errorf("upgrade created %q, want %q", sorted(got[change.Created]), want)
	}
	if want := []string{"ClusterRoleBinding/example-solution-1.0.0:example-solution-operator:example-staging"}; !slices.Equal(got[change.Deleted], want) {
		t.Errorf("upgrade deleted %q, want %q", got[change.Deleted], want)
	}
	// Configured: what carries the version (labels, image) and the environment's list.
	wantConfigured := []string{
		"ConfigMap/example-staging/example-solution-operator-config", "ConfigMap/example-staging/metalk8s-environment",
		"Deployment/example-staging/example-solution-operator", "Role/example-staging/example-solution-operator",
		"RoleBinding/example-staging/example-solution-operator", "ServiceAccount/example-staging/example-solution-operator",
	}
	if !slices.Equal(sorted(got[change.Configured]), wantConfigured) {
		t.Errorf("upgrade configured %q, want %q", sorted(got[change.Configured]), wantConfigured)
	}
	if img := operatorImage(t, env, "example-staging"); img != "metalk8s-registry-from-config.invalid/example-solution-2.0.0/example-solution-operator:2.0.0" {
		t.Errorf("staging runs %s after the upgrade", img)
	}
	if img := operatorImage(t, env, "prod-a"); !strings.HasSuffix(img, ":1.0.0") {
		t.Errorf("prod runs %s after staging's upgrade", img)
	}
	after := resourceVersions(t, env)
	wantMoved := sorted(append(namespacedOperatorIDs("example-staging"), invID("example-staging", "metalk8s-environment", "", "ConfigMap")))
	if moved := changedRVs(before, after); !slices.Equal(moved, wantMoved) {
		t.Errorf("objects changed by the upgrade %q, want %q (prod, the CRD and the rest untouched)", moved, wantMoved)
	}
	if crdHasReplicas(t, env) || after[crdID] != before[crdID] {
		t.Error("the CRD changed while 1.0.0 is still the active version")
	}

	// 4. The solution removed from prod: exactly its objects are pruned (1.0.0's
	// ClusterRole with them, no namespace runs 1.0.0 any more); prod-a stays.
	before = after
	writeSolutions(t, dir, "", "2.0.0")
	res, err = reconcileSolutions(t, env, dir, open)
	if err != nil {
		t.Fatalf("removal: %v\n%v", err, res.Objects)
	}
	after = resourceVersions(t, env)
	var gone []string
	for id := range before {
		if _, ok := after[id]; !ok {
			gone = append(gone, id)
		}
	}
	if want := sorted(append(operatorIDs("prod-a", "1.0.0"), clusterRoleID("1.0.0"))); !slices.Equal(sorted(gone), want) {
		t.Errorf("pruned %q, want %q", sorted(gone), want)
	}
	if n := len(after) - (len(before) - len(gone)); n != 0 {
		t.Errorf("%d objects appeared", n)
	}
	if moved := changedRVs(before, after); !slices.Equal(moved, []string{invID("prod-a", "metalk8s-environment", "", "ConfigMap")}) {
		t.Errorf("objects changed by the removal %q, want only prod-a's metalk8s-environment", moved)
	}
	c := newClient(t, env)
	if _, ok := getObj(t, c, "apps/v1", "Deployment", "prod-a", "example-solution-operator"); ok {
		t.Error("prod's operator Deployment is still there")
	}
	if _, ok := getObj(t, c, "v1", "Namespace", "", "prod-a"); !ok {
		t.Error("the prod-a namespace was deleted")
	}
	for _, e := range res.Objects {
		if e.Action == change.Skipped {
			t.Errorf("prune skipped %s: %s", e.Subject, e.Message)
		}
	}

	// 5. An archive that cannot be opened any more (missing, damaged) refuses the
	// revision with its diagnostic, and nothing in the API changes.
	before = resourceVersions(t, env)
	invBefore := inventoryRV(t, env)
	writeSolutions(t, dir, "2.0.0", "2.0.0")
	damaged := func(ctx context.Context, path string) (*solution.Archive, error) {
		if path == solutiontest.Path("2.0.0") {
			return nil, errors.New("solution archive " + path + ": images/example-solution-operator/2.0.0/manifest.json: not found in the image")
		}
		return open(ctx, path)
	}
	res, err = reconcileSolutions(t, env, dir, damaged)
	wantDiag := "solutions.yaml:5: archives[1]: /srv/scality/solutions/example-solution-2.0.0.iso: images/example-solution-operator/2.0.0/manifest.json: not found in the image; a valid Solution ISO the reconciler can read on the bootstrap node"
	if err == nil || !strings.Contains(err.Error(), wantDiag) {
		t.Fatalf("want the revision refused with %q, got %v", wantDiag, err)
	}
	if len(res.Diagnostics) != 1 || res.Diagnostics[0].String() != wantDiag || len(res.Objects) != 0 {
		t.Errorf("diagnostics %q, objects %v", res.Diagnostics, res.Objects)
	}
	if after := resourceVersions(t, env); !maps.Equal(before, after) || inventoryRV(t, env) != invBefore {
		t.Errorf("the refused revision changed the API: %q", changedRVs(before, after))
	}
}

// Every object of a Solution carries the ownership labels prune relies on, and the
// operator's ConfigMap the OperatorConfig, as applied.
func TestSolutionObjectsAsApplied(t *testing.T) {
	env := kubeenv.StartT(t)
	dir := copySite(t)
	open := solutiontest.Open(solutiontest.Example("1.0.0"), solutiontest.Example("2.0.0"))
	writeSolutions(t, dir, "1.0.0", "2.0.0")
	if res, err := reconcileSolutions(t, env, dir, open); err != nil {
		t.Fatalf("reconcile: %v\n%v", err, res.Objects)
	}
	c := newClient(t, env)
	m, err := objects.New(env.Config, objects.NewOptions{Site: reconciler.DefaultSiteName})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := m.ReadInventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var checked int
	for _, e := range inv.Entries {
		md, err := object.ParseObjMetadata(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(md.Name, "example-solution") && !strings.Contains(md.Name, "metalk8s-solutions") {
			continue
		}
		apiVersion := e.Version
		if md.GroupKind.Group != "" {
			apiVersion = md.GroupKind.Group + "/" + e.Version
		}
		u, _ := getObj(t, c, apiVersion, md.GroupKind.Kind, md.Namespace, md.Name)
		if l := u.GetLabels(); l[render.LabelManagedBy] != "mk8s" || l[render.LabelSite] != reconciler.DefaultSiteName {
			t.Errorf("%s lacks the ownership labels: %v", e.ID, l)
		}
		checked++
	}
	// 2 namespaces × 6 operator objects, 2 ClusterRoles, the CRD, the Namespace and
	// ConfigMap metalk8s-solutions.
	if checked != 17 {
		t.Errorf("checked %d objects of the solution, want 17", checked)
	}
	cm, _ := getObj(t, c, "v1", "ConfigMap", "example-staging", "example-solution-operator-config")
	config, _, _ := unstructured.NestedString(cm.Object, "data", "operator.yaml")
	for _, v := range []string{"1.0.0", "2.0.0"} {
		if !strings.Contains(config, "  "+v+":\n  - endpoint: metalk8s-registry-from-config.invalid/example-solution-"+v+"\n") {
			t.Errorf("operator.yaml lacks the repository of %s:\n%s", v, config)
		}
	}
	d, _ := getObj(t, c, "apps/v1", "Deployment", "example-staging", "example-solution-operator")
	if sa, _, _ := unstructured.NestedString(d.Object, "spec", "template", "spec", "serviceAccountName"); sa != "example-solution-operator" {
		t.Errorf("serviceAccountName %q", sa)
	}
}

// Two archives whose <name>-<version> is one (ab 1-c and ab-1 c: both ab-1-c) would
// share a mountpoint, a registry repository and the prefix of their ClusterRoles: the
// revision is refused naming solutions.yaml, the line and the second archive, and
// nothing is applied (the host half refuses them too).
func TestSolutionArchivesOfOneID(t *testing.T) {
	env := kubeenv.StartT(t)
	dir := copySite(t)
	isos := t.TempDir()
	spec := func(name, version string) solutioniso.Spec {
		op := solutioniso.Image{Name: name + "-operator", Tag: "1"}
		return solutioniso.Spec{Name: name, Version: version, Images: []solutioniso.Image{op}, OperatorImage: op,
			RoleYAML: solutioniso.ClusterRoleYAML(name+"-operator", "- apiGroups: [\"\"]\n  resources: [nodes]\n  verbs: [get]\n")}
	}
	p1 := solutioniso.BuildAt(t, filepath.Join(isos, "first.iso"), spec("ab", "1-c"))
	p2 := solutioniso.BuildAt(t, filepath.Join(isos, "second.iso"), spec("ab-1", "c"))
	solutions := "apiVersion: solutions.metalk8s.scality.com/v1alpha1\nkind: SolutionsConfiguration\narchives:\n" +
		"  - " + p1 + "\n  - " + p2 + "\nactive:\n  ab: 1-c\n  ab-1: c\n"
	if err := os.WriteFile(filepath.Join(dir, "solutions.yaml"), []byte(solutions), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := reconcileSolutions(t, env, dir, solution.NewCache(nil).Open)
	want := "solutions.yaml:5: archives[1]: " + p2 + " is ab-1 c, and archives[0] " + p1 + " is ab 1-c: both are ab-1-c"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("want the revision refused with %q, got %v", want, err)
	}
	if len(res.Diagnostics) != 1 || !strings.HasPrefix(res.Diagnostics[0].String(), want) {
		t.Errorf("diagnostics %q", res.Diagnostics)
	}
	if len(res.Objects) != 0 {
		t.Errorf("objects %v", res.Objects)
	}
	if _, ok := getObj(t, newClient(t, env), "v1", "Namespace", "", "metalk8s-solutions"); ok {
		t.Error("the refused revision created objects")
	}
}
