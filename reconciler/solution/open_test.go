package solution

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/metalk8s/mk8s/e2e/harness/solutioniso"
)

// build writes the example Solution 1.0.0, changed by edit, with xorriso.
func build(t *testing.T, edit func(*solutioniso.Spec)) string {
	t.Helper()
	s := solutioniso.Example("1.0.0")
	if edit != nil {
		edit(&s)
	}
	return solutioniso.Build(t, t.TempDir(), s)
}

func TestOpenExample(t *testing.T) {
	p := build(t, nil)
	a, err := Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := "sha256:" + hex.EncodeToString(sum[:]); a.Digest != want {
		t.Errorf("Digest = %s, want %s", a.Digest, want)
	}
	if a.Path != p || a.VolumeID != "example-solution 1.0.0" || a.Name != "example-solution" || a.Version != "1.0.0" ||
		a.DisplayName != "Example Solution" || a.ID() != "example-solution-1.0.0" {
		t.Errorf("identity: %+v", a)
	}
	if got := a.Manifest["metadata"].(map[string]any)["annotations"].(map[string]any)["solutions.metalk8s.scality.com/git-revision"]; got != "v1.0.0" {
		t.Errorf("Manifest annotations: %v", a.Manifest["metadata"])
	}
	if want := []string{"base-server:1.0.0", "example-solution-operator:1.0.0"}; !slices.Equal(a.Images, want) {
		t.Errorf("Images = %v, want %v", a.Images, want)
	}
	if a.OperatorImage != (Image{Name: "example-solution-operator", Tag: "1.0.0"}) {
		t.Errorf("OperatorImage = %+v", a.OperatorImage)
	}
	var roles, crds []string
	for _, r := range a.Roles {
		roles = append(roles, r.GetKind()+"/"+r.GetName())
	}
	for _, c := range a.CRDs {
		crds = append(crds, c.GetName())
	}
	if want := []string{"Role/example-solution-operator", "ClusterRole/example-solution-operator"}; !slices.Equal(roles, want) {
		t.Errorf("Roles = %v, want %v", roles, want)
	}
	if want := []string{"clockservers.example-solution.metalk8s.scality.com", "versionservers.example-solution.metalk8s.scality.com"}; !slices.Equal(crds, want) {
		t.Errorf("CRDs = %v, want %v", crds, want)
	}
	rules, _ := a.Roles[0].Object["rules"].([]any)
	if len(rules) != 4 {
		t.Errorf("the Role has %d rules, want 4", len(rules))
	}
	// The registry config is the archive's file, byte for byte.
	tree := filepath.Join(t.TempDir(), "tree")
	if err := solutioniso.WriteTree(tree, solutioniso.Example("1.0.0")); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(tree, "registry-config.inc.j2"))
	if a.RegistryConfigFile != "registry-config.inc.j2" || string(a.RegistryConfig) != string(want) {
		t.Errorf("RegistryConfig (%s):\n%s\nwant:\n%s", a.RegistryConfigFile, a.RegistryConfig, want)
	}
}

func TestOpenDefaultsAndAlternatives(t *testing.T) {
	// No display name: the name. registry-config.inc instead of the template. No CRD.
	p := build(t, func(s *solutioniso.Spec) {
		s.DisplayName = ""
		s.RegistryConfigName = "registry-config.inc"
		s.CRDs = nil
		s.RoleYAML = solutioniso.RoleYAML("x", "- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n")
	})
	a, err := Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if a.DisplayName != "example-solution" || a.RegistryConfigFile != "registry-config.inc" || len(a.CRDs) != 0 || len(a.Roles) != 1 {
		t.Errorf("got DisplayName %q, RegistryConfigFile %q, %d CRDs, %d roles", a.DisplayName, a.RegistryConfigFile, len(a.CRDs), len(a.Roles))
	}
}

// refusal is a refused archive: the file of the ArchiveError and what its message says.
type refusalCase struct {
	name string
	edit func(*solutioniso.Spec)
	// damage changes the built image.
	damage func(t *testing.T, path string)
	file   string
	want   []string
}

func forbidden(rules string) func(*solutioniso.Spec) {
	return func(s *solutioniso.Spec) {
		s.RoleYAML = solutioniso.ExampleRoleYAML(s.Name) + "---\n" + solutioniso.ClusterRoleYAML("greedy", rules)
	}
}

func manifestWith(old, new string) func(*solutioniso.Spec) {
	return func(s *solutioniso.Spec) { s.ManifestYAML = strings.Replace(s.Manifest(), old, new, 1) }
}

func TestOpenRefuses(t *testing.T) {
	const role = "operator/deploy/role.yaml"
	cases := []refusalCase{
		// role.yaml
		{name: "forbidden kind", edit: func(s *solutioniso.Spec) {
			s.RoleYAML = solutioniso.ExampleRoleYAML(s.Name) + "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sneaky\n"
		}, file: role, want: []string{role + ":", "ServiceAccount sneaky: kind:", `"ServiceAccount" is not allowed: role.yaml may hold only Role and ClusterRole`}},
		{name: "escalate", edit: forbidden("- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n- apiGroups: [rbac.authorization.k8s.io]\n  resources: [clusterroles]\n  verbs: [get, escalate]\n"),
			file: role, want: []string{ // the verbs line of the second rule of the ClusterRole after the example's documents and "---"
				role + ":" + strconv.Itoa(lineCount(solutioniso.ExampleRoleYAML("example-solution"))+12) + ":", "ClusterRole greedy: rules[1].verbs:", `"escalate" is not allowed: a Solution operator may not escalate, bind or impersonate`}},
		{name: "bind", edit: forbidden("- apiGroups: [rbac.authorization.k8s.io]\n  resources: [roles]\n  verbs: [bind]\n"),
			file: role, want: []string{"ClusterRole greedy: rules[0].verbs:", `"bind" is not allowed`}},
		{name: "impersonate", edit: forbidden("- apiGroups: [\"\"]\n  resources: [users, serviceaccounts]\n  verbs: [impersonate]\n"),
			file: role, want: []string{"rules[0].verbs:", `"impersonate" is not allowed`}},
		{name: "wildcard group", edit: forbidden("- apiGroups: [\"*\"]\n  resources: [pods]\n  verbs: [get]\n"),
			file: role, want: []string{"rules[0].apiGroups:", `"*" is not allowed: a Solution operator names the API groups it uses`}},
		{name: "wildcard resource", edit: forbidden("- apiGroups: [\"\"]\n  resources: [\"*\"]\n  verbs: [get]\n"),
			file: role, want: []string{"rules[0].resources:", `"*" is not allowed: a Solution operator names the resources it uses`}},
		{name: "all verbs on a foreign group", edit: forbidden("- apiGroups: [apps]\n  resources: [deployments]\n  verbs: [\"*\"]\n"),
			file: role, want: []string{"rules[0].verbs:", `"*" is not allowed on API group "apps": all verbs only on the resources of the Solution's own CRD groups (example-solution.metalk8s.scality.com)`}},
		{name: "rbac write", edit: forbidden("- apiGroups: [rbac.authorization.k8s.io]\n  resources: [rolebindings]\n  verbs: [get, create]\n"),
			file: role, want: []string{"rules[0].verbs:", `"create" is not allowed on rbac.authorization.k8s.io resources`}},
		{name: "aggregation", edit: func(s *solutioniso.Spec) {
			s.RoleYAML = solutioniso.ExampleRoleYAML(s.Name) + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: agg\naggregationRule:\n  clusterRoleSelectors:\n  - matchLabels: {a: b}\n"
		}, file: role, want: []string{"ClusterRole agg: aggregationRule:", "is not allowed: an aggregated ClusterRole"}},
		{name: "a rule the API server refuses", edit: forbidden("- resources: [pods]\n  verbs: [get]\n"),
			file: role, want: []string{"ClusterRole greedy: rules[0].apiGroups:", "missing: a rule on resources names their API groups"}},
		{name: "several violations", edit: forbidden("- apiGroups: [\"*\"]\n  resources: [\"*\"]\n  verbs: [escalate]\n"),
			file: role, want: []string{"rules[0].verbs:", `"escalate"`, "(and 2 more refused in this file)"}},
		{name: "role.yaml missing", edit: func(s *solutioniso.Spec) { s.OmitRole = true },
			file: role, want: []string{role + ": missing"}},
		{name: "role.yaml not YAML", edit: func(s *solutioniso.Spec) { s.RoleYAML = "kind: Role\n  bad: [\n" },
			file: role, want: []string{role + ":", "not valid YAML"}},

		// manifest.yaml
		{name: "manifest missing", edit: func(s *solutioniso.Spec) { s.OmitManifest = true },
			file: FileManifest, want: []string{"manifest.yaml: missing"}},
		{name: "apiVersion", edit: manifestWith("solutions.metalk8s.scality.com/v1alpha1", "metalk8s.scality.com/v1alpha1"),
			file: FileManifest, want: []string{"manifest.yaml:1: apiVersion:", `"metalk8s.scality.com/v1alpha1" is not allowed; expected solutions.metalk8s.scality.com/v1alpha1`}},
		{name: "kind", edit: manifestWith("kind: Solution", "kind: Product"),
			file: FileManifest, want: []string{"manifest.yaml:2: kind:", `"Product" is not allowed`}},
		{name: "name not a label", edit: manifestWith("name: example-solution", "name: Example_Solution"),
			file: FileManifest, want: []string{"metadata.name:", `"Example_Solution" is not an RFC 1123 label`}},
		{name: "name of the platform", edit: manifestWith("name: example-solution", "name: metalk8s-example"),
			file: FileManifest, want: []string{"manifest.yaml:8: metadata.name:", `"metalk8s-example" is not allowed: metalk8s-<version> is the platform's archive`}},
		{name: "name missing", edit: manifestWith("name: example-solution", "namespace: x"),
			file: FileManifest, want: []string{"metadata.name: missing"}},
		{name: "version missing", edit: manifestWith(`version: "1.0.0"`, ""),
			file: FileManifest, want: []string{"spec.version: missing"}},
		{name: "version a number", edit: manifestWith(`version: "1.0.0"`, "version: 1.0"),
			file: FileManifest, want: []string{"manifest.yaml:17: spec.version: must be a string, not a number (quote it)"}},
		{name: "version not a label value", edit: manifestWith(`version: "1.0.0"`, `version: "1.0.0+build.1"`),
			file: FileManifest, want: []string{"spec.version:", `"1.0.0+build.1" is not a label value`}},
		{name: "version upper case", edit: manifestWith(`version: "1.0.0"`, `version: "1.0.0-RC1"`),
			file: FileManifest, want: []string{"spec.version:", `"1.0.0-RC1" cannot name the registry repository example-solution-1.0.0-RC1`}},
		{name: "no images", edit: func(s *solutioniso.Spec) {
			s.ManifestYAML = strings.Replace(strings.Replace(s.Manifest(), "    - base-server:1.0.0\n", "", 1), "    - example-solution-operator:1.0.0\n", "", 1)
		}, file: FileManifest, want: []string{"spec.images: missing or empty"}},
		{name: "image not name:tag", edit: manifestWith("- base-server:1.0.0", "- base-server"),
			file: FileManifest, want: []string{"manifest.yaml:11: spec.images[0]:", `"base-server" is not "name:tag"`}},
		{name: "image twice", edit: manifestWith("- base-server:1.0.0", "- example-solution-operator:1.0.0"),
			file: FileManifest, want: []string{"spec.images[1]:", "listed twice"}},
		{name: "operator image not listed", edit: manifestWith("name: example-solution-operator", "name: other-operator"),
			file: FileManifest, want: []string{"spec.operator.image:", `"other-operator:1.0.0" is not one of spec.images`}},
		{name: "operator image tag a number", edit: manifestWith(`tag: "1.0.0"`, "tag: 1.0"),
			file: FileManifest, want: []string{"manifest.yaml:16: spec.operator.image.tag: must be a string, not a number (quote it)"}},
		{name: "operator image missing", edit: manifestWith("    image:\n      name: example-solution-operator\n", "    x:\n      name: example-solution-operator\n"),
			file: FileManifest, want: []string{"spec.operator.image: missing"}},
		{name: "manifest not YAML", edit: func(s *solutioniso.Spec) { s.ManifestYAML = "apiVersion: [\n" },
			file: FileManifest, want: []string{"manifest.yaml:", "not valid YAML"}},
		{name: "two manifests", edit: func(s *solutioniso.Spec) { s.ManifestYAML = s.Manifest() + "---\n" + s.Manifest() },
			file: FileManifest, want: []string{"holds 2 documents"}},

		// images
		{name: "image listed but absent", edit: func(s *solutioniso.Spec) { s.OmitImages = []string{"base-server:1.0.0"} },
			file: "images/base-server/1.0.0/", want: []string{"images/base-server/1.0.0/: missing: spec.images lists base-server:1.0.0"}},
		{name: "image without manifest.json", edit: func(s *solutioniso.Spec) {
			s.OmitImages = []string{"base-server:1.0.0"}
			s.Files = map[string]string{"images/base-server/1.0.0/version": "Directory Transport Version: 1.1\n"}
		}, file: "images/base-server/1.0.0/manifest.json", want: []string{"manifest.json: missing"}},
		{name: "image manifest list", edit: func(s *solutioniso.Spec) {
			s.Files = map[string]string{"images/base-server/1.0.0/manifest.json": `{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json", "manifests": []}`}
		}, file: "images/base-server/1.0.0/manifest.json", want: []string{"mediaType:", "is not served by the registry"}},
		{name: "blob missing", edit: func(s *solutioniso.Spec) {
			s.Files = map[string]string{"images/base-server/1.0.0/manifest.json": `{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
"config": {"digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "size": 3}, "layers": []}`}
		}, file: "images/base-server/1.0.0/manifest.json", want: []string{"config.digest: the blob images/base-server/1.0.0/0000000000000000000000000000000000000000000000000000000000000000 is missing"}},

		// operator/deploy/crds
		{name: "not a CRD", edit: func(s *solutioniso.Spec) {
			s.CRDs = append(s.CRDs, solutioniso.CRD{Raw: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"})
		}, file: "operator/deploy/crds/crd-2.yaml", want: []string{"ConfigMap x: kind:", `v1 ConfigMap is not allowed: operator/deploy/crds holds only apiextensions.k8s.io/v1 CustomResourceDefinitions`}},
		{name: "v1beta1 CRD", edit: func(s *solutioniso.Spec) {
			s.CRDs = []solutioniso.CRD{{Raw: "apiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\nmetadata:\n  name: x\n"}}
		}, file: "operator/deploy/crds/crd-0.yaml", want: []string{"apiVersion: apiextensions.k8s.io/v1beta1 CustomResourceDefinition is not allowed"}},
		{name: "CRD misnamed", edit: func(s *solutioniso.Spec) {
			s.CRDs = []solutioniso.CRD{{Raw: strings.Replace(crdYAML(t), "name: clockservers.example-solution.metalk8s.scality.com", "name: clocks", 1)}}
		}, file: "operator/deploy/crds/crd-0.yaml", want: []string{"metadata.name:", `"clocks" must be clockservers.example-solution.metalk8s.scality.com`}},

		// registry config
		{name: "registry config missing", edit: func(s *solutioniso.Spec) { s.OmitRegistryConfig = true },
			file: FileRegistryConfigTemplate, want: []string{"registry-config.inc.j2: missing (nor registry-config.inc)"}},
		{name: "registry config without variables", edit: func(s *solutioniso.Spec) {
			s.RegistryConfig = "location /v2/example/ { alias /srv/images/; }\n"
		}, file: FileRegistryConfigTemplate, want: []string{"registry-config.inc.j2: does not use {{ repository }}"}},

		{name: "registry config with other Jinja", edit: func(s *solutioniso.Spec) {
			s.RegistryConfig = "location = /v2/{{ repository }}/x/tags/list {\n    alias {{ registry_root }}/x/;\n    {{ other }}\n}\n"
		}, file: FileRegistryConfigTemplate, want: []string{`registry-config.inc.j2:3: "{{ other }}" is not rendered: the only Jinja of a registry configuration is {{ repository }} and {{ registry_root }}`}},
		{name: "registry config with a Jinja statement", edit: func(s *solutioniso.Spec) {
			s.RegistryConfig = "{% for i in images %}\nlocation = /v2/{{ repository }}/x {\n    alias {{ registry_root }}/x/;\n}\n{% endfor %}\n"
		}, file: FileRegistryConfigTemplate, want: []string{`registry-config.inc.j2:1: "{% for i in images %}" is not rendered`}},

		// the image itself
		{name: "no Joliet", edit: func(s *solutioniso.Spec) { s.NoJoliet = true },
			want: []string{"ISO-9660 image without Joliet: a Solution archive has Rock Ridge and Joliet"}},
		{name: "no Rock Ridge", edit: func(s *solutioniso.Spec) { s.NoRockRidge = true },
			want: []string{"ISO-9660 image without Rock Ridge: "}},
		{name: "neither", edit: func(s *solutioniso.Spec) { s.NoRockRidge, s.NoJoliet = true, true },
			want: []string{"ISO-9660 image without Rock Ridge and Joliet"}},
		{name: "truncated", damage: func(t *testing.T, p string) {
			st, _ := os.Stat(p)
			solutioniso.Truncate(t, p, st.Size()/2)
		}, want: []string{"truncated image: the primary volume descriptor gives"}},
		{name: "truncated in the descriptors", damage: func(t *testing.T, p string) { solutioniso.Truncate(t, p, 16*2048+100) },
			want: []string{"not an ISO-9660 image, or truncated: 32868 bytes is too small"}},
		// go-diskfs v1.9.4 panics on this one: the panic must come back as an error.
		{name: "damaged path table", damage: func(t *testing.T, p string) { overwriteAt(t, p, 140, 0, 512) },
			want: []string{"damaged image: its directories cannot be read"}},
		{name: "damaged root directory", damage: func(t *testing.T, p string) { overwriteAt(t, p, 158, 0, 512) },
			want: []string{"damaged image: root directory: record at block"}},
		{name: "damaged directory records", damage: func(t *testing.T, p string) { overwriteAt(t, p, 158, 300, 512) },
			want: []string{"damaged image: its directories cannot be read"}},
		{name: "damaged manifest", damage: func(t *testing.T, p string) {
			solutioniso.Corrupt(t, p, "/manifest.yaml", solutioniso.Garbage(40))
		}, file: FileManifest, want: []string{"manifest.yaml:", "not valid YAML"}},
		{name: "damaged layer", damage: func(t *testing.T, p string) {
			corruptBlob(t, p, "base-server", "1.0.0")
		}, file: "images/base-server/1.0.0/", want: []string{"damaged: its SHA-256 is"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := build(t, c.edit)
			if c.damage != nil {
				c.damage(t, p)
			}
			a, err := Open(context.Background(), p)
			checkRefusal(t, p, a, err, c.file, c.want)
		})
	}
}

func TestOpenRefusesNonArchives(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.iso")
	os.WriteFile(text, []byte(strings.Repeat("not an image\n", 5000)), 0o644)
	empty := filepath.Join(dir, "empty.iso")
	os.WriteFile(empty, nil, 0o644)
	for _, c := range []struct{ name, path, want string }{
		{"not an ISO", text, "not an ISO-9660 image: no CD001 volume descriptor at sector 16"},
		{"empty file", empty, "not an ISO-9660 image, or truncated: 0 bytes is too small"},
		{"missing file", filepath.Join(dir, "absent.iso"), "no such file"},
		{"a directory", dir, "not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := Open(context.Background(), c.path)
			checkRefusal(t, c.path, a, err, "", []string{c.want})
		})
	}
}

func TestOpenCancelled(t *testing.T) {
	p := build(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, p); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func checkRefusal(t *testing.T, path string, a *Archive, err error, file string, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("opened: %+v", a)
	}
	var ae *ArchiveError
	if !errors.As(err, &ae) {
		t.Fatalf("%T is not an *ArchiveError: %v", err, err)
	}
	if ae.Path != path || !strings.HasPrefix(err.Error(), "solution archive "+path+": ") {
		t.Errorf("error does not name the archive %s: %v", path, err)
	}
	if !strings.HasPrefix(ae.File, file) {
		t.Errorf("File = %q, want %q (%v)", ae.File, file, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
}

// crdYAML is the example's first CRD as the harness writes it.
func crdYAML(t *testing.T) string {
	tree := filepath.Join(t.TempDir(), "tree")
	if err := solutioniso.WriteTree(tree, solutioniso.Example("1.0.0")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(tree, "operator/deploy/crds/clockservers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// corruptBlob overwrites the start of the image's own layer (the last of manifest.json).
func corruptBlob(t *testing.T, iso, name, tag string) {
	tree := filepath.Join(t.TempDir(), "tree")
	if err := solutioniso.WriteTree(tree, solutioniso.Example("1.0.0")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(tree, "images", name, tag))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if len(e.Name()) == 64 {
			info, _ := e.Info()
			if info.Size() > 100 { // a layer, not the config
				solutioniso.Corrupt(t, iso, "/images/"+name+"/"+tag+"/"+e.Name(), solutioniso.Garbage(16))
				return
			}
		}
	}
	t.Fatalf("no layer in %s:%s", name, tag)
}

// lineCount is the number of lines of s.
func lineCount(s string) int { return strings.Count(s, "\n") }

// overwriteAt writes n bytes of garbage into the image at path, off bytes into the block
// whose number the primary volume descriptor holds at byte pvdField (140: the L path
// table, 158: the root directory's extent).
func overwriteAt(t *testing.T, path string, pvdField int, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pvd := readPVD(t, f)
	block := int64(binary.LittleEndian.Uint32(pvd[pvdField : pvdField+4]))
	junk := make([]byte, n)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	if _, err := f.WriteAt(junk, block*2048+off); err != nil {
		t.Fatal(err)
	}
}

// readPVD reads the primary volume descriptor of the open image f (sector 16).
func readPVD(t *testing.T, f *os.File) []byte {
	t.Helper()
	pvd := make([]byte, 2048)
	if _, err := f.ReadAt(pvd, 16*2048); err != nil {
		t.Fatal(err)
	}
	return pvd
}
