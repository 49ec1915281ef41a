package render

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/hostsync/roles"
	"github.com/metalk8s/mk8s/internal/solutiontest"
	"github.com/metalk8s/mk8s/reconciler/solution"
	"github.com/metalk8s/mk8s/schema"
)

// The solutions.yaml and environments of the tests: both versions of the example
// Solution imported, 1.0.0 active, prod-a running 1.0.0 and staging-a 2.0.0. Line
// numbers matter: the diagnostics name them.
const (
	solutionsYAML = `apiVersion: solutions.metalk8s.scality.com/v1alpha1
kind: SolutionsConfiguration
archives:
  - /srv/scality/solutions/example-solution-1.0.0.iso
  - /srv/scality/solutions/example-solution-2.0.0.iso
active:
  example-solution: 1.0.0
`
	prodYAML = `apiVersion: solutions.metalk8s.scality.com/v1alpha1
kind: Environment
metadata:
  name: prod
spec:
  description: Production
  namespaces:
    - name: prod-a
      solutions:
        example-solution: 1.0.0
`
	stagingYAML = `apiVersion: solutions.metalk8s.scality.com/v1alpha1
kind: Environment
metadata:
  name: staging
spec:
  description: Staging
  namespaces:
    - name: staging-b
    - name: staging-a
      solutions:
        example-solution: 2.0.0
`
)

// loadWith copies site-example, writes files over it (a nil content removes the
// file), and loads it with the real loader.
func loadWith(t *testing.T, files map[string]*string) *schema.Site {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("..", "..", "site-example"))); err != nil {
		t.Fatal(err)
	}
	for rel, text := range files {
		p := filepath.Join(dst, filepath.FromSlash(rel))
		var err error
		if text == nil {
			err = os.Remove(p)
		} else {
			err = os.WriteFile(p, []byte(*text), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	site, diags := schema.LoadDir(context.Background(), dst)
	if site == nil || diags.HasErrors() {
		t.Fatalf("load: %v", diags.Errors())
	}
	return site
}

func ptr(s string) *string { return &s }

// solutionSite is site-example with the solutions and environments above.
func solutionSite(t *testing.T, edits map[string]*string) *schema.Site {
	t.Helper()
	files := map[string]*string{"solutions.yaml": ptr(solutionsYAML), "environments/prod.yaml": ptr(prodYAML),
		"environments/staging.yaml": ptr(stagingYAML)}
	for k, v := range edits {
		files[k] = v
	}
	return loadWith(t, files)
}

func bothVersions() map[string]*solution.Archive {
	return map[string]*solution.Archive{
		solutiontest.Path("1.0.0"): solutiontest.Example("1.0.0"),
		solutiontest.Path("2.0.0"): solutiontest.Example("2.0.0"),
	}
}

func renderSolutions(t *testing.T, site *schema.Site, archives map[string]*solution.Archive) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Objects(site, Options{SiteName: "test", EffectiveConfig: fakeEffective, Archives: archives})
	if err != nil {
		t.Fatalf("Objects: %v", err)
	}
	return objs
}

func ids(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, ID(o))
	}
	return out
}

// The objects Solutions add to a site, exactly: every object the render has and a
// render without the archives does not, plus the metalk8s-solutions Namespace.
func TestSolutionObjectSet(t *testing.T) {
	site := solutionSite(t, nil)
	objs := renderSolutions(t, site, bothVersions())
	without, err := Objects(site, Options{SiteName: "test", EffectiveConfig: fakeEffective, WithoutArchives: true})
	if err != nil {
		t.Fatal(err)
	}
	base := ids(without)
	var added []string
	for _, id := range ids(objs) {
		if !slices.Contains(base, id) {
			added = append(added, id)
		}
	}
	slices.Sort(added)
	want := []string{
		"ClusterRole//example-solution-1.0.0:example-solution-operator",
		"ClusterRole//example-solution-2.0.0:example-solution-operator",
		"ClusterRoleBinding//example-solution-1.0.0:example-solution-operator:prod-a",
		"ClusterRoleBinding//example-solution-2.0.0:example-solution-operator:staging-a",
		"ConfigMap/metalk8s-solutions/metalk8s-solutions",
		"ConfigMap/prod-a/example-solution-operator-config",
		"ConfigMap/staging-a/example-solution-operator-config",
		"CustomResourceDefinition//examples.example-solution.metalk8s.invalid",
		"Deployment/prod-a/example-solution-operator",
		"Deployment/staging-a/example-solution-operator",
		"Role/prod-a/example-solution-operator",
		"Role/staging-a/example-solution-operator",
		"RoleBinding/prod-a/example-solution-operator",
		"RoleBinding/staging-a/example-solution-operator",
		"ServiceAccount/prod-a/example-solution-operator",
		"ServiceAccount/staging-a/example-solution-operator",
	}
	if !slices.Equal(added, want) {
		t.Errorf("objects of the solutions:\n got %q\nwant %q", added, want)
	}
	for _, id := range []string{"Namespace//metalk8s-solutions", "Namespace//prod-a", "Namespace//staging-a", "Namespace//staging-b",
		"ConfigMap/staging-a/metalk8s-environment"} {
		if !slices.Contains(base, id) {
			t.Errorf("%s is not rendered without archives", id)
		}
	}
	for _, o := range objs {
		if l := o.GetLabels(); l[LabelManagedBy] != "mk8s" || l[LabelSite] != "test" {
			t.Errorf("%s lacks ownership labels: %v", ID(o), l)
		}
	}
}

func TestSolutionsConfigMap(t *testing.T) {
	objs := renderSolutions(t, solutionSite(t, nil), bothVersions())
	cm := find(t, objs, "ConfigMap", "metalk8s-solutions", "metalk8s-solutions")
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	entry := func(v string, active bool) string {
		a := "false"
		if active {
			a = "true"
		}
		return `{"active":` + a + `,"archive":"/srv/scality/solutions/example-solution-` + v + `.iso","id":"example-solution-` + v + `",` +
			`"manifest":{"apiVersion":"solutions.metalk8s.scality.com/v1alpha1","kind":"Solution","metadata":{"annotations":{"solutions.metalk8s.scality.com/display-name":"Example Solution"},"name":"example-solution"},` +
			`"spec":{"images":["example-solution-operator:` + v + `","example-solution-ui:` + v + `"],"operator":{"image":{"name":"example-solution-operator","tag":"` + v + `"}},"version":"` + v + `"}},` +
			`"mountpoint":"/srv/scality/example-solution-` + v + `","name":"Example Solution","version":"` + v + `"}`
	}
	want := "[" + entry("1.0.0", true) + "," + entry("2.0.0", false) + "]"
	if len(data) != 1 || data["example-solution"] != want {
		t.Errorf("metalk8s-solutions data:\n got %v\nwant example-solution: %s", data, want)
	}
}

func TestSolutionCRDsAreThoseOfTheActiveVersion(t *testing.T) {
	replicas := func(objs []*unstructured.Unstructured) bool {
		crd := find(t, objs, "CustomResourceDefinition", "", solutiontest.CRDName)
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		_, ok, _ := unstructured.NestedMap(versions[0].(map[string]any), "schema", "openAPIV3Schema", "properties", "spec", "properties", "replicas")
		if l := crd.GetLabels(); l["app.kubernetes.io/part-of"] != "example-solution" {
			t.Errorf("CRD labels %v", l)
		}
		return ok
	}
	if replicas(renderSolutions(t, solutionSite(t, nil), bothVersions())) {
		t.Error("1.0.0 is active, the CRD is 2.0.0's")
	}
	// latest is the highest imported version, whatever the order of archives.
	latest := "apiVersion: solutions.metalk8s.scality.com/v1alpha1\nkind: SolutionsConfiguration\narchives:\n" +
		"  - /srv/scality/solutions/example-solution-2.0.0.iso\n  - /srv/scality/solutions/example-solution-1.0.0.iso\n" +
		"active:\n  example-solution: latest\n"
	objs := renderSolutions(t, solutionSite(t, map[string]*string{"solutions.yaml": &latest}), bothVersions())
	if !replicas(objs) {
		t.Error("latest is 2.0.0, the CRD is 1.0.0's")
	}
	crd := find(t, objs, "CustomResourceDefinition", "", solutiontest.CRDName)
	if v := crd.GetLabels()["app.kubernetes.io/version"]; v != "2.0.0" {
		t.Errorf("CRD version label %q", v)
	}
	data, _, _ := unstructured.NestedString(find(t, objs, "ConfigMap", "metalk8s-solutions", "metalk8s-solutions").Object, "data", "example-solution")
	if !strings.Contains(data, `"active":false,"archive":"/srv/scality/solutions/example-solution-1.0.0.iso"`) ||
		!strings.Contains(data, `"active":true,"archive":"/srv/scality/solutions/example-solution-2.0.0.iso"`) ||
		strings.Index(data, "1.0.0.iso") > strings.Index(data, "2.0.0.iso") {
		t.Errorf("metalk8s-solutions with latest: %s", data)
	}
}

func TestVersionOrder(t *testing.T) {
	vs := []string{"snapshot", "1.10.0", "2.0.0+build.2", "1.2.0", "1.2.0-rc.1", "2.0.0+build.1", "alpha"}
	slices.SortFunc(vs, versionOrder)
	want := []string{"1.2.0-rc.1", "1.2.0", "1.10.0", "2.0.0+build.1", "2.0.0+build.2", "alpha", "snapshot"}
	if !slices.Equal(vs, want) {
		t.Errorf("sorted %v, want %v", vs, want)
	}
}

// Each namespace runs its own version: the operator of prod-a is 1.0.0's, staging-a's
// 2.0.0's, and both are configured with every imported version.
func TestOperatorObjects(t *testing.T) {
	objs := renderSolutions(t, solutionSite(t, nil), bothVersions())
	for _, tc := range []struct{ ns, version string }{{"prod-a", "1.0.0"}, {"staging-a", "2.0.0"}} {
		t.Run(tc.ns, func(t *testing.T) {
			wantLabels := map[string]string{
				"app.kubernetes.io/name": "example-solution-operator", "app.kubernetes.io/instance": tc.ns,
				"app.kubernetes.io/version": tc.version, "app.kubernetes.io/component": "operator",
				"app.kubernetes.io/part-of": "example-solution", "app.kubernetes.io/managed-by": "mk8s",
				"mk8s.metalk8s.scality.com/site": "test",
			}
			dep := find(t, objs, "Deployment", tc.ns, "example-solution-operator")
			if !maps.Equal(dep.GetLabels(), wantLabels) {
				t.Errorf("Deployment labels %v, want %v", dep.GetLabels(), wantLabels)
			}
			for _, kind := range []string{"ServiceAccount", "Role", "RoleBinding", "ConfigMap"} {
				name := "example-solution-operator"
				if kind == "ConfigMap" {
					name += "-config"
				}
				if o := find(t, objs, kind, tc.ns, name); !maps.Equal(o.GetLabels(), wantLabels) {
					t.Errorf("%s labels %v", kind, o.GetLabels())
				}
			}
			spec := dep.Object["spec"].(map[string]any)
			if spec["replicas"] != int64(1) {
				t.Errorf("replicas %v", spec["replicas"])
			}
			sel, _, _ := unstructured.NestedStringMap(spec, "selector", "matchLabels")
			if !maps.Equal(sel, map[string]string{"app.kubernetes.io/name": "example-solution-operator", "app.kubernetes.io/instance": tc.ns}) {
				t.Errorf("selector %v (must not change with the version: it is immutable)", sel)
			}
			pod, _, _ := unstructured.NestedMap(spec, "template", "spec")
			if pod["serviceAccountName"] != "example-solution-operator" {
				t.Errorf("serviceAccountName %v", pod["serviceAccountName"])
			}
			c := pod["containers"].([]any)[0].(map[string]any)
			if want := "metalk8s-registry-from-config.invalid/example-solution-" + tc.version + "/example-solution-operator:" + tc.version; c["image"] != want {
				t.Errorf("image %v, want %s", c["image"], want)
			}
			if args := c["args"].([]any); len(args) != 1 || args[0] != "--config=/etc/metalk8s/operator/operator.yaml" {
				t.Errorf("args %v", args)
			}
			mounts := c["volumeMounts"].([]any)
			vols := pod["volumes"].([]any)
			if m := mounts[0].(map[string]any); len(mounts) != 1 || m["name"] != "operator-config" || m["mountPath"] != "/etc/metalk8s/operator" || m["readOnly"] != true {
				t.Errorf("volumeMounts %v", mounts)
			}
			if cmName, _, _ := unstructured.NestedString(vols[0].(map[string]any), "configMap", "name"); len(vols) != 1 || cmName != "example-solution-operator-config" {
				t.Errorf("volumes %v", vols)
			}

			cm := find(t, objs, "ConfigMap", tc.ns, "example-solution-operator-config")
			config, _, _ := unstructured.NestedString(cm.Object, "data", "operator.yaml")
			wantConfig := `apiVersion: solutions.metalk8s.scality.com/v1alpha1
kind: OperatorConfig
repositories:
  1.0.0:
  - endpoint: metalk8s-registry-from-config.invalid/example-solution-1.0.0
    images:
    - example-solution-operator:1.0.0
    - example-solution-ui:1.0.0
  2.0.0:
  - endpoint: metalk8s-registry-from-config.invalid/example-solution-2.0.0
    images:
    - example-solution-operator:2.0.0
    - example-solution-ui:2.0.0
`
			if config != wantConfig {
				t.Errorf("operator.yaml:\n%s\nwant:\n%s", config, wantConfig)
			}
			digest, _ := Digest(config)
			if a, _, _ := unstructured.NestedString(spec, "template", "metadata", "annotations", AnnotationOperatorConfigDigest); a != digest {
				t.Errorf("config digest annotation %q, want %q", a, digest)
			}

			role := find(t, objs, "Role", tc.ns, "example-solution-operator")
			if rules, _, _ := unstructured.NestedSlice(role.Object, "rules"); len(rules) != 2 {
				t.Errorf("Role rules %v", rules)
			}
			sa := map[string]any{"kind": "ServiceAccount", "name": "example-solution-operator", "namespace": tc.ns}
			rb := find(t, objs, "RoleBinding", tc.ns, "example-solution-operator")
			if ref, _, _ := unstructured.NestedStringMap(rb.Object, "roleRef"); ref["kind"] != "Role" || ref["name"] != "example-solution-operator" {
				t.Errorf("RoleBinding roleRef %v", ref)
			}
			if subj, _, _ := unstructured.NestedSlice(rb.Object, "subjects"); len(subj) != 1 || !maps.Equal(subj[0].(map[string]any), sa) {
				t.Errorf("RoleBinding subjects %v", subj)
			}
			crb := find(t, objs, "ClusterRoleBinding", "", "example-solution-"+tc.version+":example-solution-operator:"+tc.ns)
			if ref, _, _ := unstructured.NestedStringMap(crb.Object, "roleRef"); ref["kind"] != "ClusterRole" || ref["name"] != "example-solution-"+tc.version+":example-solution-operator" {
				t.Errorf("ClusterRoleBinding roleRef %v", ref)
			}
			if subj, _, _ := unstructured.NestedSlice(crb.Object, "subjects"); len(subj) != 1 || !maps.Equal(subj[0].(map[string]any), sa) {
				t.Errorf("ClusterRoleBinding subjects %v", subj)
			}
		})
	}
	// The ClusterRole of each version keeps that version's rules.
	cr2 := find(t, objs, "ClusterRole", "", "example-solution-2.0.0:example-solution-operator")
	if rules, _, _ := unstructured.NestedSlice(cr2.Object, "rules"); !strings.Contains(strings.Join(toStrings(rules[0].(map[string]any)["resources"]), ","), "persistentvolumes") {
		t.Errorf("2.0.0 ClusterRole rules %v", rules)
	}
	if l := cr2.GetLabels(); l["app.kubernetes.io/version"] != "2.0.0" || l["app.kubernetes.io/part-of"] != "example-solution" {
		t.Errorf("ClusterRole labels %v", l)
	}
}

// A version nobody runs deploys no ClusterRole; two namespaces running one version
// share its ClusterRole and each has its binding.
func TestClusterRolesPerVersionInUse(t *testing.T) {
	prod2 := strings.Replace(prodYAML, "example-solution: 1.0.0", "example-solution: 2.0.0", 1)
	objs := renderSolutions(t, solutionSite(t, map[string]*string{"environments/prod.yaml": &prod2}), bothVersions())
	var got []string
	for _, o := range objs {
		if strings.HasPrefix(o.GetKind(), "ClusterRole") && strings.HasPrefix(o.GetName(), "example-solution-") {
			got = append(got, ID(o))
		}
	}
	want := []string{
		"ClusterRole//example-solution-2.0.0:example-solution-operator",
		"ClusterRoleBinding//example-solution-2.0.0:example-solution-operator:prod-a",
		"ClusterRoleBinding//example-solution-2.0.0:example-solution-operator:staging-a",
	}
	if !slices.Equal(got, want) {
		t.Errorf("cluster roles %q, want %q", got, want)
	}
}

// Every problem of the Solutions is reported at once, each with its file, line and
// field, as a *SolutionsError.
func TestSolutionErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edits    map[string]*string
		archives map[string]*solution.Archive
		want     []string
	}{
		{
			name:  "environment version not imported",
			edits: map[string]*string{"environments/staging.yaml": ptr(strings.Replace(stagingYAML, "2.0.0", "3.0.0", 1))},
			want: []string{`environments/staging.yaml:11: spec.namespaces[1].solutions.example-solution: version "3.0.0" of example-solution is not imported; ` +
				`an imported version of example-solution (1.0.0, 2.0.0)`},
		},
		{
			name:  "active version not imported",
			edits: map[string]*string{"solutions.yaml": ptr(strings.Replace(solutionsYAML, "example-solution: 1.0.0", "example-solution: 1.5.0", 1))},
			want: []string{`solutions.yaml:7: active.example-solution: version "1.5.0" of example-solution is not imported; ` +
				`an imported version (1.0.0, 2.0.0) or latest`},
		},
		{
			name: "two archives of one name and version",
			edits: map[string]*string{"solutions.yaml": ptr(strings.Replace(solutionsYAML, "active:",
				"  - /srv/scality/solutions/copy.iso\nactive:", 1))},
			archives: func() map[string]*solution.Archive {
				m := bothVersions()
				cp := *solutiontest.Example("1.0.0")
				cp.Path = "/srv/scality/solutions/copy.iso"
				m[cp.Path] = &cp
				return m
			}(),
			want: []string{`solutions.yaml:6: archives[2]: /srv/scality/solutions/copy.iso is example-solution 1.0.0, as archives[0] ` +
				`/srv/scality/solutions/example-solution-1.0.0.iso is; each name and version imported once`},
		},
		{
			// Only that: what depends on the archive cannot be checked without it.
			name:     "archive not opened",
			archives: map[string]*solution.Archive{solutiontest.Path("1.0.0"): solutiontest.Example("1.0.0")},
			want: []string{
				`solutions.yaml:5: archives[1]: /srv/scality/solutions/example-solution-2.0.0.iso was not opened; every archive of solutions.yaml opened before the render`,
			},
		},
		{
			name: "active solution without any archive",
			edits: map[string]*string{"solutions.yaml": ptr(solutionsYAML + "  other: latest\n"),
				"environments/prod.yaml": ptr(prodYAML + "        other: 1.0.0\n")},
			want: []string{
				`environments/prod.yaml:11: spec.namespaces[0].solutions.other: no archive of solution "other" is imported; a solution of an archive of solutions.yaml (example-solution)`,
				`solutions.yaml:8: active.other: no archive of solution "other" is imported; a solution of an archive of solutions.yaml (example-solution)`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			archives := tc.archives
			if archives == nil {
				archives = bothVersions()
			}
			_, err := Objects(solutionSite(t, tc.edits), Options{SiteName: "test", EffectiveConfig: fakeEffective, Archives: archives})
			var se *SolutionsError
			if !errors.As(err, &se) {
				t.Fatalf("want a *SolutionsError, got %v", err)
			}
			var got []string
			for _, d := range se.List {
				got = append(got, d.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("diagnostics:\n got %q\nwant %q", got, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want[0]) {
				t.Errorf("error %q does not quote its diagnostics", err)
			}
		})
	}
}

// Validation has no archives: it renders the solutions' namespace and no error.
func TestCheckWithoutArchives(t *testing.T) {
	site := solutionSite(t, nil)
	if ds := Check(site); len(ds) != 0 {
		t.Errorf("Check: %v", ds)
	}
	// Without WithoutArchives, a render without the archives is refused.
	_, err := Objects(site, Options{SiteName: "test", EffectiveConfig: fakeEffective})
	var se *SolutionsError
	if !errors.As(err, &se) || len(se.List) != 2 {
		t.Errorf("want the 2 archives not opened, got %v", err)
	}
}

// The render names the registry the hosts configure containerd with.
func TestSolutionRegistryIsTheHostsRegistry(t *testing.T) {
	if SolutionRegistry != roles.RegistryName {
		t.Errorf("render pulls from %s, the hosts serve %s", SolutionRegistry, roles.RegistryName)
	}
}

func TestLabelValue(t *testing.T) {
	for in, want := range map[string]string{
		"1.0.0":                        "1.0.0",
		"1.0.0+build.1":                "1.0.0_build.1",
		"-x-":                          "x",
		strings.Repeat("a", 70) + "-b": strings.Repeat("a", 63),
	} {
		if got := labelValue(in); got != want {
			t.Errorf("labelValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
